//! From a file's own headers to the canonical columns: renaming, a fixed location for
//! single-store files, location names mapped to codes, and the unpivot of wide exports
//! (one quantity column per location, as Square and Lightspeed write them).

use std::path::Path;

use anyhow::{Result, bail};
use polars::prelude::*;

use super::RawTable;
use crate::columns::{LOCATION, QTY, ROW, UNIT_COST};
use crate::job::{Layout, Pattern};

pub fn apply(raw: RawTable, layout: &Layout, path: &Path) -> Result<RawTable> {
    let RawTable {
        frame,
        headers,
        row_label,
    } = raw;
    let header_place = if row_label == "line" {
        format!("line {}", layout.header_row)
    } else {
        format!("{row_label} {}", layout.header_row)
    };

    let missing: Vec<String> = layout
        .columns
        .iter()
        .filter(|(_, h)| !headers.iter().any(|x| x == *h))
        .map(|(f, h)| format!("{h:?} (mapped to {})", f.column()))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: column {} not found in the header ({header_place}); the header has: {}",
            path.display(),
            missing.join(", "),
            headers
                .iter()
                .filter(|h| h.as_str() != ROW)
                .map(|h| format!("{h:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let mapped: Vec<Expr> = layout
        .columns
        .iter()
        .map(|(field, header)| col(header.as_str()).alias(field.column()))
        .chain(std::iter::once(col(ROW)))
        .collect();

    let mut frame = match &layout.unpivot {
        None => frame.lazy().select(mapped).collect()?,
        Some(unpivot) => {
            let qty_cols = matching(&headers, &unpivot.qty);
            if qty_cols.is_empty() {
                bail!(
                    "{}: no header fits the unpivot pattern \"{}{{location}}{}\" ({header_place})",
                    path.display(),
                    unpivot.qty.prefix,
                    unpivot.qty.suffix
                );
            }
            let cost_cols = unpivot
                .unit_cost
                .as_ref()
                .map(|p| matching(&headers, p))
                .unwrap_or_default();
            let mut parts = Vec::with_capacity(qty_cols.len());
            for (location, qty_header) in &qty_cols {
                let mut exprs = mapped.clone();
                exprs.push(lit(location.as_str()).alias(LOCATION));
                exprs.push(col(qty_header.as_str()).alias(QTY));
                if let Some((_, cost_header)) = cost_cols.iter().find(|(l, _)| l == location) {
                    exprs.push(col(cost_header.as_str()).alias(UNIT_COST));
                } else if unpivot.unit_cost.is_some() {
                    exprs.push(lit(NULL).cast(DataType::String).alias(UNIT_COST));
                }
                parts.push(frame.clone().lazy().select(exprs));
            }
            concat(parts, UnionArgs::default())?.collect()?
        }
    };

    if let Some(location) = &layout.fixed_location {
        frame = frame
            .lazy()
            .with_column(lit(location.clone()).alias(LOCATION))
            .collect()?;
    }
    if !layout.location_names.is_empty()
        && frame
            .get_column_names()
            .iter()
            .any(|c| c.as_str() == LOCATION)
    {
        let names = &layout.location_names;
        let renamed = frame
            .column(LOCATION)?
            .str()?
            .apply_into_string_amortized(|loc, out| {
                let trimmed = loc.trim();
                out.push_str(names.get(trimmed).map_or(trimmed, String::as_str));
            });
        frame.with_column(renamed.into_series().into())?;
    }
    Ok(RawTable {
        frame,
        headers,
        row_label,
    })
}

/// (location, header) for each header that fits the pattern, in file order.
fn matching(headers: &[String], pattern: &Pattern) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|h| pattern.location(h).map(|loc| (loc.to_string(), h.clone())))
        .collect()
}
