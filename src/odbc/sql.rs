//! Names that the job puts into SQL (tables, columns) are validated and quoted per
//! dialect, never pasted in as written; values always travel as bound parameters.

/// The database behind a connection, as far as quoting and statements differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Double quotes (PostgreSQL, SQLite, the SQL standard).
    Standard,
    /// Backticks (MariaDB, MySQL).
    MySql,
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

    /// A validated name, quoted part by part (`schema.table` → `"schema"."table"`).
    pub fn quote(self, name: &str) -> String {
        debug_assert!(valid_name(name), "names are validated when the job loads");
        let q = match self {
            Dialect::Standard => '"',
            Dialect::MySql => '`',
        };
        name.split('.')
            .map(|part| format!("{q}{part}{q}"))
            .collect::<Vec<_>>()
            .join(".")
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
        assert_eq!(Dialect::Standard.quote("erp.tabBin"), "\"erp\".\"tabBin\"");
        assert_eq!(Dialect::MySql.quote("Actual Qty"), "`Actual Qty`");
        assert_eq!(Dialect::from_dbms("MariaDB"), Dialect::MySql);
        assert_eq!(Dialect::from_dbms("PostgreSQL"), Dialect::Standard);
    }
}
