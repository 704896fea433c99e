//! `tally approve RUN_DIR --line N... [--by NAME]`: a person other than the one who ran
//! the job approves corrections that the rules' `[approval]` threshold held back
//! (segregation of duties). Each approval is a new file in the run directory
//! (`approvals-<time>.json`: lines, who, when); the run's own files are never edited.
//! `tally apply` then writes the approved corrections with the others.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Result;
use polars::prelude::*;

use crate::discrepancy::Approval;
use crate::schema::line;

/// One `approvals-<time>.json` of a run directory: who approved which lines, when.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ApprovalRecord {
    pub run_id: String,
    pub lines: Vec<u64>,
    pub by: String,
    pub at: String,
}

/// Who is acting: the name given, else $USER (or $LOGNAME), else "unknown".
pub fn who(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Every line an approval file of this run (`run_id`) in the run directory approves. A
/// file made for another run (copied in by hand, say) approves nothing: it is named on
/// stderr and ignored.
pub fn approved_lines(run_dir: &Path, run_id: &str) -> Result<BTreeSet<u64>> {
    let mut lines = BTreeSet::new();
    for entry in std::fs::read_dir(run_dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with("approvals-") && n.ends_with(".json")) {
            let a: ApprovalRecord = serde_json::from_slice(&std::fs::read(&path)?)
                .map_err(|e| anyhow::anyhow!("{}: not an approval record: {e}", path.display()))?;
            if a.run_id != run_id {
                eprintln!(
                    "warning: {} approves lines of run {}, not of this run ({run_id}): ignored",
                    path.display(),
                    a.run_id
                );
                continue;
            }
            lines.extend(a.lines);
        }
    }
    Ok(lines)
}

/// The lines with their approved corrections marked, for `resolve::corrections`.
pub fn mark_approved(discrepancies: DataFrame, approved: &BTreeSet<u64>) -> Result<DataFrame> {
    if approved.is_empty() {
        return Ok(discrepancies);
    }
    let list = Series::new(
        "approved".into(),
        approved.iter().copied().collect::<Vec<u64>>(),
    );
    Ok(discrepancies
        .lazy()
        .with_column(
            when(
                col(line::APPROVAL)
                    .eq(lit(Approval::Required.as_str()))
                    .and(col(line::LINE).is_in(lit(list).implode(false), false)),
            )
            .then(lit(Approval::Approved.as_str()))
            .otherwise(col(line::APPROVAL))
            .alias(line::APPROVAL),
        )
        .collect()?)
}
