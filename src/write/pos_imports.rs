//! Corrections for a store system, as the file that system imports: its own export,
//! cut down to the rows to change, with the new figure where its import reads it.
//!
//! - Shopify (Products > Inventory > Import): the inventory CSV's rows, each with
//!   `On hand (new)` set (the older layout's `On hand`); Shopify identifies a row by
//!   Handle, option values and Location, which only the export itself holds, so every
//!   other cell is kept as exported. Shopify takes whole numbers only.
//! - Square (Items > Import library): the item library's rows, each with `New Quantity
//!   <Location>` set for the locations to change, and `Default Unit Cost` for a cost
//!   correction; the other locations' `New Quantity` cells stay empty (unchanged).
//!
//! The rows are read back from the files the run read (each line names its file and
//! line), so the import matches the export byte for byte but for the figures it sets.
//! A source of either side may ask for its system's import (a store system is usually
//! observed). Cells that a spreadsheet would run as a formula are neutralised, as in every CSV
//! tally writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use polars::prelude::*;

use crate::discrepancy::{Kind, Side};
use crate::schema::{correction, line};

/// Which system's import a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosImport {
    Shopify,
    Square,
}

/// What one source row should hold after the corrections.
#[derive(Default)]
struct RowChange {
    /// Location (the source's own name) → new quantity.
    qty: BTreeMap<String, String>,
    unit_cost: Option<String>,
}

/// The import files for `part` (one side's corrections), one per source file they came
/// from: (the file's stem, CSV bytes). `lines` gives each correction's source file and line;
/// `names` maps location codes back to the source's own names.
pub fn imports(
    format: PosImport,
    part: &DataFrame,
    lines: &DataFrame,
    side: Side,
    sources: &BTreeSet<String>,
    names: &BTreeMap<String, String>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let p = side.as_str();
    let joined = part
        .clone()
        .lazy()
        .join(
            lines.clone().lazy().select([
                col(line::LINE),
                col(format!("{p}_source")).alias(line::OBSERVED_SOURCE),
                col(format!("{p}_file")).alias(line::OBSERVED_FILE),
                col(format!("{p}_row")).alias(line::OBSERVED_ROW),
            ]),
            [col(correction::LINE)],
            [col(line::LINE)],
            JoinArgs::new(JoinType::Inner),
        )
        .collect()?;
    let text = |c: &str| -> Result<StringChunked> {
        Ok(joined.column(c)?.cast(&DataType::String)?.str()?.clone())
    };
    let (source, file, row) = (
        text(line::OBSERVED_SOURCE)?,
        text(line::OBSERVED_FILE)?,
        joined.column(line::OBSERVED_ROW)?.u64()?.clone(),
    );
    let (location, kind) = (text(correction::LOCATION)?, text(correction::KIND)?);
    let (new_qty, new_cost) = (text(correction::NEW_QTY)?, text(correction::NEW_UNIT_COST)?);
    let mut by_file: BTreeMap<PathBuf, BTreeMap<u64, RowChange>> = BTreeMap::new();
    for i in 0..joined.height() {
        let (Some(s), Some(f), Some(r)) = (source.get(i), file.get(i), row.get(i)) else {
            continue;
        };
        if !sources.contains(s) {
            continue;
        }
        let change = by_file
            .entry(PathBuf::from(f))
            .or_default()
            .entry(r)
            .or_default();
        let code = location.get(i).unwrap_or("");
        let name = names.get(code).cloned().unwrap_or_else(|| code.to_string());
        if kind.get(i) == Some(Kind::CostMismatch.as_str()) {
            change.unit_cost = new_cost.get(i).map(str::to_string);
        } else if let Some(q) = new_qty.get(i) {
            change.qty.insert(name, q.to_string());
        }
    }
    let mut out = Vec::new();
    for (path, rows) in by_file {
        let rows: BTreeMap<u64, RowChange> = rows
            .into_iter()
            .filter(|(_, c)| match format {
                // Shopify's inventory import has no cost column.
                PosImport::Shopify => !c.qty.is_empty(),
                PosImport::Square => !c.qty.is_empty() || c.unit_cost.is_some(),
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let bytes = rewrite(format, &path, &rows)?;
        let stem = path
            .file_stem()
            .map_or_else(|| "import".into(), |s| s.to_string_lossy().into_owned());
        out.push((stem, bytes));
    }
    Ok(out)
}

/// The export's header and the rows to change, with the new figures set.
fn rewrite(format: PosImport, path: &Path, rows: &BTreeMap<u64, RowChange>) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read {} again for its import file", path.display()))?;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let mut records = reader.records();
    let Some(header) = records.next() else {
        bail!("{}: empty on reading it again", path.display());
    };
    let mut header: Vec<String> = header
        .with_context(|| format!("{}: line 1", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let column = |header: &mut Vec<String>, name: &str| -> usize {
        match header.iter().position(|h| h == name) {
            Some(i) => i,
            None => {
                header.push(name.to_string());
                header.len() - 1
            }
        }
    };
    let shopify_qty = if header.iter().any(|h| h == "On hand (new)") {
        "On hand (new)"
    } else {
        "On hand"
    };
    // Square: a "New Quantity <Location>" column for every location to change.
    let mut targets: BTreeMap<String, usize> = BTreeMap::new();
    for change in rows.values() {
        for location in change.qty.keys() {
            if !targets.contains_key(location) {
                let name = match format {
                    PosImport::Shopify => shopify_qty.to_string(),
                    PosImport::Square => format!("New Quantity {location}"),
                };
                let i = column(&mut header, &name);
                targets.insert(location.clone(), i);
            }
        }
    }
    let cost_column = (format == PosImport::Square && rows.values().any(|c| c.unit_cost.is_some()))
        .then(|| column(&mut header, "Default Unit Cost"));
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(header.iter().map(|h| safe(h).into_owned()))?;
    let mut found = 0;
    // A record's line: the newlines before where it starts, plus one (as the reader
    // numbered it; a quoted field may span lines).
    let (mut line, mut counted_to) = (1u64, 0usize);
    for record in records {
        let record = record.with_context(|| format!("{}: reading it again", path.display()))?;
        let mut start = record.position().map_or(counted_to, |p| p.byte() as usize);
        // After a CRLF the reader places the next record at the LF.
        if text.get(start) == Some(&b'\n') {
            start += 1;
        }
        line += memchr::memchr_iter(b'\n', &text[counted_to..start.max(counted_to)]).count() as u64;
        counted_to = start.max(counted_to);
        let Some(change) = rows.get(&line) else {
            continue;
        };
        found += 1;
        let mut cells: Vec<String> = record.iter().map(str::to_string).collect();
        cells.resize(header.len(), String::new());
        for (location, qty) in &change.qty {
            cells[targets[location]] = qty.clone();
        }
        if let (Some(i), Some(cost)) = (cost_column, &change.unit_cost) {
            cells[i] = cost.clone();
        }
        out.write_record(cells.iter().map(|c| safe(c).into_owned()))?;
    }
    if found != rows.len() {
        bail!(
            "{}: {} of the {} rows to correct are no longer where the run read them (the file changed since)",
            path.display(),
            rows.len() - found,
            rows.len()
        );
    }
    out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

fn safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if super::is_formula(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}
