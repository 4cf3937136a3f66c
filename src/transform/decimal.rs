//! Exact decimals for the numeric transforms (`noise`, `random_int`,
//! `random_numeric`, `choice`): a value is an `i128` count of `10^-scale`
//! units, which holds every numeric of up to 38 digits exactly (floats
//! would turn `12345678901234567.89` into something else).

use std::fmt::Write as _;

use serde::de::{self, Deserializer, Visitor};

/// `units × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    pub units: i128,
    pub scale: u32,
}

/// Most digits a `Decimal` holds.
pub const MAX_DIGITS: u32 = 38;

impl Decimal {
    /// Parses PostgreSQL's numeric text (`-12.340`, `+5`, `.5`); no exponent.
    pub fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
            || int.len() + frac.len() > MAX_DIGITS as usize
        {
            return None;
        }
        let mut units: i128 = 0;
        for c in int.bytes().chain(frac.bytes()) {
            units = units * 10 + i128::from(c - b'0');
        }
        Some(Decimal {
            units: if neg { -units } else { units },
            scale: frac.len() as u32,
        })
    }

    /// The same value at `scale` digits after the point, rounded half away
    /// from zero as PostgreSQL does; `None` on overflow.
    pub fn rescale(self, scale: u32) -> Option<Decimal> {
        let units = if scale >= self.scale {
            self.units
                .checked_mul(10i128.checked_pow(scale - self.scale)?)?
        } else {
            let div = 10i128.pow(self.scale - scale);
            let q = self.units / div;
            let r = self.units % div;
            if r.abs() * 2 >= div {
                q + self.units.signum()
            } else {
                q
            }
        };
        Some(Decimal { units, scale })
    }

    /// Appends the value with exactly `scale` digits after the point.
    pub fn write(self, out: &mut String) {
        if self.units < 0 {
            out.push('-');
        }
        let abs = self.units.unsigned_abs();
        if self.scale == 0 {
            let _ = write!(out, "{abs}");
        } else {
            let div = 10u128.pow(self.scale);
            let _ = write!(
                out,
                "{}.{:0w$}",
                abs / div,
                abs % div,
                w = self.scale as usize
            );
        }
    }

    pub fn to_f64(self) -> f64 {
        self.units as f64 / 10f64.powi(self.scale as i32)
    }

    /// The largest magnitude of a `numeric(precision, scale)`, in units of
    /// `scale`: `10^precision - 1`.
    pub fn max_units(precision: u32) -> i128 {
        10i128.saturating_pow(precision.min(MAX_DIGITS)) - 1
    }
}

/// A decimal of any size: `numeric` holds up to 131072 digits before the
/// point and 16383 after, and a JSON number may be `1e400`, where a
/// [`Decimal`] (38 digits) and an `f64` (±1.8e308, ~17 digits) both fall
/// short. Exact and deterministic; only what `noise` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wide {
    neg: bool,
    /// Decimal digits, least significant first, no high zeros (zero is
    /// empty).
    digits: Vec<u8>,
    /// The value is `digits × 10^exp`.
    exp: i64,
}

/// Largest exponent `Wide::parse` accepts: beyond numeric's range, short
/// of a text that would take gigabytes to expand.
const WIDE_MAX_EXP: i64 = 1 << 20;

