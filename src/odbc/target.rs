//! What a write-back step needs to know: the run it writes for, and the target's table
//! and column names as the SQL uses them (validated and quoted once).

use anyhow::{Result, anyhow};

use super::sql::Dialect;
use crate::columns::Field;
use crate::job::{Format, Source, WriteBack, WriteBackMode};

/// What the apply needs to know of the run.
pub struct RunRef {
    pub id: String,
    /// When the run began reading its sources (`applied_at` form): ledger entries other
    /// runs posted since make this run's corrections stale.
    pub extracted_at: String,
}

/// The target's names as the SQL uses them, each validated and quoted.
pub struct Target {
    /// The write-back table (the rows updated, or the ledger entries are posted to).
    pub table: String,
    pub loc: String,
    pub sku: String,
    pub qty: String,
    pub cost: Option<String>,
    /// The table the book was read from (or the update table), against which each
    /// correction's current value is checked; none when the book came from a query.
    pub checked: Option<String>,
}

impl Target {
    pub fn new(source: &Source, write_back: &WriteBack, dialect: Dialect) -> Result<Target> {
        let q = |name: &str| dialect.quote(name);
        let column = |f: Field| source.layout.columns.get(&f).map(|c| q(c)).transpose();
        let table = q(&write_back.table)?;
        let checked = match (write_back.mode, &source.format) {
            (WriteBackMode::Update, _) => Some(table.clone()),
            (WriteBackMode::Ledger, Format::Odbc(o)) => match &o.read {
                crate::job::OdbcRead::Table(t) => Some(q(t)?),
                crate::job::OdbcRead::Query(_) => None,
            },
            _ => None,
        };
        Ok(Target {
            loc: column(Field::Location)?
                .ok_or_else(|| anyhow!("write-back needs columns.location"))?,
            sku: column(Field::Sku)?.ok_or_else(|| anyhow!("write-back needs columns.sku"))?,
            qty: column(Field::Qty)?.ok_or_else(|| anyhow!("write-back needs columns.qty"))?,
            cost: column(Field::UnitCost)?,
            table,
            checked,
        })
    }

    /// Rows of table `t` that a staged correction is for.
    pub fn same_row(&self, t: &str) -> String {
        format!(
            "{t}.{} = tally_stage.loc AND {t}.{} = tally_stage.sku",
            self.loc, self.sku
        )
    }
}
