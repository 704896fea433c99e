//! The rules file: how SKUs are normalised into item keys, and how each discrepancy is
//! decided (severity and resolution) by the first rule that matches it.
//!
//! ```toml
//! [normalize]
//! steps = [{ op = "trim" }, { op = "uppercase" }, { op = "pad_leading_zeros", width = 8 }]
//!
//! [match]
//! key = ["location", "item_key"]
//! chain = ["exact", "normalized", "alias", "gtin"]   # the order rows are paired in
//!
//! [units]                         # each unit's dimension; no conversion crosses them
//! each = "count"
//! case = "count"
//! kg = "mass"
//!
//! reasons = ["damage", "theft", "miscount", "receiving_error"]   # the closed list
//!
//! [approval]                      # corrections worth more need a person's approval
//! above = "500"
//!
//! [guard]                         # what one run may write back (guard.rs; defaults)
//! max_share_changed = "25"        # % of a side's rows
//! max_zeroed = 25
//! max_value_per_location = "50000"
//!
//! [money]                         # values are exact; rounded where shown, summed, written
//! scale = 4                       # decimal places of a value shown or summed (default 4)
//! rounding = "half_even"          # half_even (default) | half_up (ties away from zero)
//! cost_scale = 9                  # the most decimals a unit cost may have (default 9, ≤ 12)
//!
//! [quantity]
//! scale = 9                       # the most decimals a quantity may have (default 9, ≤ 9)
//! rounding = "half_even"          # how a converted quantity is rounded to that scale
//!
//! [defaults]                      # for lines no rule matches
//! severity = "medium"
//! resolution = "review"
//!
//! [[rules]]
//! name = "count-noise"
//! kind = "percent_of_book"        # absolute_qty | percent_of_book | value_at_cost | unit_cost | always
//! max = "2"
//! categories = ["Apparel"]        # optional scope: locations, categories, applies_to,
//! value_band = { below = "50" }   #   value_band = { from = "250", below = "1000" }
//! severity = "info"
//! resolution = "ignore"           # ignore | correct_book | correct_observed | newer_wins |
//!                                 #   propagate (a one-sided change since the baseline) | recount | review
//! reason = "miscount"             # optional, from `reasons`
//! ```

pub mod alias;
mod chain;
pub mod condition;
pub mod cutoff;
pub mod gtin;
pub mod limits;
pub mod normalize;
pub mod raw;
mod rule;
pub mod units;

use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics};
use crate::discrepancy::{Resolution, Severity};
use crate::precision::{MAX_COST_SCALE, MAX_MONEY_SCALE, MAX_QTY_SCALE, Precision};
use crate::toml_doc;
pub use condition::{Condition, RuleKind};
pub use normalize::SkuStep;
pub use raw::MatchStep;
use raw::{RawApproval, RawDefaults, RawMatch, RawNumber, RawRule, RawStep};
pub use rule::{Decision, Rule};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct RuleSet {
    pub path: PathBuf,
    /// The closed list of reason codes rules may give.
    pub reasons: Vec<String>,
    /// Corrections worth more than this (|value_delta|) need a person's approval.
    pub approval_above: Option<Decimal>,
    /// Limits on what one run may write back.
    pub guard: limits::Limits,
    pub sku_steps: Vec<SkuStep>,
    /// What identifies an item at a location: its item key (from the SKU) or its GTIN.
    pub key: raw::MatchKey,
    /// The match steps after the key pass, in order (alias, gtin).
    pub chain: Vec<MatchStep>,
    /// Unit → dimension.
    pub units: BTreeMap<String, String>,
    /// How exact quantities and costs are, and how values are rounded ([money], [quantity]).
    pub precision: Precision,
    pub rules: Vec<Rule>,
    pub default: Decision,
}

/// The name recorded on lines that no rule matched.
pub const DEFAULT_RULE: &str = "(default)";

