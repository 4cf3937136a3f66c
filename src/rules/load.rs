//! Loading rules: one file or a directory of `*.yml`/`*.yaml` files merged
//! into one `Rules`. Every error carries `file:line:column`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use sha2::{Digest, Sha256};

use super::branches::{Branch, ColumnRules};
use super::subset::{SubsetSettings, TableSubset};
use super::{
    parse_column_name, parse_table_name, ColumnEntry, Rules, TableRule, UnknownColumns,
    VirtualReference,
};
use crate::error::{Location, RulesError, RulesErrors, UsageError};
use crate::yaml::{self, Node};

/// One rules file as written.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    version: u32,
    #[serde(default)]
    unknown_columns: Option<UnknownColumns>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    subset: Option<SubsetSettings>,
    #[serde(default)]
    tables: Entries<TableFile>,
    #[serde(default)]
    allow_schema_text: Entries<String>,
}

/// One table as written.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    columns: Entries<ColumnRules>,
    #[serde(default, rename = "where")]
    filter: Option<String>,
    #[serde(default)]
    subset: Option<TableSubset>,
    #[serde(default)]
    skip: bool,
    #[serde(default)]
    unknown_columns: Option<UnknownColumns>,
    #[serde(default)]
    references: Vec<VirtualReference>,
    #[serde(default)]
    max_per_parent: Option<u64>,
    #[serde(default)]
    null_outside_subset: Vec<String>,
}

/// A YAML map kept in file order (`yaml` has refused duplicate keys).
struct Entries<T>(Vec<(String, T)>);

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Entries<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Entries(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, T)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value()?;
                    out.push((key, value));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// Loads rules from a file or a directory. A missing path is an error: a
/// tool that cannot find its rules must never copy raw data.
pub fn load(path: &Path) -> Result<Rules, anyhow::Error> {
    let files = rule_files(path)?;
    let mut rules = Rules {
        locale: "en".to_string(),
        ..Rules::default()
    };
    let mut errors = Vec::new();
    let mut hasher = Sha256::new();
    let mut first_settings: Option<String> = None;
    for file in &files {
        let display = file.display().to_string();
        let text = std::fs::read_to_string(file)
            .map_err(|e| UsageError::new(format!("cannot read rules file {display}: {e}")))?;
        // The name as seen from the rules argument, not the absolute path:
        // the digest (pinned in export manifests) must not depend on where
        // the checkout lives.
        let name = file
            .strip_prefix(path)
            .ok()
            .filter(|rel| !rel.as_os_str().is_empty())
            .or_else(|| file.file_name().map(Path::new))
            .unwrap_or(file);
        hasher.update(name.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        rules.files.push(display.clone());
        match parse_file(&display, &text) {
            Ok(parsed) => merge(
                &mut rules,
                parsed,
                &display,
                &mut first_settings,
                &mut errors,
            ),
            Err(e) => errors.push(e),
        }
    }
    rules.digest = crate::hex::lower(&hasher.finalize());
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(RulesErrors(errors).into())
    }
}

/// Parses rules from text (used by `load` and by tests).
pub fn load_str(file: &str, text: &str) -> Result<Rules, anyhow::Error> {
    let mut rules = Rules {
        locale: "en".to_string(),
        files: vec![file.to_string()],
        ..Rules::default()
    };
    let mut errors = Vec::new();
    match parse_file(file, text) {
        Ok(parsed) => merge(&mut rules, parsed, file, &mut None, &mut errors),
        Err(e) => errors.push(e),
    }
    rules.digest = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(RulesErrors(errors).into())
    }
}

fn rule_files(path: &Path) -> Result<Vec<PathBuf>, anyhow::Error> {
    let meta = std::fs::metadata(path).map_err(|_| {
        UsageError::new(format!(
            "rules not found at {}; pass --rules PATH or set ANONYMIZE_RULES \
             (`anonymize init --out rules/` writes a starter file)",
            path.display()
        ))
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| {
            UsageError::new(format!(
                "cannot list rules directory {}: {e}",
                path.display()
            ))
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yml") | Some("yaml")
                )
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(UsageError::new(format!(
            "no *.yml or *.yaml rules files in {}; nothing would be anonymized, so nothing is copied",
            path.display()
        ))
        .into());
    }
    Ok(files)
}

struct ParsedFile {
    body: RulesFile,
    /// The parsed file, for the position of every key.
    doc: Node,
}

fn parse_file(file: &str, text: &str) -> Result<ParsedFile, RulesError> {
    let doc = yaml::parse(text).map_err(|e| yaml_error(file, &e))?;
    let body: RulesFile = yaml::from_node(&doc).map_err(|e| yaml_error(file, &e))?;
    if body.version != 1 {
        let at = doc.position_of(&["version"]).unwrap_or_default();
        return Err(RulesError {
            location: Location {
                file: file.to_string(),
                line: at.line,
                column: at.column,
            },
            message: format!(
                "unsupported rules version {}; this anonymize reads version 1",
                body.version
            ),
            hint: None,
        });
    }
    Ok(ParsedFile { body, doc })
}

/// Turns a YAML error into `file:line:col: message`, adding a "did you
/// mean" for unknown keys.
fn yaml_error(file: &str, e: &yaml::Error) -> RulesError {
    let message = e.to_string();
    let hint = unknown_field_hint(&message);
    RulesError {
        location: Location {
            file: file.to_string(),
            line: e.at.line,
            column: e.at.column,
        },
        message,
        hint,
    }
}

fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (field, expected) = rest.split_once('`')?;
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    crate::did_you_mean::closest(field, candidates.iter().copied())
        .map(|s| format!("did you mean `{s}`?"))
}

