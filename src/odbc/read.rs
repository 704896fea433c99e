//! An ODBC source into a raw table: every column fetched as text in column-wise batches
//! (decimals stay exact: they go through the same parser as CSV cells), straight into
//! polars string columns. Batches are sized by bytes per row, so memory stays bounded
//! whatever the table's size; a value longer than its buffer is an error, never cut.
//! A big PostgreSQL table is read in parts of one snapshot, one connection each
//! (`snapshot`); the parts' columns are put end to end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use chrono::Utc;
use odbc_api::buffers::TextRowSet;
use odbc_api::{ConcurrentBlockCursor, Connection, Cursor, IntoParameter, ResultSetMetadata};
use polars::prelude::*;
use sha2::{Digest as _, Sha256};

use super::sql::{Dialect, is_postgres};
use super::{connect, snapshot};
use crate::columns::ROW;
use crate::input::{InputFile, RawTable};
use crate::job::{Odbc, OdbcRead, Source};

/// Longest text value fetched (bytes); drivers report absurd sizes for TEXT columns.
pub const MAX_TEXT: usize = 4096;
/// Memory for one batch of rows (two batches are held: one filling, one read).
const BATCH_BYTES: usize = 32 << 20;
/// Rows PostgreSQL's driver fetches per round trip (set in the connection string).
const PG_FETCH_ROWS: usize = 10_000;

/// Rows per batch: as many as fit in BATCH_BYTES, a multiple or divisor of PG_FETCH_ROWS
/// so that PostgreSQL's driver never splits one batch over two round trips.
fn batch_rows(row_bytes: usize) -> usize {
    let fit = (BATCH_BYTES / row_bytes.max(1)).clamp(1, 60_000);
    if fit >= PG_FETCH_ROWS {
        fit / PG_FETCH_ROWS * PG_FETCH_ROWS
    } else {
        [
            5_000, 2_500, 2_000, 1_000, 500, 250, 200, 100, 50, 25, 20, 10, 5, 2, 1,
        ]
        .into_iter()
        .find(|d| *d <= fit)
        .unwrap_or(1)
    }
}

