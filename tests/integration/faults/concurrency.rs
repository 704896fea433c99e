//! Concurrent writers and killed processes: a row another connection holds, two
//! appliers at once, two runs of one job, kill -9 in the middle of an apply or a run,
//! and a failed apply that must leave no table of tally's behind.

use super::*;

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

/// (4) Two `tally apply` of one run at once: one writes, the other finds the lines
/// applied; both end as an apply ends (before: one exit 3 on tally_applied's key).
#[test]
fn two_applies_of_one_run_at_once_write_once() {
    for case in cases("twice") {
        let (db, t) = (case.db, case.t.as_str());
        let ws = stock(db, t);
        write_job(&ws, db, t, "mode = \"update\"");
        // With a state folder: both appliers move its baseline on, one after the other.
        let state = ws.path("state");
        let o = run_job(&ws, "unused", &["--state", state.to_str().unwrap()]);
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
