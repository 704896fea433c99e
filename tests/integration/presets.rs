//! Presets: each export in its system's documented layout (headers as the vendors'
//! own documentation gives them), read by a job that is the preset, a path and at most a
//! location, and reconciled against a changed copy of itself.

use crate::common::*;

/// A job pairing `book` (the export) with `observed` (its changed copy), both read by
/// `preset`; `extra` goes into both sources (a location, a key override).
fn pair(preset: &str, ext: &str, book: &[u8], observed: &[u8], extra: &str) -> Workspace {
    let ws = Workspace::new();
    ws.write(&format!("book.{ext}"), book);
    ws.write(&format!("observed.{ext}"), observed);
    ws.write(
        "rules.toml",
        "[normalize]\nsteps = [{ op = \"trim\" }, { op = \"uppercase\" }]\n\
         [defaults]\nseverity = \"medium\"\nresolution = \"review\"\n",
    );
    ws.write(
        "job.toml",
        format!(
            r#"
rules = "rules.toml"

[sources.book]
preset = "{preset}"
path = "book.{ext}"
{extra}

[sources.observed]
preset = "{preset}"
path = "observed.{ext}"
{extra}

[[pairings]]
name = "export-vs-copy"
book = "book"
observed = "observed"
"#
        ),
    );
    ws
}

/// (item_key, location, kind, qty_delta) of every line, sorted; and the manifest.
fn lines(ws: &Workspace) -> (Vec<String>, serde_json::Value) {
    let o = ws.run_job("job.toml");
    assert!(o.code == 0 || o.code == 1, "{}{}", o.stdout, o.stderr);
    let run = ws.only_run_dir();
    let m = manifest(&run);
    assert_ties_out(&m);
    let mut out: Vec<String> = discrepancies(&run)
        .into_iter()
        .map(|l| {
            format!(
                "{} @{} {} {}",
                l["item_key"], l["location"], l["kind"], l["qty_delta"]
            )
        })
        .collect();
    out.sort();
    (out, m)
}

fn input<'a>(m: &'a serde_json::Value, source: &str) -> &'a serde_json::Value {
    m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["source"] == source)
        .unwrap()
}

const SHOPIFY_HEADER: &str = "Handle,Title,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,SKU,HS Code,COO,Location,Bin name,Incoming (not editable),Unavailable (not editable),Committed (not editable),Available (not editable),On hand (current),On hand (new)";

#[test]
fn shopify_inventory_current_layout() {
    let rows = |mug: &str| {
        format!(
            "\u{feff}{SHOPIFY_HEADER}\n\
             mug,Mug,Title,Default Title,,,,,MUG-1,,,Back Bay,,0,0,1,4,{mug},\n\
             cap,Cap,Size,S,,,,,CAP-S,,,Back Bay,,0,0,0,-2,-2,\n\
             cap,Cap,Size,M,,,,,CAP-M,,,Back Bay,,0,0,0,Not stocked,Not stocked,\n\
             cap,Cap,Size,L,,,,,CAP-L,,,SoHo,,0,0,0,not stocked,not stocked,\n"
        )
    };
    let ws = pair(
        "shopify-inventory",
        "csv",
        rows("5").as_bytes(),
        rows("3").as_bytes(),
        "",
    );
    let (got, m) = lines(&ws);
    assert_eq!(
        got,
        [
            "CAP-S @Back Bay negative_qty ",
            "CAP-S @Back Bay negative_qty ",
            "MUG-1 @Back Bay qty_mismatch -2",
        ]
    );
    // Both spellings of Shopify's placeholder are "not stocked".
    assert_eq!(m["pairings"][0]["book"]["rejected"]["not_stocked"], 2);
}

