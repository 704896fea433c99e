//! `manifest.json`: what an auditor needs to trust a run — who ran what, on which exact
//! inputs (SHA-256), under which rules, and counts that tie out: every input row ends as
//! matched, unmatched, duplicate or rejected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WrittenFile;
use crate::discrepancy::{Resolution, Severity};
use crate::input::InputFile;
use crate::rules::{Decision, RuleSet};
use crate::shard::Shard;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: String,
    pub engine: Engine,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub run_by: String,
    pub job: HashedFile,
    pub rules: HashedFile,
    /// `--location` filters of this run (empty: all).
    pub locations: Vec<String>,
    /// `--shard I/N` of this run, if it is one shard of several.
    pub shard: Option<Shard>,
    /// The shard runs a `tally merge` combined (empty for a single run).
    #[serde(default)]
    pub merged_from: Vec<String>,
    /// The state folder where the run stored its baseline; applying the run's
    /// corrections moves that baseline on by what was written (sync.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub inputs: Vec<InputFile>,
    pub pairings: Vec<PairingTally>,
    /// Every pairing's rows tie out (see `pairings`).
    pub ties_out: bool,
    pub discrepancies: Totals,
    pub corrections: CorrectionTotals,
    pub rules_in_force: Vec<RuleInForce>,
    /// The precision in force: money scale and rounding, the most decimals a cost and
    /// a quantity may have (the rules file's [money] and [quantity]).
    #[serde(default)]
    pub precision: crate::precision::Precision,
    pub default_decision: Decision,
    pub outcome: Outcome,
    pub exit_code: i32,
    /// The blast-radius guard: whether write-back is held, and why (guard.rs).
    #[serde(default)]
    pub guard: crate::guard::Guard,
    /// Every other file of the run directory, with its hash.
    pub files: Vec<WrittenFile>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Engine {
    pub name: String,
    pub version: String,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            name: "tally".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HashedFile {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

pub use crate::values::sha256_hex;

impl HashedFile {
    pub fn of(path: &Path) -> Result<HashedFile> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(HashedFile {
            // Absolute, so that `tally apply` and `tally merge` find the job again from
            // wherever they are started.
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            size: bytes.len() as u64,
            sha256: sha256_hex(&bytes),
        })
    }
}

pub use crate::matching::PairingTally;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Totals {
    pub lines: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub by_severity: BTreeMap<String, u64>,
    pub by_resolution: BTreeMap<String, u64>,
    pub by_rule: BTreeMap<String, u64>,
    /// Sums as decimal text (observed − book): quantities exact; values summed exactly
    /// and rounded once to `precision.money` (scale and rounding).
    pub qty_delta_sum: String,
    pub value_delta_sum: String,
    pub needs_person: u64,
    /// Items counted, and how many agree with the book or are within a rule's
    /// tolerance (inventory record accuracy = agree / counted; figures.rs).
    #[serde(default)]
    pub counted: u64,
    #[serde(default)]
    pub agree: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_percent: Option<String>,
    /// The book's value at cost where it states a cost, and the net value of the
    /// quantity differences (observed − book), each rounded once to the money scale.
    #[serde(default)]
    pub book_value: String,
    #[serde(default)]
    pub qty_value_sum: String,
    /// −qty_value_sum / book_value × 100: positive is a loss, negative an overage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrink_percent: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CorrectionTotals {
    pub total: u64,
    pub by_target: BTreeMap<String, u64>,
    pub files: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RuleInForce {
    pub name: String,
    pub kind: String,
    pub max: Option<String>,
    pub applies_to: Vec<String>,
    pub locations: Vec<String>,
    pub categories: Vec<String>,
    pub severity: Severity,
    pub resolution: Resolution,
}

pub fn rules_in_force(rules: &RuleSet) -> Vec<RuleInForce> {
    rules
        .rules
        .iter()
        .map(|r| RuleInForce {
            name: r.name.clone(),
            kind: r.condition.name().into(),
            max: r.condition.threshold().map(|d| d.to_string()),
            applies_to: r.applies_to.iter().map(|k| k.as_str().into()).collect(),
            locations: r.locations.clone(),
            categories: r.categories.clone(),
            severity: r.decision.severity,
            resolution: r.decision.resolution,
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing needs a person (exit 0).
    Reconciled,
    /// Some lines need a recount or a review (exit 1).
    NeedsReview,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Reconciled => "reconciled",
            Outcome::NeedsReview => "needs_review",
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Reconciled => 0,
            Outcome::NeedsReview => 1,
        }
    }
}
