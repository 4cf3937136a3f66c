//! `shift`: dates, timestamps and times moved by a deterministic offset,
//! `{ shift: { days: 180 } }`.
//!
//! The offset is drawn from a keyed hash of the value (SipHash under a key
//! derived for the rule), in whole units of the
//! smallest unit given (`days: 180` moves by whole days and keeps the time
//! of day), never zero, within ± the total. The same value always moves
//! by the same amount, so equal dates stay equal across tables.

use serde::Deserialize;

use super::datetime::{self, DAY_MICROS};
use super::keyed::Prf;
use super::{BuildContext, RowView, Transform, TransformOptions, ValueError, Written};
use crate::catalog::TypeKind;

/// `{ shift: { days: N, hours: N, minutes: N } }`
///
/// Moves a `date`, `timestamp`, `timestamptz`, `time` or `timetz` by a
/// non-zero offset of at most the total of the given units, drawn in whole
/// units of the smallest one given. `date` columns take `days` only;
/// `time` columns take `hours` and `minutes` only (times wrap around
/// midnight). `infinity` and `-infinity` stay as they are. The zone
/// offset of a timestamptz or timetz is kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    #[serde(default)]
    days: u32,
    #[serde(default)]
    hours: u32,
    #[serde(default)]
    minutes: u32,
}

impl Options {
    /// The unit of the offset, in microseconds, and the number of units.
    fn unit_and_range(&self) -> (i64, i64) {
        let total_minutes =
            (i64::from(self.days) * 24 + i64::from(self.hours)) * 60 + i64::from(self.minutes);
        if self.minutes > 0 {
            (60_000_000, total_minutes)
        } else if self.hours > 0 {
            (3_600_000_000, total_minutes / 60)
        } else {
            (DAY_MICROS, total_minutes / (24 * 60))
        }
    }
}

/// What the column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Date,
    Timestamp,
    Time,
    /// Inside a document: whichever of the three parses.
    Any,
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        if self.days == 0 && self.hours == 0 && self.minutes == 0 {
            return Err(format!(
                "column {}.{}: `shift` needs a range, e.g. `{{ shift: {{ days: 30 }} }}`",
                ctx.table, ctx.column.name
            ));
        }
        let shape = if ctx.is_fragment() {
            Shape::Any
        } else {
            match ctx.column.kind {
                TypeKind::Date => Shape::Date,
                TypeKind::Timestamp | TypeKind::TimestampTz => Shape::Timestamp,
                TypeKind::Time | TypeKind::TimeTz => Shape::Time,
                _ => {
                    return Err(
                        ctx.type_error("shift", "date, timestamp, timestamptz, time and timetz")
                    )
                }
            }
        };
        if shape == Shape::Date && (self.hours > 0 || self.minutes > 0) {
            return Err(format!(
                "column {}.{} is a date: `shift` can only move it by `days`",
                ctx.table, ctx.column.name
            ));
        }
        if shape == Shape::Time && self.days > 0 {
            return Err(format!(
                "column {}.{} is a time of day: `shift` moves it by `hours` and `minutes`, not `days`",
                ctx.table, ctx.column.name
            ));
        }
        let (unit, range) = self.unit_and_range();
        let namespace = ctx.namespace(&format!(
            "shift:{}:{}:{}",
            self.days, self.hours, self.minutes
        ));
        let t = Shift {
            prf: Prf::derive(ctx.key, &namespace),
            unit,
            range,
            shape,
        };
        Ok(ctx.finish(Box::new(t), self.uniqueness()))
    }

    fn uniqueness(&self) -> super::Uniqueness {
        super::Uniqueness::Lossy
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        // Dates and times in PostgreSQL's text form; no bound is claimed.
        super::MaxLength::Unbounded
    }

    fn output_space(&self) -> super::OutputSpace {
        super::OutputSpace::Dense
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (n, unit) in [
            (self.days, "days"),
            (self.hours, "hours"),
            (self.minutes, "minutes"),
        ] {
            if n > 0 {
                parts.push(format!("{unit}={n}"));
            }
        }
        format!("shift({})", parts.join(", "))
    }
}

