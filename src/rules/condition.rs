//! Rule conditions, evaluated as polars expressions over the discrepancy frame, so a
//! whole run is decided in a few vectorised passes whatever the number of lines.
//!
//! Adding a rule kind: one variant here, one arm in `expr`, one in `can_apply_to`, and
//! the raw kind in `raw::RuleKind`.

use polars::prelude::*;
use rust_decimal::Decimal;

use crate::columns::{COST_SCALE, QTY_SCALE, VALUE_SCALE};
use crate::discrepancy::Kind;

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// |qty_delta| ≤ max.
    AbsoluteQty(Decimal),
    /// |qty_delta| ≤ max % of |book_qty|; never holds where the book has no quantity.
    PercentOfBook(Decimal),
    /// |value_delta| ≤ max; never holds where no unit cost is known.
    ValueAtCost(Decimal),
    /// |cost_delta| ≤ max.
    UnitCost(Decimal),
    Always,
}

/// Exact decimal literal at a given scale (via its text, so nothing passes through f64).
pub fn dec(value: Decimal, scale: usize) -> Expr {
    lit(value.to_string()).cast(DataType::Decimal(38, scale))
}

impl Condition {
    pub fn name(&self) -> &'static str {
        match self {
            Condition::AbsoluteQty(_) => "absolute_qty",
            Condition::PercentOfBook(_) => "percent_of_book",
            Condition::ValueAtCost(_) => "value_at_cost",
            Condition::UnitCost(_) => "unit_cost",
            Condition::Always => "always",
        }
    }

    pub fn threshold(&self) -> Option<Decimal> {
        match self {
            Condition::AbsoluteQty(m)
            | Condition::PercentOfBook(m)
            | Condition::ValueAtCost(m)
            | Condition::UnitCost(m) => Some(*m),
            Condition::Always => None,
        }
    }

    pub fn can_apply_to(&self, kind: Kind) -> bool {
        // Explained lines are decided by the movements that explain them, never by a rule.
        if kind == Kind::Explained {
            return false;
        }
        match self {
            Condition::AbsoluteQty(_) | Condition::PercentOfBook(_) | Condition::ValueAtCost(_) => {
                kind.is_qty_difference()
            }
            Condition::UnitCost(_) => kind == Kind::CostMismatch,
            Condition::Always => true,
        }
    }

    /// The kinds a rule decides when it names none: a tolerance (absolute_qty,
    /// percent_of_book, value_at_cost) decides quantity mismatches only. A missing line
    /// counts the absent side as 0, so `max = 1` would also wave through an item that one
    /// system lacks: a tolerance decides missing lines only when `applies_to` names them.
    pub fn applies_by_default(&self, kind: Kind) -> bool {
        match self {
            Condition::AbsoluteQty(_) | Condition::PercentOfBook(_) | Condition::ValueAtCost(_) => {
                kind == Kind::QtyMismatch
            }
            _ => self.can_apply_to(kind),
        }
    }

    pub fn applies_hint(&self) -> &'static str {
        match self {
            Condition::UnitCost(_) => "unit_cost rules decide cost_mismatch lines only",
            _ => {
                "quantity rules decide missing_in_book, missing_in_observed and qty_mismatch lines"
            }
        }
    }

    /// A boolean expression over the discrepancy frame; null counts as false.
    pub fn expr(&self) -> Expr {
        let e = match self {
            Condition::AbsoluteQty(max) => col("qty_delta").abs().lt_eq(dec(*max, QTY_SCALE)),
            Condition::PercentOfBook(max) => {
                // |delta| / |book| × 100 ≤ max, multiplied out so that nothing divides.
                (col("qty_delta").abs() * dec(Decimal::ONE_HUNDRED, 0))
                    .lt_eq(dec(*max, QTY_SCALE) * col("book_qty").abs())
            }
            Condition::ValueAtCost(max) => col("value_delta").abs().lt_eq(dec(*max, VALUE_SCALE)),
            Condition::UnitCost(max) => col("cost_delta").abs().lt_eq(dec(*max, COST_SCALE)),
            Condition::Always => lit(true),
        };
        e.fill_null(lit(false))
    }
}
