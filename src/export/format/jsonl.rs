//! `--format jsonl`: a file per table, one JSON object per row, keyed by
//! column. Numbers and booleans are JSON's own where PostgreSQL's text is
//! one; everything else is PostgreSQL's text form as a string, so `load`
//! gives back exactly what was exported.

use std::io::Write;

use anyhow::{anyhow, Result};
use bytes::BytesMut;

use super::{Decoding, Format, Layout};
use crate::catalog::TypeKind;
use crate::copy_text;
use crate::export::manifest::ManifestTable;
use crate::plan::TablePlan;
use crate::sink::files::Encoder;

pub struct Jsonl;

impl Format for Jsonl {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn extension(&self) -> &'static str {
        "jsonl"
    }

    fn layout(&self) -> Layout {
        Layout::Directory
    }

    fn encoder(&self, plan: &TablePlan) -> Box<dyn Encoder> {
        let names: Vec<String> = plan.columns.iter().map(|c| c.name.clone()).collect();
        Box::new(JsonlEncoder {
            table: plan.table.name.to_string(),
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
            spans: Vec::new(),
            decoded: Vec::new(),
            line: Vec::new(),
        })
    }

    fn decoding(&self) -> Decoding {
        Decoding::Lines(row)
    }

    fn copy_options(&self) -> &'static str {
        ""
    }
}

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

struct JsonlEncoder {
    table: String,
    /// `"name":` per column, already escaped.
    keys: Vec<Vec<u8>>,
    kinds: Vec<JsonKind>,
    names: Vec<String>,
    spans: Vec<(usize, usize)>,
    decoded: Vec<u8>,
    line: Vec<u8>,
}

impl Encoder for JsonlEncoder {
    fn encode(&mut self, batch: &[u8], out: &mut dyn Write) -> Result<()> {
        for r in copy_text::rows(batch) {
            self.line.clear();
            self.line.push(b'{');
            copy_text::field_spans(r, &mut self.spans);
            for (i, &(a, b)) in self.spans.iter().enumerate() {
                if i > 0 {
                    self.line.push(b',');
                }
                self.line.extend_from_slice(&self.keys[i]);
                let v = copy_text::decode(&r[a..b], &mut self.decoded);
                value(self.kinds[i], v, &mut self.line)
                    .map_err(|m| anyhow!("table {}, column {}: {m}", self.table, self.names[i]))?;
            }
            self.line.extend_from_slice(b"}\n");
            out.write_all(&self.line)?;
        }
        Ok(())
    }
}

/// Appends one JSON value. Errors say what is wrong, never the value.
pub fn value(kind: JsonKind, value: Option<&[u8]>, out: &mut Vec<u8>) -> Result<(), String> {
    let Some(v) = value else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    match kind {
        JsonKind::Number if is_json_number(v) => out.extend_from_slice(v),
        JsonKind::Bool if v == b"t" => out.extend_from_slice(b"true"),
        JsonKind::Bool if v == b"f" => out.extend_from_slice(b"false"),
        JsonKind::Number | JsonKind::Bool | JsonKind::Text => {
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

/// Turns one JSON-lines row into a COPY text row, in the manifest's column
/// order. Strings are PostgreSQL's text form; numbers and nested JSON go
/// in as written; `true`/`false` as `t`/`f`; `null` as NULL. Errors name
/// the column, never the value.
fn row(line: &[u8], table: &ManifestTable, out: &mut BytesMut) -> Result<(), String> {
    let row: std::collections::HashMap<String, &serde_json::value::RawValue> =
        serde_json::from_slice(line)
            .map_err(|e| format!("not a JSON object ({})", json_error_kind(e)))?;
    if let Some(extra) = row
        .keys()
        .find(|k| !table.columns.iter().any(|c| &c.name == *k))
    {
        return Err(format!(
            "key `{extra}` is not a column of {} in manifest.json",
            table.table
        ));
    }
    let mut text = Vec::new();
    for (i, column) in table.columns.iter().enumerate() {
        if i > 0 {
            text.push(b'\t');
        }
        let raw = row
            .get(&column.name)
            .ok_or_else(|| format!("no value for column {}", column.name))?
            .get();
        match raw.as_bytes().first() {
            Some(b'"') => {
                let s: String = serde_json::from_str(raw)
                    .map_err(|_| format!("column {}: a string does not parse", column.name))?;
                copy_text::escape_into(s.as_bytes(), &mut text);
            }
            Some(b'n') => text.extend_from_slice(copy_text::NULL),
            Some(b't') => text.push(b't'),
            Some(b'f') => text.push(b'f'),
            _ => copy_text::escape_into(raw.as_bytes(), &mut text),
        }
    }
    text.push(b'\n');
    out.extend_from_slice(&text);
    Ok(())
}

/// The kind of a serde_json error: its message can quote the input.
fn json_error_kind(e: serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "not an object of values",
        serde_json::error::Category::Eof => "the line ends early",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(kind: JsonKind, v: Option<&[u8]>) -> String {
        let mut out = Vec::new();
        value(kind, v, &mut out).unwrap();
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
        let e = value(JsonKind::Text, Some(b"\xff"), &mut out).unwrap_err();
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
