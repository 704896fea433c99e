//! Write-back: the corrections the rules decided, into the ERP database, safely.
//!
//! For each target source, in one transaction, in this order:
//! 1. the target's lock (`lock`): one writer per write-back table, so whatever an applier
//!    before this one committed is seen by everything below;
//! 2. `tally_applied` (made here where DDL is transactional) and the corrections in a
//!    temporary staging table (`stage`), all values as text cast by the database, so
//!    decimals stay exact; lines an earlier apply of the same run wrote are dropped;
//! 3. the rows to be checked are locked (`FOR UPDATE`, `FOR SHARE` for a ledger's on-hand
//!    rows; SQLite holds the whole database), waiting for any other writer holding them;
//! 4. the compare-and-set check marks a correction *fresh* only while its row holds the
//!    value read at extraction (a ledger: on-hand + outstanding entries, `ledger`);
//! 5. one set-based statement updates the rows, comparing the value once more, or
//!    inserts adjustment entries; the applied lines are recorded.
//!
//! Any failure rolls everything back for that target. Rows-affected counts differ between
//! drivers, so nothing relies on them: the staging table says what happened.

use anyhow::{Result, anyhow};
use odbc_api::{Connection, Cursor, IntoParameter};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::sql::{Dbms, Dialect};
use super::{connect, lock};
use crate::columns::Field;
use crate::job::{Format, Job, Source, WriteBack, WriteBackMode};
use crate::progress::trace;
use std::time::Instant;

use super::stage::{BATCH, Row, rows_for, stage, stage_postgres};

/// Times one target's transaction is tried. A database may end a transaction to break a
/// deadlock or a serialization conflict (two applies recording lines in `tally_applied`
/// at the same moment on MariaDB do); everything was rolled back, so trying again is safe
/// and is what the database asks for.
const ATTEMPTS: u32 = 4;

/// A statement that failed, with its SQL, keeping the driver's error for `is_transient`.
#[derive(Debug, thiserror::Error)]
#[error("{error} (in: {sql})")]
struct StatementFailed {
    sql: String,
    error: odbc_api::Error,
}

/// Whether the database rolled the transaction back to break a deadlock or a
/// serialization conflict: SQLSTATE 40001 (MariaDB, MySQL, SQL Server, PostgreSQL's
/// serialization failure) or 40P01 (PostgreSQL's deadlock).
fn is_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        if cause.is::<Transient>() {
            return true;
        }
        let odbc = cause
            .downcast_ref::<StatementFailed>()
            .map(|s| &s.error)
            .or_else(|| cause.downcast_ref::<odbc_api::Error>());
        matches!(odbc, Some(odbc_api::Error::Diagnostics { record, .. })
            if [*b"40001", *b"40P01"].contains(&record.state.0))
    })
}

/// The database's own message, without the driver's framing.
fn database_message(message: &str) -> &str {
    message
        .split_once("Message: ")
        .map_or(message, |(_, m)| m)
        .lines()
        .next()
        .unwrap_or(message)
}

/// What one apply did to one target.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TargetResult {
    pub source: String,
    pub mode: String,
    pub table: String,
    /// Corrections written now.
    pub applied: u64,
    /// Corrections an earlier apply of this run already wrote (left alone).
    pub already_applied: u64,
    /// Lines whose row changed since extraction: not overwritten, for a person.
    pub stale: Vec<u64>,
    /// Lines without a row to update (update mode cannot create rows).
    pub no_row: Vec<u64>,
    /// Lines the target now holds: written now or by an earlier apply (for the
    /// baseline; not in the results file, which counts them).
    #[serde(skip)]
    pub written: Vec<u64>,
}

/// Write-back failed and was rolled back: exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("write-back to source `{target}` failed and was rolled back: {message}")]
pub struct WriteBackFailed {
    pub target: String,
    pub message: String,
}