/// Reads the source's rows; the InputFile describes the query (never the connection
/// string) with a SHA-256 over the values as fetched, row by row.
pub fn read(source: &Source, odbc: &Odbc) -> Result<(RawTable, InputFile)> {
    let what = "odbc";
    // PostgreSQL's driver holds a whole result set in memory unless told to use a cursor.
    let fetch_rows = PG_FETCH_ROWS.to_string();
    let template = connect::with_postgres_options(
        &odbc.connection,
        &[("UseDeclareFetch", "1"), ("Fetch", &fetch_rows)],
    );
    let (conn, resolved) = connect::connect(&template, &odbc.job_dir, what)?;
    let redact = |e: anyhow::Error| anyhow!("{what}: {}", resolved.redact(&format!("{e:#}")));
    let dbms = conn.database_management_system_name().unwrap_or_default();
    let (sql, described) = statement(source, odbc, Dialect::from_dbms(&dbms))?;
    let place = PathBuf::from(&described);
    let mut params = Vec::with_capacity(odbc.params.len());
    for p in &odbc.params {
        params.push(connect::substitute(p, what, |n| std::env::var(n).ok())?.0);
    }
    let extracted_at = Utc::now();

    // A PostgreSQL table is read in parts, one connection each, in one snapshot.
    let split = match &odbc.read {
        OdbcRead::Table(table) if is_postgres(&dbms) && odbc.parallel > 1 => {
            match snapshot::plan(&conn, &Dialect::Standard.quote(table)?, odbc.parallel) {
                Ok(split) => split,
                // A server that cannot export snapshots (a standby of an old version, a
                // pooler in transaction mode) is read in one, in a fresh transaction.
                Err(e) => {
                    let why = resolved.redact(&format!("{e:#}"));
                    eprintln!(
                        "note: source `{}`: cannot read {described} in parts ({}); \
                         reading it through one connection",
                        source.name,
                        // The database's own message, without the driver's framing.
                        why.split_once("Message: ")
                            .map_or(why.as_str(), |(_, m)| m)
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .trim_end_matches(';')
                    );
                    conn.rollback().map_err(|e| redact(e.into()))?;
                    None
                }
            }
        }
        _ => None,
    };
    let mut hasher = Sha256::new();
    let parts = match &split {
        None => {
            let part = fetch(
                conn,
                &sql,
                &params,
                &place,
                "",
                source,
                &mut Digest::Streaming(&mut hasher),
            );
            vec![part.map_err(redact)?]
        }
        Some(split) => {
            let count = split.ranges.len();
            let label = |k: usize| format!(" (part {} of {count})", k + 1);
            let parts = std::thread::scope(|scope| {
                let workers: Vec<_> = split.ranges[1..]
                    .iter()
                    .enumerate()
                    .map(|(i, range)| {
                        let (template, place, sql) = (&template, &place, &sql);
                        let label = label(i + 1);
                        scope.spawn(move || {
                            let (conn, _) = connect::connect(template, &odbc.job_dir, what)?;
                            snapshot::join(&conn, &split.snapshot)?;
                            let (sql, params) = snapshot::part_statement(sql, *range);
                            // The values as fetched wait here (about the size of the
                            // part's text) until the parts before are hashed.
                            let mut kept = Vec::new();
                            let part = fetch(
                                conn,
                                &sql,
                                &params,
                                place,
                                &label,
                                source,
                                &mut Digest::Kept(&mut kept),
                            )?;
                            Ok::<_, anyhow::Error>((part, kept))
                        })
                    })
                    .collect();
                let (first_sql, first_params) = snapshot::part_statement(&sql, split.ranges[0]);
                let first = fetch(
                    conn,
                    &first_sql,
                    &first_params,
                    &place,
                    &label(0),
                    source,
                    &mut Digest::Streaming(&mut hasher),
                );
                let mut parts = vec![first?];
                for worker in workers {
                    let (part, kept) = worker
                        .join()
                        .map_err(|_| anyhow!("a reading thread failed"))??;
                    // Hashed in row order: the same digest as one read of the whole table.
                    hasher.update(&kept);
                    parts.push(part);
                }
                Ok::<_, anyhow::Error>(parts)
            });
            parts.map_err(redact)?
        }
    };

    // The parts' columns end to end (chunks appended, not copied).
    let mut parts = parts.into_iter();
    let mut whole = parts.next().expect("at least one part");
    for part in parts {
        if part.headers != whole.headers {
            bail!("{what}: the parts of {described} returned different columns");
        }
        for (column, more) in whole.columns.iter_mut().zip(&part.columns) {
            column.append(more)?;
        }
        whole.rows += part.rows;
        whole.size += part.size;
    }
    let n = whole.rows;
    let mut columns: Vec<Column> = whole.columns.into_iter().map(Column::from).collect();
    columns.push(
        UInt64Chunked::from_iter_values(ROW.into(), 1..=n)
            .into_series()
            .into(),
    );
    let frame = DataFrame::new(n as usize, columns)?;
    let input = InputFile {
        source: source.name.clone(),
        path: place,
        size: whole.size,
        sha256: format!("{:x}", hasher.finalize()),
        records: n,
        rows: 0,
        skipped: 0,
        undecodable_rows: 0,
        extracted_at,
    };
    Ok((
        RawTable {
            frame,
            headers: whole.headers,
            row_label: "row".into(),
            undecodable_rows: 0,
            skipped: 0,
        },
        input,
    ))
}

