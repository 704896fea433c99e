//! The audit ledger: runs recorded in a hash chain, and `tally audit verify` catching
//! every kind of tampering an auditor worries about, naming what it found.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{Workspace, many_stores, run};

/// `many_stores` with a ledger, run `n` times; the ledger's path.
fn ledger_with_runs(n: usize) -> (Workspace, PathBuf) {
    let ws = many_stores();
    let job = std::fs::read_to_string(ws.path("job.toml")).unwrap();
    ws.write(
        "job.toml",
        format!("ledger = \"audit/ledger.jsonl\"\n{job}"),
    );
    for _ in 0..n {
        let o = ws.run_job("job.toml");
        assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
        assert!(o.stdout.contains("ledger: "), "{}", o.stdout);
    }
    let ledger = ws.path("audit/ledger.jsonl");
    (ws, ledger)
}

fn verify(ledger: &Path) -> (i32, String) {
    let o = run(&["audit", "verify", ledger.to_str().unwrap()]);
    (o.code, format!("{}{}", o.stdout, o.stderr))
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

/// The canonical form docs/audit.md describes, written here from the description (keys
/// sorted, no spaces), so the test checks the documentation, not tally's own code.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

#[test]
fn runs_are_recorded_in_a_chain_an_auditor_can_recompute() {
    let (ws, ledger) = ledger_with_runs(2);
    let (code, out) = verify(&ledger);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("6 entries, 2 runs (2 run directories checked)"),
        "{out}"
    );

    // Every entry recomputed as docs/audit.md says: seq from 1, prev = the last hash,
    // hash = SHA-256 of the canonical entry without `hash`.
    let mut prev = "0".repeat(64);
    let entries = lines_of(&ledger);
    for (i, line) in entries.iter().enumerate() {
        let mut entry: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            canonical(&entry),
            *line,
            "entry {} is stored canonically",
            i + 1
        );
        assert_eq!(entry["seq"], i as u64 + 1);
        assert_eq!(entry["prev"], prev.as_str());
        let hash = entry.as_object_mut().unwrap().remove("hash").unwrap();
        let mine = format!("{:x}", Sha256::digest(canonical(&entry).as_bytes()));
        assert_eq!(hash, mine.as_str(), "entry {}", i + 1);
        prev = mine;
    }
    let kinds: Vec<String> = entries
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "run_header",
            "lines",
            "run_footer",
            "run_header",
            "lines",
            "run_footer"
        ]
    );

    // The header names the operator (the OS user) and the hashes of job, rules, inputs.
    let header: Value = serde_json::from_str(&entries[0]).unwrap();
    let body = &header["body"];
    assert!(!body["operator"]["os_user"].as_str().unwrap().is_empty());
    assert_eq!(
        body["job"]["sha256"].as_str().unwrap(),
        format!(
            "{:x}",
            Sha256::digest(std::fs::read(ws.path("job.toml")).unwrap())
        )
    );
    assert_eq!(body["inputs"].as_array().unwrap().len(), 2);
    // The lines' root covers every line of the run; the footer, the manifest.
    let lines: Value = serde_json::from_str(&entries[1]).unwrap();
    let run_dir = PathBuf::from(body["run_dir"].as_str().unwrap());
    let csv_lines = crate::common::discrepancies(&run_dir).len();
    assert_eq!(lines["body"]["count"], csv_lines as u64);
    // The root recomputed from docs/audit.md: leaf = H(0x00 ‖ record), node =
    // H(0x01 ‖ left ‖ right), an odd node out moves up unchanged.
    let mut level: Vec<Vec<u8>> = lines_of(&run_dir.join("audit/lines.jsonl"))
        .iter()
        .map(|r| {
            Sha256::new()
                .chain_update([0u8])
                .chain_update(r)
                .finalize()
                .to_vec()
        })
        .collect();
    assert_eq!(level.len(), csv_lines);
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| match p {
                [l, r] => Sha256::new()
                    .chain_update([1u8])
                    .chain_update(l)
                    .chain_update(r)
                    .finalize()
                    .to_vec(),
                [odd] => odd.clone(),
                _ => unreachable!(),
            })
            .collect();
    }
    let root: String = level[0].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(lines["body"]["merkle_root"], root.as_str());
    let footer: Value = serde_json::from_str(&entries[2]).unwrap();
    assert_eq!(
        footer["body"]["manifest_sha256"].as_str().unwrap(),
        format!(
            "{:x}",
            Sha256::digest(std::fs::read(run_dir.join("manifest.json")).unwrap())
        )
    );
    // Equal items are counted in the footer, not listed.
    assert!(footer["body"]["pairings"][0]["equal"].as_u64().unwrap() > 0);

    // Owner read-write, group read, nobody else.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&ledger).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

