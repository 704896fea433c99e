//! Units of measure: every quantity is converted to its item's base unit before the
//! sides are compared (a case of 12 is 12 each). The factors are data (ERPNext's UOM
//! Conversion Detail: item, unit, factor; the base unit has factor 1); the rules file
//! declares each unit's dimension, and a conversion between dimensions (kg and each) is
//! refused when the table is read. A row whose unit has no conversion for its item is a
//! finding of its own: it is never compared with a factor of 1.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Result, bail};
use rust_decimal::Decimal;

use crate::columns::{FACTOR, Field, ITEM, UOM};
use crate::reference::rows::{Problems, Rows};
use crate::rules::SkuStep;
use crate::rules::normalize::normalize_into;

#[derive(Debug, Default)]
pub struct Conversions {
    /// item key → unit → base units in one unit, with where the table says so (nested,
    /// so that a row's lookup borrows its strings).
    factors: HashMap<String, HashMap<String, (Decimal, String)>>,
    /// item key → its base unit (the one with factor 1).
    base: HashMap<String, String>,
}

impl Conversions {
    pub fn add(&mut self, rows: &Rows, steps: &[SkuStep]) -> Result<()> {
        let (items, uoms, factors) = (rows.column(ITEM)?, rows.column(UOM)?, rows.column(FACTOR)?);
        let mut problems = Problems::default();
        let (mut out, mut scratch) = (String::new(), String::new());
        for i in 0..rows.len() {
            let item = match items.get(i) {
                Some(raw) => {
                    normalize_into(raw, steps, &mut out, &mut scratch);
                    out.clone()
                }
                None => String::new(),
            };
            let uom = uoms.get(i).map(str::trim).unwrap_or("").to_string();
            let factor_text = factors.get(i).map(str::trim).unwrap_or("");
            if item.is_empty() {
                problems.push(format!("{}: the item is empty", rows.cell(i, Field::Item)));
                continue;
            }
            if uom.is_empty() {
                problems.push(format!("{}: the unit is empty", rows.cell(i, Field::Uom)));
                continue;
            }
            let factor = match Decimal::from_str_exact(factor_text) {
                Ok(f) if f > Decimal::ZERO => f.normalize(),
                _ => {
                    problems.push(format!(
                        "{}: {factor_text:?} is not a factor (a number above 0)",
                        rows.cell(i, Field::Factor)
                    ));
                    continue;
                }
            };
            let place = rows.place(i);
            if factor == Decimal::ONE {
                match self.base.get(&item) {
                    Some(b) if *b != uom => {
                        let earlier = &self.factors[&item][b].1;
                        problems.push(format!(
                            "{place}: item {item:?} has two base units (factor 1): {uom:?} and {b:?} ({earlier})"
                        ));
                        continue;
                    }
                    _ => {
                        self.base.insert(item.clone(), uom.clone());
                    }
                }
            }
            match self.factors.get(&item).and_then(|units| units.get(&uom)) {
                Some((f, earlier)) if *f != factor => problems.push(format!(
                    "{place}: item {item:?} unit {uom:?} has factor {factor}, but {earlier} says {f}"
                )),
                Some(_) => {}
                None => {
                    self.factors
                        .entry(item)
                        .or_default()
                        .insert(uom, (factor, place));
                }
            }
        }
        problems.finish(&format!("conversions {}", rows.path().display()))
    }

    /// Adds one conversion by hand (factor 1 makes `uom` the item's base unit).
    pub fn insert(&mut self, item_key: &str, uom: &str, factor: Decimal) {
        if factor == Decimal::ONE {
            self.base.insert(item_key.to_string(), uom.to_string());
        }
        self.factors
            .entry(item_key.to_string())
            .or_default()
            .insert(uom.to_string(), (factor, "(by hand)".to_string()));
    }

    /// Every item has a base unit, and no factor crosses dimensions (`units` from the
    /// rules file: unit → dimension).
    pub fn check(&self, units: &BTreeMap<String, String>, rules_path: &Path) -> Result<()> {
        let mut problems = Vec::new();
        let mut entries: Vec<_> = self
            .factors
            .iter()
            .flat_map(|(item, units)| units.iter().map(move |(uom, f)| (item, uom, f)))
            .collect();
        entries.sort_by(|a, b| a.2.1.cmp(&b.2.1));
        for (item, uom, (_, place)) in entries {
            if !units.contains_key(uom) {
                problems.push(format!(
                    "{place}: unit {uom:?} is not declared in {} [units]",
                    rules_path.display()
                ));
            }
            let Some(base) = self.base.get(item) else {
                problems.push(format!(
                    "{place}: item {item:?} has no base unit (a row with factor 1)"
                ));
                continue;
            };
            if let (Some(d), Some(bd)) = (units.get(uom), units.get(base))
                && d != bd
            {
                problems.push(format!(
                    "{place}: item {item:?}: {uom} ({d}) cannot convert to {base} ({bd}); units convert within one dimension only"
                ));
            }
        }
        problems.sort();
        problems.dedup();
        if !problems.is_empty() {
            bail!(
                "conversions: {} problem(s)\n{}\n    hint: declare units as [units] each = \"count\", kg = \"mass\" in the rules file",
                problems.len(),
                problems.join("\n")
            );
        }
        Ok(())
    }

    /// Base units in one `uom` of the item, or why there is no such factor.
    pub fn factor(
        &self,
        item_key: &str,
        uom: &str,
        units: &BTreeMap<String, String>,
    ) -> Result<Decimal, String> {
        if let Some((f, _)) = self.factors.get(item_key).and_then(|units| units.get(uom)) {
            return Ok(*f);
        }
        Err(match self.base.get(item_key) {
            None => {
                format!("no conversion for item {item_key:?}: the conversions list no units for it")
            }
            Some(base) => match (units.get(uom), units.get(base)) {
                (Some(d), Some(bd)) if d != bd => format!(
                    "{uom} ({d}) cannot convert to {base} ({bd}), the base unit of item {item_key:?}"
                ),
                _ => format!(
                    "no conversion from {uom:?} to {base:?}, the base unit of item {item_key:?}"
                ),
            },
        })
    }
}
