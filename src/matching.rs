//! Matching: one pairing's two sides joined on (location, item_key).
//!
//! Before the join each side is split: placeholder rows ("Not stocked") leave, invalid
//! rows and rows whose key occurs more than once become findings of their own. Only the
//! clean rest is joined, so a duplicate is never summed or fanned out by the join (a
//! common way diff tools give wrong answers silently). A negative quantity is a finding
//! too, but its row is still matched and compared: negative on-hand is an everyday ERP
//! state (a sale posted before its receipt), and the count is exactly what corrects it.
//! Every input row ends in exactly one bucket, and `SideTally` proves it.

use anyhow::{Result, ensure};
use std::collections::BTreeMap;

use polars::prelude::*;

use crate::columns::*;
use crate::discrepancy::{Kind, Side};
use crate::keys::{self, KEY, KEY_ROWS};
use crate::prepare;
use crate::progress::trace;
use crate::schema::line;
use std::time::Instant;

/// One pairing's tallies: each side's, and the pairs that agree.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PairingTally {
    pub name: String,
    pub book: SideTally,
    pub observed: SideTally,
    /// Pairs whose quantities (and costs) agree: zero differences, logged as a count.
    pub equal: u64,
    pub ties_out: bool,
    /// Per location: what the book lists and what was counted (accuracy, shrink).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_location: BTreeMap<String, LocationTally>,
}

/// One location's clean rows on each side and the book's value at cost: the base of the
/// accuracy and shrink figures in the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LocationTally {
    /// Items the book lists (clean rows).
    pub book_items: u64,
    /// Items counted (the observed side's clean rows).
    pub counted: u64,
    /// Σ book qty × unit cost over the book's items with a cost, exact (mantissa at
    /// `VALUE_SCALE`, written as decimal text).
    #[serde(with = "value_text")]
    pub book_value: i128,
}

impl LocationTally {
    fn add(&mut self, part: &LocationTally) {
        self.book_items += part.book_items;
        self.counted += part.counted;
        self.book_value = self.book_value.saturating_add(part.book_value);
    }
}

/// An exact value as decimal text at `VALUE_SCALE`, and back.
mod value_text {
    use crate::columns::VALUE_SCALE;

    pub fn serialize<S: serde::Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::precision::exact(*v, VALUE_SCALE as u32))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        parse(&text).ok_or_else(|| serde::de::Error::custom(format!("not a value: {text:?}")))
    }

    /// `-12.5` → −12.5 × 10^VALUE_SCALE, digits only, never through a float.
    fn parse(text: &str) -> Option<i128> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty()
            || fraction.len() > VALUE_SCALE
            || !whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let padded = format!("{whole}{fraction:0<width$}", width = VALUE_SCALE);
        let m: i128 = padded.parse().ok()?;
        Some(if negative { -m } else { m })
    }

    #[test]
    fn values_come_back_exactly() {
        for m in [
            0i128,
            1,
            -1,
            123_456_789_012_345_678_901_234,
            -5 * 10i128.pow(21),
        ] {
            let text = crate::precision::exact(m, VALUE_SCALE as u32);
            assert_eq!(parse(&text), Some(m), "{text}");
        }
        assert_eq!(parse("1e5"), None);
    }
}

impl PairingTally {
    /// Adds another part of the same pairing (a bucket or a shard of it).
    pub fn add(&mut self, part: &PairingTally) {
        self.book.add(&part.book);
        self.observed.add(&part.observed);
        self.equal += part.equal;
        self.ties_out = self.book.ties_out() && self.observed.ties_out();
        for (location, t) in &part.by_location {
            self.by_location.entry(location.clone()).or_default().add(t);
        }
    }
}

