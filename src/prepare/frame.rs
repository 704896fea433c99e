//! A side's steps written back into its frame: the new keys and units as columns, the
//! rows that left matching flagged, and the factors applied to the quantities.

use std::borrow::Cow;

use anyhow::Result;
use polars::prelude::*;

use rust_decimal::Decimal;

use super::added::{FACTOR_COL, FLAG, FLAG_DETAIL, REJECT, VIA};
use super::side::SideRows;
use crate::columns::*;
use crate::discrepancy::Kind;
use crate::reference::References;
use crate::rules::RuleSet;

/// Writes a side's steps back into its frame: keys, flags, units and factors.
pub(super) fn write_back(
    mut frame: DataFrame,
    side: SideRows,
    rules: &RuleSet,
    refs: &References,
) -> Result<DataFrame> {
    let n = frame.height();
    if side.changed_keys {
        frame.with_column(Column::new(ITEM_KEY.into(), text(&side.item_key)))?;
        frame.with_column(Column::new(VIA.into(), side.via.clone()))?;
    }
    if side.changed_uom {
        frame.with_column(Column::new(UOM.into(), text(&side.uom)))?;
    }
    if side.flag.iter().any(Option::is_some) {
        let kinds: Vec<Option<&str>> = side
            .flag
            .iter()
            .map(|f| f.as_ref().map(|_| Kind::InvalidGtin.as_str()))
            .collect();
        frame.with_column(Column::new(FLAG.into(), kinds))?;
        frame.with_column(Column::new(FLAG_DETAIL.into(), side.flag.clone()))?;
    }
    let Some(conversions) = refs.conversions.as_ref() else {
        if side.uom.iter().any(Option::is_some) && side.changed_uom {
            // A pack barcode gave a unit but the job has no conversions: every such row
            // is a finding (never a factor of 1).
            return reject_packs(frame, &side);
        }
        return Ok(frame);
    };
    if side.uom.iter().all(Option::is_none) {
        // No row states a unit: every quantity is in its item's base unit already.
        return Ok(frame);
    }
    let qty = frame.column(QTY)?.decimal()?.clone();
    let cost = frame.column(UNIT_COST)?.decimal()?.clone();
    let mut costs: Vec<Option<i128>> = Vec::with_capacity(n);
    let units = &rules.units;
    let mut factors: Vec<Option<i128>> = vec![None; n];
    let mut converted: Vec<Option<i128>> = Vec::with_capacity(n);
    let mut reject = side.reject.clone();
    let mut invalid = owned_text(&frame, INVALID)?;
    let (files, rows) = (frame.column(FILE)?.str()?, frame.column(ROW)?.u64()?);
    let place = |i: usize| {
        format!(
            "{}:{}",
            files.get(i).unwrap_or(""),
            rows.get(i).unwrap_or(0)
        )
    };
    for i in 0..n {
        let q = qty.physical().get(i);
        let c = cost.physical().get(i);
        let (Some(uom), Some(item), true) = (&side.uom[i], &side.item_key[i], side.eligible[i])
        else {
            converted.push(q);
            costs.push(c);
            continue;
        };
        match conversions.factor(item, uom, units) {
            Ok(f) => {
                // Exact products, rounded to the declared places by the declared rule.
                let (quantity, money) = (rules.precision.quantity, rules.precision.money);
                let overflow = || {
                    anyhow::anyhow!(
                        "{}: the quantity or cost is too large to convert by {f}",
                        place(i)
                    )
                };
                converted.push(match q {
                    Some(q) => {
                        let each = Decimal::from_i128_with_scale(q, QTY_SCALE as u32)
                            .checked_mul(f)
                            .ok_or_else(overflow)?
                            .round_dp_with_strategy(quantity.scale, quantity.rounding.strategy());
                        Some(each.mantissa() * 10i128.pow(QTY_SCALE as u32 - each.scale()))
                    }
                    None => None,
                });
                // A case costs twelve times an each: the cost goes per base unit too.
                costs.push(match c {
                    Some(c) => {
                        let per_base = Decimal::from_i128_with_scale(c, COST_SCALE as u32)
                            .checked_div(f)
                            .ok_or_else(overflow)?
                            .round_dp_with_strategy(money.cost_scale, money.rounding.strategy());
                        Some(per_base.mantissa() * 10i128.pow(COST_SCALE as u32 - per_base.scale()))
                    }
                    None => None,
                });
                let mut f6 = f;
                f6.rescale(6);
                factors[i] = Some(f6.mantissa());
            }
            Err(why) => {
                converted.push(q);
                costs.push(c);
                reject[i] = Some(Kind::UnknownUnit.as_str().to_string());
                invalid[i] = Some(why);
            }
        }
    }
    let qty = Int128Chunked::from_iter_options(QTY.into(), converted.into_iter())
        .into_decimal(38, QTY_SCALE)?;
    frame.with_column(qty.into_series().into_column())?;
    let cost = Int128Chunked::from_iter_options(UNIT_COST.into(), costs.into_iter())
        .into_decimal(38, COST_SCALE)?;
    frame.with_column(cost.into_series().into_column())?;
    let factor = Int128Chunked::from_iter_options(FACTOR_COL.into(), factors.into_iter())
        .into_decimal(18, 6)?;
    frame.with_column(factor.into_series().into_column())?;
    frame.with_column(Column::new(REJECT.into(), reject))?;
    frame.with_column(Column::new(INVALID.into(), invalid))?;
    Ok(frame)
}

/// A text column as owned values, for a step that rewrites some of them.
fn owned_text(frame: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    Ok(frame
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// Borrowed text for a new column.
fn text<'s>(values: &'s [Option<Cow<'_, str>>]) -> Vec<Option<&'s str>> {
    values.iter().map(|t| t.as_deref()).collect()
}

fn reject_packs(mut frame: DataFrame, side: &SideRows) -> Result<DataFrame> {
    let mut reject: Vec<Option<String>> = side.reject.clone();
    let mut invalid = owned_text(&frame, INVALID)?;
    let original = frame.column(UOM)?.str()?.clone();
    for i in 0..side.uom.len() {
        if side.eligible[i] && side.uom[i].is_some() && original.get(i).is_none() {
            reject[i] = Some(Kind::UnknownUnit.as_str().to_string());
            invalid[i] = Some(format!(
                "the code counts in {:?}, and the job has no conversions source",
                side.uom[i].as_deref().unwrap_or("")
            ));
        }
    }
    frame.with_column(Column::new(REJECT.into(), reject))?;
    frame.with_column(Column::new(INVALID.into(), invalid))?;
    Ok(frame)
}
