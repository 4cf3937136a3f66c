//! `json`: rules applied at paths inside json and jsonb documents,
//! `{ json: { paths: { name: { fake: name }, "contacts[*].email": { fake: email } } } }`.
//!
//! The document is scanned, not re-serialized: only the bytes of the
//! values at the paths are replaced, so every other key, the order, the
//! white space, number spellings and escapes stay exactly as they were. A
//! path missing from a document is skipped.
//!
//! Only the levels the paths reach are parsed into nodes; anything deeper
//! is skipped by a scan that counts brackets without recursion, so a
//! document nested thousands of levels deep costs no stack.
//!
//! `unlisted:` says what happens to a key no path names: `keep` (the
//! default) copies it, `drop` removes it, `fail` stops the run naming the
//! key's path, never its value.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::rule::ColumnRule;
use super::{
    build_inner, BuildContext, Inner, RowView, Transform, TransformOptions, ValueError, Written,
};
use crate::catalog::TypeKind;

/// `{ json: { paths: { PATH: RULE, ... } } }`
///
/// PATH is dot-separated keys (`address.street`), with `[*]` (or `.*`) for
/// every element of an array or every member of an object, and `[N]` for
/// one element (`contacts[*].email`, `[0].id`, `by_name.*.phone`); a key
/// holding dots or brackets, or a key spelled `*`, is written `["a.b"]`.
/// A leading `$` (JSONPath's root, `$.address.street`) is accepted. RULE is
/// any column rule (`keep`, `null`, `{ fake: email }`, ...) and sees the
/// value as text: a string's content, a number's digits, `true`/`false`,
/// or the JSON of an object or array; JSON `null` is NULL. The result keeps
/// the original JSON type when it still parses as one (a number stays a
/// number), else it becomes a string. Works on json and jsonb columns.
/// Paths may not overlap (`a` and `a.b`): which rule would win is not
/// something to guess, so the rules are refused.
///
/// `unlisted: keep | drop | fail` (default `keep`): what happens to a key
/// that no path names, nor any path runs through. `keep` copies it as it
/// is; `drop` removes it (an array element no path reaches becomes
/// `null`, so the other indexes hold); `fail` stops the run with the key's
/// path. `keep` is the default because a rule usually names the few
/// personal paths of a document whose other keys are structure, and rules
/// written before the option must keep working; a column whose documents
/// the application may extend should say `fail` (or `drop`), so a key added
/// next month cannot pass through raw.
#[derive(Debug)]
pub struct Options {
    paths: Vec<(Path, ColumnRule)>,
    unlisted: Unlisted,
}

/// What happens to a key no path names (see `Options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Unlisted {
    #[default]
    Keep,
    Drop,
    Fail,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    Every,
}

#[derive(Debug, Clone)]
struct Path {
    text: String,
    steps: Vec<Step>,
}

fn parse_path(text: &str) -> Result<Path, String> {
    let bad = |why: &str| format!("json path `{text}`: {why}");
    let mut steps = Vec::new();
    let b = text.as_bytes();
    // `$` names the root, as in JSONPath; a `.` or `[` must follow it.
    let rooted = text.starts_with('$');
    let mut i = usize::from(rooted);
    let mut expect_key = !rooted;
    while i < b.len() {
        match b[i] {
            b'[' => {
                let close = text[i..]
                    .find(']')
                    .map(|j| i + j)
                    .ok_or_else(|| bad("unclosed `[`"))?;
                let inside = &text[i + 1..close];
                if inside == "*" {
                    steps.push(Step::Every);
                } else if let Some(key) = inside.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
                {
                    steps.push(Step::Key(key.to_string()));
                } else {
                    let n = inside
                        .parse()
                        .map_err(|_| bad("write `[*]`, `[N]` or `[\"key\"]`"))?;
                    steps.push(Step::Index(n));
                }
                i = close + 1;
                expect_key = false;
            }
            b'.' => {
                if expect_key {
                    return Err(bad("empty key"));
                }
                i += 1;
                expect_key = true;
            }
            _ => {
                if !expect_key {
                    return Err(bad("a key must follow a `.`"));
                }
                let end = text[i..].find(['.', '[']).map_or(b.len(), |j| i + j);
                let key = &text[i..end];
                steps.push(if key == "*" {
                    Step::Every
                } else {
                    Step::Key(key.to_string())
                });
                i = end;
                expect_key = false;
            }
        }
    }
    if steps.is_empty() || expect_key && !text.is_empty() {
        return Err(bad("empty key"));
    }
    Ok(Path {
        text: text.to_string(),
        steps,
    })
}

