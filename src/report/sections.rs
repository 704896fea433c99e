//! A location page in the order a store manager works: what to recount, what was
//! corrected, what waits for approval, conflicts, what a person decides, what could not
//! be compared, and (last, folded) what is within tolerance. Each line is in exactly
//! one section; each section has its count, the size of its differences at cost, and
//! at most `SECTION_LINES` lines on the page (the rest are in the lists beside it).

use std::collections::BTreeMap;

use anyhow::Result;
use polars::prelude::*;
use serde::Serialize;

use super::view::{LineView, line_views};
use crate::discrepancy::{Approval, Kind, Resolution};
use crate::precision::Precision;
use crate::schema::line;

/// The most lines one section lists on a page.
pub const SECTION_LINES: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Recount,
    Corrected,
    Approval,
    Conflict,
    Review,
    NotCompared,
    Tolerance,
}

impl Section {
    pub const ALL: [Section; 7] = [
        Section::Recount,
        Section::Corrected,
        Section::Approval,
        Section::Conflict,
        Section::Review,
        Section::NotCompared,
        Section::Tolerance,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Section::Recount => "recount",
            Section::Corrected => "corrected",
            Section::Approval => "approval",
            Section::Conflict => "conflicts",
            Section::Review => "review",
            Section::NotCompared => "not-compared",
            Section::Tolerance => "tolerance",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Section::Recount => "Recount these",
            Section::Corrected => "Corrected automatically",
            Section::Approval => "Waiting for approval",
            Section::Conflict => "Conflicts",
            Section::Review => "For you to decide",
            Section::NotCompared => "Could not be compared",
            Section::Tolerance => "Within tolerance",
        }
    }

    pub fn explains(self) -> &'static str {
        match self {
            Section::Recount => {
                "Count these items again on the shelf, in this order (by bin), and enter the counts in the recount sheet."
            }
            Section::Corrected => {
                "The rules decided these; they are written back when the run is applied."
            }
            Section::Approval => {
                "Worth more than the approval limit: written back only after someone other than the person who ran the job approves them."
            }
            Section::Conflict => {
                "Both systems changed since the last run: neither is corrected until a person decides."
            }
            Section::Review => "No rule settles these: look into each one.",
            Section::NotCompared => {
                "These rows could not be compared with the other system; fix them at the source."
            }
            Section::Tolerance => {
                "Small differences the rules accept, and differences that what moved after the count explains: nothing to do."
            }
        }
    }

    /// The expression that puts a line in its section (first match wins).
    fn of_line() -> Expr {
        let resolution = |r: Resolution| col(line::RESOLUTION).eq(lit(r.as_str()));
        let findings = Kind::ALL
            .iter()
            .filter(|k| k.is_row_finding())
            .fold(lit(false), |a, k| a.or(col(line::KIND).eq(lit(k.as_str()))));
        when(
            col(line::CHANGE)
                .eq(lit(crate::sync::BOTH))
                .fill_null(lit(false)),
        )
        .then(lit(Section::Conflict as u32))
        .when(findings)
        .then(lit(Section::NotCompared as u32))
        .when(
            col(line::APPROVAL)
                .eq(lit(Approval::Required.as_str()))
                .fill_null(lit(false)),
        )
        .then(lit(Section::Approval as u32))
        .when(resolution(Resolution::Recount))
        .then(lit(Section::Recount as u32))
        .when(resolution(Resolution::CorrectBook).or(resolution(Resolution::CorrectObserved)))
        .then(lit(Section::Corrected as u32))
        .when(resolution(Resolution::Ignore).or(col(line::KIND).eq(lit(Kind::Explained.as_str()))))
        .then(lit(Section::Tolerance as u32))
        .otherwise(lit(Section::Review as u32))
    }
}

/// One section of a page, as its template sees it.
#[derive(Serialize)]
pub struct SectionView {
    pub id: &'static str,
    pub title: &'static str,
    pub explains: &'static str,
    pub lines_total: u64,
    /// Σ |value_delta|, rounded once by the money rule.
    pub value: String,
    /// How many lines are not listed on the page.
    pub more: u64,
    #[serde(skip)]
    pub lines: Vec<LineView>,
}

/// The sections of one location's lines, every section present (empty ones say so).
pub fn sections(
    lines: &DataFrame,
    precision: &Precision,
    rules: &BTreeMap<String, String>,
) -> Result<Vec<SectionView>> {
    const SECTION: &str = "_section";
    let tagged = lines
        .clone()
        .lazy()
        .with_column(Section::of_line().alias(SECTION))
        .collect()?;
    let mut out = Vec::new();
    for section in Section::ALL {
        let part = tagged
            .clone()
            .lazy()
            .filter(col(SECTION).eq(lit(section as u32)))
            .collect()?;
        let total = part.height();
        let value: i128 = part
            .column(line::VALUE_DELTA)?
            .decimal()?
            .physical()
            .iter()
            .flatten()
            .fold(0i128, |a, v| a.saturating_add(v.abs()));
        let order: Vec<Expr> = match section {
            // Walking order on the shop floor: bin by bin, the costliest first in each.
            Section::Recount => vec![
                col(line::BIN),
                col(line::VALUE_DELTA).abs(),
                col(line::LINE),
            ],
            _ => vec![
                col(line::VALUE_DELTA).abs(),
                col(line::COST_DELTA).abs(),
                col(line::LINE),
            ],
        };
        let descending = match section {
            Section::Recount => vec![false, true, false],
            _ => vec![true, true, false],
        };
        let shown = part
            .lazy()
            .sort_by_exprs(
                order,
                SortMultipleOptions::default()
                    .with_order_descending_multi(descending)
                    .with_nulls_last(true)
                    .with_maintain_order(true),
            )
            .limit(SECTION_LINES as IdxSize)
            .drop(cols([SECTION]))
            .collect()?;
        out.push(SectionView {
            id: section.id(),
            title: section.title(),
            explains: section.explains(),
            lines_total: total as u64,
            value: precision.money.show(value),
            more: (total - shown.height()) as u64,
            lines: line_views(&shown, precision, Some(rules))?,
        });
    }
    Ok(out)
}
