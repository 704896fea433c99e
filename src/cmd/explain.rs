//! `tally explain`: one item's story, or a run's line's; it writes nothing.

use std::path::Path;

use anyhow::Result;

use super::Outcome;

pub fn explain_item(
    job: &Path,
    location: &str,
    sku: &str,
    state: Option<&Path>,
) -> Result<Outcome> {
    crate::explain::explain_job(job, location, sku, state)?;
    Ok(Outcome::Done)
}

pub fn explain_line(run_dir: &Path, line: u64, state: Option<&Path>) -> Result<Outcome> {
    crate::explain::explain_line(run_dir, line, state)?;
    Ok(Outcome::Done)
}
