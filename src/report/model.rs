//! What the report templates see: totals per kind, location, category and pairing
//! computed with exact decimals, the accuracy and shrink figures, the trend, the charts,
//! and each location's figures (its sections are sections.rs).

use std::collections::BTreeMap;

use anyhow::Result;
use polars::prelude::*;
use serde::Serialize;

use super::chart::{self, Bar, Point};
use super::history::RunPoint;
use super::view::line_views;
use super::words;
use crate::columns::{LOCATION, QTY_SCALE};
use crate::figures::percent_text;
use crate::precision::Precision;
use crate::write::corrections::file_stem;
use crate::write::manifest::{CorrectionTotals, PairingTally, Totals};

/// Run facts the reports show in their header.
pub struct ReportInput<'a> {
    pub run_id: &'a str,
    pub started_at: String,
    pub job: String,
    pub outcome: &'a str,
    pub totals: &'a Totals,
    pub pairings: &'a [PairingTally],
    /// Accuracy and shrink per location (figures.rs), as the manifest's totals sum them.
    pub figures: &'a BTreeMap<String, crate::figures::LocationFigures>,
    pub corrections: &'a CorrectionTotals,
    /// How values are rounded where shown (the rules file's [money]).
    pub precision: &'a Precision,
    /// Each rule's words (words::rule_phrases).
    pub rule_words: BTreeMap<String, String>,
    /// Who may approve: the job's `[approvers]`, else anyone but `run_by`.
    pub approvers: Vec<String>,
    pub run_by: String,
    /// The corrections above this value wait for approval (the rules' `[approval] above`).
    pub approval_above: Option<String>,
    /// The job's earlier runs, oldest first (history.rs).
    pub earlier: Vec<RunPoint>,
    /// Whether the lines were also written as `discrepancies.xlsx` (pages link to it).
    pub lines_xlsx: bool,
    /// Whether recount sheets were written (`--xlsx none` writes none).
    pub recount_sheets: bool,
    /// The job's own template folder, whose files replace the built-in ones by name.
    pub templates: Option<std::path::PathBuf>,
}

#[derive(Serialize)]
pub struct Model<'a> {
    pub run_id: &'a str,
    pub started_at: &'a str,
    pub job: &'a str,
    pub outcome: &'a str,
    pub engine_version: &'static str,
    pub totals: &'a Totals,
    pub pairings: &'a [PairingTally],
    pub corrections: &'a CorrectionTotals,
    pub kinds: Vec<Group>,
    pub locations: Vec<LocationView>,
    /// The lines with the largest values at cost, for the summary.
    pub top: Vec<minijinja::Value>,
    /// Σ |value_delta| per category, largest first.
    pub categories: Vec<Group>,
    /// The earlier runs and this one, oldest first.
    pub trend: Vec<RunPoint>,
    pub who_approves: String,
    pub approval_above: Option<String>,
    /// The list a page's "more" links to: `discrepancies.xlsx` when written, else the CSV.
    pub lines_file: &'static str,
    /// Inline SVG, escaped where they are built (chart.rs).
    pub charts: Charts,
}

#[derive(Serialize, Default)]
pub struct Charts {
    pub kinds: String,
    pub categories: String,
    pub trend: String,
    pub accuracy: String,
}

#[derive(Serialize, Default, Clone)]
pub struct Group {
    pub name: String,
    /// The name in words (a kind's phrase); the name itself otherwise.
    pub title: String,
    pub lines: u64,
    pub needs_person: u64,
    pub qty_delta: String,
    pub value_delta: String,
}

#[derive(Serialize)]
pub struct LocationView {
    pub code: String,
    pub page: String,
    pub summary: Group,
    pub kinds: Vec<Group>,
    pub counted: u64,
    pub agree: u64,
    pub accuracy_percent: Option<String>,
    pub shrink_percent: Option<String>,
    pub book_value: String,
    /// Lines to recount, and corrections waiting for approval.
    pub recount: u64,
    pub waiting: u64,
    /// Its recount sheet, when it has lines to recount (relative to the run directory).
    pub recount_sheet: Option<String>,
}

/// Exact sums of a group of lines (mantissas at the columns' scales); a sum over no
/// values at all stays empty, not zero.
#[derive(Default, Clone)]
struct Acc {
    lines: u64,
    needs_person: u64,
    /// Lines to recount, and corrections waiting for approval.
    recount: u64,
    waiting: u64,
    qty: Option<i128>,
    value: Option<i128>,
}

fn add_opt(sum: &mut Option<i128>, part: Option<i128>) {
    if let Some(p) = part {
        *sum = Some(sum.unwrap_or_default().saturating_add(p));
    }
}

