//! Transforms: what a column's value becomes.
//!
//! A rule in YAML is parsed into `Box<dyn TransformOptions>` (what the user
//! wrote); the plan calls `TransformOptions::build` per column to get a
//! `Box<dyn Transform>` (what runs). The runtime only sees `Transform`.
//!
//! Adding a transform: a new file `src/transform/<yaml_key>.rs` with its
//! `Options` (parser), `TransformOptions` (build and typed metadata, which
//! has no defaults to forget) and tests; its `mod` line and one line in
//! `registry` here; and its section in docs/transforms.md (a test checks).
//!
//! Every non-constant transform draws from `Key::digest`, an
//! HMAC-SHA256 of `namespace ‖ input` under the run's secret: `hash` per
//! value, the others through a SipHash key derived from it once per rule
//! (`keyed::Prf`).

use std::fmt;

use serde::de::{Deserialize, MapAccess};

use crate::catalog::{Column, TypeKind};
pub use crate::key::Key;

// Helpers shared by the transforms (not YAML keys).
mod array;
mod datetime;
mod decimal;
pub mod keyed;

mod choice;
mod fake;
mod fpe;
mod hash;
mod json;
mod mask;
mod noise;
mod random_int;
mod random_numeric;
mod regex;
mod set;
mod shift;
mod template;

pub mod command;
pub mod rule;

#[cfg(test)]
mod robust;

/// THE registry: every transform a rule may name, one line each, in the
/// order the docs list them. A line gives the YAML key, the options type
/// (whose `Deserialize` is the parser and whose `TransformOptions` carries
/// the typed metadata: uniqueness, output space, secret), and the sample
/// case the shared tests run it on. `keep` and `null` are written as
/// scalars, not map keys, so they are not here.
///
/// Generic over the map being read so rules errors keep the YAML reader's
/// `file:line:col`; `entries` gives the same table without a map.
#[rustfmt::skip] // One line per transform, so the table reads as a table.
fn registry<'de, A: MapAccess<'de>>() -> Vec<Entry<Parser<'de, A>>> {
    use TypeKind::*;
    vec![
        entry::<set::Options, A>("set", "{ set: x }", "text", Text),
        entry::<fake::Options, A>("fake", "{ fake: name }", "text", Text),
        entry::<hash::Options, A>("hash", "{ hash: { length: 12 } }", "text", Text),
        entry::<fpe::Options, A>("fpe", "{ fpe: {} }", "text", Text),
        entry::<mask::Options, A>("mask", "{ mask: { keep_first: 1 } }", "text", Text),
        entry::<shift::Options, A>("shift", "{ shift: { days: 30 } }", "date", Date),
        entry::<noise::Options, A>("noise", "{ noise: { percent: 50 } }", "integer", Int32),
        entry::<choice::Options, A>("choice", "{ choice: [a, b, c, d] }", "text", Text),
        entry::<random_int::Options, A>("random_int", "{ random_int: { min: 0, max: 1000 } }", "integer", Int32),
        entry::<random_numeric::Options, A>("random_numeric", "{ random_numeric: { min: 0, max: 10 } }", "numeric", Numeric),
        entry::<template::Options, A>("template", "{ template: \"x{c}x\" }", "text", Text),
        entry::<json::Options, A>("json", "{ json: { paths: { a: { fake: word } } } }", "jsonb", Jsonb),
        entry::<regex::Options, A>("regex", "{ regex: { pattern: '[0-9]+', with: { hash: { length: 4 } } } }", "text", Text),
    ]
}

/// One line of the registry.
pub struct Entry<P> {
    /// The YAML key (`fake`, `hash`).
    pub name: &'static str,
    /// Reads the transform's options from the rule's map.
    pub parse: P,
    /// A rule and a column type it fits, for the tests that cover every
    /// transform (NULL, determinism, the secret, no panics).
    pub sample: Sample,
}

/// A rule of one transform and the column type it is built for.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub rule: &'static str,
    pub type_name: &'static str,
    pub kind: TypeKind,
}

type Parser<'de, A> = fn(&mut A) -> Result<Box<dyn TransformOptions>, <A as MapAccess<'de>>::Error>;

fn entry<'de, T, A>(
    name: &'static str,
    rule: &'static str,
    type_name: &'static str,
    kind: TypeKind,
) -> Entry<Parser<'de, A>>
where
    T: TransformOptions + Deserialize<'de> + 'static,
    A: MapAccess<'de>,
{
    Entry {
        name,
        parse: |map| Ok(Box::new(map.next_value::<T>()?)),
        sample: Sample {
            rule,
            type_name,
            kind,
        },
    }
}

/// The registry without its parsers: names and samples.
pub fn entries() -> Vec<Entry<()>> {
    // Any map type will do to list the table; this one is never read.
    type NoMap = serde::de::value::MapDeserializer<
        'static,
        std::iter::Empty<((), ())>,
        serde::de::value::Error,
    >;
    registry::<NoMap>()
        .into_iter()
        .map(|e| Entry {
            name: e.name,
            parse: (),
            sample: e.sample,
        })
        .collect()
}

/// Every transform key a rule may use, for "did you mean" and the docs.
pub fn names() -> Vec<&'static str> {
    entries().into_iter().map(|e| e.name).collect()
}

/// Parses the options of transform `name` from the rule's map. Returns
/// `Ok(None)` for a name not in the registry.
pub fn parse_options<'de, A: MapAccess<'de>>(
    name: &str,
    map: &mut A,
) -> Result<Option<Box<dyn TransformOptions>>, A::Error> {
    match registry::<A>().into_iter().find(|e| e.name == name) {
        Some(e) => (e.parse)(map).map(Some),
        None => Ok(None),
    }
}

