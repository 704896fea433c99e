//! The command line. Exit codes are for schedulers: 0 reconciled and nothing needs a
//! person, 1 differences need review, 2 the job could not run.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tally",
    version,
    about = "Reconcile inventory between retail systems."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a job: extract, match, classify, and write a run directory with reports.
    Run {
        /// The job file (TOML).
        job: PathBuf,
        /// Where the run directory goes (default: the job's `output`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Reconcile only this location (repeatable).
        #[arg(long = "location", value_name = "L")]
        locations: Vec<String>,
        /// Handle only the locations a stable hash puts in shard I of N (0-based);
        /// combine the shard runs with `tally merge`.
        #[arg(long, value_name = "I/N")]
        shard: Option<crate::shard::Shard>,
    },
    /// Combine shard runs of one job into one run directory.
    Merge {
        /// The shard run directories, one per shard.
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
        /// Where the merged run directory goes.
        #[arg(long)]
        out: PathBuf,
    },
    /// Validate a job and its rules; list every error with file and line.
    Check {
        /// The job file (TOML).
        job: PathBuf,
    },
}
