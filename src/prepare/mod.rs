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

use std::borrow::Cow;
use std::collections::BTreeMap;

use anyhow::{Result, bail};
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
                        alias_step(&mut b, &mut o, xref);
                    }
                }
                MatchStep::Gtin if pair_gtins => gtin_step(&b, &mut o),
                MatchStep::Gtin => {}
                MatchStep::Exact | MatchStep::Normalized => {}
            }
        }
        crate::progress::trace("  chain: steps", t);
        let t = std::time::Instant::now();
        let book = write_back(book, b, rules, refs)?;
        let observed = write_back(observed, o, rules, refs)?;
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
    stamp_as_of(&mut book, &ground.as_of, strict)?;
    stamp_as_of(&mut observed, &ground.as_of, strict)?;
    crate::progress::trace("  chain: as-of", t);
    if let Some(movements) = refs.movements.as_ref() {
        let latest = latest_as_of(&[&book, &observed])?;
        if let Some(latest) = latest {
            roll_forward(&mut book, movements, latest)?;
            roll_forward(&mut observed, movements, latest)?;
        }
    }
    Ok((book, observed))
}

/// Alias: a row without a partner whose code or barcode the cross-reference knows
/// takes the internal item's key (and the pack's unit), on either side.
fn alias_step<'a>(
    book: &mut SideRows<'a>,
    observed: &mut SideRows<'a>,
    xref: &'a crate::rules::alias::CrossReference,
) {
    let apply = |side: &mut SideRows<'a>, unmatched: Vec<bool>| {
        for (i, open) in unmatched.into_iter().enumerate() {
            if !open {
                continue;
            }
            let Some(alias) = xref.lookup(side.item_key[i].as_deref(), side.gtin(i)) else {
                continue;
            };
            if side.item_key[i].as_deref() != Some(alias.item_key.as_str()) {
                side.item_key[i] = Some(Cow::Borrowed(alias.item_key.as_str()));
                side.via[i] = Some(MatchStep::Alias.as_str());
                side.changed_keys = true;
            }
            if let Some(u) = &alias.uom
                && side.uom[i].is_none()
            {
                side.uom[i] = Some(Cow::Borrowed(u.as_str()));
                side.changed_uom = true;
            }
        }
    };
    let open_book = book.unmatched(&observed.keys());
    let open_observed = observed.unmatched(&book.keys());
    apply(book, open_book);
    apply(observed, open_observed);
}

/// GTIN: an observed row without a partner takes the key of the book row without a
/// partner that has the same valid GTIN at the same location (only when exactly one
/// book row does: a GTIN shared by two book items decides nothing).
fn gtin_step<'a>(book: &SideRows<'a>, observed: &mut SideRows<'a>) {
    let open_book = book.unmatched(&observed.keys());
    let open_observed = observed.unmatched(&book.keys());
    // (location, GTIN) → the one book row that has it (None: more than one item).
    let mut by_gtin: PlHashMap<(&str, &str), Option<usize>> = PlHashMap::new();
    for i in (0..open_book.len()).filter(|i| open_book[*i]) {
        if let (Some(l), Some(g), Some(k)) = (book.location[i], book.gtin(i), &book.item_key[i]) {
            by_gtin
                .entry((l, g))
                .and_modify(|e| {
                    if e.and_then(|j| book.item_key[j].as_deref()) != Some(k.as_ref()) {
                        *e = None
                    }
                })
                .or_insert(Some(i));
        }
    }
    for i in (0..open_observed.len()).filter(|i| open_observed[*i]) {
        let (Some(l), Some(g)) = (observed.location[i], observed.gtin(i)) else {
            continue;
        };
        if let Some(Some(j)) = by_gtin.get(&(l, g)) {
            observed.item_key[i] = book.item_key[*j].clone();
            observed.via[i] = Some(MatchStep::Gtin.as_str());
            observed.changed_keys = true;
        }
    }
}

