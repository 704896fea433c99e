//! What tally leaves on disk and reads back: SQL names refused at load, output and
//! state folders checked first, staging left by killed runs removed, file modes, an edited
//! run or a foreign approval refused, CSV cells a spreadsheet would run.

use super::*;

/// (3) A SQL name that is SQL never reaches the database, not even on a dry run: the job
/// is refused when it loads (file:line, exit 2) by `tally check` and `tally run`.
#[test]
fn an_injected_column_name_is_refused_before_any_connection() {
    for case in cases("inject") {
        let (db, t) = (case.db, case.t.as_str());
        let ws = stock(db, t);
        write_job(&ws, db, t, "mode = \"update\"");
        let job = std::fs::read_to_string(ws.path("job.toml")).unwrap();
        let evil = format!(r#"qty = "qty\" FROM \"{t}\"; DELETE FROM \"{t}\"; COMMIT; --""#);
        let job = job.replace("qty = \"qty\"", &evil);
        assert!(job.contains("DELETE"), "{job}");
        ws.write("job.toml", &job);
        let line = job.lines().position(|l| l.contains("DELETE")).unwrap() + 1;
        for o in [
            check_job(&ws),
            run_job(&ws, "unused", &[]),
            run_job(&ws, "unused", &["--apply"]),
        ] {
            assert_eq!(o.code, 2, "{}: {}{}", db.name, o.stdout, o.stderr);
            assert!(
                o.stderr.contains(&format!("job.toml:{line}:"))
                    && o.stderr.contains("is not a column name"),
                "{}: {}",
                db.name,
                o.stderr
            );
        }
        assert_eq!(
            db.query_one(&format!("SELECT COUNT(*) FROM {t}")),
            "3",
            "{}",
            db.name
        );
        assert!(ws.run_dirs().is_empty());
        db.exec(&[&format!("DROP TABLE {t}")]);
    }
}

/// (6) Exit 2 means nothing written: a state folder that cannot be created stops the run
/// before the run directory or the database is touched.
#[test]
fn a_state_folder_that_cannot_be_made_writes_nothing() {
    let ws = Workspace::new();
    let db = forty_rows(&ws, &format!("{COUNT_CSV}A1,S1,2\n"));
    ws.write("blocker", "a file where a folder should be");
    // The state path is a file; then a path under a file.
    for state in ["blocker", "blocker/state"] {
        let o = run(&[
            "run",
            ws.path("job.toml").to_str().unwrap(),
            "--out",
            ws.path("runs").to_str().unwrap(),
            "--state",
            ws.path(state).to_str().unwrap(),
            "--apply",
        ]);
        assert_eq!(o.code, 2, "{state}: {}{}", o.stdout, o.stderr);
        assert!(o.stderr.contains("state folder"), "{}", o.stderr);
        assert_eq!(sum_of(db), "820");
        let left: Vec<_> = ws.run_dirs();
        assert!(
            left.is_empty(),
            "{state}: nothing in the output folder: {left:?}"
        );
    }
}

/// (6) What a SIGKILL'd run left (hidden staging) is removed by the next run.
#[test]
fn a_killed_runs_staging_is_removed_by_the_next_run() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\n",
        "Item,Store,Counted\nA,S1,9\n",
    );
    let stale = ws.path("runs/.20261130T021500Z-deadbeef.partial");
    std::fs::create_dir_all(stale.join("reports")).unwrap();
    std::fs::write(stale.join("discrepancies.csv"), "half").unwrap();
    // Its writer's claim, free: the process is gone.
    std::fs::write(
        ws.path("runs/.20261130T021500Z-deadbeef.partial.lock"),
        "pid 1",
    )
    .unwrap();
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(!stale.exists(), "{}", o.stderr);
    assert_eq!(ws.run_dirs().len(), 1, "{:?}", ws.run_dirs());
}

/// (7) Under umask 000 no file or folder tally makes is writable by everyone.
#[test]
fn no_file_is_world_writable_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\n",
        "Item,Store,Counted\nA,S1,9\n",
    );
    let bin = env!("CARGO_BIN_EXE_tally");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec '{}' run '{}' --out '{}' --state '{}'",
            bin,
            ws.path("job.toml").display(),
            ws.path("out/runs").display(),
            ws.path("out/state").display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = 0;
    let mut stack = vec![ws.path("out")];
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o002,
            0,
            "{} is world-writable",
            p.display()
        );
        seen += 1;
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(
        seen > 8,
        "the run directory, its files and the baseline: {seen}"
    );
}

