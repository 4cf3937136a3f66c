//! The `json` transform: one pass over the document's text that copies it
//! into the output, replacing the values at the paths and dropping or
//! refusing unlisted keys. Nothing is built per element: the parts no path
//! reaches are moved past and copied through as byte slices, and the walk
//! keeps its state in buffers reused document after document.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::ops::Range;

use super::path::{every_index, push_key, Step};
use super::scan::{malformed, Cursor, KeyHead, KeyLiteral, ScalarKind};
use super::text::{decode_string, encode_like, encode_string};
use super::Unlisted;
use crate::transform::{RowView, Transform, ValueError, Written};

pub(super) struct Json {
    /// Every path of the rule, in the rule's order, `keep` ones included:
    /// what `unlisted` spares.
    targets: Vec<Target>,
    /// Levels to check the syntax of: the longest path's steps.
    depth: usize,
    /// What target `t`'s step at `level` matches, at `t * (depth + 1) +
    /// level` (a `keys` path's object sits one level past its last step):
    /// one flat table, so checking a key against every path still going
    /// is a load and a comparison a path.
    matchers: Vec<Matcher>,
    unlisted: Unlisted,
    /// `table.column`, for messages.
    column: String,
}

pub(super) struct Target {
    pub(super) steps: Vec<Step>,
    pub(super) action: Action,
}

/// A path's step as [`Walk::object`] checks a key against it.
#[derive(Clone, Copy)]
enum Matcher {
    /// `Step::Key`, by its head.
    Key(KeyHead),
    /// Any other step, or none (the path ended above).
    Other,
}

impl Json {
    pub(super) fn new(
        targets: Vec<Target>,
        depth: usize,
        unlisted: Unlisted,
        column: String,
    ) -> Json {
        let mut matchers = vec![Matcher::Other; targets.len() * (depth + 1)];
        for (t, target) in targets.iter().enumerate() {
            for (level, step) in target.steps.iter().enumerate() {
                if let Step::Key(name) = step {
                    matchers[t * (depth + 1) + level] = Matcher::Key(KeyHead::of(name));
                }
            }
        }
        Json {
            targets,
            depth,
            matchers,
            unlisted,
            column,
        }
    }
}

/// What happens where a path ends.
pub(super) enum Action {
    Keep,
    Null,
    /// The value is rewritten by this rule.
    Value(Box<dyn Transform>),
    /// The keys of the object there are rewritten by this rule.
    Keys(Box<dyn Transform>),
}

/// What one walk over a document does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Writes the rewritten document: the run.
    Rewrite,
    /// Only reads: malformed json is its only error.
    Syntax,
    /// Only looks for unlisted keys (`unlisted: fail`).
    Unlisted,
    /// Only runs the rule of one path (an index into `targets`).
    Rule(usize),
    /// `check`'s walk: unlisted keys are collected, not refused.
    Collect,
}

impl Transform for Json {
    fn apply(
        &self,
        input: &[u8],
        row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        // The output is about the input's size: reserving it once keeps a
        // large document's copy from growing by doubling.
        out.reserve(input.len());
        let walked = with_scratch(|s| self.walk(input, row, Pass::Rewrite, out, s));
        match walked {
            Ok(_) => Ok(Written::Value),
            Err(e) => {
                out.clear();
                Err(with_scratch(|s| self.first_error(input, row, s)).unwrap_or(e))
            }
        }
    }
}

impl Json {
    /// `check`'s unlisted keys of `doc`, each path with its indexes written
    /// `[*]`; none when the document does not parse.
    pub(super) fn collect_unlisted(&self, doc: &[u8]) -> Vec<String> {
        with_scratch(|s| {
            self.walk(doc, &RowView::empty(), Pass::Collect, &mut Vec::new(), s)
                .unwrap_or_default()
        })
    }

    /// The error a document gets, as the rule states its checks: the
    /// syntax first, then unlisted keys, then each path's rule in the
    /// rule's order (values, then keys). The rewrite meets errors in
    /// document order; this pins which one a document with several gets.
    fn first_error(&self, doc: &[u8], row: &RowView<'_>, s: &mut Scratch) -> Option<ValueError> {
        let mut passes = vec![Pass::Syntax];
        if self.unlisted == Unlisted::Fail {
            passes.push(Pass::Unlisted);
        }
        let rules = |keys: bool| {
            (0..self.targets.len())
                .filter(move |&t| matches!(self.targets[t].action, Action::Keys(_)) == keys)
                .map(Pass::Rule)
        };
        passes.extend(rules(false).chain(rules(true)));
        passes
            .into_iter()
            .find_map(|pass| self.walk(doc, row, pass, &mut Vec::new(), s).err())
    }

