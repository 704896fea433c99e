//! `tally audit verify`: the chain, link by link, then each run it records against its
//! run directory when that is still where the header says: the manifest's hash, the
//! lines' hash tree (naming a changed line), and the head the run wrote, which catches
//! entries removed from the end of the file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use super::ledger::{Break, Entry, EntryKind, Head, read_chain};
use super::merkle::{self, Hash};
use super::record::{HEAD_FILE, LEAVES_FILE, LINES_FILE};

/// What verify found.
#[derive(Debug, Default)]
pub struct Report {
    /// Entries whose links hold.
    pub entries: u64,
    pub runs: u64,
    /// Runs whose directory was checked.
    pub runs_checked: u64,
    /// The first break in the chain, worded.
    pub chain: Option<String>,
    /// The file ends inside an entry (a crash mid-append), after this many good ones.
    pub truncated: Option<String>,
    /// Problems found in run directories.
    pub runs_wrong: Vec<String>,
    /// Run directories not found (archived or moved): not checked, not wrong.
    pub runs_missing: Vec<String>,
    /// What a signed checkpoint given found wrong.
    pub checkpoint: Option<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.chain.is_none()
            && self.truncated.is_none()
            && self.runs_wrong.is_empty()
            && self.checkpoint.is_none()
    }
}

/// Verifies the ledger; with a checkpoint and the public key the auditor trusts, also
/// that the chain still holds the signed head.
pub fn verify(
    ledger: &Path,
    checkpoint: Option<(&super::checkpoint::Checkpoint, &str)>,
) -> Result<Report> {
    let text = std::fs::read(ledger)
        .with_context(|| format!("cannot read the ledger {}", ledger.display()))?;
    let (entries, broken) = read_chain(&text);
    let mut report = Report {
        entries: entries.len() as u64,
        ..Default::default()
    };
    let name = ledger.display();
    match broken {
        None => {}
        Some(Break::Truncated { line, after_seq }) => {
            report.truncated = Some(format!(
                "{name}:{line}: the file ends inside an entry after seq {after_seq}: an append \
                 that did not finish (a crash); every entry before it verifies, and the next \
                 run removes the unfinished one and continues the chain"
            ));
        }
        Some(Break::Bad { line, seq, what }) => {
            let seq = seq.map_or(String::new(), |s| format!(" (seq {s})"));
            report.chain = Some(format!("{name}:{line}: the entry{seq} {what}"));
        }
    }
    if let Some((checkpoint, trusted)) = checkpoint {
        report.checkpoint = super::checkpoint::check(checkpoint, trusted, &entries)?;
    }
    // A signed approval's signature, over what the entry says was approved.
    for e in entries.iter().filter(|e| e.kind == EntryKind::Approval) {
        let (Some(key), Some(sig)) = (e.body["public_key"].as_str(), e.body["signature"].as_str())
        else {
            continue;
        };
        let record = crate::approve::ApprovalRecord {
            run_id: e.body["run_id"].as_str().unwrap_or("").to_string(),
            lines: e.body["lines"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default(),
            by: e.body["name"].as_str().unwrap_or("").to_string(),
            at: String::new(),
            os_user: None,
            line_hashes: e.body["line_hashes"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(l, h)| Some((l.parse().ok()?, h.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
            public_key: None,
            signature: None,
        };
        if !super::checkpoint::signed_by(key, &record.signed_message(), sig) {
            report.runs_wrong.push(format!(
                "{name}:{}: the approval (seq {}) of run {} is not signed by the key it names",
                e.line, e.seq, record.run_id
            ));
        }
    }
    let last_seq = entries.last().map_or(0, |e| e.seq);
    let recorded_runs = runs(&entries);
    for run in &recorded_runs {
        report.runs += 1;
        let dir = PathBuf::from(run.header.body["run_dir"].as_str().unwrap_or(""));
        if !dir.join("manifest.json").is_file() {
            report
                .runs_missing
                .push(format!("{}: {}", run.id, dir.display()));
            continue;
        }
        report.runs_checked += 1;
        for problem in check_run(run, &dir, &entries, last_seq) {
            report
                .runs_wrong
                .push(format!("run {} ({}): {problem}", run.id, dir.display()));
        }
    }
    // Runs whose entries are gone altogether (the end of the file cut off, or rewritten
    // without them) still have their directories beside the recorded ones: each holds
    // the head its run left, which the chain must reach.
    let recorded: std::collections::BTreeSet<String> =
        recorded_runs.iter().map(|r| r.id.clone()).collect();
    let this = std::fs::canonicalize(ledger).ok();
    let folders: std::collections::BTreeSet<PathBuf> = recorded_runs
        .iter()
        .filter_map(|r| {
            Path::new(r.header.body["run_dir"].as_str()?)
                .parent()
                .map(Path::to_path_buf)
        })
        .collect();
    for folder in folders {
        let Ok(listing) = std::fs::read_dir(&folder) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = listing.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            let Some(head) = std::fs::read(dir.join(HEAD_FILE))
                .ok()
                .and_then(|t| serde_json::from_slice::<Head>(&t).ok())
            else {
                continue;
            };
            let id = dir
                .file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into());
            if recorded.contains(&id) || std::fs::canonicalize(&head.ledger).ok() != this {
                continue;
            }
            let reached = entries
                .iter()
                .any(|e| e.seq == head.seq && e.hash == head.hash);
            if !reached {
                report.runs_wrong.push(format!(
                    "run {id} ({}): its directory says it appended up to seq {}, but the \
                     ledger does not hold that entry (it ends at seq {last_seq}): its \
                     entries were removed",
                    dir.display(),
                    head.seq
                ));
            }
        }
    }
    Ok(report)
}

/// One run's entries.
struct Run<'a> {
    id: String,
    header: &'a Entry,
    lines: Option<&'a Entry>,
    footer: Option<&'a Entry>,
}

fn runs(entries: &[Entry]) -> Vec<Run<'_>> {
    let mut out: Vec<Run> = Vec::new();
    for e in entries {
        let id = e.body["run_id"].as_str().unwrap_or("").to_string();
        match e.kind {
            EntryKind::RunHeader => out.push(Run {
                id,
                header: e,
                lines: None,
                footer: None,
            }),
            EntryKind::Sample
            | EntryKind::Approval
            | EntryKind::Posting
            | EntryKind::Verification => {}
            EntryKind::Lines | EntryKind::RunFooter => {
                if let Some(run) = out.iter_mut().rev().find(|r| r.id == id) {
                    match e.kind {
                        EntryKind::Lines => run.lines = Some(e),
                        _ => run.footer = Some(e),
                    }
                }
            }
        }
    }
    out
}

