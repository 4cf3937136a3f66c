//! `noise`: numbers moved by a deterministic amount,
//! `{ noise: { percent: 10 } }` or `{ noise: { absolute: 5, min: 0 } }`.
//!
//! The amount is drawn uniformly within ± the bound from the value's keyed
//! SipHash (`keyed::Rng`), so totals and distributions stay close to the
//! source while single values no longer match. The type is kept: integers
//! stay integers of the column's range, numerics keep their scale and
//! precision.

use serde::Deserialize;

use super::decimal::{self, integer_range, Decimal, NumberText, Wide};
use super::keyed::{Prf, Rng};
use super::{BuildContext, RowView, Transform, TransformOptions, ValueError, Written};
use crate::catalog::TypeKind;
use rand::RngExt;

/// `{ noise: { percent: P | absolute: A, min: N, max: N } }`
///
/// Adds to each number an amount drawn within ±P% of the number or ±A
/// (exactly one of the two), then keeps the result within `min` and `max`
/// when given, and within the column's type: integers are rounded and stay
/// in range, numerics keep the column's scale (the input's when the column
/// has none) and precision, floats stay floats. `NaN` and infinities stay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default)]
    percent: Option<NumberText>,
    #[serde(default)]
    absolute: Option<NumberText>,
    #[serde(default)]
    min: Option<NumberText>,
    #[serde(default)]
    max: Option<NumberText>,
}

/// How the column holds numbers.
#[derive(Debug, Clone, Copy)]
enum Form {
    Integer {
        lo: i128,
        hi: i128,
    },
    /// `scale: None` keeps each input's scale.
    Numeric {
        scale: Option<u32>,
        precision: Option<u32>,
    },
    Float {
        real: bool,
    },
    /// Inside a document: a decimal when it parses as one, else a float.
    Any,
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        let where_ = format!("column {}.{}", ctx.table, ctx.column.name);
        let bound = match (&self.percent, &self.absolute) {
            (Some(p), None) => Bound::Percent(p.decimal().to_f64() / 100.0),
            (None, Some(a)) => Bound::Absolute(a.decimal()),
            _ => {
                return Err(format!(
                    "{where_}: `noise` takes exactly one of `percent` and `absolute`"
                ))
            }
        };
        if matches!(bound, Bound::Percent(p) if p <= 0.0)
            || matches!(bound, Bound::Absolute(a) if a.units <= 0)
        {
            return Err(format!("{where_}: the `noise` bound must be above 0"));
        }
        let (min, max) = (
            self.min.as_ref().map(NumberText::decimal),
            self.max.as_ref().map(NumberText::decimal),
        );
        if let (Some(a), Some(b)) = (min, max) {
            if a.to_f64() > b.to_f64() {
                return Err(format!("{where_}: `noise` min is above max"));
            }
        }
        let form = if ctx.is_fragment() {
            Form::Any
        } else {
            match ctx.column.kind {
                k if k.is_integer() => {
                    let (lo, hi) = integer_range(k);
                    Form::Integer { lo, hi }
                }
                TypeKind::Numeric => Form::Numeric {
                    scale: ctx.column.numeric_scale,
                    precision: ctx.column.numeric_precision,
                },
                TypeKind::Float => Form::Float {
                    real: ctx.column.base_type == "real",
                },
                _ => return Err(ctx.type_error("noise", "integers, numeric and floats")),
            }
        };
        let namespace = ctx.namespace(&format!("noise:{}", self.describe()));
        let t = Noise {
            prf: Prf::derive(ctx.key, &namespace),
            bound,
            min,
            max,
            form,
        };
        Ok(ctx.finish(Box::new(t), self.uniqueness()))
    }

    fn uniqueness(&self) -> super::Uniqueness {
        super::Uniqueness::Lossy
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        // A number near the input, which may take more digits.
        super::MaxLength::Unbounded
    }

    fn output_space(&self) -> super::OutputSpace {
        super::OutputSpace::Dense
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (name, v) in [
            ("percent", &self.percent),
            ("absolute", &self.absolute),
            ("min", &self.min),
            ("max", &self.max),
        ] {
            if let Some(v) = v {
                parts.push(format!("{name}={}", v.0));
            }
        }
        format!("noise({})", parts.join(", "))
    }
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    /// A fraction of the value.
    Percent(f64),
    Absolute(Decimal),
}

struct Noise {
    prf: Prf,
    bound: Bound,
    min: Option<Decimal>,
    max: Option<Decimal>,
    form: Form,
}

