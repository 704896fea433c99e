//! `tally approve RUN_DIR --line N... [--by NAME]`: a person other than the one who ran
//! the job approves corrections that the rules' `[approval]` threshold held back
//! (segregation of duties). Each approval is a new file in the run directory
//! (`approvals-<time>.json`: lines, who, when); the run's own files are never edited.
//! `tally apply` then writes the approved corrections with the others.
//!
//! For a run recorded in a ledger the approver is the OS user, as the kernel attests it:
//! the approval file records its user and the content hash of each line it approves,
//! and an approval counts only when the file is owned by that user, that user is not
//! the one who ran the job, and each line still has the content it approved. The
//! approval is an entry of the ledger (appended by `tally approve`, or by the next
//! `tally apply` when the approver may not write the ledger).

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
    /// The approver's OS user (runs recorded in a ledger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_user: Option<String>,
    /// Per approved line, the hash of its content (its leaf, docs/audit.md): an approval
    /// never covers a line that changed.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub line_hashes: std::collections::BTreeMap<u64, String>,
    /// When the job lists `[approvers]`: the approver's Ed25519 public key and signature
    /// (hex) over `signed_message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl ApprovalRecord {
    /// What an approver signs: the run, and each line with its content hash.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut m = format!("tally approval\n{}\n", self.run_id);
        for line in &self.lines {
            let hash = self.line_hashes.get(line).map_or("", String::as_str);
            m.push_str(&format!("{line}:{hash}\n"));
        }
        m.into_bytes()
    }

    /// Why a signed approval does not hold for the job's `[approvers]`, if it does not.
    pub fn signature_problem(
        &self,
        approvers: &std::collections::BTreeMap<String, String>,
    ) -> Option<String> {
        let Some(key) = approvers.get(&self.by) else {
            return Some(format!("{:?} is not one of the job's [approvers]", self.by));
        };
        match (&self.public_key, &self.signature) {
            (Some(pk), Some(sig)) if pk == key => {
                (!crate::audit::checkpoint::signed_by(key, &self.signed_message(), sig))
                    .then(|| "its signature does not verify".to_string())
            }
            (Some(_), Some(_)) => Some(format!("it is not signed with {}'s key", self.by)),
            _ => Some("it is not signed (the job lists [approvers])".into()),
        }
    }
}

/// The approvals of a run that count (`approvals`, with every check the run calls for),
/// and the run's ledger when it has one.
pub fn counted(
    run_dir: &Path,
    manifest: &crate::write::manifest::Manifest,
    discrepancies: &DataFrame,
    approvers: &std::collections::BTreeMap<String, String>,
) -> Result<(Vec<Counted>, Option<std::path::PathBuf>)> {
    let ledger = ledger_of(run_dir, &manifest.run_id)?;
    // The lines' hashes only when there is an approval to check them against.
    let any = std::fs::read_dir(run_dir)?.filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.starts_with("approvals-") && name.ends_with(".json")
    });
    if !any {
        return Ok((Vec::new(), ledger.map(|(l, _)| l)));
    }
    let hashes = if ledger.is_some() || !approvers.is_empty() {
        line_hashes(discrepancies, &manifest.precision)?
    } else {
        Default::default()
    };
    let checks = Checks {
        operator: ledger.as_ref().map(|(_, op)| op.as_str()),
        hashes: (ledger.is_some() || !approvers.is_empty()).then_some(&hashes),
        approvers,
    };
    let approvals = approvals(run_dir, &manifest.run_id, &checks)?;
    Ok((approvals, ledger.map(|(l, _)| l)))
}

/// An approval file that counts, with its record.
pub type Counted = (std::path::PathBuf, ApprovalRecord);

/// What an approval must pass beyond naming this run.
pub struct Checks<'a> {
    /// The run's operator (a run recorded in a ledger): the approval file must be its
    /// approver's, who is not the operator.
    pub operator: Option<&'a str>,
    /// The lines' current content hashes: an approval covers a line only unchanged.
    pub hashes: Option<&'a std::collections::BTreeMap<u64, String>>,
    /// The job's approvers and their keys: an approval must be signed.
    pub approvers: &'a std::collections::BTreeMap<String, String>,
}

/// The content hash of each line (its hash-tree leaf, as `audit/lines.jsonl` holds it).
pub fn line_hashes(
    discrepancies: &DataFrame,
    precision: &crate::precision::Precision,
) -> Result<std::collections::BTreeMap<u64, String>> {
    let shown = precision.for_people(discrepancies)?;
    let (_, _, leaves) = crate::audit::record::line_records(&shown)?;
    let numbers = discrepancies.column(line::LINE)?.u64()?.clone();
    Ok(numbers
        .iter()
        .zip(leaves)
        .filter_map(|(n, leaf)| Some((n?, crate::audit::merkle::hex(&leaf))))
        .collect())
}