/// Applies the run's corrections to every source that has `write_back`.
/// `extracted_at` gives, per source, when the run read it (else `started_at`).
pub fn apply(
    job: &Job,
    corrections: &DataFrame,
    run_id: &str,
    extracted_at: &dyn Fn(&str) -> chrono::DateTime<chrono::Utc>,
) -> Result<Vec<TargetResult>> {
    let mut results = Vec::new();
    for source in &job.sources {
        let Format::Odbc(odbc) = &source.format else {
            continue;
        };
        let Some(write_back) = &odbc.write_back else {
            continue;
        };
        let rows = rows_for(job, source, corrections)?;
        if rows.is_empty() {
            continue;
        }
        let run = RunRef {
            id: run_id.to_string(),
            extracted_at: applied_at(extracted_at(&source.name)),
        };
        let what = format!("source `{}`", source.name);
        // psqlODBC sends an array of parameters 100 rows a round trip unless told more.
        let batch = BATCH.to_string();
        let template = connect::with_postgres_options(&odbc.connection, &[("BatchSize", &batch)]);
        let mut attempt = 1;
        loop {
            // A fresh connection each attempt: the staging table is temporary to it.
            let (conn, resolved) = connect::connect(&template, &odbc.job_dir, &what)?;
            let dbms = Dbms::from_name(&conn.database_management_system_name()?);
            let created = match dbms {
                Dbms::MySql => create_applied_outside(&conn),
                _ => Ok(false),
            };
            let (result, created) = match created {
                Ok(created) => (
                    apply_target(&conn, source, write_back, &rows, &run)
                        .and_then(|r| conn.commit().map(|()| r).map_err(Into::into)),
                    created,
                ),
                Err(e) => (Err(e), false),
            };
            match result {
                Ok(mut r) => {
                    lock::release(&conn, dbms, &write_back.table);
                    let left: std::collections::HashSet<u64> =
                        r.stale.iter().chain(&r.no_row).copied().collect();
                    r.written = rows
                        .iter()
                        .filter_map(|row| row.line.parse::<u64>().ok())
                        .filter(|line| !left.contains(line))
                        .collect();
                    results.push(r);
                    break;
                }
                Err(e) => {
                    let _ = conn.rollback();
                    lock::release(&conn, dbms, &write_back.table);
                    let message = resolved.redact(&format!("{e:#}"));
                    if attempt < ATTEMPTS && is_transient(&e) {
                        eprintln!(
                            "note: source `{}`: write-back rolled back by the database \
                             ({}); trying again ({} of {ATTEMPTS})",
                            source.name,
                            database_message(&message),
                            attempt + 1
                        );
                        // Waits that differ between appliers, so that two of them
                        // do not meet again in step.
                        let jitter = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| u64::from(d.subsec_nanos() % 100));
                        std::thread::sleep(std::time::Duration::from_millis(
                            100 * u64::from(attempt) + jitter,
                        ));
                        attempt += 1;
                        continue;
                    }
                    if created {
                        drop_applied_if_empty(&conn);
                    }
                    return Err(WriteBackFailed {
                        target: source.name.clone(),
                        message,
                    }
                    .into());
                }
            }
        }
    }
    Ok(results)
}

/// MariaDB commits around CREATE TABLE, so `tally_applied` cannot be made inside the
/// transaction: it is made just before (true when this call made it), and dropped again
/// when the apply fails and nothing has been recorded in it (`drop_applied_if_empty`).
fn create_applied_outside(conn: &Connection<'_>) -> Result<bool> {
    if conn
        .execute("SELECT run_id FROM tally_applied WHERE 1 = 0", (), None)
        .is_ok()
    {
        return Ok(false);
    }
    conn.execute(CREATE_APPLIED, (), None)
        .map_err(|error| StatementFailed {
            sql: CREATE_APPLIED.to_string(),
            error,
        })?;
    Ok(true)
}

