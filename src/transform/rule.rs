//! A rule for one value: `keep`, `null`, or one transform of the registry,
//! with its modifiers (`unique`, `namespace`, `locale`, `accepted`).
//!
//! It lives here rather than in `rules` because rules nest: a `json` path
//! and a regex's `with:` hold one. With it here, `rules` depends on
//! `transform` and never the other way round.
//!
//! Parsing uses a hand-written visitor rather than `#[serde(flatten)]` or
//! untagged enums, which buffer values and lose the line and column of errors.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::{names, parse_options, suggest, OutputSpace, TransformOptions};

/// A column's rule: the action and its modifiers.
#[derive(Debug)]
pub struct ColumnRule {
    pub action: Action,
    pub unique: bool,
    pub namespace: Option<String>,
    pub locale: Option<String>,
    /// `accepted: "why"`: a person reviewed what `verify` reports for this
    /// column and accepts it (shop addresses kept on purpose). `verify`
    /// then shows the finding as `accepted`, with this text, and does not
    /// fail on it.
    pub accepted: Option<String>,
    /// `allow: [PATTERN, ...]`: emails, phone or card numbers that `verify`
    /// finds in this column's text and that match one of these patterns
    /// whole (a shop's own hotline, `support@acme.com`) are known, not
    /// findings. Anchored: a pattern matches the whole found value.
    pub allow: Vec<regex::Regex>,
    /// `allow_small_domain: true`: the user accepts a keyed permutation
    /// (`fpe`, a unique fake) over fewer than a million values, which the
    /// plan otherwise refuses (a lookup table for anyone with a few pairs).
    pub allow_small_domain: bool,
    /// The registry key of the transform (`hash`, `fake`), from the
    /// registry's table rather than from `describe()`; `None` for `keep`
    /// and `null`.
    pub transform: Option<&'static str>,
    /// `when: "SQL"`: the condition on the row's source values under which
    /// this rule applies, for an item of a column's list of rules
    /// (`rules::branches`). `None` on a plain rule and on a list's last
    /// item, the default.
    pub when: Option<String>,
}

/// What happens to a column's values.
#[derive(Debug)]
pub enum Action {
    /// Copied byte for byte, never decoded.
    Keep,
    /// Written as NULL.
    Null,
    /// Replaced by a transform.
    Transform(Box<dyn TransformOptions>),
    /// `sql: "expr"`: computed by an SQL expression on the source, inside
    /// the COPY query (`rule_sql`); the value then passes through as kept.
    Sql(String),
    /// `command: ...`: replaced by an external process
    /// (`transform::command`).
    Command(super::command::CommandSpec),
}

impl ColumnRule {
    /// `keep`, `null` or the transform's description, for plans and `check`.
    pub fn describe(&self) -> String {
        let mut s = match &self.action {
            Action::Keep => "keep".to_string(),
            Action::Null => "null".to_string(),
            Action::Transform(o) => o.describe(),
            Action::Sql(expr) => format!("sql({expr:?})"),
            Action::Command(c) => c.describe(),
        };
        if self.unique {
            s.push_str(" unique");
        }
        if let Some(ns) = &self.namespace {
            s.push_str(&format!(" namespace={ns}"));
        }
        if let Some(l) = &self.locale {
            s.push_str(&format!(" locale={l}"));
        }
        if self.accepted.is_some() {
            s.push_str(" accepted");
        }
        s
    }

    /// What the rule promises about equal outputs: `keep` gives distinct
    /// inputs distinct outputs; `null`, `sql:` and `command:` promise
    /// nothing.
    pub fn output_uniqueness(&self) -> super::Uniqueness {
        match &self.action {
            Action::Keep => super::Uniqueness::Injective,
            Action::Transform(o) => o.uniqueness(),
            _ => super::Uniqueness::Lossy,
        }
    }

    /// What the rule's outputs can be, for `verify`; `None` for `keep`
    /// (scanned, not compared) and `null`.
    pub fn output_space(&self) -> Option<OutputSpace> {
        match &self.action {
            Action::Transform(o) => Some(o.output_space()),
            // An expression may pass parts of the value through (`left(zip,
            // 3)`), so its outputs are scanned like kept text.
            Action::Sql(_) => Some(OutputSpace::Partial),
            // Whatever the program writes: judged strictly, as if its
            // outputs were unbounded, so a value found in the source is
            // a leak.
            Action::Command(_) => Some(OutputSpace::Values(f64::INFINITY)),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for ColumnRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ColumnRuleVisitor)
    }
}

/// The visitor of one rule; `rules::branches` reuses it for a column whose
/// rule is a single one rather than a list.
pub(crate) struct ColumnRuleVisitor;

const MODIFIERS: &[&str] = &[
    "unique",
    "namespace",
    "locale",
    "accepted",
    "allow",
    "when",
    "allow_small_domain",
];

/// Rule keys that are not transforms of the registry: they change where
/// the value is computed (the source's SQL, an external program).
const SHAPES: &[&str] = &["sql", "command"];

fn plain(action: Action) -> ColumnRule {
    ColumnRule {
        action,
        unique: false,
        namespace: None,
        locale: None,
        accepted: None,
        allow: Vec::new(),
        allow_small_domain: false,
        transform: None,
        when: None,
    }
}

