//! Policies over the rules' decisions: value bands and reasons, newer_wins, approval.

use rust_decimal::Decimal;

use super::*;
use crate::discrepancy::Severity;
use crate::matching::reconcile;
use crate::rules::{Condition, Decision, Rule};
use crate::testing::{snapshot, text};

fn policy(name: &str, resolution: Resolution, band: (Option<i64>, Option<i64>)) -> Rule {
    Rule {
        name: name.into(),
        condition: Condition::always(),
        reason: Some("miscount".into()),
        value_from: band.0.map(Decimal::from),
        value_below: band.1.map(Decimal::from),
        applies_to: vec![Kind::QtyMismatch],
        locations: vec![],
        categories: vec![],
        decision: Decision {
            severity: Severity::Low,
            resolution,
        },
    }
}

fn decided(rules: Vec<Rule>, approval_above: Option<i64>, times: [&str; 2]) -> DataFrame {
    let rs = RuleSet {
        reasons: vec!["miscount".into()],
        approval_above: approval_above.map(Decimal::from),
        chain: vec![],
        rules,
        ..crate::testing::rule_set()
    };
    let stamp = |mut f: DataFrame, t: &str| {
        let n = f.height();
        f.with_column(Column::new(
            crate::prepare::ROW_AS_OF.into(),
            vec![Some(t); n],
        ))
        .unwrap();
        f
    };
    // Differences of 1 × 10.00 (A), 30 × 10.00 (B) and 100 × 10.00 (C).
    let book = snapshot(
        "erp",
        &[
            ("S1", "A", "10", Some("10.0000")),
            ("S1", "B", "50", Some("10.0000")),
            ("S1", "C", "200", Some("10.0000")),
        ],
    );
    let observed = snapshot(
        "pos",
        &[
            ("S1", "A", "9", Some("10.0000")),
            ("S1", "B", "20", Some("10.0000")),
            ("S1", "C", "100", Some("10.0000")),
        ],
    );
    let m = reconcile(stamp(book, times[0]), stamp(observed, times[1])).unwrap();
    finish(decide(lines(&m, "p", None).unwrap(), &rs).unwrap()).unwrap()
}

#[test]
fn value_bands_scope_policies_and_reasons_are_recorded() {
    let lines = decided(
        vec![
            policy("small", Resolution::CorrectBook, (None, Some(50))),
            policy("middle", Resolution::Recount, (Some(50), Some(500))),
        ],
        None,
        ["2026-11-26T04:00:00Z", "2026-11-26T01:00:00Z"],
    );
    assert_eq!(text(&lines, "rule"), ["small", "middle", "(default)"]);
    assert_eq!(
        text(&lines, "resolution"),
        ["correct_book", "recount", "review"]
    );
    assert_eq!(text(&lines, "reason"), ["miscount", "miscount", ""]);
}

#[test]
fn newer_wins_corrects_the_older_side() {
    let rules = || vec![policy("newer", Resolution::NewerWins, (None, None))];
    let book_newer = decided(
        rules(),
        None,
        ["2026-11-26T04:00:00Z", "2026-11-26T01:00:00Z"],
    );
    assert_eq!(text(&book_newer, "resolution"), ["correct_observed"; 3]);
    let observed_newer = decided(
        rules(),
        None,
        ["2026-11-26T01:00:00Z", "2026-11-26T04:00:00Z"],
    );
    assert_eq!(text(&observed_newer, "resolution"), ["correct_book"; 3]);
    let same = decided(rules(), None, ["2026-11-26T01:00:00Z"; 2]);
    assert_eq!(text(&same, "resolution"), ["review"; 3]);
}

#[test]
fn corrections_above_the_threshold_wait_for_approval() {
    let lines = decided(
        vec![policy("fix", Resolution::CorrectBook, (None, None))],
        Some(300),
        ["2026-11-26T01:00:00Z"; 2],
    );
    // −10.00 and −300.00 are within 300; −1000.00 is above it.
    assert_eq!(text(&lines, "approval"), ["", "", "required"]);
    let needing: Vec<bool> = lines
        .clone()
        .lazy()
        .select([needs_person()])
        .collect()
        .unwrap()
        .column("approval")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .map(|b| b.unwrap_or(false))
        .collect();
    assert_eq!(needing, [false, false, true]);
    let corrections = crate::resolve::corrections(&lines).unwrap();
    assert_eq!(text(&corrections, "item_key"), ["A", "B"], "C waits");
}
