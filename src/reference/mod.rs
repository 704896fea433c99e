//! Tables the rules use besides the snapshots: cross-references (codes and barcodes →
//! internal items), unit conversions and stock movements. Each is read once per run,
//! from any source kind (CSV, spreadsheet, ODBC), and checked whole: a bad row stops the
//! run naming file, row and column, since a wrong alias or factor would silently
//! misstate every line it touches.

pub mod rows;

use anyhow::{Context, Result};

use crate::extract;
use crate::input::InputFile;
use crate::job::{Job, Role};
use crate::rules::alias::CrossReference;
use crate::rules::cutoff::Movements;
use crate::rules::units::Conversions;
pub use rows::{Problems, Rows};

#[derive(Default)]
pub struct References {
    pub cross_reference: Option<CrossReference>,
    pub conversions: Option<Conversions>,
    pub movements: Option<Movements>,
    /// The files and queries read, for the manifest.
    pub inputs: Vec<InputFile>,
}

/// Reads every cross_reference, conversions and movements source of the job.
pub fn load(job: &Job) -> Result<References> {
    let mut refs = References::default();
    let steps = &job.rules.sku_steps;
    for source in job.sources.iter().filter(|s| s.role != Role::Snapshot) {
        let tables =
            extract::tables(source).with_context(|| format!("source `{}`", source.name))?;
        for (table, input) in tables {
            let rows = Rows::new(&table, &input.path, source);
            match source.role {
                Role::Snapshot => unreachable!("filtered above"),
                Role::CrossReference => refs
                    .cross_reference
                    .get_or_insert_with(CrossReference::default)
                    .add(&rows, steps)?,
                Role::Conversions => refs
                    .conversions
                    .get_or_insert_with(Conversions::default)
                    .add(&rows, steps)?,
                Role::Movements => refs
                    .movements
                    .get_or_insert_with(Movements::default)
                    .add(&rows, steps)?,
            }
            refs.inputs.push(input);
        }
    }
    if let Some(c) = &refs.conversions {
        c.check(&job.rules.units, &job.rules.path)?;
    }
    Ok(refs)
}
