//! Proof after apply (`tally verify RUN_DIR`): each write-back target is read again for
//! the lines tally recorded as written (`tally_applied`), and only for their keys, to show
//! that it holds what was posted: an updated row its new quantity (and unit cost), a
//! ledger its adjustment entry with the quantity after. A row that holds something else
//! is named with what it holds and the time of the apply it changed after.

use anyhow::{Result, anyhow};
use odbc_api::{Connection, Cursor, IntoParameter};
use polars::prelude::DataFrame;
use rust_decimal::Decimal;

use super::sql::Dialect;
use super::stage::rows_for;
use super::target::Target;
use crate::job::{Format, Job, WriteBackMode};

/// One written line, as the target holds it now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Held {
    pub line: u64,
    pub location: String,
    pub sku: String,
    pub posted_qty: String,
    pub holds_qty: Option<String>,
    pub posted_cost: Option<String>,
    pub holds_cost: Option<String>,
    pub cost_differs: bool,
    /// When tally_applied says the line was written.
    pub applied_at: String,
    pub holds: bool,
}

/// Per target: its name, its table, and its written lines as they are now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TargetProof {
    pub source: String,
    pub table: String,
    pub mode: String,
    pub lines: Vec<Held>,
}

pub fn prove(job: &Job, corrections: &DataFrame, run_id: &str) -> Result<Vec<TargetProof>> {
    let mut out = Vec::new();
    for source in &job.sources {
        let Format::Odbc(odbc) = &source.format else {
            continue;
        };
        let Some(write_back) = &odbc.write_back else {
            continue;
        };
        let rows = rows_for(job, source, corrections)?;
        if rows.is_empty() {
            continue;
        }
        let (conn, resolved) = super::connect::connect(
            &odbc.connection,
            &odbc.job_dir,
            &format!("source `{}`", source.name),
        )?;
        let dialect = Dialect::from_dbms(&conn.database_management_system_name()?);
        let target = Target::new(source, write_back, dialect)?;
        let written = applied_lines(&conn, dialect, run_id, &source.name).map_err(|e| {
            anyhow!(
                "source `{}`: {}",
                source.name,
                resolved.redact(&format!("{e:#}"))
            )
        })?;
        let mut lines = Vec::new();
        for row in &rows {
            let Ok(line) = row.line.parse::<u64>() else {
                continue;
            };
            let Some(applied_at) = written
                .iter()
                .find(|(l, _)| *l == line)
                .map(|(_, at)| at.clone())
            else {
                continue;
            };
            let (holds_qty, holds_cost) = match write_back.mode {
                WriteBackMode::Update => {
                    let cost = target
                        .cost
                        .as_deref()
                        .map_or("NULL".to_string(), |c| dialect.text_cast(c));
                    let sql = format!(
                        "SELECT {}, {cost} FROM {} WHERE {} = ? AND {} = ?",
                        dialect.text_cast(&target.qty),
                        target.table,
                        target.loc,
                        target.sku
                    );
                    let cells = one_row(&conn, &sql, &[&row.location, &row.sku])?;
                    match cells {
                        Some(c) => (c[0].clone(), c[1].clone()),
                        None => (None, None),
                    }
                }
                WriteBackMode::Ledger => {
                    let sql = format!(
                        "SELECT {}, NULL FROM {} WHERE run_id = ? AND \
                         CAST(line AS DECIMAL(20,0)) = CAST(? AS DECIMAL(20,0))",
                        dialect.text_cast("qty_after"),
                        target.table
                    );
                    let cells = one_row(&conn, &sql, &[run_id, &row.line])?;
                    (cells.and_then(|c| c[0].clone()), None)
                }
            };
            let same = |posted: &Option<String>, held: &Option<String>| match (posted, held) {
                (None, _) => true,
                (Some(p), Some(h)) => decimal(p) == decimal(h) && decimal(p).is_some(),
                (Some(_), None) => false,
            };
            let posted_cost = match write_back.mode {
                WriteBackMode::Update if target.cost.is_some() => row.new_cost.clone(),
                _ => None,
            };
            let holds = same(&row.new_qty, &holds_qty) && same(&posted_cost, &holds_cost);
            // Shown without the staging's trailing zeros.
            let tidy = |v: &Option<String>| {
                v.as_ref()
                    .map(|t| decimal(t).map_or(t.clone(), |d| d.to_string()))
            };
            let cost_differs = !same(&posted_cost, &holds_cost);
            lines.push(Held {
                line,
                location: row.location.clone(),
                sku: row.sku.clone(),
                posted_qty: tidy(&row.new_qty).unwrap_or_default(),
                holds_qty: tidy(&holds_qty),
                posted_cost: tidy(&posted_cost),
                holds_cost: tidy(&holds_cost),
                cost_differs,
                applied_at,
                holds,
            });
        }
        lines.sort_by_key(|h| h.line);
        out.push(TargetProof {
            source: source.name.clone(),
            table: write_back.table.clone(),
            mode: match write_back.mode {
                WriteBackMode::Update => "update".into(),
                WriteBackMode::Ledger => "ledger".into(),
            },
            lines,
        });
    }
    Ok(out)
}

fn decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str_exact(text.trim())
        .ok()
        .map(|d| d.normalize())
}

/// The lines tally recorded as written for this run and target, with when.
fn applied_lines(
    conn: &Connection<'_>,
    dialect: Dialect,
    run_id: &str,
    target: &str,
) -> Result<Vec<(u64, String)>> {
    let sql = format!(
        "SELECT {}, applied_at FROM tally_applied WHERE run_id = ? AND target = ?",
        dialect.text_cast("line")
    );
    let sql = sql.as_str();
    let params = [run_id.into_parameter(), target.into_parameter()];
    let mut out = Vec::new();
    if let Some(mut cursor) = conn.execute(sql, &params[..], None)? {
        let mut text = Vec::new();
        while let Some(mut row) = cursor.next_row()? {
            text.clear();
            row.get_text(1, &mut text)?;
            let line = String::from_utf8_lossy(&text).trim().parse::<u64>().ok();
            text.clear();
            row.get_text(2, &mut text)?;
            if let Some(line) = line {
                out.push((line, String::from_utf8_lossy(&text).trim().to_string()));
            }
        }
    }
    Ok(out)
}

/// The first row of a query with bound text values, each cell as text.
fn one_row(
    conn: &Connection<'_>,
    sql: &str,
    params: &[&str],
) -> Result<Option<Vec<Option<String>>>> {
    let bound: Vec<_> = params.iter().map(|p| p.into_parameter()).collect();
    let Some(mut cursor) = conn
        .execute(sql, &bound[..], None)
        .map_err(|e| anyhow!("{e} (in: {sql})"))?
    else {
        return Ok(None);
    };
    let Some(mut row) = cursor.next_row()? else {
        return Ok(None);
    };
    let mut cells = Vec::new();
    for i in 1..=2u16 {
        let mut text = Vec::new();
        let present = row.get_text(i, &mut text)?;
        cells.push(present.then(|| String::from_utf8_lossy(&text).trim().to_string()));
    }
    Ok(Some(cells))
}