/// Applies `tamper` to a fresh ledger of two runs; verify must fail and say `expected`.
fn caught(tamper: impl Fn(&Path, &[String]), expected: &str) {
    let (_ws, ledger) = ledger_with_runs(2);
    let entries = lines_of(&ledger);
    tamper(&ledger, &entries);
    let (code, out) = verify(&ledger);
    assert_eq!(code, 1, "tampering went unseen: {out}");
    assert!(out.contains(expected), "expected {expected:?} in:\n{out}");
}

#[test]
fn one_changed_digit_is_named() {
    caught(
        |ledger, entries| {
            let mut e = entries.to_vec();
            e[1] = e[1].replacen("\"count\":", "\"count\":1", 1);
            write_lines(ledger, &e);
        },
        "jsonl:2: the entry (seq 2) its content does not match its hash",
    );
}

#[test]
fn a_deleted_entry_is_named() {
    caught(
        |ledger, entries| {
            let mut e = entries.to_vec();
            e.remove(2);
            write_lines(ledger, &e);
        },
        "jsonl:3: the entry (seq 4) sequence 4 where 3 was due",
    );
}

#[test]
fn an_inserted_entry_is_named() {
    caught(
        |ledger, entries| {
            let mut e = entries.to_vec();
            let copy = e[3].clone();
            e.insert(2, copy);
            write_lines(ledger, &e);
        },
        "jsonl:3: the entry (seq 4) sequence 4 where 3 was due",
    );
}

#[test]
fn swapped_entries_are_named() {
    caught(
        |ledger, entries| {
            let mut e = entries.to_vec();
            e.swap(1, 2);
            write_lines(ledger, &e);
        },
        "jsonl:2: the entry (seq 3) sequence 3 where 2 was due",
    );
}

#[test]
fn entries_cut_from_the_end_are_caught_by_the_run_directory() {
    caught(
        |ledger, entries| write_lines(ledger, &entries[..3]),
        "its directory says it appended up to seq 6, but the ledger does not hold that entry",
    );
}

#[test]
fn a_changed_manifest_is_caught() {
    caught(
        |ledger, entries| {
            let header: Value = serde_json::from_str(&entries[3]).unwrap();
            let dir = PathBuf::from(header["body"]["run_dir"].as_str().unwrap());
            let m = dir.join("manifest.json");
            let text = std::fs::read_to_string(&m).unwrap();
            std::fs::write(
                &m,
                text.replacen("\"ties_out\": true", "\"ties_out\": false", 1),
            )
            .unwrap();
            let _ = ledger;
        },
        "manifest.json is not the one the ledger recorded",
    );
}

#[test]
fn a_changed_line_in_the_run_directory_is_named() {
    let (_ws, ledger) = ledger_with_runs(2);
    let header: Value = serde_json::from_str(&lines_of(&ledger)[0]).unwrap();
    let dir = PathBuf::from(header["body"]["run_dir"].as_str().unwrap());
    let file = dir.join("audit/lines.jsonl");
    let mut lines = lines_of(&file);
    // The records are arrays in the order the lines entry lists.
    let entry: Value = serde_json::from_str(&lines_of(&ledger)[1]).unwrap();
    let columns: Vec<&str> = entry["body"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let at = |name: &str| columns.iter().position(|c| *c == name).unwrap();
    // A line past the first few that has an observed quantity: one digit more.
    let (i, mut record) = lines
        .iter()
        .enumerate()
        .skip(5)
        .map(|(i, l)| (i, serde_json::from_str::<Value>(l).unwrap()))
        .find(|(_, r)| r[at("observed_qty")].is_string())
        .expect("a line with an observed quantity");
    let line = record[at("line")].as_str().unwrap().to_string();
    let qty = record[at("observed_qty")].as_str().unwrap().to_string();
    record[at("observed_qty")] = Value::String(format!("{qty}1"));
    lines[i] = record.to_string();
    write_lines(&file, &lines);
    let (code, out) = verify(&ledger);
    assert_eq!(code, 1, "{out}");
    let expected = format!(
        "audit/lines.jsonl:{}: this record (discrepancy line {}) is not the one the ledger recorded",
        i + 1,
        line
    );
    assert!(out.contains(&expected), "expected {expected:?} in:\n{out}");
}

#[test]
fn a_crash_mid_append_is_a_clean_truncation_and_the_next_run_continues() {
    let (ws, ledger) = ledger_with_runs(1);
    let full = std::fs::read(&ledger).unwrap();
    // As if the process died while writing the next run's entries.
    let partial = br#"{"at":"2026-12-02T00:00:00Z","body":{"run_id":"#;
    std::fs::write(&ledger, [&full[..], &partial[..]].concat()).unwrap();
    let (code, out) = verify(&ledger);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("jsonl:4: the file ends inside an entry after seq 3"),
        "{out}"
    );
    // The next run drops the unfinished entry and continues the chain.
    let o = ws.run_job("job.toml");
    assert!(
        o.stderr.contains("ended in an unfinished entry"),
        "{}",
        o.stderr
    );
    let (code, out) = verify(&ledger);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("6 entries, 2 runs"), "{out}");
}

