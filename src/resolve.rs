//! Resolution: the lines whose rule says "correct book" or "correct observed" become
//! corrections for that side: which row, what it holds now (the optimistic check a
//! writer makes) and what it should hold. Each correction carries the row's whole new
//! state (quantity and unit cost), the changed field named by `kind`; a row the target
//! lacks has no current values.

use anyhow::Result;
use polars::prelude::*;

use crate::columns::*;
use crate::discrepancy::{Kind, Resolution};

pub const COLUMNS: [&str; 16] = [
    "correction",
    "line",
    "pairing",
    "target",
    LOCATION,
    ITEM_KEY,
    SKU,
    "kind",
    "current_qty",
    "new_qty",
    "qty_change",
    "current_unit_cost",
    "new_unit_cost",
    "rule",
    "reason",
    "target_source",
];

/// One correction per line whose resolution targets a side, numbered per target
/// gaplessly in line order.
pub fn corrections(discrepancies: &DataFrame) -> Result<DataFrame> {
    let to_book = col("resolution").eq(lit(Resolution::CorrectBook.as_str()));
    // A correction that waits for approval is not one yet.
    let targets = to_book
        .clone()
        .or(col("resolution").eq(lit(Resolution::CorrectObserved.as_str())))
        .and(
            col("approval")
                .is_null()
                .or(col("approval").eq(lit(crate::discrepancy::Approval::Approved.as_str()))),
        );
    let is_qty = [
        Kind::MissingInBook,
        Kind::MissingInObserved,
        Kind::QtyMismatch,
    ]
    .iter()
    .fold(lit(false), |a, k| a.or(col("kind").eq(lit(k.as_str()))));
    let is_cost = col("kind").eq(lit(Kind::CostMismatch.as_str()));
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
                .alias("target"),
            // A side that lacks the item is written under the normalised key.
            coalesce(&[pick("book_sku", "observed_sku"), col(ITEM_KEY)]).alias(SKU),
            // What the target holds as it stated it (before units and movements): the
            // value the writer checks the row against.
            coalesce(&[
                pick("book_stated_qty", "observed_stated_qty"),
                pick("book_qty", "observed_qty"),
            ])
            .alias("current_qty"),
            when(is_qty)
                .then(pick_other("book_qty", "observed_qty").fill_null(zero))
                .otherwise(pick("book_qty", "observed_qty"))
                .alias("new_qty"),
            pick("book_unit_cost", "observed_unit_cost").alias("current_unit_cost"),
            // A row the target lacks is created with the other side's cost.
            when(is_cost.or(pick("book_row", "observed_row").is_null()))
                .then(pick_other("book_unit_cost", "observed_unit_cost"))
                .otherwise(pick("book_unit_cost", "observed_unit_cost"))
                .alias("new_unit_cost"),
            pick("book_source", "observed_source").alias("target_source"),
        ])
        .with_column(
            (col("new_qty") - col("current_qty").fill_null(lit("0").cast(qty_type())))
                .cast(qty_type())
                .alias("qty_change"),
        )
        // A correction that changes nothing (0 → 0, the cost as it was) is none.
        .filter(
            col("new_qty")
                .eq_missing(col("current_qty"))
                .and(col("new_unit_cost").eq_missing(col("current_unit_cost")))
                .not(),
        )
        .sort_by_exprs([col("target"), col("line")], SortMultipleOptions::default())
        .with_row_index("_i", None)
        .with_column(
            (col("_i").cast(DataType::UInt64)
                - col("_i")
                    .min()
                    .over([col("target")])?
                    .cast(DataType::UInt64)
                + lit(1u64))
            .alias("correction"),
        )
        .select(COLUMNS.iter().map(|c| col(*c)).collect::<Vec<_>>())
        .collect()?;
    Ok(frame)
}
