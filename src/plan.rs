//! The plan: rules × catalog, checked and compiled before any row moves.
//!
//! Every mismatch between the rules and the schema is collected into one
//! list (unknown tables and columns, columns without a rule, types a
//! transform cannot produce, unique columns with a lossy rule) so a single
//! run shows everything to fix. The workers only ever see the plan.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use std::sync::Arc;

use crate::catalog::{Catalog, Column, ForeignKey, QualifiedName, RowsFrom, Table};
use crate::error::{Location, PgResultExt, RulesError, RulesErrors};
use crate::rules::{Action, ColumnRule, Rules, TableRule, UnknownColumns};
use crate::subset::{Selection, SubsetSpec};
use crate::transform::{BuildContext, Key, Transform, Uniqueness};

pub mod fit;
/// The SQL the rules put into the COPY query (`when:`, `sql:`), checked.
pub mod rule_sql;

/// What happens to one copied column at run time.
#[derive(Clone)]
pub enum ColumnAction {
    /// Raw bytes through, never decoded.
    Keep,
    /// Always NULL; the source query does not even read it.
    Null,
    Transform(Arc<dyn Transform>),
    /// Replaced in batches by an external program (`command:`).
    Command(Arc<crate::transform::command::Runner>),
    /// A list of rules chosen per row (`when:`): field `selector` of the
    /// table's `extra` fields holds the index of the branch that applies.
    /// Branches are never `When` themselves.
    When {
        selector: usize,
        branches: Vec<ColumnAction>,
    },
}

impl ColumnAction {
    /// The action for one row and its branch number: the chosen branch
    /// of a `When` (`extra(selector)` is the row's selector field, a small
    /// number the source writes), else the action itself and 0.
    #[inline]
    pub fn for_row<'a, 'r>(
        &'a self,
        extra: impl FnOnce(usize) -> &'r [u8],
    ) -> (usize, &'a ColumnAction) {
        match self {
            ColumnAction::When { selector, branches } => {
                let i = extra(*selector)
                    .iter()
                    .fold(0usize, |n, d| n * 10 + usize::from(d.wrapping_sub(b'0')));
                // The CASE always writes an index in range; the default
                // guards against a change of the query's shape.
                let i = i.min(branches.len() - 1);
                (i, &branches[i])
            }
            other => (0, other),
        }
    }

    /// Every action a row may take: the branches of a `When`, else itself.
    pub fn choices(&self) -> &[ColumnAction] {
        match self {
            ColumnAction::When { branches, .. } => branches,
            other => std::slice::from_ref(other),
        }
    }
}

/// One copied column (generated columns are not copied: the target
/// computes them).
#[derive(Clone, Debug)]
pub struct ColumnPlan {
    pub name: String,
    /// The rule as shown to users (`keep`, `fake(email) unique`, ...).
    pub rule: String,
    /// True when no rule was written and `unknown_columns: keep` applied.
    pub implicit: bool,
    pub action: ColumnAction,
    /// Another column's transform reads this column's output value.
    pub read_by_others: bool,
    /// SQL that replaces the plain column in the source query, set by
    /// subsetting for a reference that becomes NULL when its parent is not
    /// in the subset (`null_outside_subset`).
    pub source_expr: Option<String>,
    /// What the rule's outputs can be, for `verify` (`None` for `keep` and
    /// `null`).
    pub space: Option<crate::transform::OutputSpace>,
    /// The rule's `accepted:` reason, for `verify`.
    pub accepted: Option<String>,
    /// The rule's `allow:` patterns, for `verify`.
    pub allow: Vec<regex::Regex>,
    /// `sql:` with `unique: true`: the user says the expression keeps
    /// values apart, and `verify` checks it on the source.
    pub unique_claim: bool,
}

/// One table's part of the plan.
#[derive(Debug)]
pub struct TablePlan {
    pub table: Table,
    /// Copied columns, in table order.
    pub columns: Vec<ColumnPlan>,
    /// Order in which the transformed columns are computed: a template runs
    /// after the columns it reads.
    pub compute_order: Vec<usize>,
    /// The rules' `where:`.
    pub filter: Option<String>,
    /// The subset for this table (`None`: every row).
    pub subset: Option<SubsetSpec>,
    /// SQL read after the columns in the COPY query and never written to
    /// the target: the branch selectors of `when:` rules
    /// (`ColumnAction::When`).
    pub extra: Vec<String>,
    /// `skip: true`: schema only.
    pub skip: bool,
    /// Which rows are copied and how they were chosen, as `subset` decided
    /// it. Private: a `TablePlan` is made by `plan::prepare` only.
    selection: Selection,
}

impl TablePlan {
    /// True when every column is `keep` (or `sql:`, computed by the
    /// source): rows can pass through untouched.
    pub fn is_passthrough(&self) -> bool {
        self.extra.is_empty()
            && self
                .columns
                .iter()
                .all(|c| matches!(c.action, ColumnAction::Keep))
    }

    /// True when some column may go through an external program, so the
    /// batch is gathered per column first.
    pub fn has_commands(&self) -> bool {
        self.columns.iter().any(|c| {
            c.action
                .choices()
                .iter()
                .any(|a| matches!(a, ColumnAction::Command(_)))
        })
    }

    /// Rows the copy is expected to move: the subset's estimate, else the
    /// table's (for progress bars).
    pub fn expected_rows(&self) -> i64 {
        self.selection
            .estimated_kept
            .unwrap_or(self.table.estimated_rows)
    }

    /// Which rows are copied: the predicate, its SQL, and how they were
    /// chosen in words.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// The table's foreign keys: the catalog's, then the ones the rules
    /// declare (`references:`, `virtual_key`), which order tables and draw
    /// diagrams like real ones.
    pub fn foreign_keys(&self) -> impl Iterator<Item = &ForeignKey> {
        self.table
            .foreign_keys
            .iter()
            .chain(&self.selection.references)
    }

    /// Takes the subset's choice of rows. The column SQL it asks for goes
    /// to the columns; the rest is kept as it came.
    fn select(&mut self, mut s: Selection) {
        for (column, expr) in std::mem::take(&mut s.columns) {
            if let Some(c) = self.columns.iter_mut().find(|c| c.name == column) {
                c.source_expr = Some(expr);
            }
        }
        self.selection = s;
    }

    /// `COPY t (cols) FROM STDIN` for the target.
    pub fn target_statement(&self) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| crate::sql::quote_ident(&c.name))
            .collect();
        format!(
            "COPY {} ({}) FROM STDIN",
            self.table.name.sql(),
            cols.join(", ")
        )
    }
}

/// The whole run's plan.
///
/// Its fields are private: `plan::prepare` is the only way to get one, and
/// nothing changes it after.
pub struct Plan {
    catalog: Catalog,
    tables: Vec<Arc<TablePlan>>,
    rules_digest: String,
    /// The subset in effect (`--subset`, else the rules' default), set by
    /// `plan::prepare`; echoed at the top of `--dry-run`.
    subset: Option<SubsetSpec>,
}

/// What kind of problem the plan found: `check` groups its report by it,
/// `sync` only prints the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// A rule for a table the source does not have.
    StaleTable,
    /// A rule for a column its table does not have.
    StaleColumn,
    /// A rule for a partition: partitions are copied through their root.
    Partition,
    /// Columns without a rule under `unknown_columns: fail`, as (name,
    /// type), in table order.
    Unclassified(Vec<(String, String)>),
    /// A rule that does not fit its column or its table, a subset rule
    /// that cannot be followed, a missing secret.
    Mismatch,
}

