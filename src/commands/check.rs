//! The `check` command: the rules against the source schema, without
//! copying. It is the gate an application's CI runs after each migration.
//!
//! It lists every gap at once, in five kinds:
//! - `unclassified`: a column with no rule (under `unknown_columns: fail`,
//!   the default), e.g. one a migration just added;
//! - `stale`: a rule for a table or column that no longer exists;
//! - `mismatch`: a rule that does not fit its column (a type the transform
//!   cannot produce, `null` on a NOT NULL column, a rule that can repeat
//!   values under a unique key or index of any shape, a `varchar(n)` too
//!   narrow for a rule that cannot be cut, ...);
//! - `access`: something the source role cannot read (a table, columns,
//!   a schema, a sequence, or rows hidden by row-level security);
//! - `unlisted_key`: a key of a sampled json document that no path of the
//!   column's rule names (a keyed permutation of a small domain is a
//!   `mismatch`);
//! - `target`: with `--into existing` and a target, a table of the target
//!   that the run does not load and that references one it does.
//!
//! Whatever it finds, `sync` refuses before any row moves (exit 2), except
//! an unlisted json key, which stops it when a row holds one (exit 1): a
//! green `check` predicts a sync that does not stop on these.
//!
//! Exit 0 when there is none, 3 otherwise; `--format json` for machines.
//! Columns kept without a rule under `unknown_columns: keep` are listed as
//! information: the rules chose that, so they are not gaps.

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::cli::{CheckArgs, CheckFormat, SchemaMode};
use crate::config::{Overrides, Settings};
use crate::error::PgResultExt;
use crate::error::{GapsFound, RulesErrors};
use crate::plan::{PlanErrors, Problem, ProblemKind, Secret};
use crate::rules::{Rules, UnknownColumns};
use crate::sql::display_ident;
use crate::subset::SubsetSpec;

/// The kind of a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    Unclassified,
    Stale,
    Mismatch,
    /// Something the source role cannot read whole: a table, a column, a
    /// schema or a sequence it has no grant on, or row-level security.
    Access,
    /// With `--into existing`: a foreign key in the target from a table
    /// the run does not load to one it empties and reloads.
    Target,
    /// A key of a sampled json document that no path of the column's rule
    /// names, under `unlisted: fail` (what `unknown_columns: fail` implies).
    UnlistedKey,
}

