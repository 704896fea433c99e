//! `tally verify RUN_DIR`: proof after apply. Each write-back target is read again for the
//! keys the run corrected, and each written line shown holding what was posted, or what
//! it holds instead; the result goes into the job's ledger.

use std::path::Path;

use anyhow::Result;

use super::Outcome;
use crate::write::read::{job_of, read_manifest, recorded_discrepancies};

pub fn verify_run(run_dir: &Path) -> Result<Outcome> {
    let manifest = read_manifest(run_dir)?;
    let job = job_of(&manifest)?;
    let discrepancies = recorded_discrepancies(run_dir, &manifest)?;
    // The corrections as apply made them: approved ones included, under the same rules.
    let (approvals, ledger) =
        crate::approve::counted(run_dir, &manifest, &discrepancies, &job.approvers)?;
    let approved: std::collections::BTreeSet<u64> =
        approvals.into_iter().flat_map(|(_, a)| a.lines).collect();
    let corrections =
        crate::resolve::corrections(&crate::approve::mark_approved(discrepancies, &approved)?)?;
    let proofs = crate::odbc::proof::prove(&job, &corrections, &manifest.run_id)?;
    let mut outcome = Outcome::Done;
    let mut written = 0;
    for p in &proofs {
        let holding = p.lines.iter().filter(|l| l.holds).count();
        written += p.lines.len();
        println!(
            "{} ({} {}): {holding} of {} written line(s) hold what was posted",
            p.source,
            p.mode,
            p.table,
            p.lines.len()
        );
        for l in p.lines.iter().filter(|l| !l.holds) {
            outcome = Outcome::NeedsPerson;
            let cost = match (&l.posted_cost, &l.holds_cost) {
                (Some(posted), held) if l.cost_differs => format!(
                    ", unit cost {} (posted {posted})",
                    held.as_deref().unwrap_or("nothing")
                ),
                _ => String::new(),
            };
            println!(
                "  line {}: {} / {} holds {} (posted {}){cost}: changed since the apply at {}",
                l.line,
                l.location,
                l.sku,
                l.holds_qty.as_deref().unwrap_or("no row"),
                l.posted_qty,
                l.applied_at
            );
        }
    }
    if written == 0 {
        println!(
            "no line of run {} was written back: nothing to verify",
            manifest.run_id
        );
    }
    if let Some(ledger) = &ledger {
        let body = serde_json::json!({
            "run_id": manifest.run_id,
            "by": crate::audit::identity::os_user(),
            "targets": proofs,
        });
        let head = crate::audit::ledger::append(
            ledger,
            &[(crate::audit::ledger::EntryKind::Verification, body)],
        )?;
        println!("  recorded in {} at seq {}", ledger.display(), head.seq);
    }
    Ok(outcome)
}
