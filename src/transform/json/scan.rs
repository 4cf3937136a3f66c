//! Moving through a document's text: past white space, keys, strings,
//! numbers and whole values, without building anything. What a value is
//! comes back as its kind; where it is, as the cursor's position.

use super::text::decode_string;
use crate::transform::ValueError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScalarKind {
    String,
    Number,
    Bool,
    Null,
}

pub(super) fn malformed() -> ValueError {
    ValueError("malformed json value".into())
}

/// Nesting a full check accepts (for a rule's output, `encode_like`);
/// deeper output is written as a string.
pub(super) const FULL_PARSE_DEPTH: usize = 512;

/// A position in a document. Values are checked down to `max_depth`
/// levels from the root (the deepest level a path reaches); containers
/// deeper than that are skipped by counting brackets without recursion, so
/// a document nested thousands of levels deep costs no stack.
pub(super) struct Cursor<'a> {
    pub(super) b: &'a [u8],
    pub(super) i: usize,
    max_depth: usize,
    /// Whether the last string moved past holds an escape.
    pub(super) escaped: bool,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(b: &'a [u8], max_depth: usize) -> Cursor<'a> {
        Cursor {
            b,
            i: 0,
            max_depth,
            escaped: false,
        }
    }

    /// Whether the whole text has been read.
    pub(super) fn at_end(&self) -> bool {
        self.i == self.b.len()
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub(super) fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    /// Just after a container's `{` or `[`: whether it closes at once (then
    /// the cursor is past `close`).
    pub(super) fn empty(&mut self, close: u8) -> bool {
        self.ws();
        let empty = self.peek() == Some(close);
        if empty {
            self.i += 1;
        }
        empty
    }

    /// After a member or an item: whether another follows (past the `,`),
    /// or the container ends (past `close`).
    pub(super) fn more(&mut self, close: u8) -> Result<bool, ValueError> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(false)
            }
            _ => Err(malformed()),
        }
    }

    /// Moves past a member's key and its `:`.
    pub(super) fn key(&mut self) -> Result<KeyLiteral, ValueError> {
        self.ws();
        let start = self.i;
        if self.peek() != Some(b'"') {
            return Err(malformed());
        }
        let escaped = self.string_end()?;
        let key = KeyLiteral {
            span: (start, self.i),
            escaped,
        };
        self.ws();
        if self.peek() != Some(b':') {
            return Err(malformed());
        }
        self.i += 1;
        Ok(key)
    }

    /// Moves past the value at `level` (the root is 0) that starts after
    /// white space here; the cursor ends right after it. Returns its kind,
    /// `None` for an object or array.
    pub(super) fn skip_value(&mut self, level: usize) -> Result<Option<ScalarKind>, ValueError> {
        self.ws();
        let c = self.peek().ok_or_else(malformed)?;
        match c {
            b'{' | b'[' if level >= self.max_depth => self.skip_container()?,
            b'{' => {
                self.i += 1;
                if !self.empty(b'}') {
                    loop {
                        self.key()?;
                        self.skip_value(level + 1)?;
                        if !self.more(b'}')? {
                            break;
                        }
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if !self.empty(b']') {
                    loop {
                        self.skip_value(level + 1)?;
                        if !self.more(b']')? {
                            break;
                        }
                    }
                }
            }
            _ => return self.scalar().map(Some),
        }
        Ok(None)
    }

    /// Moves past the string, number, `true`, `false` or `null` here.
    pub(super) fn scalar(&mut self) -> Result<ScalarKind, ValueError> {
        let c = self.peek().ok_or_else(malformed)?;
        match c {
            b'"' => {
                self.escaped = self.string_end()?;
                Ok(ScalarKind::String)
            }
            b't' | b'f' | b'n' => {
                let word: &[u8] = match c {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                if !self.b[self.i..].starts_with(word) {
                    return Err(malformed());
                }
                self.i += word.len();
                Ok(if c == b'n' {
                    ScalarKind::Null
                } else {
                    ScalarKind::Bool
                })
            }
            _ => {
                self.i += number_len(&self.b[self.i..]).ok_or_else(malformed)?;
                Ok(ScalarKind::Number)
            }
        }
    }

    /// Moves past the object or array starting here, counting brackets in a
    /// loop: no recursion, however deep it nests. Brackets are not matched
    /// by kind; PostgreSQL validated the document when it was stored.
    fn skip_container(&mut self) -> Result<(), ValueError> {
        let mut open = 0usize;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    self.string_end()?;
                    continue;
                }
                b'{' | b'[' => open += 1,
                b'}' | b']' => {
                    open -= 1;
                    if open == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        Err(malformed())
    }

    /// Moves past a string starting at the current `"`; returns whether
    /// it holds an escape.
    fn string_end(&mut self) -> Result<bool, ValueError> {
        self.i += 1;
        let mut escaped = false;
        loop {
            let j = quote_or_backslash(&self.b[self.i..]).ok_or_else(malformed)?;
            self.i += j;
            if self.b[self.i] == b'"' {
                self.i += 1;
                return Ok(escaped);
            }
            escaped = true;
            self.i += 2;
            if self.i > self.b.len() {
                return Err(malformed());
            }
        }
    }
}

/// Where the first `"` or `\\` of `b` is. Most keys and values are short:
/// their first 16 bytes are searched a word at a time before `memchr`'s
/// vector search, whose setup costs more than they do.
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    let mut i = 0;
    while i < SHORT {
        let Some(word) = b.get(i..i + 8) else {
            break;
        };
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let found = byte_in_word(w, b'"') | byte_in_word(w, b'\\');
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i < SHORT {
        return b[i..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\')
            .map(|j| i + j);
    }
    memchr::memchr2(b'"', b'\\', &b[SHORT..]).map(|j| j + SHORT)
}

/// The high bit of each byte of `w` equal to `b`, exact up to the first
/// one (a borrow may set bits above it): its trailing zeros find the first.
#[inline]
fn byte_in_word(w: u64, b: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = w ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// Length of the JSON number at the start of `b`.
pub(super) fn number_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    if b.get(i) == Some(&b'0') {
        i += 1;
    } else if !digits(&mut i) {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    Some(i)
}

/// A member's key as the document spells it.
#[derive(Clone, Copy)]
pub(super) struct KeyLiteral {
    /// Quotes included.
    pub(super) span: (usize, usize),
    /// Whether it holds an escape (then only its decoded text says what
    /// key it is).
    pub(super) escaped: bool,
}

impl KeyLiteral {
    /// The head of the key's text as the document spells it, quotes
    /// excluded: for a key with no escape, the head of the key.
    #[inline]
    pub(super) fn head(self, doc: &[u8]) -> KeyHead {
        let (start, len) = (self.span.0 + 1, self.span.1 - self.span.0 - 2);
        // The document goes on past a key (its `:` and value), so the
        // word is nearly always there to load whole.
        let word = match doc.get(start..start + 8) {
            Some(w) => u64::from_le_bytes(w.try_into().expect("8 bytes")),
            None => {
                let mut w = [0u8; 8];
                let n = doc.len() - start;
                w[..n].copy_from_slice(&doc[start..]);
                u64::from_le_bytes(w)
            }
        };
        KeyHead::masked(word, len)
    }

    /// Whether this key of `doc` spells `key()`, whose head is `key_head`;
    /// `head` is this key's [`KeyLiteral::head`], computed once for all
    /// the paths a key is checked against. Two integer comparisons settle
    /// most keys, and every key of 8 bytes or fewer.
    #[inline]
    pub(super) fn is<'k>(
        self,
        doc: &[u8],
        head: KeyHead,
        key_head: KeyHead,
        key: impl FnOnce() -> &'k str,
    ) -> bool {
        if self.escaped {
            key_is(doc, self.span, key())
        } else {
            head == key_head
                && (head.len <= 8 || doc[self.span.0 + 9..self.span.1 - 1] == key().as_bytes()[8..])
        }
    }
}

/// A key's length and its first 8 bytes (zero-padded) in a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct KeyHead {
    len: usize,
    head: u64,
}

impl KeyHead {
    pub(super) fn of(key: &str) -> KeyHead {
        let mut w = [0u8; 8];
        let n = key.len().min(8);
        w[..n].copy_from_slice(&key.as_bytes()[..n]);
        KeyHead::masked(u64::from_le_bytes(w), key.len())
    }

    /// The head of a key of `len` bytes whose first bytes `word` holds
    /// (and what follows them, cut off here).
    #[inline]
    fn masked(word: u64, len: usize) -> KeyHead {
        let head = if len >= 8 {
            word
        } else {
            word & ((1u64 << (8 * len)) - 1)
        };
        KeyHead { len, head }
    }
}

/// Whether the key literal at `span` of `doc` spells `key`. Most keys a
/// path meets are other keys, so this reads only as far as they differ:
/// decoding only shortens a literal, so a shorter one never spells `key`;
/// before its first escape a literal is its own text, so a byte that
/// differs there settles it; only a literal that matches up to an escape
/// is decoded.
pub(super) fn key_is(doc: &[u8], span: (usize, usize), key: &str) -> bool {
    let raw = &doc[span.0 + 1..span.1 - 1];
    let key_bytes = key.as_bytes();
    if raw.len() < key_bytes.len() {
        return false;
    }
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\\' {
            return decode_string(&doc[span.0..span.1]) == key;
        }
        if key_bytes.get(i) != Some(&b) {
            return false;
        }
    }
    raw.len() == key_bytes.len()
}
