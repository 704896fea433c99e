//! The run's workbooks: lines and corrections as xlsx with typed cells (numbers as
//! numbers, codes as text with their zeros), neutralised formulas, and the size rule.

use calamine::{Data, Reader, Xlsx, open_workbook};

use crate::common::{CSV_JOB, PLAIN_RULES, Workspace, run, run_into};

fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "job.toml",
        CSV_JOB.replace(
            "unit_cost = \"Cost\"",
            "unit_cost = \"Cost\"\ndescription = \"Name\"",
        ),
    );
    ws.write(
        "rules.toml",
        format!("{PLAIN_RULES}\n[[rules]]\nname = \"fix\"\nkind = \"always\"\napplies_to = [\"qty_mismatch\"]\nseverity = \"low\"\nresolution = \"correct_book\"\n"),
    );
    ws.write(
        "book.csv",
        "SKU,Store,Qty,Cost,Name\n00012,S1,10,2.125,\"=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"\nA2,S1,5,1.25,Tee\n",
    );
    ws.write("count.csv", "Item,Store,Counted\n00012,S1,7.5\nA2,S1,5\n");
    ws
}

fn cell(range: &calamine::Range<Data>, row: usize, header: &str) -> Data {
    let col = (0..range.width())
        .find(|c| range.get((0, *c)) == Some(&Data::String(header.into())))
        .unwrap_or_else(|| panic!("no column {header}"));
    range.get((row, col)).cloned().unwrap_or(Data::Empty)
}

#[test]
fn lines_and_corrections_are_workbooks_with_typed_cells() {
    let ws = workspace();
    let o = ws.run_job("job.toml");
    assert!(o.code == 0 || o.code == 1, "{}{}", o.stdout, o.stderr);
    let dir = ws.only_run_dir();
    let mut book: Xlsx<_> = open_workbook(dir.join("discrepancies.xlsx")).unwrap();
    let lines = book.worksheet_range("Lines").unwrap();
    assert_eq!(lines.height(), 2, "a header and one line");
    // Codes stay text with their zeros; figures are numbers.
    assert_eq!(cell(&lines, 1, "item_key"), Data::String("00012".into()));
    assert_eq!(cell(&lines, 1, "book_qty"), Data::Float(10.0));
    assert_eq!(cell(&lines, 1, "observed_qty"), Data::Float(7.5));
    assert_eq!(cell(&lines, 1, "qty_delta"), Data::Float(-2.5));
    assert_eq!(cell(&lines, 1, "value_delta"), Data::Float(-5.3125));
    assert_eq!(cell(&lines, 1, "line"), Data::Float(1.0));
    // A text that is a formula is text, neutralised as in the CSV.
    assert_eq!(
        cell(&lines, 1, "description"),
        Data::String("'=HYPERLINK(\"http://x\",\"y\")".into())
    );
    // The corrections beside their CSV, and in the manifest.
    let corrections = dir.join("corrections/store-count.book.xlsx");
    let mut book: Xlsx<_> = open_workbook(&corrections).unwrap();
    let c = book.worksheet_range("Corrections").unwrap();
    assert_eq!(cell(&c, 1, "new_qty"), Data::Float(7.5));
    assert_eq!(cell(&c, 1, "sku"), Data::String("00012".into()));
    let m = crate::common::manifest(&dir);
    let files: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"discrepancies.xlsx")
            && files.contains(&"corrections/store-count.book.xlsx"),
        "{files:?}"
    );
}

