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

/// The codes' extent: `_key` values map to cells `location × items + item`.
#[derive(Debug, Clone, Copy)]
pub struct KeySpace {
    pub items: usize,
    pub cells: usize,
}

impl KeySpace {
    fn cell(&self, key: u64) -> usize {
        (key >> 32) as usize * self.items + (key & 0xFFFF_FFFF) as usize
    }
}

/// Adds `_key` and `_key_rows` to both frames (null key where location or item key is
/// missing). Also returns the locations by code (a key's upper 32 bits).
pub fn encode(book: &mut DataFrame, observed: &mut DataFrame) -> Result<(KeySpace, Vec<String>)> {
    let (book_codes, observed_codes, n_items, n_cells, names) = {
        let mut locations: PlHashMap<&str, u32> = PlHashMap::new();
        let mut items: PlHashMap<&str, u32> = PlHashMap::new();
        let b = codes(book, &mut locations, &mut items)?;
        let o = codes(observed, &mut locations, &mut items)?;
        let mut names = vec![String::new(); locations.len()];
        for (name, code) in &locations {
            names[*code as usize] = (*name).to_string();
        }
        (
            b,
            o,
            items.len(),
            locations.len().saturating_mul(items.len()),
            names,
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
    Ok((
        KeySpace {
            items: n_items,
            cells: n_cells,
        },
        names,
    ))
}

/// A key's location code.
pub fn location_of(key: u64) -> usize {
    (key >> 32) as usize
}

/// Where a key's book row sits: an array over all cells when they are few enough,
/// else a hash map.
enum Slots {
    Dense(Vec<u32>),
    Sparse(PlHashMap<u64, u32>),
}

const EMPTY: u32 = u32::MAX;

impl Slots {
    fn new(space: KeySpace, rows: usize, dense: bool) -> Slots {
        if dense && space.cells <= DENSE_LIMIT {
            Slots::Dense(vec![EMPTY; space.cells])
        } else {
            Slots::Sparse(PlHashMap::with_capacity(rows))
        }
    }

    fn insert(&mut self, space: KeySpace, key: u64, row: u32) {
        match self {
            Slots::Dense(v) => v[space.cell(key)] = row,
            Slots::Sparse(m) => {
                m.insert(key, row);
            }
        }
    }

    fn get(&self, space: KeySpace, key: u64) -> Option<u32> {
        match self {
            Slots::Dense(v) => Some(v[space.cell(key)]).filter(|r| *r != EMPTY),
            Slots::Sparse(m) => m.get(&key).copied(),
        }
    }
}

/// The outcome of pairing the clean rows of both sides on their keys.
pub struct Pairs {
    /// Positions (into the inputs) of the rows that differ: a pair whose quantity or
    /// cost differs, or a row without a partner (the other position null).
    pub book: Vec<Option<u32>>,
    pub observed: Vec<Option<u32>>,
    /// Pairs found, and how many of them differ.
    pub matched: u64,
    pub differing_pairs: u64,
}

/// One side's clean rows as the pairing sees them: key, quantity and cost mantissas
/// (all at the same scale on both sides).
pub struct Clean<'a> {
    pub keys: &'a [u64],
    pub qty: &'a [i128],
    pub cost: &'a [Option<i128>],
    /// Rows rolled forward by movements: their pair is reported even when equal (it
    /// is then explained by the movements). Empty when no row moved.
    pub moved: &'a [bool],
}

/// A full outer join for keys that are unique on each side (duplicates were split off
/// before), in one pass over each side: the book's rows go in slots by key, each
/// observed row looks its partner up. This is the join polars would do, without
/// hashing (dense keys index an array) and without materialising equal pairs.
pub fn pair(space: KeySpace, book: &Clean, observed: &Clean, dense: bool) -> Pairs {
    let mut slots = Slots::new(space, book.keys.len(), dense);
    for (row, key) in book.keys.iter().enumerate() {
        slots.insert(space, *key, row as u32);
    }
    let mut paired = vec![false; book.keys.len()];
    let mut out = Pairs {
        book: Vec::new(),
        observed: Vec::new(),
        matched: 0,
        differing_pairs: 0,
    };
    for (o, key) in observed.keys.iter().enumerate() {
        match slots.get(space, *key) {
            Some(b) => {
                let b = b as usize;
                paired[b] = true;
                out.matched += 1;
                // A cost missing on a side is no difference.
                let cost_differs = matches!(
                    (book.cost[b], observed.cost[o]),
                    (Some(x), Some(y)) if x != y
                );
                if book.qty[b] != observed.qty[o]
                    || cost_differs
                    || book.moved.get(b).copied().unwrap_or(false)
                    || observed.moved.get(o).copied().unwrap_or(false)
                {
                    out.differing_pairs += 1;
                    out.book.push(Some(b as u32));
                    out.observed.push(Some(o as u32));
                }
            }
            None => {
                out.book.push(None);
                out.observed.push(Some(o as u32));
            }
        }
    }
    for (b, _) in paired.iter().enumerate().filter(|(_, p)| !**p) {
        out.book.push(Some(b as u32));
        out.observed.push(None);
    }
    out
}

fn codes<'a>(
    frame: &'a DataFrame,
    location_codes: &mut PlHashMap<&'a str, u32>,
    item_codes: &mut PlHashMap<&'a str, u32>,
) -> Result<Codes> {
    let locations = frame.column(LOCATION)?.str()?;
    let items = frame.column(ITEM_KEY)?.str()?;
    // Exports list a store's items together: the last location saves most lookups.
    let mut last: Option<(&str, u32)> = None;
    Ok(locations
        .iter()
        .zip(items.iter())
        .map(|(loc, item)| {
            let (loc, item) = (loc?, item?);
            let l = match last {
                Some((text, code)) if text == loc => code,
                _ => {
                    let n = location_codes.len() as u32;
                    let code = *location_codes.entry(loc).or_insert(n);
                    last = Some((loc, code));
                    code
                }
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_pairing_agree() {
        let space = KeySpace { items: 4, cells: 8 };
        let key = |l: u64, i: u64| (l << 32) | i;
        let book = Clean {
            keys: &[key(0, 0), key(0, 1), key(1, 3), key(1, 2)],
            qty: &[5, 2, 7, 1],
            cost: &[Some(10), None, Some(3), Some(4)],
            moved: &[],
        };
        let observed = Clean {
            keys: &[key(1, 3), key(0, 1), key(0, 2), key(1, 2)],
            qty: &[7, 2, 9, 1],
            cost: &[Some(3), Some(99), None, Some(5)],
            moved: &[],
        };
        for dense in [true, false] {
            let p = pair(space, &book, &observed, dense);
            assert_eq!(p.matched, 3, "(1,3), (0,1) and (1,2) pair");
            // (1,3) equal; (0,1) equal since the book has no cost; (1,2) cost differs.
            assert_eq!(p.differing_pairs, 1);
            let rows: Vec<(Option<u32>, Option<u32>)> = p
                .book
                .iter()
                .copied()
                .zip(p.observed.iter().copied())
                .collect();
            assert_eq!(
                rows,
                vec![(None, Some(2)), (Some(3), Some(3)), (Some(0), None)]
            );
        }
    }
}
