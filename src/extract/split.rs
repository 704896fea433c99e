//! The split pass: one streaming read of a big CSV file that writes each record to its
//! location's bucket file (under the run's temporary work folder), with its original
//! line number in a side file so that messages still name the real line. The pass also
//! hashes the file for the manifest.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::Utc;
use polars::prelude::{InitHashMaps, PlHashMap};
use sha2::{Digest, Sha256};

use super::records::{Records, is_blank};
use crate::columns::Field;
use crate::input::InputFile;
use crate::job::{Encoding, Format, Source};

/// Size of the blocks the split pass reads.
const BLOCK: usize = 8 << 20;

/// One CSV file split into buckets.
pub(super) struct SplitFile {
    pub input: InputFile,
    /// Per bucket: the file's header lines, then the bucket's records.
    pub parts: Vec<PathBuf>,
    /// Per bucket: the records' line numbers in the original file (u64, little-endian).
    pub lines: Vec<PathBuf>,
}

/// The bucket of a location (stable within a run; empty locations go to bucket 0).
pub(super) fn bucket_of(location: &str, count: u32) -> u32 {
    if location.is_empty() || count == 1 {
        return 0;
    }
    // Bytes 8..16 of the digest: independent of the shard hash (bytes 0..8), so the
    // buckets of one shard are as even as the shards themselves.
    let digest = Sha256::digest(location.as_bytes());
    let n = u64::from_be_bytes(digest[8..16].try_into().expect("8 bytes"));
    (n % u64::from(count)) as u32
}

/// Splits one file; `None` when the file does not look as the job says (no such
/// header, undecodable text): it is then read whole, where the error is worded.
pub(super) fn split_file(
    source: &Source,
    path: &Path,
    count: u32,
    to: &Path,
) -> Result<Option<SplitFile>> {
    let Format::Csv {
        delimiter,
        encoding,
    } = source.format
    else {
        return Ok(None);
    };
    // Delimiters and line ends are found in the raw bytes: UTF-16 is read whole.
    if !encoding.ascii_compatible() {
        return Ok(None);
    }
    let layout = &source.layout;
    let extracted_at = Utc::now();
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK * 2);
    let mut eof = false;
    let mut fill = |buf: &mut Vec<u8>, eof: &mut bool| -> Result<()> {
        let start = buf.len();
        buf.resize(start + BLOCK, 0);
        let n = file
            .read(&mut buf[start..])
            .with_context(|| format!("cannot read {}", path.display()))?;
        buf.truncate(start + n);
        hasher.update(&buf[start..]);
        size += n as u64;
        *eof = n == 0;
        Ok(())
    };

    // The preamble: every line up to and including the header and the skipped rows.
    let preamble_lines = layout.header_row + layout.skip_rows;
    let preamble_end = loop {
        if let Some(end) = memchr::memchr_iter(b'\n', &buf)
            .nth(preamble_lines - 1)
            .map(|i| i + 1)
        {
            break end;
        }
        if eof {
            return Ok(None);
        }
        fill(&mut buf, &mut eof)?;
    };
    let preamble = buf[..preamble_end].to_vec();
    let Some(preamble_text) = decode(&preamble, encoding) else {
        return Ok(None);
    };
    let body = preamble_text
        .strip_prefix('\u{feff}')
        .unwrap_or(&preamble_text);
    let headers = super::csv::header_fields(body.as_bytes(), layout.header_row, delimiter);
    let Some(location_header) = layout.for_headers(&headers).remove(&Field::Location) else {
        return Ok(None);
    };
    let Some(column) = headers.iter().position(|h| *h == location_header) else {
        return Ok(None);
    };
    buf.drain(..preamble_end);

    let mut parts = Vec::with_capacity(count as usize);
    let mut line_files = Vec::with_capacity(count as usize);
    let mut writers = Vec::with_capacity(count as usize);
    for b in 0..count {
        let part = to.join(format!("{b}.csv"));
        let lines = to.join(format!("{b}.lines"));
        let mut w = BufWriter::with_capacity(1 << 16, crate::files::create(&part)?);
        w.write_all(&preamble)?;
        let l = BufWriter::with_capacity(1 << 14, crate::files::create(&lines)?);
        writers.push((w, l));
        parts.push(part);
        line_files.push(lines);
    }

    let names = &layout.location_names;
    // Looked up once per record: a fast hash, and the last location first (exports
    // are often grouped by store).
    let mut memo: PlHashMap<Vec<u8>, u32> = PlHashMap::new();
    let mut last: (Vec<u8>, u32) = (Vec::new(), u32::MAX);
    let mut bucket = |field: &[u8]| -> Option<u32> {
        if last.1 != u32::MAX && last.0 == field {
            return Some(last.1);
        }
        if let Some(&b) = memo.get(field) {
            last.0.clear();
            last.0.extend_from_slice(field);
            last.1 = b;
            return Some(b);
        }
        let text = decode(&unquote(field), encoding)?;
        // As layout.rs maps names: trimmed, then looked up.
        let location = if names.is_empty() {
            text.as_str()
        } else {
            let t = text.trim();
            names.get(t).map_or(t, String::as_str)
        };
        let b = bucket_of(location, count);
        memo.insert(field.to_vec(), b);
        last.0.clear();
        last.0.extend_from_slice(field);
        last.1 = b;
        Some(b)
    };

    let mut line = preamble_lines as u64 + 1;
    loop {
        let complete = if eof {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                None => {
                    fill(&mut buf, &mut eof)?;
                    continue;
                }
            }
        };
        let region = &buf[..complete];
        if encoding.is_utf8() && std::str::from_utf8(region).is_err() {
            return Ok(None);
        }
        let mut records = Records::new(region);
        for (record, lines_in_record) in records.by_ref() {
            if is_blank(record, delimiter) {
                line += lines_in_record;
                continue;
            }
            let Some(b) = bucket(field_at(trim_newline(record), column, delimiter)) else {
                return Ok(None);
            };
            let (w, l) = &mut writers[b as usize];
            w.write_all(record)?;
            if !record.ends_with(b"\n") {
                w.write_all(b"\n")?;
            }
            l.write_all(&line.to_le_bytes())?;
            line += lines_in_record;
        }
        let consumed = records.consumed();
        if eof {
            // An unterminated quote runs to the end: leave it to the reader to report.
            if consumed < region.len() {
                return Ok(None);
            }
            break;
        }
        buf.drain(..consumed);
        fill(&mut buf, &mut eof)?;
    }
    for (mut w, mut l) in writers {
        w.flush()?;
        l.flush()?;
    }
    Ok(Some(SplitFile {
        input: InputFile {
            source: source.name.clone(),
            path: path.to_path_buf(),
            size,
            sha256: format!("{:x}", hasher.finalize()),
            records: 0,
            rows: 0,
            skipped: 0,
            undecodable_rows: 0,
            extracted_at,
        },
        parts,
        lines: line_files,
    }))
}

