//! Export files: one table's rows written to a file in the export's format.
//! The same rows in the same order give the same bytes (nothing about the
//! time, the host or the version goes in), so fixtures diff cleanly.
//!
//! Rows arrive as COPY text batches from the pipeline. `sql` writes them as
//! they are (the body of a `COPY … FROM stdin` block); `csv` and `jsonl`
//! decode each field and write it in their own syntax. The file work runs
//! on tokio's blocking pool one batch at a time, so the async threads keep
//! serving the other tables' connections; a batch is all that is held.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;

use super::TableSink;
use crate::catalog::TypeKind;
use crate::cli::ExportFormat;
use crate::copy_text;
use crate::plan::TablePlan;
use crate::verify::Samples;

/// How a column's values are written in JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// Integers, numeric and floats: a JSON number when PostgreSQL's text
    /// is one (`NaN` and `Infinity` stay strings).
    Number,
    /// `true` / `false`.
    Bool,
    /// Everything else: PostgreSQL's text form as a JSON string.
    Text,
}

impl JsonKind {
    fn of(kind: TypeKind, is_array: bool) -> JsonKind {
        if is_array {
            return JsonKind::Text;
        }
        match kind {
            k if k.is_numeric() => JsonKind::Number,
            TypeKind::Bool => JsonKind::Bool,
            _ => JsonKind::Text,
        }
    }
}

/// One table's export file.
pub struct FileSink {
    /// `None` only while a batch is being written on the blocking pool.
    writer: Option<Box<Writer>>,
    /// Where `--verify` samples go when the table is done.
    samples: Option<Arc<Mutex<Samples>>>,
}

struct Writer {
    path: PathBuf,
    table: String,
    out: BufWriter<File>,
    encoding: Encoding,
    rows: u64,
    sampler: Option<Sampler>,
    spans: Vec<(usize, usize)>,
    decoded: Vec<u8>,
    line: Vec<u8>,
}