#[test]
fn workbooks_follow_the_xlsx_option() {
    let ws = workspace();
    let out = ws.path("none");
    let o = run(&[
        "run",
        ws.path("job.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--xlsx",
        "none",
    ]);
    assert!(o.code == 0 || o.code == 1, "{}{}", o.stdout, o.stderr);
    let dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(!dir.join("discrepancies.xlsx").exists());
    assert!(!dir.join("corrections/store-count.book.xlsx").exists());
    assert!(dir.join("discrepancies.csv").exists());
}

/// The recount loop: a run writes a blind, protected sheet per location of the lines it
/// sends to a recount; a filled copy comes back as an observed source (`tally-recount`
/// preset) and the next run compares the counts.
#[test]
fn recount_sheets_go_out_blind_and_come_back_as_a_source() {
    let ws = crate::common::many_stores();
    ws.write(
        "rules.toml",
        format!("{PLAIN_RULES}\n[[rules]]\nname = \"go-and-look\"\nkind = \"always\"\napplies_to = [\"missing_in_observed\"]\nseverity = \"medium\"\nresolution = \"recount\"\n"),
    );
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let dir = ws.only_run_dir();
    let asked: Vec<_> = crate::common::discrepancies(&dir)
        .into_iter()
        .filter(|l| l["resolution"] == "recount")
        .collect();
    assert!(!asked.is_empty());
    let location = asked[0]["location"].clone();
    let sheet = dir.join(format!("recount/{location}.xlsx"));
    let mut book: Xlsx<_> = open_workbook(&sheet).unwrap();
    let range = book.worksheet_range("Recount").unwrap();
    let header: Vec<String> = (0..range.width())
        .map(|c| range.get((0, c)).unwrap().to_string())
        .collect();
    assert_eq!(
        header,
        [
            "location",
            "bin",
            "item_key",
            "description",
            "gtin",
            "book_sku",
            "observed_sku",
            "category",
            "line",
            "recount_of",
            "counted"
        ]
    );
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let here: Vec<_> = asked.iter().filter(|l| l["location"] == location).collect();
    assert_eq!(range.height(), here.len() + 1);
    // Blind: the header above has neither system's quantity; the lines are all there.
    let mut on_sheet: Vec<String> = (1..range.height())
        .map(|r| range.get((r, at("line"))).unwrap().to_string())
        .collect();
    let mut wanted: Vec<String> = here.iter().map(|l| l["line"].clone()).collect();
    on_sheet.sort();
    wanted.sort();
    assert_eq!(on_sheet, wanted);
    // Protected, with only the count column open and validated.
    // The sheet's XML, read from the workbook (a zip) with Python's zipfile.
    let xml = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('xl/worksheets/sheet1.xml').decode())",
        ])
        .arg(&sheet)
        .output()
        .expect("python3 runs");
    let xml = String::from_utf8_lossy(&xml.stdout).into_owned();
    assert!(xml.contains("<sheetProtection"), "{xml}");
    // Only the count column's cells are unlocked: the columns whose cells have a style
    // with `locked="0"` (styles.xml), every other cell keeps the locked default.
    let open = std::process::Command::new("python3")
        .args([
            "-c",
            r#"import sys, zipfile, re
z = zipfile.ZipFile(sys.argv[1])
sheet = z.read('xl/worksheets/sheet1.xml').decode()
styles = z.read('xl/styles.xml').decode()
xfs = re.search(r'<cellXfs[^>]*>(.*?)</cellXfs>', styles, re.S).group(1)
xf = re.findall(r'<xf [^>]*?(?:/>|>.*?</xf>)', xfs, re.S)
unlocked = {i for i, x in enumerate(xf) if 'locked="0"' in x}
cells = re.findall(r'<c r="([A-Z]+)(\d+)"(?: s="(\d+)")?', sheet)
print(",".join(sorted({c for c, r, s in cells if s and int(s) in unlocked})))"#,
        ])
        .arg(&sheet)
        .output()
        .expect("python3 runs");
    let count_column = ((b'A' + range.width() as u8 - 1) as char).to_string();
    assert_eq!(
        String::from_utf8_lossy(&open.stdout).trim(),
        count_column,
        "{}",
        String::from_utf8_lossy(&open.stderr)
    );
    // Whole pieces: these items are counted in units.
    assert!(
        xml.contains("<dataValidation") && xml.contains("type=\"whole\""),
        "{xml}"
    );

    // The counter fills in all but the last item; the sheet comes back.
    let filled = ws.path("filled.xlsx");
    let mut out = rust_xlsxwriter::Workbook::new();
    let s = out.add_worksheet();
    for c in 0..range.width() {
        s.write_string(0, c as u16, range.get((0, c)).unwrap().to_string())
            .unwrap();
    }
    for r in 1..range.height() {
        for c in 0..range.width() - 1 {
            s.write_string(r as u32, c as u16, range.get((r, c)).unwrap().to_string())
                .unwrap();
        }
        if r + 1 < range.height() {
            s.write_number(r as u32, (range.width() - 1) as u16, (r * 2) as f64)
                .unwrap();
        }
    }
    out.save(&filled).unwrap();
    let job = std::fs::read_to_string(ws.path("job.toml")).unwrap();
    let (top, _) = job.split_once("[sources.count]").unwrap();
    let pairing = job.split_once("[[pairings]]").unwrap().1;
    ws.write(
        "recount.toml",
        format!("{top}[sources.count]\npreset = \"tally-recount\"\npath = \"filled.xlsx\"\n\n[[pairings]]{pairing}"),
    );
    let out_dir = ws.path("recounted");
    let o = run(&[
        "run",
        ws.path("recount.toml").to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--location",
        &location,
    ]);
    assert!(o.code == 0 || o.code == 1, "{}{}", o.stdout, o.stderr);
    let recounted = std::fs::read_dir(&out_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let m = crate::common::manifest(&recounted);
    // The item left blank was not counted: it is no count (a blank here means absent).
    let observed = &m["pairings"][0]["observed"];
    assert_eq!(
        observed["rows"].as_u64().unwrap() as usize,
        here.len(),
        "{observed}"
    );
    assert_eq!(observed["rejected"]["not_stocked"], 1, "{observed}");
    // Each counted item's count is what the next run compares.
    let lines = crate::common::discrepancies(&recounted);
    let first_key = range.get((1, at("item_key"))).unwrap().to_string();
    let counted = lines
        .iter()
        .find(|l| l["item_key"] == first_key)
        .expect("the first item was counted 2 and differs from the book");
    assert_eq!(counted["observed_qty"], "2", "{counted:?}");
    // The next run's line names the line that asked for the count.
    let asked_by = format!(
        "{}#{}",
        dir.file_name().unwrap().to_string_lossy(),
        range.get((1, at("line"))).unwrap()
    );
    assert_eq!(counted["recount_of"], asked_by, "{counted:?}");
}