/// One problem between the rules and the schema, with what it is about.
#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The table as the rules name it; `None` when about the whole rules.
    pub table: Option<String>,
    /// The column, when about one.
    pub column: Option<String>,
    /// The column's type, when the column exists.
    pub type_name: Option<String>,
    /// Where and what, as `sync` prints it.
    pub error: RulesError,
}

/// Everything that keeps the rules from planning, found in one pass so one
/// run shows all there is to fix.
#[derive(Debug)]
pub struct PlanErrors(pub Vec<Problem>);

/// `sync` and the other commands report plan problems as rules errors
/// (exit 2); only `check` looks at their kinds.
impl From<PlanErrors> for RulesErrors {
    fn from(e: PlanErrors) -> RulesErrors {
        RulesErrors(e.0.into_iter().map(|p| p.error).collect())
    }
}

impl From<PlanErrors> for anyhow::Error {
    fn from(e: PlanErrors) -> anyhow::Error {
        RulesErrors::from(e).into()
    }
}

/// The secret a plan is built for.
#[derive(Clone, Copy)]
pub enum Secret<'a> {
    /// Rows will be transformed with this key.
    Key(&'a Key),
    /// `ANONYMIZE_SECRET` is not set for a run that writes rows: a rule
    /// that needs the secret is a problem.
    Missing,
    /// Nothing is computed from this plan (`check`, `verify`, `init`): it
    /// is checked and described only, so no secret is needed.
    NotNeeded,
}

impl<'a> Secret<'a> {
    /// `ANONYMIZE_SECRET` when given.
    pub fn given(key: Option<&'a Key>) -> Secret<'a> {
        key.map_or(Secret::Missing, Secret::Key)
    }

    fn key(self) -> Option<&'a Key> {
        match self {
            Secret::Key(k) => Some(k),
            Secret::Missing | Secret::NotNeeded => None,
        }
    }
}

/// The key transforms are compiled with when there is no secret. They need
/// one to be built, but a plan without a secret never runs a keyed one
/// (`Missing` refuses such rules, `NotNeeded` computes nothing; `set`,
/// `mask` and the like never read it). It is random per process rather
/// than a fixed stand-in so that, should a bug ever compute a value with
/// it, the value could not be reproduced by anyone who reads this code.
fn compile_only_key() -> Key {
    use std::hash::{BuildHasher, Hasher};
    // `RandomState` is seeded from the OS's randomness once per process.
    let mut bytes = Vec::with_capacity(32);
    for i in 0..4u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(i);
        bytes.extend_from_slice(&h.finish().to_le_bytes());
    }
    Key::new(&bytes)
}

/// What a problem is about (`Problem`'s fields of the same names).
#[derive(Default)]
struct About {
    table: Option<String>,
    column: Option<String>,
    type_name: Option<String>,
}

impl About {
    fn table(name: impl ToString) -> About {
        About {
            table: Some(name.to_string()),
            ..About::default()
        }
    }

    fn column(table: impl ToString, column: &str, found: Option<&Column>) -> About {
        About {
            table: Some(table.to_string()),
            column: Some(column.to_string()),
            type_name: found.map(|c| c.type_name.clone()),
        }
    }
}

/// Problems as they are found.
struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    /// A mismatch about nothing more precise than its location.
    fn push(&mut self, location: &Location, message: String, hint: Option<String>) {
        self.push_about(
            ProblemKind::Mismatch,
            About::default(),
            location,
            message,
            hint,
        );
    }

    /// A problem about a table and maybe one of its columns.
    fn push_about(
        &mut self,
        kind: ProblemKind,
        about: About,
        location: &Location,
        message: String,
        hint: Option<String>,
    ) {
        self.list.push(Problem {
            kind,
            table: about.table,
            column: about.column,
            type_name: about.type_name,
            error: RulesError {
                location: location.clone(),
                message,
                hint,
            },
        });
    }

    fn rules_errors(self) -> RulesErrors {
        RulesErrors(self.list.into_iter().map(|p| p.error).collect())
    }
}

/// Builds the run's plan from what the user wrote: checks `rules` against
/// `catalog`, compiles every transform and selects the subset (the rules'
/// `subset:` share, which `--subset` has already replaced). Every command
/// that reads the rules goes through here, so `check` finds what `sync`
/// would refuse. The plan is not changed afterwards.
pub fn prepare(rules: &Rules, catalog: Catalog, secret: Secret<'_>) -> Result<Plan, PlanErrors> {
    Plan::build(rules, catalog, secret)
}

impl Plan {
    fn build(rules: &Rules, catalog: Catalog, secret: Secret<'_>) -> Result<Plan, PlanErrors> {
        let mut problems = Problems { list: Vec::new() };
        let file_location = Location {
            file: rules.files.join(", "),
            line: 0,
            column: 0,
        };

        // By name: `Catalog::table` and `Rules::table` are scans, and a
        // scan per table is quadratic with tens of thousands of tables.
        let in_catalog: HashSet<&QualifiedName> = catalog.tables.iter().map(|t| &t.name).collect();
        let rule_of = RulesByTable::new(rules);
        for rule in &rules.tables {
            if let Some(root) = catalog.partition_root(&rule.name) {
                problems.push_about(
                    ProblemKind::Partition,
                    About::table(&rule.name),
                    &rule.location,
                    format!(
                        "table {} is a partition of {root}; partitions are copied through their root",
                        rule.name
                    ),
                    Some(format!("move the rule to tables.{root}")),
                );
            } else if !in_catalog.contains(&rule.name) {
                let names: Vec<String> =
                    catalog.tables.iter().map(|t| t.name.to_string()).collect();
                let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
                let hint =
                    crate::did_you_mean::closest(&rule.name.to_string(), refs.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"))
                        .or_else(|| {
                            Some("remove the rule, or check the table's schema and spelling".into())
                        });
                problems.push_about(
                    ProblemKind::StaleTable,
                    About::table(&rule.name),
                    &rule.location,
                    format!("table {} is not in the source database", rule.name),
                    hint,
                );
            }
        }

        if matches!(secret, Secret::Missing) && rules.needs_secret() {
            problems.push(
                &file_location,
                "ANONYMIZE_SECRET is not set, and the rules use keyed transforms".into(),
                Some(
                    "export ANONYMIZE_SECRET (a long random string kept in your secret store)"
                        .into(),
                ),
            );
        }
        let compile_only;
        let key = match secret.key() {
            Some(k) => k,
            None => {
                compile_only = compile_only_key();
                &compile_only
            }
        };

        let mut tables = Vec::new();
        for table in &catalog.tables {
            let rule = rule_of.get(&table.name);
            if let Some(tp) = plan_table(rules, table, rule, key, &file_location, &mut problems) {
                tables.push(tp);
            }
        }

        check_foreign_keys(rules, &rule_of, &tables, &file_location, &mut problems);

        // The subset's rules are checked whatever else is wrong, so one run
        // lists every problem; its SQL is only used when there is none.
        let inputs: Vec<crate::subset::Input<'_>> = tables
            .iter()
            .map(|t| crate::subset::Input {
                table: &t.table,
                filter: t.filter.as_deref(),
                skip: t.skip,
            })
            .collect();
        match crate::subset::select(&inputs, rules, secret.key()) {
            Ok(selections) => {
                for (t, s) in tables.iter_mut().zip(selections) {
                    t.select(s);
                }
            }
            Err(RulesErrors(list)) => {
                for e in list {
                    problems.push(&e.location, e.message, e.hint);
                }
            }
        }

        if !problems.list.is_empty() {
            return Err(PlanErrors(problems.list));
        }
        Ok(Plan {
            catalog,
            tables: tables.into_iter().map(Arc::new).collect(),
            rules_digest: rules.digest.clone(),
            subset: rules.subset,
        })
    }

    /// The source schema the plan was made from (sequences, views, the
    /// server's version).
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Every copied table's plan, in catalog order; shared, never cloned.
    pub fn tables(&self) -> &[Arc<TablePlan>] {
        &self.tables
    }

    /// The sha256 of the rules the plan was made from.
    pub fn rules_digest(&self) -> &str {
        &self.rules_digest
    }

    /// The subset in effect (`--subset`, else the rules' default).
    pub fn subset(&self) -> Option<SubsetSpec> {
        self.subset
    }

    /// Human-readable plan for `--dry-run`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(subset) = self.subset {
            let _ = writeln!(s, "subset: {subset}");
        }
        for t in &self.tables {
            // A table never analysed is counted (or estimated) in the
            // snapshot, and the plan says so: its numbers are not the
            // planner's.
            let est = match (t.table.estimated_rows, t.table.rows_from) {
                (n, _) if n < 0 => "~unknown rows".to_string(),
                (n, RowsFrom::Statistics) => format!("~{n} rows"),
                (n, RowsFrom::Counted) => format!("{n} rows, counted: never analysed"),
                (n, RowsFrom::Estimated) => {
                    format!("~{n} rows, estimated from its size: never analysed")
                }
            };
            match t.selection.estimated_kept {
                Some(kept) => {
                    let _ = writeln!(s, "{} ({est}, keeps ~{kept})", t.table.name);
                    let _ = writeln!(s, "  rows: {}", t.selection.text);
                }
                None => {
                    let _ = writeln!(s, "{} ({est}, {})", t.table.name, t.selection.text);
                }
            }
            if t.skip {
                let _ = writeln!(s, "  skipped: schema only, no rows");
                continue;
            }
            for c in &t.columns {
                let implicit = if c.implicit {
                    "  (no rule; unknown_columns: keep)"
                } else {
                    ""
                };
                let _ = writeln!(
                    s,
                    "  {:<24} {}{implicit}",
                    crate::sql::display_ident(&c.name),
                    c.rule
                );
            }
            for c in t.table.columns.iter().filter(|c| c.generated) {
                let _ = writeln!(
                    s,
                    "  {:<24} generated (recomputed by the target)",
                    crate::sql::display_ident(&c.name)
                );
            }
        }
        s
    }
}

