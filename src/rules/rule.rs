//! One `[[rules]]` entry: its kind and threshold (`condition.rs`), its scope (the kinds,
//! locations, categories and value band it decides) and its decision.

use rust_decimal::Decimal;
use toml::Spanned;

use super::condition::Condition;
use super::raw::{RawNumber, RawRule};
use crate::diag::Diagnostics;
use crate::discrepancy::{Kind, Resolution, Severity};

/// What a rule decides for a line.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub severity: Severity,
    pub resolution: Resolution,
}

/// A compiled rule: the first one whose scope and condition hold decides a line.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub condition: Condition,
    pub reason: Option<String>,
    /// from ≤ |value_delta| < below.
    pub value_from: Option<Decimal>,
    pub value_below: Option<Decimal>,
    pub applies_to: Vec<Kind>,
    pub locations: Vec<String>,
    pub categories: Vec<String>,
    pub decision: Decision,
}

/// One `[[rules]]` entry, every problem with it reported.
pub(super) fn compile(raw: RawRule, diags: &mut Diagnostics) -> Option<Rule> {
    let RawRule {
        name,
        kind,
        max,
        applies_to,
        locations,
        categories,
        severity,
        resolution,
        reason,
        value_band,
    } = raw;
    let before = diags.items.len();
    let ctx = format!("rule `{}`", name.get_ref());

    let threshold = |diags: &mut Diagnostics| -> Option<Decimal> {
        let Some(max) = &max else {
            diags.hint(
                kind.span(),
                format!("{ctx}: this kind needs `max`"),
                "e.g. max = \"2\"",
            );
            return None;
        };
        match max.get_ref().decimal() {
            Some(d) if d >= Decimal::ZERO => Some(d),
            _ => {
                diags.hint(
                    max.span(),
                    format!("{ctx}: `max` must be a number ≥ 0"),
                    "e.g. max = \"2.5\"",
                );
                None
            }
        }
    };
    let rule_kind = *kind.get_ref();
    let limit = if rule_kind.takes_max() {
        Some(threshold(diags)?)
    } else {
        if let Some(m) = &max {
            diags.hint(
                m.span(),
                format!("{ctx}: `{}` takes no `max`", rule_kind.as_str()),
                "remove it",
            );
        }
        None
    };
    let condition = Condition::new(rule_kind, limit)?;

    let applies_to = match applies_to {
        Some(kinds) => {
            for k in kinds.get_ref() {
                if !rule_kind.can_apply_to(*k) {
                    diags.hint(
                        kinds.span(),
                        format!(
                            "{ctx}: a {} rule cannot decide {} lines",
                            condition.name(),
                            k.as_str()
                        ),
                        rule_kind.applies_hint(),
                    );
                }
            }
            kinds.into_inner()
        }
        None => Kind::ALL
            .into_iter()
            .filter(|k| rule_kind.applies_by_default(*k))
            .collect(),
    };
    let (mut value_from, mut value_below) = (None, None);
    if let Some(band) = &value_band {
        let mut end = |n: &Option<RawNumber>, what: &str| match n {
            None => None,
            Some(n) => match n.decimal() {
                Some(d) if d >= Decimal::ZERO => Some(d),
                _ => {
                    diags.hint(
                        band.span(),
                        format!("{ctx}: value_band `{what}` must be an amount ≥ 0"),
                        "e.g. value_band = { from = \"250\", below = \"1000\" }",
                    );
                    None
                }
            },
        };
        value_from = end(&band.get_ref().from, "from");
        value_below = end(&band.get_ref().below, "below");
        if let (Some(f), Some(b)) = (value_from, value_below)
            && f >= b
        {
            diags.at(
                band.span(),
                format!("{ctx}: value_band is empty ({f} ≤ |value| < {b})"),
            );
        }
    }
    let corrects =
        resolution.get_ref().target().is_some() || *resolution.get_ref() == Resolution::NewerWins;
    if corrects && let Some(k) = applies_to.iter().find(|k| k.is_row_finding()) {
        diags.hint(
            resolution.span(),
            format!(
                "{ctx}: {} lines cannot be corrected automatically",
                k.as_str()
            ),
            "limit the rule with applies_to, or use recount or review",
        );
    }
    if diags.items.len() > before {
        return None;
    }
    Some(Rule {
        name: name.into_inner(),
        condition,
        reason: reason.map(Spanned::into_inner),
        value_from,
        value_below,
        applies_to,
        locations,
        categories,
        decision: Decision {
            severity,
            resolution: Spanned::into_inner(resolution),
        },
    })
}
