//! `tally audit show RUN_DIR`: what the ledger holds of one run, as text a person reads:
//! who ran it where, what it read (with hashes), the settings in force, its lines, the
//! approvals, postings and samples, and how its counts tie out.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::ledger::{EntryKind, Head, read_chain};
use super::record::HEAD_FILE;

pub fn show(run_dir: &Path) -> Result<String> {
    let head: Head =
        serde_json::from_slice(&std::fs::read(run_dir.join(HEAD_FILE)).with_context(|| {
            format!(
                "{} was not recorded in a ledger (its job has no `ledger`)",
                run_dir.display()
            )
        })?)?;
    let manifest = crate::write::read::read_manifest(run_dir)?;
    let text = std::fs::read(&head.ledger)
        .with_context(|| format!("cannot read the ledger {}", head.ledger.display()))?;
    let (entries, broken) = read_chain(&text);
    let run = manifest.run_id.as_str();
    let mine: Vec<_> = entries
        .iter()
        .filter(|e| e.body["run_id"].as_str() == Some(run))
        .collect();
    if mine.is_empty() {
        bail!(
            "the ledger {} holds nothing of run {run}",
            head.ledger.display()
        );
    }
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "run {run}  (ledger {})", head.ledger.display())?;
    if let Some(b) = broken {
        writeln!(
            w,
            "  WARNING: the chain breaks ({b:?}); run `tally audit verify`"
        )?;
    }
    for e in mine {
        let b = &e.body;
        write!(w, "\n[seq {} · {}] ", e.seq, e.kind.as_str())?;
        match e.kind {
            EntryKind::RunHeader => {
                writeln!(w, "started {}", s(&b["started_at"]))?;
                writeln!(
                    w,
                    "  operator: OS user {}{} on {}",
                    s(&b["operator"]["os_user"]),
                    b["operator"]["name"]
                        .as_str()
                        .map_or(String::new(), |n| format!(" ({n})")),
                    s(&b["host"])
                )?;
                writeln!(
                    w,
                    "  engine: {} {}",
                    s(&b["engine"]["name"]),
                    s(&b["engine"]["version"])
                )?;
                writeln!(
                    w,
                    "  job:   {}  sha256 {}",
                    s(&b["job"]["path"]),
                    s(&b["job"]["sha256"])
                )?;
                writeln!(
                    w,
                    "  rules: {}  sha256 {}",
                    s(&b["rules"]["path"]),
                    s(&b["rules"]["sha256"])
                )?;
                for i in b["inputs"].as_array().into_iter().flatten() {
                    writeln!(
                        w,
                        "  input {}: {} ({} bytes, {} rows, read {})  sha256 {}",
                        s(&i["source"]),
                        s(&i["path"]),
                        i["size"],
                        i["rows"],
                        s(&i["extracted_at"]),
                        s(&i["sha256"])
                    )?;
                }
                for (source, at) in b["cut_offs"].as_object().into_iter().flatten() {
                    writeln!(w, "  cut-off {source}: {}", s(at))?;
                }
                let p = &b["precision"];
                writeln!(
                    w,
                    "  money: {} places, {}; quantities: {} places",
                    p["money"]["scale"],
                    s(&p["money"]["rounding"]),
                    p["quantity"]["scale"]
                )?;
                for r in b["rules_in_force"].as_array().into_iter().flatten() {
                    let max = r["max"]
                        .as_str()
                        .map_or(String::new(), |m| format!(" ≤ {m}"));
                    let on: Vec<String> = r["applies_to"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(s)
                        .collect();
                    writeln!(
                        w,
                        "  rule {}: {}{max} → {} ({}) on {}",
                        s(&r["name"]),
                        s(&r["kind"]),
                        s(&r["resolution"]),
                        s(&r["severity"]),
                        on.join(", ")
                    )?;
                }
            }
            EntryKind::Lines => {
                writeln!(
                    w,
                    "{} lines, hash tree root {}",
                    b["count"],
                    s(&b["merkle_root"])
                )?;
                for (kind, n) in b["by_kind"].as_object().into_iter().flatten() {
                    writeln!(w, "  {kind:<20} {n}")?;
                }
            }
            EntryKind::Approval => writeln!(
                w,
                "approved by {} (OS user {}) at {}: lines {}",
                s(&b["name"]),
                s(&b["os_user"]),
                s(&b["at"]),
                b["lines"]
            )?,
            EntryKind::Posting => match b["outcome"].as_str() {
                Some("failed") => writeln!(
                    w,
                    "write-back to {} FAILED and was rolled back: {}",
                    s(&b["source"]),
                    s(&b["message"])
                )?,
                _ => writeln!(
                    w,
                    "write-back to {} ({} {}) by {}: {} applied now, {} before; stale {}; \
                     without a row {}; written lines {}",
                    s(&b["source"]),
                    s(&b["mode"]),
                    s(&b["table"]),
                    s(&b["by"]),
                    b["applied_now"],
                    b["already_applied"],
                    b["stale"],
                    b["no_row"],
                    b["written"]
                )?,
            },
            EntryKind::Verification => {
                writeln!(w, "verified by {} after apply:", s(&b["by"]))?;
                for t in b["targets"].as_array().into_iter().flatten() {
                    let lines = t["lines"].as_array().map_or(&[][..], |l| l.as_slice());
                    let holding = lines.iter().filter(|l| l["holds"] == true).count();
                    writeln!(
                        w,
                        "  {} ({}): {holding} of {} written lines hold what was posted",
                        s(&t["source"]),
                        s(&t["table"]),
                        lines.len()
                    )?;
                    for l in lines.iter().filter(|l| l["holds"] != true) {
                        writeln!(
                            w,
                            "    line {}: holds {} (posted {})",
                            l["line"],
                            s(&l["holds_qty"]),
                            s(&l["posted_qty"])
                        )?;
                    }
                }
            }
            EntryKind::Sample => writeln!(
                w,
                "sample by {}: seed {}, {} points, lines {} (value {} of {})",
                s(&b["by"]),
                b["seed"],
                b["size"],
                b["lines"],
                s(&b["covered_value"]),
                s(&b["total_value"])
            )?,
            EntryKind::RunFooter => {
                writeln!(
                    w,
                    "finished {}: outcome {}, counts tie out: {}",
                    s(&b["finished_at"]),
                    s(&b["outcome"]),
                    b["ties_out"]
                )?;
                for p in b["pairings"].as_array().into_iter().flatten() {
                    writeln!(w, "  pairing {}: {} items equal", s(&p["name"]), p["equal"])?;
                    for side in ["book", "observed"] {
                        let t = &p[side];
                        let rejected: u64 = t["rejected"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .filter_map(|(_, n)| n.as_u64())
                            .sum();
                        writeln!(
                            w,
                            "    {side:<8} rows {} = matched {} + unmatched {} + duplicates {} + rejected {rejected}",
                            t["rows"], t["matched"], t["unmatched"], t["duplicate"]
                        )?;
                    }
                }
                writeln!(w, "  manifest sha256 {}", s(&b["manifest_sha256"]))?;
            }
        }
    }
    Ok(out)
}
