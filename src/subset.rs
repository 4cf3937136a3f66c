//! Subsetting: which rows of each table are copied.
//!
//! Root tables (no foreign key to another table) are sampled by a keyed
//! hash of their primary key; other tables follow the rows they reference.
//! Everything is expressed as one SQL predicate per table, evaluated inside
//! each table's COPY query on the source, so nothing is written and no key
//! set is held in memory.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer};

/// How much of a table to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SubsetSpec {
    /// Every row (lookup tables).
    All,
    /// A fraction in (0, 1].
    Fraction(f64),
}

impl SubsetSpec {
    /// Parses `10%`, `10`, `0.1` (all a tenth) or `all`. A bare number above
    /// 1 is a percentage; at or below 1, a fraction.
    pub fn parse(text: &str) -> Result<SubsetSpec, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("all") {
            return Ok(SubsetSpec::All);
        }
        let bad = || {
            format!("subset `{text}` is not a percentage; write e.g. `10%`, `10`, `0.1` or `all`")
        };
        let (number, percent) = match t.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (t, false),
        };
        let v: f64 = number.parse().map_err(|_| bad())?;
        let fraction = if percent || v > 1.0 { v / 100.0 } else { v };
        if !(fraction > 0.0 && fraction <= 1.0 && fraction.is_finite()) {
            return Err(format!(
                "subset `{text}` must be more than 0% and at most 100%"
            ));
        }
        if fraction >= 1.0 {
            return Ok(SubsetSpec::All);
        }
        Ok(SubsetSpec::Fraction(fraction))
    }
}

impl fmt::Display for SubsetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubsetSpec::All => f.write_str("all"),
            SubsetSpec::Fraction(x) => write!(f, "{}%", x * 100.0),
        }
    }
}

impl<'de> Deserialize<'de> for SubsetSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        let text = match v {
            serde_yaml::Value::String(s) => s,
            serde_yaml::Value::Number(n) => n.to_string(),
            _ => {
                return Err(de::Error::custom(
                    "subset must be a percentage such as `10%`, or `all`",
                ))
            }
        };
        SubsetSpec::parse(&text).map_err(de::Error::custom)
    }
}

// The placeholder `apply` below is replaced when subsetting lands.
#[allow(clippy::items_after_test_module)]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_spellings_of_a_tenth_agree() {
        for t in ["10%", "10", "0.1"] {
            assert_eq!(
                SubsetSpec::parse(t).unwrap(),
                SubsetSpec::Fraction(0.1),
                "{t}"
            );
        }
        assert_eq!(SubsetSpec::parse("all").unwrap(), SubsetSpec::All);
        assert_eq!(SubsetSpec::parse("100%").unwrap(), SubsetSpec::All);
        assert!(SubsetSpec::parse("0").is_err());
        assert!(SubsetSpec::parse("abc").is_err());
        assert!(SubsetSpec::parse("150%").is_err());
    }
}

use crate::error::RulesErrors;
use crate::plan::Plan;
use crate::rules::Rules;
use crate::transform::Key;

/// Fills each table's row predicate from the rules' filters and the
/// subset. Until subsetting lands, a subset request is refused rather than
/// silently copying everything.
pub fn apply(plan: &mut Plan, _rules: &Rules, _key: &Key) -> Result<(), RulesErrors> {
    if plan
        .tables
        .iter()
        .any(|t| matches!(t.subset, Some(SubsetSpec::Fraction(_))))
    {
        return Err(RulesErrors(vec![crate::error::RulesError {
            location: crate::error::Location::default(),
            message: "subsetting is not available in this build yet".into(),
            hint: Some("run without --subset and without `subset:` in the rules".into()),
        }]));
    }
    Ok(())
}