    /// One walk over `doc`; returns the collected unlisted paths (`Pass::Collect`).
    fn walk(
        &self,
        doc: &[u8],
        row: &RowView<'_>,
        pass: Pass,
        out: &mut Vec<u8>,
        s: &mut Scratch,
    ) -> Result<Vec<String>, ValueError> {
        s.active.clear();
        s.trail.clear();
        s.active.extend(0..self.targets.len());
        let check = match pass {
            Pass::Rewrite => self.unlisted != Unlisted::Keep,
            Pass::Unlisted | Pass::Collect => true,
            Pass::Syntax | Pass::Rule(_) => false,
        };
        let mut w = Walk {
            json: self,
            doc,
            cur: Cursor::new(doc, self.depth),
            row,
            pass,
            out,
            copied: 0,
            s,
            found: Vec::new(),
        };
        let all = 0..w.s.active.len();
        w.node(0, all, check)?;
        if pass != Pass::Collect {
            w.cur.ws();
            if !w.cur.at_end() {
                return Err(malformed());
            }
        }
        if pass == Pass::Rewrite {
            w.out.extend_from_slice(&doc[w.copied..]);
        }
        Ok(w.found)
    }
}

/// A worker's buffers for the walk, reused document after document.
#[derive(Default)]
struct Scratch {
    /// The paths (indexes into `targets`) still matching: each level's are
    /// a range at the end, pushed before going down and cut after. A path
    /// at level L has matched its first L steps.
    active: Vec<usize>,
    /// Where the walk is, for messages (kept only while looking for
    /// unlisted keys).
    trail: Vec<Part>,
    /// A rule's output for one value or key.
    value: Vec<u8>,
}

/// Above this many bytes a worker's rule output buffer is freed after the
/// document, so one huge value does not pin its memory for the whole run.
const SCRATCH_KEEP: usize = 1 << 20;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this worker's scratch; a json rule inside a document (a
/// rule's rule) gets a fresh one.
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => {
            let result = f(&mut s);
            if s.value.capacity() > SCRATCH_KEEP {
                s.value = Vec::new();
            }
            result
        }
        Err(_) => f(&mut Scratch::default()),
    })
}

/// One step of where the walk is. The path text is only written for a
/// message (`Walk::path`), not at every key.
#[derive(Clone, Copy)]
enum Part {
    /// A key the rules name: step `level` of target `target`.
    Key {
        target: usize,
        level: usize,
    },
    /// The `n`th key (from 1) of an object, not named by the rules.
    KeyAt(usize),
    Index(usize),
}

struct Walk<'w, 'r> {
    json: &'w Json,
    doc: &'w [u8],
    cur: Cursor<'w>,
    row: &'w RowView<'r>,
    pass: Pass,
    /// The rewritten document (`Pass::Rewrite` only).
    out: &'w mut Vec<u8>,
    /// The document's bytes before this are in `out`, as they were or
    /// replaced.
    copied: usize,
    s: &'w mut Scratch,
    /// `check`'s collected paths.
    found: Vec<String>,
}

/// The members of one object that `unlisted: drop` removes, as the walk
/// meets them: a run of dropped members before a kept one goes from its
/// first key to the kept one's key; the run after the last kept member
/// goes from the end of its value, which takes the comma before them.
#[derive(Default)]
struct Dropping {
    /// Where the current run of dropped members starts (a key).
    run: Option<usize>,
    last_kept_end: Option<usize>,
    last_dropped_end: usize,
}

impl Walk<'_, '_> {
    /// Whether this pass runs target `t`'s rule.
    fn runs(&self, t: usize) -> bool {
        match self.pass {
            Pass::Rewrite => true,
            Pass::Rule(r) => r == t,
            _ => false,
        }
    }

    /// Copies the document through to `start`, where a replacement goes.
    fn copy_to(&mut self, start: usize) {
        self.out.extend_from_slice(&self.doc[self.copied..start]);
    }

    /// Replaces `start..end` of the document with `bytes`.
    fn replace(&mut self, start: usize, end: usize, bytes: &[u8]) {
        if self.pass == Pass::Rewrite {
            self.copy_to(start);
            self.out.extend_from_slice(bytes);
            self.copied = end;
        }
    }

