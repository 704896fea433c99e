//! `tally run`.

use std::path::Path;

use anyhow::Result;

use super::Outcome;
use crate::job;
use crate::run::{RunOptions, hold, run};
use crate::write::publish::RunResult;

/// `tally run`: reconcile, write the run directory, and (with `--apply`) write back.
pub fn run_job(job_path: &Path, opts: &RunOptions) -> Result<Outcome> {
    let job = job::load(job_path)?;
    // Every folder the run writes is checked and held before the first byte is read.
    let held = hold(&job, opts)?;
    let result = run(&job, opts, &held)?;
    print_summary(&result);
    let outcome = Outcome::from(result.manifest.outcome);
    if opts.apply {
        let applied =
            super::apply::apply_corrections(&job, &result.run_dir, &result.manifest, &held, false)?;
        return Ok(outcome.max(applied));
    }
    Ok(outcome)
}

/// What a finished run (or merge) prints: its lines, corrections and outcome.
pub fn print_summary(result: &RunResult) {
    let m = &result.manifest;
    println!("run {} → {}", m.run_id, result.run_dir.display());
    println!(
        "  {} discrepancy lines ({} need a person), {} corrections; net {} units, {} at cost",
        m.discrepancies.lines,
        m.discrepancies.needs_person,
        m.corrections.total,
        m.discrepancies.qty_delta_sum,
        m.discrepancies.value_delta_sum
    );
    for (kind, n) in &m.discrepancies.by_kind {
        println!("    {kind:<20} {n}");
    }
    println!(
        "  reports: {}",
        result.run_dir.join("reports/summary.html").display()
    );
    if m.guard.held {
        println!("  write-back held by the guard (tally apply RUN_DIR --force once checked):");
        for reason in &m.guard.reasons {
            println!("    {reason}");
        }
    }
    if let Some(head) = &result.ledger_head {
        println!(
            "  ledger: {} seq {} head {}",
            head.ledger.display(),
            head.seq,
            head.hash
        );
    }
    println!("  outcome: {}", m.outcome.as_str().replace('_', " "));
}
