//! PostgreSQL's COPY text format: splitting a buffer into rows and fields,
//! and the escapes of a field.
//!
//! In this format a raw newline only ends a row and a raw tab only ends a
//! field: both are backslash-escaped inside values. So rows and fields are
//! found with a byte search, and only fields a transform reads are decoded.
//! `keep` fields are copied through as the raw bytes they arrived as.

/// The field text of SQL NULL.
pub const NULL: &[u8] = b"\\N";

/// Splits `row` (without its newline) into field spans. Returns the number
/// of fields; spans beyond the slice's capacity are pushed.
#[inline]
pub fn field_spans(row: &[u8], spans: &mut Vec<(usize, usize)>) {
    spans.clear();
    let mut start = 0;
    for tab in memchr::memchr_iter(b'\t', row) {
        spans.push((start, tab));
        start = tab + 1;
    }
    spans.push((start, row.len()));
}

/// Iterates over the rows of a buffer of whole rows, each without its
/// trailing newline.
pub fn rows(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    // memchr finds the newlines many bytes at a time; a plain `split`
    // tests every byte of every batch on its own.
    let mut ends = memchr::memchr_iter(b'\n', body);
    let mut start = (!buf.is_empty()).then_some(0);
    std::iter::from_fn(move || {
        let s = start?;
        match ends.next() {
            Some(end) => {
                start = Some(end + 1);
                Some(&body[s..end])
            }
            None => {
                start = None;
                Some(&body[s..])
            }
        }
    })
}

/// Decodes a field into `out`. Returns `None` for NULL. Fields without a
/// backslash are returned as they are, without copying.
#[inline]
pub fn decode<'a>(field: &'a [u8], out: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    if field == NULL {
        return None;
    }
    if memchr::memchr(b'\\', field).is_none() {
        return Some(field);
    }
    out.clear();
    unescape(field, out);
    Some(out)
}