fn not_a_number() -> ValueError {
    ValueError("`noise` expected a number".into())
}

impl Noise {
    /// A uniform draw in [-1, 1] for this value.
    fn draw(&self, input: &[u8]) -> f64 {
        let mut rng = Rng::of(&self.prf, input);
        rng.random::<f64>() * 2.0 - 1.0
    }

    /// Moves a decimal at `scale`, clamped to the bounds and `limit` units;
    /// `None` where the value or the move leaves `Decimal`'s 38 digits
    /// (then [`Noise::wide`] does it).
    fn decimal(&self, d: Decimal, scale: u32, limit: Option<i128>, u: f64) -> Option<Decimal> {
        let d = d.rescale(scale)?;
        let span_units = match self.bound {
            Bound::Percent(p) => d.units.unsigned_abs() as f64 * p,
            Bound::Absolute(a) => a.to_f64() * 10f64.powi(scale as i32),
        };
        let delta = (u * span_units).round();
        if delta.is_nan() || delta.abs() >= 1e36 {
            return None;
        }
        let mut units = d.units.checked_add(delta as i128)?;
        if let Some(min) = self.min.and_then(|m| m.rescale(scale)) {
            units = units.max(min.units);
        }
        if let Some(max) = self.max.and_then(|m| m.rescale(scale)) {
            units = units.min(max.units);
        }
        if let Some(limit) = limit {
            units = units.clamp(-limit, limit);
        }
        Some(Decimal { units, scale })
    }

    /// The same move as [`Noise::decimal`] on a decimal of any size:
    /// numerics beyond 38 digits, JSON numbers beyond a float's range.
    fn wide(
        &self,
        text: &str,
        scale: Option<u32>,
        precision: Option<u32>,
        u: f64,
        s: &mut String,
    ) -> Result<(), ValueError> {
        let d = Wide::parse(text).ok_or_else(not_a_number)?;
        let scale = scale.unwrap_or_else(|| d.scale());
        let delta = match self.bound {
            Bound::Percent(p) => d.abs().mul(&Wide::from_f64(u * p)),
            Bound::Absolute(a) => Wide::from(a).mul(&Wide::from_f64(u)),
        };
        let mut r = d.add(&delta).round(scale);
        if let Some(min) = self.min {
            r = r.max(Wide::from(min).round(scale));
        }
        if let Some(max) = self.max {
            r = r.min(Wide::from(max).round(scale));
        }
        if let Some(p) = precision {
            let limit = Wide::max_of(p, scale);
            r = r.clamp(limit.neg(), limit);
        }
        r.write(scale, s);
        Ok(())
    }

    fn float(&self, v: f64, u: f64) -> f64 {
        let span = match self.bound {
            Bound::Percent(p) => v.abs() * p,
            Bound::Absolute(a) => a.to_f64(),
        };
        let mut r = v + u * span;
        if let Some(min) = self.min {
            r = r.max(min.to_f64());
        }
        if let Some(max) = self.max {
            r = r.min(max.to_f64());
        }
        // Near the end of the range the move can overflow: stay finite
        // (`inf` is no JSON number).
        if r.is_finite() {
            r
        } else {
            f64::MAX.copysign(r)
        }
    }
}

