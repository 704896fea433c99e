//! The columns preparing a side adds to its frame (read by matching and classify).

use anyhow::Result;
use polars::prelude::*;

use crate::columns::*;

/// The step that re-keyed a row (alias, gtin); null when its own key stood.
pub const VIA: &str = "_via";
/// The quantity as the source stated it, in the row's own unit, before movements.
pub const STATED_QTY: &str = "_stated_qty";
/// Base units in one of the row's unit (null when no conversion applied).
pub const FACTOR_COL: &str = "_factor";
/// The net movements added to roll the row forward (null when none applied).
pub const MOVED: &str = "_moved";
/// The row's as-of time (RFC 3339), where known.
pub const ROW_AS_OF: &str = "_as_of";
/// A finding kind that takes the row out of matching (its detail is in `_invalid`).
pub const REJECT: &str = "_reject";
/// A finding that leaves the row in matching (invalid_gtin), and its detail.
pub const FLAG: &str = "_flag";
pub const FLAG_DETAIL: &str = "_flag_detail";

pub fn factor_type() -> DataType {
    DataType::Decimal(18, 6)
}

/// The columns this stage adds, as nulls: for frames that skip it (unit tests, and
/// jobs with nothing to do here).
pub fn with_defaults(frame: DataFrame) -> Result<DataFrame> {
    let n = frame.height();
    let mut frame = frame;
    if frame.column(STATED_QTY).is_err() {
        let stated = frame.column(QTY)?.clone().with_name(STATED_QTY.into());
        frame.with_column(stated)?;
    }
    for (name, dtype) in [
        (VIA, DataType::String),
        (FACTOR_COL, factor_type()),
        (MOVED, qty_type()),
        (ROW_AS_OF, DataType::String),
        (REJECT, DataType::String),
        (FLAG, DataType::String),
        (FLAG_DETAIL, DataType::String),
        // Read from sources that map them; frames built elsewhere (tests, shards) may lack them.
        (crate::columns::GTIN, DataType::String),
        (crate::columns::BIN, DataType::String),
        (crate::columns::RECOUNT_OF, DataType::String),
    ] {
        if frame.column(name).is_err() {
            frame.with_column(Column::full_null(name.into(), n, &dtype))?;
        }
    }
    Ok(frame)
}
