//! The optional config file (`anonymize.yml`, or `--config PATH`): where the
//! run reads from and writes to (source, target, rules, subset, jobs), so a
//! cron job or a CI step does not repeat long URLs on every command line.
//!
//! Values may use `${ENV_VAR}`, replaced from the environment after the YAML
//! is parsed (so a password holding `#` or `: ` cannot change the file's
//! structure). `$${` writes a literal `${`. A variable that is not set is an
//! error: an empty URL would otherwise fail later with a worse message.
//! `${ANONYMIZE_SECRET}` is refused: the secret has no place in a URL or a
//! path, where it would reach error messages, reports and `ps`.
//!
//! Precedence is flags, then environment variables (clap reads both), then
//! the file. Relative paths in the file are relative to the file.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use crate::conn::ConnInfo;
use crate::error::UsageError;
use crate::subset::SubsetSpec;
use crate::yaml::{self, Node, Value};

/// The file read when `--config` is not given, if it exists in the current
/// directory.
pub const DEFAULT_FILE: &str = "anonymize.yml";

/// The rules path when neither a flag, `ANONYMIZE_RULES` nor the file names one.
pub const DEFAULT_RULES: &str = "rules";

/// The config file as written (after interpolation). The five keys below
/// are resolved here (relative `rules:` against the file); every other
/// key sets the command-line option of the same name, and is checked and
/// applied by `cli` (`Cli::try_parse_args`), with clap's own parsers.
#[derive(Debug, Default)]
pub struct FileConfig {
    pub source: Option<String>,
    pub target: Option<String>,
    pub rules: Option<PathBuf>,
    pub subset: Option<String>,
    pub jobs: Option<String>,
    /// Every other key, in file order: options and per-command sections,
    /// for `cli`.
    pub options: Vec<(String, Node)>,
    /// The parsed file, for the line and column of each key.
    doc: Option<Node>,
}

impl FileConfig {
    /// Where the key at `path` (`["sync", "report"]`) was written.
    pub fn position_of(&self, path: &[&str]) -> Option<(usize, usize)> {
        let at = self.doc.as_ref()?.position_of(path)?;
        Some((at.line, at.column))
    }
}

/// The keys of the file that `Settings::resolve` reads, typed.
#[derive(Deserialize)]
struct ResolvedKeys {
    source: Option<String>,
    target: Option<String>,
    rules: Option<PathBuf>,
    #[serde(default, deserialize_with = "scalar_text")]
    subset: Option<String>,
    #[serde(default, deserialize_with = "scalar_text")]
    jobs: Option<String>,
}

/// The keys `Settings::resolve` reads itself.
pub const RESOLVED_KEYS: &[&str] = &["source", "target", "rules", "subset", "jobs"];

/// The config file `--config` names, else `./anonymize.yml` if it exists.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
    }
}

/// Accepts `10%`, `10`, `0.1` alike: numbers are kept as their text, parsed
/// later by the same code as the flag.
fn scalar_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    yaml::scalar_text(d, "a number or a string such as `10%`")
}

/// What a command runs with, after flags, environment and file are merged.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: Option<String>,
    pub target: Option<String>,
    pub rules: PathBuf,
    pub subset: Option<String>,
    pub jobs: Option<usize>,
    /// The config file that was read, for messages.
    pub file: Option<PathBuf>,
}

/// Flags (or environment) that override the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides<'a> {
    pub source: Option<&'a str>,
    pub target: Option<&'a str>,
    pub rules: Option<&'a Path>,
    pub subset: Option<&'a str>,
    pub jobs: Option<usize>,
}

impl Settings {
    /// Reads the config file (`explicit`, else `./anonymize.yml` if present)
    /// and applies `overrides` on top.
    pub fn resolve(explicit: Option<&Path>, overrides: Overrides<'_>) -> Result<Settings> {
        let (file, path) = match explicit {
            Some(p) => (Some(load(p)?), Some(p.to_path_buf())),
            None => {
                let p = Path::new(DEFAULT_FILE);
                if p.is_file() {
                    (Some(load(p)?), Some(p.to_path_buf()))
                } else {
                    (None, None)
                }
            }
        };
        let file = file.unwrap_or_default();
        let base = path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let jobs = match (overrides.jobs, &file.jobs) {
            (Some(j), _) => Some(j),
            (None, Some(text)) => Some(text.trim().parse::<usize>().map_err(|_| {
                UsageError::new(format!(
                    "{}: `jobs` must be a whole number, e.g. `jobs: 4`",
                    path.as_deref().unwrap_or(Path::new(DEFAULT_FILE)).display()
                ))
            })?),
            (None, None) => None,
        };
        Ok(Settings {
            source: overrides.source.map(str::to_string).or(file.source),
            target: overrides.target.map(str::to_string).or(file.target),
            rules: match (overrides.rules, file.rules) {
                (Some(r), _) => r.to_path_buf(),
                (None, Some(r)) if r.is_relative() => base.join(r),
                (None, Some(r)) => r,
                (None, None) => PathBuf::from(DEFAULT_RULES),
            },
            subset: overrides.subset.map(str::to_string).or(file.subset),
            jobs,
            file: path,
        })
    }

