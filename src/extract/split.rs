//! Bounded memory for inputs larger than the machine: the run's locations are put in
//! buckets by a hash, and the pipeline runs once per bucket (locations never match
//! across each other, so each bucket is a complete reconciliation of its locations).
//!
//! Big CSV files are split once, in one streaming pass: each record goes to its
//! location's bucket file (under a temporary folder beside the runs), with its original
//! line number in a side file so that messages still name the real line. The pass also
//! hashes the file for the manifest. Sources that cannot be split by record (databases,
//! spreadsheets, wide exports, a fixed location) are read once and their rows parted by
//! bucket into parquet work files.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::Utc;
use polars::prelude::*;
use sha2::{Digest, Sha256};

use super::records::{Records, is_blank};
use crate::columns::{Field, LOCATION};
use crate::input::{InputFile, Snapshot};
use crate::job::{Encoding, Format, Job, Source};

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

/// Size of the blocks the split pass reads.
const BLOCK: usize = 8 << 20;

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
        let file = crate::files::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        ParquetWriter::new(file)
            .with_compression(ParquetCompression::Uncompressed)
            .finish(&mut part)?;
        parts.push(path);
    }
    Ok(WholeSource {
        parts,
        inputs: snapshot.inputs,
    })
}

/// One CSV file split into buckets.
struct SplitFile {
    input: InputFile,
    /// Per bucket: the file's header lines, then the bucket's records.
    parts: Vec<PathBuf>,
    /// Per bucket: the records' line numbers in the original file (u64, little-endian).
    lines: Vec<PathBuf>,
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
        let file = crate::files::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        ParquetWriter::new(file)
            .with_compression(ParquetCompression::Uncompressed)
            .finish(&mut lines)?;
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

/// The bucket of a location (stable within a run; empty locations go to bucket 0).
fn bucket_of(location: &str, count: u32) -> u32 {
    if location.is_empty() || count == 1 {
        return 0;
    }
    // Bytes 8..16 of the digest: independent of the shard hash (bytes 0..8), so the
    // buckets of one shard are as even as the shards themselves.
    let digest = Sha256::digest(location.as_bytes());
    let n = u64::from_be_bytes(digest[8..16].try_into().expect("8 bytes"));
    (n % u64::from(count)) as u32
}

/// CSV files whose location is a column of their own can be split by record.
fn can_split(source: &Source) -> bool {
    matches!(source.format, Format::Csv { .. })
        && source.layout.unpivot.is_none()
        && source.layout.fixed_location.is_none()
        && source.layout.header_marker.is_none()
        && source.layout.columns.contains_key(&Field::Location)
}

/// Splits one file; `None` when the file does not look as the job says (no such
/// header, undecodable text): it is then read whole, where the error is worded.
fn split_file(source: &Source, path: &Path, count: u32, to: &Path) -> Result<Option<SplitFile>> {
    let Format::Csv {
        delimiter,
        encoding,
    } = source.format
    else {
        return Ok(None);
    };
    // Delimiters and line ends are found in the raw bytes: UTF-16 is read whole.
    if !encoding.ascii_compatible() {
        return Ok(None);
    }
    let layout = &source.layout;
    let extracted_at = Utc::now();
    let mut file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK * 2);
    let mut eof = false;
    let mut fill = |buf: &mut Vec<u8>, eof: &mut bool| -> Result<()> {
        let start = buf.len();
        buf.resize(start + BLOCK, 0);
        let n = file
            .read(&mut buf[start..])
            .with_context(|| format!("cannot read {}", path.display()))?;
        buf.truncate(start + n);
        hasher.update(&buf[start..]);
        size += n as u64;
        *eof = n == 0;
        Ok(())
    };

    // The preamble: every line up to and including the header and the skipped rows.
    let preamble_lines = layout.header_row + layout.skip_rows;
    let preamble_end = loop {
        if let Some(end) = memchr::memchr_iter(b'\n', &buf)
            .nth(preamble_lines - 1)
            .map(|i| i + 1)
        {
            break end;
        }
        if eof {
            return Ok(None);
        }
        fill(&mut buf, &mut eof)?;
    };
    let preamble = buf[..preamble_end].to_vec();
    let Some(preamble_text) = decode(&preamble, encoding) else {
        return Ok(None);
    };
    let body = preamble_text
        .strip_prefix('\u{feff}')
        .unwrap_or(&preamble_text);
    let headers = super::csv::header_fields(body.as_bytes(), layout.header_row, delimiter);
    let Some(location_header) = layout.for_headers(&headers).remove(&Field::Location) else {
        return Ok(None);
    };
    let Some(column) = headers.iter().position(|h| *h == location_header) else {
        return Ok(None);
    };
    buf.drain(..preamble_end);

