//! `tally check`: every error at once, nothing written.

use std::path::Path;

use anyhow::Result;

use super::Outcome;
use crate::job::{self, Role};
use crate::{extract, reference};

/// `tally check`: validates the job, the rules and every input as a run reads them.
pub fn check_job(job_path: &Path) -> Result<Outcome> {
    let job = job::load(job_path)?;
    let mut problems = Vec::new();
    for source in &job.sources {
        problems.extend(extract::check_headers(source));
    }
    // The rules' tables are read and checked as a run reads them.
    if problems.is_empty()
        && job.sources.iter().any(|s| s.role != Role::Snapshot)
        && let Err(e) = reference::load(&job)
    {
        problems.push(format!("{e:#}"));
    }
    // A file that looks like a known export, read by a job that names no preset.
    for source in job.sources.iter().filter(|s| s.layout.preset.is_none()) {
        if let Some(p) = source
            .files
            .first()
            .and_then(|f| extract::file_headers(source, f))
            .and_then(|h| crate::job::preset::looks_like(&h))
        {
            println!(
                "note: source `{}` looks like {}: preset = \"{}\" reads it (docs/presets.md)",
                source.name,
                p.system.split(':').next().unwrap_or(p.system),
                p.name
            );
        }
    }
    if problems.is_empty() {
        println!(
            "{}: ok ({} sources, {} pairings, {} rules)",
            job_path.display(),
            job.sources.len(),
            job.pairings.len(),
            job.rules.rules.len()
        );
        Ok(Outcome::Done)
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        Ok(Outcome::CannotRun)
    }
}
