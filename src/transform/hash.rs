//! `hash`: a keyed hash of the value, `{ hash: { format: digits, length: 9 } }`.
//!
//! On text the output is `HMAC-SHA256(secret, namespace ‖ value)` written
//! in the chosen alphabet, exactly `length` characters long. On integer and
//! uuid columns it is a keyed permutation of the type's own values instead
//! (see `keyed`), so a hashed key stays a valid, unique key of its type and
//! the foreign keys that point at it, hashed with the same rule, still join.

use serde::Deserialize;

use super::keyed::Prf;
use super::{BuildContext, RowView, Transform, TransformOptions, Uniqueness, ValueError, Written};
use crate::catalog::TypeKind;

/// `{ hash: { format: hex | base32 | digits | alnum, length: N } }`
///
/// Text columns: a keyed hash written with `format`'s alphabet (`hex`:
/// `0-9a-f`, the default; `base32`: `a-z2-7`; `digits`: `0-9`; `alnum`:
/// `0-9A-Za-z`), exactly `length` characters (default: all 256 bits: 64
/// hex, 51 base32, 77 digits, 42 alnum). A hash of at least 128 bits
/// (hex ≥ 32, base32 ≥ 26, digits ≥ 39, alnum ≥ 22) counts as collision-free,
/// like SHA-256 itself; a shorter one is lossy and refused on unique columns.
///
/// Integer and uuid columns (no `format`/`length`): a keyed permutation of
/// the type's values, sign kept for integers, version and variant kept for
/// uuids: collision-free by construction. `format: digits` with a `length`
/// that fits the integer type gives a lossy numeric hash instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default)]
    format: Option<Format>,
    #[serde(default)]
    length: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Hex,
    Base32,
    Digits,
    Alnum,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Hex => "hex",
            Format::Base32 => "base32",
            Format::Digits => "digits",
            Format::Alnum => "alnum",
        }
    }

    /// Most characters the 256-bit digest can fill without a bias.
    fn max_length(self) -> usize {
        match self {
            Format::Hex => 64,
            Format::Base32 => 51,
            Format::Digits => 77,
            Format::Alnum => 42,
        }
    }

    fn bits_per_char(self) -> f64 {
        match self {
            Format::Hex => 4.0,
            Format::Base32 => 5.0,
            Format::Digits => 10f64.log2(),
            Format::Alnum => 62f64.log2(),
        }
    }
}

/// Output bits from which a hash counts as collision-free: SHA-256's own
/// collision resistance. Two of 2^32 values then collide with probability
/// below 2^-64.
const COLLISION_FREE_BITS: f64 = 128.0;

impl Options {
    fn format(&self) -> Format {
        self.format.unwrap_or(Format::Hex)
    }

    fn length(&self) -> usize {
        self.length.unwrap_or(self.format().max_length())
    }

