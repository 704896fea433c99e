//! Exact decimals at the source's precision, and the declared rules that round them.
//!
//! Quantities and unit costs are kept exactly as the source states them, up to the
//! declared number of decimal places (`[quantity] scale`, `[money] cost_scale`); a value
//! (quantity × unit cost) is computed exactly at the sum of both scales. Rounding happens
//! only where a value is shown, summed or written: to `[money] scale` places, by
//! `[money] rounding`. A sum is taken over the exact values and rounded once, so that a
//! total is what an auditor gets from the source's own figures. Unit conversions round a
//! quantity to `[quantity] scale` by `[quantity] rounding`, and the cost per base unit to
//! `[money] cost_scale` by `[money] rounding`.
//!
//! The frame's decimal columns are at fixed internal scales wide enough for every
//! setting (columns.rs): `QTY_SCALE`, `COST_SCALE` and `VALUE_SCALE`.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::columns::{COST_SCALE, QTY_SCALE, VALUE_SCALE};

/// How a value is rounded to fewer decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Ties to the even digit (banker's rounding): 0.00005 → 0.0000, 0.00015 → 0.0002.
    #[default]
    HalfEven,
    /// Ties away from zero, as taught at school: 0.00005 → 0.0001, -0.00005 → -0.0001.
    HalfUp,
}

impl Rounding {
    pub fn as_str(self) -> &'static str {
        match self {
            Rounding::HalfEven => "half_even",
            Rounding::HalfUp => "half_up",
        }
    }

    pub fn strategy(self) -> rust_decimal::RoundingStrategy {
        match self {
            Rounding::HalfEven => rust_decimal::RoundingStrategy::MidpointNearestEven,
            Rounding::HalfUp => rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        }
    }
}

/// `[money]`: how values are shown, summed and written, and how exact unit costs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Decimal places of a value (quantity × cost) where it is shown, summed or written.
    pub scale: u32,
    pub rounding: Rounding,
    /// The most decimal places a unit cost may have in an input.
    pub cost_scale: u32,
}

/// `[quantity]`: how exact quantities are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quantity {
    /// The most decimal places a quantity may have in an input (and after a conversion).
    pub scale: u32,
    /// How a converted quantity (cases into eaches) is rounded to `scale`.
    pub rounding: Rounding,
}

/// The precision in force for a run, as the rules file declares it (recorded in the
/// manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Precision {
    pub money: Money,
    pub quantity: Quantity,
}

/// The most decimal places each setting may declare: the frame's internal scales.
pub const MAX_COST_SCALE: u32 = COST_SCALE as u32;
pub const MAX_QTY_SCALE: u32 = QTY_SCALE as u32;
pub const MAX_MONEY_SCALE: u32 = COST_SCALE as u32;

impl Default for Precision {
    fn default() -> Self {
        Precision {
            money: Money {
                scale: 4,
                rounding: Rounding::HalfEven,
                // ERPNext's valuation_rate is decimal(21,9).
                cost_scale: 9,
            },
            quantity: Quantity {
                scale: 9,
                rounding: Rounding::HalfEven,
            },
        }
    }
}

/// A mantissa at scale `from` rounded to scale `to` (≤ `from`) by `rule`, exactly.
pub fn round(mantissa: i128, from: u32, to: u32, rule: Rounding) -> i128 {
    if to >= from {
        return mantissa * 10i128.pow(to - from);
    }
    let unit = 10i128.pow(from - to);
    let (q, r) = (mantissa / unit, mantissa % unit);
    let (twice, negative) = (r.unsigned_abs() * 2, mantissa < 0);
    let away = match twice.cmp(&unit.unsigned_abs()) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => match rule {
            Rounding::HalfUp => true,
            Rounding::HalfEven => q % 2 != 0,
        },
    };
    match (away, negative) {
        (false, _) => q,
        (true, false) => q + 1,
        (true, true) => q - 1,
    }
}

