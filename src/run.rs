//! The pipeline, top to bottom: load the job, extract every source once, key the rows,
//! and for each pairing match and classify; then write the run directory (corrections,
//! reports, manifest). Nothing is written unless every stage before succeeded.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::extract::{self, Buckets};
use crate::files::{FolderLock, Hold};
use crate::input::InputFile;
use crate::job::{Job, Role};
use crate::progress::Stage;
use crate::reference::{self, References};
use crate::shard::Shard;
use crate::sync::STATE_LOCK;
use crate::write::manifest::PairingTally;
use crate::write::publish::{self, Reconciliation, RunMeta, RunResult};
use crate::{classify, matching, normalize, prepare, sync};

/// `tally run`'s options (the command line's, through clap).
#[derive(Debug, clap::Args)]
pub struct RunOptions {
    /// Where the run directory goes (default: the job's `output`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Reconcile only this location (repeatable).
    #[arg(long = "location", value_name = "L")]
    pub locations: Vec<String>,
    /// Handle only the locations a stable hash puts in shard I of N (0-based);
    /// combine the shard runs with `tally merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Memory the run may use (e.g. 6GiB, 512MiB); inputs that need more are
    /// reconciled one bucket of locations at a time.
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = crate::values::parse_size)]
    pub memory: u64,
    /// Write the decided corrections back to the sources that have `write_back`
    /// (without it, a run is a dry run: `tally apply RUN_DIR` can apply it later).
    #[arg(long)]
    pub apply: bool,
    /// The state folder holding the baseline for three-way sync (default: the
    /// job's `state`); read before the run, replaced after a whole run.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// A name for who runs the job, recorded in the audit ledger beside the OS user
    /// (never instead of it).
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// Also write the lines and corrections as workbooks: auto (runs of up to 50,000
    /// lines), all, or none.
    #[arg(long, value_enum, default_value = "auto")]
    pub xlsx: crate::write::xlsx::XlsxLines,
}

impl RunOptions {
    fn state_dir(&self, job: &Job) -> Option<PathBuf> {
        self.state.clone().or_else(|| job.state.clone())
    }
}

/// The folders a run writes, held for as long as it runs (files.rs).
pub struct Held {
    pub out: Option<FolderLock>,
    pub state: Option<FolderLock>,
}

/// Creates and locks the output folder and the state folder: a second run of the same
/// job refuses at once, and a folder that cannot be written stops the run before
/// anything is read or written.
pub fn hold(job: &Job, opts: &RunOptions) -> Result<Held> {
    let out = opts.out.clone().unwrap_or_else(|| job.output.clone());
    // One lock per job and shard: the shards of a job share an output folder.
    let job_path = std::path::absolute(&job.path).unwrap_or_else(|_| job.path.clone());
    let seed = format!(
        "{}\n{}",
        job_path.display(),
        opts.shard.map(|s| s.to_string()).unwrap_or_default()
    );
    let hash = crate::values::sha256_hex(seed.as_bytes());
    let name = format!(".tally-run-{}.lock", &hash[..16]);
    // Shards of one job run side by side and only read the baseline; any other run
    // moves it on.
    let hold = if opts.shard.is_some() {
        Hold::Shared
    } else {
        Hold::Exclusive
    };
    let state = opts
        .state_dir(job)
        .map(|dir| FolderLock::take(&dir, STATE_LOCK, hold, "state folder"))
        .transpose()?;
    let out = FolderLock::take(&out, &name, Hold::Exclusive, "output folder")?;
    Ok(Held {
        out: Some(out),
        state,
    })
}

/// Reconciles and writes the run directory (and, for a whole run, the baseline) into
/// the folders `held`.
pub fn run(job: &Job, opts: &RunOptions, held: &Held) -> Result<RunResult> {
    let mut meta = RunMeta::new(opts.locations.clone(), opts.shard);
    meta.operator = opts.operator.clone();
    meta.xlsx = opts.xlsx;
    if opts.shard.is_none() {
        // Absolute, so that `tally apply` finds it from any directory.
        meta.state = opts
            .state_dir(job)
            .map(|dir| std::path::absolute(&dir).unwrap_or(dir));
    }
    let mut rec = reconcile(job, opts)?;
    // A shard's state goes into its run directory, for `tally merge` to store (shards
    // run side by side and only read the baseline); any other run stores its own: the
    // whole baseline, or that of the locations it ran.
    let state = if opts.shard.is_some() {
        None
    } else {
        rec.state.take()
    };
    // The baseline is written beside the old one first and moves into place only after
    // the run directory: a state folder that cannot take it stops the run with nothing
    // in place.
    let covered = (!opts.locations.is_empty()).then_some(opts.locations.as_slice());
    let out = opts.out.clone().unwrap_or_else(|| job.output.clone());
    let staged = match (&held.state, state) {
        (Some(lock), Some(state)) => Some(sync::stage_for(
            &lock.dir,
            state,
            &meta.run_id,
            &out.join(&meta.run_id),
            covered,
        )?),
        _ => None,
    };
    let stage = Stage::start("write run directory");
    let result = publish::write_run(job, rec, meta, &out)?;
    stage.done(result.run_dir.display().to_string());
    if let Some(staged) = staged {
        let stage = Stage::start("store baseline");
        let path = staged.commit()?;
        stage.done(path.display().to_string());
    } else if let Some(dir) = opts.state_dir(job).filter(|_| opts.shard.is_some()) {
        println!(
            "  baseline in {} kept as it was: a shard's part is in its run directory, for tally merge",
            dir.display()
        );
    }
    Ok(result)
}

