//! Corrections as import files: one generic CSV per pairing and target side, and the
//! target system's own format where the side's source asks for one.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use polars::prelude::*;

use super::RunDir;
use crate::columns::{ITEM_KEY, LOCATION};
use crate::discrepancy::{Kind, Side};
use crate::job::{CorrectionFormat, Job};
use crate::schema::correction;

/// Writes `corrections/<pairing>.<side>.csv` (and `.erpnext.csv`); returns the files.
/// `xlsx`: also each side's corrections as a workbook (`write/xlsx.rs`).
pub fn write(
    dir: &mut RunDir,
    corrections: &DataFrame,
    lines: &DataFrame,
    job: &Job,
    xlsx: bool,
) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for pairing in &job.pairings {
        for side in [Side::Book, Side::Observed] {
            let part = corrections
                .clone()
                .lazy()
                .filter(
                    col(correction::PAIRING)
                        .eq(lit(pairing.name.as_str()))
                        .and(col(correction::TARGET).eq(lit(side.as_str()))),
                )
                .collect()?;
            if part.height() == 0 {
                continue;
            }
            let stem = format!("corrections/{}.{}", file_stem(&pairing.name), side.as_str());
            dir.write_csv(&format!("{stem}.csv"), &part, &job.rules.precision)?;
            files.push(format!("{stem}.csv"));
            if xlsx {
                let book = super::xlsx::workbook(&part, &job.rules.precision, "Corrections")?;
                dir.write_bytes(&format!("{stem}.xlsx"), &book)?;
                files.push(format!("{stem}.xlsx"));
            }

            let sources = match side {
                Side::Book => &pairing.book,
                Side::Observed => &pairing.observed,
            };
            let sources: Vec<_> = sources.iter().map(|s| job.source(s)).collect();
            // Each format the side's sources ask for, once: one arm per format.
            let formats: std::collections::BTreeSet<CorrectionFormat> =
                sources.iter().map(|s| s.corrections).collect();
            for format in formats {
                // The systems know locations by their own names: give back the source's.
                let names_of = |format: CorrectionFormat| {
                    let mut names = BTreeMap::new();
                    for s in sources.iter().filter(|s| s.corrections == format) {
                        for (name, code) in &s.layout.location_names {
                            names.entry(code.clone()).or_insert_with(|| name.clone());
                        }
                    }
                    names
                };
                let pos = match format {
                    // The generic CSV above is every side's.
                    CorrectionFormat::Generic => continue,
                    CorrectionFormat::Erpnext => {
                        let rel = format!("{stem}.erpnext.csv");
                        let frame = erpnext_stock_reconciliation(&part, &names_of(format))?;
                        dir.write_csv(&rel, &frame, &job.rules.precision)?;
                        files.push(rel);
                        continue;
                    }
                    CorrectionFormat::Shopify => super::pos_imports::PosImport::Shopify,
                    CorrectionFormat::Square => super::pos_imports::PosImport::Square,
                };
                // A store system's import is built from its own export's rows: only the
                // observed side's sources are read from such exports.
                let names: BTreeSet<String> = sources
                    .iter()
                    .filter(|s| s.corrections == format)
                    .map(|s| s.name.clone())
                    .collect();
                let shown = job.rules.precision.for_people(&part)?;
                let suffix = format!("{format:?}").to_lowercase();
                for (file, bytes) in super::pos_imports::imports(
                    pos,
                    &shown,
                    lines,
                    side,
                    &names,
                    &names_of(format),
                )? {
                    let rel = format!("{stem}.{suffix}.{}.csv", file_stem(&file));
                    dir.write_bytes(&rel, &bytes)?;
                    files.push(rel);
                }
            }
        }
    }
    Ok(files)
}

/// ERPNext's Stock Reconciliation import: `Item Code, Warehouse, Quantity, Valuation Rate`,
/// one row per item and warehouse with the quantity and rate it should hold.
fn erpnext_stock_reconciliation(
    part: &DataFrame,
    warehouse_names: &BTreeMap<String, String>,
) -> Result<DataFrame> {
    let is_cost = col(correction::KIND).eq(lit(Kind::CostMismatch.as_str()));
    let mut frame = part
        .clone()
        .lazy()
        .group_by_stable([col(LOCATION), col(ITEM_KEY)])
        .agg([
            coalesce(&[
                col(correction::NEW_QTY)
                    .filter(is_cost.clone().not())
                    .first(),
                col(correction::NEW_QTY).first(),
            ])
            .alias("Quantity"),
            coalesce(&[
                col(correction::NEW_UNIT_COST).filter(is_cost).first(),
                col(correction::NEW_UNIT_COST).first(),
            ])
            .alias("Valuation Rate"),
        ])
        .select([
            col(ITEM_KEY).alias("Item Code"),
            col(LOCATION).alias("Warehouse"),
            col("Quantity"),
            col("Valuation Rate"),
        ])
        .collect()?;
    let warehouses = frame
        .column("Warehouse")?
        .str()?
        .apply_into_string_amortized(|code, out| {
            out.push_str(warehouse_names.get(code).map_or(code, String::as_str))
        });
    frame.with_column(warehouses.into_series().into())?;
    Ok(frame)
}

/// A pairing or location name as a safe file name.
pub fn file_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}
