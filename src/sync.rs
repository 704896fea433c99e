//! Three-way synchronisation. Each run stores what each side held, per pairing,
//! location and item (the compared quantity), as the baseline in the job's state
//! folder: a whole run all of it, a run of some locations those locations' rows
//! (`stage_for`); a shard leaves its part in its run directory (`SHARD_PART`) and
//! `tally merge` stores the parts. The next run tells, for every quantity difference,
//! what changed since: `book_only`, `observed_only`, `both`, or `none`. A one-sided change
//! from a baseline where both sides agreed can be followed by a `propagate` policy (the
//! unchanged side is corrected); a change on both sides is a conflict: it is never
//! resolved automatically, and its line shows the baseline and both new values.
//!
//! The baseline holds the state as each system showed it, so that a second run over
//! unchanged inputs reports no changes. Applying the run's corrections moves its
//! baseline on (`after_apply`): the corrected side now holds the new value, so a later
//! change on the other side alone reads as one-sided, not as a conflict.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use polars::prelude::*;

use crate::columns::*;
use crate::discrepancy::Kind;
use crate::schema::correction;
use crate::schema::line;

/// The baseline's file in the state folder, and what is recorded about it.
pub const BASELINE: &str = "baseline.parquet";
pub const BASELINE_INFO: &str = "baseline.json";

pub const CONFLICT_RULE: &str = "(conflict)";

/// What changed since the baseline.
pub const BOOK_ONLY: &str = "book_only";
pub const OBSERVED_ONLY: &str = "observed_only";
pub const BOTH: &str = "both";
pub const NONE: &str = "none";

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BaselineInfo {
    pub run_id: String,
    pub written_at: String,
    pub rows: u64,
    /// Corrections of the run that `tally apply` wrote back and the baseline holds
    /// (counted once, however often the run is applied).
    #[serde(default)]
    pub applied: u64,
    /// The runs that stored this baseline, oldest first (at most `RUNS_KEPT`): where the
    /// reports find the job's earlier runs for their trend, wherever each run was written.
    #[serde(default)]
    pub runs: Vec<RunRef>,
}

/// A run that stored a baseline, and its run directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunRef {
    pub run_id: String,
    pub run_dir: PathBuf,
}

/// How many runs a baseline record remembers.
pub const RUNS_KEPT: usize = 24;

/// The baseline record in `dir`, if one can be read (the trend is a picture: a record
/// that cannot be read shows no earlier runs; `load` reports it when the baseline is used).
pub fn info(dir: &Path) -> Option<BaselineInfo> {
    serde_json::from_slice(&std::fs::read(dir.join(BASELINE_INFO)).ok()?).ok()
}

/// A baseline read from the state folder.
pub struct Baseline {
    /// pairing, side, location, item_key, qty.
    pub frame: DataFrame,
    pub info: BaselineInfo,
}

/// One side's state: the clean rows' (location, item_key, qty) under a pairing.
pub fn side_state(frame: LazyFrame, pairing: &str, side: &str) -> LazyFrame {
    frame.select([
        lit(pairing).alias(line::PAIRING),
        lit(side).alias(line::SIDE),
        col(LOCATION),
        col(ITEM_KEY),
        col(QTY),
    ])
}

/// Reads the baseline in `dir`, if one was stored there.
pub fn load(dir: &Path) -> Result<Option<Baseline>> {
    let path = dir.join(BASELINE);
    if !path.exists() {
        return Ok(None);
    }
    let file = std::fs::File::open(&path)
        .with_context(|| format!("cannot open the baseline {}", path.display()))?;
    let frame = anyhow::Context::with_context(ParquetReader::new(file).finish(), || {
        format!("{}: not a tally baseline", path.display())
    })?;
    let info_path = dir.join(BASELINE_INFO);
    let info: BaselineInfo = serde_json::from_slice(
        &std::fs::read(&info_path)
            .with_context(|| format!("cannot read {}", info_path.display()))?,
    )
    .with_context(|| format!("{}: not a tally baseline record", info_path.display()))?;
    for c in [line::PAIRING, line::SIDE, LOCATION, ITEM_KEY, QTY] {
        anyhow::ensure!(
            frame.column(c).is_ok(),
            "{}: not a tally baseline (no column {c})",
            path.display()
        );
    }
    Ok(Some(Baseline { frame, info }))
}

