//! Unique fakes that look like a person's: `fake: email` gives
//! `jane.roberts.k7q2…@example.net`, `fake: username` gives
//! `jane.roberts.k7q2…`. A `fake` helper, not a YAML key.
//!
//! Two parts, each with one job:
//! - the **name** (`jane.roberts`) is drawn from the keyed digest of the
//!   value in ASCII lower case: it makes the output look real and carries
//!   no promise;
//! - the **tag** (`k7q2…`) is the value itself under a keyed permutation
//!   of its own alphabet ([`Prf::permute_symbols`]), written in base 36. It
//!   alone makes the map injective: two different inputs give two different
//!   tags, so they never collide, whatever the names drawn.
//!
//! A tag that tells every input apart must carry as much as the input
//! does, so its length grows with the input's: about 1.04 characters per
//! character of a lower-case address, 1.2 with upper case, 1.6 per byte of
//! anything else (see [`max_len`]). The output is ASCII lower case, so a
//! unique index on the column, or on `lower(column)`, holds on the target
//! whenever it holds on the source.

use fake::locales::Data;

use super::super::keyed::{self, pack, unpack, Prf};
use super::super::Shape;
use super::draw::Rng;

/// How a value is spelled as symbols: its alphabet decides the radix and
/// the separators of the output, which tell the families apart (a name is
/// letters only, a tag letters and digits, so the separators decode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// ASCII lower case, digits and `._+-@`: most addresses and usernames.
    /// Written `first.last.tag`.
    Lower,
    /// The same with upper-case letters. Written `first_last.tag`.
    Mixed,
    /// Anything else, byte by byte. Written `first_last_tag`.
    Bytes,
}

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789._+-@";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Each byte's symbol in the `Mixed` alphabet (`LOWER` then `UPPER`, so a
/// `Lower` symbol is the same number), or `NOT_TEXT`: one lookup a byte.
const SYMBOL: [u8; 256] = {
    let mut table = [NOT_TEXT; 256];
    let mut i = 0;
    while i < LOWER.len() {
        table[LOWER[i] as usize] = i as u8;
        i += 1;
    }
    let mut j = 0;
    while j < UPPER.len() {
        table[UPPER[j] as usize] = (LOWER.len() + j) as u8;
        j += 1;
    }
    table
};
const NOT_TEXT: u8 = 0xff;

/// Tag digits: base 36, lower case.
const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// 36^12, the most base-36 digits a u64 holds.
const BASE36_12: u128 = 36u128.pow(12);
/// Tag digits per full block: 36^24 (about 2.2e37) fits a u128.
const BLOCK_DIGITS: usize = 24;

impl Family {
    fn of(input: &[u8]) -> Family {
        let mut family = Family::Lower;
        for &b in input {
            match SYMBOL[usize::from(b)] {
                NOT_TEXT => return Family::Bytes,
                s if s >= LOWER.len() as u8 => family = Family::Mixed,
                _ => {}
            }
        }
        family
    }

    fn radix(self) -> u32 {
        match self {
            Family::Lower => LOWER.len() as u32,
            Family::Mixed => (LOWER.len() + UPPER.len()) as u32,
            Family::Bytes => 256,
        }
    }

    /// Symbols per full block: the most whose count of values is below
    /// 36^24, so a block is written in 24 digits (41^23, 67^20, 256^15).
    fn block(self) -> usize {
        match self {
            Family::Lower => 23,
            Family::Mixed => 20,
            Family::Bytes => 15,
        }
    }

    fn symbol(self, b: u8) -> u32 {
        match self {
            Family::Bytes => u32::from(b),
            _ => u32::from(SYMBOL[usize::from(b)]),
        }
    }

    /// [`block_digits`] of a block of `k` symbols (at most [`Family::block`]).
    fn block_digits(self, k: usize) -> usize {
        usize::from(match self {
            Family::Lower => LOWER_DIGITS[k],
            Family::Mixed => MIXED_DIGITS[k],
            Family::Bytes => BYTES_DIGITS[k],
        })
    }

    /// The separators after the first and the last name.
    fn separators(self) -> (u8, u8) {
        match self {
            Family::Lower => (b'.', b'.'),
            Family::Mixed => (b'_', b'.'),
            Family::Bytes => (b'_', b'_'),
        }
    }
}

/// Digits of the tag for a block of `k` symbols of `radix`: the fewest
/// base-36 digits that hold `radix^k` values. Exact (integers only), and
/// strictly increasing in `k` because every radix is above 36, so the
/// tag's length alone tells how many symbols it holds.
const fn block_digits(radix: u32, k: usize) -> usize {
    let values = (radix as u128).pow(k as u32);
    let (mut digits, mut reach) = (0, 1u128);
    while reach < values {
        reach *= 36;
        digits += 1;
    }
    digits
}

