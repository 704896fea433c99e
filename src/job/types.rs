//! The validated job: sources with their format and layout, pairings. `job::load`
//! builds it from the file (source.rs compiles each source).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rust_decimal::Decimal;

use super::raw::{Blank, CorrectionFormat, Role, WriteBackMode};
use crate::columns::Field;
use crate::rules::RuleSet;

#[derive(Debug)]
pub struct Job {
    pub path: PathBuf,
    pub sources: Vec<Source>,
    pub pairings: Vec<Pairing>,
    pub rules: RuleSet,
    pub output: PathBuf,
    /// Where each full run keeps the baseline for three-way sync (sync.rs).
    pub state: Option<PathBuf>,
    /// The audit ledger every run of the job is recorded in (audit/ledger.rs).
    pub ledger: Option<PathBuf>,
    /// Who may approve, each with the Ed25519 public key (hex) their approvals must be
    /// signed with; empty: approvals are not signed.
    pub approvers: std::collections::BTreeMap<String, String>,
    /// The job's own report templates, replacing the built-in ones by name.
    pub templates: Option<PathBuf>,
    /// What the recount sheets show besides the item: blind by default.
    pub recount_sheet: super::raw::RecountSheet,
}

impl Job {
    pub fn source(&self, name: &str) -> &Source {
        self.sources
            .iter()
            .find(|s| s.name == name)
            .expect("pairings reference validated sources")
    }

    /// Whether some pairing reads the source (unused sources are not extracted).
    pub fn uses(&self, source: &str) -> bool {
        let name = source.to_string();
        self.pairings
            .iter()
            .any(|p| p.book.contains(&name) || p.observed.contains(&name))
    }
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub role: Role,
    /// When the snapshot was taken, for rows without an as_of column.
    pub as_of: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub format: Format,
    /// The path or glob as written, for messages.
    pub pattern: String,
    /// The files the pattern matched when the job was loaded, sorted.
    pub files: Vec<PathBuf>,
    pub layout: Layout,
    pub corrections: CorrectionFormat,
}

/// A text file's encoding: any the WHATWG Encoding Standard names (encoding_rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding(pub &'static encoding_rs::Encoding);

impl Encoding {
    pub const UTF8: Encoding = Encoding(encoding_rs::UTF_8);

    /// The encoding a label names (`latin1`, `cp1252`, `utf-16le` ...), as browsers read it.
    pub fn for_label(label: &str) -> Option<Encoding> {
        encoding_rs::Encoding::for_label(label.trim().as_bytes()).map(Encoding)
    }

    pub fn is_utf8(self) -> bool {
        self.0 == encoding_rs::UTF_8
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Whether bytes below 0x80 are ASCII, so that delimiters and line ends can be found
    /// in the raw bytes (not so for UTF-16).
    pub fn ascii_compatible(self) -> bool {
        self.0.is_ascii_compatible()
    }
}

#[derive(Debug, Clone)]
pub enum Format {
    Csv { delimiter: u8, encoding: Encoding },
    Excel { sheet: Option<String> },
    Parquet,
    Odbc(Odbc),
}

/// A database read over ODBC.
#[derive(Debug, Clone)]
pub struct Odbc {
    /// As written: `${VAR}` is substituted only when connecting, so the secret never
    /// sits in the job, the manifest or a message.
    pub connection: String,
    /// The job file's folder, for `${JOB_DIR}` in the connection string.
    pub job_dir: PathBuf,
    pub read: OdbcRead,
    pub params: Vec<String>,
    pub write_back: Option<WriteBack>,
    /// Connections reading a PostgreSQL table at once (parts of one snapshot); 1 = one.
    pub parallel: usize,
}

/// Where and how corrections go back into the database.
#[derive(Debug, Clone)]
pub struct WriteBack {
    pub mode: WriteBackMode,
    /// A validated name.
    pub table: String,
    pub reason: String,
    /// ledger: how the ERP shows that it has posted an entry (always set for a ledger).
    pub posted: Option<Posted>,
}

/// How a ledger tells that the ERP has posted (or otherwise finished with) an entry tally
/// wrote. Until then the entry is *outstanding*: the book read from the on-hand table does
/// not show it yet, so it is added to the book before comparing, and a second run does
/// not post the same correction again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// The ERP deletes an entry once it has posted it: every entry still there is
    /// outstanding.
    Removed,
    /// A status column (a validated name): an entry is outstanding while the column is
    /// NULL or holds none of the values.
    Status { column: String, values: Vec<String> },
}

#[derive(Debug, Clone)]
pub enum OdbcRead {
    /// A validated table name (`schema.table` allowed); its mapped columns are selected.
    Table(String),
    Query(String),
}

