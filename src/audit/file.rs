//! [`FileSink`]: the log as JSON lines in a file, appended, fsynced per
//! batch, rotated by size.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::chain::Head;
use super::sink::{AuditBatch, AuditSink};

/// The most bytes read back from the end of a file to find its last line.
const TAIL_READ: u64 = 64 * 1024 * 1024;

/// Appends the log to a file as JSON lines, and makes each batch durable
/// (`fsync`) before it is acknowledged: one `fsync` per batch however many
/// records it holds (group commit), so throughput does not pay one per
/// record.
///
/// With [`rotate_at`](Self::rotate_at), a file that reaches the size is
/// renamed `NAME.1`, `NAME.2`, ... and a new `NAME` started; the chain
/// runs on across them, and [`files`](Self::files) lists them in order for
/// the [`Verifier`](super::Verifier).
///
/// Opened on a file a crash left with a torn last line, it cuts that line
/// off (a `tracing` warning says how many bytes) and goes on from the last
/// whole one: a record is acknowledged only once its line is whole and
/// synced, so nothing acknowledged is lost.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    file: Option<File>,
    len: u64,
    rotate_at: Option<u64>,
    fsync: bool,
}

impl FileSink {
    /// A sink appending to `path` (created if missing, with its directory).
    ///
    /// # Errors
    ///
    /// The file or its directory cannot be created or opened.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            path,
            file: Some(file),
            len,
            rotate_at: None,
            fsync: true,
        })
    }

    /// Starts a new file when the current one reaches `bytes` (at a batch's
    /// end: a file may pass the size by one batch).
    #[must_use]
    pub fn rotate_at(mut self, bytes: u64) -> Self {
        self.rotate_at = Some(bytes.max(1));
        self
    }

    /// Skips `fsync`: a batch is acknowledged once written to the
    /// operating system, and a power loss (not a process crash) can lose
    /// it. For tests and for logs that are not a record of account.
    #[must_use]
    pub fn without_fsync(mut self) -> Self {
        self.fsync = false;
        self
    }

    /// The files of the log at `path`, oldest first: `NAME.1`, `NAME.2`,
    /// ..., then `NAME`.
    ///
    /// # Errors
    ///
    /// The directory cannot be read.
    pub fn files(path: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
        let path = path.as_ref();
        let mut files: Vec<(u64, PathBuf)> = rotated(path)?;
        files.sort();
        let mut files: Vec<PathBuf> = files.into_iter().map(|(_, p)| p).collect();
        if path.exists() {
            files.push(path.to_owned());
        }
        Ok(files)
    }

    fn rotate(&mut self) -> io::Result<()> {
        let next = rotated(&self.path)?.iter().map(|(n, _)| *n).max().unwrap_or(0) + 1;
        if let Some(file) = self.file.take() {
            file.sync_all()?;
        }
        fs::rename(&self.path, numbered(&self.path, next))?;
        self.file = Some(
            OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&self.path)?,
        );
        self.len = 0;
        sync_dir(&self.path)
    }
}

/// `NAME.n` for `path` `NAME`.
fn numbered(path: &Path, n: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{n}"));
    path.with_file_name(name)
}

/// The rotated files of `path`, with their numbers.
fn rotated(path: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.to_owned(),
        None => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut found = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = file
            .strip_prefix(name.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|n| n.parse::<u64>().ok())
        {
            found.push((n, entry.path()));
        }
    }
    Ok(found)
}

/// Makes a rename durable: syncs the directory holding `path` (where the
/// platform allows opening a directory).
fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The last whole line of `file` (of length `len`), and the length up to
/// its end: a torn tail after it is left out.
fn last_line(file: &mut File, len: u64) -> io::Result<(Option<Vec<u8>>, u64)> {
    let start = len.saturating_sub(TAIL_READ);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    file.take(len - start).read_to_end(&mut tail)?;
    let Some(end) = tail.iter().rposition(|&b| b == b'\n') else {
        return Ok((None, start));
    };
    let line_start = tail[..end].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Ok((Some(tail[line_start..end].to_vec()), start + end as u64 + 1))
}

#[async_trait]
impl AuditSink for FileSink {
    async fn write(&mut self, batch: &AuditBatch) -> io::Result<()> {
        if self.rotate_at.is_some_and(|limit| self.len >= limit) {
            self.rotate()?;
        }
        let mut file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("the audit file was lost by an earlier failure"))?;
        let bytes = batch.bytes().clone();
        let fsync = self.fsync;
        let before = self.len;
        let (file, written) = tokio::task::spawn_blocking(move || {
            let written = file
                .write_all(&bytes)
                .and_then(|()| if fsync { file.sync_data() } else { Ok(()) });
            if written.is_err() {
                // Take back a partial write, so that the batch written again
                // follows the last whole line.
                let _ = file.set_len(before);
            }
            (file, written)
        })
        .await
        .map_err(io::Error::other)?;
        self.file = Some(file);
        written?;
        self.len += batch.bytes().len() as u64;
        Ok(())
    }

    async fn head(&mut self) -> io::Result<Option<Head>> {
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        let (line, whole) = last_line(file, self.len)?;
        if whole < self.len {
            tracing::warn!(
                target: "tower_ai::audit",
                path = %self.path.display(),
                bytes = self.len - whole,
                "cutting off a torn last line left by a crash"
            );
            file.set_len(whole)?;
            file.sync_all()?;
            self.len = whole;
        }
        if let Some(line) = line {
            return Head::of_line(&line)
                .map(Some)
                .ok_or_else(|| io::Error::other("the audit file's last line is not a line of a chain"));
        }
        // An empty file after a rotation: the chain goes on from the last
        // rotated file.
        let mut older = rotated(&self.path)?;
        older.sort();
        let Some((_, path)) = older.pop() else {
            return Ok(None);
        };
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let (line, _) = last_line(&mut file, len)?;
        Ok(line.as_deref().and_then(Head::of_line))
    }

    async fn close(&mut self) -> io::Result<()> {
        if let Some(file) = &self.file {
            file.sync_all()?;
        }
        Ok(())
    }
}
