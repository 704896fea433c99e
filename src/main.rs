//! `tally`: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

// polars allocates and frees large buffers all the time; the system allocator hands
// each back to the kernel and faults it in again (a third of some steps, measured).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use tally::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A panic anywhere (a bug, or a library's on input it did not expect) is reported as
    // an internal error and exits 2 like any run that could not be made, never 101. The
    // hook only keeps the message: a panic a reader catches itself (a damaged workbook)
    // is that reader's error, not this one.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        // Library messages can quote the input at length: a short excerpt is enough.
        let what: String = what.chars().take(300).collect();
        let place = info
            .location()
            .map(|l| format!(" ({}:{})", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{what}{place}"));
        }
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Debug builds only: lets the tests see the panic path end as an error.
        #[cfg(debug_assertions)]
        if std::env::var_os("TALLY_TEST_PANIC").is_some() {
            panic!("a panic the tests asked for (TALLY_TEST_PANIC)");
        }
        dispatch(cli)
    })) {
        Ok(code) => code,
        Err(_) => {
            let what = LAST_PANIC
                .lock()
                .ok()
                .and_then(|mut l| l.take())
                .unwrap_or_else(|| "a panic".into());
            eprintln!(
                "error: internal error: {what}\n    hint: this is a bug in tally; nothing was \
                 written. Please report it with the command and, if you can, the input"
            );
            ExitCode::from(2)
        }
    }
}

/// The last panic's message and place, for the internal error.
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn dispatch(cli: Cli) -> ExitCode {
    use tally::cmd::{self, Outcome};
    let result = match cli.command {
        Command::Run { job, options } => cmd::run::run_job(&job, &options),
        Command::Apply { run_dir, force } => cmd::apply::apply_run(&run_dir, force),
        Command::Approve {
            run_dir,
            lines,
            by,
            key,
        } => cmd::approve::approve_run(&run_dir, &lines, by, key.as_deref()),
        Command::Merge {
            run_dirs,
            out,
            state,
        } => cmd::merge::merge_runs(&run_dirs, &out, state.as_deref()),
        Command::Check { job } => cmd::check::check_job(&job),
        Command::Audit { command } => cmd::audit::audit(command),
        Command::Verify { run_dir } => cmd::verify::verify_run(&run_dir),
        Command::Explain {
            job,
            location,
            sku,
            line,
            state,
        } => match (line, location, sku) {
            (Some(line), _, _) => cmd::explain::explain_line(&job, line, state.as_deref()),
            (None, Some(location), Some(sku)) => {
                cmd::explain::explain_item(&job, &location, &sku, state.as_deref())
            }
            _ => unreachable!("clap requires --location and --sku without --line"),
        },
    };
    // The one place outcomes become exit codes (README: Exit codes).
    ExitCode::from(match result {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::NeedsPerson) => 1,
        Ok(Outcome::CannotRun) => 2,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.is::<tally::odbc::apply::WriteBackFailed>() {
                3
            } else {
                2
            }
        }
    })
}
