//! Files and folders tally creates, with explicit modes, and the locks that keep two
//! tally processes from writing one folder at once.
//!
//! An auditor must be able to rely on what a run leaves: folders are created 0750 and
//! files 0640 (less when the umask takes more away, never more), so no umask makes a run
//! directory, a baseline or a lock file writable by everyone.
//!
//! Locks are std's `File::lock` on a lock file, released by the kernel when the process
//! ends, however it ends. A run holds its job's lock in the output folder (one per job
//! and shard, so the shards of one job run side by side) and the state folder (shared by
//! runs that only read the baseline, exclusive for a whole run that replaces it): a
//! second `tally run` of the same job refuses at once instead of interleaving with the
//! first. A hidden folder being filled is *claimed* by a lock file beside it; what a
//! killed process left half-written (staging, bucket work folders) is removed by the
//! next process that takes a lock on that folder and finds the claim free.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Mode of every folder tally creates.
pub const DIR_MODE: u32 = 0o750;
/// Mode of every file tally creates.
pub const FILE_MODE: u32 = 0o640;

/// `mkdir -p` with mode 0750 for each folder created.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// One new folder, mode 0750.
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new().mode(DIR_MODE).create(path)
}

/// Creates (or truncates) a file, mode 0640.
pub fn create(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Opens a file for appending (and reading), made with mode 0640 when missing.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_all(parent)?;
    }
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Writes a whole file, mode 0640.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes a frame as a new Parquet file, mode 0640, through a buffer: the writer emits
/// its page headers a byte or two at a time, which unbuffered is one system call each
/// (160,000 of them for the benchmark's set-aside lines). `durable` files are synced.
pub fn write_parquet(
    path: &Path,
    frame: &mut polars::prelude::DataFrame,
    compression: polars::prelude::ParquetCompression,
    durable: bool,
) -> Result<()> {
    let file = create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut buffered = std::io::BufWriter::with_capacity(1 << 20, file);
    polars::prelude::ParquetWriter::new(&mut buffered)
        .with_compression(compression)
        .finish(frame)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let file = buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if durable {
        file.sync_all()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Another process holds the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "another tally process is using the {what} {} ({holder}); nothing was done: wait for it \
     to finish (its lock ends with it, however it ends)",
    dir.display()
)]
pub struct Busy {
    pub what: String,
    pub dir: PathBuf,
    pub holder: String,
}

/// How a folder is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// One holder: a whole run writing its baseline, a run of one job.
    Exclusive,
    /// Many readers at once (shard runs reading a baseline), no writer.
    Shared,
}

/// A hold on a lock file in a folder, for as long as the value lives.
#[derive(Debug)]
pub struct FolderLock {
    file: Option<File>,
    path: PathBuf,
    pub dir: PathBuf,
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let_go(file, &self.path);
        }
    }
}

impl FolderLock {
    /// Creates the folder if needed and takes the lock file `name` in it; refuses at once
    /// (naming the holder) when another process holds it. `what` names the folder in
    /// messages. An exclusive holder then removes what killed processes left there.
    pub fn take(dir: &Path, name: &str, hold: Hold, what: &str) -> Result<FolderLock> {
        create_dir_all(dir)
            .with_context(|| format!("cannot create the {what} {}", dir.display()))?;
        let path = dir.join(name);
        let (file, taken) = open_lock(&path, hold)
            .with_context(|| format!("cannot write in the {what} {}", dir.display()))?;
        if !taken {
            let holder = fs::read_to_string(&path).unwrap_or_default();
            return Err(Busy {
                what: what.to_string(),
                dir: dir.to_path_buf(),
                holder: match holder.trim() {
                    "" => "holder unknown".to_string(),
                    h => h.to_string(),
                },
            }
            .into());
        }
        if hold == Hold::Exclusive {
            note_holder(&file)?;
        }
        let lock = FolderLock {
            file: Some(file),
            path,
            dir: dir.to_path_buf(),
        };
        remove_leftovers(&lock.dir);
        Ok(lock)
    }
}

