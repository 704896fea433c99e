//! Real files in the formats POS and ERP exports come in: encodings, decimal commas,
//! header offsets, wide exports, and the spreadsheet formats.

use crate::common::*;

fn line<'a>(
    lines: &'a [std::collections::BTreeMap<String, String>],
    key: &str,
) -> &'a std::collections::BTreeMap<String, String> {
    lines
        .iter()
        .find(|l| l["item_key"] == key)
        .unwrap_or_else(|| panic!("a line for {key}: {lines:?}"))
}

#[test]
fn windows_1252_is_transcoded() {
    let book = "SKU,Store,Qty,Cost\nCAFÉ-1,S1,3,1.00\nA2,S1,5,1.00\n";
    let (count, _, _) = encoding_rs::WINDOWS_1252
        .encode("Item,Store,Counted,Name\ncafé-1,S1,3,Crème brûlée\nA2,S1,4,Pâte à tartiner\n");
    let ws = Workspace::csv_job(book, count.as_ref());
    let job = CSV_JOB.replace(
        "[sources.count.columns]",
        "encoding = \"windows-1252\"\n\n[sources.count.columns]\ndescription = \"Name\"",
    );
    ws.write("job.toml", job);
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let lines = discrepancies(&ws.only_run_dir());
    assert_eq!(
        lines.len(),
        1,
        "CAFÉ-1 matched café-1 after uppercase: {lines:?}"
    );
    assert_eq!(line(&lines, "A2")["description"], "Pâte à tartiner");
}

#[test]
fn semicolons_and_decimal_commas() {
    let ws = Workspace::csv_job(
        BOOK_CSV,
        "Item;Store;Counted\nA1;S1;10,5\nA2;S1;5\nA3;S1;7,000\n",
    );
    let job = CSV_JOB.replace(
        "[sources.count.columns]",
        "delimiter = \";\"\ndecimal_comma = true\n\n[sources.count.columns]",
    );
    ws.write("job.toml", job);
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 0, "A1 is within tolerance: {}", o.stderr);
    let lines = discrepancies(&ws.only_run_dir());
    assert_eq!(lines.len(), 1, "{lines:?}");
    let a1 = line(&lines, "A1");
    assert_eq!(
        (
            a1["observed_qty"].as_str(),
            a1["qty_delta"].as_str(),
            a1["value_delta"].as_str()
        ),
        ("10.5", "0.5", "1.2500")
    );
    assert_eq!(a1["rule"], "equal-enough");
}

#[test]
fn bom_title_lines_and_skipped_rows_keep_line_numbers() {
    let count = "\u{feff}Store count export\nItem,Store,Counted\n(text),(code),(units)\nA1,S1,10\nA2,S1,5\nA9,S1,2\n";
    let ws = Workspace::csv_job(BOOK_CSV, count);
    let job = CSV_JOB.replace(
        "[sources.count.columns]",
        "header_row = 2\nskip_rows = 1\n\n[sources.count.columns]",
    );
    ws.write("job.toml", job);
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let lines = discrepancies(&ws.only_run_dir());
    let a9 = line(&lines, "A9");
    assert_eq!(a9["kind"], "missing_in_book");
    assert_eq!(a9["observed_row"], "6", "A9 is on line 6 of the file");
    assert_eq!(line(&lines, "A3")["book_row"], "4");
}

#[test]
fn fixed_location_for_a_single_store_file() {
    let ws = Workspace::csv_job(BOOK_CSV, "Item,Counted\nA1,10\nA2,5\nA3,7\n");
    let job = CSV_JOB
        .replace(
            "location = \"Store\"\nqty = \"Counted\"",
            "qty = \"Counted\"",
        )
        .replace(
            "path = \"count.csv\"",
            "path = \"count.csv\"\nlocation = \"S1\"",
        );
    ws.write("job.toml", job);
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 0, "all equal: {}{}", o.stdout, o.stderr);
    let m = manifest(&ws.only_run_dir());
    assert_eq!(m["pairings"][0]["observed"]["matched"], 3);
    assert_eq!(m["discrepancies"]["lines"], 0);
}

