//! `tally`: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;
use tally::cli::{Cli, Command};
use tally::run::{self, RunOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            job,
            out,
            locations,
            shard,
        } => run::run_job(
            &job,
            &RunOptions {
                out,
                locations,
                shard,
            },
        ),
        Command::Merge { run_dirs, out } => tally::merge::merge_runs(&run_dirs, &out),
        Command::Check { job } => run::check_job(&job),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(run::EXIT_CANNOT_RUN)
        }
    }
}