impl Acc {
    fn add(&mut self, part: &Acc) {
        self.lines += part.lines;
        self.needs_person += part.needs_person;
        self.recount += part.recount;
        self.waiting += part.waiting;
        add_opt(&mut self.qty, part.qty);
        add_opt(&mut self.value, part.value);
    }

    /// Quantities shown exact, values rounded once by the declared rule.
    fn group(&self, name: &str, precision: &Precision) -> Group {
        Group {
            name: name.to_string(),
            title: name.to_string(),
            lines: self.lines,
            needs_person: self.needs_person,
            qty_delta: self
                .qty
                .map(|q| crate::precision::exact(q, QTY_SCALE as u32))
                .unwrap_or_default(),
            value_delta: self
                .value
                .map(|v| precision.money.show(v))
                .unwrap_or_default(),
        }
    }
}

const TOP: usize = 20;

use crate::classify::needs_person;
use crate::discrepancy::{Approval, Resolution};
use crate::schema::line;

/// Sums and counts per (location, kind), computed by polars over the whole frame at once.
fn sums(discrepancies: &DataFrame) -> Result<Vec<(String, String, Acc)>> {
    let sum = |c: &str| {
        when(col(c).count().gt(lit(0u32)))
            .then(col(c).sum())
            .otherwise(lit(NULL))
            .alias(c)
    };
    let count_of = |c: &str, value: &str| {
        col(c)
            .eq(lit(value))
            .fill_null(lit(false))
            .sum()
            .cast(DataType::UInt64)
    };
    let groups = discrepancies
        .clone()
        .lazy()
        .group_by([col(LOCATION).fill_null(lit("")), col(line::KIND)])
        .agg([
            len().cast(DataType::UInt64).alias("lines"),
            needs_person()
                .sum()
                .cast(DataType::UInt64)
                .alias("needs_person"),
            count_of(line::RESOLUTION, Resolution::Recount.as_str()).alias("recount"),
            count_of(line::APPROVAL, Approval::Required.as_str()).alias("waiting"),
            sum(line::QTY_DELTA),
            sum(line::VALUE_DELTA),
        ])
        .collect()?;
    let location = groups.column(LOCATION)?.str()?;
    let kind = groups.column(line::KIND)?.str()?;
    let lines = groups.column("lines")?.u64()?;
    let needs = groups.column("needs_person")?.u64()?;
    let recount = groups.column("recount")?.u64()?;
    let waiting = groups.column("waiting")?.u64()?;
    // Sums keep their columns' scales (QTY_SCALE, VALUE_SCALE).
    let qty = groups
        .column(line::QTY_DELTA)?
        .decimal()?
        .physical()
        .clone();
    let value = groups
        .column(line::VALUE_DELTA)?
        .decimal()?
        .physical()
        .clone();
    Ok((0..groups.height())
        .map(|i| {
            (
                location.get(i).unwrap_or("").to_string(),
                kind.get(i).unwrap_or("").to_string(),
                Acc {
                    lines: lines.get(i).unwrap_or(0),
                    needs_person: needs.get(i).unwrap_or(0),
                    recount: recount.get(i).unwrap_or(0),
                    waiting: waiting.get(i).unwrap_or(0),
                    qty: qty.get(i),
                    value: value.get(i),
                },
            )
        })
        .collect())
}

/// The rows of the `n` largest values at cost (|value_delta|; ties in line order), in
/// that order: one pass keeping the `n` best, where sorting would order every line.
fn largest_values(lines: &DataFrame, n: usize) -> Result<IdxCa> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let values = lines
        .column(line::VALUE_DELTA)?
        .decimal()?
        .physical()
        .clone();
    // A min-heap of the best so far: the first out is the smallest value, or of equal
    // values the later row.
    let mut best: BinaryHeap<Reverse<(i128, Reverse<IdxSize>)>> = BinaryHeap::new();
    for (row, v) in values.iter().enumerate() {
        let Some(v) = v else { continue };
        best.push(Reverse((v.saturating_abs(), Reverse(row as IdxSize))));
        if best.len() > n {
            best.pop();
        }
    }
    let mut rows: Vec<(i128, Reverse<IdxSize>)> = best.into_iter().map(|Reverse(b)| b).collect();
    rows.sort_by(|a, b| b.cmp(a));
    Ok(IdxCa::from_vec(
        "top".into(),
        rows.into_iter().map(|(_, Reverse(r))| r).collect(),
    ))
}

#[test]
fn the_largest_values_come_first_and_ties_in_line_order() {
    let lines = df!(line::VALUE_DELTA => [Some(1i128), Some(-5), None, Some(5), Some(3), Some(-1)])
        .unwrap()
        .lazy()
        .with_column(col(line::VALUE_DELTA).cast(DataType::Decimal(38, 4)))
        .collect()
        .unwrap();
    let rows: Vec<_> = largest_values(&lines, 3)
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(rows, [1, 3, 4]);
    let all: Vec<_> = largest_values(&lines, 10)
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(all, [1, 3, 4, 0, 5]);
}

