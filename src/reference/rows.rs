//! The rows of a reference table (cross-references, conversions, movements) as the
//! rules' loaders read them, and the problems found in them, reported all at once.

use std::path::Path;

use anyhow::{Result, bail};
use polars::prelude::*;

use crate::columns::{Field, ROW};
use crate::input::RawTable;
use crate::job::Source;

/// How many bad cells one error lists before it summarises.
const MAX_LISTED: usize = 10;

/// A raw table's rows for the parsers: cells by canonical name, and where each row is.
pub struct Rows<'a> {
    table: &'a RawTable,
    path: &'a Path,
    source: &'a Source,
    rows: Vec<u64>,
}

impl<'a> Rows<'a> {
    pub fn new(table: &'a RawTable, path: &'a Path, source: &'a Source) -> Rows<'a> {
        let rows = table
            .frame
            .column(ROW)
            .ok()
            .and_then(|c| c.u64().ok().map(|c| c.into_no_null_iter().collect()))
            .unwrap_or_default();
        Rows {
            table,
            path,
            source,
            rows,
        }
    }

    pub fn source(&self) -> &Source {
        self.source
    }

    /// `row 12 column "Barcode"`-style place of one cell.
    pub fn cell(&self, i: usize, field: Field) -> String {
        let header = self
            .source
            .layout
            .columns
            .get(&field)
            .cloned()
            .unwrap_or_else(|| field.column().to_string());
        format!("{}: column {header:?} ({})", self.place(i), field.column())
    }

    pub fn len(&self) -> usize {
        self.table.frame.height()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A canonical column's cells (all null when the source does not map it).
    pub fn column(&self, name: &str) -> Result<StringChunked> {
        Ok(match self.table.frame.column(name) {
            Ok(c) => c.str()?.clone(),
            Err(_) => StringChunked::full_null(name.into(), self.len()),
        })
    }

    /// "file:line" or "file: sheet row N" for row `i`.
    pub fn place(&self, i: usize) -> String {
        let n = self.rows.get(i).copied().unwrap_or(0);
        if self.table.row_label == "line" {
            format!("{}:{n}", self.path.display())
        } else {
            format!("{}: {} {n}", self.path.display(), self.table.row_label)
        }
    }

    pub fn path(&self) -> &Path {
        self.path
    }

    pub fn row(&self, i: usize) -> u64 {
        self.rows.get(i).copied().unwrap_or(0)
    }
}

/// Collects a table's bad cells and fails with all of them (up to a limit) at once.
#[derive(Default)]
pub struct Problems(Vec<String>);

impl Problems {
    pub fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    pub fn finish(self, what: &str) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let n = self.0.len();
        let mut msg = format!("{what}: {n} bad row(s)\n");
        msg.push_str(
            &self
                .0
                .into_iter()
                .take(MAX_LISTED)
                .collect::<Vec<_>>()
                .join("\n"),
        );
        if n > MAX_LISTED {
            msg.push_str(&format!("\n... and {} more", n - MAX_LISTED));
        }
        bail!(msg)
    }
}