/// Where one side's rows ended; `ties_out` checks that nothing was lost or doubled.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SideTally {
    pub sources: Vec<String>,
    pub rows: u64,
    pub matched: u64,
    pub unmatched: u64,
    pub duplicate: u64,
    pub rejected: Rejected,
    /// Rows flagged without leaving matching (an invalid GTIN): not a bucket of their own.
    #[serde(default)]
    pub invalid_gtin: u64,
    /// Rows with a negative quantity: flagged, and still matched and compared (a flag,
    /// not a bucket of their own).
    #[serde(default)]
    pub negative_qty: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rejected {
    pub invalid_row: u64,
    /// Rows in a unit with no conversion to their item's base unit.
    #[serde(default)]
    pub unknown_unit: u64,
    /// Rows whose barcode fails its check digit when the barcode is the match key.
    #[serde(default)]
    pub invalid_gtin: u64,
    /// Declared placeholders meaning "not stocked here"; left out of matching.
    pub not_stocked: u64,
}

impl SideTally {
    pub fn accounted(&self) -> u64 {
        self.matched + self.unmatched + self.duplicate + self.rejected_total()
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.invalid_row
            + self.rejected.unknown_unit
            + self.rejected.invalid_gtin
            + self.rejected.not_stocked
    }

    pub fn ties_out(&self) -> bool {
        self.accounted() == self.rows
    }

    /// Adds another part of the same side (a bucket or a shard of it).
    pub fn add(&mut self, part: &SideTally) {
        self.rows += part.rows;
        self.matched += part.matched;
        self.unmatched += part.unmatched;
        self.duplicate += part.duplicate;
        self.rejected.invalid_row += part.rejected.invalid_row;
        self.negative_qty += part.negative_qty;
        self.rejected.unknown_unit += part.rejected.unknown_unit;
        self.rejected.invalid_gtin += part.rejected.invalid_gtin;
        self.invalid_gtin += part.invalid_gtin;
        self.rejected.not_stocked += part.rejected.not_stocked;
        for s in &part.sources {
            if !self.sources.contains(s) {
                self.sources.push(s.clone());
            }
        }
        self.sources.sort();
    }
}

pub struct Matched {
    /// The joined pairs that differ in some way (missing on a side, quantity or cost),
    /// with book_* and observed_* columns; equal pairs are only counted (`equal`).
    pub joined: DataFrame,
    /// Row findings (duplicate_key, negative_qty, invalid_row) from either side.
    pub findings: DataFrame,
    pub book: SideTally,
    pub observed: SideTally,
    /// Matched pairs whose quantity and cost agree: zero differences, logged as a count.
    pub equal: u64,
    pub by_location: BTreeMap<String, LocationTally>,
    /// When asked for: each side's clean rows as (location, item_key, qty), the state
    /// a baseline keeps (sync.rs).
    pub state: Option<(DataFrame, DataFrame)>,
}

pub fn reconcile(book: DataFrame, observed: DataFrame) -> Result<Matched> {
    reconcile_keeping(book, observed, false)
}