/// The summary's model; `categories` are each location's (category_sums), of which the
/// run's are the sums.
pub fn build<'a>(
    input: &'a ReportInput<'a>,
    discrepancies: &DataFrame,
    categories: &CategorySums,
) -> Result<Model<'a>> {
    let precision = input.precision;
    // The largest values at cost first (ties in line order).
    let top = discrepancies.take(&largest_values(discrepancies, TOP)?)?;
    let top = line_views(&top, precision, Some(&input.rule_words))?;

    let mut kinds: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_location: BTreeMap<String, (Acc, BTreeMap<String, Acc>)> = BTreeMap::new();
    for (location, kind, acc) in sums(discrepancies)? {
        kinds.entry(kind.clone()).or_default().add(&acc);
        let entry = by_location.entry(location).or_default();
        entry.0.add(&acc);
        entry.1.entry(kind).or_default().add(&acc);
    }
    let figures = input.figures;
    // A location whose every count agrees has no lines, and still its page and figures.
    for (code, f) in figures {
        if f.counted > 0 || f.book_value != 0 {
            by_location.entry(code.clone()).or_default();
        }
    }

    let mut pages = std::collections::BTreeSet::new();
    let locations: Vec<LocationView> = by_location
        .into_iter()
        .map(|(code, (acc, kinds))| {
            let mut page = format!("locations/{}.html", file_stem(&code));
            let mut n = 2;
            while !pages.insert(page.clone()) {
                page = format!("locations/{}-{n}.html", file_stem(&code));
                n += 1;
            }
            let f = figures.get(&code).cloned().unwrap_or_default();
            LocationView {
                summary: acc.group(&code, precision),
                kinds: kinds
                    .iter()
                    .map(|(k, a)| kind_group(k, a, precision))
                    .collect(),
                counted: f.counted,
                agree: f.agree(),
                recount: acc.recount,
                waiting: acc.waiting,
                accuracy_percent: f.accuracy_hundredths().map(percent_text),
                shrink_percent: f.shrink_hundredths().map(percent_text),
                book_value: precision.money.show(f.book_value),
                recount_sheet: (input.recount_sheets && acc.recount > 0)
                    .then(|| crate::write::recount::sheet_path(&code)),
                code,
                page,
            }
        })
        .collect();

    let kinds: Vec<Group> = kinds
        .iter()
        .map(|(k, a)| kind_group(k, a, precision))
        .collect();
    let categories = categories.of_run(precision);
    let mut trend = input.earlier.clone();
    trend.push(RunPoint {
        run_id: input.run_id.to_string(),
        day: input.started_at.get(..10).unwrap_or_default().to_string(),
        lines: input.totals.lines,
        needs_person: input.totals.needs_person,
        value_delta_sum: input.totals.value_delta_sum.clone(),
        accuracy_percent: input.totals.accuracy_percent.clone(),
        shrink_percent: input.totals.shrink_percent.clone(),
    });
    let charts = Charts {
        kinds: kinds_chart("chart-kinds", &kinds),
        categories: chart::bars(
            "chart-categories",
            "Differences at cost by category",
            &categories
                .iter()
                .map(|g| Bar {
                    label: g.title.clone(),
                    size: number(&g.value_delta),
                    text: g.value_delta.clone(),
                })
                .collect::<Vec<_>>(),
        ),
        trend: trend_chart(&trend),
        accuracy: accuracy_chart(&locations),
    };
    let who_approves = if input.approvers.is_empty() {
        match input.run_by.as_str() {
            "" | "unknown" => "anyone but the person who ran the job (tally approve)".to_string(),
            by => format!("anyone but {by}, who ran the job (tally approve)"),
        }
    } else {
        input.approvers.join(", ")
    };

    Ok(Model {
        run_id: input.run_id,
        started_at: &input.started_at,
        job: &input.job,
        outcome: input.outcome,
        engine_version: env!("CARGO_PKG_VERSION"),
        totals: input.totals,
        pairings: input.pairings,
        corrections: input.corrections,
        kinds,
        locations,
        top,
        categories,
        trend,
        who_approves,
        approval_above: input.approval_above.clone(),
        lines_file: if input.lines_xlsx {
            "discrepancies.xlsx"
        } else {
            "discrepancies.csv"
        },
        charts,
    })
}

/// A kind's totals under its phrase.
fn kind_group(kind: &str, acc: &Acc, precision: &Precision) -> Group {
    let mut g = acc.group(kind, precision);
    g.title = words::kind_title(kind);
    g
}