fn check_run(run: &Run, dir: &Path, entries: &[Entry], last_seq: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let (Some(lines), Some(footer)) = (run.lines, run.footer) else {
        problems.push("its lines or footer entry is missing from the ledger".into());
        return problems;
    };
    // The manifest, byte for byte.
    match std::fs::read(dir.join("manifest.json")) {
        Ok(bytes) => {
            let hash = crate::values::sha256_hex(&bytes);
            if Some(hash.as_str()) != footer.body["manifest_sha256"].as_str() {
                problems.push("manifest.json is not the one the ledger recorded".into());
            }
        }
        Err(e) => problems.push(format!("cannot read manifest.json: {e}")),
    }
    problems.extend(check_lines(lines, dir));
    // The head the run wrote: the chain must still reach it, unchanged.
    if let Ok(text) = std::fs::read(dir.join(HEAD_FILE))
        && let Ok(head) = serde_json::from_slice::<Head>(&text)
    {
        match entries.iter().find(|e| e.seq == head.seq) {
            Some(e) if e.hash == head.hash => {}
            Some(_) => problems.push(format!(
                "the ledger's entry {} is not the one this run appended ({HEAD_FILE}): \
                 the chain was rewritten",
                head.seq
            )),
            None => problems.push(format!(
                "the ledger ends at seq {last_seq}, but this run appended up to seq {} \
                 ({HEAD_FILE}): entries were removed from its end",
                head.seq
            )),
        }
    }
    problems
}

/// The lines' hash tree against the root the chain holds; a mismatch names the first
/// line that differs from the leaves the run wrote (when those still agree with the
/// root), or says that both were changed.
fn check_lines(entry: &Entry, dir: &Path) -> Vec<String> {
    let root = entry.body["merkle_root"].as_str().unwrap_or("");
    let count = entry.body["count"].as_u64().unwrap_or(0) as usize;
    let text = match std::fs::read(dir.join(LINES_FILE)) {
        Ok(t) => t,
        Err(e) => return vec![format!("cannot read {LINES_FILE}: {e}")],
    };
    let records: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let leaves: Vec<Hash> = records.iter().map(|r| merkle::leaf(r)).collect();
    if merkle::hex(&merkle::root(&leaves)) == root && leaves.len() == count {
        return Vec::new();
    }
    let stored: Vec<Hash> = std::fs::read(dir.join(LEAVES_FILE))
        .map(|b| {
            b.chunks_exact(32)
                .map(|c| c.try_into().expect("32 bytes"))
                .collect()
        })
        .unwrap_or_default();
    if merkle::hex(&merkle::root(&stored)) != root {
        return vec![format!(
            "{LINES_FILE} does not match the ledger's root, and {LEAVES_FILE} was changed too"
        )];
    }
    let line_column = entry.body["columns"]
        .as_array()
        .and_then(|c| c.iter().position(|n| n.as_str() == Some("line")));
    let line_of = |i: usize| -> String {
        records
            .get(i)
            .and_then(|r| serde_json::from_slice::<Value>(r).ok())
            .and_then(|v| v.get(line_column?)?.as_str().map(String::from))
            .map_or(String::new(), |l| format!(" (discrepancy line {l})"))
    };
    match (0..stored.len().max(leaves.len())).find(|i| stored.get(*i) != leaves.get(*i)) {
        Some(i) if i >= leaves.len() => vec![format!(
            "{LINES_FILE} ends after record {}; the ledger recorded {count} lines (lines removed)",
            leaves.len()
        )],
        Some(i) if i >= stored.len() => vec![format!(
            "{LINES_FILE} has {} records; the ledger recorded {count} (lines added)",
            leaves.len()
        )],
        Some(i) => vec![format!(
            "{LINES_FILE}:{}: this record{} is not the one the ledger recorded (changed, \
             added, removed or moved)",
            i + 1,
            line_of(i)
        )],
        None => vec![format!("{LINES_FILE} does not match the ledger's root")],
    }
}
