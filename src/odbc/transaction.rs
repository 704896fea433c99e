//! One target's write-back transaction: its statements, tried again when the database
//! rolled it back to break a deadlock, and tally's own record of the lines it wrote
//! (`tally_applied`), which lives in the same transaction wherever the database allows.

use anyhow::{Result, anyhow};
use odbc_api::{Connection, Cursor, IntoParameter};

use super::sql::{Dbms, Dialect};

/// Times one target's transaction is tried. A database may end a transaction to break a
/// deadlock or a serialization conflict (two applies recording lines in `tally_applied`
/// at the same moment on MariaDB do); everything was rolled back, so trying again is safe
/// and is what the database asks for.
pub const ATTEMPTS: u32 = 4;

/// tally's record of the lines it wrote: run id, target source, line, when.
pub const CREATE_APPLIED: &str = "CREATE TABLE IF NOT EXISTS tally_applied (run_id VARCHAR(64) NOT NULL, \
     target VARCHAR(128) NOT NULL, line DECIMAL(20,0) NOT NULL, applied_at VARCHAR(40), \
     PRIMARY KEY (run_id, target, line))";

/// A statement that failed, with its SQL, keeping the driver's error for `is_transient`.
#[derive(Debug, thiserror::Error)]
#[error("{error} (in: {sql})")]
pub struct StatementFailed {
    sql: String,
    error: odbc_api::Error,
}

/// Creating `tally_applied` failed the way two appliers creating it at once make it
/// fail (PostgreSQL: a duplicate key in its catalogue): the attempt is tried again, and
/// then finds the table.
#[derive(Debug, thiserror::Error)]
#[error("creating tally_applied collided with another applier")]
pub struct Transient;

/// Whether the database rolled the transaction back to break a deadlock or a
/// serialization conflict: SQLSTATE 40001 (MariaDB, MySQL, SQL Server, PostgreSQL's
/// serialization failure) or 40P01 (PostgreSQL's deadlock).
pub fn is_transient(e: &anyhow::Error) -> bool {
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
pub fn database_message(message: &str) -> &str {
    message
        .split_once("Message: ")
        .map_or(message, |(_, m)| m)
        .lines()
        .next()
        .unwrap_or(message)
}

/// A pause before the next attempt that differs between appliers, so that two of them
/// do not meet again in step.
pub fn back_off(attempt: u32) {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos() % 100));
    std::thread::sleep(std::time::Duration::from_millis(
        100 * u64::from(attempt) + jitter,
    ));
}

/// The statements of one transaction on one connection; each error names its SQL.
pub struct Tx<'a, 'c> {
    pub conn: &'a Connection<'c>,
    pub dbms: Dbms,
    pub dialect: Dialect,
}

impl<'a, 'c> Tx<'a, 'c> {
    pub fn new(conn: &'a Connection<'c>) -> Result<Tx<'a, 'c>> {
        let dbms = Dbms::from_name(&conn.database_management_system_name()?);
        Ok(Tx {
            conn,
            dbms,
            dialect: dbms.dialect(),
        })
    }

    /// A statement without values.
    pub fn exec(&self, sql: &str) -> Result<()> {
        self.with(sql, &[])
    }

    /// A statement with its values bound, in order.
    pub fn with(&self, sql: &str, params: &[&str]) -> Result<()> {
        let bound: Vec<_> = params.iter().map(|p| p.into_parameter()).collect();
        self.conn
            .execute(sql, &bound[..], None)
            .map_err(|error| failed(sql, error))?;
        Ok(())
    }

    /// The number a `SELECT COUNT(*)` gives.
    pub fn count(&self, sql: &str, params: &[&str]) -> Result<u64> {
        let bound: Vec<_> = params.iter().map(|p| p.into_parameter()).collect();
        let mut cursor = self
            .conn
            .execute(sql, &bound[..], None)
            .map_err(|error| failed(sql, error))?
            .ok_or_else(|| anyhow!("no result from {sql}"))?;
        let mut row = cursor
            .next_row()?
            .ok_or_else(|| anyhow!("no row from {sql}"))?;
        let mut text = Vec::new();
        row.get_text(1, &mut text)?;
        Ok(String::from_utf8_lossy(&text).trim().parse().unwrap_or(0))
    }

    /// The line numbers a `SELECT line ...` gives, in order.
    pub fn lines(&self, sql: &str) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        if let Some(mut cursor) = self
            .conn
            .execute(sql, (), None)
            .map_err(|error| failed(sql, error))?
        {
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

    /// Reads every row of a statement (a locking read locks the rows as they are read).
    pub fn drain(&self, sql: &str) -> Result<u64> {
        let mut n = 0;
        let mut cursor = self
            .conn
            .execute(sql, (), None)
            .map_err(|error| failed(sql, error))?
            .ok_or_else(|| anyhow!("no result from {sql}"))?;
        while cursor.next_row()?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    /// Drops a temporary table this transaction made.
    pub fn drop_temporary(&self, table: &str) -> Result<()> {
        self.exec(&match self.dialect {
            Dialect::MySql => format!("DROP TEMPORARY TABLE {table}"),
            Dialect::Standard => format!("DROP TABLE {table}"),
        })
    }

    /// `tally_applied`, inside the transaction where the database allows (MariaDB
    /// commits around CREATE TABLE: `create_applied_outside` made it before, and it is
    /// touched now so that no one can drop it while this transaction lives).
    pub fn ensure_applied(&self) -> Result<()> {
        let transient = |e: anyhow::Error| anyhow::Error::new(Transient).context(format!("{e:#}"));
        match self.dbms {
            Dbms::MySql => self
                .exec("SELECT run_id FROM tally_applied WHERE 1 = 0")
                .map_err(transient),
            _ => self.exec(CREATE_APPLIED).map_err(transient),
        }
    }
}

fn failed(sql: &str, error: odbc_api::Error) -> StatementFailed {
    StatementFailed {
        sql: sql.to_string(),
        error,
    }
}

/// MariaDB commits around CREATE TABLE, so `tally_applied` cannot be made inside the
/// transaction: it is made just before (true when this call made it), and dropped again
/// when the apply fails and nothing has been recorded in it (`drop_applied_if_empty`).
pub fn create_applied_outside(conn: &Connection<'_>) -> Result<bool> {
    if conn
        .execute("SELECT run_id FROM tally_applied WHERE 1 = 0", (), None)
        .is_ok()
    {
        return Ok(false);
    }
    conn.execute(CREATE_APPLIED, (), None)
        .map_err(|error| failed(CREATE_APPLIED, error))?;
    Ok(true)
}

/// Drops `tally_applied` again if it holds nothing: the table lock waits for every
/// transaction that uses it, so no applier's lines can be lost.
pub fn drop_applied_if_empty(conn: &Connection<'_>) {
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

/// A time as `applied_at` records it: fixed width, UTC, so that text order is time order.
pub fn applied_at(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