/// Whether one path reaches a value inside (or equal to) what the other
/// reaches: one is a prefix of the other, step by step, where `[*]` meets
/// any index or key.
fn overlap(a: &[Step], b: &[Step]) -> bool {
    a.iter().zip(b).all(|(x, y)| match (x, y) {
        (Step::Key(x), Step::Key(y)) => x == y,
        (Step::Index(x), Step::Index(y)) => x == y,
        // `*` is every element of an array or every member of an object.
        (Step::Every, _) | (_, Step::Every) => true,
        _ => false,
    })
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Outer;
        impl<'de> Visitor<'de> for Outer {
            type Value = Options;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with `paths`, e.g. `{ paths: { name: { fake: name } } }`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Options, A::Error> {
                let mut paths = None;
                let mut unlisted = Unlisted::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "paths" => paths = Some(map.next_value::<Paths>()?.0),
                        "unlisted" => {
                            unlisted = match map.next_value::<String>()?.as_str() {
                                "keep" => Unlisted::Keep,
                                "drop" => Unlisted::Drop,
                                "fail" => Unlisted::Fail,
                                other => {
                                    return Err(de::Error::custom(format!(
                                "json `unlisted` must be `keep`, `drop` or `fail`, not `{other}`"
                            )))
                                }
                            }
                        }
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown json option `{other}`; expected `paths` or `unlisted`"
                            )))
                        }
                    }
                }
                let paths = paths.ok_or_else(|| de::Error::custom("`json` needs `paths`"))?;
                if paths.is_empty() {
                    return Err(de::Error::custom("`json` paths is empty"));
                }
                Ok(Options { paths, unlisted })
            }
        }
        d.deserialize_map(Outer)
    }
}

/// The `paths` map, kept in file order, each rule parsed by the column
/// rule parser (so errors keep their line and column).
struct Paths(Vec<(Path, ColumnRule)>);

