//! An ODBC source into a raw table: every column fetched as text in column-wise batches
//! (decimals stay exact: they go through the same parser as CSV cells), straight into
//! polars string columns. Batches are sized by bytes per row, so memory stays bounded
//! whatever the table's size; a value longer than its buffer is an error, never cut.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use chrono::Utc;
use odbc_api::buffers::TextRowSet;
use odbc_api::{Cursor, IntoParameter, ResultSetMetadata};
use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::connect;
use super::sql::Dialect;
use crate::columns::ROW;
use crate::extract::{InputFile, RawTable};
use crate::job::{Odbc, OdbcRead, Source};

/// Longest text value fetched (bytes); drivers report absurd sizes for TEXT columns.
pub const MAX_TEXT: usize = 4096;
/// Memory for one batch of rows.
const BATCH_BYTES: usize = 64 << 20;

/// Reads the source's rows; the InputFile describes the query (never the connection
/// string) with a SHA-256 over the values as fetched.
pub fn read(source: &Source, odbc: &Odbc) -> Result<(RawTable, InputFile)> {
    let what = "odbc";
    let (conn, resolved) =
        connect::connect(&with_fetch_cursor(&odbc.connection), &odbc.job_dir, what)?;
    let (sql, described) = statement(source, odbc, &conn);
    let mut params = Vec::with_capacity(odbc.params.len());
    for p in &odbc.params {
        params.push(connect::substitute(p, what, |n| std::env::var(n).ok())?.0);
    }
    let bound: Vec<_> = params.iter().map(|p| p.as_str().into_parameter()).collect();
    let redact = |e: odbc_api::Error| anyhow!("{what}: {}", resolved.redact(&e.to_string()));
    let extracted_at = Utc::now();
    let mut cursor = conn
        .execute(&sql, &bound[..], None)
        .map_err(redact)?
        .ok_or_else(|| anyhow!("{what}: the query returned no result set"))?;

    let headers: Vec<String> = cursor
        .column_names()
        .map_err(redact)?
        .collect::<Result<_, _>>()
        .map_err(redact)?;
    let mut lens = Vec::with_capacity(headers.len());
    for i in 1..=headers.len() as u16 {
        let reported = cursor.col_display_size(i).map_err(redact)?;
        // Room for UTF-8: a character may take 4 bytes.
        lens.push(
            reported
                .map_or(MAX_TEXT, |n| (n.get() * 4).min(MAX_TEXT))
                .max(1),
        );
    }
    let row_bytes: usize = lens.iter().map(|l| l + 1 + 8).sum();
    let batch = (BATCH_BYTES / row_bytes.max(1)).clamp(1, 65_535);
    let buffer = TextRowSet::from_max_str_lens(batch, lens.iter().copied()).map_err(redact)?;
    let mut rows = cursor.bind_buffer(buffer).map_err(redact)?;

    // How rows are referred to: the table's name or "query", with the row number.
    let place = PathBuf::from(&described);
    let wanted: Vec<usize> = (0..headers.len())
        .filter(|i| source.layout.wants(&headers[*i]))
        .collect();
    let mut builders: Vec<StringChunkedBuilder> = wanted
        .iter()
        .map(|i| StringChunkedBuilder::new(headers[*i].as_str().into(), batch))
        .collect();
    let mut hasher = Sha256::new();
    let mut digest_input: Vec<u8> = Vec::new();
    let mut size = 0u64;
    let mut n = 0u64;
    // Time in the driver's fetch and in building columns, for TALLY_TRACE.
    let (mut in_driver, mut in_columns) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    loop {
        let t = std::time::Instant::now();
        let fetched = rows.fetch_with_truncation_check(true);
        in_driver += t.elapsed();
        let t = std::time::Instant::now();
        let fetched = match fetched {
            Ok(Some(batch)) => batch,
            Ok(None) => break,
            Err(odbc_api::Error::TooLargeValueForBuffer { buffer_index, .. }) => {
                let header = headers.get(buffer_index).map_or("?", String::as_str);
                bail!(
                    "{}: row {}: column {header:?}: a value is longer than {} bytes; \
                     tally reads text up to {MAX_TEXT} bytes (cast or cut it in the query)",
                    place.display(),
                    n + 1,
                    lens.get(buffer_index).copied().unwrap_or(MAX_TEXT)
                );
            }
            Err(e) => return Err(redact(e)),
        };
        let batch = fetched;
        // The values as fetched, cell by cell with separators, hashed once per batch.
        digest_input.clear();
        for row in 0..batch.num_rows() {
            for (col, header) in headers.iter().enumerate() {
                let cell = batch.at(col, row);
                match cell {
                    Some(bytes) => {
                        digest_input.extend_from_slice(bytes);
                        size += bytes.len() as u64;
                    }
                    None => digest_input.push(0),
                }
                digest_input.push(0x1f);
                if let Ok(slot) = wanted.binary_search(&col) {
                    match cell {
                        Some(bytes) => {
                            let text = std::str::from_utf8(bytes).map_err(|_| {
                                anyhow!(
                                    "{}: row {}: column {header:?}: the driver returned text that is not UTF-8",
                                    place.display(),
                                    n + row as u64 + 1
                                )
                            })?;
                            builders[slot].append_value(text);
                        }
                        None => builders[slot].append_null(),
                    }
                }
            }
            digest_input.push(0x1e);
        }
        hasher.update(&digest_input);
        n += batch.num_rows() as u64;
        in_columns += t.elapsed();
    }
    if std::env::var_os("TALLY_TRACE").is_some_and(|v| v == "1") {
        eprintln!(
            "[trace] odbc: {:.3}s fetching in the driver, {:.3}s building columns",
            in_driver.as_secs_f64(),
            in_columns.as_secs_f64()
        );
    }
    let mut columns: Vec<Column> = builders
        .into_iter()
        .map(|b| b.finish().into_series().into())
        .collect();
    columns.push(
        UInt64Chunked::from_iter_values(ROW.into(), 1..=n)
            .into_series()
            .into(),
    );
    let frame = DataFrame::new(n as usize, columns)?;
    let input = InputFile {
        source: source.name.clone(),
        path: place.clone(),
        size,
        sha256: format!("{:x}", hasher.finalize()),
        records: n,
        rows: 0,
        extracted_at,
    };
    Ok((
        RawTable {
            frame,
            headers,
            row_label: "row".into(),
        },
        input,
    ))
}