    /// `--subset` (flag, environment or file), parsed.
    pub fn subset_spec(&self) -> Result<Option<SubsetSpec>> {
        let spec = self.subset.as_deref().map(SubsetSpec::parse).transpose();
        Ok(spec.map_err(|m| UsageError::new(format!("--subset: {m}")))?)
    }

    /// `--jobs`, or one per CPU when not given; at least 1.
    pub fn jobs_or_cpus(&self) -> Result<usize> {
        let jobs = self.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        if jobs == 0 {
            return Err(UsageError::new("--jobs must be at least 1").into());
        }
        Ok(jobs)
    }

    /// The source URL, or the error that says how to give one.
    pub fn require_source(&self) -> Result<&str> {
        self.source.as_deref().ok_or_else(|| {
            UsageError::new(
                "no source database; pass --source URL, set SOURCE_DATABASE_URL, \
                 write `source:` in anonymize.yml, or set PGHOST/PGDATABASE or PGSERVICE \
                 as for psql",
            )
            .into()
        })
    }

    /// The source connection: `--source` (flag, environment or file), else
    /// where libpq would connect (`PG*`, `PGSERVICE`) when one of those is
    /// set, as psql does.
    pub fn source_conn(&self) -> Result<ConnInfo> {
        if let Some(s) = &self.source {
            return ConnInfo::parse(s, "--source");
        }
        let located = crate::conn::LOCATION_VARIABLES
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
        if !located {
            self.require_source()?;
        }
        ConnInfo::from_environment("the source (from PG* and PGSERVICE; no --source)")
    }

    /// The target connection. It is never taken from `PG*` alone: a bare
    /// run must not write into the database `PG*` points at.
    pub fn target_conn(&self) -> Result<ConnInfo> {
        ConnInfo::parse_target(self.require_target()?, "--target")
    }

    /// The target URL, or the error that says how to give one.
    pub fn require_target(&self) -> Result<&str> {
        self.target.as_deref().ok_or_else(|| {
            UsageError::new(
                "no target database; pass --target URL, set TARGET_DATABASE_URL, \
                 or write `target:` in anonymize.yml",
            )
            .into()
        })
    }
}

/// Reads and interpolates one config file.
pub fn load(path: &Path) -> Result<FileConfig> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        UsageError::new(format!(
            "cannot read the config file {shown}: {e}; check --config"
        ))
    })?;
    parse(&shown, &text, |name| std::env::var(name).ok())
}

/// Parses config text, taking `${VAR}` values from `env`.
pub fn parse(file: &str, text: &str, env: impl Fn(&str) -> Option<String>) -> Result<FileConfig> {
    let mut doc = yaml::parse(text).map_err(|e| {
        UsageError::new(format!(
            "{file}:{}:{}: not valid YAML: {e}",
            e.at.line, e.at.column
        ))
    })?;
    if doc.is_null() {
        return Ok(FileConfig::default());
    }
    if let Value::Mapping(entries) = &mut doc.value {
        // Top-level values and those of per-command sections.
        let mut strings: Vec<(String, yaml::Pos, &mut String)> = Vec::new();
        for (k, v) in entries.iter_mut() {
            let key = k.scalar_text().unwrap_or_default();
            match &mut v.value {
                Value::String(s) => strings.push((key, k.at, s)),
                Value::Mapping(section) => {
                    for (k2, v2) in section.iter_mut() {
                        if let Value::String(s) = &mut v2.value {
                            let k2_text = k2.scalar_text().unwrap_or_default();
                            strings.push((format!("{key}.{k2_text}"), k2.at, s));
                        }
                    }
                }
                _ => {}
            }
        }
        for (key, at, s) in strings {
            *s = interpolate(s, &env).map_err(|var| {
                let at = format!(":{}:{}", at.line, at.column);
                if var == SECRET_VAR {
                    return UsageError::new(format!(
                        "{file}{at}: `{key}` uses ${{{SECRET_VAR}}}; the secret is only read \
                         from the environment by the transforms, never written into the config"
                    ));
                }
                UsageError::new(format!(
                    "{file}{at}: `{key}` uses ${{{var}}}, which is not set; export {var} or change the file"
                ))
            })?;
        }
    }
    // The message never holds a value, only key names and types.
    let keys: ResolvedKeys = yaml::from_node(&doc)
        .map_err(|e| UsageError::new(format!("{file}:{}:{}: {e}", e.at.line, e.at.column)))?;
    let options = match &doc.value {
        Value::Mapping(entries) => entries
            .iter()
            .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.clone()))
            .filter(|(k, _)| !RESOLVED_KEYS.contains(&k.as_str()))
            .collect(),
        _ => Vec::new(),
    };
    Ok(FileConfig {
        source: keys.source,
        target: keys.target,
        rules: keys.rules,
        subset: keys.subset,
        jobs: keys.jobs,
        options,
        doc: Some(doc),
    })
}

