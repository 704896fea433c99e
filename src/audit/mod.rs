//! The audit trail: a hash-chained ledger per job that records every run, and what an
//! auditor checks it with (docs/audit.md).

pub mod canonical;
pub mod checkpoint;
pub mod export;
pub mod identity;
pub mod ledger;
pub mod merkle;
pub mod record;
pub mod sample;
pub mod show;
pub mod verify;
pub mod xlsx;
