//! The pipeline, top to bottom: load the job, extract every source once, key the rows,
//! and for each pairing match and classify; then decide, resolve, and write the run
//! directory. Nothing is written unless every stage before succeeded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{SecondsFormat, Utc};
use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::discrepancy::Resolution;
use crate::extract::{self, InputFile};
use crate::job::{self, Job};
use crate::progress::Stage;
use crate::write::manifest::{
    self, CorrectionTotals, HashedFile, Manifest, Outcome, PairingTally, Totals,
};
use crate::write::{RunDir, corrections};
use crate::{classify, matching, normalize, report, resolve};

/// Exit code when the job could not run (bad config or input); nothing was written.
pub const EXIT_CANNOT_RUN: u8 = 2;

pub struct RunOptions {
    pub out: Option<PathBuf>,
    pub locations: Vec<String>,
}

/// What a finished run reports back.
pub struct RunResult {
    pub run_dir: PathBuf,
    pub manifest: Manifest,
}

/// `tally run`: returns the exit code (0 or 1); errors mean exit 2.
pub fn run_job(job_path: &Path, opts: &RunOptions) -> Result<u8> {
    let job = job::load(job_path)?;
    let result = run(&job, opts)?;
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
    println!(
        "  outcome: {}",
        if m.exit_code == 0 {
            "reconciled"
        } else {
            "needs review"
        }
    );
    Ok(m.exit_code as u8)
}

/// `tally check`: validates job, rules and the inputs' headers; 0 when all is well.
pub fn check_job(job_path: &Path) -> Result<u8> {
    let job = job::load(job_path)?;
    let mut problems = Vec::new();
    for source in &job.sources {
        problems.extend(extract::check_headers(source));
    }
    if problems.is_empty() {
        println!(
            "{}: ok ({} sources, {} pairings, {} rules)",
            job_path.display(),
            job.sources.len(),
            job.pairings.len(),
            job.rules.rules.len()
        );
        Ok(0)
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        Ok(EXIT_CANNOT_RUN)
    }
}

pub fn run(job: &Job, opts: &RunOptions) -> Result<RunResult> {
    let started_at = Utc::now();
    let run_id = format!(
        "{}-{}",
        started_at.format("%Y%m%dT%H%M%SZ"),
        short_id(started_at)
    );

    // Extract and key every source that a pairing uses, once.
    let mut snapshots: BTreeMap<String, DataFrame> = BTreeMap::new();
    let mut inputs: Vec<InputFile> = Vec::new();
    for source in &job.sources {
        if !job
            .pairings
            .iter()
            .any(|p| p.book.contains(&source.name) || p.observed.contains(&source.name))
        {
            continue;
        }
        let stage = Stage::start(format!("extract {}", source.name));
        let snapshot =
            extract::extract(source).with_context(|| format!("source `{}`", source.name))?;
        let frame = normalize::key(snapshot.frame, &job.rules.sku_steps)?;
        let frame = normalize::keep_locations(frame, &opts.locations)?;
        stage.done(format!(
            "{} rows from {} file(s)",
            frame.height(),
            snapshot.inputs.len()
        ));
        snapshots.insert(source.name.clone(), frame);
        inputs.extend(snapshot.inputs);
    }

    // Match and classify each pairing.
    let mut lines = Vec::new();
    let mut tallies = Vec::new();
    for pairing in &job.pairings {
        let stage = Stage::start(format!("match {}", pairing.name));
        let side = |names: &[String]| -> Result<DataFrame> {
            let mut frames = names.iter().map(|n| snapshots[n].clone());
            let mut frame = frames.next().expect("validated: a side names a source");
            for f in frames {
                frame.vstack_mut_owned(f)?;
            }
            normalize::keep_locations(frame, &pairing.locations)
        };
        let matched = matching::reconcile(side(&pairing.book)?, side(&pairing.observed)?)?;
        let undecided = classify::lines(&matched, &pairing.name)?;
        let decided = classify::decide(undecided, &job.rules).collect()?;
        let equal_pairs = matched.book.matched - distinct_pairs_with_lines(&decided)?;
        stage.done(format!(
            "{} matched, {} lines",
            matched.book.matched,
            decided.height()
        ));
        tallies.push(PairingTally {
            name: pairing.name.clone(),
            ties_out: matched.book.ties_out() && matched.observed.ties_out(),
            book: matched.book,
            observed: matched.observed,
            equal: equal_pairs,
        });
        lines.push(decided.lazy());
    }
    let discrepancies = classify::finish(concat(
        lines,
        UnionArgs {
            diagonal: true,
            ..Default::default()
        },
    )?)?;
    let corrections = resolve::corrections(&discrepancies)?;

    // Write the run directory.
    let stage = Stage::start("write run directory");
    let totals = totals(&discrepancies)?;
    let outcome = if totals.needs_person > 0 {
        Outcome::NeedsReview
    } else {
        Outcome::Reconciled
    };
    let out = opts.out.clone().unwrap_or_else(|| job.output.clone());
    let mut dir = RunDir::create(&out, &run_id)?;
    dir.write_csv("discrepancies.csv", &discrepancies)?;
    dir.write_parquet("discrepancies.parquet", &discrepancies)?;
    let mut correction_totals = CorrectionTotals {
        total: corrections.height() as u64,
        ..Default::default()
    };
    for (target, n) in count_by(&corrections, "target")? {
        correction_totals.by_target.insert(target, n);
    }
    correction_totals.files = corrections::write(&mut dir, &corrections, job)?;

    // Reports name the job file only; the manifest has its full path and hash.
    let job_display = job.path.file_name().map_or_else(
        || job.path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let report_input = report::ReportInput {
        run_id: &run_id,
        started_at: started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        job: job_display,
        outcome: match outcome {
            Outcome::Reconciled => "reconciled",
            Outcome::NeedsReview => "needs_review",
        },
        totals: &totals,
        pairings: &tallies,
        corrections: &correction_totals,
    };
    for page in report::render(&report_input, &discrepancies)? {
        dir.write_bytes(&page.path, page.text.as_bytes())?;
    }

    let manifest = Manifest {
        run_id: run_id.clone(),
        engine: manifest::Engine::default(),
        started_at,
        finished_at: Utc::now(),
        run_by: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into()),
        job: HashedFile::of(&job.path)?,
        rules: HashedFile::of(&job.rules.path)?,
        locations: opts.locations.clone(),
        inputs,
        ties_out: tallies.iter().all(|t| t.ties_out),
        pairings: tallies,
        discrepancies: totals,
        corrections: correction_totals,
        rules_in_force: manifest::rules_in_force(&job.rules),
        default_decision: job.rules.default,
        outcome,
        exit_code: outcome.exit_code(),
        files: dir.written.clone(),
    };
    dir.write_bytes("manifest.json", &serde_json::to_vec_pretty(&manifest)?)?;
    let run_dir = dir.commit()?;
    stage.done(run_dir.display().to_string());
    Ok(RunResult { run_dir, manifest })
}

