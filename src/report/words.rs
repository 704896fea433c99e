//! The engine's codes in a store manager's words: kinds, decisions and rules as phrases
//! ("counted 3 fewer than the book says"), and for each finding what to fix. The codes
//! stay on the page in a tooltip and in the CSV; a job's own templates may word it
//! differently (templates/ in the job's template folder).

use std::collections::BTreeMap;

use crate::discrepancy::{Kind, Resolution};
use crate::rules::{DEFAULT_RULE, RuleKind, RuleSet};

/// A line's kind as a phrase; a quantity difference says by how much and which way.
pub fn kind_phrase(kind: &str, qty_delta: &str) -> String {
    let by = qty_delta.trim_start_matches('-');
    let fewer = qty_delta.starts_with('-');
    match kind_of(kind) {
        Some(Kind::QtyMismatch) if fewer => format!("counted {by} fewer than the book says"),
        Some(Kind::QtyMismatch) => format!("counted {by} more than the book says"),
        Some(Kind::MissingInObserved) => "in the book, but not in the count".into(),
        Some(Kind::MissingInBook) => "counted, but the book does not list it".into(),
        Some(Kind::CostMismatch) => "the systems disagree on the unit cost".into(),
        Some(Kind::DuplicateKey) => "listed more than once in one export".into(),
        Some(Kind::NegativeQty) => "a negative quantity on hand".into(),
        Some(Kind::InvalidRow) => "a row that could not be read".into(),
        Some(Kind::InvalidGtin) => "a barcode that is not a valid barcode".into(),
        Some(Kind::UnknownUnit) => "counted in a unit that does not convert".into(),
        Some(Kind::Explained) => "explained by what moved after the count".into(),
        None => kind.replace('_', " "),
    }
}

/// A kind's name in a summary table (no figures).
pub fn kind_title(kind: &str) -> String {
    match kind_of(kind) {
        Some(Kind::QtyMismatch) => "count differs from the book".into(),
        Some(k) => kind_phrase(k.as_str(), ""),
        None => kind.replace('_', " "),
    }
}

/// For a finding: what someone has to do before the item can be compared.
pub fn what_to_fix(kind: &str, source: &str, detail: &str) -> String {
    let source = if source.is_empty() {
        "the export"
    } else {
        source
    };
    let advice = match kind_of(kind) {
        Some(Kind::DuplicateKey) => format!("keep one row per item and location in {source}"),
        Some(Kind::NegativeQty) => {
            format!("post the missing receipt or transfer in {source}, or count the item")
        }
        Some(Kind::InvalidRow) => format!("correct the row in {source}"),
        Some(Kind::InvalidGtin) => format!("correct the barcode in {source}"),
        Some(Kind::UnknownUnit) => {
            "add the unit's conversion for this item in the ERP (UOM conversions)".into()
        }
        _ => return detail.to_string(),
    };
    if detail.is_empty() {
        advice
    } else {
        format!("{advice}: {detail}")
    }
}

/// What happens to a line, in words.
pub fn decision(resolution: &str) -> &'static str {
    match Resolution::ALL.iter().find(|r| r.as_str() == resolution) {
        Some(Resolution::Ignore) => "nothing to do",
        Some(Resolution::CorrectBook) => "the book takes the count",
        Some(Resolution::CorrectObserved) => "the store system takes the book's figure",
        Some(Resolution::NewerWins) => "the later figure wins",
        Some(Resolution::Propagate) => "the change is carried to the other system",
        Some(Resolution::Recount) => "count it again",
        Some(Resolution::Review) => "a person decides",
        None => "",
    }
}

fn kind_of(kind: &str) -> Option<Kind> {
    Kind::ALL.iter().copied().find(|k| k.as_str() == kind)
}

/// Each rule's name → what it says, from the rules file ("a difference of at most 2
/// units"), and the engine's own decisions.
pub fn rule_phrases(rules: &RuleSet) -> BTreeMap<String, String> {
    let money = |d: rust_decimal::Decimal| d.normalize().to_string();
    let mut out = BTreeMap::new();
    for rule in &rules.rules {
        let max = rule.condition.threshold().map(money).unwrap_or_default();
        let mut phrase = match rule.condition.kind() {
            RuleKind::AbsoluteQty if max == "0" => "no difference at all".to_string(),
            RuleKind::AbsoluteQty if max == "1" => "a difference of at most 1 unit".to_string(),
            RuleKind::AbsoluteQty => format!("a difference of at most {max} units"),
            RuleKind::PercentOfBook => format!("within {max} % of the book"),
            RuleKind::ValueAtCost => format!("worth at most {max} at cost"),
            RuleKind::UnitCost => format!("unit costs within {max} of each other"),
            RuleKind::Always => "the rule for such lines".to_string(),
        };
        if let Some(from) = rule.value_from {
            phrase.push_str(&format!(", worth {} or more", money(from)));
        }
        if let Some(below) = rule.value_below {
            phrase.push_str(&format!(", worth less than {}", money(below)));
        }
        if !rule.categories.is_empty() {
            phrase.push_str(&format!(", in {}", rule.categories.join(", ")));
        }
        out.insert(rule.name.clone(), phrase);
    }
    out.insert(DEFAULT_RULE.into(), "no rule matched: the defaults".into());
    out.insert(
        crate::sync::CONFLICT_RULE.into(),
        "changed in both systems since the last run".into(),
    );
    out.insert(
        crate::classify::EXPLAINED_RULE.into(),
        "the movements after the count explain it".into(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_as_phrases() {
        assert_eq!(
            kind_phrase("qty_mismatch", "-3"),
            "counted 3 fewer than the book says"
        );
        assert_eq!(
            kind_phrase("qty_mismatch", "2.5"),
            "counted 2.5 more than the book says"
        );
        assert_eq!(kind_title("qty_mismatch"), "count differs from the book");
        assert_eq!(
            kind_title("missing_in_observed"),
            "in the book, but not in the count"
        );
        assert_eq!(decision("correct_book"), "the book takes the count");
        assert!(what_to_fix("duplicate_key", "shopify", "").contains("shopify"));
        assert_eq!(what_to_fix("qty_mismatch", "", "x"), "x");
    }
}
