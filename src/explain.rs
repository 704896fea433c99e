//! `tally explain JOB --location L --sku S`: the whole story of one item at one location,
//! for a store manager's or an auditor's question "why this line?": the raw rows from
//! each source, each SKU step, the match step, the units and movements applied, the rule
//! that matched and the decision. It runs the same stages as `tally run` on that
//! location (nothing is written) and prints what each did to the item's rows.
//!
//! `tally explain RUN_DIR --line N` starts from a line of a run's reports: the line as
//! the run recorded it, then its item's story from the inputs as they are now.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use polars::prelude::*;

use crate::columns::*;
use crate::extract::{self, Buckets};
use crate::job::{self, Job};
use crate::prepare;
use crate::reference::{self, References};
use crate::rules::normalize::{normalize_into, trace};
use crate::schema::line;
use crate::{classify, normalize, sync};

/// The item key the rows had before the match chain re-keyed any of them.
const KEY_BEFORE: &str = "_key_before";

/// `tally explain JOB --location L --sku S`.
pub fn explain_job(job_path: &Path, location: &str, sku: &str, state: Option<&Path>) -> Result<()> {
    explain_item(&job::load(job_path)?, location, sku, state, true)
}

/// `tally explain RUN_DIR --line N`: the line as the run recorded it, then its item's
/// story told from the inputs as they are now (said when they changed since the run).
pub fn explain_line(run_dir: &Path, line: u64, state: Option<&Path>) -> Result<()> {
    let manifest = crate::write::read::read_manifest(run_dir)?;
    let job = crate::write::read::job_of(&manifest)?;
    let lines = crate::write::read::recorded_discrepancies(run_dir, &manifest)?;
    let found = texts(
        &lines
            .lazy()
            .filter(col(line::LINE).eq(lit(line)))
            .collect()?,
        &manifest.precision,
    )?;
    let Some(recorded) = found.first() else {
        bail!(
            "{}: the run has no line {line}",
            run_dir.join("discrepancies.parquet").display()
        );
    };
    let get = |c: &str| recorded.get(c).cloned().unwrap_or_default();
    let (location, item) = (get(LOCATION), get(ITEM_KEY));
    let what = if item.is_empty() {
        // A row the run could not key names its place in the file instead.
        let side = get(line::SIDE);
        format!(
            "{} at {location} ({}:{})",
            get(line::KIND),
            get(&format!("{side}_file")),
            get(&format!("{side}_row"))
        )
    } else {
        format!("{} of item {item} at {location}", get(line::KIND))
    };
    println!(
        "line {line} of run {} (pairing {}): {what}",
        manifest.run_id,
        get(line::PAIRING)
    );
    println!(
        "  as recorded: rule {} → {} ({}){}",
        get(line::RULE),
        get(line::RESOLUTION),
        get(line::SEVERITY),
        match get(line::CHANGE).as_str() {
            "" => String::new(),
            change => format!(", changed since the baseline: {change}"),
        }
    );
    if !get(line::DETAIL).is_empty() {
        println!("  {}", get(line::DETAIL));
    }
    // Files can be compared with the run's record; databases are read as they are now.
    for input in manifest.inputs.iter().filter(|i| i.path.is_file()) {
        let now = std::fs::read(&input.path)
            .map(|bytes| crate::values::sha256_hex(&bytes))
            .unwrap_or_default();
        if now != input.sha256 {
            println!(
                "note: {} changed since the run (SHA-256 differs): the story below reads it as it is now",
                input.path.display()
            );
        }
    }
    if item.is_empty() {
        return Ok(());
    }
    // The baseline the run compared with was replaced when the run stored its own, so
    // the story compares with none unless one is named; the recorded change is above.
    if state.is_none() && manifest.state.is_some() {
        println!(
            "note: the story below compares with no baseline (the run's was replaced by its own)"
        );
    }
    println!();
    explain_item(&job, &location, &item, state, false)
}

