//! Cross-references: vendor and POS codes, and barcodes, that name an internal item
//! (ERPNext's Item Supplier and Item Barcode tables). A pack barcode carries its own
//! unit: a case barcode and an each barcode name one item, and the row counted under the
//! case barcode counts cases (the units step converts them).
//!
//! Codes go through the same SKU steps as the snapshots' SKUs, so that a code matches
//! however the systems dress it; barcodes are matched in their 14-digit form.

use std::collections::HashMap;

use anyhow::Result;

use crate::columns::{Field, GTIN, ITEM, SKU, UOM};
use crate::reference::rows::{Problems, Rows};
use crate::rules::SkuStep;
use crate::rules::gtin;
use crate::rules::normalize::normalize_into;

/// What a code stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The internal item's key (normalised like every SKU).
    pub item_key: String,
    /// The unit the code counts in (a pack barcode), if the table gives one.
    pub uom: Option<String>,
    /// Where the cross-reference says so ("file:line").
    pub place: String,
}

#[derive(Debug, Default)]
pub struct CrossReference {
    by_code: HashMap<String, Alias>,
    by_gtin: HashMap<String, Alias>,
}

impl CrossReference {
    /// Adds one table's rows; a code that names two different items is an error.
    pub fn add(&mut self, rows: &Rows, steps: &[SkuStep]) -> Result<()> {
        let (items, codes, gtins, uoms) = (
            rows.column(ITEM)?,
            rows.column(SKU)?,
            rows.column(GTIN)?,
            rows.column(UOM)?,
        );
        let mut problems = Problems::default();
        let (mut out, mut scratch) = (String::new(), String::new());
        let mut key = |raw: &str| {
            normalize_into(raw, steps, &mut out, &mut scratch);
            out.clone()
        };
        for i in 0..rows.len() {
            let item = items.get(i).map(&mut key).unwrap_or_default();
            if item.is_empty() {
                problems.push(format!("{}: the item is empty", rows.cell(i, Field::Item)));
                continue;
            }
            let alias = Alias {
                item_key: item,
                uom: uoms
                    .get(i)
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_string),
                place: rows.place(i),
            };
            let code = codes.get(i).map(&mut key).filter(|c| !c.is_empty());
            let barcode = match gtins.get(i).map(str::trim).filter(|g| !g.is_empty()) {
                None => None,
                Some(raw) => match gtin::normalize(raw) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        problems.push(format!("{}: {raw:?}: {e}", rows.cell(i, Field::Gtin)));
                        continue;
                    }
                },
            };
            if code.is_none() && barcode.is_none() {
                problems.push(format!(
                    "{}: the row gives neither a code nor a barcode",
                    rows.place(i)
                ));
                continue;
            }
            for (map, code) in [(&mut self.by_code, code), (&mut self.by_gtin, barcode)] {
                let Some(code) = code else { continue };
                match map.get(&code) {
                    Some(earlier)
                        if earlier.item_key != alias.item_key || earlier.uom != alias.uom =>
                    {
                        problems.push(format!(
                            "{}: code {code:?} names item {:?}{}, but {} names {:?}{}",
                            rows.place(i),
                            alias.item_key,
                            unit_note(&alias.uom),
                            earlier.place,
                            earlier.item_key,
                            unit_note(&earlier.uom),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        map.insert(code, alias.clone());
                    }
                }
            }
        }
        problems.finish(&format!("cross-reference {}", rows.path().display()))
    }

    /// Adds one code (an item key) or barcode (14 digits) by hand.
    pub fn insert(&mut self, code: &str, is_barcode: bool, alias: Alias) {
        let map = if is_barcode {
            &mut self.by_gtin
        } else {
            &mut self.by_code
        };
        map.insert(code.to_string(), alias);
    }

    /// The item a row's key or 14-digit barcode stands for.
    pub fn lookup(&self, item_key: Option<&str>, gtin14: Option<&str>) -> Option<&Alias> {
        item_key
            .and_then(|k| self.by_code.get(k))
            .or_else(|| gtin14.and_then(|g| self.by_gtin.get(g)))
    }
}

fn unit_note(uom: &Option<String>) -> String {
    uom.as_ref().map(|u| format!(" in {u}")).unwrap_or_default()
}
