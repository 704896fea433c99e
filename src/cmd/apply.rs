//! `tally apply`: a reviewed run's corrections into the databases, once.

use std::path::Path;

use anyhow::{Context, Result};

use super::Outcome;
use crate::files::FolderLock;
use crate::job::Job;
use crate::progress::Stage;
use crate::run::Held;
use crate::sync::{self, STATE_LOCK};
use crate::write::manifest::Manifest;
use crate::write::read::{job_of, read_manifest, recorded_discrepancies, stamp, write_whole};

/// `tally apply RUN_DIR`: the run's corrections into the databases, once.
pub fn apply_run(run_dir: &Path, force: bool) -> Result<Outcome> {
    let manifest = read_manifest(run_dir)?;
    let job = job_of(&manifest)?;
    // The state folder is held only while the baseline moves on (at the end), waiting
    // for whoever holds it: two applies of one run both end as an apply ends.
    let held = Held {
        out: None,
        state: None,
    };
    let applied = apply_corrections(&job, run_dir, &manifest, &held, force)?;
    // Once forced, the guard's hold is no longer what the run waits for.
    let run = if force && manifest.guard.held && manifest.discrepancies.needs_person == 0 {
        Outcome::Done
    } else {
        Outcome::from(manifest.outcome)
    };
    Ok(run.max(applied))
}

/// Applies, records what happened in the run directory (`applied-<time>.json`) and
/// prints it; a person is needed when some rows were stale or the guard held it.
pub fn apply_corrections(
    job: &Job,
    run_dir: &Path,
    manifest: &Manifest,
    // The state folder if this process holds it already (`tally run --apply`).
    held: &Held,
    force: bool,
) -> Result<Outcome> {
    if manifest.guard.held {
        if !force {
            println!("  write-back held by the guard, nothing written:");
            for reason in &manifest.guard.reasons {
                println!("    {reason}");
            }
            println!(
                "  once a person has checked the run: tally apply {} --force",
                run_dir.display()
            );
            return Ok(Outcome::NeedsPerson);
        }
        // Who overrode the guard, when and against what, stays with the run.
        let now = chrono::Utc::now();
        let record = serde_json::json!({
            "run_id": manifest.run_id,
            "forced_by": crate::approve::who(None),
            "forced_at": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "guard": manifest.guard,
        });
        let path = run_dir.join(format!("forced-{}.json", stamp(now)));
        write_whole(&path, &serde_json::to_vec_pretty(&record)?)?;
        println!(
            "  guard overridden (--force), recorded in {}",
            path.display()
        );
    }
    // What the apply will write into the run directory must be writable before the
    // databases are touched: a failure after the commit would be exit 2 with data written.
    for dir in [run_dir.to_path_buf(), run_dir.join("reports")] {
        let probe = dir.join(format!(".tally-probe-{}", std::process::id()));
        crate::files::write(&probe, b"")
            .with_context(|| format!("cannot write in {}: nothing applied", dir.display()))?;
        let _ = std::fs::remove_file(&probe);
    }
    let stage = Stage::start("write back");
    let discrepancies = recorded_discrepancies(run_dir, manifest)?;
    // Corrections that waited for approval and have it go back with the rest.
    // For a run recorded in a ledger, the approvals that count (the approver's own file,
    // not the operator, lines unchanged) go into the ledger before anything is written.
    // The approvals that count (for a run recorded in a ledger: the approver's own file,
    // not the operator, lines unchanged; signed when the job lists [approvers]) go into
    // the ledger before anything is written.
    let (approvals, ledger) =
        crate::approve::counted(run_dir, manifest, &discrepancies, &job.approvers)?;
    if let Some(ledger) = &ledger {
        let recorded = crate::approve::record_pending(ledger, &approvals)?;
        if recorded > 0 {
            println!("  {recorded} approval(s) recorded in {}", ledger.display());
        }
    }
    let approved: std::collections::BTreeSet<u64> =
        approvals.into_iter().flat_map(|(_, a)| a.lines).collect();
    let corrections = crate::resolve::corrections(&crate::approve::mark_approved(
        discrepancies.clone(),
        &approved,
    )?)?;
    // When the run read each source: ledger entries posted since make its lines stale.
    let extracted_at = |source: &str| {
        manifest
            .inputs
            .iter()
            .filter(|i| i.source == source)
            .map(|i| i.extracted_at)
            .min()
            .unwrap_or(manifest.started_at)
    };
    let results = crate::odbc::apply::apply(job, &corrections, &manifest.run_id, &extracted_at);
    // Every posting, and a failed one, is a ledger entry.
    if let Some(ledger) = &ledger {
        let entries = posting_entries(&manifest.run_id, &results);
        if !entries.is_empty() {
            crate::audit::ledger::append(ledger, &entries)?;
        }
    }
    let results = results?;
    let now = chrono::Utc::now();
    let stamp = stamp(now);
    let path = run_dir.join(format!("applied-{stamp}.json"));
    write_whole(&path, &serde_json::to_vec_pretty(&results)?)?;
    let page = crate::report::write_back_page(
        manifest,
        &results,
        &discrepancies,
        &now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )?;
    let report = run_dir.join(format!("reports/write-back-{stamp}.html"));
    write_whole(&report, page.as_bytes())?;
    stage.done(format!("{} target(s)", results.len()));
    let mut outcome = Outcome::Done;
    for r in &results {
        println!(
            "  write-back {} ({} {}): {} applied, {} already applied, {} stale, {} without a row",
            r.source,
            r.mode,
            r.table,
            r.applied,
            r.already_applied,
            r.stale.len(),
            r.no_row.len()
        );
        if !r.stale.is_empty() {
            println!(
                "    stale lines (changed since extraction, left alone): {}",
                some_lines(&r.stale)
            );
            outcome = Outcome::NeedsPerson;
        }
        if !r.no_row.is_empty() {
            println!(
                "    lines without a row to update (for a person): {}",
                some_lines(&r.no_row)
            );
            outcome = Outcome::NeedsPerson;
        }
    }
    println!("  write-back results: {}", path.display());
    println!("  write-back report: {}", report.display());
    if let Some(dir) = &manifest.state {
        let written: Vec<u64> = results.iter().flat_map(|r| r.written.clone()).collect();
        let newly = results.iter().map(|r| r.applied).sum();
        let dir = Path::new(dir);
        let _waited = match &held.state {
            None if dir.is_dir() => Some(FolderLock::wait(dir, STATE_LOCK, "state folder")?),
            _ => None,
        };
        match sync::after_apply(dir, &manifest.run_id, &corrections, &written, newly)? {
            sync::AfterApply::Moved(n) => println!(
                "  baseline in {}: {n} corrected value(s) recorded",
                dir.display()
            ),
            sync::AfterApply::NotThisRun => println!(
                "  baseline in {} is not this run's (a later run replaced it): left as it is",
                dir.display()
            ),
            sync::AfterApply::Missing => println!(
                "  no baseline in {}: the next run there starts without one",
                dir.display()
            ),
        }
    }
    Ok(outcome)
}

