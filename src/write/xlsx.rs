//! Lines and corrections as workbooks for people who open them in a spreadsheet, with
//! typed cells: decimals as numbers with a format that shows them as the CSV does
//! (values at the money scale, quantities and unit costs with their own places), whole
//! numbers as numbers, text as text (leading zeros kept), and every text a spreadsheet
//! would run as a formula neutralised, as in the CSV (`neutralize`).
//!
//! A workbook holds numbers as binary doubles: a figure with more than 15 significant
//! digits is shown rounded there; the CSV and Parquet keep it exact.

use anyhow::Result;
use polars::prelude::*;
use rust_xlsxwriter::{Format, Workbook};

use crate::precision::Precision;

/// Up to this many lines a run writes `discrepancies.xlsx` without being asked (a
/// workbook of 400,000 lines takes longer than the rest of such a run).
pub const AUTO_LINES: usize = 50_000;

/// When a run writes its lines as a workbook too (`--xlsx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum XlsxLines {
    /// Runs of up to 50,000 lines.
    #[default]
    Auto,
    /// Always, however many lines.
    All,
    /// Never.
    None,
}

impl XlsxLines {
    pub fn wanted(self, lines: usize) -> bool {
        match self {
            XlsxLines::Auto => lines <= AUTO_LINES,
            XlsxLines::All => true,
            XlsxLines::None => false,
        }
    }
}

/// The workbook's bytes: one sheet named `sheet`, a bold header row kept in view, a
/// filter on every column.
pub fn workbook(frame: &DataFrame, precision: &Precision, sheet: &str) -> Result<Vec<u8>> {
    let safe = super::neutralize(frame)?;
    let shown = precision.for_people(&safe)?;
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name(sheet)?;
    let bold = Format::new().set_bold();
    let money_places = precision.money.scale as usize;
    let money = Format::new().set_num_format(if money_places == 0 {
        "#,##0".to_string()
    } else {
        format!("#,##0.{}", "0".repeat(money_places))
    });
    let general = Format::new().set_num_format("General");
    for (c, (exact, text)) in safe.columns().iter().zip(shown.columns()).enumerate() {
        let c = c as u16;
        ws.write_string_with_format(0, c, exact.name().as_str(), &bold)?;
        match exact.dtype() {
            DataType::Decimal(..) => {
                // Values are shown at the money scale, everything else as stated.
                let is_money = exact.name().as_str().ends_with("value_delta");
                let format = if is_money { &money } else { &general };
                for (r, v) in text.str()?.iter().enumerate() {
                    if let Some(number) = v.and_then(|v| v.parse::<f64>().ok()) {
                        ws.write_number_with_format(r as u32 + 1, c, number, format)?;
                    }
                }
            }
            dt if dt.is_integer() => {
                let numbers = exact.cast(&DataType::Float64)?;
                for (r, v) in numbers.f64()?.iter().enumerate() {
                    if let Some(v) = v {
                        ws.write_number(r as u32 + 1, c, v)?;
                    }
                }
            }
            _ => {
                let texts = text.cast(&DataType::String)?;
                for (r, v) in texts.str()?.iter().enumerate() {
                    if let Some(v) = v.filter(|v| !v.is_empty()) {
                        ws.write_string(r as u32 + 1, c, v)?;
                    }
                }
            }
        }
    }
    let rows = frame.height() as u32;
    let cols = frame.width().max(1) as u16 - 1;
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, rows, cols)?;
    Ok(book.save_to_buffer()?)
}