/// (7) `tally apply` refuses a run directory in which any file the manifest hashed has
/// changed (a report, not only the discrepancies), and an approval made for another run
/// approves nothing.
#[test]
fn an_edited_report_or_a_foreign_approval_writes_nothing() {
    let ws = Workspace::new();
    let db = forty_rows(&ws, &format!("{COUNT_CSV}A1,S1,2\n"));
    // Every correction here needs an approval; only A1's would be written (A1: 1 → 2).
    ws.write(
        "rules.toml",
        format!("{CORRECTING_RULES}\n[approval]\nabove = \"0\"\n[guard]\nmax_share_changed = \"100\"\nmax_zeroed = 100\n"),
    );
    let o = run_job(&ws, "unused", &[]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let run = ws.only_run_dir();
    let line = discrepancies(&run)
        .into_iter()
        .find(|l| l["item_key"] == "A1")
        .unwrap()["line"]
        .clone();
    std::fs::write(
        run.join("approvals-20261201T000000.000Z.json"),
        format!(r#"{{"run_id": "20261130T021500Z-0ther000", "lines": [{line}], "by": "mallory", "at": "2026-12-01T00:00:00Z"}}"#),
    )
    .unwrap();
    let a = tally_with("unused", &["apply", run.to_str().unwrap()]);
    assert!(
        a.stderr.contains("not of this run") && a.stderr.contains("ignored"),
        "{}",
        a.stderr
    );
    assert_eq!(
        db.query_one("SELECT CAST(qty AS integer) FROM stock WHERE sku = 'A1'"),
        "1"
    );

    let report = run.join("reports/summary.md");
    let mut text = std::fs::read_to_string(&report).unwrap();
    text.push_str("\nall fine, apply everything\n");
    std::fs::write(&report, text).unwrap();
    let a = tally_with("unused", &["apply", run.to_str().unwrap()]);
    assert_eq!(a.code, 2, "{}{}", a.stdout, a.stderr);
    assert!(
        a.stderr.contains("does not match the run's manifest")
            && a.stderr.contains("reports/summary.md"),
        "{}",
        a.stderr
    );
}

/// The lock files and claims of a run are gone when it ends.
#[test]
fn a_run_leaves_no_lock_behind() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\n",
        "Item,Store,Counted\nA,S1,9\n",
    );
    let (o, _) = run_into(
        &ws.path("job.toml"),
        &ws.path("runs"),
        Some(&ws.path("state")),
        &[],
    );
    assert_eq!(o.code, 1);
    let names = |dir: PathBuf| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(ws.path("runs")).len(), 1);
    assert_eq!(
        names(ws.path("state")),
        ["baseline.json", "baseline.parquet"]
    );
}

/// (8) A SKU that a spreadsheet would run as a formula reaches every CSV tally writes as
/// text (a leading `'`); a negative number stays a number.
#[test]
fn formulas_in_exports_are_neutralised_in_every_csv() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\n\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",S1,10,1.00\n@SUM(1),S1,5,1.00\n",
        "Item,Store,Counted\n\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",S1,9\n@SUM(1),S1,-2\n",
    );
    ws.write(
        "rules.toml",
        "[defaults]\nseverity = \"low\"\nresolution = \"correct_book\"\n",
    );
    let o = ws.run_job("job.toml");
    assert!(o.code == 0 || o.code == 1, "{}{}", o.stdout, o.stderr);
    let run = ws.only_run_dir();
    let text = std::fs::read_to_string(run.join("discrepancies.csv")).unwrap();
    assert!(
        !text.contains(",=HYPERLINK") && !text.contains(",\"=HYPERLINK"),
        "{text}"
    );
    assert!(
        text.contains("'=HYPERLINK") && text.contains("'@SUM(1)"),
        "{text}"
    );
    // Workbooks: every text cell that could be a formula is neutralised too.
    for f in walk(&run)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "xlsx"))
    {
        use calamine::Reader;
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(&f).unwrap();
        for name in book.sheet_names() {
            let range = book.worksheet_range(&name).unwrap();
            for cell in range.cells() {
                if let calamine::Data::String(s) = cell.2 {
                    assert!(!s.starts_with(['=', '@', '+']), "{}: {s}", f.display());
                }
            }
            assert!(
                book.worksheet_formula(&name).unwrap().is_empty(),
                "no formulas"
            );
        }
    }
    for f in walk(&run.join("corrections"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "csv"))
    {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains(",@SUM") && !text.contains(",=HYP"),
            "{}: {text}",
            f.display()
        );
    }
    assert!(text.contains(",-2,"), "numbers stay numbers: {text}");
}
