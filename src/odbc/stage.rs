//! The corrections of one target as text rows, and how they reach the database's
//! temporary staging table `tally_stage`: array execution (10,000 rows a round trip), or
//! for PostgreSQL one statement per batch of text arrays unnested on the server. All
//! values travel as text and are cast by the database, so decimals stay exact.

use anyhow::Result;
use odbc_api::{Connection, IntoParameter};
use polars::prelude::*;

use super::sql::{Dbms, Dialect};
use super::transaction::Tx;
use crate::columns::{LOCATION, SKU};
use crate::job::{Job, Source};
use crate::progress::trace;
use crate::schema::correction;

/// Rows sent per array execution.
pub const BATCH: usize = 10_000;

/// One correction as text, ready for the staging table.
pub struct Row {
    pub line: String,
    pub location: String,
    pub sku: String,
    pub current_qty: Option<String>,
    pub new_qty: Option<String>,
    pub current_cost: Option<String>,
    pub new_cost: Option<String>,
    /// The line's reason code, for a ledger entry (else the write-back's default).
    pub reason: Option<String>,
}

/// The corrections that target `source`, with locations as the database writes them
/// (the reverse of the source's location_names). A row missing from the target side has
/// no source of its own: it goes to the side's source when the side has only one.
pub fn rows_for(job: &Job, source: &Source, corrections: &DataFrame) -> Result<Vec<Row>> {
    let mut sole = lit(false);
    for p in &job.pairings {
        for (side, sources) in [("book", &p.book), ("observed", &p.observed)] {
            if sources.len() == 1 && sources[0] == source.name {
                sole = sole.or(col(correction::PAIRING)
                    .eq(lit(p.name.as_str()))
                    .and(col(correction::TARGET).eq(lit(side))));
            }
        }
    }
    let part = corrections
        .clone()
        .lazy()
        .filter(
            col(correction::TARGET_SOURCE)
                .eq(lit(source.name.as_str()))
                .or(col(correction::TARGET_SOURCE).is_null().and(sole)),
        )
        .select([
            col(correction::LINE).cast(DataType::String),
            col(LOCATION),
            col(SKU),
            col(correction::CURRENT_QTY).cast(DataType::String),
            col(correction::NEW_QTY).cast(DataType::String),
            col(correction::CURRENT_UNIT_COST).cast(DataType::String),
            col(correction::NEW_UNIT_COST).cast(DataType::String),
            col(correction::REASON).cast(DataType::String),
        ])
        .collect()?;
    let text = |i: usize| -> Result<Vec<Option<String>>> {
        Ok(part.columns()[i]
            .str()?
            .iter()
            .map(|v| v.map(str::to_string))
            .collect())
    };
    let (lines, locations, skus) = (text(0)?, text(1)?, text(2)?);
    let (cq, nq, cc, nc) = (text(3)?, text(4)?, text(5)?, text(6)?);
    let reasons = text(7)?;
    let raw_location = |code: &str| {
        let names: Vec<&String> = source
            .layout
            .location_names
            .iter()
            .filter(|(_, c)| c.as_str() == code)
            .map(|(name, _)| name)
            .collect();
        match names.as_slice() {
            [one] => one.to_string(),
            _ => code.to_string(),
        }
    };
    Ok((0..part.height())
        .map(|i| Row {
            line: lines[i].clone().unwrap_or_default(),
            location: raw_location(locations[i].as_deref().unwrap_or("")),
            sku: skus[i].clone().unwrap_or_default(),
            current_qty: cq[i].clone(),
            new_qty: nq[i].clone(),
            current_cost: cc[i].clone(),
            new_cost: nc[i].clone(),
            reason: reasons[i].clone(),
        })
        .collect())
}

/// A staged correction's current quantity as the database compares it.
pub const STAGED_QTY: &str = "CAST(tally_stage.cur_qty AS DECIMAL(30,9))";