/// What a transform promises about equal outputs. Only `Lossy` is refused
/// on unique columns and with `unique: true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// Different inputs may give the same output (first names, short hashes).
    Lossy,
    /// Different inputs give different outputs except with negligible
    /// probability: at least 128 bits of keyed hash, as unlikely to collide
    /// as SHA-256 itself (a hash of unbounded text cannot be a bijection).
    CollisionFree,
    /// Different inputs give different outputs, by construction (a keyed
    /// bijection), so a unique column stays unique.
    Injective,
}

/// What a rule's outputs can be, for `verify`: how often an output may
/// equal a real value by chance. `verify` compares the share of sampled
/// target values found in the source column with what this makes likely;
/// a share far above it is a leak, whatever the rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutputSpace {
    /// One value the user wrote (`set`, a template without columns): a
    /// match says nothing about any row.
    Constant,
    /// Keyed draws over about this many distinct outputs (first names, a
    /// 4-digit hash, a choice of 3): an output is in a source column of D
    /// distinct values with probability about D / n.
    Values(f64),
    /// The input's own shape re-encrypted (`fpe`, phone and username
    /// fakes): about `radix ^ (length - kept)` outputs for a value of that
    /// length. A value no longer than `kept` cannot change, so when it is
    /// found in the source it counts against the rule.
    Shape { radix: f64, kept: usize },
    /// Near the input on a dense scale (`shift`, `noise`): outputs land on
    /// other real values all the time; matches are information.
    Dense,
    /// The input with some parts replaced (`json`, `regex`): what no path
    /// or pattern reached passes unchanged, so the outputs are scanned
    /// like kept text.
    Partial,
}

/// The longest text a rule can write, in characters, as a function of the
/// longest input: what `check` compares with a `varchar(n)`/`char(n)`
/// column. Only rules that cannot be cut to fit (a cut could repeat a
/// value, see `BuildContext::finish`) are refused on it; a lossy rule's
/// text is cut to the column's length.
#[derive(Debug, Clone, Copy)]
pub enum MaxLength {
    /// At most this many characters, whatever the input (`hash`, `set`,
    /// `fake: uuid`).
    Fixed(usize),
    /// At most the input's length plus this many (`fpe`: 0; the unique
    /// `fake: email`: 8, for `.invalid`).
    InputPlus(usize),
    /// At most `f(n)` characters for an input of `n`: the person-like
    /// `fake: email` and `username`, whose tag grows with the input (see
    /// `person::max_len`).
    Grows(fn(usize) -> usize),
    /// No bound the plan can state (text drawn from word lists, templates
    /// of other columns, documents).
    Unbounded,
}

impl MaxLength {
    /// The bound for inputs of at most `input` characters (`None`: not
    /// known), or `None` when there is none.
    pub fn bound(self, input: Option<usize>) -> Option<usize> {
        match self {
            MaxLength::Fixed(n) => Some(n),
            MaxLength::InputPlus(k) => input.map(|i| i + k),
            MaxLength::Grows(f) => input.map(f),
            MaxLength::Unbounded => None,
        }
    }
}

/// Everything `build` may look at.
pub struct BuildContext<'a> {
    /// Table name as users write it, for messages.
    pub table: &'a str,
    pub column: &'a Column,
    /// Every column of the table, in order (for `template`).
    pub columns: &'a [Column],
    pub key: &'a Key,
    /// The rule's `locale:` or the rules' global one.
    pub locale: &'a str,
    /// The rule's `unique: true`.
    pub unique: bool,
    /// The rule's `namespace:`, which replaces the default namespace.
    pub namespace: Option<&'a str>,
    /// `unknown_columns: fail` is in force for the table: a `json` rule
    /// without `unlisted:` then fails on a key it does not list, as the
    /// plan fails on a column without a rule.
    pub unknown_fail: bool,
}

impl BuildContext<'_> {
    /// The namespace of the values: the rule's `namespace:` if given, else
    /// `default` (the transform and its options, modifiers excluded), so one
    /// real value maps to one fake value wherever the same rule is used.
    pub fn namespace(&self, default: &str) -> Vec<u8> {
        self.namespace.unwrap_or(default).as_bytes().to_vec()
    }

    /// An error about this column's type, in the shared wording.
    pub fn type_error(&self, transform: &str, can_produce: &str) -> String {
        format!(
            "`{transform}` cannot produce a value of type {} (column {}.{}); it produces {can_produce}",
            self.column.type_name, self.table, self.column.name
        )
    }

    /// Checks that the column (each element, for arrays) is of one of
    /// `kinds`, with `type_error`'s wording otherwise.
    pub fn require(
        &self,
        transform: &str,
        kinds: &[TypeKind],
        can_produce: &str,
    ) -> Result<(), String> {
        if kinds.contains(&self.column.kind) {
            Ok(())
        } else {
            Err(self.type_error(transform, can_produce))
        }
    }

    /// True for the value inside a document (a json path, a regex match):
    /// its type is only known at run time, so typed transforms accept it
    /// and parse what they find.
    pub fn is_fragment(&self) -> bool {
        self.column.base_type == FRAGMENT
    }

    /// Wraps a transform built for one scalar value so it fits the column:
    /// element by element for arrays, and cut to `varchar(n)`/`char(n)`.
    /// A lossy transform's text is cut to n characters; an injective one
    /// must fit already (cutting would break uniqueness), so a longer value
    /// is an error.
    pub fn finish(
        &self,
        transform: Box<dyn Transform>,
        uniqueness: Uniqueness,
    ) -> Box<dyn Transform> {
        let mut t = transform;
        if let (Some(n), TypeKind::Text) = (self.column.max_length, self.column.kind) {
            t = Box::new(FitLength {
                inner: t,
                max: n,
                cut: uniqueness == Uniqueness::Lossy,
            });
        }
        if self.column.is_array {
            let delimiter = if self.column.base_type == "box" {
                b';'
            } else {
                b','
            };
            t = Box::new(array::ArrayOf {
                inner: t,
                delimiter,
            });
        }
        t
    }
}