/// Extract, key, match and classify: everything but writing. Inputs too large for the
/// memory budget are reconciled one bucket of locations at a time (extract/split.rs).
pub fn reconcile(job: &Job, opts: &RunOptions) -> Result<Reconciliation> {
    let references = load_references(job)?;
    let baseline = match opts.state_dir(job) {
        Some(dir) => sync::load(&dir)?,
        None => None,
    };
    let keep_state = opts.state_dir(job).is_some();
    let stage = Stage::start("plan buckets");
    let work = opts.out.clone().unwrap_or_else(|| job.output.clone());
    let t = std::time::Instant::now();
    let buckets = extract::plan_buckets(job, opts.memory, &work)?;
    crate::progress::trace(&format!("plan and split into {} buckets", buckets.count), t);
    stage.done(match buckets.count {
        1 => "inputs fit in memory: one pass".to_string(),
        n => format!("inputs split into {n} buckets of locations"),
    });

    // With many buckets, one bar for all of them instead of a line per bucket and stage.
    let bar = (buckets.count > 1).then(|| {
        Stage::bar(
            format!("reconcile {} buckets", buckets.count),
            buckets.count.into(),
        )
    });
    let parts = crate::workers::in_buckets(&buckets, |bucket| {
        let part = reconcile_bucket(
            job,
            opts,
            &buckets,
            bucket,
            &Shared {
                references: &references,
                baseline: baseline.as_ref(),
                keep_state,
            },
            bar.is_none(),
        )?;
        let lines = buckets.set_aside(bucket, part.discrepancies)?;
        if let Some(bar) = &bar {
            bar.step();
        }
        Ok((lines, part.tallies, part.inputs, part.state))
    })?;
    if let Some(bar) = bar {
        let rows: u64 = parts.iter().flat_map(|p| &p.2).map(|i| i.rows).sum();
        bar.done_rows(rows, format!("{rows} rows"));
    }
    let mut lines = Vec::new();
    let mut tallies: Vec<PairingTally> = Vec::new();
    let mut inputs: Vec<InputFile> = references.inputs.clone();
    let mut state: Option<DataFrame> = None;
    for (set_aside, part_tallies, part_inputs, part_state) in parts {
        if let Some(part) = part_state {
            match &mut state {
                Some(s) => {
                    s.vstack_mut_owned(part)?;
                }
                None => state = Some(part),
            }
        }
        lines.push(set_aside.load()?.lazy());
        for t in part_tallies {
            match tallies.iter_mut().find(|x| x.name == t.name) {
                Some(sum) => sum.add(&t),
                None => tallies.push(t),
            }
        }
        for i in part_inputs {
            match inputs
                .iter_mut()
                .find(|x| x.source == i.source && x.path == i.path)
            {
                Some(sum) => {
                    sum.records += i.records;
                    sum.rows += i.rows;
                    sum.skipped += i.skipped;
                    sum.undecodable_rows += i.undecodable_rows;
                }
                None => inputs.push(i),
            }
        }
    }
    // In one order whatever the buckets, shards or reading order (merge.rs sorts alike).
    inputs.sort_by(|a, b| (&a.source, &a.path).cmp(&(&b.source, &b.path)));
    let t = std::time::Instant::now();
    let discrepancies = classify::finish(concat(
        lines,
        UnionArgs {
            diagonal: true,
            ..Default::default()
        },
    )?)?;
    crate::progress::trace("sort and number lines", t);
    Ok(Reconciliation {
        discrepancies,
        tallies,
        inputs,
        state,
    })
}

/// Cross-references, conversions and movements: read once, used by every bucket.
fn load_references(job: &Job) -> Result<References> {
    if job.sources.iter().all(|s| s.role == Role::Snapshot) {
        return Ok(References::default());
    }
    let stage = Stage::start("read rules data");
    let refs = reference::load(job)?;
    stage.done(format!(
        "{} table(s){}",
        refs.inputs.len(),
        refs.movements
            .as_ref()
            .map(|m| format!(", {} movements", m.len()))
            .unwrap_or_default()
    ));
    Ok(refs)
}

/// What every bucket reads: the rules' tables and the baseline.
struct Shared<'a> {
    references: &'a References,
    baseline: Option<&'a sync::Baseline>,
    /// Return each side's state for the next baseline.
    keep_state: bool,
}

