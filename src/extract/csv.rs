//! CSV files through polars' reader, every column read as text.
//!
//! polars knows UTF-8 only, so files in any other encoding are transcoded first
//! (encoding_rs: every encoding the WHATWG standard names). Bytes the encoding does not
//! define stop the run where a mapped column holds them (file, line, column) and are
//! counted elsewhere. Blank lines (nothing but delimiters and spaces) are no records; the
//! others keep their own line numbers. Errors name the line and quote at most a short
//! excerpt: never polars' own text with the whole field.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Result, bail};
use polars::prelude::*;

use crate::columns::ROW;
use crate::input::RawTable;
use crate::job::{Encoding, Layout};

pub fn read(
    path: &Path,
    bytes: Vec<u8>,
    delimiter: u8,
    encoding: Encoding,
    layout: &Layout,
    lines: Option<Vec<u64>>,
) -> Result<RawTable> {
    let Decoded { text, lossy } = decode(bytes, encoding);
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        bail!("{}: the file is empty (no header, no rows)", path.display());
    }

    let preview = || preview_rows(&text, delimiter);
    // A title block before the header (ERPNext's import template): found by its markers.
    let located = super::layout::locate_header(layout, &preview);
    let layout = located.as_ref().unwrap_or(layout);
    // Only the columns the job maps are parsed: POS exports carry many more. A header
    // without them is reported here, in the job's terms (polars cannot read no column).
    let headers = header_fields(&text, layout.header_row, delimiter);
    super::layout::check_header(
        &headers,
        layout,
        path,
        &format!("line {}", layout.header_row),
        Some(delimiter),
        &preview,
    )?;
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
    // A quoted field left open swallows the rest of the file into one cell: said with
    // its line. The quotes are counted first (fast); only an odd count is looked into.
    if memchr::memchr(b'"', &text).is_some() {
        let mut records = super::records::Records::new(&text);
        for _ in records.by_ref() {}
        if records.consumed() < text.len()
            && let Some(line) = unclosed_quote(&text, delimiter)
        {
            bail!(open_quote_message(path, line));
        }
    }
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
    let parsed = CsvReadOptions::default()
        .with_has_header(true)
        .with_skip_rows(layout.header_row - 1)
        .with_skip_rows_after_header(layout.skip_rows)
        .with_infer_schema_length(Some(0))
        .with_columns((wanted.len() < headers.len()).then(|| wanted.into()))
        .with_parse_options(parse)
        .into_reader_with_file_handle(Cursor::new(&text))
        .finish();
    let mut frame = match parsed {
        Ok(frame) => frame,
        Err(e) => bail!(diagnose(path, &text, layout, delimiter, headers.len(), &e)),
    };

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
    // Bytes the encoding does not define became U+FFFD: an error where the job reads
    // them, counted where it does not.
    let undecodable_rows = if lossy {
        undecodable(path, &frame, &text, first, encoding)?
    } else {
        0
    };
    Ok(RawTable {
        frame,
        headers,
        row_label: "line".into(),
        undecodable_rows,
        skipped: 0,
    })
}

/// The file as UTF-8 text; `lossy` when some bytes did not decode (U+FFFD in their place).
struct Decoded {
    text: Vec<u8>,
    lossy: bool,
}

fn decode(bytes: Vec<u8>, encoding: Encoding) -> Decoded {
    if encoding.is_utf8() {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        return match std::str::from_utf8(body) {
            Ok(_) if body.len() == bytes.len() => Decoded {
                text: bytes,
                lossy: false,
            },
            Ok(_) => Decoded {
                text: body.to_vec(),
                lossy: false,
            },
            Err(_) => Decoded {
                text: String::from_utf8_lossy(body).into_owned().into_bytes(),
                lossy: true,
            },
        };
    }
    // A BOM wins over the declared encoding (a UTF-16 export says what it is).
    let (text, _, lossy) = encoding.0.decode(&bytes);
    Decoded {
        text: text.into_owned().into_bytes(),
        lossy,
    }
}

/// The first lines of a file as fields, for hints about its header.
fn preview_rows(text: &[u8], delimiter: u8) -> Vec<(usize, Vec<String>)> {
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let mut out = Vec::new();
    let mut record = ::csv::StringRecord::new();
    while out.len() < super::layout::PREVIEW_ROWS {
        match reader.read_record(&mut record) {
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                out.push((line, record.iter().map(|f| f.trim().to_string()).collect()));
            }
            _ => break,
        }
    }
    out
}

