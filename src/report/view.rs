//! A discrepancy line as a page shows it: every figure as text at its declared
//! precision, the kind, decision and rule in words (words.rs), and for a correction which
//! system changes from what to what.

use std::collections::BTreeMap;

use anyhow::Result;
use minijinja::Value;
use polars::prelude::*;
use serde::Serialize;

use super::words;
use crate::discrepancy::{Resolution, Side};
use crate::precision::Precision;
use crate::schema::line;

/// Declares the view's fields once: the struct, and the lookup templates use.
macro_rules! line_view {
    ($($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)?) => {
        #[derive(Serialize, Clone, Debug, Default)]
        pub struct LineView {
            $($(#[$doc])* pub $field: $ty,)*
        }

        /// Pages hand lines to the template as objects that give a field when asked,
        /// instead of serialising every field of every line into a map first
        /// (measured: the conversion cost more than rendering).
        impl minijinja::value::Object for LineView {
            fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
                Some(match key.as_str()? {
                    $(stringify!($field) => Value::from(self.$field.clone()),)*
                    _ => return None,
                })
            }
        }
    };
}

line_view! {
    line: String,
    pairing: String,
    kind: String,
    side: String,
    location: String,
    item_key: String,
    book_sku: String,
    observed_sku: String,
    description: String,
    category: String,
    /// The barcode and the bin, as either system states them.
    gtin: String,
    bin: String,
    book_qty: String,
    observed_qty: String,
    qty_delta: String,
    unit_cost: String,
    book_unit_cost: String,
    observed_unit_cost: String,
    value_delta: String,
    rule: String,
    severity: String,
    resolution: String,
    needs_person: bool,
    /// The resolution as the engine names it, spaced ("correct book").
    decision: String,
    qty_neg: bool,
    value_neg: bool,
    detail: String,
    book_ref: String,
    observed_ref: String,
    /// How the pair came together (exact, normalized, alias, gtin).
    match_step: String,
    /// How a side's compared quantity came from what it stated ("2 Case × 12",
    /// "−1 moved after 2026-11-26T01:00:00Z").
    book_note: String,
    observed_note: String,
    reason: String,
    approval: String,
    /// Sync: which side changed since the baseline, and the baseline's quantities.
    change: String,
    baseline_book_qty: String,
    baseline_observed_qty: String,
    /// On a recount's line: the run and line that asked for it (`<run id>#<line>`).
    recount_of: String,
    /// The kind as a phrase ("counted 3 fewer than the book says").
    says: String,
    /// The decision in words ("the book takes the count").
    decision_words: String,
    /// The rule in words ("a difference of at most 2 units"); its name is `rule`.
    rule_words: String,
    /// For a finding: what to fix.
    fix: String,
    /// For a correction: the system that changes, from what to what.
    target: String,
    old_value: String,
    new_value: String,
}

/// The columns a line view reads, as text (decimals as `precision` shows them); columns
/// that are null throughout (units and movements on most runs) are left out and read as
/// empty.
fn text_columns(frame: &DataFrame, precision: &Precision) -> Result<BTreeMap<String, Vec<String>>> {
    let viewed: Vec<_> = frame
        .columns()
        .iter()
        .filter(|c| !NOT_VIEWED.contains(&c.name().as_str()) && c.null_count() < c.len())
        .map(|c| c.name().clone())
        .collect();
    let frame = precision.for_people(&frame.select(viewed)?)?;
    let mut out = BTreeMap::new();
    for c in frame.columns() {
        if c.null_count() == c.len() {
            continue;
        }
        let s = c.as_materialized_series().cast(&DataType::String)?;
        let values = s
            .str()?
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect();
        out.insert(c.name().to_string(), values);
    }
    Ok(out)
}

/// Line columns no line view shows: not cast to text.
const NOT_VIEWED: [&str; 1] = [line::COST_DELTA];

/// The lines of `frame` as views; `rules` gives each rule's words (the rules file's
/// rules, words::rule_phrases), else the rule's name stands for itself.
pub fn line_views(
    frame: &DataFrame,
    precision: &Precision,
    rules: Option<&BTreeMap<String, String>>,
) -> Result<Vec<LineView>> {
    let cols = text_columns(frame, precision)?;
    let needs = |r: &str| {
        Resolution::ALL
            .iter()
            .any(|x| x.as_str() == r && x.needs_person())
    };
    Ok((0..frame.height())
        .map(|i| {
            let get = |name: &str| cols.get(name).map(|c| c[i].clone()).unwrap_or_default();
            // "shopify back-bay.csv:5": the source, the file and the line (or sheet row).
            let reference = |side: &str| {
                let source = get(&format!("{side}_source"));
                if source.is_empty() {
                    return String::new();
                }
                let file = get(&format!("{side}_file"));
                let name = std::path::Path::new(&file)
                    .file_name()
                    .map_or(file.clone(), |n| n.to_string_lossy().into());
                format!("{source} {name}:{}", get(&format!("{side}_row")))
            };
            let note = |side: &str| {
                let mut parts = Vec::new();
                let factor = get(&format!("{side}_factor"));
                let factor = factor.trim_end_matches('0').trim_end_matches('.');
                if !factor.is_empty() && factor != "1" {
                    parts.push(format!(
                        "{} {} × {factor}",
                        get(&format!("{side}_stated_qty")),
                        get(&format!("{side}_uom"))
                    ));
                }
                let moved = get(&format!("{side}_moved"));
                if !moved.is_empty() {
                    let sign = if moved.starts_with('-') { "" } else { "+" };
                    parts.push(format!(
                        "{sign}{moved} moved after {}",
                        get(&format!("{side}_as_of"))
                    ));
                }
                parts.join("; ")
            };
            let kind = get(line::KIND);
            let resolution = get(line::RESOLUTION);
            let rule = get(line::RULE);
            let cost = kind == crate::discrepancy::Kind::CostMismatch.as_str();
            let (target, old_value, new_value) = match resolution.as_str() {
                r if r == Resolution::CorrectBook.as_str() => {
                    let (old, new) = if cost {
                        (get(line::BOOK_UNIT_COST), get(line::OBSERVED_UNIT_COST))
                    } else {
                        (get(line::BOOK_QTY), get(line::OBSERVED_QTY))
                    };
                    (Side::Book.as_str().to_string(), old, new)
                }
                r if r == Resolution::CorrectObserved.as_str() => {
                    let (old, new) = if cost {
                        (get(line::OBSERVED_UNIT_COST), get(line::BOOK_UNIT_COST))
                    } else {
                        (get(line::OBSERVED_QTY), get(line::BOOK_QTY))
                    };
                    (Side::Observed.as_str().to_string(), old, new)
                }
                _ => Default::default(),
            };
            // A side without the item holds 0 of it.
            let zero = |v: String| {
                if v.is_empty() && !target.is_empty() && !cost {
                    "0".to_string()
                } else {
                    v
                }
            };
            let source = get(&format!(
                "{}_source",
                if get(line::SIDE) == "observed" {
                    "observed"
                } else {
                    "book"
                }
            ));
            LineView {
                line: get(line::LINE),
                pairing: get(line::PAIRING),
                side: get(line::SIDE),
                location: get(line::LOCATION),
                item_key: get(line::ITEM_KEY),
                book_sku: get(line::BOOK_SKU),
                observed_sku: get(line::OBSERVED_SKU),
                description: get(line::DESCRIPTION),
                category: get(line::CATEGORY),
                gtin: get(line::GTIN),
                bin: get(line::BIN),
                book_qty: get(line::BOOK_QTY),
                observed_qty: get(line::OBSERVED_QTY),
                qty_delta: get(line::QTY_DELTA),
                unit_cost: get(line::UNIT_COST),
                book_unit_cost: get(line::BOOK_UNIT_COST),
                observed_unit_cost: get(line::OBSERVED_UNIT_COST),
                value_delta: get(line::VALUE_DELTA),
                severity: get(line::SEVERITY),
                needs_person: needs(&resolution) || !get(line::APPROVAL).is_empty(),
                decision: resolution.replace('_', " "),
                qty_neg: get(line::QTY_DELTA).starts_with('-'),
                value_neg: get(line::VALUE_DELTA).starts_with('-'),
                detail: get(line::DETAIL),
                book_ref: reference("book"),
                observed_ref: reference("observed"),
                match_step: get(line::MATCH_STEP),
                book_note: note("book"),
                observed_note: note("observed"),
                reason: get(line::REASON).replace('_', " "),
                approval: get(line::APPROVAL),
                change: get(line::CHANGE),
                baseline_book_qty: get(line::BASELINE_BOOK_QTY),
                baseline_observed_qty: get(line::BASELINE_OBSERVED_QTY),
                recount_of: get(line::RECOUNT_OF),
                says: words::kind_phrase(&kind, &get(line::QTY_DELTA)),
                decision_words: words::decision(&resolution).to_string(),
                rule_words: rules
                    .and_then(|r| r.get(&rule))
                    .cloned()
                    .unwrap_or_else(|| rule.clone()),
                fix: if crate::discrepancy::Kind::ALL
                    .iter()
                    .any(|k| k.as_str() == kind && k.is_row_finding())
                {
                    words::what_to_fix(&kind, &source, &get(line::DETAIL))
                } else {
                    String::new()
                },
                old_value: zero(old_value),
                new_value: zero(new_value),
                target,
                kind,
                resolution,
                rule,
            }
        })
        .collect())
}
