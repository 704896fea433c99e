//! What the report templates see: the discrepancy lines as display rows, and totals per
//! kind, location and pairing computed with exact decimals.

use std::collections::BTreeMap;

use anyhow::Result;
use minijinja::Value;
use polars::prelude::*;
use serde::Serialize;

use crate::columns::{LOCATION, QTY_SCALE};
use crate::discrepancy::Resolution;
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
    pub corrections: &'a CorrectionTotals,
    /// How values are rounded where shown (the rules file's [money]).
    pub precision: &'a Precision,
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
    /// The location's lines, turned into display rows only while its page renders (in
    /// parallel, one location at a time per core), never all at once.
    #[serde(skip)]
    pub lines: DataFrame,
}

#[derive(Serialize, Clone, Debug)]
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
    /// The resolution as words ("adjust book"), and which deltas are negative: worked
    /// out here once, since templates are slow at per-line string work.
    pub decision: String,
    pub qty_neg: bool,
    pub value_neg: bool,
    pub detail: String,
    pub book_ref: String,
    pub observed_ref: String,
    /// How the pair came together (exact, normalized, alias, gtin).
    pub match_step: String,
    /// How a side's compared quantity came from what it stated ("2 Case × 12",
    /// "−1 moved after 2026-11-26T01:00:00Z").
    pub book_note: String,
    pub observed_note: String,
    pub reason: String,
    pub approval: String,
}

/// Location pages hand lines to the template as objects that give a field when asked,
/// instead of serialising every field of every line into a map first (measured: the
/// conversion cost more than rendering).
impl minijinja::value::Object for LineView {
    fn get_value(self: &std::sync::Arc<Self>, key: &Value) -> Option<Value> {
        Some(match key.as_str()? {
            "line" => Value::from(self.line.as_str()),
            "pairing" => Value::from(self.pairing.as_str()),
            "kind" => Value::from(self.kind.as_str()),
            "side" => Value::from(self.side.as_str()),
            "location" => Value::from(self.location.as_str()),
            "item_key" => Value::from(self.item_key.as_str()),
            "book_sku" => Value::from(self.book_sku.as_str()),
            "observed_sku" => Value::from(self.observed_sku.as_str()),
            "description" => Value::from(self.description.as_str()),
            "category" => Value::from(self.category.as_str()),
            "book_qty" => Value::from(self.book_qty.as_str()),
            "observed_qty" => Value::from(self.observed_qty.as_str()),
            "qty_delta" => Value::from(self.qty_delta.as_str()),
            "unit_cost" => Value::from(self.unit_cost.as_str()),
            "book_unit_cost" => Value::from(self.book_unit_cost.as_str()),
            "observed_unit_cost" => Value::from(self.observed_unit_cost.as_str()),
            "value_delta" => Value::from(self.value_delta.as_str()),
            "rule" => Value::from(self.rule.as_str()),
            "severity" => Value::from(self.severity.as_str()),
            "resolution" => Value::from(self.resolution.as_str()),
            "needs_person" => Value::from(self.needs_person),
            "decision" => Value::from(self.decision.as_str()),
            "qty_neg" => Value::from(self.qty_neg),
            "value_neg" => Value::from(self.value_neg),
            "detail" => Value::from(self.detail.as_str()),
            "book_ref" => Value::from(self.book_ref.as_str()),
            "observed_ref" => Value::from(self.observed_ref.as_str()),
            "match_step" => Value::from(self.match_step.as_str()),
            "book_note" => Value::from(self.book_note.as_str()),
            "observed_note" => Value::from(self.observed_note.as_str()),
            "reason" => Value::from(self.reason.as_str()),
            "approval" => Value::from(self.approval.as_str()),
            _ => return None,
        })
    }
}

/// Exact sums of a group of lines (mantissas at the columns' scales); a sum over no
/// values at all stays empty, not zero.
#[derive(Default, Clone)]
struct Acc {
    lines: u64,
    needs_person: u64,
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
        add_opt(&mut self.qty, part.qty);
        add_opt(&mut self.value, part.value);
    }

    /// Quantities shown exact, values rounded once by the declared rule.
    fn group(&self, name: &str, precision: &Precision) -> Group {
        Group {
            name: name.to_string(),
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
use crate::schema::line;

/// Sums per (location, kind), computed by polars over the whole frame at once.
fn sums(discrepancies: &DataFrame) -> Result<Vec<(String, String, Acc)>> {
    let sum = |c: &str| {
        when(col(c).count().gt(lit(0u32)))
            .then(col(c).sum())
            .otherwise(lit(NULL))
            .alias(c)
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
            sum(line::QTY_DELTA),
            sum(line::VALUE_DELTA),
        ])
        .collect()?;
    let location = groups.column(LOCATION)?.str()?;
    let kind = groups.column(line::KIND)?.str()?;
    let lines = groups.column("lines")?.u64()?;
    let needs = groups.column("needs_person")?.u64()?;
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
                    qty: qty.get(i),
                    value: value.get(i),
                },
            )
        })
        .collect())
}