/// The `base_type` of a value inside a document (see `is_fragment`).
pub const FRAGMENT: &str = "fragment";

/// A rule nested in another one (a json path's rule, a regex's `with:`),
/// built for the values it will see.
pub(crate) enum Inner {
    Keep,
    Null,
    Transform(Box<dyn Transform>),
}

/// Builds a nested rule with the checks the plan makes on column rules
/// (`unique: true` on a lossy transform), for fragments of `ctx`'s column
/// described as `what` (`shipping.name`), of type `type_name`.
pub(crate) fn build_inner(
    ctx: &BuildContext<'_>,
    rule: &rule::ColumnRule,
    what: &str,
    type_name: &str,
) -> Result<Inner, String> {
    use rule::Action;
    if rule.when.is_some() {
        return Err(format!(
            "{}.{what}: `when:` chooses a column's rule per row; it cannot be used inside a document",
            ctx.table
        ));
    }
    let options = match &rule.action {
        Action::Keep => return Ok(Inner::Keep),
        Action::Null => return Ok(Inner::Null),
        Action::Transform(o) => o,
        // Both run per column, outside the value: on the source's SQL, or
        // in batches through a program.
        Action::Sql(_) | Action::Command(_) => {
            return Err(format!(
                "{}.{what}: `{}` applies to a whole column, not to a value inside one",
                ctx.table,
                rule.describe()
            ))
        }
    };
    if rule.unique && options.uniqueness() == Uniqueness::Lossy {
        return Err(format!(
            "{}.{what}: `{}` cannot guarantee distinct outputs, but the rule says `unique: true`",
            ctx.table,
            options.describe()
        ));
    }
    let column = Column {
        // Marks the value as a fragment inside a document (`is_fragment`).
        base_type: FRAGMENT.to_string(),
        ..Column::new(what, type_name, TypeKind::Text)
    };
    let inner = BuildContext {
        table: ctx.table,
        column: &column,
        columns: ctx.columns,
        key: ctx.key,
        locale: rule.locale.as_deref().unwrap_or(ctx.locale),
        unique: rule.unique,
        namespace: rule.namespace.as_deref(),
        unknown_fail: ctx.unknown_fail,
    };
    options.build(&inner).map(Inner::Transform)
}

/// What a nested rule reads and whether it needs the secret.
pub(crate) fn inner_reads(rule: &rule::ColumnRule) -> Vec<String> {
    match &rule.action {
        rule::Action::Transform(o) => o.reads(),
        _ => Vec::new(),
    }
}

pub(crate) fn inner_needs_secret(rule: &rule::ColumnRule) -> bool {
    match &rule.action {
        rule::Action::Transform(o) => o.needs_secret(),
        _ => false,
    }
}

/// Cuts text to the column's `varchar(n)` length (see `BuildContext::finish`).
struct FitLength {
    inner: Box<dyn Transform>,
    max: usize,
    cut: bool,
}

impl Transform for FitLength {
    fn apply(
        &self,
        input: &[u8],
        row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let start = out.len();
        let written = self.inner.apply(input, row, out)?;
        if written == Written::Null {
            return Ok(written);
        }
        let value = &out[start..];
        // PostgreSQL counts characters, not bytes; cut on a char boundary.
        let end = match std::str::from_utf8(value) {
            Ok(s) => s.char_indices().nth(self.max).map(|(i, _)| i),
            Err(_) => (value.len() > self.max).then_some(self.max),
        };
        if let Some(end) = end {
            if !self.cut {
                return Err(ValueError(format!(
                    "the output is longer than the column's {} characters",
                    self.max
                )));
            }
            out.truncate(start + end);
        }
        Ok(written)
    }
}

/// What the user wrote for one transform, parsed.
pub trait TransformOptions: fmt::Debug + Send + Sync {
    /// Builds the runtime transform for one column. Rejects column types the
    /// transform cannot produce; the message names the column and its type.
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String>;

    /// One line for `--dry-run` and `check`, e.g. `hash(format=digits, length=9)`.
    fn describe(&self) -> String;

    /// Whether different inputs can give equal outputs. No default: a new
    /// transform must say, or it does not compile.
    fn uniqueness(&self) -> Uniqueness;

    /// What the outputs can be, for `verify`'s leak expectation and
    /// `check`'s lookup-table warning (see `OutputSpace`). No default: a new
    /// transform must say, so none is silently filed under chance matches.
    fn output_space(&self) -> OutputSpace;

    /// The longest text the rule writes for inputs of a given length (see
    /// `MaxLength`); `unique` is the form the plan builds (`BuildContext::
    /// unique`), as `fake: email` has a longer unique form. No default, like
    /// `output_space`: a new transform must say.
    fn max_length(&self, unique: bool) -> MaxLength;

    /// Whether the outputs depend on the secret. `set` does not.
    fn needs_secret(&self) -> bool {
        true
    }

    /// Columns of the same row whose output values this transform reads.
    fn reads(&self) -> Vec<String> {
        Vec::new()
    }

    /// Constant values the transform may write as they are (`set`), which
    /// the plan casts to the column's type on the source before any row
    /// moves, so `{ set: lots }` on an integer fails at plan time.
    fn constants(&self) -> Vec<String> {
        Vec::new()
    }

