//! Classification: the joined pairs and row findings become discrepancy lines, each with
//! exact deltas, and each line is decided by the first rule that matches it.
//!
//! Deltas are observed − book: positive means the shelf holds more than the book says.
//! A side that lacks the item counts as zero. Values are at the book's unit cost where
//! it has one, else the observed side's, exact (rounded only where shown or summed).

mod policies;

use anyhow::Result;
use polars::prelude::*;

use crate::columns::*;
use crate::discrepancy::{Approval, Kind, Resolution};
use crate::matching::Matched;
use crate::rules::{DEFAULT_RULE, MatchStep, RuleSet, condition};
use crate::schema::line;
use crate::sync;

fn kind_is(kinds: &[Kind]) -> Expr {
    kinds.iter().fold(lit(false), |acc, k| {
        acc.or(col(line::KIND).eq(lit(k.as_str())))
    })
}

/// Lines from the join come from both sides and carry no finding detail.
fn no_finding() -> [Expr; 2] {
    [
        lit(NULL).cast(DataType::String).alias(line::SIDE),
        lit(NULL).cast(DataType::String).alias(line::DETAIL),
    ]
}

/// The undecided lines of one pairing: differences from the join plus row findings,
/// with what changed since the baseline (if there is one).
pub fn lines(
    matched: &Matched,
    pairing: &str,
    baseline: Option<&sync::Baseline>,
) -> Result<LazyFrame> {
    let joined = matched.joined.clone().lazy();
    let book_in = col(line::BOOK_ROW).is_not_null();
    let obs_in = col(line::OBSERVED_ROW).is_not_null();

    let qty_lines = joined
        .clone()
        .with_column(
            when(book_in.clone().not())
                .then(lit(Kind::MissingInBook.as_str()))
                .when(obs_in.clone().not())
                .then(lit(Kind::MissingInObserved.as_str()))
                .when(col(line::BOOK_QTY).neq(col(line::OBSERVED_QTY)))
                .then(lit(Kind::QtyMismatch.as_str()))
                // Equal once rolled forward, but not as stated: the movements explain it.
                .when(
                    col(line::BOOK_MOVED)
                        .is_not_null()
                        .or(col(line::OBSERVED_MOVED).is_not_null()),
                )
                .then(lit(Kind::Explained.as_str()))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias(line::KIND),
        )
        .filter(col(line::KIND).is_not_null())
        .with_columns(no_finding());
    let cost_lines = joined
        .filter(
            book_in
                .and(obs_in)
                .and(col(line::BOOK_UNIT_COST).neq(col(line::OBSERVED_UNIT_COST))),
        )
        .with_column(lit(Kind::CostMismatch.as_str()).alias(line::KIND))
        .with_columns(no_finding());

    let all = concat(
        [qty_lines, cost_lines, matched.findings.clone().lazy()],
        UnionArgs {
            diagonal: true,
            ..Default::default()
        },
    )?;

    let zero_qty = lit("0").cast(qty_type());
    let qty_kinds = kind_is(&[
        Kind::MissingInBook,
        Kind::MissingInObserved,
        Kind::QtyMismatch,
        Kind::Explained,
    ]);
    let cost_kind = col(line::KIND).eq(lit(Kind::CostMismatch.as_str()));
    let null_of = |t: DataType| lit(NULL).cast(t);
    // How the pair came together: the step that re-keyed a row, else equal raw SKUs
    // (exact) or equal item keys (normalized). Findings and one-sided lines have none.
    let match_step = when(
        col(line::BOOK_ROW)
            .is_null()
            .or(col(line::OBSERVED_ROW).is_null()),
    )
    .then(lit(NULL).cast(DataType::String))
    .otherwise(coalesce(&[
        col(line::BOOK_VIA),
        col(line::OBSERVED_VIA),
        when(col(line::BOOK_SKU).eq(col(line::OBSERVED_SKU)))
            .then(lit(MatchStep::Exact.as_str()))
            .otherwise(lit(MatchStep::Normalized.as_str())),
    ]));
    let all = all
        .with_columns([
            lit(pairing).alias(line::PAIRING),
            match_step.alias(line::MATCH_STEP),
            coalesce(&[col("book_description"), col("observed_description")]).alias(DESCRIPTION),
            coalesce(&[col("book_category"), col("observed_category")]).alias(CATEGORY),
            // The barcode and bin as either system states them (the book's first), for
            // the recount sheet; a recount's link comes from the sheet (observed side).
            coalesce(&[col("book_gtin"), col("observed_gtin")]).alias(line::GTIN),
            coalesce(&[col("book_bin"), col("observed_bin")]).alias(line::BIN),
            coalesce(&[col("observed_recount_of"), col("book_recount_of")]).alias(line::RECOUNT_OF),
            when(qty_kinds.clone())
                .then(
                    col(line::OBSERVED_QTY).fill_null(zero_qty.clone())
                        - col(line::BOOK_QTY).fill_null(zero_qty),
                )
                .otherwise(null_of(qty_type()))
                .cast(qty_type())
                .alias(line::QTY_DELTA),
            coalesce(&[col(line::BOOK_UNIT_COST), col(line::OBSERVED_UNIT_COST)]).alias(UNIT_COST),
            when(cost_kind.clone())
                .then(col(line::OBSERVED_UNIT_COST) - col(line::BOOK_UNIT_COST))
                .otherwise(null_of(cost_type()))
                .cast(cost_type())
                .alias(line::COST_DELTA),
        ])
        .with_column(
            // A quantity difference is valued at cost; a cost difference over the book
            // quantity. Exact: polars multiplies at the wider operand's scale, so both
            // operands go to the value scale first (precision.rs rounds where shown).
            when(qty_kinds)
                .then(exact_product(col(line::QTY_DELTA), col(UNIT_COST)))
                .when(cost_kind)
                .then(exact_product(col(line::COST_DELTA), col(line::BOOK_QTY)))
                .otherwise(null_of(value_type()))
                .cast(value_type())
                .alias(line::VALUE_DELTA),
        );
    Ok(sync::annotate(all, baseline))
}

