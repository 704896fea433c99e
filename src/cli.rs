//! The command line. Exit codes are for schedulers: 0 reconciled and nothing needs a
//! person, 1 differences need review, 2 the job could not run, 3 write-back failed and
//! was rolled back.

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
        #[command(flatten)]
        options: crate::run::RunOptions,
    },
    /// Apply a reviewed run's corrections to the sources that have `write_back`.
    Apply {
        /// The run directory (its manifest names the job).
        run_dir: PathBuf,
        /// Write back although the blast-radius guard held the run (an empty input, or
        /// more changes than the rules' [guard] allows); recorded in the run directory.
        #[arg(long)]
        force: bool,
    },
    /// Approve corrections held back by the rules' approval threshold (someone other
    /// than the one who ran the job); `tally apply` then writes them back.
    Approve {
        /// The run directory.
        run_dir: PathBuf,
        /// A line to approve (repeatable).
        #[arg(long = "line", value_name = "N", required = true)]
        lines: Vec<u64>,
        /// Who approves (default: $USER).
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// The approver's private key (`tally audit keygen`), when the job lists
        /// `[approvers]`: the approval is signed with it.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Combine shard runs of one job into one run directory.
    Merge {
        /// The shard run directories, one per shard.
        #[arg(required = true)]
        run_dirs: Vec<PathBuf>,
        /// Where the merged run directory goes.
        #[arg(long)]
        out: PathBuf,
        /// The state folder where the merged run stores its baseline (default: the job's
        /// `state`); the shards' parts of it come from their run directories.
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
    },
    /// Tell the whole story of one item at one location: raw rows, SKU steps, match
    /// step, units and movements, the rule and the decision (nothing is written).
    Explain {
        /// The job file (TOML); with --line, a run directory.
        job: PathBuf,
        /// The location code (as the lines show it).
        #[arg(long, required_unless_present = "line")]
        location: Option<String>,
        /// A SKU as any source writes it, or the item key.
        #[arg(long, required_unless_present = "line")]
        sku: Option<String>,
        /// A line of the run directory given instead of the job (as its reports number
        /// them): that line's item and location.
        #[arg(long, conflicts_with_all = ["location", "sku"])]
        line: Option<u64>,
        /// The state folder whose baseline to compare with (default: the job's `state`).
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
    },
    /// Proof after apply: read the written targets again for the corrected keys and show
    /// that each holds what was posted (exit 1 naming a line that does not).
    Verify {
        /// The run directory.
        run_dir: PathBuf,
    },
    /// The audit trail: check a job's ledger.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Validate a job and its rules; list every error with file and line.
    Check {
        /// The job file (TOML).
        job: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every link of a ledger, and each run it records against its run directory:
    /// exit 0 when all holds, 1 naming the first thing that does not.
    Verify {
        /// The ledger file (the job's `ledger`).
        ledger: PathBuf,
        /// A signed checkpoint (`tally audit checkpoint`) kept apart from the ledger: the
        /// chain must still hold its head (catches a rewrite of the whole file).
        #[arg(long, value_name = "FILE", requires = "trust")]
        checkpoint: Option<PathBuf>,
        /// The public key (hex) the checkpoint must be signed with.
        #[arg(long, value_name = "HEX")]
        trust: Option<String>,
    },
    /// Sign the ledger's head with an Ed25519 key, as a checkpoint to keep elsewhere.
    Checkpoint {
        /// The ledger file.
        ledger: PathBuf,
        /// The private key file (`tally audit keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where the checkpoint goes.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Make an Ed25519 key for checkpoints: the private key file (mode 0600) and the
    /// public key printed.
    Keygen {
        /// The private key file to create.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// What the ledger holds of one run, as text a person reads.
    Show {
        /// The run directory.
        run_dir: PathBuf,
    },
    /// Every line the ledger's runs recorded, with its decision, approval and posting,
    /// as one table; the filters narrow it (each given must hold).
    Export {
        /// The ledger file.
        ledger: PathBuf,
        /// The file to write: .csv, .xlsx or .parquet.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Runs started on or after this day (YYYY-MM-DD, UTC).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Runs started on or before this day (YYYY-MM-DD, UTC).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// A location (repeatable).
        #[arg(long = "location", value_name = "L")]
        locations: Vec<String>,
        /// A SKU as either side writes it, or an item key (repeatable).
        #[arg(long = "sku", value_name = "S")]
        skus: Vec<String>,
        /// A run id (repeatable).
        #[arg(long = "run", value_name = "ID")]
        runs: Vec<String>,
        /// A decision: ignore, correct_book, correct_observed, newer_wins, propagate,
        /// recount or review (repeatable).
        #[arg(long = "decision", value_name = "RESOLUTION")]
        decisions: Vec<String>,
    },
    /// Draw a monetary-unit sample of a run's lines (probability proportional to their
    /// value) as a blind count sheet, and record the seed and the method in the ledger.
    Sample {
        /// The run directory (its job keeps a `ledger`).
        run_dir: PathBuf,
        /// How many points to draw (lines worth more than the interval hold several).
        #[arg(long)]
        size: usize,
        /// The seed: the same run and seed give the same sample.
        #[arg(long)]
        seed: u64,
        /// The count sheet to write, .csv or .xlsx (default: sample-<run id>-<seed>.csv).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(crate::values::parse_size("6GiB"), Ok(6 << 30));
        assert_eq!(crate::values::parse_size("512M"), Ok(512 << 20));
        assert_eq!(crate::values::parse_size("1000"), Ok(1000));
        assert!(crate::values::parse_size("0").is_err());
        assert!(crate::values::parse_size("6 furlongs").is_err());
    }
}
