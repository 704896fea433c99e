//! What the report templates see: the discrepancy lines as display rows, and totals per
//! kind, location and pairing computed with exact decimals.

use std::collections::BTreeMap;
use std::str::FromStr;

use anyhow::Result;
use polars::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::columns::{MONEY_SCALE, QTY_SCALE};
use crate::discrepancy::Resolution;
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
    pub corrections: &'a CorrectionTotals,
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
    pub top: Vec<LineView>,
}

#[derive(Serialize, Default, Clone)]
pub struct Group {
    pub name: String,
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
    /// Handed to the location page on its own, so that the summary's context does not
    /// carry (and convert) every line of every location.
    #[serde(skip)]
    pub lines: Vec<LineView>,
}

#[derive(Serialize, Clone)]
pub struct LineView {
    pub line: String,
    pub pairing: String,
    pub kind: String,
    pub side: String,
    pub location: String,
    pub item_key: String,
    pub book_sku: String,
    pub observed_sku: String,
    pub description: String,
    pub category: String,
    pub book_qty: String,
    pub observed_qty: String,
    pub qty_delta: String,
    pub unit_cost: String,
    pub book_unit_cost: String,
    pub observed_unit_cost: String,
    pub value_delta: String,
    pub rule: String,
    pub severity: String,
    pub resolution: String,
    pub needs_person: bool,
    pub detail: String,
    pub book_ref: String,
    pub observed_ref: String,
}

/// Sums of a group of lines; a sum over no values at all stays empty, not zero.
#[derive(Default)]
struct Acc {
    lines: u64,
    needs_person: u64,
    qty: Option<Decimal>,
    value: Option<Decimal>,
}

fn add_text(sum: &mut Option<Decimal>, text: &str) {
    if let Ok(d) = Decimal::from_str(text) {
        *sum = Some(sum.unwrap_or_default() + d);
    }
}

fn show(sum: Option<Decimal>, scale: u32) -> String {
    sum.map(|mut d| {
        d.rescale(scale);
        d.to_string()
    })
    .unwrap_or_default()
}

impl Acc {
    fn add(&mut self, line: &LineView) {
        self.lines += 1;
        self.needs_person += u64::from(line.needs_person);
        add_text(&mut self.qty, &line.qty_delta);
        add_text(&mut self.value, &line.value_delta);
    }

    fn group(&self, name: &str) -> Group {
        Group {
            name: name.to_string(),
            lines: self.lines,
            needs_person: self.needs_person,
            qty_delta: show(self.qty, QTY_SCALE as u32),
            value_delta: show(self.value, MONEY_SCALE as u32),
        }
    }
}

const TOP: usize = 20;

/// A location's totals, totals per kind, and lines.
type LocationAcc = (Acc, BTreeMap<String, Acc>, Vec<LineView>);

pub fn build<'a>(input: &'a ReportInput<'a>, discrepancies: &DataFrame) -> Result<Model<'a>> {
    let lines = line_views(discrepancies)?;

    // The largest values first; picked before the lines move into their locations.
    let mut top: Vec<&LineView> = lines.iter().filter(|l| !l.value_delta.is_empty()).collect();
    top.sort_by_cached_key(|l| {
        std::cmp::Reverse(Decimal::from_str(&l.value_delta).unwrap_or_default().abs())
    });
    let top: Vec<LineView> = top.into_iter().take(TOP).cloned().collect();

    let mut kinds: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_location: BTreeMap<String, LocationAcc> = BTreeMap::new();
    for line in lines {
        kinds.entry(line.kind.clone()).or_default().add(&line);
        let entry = by_location.entry(line.location.clone()).or_default();
        entry.0.add(&line);
        entry.1.entry(line.kind.clone()).or_default().add(&line);
        entry.2.push(line);
    }

    let mut pages = std::collections::BTreeSet::new();
    let locations = by_location
        .into_iter()
        .map(|(code, (acc, kinds, lines))| {
            let mut page = format!("locations/{}.html", file_stem(&code));
            let mut n = 2;
            while !pages.insert(page.clone()) {
                page = format!("locations/{}-{n}.html", file_stem(&code));
                n += 1;
            }
            LocationView {
                summary: acc.group(&code),
                kinds: kinds.iter().map(|(k, a)| a.group(k)).collect(),
                code,
                page,
                lines,
            }
        })
        .collect();

    Ok(Model {
        run_id: input.run_id,
        started_at: &input.started_at,
        job: &input.job,
        outcome: input.outcome,
        engine_version: env!("CARGO_PKG_VERSION"),
        totals: input.totals,
        pairings: input.pairings,
        corrections: input.corrections,
        kinds: kinds.iter().map(|(k, a)| a.group(k)).collect(),
        locations,
        top,
    })
}

/// Every column as display text (exact decimals keep their scale).
fn text_columns(frame: &DataFrame) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for c in frame.columns() {
        let s = c.as_materialized_series().cast(&DataType::String)?;
        let values = s
            .str()?
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect();
        out.insert(c.name().to_string(), values);
    }
    Ok(out)
}

fn line_views(frame: &DataFrame) -> Result<Vec<LineView>> {
    let cols = text_columns(frame)?;
    let needs = |r: &str| {
        Resolution::ALL
            .iter()
            .any(|x| x.as_str() == r && x.needs_person())
    };
    Ok((0..frame.height())
        .map(|i| {
            let get = |name: &str| cols.get(name).map(|c| c[i].clone()).unwrap_or_default();
            // "shopify back-bay.csv:5": the source, the file and the line (or sheet row).
            let reference = |side: &str| {
                let source = get(&format!("{side}_source"));
                if source.is_empty() {
                    return String::new();
                }
                let file = get(&format!("{side}_file"));
                let name = std::path::Path::new(&file)
                    .file_name()
                    .map_or(file.clone(), |n| n.to_string_lossy().into());
                format!("{source} {name}:{}", get(&format!("{side}_row")))
            };
            LineView {
                line: get("line"),
                pairing: get("pairing"),
                kind: get("kind"),
                side: get("side"),
                location: get("location"),
                item_key: get("item_key"),
                book_sku: get("book_sku"),
                observed_sku: get("observed_sku"),
                description: get("description"),
                category: get("category"),
                book_qty: get("book_qty"),
                observed_qty: get("observed_qty"),
                qty_delta: get("qty_delta"),
                unit_cost: get("unit_cost"),
                book_unit_cost: get("book_unit_cost"),
                observed_unit_cost: get("observed_unit_cost"),
                value_delta: get("value_delta"),
                rule: get("rule"),
                severity: get("severity"),
                needs_person: needs(&get("resolution")),
                resolution: get("resolution"),
                detail: get("detail"),
                book_ref: reference("book"),
                observed_ref: reference("observed"),
            }
        })
        .collect())
}
