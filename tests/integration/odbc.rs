//! ODBC sources against the real servers through the real drivers: PostgreSQL at
//! 127.0.0.1:5432 and MariaDB at 127.0.0.1:3306 (both started on development and CI
//! machines). A server that cannot be reached fails the test, saying how to fix it.
//! Each test creates its own tables, under names no other test uses.

use crate::common::*;

/// A database the tests can reach, by connection string (driver given by name, as a
/// user writes it; tally resolves it through odbcinst.ini).
#[derive(Clone, Copy)]
pub struct Db {
    pub name: &'static str,
    pub connection: &'static str,
    pub how_to_fix: &'static str,
    /// The SQL type for a 64-bit float.
    pub double: &'static str,
    /// Whether the server ignores the password (trust auth), so that a sentinel
    /// password can go through a whole run.
    pub ignores_password: bool,
}

pub const POSTGRES: Db = Db {
    name: "PostgreSQL",
    connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=test;Uid=postgres;",
    how_to_fix: "start it (service postgresql start) with a database `test` that user postgres may use \
                 (trust auth on 127.0.0.1), and install the driver (scripts/test does: odbc-postgresql)",
    double: "double precision",
    ignores_password: true,
};

/// The same server through psqlODBC's narrow-text driver, which passes UTF-8 through
/// as is (no UTF-16 round trip).
pub const POSTGRES_ANSI: Db = Db {
    name: "PostgreSQL (ANSI driver)",
    connection: "Driver={PostgreSQL ANSI};Server=127.0.0.1;Port=5432;Database=test;Uid=postgres;",
    ..POSTGRES
};

pub const MARIADB: Db = Db {
    name: "MariaDB",
    connection: "Driver={MariaDB Unicode};Server=127.0.0.1;Port=3306;Database=test;Uid=root;Pwd=;",
    how_to_fix: "start it (service mariadb start) with a database `test` for root without password, \
                 and install the driver (scripts/test does: odbc-mariadb)",
    double: "double",
    ignores_password: false,
};

impl Db {
    /// A connection to the server, failing loudly when it is not there.
    pub fn connect(&self) -> odbc_api::Connection<'static> {
        odbc_connect(
            self.connection,
            &format!("{} is not reachable; {}", self.name, self.how_to_fix),
        )
    }

    /// Runs statements on the server (test setup).
    pub fn exec(&self, statements: &[&str]) {
        odbc_exec(&self.connect(), statements);
    }

    pub fn query_one(&self, sql: &str) -> String {
        odbc_query_one(&self.connect(), sql)
    }
}

/// A unique table name per test and process.
pub fn table(prefix: &str) -> String {
    format!("tally_{prefix}_{}", std::process::id())
}

pub const COUNT_CSV: &str = "Item,Store,Counted\n";