fn plan_table(
    rules: &Rules,
    table: &Table,
    rule: Option<&TableRule>,
    key: &Key,
    file_location: &Location,
    problems: &mut Problems,
) -> Option<TablePlan> {
    let table_location = rule
        .map(|r| r.location.clone())
        .unwrap_or_else(|| file_location.clone());
    let unknown = rule
        .and_then(|r| r.unknown_columns)
        .unwrap_or(rules.unknown_columns);
    let skip = rule.is_some_and(|r| r.skip);
    let display = table.name.to_string();

    // Rules naming columns the table does not have.
    if let Some(r) = rule {
        for entry in &r.columns {
            match table.column(&entry.name) {
                None => {
                    let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
                    let hint = crate::did_you_mean::closest(&entry.name, names.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"))
                        .or_else(|| Some("remove the rule; the column may have been dropped by a migration".into()));
                    problems.push_about(
                        ProblemKind::StaleColumn,
                        About::column(&display, &entry.name, None),
                        &entry.location,
                        format!("column {display}.{} is not in the source table", entry.name),
                        hint,
                    );
                }
                Some(c) if c.generated && !matches!(entry.rule.action, Action::Keep) => problems.push_about(
                    ProblemKind::Mismatch,
                    About::column(&display, &entry.name, Some(c)),
                    &entry.location,
                    format!("column {display}.{} is generated; the target recomputes it from the other columns", entry.name),
                    Some("write `keep` for it, or no rule at all".into()),
                ),
                _ => {}
            }
        }
    }

    // Columns without a rule.
    let missing: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| !c.generated)
        .filter(|c| rule.is_none_or(|r| !r.columns.iter().any(|e| e.name == c.name)))
        .collect();
    if !skip && unknown == UnknownColumns::Fail && !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|c| format!("{} ({})", c.name, c.type_name))
            .collect();
        let what = if rule.is_none() {
            "has no rule"
        } else {
            "has columns without a rule"
        };
        problems.push_about(
            ProblemKind::Unclassified(
                missing
                    .iter()
                    .map(|c| (c.name.clone(), c.type_name.clone()))
                    .collect(),
            ),
            About::table(&display),
            &table_location,
            format!("table {display} {what}: {}", list.join(", ")),
            Some(format!(
                "add a rule for each (`keep` for non-personal data) under tables.{display}.columns, \
                 or set `unknown_columns: keep` to copy unclassified columns unchanged"
            )),
        );
    }

    let mut columns = Vec::new();
    let mut reads: Vec<Vec<String>> = Vec::new();
    let mut extra: Vec<String> = Vec::new();
    for column in table.columns.iter().filter(|c| !c.generated) {
        let entry = rule.and_then(|r| r.columns.iter().find(|e| e.name == column.name));
        let mut source_expr = None;
        let (action, text, implicit, column_reads) = match entry {
            None => (ColumnAction::Keep, "keep".to_string(), true, vec![]),
            Some(e) => {
                match rule_sql::compile_entry(table, column, e, &mut extra, &mut |r| {
                    compile(rules, table, column, r, key, unknown)
                }) {
                    Ok(compiled) => {
                        source_expr = compiled.source_expr;
                        (compiled.action, e.describe(), false, compiled.reads)
                    }
                    Err(list) => {
                        for (location, message, hint) in list {
                            problems.push_about(
                                ProblemKind::Mismatch,
                                About::column(&display, &column.name, Some(column)),
                                location.as_ref().unwrap_or(&e.location),
                                message,
                                hint,
                            );
                        }
                        (ColumnAction::Keep, String::new(), false, vec![])
                    }
                }
            }
        };
        if source_expr.is_some()
            && rule.is_some_and(|r| r.null_outside_subset.contains(&column.name))
        {
            problems.push_about(
                ProblemKind::Mismatch,
                About::column(&display, &column.name, Some(column)),
                &entry.map(|e| e.location.clone()).unwrap_or_else(|| table_location.clone()),
                format!("column {display}.{} is computed by `sql:` and listed under `null_outside_subset:`; only one of them can write it", column.name),
                Some("keep the reference's value (`keep`), or drop it from `null_outside_subset:`".into()),
            );
        }
        columns.push(ColumnPlan {
            name: column.name.clone(),
            rule: text,
            implicit,
            action,
            read_by_others: false,
            source_expr,
            space: entry.and_then(rule_sql::output_space),
            accepted: entry.and_then(|e| e.rule.accepted.clone()),
            allow: entry.map(|e| e.rule.allow.clone()).unwrap_or_default(),
            unique_claim: entry.is_some_and(|e| {
                e.branches.is_empty()
                    && e.rule.unique
                    && matches!(e.rule.action, crate::rules::Action::Sql(_))
            }),
        });
        reads.push(column_reads);
    }

    // A unique index on an expression other than the column itself
    // (`substr(email, 1, 5)`): no rule says it keeps that unique.
    for used in fit::expression_index_columns(table) {
        let Some(c) = columns.iter().find(|c| c.name == used.column) else {
            continue;
        };
        // An `sql:` column is kept by the pipeline but changed by the source.
        if matches!(c.action, ColumnAction::Keep) && c.source_expr.is_none() {
            continue;
        }
        problems.push_about(
            ProblemKind::Mismatch,
            About::column(&display, &c.name, table.column(&c.name)),
            &column_location(rules, table, &c.name, file_location),
            format!(
                "column {display}.{} is read by unique {}, and `{}` changes its values: no rule is known to keep that expression unique, so two rows could collide when the target builds the index",
                c.name, used.index, c.rule
            ),
            Some(format!(
                "write `keep` for {display}.{} if it holds no personal data, or `skip: true` the table (its schema is copied, no rows)",
                c.name
            )),
        );
    }

    let compute_order = match order_columns(&columns, &reads) {
        Ok(o) => o,
        Err(cycle) => {
            problems.push_about(
                ProblemKind::Mismatch,
                About::table(&display),
                &table_location,
                format!(
                    "table {display}: templates read each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
                Some("make one of them a plain transform".into()),
            );
            Vec::new()
        }
    };
    for (i, r) in reads.iter().enumerate() {
        for name in r {
            match columns.iter().position(|c| &c.name == name) {
                Some(j) => columns[j].read_by_others = true,
                None => problems.push_about(
                    ProblemKind::Mismatch,
                    About::column(&display, &columns[i].name, table.column(&columns[i].name)),
                    &table_location,
                    format!("column {display}.{}: a template reads `{name}`, which is not a copied column", columns[i].name),
                    None,
                ),
            }
        }
    }

    let subset = rule.and_then(|r| r.subset).or(rules.subset);
    Some(TablePlan {
        table: table.clone(),
        columns,
        compute_order,
        filter: rule.and_then(|r| r.filter.clone()),
        subset,
        extra,
        skip,
        // `subset::select` replaces it before `prepare` returns a plan.
        selection: Selection::default(),
    })
}

