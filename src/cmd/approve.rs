//! `tally approve`: a person other than the one who ran the job approves held-back
//! corrections; the next `tally apply` writes them.

use std::path::Path;

use anyhow::{Result, bail, ensure};

use super::Outcome;
use crate::approve::{ApprovalRecord, approved_lines};
use crate::discrepancy::Approval;
use crate::schema::line;
use crate::write::read::{read_manifest, recorded_discrepancies, stamp, write_whole};

pub fn approve_run(
    run_dir: &Path,
    lines: &[u64],
    by: Option<String>,
    key: Option<&Path>,
) -> Result<Outcome> {
    let manifest = read_manifest(run_dir)?;
    let discrepancies = recorded_discrepancies(run_dir, &manifest)?;
    let approvers = crate::write::read::job_of(&manifest)?.approvers;
    // A run recorded in a ledger is approved by an OS user other than the one who ran it.
    let ledger = crate::approve::ledger_of(run_dir, &manifest.run_id)?;
    let os_user = crate::audit::identity::os_user();
    let hashes = if ledger.is_some() || !approvers.is_empty() {
        crate::approve::line_hashes(&discrepancies, &manifest.precision)?
    } else {
        Default::default()
    };
    let by = match by.or_else(|| ledger.as_ref().map(|_| os_user.clone())) {
        Some(b) if !b.trim().is_empty() => b.trim().to_string(),
        _ => match std::env::var("USER") {
            Ok(b) if !b.trim().is_empty() => b.trim().to_string(),
            _ => bail!("say who approves: --by NAME"),
        },
    };
    match &ledger {
        Some((_, operator)) => ensure!(
            os_user != *operator,
            "OS user {os_user} ran this job (run {}) and cannot approve its corrections: \
             another user must",
            manifest.run_id
        ),
        None => ensure!(
            by != manifest.run_by,
            "{by} ran this job (run {}) and cannot approve its corrections: another person must",
            manifest.run_id
        ),
    }
    let numbers = discrepancies.column(line::LINE)?.u64()?.clone();
    let approval = discrepancies.column(line::APPROVAL)?.str()?.clone();
    if !approvers.is_empty() {
        ensure!(
            approvers.contains_key(&by),
            "{by} is not one of the job's [approvers] ({}): --by names who approves",
            approvers.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        ensure!(
            key.is_some(),
            "the job lists [approvers]: sign the approval with --key FILE (your private key)"
        );
    }
    let checks = crate::approve::Checks {
        operator: ledger.as_ref().map(|(_, op)| op.as_str()),
        hashes: (ledger.is_some() || !approvers.is_empty()).then_some(&hashes),
        approvers: &approvers,
    };
    let already = approved_lines(run_dir, &manifest.run_id, &checks)?;
    let mut problems = Vec::new();
    let mut new = Vec::new();
    for line in lines {
        match numbers.iter().position(|n| n == Some(*line)) {
            None => problems.push(format!("line {line}: no such line in this run")),
            Some(i) if approval.get(i) != Some(Approval::Required.as_str()) => problems.push(
                format!("line {line}: needs no approval (only corrections above the threshold do)"),
            ),
            Some(_) if already.contains(line) => {
                println!("  line {line}: approved before")
            }
            Some(_) => new.push(*line),
        }
    }
    if !problems.is_empty() {
        bail!("nothing approved:\n  {}", problems.join("\n  "));
    }
    if new.is_empty() {
        return Ok(Outcome::Done);
    }
    let now = chrono::Utc::now();
    let mut record = ApprovalRecord {
        run_id: manifest.run_id.clone(),
        lines: new.clone(),
        by: by.clone(),
        at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        os_user: ledger.as_ref().map(|_| os_user.clone()),
        line_hashes: new
            .iter()
            .filter_map(|l| Some((*l, hashes.get(l)?.clone())))
            .collect(),
        public_key: None,
        signature: None,
    };
    if let Some(key) = key.filter(|_| !approvers.is_empty()) {
        let (public, signature) =
            crate::audit::checkpoint::sign_with(key, &record.signed_message())?;
        ensure!(
            approvers.get(&by) == Some(&public),
            "{} is not {by}'s key as the job's [approvers] lists it",
            key.display()
        );
        record.public_key = Some(public);
        record.signature = Some(signature);
    }
    let path = run_dir.join(format!("approvals-{}.json", stamp(now)));
    write_whole(&path, &serde_json::to_vec_pretty(&record)?)?;
    println!(
        "approved by {by}: line(s) {}; `tally apply {}` writes them back",
        new.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        run_dir.display()
    );
    if let Some((ledger, _)) = &ledger {
        let entry = crate::approve::approval_entry(&path, &record)?;
        match crate::audit::ledger::append(
            ledger,
            &[(crate::audit::ledger::EntryKind::Approval, entry)],
        ) {
            Ok(head) => println!("  recorded in {} at seq {}", ledger.display(), head.seq),
            // The ledger is its owner's to write (0640): the next apply records it.
            Err(e) => println!(
                "  not yet in the ledger ({e:#}); `tally apply`, run by the ledger's owner, \
                 records it before writing back"
            ),
        }
    }
    Ok(Outcome::Done)
}
