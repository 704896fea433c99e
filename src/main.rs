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
            apply,
            state,
        } => run::run_job(
            &job,
            &RunOptions {
                out,
                locations,
                shard,
                memory,
                apply,
                state,
            },
        ),
        Command::Apply { run_dir, force } => run::apply_run(&run_dir, force),
        Command::Approve { run_dir, lines, by } => {
            tally::approve::approve_run(&run_dir, &lines, by)
        }
        Command::Merge {
            run_dirs,
            out,
            state,
        } => tally::merge::merge_runs(&run_dirs, &out, state.as_deref()),
        Command::Check { job } => run::check_job(&job),
        Command::Explain {
            job,
            location,
            sku,
            line,
            state,
        } => match (line, location, sku) {
            (Some(line), _, _) => tally::explain::explain_line(&job, line, state.as_deref()),
            (None, Some(location), Some(sku)) => {
                tally::explain::explain_job(&job, &location, &sku, state.as_deref())
            }
            _ => unreachable!("clap requires --location and --sku without --line"),
        },
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.is::<tally::odbc::apply::WriteBackFailed>() {
                ExitCode::from(run::EXIT_WRITE_BACK_FAILED)
            } else {
                ExitCode::from(run::EXIT_CANNOT_RUN)
            }
        }
    }
}