/// Compiles one column's rule; the error names the column and what to do.
#[allow(clippy::type_complexity)]
fn compile(
    rules: &Rules,
    table: &Table,
    column: &Column,
    rule: &ColumnRule,
    key: &Key,
    unknown: crate::rules::UnknownColumns,
) -> Result<(ColumnAction, Vec<String>), (String, Option<String>)> {
    let display = table.name.to_string();
    // `constraint users_code_key`, or `index NAME on lower(handle) ...`.
    let constraint = fit::unique_on(table, &column.name);
    let exclusion = fit::exclusion_on(table, &column.name);
    // What a rule other than `keep` or `null` (NULLs never conflict) must
    // be to keep the rows of an exclusion constraint as they were.
    let excluded = |unique_capable: bool| -> Result<(), (String, Option<String>)> {
        match &exclusion {
            Some(x) if !(x.equality && unique_capable) => Err((
                format!(
                    "column {display}.{} is compared by {}, and `{}` changes its values: no rule is known to keep that constraint true, so two rows could conflict when the target builds it",
                    column.name,
                    x.constraint,
                    rule.describe()
                ),
                Some(if x.equality {
                    "use a unique-capable rule (`{ fpe: {} }`, `{ hash: { format: hex } }`, `{ fake: email, unique: true }`) or `keep`".into()
                } else {
                    format!("write `keep` or `null` for {display}.{}, or `skip: true` the table (its schema is copied, no rows)", column.name)
                }),
            )),
            _ => Ok(()),
        }
    };
    match &rule.action {
        Action::Keep => Ok((ColumnAction::Keep, vec![])),
        Action::Null => {
            if column.not_null {
                return Err((
                    format!(
                        "column {display}.{} is NOT NULL, so `null` cannot be loaded",
                        column.name
                    ),
                    Some("use `set`, `hash` or `fake` instead".into()),
                ));
            }
            // Several NULLs are allowed under a unique constraint (a
            // primary key is NOT NULL and caught above), unless it says
            // NULLS NOT DISTINCT: then the second NULL collides.
            if let Some(k) = fit::nulls_collide_in(table, &column.name) {
                return Err((
                    format!(
                        "column {display}.{} is in unique key {k} with NULLS NOT DISTINCT, so `null` would make its rows collide",
                        column.name
                    ),
                    Some("use a unique-capable rule such as `{ fpe: {} }` or `{ hash: { format: hex } }`".into()),
                ));
            }
            Ok((ColumnAction::Null, vec![]))
        }
        // Computed by the source (the plan puts the expression in the COPY
        // query); the value passes through like a kept one.
        Action::Sql(_) => {
            excluded(rule.unique)?;
            if let Some(name) = constraint.filter(|_| !rule.unique) {
                return Err((
                    format!(
                        "column {display}.{} is unique ({name}), but an `sql:` expression can give two rows the same value",
                        column.name
                    ),
                    Some("write `unique: true` beside `sql:` if the expression keeps values apart (the target's unique index then checks it), or use a unique-capable transform".into()),
                ));
            }
            Ok((ColumnAction::Keep, vec![]))
        }
        Action::Command(spec) => {
            excluded(rule.unique)?;
            if let Some(name) = constraint.filter(|_| !rule.unique) {
                return Err((
                    format!(
                        "column {display}.{} is unique ({name}), but the program of `{}` may give two rows the same value",
                        column.name,
                        spec.describe()
                    ),
                    Some("write `unique: true` beside `command:` if the program keeps values apart (the target's unique index then checks it), or use a unique-capable transform".into()),
                ));
            }
            spec.check_executable().map_err(|m| {
                (
                    format!("column {display}.{}: {m}", column.name),
                    Some("give a program that exists and is executable (`chmod +x`), or name one on PATH".into()),
                )
            })?;
            Ok((
                ColumnAction::Command(Arc::new(crate::transform::command::Runner::new(
                    spec.clone(),
                    format!("{display}.{}", column.name),
                    key,
                    rule.namespace.as_deref(),
                ))),
                vec![],
            ))
        }
        Action::Transform(options) => {
            let uniqueness = options.uniqueness();
            excluded(uniqueness != Uniqueness::Lossy)?;
            if rule.unique && uniqueness == Uniqueness::Lossy {
                return Err((
                    format!(
                        "column {display}.{}: `{}` cannot guarantee distinct outputs, but the rule says `unique: true`",
                        column.name,
                        options.describe()
                    ),
                    Some("use a unique-capable rule such as `{ hash: { format: hex } }`, `{ fake: email, unique: true }` or `{ fake: uuid }`".into()),
                ));
            }
            if let Some(name) = &constraint {
                if uniqueness == Uniqueness::Lossy {
                    return Err((
                        format!(
                            "column {display}.{} is unique ({name}), but `{}` can give two rows the same value",
                            column.name,
                            options.describe()
                        ),
                        Some("use a unique-capable rule, e.g. `{ fake: email, unique: true }`, `{ fpe: {} }` (keeps the format) or `{ hash: { format: hex } }`".into()),
                    ));
                }
            }
            // A keyed permutation of a small domain is a lookup table for
            // anyone holding a few pairs (NIST's FF1 floor is 10^6).
            let domain = column
                .max_length
                .and_then(|n| options.domain_of(type_shape(n)));
            if let (Some(domain), Some(n)) = (domain, column.max_length) {
                if domain < SMALL_DOMAIN && !rule.allow_small_domain {
                    return Err(small_domain(
                        &display,
                        column,
                        &options.describe(),
                        "values of",
                        n,
                        domain,
                    ));
                }
            }
            let locale = rule.locale.as_deref().unwrap_or(&rules.locale);
            let ctx = BuildContext {
                table: &display,
                column,
                columns: &table.columns,
                key,
                locale,
                // What the rule or a constraint asserts; it never changes
                // an output (one output per value, issue 22).
                unique: rule.unique || constraint.is_some(),
                namespace: rule.namespace.as_deref(),
                unknown_fail: unknown == crate::rules::UnknownColumns::Fail,
            };
            let transform = options.build(&ctx).map_err(|m| (m, None))?;
            if let fit::LengthFit::TooLong(bound) = fit::length_fit(&**options, column, ctx.unique)
            {
                let writes = match bound {
                    Some(b) => format!("writes up to {b} characters"),
                    None => "can write values of any length".into(),
                };
                return Err((
                    format!(
                        "column {display}.{} is {}, but `{}` {writes}; it never repeats a value, so it cannot be cut to fit",
                        column.name,
                        column.type_name,
                        options.describe()
                    ),
                    Some(format!(
                        "widen the column (e.g. `ALTER TABLE {display} ALTER COLUMN {} TYPE text`), or use a rule whose output fits, such as `{{ fpe: {{}} }}` (same length as its input)",
                        crate::sql::display_ident(&column.name)
                    )),
                ));
            }
            Ok((
                ColumnAction::Transform(Arc::from(transform)),
                options.reads(),
            ))
        }
    }
}

