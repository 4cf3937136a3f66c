//! `fake`: a plausible value of a kind (`{ fake: first_name }`), drawn
//! deterministically from the input, in the rule's or the rules' `locale`.
//!
//! One output per `(kind, namespace, input)`: neither `unique: true` nor a
//! unique constraint changes what a kind writes, so every column faked by
//! the same rule joins. Two families:
//! - unique-capable kinds are unique by construction in every column:
//!   `email` and `username` write a person-like name and a tag that is the
//!   value under a keyed permutation (see `person`), `phone_number`
//!   encrypts its digits in place, `uuid` permutes uuid values;
//! - every other kind picks from the fake crate's locale data (or the
//!   formats of `license_plate` and `local_format`) with a generator
//!   seeded from the value's keyed digest (`draw`). Those are lossy: two
//!   people may both become "Maria".
//!
//! `kinds.rs` is the table of kinds; each other file makes one family.

use std::fmt::Write as _;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::datetime;
use super::{BuildContext, Transform, TransformOptions, Uniqueness};
use crate::catalog::TypeKind;

mod address;
mod company;
mod coordinate;
mod date;
mod draw;
mod email;
mod finance;
mod internet;
mod kinds;
mod license_plate;
mod local_format;
pub(super) mod locale;
mod lorem;
mod names;
mod person;
mod phone;
mod uuid;

pub use kinds::{Kind, KINDS};

use draw::{Drawn, Params};
use kinds::Generator;
use locale::Locale;

/// `{ fake: KIND }` or `{ fake: { kind: KIND, ...options } }`
///
/// Kinds: the rows of `kinds::KINDS` (first_name, last_name, name, email,
/// phone_number, street_address, ... date, date_of_birth).
///
/// Options: `keep_domain: true` (email: keep the input's domain), `min`,
/// `max` (date: `YYYY-MM-DD` bounds, default 1970-01-01 to 2030-12-31),
/// `min_age`, `max_age` (date_of_birth: ages on 2025-01-01, default 18
/// to 90).
///
/// email, username and phone_number are collision-free by construction
/// (a keyed permutation of the value itself); uuid permutes uuids and gives
/// other text 122 bits of SipHash (collision-free); the other kinds are lossy.
#[derive(Debug, Clone)]
pub struct Options {
    kind: &'static Kind,
    keep_domain: bool,
    min: Option<(String, i64)>,
    max: Option<(String, i64)>,
    min_age: Option<u32>,
    max_age: Option<u32>,
}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The kind a rule names, or an error listing them all.
fn parse_kind(s: &str) -> Result<&'static Kind, String> {
    kinds::find(s).ok_or_else(|| {
        let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        let mut msg = format!("unknown fake kind `{s}`");
        if let Some(x) = crate::did_you_mean::closest(s, names.iter().copied()) {
            let _ = write!(msg, " (did you mean `{x}`?)");
        }
        let _ = write!(msg, "; kinds: {}", names.join(", "));
        msg
    })
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OptionsVisitor)
    }
}

struct OptionsVisitor;

impl OptionsVisitor {
    fn plain(kind: &'static Kind) -> Options {
        Options {
            kind,
            keep_domain: false,
            min: None,
            max: None,
            min_age: None,
            max_age: None,
        }
    }
}

impl<'de> Visitor<'de> for OptionsVisitor {
    type Value = Options;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "a fake kind such as `email`, or a map such as `{ kind: email, keep_domain: true }`",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Options, E> {
        parse_kind(v).map(Self::plain).map_err(E::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Options, A::Error> {
        let mut kind = None;
        let mut o = Self::plain(&KINDS[0]);
        let mut given: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "kind" => kind = Some(parse_kind(&map.next_value::<String>()?).map_err(de::Error::custom)?),
                "keep_domain" => o.keep_domain = map.next_value()?,
                "min" | "max" => {
                    let text: String = map.next_value()?;
                    let days = datetime::parse_date(&text)
                        .ok_or_else(|| de::Error::custom(format!("`{key}` must be a date such as 2000-01-31")))?;
                    if key == "min" {
                        o.min = Some((text, days));
                    } else {
                        o.max = Some((text, days));
                    }
                }
                "min_age" => o.min_age = Some(map.next_value()?),
                "max_age" => o.max_age = Some(map.next_value()?),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown fake option `{other}`; options: kind, keep_domain (email), min and max (date), min_age and max_age (date_of_birth)"
                    )))
                }
            }
            given.push(key);
        }
        let kind = kind.ok_or_else(|| {
            de::Error::custom("a fake map needs `kind`, e.g. `{ kind: email, keep_domain: true }`")
        })?;
        if let Some(bad) = given
            .iter()
            .find(|k| *k != "kind" && !kind.options.contains(&k.as_str()))
        {
            return Err(de::Error::custom(format!(
                "fake option `{bad}` does not apply to kind `{}`",
                kind.name
            )));
        }
        // Keeping the domain is another form of email, with its own row.
        o.kind = if o.keep_domain {
            &kinds::EMAIL_KEEPING_DOMAIN
        } else {
            kind
        };
        if let (Some((_, a)), Some((_, b))) = (&o.min, &o.max) {
            if a > b {
                return Err(de::Error::custom("fake date: `min` is after `max`"));
            }
        }
        if o.min_age.unwrap_or(date::DEFAULT_MIN_AGE) > o.max_age.unwrap_or(date::DEFAULT_MAX_AGE) {
            return Err(de::Error::custom(
                "fake date_of_birth: `min_age` is above `max_age`",
            ));
        }
        Ok(o)
    }
}

