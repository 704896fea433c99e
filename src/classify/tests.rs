//! Lines and rules: kinds, deltas and the first rule that matches.

use rust_decimal::Decimal;

use super::*;
use crate::discrepancy::Severity;
use crate::matching::reconcile;
use crate::rules::{Condition, Decision, Rule, RuleKind};
use crate::testing::{snapshot, text};

fn rule(
    name: &str,
    condition: Condition,
    kinds: &[Kind],
    locations: &[&str],
    resolution: Resolution,
) -> Rule {
    Rule {
        name: name.into(),
        condition,
        reason: None,
        value_from: None,
        value_below: None,
        applies_to: kinds.to_vec(),
        locations: locations.iter().map(|s| s.to_string()).collect(),
        categories: vec![],
        decision: Decision {
            severity: Severity::Low,
            resolution,
        },
    }
}

fn rules(rules: Vec<Rule>) -> RuleSet {
    RuleSet {
        rules,
        ..crate::testing::rule_set()
    }
}

fn classify(book: DataFrame, observed: DataFrame, rules: &RuleSet) -> DataFrame {
    let m = reconcile(book, observed).unwrap();
    finish(decide(lines(&m, "p", None).unwrap(), rules).unwrap()).unwrap()
}

const BOOK: &[crate::testing::Row] = &[
    ("S1", "A", "10", Some("2.5000")),
    ("S1", "B", "4", Some("1.0000")),
    ("S1", "C", "7.5", None),
    ("S2", "A", "3", Some("2.5000")),
];
const OBSERVED: &[crate::testing::Row] = &[
    ("S1", "A", "9.8", Some("2.5000")),
    ("S1", "B", "4", Some("1.2500")),
    ("S1", "D", "1", Some("9.0000")),
    ("S2", "A", "3", Some("2.5000")),
];

#[test]
fn a_snapshot_against_itself_yields_nothing() {
    let lines = classify(snapshot("a", BOOK), snapshot("b", BOOK), &rules(vec![]));
    assert_eq!(lines.height(), 0);
}

#[test]
fn kinds_and_exact_deltas() {
    let lines = classify(
        snapshot("erp", BOOK),
        snapshot("pos", OBSERVED),
        &rules(vec![]),
    );
    assert_eq!(
        text(&lines, "kind"),
        [
            "qty_mismatch",
            "cost_mismatch",
            "missing_in_observed",
            "missing_in_book"
        ]
    );
    assert_eq!(text(&lines, "item_key"), ["A", "B", "C", "D"]);
    assert_eq!(text(&lines, "qty_delta"), ["-0.2", "", "-7.5", "1"]);
    assert_eq!(text(&lines, "cost_delta"), ["", "0.2500", "", ""]);
    // −0.2 × 2.5; 0.25 × 4 units; C has no cost; D at the observed cost.
    assert_eq!(
        text(&lines, "value_delta"),
        ["-0.5000", "1.0000", "", "9.0000"]
    );
    assert_eq!(text(&lines, "line"), ["1", "2", "3", "4"]);
    assert!(text(&lines, "rule").iter().all(|r| r == DEFAULT_RULE));
}

#[test]
fn swapping_the_sides_mirrors_every_sign() {
    let rs = rules(vec![]);
    let ab = classify(snapshot("erp", BOOK), snapshot("pos", OBSERVED), &rs);
    let ba = classify(snapshot("pos", OBSERVED), snapshot("erp", BOOK), &rs);
    let negate = |v: &String| match v.strip_prefix('-') {
        Some(p) => p.to_string(),
        None if v.is_empty() => String::new(),
        None => format!("-{v}"),
    };
    for col in ["qty_delta", "cost_delta", "value_delta"] {
        let flipped: Vec<String> = text(&ab, col).iter().map(negate).collect();
        assert_eq!(flipped, text(&ba, col), "{col}");
    }
    let mirrored: Vec<String> = text(&ab, "kind")
        .into_iter()
        .map(|k| match k.as_str() {
            "missing_in_book" => "missing_in_observed".to_string(),
            "missing_in_observed" => "missing_in_book".to_string(),
            _ => k,
        })
        .collect();
    assert_eq!(mirrored, text(&ba, "kind"));
}

#[test]
fn the_first_matching_rule_decides() {
    let rs = rules(vec![
        rule(
            "s2-only",
            Condition::always(),
            &Kind::ALL,
            &["S2"],
            Resolution::Recount,
        ),
        // 0.2 of 10 is exactly 2 %: inclusive.
        rule(
            "two-percent",
            Condition::new(RuleKind::PercentOfBook, Some(Decimal::new(2, 0))).expect("takes a max"),
            &[Kind::QtyMismatch],
            &[],
            Resolution::Ignore,
        ),
        rule(
            "tiny",
            Condition::new(RuleKind::AbsoluteQty, Some(Decimal::new(5, 1))).expect("takes a max"),
            &[Kind::QtyMismatch],
            &[],
            Resolution::CorrectBook,
        ),
        rule(
            "cheap",
            Condition::new(RuleKind::ValueAtCost, Some(Decimal::new(10, 0))).expect("takes a max"),
            &[Kind::MissingInBook, Kind::MissingInObserved],
            &[],
            Resolution::CorrectObserved,
        ),
        rule(
            "cost",
            Condition::new(RuleKind::UnitCost, Some(Decimal::new(1, 1))).expect("takes a max"),
            &[Kind::CostMismatch],
            &[],
            Resolution::Ignore,
        ),
    ]);
    let lines = classify(snapshot("erp", BOOK), snapshot("pos", OBSERVED), &rs);
    // A: two-percent before tiny. B: 0.25 cost delta > 0.1: default. C: no cost, so
    // no value: default. D: 9.00 ≤ 10: cheap.
    assert_eq!(
        text(&lines, "rule"),
        ["two-percent", "(default)", "(default)", "cheap"]
    );
    assert_eq!(
        text(&lines, "resolution"),
        ["ignore", "review", "review", "correct_observed"]
    );

    let s2 = snapshot("pos", &[("S2", "A", "1", Some("2.5000"))]);
    let lines = classify(snapshot("erp", &BOOK[3..]), s2, &rs);
    assert_eq!(text(&lines, "rule"), ["s2-only"]);
}