/// Drops `tally_applied` again if it holds nothing: the table lock waits for every
/// transaction that uses it, so no applier's lines can be lost.
fn drop_applied_if_empty(conn: &Connection<'_>) {
    let _ = conn.set_autocommit(true);
    if conn
        .execute("LOCK TABLES tally_applied WRITE", (), None)
        .is_err()
    {
        return;
    }
    let empty = conn
        .execute("SELECT COUNT(*) FROM tally_applied", (), None)
        .ok()
        .flatten()
        .and_then(|mut c| {
            let mut row = c.next_row().ok()??;
            let mut text = Vec::new();
            row.get_text(1, &mut text).ok()?;
            Some(text == b"0")
        })
        .unwrap_or(false);
    if empty {
        let _ = conn.execute("DROP TABLE tally_applied", (), None);
    }
    let _ = conn.execute("UNLOCK TABLES", (), None);
}

fn apply_target(
    conn: &Connection<'_>,
    source: &Source,
    write_back: &WriteBack,
    rows: &[Row],
    run: &RunRef,
) -> Result<TargetResult> {
    let dbms = Dbms::from_name(&conn.database_management_system_name()?);
    let dialect = dbms.dialect();
    let exec = |sql: &str| -> Result<()> {
        conn.execute(sql, (), None)
            .map_err(|error| StatementFailed {
                sql: sql.to_string(),
                error,
            })?;
        Ok(())
    };
    let q = |name: &str| dialect.quote(name);
    let layout = &source.layout;
    let column = |f: Field| layout.columns.get(&f).map(|c| q(c)).transpose();
    let (loc_col, sku_col, qty_col) = (
        column(Field::Location)?.ok_or_else(|| anyhow!("write-back needs columns.location"))?,
        column(Field::Sku)?.ok_or_else(|| anyhow!("write-back needs columns.sku"))?,
        column(Field::Qty)?.ok_or_else(|| anyhow!("write-back needs columns.qty"))?,
    );
    let cost_col = column(Field::UnitCost)?;
    let target_table = q(&write_back.table)?;

    // One writer per target: taken before anything is read, so that what follows sees
    // everything an applier before this one committed.
    conn.set_autocommit(false)?;
    let lock_column = match write_back.mode {
        WriteBackMode::Update => qty_col.clone(),
        WriteBackMode::Ledger => q("qty_change")?,
    };
    let t = Instant::now();
    lock::acquire(conn, dbms, &write_back.table, &target_table, &lock_column)
        .map_err(|e| anyhow!("taking the write-back lock on {}: {e:#}", write_back.table))?;
    trace("  write-back: lock", t);
    // tally's own table, inside the transaction where the database allows (MariaDB
    // commits around CREATE TABLE: `apply` creates it before and drops it again when the
    // apply fails).
    let transient = |e: anyhow::Error| anyhow::Error::new(Transient).context(format!("{e:#}"));
    match dbms {
        // Made just before; touched now, so that no one can drop it while this
        // transaction lives (gone since: tried again, and made again).
        Dbms::MySql => exec("SELECT run_id FROM tally_applied WHERE 1 = 0").map_err(transient)?,
        _ => exec(CREATE_APPLIED).map_err(transient)?,
    }

    // The staging table lives as long as this connection (a temporary table, which no
    // dialect commits for).
    let key = match dialect {
        Dialect::MySql => ", KEY tally_stage_key (loc, sku)",
        Dialect::Standard => "",
    };
    exec(&format!(
        "CREATE TEMPORARY TABLE tally_stage (line VARCHAR(20), loc VARCHAR(255), \
         sku VARCHAR(255), cur_qty VARCHAR(64), new_qty VARCHAR(64), cur_cost VARCHAR(64), \
         new_cost VARCHAR(64), reason VARCHAR(64), fresh INTEGER{key})"
    ))?;
    if dialect == Dialect::Standard {
        exec("CREATE INDEX tally_stage_key ON tally_stage (loc, sku)")?;
    }
    let t = Instant::now();
    if dbms == Dbms::Postgres {
        stage_postgres(conn, rows)?;
        // Statistics, so that the planner joins the staged rows by hash, not row by row.
        exec("ANALYZE tally_stage")?;
    } else {
        stage(conn, rows)?;
    }
    trace("  write-back: staging", t);

    let target = source.name.as_str();
    let count = |sql: &str, params: &[&str]| -> Result<u64> {
        let bound: Vec<_> = params.iter().map(|p| p.into_parameter()).collect();
        let mut cursor = conn
            .execute(sql, &bound[..], None)
            .map_err(|error| StatementFailed {
                sql: sql.to_string(),
                error,
            })?
            .ok_or_else(|| anyhow!("no result from {sql}"))?;
        let mut row = cursor
            .next_row()?
            .ok_or_else(|| anyhow!("no row from {sql}"))?;
        let mut text = Vec::new();
        row.get_text(1, &mut text)?;
        Ok(String::from_utf8_lossy(&text).trim().parse().unwrap_or(0))
    };
    let with = |sql: &str, params: &[&str]| -> Result<()> {
        let bound: Vec<_> = params.iter().map(|p| p.into_parameter()).collect();
        conn.execute(sql, &bound[..], None)
            .map_err(|error| StatementFailed {
                sql: sql.to_string(),
                error,
            })?;
        Ok(())
    };

    // Idempotent: what an earlier apply of this run wrote is left alone.
    let staged = count("SELECT COUNT(*) FROM tally_stage", &[])?;
    with(
        "DELETE FROM tally_stage WHERE EXISTS (SELECT 1 FROM tally_applied a \
         WHERE a.run_id = ? AND a.target = ? AND a.line = CAST(tally_stage.line AS DECIMAL(20,0)))",
        &[&run.id, target],
    )?;
    let already_applied = staged - count("SELECT COUNT(*) FROM tally_stage", &[])?;

    // The table the book was read from (or the update table), against which each
    // correction's current value is checked.
    let checked_table = match (write_back.mode, &source.format) {
        (WriteBackMode::Update, _) => Some(target_table.clone()),
        (WriteBackMode::Ledger, Format::Odbc(o)) => match &o.read {
            crate::job::OdbcRead::Table(t) => Some(q(t)?),
            crate::job::OdbcRead::Query(_) => None,
        },
        _ => None,
    };
    let same_row =
        |t: &str| format!("{t}.{loc_col} = tally_stage.loc AND {t}.{sku_col} = tally_stage.sku");

    // The rows to be checked are locked before the check, so that nobody changes them
    // between the check and the write: a row another transaction holds is waited for,
    // and the check then sees its committed value (PostgreSQL's statements each see
    // what was committed before they started; MariaDB's locking reads see the newest).
    // SQLite holds the whole database since the lock above.
    let t = Instant::now();
    if let (Some(t), Dbms::Postgres | Dbms::MySql) = (&checked_table, dbms) {
        let strength = match write_back.mode {
            WriteBackMode::Update => "FOR UPDATE",
            // The ledger leaves the on-hand rows alone; they must only not move.
            WriteBackMode::Ledger if dbms == Dbms::Postgres => "FOR SHARE",
            WriteBackMode::Ledger => "LOCK IN SHARE MODE",
        };
        let sql = format!(
            "SELECT 1 FROM {t} WHERE EXISTS (SELECT 1 FROM tally_stage WHERE {}) {strength}",
            same_row(t)
        );
        let locked = match dbms {
            Dbms::Postgres => count(
                &format!("SELECT COUNT(*) FROM ({sql}) AS tally_locked"),
                &[],
            ),
            _ => drain(conn, &sql),
        };
        locked?;
    }
    trace("  write-back: lock rows", t);

    // Optimistic check, now atomic with the write: the rows cannot move any more.
    let t = Instant::now();
    let cast_qty = "CAST(tally_stage.cur_qty AS DECIMAL(30,9))";
    match write_back.mode {
        WriteBackMode::Update => {
            let t = checked_table.as_deref().expect("update checks its table");
            let cost_same = cost_col.as_ref().map_or(String::new(), |c| {
                format!(
                    " AND (tally_stage.cur_cost IS NULL OR {t}.{c} = CAST(tally_stage.cur_cost AS DECIMAL(30,12)))"
                )
            });
            exec(&format!(
                "UPDATE tally_stage SET fresh = 1 WHERE \
                 (tally_stage.cur_qty IS NOT NULL AND EXISTS (SELECT 1 FROM {t} WHERE {same} \
                   AND {t}.{qty_col} = {cast_qty}{cost_same})) \
                 OR (tally_stage.cur_qty IS NULL AND NOT EXISTS (SELECT 1 FROM {t} WHERE {same}))",
                same = same_row(t)
            ))?;
        }
        WriteBackMode::Ledger => {
            // Set-based, in one pass over the ledger each: what is outstanding per staged
            // key, and the keys other runs posted for since this run read the book.
            let (pending, values) = super::ledger::outstanding_condition(dialect, write_back, "l")?;
            let staged_key =
                "EXISTS (SELECT 1 FROM tally_stage s WHERE s.loc = l.location AND s.sku = l.sku)";
            exec(&format!(
                "CREATE TEMPORARY TABLE tally_pending (loc VARCHAR(255), sku VARCHAR(255), \
                 qty DECIMAL(30,9), newer INTEGER{key})"
            ))?;
            if dialect == Dialect::Standard {
                exec("CREATE INDEX tally_pending_key ON tally_pending (loc, sku)")?;
            }
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            with(
                &format!(
                    "INSERT INTO tally_pending (loc, sku, qty, newer) \
                     SELECT l.location, l.sku, SUM(l.qty_change), 0 FROM {target_table} l \
                     WHERE {pending} AND {staged_key} GROUP BY l.location, l.sku"
                ),
                &refs,
            )?;
            // Entries other runs posted since this run read the book: whatever the
            // on-hand shows, this run's difference is no longer the one to post.
            with(
                &format!(
                    "INSERT INTO tally_pending (loc, sku, qty, newer) \
                     SELECT DISTINCT l.location, l.sku, 0, 1 FROM {target_table} l \
                     WHERE l.run_id IS NOT NULL AND l.run_id <> ? AND EXISTS (SELECT 1 FROM \
                     tally_applied a WHERE a.run_id = l.run_id AND a.line = l.line \
                     AND a.applied_at >= ?) AND {staged_key}"
                ),
                &[&run.id, &run.extracted_at],
            )?;
            let outstanding = "COALESCE((SELECT SUM(p.qty) FROM tally_pending p WHERE \
                 p.loc = tally_stage.loc AND p.sku = tally_stage.sku), 0)";
            let newer = "NOT EXISTS (SELECT 1 FROM tally_pending p WHERE p.loc = tally_stage.loc \
                 AND p.sku = tally_stage.sku AND p.newer = 1)";
            let sql = match &checked_table {
                // The book as read was on-hand + outstanding entries; it must still be.
                Some(t) => {
                    let same = same_row(t);
                    format!(
                        "UPDATE tally_stage SET fresh = 1 WHERE ( \
                         (tally_stage.cur_qty IS NOT NULL AND EXISTS (SELECT 1 FROM {t} WHERE {same} \
                           AND {t}.{qty_col} + {outstanding} = {cast_qty})) \
                         OR (tally_stage.cur_qty IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {t} WHERE {same}) \
                           AND {outstanding} = {cast_qty}) \
                         OR (tally_stage.cur_qty IS NULL AND NOT EXISTS (SELECT 1 FROM {t} WHERE {same}) \
                           AND {outstanding} = 0)) AND {newer}"
                    )
                }
                None => format!("UPDATE tally_stage SET fresh = 1 WHERE {newer}"),
            };
            exec(&sql)?;
            exec(match dialect {
                Dialect::MySql => "DROP TEMPORARY TABLE tally_pending",
                Dialect::Standard => "DROP TABLE tally_pending",
            })?;
        }
    }
    trace("  write-back: optimistic check", t);

    let t = Instant::now();
    let mut no_row = Vec::new();
    match write_back.mode {
        WriteBackMode::Update => {
            let t = &target_table;
            // A correction for a row the table does not have cannot be an update.
            no_row = lines(conn, "SELECT line FROM tally_stage WHERE cur_qty IS NULL")?;
            exec("UPDATE tally_stage SET fresh = 0 WHERE cur_qty IS NULL")?;
            let pick = |value: &str, cast: &str| {
                format!(
                    "(SELECT CAST(tally_stage.{value} AS {cast}) FROM tally_stage WHERE \
                     tally_stage.loc = {t}.{loc_col} AND tally_stage.sku = {t}.{sku_col} AND tally_stage.fresh = 1)"
                )
            };
            let mut set = format!("{qty_col} = {}", pick("new_qty", "DECIMAL(30,9)"));
            if let Some(c) = &cost_col {
                set.push_str(&format!(
                    ", {c} = COALESCE({}, {t}.{c})",
                    pick("new_cost", "DECIMAL(30,12)")
                ));
            }
            // The current value is compared again in the write itself: even a database
            // that lets a row move after the check cannot have it overwritten.
            exec(&format!(
                "UPDATE {t} SET {set} WHERE EXISTS (SELECT 1 FROM tally_stage WHERE \
                 tally_stage.loc = {t}.{loc_col} AND tally_stage.sku = {t}.{sku_col} AND tally_stage.fresh = 1 \
                 AND {t}.{qty_col} = {cast_qty})"
            ))?;
        }
        WriteBackMode::Ledger => {
            let t = &target_table;
            let d = |c: &str| format!("CAST({c} AS DECIMAL(30,9))");
            with(
                &format!(
                    "INSERT INTO {t} (location, sku, qty_before, qty_after, qty_change, reason, run_id, line) \
                     SELECT loc, sku, {}, {}, {} - COALESCE({}, 0), COALESCE(reason, ?), ?, \
                     CAST(line AS DECIMAL(20,0)) \
                     FROM tally_stage WHERE fresh = 1",
                    d("cur_qty"),
                    d("new_qty"),
                    d("new_qty"),
                    d("cur_qty")
                ),
                &[&write_back.reason, &run.id],
            )?;
        }
    }
    trace("  write-back: update or insert", t);
    let t = Instant::now();
    let now = applied_at(chrono::Utc::now());
    with(
        "INSERT INTO tally_applied (run_id, target, line, applied_at) \
         SELECT ?, ?, CAST(line AS DECIMAL(20,0)), ? FROM tally_stage WHERE fresh = 1",
        &[&run.id, target, &now],
    )?;
    let applied = count("SELECT COUNT(*) FROM tally_stage WHERE fresh = 1", &[])?;
    let stale = lines(
        conn,
        "SELECT line FROM tally_stage WHERE fresh = 0 AND cur_qty IS NOT NULL",
    )?;
    let stale = match write_back.mode {
        WriteBackMode::Ledger => {
            // In a ledger, a missing row that has appeared since is stale too.
            let mut all = stale;
            all.extend(lines(
                conn,
                "SELECT line FROM tally_stage WHERE fresh = 0 AND cur_qty IS NULL",
            )?);
            all.sort_unstable();
            all
        }
        WriteBackMode::Update => stale,
    };
    trace("  write-back: record applied lines", t);
    exec(match dialect {
        Dialect::MySql => "DROP TEMPORARY TABLE tally_stage",
        Dialect::Standard => "DROP TABLE tally_stage",
    })?;
    Ok(TargetResult {
        source: source.name.clone(),
        mode: match write_back.mode {
            WriteBackMode::Update => "update".into(),
            WriteBackMode::Ledger => "ledger".into(),
        },
        table: write_back.table.clone(),
        applied,
        already_applied,
        stale,
        no_row,
        written: Vec::new(),
    })
}

