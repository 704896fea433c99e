//! From a file's own headers to the canonical columns: renaming, a fixed location for
//! single-store files, location names mapped to codes, and the unpivot of wide exports
//! (one quantity column per location, as Square and Lightspeed write them).

use std::path::Path;

use anyhow::{Result, bail};
use polars::prelude::*;

use crate::columns::{LOCATION, QTY, ROW, SKU, UNIT_COST};
use crate::input::RawTable;
use crate::job::Layout;

/// How many leading rows the header hints look through.
pub const PREVIEW_ROWS: usize = 30;

/// Every mapped column must be in the header. When some are not, the error says what the
/// header has and, where the file shows it, what to change: the delimiter (one column
/// found), or the header row (the mapped names are on another line: a title block).
/// `preview` gives the first rows (line or row number, fields) for those hints.
pub fn check_header(
    headers: &[String],
    layout: &Layout,
    path: &Path,
    place: &str,
    delimiter: Option<u8>,
    preview: &dyn Fn() -> Vec<(usize, Vec<String>)>,
) -> Result<()> {
    let has = |h: &str| headers.iter().any(|x| x == h);
    let mut missing: Vec<String> = Vec::new();
    for (field, first) in &layout.columns {
        let others = layout.alternatives.get(field).cloned().unwrap_or_default();
        if layout.optional.contains(field) || has(first) || others.iter().any(|h| has(h)) {
            continue;
        }
        let or: String = others.iter().map(|h| format!(" or {h:?}")).collect();
        missing.push(format!("{first:?}{or} (mapped to {})", field.column()));
    }
    for part in layout.sku_parts.iter().filter(|h| !has(h)) {
        missing.push(format!("{part:?} (a part of the item key)"));
    }
    for (h, _) in layout.skip_when.iter().filter(|(h, _)| !has(h)) {
        missing.push(format!("{h:?} (in skip_when)"));
    }
    // The headers the hints look for on other rows: each field's first choice.
    let wanted: Vec<&str> = layout
        .columns
        .iter()
        .filter(|(f, _)| !layout.optional.contains(f))
        .map(|(_, h)| h.as_str())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = headers
        .iter()
        .filter(|h| h.as_str() != ROW)
        .take(12)
        .map(|h| format!("{:?}", h.chars().take(40).collect::<String>()))
        .collect();
    let more = headers.len().saturating_sub(12);
    let mut msg = format!(
        "{}: column {} not found in the header ({place}); the header has {} column{}: {}{}",
        path.display(),
        missing.join(", "),
        headers.len(),
        if headers.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    if let (Some(d), [only]) = (delimiter, headers) {
        let other = [b';', b'\t', b'|', b',']
            .into_iter()
            .filter(|c| *c != d)
            .max_by_key(|c| only.bytes().filter(|b| b == c).count())
            .filter(|c| only.as_bytes().contains(c));
        if let Some(c) = other {
            let shown = if c == b'\t' {
                "\\t".to_string()
            } else {
                (c as char).to_string()
            };
            msg.push_str(&format!(
                "\n    hint: found 1 column; is the delimiter '{shown}'? set delimiter = \"{shown}\""
            ));
        }
    }
    let rows = preview();
    if let Some((n, _)) = rows.iter().find(|(n, fields)| {
        *n != layout.header_row
            && !wanted.is_empty()
            && wanted.iter().all(|h| fields.iter().any(|f| f.trim() == *h))
    }) {
        let what = if place.starts_with("line") {
            "line"
        } else {
            "row"
        };
        msg.push_str(&format!(
            "\n    hint: the header is on {what} {n}: set header_row = {n}"
        ));
    }
    if layout.preset.is_none()
        && let Some(p) = crate::job::preset::looks_like(headers)
    {
        msg.push_str(&format!(
            "\n    hint: the header looks like {}: set preset = \"{}\" (docs/presets.md)",
            p.system.split(':').next().unwrap_or(p.system),
            p.name
        ));
    }
    bail!(msg)
}

/// The layout with the header row and skipped rows a title block puts it at, when the
/// layout has markers for one and the first rows show them.
pub fn locate_header(
    layout: &Layout,
    preview: &dyn Fn() -> Vec<(usize, Vec<String>)>,
) -> Option<Layout> {
    let (header, data) = layout.header_marker.as_ref()?;
    let rows = preview();
    let first_is = |marker: &str| {
        rows.iter()
            .find(|(_, f)| f.first().is_some_and(|c| c.trim() == marker))
            .map(|(n, _)| *n)
    };
    let header_row = first_is(header)?;
    let data_after = first_is(data).filter(|d| *d > header_row);
    let mut located = layout.clone();
    located.header_row = header_row;
    located.skip_rows = data_after.map_or(0, |d| d - header_row);
    Some(located)
}

pub fn apply(raw: RawTable, layout: &Layout, path: &Path) -> Result<RawTable> {
    let RawTable {
        frame,
        headers,
        row_label,
        undecodable_rows,
        skipped,
    } = raw;
    let header_place = if row_label == "line" {
        format!("line {}", layout.header_row)
    } else {
        format!("{row_label} {}", layout.header_row)
    };

    check_header(&headers, layout, path, &header_place, None, &Vec::new)?;
    let mapping = layout.for_headers(&headers);

    // Rows a system writes for other purposes (image rows, totals) leave first, counted.
    let (frame, skipped) = if layout.skip_when.is_empty() {
        (frame, skipped)
    } else {
        let skip = layout
            .skip_when
            .iter()
            .map(|(h, v)| {
                let cell = col(h.as_str())
                    .cast(DataType::String)
                    .str()
                    .strip_chars(lit(NULL));
                if v.is_empty() {
                    cell.clone().is_null().or(cell.eq(lit("")))
                } else {
                    cell.eq(lit(v.as_str())).fill_null(lit(false))
                }
            })
            .reduce(|a, b| a.and(b))
            .expect("skip_when is not empty");
        let before = frame.height();
        let kept = frame.lazy().filter(skip.not()).collect()?;
        let n = (before - kept.height()) as u64;
        (kept, skipped + n)
    };

    // An item key made of several columns: the non-empty parts, joined.
    let sku_expr = |header: &str| -> Expr {
        if layout.sku_parts.len() > 1 {
            let parts: Vec<Expr> = layout
                .sku_parts
                .iter()
                .map(|h| {
                    let t = col(h.as_str()).str().strip_chars(lit(NULL));
                    when(t.clone().eq(lit(""))).then(lit(NULL)).otherwise(t)
                })
                .collect();
            concat_str(parts, " / ", true).alias(SKU)
        } else {
            col(header).alias(SKU)
        }
    };
    let mapped: Vec<Expr> = mapping
        .iter()
        .map(|(field, header)| {
            if *field == crate::columns::Field::Sku {
                sku_expr(header)
            } else {
                col(header.as_str()).alias(field.column())
            }
        })
        .chain(std::iter::once(col(ROW)))
        .collect();

    let mut frame = match &layout.unpivot {
        None => frame.lazy().select(mapped).collect()?,
        Some(unpivot) => {
            let qty_cols = matching(&headers, |h| layout.qty_location(h));
            if qty_cols.is_empty() {
                bail!(
                    "{}: no header fits the unpivot pattern \"{}{{location}}{}\" ({header_place})",
                    path.display(),
                    unpivot.qty.prefix,
                    unpivot.qty.suffix
                );
            }
            let cost_cols = matching(&headers, |h| layout.cost_location(h));
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

    // The SKU inside a display name (`[FURN_0001] Desk` → FURN_0001); a text the pattern
    // does not fit stays as it is.
    if let (Some(re), true) = (
        &layout.sku_pattern,
        frame.get_column_names().iter().any(|c| c.as_str() == SKU),
    ) {
        let extracted = frame
            .column(SKU)?
            .str()?
            .apply_into_string_amortized(|sku, out| {
                let code = re
                    .captures(sku)
                    .and_then(|c| c.get(1))
                    .map_or(sku, |m| m.as_str());
                out.push_str(code.trim());
            });
        frame.with_column(extracted.into_series().into())?;
    }
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
        undecodable_rows,
        skipped,
    })
}

/// (location, header) for each header that is a location column, in file order.
fn matching<'h>(
    headers: &'h [String],
    location: impl Fn(&'h str) -> Option<&'h str>,
) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|h| location(h).map(|loc| (loc.to_string(), h.clone())))
        .collect()
}
