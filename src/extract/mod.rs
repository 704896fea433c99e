//! Extraction: each source's files (or database query) into one snapshot frame with the
//! canonical columns (columns.rs) and each row's provenance (source, file, line, sheet
//! row or result row).
//!
//! A reader (`csv`, `excel`, and `odbc::read` for databases) turns its input into a *raw
//! table*: every cell as text, under the input's own headers, with the row number of each
//! record. `layout` then maps the headers to canonical columns (unpivoting wide exports),
//! and `typing` parses the numbers exactly. `split` puts big inputs in buckets of
//! locations. Adding a file kind means one reader and one arm in `extract_file`.

mod buckets;
mod csv;
mod excel;
mod layout;
mod parquet;
mod records;
mod split;
pub mod typing;

pub use buckets::{Buckets, SetAside};

use std::path::Path;

use anyhow::{Context, Result};
use chrono::Utc;
use polars::prelude::*;

pub use crate::input::{InputFile, RawTable, Snapshot};
use crate::job::{Format, Source};
use crate::progress::trace;

/// Plans the buckets of a run (split.rs): big CSV inputs split by location, other
/// sources read once and parted.
pub fn plan_buckets(job: &crate::job::Job, memory: u64, work: &Path) -> Result<Buckets> {
    Buckets::plan(job, memory, work, &|source| {
        extract(source, &Buckets::one(), 0)
    })
}

/// Extracts the rows of `source` whose location is in `bucket` (all with one bucket).
pub fn extract(source: &Source, buckets: &Buckets, bucket: u32) -> Result<Snapshot> {
    if let Some(part) = buckets.whole_part(&source.name, bucket)? {
        return Ok(part);
    }
    if let Format::Odbc(odbc) = &source.format {
        let t = std::time::Instant::now();
        let (mut raw, mut input) = crate::odbc::read::read(source, odbc)?;
        trace("  odbc fetch", t);
        let netted = crate::odbc::ledger::net_into(&mut raw, source)?;
        if netted.entries > 0 {
            eprintln!(
                "note: source `{}`: {} outstanding ledger entr{} (posted by tally, not yet by \
                 the ERP) netted into the book: {} row(s) changed, {} added",
                source.name,
                netted.entries,
                if netted.entries == 1 { "y" } else { "ies" },
                netted.rows,
                netted.added
            );
        }
        let canonical = layout::apply(raw, &source.layout, &input.path)?;
        let frame = typing::apply(canonical, &source.name, &input.path, &source.layout)?;
        input.rows = frame.height() as u64;
        // With buckets, `whole_part` above has this source's rows already parted.
        return Ok(Snapshot {
            source: source.name.clone(),
            frame,
            inputs: vec![input],
        });
    }
    let mut frames = Vec::with_capacity(source.files.len());
    let mut inputs = Vec::with_capacity(source.files.len());
    for path in &source.files {
        let (frame, input) = match buckets.part(path, bucket)? {
            Some(part) => extract_part(source, path, part)?,
            None => {
                // A file of a splittable source that the split pass left whole (it did not
                // look as the job says): read in every bucket, so that its error is worded
                // as in a one-pass run; its figures count once.
                let (frame, mut input) = extract_file(source, path)?;
                if bucket > 0 {
                    (input.records, input.rows) = (0, 0);
                }
                (buckets.keep(frame, bucket)?, input)
            }
        };
        frames.push(frame);
        inputs.push(input);
    }
    let mut frame = match frames.len() {
        0 => anyhow::bail!(
            "source `{}`: no file matches {}",
            source.name,
            source.pattern
        ),
        _ => {
            let mut it = frames.into_iter();
            let mut first = it.next().expect("one frame at least");
            for f in it {
                first.vstack_mut_owned(f)?;
            }
            first
        }
    };
    frame.rechunk_mut();
    Ok(Snapshot {
        source: source.name.clone(),
        frame,
        inputs,
    })
}

/// A bucket's part of a split CSV file: its records, with their original line numbers.
fn extract_part(
    source: &Source,
    path: &Path,
    part: buckets::FilePart,
) -> Result<(DataFrame, InputFile)> {
    let Format::Csv {
        delimiter,
        encoding,
    } = &source.format
    else {
        unreachable!("only CSV files are split");
    };
    let t = std::time::Instant::now();
    let raw = csv::read(
        path,
        part.bytes,
        *delimiter,
        *encoding,
        &source.layout,
        Some(part.lines),
    )?;
    trace("  parse", t);
    let t = std::time::Instant::now();
    let records = raw.frame.height() as u64;
    let canonical = layout::apply(raw, &source.layout, path)?;
    trace("    layout", t);
    let skipped = canonical.skipped;
    let frame = typing::apply(canonical, &source.name, path, &source.layout)?;
    trace("  layout and typing", t);
    let input = InputFile {
        records,
        rows: frame.height() as u64,
        skipped,
        ..part.input
    };
    Ok((frame, input))
}

