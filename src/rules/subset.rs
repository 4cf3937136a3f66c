//! The rules' `subset:` keys, as written.
//!
//! At the top of a rules file `subset:` is either a share (`10%`, the
//! default for runs without `--subset`) or a map:
//!
//! ```yaml
//! subset: { default: 10%, roots: [public.customers] }
//! ```
//!
//! Under a table it is `all`, a share (`5%`) or `{ follow: <constraint> }`.
//! Hand-written visitors, like the column rules', so `yaml` keeps the
//! line and column of every error. Names are checked against the schema
//! later, in `subset::select` (part of `plan::prepare`).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

/// How much of a table to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SubsetSpec {
    /// Every row (lookup tables).
    All,
    /// A fraction in (0, 1].
    Fraction(f64),
}

impl SubsetSpec {
    /// Parses `10%` or `10` (both a tenth), `0.5` (half a percent) or
    /// `all`. A bare number is always a percentage: `1` is 1%, never 100%,
    /// so no spelling means two things.
    pub fn parse(text: &str) -> Result<SubsetSpec, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("all") {
            return Ok(SubsetSpec::All);
        }
        let bad = || {
            format!(
                "subset `{text}` is not a percentage; write e.g. `10%` (or `10`, also a percentage) or `all`"
            )
        };
        let number = t.strip_suffix('%').map(str::trim).unwrap_or(t);
        let v: f64 = number.parse().map_err(|_| bad())?;
        let fraction = v / 100.0;
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
            // Rounded so 0.07 shows as 7%, not 7.000000000000001%.
            SubsetSpec::Fraction(x) => write!(f, "{}%", (x * 100.0 * 1e6).round() / 1e6),
        }
    }
}

/// The top-level `subset:`.
#[derive(Debug, Default, Clone)]
pub struct SubsetSettings {
    /// The share of runs without `--subset`.
    pub default: Option<SubsetSpec>,
    /// Tables that drive the subset (sampled), as written.
    pub roots: Vec<String>,
}

/// A table's `subset:`.
#[derive(Debug, Clone, PartialEq)]
pub enum TableSubset {
    /// `all` or `N%`.
    Share(SubsetSpec),
    /// `{ follow: constraint }`: rows follow the parent of this foreign key
    /// (its constraint name, as in `\d table`).
    Follow(String),
}

const SETTINGS_KEYS: &[&str] = &["default", "roots"];
const TABLE_KEYS: &[&str] = &["follow"];

/// A share written as a YAML string or number.
fn share<E: de::Error>(text: &str) -> Result<SubsetSpec, E> {
    SubsetSpec::parse(text).map_err(E::custom)
}

/// `unknown key `x` in subset` with a suggestion.
fn unknown_key<E: de::Error>(key: &str, known: &[&str]) -> E {
    let mut msg = format!(
        "unknown key `{key}` in `subset`; known keys: {}",
        known.join(", ")
    );
    if let Some(s) = crate::transform::suggest(key, known) {
        msg.push_str(&format!(" (did you mean `{s}`?)"));
    }
    E::custom(msg)
}

impl<'de> Deserialize<'de> for SubsetSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SubsetSettings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a share such as `10%`, or a map with `default` and `roots`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(SubsetSettings {
                    default: Some(share(v)?),
                    roots: Vec::new(),
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = SubsetSettings::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "default" => out.default = Some(map.next_value()?),
                        "roots" => out.roots = map.next_value()?,
                        other => return Err(unknown_key(other, SETTINGS_KEYS)),
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for TableSubset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TableSubset;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`all`, a share such as `5%`, or `{ follow: <constraint> }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(TableSubset::Share(share(v)?))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut follow = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "follow" => follow = Some(map.next_value::<String>()?),
                        other => return Err(unknown_key(other, TABLE_KEYS)),
                    }
                }
                follow.map(TableSubset::Follow).ok_or_else(|| {
                    de::Error::custom(
                        "`subset` as a map needs `follow: <constraint>`; write `all` or a share such as `5%` otherwise",
                    )
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for SubsetSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match TableSubset::deserialize(d)? {
            TableSubset::Share(s) => Ok(s),
            TableSubset::Follow(_) => Err(de::Error::custom(
                "expected a share such as `10%`, not `follow`",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<SubsetSettings, String> {
        crate::yaml::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn top_level_subset_is_a_share_or_a_map() {
        assert_eq!(
            settings("10%").unwrap().default,
            Some(SubsetSpec::Fraction(0.1))
        );
        assert_eq!(
            settings("1").unwrap().default,
            Some(SubsetSpec::Fraction(0.01))
        );
        let s = settings("{ default: 5%, roots: [public.customers] }").unwrap();
        assert_eq!(s.default, Some(SubsetSpec::Fraction(0.05)));
        assert_eq!(s.roots, ["public.customers"]);
        let e = settings("{ root: [a] }").unwrap_err();
        assert!(e.contains("did you mean `roots`"), "{e}");
    }

    #[test]
    fn table_subset_is_all_a_share_or_follow() {
        let t = |y: &str| crate::yaml::from_str::<TableSubset>(y).map_err(|e| e.to_string());
        assert_eq!(t("all").unwrap(), TableSubset::Share(SubsetSpec::All));
        assert_eq!(
            t("{ follow: rental_customer_id_fkey }").unwrap(),
            TableSubset::Follow("rental_customer_id_fkey".into())
        );
        assert!(t("{ folow: x }")
            .unwrap_err()
            .contains("did you mean `follow`"));
        assert!(t("{}").unwrap_err().contains("needs `follow"));
    }
}
