//! Recount sheets: per location, the lines its rules send to a recount, as a workbook to
//! take onto the shop floor and bring back. Blind by default (neither system's quantity
//! is shown: a counter who sees the expected figure tends to find it); a job may ask for
//! the book's figure beside the count (`recount_sheet = "with_book"`),
//! in walking order (by bin, then largest value first), every cell locked but the
//! `counted` column. The count takes a whole number ≥ 0, or a decimal ≥ 0 for an item
//! either system states in fractions (weighed goods). A filled sheet is read back as an
//! observed source with the `tally-recount` preset (docs/presets.md): location, item
//! key, count, and `recount_of` (`<run id>#<line>`), which the next run's lines carry.

use anyhow::Result;
use polars::prelude::*;
use rust_xlsxwriter::{DataValidation, DataValidationRule, Format, Workbook};

use crate::discrepancy::Resolution;
use crate::job::RecountSheet;
use crate::schema::line;

/// The sheet's columns, in order; the counter fills in the last.
pub const COLUMNS: [&str; 11] = [
    line::LOCATION,
    line::BIN,
    line::ITEM_KEY,
    line::DESCRIPTION,
    line::GTIN,
    line::BOOK_SKU,
    line::OBSERVED_SKU,
    line::CATEGORY,
    line::LINE,
    line::RECOUNT_OF,
    COUNTED,
];

/// The column the counter fills in.
pub const COUNTED: &str = "counted";

/// The sheet's columns for what it shows.
fn columns(shows: RecountSheet) -> Vec<&'static str> {
    let mut out = COLUMNS.to_vec();
    if shows == RecountSheet::WithBook {
        out.insert(out.len() - 1, line::BOOK_QTY);
    }
    out
}

/// Each location's sheet: its file name in the run directory and its bytes.
pub fn sheets(
    discrepancies: &DataFrame,
    run_id: &str,
    shows: RecountSheet,
) -> Result<Vec<(String, Vec<u8>)>> {
    let recount = discrepancies
        .clone()
        .lazy()
        .filter(col(line::RESOLUTION).eq(lit(Resolution::Recount.as_str())))
        .sort_by_exprs(
            [
                col(line::LOCATION),
                col(line::BIN),
                col(line::VALUE_DELTA).abs(),
                col(line::LINE),
            ],
            SortMultipleOptions::default()
                .with_order_descending_multi([false, false, true, false])
                .with_nulls_last(true),
        )
        // The link the filled sheet brings back: which run's which line asked.
        .with_columns([
            (lit(format!("{run_id}#")) + col(line::LINE).cast(DataType::String))
                .alias(line::RECOUNT_OF),
        ])
        .collect()?;
    if recount.height() == 0 {
        return Ok(Vec::new());
    }
    let safe = super::neutralize(&recount)?;
    let mut out = Vec::new();
    for part in safe.partition_by_stable([line::LOCATION], true)? {
        let location = part
            .column(line::LOCATION)?
            .str()?
            .get(0)
            .unwrap_or("")
            .to_string();
        out.push((
            sheet_path(&location),
            sheet(&part, run_id, &location, &columns(shows))?,
        ));
    }
    Ok(out)
}

/// A location's recount sheet in the run directory.
pub fn sheet_path(location: &str) -> String {
    format!("recount/{}.xlsx", file_name(location))
}

/// A file name for a location code: the code itself when it is plain; otherwise its
/// plain characters and a short hash of the code, so that `A/B` and `A_B` stay apart.
fn file_name(location: &str) -> String {
    let plain = super::corrections::file_stem(location);
    if plain == location {
        plain
    } else {
        format!(
            "{plain}-{}",
            &crate::values::sha256_hex(location.as_bytes())[..8]
        )
    }
}

