//! Everything a run leaves behind, written from a finished reconciliation: the
//! discrepancies, the corrections, the reports and, last, the manifest that hashes them.
//! A single run and a merge of shard runs both end here.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use polars::prelude::*;

use super::manifest::{
    self, CorrectionTotals, HashedFile, Manifest, Outcome, PairingTally, Totals,
};
use super::{RunDir, WrittenFile, corrections};
use crate::input::InputFile;
use crate::job::Job;
use crate::precision::Precision;
use crate::progress::trace;
use crate::schema::correction;
use crate::schema::line;
use crate::shard::Shard;
use crate::{report, resolve};

/// The result of matching and classifying, before anything is written.
pub struct Reconciliation {
    /// Decided, sorted and numbered lines (schema::line::COLUMNS).
    pub discrepancies: DataFrame,
    pub tallies: Vec<PairingTally>,
    pub inputs: Vec<InputFile>,
    /// Each side's state per pairing, when the job keeps a baseline (sync.rs).
    pub state: Option<DataFrame>,
}

/// Facts about the run itself.
pub struct RunMeta {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub locations: Vec<String>,
    pub shard: Option<Shard>,
    pub merged_from: Vec<String>,
    /// The state folder where this run stores its baseline (a whole run with one).
    pub state: Option<std::path::PathBuf>,
    /// The name `--operator` gave, recorded in the ledger beside the OS user.
    pub operator: Option<String>,
    /// When the lines and corrections are also written as workbooks.
    pub xlsx: super::xlsx::XlsxLines,
}

impl RunMeta {
    pub fn new(locations: Vec<String>, shard: Option<Shard>) -> RunMeta {
        let started_at = Utc::now();
        RunMeta {
            run_id: new_run_id(started_at),
            started_at,
            locations,
            shard,
            merged_from: Vec::new(),
            state: None,
            operator: None,
            xlsx: Default::default(),
        }
    }
}

/// `20261126T021500Z-3fa9c2d1`: sortable by time; the suffix keeps two runs started in
/// the same second (shards on one machine) apart.
pub fn new_run_id(t: DateTime<Utc>) -> String {
    use sha2::{Digest, Sha256};
    let seed = format!(
        "{:?}-{}-{:?}",
        t.timestamp_nanos_opt(),
        std::process::id(),
        std::thread::current().id()
    );
    let digest = Sha256::digest(seed.as_bytes());
    let suffix: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{suffix}", t.format("%Y%m%dT%H%M%SZ"))
}

pub struct RunResult {
    pub run_dir: PathBuf,
    pub manifest: Manifest,
    /// The ledger's head after this run's entries, when the job keeps a ledger.
    pub ledger_head: Option<crate::audit::ledger::Head>,
}

