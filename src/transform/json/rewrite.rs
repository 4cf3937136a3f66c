//! The `json` transform: copy the document, replacing the bytes of the
//! values at the paths, dropping or refusing unlisted keys.

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
        // Replacements as (start, end, bytes), first path first.
        let mut edits: Vec<(usize, usize, Vec<u8>)> = Vec::new();
        if self.unlisted != Unlisted::Keep {
            let active: Vec<&[Step]> = self.listed.iter().map(Vec::as_slice).collect();
            self.unlisted(
                doc,
                &root,
                &active,
                &mut String::new(),
                &mut edits,
                &mut Vec::new(),
            )?;
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
                let mut replacement = Vec::new();
                match inner {
                    Inner::Keep => continue,
                    Inner::Null => replacement.extend_from_slice(b"null"),
                    Inner::Transform(t) => {
                        value.clear();
                        match crate::transform::apply(&**t, text, row, &mut value)? {
                            Written::Null => replacement.extend_from_slice(b"null"),
                            Written::Value => encode_like(kind, &value, &mut replacement),
                        }
                    }
                }
                edits.push((start, end, replacement));
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
                    let mut literal = Vec::new();
                    encode_string(&value, &mut literal);
                    edits.push((*start, *end, literal));
                }
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
    pub(super) fn unlisted(
        &self,
        doc: &[u8],
        node: &Node,
        active: &[&[Step]],
        path: &mut String,
        edits: &mut Vec<(usize, usize, Vec<u8>)>,
        found: &mut Vec<String>,
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
                        self.refuse(path, found)?;
                        dropped.push(j);
                    } else {
                        self.unlisted(doc, value, &next, path, edits, found)?;
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
                        self.refuse(path, found)?;
                        let (s, e) = item.span();
                        edits.push((s, e, b"null".to_vec()));
                    } else {
                        self.unlisted(doc, item, &next, path, edits, found)?;
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
                self.refuse(
                    if path.is_empty() {
                        "(the whole document)"
                    } else {
                        path
                    },
                    found,
                )?;
                edits.push((*start, *end, b"null".to_vec()));
            }
        }
        Ok(())
    }

    /// With `unlisted: fail`, the error for the key at `path`: its path
    /// only, never its value, and never a key the rules do not name.
    fn refuse(&self, path: &str, found: &mut Vec<String>) -> Result<(), ValueError> {
        if self.collect {
            let general = every_index(path);
            if !found.contains(&general) {
                found.push(general);
            }
            return Ok(());
        }
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

/// The edits that remove `dropped` members (indexes, ascending) of an
/// object with their commas: a member before the last kept one goes with
/// everything up to the next key; the dropped members after it go in one
/// span from the end of the last kept value, which takes the comma before
/// them.
pub(super) fn drop_members(
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
