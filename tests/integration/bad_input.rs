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
            r#"{}:4: column "Store": bytes that are not UTF-8"#,
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

/// ERPNext's import template read without its preset: the mapped names are on a later
/// line; the message says which (and never panics, as polars did with no column to read).
#[test]
fn a_header_further_down_is_pointed_at() {
    let ws = Workspace::csv_job(
        BOOK_CSV,
        "Store count 2026-11-25,,\n,,\nItem,Store,Counted\nA1,S1,10\n",
    );
    let err = fails(&ws);
    assert!(
        err.contains(r#"column "Counted" (mapped to qty), "Item" (mapped to sku), "Store" (mapped to location) not found"#)
            || err.contains("not found in the header (line 1)"),
        "{err}"
    );
    assert!(
        err.contains("hint: the header is on line 3: set header_row = 3"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
}

#[test]
fn a_semicolon_file_read_as_commas_names_the_delimiter() {
    let ws = Workspace::csv_job(BOOK_CSV, "Item;Store;Counted\nA1;S1;10\n");
    let err = fails(&ws);
    assert!(err.contains("the header has 1 column"), "{err}");
    assert!(
        err.contains("found 1 column; is the delimiter ';'? set delimiter = \";\""),
        "{err}"
    );
}

#[test]
fn an_unclosed_quote_names_its_line_and_echoes_nothing_big() {
    // A quote opened on line 3 and never closed, then 5 MB of text.
    let mut count = String::from("Item,Store,Counted\nA1,S1,10\n\"A2,S1,5\n");
    count.push_str(&"x".repeat(5 << 20));
    count.push('\n');
    let ws = Workspace::csv_job(BOOK_CSV, count);
    let err = fails(&ws);
    assert!(
        err.contains(&format!(
            "{}:3: a quoted field opens here and never closes",
            ws.path("count.csv").display()
        )),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(err.len() < 2000, "stderr is short: {} bytes", err.len());
}

#[test]
fn a_long_row_names_its_line_and_field_count() {
    let ws = Workspace::csv_job(
        BOOK_CSV,
        "Item,Store,Counted\nA1,S1,10\nA2,S1,5,extra,fields\nA3,S1,1\n",
    );
    let err = fails(&ws);
    assert!(
        err.contains(&format!(
            "{}:3: the record has 5 fields, the header (line 1) has 3: \"A2,S1,5,extra,fields\"",
            ws.path("count.csv").display()
        )),
        "{err}"
    );
    assert!(!err.contains("You might want to try"), "{err}");
}

#[test]
fn a_glob_through_a_symlink_loop_reads_each_file_once() {
    let ws = Workspace::csv_job(BOOK_CSV, "");
    std::fs::remove_file(ws.path("count.csv")).unwrap();
    std::fs::create_dir_all(ws.path("counts")).unwrap();
    ws.write("counts/s1.csv", "Item,Store,Counted\nA1,S1,10\nA2,S1,3\n");
    std::os::unix::fs::symlink(ws.path("counts"), ws.path("counts/again")).unwrap();
    ws.write(
        "job.toml",
        CSV_JOB.replace("path = \"count.csv\"", "path = \"counts/**/*.csv\""),
    );
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let m = manifest(&ws.only_run_dir());
    let counts: Vec<&serde_json::Value> = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["source"] == "count")
        .collect();
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(m["discrepancies"]["by_kind"].get("duplicate_key"), None);
}

#[test]
fn an_encrypted_workbook_says_so() {
    let ws = Workspace::csv_job(BOOK_CSV, "");
    ws.copy_fixture("encrypted.xlsx", "count.xlsx");
    ws.write(
        "job.toml",
        CSV_JOB.replace(
            "kind = \"csv\"\npath = \"count.csv\"",
            "kind = \"excel\"\npath = \"count.xlsx\"",
        ),
    );
    let err = fails(&ws);
    assert!(
        err.contains("the workbook is encrypted (password-protected)"),
        "{err}"
    );
    assert!(!err.contains("Cannot detect file format"), "{err}");
}

/// Bytes that are not UTF-8 in a column the job does not read: the file reads, and the
/// manifest counts the row.
#[test]
fn undecodable_bytes_outside_the_mapped_columns_are_counted() {
    let mut count = b"Item,Store,Counted,Note\nA1,S1,10,ok\n".to_vec();
    count.extend_from_slice(b"A2,S1,3,caf\xe9\n");
    let ws = Workspace::csv_job(BOOK_CSV, count);
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let m = manifest(&ws.only_run_dir());
    let input = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["source"] == "count")
        .unwrap()
        .clone();
    assert_eq!(input["undecodable_rows"], 1, "{input}");
}

#[test]
fn a_non_number_hint_names_the_text_found() {
    let ws = Workspace::csv_job(
        BOOK_CSV,
        "Item,Store,Counted\nA1,S1,10\nA2,S1,not stocked\n",
    );
    let err = fails(&ws);
    assert!(
        err.contains(r#"hint: "not stocked" is not a number: if it means the item is not stocked there, add placeholders = { "not stocked" = "absent" }"#),
        "{err}"
    );
    assert!(
        err.contains("preset = \"shopify-inventory\" takes it"),
        "{err}"
    );
}

/// A panic anywhere ends as an internal error with exit 2, never Rust's 101, and leaves
/// nothing behind (the debug build panics on request).
#[test]
fn a_panic_is_an_internal_error_with_exit_2() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    let out = tally()
        .env("TALLY_TEST_PANIC", "1")
        .args(["run", ws.path("job.toml").to_str().unwrap(), "--out"])
        .arg(ws.path("runs"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: internal error: a panic the tests asked for"),
        "{stderr}"
    );
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert!(ws.run_dirs().is_empty());
}