/// Appends the decoded form of an escaped field to `out`.
pub fn unescape(field: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        if b != b'\\' || i + 1 == field.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let c = field[i + 1];
        i += 2;
        match c {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                // Up to three octal digits.
                let mut v = u32::from(c - b'0');
                let mut n = 1;
                while n < 3 && i < field.len() && (b'0'..=b'7').contains(&field[i]) {
                    v = v * 8 + u32::from(field[i] - b'0');
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'x' if i < field.len() && field[i].is_ascii_hexdigit() => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 && i < field.len() && field[i].is_ascii_hexdigit() {
                    v = v * 16 + (field[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
}

/// Appends `value` to `out`, escaped for the COPY text format.
#[inline]
pub fn escape_into(value: &[u8], out: &mut Vec<u8>) {
    // Most values hold nothing to escape. Tested 16 bytes at a time with
    // no early exit inside a chunk, as fixed-size arrays (the compiler then
    // compares each chunk in one vector step; a `chunks(16)` slice of
    // unknown length was tested a byte at a time, 4.5x slower), they are
    // copied whole.
    let plain = |chunk: &[u8; 16]| !chunk.iter().fold(false, |any, &b| any | needs_escape(b));
    let mut chunks = value.chunks_exact(16);
    if chunks
        .by_ref()
        .all(|chunk| plain(chunk.try_into().expect("16 bytes")))
        && !chunks.remainder().iter().any(|&b| needs_escape(b))
    {
        out.extend_from_slice(value);
        return;
    }
    let mut start = 0;
    for (i, &b) in value.iter().enumerate() {
        let Some(esc) = escape_letter(b) else {
            continue;
        };
        out.extend_from_slice(&value[start..i]);
        out.push(b'\\');
        out.push(esc);
        start = i + 1;
    }
    out.extend_from_slice(&value[start..]);
}

/// Escapes `value` where it is, as `escape_into` would write it: the
/// buffer grows by one byte per escape and the bytes move back from the
/// end, so a value of any size is escaped without a second copy of it.
pub fn escape_in_place(value: &mut Vec<u8>) {
    let escapes = value.iter().filter(|&&b| needs_escape(b)).count();
    if escapes == 0 {
        return;
    }
    let old = value.len();
    value.resize(old + escapes, 0);
    // Filled from the end: the write position stays ahead of the read
    // position by the escapes still to come, so nothing unread is
    // overwritten.
    let mut w = value.len();
    for r in (0..old).rev() {
        let b = value[r];
        let Some(esc) = escape_letter(b) else {
            w -= 1;
            value[w] = b;
            continue;
        };
        w -= 2;
        value[w] = b'\\';
        value[w + 1] = esc;
    }
    debug_assert_eq!(w, 0);
}

/// The letter after the backslash when `b` is written as an escape.
#[inline]
fn escape_letter(b: u8) -> Option<u8> {
    Some(match b {
        b'\\' => b'\\',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        8 => b'b',
        12 => b'f',
        11 => b'v',
        _ => return None,
    })
}

/// Whether `escape_into` writes `b` as an escape: a backslash, or one of
/// `\b \t \n \v \f \r` (8 to 13).
#[inline]
fn needs_escape(b: u8) -> bool {
    b.wrapping_sub(8) < 6 || b == b'\\'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: &[u8]) {
        let mut esc = Vec::new();
        escape_into(v, &mut esc);
        assert!(!esc.contains(&b'\n') && !esc.contains(&b'\t'));
        let mut back = Vec::new();
        unescape(&esc, &mut back);
        assert_eq!(back, v, "escaped form {:?}", String::from_utf8_lossy(&esc));
    }

    #[test]
    fn escapes_round_trip() {
        for v in [
            &b"plain"[..],
            b"tab\there",
            b"crlf\r\nline",
            b"back\\slash",
            b"trailing backslash \\",
            "emoji 🎉 and “quotes”; semicolon, 'apostrophe'".as_bytes(),
            b"\\N",
            b"",
            b"{\"a\\tb\",\"c,d\",\"e{f}\"}",
        ] {
            roundtrip(v);
        }
    }

    #[test]
    fn decodes_what_postgres_may_send() {
        let mut out = Vec::new();
        assert_eq!(decode(b"\\N", &mut out), None);
        assert_eq!(decode(b"a\\tb\\\\c\\n", &mut out), Some(&b"a\tb\\c\n"[..]));
        let mut out = Vec::new();
        unescape(b"\\101\\x41\\q", &mut out);
        assert_eq!(out, b"AAq");
    }

    #[test]
    fn every_byte_is_escaped_as_copy_writes_it() {
        for b in 0..=255u8 {
            let expected: &[u8] = match b {
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                8 => b"\\b",
                12 => b"\\f",
                11 => b"\\v",
                _ => &[b],
            };
            // Alone, and inside a value long enough to take the chunked test.
            let mut out = Vec::new();
            escape_into(&[b], &mut out);
            assert_eq!(out, expected, "byte {b}");
            let mut in_place = vec![b];
            escape_in_place(&mut in_place);
            assert_eq!(in_place, expected, "byte {b} in place");
            // In the first chunk, across chunks, and in the tail after the
            // last whole chunk of 16.
            for at in [0, 15, 20, 31, 32, 39] {
                let mut long = vec![b'a'; 40];
                long[at] = b;
                out.clear();
                escape_into(&long, &mut out);
                assert_eq!(
                    out,
                    [&long[..at], expected, &long[at + 1..]].concat(),
                    "byte {b} at {at}"
                );
            }
        }
    }

    #[test]
    fn splits_rows_and_fields() {
        let buf = b"1\ta\\tb\t\\N\n2\t\t\\\\\n";
        let rs: Vec<&[u8]> = rows(buf).collect();
        assert_eq!(rs.len(), 2);
        let mut spans = Vec::new();
        field_spans(rs[0], &mut spans);
        assert_eq!(spans.len(), 3);
        assert_eq!(&rs[0][spans[1].0..spans[1].1], b"a\\tb");
        field_spans(rs[1], &mut spans);
        assert_eq!(&rs[1][spans[1].0..spans[1].1], b"");
        assert_eq!(rows(b"").count(), 0);
    }

    proptest::proptest! {
        /// Any value survives escape then decode unchanged, and the escaped
        /// form never holds a bare tab or newline (it stays one field of
        /// one row).
        #[test]
        fn any_bytes_survive_escape_and_decode(v in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let mut esc = Vec::new();
            escape_into(&v, &mut esc);
            proptest::prop_assert!(!esc.contains(&b'\t') && !esc.contains(&b'\n'));
            // Escaped where it is, the same bytes.
            let mut in_place = v.clone();
            escape_in_place(&mut in_place);
            proptest::prop_assert_eq!(&in_place, &esc);
            let mut out = Vec::new();
            proptest::prop_assert_eq!(decode(&esc, &mut out), Some(&v[..]));
        }

        /// `rows` splits as a plain split on newlines does: an empty row
        /// between two newlines, none for an empty buffer, the last row
        /// with or without its newline.
        #[test]
        fn rows_split_on_every_newline(buf in proptest::collection::vec(proptest::sample::select(vec![b'\n', b'a', b'\t']), 0..64)) {
            let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let plain: Vec<&[u8]> = if buf.is_empty() { Vec::new() } else { body.split(|&b| b == b'\n').collect() };
            proptest::prop_assert_eq!(rows(&buf).collect::<Vec<_>>(), plain);
        }

        /// The splitter and decoder take arbitrary bytes (a corrupt or
        /// hostile stream) without panicking.
        #[test]
        fn arbitrary_input_never_panics_the_splitter(buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut spans = Vec::new();
            let mut out = Vec::new();
            for row in rows(&buf) {
                field_spans(row, &mut spans);
                for &(a, b) in &spans {
                    let _ = decode(&row[a..b], &mut out);
                }
            }
        }
    }
}