#[test]
fn shopify_inventory_older_layout() {
    let header = "Handle,Title,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,SKU,HS Code,COO,Location,Incoming,Unavailable,Committed,Available,On hand";
    let rows = |n: &str| {
        format!(
            "{header}\nmug,Mug,Title,Default Title,,,,,MUG-1,,,Back Bay,0,0,1,4,{n}\n\
             cap,Cap,Size,S,,,,,CAP-S,,,SoHo,0,0,0,2,2\n"
        )
    };
    let ws = pair(
        "shopify-inventory",
        "csv",
        rows("5").as_bytes(),
        rows("7").as_bytes(),
        "",
    );
    let (got, _) = lines(&ws);
    assert_eq!(got, ["MUG-1 @Back Bay qty_mismatch 2"]);
}

#[test]
fn shopify_inventory_by_location_name() {
    let header = "Handle,Title,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,SKU,HS Code,COO,Back Bay,SoHo";
    let rows = |n: &str| {
        format!(
            "{header}\nmug,Mug,Title,Default Title,,,,,MUG-1,,,5,{n}\ncap,Cap,Size,S,,,,,CAP-S,,,Not stocked,2\n"
        )
    };
    let ws = pair(
        "shopify-inventory-by-location",
        "csv",
        rows("1").as_bytes(),
        rows("0").as_bytes(),
        "",
    );
    let (got, m) = lines(&ws);
    assert_eq!(got, ["MUG-1 @SoHo qty_mismatch -1"]);
    // Two locations per record; the Not stocked cell is no row.
    assert_eq!(input(&m, "book")["records"], 2);
    assert_eq!(input(&m, "book")["rows"], 4);
    assert_eq!(m["pairings"][0]["book"]["rejected"]["not_stocked"], 1);
}

#[test]
fn shopify_products_skip_image_rows() {
    let header = "Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,Variant SKU,Variant Grams,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,Variant Fulfillment Service,Variant Price,Variant Compare At Price,Variant Requires Shipping,Variant Taxable,Variant Barcode,Image Src,Image Position,Image Alt Text,Gift Card,SEO Title,SEO Description,Variant Image,Variant Weight Unit,Variant Tax Code,Cost per item,Status";
    let rows = |n: &str| {
        format!(
            "{header}\n\
             mug,Mug,<p>A mug</p>,Acme,,Kitchen,,true,Title,Default Title,,,,,MUG-1,300,shopify,{n},deny,manual,12.00,,true,true,4006381333931,https://cdn.example/mug.jpg,1,,false,,,,g,,4.50,active\n\
             mug,,,,,,,,,,,,,,,,,,,,,,,,,https://cdn.example/mug-2.jpg,2,,,,,,,,,\n\
             cap,Cap,,Acme,,Hats,,true,Size,S,,,,,CAP-S,100,shopify,3,deny,manual,9.00,,true,true,,https://cdn.example/cap.jpg,1,,false,,,,g,,2.00,active\n"
        )
    };
    let ws = pair(
        "shopify-products",
        "csv",
        rows("5").as_bytes(),
        rows("4").as_bytes(),
        "location = \"Online Store\"",
    );
    let (got, m) = lines(&ws);
    assert_eq!(got, ["MUG-1 @Online Store qty_mismatch -1"]);
    assert_eq!(input(&m, "book")["records"], 3);
    assert_eq!(input(&m, "book")["skipped"], 1, "the image row");
    assert_eq!(input(&m, "book")["rows"], 2);
}

#[test]
fn square_item_library() {
    let rows = |n: &str| {
        format!(
            "\u{feff}Token,Item Name,Variation Name,Unit and Precision,SKU,Description,Categories,GTIN,Price,Current Quantity Back Bay,New Quantity Back Bay,Current Quantity SoHo,New Quantity SoHo\r\n\
             TK1,Mug,Regular,,MUG-1,\"Stoneware,\r\n350 ml\",Kitchen,4006381333931,12.00,5,,{n},\r\n\
             TK2,Cap,S,,CAP-S,,Hats,,9.00,,,0,\r\n"
        )
    };
    let ws = pair(
        "square-items",
        "csv",
        rows("2").as_bytes(),
        rows("4").as_bytes(),
        "",
    );
    let (got, m) = lines(&ws);
    assert_eq!(got, ["MUG-1 @SoHo qty_mismatch 2"]);
    // CAP-S at Back Bay is blank: not tracked there, no row.
    assert_eq!(m["pairings"][0]["book"]["rejected"]["not_stocked"], 1);
}

