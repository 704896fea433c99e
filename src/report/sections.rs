//! A location page in the order a store manager works: what to recount, what was
//! corrected, what waits for approval, conflicts, what a person decides, what could not
//! be compared, and (last, folded) what is within tolerance. Each line is in exactly
//! one section; each section has its count, the size of its differences at cost, and
//! at most `SECTION_LINES` lines on the page (the rest are in the lists beside it).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::Result;
use polars::prelude::*;
use serde::Serialize;

use super::view::Texts;
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
    pub lines: Vec<minijinja::Value>,
}

/// Every location's sections, prepared in one pass over the lines (a run of 400,000
/// lines in 200 stores would otherwise filter and sort 1,400 times): each (location,
/// section) gets its count and value and keeps only its first `SECTION_LINES` in the
/// section's order, and those lines are turned into views once, for all pages together.
pub struct Prepared {
    /// The listed lines' text, by location, section and the section's order.
    shown: Arc<Texts>,
    /// Location (null as "") → its sections' views in `shown`: (section, offset, length).
    spans: BTreeMap<String, Vec<(Section, usize, usize)>>,
    /// (location, section) → lines and Σ |value_delta|.
    stats: BTreeMap<(String, Section), (u64, i128)>,
}

const SECTION: &str = "_section";

/// A (location, section): its lines and Σ |value_delta|.
struct Group<'a> {
    page: &'a str,
    section: u32,
    lines: u32,
    value: i128,
}

/// What a section's order compares, per line: |value|, |cost| (-1 where missing, so that
/// largest first puts them last), the line number (missing last) and, for a line to
/// recount, its bin.
struct Keys<'a> {
    value: Vec<i128>,
    cost: Vec<i128>,
    line: Vec<u64>,
    bin: &'a StringChunked,
}

impl Keys<'_> {
    /// One order for all sections: a recount walks the shop floor bin by bin (missing
    /// bins last), the costliest first in each; every other section lists the costliest
    /// first (by value, then by cost for a cost difference); ties in line order.
    fn order(&self, recount: bool, a: IdxSize, b: IdxSize) -> Ordering {
        let (a, b) = (a as usize, b as usize);
        let bins = || match (self.bin.get(a), self.bin.get(b)) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        (if recount { bins() } else { Ordering::Equal })
            .then_with(|| self.value[b].cmp(&self.value[a]))
            .then_with(|| {
                if recount {
                    Ordering::Equal
                } else {
                    self.cost[b].cmp(&self.cost[a])
                }
            })
            .then_with(|| self.line[a].cmp(&self.line[b]))
            .then(a.cmp(&b))
    }
}

