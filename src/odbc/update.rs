//! Write-back in `update` mode: the target table's rows are set to the corrected values,
//! each only while it still holds the value tally read (compare-and-set).

use anyhow::Result;

use super::stage::STAGED_QTY;
use super::target::Target;
use super::transaction::Tx;

/// Marks a staged correction fresh while its row holds the quantity (and unit cost)
/// read at extraction, or, for a row the book lacked, while the table still lacks it.
pub fn mark_fresh(tx: &Tx, target: &Target) -> Result<()> {
    let t = &target.table;
    let qty = &target.qty;
    let cost_same = target.cost.as_ref().map_or(String::new(), |c| {
        format!(
            " AND (tally_stage.cur_cost IS NULL OR {t}.{c} = CAST(tally_stage.cur_cost AS DECIMAL(30,12)))"
        )
    });
    tx.exec(&format!(
        "UPDATE tally_stage SET fresh = 1 WHERE \
         (tally_stage.cur_qty IS NOT NULL AND EXISTS (SELECT 1 FROM {t} WHERE {same} \
           AND {t}.{qty} = {STAGED_QTY}{cost_same})) \
         OR (tally_stage.cur_qty IS NULL AND NOT EXISTS (SELECT 1 FROM {t} WHERE {same}))",
        same = target.same_row(t)
    ))
}

/// Writes the fresh corrections in one statement; returns the lines that have no row to
/// update (update mode cannot create rows).
pub fn write(tx: &Tx, target: &Target) -> Result<Vec<u64>> {
    let no_row = tx.lines("SELECT line FROM tally_stage WHERE cur_qty IS NULL")?;
    tx.exec("UPDATE tally_stage SET fresh = 0 WHERE cur_qty IS NULL")?;
    let Target {
        table: t,
        loc,
        sku,
        qty,
        cost,
        ..
    } = target;
    let staged = format!(
        "tally_stage.loc = {t}.{loc} AND tally_stage.sku = {t}.{sku} AND tally_stage.fresh = 1"
    );
    let pick = |value: &str, cast: &str| {
        format!("(SELECT CAST(tally_stage.{value} AS {cast}) FROM tally_stage WHERE {staged})")
    };
    let mut set = format!("{qty} = {}", pick("new_qty", "DECIMAL(30,9)"));
    if let Some(c) = cost {
        set.push_str(&format!(
            ", {c} = COALESCE({}, {t}.{c})",
            pick("new_cost", "DECIMAL(30,12)")
        ));
    }
    // The current value is compared again in the write itself: even a database that lets
    // a row move after the check cannot have it overwritten.
    tx.exec(&format!(
        "UPDATE {t} SET {set} WHERE EXISTS (SELECT 1 FROM tally_stage WHERE {staged} \
         AND {t}.{qty} = {STAGED_QTY})"
    ))?;
    Ok(no_row)
}
