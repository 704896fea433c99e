//! A spinner per pipeline stage on a terminal, ending in a line with what the stage did
//! and its rows per second; nothing at all when stderr is not a terminal (cron, systemd
//! and Kubernetes logs stay clean).

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Stage {
    bar: ProgressBar,
    started: Instant,
}

impl Stage {
    pub fn start(name: impl Into<String>) -> Stage {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
        );
        bar.set_message(name.into());
        bar.enable_steady_tick(Duration::from_millis(120));
        Stage {
            bar,
            started: Instant::now(),
        }
    }

    /// A stage that goes through `len` known steps (buckets), drawn as a bar.
    pub fn bar(name: impl Into<String>, len: u64) -> Stage {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(name.into());
        bar.enable_steady_tick(Duration::from_millis(120));
        Stage {
            bar,
            started: Instant::now(),
        }
    }

    /// One more step done (callable from several threads).
    pub fn step(&self) {
        self.bar.inc(1);
    }

    /// Ends the stage, leaving one line with what it did.
    pub fn done(self, what: impl Into<String>) {
        let msg = format!("{} — {}", self.bar.message(), what.into());
        self.bar.set_style(
            ProgressStyle::with_template("✓ {msg} ({elapsed_precise})").expect("valid template"),
        );
        self.bar.finish_with_message(msg);
    }

    /// Ends a stage that went through `rows` rows, with its throughput.
    pub fn done_rows(self, rows: u64, what: impl Into<String>) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = rows as f64 / secs;
        let what = what.into();
        self.done(format!("{what}, {} rows/s", human(rate)));
    }
}

fn human(rate: f64) -> String {
    match rate {
        r if r >= 1e6 => format!("{:.1}M", r / 1e6),
        r if r >= 1e3 => format!("{:.1}k", r / 1e3),
        r => format!("{r:.0}"),
    }
}

/// With `TALLY_TRACE=1`, prints how long a step took to stderr (for profiling runs).
/// Each line also says when the step ended, counted from the first traced step's start,
/// so that steps of buckets running side by side can be laid on one time line.
/// A step's time summed over the threads that did it (CPU time, not wall time).
pub fn trace_sum(step: &str, nanos: u64) {
    if std::env::var_os("TALLY_TRACE").is_some_and(|v| v == "1") {
        eprintln!("[trace   sum  ] {step}: {:.3}s", nanos as f64 / 1e9);
    }
}

pub fn trace(step: &str, since: Instant) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| since);
    if std::env::var_os("TALLY_TRACE").is_some_and(|v| v == "1") {
        eprintln!(
            "[trace {:7.3}] {step}: {:.3}s",
            start.elapsed().as_secs_f64(),
            since.elapsed().as_secs_f64()
        );
    }
}
