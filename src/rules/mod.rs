//! Rule types: what the user wrote in the YAML rules, parsed and checked for
//! shape (not yet against the schema; that is the plan's job).
//!
//! Parsing uses hand-written visitors rather than `#[serde(flatten)]` or
//! untagged enums, which make serde_yaml lose the line and column of errors.

pub mod load;
pub mod locate;
pub mod subset;

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::catalog::QualifiedName;
use crate::error::Location;
use crate::subset::SubsetSpec;
use crate::transform::{self, TransformOptions};

/// What to do with a column that has no rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownColumns {
    /// Refuse to run (the default): a column added by a migration must be
    /// classified before it is copied.
    #[default]
    Fail,
    /// Copy it unchanged.
    Keep,
}

impl<'de> Deserialize<'de> for UnknownColumns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "fail" => Ok(UnknownColumns::Fail),
            "keep" => Ok(UnknownColumns::Keep),
            other => Err(de::Error::custom(format!(
                "unknown_columns must be `fail` or `keep`, not `{other}`"
            ))),
        }
    }
}

/// All rules of a run, merged from one file or a directory.
#[derive(Debug, Default)]
pub struct Rules {
    pub unknown_columns: UnknownColumns,
    pub locale: String,
    /// Default subset for tables without their own `subset:`.
    pub subset: Option<SubsetSpec>,
    /// `subset: { roots: [...] }`: the tables that drive the subset, as
    /// written, and where the list was written.
    pub roots: Vec<String>,
    pub roots_location: Option<Location>,
    pub tables: Vec<TableRule>,
    /// SHA-256 of the rules files' bytes, in load order, for the report.
    pub digest: String,
    /// The files read, for messages.
    pub files: Vec<String>,
}

impl Rules {
    pub fn table(&self, name: &QualifiedName) -> Option<&TableRule> {
        self.tables.iter().find(|t| &t.name == name)
    }

    /// True when some rule needs the secret (anything but keep/null/set).
    pub fn needs_secret(&self) -> bool {
        self.tables
            .iter()
            .flat_map(|t| &t.columns)
            .any(|c| match &c.rule.action {
                Action::Transform(o) => o.needs_secret(),
                _ => false,
            })
    }
}

/// The rule of one table.
#[derive(Debug)]
pub struct TableRule {
    /// The key as written in the file.
    pub key: String,
    pub name: QualifiedName,
    pub location: Location,
    pub columns: Vec<ColumnEntry>,
    /// `where:` SQL condition, ANDed with the subset.
    pub filter: Option<String>,
    pub subset: Option<SubsetSpec>,
    /// `subset: { follow: constraint }`: the foreign key this table's rows
    /// follow, as written.
    pub follow: Option<String>,
    /// `skip: true`: schema only, no rows.
    pub skip: bool,
    /// Overrides the file's `unknown_columns` for this table.
    pub unknown_columns: Option<UnknownColumns>,
    /// Foreign keys the database does not declare (`references:`).
    pub references: Vec<VirtualReference>,
    /// `max_per_parent:` at most this many rows are followed into the
    /// subset as children of one parent row.
    pub max_per_parent: Option<u64>,
    /// `null_outside_subset:` nullable reference columns set to NULL when the
    /// row they point at is not in the subset, instead of pulling that row in.
    pub null_outside_subset: Vec<String>,
    /// Where each table-level key (`where`, `subset`, `references`, ...) was
    /// written, for errors found against the schema.
    pub key_locations: Vec<(String, Location)>,
}

impl TableRule {
    /// Where the table-level `key` was written; the table's own location
    /// when it was not.
    pub fn location_of(&self, key: &str) -> Location {
        self.key_locations
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| self.location.clone())
    }
}

/// A foreign key declared in the rules: `columns` of this table point at
/// `parent_columns` (default: the parent's primary key) of `table`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualReference {
    pub columns: Vec<String>,
    pub table: String,
    #[serde(default)]
    pub parent_columns: Vec<String>,
}

/// One `column: rule` entry.
#[derive(Debug)]
pub struct ColumnEntry {
    pub name: String,
    pub location: Location,
    pub rule: ColumnRule,
}

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
}

