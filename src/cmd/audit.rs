//! `tally audit`: the auditor's commands over a job's ledger.

use anyhow::Result;

use super::Outcome;
use crate::audit::verify;
use crate::cli::AuditCommand;

pub fn audit(command: AuditCommand) -> Result<Outcome> {
    match command {
        AuditCommand::Verify { ledger } => {
            let report = verify::verify(&ledger)?;
            println!(
                "{}: {} entries, {} runs ({} run directories checked)",
                ledger.display(),
                report.entries,
                report.runs,
                report.runs_checked
            );
            for missing in &report.runs_missing {
                println!("  not checked (run directory not found): {missing}");
            }
            if let Some(chain) = &report.chain {
                println!("  BROKEN: {chain}");
            }
            if let Some(truncated) = &report.truncated {
                println!("  TRUNCATED: {truncated}");
            }
            for wrong in &report.runs_wrong {
                println!("  WRONG: {wrong}");
            }
            if report.ok() {
                println!("  the chain verifies");
                Ok(Outcome::Done)
            } else {
                Ok(Outcome::NeedsPerson)
            }
        }
    }
}
