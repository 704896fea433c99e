//! Recount sheets: per location, the lines its rules send to a recount, as a workbook to
//! take onto the shop floor and bring back. Blind (neither system's quantity is shown),
//! largest value first, every cell locked but the `counted` column, which only takes a
//! number ≥ 0. A filled sheet is read back as an observed source with the
//! `tally-recount` preset (docs/presets.md): location, item key and count.

use anyhow::Result;
use polars::prelude::*;
use rust_xlsxwriter::{DataValidation, DataValidationRule, Format, Workbook};

use crate::discrepancy::Resolution;
use crate::schema::line;

/// The sheet's columns, in order; the counter fills in the last.
pub const COLUMNS: [&str; 8] = [
    line::LOCATION,
    line::ITEM_KEY,
    line::BOOK_SKU,
    line::OBSERVED_SKU,
    line::DESCRIPTION,
    line::CATEGORY,
    line::LINE,
    "counted",
];

/// Each location's sheet: its file name in the run directory and its bytes.
pub fn sheets(discrepancies: &DataFrame, run_id: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let recount = discrepancies
        .clone()
        .lazy()
        .filter(col(line::RESOLUTION).eq(lit(Resolution::Recount.as_str())))
        .sort_by_exprs(
            [
                col(line::LOCATION),
                col(line::VALUE_DELTA).abs(),
                col(line::LINE),
            ],
            SortMultipleOptions::default()
                .with_order_descending_multi([false, true, false])
                .with_nulls_last(true),
        )
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
            format!("recount/{}.xlsx", file_name(&location)),
            sheet(&part, run_id, &location)?,
        ));
    }
    Ok(out)
}

/// A file name for a location code: the code itself when it is plain; otherwise its
/// plain characters and a short hash of the code, so that `A/B` and `A_B` stay apart.
fn file_name(location: &str) -> String {
    let plain: String = location
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if plain == location && !plain.is_empty() {
        plain
    } else {
        format!(
            "{plain}-{}",
            &crate::values::sha256_hex(location.as_bytes())[..8]
        )
    }
}

fn sheet(lines: &DataFrame, run_id: &str, location: &str) -> Result<Vec<u8>> {
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("Recount")?;
    let header = Format::new().set_bold();
    let open = Format::new().set_unlocked().set_background_color("#FFF6CC");
    let last = lines.height() as u32;
    for (c, name) in COLUMNS.iter().enumerate() {
        let c = c as u16;
        ws.write_string_with_format(0, c, *name, &header)?;
        if *name == "counted" {
            for r in 1..=last {
                ws.write_blank(r, c, &open)?;
            }
            continue;
        }
        let text = lines.column(name)?.cast(&DataType::String)?;
        for (r, v) in text.str()?.iter().enumerate() {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                ws.write_string(r as u32 + 1, c, v)?;
            }
        }
    }
    let count = (COLUMNS.len() - 1) as u16;
    if last > 0 {
        let rule = DataValidation::new()
            .allow_decimal_number(DataValidationRule::GreaterThanOrEqualTo(0.0))
            .set_input_message("The quantity you count on the shelf")?
            .set_error_message("A count is a number, 0 or more")?;
        ws.add_data_validation(1, count, last, count, &rule)?;
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

#[cfg(test)]
mod tests {
    use super::file_name;

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
