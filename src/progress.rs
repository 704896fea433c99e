//! A spinner per pipeline stage on a terminal; nothing at all when stderr is not one
//! (cron, systemd and Kubernetes logs stay clean).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Stage {
    bar: ProgressBar,
}

impl Stage {
    pub fn start(name: impl Into<String>) -> Stage {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
        );
        bar.set_message(name.into());
        bar.enable_steady_tick(Duration::from_millis(120));
        Stage { bar }
    }

    /// Ends the stage, leaving one line with what it did.
    pub fn done(self, what: impl Into<String>) {
        let msg = format!("{} — {}", self.bar.message(), what.into());
        self.bar.set_style(
            ProgressStyle::with_template("✓ {msg} ({elapsed})").expect("valid template"),
        );
        self.bar.finish_with_message(msg);
    }
}
