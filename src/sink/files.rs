//! Export files: one table's rows written to a file by the encoder of the
//! export's format (`export::format`). The same rows in the same order
//! give the same bytes (nothing about the time, the host or the version
//! goes in), so fixtures diff cleanly.
//!
//! Rows arrive as COPY text batches from the pipeline. The file work runs
//! on tokio's blocking pool one batch at a time, so the async threads keep
//! serving the other tables' connections; a batch is all that is held.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;

use super::TableSink;

/// Writes COPY text rows in a file format. Made per table by the format
/// (`export::format::Format::encoder`).
pub trait Encoder: Send {
    /// What the file starts with (a CSV header line).
    fn header(&self) -> &[u8] {
        &[]
    }
    /// Writes a batch of whole rows (COPY text) to `out`. Errors name the
    /// table and column, never a value.
    fn encode(&mut self, batch: &[u8], out: &mut dyn Write) -> Result<()>;
}

/// One table's export file.
pub struct FileSink {
    /// `None` only while a batch is being written on the blocking pool.
    writer: Option<Box<Writer>>,
}

struct Writer {
    path: PathBuf,
    out: Box<dyn Output>,
    encoder: Box<dyn Encoder>,
    rows: u64,
}

/// Where a `FileSink`'s bytes go: a file of its own, or a table's place
/// in a sql export (`export::assemble`).
pub trait Output: Write + Send {
    /// Every row was written (`rows` of them).
    fn done(&mut self, rows: u64) -> Result<()>;
}

impl Output for BufWriter<File> {
    fn done(&mut self, _rows: u64) -> Result<()> {
        Ok(self.flush()?)
    }
}

/// Creates an export file readable by its owner only (0600): an export
/// holds a copy of production's rows, the kept columns verbatim, so it is
/// no more public than the database it came from, whatever the umask.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Writes a whole export file (schema, manifest) as `create_private` does.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    create_private(path)?.write_all(bytes)
}

/// Creates an export directory for its owner only (0700), as
/// `create_private` does files.
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

impl FileSink {
    /// Creates `path` (readable by its owner only) and writes what the
    /// encoder starts a file with.
    pub fn create(path: &Path, encoder: Box<dyn Encoder>) -> Result<FileSink> {
        let file = create_private(path).with_context(|| format!("creating {}", path.display()))?;
        FileSink::new(
            path,
            Box::new(BufWriter::with_capacity(1 << 20, file)),
            encoder,
        )
    }

    /// Writes to `out` what the encoder starts a file with; `path` names
    /// the file in errors.
    pub fn new(
        path: &Path,
        mut out: Box<dyn Output>,
        encoder: Box<dyn Encoder>,
    ) -> Result<FileSink> {
        out.write_all(encoder.header())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(FileSink {
            writer: Some(Box::new(Writer {
                path: path.to_path_buf(),
                out,
                encoder,
                rows: 0,
            })),
        })
    }

    /// Runs `f` on the writer on the blocking pool and takes it back.
    async fn blocking<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Writer) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let mut w = self
            .writer
            .take()
            .ok_or_else(|| anyhow!("an export file was used after a failed write"))?;
        let (w, r) = tokio::task::spawn_blocking(move || {
            let r = f(&mut w);
            (w, r)
        })
        .await
        .map_err(|_| anyhow!("an export file writer stopped unexpectedly"))?;
        self.writer = Some(w);
        r
    }
}

impl TableSink for FileSink {
    async fn write(&mut self, batch: Bytes) -> Result<()> {
        self.blocking(move |w| {
            w.rows += memchr::memchr_iter(b'\n', &batch).count() as u64;
            w.encoder
                .encode(&batch, &mut w.out)
                .with_context(|| format!("writing {}", w.path.display()))
        })
        .await
    }

    async fn finish(mut self) -> Result<u64> {
        self.blocking(|w| {
            w.out
                .done(w.rows)
                .with_context(|| format!("writing {}", w.path.display()))?;
            Ok(w.rows)
        })
        .await
    }
}