/// Where the values as fetched go for the source's SHA-256: into the hasher as they come
/// (the first part), or kept to be hashed after the parts before them.
enum Digest<'a> {
    Streaming(&'a mut Sha256),
    Kept(&'a mut Vec<u8>),
}

/// What one statement returned: its column names, the mapped columns as text, the row
/// count and the bytes fetched.
struct Part {
    headers: Vec<String>,
    columns: Vec<Series>,
    rows: u64,
    size: u64,
}

/// Runs one statement on its own connection and fetches every row as text.
fn fetch(
    conn: Connection<'static>,
    sql: &str,
    params: &[String],
    place: &Path,
    label: &str,
    source: &Source,
    digest: &mut Digest<'_>,
) -> Result<Part> {
    let bound: Vec<_> = params.iter().map(|p| p.as_str().into_parameter()).collect();
    // An owned cursor (it holds the connection) so that a second thread can fetch.
    let mut cursor = conn
        .into_cursor(sql, &bound[..], None)
        .map_err(|e| e.error)?
        .ok_or_else(|| anyhow!("the query returned no result set"))?;
    let headers: Vec<String> = cursor.column_names()?.collect::<Result<_, _>>()?;
    let mut lens = Vec::with_capacity(headers.len());
    for i in 1..=headers.len() as u16 {
        let reported = cursor.col_display_size(i)?;
        // Room for UTF-8: a character may take 4 bytes.
        lens.push(
            reported
                .map_or(MAX_TEXT, |n| (n.get() * 4).min(MAX_TEXT))
                .max(1),
        );
    }
    let row_bytes: usize = lens.iter().map(|l| l + 1 + 8).sum();
    let batch = batch_rows(row_bytes);
    let buffer = || TextRowSet::from_max_str_lens(batch, lens.iter().copied());
    // Double buffering: the driver fills one buffer on its own thread while this one
    // turns the other into columns.
    let mut filled = buffer()?;
    let mut fetcher = ConcurrentBlockCursor::from_block_cursor(cursor.bind_buffer(buffer()?)?);

    let wanted: Vec<usize> = (0..headers.len())
        .filter(|i| source.layout.wants(&headers[*i]))
        .collect();
    let mut builders: Vec<StringChunkedBuilder> = wanted
        .iter()
        .map(|i| StringChunkedBuilder::new(headers[*i].as_str().into(), batch))
        .collect();
    let mut digest_input: Vec<u8> = Vec::new();
    let (mut size, mut n) = (0u64, 0u64);
    // Time waiting for the driver and building columns, for TALLY_TRACE.
    let (mut in_driver, mut in_columns) = (Duration::ZERO, Duration::ZERO);
    loop {
        let t = Instant::now();
        let fetched = fetcher.fetch_into(&mut filled);
        in_driver += t.elapsed();
        let t = Instant::now();
        match fetched {
            Ok(true) => {}
            Ok(false) => break,
            Err(odbc_api::Error::TooLargeValueForBuffer { buffer_index, .. }) => {
                let header = headers.get(buffer_index).map_or("?", String::as_str);
                bail!(
                    "{}{label}: rows {}..{}: column {header:?}: a value is longer than {} bytes; \
                     tally reads text up to {MAX_TEXT} bytes (cast or cut it in the query)",
                    place.display(),
                    n + 1,
                    n + batch as u64,
                    lens.get(buffer_index).copied().unwrap_or(MAX_TEXT)
                );
            }
            Err(e) => return Err(e.into()),
        }
        let rows = filled.num_rows();
        // The values as fetched, cell by cell with separators, row by row.
        digest_input.clear();
        for row in 0..rows {
            for col in 0..headers.len() {
                match filled.at(col, row) {
                    Some(bytes) => {
                        digest_input.extend_from_slice(bytes);
                        size += bytes.len() as u64;
                    }
                    None => digest_input.push(0),
                }
                digest_input.push(0x1f);
            }
            digest_input.push(0x1e);
        }
        match digest {
            Digest::Streaming(hasher) => hasher.update(&digest_input),
            Digest::Kept(kept) => kept.extend_from_slice(&digest_input),
        }
        // The columns the job maps, column by column.
        for (slot, &col) in wanted.iter().enumerate() {
            let view = filled.column(col);
            for row in 0..rows {
                match view.get(row) {
                    Some(bytes) => {
                        let text = std::str::from_utf8(bytes).map_err(|_| {
                            anyhow!(
                                "{}{label}: row {}: column {:?}: the driver returned text that is not UTF-8",
                                place.display(),
                                n + row as u64 + 1,
                                headers[col]
                            )
                        })?;
                        builders[slot].append_value(text);
                    }
                    None => builders[slot].append_null(),
                }
            }
        }
        n += rows as u64;
        in_columns += t.elapsed();
    }
    if std::env::var_os("TALLY_TRACE").is_some_and(|v| v == "1") {
        eprintln!(
            "[trace] odbc{label}: {:.3}s waiting for the driver, {:.3}s building columns",
            in_driver.as_secs_f64(),
            in_columns.as_secs_f64(),
        );
    }
    // Closing the cursor closes its connection; odbc-api rolls back the read-only
    // transaction a parted read opened.
    drop(fetcher.into_cursor()?);
    Ok(Part {
        headers,
        columns: builders
            .into_iter()
            .map(|b| b.finish().into_series())
            .collect(),
        rows: n,
        size,
    })
}

/// The SELECT for a table source (its mapped columns, names quoted for the database),
/// or the query as written; and how messages name it.
fn statement(source: &Source, odbc: &Odbc, dialect: Dialect) -> Result<(String, String)> {
    Ok(match &odbc.read {
        OdbcRead::Table(table) => {
            // A column mapped twice (the SKU that is also the barcode) is selected once;
            // the columns a row filter reads come along.
            let mut columns: Vec<String> = Vec::new();
            let filtered = source.layout.skip_when.iter().map(|(h, _)| h);
            for c in source.layout.columns.values().chain(filtered) {
                let quoted = dialect.quote(c)?;
                if !columns.contains(&quoted) {
                    columns.push(quoted);
                }
            }
            (
                format!(
                    "SELECT {} FROM {}",
                    columns.join(", "),
                    dialect.quote(table)?
                ),
                table.clone(),
            )
        }
        OdbcRead::Query(q) => (q.clone(), "query".to_string()),
    })
}

/// For `tally check`: the result's column names, without fetching rows.
pub fn headers(source: &Source, odbc: &Odbc) -> Result<(Vec<String>, PathBuf)> {
    let what = "odbc";
    let (conn, resolved) = connect::connect(&odbc.connection, &odbc.job_dir, what)?;
    let dialect = Dialect::from_dbms(&conn.database_management_system_name().unwrap_or_default());
    let (sql, described) = statement(source, odbc, dialect)?;
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