/// The run's ledger and its operator's OS user, when the run was recorded in one.
pub fn ledger_of(run_dir: &Path, run_id: &str) -> Result<Option<(std::path::PathBuf, String)>> {
    let Ok(text) = std::fs::read(run_dir.join(crate::audit::record::HEAD_FILE)) else {
        return Ok(None);
    };
    let head: crate::audit::ledger::Head = serde_json::from_slice(&text)?;
    let ledger = std::fs::read(&head.ledger).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the run's ledger {}: {e}",
            head.ledger.display()
        )
    })?;
    let (entries, _) = crate::audit::ledger::read_chain(&ledger);
    let operator = entries
        .iter()
        .find(|e| {
            e.kind == crate::audit::ledger::EntryKind::RunHeader
                && e.body["run_id"].as_str() == Some(run_id)
        })
        .and_then(|e| e.body["operator"]["os_user"].as_str().map(String::from))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the ledger {} holds no header for run {run_id}: run `tally audit verify`",
                head.ledger.display()
            )
        })?;
    Ok(Some((head.ledger, operator)))
}

/// The name of the user owning a file (as the kernel records it).
fn owner(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(path).ok()?.uid();
    crate::audit::identity::user_name(uid)
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
/// stderr and ignored. `checks` says what else it must pass: for a run recorded in a
/// ledger the approver's own file and another user than the operator; unchanged lines;
/// a valid signature when the job lists `[approvers]`.
pub fn approved_lines(run_dir: &Path, run_id: &str, checks: &Checks) -> Result<BTreeSet<u64>> {
    Ok(approvals(run_dir, run_id, checks)?
        .into_iter()
        .flat_map(|(_, a)| a.lines)
        .collect())
}

/// The approval files that count, with their records (see `approved_lines`).
pub fn approvals(
    run_dir: &Path,
    run_id: &str,
    checks: &Checks,
) -> Result<Vec<(std::path::PathBuf, ApprovalRecord)>> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(run_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with("approvals-") && n.ends_with(".json")) {
            let mut a: ApprovalRecord = serde_json::from_slice(&std::fs::read(&path)?)
                .map_err(|e| anyhow::anyhow!("{}: not an approval record: {e}", path.display()))?;
            if a.run_id != run_id {
                eprintln!(
                    "warning: {} approves lines of run {}, not of this run ({run_id}): ignored",
                    path.display(),
                    a.run_id
                );
                continue;
            }
            let mut refuse = None;
            if let Some(operator) = checks.operator {
                let user = a.os_user.clone().unwrap_or_default();
                if owner(&path).as_deref() != Some(user.as_str()) {
                    refuse = Some(format!(
                        "it names OS user {user:?} but is not that user's file"
                    ));
                } else if user == operator {
                    refuse = Some(format!("{user} ran the job"));
                }
            }
            if refuse.is_none() && !checks.approvers.is_empty() {
                refuse = a.signature_problem(checks.approvers);
            }
            if let Some(why) = refuse {
                eprintln!("warning: {}: not an approval: {why}", path.display());
                continue;
            }
            if let Some(hashes) = checks.hashes {
                // A line approved with other content than it has now is not approved.
                a.lines.retain(|l| {
                    let same = a
                        .line_hashes
                        .get(l)
                        .is_some_and(|h| hashes.get(l) == Some(h));
                    if !same {
                        eprintln!(
                            "warning: {}: line {l} changed since it was approved: not approved",
                            path.display()
                        );
                    }
                    same
                });
            }
            out.push((path, a));
        }
    }
    Ok(out)
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

/// The ledger entry of an approval file.
pub fn approval_entry(path: &Path, record: &ApprovalRecord) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path)?;
    Ok(serde_json::json!({
        "run_id": record.run_id,
        "lines": record.lines,
        "line_hashes": record
            .line_hashes
            .iter()
            .map(|(l, h)| (l.to_string(), serde_json::Value::String(h.clone())))
            .collect::<serde_json::Map<_, _>>(),
        "os_user": record.os_user,
        "name": record.by,
        "at": record.at,
        "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "file_sha256": crate::values::sha256_hex(&bytes),
        "public_key": record.public_key,
        "signature": record.signature,
    }))
}

/// Appends the approvals the ledger does not hold yet (made by a user who may not write
/// it); returns how many.
pub fn record_pending(
    ledger: &Path,
    approvals: &[(std::path::PathBuf, ApprovalRecord)],
) -> Result<usize> {
    let text = std::fs::read(ledger)?;
    let (entries, _) = crate::audit::ledger::read_chain(&text);
    let recorded: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.kind == crate::audit::ledger::EntryKind::Approval)
        .filter_map(|e| e.body["file_sha256"].as_str().map(String::from))
        .collect();
    let mut pending = Vec::new();
    for (path, record) in approvals {
        let entry = approval_entry(path, record)?;
        if !entry["file_sha256"]
            .as_str()
            .is_some_and(|h| recorded.contains(h))
        {
            pending.push((crate::audit::ledger::EntryKind::Approval, entry));
        }
    }
    if !pending.is_empty() {
        crate::audit::ledger::append(ledger, &pending)?;
    }
    Ok(pending.len())
}
