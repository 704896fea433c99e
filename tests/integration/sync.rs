//! Three-way sync: a baseline in the state folder, and what changed on which side since.

use std::collections::BTreeMap;

use crate::common::*;

const RULES: &str = r#"
[normalize]
steps = [{ op = "trim" }, { op = "uppercase" }]

[defaults]
severity = "medium"
resolution = "review"

[[rules]]
name = "follow-changes"
kind = "always"
applies_to = ["qty_mismatch"]
severity = "low"
resolution = "propagate"
"#;

/// Runs the job into a fresh `runs-N` folder with the workspace's state folder.
fn run_with_state(ws: &Workspace, n: u32) -> (Output, Vec<BTreeMap<String, String>>) {
    let (o, dir) = night(ws, n, &[]);
    (o, discrepancies(&dir))
}

/// The job run into `runs-N` with the workspace's state folder: output and run dir.
fn night(ws: &Workspace, n: u32, extra: &[&str]) -> (Output, std::path::PathBuf) {
    let (o, dir) = run_into(
        &ws.path("job.toml"),
        &ws.path(&format!("runs-{n}")),
        Some(&ws.path("state")),
        extra,
    );
    assert!(o.code == 0 || o.code == 1, "{}{}", o.stdout, o.stderr);
    (o, dir)
}

fn column(lines: &[BTreeMap<String, String>], name: &str) -> Vec<String> {
    lines.iter().map(|l| l[name].clone()).collect()
}

#[test]
fn changes_since_the_baseline_are_told_apart_and_conflicts_wait() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\nB,S1,5,1.00\nC,S1,7,1.00\nD,S1,3,1.00\n",
        "Item,Store,Counted\nA,S1,10\nB,S1,5\nC,S1,6\nD,S1,2\n",
    );
    ws.write("rules.toml", RULES);

    // First run: no baseline yet, so nothing can be told; the baseline is stored.
    let (_, first) = run_with_state(&ws, 1);
    assert_eq!(column(&first, "item_key"), ["C", "D"]);
    assert_eq!(column(&first, "change"), ["", ""]);
    assert_eq!(column(&first, "resolution"), ["review", "review"]);
    assert!(ws.path("state/baseline.parquet").exists());
    assert_eq!(
        baseline_info(&ws.path("state"))["rows"],
        8,
        "four items on each side"
    );

    // The same inputs again: the standing differences changed on neither side.
    let (_, second) = run_with_state(&ws, 2);
    assert_eq!(column(&second, "change"), ["none", "none"]);
    assert_eq!(column(&second, "resolution"), ["review", "review"]);

    // The book moves A, the count moves B, both move C; D stays as it was.
    ws.write(
        "book.csv",
        "SKU,Store,Qty,Cost\nA,S1,12,1.00\nB,S1,5,1.00\nC,S1,8,1.00\nD,S1,3,1.00\n",
    );
    ws.write(
        "count.csv",
        "Item,Store,Counted\nA,S1,10\nB,S1,4\nC,S1,5\nD,S1,2\n",
    );
    let (o, third) = run_with_state(&ws, 3);
    assert_eq!(column(&third, "item_key"), ["A", "B", "C", "D"]);
    assert_eq!(
        column(&third, "change"),
        ["book_only", "observed_only", "both", "none"]
    );
    // One-sided changes are propagated to the other side; the conflict and the
    // standing difference go to a person.
    assert_eq!(
        column(&third, "resolution"),
        ["correct_observed", "correct_book", "review", "review"]
    );
    assert_eq!(column(&third, "rule")[2], "(conflict)");
    assert_eq!(column(&third, "severity")[2], "high");
    assert_eq!(
        column(&third, "detail")[2],
        "changed on both sides since the baseline: book 7 → 8, observed 6 → 5"
    );
    assert_eq!(column(&third, "baseline_book_qty"), ["10", "5", "7", "3"]);
    assert_eq!(
        column(&third, "baseline_observed_qty"),
        ["10", "5", "6", "2"]
    );
    assert_eq!(o.code, 1, "the conflict needs a person");
}

