//! `[match]`: what identifies an item (the key) and the steps rows are paired by after
//! the key pass, in order (the chain).

use super::raw::{MatchKey, MatchStep, RawMatch};
use crate::diag::Diagnostics;

/// The key and the steps after the key pass (exact, then normalized, always first).
pub(super) fn compile(m: RawMatch, diags: &mut Diagnostics) -> (MatchKey, Vec<MatchStep>) {
    let mut match_key = MatchKey::ItemKey;
    let mut chain = vec![MatchStep::Alias, MatchStep::Gtin];
    let key = m.key.get_ref();
    match key.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["location", "item_key"] => {}
        ["location", "gtin"] => {
            match_key = MatchKey::Gtin;
            // The barcode is the key: the steps that re-key a row by
            // its SKU or its barcode have nothing left to do.
            chain.clear();
        }
        _ => {
            diags.hint(
                    m.key.span(),
                    format!("unsupported match key {key:?}"),
                    "key = [\"location\", \"item_key\"] (the default) or [\"location\", \"gtin\"] (barcodes: scanner count sheets)",
                );
        }
    }
    if let Some(c) = m.chain {
        let span = c.span();
        let steps = c.into_inner();
        // The key pass (exact, then normalized) always comes first: a
        // row keeps the partner its own SKU finds.
        let key_steps = steps
            .iter()
            .take_while(|s| matches!(s, MatchStep::Exact | MatchStep::Normalized))
            .count();
        let mut seen = std::collections::BTreeSet::new();
        if steps.iter().any(|s| !seen.insert(s.as_str())) {
            diags.at(span.clone(), "[match] chain names a step twice");
        } else if steps.get(..2) != Some(&[MatchStep::Exact, MatchStep::Normalized][..])
            || steps[key_steps..]
                .iter()
                .any(|s| matches!(s, MatchStep::Exact | MatchStep::Normalized))
        {
            diags.hint(
                    span,
                    "[match] chain must start with \"exact\", \"normalized\"",
                    "e.g. chain = [\"exact\", \"normalized\", \"gtin\", \"alias\"]; alias and gtin may be left out",
                );
        } else if match_key == MatchKey::Gtin && steps.len() > 2 {
            diags.hint(
                    span,
                    "[match] chain: with key = [\"location\", \"gtin\"] rows are paired by their barcode only",
                    "chain = [\"exact\", \"normalized\"] (exact: the same code as written; normalized: the same GTIN-14)",
                );
        } else {
            chain = steps[2..].to_vec();
        }
    }
    (match_key, chain)
}