/// Writes a side's steps back into its frame: keys, flags, units and factors.
fn write_back(
    mut frame: DataFrame,
    side: SideRows,
    rules: &RuleSet,
    refs: &References,
) -> Result<DataFrame> {
    let n = frame.height();
    if side.changed_keys {
        frame.with_column(Column::new(ITEM_KEY.into(), text(&side.item_key)))?;
        frame.with_column(Column::new(VIA.into(), side.via.clone()))?;
    }
    if side.changed_uom {
        frame.with_column(Column::new(UOM.into(), text(&side.uom)))?;
    }
    if side.flag.iter().any(Option::is_some) {
        let kinds: Vec<Option<&str>> = side
            .flag
            .iter()
            .map(|f| f.as_ref().map(|_| Kind::InvalidGtin.as_str()))
            .collect();
        frame.with_column(Column::new(FLAG.into(), kinds))?;
        frame.with_column(Column::new(FLAG_DETAIL.into(), side.flag.clone()))?;
    }
    let Some(conversions) = refs.conversions.as_ref() else {
        if side.uom.iter().any(Option::is_some) && side.changed_uom {
            // A pack barcode gave a unit but the job has no conversions: every such row
            // is a finding (never a factor of 1).
            return reject_packs(frame, &side);
        }
        return Ok(frame);
    };
    if side.uom.iter().all(Option::is_none) {
        // No row states a unit: every quantity is in its item's base unit already.
        return Ok(frame);
    }
    let qty = frame.column(QTY)?.decimal()?.clone();
    let cost = frame.column(UNIT_COST)?.decimal()?.clone();
    let mut costs: Vec<Option<i128>> = Vec::with_capacity(n);
    let units = &rules.units;
    let mut factors: Vec<Option<i128>> = vec![None; n];
    let mut converted: Vec<Option<i128>> = Vec::with_capacity(n);
    let mut reject = side.reject.clone();
    let mut invalid = owned_text(&frame, INVALID)?;
    let (files, rows) = (frame.column(FILE)?.str()?, frame.column(ROW)?.u64()?);
    let place = |i: usize| {
        format!(
            "{}:{}",
            files.get(i).unwrap_or(""),
            rows.get(i).unwrap_or(0)
        )
    };
    for i in 0..n {
        let q = qty.physical().get(i);
        let c = cost.physical().get(i);
        let (Some(uom), Some(item), true) = (&side.uom[i], &side.item_key[i], side.eligible[i])
        else {
            converted.push(q);
            costs.push(c);
            continue;
        };
        match conversions.factor(item, uom, units) {
            Ok(f) => {
                // Exact products, rounded to the declared places by the declared rule.
                let (quantity, money) = (rules.precision.quantity, rules.precision.money);
                let overflow = || {
                    anyhow::anyhow!(
                        "{}: the quantity or cost is too large to convert by {f}",
                        place(i)
                    )
                };
                converted.push(match q {
                    Some(q) => {
                        let each = Decimal::from_i128_with_scale(q, QTY_SCALE as u32)
                            .checked_mul(f)
                            .ok_or_else(overflow)?
                            .round_dp_with_strategy(quantity.scale, quantity.rounding.strategy());
                        Some(each.mantissa() * 10i128.pow(QTY_SCALE as u32 - each.scale()))
                    }
                    None => None,
                });
                // A case costs twelve times an each: the cost goes per base unit too.
                costs.push(match c {
                    Some(c) => {
                        let per_base = Decimal::from_i128_with_scale(c, COST_SCALE as u32)
                            .checked_div(f)
                            .ok_or_else(overflow)?
                            .round_dp_with_strategy(money.cost_scale, money.rounding.strategy());
                        Some(per_base.mantissa() * 10i128.pow(COST_SCALE as u32 - per_base.scale()))
                    }
                    None => None,
                });
                let mut f6 = f;
                f6.rescale(6);
                factors[i] = Some(f6.mantissa());
            }
            Err(why) => {
                converted.push(q);
                costs.push(c);
                reject[i] = Some(Kind::UnknownUnit.as_str().to_string());
                invalid[i] = Some(why);
            }
        }
    }
    let qty = Int128Chunked::from_iter_options(QTY.into(), converted.into_iter())
        .into_decimal(38, QTY_SCALE)?;
    frame.with_column(qty.into_series().into_column())?;
    let cost = Int128Chunked::from_iter_options(UNIT_COST.into(), costs.into_iter())
        .into_decimal(38, COST_SCALE)?;
    frame.with_column(cost.into_series().into_column())?;
    let factor = Int128Chunked::from_iter_options(FACTOR_COL.into(), factors.into_iter())
        .into_decimal(18, 6)?;
    frame.with_column(factor.into_series().into_column())?;
    frame.with_column(Column::new(REJECT.into(), reject))?;
    frame.with_column(Column::new(INVALID.into(), invalid))?;
    Ok(frame)
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

/// A text column as owned values, for a step that rewrites some of them.
fn owned_text(frame: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    Ok(frame
        .column(name)?
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// Borrowed text for a new column.
fn text<'s>(values: &'s [Option<Cow<'_, str>>]) -> Vec<Option<&'s str>> {
    values.iter().map(|t| t.as_deref()).collect()
}

fn reject_packs(mut frame: DataFrame, side: &SideRows) -> Result<DataFrame> {
    let mut reject: Vec<Option<String>> = side.reject.clone();
    let mut invalid = owned_text(&frame, INVALID)?;
    let original = frame.column(UOM)?.str()?.clone();
    for i in 0..side.uom.len() {
        if side.eligible[i] && side.uom[i].is_some() && original.get(i).is_none() {
            reject[i] = Some(Kind::UnknownUnit.as_str().to_string());
            invalid[i] = Some(format!(
                "the code counts in {:?}, and the job has no conversions source",
                side.uom[i].as_deref().unwrap_or("")
            ));
        }
    }
    frame.with_column(Column::new(REJECT.into(), reject))?;
    frame.with_column(Column::new(INVALID.into(), invalid))?;
    Ok(frame)
}

/// `_as_of`: the row's own as_of cell, else its source's declared as_of. A cell that is
/// not a time with an offset is an error when `strict` (the cut-off needs it), else it
/// is carried as written.
fn stamp_as_of(
    frame: &mut DataFrame,
    declared: &BTreeMap<String, DateTime<FixedOffset>>,
    strict: bool,
) -> Result<()> {
    let cells = frame.column(AS_OF)?.str()?.clone();
    if cells.null_count() == frame.height() && declared.is_empty() {
        // No times anywhere: `_as_of` stays the null column `with_defaults` gave it.
        return Ok(());
    }
    if cells.null_count() == frame.height() {
        // The usual case: one declared time per source, set by expression.
        let mut time = lit(NULL).cast(DataType::String);
        for (name, at) in declared {
            time = when(col(SOURCE).eq(lit(name.as_str())))
                .then(lit(utc_text(*at)))
                .otherwise(time);
        }
        *frame = std::mem::take(frame)
            .lazy()
            .with_column(time.alias(ROW_AS_OF))
            .collect()?;
        return Ok(());
    }
    let sources = frame.column(SOURCE)?.str()?.clone();
    let files = frame.column(FILE)?.str()?.clone();
    let rows = frame.column(ROW)?.u64()?.clone();
    let mut out = Vec::with_capacity(frame.height());
    let mut bad = Vec::new();
    for i in 0..frame.height() {
        let time = match cells.get(i).map(str::trim).filter(|c| !c.is_empty()) {
            Some(text) => match crate::values::parse_time(text) {
                Some(t) => Some(utc_text(t)),
                None if strict => {
                    bad.push(format!(
                        "{}:{}: column as_of: {text:?} is not a time with an offset",
                        files.get(i).unwrap_or(""),
                        rows.get(i).unwrap_or(0)
                    ));
                    None
                }
                None => Some(text.to_string()),
            },
            None => sources
                .get(i)
                .and_then(|s| declared.get(s))
                .map(|t| utc_text(*t)),
        };
        out.push(time);
    }
    if !bad.is_empty() {
        let n = bad.len();
        bad.truncate(10);
        bail!(
            "{n} bad as_of cell(s); the cut-off roll-forward needs times with an offset:\n{}",
            bad.join("\n")
        );
    }
    frame.with_column(Column::new(ROW_AS_OF.into(), out))?;
    Ok(())
}

/// A time as UTC RFC 3339 text of one width, so that times compare as text.
fn utc_text(t: DateTime<FixedOffset>) -> String {
    t.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn latest_as_of(frames: &[&DataFrame]) -> Result<Option<DateTime<FixedOffset>>> {
    let mut latest = None;
    for f in frames {
        for t in f.column(ROW_AS_OF)?.str()?.iter().flatten() {
            let t = DateTime::parse_from_rfc3339(t)?;
            if latest.is_none_or(|l| t > l) {
                latest = Some(t);
            }
        }
    }
    Ok(latest)
}

/// Adds to each row with an as-of time the movements of its item up to `latest`.
fn roll_forward(
    frame: &mut DataFrame,
    movements: &crate::rules::cutoff::Movements,
    latest: DateTime<FixedOffset>,
) -> Result<()> {
    let (locations, keys, times) = (
        frame.column(LOCATION)?.str()?.clone(),
        frame.column(ITEM_KEY)?.str()?.clone(),
        frame.column(ROW_AS_OF)?.str()?.clone(),
    );
    let qty = frame.column(QTY)?.decimal()?.clone();
    let mut moved: Vec<Option<i128>> = Vec::with_capacity(frame.height());
    let mut rolled: Vec<Option<i128>> = Vec::with_capacity(frame.height());
    let mut any = false;
    for i in 0..frame.height() {
        let q = qty.physical().get(i);
        let net = match (locations.get(i), keys.get(i), times.get(i)) {
            (Some(l), Some(k), Some(t)) => {
                movements.net(l, k, DateTime::parse_from_rfc3339(t)?, latest)
            }
            _ => None,
        };
        match (net, q) {
            (Some(net), Some(q)) => {
                let mut net = net;
                net.rescale(QTY_SCALE as u32);
                moved.push(Some(net.mantissa()));
                rolled.push(Some(q + net.mantissa()));
                any = true;
            }
            _ => {
                moved.push(None);
                rolled.push(q);
            }
        }
    }
    if any {
        let qty = Int128Chunked::from_iter_options(QTY.into(), rolled.into_iter())
            .into_decimal(38, QTY_SCALE)?;
        frame.with_column(qty.into_series().into_column())?;
        let moved = Int128Chunked::from_iter_options(MOVED.into(), moved.into_iter())
            .into_decimal(38, QTY_SCALE)?;
        frame.with_column(moved.into_series().into_column())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