    let mut parts = Vec::with_capacity(count as usize);
    let mut line_files = Vec::with_capacity(count as usize);
    let mut writers = Vec::with_capacity(count as usize);
    for b in 0..count {
        let part = to.join(format!("{b}.csv"));
        let lines = to.join(format!("{b}.lines"));
        let mut w = BufWriter::with_capacity(1 << 16, crate::files::create(&part)?);
        w.write_all(&preamble)?;
        let l = BufWriter::with_capacity(1 << 14, crate::files::create(&lines)?);
        writers.push((w, l));
        parts.push(part);
        line_files.push(lines);
    }

    let names = &layout.location_names;
    let mut memo: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut bucket = |field: &[u8]| -> Option<u32> {
        if let Some(b) = memo.get(field) {
            return Some(*b);
        }
        let text = decode(&unquote(field), encoding)?;
        // As layout.rs maps names: trimmed, then looked up.
        let location = if names.is_empty() {
            text.as_str()
        } else {
            let t = text.trim();
            names.get(t).map_or(t, String::as_str)
        };
        let b = bucket_of(location, count);
        memo.insert(field.to_vec(), b);
        Some(b)
    };

    let mut line = preamble_lines as u64 + 1;
    loop {
        let complete = if eof {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                None => {
                    fill(&mut buf, &mut eof)?;
                    continue;
                }
            }
        };
        let region = &buf[..complete];
        if encoding.is_utf8() && std::str::from_utf8(region).is_err() {
            return Ok(None);
        }
        let mut records = Records::new(region);
        for (record, lines_in_record) in records.by_ref() {
            if is_blank(record, delimiter) {
                line += lines_in_record;
                continue;
            }
            let Some(b) = bucket(field_at(trim_newline(record), column, delimiter)) else {
                return Ok(None);
            };
            let (w, l) = &mut writers[b as usize];
            w.write_all(record)?;
            if !record.ends_with(b"\n") {
                w.write_all(b"\n")?;
            }
            l.write_all(&line.to_le_bytes())?;
            line += lines_in_record;
        }
        let consumed = records.consumed();
        if eof {
            // An unterminated quote runs to the end: leave it to the reader to report.
            if consumed < region.len() {
                return Ok(None);
            }
            break;
        }
        buf.drain(..consumed);
        fill(&mut buf, &mut eof)?;
    }
    for (mut w, mut l) in writers {
        w.flush()?;
        l.flush()?;
    }
    Ok(Some(SplitFile {
        input: InputFile {
            source: source.name.clone(),
            path: path.to_path_buf(),
            size,
            sha256: format!("{:x}", hasher.finalize()),
            records: 0,
            rows: 0,
            skipped: 0,
            undecodable_rows: 0,
            extracted_at,
        },
        parts,
        lines: line_files,
    }))
}

/// Text in an ASCII-compatible encoding, if every byte decodes (else the file is read
/// whole, where bad bytes are reported or counted).
fn decode(bytes: &[u8], encoding: Encoding) -> Option<String> {
    if encoding.is_utf8() {
        return std::str::from_utf8(bytes).ok().map(str::to_string);
    }
    let (text, errors) = encoding.0.decode_without_bom_handling(bytes);
    (!errors).then(|| text.into_owned())
}

fn trim_newline(record: &[u8]) -> &[u8] {
    let r = record.strip_suffix(b"\n").unwrap_or(record);
    r.strip_suffix(b"\r").unwrap_or(r)
}

/// The raw bytes of field `index` of one record (quotes still on).
fn field_at(record: &[u8], index: usize, delimiter: u8) -> &[u8] {
    let mut field = 0;
    let mut start = 0;
    let mut in_quotes = false;
    for (i, &b) in record.iter().enumerate() {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == delimiter && !in_quotes {
            if field == index {
                return &record[start..i];
            }
            field += 1;
            start = i + 1;
        }
    }
    if field == index {
        &record[start..]
    } else {
        b""
    }
}

/// A field as the CSV reader gives it: outer quotes off, doubled quotes single.
fn unquote(field: &[u8]) -> Vec<u8> {
    match field {
        [b'"', inner @ .., b'"'] => {
            let mut out = Vec::with_capacity(inner.len());
            let mut i = 0;
            while i < inner.len() {
                out.push(inner[i]);
                if inner[i] == b'"' && inner.get(i + 1) == Some(&b'"') {
                    i += 1;
                }
                i += 1;
            }
            out
        }
        _ => field.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_respect_quotes() {
        let r = br#"BOS-01,"SKU, ""big""",3"#;
        assert_eq!(field_at(r, 0, b','), b"BOS-01");
        assert_eq!(field_at(r, 1, b','), br#""SKU, ""big""""#);
        assert_eq!(unquote(field_at(r, 1, b',')), br#"SKU, "big""#);
        assert_eq!(field_at(r, 2, b','), b"3");
        assert_eq!(field_at(r, 5, b','), b"");
    }

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