/// A figure's size for drawing (geometry, never money: see chart.rs).
pub fn number(text: &str) -> f64 {
    text.parse().unwrap_or(0.0)
}

pub fn kinds_chart(id: &str, kinds: &[Group]) -> String {
    let mut bars: Vec<Bar> = kinds
        .iter()
        .map(|g| Bar {
            label: g.title.clone(),
            size: g.lines as f64,
            text: g.lines.to_string(),
        })
        .collect();
    bars.sort_by(|a, b| b.size.total_cmp(&a.size).then(a.label.cmp(&b.label)));
    chart::bars(id, "Lines by kind", &bars)
}

fn trend_chart(trend: &[RunPoint]) -> String {
    // Accuracy where the runs recorded it, else the lines that needed a person.
    let accuracy = trend.iter().all(|p| p.accuracy_percent.is_some());
    let points: Vec<Point> = trend
        .iter()
        .map(|p| {
            let text = if accuracy {
                format!("{} %", p.accuracy_percent.clone().unwrap_or_default())
            } else {
                p.needs_person.to_string()
            };
            Point {
                label: p.day.clone(),
                value: if accuracy {
                    number(p.accuracy_percent.as_deref().unwrap_or("0"))
                } else {
                    p.needs_person as f64
                },
                text,
            }
        })
        .collect();
    let title = if accuracy {
        "Inventory accuracy over the last runs"
    } else {
        "Lines that needed a person over the last runs"
    };
    chart::line("chart-trend", title, &points)
}

fn accuracy_chart(locations: &[LocationView]) -> String {
    let bars: Vec<Bar> = locations
        .iter()
        .filter_map(|l| {
            let p = l.accuracy_percent.as_ref()?;
            Some(Bar {
                label: l.code.clone(),
                size: number(p),
                text: format!("{p} % ({} of {})", l.agree, l.counted),
            })
        })
        .collect();
    chart::bars("chart-accuracy", "Inventory accuracy per location", &bars)
}

/// Σ |value_delta| and lines per category (quantity and cost differences alike) in each
/// location (null as ""); lines without a category under "(no category)".
pub struct CategorySums(BTreeMap<String, BTreeMap<String, (u64, i128)>>);

impl CategorySums {
    pub fn of(lines: &DataFrame) -> Result<CategorySums> {
        let sums = lines
            .clone()
            .lazy()
            .filter(col(line::VALUE_DELTA).is_not_null())
            .group_by([
                col(LOCATION).fill_null(lit("")),
                col(line::CATEGORY).fill_null(lit("(no category)")),
            ])
            .agg([
                len().cast(DataType::UInt64).alias("lines"),
                col(line::VALUE_DELTA).abs().sum().alias(line::VALUE_DELTA),
            ])
            .collect()?;
        let location = sums.column(LOCATION)?.str()?;
        let name = sums.column(line::CATEGORY)?.str()?;
        let count = sums.column("lines")?.u64()?;
        let value = sums
            .column(line::VALUE_DELTA)?
            .decimal()?
            .physical()
            .clone();
        let mut out: BTreeMap<String, BTreeMap<String, (u64, i128)>> = BTreeMap::new();
        for i in 0..sums.height() {
            out.entry(location.get(i).unwrap_or("").to_string())
                .or_default()
                .insert(
                    name.get(i).unwrap_or("").to_string(),
                    (count.get(i).unwrap_or(0), value.get(i).unwrap_or(0)),
                );
        }
        Ok(CategorySums(out))
    }

    /// One location's categories, largest first.
    pub fn of_location(&self, location: &str, precision: &Precision) -> Vec<Group> {
        self.0
            .get(location)
            .map(|sums| largest_first(sums, precision))
            .unwrap_or_default()
    }

    /// The run's categories, largest first.
    fn of_run(&self, precision: &Precision) -> Vec<Group> {
        let mut run: BTreeMap<String, (u64, i128)> = BTreeMap::new();
        for (name, (lines, value)) in self.0.values().flatten() {
            let sum = run.entry(name.clone()).or_default();
            sum.0 += lines;
            sum.1 = sum.1.saturating_add(*value);
        }
        largest_first(&run, precision)
    }
}

/// Categories by Σ |value_delta|, largest first (ties by name), each rounded once.
fn largest_first(sums: &BTreeMap<String, (u64, i128)>, precision: &Precision) -> Vec<Group> {
    let mut order: Vec<_> = sums.iter().collect();
    order.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(b.0)));
    order
        .into_iter()
        .map(|(name, (lines, value))| Group {
            name: name.clone(),
            title: name.clone(),
            lines: *lines,
            needs_person: 0,
            qty_delta: String::new(),
            value_delta: precision.money.show(*value),
        })
        .collect()
}
