//! The policies that adjust the rules' decisions: what a resolution means once the
//! sides, the baseline and the findings are known (classify::decide applies them in
//! order). Each reads and rewrites the `resolution` (and `rule`, `severity`, `detail`)
//! columns.

use anyhow::Result;
use polars::prelude::*;

use crate::columns::*;
use crate::discrepancy::{Approval, Kind, Resolution, Severity};
use crate::rules::{RuleSet, condition};
use crate::schema::line;
use crate::sync;

/// The rule recorded on lines that movements explain.
pub const EXPLAINED_RULE: &str = "(movements)";

fn res() -> Expr {
    col(line::RESOLUTION)
}

fn is(r: Resolution) -> Expr {
    col(line::RESOLUTION).eq(lit(r.as_str()))
}

pub fn newer_wins(lines: LazyFrame) -> Result<LazyFrame> {
    let mut lines = lines;
    // Newer wins: the side with the later as-of time is right (times are UTC text of
    // one width, so they compare as text); unknown or equal times go to a person.
    {
        let (book_t, observed_t) = (col(line::BOOK_AS_OF), col(line::OBSERVED_AS_OF));
        lines = lines.with_column(
            when(is(Resolution::NewerWins))
                .then(
                    when(book_t.clone().gt(observed_t.clone()).fill_null(lit(false)))
                        .then(lit(Resolution::CorrectObserved.as_str()))
                        .when(observed_t.gt(book_t).fill_null(lit(false)))
                        .then(lit(Resolution::CorrectBook.as_str()))
                        .otherwise(lit(Resolution::Review.as_str())),
                )
                .otherwise(res())
                .alias(line::RESOLUTION),
        );
    }
    Ok(lines)
}

pub fn propagate(lines: LazyFrame) -> Result<LazyFrame> {
    let mut lines = lines;
    // Propagate: follow a one-sided change since the baseline, but never invent a
    // quantity. The changed side is the source of the correction only when it holds
    // exactly one row now (a duplicated, vanished or invalid row reads as absent, and
    // absent is no quantity to copy) and the baseline was in sync (both sides held the
    // same quantity then; from a baseline that already disagreed, a person decides).
    {
        let change = |c: &str| col(line::CHANGE).eq(lit(c)).fill_null(lit(false));
        let agreed = col(line::BASELINE_BOOK_QTY)
            .eq(col(line::BASELINE_OBSERVED_QTY))
            .fill_null(lit(false));
        let present = |c: &str| col(c).is_not_null();
        lines = lines.with_column(
            when(is(Resolution::Propagate))
                .then(
                    when(
                        change(sync::BOOK_ONLY)
                            .and(agreed.clone())
                            .and(present(line::BOOK_QTY)),
                    )
                    .then(lit(Resolution::CorrectObserved.as_str()))
                    .when(
                        change(sync::OBSERVED_ONLY)
                            .and(agreed)
                            .and(present(line::OBSERVED_QTY)),
                    )
                    .then(lit(Resolution::CorrectBook.as_str()))
                    .otherwise(lit(Resolution::Review.as_str())),
                )
                .otherwise(res())
                .alias(line::RESOLUTION),
        );
    }
    Ok(lines)
}

pub fn conflicts(lines: LazyFrame) -> Result<LazyFrame> {
    let mut lines = lines;
    // A change on both sides since the baseline is a conflict, whatever the rules say:
    // a person decides, seeing the baseline and both new values (sync::annotate).
    let conflict = col(line::CHANGE).eq(lit(sync::BOTH)).fill_null(lit(false));
    lines = lines.with_columns([
        when(conflict.clone())
            .then(lit(sync::CONFLICT_RULE))
            .otherwise(col(line::RULE))
            .alias(line::RULE),
        when(conflict.clone())
            .then(lit(Severity::High.as_str()))
            .otherwise(col(line::SEVERITY))
            .alias(line::SEVERITY),
        when(conflict)
            .then(lit(Resolution::Review.as_str()))
            .otherwise(res())
            .alias(line::RESOLUTION),
    ]);
    Ok(lines)
}

