//! Outstanding ledger entries: what tally has posted to a ledger that the ERP has not
//! posted yet.
//!
//! An adjustment entry does not change the on-hand table until the ERP posts it, so a
//! book read from that table does not show it. Without knowing them, the next run (or a
//! second run the same night) sees the same difference and posts the same correction
//! again. The rule: an entry is *tally's* when `tally_applied` records its run id and
//! line (written in the same transaction as the entry); it is *outstanding* until the ERP
//! shows it has posted it, as the job's `posted` says (the entry removed, or a status
//! column holding one of the given values). Outstanding entries are added to the book
//! per (location, SKU) before comparing, so a run posts only what is still missing; the
//! apply compares the book it read with on-hand + outstanding *now*, under the target's
//! lock, so an entry posted or written in between makes the correction stale.

use std::collections::HashMap;

use anyhow::{Result, anyhow};
use odbc_api::{Connection, Cursor, IntoParameter};
use polars::prelude::*;
use rust_decimal::Decimal;

use super::sql::Dialect;
use crate::columns::Field;
use crate::extract::RawTable;
use crate::job::{Posted, Source, WriteBack};

/// A condition on ledger rows aliased `alias`: the entry is tally's and not yet posted.
/// Returns the SQL and the values to bind, in order.
pub fn outstanding_condition(
    dialect: Dialect,
    write_back: &WriteBack,
    alias: &str,
) -> Result<(String, Vec<String>)> {
    let mut sql = format!(
        "{alias}.run_id IS NOT NULL AND EXISTS (SELECT 1 FROM tally_applied tally_a \
         WHERE tally_a.run_id = {alias}.run_id AND tally_a.line = {alias}.line)"
    );
    let mut params = Vec::new();
    match &write_back.posted {
        Some(Posted::Removed) | None => {}
        Some(Posted::Status { column, values }) => {
            let c = format!("{alias}.{}", dialect.quote(column)?);
            let marks = vec!["?"; values.len()].join(", ");
            sql.push_str(&format!(
                " AND ({c} IS NULL OR {} NOT IN ({marks}))",
                dialect.text_cast(&c)
            ));
            params.extend(values.iter().cloned());
        }
    }
    Ok((sql, params))
}

/// What was netted into a book.
#[derive(Debug, Default, Clone, Copy)]
pub struct Netted {
    /// Outstanding entries found.
    pub entries: u64,
    /// Book rows whose quantity they changed.
    pub rows: u64,
    /// Rows added for keys the on-hand table lacks (an entry for a new item).
    pub added: u64,
}

/// Adds the outstanding entries of the source's ledger to the raw table read from it,
/// keyed by the location and SKU as the database writes them (the ledger's own).
pub fn net_into(raw: &mut RawTable, source: &Source) -> Result<Netted> {
    let crate::job::Format::Odbc(odbc) = &source.format else {
        return Ok(Netted::default());
    };
    let Some(write_back) = &odbc.write_back else {
        return Ok(Netted::default());
    };
    if write_back.mode != crate::job::WriteBackMode::Ledger {
        return Ok(Netted::default());
    }
    let (conn, resolved) = super::connect::connect(&odbc.connection, &odbc.job_dir, "odbc")?;
    net_with(raw, source, write_back, &conn).map_err(|e| {
        anyhow!(
            "outstanding ledger entries: {}",
            resolved.redact(&format!("{e:#}"))
        )
    })
}

