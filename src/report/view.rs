//! A discrepancy line as a page shows it: every column as text at its declared
//! precision, the kind, decision and rule in words (words.rs), and for a correction which
//! system changes from what to what.
//!
//! The text of a page's lines is made once, column by column, for all pages together
//! (`Texts`); a line (`LineView`) is a row number in it whose fields are made only when
//! a template asks for them. Turning every field of 40,000 listed lines into strings
//! first took as long as rendering them.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use minijinja::Value;
use minijinja::value::{Enumerator, Object};
use polars::prelude::*;

use super::words;
use crate::discrepancy::{Kind, Resolution, Side};
use crate::precision::Precision;
use crate::schema::line;

/// The fields a line has besides its columns (each column is a field of its own name,
/// as text; `reason` is spaced).
const DERIVED: [&str; 16] = [
    // The resolution as the engine names it, spaced ("correct book").
    "decision",
    // Whether a person must act: a decision left to one, or an approval.
    "needs_person",
    // Whether the quantity and the value went down.
    "qty_neg",
    "value_neg",
    // Where each side's row came from: "shopify back-bay.csv:5".
    "book_ref",
    "observed_ref",
    // How a side's compared quantity came from what it stated ("2 Case × 12",
    // "−1 moved after 2026-11-26T01:00:00Z").
    "book_note",
    "observed_note",
    // The kind as a phrase ("counted 3 fewer than the book says").
    "says",
    // The decision in words ("the book takes the count").
    "decision_words",
    // The rule in words ("a difference of at most 2 units"); its name is `rule`.
    "rule_words",
    // For a finding: what to fix.
    "fix",
    // For a correction: the system that changes, from what to what.
    "target",
    "old_value",
    "new_value",
    // The reason code, spaced.
    "reason",
];

/// The text of a frame of lines, column by column: decimals as `precision` shows them,
/// and each rule's words (words::rule_phrases) where the rules file gave them.
pub struct Texts {
    columns: BTreeMap<&'static str, StringChunked>,
    rules: Option<BTreeMap<String, String>>,
    height: usize,
}

impl Texts {
    pub fn of(
        frame: &DataFrame,
        precision: &Precision,
        rules: Option<&BTreeMap<String, String>>,
    ) -> Result<Arc<Texts>> {
        // Columns that are null throughout (units and movements on most runs) read as "".
        let viewed: Vec<(&'static str, &Column)> = line::COLUMNS
            .iter()
            .filter_map(|&name| Some((name, frame.column(name).ok()?)))
            .filter(|(_, c)| c.null_count() < c.len())
            .collect();
        let text = |(name, c): &(&'static str, &Column)| -> Result<(&'static str, StringChunked)> {
            let c = precision.column_for_people(c)?;
            let s = c.as_materialized_series().cast(&DataType::String)?;
            Ok((*name, s.str()?.rechunk().into_owned()))
        };
        // Here, not in the thread pool: there a page's lines would wait behind the
        // run's own lines (the CSV writer's columns), and they take a few milliseconds.
        let columns = viewed.iter().map(text).collect::<Result<_>>()?;
        Ok(Arc::new(Texts {
            columns,
            rules: rules.cloned(),
            height: frame.height(),
        }))
    }

    /// Lines `rows` as values for a template.
    pub fn views(self: &Arc<Self>, rows: std::ops::Range<usize>) -> Vec<Value> {
        rows.map(|row| {
            Value::from_object(LineView {
                texts: self.clone(),
                row,
            })
        })
        .collect()
    }

    fn get(&self, column: &str, row: usize) -> &str {
        self.columns
            .get(column)
            .and_then(|c| c.get(row))
            .unwrap_or_default()
    }
}

/// The lines of `frame` as values for a template.
pub fn line_views(
    frame: &DataFrame,
    precision: &Precision,
    rules: Option<&BTreeMap<String, String>>,
) -> Result<Vec<Value>> {
    let texts = Texts::of(frame, precision, rules)?;
    Ok(texts.views(0..texts.height))
}

/// One line of `texts`.
#[derive(Debug)]
pub struct LineView {
    texts: Arc<Texts>,
    row: usize,
}

impl std::fmt::Debug for Texts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Texts({} lines)", self.height)
    }
}

impl Object for LineView {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if let Some(v) = self.derived(name) {
            return Some(v);
        }
        match self.texts.columns.get(name) {
            Some(text) => Some(Value::from(text.get(self.row).unwrap_or_default())),
            // A line column null throughout reads as "", any other name as undefined.
            None => line::COLUMNS.contains(&name).then(|| Value::from("")),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut names: Vec<&'static str> = line::COLUMNS.to_vec();
        names.extend(DERIVED.iter().filter(|n| !line::COLUMNS.contains(n)));
        Enumerator::Values(names.into_iter().map(Value::from).collect())
    }
}

impl LineView {
    fn get(&self, column: &str) -> &str {
        self.texts.get(column, self.row)
    }

