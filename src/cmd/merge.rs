//! `tally merge`: shard runs of one job into one run directory (and its baseline).

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Outcome;

/// Prints the merged run as `tally run` prints one.
pub fn merge_runs(run_dirs: &[PathBuf], out: &Path, state: Option<&Path>) -> Result<Outcome> {
    let result = crate::merge::merge(run_dirs, out, state)?;
    super::run::print_summary(&result);
    Ok(Outcome::from(result.manifest.outcome))
}