/// The rules' tables by name, for lookups once per table or per foreign
/// key (`Rules::table` is a scan of every rule).
pub(crate) struct RulesByTable<'a>(HashMap<&'a QualifiedName, &'a TableRule>);

impl<'a> RulesByTable<'a> {
    pub(crate) fn new(rules: &'a Rules) -> Self {
        let mut by_name = HashMap::with_capacity(rules.tables.len());
        for rule in &rules.tables {
            // The first rule for a name, as `Rules::table` finds it.
            by_name.entry(&rule.name).or_insert(rule);
        }
        RulesByTable(by_name)
    }

    pub(crate) fn get(&self, name: &QualifiedName) -> Option<&'a TableRule> {
        self.0.get(name).copied()
    }
}

/// Where a column's rule was written: its entry, else its table's rule,
/// else the rules files.
fn column_location(rules: &Rules, table: &Table, column: &str, file: &Location) -> Location {
    let rule = rules.table(&table.name);
    rule.and_then(|r| r.columns.iter().find(|e| e.name == column))
        .map(|e| e.location.clone())
        .or_else(|| rule.map(|r| r.location.clone()))
        .unwrap_or_else(|| file.clone())
}

/// Foreign keys the copy would break, found before any row moves (else
/// the target refuses them after the whole copy): a referenced table that
/// is `skip: true` while its referencing table is copied, and a reference
/// whose columns have different rules from the columns they point at, so
/// equal values stop being equal. A referencing column set to `null`
/// breaks nothing. Keys declared in the rules (`references:`) are not
/// constraints of the target and are left out.
fn check_foreign_keys(
    rules: &Rules,
    rule_of: &RulesByTable<'_>,
    tables: &[TablePlan],
    file: &Location,
    problems: &mut Problems,
) {
    let by_name: HashMap<&QualifiedName, &TablePlan> =
        tables.iter().map(|t| (&t.table.name, t)).collect();
    let plan_of = |name: &QualifiedName| by_name.get(name).copied();
    let column_of = |t: &'_ TablePlan, name: &str| -> Option<ColumnPlan> {
        t.columns.iter().find(|c| c.name == name).cloned()
    };
    for child in tables.iter().filter(|t| !t.skip) {
        for fk in child.table.foreign_keys.iter().filter(|k| !k.virtual_key) {
            let Some(parent) = plan_of(&fk.parent) else {
                continue;
            };
            let pairs: Vec<(ColumnPlan, Option<ColumnPlan>)> = fk
                .columns
                .iter()
                .zip(&fk.parent_columns)
                .filter_map(|(c, p)| Some((column_of(child, c)?, column_of(parent, p))))
                .collect();
            // Rows whose reference is NULL point at nothing.
            let referencing: Vec<&(ColumnPlan, Option<ColumnPlan>)> = pairs
                .iter()
                .filter(|(c, _)| !matches!(c.action, ColumnAction::Null))
                .collect();
            if referencing.is_empty() {
                continue;
            }
            // Under a skipped parent, `null_outside_subset:` sets the
            // reference to NULL (see `subset`): nothing left to break.
            let nulled = rule_of
                .get(&child.table.name)
                .map(|r| r.null_outside_subset.clone())
                .unwrap_or_default();
            if parent.skip && referencing.iter().all(|(c, _)| nulled.contains(&c.name)) {
                continue;
            }
            if parent.skip {
                let rule = rule_of.get(&parent.table.name);
                problems.push_about(
                    ProblemKind::Mismatch,
                    About::table(&parent.table.name),
                    &rule.map(|r| r.location.clone()).unwrap_or_else(|| file.clone()),
                    format!(
                        "table {} is `skip: true`, but {} references it (constraint {}): the copied rows would point at rows that are not there",
                        parent.table.name, child.table.name, fk.name
                    ),
                    Some(format!(
                        "copy {} (drop `skip: true`), skip {} as well, or set {} to `null` (or list them under `null_outside_subset:`)",
                        parent.table.name,
                        child.table.name,
                        fk.columns.iter().map(|c| format!("{}.{c}", child.table.name)).collect::<Vec<_>>().join(", ")
                    )),
                );
                continue;
            }
            // Rules are compared by what they compute, not by their text.
            let identity = |table: &QualifiedName, column: &str| {
                rule_of
                    .get(table)
                    .and_then(|r| r.columns.iter().find(|e| e.name == column))
                    .map(|e| e.identity())
                    .unwrap_or_else(crate::rules::RuleIdentity::keep)
            };
            for (c, p) in referencing {
                let Some(p) = p else { continue };
                if identity(&child.table.name, &c.name) == identity(&parent.table.name, &p.name) {
                    continue;
                }
                problems.push_about(
                    ProblemKind::Mismatch,
                    About::column(&child.table.name, &c.name, child.table.column(&c.name)),
                    &column_location(rules, &child.table, &c.name, file),
                    format!(
                        "column {}.{} references {}.{} (constraint {}), but their rules differ (`{}` and `{}`): the copied rows would not find their parent",
                        child.table.name, c.name, parent.table.name, p.name, fk.name, c.rule, p.rule
                    ),
                    Some("give both columns the same rule: equal values then stay equal".into()),
                );
            }
        }
    }
}