#[test]
fn lightspeed_x_series() {
    let rows = |n: &str| {
        format!(
            "id,handle,sku,composite_handle,composite_sku,composite_quantity,name,description,type,tags,supply_price,retail_price,brand_name,active,track_inventory,inventory_Main_Outlet,reorder_point_Main_Outlet,restock_level_Main_Outlet,inventory_Second_Outlet\n\
             0a1,mug,MUG-1,,,,Mug,,Kitchen,,4.50,12.00,Acme,1,1,5,1,5,{n}\n\
             0a2,cap,CAP-S,,,,Cap,,Hats,,2.00,9.00,Acme,1,1,3,1,5,\n"
        )
    };
    let ws = pair(
        "lightspeed-x",
        "csv",
        rows("2").as_bytes(),
        rows("1").as_bytes(),
        "",
    );
    let (got, _) = lines(&ws);
    assert_eq!(got, ["MUG-1 @Second_Outlet qty_mismatch -1"]);
}

#[test]
fn lightspeed_r_series() {
    let rows = |n: &str| {
        format!(
            "System ID,UPC,EAN,Custom SKU,Manufact. SKU,Description,Back Bay - Quantity on Hand,Back Bay - Unit Cost,SoHo - Quantity on Hand,SoHo - Unit Cost\n\
             210000000001,4006381333931,,MUG-1,,Mug,5,4.50,{n},4.50\n\
             210000000002,,,CAP-S,,Cap,3,2.00,1,2.00\n"
        )
    };
    let ws = pair(
        "lightspeed-r",
        "csv",
        rows("2").as_bytes(),
        rows("5").as_bytes(),
        "",
    );
    let (got, _) = lines(&ws);
    assert_eq!(got, ["210000000001 @SoHo qty_mismatch 3"]);
}

#[test]
fn erpnext_bin_report_export() {
    let rows = |n: &str| {
        format!(
            "Item Code,Warehouse,Actual Qty,Valuation Rate,Projected Qty\n\
             ITEM-001,Stores - TC,12,361.864861,12\nITEM-002,Stores - TC,{n},19.5,5\n"
        )
    };
    let ws = pair(
        "erpnext-bin",
        "csv",
        rows("5").as_bytes(),
        rows("8").as_bytes(),
        "",
    );
    let (got, _) = lines(&ws);
    assert_eq!(got, ["ITEM-002 @Stores - TC qty_mismatch 3"]);
}

/// The import template with its title block, as ERPNext's Data Import Tool writes it.
#[test]
fn erpnext_stock_reconciliation_template() {
    let rows = |n: &str| {
        format!(
            "Data Import Template\n\
             Table:,Stock Reconciliation\n\
             \n\
             \n\
             Notes:\n\
             Please do not change the template headings.\n\
             First data column must be blank.\n\
             If you are uploading new records, leave the \"name\" (ID) column blank.\n\
             \n\
             DocType:,Stock Reconciliation,,,~,Stock Reconciliation Item,items,,,\n\
             Column Labels:,ID,Company,Posting Date,,ID,Item Code,Warehouse,Quantity,Valuation Rate\n\
             Column Name:,name,company,posting_date,~,name,item_code,warehouse,qty,valuation_rate\n\
             Mandatory:,Yes,Yes,Yes,,Yes,Yes,Yes,No,No\n\
             Type:,Data,Link,Date,,Data,Link,Link,Float,Currency\n\
             Info:,,,,,,,,,\n\
             Start entering data below this line\n\
             ,,Test Company,2026-11-30,,,ITEM-001,Stores - TC,12,361.864861\n\
             ,,,,,,ITEM-002,Stores - TC,{n},19.5\n"
        )
    };
    let ws = pair(
        "erpnext-stock-reconciliation",
        "csv",
        rows("5").as_bytes(),
        rows("4").as_bytes(),
        "",
    );
    let (got, _) = lines(&ws);
    assert_eq!(got, ["ITEM-002 @Stores - TC qty_mismatch -1"]);
}