/// A run of some locations moves the baseline on for those locations only: the others
/// keep theirs (before: a partial run never stored one, so it compared with an ever
/// older night).
#[test]
fn a_partial_run_moves_only_its_locations_baseline_on() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\nA,S2,4,1.00\n",
        "Item,Store,Counted\nA,S1,9\nA,S2,4\n",
    );
    ws.write("rules.toml", RULES);
    run_with_state(&ws, 1);
    ws.write("count.csv", "Item,Store,Counted\nA,S1,8\nA,S2,3\n");
    let (o, dir) = night(&ws, 2, &["--location", "S2"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let lines = discrepancies(&dir);
    assert_eq!(column(&lines, "change"), ["observed_only"]);
    assert_eq!(column(&lines, "resolution"), ["correct_book"]);
    let held = baseline_quantities(&ws.path("state"));
    assert_eq!(
        held,
        [
            ("S1".into(), "book".into(), "10".into()),
            ("S1".into(), "observed".into(), "9".into()),
            ("S2".into(), "book".into(), "4".into()),
            ("S2".into(), "observed".into(), "3".into()),
        ],
        "S2 moved on, S1 kept"
    );
    // The next whole run compares S2 with night 2 and S1 with night 1.
    let (_, dir) = night(&ws, 3, &[]);
    let lines = discrepancies(&dir);
    assert_eq!(column(&lines, "location"), ["S1", "S2"]);
    assert_eq!(column(&lines, "change"), ["observed_only", "none"]);
}

/// (location, side, qty) of every row of the baseline in a state folder, sorted.
fn baseline_quantities(state: &std::path::Path) -> Vec<(String, String, String)> {
    use polars::prelude::*;
    let file = std::fs::File::open(state.join("baseline.parquet")).unwrap();
    let f = ParquetReader::new(file).finish().unwrap();
    let text = |c: &str| -> Vec<String> {
        f.column(c)
            .unwrap()
            .cast(&DataType::String)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            // Exact decimals as written, trailing zeros left off.
            .map(|v| {
                let v = v.unwrap_or("");
                if v.contains('.') {
                    v.trim_end_matches('0').trim_end_matches('.').to_string()
                } else {
                    v.to_string()
                }
            })
            .collect()
    };
    let (l, s, q) = (text("location"), text("side"), text("qty"));
    let mut rows: Vec<(String, String, String)> = (0..f.height())
        .map(|i| (l[i].clone(), s[i].clone(), q[i].clone()))
        .collect();
    rows.sort();
    rows
}

/// The property on the sample: with the baseline in place, a second run over the same
/// inputs reports no one-sided change (and no conflict).
#[test]
fn the_sample_run_twice_reports_no_one_sided_change() {
    let ws = Workspace::new();
    let job = std::path::Path::new(REPO).join("sample-data/job.toml");
    let state = ws.path("state");
    for n in 1..=2 {
        let out = ws.path(&format!("runs-{n}"));
        let (o, dir) = run_into(&job, &out, Some(&state), &[]);
        assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
        let changes = column(&discrepancies(&dir), "change");
        if n == 1 {
            assert!(changes.iter().all(String::is_empty), "no baseline yet");
        } else {
            assert!(
                changes.iter().all(|c| c.is_empty() || c == "none"),
                "{changes:?}"
            );
            assert!(changes.iter().any(|c| c == "none"));
        }
    }
}

/// The job names its state folder (relative to the job file), as a nightly job would.
#[test]
fn the_job_names_its_state_folder() {
    // Night 1 both sides agree; night 2 the count alone moved: propagated.
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\n",
        "Item,Store,Counted\nA,S1,10\n",
    );
    ws.write("rules.toml", RULES);
    ws.write("job.toml", format!("state = \"nightly-state\"\n{CSV_JOB}"));
    let first = ws.run_job("job.toml");
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert!(ws.path("nightly-state/baseline.parquet").exists());
    ws.write("count.csv", "Item,Store,Counted\nA,S1,8\n");
    let (o, dir) = run_into(&ws.path("job.toml"), &ws.path("runs-2"), None, &[]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let lines = discrepancies(&dir);
    assert_eq!(column(&lines, "change"), ["observed_only"]);
    assert_eq!(column(&lines, "resolution"), ["correct_book"], "propagated");
}

/// From a baseline where the sides already disagreed, a one-sided change is not
/// propagated: which side was right then is not known, so a person decides.
#[test]
fn a_baseline_that_disagreed_is_not_propagated() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\n",
        "Item,Store,Counted\nA,S1,9\n",
    );
    ws.write("rules.toml", RULES);
    run_with_state(&ws, 1);
    ws.write("count.csv", "Item,Store,Counted\nA,S1,8\n");
    let (o, lines) = run_with_state(&ws, 2);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert_eq!(column(&lines, "change"), ["observed_only"]);
    assert_eq!(column(&lines, "resolution"), ["review"]);
}

