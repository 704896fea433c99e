//! Ledger write-back: a difference is posted once, however many runs see it before the
//! ERP posts it (outstanding entries netted into the book; concurrent runs).

use super::*;

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
        let (o, dir) = night_with_apply(&ws, n);
        assert!(
            o.code == 0 || o.code == 1,
            "{}: night {n}: {}{}",
            db.name,
            o.stdout,
            o.stderr
        );
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
        let (o, _) = night_with_apply(&ws, n);
        assert_eq!(o.code, 0, "night {n}: {}{}", o.stdout, o.stderr);
        assert_eq!(
            ledger_sum(db, &ledger, "A2"),
            ("1".into(), "-2".into()),
            "night {n}"
        );
    }
    db.exec(&[&format!("DROP TABLE {t}"), &format!("DROP TABLE {ledger}")]);
}

/// `tally run job.toml --out runs-N --apply` in the workspace: the output and the run
/// directory it wrote.
fn night_with_apply(ws: &Workspace, n: u32) -> (Output, std::path::PathBuf) {
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
    let dir = if out.exists() { dirs(&out).pop() } else { None };
    (o, dir.unwrap_or(out))
}