/// tally's record of the lines it wrote: run id, target source, line, when.
const CREATE_APPLIED: &str = "CREATE TABLE IF NOT EXISTS tally_applied (run_id VARCHAR(64) NOT NULL, \
     target VARCHAR(128) NOT NULL, line DECIMAL(20,0) NOT NULL, applied_at VARCHAR(40), \
     PRIMARY KEY (run_id, target, line))";

/// Creating `tally_applied` failed the way two appliers creating it at once make it
/// fail (PostgreSQL: a duplicate key in its catalogue): the attempt is tried again, and
/// then finds the table.
#[derive(Debug, thiserror::Error)]
#[error("creating tally_applied collided with another applier")]
struct Transient;

/// A time as `applied_at` records it: fixed width, UTC, so that text order is time order.
pub fn applied_at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Reads every row of a statement (a locking read locks the rows as they are read).
fn drain(conn: &Connection<'_>, sql: &str) -> Result<u64> {
    let mut n = 0;
    let mut cursor = conn
        .execute(sql, (), None)
        .map_err(|error| StatementFailed {
            sql: sql.to_string(),
            error,
        })?
        .ok_or_else(|| anyhow!("no result from {sql}"))?;
    while cursor.next_row()?.is_some() {
        n += 1;
    }
    Ok(n)
}