#[test]
fn odoo_quants_take_the_code_in_brackets() {
    let rows = |n: &str| {
        format!(
            "Location,Product,Lot/Serial Number,On Hand Quantity,Unit of Measure,Value\n\
             WH/Stock,[FURN_0001] Large Desk,,5.00,Units,1500.00\n\
             WH/Stock,[FURN_0002] Chair,,{n},Units,300.00\n\
             WH/Stock,Office Lamp,,2.00,Units,60.00\n"
        )
    };
    let ws = pair(
        "odoo-quants",
        "csv",
        rows("3.00").as_bytes(),
        rows("2.50").as_bytes(),
        "",
    );
    let (got, _) = lines(&ws);
    assert_eq!(got, ["FURN_0002 @WH/Stock qty_mismatch -0.5"]);
}

#[test]
fn odoo_inventory_import_field_names() {
    let rows = |n: &str| {
        format!(
            "location_id,product_id,inventory_quantity\nWH/Stock,[FURN_0001] Large Desk,5\nWH/Stock,[FURN_0002] Chair,{n}\n"
        )
    };
    let ws = pair(
        "odoo-inventory-import",
        "csv",
        rows("3").as_bytes(),
        rows("4").as_bytes(),
        "",
    );
    let (got, _) = lines(&ws);
    assert_eq!(got, ["FURN_0002 @WH/Stock qty_mismatch 1"]);
}

#[test]
fn woocommerce_products_in_english_and_german() {
    let english = |n: &str| {
        format!(
            "ID,Type,SKU,Name,Published,Is featured?,Visibility in catalog,Short description,Description,In stock?,Stock,Low stock amount,Backorders allowed?,Regular price,Parent\n\
             11,simple,MUG-1,Mug,1,0,visible,,,1,5,,0,12,\n\
             12,variable,CAP,Cap,1,0,visible,,,1,,,0,,\n\
             13,variation,CAP-S,Cap - S,1,0,visible,,,1,{n},,0,9,CAP\n\
             14,simple,POSTER,Poster,1,0,visible,,,1,,,0,5,\n"
        )
    };
    let ws = pair(
        "woocommerce-products",
        "csv",
        english("3").as_bytes(),
        english("1").as_bytes(),
        "location = \"Web\"",
    );
    let (got, m) = lines(&ws);
    assert_eq!(got, ["CAP-S @Web qty_mismatch -2"]);
    assert_eq!(input(&m, "book")["skipped"], 1, "the variable parent");
    // The poster's stock is not managed: no row.
    assert_eq!(m["pairings"][0]["book"]["rejected"]["not_stocked"], 1);

    let german = |n: &str| {
        format!(
            "ID,Typ,Artikelnummer,Name,Veröffentlicht,Vorrätig?,Bestand,Regulärer Preis\n\
             11,simple,MUG-1,Tasse,1,1,{n},12\n"
        )
    };
    let ws = pair(
        "woocommerce-products",
        "csv",
        german("5").as_bytes(),
        german("6").as_bytes(),
        "location = \"Web\"",
    );
    // The German export names its type column `Typ`: no parent rows to skip here.
    let job = std::fs::read_to_string(ws.path("job.toml"))
        .unwrap()
        .replace(
            "location = \"Web\"",
            "location = \"Web\"\nskip_when = { \"Typ\" = \"variable\" }",
        );
    ws.write("job.toml", job);
    let (got, _) = lines(&ws);
    assert_eq!(got, ["MUG-1 @Web qty_mismatch 1"]);
}

