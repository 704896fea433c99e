//! Sharding a run across machines by location: `--shard I/N` keeps the locations whose
//! stable hash falls in shard I (0-based, as a Kubernetes completion index). The hash is
//! SHA-256 of the location code, so every machine, build and platform agrees on it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use anyhow::Result;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::columns::LOCATION;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let err = || format!("expected I/N with 0 ≤ I < N (e.g. 0/4), got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = i.trim().parse().map_err(|_| err())?;
        let count: u32 = n.trim().parse().map_err(|_| err())?;
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The shard a location belongs to among `count`.
    pub fn of(location: &str, count: u32) -> u32 {
        let digest = Sha256::digest(location.as_bytes());
        let first = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        (first % u64::from(count)) as u32
    }

    pub fn holds(&self, location: &str) -> bool {
        Shard::of(location, self.count) == self.index
    }

    /// Keeps the rows whose location is in this shard (hashing each location once).
    pub fn keep(&self, frame: DataFrame) -> Result<DataFrame> {
        let mut memo: HashMap<&str, bool> = HashMap::new();
        let locations = frame.column(LOCATION)?.str()?;
        let mask: BooleanChunked = locations
            .iter()
            .map(|loc| {
                // Rows without a location stay with shard 0, where they are reported once.
                let Some(loc) = loc else {
                    return self.index == 0;
                };
                *memo.entry(loc).or_insert_with(|| self.holds(loc))
            })
            .collect();
        Ok(frame.filter(&mask)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        assert!("4/4".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn every_location_is_in_exactly_one_shard() {
        for loc in ["BOS-01", "NYC-02", "PDX-03", "SEA-04", "", "Ünïcode"] {
            let holders = (0..4)
                .filter(|i| {
                    Shard {
                        index: *i,
                        count: 4,
                    }
                    .holds(loc)
                })
                .count();
            assert_eq!(holders, 1, "{loc}");
        }
        // Stable across builds and platforms: pinned values (first 8 bytes of SHA-256,
        // big-endian, modulo N), so shard runs from different builds still merge.
        let pinned = [
            ("BOS-01", 1, 1),
            ("NYC-02", 2, 2),
            ("PDX-03", 1, 6),
            ("SEA-04", 1, 6),
        ];
        for (loc, of4, of7) in pinned {
            assert_eq!((Shard::of(loc, 4), Shard::of(loc, 7)), (of4, of7), "{loc}");
        }
    }
}
