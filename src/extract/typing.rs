//! Typing: text cells into the canonical columns, with quantities and money parsed into
//! exact decimals (never through f64).
//!
//! Row-level problems that a reconciliation can live with (an empty SKU, an empty
//! quantity) mark the row invalid: it becomes an `invalid_row` finding. A cell that is
//! not a number and not a declared placeholder means the file is not what the job says
//! it is, so the run stops (exit 2) and names file, line and column.

use std::path::Path;

use anyhow::{Result, bail};
use polars::prelude::*;

use crate::columns::{
    ABSENT, COST_SCALE, FILE, Field, INVALID, LOCATION, QTY, QTY_SCALE, ROW, SKU, SOURCE, UNIT_COST,
};
use crate::input::RawTable;
use crate::job::{Blank, Layout, Placeholder};
use crate::values::{BadNumber, parse_number, parse_plain, to_mantissa};

/// The string columns every snapshot has, null where the source has no such column.
const TEXT_FIELDS: [Field; 9] = [
    Field::Location,
    Field::Sku,
    Field::Gtin,
    Field::Description,
    Field::Category,
    Field::Bin,
    Field::RecountOf,
    Field::Uom,
    Field::AsOf,
];

/// How many bad cells one error message lists before it summarises.
const MAX_LISTED: usize = 10;