impl Transform for Noise {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let text = std::str::from_utf8(input).map_err(|_| not_a_number())?;
        if matches!(text, "NaN" | "Infinity" | "-Infinity") {
            out.extend_from_slice(input);
            return Ok(Written::Value);
        }
        let u = self.draw(input);
        let mut s = String::new();
        // A document's number is exact when it can be (a decimal of any
        // size), a float otherwise (`1.5e-7`), and exact again beyond a
        // float's range (`1e400`).
        let exact = Form::Numeric {
            scale: None,
            precision: None,
        };
        let form = match self.form {
            Form::Any if Decimal::parse(text).is_some() => exact,
            Form::Any if text.parse::<f64>().is_ok_and(f64::is_finite) => {
                Form::Float { real: false }
            }
            Form::Any if Wide::parse(text).is_some() => exact,
            Form::Any => Form::Float { real: false },
            f => f,
        };
        match form {
            Form::Integer { lo, hi } => {
                let d = Decimal::parse(text)
                    .filter(|d| d.scale == 0)
                    .ok_or_else(not_a_number)?;
                let mut r = self.decimal(d, 0, None, u).ok_or_else(not_a_number)?;
                r.units = r.units.clamp(lo, hi);
                r.write(&mut s);
            }
            Form::Numeric { scale, precision } => {
                // i128 arithmetic where it holds the value (the pinned
                // outputs), arbitrary precision beyond.
                let fast = Decimal::parse(text).and_then(|d| {
                    let limit = precision
                        .filter(|&p| p <= decimal::MAX_DIGITS)
                        .map(Decimal::max_units);
                    self.decimal(d, scale.unwrap_or(d.scale), limit, u)
                });
                match fast {
                    Some(r) => r.write(&mut s),
                    None => self.wide(text, scale, precision, u, &mut s)?,
                }
            }
            Form::Float { real } => {
                let v: f64 = text.parse().map_err(|_| not_a_number())?;
                let r = self.float(v, u);
                if real {
                    s = format!("{}", r as f32);
                } else {
                    s = format!("{r}");
                }
            }
            Form::Any => unreachable!("resolved above"),
        }
        out.extend_from_slice(s.as_bytes());
        Ok(Written::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{
        apply, build, build_err, build_with_secret, column, parse, ColumnExt,
    };

    fn noise(yaml: &str, c: &crate::catalog::Column, input: &str) -> String {
        apply(&*build(&*parse(yaml), c), Some(input)).unwrap()
    }

    #[test]
    fn golden_outputs() {
        let int = column("n", "integer", TypeKind::Int32);
        assert_eq!(noise("{ noise: { percent: 10 } }", &int, "1000"), "998");
        let num = column("n", "numeric(10,2)", TypeKind::Numeric).with_numeric(10, 2);
        assert_eq!(
            noise("{ noise: { absolute: 5 } }", &num, "123.45"),
            "126.84"
        );
        let float = column("n", "double precision", TypeKind::Float);
        assert_eq!(
            noise("{ noise: { percent: 1 } }", &float, "2.5"),
            "2.4877289202653143"
        );
    }

    #[test]
    fn amounts_stay_within_the_bound_and_the_type() {
        let int = column("n", "smallint", TypeKind::Int16);
        let t = build(&*parse("{ noise: { percent: 10 } }"), &int);
        let mut moved = 0;
        for v in [100, 1000, 30000, -20000, 32767] {
            for _ in 0..1 {
                let out: i64 = apply(&*t, Some(&v.to_string())).unwrap().parse().unwrap();
                assert!((out - v).abs() <= v.abs() / 10 + 1, "{v} -> {out}");
                assert!(i16::try_from(out).is_ok(), "{out}");
                moved += i32::from(out != v);
            }
        }
        assert!(moved >= 4);
        let num = column("n", "numeric(5,2)", TypeKind::Numeric).with_numeric(5, 2);
        let t = build(&*parse("{ noise: { absolute: 50, min: 0 } }"), &num);
        for i in 0..200 {
            let out = apply(&*t, Some(&format!("{}.5", i % 1000))).unwrap();
            let d = Decimal::parse(&out).unwrap();
            assert_eq!(d.scale, 2, "{out}");
            assert!(d.units >= 0 && d.units <= 99_999, "{out}");
        }
        // Unconstrained numeric: the input's scale.
        let any = column("n", "numeric", TypeKind::Numeric);
        let out = noise("{ noise: { percent: 5 } }", &any, "12345678901234567.891");
        assert_eq!(Decimal::parse(&out).unwrap().scale, 3);
    }

    /// Issue 16 item 8: numerics beyond 38 digits (1e38 and more, or
    /// many decimals) are moved within the bound at their own scale and
    /// precision, deterministically, instead of stopping the run.
    #[test]
    fn numerics_of_any_size_keep_their_scale() {
        let any = column("n", "numeric", TypeKind::Numeric);
        let t = build(&*parse("{ noise: { percent: 5 } }"), &any);
        for input in [
            "123456789012345678901234567890123456789012.5",
            "100000000000000000000000000000000000000",
            "-99999999999999999999999999999999999999999999",
            "0.1234567890123456789012345678901234567890123",
            "12345.000000000000000000000000000000000000000001",
        ] {
            let out = apply(&*t, Some(input)).unwrap();
            assert_eq!(apply(&*t, Some(input)).unwrap(), out, "deterministic");
            let (a, b) = (Wide::parse(input).unwrap(), Wide::parse(&out).unwrap());
            assert_eq!(b.scale(), a.scale(), "{input} -> {out}");
            // Within 5% (plus rounding).
            let bound = a.abs().mul(&Wide::parse("0.05").unwrap());
            let diff = b.add(&a.neg()).abs();
            assert!(
                diff <= bound.add(&Wide::parse("1").unwrap()),
                "{input} -> {out}"
            );
            assert_ne!(out, input);
        }
        // numeric(45, 40): at most 5 digits before the point, 40 after.
        let num = column("n", "numeric(45,40)", TypeKind::Numeric).with_numeric(45, 40);
        let t = build(&*parse("{ noise: { percent: 50 } }"), &num);
        for i in 0..50 {
            let input = format!("9999{i}.{}", "7".repeat(40));
            let out = apply(&*t, Some(&input)).unwrap();
            let (int, frac) = out.trim_start_matches('-').split_once('.').unwrap();
            assert_eq!(frac.len(), 40, "{out}");
            assert!(int.len() <= 5, "{out}");
        }
        // Absolute bounds, min and max on wide values.
        let t = build(&*parse("{ noise: { absolute: 1000, min: 0 } }"), &any);
        let out = apply(&*t, Some(&format!("0.{}1", "0".repeat(40)))).unwrap();
        let (int, frac) = out.split_once('.').unwrap();
        assert!(!out.starts_with('-') && int.len() <= 4, "{out}");
        assert_eq!(frac.len(), 41, "{out}");
    }

    /// Issue 16 item 8: a JSON number beyond a float's range stays a
    /// number (`1e400` used to become `inf`), and floats never overflow.
    #[test]
    fn document_numbers_beyond_floats_stay_numbers() {
        let frag = column("v", crate::transform::FRAGMENT, TypeKind::Other);
        let t = build(&*parse("{ noise: { percent: 10 } }"), &frag);
        let out = apply(&*t, Some("1e400")).unwrap();
        assert!(out.bytes().all(|c| c.is_ascii_digit()), "{out}");
        assert!((400..=401).contains(&out.len()), "{}", out.len());
        assert!(apply(&*t, Some("1.5e-7")).unwrap().parse::<f64>().is_ok());
        let float = column("n", "double precision", TypeKind::Float);
        let t = build(&*parse("{ noise: { percent: 50 } }"), &float);
        for i in 0..20 {
            let out = apply(&*t, Some(&format!("1.7{i}e308"))).unwrap();
            assert!(out.parse::<f64>().unwrap().is_finite(), "{out}");
        }
    }

    #[test]
    fn determinism_secret_null_specials() {
        let int = column("n", "bigint", TypeKind::Int64);
        let o = parse("{ noise: { absolute: 1000 } }");
        let a = build(&*o, &int);
        let b = build_with_secret(&*o, &int, b"other");
        let xs: Vec<_> = (0..20).map(|i| apply(&*a, Some(&i.to_string()))).collect();
        assert_eq!(
            xs,
            (0..20)
                .map(|i| apply(&*a, Some(&i.to_string())))
                .collect::<Vec<_>>()
        );
        assert_ne!(
            xs,
            (0..20)
                .map(|i| apply(&*b, Some(&i.to_string())))
                .collect::<Vec<_>>()
        );
        assert_eq!(apply(&*a, None), None);
        let f = build(&*o, &column("n", "real", TypeKind::Float));
        assert_eq!(apply(&*f, Some("NaN")).unwrap(), "NaN");
        assert_eq!(apply(&*f, Some("-Infinity")).unwrap(), "-Infinity");
    }

    #[test]
    fn options_and_types_are_checked() {
        let int = column("n", "integer", TypeKind::Int32);
        assert!(build_err(&*parse("{ noise: {} }"), &int)
            .contains("exactly one of `percent` and `absolute`"));
        assert!(
            build_err(&*parse("{ noise: { percent: 1, absolute: 1 } }"), &int)
                .contains("exactly one")
        );
        assert!(build_err(&*parse("{ noise: { percent: 0 } }"), &int).contains("above 0"));
        assert!(
            build_err(&*parse("{ noise: { percent: 1, min: 5, max: 1 } }"), &int)
                .contains("min is above max")
        );
        let e = build_err(
            &*parse("{ noise: { percent: 1 } }"),
            &column("t", "text", TypeKind::Text),
        );
        assert!(
            e.starts_with("`noise` cannot produce a value of type text"),
            "{e}"
        );
        let t = build(&*parse("{ noise: { percent: 1 } }"), &int);
        let mut out = Vec::new();
        assert_eq!(
            t.apply(b"1.5", &RowView::empty(), &mut out).unwrap_err().0,
            "`noise` expected a number"
        );
    }
}