/// `reconcile`, also returning each side's state when `keep_state`.
pub fn reconcile_keeping(
    book: DataFrame,
    observed: DataFrame,
    keep_state: bool,
) -> Result<Matched> {
    let mut book = prepare::with_defaults(book)?;
    let mut observed = prepare::with_defaults(observed)?;
    let t = Instant::now();
    let (space, location_names) = keys::encode(&mut book, &mut observed)?;
    trace("encode keys", t);
    let t = Instant::now();
    let (book_rows, book_slim, book_findings, mut book_tally) = split(book, Side::Book)?;
    let (obs_rows, obs_slim, obs_findings, mut obs_tally) = split(observed, Side::Observed)?;
    trace("split sides", t);
    let t = Instant::now();

    // The join sees only what decides a difference: one integer key standing for
    // (location, item_key), each side's row index, quantity and cost. Text columns are
    // gathered afterwards for the few rows that differ.
    let (book_keys, book_idx, book_qty, book_cost) = slim_columns(&book_slim, Side::Book)?;
    let (obs_keys, obs_idx, obs_qty, obs_cost) = slim_columns(&obs_slim, Side::Observed)?;
    let by_location = location_tallies(
        &location_names,
        (&book_keys, &book_qty, &book_cost),
        &obs_keys,
    );
    let book_moved = moved_rows(&book_rows, &book_idx)?;
    let obs_moved = moved_rows(&obs_rows, &obs_idx)?;
    let pairs = keys::pair(
        space,
        &keys::Clean {
            keys: &book_keys,
            qty: &book_qty,
            cost: &book_cost,
            moved: &book_moved,
        },
        &keys::Clean {
            keys: &obs_keys,
            qty: &obs_qty,
            cost: &obs_cost,
            moved: &obs_moved,
        },
        true,
    );
    let rows_of = |positions: &[Option<u32>], idx: &[IdxSize], name: &str| {
        IdxCa::from_iter_options(
            name.into(),
            positions.iter().map(|p| p.map(|p| idx[p as usize])),
        )
        .into_series()
        .into()
    };
    let differing = DataFrame::new(
        pairs.book.len(),
        vec![
            rows_of(&pairs.book, &book_idx, "book_idx"),
            rows_of(&pairs.observed, &obs_idx, "observed_idx"),
        ],
    )?;
    let gather = |rows: &DataFrame, side: Side| -> Result<DataFrame> {
        let idx = differing
            .column(&format!("{}_idx", side.as_str()))?
            .idx()?
            .clone();
        Ok(side_view(rows.take(&idx)?.lazy(), side, &[], true).collect()?)
    };
    let mut joined = gather(&book_rows, Side::Book)?;
    joined.hstack_mut(gather(&obs_rows, Side::Observed)?.columns())?;
    let joined = joined
        .lazy()
        .with_columns([
            coalesce(&[col("book_location"), col("observed_location")]).alias(LOCATION),
            coalesce(&[col("book_item_key"), col("observed_item_key")]).alias(ITEM_KEY),
        ])
        .drop(cols([
            "book_location",
            "observed_location",
            "book_item_key",
            "observed_item_key",
        ]))
        .collect()?;
    trace("join", t);

    let matched = pairs.matched;
    book_tally.matched = matched;
    book_tally.unmatched = book_slim.height() as u64 - matched;
    obs_tally.matched = matched;
    obs_tally.unmatched = obs_slim.height() as u64 - matched;
    for (name, t) in [("book", &book_tally), ("observed", &obs_tally)] {
        ensure!(
            t.ties_out(),
            "internal error: the {name} rows do not tie out: {t:?}"
        );
    }

    let state = if keep_state {
        let state_of = |rows: &DataFrame, idx: &[IdxSize]| -> Result<DataFrame> {
            let idx = IdxCa::from_vec("idx".into(), idx.to_vec());
            Ok(rows.select([LOCATION, ITEM_KEY, QTY])?.take(&idx)?)
        };
        Some((
            state_of(&book_rows, &book_idx)?,
            state_of(&obs_rows, &obs_idx)?,
        ))
    } else {
        None
    };
    let findings = concat(
        [book_findings.lazy(), obs_findings.lazy()],
        UnionArgs {
            diagonal: true,
            ..Default::default()
        },
    )?
    .collect()?;
    Ok(Matched {
        joined,
        findings,
        equal: matched - pairs.differing_pairs,
        by_location,
        state,
        book: book_tally,
        observed: obs_tally,
    })
}