/// `job_state`: whether the job's own state folder is read when `state` names none.
fn explain_item(
    job: &Job,
    location: &str,
    sku: &str,
    state: Option<&Path>,
    job_state: bool,
) -> Result<()> {
    let refs = reference::load(job)?;
    let own = job.state.clone().filter(|_| job_state);
    let baseline = match state.map(Path::to_path_buf).or(own) {
        Some(dir) => sync::load(&dir)?,
        None => None,
    };
    let (mut out, mut key) = (String::new(), String::new());
    normalize_into(sku, &job.rules.sku_steps, &mut key, &mut String::new());
    let mut found = false;
    for pairing in &job.pairings {
        let side = |names: &[String]| -> Result<DataFrame> {
            let mut frame: Option<DataFrame> = None;
            for name in names {
                let source = job.source(name);
                let snapshot = extract::extract(source, &Buckets::one(), 0)
                    .with_context(|| format!("source `{name}`"))?;
                let mut f = normalize::key(snapshot.frame, &job.rules)?;
                f = normalize::keep_locations(f, &[location.to_string()])?;
                let before = f.column(ITEM_KEY)?.clone().with_name(KEY_BEFORE.into());
                f.with_column(before)?;
                match &mut frame {
                    Some(all) => {
                        all.vstack_mut_owned(f)?;
                    }
                    None => frame = Some(f),
                }
            }
            Ok(frame.expect("validated: a side names a source"))
        };
        let run = crate::run::reconcile_pairing(
            job,
            &refs,
            &pairing.name,
            side(&pairing.book)?,
            side(&pairing.observed)?,
            baseline.as_ref(),
            false,
            true,
        )?;
        let (book, observed) = run.sides.expect("asked for the sides");
        // The items the question names: by raw SKU or item key, before or after the chain.
        // A barcode is found in any of its forms (8, 12, 13 or 14 digits, zeros dropped).
        let code = crate::rules::gtin::normalize(sku).ok();
        let mut items = BTreeSet::new();
        for frame in [&book, &observed] {
            let by_code: BooleanChunked = frame
                .column(GTIN)?
                .str()?
                .iter()
                .map(|g| {
                    code.is_some() && g.and_then(|g| crate::rules::gtin::normalize(g).ok()) == code
                })
                .collect();
            let by_code = by_code.with_name("_by_code".into()).into_column();
            let mut frame = frame.clone();
            frame.with_column(by_code)?;
            let hits = frame
                .lazy()
                .filter(
                    col(SKU)
                        .eq(lit(sku))
                        .or(col(KEY_BEFORE).eq(lit(key.as_str())))
                        .or(col(ITEM_KEY).eq(lit(key.as_str())))
                        .or(col("_by_code"))
                        .fill_null(lit(false)),
                )
                .select([col(ITEM_KEY)])
                .collect()?;
            items.extend(
                hits.column(ITEM_KEY)?
                    .str()?
                    .iter()
                    .flatten()
                    .map(String::from),
            );
        }
        if items.is_empty() {
            continue;
        }
        found = true;
        let lines = classify::finish(run.lines.lazy())?;
        for item in &items {
            tell(
                &mut out, job, &refs, pairing, item, location, &book, &observed, &lines,
            )?;
        }
    }
    if !found {
        bail!("no row of any source names {sku:?} (item key {key:?}) at location {location:?}");
    }
    print!("{out}");
    Ok(())
}

