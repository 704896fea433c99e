//! One side's columns as the match chain's steps work on them.

use std::borrow::Cow;

use anyhow::Result;
use polars::prelude::*;

use super::added::REJECT;
use crate::columns::*;
use crate::rules::gtin;

/// The text columns a side's steps read (cheap handles on the frame's own buffers),
/// held while the steps borrow from them.
pub(super) struct Texts {
    location: StringChunked,
    item_key: StringChunked,
    uom: StringChunked,
    gtin: StringChunked,
}

impl Texts {
    pub(super) fn of(frame: &DataFrame) -> Result<Texts> {
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
pub(super) struct SideRows<'a> {
    pub(super) location: Vec<Option<&'a str>>,
    pub(super) item_key: Vec<Option<Cow<'a, str>>>,
    /// The row's valid GTIN-14, as an index into `gtins`.
    pub(super) gtin14: Vec<Option<u32>>,
    pub(super) gtins: Vec<String>,
    pub(super) eligible: Vec<bool>,
    pub(super) via: Vec<Option<&'static str>>,
    pub(super) uom: Vec<Option<Cow<'a, str>>>,
    pub(super) flag: Vec<Option<String>>,
    pub(super) reject: Vec<Option<String>>,
    pub(super) changed_keys: bool,
    pub(super) changed_uom: bool,
}

impl<'a> SideRows<'a> {
    pub(super) fn read(frame: &DataFrame, texts: &'a Texts) -> Result<SideRows<'a>> {
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
    pub(super) fn gtin(&self, i: usize) -> Option<&str> {
        self.gtin14[i].map(|g| self.gtins[g as usize].as_str())
    }

    /// Keys of rows that can be matched.
    pub(super) fn keys(&self) -> PlHashSet<(&str, &str)> {
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
    pub(super) fn unmatched(&self, other: &PlHashSet<(&str, &str)>) -> Vec<bool> {
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
