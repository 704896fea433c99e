//! What a rule decides when its `applies_to` is left out.

use crate::common::*;

/// A tolerance (`absolute_qty max = 1`) decides quantity mismatches only: an item of
/// quantity 1 that one system lacks is not waved through as "within 1" unless the rule
/// names missing lines.
#[test]
fn a_tolerance_decides_missing_lines_only_when_named() {
    let book = "SKU,Store,Qty,Cost\nA,S1,10,1.00\nB,S1,1,1.00\n";
    let count = "Item,Store,Counted\nA,S1,9\nC,S1,1\n";
    let rules = |applies_to: &str| {
        format!(
            "[defaults]\nseverity = \"medium\"\nresolution = \"review\"\n\n[[rules]]\nname = \"within-one\"\n\
             kind = \"absolute_qty\"\nmax = \"1\"\n{applies_to}severity = \"info\"\nresolution = \"ignore\"\n"
        )
    };
    let decided = |applies_to: &str| {
        let ws = Workspace::csv_job(book, count);
        ws.write("rules.toml", rules(applies_to));
        let o = ws.run_job("job.toml");
        assert!(o.code == 0 || o.code == 1, "{}", o.stderr);
        let mut lines: Vec<(String, String, String)> = discrepancies(&ws.only_run_dir())
            .into_iter()
            .map(|l| (l["item_key"].clone(), l["kind"].clone(), l["rule"].clone()))
            .collect();
        lines.sort();
        lines
    };
    let by_default = decided("");
    assert_eq!(
        by_default,
        [
            ("A".into(), "qty_mismatch".into(), "within-one".into()),
            ("B".into(), "missing_in_observed".into(), "(default)".into()),
            ("C".into(), "missing_in_book".into(), "(default)".into()),
        ]
    );
    let named =
        decided("applies_to = [\"qty_mismatch\", \"missing_in_book\", \"missing_in_observed\"]\n");
    assert!(named.iter().all(|l| l.2 == "within-one"), "{named:?}");
}