/// The SELECT for a table source (its mapped columns, names quoted for the database),
/// or the query as written; and how messages name it.
fn statement(source: &Source, odbc: &Odbc, conn: &odbc_api::Connection<'_>) -> (String, String) {
    let dialect = Dialect::from_dbms(&conn.database_management_system_name().unwrap_or_default());
    match &odbc.read {
        OdbcRead::Table(table) => {
            let columns: Vec<String> = source
                .layout
                .columns
                .values()
                .map(|c| dialect.quote(c))
                .collect();
            (
                format!(
                    "SELECT {} FROM {}",
                    columns.join(", "),
                    dialect.quote(table)
                ),
                table.clone(),
            )
        }
        OdbcRead::Query(q) => (q.clone(), "query".to_string()),
    }
}

/// For `tally check`: the result's column names, without fetching rows.
pub fn headers(source: &Source, odbc: &Odbc) -> Result<(Vec<String>, PathBuf)> {
    let what = "odbc";
    let (conn, resolved) = connect::connect(&odbc.connection, &odbc.job_dir, what)?;
    let (sql, described) = statement(source, odbc, &conn);
    let redact = |e: odbc_api::Error| anyhow!("{what}: {}", resolved.redact(&e.to_string()));
    // Prepared, not executed: the columns are known without binding parameters.
    let mut prepared = conn.prepare(&sql).map_err(redact)?;
    let headers = prepared
        .column_names()
        .map_err(redact)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(redact)?;
    Ok((headers, PathBuf::from(described)))
}

/// PostgreSQL's driver holds a whole result set in memory unless told to use a cursor.
fn with_fetch_cursor(connection: &str) -> String {
    let lower = connection.to_ascii_lowercase();
    if (lower.contains("postgres") || lower.contains("psqlodbc"))
        && !lower.contains("usedeclarefetch")
    {
        let sep = if connection.trim_end().ends_with(';') || connection.is_empty() {
            ""
        } else {
            ";"
        };
        format!("{connection}{sep}UseDeclareFetch=1;Fetch=10000;")
    } else {
        connection.to_string()
    }
}
