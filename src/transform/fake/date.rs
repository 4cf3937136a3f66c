//! `date` (between `min` and `max`) and `date_of_birth` (aged `min_age`
//! to `max_age` on a fixed day), written in the column's form.

use rand::RngExt;

use super::super::datetime;
use super::draw::{Params, Rng};
use crate::catalog::TypeKind;

pub(super) const DEFAULT_MIN_AGE: u32 = 18;
pub(super) const DEFAULT_MAX_AGE: u32 = 90;
/// Ages are counted on this fixed day, not today: outputs must not change
/// from one run to the next.
const AGE_REFERENCE: (i64, u32, u32) = (2025, 1, 1);

/// Inclusive day range of people aged `min_age` to `max_age`.
pub(super) fn birth_range(min_age: u32, max_age: u32) -> (i64, i64) {
    let (y, m, d) = AGE_REFERENCE;
    // Born after (ref - max_age - 1 years) and on or before (ref - min_age years).
    let oldest = datetime::days_from_civil(y - i64::from(max_age) - 1, m, d) + 1;
    let youngest = datetime::days_from_civil(y - i64::from(min_age), m, d);
    (oldest, youngest)
}

/// The default `max` of `date`.
pub(super) fn default_max() -> i64 {
    datetime::days_from_civil(2030, 12, 31)
}

pub(super) fn date(p: &Params, _: &[u8], rng: &mut Rng, out: &mut Vec<u8>) {
    let day = rng.random_range(p.range.0..=p.range.1);
    match p.column {
        TypeKind::Timestamp | TypeKind::TimestampTz => {
            let micros = rng.random_range(0..86_400i64) * 1_000_000;
            let zone = if p.column == TypeKind::TimestampTz {
                "+00"
            } else {
                ""
            };
            datetime::write_timestamp(day * datetime::DAY_MICROS + micros, zone, out);
        }
        _ => datetime::write_date(day, out),
    }
}
