//! What must never be written: the blast-radius guard on empty and truncated exports,
//! propagation from an absent side or a disagreeing baseline, corrections to rows not
//! compared, and corrections that change nothing.

use super::*;

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