struct Shift {
    /// The offset's source: a keyed PRF of the value (SipHash, derived
    /// once per rule; an offset needs no HMAC and no RNG stream).
    prf: Prf,
    /// Microseconds per unit of offset.
    unit: i64,
    /// Offsets are in [-range, -1] ∪ [1, range] units.
    range: i64,
    shape: Shape,
}

/// PostgreSQL's bounds: dates and timestamps from 4714-11-24 BC, dates up
/// to 5874897-12-31. Timestamps end where i64 microseconds since 1970 do
/// (year 294247, a few decades before PostgreSQL's own end).
const MIN_DAY: i64 = -2_440_588;
const MAX_DATE_DAY: i64 = 2_145_042_905;

impl Shift {
    fn offset(&self, input: &[u8]) -> i64 {
        // Multiply-shift maps the 64-bit hash onto [0, 2 * range): the span
        // is below 2^44 (the minutes of u32 days, twice), so each unit's
        // probability is off by less than 2^-20 of itself.
        let span = 2 * self.range as u64;
        let r = ((u128::from(self.prf.bytes(input)) * u128::from(span)) >> 64) as i64;
        let units = if r < self.range {
            r - self.range
        } else {
            r - self.range + 1
        };
        units * self.unit
    }
}

fn out_of_range() -> ValueError {
    ValueError("`shift` moved a value out of the type's range".into())
}