#[test]
fn lightspeed_wide_export_is_unpivoted() {
    let book = "SKU,Store,Qty,Cost\nLS-1,Main Street,4,3.0000\nLS-1,Harbour,2,3.0000\nLS-2,Main Street,1,10\n";
    let count = "id,handle,sku,name,supply_price,inventory_Main Street,reorder_point_Main Street,inventory_Harbour\n\
                 1,mug,ls-1,Mug,3.00,4,2,3\n2,cap,LS-2,Cap,10.50,1,1,0\n";
    let ws = Workspace::csv_job(book, count);
    let job = CSV_JOB.replace(
        "[sources.count.columns]\nsku = \"Item\"\nlocation = \"Store\"\nqty = \"Counted\"",
        "unpivot = { qty = \"inventory_{location}\" }\n\n[sources.count.columns]\nsku = \"sku\"\nunit_cost = \"supply_price\"",
    );
    ws.write("job.toml", job);
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}", o.stderr);
    let run_dir = ws.only_run_dir();
    let m = manifest(&run_dir);
    assert_ties_out(&m);
    assert_eq!(
        m["pairings"][0]["observed"]["rows"], 4,
        "2 items × 2 outlets"
    );
    let lines = discrepancies(&run_dir);
    let kinds: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["location"].as_str(),
                l["item_key"].as_str(),
                l["kind"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("Harbour", "LS-1", "qty_mismatch"),
            ("Harbour", "LS-2", "missing_in_book"),
            ("Main Street", "LS-2", "cost_mismatch"),
        ]
    );
    assert_eq!(lines[2]["cost_delta"], "0.5000");
}

/// The same count sheet saved as xlsx, xls and ods gives the same lines.
#[test]
fn spreadsheet_formats_agree() {
    let book =
        "SKU,Store,Qty,Cost\n00123,S1,10,2.50\nA-7,S1,4,1.10\n00124,S1,0,3\n00123,S2,8,2.5\n";
    let rules = PLAIN_RULES.replace(
        "{ op = \"uppercase\" }]",
        "{ op = \"uppercase\" }, { op = \"pad_leading_zeros\", width = 5 }]",
    );
    let mut results = Vec::new();
    for ext in ["xlsx", "xls", "ods"] {
        let ws = Workspace::csv_job(book, "");
        ws.write("rules.toml", &rules);
        ws.copy_fixture(&format!("counts.{ext}"), &format!("count.{ext}"));
        let job = CSV_JOB
            .replace(
                "kind = \"csv\"\npath = \"count.csv\"",
                &format!(
                    "kind = \"excel\"\npath = \"count.{ext}\"\nsheet = \"Counts\"\nheader_row = 2"
                ),
            )
            .replace(
                "sku = \"Item\"\nlocation = \"Store\"\nqty = \"Counted\"",
                "sku = \"SKU\"\nlocation = \"Store\"\nqty = \"Qty\"\nunit_cost = \"Cost\"",
            );
        ws.write("job.toml", job);
        let o = ws.run_job("job.toml");
        assert_eq!(o.code, 1, "{ext}: {}{}", o.stdout, o.stderr);
        let lines = discrepancies(&ws.only_run_dir());
        let summary: Vec<String> = lines
            .iter()
            .map(|l| {
                format!(
                    "{} {} {} sku={} qty={}→{} Δ{} row={} {}",
                    l["location"],
                    l["item_key"],
                    l["kind"],
                    l["observed_sku"],
                    l["book_qty"],
                    l["observed_qty"],
                    l["qty_delta"],
                    l["observed_row"],
                    l["resolution"]
                )
            })
            .collect();
        results.push((ext, summary));
    }
    let expected = vec![
        "S1 A-7 qty_mismatch sku=A-7 qty=4→4.25 Δ0.25 row=4 ignore".to_string(),
        "S2 00123 qty_mismatch sku=123 qty=8→7 Δ-1 row=6 review".to_string(),
    ];
    for (ext, summary) in results {
        assert_eq!(summary, expected, "{ext}");
    }
}

/// Square's item library (BOM, CRLF, a quoted line break in a description): a blank
/// `Current Quantity <Location>` cell means the item is not tracked there, so it is no
/// row to compare (counted as not stocked), while a 0 is tracked and empty.
#[test]
fn square_blank_quantity_cells_are_not_rows() {
    let book =
        "SKU,Store,Qty,Cost\nSQ-1,Downtown,5,2.00\nSQ-1,Harbour,0,2.00\nSQ-2,Downtown,3,4.00\n";
    let count = "\u{feff}Token,Item Name,SKU,Description,Current Quantity Downtown,Current Quantity Harbour\r\n\
                 T1,Mug,SQ-1,\"Big\r\nmug\",5,0\r\n\
                 T2,Cap,SQ-2,Cap,3,\r\n";
    let ws = Workspace::csv_job(book, count);
    let job = CSV_JOB.replace(
        "[sources.count.columns]\nsku = \"Item\"\nlocation = \"Store\"\nqty = \"Counted\"",
        "unpivot = { qty = \"Current Quantity {location}\" }\n\n[sources.count.columns]\nsku = \"SKU\"\ndescription = \"Description\"",
    );
    ws.write("job.toml", job);
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 0, "nothing to look at: {}{}", o.stdout, o.stderr);
    let run = ws.only_run_dir();
    let m = manifest(&run);
    assert_ties_out(&m);
    let observed = &m["pairings"][0]["observed"];
    assert_eq!(observed["rows"], 4);
    assert_eq!(observed["matched"], 3);
    assert_eq!(observed["rejected"]["not_stocked"], 1, "SQ-2 at Harbour");
    assert_eq!(observed["rejected"]["invalid_row"], 0);
    assert!(discrepancies(&run).is_empty());
}

