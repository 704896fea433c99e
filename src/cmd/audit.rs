//! `tally audit`: the auditor's commands over a job's ledger.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::Outcome;
use crate::audit::ledger::{EntryKind, Head, append};
use crate::audit::record::HEAD_FILE;
use crate::audit::{sample, verify};
use crate::cli::AuditCommand;

pub fn audit(command: AuditCommand) -> Result<Outcome> {
    match command {
        AuditCommand::Show { run_dir } => {
            print!("{}", crate::audit::show::show(&run_dir)?);
            Ok(Outcome::Done)
        }
        AuditCommand::Export {
            ledger,
            out,
            from,
            to,
            locations,
            skus,
            runs,
            decisions,
        } => {
            for d in [&from, &to].into_iter().flatten() {
                if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                    bail!("--from/--to {d:?}: a day as YYYY-MM-DD");
                }
            }
            for d in &decisions {
                if !crate::discrepancy::Resolution::ALL
                    .iter()
                    .any(|r| r.as_str() == d)
                {
                    bail!(
                        "--decision {d:?}: one of {}",
                        crate::discrepancy::Resolution::ALL
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            let filter = crate::audit::export::Filter {
                from,
                to,
                locations,
                skus,
                runs,
                decisions,
            };
            let mut table = crate::audit::export::table(&ledger, &filter)?;
            crate::audit::export::write(&mut table, &out, "Lines")?;
            println!("{} lines → {}", table.height(), out.display());
            Ok(Outcome::Done)
        }
        AuditCommand::Sample {
            run_dir,
            size,
            seed,
            out,
        } => sample_run(&run_dir, size, seed, out.as_deref()),
        AuditCommand::Keygen { out } => {
            let public = crate::audit::checkpoint::keygen(&out)?;
            println!("private key: {} (keep it to yourself)", out.display());
            println!("public key:  {public}");
            Ok(Outcome::Done)
        }
        AuditCommand::Checkpoint { ledger, key, out } => {
            let checkpoint = crate::audit::checkpoint::sign(&ledger, &key)?;
            crate::files::write(&out, &serde_json::to_vec_pretty(&checkpoint)?)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "{}: seq {} head {} signed by {} → {}",
                ledger.display(),
                checkpoint.seq,
                checkpoint.hash,
                checkpoint.public_key,
                out.display()
            );
            Ok(Outcome::Done)
        }
        AuditCommand::Verify {
            ledger,
            checkpoint,
            trust,
        } => {
            let checkpoint = match &checkpoint {
                Some(path) => Some(
                    serde_json::from_slice::<crate::audit::checkpoint::Checkpoint>(
                        &std::fs::read(path)
                            .with_context(|| format!("cannot read {}", path.display()))?,
                    )
                    .with_context(|| format!("{}: not a checkpoint", path.display()))?,
                ),
                None => None,
            };
            let report = verify::verify(&ledger, checkpoint.as_ref().zip(trust.as_deref()))?;
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
            if let Some(wrong) = &report.checkpoint {
                println!("  CHECKPOINT: {wrong}");
            } else if checkpoint.is_some() {
                println!("  the signed checkpoint holds");
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

/// `tally audit sample`: draws, writes the count sheet, records the draw in the ledger.
fn sample_run(run_dir: &Path, size: usize, seed: u64, out: Option<&Path>) -> Result<Outcome> {
    let manifest = crate::write::read::read_manifest(run_dir)?;
    let head: Head =
        serde_json::from_slice(&std::fs::read(run_dir.join(HEAD_FILE)).with_context(|| {
            format!(
                "{} was not recorded in a ledger (its job has no `ledger`): a sample is \
                 recorded in the run's ledger",
                run_dir.display()
            )
        })?)?;
    let lines = crate::write::read::recorded_discrepancies(run_dir, &manifest)?;
    let shown = manifest.precision.for_people(&lines)?;
    let drawn = sample::draw(&shown, size, seed)?;
    let mut sheet = sample::sheet(&shown, &drawn)?;
    let default = format!("sample-{}-{seed}.csv", manifest.run_id);
    let out = out.unwrap_or(Path::new(&default));
    crate::audit::export::write(&mut sheet, out, "Count")?;
    let body = serde_json::json!({
        "run_id": manifest.run_id,
        "method": sample::METHOD,
        "seed": drawn.seed,
        "size": drawn.size,
        "population": drawn.population,
        "total_value": drawn.total,
        "interval": drawn.interval,
        "start": drawn.start,
        "lines": drawn.lines,
        "covered_value": drawn.covered,
        "by": crate::audit::identity::os_user(),
        "sheet": std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf()).display().to_string(),
    });
    let head = append(&head.ledger, &[(EntryKind::Sample, body)])?;
    let share = |part: &str, whole: &str| -> String {
        match (
            rust_decimal::Decimal::from_str_exact(part),
            rust_decimal::Decimal::from_str_exact(whole),
        ) {
            (Ok(p), Ok(w)) if !w.is_zero() => {
                format!(
                    "{}%",
                    (p * rust_decimal::Decimal::ONE_HUNDRED / w).round_dp(1)
                )
            }
            _ => "-".into(),
        }
    };
    println!(
        "sampled {} of {} lines with a value (seed {seed}, interval {}): value coverage {} of {} ({})",
        drawn.lines.len(),
        drawn.population,
        drawn.interval,
        drawn.covered,
        drawn.total,
        share(&drawn.covered, &drawn.total)
    );
    println!("  count sheet: {}", out.display());
    println!(
        "  recorded in {} at seq {} (head {})",
        head.ledger.display(),
        head.seq,
        head.hash
    );
    Ok(Outcome::Done)
}
