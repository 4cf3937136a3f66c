//! The graph as SQL: for each table, the `WHERE` of its COPY query, the
//! common table expressions it reads, and the joins behind references set
//! to NULL.
//!
//! Shapes chosen for the planner, not for brevity:
//!
//! - Membership is always `(key) IN (SELECT ...)` as a top-level conjunct,
//!   which PostgreSQL turns into a semi-join (hash or merge, spilling to
//!   disk when large). `x OR y IN (...)` would become a per-row subplan that
//!   degrades to a nested scan once the set outgrows `work_mem`, so unions
//!   are built with `UNION ALL` inside the `IN` instead.
//! - Every table's D and K are named CTEs marked `NOT MATERIALIZED`, so a
//!   set used twice is written once (no text blow-up on wide schemas) yet
//!   still planned inline with real statistics. Only the recursive closure
//!   of a cycle or self-reference is materialized, as recursion requires.
//! - A base table is never aliased: a rules `where:` may then name its
//!   columns bare or as `table.column`. Our own aliases and CTE names
//!   contain a dot (`"subset.k3"`), which no sane table or column has.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::graph::{Contribution, Edge, Graph, Ident, Mode};
use crate::catalog::Table;
use crate::sql::quote_ident;

/// The sampling seed of every table, by node index.
pub struct Sampling {
    /// `hashtextextended` seed per table, derived from the secret.
    pub seeds: Vec<i64>,
}

/// What one table's COPY query needs.
#[derive(Debug, Default, Clone)]
pub struct TableSql {
    /// `WITH RECURSIVE ...`, or `None` when no CTE is read.
    pub with_sql: Option<String>,
    /// The row predicate, `None` for every row.
    pub predicate: Option<String>,
    /// `LEFT JOIN ...` clauses.
    pub joins: Vec<String>,
    /// Replacement SELECT expressions for nulled reference columns.
    pub columns: Vec<(String, String)>,
}

/// `hashtextextended(..) < threshold` keeps `fraction` of the 64-bit range,
/// counted from the bottom, so a row kept at 10% is kept at 20%.
pub fn threshold(fraction: f64) -> i64 {
    let span = (fraction.clamp(0.0, 1.0) * 18_446_744_073_709_551_616.0) as i128;
    (i64::MIN as i128 + span).min(i64::MAX as i128) as i64
}

/// How many times a sample writes its comparison: `hash < t`, then
/// `hash + 0 < t`, `hash + 0 + 0 < t`, … all true on the same rows (and
/// the later ones computed only for rows the first keeps).
///
/// PostgreSQL has no statistics on the hash, so it guesses that any `<` on
/// it keeps a third of the rows, and it multiplies the guesses of distinct
/// clauses: `n` of them make it expect `3^-n` of the table. The count is
/// the one whose guess is nearest the fraction: at 10%, two (11%) instead
/// of one (33%). With the guess right, the children of a sampled table
/// are planned for a tenth of their parents: they follow the foreign-key
/// index where there is one, instead of hashing three times too many
/// parents and probing every row of the child (half the CPU of the
/// benchmark's `order_items` query, and no hash spilled to disk).
fn planner_clauses(fraction: f64) -> usize {
    if !(fraction > 0.0 && fraction < 1.0) {
        return 1;
    }
    ((fraction.ln() / 3f64.recip().ln()).round() as usize).clamp(1, 8)
}

/// Builds one table's SQL; CTEs are collected as they are first needed, so
/// each is written once and after the ones it reads.
struct Builder<'a> {
    g: &'a Graph,
    tables: &'a [Table],
    sampling: &'a Sampling,
    ctes: Vec<String>,
    written: BTreeSet<String>,
}

/// Builds the SQL of table `t`.
pub fn table_sql(g: &Graph, tables: &[Table], sampling: &Sampling, t: usize) -> TableSql {
    let mut b = Builder {
        g,
        tables,
        sampling,
        ctes: Vec::new(),
        written: BTreeSet::new(),
    };
    let predicate = if g.nodes[t].mode == Mode::Skip {
        Some("FALSE".to_string())
    } else {
        b.k_pred(t)
    };
    let (joins, columns) = b.nulled(t);
    TableSql {
        with_sql: (!b.ctes.is_empty()).then(|| format!("WITH RECURSIVE {}", b.ctes.join(", "))),
        predicate,
        joins,
        columns,
    }
}