/// Has the server parse every table's `where:` in the snapshot, so a
/// filter that does not parse, or names a column that is not there, fails
/// here instead of after the copy of every other table.
///
/// The filter comes from the rules, which anyone with a pull request can
/// change: it is only ever *prepared* (the extended protocol's Parse, which
/// takes exactly one statement and runs nothing), never sent as a simple
/// query, which would run every statement in the text.
pub async fn check_filters(
    rules: &Rules,
    catalog: &Catalog,
    client: &tokio_postgres::Client,
) -> anyhow::Result<()> {
    let mut problems = Problems { list: Vec::new() };
    for table_rule in &rules.tables {
        let (Some(table), Some(filter)) = (catalog.table(&table_rule.name), &table_rule.filter)
        else {
            continue;
        };
        // A failed statement would abort the snapshot transaction; a
        // savepoint keeps it usable.
        client
            .batch_execute("SAVEPOINT anonymize_filter")
            .await
            .pg_context(|| "checking where: filters".into())?;
        let explained = client
            .prepare(&format!(
                "SELECT 1 FROM {}{} WHERE ({filter})",
                table.kind.only(),
                table.name.sql()
            ))
            .await;
        let end = if explained.is_ok() {
            "RELEASE SAVEPOINT anonymize_filter"
        } else {
            "ROLLBACK TO SAVEPOINT anonymize_filter"
        };
        client
            .batch_execute(end)
            .await
            .pg_context(|| "checking where: filters".into())?;
        if let Err(e) = explained {
            problems.push(
                &table_rule.location_of("where"),
                format!(
                    "the `where:` of table {} does not run on the source: {}",
                    table.name,
                    crate::error::pg_error_text(&e)
                ),
                Some("write an SQL condition on the table's own columns, as after WHERE".into()),
            );
        }
    }
    if problems.list.is_empty() {
        Ok(())
    } else {
        Err(problems.rules_errors().into())
    }
}

/// Casts every constant a rule writes (`set`) to its column's type on the
/// source (a read-only `SELECT`), and checks varchar/char lengths, so a
/// constant that cannot load fails here rather than after hours of copying.
pub async fn check_constants(
    rules: &Rules,
    catalog: &Catalog,
    client: &tokio_postgres::Client,
) -> anyhow::Result<()> {
    let mut problems = Problems { list: Vec::new() };
    for table_rule in &rules.tables {
        let Some(table) = catalog.table(&table_rule.name) else {
            continue;
        };
        for entry in &table_rule.columns {
            let (Some(column), Action::Transform(options)) =
                (table.column(&entry.name), &entry.rule.action)
            else {
                continue;
            };
            for value in options.constants() {
                let fits_length = column.max_length.is_none_or(|n| value.chars().count() <= n);
                // The element type for arrays: a constant is applied element-wise.
                let target_type = if column.is_array {
                    column.base_type.as_str()
                } else {
                    column.type_name.as_str()
                };
                // A failed cast would abort the snapshot transaction; a
                // savepoint keeps it usable.
                client
                    .batch_execute("SAVEPOINT anonymize_cast")
                    .await
                    .pg_context(|| "checking constants".into())?;
                let casts = client
                    .query_one(
                        &format!("SELECT CAST($1::text AS {target_type}) IS NOT NULL"),
                        &[&value],
                    )
                    .await
                    .is_ok();
                let end = if casts {
                    "RELEASE SAVEPOINT anonymize_cast"
                } else {
                    "ROLLBACK TO SAVEPOINT anonymize_cast"
                };
                client
                    .batch_execute(end)
                    .await
                    .pg_context(|| "checking constants".into())?;
                if !(fits_length && casts) {
                    problems.push(
                        &entry.location,
                        format!(
                            "column {}.{}: the constant of `{}` is not a valid {}",
                            table.name,
                            column.name,
                            options.describe(),
                            column.type_name
                        ),
                        Some(
                            "write a value in PostgreSQL's text form for that type, or use `null`"
                                .into(),
                        ),
                    );
                }
            }
        }
    }
    if problems.list.is_empty() {
        Ok(())
    } else {
        Err(problems.rules_errors().into())
    }
}

/// The shape the plan assumes for a `varchar(n)`: `n` digits.
fn type_shape(n: usize) -> crate::transform::Shape {
    crate::transform::Shape {
        chars: n,
        digits: n,
        letters: 0,
    }
}

/// The fewest values a keyed permutation may run over without
/// `allow_small_domain: true`: NIST SP 800-38G's floor for FF1.
pub const SMALL_DOMAIN: f64 = 1e6;

/// The refusal of a permutation over fewer than `SMALL_DOMAIN` values of
/// `chars` characters: rule, column and counts, never a value.
fn small_domain(
    table: &str,
    column: &Column,
    rule: &str,
    values: &str,
    chars: usize,
    domain: f64,
) -> (String, Option<String>) {
    (
        format!(
            "column {table}.{}: `{rule}` would permute {values} {chars} character(s), about \
             {domain:.0} possible values, fewer than the 1,000,000 a keyed permutation needs; \
             a few known pairs would reveal the rest",
            column.name
        ),
        Some(
            "use `hash`, `mask` or `null` for such a small domain, or write \
             `allow_small_domain: true` on the rule to accept it (docs/security.md)"
                .into(),
        ),
    )
}

/// Refuses, like the plan, a keyed permutation whose shortest sampled value
/// (up to 1,000 non-NULL values per column, counted on the server: no value
/// is read here) leaves fewer than `SMALL_DOMAIN` values, unless the rule
/// says `allow_small_domain: true`, which only warns.
pub async fn check_small_domains(
    rules: &Rules,
    catalog: &Catalog,
    client: &tokio_postgres::Client,
) -> anyhow::Result<()> {
    let mut problems = Problems { list: Vec::new() };
    for table_rule in &rules.tables {
        let Some(table) = catalog.table(&table_rule.name) else {
            continue;
        };
        for entry in &table_rule.columns {
            let (Some(column), Action::Transform(options)) =
                (table.column(&entry.name), &entry.rule.action)
            else {
                continue;
            };
            // Unknown to the rule, or already refused from the type.
            let by_type = column
                .max_length
                .and_then(|n| options.domain_of(type_shape(n)));
            if options.domain_of(type_shape(1)).is_none()
                || by_type.is_some_and(|d| d < SMALL_DOMAIN)
            {
                continue;
            }
            // The sampled value with the fewest possible values: counted on
            // the server (a letter as about 1.4 digits), no value read.
            // Digits and letters are counted in the first 4,096 characters:
            // six of them already make a million values, and a regex over a
            // document of 80 MB held the run for minutes before any row.
            let ident = crate::sql::quote_ident(&column.name);
            let sql = format!(
                "SELECT c, d, l FROM (SELECT char_length(v)::int8 AS c, \
                        length(regexp_replace(left(v, 4096), '[^0-9]', '', 'g'))::int8 AS d, \
                        length(regexp_replace(left(v, 4096), '[^[:alpha:]]', '', 'g'))::int8 AS l FROM \
                 (SELECT {ident}::text AS v FROM {} WHERE {ident} IS NOT NULL AND {ident}::text <> '' LIMIT 1000) s) x \
                 ORDER BY d + 1.415 * l, c LIMIT 1",
                table.name.sql()
            );
            let row = client
                .query_opt(&sql, &[])
                .await
                .pg_context(|| format!("sampling lengths of {}.{}", table.name, column.name))?;
            let Some(row) = row else { continue };
            let count = |i: usize| row.get::<_, i64>(i).max(0) as usize;
            let shape = crate::transform::Shape {
                chars: count(0),
                digits: count(1),
                letters: count(2),
            };
            let chars = shape.chars;
            let Some(domain) = options.domain_of(shape) else {
                continue;
            };
            if domain >= SMALL_DOMAIN {
                continue;
            }
            if entry.rule.allow_small_domain {
                tracing::warn!(
                    table = %table.name,
                    column = %column.name,
                    chars,
                    "a keyed permutation over fewer than 1,000,000 values (allow_small_domain: true)"
                );
                continue;
            }
            let (message, hint) = small_domain(
                &table.name.to_string(),
                column,
                &options.describe(),
                "sampled values of",
                chars,
                domain,
            );
            problems.push(&entry.location, message, hint);
        }
    }
    if problems.list.is_empty() {
        Ok(())
    } else {
        Err(problems.rules_errors().into())
    }
}