pub fn write_run(job: &Job, rec: Reconciliation, meta: RunMeta, out: &Path) -> Result<RunResult> {
    let Reconciliation {
        discrepancies,
        tallies,
        inputs,
        state,
    } = rec;
    let t = std::time::Instant::now();
    let corrections = resolve::corrections(&discrepancies)?;
    // Accuracy and shrink per location: the manifest's totals and the reports read them.
    let figures = crate::figures::per_location(&discrepancies, &tallies)?;
    let totals = totals(&discrepancies, &figures, &job.rules.precision)?;
    let guard = crate::guard::assess(job, &discrepancies, &corrections, &tallies, &inputs)?;
    trace("  corrections, totals and guard", t);
    let outcome = if totals.needs_person > 0 || guard.held {
        Outcome::NeedsReview
    } else {
        Outcome::Reconciled
    };

    let t = std::time::Instant::now();
    let mut dir = RunDir::create(out, &meta.run_id)?;
    // The lines' two files are written on their own thread while the corrections and
    // the reports are written here: each is mostly one core's work.
    let files = dir.files();
    // The ledger's line records: their files, and the columns and leaves its entry names.
    type Audited = (
        Vec<WrittenFile>,
        Vec<String>,
        Vec<crate::audit::merkle::Hash>,
    );
    let (correction_totals, lines_written, audited) = std::thread::scope(
        |scope| -> Result<(CorrectionTotals, Vec<WrittenFile>, Option<Audited>)> {
            let lines = scope.spawn(|| -> Result<Vec<WrittenFile>> {
                let t = std::time::Instant::now();
                let csv =
                    files.write_csv("discrepancies.csv", &discrepancies, &job.rules.precision)?;
                trace("  discrepancies.csv", t);
                let t = std::time::Instant::now();
                let parquet = files.write_parquet("discrepancies.parquet", &discrepancies)?;
                trace("  discrepancies.parquet", t);
                let mut written = vec![csv, parquet];
                if meta.xlsx.wanted(discrepancies.height()) {
                    let t = std::time::Instant::now();
                    let book =
                        super::xlsx::workbook(&discrepancies, &job.rules.precision, "Lines")?;
                    written.push(files.write_bytes("discrepancies.xlsx", &book)?);
                    trace("  discrepancies.xlsx", t);
                }
                Ok(written)
            });
            // The ledger's line records on a third: much of their time is the disk's.
            let audit = job.ledger.is_some().then(|| {
                scope.spawn(|| -> Result<Audited> {
                    let t = std::time::Instant::now();
                    // The lines as people see them (the CSV's figures), one canonical
                    // record each, and their hash tree's leaves.
                    let shown = job.rules.precision.for_people(&discrepancies)?;
                    let (columns, records, leaves) = crate::audit::record::line_records(&shown)?;
                    let written = vec![
                        files.write_bytes(crate::audit::record::LINES_FILE, &records)?,
                        files.write_bytes(
                            crate::audit::record::LEAVES_FILE,
                            &crate::audit::record::leaves_bytes(&leaves),
                        )?,
                    ];
                    trace("  audit line records", t);
                    Ok((written, columns, leaves))
                })
            });
            let here = (|| -> Result<CorrectionTotals> {
                let t = std::time::Instant::now();
                let mut correction_totals = CorrectionTotals {
                    total: corrections.height() as u64,
                    ..Default::default()
                };
                correction_totals.by_target = count_by(&corrections, correction::TARGET)?
                    .into_iter()
                    .collect();
                correction_totals.files = corrections::write(
                    &mut dir,
                    &corrections,
                    &discrepancies,
                    job,
                    meta.xlsx.wanted(corrections.height()),
                )?;
                // The recount sheets to take onto the shop floor, one per location.
                if meta.xlsx != super::xlsx::XlsxLines::None {
                    for (rel, bytes) in
                        super::recount::sheets(&discrepancies, &meta.run_id, job.recount_sheet)?
                    {
                        dir.write_bytes(&rel, &bytes)?;
                    }
                }
                // A shard's part of the baseline, for `tally merge` to store (hashed like the rest).
                if let (Some(state), Some(_)) = (&state, meta.shard) {
                    dir.write_parquet(crate::sync::SHARD_PART, state)?;
                }
                trace("  corrections written", t);
                let t = std::time::Instant::now();
                // Reports name the job file only; the manifest has its full path and hash.
                let job_name = job.path.file_name().map_or_else(
                    || job.path.display().to_string(),
                    |n| n.to_string_lossy().into(),
                );
                let report_input = report::ReportInput {
                    run_id: &meta.run_id,
                    started_at: meta.started_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    job: job_name,
                    outcome: outcome.as_str(),
                    totals: &totals,
                    pairings: &tallies,
                    figures: &figures,
                    corrections: &correction_totals,
                    precision: &job.rules.precision,
                    rule_words: report::words::rule_phrases(&job.rules),
                    approvers: job.approvers.keys().cloned().collect(),
                    run_by: run_by(),
                    approval_above: job.rules.approval_above.map(|d| d.normalize().to_string()),
                    earlier: report::history::earlier_runs(
                        &report::history::Places {
                            output: out,
                            state: meta.state.as_deref(),
                            ledger: job.ledger.as_deref(),
                        },
                        &job.path,
                        &meta.run_id,
                    ),
                    lines_xlsx: meta.xlsx.wanted(discrepancies.height()),
                    recount_sheets: meta.xlsx != super::xlsx::XlsxLines::None,
                    templates: job.templates.clone(),
                };
                let files = dir.files();
                let pages = report::render(&report_input, &discrepancies, |page| {
                    files.write_bytes(&page.path, page.text.as_bytes())
                })?;
                dir.add_written(pages);
                trace("  reports rendered and written", t);
                Ok(correction_totals)
            })();
            let lines = lines
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let audited = audit
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .transpose();
            Ok((here?, lines?, audited?))
        },
    )?;
    // Listed as before: the lines' files first.
    let mut lines_written = lines_written;
    let audited = audited.map(|(files, columns, leaves)| {
        lines_written.extend(files);
        (columns, leaves)
    });
    dir.add_written_first(lines_written);
    trace("lines, corrections and reports written", t);
    let manifest = Manifest {
        run_id: meta.run_id,
        engine: manifest::Engine::default(),
        started_at: meta.started_at,
        finished_at: Utc::now(),
        run_by: run_by(),
        job: HashedFile::of(&job.path)?,
        rules: HashedFile::of(&job.rules.path)?,
        locations: meta.locations,
        shard: meta.shard,
        merged_from: meta.merged_from,
        state: meta.state.map(|p| p.display().to_string()),
        inputs,
        ties_out: tallies.iter().all(|t| t.ties_out),
        pairings: tallies,
        discrepancies: totals,
        corrections: correction_totals,
        rules_in_force: manifest::rules_in_force(&job.rules),
        precision: job.rules.precision,
        default_decision: job.rules.default,
        outcome,
        exit_code: outcome.exit_code(),
        guard,
        files: dir.written.clone(),
    };
    dir.write_bytes("manifest.json", &serde_json::to_vec_pretty(&manifest)?)?;
    // The run is recorded in the ledger before its directory moves into place; the head
    // it leaves goes into the directory (after the manifest, which the ledger hashes).
    let ledger_head = match (&job.ledger, audited) {
        (Some(ledger), Some((columns, leaves))) => {
            let manifest_sha256 = dir
                .written
                .last()
                .map(|f| f.sha256.clone())
                .unwrap_or_default();
            let entries = crate::audit::record::run_entries(
                &manifest,
                dir.target(),
                meta.operator.as_deref(),
                cut_offs(job),
                &columns,
                &leaves,
                &manifest_sha256,
            )?;
            let head = crate::audit::ledger::append(ledger, &entries)?;
            dir.files().write_bytes(
                crate::audit::record::HEAD_FILE,
                &serde_json::to_vec_pretty(&head)?,
            )?;
            Some(head)
        }
        _ => None,
    };
    let run_dir = dir.commit()?;
    Ok(RunResult {
        run_dir,
        manifest,
        ledger_head,
    })
}

