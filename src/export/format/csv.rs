//! `--format csv`: a file per table (RFC 4180, a header line, CRLF), which
//! PostgreSQL's own CSV COPY loads back as it is.

use std::io::Write;

use anyhow::Result;

use super::{Decoding, Format, Layout};
use crate::copy_text;
use crate::plan::TablePlan;
use crate::sink::files::Encoder;

pub struct Csv;

impl Format for Csv {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn extension(&self) -> &'static str {
        "csv"
    }

    fn layout(&self) -> Layout {
        Layout::Directory
    }

    fn encoder(&self, plan: &TablePlan) -> Box<dyn Encoder> {
        let mut header = Vec::new();
        for (i, c) in plan.columns.iter().enumerate() {
            if i > 0 {
                header.push(b',');
            }
            field(Some(c.name.as_bytes()), &mut header);
        }
        header.extend_from_slice(b"\r\n");
        Box::new(CsvEncoder {
            header,
            spans: Vec::new(),
            decoded: Vec::new(),
            line: Vec::new(),
        })
    }

    fn decoding(&self) -> Decoding {
        // The server parses CSV itself: the file goes as it is.
        Decoding::AsIs
    }

    fn copy_options(&self) -> &'static str {
        " WITH (FORMAT csv, HEADER true)"
    }
}

struct CsvEncoder {
    header: Vec<u8>,
    spans: Vec<(usize, usize)>,
    decoded: Vec<u8>,
    line: Vec<u8>,
}

impl Encoder for CsvEncoder {
    fn header(&self) -> &[u8] {
        &self.header
    }

    fn encode(&mut self, batch: &[u8], out: &mut dyn Write) -> Result<()> {
        for row in copy_text::rows(batch) {
            self.line.clear();
            copy_text::field_spans(row, &mut self.spans);
            for (i, &(a, b)) in self.spans.iter().enumerate() {
                if i > 0 {
                    self.line.push(b',');
                }
                let v = copy_text::decode(&row[a..b], &mut self.decoded);
                field(v, &mut self.line);
            }
            self.line.extend_from_slice(b"\r\n");
            out.write_all(&self.line)?;
        }
        Ok(())
    }
}

/// Appends one CSV field (RFC 4180). NULL is an empty unquoted field and
/// the empty string is `""`, as PostgreSQL's CSV COPY reads them; `\.` is
/// quoted because unquoted it ends a CSV COPY stream.
pub fn field(value: Option<&[u8]>, out: &mut Vec<u8>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(v: Option<&[u8]>) -> String {
        let mut out = Vec::new();
        field(v, &mut out);
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
}
