//! The job file as the user wrote it: serde structs that reject unknown keys.
//! `job::load` compiles these into the validated types of `job`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// csv, excel or odbc; with a preset it may be left out (odbc with a connection, excel
    /// for .xlsx/.xlsm/.xlsb/.xls/.ods files, else csv).
    pub kind: Option<Spanned<SourceKind>>,
    /// A known export's layout (job/preset.rs): mapping, placeholders, unpivot, row filter.
    pub preset: Option<Spanned<String>>,
    /// Rows to leave out: `{ "Variant SKU" = "", "Variant Inventory Qty" = "" }` skips a
    /// row whose cells all match (trimmed; "" is blank).
    #[serde(default)]
    pub skip_when: BTreeMap<String, String>,
    /// The SKU inside a longer text: group 1 of this regex (Odoo's `[CODE] Name`).
    pub sku_pattern: Option<Spanned<String>>,
    /// What the rows are: inventory (default), or a table the rules use.
    pub role: Option<Spanned<Role>>,
    /// When the snapshot was taken (RFC 3339), for rows without an as_of column.
    pub as_of: Option<Spanned<String>>,
    /// File sources: a path or glob, relative to the job file.
    pub path: Option<Spanned<String>>,
    /// ODBC sources: the connection string; `${VAR}` takes the value from the environment.
    pub connection: Option<Spanned<String>>,
    /// ODBC sources: a table to read (its mapped columns), or a query.
    pub table: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    /// Values bound to the query's `?` markers, in order (`${VAR}` allowed).
    #[serde(default)]
    pub params: Vec<String>,
    #[serde(default)]
    pub columns: Option<Spanned<RawColumns>>,
    pub delimiter: Option<Spanned<String>>,
    /// Any label the WHATWG Encoding Standard names (utf-8, windows-1252, macintosh,
    /// iso-8859-15, utf-16le, shift_jis ...).
    pub encoding: Option<Spanned<String>>,
    #[serde(default)]
    pub decimal_comma: bool,
    pub header_row: Option<Spanned<i64>>,
    pub skip_rows: Option<Spanned<i64>>,
    pub sheet: Option<Spanned<String>>,
    /// A fixed location for single-store files.
    pub location: Option<Spanned<String>>,
    /// Renames the source's location names to the codes the other systems use.
    #[serde(default)]
    pub location_names: BTreeMap<String, String>,
    pub unpivot: Option<Spanned<RawUnpivot>>,
    /// Cell texts that stand for something other than a number, e.g. `"Not stocked" = "absent"`.
    #[serde(default)]
    pub placeholders: BTreeMap<String, Spanned<String>>,
    /// What a blank quantity cell means (default: `invalid`; in a wide export `absent`).
    pub blank: Option<Spanned<Blank>>,
    pub corrections: Option<Spanned<CorrectionFormat>>,
    /// ODBC sources: where the decided corrections go back (`tally run --apply`).
    pub write_back: Option<Spanned<RawWriteBack>>,
    /// ODBC table sources on PostgreSQL: connections reading the table at once, each a
    /// part of one snapshot (default: the machine's cores, at most 4; 1 reads in one).
    pub parallel: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWriteBack {
    pub mode: WriteBackMode,
    /// update: the table holding on-hand (default: the source's table); ledger: the
    /// adjustments table.
    pub table: Option<String>,
    /// ledger: the reason code written with every entry.
    pub reason: Option<String>,
    /// ledger: how to tell that the ERP has posted an entry tally wrote (until then it is
    /// outstanding, and netted into the book).
    pub posted: Option<Spanned<RawPosted>>,
}

/// `posted = "removed"` or `posted = { column = "status", values = ["posted"] }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawPosted {
    /// `"removed"`: the ERP deletes an entry once it has posted it.
    Word(String),
    /// A status column of the ledger table, and the values that mean the ERP is done
    /// with the entry (posted, or cancelled).
    Status { column: String, values: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteBackMode {
    /// Set the on-hand (and cost) of the matching row.
    Update,
    /// Insert adjustment entries into a ledger table.
    Ledger,
}

/// What a blank quantity cell means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Blank {
    /// The item is not stocked there: no row (counted as not stocked). Square's wide
    /// item library leaves a location's cell blank when the item is not tracked there.
    Absent,
    /// Zero on hand.
    Zero,
    /// The row is an `invalid_row` finding for a person.
    Invalid,
}

/// What a source's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// On-hand per location and item: one side of a pairing.
    Snapshot,
    /// Vendor or POS codes and barcodes → internal items (and the unit a pack code counts in).
    CrossReference,
    /// Per item: how many base units one unit is (factor 1 marks the base unit).
    Conversions,
    /// Sales, receipts and transfers with their times, for the cut-off roll-forward.
    Movements,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Snapshot => "snapshot",
            Role::CrossReference => "cross_reference",
            Role::Conversions => "conversions",
            Role::Movements => "movements",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Csv,
    Excel,
    Odbc,
    /// A Parquet file (an analyst's export): typed columns read as typed.
    Parquet,
}

/// Formats in which corrections are written for a side, besides the generic CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionFormat {
    /// Only the generic CSV.
    Generic,
    /// ERPNext's stock reconciliation import: Item Code, Warehouse, Quantity, Valuation Rate.
    Erpnext,
    /// Shopify's inventory import: the export's rows with `On hand (new)` set.
    Shopify,
    /// Square's item library import: the export's rows with `New Quantity <Location>` set.
    Square,
}

/// What a recount sheet shows besides the item (the job's `recount_sheet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecountSheet {
    /// Neither system's quantity: a counter who sees the expected figure tends to find it.
    #[default]
    Blind,
    /// The book's quantity in a `book_qty` column before the count.
    WithBook,
}

/// Canonical column ← the source's own header.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumns {
    pub location: Option<Spanned<String>>,
    /// A header, or several whose non-empty values joined make the item key (a system
    /// without SKUs: `["Handle", "Option1 Value"]`, or WooCommerce's `"ID"`).
    pub sku: Option<Spanned<OneOrMany>>,
    pub gtin: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub category: Option<Spanned<String>>,
    /// Where the item sits in the store (bin, shelf, aisle).
    pub bin: Option<Spanned<String>>,
    /// A recount sheet's link to the line that asked for it (the `tally-recount` preset).
    pub recount_of: Option<Spanned<String>>,
    pub qty: Option<Spanned<String>>,
    pub uom: Option<Spanned<String>>,
    pub unit_cost: Option<Spanned<String>>,
    pub as_of: Option<Spanned<String>>,
    /// Cross-references and conversions: the internal item a row names.
    pub item: Option<Spanned<String>>,
    /// Conversions: base units in one `uom`.
    pub factor: Option<Spanned<String>>,
    /// Movements: what moved the stock (sale, receipt, transfer...), for the audit trail.
    pub movement: Option<Spanned<String>>,
}

/// A wide export with one column per location: patterns with `{location}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnpivot {
    pub qty: String,
    pub unit_cost: Option<String>,
    /// Only these headers are location columns.
    pub columns: Option<Vec<String>>,
    /// Headers that fit the pattern but are not locations.
    #[serde(default)]
    pub exclude: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPairing {
    pub name: Spanned<String>,
    pub book: Spanned<OneOrMany>,
    pub observed: Spanned<OneOrMany>,
    #[serde(default)]
    pub locations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}
