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
                // serde_yaml hands floats over as f64; its shortest form is
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