pub fn prepare(
    lines: &DataFrame,
    precision: &Precision,
    rules: &BTreeMap<String, String>,
) -> Result<Prepared> {
    let tagged = lines
        .clone()
        .lazy()
        .select([
            Section::of_line().cast(DataType::UInt32).alias(SECTION),
            col(line::LINE).cast(DataType::UInt64),
            col(LOCATION).cast(DataType::String),
            col(line::BIN).cast(DataType::String),
        ])
        .collect()?;
    let tags = tagged.column(SECTION)?.u32()?;
    let page = tagged.column(LOCATION)?.str()?;
    let bin = tagged.column(line::BIN)?.str()?.rechunk();
    let size = |name: &str| -> Result<Vec<i128>> {
        let values = lines.column(name)?.decimal()?.physical().clone();
        Ok(values
            .downcast_iter()
            .flat_map(|a| a.iter().map(|v| v.map_or(-1, |v| v.saturating_abs())))
            .collect())
    };
    let keys = Keys {
        value: size(line::VALUE_DELTA)?,
        cost: size(line::COST_DELTA)?,
        line: tagged
            .column(line::LINE)?
            .u64()?
            .downcast_iter()
            .flat_map(|a| a.iter().map(|v| v.copied().unwrap_or(u64::MAX)))
            .collect(),
        bin: &bin,
    };
    // One walk gives every line its (location, section) and counts them: sorting
    // 400,000 lines by six keys took a third of a second, and a page lists only each
    // section's first 100. Lines mostly come location by location: the last one's
    // groups are kept at hand.
    let mut groups: Vec<Group> = Vec::new();
    // A page's group for each section (u32::MAX: none yet).
    type Slots = [u32; Section::ALL.len()];
    let mut pages: HashMap<&str, Slots> = HashMap::new();
    let mut here: Option<(&str, Slots)> = None;
    let mut group_of: Vec<u32> = Vec::with_capacity(lines.height());
    let pages_in_order = page.downcast_iter().flat_map(|a| a.iter());
    let tags_in_order = tags.downcast_iter().flat_map(|a| a.iter());
    for (row, (loc, tag)) in pages_in_order.zip(tags_in_order).enumerate() {
        let loc = loc.unwrap_or("");
        let tag = tag.copied().unwrap_or(Section::Review as u32);
        let slots = match &mut here {
            Some((at, slots)) if *at == loc => slots,
            _ => {
                if let Some((at, slots)) = here.take() {
                    pages.insert(at, slots);
                }
                let slots = pages.remove(loc).unwrap_or([u32::MAX; Section::ALL.len()]);
                &mut here.insert((loc, slots)).1
            }
        };
        let slot = &mut slots[tag as usize % Section::ALL.len()];
        if *slot == u32::MAX {
            *slot = groups.len() as u32;
            groups.push(Group {
                page: loc,
                section: tag,
                lines: 0,
                value: 0,
            });
        }
        let group = &mut groups[*slot as usize];
        group.lines += 1;
        group.value = group.value.saturating_add(keys.value[row].max(0));
        group_of.push(*slot);
    }
    // Each group's rows, together (a counting sort), then its first lines in order.
    let mut start: Vec<usize> = groups
        .iter()
        .scan(0, |at, g| {
            let here = *at;
            *at += g.lines as usize;
            Some(here)
        })
        .collect();
    let mut rows: Vec<IdxSize> = vec![0; group_of.len()];
    for (row, g) in group_of.iter().enumerate() {
        rows[start[*g as usize]] = row as IdxSize;
        start[*g as usize] += 1;
    }
    // Pages in the order of their codes, each page's sections in the order of work.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_unstable_by_key(|&g| (groups[g].page, groups[g].section));
    let mut stats = BTreeMap::new();
    let mut spans: BTreeMap<String, Vec<(Section, usize, usize)>> = BTreeMap::new();
    let mut take: Vec<IdxSize> = Vec::new();
    for g in order {
        let group = &groups[g];
        let section = Section::ALL
            .into_iter()
            .find(|s| *s as u32 == group.section)
            .unwrap_or(Section::Review);
        stats.insert(
            (group.page.to_string(), section),
            (u64::from(group.lines), group.value),
        );
        let end = start[g];
        let places = &mut rows[end - group.lines as usize..end];
        let recount = section == Section::Recount;
        let order = |a: &IdxSize, b: &IdxSize| keys.order(recount, *a, *b);
        // Only the first SECTION_LINES are listed: select them, then sort those.
        let listed = if places.len() > SECTION_LINES {
            places.select_nth_unstable_by(SECTION_LINES - 1, order);
            &mut places[..SECTION_LINES]
        } else {
            places
        };
        listed.sort_unstable_by(order);
        spans
            .entry(group.page.to_string())
            .or_default()
            .push((section, take.len(), listed.len()));
        take.extend_from_slice(listed);
    }
    let shown = lines.take(&IdxCa::from_vec("take".into(), take))?;
    let shown = Texts::of(&shown, precision, Some(rules))?;
    Ok(Prepared {
        shown,
        spans,
        stats,
    })
}

