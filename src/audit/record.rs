//! What a run records for its auditors: its lines in the run directory
//! (`audit/lines.jsonl`, one canonical JSON object per discrepancy line, and
//! `audit/leaves.bin`, their hash tree's leaves) and three ledger entries: the run's
//! header, its lines' root, and its footer with the manifest's hash.

use anyhow::Result;
use polars::prelude::*;
use serde_json::{Value, json};

use super::ledger::EntryKind;
use super::merkle::{self, Hash};
use crate::write::manifest::Manifest;

/// The run directory's file of line records.
pub const LINES_FILE: &str = "audit/lines.jsonl";
/// Their leaves, 32 bytes each, in line order.
pub const LEAVES_FILE: &str = "audit/leaves.bin";
/// The chain's head after the run's entries (written after the manifest, so not in it).
pub const HEAD_FILE: &str = "audit/head.json";

/// The line records and their leaves: per line one canonical JSON array of its cells
/// as the CSV shows them (null where a cell is empty), in the order of `columns`.
pub fn line_records(shown: &DataFrame) -> Result<(Vec<String>, Vec<u8>, Vec<Hash>)> {
    // Columns empty on every line (units, movements, baseline on a plain job) are left
    // out of this run's records; `columns` says which are in.
    let kept: Vec<&Column> = shown
        .columns()
        .iter()
        .filter(|c| c.null_count() < c.len())
        .collect();
    let names: Vec<String> = kept.iter().map(|c| c.name().to_string()).collect();
    let texts: Vec<StringChunked> = kept
        .iter()
        .map(|c| -> Result<StringChunked> {
            Ok(c.cast(&DataType::String)?.str()?.rechunk().into_owned())
        })
        .collect::<Result<_>>()?;
    // Rows in blocks on all cores; the blocks are joined in order.
    use rayon::prelude::*;
    const BLOCK: usize = 16_384;
    let starts: Vec<usize> = (0..shown.height()).step_by(BLOCK).collect();
    let blocks: Vec<(Vec<u8>, Vec<Hash>)> = starts
        .par_iter()
        .map(|&first| {
            let last = (first + BLOCK).min(shown.height());
            let arrays: Vec<_> = texts
                .iter()
                .map(|t| t.downcast_iter().next().expect("rechunked: one array"))
                .collect();
            let mut out = Vec::with_capacity((last - first) * 160);
            let mut leaves = Vec::with_capacity(last - first);
            for row in first..last {
                let start = out.len();
                out.push(b'[');
                for (i, array) in arrays.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    match array.get(row) {
                        Some(value) => json_string(value, &mut out),
                        None => out.extend_from_slice(b"null"),
                    }
                }
                out.push(b']');
                leaves.push(merkle::leaf(&out[start..]));
                out.push(b'\n');
            }
            (out, leaves)
        })
        .collect();
    let mut out = Vec::with_capacity(blocks.iter().map(|b| b.0.len()).sum());
    let mut leaves = Vec::with_capacity(shown.height());
    for (bytes, block_leaves) in blocks {
        out.extend_from_slice(&bytes);
        leaves.extend(block_leaves);
    }
    Ok((names, out, leaves))
}

/// A JSON string as canonical.rs writes it (serde_json's escaping), without a call per
/// cell where nothing needs escaping, which is nearly every cell.
fn json_string(value: &str, out: &mut Vec<u8>) {
    if value.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        serde_json::to_writer(&mut *out, value).expect("a string serialises");
    } else {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

/// The leaves file's bytes.
pub fn leaves_bytes(leaves: &[Hash]) -> Vec<u8> {
    leaves.concat()
}

/// The run's three entries.
pub fn run_entries(
    manifest: &Manifest,
    run_dir: &std::path::Path,
    operator: Option<&str>,
    cut_offs: Value,
    columns: &[String],
    leaves: &[Hash],
    manifest_sha256: &str,
) -> Result<Vec<(EntryKind, Value)>> {
    let m = serde_json::to_value(manifest)?;
    let header = json!({
        "run_id": manifest.run_id,
        "run_dir": std::path::absolute(run_dir)
            .unwrap_or_else(|_| run_dir.to_path_buf())
            .display()
            .to_string(),
        "engine": m["engine"],
        "job": m["job"],
        "rules": m["rules"],
        "inputs": m["inputs"],
        "rules_in_force": m["rules_in_force"],
        "precision": m["precision"],
        "default_decision": m["default_decision"],
        "cut_offs": cut_offs,
        "locations": m["locations"],
        "shard": m["shard"],
        "operator": {
            "os_user": super::identity::os_user(),
            "name": operator,
        },
        "host": super::identity::host(),
        "started_at": m["started_at"],
    });
    let lines = json!({
        "run_id": manifest.run_id,
        "count": leaves.len(),
        "columns": columns,
        "by_kind": m["discrepancies"]["by_kind"],
        "merkle_root": merkle::hex(&merkle::root(leaves)),
        "file": LINES_FILE,
        "leaves": LEAVES_FILE,
    });
    let footer = json!({
        "run_id": manifest.run_id,
        "ties_out": manifest.ties_out,
        "pairings": m["pairings"],
        "outcome": m["outcome"],
        "finished_at": m["finished_at"],
        "manifest_sha256": manifest_sha256,
    });
    Ok(vec![
        (EntryKind::RunHeader, header),
        (EntryKind::Lines, lines),
        (EntryKind::RunFooter, footer),
    ])
}
