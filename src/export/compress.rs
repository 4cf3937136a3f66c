//! Compression of `.sql.gz` / `.sql.zst` exports, and reading them back.
//!
//! Both encoders are deterministic for the same input: the gzip header
//! carries no time or name (flate2 writes mtime 0), and zstd runs
//! single-threaded at a fixed level.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

/// How an export file is compressed, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// zstd's default level: about gzip's ratio at several times its speed.
const ZSTD_LEVEL: i32 = 3;

/// Suffixes of compressors this build does not write. An export named so
/// would be plain SQL under a name that promises otherwise, and whoever
/// reads it back would find out the hard way: it is refused instead.
const UNSUPPORTED: &[&str] = &[
    "bz2", "bzip2", "tbz", "tbz2", "xz", "txz", "lz", "lz4", "lzma", "lzo", "br", "z", "zip", "7z",
    "tgz", "zstd", "gzip", "sz",
];

impl Compression {
    /// `.gz` → gzip, `.zst` → zstd, a compressor's suffix this build does
    /// not write (`.bz2`, `.xz`, ...) → an error naming the ones it does,
    /// anything else → none.
    pub fn from_path(path: &Path) -> Result<Compression, String> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Ok(Compression::Gzip),
            Some("zst") => Ok(Compression::Zstd),
            Some(ext) if UNSUPPORTED.contains(&ext.to_ascii_lowercase().as_str()) => Err(format!(
                "--out {}: .{ext} compression is not supported; name the file .gz (gzip) \
                 or .zst (zstd), or drop the suffix for plain SQL",
                path.display()
            )),
            _ => Ok(Compression::None),
        }
    }
}

/// A writer that compresses (or not) into `W`; `finish` writes the
/// trailer.
pub enum Writer<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::Encoder<'static, W>),
}

impl<W: Write> Writer<W> {
    pub fn new(inner: W, compression: Compression) -> io::Result<Writer<W>> {
        Ok(match compression {
            Compression::None => Writer::Plain(inner),
            Compression::Gzip => Writer::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::default(),
            )),
            Compression::Zstd => Writer::Zstd(zstd::Encoder::new(inner, ZSTD_LEVEL)?),
        })
    }

    /// Ends the stream and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Writer::Plain(w) => Ok(w),
            Writer::Gzip(w) => w.finish(),
            Writer::Zstd(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Writer::Plain(w) => w.write(buf),
            Writer::Gzip(w) => w.write(buf),
            Writer::Zstd(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Writer::Plain(w) => w.write_all(buf),
            Writer::Gzip(w) => w.write_all(buf),
            Writer::Zstd(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Writer::Plain(w) => w.flush(),
            Writer::Gzip(w) => w.flush(),
            Writer::Zstd(w) => w.flush(),
        }
    }
}

/// Opens a file for reading, decompressing it when its first bytes are a
/// gzip or zstd header (whatever its name says).
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    sniff(File::open(path)?)
}

/// `open` for any reader (stdin): decompresses a gzip or zstd stream,
/// passes anything else through.
pub fn sniff(input: impl Read + Send + 'static) -> io::Result<Box<dyn BufRead + Send>> {
    let mut file = BufReader::with_capacity(1 << 20, input);
    let head = file.fill_buf()?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        // Multi-member: `cat a.gz b.gz` is a valid gzip file too.
        Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(file)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(BufReader::with_capacity(
            1 << 20,
            zstd::Decoder::with_buffer(file)?,
        ))
    } else {
        Box::new(file)
    })
}

/// Reads all of `r` (for tests and small files).
pub fn read_to_string(path: &Path) -> io::Result<String> {
    let mut s = String::new();
    open(path)?.read_to_string(&mut s)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_choose_the_compression_or_are_refused() {
        let c = |p: &str| Compression::from_path(Path::new(p));
        assert_eq!(c("seed.sql.gz"), Ok(Compression::Gzip));
        assert_eq!(c("seed.sql.zst"), Ok(Compression::Zstd));
        assert_eq!(c("seed.sql"), Ok(Compression::None));
        assert_eq!(c("fixtures"), Ok(Compression::None));
        for refused in ["x.sql.bz2", "x.sql.XZ", "x.sql.lz4", "x.zip"] {
            let e = c(refused).unwrap_err();
            assert!(e.contains(".gz (gzip)"), "{refused}: {e}");
        }
    }
}
