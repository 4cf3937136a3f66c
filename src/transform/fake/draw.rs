//! The lossy kinds' transform: each value's output is drawn from a
//! generator seeded by the value's keyed digest, so one value gives one
//! output in every column and every run with the same secret.
//!
//! The digest is SipHash-2-4 under a key derived once per namespace
//! (`keyed::Prf`, the PRF under the Feistel permutations), not HMAC-SHA256:
//! a fake needs a keyed PRF of a short input, and SipHash is one at a
//! fraction of the cost. The stream after it is `keyed::Rng` (wyrand), a
//! fixed algorithm written out there, so outputs are the same on every
//! machine and with every version of the `rand` crates. Generators write
//! straight into the output buffer.

use super::super::keyed::Prf;
pub use super::super::keyed::Rng;
use super::super::{Key, RowView, Transform, ValueError, Written};
use super::locale::Locale;
use crate::catalog::TypeKind;

/// What a generator may look at besides the value.
#[derive(Clone, Copy)]
pub struct Params {
    pub locale: Locale,
    /// Kind of the column, for the output's form (dates, numbers).
    pub column: TypeKind,
    /// Decimals of latitude and longitude.
    pub scale: u32,
    /// Inclusive day range of dates.
    pub range: (i64, i64),
    /// A `macaddr8` column: eight bytes, not six.
    pub mac8: bool,
}

/// A generator: writes one output for the value into `out`.
pub type Generate = fn(&Params, &[u8], &mut Rng, &mut Vec<u8>);

/// A lossy kind's transform: its generator, fed the value's keyed stream.
pub struct Drawn {
    prf: Prf,
    params: Params,
    generate: Generate,
}

impl Drawn {
    pub fn new(key: &Key, namespace: &[u8], params: Params, generate: Generate) -> Drawn {
        Drawn {
            prf: Prf::derive(key, namespace),
            params,
            generate,
        }
    }
}

impl Transform for Drawn {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let mut rng = Rng::of(&self.prf, input);
        (self.generate)(&self.params, input, &mut rng, out);
        Ok(Written::Value)
    }
}

/// Writes `template`, each `{Name}` in it replaced by what `fill` writes
/// for `Name`, in the order they appear. Templates are a few dozen bytes:
/// a plain scan finds the braces sooner than `memchr`'s dispatch.
pub fn render(template: &str, out: &mut Vec<u8>, mut fill: impl FnMut(&str, &mut Vec<u8>)) {
    let find = |b: u8, s: &[u8]| s.iter().position(|&c| c == b);
    let mut rest = template;
    while let Some(open) = find(b'{', rest.as_bytes()) {
        out.extend_from_slice(&rest.as_bytes()[..open]);
        let Some(close) = find(b'}', &rest.as_bytes()[open..]) else {
            rest = &rest[open..];
            break;
        };
        fill(&rest[open + 1..open + close], out);
        rest = &rest[open + close + 1..];
    }
    out.extend_from_slice(rest.as_bytes());
}

/// `#` a digit, `^` a digit 1–9, anything else as it is (the fake crate's
/// building number formats).
pub fn numerify(format: &str, rng: &mut Rng, out: &mut Vec<u8>) {
    for &c in format.as_bytes() {
        out.push(match c {
            b'#' => b'0' + rng.below(10) as u8,
            b'^' => b'1' + rng.below(9) as u8,
            other => other,
        });
    }
}

/// Writes text drawn by the fake crate.
pub fn put(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// Writes one character.
pub fn put_char(out: &mut Vec<u8>, c: char) {
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}