pub fn packs(lines: LazyFrame) -> Result<LazyFrame> {
    let mut lines = lines;
    // A correction is written in base units. A target row counted in packs (a case of
    // 12) would need its count divided, which may not come out whole: a person decides.
    // (Conversions need declared units: without [units] no row was converted.)
    {
        let packed = |side: &str| {
            col(format!("{side}_factor"))
                .neq(lit("1").cast(crate::prepare::factor_type()))
                .fill_null(lit(false))
        };
        let to_book = is(Resolution::CorrectBook).and(packed("book"));
        let to_observed = is(Resolution::CorrectObserved).and(packed("observed"));
        let pack_detail = |side: &str| {
            concat_str(
                [
                    lit(format!("the {side} counts this item in ")),
                    col(format!("{side}_uom")),
                    lit(" (× "),
                    crate::precision::exact_expr(col(format!("{side}_factor"))),
                    lit("): a person decides the count to write"),
                ],
                "",
                false,
            )
        };
        lines = lines.with_columns([
            when(to_book.clone())
                .then(pack_detail("book"))
                .when(to_observed.clone())
                .then(pack_detail("observed"))
                .otherwise(col(line::DETAIL))
                .alias(line::DETAIL),
            when(to_book.or(to_observed))
                .then(lit(Resolution::Review.as_str()))
                .otherwise(res())
                .alias(line::RESOLUTION),
        ]);
    }
    Ok(lines)
}

pub fn withheld_sides(lines: LazyFrame) -> Result<LazyFrame> {
    // A side is never the source of a correction when it has rows for the item that
    // were not compared (duplicated, in an unknown unit, invalid): it reads as absent,
    // and absent is no quantity to write (a repeated POS row would zero the ERP's).
    let withheld = |side: &str| -> Result<Expr> {
        let finding = [Kind::DuplicateKey, Kind::UnknownUnit, Kind::InvalidRow]
            .iter()
            .fold(lit(false), |a, k| a.or(col(line::KIND).eq(lit(k.as_str()))));
        Ok(finding
            .and(col(line::SIDE).eq(lit(side)))
            .fill_null(lit(false))
            .any(true)
            .over([col(line::PAIRING), col(LOCATION), col(ITEM_KEY)])?)
    };
    let from_withheld = col(line::KIND)
        .eq(lit(Kind::MissingInObserved.as_str()))
        .and(withheld("observed")?)
        .or(col(line::KIND)
            .eq(lit(Kind::MissingInBook.as_str()))
            .and(withheld("book")?));
    let corrects = is(Resolution::CorrectBook).or(is(Resolution::CorrectObserved));
    let lines = lines.with_columns([
        when(from_withheld.clone().and(corrects.clone()))
            .then(lit(
                "the other side has rows for this item that were not compared (see its \
                 findings): a person decides",
            ))
            .otherwise(col(line::DETAIL))
            .alias(line::DETAIL),
        when(from_withheld.and(corrects))
            .then(lit(Resolution::Review.as_str()))
            .otherwise(res())
            .alias(line::RESOLUTION),
    ]);
    Ok(lines)
}

pub fn explained(lines: LazyFrame) -> Result<LazyFrame> {
    // Explained lines are decided by their movements, never by a rule.
    let explained = col(line::KIND).eq(lit(Kind::Explained.as_str()));
    let lines = lines.with_columns([
        when(explained.clone())
            .then(lit(NULL).cast(DataType::String))
            .otherwise(col(line::REASON))
            .alias(line::REASON),
        when(explained.clone())
            .then(lit(EXPLAINED_RULE))
            .otherwise(col(line::RULE))
            .alias(line::RULE),
        when(explained.clone())
            .then(lit(Severity::Info.as_str()))
            .otherwise(col(line::SEVERITY))
            .alias(line::SEVERITY),
        when(explained)
            .then(lit(Resolution::Ignore.as_str()))
            .otherwise(res())
            .alias(line::RESOLUTION),
    ]);
    Ok(lines)
}

pub fn approval(lines: LazyFrame, rules: &RuleSet) -> Result<LazyFrame> {
    // A correction worth more than the threshold (or of unknown worth) waits for a
    // person's approval; it is not written back until then.
    let approval = match rules.approval_above {
        None => lit(NULL).cast(DataType::String),
        Some(above) => {
            let corrects = col(line::RESOLUTION)
                .eq(lit(Resolution::CorrectBook.as_str()))
                .or(col(line::RESOLUTION).eq(lit(Resolution::CorrectObserved.as_str())));
            let big = col(line::VALUE_DELTA)
                .abs()
                .gt(condition::dec(above, VALUE_SCALE))
                .fill_null(lit(true));
            when(corrects.and(big))
                .then(lit(Approval::Required.as_str()))
                .otherwise(lit(NULL).cast(DataType::String))
        }
    };
    Ok(lines.with_column(approval.alias(line::APPROVAL)))
}