/// One gap between the rules and the schema.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub kind: GapKind,
    /// `schema.table` as written in rules.
    pub table: String,
    /// The column, or null for a whole table.
    pub column: Option<String>,
    /// The column's type, when the column exists.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// `file:line:column` of the rule (of the table's rule, or the file, for
    /// an unclassified column).
    pub location: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Everything `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub rules_files: Vec<String>,
    /// Tables and columns in the source that the rules cover.
    pub tables: usize,
    pub columns: usize,
    pub gaps: Vec<Gap>,
    /// `table.column` copied unchanged by `unknown_columns: keep`.
    pub implicit_keep: Vec<String>,
    /// Advice that does not fail the check (weak hashing).
    pub warnings: Vec<Warning>,
    /// Advice about the source server itself (a standby whose recovery
    /// can cancel a long copy).
    pub source_warnings: Vec<String>,
    /// The share the subset estimates below were made at: the rules'
    /// `subset:`, else 10%.
    pub subset: String,
    /// Tables the subset is expected to leave empty although they have
    /// rows and no rule asks for that (from `pg_class` estimates).
    pub empty_tables: Vec<crate::report::EmptyTable>,
    /// Source tables with row-level security, and whether this role
    /// bypasses it (one that does not is also a gap of kind `access`).
    pub row_security: Vec<RowSecurityNote>,
}

/// A source table with row-level security enabled.
#[derive(Debug, Clone, Serialize)]
pub struct RowSecurityNote {
    pub table: String,
    pub bypassed: bool,
}

/// A column whose rule works but protects less than it seems.
#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    pub table: String,
    pub column: String,
    /// Estimated distinct values in the source (`pg_stats`).
    pub distinct: i64,
    pub message: String,
}

/// A keyed hash of fewer distinct values than this is flagged: anyone who
/// sees both sides of a join (or can guess the input space, like a 4-digit
/// PIN or a birth year) can rebuild the mapping as a lookup table.
pub const WEAK_HASH_DISTINCT: i64 = 10_000;

/// Runs `check` and returns the text to print when there is no gap. With
/// gaps, prints them and returns `GapsFound` (exit 3).
pub async fn run(args: &CheckArgs) -> Result<String> {
    let settings = Settings::resolve(
        args.common.config.as_deref(),
        Overrides::common(&args.common),
    )?;
    let source = settings.source_conn()?;
    let selection = args.select.selection()?;
    let mut rules = crate::rules::load::load(&settings.rules)?;
    // The subset is planned at the rules' share, or at 10% (what developers
    // ask for), to see from estimates which tables it would leave empty.
    rules.subset.get_or_insert(SubsetSpec::Fraction(0.1));
    let snapshot = crate::source::open_snapshot(&source).await?;
    let mut catalog = Catalog::read(&snapshot.client).await?;
    selection.apply(&mut catalog, &mut rules)?;
    // Every selected table is loaded (a `skip: true` one is emptied too).
    let loaded: std::collections::BTreeSet<String> =
        catalog.tables.iter().map(|t| t.name.to_string()).collect();
    crate::lock_capacity::refuse_source_overflow(&snapshot.client).await?;
    let hashed = hashed_columns(&rules);
    let role: String = snapshot
        .client
        .query_one("SELECT current_user::text", &[])
        .await
        .pg_context(|| "reading the source role".into())?
        .get(0);
    let row_security = row_security(&rules, &catalog, &role);
    let constants = crate::plan::check_constants(&rules, &catalog, &snapshot.client).await;
    let filters = crate::plan::check_filters(&rules, &catalog, &snapshot.client).await;
    let domains = crate::plan::check_small_domains(&rules, &catalog, &snapshot.client).await;
    let lengths = crate::plan::fit::check_source_lengths(&rules, &catalog, &snapshot.client).await;
    let access = crate::access::gaps(&snapshot.client, &catalog, &role).await?;
    let large_objects = large_objects_warning(&snapshot.client).await?;
    let schema_texts = crate::schema_text::read(&snapshot.client).await?;
    let links = crate::schema_text::refuse_connection_strings(&rules, &schema_texts);
    let rule_sql = crate::plan::rule_sql::check(&rules, &catalog, &snapshot.client).await;
    let mut report = compare(&rules, catalog);
    for result in [constants, filters, rule_sql, lengths, domains, links] {
        if let Err(e) = result {
            let list = e.downcast::<RulesErrors>()?.0;
            report.add_mismatches(list);
        }
    }
    report.warnings = weak_hashes(&snapshot.client, &hashed).await?;
    report.source_warnings = snapshot
        .standby
        .iter()
        .filter_map(|s| s.warning())
        .chain(crate::schema_text::personal_literals(&rules, &schema_texts))
        .collect();
    report.source_warnings.extend(large_objects);
    report.add_row_security(row_security);
    report.add_access(access);
    let unlisted = unlisted_keys(&rules, &snapshot.client).await?;
    report.gaps.extend(unlisted);
    if args.into == Some(SchemaMode::Existing) {
        report.gaps.extend(target_gaps(&settings, &loaded).await?);
    }
    report.ok = report.gaps.is_empty();
    let text = match args.format {
        CheckFormat::Text => report.render_text(),
        CheckFormat::Json => serde_json::to_string_pretty(&report).expect("serializes") + "\n",
        CheckFormat::Github => report.render_github(),
    };
    if report.ok {
        return Ok(text);
    }
    print!("{text}");
    Err(GapsFound(format!(
        "{} gap(s) between the rules and the source schema; fix the rules before the next sync",
        report.gaps.len()
    ))
    .into())
}

/// `--into existing`: what the sync would refuse in the target before
/// emptying anything. Needs the target (`--target` or the config's).
async fn target_gaps(
    settings: &Settings,
    loaded: &std::collections::BTreeSet<String>,
) -> Result<Vec<Gap>> {
    let target = settings.target_conn().map_err(|e| {
        crate::error::UsageError::new(format!(
            "check --into existing reads the target's foreign keys: {}",
            crate::error::render(&e)
        ))
    })?;
    let client = crate::target::connect(&target).await?;
    let outside = crate::target::outside_references(&client, loaded).await?;
    Ok(outside
        .into_iter()
        .map(|r| Gap {
            kind: GapKind::Target,
            table: r.child.clone(),
            column: None,
            type_name: None,
            location: "target".into(),
            message: r.to_string(),
            hint: Some(crate::target::OUTSIDE_REFERENCE_HINT.into()),
        })
        .collect())
}

/// Columns `unknown_columns: keep` copies that the text report names; the
/// JSON report has all of them.
const IMPLICIT_KEEP_SHOWN: usize = 50;

/// Documents sampled per json column to look for unlisted keys.
const SAMPLED_DOCUMENTS: i64 = 1000;

/// Samples the documents of every column under a `json` rule and reports,
/// per column, each key path (indexes as `[*]`) no path of the rule names
/// where the run would refuse it. Values are read and walked here, never
/// printed.
async fn unlisted_keys(rules: &Rules, client: &tokio_postgres::Client) -> Result<Vec<Gap>> {
    let mut gaps = Vec::new();
    for table in &rules.tables {
        let unknown_fail =
            table.unknown_columns.unwrap_or(rules.unknown_columns) == UnknownColumns::Fail;
        for entry in &table.columns {
            let crate::transform::rule::Action::Transform(options) = &entry.rule.action else {
                continue;
            };
            if entry.rule.transform != Some("json") {
                continue;
            }
            let sql = format!(
                "SELECT {col}::text FROM {table} WHERE {col} IS NOT NULL LIMIT {SAMPLED_DOCUMENTS}",
                col = crate::sql::quote_ident(&entry.name),
                table = table.name.sql(),
            );
            // A stale rule is reported as such by the plan; a failed read
            // must not abort the snapshot's transaction.
            client
                .batch_execute("SAVEPOINT anonymize_sample")
                .await
                .pg_context(|| "sampling json documents".into())?;
            let rows = client.query(&sql, &[]).await;
            let end = if rows.is_ok() {
                "RELEASE SAVEPOINT anonymize_sample"
            } else {
                "ROLLBACK TO SAVEPOINT anonymize_sample"
            };
            client
                .batch_execute(end)
                .await
                .pg_context(|| "sampling json documents".into())?;
            let mut paths: Vec<String> = Vec::new();
            for row in rows.unwrap_or_default() {
                let doc: String = row.get(0);
                for p in options.unlisted_paths(doc.as_bytes(), unknown_fail) {
                    if !paths.contains(&p) {
                        paths.push(p);
                    }
                }
            }
            for path in paths {
                gaps.push(Gap {
                    kind: GapKind::UnlistedKey,
                    table: table.name.to_string(),
                    column: Some(entry.name.clone()),
                    type_name: None,
                    location: entry.location.to_string(),
                    message: format!(
                        "json key `{path}` in {}.{} is named by no path of the rule",
                        table.name,
                        display_ident(&entry.name)
                    ),
                    hint: Some(
                        "add it to the rule's paths (`keep` if it is not personal), or set `unlisted: drop`"
                            .into(),
                    ),
                });
            }
        }
    }
    Ok(gaps)
}

/// Large objects are not copied (no rule can mask them, and they are no
/// table's rows): said once, as advice about the source.
async fn large_objects_warning(client: &tokio_postgres::Client) -> Result<Option<String>> {
    let n: i64 = client
        .query_one("SELECT count(*) FROM pg_largeobject_metadata", &[])
        .await
        .pg_context(|| "counting the source's large objects".into())?
        .get(0);
    Ok((n > 0).then(|| {
        format!(
            "the source holds {n} large object(s) (lo_*), which sync does not copy; columns holding their oids will point at nothing"
        )
    }))
}

/// `(table, column)` of every column under a `hash` rule.
fn hashed_columns(rules: &Rules) -> Vec<(crate::catalog::QualifiedName, String)> {
    rules
        .tables
        .iter()
        .flat_map(|t| {
            // The rule's registry key, never its display text.
            t.columns
                .iter()
                .filter(|c| c.rule.transform == Some("hash"))
                .map(move |c| (t.name.clone(), c.name.clone()))
        })
        .collect()
}

/// Looks up the planner's distinct-count estimate of each hashed column
/// (no scan of the table) and warns where the input space is small.
async fn weak_hashes(
    client: &tokio_postgres::Client,
    columns: &[(crate::catalog::QualifiedName, String)],
) -> Result<Vec<Warning>> {
    let mut out = Vec::new();
    for (table, column) in columns {
        let row = client
            .query_opt(
                "SELECT CASE WHEN s.n_distinct >= 0 THEN s.n_distinct \
                             ELSE -s.n_distinct * greatest(c.reltuples, 0) END::float8, \
                        format_type(a.atttypid, NULL) \
                   FROM pg_class c \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $3 \
                   LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname \
                                       AND s.attname = a.attname \
                  WHERE n.nspname = $1 AND c.relname = $2",
                &[&table.schema, &table.name, column],
            )
            .await
            .pg_context(|| format!("reading statistics of {table}.{column}"))?;
        let Some(row) = row else { continue };
        let estimate: Option<f64> = row.get(0);
        let type_name: String = row.get(1);
        let distinct = match (type_name.as_str(), estimate) {
            ("boolean", _) => 2,
            (_, Some(d)) if d > 0.0 => d.round() as i64,
            _ => continue, // never analyzed: no estimate, no scan
        };
        if distinct < WEAK_HASH_DISTINCT {
            out.push(Warning {
                table: table.to_string(),
                column: column.clone(),
                distinct,
                message: format!(
                    "`hash` of a column with about {distinct} distinct values is a lookup table \
                     for anyone who sees both sides or can enumerate the inputs; consider `set`, \
                     `null`, `random_int` or `choice` instead"
                ),
            });
        }
    }
    Ok(out)
}

/// Compares `rules` with `catalog`: what the plan reports, as gaps.
/// `rules.subset` is the share the subset is planned at.
pub fn compare(rules: &Rules, catalog: Catalog) -> CheckReport {
    let mut implicit_keep = Vec::new();
    let mut columns = 0;
    let rule_of = crate::plan::RulesByTable::new(rules);
    for table in &catalog.tables {
        let rule = rule_of.get(&table.name);
        if rule.is_some_and(|r| r.skip) {
            continue;
        }
        let unknown = rule
            .and_then(|r| r.unknown_columns)
            .unwrap_or(rules.unknown_columns);
        for column in table.columns.iter().filter(|c| !c.generated) {
            columns += 1;
            let written = rule.is_some_and(|r| r.columns.iter().any(|e| e.name == column.name));
            if !written && unknown == UnknownColumns::Keep {
                implicit_keep.push(format!("{}.{}", table.name, display_ident(&column.name)));
            }
        }
    }
    let covered = catalog.tables.len();
    // check computes no value, so it needs no secret.
    let (mut gaps, empty_tables) = match crate::plan::prepare(rules, catalog, Secret::NotNeeded) {
        Ok(plan) => (Vec::new(), crate::report::empty_by_estimate(&plan)),
        Err(PlanErrors(problems)) => (problems.into_iter().flat_map(gaps_of).collect(), Vec::new()),
    };
    // Stale rules first, as the fix for them is the plainest.
    gaps.sort_by_key(|g: &Gap| match g.kind {
        GapKind::Stale => 0,
        GapKind::Unclassified => 1,
        GapKind::Mismatch | GapKind::Access | GapKind::UnlistedKey | GapKind::Target => 2,
    });

    CheckReport {
        ok: gaps.is_empty(),
        rules_files: rules.files.clone(),
        tables: covered,
        columns,
        gaps,
        implicit_keep,
        warnings: Vec::new(),
        source_warnings: Vec::new(),
        subset: rules.subset.unwrap_or(SubsetSpec::All).to_string(),
        empty_tables,
        row_security: Vec::new(),
    }
}

/// The gaps one plan problem stands for: a gap per unclassified column,
/// one for anything else. The hints for stale rules speak of migrations,
/// which is what makes rules stale in the CI job `check` runs in.
fn gaps_of(p: Problem) -> Vec<Gap> {
    let location = p.error.location.to_string();
    let table = p.table.unwrap_or_default();
    let gap = |kind, hint: Option<String>| Gap {
        kind,
        table: table.clone(),
        column: p.column.clone(),
        type_name: p.type_name.clone(),
        location: location.clone(),
        message: p.error.message.clone(),
        hint,
    };
    match p.kind {
        ProblemKind::StaleTable => vec![gap(
            GapKind::Stale,
            Some("remove the rule, or check the table's schema and spelling".into()),
        )],
        ProblemKind::StaleColumn => vec![gap(
            GapKind::Stale,
            Some("remove the rule; a migration may have dropped or renamed the column".into()),
        )],
        ProblemKind::Partition => vec![gap(GapKind::Stale, p.error.hint.clone())],
        ProblemKind::Mismatch => vec![gap(GapKind::Mismatch, p.error.hint.clone())],
        ProblemKind::Unclassified(list) => list
            .into_iter()
            .map(|(column, type_name)| {
                let full = format!("{table}.{}", display_ident(&column));
                Gap {
                    kind: GapKind::Unclassified,
                    table: table.clone(),
                    message: format!("column {full} ({type_name}) has no rule"),
                    column: Some(column),
                    type_name: Some(type_name),
                    location: location.clone(),
                    hint: Some(format!(
                        "add a rule under tables.{table}.columns (`keep` for data that is not personal)"
                    )),
                }
            })
            .collect(),
    }
}

/// Tables with row-level security: a note each, and a gap for each one
/// the rules copy whose policies apply to `role` (sync refuses those).
fn row_security(rules: &Rules, catalog: &Catalog, role: &str) -> (Vec<RowSecurityNote>, Vec<Gap>) {
    use crate::catalog::RowSecurity;
    let mut notes = Vec::new();
    let mut gaps = Vec::new();
    for t in &catalog.tables {
        if t.row_security == RowSecurity::Off {
            continue;
        }
        let bypassed = t.row_security == RowSecurity::Bypassed;
        notes.push(RowSecurityNote {
            table: t.name.to_string(),
            bypassed,
        });
        let rule = rules.tables.iter().find(|r| r.name == t.name);
        if bypassed || rule.is_some_and(|r| r.skip) {
            continue;
        }
        gaps.push(Gap {
            kind: GapKind::Access,
            table: t.name.to_string(),
            column: None,
            type_name: None,
            location: rule
                .map(|r| r.location.to_string())
                .unwrap_or_else(|| rules.files.join(", ")),
            message: format!(
                "{}: row-level security applies to the source role `{role}`, so sync would refuse to copy it",
                t.name
            ),
            hint: Some(format!(
                "run `ALTER ROLE {} BYPASSRLS;` as a superuser, or connect as the table's owner",
                crate::sql::quote_ident(role)
            )),
        });
    }
    (notes, gaps)
}

impl CheckReport {
    /// Adds rules that do not fit their column, found after `compare`.
    fn add_mismatches(&mut self, list: Vec<crate::error::RulesError>) {
        for e in list {
            self.gaps.push(Gap {
                kind: GapKind::Mismatch,
                table: String::new(),
                column: None,
                type_name: None,
                location: e.location.to_string(),
                message: e.message,
                hint: e.hint,
            });
        }
        self.ok = self.gaps.is_empty();
    }

    /// What the source role may not read (`access::gaps`), as gaps.
    fn add_access(&mut self, list: Vec<crate::access::AccessGap>) {
        for g in list {
            self.gaps.push(Gap {
                kind: GapKind::Access,
                table: g.object,
                column: None,
                type_name: None,
                location: "source".into(),
                message: g.message,
                hint: Some(g.hint),
            });
        }
        self.ok = self.gaps.is_empty();
    }

    fn add_row_security(&mut self, (notes, gaps): (Vec<RowSecurityNote>, Vec<Gap>)) {
        self.row_security = notes;
        self.gaps.extend(gaps);
        self.ok = self.gaps.is_empty();
    }

    /// Gaps grouped by kind, each with where to fix it, then a summary.
    /// GitHub Actions workflow commands: an `::error` per gap and a
    /// `::warning` per piece of advice, at the rule's file, line and
    /// column, so they show on the pull request's diff.
    pub fn render_github(&self) -> String {
        let mut s = String::new();
        for g in &self.gaps {
            let message = match &g.hint {
                Some(h) => format!("{}\nhint: {h}", g.message),
                None => g.message.clone(),
            };
            let title = format!("anonymize check: {:?} gap", g.kind).to_lowercase();
            let _ = writeln!(s, "{}", annotation("error", &g.location, &title, &message));
        }
        let files = self.rules_files.first().map(String::as_str).unwrap_or("");
        for w in &self.warnings {
            let text = format!("{}.{}: {}", w.table, display_ident(&w.column), w.message);
            let _ = writeln!(
                s,
                "{}",
                annotation("warning", files, "anonymize check", &text)
            );
        }
        if self.gaps.is_empty() {
            let _ = writeln!(
                s,
                "::notice title=anonymize check::{} table(s), {} column(s); every column has a rule that fits it",
                self.tables, self.columns
            );
        }
        s
    }

    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let groups = [
            (
                GapKind::Unclassified,
                "unclassified columns (add a rule for each; `keep` for data that is not personal):",
            ),
            (
                GapKind::Stale,
                "stale rules (the table or column is gone; remove the rule):",
            ),
            (GapKind::Mismatch, "rules that do not fit their column:"),
            (
                GapKind::Access,
                "what the source role cannot read (grants, row-level security):",
            ),
            (
                GapKind::UnlistedKey,
                "json keys no path names, in sampled documents (add each to the rule's paths):",
            ),
            (
                GapKind::Target,
                "what --into existing cannot load in the target:",
            ),
        ];
        for (kind, title) in groups {
            let list: Vec<&Gap> = self.gaps.iter().filter(|g| g.kind == kind).collect();
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(s, "{title}");
            for g in list {
                match kind {
                    GapKind::Unclassified => {
                        let _ = writeln!(
                            s,
                            "  {}: {}.{} ({})",
                            g.location,
                            g.table,
                            display_ident(g.column.as_deref().unwrap_or("")),
                            g.type_name.as_deref().unwrap_or("?")
                        );
                    }
                    _ => {
                        let _ = writeln!(s, "  {}: {}", g.location, g.message);
                        if let Some(h) = &g.hint {
                            let _ = writeln!(s, "    hint: {h}");
                        }
                    }
                }
            }
        }
        if !self.implicit_keep.is_empty() {
            // Ten thousand tenant tables made this one line of 40,000
            // names: the first ones tell what is meant.
            let n = self.implicit_keep.len();
            let shown = &self.implicit_keep[..n.min(IMPLICIT_KEEP_SHOWN)];
            let more = match n - shown.len() {
                0 => String::new(),
                rest => format!(", and {rest} more (`--format json` lists them all)"),
            };
            let _ = writeln!(
                s,
                "copied unchanged by `unknown_columns: keep` ({n}): {}{more}",
                shown.join(", ")
            );
        }
        for n in &self.row_security {
            let _ = writeln!(
                s,
                "row-level security: {} ({})",
                n.table,
                if n.bypassed {
                    "this role bypasses it; every row is copied"
                } else {
                    "applies to this role"
                }
            );
        }
        for w in &self.warnings {
            let _ = writeln!(
                s,
                "warning: {}.{}: {}",
                w.table,
                display_ident(&w.column),
                w.message
            );
        }
        for w in &self.source_warnings {
            let _ = writeln!(s, "warning: source: {w}");
        }
        for w in &self.empty_tables {
            let _ = writeln!(s, "warning: at --subset {}: {}", self.subset, w.message);
        }
        let count = |k: GapKind| self.gaps.iter().filter(|g| g.kind == k).count();
        if self.ok {
            let _ = writeln!(
                s,
                "ok: {} table(s), {} column(s); every column has a rule that fits it",
                self.tables, self.columns
            );
        } else {
            let access = match count(GapKind::Access) {
                0 => String::new(),
                n => format!(", {n} access"),
            };
            let keys = match count(GapKind::UnlistedKey) {
                0 => String::new(),
                n => format!(", {n} unlisted json key(s)"),
            };
            let _ = writeln!(
                s,
                "{} gap(s): {} unclassified, {} stale, {} mismatch{access}{keys}",
                self.gaps.len(),
                count(GapKind::Unclassified),
                count(GapKind::Stale),
                count(GapKind::Mismatch),
            );
        }
        s
    }
}

/// One workflow command (`::error file=…,line=…,col=…,title=…::message`)
/// for a `file:line:column` location; line and column are left out when
/// the location has none.
fn annotation(level: &str, location: &str, title: &str, message: &str) -> String {
    // GitHub's escapes: data loses `%`, CR and LF; properties also `:`
    // and `,`.
    let data = |s: &str| {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    };
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut parts: Vec<&str> = location.rsplitn(3, ':').collect();
    parts.reverse();
    let numeric = |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let (file, line, col) = match parts.as_slice() {
        [f, l, c] if numeric(l) && numeric(c) => (f.to_string(), Some(*l), Some(*c)),
        [f, l, c] if numeric(c) => (format!("{f}:{l}"), Some(*c), None),
        [f, l] if numeric(l) => (f.to_string(), Some(*l), None),
        _ => (location.to_string(), None, None),
    };
    let mut props = format!("file={}", property(&file));
    if let Some(l) = line.filter(|l| *l != "0") {
        props.push_str(&format!(",line={l}"));
    }
    if let Some(c) = col.filter(|c| *c != "0") {
        props.push_str(&format!(",col={c}"));
    }
    format!(
        "::{level} {props},title={}::{}",
        property(title),
        data(message)
    )
}

#[cfg(test)]
mod github_tests {
    use super::annotation;

    #[test]
    fn annotations_carry_file_line_and_column_and_escape_their_text() {
        assert_eq!(
            annotation("error", "rules/x.yml:4:5", "t", "a, b: 100%\nhint: c"),
            "::error file=rules/x.yml,line=4,col=5,title=t::a, b: 100%25%0Ahint: c"
        );
        assert_eq!(
            annotation("error", "rules/x.yml", "t", "m"),
            "::error file=rules/x.yml,title=t::m"
        );
        assert_eq!(
            annotation("warning", "rules/x.yml:7", "a:b", "m"),
            "::warning file=rules/x.yml,line=7,title=a%3Ab::m"
        );
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    fn report(implicit_keep: Vec<String>) -> CheckReport {
        CheckReport {
            ok: true,
            rules_files: vec!["rules.yml".into()],
            tables: 1,
            columns: implicit_keep.len(),
            gaps: vec![],
            implicit_keep,
            warnings: vec![],
            source_warnings: vec![],
            subset: "all".into(),
            empty_tables: vec![],
            row_security: vec![],
        }
    }

    #[test]
    fn thousands_of_kept_columns_are_named_by_the_first_fifty_and_a_count() {
        let columns: Vec<String> = (0..40_000).map(|i| format!("t{i}.id")).collect();
        let text = report(columns).render_text();
        let line = text
            .lines()
            .find(|l| l.starts_with("copied unchanged"))
            .expect("the line is there");
        assert!(
            line.starts_with("copied unchanged by `unknown_columns: keep` (40000): t0.id, t1.id,")
        );
        assert!(line.ends_with("t49.id, and 39950 more (`--format json` lists them all)"));
        // A few are all listed, with no count after them.
        let text = report(vec!["a.x".into(), "b.y".into()]).render_text();
        assert!(text.contains("copied unchanged by `unknown_columns: keep` (2): a.x, b.y\n"));
    }
}
