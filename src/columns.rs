//! Canonical column names and types: the contract between the stages (design.md).

use polars::prelude::DataType;

pub const LOCATION: &str = "location";
pub const SKU: &str = "sku";
pub const ITEM_KEY: &str = "item_key";
pub const GTIN: &str = "gtin";
pub const DESCRIPTION: &str = "description";
pub const CATEGORY: &str = "category";
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

pub const QTY_SCALE: usize = 3;
pub const MONEY_SCALE: usize = 4;

/// Quantities: Decimal(18,3). Fractional quantities are real (weighed goods).
pub fn qty_type() -> DataType {
    DataType::Decimal(18, QTY_SCALE)
}

/// Money: Decimal(18,4). Never f64.
pub fn money_type() -> DataType {
    DataType::Decimal(18, MONEY_SCALE)
}

/// Differences of quantities may need more digits than either side.
pub fn qty_delta_type() -> DataType {
    DataType::Decimal(38, QTY_SCALE)
}

pub fn money_delta_type() -> DataType {
    DataType::Decimal(38, MONEY_SCALE)
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
