//! deploy/: each file parsed by a real parser for its language, and checked for the
//! wiring that makes sharding work (index → --shard, a merge after the shards).

use std::path::Path;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::common::REPO;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(REPO).join(rel)).unwrap()
}

fn python(code: &str, file: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            code,
            &Path::new(REPO).join(file).display().to_string(),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn kubernetes_indexed_job_then_merge() {
    let docs = YamlLoader::load_from_str(&read("deploy/kubernetes/tally-shards.yaml"))
        .expect("valid YAML");
    assert_eq!(docs.len(), 2);
    let (shards, merge) = (&docs[0], &docs[1]);
    assert_eq!(shards["kind"].as_str(), Some("Job"));
    let spec = &shards["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let n = spec["completions"].as_i64().unwrap();
    assert_eq!(spec["parallelism"].as_i64(), Some(n));
    let container = &spec["template"]["spec"]["containers"][0];
    let args = container["args"][0].as_str().unwrap();
    assert!(
        args.contains(&format!("--shard \"${{JOB_COMPLETION_INDEX}}/{n}\"")),
        "{args}"
    );
    assert!(args.contains("tally run /config/job.toml"));
    let exit_codes = &spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"];
    assert_eq!(
        exit_codes,
        &Yaml::Array(vec![Yaml::Integer(2)]),
        "bad config fails the Job at once"
    );

    assert_eq!(merge["kind"].as_str(), Some("Job"));
    let merge_args = merge["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .unwrap();
    assert!(
        merge_args.contains("tally merge /runs/${RUN_TAG}/shards/*"),
        "{merge_args}"
    );

    let script = Path::new(REPO).join("deploy/kubernetes/run-nightly.sh");
    let status = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(status.success(), "run-nightly.sh is valid bash");
}

#[test]
fn airflow_dag_maps_one_task_per_shard() {
    // Parsed by Python itself; then the mapping and the shard count are read off the tree.
    let facts = python(
        r#"
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
shards = [n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
          and any(getattr(t, "id", None) == "SHARDS" for t in n.targets)]
expands = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "expand"]
rshift = [n for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.RShift)]
print(shards[0], len(expands), len(rshift))
"#,
        "deploy/airflow/tally_nightly.py",
    );
    assert_eq!(
        facts.trim(),
        "4 1 1",
        "SHARDS = 4, one .expand(), shards >> merge"
    );
    let dag = read("deploy/airflow/tally_nightly.py");
    assert!(dag.contains("--shard \\\"$SHARD\\\""), "{dag}");
    assert!(dag.contains("tally merge"));
}

#[test]
fn systemd_timer_and_service() {
    let facts = python(
        r#"
import configparser, sys
for f in (sys.argv[1], sys.argv[1].replace(".service", ".timer")):
    c = configparser.ConfigParser(strict=False, interpolation=None)
    c.optionxform = str
    c.read_string(open(f).read())
    for s in c.sections():
        for k, v in c[s].items():
            print(f"{s}.{k}={v}")
"#,
        "deploy/systemd/tally.service",
    );
    for line in [
        "Service.Type=oneshot",
        "Service.ExecStart=/usr/local/bin/tally run /etc/tally/job.toml --out /var/lib/tally/runs",
        "Service.SuccessExitStatus=1",
        "Timer.OnCalendar=*-*-* 02:15:00 UTC",
        "Install.WantedBy=timers.target",
    ] {
        assert!(facts.lines().any(|l| l == line), "{line} in\n{facts}");
    }
}
