//! Normalisation: each snapshot row gets the `item_key` that matching uses, computed by
//! the rules' SKU steps, or with `[match] key = ["location", "gtin"]` the row's GTIN-14
//! (scanner count sheets carry a barcode and no SKU). The raw `sku` and `gtin` are kept
//! beside it for the audit trail.

use anyhow::Result;
use polars::prelude::*;

use crate::columns::{GTIN, INVALID, ITEM_KEY, LOCATION, SKU};
use crate::discrepancy::Kind;
use crate::prepare::REJECT;
use crate::rules::normalize::item_keys;
use crate::rules::raw::MatchKey;
use crate::rules::{RuleSet, SkuStep, gtin};

/// Adds `item_key` by the rules' match key.
pub fn key(frame: DataFrame, rules: &RuleSet) -> Result<DataFrame> {
    match rules.key {
        MatchKey::ItemKey => sku_key(frame, &rules.sku_steps),
        MatchKey::Gtin => gtin_key(frame),
    }
}

/// The item key is the GTIN-14. A row needs a barcode, not a SKU; a code that fails its
/// check digit is an `invalid_gtin` finding and is not matched (two equal bad codes
/// never pair); each distinct code is checked once.
fn gtin_key(mut frame: DataFrame) -> Result<DataFrame> {
    let codes = frame.column(GTIN)?.str()?.clone();
    let invalid = frame.column(INVALID)?.str()?.clone();
    let distinct = codes.unique()?;
    let mut checked: PlHashMap<&str, Result<String, String>> = PlHashMap::new();
    for raw in distinct.iter().flatten() {
        let code = raw.trim();
        if !code.is_empty() {
            let r = gtin::normalize(code).map_err(|e| format!("GTIN {code:?}: {e}"));
            checked.insert(raw, r);
        }
    }
    let n = frame.height();
    let (mut keys, mut why, mut reject) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (code, invalid) in codes.iter().zip(invalid.iter()) {
        // Without a SKU a row is still whole: the barcode is what identifies it.
        let invalid = invalid.filter(|w| *w != crate::extract::typing::EMPTY_SKU);
        let (k, w, r) = match (invalid, code.and_then(|c| checked.get(c))) {
            (Some(w), _) => (None, Some(w.to_string()), None),
            (None, None) => (
                None,
                Some("no barcode (the match key is the GTIN)".to_string()),
                None,
            ),
            (None, Some(Ok(g))) => (Some(g.as_str()), None, None),
            (None, Some(Err(e))) => (None, Some(e.clone()), Some(Kind::InvalidGtin.as_str())),
        };
        keys.push(k);
        why.push(w);
        reject.push(r);
    }
    frame.with_column(Column::new(ITEM_KEY.into(), keys))?;
    frame.with_column(Column::new(INVALID.into(), why))?;
    frame.with_column(Column::new(REJECT.into(), reject))?;
    Ok(frame)
}

/// Adds `item_key` from the SKU; a SKU that normalises to nothing makes the row invalid.
fn sku_key(mut frame: DataFrame, steps: &[SkuStep]) -> Result<DataFrame> {
    let keys = item_keys(frame.column(SKU)?.str()?, steps).with_name(ITEM_KEY.into());
    frame.with_column(keys.into_series().into())?;
    let frame = frame
        .lazy()
        .with_column(
            when(
                col(INVALID)
                    .is_null()
                    .and(col(ITEM_KEY).str().len_bytes().eq(lit(0u32))),
            )
            .then(lit("the SKU is empty after normalisation"))
            .otherwise(col(INVALID))
            .alias(INVALID),
        )
        .collect()?;
    Ok(frame)
}

/// Keeps only the given locations (all when the list is empty).
pub fn keep_locations(frame: DataFrame, locations: &[String]) -> Result<DataFrame> {
    if locations.is_empty() {
        return Ok(frame);
    }
    let wanted = locations.iter().fold(lit(false), |acc, l| {
        acc.or(col(LOCATION).eq(lit(l.as_str())))
    });
    Ok(frame.lazy().filter(wanted).collect()?)
}
