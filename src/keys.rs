//! Match keys as integers: (location, item_key) becomes one u64 built from dictionary
//! codes shared by both sides, so duplicate detection and the join work on one integer
//! column instead of two string columns (performance.md: a combined integer key joins
//! about twice as fast). Codes come from a dictionary, not a hash, so two different
//! keys can never collide.
//!
//! The same work counts, per side, how many rows that can take part in matching share
//! each key (`_key_rows`): more than one is a duplicate. With dense codes the counts
//! live in a plain array indexed by (location, item), which is far faster than a window
//! expression or a hash map over millions of keys.

use anyhow::Result;
use polars::prelude::*;

use crate::columns::{ABSENT, INVALID, ITEM_KEY, LOCATION};

/// The key column both sides get.
pub const KEY: &str = "_key";
/// Rows of the same side that can be matched and share the row's key.
pub const KEY_ROWS: &str = "_key_rows";

/// Above this many (location × item) cells, counting falls back to a hash map.
const DENSE_LIMIT: usize = 1 << 28;

type Codes = Vec<Option<(u32, u32)>>;

/// Adds `_key` and `_key_rows` to both frames (null key where location or item key is
/// missing).
pub fn encode(book: &mut DataFrame, observed: &mut DataFrame) -> Result<()> {
    let (book_codes, observed_codes, n_items, n_cells) = {
        let mut locations: PlHashMap<&str, u32> = PlHashMap::new();
        let mut items: PlHashMap<&str, u32> = PlHashMap::new();
        let b = codes(book, &mut locations, &mut items)?;
        let o = codes(observed, &mut locations, &mut items)?;
        (
            b,
            o,
            items.len(),
            locations.len().saturating_mul(items.len()),
        )
    };
    for (frame, codes) in [(book, book_codes), (observed, observed_codes)] {
        let eligible = eligible(frame)?;
        let index = |(l, i): (u32, u32)| l as usize * n_items + i as usize;
        let rows: Vec<u32> = if n_cells <= DENSE_LIMIT {
            let mut counts = vec![0u32; n_cells];
            for (c, ok) in codes.iter().zip(&eligible) {
                if let (Some(c), true) = (c, ok) {
                    counts[index(*c)] += 1;
                }
            }
            codes
                .iter()
                .map(|c| c.map_or(0, |c| counts[index(c)]))
                .collect()
        } else {
            let mut counts: PlHashMap<(u32, u32), u32> = PlHashMap::new();
            for (c, ok) in codes.iter().zip(&eligible) {
                if let (Some(c), true) = (c, ok) {
                    *counts.entry(*c).or_insert(0) += 1;
                }
            }
            codes
                .iter()
                .map(|c| c.and_then(|c| counts.get(&c).copied()).unwrap_or(0))
                .collect()
        };
        let keys = UInt64Chunked::from_iter_options(
            KEY.into(),
            codes
                .iter()
                .map(|c| c.map(|(l, i)| u64::from(l) << 32 | u64::from(i))),
        );
        frame.with_column(keys.into_series().into())?;
        frame.with_column(
            UInt32Chunked::from_vec(KEY_ROWS.into(), rows)
                .into_series()
                .into(),
        )?;
    }
    Ok(())
}

fn codes<'a>(
    frame: &'a DataFrame,
    location_codes: &mut PlHashMap<&'a str, u32>,
    item_codes: &mut PlHashMap<&'a str, u32>,
) -> Result<Codes> {
    let locations = frame.column(LOCATION)?.str()?;
    let items = frame.column(ITEM_KEY)?.str()?;
    Ok(locations
        .iter()
        .zip(items.iter())
        .map(|(loc, item)| {
            let (loc, item) = (loc?, item?);
            let n = location_codes.len() as u32;
            let l = *location_codes.entry(loc).or_insert(n);
            let n = item_codes.len() as u32;
            let i = *item_codes.entry(item).or_insert(n);
            Some((l, i))
        })
        .collect())
}

/// Rows that can take part in matching: not a placeholder, not invalid.
fn eligible(frame: &DataFrame) -> Result<Vec<bool>> {
    let absent = frame.column(ABSENT)?.bool()?;
    let invalid = frame.column(INVALID)?.str()?;
    Ok(absent
        .iter()
        .zip(invalid.iter())
        .map(|(a, i)| !a.unwrap_or(false) && i.is_none())
        .collect())
}