/// The variable that is never interpolated.
const SECRET_VAR: &str = "ANONYMIZE_SECRET";

/// Replaces `${NAME}` with the variable's value; `$${` is a literal `${`.
/// Returns the name of the first variable that is not set, or
/// `ANONYMIZE_SECRET`, which is never interpolated.
fn interpolate(s: &str, env: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let Some(end) = tail.find('}') else {
                // Not a reference: keep the text as written.
                out.push_str("${");
                rest = tail;
                continue;
            };
            let name = &tail[..end];
            if name == SECRET_VAR {
                return Err(name.to_string());
            }
            out.push_str(&env(name).ok_or_else(|| name.to_string())?);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PW" => Some("p#ss: word$".to_string()),
            "HOST" => Some("db.internal".to_string()),
            _ => None,
        }
    }

    #[test]
    fn variables_are_replaced_after_parsing() {
        let c = parse(
            "anonymize.yml",
            "source: postgresql://app:${PW}@${HOST}/prod\njobs: 4\nsubset: 10%\n",
            env,
        )
        .unwrap();
        assert_eq!(
            c.source.as_deref(),
            Some("postgresql://app:p#ss: word$@db.internal/prod")
        );
        assert_eq!(c.jobs.as_deref(), Some("4"));
        assert_eq!(c.subset.as_deref(), Some("10%"));
    }

    #[test]
    fn a_missing_variable_names_itself_and_the_key() {
        let e = parse("a.yml", "source: x\ntarget: ${NOPE}\n", env)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("a.yml:2:1"), "{e}");
        assert!(e.contains("${NOPE}") && e.contains("export NOPE"), "{e}");
    }

    #[test]
    fn the_secret_is_never_interpolated() {
        let env = |name: &str| (name == "ANONYMIZE_SECRET").then(|| "s3cret-value".to_string());
        let e = parse(
            "a.yml",
            "source: postgresql://app:${ANONYMIZE_SECRET}@h/db\n",
            env,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("a.yml:1:1") && e.contains("${ANONYMIZE_SECRET}"),
            "{e}"
        );
        assert!(e.contains("never written into the config"), "{e}");
        assert!(!e.contains("s3cret-value"), "{e}");
    }

    /// Issue 26: config errors name the line and column, like rules
    /// errors; merge keys and a byte order mark work as in rules files.
    #[test]
    fn errors_have_positions_and_yaml_works_as_in_rules() {
        let e = parse("a.yml", "source: x\ntarget: [y\n", env)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("a.yml:") && e.contains(": not valid YAML: "),
            "{e}"
        );
        let e = parse("a.yml", "source: x\nrules: [a, b]\n", env)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("a.yml:2:8: rules: invalid type: sequence"),
            "{e}"
        );
        let c = parse(
            "a.yml",
            "\u{feff}defaults: &d { report: r.json }\nsync:\n  <<: *d\n  jobs_hint: 1\n",
            env,
        )
        .unwrap();
        let sync = &c.options.iter().find(|(k, _)| k == "sync").unwrap().1;
        assert_eq!(sync.get("report").and_then(|n| n.as_str()), Some("r.json"));
    }

    #[test]
    fn dollars_without_braces_stay() {
        assert_eq!(interpolate("a$b$$c", &env).unwrap(), "a$b$$c");
        assert_eq!(interpolate("$${PW}", &env).unwrap(), "${PW}");
        assert_eq!(interpolate("${unclosed", &env).unwrap(), "${unclosed");
    }

    #[test]
    fn other_keys_and_sections_are_kept_for_the_command_line() {
        let c = parse(
            "a.yml",
            "jobs: 2\nlock_timeout: 5s\nsync:\n  report: ${HOST}.json\n",
            env,
        )
        .unwrap();
        let keys: Vec<&str> = c.options.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["lock_timeout", "sync"]);
        assert_eq!(c.options[0].1.as_str(), Some("5s"));
        // Values in sections are interpolated too.
        let report = c.options[1].1.get("report").unwrap();
        assert_eq!(report.as_str(), Some("db.internal.json"));
        assert_eq!(c.position_of(&["sync", "report"]), Some((4, 3)));
    }
}
