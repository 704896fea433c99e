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
use crate::columns::LOCATION;
use crate::discrepancy::{Approval, Kind, Resolution};
use crate::precision::Precision;
use crate::schema::line;

/// The most lines one section lists on a page.
pub const SECTION_LINES: usize = 100;

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

/// Every location's sections, prepared in one pass over the lines (a run of 400,000
/// lines in 200 stores would otherwise filter and sort 1,400 times): the lines each page
/// lists, sorted by location, section and the section's order, and each section's count
/// and value. A page's display rows are made only while it renders (`sections`).
pub struct Prepared {
    /// The listed lines (at most `SECTION_LINES` per section), with `SECTION`.
    shown: DataFrame,
    /// Location (null as "") → its rows in `shown`: offset and length.
    spans: BTreeMap<String, (usize, usize)>,
    /// (location, section) → lines and Σ |value_delta|.
    stats: BTreeMap<(String, u32), (u64, i128)>,
}

const SECTION: &str = "_section";
const PAGE: &str = "_page";
const ROW: &str = "_row";

pub fn prepare(lines: &DataFrame) -> Result<Prepared> {
    let recount = col(SECTION).eq(lit(Section::Recount as u32));
    // One order for all sections: a recount walks the shop floor bin by bin, the
    // costliest first in each; every other section lists the costliest first.
    let keys = lines
        .clone()
        .lazy()
        .with_row_index(ROW, None)
        .with_column(Section::of_line().cast(DataType::UInt32).alias(SECTION))
        .select([
            col(ROW),
            col(LOCATION).fill_null(lit("")).alias(PAGE),
            col(SECTION),
            when(recount.clone())
                .then(col(line::BIN))
                .otherwise(lit(NULL).cast(DataType::String))
                .alias("_bin"),
            col(line::VALUE_DELTA).abs().alias("_value"),
            when(recount)
                .then(lit(NULL).cast(col_type(lines, line::COST_DELTA)?))
                .otherwise(col(line::COST_DELTA).abs())
                .alias("_cost"),
            col(line::LINE),
            col(line::VALUE_DELTA),
        ])
        .sort_by_exprs(
            [
                col(PAGE),
                col(SECTION),
                col("_bin"),
                col("_value"),
                col("_cost"),
                col(line::LINE),
            ],
            SortMultipleOptions::default()
                .with_order_descending_multi([false, false, false, true, true, false])
                .with_nulls_last(true),
        )
        .collect()?;
    let page = keys.column(PAGE)?.str()?;
    let section = keys.column(SECTION)?.u32()?;
    let row = keys.column(ROW)?.idx()?;
    let value = keys
        .column(line::VALUE_DELTA)?
        .decimal()?
        .physical()
        .clone();
    let mut stats: BTreeMap<(String, u32), (u64, i128)> = BTreeMap::new();
    let mut spans: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut take: Vec<IdxSize> = Vec::new();
    let mut shown_sections: Vec<u32> = Vec::new();
    // Rows come grouped by page, then section: each run of one (page, section) counts
    // all its lines and lists its first SECTION_LINES; each page's rows are one span.
    let mut i = 0;
    while i < keys.height() {
        let here = (page.get(i).unwrap_or(""), section.get(i).unwrap_or(0));
        let start = take.len();
        let mut stat = (0u64, 0i128);
        while i < keys.height() && (page.get(i).unwrap_or(""), section.get(i).unwrap_or(0)) == here
        {
            stat.0 += 1;
            stat.1 = stat.1.saturating_add(value.get(i).unwrap_or(0).abs());
            if stat.0 as usize <= SECTION_LINES {
                take.push(row.get(i).unwrap_or(0));
                shown_sections.push(here.1);
            }
            i += 1;
        }
        stats.insert((here.0.to_string(), here.1), stat);
        let span = spans.entry(here.0.to_string()).or_insert((start, 0));
        span.1 += take.len() - start;
    }
    let mut shown = lines.take(&IdxCa::from_vec("take".into(), take))?;
    shown.with_column(Column::new(SECTION.into(), shown_sections))?;
    Ok(Prepared {
        shown,
        spans,
        stats,
    })
}

fn col_type(frame: &DataFrame, name: &str) -> Result<DataType> {
    Ok(frame.column(name)?.dtype().clone())
}

impl Prepared {
    /// The sections of one location's page, every section present (empty ones say so).
    pub fn sections(
        &self,
        location: &str,
        precision: &Precision,
        rules: &BTreeMap<String, String>,
    ) -> Result<Vec<SectionView>> {
        let (offset, len) = self.spans.get(location).copied().unwrap_or((0, 0));
        let rows = self.shown.slice(offset as i64, len);
        let tags = rows.column(SECTION)?.u32()?;
        let mut out = Vec::new();
        let mut at = 0usize;
        for section in Section::ALL {
            let start = at;
            while at < rows.height() && tags.get(at) == Some(section as u32) {
                at += 1;
            }
            let listed = rows.slice(start as i64, at - start).drop(SECTION)?;
            let (total, value) = self
                .stats
                .get(&(location.to_string(), section as u32))
                .copied()
                .unwrap_or((0, 0));
            out.push(SectionView {
                id: section.id(),
                title: section.title(),
                explains: section.explains(),
                lines_total: total,
                value: precision.money.show(value),
                more: total - listed.height() as u64,
                lines: line_views(&listed, precision, Some(rules))?,
            });
        }
        Ok(out)
    }
}