/// a × b without rounding: both at `VALUE_SCALE`, which holds the sum of their scales.
fn exact_product(a: Expr, b: Expr) -> Expr {
    a.cast(value_type()) * b.cast(value_type())
}

/// Decides every line: the first rule in scope whose condition holds names the rule,
/// severity and resolution; lines no rule matches get the defaults.
pub fn decide(lines: LazyFrame, rules: &RuleSet) -> Result<LazyFrame> {
    let mut name = lit(DEFAULT_RULE);
    let mut severity = lit(rules.default.severity.as_str());
    let mut resolution = lit(rules.default.resolution.as_str());
    let mut reason = lit(NULL).cast(DataType::String);
    // Built from the last rule to the first so that the first rule is outermost.
    for rule in rules.rules.iter().rev() {
        let mut cond = kind_is(&rule.applies_to).and(rule.condition.expr());
        if !rule.locations.is_empty() {
            cond = cond.and(
                rule.locations
                    .iter()
                    .fold(lit(false), |a, l| a.or(col(LOCATION).eq(lit(l.as_str())))),
            );
        }
        if !rule.categories.is_empty() {
            let in_category = rule
                .categories
                .iter()
                .fold(lit(false), |a, c| a.or(col(CATEGORY).eq(lit(c.as_str()))));
            cond = cond.and(in_category.fill_null(lit(false)));
        }
        // A value band needs a value: lines without one are outside every band.
        if let Some(from) = rule.value_from {
            cond = cond.and(
                col(line::VALUE_DELTA)
                    .abs()
                    .gt_eq(condition::dec(from, VALUE_SCALE))
                    .fill_null(lit(false)),
            );
        }
        if let Some(below) = rule.value_below {
            cond = cond.and(
                col(line::VALUE_DELTA)
                    .abs()
                    .lt(condition::dec(below, VALUE_SCALE))
                    .fill_null(lit(false)),
            );
        }
        reason = when(cond.clone())
            .then(match &rule.reason {
                Some(r) => lit(r.as_str()),
                None => lit(NULL).cast(DataType::String),
            })
            .otherwise(reason);
        name = when(cond.clone())
            .then(lit(rule.name.as_str()))
            .otherwise(name);
        severity = when(cond.clone())
            .then(lit(rule.decision.severity.as_str()))
            .otherwise(severity);
        resolution = when(cond)
            .then(lit(rule.decision.resolution.as_str()))
            .otherwise(resolution);
    }
    // The rules' decision first, as columns: the policies below read and adjust it
    // (rather than repeat the rules' expression in each of them).
    let mut lines = lines.with_columns([
        name.alias(line::RULE),
        severity.alias(line::SEVERITY),
        resolution.alias(line::RESOLUTION),
        reason.alias(line::REASON),
    ]);
    // Policies that need more than a rule's own decision are worked out only when a
    // rule uses them.
    let uses = |r: Resolution| {
        rules.rules.iter().any(|x| x.decision.resolution == r) || rules.default.resolution == r
    };
    if uses(Resolution::NewerWins) {
        lines = policies::newer_wins(lines)?;
    }
    if uses(Resolution::Propagate) {
        lines = policies::propagate(lines)?;
    }
    lines = policies::conflicts(lines)?;
    // Conversions need declared units: without [units] no row was converted.
    if !rules.units.is_empty() {
        lines = policies::packs(lines)?;
    }
    let lines = policies::withheld_sides(lines)?;
    let lines = policies::explained(lines)?;
    policies::approval(lines, rules)
}

