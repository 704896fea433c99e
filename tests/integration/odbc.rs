//! ODBC sources against the real servers through the real drivers: PostgreSQL at
//! 127.0.0.1:5432 and MariaDB at 127.0.0.1:3306 (both started on development and CI
//! machines). A server that cannot be reached fails the test, saying how to fix it.
//! Each test creates its own tables, under names no other test uses.

use std::path::Path;

use odbc_api::{ConnectionOptions, Environment};

use crate::common::*;

/// A database the tests can reach, by connection string (driver given by name, as a
/// user writes it; tally resolves it through odbcinst.ini).
#[derive(Clone, Copy)]
struct Db {
    name: &'static str,
    connection: &'static str,
    how_to_fix: &'static str,
    /// The SQL type for a 64-bit float.
    double: &'static str,
    /// Whether the server ignores the password (trust auth), so that a sentinel
    /// password can go through a whole run.
    ignores_password: bool,
}

const POSTGRES: Db = Db {
    name: "PostgreSQL",
    connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=test;Uid=postgres;",
    how_to_fix: "start it (service postgresql start) with a database `test` that user postgres may use \
                 (trust auth on 127.0.0.1), and install the driver (scripts/test does: odbc-postgresql)",
    double: "double precision",
    ignores_password: true,
};

const MARIADB: Db = Db {
    name: "MariaDB",
    connection: "Driver={MariaDB Unicode};Server=127.0.0.1;Port=3306;Database=test;Uid=root;Pwd=;",
    how_to_fix: "start it (service mariadb start) with a database `test` for root without password, \
                 and install the driver (scripts/test does: odbc-mariadb)",
    double: "double",
    ignores_password: false,
};

fn env() -> &'static Environment {
    static ENV: std::sync::OnceLock<Environment> = std::sync::OnceLock::new();
    ENV.get_or_init(|| Environment::new().expect("an ODBC environment"))
}

impl Db {
    /// Runs statements on the server (test setup), failing loudly when it is not there.
    fn exec(&self, statements: &[&str]) {
        let resolved = tally::odbc::connect::resolve(self.connection, "test").unwrap();
        let conn = env()
            .connect_with_connection_string(&resolved.text, ConnectionOptions::default())
            .unwrap_or_else(|e| {
                panic!(
                    "{} is not reachable through ODBC ({e}); {}",
                    self.name, self.how_to_fix
                )
            });
        for s in statements {
            conn.execute(s, (), None)
                .unwrap_or_else(|e| panic!("{}: {s}: {e}", self.name));
        }
    }

