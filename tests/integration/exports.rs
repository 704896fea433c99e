//! The run's workbooks: lines and corrections as xlsx with typed cells (numbers as
//! numbers, codes as text with their zeros), neutralised formulas, and the size rule.

use calamine::{Data, Reader, Xlsx, open_workbook};

use crate::common::{CSV_JOB, PLAIN_RULES, Workspace, run};

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
            "item_key",
            "book_sku",
            "observed_sku",
            "description",
            "category",
            "line",
            "counted"
        ]
    );
    let here: Vec<_> = asked.iter().filter(|l| l["location"] == location).collect();
    assert_eq!(range.height(), here.len() + 1);
    // Blind: the header above has neither system's quantity; the lines are all there.
    let mut on_sheet: Vec<String> = (1..range.height())
        .map(|r| range.get((r, 6)).unwrap().to_string())
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
    assert!(
        xml.contains("<dataValidation") && xml.contains("type=\"decimal\""),
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
    let first_key = range.get((1, 1)).unwrap().to_string();
    let counted = lines
        .iter()
        .find(|l| l["item_key"] == first_key)
        .expect("the first item was counted 2 and differs from the book");
    assert_eq!(counted["observed_qty"], "2", "{counted:?}");
}
