//! Canonical column names and types: the contract between the stages (design.md).

use polars::prelude::DataType;

pub const LOCATION: &str = "location";
pub const SKU: &str = "sku";
pub const ITEM_KEY: &str = "item_key";
pub const GTIN: &str = "gtin";
pub const DESCRIPTION: &str = "description";
pub const CATEGORY: &str = "category";
/// Where the item sits in the store (a bin, shelf or aisle code), for the recount sheet.
pub const BIN: &str = "bin";
/// On a recount sheet that comes back: the run and line that asked for the count
/// (`<run id>#<line>`).
pub const RECOUNT_OF: &str = "recount_of";
pub const QTY: &str = "qty";
pub const UOM: &str = "uom";
pub const UNIT_COST: &str = "unit_cost";
pub const AS_OF: &str = "as_of";
pub const ITEM: &str = "item";
pub const FACTOR: &str = "factor";
pub const MOVEMENT: &str = "movement";
/// Provenance: the source's name, the file, and the file line / sheet row (1-based).
pub const SOURCE: &str = "_source";
pub const FILE: &str = "_file";
pub const ROW: &str = "_row";
/// Why a row cannot take part in matching (empty SKU, empty quantity...); null if it can.
pub const INVALID: &str = "_invalid";
/// The row's quantity cell held a placeholder declared to mean "not stocked here".
pub const ABSENT: &str = "_absent";

/// The frame's internal scales (precision.rs): wide enough for every declared setting,
/// so that a quantity or cost is kept exactly as the source states it and a value
/// (quantity × cost) exactly at the sum of both.
pub const QTY_SCALE: usize = 9;
pub const COST_SCALE: usize = 12;
pub const VALUE_SCALE: usize = QTY_SCALE + COST_SCALE;

/// Quantities: Decimal(38,9). Fractional quantities are real (weighed goods).
pub fn qty_type() -> DataType {
    DataType::Decimal(38, QTY_SCALE)
}

/// Unit costs: Decimal(38,12). Never f64.
pub fn cost_type() -> DataType {
    DataType::Decimal(38, COST_SCALE)
}

/// Values at cost (quantity × unit cost), exact: Decimal(38,21).
pub fn value_type() -> DataType {
    DataType::Decimal(38, VALUE_SCALE)
}

/// A canonical column a source's header can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Location,
    Sku,
    Gtin,
    Description,
    Category,
    Bin,
    RecountOf,
    Qty,
    Uom,
    UnitCost,
    AsOf,
    Item,
    Factor,
    Movement,
}

impl Field {
    pub fn column(self) -> &'static str {
        match self {
            Field::Location => LOCATION,
            Field::Sku => SKU,
            Field::Gtin => GTIN,
            Field::Description => DESCRIPTION,
            Field::Category => CATEGORY,
            Field::Bin => BIN,
            Field::RecountOf => RECOUNT_OF,
            Field::Qty => QTY,
            Field::Uom => UOM,
            Field::UnitCost => UNIT_COST,
            Field::AsOf => AS_OF,
            Field::Item => ITEM,
            Field::Factor => FACTOR,
            Field::Movement => MOVEMENT,
        }
    }
}
