//! `manifest.json` of a csv/jsonl export: what `load` (or a person) needs
//! to read the table files back. Written with fixed field order and no
//! time or host, so it changes only when the data, rules or tool version
//! do; the tool's version sits in its own `tool` object, apart from the
//! data's description.

use serde::{Deserialize, Serialize};

use super::format::ExportFormat;

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: ExportFormat,
    /// The schema script: pre-data, the `POST_DATA_MARKER` line, post-data.
    pub schema: String,
    /// sha256 of the schema script's content, checked by `load` before it
    /// runs a line (a script cut short at a line boundary still parses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_sha256: Option<String>,
    /// Tables in an order that respects foreign keys (parents first).
    pub tables: Vec<ManifestTable>,
    /// sha256 of the rules the rows were anonymized with.
    pub rules_digest: String,
    /// The subset in effect (`10%`), if any.
    pub subset: Option<String>,
    pub tool: Tool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestTable {
    /// As written in rules: `public.customers`, `"Billing Dept"."Invoice Lines"`.
    pub table: String,
    pub schema: String,
    pub name: String,
    /// The data file, relative to the manifest; `None` for a table with
    /// `skip: true` (schema only).
    pub file: Option<String>,
    pub rows: u64,
    /// sha256 of the file's content (decompressed, if someone compressed
    /// it). `load` checks it, and `rows`, before anything goes live: a file
    /// cut short at a line boundary loads without a parse error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The columns in the file, in order (generated columns are left out:
    /// the database computes them).
    pub columns: Vec<ManifestColumn>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ManifestColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

/// The manifest's file name in an export directory; its presence (with our
/// tool name) is also what lets a new export replace a directory.
pub const FILE: &str = "manifest.json";

/// The comment line in schema.sql between pre-data and post-data: `load`
/// loads the table files there.
pub const POST_DATA_MARKER: &str = "-- anonymize:post-data";

/// The sha256 of a file's content, in hex, as `load` computes it while
/// reading (through `compress::open`, so a gzipped copy has the same one).
pub fn content_digest(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::BufRead;
    let mut reader = super::compress::open(path)?;
    let mut digest = Digest::default();
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        digest.update(buf);
        let n = buf.len();
        reader.consume(n);
    }
    Ok(digest.hex())
}

/// A running sha256 of what was read, for `content_digest` and `load`.
#[derive(Default)]
pub struct Digest(sha2::Sha256);

impl Digest {
    pub fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }

    pub fn hex(self) -> String {
        crate::hex::lower(&sha2::Digest::finalize(self.0))
    }
}

/// A table's file name: `schema.table.ext`, with every byte outside
/// `[A-Za-z0-9_-]` percent-encoded so any table name gives a distinct,
/// portable name (`Billing%20Dept.Invoice%20Lines.csv`).
pub fn file_name(schema: &str, name: &str, ext: &str) -> String {
    fn encode(s: &str, out: &mut String) {
        for &b in s.as_bytes() {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    let mut out = String::new();
    encode(schema, &mut out);
    out.push('.');
    encode(name, &mut out);
    out.push('.');
    out.push_str(ext);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_portable_and_distinct() {
        assert_eq!(
            file_name("public", "customers", "csv"),
            "public.customers.csv"
        );
        assert_eq!(
            file_name("Billing Dept", "Invoice Lines", "jsonl"),
            "Billing%20Dept.Invoice%20Lines.jsonl"
        );
        assert_ne!(file_name("a.b", "c", "csv"), file_name("a", "b.c", "csv"));
        assert_eq!(file_name("s", "a/b", "csv"), "s.a%2Fb.csv");
    }
}