impl FolderLock {
    /// Like `take` (exclusive), but waits for another holder to let go instead of
    /// refusing, saying so on stderr: for a short step at the end of a command.
    pub fn wait(dir: &Path, name: &str, what: &str) -> Result<FolderLock> {
        let mut said = false;
        loop {
            match FolderLock::take(dir, name, Hold::Exclusive, what) {
                Err(e) if e.is::<Busy>() => {
                    if let (false, Some(busy)) = (said, e.downcast_ref::<Busy>()) {
                        eprintln!(
                            "note: waiting for the {what} {} (held by {})",
                            busy.dir.display(),
                            busy.holder
                        );
                        said = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                taken => return taken,
            }
        }
    }
}

/// Opens (creating) a lock file and tries to take it; false when another holds it.
/// A holder removes its lock file when it lets go, so a lock taken on a file that is no
/// longer the one at `path` (removed in between) is let go and tried again.
fn open_lock(path: &Path, hold: Hold) -> std::io::Result<(File, bool)> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(path)?;
        let tried = match hold {
            Hold::Exclusive => file.try_lock(),
            Hold::Shared => file.try_lock_shared(),
        };
        match tried {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok((file, false)),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        let same =
            fs::metadata(path).is_ok_and(|m| m.ino() == file.metadata().map_or(0, |f| f.ino()));
        if same {
            return Ok((file, true));
        }
    }
}

/// Lets a lock go; the last holder removes the lock file (taking it alone first, so no
/// other holder loses it), leaving the folder as it was.
fn let_go(file: File, path: &Path) {
    if file.try_lock().is_ok() {
        let _ = fs::remove_file(path);
    }
    drop(file);
}

/// Who holds a lock, for the message another process shows.
fn note_holder(mut file: &File) -> Result<()> {
    file.set_len(0)?;
    let holder = format!(
        "pid {} since {}",
        std::process::id(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    file.write_all(holder.as_bytes())?;
    Ok(())
}

/// A hidden folder a process is filling (a run directory being staged, bucket work
/// files), with a lock file beside it (`.NAME.lock`) that its writer holds: while the
/// writer lives nobody removes it; once it died, whoever next holds the folder does.
#[derive(Debug)]
pub struct Claim {
    file: Option<File>,
    path: PathBuf,
}

impl Claim {
    /// Claims `staging` (a hidden folder about to be created).
    pub fn new(staging: &Path) -> Result<Claim> {
        let path = lock_of(staging);
        let (file, taken) = open_lock(&path, Hold::Exclusive)
            .with_context(|| format!("cannot create {}", path.display()))?;
        anyhow::ensure!(taken, "{} is held by another process", staging.display());
        note_holder(&file)?;
        Ok(Claim {
            file: Some(file),
            path,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let_go(file, &self.path);
        }
    }
}

fn lock_of(staging: &Path) -> PathBuf {
    let name = staging
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    staging.with_file_name(format!("{name}.lock"))
}

/// A folder without a claim (left by a version before claims) counts as a leftover
/// only when it is this old: a claim is taken before its folder is created.
const UNCLAIMED_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes, in `dir`, what processes that died while writing left: hidden staging
/// folders (`.X.partial`, `.tally-buckets-*`) whose claim nobody holds. (A staged
/// baseline file, `.baseline.parquet.partial`, is written over by the next run's.)
fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let staging = name.starts_with('.')
            && (name.ends_with(".partial") || name.starts_with(".tally-buckets-"))
            && !name.ends_with(".lock");
        if !staging || !path.is_dir() {
            continue;
        }
        let claim = lock_of(&path);
        let dead = if claim.exists() {
            // The claim can be taken only when its writer is gone.
            match open_lock(&claim, Hold::Exclusive) {
                Ok((_file, true)) => {
                    let _ = fs::remove_file(&claim);
                    true
                }
                _ => false,
            }
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > UNCLAIMED_AGE)
        };
        if dead && fs::remove_dir_all(&path).is_ok() {
            eprintln!(
                "note: removed {} (left by a tally process that did not finish)",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_held_folder_is_refused_and_leftovers_go() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("runs");
        // A dead writer's staging (its claim free), a live one's (claim held), a run.
        let dead = out.join(".20261201T000000Z-aa.partial");
        create_dir_all(&dead.join("reports")).unwrap();
        drop(Claim::new(&dead).unwrap());
        write(&lock_of(&dead), b"pid 1").unwrap();
        let live = out.join(".20261201T000000Z-cc.partial");
        let live_claim = Claim::new(&live).unwrap();
        create_dir_all(&live).unwrap();
        create_dir_all(&out.join("20261130T000000Z-bb")).unwrap();
        let held =
            FolderLock::take(&out, ".tally-job.lock", Hold::Exclusive, "output folder").unwrap();
        assert!(!dead.exists(), "a dead writer's staging is removed");
        assert!(live.exists(), "a live writer's staging is left alone");
        assert!(out.join("20261130T000000Z-bb").exists());
        // A second holder (another open file description, as another process has) is
        // refused at once, naming the first.
        let second = FolderLock::take(&out, ".tally-job.lock", Hold::Exclusive, "output folder")
            .unwrap_err();
        assert!(
            second
                .to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{second}"
        );
        // Another job's lock in the same folder is its own.
        FolderLock::take(&out, ".tally-other.lock", Hold::Exclusive, "output folder").unwrap();
        drop(held);
        let again =
            FolderLock::take(&out, ".tally-job.lock", Hold::Exclusive, "output folder").unwrap();
        let mode = fs::metadata(out.join(".tally-job.lock"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o002, 0, "{mode:o}");
        drop(again);
        drop(live_claim);
        // Let go, locks and claims leave no file behind.
        let mut left: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".20261201T000000Z-cc.partial", "20261130T000000Z-bb"]
        );
        // Readers share; a writer is refused while they read.
        let state = dir.path().join("state");
        let r1 = FolderLock::take(&state, ".tally.lock", Hold::Shared, "state folder").unwrap();
        let _r2 = FolderLock::take(&state, ".tally.lock", Hold::Shared, "state folder").unwrap();
        assert!(FolderLock::take(&state, ".tally.lock", Hold::Exclusive, "state folder").is_err());
        drop(r1);
    }
}
