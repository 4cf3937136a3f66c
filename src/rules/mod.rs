//! Rule types: what the user wrote in the YAML rules, parsed and checked for
//! shape (not yet against the schema; that is the plan's job).
//!
//! Parsing uses hand-written visitors rather than `#[serde(flatten)]` or
//! untagged enums, which buffer values and lose the line and column of errors.

pub mod branches;
pub mod condition;
pub mod load;
pub mod subset;

use serde::de::{self, Deserialize, Deserializer};

use self::subset::SubsetSpec;
use crate::catalog::QualifiedName;
use crate::error::Location;
// A column's rule is a transform's business (it nests inside `json` and
// `regex`), so it lives in `transform` and the dependency runs one way.
pub use crate::transform::rule::{Action, ColumnRule};

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
    /// `allow_schema_text:`: schema objects (`view public.v`) whose text
    /// a person reviewed and lets reach the target as it is, with the
    /// reason and where each was written (`schema_text`).
    pub allow_schema_text: Vec<(String, String, Location)>,
    pub allow_schema_text_location: Option<Location>,
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
            .flat_map(|c| c.rules())
            .any(|r| match &r.action {
                Action::Transform(o) => o.needs_secret(),
                // The program gets a key derived from the secret.
                Action::Command(_) => true,
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
    /// `skip: true` for a table the rules do not name, as
    /// `--exclude-table-data` asks.
    pub fn skipped(name: QualifiedName) -> TableRule {
        TableRule {
            key: name.to_string(),
            name,
            location: Location {
                file: "--exclude-table-data".into(),
                line: 0,
                column: 0,
            },
            columns: Vec::new(),
            filter: None,
            subset: None,
            follow: None,
            skip: true,
            unknown_columns: None,
            references: Vec::new(),
            max_per_parent: None,
            null_outside_subset: Vec::new(),
            key_locations: Vec::new(),
        }
    }

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
    /// A polymorphic reference (`commentable_type = 'Post'`): an SQL
    /// condition on the referencing row under which `columns` point at
    /// `table`; on the other rows this entry points at nothing.
    #[serde(default)]
    pub when: Option<String>,
}

/// One `column: rule` entry.
#[derive(Debug)]
pub struct ColumnEntry {
    pub name: String,
    pub location: Location,
    /// The rule, or for a list of rules the last one: the default, for the
    /// rows where no branch's `when:` holds.
    pub rule: ColumnRule,
    /// The list's conditional rules, in order; empty for a single rule.
    pub branches: Vec<branches::Branch>,
}

/// What decides a column's output values, compared structurally: two
/// rules with the same identity turn equal inputs into equal outputs.
/// Built from the parsed rule (each transform's options whole, as their
/// `Debug` shows every field), not from `describe()`, which leaves fields
/// out and can read the same for different rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleIdentity(String);

impl RuleIdentity {
    /// A column copied as it is (`keep`, or no rule under
    /// `unknown_columns: keep`).
    pub fn keep() -> RuleIdentity {
        RuleIdentity::of(&ColumnRule {
            action: Action::Keep,
            unique: false,
            namespace: None,
            locale: None,
            accepted: None,
            allow: Vec::new(),
            allow_small_domain: false,
            transform: None,
            when: None,
        })
    }

    /// The action with all its options, and the modifiers that change
    /// values (`unique`, `namespace`, `locale`); not `accepted`, `allow`
    /// or `allow_small_domain`, which change only what `check` and
    /// `verify` say.
    fn of(rule: &ColumnRule) -> RuleIdentity {
        RuleIdentity(format!(
            "{:?} {:?} unique={} namespace={:?} locale={:?}",
            rule.transform, rule.action, rule.unique, rule.namespace, rule.locale
        ))
    }
}

impl ColumnEntry {
    /// The column's rule identity: each branch's condition and rule, then
    /// the default.
    pub fn identity(&self) -> RuleIdentity {
        let mut parts: Vec<String> = self
            .branches
            .iter()
            .map(|b| format!("when {:?}: {}", b.when, RuleIdentity::of(&b.rule).0))
            .collect();
        parts.push(RuleIdentity::of(&self.rule).0);
        RuleIdentity(parts.join("; "))
    }

    /// Every rule of the column: the branches, then the default.
    pub fn rules(&self) -> impl Iterator<Item = &ColumnRule> {
        self.branches.iter().map(|b| &b.rule).chain([&self.rule])
    }

    /// `keep`, the rule's description, or for a list `when (c): rule;
    /// ...; else: rule`, for plans and `check`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for b in &self.branches {
            s.push_str(&format!("when ({}): {}; ", b.when, b.rule.describe()));
        }
        if !self.branches.is_empty() {
            s.push_str("else: ");
        }
        s.push_str(&self.rule.describe());
        s
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
