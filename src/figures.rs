//! The figures a manager and an auditor read first, per location and for the run:
//! inventory record accuracy (the share of counted items whose count agrees with the book,
//! or is within a rule's tolerance) and shrink (the net value of the quantity
//! differences as a share of the book's value at cost). Exact: counts are integers and
//! values mantissas at `VALUE_SCALE`; only the percentages are rounded, to two places.

use std::collections::BTreeMap;

use anyhow::Result;
use polars::prelude::*;

use crate::columns::LOCATION;
use crate::discrepancy::{Kind, Resolution};
use crate::matching::PairingTally;
use crate::schema::line;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocationFigures {
    /// Items counted (clean observed rows).
    pub counted: u64,
    /// Counted items with a difference that a rule does not wave through.
    pub disagree: u64,
    /// Book value at cost (mantissa at `VALUE_SCALE`).
    pub book_value: i128,
    /// Net value of the quantity differences, observed − book (mantissa at `VALUE_SCALE`).
    pub qty_value: i128,
}

impl LocationFigures {
    fn add(&mut self, o: &LocationFigures) {
        self.counted += o.counted;
        self.disagree += o.disagree;
        self.book_value = self.book_value.saturating_add(o.book_value);
        self.qty_value = self.qty_value.saturating_add(o.qty_value);
    }

    pub fn agree(&self) -> u64 {
        self.counted.saturating_sub(self.disagree)
    }

    /// Agreeing items as a percent of those counted, in hundredths ("98.75" = 9875).
    pub fn accuracy_hundredths(&self) -> Option<i128> {
        ratio_hundredths(i128::from(self.agree()), i128::from(self.counted))
    }

    /// Value lost (−net) as a percent of the book's value, in hundredths; negative for an
    /// overage.
    pub fn shrink_hundredths(&self) -> Option<i128> {
        ratio_hundredths(-self.qty_value, self.book_value)
    }
}

/// n / d × 100 in hundredths of a percent, rounded half away from zero; none for d ≤ 0.
fn ratio_hundredths(n: i128, d: i128) -> Option<i128> {
    if d <= 0 {
        return None;
    }
    let scaled = n.checked_mul(10_000)?;
    let q = scaled / d;
    let r = scaled % d;
    Some(if r.abs().checked_mul(2)? >= d {
        q + scaled.signum()
    } else {
        q
    })
}

/// Hundredths as "12.34".
pub fn percent_text(hundredths: i128) -> String {
    crate::precision::exact_min(hundredths, 2, 2)
}

/// Per location (and in total under no key), from the pairings' tallies and the lines.
pub fn per_location(
    discrepancies: &DataFrame,
    pairings: &[PairingTally],
) -> Result<BTreeMap<String, LocationFigures>> {
    let mut out: BTreeMap<String, LocationFigures> = BTreeMap::new();
    for p in pairings {
        for (location, t) in &p.by_location {
            let f = out.entry(location.clone()).or_default();
            f.counted += t.counted;
            f.book_value = f.book_value.saturating_add(t.book_value);
        }
    }
    let counted_kind = kinds(&[Kind::QtyMismatch, Kind::MissingInBook]);
    let qty_kind = kinds(&[
        Kind::QtyMismatch,
        Kind::MissingInBook,
        Kind::MissingInObserved,
    ]);
    let sums = discrepancies
        .clone()
        .lazy()
        .filter(qty_kind)
        .group_by([col(LOCATION).fill_null(lit(""))])
        .agg([
            counted_kind
                .and(col(line::RESOLUTION).neq(lit(Resolution::Ignore.as_str())))
                .sum()
                .cast(DataType::UInt64)
                .alias("disagree"),
            col(line::VALUE_DELTA)
                .cast(crate::columns::value_type())
                .sum()
                .alias("value"),
        ])
        .collect()?;
    let location = sums.column(LOCATION)?.str()?;
    let disagree = sums.column("disagree")?.u64()?;
    let value = sums.column("value")?.decimal()?.physical().clone();
    for i in 0..sums.height() {
        let f = out
            .entry(location.get(i).unwrap_or("").to_string())
            .or_default();
        f.disagree += disagree.get(i).unwrap_or(0);
        f.qty_value = f.qty_value.saturating_add(value.get(i).unwrap_or(0));
    }
    Ok(out)
}

/// The run's figures: every location's summed.
pub fn total(per: &BTreeMap<String, LocationFigures>) -> LocationFigures {
    let mut t = LocationFigures::default();
    for f in per.values() {
        t.add(f);
    }
    t
}

fn kinds(k: &[Kind]) -> Expr {
    k.iter()
        .fold(lit(false), |a, k| a.or(col(line::KIND).eq(lit(k.as_str()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_half_away_from_zero() {
        assert_eq!(ratio_hundredths(1, 3), Some(3333));
        assert_eq!(ratio_hundredths(2, 3), Some(6667));
        assert_eq!(ratio_hundredths(-1, 8), Some(-1250));
        assert_eq!(ratio_hundredths(1, 80_000), Some(0));
        assert_eq!(ratio_hundredths(1, 20_000), Some(1));
        assert_eq!(ratio_hundredths(5, 0), None);
        assert_eq!(percent_text(9875), "98.75");
        assert_eq!(percent_text(-50), "-0.50");
        assert_eq!(percent_text(10_000), "100.00");
    }
}
