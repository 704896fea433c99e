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
//!
//! Write-back in `ledger` mode lives here too: the check against on-hand + outstanding
//! (`mark_fresh`) and the adjustment entries (`post`), steps 4 and 5 of `apply`.

use std::collections::HashMap;

use anyhow::{Result, anyhow};
use odbc_api::{Connection, Cursor, IntoParameter};
use polars::prelude::*;
use rust_decimal::Decimal;

use super::sql::Dialect;
use super::stage::STAGED_QTY;
use super::target::{RunRef, Target};
use super::transaction::Tx;
use crate::columns::Field;
use crate::input::RawTable;
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
    let t = std::time::Instant::now();
    // Location → SKU → Σ qty_change: looked up with the frame's borrowed text.
    let mut outstanding: HashMap<String, HashMap<String, Decimal>> = HashMap::new();
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
            *outstanding
                .entry(location)
                .or_default()
                .entry(sku)
                .or_default() += change;
        }
    }
    crate::progress::trace("  outstanding ledger entries: query", t);
    if outstanding.is_empty() {
        return Ok(netted);
    }
    let t = std::time::Instant::now();
    let layout = &source.layout;
    let header = |f: Field| layout.columns.get(&f).cloned();
    let (Some(sku_h), Some(qty_h)) = (header(Field::Sku), header(Field::Qty)) else {
        return Ok(netted);
    };
    let location_h = header(Field::Location);
    let frame = &raw.frame;
    let height = frame.height();
    let skus = frame.column(&sku_h)?.str()?;
    let qtys = frame.column(&qty_h)?.str()?;
    let locations = match &location_h {
        Some(h) => frame.column(h)?.str()?.clone(),
        None => StringChunked::full(
            "location".into(),
            layout.fixed_location.as_deref().unwrap_or(""),
            height,
        ),
    };
    // The rows of each key that has outstanding entries (most rows have none).
    let mut rows_of: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, (loc, sku)) in locations.iter().zip(skus.iter()).enumerate() {
        let (Some(loc), Some(sku)) = (loc, sku) else {
            continue;
        };
        let (loc, sku) = (loc.trim(), sku.trim());
        if outstanding.get(loc).is_some_and(|m| m.contains_key(sku)) {
            rows_of.entry((loc, sku)).or_default().push(i);
        }
    }
    let mut changed: HashMap<usize, String> = HashMap::new();
    for ((loc, sku), rows) in &rows_of {
        // A key with two rows is a duplicate finding and never corrected: left as it is.
        let [i] = rows.as_slice() else { continue };
        let change = outstanding[*loc][*sku];
        // A cell that is no number is left for typing to report with its row.
        if let Some(Ok(v)) = qtys.get(*i).map(|q| Decimal::from_str_exact(q.trim())) {
            changed.insert(*i, (v + change).normalize().to_string());
        }
    }
    netted.rows = changed.len() as u64;
    let mut frame = frame.clone();
    if !changed.is_empty() {
        let netted_qty: StringChunked = qtys
            .iter()
            .enumerate()
            .map(|(i, q)| changed.get(&i).map(String::as_str).or(q))
            .collect();
        frame.with_column(netted_qty.with_name(qty_h.as_str().into()).into_column())?;
    }
    // Entries for keys the table has no row for: the book holds what they will post.
    let mut extra: Vec<(&str, &str, Decimal)> = outstanding
        .iter()
        .flat_map(|(loc, skus)| {
            skus.iter()
                .map(move |(sku, change)| (loc.as_str(), sku.as_str(), *change))
        })
        .filter(|(loc, sku, _)| !rows_of.contains_key(&(*loc, *sku)))
        .collect();
    extra.sort();
    if !extra.is_empty() {
        let last_row = frame.column(crate::columns::ROW)?.u64()?.max().unwrap_or(0);
        let mut columns = Vec::new();
        for c in frame.columns() {
            let name = c.name().as_str();
            if name == crate::columns::ROW {
                let rows: Vec<u64> = (1..=extra.len() as u64).map(|n| last_row + n).collect();
                columns.push(Column::new(name.into(), rows));
                continue;
            }
            let values: Vec<Option<String>> = extra
                .iter()
                .map(|(loc, sku, change)| {
                    if Some(name) == location_h.as_deref() {
                        Some(loc.to_string())
                    } else if name == sku_h {
                        Some(sku.to_string())
                    } else if name == qty_h {
                        Some(change.normalize().to_string())
                    } else {
                        None
                    }
                })
                .collect();
            columns.push(Column::new(name.into(), values));
        }
        let added = DataFrame::new(extra.len(), columns)?;
        frame.vstack_mut_owned(added)?;
        netted.added = extra.len() as u64;
    }
    raw.frame = frame;
    crate::progress::trace("  outstanding ledger entries: netted", t);
    Ok(netted)
}

