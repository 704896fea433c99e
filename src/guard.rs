//! The blast-radius guard: one bad input must not rewrite an ERP.
//!
//! An empty or truncated POS export makes every book row `missing_in_observed`, and
//! rules that correct the book would then set every row to zero. Sync tools refuse to
//! apply such a feed; so does tally. When a run is written, its corrections are measured
//! against the rules' `[guard]` limits (safe defaults below); if an input had no rows or
//! a limit is passed, the write-back is *held*: the run needs a person (exit 1), the
//! manifest says why, and neither `--apply` nor `tally apply` writes anything until
//! someone runs `tally apply RUN_DIR --force`, which is recorded in the run directory.

use std::collections::BTreeMap;

use anyhow::Result;
use polars::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::columns::VALUE_SCALE;
use crate::input::InputFile;
use crate::job::{Format, Job, Role};
use crate::matching::PairingTally;
pub use crate::rules::limits::Limits;
use crate::schema::correction;
use crate::schema::line;

/// What the guard found, as the manifest records it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Guard {
    /// The write-back waits for `tally apply --force`.
    pub held: bool,
    /// Why, one sentence each.
    pub reasons: Vec<String>,
    pub limits: Option<Limits>,
}

/// Measures a run's corrections against the limits. Only corrections that would be
/// written back (a side with a `write_back` source) count; an empty input counts
/// whenever the job writes back at all.
pub fn assess(
    job: &Job,
    discrepancies: &DataFrame,
    corrections: &DataFrame,
    tallies: &[PairingTally],
    inputs: &[InputFile],
) -> Result<Guard> {
    let limits = &job.rules.guard;
    let writes_back = |name: &str| {
        job.sources
            .iter()
            .find(|s| s.name == name)
            .is_some_and(|s| matches!(&s.format, Format::Odbc(o) if o.write_back.is_some()))
    };
    if !job.sources.iter().any(|s| writes_back(&s.name)) {
        return Ok(Guard::default());
    }
    let mut reasons = Vec::new();
    for input in inputs {
        let snapshot = job
            .sources
            .iter()
            .find(|s| s.name == input.source)
            .is_some_and(|s| s.role == Role::Snapshot);
        if snapshot && input.records == 0 {
            reasons.push(format!(
                "source `{}`: {} has no rows (an empty or truncated export would read as \
                 every item gone)",
                input.source,
                input.path.display()
            ));
        }
    }

    // Only the corrections that go back to a database.
    let mut written_sides = Vec::new();
    for p in &job.pairings {
        for (side, sources) in [("book", &p.book), ("observed", &p.observed)] {
            if sources.iter().any(|s| writes_back(s)) {
                written_sides.push((p.name.clone(), side));
            }
        }
    }
    let on_written = written_sides.iter().fold(lit(false), |e, (p, side)| {
        e.or(col(correction::PAIRING)
            .eq(lit(p.as_str()))
            .and(col(correction::TARGET).eq(lit(*side))))
    });
    let written = corrections.clone().lazy().filter(on_written).collect()?;

    let per_side = written
        .clone()
        .lazy()
        .group_by_stable([col(correction::PAIRING), col(correction::TARGET)])
        .agg([len().alias("n")])
        .collect()?;
    let pairings = per_side.column(correction::PAIRING)?.str()?.clone();
    let targets = per_side.column(correction::TARGET)?.str()?.clone();
    let ns = per_side.column("n")?.cast(&DataType::UInt64)?;
    for ((pairing, target), n) in pairings.iter().zip(targets.iter()).zip(ns.u64()?.iter()) {
        let (Some(pairing), Some(target), Some(n)) = (pairing, target, n) else {
            continue;
        };
        let rows = tallies
            .iter()
            .find(|t| t.name == pairing)
            .map(|t| {
                if target == "book" {
                    t.book.rows
                } else {
                    t.observed.rows
                }
            })
            .unwrap_or(0);
        let share = if rows == 0 {
            Decimal::from(100)
        } else {
            Decimal::from(n) * Decimal::from(100) / Decimal::from(rows)
        };
        if n >= limits.share_from && share > limits.max_share_changed {
            reasons.push(format!(
                "pairing `{pairing}`: {n} corrections to the {target} side change {}% of its \
                 {rows} rows (limit {}%)",
                share.round_dp(1),
                limits.max_share_changed
            ));
        }
    }

    let zero = Decimal::ZERO;
    let zeroed = decimals(&written, correction::NEW_QTY)?
        .iter()
        .zip(decimals(&written, correction::CURRENT_QTY)?)
        .filter(|(new, current)| **new == Some(zero) && *current != Some(zero))
        .count() as u64;
    if zeroed > limits.max_zeroed {
        reasons.push(format!(
            "{zeroed} quantities would be set to zero (limit {})",
            limits.max_zeroed
        ));
    }

    // Σ|value| moved per location, over the lines of the written corrections.
    let lines = Series::new(
        line::LINE.into(),
        written
            .column(line::LINE)?
            .as_materialized_series()
            .cast(&DataType::UInt64)?,
    );
    let moved = discrepancies
        .clone()
        .lazy()
        .filter(
            col(line::LINE)
                .cast(DataType::UInt64)
                .is_in(lit(lines).implode(false), false),
        )
        .select([col(crate::columns::LOCATION), col(line::VALUE_DELTA)])
        .collect()?;
    let locations = moved.column(crate::columns::LOCATION)?.str()?.clone();
    let values = moved
        .column(line::VALUE_DELTA)?
        .decimal()?
        .physical()
        .clone();
    // Exact sums of exact values (at VALUE_SCALE), shown at the money scale.
    let mut per_location: BTreeMap<String, i128> = BTreeMap::new();
    for (loc, value) in locations.iter().zip(values.iter()) {
        if let (Some(loc), Some(v)) = (loc, value) {
            let sum = per_location.entry(loc.to_string()).or_default();
            *sum = sum.saturating_add(v.abs());
        }
    }
    let limit = crate::precision::mantissa_at(limits.max_value_per_location, VALUE_SCALE as u32)
        .unwrap_or(i128::MAX);
    let money = job.rules.precision.money;
    for (loc, total) in per_location {
        if total > limit {
            reasons.push(format!(
                "location {loc}: corrections move {} at cost (limit {})",
                money.show(total),
                limits.max_value_per_location
            ));
        }
    }
    Ok(Guard {
        held: !reasons.is_empty(),
        reasons,
        limits: Some(limits.clone()),
    })
}

/// A quantity column's values (null where null). Quantities fit rust_decimal: at most
/// 15 digits before the point and QTY_SCALE after.
fn decimals(frame: &DataFrame, name: &str) -> Result<Vec<Option<Decimal>>> {
    let c = frame.column(name)?;
    let DataType::Decimal(_, scale) = c.dtype() else {
        anyhow::bail!("internal error: {name} is not a decimal column");
    };
    let scale = *scale as u32;
    Ok(c.decimal()?
        .physical()
        .iter()
        .map(|v| v.map(|v| Decimal::from_i128_with_scale(v, scale)))
        .collect())
}