    /// The value at `level` (after white space), with the paths `active`
    /// (a range of `s.active`) matching down to it; `check`: whether keys
    /// no path names are unlisted here. Leaves the cursor right after it.
    fn node(&mut self, level: usize, active: Range<usize>, check: bool) -> Result<(), ValueError> {
        let json = self.json;
        let mut keys = None;
        for k in active.clone() {
            let t = self.s.active[k];
            let target = &json.targets[t];
            if target.steps.len() == level {
                // Paths do not overlap, except below a `keys` rule: a
                // path ending here is the only one, or a `keys` one.
                match &target.action {
                    Action::Keys(rule) => keys = Some((t, &**rule)),
                    _ => return self.leaf(t, level),
                }
            }
        }
        // A path ends here: its rule covers the whole subtree.
        let check = check && keys.is_none();
        self.cur.ws();
        let start = self.cur.i;
        match self.cur.peek() {
            Some(b'{') => self.object(level, active, check, keys),
            Some(b'[') => self.array(level, active, check),
            _ => {
                // A value where a path expected to go deeper (`"address":
                // "x"` under `address.street`) is not what any rule names.
                // JSON null says nothing, so it stays.
                if self.cur.scalar()? != ScalarKind::Null && check {
                    self.refuse()?;
                    self.replace(start, self.cur.i, b"null");
                }
                Ok(())
            }
        }
    }