/// Per location, the clean rows of each side and the book's value at cost: one pass
/// over the integer keys and mantissas already at hand (a key's upper half is its
/// location), no string work.
fn location_tallies(
    names: &[String],
    (book_keys, book_qty, book_cost): (&[u64], &[i128], &[Option<i128>]),
    observed_keys: &[u64],
) -> BTreeMap<String, LocationTally> {
    let mut per = vec![LocationTally::default(); names.len()];
    for ((key, qty), cost) in book_keys.iter().zip(book_qty).zip(book_cost) {
        let t = &mut per[keys::location_of(*key)];
        t.book_items += 1;
        if let Some(cost) = cost {
            // Quantity at QTY_SCALE × cost at COST_SCALE = a value at VALUE_SCALE.
            t.book_value = t.book_value.saturating_add(qty.saturating_mul(*cost));
        }
    }
    for key in observed_keys {
        per[keys::location_of(*key)].counted += 1;
    }
    names.iter().cloned().zip(per).collect()
}

/// A slim side's columns as plain vectors for `keys::pair`: keys, row indices, quantity
/// and cost mantissas (every clean row has a key and a quantity).
type SlimColumns = (Vec<u64>, Vec<IdxSize>, Vec<i128>, Vec<Option<i128>>);

fn slim_columns(slim: &DataFrame, side: Side) -> Result<SlimColumns> {
    let p = side.as_str();
    let keys = slim.column(KEY)?.u64()?.into_no_null_iter().collect();
    let idx = slim
        .column(&format!("{p}_idx"))?
        .idx()?
        .into_no_null_iter()
        .collect();
    let qty = slim
        .column(&format!("{p}_qty"))?
        .decimal()?
        .physical()
        .into_no_null_iter()
        .collect();
    let cost = slim
        .column(&format!("{p}_unit_cost"))?
        .decimal()?
        .physical()
        .iter()
        .collect();
    Ok((keys, idx, qty, cost))
}

/// Per clean row, whether movements rolled it forward; empty when none moved (the
/// usual case, which then costs nothing).
fn moved_rows(rows: &DataFrame, idx: &[IdxSize]) -> Result<Vec<bool>> {
    let moved = rows.column(prepare::MOVED)?;
    if moved.null_count() == moved.len() {
        return Ok(Vec::new());
    }
    let moved = moved.as_materialized_series().is_not_null();
    Ok(idx
        .iter()
        .map(|i| moved.get(*i as usize).unwrap_or(false))
        .collect())
}

/// The side's columns under side-prefixed names (`book_qty`, `observed_row`, ...).
/// `extra` columns are carried over under their own names; rows to be joined also keep
/// the key and side-prefixed location and item key.
fn side_view(frame: LazyFrame, side: Side, extra: &[&str], for_join: bool) -> LazyFrame {
    let p = side.as_str();
    let (location, item_key) = if for_join {
        (
            col(LOCATION).alias(format!("{p}_location")),
            col(ITEM_KEY).alias(format!("{p}_item_key")),
        )
    } else {
        (col(LOCATION), col(ITEM_KEY))
    };
    let mut exprs = vec![
        location,
        item_key,
        col(SKU).alias(format!("{p}_sku")),
        col(DESCRIPTION).alias(format!("{p}_description")),
        col(CATEGORY).alias(format!("{p}_category")),
        col(GTIN).alias(format!("{p}_gtin")),
        col(BIN).alias(format!("{p}_bin")),
        col(RECOUNT_OF).alias(format!("{p}_recount_of")),
        col(QTY).alias(format!("{p}_qty")),
        col(UNIT_COST).alias(format!("{p}_unit_cost")),
        col(prepare::STATED_QTY).alias(format!("{p}_stated_qty")),
        col(UOM).alias(format!("{p}_uom")),
        col(prepare::FACTOR_COL).alias(format!("{p}_factor")),
        col(prepare::MOVED).alias(format!("{p}_moved")),
        col(prepare::ROW_AS_OF).alias(format!("{p}_as_of")),
        col(prepare::VIA).alias(format!("{p}_via")),
        col(SOURCE).alias(format!("{p}_source")),
        col(FILE).alias(format!("{p}_file")),
        col(ROW).alias(format!("{p}_row")),
    ];
    exprs.extend(extra.iter().map(|c| col(*c)));
    frame.select(exprs)
}