/// [`block_digits`] of a family's radix for every block length up to its
/// full block, computed at compile time: the loop costs more than the
/// block's conversion.
const fn digit_table<const N: usize>(radix: u32) -> [u8; N] {
    let mut table = [0u8; N];
    let mut k = 0;
    while k < N {
        table[k] = block_digits(radix, k) as u8;
        k += 1;
    }
    table
}

const LOWER_DIGITS: [u8; 24] = digit_table(41);
const MIXED_DIGITS: [u8; 21] = digit_table(67);
const BYTES_DIGITS: [u8; 16] = digit_table(256);

/// The longest output for an input of `len` bytes: the longest first and
/// last names, two separators, the tag of the widest family, and `domain`
/// (`@example.com`, 12 bytes, for emails; 0 for usernames). For the plan's
/// length gate (`MaxLength::Grows`), which refuses a `varchar(n)` the
/// output cannot fit. About 1.6 characters per input byte plus 40.
pub fn max_len(len: usize, domain: usize) -> usize {
    let (first, last) = (longest(first_names()), longest(last_names()));
    let k = Family::Bytes.block();
    let tag = len / k * BLOCK_DIGITS + block_digits(256, len % k);
    first + last + 2 + tag + domain
}

/// `max_len` of an email (`@example.com`).
pub fn email_len(len: usize) -> usize {
    max_len(len, 12)
}

/// `max_len` of a username.
pub fn username_len(len: usize) -> usize {
    max_len(len, 0)
}

/// About how many tags a value of this shape has, for `verify`: the tag
/// permutes the value over its own alphabet (41 symbols at the fewest).
pub fn domain(shape: Shape) -> f64 {
    41f64.powi((shape.chars as i32).max(1))
}

fn longest(names: &[&str]) -> usize {
    names
        .iter()
        .map(|n| ascii_name(n).count())
        .max()
        .unwrap_or(0)
}

fn first_names() -> &'static [&'static str] {
    <fake::locales::EN as Data>::NAME_FIRST_NAME
}

fn last_names() -> &'static [&'static str] {
    <fake::locales::EN as Data>::NAME_LAST_NAME
}

/// A name as it goes into an address: ASCII letters, lower case.
fn ascii_name(name: &str) -> impl Iterator<Item = u8> + '_ {
    name.bytes()
        .filter(u8::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
}

/// Reserved for examples (RFC 2606): no one can own them, so mail sent to
/// them reaches no one.
pub const EXAMPLE_DOMAINS: &[&str] = &["example.com", "example.net", "example.org"];

/// Writes the person-like local part (`jane.roberts.k7q2…`) of `input`,
/// and `@example.xxx` after it when `with_domain`. `prf` permutes the
/// tag and seeds the names' draw.
pub fn write(prf: &Prf, input: &[u8], with_domain: bool, out: &mut Vec<u8>) {
    let family = Family::of(input);
    let (after_first, after_last) = family.separators();
    // Case does not make another person: `John@X.com` and `john@x.com` get
    // the same name (their tags differ).
    let mut rng = Rng::of_lowercase(prf, input);
    let pick = |rng: &mut Rng, names: &[&str], out: &mut Vec<u8>| {
        out.extend(ascii_name(rng.pick::<&str>(names)));
    };
    pick(&mut rng, first_names(), out);
    out.push(after_first);
    pick(&mut rng, last_names(), out);
    if !input.is_empty() {
        out.push(after_last);
        write_tag(prf, family, input, out);
    }
    if with_domain {
        out.push(b'@');
        out.extend_from_slice(rng.pick(EXAMPLE_DOMAINS).as_bytes());
    }
}

/// The value's symbols permuted under a tweak of its family and length,
/// then written block by block in base 36.
fn write_tag(prf: &Prf, family: Family, input: &[u8], out: &mut Vec<u8>) {
    let radix = family.radix();
    keyed::with_symbols(|symbols| {
        symbols.extend(input.iter().map(|&b| pack(family.symbol(b), radix)));
        let tweak = TWEAK_TAG ^ ((family as u64) << 56) ^ input.len() as u64;
        prf.permute_symbols(tweak, symbols);
        write_blocks(family, symbols, out);
    });
}

