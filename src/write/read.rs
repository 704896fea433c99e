//! The run directory read back, for the commands that act on a finished run (apply,
//! approve, merge, explain): its manifest, its lines (only if every file it hashed is
//! unchanged), the job it ran; and the files those commands add to it, written whole.

use std::path::Path;

use anyhow::{Context, Result};
use polars::prelude::*;

use super::manifest::Manifest;
use crate::job::{self, Job};

/// The manifest of a finished run.
pub fn read_manifest(run_dir: &Path) -> Result<Manifest> {
    let path = run_dir.join("manifest.json");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a tally manifest", path.display()))
}

/// The lines as the run decided them, from the run's own record. Every file the
/// manifest hashed must still be as it was: an edited run never writes to a database.
pub fn recorded_discrepancies(run_dir: &Path, manifest: &Manifest) -> Result<DataFrame> {
    let mut changed = Vec::new();
    let mut parquet = None;
    for file in &manifest.files {
        let path = run_dir.join(&file.path);
        match std::fs::read(&path) {
            Ok(bytes) => {
                if crate::values::sha256_hex(&bytes) != file.sha256 {
                    changed.push(format!("{} (SHA-256 differs)", file.path));
                } else if file.path == "discrepancies.parquet" {
                    parquet = Some(bytes);
                }
            }
            Err(e) => changed.push(format!("{} ({e})", file.path)),
        }
    }
    anyhow::ensure!(
        changed.is_empty(),
        "{} does not match the run's manifest: {}; nothing done",
        run_dir.display(),
        changed.join(", ")
    );
    let bytes = parquet.with_context(|| {
        format!(
            "{}: the manifest lists no discrepancies.parquet",
            run_dir.display()
        )
    })?;
    Ok(ParquetReader::new(std::io::Cursor::new(bytes)).finish()?)
}

/// The job a finished run ran, loaded again from the path its manifest records; it must
/// still hash the same (corrections and reports depend on its settings).
pub fn job_of(manifest: &Manifest) -> Result<Job> {
    let job = job::load(&manifest.job.path).with_context(|| "loading the run's job file")?;
    let now = crate::write::manifest::HashedFile::of(&job.path)?;
    anyhow::ensure!(
        now.sha256 == manifest.job.sha256,
        "{} changed since the run (SHA-256 differs); run the job again",
        job.path.display()
    );
    Ok(job)
}

/// A time for the name of a file added to a finished run (`applied-`, `approvals-`, …),
/// with the process id: two processes in the same millisecond write two files.
pub fn stamp(now: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{}-{}",
        now.format("%Y%m%dT%H%M%S%.3fZ"),
        std::process::id()
    )
}

/// Writes a file next to a finished run: whole or not at all (temp file, then rename).
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let partial = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    crate::files::write(&partial, bytes)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}