/// A decimal as a mantissa at `scale` (rounded half-even if it has more places);
/// `None` if it does not fit in i128.
pub fn mantissa_at(d: rust_decimal::Decimal, scale: u32) -> Option<i128> {
    let (m, s) = (d.mantissa(), d.scale());
    if s <= scale {
        m.checked_mul(10i128.checked_pow(scale - s)?)
    } else {
        Some(round(m, s, scale, Rounding::HalfEven))
    }
}

/// A mantissa at `scale` as text with exactly `places` decimals (`scale` ≥ `places`
/// means the mantissa was rounded already).
pub fn fixed(mantissa: i128, scale: u32, places: u32) -> String {
    let m = if places >= scale {
        mantissa * 10i128.pow(places - scale)
    } else {
        mantissa / 10i128.pow(scale - places)
    };
    let mut out = String::new();
    write_fixed(&mut out, m, places);
    out
}

/// Appends a mantissa (at `places`) as text with exactly `places` decimals: the digits
/// written by hand, since whole columns of lines go through here.
fn write_fixed(out: &mut String, mantissa: i128, places: u32) {
    let mut digits = [0u8; 40];
    let mut n = mantissa.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    // At least one digit before the point: 0.0005, not .0005.
    while len <= places as usize {
        digits[len] = b'0';
        len += 1;
    }
    if mantissa < 0 {
        out.push('-');
    }
    for (i, d) in digits[..len].iter().rev().enumerate() {
        if places > 0 && i == len - places as usize {
            out.push('.');
        }
        out.push(*d as char);
    }
}

/// A mantissa at `scale` as the shortest exact text: trailing zeros dropped, so a
/// quantity reads `12`, as the source stated it.
pub fn exact(mantissa: i128, scale: u32) -> String {
    exact_min(mantissa, scale, 0)
}

/// Like `exact`, with at least `min` decimal places: a cost reads `9.1000` (money) or
/// `361.864861` (all its places).
pub fn exact_min(mantissa: i128, scale: u32, min: u32) -> String {
    let mut out = String::new();
    write_exact_min(&mut out, mantissa, scale, min);
    out
}

fn write_exact_min(out: &mut String, mantissa: i128, scale: u32, min: u32) {
    let mut places = scale;
    let mut m = mantissa;
    while places > min && m % 10 == 0 {
        m /= 10;
        places -= 1;
    }
    write_fixed(out, m, places);
}

/// A decimal expression as exact text without trailing zeros (`12.000000000` → `12`),
/// for texts polars builds (a conflict's detail): the lazy counterpart of `exact`, for
/// decimal columns with a scale above 0.
pub fn exact_expr(e: Expr) -> Expr {
    e.cast(DataType::String)
        .str()
        .strip_chars_end(lit("0"))
        .str()
        .strip_chars_end(lit("."))
}

impl Money {
    /// A value at `VALUE_SCALE` as shown: rounded to `scale` places by the rule.
    pub fn show(&self, value: i128) -> String {
        fixed(
            round(value, VALUE_SCALE as u32, self.scale, self.rounding),
            self.scale,
            self.scale,
        )
    }
}

impl Precision {
    /// A frame for people (CSV files, reports): every decimal column as text. Values
    /// (the columns at `VALUE_SCALE`) rounded to the money scale by the declared rule;
    /// quantities and costs (`COST_SCALE`) exactly, without trailing zeros, costs with
    /// at least the money scale's places.
    pub fn for_people(&self, frame: &DataFrame) -> PolarsResult<DataFrame> {
        use rayon::prelude::*;
        let decimals: Vec<&Column> = frame
            .columns()
            .iter()
            .filter(|c| matches!(c.dtype(), DataType::Decimal(..)))
            .collect();
        // Columns are independent: all cores, one column each, for a frame large enough
        // to be worth it. A small one (a report page's lines) is done right here: in the
        // thread pool it would wait behind whatever else the run has queued there.
        let texts: Vec<PolarsResult<Column>> = if frame.height() >= 50_000 {
            decimals
                .par_iter()
                .map(|c| self.column_for_people(c))
                .collect()
        } else {
            decimals.iter().map(|c| self.column_for_people(c)).collect()
        };
        let mut out = frame.clone();
        for text in texts {
            out.with_column(text?)?;
        }
        Ok(out)
    }