/// The permuted symbols written block by block in base 36.
fn write_blocks(family: Family, symbols: &[u32], out: &mut Vec<u8>) {
    let radix = family.radix();
    for block in symbols.chunks(family.block()) {
        let value = block.iter().fold(0u128, |acc, &s| {
            acc * u128::from(radix) + u128::from(unpack(s).0)
        });
        let digits = family.block_digits(block.len());
        let start = out.len();
        out.resize(start + digits, b'0');
        // Base 36 in two halves of at most 12 digits (36^12 < 2^64): one
        // u128 division a block, and two independent chains of u64
        // divisions that the CPU runs side by side.
        let low_digits = digits.min(12);
        let (high, low) = if digits > 12 {
            ((value / BASE36_12) as u64, (value % BASE36_12) as u64)
        } else {
            (0, value as u64)
        };
        let (high_out, low_out) = out[start..].split_at_mut(digits - low_digits);
        write_base36(high, high_out);
        write_base36(low, low_out);
    }
}

/// Writes `v` in base 36 into all of `out`, right-aligned with leading
/// zeros, two digits a division; `v` fits.
#[inline]
fn write_base36(mut v: u64, out: &mut [u8]) {
    let mut end = out.len();
    while end >= 2 {
        let pair = &DIGIT_PAIRS[(v % 1296) as usize];
        v /= 1296;
        out[end - 2..end].copy_from_slice(pair);
        end -= 2;
    }
    if end == 1 {
        out[0] = DIGITS[(v % 36) as usize];
        v /= 36;
    }
    debug_assert_eq!(v, 0, "the value fits its digits");
}

/// The two base-36 digits of every value below 36^2.
const DIGIT_PAIRS: [[u8; 2]; 1296] = {
    let mut pairs = [[0u8; 2]; 1296];
    let mut i = 0;
    while i < 1296 {
        pairs[i] = [DIGITS[i / 36], DIGITS[i % 36]];
        i += 1;
    }
    pairs
};

/// Separates the tag's permutation from every other use of the PRF.
const TWEAK_TAG: u64 = 0x7065_7273_6f6e;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::Key;
    use std::collections::HashSet;

    fn prf() -> Prf {
        Prf::derive(&Key::new(b"golden secret"), b"fake:email")
    }

    fn email(input: &str) -> String {
        let mut out = Vec::new();
        write(&prf(), input.as_bytes(), true, &mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn block_digits_grow_with_every_symbol() {
        for family in [Family::Lower, Family::Mixed, Family::Bytes] {
            let widths: Vec<usize> = (0..=family.block())
                .map(|k| block_digits(family.radix(), k))
                .collect();
            assert!(
                widths.windows(2).all(|w| w[0] < w[1]),
                "{family:?}: {widths:?}"
            );
            assert_eq!(widths[family.block()], BLOCK_DIGITS, "{family:?}");
            for (k, &width) in widths.iter().enumerate() {
                assert_eq!(family.block_digits(k), width, "{family:?} {k}");
            }
        }
    }

    #[test]
    fn families_are_told_apart_by_their_separators() {
        let lower = email("john.smith42@gmail.com");
        let mixed = email("John.Smith42@gmail.com");
        let bytes = email("zoë@example.com");
        let shape = |s: &str| -> Vec<char> {
            s.split('@')
                .next()
                .unwrap()
                .chars()
                .filter(|c| *c == '.' || *c == '_')
                .collect()
        };
        assert_eq!(shape(&lower), ['.', '.']);
        assert_eq!(shape(&mixed), ['_', '.']);
        assert_eq!(shape(&bytes), ['_', '_']);
        // Same person (case folded), different tags.
        assert_eq!(lower.split('.').next(), mixed.split('_').next());
        assert_ne!(lower, mixed);
    }

    #[test]
    fn short_inputs_never_collide() {
        // Every string of up to 2 symbols of the lower alphabet, and every
        // 1- and 2-byte string: lengths and families mixed.
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
        for &a in LOWER.iter().chain(UPPER) {
            inputs.push(vec![a]);
            for &b in LOWER.iter().chain(UPPER) {
                inputs.push(vec![a, b]);
            }
        }
        for a in 0..=255u8 {
            inputs.push(vec![a, 0xff]);
        }
        let mut seen = HashSet::new();
        let p = prf();
        for i in &inputs {
            let mut out = Vec::new();
            write(&p, i, false, &mut out);
            assert!(seen.insert(out), "two inputs gave one output");
        }
    }

    #[test]
    fn max_len_bounds_every_family() {
        let p = prf();
        for len in [0, 1, 14, 15, 16, 23, 40, 254] {
            for input in [vec![b'a'; len], vec![b'A'; len], vec![0xe9; len]] {
                let mut out = Vec::new();
                write(&p, &input, true, &mut out);
                assert!(out.len() <= max_len(len, 12), "{len}: {}", out.len());
            }
        }
    }
}
