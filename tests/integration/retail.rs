//! The retail rules' tables on real files: a cross-reference from a spreadsheet, and
//! bad rows in each kind of table stopping the run with file, row and column.

use crate::common::*;

const JOB: &str = r#"
rules = "rules.toml"

[sources.book]
kind = "csv"
path = "book.csv"
columns = { sku = "SKU", location = "Store", qty = "Qty", uom = "UOM", unit_cost = "Cost" }

[sources.count]
kind = "csv"
path = "count.csv"
columns = { sku = "Item", location = "Store", qty = "Counted", gtin = "UPC" }

[sources.codes]
kind = "excel"
role = "cross_reference"
path = "item-codes.xlsx"
sheet = "Codes"
columns = { sku = "Vendor Code", gtin = "Barcode", item = "Item", uom = "Pack" }

[sources.units]
kind = "csv"
role = "conversions"
path = "conversions.csv"
columns = { item = "Item", uom = "Unit", factor = "Factor" }

[sources.ledger]
kind = "csv"
role = "movements"
path = "ledger.csv"
columns = { location = "Store", sku = "SKU", qty = "Change", as_of = "At" }

[[pairings]]
name = "p"
book = "book"
observed = "count"
"#;

const RULES: &str = r#"
[normalize]
steps = [{ op = "trim" }, { op = "uppercase" }]

[units]
each = "count"
case = "count"
kg = "mass"
"#;

fn workspace(conversions: &str, ledger: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write("job.toml", JOB);
    ws.write("rules.toml", RULES);
    ws.copy_fixture("item-codes.xlsx", "item-codes.xlsx");
    ws.write(
        "book.csv",
        "SKU,Store,Qty,UOM,Cost\nA,S1,26,each,1.00\nB,S1,4,each,2.00\nC,S1,5,kg,3.00\n",
    );
    ws.write(
        "count.csv",
        "Item,Store,Counted,UPC\nX-9,S1,2,10850001000014\nv-2,S1,4,\nC,S1,5,\n",
    );
    ws.write("conversions.csv", conversions);
    ws.write("ledger.csv", ledger);
    ws
}

const CONVERSIONS: &str = "Item,Unit,Factor\nA,each,1\nA,case,12\nB,each,1\nC,kg,1\n";
const LEDGER: &str = "Store,SKU,Change,At\nS1,B,-1,2026-11-26T10:00:00Z\n";

#[test]
fn a_spreadsheet_cross_reference_names_items_and_packs() {
    let ws = workspace(CONVERSIONS, LEDGER);
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let lines = discrepancies(&ws.only_run_dir());
    let got: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {} {}",
                l["kind"], l["item_key"], l["match_step"], l["observed_qty"], l["qty_delta"]
            )
        })
        .collect();
    // X-9 is unknown, but its case barcode names A: 2 × 12 = 24 against 26. V-2 names
    // B by its vendor code: equal. (No as-of times: the ledger moves nothing.)
    assert_eq!(got, ["qty_mismatch A alias 24 -2"]);
    let m = manifest(&ws.only_run_dir());
    assert_ties_out(&m);
    let codes = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["source"] == "codes")
        .unwrap()
        .clone();
    assert_eq!(codes["rows"], 3);
    assert_eq!(codes["sha256"].as_str().unwrap().len(), 64);
}

fn fails_with(ws: &Workspace, parts: &[&str]) {
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    for p in parts {
        assert!(o.stderr.contains(p), "{p:?} missing from:\n{}", o.stderr);
    }
    assert!(ws.run_dirs().is_empty(), "nothing is written");
}

#[test]
fn bad_conversions_stop_the_run() {
    let ws = workspace(
        "Item,Unit,Factor\nA,each,1\nA,case,twelve\nB,each,1\nC,kg,1\nC,each,2\nD,box,3\n",
        LEDGER,
    );
    fails_with(
        &ws,
        &["conversions.csv:3: column \"Factor\" (factor): \"twelve\" is not a factor"],
    );
    let ws = workspace(
        "Item,Unit,Factor\nA,each,1\nA,case,12\nB,each,1\nC,kg,1\nC,each,2\nD,box,3\n",
        LEDGER,
    );
    fails_with(
        &ws,
        &[
            "conversions.csv:6: item \"C\": each (count) cannot convert to kg (mass)",
            "conversions.csv:7: item \"D\" has no base unit",
            "conversions.csv:7: unit \"box\" is not declared",
        ],
    );
}

#[test]
fn movements_need_times_with_an_offset() {
    let ws = workspace(
        CONVERSIONS,
        "Store,SKU,Change,At\nS1,B,-1,2026-11-26 10:00\nS1,B,x,2026-11-26T10:00:00Z\n",
    );
    fails_with(
        &ws,
        &[
            "ledger.csv:2: column \"At\" (as_of): \"2026-11-26 10:00\" is not a time with an offset",
            "ledger.csv:3: column \"Change\" (qty)",
        ],
    );
}