impl Transform for Shift {
    fn apply(
        &self,
        input: &[u8],
        _row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        if input == b"infinity" || input == b"-infinity" {
            out.extend_from_slice(input);
            return Ok(Written::Value);
        }
        let text = std::str::from_utf8(input)
            .map_err(|_| ValueError("`shift` expected a date or time".into()))?;
        let offset = self.offset(input);
        // Written straight into `out`: every error below is found before
        // the first byte is written.
        let shape = match self.shape {
            Shape::Any if datetime::parse_timestamp(text).is_some() => Shape::Timestamp,
            Shape::Any if datetime::parse_date(text).is_some() => Shape::Date,
            Shape::Any => Shape::Time,
            other => other,
        };
        match shape {
            Shape::Date => {
                let days = datetime::parse_date(text)
                    .ok_or_else(|| ValueError("`shift` expected a date".into()))?;
                // A date only moves by whole days; a finer unit inside a
                // document rounds away from zero so it still moves.
                let mut delta = offset / DAY_MICROS;
                if delta == 0 {
                    delta = offset.signum();
                }
                let d = days + delta;
                if !(MIN_DAY..=MAX_DATE_DAY).contains(&d) {
                    return Err(out_of_range());
                }
                datetime::write_date(d, out);
            }
            Shape::Timestamp => {
                let t = datetime::parse_timestamp(text)
                    .ok_or_else(|| ValueError("`shift` expected a timestamp".into()))?;
                let m = t.micros.checked_add(offset).ok_or_else(out_of_range)?;
                if m.div_euclid(DAY_MICROS) < MIN_DAY {
                    return Err(out_of_range());
                }
                datetime::write_timestamp(m, t.offset, out);
            }
            Shape::Time | Shape::Any => {
                let (t, zone) = datetime::parse_time_with_offset(text).ok_or_else(|| {
                    ValueError("`shift` expected a date, a timestamp or a time".into())
                })?;
                datetime::write_time((t + offset).rem_euclid(DAY_MICROS), out);
                out.extend_from_slice(zone.as_bytes());
            }
        }
        Ok(Written::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{
        apply, build, build_err, build_with_secret, column, parse,
    };

    fn shift(yaml: &str, type_name: &str, kind: TypeKind) -> Box<dyn Transform> {
        build(&*parse(yaml), &column("c", type_name, kind))
    }

    #[test]
    fn golden_outputs() {
        let d = shift("{ shift: { days: 180 } }", "date", TypeKind::Date);
        assert_eq!(apply(&*d, Some("1985-06-15")).unwrap(), "1985-05-15");
        let ts = shift(
            "{ shift: { days: 2, hours: 3 } }",
            "timestamp without time zone",
            TypeKind::Timestamp,
        );
        assert_eq!(
            apply(&*ts, Some("2024-01-31 13:45:00.25")).unwrap(),
            "2024-01-31 09:45:00.25"
        );
        let tz = shift(
            "{ shift: { minutes: 90 } }",
            "timestamp with time zone",
            TypeKind::TimestampTz,
        );
        assert_eq!(
            apply(&*tz, Some("2024-01-31 23:45:00+00")).unwrap(),
            "2024-02-01 00:47:00+00"
        );
        let t = shift(
            "{ shift: { hours: 5 } }",
            "time with time zone",
            TypeKind::TimeTz,
        );
        assert_eq!(
            apply(&*t, Some("22:15:00+05:30")).unwrap(),
            "20:15:00+05:30"
        );
    }

    #[test]
    fn offsets_are_nonzero_bounded_and_whole_units() {
        let d = shift("{ shift: { days: 3 } }", "date", TypeKind::Date);
        let base = datetime::parse_date("2000-01-01").unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..400 {
            let day = base + i;
            let mut s = Vec::new();
            datetime::write_date(day, &mut s);
            let out = apply(&*d, Some(std::str::from_utf8(&s).unwrap())).unwrap();
            let delta = datetime::parse_date(&out).unwrap() - day;
            assert!(delta != 0 && (-3..=3).contains(&delta), "{delta}");
            seen.insert(delta);
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), [-3, -2, -1, 1, 2, 3]);
        // Days only: the time of day is kept.
        let ts = shift(
            "{ shift: { days: 10 } }",
            "timestamp without time zone",
            TypeKind::Timestamp,
        );
        let out = apply(&*ts, Some("2024-05-05 07:08:09.5")).unwrap();
        assert!(out.ends_with(" 07:08:09.5"), "{out}");
    }

    #[test]
    fn same_value_same_shift_and_the_secret_matters() {
        let o = parse("{ shift: { days: 180 } }");
        let c = column("c", "date", TypeKind::Date);
        let a = build(&*o, &c);
        assert_eq!(
            apply(&*a, Some("1990-01-01")),
            apply(&*build(&*o, &c), Some("1990-01-01"))
        );
        let outs: Vec<_> = (1..=9)
            .map(|m| apply(&*a, Some(&format!("1990-0{m}-01"))))
            .collect();
        let other = build_with_secret(&*o, &c, b"other");
        let others: Vec<_> = (1..=9)
            .map(|m| apply(&*other, Some(&format!("1990-0{m}-01"))))
            .collect();
        assert_ne!(outs, others);
        assert_eq!(apply(&*a, None), None);
        assert_eq!(apply(&*a, Some("infinity")).unwrap(), "infinity");
    }

    #[test]
    fn types_and_units_are_checked() {
        let o = parse("{ shift: { days: 1 } }");
        let e = build_err(&*o, &column("c", "text", TypeKind::Text));
        assert_eq!(e, "`shift` cannot produce a value of type text (column public.t.c); it produces date, timestamp, timestamptz, time and timetz");
        let e = build_err(
            &*parse("{ shift: { hours: 1 } }"),
            &column("c", "date", TypeKind::Date),
        );
        assert!(e.contains("can only move it by `days`"), "{e}");
        let e = build_err(&*o, &column("c", "time without time zone", TypeKind::Time));
        assert!(e.contains("not `days`"), "{e}");
        let e = build_err(
            &*parse("{ shift: {} }"),
            &column("c", "date", TypeKind::Date),
        );
        assert!(e.contains("needs a range"), "{e}");
        let mut out = Vec::new();
        let d = shift("{ shift: { days: 1 } }", "date", TypeKind::Date);
        let err = d
            .apply(b"31/01/2024", &RowView::empty(), &mut out)
            .unwrap_err();
        assert_eq!(err.0, "`shift` expected a date");
    }

    #[test]
    fn bc_dates_and_arrays() {
        let d = shift("{ shift: { days: 400 } }", "date", TypeKind::Date);
        let out = apply(&*d, Some("0001-01-01")).unwrap();
        assert!(datetime::parse_date(&out).is_some(), "{out}");
        let arr = shift("{ shift: { days: 5 } }", "date[]", TypeKind::Date);
        let out = apply(&*arr, Some("{2020-01-01,NULL}")).unwrap();
        assert_eq!(out, "{2020-01-05,NULL}");
    }
}