    /// For `check`: the paths (array indexes written `[*]`) of the keys of
    /// `doc` that the rule would refuse as unlisted, with `unknown_fail`
    /// the table's `unknown_columns: fail`. Only `json` has any.
    fn unlisted_paths(&self, _doc: &[u8], _unknown_fail: bool) -> Vec<String> {
        Vec::new()
    }

    /// For a keyed permutation (`fpe`, unique fakes): about how many values
    /// it permutes for a value of `shape` (its characters, digits and
    /// letters). `None`: not a permutation of its input.
    fn domain_of(&self, _shape: Shape) -> Option<f64> {
        None
    }
}

/// The classes of a value's characters, for `TransformOptions::domain_of`.
/// Where only a `varchar(n)` is known, all `n` count as digits, the
/// smallest class.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub chars: usize,
    pub digits: usize,
    pub letters: usize,
}

/// Whether a transform wrote a value or NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Value,
    Null,
}

/// A value a transform could not handle. The message never includes the
/// value itself (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(pub String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The output values of the row being transformed, for transforms that read
/// other columns (`template`). Only columns computed earlier are present.
pub struct RowView<'a> {
    pub(crate) arena: &'a [u8],
    pub(crate) spans: &'a [Option<Option<(usize, usize)>>],
}

impl<'a> RowView<'a> {
    /// A row of output values: column `i` is `arena[s..e]` for
    /// `spans[i] == Some(Some((s, e)))`, NULL for `Some(None)`, and not
    /// computed yet for `None`.
    pub fn new(arena: &'a [u8], spans: &'a [Option<Option<(usize, usize)>>]) -> RowView<'a> {
        RowView { arena, spans }
    }

    /// An empty row, for tests and for transforms that read nothing.
    pub fn empty() -> RowView<'static> {
        RowView {
            arena: &[],
            spans: &[],
        }
    }

    /// Output value of column `index`: `None` when not computed or when the
    /// transform reading it did not declare it; `Some(None)` for NULL.
    pub fn value(&self, index: usize) -> Option<Option<&'a [u8]>> {
        let span = (*self.spans.get(index)?)?;
        Some(span.map(|(s, e)| &self.arena[s..e]))
    }
}

/// A transform ready to run, built for one column.
pub trait Transform: Send + Sync {
    /// Writes the output for one non-NULL value into `out` (empty on
    /// entry), in PostgreSQL's text representation, unescaped. Returns
    /// whether the output is a value or NULL. NULL never reaches a
    /// transform: the free function `apply` keeps it NULL, once for all.
    fn apply(
        &self,
        input: &[u8],
        row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError>;
}

/// Runs `t` on a value that may be NULL. Every caller (the pipeline, and
/// the transforms that hold others: arrays, json paths, regex matches,
/// length limits) goes through here, so NULL stays NULL under every rule.
pub fn apply(
    t: &dyn Transform,
    input: Option<&[u8]>,
    row: &RowView<'_>,
    out: &mut Vec<u8>,
) -> Result<Written, ValueError> {
    match input {
        None => Ok(Written::Null),
        Some(value) => t.apply(value, row, out),
    }
}

/// The shortest `ANONYMIZE_SECRET` accepted, in bytes. Whoever holds the
/// secret can reverse the keyed permutations (`fpe`, email, username and
/// phone fakes, hashed integer and uuid ids) and test guesses against every
/// other output, so it must be too long to guess: 32 random bytes is the
/// HMAC-SHA256 key size.
pub const MIN_SECRET_BYTES: usize = 32;

/// The least entropy accepted, in bits, by `estimated_bits`.
pub const MIN_SECRET_BITS: f64 = 128.0;

/// How to make a good secret, in every refusal.
const MAKE_A_SECRET: &str = "Make one with `openssl rand -base64 48`, keep it in your secret \
     store, and never copy it to staging";

/// Refuses a secret shorter than `MIN_SECRET_BYTES`, or one whose
/// characters carry fewer than `MIN_SECRET_BITS` (32 × `a`, a short
/// pattern repeated, a run such as `0123456789abcdef…`), exit 2, saying
/// how to make a good one. The message never holds the secret.
pub fn check_secret(secret: &[u8]) -> Result<(), crate::error::UsageError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(crate::error::UsageError::new(format!(
            "ANONYMIZE_SECRET is {} bytes long; it must be at least {MIN_SECRET_BYTES} bytes of \
             random text, or anyone could guess it and reverse the keyed transforms. \
             {MAKE_A_SECRET}",
            secret.len()
        )));
    }
    let bits = estimated_bits(secret);
    if bits < MIN_SECRET_BITS {
        return Err(crate::error::UsageError::new(format!(
            "ANONYMIZE_SECRET has about {bits:.0} bits of entropy (repeated or sequential \
             characters); it needs at least {MIN_SECRET_BITS:.0}, or anyone could guess it \
             and reverse the keyed transforms. {MAKE_A_SECRET}"
        )));
    }
    Ok(())
}

/// A simple, deliberately pessimistic estimate of a secret's entropy: the
/// secret is cut to its shortest repeating unit (`abcabc…` is `abc`), and
/// the unit counts its length times the Shannon entropy of its characters,
/// or of the steps between neighbours when that is lower (`abcdef…` steps
/// by 1 each time). A random base64 string of 48 bytes scores about 330.
pub fn estimated_bits(secret: &[u8]) -> f64 {
    let period = (1..=secret.len())
        .find(|&p| secret.iter().skip(p).zip(secret).all(|(a, b)| a == b))
        .unwrap_or(secret.len());
    let unit = &secret[..period];
    let steps: Vec<u8> = unit.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    let shannon = |bytes: &[u8]| -> f64 {
        let mut counts = [0u32; 256];
        for &b in bytes {
            counts[usize::from(b)] += 1;
        }
        let n = bytes.len() as f64;
        let per_byte: f64 = counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = f64::from(c) / n;
                -p * p.log2()
            })
            .sum();
        per_byte * n
    };
    shannon(unit).min(shannon(&steps))
}

