//! The run directory: one per run, never overwritten, never half-written.
//!
//! Everything is written into a hidden staging folder beside the final one (each file
//! itself through a temporary name and a rename) and the folder is renamed into place
//! only when every file is complete. A failed run leaves nothing behind.

pub mod corrections;
pub mod manifest;
pub mod pos_imports;
pub mod publish;
pub mod read;
pub mod recount;
pub mod xlsx;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use polars::prelude::*;
use sha2::{Digest, Sha256};

/// A file the run wrote, as listed in the manifest.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WrittenFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Where a run file's bytes go: the file, hashed and counted on the way, so that the
/// manifest's hashes need no second read.
pub struct Sink {
    inner: BufWriter<File>,
    hasher: Sha256,
    size: u64,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes files into a run's staging folder; shareable between threads.
#[derive(Clone)]
pub struct Files {
    staging: PathBuf,
}

impl Files {
    /// Writes `rel` through a temporary name and a rename; `fill` gets a buffered writer.
    pub fn write_with(
        &self,
        rel: &str,
        fill: impl FnOnce(&mut Sink) -> Result<()>,
    ) -> Result<WrittenFile> {
        let path = self.staging.join(rel);
        if let Some(parent) = path.parent() {
            crate::files::create_dir_all(parent)?;
        }
        let tmp = path.with_file_name(format!(
            ".{}.tmp",
            path.file_name().expect("a file name").to_string_lossy()
        ));
        let file = crate::files::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut sink = Sink {
            inner: BufWriter::new(file),
            hasher: Sha256::new(),
            size: 0,
        };
        fill(&mut sink).with_context(|| format!("cannot write {rel}"))?;
        let Sink {
            inner,
            hasher,
            size,
        } = sink;
        let file = inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &path)?;
        Ok(WrittenFile {
            path: rel.to_string(),
            size,
            sha256: format!("{:x}", hasher.finalize()),
        })
    }

    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) -> Result<WrittenFile> {
        self.write_with(rel, |w| Ok(w.write_all(bytes)?))
    }

    /// A CSV file for people and their spreadsheets: decimals as `precision` shows them
    /// (values rounded to the money scale, quantities and costs exact), and text cells
    /// that a spreadsheet would run as a formula neutralised (`neutralize`).
    pub fn write_csv(
        &self,
        rel: &str,
        frame: &DataFrame,
        precision: &crate::precision::Precision,
    ) -> Result<WrittenFile> {
        let mut frame = precision.for_people(&neutralize(frame)?)?;
        self.write_with(rel, |w| {
            Ok(CsvWriter::new(w).include_header(true).finish(&mut frame)?)
        })
    }

    pub fn write_parquet(&self, rel: &str, frame: &DataFrame) -> Result<WrittenFile> {
        let mut frame = frame.clone();
        self.write_with(rel, |w| {
            ParquetWriter::new(w).finish(&mut frame)?;
            Ok(())
        })
    }
}

pub struct RunDir {
    staging: PathBuf,
    /// Held while the staging folder is filled (files::Claim).
    claim: Option<crate::files::Claim>,
    target: PathBuf,
    committed: bool,
    pub written: Vec<WrittenFile>,
}

impl RunDir {
    pub fn create(output: &Path, run_id: &str) -> Result<RunDir> {
        crate::files::create_dir_all(output)
            .with_context(|| format!("cannot create the output folder {}", output.display()))?;
        let target = output.join(run_id);
        if target.exists() {
            bail!(
                "{} already exists; a run directory is never overwritten",
                target.display()
            );
        }
        let staging = output.join(format!(".{run_id}.partial"));
        let claim = crate::files::Claim::new(&staging)?;
        crate::files::create_dir(&staging)
            .with_context(|| format!("cannot create {}", staging.display()))?;
        Ok(RunDir {
            staging,
            claim: Some(claim),
            target,
            committed: false,
            written: Vec::new(),
        })
    }

    /// Writes `rel` through a temporary name; `fill` gets a buffered writer.
    pub fn write_with(
        &mut self,
        rel: &str,
        fill: impl FnOnce(&mut Sink) -> Result<()>,
    ) -> Result<()> {
        let file = self.files().write_with(rel, fill)?;
        self.written.push(file);
        Ok(())
    }

    /// A handle that writes files into the staging folder from another thread; what it
    /// writes is listed by `add_written`, in the order the caller gives.
    pub fn files(&self) -> Files {
        Files {
            staging: self.staging.clone(),
        }
    }

    /// Where the run directory goes when committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Lists files written through `files()`, before those written so far.
    pub fn add_written_first(&mut self, files: Vec<WrittenFile>) {
        self.written.splice(0..0, files);
    }

