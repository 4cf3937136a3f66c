//! The `json` transform: copy the document, replacing the bytes of the
//! values at the paths, dropping or refusing unlisted keys.

use std::fmt::Write as _;
use std::ops::Range;

use super::path::{every_index, push_key, Step};
use super::scan::{key_is, malformed, select, Node, Parser, ScalarKind};
use super::text::{decode_string, encode_like, encode_string};
use super::Unlisted;
use crate::transform::{Inner, RowView, Transform, ValueError, Written};

pub(super) struct Json {
    pub(super) paths: Vec<(Vec<Step>, Inner)>,
    /// `{ keys: RULE }` paths: the keys of the objects there are rewritten.
    pub(super) keys: Vec<(Vec<Step>, Box<dyn Transform>)>,
    /// Every path of the rule, `keep` ones included: what `unlisted` spares.
    pub(super) listed: Vec<Vec<Step>>,
    /// Levels to parse into nodes: the longest path's steps.
    pub(super) depth: usize,
    pub(super) unlisted: Unlisted,
    /// `table.column`, for messages.
    pub(super) column: String,
    /// `check`'s walk: unlisted keys are collected, not refused.
    pub(super) collect: bool,
}

impl Transform for Json {
    fn apply(
        &self,
        input: &[u8],
        row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let doc = input;
        let mut p = Parser::new(doc, self.depth);
        let root = p.value()?;
        p.ws();
        if !p.at_end() {
            return Err(malformed());
        }
        let mut walk = Walk::default();
        if self.unlisted != Unlisted::Keep {
            self.walk_unlisted(doc, &root, &mut walk)?;
        }
        let mut edits = walk.edits;
        let mut found = Vec::new();
        let mut value = Vec::new();
        for (steps, inner) in &self.paths {
            found.clear();
            select(doc, &root, steps, &mut found);
            for node in &found {
                let (start, end) = node.span();
                if edits.overlaps(start, end) {
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
                    // Most strings hold no escape: their content is the
                    // document's own bytes, with no copy.
                    Some(ScalarKind::String) if memchr::memchr(b'\\', raw).is_none() => {
                        Some(&raw[1..raw.len() - 1])
                    }
                    Some(ScalarKind::String) => {
                        decoded = decode_string(raw);
                        Some(decoded.as_bytes())
                    }
                    _ => Some(raw),
                };
                match inner {
                    Inner::Keep => continue,
                    Inner::Null => edits.push(start, end, b"null"),
                    Inner::Transform(t) => {
                        value.clear();
                        match crate::transform::apply(&**t, text, row, &mut value)? {
                            Written::Null => edits.push(start, end, b"null"),
                            Written::Value => {
                                let at = edits.bytes.len();
                                encode_like(kind, &value, &mut edits.bytes);
                                edits.replaced(start, end, at);
                            }
                        }
                    }
                }
            }
        }
        for (steps, t) in &self.keys {
            found.clear();
            select(doc, &root, steps, &mut found);
            for node in &found {
                let Node::Object { members, .. } = node else {
                    continue;
                };
                for ((start, end), _) in members {
                    let key = decode_string(&doc[*start..*end]);
                    value.clear();
                    if crate::transform::apply(&**t, Some(key.as_bytes()), row, &mut value)?
                        == Written::Null
                    {
                        return Err(ValueError(format!(
                            "a `keys` rule of {} wrote NULL, which cannot be a key",
                            self.column
                        )));
                    }
                    let at = edits.bytes.len();
                    encode_string(&value, &mut edits.bytes);
                    edits.replaced(*start, *end, at);
                }
            }
        }
        edits.write(doc, out);
        Ok(Written::Value)
    }
}

/// The replacements of one document: spans of it, and the bytes that take
/// their place, all in one buffer (one allocation per document, not one
/// per value).
#[derive(Default)]
pub(super) struct Edits {
    /// (start, end) in the document, (start, end) in `bytes`.
    spans: Vec<(usize, usize, usize, usize)>,
    bytes: Vec<u8>,
}

impl Edits {
    /// Whether an edit already covers part of `start..end`.
    fn overlaps(&self, start: usize, end: usize) -> bool {
        self.spans.iter().any(|&(s, e, ..)| start < e && s < end)
    }

    /// Replaces `start..end` of the document with `bytes`.
    fn push(&mut self, start: usize, end: usize, bytes: &[u8]) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        self.replaced(start, end, at);
    }

    /// Replaces `start..end` of the document with what was written to
    /// `bytes` since its length was `at`.
    fn replaced(&mut self, start: usize, end: usize, at: usize) {
        self.spans.push((start, end, at, self.bytes.len()));
    }

    /// Writes `doc` with the edits applied. Drops and path edits never
    /// overlap (a dropped key is on no path); a stable sort keeps a
    /// value's edit before the drop that starts where it ends.
    fn write(mut self, doc: &[u8], out: &mut Vec<u8>) {
        self.spans.sort_by_key(|e| e.0);
        let mut at = 0;
        for &(start, end, a, b) in &self.spans {
            out.extend_from_slice(&doc[at..start]);
            out.extend_from_slice(&self.bytes[a..b]);
            at = end;
        }
        out.extend_from_slice(&doc[at..]);
    }
}

/// One step of where the unlisted walk is. The path text is only
/// written for a message (`render`), not at every key.
#[derive(Clone, Copy)]
enum Part<'s> {
    /// A key the rules name.
    Key(&'s str),
    /// The `n`th key (from 1) of an object, not named by the rules.
    KeyAt(usize),
    Index(usize),
}

