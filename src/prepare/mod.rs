//! Common ground before matching: each side's rows get the item they are, in the unit
//! and at the time they are compared in. In the rules' order:
//!
//! 1. GTINs are checked (an invalid one is a finding; the row still matches on its SKU);
//! 2. the match chain: rows that the key pass would leave without a partner are
//!    re-keyed by the alias step (cross-reference) and the GTIN step (the same valid
//!    GTIN at the same location), each in the order the rules give; a row keeps the
//!    step that keyed it (`_via`);
//! 3. units: quantities into the item's base unit (a row with no conversion leaves
//!    matching as an `unknown_unit` finding);
//! 4. cut-off: every row is rolled forward from its as-of time to the pairing's latest
//!    with the movements in between (`_moved`).
//!
//! Each step only runs when the job gives it something to work with, so a plain
//! SKU-to-SKU job pays for none of this.

mod added;
mod cutoff;
mod frame;
mod side;
mod steps;

pub use added::*;
use side::{SideRows, Texts};

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use polars::prelude::*;

use crate::columns::*;
use crate::discrepancy::Kind;
use crate::job::Job;
use crate::reference::References;
use crate::rules::{MatchStep, RuleSet, gtin};

/// What the steps need to know: the rules (chain order, units) and each source's
/// declared as-of time.
pub struct Ground<'a> {
    pub rules: &'a RuleSet,
    pub as_of: BTreeMap<String, DateTime<FixedOffset>>,
    pub refs: &'a References,
}

impl<'a> Ground<'a> {
    pub fn of(job: &'a Job, refs: &'a References) -> Ground<'a> {
        Ground {
            rules: &job.rules,
            as_of: job
                .sources
                .iter()
                .filter_map(|s| s.as_of.map(|t| (s.name.clone(), t)))
                .collect(),
            refs,
        }
    }
}

/// Brings both sides of a pairing onto common ground (see the module doc).
pub fn prepare(
    book: DataFrame,
    observed: DataFrame,
    ground: &Ground,
) -> Result<(DataFrame, DataFrame)> {
    let (rules, refs) = (ground.rules, ground.refs);
    let (book, observed) = (with_defaults(book)?, with_defaults(observed)?);
    let has_gtins =
        |f: &DataFrame| -> Result<bool> { Ok(f.column(GTIN)?.null_count() < f.height()) };
    let alias = refs
        .cross_reference
        .as_ref()
        .filter(|_| rules.chain.contains(&MatchStep::Alias));
    // The GTIN step pairs a book row with an observed row by their GTINs: without GTINs
    // on both sides it has nothing to pair (the codes are still checked).
    let pair_gtins =
        has_gtins(&book)? && has_gtins(&observed)? && rules.chain.contains(&MatchStep::Gtin);
    let steps = alias.is_some() || pair_gtins || refs.conversions.is_some();
    let (mut book, mut observed) = if !steps {
        // Only the codes to check (a POS export with barcodes against an ERP without):
        // each distinct code once, no per-row work unless one is bad.
        (check_gtins(book)?, check_gtins(observed)?)
    } else {
        let t = std::time::Instant::now();
        let (book_texts, observed_texts) = (Texts::of(&book)?, Texts::of(&observed)?);
        let mut b = SideRows::read(&book, &book_texts)?;
        let mut o = SideRows::read(&observed, &observed_texts)?;
        crate::progress::trace("  chain: read sides", t);
        let t = std::time::Instant::now();
        for step in &rules.chain {
            match step {
                MatchStep::Alias => {
                    if let Some(xref) = alias {
                        steps::alias(&mut b, &mut o, xref);
                    }
                }
                MatchStep::Gtin if pair_gtins => steps::gtin(&b, &mut o),
                MatchStep::Gtin => {}
                MatchStep::Exact | MatchStep::Normalized => {}
            }
        }
        crate::progress::trace("  chain: steps", t);
        let t = std::time::Instant::now();
        let book = frame::write_back(book, b, rules, refs)?;
        let observed = frame::write_back(observed, o, rules, refs)?;
        crate::progress::trace("  chain: write back", t);
        (book, observed)
    };
    // Times only have to parse when the cut-off works with them.
    let strict = refs.movements.is_some()
        || rules
            .rules
            .iter()
            .any(|r| r.decision.resolution == crate::discrepancy::Resolution::NewerWins);
    let t = std::time::Instant::now();
    cutoff::stamp_as_of(&mut book, &ground.as_of, strict)?;
    cutoff::stamp_as_of(&mut observed, &ground.as_of, strict)?;
    crate::progress::trace("  chain: as-of", t);
    if let Some(movements) = refs.movements.as_ref() {
        let latest = cutoff::latest_as_of(&[&book, &observed])?;
        if let Some(latest) = latest {
            cutoff::roll_forward(&mut book, movements, latest)?;
            cutoff::roll_forward(&mut observed, movements, latest)?;
        }
    }
    Ok((book, observed))
}

/// Flags the rows whose GTIN is not valid (`invalid_gtin`, with why), checking each
/// distinct code once.
fn check_gtins(mut frame: DataFrame) -> Result<DataFrame> {
    let codes = frame.column(GTIN)?.str()?.clone();
    if codes.null_count() == codes.len() {
        return Ok(frame);
    }
    let distinct = codes.unique()?;
    let mut bad: PlHashMap<&str, String> = PlHashMap::new();
    for raw in distinct.iter().flatten() {
        let code = raw.trim();
        if code.is_empty() {
            continue;
        }
        if let Err(e) = gtin::normalize(code) {
            bad.insert(raw, format!("GTIN {code:?}: {e}"));
        }
    }
    if bad.is_empty() {
        return Ok(frame);
    }
    // A row rejected for its code already (the barcode is the match key) is that finding.
    let rejected = frame.column(REJECT)?.str()?.clone();
    let detail: Vec<Option<&str>> = codes
        .iter()
        .zip(rejected.iter())
        .map(|(raw, r)| {
            r.is_none()
                .then(|| raw.and_then(|r| bad.get(r)).map(String::as_str))
                .flatten()
        })
        .collect();
    let kinds: Vec<Option<&str>> = detail
        .iter()
        .map(|d| d.map(|_| Kind::InvalidGtin.as_str()))
        .collect();
    frame.with_column(Column::new(FLAG.into(), kinds))?;
    frame.with_column(Column::new(FLAG_DETAIL.into(), detail))?;
    Ok(frame)
}

#[cfg(test)]
mod tests;