fn extract_file(source: &Source, path: &Path) -> Result<(DataFrame, InputFile)> {
    let (canonical, mut input) = read_mapped(source, path)?;
    let t = std::time::Instant::now();
    let frame = typing::apply(canonical, &source.name, path, &source.layout)?;
    trace("  typing", t);
    input.rows = frame.height() as u64;
    Ok((frame, input))
}

/// A file read, hashed, parsed and mapped to the canonical names (cells still text);
/// its record says one row per record until typing says otherwise.
fn read_mapped(source: &Source, path: &Path) -> Result<(RawTable, InputFile)> {
    let t = std::time::Instant::now();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let extracted_at = Utc::now();
    let sha256 = crate::values::sha256_hex(&bytes);
    trace("  read and hash", t);
    let t = std::time::Instant::now();
    let size = bytes.len() as u64;
    let raw = match &source.format {
        Format::Csv {
            delimiter,
            encoding,
        } => csv::read(path, bytes, *delimiter, *encoding, &source.layout, None)?,
        Format::Excel { sheet } => excel::read(path, bytes, sheet.as_deref(), &source.layout)?,
        Format::Parquet => parquet::read(path, bytes, &source.layout)?,
        Format::Odbc(_) => unreachable!("odbc sources have no files"),
    };
    trace("  parse", t);
    let t = std::time::Instant::now();
    let records = raw.frame.height() as u64;
    let canonical = layout::apply(raw, &source.layout, path)?;
    trace("    layout", t);
    let input = InputFile {
        source: source.name.clone(),
        path: path.to_path_buf(),
        size,
        sha256,
        records,
        rows: canonical.frame.height() as u64,
        skipped: canonical.skipped,
        undecodable_rows: canonical.undecodable_rows,
        extracted_at,
    };
    Ok((canonical, input))
}

/// A table the rules use (cross-references, conversions, movements): each file's or the
/// query's cells as text under the canonical names, with its record for the manifest.
pub fn tables(source: &Source) -> Result<Vec<(RawTable, InputFile)>> {
    if let Format::Odbc(odbc) = &source.format {
        let (raw, mut input) = crate::odbc::read::read(source, odbc)?;
        let raw = layout::apply(raw, &source.layout, &input.path)?;
        input.rows = raw.frame.height() as u64;
        return Ok(vec![(raw, input)]);
    }
    source
        .files
        .iter()
        .map(|path| read_mapped(source, path))
        .collect()
}

/// The header of a source's file as the source reads it, for `tally check`'s note on
/// which preset a file looks like (CSV files; `None` when it cannot be read).
pub fn file_headers(source: &Source, path: &Path) -> Option<Vec<String>> {
    let Format::Csv {
        delimiter,
        encoding,
    } = &source.format
    else {
        return None;
    };
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut head)
        .ok()?;
    let (text, _, _) = encoding.0.decode(&head);
    let text = text.trim_start_matches('\u{feff}');
    Some(csv::header_fields(
        text.as_bytes(),
        source.layout.header_row,
        *delimiter,
    ))
}

/// For `tally check`: reads each of the source's inputs, maps its headers and types its
/// cells as a run would (without matching), returning every problem found: missing mapped
/// columns, unreadable or empty files, cells that are not numbers. Nothing is written.
pub fn check_headers(source: &Source) -> Vec<String> {
    let mut problems = Vec::new();
    if let Format::Odbc(odbc) = &source.format {
        let checked = crate::odbc::read::headers(source, odbc).and_then(|(headers, place)| {
            let frame = DataFrame::new(
                0,
                headers
                    .iter()
                    .map(|h| Column::new_empty(h.as_str().into(), &DataType::String))
                    .chain(std::iter::once(Column::new_empty(
                        crate::columns::ROW.into(),
                        &DataType::UInt64,
                    )))
                    .collect(),
            )?;
            let raw = RawTable {
                frame,
                headers,
                row_label: "row".into(),
                undecodable_rows: 0,
                skipped: 0,
            };
            layout::apply(raw, &source.layout, &place)?;
            crate::odbc::apply::check(source)?;
            // The rows too, typed as a run types them (a database is only read).
            if source.role == crate::job::Role::Snapshot {
                let (raw, input) = crate::odbc::read::read(source, odbc)?;
                let canonical = layout::apply(raw, &source.layout, &input.path)?;
                typing::apply(canonical, &source.name, &input.path, &source.layout)?;
            }
            Ok(())
        });
        if let Err(e) = checked {
            problems.push(format!("source `{}`: {e:#}", source.name));
        }
        return problems;
    }
    for path in &source.files {
        let checked = read_mapped(source, path).and_then(|(canonical, _)| {
            if source.role == crate::job::Role::Snapshot {
                typing::apply(canonical, &source.name, path, &source.layout)?;
            }
            Ok(())
        });
        if let Err(e) = checked {
            problems.push(format!("{e:#}"));
        }
    }
    problems
}