/// Applying a run's corrections moves its baseline on: the corrected side holds the new
/// value, so a later change on the other side alone is one-sided, not a conflict. A
/// baseline a later run stored is left alone.
#[test]
fn applied_corrections_move_the_baseline_on() {
    let ws = Workspace::new();
    odbc_exec(
        &odbc_connect(
            &format!(
                "Driver={{SQLite3}};Database={}",
                ws.path("stock.db").display()
            ),
            SQLITE_HOW_TO_FIX,
        ),
        &[
            "CREATE TABLE stock (store TEXT, sku TEXT, qty NUMERIC, cost NUMERIC)",
            "INSERT INTO stock VALUES ('S1', 'A', 10, 1), ('S1', 'B', 5, 1)",
        ],
    );
    ws.write(
        "job.toml",
        r#"
rules = "rules.toml"

[sources.erp]
kind = "odbc"
connection = "Driver={SQLite3};Database=${JOB_DIR}/stock.db"
table = "stock"
write_back = { mode = "update", table = "stock" }
[sources.erp.columns]
location = "store"
sku = "sku"
qty = "qty"
unit_cost = "cost"

[sources.count]
kind = "csv"
path = "count.csv"
[sources.count.columns]
sku = "Item"
location = "Store"
qty = "Counted"

[[pairings]]
name = "p"
book = "erp"
observed = "count"
"#,
    );
    ws.write(
        "rules.toml",
        r#"
[defaults]
severity = "medium"
resolution = "review"

[[rules]]
name = "count-wins"
kind = "always"
applies_to = ["qty_mismatch"]
severity = "low"
resolution = "correct_book"
"#,
    );
    ws.write("count.csv", "Item,Store,Counted\nA,S1,8\nB,S1,5\n");
    let state = ws.path("state");

    // Night 1: the book says 10 A, the count 8; the count wins and is written back.
    let (o, first) = night(&ws, 1, &["--apply"]);
    assert!(
        o.stdout.contains("1 applied, 0 already applied, 0 stale"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("1 corrected value(s) recorded"),
        "{}",
        o.stdout
    );
    let info = baseline_info(&state);
    assert_eq!(info["run_id"], manifest(&first)["run_id"]);
    assert_eq!(info["applied"], 1);

    // Night 2: the ERP still holds the 8 written back; the store sold two since.
    ws.write("count.csv", "Item,Store,Counted\nA,S1,6\nB,S1,5\n");
    let (_, second) = night(&ws, 2, &[]);
    let lines = discrepancies(&second);
    assert_eq!(column(&lines, "item_key"), ["A"]);
    assert_eq!(
        column(&lines, "change"),
        ["observed_only"],
        "the book changed only by tally's own correction"
    );
    assert_eq!(column(&lines, "baseline_book_qty"), ["8"]);
    assert_eq!(column(&lines, "baseline_observed_qty"), ["8"]);

    // Applying night 1 again writes nothing and leaves night 2's baseline alone.
    let again = run(&["apply", first.to_str().unwrap()]);
    assert!(
        again.stdout.contains("0 applied, 1 already applied"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("is not this run's"),
        "{}",
        again.stdout
    );
    let info = baseline_info(&state);
    assert_eq!(info["run_id"], manifest(&second)["run_id"]);
    assert_eq!(info["applied"], 0);

    // Without a baseline there (the folder was cleared), nothing is made up.
    std::fs::remove_dir_all(&state).unwrap();
    let third = run(&["apply", first.to_str().unwrap()]);
    assert!(third.stdout.contains("no baseline in"), "{}", third.stdout);
    assert!(!state.join("baseline.parquet").exists());
}