/// A job reading `table` from the database against `count.csv`.
pub fn job(ws: &Workspace, db: Db, source: &str, count: &str) {
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

/// `tally ARGS` with TALLY_TEST_SECRET set (jobs take their password from it).
pub fn tally_with(secret: &str, args: &[&str]) -> Output {
    let out = tally()
        .env("TALLY_TEST_SECRET", secret)
        .args(args)
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `tally check job.toml` in the workspace.
pub fn check_job(ws: &Workspace) -> Output {
    tally_with("unused", &["check", ws.path("job.toml").to_str().unwrap()])
}

/// `tally run job.toml --out runs EXTRA...` in the workspace.
pub fn run_job(ws: &Workspace, secret: &str, extra: &[&str]) -> Output {
    let job = ws.path("job.toml");
    let runs = ws.path("runs");
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--out",
        runs.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    tally_with(secret, &args)
}

/// Every type the issue names, non-ASCII text, NULLs and a SKU that looks like SQL.
fn reads_every_type(db: Db) {
    let t = table(&format!(
        "types_{}",
        db.name
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
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
            "query = \"SELECT id, store, sku, qty, cost, weight, name, counted_at FROM {t} WHERE counted_at IS NULL OR counted_at <= ? ORDER BY id\"\n\
             params = [\"2026-11-26 23:59:59\"]\n\
             [sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\"\nunit_cost = \"cost\"\ndescription = \"name\"\nas_of = \"counted_at\""
        ),
        &format!("{COUNT_CSV}A1,S1,9\nA3,S1,7\n"),
    );
    let secret = "s3ntinel-pw-0b5e";
    let o = run_job(&ws, secret, &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let run = ws.only_run_dir();
    let lines = discrepancies(&run);
    // The SQL-looking SKU stayed data: it is a book row missing from the count.
    let injected = lines
        .iter()
        .find(|l| l["kind"] == "missing_in_observed")
        .expect("the third row");
    assert_eq!(injected["book_sku"], format!("'; DROP TABLE {t}; --"));
    assert_eq!(injected["book_qty"], "3");
    assert_eq!(injected["book_unit_cost"], "1234567.8912");
    assert_eq!(
        injected["book_row"], "2",
        "rows are numbered in result order"
    );
    // Non-ASCII text and exact decimals come through the driver unchanged.
    let a3 = lines
        .iter()
        .find(|l| l["item_key"] == "A3")
        .expect("A3 differs");
    assert_eq!(
        (
            a3["description"].as_str(),
            a3["book_qty"].as_str(),
            a3["qty_delta"].as_str()
        ),
        ("Ærø", "7.125", "-0.125")
    );
    let a1 = lines
        .iter()
        .find(|l| l["item_key"] == "A1")
        .expect("A1 differs");
    assert_eq!(a1["description"], "Crème brûlée 🍮");
    assert_eq!(a1["book_unit_cost"], "2.5000");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        db.query_one(&format!("SELECT count(*) FROM {t}")),
        "3",
        "the table is still there"
    );
    let m = manifest(&run);
    assert_ties_out(&m);
    let input = erp_input(&m);
    assert_eq!(input["records"], 3);
    assert_eq!(input["path"], "query");
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
fn postgres_ansi_driver_reads_every_type() {
    reads_every_type(POSTGRES_ANSI);
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
    let o = run_job(&ws, secret, &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("source `erp`") && o.stderr.contains("cannot connect"),
        "{}",
        o.stderr
    );
    assert_no_secret(&ws, &o, secret);
    assert!(ws.run_dirs().is_empty());
}

/// PostgreSQL without synchronized scans (a lone SELECT then starts at the table's first
/// block, as the parted read does), so that both reads return rows in one order.
const POSTGRES_IN_ORDER: Db = Db {
    connection: "Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=test;Uid=postgres;\
                 ConnSettings=SET synchronize_seqscans TO off;",
    ..POSTGRES
};

/// A million rows through a table source (names quoted by tally), in bounded batches:
/// read in one and in three parts of one snapshot, with the same rows, digest and lines.
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
    let mut seen = Vec::new();
    let ws = Workspace::new();
    for parallel in [1, 3] {
        job(
            &ws,
            POSTGRES_IN_ORDER,
            &format!(
                "table = \"{t}\"\nparallel = {parallel}\n[sources.erp.columns]\nlocation = \"Store Code\"\nsku = \"sku\"\nqty = \"on_hand\"\nunit_cost = \"cost\""
            ),
            &format!("{COUNT_CSV}SKU-1,ST-1,1\nSKU-999999,ST-19,7\n"),
        );
        let out = tally()
            .env("TALLY_TRACE", "1")
            .env("TALLY_TEST_SECRET", "unused")
            .args(["run", ws.path("job.toml").to_str().unwrap(), "--out"])
            .arg(ws.path(&format!("runs-{parallel}")))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(
            stderr.contains("(part 3 of 3)"),
            parallel == 3,
            "parted read as asked: {stderr}"
        );
        let dir = std::fs::read_dir(ws.path(&format!("runs-{parallel}")))
            .unwrap()
            .next()
            .expect("a run directory")
            .unwrap()
            .path();
        let m = manifest(&dir);
        assert_eq!(erp_input(&m)["records"], 1_000_000);
        assert_eq!(m["pairings"][0]["book"]["rows"], 1_000_000);
        assert_eq!(m["pairings"][0]["book"]["matched"], 2);
        assert_ties_out(&m);
        let lines = std::fs::read_to_string(dir.join("discrepancies.csv")).unwrap();
        seen.push((erp_input(&m)["sha256"].clone(), lines));
    }
    assert_eq!(seen[0].0, seen[1].0, "same digest read in one and in parts");
    // Compared line by line: a million lines would not fit a readable failure message.
    let differ = seen[0]
        .1
        .lines()
        .zip(seen[1].1.lines())
        .find(|(a, b)| a != b);
    assert_eq!(differ, None, "same discrepancy lines");
    assert_eq!(seen[0].1.len(), seen[1].1.len());
    POSTGRES.exec(&[&format!("DROP TABLE {t}")]);
}

/// A table that is not there: the snapshot plan fails, the read in one names the
/// database's error, and nothing is written.
#[test]
fn postgres_missing_table_is_an_error() {
    let ws = Workspace::new();
    job(
        &ws,
        POSTGRES,
        "table = \"tally_no_such_table\"\nparallel = 2\n[sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\"",
        COUNT_CSV,
    );
    let o = run_job(&ws, "unused", &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("tally_no_such_table") && o.stderr.contains("does not exist"),
        "{}",
        o.stderr
    );
    assert!(ws.run_dirs().is_empty());
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
    let o = check_job(&ws);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("source `erp`") && o.stderr.contains("\"qty\""),
        "{}",
        o.stderr
    );
    POSTGRES.exec(&[&format!("DROP TABLE {t}")]);
}

pub const CORRECTING_RULES: &str = r#"
[normalize]
steps = [{ op = "trim" }, { op = "uppercase" }]

[defaults]
severity = "medium"
resolution = "review"

[[rules]]
name = "the-count-wins"
kind = "always"
applies_to = ["qty_mismatch", "missing_in_observed"]
severity = "low"
resolution = "correct_book"
"#;

/// A stock table with an index on its key, and a count that differs on two rows, one
/// of them with a SKU that looks like SQL (and like a PostgreSQL array literal).
pub fn stock(db: Db, t: &str) -> Workspace {
    db.exec(&[
        &format!("DROP TABLE IF EXISTS {t}"),
        &format!(
            "CREATE TABLE {t} (store varchar(20), sku varchar(64), qty numeric(18,3), cost numeric(18,4))"
        ),
        &format!("CREATE INDEX {t}_key ON {t} (store, sku)"),
        &format!(
            "INSERT INTO {t} VALUES ('S1', 'A1', 10, 2.5), ('S1', 'A2', 5, 1.25), \
             ('S1', '''; DROP TABLE {t}; -- \"}},{{NULL', 7, 4)"
        ),
    ]);
    let ws = Workspace::new();
    ws.write("rules.toml", CORRECTING_RULES);
    ws.write(
        "count.csv",
        format!("{COUNT_CSV}A1,S1,10\nA2,S1,3\n\"'; DROP TABLE {t}; -- \"\"}},{{NULL\",S1,9\n"),
    );
    ws
}

pub fn write_job(ws: &Workspace, db: Db, t: &str, write_back: &str) {
    let rules = ws.path("rules.toml");
    let rules = std::fs::read_to_string(&rules).unwrap();
    job(
        ws,
        db,
        &format!(
            "table = \"{t}\"\n[sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\"\nunit_cost = \"cost\"\n[sources.erp.write_back]\n{write_back}"
        ),
        &std::fs::read_to_string(ws.path("count.csv")).unwrap(),
    );
    ws.write("rules.toml", rules);
}

/// How many of the run's lines `tally_applied` records as written.
pub fn lines_recorded(db: Db, run: &std::path::Path) -> u64 {
    let run_id = manifest(run)["run_id"].as_str().unwrap().to_string();
    db.query_one(&format!(
        "SELECT COUNT(*) FROM tally_applied WHERE run_id = '{run_id}'"
    ))
    .parse()
    .unwrap()
}

pub fn qty_of(db: Db, t: &str, sku: &str) -> String {
    db.query_one(&format!(
        "SELECT CAST(qty AS char(20)) FROM {t} WHERE sku = '{}'",
        sku.replace('\'', "''")
    ))
}

fn update_mode_applies_once(db: Db) {
    let t = table(&format!("upd_{}", db.name.to_lowercase()));
    let ws = stock(db, &t);
    write_job(&ws, db, &t, "mode = \"update\"");
    let o = run_job(&ws, "unused", &["--apply"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("2 applied, 0 already applied, 0 stale"),
        "{}",
        o.stdout
    );
    let injected = format!("'; DROP TABLE {t}; -- \"}},{{NULL");
    assert!(qty_of(db, &t, "A2").starts_with('3'), "A2 corrected");
    assert!(
        qty_of(db, &t, &injected).starts_with('9'),
        "the SQL-looking SKU is data"
    );
    assert!(qty_of(db, &t, "A1").starts_with("10"));
    // Applying the same run again changes nothing.
    let run = ws.only_run_dir();
    db.exec(&[&format!("UPDATE {t} SET qty = 3 WHERE sku = 'A2'")]);
    let again = tally_with("unused", &["apply", run.to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("0 applied, 2 already applied"),
        "{}",
        again.stdout
    );
    assert!(qty_of(db, &t, &injected).starts_with('9'));
    db.exec(&[&format!("DROP TABLE {t}")]);
}

fn a_row_changed_since_extraction_is_stale(db: Db) {
    let t = table(&format!("stale_{}", db.name.to_lowercase()));
    let ws = stock(db, &t);
    write_job(&ws, db, &t, "mode = \"update\"");
    let o = run_job(&ws, "unused", &[]);
    assert_eq!(o.code, 0, "a dry run: {}", o.stderr);
    assert!(
        qty_of(db, &t, "A2").starts_with('5'),
        "a dry run writes nothing"
    );
    // Someone sells one A2 before the reviewed run is applied.
    db.exec(&[&format!("UPDATE {t} SET qty = 4 WHERE sku = 'A2'")]);
    let run = ws.only_run_dir();
    let a = tally_with("unused", &["apply", run.to_str().unwrap()]);
    assert_eq!(
        a.code, 1,
        "stale rows need a person: {}\n{}",
        a.stdout, a.stderr
    );
    assert!(
        a.stdout.contains("1 applied, 0 already applied, 1 stale"),
        "{}",
        a.stdout
    );
    assert!(
        qty_of(db, &t, "A2").starts_with('4'),
        "the newer value is left alone"
    );
    let results: Vec<serde_json::Value> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("applied-")
        })
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    assert_eq!(results.len(), 1);
    let line_of_a2 = discrepancies(&run)
        .into_iter()
        .find(|l| l["item_key"] == "A2")
        .unwrap()["line"]
        .parse::<u64>()
        .unwrap();
    assert_eq!(results[0][0]["stale"], serde_json::json!([line_of_a2]));
    // The report page of the write-back lists the stale line with its details.
    let page = std::fs::read_dir(run.join("reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("write-back-")
        })
        .expect("a write-back report");
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("Stale: changed since extraction"), "{html}");
    assert!(html.contains("<code>A2</code>"), "{html}");
    db.exec(&[&format!("DROP TABLE {t}")]);
}