/// WooCommerce without SKUs: the product ID is the key, declared in the mapping; Shopify
/// without SKUs: the handle and option values composed.
#[test]
fn an_item_key_from_other_columns() {
    let rows = |n: &str| {
        format!(
            "{SHOPIFY_HEADER}\nmug,Mug,Title,Default Title,,,,,,,,Back Bay,,0,0,1,4,5,\n\
             cap,Cap,Size,S,Color,Red,,,,,,Back Bay,,0,0,0,2,{n},\n"
        )
    };
    let ws = pair(
        "shopify-inventory",
        "csv",
        rows("2").as_bytes(),
        rows("3").as_bytes(),
        "columns = { sku = [\"Handle\", \"Option1 Value\", \"Option2 Value\", \"Option3 Value\"] }",
    );
    let (got, _) = lines(&ws);
    assert_eq!(got, ["CAP / S / RED @Back Bay qty_mismatch 1"]);
}

#[test]
fn a_preset_key_the_job_gives_wins() {
    let rows = |n: &str| {
        format!(
            "{SHOPIFY_HEADER}\nmug,Mug,Title,Default Title,,,,,MUG-1,,,Back Bay,,0,0,1,{n},5,\n"
        )
    };
    // Available instead of On hand.
    let ws = pair(
        "shopify-inventory",
        "csv",
        rows("4").as_bytes(),
        rows("3").as_bytes(),
        "columns = { qty = \"Available (not editable)\" }",
    );
    let (got, _) = lines(&ws);
    assert_eq!(got, ["MUG-1 @Back Bay qty_mismatch -1"]);
}

#[test]
fn check_says_which_preset_a_file_looks_like() {
    let ws = Workspace::csv_job(BOOK_CSV, "");
    ws.write(
        "count.csv",
        format!("{SHOPIFY_HEADER}\nmug,Mug,Title,Default Title,,,,,A1,,,S1,,0,0,1,4,5,\n"),
    );
    let o = run(&["check", ws.path("job.toml").to_str().unwrap()]);
    assert_eq!(o.code, 2, "the job maps Item/Store/Counted: {}", o.stderr);
    assert!(
        o.stderr.contains("set preset = \"shopify-inventory\""),
        "{}",
        o.stderr
    );
}

#[test]
fn an_unknown_preset_lists_the_known_ones() {
    let ws = pair("shopify-inventry", "csv", b"SKU\n", b"SKU\n", "");
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("unknown preset \"shopify-inventry\""),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("shopify-inventory, "), "{}", o.stderr);
}

/// Encodings by their WHATWG labels: a Mac Roman and a UTF-16LE export.
#[test]
fn any_whatwg_encoding_reads() {
    for (label, bytes) in [
        (
            "macintosh",
            encoding_rs::MACINTOSH
                .encode("Item,Store,Counted\nA1,Caf\u{e9},10\n")
                .0
                .into_owned(),
        ),
        ("utf-16le", {
            let mut b = vec![0xFF, 0xFE];
            for u in "Item,Store,Counted\r\nA1,Caf\u{e9},10\r\n".encode_utf16() {
                b.extend_from_slice(&u.to_le_bytes());
            }
            b
        }),
    ] {
        let ws = Workspace::csv_job("SKU,Store,Qty,Cost\nA1,Caf\u{e9},9,1\n", bytes);
        ws.write(
            "job.toml",
            CSV_JOB.replace(
                "kind = \"csv\"\npath = \"count.csv\"",
                &format!("kind = \"csv\"\npath = \"count.csv\"\nencoding = \"{label}\""),
            ),
        );
        let o = ws.run_job("job.toml");
        assert_eq!(o.code, 1, "{label}: {}", o.stderr);
        let lines = discrepancies(&ws.only_run_dir());
        assert_eq!(lines.len(), 1, "{label}: {lines:?}");
        assert_eq!(lines[0]["location"], "Caf\u{e9}", "{label}");
        assert_eq!(lines[0]["qty_delta"], "1", "{label}");
    }
}
