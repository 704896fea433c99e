//! Bounded memory for inputs larger than the machine: the run's locations are put in
//! buckets by a hash, and the pipeline runs once per bucket (locations never match
//! across each other, so each bucket is a complete reconciliation of its locations).
//!
//! Big CSV files are split once by `split.rs`. Sources that cannot be split by record
//! (databases, spreadsheets, wide exports, a fixed location) are read once and their
//! rows parted by bucket into parquet work files.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use polars::prelude::*;

use super::split::{SplitFile, bucket_of, split_file};
use crate::columns::{Field, LOCATION};
use crate::input::{InputFile, Snapshot};
use crate::job::{Format, Job, Source};

/// What a run holds in memory per byte of CSV input, measured on the benchmark's
/// snapshots (peak RSS over input bytes, rounded up).
pub const MEMORY_PER_INPUT_BYTE: u64 = 9;

/// Bytes of CSV per bucket when inputs are split. Small buckets are faster, not only
/// leaner: their buffers are reused from one bucket to the next instead of being
/// faulted in fresh (20M rows: 13.8 s with 155 MB buckets, 9.3 s with 39 MB or 19 MB,
/// 10.5 s with 5 MB, where per-bucket costs start to show).
const BUCKET_BYTES: u64 = 32 << 20;

/// More buckets than this only add open files: each is already small.
const MAX_BUCKETS: u32 = 512;

/// The buckets of one run: how many, and the CSV files already split into them.
pub struct Buckets {
    pub count: u32,
    /// Buckets reconciled at the same time (each on its own thread).
    pub workers: u32,
    files: HashMap<PathBuf, SplitFile>,
    /// Sources that cannot be split by record (databases, spreadsheets, wide exports,
    /// fixed locations): read once, their rows parted by bucket into parquet files.
    whole: HashMap<String, WholeSource>,
    /// Holds the bucket files; removed when the run is done, whatever happened.
    _dir: Option<tempfile::TempDir>,
    /// Keeps the work folder from being taken for a dead run's (files::Claim).
    _claim: Option<crate::files::Claim>,
}

/// A bucket's discrepancy lines, in memory or in a file of the work folder.
pub enum SetAside {
    Held(DataFrame),
    File(PathBuf),
}

impl SetAside {
    pub fn load(self) -> Result<DataFrame> {
        match self {
            SetAside::Held(frame) => Ok(frame),
            SetAside::File(path) => {
                let file =
                    File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
                Ok(ParquetReader::new(file).finish()?)
            }
        }
    }
}

/// How a source that is not split is read whole (extract::extract, given by the caller).
pub type ReadWhole<'a> = &'a dyn Fn(&Source) -> Result<Snapshot>;

/// A source read once, its rows parted by bucket.
struct WholeSource {
    parts: Vec<PathBuf>,
    inputs: Vec<InputFile>,
}

/// Reads a source whole (once, not once per bucket: a database query is costly) and
/// writes its rows to one parquet file per bucket.
fn part_whole(
    source: &Source,
    count: u32,
    dir: &Path,
    read_whole: ReadWhole,
) -> Result<WholeSource> {
    let snapshot = read_whole(source)?;
    let frame = snapshot.frame;
    let buckets = buckets_of(&frame, count)?;
    let mut tagged = frame.clone();
    tagged.with_column(buckets.with_name("_bucket".into()).into_series().into())?;
    let mut by_bucket: HashMap<u32, DataFrame> = HashMap::new();
    for part in tagged.partition_by(["_bucket"], true)? {
        let b = part.column("_bucket")?.u32()?.get(0).unwrap_or(0);
        by_bucket.insert(b, part.drop("_bucket")?);
    }
    let name = source
        .name
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let mut parts = Vec::with_capacity(count as usize);
    for b in 0..count {
        let mut part = by_bucket.remove(&b).unwrap_or_else(|| frame.head(Some(0)));
        let path = dir.join(format!("whole-{name}-{b}.parquet"));
        crate::files::write_parquet(&path, &mut part, ParquetCompression::Uncompressed, false)?;
        parts.push(path);
    }
    Ok(WholeSource {
        parts,
        inputs: snapshot.inputs,
    })
}

/// One bucket's share of a split file, ready for the CSV reader.
pub struct FilePart {
    pub bytes: Vec<u8>,
    pub lines: Vec<u64>,
    pub input: InputFile,
}

impl Buckets {
    /// Everything in one go: no splitting.
    pub fn one() -> Buckets {
        Buckets {
            count: 1,
            workers: 1,
            files: HashMap::new(),
            whole: HashMap::new(),
            _dir: None,
            _claim: None,
        }
    }