/// Helpers for the transforms' tests: a column, a build with the fixed
/// golden secret, an apply on text.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// The secret every golden output is computed with.
    pub const SECRET: &[u8] = b"golden secret";

    pub fn column(name: &str, type_name: &str, kind: TypeKind) -> Column {
        Column::new(name, type_name, kind)
    }

    pub trait ColumnExt {
        fn with_max_length(self, n: usize) -> Column;
        #[allow(dead_code)] // For the numeric transforms.
        fn with_numeric(self, precision: u32, scale: u32) -> Column;
    }

    impl ColumnExt for Column {
        fn with_max_length(mut self, n: usize) -> Column {
            self.max_length = Some(n);
            self
        }
        fn with_numeric(mut self, precision: u32, scale: u32) -> Column {
            self.numeric_precision = Some(precision);
            self.numeric_scale = Some(scale);
            self
        }
    }

    pub fn try_build_full(
        options: &dyn TransformOptions,
        column: &Column,
        columns: &[Column],
        secret: &[u8],
        locale: &str,
    ) -> Result<Box<dyn Transform>, String> {
        let key = Key::new(secret);
        let ctx = BuildContext {
            table: "public.t",
            column,
            columns,
            key: &key,
            locale,
            unique: false,
            namespace: None,
            unknown_fail: false,
        };
        options.build(&ctx)
    }

    /// `build` for a rule with `unique: true`.
    pub fn build_unique(options: &dyn TransformOptions, column: &Column) -> Box<dyn Transform> {
        let key = Key::new(SECRET);
        let ctx = BuildContext {
            table: "public.t",
            column,
            columns: std::slice::from_ref(column),
            key: &key,
            locale: "en",
            unique: true,
            namespace: None,
            unknown_fail: false,
        };
        options.build(&ctx).expect("builds")
    }

    /// `build` under `unknown_columns: fail` (the rules' default).
    pub fn build_unknown_fail(
        options: &dyn TransformOptions,
        column: &Column,
    ) -> Result<Box<dyn Transform>, String> {
        let key = Key::new(SECRET);
        let ctx = BuildContext {
            table: "public.t",
            column,
            columns: std::slice::from_ref(column),
            key: &key,
            locale: "en",
            unique: false,
            namespace: None,
            unknown_fail: true,
        };
        options.build(&ctx)
    }

    pub fn build(options: &dyn TransformOptions, column: &Column) -> Box<dyn Transform> {
        try_build_full(options, column, std::slice::from_ref(column), SECRET, "en").expect("builds")
    }

    pub fn build_with_secret(
        options: &dyn TransformOptions,
        column: &Column,
        secret: &[u8],
    ) -> Box<dyn Transform> {
        try_build_full(options, column, std::slice::from_ref(column), secret, "en").expect("builds")
    }

    pub fn build_locale(
        options: &dyn TransformOptions,
        column: &Column,
        locale: &str,
    ) -> Box<dyn Transform> {
        try_build_full(
            options,
            column,
            std::slice::from_ref(column),
            SECRET,
            locale,
        )
        .expect("builds")
    }

    pub fn build_err(options: &dyn TransformOptions, column: &Column) -> String {
        match try_build_full(options, column, std::slice::from_ref(column), SECRET, "en") {
            Ok(_) => panic!("expected a build error"),
            Err(e) => e,
        }
    }

    /// Applies to a text value; `None` for NULL in and out. Panics on a
    /// value error.
    pub fn apply(t: &dyn Transform, input: Option<&str>) -> Option<String> {
        let mut out = Vec::new();
        match super::apply(t, input.map(str::as_bytes), &RowView::empty(), &mut out)
            .expect("applies")
        {
            Written::Null => None,
            Written::Value => Some(String::from_utf8(out).expect("utf-8 output")),
        }
    }

    /// Parses one column rule's transform options from YAML, as the rules
    /// loader does (`fake: email`, `{ hash: { length: 9 } }`).
    pub fn parse(yaml: &str) -> Box<dyn TransformOptions> {
        let rule: super::rule::ColumnRule = crate::yaml::from_str(yaml).expect("parses");
        match rule.action {
            super::rule::Action::Transform(t) => t,
            other => panic!("not a transform: {other:?}"),
        }
    }

    /// The YAML parse error of a column rule.
    pub fn parse_err(yaml: &str) -> String {
        crate::yaml::from_str::<super::rule::ColumnRule>(yaml)
            .expect_err("fails")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_pinned() {
        // Golden: changing this breaks every output of every user.
        let k = Key::new(b"secret");
        let d = k.digest(b"ns", b"input");
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        // HMAC-SHA256("secret", 00 00 00 02 "ns" "input"), computed apart.
        assert_eq!(
            hex,
            "48a095ca10baa7c4465fd6e1611a1efb22c05d2064021c5e7a3277b0d0808184"
        );
        assert_ne!(d, Key::new(b"other").digest(b"ns", b"input"));
        assert_ne!(k.digest(b"ab", b"c"), k.digest(b"a", b"bc"));
    }

    /// docs/transforms.md names every transform and no other, lists every
    /// fake kind, and every example output in it is what the rule gives.
    #[test]
    fn docs_match_the_code() {
        use super::rule::{Action, ColumnRule};
        use std::collections::BTreeSet;
        let doc = include_str!("../../docs/transforms.md");
        let documented: BTreeSet<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("## `")?.strip_suffix('`'))
            .collect();
        let names: BTreeSet<&str> = names().into_iter().collect();
        assert_eq!(
            documented, names,
            "docs/transforms.md sections must be exactly the transforms of the registry"
        );
        for kind in fake::KINDS.iter().map(|k| k.name) {
            assert!(
                doc.contains(&format!("`{kind}`")),
                "fake kind `{kind}` is not documented"
            );
        }

        // Rules of the yaml blocks, by column, with the type in the comment.
        let mut rules: Vec<(String, ColumnRule, Option<String>)> = Vec::new();
        let mut in_yaml = false;
        let mut problems = Vec::new();
        for (n, line) in doc.lines().enumerate() {
            if line.starts_with("```") {
                in_yaml = line == "```yaml";
                continue;
            }
            if in_yaml {
                let (yaml, type_name) = match line.rsplit_once("  # ") {
                    Some((y, t)) => (y, Some(t.trim().to_string())),
                    None => (line, None),
                };
                let map: std::collections::HashMap<String, ColumnRule> =
                    crate::yaml::from_str(yaml).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
                for (column, rule) in map {
                    rules.push((column, rule, type_name.clone()));
                }
                continue;
            }
            // Example rows: | column | `input` | `output` |
            let cells: Vec<&str> = line.split(" | ").collect();
            if cells.len() != 3 || !cells[1].starts_with('`') || cells[0].starts_with("| `") {
                continue;
            }
            let column_name = cells[0].trim_start_matches("| ");
            let input = cells[1].trim_matches('`');
            let expected = cells[2].trim_end_matches(" |").trim_matches('`');
            let Some((_, rule, Some(type_name))) =
                rules.iter().rev().find(|(c, _, _)| c == column_name)
            else {
                panic!(
                    "line {}: no typed rule for column {column_name} above",
                    n + 1
                );
            };
            let Action::Transform(options) = &rule.action else {
                continue;
            };
            let (base, modifiers) = type_name.split_once('(').unwrap_or((type_name, ""));
            let mut column =
                test_support::column(column_name, type_name, TypeKind::from_type(base, "b"));
            if let Some((p, s)) = modifiers.trim_end_matches(')').split_once(',') {
                column.numeric_precision = p.trim().parse().ok();
                column.numeric_scale = s.trim().parse().ok();
            }
            let key = Key::new(test_support::SECRET);
            let ctx = BuildContext {
                table: "public.docs",
                column: &column,
                columns: std::slice::from_ref(&column),
                key: &key,
                locale: rule.locale.as_deref().unwrap_or("en"),
                unique: rule.unique,
                namespace: rule.namespace.as_deref(),
                unknown_fail: true,
            };
            let t = options
                .build(&ctx)
                .unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
            let got = test_support::apply(&*t, Some(input)).unwrap_or_else(|| "NULL".into());
            if got != expected {
                problems.push(format!(
                    "line {}: {column_name} gives `{got}`, the doc says `{expected}`",
                    n + 1
                ));
            }
        }
        assert!(
            problems.is_empty(),
            "docs/transforms.md examples are out of date:\n{}",
            problems.join("\n")
        );
    }

    /// One rule per transform (ripgrep's per-flag test): it parses, builds
    /// for a column it fits, keeps NULL as NULL, is deterministic, and
    /// depends on the secret exactly when it says it needs one.
    #[test]
    fn every_transform_parses_keeps_null_and_uses_the_secret_it_declares() {
        // The registry's sample of each transform: a new transform is
        // covered by its registry line, nothing to add here.
        let cases: Vec<(&str, &str, &str, TypeKind)> = entries()
            .iter()
            .map(|e| (e.name, e.sample.rule, e.sample.type_name, e.sample.kind))
            .collect();
        let inputs = |kind: TypeKind| -> Vec<String> {
            (1..=20)
                .map(|i| match kind {
                    TypeKind::Date => format!("2000-01-{i:02}"),
                    TypeKind::Int32 | TypeKind::Numeric => (i * 1000).to_string(),
                    TypeKind::Jsonb => format!(r#"{{"a":"w{i}","b":{i}}}"#),
                    _ => format!("value {i}"),
                })
                .collect()
        };
        for (name, yaml, type_name, kind) in &cases {
            assert!(
                yaml.starts_with(&format!("{{ {name}: ")),
                "{name}: the sample rule uses its own transform"
            );
            let rule: rule::ColumnRule = crate::yaml::from_str(yaml).expect("parses");
            assert_eq!(
                rule.transform,
                Some(*name),
                "the rule knows its registry key"
            );
            let o = test_support::parse(yaml);
            let c = test_support::column("c", type_name, *kind);
            let a = test_support::build(&*o, &c);
            let b = test_support::build_with_secret(&*o, &c, b"another secret");
            let row_arena = b"R";
            let spans = [Some(Some((0, 1)))];
            let row = RowView {
                arena: row_arena,
                spans: &spans,
            };
            let run = |t: &dyn Transform, v: Option<&str>| {
                let mut out = Vec::new();
                let w = apply(t, v.map(str::as_bytes), &row, &mut out)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                (w == Written::Value).then(|| String::from_utf8(out).unwrap())
            };
            assert_eq!(run(&*a, None), None, "{name}: NULL stays NULL");
            let xs: Vec<_> = inputs(*kind).iter().map(|v| run(&*a, Some(v))).collect();
            let again: Vec<_> = inputs(*kind).iter().map(|v| run(&*a, Some(v))).collect();
            assert_eq!(xs, again, "{name}: deterministic");
            let ys: Vec<_> = inputs(*kind).iter().map(|v| run(&*b, Some(v))).collect();
            assert_eq!(
                xs != ys,
                o.needs_secret(),
                "{name}: depends on the secret iff it declares it"
            );
        }
    }

    /// Issue 22: guessable secrets are refused whatever their length, and
    /// the message says how to make one, never what it was.
    #[test]
    fn weak_secrets_are_refused() {
        let weak = [
            "a".repeat(32),
            "abcd".repeat(8),
            "0123456789abcdef".repeat(2),
            "abcdefghijklmnopqrstuvwxyz0123456789".to_string(),
            "password".repeat(5),
        ];
        for s in &weak {
            let e = check_secret(s.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("openssl rand -base64 48"), "{e}");
            assert!(!e.contains(s.as_str()), "never the secret");
        }
        // `openssl rand -base64 48` and `-hex 32` outputs pass.
        for s in [
            "q0pQyA3vY9m3mH6ZQ2k3u9mHn9kT0x8X1f2nqkq6vBkZr8o3z2Bq0lW1eYxk7u3N",
            "3f9c0e7a5b12d4e8a9c1f07b6d3e2a48c5f1b09e7d6a3c2f1e0b9a8d7c6f5e4d",
        ] {
            assert!(
                check_secret(s.as_bytes()).is_ok(),
                "{}",
                estimated_bits(s.as_bytes())
            );
        }
        assert!(estimated_bits(&[b'a'; 64]) < 1.0);
    }

    /// No output is longer than `max_length` says, for every registry
    /// entry's sample, every fake kind in both forms, and the unique forms
    /// a `varchar(n)` check relies on. `check` compares these bounds with
    /// the column's length, so a bound that lies would let a run fail.
    #[test]
    fn no_output_is_longer_than_its_declared_max_length() {
        let mut cases: Vec<(String, &str, TypeKind)> = entries()
            .iter()
            .map(|e| (e.sample.rule.to_string(), e.sample.type_name, e.sample.kind))
            .collect();
        for kind in fake::KINDS.iter().map(|k| k.name) {
            cases.push((format!("{{ fake: {kind} }}"), "text", TypeKind::Text));
        }
        for rule in [
            "{ fake: email, unique: true }",
            "{ fake: { kind: email, keep_domain: true } }",
            "{ fake: username, unique: true }",
            "{ fake: phone_number, unique: true }",
            "{ fpe: { keep_first: 2, keep_last: 2 } }",
            "{ hash: { format: hex, length: 32 } }",
            "{ hash: { format: digits, length: 9 } }",
            "{ mask: { keep_last: 4 } }",
            "{ choice: [alpha, be, gamma] }",
            "{ random_int: { min: -50, max: 7 } }",
            "{ set: 'Zoë' }",
            "{ template: 'constant text' }",
        ] {
            cases.push((rule.to_string(), "text", TypeKind::Text));
        }
        let text_inputs = [
            "",
            "a",
            "john.smith@example.com",
            "Zoë.Ångström@müller.de",
            "+1-555-123-4567",
            "no at sign here",
            "x@y",
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        ];
        let long =
            "a.very.long.local.part.indeed@".to_string() + &"sub.".repeat(40) + "example.org";
        for (yaml, type_name, kind) in &cases {
            let rule: rule::ColumnRule = crate::yaml::from_str(yaml).expect("parses");
            let o = test_support::parse(yaml);
            let c = test_support::column("c", type_name, *kind);
            let t = if rule.unique {
                test_support::build_unique(&*o, &c)
            } else {
                test_support::build(&*o, &c)
            };
            let inputs: Vec<String> = match kind {
                TypeKind::Text => text_inputs
                    .iter()
                    .map(|s| s.to_string())
                    .chain([long.clone()])
                    .collect(),
                TypeKind::Date => vec!["2000-01-31".into()],
                TypeKind::Jsonb => vec![r#"{"a":"w1","b":1}"#.into()],
                _ => vec!["1000".into(), "-7".into()],
            };
            // The template sample reads its own column: a row of one value.
            let spans = [Some(Some((0, 1)))];
            let row = RowView::new(b"R", &spans);
            for input in inputs {
                let mut out = Vec::new();
                let written = apply(&*t, Some(input.as_bytes()), &row, &mut out)
                    .unwrap_or_else(|e| panic!("{yaml}: {e}"));
                if written == Written::Null {
                    continue;
                }
                let out = String::from_utf8(out).expect("utf-8 output");
                let n = input.chars().count();
                if let Some(bound) = o.max_length(rule.unique).bound(Some(n)) {
                    assert!(
                        out.chars().count() <= bound,
                        "{yaml}: an input of {n} characters gave {} characters, more than the declared {bound}",
                        out.chars().count()
                    );
                }
            }
        }
    }
}

/// Uniqueness by construction, shown per unique-capable rule on 100,000
/// distinct inputs in the default run and 1,000,000 in the soak run (`n()`). Inputs share one shape (same length, same classes
/// at the same places), the hardest case: outputs of different shapes
/// differ trivially, so only a permutation within a shape can collide.
#[cfg(test)]
mod uniqueness_tests {
    use super::test_support::{build_unique as build, column, parse};
    use super::*;
    use std::collections::HashSet;

    /// Inputs per rule: 100,000 in the default run, the full 1,000,000
    /// (or any count) in the soak run, `ANONYMIZE_UNIQUENESS_N=1000000`.
    fn n() -> u64 {
        std::env::var("ANONYMIZE_UNIQUENESS_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000)
    }

    /// Applies `rule` to every input and checks that no output repeats.
    fn assert_injective(
        rule: &str,
        type_name: &str,
        kind: TypeKind,
        inputs: impl Iterator<Item = String>,
    ) {
        let o = parse(rule);
        assert_ne!(o.uniqueness(), Uniqueness::Lossy, "{rule}");
        let t = build(&*o, &column("c", type_name, kind));
        let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(n() as usize);
        let mut out = Vec::new();
        let mut count = 0;
        for input in inputs {
            out.clear();
            t.apply(input.as_bytes(), &RowView::empty(), &mut out)
                .expect("applies");
            assert!(
                seen.insert(out.clone()),
                "{rule}: two inputs gave the same output"
            );
            count += 1;
        }
        assert_eq!(count, n());
    }

    /// `i` written with `len` lower-case letters.
    fn letters(mut i: u64, len: usize) -> String {
        let mut s = vec![b'a'; len];
        for c in s.iter_mut().rev() {
            *c = b'a' + (i % 26) as u8;
            i /= 26;
        }
        String::from_utf8(s).expect("ascii")
    }

    /// `i` written with `len` digits.
    fn digits(i: u64, len: usize) -> String {
        format!("{i:0len$}")
    }

    #[test]
    fn fake_email() {
        let inputs = (0..n()).map(|i| format!("{}@example.com", letters(i, 6)));
        assert_injective(
            "{ fake: email, unique: true }",
            "text",
            TypeKind::Text,
            inputs,
        );
        // Same local part, many domains: the domain separates them.
        let inputs = (0..n()).map(|i| format!("john.smith@{}.com", letters(i, 5)));
        assert_injective("{ fake: email }", "text", TypeKind::Text, inputs);
        let inputs = (0..n()).map(|i| format!("{}@gmail.com", letters(i, 5)));
        assert_injective(
            "{ fake: { kind: email, keep_domain: true } }",
            "text",
            TypeKind::Text,
            inputs,
        );
    }

    /// Issue 22: `n()` distinct addresses of the usual shapes (a tenth with
    /// upper case, a hundredth beyond ASCII): no two outputs equal, all in
    /// lower case (so `lower(email)` stays unique too), and at least 95%
    /// person-like: a first name, a last name, a tag, at an RFC 2606 domain.
    #[test]
    fn fake_email_is_unique_and_person_like() {
        use ::fake::locales::{Data, EN};
        let first = <EN as Data>::NAME_FIRST_NAME;
        let last = <EN as Data>::NAME_LAST_NAME;
        let domains = ["gmail.com", "yahoo.com", "corp.example", "mail.co.uk"];
        let inputs = (0..n()).map(|i| {
            let j = i as usize;
            let local = format!(
                "{}.{}{}",
                first[j % first.len()],
                last[(j / first.len()) % last.len()],
                j / (first.len() * last.len())
            );
            let address = format!("{local}@{}", domains[j % domains.len()]);
            match i % 100 {
                0 => address.replace('e', "ë"),
                1..=10 => address,
                _ => address.to_lowercase(),
            }
        });
        let inputs: Vec<String> = inputs.collect();
        let distinct: HashSet<&String> = inputs.iter().collect();
        assert_eq!(distinct.len(), inputs.len(), "the inputs are distinct");
        let person = ::regex::Regex::new(r"^[a-z]+[._][a-z]+[._][0-9a-z]+@example\.(com|net|org)$")
            .expect("regex");
        let t = build(
            &*parse("{ fake: email }"),
            &column("c", "text", TypeKind::Text),
        );
        let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(inputs.len());
        let (mut out, mut person_like) = (Vec::new(), 0u64);
        for input in &inputs {
            out.clear();
            t.apply(input.as_bytes(), &RowView::empty(), &mut out)
                .expect("applies");
            assert!(!out.iter().any(u8::is_ascii_uppercase), "lower case");
            person_like += u64::from(person.is_match(std::str::from_utf8(&out).expect("ascii")));
            assert!(seen.insert(out.clone()), "two inputs gave the same output");
        }
        assert!(
            person_like * 100 >= 95 * n(),
            "{person_like} of {} person-like",
            n()
        );
    }

    #[test]
    fn fake_username() {
        let inputs = (0..n()).map(|i| format!("{}_{}", letters(i / 100, 4), digits(i % 100, 2)));
        assert_injective("{ fake: username }", "text", TypeKind::Text, inputs);
    }

    #[test]
    fn fake_phone_number() {
        let inputs =
            (0..n()).map(|i| format!("+1-555-{}-{}", digits(i / 10_000, 3), digits(i % 10_000, 4)));
        assert_injective("{ fake: phone_number }", "text", TypeKind::Text, inputs);
    }

    #[test]
    fn fake_uuid() {
        // Distinct v4 uuids: the counter in the random bits.
        let inputs = (0..n()).map(|i| format!("7c9e6679-7425-40de-944b-{:012x}", i * 7919));
        assert_injective("{ fake: uuid }", "uuid", TypeKind::Uuid, inputs);
    }

    #[test]
    fn hash_on_integers_and_uuids() {
        let inputs = (0..n()).map(|i| (i as i64 - 500_000).to_string());
        assert_injective("{ hash: {} }", "integer", TypeKind::Int32, inputs);
        let inputs = (0..n()).map(|i| (i * 1_000_003).to_string());
        assert_injective("{ hash: {} }", "bigint", TypeKind::Int64, inputs);
        let inputs = (0..n()).map(|i| format!("00000000-0000-4000-8000-{i:012x}"));
        assert_injective("{ hash: {} }", "uuid", TypeKind::Uuid, inputs);
    }

    #[test]
    fn hash_of_128_bits_on_text() {
        let inputs = (0..n()).map(|i| digits(i, 9));
        assert_injective(
            "{ hash: { format: hex, length: 32 } }",
            "text",
            TypeKind::Text,
            inputs,
        );
    }

    #[test]
    fn fpe_on_digit_strings() {
        let inputs = (0..n()).map(|i| {
            format!(
                "{}-{}-{}",
                digits(i / 10_000, 3),
                digits(i / 100 % 100, 2),
                digits(i % 100, 2)
            )
        });
        assert_injective("{ fpe: {} }", "text", TypeKind::Text, inputs);
    }
}
