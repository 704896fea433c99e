//! Step 2 of preparing a side: the match chain's own steps, each pairing what the key
//! pass would leave without a partner (the order is the rules'; see `prepare`).

use std::borrow::Cow;

use polars::prelude::{InitHashMaps, PlHashMap};

use super::side::SideRows;
use crate::rules::MatchStep;

/// Alias: a row without a partner whose code or barcode the cross-reference knows
/// takes the internal item's key (and the pack's unit), on either side.
pub(super) fn alias<'a>(
    book: &mut SideRows<'a>,
    observed: &mut SideRows<'a>,
    xref: &'a crate::rules::alias::CrossReference,
) {
    let apply = |side: &mut SideRows<'a>, unmatched: Vec<bool>| {
        for (i, open) in unmatched.into_iter().enumerate() {
            if !open {
                continue;
            }
            let Some(alias) = xref.lookup(side.item_key[i].as_deref(), side.gtin(i)) else {
                continue;
            };
            if side.item_key[i].as_deref() != Some(alias.item_key.as_str()) {
                side.item_key[i] = Some(Cow::Borrowed(alias.item_key.as_str()));
                side.via[i] = Some(MatchStep::Alias.as_str());
                side.changed_keys = true;
            }
            if let Some(u) = &alias.uom
                && side.uom[i].is_none()
            {
                side.uom[i] = Some(Cow::Borrowed(u.as_str()));
                side.changed_uom = true;
            }
        }
    };
    let open_book = book.unmatched(&observed.keys());
    let open_observed = observed.unmatched(&book.keys());
    apply(book, open_book);
    apply(observed, open_observed);
}

/// GTIN: an observed row without a partner takes the key of the book row without a
/// partner that has the same valid GTIN at the same location (only when exactly one
/// book row does: a GTIN shared by two book items decides nothing).
pub(super) fn gtin<'a>(book: &SideRows<'a>, observed: &mut SideRows<'a>) {
    let open_book = book.unmatched(&observed.keys());
    let open_observed = observed.unmatched(&book.keys());
    // (location, GTIN) → the one book row that has it (None: more than one item).
    let mut by_gtin: PlHashMap<(&str, &str), Option<usize>> = PlHashMap::new();
    for i in (0..open_book.len()).filter(|i| open_book[*i]) {
        if let (Some(l), Some(g), Some(k)) = (book.location[i], book.gtin(i), &book.item_key[i]) {
            by_gtin
                .entry((l, g))
                .and_modify(|e| {
                    if e.and_then(|j| book.item_key[j].as_deref()) != Some(k.as_ref()) {
                        *e = None
                    }
                })
                .or_insert(Some(i));
        }
    }
    for i in (0..open_observed.len()).filter(|i| open_observed[*i]) {
        let (Some(l), Some(g)) = (observed.location[i], observed.gtin(i)) else {
            continue;
        };
        if let Some(Some(j)) = by_gtin.get(&(l, g)) {
            observed.item_key[i] = book.item_key[*j].clone();
            observed.via[i] = Some(MatchStep::Gtin.as_str());
            observed.changed_keys = true;
        }
    }
}