/// Makes `tally_stage` (temporary: it lives as long as the connection, and no dialect
/// commits for it), fills it with the rows, and drops the lines an earlier apply of the
/// same run wrote to this target. Returns how many it dropped.
pub fn create(tx: &Tx, rows: &[Row], run_id: &str, target: &str) -> Result<u64> {
    let key = match tx.dialect {
        Dialect::MySql => ", KEY tally_stage_key (loc, sku)",
        Dialect::Standard => "",
    };
    tx.exec(&format!(
        "CREATE TEMPORARY TABLE tally_stage (line VARCHAR(20), loc VARCHAR(255), \
         sku VARCHAR(255), cur_qty VARCHAR(64), new_qty VARCHAR(64), cur_cost VARCHAR(64), \
         new_cost VARCHAR(64), reason VARCHAR(64), fresh INTEGER{key})"
    ))?;
    if tx.dialect == Dialect::Standard {
        tx.exec("CREATE INDEX tally_stage_key ON tally_stage (loc, sku)")?;
    }
    let t = std::time::Instant::now();
    if tx.dbms == Dbms::Postgres {
        stage_postgres(tx.conn, rows)?;
        // Statistics, so that the planner joins the staged rows by hash, not row by row.
        tx.exec("ANALYZE tally_stage")?;
    } else {
        stage(tx.conn, rows)?;
    }
    trace("  write-back: staging", t);

    // Idempotent: what an earlier apply of this run wrote is left alone.
    let staged = tx.count("SELECT COUNT(*) FROM tally_stage", &[])?;
    tx.with(
        "DELETE FROM tally_stage WHERE EXISTS (SELECT 1 FROM tally_applied a \
         WHERE a.run_id = ? AND a.target = ? AND a.line = CAST(tally_stage.line AS DECIMAL(20,0)))",
        &[run_id, target],
    )?;
    Ok(staged - tx.count("SELECT COUNT(*) FROM tally_stage", &[])?)
}

/// Sends the rows to the staging table, `BATCH` at a time (array execution).
fn stage(conn: &Connection<'_>, rows: &[Row]) -> Result<()> {
    let prepared = conn.prepare(
        "INSERT INTO tally_stage (line, loc, sku, cur_qty, new_qty, cur_cost, new_cost, reason, fresh) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
    )?;
    let widths = [20, 255, 255, 64, 64, 64, 64, 64];
    let mut inserter = prepared.into_text_inserter(BATCH.min(rows.len()).max(1), widths)?;
    for chunk in rows.chunks(BATCH) {
        inserter.clear();
        for r in chunk {
            let cells: [Option<&[u8]>; 8] = [
                Some(r.line.as_bytes()),
                Some(r.location.as_bytes()),
                Some(r.sku.as_bytes()),
                r.current_qty.as_deref().map(str::as_bytes),
                r.new_qty.as_deref().map(str::as_bytes),
                r.current_cost.as_deref().map(str::as_bytes),
                r.new_cost.as_deref().map(str::as_bytes),
                r.reason.as_deref().map(str::as_bytes),
            ];
            inserter.append(cells.into_iter())?;
        }
        inserter.execute()?;
    }
    Ok(())
}

/// PostgreSQL: `BATCH` rows a statement, as eight text arrays unnested on the server.
/// psqlODBC sends an array of parameters as one INSERT statement per row, which the
/// server parses one by one (~3 s for 100,000 rows); this is one statement per batch.
fn stage_postgres(conn: &Connection<'_>, rows: &[Row]) -> Result<()> {
    let mut prepared = conn.prepare(
        "INSERT INTO tally_stage (line, loc, sku, cur_qty, new_qty, cur_cost, new_cost, reason, fresh) \
         SELECT l, lo, s, cq, nq, cc, nc, r, 0 FROM unnest(?::text[], ?::text[], ?::text[], \
         ?::text[], ?::text[], ?::text[], ?::text[], ?::text[]) AS u(l, lo, s, cq, nq, cc, nc, r)",
    )?;
    for chunk in rows.chunks(BATCH) {
        let column = |cell: fn(&Row) -> Option<&str>| pg_array(chunk.iter().map(cell));
        let arrays = [
            column(|r| Some(&r.line)),
            column(|r| Some(&r.location)),
            column(|r| Some(&r.sku)),
            column(|r| r.current_qty.as_deref()),
            column(|r| r.new_qty.as_deref()),
            column(|r| r.current_cost.as_deref()),
            column(|r| r.new_cost.as_deref()),
            column(|r| r.reason.as_deref()),
        ];
        let params: Vec<_> = arrays.iter().map(|a| a.as_str().into_parameter()).collect();
        prepared.execute(&params[..])?;
    }
    Ok(())
}

/// A PostgreSQL array literal of text values: each quoted, `"` and `\` escaped, NULL bare.
fn pg_array<'a>(values: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut out = String::from("{");
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        match value {
            None => out.push_str("NULL"),
            Some(v) => {
                out.push('"');
                for c in v.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::pg_array;

    #[test]
    fn array_literals_quote_every_value() {
        let values = [
            Some("A1"),
            None,
            Some(r#"x"},{\NULL"#),
            Some("NULL"),
            Some(""),
        ];
        assert_eq!(
            pg_array(values.into_iter()),
            r#"{"A1",NULL,"x\"},{\\NULL","NULL",""}"#
        );
    }
}