/// Write-back in `ledger` mode, step 4: marks a staged correction fresh while the book
/// it was computed from still holds: on-hand + outstanding entries equal the quantity
/// read, and no other run has posted for the item since this run read the book.
/// Set-based, in one pass over the ledger each.
pub fn mark_fresh(tx: &Tx, target: &Target, write_back: &WriteBack, run: &RunRef) -> Result<()> {
    let ledger = &target.table;
    let (pending, values) = outstanding_condition(tx.dialect, write_back, "l")?;
    let staged_key =
        "EXISTS (SELECT 1 FROM tally_stage s WHERE s.loc = l.location AND s.sku = l.sku)";
    let key = match tx.dialect {
        Dialect::MySql => ", KEY tally_pending_key (loc, sku)",
        Dialect::Standard => "",
    };
    tx.exec(&format!(
        "CREATE TEMPORARY TABLE tally_pending (loc VARCHAR(255), sku VARCHAR(255), \
         qty DECIMAL(30,9), newer INTEGER{key})"
    ))?;
    if tx.dialect == Dialect::Standard {
        tx.exec("CREATE INDEX tally_pending_key ON tally_pending (loc, sku)")?;
    }
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    tx.with(
        &format!(
            "INSERT INTO tally_pending (loc, sku, qty, newer) \
             SELECT l.location, l.sku, SUM(l.qty_change), 0 FROM {ledger} l \
             WHERE {pending} AND {staged_key} GROUP BY l.location, l.sku"
        ),
        &refs,
    )?;
    // Entries other runs posted since this run read the book: whatever the on-hand
    // shows, this run's difference is no longer the one to post.
    tx.with(
        &format!(
            "INSERT INTO tally_pending (loc, sku, qty, newer) \
             SELECT DISTINCT l.location, l.sku, 0, 1 FROM {ledger} l \
             WHERE l.run_id IS NOT NULL AND l.run_id <> ? AND EXISTS (SELECT 1 FROM \
             tally_applied a WHERE a.run_id = l.run_id AND a.line = l.line \
             AND a.applied_at >= ?) AND {staged_key}"
        ),
        &[&run.id, &run.extracted_at],
    )?;
    let outstanding = "COALESCE((SELECT SUM(p.qty) FROM tally_pending p WHERE \
         p.loc = tally_stage.loc AND p.sku = tally_stage.sku), 0)";
    let newer = "NOT EXISTS (SELECT 1 FROM tally_pending p WHERE p.loc = tally_stage.loc \
         AND p.sku = tally_stage.sku AND p.newer = 1)";
    let sql = match &target.checked {
        // The book as read was on-hand + outstanding entries; it must still be.
        Some(t) => {
            let same = target.same_row(t);
            let qty = &target.qty;
            format!(
                "UPDATE tally_stage SET fresh = 1 WHERE ( \
                 (tally_stage.cur_qty IS NOT NULL AND EXISTS (SELECT 1 FROM {t} WHERE {same} \
                   AND {t}.{qty} + {outstanding} = {STAGED_QTY})) \
                 OR (tally_stage.cur_qty IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {t} WHERE {same}) \
                   AND {outstanding} = {STAGED_QTY}) \
                 OR (tally_stage.cur_qty IS NULL AND NOT EXISTS (SELECT 1 FROM {t} WHERE {same}) \
                   AND {outstanding} = 0)) AND {newer}"
            )
        }
        None => format!("UPDATE tally_stage SET fresh = 1 WHERE {newer}"),
    };
    tx.exec(&sql)?;
    tx.drop_temporary("tally_pending")
}

/// Write-back in `ledger` mode, step 5: one adjustment entry per fresh correction, with
/// the quantities before and after, its reason and the run and line that made it.
pub fn post(tx: &Tx, target: &Target, write_back: &WriteBack, run: &RunRef) -> Result<()> {
    let d = |c: &str| format!("CAST({c} AS DECIMAL(30,9))");
    tx.with(
        &format!(
            "INSERT INTO {} (location, sku, qty_before, qty_after, qty_change, reason, run_id, line) \
             SELECT loc, sku, {}, {}, {} - COALESCE({}, 0), COALESCE(reason, ?), ?, \
             CAST(line AS DECIMAL(20,0)) \
             FROM tally_stage WHERE fresh = 1",
            target.table,
            d("cur_qty"),
            d("new_qty"),
            d("new_qty"),
            d("cur_qty")
        ),
        &[&write_back.reason, &run.id],
    )
}