impl Prepared {
    /// The sections of one location's page, every section present (empty ones say so).
    pub fn sections(&self, location: &str, precision: &Precision) -> Vec<SectionView> {
        let spans = self
            .spans
            .get(location)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Section::ALL
            .into_iter()
            .map(|section| {
                let (offset, len) = spans
                    .iter()
                    .find(|(s, ..)| *s == section)
                    .map_or((0, 0), |(_, offset, len)| (*offset, *len));
                let (total, value) = self
                    .stats
                    .get(&(location.to_string(), section))
                    .copied()
                    .unwrap_or((0, 0));
                SectionView {
                    id: section.id(),
                    title: section.title(),
                    explains: section.explains(),
                    lines_total: total,
                    value: precision.money.show(value),
                    more: total - len as u64,
                    lines: self.shown.views(offset..offset + len),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::VALUE_SCALE;

    /// 150 lines to recount in S1 over two bins and none, 3 to review, one line without
    /// a location: counts and sums cover every line, pages list each section's first 100
    /// in the section's order.
    #[test]
    fn each_section_lists_its_first_lines_in_order_and_counts_them_all() {
        let n = 150usize;
        let mut location: Vec<Option<&str>> = vec![Some("S1"); n + 3];
        location.push(None);
        let mut resolution = vec![Resolution::Recount.as_str(); n];
        resolution.extend([Resolution::Review.as_str(); 4]);
        let mut bin: Vec<Option<String>> = (0..n)
            .map(|i| [Some("B2".to_string()), Some("B1".to_string()), None][i % 3].clone())
            .collect();
        bin.extend([None, None, None, None]);
        // Values repeat so that ties fall back on the line number; one has none.
        // Whole units, cast to the value scale below.
        let mut value: Vec<Option<i128>> = (0..n)
            .map(|i| (i != 7).then_some(i as i128 % 40 - 20))
            .collect();
        value.extend([Some(1), Some(-3), Some(2), Some(5)]);
        let total = n + 4;
        let lines = df!(
            line::LINE => (1..=total as u64).collect::<Vec<_>>(),
            LOCATION => location,
            line::KIND => vec![Kind::QtyMismatch.as_str(); total],
            line::RESOLUTION => resolution,
            line::CHANGE => vec![None::<&str>; total],
            line::APPROVAL => vec![None::<&str>; total],
            line::BIN => bin.clone(),
            line::VALUE_DELTA => value.clone(),
            line::COST_DELTA => vec![None::<i128>; total],
        )
        .unwrap()
        .lazy()
        .with_columns([
            col(line::VALUE_DELTA).cast(DataType::Decimal(38, VALUE_SCALE)),
            col(line::COST_DELTA).cast(DataType::Decimal(38, VALUE_SCALE)),
        ])
        .collect()
        .unwrap();
        let precision = Precision::default();
        let prepared = prepare(&lines, &precision, &BTreeMap::new()).unwrap();

        let s1 = prepared.sections("S1", &precision);
        assert_eq!(
            s1.len(),
            Section::ALL.len(),
            "every section, empty ones too"
        );
        let recount = &s1[0];
        assert_eq!((recount.id, recount.lines_total), ("recount", n as u64));
        assert_eq!((recount.lines.len(), recount.more), (SECTION_LINES, 50));
        let sum: i128 = value[..n].iter().flatten().map(|v| v.abs()).sum();
        assert_eq!(
            recount.value,
            precision.money.show(sum * 10i128.pow(VALUE_SCALE as u32))
        );
        // The order a person would write down: bin, the largest value first, the line.
        let mut expected: Vec<usize> = (0..n).collect();
        expected.sort_by_key(|&i| {
            (
                bin[i].is_none(),
                bin[i].clone(),
                value[i].is_none(),
                std::cmp::Reverse(value[i].map(i128::abs)),
                i,
            )
        });
        let field = |l: &minijinja::Value, name: &str| l.get_attr(name).unwrap().to_string();
        let listed: Vec<String> = recount.lines.iter().map(|l| field(l, "line")).collect();
        let expected: Vec<String> = expected[..SECTION_LINES]
            .iter()
            .map(|i| (i + 1).to_string())
            .collect();
        assert_eq!(listed, expected);

        let review = s1.iter().find(|s| s.id == "review").unwrap();
        let listed: Vec<String> = review.lines.iter().map(|l| field(l, "line")).collect();
        assert_eq!(
            listed,
            ["152", "153", "151"],
            "the largest difference first"
        );
        assert_eq!(review.more, 0);
        assert!(
            s1.iter()
                .filter(|s| !["recount", "review"].contains(&s.id))
                .all(|s| s.lines_total == 0)
        );

        // A line without a location has its own page, under "".
        let none = prepared.sections("", &precision);
        assert_eq!(none[4].lines_total, 1);
        assert_eq!(field(&none[4].lines[0], "line"), "154");
        assert!(
            prepared
                .sections("S2", &precision)
                .iter()
                .all(|s| s.lines_total == 0)
        );
    }
}
