//! `choice`: a deterministic pick from a list,
//! `{ choice: [bronze, silver, gold] }` or
//! `{ choice: { values: [a, b], weights: [9, 1] } }`.
//!
//! The pick is drawn from the value's keyed SipHash (`keyed::Rng`), so one
//! input always gets the same pick. Lossy by nature: it is meant for
//! low-cardinality columns.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::decimal::{integer_range, Decimal};
use super::keyed::{Prf, Rng};
use super::{BuildContext, RowView, Transform, TransformOptions, ValueError, Written};
use crate::catalog::TypeKind;
use rand::RngExt;

/// `{ choice: [V, ...] }` or `{ choice: { values: [V, ...], weights: [N, ...] } }`
///
/// Writes one of the values, picked per input (with `weights`, in
/// proportion to them). A value may be `null` to write NULL. Values are
/// checked against the column's type at plan time (integers in range,
/// numbers, booleans, uuids, dates, `varchar(n)` lengths), and cast to the
/// column's type on the source by `check` and before a sync (enum labels
/// included). NULL stays NULL.
#[derive(Debug, Clone)]
pub struct Options {
    values: Vec<Option<String>>,
    weights: Option<Vec<u32>>,
}

/// One list entry: a scalar as PostgreSQL text, or null.
struct Entry(Option<String>);

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::yaml::scalar_text(
            d,
            "`choice` values are scalars (text, numbers, booleans) or null",
        )
        .map(Entry)
    }
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Options;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of values, or `{ values: [...], weights: [...] }`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Options, A::Error> {
                let mut values = Vec::new();
                while let Some(Entry(v)) = seq.next_element()? {
                    values.push(v);
                }
                check(Options {
                    values,
                    weights: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Options, A::Error> {
                let mut values = None;
                let mut weights = None;
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "values" => {
                            values = Some(
                                map.next_value::<Vec<Entry>>()?
                                    .into_iter()
                                    .map(|e| e.0)
                                    .collect(),
                            )
                        }
                        "weights" => weights = Some(map.next_value::<Vec<u32>>()?),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown choice option `{other}`; expected `values` and `weights`"
                            )))
                        }
                    }
                }
                let values = values.ok_or_else(|| de::Error::custom("`choice` needs `values`"))?;
                check(Options { values, weights })
            }
        }
        d.deserialize_any(V)
    }
}

fn check<E: de::Error>(o: Options) -> Result<Options, E> {
    if o.values.is_empty() {
        return Err(E::custom("`choice` needs at least one value"));
    }
    if let Some(w) = &o.weights {
        if w.len() != o.values.len() {
            return Err(E::custom(format!(
                "`choice` has {} values but {} weights",
                o.values.len(),
                w.len()
            )));
        }
        if w.iter().map(|&x| u64::from(x)).sum::<u64>() == 0 {
            return Err(E::custom("`choice` weights are all zero"));
        }
    }
    Ok(o)
}

/// Whether `v` is valid text for the column's type, where that can be
/// known without the server.
fn fits(ctx: &BuildContext<'_>, v: &str) -> bool {
    let c = ctx.column;
    match c.kind {
        k if k.is_integer() => {
            let (lo, hi) = integer_range(k);
            Decimal::parse(v).is_some_and(|d| d.scale == 0 && (lo..=hi).contains(&d.units))
        }
        TypeKind::Numeric => {
            Decimal::parse(v).is_some_and(|d| match (c.numeric_precision, c.numeric_scale) {
                (Some(p), Some(s)) => d
                    .rescale(s)
                    .is_some_and(|d| d.units.abs() <= Decimal::max_units(p)),
                _ => true,
            })
        }
        TypeKind::Float => v.parse::<f64>().is_ok(),
        TypeKind::Bool => matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "t" | "f" | "yes" | "no" | "on" | "off" | "1" | "0"
        ),
        TypeKind::Uuid => super::hash::parse_uuid(v.as_bytes()).is_some(),
        TypeKind::Date => super::datetime::parse_date(v).is_some(),
        TypeKind::Text => c.max_length.is_none_or(|n| v.chars().count() <= n),
        _ => true,
    }
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        for v in self.values.iter().flatten() {
            if !ctx.is_fragment() && !fits(ctx, v) {
                return Err(format!(
                    "`choice` value `{v}` is not a valid {} (column {}.{})",
                    ctx.column.type_name, ctx.table, ctx.column.name
                ));
            }
        }
        if self.values.iter().any(Option::is_none) && ctx.column.not_null {
            return Err(format!(
                "column {}.{} is NOT NULL, but a `choice` value is null",
                ctx.table, ctx.column.name
            ));
        }
        // Cumulative weights, so a pick is a search.
        let mut cumulative = Vec::new();
        let mut total = 0u64;
        for i in 0..self.values.len() {
            total += u64::from(self.weights.as_ref().map_or(1, |w| w[i]));
            cumulative.push(total);
        }
        let namespace = ctx.namespace(&format!("choice:{}", self.describe()));
        let t = Choice {
            prf: Prf::derive(ctx.key, &namespace),
            values: self
                .values
                .iter()
                .map(|v| v.as_ref().map(|s| s.clone().into_bytes()))
                .collect(),
            cumulative,
        };
        Ok(ctx.finish(Box::new(t), self.uniqueness()))
    }

    /// The values are written as they are: the plan casts them to the
    /// column's type on the source (enum labels included).
    fn constants(&self) -> Vec<String> {
        self.values.iter().flatten().cloned().collect()
    }

    fn uniqueness(&self) -> super::Uniqueness {
        super::Uniqueness::Lossy
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        super::MaxLength::Fixed(
            self.values
                .iter()
                .flatten()
                .map(|v| v.chars().count())
                .max()
                .unwrap_or(0),
        )
    }

    fn output_space(&self) -> super::OutputSpace {
        super::OutputSpace::Values(self.values.len() as f64)
    }

    fn describe(&self) -> String {
        let values: Vec<String> = self
            .values
            .iter()
            .map(|v| v.as_deref().unwrap_or("null").to_string())
            .collect();
        match &self.weights {
            None => format!("choice({})", values.join(", ")),
            Some(w) => {
                let w: Vec<String> = w.iter().map(u32::to_string).collect();
                format!("choice({}; weights {})", values.join(", "), w.join(", "))
            }
        }
    }
}

