//! Reports: snapshot tests (run id, times and paths redacted), escaping, and a real
//! headless browser rendering the HTML.

use std::path::Path;
use std::process::Command;

use crate::common::*;

const HOSTILE_COUNT: &str = "Item,Store,Counted,Name\nA1,S1,10,Plain socks\nA2,S1,3,<script>alert('x')</script> & co\nA4,S<1>,1,New | piped\n";

fn hostile_workspace() -> Workspace {
    let ws = Workspace::csv_job(BOOK_CSV, HOSTILE_COUNT);
    ws.write(
        "job.toml",
        CSV_JOB.replace(
            "qty = \"Counted\"",
            "qty = \"Counted\"\ndescription = \"Name\"",
        ),
    );
    assert_eq!(ws.run_job("job.toml").code, 1);
    ws
}

fn redact(text: &str, ws: &Workspace) -> String {
    let text = text.replace(&ws.dir.path().display().to_string(), "[WS]");
    let settings_free = regex_replace(&text, r"\d{8}T\d{6}Z-[0-9a-f]{8}", "[RUN-ID]");
    let settings_free = regex_replace(
        &settings_free,
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z",
        "[TIME]",
    );
    regex_replace(&settings_free, r"tally \d+\.\d+\.\d+", "tally [VERSION]")
}

fn regex_replace(text: &str, pattern: &str, with: &str) -> String {
    regex::Regex::new(pattern)
        .unwrap()
        .replace_all(text, with)
        .into_owned()
}

#[test]
fn markdown_summary_snapshot() {
    let ws = hostile_workspace();
    let md = std::fs::read_to_string(ws.only_run_dir().join("reports/summary.md")).unwrap();
    insta::assert_snapshot!("summary_md", redact(&md, &ws));
}

#[test]
fn html_location_page_snapshot() {
    let ws = hostile_workspace();
    let html =
        std::fs::read_to_string(ws.only_run_dir().join("reports/locations/S1.html")).unwrap();
    insta::assert_snapshot!("location_s1_html", redact(&html, &ws));
}

#[test]
fn html_is_escaped() {
    let ws = hostile_workspace();
    let dir = ws.only_run_dir();
    let page = std::fs::read_to_string(dir.join("reports/locations/S1.html")).unwrap();
    assert!(!page.contains("<script>alert"), "descriptions are escaped");
    assert!(page.contains("&lt;script&gt;alert("), "{page}");
    assert!(page.contains("&amp; co"));
    // A location code that is no valid file name still gets a page of its own.
    assert!(dir.join("reports/locations/S_1_.html").is_file());
    let summary = std::fs::read_to_string(dir.join("reports/summary.html")).unwrap();
    assert!(
        summary.contains("S&lt;1&gt;"),
        "location codes are escaped too"
    );
    let md = std::fs::read_to_string(dir.join("reports/summary.md")).unwrap();
    assert!(!md.contains("New | piped"));
}

/// Chromium, started headless, renders the summary; the DOM it builds has one table
/// row per location and per kind. Needs `chromium` (scripts/test installs it).
#[test]
fn summary_renders_in_a_headless_browser() {
    let ws = Workspace::new();
    let job = Path::new(REPO).join("sample-data/job.toml");
    let out = ws.path("runs");
    assert_eq!(
        run(&["run", job.to_str().unwrap(), "--out", out.to_str().unwrap()]).code,
        1
    );
    let reports = ws.only_run_dir().join("reports");
    let dom = render(&reports.join("summary.html"));
    let table = |class: &str| -> usize {
        let start = dom
            .find(&format!("<table class=\"{class}\">"))
            .unwrap_or_else(|| panic!("table {class} in {dom}"));
        let end = start + dom[start..].find("</table>").unwrap();
        dom[start..end].matches("<tr>").count() - 1
    };
    assert_eq!(table("locations"), 5, "one row per store");
    assert_eq!(table("kinds"), 10, "one row per kind");
    assert_eq!(table("tally"), 2, "book and observed");
    assert!(dom.contains("needs review"));

    // The store where the retail rules show: how each pair was matched, the case
    // count, the movements, and the reasons for findings.
    let den = render(&reports.join("locations/DEN-05.html"));
    for shown in [
        "matched by gtin",
        "matched by alias",
        "2 Case × 12",
        "-1 moved after 2026-11-26T01:00:00Z",
        "explained",
        "check digit 7, expected 8",
        "Box (count) cannot convert to Kg (mass)",
    ] {
        assert!(den.contains(shown), "{shown:?} on the DEN-05 page:\n{den}");
    }
}

/// The DOM of a page as headless Chromium renders it.
fn render(page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("chromium is installed (scripts/test installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A location with more lines than a page lists: the page shows those that need a
/// person first, then the largest values, and says how many more the CSV holds.
#[test]
fn a_long_location_page_lists_the_most_important_lines() {
    let mut book = String::from("SKU,Store,Qty,Cost\n");
    let mut count = String::from("Item,Store,Counted\n");
    // 600 lines: 590 within tolerance (ignored), 10 to review, each worth more.
    for i in 0..600 {
        book.push_str(&format!("A{i:04},S1,10,{}\n", 1 + i % 7));
        let counted = if i % 60 == 0 { 4 } else { 10 };
        let counted = if counted == 10 {
            "10.25".to_string()
        } else {
            counted.to_string()
        };
        count.push_str(&format!("A{i:04},S1,{counted}\n"));
    }
    let ws = Workspace::csv_job(book, count);
    assert_eq!(ws.run_job("job.toml").code, 1);
    let dir = ws.only_run_dir();
    assert_eq!(discrepancies(&dir).len(), 600);
    let html = std::fs::read_to_string(dir.join("reports/locations/S1.html")).unwrap();
    assert!(
        html.contains("100 more are in <code>discrepancies.csv</code>"),
        "{html}"
    );
    assert_eq!(
        html.matches("<code>A").count(),
        500,
        "one row per line shown"
    );
    // Every line a person must see is on the page.
    for i in (0..600).step_by(60) {
        assert!(html.contains(&format!("<code>A{i:04}</code>")), "A{i:04}");
    }
}