pub fn load(path: &Path) -> Result<RuleSet, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            message: format!("cannot read the rules file: {e}"),
            hint: Some("the job's `rules` path is relative to the job file".into()),
        }]
    })?;
    let mut diags = Diagnostics::new(path, &text);
    let mut steps = Vec::new();
    let mut rules = Vec::new();
    let mut default = None;
    let mut chain = vec![MatchStep::Alias, MatchStep::Gtin];
    let mut match_key = raw::MatchKey::ItemKey;
    let mut reasons: Option<Spanned<Vec<String>>> = None;
    let mut approval_above = None;
    let mut guard = limits::Limits::default();
    let mut units = BTreeMap::new();
    let mut precision = crate::precision::Precision::default();

    if let Some(doc) = toml_doc::parse(&text, &mut diags) {
        for (key, value) in doc.get_ref().iter() {
            match key.get_ref().as_ref() {
                "normalize" => {
                    for (k, v) in toml_doc::entries(value, &mut diags, "normalize") {
                        if k.get_ref() != "steps" {
                            diags.hint(
                                k.span(),
                                format!("unknown key `{}` in [normalize]", k.get_ref()),
                                "use steps = [...]",
                            );
                            continue;
                        }
                        for (i, step) in toml_doc::items(v, &mut diags, "normalize.steps")
                            .into_iter()
                            .enumerate()
                        {
                            let ctx = format!("normalize step #{}", i + 1);
                            if let Some(raw) = toml_doc::decode::<RawStep>(step, &mut diags, &ctx)
                                && let Some(step) = compile_step(raw, step.span(), &ctx, &mut diags)
                            {
                                steps.push(step);
                            }
                        }
                    }
                }
                "match" => {
                    if let Some(m) = toml_doc::decode::<RawMatch>(value, &mut diags, "[match]") {
                        (match_key, chain) = chain::compile(m, &mut diags);
                    }
                }
                "reasons" => {
                    reasons = toml_doc::decode(value, &mut diags, "reasons");
                }
                "approval" => {
                    if let Some(a) = toml_doc::decode::<RawApproval>(value, &mut diags, "[approval]") {
                        match a.above.get_ref().decimal() {
                            Some(d) if d >= Decimal::ZERO => approval_above = Some(d),
                            _ => diags.hint(
                                a.above.span(),
                                "[approval] `above` must be an amount ≥ 0",
                                "e.g. above = \"500\"",
                            ),
                        }
                    }
                }
                "guard" => {
                    if let Some(g) = toml_doc::decode::<raw::RawGuard>(value, &mut diags, "[guard]") {
                        guard = limits::Limits::compile(g, &mut diags);
                    }
                }
                "money" => {
                    if let Some(m) = toml_doc::decode::<raw::RawMoney>(value, &mut diags, "[money]") {
                        let money = &mut precision.money;
                        if let Some(s) = m.scale {
                            money.scale = places(s, MAX_MONEY_SCALE, "[money] scale", &mut diags);
                        }
                        if let Some(s) = m.cost_scale {
                            money.cost_scale =
                                places(s, MAX_COST_SCALE, "[money] cost_scale", &mut diags);
                        }
                        money.rounding = m.rounding.unwrap_or(money.rounding);
                    }
                }
                "quantity" => {
                    if let Some(q) =
                        toml_doc::decode::<raw::RawQuantity>(value, &mut diags, "[quantity]")
                    {
                        let quantity = &mut precision.quantity;
                        if let Some(s) = q.scale {
                            quantity.scale = places(s, MAX_QTY_SCALE, "[quantity] scale", &mut diags);
                        }
                        quantity.rounding = q.rounding.unwrap_or(quantity.rounding);
                    }
                }
                "units" => {
                    for (unit, dim) in toml_doc::entries(value, &mut diags, "units") {
                        if let Some(d) = toml_doc::decode::<String>(
                            dim,
                            &mut diags,
                            &format!("unit `{}`", unit.get_ref()),
                        ) {
                            units.insert(unit.get_ref().to_string(), d);
                        }
                    }
                }
                "defaults" => {
                    default =
                        toml_doc::decode::<RawDefaults>(value, &mut diags, "[defaults]").map(|d| {
                            Decision {
                                severity: d.severity,
                                resolution: d.resolution,
                            }
                        });
                }
                "rules" => {
                    for (i, value) in toml_doc::items(value, &mut diags, "rules")
                        .into_iter()
                        .enumerate()
                    {
                        let ctx = format!("rule #{}", i + 1);
                        if let Some(raw) = toml_doc::decode::<RawRule>(value, &mut diags, &ctx)
                        {
                            let span = raw.name.span();
                            if let Some(rule) = rule::compile(raw, &mut diags) {
                                rules.push((rule, span));
                            }
                        }
                    }
                }
                other => diags.hint(
                    key.span(),
                    format!("unknown key `{other}` in the rules file"),
                    "the rules file takes: reasons, [normalize], [match], [units], [approval], [guard], [money], [quantity], [defaults], [[rules]]",
                ),
            }
        }
    }

    // Reason codes come from the declared list only.
    let reason_list: Vec<String> = reasons
        .as_ref()
        .map(|r| r.get_ref().clone())
        .unwrap_or_default();
    for (rule, span) in &rules {
        if let Some(reason) = &rule.reason
            && !reason_list.contains(reason)
        {
            diags.hint(
                span.clone(),
                format!("rule `{}`: reason {reason:?} is not in the reasons list", rule.name),
                if reason_list.is_empty() {
                    "declare the closed list at the top: reasons = [\"damage\", \"theft\", \"miscount\", ...]".to_string()
                } else {
                    format!("reasons: {}", reason_list.join(", "))
                },
            );
        }
    }
    let rules: Vec<Rule> = rules.into_iter().map(|(r, _)| r).collect();

    let mut names = std::collections::BTreeSet::new();
    for r in &rules {
        if !names.insert(r.name.clone()) {
            diags.at(
                0..0,
                format!(
                    "rule name {:?} is used twice; discrepancies name their rule",
                    r.name
                ),
            );
        }
    }

    if !diags.items.is_empty() {
        return Err(diags.items);
    }
    Ok(RuleSet {
        path: path.to_path_buf(),
        reasons: reason_list,
        approval_above,
        guard,
        sku_steps: steps,
        key: match_key,
        chain,
        units,
        precision,
        rules,
        // Without a [defaults] table, an undecided line goes to a person.
        default: default.unwrap_or(Decision {
            severity: Severity::Medium,
            resolution: Resolution::Review,
        }),
    })
}