/// What the apply needs to know of the run.
pub struct RunRef {
    pub id: String,
    /// When the run began reading its sources (`applied_at` form): ledger entries other
    /// runs posted since make this run's corrections stale.
    pub extracted_at: String,
}

fn lines(conn: &Connection<'_>, sql: &str) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    if let Some(mut cursor) = conn.execute(sql, (), None)? {
        let mut text = Vec::new();
        while let Some(mut row) = cursor.next_row()? {
            text.clear();
            row.get_text(1, &mut text)?;
            if let Ok(n) = String::from_utf8_lossy(&text).trim().parse::<u64>() {
                out.push(n);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// For `tally check`: the write-back table has the columns write-back will touch
/// (prepared, never executed, so nothing is written).
pub fn check(source: &Source) -> Result<()> {
    let Format::Odbc(odbc) = &source.format else {
        return Ok(());
    };
    let Some(write_back) = &odbc.write_back else {
        return Ok(());
    };
    let (conn, resolved) = connect::connect(&odbc.connection, &odbc.job_dir, "odbc")?;
    let dialect = Dialect::from_dbms(&conn.database_management_system_name()?);
    let columns: Vec<String> = match write_back.mode {
        WriteBackMode::Update => [Field::Location, Field::Sku, Field::Qty, Field::UnitCost]
            .iter()
            .filter_map(|f| source.layout.columns.get(f))
            .map(|c| dialect.quote(c))
            .collect::<Result<_>>()?,
        WriteBackMode::Ledger => {
            let mut names = vec![
                "location",
                "sku",
                "qty_before",
                "qty_after",
                "qty_change",
                "reason",
                "run_id",
                "line",
            ];
            if let Some(crate::job::Posted::Status { column, .. }) = &write_back.posted {
                names.push(column);
            }
            names
                .iter()
                .map(|c| dialect.quote(c))
                .collect::<Result<_>>()?
        }
    };
    let sql = format!(
        "SELECT {} FROM {}",
        columns.join(", "),
        dialect.quote(&write_back.table)?
    );
    let described = conn.prepare(&sql).and_then(|mut p| {
        // Describing the result makes every driver ask the server now.
        use odbc_api::ResultSetMetadata;
        p.num_result_cols().map(|_| ())
    });
    described.map_err(|e| {
        anyhow!(
            "write_back table {:?} cannot take the {} columns tally writes ({}): {}",
            write_back.table,
            match write_back.mode {
                WriteBackMode::Update => "update",
                WriteBackMode::Ledger => "ledger",
            },
            columns.join(", "),
            resolved.redact(&e.to_string())
        )
    })?;
    Ok(())
}