/// `a IS NOT NULL AND b IS NOT NULL`: the reference is set (MATCH SIMPLE).
fn set(rel: &str, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("{rel}.{} IS NOT NULL", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The reference `e` of the row `rel` is set and points at `e.parent`:
/// its columns are not NULL and, for a polymorphic reference, its `when:`
/// holds (a NULL condition counts as false). The condition names the
/// child's columns bare, so `rel` must be the only relation in scope.
fn points(rel: &str, e: &Edge) -> String {
    match &e.when {
        Some(when) => format!("{} AND coalesce(({when}), false)", set(rel, &e.columns)),
        None => set(rel, &e.columns),
    }
}

/// The text a sample hashes for `columns` of `rel`: the column's text,
/// or the row of several.
fn key_text(rel: &str, columns: &[String]) -> String {
    match columns {
        [column] => format!("{rel}.{}::text", quote_ident(column)),
        _ => format!("ROW({})::text", list(rel, columns)),
    }
}

fn list(prefix: &str, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("{prefix}.{}", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Builder<'_> {
    /// The table's reference name in a query where it is not aliased.
    fn rel(&self, t: usize) -> String {
        quote_ident(&self.g.nodes[t].name.name)
    }

    /// `ONLY "schema"."table"` (no ONLY for a partitioned root).
    fn from(&self, t: usize) -> String {
        format!(
            "{}{}",
            self.g.nodes[t].kind.only(),
            self.g.nodes[t].name.sql()
        )
    }

    /// The expressions telling rows of `t` apart, on `prefix`.
    fn ident(&self, t: usize, prefix: &str) -> Vec<String> {
        match &self.g.nodes[t].ident {
            Ident::Columns(cols) => cols
                .iter()
                .map(|c| format!("{prefix}.{}", quote_ident(c)))
                .collect(),
            Ident::Ctid => match self.g.nodes[t].kind {
                crate::catalog::TableKind::Partitioned => {
                    vec![format!("{prefix}.tableoid"), format!("{prefix}.ctid")]
                }
                crate::catalog::TableKind::Ordinary => vec![format!("{prefix}.ctid")],
            },
        }
    }

    /// `hashtextextended(key, seed) < threshold`, written as many times
    /// as `planner_clauses` says (see there).
    fn sample(&self, t: usize, fraction: f64) -> String {
        self.sample_of(t, &self.hash_text(t), fraction)
    }

    /// The sample of table `t`, on `text`: the text of `t`'s key, or of
    /// the columns of a reference that point at it.
    fn sample_of(&self, t: usize, text: &str, fraction: f64) -> String {
        let hash = format!("hashtextextended({text}, {})", self.sampling.seeds[t]);
        let threshold = threshold(fraction);
        (0..planner_clauses(fraction))
            .map(|i| format!("{hash}{} < {threshold}", " + 0".repeat(i)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The text hashed for sampling: the key's text, or the whole row's
    /// when the table has no usable key.
    fn hash_text(&self, t: usize) -> String {
        let rel = self.rel(t);
        match &self.g.nodes[t].hash_key {
            Some(cols) => key_text(&rel, cols),
            None => format!("ROW({rel}.*)::text"),
        }
    }

    /// D(e.parent) tested on the child row alone, when that parent is
    /// sampled on the very columns `e` points at (no `where:`): the text
    /// the parent hashes is the child's reference read as text, and the
    /// source's foreign key guarantees the parent row exists. The query
    /// then reads no other table: no scan of the parent and no semi-join
    /// (the benchmark's `orders` query, 0.7 s, takes 0.3 s this way), and
    /// the same rows come out. `None` when any of that does not hold:
    /// a rules reference or a `NOT VALID` key may point at nothing, and
    /// columns of other types may print other text for equal values.
    fn sampled_through(&self, e: &Edge) -> Option<String> {
        let parent = &self.g.nodes[e.parent];
        let Mode::Sample(fraction) = parent.mode else {
            return None;
        };
        if !e.enforced || e.when.is_some() || parent.filter.is_some() || parent.own_sample.is_some()
        {
            return None;
        }
        let key = parent.hash_key.as_ref()?;
        if key.len() != e.parent_columns.len() {
            return None;
        }
        let (child, parent_table) = (self.tables.get(e.child)?, self.tables.get(e.parent)?);
        let mut columns = Vec::with_capacity(key.len());
        for k in key {
            let at = e.parent_columns.iter().position(|p| p == k)?;
            let column = &e.columns[at];
            let same_type = child.column(column)?.type_name == parent_table.column(k)?.type_name;
            if !same_type {
                return None;
            }
            columns.push(column.clone());
        }
        let text = key_text(&self.rel(e.child), &columns);
        Some(self.sample_of(e.parent, &text, fraction))
    }

    /// Registers a CTE unless already written; `body` runs first so the
    /// CTEs it reads come before it.
    fn cte(&mut self, name: String, body: impl FnOnce(&mut Self) -> String) -> String {
        if !self.written.contains(&name) {
            let text = body(self);
            self.written.insert(name.clone());
            self.ctes.push(text);
        }
        name
    }

    /// The rows of D(t), as a CTE.
    fn d_cte(&mut self, t: usize) -> String {
        let name = quote_ident(&format!("subset.d{t}"));
        self.cte(name.clone(), |b| {
            let pred = b.d_pred(t);
            b.rows_cte(&name, t, pred)
        })
    }

    /// The rows of K(t), as a CTE.
    fn k_cte(&mut self, t: usize) -> String {
        let name = quote_ident(&format!("subset.k{t}"));
        self.cte(name.clone(), |b| {
            let pred = b.k_pred(t);
            b.rows_cte(&name, t, pred)
        })
    }

    /// The rows of U(t) (pulled in by kept children), as a CTE.
    fn u_cte(&mut self, t: usize) -> String {
        let name = quote_ident(&format!("subset.u{t}"));
        self.cte(name.clone(), |b| {
            let union = b.contributions(t);
            let pred = format!("({}) IN ({union})", b.ident(t, &b.rel(t)).join(", "));
            b.rows_cte(&name, t, Some(pred))
        })
    }

    fn rows_cte(&self, name: &str, t: usize, pred: Option<String>) -> String {
        let mut s = format!("{name} AS NOT MATERIALIZED (SELECT * FROM {}", self.from(t));
        if let Some(p) = pred {
            let _ = write!(s, " WHERE {p}");
        }
        s.push(')');
        s
    }

    /// Is row `rel` of `e.child` in D of `e.parent`, given the reference is
    /// set? Always, when the parent is complete.
    fn follows(&mut self, e: &Edge) -> Option<String> {
        if self.g.nodes[e.parent].complete {
            return None;
        }
        if let Some(sample) = self.sampled_through(e) {
            return Some(sample);
        }
        let rel = self.rel(e.child);
        let d = self.d_cte(e.parent);
        Some(format!(
            "({}) IN (SELECT {} FROM {d} \"subset.s\")",
            list(&rel, &e.columns),
            list("\"subset.s\"", &e.parent_columns)
        ))
    }

    /// D(t) as a predicate on the unaliased row of `t`; `None` is TRUE.
    fn d_pred(&mut self, t: usize) -> Option<String> {
        let node = &self.g.nodes[t];
        let filter = node.filter.as_ref().map(|f| format!("({f})"));
        if node.complete {
            return None;
        }
        let rel = self.rel(t);
        let own_sample = node.own_sample.map(|f| self.sample(t, f));
        let own = match node.mode.clone() {
            // Closed: nothing of its own, only what kept rows reference.
            Mode::Skip | Mode::Closed => Some("FALSE".to_string()),
            Mode::All => None,
            Mode::Sample(f) => Some(self.sample(t, f)),
            Mode::Follow { drivers, fallback } => {
                let first = &self.g.edges[drivers[0]];
                if first.not_null && node.cap.is_none() {
                    // The common case: one reference, always set, is
                    // followed as a plain semi-join.
                    let first = first.clone();
                    self.follows(&first)
                } else {
                    let branches = self.branches(t, &drivers, fallback);
                    Some(format!(
                        "({}) IN ({})",
                        self.ident(t, &rel).join(", "),
                        branches.join(" UNION ALL ")
                    ))
                }
            }
        };
        let parts: Vec<String> = [filter, own, own_sample].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    /// One SELECT of keys per driver: rows whose first set reference is
    /// that driver and whose parent is driven, capped per parent; then the
    /// rows with no reference set, sampled on their own.
    fn branches(&mut self, t: usize, drivers: &[usize], fallback: Option<f64>) -> Vec<String> {
        let node = self.g.nodes[t].clone();
        let rel = self.rel(t);
        let ident = self.ident(t, &rel);
        let mut out = Vec::new();
        let mut unset: Vec<String> = Vec::new();
        let mut all_covered = false;
        for &d in drivers {
            let e = self.g.edges[d].clone();
            let mut conds: Vec<String> = node.filter.iter().map(|f| format!("({f})")).collect();
            conds.extend(unset.iter().cloned());
            if !e.not_null {
                conds.push(points(&rel, &e));
            }
            if let Some(f) = self.follows(&e) {
                conds.push(f);
            }
            let mut select = format!("SELECT {} FROM {}", ident.join(", "), self.from(t));
            if !conds.is_empty() {
                let _ = write!(select, " WHERE {}", conds.join(" AND "));
            }
            if let Some(cap) = node.cap {
                // The first `cap` children of each parent in keyed-hash
                // order: the same rows at any fraction, so still monotone.
                let aliases: Vec<String> = (0..ident.len())
                    .map(|i| quote_ident(&format!("subset.i{i}")))
                    .collect();
                let inner: Vec<String> = ident
                    .iter()
                    .zip(&aliases)
                    .map(|(x, a)| format!("{x} AS {a}"))
                    .collect();
                let mut ranked = format!(
                    "SELECT {}, row_number() OVER (PARTITION BY {} ORDER BY hashtextextended({}, {}), {}) AS \"subset.rn\" FROM {}",
                    inner.join(", "),
                    list(&rel, &e.columns),
                    self.hash_text(t),
                    self.sampling.seeds[t],
                    ident.join(", "),
                    self.from(t)
                );
                if !conds.is_empty() {
                    let _ = write!(ranked, " WHERE {}", conds.join(" AND "));
                }
                select = format!(
                    "SELECT {} FROM ({ranked}) \"subset.c\" WHERE \"subset.rn\" <= {cap}",
                    aliases.join(", ")
                );
            }
            out.push(select);
            if e.not_null {
                // Every row has this reference set: later branches are empty.
                all_covered = true;
                break;
            }
            unset.push(format!("NOT ({})", points(&rel, &e)));
        }
        if !all_covered {
            let mut conds: Vec<String> = node.filter.iter().map(|f| format!("({f})")).collect();
            conds.extend(unset);
            if let Some(f) = fallback {
                conds.push(self.sample(t, f));
            }
            out.push(format!(
                "SELECT {} FROM {} WHERE {}",
                ident.join(", "),
                self.from(t),
                conds.join(" AND ")
            ));
        }
        out
    }

    /// K(t) as a predicate on the unaliased row of `t`; `None` is TRUE.
    fn k_pred(&mut self, t: usize) -> Option<String> {
        let node = &self.g.nodes[t];
        if node.complete {
            return None;
        }
        let rel = self.rel(t);
        if let Some(group) = node.group {
            let r = self.r_cte(group);
            let member = self.g.groups[group]
                .members
                .iter()
                .position(|&m| m == t)
                .expect("member of its group");
            let cols = self.group_columns(group)[member].clone();
            let n = self.ident(t, &rel).len();
            let picked: Vec<String> = cols[..n].iter().map(|(name, _)| name.clone()).collect();
            return Some(format!(
                "({}) IN (SELECT {} FROM {r} WHERE tag = {member})",
                self.ident(t, &rel).join(", "),
                picked.join(", ")
            ));
        }
        if node.contributions.is_empty() {
            return self.d_pred(t);
        }
        Some(format!(
            "({}) IN ({})",
            self.ident(t, &rel).join(", "),
            self.seed_union(t, &self.g.nodes[t].contributions.clone())
        ))
    }

    /// Keys of D(t) followed by the keys that `contributions` pull in.
    fn seed_union(&mut self, t: usize, contributions: &[Contribution]) -> String {
        let rel = self.rel(t);
        let mut parts = Vec::new();
        if self.g.nodes[t].mode != Mode::Closed {
            parts.push(match self.d_pred(t) {
                Some(p) => format!(
                    "SELECT {} FROM {} WHERE {p}",
                    self.ident(t, &rel).join(", "),
                    self.from(t)
                ),
                None => format!(
                    "SELECT {} FROM {}",
                    self.ident(t, &rel).join(", "),
                    self.from(t)
                ),
            });
        }
        for c in contributions {
            parts.push(self.contribution(t, c));
        }
        parts.join(" UNION ALL ")
    }

    /// Keys of U(t): the union of what every contribution pulls in.
    fn contributions(&mut self, t: usize) -> String {
        let contributions = self.g.nodes[t].contributions.clone();
        contributions
            .iter()
            .map(|c| self.contribution(t, c))
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    }

    /// Keys of `t` referenced by the kept (or pulled-in) rows of the edge's
    /// child.
    fn contribution(&mut self, t: usize, c: &Contribution) -> String {
        let e = self.g.edges[c.edge].clone();
        let source = if c.from_u {
            self.u_cte(e.child)
        } else {
            self.k_cte(e.child)
        };
        let s = "\"subset.s\"";
        let key_is_ident =
            matches!(&self.g.nodes[t].ident, Ident::Columns(cols) if *cols == e.parent_columns);
        if key_is_ident {
            format!(
                "SELECT {} FROM {source} {s} WHERE {}",
                list(s, &e.columns),
                points(s, &e)
            )
        } else {
            let rel = self.rel(t);
            format!(
                "SELECT {} FROM {} WHERE ({}) IN (SELECT {} FROM {source} {s} WHERE {})",
                self.ident(t, &rel).join(", "),
                self.from(t),
                list(&rel, &e.parent_columns),
                list(s, &e.columns),
                points(s, &e)
            )
        }
    }

    /// Per member of `group`, the CTE's columns it fills: its key first,
    /// then the columns of its references inside the group. Each as (CTE
    /// column name, SQL type).
    fn group_columns(&self, group: usize) -> Vec<Vec<(String, String)>> {
        let g = &self.g.groups[group];
        g.members
            .iter()
            .enumerate()
            .map(|(i, &m)| {
                self.group_sources(group, i)
                    .iter()
                    .enumerate()
                    .map(|(j, source)| {
                        // System columns cannot be user column names.
                        let ty = match source.as_str() {
                            "tableoid" => "oid".to_string(),
                            "ctid" => "tid".to_string(),
                            _ => self.tables[m]
                                .column(source)
                                .map(|c| c.type_name.clone())
                                .expect("group columns exist"),
                        };
                        (quote_ident(&format!("m{i}_{j}")), ty)
                    })
                    .collect()
            })
            .collect()
    }

    /// The source column of each CTE column of `member` (same order as
    /// `group_columns`).
    fn group_sources(&self, group: usize, member: usize) -> Vec<String> {
        let g = &self.g.groups[group];
        let m = g.members[member];
        let mut sources: Vec<String> = match &self.g.nodes[m].ident {
            Ident::Columns(key) => key.clone(),
            Ident::Ctid => {
                let mut v = Vec::new();
                if self.g.nodes[m].kind == crate::catalog::TableKind::Partitioned {
                    v.push("tableoid".to_string());
                }
                v.push("ctid".to_string());
                v
            }
        };
        for &e in &g.edges {
            let edge = &self.g.edges[e];
            if edge.child == m {
                for c in &edge.columns {
                    if !sources.contains(c) {
                        sources.push(c.clone());
                    }
                }
            }
        }
        sources
    }

    /// One row of the group CTE for `member`, read from the unaliased
    /// table: the tag, its own columns, typed NULLs for everyone else's.
    fn group_row(&self, group: usize, member: usize) -> String {
        let layout = self.group_columns(group);
        let m = self.g.groups[group].members[member];
        let rel = self.rel(m);
        let mut values = vec![member.to_string()];
        for (i, cols) in layout.iter().enumerate() {
            if i == member {
                for source in self.group_sources(group, member) {
                    values.push(format!("{rel}.{}", quote_ident(&source)));
                }
            } else {
                for (_, ty) in cols {
                    values.push(format!("NULL::{ty}"));
                }
            }
        }
        values.join(", ")
    }

    /// The recursive closure of a group: seeded with each member's D and
    /// the rows children outside the group pull in, then following the
    /// group's references from every row found until nothing new appears
    /// (`UNION` drops repeats, so a cycle in the data ends too).
    fn r_cte(&mut self, group: usize) -> String {
        let name = quote_ident(&format!("subset.r{group}"));
        self.cte(name.clone(), |b| {
            let layout = b.group_columns(group);
            let members = b.g.groups[group].members.clone();
            let internal: BTreeSet<usize> = b.g.groups[group].edges.iter().copied().collect();
            let mut columns = vec!["tag".to_string()];
            columns.extend(layout.iter().flatten().map(|(n, _)| n.clone()));

            let mut seeds = Vec::new();
            for (i, &m) in members.iter().enumerate() {
                let rel = b.rel(m);
                let external: Vec<Contribution> = b.g.nodes[m]
                    .contributions
                    .iter()
                    .copied()
                    .filter(|c| !internal.contains(&c.edge))
                    .collect();
                let pred = if external.is_empty() {
                    b.d_pred(m)
                } else {
                    Some(format!(
                        "({}) IN ({})",
                        b.ident(m, &rel).join(", "),
                        b.seed_union(m, &external)
                    ))
                };
                let mut seed = format!("SELECT {} FROM {}", b.group_row(group, i), b.from(m));
                if let Some(p) = pred {
                    let _ = write!(seed, " WHERE {p}");
                }
                seeds.push(seed);
            }

            let r = "\"subset.r\"";
            let mut steps = Vec::new();
            for &e in &b.g.groups[group].edges {
                let edge = &b.g.edges[e];
                let child = members.iter().position(|&m| m == edge.child).unwrap();
                let parent = members.iter().position(|&m| m == edge.parent).unwrap();
                let sources = b.group_sources(group, child);
                let child_cols: Vec<String> = edge
                    .columns
                    .iter()
                    .map(|c| {
                        let j = sources.iter().position(|s| s == c).unwrap();
                        format!("{r}.{}", layout[child][j].0)
                    })
                    .collect();
                let prel = b.rel(edge.parent);
                steps.push(format!(
                    "SELECT {} FROM {} WHERE {r}.tag = {child} AND ({}) = ({})",
                    b.group_row(group, parent),
                    b.from(edge.parent),
                    list(&prel, &edge.parent_columns),
                    child_cols.join(", ")
                ));
            }
            format!(
                "{name}({}) AS ({} UNION SELECT \"subset.n\".* FROM {name} {r}, LATERAL ({}) \"subset.n\")",
                columns.join(", "),
                seeds.join(" UNION ALL "),
                steps.join(" UNION ALL ")
            )
        })
    }

    /// Joins and column expressions that set a nulled reference to NULL
    /// when its parent row is not kept.
    fn nulled(&mut self, t: usize) -> (Vec<String>, Vec<(String, String)>) {
        let rel = self.rel(t);
        let mut joins = Vec::new();
        // column -> conditions under which it becomes NULL
        let mut when_null: Vec<(String, Vec<String>)> = Vec::new();
        let edges: Vec<Edge> = self
            .g
            .edges_from(t)
            .iter()
            .map(|&e| &self.g.edges[e])
            .filter(|e| !e.nulled.is_empty())
            .cloned()
            .collect();
        for e in edges {
            let parent = &self.g.nodes[e.parent];
            let condition = if parent.mode == Mode::Skip {
                "TRUE".to_string()
            } else if parent.complete {
                continue;
            } else {
                let k = self.k_cte(e.parent);
                let alias = quote_ident(&format!("subset.n{}", joins.len()));
                let keys: Vec<String> = (0..e.parent_columns.len())
                    .map(|i| quote_ident(&format!("subset.p{i}")))
                    .collect();
                let select: Vec<String> = e
                    .parent_columns
                    .iter()
                    .zip(&keys)
                    .map(|(c, k)| format!("\"subset.s\".{} AS {k}", quote_ident(c)))
                    .collect();
                let on: Vec<String> = e
                    .columns
                    .iter()
                    .zip(&keys)
                    .map(|(c, k)| format!("{alias}.{k} = {rel}.{}", quote_ident(c)))
                    .collect();
                joins.push(format!(
                    "LEFT JOIN (SELECT {}{} FROM {k} \"subset.s\") {alias} ON {}",
                    // A virtual reference may name non-unique columns; a
                    // duplicate would duplicate the child row.
                    if e.parent_unique { "" } else { "DISTINCT " },
                    select.join(", "),
                    on.join(" AND ")
                ));
                format!("{alias}.{} IS NULL", keys[0])
            };
            for c in &e.nulled {
                match when_null.iter_mut().find(|(name, _)| name == c) {
                    Some((_, conds)) => conds.push(condition.clone()),
                    None => when_null.push((c.clone(), vec![condition.clone()])),
                }
            }
        }
        let columns = when_null
            .into_iter()
            .map(|(c, conds)| {
                let expr = format!(
                    "CASE WHEN {} THEN NULL ELSE {rel}.{} END",
                    conds.join(" OR "),
                    quote_ident(&c)
                );
                (c, expr)
            })
            .collect();
        (joins, columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_of(t: usize) -> TableSql {
        let g = crate::subset::graph::tests::shop(Some(0.5));
        let sampling = Sampling {
            seeds: (0..g.nodes.len() as i64).collect(),
        };
        table_sql(&g, &[], &sampling, t)
    }

    #[test]
    fn a_root_is_a_hash_under_a_threshold() {
        let s = sql_of(0);
        assert_eq!(s.with_sql, None);
        assert_eq!(
            s.predicate.as_deref(),
            Some(r#"hashtextextended("customers"."id"::text, 0) < 0"#)
        );
    }

    #[test]
    fn a_follower_is_a_semi_join_on_its_parents_driven_rows() {
        let s = sql_of(3);
        assert_eq!(
            s.with_sql.as_deref(),
            Some(concat!(
                r#"WITH RECURSIVE "subset.d0" AS NOT MATERIALIZED (SELECT * FROM ONLY "public"."customers" WHERE hashtextextended("customers"."id"::text, 0) < 0), "#,
                r#""subset.d2" AS NOT MATERIALIZED (SELECT * FROM ONLY "public"."orders" WHERE ("orders"."customer_id") IN (SELECT "subset.s"."id" FROM "subset.d0" "subset.s"))"#
            ))
        );
        assert_eq!(
            s.predicate.as_deref(),
            Some(
                r#"("order_items"."order_id") IN (SELECT "subset.s"."id" FROM "subset.d2" "subset.s")"#
            )
        );
    }

    /// The shop's tables, every column `bigint` but orders' `customer_id`,
    /// which is `customer_id_type`.
    fn shop_tables(customer_id_type: &str) -> Vec<Table> {
        let shop: [(&str, &[&str]); 6] = [
            ("customers", &[]),
            ("addresses", &["customer_id"]),
            ("orders", &["customer_id"]),
            ("order_items", &["order_id", "product_id"]),
            ("products", &[]),
            ("employees", &["manager_id"]),
        ];
        shop.iter()
            .map(|(name, references)| {
                let mut columns = vec![crate::catalog::Column::new(
                    "id",
                    "bigint",
                    crate::catalog::TypeKind::Int64,
                )];
                for r in *references {
                    let type_name = match (*name, *r) {
                        ("orders", "customer_id") => customer_id_type,
                        _ => "bigint",
                    };
                    columns.push(crate::catalog::Column::new(
                        r,
                        type_name,
                        crate::catalog::TypeKind::Int64,
                    ));
                }
                Table {
                    oid: 0,
                    name: crate::catalog::QualifiedName::new("public", *name),
                    kind: crate::catalog::TableKind::Ordinary,
                    columns,
                    unique_keys: Vec::new(),
                    unique_indexes: Vec::new(),
                    exclusions: Vec::new(),
                    foreign_keys: Vec::new(),
                    estimated_rows: 0,
                    rows_from: Default::default(),
                    estimated_bytes: 0,
                    row_security: crate::catalog::RowSecurity::Off,
                }
            })
            .collect()
    }

    fn sql_with_tables(g: &Graph, tables: &[Table], t: usize) -> TableSql {
        let sampling = Sampling {
            seeds: (0..g.nodes.len() as i64).collect(),
        };
        table_sql(g, tables, &sampling, t)
    }

    #[test]
    fn a_child_of_a_sampled_parent_hashes_its_own_reference_under_an_enforced_key() {
        let g = crate::subset::graph::tests::shop(Some(0.5));
        let tables = shop_tables("bigint");
        // Orders hash their customer_id with the customers' seed: the
        // customers the sample keeps, without reading customers.
        let orders = sql_with_tables(&g, &tables, 2);
        assert_eq!(orders.with_sql, None);
        assert_eq!(
            orders.predicate.as_deref(),
            Some(r#"hashtextextended("orders"."customer_id"::text, 0) < 0"#)
        );
        // Items still follow their orders, whose rows are now read alone.
        let items = sql_with_tables(&g, &tables, 3);
        assert_eq!(
            items.with_sql.as_deref(),
            Some(
                r#"WITH RECURSIVE "subset.d2" AS NOT MATERIALIZED (SELECT * FROM ONLY "public"."orders" WHERE hashtextextended("orders"."customer_id"::text, 0) < 0)"#
            )
        );
    }

    #[test]
    fn a_reference_the_source_does_not_enforce_or_of_another_type_reads_the_parent() {
        let semi_join = Some(
            r#"("orders"."customer_id") IN (SELECT "subset.s"."id" FROM "subset.d0" "subset.s")"#,
        );
        // A `NOT VALID` key or a rules reference may point at no row.
        let mut g = crate::subset::graph::tests::shop(Some(0.5));
        g.edges[1].enforced = false;
        let orders = sql_with_tables(&g, &shop_tables("bigint"), 2);
        assert_eq!(orders.predicate.as_deref(), semi_join);
        assert!(orders.with_sql.is_some());
        // `numeric` prints `7.0` where `bigint` prints `7`: other text,
        // another hash.
        let g = crate::subset::graph::tests::shop(Some(0.5));
        let orders = sql_with_tables(&g, &shop_tables("numeric"), 2);
        assert_eq!(orders.predicate.as_deref(), semi_join);
        // A parent with a `where:` keeps fewer rows than its sample.
        let mut g = crate::subset::graph::tests::shop(Some(0.5));
        g.nodes[0].filter = Some("id > 0".into());
        let orders = sql_with_tables(&g, &shop_tables("bigint"), 2);
        assert_eq!(orders.predicate.as_deref(), semi_join);
    }

    #[test]
    fn a_closed_over_table_keeps_only_the_referenced_keys() {
        // At 10%, 90,000 items name 50,000 products: not enough to copy
        // them whole.
        let g = crate::subset::graph::tests::shop(Some(0.1));
        let sampling = Sampling {
            seeds: (0..g.nodes.len() as i64).collect(),
        };
        let s = table_sql(&g, &[], &sampling, 4);
        assert_eq!(
            s.predicate.as_deref(),
            Some(concat!(
                r#"("products"."id") IN (SELECT "subset.s"."product_id" FROM "subset.k3" "subset.s" "#,
                r#"WHERE "subset.s"."product_id" IS NOT NULL)"#
            ))
        );
    }

    #[test]
    fn a_sample_tells_the_planner_its_share_by_the_number_of_its_clauses() {
        assert_eq!(planner_clauses(0.5), 1);
        assert_eq!(planner_clauses(0.1), 2);
        assert_eq!(planner_clauses(0.01), 4);
        assert_eq!(planner_clauses(1e-9), 8);
        assert_eq!(planner_clauses(0.0), 1);
        assert_eq!(planner_clauses(1.0), 1);
        let g = crate::subset::graph::tests::shop(Some(0.1));
        let sampling = Sampling {
            seeds: (0..g.nodes.len() as i64).collect(),
        };
        let t = threshold(0.1);
        assert_eq!(
            table_sql(&g, &[], &sampling, 0).predicate,
            Some(format!(
                r#"hashtextextended("customers"."id"::text, 0) < {t} AND hashtextextended("customers"."id"::text, 0) + 0 < {t}"#
            ))
        );
    }

    #[test]
    fn thresholds_grow_with_the_fraction() {
        assert_eq!(threshold(0.0), i64::MIN);
        assert_eq!(threshold(0.5), 0);
        assert_eq!(threshold(1.0), i64::MAX);
        assert!(threshold(0.1) < threshold(0.2));
        assert!(threshold(0.1) > i64::MIN);
    }
}