pub fn apply(raw: RawTable, source: &str, path: &Path, layout: &Layout) -> Result<DataFrame> {
    let RawTable {
        frame,
        row_label,
        headers,
        ..
    } = raw;
    let mapping = layout.for_headers(&headers);
    let height = frame.height();
    let rows = frame.column(ROW)?.u64()?.clone();
    // Text cells; a typed column (Parquet) as the text of its values.
    let text = |name: &str| -> Result<StringChunked> {
        Ok(match frame.column(name) {
            Ok(c) => as_text(c)?,
            Err(_) => StringChunked::full_null(name.into(), height),
        })
    };
    let place = |i: usize| {
        if row_label == "line" {
            format!("{}:{}", path.display(), rows.get(i).unwrap_or(0))
        } else {
            format!(
                "{}: {row_label} {}",
                path.display(),
                rows.get(i).unwrap_or(0)
            )
        }
    };
    let locations = text(LOCATION)?;
    let header_of = |field: Field, i: usize| -> String {
        if let (Some(u), true) = (
            &layout.unpivot,
            field == Field::Qty || field == Field::UnitCost,
        ) {
            let p = if field == Field::Qty {
                Some(&u.qty)
            } else {
                u.unit_cost.as_ref()
            };
            if let Some(p) = p {
                return format!("{}{}{}", p.prefix, locations.get(i).unwrap_or(""), p.suffix);
            }
        }
        mapping
            .get(&field)
            .cloned()
            .unwrap_or_else(|| field.column().to_string())
    };

    let mut errors = Vec::new();
    // Which hints the message ends with: one per kind of bad cell found.
    // The texts found where a number belongs (a few, distinct), for the hint.
    let mut not_numbers: Vec<String> = Vec::new();
    // Setting → (the most places a cell had, the setting's maximum, what it governs).
    let mut too_exact: std::collections::BTreeMap<&str, (u32, u32, &str)> = Default::default();
    let precision = &layout.precision;
    let mut bad = |i: usize, field: Field, cell: &str, why: BadNumber| {
        let (what, setting, places, max) = if field == Field::Qty {
            (
                "quantities",
                "[quantity] scale",
                precision.quantity.scale,
                crate::precision::MAX_QTY_SCALE,
            )
        } else {
            (
                "unit costs",
                "[money] cost_scale",
                precision.money.cost_scale,
                crate::precision::MAX_COST_SCALE,
            )
        };
        let mut msg = why.message(cell);
        match why {
            BadNumber::NotANumber(_) => {
                let t = cell.trim().chars().take(40).collect::<String>();
                if not_numbers.len() < 3 && !not_numbers.contains(&t) {
                    not_numbers.push(t);
                }
            }
            BadNumber::TooManyPlaces(n) => {
                msg.push_str(&format!(
                    "; {what} may have {places} ({setting} in the rules file)"
                ));
                let e = too_exact.entry(setting).or_insert((n, max, what));
                e.0 = e.0.max(n);
            }
            BadNumber::TooLarge => {}
        }
        errors.push(format!(
            "{}: column {:?} ({}): {msg}",
            place(i),
            header_of(field, i),
            field.column()
        ));
    };
    let qty_text = text(QTY)?;
    let t = std::time::Instant::now();
    // Integers and decimals of a typed column convert exactly, never through text.
    let qty = match exact_typed(
        frame.column(QTY).ok(),
        precision.quantity.scale,
        QTY_SCALE as u32,
        layout.blank,
    ) {
        Some(parsed) => parsed,
        None => parse_column(
            &qty_text,
            precision.quantity.scale,
            QTY_SCALE as u32,
            layout,
            layout.blank,
            &mut |i, cell, why| bad(i, Field::Qty, cell, why),
        ),
    };
    let cost_text = text(UNIT_COST)?;
    let cost = match exact_typed(
        frame.column(UNIT_COST).ok(),
        precision.money.cost_scale,
        COST_SCALE as u32,
        Blank::Invalid,
    ) {
        Some(parsed) => parsed,
        None => parse_column(
            &cost_text,
            precision.money.cost_scale,
            COST_SCALE as u32,
            layout,
            Blank::Invalid,
            &mut |i, cell, why| bad(i, Field::UnitCost, cell, why),
        ),
    };
    if !errors.is_empty() {
        let n = errors.len();
        let mut msg = errors
            .into_iter()
            .take(MAX_LISTED)
            .collect::<Vec<_>>()
            .join("\n");
        if n > MAX_LISTED {
            msg.push_str(&format!("\n... and {} more bad cells", n - MAX_LISTED));
        }
        for (setting, (needed, max, what)) in too_exact {
            if needed <= max {
                msg.push_str(&format!(
                    "\n    hint: to keep {what} as exact as the source states them, set {setting} = {needed} \
                     (at most {max}) in the rules file"
                ));
            } else {
                msg.push_str(&format!(
                    "\n    hint: {what} are kept to at most {max} decimal places ({setting}); \
                     round these cells in the source"
                ));
            }
        }
        for text in &not_numbers {
            let takes_it = crate::job::preset::PRESETS
                .iter()
                .filter(|p| p.absent.iter().any(|a| a.eq_ignore_ascii_case(text)))
                .map(|p| format!("preset = \"{}\"", p.name))
                .next();
            msg.push_str(&format!(
                "\n    hint: {text:?} is not a number: if it means the item is not stocked there, \
                 add placeholders = {{ {text:?} = \"absent\" }} (or {{ {text:?} = \"0\" }} for none on hand){}",
                takes_it.map_or(String::new(), |p| format!("; {p} takes it"))
            ));
        }
        bail!(msg);
    }

    crate::progress::trace("    parse numbers", t);
    let t = std::time::Instant::now();
    let skus = text(SKU)?;
    let blank = |c: Option<&str>| c.is_none_or(|t| t.trim().is_empty());
    // Why a row is invalid, as an index into REASONS (0: it is not).
    let reasons: Vec<u8> = skus
        .iter()
        .zip(locations.iter())
        .zip(qty.valid.iter().zip(&qty.absent))
        .map(|((sku, location), (valid, absent))| {
            if blank(sku) {
                1
            } else if blank(location) {
                2
            } else if !valid && !absent {
                3
            } else {
                0
            }
        })
        .collect();
    let invalid = invalid_column(reasons)?;

    crate::progress::trace("    invalid rows", t);
    let t = std::time::Instant::now();
    let mut columns: Vec<Column> = Vec::with_capacity(16);
    for field in TEXT_FIELDS {
        let name = field.column();
        columns.push(match frame.column(name) {
            Ok(c) if c.dtype() == &DataType::String => c.clone(),
            Ok(c) => as_text(c)?.with_name(name.into()).into_series().into(),
            // A column the source does not have costs nothing: one null for all rows.
            Err(_) => Column::full_null(name.into(), height, &DataType::String),
        });
    }
    let absent = BooleanChunked::from_slice(ABSENT.into(), &qty.absent);
    columns.push(decimal_column(QTY, qty, QTY_SCALE)?);
    columns.push(decimal_column(UNIT_COST, cost, COST_SCALE)?);
    // Provenance that is the same on every row of a file: constant columns, no copies.
    let constant = |name: &str, value: &str| {
        Column::new_scalar(
            name.into(),
            Scalar::new(DataType::String, AnyValue::StringOwned(value.into())),
            height,
        )
    };
    columns.push(constant(SOURCE, source));
    columns.push(constant(FILE, &path.to_string_lossy()));
    columns.push(frame.column(ROW)?.clone());
    columns.push(invalid);
    columns.push(absent.into_series().into());
    let frame = DataFrame::new(height, columns)?;
    crate::progress::trace("    columns", t);
    Ok(frame)
}

/// Why a row without a SKU is invalid (unless its barcode is the match key).
pub const EMPTY_SKU: &str = "the SKU is empty";

const REASONS: [&str; 4] = [
    "",
    EMPTY_SKU,
    "the location is empty",
    "the quantity is empty",
];

/// The `_invalid` column from reason codes: all null (no copy) in the common case.
fn invalid_column(reasons: Vec<u8>) -> Result<Column> {
    let height = reasons.len();
    if reasons.iter().all(|r| *r == 0) {
        return Ok(Column::full_null(INVALID.into(), height, &DataType::String));
    }
    let codes = UInt32Chunked::from_iter_values("r".into(), reasons.into_iter().map(u32::from))
        .into_series();
    let is = |code: u32| col("r").eq(lit(code));
    let reason = when(is(1))
        .then(lit(REASONS[1]))
        .when(is(2))
        .then(lit(REASONS[2]))
        .when(is(3))
        .then(lit(REASONS[3]))
        .otherwise(lit(NULL).cast(DataType::String));
    let frame = DataFrame::new(height, vec![codes.into()])?
        .lazy()
        .select([reason.alias(INVALID)])
        .collect()?;
    Ok(frame.column(INVALID)?.clone())
}

