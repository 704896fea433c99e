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

/// A report with what differs between runs (ids, times, dates, the version, the
/// workspace's path) replaced by placeholders, for snapshots.
pub fn redact(text: &str, ws: &Workspace) -> String {
    let text = text.replace(&ws.dir.path().display().to_string(), "[WS]");
    let settings_free = regex_replace(&text, r"\d{8}T\d{6}Z-[0-9a-f]{8}", "[RUN-ID]");
    let settings_free = regex_replace(
        &settings_free,
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z",
        "[TIME]",
    );
    let settings_free = regex_replace(&settings_free, r"\b\d{4}-\d{2}-\d{2}\b", "[DATE]");
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
fn html_summary_snapshot() {
    let ws = hostile_workspace();
    let html = std::fs::read_to_string(ws.only_run_dir().join("reports/summary.html")).unwrap();
    insta::assert_snapshot!("summary_html", redact(&html, &ws));
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

/// Chromium, started headless, renders the sample run's summary and store pages (the
/// run of the README's first command: with the night before as its state): no console
/// message (the pages hold no script and fetch nothing; the CSP would report any), every
/// section with lines on some store's page, every chart drawn, and screenshots kept
/// under target/ (CARGO_TARGET_TMPDIR/report-screenshots). Needs `chromium`
/// (scripts/test installs it).
#[test]
fn summary_renders_in_a_headless_browser() {
    let ws = Workspace::new();
    ws.copy_repo_dir("sample-data");
    ws.copy_repo_dir("rules");
    let state = ws.path("state");
    copy_dir(&ws.path("sample-data/baseline-2026-11-24"), &state);
    let (o, run_dir) = run_into(
        &ws.path("sample-data/job.toml"),
        &ws.path("runs"),
        Some(&state),
        &[],
    );
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let reports = run_dir.join("reports");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let dom = render(&reports.join("summary.html"), &shots.join("summary.png"));
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
    for chart in [
        "chart-kinds",
        "chart-categories",
        "chart-accuracy",
        "chart-trend",
    ] {
        assert!(
            dom.contains(&format!("<svg class=\"chart\" id=\"{chart}\"")),
            "{chart} on the summary"
        );
    }
    assert!(
        dom.contains("counted, but the book does not list it"),
        "kinds in words"
    );

    // Each section is on every store page; each has lines on at least one of them, and
    // all of them on the first store's page.
    let mut with_lines = std::collections::BTreeSet::new();
    for store in ["BOS-01", "NYC-02", "PDX-03", "SEA-04", "DEN-05"] {
        let mut on_this_page = std::collections::BTreeSet::new();
        let page = render(
            &reports.join(format!("locations/{store}.html")),
            &shots.join(format!("{store}.png")),
        );
        for chart in ["chart-kinds", "chart-categories"] {
            assert!(
                page.contains(&format!("id=\"{chart}\"")),
                "{chart} on {store}"
            );
        }
        for (id, title) in SECTIONS {
            let start = page
                .find(&format!("<section id=\"{id}\""))
                .unwrap_or_else(|| panic!("section {id} on {store}"));
            let head = &page[start..start + page[start..].find("</h2>").unwrap()];
            assert!(head.contains(title), "{head}");
            let count: u64 = head
                .split("<span class=\"count\">")
                .nth(1)
                .and_then(|r| r.split('<').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a count in {head}"));
            if count > 0 {
                with_lines.insert(id);
                on_this_page.insert(id);
            }
        }
        if store == "BOS-01" {
            assert_eq!(
                on_this_page.len(),
                SECTIONS.len(),
                "every section has lines on the BOS-01 page: {on_this_page:?}"
            );
        }
        if store == "DEN-05" {
            // The store where the retail rules show: how each pair was matched, the case
            // count, the movements, the conflict, and what to fix for the findings.
            for shown in [
                "matched by gtin",
                "matched by alias",
                "2 Case × 12",
                "-1 moved after 2026-11-26T01:00:00Z",
                "explained",
                "check digit 7, expected 8",
                "Box (count) cannot convert to Kg (mass)",
                "counted 1 fewer than the book says",
            ] {
                assert!(
                    page.contains(shown),
                    "{shown:?} on the DEN-05 page:\n{page}"
                );
            }
        }
    }
    let all: std::collections::BTreeSet<&str> = SECTIONS.iter().map(|(id, _)| *id).collect();
    assert_eq!(with_lines, all, "the sample shows every section");
    assert!(shots.join("summary.png").metadata().unwrap().len() > 10_000);
}

const SECTIONS: [(&str, &str); 7] = [
    ("recount", "Recount these"),
    ("corrected", "Corrected automatically"),
    ("approval", "Waiting for approval"),
    ("conflicts", "Conflicts"),
    ("review", "For you to decide"),
    ("not-compared", "Could not be compared"),
    ("tolerance", "Within tolerance"),
];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// The DOM of a page as headless Chromium renders it, with its screenshot saved to
/// `shot`; fails on any console message the page causes.
fn render(page: &Path, shot: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let common = [
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    let chromium = |extra: &[String]| {
        let output = Command::new("chromium")
            .args(&common)
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium is installed (scripts/test installs it)");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stderr}");
        // A page's console messages (errors, CSP refusals) reach the log as CONSOLE.
        let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE")).collect();
        assert!(console.is_empty(), "{}: {console:#?}", page.display());
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    chromium(&[
        "--window-size=1280,2400".into(),
        format!("--screenshot={}", shot.display()),
    ]);
    assert!(shot.is_file(), "a screenshot of {}", page.display());
    chromium(&["--dump-dom".into()])
}

/// A location with more lines than a page lists: each section shows its largest lines,
/// says how many more there are and links to the workbook that holds them all.
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
    let section = |id: &str| {
        let start = html.find(&format!("<section id=\"{id}\"")).unwrap();
        let end = start + html[start..].find("</section>").unwrap();
        html[start..end].to_string()
    };
    let tolerance = section("tolerance");
    assert!(
        tolerance.contains(&format!(
            "{} more are in <a href=\"../../discrepancies.xlsx\">discrepancies.xlsx</a>",
            590 - tally::report::SECTION_LINES
        )),
        "{tolerance}"
    );
    assert_eq!(
        tolerance.matches("<code>A").count(),
        tally::report::SECTION_LINES,
        "one row per line shown"
    );
    // Every line a person must see is on the page, in its own section.
    let review = section("review");
    assert!(!review.contains("more are in"));
    for i in (0..600).step_by(60) {
        assert!(review.contains(&format!("<code>A{i:04}</code>")), "A{i:04}");
    }
}

/// The trend finds the job's earlier runs wherever each night was written: through the
/// state folder's record of the runs that stored its baseline, and through the job's
/// audit ledger; another job's runs are not in it.
#[test]
fn the_trend_finds_earlier_runs_through_the_state_folder_and_the_ledger() {
    let ws = Workspace::csv_job(BOOK_CSV, COUNT_CSV);
    let earlier_ids = |dir: &Path| -> Vec<String> {
        let html = std::fs::read_to_string(dir.join("reports/summary.html")).unwrap();
        let start = html.find("<table class=\"trend\">").expect("a trend table");
        let table = &html[start..start + html[start..].find("</table>").unwrap()];
        regex::Regex::new(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
            .unwrap()
            .find_iter(table)
            .map(|m| m.as_str().to_string())
            .collect()
    };
    let id = |dir: &Path| dir.file_name().unwrap().to_string_lossy().into_owned();
    let state = ws.path("state");
    let (_, first) = run_into(&ws.path("job.toml"), &ws.path("night-1"), Some(&state), &[]);
    // Run ids are to the second: the next night starts later.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, second) = run_into(&ws.path("job.toml"), &ws.path("night-2"), Some(&state), &[]);
    assert_eq!(earlier_ids(&second), [id(&first), id(&second)]);

    ws.write(
        "ledger-job.toml",
        format!("ledger = \"ledger.jsonl\"\n{CSV_JOB}"),
    );
    let (_, third) = run_into(&ws.path("ledger-job.toml"), &ws.path("night-3"), None, &[]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_, fourth) = run_into(&ws.path("ledger-job.toml"), &ws.path("night-4"), None, &[]);
    assert_eq!(
        earlier_ids(&fourth),
        [id(&third), id(&fourth)],
        "the ledger's runs of this job, not job.toml's"
    );
}
