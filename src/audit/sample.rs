//! `tally audit sample RUN_DIR --size N --seed S`: a monetary-unit sample of a run's lines
//! for the auditor's own recount. Systematic selection with probability proportional to
//! |value_delta| (at the money scale): the lines' absolute values are laid end to end in
//! line order, the interval is their total over N, the start is drawn from the seed
//! (ChaCha8, `seed_from_u64`), and every line that holds one of the points start + k ×
//! interval is drawn. A line worth at least the interval is always drawn; lines without
//! a value (row findings) cannot be. The same run and seed always give the same sample.

use anyhow::{Result, bail};
use polars::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rust_decimal::Decimal;

use crate::schema::line;

pub const METHOD: &str =
    "monetary-unit sampling: systematic, probability proportional to |value_delta|";

/// The drawn sample.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    pub seed: u64,
    pub size: usize,
    /// Lines with a value, and their total |value|.
    pub population: usize,
    pub total: String,
    pub interval: String,
    pub start: String,
    /// Drawn line numbers, in line order, and their total |value|.
    pub lines: Vec<u64>,
    pub covered: String,
}

/// Draws `size` points over the lines of `shown` (the lines as people see them: text
/// cells, values at the money scale).
pub fn draw(shown: &DataFrame, size: usize, seed: u64) -> Result<Sample> {
    if size == 0 {
        bail!("--size must be at least 1");
    }
    let numbers = shown.column(line::LINE)?.cast(&DataType::UInt64)?;
    let numbers = numbers.u64()?;
    let values = shown.column(line::VALUE_DELTA)?.cast(&DataType::String)?;
    let values = values.str()?;
    let mut population: Vec<(u64, Decimal)> = Vec::new();
    for (n, v) in numbers.iter().zip(values.iter()) {
        let (Some(n), Some(v)) = (n, v) else { continue };
        let v = Decimal::from_str_exact(v)
            .map_err(|e| anyhow::anyhow!("line {n}: value {v:?}: {e}"))?
            .abs();
        if !v.is_zero() {
            population.push((n, v));
        }
    }
    let total: Decimal = population.iter().map(|(_, v)| *v).sum();
    if population.is_empty() {
        bail!("the run has no line with a value at cost: nothing to sample by value");
    }
    let interval = total / Decimal::from(size as u64);
    // A point in [0, interval), from the seed.
    let draw = ChaCha8Rng::seed_from_u64(seed).next_u64();
    let start =
        interval * Decimal::from(draw) / Decimal::from(u64::MAX).saturating_add(Decimal::ONE);
    let mut lines = Vec::new();
    let mut covered = Decimal::ZERO;
    let (mut before, mut point) = (Decimal::ZERO, start);
    for (n, v) in &population {
        let after = before + v;
        if point < after {
            lines.push(*n);
            covered += v;
            // Every point inside this line is spent on it.
            while point < after {
                point += interval;
            }
        }
        before = after;
    }
    Ok(Sample {
        seed,
        size,
        population: population.len(),
        total: total.to_string(),
        interval: interval.round_dp(6).to_string(),
        start: start.round_dp(6).to_string(),
        lines,
        covered: covered.to_string(),
    })
}

/// The count sheet's columns: what a counter needs to find the item, never the
/// quantities (a blind count), and an empty `counted` column to fill in.
pub const SHEET_COLUMNS: [&str; 8] = [
    line::LINE,
    line::LOCATION,
    line::ITEM_KEY,
    line::BOOK_SKU,
    line::OBSERVED_SKU,
    line::DESCRIPTION,
    line::CATEGORY,
    "counted",
];

/// The drawn lines as a count sheet: sorted by location and item, as counters walk.
pub fn sheet(shown: &DataFrame, sample: &Sample) -> Result<DataFrame> {
    let drawn = Series::new("drawn".into(), sample.lines.clone());
    let mut cols: Vec<Expr> = SHEET_COLUMNS[..7]
        .iter()
        .map(|c| col(*c).cast(DataType::String))
        .collect();
    cols.push(lit(NULL).cast(DataType::String).alias("counted"));
    Ok(shown
        .clone()
        .lazy()
        .filter(
            col(line::LINE)
                .cast(DataType::UInt64)
                .is_in(lit(drawn).implode(false), false),
        )
        .select(cols)
        .sort(
            [line::LOCATION, line::ITEM_KEY],
            SortMultipleOptions::default(),
        )
        .collect()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(values: &[&str]) -> DataFrame {
        let n: Vec<u64> = (1..=values.len() as u64).collect();
        df!(line::LINE => n, line::VALUE_DELTA => values.to_vec()).unwrap()
    }

    #[test]
    fn big_lines_are_always_drawn_and_the_seed_decides_the_rest() {
        let l = lines(&["1000", "-1", "2", "0", "3", "-4", "5", "600"]);
        let a = draw(&l, 3, 7).unwrap();
        assert_eq!(
            a.lines,
            draw(&l, 3, 7).unwrap().lines,
            "same seed, same sample"
        );
        // Total 1615, interval 538.33: 1000 and 600 hold a point whatever the start.
        assert!(
            a.lines.contains(&1) && a.lines.contains(&8),
            "{:?}",
            a.lines
        );
        assert!(!a.lines.contains(&4), "a line without value is never drawn");
        assert!(a.lines.len() <= 3);
        let seeds: std::collections::BTreeSet<Vec<u64>> =
            (0..50).map(|s| draw(&l, 5, s).unwrap().lines).collect();
        assert!(seeds.len() > 1, "the seed moves the start");
    }
}
