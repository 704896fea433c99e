//! Cut-off roll-forward: two snapshots taken at different times differ by the sales,
//! receipts and transfers in between. Each row is brought forward from its own as-of
//! time to the pairing's latest one by adding the movements of its (location, item) in
//! that window, as Square computes stock from the last count plus every later
//! adjustment. The newer side adds nothing; a difference the movements explain exactly
//! is reported as explained, not as a discrepancy.
//!
//! A movement's quantity is the signed change to on-hand (a sale of 3 is −3), as
//! ERPNext's stock ledger `actual_qty` is. Windows are half-open: a movement at exactly
//! a snapshot's as-of time is already in that snapshot.

use std::collections::HashMap;

use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use rust_decimal::Decimal;

use crate::columns::{AS_OF, Field, LOCATION, MOVEMENT, QTY, SKU};
use crate::reference::rows::{Problems, Rows};
use crate::rules::SkuStep;
use crate::rules::normalize::normalize_into;
use crate::values::parse_time;

/// One movement, for `tally explain`.
#[derive(Debug, Clone)]
pub struct Movement {
    pub at: DateTime<FixedOffset>,
    pub qty: Decimal,
    pub movement: Option<String>,
    pub place: String,
}

#[derive(Debug, Default)]
pub struct Movements {
    /// (location, item key) → movements ordered by time.
    by_item: HashMap<(String, String), Vec<Movement>>,
    count: usize,
}

impl Movements {
    pub fn add(&mut self, rows: &Rows, steps: &[SkuStep]) -> Result<()> {
        let (locations, skus, qtys, times, kinds) = (
            rows.column(LOCATION)?,
            rows.column(SKU)?,
            rows.column(QTY)?,
            rows.column(AS_OF)?,
            rows.column(MOVEMENT)?,
        );
        let decimal_comma = rows.source().layout.decimal_comma;
        let places = rows.source().layout.precision.quantity.scale;
        let mut problems = Problems::default();
        let (mut out, mut scratch) = (String::new(), String::new());
        for i in 0..rows.len() {
            let location = locations.get(i).map(str::trim).unwrap_or("");
            if location.is_empty() {
                problems.push(format!(
                    "{}: the location is empty",
                    rows.cell(i, Field::Location)
                ));
                continue;
            }
            normalize_into(skus.get(i).unwrap_or(""), steps, &mut out, &mut scratch);
            if out.is_empty() {
                problems.push(format!("{}: the SKU is empty", rows.cell(i, Field::Sku)));
                continue;
            }
            let qty_text = qtys.get(i).unwrap_or("");
            let qty = match crate::values::parse_number(qty_text, decimal_comma, places, places) {
                Ok(m) => Decimal::from_i128_with_scale(m, places),
                Err(e) => {
                    problems.push(format!(
                        "{}: {}",
                        rows.cell(i, Field::Qty),
                        e.message(qty_text)
                    ));
                    continue;
                }
            };
            let time_text = times.get(i).unwrap_or("");
            let Some(at) = parse_time(time_text) else {
                problems.push(format!(
                    "{}: {time_text:?} is not a time with an offset (e.g. 2026-11-26T14:05:00-05:00)",
                    rows.cell(i, Field::AsOf)
                ));
                continue;
            };
            self.by_item
                .entry((location.to_string(), out.clone()))
                .or_default()
                .push(Movement {
                    at,
                    qty,
                    movement: kinds.get(i).map(str::to_string),
                    place: rows.place(i),
                });
            self.count += 1;
        }
        for list in self.by_item.values_mut() {
            list.sort_by_key(|m| m.at);
        }
        problems.finish(&format!("movements {}", rows.path().display()))
    }

    /// Adds one movement by hand.
    pub fn insert(&mut self, location: &str, item_key: &str, movement: Movement) {
        let list = self
            .by_item
            .entry((location.to_string(), item_key.to_string()))
            .or_default();
        list.push(movement);
        list.sort_by_key(|m| m.at);
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The movements of an item in (from, to]: what happened after a snapshot taken at
    /// `from` and up to `to`.
    pub fn between(
        &self,
        location: &str,
        item_key: &str,
        from: DateTime<FixedOffset>,
        to: DateTime<FixedOffset>,
    ) -> &[Movement] {
        let Some(list) = self
            .by_item
            .get(&(location.to_string(), item_key.to_string()))
        else {
            return &[];
        };
        let start = list.partition_point(|m| m.at <= from);
        let end = list.partition_point(|m| m.at <= to);
        &list[start..end.max(start)]
    }

    /// The net change of an item in (from, to], or `None` when nothing moved.
    pub fn net(
        &self,
        location: &str,
        item_key: &str,
        from: DateTime<FixedOffset>,
        to: DateTime<FixedOffset>,
    ) -> Option<Decimal> {
        let moved = self.between(location, item_key, from, to);
        (!moved.is_empty()).then(|| moved.iter().map(|m| m.qty).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::parse_time;

    #[test]
    fn times_need_an_offset() {
        assert!(parse_time("2026-11-26T21:00:00-05:00").is_some());
        assert!(parse_time("2026-11-26 21:00:00+00").is_some());
        assert!(parse_time("2026-11-26 21:00:00.5+05:30").is_some());
        assert!(parse_time("2026-11-26 21:00:00").is_none());
        assert!(parse_time("yesterday").is_none());
    }

    #[test]
    fn windows_are_half_open() {
        let t = |h: u32| parse_time(&format!("2026-11-26T{h:02}:00:00Z")).unwrap();
        let mut m = Movements::default();
        for (h, q) in [(10, -1), (12, -2), (14, 5)] {
            m.by_item
                .entry(("S1".into(), "A".into()))
                .or_default()
                .push(Movement {
                    at: t(h),
                    qty: Decimal::from(q),
                    movement: None,
                    place: String::new(),
                });
        }
        assert_eq!(m.net("S1", "A", t(10), t(14)), Some(Decimal::from(3)));
        assert_eq!(m.net("S1", "A", t(9), t(12)), Some(Decimal::from(-3)));
        assert_eq!(m.net("S1", "A", t(14), t(16)), None);
        assert_eq!(m.net("S1", "B", t(0), t(23)), None);
    }
}
