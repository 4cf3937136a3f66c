//! `json`: rules applied at paths inside json and jsonb documents,
//! `{ json: { paths: { name: { fake: name }, "contacts[*].email": { fake: email } } } }`.
//!
//! The document is scanned, not re-serialized: only the bytes of the
//! values at the paths are replaced, so every other key, the order, the
//! white space, number spellings and escapes stay exactly as they were. A
//! path missing from a document is skipped.
//!
//! The text is read once, in order: what no path reaches is copied through
//! as it is, with no tree built (`rewrite`). Only the levels the paths
//! reach are checked; anything deeper is skipped by a scan that counts
//! brackets without recursion, so a document nested thousands of levels
//! deep costs no stack.
//!
//! `unlisted:` says what happens to a key no path names: `keep` (the
//! default) copies it, `drop` removes it, `fail` stops the run naming the
//! key's path, never its value.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::rule::ColumnRule;
use super::{build_inner, BuildContext, Inner, Transform, TransformOptions};
use crate::catalog::TypeKind;

mod path;
mod rewrite;
mod scan;
mod text;

use path::{overlap, parse_path, Path};
use rewrite::{Action, Json, Target};

/// `{ json: { paths: { PATH: RULE, ... } } }`
///
/// PATH is dot-separated keys (`address.street`), with `[*]` (or `.*`) for
/// every element of an array or every member of an object, and `[N]` for
/// one element (`contacts[*].email`, `[0].id`, `by_name.*.phone`); a key
/// holding dots or brackets, or a key spelled `*`, is written `["a.b"]`.
/// A leading `$` (JSONPath's root, `$.address.street`) is accepted. RULE is
/// any column rule (`keep`, `null`, `{ fake: email }`, ...) and sees the
/// value as text: a string's content, a number's digits, `true`/`false`,
/// or the JSON of an object or array; JSON `null` is NULL. The result keeps
/// the original JSON type when it still parses as one (a number stays a
/// number), else it becomes a string. Works on json and jsonb columns.
/// Paths may not overlap (`a` and `a.b`): which rule would win is not
/// something to guess, so the rules are refused.
///
/// `unlisted: keep | drop | fail` (default `keep`): what happens to a key
/// that no path names, nor any path runs through. `keep` copies it as it
/// is; `drop` removes it (an array element no path reaches becomes
/// `null`, so the other indexes hold); `fail` stops the run with the key's
/// path. `keep` is the default because a rule usually names the few
/// personal paths of a document whose other keys are structure, and rules
/// written before the option must keep working; a column whose documents
/// the application may extend should say `fail` (or `drop`), so a key added
/// next month cannot pass through raw.
#[derive(Debug)]
pub struct Options {
    paths: Vec<(Path, PathRule)>,
    /// As written; `None` follows `unknown_columns:` (see `build`).
    unlisted: Option<Unlisted>,
}

/// What happens to a key no path names (see `Options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unlisted {
    Keep,
    Drop,
    Fail,
}

/// What a path's rule applies to: the value there, or (`{ keys: RULE }`)
/// the keys of the object there, for maps keyed by email, phone or name.
#[derive(Debug)]
enum PathRule {
    Value(ColumnRule),
    Keys(ColumnRule),
}

impl PathRule {
    fn rule(&self) -> &ColumnRule {
        match self {
            PathRule::Value(r) | PathRule::Keys(r) => r,
        }
    }

    fn describe(&self) -> String {
        match self {
            PathRule::Value(r) => r.describe(),
            PathRule::Keys(r) => format!("keys({})", r.describe()),
        }
    }
}