/// The state of the unlisted walk over one document.
#[derive(Default)]
pub(super) struct Walk<'s> {
    /// The rest of each path still matching: each level's paths are a
    /// range at the end, pushed before going down and cut after.
    active: Vec<&'s [Step]>,
    trail: Vec<Part<'s>>,
    pub(super) edits: Edits,
    /// `check`'s collected paths.
    pub(super) found: Vec<String>,
}

impl Walk<'_> {
    /// The path where the walk is, as the rules write it.
    fn path(&self) -> String {
        let mut path = String::new();
        for part in &self.trail {
            match *part {
                Part::Key(k) => push_key(&mut path, k),
                Part::KeyAt(n) => {
                    let _ = write!(path, "[key {n}]");
                }
                Part::Index(j) => {
                    let _ = write!(path, "[{j}]");
                }
            }
        }
        path
    }
}

impl Json {
    /// Walks the whole document from `root` with every listed path active
    /// (see `unlisted`).
    pub(super) fn walk_unlisted<'s>(
        &'s self,
        doc: &[u8],
        root: &Node,
        walk: &mut Walk<'s>,
    ) -> Result<(), ValueError> {
        walk.active.extend(self.listed.iter().map(Vec::as_slice));
        let all = 0..walk.active.len();
        self.unlisted(doc, root, all, walk)
    }

    /// Finds the keys under `node` that no path names or runs through
    /// (`walk.active[level]`: the rest of each path still matching here),
    /// and fails naming the first, or adds the edits that drop them.
    fn unlisted<'s>(
        &'s self,
        doc: &[u8],
        node: &Node,
        level: Range<usize>,
        walk: &mut Walk<'s>,
    ) -> Result<(), ValueError> {
        // A path ends here: its rule covers the whole subtree.
        if walk.active[level.clone()]
            .iter()
            .any(|steps| steps.is_empty())
        {
            return Ok(());
        }
        let next_start = level.end;
        match node {
            Node::Object { members, .. } => {
                let mut dropped = Vec::new();
                for (j, (span, value)) in members.iter().enumerate() {
                    // Keys are row data (maps keyed by email or name): the
                    // path shows a key only when the rules name it, else
                    // its position among its object's keys.
                    let mut named = None;
                    for k in level.clone() {
                        let steps = walk.active[k];
                        match steps.split_first() {
                            Some((Step::Key(key), rest)) if key_is(doc, *span, key) => {
                                named.get_or_insert(key.as_str());
                                walk.active.push(rest);
                            }
                            Some((Step::Every, rest)) => walk.active.push(rest),
                            _ => {}
                        }
                    }
                    walk.trail.push(named.map_or(Part::KeyAt(j + 1), Part::Key));
                    let next = next_start..walk.active.len();
                    if next.is_empty() {
                        self.refuse(walk)?;
                        dropped.push(j);
                    } else {
                        self.unlisted(doc, value, next, walk)?;
                    }
                    walk.trail.pop();
                    walk.active.truncate(next_start);
                }
                drop_members(members, &dropped, &mut walk.edits);
            }
            Node::Array { items, .. } => {
                for (j, item) in items.iter().enumerate() {
                    for k in level.clone() {
                        match walk.active[k].split_first() {
                            Some((Step::Every, rest)) => walk.active.push(rest),
                            Some((Step::Index(n), rest)) if *n == j => walk.active.push(rest),
                            _ => {}
                        }
                    }
                    walk.trail.push(Part::Index(j));
                    let next = next_start..walk.active.len();
                    if next.is_empty() {
                        self.refuse(walk)?;
                        let (s, e) = item.span();
                        walk.edits.push(s, e, b"null");
                    } else {
                        self.unlisted(doc, item, next, walk)?;
                    }
                    walk.trail.pop();
                    walk.active.truncate(next_start);
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
                self.refuse(walk)?;
                walk.edits.push(*start, *end, b"null");
            }
        }
        Ok(())
    }

    /// With `unlisted: fail`, the error for the key where the walk is: its
    /// path only, never its value, and never a key the rules do not name.
    fn refuse(&self, walk: &mut Walk<'_>) -> Result<(), ValueError> {
        if !self.collect && self.unlisted != Unlisted::Fail {
            return Ok(());
        }
        let mut path = walk.path();
        if path.is_empty() {
            path.push_str("(the whole document)");
        }
        if self.collect {
            let general = every_index(&path);
            if !walk.found.contains(&general) {
                walk.found.push(general);
            }
            return Ok(());
        }
        Err(ValueError(format!(
            "json key `{path}` in {} is named by no path of the rule (`unlisted: fail`); \
             add it to the rule's paths (`keep` if it is not personal), or set `unlisted: drop`",
            self.column
        )))
    }
}

/// The edits that remove `dropped` members (indexes, ascending) of an
/// object with their commas: a member before the last kept one goes with
/// everything up to the next key; the dropped members after it go in one
/// span from the end of the last kept value, which takes the comma before
/// them.
pub(super) fn drop_members(
    members: &[((usize, usize), Node)],
    dropped: &[usize],
    edits: &mut Edits,
) {
    let Some(&last) = dropped.last() else {
        return;
    };
    let last_kept = (0..members.len()).rev().find(|j| !dropped.contains(j));
    for &j in dropped {
        match last_kept {
            Some(k) if j < k => edits.push(members[j].0 .0, members[j + 1].0 .0, b""),
            _ => {}
        }
    }
    let tail_start = match last_kept {
        Some(k) if k < last => members[k].1.span().1,
        Some(_) => return,
        None => members[0].0 .0,
    };
    edits.push(tail_start, members[last].1.span().1, b"");
}