/// The first line numbers of a list, for a terminal; the results file has them all.
fn some_lines(lines: &[u64]) -> String {
    const SHOWN: usize = 20;
    let shown: Vec<String> = lines.iter().take(SHOWN).map(u64::to_string).collect();
    match lines.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// The ledger's `posting` entries for an apply: per target the lines written (with the
/// run id and line as the posting reference each written row or ledger entry carries),
/// stale, without a row, or the failure that rolled the target back.
fn posting_entries(
    run_id: &str,
    results: &Result<Vec<crate::odbc::apply::TargetResult>>,
) -> Vec<(crate::audit::ledger::EntryKind, serde_json::Value)> {
    let by = crate::audit::identity::os_user();
    let entry = |body: serde_json::Value| (crate::audit::ledger::EntryKind::Posting, body);
    match results {
        Ok(targets) => targets
            .iter()
            .map(|r| {
                entry(serde_json::json!({
                    "run_id": run_id,
                    "outcome": "applied",
                    "source": r.source,
                    "mode": r.mode,
                    "table": r.table,
                    "applied_now": r.applied,
                    "already_applied": r.already_applied,
                    "written": r.written,
                    // A ledger target's entries wait for the ERP to post them.
                    "pending_erp_posting": r.mode == "ledger",
                    "stale": r.stale,
                    "no_row": r.no_row,
                    "reference": format!("tally_applied: run_id {run_id}, target {}, line", r.source),
                    "by": by,
                }))
            })
            .collect(),
        Err(e) => vec![entry(serde_json::json!({
            "run_id": run_id,
            "outcome": "failed",
            "source": e
                .downcast_ref::<crate::odbc::apply::WriteBackFailed>()
                .map(|f| f.target.clone()),
            "message": format!("{e:#}"),
            "by": by,
        }))],
    }
}
