//! Integration tests: the `tally` binary on real files, one module per area.

mod audit;
mod bad_input;
mod buckets;
mod check;
mod common;
mod deploy;
mod docs;
mod explain;
mod exports;
mod faults;
mod formats;
mod odbc;
mod precision;
mod presets;
mod reports;
mod retail;
mod rules;
mod sample;
mod shards;
mod structure;
mod sync;
