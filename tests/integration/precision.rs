//! Money and quantities at the source's precision: ERPNext's `tabBin` (decimal(21,9)
//! quantities and moving-average rates) read from PostgreSQL, MariaDB and an xlsx export
//! (numbers as NUMBER cells, all-digit item codes that lost their zeros), values exact,
//! rounded only where shown or summed by the declared rule.
//!
//! The expected figures are worked out by hand below (no join: each item's count is
//! beside its row), and checked with Python's decimal module:
//!
//! | item   | actual_qty | valuation_rate | counted | Δqty   | value (exact)      | shown     |
//! |--------|-----------:|---------------:|--------:|-------:|-------------------:|----------:|
//! | 000101 | 12         | 361.864861     | 10      | -2     | -723.729722        | -723.7297 |
//! | 000102 | 5          | 19.123456789   | 8       | 3      | 57.370370367       | 57.3704   |
//! | 000103 | -3         | 2.5            | 4       | 7      | 17.5               | 17.5000   |
//! | 000104 | 1.25       | 7.333333333    | 1.125   | -0.125 | -0.916666666625    | -0.9167   |
//! | 000105 | 4          | 0.10005        | —       | -4     | -0.4002            | -0.4002   |
//! | 000106 | 1          | 2.00005        | 2       | 1      | 2.00005            | 2.0000 (half_even), 2.0001 (half_up) |
//! | 000107 | 7          | 1.5            | 7       | 0      | (equal, no line)   |           |
//! | 000108 | —          | —              | 2       | 2      | (no cost)          |           |
//!
//! Σ exact values = -648.176168299625 → -648.1762 (either rule: not a tie).
//! Lines: five qty_mismatch, one missing_in_observed (000105), one missing_in_book
//! (000108), and the negative book quantity of 000103 as a negative_qty finding: 8.

use crate::common::*;
use crate::odbc::{Db, MARIADB, POSTGRES, table};

/// (item_code, actual_qty, valuation_rate) as ERPNext stores them: decimal(21,9).
const BINS: [(&str, &str, &str); 7] = [
    ("000101", "12.000000000", "361.864861000"),
    ("000102", "5.000000000", "19.123456789"),
    ("000103", "-3.000000000", "2.500000000"),
    ("000104", "1.250000000", "7.333333333"),
    ("000105", "4.000000000", "0.100050000"),
    ("000106", "1.000000000", "2.000050000"),
    ("000107", "7.000000000", "1.500000000"),
];

const WAREHOUSE: &str = "Stores - TC";

const COUNT: &str = "Item,Store,Counted\n\
    000101,Stores - TC,10\n\
    000102,Stores - TC,8\n\
    000103,Stores - TC,4\n\
    000104,Stores - TC,1.125\n\
    000106,Stores - TC,2\n\
    000107,Stores - TC,7\n\
    000108,Stores - TC,2\n";

/// PLAIN_RULES, with the zeros a spreadsheet drops put back, and `extra` appended.
fn rules(extra: &str) -> String {
    PLAIN_RULES.replace(
        "{ op = \"uppercase\" }]",
        "{ op = \"uppercase\" }, { op = \"pad_leading_zeros\", width = 6 }]",
    ) + extra
}

/// A job whose book is `book` (a [sources.erp] body) against the count sheet.
fn job(ws: &Workspace, book: &str, extra_rules: &str) {
    ws.write("rules.toml", rules(extra_rules));
    ws.write("count.csv", COUNT);
    ws.write(
        "job.toml",
        format!(
            r#"
rules = "rules.toml"

[sources.erp]
{book}
[sources.erp.columns]
sku = "item_code"
location = "warehouse"
qty = "actual_qty"
unit_cost = "valuation_rate"

[sources.count]
kind = "csv"
path = "count.csv"
[sources.count.columns]
sku = "Item"
location = "Store"
qty = "Counted"

[[pairings]]
name = "erpnext-vs-count"
book = "erp"
observed = "count"
"#
        ),
    );
}

