//! Bounded memory: with a small `--memory`, a run splits its CSV inputs into buckets of
//! locations and reconciles them one after another (two at a time on two cores). The
//! result must equal the one-pass run exactly, run id and time aside.

use std::path::{Path, PathBuf};

use crate::common::*;

/// Runs the job in one pass and with a memory budget that forces buckets.
fn one_pass_and_bucketed(job: &Path, ws: &Workspace, memory: &str) -> (PathBuf, PathBuf) {
    let one = ws.path("one");
    let o = run(&["run", job.to_str().unwrap(), "--out", one.to_str().unwrap()]);
    assert!(o.code == 0 || o.code == 1, "{}", o.stderr);
    let bucketed = ws.path("bucketed");
    let b = tally()
        .env("TALLY_TRACE", "1")
        .args([
            "run",
            job.to_str().unwrap(),
            "--out",
            bucketed.to_str().unwrap(),
            "--memory",
            memory,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&b.stderr).into_owned();
    assert_eq!(b.status.code(), Some(o.code), "{stderr}");
    let split = stderr
        .split("plan and split into ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no split traced: {stderr}"));
    assert!(split > 1, "{stderr}");
    let left: Vec<PathBuf> = dirs(&bucketed);
    assert_eq!(left.len(), 1, "only the run directory is left: {left:?}");
    (dirs(&one).remove(0), left[0].clone())
}

#[test]
fn buckets_equal_one_pass_across_many_stores() {
    let ws = many_stores();
    let (one, bucketed) = one_pass_and_bucketed(&ws.path("job.toml"), &ws, "16KiB");
    assert_same_run(&one, &bucketed);
    // Line numbers are the original file's, not the bucket file's.
    assert_negative_count_names_its_line(&ws, &bucketed);
}

/// The run's negative count names the line of count.csv that holds it.
fn assert_negative_count_names_its_line(ws: &Workspace, run_dir: &Path) {
    let lines = discrepancies(run_dir);
    let negative = lines
        .iter()
        .find(|l| l["kind"] == "negative_qty")
        .expect("a negative quantity");
    let row: usize = negative["observed_row"].parse().unwrap();
    let text = std::fs::read_to_string(ws.path("count.csv")).unwrap();
    let line = text.lines().nth(row - 1).unwrap();
    assert!(
        line.contains(&negative["location"]) && line.ends_with(",-1"),
        "line {row} is {line:?}"
    );
}

/// Quoted fields (with the delimiter, doubled quotes and a line break inside), CRLF line
/// ends, a byte-order mark, Windows-1252 text, location names, header lines to skip and
/// a last line without a line end: the split pass must read records as the CSV reader does.
#[test]
fn buckets_read_awkward_csv_like_the_reader() {
    let ws = Workspace::new();
    ws.write("rules.toml", PLAIN_RULES);
    ws.write(
        "job.toml",
        r#"
rules = "rules.toml"

[sources.book]
kind = "csv"
path = "book.csv"
header_row = 2
skip_rows = 1
[sources.book.columns]
sku = "SKU"
location = "Store"
qty = "Qty"
unit_cost = "Cost"
description = "Description"
[sources.book.location_names]
"Back Bay" = "ST-01"
"Café Nord" = "ST-02"

[sources.count]
kind = "csv"
path = "count.csv"
encoding = "windows-1252"
[sources.count.columns]
sku = "Item"
location = "Store"
qty = "Counted"
[sources.count.location_names]
"Café Nord" = "ST-02"

[[pairings]]
name = "store-count"
book = "book"
observed = "count"
"#,
    );
    let mut book =
        String::from("\u{feff}exported by ERP\r\nSKU,Store,Qty,Cost,Description\r\nunits,,,,\r\n");
    let mut count = String::from("Item,Store,Counted\n");
    let stores = [
        "Back Bay",
        " Back Bay ",
        "\"Café Nord\"",
        "ST-03",
        "\"ST-04\"",
        "ST-05",
    ];
    for (s, store) in stores.iter().enumerate() {
        for i in 0..12 {
            let description = match i % 4 {
                0 => "\"Mug, large\"".to_string(),
                1 => "\"The \"\"best\"\" mug\"".to_string(),
                2 => "\"two\r\nlines\"".to_string(),
                _ => "plain".to_string(),
            };
            book.push_str(&format!(
                "B{i},{store},{},{}.50,{description}\r\n",
                i + s,
                i
            ));
            let counted = if (i + s) % 5 == 0 { i + s + 1 } else { i + s };
            let store = store.replace("Back Bay", "ST-01");
            count.push_str(&format!("b{i},{store},{counted}\n"));
        }
    }
    count.push_str("X9,ST-05,4"); // no line end
    ws.write("book.csv", book);
    let (cp1252, _, _) = encoding_rs::WINDOWS_1252.encode(&count);
    ws.write("count.csv", cp1252);
    let (one, bucketed) = one_pass_and_bucketed(&ws.path("job.toml"), &ws, "8KiB");
    assert_same_run(&one, &bucketed);
    let m = manifest(&bucketed);
    assert_ties_out(&m);
    assert!(m["discrepancies"]["lines"].as_u64().unwrap() > 5, "{m}");
}