impl<'de> Deserialize<'de> for Paths {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Paths;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of json paths to rules")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Paths, A::Error> {
                let mut out: Vec<(Path, ColumnRule)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let path = parse_path(&key).map_err(de::Error::custom)?;
                    if out.iter().any(|(p, _)| p.text == key) {
                        return Err(de::Error::custom(format!(
                            "json path `{key}` is defined twice"
                        )));
                    }
                    if let Some((other, _)) =
                        out.iter().find(|(p, _)| overlap(&p.steps, &path.steps))
                    {
                        return Err(de::Error::custom(format!(
                            "json paths `{}` and `{key}` overlap: one holds the other, so which rule \
                             applies is unclear; keep the outer path or list the inner keys one by one",
                            other.text
                        )));
                    }
                    out.push((path, map.next_value()?));
                }
                Ok(Paths(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        if !matches!(ctx.column.kind, TypeKind::Json | TypeKind::Jsonb) {
            return Err(ctx.type_error("json", "json and jsonb"));
        }
        let mut paths = Vec::new();
        for (path, rule) in &self.paths {
            let what = format!("{}.{}", ctx.column.name, path.text);
            match build_inner(ctx, rule, &what, "json value")? {
                Inner::Keep => {}
                inner => paths.push((path.steps.clone(), inner)),
            }
        }
        let listed: Vec<Vec<Step>> = self.paths.iter().map(|(p, _)| p.steps.clone()).collect();
        // Nodes are needed down to the deepest path's target.
        let depth = listed.iter().map(Vec::len).max().unwrap_or(0);
        let json = Json {
            paths,
            listed,
            depth,
            unlisted: self.unlisted,
            column: format!("{}.{}", ctx.table, ctx.column.name),
        };
        Ok(ctx.finish(Box::new(json), self.uniqueness()))
    }

    fn uniqueness(&self) -> super::Uniqueness {
        super::Uniqueness::Lossy
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        super::MaxLength::Unbounded
    }

    fn output_space(&self) -> super::OutputSpace {
        super::OutputSpace::Partial
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .paths
            .iter()
            .map(|(p, r)| format!("{}: {}", p.text, r.describe()))
            .collect();
        match self.unlisted {
            Unlisted::Keep => format!("json({})", parts.join(", ")),
            Unlisted::Drop => format!("json({}; unlisted: drop)", parts.join(", ")),
            Unlisted::Fail => format!("json({}; unlisted: fail)", parts.join(", ")),
        }
    }

    fn needs_secret(&self) -> bool {
        self.paths.iter().any(|(_, r)| super::inner_needs_secret(r))
    }

    fn reads(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (_, r) in &self.paths {
            for n in super::inner_reads(r) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
    }
}

struct Json {
    paths: Vec<(Vec<Step>, Inner)>,
    /// Every path of the rule, `keep` ones included: what `unlisted` spares.
    listed: Vec<Vec<Step>>,
    /// Levels to parse into nodes: the longest path's steps.
    depth: usize,
    unlisted: Unlisted,
    /// `table.column`, for messages.
    column: String,
}

/// A parsed JSON value: spans into the document.
#[derive(Debug)]
enum Node {
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
enum ScalarKind {
    String,
    Number,
    Bool,
    Null,
}

impl Node {
    fn span(&self) -> (usize, usize) {
        match self {
            Node::Object { start, end, .. }
            | Node::Array { start, end, .. }
            | Node::Scalar { start, end, .. }
            | Node::Skipped { start, end } => (*start, *end),
        }
    }
}

fn malformed() -> ValueError {
    ValueError("malformed json value".into())
}

/// Nesting a full parse accepts (for a rule's output, `encode_like`);
/// deeper output is written as a string.
const FULL_PARSE_DEPTH: usize = 512;

/// A small recursive-descent JSON scanner recording spans. Containers at
/// `max_depth` or deeper are skipped (`skip_container`), so the recursion
/// is bounded by `max_depth`, not by the document.
struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Node, ValueError> {
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
fn number_len(b: &[u8]) -> Option<usize> {
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

/// The content of a JSON string literal (quotes included in `lit`).
fn decode_string(lit: &[u8]) -> String {
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
fn encode_string(v: &[u8], out: &mut Vec<u8>) {
    let s = String::from_utf8_lossy(v);
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Whether the key literal at `span` of `doc` spells `key`. Keys are
/// decoded only when they hold an escape.
fn key_is(doc: &[u8], span: (usize, usize), key: &str) -> bool {
    let raw = &doc[span.0 + 1..span.1 - 1];
    if memchr::memchr(b'\\', raw).is_none() {
        raw == key.as_bytes()
    } else {
        decode_string(&doc[span.0..span.1]) == key
    }
}

/// Collects the nodes `steps` reach from `node` in `doc`.
fn select<'n>(doc: &[u8], node: &'n Node, steps: &[Step], found: &mut Vec<&'n Node>) {
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

impl Transform for Json {
    fn apply(
        &self,
        input: &[u8],
        row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let doc = input;
        let mut p = Parser {
            b: doc,
            i: 0,
            depth: 0,
            max_depth: self.depth,
        };
        let root = p.value()?;
        p.ws();
        if p.i != doc.len() {
            return Err(malformed());
        }
        // Replacements as (start, end, bytes), first path first.
        let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
        if self.unlisted != Unlisted::Keep {
            let active: Vec<&[Step]> = self.listed.iter().map(Vec::as_slice).collect();
            self.unlisted(doc, &root, &active, &mut String::new(), &mut edits)?;
        }
        let mut found = Vec::new();
        let mut value = Vec::new();
        for (steps, inner) in &self.paths {
            found.clear();
            select(doc, &root, steps, &mut found);
            for node in &found {
                let (start, end) = node.span();
                if edits.iter().any(|(s, e, _)| start < *e && *s < end) {
                    continue;
                }
                let kind = match node {
                    Node::Scalar { kind, .. } => Some(*kind),
                    _ => None,
                };
                let raw = &doc[start..end];
                let decoded;
                let text: Option<&[u8]> = match kind {
                    Some(ScalarKind::Null) => None,
                    Some(ScalarKind::String) => {
                        decoded = decode_string(raw);
                        Some(decoded.as_bytes())
                    }
                    _ => Some(raw),
                };
                let mut replacement = Vec::new();
                match inner {
                    Inner::Keep => continue,
                    Inner::Null => replacement.extend_from_slice(b"null"),
                    Inner::Transform(t) => {
                        value.clear();
                        match super::apply(&**t, text, row, &mut value)? {
                            Written::Null => replacement.extend_from_slice(b"null"),
                            Written::Value => encode_like(kind, &value, &mut replacement),
                        }
                    }
                }
                edits.push((start, end, replacement));
            }
        }
        // Drops and path edits never overlap (a dropped key is on no path);
        // a stable sort keeps a value's edit before the drop that starts
        // where it ends.
        edits.sort_by_key(|e| e.0);
        let mut at = 0;
        for (start, end, bytes) in &edits {
            out.extend_from_slice(&doc[at..*start]);
            out.extend_from_slice(bytes);
            at = *end;
        }
        out.extend_from_slice(&doc[at..]);
        Ok(Written::Value)
    }
}

impl Json {
    /// Finds the keys under `node` that no path names or runs through
    /// (`active`: the rest of each path still matching here, at `path`),
    /// and fails naming the first, or adds the edits that drop them.
    fn unlisted(
        &self,
        doc: &[u8],
        node: &Node,
        active: &[&[Step]],
        path: &mut String,
        edits: &mut Vec<(usize, usize, Vec<u8>)>,
    ) -> Result<(), ValueError> {
        // A path ends here: its rule covers the whole subtree.
        if active.iter().any(|steps| steps.is_empty()) {
            return Ok(());
        }
        let at = path.len();
        match node {
            Node::Object { members, .. } => {
                let mut dropped = Vec::new();
                for (j, (span, value)) in members.iter().enumerate() {
                    let next: Vec<&[Step]> = active
                        .iter()
                        .filter_map(|steps| match steps.split_first() {
                            Some((Step::Key(k), rest)) if key_is(doc, *span, k) => Some(rest),
                            Some((Step::Every, rest)) => Some(rest),
                            _ => None,
                        })
                        .collect();
                    // Keys are row data (maps keyed by email or name): the
                    // path shows a key only when the rules name it, else
                    // its position among its object's keys.
                    let named = active.iter().find_map(|steps| match steps.first() {
                        Some(Step::Key(k)) if key_is(doc, *span, k) => Some(k),
                        _ => None,
                    });
                    match named {
                        Some(k) => push_key(path, k),
                        None => path.push_str(&format!("[key {}]", j + 1)),
                    }
                    if next.is_empty() {
                        self.refuse(path)?;
                        dropped.push(j);
                    } else {
                        self.unlisted(doc, value, &next, path, edits)?;
                    }
                    path.truncate(at);
                }
                drop_members(members, &dropped, edits);
            }
            Node::Array { items, .. } => {
                for (j, item) in items.iter().enumerate() {
                    let next: Vec<&[Step]> = active
                        .iter()
                        .filter_map(|steps| match steps.split_first() {
                            Some((Step::Every, rest)) => Some(rest),
                            Some((Step::Index(n), rest)) if *n == j => Some(rest),
                            _ => None,
                        })
                        .collect();
                    path.push_str(&format!("[{j}]"));
                    if next.is_empty() {
                        self.refuse(path)?;
                        let (s, e) = item.span();
                        edits.push((s, e, b"null".to_vec()));
                    } else {
                        self.unlisted(doc, item, &next, path, edits)?;
                    }
                    path.truncate(at);
                }
            }
            // A value where a path expected to go deeper (`"address": "x"`
            // under `address.street`) is not what any rule names. JSON
            // null says nothing, so it stays.
            Node::Scalar {
                kind: ScalarKind::Null,
                ..
            } => {}
            Node::Scalar { start, end, .. } | Node::Skipped { start, end } => {
                self.refuse(if path.is_empty() {
                    "(the whole document)"
                } else {
                    path
                })?;
                edits.push((*start, *end, b"null".to_vec()));
            }
        }
        Ok(())
    }

    /// With `unlisted: fail`, the error for the key at `path`: its path
    /// only, never its value, and never a key the rules do not name.
    fn refuse(&self, path: &str) -> Result<(), ValueError> {
        if self.unlisted == Unlisted::Fail {
            return Err(ValueError(format!(
                "json key `{path}` in {} is named by no path of the rule (`unlisted: fail`); \
                 add it to the rule's paths (`keep` if it is not personal), or set `unlisted: drop`",
                self.column
            )));
        }
        Ok(())
    }
}

/// Appends `key` to a path as the rules write it: `a.b`, or `["a.b"]` for
/// a key holding dots, brackets or quotes.
fn push_key(path: &mut String, key: &str) {
    if key.is_empty() || key.contains(['.', '[', ']', '"']) {
        path.push_str(&format!("[\"{key}\"]"));
    } else {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    }
}

/// The edits that remove `dropped` members (indexes, ascending) of an
/// object with their commas: a member before the last kept one goes with
/// everything up to the next key; the dropped members after it go in one
/// span from the end of the last kept value, which takes the comma before
/// them.
fn drop_members(
    members: &[((usize, usize), Node)],
    dropped: &[usize],
    edits: &mut Vec<(usize, usize, Vec<u8>)>,
) {
    let Some(&last) = dropped.last() else {
        return;
    };
    let last_kept = (0..members.len()).rev().find(|j| !dropped.contains(j));
    for &j in dropped {
        match last_kept {
            Some(k) if j < k => edits.push((members[j].0 .0, members[j + 1].0 .0, Vec::new())),
            _ => {}
        }
    }
    let tail_start = match last_kept {
        Some(k) if k < last => members[k].1.span().1,
        Some(_) => return,
        None => members[0].0 .0,
    };
    edits.push((tail_start, members[last].1.span().1, Vec::new()));
}

/// Writes a rule's output where a value of `kind` (None: object or array)
/// was: as the same JSON type when it still is one, else as a string.
fn encode_like(kind: Option<ScalarKind>, v: &[u8], out: &mut Vec<u8>) {
    let same_type = match kind {
        Some(ScalarKind::Number) => number_len(v) == Some(v.len()),
        Some(ScalarKind::Bool) => v == b"true" || v == b"false",
        None => {
            let mut p = Parser {
                b: v,
                i: 0,
                depth: 0,
                max_depth: FULL_PARSE_DEPTH,
            };
            let ok = p.value().is_ok_and(|n| !matches!(n, Node::Scalar { .. }));
            p.ws();
            ok && p.i == v.len()
        }
        _ => false,
    };
    if same_type {
        out.extend_from_slice(v);
    } else {
        encode_string(v, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{apply, build, build_err, column, parse, parse_err};

    fn json(yaml: &str) -> Box<dyn Transform> {
        build(&*parse(yaml), &column("doc", "jsonb", TypeKind::Jsonb))
    }

    #[test]
    fn paths_parse() {
        let steps = |t: &str| parse_path(t).unwrap().steps;
        assert_eq!(steps("a.b"), [Step::Key("a".into()), Step::Key("b".into())]);
        assert_eq!(
            steps("contacts[*].email"),
            [
                Step::Key("contacts".into()),
                Step::Every,
                Step::Key("email".into())
            ]
        );
        assert_eq!(steps("[0].id"), [Step::Index(0), Step::Key("id".into())]);
        assert_eq!(
            steps(r#"a["b.c"]"#),
            [Step::Key("a".into()), Step::Key("b.c".into())]
        );
        // JSONPath's root marker and `.*`, as `init` writes them.
        assert_eq!(steps("$.a.*"), [Step::Key("a".into()), Step::Every]);
        assert_eq!(steps("$[0]"), [Step::Index(0)]);
        assert_eq!(steps(r#"["*"]"#), [Step::Key("*".into())]);
        for bad in [
            "", "a..b", "a.", ".a", "a[", "a[x]", "a[0]b", "$", "$a", "$.",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rooted_paths_and_object_wildcards_reach_their_values() {
        let t = json(
            r#"{ json: { paths: { "$.contact.email": { set: e }, "$.by_name.*.phone": { set: p } } } }"#,
        );
        let doc = r#"{"contact": {"email": "a@b.c"}, "by_name": {"Jane Doe": {"phone": "555"}, "Zoë": {"phone": "556", "x": 1}}}"#;
        assert_eq!(
            apply(&*t, Some(doc)).unwrap(),
            r#"{"contact": {"email": "e"}, "by_name": {"Jane Doe": {"phone": "p"}, "Zoë": {"phone": "p", "x": 1}}}"#
        );
    }

    #[test]
    fn only_the_paths_change() {
        let t = json(
            r#"{ json: { paths: { name: { set: X }, address.street: { set: "1 Way" }, "contacts[*].email": { set: e }, missing.path: { set: never } } } }"#,
        );
        let doc = r#"{"name": "Zoë \"Z\" Müller", "address": {"zip": "01234", "street": "Main St 1"}, "contacts": [{"email": "a@b.c"}, {"phone": 1}, {"email": null}], "n": 1.50e3, "gift": false}"#;
        assert_eq!(
            apply(&*t, Some(doc)).unwrap(),
            r#"{"name": "X", "address": {"zip": "01234", "street": "1 Way"}, "contacts": [{"email": "e"}, {"phone": 1}, {"email": null}], "n": 1.50e3, "gift": false}"#
        );
        assert_eq!(apply(&*t, None), None);
        // Not objects at the path: untouched.
        assert_eq!(apply(&*t, Some("[1,2]")).unwrap(), "[1,2]");
        assert_eq!(apply(&*t, Some("\"name\"")).unwrap(), "\"name\"");
    }

    #[test]
    fn escaped_and_duplicate_keys_match() {
        let t = json(r#"{ json: { paths: { name: { set: X } } } }"#);
        assert_eq!(
            apply(&*t, Some(r#"{"na\u006de":"a","name":"b"}"#)).unwrap(),
            r#"{"na\u006de":"X","name":"X"}"#
        );
    }

    #[test]
    fn json_types_are_kept_when_they_can_be() {
        let t = json(
            r#"{ json: { paths: { a: { set: 42 }, b: { set: "x" }, c: { set: "true" }, d: null, e: { set: "[1]" } } } }"#,
        );
        let doc = r#"{"a":1,"b":2,"c":false,"d":"secret","e":{"k":1}}"#;
        assert_eq!(
            apply(&*t, Some(doc)).unwrap(),
            r#"{"a":42,"b":"x","c":true,"d":null,"e":[1]}"#
        );
    }

    #[test]
    fn strings_are_decoded_for_the_rule_and_encoded_back() {
        let t = json(r#"{ json: { paths: { s: { fake: username } } } }"#);
        let doc = r#"{"s":"tab\there \u00e9\ud83c\udf89 \"q\""}"#;
        let out = apply(&*t, Some(doc)).unwrap();
        assert!(
            out.starts_with(r#"{"s":""#)
                && out.contains("\\t")
                && out.contains("🎉")
                && out.contains("\\\""),
            "{out}"
        );
        assert_eq!(decode_string(br#""a\u00e9\n\ud83c\udf89\"""#), "aé\n🎉\"");
        let mut enc = Vec::new();
        encode_string("a\"\\\n\u{1}é".as_bytes(), &mut enc);
        assert_eq!(String::from_utf8(enc).unwrap(), r#""a\"\\\n\u0001é""#);
    }

    #[test]
    fn inner_rules_join_with_columns() {
        // The same rule inside a document and on a column gives the same value.
        let t = json(r#"{ json: { paths: { email: { fake: email } } } }"#);
        let col = build(
            &*parse("{ fake: email }"),
            &column("email", "text", TypeKind::Text),
        );
        let expected = apply(&*col, Some("zoe@example.com")).unwrap();
        assert_eq!(
            apply(&*t, Some(r#"{"email":"zoe@example.com"}"#)).unwrap(),
            format!(r#"{{"email":"{expected}"}}"#)
        );
    }

    #[test]
    fn overlapping_paths_are_refused() {
        for (a, b) in [
            ("a", "a.b"),
            ("a.b", "a"),
            ("\"contacts[*].email\"", "\"contacts[0]\""),
            ("by_name.*.phone", "by_name.zoe"),
        ] {
            let e = parse_err(&format!(
                "{{ json: {{ paths: {{ {a}: null, {b}: null }} }} }}"
            ));
            assert!(e.contains("overlap"), "{a} / {b}: {e}");
        }
        // Siblings and different indexes do not overlap.
        parse(r#"{ json: { paths: { a.b: null, a.c: null, "x[0]": null, "x[1]": null } } }"#);
    }

    #[test]
    fn unlisted_keys_are_dropped_or_refused() {
        let rule = |mode: &str| {
            json(&format!(
                r#"{{ json: {{ unlisted: {mode}, paths: {{ name: {{ set: X }}, gift: keep, "contacts[*].email": {{ set: e }}, address.zip: keep }} }} }}"#
            ))
        };
        let doc = r#"{"ssn": "123", "name": "Zoë", "gift": true, "contacts": [{"email": "a@b.c", "phone": "555"}, {"email": null}], "address": {"zip": "01234", "street": "Main St 1"}, "new": {"deep": [1]}}"#;
        assert_eq!(
            apply(&*rule("drop"), Some(doc)).unwrap(),
            r#"{"name": "X", "gift": true, "contacts": [{"email": "e"}, {"email": null}], "address": {"zip": "01234"}}"#
        );
        // Every member unlisted, and an unlisted one between kept ones.
        assert_eq!(
            apply(&*rule("drop"), Some(r#"{"a":1,"b":2}"#)).unwrap(),
            "{}"
        );
        assert_eq!(
            apply(&*rule("drop"), Some(r#"{"gift":1,"b":2,"name":"n","c":3}"#)).unwrap(),
            r#"{"gift":1,"name":"X"}"#
        );
        // A scalar where the rule expects an object is not listed either;
        // JSON null says nothing and stays.
        assert_eq!(
            apply(
                &*rule("drop"),
                Some(r#"{"address":"Main St 1","contacts":null}"#)
            )
            .unwrap(),
            r#"{"address":null,"contacts":null}"#
        );
        let mut out = Vec::new();
        let e = rule("fail")
            .apply(doc.as_bytes(), &RowView::empty(), &mut out)
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("json key `[key 1]` in public.t.doc is named by no path"),
            "{e}"
        );
        assert!(!e.contains("123"), "no value in the message: {e}");
        let e = rule("fail")
            .apply(
                br#"{"contacts":[{"email":"x","phone":"555-1234"}]}"#,
                &RowView::empty(),
                &mut out,
            )
            .unwrap_err()
            .0;
        // The refused key is unnamed by the rules: its position only.
        assert!(e.starts_with("json key `contacts[0][key 2]` in"), "{e}");
        assert!(!e.contains("555") && !e.contains("phone"), "{e}");
        // Keys are row data: a map keyed by email is never printed, under
        // a `*` either.
        let t = json(r#"{ json: { unlisted: fail, paths: { "shared_with.*.role": keep } } }"#);
        let e = t
            .apply(
                br#"{"shared_with":{"jane.doe.private@gmail.com":{"role":"r","note":"n"}}}"#,
                &RowView::empty(),
                &mut out,
            )
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("json key `shared_with[key 1][key 2]` in public.t.doc"),
            "{e}"
        );
        assert!(!e.contains("jane") && !e.contains("note"), "{e}");
        // The default keeps them.
        let t = json(r#"{ json: { paths: { name: { set: X } } } }"#);
        assert_eq!(
            apply(&*t, Some(r#"{"name":"a","ssn":"1"}"#)).unwrap(),
            r#"{"name":"X","ssn":"1"}"#
        );
    }

    #[test]
    fn documents_nested_deeper_than_any_path_are_handled() {
        // 100,000 levels: parsed only as deep as the paths reach.
        let n = 100_000;
        let deep = format!("{}\"x\"{}", "[".repeat(n), "]".repeat(n));
        let doc = format!(r#"{{"name":"Zoë","deep":{deep},"s":"]["}}"#);
        let t = json(r#"{ json: { paths: { name: { set: X } } } }"#);
        assert_eq!(
            apply(&*t, Some(&doc)).unwrap(),
            format!(r#"{{"name":"X","deep":{deep},"s":"]["}}"#)
        );
        let t = json(r#"{ json: { unlisted: drop, paths: { name: { set: X }, deep: keep } } }"#);
        assert_eq!(
            apply(&*t, Some(&doc)).unwrap(),
            format!(r#"{{"name":"X","deep":{deep}}}"#)
        );
        // Cut short: an error, not a panic.
        let mut out = Vec::new();
        assert!(t
            .apply(&doc.as_bytes()[..1000], &RowView::empty(), &mut out)
            .is_err());
    }

    #[test]
    fn errors_name_the_problem() {
        let e = build_err(
            &*parse(r#"{ json: { paths: { a: { fake: name } } } }"#),
            &column("c", "text", TypeKind::Text),
        );
        assert!(
            e.starts_with("`json` cannot produce a value of type text"),
            "{e}"
        );
        assert!(parse_err(r#"{ json: { paths: { "a..b": keep } } }"#)
            .contains("json path `a..b`: empty key"));
        assert!(parse_err(r#"{ json: { path: {} } }"#).contains("unknown json option `path`"));
        assert!(parse_err(r#"{ json: { paths: { a: { fake: nmae } } } }"#)
            .contains("did you mean `name`?"));
        let e = build_err(
            &*parse(r#"{ json: { paths: { a: { fake: name, unique: true } } } }"#),
            &column("c", "jsonb", TypeKind::Jsonb),
        );
        assert!(
            e.contains("c.a: `fake(name)` cannot guarantee distinct outputs"),
            "{e}"
        );
        let t = json(r#"{ json: { paths: { a: { set: x } } } }"#);
        let mut out = Vec::new();
        for bad in ["{", r#"{"a":}"#, "[1,]", "01", r#"{"a":1} x"#] {
            out.clear();
            assert_eq!(
                t.apply(bad.as_bytes(), &RowView::empty(), &mut out)
                    .unwrap_err()
                    .0,
                "malformed json value",
                "{bad}"
            );
        }
    }
}
