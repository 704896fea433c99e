//! Helpers: a temporary workspace with a job, rules and data files, and the binary.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

pub fn tally() -> Command {
    Command::cargo_bin("tally").expect("the tally binary is built")
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Output {
    let out = tally().args(args).output().expect("tally runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A folder holding a job, its rules and its inputs.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

/// Rules used by most fixtures: trim + uppercase, every difference to review.
pub const PLAIN_RULES: &str = r#"
[normalize]
steps = [{ op = "trim" }, { op = "uppercase" }]

[defaults]
severity = "medium"
resolution = "review"

[[rules]]
name = "equal-enough"
kind = "absolute_qty"
max = "0.5"
applies_to = ["qty_mismatch"]
severity = "info"
resolution = "ignore"
"#;

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Copies a folder of the repository (and everything in it) into the workspace.
    pub fn copy_repo_dir(&self, from: &str) {
        let src = Path::new(REPO).join(from);
        for entry in walk(&src) {
            let rel = entry.strip_prefix(&src).unwrap();
            self.write(
                &format!("{from}/{}", rel.display()),
                std::fs::read(&entry).unwrap(),
            );
        }
    }

    /// The sample's baseline of the night before, copied to `state/` (a run replaces
    /// the baseline in its state folder); returns the folder.
    pub fn sample_baseline(&self) -> PathBuf {
        let baseline = Path::new(REPO).join("sample-data/baseline-2026-11-24");
        for f in ["baseline.parquet", "baseline.json"] {
            self.write(
                &format!("state/{f}"),
                std::fs::read(baseline.join(f)).unwrap(),
            );
        }
        self.path("state")
    }

    pub fn copy_fixture(&self, name: &str, rel: &str) -> PathBuf {
        let bytes = std::fs::read(Path::new(REPO).join("tests/fixtures").join(name)).unwrap();
        self.write(rel, bytes)
    }

    /// Runs `tally run job.toml --out runs` in the workspace.
    pub fn run_job(&self, job: &str) -> Output {
        let job = self.path(job);
        let out = self.path("runs");
        run(&["run", job.to_str().unwrap(), "--out", out.to_str().unwrap()])
    }

    /// The run directories under `runs/` (hidden staging folders included, so that a
    /// half-written run would be seen).
    pub fn run_dirs(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.path("runs")) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn only_run_dir(&self) -> PathBuf {
        let dirs = self.run_dirs();
        assert_eq!(dirs.len(), 1, "exactly one run directory: {dirs:?}");
        dirs.into_iter().next().unwrap()
    }
}

pub fn manifest(run_dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(run_dir.join("manifest.json")).unwrap()).unwrap()
}

/// The discrepancies CSV as records keyed by header.
pub fn discrepancies(run_dir: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    read_csv(&run_dir.join("discrepancies.csv"))
}

pub fn read_csv(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Asserts the manifest's per-side counts tie out.
pub fn assert_ties_out(m: &Value) {
    assert_eq!(m["ties_out"], true);
    for p in m["pairings"].as_array().unwrap() {
        assert_eq!(p["ties_out"], true, "pairing {} ties out", p["name"]);
        for side in ["book", "observed"] {
            let t = &p[side];
            let r = &t["rejected"];
            let sum = ["matched", "unmatched", "duplicate"]
                .iter()
                .map(|k| t[k].as_u64().unwrap())
                .sum::<u64>()
                + ["invalid_row", "unknown_unit", "invalid_gtin", "not_stocked"]
                    .iter()
                    .map(|k| r[k].as_u64().unwrap())
                    .sum::<u64>();
            assert_eq!(sum, t["rows"].as_u64().unwrap(), "{side} of {}", p["name"]);
        }
    }
}

/// A two-source CSV job: `book.csv` (SKU, Store, Qty, Cost) against `count.csv`
/// (Item, Store, Counted), with PLAIN_RULES.
pub const CSV_JOB: &str = r#"
rules = "rules.toml"

[sources.book]
kind = "csv"
path = "book.csv"

[sources.book.columns]
sku = "SKU"
location = "Store"
qty = "Qty"
unit_cost = "Cost"

[sources.count]
kind = "csv"
path = "count.csv"

[sources.count.columns]
sku = "Item"
location = "Store"
qty = "Counted"

[[pairings]]
name = "store-count"
book = "book"
observed = "count"
"#;

pub const BOOK_CSV: &str = "SKU,Store,Qty,Cost\nA1,S1,10,2.50\nA2,S1,5,1.25\nA3,S1,7,4.00\n";
pub const COUNT_CSV: &str = "Item,Store,Counted\na1,S1,10\nA2 ,S1,3\nA4,S1,1\n";

impl Workspace {
    /// A workspace holding CSV_JOB with the given inputs.
    pub fn csv_job(book: impl AsRef<[u8]>, count: impl AsRef<[u8]>) -> Workspace {
        let ws = Workspace::new();
        ws.write("job.toml", CSV_JOB);
        ws.write("rules.toml", PLAIN_RULES);
        ws.write("book.csv", book);
        ws.write("count.csv", count);
        ws
    }
}

/// 40 stores of 25 items, with every kind of difference (CSV_JOB, PLAIN_RULES).
pub fn many_stores() -> Workspace {
    let mut book = String::from("SKU,Store,Qty,Cost\n");
    let mut count = String::from("Item,Store,Counted\n");
    for s in 0..40 {
        for i in 0..25 {
            let (sku, store) = (format!("A{i}"), format!("ST-{s:02}"));
            let qty = (s * 7 + i * 3) % 17;
            if (s + i) % 11 != 0 {
                book.push_str(&format!(
                    "{sku},{store},{qty},{}.{:02}\n",
                    1 + i % 5,
                    (s * i) % 100
                ));
            }
            let counted = match (s * 31 + i * 17) % 13 {
                0 => qty as i64 + 1,
                1 => qty as i64 - 2,
                2 => continue,
                3 => -1,
                _ => qty as i64,
            };
            count.push_str(&format!(" {} ,{store},{counted}\n", sku.to_lowercase()));
            if (s + i) % 29 == 0 {
                count.push_str(&format!("{sku},{store},{counted}\n"));
            }
        }
    }
    Workspace::csv_job(book, count)
}

/// `tally run JOB --out OUT [--state STATE] EXTRA...`: the output, and the run directory
/// it wrote (the only one in OUT).
pub fn run_into(job: &Path, out: &Path, state: Option<&Path>, extra: &[&str]) -> (Output, PathBuf) {
    let mut args = vec!["run", job.to_str().unwrap(), "--out", out.to_str().unwrap()];
    if let Some(state) = state {
        args.extend(["--state", state.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    let o = run(&args);
    let written = if out.exists() { dirs(out) } else { Vec::new() };
    match written.as_slice() {
        [dir] => {
            let dir = dir.clone();
            (o, dir)
        }
        _ => panic!(
            "one run directory in {}, found {written:?}: {}{}",
            out.display(),
            o.stdout,
            o.stderr
        ),
    }
}

/// The process's ODBC environment (one per process, as odbc-api wants).
pub fn odbc_env() -> &'static odbc_api::Environment {
    static ENV: std::sync::OnceLock<odbc_api::Environment> = std::sync::OnceLock::new();
    ENV.get_or_init(|| odbc_api::Environment::new().expect("an ODBC environment"))
}

/// A connection through the real driver, found by name as tally finds it (the vendored
/// driver manager reads no odbcinst.ini of its own); fails loudly, saying how to fix it.
pub fn odbc_connect(connection: &str, how_to_fix: &str) -> odbc_api::Connection<'static> {
    let resolved = tally::odbc::connect::resolve(connection, Path::new("."), "test").unwrap();
    odbc_env()
        .connect_with_connection_string(&resolved.text, odbc_api::ConnectionOptions::default())
        .unwrap_or_else(|e| panic!("cannot connect to {connection} ({e}); {how_to_fix}"))
}

/// Runs statements (test setup).
pub fn odbc_exec(conn: &odbc_api::Connection<'_>, statements: &[&str]) {
    for s in statements {
        conn.execute(s, (), None)
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

/// The first column of the first row, as text.
pub fn odbc_query_one(conn: &odbc_api::Connection<'_>, sql: &str) -> String {
    use odbc_api::Cursor;
    let mut cursor = conn
        .execute(sql, (), None)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a result set");
    let mut row = cursor.next_row().unwrap().expect("a row");
    let mut out = Vec::new();
    row.get_text(1, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

pub const SQLITE_HOW_TO_FIX: &str =
    "install the SQLite ODBC driver (scripts/test installs libsqliteodbc)";

/// The record of the baseline in a state folder.
pub fn baseline_info(state: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(state.join("baseline.json")).unwrap()).unwrap()
}

pub fn dirs(out: &Path) -> Vec<PathBuf> {
    let mut d: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    d.sort();
    d
}

pub fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out.sort();
    out
}

/// Two run directories hold the same run: same files, same texts (run id and time
/// aside), same manifest figures.
pub fn assert_same_run(single: &Path, merged: &Path) {
    let rel = |d: &Path| -> Vec<String> {
        files(d)
            .into_iter()
            .map(|f| {
                f.strip_prefix(&d.display().to_string())
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(rel(single), rel(merged), "the same files");
    let (a, b) = (manifest(single), manifest(merged));
    let id_a = a["run_id"].as_str().unwrap();
    let id_b = b["run_id"].as_str().unwrap();
    let stamp = |m: &Value| m["started_at"].as_str().unwrap()[..19].to_string();
    for f in rel(single) {
        // Binary files: the parquet holds what the CSV shows; a workbook also records when
        // it was made.
        if f.ends_with("manifest.json") || f.ends_with(".parquet") || f.ends_with(".xlsx") {
            continue;
        }
        let x = std::fs::read_to_string(single.join(f.trim_start_matches('/'))).unwrap();
        let y = std::fs::read_to_string(merged.join(f.trim_start_matches('/'))).unwrap();
        let y = y.replace(id_b, id_a).replace(&stamp(&b), &stamp(&a));
        assert!(x == y, "{f} differs:\n--- single\n{x}\n--- merged\n{y}");
    }
    for key in [
        "discrepancies",
        "corrections",
        "pairings",
        "ties_out",
        "outcome",
        "exit_code",
        "job",
        "rules",
    ] {
        assert_eq!(a[key], b[key], "manifest {key}");
    }
    let inputs = |m: &Value| -> Vec<Value> {
        m["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let mut i = i.clone();
                i.as_object_mut().unwrap().remove("extracted_at");
                i
            })
            .collect()
    };
    assert_eq!(inputs(&a), inputs(&b));
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
