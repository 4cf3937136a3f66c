//! `mask`: characters hidden behind a mask character, length kept,
//! `{ mask: { keep_first: 1, keep_last: 4, char: "*" } }`.
//!
//! On text every character but the kept ones is replaced. On numbers only
//! the digits are (sign, point and exponent stay), so the result still
//! parses as the column's type. No secret is involved: a mask hides, it
//! does not pseudonymize, and masked values collide freely.

use serde::Deserialize;

use super::{BuildContext, RowView, Transform, TransformOptions, Uniqueness, ValueError, Written};
use crate::catalog::TypeKind;

/// `{ mask: { keep_first: N, keep_last: N, char: "*" } }`
///
/// Replaces every character except the first `keep_first` and the last
/// `keep_last` (both default 0) with `char` (default `*` on text, `0` on
/// numbers), keeping the length. A value too short for what is kept still
/// gets its last kept character masked, so nothing is ever left whole. On
/// integer, numeric and float columns only digits are masked and counted,
/// and `char` must be a digit (`0` on integer and float columns, where a
/// larger digit could overflow the type).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default)]
    keep_first: usize,
    #[serde(default)]
    keep_last: usize,
    #[serde(default)]
    char: Option<char>,
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        let kind = ctx.column.kind;
        let digits_only = !ctx.is_fragment() && (kind.is_numeric());
        if !digits_only && kind != TypeKind::Text && !ctx.is_fragment() {
            return Err(ctx.type_error("mask", "text, integers, numeric and floats"));
        }
        let mask = match (self.char, digits_only) {
            (Some(c), true) if !c.is_ascii_digit() => {
                return Err(format!(
                    "column {}.{} is a number: `mask` needs a digit for `char`, e.g. \"0\"",
                    ctx.table, ctx.column.name
                ))
            }
            (Some(c), true) if c != '0' && kind != TypeKind::Numeric => {
                return Err(format!(
                    "column {}.{} ({}): `mask` writes `0` on integers and floats, where a larger digit could overflow the type; remove `char`",
                    ctx.table, ctx.column.name, ctx.column.type_name
                ))
            }
            (Some(c), _) => c,
            (None, true) => '0',
            (None, false) => '*',
        };
        let t = Mask {
            keep_first: self.keep_first,
            keep_last: self.keep_last,
            mask,
            digits_only,
        };
        Ok(ctx.finish(Box::new(t), self.uniqueness()))
    }

    fn describe(&self) -> String {
        format!(
            "mask(keep_first={}, keep_last={}, char={:?})",
            self.keep_first,
            self.keep_last,
            self.char.unwrap_or('*')
        )
    }

    fn uniqueness(&self) -> Uniqueness {
        Uniqueness::Lossy
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        // One mask character for each character masked.
        super::MaxLength::InputPlus(0)
    }

    fn output_space(&self) -> super::OutputSpace {
        // Masked characters become one symbol, so an output equals a real
        // value only where nothing was masked: judged strictly, as a leak.
        super::OutputSpace::Values(f64::INFINITY)
    }

    fn needs_secret(&self) -> bool {
        false
    }
}

struct Mask {
    keep_first: usize,
    keep_last: usize,
    mask: char,
    digits_only: bool,
}

impl Mask {
    /// Which of `n` maskable positions are kept: a range `[first, n - last)`
    /// is masked, never empty when n > 0.
    fn masked_range(&self, n: usize) -> (usize, usize) {
        if n == 0 {
            return (0, 0);
        }
        let first = self.keep_first.min(n - 1);
        let last = self.keep_last.min(n - 1 - first);
        (first, n - last)
    }
}

