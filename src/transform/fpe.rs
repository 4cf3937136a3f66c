//! `fpe`: format-preserving encryption of any text, `{ fpe: {} }`.
//!
//! Every letter becomes a letter, every digit a digit, and everything else
//! (punctuation, spaces, length) stays: `123-45-6789` becomes another
//! `ddd-dd-dddd`, `AB-1234` another `AA-dddd`. It is a keyed permutation
//! (see `keyed`), so two different values never give the same output: the
//! rule for unique codes, account numbers and identifiers that must keep
//! their format.

use serde::Deserialize;

use super::keyed::{Prf, TextCipher};
use super::{BuildContext, RowView, Transform, TransformOptions, Uniqueness, ValueError, Written};
use crate::catalog::TypeKind;

/// `{ fpe: { keep_first: N, keep_last: N } }`
///
/// Encrypts the value in its own format: letters to letters (ASCII case
/// kept, other scripts within their block), digits to digits, the rest
/// unchanged, same length. `keep_first`/`keep_last` leave that many
/// leading/trailing characters as they are (a card's last four). Collision-
/// free by construction; text columns. NULL stays NULL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default)]
    keep_first: usize,
    #[serde(default)]
    keep_last: usize,
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        if !(ctx.column.kind == TypeKind::Text || ctx.is_fragment()) {
            return Err(ctx.type_error("fpe", "text"));
        }
        let namespace = ctx.namespace(&format!("fpe:{}:{}", self.keep_first, self.keep_last));
        let t = Fpe {
            cipher: TextCipher::new(Prf::derive(ctx.key, &namespace)),
            keep_first: self.keep_first,
            keep_last: self.keep_last,
        };
        Ok(ctx.finish(Box::new(t), self.uniqueness()))
    }

    fn output_space(&self) -> super::OutputSpace {
        // Digits are the smallest alphabet: the most lenient estimate.
        super::OutputSpace::Shape {
            radix: 10.0,
            kept: self.keep_first + self.keep_last,
        }
    }

    fn describe(&self) -> String {
        if self.keep_first == 0 && self.keep_last == 0 {
            "fpe".into()
        } else {
            format!(
                "fpe(keep_first={}, keep_last={})",
                self.keep_first, self.keep_last
            )
        }
    }

    fn uniqueness(&self) -> Uniqueness {
        Uniqueness::Injective
    }
}

struct Fpe {
    cipher: TextCipher,
    keep_first: usize,
    keep_last: usize,
}

impl Transform for Fpe {
    fn apply(
        &self,
        input: Option<&[u8]>,
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let Some(input) = input else {
            return Ok(Written::Null);
        };
        // Kept units are part of the tweak, so the map stays a bijection.
        let n = match std::str::from_utf8(input) {
            Ok(s) => s.chars().count(),
            Err(_) => input.len(),
        };
        let (first, last) = (self.keep_first, self.keep_last);
        self.cipher
            .encrypt(0, input, &|i| i < first || i + last >= n, out);
        Ok(Written::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{apply, build, build_err, column, parse};

    #[test]
    fn formats_are_kept() {
        let t = build(&*parse("{ fpe: {} }"), &column("c", "text", TypeKind::Text));
        assert_eq!(apply(&*t, Some("123-45-6789")).unwrap(), "129-34-2119");
        assert_eq!(apply(&*t, Some("AB-1234")).unwrap(), "YJ-6028");
        assert_eq!(apply(&*t, None), None);
        let k = build(
            &*parse("{ fpe: { keep_last: 4 } }"),
            &column("c", "text", TypeKind::Text),
        );
        let out = apply(&*k, Some("4111 1111 1111 1234")).unwrap();
        assert!(
            out.ends_with(" 1234") && out != "4111 1111 1111 1234",
            "{out}"
        );
        let e = build_err(
            &*parse("{ fpe: {} }"),
            &column("n", "integer", TypeKind::Int32),
        );
        assert!(
            e.starts_with("`fpe` cannot produce a value of type integer"),
            "{e}"
        );
    }
}