impl ColumnRule {
    /// `keep`, `null` or the transform's description, for plans and `check`.
    pub fn describe(&self) -> String {
        let mut s = match &self.action {
            Action::Keep => "keep".to_string(),
            Action::Null => "null".to_string(),
            Action::Transform(o) => o.describe(),
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

    /// What the rule's outputs can be, for `verify`; `None` for `keep`
    /// (scanned, not compared) and `null`.
    pub fn output_space(&self) -> Option<transform::OutputSpace> {
        match &self.action {
            Action::Transform(o) => Some(o.output_space()),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for ColumnRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ColumnRuleVisitor)
    }
}

struct ColumnRuleVisitor;

const MODIFIERS: &[&str] = &["unique", "namespace", "locale", "accepted"];

fn plain(action: Action) -> ColumnRule {
    ColumnRule {
        action,
        unique: false,
        namespace: None,
        locale: None,
        accepted: None,
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
                all.extend(transform::names());
                if let Some(s) = transform::suggest(other, &all) {
                    msg.push_str(&format!(" (did you mean `{s}`?)"));
                }
                Err(E::custom(msg))
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ColumnRule, A::Error> {
        let mut action: Option<(String, Action)> = None;
        let mut unique = false;
        let mut namespace = None;
        let mut locale = None;
        let mut accepted: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "unique" => unique = map.next_value()?,
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
                // `{ keep: true, accepted: "..." }`: keep with a modifier.
                "keep" if action.is_none() => {
                    if !map.next_value::<bool>()? {
                        return Err(de::Error::custom(
                            "`keep` in a map takes `true`; write `null` to empty the column",
                        ));
                    }
                    action = Some(("keep".to_string(), Action::Keep));
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
                    match transform::parse_options(name, &mut map)? {
                        Some(opts) => action = Some((name.to_string(), Action::Transform(opts))),
                        None => {
                            let mut msg = format!("unknown transform `{name}`");
                            let mut all: Vec<&str> = transform::names();
                            all.extend(MODIFIERS);
                            if let Some(s) = transform::suggest(name, &all) {
                                msg.push_str(&format!(" (did you mean `{s}`?)"));
                            }
                            msg.push_str(&format!(
                                "; known transforms: {}",
                                transform::names().join(", ")
                            ));
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
        })
    }
}

/// Parses a table key as written in the rules: `schema.table`, either part
/// quoted where SQL needs it (`"Billing Dept"."Invoice Lines"`); a bare
/// table means schema `public`. Bare parts fold to lower case, as in SQL.
pub fn parse_table_name(key: &str) -> Result<QualifiedName, String> {
    let mut parts = Vec::new();
    let mut chars = key.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return Err(format!("unterminated quote in table name `{key}`")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if c == '"' {
                    return Err(format!("misplaced quote in table name `{key}`"));
                }
                part.extend(c.to_lowercase());
                chars.next();
            }
        }
        if part.is_empty() {
            return Err(format!("empty name part in table name `{key}`"));
        }
        parts.push(part);
        match chars.next() {
            None => break,
            Some('.') => continue,
            Some(_) => return Err(format!("unexpected text after a quoted name in `{key}`")),
        }
    }
    match parts.len() {
        1 => Ok(QualifiedName::new("public", parts.remove(0))),
        2 => {
            let name = parts.pop().unwrap();
            Ok(QualifiedName::new(parts.pop().unwrap(), name))
        }
        _ => Err(format!(
            "table name `{key}` has too many parts; write `schema.table`"
        )),
    }
}

/// A column key: the name as is, or SQL-quoted (`"Full Name"`).
pub fn parse_column_name(key: &str) -> String {
    let k = key.trim();
    if k.len() >= 2 && k.starts_with('"') && k.ends_with('"') {
        k[1..k.len() - 1].replace("\"\"", "\"")
    } else {
        k.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_parse_like_sql() {
        assert_eq!(
            parse_table_name("public.users").unwrap(),
            QualifiedName::new("public", "users")
        );
        assert_eq!(
            parse_table_name("Users").unwrap(),
            QualifiedName::new("public", "users")
        );
        assert_eq!(
            parse_table_name(r#""Billing Dept"."Invoice Lines""#).unwrap(),
            QualifiedName::new("Billing Dept", "Invoice Lines")
        );
        assert_eq!(
            parse_table_name(r#"s."a""b""#).unwrap(),
            QualifiedName::new("s", "a\"b")
        );
        assert!(parse_table_name("a.b.c").is_err());
        assert!(parse_table_name("\"open").is_err());
    }

    #[test]
    fn column_names_accept_optional_quotes() {
        assert_eq!(parse_column_name("\"Full Name\""), "Full Name");
        assert_eq!(parse_column_name("email"), "email");
    }
}
