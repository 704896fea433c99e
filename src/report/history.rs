//! The trend: the job's earlier runs, read from their manifests (each run directory is
//! the record of its night; nothing else has to be kept). The runs are found in three
//! places, so that a trend survives runs written to different folders: the run
//! directories beside this one in the output folder, the runs the state folder's baseline
//! record remembers (sync::RunRef), and the runs the job's audit ledger records. Shard
//! parts are left out (their merge is the run), and so are other jobs' runs. A manifest
//! that cannot be read is skipped: the trend is a picture, the manifest itself is
//! checked by `tally audit verify`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// One earlier run as the summary's trend shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RunPoint {
    pub run_id: String,
    /// The day it started (UTC), as the chart labels it.
    pub day: String,
    pub lines: u64,
    pub needs_person: u64,
    pub value_delta_sum: String,
    pub accuracy_percent: Option<String>,
    pub shrink_percent: Option<String>,
}

/// How many earlier runs the trend shows at most.
pub const RUNS: usize = 12;

/// Where a job's earlier runs may be found.
pub struct Places<'a> {
    /// The folder this run is written to.
    pub output: &'a Path,
    /// The job's state folder, if it keeps one.
    pub state: Option<&'a Path>,
    /// The job's audit ledger, if it keeps one.
    pub ledger: Option<&'a Path>,
}

/// The job's last `RUNS` runs before `this_run`, oldest first.
pub fn earlier_runs(places: &Places, job_file: &Path, this_run: &str) -> Vec<RunPoint> {
    // Run id → its directory; run ids sort by time.
    let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(places.output) {
        for name in entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
        {
            found.insert(name.clone(), places.output.join(name));
        }
    }
    if let Some(info) = places.state.and_then(crate::sync::info) {
        for r in info.runs {
            found.entry(r.run_id).or_insert(r.run_dir);
        }
    }
    if let Some(ledger) = places.ledger {
        for (run_id, dir) in ledger_runs(ledger) {
            found.entry(run_id).or_insert(dir);
        }
    }
    let mut out = Vec::new();
    for (run_id, dir) in found.range(..this_run.to_string()).rev() {
        if out.len() == RUNS {
            break;
        }
        if let Some(p) = point(&dir.join("manifest.json"), job_file).filter(|p| &p.run_id == run_id)
        {
            out.push(p);
        }
    }
    out.reverse();
    out
}

/// The runs a ledger's run headers record, with their run directories.
fn ledger_runs(ledger: &Path) -> Vec<(String, PathBuf)> {
    let Ok(text) = std::fs::read(ledger) else {
        return Vec::new();
    };
    let (entries, _) = crate::audit::ledger::read_chain(&text);
    entries
        .into_iter()
        .filter(|e| e.kind == crate::audit::ledger::EntryKind::RunHeader)
        .filter_map(|e| {
            Some((
                e.body.get("run_id")?.as_str()?.to_string(),
                PathBuf::from(e.body.get("run_dir")?.as_str()?),
            ))
        })
        .collect()
}

fn point(manifest: &Path, job_file: &Path) -> Option<RunPoint> {
    let text = std::fs::read_to_string(manifest).ok()?;
    let m: serde_json::Value = serde_json::from_str(&text).ok()?;
    if !m.get("shard").is_none_or(serde_json::Value::is_null) {
        return None;
    }
    let job = m.pointer("/job/path")?.as_str()?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if !same(Path::new(job), job_file) {
        return None;
    }
    let d = m.get("discrepancies")?;
    let text_of = |k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_string);
    Some(RunPoint {
        run_id: m.get("run_id")?.as_str()?.to_string(),
        day: m.get("started_at")?.as_str()?.get(..10)?.to_string(),
        lines: d.get("lines")?.as_u64()?,
        needs_person: d.get("needs_person")?.as_u64()?,
        value_delta_sum: text_of("value_delta_sum")?,
        accuracy_percent: text_of("accuracy_percent"),
        shrink_percent: text_of("shrink_percent"),
    })
}
