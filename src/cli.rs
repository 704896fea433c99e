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
    },
    /// Validate a job and its rules; list every error with file and line.
    Check {
        /// The job file (TOML).
        job: PathBuf,
    },
}