/// A short random-looking suffix so two runs in one second never collide.
fn short_id(t: chrono::DateTime<Utc>) -> String {
    let seed = format!(
        "{}-{}-{:?}",
        t.timestamp_nanos_opt().unwrap_or_default(),
        std::process::id(),
        std::thread::current().id()
    );
    format!("{:x}", Sha256::digest(seed.as_bytes()))[..8].to_string()
}

/// Matched pairs that produced at least one line (a qty and a cost line count once).
fn distinct_pairs_with_lines(decided: &DataFrame) -> Result<u64> {
    let n = decided
        .clone()
        .lazy()
        .filter(
            col("book_row")
                .is_not_null()
                .and(col("observed_row").is_not_null()),
        )
        .select([col("location"), col("item_key")])
        .unique(None, UniqueKeepStrategy::Any)
        .collect()?
        .height();
    Ok(n as u64)
}

fn count_by(frame: &DataFrame, column: &str) -> Result<Vec<(String, u64)>> {
    let counts = frame
        .clone()
        .lazy()
        .group_by([col(column)])
        .agg([len().alias("n")])
        .sort([column], SortMultipleOptions::default())
        .collect()?;
    let keys = counts.column(column)?.str()?.clone();
    let ns = counts.column("n")?.cast(&DataType::UInt64)?;
    let ns = ns.u64()?;
    Ok(keys
        .iter()
        .zip(ns.iter())
        .map(|(k, n)| (k.unwrap_or("").to_string(), n.unwrap_or(0)))
        .collect())
}

fn decimal_sum(frame: &DataFrame, column: &str) -> Result<rust_decimal::Decimal> {
    let c = frame.column(column)?;
    let DataType::Decimal(_, scale) = c.dtype() else {
        anyhow::bail!("internal error: {column} is not a decimal column");
    };
    let sum: i128 = c.decimal()?.physical().iter().flatten().sum();
    Ok(rust_decimal::Decimal::from_i128_with_scale(
        sum,
        *scale as u32,
    ))
}

fn totals(discrepancies: &DataFrame) -> Result<Totals> {
    let mut t = Totals {
        lines: discrepancies.height() as u64,
        ..Default::default()
    };
    t.by_kind = count_by(discrepancies, "kind")?.into_iter().collect();
    t.by_severity = count_by(discrepancies, "severity")?.into_iter().collect();
    t.by_resolution = count_by(discrepancies, "resolution")?.into_iter().collect();
    t.by_rule = count_by(discrepancies, "rule")?.into_iter().collect();
    t.qty_delta_sum = decimal_sum(discrepancies, "qty_delta")?.to_string();
    t.value_delta_sum = decimal_sum(discrepancies, "value_delta")?.to_string();
    t.needs_person = Resolution::ALL
        .iter()
        .filter(|r| r.needs_person())
        .map(|r| t.by_resolution.get(r.as_str()).copied().unwrap_or(0))
        .sum();
    Ok(t)
}
