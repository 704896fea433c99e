//! The schemas tally writes: the columns of a discrepancy line (`line`) and of a
//! correction (`correction`), each named once. Frames are built and read through these
//! names, so a renamed or dropped column is a compile error, not a missing column at run
//! time. The canonical input columns are in `columns.rs`.

/// The columns of a discrepancy line (`discrepancies.csv`, `discrepancies.parquet`).
pub mod line {
    pub use crate::columns::{
        BIN, CATEGORY, DESCRIPTION, GTIN, ITEM_KEY, LOCATION, RECOUNT_OF, UNIT_COST,
    };
    /// Gapless line number, from 1, in sort order.
    pub const LINE: &str = "line";
    /// The `[[pairings]]` name.
    pub const PAIRING: &str = "pairing";
    /// A `discrepancy::Kind`.
    pub const KIND: &str = "kind";
    /// For a one-sided finding: the side it was found on (`Side`).
    pub const SIDE: &str = "side";
    /// The `MatchStep` that paired the rows.
    pub const MATCH_STEP: &str = "match_step";
    pub const BOOK_SKU: &str = "book_sku";
    pub const OBSERVED_SKU: &str = "observed_sku";
    pub const BOOK_QTY: &str = "book_qty";
    pub const OBSERVED_QTY: &str = "observed_qty";
    /// observed − book.
    pub const QTY_DELTA: &str = "qty_delta";
    pub const BOOK_UNIT_COST: &str = "book_unit_cost";
    pub const OBSERVED_UNIT_COST: &str = "observed_unit_cost";
    /// observed − book unit cost.
    pub const COST_DELTA: &str = "cost_delta";
    /// qty_delta × unit cost, exact.
    pub const VALUE_DELTA: &str = "value_delta";
    /// The rule that decided the line.
    pub const RULE: &str = "rule";
    pub const SEVERITY: &str = "severity";
    pub const RESOLUTION: &str = "resolution";
    pub const REASON: &str = "reason";
    /// An `Approval`, where the line needs one.
    pub const APPROVAL: &str = "approval";
    /// Which side changed since the baseline (sync).
    pub const CHANGE: &str = "change";
    pub const BASELINE_BOOK_QTY: &str = "baseline_book_qty";
    pub const BASELINE_OBSERVED_QTY: &str = "baseline_observed_qty";
    /// A finding's explanation.
    pub const DETAIL: &str = "detail";
    pub const BOOK_STATED_QTY: &str = "book_stated_qty";
    pub const BOOK_UOM: &str = "book_uom";
    pub const BOOK_FACTOR: &str = "book_factor";
    pub const BOOK_MOVED: &str = "book_moved";
    pub const BOOK_AS_OF: &str = "book_as_of";
    pub const OBSERVED_STATED_QTY: &str = "observed_stated_qty";
    pub const OBSERVED_UOM: &str = "observed_uom";
    pub const OBSERVED_FACTOR: &str = "observed_factor";
    pub const OBSERVED_MOVED: &str = "observed_moved";
    pub const OBSERVED_AS_OF: &str = "observed_as_of";
    pub const BOOK_SOURCE: &str = "book_source";
    pub const BOOK_FILE: &str = "book_file";
    pub const BOOK_ROW: &str = "book_row";
    pub const OBSERVED_SOURCE: &str = "observed_source";
    pub const OBSERVED_FILE: &str = "observed_file";
    pub const OBSERVED_ROW: &str = "observed_row";
    /// How the book row was reached by the match chain (matched frame, before the lines).
    pub const BOOK_VIA: &str = "book_via";
    pub const OBSERVED_VIA: &str = "observed_via";

    /// In the order they are written.
    pub const COLUMNS: [&str; 47] = [
        LINE,
        PAIRING,
        KIND,
        SIDE,
        LOCATION,
        ITEM_KEY,
        MATCH_STEP,
        BOOK_SKU,
        OBSERVED_SKU,
        DESCRIPTION,
        CATEGORY,
        GTIN,
        BIN,
        BOOK_QTY,
        OBSERVED_QTY,
        QTY_DELTA,
        BOOK_UNIT_COST,
        OBSERVED_UNIT_COST,
        UNIT_COST,
        COST_DELTA,
        VALUE_DELTA,
        RULE,
        SEVERITY,
        RESOLUTION,
        REASON,
        APPROVAL,
        CHANGE,
        BASELINE_BOOK_QTY,
        BASELINE_OBSERVED_QTY,
        DETAIL,
        RECOUNT_OF,
        BOOK_STATED_QTY,
        BOOK_UOM,
        BOOK_FACTOR,
        BOOK_MOVED,
        BOOK_AS_OF,
        OBSERVED_STATED_QTY,
        OBSERVED_UOM,
        OBSERVED_FACTOR,
        OBSERVED_MOVED,
        OBSERVED_AS_OF,
        BOOK_SOURCE,
        BOOK_FILE,
        BOOK_ROW,
        OBSERVED_SOURCE,
        OBSERVED_FILE,
        OBSERVED_ROW,
    ];
}

/// The columns of a correction (`corrections.csv`, `corrections.parquet`).
pub mod correction {
    pub use super::line::{ITEM_KEY, KIND, LINE, LOCATION, PAIRING, REASON, RULE};
    pub use crate::columns::SKU;
    /// Gapless correction number per target.
    pub const CORRECTION: &str = "correction";
    /// The `Side` to correct.
    pub const TARGET: &str = "target";
    /// What the target holds now (the compare-and-set check).
    pub const CURRENT_QTY: &str = "current_qty";
    pub const NEW_QTY: &str = "new_qty";
    pub const QTY_CHANGE: &str = "qty_change";
    pub const CURRENT_UNIT_COST: &str = "current_unit_cost";
    pub const NEW_UNIT_COST: &str = "new_unit_cost";
    /// The target side's source name.
    pub const TARGET_SOURCE: &str = "target_source";

    /// In the order they are written.
    pub const COLUMNS: [&str; 16] = [
        CORRECTION,
        LINE,
        PAIRING,
        TARGET,
        LOCATION,
        ITEM_KEY,
        SKU,
        KIND,
        CURRENT_QTY,
        NEW_QTY,
        QTY_CHANGE,
        CURRENT_UNIT_COST,
        NEW_UNIT_COST,
        RULE,
        REASON,
        TARGET_SOURCE,
    ];
}
