//! `random_numeric`: a decimal drawn within bounds from the value's keyed
//! SipHash (`keyed::Rng`),
//! `{ random_numeric: { min: 0, max: 1000, scale: 2 } }`.

use serde::Deserialize;

use super::decimal::{Decimal, NumberText, MAX_DIGITS};
use super::keyed::{Prf, Rng};
use super::{BuildContext, RowView, Transform, TransformOptions, ValueError, Written};
use crate::catalog::TypeKind;
use rand::RngExt;

/// `{ random_numeric: { min: N, max: N, scale: S } }`
///
/// Writes a number between `min` and `max` (inclusive) with `scale`
/// digits after the point (default: the column's scale, else 2), uniform
/// over those steps and the same for the same input. Works on numeric
/// (the bounds must fit its precision), floats and text. NULL stays NULL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    min: NumberText,
    max: NumberText,
    #[serde(default)]
    scale: Option<u32>,
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        let where_ = format!("column {}.{}", ctx.table, ctx.column.name);
        let kind = ctx.column.kind;
        if !ctx.is_fragment()
            && !matches!(kind, TypeKind::Numeric | TypeKind::Float | TypeKind::Text)
        {
            return Err(ctx.type_error("random_numeric", "numeric, floats and text"));
        }
        let column_scale = if kind == TypeKind::Numeric {
            ctx.column.numeric_scale
        } else {
            None
        };
        let scale = self.scale.or(column_scale).unwrap_or(2);
        if scale > 18 {
            return Err(format!("{where_}: `random_numeric` scale is at most 18"));
        }
        if let (Some(cs), Some(s)) = (column_scale, self.scale) {
            if s > cs {
                return Err(format!(
                    "{where_} ({}): `random_numeric` scale {s} is finer than the column's {cs}",
                    ctx.column.type_name
                ));
            }
        }
        let bound = |n: &NumberText| {
            n.decimal()
                .rescale(scale)
                .filter(|d| d.units.unsigned_abs() < 10u128.pow(MAX_DIGITS - 1))
        };
        let (Some(min), Some(max)) = (bound(&self.min), bound(&self.max)) else {
            return Err(format!("{where_}: `random_numeric` bounds are too large"));
        };
        if min.units > max.units {
            return Err(format!("{where_}: `random_numeric` min is above max"));
        }
        if let (TypeKind::Numeric, Some(p)) = (kind, ctx.column.numeric_precision) {
            let limit = Decimal::max_units(p);
            let at_column_scale = |d: Decimal| d.rescale(ctx.column.numeric_scale.unwrap_or(0));
            if [min, max]
                .iter()
                .any(|d| at_column_scale(*d).is_none_or(|d| d.units.abs() > limit))
            {
                return Err(format!(
                    "{where_} ({}): `random_numeric` bounds do not fit the type",
                    ctx.column.type_name
                ));
            }
        }
        let namespace = ctx.namespace(&format!(
            "random_numeric:{}:{}:{scale}",
            self.min.0, self.max.0
        ));
        let t = RandomNumeric {
            prf: Prf::derive(ctx.key, &namespace),
            min: min.units,
            max: max.units,
            scale,
        };
        Ok(ctx.finish(Box::new(t), self.uniqueness()))
    }

    fn uniqueness(&self) -> super::Uniqueness {
        super::Uniqueness::Lossy
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        // Scaled to the column's numeric type at build time.
        super::MaxLength::Unbounded
    }

    fn output_space(&self) -> super::OutputSpace {
        super::OutputSpace::Dense
    }

    fn describe(&self) -> String {
        match self.scale {
            Some(s) => format!(
                "random_numeric(min={}, max={}, scale={s})",
                self.min.0, self.max.0
            ),
            None => format!("random_numeric(min={}, max={})", self.min.0, self.max.0),
        }
    }
}

struct RandomNumeric {
    prf: Prf,
    /// Bounds in units of `10^-scale`.
    min: i128,
    max: i128,
    scale: u32,
}

impl Transform for RandomNumeric {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let units = Rng::of(&self.prf, input).random_range(self.min..=self.max);
        let mut s = String::new();
        Decimal {
            units,
            scale: self.scale,
        }
        .write(&mut s);
        out.extend_from_slice(s.as_bytes());
        Ok(Written::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{apply, build, build_err, column, parse, ColumnExt};

    #[test]
    fn draws_keep_scale_and_bounds() {
        let num = column("p", "numeric(6,2)", TypeKind::Numeric).with_numeric(6, 2);
        let t = build(&*parse("{ random_numeric: { min: 0.5, max: 1000 } }"), &num);
        assert_eq!(apply(&*t, Some("alice")).unwrap(), "741.80");
        for i in 0..300 {
            let d = Decimal::parse(&apply(&*t, Some(&i.to_string())).unwrap()).unwrap();
            assert_eq!(d.scale, 2);
            assert!((50..=100_000).contains(&d.units), "{d:?}");
        }
        let text = build(
            &*parse("{ random_numeric: { min: -1, max: 1, scale: 3 } }"),
            &column("t", "text", TypeKind::Text),
        );
        assert_eq!(
            Decimal::parse(&apply(&*text, Some("x")).unwrap())
                .unwrap()
                .scale,
            3
        );
        assert_eq!(apply(&*text, None), None);
    }

    #[test]
    fn options_are_checked() {
        let num = column("p", "numeric(4,2)", TypeKind::Numeric).with_numeric(4, 2);
        assert!(
            build_err(&*parse("{ random_numeric: { min: 0, max: 100 } }"), &num)
                .contains("do not fit")
        );
        assert!(build_err(
            &*parse("{ random_numeric: { min: 0, max: 1, scale: 3 } }"),
            &num
        )
        .contains("finer than the column's 2"));
        assert!(
            build_err(&*parse("{ random_numeric: { min: 2, max: 1 } }"), &num)
                .contains("min is above max")
        );
        let e = build_err(
            &*parse("{ random_numeric: { min: 0, max: 1 } }"),
            &column("n", "integer", TypeKind::Int32),
        );
        assert!(
            e.starts_with("`random_numeric` cannot produce a value of type integer"),
            "{e}"
        );
    }
}
