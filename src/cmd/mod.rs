//! The commands: arguments in, printing and an outcome out. Only `main` turns an outcome
//! (or an error) into an exit code.

pub mod apply;
pub mod approve;
pub mod audit;
pub mod check;
pub mod explain;
pub mod merge;
pub mod run;
pub mod verify;

/// How a command ended, for the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Done, and nothing needs a person.
    Done,
    /// Some lines need a recount or a review, a row was stale, or the guard held the
    /// write-back.
    NeedsPerson,
    /// The job could not run (bad configuration or input); nothing was written.
    CannotRun,
}

impl From<crate::write::manifest::Outcome> for Outcome {
    fn from(run: crate::write::manifest::Outcome) -> Outcome {
        match run {
            crate::write::manifest::Outcome::Reconciled => Outcome::Done,
            crate::write::manifest::Outcome::NeedsReview => Outcome::NeedsPerson,
        }
    }
}