impl Options {
    /// The default namespace: the kind and its options, stable forever.
    fn default_namespace(&self) -> String {
        let mut ns = format!("fake:{}", self.kind.name);
        let takes = |option| self.kind.options.contains(&option);
        if self.keep_domain {
            ns.push_str(":keep_domain");
        }
        if takes("min") {
            let (min, max) = self.date_range();
            let _ = write!(ns, ":{min}:{max}");
        }
        if takes("min_age") {
            let _ = write!(ns, ":{}:{}", self.min_age(), self.max_age());
        }
        ns
    }

    fn min_age(&self) -> u32 {
        self.min_age.unwrap_or(date::DEFAULT_MIN_AGE)
    }

    fn max_age(&self) -> u32 {
        self.max_age.unwrap_or(date::DEFAULT_MAX_AGE)
    }

    /// Inclusive day range of `date` and `date_of_birth`.
    fn date_range(&self) -> (i64, i64) {
        if self.kind.options.contains(&"min_age") {
            return date::birth_range(self.min_age(), self.max_age());
        }
        (
            self.min.as_ref().map_or(0, |(_, d)| *d),
            self.max
                .as_ref()
                .map_or_else(date::default_max, |(_, d)| *d),
        )
    }
}

/// What a kind's `Generator::Own` builds from.
pub(super) struct Setup<'a> {
    pub ctx: &'a BuildContext<'a>,
    /// `fake: KIND`, for messages.
    pub transform: String,
    pub namespace: Vec<u8>,
    /// What a drawn kind's generator sees.
    params: Params,
}

impl Setup<'_> {
    pub fn params(&self) -> Params {
        self.params
    }
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        let transform = format!("fake: {}", self.kind.name);
        let kinds::Produces(kinds, can_produce) = self.kind.produces;
        if !ctx.is_fragment() {
            ctx.require(&transform, kinds, can_produce)?;
        }
        let locale = Locale::parse(ctx.locale)
            .map_err(|e| format!("column {}.{}: {e}", ctx.table, ctx.column.name))?;
        let column = if ctx.is_fragment() {
            TypeKind::Text
        } else {
            ctx.column.kind
        };
        let setup = Setup {
            ctx,
            transform,
            namespace: ctx.namespace(&self.default_namespace()),
            params: Params {
                locale,
                column,
                scale: 6,
                range: self.date_range(),
                mac8: ctx.column.base_type == "macaddr8",
            },
        };
        let t: Box<dyn Transform> = match self.kind.generator {
            Generator::Own(build) => build(&setup)?,
            Generator::Drawn(generate) => Box::new(Drawn::new(
                ctx.key,
                &setup.namespace,
                setup.params,
                generate,
            )),
        };
        Ok(ctx.finish(t, self.uniqueness()))
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        self.kind.max_length
    }

    fn output_space(&self) -> super::OutputSpace {
        self.kind.output_space
    }

    fn domain_of(&self, shape: super::Shape) -> Option<f64> {
        self.kind.domain_of.map(|f| f(shape))
    }

    fn describe(&self) -> String {
        let mut s = format!("fake({}", self.kind.name);
        if self.keep_domain {
            s.push_str(", keep_domain");
        }
        if let Some((m, _)) = &self.min {
            let _ = write!(s, ", min={m}");
        }
        if let Some((m, _)) = &self.max {
            let _ = write!(s, ", max={m}");
        }
        if let Some(a) = self.min_age {
            let _ = write!(s, ", min_age={a}");
        }
        if let Some(a) = self.max_age {
            let _ = write!(s, ", max_age={a}");
        }
        s.push(')');
        s
    }

    fn uniqueness(&self) -> Uniqueness {
        self.kind.unique
    }
}

#[cfg(test)]
mod tests;
