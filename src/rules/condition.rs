//! Rule conditions, evaluated as polars expressions over the discrepancy frame, so a
//! whole run is decided in a few vectorised passes whatever the number of lines.
//!
//! A rule's kind is one closed enum, `RuleKind`, read straight from the rules file.
//! Adding a kind: one variant there, and its arm in each method below (`expr` says what
//! it tests, `can_apply_to` which lines it may decide).

use polars::prelude::*;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::columns::{COST_SCALE, QTY_SCALE, VALUE_SCALE};
use crate::discrepancy::Kind;
use crate::schema::line;

/// What a rule tests, as the rules file names it (`kind = "percent_of_book"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// |qty_delta| ≤ max (quantity units).
    AbsoluteQty,
    /// |qty_delta| ≤ max % of |book_qty|; never holds where the book has no quantity.
    PercentOfBook,
    /// |value_delta| ≤ max (money); never holds where no unit cost is known.
    ValueAtCost,
    /// |cost_delta| ≤ max (money per unit), for cost mismatches.
    UnitCost,
    /// Matches every line in scope.
    Always,
}

impl RuleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::AbsoluteQty => "absolute_qty",
            RuleKind::PercentOfBook => "percent_of_book",
            RuleKind::ValueAtCost => "value_at_cost",
            RuleKind::UnitCost => "unit_cost",
            RuleKind::Always => "always",
        }
    }

    /// Whether the kind compares against a `max`.
    pub fn takes_max(self) -> bool {
        !matches!(self, RuleKind::Always)
    }

    pub fn can_apply_to(self, kind: Kind) -> bool {
        // Explained lines are decided by the movements that explain them, never by a rule.
        if kind == Kind::Explained {
            return false;
        }
        match self {
            RuleKind::AbsoluteQty | RuleKind::PercentOfBook | RuleKind::ValueAtCost => {
                kind.is_qty_difference()
            }
            RuleKind::UnitCost => kind == Kind::CostMismatch,
            RuleKind::Always => true,
        }
    }

    /// The kinds a rule decides when it names none: a tolerance (absolute_qty,
    /// percent_of_book, value_at_cost) decides quantity mismatches only. A missing line
    /// counts the absent side as 0, so `max = 1` would also wave through an item that one
    /// system lacks: a tolerance decides missing lines only when `applies_to` names them.
    pub fn applies_by_default(self, kind: Kind) -> bool {
        match self {
            RuleKind::AbsoluteQty | RuleKind::PercentOfBook | RuleKind::ValueAtCost => {
                kind == Kind::QtyMismatch
            }
            RuleKind::UnitCost | RuleKind::Always => self.can_apply_to(kind),
        }
    }

    pub fn applies_hint(self) -> &'static str {
        match self {
            RuleKind::UnitCost => "unit_cost rules decide cost_mismatch lines only",
            RuleKind::AbsoluteQty
            | RuleKind::PercentOfBook
            | RuleKind::ValueAtCost
            | RuleKind::Always => {
                "quantity rules decide missing_in_book, missing_in_observed and qty_mismatch lines"
            }
        }
    }
}

/// A rule's kind with its threshold: `max` is there exactly when the kind takes one
/// (`Condition::new` is the only way to make one).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    kind: RuleKind,
    max: Option<Decimal>,
}

/// Exact decimal literal at a given scale (via its text, so nothing passes through f64).
pub fn dec(value: Decimal, scale: usize) -> Expr {
    lit(value.to_string()).cast(DataType::Decimal(38, scale))
}

impl Condition {
    /// `None` when `max` is given to a kind that takes none, or missing from one that
    /// needs it (the rules file reports which).
    pub fn new(kind: RuleKind, max: Option<Decimal>) -> Option<Condition> {
        (kind.takes_max() == max.is_some()).then_some(Condition { kind, max })
    }

    pub fn always() -> Condition {
        Condition {
            kind: RuleKind::Always,
            max: None,
        }
    }

    pub fn kind(&self) -> RuleKind {
        self.kind
    }

    pub fn name(&self) -> &'static str {
        self.kind.as_str()
    }

    pub fn threshold(&self) -> Option<Decimal> {
        self.max
    }

    /// A boolean expression over the discrepancy frame; null counts as false.
    pub fn expr(&self) -> Expr {
        // Some for every kind that takes a max (Condition::new).
        let max = self.max.unwrap_or_default();
        let e = match self.kind {
            RuleKind::AbsoluteQty => col(line::QTY_DELTA).abs().lt_eq(dec(max, QTY_SCALE)),
            RuleKind::PercentOfBook => {
                // |delta| / |book| × 100 ≤ max, multiplied out so that nothing divides.
                (col(line::QTY_DELTA).abs() * dec(Decimal::ONE_HUNDRED, 0))
                    .lt_eq(dec(max, QTY_SCALE) * col(line::BOOK_QTY).abs())
            }
            RuleKind::ValueAtCost => col(line::VALUE_DELTA).abs().lt_eq(dec(max, VALUE_SCALE)),
            RuleKind::UnitCost => col(line::COST_DELTA).abs().lt_eq(dec(max, COST_SCALE)),
            RuleKind::Always => lit(true),
        };
        e.fill_null(lit(false))
    }
}
