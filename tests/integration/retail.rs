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
    assert_eq!(got, ["qty_mismatch A alias 24.000 -2.000"]);
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
