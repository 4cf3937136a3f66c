//! JSON string and scalar text: decoding a string literal, encoding a
//! value as one, and writing a rule's output in the original JSON type.

use std::borrow::Cow;

use super::scan::{number_len, Cursor, ScalarKind, FULL_PARSE_DEPTH};

/// The content of a JSON string literal (quotes included in `lit`).
pub(super) fn decode_string(lit: &[u8]) -> String {
    let inner = &lit[1..lit.len() - 1];
    let mut out: Vec<u8> = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] != b'\\' {
            out.push(inner[i]);
            i += 1;
            continue;
        }
        let c = inner.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let ch = match c {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let hex = |at: usize| {
                    inner
                        .get(at..at + 4)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                };
                let Some(hi) = hex(i) else {
                    out.extend_from_slice(b"\\u");
                    continue;
                };
                i += 4;
                if (0xd800..0xdc00).contains(&hi) && inner.get(i..i + 2) == Some(b"\\u") {
                    if let Some(lo) = hex(i + 2).filter(|lo| (0xdc00..0xe000).contains(lo)) {
                        i += 6;
                        char::from_u32(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00))
                            .unwrap_or('\u{fffd}')
                    } else {
                        '\u{fffd}'
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{fffd}')
                }
            }
            other => other as char,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Appends `v` as a JSON string literal.
pub(super) fn encode_string(v: &[u8], out: &mut Vec<u8>) {
    // The usual case: valid text with nothing to escape, copied whole.
    if v.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\') && std::str::from_utf8(v).is_ok() {
        out.push(b'"');
        out.extend_from_slice(v);
        out.push(b'"');
        return;
    }
    let s = match std::str::from_utf8(v) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(v),
    };
    let bytes = s.as_bytes();
    out.push(b'"');
    // Runs of bytes that need no escape are copied whole. Every escaped
    // character is ASCII, and no byte of a multi-byte UTF-8 sequence is,
    // so escaping byte by byte is escaping character by character.
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes a rule's output where a value of `kind` (None: object or array)
/// was: as the same JSON type when it still is one, else as a string.
pub(super) fn encode_like(kind: Option<ScalarKind>, v: &[u8], out: &mut Vec<u8>) {
    let same_type = match kind {
        Some(ScalarKind::Number) => number_len(v) == Some(v.len()),
        Some(ScalarKind::Bool) => v == b"true" || v == b"false",
        None => {
            let mut c = Cursor::new(v, FULL_PARSE_DEPTH);
            c.ws();
            let ok = matches!(c.peek(), Some(b'{' | b'[')) && c.skip_value(0).is_ok();
            c.ws();
            ok && c.at_end()
        }
        _ => false,
    };
    if same_type {
        out.extend_from_slice(v);
    } else {
        encode_string(v, out);
    }
}