/// Where the data sits in a file and how its cells read.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Canonical field → the source's header (a preset's first choice).
    pub columns: BTreeMap<Field, String>,
    /// Further headers a preset knows for a field (older layouts, translations): the
    /// first one a file has is read (`for_headers`).
    pub alternatives: BTreeMap<Field, Vec<String>>,
    /// A preset's columns that a file may lack (then the field is not read).
    pub optional: BTreeSet<Field>,
    /// An item key composed of several columns (`sku = ["Handle", "Option1 Value"]`),
    /// where a system has no SKU: the non-empty parts joined by " / ".
    pub sku_parts: Vec<String>,
    /// Rows to leave out (a system's rows for other purposes): a row whose cells all equal
    /// these (trimmed; "" for blank) is skipped and counted.
    pub skip_when: Vec<(String, String)>,
    /// 1-based line (CSV) or row (sheet) of the header.
    pub header_row: usize,
    /// Non-data rows right after the header (units lines, separators).
    pub skip_rows: usize,
    pub decimal_comma: bool,
    pub fixed_location: Option<String>,
    pub location_names: BTreeMap<String, String>,
    pub unpivot: Option<Unpivot>,
    /// Keys trimmed and lower-cased: placeholders match whatever the case.
    pub placeholders: BTreeMap<String, Placeholder>,
    /// What a blank quantity cell means.
    pub blank: Blank,
    /// How many decimals a quantity or cost may have (the rules file's, set by `load`).
    pub precision: crate::precision::Precision,
    /// The preset the layout came from, for hints.
    pub preset: Option<&'static str>,
    /// The SKU inside a longer text (group 1), e.g. Odoo's `[CODE] Name`.
    pub sku_pattern: Option<regex::Regex>,
    /// A title block before the header (a preset's): the header is the row whose first
    /// cell is `.0`; the data starts after the row whose first cell is `.1`.
    pub header_marker: Option<(String, String)>,
}

impl Layout {
    /// Whether a header is needed: mapped (or a preset's alternative), a part of the item
    /// key, a skip_when column, or a wide export's per-location column.
    pub fn wants(&self, header: &str) -> bool {
        self.columns.values().any(|h| h == header)
            || self.alternatives.values().flatten().any(|h| h == header)
            || self.sku_parts.iter().any(|h| h == header)
            || self.skip_when.iter().any(|(h, _)| h == header)
            || self.qty_location(header).is_some()
            || self.cost_location(header).is_some()
    }

    /// The mapping for a file with these headers: each field's first header the file
    /// has (a preset's alternatives in order); an optional field it lacks is left out.
    pub fn for_headers(&self, headers: &[String]) -> BTreeMap<Field, String> {
        let has = |h: &str| headers.iter().any(|x| x == h);
        let mut out = BTreeMap::new();
        for (field, first) in &self.columns {
            let found = std::iter::once(first)
                .chain(self.alternatives.get(field).into_iter().flatten())
                .find(|h| has(h));
            match found {
                Some(h) => {
                    out.insert(*field, h.clone());
                }
                None if self.optional.contains(field) => {}
                None => {
                    out.insert(*field, first.clone());
                }
            }
        }
        out
    }

    /// The location a wide export's quantity header names, if it is one: it fits the
    /// pattern, is among the listed columns (if listed), is not excluded and is not a
    /// mapped column.
    pub fn qty_location<'h>(&self, header: &'h str) -> Option<&'h str> {
        let u = self.unpivot.as_ref()?;
        self.unpivoted(header, &u.qty)
    }

    pub fn cost_location<'h>(&self, header: &'h str) -> Option<&'h str> {
        let u = self.unpivot.as_ref()?;
        self.unpivoted(header, u.unit_cost.as_ref()?)
    }

    fn unpivoted<'h>(&self, header: &'h str, pattern: &Pattern) -> Option<&'h str> {
        let u = self.unpivot.as_ref()?;
        if u.exclude.contains(header)
            || u.only.as_ref().is_some_and(|only| !only.contains(header))
            || self.columns.values().any(|h| h == header)
            || self.alternatives.values().flatten().any(|h| h == header)
            || self.sku_parts.iter().any(|h| h == header)
        {
            return None;
        }
        pattern.location(header)
    }

    /// The placeholder a cell's text is, matched trimmed and whatever its case.
    pub fn placeholder(&self, text: &str) -> Option<&Placeholder> {
        if self.placeholders.is_empty() {
            return None;
        }
        self.placeholders.get(&text.trim().to_lowercase())
    }
}

/// Wide exports: one quantity (and optionally cost) column per location.
#[derive(Debug, Clone)]
pub struct Unpivot {
    pub qty: Pattern,
    pub unit_cost: Option<Pattern>,
    /// Only these headers are location columns (when listed).
    pub only: Option<BTreeSet<String>>,
    /// Headers that fit the pattern but are not locations.
    pub exclude: BTreeSet<String>,
}

/// A header pattern such as `Current Quantity {location}`.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub prefix: String,
    pub suffix: String,
}

impl Pattern {
    pub(super) fn parse(text: &str) -> Option<Pattern> {
        let (prefix, suffix) = text.split_once("{location}")?;
        if suffix.contains("{location}") {
            return None;
        }
        Some(Pattern {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        })
    }

    /// The location a header names, if the header fits the pattern.
    pub fn location<'h>(&self, header: &'h str) -> Option<&'h str> {
        let rest = header.strip_prefix(self.prefix.as_str())?;
        let loc = rest.strip_suffix(self.suffix.as_str())?;
        (!loc.trim().is_empty()).then(|| loc.trim())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// The item is not stocked at that location: the row is left out of matching.
    Absent,
    /// The text stands for a number (e.g. `"-" = "0"`).
    Value(Decimal),
}

#[derive(Debug, Clone)]
pub struct Pairing {
    pub name: String,
    pub book: Vec<String>,
    pub observed: Vec<String>,
    /// When not empty, only these locations are reconciled in this pairing.
    pub locations: Vec<String>,
}