/// The line where a quoted field opens and never closes, if one does. Only a quote that
/// begins a field opens one (`12" pan` is text), as CSV readers take it.
fn unclosed_quote(text: &[u8], delimiter: u8) -> Option<u64> {
    let (mut line, mut i, mut at_field_start) = (1u64, 0usize, true);
    while i < text.len() {
        let b = text[i];
        if at_field_start && b == b'"' {
            let opened = line;
            i += 1;
            loop {
                match text.get(i) {
                    None => return Some(opened),
                    Some(b'"') if text.get(i + 1) == Some(&b'"') => i += 2,
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\n') => {
                        line += 1;
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
            at_field_start = false;
            continue;
        }
        match b {
            b'\n' => {
                line += 1;
                at_field_start = true;
            }
            _ if b == delimiter => at_field_start = true,
            _ => at_field_start = false,
        }
        i += 1;
    }
    None
}

fn open_quote_message(path: &Path, line: u64) -> String {
    format!(
        "{}:{line}: a quoted field opens here and never closes (an unmatched '\"')\n    \
         hint: the export is cut off or a text holds a stray quote; fix the line or export again",
        path.display()
    )
}

/// polars' error for a file, reworded: the first record whose field count differs from
/// the header's, with its line; otherwise polars' first line, without its hints.
fn diagnose(
    path: &Path,
    text: &[u8],
    layout: &Layout,
    delimiter: u8,
    width: usize,
    error: &PolarsError,
) -> String {
    if let Some(line) = unclosed_quote(text, delimiter) {
        return open_quote_message(path, line);
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let mut record = ::csv::ByteRecord::new();
    let first = (layout.header_row + layout.skip_rows + 1) as u64;
    while let Ok(true) = reader.read_byte_record(&mut record) {
        let line = record.position().map_or(0, |p| p.line());
        if line >= first && record.len() != width && !(record.len() == 1 && record[0].is_empty()) {
            let joined: Vec<u8> = record.iter().collect::<Vec<_>>().join(&[delimiter][..]);
            let excerpt = excerpt(&joined);
            return format!(
                "{}:{line}: the record has {} fields, the header (line {}) has {width}: {excerpt}\n    \
                 hint: a text with an unquoted '{}' in it, or rows of another layout; check the line",
                path.display(),
                record.len(),
                layout.header_row,
                delimiter as char
            );
        }
    }
    let text = error.to_string();
    let first_line = text.lines().next().unwrap_or("");
    format!(
        "{}: cannot read as CSV: {}",
        path.display(),
        first_line.chars().take(200).collect::<String>()
    )
}

/// At most 60 characters of a record, for messages.
pub(super) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let short: String = text.chars().take(60).collect();
    if short.len() < text.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

/// Undecodable bytes in a mapped column stop the run (file, line, column); elsewhere the
/// rows holding them are counted.
fn undecodable(
    path: &Path,
    frame: &DataFrame,
    text: &[u8],
    first: u64,
    encoding: Encoding,
) -> Result<u64> {
    let rows = frame.column(ROW)?.u64()?;
    let mut bad = Vec::new();
    for column in frame.columns() {
        let Ok(cells) = column.str() else { continue };
        for (i, cell) in cells.iter().enumerate() {
            if cell.is_some_and(|c| c.contains('\u{FFFD}')) && bad.len() < 10 {
                bad.push(format!(
                    "{}:{}: column {:?}: bytes that are not {}",
                    path.display(),
                    rows.get(i).unwrap_or(0),
                    column.name().as_str(),
                    encoding.name()
                ));
            }
        }
    }
    if !bad.is_empty() {
        let hint = if encoding.is_utf8() {
            "exports from older POS systems are often Windows-1252: set encoding = \"windows-1252\""
        } else {
            "set `encoding` to the one the export is written in"
        };
        bail!("{}\n    hint: {hint}", bad.join("\n"));
    }
    // Records after the header block that hold a replacement character somewhere.
    let body = memchr::memchr_iter(b'\n', text)
        .nth((first - 2) as usize)
        .map_or(text.len(), |i| i + 1);
    Ok(super::records::Records::new(&text[body..])
        .filter(|(r, _)| memchr::memmem::find(r, "\u{FFFD}".as_bytes()).is_some())
        .count() as u64)
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

/// Whether a line after the header block is blank (see `records::is_blank`).
fn has_blank_line(text: &[u8], first: u64, delimiter: u8) -> bool {
    let mut start = 0usize;
    for (i, end) in memchr::memchr_iter(b'\n', text)
        .chain(std::iter::once(text.len()))
        .enumerate()
    {
        if i as u64 + 1 >= first
            && start < text.len()
            && super::records::is_blank(&text[start..end], delimiter)
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
    let mut records = super::records::Records::new(body);
    for (record, lines) in records.by_ref() {
        if !super::records::is_blank(record, delimiter) {
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
    super::records::record_lines(&text[start..], first)
}