/// Orders the transformed columns so every template runs after the columns
/// it reads. Returns the cycle on failure.
fn order_columns(columns: &[ColumnPlan], reads: &[Vec<String>]) -> Result<Vec<usize>, Vec<String>> {
    let index: BTreeMap<&str, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut order = Vec::new();
    let mut state = vec![0u8; columns.len()]; // 0 new, 1 visiting, 2 done
    fn visit(
        i: usize,
        reads: &[Vec<String>],
        index: &BTreeMap<&str, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
        path: &mut Vec<usize>,
    ) -> Result<(), Vec<usize>> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let start = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(i);
                return Err(cycle);
            }
            _ => {}
        }
        state[i] = 1;
        path.push(i);
        for name in &reads[i] {
            if let Some(&j) = index.get(name.as_str()) {
                visit(j, reads, index, state, order, path)?;
            }
        }
        path.pop();
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..columns.len() {
        let mut path = Vec::new();
        visit(i, reads, &index, &mut state, &mut order, &mut path).map_err(|cycle| {
            cycle
                .iter()
                .map(|&j| columns[j].name.clone())
                .collect::<Vec<_>>()
        })?;
    }
    // Only transformed or read columns need computing.
    let needed: BTreeSet<usize> = (0..columns.len())
        .filter(|&i| !matches!(columns[i].action, ColumnAction::Keep) || !reads[i].is_empty())
        .collect();
    let read: BTreeSet<usize> = reads
        .iter()
        .flatten()
        .filter_map(|n| index.get(n.as_str()).copied())
        .collect();
    Ok(order
        .into_iter()
        .filter(|i| needed.contains(i) || read.contains(i))
        .collect())
}

impl std::fmt::Debug for ColumnAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnAction::Keep => f.write_str("Keep"),
            ColumnAction::Null => f.write_str("Null"),
            ColumnAction::Transform(_) => f.write_str("Transform"),
            ColumnAction::Command(r) => write!(f, "{r:?}"),
            ColumnAction::When { selector, branches } => f
                .debug_struct("When")
                .field("selector", selector)
                .field("branches", branches)
                .finish(),
        }
    }
}

/// Tables named in the plan, for lookups by name.
pub fn table_names(plan: &Plan) -> Vec<QualifiedName> {
    plan.tables.iter().map(|t| t.table.name.clone()).collect()
}