#[test]
fn a_bad_cell_in_a_split_file_names_its_original_line() {
    let ws = many_stores();
    let mut text = std::fs::read_to_string(ws.path("count.csv")).unwrap();
    text.push_str("A1,ST-07,seven\n");
    let line = text.lines().count();
    ws.write("count.csv", text);
    let o = run(&[
        "run",
        ws.path("job.toml").to_str().unwrap(),
        "--out",
        ws.path("runs").to_str().unwrap(),
        "--memory",
        "16KiB",
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains(&format!("count.csv:{line}: column \"Counted\"")),
        "{}",
        o.stderr
    );
    assert!(
        ws.run_dirs().is_empty(),
        "nothing written: {:?}",
        ws.run_dirs()
    );
}

/// The sample mixes a database source, a wide export and per-store CSV files: the
/// database and the wide export are read once and parted by bucket, the CSVs split.
#[test]
fn buckets_equal_one_pass_on_the_sample() {
    let ws = Workspace::new();
    let job = std::path::Path::new(REPO).join("sample-data/job.toml");
    let (one, bucketed) = one_pass_and_bucketed(&job, &ws, "1KiB");
    assert_same_run(&one, &bucketed);
}

/// Blank lines (nothing but delimiters and spaces, as spreadsheets saving CSV leave them)
/// are no records: the run with them, in one pass or split into buckets, finds what the
/// run without them finds, and counts the same records.
#[test]
fn blank_lines_are_no_records() {
    let ws = many_stores();
    let clean = ws.path("clean");
    let (o, clean) = run_into(&ws.path("job.toml"), &clean, None, &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let blanked = |name: &str| {
        let text = std::fs::read_to_string(ws.path(name)).unwrap();
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            out.push_str(line);
            out.push('\n');
            match i % 97 {
                5 => out.push('\n'),
                40 => out.push_str(",,\r\n"),
                70 => out.push_str(" , ,\t\n"),
                _ => {}
            }
        }
        out.push_str("\n,,,,,\n\r\n");
        ws.write(name, out);
    };
    blanked("book.csv");
    blanked("count.csv");
    let (one, bucketed) = one_pass_and_bucketed(&ws.path("job.toml"), &ws, "16KiB");
    assert_same_run(&one, &bucketed);
    let (before, after) = (manifest(&clean), manifest(&one));
    assert_eq!(
        after["discrepancies"]["by_kind"],
        before["discrepancies"]["by_kind"]
    );
    let records = |m: &serde_json::Value| -> Vec<u64> {
        m["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["records"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(records(&after), records(&before));
    assert_eq!(records(&manifest(&bucketed)), records(&before));
    // Lines still name the line of the file as it is, blank lines counted.
    assert_negative_count_names_its_line(&ws, &one);
    assert_negative_count_names_its_line(&ws, &bucketed);
}

/// Rows a row filter leaves out are counted the same in buckets as in one pass.
#[test]
fn skipped_rows_are_counted_across_buckets() {
    let ws = many_stores();
    let mut count = std::fs::read_to_string(ws.path("count.csv")).unwrap();
    for store in 0..40 {
        count.push_str(&format!("TOTAL,S{store:02},0\n"));
    }
    ws.write("count.csv", count);
    let job = std::fs::read_to_string(ws.path("job.toml"))
        .unwrap()
        .replace(
            "[sources.count.columns]",
            "skip_when = { \"Item\" = \"TOTAL\" }\n\n[sources.count.columns]",
        );
    ws.write("job.toml", job);
    let (one, bucketed) = one_pass_and_bucketed(&ws.path("job.toml"), &ws, "16KiB");
    let skipped = |dir: &Path| -> u64 {
        manifest(dir)["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["source"] == "count")
            .map(|i| i["skipped"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(skipped(&one), 40);
    assert_eq!(skipped(&bucketed), 40);
}