    fn query_one(&self, sql: &str) -> String {
        use odbc_api::Cursor;
        let resolved = tally::odbc::connect::resolve(self.connection, "test").unwrap();
        let conn = env()
            .connect_with_connection_string(&resolved.text, ConnectionOptions::default())
            .unwrap_or_else(|e| {
                panic!("{} is not reachable ({e}); {}", self.name, self.how_to_fix)
            });
        let mut cursor = conn.execute(sql, (), None).unwrap().expect("a result set");
        let mut row = cursor.next_row().unwrap().expect("a row");
        let mut out = Vec::new();
        row.get_text(1, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }
}

/// A unique table name per test and process.
fn table(prefix: &str) -> String {
    format!("tally_{prefix}_{}", std::process::id())
}

const COUNT_CSV: &str = "Item,Store,Counted\n";

/// A job reading `table` from the database against `count.csv`.
fn job(ws: &Workspace, db: Db, source: &str, count: &str) {
    ws.write("rules.toml", PLAIN_RULES);
    ws.write("count.csv", count);
    ws.write(
        "job.toml",
        format!(
            r#"
rules = "rules.toml"

[sources.erp]
kind = "odbc"
connection = "{conn}"
{source}

[sources.count]
kind = "csv"
path = "count.csv"
[sources.count.columns]
sku = "Item"
location = "Store"
qty = "Counted"

[[pairings]]
name = "erp-vs-count"
book = "erp"
observed = "count"
"#,
            conn = if db.ignores_password {
                format!("{}Pwd=${{TALLY_TEST_SECRET}};", db.connection)
            } else {
                db.connection.to_string()
            },
        ),
    );
}

fn run_with_secret(ws: &Workspace, secret: &str) -> Output {
    let out = tally()
        .env("TALLY_TEST_SECRET", secret)
        .args([
            "run",
            ws.path("job.toml").to_str().unwrap(),
            "--out",
            ws.path("runs").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every type the issue names, non-ASCII text, NULLs and a SKU that looks like SQL.
fn reads_every_type(db: Db) {
    let t = table(&format!("types_{}", db.name.to_lowercase()));
    db.exec(&[
        &format!("DROP TABLE IF EXISTS {t}"),
        &format!(
            "CREATE TABLE {t} (id integer, store varchar(20), sku varchar(64), \
             qty numeric(18,3), cost numeric(18,4), weight {}, name text, counted_at timestamp)",
            db.double
        ),
        &format!(
            "INSERT INTO {t} VALUES \
             (1, 'S1', 'A1', 10, 2.5000, 1.5, 'Crème brûlée 🍮', '2026-11-26 23:59:59'), \
             (2, 'S1', '''; DROP TABLE {t}; --', 3, 1234567.8912, NULL, NULL, NULL), \
             (3, 'S1', 'A3', 7.125, NULL, 2.25, 'Ærø', '2026-11-26 08:00:00')"
        ),
    ]);
    let ws = Workspace::new();
    job(
        &ws,
        db,
        &format!(
            "query = \"SELECT id, store, sku, qty, cost, name, counted_at FROM {t} WHERE counted_at IS NULL OR counted_at <= ? ORDER BY id\"\n\
             params = [\"2026-11-26 23:59:59\"]\n\
             [sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\"\nunit_cost = \"cost\"\ndescription = \"name\"\nas_of = \"counted_at\""
        ),
        &format!("{COUNT_CSV}A1,S1,10\nA3,S1,7.125\n"),
    );
    let secret = "s3ntinel-pw-0b5e";
    let o = run_with_secret(&ws, secret);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let run = ws.only_run_dir();
    let lines = discrepancies(&run);
    // The SQL-looking SKU stayed data: it is a book row missing from the count.
    let injected = lines
        .iter()
        .find(|l| l["kind"] == "missing_in_observed")
        .expect("the third row");
    assert_eq!(injected["book_sku"], format!("'; DROP TABLE {t}; --"));
    assert_eq!(injected["book_qty"], "3.000");
    assert_eq!(injected["book_unit_cost"], "1234567.8912");
    assert_eq!(
        injected["book_row"], "2",
        "rows are numbered in result order"
    );
    assert_eq!(lines.len(), 1, "A1 and A3 agree exactly: {lines:?}");
    assert_eq!(
        db.query_one(&format!("SELECT count(*) FROM {t}")),
        "3",
        "the table is still there"
    );
    let m = manifest(&run);
    assert_ties_out(&m);
    let input = erp_input(&m);
    assert_eq!(input["records"], 3);
    assert!(input["path"].as_str().unwrap().contains("odbc query"));
    if db.ignores_password {
        assert_no_secret(&ws, &o, secret);
    }
    db.exec(&[&format!("DROP TABLE {t}")]);
}

fn erp_input(m: &serde_json::Value) -> &serde_json::Value {
    m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["source"] == "erp")
        .expect("the erp input")
}

/// The secret is in no file of the run and in no output.
fn assert_no_secret(ws: &Workspace, o: &Output, secret: &str) {
    assert!(!o.stdout.contains(secret) && !o.stderr.contains(secret));
    let runs = ws.path("runs");
    if !runs.exists() {
        return;
    }
    for f in files(&runs) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{f} holds the secret"
        );
    }
}

#[test]
fn postgres_source_reads_every_type() {
    reads_every_type(POSTGRES);
}

#[test]
fn mariadb_source_reads_every_type() {
    reads_every_type(MARIADB);
}

#[test]
fn a_failed_connection_names_the_source_but_not_the_secret() {
    let ws = Workspace::new();
    let secret = "s3ntinel-pw-9c1d";
    ws.write("rules.toml", PLAIN_RULES);
    ws.write("count.csv", format!("{COUNT_CSV}A1,S1,1\n"));
    ws.write(
        "job.toml",
        r#"
rules = "rules.toml"
[sources.erp]
kind = "odbc"
connection = "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=1;Database=test;Uid=nobody;Pwd=${TALLY_TEST_SECRET};"
table = "stock"
[sources.erp.columns]
location = "store"
sku = "sku"
qty = "qty"
[sources.count]
kind = "csv"
path = "count.csv"
[sources.count.columns]
sku = "Item"
location = "Store"
qty = "Counted"
[[pairings]]
name = "p"
book = "erp"
observed = "count"
"#,
    );
    let o = run_with_secret(&ws, secret);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("source `erp`") && o.stderr.contains("cannot connect"),
        "{}",
        o.stderr
    );
    assert_no_secret(&ws, &o, secret);
    assert!(ws.run_dirs().is_empty());
}

/// A million rows through a table source (names quoted by tally), in bounded batches.
#[test]
fn postgres_million_row_table() {
    let t = table("million");
    POSTGRES.exec(&[
        &format!("DROP TABLE IF EXISTS {t}"),
        &format!(
            "CREATE TABLE {t} AS SELECT 'ST-' || (i % 20) AS \"Store Code\", 'SKU-' || i AS sku, \
             (i % 50)::numeric(18,3) AS on_hand, (i % 1000)::numeric(18,4) / 100 AS cost \
             FROM generate_series(1, 1000000) AS s(i)"
        ),
    ]);
    let ws = Workspace::new();
    job(
        &ws,
        POSTGRES,
        &format!(
            "table = \"{t}\"\n[sources.erp.columns]\nlocation = \"Store Code\"\nsku = \"sku\"\nqty = \"on_hand\"\nunit_cost = \"cost\""
        ),
        &format!("{COUNT_CSV}SKU-1,ST-1,1\n"),
    );
    let o = run_with_secret(&ws, "unused");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let m = manifest(&ws.only_run_dir());
    assert_eq!(erp_input(&m)["records"], 1_000_000);
    assert_eq!(m["pairings"][0]["book"]["rows"], 1_000_000);
    assert_eq!(m["pairings"][0]["book"]["matched"], 1);
    assert_ties_out(&m);
    POSTGRES.exec(&[&format!("DROP TABLE {t}")]);
}

#[test]
fn check_reports_a_missing_column_of_a_table_source() {
    let t = table("check");
    POSTGRES.exec(&[
        &format!("DROP TABLE IF EXISTS {t}"),
        &format!("CREATE TABLE {t} (store text, sku text, qty numeric(18,3))"),
    ]);
    let ws = Workspace::new();
    job(
        &ws,
        POSTGRES,
        &format!(
            "query = \"SELECT store, sku FROM {t}\"\n[sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\""
        ),
        COUNT_CSV,
    );
    let o = tally()
        .env("TALLY_TEST_SECRET", "x")
        .args(["check", ws.path("job.toml").to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("source `erp`") && stderr.contains("\"qty\""),
        "{stderr}"
    );
    POSTGRES.exec(&[&format!("DROP TABLE {t}")]);
    let _ = Path::new(REPO);
}