#[cfg(test)]
impl TablePlan {
    /// A plan of `table` that copies every row of every column as it is,
    /// for unit tests of the stages that take plans.
    pub(crate) fn for_tests(table: Table) -> TablePlan {
        TablePlan {
            table,
            columns: Vec::new(),
            compute_order: Vec::new(),
            filter: None,
            subset: None,
            extra: Vec::new(),
            skip: false,
            selection: Selection {
                text: "all rows".into(),
                ..Selection::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{TableKind, TypeKind, UniqueKey};

    fn column(name: &str, type_name: &str, kind: TypeKind) -> Column {
        Column::new(name, type_name, kind)
    }

    fn catalog() -> Catalog {
        let mut id = column("id", "bigint", TypeKind::Int64);
        id.not_null = true;
        id.unique = true;
        let mut code = column("code", "text", TypeKind::Text);
        code.unique = true;
        let mut total = column("total", "numeric", TypeKind::Numeric);
        total.generated = true;
        let mut name = column("name", "text", TypeKind::Text);
        name.not_null = true;
        Catalog {
            tables: vec![Table {
                oid: 1,
                name: QualifiedName::new("public", "users"),
                kind: TableKind::Ordinary,
                columns: vec![id, code, name, column("bio", "text", TypeKind::Text), total],
                unique_keys: vec![
                    UniqueKey {
                        name: "users_pkey".into(),
                        columns: vec!["id".into()],
                        primary: true,
                        nulls_not_distinct: false,
                    },
                    UniqueKey {
                        name: "users_code_key".into(),
                        columns: vec!["code".into()],
                        primary: false,
                        nulls_not_distinct: false,
                    },
                ],
                foreign_keys: vec![],
                estimated_rows: 10,
                estimated_bytes: 100,
                unique_indexes: vec![],
                exclusions: Vec::new(),
                rows_from: Default::default(),
                row_security: crate::catalog::RowSecurity::Off,
            }],
            ..Catalog::default()
        }
    }

    /// `users` plus `orders(id, user_code)` referencing `users.code`.
    fn catalog_with_orders() -> Catalog {
        let mut c = catalog();
        let mut orders = c.tables[0].clone();
        orders.oid = 2;
        orders.name = QualifiedName::new("public", "orders");
        orders.columns = vec![
            column("id", "bigint", TypeKind::Int64),
            column("user_code", "text", TypeKind::Text),
        ];
        orders.unique_keys.clear();
        orders.foreign_keys = vec![crate::catalog::ForeignKey {
            name: "orders_user_code_fkey".into(),
            columns: vec!["user_code".into()],
            parent: QualifiedName::new("public", "users"),
            parent_columns: vec!["code".into()],
            deferrable: false,
            virtual_key: false,
            validated: true,
        }];
        c.tables.push(orders);
        c
    }

    /// Issue 26: a `references:` key joins the table's keys through
    /// `TablePlan::foreign_keys()`; the catalog's copy of the table is left
    /// as the source has it.
    #[test]
    fn declared_references_join_the_keys_without_changing_the_catalog() {
        let key = Key::new(b"plan test");
        let mut catalog = catalog_with_orders();
        catalog.tables[1].foreign_keys.clear();
        let rules = crate::rules::load::load_str(
            "r.yml",
            "version: 1\ntables:\n  public.users:\n    columns: { id: keep, code: keep, name: keep, bio: keep }\n  public.orders:\n    columns: { id: keep, user_code: keep }\n    references:\n      - { columns: [user_code], table: public.users, parent_columns: [code] }\n",
        )
        .unwrap();
        let plan = prepare(&rules, catalog, Secret::Key(&key)).unwrap();
        let orders = &plan.tables()[1];
        assert_eq!(orders.table.name.to_string(), "public.orders");
        assert!(orders.table.foreign_keys.is_empty());
        assert!(plan.catalog().tables[1].foreign_keys.is_empty());
        let keys: Vec<(String, bool)> = orders
            .foreign_keys()
            .map(|k| (k.parent.to_string(), k.virtual_key))
            .collect();
        assert_eq!(keys, vec![("public.users".to_string(), true)]);
    }

    /// Issue 16 item 11: foreign keys the target would reject after the
    /// copy are refused by the plan, and what keeps them whole is not.
    #[test]
    fn foreign_keys_the_copy_would_break_are_refused() {
        let key = Key::new(b"plan test");
        let plan = |users: &str, orders: &str| {
            let yaml = format!(
                "version: 1\ntables:\n  public.users:\n{users}\n  public.orders:\n    columns: {{ id: keep, {orders} }}\n"
            );
            let rules = crate::rules::load::load_str("r.yml", &yaml).unwrap();
            match prepare(&rules, catalog_with_orders(), Secret::Key(&key)) {
                Ok(_) => String::new(),
                Err(PlanErrors(list)) => list
                    .iter()
                    .map(|p| p.error.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            }
        };
        let users = |code: &str| {
            format!("    columns: {{ id: keep, code: {code}, name: keep, bio: keep }}")
        };
        let p = plan(&users("{ fpe: {} }"), "user_code: keep");
        assert!(
            p.contains("column public.orders.user_code references public.users.code (constraint orders_user_code_fkey), but their rules differ (`keep` and `fpe`)"),
            "{p}"
        );
        assert_eq!(plan(&users("{ fpe: {} }"), "user_code: { fpe: {} }"), "");
        // Issue 26: rules are compared by what they compute, not by text.
        // `accepted:` and `allow:` change the text, not the values ...
        assert_eq!(
            plan(
                &users("{ fpe: {}, accepted: reviewed, allow: ['x'] }"),
                "user_code: { fpe: {} }"
            ),
            ""
        );
        // ... and a namespace that reads like a locale reads the same as a
        // namespace and a locale, but keys the values differently.
        let p = plan(
            &users("{ fake: email, namespace: a, locale: de_de }"),
            "user_code: { fake: email, namespace: 'a locale=de_de' }",
        );
        assert!(
            p.contains("but their rules differ (`fake(email) namespace=a locale=de_de` and `fake(email) namespace=a locale=de_de`)"),
            "{p}"
        );
        assert_eq!(plan(&users("{ fpe: {} }"), "user_code: null"), "");
        let p = plan("    skip: true", "user_code: keep");
        assert!(
            p.starts_with(
                "r.yml:3:3: table public.users is `skip: true`, but public.orders references it"
            ),
            "{p}"
        );
        assert_eq!(plan("    skip: true", "user_code: null"), "");
        let rules = crate::rules::load::load_str(
            "r.yml",
            "version: 1\ntables:\n  public.users: { skip: true }\n  public.orders:\n    columns: { id: keep, user_code: keep }\n    null_outside_subset: [user_code]\n",
        )
        .unwrap();
        assert!(prepare(&rules, catalog_with_orders(), Secret::Key(&key)).is_ok());
    }

    fn problems(yaml: &str) -> Vec<String> {
        let rules = crate::rules::load::load_str("r.yml", yaml).unwrap();
        match prepare(&rules, catalog(), Secret::Missing) {
            Ok(_) => vec![],
            Err(PlanErrors(list)) => list.iter().map(|p| p.error.to_string()).collect(),
        }
    }

    #[test]
    fn every_gap_is_listed_in_one_run() {
        let p = problems(
            "version: 1\ntables:\n  public.users:\n    columns:\n      id: keep\n      nmae: keep\n  public.orders:\n    columns: {}\n",
        );
        let all = p.join("\n");
        assert!(
            all.contains("r.yml:6:7: column public.users.nmae is not in the source table"),
            "{all}"
        );
        assert!(all.contains("did you mean `name`?"), "{all}");
        assert!(
            all.contains("r.yml:7:3: table public.orders is not in the source database"),
            "{all}"
        );
        assert!(
            all.contains("has columns without a rule: code (text), name (text), bio (text)"),
            "{all}"
        );
        assert!(
            !all.contains("total"),
            "generated columns need no rule: {all}"
        );
        assert_eq!(p.len(), 3, "{all}");
    }

    #[test]
    fn rules_that_cannot_load_are_refused() {
        let p = problems(
            "version: 1\ntables:\n  public.users:\n    columns:\n      id: keep\n      code: { set: x }\n      name: null\n      bio: keep\n      total: { set: 1 }\n",
        );
        let all = p.join("\n");
        assert!(
            all.contains("public.users.code is unique (constraint users_code_key)"),
            "{all}"
        );
        assert!(all.contains("public.users.name is NOT NULL"), "{all}");
        assert!(all.contains("public.users.total is generated"), "{all}");
    }

    #[test]
    fn a_clean_plan_reads_only_what_it_needs() {
        let rules = crate::rules::load::load_str(
            "r.yml",
            "version: 1\ntables:\n  public.users:\n    columns: { id: keep, code: keep, name: { set: x }, bio: null }\n",
        )
        .unwrap();
        let plan = prepare(&rules, catalog(), Secret::Missing).unwrap();
        let t = &plan.tables[0];
        assert_eq!(
            crate::source::copy_query(t, crate::source::Read::default()),
            r#"COPY (SELECT "id", "code", "name", NULL AS "bio" FROM ONLY "public"."users") TO STDOUT"#
        );
        assert_eq!(
            crate::source::copy_query(
                t,
                crate::source::Read {
                    pages: Some((10, Some(20))),
                    ..Default::default()
                }
            ),
            r#"COPY (SELECT "id", "code", "name", NULL AS "bio" FROM ONLY "public"."users" WHERE "users".ctid >= '(10,0)'::tid AND "users".ctid < '(20,0)'::tid) TO STDOUT"#
        );
        assert_eq!(
            t.target_statement(),
            r#"COPY "public"."users" ("id", "code", "name", "bio") FROM STDIN"#
        );
        assert_eq!(t.compute_order, vec![2, 3]);
        assert!(
            plan.describe()
                .contains("total                    generated"),
            "{}",
            plan.describe()
        );
    }

    #[test]
    fn unknown_columns_keep_copies_unclassified_columns() {
        let rules =
            crate::rules::load::load_str("r.yml", "version: 1\nunknown_columns: keep\n").unwrap();
        let plan = prepare(&rules, catalog(), Secret::Missing).unwrap();
        assert!(plan.tables[0].is_passthrough());
        assert!(plan.describe().contains("(no rule; unknown_columns: keep)"));
    }

    /// The transform catalogue meets the plan: unique columns take only
    /// unique-capable rules, templates are ordered after what they read
    /// and cycles between them are refused.
    #[test]
    fn transforms_meet_unique_keys_and_template_order() {
        let key = Key::new(b"plan test");
        let plan = |columns: &str| {
            let yaml = format!("version: 1\ntables:\n  public.users:\n    columns:\n{columns}");
            let rules = crate::rules::load::load_str("r.yml", &yaml).unwrap();
            prepare(&rules, catalog(), Secret::Key(&key))
        };
        let ok = |code: &str| {
            plan(&format!(
                "      id: keep\n      code: {code}\n      name: keep\n      bio: keep\n"
            ))
        };
        for unique_capable in [
            "{ fpe: {} }",
            "{ hash: {} }",
            "{ fake: username, unique: true }",
            "{ fake: email }",
        ] {
            assert!(ok(unique_capable).is_ok(), "{unique_capable}");
        }
        for lossy in [
            "{ fake: first_name }",
            "{ hash: { length: 8 } }",
            "{ choice: [a, b] }",
            "{ mask: {} }",
        ] {
            let Err(PlanErrors(list)) = ok(lossy) else {
                panic!("{lossy} accepted on a unique column")
            };
            assert!(
                list[0]
                    .error
                    .to_string()
                    .contains("is unique (constraint users_code_key)"),
                "{}",
                list[0].error
            );
        }
        // bio reads name's output, name reads code's: computed code, name, bio.
        let p = plan(
            "      id: keep\n      code: { fpe: {} }\n      name: { template: \"n-{code}\" }\n      bio: { template: \"{name}!\" }\n",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let t = &p.tables[0];
        let order: Vec<&str> = t
            .compute_order
            .iter()
            .map(|&i| t.columns[i].name.as_str())
            .collect();
        assert_eq!(order, ["code", "name", "bio"]);
        let Err(PlanErrors(list)) = plan(
            "      id: keep\n      code: { fpe: {} }\n      name: { template: \"{bio}\" }\n      bio: { template: \"{name}\" }\n",
        ) else {
            panic!("a cycle was accepted")
        };
        assert!(
            list.iter().any(|p| p
                .error
                .to_string()
                .contains("templates read each other in a cycle: name -> bio -> name")),
            "{list:?}"
        );
    }
}
