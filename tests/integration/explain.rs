//! `tally explain`: one item's story on the sample.

use std::path::Path;

use crate::common::*;

fn explain(location: &str, sku: &str, state: Option<&Path>) -> Output {
    let job = Path::new(REPO).join("sample-data/job.toml");
    let mut args = vec![
        "explain",
        job.to_str().unwrap(),
        "--location",
        location,
        "--sku",
        sku,
    ];
    if let Some(s) = state {
        args.extend(["--state", s.to_str().unwrap()]);
    }
    run(&args)
}

fn assert_tells(o: &Output, parts: &[&str]) {
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    for p in parts {
        assert!(o.stdout.contains(p), "{p:?} missing from:\n{}", o.stdout);
    }
}

#[test]
fn a_case_barcode_story() {
    // Asked by the POS's own id: the story is the ERP item's.
    let o = explain("DEN-05", "210000000001", None);
    assert_tells(
        &o,
        &[
            "item 00010001 at DEN-05, pairing erp-vs-stores",
            "book: erp query:",
            "observed: lightspeed",
            "cherry-creek.csv:2",
            "raw: sku \"210000000001\", qty 2",
            "gtin 10850001000014",
            "match chain: alias → item 00010001 in Case",
            "unit: 2 Case × 12 = 24 in the base unit",
            "discrepancy: qty_mismatch, matched by alias",
            "book 26, observed 24, Δ qty -2, Δ value -12.5000",
            "rule small-variance → correct book (low)",
        ],
    );
}

#[test]
fn sku_steps_and_movements_are_told() {
    let o = explain("BOS-01", " nw-00010001", None);
    assert_tells(
        &o,
        &[
            "sku steps: \" nw-00010001\" → trim → \"nw-00010001\" → uppercase → \"NW-00010001\" → strip_prefix \"NW-\" → \"00010001\"",
            "no line: the sides agree",
        ],
    );
    let o = explain("DEN-05", "00030110", None);
    assert_tells(
        &o,
        &[
            "match chain: alias → item 00030110 (",
            "system-ids.csv:4)",
            "movements after its as-of time: net -1 → compared as 7",
            "2026-11-25T22:00:00-05:00 Sales Invoice -1",
            "book 5, observed 7, Δ qty 2",
        ],
    );
}

#[test]
fn a_conflict_shows_the_baseline() {
    let ws = Workspace::new();
    let state = ws.sample_baseline();
    let o = explain("DEN-05", "00030004", Some(&state));
    assert_tells(
        &o,
        &[
            "since the baseline: both (then book 12, observed 12)",
            "rule (conflict) → review (high)",
            "changed on both sides since the baseline: book 12 → 14, observed 12 → 11",
        ],
    );
    // Explaining writes nothing, not even the baseline.
    assert_eq!(
        std::fs::read(ws.path("state/baseline.parquet")).unwrap(),
        std::fs::read(Path::new(REPO).join("sample-data/baseline-2026-11-24/baseline.parquet"))
            .unwrap()
    );
}

#[test]
fn an_unknown_item_is_an_error() {
    let o = explain("DEN-05", "NO-SUCH-SKU", None);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr
            .contains("no row of any source names \"NO-SUCH-SKU\""),
        "{}",
        o.stderr
    );
}

/// `tally explain RUN_DIR --line N`: the line as the run recorded it (with the change
/// since the baseline it compared with), then its item's story; a file changed since the
/// run is said; a line the run lacks is an error.
#[test]
fn a_line_of_a_run_is_explained() {
    let ws = Workspace::new();
    ws.copy_repo_dir("sample-data");
    ws.copy_repo_dir("rules");
    let state = ws.path("sample-data/baseline-2026-11-24");
    let (o, run_dir) = run_into(
        &ws.path("sample-data/job.toml"),
        &ws.path("runs"),
        Some(&state),
        &[],
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    let lines = discrepancies(&run_dir);
    let line_of = |kind: &str, location: &str| {
        lines
            .iter()
            .find(|l| l["kind"] == kind && l["location"] == location)
            .unwrap_or_else(|| panic!("a {kind} line at {location}"))["line"]
            .clone()
    };
    let explain = |line: &str| run(&["explain", run_dir.to_str().unwrap(), "--line", line]);

    let conflict = lines
        .iter()
        .find(|l| l["rule"] == "(conflict)" && l["location"] == "DEN-05")
        .expect("the sample's conflict at DEN-05")["line"]
        .clone();
    let o = explain(&conflict);
    assert_tells(
        &o,
        &[
            &format!("line {conflict} of run "),
            "qty_mismatch of item 00030004 at DEN-05",
            "as recorded: rule (conflict) → review (high), changed since the baseline: both",
            "book 12 → 14, observed 12 → 11",
            "compares with no baseline",
            "match chain: alias → item 00030004",
        ],
    );
    assert!(!o.stdout.contains("changed since the run"), "{}", o.stdout);

    let invalid = line_of("invalid_row", "NYC-02");
    assert_tells(
        &explain(&invalid),
        &["invalid_row at NYC-02 (", "soho.csv:6)", "the SKU is empty"],
    );

    // A count file edited after the run: the story reads it as it is now, and says so.
    let count = ws.path("sample-data/lightspeed/cherry-creek.csv");
    let mut text = std::fs::read_to_string(&count).unwrap();
    text.push('\n');
    std::fs::write(&count, text).unwrap();
    assert_tells(
        &explain(&conflict),
        &["cherry-creek.csv changed since the run (SHA-256 differs)"],
    );

    let missing = explain("9999");
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("the run has no line 9999"),
        "{}",
        missing.stderr
    );
}
