//! Resolution: the lines whose rule says "correct book" or "correct observed" become
//! corrections for that side: which row, what it holds now (the optimistic check a
//! writer makes) and what it should hold. Each correction carries the row's whole new
//! state (quantity and unit cost), the changed field named by `kind`; a row the target
//! lacks has no current values.

use anyhow::Result;
use polars::prelude::*;

use crate::columns::*;
use crate::discrepancy::{Kind, Resolution};
use crate::schema::correction;
use crate::schema::line;

/// One correction per line whose resolution targets a side, numbered per target
/// gaplessly in line order.
pub fn corrections(discrepancies: &DataFrame) -> Result<DataFrame> {
    let to_book = col(line::RESOLUTION).eq(lit(Resolution::CorrectBook.as_str()));
    // A correction that waits for approval is not one yet.
    let targets = to_book
        .clone()
        .or(col(line::RESOLUTION).eq(lit(Resolution::CorrectObserved.as_str())))
        .and(
            col(line::APPROVAL)
                .is_null()
                .or(col(line::APPROVAL).eq(lit(crate::discrepancy::Approval::Approved.as_str()))),
        );
    let is_qty = [
        Kind::MissingInBook,
        Kind::MissingInObserved,
        Kind::QtyMismatch,
    ]
    .iter()
    .fold(lit(false), |a, k| a.or(col(line::KIND).eq(lit(k.as_str()))));
    let is_cost = col(line::KIND).eq(lit(Kind::CostMismatch.as_str()));
    let zero = lit("0").cast(qty_type());
    let pick = |book: &str, observed: &str| {
        when(to_book.clone())
            .then(col(book))
            .otherwise(col(observed))
    };
    let pick_other = |book: &str, observed: &str| {
        when(to_book.clone())
            .then(col(observed))
            .otherwise(col(book))
    };

    let frame = discrepancies
        .clone()
        .lazy()
        .filter(targets)
        .with_columns([
            when(to_book.clone())
                .then(lit("book"))
                .otherwise(lit("observed"))
                .alias(correction::TARGET),
            // A side that lacks the item is written under the normalised key.
            coalesce(&[pick(line::BOOK_SKU, line::OBSERVED_SKU), col(ITEM_KEY)]).alias(SKU),
            // What the target holds as it stated it (before units and movements): the
            // value the writer checks the row against.
            coalesce(&[
                pick(line::BOOK_STATED_QTY, line::OBSERVED_STATED_QTY),
                pick(line::BOOK_QTY, line::OBSERVED_QTY),
            ])
            .alias(correction::CURRENT_QTY),
            when(is_qty)
                .then(pick_other(line::BOOK_QTY, line::OBSERVED_QTY).fill_null(zero))
                .otherwise(pick(line::BOOK_QTY, line::OBSERVED_QTY))
                .alias(correction::NEW_QTY),
            pick(line::BOOK_UNIT_COST, line::OBSERVED_UNIT_COST)
                .alias(correction::CURRENT_UNIT_COST),
            // A row the target lacks is created with the other side's cost.
            when(is_cost.or(pick(line::BOOK_ROW, line::OBSERVED_ROW).is_null()))
                .then(pick_other(line::BOOK_UNIT_COST, line::OBSERVED_UNIT_COST))
                .otherwise(pick(line::BOOK_UNIT_COST, line::OBSERVED_UNIT_COST))
                .alias(correction::NEW_UNIT_COST),
            pick(line::BOOK_SOURCE, line::OBSERVED_SOURCE).alias(correction::TARGET_SOURCE),
        ])
        .with_column(
            (col(correction::NEW_QTY)
                - col(correction::CURRENT_QTY).fill_null(lit("0").cast(qty_type())))
            .cast(qty_type())
            .alias(correction::QTY_CHANGE),
        )
        // A correction that changes nothing (0 → 0, the cost as it was) is none.
        .filter(
            col(correction::NEW_QTY)
                .eq_missing(col(correction::CURRENT_QTY))
                .and(col(correction::NEW_UNIT_COST).eq_missing(col(correction::CURRENT_UNIT_COST)))
                .not(),
        )
        .sort_by_exprs(
            [col(correction::TARGET), col(line::LINE)],
            SortMultipleOptions::default(),
        )
        .with_row_index("_i", None)
        .with_column(
            (col("_i").cast(DataType::UInt64)
                - col("_i")
                    .min()
                    .over([col(correction::TARGET)])?
                    .cast(DataType::UInt64)
                + lit(1u64))
            .alias(correction::CORRECTION),
        )
        .select(
            correction::COLUMNS
                .iter()
                .map(|c| col(*c))
                .collect::<Vec<_>>(),
        )
        .collect()?;
    Ok(frame)
}