impl Wide {
    /// Parses a decimal with an optional exponent (`-12.5`, `1e400`,
    /// `.5E-3`); `None` for anything else (`NaN`, `Infinity`, junk).
    pub fn parse(s: &str) -> Option<Wide> {
        let s = s.trim();
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let e: i64 = match exponent {
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty()
                    || digits.len() > 9
                    || !digits.bytes().all(|c| c.is_ascii_digit())
                {
                    return None;
                }
                e.parse().ok()?
            }
            None => 0,
        };
        let exp = e - frac.len() as i64;
        if exp.abs() > WIDE_MAX_EXP {
            return None;
        }
        let digits = int
            .bytes()
            .chain(frac.bytes())
            .rev()
            .map(|c| c - b'0')
            .collect();
        Some(Wide { neg, digits, exp }.normalized())
    }

    /// The exact value of a finite `f64`, through its shortest round-trip
    /// decimal form.
    pub fn from_f64(v: f64) -> Wide {
        Wide::parse(&format!("{v:e}")).unwrap_or_else(Wide::zero)
    }

    fn zero() -> Wide {
        Wide {
            neg: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    fn normalized(mut self) -> Wide {
        while self.digits.last() == Some(&0) {
            self.digits.pop();
        }
        if self.digits.is_empty() {
            self.neg = false;
        }
        self
    }

    /// Digits after the point as written (`1.50` has 2, `1e5` has 0).
    pub fn scale(&self) -> u32 {
        u32::try_from((-self.exp).max(0)).unwrap_or(u32::MAX)
    }

    pub fn abs(&self) -> Wide {
        Wide {
            neg: false,
            ..self.clone()
        }
    }

    /// The digits of `self` at exponent `exp` (<= self.exp).
    fn digits_at(&self, exp: i64) -> Vec<u8> {
        let shift = (self.exp - exp) as usize;
        let mut d = vec![0; shift];
        d.extend_from_slice(&self.digits);
        d
    }

    pub fn mul(&self, other: &Wide) -> Wide {
        // The shorter factor outside: the carry pass is then linear in the
        // longer one per digit of the shorter (noise multiplies by an f64,
        // at most 17 digits).
        let (short, long) = if self.digits.len() <= other.digits.len() {
            (&self.digits, &other.digits)
        } else {
            (&other.digits, &self.digits)
        };
        let mut acc = vec![0u32; short.len() + long.len() + 1];
        for (i, &a) in short.iter().enumerate() {
            for (j, &b) in long.iter().enumerate() {
                acc[i + j] += u32::from(a) * u32::from(b);
            }
            // Carry as we go so no cell overflows, whatever the lengths.
            let mut carry = 0;
            for cell in acc.iter_mut().skip(i) {
                let v = *cell + carry;
                *cell = v % 10;
                carry = v / 10;
            }
        }
        Wide {
            neg: self.neg != other.neg,
            digits: acc.into_iter().map(|d| d as u8).collect(),
            exp: self.exp + other.exp,
        }
        .normalized()
    }

    pub fn add(&self, other: &Wide) -> Wide {
        let exp = self.exp.min(other.exp);
        let (a, b) = (self.digits_at(exp), other.digits_at(exp));
        let (neg, digits) = if self.neg == other.neg {
            (self.neg, add_digits(&a, &b))
        } else if cmp_digits(&a, &b) != std::cmp::Ordering::Less {
            (self.neg, sub_digits(&a, &b))
        } else {
            (other.neg, sub_digits(&b, &a))
        };
        Wide { neg, digits, exp }.normalized()
    }

    /// Rounded to `scale` digits after the point, half away from zero as
    /// PostgreSQL rounds numerics.
    pub fn round(&self, scale: u32) -> Wide {
        let target = -i64::from(scale);
        if self.exp >= target {
            return self.clone();
        }
        let drop = (target - self.exp) as usize;
        if drop > self.digits.len() {
            return Wide::zero();
        }
        let half_up = self.digits[drop - 1] >= 5;
        let mut digits = self.digits[drop..].to_vec();
        if half_up {
            digits = add_digits(&digits, &[1]);
        }
        Wide {
            neg: self.neg,
            digits,
            exp: target,
        }
        .normalized()
    }

    /// The largest magnitude of a `numeric(precision, scale)`.
    pub fn max_of(precision: u32, scale: u32) -> Wide {
        Wide {
            neg: false,
            digits: vec![9; precision as usize],
            exp: -i64::from(scale),
        }
        .normalized()
    }

    pub fn neg(&self) -> Wide {
        Wide {
            neg: !self.neg && !self.digits.is_empty(),
            ..self.clone()
        }
    }

    /// Appends the value with exactly `scale` digits after the point (the
    /// value must already be rounded to it).
    pub fn write(&self, scale: u32, out: &mut String) {
        let digits = self.digits_at(self.exp.min(-i64::from(scale)));
        let scale = scale as usize;
        if self.neg {
            out.push('-');
        }
        let int_len = digits.len().saturating_sub(scale);
        if int_len == 0 {
            out.push('0');
        }
        for &d in digits[scale.min(digits.len())..].iter().rev() {
            out.push(char::from(b'0' + d));
        }
        if scale > 0 {
            out.push('.');
            for i in (0..scale).rev() {
                out.push(char::from(b'0' + digits.get(i).copied().unwrap_or(0)));
            }
        }
    }
}

impl From<Decimal> for Wide {
    fn from(d: Decimal) -> Wide {
        let mut digits = Vec::new();
        let mut units = d.units.unsigned_abs();
        while units > 0 {
            digits.push((units % 10) as u8);
            units /= 10;
        }
        Wide {
            neg: d.units < 0,
            digits,
            exp: -i64::from(d.scale),
        }
        .normalized()
    }
}

impl PartialOrd for Wide {
    fn partial_cmp(&self, other: &Wide) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Wide {
    fn cmp(&self, other: &Wide) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (self.neg, other.neg) {
            (false, true) => return Greater,
            (true, false) => return Less,
            _ => {}
        }
        let exp = self.exp.min(other.exp);
        let by_magnitude = cmp_digits(&self.digits_at(exp), &other.digits_at(exp));
        if self.neg {
            by_magnitude.reverse()
        } else {
            by_magnitude
        }
    }
}

/// Compares magnitudes given least significant digit first (no high zeros
/// needed).
fn cmp_digits(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let trim = |d: &[u8]| d.len() - d.iter().rev().take_while(|&&x| x == 0).count();
    let (la, lb) = (trim(a), trim(b));
    la.cmp(&lb)
        .then_with(|| a[..la].iter().rev().cmp(b[..lb].iter().rev()))
}

fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0;
    for i in 0..a.len().max(b.len()) {
        let v = a.get(i).copied().unwrap_or(0) + b.get(i).copied().unwrap_or(0) + carry;
        out.push(v % 10);
        carry = v / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out
}

/// `a - b` for `a >= b`.
fn sub_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i8;
    for (i, &x) in a.iter().enumerate() {
        let mut v = x as i8 - b.get(i).copied().unwrap_or(0) as i8 - borrow;
        borrow = i8::from(v < 0);
        if v < 0 {
            v += 10;
        }
        out.push(v as u8);
    }
    out
}