#[test]
fn two_runs_appending_at_once_leave_a_chain_that_verifies() {
    let (ws, ledger) = ledger_with_runs(0);
    let job = ws.path("job.toml");
    let spawn = |out: &str| {
        crate::common::tally()
            .args([
                "run",
                job.to_str().unwrap(),
                "--out",
                ws.path(out).to_str().unwrap(),
            ])
            .output()
    };
    let rounds = 4;
    std::thread::scope(|s| {
        let a = s.spawn(|| {
            (0..rounds)
                .map(|_| spawn("runs-a").unwrap())
                .collect::<Vec<_>>()
        });
        let b = s.spawn(|| {
            (0..rounds)
                .map(|_| spawn("runs-b").unwrap())
                .collect::<Vec<_>>()
        });
        for o in a.join().unwrap().into_iter().chain(b.join().unwrap()) {
            assert_eq!(
                o.status.code(),
                Some(1),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    });
    let (code, out) = verify(&ledger);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{} entries, {} runs", 3 * 2 * rounds, 2 * rounds)),
        "{out}"
    );
    // Each run's three entries are together: appends never interleave.
    let kinds: Vec<String> = lines_of(&ledger)
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for run in kinds.chunks(3) {
        assert_eq!(run, ["run_header", "lines", "run_footer"]);
    }
}

#[test]
fn an_audit_sample_is_drawn_by_value_recorded_and_repeatable() {
    let (ws, ledger) = ledger_with_runs(1);
    let run_dir = ws.only_run_dir();
    let sample = |seed: &str, out: &str| {
        let o = run(&[
            "audit",
            "sample",
            run_dir.to_str().unwrap(),
            "--size",
            "8",
            "--seed",
            seed,
            "--out",
            ws.path(out).to_str().unwrap(),
        ]);
        assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
        o.stdout
    };
    let first = sample("42", "a.csv");
    assert!(first.contains("value coverage"), "{first}");
    sample("42", "b.csv");
    sample("7", "c.xlsx");
    let a = std::fs::read_to_string(ws.path("a.csv")).unwrap();
    assert_eq!(
        a,
        std::fs::read_to_string(ws.path("b.csv")).unwrap(),
        "same seed, same sample"
    );
    // A blind count sheet: the item, never the quantities, and a column to fill in.
    let header = a.lines().next().unwrap();
    assert_eq!(
        header,
        "line,location,item_key,book_sku,observed_sku,description,category,counted"
    );
    let drawn: Vec<u64> = a
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(!drawn.is_empty() && drawn.len() <= 8, "{a}");
    // The largest line by value is always drawn (it holds at least one point when it is
    // worth more than the interval; here: checked against the lines themselves).
    let lines = crate::common::discrepancies(&run_dir);
    let value = |l: &std::collections::BTreeMap<String, String>| -> f64 {
        l["value_delta"].parse::<f64>().unwrap_or(0.0).abs()
    };
    let total: f64 = lines.iter().map(value).sum();
    for l in &lines {
        if value(l) >= total / 8.0 {
            let n: u64 = l["line"].parse().unwrap();
            assert!(
                drawn.contains(&n),
                "line {n} is worth more than the interval: {a}"
            );
        }
    }
    // The workbook holds the same kind of sheet.
    use calamine::Reader;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(ws.path("c.xlsx")).unwrap();
    let range = book.worksheet_range("Count").unwrap();
    assert_eq!(range.get((0, 7)).unwrap().to_string(), "counted");
    assert!(range.height() > 1);
    // Each draw is in the ledger, which still verifies.
    let entries = lines_of(&ledger);
    let samples: Vec<Value> = entries
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == "sample")
        .collect();
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0]["body"]["seed"], 42);
    assert_eq!(
        samples[0]["body"]["lines"].as_array().unwrap().len(),
        drawn.len()
    );
    let (code, out) = verify(&ledger);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_run_without_a_ledger_cannot_be_sampled() {
    let ws = many_stores();
    ws.run_job("job.toml");
    let o = run(&[
        "audit",
        "sample",
        ws.only_run_dir().to_str().unwrap(),
        "--size",
        "3",
        "--seed",
        "1",
    ]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(
        o.stderr.contains("was not recorded in a ledger"),
        "{}",
        o.stderr
    );
}

/// The `tally` binary run as another OS user (nobody), as a second person would.
fn as_nobody(args: &[&str]) -> crate::common::Output {
    let bin = assert_cmd::cargo::cargo_bin("tally");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin)
        .args(args)
        .output()
        .expect("setpriv runs (util-linux)");
    crate::common::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Opens a folder and everything in it to every user (the test's second user must read
/// the run and write its approval; the ledger stays its owner's).
fn open_to_all(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).unwrap();
    let mode = if meta.is_dir() { 0o777 } else { 0o666 };
    if path.file_name().is_some_and(|n| n == "ledger.jsonl") {
        return;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    if meta.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            open_to_all(&e.unwrap().path());
        }
    }
}

