//! The sample scenario (sample-data/) end to end, with the expected figures worked out
//! by hand in sample-data/README.md.

use std::path::Path;

use crate::common::*;

/// The sample with the previous night's baseline (a copy: a run replaces it).
fn run_sample() -> (Workspace, Output, std::path::PathBuf) {
    let ws = Workspace::new();
    let state = ws.sample_baseline();
    let job = Path::new(REPO).join("sample-data/job.toml");
    let (o, dir) = run_into(&job, &ws.path("runs"), Some(&state), &[]);
    (ws, o, dir)
}

#[test]
fn sample_job_needs_review_and_counts_every_kind() {
    let (_ws, o, dir) = run_sample();
    assert_eq!(
        o.code, 1,
        "differences need review\n{}{}",
        o.stdout, o.stderr
    );
    assert_eq!(
        o.stderr, "",
        "no progress output when stderr is not a terminal"
    );
    let m = manifest(&dir);
    let kinds = &m["discrepancies"]["by_kind"];
    let expect = [
        ("qty_mismatch", 11),
        ("missing_in_observed", 5),
        ("missing_in_book", 5),
        ("cost_mismatch", 4),
        ("duplicate_key", 2),
        ("negative_qty", 1),
        ("invalid_row", 1),
        ("explained", 1),
        ("invalid_gtin", 1),
        ("unknown_unit", 1),
    ];
    for (kind, n) in expect {
        assert_eq!(kinds[kind], n, "{kind}");
    }
    assert_eq!(kinds.as_object().unwrap().len(), expect.len());
    assert_eq!(m["discrepancies"]["lines"], 32);
    // 15 recounts, reviews and findings, and one correction waiting for approval.
    assert_eq!(m["discrepancies"]["needs_person"], 16);
    // BOS-01 00020011 and DEN-05 00030004 changed on both sides since the baseline.
    assert_eq!(m["discrepancies"]["by_rule"]["(conflict)"], 2);
    assert_eq!(m["discrepancies"]["by_rule"]["(movements)"], 1);
    assert_eq!(m["discrepancies"]["qty_delta_sum"], "-31.75");
    assert_eq!(m["discrepancies"]["value_delta_sum"], "-1061.8100");
    assert_eq!(m["corrections"]["total"], 8);
    assert_eq!(m["corrections"]["by_target"]["book"], 6);
    assert_eq!(m["corrections"]["by_target"]["observed"], 2);
    assert_eq!(m["exit_code"], 1);
    assert_eq!(m["outcome"], "needs_review");
}

