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
/// leading/trailing characters as they are (a card's last four); when they
/// cover every letter and digit of a value, one is encrypted anyway, so no
/// value comes out whole (a varchar(n) whose `n` they reach is refused).
/// Collision-free by construction, `keep_*` included; text columns. NULL
/// stays NULL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default)]
    keep_first: usize,
    #[serde(default)]
    keep_last: usize,
}

impl TransformOptions for Options {
    fn domain_of(&self, shape: super::Shape) -> Option<f64> {
        // Kept characters count against the letters first (the larger
        // class), so the estimate stays on the low side; one symbol is
        // always encrypted.
        let kept = self.keep_first + self.keep_last;
        let letters = shape.letters.saturating_sub(kept);
        let digits = shape
            .digits
            .saturating_sub(kept - (shape.letters - letters));
        Some((10f64.powi(digits as i32) * 26f64.powi(letters as i32)).max(10.0))
    }

    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        if !(ctx.column.kind == TypeKind::Text || ctx.is_fragment()) {
            return Err(ctx.type_error("fpe", "text"));
        }
        // A varchar(n)/char(n) no longer than what is kept would have
        // every value kept whole but for the one symbol forced to change:
        // surely not what the rule means.
        let kept = self.keep_first.saturating_add(self.keep_last);
        if let Some(max) = ctx.column.max_length.filter(|&m| kept >= m && kept > 0) {
            if !ctx.is_fragment() {
                return Err(format!(
                    "column {}.{} ({}) holds at most {max} characters, and `{}` keeps {kept}: no value would be encrypted",
                    ctx.table,
                    ctx.column.name,
                    ctx.column.type_name,
                    self.describe()
                ));
            }
        }
        let namespace = ctx.namespace(&format!("fpe:{}:{}", self.keep_first, self.keep_last));
        let t = Fpe {
            cipher: TextCipher::new(Prf::derive(ctx.key, &namespace)),
            keep_first: self.keep_first,
            keep_last: self.keep_last,
        };
        Ok(ctx.finish(Box::new(t), self.uniqueness()))
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        // Format-preserving: the input's own length.
        super::MaxLength::InputPlus(0)
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
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        // Kept units are part of the tweak, so the map stays a bijection.
        self.cipher
            .encrypt_keeping(0, input, self.keep_first, self.keep_last, out);
        Ok(Written::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{apply, build, build_err, column, parse};
    use std::collections::HashSet;

    /// Issue 16 item 9: keep windows that cover every letter and digit
    /// still change one (the last of `keep_first`, else the first), and
    /// the map stays a bijection.
    #[test]
    fn covering_keep_windows_still_change_the_value() {
        let text = column("c", "text", TypeKind::Text);
        let last4 = build(&*parse("{ fpe: { keep_last: 4 } }"), &text);
        let first9 = build(&*parse("{ fpe: { keep_first: 9 } }"), &text);
        let both = build(&*parse("{ fpe: { keep_first: 2, keep_last: 2 } }"), &text);
        // (rule, input, the one position that changes)
        for (t, input, changed) in [
            (&last4, "1234", 0),
            (&last4, "12-4", 0),
            (&first9, "1234", 3),
            (&first9, "ab-c!", 3),
            (&both, "1234", 1),
        ] {
            let out = apply(&**t, Some(input)).unwrap();
            let diff: Vec<usize> = (0..input.len())
                .filter(|&i| out.as_bytes()[i] != input.as_bytes()[i])
                .collect();
            assert_eq!(diff, [changed], "{input} -> {out}");
        }
        // No symbol at all: nothing to change.
        assert_eq!(apply(&*last4, Some("--")).unwrap(), "--");
        // Every 4-digit string, and every 1..3-digit one: all distinct and
        // none unchanged.
        for len in 1..=4u32 {
            let mut seen = HashSet::new();
            for v in 0..10u32.pow(len) {
                let input = format!("{v:0w$}", w = len as usize);
                let out = apply(&*last4, Some(&input)).unwrap();
                assert_ne!(out, input);
                assert!(seen.insert(out), "collision at {input}");
            }
        }
    }

    #[test]
    fn formats_are_kept() {
        let t = build(&*parse("{ fpe: {} }"), &column("c", "text", TypeKind::Text));
        assert_eq!(apply(&*t, Some("123-45-6789")).unwrap(), "463-03-0684");
        assert_eq!(apply(&*t, Some("AB-1234")).unwrap(), "CT-9525");
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
        let mut short = column("c", "character varying(4)", TypeKind::Text);
        short.max_length = Some(4);
        let e2 = build_err(&*parse("{ fpe: { keep_last: 4 } }"), &short);
        assert!(
            e2.contains("holds at most 4 characters") && e2.contains("no value would be encrypted"),
            "{e2}"
        );
        assert!(
            e.starts_with("`fpe` cannot produce a value of type integer"),
            "{e}"
        );
    }
}
