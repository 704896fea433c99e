//! PostgreSQL: one table read by several connections at once, each a range of the
//! table's blocks, all inside one exported snapshot, so that together they see exactly
//! what a single SELECT would. The ODBC driver spends as long converting rows as the
//! server spends sending them, one fetch after the other; parts overlap the two.

use anyhow::{Result, anyhow};
use odbc_api::buffers::TextRowSet;
use odbc_api::{Connection, Cursor, IntoParameter};

/// Below this many 8 KiB blocks (16 MiB) a table is read in one.
const MIN_BLOCKS: u64 = 2048;

/// The parts of one read: the snapshot they share and each part's block range
/// (the last one open-ended).
#[derive(Debug, Clone)]
pub struct Split {
    pub snapshot: String,
    pub ranges: Vec<(u64, Option<u64>)>,
}

/// Puts `conn` in a repeatable-read transaction (autocommit off) and, when the table is
/// big enough and the server can scan block ranges (PostgreSQL 14+), exports its snapshot
/// and splits the table's blocks into `parts` ranges. `None`: read in one (still inside
/// the transaction). `table` is the quoted name.
pub fn plan(conn: &Connection<'_>, table: &str, parts: usize) -> Result<Option<Split>> {
    begin_repeatable_read(conn)?;
    let sql = "SELECT pg_export_snapshot(), \
               pg_relation_size(?::regclass) / current_setting('block_size')::bigint, \
               current_setting('server_version_num')::int";
    let row = one_row(conn, sql, &[table])?;
    let [snapshot, blocks, version] = row.as_slice() else {
        return Err(anyhow!("unexpected answer to the snapshot query"));
    };
    let blocks: u64 = blocks.parse()?;
    let version: u64 = version.parse()?;
    if parts < 2 || blocks < MIN_BLOCKS || version < 140_000 {
        return Ok(None);
    }
    // An exported snapshot id is hex digits and dashes; it is spliced into SET TRANSACTION
    // SNAPSHOT (which takes no parameters), so nothing else may pass.
    if snapshot.is_empty() || !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(anyhow!("unexpected snapshot id {snapshot:?}"));
    }
    Ok(Some(Split {
        snapshot: snapshot.clone(),
        ranges: ranges(blocks, parts),
    }))
}

/// `parts` consecutive block ranges covering `0..blocks`; the last open-ended (blocks
/// added since the size was read hold no row the snapshot sees, but costs nothing).
pub fn ranges(blocks: u64, parts: usize) -> Vec<(u64, Option<u64>)> {
    let parts = parts.max(1) as u64;
    let per = blocks.div_ceil(parts).max(1);
    (0..parts)
        .map(|k| {
            let lo = k * per;
            (lo, (k + 1 < parts).then_some((k + 1) * per))
        })
        .collect()
}

/// Puts a second connection into the leader's snapshot.
pub fn join(conn: &Connection<'_>, snapshot: &str) -> Result<()> {
    begin_repeatable_read(conn)?;
    conn.execute(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"), (), None)?;
    Ok(())
}

/// The part's SELECT: the table's statement limited to a block range (tid bounds bound
/// as parameters).
pub fn part_statement(select: &str, range: (u64, Option<u64>)) -> (String, Vec<String>) {
    match range {
        (lo, Some(hi)) => (
            format!("{select} WHERE ctid >= ?::tid AND ctid < ?::tid"),
            vec![format!("({lo},0)"), format!("({hi},0)")],
        ),
        (lo, None) => (
            format!("{select} WHERE ctid >= ?::tid"),
            vec![format!("({lo},0)")],
        ),
    }
}

fn begin_repeatable_read(conn: &Connection<'_>) -> Result<()> {
    conn.execute(
        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        (),
        None,
    )?;
    conn.set_autocommit(false)?;
    Ok(())
}

/// The first row of a query, as text.
fn one_row(conn: &Connection<'_>, sql: &str, params: &[&str]) -> Result<Vec<String>> {
    let bound: Vec<_> = params.iter().map(|p| p.into_parameter()).collect();
    let mut cursor = conn
        .execute(sql, &bound[..], None)?
        .ok_or_else(|| anyhow!("no result set"))?;
    let mut buffer = TextRowSet::for_cursor(1, &mut cursor, Some(256))?;
    let mut rows = cursor.bind_buffer(&mut buffer)?;
    let batch = rows.fetch()?.ok_or_else(|| anyhow!("no row"))?;
    Ok((0..batch.num_cols())
        .map(|c| {
            batch
                .at_as_str(c, 0)
                .ok()
                .flatten()
                .unwrap_or_default()
                .to_string()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_block_once() {
        assert_eq!(ranges(10, 3), vec![(0, Some(4)), (4, Some(8)), (8, None)]);
        assert_eq!(ranges(5000, 1), vec![(0, None)]);
        assert_eq!(
            part_statement("SELECT a FROM t", (4, Some(8))).1,
            ["(4,0)", "(8,0)"]
        );
    }
}
