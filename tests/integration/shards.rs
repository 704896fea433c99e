//! Sharding: four `tally run --shard I/4` processes and a `tally merge` give the same
//! result as one single-machine run, run ids and times aside.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// Runs the job whole, then as 4 shard processes at once, then merges the shards.
fn single_and_merged(job: &Path, ws: &Workspace) -> (PathBuf, PathBuf) {
    let single_out = ws.path("single");
    let o = run(&[
        "run",
        job.to_str().unwrap(),
        "--out",
        single_out.to_str().unwrap(),
    ]);
    assert!(o.code == 0 || o.code == 1, "{}", o.stderr);

    let bin = assert_cmd::cargo::cargo_bin("tally");
    let shard_out = ws.path("shards");
    let children: Vec<_> = (0..4)
        .map(|i| {
            Command::new(&bin)
                .args([
                    "run",
                    job.to_str().unwrap(),
                    "--out",
                    shard_out.to_str().unwrap(),
                    "--shard",
                    &format!("{i}/4"),
                ])
                .output_async()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shard_dirs = dirs(&shard_out);
    assert_eq!(shard_dirs.len(), 4);

    let merged_out = ws.path("merged");
    let mut args = vec!["merge".to_string()];
    args.extend(shard_dirs.iter().map(|d| d.display().to_string()));
    args.extend(["--out".to_string(), merged_out.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run(&args);
    assert_eq!(
        o.code,
        manifest(&dirs(&single_out)[0])["exit_code"]
            .as_i64()
            .unwrap() as i32,
        "{}",
        o.stderr
    );
    (dirs(&single_out).remove(0), dirs(&merged_out).remove(0))
}

trait OutputAsync {
    fn output_async(&mut self) -> std::process::Child;
}

impl OutputAsync for Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

#[test]
fn merged_shards_equal_a_single_run_on_the_sample() {
    let ws = Workspace::new();
    let job = Path::new(REPO).join("sample-data/job.toml");
    let (single, merged) = single_and_merged(&job, &ws);
    assert_same_run(&single, &merged);
    assert_eq!(
        manifest(&merged)["merged_from"].as_array().unwrap().len(),
        4
    );
}

/// 40 stores, so that every shard gets some, with every kind of difference.
#[test]
fn merged_shards_equal_a_single_run_across_many_stores() {
    let ws = Workspace::new();
    let w = many_stores();
    let (single, merged) = single_and_merged(&w.path("job.toml"), &ws);
    let m = manifest(&single);
    for kind in [
        "qty_mismatch",
        "missing_in_book",
        "missing_in_observed",
        "duplicate_key",
        "negative_qty",
    ] {
        assert!(
            m["discrepancies"]["by_kind"][kind].as_u64().unwrap_or(0) > 0,
            "{kind} occurs"
        );
    }
    assert_same_run(&single, &merged);
    assert_eq!(
        manifest(&merged)["merged_from"].as_array().unwrap().len(),
        4
    );
}

#[test]
fn merge_refuses_incomplete_or_mixed_shards() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    let job = ws.path("job.toml");
    let out = ws.path("shards");
    for i in [0, 1] {
        run(&[
            "run",
            job.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--shard",
            &format!("{i}/3"),
        ]);
    }
    let d = dirs(&out);
    let merged = ws.path("merged");
    let o = run(&[
        "merge",
        d[0].to_str().unwrap(),
        d[1].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("shards missing: 2/3"), "{}", o.stderr);
    let o = run(&[
        "merge",
        d[0].to_str().unwrap(),
        d[0].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(o.stderr.contains("is given twice"), "{}", o.stderr);
    assert!(!merged.exists(), "nothing written");
    let o = run(&[
        "run",
        job.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--shard",
        "3/3",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("0 ≤ I < N"), "{}", o.stderr);
}

/// Three-way sync at scale: night 1 runs as 4 shard processes (which read the state
/// folder side by side and leave their part of the baseline in their run directories)
/// and a merge that stores the baseline; night 2 compares every location with night 1;
/// night 3 as shards again moves the baseline on to its own merge.
#[test]
fn shards_and_merge_move_the_baseline_on() {
    let ws = many_stores();
    let job = ws.path("job.toml");
    let state = ws.path("state");
    let shards_and_merge = |night: u32| -> PathBuf {
        let out = ws.path(&format!("shards-{night}"));
        let bin = env!("CARGO_BIN_EXE_tally");
        let children: Vec<_> = (0..4)
            .map(|i| {
                Command::new(bin)
                    .args(["run", job.to_str().unwrap(), "--out", out.to_str().unwrap()])
                    .args([
                        "--state",
                        state.to_str().unwrap(),
                        "--shard",
                        &format!("{i}/4"),
                    ])
                    .output_async()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let merged = ws.path(&format!("merged-{night}"));
        let mut args = vec!["merge".to_string()];
        args.extend(dirs(&out).iter().map(|d| d.display().to_string()));
        args.extend(
            [
                "--out",
                merged.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
            ]
            .map(String::from),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert!(o.code == 0 || o.code == 1, "{}{}", o.stdout, o.stderr);
        dirs(&merged).pop().unwrap()
    };
    let first = shards_and_merge(1);
    assert_eq!(
        baseline_info(&state)["run_id"],
        manifest(&first)["run_id"],
        "the merge stored the baseline"
    );
    let (o, second) = run_into(&job, &ws.path("night-2"), Some(&state), &[]);
    assert!(o.code == 0 || o.code == 1, "{}", o.stderr);
    let quantity_lines: Vec<_> = discrepancies(&second)
        .into_iter()
        .filter(|l| {
            ["qty_mismatch", "missing_in_book", "missing_in_observed"].contains(&l["kind"].as_str())
        })
        .collect();
    assert!(quantity_lines.len() > 40, "{}", quantity_lines.len());
    let stores: std::collections::BTreeSet<&str> = quantity_lines
        .iter()
        .map(|l| l["location"].as_str())
        .collect();
    assert!(stores.len() > 30, "lines at many stores: {}", stores.len());
    for l in &quantity_lines {
        assert_eq!(
            l["change"], "none",
            "compared with night 1 at {}: {l:?}",
            l["location"]
        );
    }
    let third = shards_and_merge(3);
    assert_eq!(baseline_info(&state)["run_id"], manifest(&third)["run_id"]);
    assert_eq!(manifest(&third)["state"], state.display().to_string());
}