/// Text in an ASCII-compatible encoding, if every byte decodes (else the file is read
/// whole, where bad bytes are reported or counted).
fn decode(bytes: &[u8], encoding: Encoding) -> Option<String> {
    if encoding.is_utf8() {
        return std::str::from_utf8(bytes).ok().map(str::to_string);
    }
    let (text, errors) = encoding.0.decode_without_bom_handling(bytes);
    (!errors).then(|| text.into_owned())
}

fn trim_newline(record: &[u8]) -> &[u8] {
    let r = record.strip_suffix(b"\n").unwrap_or(record);
    r.strip_suffix(b"\r").unwrap_or(r)
}

/// The raw bytes of field `index` of one record (quotes still on).
fn field_at(record: &[u8], index: usize, delimiter: u8) -> &[u8] {
    let mut field = 0;
    let mut start = 0;
    let mut in_quotes = false;
    for (i, &b) in record.iter().enumerate() {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == delimiter && !in_quotes {
            if field == index {
                return &record[start..i];
            }
            field += 1;
            start = i + 1;
        }
    }
    if field == index {
        &record[start..]
    } else {
        b""
    }
}

/// A field as the CSV reader gives it: outer quotes off, doubled quotes single.
fn unquote(field: &[u8]) -> Vec<u8> {
    match field {
        [b'"', inner @ .., b'"'] => {
            let mut out = Vec::with_capacity(inner.len());
            let mut i = 0;
            while i < inner.len() {
                out.push(inner[i]);
                if inner[i] == b'"' && inner.get(i + 1) == Some(&b'"') {
                    i += 1;
                }
                i += 1;
            }
            out
        }
        _ => field.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_respect_quotes() {
        let r = br#"BOS-01,"SKU, ""big""",3"#;
        assert_eq!(field_at(r, 0, b','), b"BOS-01");
        assert_eq!(field_at(r, 1, b','), br#""SKU, ""big""""#);
        assert_eq!(unquote(field_at(r, 1, b',')), br#"SKU, "big""#);
        assert_eq!(field_at(r, 2, b','), b"3");
        assert_eq!(field_at(r, 5, b','), b"");
    }
}