#[test]
fn sample_manifest_ties_out_and_hashes_inputs() {
    let (_ws, _o, dir) = run_sample();
    let m = manifest(&dir);
    assert_ties_out(&m);
    let p = &m["pairings"][0];
    assert_eq!(p["book"]["rows"], 27);
    assert_eq!(p["book"]["matched"], 22);
    assert_eq!(
        p["book"]["unmatched"], 5,
        "the negative row too: the count lacks it"
    );
    assert_eq!(p["book"]["negative_qty"], 1, "flagged, still matched");
    assert_eq!(p["observed"]["rows"], 33);
    assert_eq!(p["observed"]["matched"], 22);
    assert_eq!(p["observed"]["unmatched"], 5);
    assert_eq!(p["observed"]["duplicate"], 2);
    assert_eq!(p["observed"]["rejected"]["invalid_row"], 1);
    assert_eq!(p["observed"]["rejected"]["unknown_unit"], 1);
    assert_eq!(p["observed"]["rejected"]["not_stocked"], 2);
    assert_eq!(p["observed"]["invalid_gtin"], 1, "flagged, still matched");
    assert_eq!(p["equal"], 6);

    let inputs = m["inputs"].as_array().unwrap();
    assert_eq!(
        inputs.len(),
        9,
        "erp database, two shopify files, square, lightspeed, and the rules' tables: \
         barcodes, system ids, conversions, ledger"
    );
    let rows = |source: &str| -> u64 {
        inputs
            .iter()
            .filter(|i| i["source"] == source)
            .map(|i| i["rows"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(
        [
            rows("barcodes"),
            rows("system_ids"),
            rows("conversions"),
            rows("ledger")
        ],
        [7, 4, 13, 4]
    );
    let erp = inputs.iter().find(|i| i["source"] == "erp").unwrap();
    assert_eq!(
        (&erp["path"], &erp["records"], &erp["rows"]),
        (
            &serde_json::json!("query"),
            &serde_json::json!(27),
            &serde_json::json!(27)
        )
    );
    assert_eq!(
        erp["sha256"].as_str().unwrap().len(),
        64,
        "a digest of the values fetched"
    );
    for input in inputs.iter().filter(|i| i["path"] != "query") {
        let path = Path::new(input["path"].as_str().unwrap());
        let bytes = std::fs::read(path).unwrap();
        use sha2::Digest;
        assert_eq!(
            input["sha256"].as_str().unwrap(),
            format!("{:x}", sha2::Sha256::digest(&bytes))
        );
        assert_eq!(input["size"].as_u64().unwrap(), bytes.len() as u64);
    }
    let square = inputs.iter().find(|i| i["source"] == "square").unwrap();
    assert_eq!(square["records"], 6);
    assert_eq!(square["rows"], 12, "unpivoted: 6 items × 2 locations");
    assert_eq!(m["job"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["rules"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["rules_in_force"].as_array().unwrap().len(), 9);

    // Every file the manifest lists exists with that hash.
    for f in m["files"].as_array().unwrap() {
        let bytes = std::fs::read(dir.join(f["path"].as_str().unwrap())).unwrap();
        use sha2::Digest;
        assert_eq!(
            f["sha256"].as_str().unwrap(),
            format!("{:x}", sha2::Sha256::digest(&bytes))
        );
    }
}

#[test]
fn sample_writes_every_file() {
    let (_ws, o, dir) = run_sample();
    for f in [
        "manifest.json",
        "discrepancies.csv",
        "discrepancies.parquet",
        "corrections/erp-vs-stores.book.csv",
        "corrections/erp-vs-stores.book.erpnext.csv",
        "corrections/erp-vs-stores.observed.csv",
        "reports/summary.html",
        "reports/summary.md",
        "reports/locations/BOS-01.html",
        "reports/locations/NYC-02.html",
        "reports/locations/PDX-03.html",
        "reports/locations/SEA-04.html",
    ] {
        assert!(dir.join(f).is_file(), "{f} is written");
    }
    assert!(
        o.stdout.contains("reports/summary.html"),
        "says where the reports are: {}",
        o.stdout
    );
    // No temporary file is left anywhere.
    let leftovers: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn sample_lines_are_decided_by_the_first_matching_rule() {
    let (_ws, _o, dir) = run_sample();
    let lines = discrepancies(&dir);
    let find = |loc: &str, key: &str, kind: &str| {
        lines
            .iter()
            .find(|l| l["location"] == loc && l["item_key"] == key && l["kind"] == kind)
            .unwrap_or_else(|| panic!("line {loc} {key} {kind}"))
    };
    // 150 → 148 is 1.33 % of book: within the 2 % tolerance.
    let l = find("BOS-01", "00030003", "qty_mismatch");
    assert_eq!(
        (
            l["qty_delta"].as_str(),
            l["rule"].as_str(),
            l["resolution"].as_str()
        ),
        ("-2", "count-noise", "ignore")
    );
    // 12.5 kg → 12.25 kg is exactly 2 %: the boundary is inclusive, and exact.
    let l = find("PDX-03", "00050007", "qty_mismatch");
    assert_eq!(
        (
            l["qty_delta"].as_str(),
            l["value_delta"].as_str(),
            l["rule"].as_str()
        ),
        ("-0.25", "-2.0300", "count-noise")
    );
    // The ERP's item code and Shopify's dirty SKU meet on one item key.
    let l = find("BOS-01", "00010002", "qty_mismatch");
    assert_eq!(
        (l["book_sku"].as_str(), l["observed_sku"].as_str()),
        ("00010002", "NW-00010002")
    );
    assert_eq!(
        (l["rule"].as_str(), l["resolution"].as_str()),
        ("small-variance", "correct_book")
    );
    let l = find("BOS-01", "00020011", "qty_mismatch");
    assert_eq!(
        (
            l["value_delta"].as_str(),
            l["rule"].as_str(),
            l["resolution"].as_str()
        ),
        ("-467.2000", "(conflict)", "review")
    );
    let l = find("SEA-04", "00020010", "cost_mismatch");
    assert_eq!(
        (
            l["cost_delta"].as_str(),
            l["value_delta"].as_str(),
            l["resolution"].as_str()
        ),
        ("2.6000", "7.8000", "correct_observed")
    );
    let l = find("PDX-03", "00040002", "cost_mismatch");
    assert_eq!(
        (l["cost_delta"].as_str(), l["rule"].as_str()),
        ("0.0050", "cost-within-cent")
    );
    let l = find("NYC-02", "00040001", "negative_qty");
    assert_eq!(
        (
            l["side"].as_str(),
            l["book_qty"].as_str(),
            l["resolution"].as_str()
        ),
        ("book", "-2", "review")
    );
    // Flagged, and compared all the same: the POS lacks it, so it is to be recounted.
    let l = find("NYC-02", "00040001", "missing_in_observed");
    assert_eq!(
        (l["book_qty"].as_str(), l["resolution"].as_str()),
        ("-2", "recount")
    );
    let dups: Vec<_> = lines
        .iter()
        .filter(|l| l["kind"] == "duplicate_key")
        .collect();
    assert_eq!(dups.len(), 2);
    assert!(
        dups.iter()
            .all(|l| l["item_key"] == "00030004" && l["side"] == "observed")
    );
    assert_eq!(dups[0]["detail"], "the key appears 2 times in the observed");
    // The duplicated key is never joined: the book's row is reported unmatched.
    find("BOS-01", "00030004", "missing_in_observed");
    let invalid = lines.iter().find(|l| l["kind"] == "invalid_row").unwrap();
    assert_eq!(invalid["detail"], "the SKU is empty");
    assert_eq!(invalid["observed_row"], "6", "soho.csv line 6");
    // Lines are numbered without gaps.
    let numbers: Vec<u64> = lines.iter().map(|l| l["line"].parse().unwrap()).collect();
    assert_eq!(numbers, (1..=32).collect::<Vec<_>>());
}

#[test]
fn sample_corrections_in_generic_and_erpnext_formats() {
    let (_ws, _o, dir) = run_sample();
    let erpnext =
        std::fs::read_to_string(dir.join("corrections/erp-vs-stores.book.erpnext.csv")).unwrap();
    assert_eq!(
        erpnext,
        "Item Code,Warehouse,Quantity,Valuation Rate\n\
         00010002,Back Bay - NWO,17,9.1000\n\
         00010001,Cherry Creek - NWO,24,6.2500\n\
         00020010,Cherry Creek - NWO,3,58.4000\n\
         00030110,Cherry Creek - NWO,7,19.9000\n\
         00030110,SoHo - NWO,11,19.9000\n\
         00030004,Ballard - NWO,35,7.3500\n"
    );
    let observed = read_csv(&dir.join("corrections/erp-vs-stores.observed.csv"));
    assert_eq!(observed.len(), 2);
    for c in &observed {
        assert_eq!(c["item_key"], "00020010");
        assert_eq!(c["current_unit_cost"], "61.0000");
        assert_eq!(c["new_unit_cost"], "58.4000");
        assert_eq!(c["target_source"], "square");
    }
    let book = read_csv(&dir.join("corrections/erp-vs-stores.book.csv"));
    let numbers: Vec<&str> = book.iter().map(|c| c["correction"].as_str()).collect();
    // BOS-01 00020010 (175.20 at cost) waits for approval: not among them.
    assert_eq!(numbers, ["1", "2", "3", "4", "5", "6"]);
    assert!(
        !book
            .iter()
            .any(|c| c["location"] == "BOS-01" && c["item_key"] == "00020010")
    );
}

#[test]
fn parquet_holds_the_same_lines_with_exact_decimals() {
    use polars::prelude::*;
    let (_ws, _o, dir) = run_sample();
    let file = std::fs::File::open(dir.join("discrepancies.parquet")).unwrap();
    let df = ParquetReader::new(file).finish().unwrap();
    assert_eq!(df.height(), 32);
    assert!(matches!(
        df.column("qty_delta").unwrap().dtype(),
        DataType::Decimal(_, 9)
    ));
    // Values exact: quantity places (9) + cost places (12).
    assert!(matches!(
        df.column("value_delta").unwrap().dtype(),
        DataType::Decimal(_, 21)
    ));
    let sum: i128 = df
        .column("value_delta")
        .unwrap()
        .decimal()
        .unwrap()
        .physical()
        .iter()
        .flatten()
        .sum();
    assert_eq!(sum, -10_618_100 * 10i128.pow(17), "-1061.8100");
}

#[test]
fn location_filter_limits_the_run() {
    let ws = Workspace::new();
    let job = Path::new(REPO).join("sample-data/job.toml");
    let out = ws.path("runs");
    let o = run(&[
        "run",
        job.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--location",
        "PDX-03",
    ]);
    assert_eq!(
        o.code, 0,
        "PDX-03 alone needs nobody: {}{}",
        o.stdout, o.stderr
    );
    let m = manifest(&ws.only_run_dir());
    assert_ties_out(&m);
    assert_eq!(m["pairings"][0]["book"]["rows"], 4);
    assert_eq!(m["pairings"][0]["observed"]["rows"], 6);
    assert_eq!(m["discrepancies"]["lines"], 5);
    assert_eq!(m["locations"][0], "PDX-03");
}

/// The README's demo: on a copy of the sample, `--apply` writes the four corrections the
/// rules give to the ERP into its SQLite database through the ODBC driver, and applying
/// the same run again changes nothing.
#[test]
fn sample_corrections_go_back_into_the_erp_database() {
    let ws = Workspace::new();
    ws.copy_repo_dir("sample-data");
    ws.copy_repo_dir("rules");
    let job = ws.path("sample-data/job.toml");
    let state = ws.path("sample-data/baseline-2026-11-24");
    let (o, run_dir) = run_into(&job, &ws.path("runs"), Some(&state), &["--apply"]);
    assert_eq!(o.code, 1, "differences still need review: {}", o.stderr);
    assert!(
        o.stdout
            .contains("write-back erp (update tabBin): 6 applied, 0 already applied, 0 stale"),
        "{}",
        o.stdout
    );
    // The write-back's page: what each target took (its template's snapshot).
    let page = std::fs::read_dir(run_dir.join("reports"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("write-back-")
        })
        .expect("a write-back page");
    let html = std::fs::read_to_string(&page).unwrap();
    insta::assert_snapshot!("sample_write_back_html", crate::reports::redact(&html, &ws));
    let db = odbc_connect(
        &format!(
            "Driver={{SQLite3}};Database={}",
            ws.path("sample-data/erp/northwind.sqlite").display()
        ),
        SQLITE_HOW_TO_FIX,
    );
    let qty = |warehouse: &str, item: &str| {
        odbc_query_one(
            &db,
            &format!(
                "SELECT CAST(actual_qty AS TEXT) FROM tabBin WHERE warehouse = '{warehouse}' AND item_code = '{item}'"
            ),
        )
    };
    // The correct_book lines of sample-data/README.md, now in the ERP; the one worth
    // more than [approval] above (175.20) waits.
    assert_eq!(qty("Back Bay - NWO", "00010002"), "17");
    assert_eq!(qty("Back Bay - NWO", "00020010"), "6");
    assert_eq!(qty("SoHo - NWO", "00030110"), "11");
    assert_eq!(qty("Ballard - NWO", "00030004"), "35");
    // Cherry Creek: 2 cases of 12; the UPC match; 8 counted less 1 sold since.
    assert_eq!(qty("Cherry Creek - NWO", "00010001"), "24");
    assert_eq!(qty("Cherry Creek - NWO", "00020010"), "3");
    assert_eq!(qty("Cherry Creek - NWO", "00030110"), "7");
    // Untouched: a line for review, and the conflict.
    assert_eq!(qty("Back Bay - NWO", "00020011"), "12");
    assert_eq!(qty("Cherry Creek - NWO", "00030004"), "14");
    // The run's baseline now holds the six values written back.
    assert!(
        o.stdout.contains("6 corrected value(s) recorded"),
        "{}",
        o.stdout
    );
    assert_eq!(baseline_info(&state)["applied"], 6);
    let again = run(&["apply", run_dir.to_str().unwrap()]);
    assert!(
        again.stdout.contains("0 applied, 6 already applied"),
        "{}\n{}",
        again.stdout,
        again.stderr
    );
    assert_eq!(qty("Back Bay - NWO", "00010002"), "17");
    assert_eq!(baseline_info(&state)["applied"], 6, "counted once");
}

/// Cherry Creek (Lightspeed) shows each retail rule: a case barcode, a UPC match, a
/// cross-referenced id, movements that explain a difference and part of another, a
/// mistyped UPC, a unit with no conversion, and a change on both sides since the
/// previous night's baseline.
#[test]
fn sample_shows_every_retail_rule() {
    let (_ws, _o, dir) = run_sample();
    let lines: Vec<_> = discrepancies(&dir)
        .into_iter()
        .filter(|l| l["location"] == "DEN-05")
        .collect();
    let row = |l: &std::collections::BTreeMap<String, String>| {
        [
            "kind",
            "item_key",
            "match_step",
            "book_qty",
            "observed_stated_qty",
            "observed_uom",
            "observed_factor",
            "observed_moved",
            "observed_qty",
            "qty_delta",
            "change",
            "rule",
            "resolution",
        ]
        .iter()
        .map(|c| l[*c].clone())
        .collect::<Vec<_>>()
        .join(" | ")
    };
    let got: Vec<String> = lines.iter().map(row).collect();
    assert_eq!(
        got,
        [
            "qty_mismatch | 00010001 | alias | 26 | 2 | Case | 12 |  | 24 | -2 | none | small-variance | correct_book",
            "qty_mismatch | 00020010 | gtin | 4 | 3 |  |  |  | 3 | -1 | none | small-variance | correct_book",
            "explained | 00030003 | alias | 10 | 12 |  |  | -2 | 10 | 0 | none | (movements) | ignore",
            "qty_mismatch | 00030004 | alias | 14 | 11 |  |  |  | 11 | -3 | both | (conflict) | review",
            "qty_mismatch | 00030110 | alias | 5 | 8 |  |  | -1 | 7 | 2 | none | small-variance | correct_book",
            "invalid_gtin | 00040002 |  |  | 9 |  |  |  | 9 |  |  | bad-rows | review",
            "missing_in_observed | 00050007 |  | 4.5 |  |  |  |  |  | -4.5 | none | missing-in-pos | recount",
            "unknown_unit | 00050007 |  |  | 3 | Box |  |  | 3 |  |  | bad-rows | review",
        ]
    );
    let detail = |kind: &str| {
        lines
            .iter()
            .find(|l| l["kind"] == kind)
            .map(|l| l["detail"].clone())
            .unwrap()
    };
    assert_eq!(
        detail("invalid_gtin"),
        "GTIN \"850001000207\": check digit 7, expected 8"
    );
    assert_eq!(
        detail("unknown_unit"),
        "Box (count) cannot convert to Kg (mass), the base unit of item \"00050007\""
    );
    let conflict = lines
        .iter()
        .find(|l| l["change"] == "both" && l["location"] == "DEN-05")
        .unwrap();
    assert_eq!(
        conflict["detail"],
        "changed on both sides since the baseline: book 12 → 14, observed 12 → 11"
    );
    // As-of times are recorded in UTC: the store's 18:00 Mountain is 01:00Z.
    assert_eq!(lines[2]["observed_as_of"], "2026-11-26T01:00:00Z");
    assert_eq!(lines[2]["book_as_of"], "2026-11-26T04:00:00Z");
}

/// With an approval threshold, corrections worth more wait: `--apply` leaves them, the
/// one who ran the job cannot approve them, someone else can, and `tally apply` then
/// writes exactly those.
#[test]
fn corrections_above_the_threshold_wait_for_someone_elses_approval() {
    let ws = Workspace::new();
    ws.copy_repo_dir("sample-data");
    ws.copy_repo_dir("rules");
    let rules = ws.path("rules/northwind.toml");
    let text = std::fs::read_to_string(&rules).unwrap();
    // The sample waits above 150; this test wants more lines to wait.
    assert!(text.contains("above = \"150\""));
    std::fs::write(&rules, text.replace("above = \"150\"", "above = \"50\"")).unwrap();
    let job = ws.path("sample-data/job.toml");
    let out = ws.path("runs");
    let o = run(&[
        "run",
        job.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--apply",
    ]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let dir = ws.only_run_dir();
    let lines = discrepancies(&dir);
    let waiting: Vec<(String, String, String)> = lines
        .iter()
        .filter(|l| l["approval"] == "required")
        .map(|l| {
            (
                l["line"].clone(),
                l["location"].clone(),
                l["item_key"].clone(),
            )
        })
        .collect();
    // 175.20 (BOS-01 jacket M), 58.40 (DEN-05 jacket M), 110.25 (SEA-04 tee L) and,
    // without the baseline, 22.05 for the DEN-05 tee L is below the threshold.
    let items: Vec<(&str, &str)> = waiting
        .iter()
        .map(|(_, l, i)| (l.as_str(), i.as_str()))
        .collect();
    assert_eq!(
        items,
        [
            ("BOS-01", "00020010"),
            ("DEN-05", "00020010"),
            ("SEA-04", "00030004")
        ]
    );
    assert!(
        o.stdout
            .contains("write-back erp (update tabBin): 5 applied"),
        "{}",
        o.stdout
    );
    let m = manifest(&dir);
    let ran_by = m["run_by"].as_str().unwrap();
    let line = waiting[0].0.as_str();
    let refused = run(&[
        "approve",
        dir.to_str().unwrap(),
        "--line",
        line,
        "--by",
        ran_by,
    ]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("cannot approve its corrections"),
        "{}",
        refused.stderr
    );
    let not_held = lines.iter().find(|l| l["approval"].is_empty()).unwrap()["line"].clone();
    let wrong = run(&[
        "approve",
        dir.to_str().unwrap(),
        "--line",
        &not_held,
        "--by",
        "dana",
    ]);
    assert_eq!(wrong.code, 2);
    assert!(
        wrong.stderr.contains("needs no approval"),
        "{}",
        wrong.stderr
    );

    let ok = run(&[
        "approve",
        dir.to_str().unwrap(),
        "--line",
        line,
        "--by",
        "dana",
    ]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let applied = run(&["apply", dir.to_str().unwrap()]);
    assert!(
        applied
            .stdout
            .contains("write-back erp (update tabBin): 1 applied, 5 already applied"),
        "{}{}",
        applied.stdout,
        applied.stderr
    );
}

/// The golden record of the sample: every line, with every rule kind, as the run
/// decides it (with the previous night's baseline). A change to any decision shows here.
#[test]
fn sample_lines_golden() {
    let (_ws, _o, dir) = run_sample();
    let columns = [
        "line",
        "kind",
        "side",
        "location",
        "item_key",
        "match_step",
        "book_qty",
        "observed_qty",
        "qty_delta",
        "value_delta",
        "rule",
        "severity",
        "resolution",
        "approval",
        "change",
        "detail",
    ];
    let mut text = columns.join(" | ");
    for l in discrepancies(&dir) {
        text.push('\n');
        text.push_str(
            &columns
                .iter()
                .map(|c| l[*c].as_str())
                .collect::<Vec<_>>()
                .join(" | "),
        );
    }
    insta::assert_snapshot!("sample_lines", text);
}