/// One bucket of locations, start to end; with one bucket, the whole job.
fn reconcile_bucket(
    job: &Job,
    opts: &RunOptions,
    buckets: &Buckets,
    bucket: u32,
    shared: &Shared,
    show_stages: bool,
) -> Result<Reconciliation> {
    let references = shared.references;
    let stage = |name: String| show_stages.then(|| Stage::start(name));
    // Extract and key every source that a pairing uses, once.
    let mut snapshots: BTreeMap<String, DataFrame> = BTreeMap::new();
    let mut inputs: Vec<InputFile> = Vec::new();
    for source in job.sources.iter().filter(|s| job.uses(&s.name)) {
        let stage = stage(format!("extract {}", source.name));
        let snapshot = extract::extract(source, buckets, bucket)
            .with_context(|| format!("source `{}`", source.name))?;
        let t = std::time::Instant::now();
        let mut frame = normalize::key(snapshot.frame, &job.rules)?;
        crate::progress::trace("  item keys", t);
        frame = normalize::keep_locations(frame, &opts.locations)?;
        if let Some(shard) = &opts.shard {
            frame = shard.keep(frame)?;
        }
        if let Some(stage) = stage {
            stage.done_rows(
                frame.height() as u64,
                format!(
                    "{} rows from {} file(s)",
                    frame.height(),
                    snapshot.inputs.len()
                ),
            );
        }
        snapshots.insert(source.name.clone(), frame);
        inputs.extend(snapshot.inputs);
    }

    // Match and classify each pairing.
    let mut state: Option<DataFrame> = None;
    let mut lines = Vec::new();
    let mut tallies = Vec::new();
    for pairing in &job.pairings {
        let stage = stage(format!("match {}", pairing.name));
        let side = |names: &[String]| -> Result<DataFrame> {
            let mut frames = names.iter().map(|n| snapshots[n].clone());
            let mut frame = frames.next().expect("validated: a side names a source");
            for f in frames {
                frame.vstack_mut_owned(f)?;
            }
            normalize::keep_locations(frame, &pairing.locations)
        };
        let PairingRun {
            mut matched,
            lines: decided,
            ..
        } = reconcile_pairing(
            job,
            references,
            &pairing.name,
            side(&pairing.book)?,
            side(&pairing.observed)?,
            shared.baseline,
            shared.keep_state,
            false,
        )?;
        if let Some((book, observed)) = matched.state.take() {
            let part = concat(
                [
                    sync::side_state(book.lazy(), &pairing.name, "book"),
                    sync::side_state(observed.lazy(), &pairing.name, "observed"),
                ],
                UnionArgs::default(),
            )?
            .collect()?;
            match &mut state {
                Some(s) => {
                    s.vstack_mut_owned(part)?;
                }
                None => state = Some(part),
            }
        }
        matched.book.sources = sorted(&pairing.book);
        matched.observed.sources = sorted(&pairing.observed);
        if let Some(stage) = stage {
            stage.done_rows(
                matched.book.rows + matched.observed.rows,
                format!(
                    "{} matched, {} lines",
                    matched.book.matched,
                    decided.height()
                ),
            );
        }
        tallies.push(PairingTally {
            name: pairing.name.clone(),
            ties_out: matched.book.ties_out() && matched.observed.ties_out(),
            book: matched.book,
            observed: matched.observed,
            equal: matched.equal,
            by_location: matched.by_location,
        });
        lines.push(decided.lazy());
    }
    let discrepancies = concat(
        lines,
        UnionArgs {
            diagonal: true,
            ..Default::default()
        },
    )?
    .collect()?;
    Ok(Reconciliation {
        discrepancies,
        tallies,
        inputs,
        state,
    })
}

/// One pairing's reconciliation, from its sides' keyed rows to its decided lines.
pub struct PairingRun {
    /// Each side after the match chain (units, cut-off), when asked for (`tally explain`).
    pub sides: Option<(DataFrame, DataFrame)>,
    pub matched: matching::Matched,
    /// Decided, not yet numbered (numbers are given across pairings).
    pub lines: DataFrame,
}

/// The pipeline for one pairing: the match chain (aliases, GTINs, units, cut-off),
/// matching, the lines and their decisions. `tally run` calls it for each pairing of each
/// bucket; `tally explain` for the one location it tells.
#[allow(clippy::too_many_arguments)]
pub fn reconcile_pairing(
    job: &Job,
    references: &References,
    pairing: &str,
    book: DataFrame,
    observed: DataFrame,
    baseline: Option<&sync::Baseline>,
    keep_state: bool,
    keep_sides: bool,
) -> Result<PairingRun> {
    let t = std::time::Instant::now();
    let (book, observed) = prepare::prepare(book, observed, &prepare::Ground::of(job, references))?;
    crate::progress::trace("match chain, units and cut-off", t);
    let sides = keep_sides.then(|| (book.clone(), observed.clone()));
    let matched = matching::reconcile_keeping(book, observed, keep_state)?;
    let t = std::time::Instant::now();
    let undecided = classify::lines(&matched, pairing, baseline)?;
    let lines = classify::decide(undecided, &job.rules)?.collect()?;
    crate::progress::trace("classify and decide", t);
    Ok(PairingRun {
        sides,
        matched,
        lines,
    })
}

fn sorted(names: &[String]) -> Vec<String> {
    let mut names = names.to_vec();
    names.sort();
    names
}
