//! CSV files through polars' reader, every column read as text.
//!
//! polars knows UTF-8 only, so Windows-1252 files are transcoded first (encoding_rs),
//! and a file declared UTF-8 is checked up front so that a bad byte is reported with
//! its line and column instead of as a bare decoding failure. Blank lines (nothing but
//! delimiters and spaces) are no records; the others keep their own line numbers.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Result, bail};
use polars::prelude::*;

use super::RawTable;
use crate::columns::ROW;
use crate::job::{Encoding, Layout};

pub fn read(
    path: &Path,
    bytes: Vec<u8>,
    delimiter: u8,
    encoding: Encoding,
    layout: &Layout,
    lines: Option<Vec<u64>>,
) -> Result<RawTable> {
    let text: Vec<u8> = match encoding {
        Encoding::Utf8 => {
            let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
            if let Err(e) = std::str::from_utf8(body) {
                bail!(utf8_error(path, body, e.valid_up_to(), delimiter, layout));
            }
            if body.len() == bytes.len() {
                bytes
            } else {
                body.to_vec()
            }
        }
        Encoding::Windows1252 => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
            text.into_owned().into_bytes()
        }
    };
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        bail!("{}: the file is empty (no header, no rows)", path.display());
    }

    // Only the columns the job maps are parsed: POS exports carry many more.
    let headers = header_fields(&text, layout.header_row, delimiter);
    let wanted: Vec<PlSmallStr> = headers
        .iter()
        .filter(|h| layout.wants(h))
        .map(|h| h.as_str().into())
        .collect();
    let parse = CsvParseOptions::default()
        .with_separator(delimiter)
        .with_encoding(CsvEncoding::Utf8)
        .with_quote_char(Some(b'"'));
    let first = (layout.header_row + layout.skip_rows + 1) as u64;
    // Blank lines are left out before parsing, as the split pass does (split.rs): the
    // records that remain keep their own line numbers.
    let (text, lines) = match lines {
        None if has_blank_line(&text, first, delimiter) => {
            match without_blank_records(&text, first, delimiter) {
                Some((text, kept)) => (text, Some(kept)),
                // A quote left open: the reader says where.
                None => (text, None),
            }
        }
        given => (text, given),
    };
    let spanning = match lines {
        None if memchr::memchr(b'"', &text).is_some() => body_lines(&text, first),
        _ => None,
    };
    let mut frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_skip_rows(layout.header_row - 1)
        .with_skip_rows_after_header(layout.skip_rows)
        .with_infer_schema_length(Some(0))
        .with_columns((wanted.len() < headers.len()).then(|| wanted.into()))
        .with_parse_options(parse)
        .into_reader_with_file_handle(Cursor::new(text))
        .finish()
        .map_err(|e| anyhow::anyhow!("{}: cannot parse as CSV: {e}", path.display()))?;

    // Line numbers count from the header, one per record, unless a quoted field spans
    // lines (rare in inventory exports): then each record gets the line it starts on.
    let rows = match lines {
        Some(lines) => {
            anyhow::ensure!(
                lines.len() == frame.height(),
                "{}: {} records split but {} read back",
                path.display(),
                lines.len(),
                frame.height()
            );
            UInt64Chunked::from_vec(ROW.into(), lines)
        }
        None => match spanning.filter(|l| l.len() == frame.height()) {
            Some(lines) => UInt64Chunked::from_vec(ROW.into(), lines),
            None => UInt64Chunked::from_iter_values(
                ROW.into(),
                (0..frame.height() as u64).map(|i| first + i),
            ),
        },
    };
    frame.with_column(rows.into_series().into())?;
    Ok(RawTable {
        frame,
        headers,
        row_label: "line".into(),
    })
}

/// The fields of the header line, as the CSV reader will see them.
pub(super) fn header_fields(text: &[u8], header_row: usize, delimiter: u8) -> Vec<String> {
    let start = if header_row <= 1 {
        0
    } else {
        text.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(header_row - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(&text[start..]);
    let mut record = ::csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => record.iter().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// Locates the first invalid byte: line, and the header of the column it sits in.
fn utf8_error(path: &Path, body: &[u8], offset: usize, delimiter: u8, layout: &Layout) -> String {
    let before = &body[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let field = before[line_start..]
        .iter()
        .filter(|&&b| b == delimiter)
        .count();
    let header_line = body
        .split(|&b| b == b'\n')
        .nth(layout.header_row - 1)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .unwrap_or_default();
    let column = header_line
        .trim_end_matches('\r')
        .split(delimiter as char)
        .nth(field)
        .map(|h| format!("column {:?}", h.trim_matches('"')))
        .unwrap_or_else(|| format!("field {}", field + 1));
    format!(
        "{}:{line}: {column}: invalid UTF-8 (byte 0x{:02X}); the source is declared encoding = \"utf-8\"\n    \
         hint: exports from older POS systems are often Windows-1252: set encoding = \"windows-1252\"",
        path.display(),
        body[offset],
    )
}

/// Whether a line after the header block is blank (see `split::is_blank`).
fn has_blank_line(text: &[u8], first: u64, delimiter: u8) -> bool {
    let mut start = 0usize;
    for (i, end) in memchr::memchr_iter(b'\n', text)
        .chain(std::iter::once(text.len()))
        .enumerate()
    {
        if i as u64 + 1 >= first
            && start < text.len()
            && super::split::is_blank(&text[start..end], delimiter)
        {
            return true;
        }
        start = end + 1;
    }
    false
}

/// The text without its blank records (the header block kept as it is), and the line
/// each remaining record starts on; `None` when a quoted field is left open.
fn without_blank_records(text: &[u8], first: u64, delimiter: u8) -> Option<(Vec<u8>, Vec<u64>)> {
    let body_start = memchr::memchr_iter(b'\n', text)
        .nth((first - 2) as usize)
        .map_or(text.len(), |i| i + 1);
    let mut out = text[..body_start].to_vec();
    let mut kept = Vec::new();
    let mut line = first;
    let body = &text[body_start..];
    let mut records = super::split::Records::new(body);
    for (record, lines) in records.by_ref() {
        if !super::split::is_blank(record, delimiter) {
            out.extend_from_slice(record);
            if !record.ends_with(b"\n") {
                out.push(b'\n');
            }
            kept.push(line);
        }
        line += lines;
    }
    (records.consumed() == body.len()).then_some((out, kept))
}

/// Start lines of the records after the header block, when some record spans lines.
fn body_lines(text: &[u8], first: u64) -> Option<Vec<u64>> {
    let preamble = (first - 1) as usize;
    let start = memchr::memchr_iter(b'\n', text)
        .nth(preamble - 1)
        .map_or(text.len(), |i| i + 1);
    super::split::record_lines(&text[start..], first)
}