/// Runs the job and checks every figure of the table above.
fn assert_reconciled(ws: &Workspace, rounding: &str) {
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let run = ws.only_run_dir();
    let m = manifest(&run);
    assert_ties_out(&m);
    assert_eq!(m["precision"]["money"]["scale"], 4);
    assert_eq!(m["precision"]["money"]["rounding"], rounding);
    assert_eq!(m["precision"]["money"]["cost_scale"], 9);
    let p = &m["pairings"][0];
    assert_eq!(p["equal"], 1, "000107");
    assert_eq!(p["book"]["negative_qty"], 1, "000103");
    assert_eq!(m["discrepancies"]["lines"], 8);
    assert_eq!(m["discrepancies"]["by_kind"]["qty_mismatch"], 5);
    assert_eq!(m["discrepancies"]["by_kind"]["missing_in_observed"], 1);
    assert_eq!(m["discrepancies"]["by_kind"]["missing_in_book"], 1);
    assert_eq!(m["discrepancies"]["by_kind"]["negative_qty"], 1);
    assert_eq!(
        m["discrepancies"]["value_delta_sum"],
        "-648.1762",
        "{}",
        std::fs::read_to_string(run.join("discrepancies.csv")).unwrap()
    );
    assert_eq!(m["discrepancies"]["qty_delta_sum"], "6.875");

    let mut lines: Vec<String> = discrepancies(&run)
        .into_iter()
        .filter(|l| l["kind"] != "negative_qty")
        .map(|l| {
            format!(
                "{} {} {}→{} Δ{} @{} = {}",
                l["item_key"],
                l["kind"],
                l["book_qty"],
                l["observed_qty"],
                l["qty_delta"],
                l["unit_cost"],
                l["value_delta"]
            )
        })
        .collect();
    lines.sort();
    let tie = if rounding == "half_up" {
        "2.0001"
    } else {
        "2.0000"
    };
    assert_eq!(
        lines,
        [
            "000101 qty_mismatch 12→10 Δ-2 @361.864861 = -723.7297".to_string(),
            "000102 qty_mismatch 5→8 Δ3 @19.123456789 = 57.3704".to_string(),
            "000103 qty_mismatch -3→4 Δ7 @2.5000 = 17.5000".to_string(),
            "000104 qty_mismatch 1.25→1.125 Δ-0.125 @7.333333333 = -0.9167".to_string(),
            "000105 missing_in_observed 4→ Δ-4 @0.10005 = -0.4002".to_string(),
            format!("000106 qty_mismatch 1→2 Δ1 @2.00005 = {tie}"),
            "000108 missing_in_book →2 Δ2 @ = ".to_string(),
        ]
    );
    // The exact value is kept where machines read it.
    let parquet = std::fs::read(run.join("discrepancies.parquet")).unwrap();
    assert!(!parquet.is_empty());
    // The summary shows the same rounded total.
    let summary = std::fs::read_to_string(run.join("reports/summary.md")).unwrap();
    assert!(summary.contains("-648.1762"), "{summary}");
}

fn erpnext_bin(db: Db, t: &str, quote: char) {
    let values: Vec<String> = BINS
        .iter()
        .map(|(item, qty, rate)| {
            format!("('{item}', '{WAREHOUSE}', {qty}, {rate}, {qty} * {rate}, 0.000000000)")
        })
        .collect();
    db.exec(&[
        &format!("DROP TABLE IF EXISTS {quote}{t}{quote}"),
        // The columns of ERPNext's tabBin that matter here, with its types.
        &format!(
            "CREATE TABLE {quote}{t}{quote} (name varchar(140), item_code varchar(140), \
             warehouse varchar(140), actual_qty decimal(21,9), valuation_rate decimal(21,9), \
             stock_value decimal(21,9), reserved_qty decimal(21,9))"
        ),
        &format!(
            "INSERT INTO {quote}{t}{quote} (item_code, warehouse, actual_qty, valuation_rate, \
             stock_value, reserved_qty) VALUES {}",
            values.join(", ")
        ),
    ]);
}

fn erpnext_from(db: Db, quote: char) {
    // ERPNext's own name for the table, made unique per test process.
    let t = format!("tabBin_{}", table("p"));
    erpnext_bin(db, &t, quote);
    let ws = Workspace::new();
    job(
        &ws,
        &format!(
            "kind = \"odbc\"\nconnection = \"{}\"\ntable = \"{t}\"",
            db.connection
        ),
        "",
    );
    assert_reconciled(&ws, "half_even");
    db.exec(&[&format!("DROP TABLE {quote}{t}{quote}")]);
}

#[test]
fn erpnext_bin_from_postgres_keeps_nine_decimals() {
    erpnext_from(POSTGRES, '"');
}

#[test]
fn erpnext_bin_from_mariadb_keeps_nine_decimals() {
    erpnext_from(MARIADB, '`');
}

/// The same bins as an xlsx export: NUMBER cells (doubles), item codes that lost their
/// zeros (000101 became 101).
fn erpnext_xlsx(path: &std::path::Path) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet().set_name("Bin").unwrap();
    for (c, h) in [
        "item_code",
        "warehouse",
        "actual_qty",
        "valuation_rate",
        "stock_value",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, (item, qty, rate)) in BINS.iter().enumerate() {
        let row = r as u32 + 1;
        let (q, c): (f64, f64) = (qty.parse().unwrap(), rate.parse().unwrap());
        sheet
            .write_number(row, 0, item.parse::<f64>().unwrap())
            .unwrap();
        sheet.write_string(row, 1, WAREHOUSE).unwrap();
        sheet.write_number(row, 2, q).unwrap();
        sheet.write_number(row, 3, c).unwrap();
        sheet.write_number(row, 4, q * c).unwrap();
    }
    book.save(path).unwrap();
}

