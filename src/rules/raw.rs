//! The rules file as written. `rules::load` compiles it into a `RuleSet`.

use serde::Deserialize;
use toml::Spanned;

use super::condition::RuleKind;
use crate::discrepancy::{Kind, Resolution, Severity};

/// One SKU normalisation step, e.g. `{ op = "strip_prefix", prefix = "NW-" }`.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStep {
    Trim,
    Uppercase,
    Lowercase,
    StripPrefix {
        prefix: String,
    },
    StripSuffix {
        suffix: String,
    },
    StripLeadingZeros,
    PadLeadingZeros {
        width: usize,
    },
    RegexReplace {
        pattern: String,
        replacement: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatch {
    pub key: Spanned<Vec<String>>,
    /// The match steps in order (default: exact, normalized, alias, gtin).
    pub chain: Option<Spanned<Vec<MatchStep>>>,
}

/// How two rows came to be paired; each line records the step that paired it.
/// What identifies an item at a location when matching: its SKU (normalised into the
/// item key) or its barcode (the GTIN-14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    #[default]
    ItemKey,
    Gtin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchStep {
    /// The raw SKUs are equal.
    Exact,
    /// The SKUs are equal after the [normalize] steps.
    Normalized,
    /// A cross-reference maps one side's code or barcode to the other's item.
    Alias,
    /// The same valid GTIN at the same location, where the SKUs differ.
    Gtin,
}

impl MatchStep {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchStep::Exact => "exact",
            MatchStep::Normalized => "normalized",
            MatchStep::Alias => "alias",
            MatchStep::Gtin => "gtin",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub severity: Severity,
    pub resolution: Resolution,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawNumber {
    Text(String),
    Integer(i64),
    Float(f64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Spanned<String>,
    pub kind: Spanned<RuleKind>,
    pub max: Option<Spanned<RawNumber>>,
    pub applies_to: Option<Spanned<Vec<Kind>>>,
    #[serde(default)]
    pub locations: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub severity: Severity,
    pub resolution: Spanned<Resolution>,
    /// A reason code from the rules file's `reasons` list, recorded on every line.
    pub reason: Option<Spanned<String>>,
    /// Scope by money: from ≤ |value_delta| < below (either end may be left open).
    pub value_band: Option<Spanned<RawBand>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBand {
    pub from: Option<RawNumber>,
    pub below: Option<RawNumber>,
}

/// `[guard]`: limits on what one run may write back (see guard.rs).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    pub max_share_changed: Option<Spanned<RawNumber>>,
    pub max_zeroed: Option<Spanned<i64>>,
    pub max_value_per_location: Option<Spanned<RawNumber>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApproval {
    /// Corrections whose |value_delta| is above this need a person's approval.
    pub above: Spanned<RawNumber>,
}

/// `[money]`: the money scale and rounding rule, and how exact unit costs may be.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMoney {
    pub scale: Option<Spanned<i64>>,
    pub rounding: Option<crate::precision::Rounding>,
    pub cost_scale: Option<Spanned<i64>>,
}

/// `[quantity]`: how exact quantities may be, and how conversions round them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuantity {
    pub scale: Option<Spanned<i64>>,
    pub rounding: Option<crate::precision::Rounding>,
}