/// In a long file a source says what a blank quantity means; by default it is an
/// invalid row for a person, with `blank = "zero"` it counts as 0.
#[test]
fn a_long_files_blank_quantity_means_what_the_source_says() {
    let book = "SKU,Store,Qty,Cost\nA,S1,0,1.00\nB,S1,2,1.00\n";
    let count = "Item,Store,Counted\nA,S1,\nB,S1,2\n";
    for (blank, kinds) in [
        ("", vec!["invalid_row", "missing_in_observed"]),
        ("blank = \"zero\"\n", vec![]),
        ("blank = \"absent\"\n", vec!["missing_in_observed"]),
    ] {
        let ws = Workspace::csv_job(book, count);
        ws.write(
            "job.toml",
            CSV_JOB.replace(
                "[sources.count.columns]",
                &format!("{blank}[sources.count.columns]"),
            ),
        );
        let o = ws.run_job("job.toml");
        assert!(o.code == 0 || o.code == 1, "{blank}: {}", o.stderr);
        let mut got: Vec<String> = discrepancies(&ws.only_run_dir())
            .iter()
            .map(|l| l["kind"].clone())
            .collect();
        got.sort();
        assert_eq!(got, kinds, "{blank}");
    }
}

/// A placeholder for a blank cell could never take effect: `tally check` says so.
#[test]
fn a_placeholder_for_blank_cells_is_an_error() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,1,1.00\n",
        "Item,Store,Counted\nA,S1,\n",
    );
    ws.write(
        "job.toml",
        CSV_JOB.replace(
            "[sources.count.columns]",
            "placeholders = { \"\" = \"absent\" }\n[sources.count.columns]",
        ),
    );
    let o = run(&["check", ws.path("job.toml").to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("would never take effect") && o.stderr.contains("blank ="),
        "{}",
        o.stderr
    );
}

/// A Shopify inventory export as Shopify writes it (BOM, its 19 columns, `Not stocked`,
/// a negative on-hand, dirty SKUs) against an ERPNext-shaped book. Worked out by hand:
/// the mug agrees; the cap in S is −2 on the shelf against 1 in the ERP (a difference of
/// −3, and the negative is flagged); the cap in M is not stocked, so the ERP's 7 is
/// missing from the store.
#[test]
fn a_shopify_inventory_export_reads_as_shopify_writes_it() {
    let ws = Workspace::new();
    ws.write(
        "erp.csv",
        "Item Code,Warehouse,Actual Qty,Valuation Rate\n00010001,Back Bay,5,2.50\n00010002,Back Bay,1,3.00\n00010003,Back Bay,7,1.00\n",
    );
    ws.write(
        "shopify.csv",
        "\u{feff}Handle,Title,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,SKU,HS Code,COO,Location,Bin name,Incoming (not editable),Unavailable (not editable),Committed (not editable),Available (not editable),On hand (current),On hand (new)\n\
         mug,Mug,Title,Default Title,,,,,  nw-00010001 ,,,Back Bay,,0,0,1,4,5,\n\
         cap,Cap,Size,S,,,,,nw-00010002,,,Back Bay,,0,0,0,-2,-2,\n\
         cap,Cap,Size,M,,,,,NW-00010003,,,Back Bay,,0,0,0,Not stocked,Not stocked,\n",
    );
    ws.write(
        "rules.toml",
        "[normalize]\nsteps = [{ op = \"trim\" }, { op = \"uppercase\" }, { op = \"strip_prefix\", prefix = \"NW-\" }]\n\
         [defaults]\nseverity = \"medium\"\nresolution = \"review\"\n",
    );
    ws.write(
        "job.toml",
        r#"
rules = "rules.toml"

[sources.erp]
kind = "csv"
path = "erp.csv"
[sources.erp.columns]
sku = "Item Code"
location = "Warehouse"
qty = "Actual Qty"
unit_cost = "Valuation Rate"

[sources.shopify]
kind = "csv"
path = "shopify.csv"
placeholders = { "Not stocked" = "absent" }
[sources.shopify.columns]
sku = "SKU"
location = "Location"
qty = "On hand (current)"

[[pairings]]
name = "erp-vs-shopify"
book = "erp"
observed = "shopify"
"#,
    );
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let run_dir = ws.only_run_dir();
    let m = manifest(&run_dir);
    assert_ties_out(&m);
    let p = &m["pairings"][0];
    assert_eq!(
        (
            p["observed"]["rows"].as_u64(),
            p["observed"]["matched"].as_u64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(p["observed"]["rejected"]["not_stocked"], 1);
    assert_eq!(p["observed"]["negative_qty"], 1);
    assert_eq!(p["equal"], 1, "the mug");
    let mut lines: Vec<(String, String, String)> = discrepancies(&run_dir)
        .into_iter()
        .map(|l| {
            (
                l["item_key"].clone(),
                l["kind"].clone(),
                l["qty_delta"].clone(),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            ("00010002".into(), "negative_qty".into(), "".into()),
            ("00010002".into(), "qty_mismatch".into(), "-3".into()),
            ("00010003".into(), "missing_in_observed".into(), "-7".into()),
        ]
    );
    assert_eq!(
        m["discrepancies"]["value_delta_sum"], "-16.0000",
        "−3 × 3.00 − 7 × 1.00"
    );
}

/// A wide export headed by location names: a bare `{location}` would take every column
/// for a location, so the job lists them or excludes the others.
#[test]
fn location_columns_are_listed_or_excluded() {
    let count = "Item,Title,Back Bay,SoHo\nA1,Socks,9,2\nA2,Cap,5,1\n";
    let ws = Workspace::csv_job("SKU,Store,Qty,Cost\nA1,Back Bay,10,1\nA2,SoHo,1,1\n", count);
    let with = |unpivot: &str| {
        CSV_JOB.replace(
            "[sources.count.columns]\nsku = \"Item\"\nlocation = \"Store\"\nqty = \"Counted\"",
            &format!("unpivot = {unpivot}\n[sources.count.columns]\nsku = \"Item\""),
        )
    };
    ws.write("job.toml", with("{ qty = \"{location}\" }"));
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("unpivot qty = \"{location}\" would take every column for a location"),
        "{}",
        o.stderr
    );
    for unpivot in [
        "{ qty = \"{location}\", exclude = [\"Title\"] }",
        "{ qty = \"{location}\", columns = [\"Back Bay\", \"SoHo\"] }",
    ] {
        ws.write("job.toml", with(unpivot));
        let o = ws.run_job("job.toml");
        assert_eq!(o.code, 1, "{unpivot}: {}", o.stderr);
        let run = ws.run_dirs().pop().unwrap();
        let mut lines: Vec<String> = discrepancies(&run)
            .into_iter()
            .map(|l| {
                format!(
                    "{} {} {} {}",
                    l["item_key"], l["location"], l["kind"], l["qty_delta"]
                )
            })
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "A1 Back Bay qty_mismatch -1",
                "A1 SoHo missing_in_book 2",
                "A2 Back Bay missing_in_book 5",
            ],
            "{unpivot}"
        );
        std::fs::remove_dir_all(&run).unwrap();
    }
}

