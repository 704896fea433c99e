//! The ledger: one append-only JSON Lines file per job, each entry chained to the one
//! before by its hash, so that nothing can be edited, inserted, removed or reordered
//! unseen (docs/audit.md).
//!
//! An entry is one line: `{"at":…,"body":{…},"hash":…,"kind":…,"prev":…,"seq":…}` in
//! canonical form (canonical.rs). `seq` counts from 1 without gaps, `at` is UTC,
//! `prev` is the previous entry's `hash` (64 zeros for the first), and `hash` is the
//! SHA-256 of the entry's canonical form without `hash`. A run's entries are appended in
//! one write under the ledger's lock (std's `File::lock`: appenders never interleave)
//! and synced before the lock is released; a crash mid-write leaves at most an
//! unterminated last line, which `verify` reports as a clean truncation and the next
//! append removes (it was never complete, so nothing recorded is lost).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::canonical;

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A run began: its id, engine, hashes of job, rules and inputs, settings, operator.
    RunHeader,
    /// A run's discrepancy lines: their count and hash tree root (the lines themselves
    /// are in the run directory).
    Lines,
    /// A run ended: tie-out counts and the manifest's hash.
    RunFooter,
    /// An audit sample was drawn from a run: method, seed, the lines drawn.
    Sample,
    /// Someone approved held-back corrections of a run: who (OS user), which lines,
    /// with their content hashes, and the approval file.
    Approval,
    /// An apply wrote a run's corrections to a target (or failed and rolled back): the
    /// lines written, stale, without a row, and the posting reference.
    Posting,
    /// `tally verify` read the targets again: per written line, what it holds now.
    Verification,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::RunHeader => "run_header",
            EntryKind::Lines => "lines",
            EntryKind::RunFooter => "run_footer",
            EntryKind::Sample => "sample",
            EntryKind::Approval => "approval",
            EntryKind::Posting => "posting",
            EntryKind::Verification => "verification",
        }
    }

    pub fn parse(text: &str) -> Option<EntryKind> {
        [
            EntryKind::RunHeader,
            EntryKind::Lines,
            EntryKind::RunFooter,
            EntryKind::Sample,
            EntryKind::Approval,
            EntryKind::Posting,
            EntryKind::Verification,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// The chain's head after an append: its last entry's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    pub ledger: PathBuf,
    pub seq: u64,
    pub hash: String,
}

/// An entry's hash: SHA-256 of its canonical form without `hash`.
pub fn entry_hash(entry: &Value) -> String {
    let mut without = entry.clone();
    if let Value::Object(map) = &mut without {
        map.remove("hash");
    }
    format!("{:x}", Sha256::digest(canonical::to_vec(&without)))
}

/// Appends entries to the ledger (made, owner read-write and group read, when missing)
/// as one write under its lock, and returns the new head.
pub fn append(path: &Path, entries: &[(EntryKind, Value)]) -> Result<Head> {
    let mut file = crate::files::open_append(path)
        .with_context(|| format!("cannot open the ledger {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock the ledger {}", path.display()))?;
    let (mut seq, mut prev) = last_entry(&mut file, path)?;
    let mut text = Vec::new();
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    for (kind, body) in entries {
        seq += 1;
        let mut entry = json!({
            "seq": seq,
            "at": at,
            "prev": prev,
            "kind": kind.as_str(),
            "body": body,
        });
        let hash = entry_hash(&entry);
        entry["hash"] = Value::String(hash.clone());
        text.extend_from_slice(&canonical::to_vec(&entry));
        text.push(b'\n');
        prev = hash;
    }
    file.write_all(&text)
        .and_then(|()| file.sync_data())
        .with_context(|| format!("cannot append to the ledger {}", path.display()))?;
    Ok(Head {
        ledger: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        seq,
        hash: prev,
    })
}

/// The last complete entry's sequence number and hash (0 and GENESIS when there is
/// none). An unterminated last line is the remains of an append that did not finish:
/// it is cut off, and said so.
fn last_entry(file: &mut File, path: &Path) -> Result<(u64, String)> {
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut text)?;
    let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if complete < text.len() {
        eprintln!(
            "note: the ledger {} ended in an unfinished entry ({} bytes, from an append \
             that did not complete); it is removed and the chain continues",
            path.display(),
            text.len() - complete
        );
        file.set_len(complete as u64)?;
        file.sync_data()?;
    }
    let Some(last) = text[..complete]
        .split(|b| *b == b'\n')
        .rfind(|l| !l.is_empty())
    else {
        return Ok((0, GENESIS.to_string()));
    };
    let entry: Value = serde_json::from_slice(last).with_context(|| {
        format!(
            "the ledger {}'s last entry is not JSON; run `tally audit verify {}`",
            path.display(),
            path.display()
        )
    })?;
    match (entry["seq"].as_u64(), entry["hash"].as_str()) {
        (Some(seq), Some(hash)) if entry_hash(&entry) == hash => Ok((seq, hash.to_string())),
        _ => bail!(
            "the ledger {}'s last entry is damaged (its hash does not match); nothing was \
             appended: run `tally audit verify {}`",
            path.display(),
            path.display()
        ),
    }
}

