//! Normalisation: each snapshot row gets the `item_key` that matching uses, computed by
//! the rules' SKU steps. The raw `sku` is kept beside it for the audit trail.

use anyhow::Result;
use polars::prelude::*;

use crate::columns::{INVALID, ITEM_KEY, LOCATION, SKU};
use crate::rules::SkuStep;
use crate::rules::normalize::item_keys;

/// Adds `item_key`; a SKU that normalises to nothing makes the row invalid.
pub fn key(mut frame: DataFrame, steps: &[SkuStep]) -> Result<DataFrame> {
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