/// One item's story in one pairing.
#[allow(clippy::too_many_arguments)]
fn tell(
    out: &mut String,
    job: &Job,
    refs: &References,
    pairing: &job::Pairing,
    item: &str,
    location: &str,
    book: &DataFrame,
    observed: &DataFrame,
    lines: &DataFrame,
) -> Result<()> {
    writeln!(out, "item {item} at {location}, pairing {}", pairing.name)?;
    for (side, frame) in [("book", book), ("observed", observed)] {
        let rows = item_texts(frame, item, &job.rules.precision)?;
        if rows.is_empty() {
            writeln!(out, "\n  {side}: no row")?;
            continue;
        }
        for r in rows {
            let get = |c: &str| r.get(c).cloned().unwrap_or_default();
            writeln!(
                out,
                "\n  {side}: {} {}:{}",
                get(SOURCE),
                get(FILE),
                get(ROW)
            )?;
            writeln!(
                out,
                "    raw: sku {:?}, qty {}, unit cost {}, uom {}, gtin {}, as of {}",
                get(SKU),
                or_dash(&get(prepare::STATED_QTY)),
                or_dash(&get(UNIT_COST)),
                or_dash(&get(UOM)),
                or_dash(&get(GTIN)),
                or_dash(&get(prepare::ROW_AS_OF)),
            )?;
            let mut story = format!("{:?}", get(SKU));
            for (step, value) in trace(&get(SKU), &job.rules.sku_steps) {
                write!(story, " → {step} → {value:?}")?;
            }
            writeln!(
                out,
                "    sku steps: {story}; item key {:?}",
                get(KEY_BEFORE)
            )?;
            match get(prepare::VIA).as_str() {
                "alias" => {
                    let gtin14 = crate::rules::gtin::normalize(&get(GTIN)).ok();
                    let alias = refs
                        .cross_reference
                        .as_ref()
                        .and_then(|x| x.lookup(Some(get(KEY_BEFORE).as_str()), gtin14.as_deref()));
                    match alias {
                        Some(a) => writeln!(
                            out,
                            "    match chain: alias → item {}{} ({})",
                            a.item_key,
                            a.uom
                                .as_ref()
                                .map(|u| format!(" in {u}"))
                                .unwrap_or_default(),
                            a.place
                        )?,
                        None => writeln!(out, "    match chain: alias")?,
                    }
                }
                "gtin" => writeln!(
                    out,
                    "    match chain: gtin {} → the book's item with the same GTIN here",
                    get(GTIN)
                )?,
                _ => {}
            }
            if !get(prepare::FACTOR_COL).is_empty() {
                writeln!(
                    out,
                    "    unit: {} {} × {} = {} in the base unit",
                    get(prepare::STATED_QTY),
                    get(UOM),
                    get(prepare::FACTOR_COL),
                    get(QTY)
                )?;
            }
            if !get(INVALID).is_empty() {
                writeln!(out, "    not compared: {}", get(INVALID))?;
            }
            if !get(prepare::FLAG_DETAIL).is_empty() {
                writeln!(out, "    finding: {}", get(prepare::FLAG_DETAIL))?;
            }
            if !get(prepare::MOVED).is_empty() {
                writeln!(
                    out,
                    "    movements after its as-of time: net {} → compared as {}",
                    get(prepare::MOVED),
                    get(QTY)
                )?;
                if let (Some(movements), Some(from), Some(to)) = (
                    refs.movements.as_ref(),
                    crate::values::parse_time(&get(prepare::ROW_AS_OF)),
                    latest(book, observed)?,
                ) {
                    for m in movements.between(location, item, from, to) {
                        writeln!(
                            out,
                            "      {} {} {} ({})",
                            m.at.to_rfc3339(),
                            m.movement.as_deref().unwrap_or("movement"),
                            m.qty,
                            m.place
                        )?;
                    }
                }
            }
        }
    }
    let item_lines = item_texts(lines, item, &job.rules.precision)?;
    if item_lines.is_empty() {
        writeln!(out, "\n  no line: the sides agree")?;
    }
    for l in item_lines {
        let get = |c: &str| l.get(c).cloned().unwrap_or_default();
        // Line numbers of a whole run differ: this run covers one location.
        writeln!(
            out,
            "\n  discrepancy: {}{}{}",
            get(line::KIND),
            unless_empty(&get(line::SIDE), |s| format!(" ({s})")),
            unless_empty(&get(line::MATCH_STEP), |s| format!(", matched by {s}")),
        )?;
        writeln!(
            out,
            "    book {}, observed {}, Δ qty {}, Δ value {}",
            or_dash(&get(line::BOOK_QTY)),
            or_dash(&get(line::OBSERVED_QTY)),
            or_dash(&get(line::QTY_DELTA)),
            or_dash(&get(line::VALUE_DELTA))
        )?;
        if !get(line::CHANGE).is_empty() {
            writeln!(
                out,
                "    since the baseline: {} (then book {}, observed {})",
                get(line::CHANGE),
                or_dash(&get(line::BASELINE_BOOK_QTY)),
                or_dash(&get(line::BASELINE_OBSERVED_QTY))
            )?;
        }
        writeln!(
            out,
            "    rule {} → {} ({}){}{}",
            get(line::RULE),
            get(line::RESOLUTION).replace('_', " "),
            get(line::SEVERITY),
            unless_empty(&get(line::REASON), |r| format!(", reason {r}")),
            unless_empty(&get(line::APPROVAL), |a| format!(", approval {a}")),
        )?;
        if !get(line::DETAIL).is_empty() {
            writeln!(out, "    {}", get(line::DETAIL))?;
        }
    }
    writeln!(out)?;
    Ok(())
}

fn or_dash(v: &str) -> &str {
    if v.is_empty() { "—" } else { v }
}

/// The pairing's latest as-of time (where the cut-off rolls rows to).
fn latest(
    book: &DataFrame,
    observed: &DataFrame,
) -> Result<Option<chrono::DateTime<chrono::FixedOffset>>> {
    let mut latest = None;
    for f in [book, observed] {
        for t in f.column(prepare::ROW_AS_OF)?.str()?.iter().flatten() {
            if let Some(t) = crate::values::parse_time(t)
                && latest.is_none_or(|l| t > l)
            {
                latest = Some(t);
            }
        }
    }
    Ok(latest)
}

/// The rows of one item key, as text.
fn item_texts(
    frame: &DataFrame,
    item: &str,
    precision: &crate::precision::Precision,
) -> Result<Vec<std::collections::BTreeMap<String, String>>> {
    let rows = frame
        .clone()
        .lazy()
        .filter(col(ITEM_KEY).eq(lit(item)))
        .collect()?;
    texts(&rows, precision)
}

/// `show(text)`, or nothing for an empty text.
fn unless_empty(text: &str, show: impl Fn(&str) -> String) -> String {
    if text.is_empty() {
        String::new()
    } else {
        show(text)
    }
}

/// Every cell of a (small) frame as text, row by row (decimals as `precision` shows them).
fn texts(
    frame: &DataFrame,
    precision: &crate::precision::Precision,
) -> Result<Vec<std::collections::BTreeMap<String, String>>> {
    let mut rows = vec![std::collections::BTreeMap::new(); frame.height()];
    let frame = precision.for_people(frame)?;
    for c in frame.columns() {
        let s = c.cast(&DataType::String)?;
        for (i, v) in s.str()?.iter().enumerate() {
            rows[i].insert(c.name().to_string(), v.unwrap_or("").to_string());
        }
    }
    Ok(rows)
}
