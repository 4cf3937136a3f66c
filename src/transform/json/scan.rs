//! Scanning a document into nodes (spans into its bytes), only as deep
//! as the paths reach, and selecting the nodes a path names.

use super::path::Step;
use super::text::decode_string;
use crate::transform::ValueError;

/// A parsed JSON value: spans into the document.
#[derive(Debug)]
pub(super) enum Node {
    Object {
        start: usize,
        end: usize,
        /// Each member's key literal (quotes included) and value.
        members: Vec<((usize, usize), Node)>,
    },
    Array {
        start: usize,
        end: usize,
        items: Vec<Node>,
    },
    Scalar {
        start: usize,
        end: usize,
        kind: ScalarKind,
    },
    /// An object or array deeper than any path reaches: only its span.
    Skipped { start: usize, end: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScalarKind {
    String,
    Number,
    Bool,
    Null,
}

impl Node {
    pub(super) fn span(&self) -> (usize, usize) {
        match self {
            Node::Object { start, end, .. }
            | Node::Array { start, end, .. }
            | Node::Scalar { start, end, .. }
            | Node::Skipped { start, end } => (*start, *end),
        }
    }
}

pub(super) fn malformed() -> ValueError {
    ValueError("malformed json value".into())
}

/// Nesting a full parse accepts (for a rule's output, `encode_like`);
/// deeper output is written as a string.
pub(super) const FULL_PARSE_DEPTH: usize = 512;

/// A small recursive-descent JSON scanner recording spans. Containers at
/// `max_depth` or deeper are skipped (`skip_container`), so the recursion
/// is bounded by `max_depth`, not by the document.
pub(super) struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
    max_depth: usize,
}

impl<'a> Parser<'a> {
    /// A parser of `b` that makes nodes down to `max_depth` levels.
    pub(super) fn new(b: &'a [u8], max_depth: usize) -> Parser<'a> {
        Parser {
            b,
            i: 0,
            depth: 0,
            max_depth,
        }
    }

    /// Whether the whole text has been read.
    pub(super) fn at_end(&self) -> bool {
        self.i == self.b.len()
    }

    pub(super) fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    pub(super) fn value(&mut self) -> Result<Node, ValueError> {
        self.ws();
        let start = self.i;
        let c = *self.b.get(self.i).ok_or_else(malformed)?;
        match c {
            b'{' | b'[' if self.depth >= self.max_depth => {
                self.skip_container()?;
                Ok(Node::Skipped { start, end: self.i })
            }
            b'{' | b'[' => {
                self.depth += 1;
                self.i += 1;
                let node = if c == b'{' {
                    self.object(start)?
                } else {
                    self.array(start)?
                };
                self.depth -= 1;
                Ok(node)
            }
            b'"' => {
                self.string_end()?;
                Ok(Node::Scalar {
                    start,
                    end: self.i,
                    kind: ScalarKind::String,
                })
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
                let kind = if c == b'n' {
                    ScalarKind::Null
                } else {
                    ScalarKind::Bool
                };
                Ok(Node::Scalar {
                    start,
                    end: self.i,
                    kind,
                })
            }
            _ => {
                let len = number_len(&self.b[self.i..]).ok_or_else(malformed)?;
                self.i += len;
                Ok(Node::Scalar {
                    start,
                    end: self.i,
                    kind: ScalarKind::Number,
                })
            }
        }
    }

    fn object(&mut self, start: usize) -> Result<Node, ValueError> {
        let mut members = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Node::Object {
                start,
                end: self.i,
                members,
            });
        }
        loop {
            self.ws();
            let key_start = self.i;
            if self.b.get(self.i) != Some(&b'"') {
                return Err(malformed());
            }
            self.string_end()?;
            let key = (key_start, self.i);
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return Err(malformed());
            }
            self.i += 1;
            let v = self.value()?;
            members.push((key, v));
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Node::Object {
                        start,
                        end: self.i,
                        members,
                    });
                }
                _ => return Err(malformed()),
            }
        }
    }

    fn array(&mut self, start: usize) -> Result<Node, ValueError> {
        let mut items = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Node::Array {
                start,
                end: self.i,
                items,
            });
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Node::Array {
                        start,
                        end: self.i,
                        items,
                    });
                }
                _ => return Err(malformed()),
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

    /// Moves past a string starting at the current `"`.
    fn string_end(&mut self) -> Result<(), ValueError> {
        self.i += 1;
        loop {
            let j = memchr::memchr2(b'"', b'\\', &self.b[self.i..]).ok_or_else(malformed)?;
            self.i += j;
            if self.b[self.i] == b'"' {
                self.i += 1;
                return Ok(());
            }
            self.i += 2;
            if self.i > self.b.len() {
                return Err(malformed());
            }
        }
    }
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

/// Collects the nodes `steps` reach from `node` in `doc`.
pub(super) fn select<'n>(doc: &[u8], node: &'n Node, steps: &[Step], found: &mut Vec<&'n Node>) {
    let Some((step, rest)) = steps.split_first() else {
        found.push(node);
        return;
    };
    match (step, node) {
        (Step::Key(k), Node::Object { members, .. }) => {
            // Duplicate keys (json, not jsonb): each occurrence.
            for (_, v) in members.iter().filter(|(span, _)| key_is(doc, *span, k)) {
                select(doc, v, rest, found);
            }
        }
        (Step::Index(n), Node::Array { items, .. }) => {
            if let Some(v) = items.get(*n) {
                select(doc, v, rest, found);
            }
        }
        (Step::Every, Node::Array { items, .. }) => {
            for v in items {
                select(doc, v, rest, found);
            }
        }
        // Objects keyed by data (a map from email to settings): every member.
        (Step::Every, Node::Object { members, .. }) => {
            for (_, v) in members {
                select(doc, v, rest, found);
            }
        }
        _ => {}
    }
}