#[test]
fn approvals_name_the_os_user_and_count_only_when_theirs_and_for_unchanged_lines() {
    assert!(
        is_root(),
        "this test makes a second OS user's approval with setpriv: run it as root (CI does)"
    );
    let (ws, ledger) = ledger_with_runs(0);
    ws.write("rules.toml", approval_rules());
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let run_dir = ws.only_run_dir();
    let held: Vec<String> = crate::common::discrepancies(&run_dir)
        .into_iter()
        .filter(|l| l["approval"] == "required")
        .map(|l| l["line"].clone())
        .collect();
    assert!(held.len() >= 3, "{held:?}");
    let dir = run_dir.to_str().unwrap();

    // The one who ran the job cannot approve it, whatever name they give.
    let own = run(&["approve", dir, "--line", &held[0], "--by", "someone-else"]);
    assert_eq!(own.code, 2);
    assert!(own.stderr.contains("ran this job"), "{}", own.stderr);

    // A second OS user can; the ledger (0640: its owner writes, its group reads, as an
    // approvers' group would) takes it at the next apply.
    open_to_all(ws.dir.path());
    std::os::unix::fs::chown(&ledger, None, Some(65534)).unwrap();
    let ok = as_nobody(&[
        "approve", dir, "--line", &held[0], "--line", &held[1], "--by", "Dana",
    ]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(ok.stdout.contains("not yet in the ledger"), "{}", ok.stdout);
    let record: Value = serde_json::from_slice(
        &std::fs::read(
            std::fs::read_dir(&run_dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().contains("approvals-"))
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(record["os_user"], "nobody");
    assert_eq!(record["by"], "Dana");
    assert_eq!(record["line_hashes"].as_object().unwrap().len(), 2);

    // A forged approval: a file naming nobody but written by the operator counts for nothing.
    let forged = serde_json::json!({
        "run_id": record["run_id"], "lines": [held[2].parse::<u64>().unwrap()], "by": "Dana",
        "at": record["at"], "os_user": "nobody",
        "line_hashes": { held[2].clone(): record["line_hashes"][&held[0]] },
    });
    std::fs::write(run_dir.join("approvals-forged.json"), forged.to_string()).unwrap();

    let applied = run(&["apply", dir]);
    assert!(
        applied
            .stderr
            .contains("approvals-forged.json: not an approval"),
        "{}",
        applied.stderr
    );
    assert!(
        applied.stdout.contains("1 approval(s) recorded"),
        "{}{}",
        applied.stdout,
        applied.stderr
    );
    let approvals: Vec<Value> = lines_of(&ledger)
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["kind"] == "approval")
        .collect();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["body"]["os_user"], "nobody");
    assert_eq!(approvals[0]["body"]["lines"].as_array().unwrap().len(), 2);
    // Recorded once: a second apply adds nothing.
    let again = run(&["apply", dir]);
    assert!(
        !again.stdout.contains("approval(s) recorded"),
        "{}",
        again.stdout
    );
    let (code, out) = verify(&ledger);
    assert_eq!(code, 0, "{out}");

    // The approval does not carry over to a line whose content differs: the approver's own
    // file, claiming another hash, approves nothing.
    let edited = as_nobody(&["approve", dir, "--line", &held[2]]);
    assert_eq!(edited.code, 0, "{}{}", edited.stdout, edited.stderr);
    let file = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("approvals-2"))
        .max()
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let hash = v["line_hashes"][&held[2]].as_str().unwrap().to_string();
    let changed = text.replace(&hash, &"0".repeat(64));
    // Rewritten by its owner (in place: the owner stays nobody).
    std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
        ])
        .arg(format!(
            "printf '%s' '{}' > '{}'",
            changed.replace('\'', ""),
            file.display()
        ))
        .status()
        .unwrap();
    let applied = run(&["apply", dir]);
    assert!(
        applied
            .stderr
            .contains(&format!("line {} changed since it was approved", held[2])),
        "{}",
        applied.stderr
    );
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The auditor's whole night on the sample (SQLite ERP through its ODBC driver): a run
/// that writes back, an approval by a second OS user, an apply; every posting and the
/// approval are entries of a ledger that verifies.
#[test]
fn a_run_an_approval_and_an_apply_leave_a_ledger_that_verifies() {
    assert!(
        is_root(),
        "the second OS user is made with setpriv: run as root (CI does)"
    );
    let ws = Workspace::new();
    ws.copy_repo_dir("sample-data");
    ws.copy_repo_dir("rules");
    let rules = ws.path("rules/northwind.toml");
    let text = std::fs::read_to_string(&rules).unwrap();
    // The sample waits above 150; this test wants more lines to wait.
    let text = text.replace("above = \"150\"", "above = \"50\"");
    std::fs::write(&rules, text).unwrap();
    let job = ws.path("sample-data/job.toml");
    let text = std::fs::read_to_string(&job).unwrap();
    std::fs::write(&job, format!("ledger = \"../audit/ledger.jsonl\"\n{text}")).unwrap();
    let ledger = ws.path("audit/ledger.jsonl");
    let out = ws.path("runs");
    let o = run(&[
        "run",
        job.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--apply",
    ]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let dir = ws.only_run_dir();
    let held: Vec<String> = crate::common::discrepancies(&dir)
        .into_iter()
        .filter(|l| l["approval"] == "required")
        .map(|l| l["line"].clone())
        .collect();
    assert!(!held.is_empty());
    open_to_all(ws.dir.path());
    std::os::unix::fs::chown(&ledger, None, Some(65534)).unwrap();
    let ok = as_nobody(&["approve", dir.to_str().unwrap(), "--line", &held[0]]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let applied = run(&["apply", dir.to_str().unwrap()]);
    assert!(
        applied.stdout.contains("1 applied, 5 already applied"),
        "{}{}",
        applied.stdout,
        applied.stderr
    );
    let entries: Vec<Value> = lines_of(&ledger)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "run_header",
            "lines",
            "run_footer",
            "posting",
            "approval",
            "posting"
        ]
    );
    // The first posting wrote 5 lines; the second the approved one (the 5 before are
    // counted as already applied and listed as written, as the target holds them).
    let first = &entries[3]["body"];
    assert_eq!(first["outcome"], "applied");
    assert_eq!(first["applied_now"], 5);
    assert_eq!(first["written"].as_array().unwrap().len(), 5);
    let second = &entries[5]["body"];
    assert_eq!(second["applied_now"], 1);
    let line: u64 = held[0].parse().unwrap();
    assert!(
        second["written"]
            .as_array()
            .unwrap()
            .contains(&Value::from(line))
    );
    assert!(
        !first["written"]
            .as_array()
            .unwrap()
            .contains(&Value::from(line))
    );
    assert_eq!(entries[4]["body"]["os_user"], "nobody");
    let (code, out) = verify(&ledger);
    assert_eq!(code, 0, "{out}");

    // A person reads the run's story.
    let shown = run(&["audit", "show", dir.to_str().unwrap()]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    for expected in [
        "operator: OS user root",
        "approved by nobody (OS user nobody)",
        "write-back to erp (update tabBin) by root: 5 applied now",
        "write-back to erp (update tabBin) by root: 1 applied now",
        "counts tie out: true",
        "rule small-variance: absolute_qty ≤ 2 → correct_book (low) on qty_mismatch",
    ] {
        assert!(
            shown.stdout.contains(expected),
            "{expected:?} in:\n{}",
            shown.stdout
        );
    }

    // The export shows every line with its decision, approval and posting.
    let csv = ws.path("export.csv");
    let o = run(&[
        "audit",
        "export",
        ledger.to_str().unwrap(),
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let rows = crate::common::read_csv(&csv);
    assert_eq!(rows.len(), crate::common::discrepancies(&dir).len());
    let approved = rows.iter().find(|r| r["line"] == held[0]).unwrap();
    assert_eq!(approved["approved_os_user"], "nobody");
    assert_eq!(approved["posting"], "written");
    assert_eq!(approved["posted_to"], "erp");
    let written = rows.iter().filter(|r| r["posting"] == "written").count();
    assert_eq!(written, 6);
    for r in &rows {
        assert!(!r["resolution"].is_empty() && r["run_id"] == entries[0]["body"]["run_id"]);
    }
    // Filtered: one location's lines that were corrected in the book.
    let o = run(&[
        "audit",
        "export",
        ledger.to_str().unwrap(),
        "--out",
        ws.path("bos.parquet").to_str().unwrap(),
        "--location",
        "BOS-01",
        "--decision",
        "correct_book",
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let expected = rows
        .iter()
        .filter(|r| r["location"] == "BOS-01" && r["resolution"] == "correct_book")
        .count();
    assert!(
        o.stdout.starts_with(&format!("{expected} lines")),
        "{}",
        o.stdout
    );
    // An edited line in the run directory: nothing is exported.
    let records = dir.join("audit/lines.jsonl");
    let text = std::fs::read_to_string(&records).unwrap();
    std::fs::write(&records, text.replacen("BOS-01", "BOS-02", 1)).unwrap();
    let o = run(&[
        "audit",
        "export",
        ledger.to_str().unwrap(),
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("is not what the ledger recorded"),
        "{}",
        o.stderr
    );
}

/// Rewrites every entry's `prev` and `hash` as a forger would after editing one.
fn rechain(entries: &mut [Value]) {
    let mut prev = "0".repeat(64);
    for e in entries.iter_mut() {
        e["prev"] = Value::String(prev.clone());
        e.as_object_mut().unwrap().remove("hash");
        let hash = format!("{:x}", Sha256::digest(canonical(e).as_bytes()));
        e["hash"] = Value::String(hash.clone());
        prev = hash;
    }
}

#[test]
fn a_rewrite_of_the_whole_chain_is_caught_by_a_signed_checkpoint() {
    let (ws, ledger) = ledger_with_runs(2);
    let key = ws.path("auditor.key");
    let made = run(&["audit", "keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let public = made
        .stdout
        .split("public key:")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let checkpoint = ws.path("kept-elsewhere/checkpoint.json");
    std::fs::create_dir_all(checkpoint.parent().unwrap()).unwrap();
    let signed = run(&[
        "audit",
        "checkpoint",
        ledger.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--out",
        checkpoint.to_str().unwrap(),
    ]);
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    let with_checkpoint = |ledger: &Path, checkpoint: &Path, trust: &str| {
        let o = run(&[
            "audit",
            "verify",
            ledger.to_str().unwrap(),
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--trust",
            trust,
        ]);
        (o.code, o.stdout)
    };
    let (code, out) = with_checkpoint(&ledger, &checkpoint, &public);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the signed checkpoint holds"), "{out}");

    // A forger edits the second run's footer, rewrites every hash after it, and removes
    // the run directories' heads: the chain is consistent again, the checkpoint is not.
    let mut entries: Vec<Value> = lines_of(&ledger)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    entries[5]["body"]["ties_out"] = Value::Bool(false);
    rechain(&mut entries);
    write_lines(&ledger, &entries.iter().map(canonical).collect::<Vec<_>>());
    for dir in ws.run_dirs() {
        std::fs::remove_file(dir.join("audit/head.json")).unwrap();
    }
    let (code, out) = verify(&ledger);
    assert_eq!(code, 0, "the chain alone cannot tell: {out}");
    let (code, out) = with_checkpoint(&ledger, &checkpoint, &public);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("entry 6 is not the one signed"), "{out}");

    // A checkpoint that was altered, or signed by another key, proves nothing.
    let mut c: Value = serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    c["seq"] = Value::from(3);
    let altered = ws.path("kept-elsewhere/altered.json");
    std::fs::write(&altered, c.to_string()).unwrap();
    let (code, out) = with_checkpoint(&ledger, &altered, &public);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signature does not verify"), "{out}");
    let (code, out) = with_checkpoint(&ledger, &checkpoint, &"ab".repeat(32));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signed by another key"), "{out}");
}

/// Proof after apply on the three databases through their ODBC drivers: every written
/// line holds what was posted; after another writer changes a corrected row, verify
/// names that line, what it holds and what was posted.
#[test]
fn tally_verify_proves_what_the_erp_holds_after_an_apply() {
    for case in crate::faults::cases("proof") {
        let (db, t) = (case.db, case.t.as_str());
        let ws = crate::odbc::stock(db, t);
        crate::odbc::write_job(&ws, db, t, "mode = \"update\"");
        let o = crate::odbc::run_job(&ws, "unused", &["--apply"]);
        assert_eq!(o.code, 0, "{}: {}{}", db.name, o.stdout, o.stderr);
        let run_dir = ws.only_run_dir();
        let dir = run_dir.to_str().unwrap();
        let proof = crate::odbc::tally_with("unused", &["verify", dir]);
        assert_eq!(
            proof.code, 0,
            "{}: {}{}",
            db.name, proof.stdout, proof.stderr
        );
        assert!(
            proof
                .stdout
                .contains("2 of 2 written line(s) hold what was posted"),
            "{}: {}",
            db.name,
            proof.stdout
        );
        // Another writer changes a corrected row after the apply.
        db.exec(&[&format!("UPDATE {t} SET qty = 4 WHERE sku = 'A2'")]);
        let proof = crate::odbc::tally_with("unused", &["verify", dir]);
        assert_eq!(
            proof.code, 1,
            "{}: {}{}",
            db.name, proof.stdout, proof.stderr
        );
        assert!(
            proof
                .stdout
                .contains("1 of 2 written line(s) hold what was posted"),
            "{}: {}",
            db.name,
            proof.stdout
        );
        assert!(
            proof
                .stdout
                .contains("S1 / A2 holds 4 (posted 3): changed since the apply at"),
            "{}: {}",
            db.name,
            proof.stdout
        );
        db.exec(&[&format!("DROP TABLE {t}")]);
    }
}

/// With `[approvers]` in the job, an approval must be signed with the approver's key:
/// unsigned, another key, or an altered signature approves nothing.
#[test]
fn approvals_are_signed_when_the_job_lists_approvers() {
    assert!(
        is_root(),
        "the second OS user is made with setpriv: run as root (CI does)"
    );
    let (ws, ledger) = ledger_with_runs(0);
    ws.write("rules.toml", approval_rules());
    let keys = ws.path("keys");
    std::fs::create_dir_all(&keys).unwrap();
    open_to_all(ws.dir.path());
    let made = as_nobody(&[
        "audit",
        "keygen",
        "--out",
        &format!("{}/dana.key", keys.display()),
    ]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let dana = made
        .stdout
        .split("public key:")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let other = as_nobody(&[
        "audit",
        "keygen",
        "--out",
        &format!("{}/eve.key", keys.display()),
    ]);
    assert_eq!(other.code, 0, "{}", other.stderr);
    let job = std::fs::read_to_string(ws.path("job.toml")).unwrap();
    let (top, rest) = job.split_once("[sources").unwrap();
    ws.write(
        "job.toml",
        format!("{top}[approvers]\nDana = \"{dana}\"\n\n[sources{rest}"),
    );
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let run_dir = ws.only_run_dir();
    open_to_all(ws.dir.path());
    std::os::unix::fs::chown(&ledger, None, Some(65534)).unwrap();
    let held: Vec<String> = crate::common::discrepancies(&run_dir)
        .into_iter()
        .filter(|l| l["approval"] == "required")
        .map(|l| l["line"].clone())
        .collect();
    let dir = run_dir.to_str().unwrap();
    let unsigned = as_nobody(&["approve", dir, "--line", &held[0], "--by", "Dana"]);
    assert_eq!(unsigned.code, 2);
    assert!(
        unsigned.stderr.contains("sign the approval with --key"),
        "{}",
        unsigned.stderr
    );
    let stranger = as_nobody(&["approve", dir, "--line", &held[0], "--by", "Eve"]);
    assert_eq!(stranger.code, 2);
    assert!(
        stranger.stderr.contains("not one of the job's [approvers]"),
        "{}",
        stranger.stderr
    );
    let eve_key = format!("{}/eve.key", keys.display());
    let wrong = as_nobody(&[
        "approve", dir, "--line", &held[0], "--by", "Dana", "--key", &eve_key,
    ]);
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains("is not Dana's key"),
        "{}",
        wrong.stderr
    );
    let dana_key = format!("{}/dana.key", keys.display());
    let ok = as_nobody(&[
        "approve", dir, "--line", &held[0], "--by", "Dana", "--key", &dana_key,
    ]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let file = std::fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("approvals-"))
        .unwrap();
    let record: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(record["public_key"], dana.as_str());
    assert_eq!(record["signature"].as_str().unwrap().len(), 128);
    let applied = run(&["apply", dir]);
    assert!(
        applied.stdout.contains("1 approval(s) recorded"),
        "{}{}",
        applied.stdout,
        applied.stderr
    );
    assert!(
        !applied.stderr.contains("not an approval"),
        "{}",
        applied.stderr
    );
    let (code, out) = verify(&ledger);
    assert_eq!(code, 0, "{out}");

    // The approver's own file with another line slipped in: the signature no longer holds.
    let mut altered = record.clone();
    altered["lines"] = serde_json::json!([
        held[0].parse::<u64>().unwrap(),
        held[1].parse::<u64>().unwrap()
    ]);
    altered["line_hashes"][&held[1]] = record["line_hashes"][&held[0]].clone();
    let text = altered.to_string().replace('\'', "");
    std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
        ])
        .arg(format!("printf '%s' '{text}' > '{}'", file.display()))
        .status()
        .unwrap();
    let applied = run(&["apply", dir]);
    assert!(
        applied
            .stderr
            .contains("not an approval: its signature does not verify"),
        "{}",
        applied.stderr
    );
}

/// Proof after apply for a ledger target: the run's adjustment entries are there with
/// the posted quantity after; an entry changed afterwards is named.
#[test]
fn tally_verify_proves_a_ledger_targets_entries() {
    for case in crate::faults::cases("proofl") {
        let (db, t) = (case.db, case.t.as_str());
        let ws = crate::odbc::stock(db, t);
        let ledger = crate::faults::status_ledger(db, t);
        crate::odbc::write_job(
            &ws,
            db,
            t,
            &format!(
                "mode = \"ledger\"\ntable = \"{ledger}\"\nposted = {{ column = \"status\", values = [\"posted\"] }}"
            ),
        );
        let o = crate::odbc::run_job(&ws, "unused", &["--apply"]);
        assert_eq!(o.code, 0, "{}: {}{}", db.name, o.stdout, o.stderr);
        let dir = ws.only_run_dir();
        let proof = crate::odbc::tally_with("unused", &["verify", dir.to_str().unwrap()]);
        assert_eq!(
            proof.code, 0,
            "{}: {}{}",
            db.name, proof.stdout, proof.stderr
        );
        assert!(
            proof.stdout.contains("(ledger ")
                && proof.stdout.contains("2 of 2 written line(s) hold"),
            "{}: {}",
            db.name,
            proof.stdout
        );
        db.exec(&[&format!(
            "UPDATE {ledger} SET qty_after = 1 WHERE sku = 'A2'"
        )]);
        let proof = crate::odbc::tally_with("unused", &["verify", dir.to_str().unwrap()]);
        assert_eq!(
            proof.code, 1,
            "{}: {}{}",
            db.name, proof.stdout, proof.stderr
        );
        assert!(
            proof.stdout.contains("S1 / A2 holds 1 (posted 3)"),
            "{}: {}",
            db.name,
            proof.stdout
        );
        db.exec(&[&format!("DROP TABLE {t}"), &format!("DROP TABLE {ledger}")]);
    }
}

/// An approval file copied from another run approves nothing there.
#[test]
fn an_approval_of_another_run_is_refused() {
    assert!(
        is_root(),
        "the second OS user is made with setpriv: run as root (CI does)"
    );
    let (ws, ledger) = ledger_with_runs(0);
    ws.write("rules.toml", approval_rules());
    for out in ["runs-a", "runs-b"] {
        let o = run(&[
            "run",
            ws.path("job.toml").to_str().unwrap(),
            "--out",
            ws.path(out).to_str().unwrap(),
        ]);
        assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    }
    let only = |out: &str| {
        std::fs::read_dir(ws.path(out))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    };
    let (a, b) = (only("runs-a"), only("runs-b"));
    open_to_all(ws.dir.path());
    std::os::unix::fs::chown(&ledger, None, Some(65534)).unwrap();
    let held = crate::common::discrepancies(&a)
        .into_iter()
        .find(|l| l["approval"] == "required")
        .unwrap()["line"]
        .clone();
    let ok = as_nobody(&["approve", a.to_str().unwrap(), "--line", &held]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let file = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("approvals-"))
        .unwrap();
    // Copied by its owner into the other run's directory.
    std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cp"])
        .arg(&file)
        .arg(&b)
        .status()
        .unwrap();
    let applied = run(&["apply", b.to_str().unwrap()]);
    assert!(
        applied.stderr.contains("not of this run")
            && !applied.stdout.contains("approval(s) recorded"),
        "{}{}",
        applied.stdout,
        applied.stderr
    );
}

/// The plain rules, correcting the book on every quantity mismatch above 1 at cost only
/// with a person's approval.
fn approval_rules() -> String {
    format!(
        "{}\n[approval]\nabove = \"1\"\n\n[[rules]]\nname = \"fix\"\nkind = \"always\"\napplies_to = [\"qty_mismatch\"]\nseverity = \"low\"\nresolution = \"correct_book\"\n",
        crate::common::PLAIN_RULES
    )
}
