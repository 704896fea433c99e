//! Write-back: the corrections the rules decided, into the ERP database, safely.
//!
//! For each target source, in one transaction (`transaction`), in this order:
//! 1. the target's lock (`lock`): one writer per write-back table, so whatever an applier
//!    before this one committed is seen by everything below;
//! 2. `tally_applied` (made here where DDL is transactional) and the corrections in a
//!    temporary staging table (`stage`), all values as text cast by the database, so
//!    decimals stay exact; lines an earlier apply of the same run wrote are dropped;
//! 3. the rows to be checked are locked (`FOR UPDATE`, `FOR SHARE` for a ledger's on-hand
//!    rows; SQLite holds the whole database), waiting for any other writer holding them;
//! 4. the compare-and-set check marks a correction *fresh* only while its row holds the
//!    value read at extraction (`update`; a ledger: on-hand + outstanding entries,
//!    `ledger`);
//! 5. one set-based statement updates the rows, comparing the value once more, or
//!    inserts adjustment entries; the applied lines are recorded.
//!
//! Any failure rolls everything back for that target. Rows-affected counts differ between
//! drivers, so nothing relies on them: the staging table says what happened.

use std::time::Instant;

use anyhow::{Result, anyhow};
use odbc_api::Connection;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::sql::{Dbms, Dialect};
use super::stage::{BATCH, Row, rows_for};
use super::target::{RunRef, Target};
use super::transaction::{
    ATTEMPTS, Tx, back_off, create_applied_outside, database_message, drop_applied_if_empty,
    is_transient,
};
use super::{connect, ledger, lock, stage, update};
use crate::columns::Field;
use crate::job::{Format, Job, Source, WriteBack, WriteBackMode};
use crate::progress::trace;

pub use super::transaction::applied_at;

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
                        back_off(attempt);
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

/// One target's transaction, steps 1 to 5 of the module's list; the caller commits.
fn apply_target(
    conn: &Connection<'_>,
    source: &Source,
    write_back: &WriteBack,
    rows: &[Row],
    run: &RunRef,
) -> Result<TargetResult> {
    let tx = Tx::new(conn)?;
    let target = Target::new(source, write_back, tx.dialect)?;

    // 1. One writer per target: taken before anything is read, so that what follows sees
    // everything an applier before this one committed.
    conn.set_autocommit(false)?;
    let lock_column = match write_back.mode {
        WriteBackMode::Update => target.qty.clone(),
        WriteBackMode::Ledger => tx.dialect.quote("qty_change")?,
    };
    let t = Instant::now();
    lock::acquire(
        conn,
        tx.dbms,
        &write_back.table,
        &target.table,
        &lock_column,
    )
    .map_err(|e| anyhow!("taking the write-back lock on {}: {e:#}", write_back.table))?;
    trace("  write-back: lock", t);

    // 2. tally's record and the staged corrections.
    tx.ensure_applied()?;
    let already_applied = stage::create(&tx, rows, &run.id, &source.name)?;

    // 3. The rows to be checked are locked before the check, so that nobody changes them
    // between the check and the write.
    let t = Instant::now();
    lock_checked_rows(&tx, &target, write_back.mode)?;
    trace("  write-back: lock rows", t);

    // 4. The compare-and-set check, now atomic with the write: the rows cannot move.
    let t = Instant::now();
    match write_back.mode {
        WriteBackMode::Update => update::mark_fresh(&tx, &target)?,
        WriteBackMode::Ledger => ledger::mark_fresh(&tx, &target, write_back, run)?,
    }
    trace("  write-back: optimistic check", t);

    // 5. The write, and the record of what was written.
    let t = Instant::now();
    let no_row = match write_back.mode {
        WriteBackMode::Update => update::write(&tx, &target)?,
        WriteBackMode::Ledger => {
            ledger::post(&tx, &target, write_back, run)?;
            Vec::new()
        }
    };
    trace("  write-back: update or insert", t);
    let t = Instant::now();
    let now = applied_at(chrono::Utc::now());
    tx.with(
        "INSERT INTO tally_applied (run_id, target, line, applied_at) \
         SELECT ?, ?, CAST(line AS DECIMAL(20,0)), ? FROM tally_stage WHERE fresh = 1",
        &[&run.id, &source.name, &now],
    )?;
    let applied = tx.count("SELECT COUNT(*) FROM tally_stage WHERE fresh = 1", &[])?;
    let stale = match write_back.mode {
        WriteBackMode::Update => {
            tx.lines("SELECT line FROM tally_stage WHERE fresh = 0 AND cur_qty IS NOT NULL")?
        }
        // In a ledger, a missing row that has appeared since is stale too.
        WriteBackMode::Ledger => tx.lines("SELECT line FROM tally_stage WHERE fresh = 0")?,
    };
    trace("  write-back: record applied lines", t);
    tx.drop_temporary("tally_stage")?;
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

/// Locks the rows a check will read: a row another transaction holds is waited for, and
/// the check then sees its committed value (PostgreSQL's statements each see what was
/// committed before they started; MariaDB's locking reads see the newest). SQLite holds
/// the whole database since the target's lock.
fn lock_checked_rows(tx: &Tx, target: &Target, mode: WriteBackMode) -> Result<()> {
    let (Some(t), Dbms::Postgres | Dbms::MySql) = (&target.checked, tx.dbms) else {
        return Ok(());
    };
    let strength = match mode {
        WriteBackMode::Update => "FOR UPDATE",
        // The ledger leaves the on-hand rows alone; they must only not move.
        WriteBackMode::Ledger if tx.dbms == Dbms::Postgres => "FOR SHARE",
        WriteBackMode::Ledger => "LOCK IN SHARE MODE",
    };
    let sql = format!(
        "SELECT 1 FROM {t} WHERE EXISTS (SELECT 1 FROM tally_stage WHERE {}) {strength}",
        target.same_row(t)
    );
    match tx.dbms {
        Dbms::Postgres => tx.count(
            &format!("SELECT COUNT(*) FROM ({sql}) AS tally_locked"),
            &[],
        )?,
        _ => tx.drain(&sql)?,
    };
    Ok(())
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