    fn validate(&self) -> Result<(), String> {
        let f = self.format();
        match self.length {
            Some(0) => Err("`hash` length must be at least 1".into()),
            Some(n) if n > f.max_length() => Err(format!(
                "`hash` length {n} is more than format {} can fill from 256 bits (at most {})",
                f.name(),
                f.max_length()
            )),
            _ => Ok(()),
        }
    }
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        self.validate()?;
        let kind = ctx.column.kind;
        let plain = self.format.is_none() && self.length.is_none();
        if kind.is_integer() && plain {
            let bits = match kind {
                TypeKind::Int16 => 16,
                TypeKind::Int32 => 32,
                _ => 64,
            };
            let prf = Prf::derive(ctx.key, &ctx.namespace("hash:integer"));
            return Ok(ctx.finish(
                Box::new(IntPermutation { prf, bits }),
                Uniqueness::Injective,
            ));
        }
        if kind == TypeKind::Uuid && plain {
            let prf = Prf::derive(ctx.key, &ctx.namespace("hash:uuid"));
            return Ok(ctx.finish(Box::new(UuidPermutation { prf }), Uniqueness::Injective));
        }
        if kind.is_integer() && self.format() == Format::Digits {
            // Leading zeros vanish, and the largest value must fit the type.
            let fits = match kind {
                TypeKind::Int16 => 4,
                TypeKind::Int32 => 9,
                _ => 18,
            };
            if self.length() > fits {
                return Err(format!(
                    "`hash` with {} digits does not fit column {}.{} ({}); use `length` {fits} or less",
                    self.length(),
                    ctx.table,
                    ctx.column.name,
                    ctx.column.type_name
                ));
            }
        } else if kind != TypeKind::Text && !ctx.is_fragment() {
            return Err(ctx.type_error(
                "hash",
                "text (any format), integers (a permutation, or `format: digits`) and uuids (a permutation)",
            ));
        }
        if let Some(max) = ctx.column.max_length {
            if self.length() > max {
                return Err(format!(
                    "`hash` writes {} characters, more than column {}.{} ({}) holds; set `length: {max}` or less",
                    self.length(),
                    ctx.table,
                    ctx.column.name,
                    ctx.column.type_name
                ));
            }
        }
        let namespace = ctx.namespace(&format!("hash:{}:{}", self.format().name(), self.length()));
        let t = TextHash {
            key: ctx.key.clone(),
            namespace,
            format: self.format(),
            length: self.length(),
            strip_zeros: kind.is_integer(),
        };
        Ok(ctx.finish(Box::new(t), self.uniqueness()))
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        // Text of exactly `length()` characters (`varchar(n)` only
        // bounds text; integers and uuids have their own widths).
        super::MaxLength::Fixed(self.length())
    }

    fn output_space(&self) -> super::OutputSpace {
        // Digits of a given length are a small space; the other formats
        // carry at least 64 bits.
        match (self.format, self.length) {
            (Some(Format::Digits), Some(n)) => super::OutputSpace::Values(10f64.powi(n as i32)),
            _ => super::OutputSpace::Values(f64::INFINITY),
        }
    }

    fn describe(&self) -> String {
        match (self.format, self.length) {
            (None, None) => "hash".into(),
            _ => format!(
                "hash(format={}, length={})",
                self.format().name(),
                self.length()
            ),
        }
    }

    /// Without options on integer and uuid columns `hash` is even a
    /// bijection, but the options alone cannot tell the column; the weaker
    /// promise holds for both.
    fn uniqueness(&self) -> Uniqueness {
        if self.length() as f64 * self.format().bits_per_char() >= COLLISION_FREE_BITS {
            Uniqueness::CollisionFree
        } else {
            Uniqueness::Lossy
        }
    }
}

/// A keyed hash written in an alphabet.
struct TextHash {
    key: super::Key,
    namespace: Vec<u8>,
    format: Format,
    length: usize,
    /// Integer columns: `007` is written `7`.
    strip_zeros: bool,
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX: &[u8; 16] = b"0123456789abcdef";

impl Transform for TextHash {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let d = self.key.digest(&self.namespace, input);
        render(&d, self.format, self.length, out);
        if self.strip_zeros {
            let start = out.len() - self.length;
            let zeros = out[start..out.len() - 1]
                .iter()
                .take_while(|&&c| c == b'0')
                .count();
            out.drain(start..start + zeros);
        }
        Ok(Written::Value)
    }
}

/// Writes the first `length` characters of `d` in `format`'s alphabet.
/// Hex and base32 read bits in order; digits and alnum read the digest as a
/// 256-bit number in base 10 or 62 (bias ≤ 62^length / 2^256).
pub(crate) fn render(d: &[u8; 32], format: Format, length: usize, out: &mut Vec<u8>) {
    match format {
        Format::Hex => {
            for i in 0..length {
                let b = d[i / 2];
                out.push(HEX[usize::from(if i % 2 == 0 { b >> 4 } else { b & 15 })]);
            }
        }
        Format::Base32 => {
            for i in 0..length {
                let bit = i * 5;
                let word =
                    (u16::from(d[bit / 8]) << 8) | u16::from(*d.get(bit / 8 + 1).unwrap_or(&0));
                let v = (word >> (11 - bit % 8)) & 31;
                out.push(BASE32[usize::from(v)]);
            }
        }
        Format::Digits => write_digits::<10, 9>(d, &ALNUM[..10], length, out),
        Format::Alnum => write_digits::<62, 5>(d, ALNUM, length, out),
    }
}

