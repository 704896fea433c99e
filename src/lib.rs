//! tally: nightly inventory reconciliation between retail systems.
//!
//! The pipeline runs in one direction (see `run`): job → extract → normalize → match →
//! classify → resolve → write. Each stage is a function of frames where it can be, so it
//! can be tested on a `df!` frame without files.

pub mod approve;
pub mod audit;
pub mod classify;
pub mod cli;
pub mod cmd;
pub mod columns;
pub mod diag;
pub mod discrepancy;
pub mod explain;
pub mod extract;
pub mod figures;
pub mod files;
#[cfg(test)]
mod generative_tests;
pub mod guard;
pub mod input;
pub mod job;
pub mod keys;
pub mod matching;
pub mod merge;
pub mod normalize;
pub mod odbc;
pub mod precision;
pub mod prepare;
pub mod progress;
pub mod reference;
pub mod report;
pub mod resolve;
pub mod rules;
pub mod run;
pub mod schema;
pub mod shard;
pub mod sync;
#[cfg(test)]
mod testing;
pub mod toml_doc;
pub mod values;
pub mod workers;
pub mod write;