#[test]
fn a_code_naming_two_items_stops_the_run() {
    let ws = workspace(CONVERSIONS, LEDGER);
    ws.write("codes.csv", "Code,Item\nV-1,A\nV-1,B\n");
    let job = JOB.replace(
        "kind = \"excel\"\nrole = \"cross_reference\"\npath = \"item-codes.xlsx\"\nsheet = \"Codes\"\ncolumns = { sku = \"Vendor Code\", gtin = \"Barcode\", item = \"Item\", uom = \"Pack\" }",
        "kind = \"csv\"\nrole = \"cross_reference\"\npath = \"codes.csv\"\ncolumns = { sku = \"Code\", item = \"Item\" }",
    );
    assert_ne!(job, JOB);
    ws.write("job.toml", job);
    fails_with(
        &ws,
        &[
            "codes.csv:3: code \"V-1\" names item \"B\", but ",
            "codes.csv:2 names \"A\"",
        ],
    );
}

/// A handheld scanner's count sheet: location, barcode and count, no SKU. With
/// `[match] key = ["location", "gtin"]` rows pair by GTIN-14: a UPC-A whose leading zero
/// a spreadsheet dropped still pairs; a code failing its check digit is an invalid_gtin
/// finding on its side and never pairs, even with the same bad code on the other side;
/// the ERP's SKU column is also its barcode column for one item.
#[test]
fn a_scanner_count_sheet_matches_on_barcodes() {
    let ws = Workspace::new();
    ws.write(
        "erp.csv",
        "Item Code,Barcode,Warehouse,Qty,Rate\n\
         MUG,036000291452,S1,5,2.00\n\
         CAP,4006381333931,S1,2,4.00\n\
         HAT,012345678905,S1,7,3.00\n\
         BAD,4006381333932,S1,1,1.00\n\
         96385074,96385074,S1,4,1.00\n",
    );
    ws.write(
        "scan.csv",
        "Location,Code,Count\nS1,36000291452,5\nS1,4006381333931,3\nS1,4006381333932,1\nS1,96385074,4\nS1,5901234123457,1\n",
    );
    ws.write(
        "rules.toml",
        "[match]\nkey = [\"location\", \"gtin\"]\n\n[defaults]\nseverity = \"medium\"\nresolution = \"review\"\n",
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
gtin = "Barcode"
location = "Warehouse"
qty = "Qty"
unit_cost = "Rate"

[sources.scan]
kind = "csv"
path = "scan.csv"
[sources.scan.columns]
gtin = "Code"
location = "Location"
qty = "Count"

[[pairings]]
name = "erp-vs-scan"
book = "erp"
observed = "scan"
"#,
    );
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let run_dir = ws.only_run_dir();
    let m = manifest(&run_dir);
    assert_ties_out(&m);
    let p = &m["pairings"][0];
    assert_eq!(p["book"]["matched"], 3, "MUG, CAP and the EAN-8 item");
    assert_eq!(p["observed"]["matched"], 3);
    assert_eq!(p["book"]["rejected"]["invalid_gtin"], 1);
    assert_eq!(p["observed"]["rejected"]["invalid_gtin"], 1);
    assert_eq!(p["equal"], 2, "MUG (11 digits = 12) and the EAN-8");
    let mut lines: Vec<(String, String, String)> = discrepancies(&run_dir)
        .into_iter()
        .map(|l| (l["kind"].clone(), l["item_key"].clone(), l["side"].clone()))
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            ("invalid_gtin".into(), "".into(), "book".into()),
            ("invalid_gtin".into(), "".into(), "observed".into()),
            ("missing_in_book".into(), "05901234123457".into(), "".into()),
            (
                "missing_in_observed".into(),
                "00012345678905".into(),
                "".into()
            ),
            ("qty_mismatch".into(), "04006381333931".into(), "".into()),
        ]
    );
    // The ERP's own SKU stays on the line for the audit trail.
    let cap = discrepancies(&run_dir)
        .into_iter()
        .find(|l| l["kind"] == "qty_mismatch")
        .unwrap();
    assert_eq!(
        (cap["book_sku"].as_str(), cap["observed_sku"].as_str()),
        ("CAP", "")
    );
    // `tally explain` finds the item by any form of its barcode.
    for form in ["4006381333931", "04006381333931", "4006381-333931"] {
        let e = run(&[
            "explain",
            ws.path("job.toml").to_str().unwrap(),
            "--location",
            "S1",
            "--sku",
            form,
        ]);
        assert_eq!(e.code, 0, "{form}: {}{}", e.stdout, e.stderr);
        assert!(e.stdout.contains("CAP"), "{form}: {}", e.stdout);
        assert!(e.stdout.contains("qty_mismatch"), "{form}: {}", e.stdout);
    }
}