/// A YAML number or numeric string, kept as written (`0.1` must not become
/// `0.1000000000000000055`).
#[derive(Debug, Clone, PartialEq)]
pub struct NumberText(pub String);

impl<'de> serde::Deserialize<'de> for NumberText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumberText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumberText, E> {
                Ok(NumberText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumberText, E> {
                // The YAML reader hands floats over as f64; its shortest form is
                // what the user wrote for any sensible literal.
                Ok(NumberText(format!("{v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumberText, E> {
                Decimal::parse(v)
                    .map(|_| NumberText(v.to_string()))
                    .ok_or_else(|| E::custom(format!("`{v}` is not a number")))
            }
        }
        d.deserialize_any(V)
    }
}

impl NumberText {
    pub fn decimal(&self) -> Decimal {
        Decimal::parse(&self.0).unwrap_or(Decimal { units: 0, scale: 0 })
    }
}

/// Range of an integer column type.
pub fn integer_range(kind: crate::catalog::TypeKind) -> (i128, i128) {
    use crate::catalog::TypeKind;
    match kind {
        TypeKind::Int16 => (i128::from(i16::MIN), i128::from(i16::MAX)),
        TypeKind::Int32 => (i128::from(i32::MIN), i128::from(i32::MAX)),
        _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(d: Decimal) -> String {
        let mut s = String::new();
        d.write(&mut s);
        s
    }

    #[test]
    fn decimals_parse_and_print_exactly() {
        for t in ["0", "-12.340", "12345678901234567.89", "0.001", "-0.5"] {
            assert_eq!(text(Decimal::parse(t).unwrap()), t);
        }
        assert_eq!(text(Decimal::parse(".5").unwrap()), "0.5");
        assert_eq!(text(Decimal::parse("+5").unwrap()), "5");
        for bad in [
            "",
            "-",
            "1e5",
            "1.2.3",
            "NaN",
            "x",
            "123456789012345678901234567890123456789",
        ] {
            assert_eq!(Decimal::parse(bad), None, "{bad}");
        }
    }

    fn wide(t: &str, scale: u32) -> String {
        let mut s = String::new();
        Wide::parse(t).unwrap().round(scale).write(scale, &mut s);
        s
    }

    #[test]
    fn wide_decimals_parse_round_and_print_exactly() {
        assert_eq!(wide("1e40", 0), format!("1{}", "0".repeat(40)));
        assert_eq!(wide("-12.345", 2), "-12.35");
        assert_eq!(wide("12.344", 2), "12.34");
        assert_eq!(wide("0.5", 0), "1");
        assert_eq!(wide("-0.4", 0), "0");
        assert_eq!(wide("1.5E-3", 4), "0.0015");
        assert_eq!(wide("7", 3), "7.000");
        assert_eq!(wide(".25", 1), "0.3");
        let long = format!("0.{}1", "0".repeat(40));
        assert_eq!(wide(&long, 42), format!("0.{}10", "0".repeat(40)));
        for bad in [
            "",
            "-",
            "e5",
            "1e",
            "1e+",
            "NaN",
            "Infinity",
            "1.2.3",
            "1e99999999999",
        ] {
            assert_eq!(Wide::parse(bad), None, "{bad}");
        }
        let a = Wide::parse("123456789012345678901234567890123456789012.5").unwrap();
        let b = Wide::parse("-0.25").unwrap();
        let mut s = String::new();
        a.add(&b).write(2, &mut s);
        assert_eq!(s, "123456789012345678901234567890123456789012.25");
        let mut s = String::new();
        a.mul(&b).round(3).write(3, &mut s);
        assert_eq!(s, "-30864197253086419725308641972530864197253.125");
        assert!(b < Wide::parse("0").unwrap() && a > Wide::parse("1e41").unwrap());
        assert!(Wide::parse("-2").unwrap() < Wide::parse("-1.5").unwrap());
        assert_eq!(Wide::parse("1.50").unwrap().scale(), 2);
        assert_eq!(Wide::from_f64(0.1), Wide::parse("0.1").unwrap());
        let mut s = String::new();
        Wide::max_of(5, 2).write(2, &mut s);
        assert_eq!(s, "999.99");
    }

    #[test]
    fn rescaling_rounds_half_away_from_zero() {
        let r = |t: &str, s| text(Decimal::parse(t).unwrap().rescale(s).unwrap());
        assert_eq!(r("1.25", 1), "1.3");
        assert_eq!(r("-1.25", 1), "-1.3");
        assert_eq!(r("1.24", 1), "1.2");
        assert_eq!(r("7", 2), "7.00");
        assert_eq!(Decimal::max_units(3), 999);
    }
}