pub fn build<'a>(input: &'a ReportInput<'a>, discrepancies: &DataFrame) -> Result<Model<'a>> {
    // The largest values at cost first (ties in line order).
    let top = discrepancies
        .clone()
        .lazy()
        .filter(col(line::VALUE_DELTA).is_not_null())
        .sort_by_exprs(
            [col(line::VALUE_DELTA).abs()],
            SortMultipleOptions::default()
                .with_order_descending(true)
                .with_maintain_order(true),
        )
        .limit(TOP as IdxSize)
        .collect()?;
    let top = line_views(&top, input.precision)?;

    let mut kinds: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_location: BTreeMap<String, (Acc, BTreeMap<String, Acc>)> = BTreeMap::new();
    for (location, kind, acc) in sums(discrepancies)? {
        kinds.entry(kind.clone()).or_default().add(&acc);
        let entry = by_location.entry(location).or_default();
        entry.0.add(&acc);
        entry.1.entry(kind).or_default().add(&acc);
    }

    // Each location's lines, in line order.
    let mut frames: BTreeMap<String, DataFrame> = BTreeMap::new();
    let keyed = discrepancies
        .clone()
        .lazy()
        .with_column(col(LOCATION).fill_null(lit("")).alias("_page"))
        .collect()?;
    for part in keyed.partition_by_stable(["_page"], true)? {
        let code = part
            .column("_page")?
            .str()?
            .get(0)
            .unwrap_or("")
            .to_string();
        frames.insert(code, part.drop("_page")?);
    }

    let mut pages = std::collections::BTreeSet::new();
    let locations = by_location
        .into_iter()
        .map(|(code, (acc, kinds))| {
            let mut page = format!("locations/{}.html", file_stem(&code));
            let mut n = 2;
            while !pages.insert(page.clone()) {
                page = format!("locations/{}-{n}.html", file_stem(&code));
                n += 1;
            }
            LocationView {
                summary: acc.group(&code, input.precision),
                kinds: kinds
                    .iter()
                    .map(|(k, a)| a.group(k, input.precision))
                    .collect(),
                lines: frames.remove(&code).unwrap_or_default(),
                code,
                page,
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
        kinds: kinds
            .iter()
            .map(|(k, a)| a.group(k, input.precision))
            .collect(),
        locations,
        top,
    })
}

/// The columns a line view reads, as text (decimals as `precision` shows them); columns
/// that are null throughout (units and movements on most runs) are left out and read as
/// empty.
fn text_columns(frame: &DataFrame, precision: &Precision) -> Result<BTreeMap<String, Vec<String>>> {
    let viewed: Vec<_> = frame
        .columns()
        .iter()
        .filter(|c| !NOT_VIEWED.contains(&c.name().as_str()) && c.null_count() < c.len())
        .map(|c| c.name().clone())
        .collect();
    let frame = precision.for_people(&frame.select(viewed)?)?;
    let mut out = BTreeMap::new();
    for c in frame.columns() {
        if NOT_VIEWED.contains(&c.name().as_str()) || c.null_count() == c.len() {
            continue;
        }
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

/// Line columns no line view shows (the conflict's detail tells the baseline): not
/// cast to text.
const NOT_VIEWED: [&str; 3] = [
    line::COST_DELTA,
    line::BASELINE_BOOK_QTY,
    line::BASELINE_OBSERVED_QTY,
];

pub fn line_views(frame: &DataFrame, precision: &Precision) -> Result<Vec<LineView>> {
    let cols = text_columns(frame, precision)?;
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
            let note = |side: &str| {
                let mut parts = Vec::new();
                let factor = get(&format!("{side}_factor"));
                let factor = factor.trim_end_matches('0').trim_end_matches('.');
                if !factor.is_empty() && factor != "1" {
                    parts.push(format!(
                        "{} {} × {factor}",
                        get(&format!("{side}_stated_qty")),
                        get(&format!("{side}_uom"))
                    ));
                }
                let moved = get(&format!("{side}_moved"));
                if !moved.is_empty() {
                    let sign = if moved.starts_with('-') { "" } else { "+" };
                    parts.push(format!(
                        "{sign}{moved} moved after {}",
                        get(&format!("{side}_as_of"))
                    ));
                }
                parts.join("; ")
            };
            LineView {
                line: get(line::LINE),
                pairing: get(line::PAIRING),
                kind: get(line::KIND),
                side: get(line::SIDE),
                location: get("location"),
                item_key: get("item_key"),
                book_sku: get(line::BOOK_SKU),
                observed_sku: get(line::OBSERVED_SKU),
                description: get("description"),
                category: get("category"),
                book_qty: get(line::BOOK_QTY),
                observed_qty: get(line::OBSERVED_QTY),
                qty_delta: get(line::QTY_DELTA),
                unit_cost: get("unit_cost"),
                book_unit_cost: get(line::BOOK_UNIT_COST),
                observed_unit_cost: get(line::OBSERVED_UNIT_COST),
                value_delta: get(line::VALUE_DELTA),
                rule: get(line::RULE),
                severity: get(line::SEVERITY),
                needs_person: needs(&get(line::RESOLUTION)) || !get(line::APPROVAL).is_empty(),
                decision: get(line::RESOLUTION).replace('_', " "),
                qty_neg: get(line::QTY_DELTA).starts_with('-'),
                value_neg: get(line::VALUE_DELTA).starts_with('-'),
                resolution: get(line::RESOLUTION),
                detail: get(line::DETAIL),
                book_ref: reference("book"),
                observed_ref: reference("observed"),
                match_step: get(line::MATCH_STEP),
                book_note: note("book"),
                observed_note: note("observed"),
                reason: get(line::REASON).replace('_', " "),
                approval: get(line::APPROVAL),
            }
        })
        .collect())
}