/// The last `length` digits of `d` read as a 256-bit number in base
/// `RADIX`, most significant first. It divides by `RADIX^PER` at once (10^9
/// or 62^5, both below 2^32): each step divides a u64 by a constant, with
/// no u128 division. How many digits a pass takes does not change them.
fn write_digits<const RADIX: u64, const PER: u32>(
    d: &[u8; 32],
    alphabet: &[u8],
    length: usize,
    out: &mut Vec<u8>,
) {
    let chunk = RADIX.pow(PER);
    debug_assert!(chunk < 1 << 32);
    let mut limbs = [0u32; 8];
    for (i, limb) in limbs.iter_mut().enumerate() {
        *limb = u32::from_be_bytes(d[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    }
    let start = out.len();
    let mut left = length;
    while left > 0 {
        let mut rem = 0u64;
        for limb in limbs.iter_mut() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / chunk) as u32;
            rem = cur % chunk;
        }
        for _ in 0..PER.min(left as u32) {
            out.push(alphabet[(rem % RADIX) as usize]);
            rem /= RADIX;
            left -= 1;
        }
    }
    out[start..].reverse();
}

/// A keyed permutation of an integer type: non-negative values among
/// themselves, negative ones among themselves.
struct IntPermutation {
    prf: Prf,
    bits: u32,
}

impl Transform for IntPermutation {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let v: i64 = std::str::from_utf8(input)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ValueError("`hash` expected an integer".into()))?;
        let half = self.bits - 1;
        // -1-v maps the negatives onto [0, 2^half) and back.
        let (neg, x) = if v < 0 {
            (true, (-1 - v) as u64)
        } else {
            (false, v as u64)
        };
        if half < 64 && x >> half != 0 {
            return Err(ValueError(
                "`hash` got an integer out of the column type's range".into(),
            ));
        }
        let y = self.prf.permute_bits(u64::from(neg), half, u128::from(x)) as i64;
        let r = if neg { -1 - y } else { y };
        out.extend_from_slice(r.to_string().as_bytes());
        Ok(Written::Value)
    }
}

/// A keyed permutation of UUIDs: the 122 bits that are not the version
/// nibble or the variant bits, so a v4 uuid stays a valid v4 uuid.
struct UuidPermutation {
    prf: Prf,
}

/// Bits of a UUID (as u128, big-endian) that are kept: version and variant.
const UUID_KEPT: u128 = (0xf << 76) | (0b11 << 62);

impl Transform for UuidPermutation {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let u = parse_uuid(input).ok_or_else(|| ValueError("`hash` expected a uuid".into()))?;
        write_uuid(permute_uuid(&self.prf, u), out);
        Ok(Written::Value)
    }
}

/// Permutes the 122 free bits of `u`, keeping version and variant.
pub(crate) fn permute_uuid(prf: &Prf, u: u128) -> u128 {
    let y = prf.permute_bits(0, 122, free_bits(u));
    (u & UUID_KEPT) | spread_bits(y)
}

/// The 122 bits of a uuid around its version nibble (bits 76..80) and
/// variant bits (62..64), packed: bits 80..128, then 64..76, then 0..62.
fn free_bits(u: u128) -> u128 {
    ((u >> 80) << 74) | (((u >> 64) & 0xfff) << 62) | (u & ((1 << 62) - 1))
}

/// The inverse of `free_bits`: puts 122 packed bits back in place.
fn spread_bits(x: u128) -> u128 {
    ((x >> 74) << 80) | (((x >> 62) & 0xfff) << 64) | (x & ((1 << 62) - 1))
}

/// Parses a uuid as PostgreSQL prints it (and the forms it accepts: upper
/// case, braces, missing hyphens).
pub(crate) fn parse_uuid(s: &[u8]) -> Option<u128> {
    let s = s
        .strip_prefix(b"{")
        .and_then(|s| s.strip_suffix(b"}"))
        .unwrap_or(s);
    let mut v = 0u128;
    let mut n = 0;
    for &c in s {
        if c == b'-' {
            continue;
        }
        v = (v << 4) | u128::from((c as char).to_digit(16)?);
        n += 1;
    }
    (n == 32).then_some(v)
}

