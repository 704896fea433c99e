//! The fault suite of write-back: what a busy night and a hostile operator do to it, against
//! the real PostgreSQL, MariaDB and SQLite through their real ODBC drivers. Each case
//! names the failure it causes for real (a second connection holding a row lock, two
//! appliers at once, a SQL name that is SQL, an empty export, kill -9 in the middle of a
//! write) and what tally must guarantee then.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::odbc::{
    CORRECTING_RULES, Db, MARIADB, POSTGRES, check_job, job, lines_recorded, qty_of, run_job,
    stock, table, tally_with, write_job,
};

const COUNT_CSV: &str = crate::odbc::COUNT_CSV;

/// A SQLite database file of the test's own, through the real SQLite ODBC driver.
fn sqlite(dir: &Path, name: &str) -> Db {
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
struct Case {
    db: Db,
    t: String,
    /// Keeps a SQLite file's folder alive.
    _dir: Option<tempfile::TempDir>,
}

fn cases(prefix: &str) -> Vec<Case> {
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
fn apply_in<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    run: &'s Path,
) -> std::thread::ScopedJoinHandle<'s, Output> {
    scope.spawn(move || tally_with("unused", &["apply", run.to_str().unwrap()]))
}

/// Waits (at most 30 s) until `blocked` says tally is waiting for a lock.
fn wait_until(what: &str, mut blocked: impl FnMut() -> bool, finished: impl Fn() -> bool) {
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
fn waits_on(db: Db, watcher: &odbc_api::Connection<'_>, t: &str, since: Instant) -> bool {
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

/// (1) No lost update: a second connection holds an uncommitted change of a row that a
/// correction targets. tally waits for it; once it commits, the row is stale and keeps
/// the other writer's value (before: overwritten on PostgreSQL, "1 applied, 0 stale").
#[test]
fn a_row_locked_by_another_writer_is_stale_once_it_commits() {
    for case in cases("held") {
        let (db, t) = (case.db, case.t.as_str());
        let ws = stock(db, t);
        write_job(&ws, db, t, "mode = \"update\"");
        let o = run_job(&ws, "unused", &[]);
        assert_eq!(o.code, 0, "{}: a dry run: {}", db.name, o.stderr);
        let run = ws.only_run_dir();

        let holder = db.connect();
        holder.set_autocommit(false).unwrap();
        holder
            .execute(
                &format!("UPDATE {t} SET qty = 99 WHERE sku = 'A2'"),
                (),
                None,
            )
            .unwrap();
        let watcher = db.connect();
        let applied = std::thread::scope(|scope| {
            let apply = apply_in(scope, &run);
            let since = Instant::now();
            wait_until(
                "the other writer's row lock",
                || waits_on(db, &watcher, t, since),
                || apply.is_finished(),
            );
            assert!(!apply.is_finished(), "{}: tally did not wait", db.name);
            holder.commit().unwrap();
            apply.join().unwrap()
        });
        assert_eq!(
            applied.code, 1,
            "{}: a stale row needs a person: {}{}",
            db.name, applied.stdout, applied.stderr
        );
        assert!(
            applied
                .stdout
                .contains("1 applied, 0 already applied, 1 stale"),
            "{}: {}",
            db.name,
            applied.stdout
        );
        assert!(
            qty_of(db, t, "A2").starts_with("99"),
            "{}: the other writer's value stays",
            db.name
        );
        db.exec(&[&format!("DROP TABLE {t}")]);
    }
}

/// (3) A SQL name that is SQL never reaches the database, not even on a dry run: the job
/// is refused when it loads (file:line, exit 2) by `tally check` and `tally run`.
#[test]
fn an_injected_column_name_is_refused_before_any_connection() {
    for case in cases("inject") {
        let (db, t) = (case.db, case.t.as_str());
        let ws = stock(db, t);
        write_job(&ws, db, t, "mode = \"update\"");
        let job = std::fs::read_to_string(ws.path("job.toml")).unwrap();
        let evil = format!(r#"qty = "qty\" FROM \"{t}\"; DELETE FROM \"{t}\"; COMMIT; --""#);
        let job = job.replace("qty = \"qty\"", &evil);
        assert!(job.contains("DELETE"), "{job}");
        ws.write("job.toml", &job);
        let line = job.lines().position(|l| l.contains("DELETE")).unwrap() + 1;
        for o in [
            check_job(&ws),
            run_job(&ws, "unused", &[]),
            run_job(&ws, "unused", &["--apply"]),
        ] {
            assert_eq!(o.code, 2, "{}: {}{}", db.name, o.stdout, o.stderr);
            assert!(
                o.stderr.contains(&format!("job.toml:{line}:"))
                    && o.stderr.contains("is not a column name"),
                "{}: {}",
                db.name,
                o.stderr
            );
        }
        assert_eq!(
            db.query_one(&format!("SELECT COUNT(*) FROM {t}")),
            "3",
            "{}",
            db.name
        );
        assert!(ws.run_dirs().is_empty());
        db.exec(&[&format!("DROP TABLE {t}")]);
    }
}

/// (4) Two `tally apply` of one run at once: one writes, the other finds the lines
/// applied; both end as an apply ends (before: one exit 3 on tally_applied's key).
#[test]
fn two_applies_of_one_run_at_once_write_once() {
    for case in cases("twice") {
        let (db, t) = (case.db, case.t.as_str());
        let ws = stock(db, t);
        write_job(&ws, db, t, "mode = \"update\"");
        let o = run_job(&ws, "unused", &[]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let run = ws.only_run_dir();
        let run_id = manifest(&run)["run_id"].as_str().unwrap().to_string();
        for round in 0..3 {
            // Each round starts from the values the run read, with nothing recorded.
            db.exec(&[
                &format!("UPDATE {t} SET qty = 5 WHERE sku = 'A2'"),
                &format!("UPDATE {t} SET qty = 7 WHERE sku <> 'A1' AND sku <> 'A2'"),
            ]);
            if round > 0 {
                db.exec(&[&format!(
                    "DELETE FROM tally_applied WHERE run_id = '{run_id}'"
                )]);
            }
            let start = std::sync::Barrier::new(2);
            let outputs: Vec<Output> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..2)
                    .map(|_| {
                        let (start, run) = (&start, &run);
                        scope.spawn(move || {
                            start.wait();
                            tally_with("unused", &["apply", run.to_str().unwrap()])
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let mut said: Vec<&str> = Vec::new();
            for o in &outputs {
                assert_eq!(o.code, 0, "{}: {}{}", db.name, o.stdout, o.stderr);
                said.push(if o.stdout.contains("2 applied, 0 already applied") {
                    "wrote"
                } else if o.stdout.contains("0 applied, 2 already applied") {
                    "found"
                } else {
                    panic!("{}: {}", db.name, o.stdout)
                });
            }
            said.sort();
            assert_eq!(said, ["found", "wrote"], "{} round {round}", db.name);
            assert_eq!(lines_recorded(db, &run), 2, "{}", db.name);
            assert!(qty_of(db, t, "A2").starts_with('3'), "{}", db.name);
        }
        db.exec(&[&format!("DROP TABLE {t}")]);
    }
}

/// A ledger with a status column the ERP sets once it has posted an entry.
fn status_ledger(db: Db, t: &str) -> String {
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

fn ledger_sum(db: Db, ledger: &str, sku: &str) -> (String, String) {
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

/// (2) No double posting in ledger mode: outstanding entries (tally's, not yet posted by
/// the ERP) are netted into the book, so a second night posts only what is missing.
fn ledger_posts_each_difference_once(db: Db) {
    let t = table(&format!("once_{}", db.name.to_lowercase()));
    let ws = stock(db, &t);
    let ledger = status_ledger(db, &t);
    let wb = format!(
        "mode = \"ledger\"\ntable = \"{ledger}\"\nposted = {{ column = \"status\", values = [\"posted\", \"cancelled\"] }}"
    );
    write_job(&ws, db, &t, &wb);
    let night = |n: u32| {
        let out = ws.path(&format!("runs-{n}"));
        let o = tally_with(
            "unused",
            &[
                "run",
                ws.path("job.toml").to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--apply",
            ],
        );
        assert!(
            o.code == 0 || o.code == 1,
            "{}: night {n}: {}{}",
            db.name,
            o.stdout,
            o.stderr
        );
        let dir = dirs(&out).pop().expect("a run directory");
        (o, dir)
    };
    // Night 1: A2 5 → 3 (−2) is posted.
    night(1);
    assert_eq!(
        ledger_sum(db, &ledger, "A2"),
        ("1".into(), "-2".into()),
        "{}",
        db.name
    );
    // Night 2, the ERP has not posted yet, nothing moved: nothing is posted again.
    let (o, dir) = night(2);
    assert_eq!(
        ledger_sum(db, &ledger, "A2"),
        ("1".into(), "-2".into()),
        "{}: {}{}",
        db.name,
        o.stdout,
        o.stderr
    );
    assert!(
        discrepancies(&dir).is_empty(),
        "{}: the book with what is outstanding agrees",
        db.name
    );
    assert!(o.stderr.contains("outstanding ledger entr"), "{}", o.stderr);
    // A sale at the store between the nights: the count reads 2. Only −1 is missing.
    let count = std::fs::read_to_string(ws.path("count.csv")).unwrap();
    ws.write("count.csv", count.replace("A2,S1,3", "A2,S1,2"));
    night(3);
    assert_eq!(
        ledger_sum(db, &ledger, "A2"),
        ("2".into(), "-3".into()),
        "{}",
        db.name
    );
    // The ERP posts both: on-hand moves by them, the entries are marked.
    db.exec(&[
        &format!("UPDATE {t} SET qty = 2 WHERE sku = 'A2'"),
        &format!("UPDATE {t} SET qty = 9 WHERE sku <> 'A2' AND sku <> 'A1'"),
        &format!("UPDATE {ledger} SET status = 'posted'"),
    ]);
    let (_, dir) = night(4);
    assert!(
        discrepancies(&dir).is_empty(),
        "{}: all posted, all agrees",
        db.name
    );
    assert_eq!(
        ledger_sum(db, &ledger, "A2"),
        ("2".into(), "-3".into()),
        "{}",
        db.name
    );
    db.exec(&[&format!("DROP TABLE {t}"), &format!("DROP TABLE {ledger}")]);
}

#[test]
fn postgres_ledger_posts_each_difference_once() {
    ledger_posts_each_difference_once(POSTGRES);
}

#[test]
fn mariadb_ledger_posts_each_difference_once() {
    ledger_posts_each_difference_once(MARIADB);
}

/// (2) Two `tally run --apply` of one ledger at the same moment post the difference once:
/// the second finds it outstanding (its book agrees) or stale (the first posted between
/// its read and its write).
fn concurrent_ledger_runs_post_once(db: Db) {
    let t = table(&format!("lconc_{}", db.name.to_lowercase()));
    let first = stock(db, &t);
    let ledger = status_ledger(db, &t);
    let wb = format!("mode = \"ledger\"\ntable = \"{ledger}\"\nposted = \"removed\"");
    write_job(&first, db, &t, &wb);
    let second = Workspace::new();
    for f in ["job.toml", "rules.toml", "count.csv"] {
        second.write(f, std::fs::read(first.path(f)).unwrap());
    }
    for round in 0..3 {
        db.exec(&[&format!("DELETE FROM {ledger}")]);
        let start = std::sync::Barrier::new(2);
        let outputs: Vec<Output> = std::thread::scope(|scope| {
            [&first, &second]
                .map(|ws| {
                    let start = &start;
                    scope.spawn(move || {
                        start.wait();
                        run_job(ws, "unused", &["--apply"])
                    })
                })
                .map(|h| h.join().unwrap())
                .into_iter()
                .collect()
        });
        for o in &outputs {
            assert!(
                o.code == 0 || o.code == 1,
                "{}: {}{}",
                db.name,
                o.stdout,
                o.stderr
            );
        }
        assert_eq!(
            ledger_sum(db, &ledger, "A2"),
            ("1".into(), "-2".into()),
            "{} round {round}: {}\n{}",
            db.name,
            outputs[0].stdout,
            outputs[1].stdout
        );
    }
    db.exec(&[&format!("DROP TABLE {t}"), &format!("DROP TABLE {ledger}")]);
}

#[test]
fn postgres_concurrent_ledger_runs_post_once() {
    concurrent_ledger_runs_post_once(POSTGRES);
}

#[test]
fn mariadb_concurrent_ledger_runs_post_once() {
    concurrent_ledger_runs_post_once(MARIADB);
}

/// (4) Two `tally run` of one job at once: the second refuses at once (exit 2, naming the
/// holder) while the first runs; the first is unharmed. The first is held up for real:
/// its read of the ERP table waits for a table lock a test transaction holds.
#[test]
fn a_second_run_of_one_job_refuses_while_the_first_runs() {
    let db = POSTGRES;
    let t = table("tworuns");
    let ws = stock(db, &t);
    write_job(&ws, db, &t, "mode = \"update\"");
    let holder = db.connect();
    holder.set_autocommit(false).unwrap();
    holder
        .execute(
            &format!("LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE"),
            (),
            None,
        )
        .unwrap();
    let watcher = db.connect();
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| run_job(&ws, "unused", &[]));
        let since = Instant::now();
        wait_until(
            "the table lock",
            || waits_on(db, &watcher, &t, since),
            || first.is_finished(),
        );
        let second = run_job(&ws, "unused", &[]);
        holder.rollback().unwrap();
        (first.join().unwrap(), second)
    });
    assert_eq!(second.code, 2, "{}{}", second.stdout, second.stderr);
    assert!(
        second
            .stderr
            .contains("another tally process is using the output folder")
            && second.stderr.contains("pid "),
        "{}",
        second.stderr
    );
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert_eq!(
        ws.run_dirs().len(),
        1,
        "one run, no lock file left: {:?}",
        ws.run_dirs()
    );
    db.exec(&[&format!("DROP TABLE {t}")]);
}

/// A SQLite ERP of 40 rows and a rules file that corrects the book from the count.
fn forty_rows(ws: &Workspace, count: &str) -> Db {
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

fn sum_of(db: Db) -> String {
    db.query_one("SELECT CAST(SUM(qty) AS integer) FROM stock")
}

/// (5) The blast-radius guard: a header-only (or truncated) export would zero the ERP.
/// The write-back is held (exit 1, nothing written, the reason printed and in the
/// manifest); `tally apply --force` writes it, and the override is recorded.
#[test]
fn an_empty_or_truncated_export_is_held_back() {
    for (what, count) in [
        ("header only", COUNT_CSV.to_string()),
        ("truncated", format!("{COUNT_CSV}A1,S1,1\nA2,S1,2\n")),
    ] {
        let ws = Workspace::new();
        let db = forty_rows(&ws, &count);
        let o = run_job(&ws, "unused", &["--apply"]);
        assert_eq!(o.code, 1, "{what}: {}{}", o.stdout, o.stderr);
        assert!(
            o.stdout.contains("write-back held by the guard"),
            "{what}: {}",
            o.stdout
        );
        assert_eq!(sum_of(db), "820", "{what}: nothing written");
        let run = ws.only_run_dir();
        let guard = &manifest(&run)["guard"];
        assert_eq!(guard["held"], true, "{what}");
        let reasons = guard["reasons"].to_string();
        match what {
            "header only" => assert!(reasons.contains("has no rows"), "{reasons}"),
            _ => assert!(
                reasons.contains("set to zero") && reasons.contains("rows (limit 25%)"),
                "{reasons}"
            ),
        }
        let again = tally_with("unused", &["apply", run.to_str().unwrap()]);
        assert_eq!(again.code, 1, "{}", again.stdout);
        assert_eq!(sum_of(db), "820", "{what}: still nothing");
        let forced = tally_with("unused", &["apply", run.to_str().unwrap(), "--force"]);
        assert_eq!(forced.code, 0, "{what}: {}{}", forced.stdout, forced.stderr);
        assert_ne!(sum_of(db), "820", "{what}: written when forced");
        assert!(
            std::fs::read_dir(&run).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("forced-")),
            "the override is recorded"
        );
    }
}

/// (9) Propagation never invents a quantity: a POS export that repeats one row (the side
/// reads as absent) or lost one, and a baseline that already disagreed, go to a person;
/// only a real one-sided change from an agreed baseline is written.
#[test]
fn propagate_writes_only_real_one_sided_changes() {
    let ws = Workspace::new();
    let db = sqlite(ws.dir.path(), "erp");
    db.exec(&[
        "CREATE TABLE stock (store varchar(20), sku varchar(64), qty numeric(18,3), cost numeric(18,4))",
        "INSERT INTO stock VALUES ('S1','A1',6,1), ('S1','A2',10,1), ('S1','A3',4,1), ('S1','A4',5,1)",
    ]);
    job(
        &ws,
        db,
        "table = \"stock\"\n[sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\"\nunit_cost = \"cost\"\n[sources.erp.write_back]\nmode = \"update\"",
        &format!("{COUNT_CSV}A1,S1,6\nA2,S1,10\nA3,S1,4\nA4,S1,7\n"),
    );
    ws.write(
        "rules.toml",
        "[normalize]\nsteps = [{ op = \"trim\" }]\n[defaults]\nseverity = \"medium\"\nresolution = \"propagate\"\n",
    );
    let state = ws.path("state");
    let (o, _) = run_into(
        &ws.path("job.toml"),
        &ws.path("runs-1"),
        Some(&state),
        &["--apply"],
    );
    assert_eq!(
        o.code, 1,
        "A4 disagrees with no baseline: {}{}",
        o.stdout, o.stderr
    );
    // Night 2: A1 repeated, A2 gone, A3 sold one, A4 counted again from a disagreement.
    ws.write(
        "count.csv",
        format!("{COUNT_CSV}A1,S1,6\nA1,S1,6\nA3,S1,3\nA4,S1,8\n"),
    );
    let (o, dir) = run_into(
        &ws.path("job.toml"),
        &ws.path("runs-2"),
        Some(&state),
        &["--apply"],
    );
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let qty = |sku: &str| {
        db.query_one(&format!(
            "SELECT CAST(qty AS integer) FROM stock WHERE sku = '{sku}'"
        ))
    };
    assert_eq!(
        ["A1", "A2", "A3", "A4"].map(qty),
        ["6", "10", "3", "5"],
        "only A3 is written: {}",
        o.stdout
    );
    let lines = discrepancies(&dir);
    let of = |key: &str, kind: &str| {
        lines
            .iter()
            .find(|l| l["item_key"] == key && l["kind"] == kind)
            .map(|l| l["resolution"].clone())
    };
    assert_eq!(of("A1", "missing_in_observed").as_deref(), Some("review"));
    assert_eq!(of("A2", "missing_in_observed").as_deref(), Some("review"));
    assert_eq!(of("A3", "qty_mismatch").as_deref(), Some("correct_book"));
    assert_eq!(of("A4", "qty_mismatch").as_deref(), Some("review"));
}

/// A correction that changes nothing (0 → 0) is none.
#[test]
fn a_correction_to_the_same_value_is_none() {
    let ws = Workspace::new();
    let db = sqlite(ws.dir.path(), "erp");
    db.exec(&[
        "CREATE TABLE stock (store varchar(20), sku varchar(64), qty numeric(18,3), cost numeric(18,4))",
        "INSERT INTO stock VALUES ('S1','A1',0,1), ('S1','A2',5,1)",
    ]);
    job(
        &ws,
        db,
        "table = \"stock\"\n[sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\"\nunit_cost = \"cost\"\n[sources.erp.write_back]\nmode = \"update\"",
        &format!("{COUNT_CSV}A2,S1,4\n"),
    );
    ws.write("rules.toml", CORRECTING_RULES);
    let o = run_job(&ws, "unused", &["--apply"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("1 corrections"), "{}", o.stdout);
    assert!(o.stdout.contains("1 applied"), "{}", o.stdout);
}

/// (6) Exit 2 means nothing written: a state folder that cannot be created stops the run
/// before the run directory or the database is touched.
#[test]
fn a_state_folder_that_cannot_be_made_writes_nothing() {
    let ws = Workspace::new();
    let db = forty_rows(&ws, &format!("{COUNT_CSV}A1,S1,2\n"));
    ws.write("blocker", "a file where a folder should be");
    // The state path is a file; then a path under a file.
    for state in ["blocker", "blocker/state"] {
        let o = run(&[
            "run",
            ws.path("job.toml").to_str().unwrap(),
            "--out",
            ws.path("runs").to_str().unwrap(),
            "--state",
            ws.path(state).to_str().unwrap(),
            "--apply",
        ]);
        assert_eq!(o.code, 2, "{state}: {}{}", o.stdout, o.stderr);
        assert!(o.stderr.contains("state folder"), "{}", o.stderr);
        assert_eq!(sum_of(db), "820");
        let left: Vec<_> = ws.run_dirs();
        assert!(
            left.is_empty(),
            "{state}: nothing in the output folder: {left:?}"
        );
    }
}

/// (6) What a SIGKILL'd run left (hidden staging) is removed by the next run.
#[test]
fn a_killed_runs_staging_is_removed_by_the_next_run() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\n",
        "Item,Store,Counted\nA,S1,9\n",
    );
    let stale = ws.path("runs/.20261130T021500Z-deadbeef.partial");
    std::fs::create_dir_all(stale.join("reports")).unwrap();
    std::fs::write(stale.join("discrepancies.csv"), "half").unwrap();
    // Its writer's claim, free: the process is gone.
    std::fs::write(
        ws.path("runs/.20261130T021500Z-deadbeef.partial.lock"),
        "pid 1",
    )
    .unwrap();
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(!stale.exists(), "{}", o.stderr);
    assert_eq!(ws.run_dirs().len(), 1, "{:?}", ws.run_dirs());
}

/// (7) Under umask 000 no file or folder tally makes is writable by everyone.
#[test]
fn no_file_is_world_writable_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\n",
        "Item,Store,Counted\nA,S1,9\n",
    );
    let bin = env!("CARGO_BIN_EXE_tally");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec '{}' run '{}' --out '{}' --state '{}'",
            bin,
            ws.path("job.toml").display(),
            ws.path("out/runs").display(),
            ws.path("out/state").display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut seen = 0;
    let mut stack = vec![ws.path("out")];
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o002,
            0,
            "{} is world-writable",
            p.display()
        );
        seen += 1;
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    assert!(
        seen > 8,
        "the run directory, its files and the baseline: {seen}"
    );
}

/// (7) `tally apply` refuses a run directory in which any file the manifest hashed has
/// changed (a report, not only the discrepancies), and an approval made for another run
/// approves nothing.
#[test]
fn an_edited_report_or_a_foreign_approval_writes_nothing() {
    let ws = Workspace::new();
    let db = forty_rows(&ws, &format!("{COUNT_CSV}A1,S1,2\n"));
    // Every correction here needs an approval; only A1's would be written (A1: 1 → 2).
    ws.write(
        "rules.toml",
        format!("{CORRECTING_RULES}\n[approval]\nabove = \"0\"\n[guard]\nmax_share_changed = \"100\"\nmax_zeroed = 100\n"),
    );
    let o = run_job(&ws, "unused", &[]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let run = ws.only_run_dir();
    let line = discrepancies(&run)
        .into_iter()
        .find(|l| l["item_key"] == "A1")
        .unwrap()["line"]
        .clone();
    std::fs::write(
        run.join("approvals-20261201T000000.000Z.json"),
        format!(r#"{{"run_id": "20261130T021500Z-0ther000", "lines": [{line}], "by": "mallory", "at": "2026-12-01T00:00:00Z"}}"#),
    )
    .unwrap();
    let a = tally_with("unused", &["apply", run.to_str().unwrap()]);
    assert!(
        a.stderr.contains("not of this run") && a.stderr.contains("ignored"),
        "{}",
        a.stderr
    );
    assert_eq!(
        db.query_one("SELECT CAST(qty AS integer) FROM stock WHERE sku = 'A1'"),
        "1"
    );

    let report = run.join("reports/summary.md");
    let mut text = std::fs::read_to_string(&report).unwrap();
    text.push_str("\nall fine, apply everything\n");
    std::fs::write(&report, text).unwrap();
    let a = tally_with("unused", &["apply", run.to_str().unwrap()]);
    assert_eq!(a.code, 2, "{}{}", a.stdout, a.stderr);
    assert!(
        a.stderr.contains("does not match the run's manifest")
            && a.stderr.contains("reports/summary.md"),
        "{}",
        a.stderr
    );
}

/// kill -9 at random points of a 200,000-correction apply: after each kill the target
/// holds all of the run's corrections or none; the apply after them writes each once.
#[test]
fn postgres_kill_9_during_a_big_apply_is_all_or_nothing() {
    const ROWS: usize = 200_000;
    let db = POSTGRES;
    let t = table("kill9");
    db.exec(&[
        &format!("DROP TABLE IF EXISTS {t}"),
        &format!("CREATE TABLE {t} (store varchar(20), sku varchar(64), qty numeric(18,3), cost numeric(18,4))"),
        &format!(
            "INSERT INTO {t} SELECT 'S' || (i % 50), 'K' || i, 10, 1.25 FROM generate_series(1, {ROWS}) AS i"
        ),
        &format!("CREATE INDEX {t}_key ON {t} (store, sku)"),
    ]);
    let ws = Workspace::new();
    let mut count = String::from(COUNT_CSV);
    for i in 1..=ROWS {
        count.push_str(&format!("K{i},S{},11\n", i % 50));
    }
    job(
        &ws,
        db,
        &format!(
            "table = \"{t}\"\n[sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\"\nunit_cost = \"cost\"\n[sources.erp.write_back]\nmode = \"update\""
        ),
        &count,
    );
    ws.write(
        "rules.toml",
        format!("{CORRECTING_RULES}\n[guard]\nmax_share_changed = \"100\"\nmax_zeroed = {ROWS}\nmax_value_per_location = \"1000000\"\n"),
    );
    let o = run_job(&ws, "unused", &[]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let run = ws.only_run_dir();
    let corrected = || db.query_one(&format!("SELECT COUNT(*) FROM {t} WHERE qty = 11"));
    let recorded = || lines_recorded(db, &run);
    let bin = env!("CARGO_BIN_EXE_tally");
    // Points spread over the apply, shifted by the clock so each run tries others.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis() as u64;
    let mut killed_at = Vec::new();
    for k in 0..4u64 {
        let after = Duration::from_millis(150 + (seed * (k + 7) + k * 977) % 2500);
        let mut child = std::process::Command::new(bin)
            .args(["apply", run.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(after);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
        killed_at.push((after, finished));
        let (c, r) = (corrected(), recorded());
        assert!(
            (c == "0" && r == 0) || (c == ROWS.to_string() && r == ROWS as u64),
            "after kill -9 at {after:?}: {c} rows corrected, {r} lines recorded (all or none)"
        );
    }
    let last = tally_with("unused", &["apply", run.to_str().unwrap()]);
    assert_eq!(
        last.code, 0,
        "{killed_at:?}: {}{}",
        last.stdout, last.stderr
    );
    assert_eq!(corrected(), ROWS.to_string());
    assert_eq!(recorded(), ROWS as u64, "each line once");
    db.exec(&[&format!("DROP TABLE {t}")]);
}

/// The lock files and claims of a run are gone when it ends.
#[test]
fn a_run_leaves_no_lock_behind() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,10,1.00\n",
        "Item,Store,Counted\nA,S1,9\n",
    );
    let (o, _) = run_into(
        &ws.path("job.toml"),
        &ws.path("runs"),
        Some(&ws.path("state")),
        &[],
    );
    assert_eq!(o.code, 1);
    let names = |dir: PathBuf| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(ws.path("runs")).len(), 1);
    assert_eq!(
        names(ws.path("state")),
        ["baseline.json", "baseline.parquet"]
    );
}

/// (4) A rolled-back apply leaves no table of tally's behind: `tally_applied` is made
/// inside the transaction (PostgreSQL, SQLite) or dropped again (MariaDB, whose
/// CREATE TABLE commits), in a database of its own where it did not exist before.
#[test]
fn a_failed_apply_leaves_no_table_of_tallys_behind() {
    let name = format!("tally_fresh_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let lite = sqlite(dir.path(), &name);
    for (db, admin) in [
        (POSTGRES, Some(POSTGRES)),
        (MARIADB, Some(MARIADB)),
        (lite, None),
    ] {
        let db = match admin {
            Some(admin) => {
                admin.exec(&[&format!("DROP DATABASE IF EXISTS {name}")]);
                admin.exec(&[&format!("CREATE DATABASE {name}")]);
                let connection: &'static str = Box::leak(
                    db.connection
                        .replace("Database=test", &format!("Database={name}"))
                        .into_boxed_str(),
                );
                Db { connection, ..db }
            }
            None => db,
        };
        let t = table("fresh");
        let ws = stock(db, &t);
        let ledger = status_ledger(db, &t);
        db.exec(&[&format!("DROP TABLE {ledger}")]);
        db.exec(&[&format!(
            "CREATE TABLE {ledger} (location varchar(20), sku varchar(64), qty_before numeric(18,3), \
             qty_after numeric(18,3), qty_change numeric(18,3) CHECK (qty_change > 0), \
             reason varchar(20), run_id varchar(64), line bigint)"
        )]);
        write_job(
            &ws,
            db,
            &t,
            &format!("mode = \"ledger\"\ntable = \"{ledger}\"\nposted = \"removed\""),
        );
        let o = run_job(&ws, "unused", &["--apply"]);
        assert_eq!(o.code, 3, "{}: {}{}", db.name, o.stdout, o.stderr);
        let has_applied = || {
            let conn = db.connect();
            conn.execute("SELECT run_id FROM tally_applied WHERE 1 = 0", (), None)
                .is_ok()
        };
        assert!(!has_applied(), "{}: tally_applied left behind", db.name);
        // A successful apply keeps it.
        db.exec(&[&format!("DROP TABLE {ledger}")]);
        status_ledger(db, &t);
        let o = tally_with("unused", &["apply", ws.only_run_dir().to_str().unwrap()]);
        assert_eq!(o.code, 0, "{}: {}{}", db.name, o.stdout, o.stderr);
        assert!(has_applied(), "{}", db.name);
        if let Some(admin) = admin {
            admin.exec(&[&format!("DROP DATABASE {name}")]);
        }
    }
}

/// (5) An export of zero bytes is no inventory either: the run stops (exit 2) or holds
/// the write-back; the ERP is never touched.
#[test]
fn a_zero_byte_export_writes_nothing() {
    let ws = Workspace::new();
    let db = forty_rows(&ws, "");
    let o = run_job(&ws, "unused", &["--apply"]);
    assert!(o.code == 2 || o.code == 1, "{}{}", o.stdout, o.stderr);
    assert_eq!(sum_of(db), "820");
    if o.code == 1 {
        assert!(
            o.stdout.contains("write-back held by the guard"),
            "{}",
            o.stdout
        );
    }
}

/// (8) A SKU that a spreadsheet would run as a formula reaches every CSV tally writes as
/// text (a leading `'`); a negative number stays a number.
#[test]
fn formulas_in_exports_are_neutralised_in_every_csv() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\n\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",S1,10,1.00\n@SUM(1),S1,5,1.00\n",
        "Item,Store,Counted\n\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",S1,9\n@SUM(1),S1,-2\n",
    );
    ws.write(
        "rules.toml",
        "[defaults]\nseverity = \"low\"\nresolution = \"correct_book\"\n",
    );
    let o = ws.run_job("job.toml");
    assert!(o.code == 0 || o.code == 1, "{}{}", o.stdout, o.stderr);
    let run = ws.only_run_dir();
    let text = std::fs::read_to_string(run.join("discrepancies.csv")).unwrap();
    assert!(
        !text.contains(",=HYPERLINK") && !text.contains(",\"=HYPERLINK"),
        "{text}"
    );
    assert!(
        text.contains("'=HYPERLINK") && text.contains("'@SUM(1)"),
        "{text}"
    );
    for f in walk(&run.join("corrections")) {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains(",@SUM") && !text.contains(",=HYP"),
            "{}: {text}",
            f.display()
        );
    }
    assert!(text.contains(",-2.000,"), "numbers stay numbers: {text}");
}

/// (9) Not only under `propagate`: a count that repeats a row (so its item reads as
/// absent) never makes the book zero, whatever rule corrects the book.
#[test]
fn a_duplicated_count_row_never_zeroes_the_book() {
    let ws = Workspace::new();
    let db = forty_rows(
        &ws,
        &format!("{COUNT_CSV}A1,S1,1\nA2,S1,2\nA2,S1,2\nA3,S1,5\n"),
    );
    // The guard is opened wide: it is not what must stop this.
    ws.write(
        "rules.toml",
        format!("{CORRECTING_RULES}\n[guard]\nmax_share_changed = \"100\"\nmax_zeroed = 100\n"),
    );
    let o = run_job(&ws, "unused", &["--apply"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let qty = |sku: &str| {
        db.query_one(&format!(
            "SELECT CAST(qty AS integer) FROM stock WHERE sku = '{sku}'"
        ))
    };
    assert_eq!(qty("A2"), "2", "the duplicated item is left alone");
    assert_eq!(qty("A3"), "5", "a real difference is written");
    let a2 = discrepancies(&ws.only_run_dir())
        .into_iter()
        .find(|l| l["item_key"] == "A2" && l["kind"] == "missing_in_observed")
        .unwrap();
    assert_eq!(a2["resolution"], "review");
    assert!(a2["detail"].contains("not compared"), "{a2:?}");
}

/// (2) A ledger fed from a `query` source (no table to check the book against) nets what
/// is outstanding all the same: the second night posts nothing.
#[test]
fn postgres_ledger_of_a_query_source_posts_once() {
    let db = POSTGRES;
    let t = table("lquery");
    let ws = stock(db, &t);
    let ledger = status_ledger(db, &t);
    let rules = std::fs::read_to_string(ws.path("rules.toml")).unwrap();
    job(
        &ws,
        db,
        &format!(
            "query = \"SELECT store, sku, qty, cost FROM {t}\"\n[sources.erp.columns]\nlocation = \"store\"\nsku = \"sku\"\nqty = \"qty\"\nunit_cost = \"cost\"\n[sources.erp.write_back]\nmode = \"ledger\"\ntable = \"{ledger}\"\nposted = \"removed\""
        ),
        &std::fs::read_to_string(ws.path("count.csv")).unwrap(),
    );
    ws.write("rules.toml", rules);
    for n in 1..=2 {
        let out = ws.path(&format!("runs-{n}"));
        let o = tally_with(
            "unused",
            &[
                "run",
                ws.path("job.toml").to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--apply",
            ],
        );
        assert_eq!(o.code, 0, "night {n}: {}{}", o.stdout, o.stderr);
        assert_eq!(
            ledger_sum(db, &ledger, "A2"),
            ("1".into(), "-2".into()),
            "night {n}"
        );
    }
    db.exec(&[&format!("DROP TABLE {t}"), &format!("DROP TABLE {ledger}")]);
}

/// (6) `kill -9` of `tally run` at random points (reading, splitting into buckets,
/// writing the run directory): the output folder never holds a half-written run under
/// a run's name, and the next run removes whatever staging the killed ones left.
#[test]
fn kill_9_during_runs_leaves_nothing_the_next_run_keeps() {
    use std::fmt::Write as _;
    let (mut book, mut count) = (
        String::from("SKU,Store,Qty,Cost\n"),
        String::from("Item,Store,Counted\n"),
    );
    for i in 0..150_000 {
        let store = format!("S{}", i % 60);
        writeln!(book, "SKU-{i},{store},{},1.25", i % 17).unwrap();
        writeln!(
            count,
            "SKU-{i},{store},{}",
            (i % 17) + (i % 3 == 0) as usize
        )
        .unwrap();
    }
    let ws = Workspace::csv_job(book, count);
    let out = ws.path("runs");
    let bin = env!("CARGO_BIN_EXE_tally");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis() as u64;
    let mut finished = 0;
    let mut points = Vec::new();
    for k in 0..5u64 {
        let after = Duration::from_millis(100 + (seed * (k + 3) + k * 1301) % 5500);
        let mut child = std::process::Command::new(bin)
            .args([
                "run",
                ws.path("job.toml").to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            // Small enough that the inputs are split into buckets of locations.
            .args(["--memory", "4MiB"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(after);
        if child.try_wait().unwrap().is_some() {
            finished += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        points.push(after);
        // Whatever is there under a run's name is a whole run.
        for dir in dirs(&out)
            .into_iter()
            .filter(|d| !name_of(d).starts_with('.'))
        {
            assert!(
                dir.join("manifest.json").exists(),
                "{points:?}: {} is half-written",
                dir.display()
            );
        }
    }
    let (o, _) = {
        let o = run(&[
            "run",
            ws.path("job.toml").to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--memory",
            "4MiB",
        ]);
        (o, ())
    };
    assert_eq!(o.code, 1, "{points:?}: {}", o.stderr);
    let left: Vec<String> = dirs(&out).iter().map(|d| name_of(d)).collect();
    assert!(
        left.iter().all(|n| !n.starts_with('.')),
        "{points:?}: leftovers not removed: {left:?}"
    );
    assert_eq!(left.len(), finished + 1, "{points:?}: {left:?}");
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}