impl<'de> Visitor<'de> for ColumnRuleVisitor {
    type Value = ColumnRule;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`keep`, `null`, or a map with one transform such as `{ fake: email }`")
    }

    fn visit_unit<E: de::Error>(self) -> Result<ColumnRule, E> {
        Ok(plain(Action::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<ColumnRule, E> {
        Ok(plain(Action::Null))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ColumnRule, E> {
        match v {
            "keep" => Ok(plain(Action::Keep)),
            "null" | "~" => Ok(plain(Action::Null)),
            other => {
                let mut msg = format!(
                    "unknown rule `{other}`; a column rule is `keep`, `null`, or a map with one transform such as `{{ fake: email }}`"
                );
                let mut all: Vec<&str> = vec!["keep", "null"];
                all.extend(names());
                if let Some(s) = suggest(other, &all) {
                    msg.push_str(&format!(" (did you mean `{s}`?)"));
                }
                Err(E::custom(msg))
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ColumnRule, A::Error> {
        rule_from_map(None, map)
    }
}

/// A rule from a map whose first key the caller may have read already
/// (a json path's `{ keys: RULE }` is told apart by its first key).
pub(crate) fn rule_from_map<'de, A: MapAccess<'de>>(
    first: Option<String>,
    mut map: A,
) -> Result<ColumnRule, A::Error> {
    let mut pending = first;
    let mut allow_small_domain = false;
    let mut action: Option<(String, Action)> = None;
    let mut unique = false;
    let mut namespace = None;
    let mut locale = None;
    let mut accepted: Option<String> = None;
    let mut allow = Vec::new();
    let mut transform = None;
    let mut when: Option<String> = None;
    while let Some(key) = match pending.take() {
        Some(k) => Some(k),
        None => map.next_key::<String>()?,
    } {
        match key.as_str() {
            "unique" => unique = map.next_value()?,
            "allow_small_domain" => allow_small_domain = map.next_value()?,
            "when" => {
                let condition: String = map.next_value()?;
                if condition.trim().is_empty() {
                    return Err(de::Error::custom(
                            "`when` takes an SQL condition on the row's source columns, e.g. `when: \"country = 'DE'\"`",
                        ));
                }
                when = Some(condition);
            }
            "namespace" => namespace = Some(map.next_value()?),
            "locale" => locale = Some(map.next_value()?),
            "accepted" => {
                let why: String = map.next_value()?;
                if why.trim().is_empty() {
                    return Err(de::Error::custom(
                            "`accepted` takes the reason a person accepted this column, e.g. `accepted: \"shop addresses, reviewed 2026-11\"`",
                        ));
                }
                accepted = Some(why);
            }
            "allow" => {
                let patterns: Vec<String> = map.next_value()?;
                for p in patterns {
                    let anchored = regex::Regex::new(&format!("^(?:{p})$"))
                        .map_err(|e| de::Error::custom(format!("invalid `allow` pattern: {e}")))?;
                    allow.push(anchored);
                }
            }
            // `{ keep: true, accepted: "..." }`: keep with a modifier.
            "keep" if action.is_none() => {
                if !map.next_value::<bool>()? {
                    return Err(de::Error::custom(
                        "`keep` in a map takes `true`; write `null` to empty the column",
                    ));
                }
                action = Some(("keep".to_string(), Action::Keep));
            }
            // `{ when: "...", null: true }`: a branch that writes NULL.
            "null" if action.is_none() => {
                if !map.next_value::<bool>()? {
                    return Err(de::Error::custom(
                        "`null` in a map takes `true`; write `keep` to copy the column",
                    ));
                }
                action = Some(("null".to_string(), Action::Null));
            }
            "keep" | "null" => {
                return Err(de::Error::custom(format!(
                    "write `{key}` on its own (`column: {key}`), not as a map key"
                )))
            }
            name => {
                if let Some((first, _)) = &action {
                    return Err(de::Error::custom(format!(
                        "a column rule has exactly one transform, found `{first}` and `{name}`"
                    )));
                }
                if name == "sql" {
                    let expr: String = map.next_value()?;
                    if expr.trim().is_empty() {
                        return Err(de::Error::custom(
                                "`sql` takes an SQL expression on the row's source columns, e.g. `sql: \"left(zip, 3) || '00'\"`",
                            ));
                    }
                    action = Some((name.to_string(), Action::Sql(expr)));
                    continue;
                }
                if name == "command" {
                    let spec: super::command::CommandSpec = map.next_value()?;
                    action = Some((name.to_string(), Action::Command(spec)));
                    continue;
                }
                match parse_options(name, &mut map)? {
                    Some(opts) => {
                        transform = names().into_iter().find(|n| *n == name);
                        action = Some((name.to_string(), Action::Transform(opts)))
                    }
                    None => {
                        let mut msg = format!("unknown transform `{name}`");
                        let mut all: Vec<&str> = names();
                        all.extend(MODIFIERS);
                        all.extend(SHAPES);
                        if let Some(s) = suggest(name, &all) {
                            msg.push_str(&format!(" (did you mean `{s}`?)"));
                        }
                        msg.push_str(&format!("; known transforms: {}", names().join(", ")));
                        return Err(de::Error::custom(msg));
                    }
                }
            }
        }
    }
    let Some((_, action)) = action else {
        return Err(de::Error::custom(
            "the rule names no transform; add one such as `fake: email`, or write `keep` or `null`",
        ));
    };
    Ok(ColumnRule {
        action,
        unique,
        namespace,
        locale,
        accepted,
        allow,
        allow_small_domain,
        transform,
        when,
    })
}