    /// The value where target `t`'s path ends.
    fn leaf(&mut self, t: usize, level: usize) -> Result<(), ValueError> {
        let json = self.json;
        self.cur.ws();
        let start = self.cur.i;
        let kind = self.cur.skip_value(level)?;
        let end = self.cur.i;
        match &json.targets[t].action {
            Action::Null if self.runs(t) => self.replace(start, end, b"null"),
            Action::Value(rule) if self.runs(t) => {
                let raw = &self.doc[start..end];
                let decoded;
                let text: Option<&[u8]> = match kind {
                    Some(ScalarKind::Null) => None,
                    // Most strings hold no escape: their content is the
                    // document's own bytes, with no copy.
                    Some(ScalarKind::String) if !self.cur.escaped => Some(&raw[1..raw.len() - 1]),
                    Some(ScalarKind::String) => {
                        decoded = decode_string(raw);
                        Some(decoded.as_bytes())
                    }
                    _ => Some(raw),
                };
                self.s.value.clear();
                let written = crate::transform::apply(&**rule, text, self.row, &mut self.s.value)?;
                if self.pass == Pass::Rewrite {
                    self.copy_to(start);
                    match written {
                        Written::Null => self.out.extend_from_slice(b"null"),
                        Written::Value => encode_like(kind, &self.s.value, self.out),
                    }
                    self.copied = end;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The object at the cursor; `keys`: the `keys` rule ending here.
    fn object(
        &mut self,
        level: usize,
        active: Range<usize>,
        check: bool,
        keys: Option<(usize, &dyn Transform)>,
    ) -> Result<(), ValueError> {
        let json = self.json;
        self.cur.i += 1;
        if self.cur.empty(b'}') {
            return Ok(());
        }
        let next_start = self.s.active.len();
        let mut dropping = Dropping::default();
        let mut n = 0;
        loop {
            n += 1;
            let key = self.cur.key()?;
            let head = key.head(self.doc);
            // Keys are row data (maps keyed by email or name): the path
            // shows a key only when the rules name it, else its position
            // among its object's keys.
            let mut named = None;
            for k in active.clone() {
                let t = self.s.active[k];
                let step = || &json.targets[t].steps[level];
                match json.matchers[t * (json.depth + 1) + level] {
                    Matcher::Key(key_head)
                        if key.is(self.doc, head, key_head, || match step() {
                            Step::Key(name) => name,
                            _ => unreachable!("a key matcher is a key step"),
                        }) =>
                    {
                        named.get_or_insert(Part::Key { target: t, level });
                        self.s.active.push(t);
                    }
                    Matcher::Key(_) => {}
                    Matcher::Other => {
                        if let Some(Step::Every) = json.targets[t].steps.get(level) {
                            self.s.active.push(t);
                        }
                    }
                }
            }
            let next = next_start..self.s.active.len();
            if check {
                self.s.trail.push(named.unwrap_or(Part::KeyAt(n)));
            }
            if next.is_empty() && check {
                self.refuse()?;
                dropping.run.get_or_insert(key.span.0);
                self.cur.skip_value(level + 1)?;
                dropping.last_dropped_end = self.cur.i;
            } else {
                if let Some(run) = dropping.run.take() {
                    self.replace(run, key.span.0, b"");
                }
                if let Some((t, rule)) = keys {
                    self.rewrite_key(t, rule, key)?;
                }
                if next.is_empty() {
                    self.cur.skip_value(level + 1)?;
                } else {
                    self.node(level + 1, next, check)?;
                }
                dropping.last_kept_end = Some(self.cur.i);
            }
            if check {
                self.s.trail.pop();
            }
            self.s.active.truncate(next_start);
            if !self.cur.more(b'}')? {
                break;
            }
        }
        if let Some(run) = dropping.run {
            let from = dropping.last_kept_end.unwrap_or(run);
            self.replace(from, dropping.last_dropped_end, b"");
        }
        Ok(())
    }

    /// The array at the cursor. An element no path reaches becomes `null`
    /// under `unlisted: drop`, so the other indexes hold.
    fn array(&mut self, level: usize, active: Range<usize>, check: bool) -> Result<(), ValueError> {
        let json = self.json;
        self.cur.i += 1;
        if self.cur.empty(b']') {
            return Ok(());
        }
        let next_start = self.s.active.len();
        let mut j = 0;
        loop {
            for k in active.clone() {
                let t = self.s.active[k];
                match json.targets[t].steps.get(level) {
                    Some(Step::Every) => self.s.active.push(t),
                    Some(Step::Index(i)) if *i == j => self.s.active.push(t),
                    _ => {}
                }
            }
            let next = next_start..self.s.active.len();
            if check {
                self.s.trail.push(Part::Index(j));
            }
            if !next.is_empty() {
                self.node(level + 1, next, check)?;
            } else if check {
                self.refuse()?;
                self.cur.ws();
                let start = self.cur.i;
                self.cur.skip_value(level + 1)?;
                self.replace(start, self.cur.i, b"null");
            } else {
                self.cur.skip_value(level + 1)?;
            }
            if check {
                self.s.trail.pop();
            }
            self.s.active.truncate(next_start);
            j += 1;
            if !self.cur.more(b']')? {
                break;
            }
        }
        Ok(())
    }

    /// Rewrites `key` by target `t`'s `keys` rule.
    fn rewrite_key(
        &mut self,
        t: usize,
        rule: &dyn Transform,
        key: KeyLiteral,
    ) -> Result<(), ValueError> {
        let span = key.span;
        if !self.runs(t) {
            return Ok(());
        }
        let key = decode_string(&self.doc[span.0..span.1]);
        self.s.value.clear();
        if crate::transform::apply(rule, Some(key.as_bytes()), self.row, &mut self.s.value)?
            == Written::Null
        {
            return Err(ValueError(format!(
                "a `keys` rule of {} wrote NULL, which cannot be a key",
                self.json.column
            )));
        }
        if self.pass == Pass::Rewrite {
            self.copy_to(span.0);
            encode_string(&self.s.value, self.out);
            self.copied = span.1;
        }
        Ok(())
    }

    /// With `unlisted: fail`, the error for the key where the walk is: its
    /// path only, never its value, and never a key the rules do not name.
    fn refuse(&mut self) -> Result<(), ValueError> {
        if self.pass != Pass::Collect && self.json.unlisted != Unlisted::Fail {
            return Ok(());
        }
        let mut path = self.path();
        if path.is_empty() {
            path.push_str("(the whole document)");
        }
        if self.pass == Pass::Collect {
            let general = every_index(&path);
            if !self.found.contains(&general) {
                self.found.push(general);
            }
            return Ok(());
        }
        Err(ValueError(format!(
            "json key `{path}` in {} is named by no path of the rule (`unlisted: fail`); \
             add it to the rule's paths (`keep` if it is not personal), or set `unlisted: drop`",
            self.json.column
        )))
    }

    /// The path where the walk is, as the rules write it.
    fn path(&self) -> String {
        let mut path = String::new();
        for part in &self.s.trail {
            match *part {
                Part::Key { target, level } => {
                    if let Step::Key(k) = &self.json.targets[target].steps[level] {
                        push_key(&mut path, k);
                    }
                }
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