    /// Lists files written through `files()`, after those written so far.
    pub fn add_written(&mut self, files: Vec<WrittenFile>) {
        self.written.extend(files);
    }

    pub fn write_bytes(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.write_with(rel, |w| Ok(w.write_all(bytes)?))
    }

    /// See `Files::write_csv`.
    pub fn write_csv(
        &mut self,
        rel: &str,
        frame: &DataFrame,
        precision: &crate::precision::Precision,
    ) -> Result<()> {
        let file = self.files().write_csv(rel, frame, precision)?;
        self.written.push(file);
        Ok(())
    }

    pub fn write_parquet(&mut self, rel: &str, frame: &DataFrame) -> Result<()> {
        let file = self.files().write_parquet(rel, frame)?;
        self.written.push(file);
        Ok(())
    }

    /// Moves the complete run directory into place.
    pub fn commit(mut self) -> Result<PathBuf> {
        fs::rename(&self.staging, &self.target).with_context(|| {
            format!(
                "cannot move the run directory into place at {}",
                self.target.display()
            )
        })?;
        self.committed = true;
        self.claim.take();
        Ok(self.target.clone())
    }
}

/// Text cells beginning with `=`, `+`, `-`, `@`, a tab or a carriage return are what a
/// spreadsheet opening a CSV runs as a formula (CSV injection): such a cell gets a leading
/// `'`, as OWASP advises, unless it is a number (`-5`, `+1.25`), which a spreadsheet reads
/// as the number it is. Only text columns change; numbers and decimals are never touched.
pub fn neutralize(frame: &DataFrame) -> Result<DataFrame> {
    let mut out = frame.clone();
    for name in frame
        .columns()
        .iter()
        .filter(|c| c.dtype() == &DataType::String)
        .map(|c| c.name().clone())
        .collect::<Vec<_>>()
    {
        let text = out.column(&name)?.str()?;
        if !text.iter().flatten().any(is_formula) {
            continue;
        }
        let safe: StringChunked = text.apply_values(|v| {
            if is_formula(v) {
                std::borrow::Cow::Owned(format!("'{v}"))
            } else {
                std::borrow::Cow::Borrowed(v)
            }
        });
        out.with_column(safe.into_series().with_name(name).into_column())?;
    }
    Ok(out)
}

/// A text a spreadsheet would take for a formula: it starts with `=`, `+`, `-`, `@`, a
/// tab or a carriage return, and is not a plain number.
fn is_formula(v: &str) -> bool {
    v.starts_with(['=', '+', '-', '@', '\t', '\r'])
        && rust_decimal::Decimal::from_str_exact(v.trim_start_matches('+')).is_err()
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
        self.claim.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_numbers_are_not() {
        let frame = df!(
            "sku" => [Some("=HYPERLINK(\"x\")"), Some("+1+1"), Some("-5"), Some("@SUM(A1)"),
                      Some("\tTAB"), Some("\rCR"), Some("A-1"), None, Some("-1.25"), Some("-")],
            "qty" => [1i64, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        )
        .unwrap();
        let out = neutralize(&frame).unwrap();
        let skus: Vec<Option<&str>> = out.column("sku").unwrap().str().unwrap().iter().collect();
        assert_eq!(
            skus,
            [
                Some("'=HYPERLINK(\"x\")"),
                Some("'+1+1"),
                Some("-5"),
                Some("'@SUM(A1)"),
                Some("'\tTAB"),
                Some("'\rCR"),
                Some("A-1"),
                None,
                Some("-1.25"),
                Some("'-"),
            ]
        );
        assert_eq!(out.column("qty").unwrap(), frame.column("qty").unwrap());
    }

    #[test]
    fn an_unfinished_run_leaves_nothing() {
        let out = tempfile::tempdir().unwrap();
        {
            let mut dir = RunDir::create(out.path(), "run-1").unwrap();
            dir.write_bytes("reports/summary.md", b"# half").unwrap();
            // Dropped without commit, as when a later stage fails.
        }
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_committed_run_is_never_overwritten() {
        let out = tempfile::tempdir().unwrap();
        let mut dir = RunDir::create(out.path(), "run-1").unwrap();
        dir.write_bytes("manifest.json", b"{}").unwrap();
        let path = dir.commit().unwrap();
        assert_eq!(std::fs::read(path.join("manifest.json")).unwrap(), b"{}");
        let again = RunDir::create(out.path(), "run-1").err().expect("refused");
        assert!(again.to_string().contains("never overwritten"), "{again}");
    }
}