impl Transform for Mask {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let mut buf = [0u8; 4];
        let mask = self.mask.encode_utf8(&mut buf).as_bytes().to_vec();
        if self.digits_only {
            // Digits of the mantissa only: `1.5e+10` keeps its exponent.
            let mantissa_end = input
                .iter()
                .position(|c| matches!(c, b'e' | b'E'))
                .unwrap_or(input.len());
            let n = input[..mantissa_end]
                .iter()
                .filter(|c| c.is_ascii_digit())
                .count();
            let (from, to) = self.masked_range(n);
            let mut seen = 0;
            for (i, &c) in input.iter().enumerate() {
                if i < mantissa_end && c.is_ascii_digit() {
                    out.push(if (from..to).contains(&seen) {
                        mask[0]
                    } else {
                        c
                    });
                    seen += 1;
                } else {
                    out.push(c);
                }
            }
            return Ok(Written::Value);
        }
        match std::str::from_utf8(input) {
            Ok(text) => {
                let n = text.chars().count();
                let (from, to) = self.masked_range(n);
                for (i, c) in text.chars().enumerate() {
                    if (from..to).contains(&i) {
                        out.extend_from_slice(&mask);
                    } else {
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            Err(_) => {
                // Not UTF-8 (SQL_ASCII): mask bytes.
                let (from, to) = self.masked_range(input.len());
                for (i, &b) in input.iter().enumerate() {
                    if (from..to).contains(&i) {
                        out.extend_from_slice(&mask);
                    } else {
                        out.push(b);
                    }
                }
            }
        }
        Ok(Written::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{apply, build, build_err, column, parse};

    fn mask(yaml: &str, type_name: &str, kind: TypeKind, input: &str) -> String {
        apply(
            &*build(&*parse(yaml), &column("c", type_name, kind)),
            Some(input),
        )
        .unwrap()
    }

    #[test]
    fn text_is_masked_in_place() {
        let m = |y: &str, i: &str| mask(y, "text", TypeKind::Text, i);
        assert_eq!(
            m("{ mask: { keep_last: 4 } }", "4111 1111 1111 1234"),
            "***************1234"
        );
        assert_eq!(m("{ mask: { keep_first: 1, char: \"#\" } }", "Zoë"), "Z##");
        assert_eq!(m("{ mask: {} }", "日本語"), "***");
        // Too short for what is kept: something is still masked.
        assert_eq!(m("{ mask: { keep_first: 2, keep_last: 2 } }", "abc"), "ab*");
        assert_eq!(m("{ mask: { keep_first: 5 } }", "a"), "*");
        assert_eq!(m("{ mask: {} }", ""), "");
    }

    #[test]
    fn numbers_keep_their_form() {
        assert_eq!(
            mask(
                "{ mask: { keep_last: 2 } }",
                "bigint",
                TypeKind::Int64,
                "-5551234567"
            ),
            "-0000000067"
        );
        assert_eq!(
            mask(
                "{ mask: { keep_first: 1, char: \"9\" } }",
                "numeric",
                TypeKind::Numeric,
                "123.45"
            ),
            "199.99"
        );
        assert_eq!(
            mask(
                "{ mask: { keep_first: 1 } }",
                "double precision",
                TypeKind::Float,
                "1.5e+20"
            ),
            "1.0e+20"
        );
        assert_eq!(
            mask("{ mask: {} }", "double precision", TypeKind::Float, "NaN"),
            "NaN"
        );
    }

    #[test]
    fn null_and_type_checks() {
        let t = build(
            &*parse("{ mask: {} }"),
            &column("c", "text", TypeKind::Text),
        );
        assert_eq!(apply(&*t, None), None);
        assert!(!parse("{ mask: {} }").needs_secret());
        let e = build_err(
            &*parse("{ mask: {} }"),
            &column("c", "date", TypeKind::Date),
        );
        assert!(
            e.starts_with("`mask` cannot produce a value of type date"),
            "{e}"
        );
        let e = build_err(
            &*parse("{ mask: { char: \"*\" } }"),
            &column("c", "integer", TypeKind::Int32),
        );
        assert!(e.contains("needs a digit"), "{e}");
        let e = build_err(
            &*parse("{ mask: { char: \"9\" } }"),
            &column("c", "integer", TypeKind::Int32),
        );
        assert!(e.contains("could overflow"), "{e}");
        let arr = build(
            &*parse("{ mask: { keep_first: 1 } }"),
            &column("c", "text[]", TypeKind::Text),
        );
        assert_eq!(
            apply(&*arr, Some("{abc,NULL,\"d e\"}")).unwrap(),
            "{a**,NULL,d**}"
        );
    }
}
