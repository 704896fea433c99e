//! Spreadsheets (xlsx, xlsm, xlsb, xls, ods) through calamine.
//!
//! Every cell becomes text. Numbers are written back the way a person typed them
//! (12345, not 12345.0) so that a SKU a spreadsheet turned into a number can still be
//! restored by the rules (leading zeros are padded back by `pad_leading_zeros`).

use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use calamine::{Data, Reader, open_workbook_auto_from_rs};
use polars::prelude::*;

use crate::columns::ROW;
use crate::input::RawTable;
use crate::job::Layout;

pub fn read(path: &Path, bytes: Vec<u8>, sheet: Option<&str>, layout: &Layout) -> Result<RawTable> {
    if bytes.is_empty() {
        bail!("{}: the file is empty", path.display());
    }
    if is_encrypted(&bytes) {
        bail!(
            "{}: the workbook is encrypted (password-protected); tally cannot read it\n    \
             hint: save a copy without a password (File > Info > Protect Workbook > Encrypt), \
             or export the sheet as CSV",
            path.display()
        );
    }
    // calamine can panic on a damaged file (an index out of bounds in a broken OLE
    // container): that is this file's error, said as one.
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        open_sheet(path, bytes, sheet)
    }));
    let (sheet, range) = match opened {
        Ok(result) => result?,
        Err(_) => bail!(
            "{}: cannot read as a spreadsheet: the file is damaged\n    hint: open it in its \
             program and save it again, or export the sheet as CSV",
            path.display()
        ),
    };
    let (row0, col0) = range.start().unwrap_or((0, 0));
    let rows: Vec<&[Data]> = range.rows().collect();
    let preview = || {
        rows.iter()
            .take(super::layout::PREVIEW_ROWS)
            .enumerate()
            .map(|(i, r)| {
                let fields = r.iter().map(|c| cell_text(c).unwrap_or_default()).collect();
                (row0 as usize + i + 1, fields)
            })
            .collect()
    };
    // A title block before the header (ERPNext's import template): found by its markers.
    let located = super::layout::locate_header(layout, &preview);
    let layout = located.as_ref().unwrap_or(layout);
    let header_abs = (layout.header_row - 1) as u32;
    if range.is_empty() || header_abs < row0 || header_abs > range.end().map_or(0, |e| e.0) {
        bail!(
            "{}: sheet {sheet:?} has no header at row {}",
            path.display(),
            layout.header_row
        );
    }

    let header_idx = (header_abs - row0) as usize;
    let width = range.width();
    let mut headers = Vec::with_capacity(width);
    for (j, cell) in rows[header_idx].iter().enumerate() {
        let h = cell_text(cell)
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
        // Blank headers get a name of their own so that they cannot collide.
        headers.push(if h.is_empty() {
            format!("(column {})", col_name(col0 as usize + j))
        } else {
            h
        });
    }

    super::layout::check_header(
        &headers,
        layout,
        path,
        &format!("sheet {sheet:?} row {}", layout.header_row),
        None,
        &preview,
    )?;
    let mut cols: Vec<Vec<Option<String>>> = vec![Vec::new(); width];
    let mut row_numbers = Vec::new();
    for (i, row) in rows
        .iter()
        .enumerate()
        .skip(header_idx + 1 + layout.skip_rows)
    {
        let cells: Vec<Option<String>> = row.iter().map(cell_text).collect();
        if cells
            .iter()
            .all(|c| c.as_deref().is_none_or(|t| t.trim().is_empty()))
        {
            continue; // blank rows between blocks or at the end of a sheet are not records
        }
        for (col, cell) in cols.iter_mut().zip(cells) {
            col.push(cell);
        }
        row_numbers.push(row0 as u64 + i as u64 + 1);
    }

    let all_headers = headers.clone();
    let mut columns: Vec<Column> = Vec::with_capacity(width + 1);
    let mut seen = std::collections::BTreeSet::new();
    for (h, values) in headers.into_iter().zip(cols) {
        if !seen.insert(h.clone()) {
            bail!(
                "{}: sheet {sheet:?}: header {h:?} appears twice in row {}",
                path.display(),
                layout.header_row
            );
        }
        columns.push(
            StringChunked::from_iter_options(h.as_str().into(), values.into_iter())
                .into_series()
                .into(),
        );
    }
    columns.push(
        UInt64Chunked::from_vec(ROW.into(), row_numbers)
            .into_series()
            .into(),
    );
    let frame = DataFrame::new_infer_height(columns)?;
    Ok(RawTable {
        frame,
        headers: all_headers,
        row_label: format!("sheet {sheet:?} row"),
        undecodable_rows: 0,
        skipped: 0,
    })
}

/// The workbook's sheet (the named one, else the first) and its cells.
fn open_sheet(
    path: &Path,
    bytes: Vec<u8>,
    sheet: Option<&str>,
) -> Result<(String, calamine::Range<Data>)> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| {
        anyhow!(
            "{}: cannot open as a spreadsheet ({})\n    hint: kind = \"excel\" reads xlsx, xlsm, \
             xlsb, xls and ods files; for a CSV export use kind = \"csv\"",
            path.display(),
            e.to_string().chars().take(120).collect::<String>()
        )
    })?;
    let names = book.sheet_names();
    let sheet = match sheet {
        Some(s) => {
            if !names.iter().any(|n| n == s) {
                bail!(
                    "{}: no sheet named {s:?}; the workbook has {}",
                    path.display(),
                    names.join(", ")
                );
            }
            s.to_string()
        }
        None => names
            .first()
            .cloned()
            .ok_or_else(|| anyhow!("{}: the workbook has no sheets", path.display()))?,
    };
    let range = book
        .worksheet_range(&sheet)
        .with_context(|| format!("{}: cannot read sheet {sheet:?}", path.display()))?;
    Ok((sheet, range))
}

/// An encrypted Office file: an OLE compound file (the xls container) holding an
/// `EncryptedPackage` stream, whatever its extension says.
fn is_encrypted(bytes: &[u8]) -> bool {
    const CFB: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    let name: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    bytes.starts_with(&CFB) && memchr::memmem::find(bytes, &name).is_some()
}

/// A cell as the text a person sees; `None` for empty cells.
fn cell_text(cell: &Data) -> Option<String> {
    match cell {
        Data::Empty => None,
        Data::String(s) => Some(s.clone()),
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) => Some(crate::values::float_text(*f)),
        Data::Bool(b) => Some(b.to_string()),
        Data::DateTime(dt) => Some(match dt.as_datetime() {
            Some(d) => d.format("%Y-%m-%dT%H:%M:%S").to_string(),
            None => dt.as_f64().to_string(),
        }),
        Data::DateTimeIso(s) | Data::DurationIso(s) => Some(s.clone()),
        Data::Error(e) => Some(format!("#{e:?}")),
    }
}

fn col_name(mut idx: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (idx % 26) as u8);
        if idx < 26 {
            break;
        }
        idx = idx / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_typed() {
        assert_eq!(crate::values::float_text(12345.0), "12345");
        assert_eq!(crate::values::float_text(12.5), "12.5");
        assert_eq!(crate::values::float_text(0.1 + 0.2), "0.3");
        assert_eq!(col_name(0), "A");
        assert_eq!(col_name(27), "AB");
    }
}