/// A Parquet file read as typed: integer SKUs, a decimal(21,9) quantity and cost, a
/// float read as the shortest decimal that round-trips.
#[test]
fn a_parquet_export_reads_typed_columns_exactly() {
    use polars::prelude::*;
    let ws = Workspace::csv_job(BOOK_CSV, "Item,Store,Counted\n101,S1,10\n102,S1,2.5\n");
    let qty = Int128Chunked::from_vec("on_hand".into(), vec![12_000_000_000, 2_125_000_000])
        .into_decimal(21, 9)
        .unwrap()
        .into_series();
    let cost = Int128Chunked::from_vec("rate".into(), vec![361_864_861_000, 1_500_000_000])
        .into_decimal(21, 9)
        .unwrap()
        .into_series();
    let mut frame = DataFrame::new(
        2,
        vec![
            Series::new("item".into(), [101i64, 102]).into(),
            Series::new("store".into(), ["S1", "S1"]).into(),
            qty.into(),
            cost.into(),
            Series::new("weight".into(), [0.1f64 + 0.2, 1.5]).into(),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(ws.path("book.parquet")).unwrap();
    ParquetWriter::new(file).finish(&mut frame).unwrap();
    ws.write(
        "job.toml",
        CSV_JOB
            .replace("kind = \"csv\"\npath = \"book.csv\"", "kind = \"parquet\"\npath = \"book.parquet\"")
            .replace(
                "sku = \"SKU\"\nlocation = \"Store\"\nqty = \"Qty\"\nunit_cost = \"Cost\"",
                "sku = \"item\"\nlocation = \"store\"\nqty = \"on_hand\"\nunit_cost = \"rate\"\ndescription = \"weight\"",
            ),
    );
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let lines = discrepancies(&ws.only_run_dir());
    let got: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} {}→{} @{} = {} ({})",
                l["item_key"],
                l["book_qty"],
                l["observed_qty"],
                l["unit_cost"],
                l["value_delta"],
                l["description"]
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "101 12→10 @361.864861 = -723.7297 (0.3)",
            "102 2.125→2.5 @1.5000 = 0.5625 (1.5)",
        ]
    );
}
