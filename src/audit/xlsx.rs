//! A table as a workbook: a bold header row and every cell as text (codes keep their
//! leading zeros, figures their places), for people who open it in a spreadsheet.

use std::path::Path;

use anyhow::{Context, Result};
use polars::prelude::*;

pub fn write(table: &DataFrame, out: &Path, sheet: &str) -> Result<()> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name(sheet)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (c, column) in table.columns().iter().enumerate() {
        ws.write_string_with_format(0, c as u16, column.name().as_str(), &bold)?;
        let text = column.cast(&DataType::String)?;
        for (r, v) in text.str()?.iter().enumerate() {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                ws.write_string(r as u32 + 1, c as u16, v)?;
            }
        }
    }
    book.save(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(())
}
