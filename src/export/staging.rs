//! Where an export is written before it is complete: a hidden temporary
//! directory beside `--out`, renamed into place at the very end. A failed
//! or interrupted export removes it, so nothing partial is ever at `--out`
//! (an earlier export there stays as it was).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::UsageError;

use super::manifest::FILE as MANIFEST;

/// The `--out` that writes the sql export to stdout.
pub const STDOUT: &str = "-";

/// The temporary directory of one export.
pub struct Staging {
    dir: tempfile::TempDir,
    out: PathBuf,
    directory: bool,
}

impl Staging {
    /// Checks that `out` may be written (or replaced) and creates the
    /// temporary directory beside it. `directory`: the export is a
    /// directory (csv, jsonl) rather than one file (sql).
    pub fn new(out: &Path, directory: bool) -> Result<Staging> {
        if out == Path::new(STDOUT) {
            // Staged in the temporary directory and sent to stdout only
            // when complete: a failed run sends nothing down the pipe.
            let dir = tempfile::Builder::new()
                .prefix(".stdout.anonymize-")
                .tempdir()
                .context("creating a temporary directory for the export")?;
            return Ok(Staging {
                dir,
                out: out.to_path_buf(),
                directory: false,
            });
        }
        check_replaceable(out, directory)?;
        let name = out
            .file_name()
            .ok_or_else(|| {
                UsageError::new(format!(
                    "--out {}: name a file or a directory",
                    out.display()
                ))
            })?
            .to_string_lossy()
            .into_owned();
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(UsageError::new(format!(
                "--out {}: the directory {} does not exist; create it first",
                out.display(),
                parent.display()
            ))
            .into());
        }
        // Same directory as `out`, so the final rename stays on one
        // filesystem and is atomic.
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{name}.anonymize-"))
            .tempdir_in(&parent)
            .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
        Ok(Staging {
            dir,
            out: out.to_path_buf(),
            directory,
        })
    }

    /// The scratch directory (parts of a sql export).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// What becomes `--out`: the sql file, or the export directory.
    pub fn result(&self) -> PathBuf {
        self.dir.path().join("export")
    }

    /// Moves the finished export to `--out`, replacing an earlier export
    /// there. Of an earlier directory export, only the files its own
    /// manifest lists are replaced: anything else a person keeps there
    /// (a README, `.gitkeep`, notes) moves into the new export first.
    pub fn commit(self) -> Result<()> {
        let result = self.result();
        if self.out == Path::new(STDOUT) {
            let copied = std::fs::File::open(&result).and_then(|mut f| {
                let mut out = std::io::stdout().lock();
                std::io::copy(&mut f, &mut out)?;
                std::io::Write::flush(&mut out)
            });
            self.abort();
            return copied.context("writing the export to stdout");
        }
        check_replaceable(&self.out, self.directory)?;
        let mut carried: Vec<std::ffi::OsString> = Vec::new();
        if self.directory && self.out.exists() {
            let listed = listed_by_manifest(&self.out);
            for entry in std::fs::read_dir(&self.out)
                .with_context(|| format!("reading {}", self.out.display()))?
            {
                let name = entry?.file_name();
                if listed.contains(&name) || result.join(&name).exists() {
                    continue;
                }
                if let Err(e) = std::fs::rename(self.out.join(&name), result.join(&name)) {
                    self.put_back(&carried);
                    return Err(e).with_context(|| {
                        format!(
                            "keeping {} in the new export",
                            self.out.join(&name).display()
                        )
                    });
                }
                carried.push(name);
            }
            // A directory cannot be renamed over a non-empty one: the old
            // export moves into the scratch directory, removed below.
            if let Err(e) = std::fs::rename(&self.out, self.dir.path().join("previous")) {
                self.put_back(&carried);
                return Err(e).with_context(|| {
                    format!("moving the earlier export {} aside", self.out.display())
                });
            }
        }
        std::fs::rename(&result, &self.out)
            .with_context(|| format!("moving the export to {}", self.out.display()))?;
        self.abort();
        Ok(())
    }

    /// Undoes the moves of `commit` when it cannot finish.
    fn put_back(&self, carried: &[std::ffi::OsString]) {
        for name in carried {
            let _ = std::fs::rename(self.result().join(name), self.out.join(name));
        }
    }

    /// Removes everything written. A file writer of the blocking pool may
    /// still be finishing a batch, so removal is tried a few times.
    pub fn abort(self) {
        let path = self.dir.keep();
        for _ in 0..20 {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
        tracing::warn!(path = %path.display(), "could not remove the temporary export; remove it by hand");
    }
}

/// The entries of an earlier export directory that it wrote itself: its
/// manifest, its schema script and its table files. Nothing else there is
/// ever deleted.
fn listed_by_manifest(dir: &Path) -> Vec<std::ffi::OsString> {
    let Some(manifest) = std::fs::read_to_string(dir.join(MANIFEST))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return Vec::new();
    };
    let mut names = vec![std::ffi::OsString::from(MANIFEST)];
    let files = manifest["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| &t["file"])
        .chain([&manifest["schema"]]);
    // Only plain names inside the directory: a manifest edited to list
    // `../x` or `/etc` lists nothing here.
    names.extend(
        files
            .filter_map(|f| f.as_str())
            .filter(|f| Path::new(f).components().count() == 1 && !f.contains(['/', '\\']))
            .filter(|f| *f != "." && *f != "..")
            .map(std::ffi::OsString::from),
    );
    names
}

/// An existing `out` may be replaced when it is what this export makes: a
/// file for sql; for csv/jsonl an empty directory or an earlier export
/// (one holding our manifest.json). Anything else is refused before work
/// starts, so no one's directory is ever replaced by mistake.
fn check_replaceable(out: &Path, directory: bool) -> Result<()> {
    let Ok(meta) = std::fs::metadata(out) else {
        return Ok(());
    };
    match (directory, meta.is_dir()) {
        (false, false) => Ok(()),
        (false, true) => Err(UsageError::new(format!(
            "--out {} is a directory, and --format sql writes one file; name a file such as {}",
            out.display(),
            out.join("seed.sql").display()
        ))
        .into()),
        (true, false) => Err(UsageError::new(format!(
            "--out {} is a file, and --format csv/jsonl writes a directory; remove it or choose another path",
            out.display()
        ))
        .into()),
        (true, true) => {
            let empty = std::fs::read_dir(out)
                .with_context(|| format!("reading {}", out.display()))?
                .next()
                .is_none();
            let ours = std::fs::read_to_string(out.join(MANIFEST))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .is_some_and(|v| v["tool"]["name"] == "anonymize");
            if empty || ours {
                Ok(())
            } else {
                Err(UsageError::new(format!(
                    "--out {} is a directory that holds no anonymize export (no {MANIFEST}); \
                     choose another path, or empty it first",
                    out.display()
                ))
                .into())
            }
        }
    }
}
