//! Parquet files (an analyst's export, another tool's output): the file names and types
//! its own columns. Numbers stay typed (typing.rs converts integers and decimals exactly,
//! without going through text; a float is read as a spreadsheet shows it, the shortest
//! decimal that round-trips at 15 significant digits); every other column is read as text.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use polars::prelude::*;

use crate::columns::ROW;
use crate::input::RawTable;
use crate::job::Layout;

pub fn read(path: &Path, bytes: Vec<u8>, layout: &Layout) -> Result<RawTable> {
    if bytes.is_empty() {
        bail!("{}: the file is empty", path.display());
    }
    let frame = ParquetReader::new(Cursor::new(bytes))
        .finish()
        .map_err(|e| {
            anyhow!(
                "{}: cannot read as Parquet ({})",
                path.display(),
                e.to_string()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(160)
                    .collect::<String>()
            )
        })?;
    let headers: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    super::layout::check_header(&headers, layout, path, "the schema", None, &Vec::new)?;
    let height = frame.height();
    let mut columns: Vec<Column> = Vec::with_capacity(frame.width() + 1);
    for c in frame.columns() {
        if !layout.wants(c.name()) {
            continue;
        }
        let typed = c.dtype().is_integer() || c.dtype().is_float() || c.dtype().is_decimal();
        columns.push(if typed || c.dtype() == &DataType::String {
            c.clone()
        } else {
            c.cast(&DataType::String)?
        });
    }
    columns.push(
        UInt64Chunked::from_iter_values(ROW.into(), 1..=height as u64)
            .into_series()
            .into(),
    );
    Ok(RawTable {
        frame: DataFrame::new(height, columns)?,
        headers,
        row_label: "row".into(),
        undecodable_rows: 0,
        skipped: 0,
    })
}
