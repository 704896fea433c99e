//! The fault suite of write-back: what a busy night and a hostile operator do to it, against
//! the real PostgreSQL, MariaDB and SQLite through their real ODBC drivers. Each case
//! names the failure it causes for real (a second connection holding a row lock, two
//! appliers at once, a SQL name that is SQL, an empty export, kill -9 in the middle of a
//! write) and what tally must guarantee then.

mod concurrency;
mod files;
mod guard;
mod ledger;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::odbc::{
    CORRECTING_RULES, Db, MARIADB, POSTGRES, check_job, job, lines_recorded, qty_of, run_job,
    stock, table, tally_with, write_job,
};

pub const COUNT_CSV: &str = crate::odbc::COUNT_CSV;

/// A SQLite database file of the test's own, through the real SQLite ODBC driver.
pub fn sqlite(dir: &Path, name: &str) -> Db {
    let connection: &'static str = Box::leak(
        format!(
            "Driver={{SQLite3}};Database={};",
            dir.join(format!("{name}.sqlite")).display()
        )
        .into_boxed_str(),
    );
    Db {
        name: "SQLite",
        connection,
        how_to_fix: SQLITE_HOW_TO_FIX,
        double: "double",
        ignores_password: false,
    }
}

/// Where each database's own test tables live for one case.
pub struct Case {
    pub db: Db,
    pub t: String,
    /// Keeps a SQLite file's folder alive.
    _dir: Option<tempfile::TempDir>,
}

pub fn cases(prefix: &str) -> Vec<Case> {
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path(), prefix);
    vec![
        Case {
            db: POSTGRES,
            t: table(&format!("{prefix}_pg")),
            _dir: None,
        },
        Case {
            db: MARIADB,
            t: table(&format!("{prefix}_my")),
            _dir: None,
        },
        Case {
            db: lite,
            t: table(&format!("{prefix}_lite")),
            _dir: Some(dir),
        },
    ]
}

/// `tally apply RUN` in a thread of the scope.
pub fn apply_in<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    run: &'s Path,
) -> std::thread::ScopedJoinHandle<'s, Output> {
    scope.spawn(move || tally_with("unused", &["apply", run.to_str().unwrap()]))
}

/// Waits (at most 30 s) until `blocked` says tally is waiting for a lock.
pub fn wait_until(what: &str, mut blocked: impl FnMut() -> bool, finished: impl Fn() -> bool) {
    let started = Instant::now();
    while !blocked() {
        assert!(
            started.elapsed() < Duration::from_secs(30) && !finished(),
            "tally never waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a statement of tally's on `t` waits for a lock (PostgreSQL's activity view,
/// MariaDB's process list); SQLite shows nothing, so a second is given.
pub fn waits_on(db: Db, watcher: &odbc_api::Connection<'_>, t: &str, since: Instant) -> bool {
    match db.name {
        "PostgreSQL" => {
            odbc_query_one(
                watcher,
                &format!(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND query LIKE '%{t}%' AND query NOT LIKE '%pg_stat_activity%'"
                ),
            ) != "0"
        }
        "MariaDB" => {
            odbc_query_one(
                watcher,
                &format!(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE TIME_MS > 200 \
                     AND INFO LIKE '%{t}%' AND INFO NOT LIKE '%PROCESSLIST%'"
                ),
            ) != "0"
        }
        _ => since.elapsed() > Duration::from_millis(1500),
    }
}

/// A ledger with a status column the ERP sets once it has posted an entry.
pub fn status_ledger(db: Db, t: &str) -> String {
    let ledger = format!("{t}_ledger");
    db.exec(&[
        &format!("DROP TABLE IF EXISTS {ledger}"),
        &format!(
            "CREATE TABLE {ledger} (location varchar(20), sku varchar(64), qty_before numeric(18,3), \
             qty_after numeric(18,3), qty_change numeric(18,3), reason varchar(20), \
             run_id varchar(64), line bigint, status varchar(20))"
        ),
    ]);
    ledger
}

pub fn ledger_sum(db: Db, ledger: &str, sku: &str) -> (String, String) {
    let n = db.query_one(&format!(
        "SELECT COUNT(*) FROM {ledger} WHERE sku = '{sku}'"
    ));
    let sum = db.query_one(&format!(
        "SELECT CAST(COALESCE(SUM(qty_change), 0) AS char(20)) FROM {ledger} WHERE sku = '{sku}'"
    ));
    (
        n,
        sum.trim()
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string(),
    )
}

/// A SQLite ERP of 40 rows and a rules file that corrects the book from the count.
pub fn forty_rows(ws: &Workspace, count: &str) -> Db {
    let db = sqlite(ws.dir.path(), "erp");
    let rows: Vec<String> = (1..=40)
        .map(|i| format!("('S1', 'A{i}', {i}, 1.5)"))
        .collect();
    db.exec(&[
        "CREATE TABLE stock (store varchar(20), sku varchar(64), qty numeric(18,3), cost numeric(18,4))",
        &format!("INSERT INTO stock VALUES {}", rows.join(", ")),
    ]);
    ws.write("rules.toml", CORRECTING_RULES);
    job(
        ws,
        db,
        "table = \"stock\"\n[sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\"\nunit_cost = \"cost\"\n[sources.erp.write_back]\nmode = \"update\"",
        count,
    );
    ws.write("rules.toml", CORRECTING_RULES);
    db
}

pub fn sum_of(db: Db) -> String {
    db.query_one("SELECT CAST(SUM(qty) AS integer) FROM stock")
}

pub fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}