/// The ledger table a job names: the columns tally writes, and an optional check on the
/// change.
pub fn create_ledger(db: Db, t: &str, check: &str) -> String {
    let ledger = format!("{t}_ledger");
    db.exec(&[
        &format!("DROP TABLE IF EXISTS {ledger}"),
        &format!(
            "CREATE TABLE {ledger} (location varchar(20), sku varchar(64), qty_before numeric(18,3), \
             qty_after numeric(18,3), qty_change numeric(18,3) {check}, reason varchar(20), \
             run_id varchar(64), line bigint)"
        ),
    ]);
    ledger
}

fn ledger_mode_inserts_entries(db: Db) {
    let t = table(&format!("led_{}", db.name.to_lowercase()));
    let ws = stock(db, &t);
    let ledger = create_ledger(db, &t, "");
    // A2's correction (worth −2.50) carries a reason code; the other falls back to the
    // write-back's default reason.
    ws.write(
        "rules.toml",
        "reasons = [\"miscount\"]\n".to_string()
            + &CORRECTING_RULES.replace(
            "[[rules]]",
            "[[rules]]\nname = \"small-miscount\"\nkind = \"always\"\napplies_to = [\"qty_mismatch\"]\n\
             value_band = { below = \"5\" }\nseverity = \"low\"\nresolution = \"correct_book\"\n\
             reason = \"miscount\"\n\n[[rules]]",
        ),
    );
    write_job(
        &ws,
        db,
        &t,
        &format!(
            "mode = \"ledger\"\ntable = \"{ledger}\"\nreason = \"CYCLE\"\nposted = \"removed\""
        ),
    );
    let o = run_job(&ws, "unused", &["--apply"]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert_eq!(db.query_one(&format!("SELECT COUNT(*) FROM {ledger}")), "2");
    assert!(
        db.query_one(&format!(
            "SELECT CAST(qty_change AS char(20)) FROM {ledger} WHERE sku = 'A2'"
        ))
        .starts_with("-2")
    );
    assert_eq!(
        db.query_one(&format!("SELECT reason FROM {ledger} WHERE sku = 'A2'")),
        "miscount"
    );
    assert_eq!(
        db.query_one(&format!("SELECT reason FROM {ledger} WHERE sku <> 'A2'")),
        "CYCLE"
    );
    assert!(
        qty_of(db, &t, "A2").starts_with('5'),
        "a ledger leaves the stock table alone"
    );
    let again = tally_with("unused", &["apply", ws.only_run_dir().to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        db.query_one(&format!("SELECT COUNT(*) FROM {ledger}")),
        "2",
        "no second entry"
    );
    db.exec(&[&format!("DROP TABLE {t}"), &format!("DROP TABLE {ledger}")]);
}

/// The ledger refuses one of the entries: nothing of the run is applied, exit 3, and the
/// message names the target and carries the database's own words.
fn a_failing_statement_rolls_everything_back(db: Db) {
    let t = table(&format!("fail_{}", db.name.to_lowercase()));
    let ws = stock(db, &t);
    let ledger = create_ledger(db, &t, "CHECK (qty_change > 0)");
    write_job(
        &ws,
        db,
        &t,
        &format!("mode = \"ledger\"\ntable = \"{ledger}\"\nposted = \"removed\""),
    );
    let o = run_job(&ws, "unused", &["--apply"]);
    assert_eq!(o.code, 3, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr
            .contains("write-back to source `erp` failed and was rolled back"),
        "{}",
        o.stderr
    );
    assert_eq!(db.query_one(&format!("SELECT COUNT(*) FROM {ledger}")), "0");
    assert_eq!(lines_recorded(db, &ws.only_run_dir()), 0);
    db.exec(&[&format!("DROP TABLE {t}"), &format!("DROP TABLE {ledger}")]);
}

/// Several runs applied at the same moment (all recording lines in one `tally_applied`)
/// all land, each exactly once.
fn concurrent_applies_all_land(db: Db) {
    const RUNS: usize = 6;
    let prepared: Vec<(String, Workspace)> = (0..RUNS)
        .map(|i| {
            let t = table(&format!("conc{i}_{}", db.name.to_lowercase()));
            let ws = stock(db, &t);
            write_job(&ws, db, &t, "mode = \"update\"");
            let o = run_job(&ws, "unused", &[]);
            assert_eq!(o.code, 0, "a dry run: {}", o.stderr);
            (t, ws)
        })
        .collect();
    let start = std::sync::Barrier::new(RUNS);
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = prepared
            .iter()
            .map(|(_, ws)| {
                let run = ws.only_run_dir();
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    tally_with("unused", &["apply", run.to_str().unwrap()])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((t, ws), o) in prepared.iter().zip(&outputs) {
        assert_eq!(o.code, 0, "{}: {}\n{}", db.name, o.stdout, o.stderr);
        assert!(
            o.stdout.contains("2 applied, 0 already applied, 0 stale"),
            "{}",
            o.stdout
        );
        assert!(qty_of(db, t, "A2").starts_with('3'), "A2 corrected in {t}");
        assert_eq!(
            lines_recorded(db, &ws.only_run_dir()),
            2,
            "each line recorded once"
        );
        db.exec(&[&format!("DROP TABLE {t}")]);
    }
}

#[test]
fn postgres_concurrent_applies_all_land() {
    concurrent_applies_all_land(POSTGRES);
}

#[test]
fn mariadb_concurrent_applies_all_land() {
    concurrent_applies_all_land(MARIADB);
}

/// The database may end tally's write-back to break a deadlock (MariaDB: SQLSTATE 40001,
/// error 1213); everything was rolled back, so tally says so and tries again, and the
/// corrections land once. The deadlock is made on purpose, in a database of its own so
/// that no other test's apply meets these locks: another transaction holds a shared lock
/// on the run's range of `tally_applied`, tally's insert there waits for it, then that
/// transaction inserts into the same range, which waits for tally's own shared lock. It
/// has written more, so InnoDB chooses tally's transaction as the victim.
#[test]
fn mariadb_deadlock_victim_is_tried_again() {
    let name = format!("tally_deadlock_{}", std::process::id());
    MARIADB.exec(&[
        &format!("DROP DATABASE IF EXISTS {name}"),
        &format!("CREATE DATABASE {name}"),
    ]);
    let connection: &'static str = Box::leak(
        MARIADB
            .connection
            .replace("Database=test", &format!("Database={name}"))
            .into_boxed_str(),
    );
    let db = Db {
        connection,
        ..MARIADB
    };
    let t = table("deadlock");
    let ws = stock(db, &t);
    write_job(&ws, db, &t, "mode = \"update\"");
    let o = run_job(&ws, "unused", &[]);
    assert_eq!(o.code, 0, "a dry run: {}", o.stderr);
    let run = ws.only_run_dir();
    let run_id = manifest(&run)["run_id"].as_str().unwrap().to_string();
    db.exec(&[
        "CREATE TABLE tally_applied (run_id VARCHAR(64) NOT NULL, \
         target VARCHAR(128) NOT NULL, line DECIMAL(20,0) NOT NULL, applied_at VARCHAR(40), \
         PRIMARY KEY (run_id, target, line))",
        "CREATE TABLE scratch (n INTEGER)",
    ]);

    let holder = db.connect();
    holder.set_autocommit(false).unwrap();
    let values: Vec<String> = (0..2000).map(|n| format!("({n})")).collect();
    holder
        .execute(
            &format!("INSERT INTO scratch VALUES {}", values.join(",")),
            (),
            None,
        )
        .unwrap();
    odbc_query_one(
        &holder,
        &format!("SELECT COUNT(*) FROM tally_applied WHERE run_id = '{run_id}' LOCK IN SHARE MODE"),
    );

    let applied = std::thread::scope(|scope| {
        let apply = scope.spawn(|| tally_with("unused", &["apply", run.to_str().unwrap()]));
        // Wait until tally's insert waits for the holder's lock (it takes milliseconds
        // otherwise; MariaDB's INNODB_TRX does not list a transaction of a prepared
        // statement that waits, so the process list tells).
        let watcher = db.connect();
        let started = std::time::Instant::now();
        while odbc_query_one(
            &watcher,
            &format!(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE DB = '{name}' AND TIME_MS > 300 \
                 AND INFO LIKE 'INSERT INTO tally_applied%'"
            ),
        ) == "0"
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30) && !apply.is_finished(),
                "tally's write-back never waited for the holder's lock"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        holder
            .execute(
                &format!("INSERT INTO tally_applied VALUES ('{run_id}', 'erp', 999999, NULL)"),
                (),
                None,
            )
            .expect("InnoDB ends tally's lighter transaction, not the holder's");
        holder.rollback().unwrap();
        apply.join().unwrap()
    });
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    assert!(
        applied
            .stderr
            .contains("write-back rolled back by the database")
            && applied.stderr.contains("Deadlock")
            && applied.stderr.contains("trying again (2 of 4)"),
        "{}",
        applied.stderr
    );
    assert!(
        applied
            .stdout
            .contains("2 applied, 0 already applied, 0 stale"),
        "{}",
        applied.stdout
    );
    assert!(qty_of(db, &t, "A2").starts_with('3'), "A2 corrected once");
    assert_eq!(lines_recorded(db, &run), 2);
    MARIADB.exec(&[&format!("DROP DATABASE {name}")]);
}

#[test]
fn postgres_update_applies_once() {
    update_mode_applies_once(POSTGRES);
}

#[test]
fn mariadb_update_applies_once() {
    update_mode_applies_once(MARIADB);
}

#[test]
fn postgres_stale_rows_are_left_alone() {
    a_row_changed_since_extraction_is_stale(POSTGRES);
}

#[test]
fn mariadb_stale_rows_are_left_alone() {
    a_row_changed_since_extraction_is_stale(MARIADB);
}

#[test]
fn postgres_ledger_entries() {
    ledger_mode_inserts_entries(POSTGRES);
}

#[test]
fn mariadb_ledger_entries() {
    ledger_mode_inserts_entries(MARIADB);
}

#[test]
fn postgres_failure_rolls_back() {
    a_failing_statement_rolls_everything_back(POSTGRES);
}

#[test]
fn mariadb_failure_rolls_back() {
    a_failing_statement_rolls_everything_back(MARIADB);
}

/// A text longer than tally reads is an error naming the column, never a cut value.
#[test]
fn postgres_overlong_text_is_an_error() {
    let t = table("long");
    POSTGRES.exec(&[
        &format!("DROP TABLE IF EXISTS {t}"),
        &format!("CREATE TABLE {t} (store text, sku text, qty numeric(18,3), note text)"),
        &format!(
            "INSERT INTO {t} VALUES ('S1', 'A1', 1, 'short'), ('S1', 'A2', 2, repeat('x', 5000))"
        ),
    ]);
    let ws = Workspace::new();
    job(
        &ws,
        POSTGRES,
        &format!(
            "table = \"{t}\"\n[sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\"\ndescription = \"note\""
        ),
        &format!("{COUNT_CSV}A1,S1,1\n"),
    );
    let o = run_job(&ws, "unused", &[]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("column \"note\"") && o.stderr.contains("longer than"),
        "{}",
        o.stderr
    );
    assert!(ws.run_dirs().is_empty());
    POSTGRES.exec(&[&format!("DROP TABLE {t}")]);
}

/// `tally check` asks the database whether the write-back table can take what tally
/// writes, without writing anything.
fn check_validates_the_write_back_table(db: Db) {
    let t = table(&format!(
        "chk_{}",
        db.name
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    let ws = stock(db, &t);
    write_job(
        &ws,
        db,
        &t,
        &format!("mode = \"ledger\"\ntable = \"{t}_no_such_ledger\"\nposted = \"removed\""),
    );
    let o = check_job(&ws);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("write_back table") && o.stderr.contains("no_such_ledger"),
        "{}",
        o.stderr
    );
    write_job(&ws, db, &t, "mode = \"update\"");
    let o = check_job(&ws);
    assert_eq!(o.code, 0, "{}", o.stderr);
    db.exec(&[&format!("DROP TABLE {t}")]);
}

#[test]
fn postgres_check_validates_the_write_back_table() {
    check_validates_the_write_back_table(POSTGRES);
}

#[test]
fn mariadb_check_validates_the_write_back_table() {
    check_validates_the_write_back_table(MARIADB);
}

/// A run directory edited after the run never writes to the database.
#[test]
fn postgres_apply_refuses_an_edited_run() {
    let t = table("edited");
    let ws = stock(POSTGRES, &t);
    write_job(&ws, POSTGRES, &t, "mode = \"update\"");
    let o = run_job(&ws, "unused", &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let run = ws.only_run_dir();
    let parquet = run.join("discrepancies.parquet");
    let mut bytes = std::fs::read(&parquet).unwrap();
    bytes.push(0);
    std::fs::write(&parquet, bytes).unwrap();
    let a = tally_with("unused", &["apply", run.to_str().unwrap()]);
    assert_eq!(a.code, 2, "{}\n{}", a.stdout, a.stderr);
    assert!(
        a.stderr.contains("does not match the run's manifest"),
        "{}",
        a.stderr
    );
    assert!(
        qty_of(POSTGRES, &t, "A2").starts_with('5'),
        "nothing written"
    );
    POSTGRES.exec(&[&format!("DROP TABLE {t}")]);
}
