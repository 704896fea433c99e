//! `tally audit export`: every line the ledger's runs recorded, with its decision, its
//! approval and its posting, as one table (CSV, xlsx or Parquet), filtered by date,
//! location, SKU, run and decision. Lines are read from the run directories and checked
//! against the roots the chain holds first: an export never shows a line the ledger
//! does not vouch for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use polars::prelude::*;
use serde_json::Value;

use super::ledger::{Break, EntryKind, read_chain};
use super::merkle;
use crate::schema::line;

/// Which lines to export (every filter given must hold).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Runs started on or after / on or before these dates (YYYY-MM-DD, UTC).
    pub from: Option<String>,
    pub to: Option<String>,
    pub locations: Vec<String>,
    /// A SKU as either side wrote it, or the item key.
    pub skus: Vec<String>,
    pub runs: Vec<String>,
    /// Resolutions (ignore, correct_book, review, ...).
    pub decisions: Vec<String>,
}

/// The columns the export adds after each line's own.
const ADDED: [&str; 9] = [
    "run_id",
    "run_started_at",
    "operator",
    "approved_by",
    "approved_os_user",
    "approved_at",
    "posting",
    "posted_to",
    "posting_reference",
];

pub fn table(ledger: &Path, filter: &Filter) -> Result<DataFrame> {
    let text = std::fs::read(ledger)
        .with_context(|| format!("cannot read the ledger {}", ledger.display()))?;
    let (entries, broken) = read_chain(&text);
    if let Some(Break::Bad { line, .. }) = broken {
        bail!(
            "{}:{line}: the chain is broken there; run `tally audit verify {}` (nothing exported)",
            ledger.display(),
            ledger.display()
        );
    }
    // Approvals and postings per run and line.
    let mut approvals: BTreeMap<(String, u64), (String, String, String)> = BTreeMap::new();
    let mut postings: BTreeMap<(String, u64), (String, String, String)> = BTreeMap::new();
    for e in &entries {
        let run = e.body["run_id"].as_str().unwrap_or("").to_string();
        let lines_of = |key: &str| -> Vec<u64> {
            e.body[key]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default()
        };
        let text = |key: &str| e.body[key].as_str().unwrap_or("").to_string();
        match e.kind {
            EntryKind::Approval => {
                for l in lines_of("lines") {
                    approvals.insert(
                        (run.clone(), l),
                        (text("name"), text("os_user"), text("at")),
                    );
                }
            }
            EntryKind::Posting => {
                let reference = format!("tally_applied: run_id {run}, target {}", text("source"));
                let written = if e.body["pending_erp_posting"] == true {
                    "written, pending the ERP's posting"
                } else {
                    "written"
                };
                for (key, what) in [
                    ("written", written),
                    ("stale", "stale"),
                    ("no_row", "no_row"),
                ] {
                    for l in lines_of(key) {
                        // The latest apply's word on a line stands.
                        postings.insert(
                            (run.clone(), l),
                            (
                                what.to_string(),
                                text("source"),
                                format!("{reference}, line {l}"),
                            ),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<BTreeMap<String, String>> = Vec::new();
    for (i, header) in entries.iter().enumerate() {
        if header.kind != EntryKind::RunHeader {
            continue;
        }
        let run = header.body["run_id"].as_str().unwrap_or("").to_string();
        let started = header.body["started_at"].as_str().unwrap_or("").to_string();
        let day = started.get(..10).unwrap_or("");
        if !filter.runs.is_empty() && !filter.runs.contains(&run)
            || filter.from.as_deref().is_some_and(|f| day < f)
            || filter.to.as_deref().is_some_and(|t| day > t)
        {
            continue;
        }
        let Some(lines) = entries[i..]
            .iter()
            .find(|e| e.kind == EntryKind::Lines && e.body["run_id"].as_str() == Some(&run))
        else {
            continue;
        };
        let dir = PathBuf::from(header.body["run_dir"].as_str().unwrap_or(""));
        let names: Vec<String> = lines.body["columns"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let file = dir.join(super::record::LINES_FILE);
        let records = std::fs::read(&file).with_context(|| {
            format!(
                "run {run}: cannot read {} (nothing exported)",
                file.display()
            )
        })?;
        let records: Vec<&[u8]> = records
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let leaves: Vec<merkle::Hash> = records.iter().map(|r| merkle::leaf(r)).collect();
        if Some(merkle::hex(&merkle::root(&leaves)).as_str()) != lines.body["merkle_root"].as_str()
        {
            bail!(
                "run {run}: {} is not what the ledger recorded; run `tally audit verify` \
                 (nothing exported)",
                file.display()
            );
        }
        for name in &names {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
        let operator = header.body["operator"]["os_user"]
            .as_str()
            .unwrap_or("")
            .to_string();
        for record in records {
            let cells: Vec<Value> = serde_json::from_slice(record)?;
            let mut row: BTreeMap<String, String> = names
                .iter()
                .zip(cells)
                .filter_map(|(n, v)| Some((n.clone(), v.as_str()?.to_string())))
                .collect();
            let get = |k: &str| row.get(k).cloned().unwrap_or_default();
            let keep = (filter.locations.is_empty()
                || filter.locations.contains(&get(line::LOCATION)))
                && (filter.skus.is_empty()
                    || [line::BOOK_SKU, line::OBSERVED_SKU, line::ITEM_KEY]
                        .iter()
                        .any(|c| filter.skus.contains(&get(c))))
                && (filter.decisions.is_empty()
                    || filter.decisions.contains(&get(line::RESOLUTION)));
            if !keep {
                continue;
            }
            let number: u64 = get(line::LINE).parse().unwrap_or(0);
            let key = (run.clone(), number);
            row.insert("run_id".into(), run.clone());
            row.insert("run_started_at".into(), started.clone());
            row.insert("operator".into(), operator.clone());
            if let Some((name, os_user, at)) = approvals.get(&key) {
                row.insert("approved_by".into(), name.clone());
                row.insert("approved_os_user".into(), os_user.clone());
                row.insert("approved_at".into(), at.clone());
            }
            if let Some((what, to, reference)) = postings.get(&key) {
                row.insert("posting".into(), what.clone());
                row.insert("posted_to".into(), to.clone());
                row.insert("posting_reference".into(), reference.clone());
            }
            rows.push(row);
        }
    }
    // The lines' columns in their written order, then what the ledger adds.
    let mut ordered: Vec<String> = line::COLUMNS
        .iter()
        .map(|c| c.to_string())
        .filter(|c| columns.contains(c))
        .collect();
    ordered.extend(ADDED.iter().map(|c| c.to_string()));
    let series: Vec<Column> = ordered
        .iter()
        .map(|c| {
            let values: Vec<Option<&str>> =
                rows.iter().map(|r| r.get(c).map(String::as_str)).collect();
            Column::new(c.as_str().into(), values)
        })
        .collect();
    Ok(DataFrame::new(rows.len(), series)?)
}

/// Writes a table by the file's extension: .csv, .xlsx (one sheet, `sheet`) or .parquet
/// (the export, and the sample's count sheet).
pub fn write(table: &mut DataFrame, out: &Path, sheet: &str) -> Result<()> {
    match out.extension().and_then(|e| e.to_str()) {
        Some("csv") => {
            let mut file = crate::files::create(out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            CsvWriter::new(&mut file)
                .include_header(true)
                .finish(table)?;
            file.sync_all()?;
        }
        Some("parquet") => {
            crate::files::write_parquet(out, table, ParquetCompression::default(), true)?
        }
        Some("xlsx") => super::xlsx::write(table, out, sheet)?,
        _ => bail!("--out {}: a .csv, .xlsx or .parquet file", out.display()),
    }
    Ok(())
}