impl<'de> Deserialize<'de> for PathRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PathRule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rule such as `{ fake: email }`, or `{ keys: { fake: email } }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PathRule, E> {
                super::rule::ColumnRuleVisitor
                    .visit_str(v)
                    .map(PathRule::Value)
            }
            fn visit_unit<E: de::Error>(self) -> Result<PathRule, E> {
                super::rule::ColumnRuleVisitor
                    .visit_unit()
                    .map(PathRule::Value)
            }
            fn visit_none<E: de::Error>(self) -> Result<PathRule, E> {
                super::rule::ColumnRuleVisitor
                    .visit_none()
                    .map(PathRule::Value)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PathRule, A::Error> {
                let Some(first) = map.next_key::<String>()? else {
                    return super::rule::rule_from_map(None, map).map(PathRule::Value);
                };
                if first != "keys" {
                    return super::rule::rule_from_map(Some(first), map).map(PathRule::Value);
                }
                let rule: ColumnRule = map.next_value()?;
                if let Some(other) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "`keys` takes the rule for an object's keys and stands alone; \
                         move `{other}` into it: `{{ keys: {{ fake: email, {other}: ... }} }}`"
                    )));
                }
                Ok(PathRule::Keys(rule))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Outer;
        impl<'de> Visitor<'de> for Outer {
            type Value = Options;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with `paths`, e.g. `{ paths: { name: { fake: name } } }`")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Options, A::Error> {
                let mut paths = None;
                let mut unlisted = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "paths" => paths = Some(map.next_value::<Paths>()?.0),
                        "unlisted" => {
                            unlisted = Some(match map.next_value::<String>()?.as_str() {
                                "keep" => Unlisted::Keep,
                                "drop" => Unlisted::Drop,
                                "fail" => Unlisted::Fail,
                                other => {
                                    return Err(de::Error::custom(format!(
                                "json `unlisted` must be `keep`, `drop` or `fail`, not `{other}`"
                            )))
                                }
                            })
                        }
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown json option `{other}`; expected `paths` or `unlisted`"
                            )))
                        }
                    }
                }
                let paths = paths.ok_or_else(|| de::Error::custom("`json` needs `paths`"))?;
                if paths.is_empty() {
                    return Err(de::Error::custom("`json` paths is empty"));
                }
                Ok(Options { paths, unlisted })
            }
        }
        d.deserialize_map(Outer)
    }
}

/// The `paths` map, kept in file order, each rule parsed by the column
/// rule parser (so errors keep their line and column).
struct Paths(Vec<(Path, PathRule)>);

impl<'de> Deserialize<'de> for Paths {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Paths;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of json paths to rules")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Paths, A::Error> {
                let mut out: Vec<(Path, PathRule)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let path = parse_path(&key).map_err(de::Error::custom)?;
                    if out.iter().any(|(p, _)| p.text == key) {
                        return Err(de::Error::custom(format!(
                            "json path `{key}` is defined twice"
                        )));
                    }
                    let rule: PathRule = map.next_value()?;
                    // A `keys` rule touches key names only, so paths below
                    // it may give their values rules of their own.
                    let below_keys = |(p, r): &&(Path, PathRule)| {
                        let keys_above = |a: &Path, ra: &PathRule, b: &Path| {
                            matches!(ra, PathRule::Keys(_)) && a.steps.len() < b.steps.len()
                        };
                        keys_above(p, r, &path) || keys_above(&path, &rule, p)
                    };
                    if let Some((other, _)) = out
                        .iter()
                        .filter(|e| !below_keys(e))
                        .find(|(p, _)| overlap(&p.steps, &path.steps))
                    {
                        return Err(de::Error::custom(format!(
                            "json paths `{}` and `{key}` overlap: one holds the other, so which rule \
                             applies is unclear; keep the outer path or list the inner keys one by one",
                            other.text
                        )));
                    }
                    out.push((path, rule));
                }
                Ok(Paths(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Options {
    /// Levels whose syntax is checked: down to the deepest path's target.
    fn depth(&self) -> usize {
        self.paths
            .iter()
            .map(|(p, _)| p.steps.len())
            .max()
            .unwrap_or(0)
    }
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        if !matches!(ctx.column.kind, TypeKind::Json | TypeKind::Jsonb) {
            return Err(ctx.type_error("json", "json and jsonb"));
        }
        let mut targets = Vec::new();
        for (path, rule) in &self.paths {
            let what = format!("{}.{}", ctx.column.name, path.text);
            let action = match (rule, build_inner(ctx, rule.rule(), &what, "json value")?) {
                (PathRule::Value(_), Inner::Keep) => Action::Keep,
                (PathRule::Value(_), Inner::Null) => Action::Null,
                (PathRule::Value(_), Inner::Transform(t)) => Action::Value(t),
                // Two keys that became one would merge in jsonb: the rule
                // must keep keys apart.
                (PathRule::Keys(r), Inner::Transform(t))
                    if r.output_uniqueness() != super::Uniqueness::Lossy =>
                {
                    Action::Keys(t)
                }
                (PathRule::Keys(_), _) => {
                    return Err(format!(
                        "column {}.{what}: `keys` needs a rule that keeps keys apart, such as \
                         `{{ fake: email }}`, `{{ fpe: {{}} }}` or `{{ hash: {{}} }}`",
                        ctx.table
                    ))
                }
            };
            targets.push(Target {
                steps: path.steps.clone(),
                action,
            });
        }
        let json = Json::new(
            targets,
            self.depth(),
            // Unwritten, it follows `unknown_columns:`: a key the
            // application adds next month is the same risk as a column a
            // migration adds.
            self.unlisted.unwrap_or(if ctx.unknown_fail {
                Unlisted::Fail
            } else {
                Unlisted::Keep
            }),
            format!("{}.{}", ctx.table, ctx.column.name),
        );
        Ok(ctx.finish(Box::new(json), self.uniqueness()))
    }

    fn uniqueness(&self) -> super::Uniqueness {
        super::Uniqueness::Lossy
    }

    fn unlisted_paths(&self, doc: &[u8], unknown_fail: bool) -> Vec<String> {
        if self.unlisted.unwrap_or(if unknown_fail {
            Unlisted::Fail
        } else {
            Unlisted::Keep
        }) != Unlisted::Fail
        {
            return Vec::new();
        }
        // Only where the paths go matters here, not their rules.
        let walker = Json::new(
            self.paths
                .iter()
                .map(|(p, _)| Target {
                    steps: p.steps.clone(),
                    action: Action::Keep,
                })
                .collect(),
            self.depth(),
            Unlisted::Fail,
            String::new(),
        );
        walker.collect_unlisted(doc)
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        super::MaxLength::Unbounded
    }

    fn output_space(&self) -> super::OutputSpace {
        super::OutputSpace::Partial
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .paths
            .iter()
            .map(|(p, r)| format!("{}: {}", p.text, r.describe()))
            .collect();
        match self.unlisted {
            None => format!("json({})", parts.join(", ")),
            Some(Unlisted::Keep) => format!("json({}; unlisted: keep)", parts.join(", ")),
            Some(Unlisted::Drop) => format!("json({}; unlisted: drop)", parts.join(", ")),
            Some(Unlisted::Fail) => format!("json({}; unlisted: fail)", parts.join(", ")),
        }
    }

    fn needs_secret(&self) -> bool {
        self.paths
            .iter()
            .any(|(_, r)| super::inner_needs_secret(r.rule()))
    }

    fn reads(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (_, r) in &self.paths {
            for n in super::inner_reads(r.rule()) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
    }
}

#[cfg(test)]
mod tests;
