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
            "raw: sku \"210000000001\", qty 2.000",
            "gtin 10850001000014",
            "match chain: alias → item 00010001 in Case",
            "unit: 2.000 Case × 12.000000 = 24.000 in the base unit",
            "discrepancy: qty_mismatch, matched by alias",
            "book 26.000, observed 24.000, Δ qty -2.000, Δ value -12.5000",
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
            "movements after its as-of time: net -1.000 → compared as 7.000",
            "2026-11-25T22:00:00-05:00 Sales Invoice -1.000",
            "book 5.000, observed 7.000, Δ qty 2.000",
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
            "since the baseline: both (then book 12.000, observed 12.000)",
            "rule (conflict) → review (high)",
            "changed on both sides since the baseline: book 12.000 → 14.000, observed 12.000 → 11.000",
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
