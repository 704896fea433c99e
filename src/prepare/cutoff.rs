//! Step 4 of preparing a side: the cut-off. Each row is stamped with the time it holds
//! for (`_as_of`: its own cell, else its source's declared time), and with movements,
//! rolled forward to the pairing's latest time (`_moved`), so that two snapshots taken
//! hours apart are compared as of one moment.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use chrono::{DateTime, FixedOffset};
use polars::prelude::*;

use super::added::{MOVED, ROW_AS_OF};
use crate::columns::*;

/// `_as_of`: the row's own as_of cell, else its source's declared as_of. A cell that is
/// not a time with an offset is an error when `strict` (the cut-off needs it), else it
/// is carried as written.
pub(super) fn stamp_as_of(
    frame: &mut DataFrame,
    declared: &BTreeMap<String, DateTime<FixedOffset>>,
    strict: bool,
) -> Result<()> {
    let cells = frame.column(AS_OF)?.str()?.clone();
    if cells.null_count() == frame.height() && declared.is_empty() {
        // No times anywhere: `_as_of` stays the null column `with_defaults` gave it.
        return Ok(());
    }
    if cells.null_count() == frame.height() {
        // The usual case: one declared time per source, set by expression.
        let mut time = lit(NULL).cast(DataType::String);
        for (name, at) in declared {
            time = when(col(SOURCE).eq(lit(name.as_str())))
                .then(lit(utc_text(*at)))
                .otherwise(time);
        }
        *frame = std::mem::take(frame)
            .lazy()
            .with_column(time.alias(ROW_AS_OF))
            .collect()?;
        return Ok(());
    }
    let sources = frame.column(SOURCE)?.str()?.clone();
    let files = frame.column(FILE)?.str()?.clone();
    let rows = frame.column(ROW)?.u64()?.clone();
    let mut out = Vec::with_capacity(frame.height());
    let mut bad = Vec::new();
    for i in 0..frame.height() {
        let time = match cells.get(i).map(str::trim).filter(|c| !c.is_empty()) {
            Some(text) => match crate::values::parse_time(text) {
                Some(t) => Some(utc_text(t)),
                None if strict => {
                    bad.push(format!(
                        "{}:{}: column as_of: {text:?} is not a time with an offset",
                        files.get(i).unwrap_or(""),
                        rows.get(i).unwrap_or(0)
                    ));
                    None
                }
                None => Some(text.to_string()),
            },
            None => sources
                .get(i)
                .and_then(|s| declared.get(s))
                .map(|t| utc_text(*t)),
        };
        out.push(time);
    }
    if !bad.is_empty() {
        let n = bad.len();
        bad.truncate(10);
        bail!(
            "{n} bad as_of cell(s); the cut-off roll-forward needs times with an offset:\n{}",
            bad.join("\n")
        );
    }
    frame.with_column(Column::new(ROW_AS_OF.into(), out))?;
    Ok(())
}

/// A time as UTC RFC 3339 text of one width, so that times compare as text.
fn utc_text(t: DateTime<FixedOffset>) -> String {
    t.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn latest_as_of(frames: &[&DataFrame]) -> Result<Option<DateTime<FixedOffset>>> {
    let mut latest = None;
    for f in frames {
        for t in f.column(ROW_AS_OF)?.str()?.iter().flatten() {
            let t = DateTime::parse_from_rfc3339(t)?;
            if latest.is_none_or(|l| t > l) {
                latest = Some(t);
            }
        }
    }
    Ok(latest)
}

/// Adds to each row with an as-of time the movements of its item up to `latest`.
pub(super) fn roll_forward(
    frame: &mut DataFrame,
    movements: &crate::rules::cutoff::Movements,
    latest: DateTime<FixedOffset>,
) -> Result<()> {
    let (locations, keys, times) = (
        frame.column(LOCATION)?.str()?.clone(),
        frame.column(ITEM_KEY)?.str()?.clone(),
        frame.column(ROW_AS_OF)?.str()?.clone(),
    );
    let qty = frame.column(QTY)?.decimal()?.clone();
    let mut moved: Vec<Option<i128>> = Vec::with_capacity(frame.height());
    let mut rolled: Vec<Option<i128>> = Vec::with_capacity(frame.height());
    let mut any = false;
    for i in 0..frame.height() {
        let q = qty.physical().get(i);
        let net = match (locations.get(i), keys.get(i), times.get(i)) {
            (Some(l), Some(k), Some(t)) => {
                movements.net(l, k, DateTime::parse_from_rfc3339(t)?, latest)
            }
            _ => None,
        };
        match (net, q) {
            (Some(net), Some(q)) => {
                let mut net = net;
                net.rescale(QTY_SCALE as u32);
                moved.push(Some(net.mantissa()));
                rolled.push(Some(q + net.mantissa()));
                any = true;
            }
            _ => {
                moved.push(None);
                rolled.push(q);
            }
        }
    }
    if any {
        let qty = Int128Chunked::from_iter_options(QTY.into(), rolled.into_iter())
            .into_decimal(38, QTY_SCALE)?;
        frame.with_column(qty.into_series().into_column())?;
        let moved = Int128Chunked::from_iter_options(MOVED.into(), moved.into_iter())
            .into_decimal(38, QTY_SCALE)?;
        frame.with_column(moved.into_series().into_column())?;
    }
    Ok(())
}