/// Stores `state` as the baseline in `dir`: written beside, then renamed over the old
/// one, so a failed write leaves the previous baseline whole.
pub fn store(dir: &Path, state: DataFrame, run_id: &str) -> Result<PathBuf> {
    stage(dir, state, run_id, None, 0)?.commit()
}

/// The lock file of a state folder (files::FolderLock).
pub const STATE_LOCK: &str = ".tally.lock";

/// A shard run's part of the baseline, in its run directory.
pub const SHARD_PART: &str = "baseline-part.parquet";

/// A baseline written beside the current one, not yet in its place: a run stages its
/// baseline before it moves its run directory into place and commits it after, so that
/// a state folder that cannot be written stops the run before anything is in place.
/// Dropped without `commit`, it removes what it wrote.
pub struct StagedBaseline {
    /// (written, final) paths.
    files: Vec<(PathBuf, PathBuf)>,
    committed: bool,
}

impl StagedBaseline {
    pub fn commit(mut self) -> Result<PathBuf> {
        for (partial, path) in &self.files {
            std::fs::rename(partial, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        self.committed = true;
        Ok(self.files[0].1.clone())
    }
}

impl Drop for StagedBaseline {
    fn drop(&mut self) {
        if !self.committed {
            for (partial, _) in &self.files {
                let _ = std::fs::remove_file(partial);
            }
        }
    }
}

/// Stages the baseline a run leaves: the whole of `state` when the run covered every
/// location (`covered` = None), else the stored baseline with the covered locations'
/// rows replaced by `state` and every other location's rows kept, so a run of some
/// stores (or a merge of shards run with --location) moves only their baseline on.
pub fn stage_for(
    dir: &Path,
    state: DataFrame,
    run_id: &str,
    run_dir: &Path,
    covered: Option<&[String]>,
) -> Result<StagedBaseline> {
    let Some(covered) = covered else {
        return stage(dir, state, run_id, Some(run_dir), 0);
    };
    let Some(old) = load(dir)? else {
        return stage(dir, state, run_id, Some(run_dir), 0);
    };
    let list = Series::new("covered".into(), covered.to_vec());
    let kept = old
        .frame
        .lazy()
        .filter(col(LOCATION).is_in(lit(list).implode(false), false).not());
    let qty = state.column(QTY)?.dtype().clone();
    let merged = concat(
        [kept.with_column(col(QTY).cast(qty)), state.lazy()],
        UnionArgs::default(),
    )?
    .collect()?;
    stage(dir, merged, run_id, Some(run_dir), 0)
}

/// Writes the baseline's files beside the current ones (see `StagedBaseline`). A run
/// that stores its baseline (`run_dir` given) is added to the record's runs; an apply
/// moving the baseline on keeps them.
pub fn stage(
    dir: &Path,
    mut state: DataFrame,
    run_id: &str,
    run_dir: Option<&Path>,
    applied: u64,
) -> Result<StagedBaseline> {
    let mut runs = info(dir).map(|i| i.runs).unwrap_or_default();
    if let Some(run_dir) = run_dir {
        runs.retain(|r| r.run_id != run_id);
        runs.push(RunRef {
            run_id: run_id.to_string(),
            run_dir: std::path::absolute(run_dir).unwrap_or_else(|_| run_dir.to_path_buf()),
        });
        let over = runs.len().saturating_sub(RUNS_KEPT);
        runs.drain(..over);
    }
    crate::files::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(BASELINE);
    let partial = dir.join(format!(".{BASELINE}.partial"));
    let mut staged = StagedBaseline {
        files: vec![(partial.clone(), path)],
        committed: false,
    };
    crate::files::write_parquet(&partial, &mut state, ParquetCompression::default(), true)?;
    let info = BaselineInfo {
        run_id: run_id.to_string(),
        written_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        rows: state.height() as u64,
        applied,
        runs,
    };
    let info_partial = dir.join(format!(".{BASELINE_INFO}.partial"));
    staged
        .files
        .push((info_partial.clone(), dir.join(BASELINE_INFO)));
    crate::files::write(&info_partial, &serde_json::to_vec_pretty(&info)?)
        .with_context(|| format!("cannot write {}", info_partial.display()))?;
    Ok(staged)
}

/// What applying a run did to the baseline in its state folder.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterApply {
    /// The corrected sides of these many lines now hold their new values.
    Moved(u64),
    /// A later run stored its own baseline: left as it is.
    NotThisRun,
    /// The state folder holds no baseline (moved, or another machine's path).
    Missing,
}

/// Moves the baseline on by the corrections written back: the corrected side of each
/// `written` line holds `new_qty` now (in the compared unit, which is what the baseline
/// keeps); `newly` of them were written by this apply, the rest by an earlier one.
/// Only the run's own baseline is moved: a later run's baseline already saw the
/// systems after the write.
pub fn after_apply(
    dir: &Path,
    run_id: &str,
    corrections: &DataFrame,
    written: &[u64],
    newly: u64,
) -> Result<AfterApply> {
    let Some(baseline) = load(dir)? else {
        return Ok(AfterApply::Missing);
    };
    if baseline.info.run_id != run_id {
        return Ok(AfterApply::NotThisRun);
    }
    let qty = baseline.frame.column(QTY)?.dtype().clone();
    let lines = Series::new(line::LINE.into(), written);
    let now = corrections
        .clone()
        .lazy()
        .filter(col(line::LINE).is_in(lit(lines).implode(false), false))
        .select([
            col(line::PAIRING),
            col(correction::TARGET).alias(line::SIDE),
            col(LOCATION),
            col(ITEM_KEY),
            col(correction::NEW_QTY).cast(qty).alias(QTY),
        ]);
    let on = || {
        [
            col(line::PAIRING),
            col(line::SIDE),
            col(LOCATION),
            col(ITEM_KEY),
        ]
    };
    // The rows the corrections replace are dropped (a left join and a marker: polars'
    // anti join is a feature this build leaves out), the new values added.
    let replaced = now.clone().select(
        on().into_iter()
            .chain([lit(true).alias("_replaced")])
            .collect::<Vec<_>>(),
    );
    let kept = baseline
        .frame
        .clone()
        .lazy()
        .join(replaced, on(), on(), JoinArgs::new(JoinType::Left))
        .filter(col("_replaced").is_null())
        .drop(cols(["_replaced"]));
    let moved = concat([kept, now], UnionArgs::default())?.collect()?;
    let applied = baseline.info.applied + newly;
    stage(dir, moved, run_id, None, applied)?.commit()?;
    Ok(AfterApply::Moved(written.len() as u64))
}

/// Adds `baseline_book_qty`, `baseline_observed_qty` and `change` to quantity lines
/// (null everywhere without a baseline, and on other kinds).
pub fn annotate(lines: LazyFrame, baseline: Option<&Baseline>) -> LazyFrame {
    let Some(baseline) = baseline else {
        return lines.with_columns([
            lit(NULL).cast(qty_type()).alias(line::BASELINE_BOOK_QTY),
            lit(NULL)
                .cast(qty_type())
                .alias(line::BASELINE_OBSERVED_QTY),
            lit(NULL).cast(DataType::String).alias(line::CHANGE),
        ]);
    };
    let side = |name: &str| {
        baseline
            .frame
            .clone()
            .lazy()
            .filter(col(line::SIDE).eq(lit(name)))
            .select([
                col(line::PAIRING),
                col(LOCATION),
                col(ITEM_KEY),
                col(QTY)
                    .cast(qty_type())
                    .alias(format!("baseline_{name}_qty")),
                lit(true).alias(format!("_in_baseline_{name}")),
            ])
    };
    let on = || [col(line::PAIRING), col(LOCATION), col(ITEM_KEY)];
    let joined = lines
        .join(side("book"), on(), on(), JoinArgs::new(JoinType::Left))
        .join(side("observed"), on(), on(), JoinArgs::new(JoinType::Left));
    // Null-safe: an item absent then and now has not changed.
    let changed = |now: &str, then: &str| col(now).neq_missing(col(then));
    let qty_line = [
        Kind::MissingInBook,
        Kind::MissingInObserved,
        Kind::QtyMismatch,
        Kind::Explained,
    ]
    .iter()
    .fold(lit(false), |a, k| a.or(col(line::KIND).eq(lit(k.as_str()))));
    let book = changed(line::BOOK_QTY, line::BASELINE_BOOK_QTY);
    let observed = changed(line::OBSERVED_QTY, line::BASELINE_OBSERVED_QTY);
    joined
        .with_column(
            when(qty_line.not())
                .then(lit(NULL).cast(DataType::String))
                .when(book.clone().and(observed.clone()))
                .then(lit(BOTH))
                .when(book)
                .then(lit(BOOK_ONLY))
                .when(observed)
                .then(lit(OBSERVED_ONLY))
                .otherwise(lit(NONE))
                .alias(line::CHANGE),
        )
        .drop(cols(["_in_baseline_book", "_in_baseline_observed"]))
        // A conflict's line shows the baseline and both new values.
        .with_column(
            when(col(line::CHANGE).eq(lit(BOTH)).fill_null(lit(false)))
                .then(conflict_detail())
                .otherwise(col(line::DETAIL))
                .alias(line::DETAIL),
        )
}

/// The detail of a conflict: the baseline and both new values.
fn conflict_detail() -> Expr {
    let show = |c: &str| crate::precision::exact_expr(col(c)).fill_null(lit("absent"));
    concat_str(
        [
            lit("changed on both sides since the baseline: book "),
            show(line::BASELINE_BOOK_QTY),
            lit(" → "),
            show(line::BOOK_QTY),
            lit(", observed "),
            show(line::BASELINE_OBSERVED_QTY),
            lit(" → "),
            show(line::OBSERVED_QTY),
        ],
        "",
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify;
    use crate::matching::reconcile;
    use crate::testing::snapshot;

    fn baseline(rows: &[(&str, &str, &str)]) -> Baseline {
        let frame = df![
            "pairing" => vec!["p"; rows.len()],
            "side" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            LOCATION => vec!["S1"; rows.len()],
            ITEM_KEY => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            QTY => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        ]
        .unwrap()
        .lazy()
        .with_column(col(QTY).cast(qty_type()))
        .collect()
        .unwrap();
        Baseline {
            frame,
            info: BaselineInfo {
                run_id: "r".into(),
                written_at: String::new(),
                rows: rows.len() as u64,
                applied: 0,
                runs: Vec::new(),
            },
        }
    }

    fn changes(
        book: &[crate::testing::Row],
        observed: &[crate::testing::Row],
        b: &Baseline,
    ) -> Vec<String> {
        let m = reconcile(snapshot("erp", book), snapshot("pos", observed)).unwrap();
        let lines = classify::finish(classify::lines(&m, "p", Some(b)).unwrap().with_columns([
            lit("r").alias("rule"),
            lit("high").alias("severity"),
            lit("review").alias("resolution"),
            lit(NULL).cast(DataType::String).alias("reason"),
            lit(NULL).cast(DataType::String).alias("approval"),
        ]))
        .unwrap();
        lines
            .column("change")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|c| c.unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn each_side_is_compared_with_its_own_baseline() {
        let b = baseline(&[
            ("book", "A", "10"),
            ("observed", "A", "8"),
            ("book", "B", "5"),
            ("observed", "B", "4"),
            ("book", "C", "7"),
            ("observed", "C", "6"),
            ("book", "D", "1"),
            ("observed", "D", "2"),
        ]);
        let got = changes(
            &[
                ("S1", "A", "12", None),
                ("S1", "B", "5", None),
                ("S1", "C", "9", None),
                ("S1", "D", "1", None),
                ("S1", "E", "3", None),
            ],
            &[
                ("S1", "A", "8", None),
                ("S1", "B", "3", None),
                ("S1", "C", "5", None),
                ("S1", "D", "2", None),
            ],
            &b,
        );
        // A: book moved; B: count moved; C: both; D: neither; E: new in the book only.
        assert_eq!(
            got,
            ["book_only", "observed_only", "both", "none", "book_only"]
        );
    }
}