/// Each source's declared as-of time, with its zone as written, for the ledger.
fn cut_offs(job: &Job) -> serde_json::Value {
    job.sources
        .iter()
        .filter_map(|s| s.as_of.map(|t| (s.name.clone(), t.to_rfc3339().into())))
        .collect::<serde_json::Map<String, serde_json::Value>>()
        .into()
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

/// The exact sum of a decimal column: its mantissa and scale.
fn decimal_sum(frame: &DataFrame, column: &str) -> Result<(i128, u32)> {
    let c = frame.column(column)?;
    let DataType::Decimal(_, scale) = c.dtype() else {
        anyhow::bail!("internal error: {column} is not a decimal column");
    };
    let mut sum: i128 = 0;
    for v in c.decimal()?.physical().iter().flatten() {
        sum = sum
            .checked_add(v)
            .ok_or_else(|| anyhow::anyhow!("the sum of {column} is too large to hold"))?;
    }
    Ok((sum, *scale as u32))
}

/// Who ran the job, as the manifest and the reports name them.
fn run_by() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

fn totals(
    discrepancies: &DataFrame,
    figures: &std::collections::BTreeMap<String, crate::figures::LocationFigures>,
    precision: &Precision,
) -> Result<Totals> {
    let mut t = Totals {
        lines: discrepancies.height() as u64,
        ..Default::default()
    };
    t.by_kind = count_by(discrepancies, line::KIND)?.into_iter().collect();
    t.by_severity = count_by(discrepancies, line::SEVERITY)?
        .into_iter()
        .collect();
    t.by_resolution = count_by(discrepancies, line::RESOLUTION)?
        .into_iter()
        .collect();
    t.by_rule = count_by(discrepancies, line::RULE)?.into_iter().collect();
    let (qty, scale) = decimal_sum(discrepancies, line::QTY_DELTA)?;
    t.qty_delta_sum = crate::precision::exact(qty, scale);
    // The exact values summed, then rounded once (precision.rs).
    let (value, _) = decimal_sum(discrepancies, line::VALUE_DELTA)?;
    t.value_delta_sum = precision.money.show(value);
    t.needs_person = discrepancies
        .clone()
        .lazy()
        .filter(crate::classify::needs_person())
        .collect()?
        .height() as u64;
    let figures = crate::figures::total(figures);
    t.counted = figures.counted;
    t.agree = figures.agree();
    t.accuracy_percent = figures
        .accuracy_hundredths()
        .map(crate::figures::percent_text);
    t.book_value = precision.money.show(figures.book_value);
    t.qty_value_sum = precision.money.show(figures.qty_value);
    t.shrink_percent = figures
        .shrink_hundredths()
        .map(crate::figures::percent_text);
    Ok(t)
}