enum Encoding {
    CopyText,
    Csv,
    Jsonl {
        /// `"name":` per column, already escaped.
        keys: Vec<Vec<u8>>,
        kinds: Vec<JsonKind>,
        names: Vec<String>,
    },
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
    /// Creates `path` for `plan`'s rows (writing the CSV header). With
    /// `samples`, values of the columns `verify` checks are sampled too,
    /// `sample` per column at most.
    pub fn create(
        path: &Path,
        format: ExportFormat,
        plan: &TablePlan,
        samples: Option<(Arc<Mutex<Samples>>, u32)>,
    ) -> Result<FileSink> {
        let file = create_private(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let names: Vec<String> = plan.columns.iter().map(|c| c.name.clone()).collect();
        let encoding = match format {
            ExportFormat::Sql => Encoding::CopyText,
            ExportFormat::Csv => {
                let mut header = Vec::new();
                for (i, n) in names.iter().enumerate() {
                    if i > 0 {
                        header.push(b',');
                    }
                    csv_field(Some(n.as_bytes()), &mut header);
                }
                header.extend_from_slice(b"\r\n");
                out.write_all(&header)
                    .with_context(|| format!("writing {}", path.display()))?;
                Encoding::Csv
            }
            ExportFormat::Jsonl => Encoding::Jsonl {
                keys: names
                    .iter()
                    .map(|n| {
                        let mut k = serde_json::to_vec(n).expect("a string serializes");
                        k.push(b':');
                        k
                    })
                    .collect(),
                kinds: plan
                    .columns
                    .iter()
                    .map(|c| {
                        plan.table
                            .column(&c.name)
                            .map_or(JsonKind::Text, |col| JsonKind::of(col.kind, col.is_array))
                    })
                    .collect(),
                names,
            },
        };
        let sampler = samples.as_ref().map(|(_, n)| Sampler::new(plan, *n));
        Ok(FileSink {
            writer: Some(Box::new(Writer {
                path: path.to_path_buf(),
                table: plan.table.name.to_string(),
                out,
                encoding,
                rows: 0,
                sampler,
                spans: Vec::new(),
                decoded: Vec::new(),
                line: Vec::new(),
            })),
            samples: samples.map(|(s, _)| s),
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
        self.blocking(move |w| w.write_batch(&batch)).await
    }

    async fn finish(mut self) -> Result<u64> {
        let (rows, sampled) = self
            .blocking(|w| {
                w.out
                    .flush()
                    .with_context(|| format!("writing {}", w.path.display()))?;
                Ok((w.rows, w.sampler.take()))
            })
            .await?;
        if let (Some(samples), Some(sampler)) = (&self.samples, sampled) {
            let table = self
                .writer
                .as_ref()
                .map(|w| w.table.clone())
                .unwrap_or_default();
            let mut samples = samples.lock().expect("samples lock");
            for r in sampler.columns {
                let distinct: HashSet<String> = r.values.into_iter().collect();
                samples.insert((table.clone(), r.name), distinct);
            }
        }
        Ok(rows)
    }
}

impl Writer {
    fn write_batch(&mut self, batch: &[u8]) -> Result<()> {
        self.rows += memchr::memchr_iter(b'\n', batch).count() as u64;
        if let Some(s) = &mut self.sampler {
            s.observe(batch, &mut self.spans, &mut self.decoded);
        }
        let result = match &self.encoding {
            Encoding::CopyText => self.out.write_all(batch).map_err(anyhow::Error::from),
            Encoding::Csv => {
                for row in copy_text::rows(batch) {
                    self.line.clear();
                    copy_text::field_spans(row, &mut self.spans);
                    for (i, &(a, b)) in self.spans.iter().enumerate() {
                        if i > 0 {
                            self.line.push(b',');
                        }
                        let v = copy_text::decode(&row[a..b], &mut self.decoded);
                        csv_field(v, &mut self.line);
                    }
                    self.line.extend_from_slice(b"\r\n");
                    self.out.write_all(&self.line)?;
                }
                Ok(())
            }
            Encoding::Jsonl { keys, kinds, names } => {
                for row in copy_text::rows(batch) {
                    self.line.clear();
                    self.line.push(b'{');
                    copy_text::field_spans(row, &mut self.spans);
                    for (i, &(a, b)) in self.spans.iter().enumerate() {
                        if i > 0 {
                            self.line.push(b',');
                        }
                        self.line.extend_from_slice(&keys[i]);
                        let v = copy_text::decode(&row[a..b], &mut self.decoded);
                        json_value(kinds[i], v, &mut self.line).map_err(|m| {
                            anyhow!("table {}, column {}: {m}", self.table, names[i])
                        })?;
                    }
                    self.line.extend_from_slice(b"}\n");
                    self.out.write_all(&self.line)?;
                }
                Ok(())
            }
        };
        result.with_context(|| format!("writing {}", self.path.display()))
    }
}

/// Appends one CSV field (RFC 4180). NULL is an empty unquoted field and
/// the empty string is `""`, as PostgreSQL's CSV COPY reads them; `\.` is
/// quoted because unquoted it ends a CSV COPY stream.
pub fn csv_field(value: Option<&[u8]>, out: &mut Vec<u8>) {
    let Some(v) = value else {
        return;
    };
    let quote =
        v.is_empty() || v == b"\\." || v.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !quote {
        out.extend_from_slice(v);
        return;
    }
    out.push(b'"');
    let mut start = 0;
    for q in memchr::memchr_iter(b'"', v) {
        out.extend_from_slice(&v[start..=q]);
        out.push(b'"');
        start = q + 1;
    }
    out.extend_from_slice(&v[start..]);
    out.push(b'"');
}

/// Appends one JSON value. Errors say what is wrong, never the value.
pub fn json_value(kind: JsonKind, value: Option<&[u8]>, out: &mut Vec<u8>) -> Result<(), String> {
    let Some(v) = value else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    match kind {
        JsonKind::Number if is_json_number(v) => out.extend_from_slice(v),
        JsonKind::Bool if v == b"t" => out.extend_from_slice(b"true"),
        JsonKind::Bool if v == b"f" => out.extend_from_slice(b"false"),
        _ => {
            let s = std::str::from_utf8(v).map_err(|_| {
                "a value is not valid UTF-8, which JSON cannot hold; export with --format sql or csv"
                    .to_string()
            })?;
            serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
        }
    }
    Ok(())
}

/// Whether `v` is a number in JSON's grammar (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`).
pub fn is_json_number(v: &[u8]) -> bool {
    let digits = |i: &mut usize| {
        let start = *i;
        while v.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    let mut i = usize::from(v.first() == Some(&b'-'));
    match v.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if v.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(v.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(v.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == v.len()
}

/// `export --verify`: a uniform sample of the non-NULL values written to
/// each column `verify` checks (reservoir sampling, with a fixed seed so
/// the same export samples the same values).
struct Sampler {
    size: usize,
    columns: Vec<Reservoir>,
    state: u64,
}

struct Reservoir {
    index: usize,
    name: String,
    seen: u64,
    values: Vec<String>,
}

impl Sampler {
    fn new(plan: &TablePlan, size: u32) -> Sampler {
        Sampler {
            size: size as usize,
            columns: plan
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| crate::verify::is_checked(plan, c))
                .map(|(index, c)| Reservoir {
                    index,
                    name: c.name.clone(),
                    seen: 0,
                    values: Vec::new(),
                })
                .collect(),
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// splitmix64: a fixed, portable sequence; nothing here needs more.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn observe(&mut self, batch: &[u8], spans: &mut Vec<(usize, usize)>, decoded: &mut Vec<u8>) {
        if self.columns.is_empty() {
            return;
        }
        for row in copy_text::rows(batch) {
            copy_text::field_spans(row, spans);
            for c in 0..self.columns.len() {
                let Some(&(a, b)) = spans.get(self.columns[c].index) else {
                    continue;
                };
                if &row[a..b] == copy_text::NULL {
                    continue;
                }
                self.columns[c].seen += 1;
                let seen = self.columns[c].seen;
                let slot = if self.columns[c].values.len() < self.size {
                    None
                } else {
                    let j = self.next() % seen;
                    match usize::try_from(j) {
                        Ok(j) if j < self.size => Some(j),
                        _ => continue,
                    }
                };
                let value = copy_text::decode(&row[a..b], decoded).unwrap_or_default();
                let value = String::from_utf8_lossy(value).into_owned();
                let r = &mut self.columns[c];
                match slot {
                    None => r.values.push(value),
                    Some(j) => r.values[j] = value,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(v: Option<&[u8]>) -> String {
        let mut out = Vec::new();
        csv_field(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_quotes_what_rfc_4180_and_postgres_need() {
        assert_eq!(csv(None), "");
        assert_eq!(csv(Some(b"")), "\"\"");
        assert_eq!(csv(Some(b"plain text")), "plain text");
        assert_eq!(csv(Some(b"a,b")), "\"a,b\"");
        assert_eq!(csv(Some(b"say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv(Some(b"two\r\nlines")), "\"two\r\nlines\"");
        assert_eq!(csv(Some(b"\\.")), "\"\\.\"");
        assert_eq!(csv(Some(b"back\\slash")), "back\\slash");
    }

    fn json(kind: JsonKind, v: Option<&[u8]>) -> String {
        let mut out = Vec::new();
        json_value(kind, v, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_values_keep_postgres_text_exactly() {
        assert_eq!(json(JsonKind::Number, Some(b"12.50")), "12.50");
        assert_eq!(json(JsonKind::Number, Some(b"-0")), "-0");
        assert_eq!(json(JsonKind::Number, Some(b"1e+100")), "1e+100");
        assert_eq!(json(JsonKind::Number, Some(b"NaN")), "\"NaN\"");
        assert_eq!(json(JsonKind::Number, Some(b"-Infinity")), "\"-Infinity\"");
        assert_eq!(json(JsonKind::Bool, Some(b"t")), "true");
        assert_eq!(json(JsonKind::Text, None), "null");
        assert_eq!(
            json(JsonKind::Text, Some("tab\t\"q\" \\ 🎉".as_bytes())),
            "\"tab\\t\\\"q\\\" \\\\ 🎉\""
        );
        let mut out = Vec::new();
        let e = json_value(JsonKind::Text, Some(b"\xff"), &mut out).unwrap_err();
        assert!(e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-1", "10", "1.5", "0.001", "1e5", "1E-5", "2.5e+3"] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "+1", "1.5.2", "Infinity", " 1",
        ] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }
}
