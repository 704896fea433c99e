//! Names that the job puts into SQL (tables, columns) are validated and quoted per
//! dialect, never pasted in as written; values always travel as bound parameters.

use anyhow::{Result, bail};

/// The database behind a connection, as far as quoting and statements differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Double quotes (PostgreSQL, SQLite, the SQL standard).
    Standard,
    /// Backticks (MariaDB, MySQL).
    MySql,
}

/// The database behind a connection, as far as locking and transactions differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dbms {
    /// Row locks (`FOR UPDATE`), transactional DDL, `pg_advisory_xact_lock`.
    Postgres,
    /// InnoDB: locking reads in DML subqueries, DDL commits, `GET_LOCK`.
    MySql,
    /// One writer per database file: the first write takes the database's write lock.
    Sqlite,
    /// Anything else: treated as the SQL standard, with no lock of its own.
    Other,
}

impl Dbms {
    /// From the DBMS name the driver reports (SQL_DBMS_NAME).
    pub fn from_name(name: &str) -> Dbms {
        let n = name.to_ascii_lowercase();
        if is_postgres(name) {
            Dbms::Postgres
        } else if n.contains("mysql") || n.contains("mariadb") {
            Dbms::MySql
        } else if n.contains("sqlite") {
            Dbms::Sqlite
        } else {
            Dbms::Other
        }
    }

    pub fn dialect(self) -> Dialect {
        match self {
            Dbms::MySql => Dialect::MySql,
            Dbms::Postgres | Dbms::Sqlite | Dbms::Other => Dialect::Standard,
        }
    }
}

/// Whether the DBMS name a driver reports (SQL_DBMS_NAME) is PostgreSQL's, for what only
/// PostgreSQL does (snapshot-parted reads, array staging).
pub fn is_postgres(dbms: &str) -> bool {
    dbms.eq_ignore_ascii_case("PostgreSQL")
}

impl Dialect {
    /// From the DBMS name the driver reports (SQL_DBMS_NAME).
    pub fn from_dbms(name: &str) -> Dialect {
        let n = name.to_ascii_lowercase();
        if n.contains("mysql") || n.contains("mariadb") {
            Dialect::MySql
        } else {
            Dialect::Standard
        }
    }

    /// An expression as text, for comparing a column of any type with bound text.
    pub fn text_cast(self, expr: &str) -> String {
        match self {
            Dialect::Standard => format!("CAST({expr} AS VARCHAR(255))"),
            Dialect::MySql => format!("CAST({expr} AS CHAR(255))"),
        }
    }

    /// A validated name, quoted part by part (`schema.table` → `"schema"."table"`).
    /// Names are validated when the job loads; one that is not valid here (a bug, or a
    /// caller that skipped validation) is refused in every build, never pasted in.
    pub fn quote(self, name: &str) -> Result<String> {
        if !valid_name(name) {
            bail!("{name:?} is not a valid SQL name: refused before it reached the database");
        }
        let q = match self {
            Dialect::Standard => '"',
            Dialect::MySql => '`',
        };
        Ok(name
            .split('.')
            .map(|part| format!("{q}{part}{q}"))
            .collect::<Vec<_>>()
            .join("."))
    }
}

/// A table or column name tally will put into SQL: letters, digits, `_`, `$` and
/// spaces (column names in ERPs such as ERPNext's "Actual Qty" have them), not starting
/// with a digit, at most 128 characters per part; `schema.table` allowed. Quotes,
/// semicolons and the like never pass, so quoting cannot be broken out of.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').count() <= 3
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.chars().count() <= 128
                && !part.starts_with(|c: char| c.is_ascii_digit() || c == ' ')
                && !part.ends_with(' ')
                && part
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ' ')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_and_quoted() {
        for ok in ["stock", "erp.tabBin", "Actual Qty", "item_code", "tälly"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "a;b",
            "x\"y",
            "x`y",
            "1abc",
            "a..b",
            "stock; DROP TABLE stock; --",
            " padded",
            "a.b.c.d",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(
            Dialect::Standard.quote("erp.tabBin").unwrap(),
            "\"erp\".\"tabBin\""
        );
        assert_eq!(Dialect::MySql.quote("Actual Qty").unwrap(), "`Actual Qty`");
        // Refused in release builds too: the injection through a column mapping.
        for dialect in [Dialect::Standard, Dialect::MySql] {
            assert!(
                dialect
                    .quote("actual_qty\" FROM \"tabBin\"; DELETE FROM \"tabBin\"; COMMIT; --")
                    .is_err()
            );
            assert!(dialect.quote("a`b").is_err());
        }
        assert_eq!(Dbms::from_name("SQLite"), Dbms::Sqlite);
        assert_eq!(Dbms::from_name("MariaDB"), Dbms::MySql);
        assert_eq!(Dbms::from_name("PostgreSQL"), Dbms::Postgres);
        assert_eq!(Dialect::from_dbms("MariaDB"), Dialect::MySql);
        assert_eq!(Dialect::from_dbms("PostgreSQL"), Dialect::Standard);
    }
}
