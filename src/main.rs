//! `tally`: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

// polars allocates and frees large buffers all the time; the system allocator hands
// each back to the kernel and faults it in again (a third of some steps, measured).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            memory,
        } => run::run_job(
            &job,
            &RunOptions {
                out,
                locations,
                shard,
                memory,
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
