//! `tally check`: every error of a job and its rules at once, each with file and line.

use std::path::Path;

use crate::common::*;

#[test]
fn sample_job_is_valid() {
    let job = Path::new(REPO).join("sample-data/job.toml");
    let o = run(&["check", job.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("ok (8 sources, 1 pairings, 9 rules)"),
        "{}",
        o.stdout
    );
}

#[test]
fn broken_job_lists_every_error() {
    let ws = Workspace::new();
    ws.write("book.csv", BOOK_CSV);
    ws.write(
        "job.toml",
        r#"rules = "rules.toml"
outptu = "runs"

[sources.book]
kind = "csv"
path = "book.csv"
delimiter = ";;"
sheet = "Stock"
parallel = 2

[sources.book.columns]
sku = "SKU"
location = "Store"
qty = "Qty"

[sources.count]
kind = "spreadsheet"
path = "count.csv"

[sources.pos]
kind = "csv"
path = "missing/*.csv"
location = "S1"

[sources.pos.columns]
sku = "SKU"
location = "Store"
qty = "Qty"

[sources.extra]
kind = "csv"
path = "book.csv"

[sources.extra.columns]
sku = "SKU"
quantity = "Qty"

[[pairings]]
name = "p"
book = "book"
observed = ["pos", "nowhere"]

[sources.db]
kind = "odbc"
connection = "Driver={SQLite3};Database=stock.db"
table = "stock"
parallel = 0
"#,
    );
    ws.write(
        "rules.toml",
        r#"[normalize]
steps = [{ op = "trim" }, { op = "regex_replace", pattern = "([", replacement = "" }, { op = "shout" }]

[[rules]]
name = "a"
kind = "fuzzy"
severity = "low"
resolution = "ignore"

[[rules]]
name = "b"
kind = "absolute_qty"
severity = "low"
resolution = "ignore"

[[rules]]
name = "c"
kind = "always"
applies_to = ["duplicate_key"]
severity = "urgent"
resolution = "correct_book"
"#,
    );
    let job = ws.path("job.toml");
    let o = run(&["check", job.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    let err = o.stderr;
    let expected = [
        "job.toml:2: unknown key `outptu` in the job file",
        "job.toml:7: source `book`: delimiter must be one ASCII character",
        "job.toml:8: source `book`: `sheet` applies to excel sources only",
        "job.toml:17: source `count`: unknown variant `spreadsheet`",
        "job.toml:22: source `pos`: no file matches",
        "job.toml:23: source `pos`: a fixed `location` and a location column are both given",
        "job.toml:9: source `book`: `parallel` applies to odbc sources only",
        "job.toml:36: source `extra`: unknown field `quantity`",
        "job.toml:41: pairing `p`: `observed` names an unknown source \"nowhere\"",
        "job.toml:47: source `db`: parallel = 0 is out of range",
        "rules.toml:2: normalize step #2: invalid regex",
        "rules.toml:2: normalize step #3: unknown variant `shout`",
        "rules.toml:6: rule #1: unknown variant `fuzzy`",
        "rules.toml:12: rule `b`: this kind needs `max`",
        "rules.toml:20: rule #3: unknown variant `urgent`",
    ];
    for e in expected {
        assert!(err.contains(e), "missing {e:?} in:\n{err}");
    }
    assert!(err.contains("configuration errors"), "{err}");
    assert!(
        !err.contains("unknown source \"book\""),
        "an invalid source is still a declared one: {err}"
    );
}

#[test]
fn retail_rule_errors_are_listed_at_once() {
    let ws = Workspace::new();
    ws.write("book.csv", BOOK_CSV);
    ws.write(
        "job.toml",
        r#"rules = "rules.toml"

[sources.book]
kind = "csv"
path = "book.csv"
as_of = "2026-11-26 21:00"
columns = { sku = "SKU", location = "Store", qty = "Qty" }

[sources.codes]
kind = "csv"
path = "book.csv"
role = "cross_reference"
columns = { location = "Store", qty = "Qty" }

[sources.moves]
kind = "csv"
path = "book.csv"
role = "movements"
columns = { sku = "SKU", qty = "Qty" }

[sources.units]
kind = "csv"
path = "book.csv"
role = "conversions"
as_of = "2026-11-26T21:00:00Z"
columns = { item = "SKU", uom = "Store" }

[[pairings]]
name = "p"
book = "book"
observed = "codes"
"#,
    );
    ws.write(
        "rules.toml",
        r#"reasons = ["damage", "miscount"]

[match]
key = ["location", "item_key"]
chain = ["gtin", "exact", "normalized"]

[approval]
above = "-5"

[[rules]]
name = "a"
kind = "always"
applies_to = ["qty_mismatch"]
severity = "low"
resolution = "newer_wins"
value_band = { from = "100", below = "50" }

[[rules]]
name = "b"
kind = "always"
severity = "low"
resolution = "review"
reason = "shrinkage"
"#,
    );
    let job = ws.path("job.toml");
    let o = run(&["check", job.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    let err = o.stderr;
    let expected = [
        "job.toml:6: source `book`: as_of \"2026-11-26 21:00\" is not a time with an offset",
        "job.toml:12: source `codes`: a cross_reference source needs columns.item",
        "job.toml:12: source `codes`: columns.location does not apply to a cross_reference source",
        "job.toml:12: source `codes`: columns.qty does not apply to a cross_reference source",
        "job.toml:12: source `codes`: a cross_reference source needs the code: columns.sku or columns.gtin",
        "job.toml:18: source `moves`: a movements source needs columns.as_of",
        "job.toml:18: source `moves`: the movements have no location",
        "job.toml:24: source `units`: a conversions source needs columns.factor",
        "job.toml:24: source `units`: `as_of` does not apply to a conversions source",
        "job.toml:31: pairing `p`: `observed` names \"codes\", a cross_reference source, not a snapshot",
        "rules.toml:5: [match] chain must start with \"exact\", \"normalized\"",
        "rules.toml:8: [approval] `above` must be an amount ≥ 0",
        "rules.toml:19: rule `b`: reason \"shrinkage\" is not in the reasons list",
        "rules.toml:16: rule `a`: value_band is empty",
    ];
    for e in expected {
        assert!(err.contains(e), "missing {e:?} in:\n{err}");
    }
}

#[test]
fn check_reads_the_headers_of_each_input() {
    let ws = Workspace::csv_job(BOOK_CSV, "Item,Store,Quantity\nA1,S1,1\n");
    let o = run(&["check", ws.path("job.toml").to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains(r#"column "Counted" (mapped to qty) not found"#),
        "{}",
        o.stderr
    );
}

/// The job-file page's example is a job file tally accepts as written: no key in it is
/// unknown or misplaced (its paths name files this test does not have).
#[test]
fn the_job_file_docs_example_has_no_misplaced_key() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(REPO).join("docs/job-file.md")).unwrap();
    let section = readme.split("# The job file").nth(1).expect("the section");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a toml block");
    assert!(example.contains("state = "), "{example}");
    let ws = Workspace::new();
    ws.write("job.toml", example);
    let o = run(&["check", ws.path("job.toml").to_str().unwrap()]);
    assert_eq!(o.code, 2, "its files are missing here");
    for word in ["unknown", "unexpected"] {
        assert!(!o.stderr.contains(word), "{}", o.stderr);
    }
}

/// `tally check` reads the data as a run would: a cell the run would refuse (a text in a
/// quantity column) is reported, with file, line and column, every such cell at once.
#[test]
fn check_reports_the_cells_a_run_would_refuse() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\nB,S1,lots,1.00\nC,S1,3,cheap\n",
        "Item,Store,Counted\nA,S1,9\n",
    );
    let o = run(&["check", ws.path("job.toml").to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("book.csv:3: column \"Qty\"")
            && o.stderr.contains("book.csv:4: column \"Cost\""),
        "{}",
        o.stderr
    );
    let runs = ws.path("runs");
    assert!(!runs.exists(), "check writes nothing");
}
