//! `tally merge`: shard runs (`tally run --shard I/N`) combined into one run directory
//! that equals a single-machine run of the same job: the same lines in the same order
//! and numbering, the same corrections, reports and totals.
//!
//! Shards must come from one job and one rules file (by hash), with one shard of each
//! index. The job file is read again from the path the shards recorded, and must still
//! hash the same, since corrections and reports need its sources' settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use polars::prelude::*;

use crate::classify;
use crate::input::InputFile;
use crate::progress::Stage;
use crate::schema::line;
use crate::write::manifest::{Manifest, PairingTally};
use crate::write::publish::{self, Reconciliation, RunMeta, RunResult};
use crate::write::read::read_manifest;

/// Merges shard runs into one run directory in `out`; with a state folder (given, else
/// the job's) the shards' parts of the baseline become the merged run's baseline.
pub fn merge(run_dirs: &[PathBuf], out: &Path, state: Option<&Path>) -> Result<RunResult> {
    ensure!(!run_dirs.is_empty(), "no run directories to merge");
    let stage = Stage::start(format!("merge {} shard runs", run_dirs.len()));
    let manifests: Vec<Manifest> = run_dirs
        .iter()
        .map(|d| read_manifest(d))
        .collect::<Result<_>>()?;
    check_shards(run_dirs, &manifests)?;

    let first = &manifests[0];
    let job = crate::write::read::job_of(first)?;

    let mut frames = Vec::with_capacity(run_dirs.len());
    for dir in run_dirs {
        let path = dir.join("discrepancies.parquet");
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        frames.push(
            ParquetReader::new(file)
                .finish()?
                .lazy()
                .drop(cols([line::LINE])),
        );
    }
    let discrepancies = classify::finish(concat(frames, UnionArgs::default())?)?;

    let mut tallies: Vec<PairingTally> = Vec::new();
    let mut inputs: BTreeMap<(String, PathBuf, String), InputFile> = BTreeMap::new();
    for m in &manifests {
        for t in &m.pairings {
            match tallies.iter_mut().find(|x| x.name == t.name) {
                Some(x) => x.add(t),
                None => tallies.push(t.clone()),
            }
        }
        for i in &m.inputs {
            inputs
                .entry((i.source.clone(), i.path.clone(), i.sha256.clone()))
                .or_insert_with(|| i.clone());
        }
    }
    for t in &mut tallies {
        t.ties_out = t.book.ties_out() && t.observed.ties_out();
    }
    let mut meta = RunMeta::new(first.locations.clone(), None);
    meta.merged_from = manifests.iter().map(|m| m.run_id.clone()).collect();
    let state_dir = state.map(Path::to_path_buf).or_else(|| job.state.clone());
    let parts = match &state_dir {
        Some(_) => Some(shard_parts(run_dirs, &manifests)?),
        None => None,
    };
    let rec = Reconciliation {
        // Shards are partial runs: they keep no baseline.
        state: None,
        discrepancies,
        tallies,
        inputs: inputs.into_values().collect(),
    };
    // The output folder is made and held only once the shards are known to fit.
    let _held = crate::files::FolderLock::take(
        out,
        ".tally-merge.lock",
        crate::files::Hold::Exclusive,
        "output folder",
    )?;
    // The baseline is staged before the run directory moves into place, and moves in
    // after it (as a single run's does).
    let held_state = match &state_dir {
        Some(dir) => Some(crate::files::FolderLock::take(
            dir,
            crate::sync::STATE_LOCK,
            crate::files::Hold::Exclusive,
            "state folder",
        )?),
        None => None,
    };
    let staged = match (&held_state, parts) {
        (Some(lock), Some(parts)) => {
            meta.state = Some(std::path::absolute(&lock.dir).unwrap_or(lock.dir.clone()));
            let covered = (!first.locations.is_empty()).then_some(first.locations.as_slice());
            Some(crate::sync::stage_for(
                &lock.dir,
                parts,
                &meta.run_id,
                &out.join(&meta.run_id),
                covered,
            )?)
        }
        _ => None,
    };
    let result = publish::write_run(&job, rec, meta, out)?;
    stage.done(result.run_dir.display().to_string());
    if let Some(staged) = staged {
        let path = staged.commit()?;
        println!("  baseline: {}", path.display());
    }
    Ok(result)
}

/// Each shard's part of the baseline, from its run directory (checked against its
/// manifest), put together.
fn shard_parts(run_dirs: &[PathBuf], manifests: &[Manifest]) -> Result<DataFrame> {
    let mut parts = Vec::with_capacity(run_dirs.len());
    for (dir, m) in run_dirs.iter().zip(manifests) {
        let recorded = m.files.iter().find(|f| f.path == crate::sync::SHARD_PART);
        let Some(recorded) = recorded else {
            bail!(
                "{} holds no part of the baseline: run its shards with the job's state (or --state) to merge a baseline",
                dir.display()
            );
        };
        let path = dir.join(crate::sync::SHARD_PART);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        ensure!(
            crate::values::sha256_hex(&bytes) == recorded.sha256,
            "{} does not match its run's manifest (SHA-256 differs)",
            path.display()
        );
        parts.push(
            ParquetReader::new(std::io::Cursor::new(bytes))
                .finish()?
                .lazy(),
        );
    }
    Ok(concat(parts, UnionArgs::default())?.collect()?)
}

/// One job, one rules file, and each shard index exactly once.
fn check_shards(dirs: &[PathBuf], manifests: &[Manifest]) -> Result<()> {
    let first = &manifests[0];
    let Some(shard) = first.shard else {
        bail!(
            "{} is not a shard run (it was not run with --shard)",
            dirs[0].display()
        );
    };
    let mut seen = vec![None; shard.count as usize];
    for (dir, m) in dirs.iter().zip(manifests) {
        let Some(s) = m.shard else {
            bail!(
                "{} is not a shard run (it was not run with --shard)",
                dir.display()
            );
        };
        ensure!(
            s.count == shard.count,
            "{} is shard {s} but {} is shard {shard}",
            dir.display(),
            dirs[0].display()
        );
        ensure!(
            m.job.sha256 == first.job.sha256 && m.rules.sha256 == first.rules.sha256,
            "{} ran a different job or rules file than {}",
            dir.display(),
            dirs[0].display()
        );
        ensure!(
            m.locations == first.locations,
            "{} ran with other --location filters",
            dir.display()
        );
        if let Some(other) = seen[s.index as usize].replace(dir) {
            bail!(
                "shard {s} is given twice: {} and {}",
                other.display(),
                dir.display()
            );
        }
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(i, _)| format!("{i}/{}", shard.count))
        .collect();
    ensure!(missing.is_empty(), "shards missing: {}", missing.join(", "));
    Ok(())
}