/// A recount sheet in walking order: bin by bin, the costliest first within a bin, with
/// each item's barcode and bin; pieces take whole numbers, a weighed item a decimal.
#[test]
fn recount_sheet_walks_the_bins_with_barcodes() {
    let book = "SKU,Store,Qty,Cost,Bin,Barcode\n\
                A,S1,4,10.00,B-02,00850001000017\n\
                B,S1,2,1.00,A-01,\n\
                C,S1,3,20.00,A-01,850001000109\n\
                D,S1,2.5,4.00,C-01,\n\
                E,S1,1,1.00,A-01,\n";
    let count = "Item,Store,Counted\nE,S1,1\n";
    let ws = Workspace::csv_job(book, count);
    ws.write(
        "job.toml",
        CSV_JOB.replace(
            "unit_cost = \"Cost\"",
            "unit_cost = \"Cost\"\nbin = \"Bin\"\ngtin = \"Barcode\"",
        ),
    );
    ws.write(
        "rules.toml",
        format!("{PLAIN_RULES}\n[[rules]]\nname = \"go-and-look\"\nkind = \"always\"\napplies_to = [\"missing_in_observed\"]\nseverity = \"medium\"\nresolution = \"recount\"\n"),
    );
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let dir = ws.only_run_dir();
    let lines = crate::common::discrepancies(&dir);
    let c = lines.iter().find(|l| l["item_key"] == "C").unwrap();
    assert_eq!(
        (c["bin"].as_str(), c["gtin"].as_str()),
        ("A-01", "850001000109")
    );
    let sheet = dir.join("recount/S1.xlsx");
    let mut wb: Xlsx<_> = open_workbook(&sheet).unwrap();
    let range = wb.worksheet_range("Recount").unwrap();
    let column = |name: &str| -> Vec<String> {
        (1..range.height())
            .map(|r| cell(&range, r, name).to_string())
            .collect()
    };
    assert_eq!(column("item_key"), ["C", "B", "A", "D"], "walking order");
    assert_eq!(column("bin"), ["A-01", "A-01", "B-02", "C-01"]);
    assert_eq!(
        column("gtin")[0],
        "850001000109",
        "barcodes as text, as stated"
    );
    assert_eq!(column("gtin")[2], "00850001000017", "leading zeros kept");
    let xml = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read('xl/worksheets/sheet1.xml').decode())",
        ])
        .arg(&sheet)
        .output()
        .expect("python3 runs");
    let xml = String::from_utf8_lossy(&xml.stdout).into_owned();
    // Rows 2-4 (pieces) whole numbers; row 5 (2.5 kg) a decimal.
    let count_col = (b'A' + range.width() as u8 - 1) as char;
    assert!(xml.contains("type=\"whole\""), "{xml}");
    assert!(
        xml.contains(&format!("sqref=\"{count_col}2:{count_col}4\"")),
        "{xml}"
    );
    assert!(xml.contains(&format!("sqref=\"{count_col}5\"")), "{xml}");
    assert!(xml.contains("type=\"decimal\""), "{xml}");
    // The location page lists the recount in the same order, with the sheet linked.
    let page = std::fs::read_to_string(dir.join("reports/locations/S1.html")).unwrap();
    let recount =
        &page[page.find("id=\"recount\"").unwrap()..page.find("id=\"corrected\"").unwrap()];
    let order: Vec<usize> = [
        "<code>C</code>",
        "<code>B</code>",
        "<code>A</code>",
        "<code>D</code>",
    ]
    .iter()
    .map(|k| {
        recount
            .find(k)
            .unwrap_or_else(|| panic!("{k} in {recount}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(
        recount.contains("href=\"../../recount/S1.xlsx\""),
        "{recount}"
    );
    assert!(recount.contains("850001000109"));
}

/// A job may put the book's figure on the sheet (`recount_sheet = "with_book"`): a
/// `book_qty` column just before the count; without it the sheet stays blind.
#[test]
fn a_recount_sheet_shows_the_book_only_when_the_job_asks() {
    let ws = Workspace::csv_job(
        "SKU,Store,Qty,Cost\nA,S1,4,10.00\nB,S1,1,1.00\n",
        "Item,Store,Counted\nB,S1,1\n",
    );
    ws.write(
        "rules.toml",
        format!("{PLAIN_RULES}\n[[rules]]\nname = \"go-and-look\"\nkind = \"always\"\napplies_to = [\"missing_in_observed\"]\nseverity = \"medium\"\nresolution = \"recount\"\n"),
    );
    let header = |job: &str, out: &str| -> Vec<String> {
        let (o, dir) = run_into(&ws.path(job), &ws.path(out), None, &[]);
        assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
        let mut wb: Xlsx<_> = open_workbook(dir.join("recount/S1.xlsx")).unwrap();
        let range = wb.worksheet_range("Recount").unwrap();
        let names: Vec<String> = (0..range.width())
            .map(|c| range.get((0, c)).unwrap().to_string())
            .collect();
        if let Some(at) = names.iter().position(|n| n == "book_qty") {
            assert_eq!(range.get((1, at)).unwrap().to_string(), "4");
        }
        names
    };
    let blind = header("job.toml", "blind");
    assert!(!blind.iter().any(|n| n.contains("qty")), "{blind:?}");
    ws.write(
        "with-book.toml",
        format!("recount_sheet = \"with_book\"\n{CSV_JOB}"),
    );
    let shown = header("with-book.toml", "shown");
    assert_eq!(
        &shown[shown.len() - 2..],
        ["book_qty", "counted"],
        "{shown:?}"
    );
    ws.write("bad.toml", format!("recount_sheet = \"peek\"\n{CSV_JOB}"));
    let o = run(&["run", ws.path("bad.toml").to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("recount_sheet"), "{}", o.stderr);
}

/// Corrections for Shopify come as Shopify's own inventory import: the export's rows
/// (Handle, options, Location as exported) with `On hand (new)` set, and nothing else
/// changed; Square's as its library import with `New Quantity <Location>` (and the
/// unit cost) set for the corrected locations only.
#[test]
fn store_systems_get_their_own_import_files() {
    let ws = Workspace::new();
    ws.write(
        "rules.toml",
        format!("{PLAIN_RULES}\n[[rules]]\nname = \"book-wins\"\nkind = \"always\"\napplies_to = [\"qty_mismatch\", \"cost_mismatch\"]\nseverity = \"low\"\nresolution = \"correct_observed\"\n"),
    );
    ws.write(
        "erp.csv",
        "SKU,Store,Qty,Cost\nSOCK-1,Back Bay,10,6.25\nTEE-M,Back Bay,4,7.35\nMUG,Pearl,14,6.05\nMUG,Ballard,8,6.05\nCAP,Pearl,3,12.00\n",
    );
    ws.write(
        "shopify.csv",
        "Handle,Title,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,SKU,HS Code,COO,Location,Bin name,Incoming (not editable),Unavailable (not editable),Committed (not editable),Available (not editable),On hand (current),On hand (new)\r\n\
         sock,\"Sock, \"\"merino\"\"\",Size,M,,,,,SOCK-1,,,Back Bay,A-1,0,0,0,12,12,\r\n\
         tee,=cmd|' /C calc'!A0,Size,M,,,,,TEE-M,,,Back Bay,,0,0,0,4,4,\r\n",
    );
    ws.write(
        "square.csv",
        "\u{feff}Token,Item Name,Variation Name,SKU,Description,Category,GTIN,Price,Default Unit Cost,Default Vendor Code,Current Quantity Pearl,Current Quantity Ballard,New Quantity Pearl,New Quantity Ballard\r\n\
         SQ1,Enamel Mug,Regular,MUG,,Home,,16.00,6.0550,V-2,11,8,,\r\n\
         SQ2,Canvas Cap,Regular,CAP,,Hats,,20.00,12.00,V-3,3,,,\r\n",
    );
    ws.write(
        "job.toml",
        r#"
rules = "rules.toml"

[sources.erp]
kind = "csv"
path = "erp.csv"
columns = { sku = "SKU", location = "Store", qty = "Qty", unit_cost = "Cost" }

[sources.shopify]
preset = "shopify-inventory"
path = "shopify.csv"

[sources.square]
preset = "square-items"
path = "square.csv"
columns = { unit_cost = "Default Unit Cost" }

[[pairings]]
name = "stores"
book = "erp"
observed = ["shopify", "square"]
"#,
    );
    let o = ws.run_job("job.toml");
    assert!(o.code <= 1, "{}{}", o.stdout, o.stderr);
    let dir = ws.only_run_dir();
    let shopify =
        std::fs::read_to_string(dir.join("corrections/stores.observed.shopify.shopify.csv"))
            .unwrap_or_else(|e| {
                panic!(
                    "{e}: {:?}",
                    std::fs::read_dir(dir.join("corrections"))
                        .unwrap()
                        .collect::<Vec<_>>()
                )
            });
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(shopify.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 1, "only the sock differs: {shopify}");
    let header: Vec<&str> = shopify.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    assert_eq!(&rows[0][at("Handle")], "sock");
    assert_eq!(
        &rows[0][at("Title")],
        "Sock, \"merino\"",
        "cells kept as exported"
    );
    assert_eq!(&rows[0][at("Option1 Value")], "M");
    assert_eq!(&rows[0][at("Location")], "Back Bay");
    assert_eq!(&rows[0][at("On hand (current)")], "12");
    assert_eq!(&rows[0][at("On hand (new)")], "10", "the book's figure");

    let square =
        std::fs::read_to_string(dir.join("corrections/stores.observed.square.square.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(square.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{square}");
    let mug = &rows[0];
    assert_eq!(&mug[at("Token")], "SQ1");
    assert_eq!(
        &mug[at("New Quantity Pearl")],
        "14",
        "Pearl's count corrected"
    );
    assert_eq!(
        &mug[at("New Quantity Ballard")],
        "",
        "Ballard agrees: unchanged"
    );
    assert_eq!(
        mug[at("Default Unit Cost")]
            .parse::<rust_decimal::Decimal>()
            .unwrap(),
        rust_decimal::Decimal::new(605, 2),
        "the book's cost"
    );
}

/// A text cell that a spreadsheet would run stays text in the store systems' imports.
#[test]
fn store_system_imports_neutralise_formulas() {
    let ws = Workspace::new();
    ws.write(
        "rules.toml",
        format!("{PLAIN_RULES}\n[[rules]]\nname = \"book-wins\"\nkind = \"always\"\napplies_to = [\"qty_mismatch\"]\nseverity = \"low\"\nresolution = \"correct_observed\"\n"),
    );
    ws.write("erp.csv", "SKU,Store,Qty\nTEE-M,Back Bay,5\n");
    ws.write(
        "shopify.csv",
        "Handle,Title,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,SKU,HS Code,COO,Location,Bin name,Incoming (not editable),Unavailable (not editable),Committed (not editable),Available (not editable),On hand (current),On hand (new)\n\
         tee,=cmd|' /C calc'!A0,Size,@M,,,,,TEE-M,,,Back Bay,,0,0,0,4,4,\n",
    );
    ws.write(
        "job.toml",
        r#"
rules = "rules.toml"

[sources.erp]
kind = "csv"
path = "erp.csv"
columns = { sku = "SKU", location = "Store", qty = "Qty" }

[sources.shopify]
preset = "shopify-inventory"
path = "shopify.csv"

[[pairings]]
name = "stores"
book = "erp"
observed = "shopify"
"#,
    );
    let o = ws.run_job("job.toml");
    assert!(o.code <= 1, "{}{}", o.stdout, o.stderr);
    let text = std::fs::read_to_string(
        ws.only_run_dir()
            .join("corrections/stores.observed.shopify.shopify.csv"),
    )
    .unwrap();
    assert!(text.contains(",'=cmd|' /C calc'!A0,"), "{text}");
    assert!(text.contains(",'@M,"), "{text}");
    assert!(text.contains(",5\n") || text.ends_with(",5\n"), "{text}");
}

/// What an export holds reaches every file tally writes as text and nothing else: each
/// cell a spreadsheet would run as a formula is neutralised in every CSV and workbook
/// (lines, corrections, the recount sheet), and markup is escaped in the HTML pages,
/// their SVG charts and the Markdown summary.
#[test]
fn every_format_neutralises_formulas_and_escapes_markup() {
    let ws = Workspace::new();
    ws.write(
        "job.toml",
        CSV_JOB.replace(
            "unit_cost = \"Cost\"",
            "unit_cost = \"Cost\"\ndescription = \"Name\"\ncategory = \"Cat\"",
        ),
    );
    ws.write(
        "rules.toml",
        format!("{PLAIN_RULES}\n[[rules]]\nname = \"fix\"\nkind = \"always\"\napplies_to = [\"qty_mismatch\"]\nseverity = \"low\"\nresolution = \"correct_book\"\n\n[[rules]]\nname = \"go-and-look\"\nkind = \"always\"\napplies_to = [\"missing_in_observed\"]\nseverity = \"medium\"\nresolution = \"recount\"\n"),
    );
    ws.write(
        "book.csv",
        "SKU,Store,Qty,Cost,Name,Cat\n\
         =1+2,S1,10,2.00,<script>alert(1)</script>,<svg onload=x>\n\
         A2,S1,5,1.00,+cmd|' /C calc'!A0,@SUM(A1)\n",
    );
    ws.write("count.csv", "Item,Store,Counted\n=1+2,S1,7\n");
    let o = ws.run_job("job.toml");
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let dir = ws.only_run_dir();
    let formula = |s: &str| {
        s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err())
    };

    // CSV: lines and corrections.
    for csv in ["discrepancies.csv", "corrections/store-count.book.csv"] {
        let mut reader = csv::Reader::from_path(dir.join(csv)).unwrap();
        let mut seen = 0;
        for record in reader.records() {
            for cell in record.unwrap().iter() {
                assert!(!formula(cell), "{csv}: {cell:?}");
                seen += usize::from(
                    cell.starts_with("'=") || cell.starts_with("'+") || cell.starts_with("'@"),
                );
            }
        }
        assert!(seen > 0, "{csv} holds the neutralised texts");
    }
    // Workbooks: lines, corrections, the recount sheet.
    for (file, sheet) in [
        ("discrepancies.xlsx", "Lines"),
        ("corrections/store-count.book.xlsx", "Corrections"),
        ("recount/S1.xlsx", "Recount"),
    ] {
        let mut wb: Xlsx<_> = open_workbook(dir.join(file)).unwrap();
        let range = wb.worksheet_range(sheet).unwrap();
        let texts: Vec<String> = range
            .used_cells()
            .filter_map(|(_, _, c)| match c {
                Data::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        for t in &texts {
            assert!(!formula(t), "{file}: {t:?}");
        }
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("'=") || t.starts_with("'+")),
            "{file}: {texts:?}"
        );
        let formulas = std::process::Command::new("python3")
            .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(sum(z.read(n).count(b'<f>') + z.read(n).count(b'<f ') for n in z.namelist() if n.startswith('xl/worksheets/')))"])
            .arg(dir.join(file))
            .output()
            .expect("python3 runs");
        assert_eq!(
            String::from_utf8_lossy(&formulas.stdout).trim(),
            "0",
            "{file} holds no formula"
        );
    }
    // HTML, SVG and Markdown.
    for page in ["reports/summary.html", "reports/locations/S1.html"] {
        let html = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(!html.contains("<script"), "{page}");
        assert!(!html.contains("<svg onload"), "{page}");
        let svg_start = html
            .find("id=\"chart-categories\"")
            .expect("the category chart");
        let svg = &html[svg_start..svg_start + html[svg_start..].find("</svg>").unwrap()];
        assert!(svg.contains("&lt;svg onload=x&gt;"), "{page}: {svg}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
    }
    let md = std::fs::read_to_string(dir.join("reports/summary.md")).unwrap();
    assert!(!md.contains("<script>"), "{md}");
}