/// Lines a person must look at: their resolution says so, or their correction needs
/// approval.
pub fn needs_person() -> Expr {
    Resolution::ALL.iter().filter(|r| r.needs_person()).fold(
        col(line::APPROVAL)
            .eq(lit(Approval::Required.as_str()))
            .fill_null(lit(false)),
        |any, r| any.or(col(line::RESOLUTION).eq(lit(r.as_str()))),
    )
}

pub use policies::EXPLAINED_RULE;

/// Orders the lines (pairing, location, item key, kind) and numbers them gaplessly.
pub fn finish(lines: LazyFrame) -> Result<DataFrame> {
    let select: Vec<Expr> = line::COLUMNS
        .iter()
        .filter(|c| **c != line::LINE)
        .map(|c| col(*c))
        .collect();
    let lines = lines.select(select).collect()?;
    // Columns that are null on every line (units, movements, baseline on a plain job)
    // are not carried through the sort: they come back as null columns that hold no
    // values, which keeps wide lines cheap where they are empty.
    const SORT_KEYS: [&str; 9] = [
        line::PAIRING,
        LOCATION,
        ITEM_KEY,
        line::KIND,
        line::SIDE,
        line::BOOK_FILE,
        line::BOOK_ROW,
        line::OBSERVED_FILE,
        line::OBSERVED_ROW,
    ];
    let (empty, full): (Vec<&Column>, Vec<&Column>) = lines.columns().iter().partition(|c| {
        !c.is_empty() && c.null_count() == c.len() && !SORT_KEYS.contains(&c.name().as_str())
    });
    let empty: Vec<(PlSmallStr, DataType)> = empty
        .iter()
        .map(|c| (c.name().clone(), c.dtype().clone()))
        .collect();
    let full = DataFrame::new(lines.height(), full.into_iter().cloned().collect())?;
    drop(lines);
    let mut sorted = full
        .lazy()
        .sort_by_exprs(
            SORT_KEYS.map(col),
            SortMultipleOptions::default()
                .with_maintain_order(true)
                .with_nulls_last(true),
        )
        .with_row_index(line::LINE, Some(1))
        .with_column(col(line::LINE).cast(DataType::UInt64))
        .collect()?;
    let height = sorted.height();
    for (name, dtype) in empty {
        sorted.with_column(Column::full_null(name, height, &dtype))?;
    }
    Ok(sorted.select(line::COLUMNS)?)
}

#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;