/// Table-level keys whose position is remembered for later errors.
const TABLE_KEYS: &[&str] = &[
    "where",
    "subset",
    "references",
    "max_per_parent",
    "null_outside_subset",
];

fn merge(
    rules: &mut Rules,
    parsed: ParsedFile,
    file: &str,
    first_settings: &mut Option<String>,
    errors: &mut Vec<RulesError>,
) {
    let ParsedFile { body, doc } = parsed;
    let position = |path: &[&str]| {
        doc.position_of(path).map(|at| Location {
            file: file.to_string(),
            line: at.line,
            column: at.column,
        })
    };
    let at = |path: &[&str]| {
        position(path).unwrap_or_else(|| Location {
            file: file.to_string(),
            line: 0,
            column: 0,
        })
    };
    // File-wide settings may be given once; a second, different value is a
    // conflict between files.
    let has_settings =
        body.unknown_columns.is_some() || body.locale.is_some() || body.subset.is_some();
    if has_settings {
        if let Some(prev) = first_settings {
            errors.push(RulesError {
                location: at(&["version"]),
                message: format!("file-wide settings (unknown_columns, locale, subset) are already set in {prev}"),
                hint: Some("set them in one file of the directory".into()),
            });
        } else {
            *first_settings = Some(file.to_string());
            if let Some(u) = body.unknown_columns {
                rules.unknown_columns = u;
            }
            if let Some(l) = body.locale {
                rules.locale = l;
            }
            if let Some(settings) = body.subset {
                rules.subset = settings.default;
                rules.roots = settings.roots;
                rules.roots_location = Some(at(&["subset", "roots"]));
            }
        }
    }
    if !body.allow_schema_text.0.is_empty() {
        rules.allow_schema_text_location = Some(at(&["allow_schema_text"]));
    }
    for (object, reason) in body.allow_schema_text.0 {
        let location = at(&["allow_schema_text", &object]);
        rules.allow_schema_text.push((object, reason, location));
    }
    for (key, t) in body.tables.0 {
        let location = at(&["tables", &key]);
        let name = match parse_table_name(&key) {
            Ok(n) => n,
            Err(message) => {
                errors.push(RulesError {
                    location,
                    message,
                    hint: None,
                });
                continue;
            }
        };
        if let Some(prev) = rules.tables.iter().find(|r| r.name == name) {
            errors.push(RulesError {
                location,
                message: format!("table {name} is defined twice (first at {})", prev.location),
                hint: Some("keep one definition of each table across the rules files".into()),
            });
            continue;
        }
        let mut columns: Vec<ColumnEntry> = Vec::new();
        for (ckey, written) in t.columns.0 {
            let location = at(&["tables", &key, "columns", &ckey]);
            let Some((rule, branches)) = column_branches(
                written,
                &location,
                &|i: usize, k: &str| {
                    position(&["tables", &key, "columns", &ckey, &i.to_string(), k])
                },
                errors,
            ) else {
                continue;
            };
            let entry = ColumnEntry {
                location,
                name: parse_column_name(&ckey),
                rule,
                branches,
            };
            // `email` and `'"email"'` name one column: two rules for it
            // would leave which one runs to chance.
            if let Some(prev) = columns.iter().find(|c| c.name == entry.name) {
                errors.push(RulesError {
                    location: entry.location.clone(),
                    message: format!(
                        "column {} of table {name} has two rules (first at {})",
                        crate::sql::display_ident(&entry.name),
                        prev.location
                    ),
                    hint: Some(
                        "keep one rule per column; SQL quotes around a name are optional".into(),
                    ),
                });
                continue;
            }
            columns.push(entry);
        }
        let key_locations = TABLE_KEYS
            .iter()
            .filter_map(|k| position(&["tables", &key, k]).map(|l| (k.to_string(), l)))
            .collect();
        // The condition is embedded into queries on the source: refuse
        // one that could end the statement or escape its parentheses.
        if let Some(filter) = &t.filter {
            if let Err(unsafe_sql) = super::condition::check(filter) {
                errors.push(RulesError {
                    location: at(&["tables", &key, "where"]),
                    message: format!(
                        "the `where:` of table {name} is not one SQL condition: it has {} at character {}",
                        unsafe_sql.what,
                        unsafe_sql.at + 1
                    ),
                    hint: Some(
                        "write one condition, as after WHERE: no `;`, no comments, every quote and parenthesis closed"
                            .into(),
                    ),
                });
            }
        }
        rules.tables.push(TableRule {
            key,
            name,
            location,
            columns,
            filter: t.filter,
            subset: match &t.subset {
                Some(TableSubset::Share(s)) => Some(*s),
                _ => None,
            },
            follow: match t.subset {
                Some(TableSubset::Follow(c)) => Some(c),
                _ => None,
            },
            skip: t.skip,
            unknown_columns: t.unknown_columns,
            references: t.references,
            max_per_parent: t.max_per_parent,
            null_outside_subset: t
                .null_outside_subset
                .iter()
                .map(|c| parse_column_name(c))
                .collect(),
            key_locations,
        });
    }
}