    /// One column as `for_people` shows it (decimals as text; other columns as they are).
    pub fn column_for_people(&self, column: &Column) -> PolarsResult<Column> {
        let DataType::Decimal(_, scale) = column.dtype() else {
            return Ok(column.clone());
        };
        let scale = *scale as u32;
        let values = column.decimal()?.physical();
        let mut builder = StringChunkedBuilder::new(column.name().clone(), values.len());
        let mut buf = String::with_capacity(48);
        for m in values.iter() {
            let Some(m) = m else {
                builder.append_null();
                continue;
            };
            buf.clear();
            if scale == VALUE_SCALE as u32 {
                let places = self.money.scale;
                write_fixed(
                    &mut buf,
                    round(m, scale, places, self.money.rounding),
                    places,
                );
            } else if scale == COST_SCALE as u32 {
                write_exact_min(&mut buf, m, scale, self.money.scale.min(scale));
            } else {
                write_exact_min(&mut buf, m, scale, 0);
            }
            builder.append_value(&buf);
        }
        Ok(builder.finish().into_series().into_column())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_rules_differ_only_on_ties() {
        // 0.00005 at scale 5 → scale 4.
        assert_eq!(round(5, 5, 4, Rounding::HalfEven), 0);
        assert_eq!(round(5, 5, 4, Rounding::HalfUp), 1);
        assert_eq!(round(15, 5, 4, Rounding::HalfEven), 2);
        assert_eq!(round(15, 5, 4, Rounding::HalfUp), 2);
        assert_eq!(round(-5, 5, 4, Rounding::HalfEven), 0);
        assert_eq!(round(-5, 5, 4, Rounding::HalfUp), -1);
        assert_eq!(round(-25, 5, 4, Rounding::HalfEven), -2);
        assert_eq!(round(-26, 5, 4, Rounding::HalfEven), -3);
        assert_eq!(round(24, 5, 4, Rounding::HalfUp), 2);
        assert_eq!(round(7, 2, 4, Rounding::HalfUp), 700);
    }

    #[test]
    fn rounding_agrees_with_rust_decimal() {
        use rust_decimal::Decimal;
        for m in [
            -1_000_015i128,
            -999_995,
            -5,
            0,
            4,
            5,
            6,
            15,
            25,
            994_999,
            1_234_565,
        ] {
            for rule in [Rounding::HalfEven, Rounding::HalfUp] {
                let want =
                    Decimal::from_i128_with_scale(m, 6).round_dp_with_strategy(2, rule.strategy());
                let got = Decimal::from_i128_with_scale(round(m, 6, 2, rule), 2);
                assert_eq!(got, want, "{m} {rule:?}");
            }
        }
    }

    #[test]
    fn texts_are_exact() {
        assert_eq!(fixed(-5, 4, 4), "-0.0005");
        assert_eq!(fixed(12_3400, 4, 4), "12.3400");
        assert_eq!(fixed(7, 0, 2), "7.00");
        assert_eq!(exact(361_864_861_000, 9), "361.864861");
        assert_eq!(exact(12_000_000_000, 9), "12");
        assert_eq!(exact(-500, 3), "-0.5");
        assert_eq!(exact(0, 9), "0");
        assert_eq!(fixed(0, 4, 4), "0.0000");
        assert_eq!(fixed(-12, 0, 0), "-12");
        assert_eq!(fixed(i128::MIN + 1, 21, 21).len(), 41);
        assert_eq!(exact_min(9_100_000_000_000, 12, 4), "9.1000");
        assert_eq!(exact_min(361_864_861_000_000, 12, 4), "361.864861");
        let money = Precision::default().money;
        // 3 × 361.864861 = 1085.594583, at VALUE_SCALE.
        assert_eq!(
            money.show(1_085_594_583 * 10i128.pow(VALUE_SCALE as u32 - 6)),
            "1085.5946"
        );
    }
}
