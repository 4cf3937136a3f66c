//! `random_int`: an integer drawn within bounds from the value's keyed
//! SipHash (`keyed::Rng`), `{ random_int: { min: 18, max: 99 } }`.

use serde::Deserialize;

use super::decimal::{integer_range, Decimal};
use super::keyed::{Prf, Rng};
use super::{BuildContext, RowView, Transform, TransformOptions, ValueError, Written};
use crate::catalog::TypeKind;
use rand::RngExt;

/// `{ random_int: { min: N, max: N } }`
///
/// Writes an integer between `min` and `max` (inclusive), the same for the
/// same input. Works on integer columns (the bounds must fit the type),
/// numeric (they must fit its precision), floats and text. NULL stays NULL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    min: i64,
    max: i64,
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        let where_ = format!("column {}.{}", ctx.table, ctx.column.name);
        if self.min > self.max {
            return Err(format!("{where_}: `random_int` min is above max"));
        }
        let kind = ctx.column.kind;
        if !ctx.is_fragment() {
            if kind.is_integer() {
                let (lo, hi) = integer_range(kind);
                if i128::from(self.min) < lo || i128::from(self.max) > hi {
                    return Err(format!(
                        "{where_} ({}): `random_int` bounds do not fit the type",
                        ctx.column.type_name
                    ));
                }
            } else if kind == TypeKind::Numeric {
                if let (Some(p), Some(s)) = (ctx.column.numeric_precision, ctx.column.numeric_scale)
                {
                    let limit = Decimal::max_units(p.saturating_sub(s));
                    if i128::from(self.min).abs() > limit || i128::from(self.max).abs() > limit {
                        return Err(format!(
                            "{where_} ({}): `random_int` bounds do not fit the type",
                            ctx.column.type_name
                        ));
                    }
                }
            } else if !matches!(kind, TypeKind::Float | TypeKind::Text) {
                return Err(ctx.type_error("random_int", "integers, numeric, floats and text"));
            }
        }
        let namespace = ctx.namespace(&format!("random_int:{}:{}", self.min, self.max));
        let t = RandomInt {
            prf: Prf::derive(ctx.key, &namespace),
            min: self.min,
            max: self.max,
        };
        Ok(ctx.finish(Box::new(t), self.uniqueness()))
    }

    fn uniqueness(&self) -> super::Uniqueness {
        super::Uniqueness::Lossy
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        let digits = |n: i64| n.to_string().len();
        super::MaxLength::Fixed(digits(self.min).max(digits(self.max)))
    }

    fn output_space(&self) -> super::OutputSpace {
        super::OutputSpace::Values((self.max as f64 - self.min as f64) + 1.0)
    }

    fn describe(&self) -> String {
        format!("random_int(min={}, max={})", self.min, self.max)
    }
}

struct RandomInt {
    prf: Prf,
    min: i64,
    max: i64,
}

impl Transform for RandomInt {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let v = Rng::of(&self.prf, input).random_range(self.min..=self.max);
        out.extend_from_slice(v.to_string().as_bytes());
        Ok(Written::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{apply, build, build_err, column, parse, ColumnExt};

    #[test]
    fn draws_stay_within_bounds() {
        let t = build(
            &*parse("{ random_int: { min: 18, max: 20 } }"),
            &column("n", "integer", TypeKind::Int32),
        );
        assert_eq!(apply(&*t, Some("alice")).unwrap(), "19");
        let seen: std::collections::BTreeSet<String> = (0..200)
            .map(|i| apply(&*t, Some(&i.to_string())).unwrap())
            .collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["18", "19", "20"]);
        assert_eq!(apply(&*t, None), None);
    }

    #[test]
    fn bounds_must_fit_the_type() {
        let e = build_err(
            &*parse("{ random_int: { min: 0, max: 70000 } }"),
            &column("n", "smallint", TypeKind::Int16),
        );
        assert_eq!(
            e,
            "column public.t.n (smallint): `random_int` bounds do not fit the type"
        );
        let num = column("n", "numeric(4,2)", TypeKind::Numeric).with_numeric(4, 2);
        assert!(
            build_err(&*parse("{ random_int: { min: 0, max: 100 } }"), &num).contains("do not fit")
        );
        build(&*parse("{ random_int: { min: 0, max: 99 } }"), &num);
        assert!(
            build_err(&*parse("{ random_int: { min: 2, max: 1 } }"), &num)
                .contains("min is above max")
        );
        let e = build_err(
            &*parse("{ random_int: { min: 0, max: 1 } }"),
            &column("d", "date", TypeKind::Date),
        );
        assert!(
            e.starts_with("`random_int` cannot produce a value of type date"),
            "{e}"
        );
    }
}