/// Per line: whether the item is counted in fractions, because either side states a
/// quantity that is not whole (kilograms, metres). Exact: the decimals' mantissas.
fn fractional(lines: &DataFrame) -> Result<Vec<bool>> {
    let mut out = vec![false; lines.height()];
    for name in [line::BOOK_QTY, line::OBSERVED_QTY] {
        let q = lines.column(name)?.decimal()?;
        let one = 10i128.pow(q.scale() as u32);
        for (flag, m) in out.iter_mut().zip(q.physical().iter()) {
            *flag |= m.is_some_and(|m| m % one != 0);
        }
    }
    Ok(out)
}

fn sheet(lines: &DataFrame, run_id: &str, location: &str, columns: &[&str]) -> Result<Vec<u8>> {
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("Recount")?;
    let header = Format::new().set_bold();
    let open = Format::new().set_unlocked().set_background_color("#FFF6CC");
    let last = lines.height() as u32;
    for (c, name) in columns.iter().enumerate() {
        let c = c as u16;
        ws.write_string_with_format(0, c, *name, &header)?;
        if *name == COUNTED {
            for r in 1..=last {
                ws.write_blank(r, c, &open)?;
            }
            continue;
        }
        let column = lines.column(name)?;
        let decimal = matches!(column.dtype(), DataType::Decimal(..));
        let text = column.cast(&DataType::String)?;
        for (r, v) in text.str()?.iter().enumerate() {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                // A quantity as the CSV shows it: exact, without trailing zeros.
                let v = if decimal { plain_decimal(v) } else { v };
                ws.write_string(r as u32 + 1, c, v)?;
            }
        }
    }
    let count = (columns.len() - 1) as u16;
    // Whole units for what is counted in pieces; decimals where the item is weighed.
    let whole = DataValidation::new()
        .allow_whole_number(DataValidationRule::GreaterThanOrEqualTo(0))
        .set_input_message("The number of pieces you count on the shelf")?
        .set_error_message("A count is a whole number, 0 or more")?;
    let decimal = DataValidation::new()
        .allow_decimal_number(DataValidationRule::GreaterThanOrEqualTo(0.0))
        .set_input_message("The quantity you weigh or measure, in the item's unit")?
        .set_error_message("A quantity is a number, 0 or more")?;
    let fractional = fractional(lines)?;
    let mut r = 0u32;
    // One validation per run of rows of the same sort, not one per row.
    while r < last {
        let kind = fractional[r as usize];
        let mut end = r;
        while end + 1 < last && fractional[end as usize + 1] == kind {
            end += 1;
        }
        let rule = if kind { &decimal } else { &whole };
        ws.add_data_validation(r + 1, count, end + 1, count, rule)?;
        r = end + 1;
    }
    ws.set_column_width(count, 12)?;
    ws.set_freeze_panes(1, 0)?;
    ws.protect();
    // Which run asked for the counts, for the person who files the sheet.
    let about = book.add_worksheet();
    about.set_name("About")?;
    about.write_string(0, 0, "run")?;
    about.write_string(0, 1, run_id)?;
    about.write_string(1, 0, "location")?;
    about.write_string(1, 1, location)?;
    about.write_string(
        2,
        0,
        "Count each item on the shelf and type the quantity in the yellow column; \
         nothing else can be changed.",
    )?;
    Ok(book.save_to_buffer()?)
}

/// `4.000000000` → `4`, `2.500` → `2.5`.
fn plain_decimal(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::{file_name, plain_decimal};

    #[test]
    fn quantities_lose_only_their_trailing_zeros() {
        assert_eq!(plain_decimal("4.000000000"), "4");
        assert_eq!(plain_decimal("2.500"), "2.5");
        assert_eq!(plain_decimal("-0.010"), "-0.01");
        assert_eq!(plain_decimal("100"), "100");
    }

    #[test]
    fn locations_that_differ_get_files_that_differ() {
        assert_eq!(file_name("BOS-01"), "BOS-01");
        let (a, b) = (file_name("A/B"), file_name("A_B"));
        assert_ne!(a, b);
        assert!(a.starts_with("A_B-") && b == "A_B", "{a} {b}");
        assert_ne!(file_name("../x"), file_name("__x"));
        assert!(!file_name("").is_empty());
    }
}