struct Choice {
    prf: Prf,
    values: Vec<Option<Vec<u8>>>,
    cumulative: Vec<u64>,
}

impl Transform for Choice {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let total = *self.cumulative.last().expect("at least one value");
        let r = Rng::of(&self.prf, input).random_range(0..total);
        let i = self.cumulative.partition_point(|&c| c <= r);
        match &self.values[i] {
            None => Ok(Written::Null),
            Some(v) => {
                out.extend_from_slice(v);
                Ok(Written::Value)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{
        apply, build, build_err, column, parse, parse_err, ColumnExt,
    };

    #[test]
    fn picks_are_deterministic_and_weighted() {
        let text = column("c", "text", TypeKind::Text);
        let t = build(&*parse("{ choice: [bronze, silver, gold] }"), &text);
        assert_eq!(apply(&*t, Some("alice")).unwrap(), "gold");
        assert_eq!(apply(&*t, Some("alice")), apply(&*t, Some("alice")));
        assert_eq!(apply(&*t, None), None);
        let w = build(
            &*parse("{ choice: { values: [a, b, null], weights: [8, 2, 0] } }"),
            &text,
        );
        let mut counts = std::collections::HashMap::new();
        for i in 0..5000 {
            *counts.entry(apply(&*w, Some(&i.to_string()))).or_insert(0) += 1;
        }
        assert_eq!(counts.get(&None), None);
        let a = counts[&Some("a".to_string())];
        assert!((3800..4200).contains(&a), "{counts:?}");
        let n = build(&*parse("{ choice: [x, null] }"), &text);
        assert!((0..50).any(|i| apply(&*n, Some(&i.to_string())).is_none()));
    }

    #[test]
    fn values_are_checked_against_the_type() {
        let e = build_err(
            &*parse("{ choice: [1, 40000] }"),
            &column("n", "smallint", TypeKind::Int16),
        );
        assert_eq!(
            e,
            "`choice` value `40000` is not a valid smallint (column public.t.n)"
        );
        let e = build_err(
            &*parse("{ choice: [ok, toolong] }"),
            &column("s", "character varying(3)", TypeKind::Text).with_max_length(3),
        );
        assert!(
            e.contains("`toolong` is not a valid character varying(3)"),
            "{e}"
        );
        let e = build_err(
            &*parse("{ choice: [yes, maybe] }"),
            &column("b", "boolean", TypeKind::Bool),
        );
        assert!(e.contains("`maybe`"), "{e}");
        let mut nn = column("s", "text", TypeKind::Text);
        nn.not_null = true;
        assert!(build_err(&*parse("{ choice: [a, null] }"), &nn).contains("NOT NULL"));
        let num = column("p", "numeric(4,2)", TypeKind::Numeric).with_numeric(4, 2);
        assert!(build_err(&*parse("{ choice: [1.5, 123.4] }"), &num).contains("`123.4`"));
        build(
            &*parse("{ choice: [1.5, 99.99, 2020-01-01] }"),
            &column("t", "text", TypeKind::Text),
        );
    }

    #[test]
    fn shapes_are_checked_where_written() {
        assert!(parse_err("{ choice: [] }").contains("at least one value"));
        assert!(parse_err("{ choice: { values: [a, b], weights: [1] } }")
            .contains("2 values but 1 weights"));
        assert!(parse_err("{ choice: { values: [a], weights: [0] } }").contains("all zero"));
        assert!(parse_err("{ choice: [[a]] }").contains("scalars"));
        let o = parse("{ choice: { values: [a, null], weights: [3, 1] } }");
        assert_eq!(o.describe(), "choice(a, null; weights 3, 1)");
        assert_eq!(o.constants(), ["a"]);
    }
}
