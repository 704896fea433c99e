//! Bad input: a clear message naming file, line/row and column; exit code 2; and no run
//! directory, not even a half-written one.

use crate::common::*;

/// Runs the job and checks the failure contract; returns stderr.
fn fails(ws: &Workspace) -> String {
    let o = ws.run_job("job.toml");
    assert_eq!(
        o.code, 2,
        "exit code 2\nstdout: {}\nstderr: {}",
        o.stdout, o.stderr
    );
    assert!(
        ws.run_dirs().is_empty(),
        "nothing written: {:?}",
        ws.run_dirs()
    );
    o.stderr
}

#[test]
fn healthy_fixture_runs() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let m = manifest(&ws.only_run_dir());
    assert_ties_out(&m);
    assert_eq!(m["discrepancies"]["by_kind"]["qty_mismatch"], 1);
    assert_eq!(m["discrepancies"]["by_kind"]["missing_in_book"], 1);
    assert_eq!(m["discrepancies"]["by_kind"]["missing_in_observed"], 1);
}

#[test]
fn missing_file() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    std::fs::remove_file(ws.path("count.csv")).unwrap();
    let err = fails(&ws);
    assert!(
        err.contains("job.toml:16: source `count`: no file matches"),
        "{err}"
    );
    assert!(err.contains("count.csv"), "{err}");
}

#[test]
fn mapped_column_absent() {
    let ws = Workspace::csv_job(BOOK_CSV, "Item,Store,Quantity\nA1,S1,1\n");
    let err = fails(&ws);
    assert!(err.contains("count.csv"), "{err}");
    assert!(
        err.contains(r#"column "Counted" (mapped to qty) not found in the header (line 1)"#),
        "{err}"
    );
    assert!(
        err.contains(r#""Quantity""#),
        "lists the headers found: {err}"
    );
}

#[test]
fn non_numeric_quantity_that_is_not_a_placeholder() {
    let ws = Workspace::csv_job(
        BOOK_CSV,
        "Item,Store,Counted\nA1,S1,10\nA2,S1,lots\nA3,S1,Not stocked\n",
    );
    let err = fails(&ws);
    let file = ws.path("count.csv");
    assert!(
        err.contains(&format!(
            r#"{}:3: column "Counted" (qty): "lots" is not a number"#,
            file.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            r#"{}:4: column "Counted" (qty): "Not stocked" is not a number"#,
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains("placeholders"), "hints at placeholders: {err}");
}

#[test]
fn declared_placeholder_is_not_an_error() {
    let ws = Workspace::csv_job(
        BOOK_CSV,
        "Item,Store,Counted\nA1,S1,10\nA2,S1,5\nA3,S1,Not stocked\n",
    );
    let job = CSV_JOB.replace(
        "[sources.count.columns]",
        "placeholders = { \"Not stocked\" = \"absent\" }\n\n[sources.count.columns]",
    );
    ws.write("job.toml", job);
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let m = manifest(&ws.only_run_dir());
    assert_ties_out(&m);
    assert_eq!(m["pairings"][0]["observed"]["rejected"]["not_stocked"], 1);
    assert_eq!(m["discrepancies"]["by_kind"]["missing_in_observed"], 1);
}

#[test]
fn invalid_utf8_in_a_utf8_file() {
    let mut count = b"Item,Store,Counted\nA1,S1,10\nA2,S1,5\n".to_vec();
    count.extend_from_slice(b"A3,Caf\xe9,1\n");
    let ws = Workspace::csv_job(BOOK_CSV, count);
    let err = fails(&ws);
    let file = ws.path("count.csv");
    assert!(
        err.contains(&format!(
            r#"{}:4: column "Store": invalid UTF-8 (byte 0xE9)"#,
            file.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("windows-1252"),
        "hints at the encoding option: {err}"
    );
}

#[test]
fn empty_file() {
    let ws = Workspace::csv_job(BOOK_CSV, "");
    let err = fails(&ws);
    assert!(
        err.contains(&format!(
            "{}: the file is empty",
            ws.path("count.csv").display()
        )),
        "{err}"
    );
}

#[test]
fn malformed_toml() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    ws.write(
        "job.toml",
        CSV_JOB.replace(
            "kind = \"csv\"\npath = \"count.csv\"",
            "kind = \"csv\npath = \"count.csv\"",
        ),
    );
    let err = fails(&ws);
    assert!(err.contains("job.toml:15: invalid TOML"), "{err}");
}

#[test]
fn unknown_rule_kind() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    ws.write(
        "rules.toml",
        PLAIN_RULES.replace("kind = \"absolute_qty\"", "kind = \"fuzzy\""),
    );
    let err = fails(&ws);
    assert!(
        err.contains("rules.toml:11: rule #1: unknown variant `fuzzy`"),
        "{err}"
    );
    assert!(err.contains("absolute_qty"), "lists the kinds: {err}");
}

#[test]
fn unknown_key_in_the_job_file() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    ws.write(
        "job.toml",
        CSV_JOB.replace(
            "path = \"book.csv\"",
            "path = \"book.csv\"\ndelimter = \";\"",
        ),
    );
    let err = fails(&ws);
    assert!(
        err.contains("job.toml:7: source `book`: unknown field `delimter`"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_spreadsheet() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    ws.write("count.xlsx", "this is not a workbook");
    ws.write(
        "job.toml",
        CSV_JOB.replace(
            "kind = \"csv\"\npath = \"count.csv\"",
            "kind = \"excel\"\npath = \"count.xlsx\"",
        ),
    );
    let err = fails(&ws);
    assert!(
        err.contains("count.xlsx: cannot open as a spreadsheet"),
        "{err}"
    );
}

#[test]
fn existing_output_is_never_touched_on_failure() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    assert_eq!(ws.run_job("job.toml").code, 1);
    let first = ws.only_run_dir();
    let before = std::fs::read(first.join("manifest.json")).unwrap();
    ws.write("count.csv", "Item,Store,Counted\nA1,S1,x\n");
    assert_eq!(ws.run_job("job.toml").code, 2);
    assert_eq!(
        ws.run_dirs(),
        vec![first.clone()],
        "no second (partial) run directory"
    );
    assert_eq!(std::fs::read(first.join("manifest.json")).unwrap(), before);
}