/// One entry as read back.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its line in the file, from 1.
    pub line: usize,
    pub seq: u64,
    pub kind: EntryKind,
    pub hash: String,
    pub body: Value,
}

/// What reading the chain found wrong first, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The file ends inside an entry: an append that did not finish.
    Truncated { line: usize, after_seq: u64 },
    /// An entry that is not what the chain says it must be.
    Bad {
        line: usize,
        seq: Option<u64>,
        what: String,
    },
}

/// Reads the chain, checking every link; the entries up to the first break, and it.
pub fn read_chain(text: &[u8]) -> (Vec<Entry>, Option<Break>) {
    let mut entries = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut expected = 1u64;
    let mut start = 0;
    let mut line = 0;
    while start < text.len() {
        line += 1;
        let Some(end) = text[start..].iter().position(|b| *b == b'\n') else {
            return (
                entries,
                Some(Break::Truncated {
                    line,
                    after_seq: expected - 1,
                }),
            );
        };
        let raw = &text[start..start + end];
        start += end + 1;
        let bad = |seq: Option<u64>, what: String| Some(Break::Bad { line, seq, what });
        let entry: Value = match serde_json::from_slice(raw) {
            Ok(v) => v,
            Err(e) => return (entries, bad(None, format!("not a JSON entry ({e})"))),
        };
        let seq = entry["seq"].as_u64();
        let (Some(s), Some(hash), Some(p), Some(kind)) = (
            seq,
            entry["hash"].as_str(),
            entry["prev"].as_str(),
            entry["kind"].as_str(),
        ) else {
            return (entries, bad(seq, "lacks seq, prev, kind or hash".into()));
        };
        if canonical::to_vec(&entry) != raw {
            return (
                entries,
                bad(seq, "is not in canonical form (edited by hand?)".into()),
            );
        }
        if entry_hash(&entry) != hash {
            return (
                entries,
                bad(seq, "its content does not match its hash (edited)".into()),
            );
        }
        if s != expected {
            let what = if s < expected {
                format!(
                    "sequence {s} after {} (reordered or repeated)",
                    expected - 1
                )
            } else {
                format!("sequence {s} where {expected} was due (entries removed before it)")
            };
            return (entries, bad(seq, what));
        }
        if p != prev {
            return (
                entries,
                bad(
                    seq,
                    "its prev is not the hash of the entry before (inserted, removed or reordered)"
                        .into(),
                ),
            );
        }
        let Some(kind) = EntryKind::parse(kind) else {
            return (entries, bad(seq, format!("unknown kind {kind:?}")));
        };
        prev = hash.to_string();
        expected += 1;
        entries.push(Entry {
            line,
            seq: s,
            kind,
            hash: hash.to_string(),
            body: entry["body"].clone(),
        });
    }
    (entries, None)
}