fn net_with(
    raw: &mut RawTable,
    source: &Source,
    write_back: &WriteBack,
    conn: &Connection<'_>,
) -> Result<Netted> {
    // No `tally_applied` yet: tally has never posted here, nothing is outstanding.
    if conn
        .execute("SELECT run_id FROM tally_applied WHERE 1 = 0", (), None)
        .is_err()
    {
        return Ok(Netted::default());
    }
    let dialect = Dialect::from_dbms(&conn.database_management_system_name()?);
    let (cond, values) = outstanding_condition(dialect, write_back, "l")?;
    let sql = format!(
        "SELECT l.location, l.sku, SUM(l.qty_change), COUNT(*) FROM {} l WHERE {cond} \
         GROUP BY l.location, l.sku",
        dialect.quote(&write_back.table)?
    );
    let bound: Vec<_> = values.iter().map(|v| v.as_str().into_parameter()).collect();
    let mut outstanding: HashMap<(String, String), Decimal> = HashMap::new();
    let mut netted = Netted::default();
    if let Some(mut cursor) = conn.execute(&sql, &bound[..], None)? {
        let mut cell = Vec::new();
        while let Some(mut row) = cursor.next_row()? {
            let mut text = |i: u16| -> Result<String> {
                cell.clear();
                row.get_text(i, &mut cell)?;
                Ok(String::from_utf8_lossy(&cell).trim().to_string())
            };
            let (location, sku, change, count) = (text(1)?, text(2)?, text(3)?, text(4)?);
            let change: Decimal = change.parse().map_err(|_| {
                anyhow!(
                    "ledger {}: qty_change sum {change:?} is not a number",
                    write_back.table
                )
            })?;
            netted.entries += count.parse::<u64>().unwrap_or(0);
            *outstanding.entry((location, sku)).or_default() += change;
        }
    }
    if outstanding.is_empty() {
        return Ok(netted);
    }
    let layout = &source.layout;
    let header = |f: Field| layout.columns.get(&f).cloned();
    let (Some(sku_h), Some(qty_h)) = (header(Field::Sku), header(Field::Qty)) else {
        return Ok(netted);
    };
    let location_h = header(Field::Location);
    let frame = &raw.frame;
    let text_of = |name: &str| -> Result<Vec<Option<String>>> {
        Ok(frame
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    };
    let skus = text_of(&sku_h)?;
    let mut qtys = text_of(&qty_h)?;
    let locations = match &location_h {
        Some(h) => text_of(h)?,
        None => vec![layout.fixed_location.clone(); frame.height()],
    };
    let key_of = |i: usize| -> Option<(String, String)> {
        Some((
            locations[i].as_deref()?.trim().to_string(),
            skus[i].as_deref()?.trim().to_string(),
        ))
    };
    // A key with two rows is a duplicate finding and never corrected: left as it is.
    let mut seen: HashMap<(String, String), u32> = HashMap::new();
    for i in 0..frame.height() {
        if let Some(k) = key_of(i) {
            *seen.entry(k).or_default() += 1;
        }
    }
    for (i, qty) in qtys.iter_mut().enumerate() {
        let Some(k) = key_of(i) else { continue };
        if seen.get(&k) != Some(&1) {
            continue;
        }
        let (Some(change), Some(q)) = (outstanding.get(&k), qty.as_deref()) else {
            continue;
        };
        // A cell that is no number is left for typing to report with its row.
        if let Ok(v) = Decimal::from_str_exact(q.trim()) {
            *qty = Some((v + change).normalize().to_string());
            netted.rows += 1;
        }
    }
    let mut frame = frame.clone();
    frame.with_column(Column::new(qty_h.as_str().into(), qtys))?;
    // Entries for keys the table has no row for: the book holds what they will post.
    let mut extra: Vec<(&(String, String), &Decimal)> = outstanding
        .iter()
        .filter(|(k, _)| !seen.contains_key(*k))
        .collect();
    extra.sort();
    if !extra.is_empty() {
        let last_row = frame.column(crate::columns::ROW)?.u64()?.max().unwrap_or(0);
        let mut columns = Vec::new();
        for c in frame.columns() {
            let name = c.name().as_str();
            let values: Vec<Option<String>> = extra
                .iter()
                .map(|((loc, sku), change)| {
                    if Some(name) == location_h.as_deref() {
                        Some(loc.clone())
                    } else if name == sku_h {
                        Some(sku.clone())
                    } else if name == qty_h {
                        Some(change.normalize().to_string())
                    } else {
                        None
                    }
                })
                .collect();
            if name == crate::columns::ROW {
                let rows: Vec<u64> = (1..=extra.len() as u64).map(|n| last_row + n).collect();
                columns.push(Column::new(name.into(), rows));
            } else {
                columns.push(Column::new(name.into(), values));
            }
        }
        let added = DataFrame::new(extra.len(), columns)?;
        frame.vstack_mut_owned(added)?;
        netted.added = extra.len() as u64;
    }
    raw.frame = frame;
    Ok(netted)
}