#[test]
fn erpnext_bin_from_xlsx_reads_doubles_as_excel_shows_them() {
    let ws = Workspace::new();
    erpnext_xlsx(&ws.path("bin.xlsx"));
    job(
        &ws,
        "kind = \"excel\"\npath = \"bin.xlsx\"\nsheet = \"Bin\"",
        "",
    );
    assert_reconciled(&ws, "half_even");
}

#[test]
fn half_up_is_declared_and_recorded() {
    let ws = Workspace::new();
    erpnext_xlsx(&ws.path("bin.xlsx"));
    job(
        &ws,
        "kind = \"excel\"\npath = \"bin.xlsx\"\nsheet = \"Bin\"",
        "\n[money]\nscale = 4\nrounding = \"half_up\"\n",
    );
    assert_reconciled(&ws, "half_up");
}

/// A total is the exact values' sum rounded once: three lines of 0.00004 each show
/// 0.0000 but add up to 0.00012, shown 0.0001.
#[test]
fn a_total_is_rounded_once() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA1,S1,0,0.00004\nA2,S1,0,0.00004\nA3,S1,0,0.00004\n",
        "Item,Store,Counted\nA1,S1,1\nA2,S1,1\nA3,S1,1\n",
    );
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let run = ws.only_run_dir();
    let values: Vec<String> = discrepancies(&run)
        .into_iter()
        .map(|l| l["value_delta"].clone())
        .collect();
    assert_eq!(values, ["0.0000", "0.0000", "0.0000"]);
    assert_eq!(manifest(&run)["discrepancies"]["value_delta_sum"], "0.0001");
}

#[test]
fn a_cost_beyond_the_declared_scale_names_the_setting() {
    let book = "SKU,Store,Qty,Cost\nA1,S1,3,1.1234567891\nA2,S1,1,2\n";
    let ws = Workspace::csv_job(book, "Item,Store,Counted\nA1,S1,1\n");
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    for part in [
        "book.csv:2",
        "column \"Cost\" (unit_cost)",
        "\"1.1234567891\" has 10 decimal places",
        "set [money] cost_scale = 10 (at most 12)",
    ] {
        assert!(o.stderr.contains(part), "{part}: {}", o.stderr);
    }
    assert!(!o.stderr.contains("placeholders"), "{}", o.stderr);
    assert!(ws.run_dirs().is_empty());

    // Raised as the message says, the run keeps every decimal.
    let rules = std::fs::read_to_string(ws.path("rules.toml")).unwrap();
    ws.write("rules.toml", format!("{rules}\n[money]\ncost_scale = 10\n"));
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let lines = discrepancies(&ws.only_run_dir());
    let a1 = lines.iter().find(|l| l["item_key"] == "A1").unwrap();
    // -2 × 1.1234567891 = -2.2469135782.
    assert_eq!(
        (a1["unit_cost"].as_str(), a1["value_delta"].as_str()),
        ("1.1234567891", "-2.2469")
    );
}

#[test]
fn a_quantity_beyond_the_declared_scale_names_the_setting() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA1,S1,1.2345,2\nA2,S1,0.1234567891,1\n",
        "Item,Store,Counted\nA1,S1,1\n",
    );
    let rules = std::fs::read_to_string(ws.path("rules.toml")).unwrap();
    ws.write("rules.toml", format!("{rules}\n[quantity]\nscale = 3\n"));
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    for part in [
        "book.csv:2: column \"Qty\" (qty): \"1.2345\" has 4 decimal places; quantities may have 3 ([quantity] scale",
        "book.csv:3",
        "quantities are kept to at most 9 decimal places ([quantity] scale); round these cells in the source",
    ] {
        assert!(o.stderr.contains(part), "{part}: {}", o.stderr);
    }
    // `tally check` reports the same, and writes nothing.
    let c = run(&["check", ws.path("job.toml").to_str().unwrap()]);
    assert_eq!(c.code, 2, "{}{}", c.stdout, c.stderr);
    assert!(c.stderr.contains("[quantity] scale"), "{}", c.stderr);
}

#[test]
fn precision_settings_are_checked() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    let rules = std::fs::read_to_string(ws.path("rules.toml")).unwrap();
    ws.write(
        "rules.toml",
        format!("{rules}\n[money]\nscale = 13\nrounding = \"half_down\"\n[quantity]\nscale = -1\n"),
    );
    let o = run(&["check", ws.path("job.toml").to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("half_down"), "{}", o.stderr);
    ws.write(
        "rules.toml",
        format!("{rules}\n[money]\nscale = 13\n[quantity]\nscale = -1\n"),
    );
    let o = run(&["check", ws.path("job.toml").to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    for part in [
        "[money] scale must be a number of decimal places from 0 to 12",
        "[quantity] scale must be a number of decimal places from 0 to 9",
    ] {
        assert!(o.stderr.contains(part), "{part}: {}", o.stderr);
    }
}