/// Splits a column's rules into its branches and its default, refusing a
/// list whose shape leaves a row without a rule or a branch unreachable:
/// every item but the last needs `when:`, and the last must not have one.
/// `item_at(i, key)` is where item `i`'s `key` was written.
fn column_branches(
    written: ColumnRules,
    location: &Location,
    item_at: &dyn Fn(usize, &str) -> Option<Location>,
    errors: &mut Vec<RulesError>,
) -> Option<(crate::rules::ColumnRule, Vec<Branch>)> {
    let is_list = written.is_list();
    let mut rules = written.0;
    let Some(mut default) = rules.pop() else {
        errors.push(RulesError {
            location: location.clone(),
            message: "the column's list of rules is empty".into(),
            hint: Some("write one rule, or list rules with `when:` and end with a default".into()),
        });
        return None;
    };
    if let Some(when) = default.when.take() {
        let n = rules.len();
        errors.push(RulesError {
            location: item_at(n, "when").unwrap_or_else(|| location.clone()),
            message: if is_list {
                format!("the last rule of the list has `when: {when:?}`, so rows where no condition holds would have no rule")
            } else {
                "`when:` belongs to an item of a list of rules; a single rule applies to every row".into()
            },
            hint: Some(if is_list {
                "end the list with a default rule without `when:` (`- keep`, `- { fake: email }`)".into()
            } else {
                "write the column's rules as a list: `- { when: \"...\", keep: true }` then `- { fake: email }`".into()
            }),
        });
        return None;
    }
    let mut branches = Vec::new();
    let mut ok = true;
    for (i, mut rule) in rules.into_iter().enumerate() {
        let at = item_at(i, "when").unwrap_or_else(|| location.clone());
        match rule.when.take() {
            Some(when) => branches.push(Branch {
                when,
                rule,
                location: at,
            }),
            None => {
                errors.push(RulesError {
                    location: at,
                    message: format!(
                        "rule {} of the list has no `when:`, so the rules after it could never apply",
                        i + 1
                    ),
                    hint: Some("give every rule but the last a `when:` condition".into()),
                });
                ok = false;
            }
        }
    }
    ok.then_some((default, branches))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(text: &str) -> Vec<String> {
        match load_str("r.yml", text) {
            Ok(_) => vec![],
            Err(e) => e
                .downcast::<RulesErrors>()
                .unwrap()
                .0
                .iter()
                .map(|e| e.to_string())
                .collect(),
        }
    }

    #[test]
    fn bad_yaml_names_file_line_column() {
        let errs = errors_of("version: 1\ntables:\n  public.a:\n    columns: {id: keep\n");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("r.yml:"), "{errs:?}");
        let pos: Vec<&str> = errs[0].splitn(4, ':').collect();
        assert!(
            pos[1].parse::<usize>().is_ok() && pos[2].parse::<usize>().is_ok(),
            "{errs:?}"
        );
    }

    #[test]
    fn unknown_transform_suggests_the_closest() {
        let errs =
            errors_of("version: 1\ntables:\n  public.a:\n    columns:\n      id: { st: 1 }\n");
        assert!(errs[0].starts_with("r.yml:5:"), "{errs:?}");
        assert!(errs[0].contains("unknown transform `st`"), "{errs:?}");
        assert!(errs[0].contains("did you mean `set`"), "{errs:?}");
    }

    #[test]
    fn unknown_table_key_suggests_the_closest() {
        let errs = errors_of("version: 1\ntables:\n  public.a:\n    colums: {}\n");
        assert!(errs[0].contains("unknown field `colums`"), "{errs:?}");
        assert!(errs[0].contains("did you mean `columns`"), "{errs:?}");
    }

    #[test]
    fn a_column_written_with_and_without_quotes_is_one_column() {
        let errs = errors_of(
            "version: 1\ntables:\n  public.a:\n    columns:\n      email: keep\n      '\"email\"': null\n",
        );
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].contains("column email of table public.a has two rules"),
            "{errs:?}"
        );
        assert!(errs[0].contains(":6:7"), "points at the second: {errs:?}");
    }

    #[test]
    fn duplicate_column_is_an_error() {
        let errs = errors_of(
            "version: 1\ntables:\n  public.a:\n    columns:\n      id: keep\n      id: keep\n",
        );
        assert!(errs[0].contains("defined twice"), "{errs:?}");
    }

    #[test]
    fn a_good_file_parses_with_positions() {
        let rules = load_str(
            "r.yml",
            "version: 1\nunknown_columns: keep\ntables:\n  public.a:\n    columns:\n      id: keep\n      n: null\n      p: { set: free }\n",
        )
        .unwrap();
        assert_eq!(rules.unknown_columns, UnknownColumns::Keep);
        let t = &rules.tables[0];
        assert_eq!(t.location.to_string(), "r.yml:4:3");
        assert_eq!(t.columns[2].location.to_string(), "r.yml:8:7");
        assert_eq!(t.columns[2].rule.describe(), "set(\"free\")");
    }

    /// Issue 16 item 15: a byte order mark is not a second document (the
    /// parser skips it; nothing strips it by hand).
    #[test]
    fn a_byte_order_mark_is_accepted() {
        let rules = load_str(
            "r.yml",
            "\u{feff}version: 1\ntables:\n  public.a:\n    columns:\n      id: keep\n",
        )
        .unwrap();
        assert_eq!(rules.tables[0].location.to_string(), "r.yml:3:3");
    }

    /// Issue 26: a merge key (`<<: *anchor`) merges, as YAML says, with the
    /// explicit keys winning; a merged key points at the `*anchor` that
    /// brought it; a quoted `"<<"` is a column named `<<`.
    #[test]
    fn merge_keys_merge_and_explicit_keys_win() {
        let rules = load_str(
            "r.yml",
            "version: 1\ntables:\n  public.a:\n    columns: &base\n      id: keep\n      email: { fake: email }\n  public.b:\n    columns:\n      <<: *base\n      email: keep\n      n: null\n  public.c:\n    columns: { \"<<\": keep }\n  public.d:\n    columns: *base\n  public.e:\n    columns: { <<: *base, email: keep }\n",
        )
        .unwrap();
        let b = &rules.tables[1];
        let rule = |name: &str| {
            let c = b.columns.iter().find(|c| c.name == name).unwrap();
            (c.rule.describe(), c.location.to_string())
        };
        assert_eq!(b.columns.len(), 3, "{:?}", b.columns);
        assert_eq!(rule("id"), ("keep".to_string(), "r.yml:9:11".to_string()));
        assert_eq!(
            rule("email"),
            ("keep".to_string(), "r.yml:10:7".to_string())
        );
        assert_eq!(rule("n"), ("null".to_string(), "r.yml:11:7".to_string()));
        assert_eq!(rules.tables[2].columns[0].name, "<<");
        assert_eq!(rules.tables[3].columns.len(), 2);
        assert_eq!(rules.tables[3].columns[1].rule.describe(), "fake(email)");
        let e = &rules.tables[4];
        assert_eq!(e.columns.len(), 2);
        let email = e.columns.iter().find(|c| c.name == "email").unwrap();
        assert_eq!(email.rule.describe(), "keep");
    }

    /// A key written twice is refused at the second, with its path.
    #[test]
    fn a_key_written_twice_points_at_the_second() {
        let errs = errors_of(
            "version: 1\ntables:\n  public.a:\n    columns: { id: keep }\n  public.a:\n    columns: {}\n",
        );
        assert_eq!(errs, ["r.yml:5:3: tables: `public.a` is defined twice"]);
    }

    #[test]
    fn wrong_version_is_refused() {
        let errs = errors_of("version: 2\n");
        assert!(errs[0].contains("unsupported rules version 2"), "{errs:?}");
    }
}
