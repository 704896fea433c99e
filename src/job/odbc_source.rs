//! An odbc source: its connection, what it reads (a table or a query) and where its
//! corrections go back (`write_back`), validated.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::raw::{RawPosted, RawWriteBack, WriteBackMode};
use super::types::{Format, Odbc, OdbcRead, Posted, WriteBack};
use crate::diag::Diagnostics;

/// The odbc keys of a `[sources.NAME]` table, as written.
pub struct RawOdbc {
    pub connection: Option<Spanned<String>>,
    pub table: Option<Spanned<String>>,
    pub query: Option<Spanned<String>>,
    pub params: Vec<String>,
    pub write_back: Option<Spanned<RawWriteBack>>,
    pub parallel: Option<Spanned<i64>>,
}

pub(super) fn compile(
    raw: RawOdbc,
    kind_span: Range<usize>,
    dir: &Path,
    ctx: &str,
    diags: &mut Diagnostics,
) -> Format {
    let RawOdbc {
        connection,
        table,
        query,
        params,
        write_back,
        parallel,
    } = raw;
    let connection = match connection {
        Some(c) => c.into_inner(),
        None => {
            diags.hint(
                kind_span.clone(),
                format!("{ctx}: an odbc source needs `connection`"),
                "e.g. connection = \"Driver={PostgreSQL Unicode};Server=erp;Database=stock;Uid=tally;Pwd=${ERP_PASSWORD}\"",
            );
            String::new()
        }
    };
    let read = match (table, query) {
        (Some(t), None) => {
            if !crate::odbc::sql::valid_name(t.get_ref()) {
                diags.hint(
                    t.span(),
                    format!("{ctx}: {:?} is not a table name", t.get_ref()),
                    "letters, digits and _ (optionally schema.table); for anything else write a query",
                );
            }
            OdbcRead::Table(t.into_inner())
        }
        (None, Some(q)) => OdbcRead::Query(q.into_inner()),
        (Some(t), Some(_)) => {
            diags.at(
                t.span(),
                format!("{ctx}: give `table` or `query`, not both"),
            );
            OdbcRead::Table(t.into_inner())
        }
        (None, None) => {
            diags.hint(
                kind_span.clone(),
                format!("{ctx}: an odbc source needs `table` or `query`"),
                "e.g. table = \"stock_levels\"",
            );
            OdbcRead::Query(String::new())
        }
    };
    let write_back = write_back.and_then(|w| {
        let span = w.span();
        let w = w.into_inner();
        let table = match (w.mode, w.table, &read) {
            (_, Some(t), _) => t,
            (WriteBackMode::Update, None, OdbcRead::Table(t)) => t.clone(),
            (mode, None, _) => {
                diags.hint(
                    span,
                    format!("{ctx}: write_back needs a `table`"),
                    match mode {
                        WriteBackMode::Update => "the table holding on-hand (a query source has none to default to)",
                        WriteBackMode::Ledger => "the adjustments table to insert into",
                    },
                );
                return None;
            }
        };
        if !crate::odbc::sql::valid_name(&table) {
            diags.hint(
                span,
                format!("{ctx}: write_back table {table:?} is not a table name"),
                "letters, digits and _ (optionally schema.table)",
            );
            return None;
        }
        let posted = match (w.mode, w.posted) {
            (WriteBackMode::Update, Some(p)) => {
                diags.hint(
                    p.span(),
                    format!("{ctx}: `posted` applies to ledger write-back only"),
                    "an update writes the on-hand row itself; remove it",
                );
                None
            }
            (WriteBackMode::Update, None) => None,
            (WriteBackMode::Ledger, None) => {
                diags.hint(
                    span,
                    format!(
                        "{ctx}: a ledger write-back needs `posted`: how the ERP shows \
                         that it has posted an entry"
                    ),
                    "posted = \"removed\" (entries disappear once posted) or \
                     posted = { column = \"status\", values = [\"posted\", \"cancelled\"] }; \
                     until then an entry is outstanding and is netted into the book, \
                     so no run posts it twice",
                );
                return None;
            }
            (WriteBackMode::Ledger, Some(p)) => {
                let pspan = p.span();
                match p.into_inner() {
                    RawPosted::Word(w) if w == "removed" => Some(Posted::Removed),
                    RawPosted::Word(w) => {
                        diags.hint(
                            pspan,
                            format!("{ctx}: posted = {w:?} is not known"),
                            "posted = \"removed\", or { column = \"status\", values = [\"posted\"] }",
                        );
                        return None;
                    }
                    RawPosted::Status { column, values } => {
                        if !is_column_name(&column) {
                            diags.hint(
                                pspan,
                                format!("{ctx}: posted column {column:?} is not a column name"),
                                "letters, digits, _ and spaces",
                            );
                            return None;
                        }
                        if values.is_empty() {
                            diags.hint(
                                pspan,
                                format!("{ctx}: posted needs at least one value"),
                                "the status values that mean the ERP is done with an entry",
                            );
                            return None;
                        }
                        Some(Posted::Status { column, values })
                    }
                }
            }
        };
        Some(WriteBack {
            mode: w.mode,
            table,
            reason: w.reason.unwrap_or_else(|| "TALLY".into()),
            posted,
        })
    });
    let parallel = match parallel {
        None => std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
        Some(p) if (1..=16).contains(p.get_ref()) => *p.get_ref() as usize,
        Some(p) => {
            diags.hint(
                p.span(),
                format!("{ctx}: parallel = {} is out of range", p.get_ref()),
                "1 to 16 connections (1 reads the table in one)",
            );
            1
        }
    };
    Format::Odbc(Odbc {
        connection,
        job_dir: dir.to_path_buf(),
        read,
        params,
        write_back,
        parallel,
    })
}

/// A name tally may put into SQL as a column: a validated name without a schema part.
pub(super) fn is_column_name(name: &str) -> bool {
    crate::odbc::sql::valid_name(name) && !name.contains('.')
}