/// Writes a uuid in PostgreSQL's canonical form.
pub(crate) fn write_uuid(u: u128, out: &mut Vec<u8>) {
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push(b'-');
        }
        out.push(HEX[((u >> (124 - 4 * i)) & 15) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{apply, build, build_err, column, ColumnExt};
    use std::collections::HashSet;

    fn opts(format: Option<Format>, length: Option<usize>) -> Options {
        Options { format, length }
    }

    /// Digits and alnum are the low digits of the digest as one number,
    /// whatever the chunks the division takes: checked against a division
    /// one digit at a time, at every length, for digests of every size.
    #[test]
    fn digits_match_a_digit_at_a_time_division() {
        for seed in 0..64u8 {
            let mut d = [0u8; 32];
            for (i, b) in d.iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(seed).wrapping_add(seed) ^ 0x5a;
            }
            // Small numbers too: leading zero limbs.
            d[..usize::from(seed % 32)].fill(0);
            for (format, radix) in [(Format::Digits, 10u32), (Format::Alnum, 62)] {
                let mut slow = Vec::new();
                let mut n = d;
                for _ in 0..format.max_length() {
                    let mut rem = 0u32;
                    for b in n.iter_mut() {
                        let cur = (rem << 8) | u32::from(*b);
                        *b = (cur / radix) as u8;
                        rem = cur % radix;
                    }
                    slow.push(ALNUM[rem as usize]);
                }
                slow.reverse();
                for length in 1..=format.max_length() {
                    let mut out = Vec::new();
                    render(&d, format, length, &mut out);
                    assert_eq!(out, &slow[slow.len() - length..], "{format:?} {length}");
                }
            }
        }
    }

    #[test]
    fn golden_outputs() {
        let text = column("t", "text", TypeKind::Text);
        let cases = [
            (
                opts(None, None),
                "e79d38bdbc483b90f543cc9679be33a48f7ee351f502d6a73543e3f3e96a291b",
            ),
            (opts(Some(Format::Hex), Some(12)), "319bd0f4349f"),
            (opts(Some(Format::Base32), Some(10)), "izszyqdmau"),
            (opts(Some(Format::Digits), Some(9)), "322335309"),
            (opts(Some(Format::Alnum), Some(16)), "7z4f17mn4toPV1bB"),
        ];
        // Computed independently (Python's hmac and integers), so these
        // also pin the alphabets and the bit order.
        for (o, expected) in cases {
            let t = build(&o, &text);
            assert_eq!(
                apply(&*t, Some("alice@example.com")),
                Some(expected.to_string()),
                "{o:?}"
            );
        }
    }

    #[test]
    fn length_and_alphabet_are_exact() {
        let text = column("t", "text", TypeKind::Text);
        for (format, alphabet) in [
            (Format::Hex, &HEX[..]),
            (Format::Base32, &BASE32[..]),
            (Format::Digits, &ALNUM[..10]),
            (Format::Alnum, &ALNUM[..]),
        ] {
            for length in [1, 5, 9, 20, format.max_length()] {
                let t = build(&opts(Some(format), Some(length)), &text);
                for i in 0..200 {
                    let out = apply(&*t, Some(&format!("value {i}"))).unwrap();
                    assert_eq!(out.len(), length, "{format:?}");
                    assert!(
                        out.bytes().all(|c| alphabet.contains(&c)),
                        "{format:?} {out}"
                    );
                }
            }
        }
    }

    #[test]
    fn digits_are_spread_evenly() {
        let t = build(
            &opts(Some(Format::Digits), Some(5)),
            &column("zip", "text", TypeKind::Text),
        );
        let mut counts = [0u32; 10];
        for i in 0..10_000 {
            for c in apply(&*t, Some(&i.to_string())).unwrap().bytes() {
                counts[usize::from(c - b'0')] += 1;
            }
        }
        // 50,000 digits: each near 5,000.
        assert!(
            counts.iter().all(|&n| (4_600..5_400).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn null_stays_null_and_secret_matters() {
        let text = column("t", "text", TypeKind::Text);
        let t = build(&opts(None, Some(16)), &text);
        assert_eq!(apply(&*t, None), None);
        let other = crate::transform::test_support::build_with_secret(
            &opts(None, Some(16)),
            &text,
            b"other",
        );
        assert_ne!(apply(&*t, Some("x")), apply(&*other, Some("x")));
        assert_eq!(apply(&*t, Some("x")), apply(&*t, Some("x")));
    }

    #[test]
    fn short_hashes_are_lossy() {
        assert_eq!(opts(None, None).uniqueness(), Uniqueness::CollisionFree);
        assert_eq!(
            opts(Some(Format::Hex), Some(32)).uniqueness(),
            Uniqueness::CollisionFree
        );
        assert_eq!(
            opts(Some(Format::Hex), Some(31)).uniqueness(),
            Uniqueness::Lossy
        );
        assert_eq!(
            opts(Some(Format::Digits), Some(39)).uniqueness(),
            Uniqueness::CollisionFree
        );
        assert_eq!(
            opts(Some(Format::Digits), Some(9)).uniqueness(),
            Uniqueness::Lossy
        );
        assert_eq!(
            opts(Some(Format::Alnum), Some(22)).uniqueness(),
            Uniqueness::CollisionFree
        );
        assert_eq!(
            opts(Some(Format::Base32), Some(25)).uniqueness(),
            Uniqueness::Lossy
        );
    }

    #[test]
    fn output_fits_the_column() {
        let v = column("code", "character varying(10)", TypeKind::Text).with_max_length(10);
        let e = build_err(&opts(Some(Format::Hex), Some(12)), &v);
        assert!(e.contains("set `length: 10` or less"), "{e}");
        assert!(build_err(&opts(None, Some(0)), &v).contains("at least 1"));
        assert!(build_err(&opts(None, Some(65)), &v).contains("at most 64"));
        let b = column("b", "boolean", TypeKind::Bool);
        assert!(build_err(&opts(None, None), &b)
            .starts_with("`hash` cannot produce a value of type boolean"));
        let i = column("n", "smallint", TypeKind::Int16);
        assert!(
            build_err(&opts(Some(Format::Digits), Some(5)), &i).contains("use `length` 4 or less")
        );
        let t = build(&opts(Some(Format::Digits), Some(4)), &i);
        let out = apply(&*t, Some("17")).unwrap();
        assert!(
            out.parse::<i16>().is_ok() && !out.starts_with('0') || out == "0",
            "{out}"
        );
    }

    #[test]
    fn integers_are_permuted_within_their_type() {
        let c = column("id", "integer", TypeKind::Int32);
        let t = build(&opts(None, None), &c);
        assert_eq!(apply(&*t, Some("1")), Some("2135567495".to_string()));
        assert_eq!(apply(&*t, Some("-1")), Some("-552295638".to_string()));
        for v in ["0", "2147483647", "-2147483648", "42", "-42"] {
            let out: i64 = apply(&*t, Some(v)).unwrap().parse().unwrap();
            assert!(i32::try_from(out).is_ok());
            assert_eq!(out < 0, v.starts_with('-'));
        }
        assert!(apply_err(&*t, "2147483648").contains("out of the column type's range"));
        assert!(apply_err(&*t, "x").contains("expected an integer"));
        let small = build(&opts(None, None), &column("n", "smallint", TypeKind::Int16));
        let all: HashSet<String> = (-32768..=32767)
            .map(|v: i32| apply(&*small, Some(&v.to_string())).unwrap())
            .collect();
        assert_eq!(all.len(), 65536);
        assert!(all.iter().all(|v| v.parse::<i16>().is_ok()));
        let big = build(&opts(None, None), &column("n", "bigint", TypeKind::Int64));
        let out: i64 = apply(&*big, Some("9223372036854775807"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(out >= 0);
    }

    fn apply_err(t: &dyn Transform, v: &str) -> String {
        let mut out = Vec::new();
        t.apply(v.as_bytes(), &RowView::empty(), &mut out)
            .unwrap_err()
            .0
    }

    #[test]
    fn uuids_keep_version_and_variant() {
        let c = column("id", "uuid", TypeKind::Uuid);
        let t = build(&opts(None, None), &c);
        let out = apply(&*t, Some("7c9e6679-7425-40de-944b-e07fc1f90ae7")).unwrap();
        assert_eq!(out, "fba8ecd2-46bf-4667-bc09-d763773d4cf5");
        assert_eq!(&out[14..15], "4");
        assert!(matches!(&out[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(
            parse_uuid(b"{7C9E6679742540DE944BE07FC1F90AE7}"),
            parse_uuid(b"7c9e6679-7425-40de-944b-e07fc1f90ae7")
        );
        let u = parse_uuid(b"7c9e6679-7425-40de-944b-e07fc1f90ae7").unwrap();
        assert_eq!(spread_bits(free_bits(u)) | (u & UUID_KEPT), u);
        assert_eq!(free_bits(u) >> 122, 0);
        assert_eq!(spread_bits((1 << 122) - 1), !UUID_KEPT);
    }
}