    /// Decides how many buckets the job's inputs need to stay within `memory` bytes,
    /// and splits the CSV files that can be split when more than one is needed.
    pub fn plan(job: &Job, memory: u64, work: &Path, read_whole: ReadWhole) -> Result<Buckets> {
        let splittable: Vec<(&Source, &PathBuf)> = job
            .sources
            .iter()
            .filter(|s| job.uses(&s.name) && can_split(s))
            .flat_map(|s| s.files.iter().map(move |f| (s, f)))
            .collect();
        let input_bytes: u64 = splittable
            .iter()
            .filter_map(|(_, f)| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        // Buckets run side by side, one per core, so each gets its share of the budget;
        // much of the pipeline is one thread per bucket, so this also uses every core.
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get() as u32)
            .clamp(1, 8);
        let count = bucket_count(input_bytes, memory / u64::from(workers))
            .max(input_bytes.div_ceil(BUCKET_BYTES) as u32);
        if count <= 1 {
            return Ok(Buckets::one());
        }
        // Each file being split (one per core at a time) keeps two files per bucket open.
        let open_files = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
        let splitting = rayon::current_num_threads() as u64;
        let fit = (open_files.saturating_sub(64) / (2 * splitting)).max(2) as u32;
        let count = count.next_multiple_of(workers).min(MAX_BUCKETS).min(fit);
        crate::files::create_dir_all(work)
            .with_context(|| format!("cannot create {}", work.display()))?;
        let dir = tempfile::Builder::new()
            .prefix(".tally-buckets-")
            .tempdir_in(work)
            .with_context(|| format!("cannot create a work folder in {}", work.display()))?;
        let claim = crate::files::Claim::new(dir.path())?;
        use rayon::prelude::*;
        let splits: Vec<Result<Option<SplitFile>>> = splittable
            .par_iter()
            .enumerate()
            .map(|(n, (source, path))| {
                let to = dir.path().join(n.to_string());
                crate::files::create_dir(&to)?;
                split_file(source, path, count, &to)
            })
            .collect();
        let mut files = HashMap::new();
        for ((_, path), split) in splittable.iter().zip(splits) {
            if let Some(split) = split? {
                files.insert((*path).clone(), split);
            }
        }
        let mut whole = HashMap::new();
        for source in job
            .sources
            .iter()
            .filter(|s| job.uses(&s.name) && !can_split(s))
        {
            let read = part_whole(source, count, dir.path(), read_whole)
                .with_context(|| format!("source `{}`", source.name))?;
            whole.insert(source.name.clone(), read);
        }
        Ok(Buckets {
            count,
            workers,
            whole,
            files,
            _claim: Some(claim),
            _dir: Some(dir),
        })
    }

    /// Puts a finished bucket's lines aside until every bucket is done: on disk when
    /// there are buckets, since small frames kept across buckets pin the allocator's
    /// memory (measured: RSS grew with every bucket, 3.4 GiB at 100M rows).
    pub fn set_aside(&self, bucket: u32, mut lines: DataFrame) -> Result<SetAside> {
        let Some(dir) = &self._dir else {
            return Ok(SetAside::Held(lines));
        };
        let path = dir.path().join(format!("lines-{bucket}.parquet"));
        crate::files::write_parquet(&path, &mut lines, ParquetCompression::Uncompressed, false)?;
        Ok(SetAside::File(path))
    }

    /// This bucket's rows of a source that was read once and parted (see `whole`);
    /// the inputs are reported with bucket 0 only.
    pub fn whole_part(&self, source: &str, bucket: u32) -> Result<Option<Snapshot>> {
        let Some(w) = self.whole.get(source) else {
            return Ok(None);
        };
        let path = &w.parts[bucket as usize];
        let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Some(Snapshot {
            source: source.to_string(),
            frame: ParquetReader::new(file).finish()?,
            inputs: if bucket == 0 {
                w.inputs.clone()
            } else {
                Vec::new()
            },
        }))
    }

    /// This bucket's part of `path`, when the file was split.
    pub fn part(&self, path: &Path, bucket: u32) -> Result<Option<FilePart>> {
        let Some(split) = self.files.get(path) else {
            return Ok(None);
        };
        let b = bucket as usize;
        let bytes = std::fs::read(&split.parts[b])
            .with_context(|| format!("cannot read {}", split.parts[b].display()))?;
        let raw = std::fs::read(&split.lines[b])
            .with_context(|| format!("cannot read {}", split.lines[b].display()))?;
        let lines = raw
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        Ok(Some(FilePart {
            bytes,
            lines,
            input: split.input.clone(),
        }))
    }

    /// Keeps the rows of `frame` whose location is in `bucket` (for files read whole).
    pub fn keep(&self, frame: DataFrame, bucket: u32) -> Result<DataFrame> {
        if self.count == 1 {
            return Ok(frame);
        }
        let mask = buckets_of(&frame, self.count)?.equal(bucket);
        Ok(frame.filter(&mask)?)
    }
}

/// Buckets needed so that each holds at most `memory` bytes by the measured factor.
pub fn bucket_count(input_bytes: u64, memory: u64) -> u32 {
    let need = input_bytes.saturating_mul(MEMORY_PER_INPUT_BYTE);
    need.div_ceil(memory.max(1))
        .clamp(1, u64::from(MAX_BUCKETS)) as u32
}

/// Each row's bucket, by its location (hashed once per distinct location).
fn buckets_of(frame: &DataFrame, count: u32) -> Result<UInt32Chunked> {
    let mut memo: HashMap<&str, u32> = HashMap::new();
    Ok(frame
        .column(LOCATION)?
        .str()?
        .iter()
        .map(|loc| {
            let loc = loc.unwrap_or("");
            Some(*memo.entry(loc).or_insert_with(|| bucket_of(loc, count)))
        })
        .collect())
}

/// CSV files whose location is a column of their own can be split by record.
fn can_split(source: &Source) -> bool {
    matches!(source.format, Format::Csv { .. })
        && source.layout.unpivot.is_none()
        && source.layout.fixed_location.is_none()
        && source.layout.header_marker.is_none()
        && source.layout.columns.contains_key(&Field::Location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_counts_follow_the_budget() {
        assert_eq!(bucket_count(0, 1 << 30), 1);
        assert_eq!(bucket_count(100 << 20, 1 << 30), 1);
        assert_eq!(bucket_count(1 << 30, 1 << 30), MEMORY_PER_INPUT_BYTE as u32);
        for loc in ["BOS-01", "NYC-02", "x"] {
            assert!(bucket_of(loc, 7) < 7);
            assert_eq!(bucket_of(loc, 1), 0);
        }
        assert_eq!(bucket_of("", 7), 0);
    }
}