struct Parsed {
    /// Mantissas at the column's scale (0 where not valid).
    values: Vec<i128>,
    /// Whether the cell held a number.
    valid: Vec<bool>,
    /// The cell held a placeholder declared `absent`.
    absent: Vec<bool>,
}

/// `blank` says what an empty cell is: absent (not stocked), zero, or no number (which
/// makes a quantity's row invalid, and leaves a cost unknown). Cells may have `places`
/// decimals; the mantissas are at `scale`.
fn parse_column(
    cells: &StringChunked,
    places: u32,
    scale: u32,
    layout: &Layout,
    blank: Blank,
    error: &mut dyn FnMut(usize, &str, BadNumber),
) -> Parsed {
    let mut values = Vec::with_capacity(cells.len());
    let mut valid = Vec::with_capacity(cells.len());
    let mut absent = vec![false; cells.len()];
    let placeholders = !layout.placeholders.is_empty();
    let separator = if layout.decimal_comma { b',' } else { b'.' };
    for (i, cell) in cells.iter().enumerate() {
        // The common case first: plain digits, no placeholder table to consult.
        if let (Some(m), false) = (
            cell.and_then(|c| parse_plain(c.trim().as_bytes(), separator, places, scale)),
            placeholders,
        ) {
            values.push(m);
            valid.push(true);
            continue;
        }
        let value = match cell.map(str::trim) {
            None | Some("") => match blank {
                Blank::Absent => {
                    absent[i] = true;
                    None
                }
                Blank::Zero => Some(0),
                Blank::Invalid => None,
            },
            Some(t) => match layout.placeholder(t) {
                Some(Placeholder::Absent) => {
                    absent[i] = true;
                    None
                }
                Some(Placeholder::Value(d)) => match to_mantissa(*d, places, scale) {
                    Ok(m) => Some(m),
                    Err(why) => {
                        error(i, t, why);
                        None
                    }
                },
                None => match parse_number(t, layout.decimal_comma, places, scale) {
                    Ok(m) => Some(m),
                    Err(why) => {
                        error(i, t, why);
                        None
                    }
                },
            },
        };
        values.push(value.unwrap_or(0));
        valid.push(value.is_some());
    }
    Parsed {
        values,
        valid,
        absent,
    }
}

/// A column's cells as text: strings as they are, a float as a spreadsheet shows it
/// (values::float_text), other types as polars writes them (integers, decimals: exact).
fn as_text(c: &Column) -> Result<StringChunked> {
    Ok(match c.dtype() {
        DataType::String => c.str()?.clone(),
        DataType::Float32 | DataType::Float64 => {
            let f = c.cast(&DataType::Float64)?;
            f.f64()?
                .iter()
                .map(|v| v.map(crate::values::float_text))
                .collect::<StringChunked>()
                .with_name(c.name().clone())
        }
        _ => c.cast(&DataType::String)?.str()?.clone(),
    })
}

/// A typed column of integers or decimals as mantissas at `scale`, exactly (`None` for a
/// text or float column, which the text parser reads). A value with more than `places`
/// decimals (trailing zeros aside) or too large is left to the text parser, which words
/// the error with its row.
fn exact_typed(column: Option<&Column>, places: u32, scale: u32, blank: Blank) -> Option<Parsed> {
    let c = column?;
    let (mantissas, from): (Vec<Option<i128>>, u32) = match c.dtype() {
        DataType::Decimal(_, s) => (c.decimal().ok()?.physical().iter().collect(), *s as u32),
        d if d.is_integer() => (
            c.cast(&DataType::Int128)
                .ok()?
                .i128()
                .ok()?
                .iter()
                .collect(),
            0,
        ),
        _ => return None,
    };
    let limit = 10i128.pow(crate::values::MAX_INTEGER_DIGITS);
    let mut values = Vec::with_capacity(mantissas.len());
    let mut valid = Vec::with_capacity(mantissas.len());
    let mut absent = vec![false; mantissas.len()];
    for (i, m) in mantissas.into_iter().enumerate() {
        let Some(mut m) = m else {
            match blank {
                Blank::Absent => absent[i] = true,
                Blank::Zero => {
                    values.push(0);
                    valid.push(true);
                    continue;
                }
                Blank::Invalid => {}
            }
            values.push(0);
            valid.push(false);
            continue;
        };
        let mut s = from;
        while s > places && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        if s > places || (m / 10i128.pow(s)).abs() >= limit {
            return None;
        }
        values.push(m * 10i128.pow(scale - s));
        valid.push(true);
    }
    Some(Parsed {
        values,
        valid,
        absent,
    })
}

fn decimal_column(name: &str, parsed: Parsed, scale: usize) -> Result<Column> {
    let validity = if parsed.valid.iter().all(|v| *v) {
        None
    } else {
        Some(parsed.valid.into_iter().collect())
    };
    let ca = Int128Chunked::from_vec_validity(name.into(), parsed.values, validity);
    Ok(ca.into_decimal(38, scale)?.into_series().into())
}