/// A number of decimal places from 0 to `max`; out of range is a diagnostic.
fn places(value: Spanned<i64>, max: u32, what: &str, diags: &mut Diagnostics) -> u32 {
    match u32::try_from(*value.get_ref()) {
        Ok(p) if p <= max => p,
        _ => {
            diags.hint(
                value.span(),
                format!("{what} must be a number of decimal places from 0 to {max}"),
                format!("e.g. {} = 4", what.rsplit(' ').next().unwrap_or(what)),
            );
            0
        }
    }
}

impl RawNumber {
    /// The exact decimal a number in the rules file stands for.
    pub fn decimal(&self) -> Option<Decimal> {
        match self {
            RawNumber::Text(t) => Decimal::from_str_exact(t.trim()).ok(),
            RawNumber::Integer(i) => Some(Decimal::from(*i)),
            // TOML floats are binary: read back their shortest decimal text.
            RawNumber::Float(f) => Decimal::from_str_exact(&f.to_string()).ok(),
        }
    }
}

fn compile_step(
    raw: RawStep,
    span: std::ops::Range<usize>,
    ctx: &str,
    diags: &mut Diagnostics,
) -> Option<SkuStep> {
    Some(match raw {
        RawStep::Trim => SkuStep::Trim,
        RawStep::Uppercase => SkuStep::Uppercase,
        RawStep::Lowercase => SkuStep::Lowercase,
        RawStep::StripPrefix { prefix } => SkuStep::StripPrefix(prefix),
        RawStep::StripSuffix { suffix } => SkuStep::StripSuffix(suffix),
        RawStep::StripLeadingZeros => SkuStep::StripLeadingZeros,
        RawStep::PadLeadingZeros { width } => {
            if width == 0 || width > 64 {
                diags.at(span, format!("{ctx}: width must be between 1 and 64"));
                return None;
            }
            SkuStep::PadLeadingZeros(width)
        }
        RawStep::RegexReplace {
            pattern,
            replacement,
        } => match regex::Regex::new(&pattern) {
            Ok(re) => SkuStep::RegexReplace(re, replacement),
            Err(e) => {
                diags.at(span, format!("{ctx}: invalid regex {pattern:?}: {e}"));
                return None;
            }
        },
    })
}
