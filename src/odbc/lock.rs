//! One writer per target: every apply of one write-back table takes the same database
//! lock first, inside its transaction, so that two appliers (two `tally apply` of one
//! run, two nightly jobs of one ERP) never interleave. The second waits until the first
//! has committed, then finds its lines applied, or the rows moved, and acts on that.
//!
//! PostgreSQL: `pg_advisory_xact_lock`, released at commit or rollback. MariaDB/MySQL:
//! `GET_LOCK`, held by the session until `RELEASE_LOCK` (or the connection's end).
//! SQLite: a no-op write to the target table, which takes the database's write lock
//! before anything is read (a deferred transaction that read first could not upgrade).

use anyhow::{Result, anyhow, bail};
use odbc_api::{Connection, Cursor, IntoParameter};
use sha2::{Digest, Sha256};

use super::sql::Dbms;

/// How long a MariaDB applier waits for another one before giving up (seconds).
const WAIT_SECONDS: u32 = 600;

/// The lock's name: one per write-back table, whatever job or source writes to it.
fn key(table: &str) -> [u8; 32] {
    Sha256::digest(format!("tally write-back {}", table.to_ascii_lowercase())).into()
}

/// MariaDB lock names are at most 64 characters.
pub fn lock_name(table: &str) -> String {
    let k = key(table);
    let hex: String = k[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("tally:{hex}")
}

/// Takes the target's lock; `quoted_table` is the write-back table, quoted, and
/// `quoted_column` one of its columns (SQLite writes it to itself to take the lock).
/// MariaDB's lock outlives the transaction: call `release` after commit or rollback.
pub fn acquire(
    conn: &Connection<'_>,
    dbms: Dbms,
    table: &str,
    quoted_table: &str,
    quoted_column: &str,
) -> Result<()> {
    match dbms {
        Dbms::Postgres => {
            let k = key(table);
            let id = i64::from_be_bytes(k[..8].try_into().expect("8 bytes"));
            let id = id.to_string();
            conn.execute(
                "SELECT pg_advisory_xact_lock(CAST(? AS BIGINT))",
                &id.as_str().into_parameter(),
                None,
            )?;
        }
        Dbms::MySql => {
            let name = lock_name(table);
            let sql = format!("SELECT GET_LOCK(?, {WAIT_SECONDS})");
            let mut cursor = conn
                .execute(&sql, &name.as_str().into_parameter(), None)?
                .ok_or_else(|| anyhow!("GET_LOCK returned nothing"))?;
            let mut row = cursor
                .next_row()?
                .ok_or_else(|| anyhow!("GET_LOCK returned no row"))?;
            let mut text = Vec::new();
            row.get_text(1, &mut text)?;
            if text != b"1" {
                bail!(
                    "another write-back to {table} held its lock for {WAIT_SECONDS} s; \
                     nothing was written (try again when it is done)"
                );
            }
        }
        Dbms::Sqlite => {
            conn.execute(
                &format!("UPDATE {quoted_table} SET {quoted_column} = {quoted_column} WHERE 1 = 0"),
                (),
                None,
            )?;
        }
        Dbms::Other => {}
    }
    Ok(())
}

/// Gives a MariaDB session lock back (the others end with their transaction).
pub fn release(conn: &Connection<'_>, dbms: Dbms, table: &str) {
    if dbms == Dbms::MySql {
        let name = lock_name(table);
        // A lock that could not be released goes with the connection, closed next.
        let _ = conn.execute(
            "SELECT RELEASE_LOCK(?)",
            &name.as_str().into_parameter(),
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_names_fit_mariadb_and_ignore_case() {
        let n = super::lock_name("erp.tabBin");
        assert!(n.len() <= 64, "{n}");
        assert_eq!(n, super::lock_name("ERP.TABBIN"));
        assert_ne!(n, super::lock_name("erp.tabBin2"));
    }
}
