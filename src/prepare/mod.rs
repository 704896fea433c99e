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

mod cutoff;
mod frame;
mod steps;

use std::borrow::Cow;
use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use polars::prelude::*;
use rust_decimal::Decimal;

use crate::columns::*;
use crate::discrepancy::Kind;
use crate::job::Job;
use crate::reference::References;
use crate::rules::{MatchStep, RuleSet, gtin};

/// The step that re-keyed a row (alias, gtin); null when its own key stood.
pub const VIA: &str = "_via";
/// The quantity as the source stated it, in the row's own unit, before movements.
pub const STATED_QTY: &str = "_stated_qty";
/// Base units in one of the row's unit (null when no conversion applied).
pub const FACTOR_COL: &str = "_factor";
/// The net movements added to roll the row forward (null when none applied).
pub const MOVED: &str = "_moved";
/// The row's as-of time (RFC 3339), where known.
pub const ROW_AS_OF: &str = "_as_of";
/// A finding kind that takes the row out of matching (its detail is in `_invalid`).
pub const REJECT: &str = "_reject";
/// A finding that leaves the row in matching (invalid_gtin), and its detail.
pub const FLAG: &str = "_flag";
pub const FLAG_DETAIL: &str = "_flag_detail";

pub fn factor_type() -> DataType {
    DataType::Decimal(18, 6)
}

/// The columns this stage adds, as nulls: for frames that skip it (unit tests, and
/// jobs with nothing to do here).
pub fn with_defaults(frame: DataFrame) -> Result<DataFrame> {
    let n = frame.height();
    let mut frame = frame;
    if frame.column(STATED_QTY).is_err() {
        let stated = frame.column(QTY)?.clone().with_name(STATED_QTY.into());
        frame.with_column(stated)?;
    }
    for (name, dtype) in [
        (VIA, DataType::String),
        (FACTOR_COL, factor_type()),
        (MOVED, qty_type()),
        (ROW_AS_OF, DataType::String),
        (REJECT, DataType::String),
        (FLAG, DataType::String),
        (FLAG_DETAIL, DataType::String),
    ] {
        if frame.column(name).is_err() {
            frame.with_column(Column::full_null(name.into(), n, &dtype))?;
        }
    }
    Ok(frame)
}

/// The text columns a side's steps read (cheap handles on the frame's own buffers),
/// held while the steps borrow from them.
struct Texts {
    location: StringChunked,
    item_key: StringChunked,
    uom: StringChunked,
    gtin: StringChunked,
}

impl Texts {
    fn of(frame: &DataFrame) -> Result<Texts> {
        let text = |name: &str| -> Result<StringChunked> { Ok(frame.column(name)?.str()?.clone()) };
        Ok(Texts {
            location: text(LOCATION)?,
            item_key: text(ITEM_KEY)?,
            uom: text(UOM)?,
            gtin: text(GTIN)?,
        })
    }
}

/// One side's columns as the steps work on them. Text is borrowed from the frame's
/// columns and owned only where a step changes it, and each distinct GTIN is checked
/// once: a side of millions of rows is not copied into strings.
struct SideRows<'a> {
    location: Vec<Option<&'a str>>,
    item_key: Vec<Option<Cow<'a, str>>>,
    /// The row's valid GTIN-14, as an index into `gtins`.
    gtin14: Vec<Option<u32>>,
    gtins: Vec<String>,
    eligible: Vec<bool>,
    via: Vec<Option<&'static str>>,
    uom: Vec<Option<Cow<'a, str>>>,
    flag: Vec<Option<String>>,
    reject: Vec<Option<String>>,
    changed_keys: bool,
    changed_uom: bool,
}

impl<'a> SideRows<'a> {
    fn read(frame: &DataFrame, texts: &'a Texts) -> Result<SideRows<'a>> {
        let absent = frame.column(ABSENT)?.bool()?;
        let invalid = frame.column(INVALID)?.str()?;
        let eligible = absent
            .iter()
            .zip(invalid.iter())
            .map(|(a, i)| !a.unwrap_or(false) && i.is_none())
            .collect();
        let n = frame.height();
        // What an earlier stage rejected (a bad barcode when it is the match key) stays.
        let reject: Vec<Option<String>> = frame
            .column(REJECT)?
            .str()?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect();
        let mut gtin14 = vec![None; n];
        let mut gtins = Vec::new();
        let mut flag = vec![None; n];
        let mut checked: PlHashMap<&str, Result<u32, String>> = PlHashMap::new();
        for (i, raw) in texts.gtin.iter().enumerate() {
            let Some(raw) = raw.map(str::trim).filter(|g| !g.is_empty()) else {
                continue;
            };
            let known = checked
                .entry(raw)
                .or_insert_with(|| match gtin::normalize(raw) {
                    Ok(g) => {
                        gtins.push(g);
                        Ok((gtins.len() - 1) as u32)
                    }
                    Err(e) => Err(format!("GTIN {raw:?}: {e}")),
                });
            match known {
                Ok(g) => gtin14[i] = Some(*g),
                // A row rejected for it already is that finding: no second one.
                Err(why) if reject[i].is_none() => flag[i] = Some(why.clone()),
                Err(_) => {}
            }
        }
        let borrowed = |c: &'a StringChunked| -> Vec<Option<Cow<'a, str>>> {
            c.iter().map(|v| v.map(Cow::Borrowed)).collect()
        };
        Ok(SideRows {
            location: texts.location.iter().collect(),
            item_key: borrowed(&texts.item_key),
            gtin14,
            gtins,
            eligible,
            via: vec![None; n],
            uom: borrowed(&texts.uom),
            flag,
            reject,
            changed_keys: false,
            changed_uom: false,
        })
    }

    /// The row's valid GTIN-14.
    fn gtin(&self, i: usize) -> Option<&str> {
        self.gtin14[i].map(|g| self.gtins[g as usize].as_str())
    }

    /// Keys of rows that can be matched.
    fn keys(&self) -> PlHashSet<(&str, &str)> {
        self.location
            .iter()
            .zip(&self.item_key)
            .zip(&self.eligible)
            .filter_map(|((l, k), ok)| match (l, k, ok) {
                (Some(l), Some(k), true) => Some((*l, k.as_ref())),
                _ => None,
            })
            .collect()
    }

    /// Rows that can be matched but whose key the other side does not have.
    fn unmatched(&self, other: &PlHashSet<(&str, &str)>) -> Vec<bool> {
        (0..self.eligible.len())
            .map(|i| {
                self.eligible[i]
                    && match (self.location[i], &self.item_key[i]) {
                        (Some(l), Some(k)) => !other.contains(&(l, k.as_ref())),
                        _ => false,
                    }
            })
            .collect()
    }
}

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