    fn derived(&self, name: &str) -> Option<Value> {
        let get = |c: &str| self.get(c);
        Some(match name {
            "decision" => get(line::RESOLUTION).replace('_', " ").into(),
            "reason" => get(line::REASON).replace('_', " ").into(),
            "needs_person" => {
                (needs_person(get(line::RESOLUTION)) || !get(line::APPROVAL).is_empty()).into()
            }
            "qty_neg" => get(line::QTY_DELTA).starts_with('-').into(),
            "value_neg" => get(line::VALUE_DELTA).starts_with('-').into(),
            "book_ref" => self.reference(Side::Book).into(),
            "observed_ref" => self.reference(Side::Observed).into(),
            "book_note" => self.note(Side::Book).into(),
            "observed_note" => self.note(Side::Observed).into(),
            "says" => words::kind_phrase(get(line::KIND), get(line::QTY_DELTA)).into(),
            "decision_words" => words::decision(get(line::RESOLUTION)).into(),
            "rule_words" => {
                let rule = get(line::RULE);
                let words = self.texts.rules.as_ref().and_then(|r| r.get(rule));
                words.map_or(rule, String::as_str).into()
            }
            "fix" => self.fix().into(),
            "target" => self.correction().0.into(),
            "old_value" => self.correction().1.into(),
            "new_value" => self.correction().2.into(),
            _ => return None,
        })
    }

    /// "shopify back-bay.csv:5": the source, the file and the line (or sheet row).
    fn reference(&self, side: Side) -> String {
        let [source, file, row] = match side {
            Side::Book => [line::BOOK_SOURCE, line::BOOK_FILE, line::BOOK_ROW],
            Side::Observed => [
                line::OBSERVED_SOURCE,
                line::OBSERVED_FILE,
                line::OBSERVED_ROW,
            ],
        }
        .map(|c| self.get(c));
        if source.is_empty() {
            return String::new();
        }
        let name = std::path::Path::new(file)
            .file_name()
            .map_or(file.into(), |n| n.to_string_lossy());
        format!("{source} {name}:{row}")
    }

    /// A unit conversion and what moved after the count, where either changed the
    /// quantity compared.
    fn note(&self, side: Side) -> String {
        let [stated, uom, factor, moved, as_of] = match side {
            Side::Book => [
                line::BOOK_STATED_QTY,
                line::BOOK_UOM,
                line::BOOK_FACTOR,
                line::BOOK_MOVED,
                line::BOOK_AS_OF,
            ],
            Side::Observed => [
                line::OBSERVED_STATED_QTY,
                line::OBSERVED_UOM,
                line::OBSERVED_FACTOR,
                line::OBSERVED_MOVED,
                line::OBSERVED_AS_OF,
            ],
        }
        .map(|c| self.get(c));
        let mut parts = Vec::new();
        let factor = factor.trim_end_matches('0').trim_end_matches('.');
        if !factor.is_empty() && factor != "1" {
            parts.push(format!("{stated} {uom} × {factor}"));
        }
        if !moved.is_empty() {
            let sign = if moved.starts_with('-') { "" } else { "+" };
            parts.push(format!("{sign}{moved} moved after {as_of}"));
        }
        parts.join("; ")
    }

    /// For a row that could not be compared: what to fix, at the side it was found on.
    fn fix(&self) -> String {
        let kind = self.get(line::KIND);
        if !Kind::ALL
            .iter()
            .any(|k| k.as_str() == kind && k.is_row_finding())
        {
            return String::new();
        }
        let source = if self.get(line::SIDE) == Side::Observed.as_str() {
            self.get(line::OBSERVED_SOURCE)
        } else {
            self.get(line::BOOK_SOURCE)
        };
        words::what_to_fix(kind, source, self.get(line::DETAIL))
    }

    /// For a correction: the system that changes, its value now and the value it gets
    /// (a side without the item holds 0 of it).
    fn correction(&self) -> (&'static str, String, String) {
        let cost = self.get(line::KIND) == Kind::CostMismatch.as_str();
        let (book, observed) = if cost {
            (line::BOOK_UNIT_COST, line::OBSERVED_UNIT_COST)
        } else {
            (line::BOOK_QTY, line::OBSERVED_QTY)
        };
        let resolution = self.get(line::RESOLUTION);
        let (target, old, new) = if resolution == Resolution::CorrectBook.as_str() {
            (Side::Book, book, observed)
        } else if resolution == Resolution::CorrectObserved.as_str() {
            (Side::Observed, observed, book)
        } else {
            return ("", String::new(), String::new());
        };
        let value = |c: &str| match self.get(c) {
            "" if !cost => "0".to_string(),
            v => v.to_string(),
        };
        (target.as_str(), value(old), value(new))
    }
}

fn needs_person(resolution: &str) -> bool {
    Resolution::ALL
        .iter()
        .any(|r| r.as_str() == resolution && r.needs_person())
}
