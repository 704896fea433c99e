//! An input as read, before the pipeline: a raw table (text cells under the input's own
//! headers) and what the manifest records about the input. Readers produce these; the
//! layout and typing stages, the ODBC side and the manifest use them.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use polars::prelude::DataFrame;

/// What the manifest records about each input file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InputFile {
    pub source: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// Records in the file (data lines or sheet rows).
    pub records: u64,
    /// Snapshot rows the records became (more than records for wide exports).
    pub rows: u64,
    /// Records left out by the source's `skip_when` (not items: image rows, totals).
    #[serde(default)]
    pub skipped: u64,
    /// Records with bytes the declared encoding does not define, in columns the job does
    /// not read (in a read column they stop the run).
    #[serde(default)]
    pub undecodable_rows: u64,
    pub extracted_at: DateTime<Utc>,
}

/// A file's cells as text under its own headers, before mapping.
pub struct RawTable {
    /// String columns named by the file's headers, plus `_row` (UInt64).
    pub frame: DataFrame,
    /// Every header of the file, including columns the reader skipped.
    pub headers: Vec<String>,
    /// How a row number reads in messages: "line" (CSV) or "sheet \"X\" row" (spreadsheets).
    pub row_label: String,
    /// Records holding bytes the encoding does not define, in columns the job does not
    /// read (in a mapped column they stop the run).
    pub undecodable_rows: u64,
    /// Records the source's `skip_when` left out (rows a system writes for other purposes).
    pub skipped: u64,
}

/// One source's rows, with the canonical columns.
pub struct Snapshot {
    pub source: String,
    pub frame: DataFrame,
    pub inputs: Vec<InputFile>,
}