/// Splits a side: its rows with a row index (kept for gathering), the slim clean rows to
/// be joined, the findings, and the first counts.
fn split(frame: DataFrame, side: Side) -> Result<(DataFrame, DataFrame, DataFrame, SideTally)> {
    let t = Instant::now();
    let rows = frame.height() as u64;
    let not_stocked = frame.column(ABSENT)?.bool()?.sum().unwrap_or(0) as u64;
    let zero = lit("0").cast(qty_type());
    // Only clean rows join: not a placeholder, valid, a key of their own. Tested as one
    // boolean expression; only the few other rows get a kind (as text).
    let absent = || col(ABSENT).fill_null(lit(false));
    let clean = absent()
        .not()
        .and(col(INVALID).is_null())
        .and(col(prepare::REJECT).is_null())
        .and(col(KEY).is_not_null())
        .and(col(KEY_ROWS).lt_eq(lit(1u32)))
        .and(col(QTY).is_not_null());
    let p = side.as_str();
    let tagged = frame.with_row_index("_idx".into(), None)?;
    let slim = tagged
        .clone()
        .lazy()
        .filter(clean.clone())
        .select([
            col(KEY),
            col("_idx").alias(format!("{p}_idx")),
            col(QTY).alias(format!("{p}_qty")),
            col(UNIT_COST).alias(format!("{p}_unit_cost")),
        ])
        .collect()?;
    trace("  slim rows", t);
    let findings = tagged
        .clone()
        .lazy()
        .filter(clean.clone().not().and(absent().not()))
        .with_column(
            when(col(prepare::REJECT).is_not_null())
                .then(col(prepare::REJECT))
                .when(col(INVALID).is_not_null())
                .then(lit(Kind::InvalidRow.as_str()))
                .when(col(KEY_ROWS).gt(lit(1u32)))
                .then(lit(Kind::DuplicateKey.as_str()))
                .otherwise(lit(Kind::InvalidRow.as_str()))
                .alias(line::KIND),
        )
        .with_column(
            when(col(INVALID).is_not_null())
                .then(col(INVALID))
                .when(col(line::KIND).eq(lit(Kind::DuplicateKey.as_str())))
                .then(concat_str(
                    [
                        lit("the key appears "),
                        col(KEY_ROWS).cast(DataType::String),
                        lit(format!(" times in the {}", side.as_str())),
                    ],
                    "",
                    false,
                ))
                .otherwise(lit("no quantity"))
                .alias(line::DETAIL),
        );
    // Flags (an invalid GTIN, a negative quantity) are findings too, but their rows stay
    // in their bucket: matched and compared like any other.
    let flagged = tagged
        .clone()
        .lazy()
        .filter(col(prepare::FLAG).is_not_null())
        .with_columns([
            col(prepare::FLAG).alias(line::KIND),
            col(prepare::FLAG_DETAIL).alias(line::DETAIL),
        ]);
    let negative = tagged
        .clone()
        .lazy()
        .filter(clean.clone().and(col(QTY).lt(zero)))
        .with_columns([
            lit(Kind::NegativeQty.as_str()).alias(line::KIND),
            lit("negative on-hand quantity (compared all the same)").alias(line::DETAIL),
        ]);
    let findings = concat(
        [
            side_view(findings, side, &[line::KIND, line::DETAIL], false),
            side_view(flagged, side, &[line::KIND, line::DETAIL], false),
            side_view(negative, side, &[line::KIND, line::DETAIL], false),
        ],
        UnionArgs::default(),
    )?
    .with_column(lit(side.as_str()).alias(line::SIDE))
    .collect()?;

    let count = |kind: Kind| -> Result<u64> {
        Ok(findings
            .column(line::KIND)?
            .str()?
            .iter()
            .filter(|k| *k == Some(kind.as_str()))
            .count() as u64)
    };
    // A bad barcode is a bucket of its own when the barcode is the match key (the row
    // was rejected), else a flag on a row that is still matched.
    let rejected_gtin = tagged
        .column(prepare::REJECT)?
        .str()?
        .iter()
        .filter(|k| *k == Some(Kind::InvalidGtin.as_str()))
        .count() as u64;
    let tally = SideTally {
        sources: Vec::new(),
        rows,
        matched: 0,
        unmatched: 0,
        duplicate: count(Kind::DuplicateKey)?,
        rejected: Rejected {
            invalid_row: count(Kind::InvalidRow)?,
            unknown_unit: count(Kind::UnknownUnit)?,
            invalid_gtin: rejected_gtin,
            not_stocked,
        },
        invalid_gtin: count(Kind::InvalidGtin)? - rejected_gtin,
        negative_qty: count(Kind::NegativeQty)?,
    };
    Ok((tagged, slim, findings, tally))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::snapshot;

    #[test]
    fn duplicates_are_split_off_before_the_join_negatives_are_compared() {
        let book = snapshot(
            "erp",
            &[
                ("S1", "A", "5", None),
                ("S1", "B", "2", None),
                ("S1", "C", "-1", None),
            ],
        );
        let observed = snapshot(
            "pos",
            &[
                ("S1", "A", "3", None),
                ("S1", "A", "2", None),
                ("S1", "B", "2", None),
            ],
        );
        let m = reconcile(book, observed).unwrap();
        assert_eq!(m.book.matched, 1, "only B joins");
        assert_eq!(
            m.book.unmatched, 2,
            "A's book row finds no clean partner; C (negative) has none"
        );
        assert_eq!(m.book.negative_qty, 1, "flagged");
        assert_eq!(m.observed.duplicate, 2);
        assert_eq!(m.observed.matched, 1);
        assert!(m.book.ties_out() && m.observed.ties_out());
        assert_eq!(
            m.joined.height(),
            2,
            "A and C (book only) differ; the two observed A rows never fan out, B is equal"
        );
        let kinds: Vec<Option<&str>> = m
            .findings
            .column("kind")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|k| **k == Some("duplicate_key"))
                .count(),
            2
        );
        assert_eq!(
            kinds.iter().filter(|k| **k == Some("negative_qty")).count(),
            1
        );
    }

    /// A book row sold below zero and its count: matched, compared, and flagged.
    #[test]
    fn a_negative_row_is_matched_and_compared() {
        let book = snapshot("erp", &[("S1", "C", "-2", None)]);
        let observed = snapshot("pos", &[("S1", "C", "3", None)]);
        let m = reconcile(book, observed).unwrap();
        assert_eq!((m.book.matched, m.observed.matched), (1, 1));
        assert_eq!(m.book.negative_qty, 1);
        assert!(m.book.ties_out() && m.observed.ties_out());
        assert_eq!(m.joined.height(), 1, "a difference of 5 to decide");
        assert_eq!(m.findings.height(), 1, "and the flag");
    }

    #[test]
    fn placeholders_and_invalid_rows_are_counted_not_joined() {
        let book = snapshot("erp", &[("S1", "A", "5", None)]);
        let mut observed = snapshot("pos", &[("S1", "A", "0", None), ("S1", "B", "1", None)]);
        let absent = BooleanChunked::from_slice(ABSENT.into(), &[true, false]);
        let invalid = StringChunked::from_iter_options(
            INVALID.into(),
            [None, Some("the location is empty")].into_iter(),
        );
        observed.with_column(absent.into_series().into()).unwrap();
        observed.with_column(invalid.into_series().into()).unwrap();
        let m = reconcile(book, observed).unwrap();
        assert_eq!(m.observed.rejected.not_stocked, 1);
        assert_eq!(m.observed.rejected.invalid_row, 1);
        assert_eq!(m.observed.matched, 0);
        assert_eq!(m.book.unmatched, 1);
        assert!(m.observed.ties_out());
    }
}
