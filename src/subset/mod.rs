//! Subsetting: which rows of each table are copied.
//!
//! Root tables (no foreign key to another table) are sampled by a keyed
//! hash of their primary key; other tables follow the rows they reference,
//! and every row a kept row references is kept too, so the target has no
//! orphan. Everything is expressed as one SQL predicate per table, evaluated
//! inside each table's COPY query on the source within the run's snapshot,
//! so nothing is written and no key set is held in memory by anonymize.
//!
//! `graph.rs` decides what each table keeps; `sql.rs` writes it as SQL;
//! this file reads the rules into the graph and the result into the plan.
//! `docs/subsetting.md` is the user's account of the same.

mod graph;
mod sql;

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::catalog::{ForeignKey, QualifiedName, Table, TypeKind};
use crate::error::{Location, RulesError, RulesErrors};
use crate::key::Key;
use crate::rules::{parse_table_name, Rules, TableRule};
use graph::{Edge, Graph, Ident, Mode, Node, Pin, Settings};

/// The share (`10%`, `all`) is part of the rules' language; re-exported
/// here, where it is used most.
pub use crate::rules::subset::SubsetSpec;

/// What `select` needs to know of one copied table.
pub struct Input<'a> {
    pub table: &'a Table,
    /// The rules' `where:`.
    pub filter: Option<&'a str>,
    /// `skip: true`.
    pub skip: bool,
}

/// How one table's rows are chosen: `plan::prepare` keeps it in the
/// table's plan whole (`TablePlan::selection`), all but `columns`, which
/// it hands to the columns they replace.
#[derive(Debug, Default)]
pub struct Selection {
    pub predicate: Option<String>,
    pub with_sql: Option<String>,
    pub joins: Vec<String>,
    /// (column, SQL) that replaces the plain column in the source query.
    pub columns: Vec<(String, String)>,
    /// How the rows are chosen, in words.
    pub text: String,
    pub empty_by_rule: bool,
    pub expected_empty: bool,
    pub estimated_kept: Option<i64>,
    /// Keys the rules declare (`references:`), for the table's list.
    pub references: Vec<ForeignKey>,
}

impl Selection {
    /// The rows depend on other tables' rows (a followed parent, a
    /// closure over kept children, a nulled reference): the query selects
    /// those tables' rows too, every time it runs. Everything `sql.rs`
    /// reads of another table goes through a CTE, so this is `with_sql`.
    pub fn reads_other_tables(&self) -> bool {
        self.with_sql.is_some()
    }
}

/// Chooses each table's rows from the rules' `where:`, `subset:`,
/// `references:`, `max_per_parent:` and `null_outside_subset:` and the
/// run's subset; one `Selection` per input, in order. Every problem in
/// those rules is reported at once. Part of `plan::prepare`; `key` (the
/// secret) seeds the sample, `None` gives the unkeyed one.
pub(crate) fn select(
    inputs: &[Input<'_>],
    rules: &Rules,
    key: Option<&Key>,
) -> Result<Vec<Selection>, RulesErrors> {
    let mut problems = Vec::new();
    let tables: Vec<Table> = inputs.iter().map(|t| t.table.clone()).collect();
    let mut out: Vec<Selection> = inputs.iter().map(|_| Selection::default()).collect();
    // By name: `Rules::table` is a scan, and a scan per table is
    // quadratic with tens of thousands of tables.
    let mut rules_by_table: HashMap<&QualifiedName, &TableRule> = HashMap::new();
    for rule in &rules.tables {
        rules_by_table.entry(&rule.name).or_insert(rule);
    }
    let rule_of = |i: usize| rules_by_table.get(&tables[i].name).copied();

    let mut nodes: Vec<Node> = (0..tables.len())
        .map(|i| {
            node(
                &tables[i],
                inputs[i].filter.map(str::to_string),
                inputs[i].skip,
                rule_of(i),
            )
        })
        .collect();
    for (i, t) in tables.iter().enumerate() {
        if let Some(cap) = rule_of(i).and_then(|r| r.max_per_parent) {
            if cap == 0 {
                problems.push(RulesError {
                    location: rule_of(i).unwrap().location_of("max_per_parent"),
                    message: format!("table {}: max_per_parent must be at least 1", t.name),
                    hint: Some("remove it to follow every child of a kept parent".into()),
                });
            }
        }
    }

    // By name, so that following ten thousand keys is not a scan each.
    let index_of: HashMap<&QualifiedName, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (&t.name, i))
        .collect();
    let mut edges = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        for fk in &t.foreign_keys {
            // A key to a table outside the copy (a partition named directly,
            // an extension's table) has nothing to follow.
            let Some(&parent) = index_of.get(&fk.parent) else {
                continue;
            };
            edges.push(edge(t, i, parent, fk, true));
        }
        if let Some(rule) = rule_of(i) {
            for (n, r) in rule.references.iter().enumerate() {
                match virtual_reference(&tables, i, rule, n, r) {
                    Ok((parent, fk)) => {
                        let unique = tables[parent].unique_keys.iter().any(|k| {
                            k.columns.len() == fk.parent_columns.len()
                                && k.columns.iter().all(|c| fk.parent_columns.contains(c))
                        });
                        let mut e = edge(t, i, parent, &fk, unique);
                        if let Some(when) = &r.when {
                            // Not every row points at this parent.
                            e.not_null = false;
                            e.when = Some(when.clone());
                        }
                        edges.push(e);
                        out[i].references.push(fk);
                    }
                    Err(e) => problems.push(e),
                }
            }
        }
    }
    for (i, t) in tables.iter().enumerate() {
        let Some(rule) = rule_of(i) else { continue };
        for column in &rule.null_outside_subset {
            if let Some(problem) = check_nulled(t, i, rule, column, &edges) {
                problems.push(problem);
            }
        }
        for e in edges.iter_mut().filter(|e| e.child == i) {
            e.nulled = e
                .columns
                .iter()
                .filter(|c| rule.null_outside_subset.contains(c))
                .cloned()
                .collect();
            if e.when.is_some() && !e.nulled.is_empty() {
                // The column points at several tables: NULL for a missing
                // parent of one would also cut it from the others.
                problems.push(RulesError {
                    location: rule.location_of("null_outside_subset"),
                    message: format!(
                        "null_outside_subset: column {}.{} is a polymorphic reference (`{}`); it cannot be set to NULL per parent",
                        t.name,
                        e.nulled[0],
                        e.name
                    ),
                    hint: Some("remove it from `null_outside_subset:`; the rows it points at are then pulled into the subset".into()),
                });
            }
        }
    }
    pin(&mut nodes, &edges, &tables, rules, &rule_of, &mut problems);
    if !problems.is_empty() {
        return Err(RulesErrors(problems));
    }

    let fraction = match rules.subset {
        Some(SubsetSpec::Fraction(f)) => Some(f),
        _ => None,
    };
    let g = Graph::solve(nodes, edges, &Settings { fraction });
    // A cycle is closed by a recursive query that carries only keys and
    // reference columns, not what a polymorphic condition reads.
    for group in &g.groups {
        for &e in &group.edges {
            let edge = &g.edges[e];
            if edge.when.is_some() {
                let rule =
                    rule_of(edge.child).expect("a polymorphic reference comes from the rules");
                problems.push(RulesError {
                    location: rule.location_of("references"),
                    message: format!(
                        "table {}: the polymorphic reference `{}` is part of a cycle of references, which a subset cannot follow under a condition",
                        tables[edge.child].name, edge.name
                    ),
                    hint: Some("drop its `when:` (a plain reference), or list the cycle's tables under `subset: all`".into()),
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(RulesErrors(problems));
    }
    if !g.is_partial() {
        // Every table whole: plain COPY queries, as in a full sync.
        for (s, input) in out.iter_mut().zip(inputs) {
            s.text = if input.skip { "skipped" } else { "all rows" }.into();
            s.empty_by_rule = input.skip;
        }
        return Ok(out);
    }
    let unkeyed;
    let key = match key {
        Some(k) => k,
        None => {
            unkeyed = Key::new(UNKEYED_SAMPLE);
            &unkeyed
        }
    };
    let sampling = sql::Sampling {
        seeds: tables.iter().map(|t| seed(key, &t.name)).collect(),
    };
    for (i, out) in out.iter_mut().enumerate() {
        let s = sql::table_sql(&g, &tables, &sampling, i);
        out.predicate = s.predicate;
        out.with_sql = s.with_sql;
        out.joins = s.joins;
        out.columns = s.columns;
        out.text = describe(&g, i);
        out.empty_by_rule = asked_for_less(&g, i, &mut Vec::new());
        out.expected_empty = g.nodes[i].est_min < 0.5;
        out.estimated_kept =
            (tables[i].estimated_rows >= 0).then(|| g.nodes[i].est_k.round() as i64);
    }
    Ok(out)
}

/// "did you mean" among `names`, for a name the rules got wrong.
fn did_you_mean(name: &str, names: &[String]) -> Option<String> {
    let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
    crate::did_you_mean::closest(name, refs.iter().copied()).map(|s| format!("did you mean `{s}`?"))
}

/// Applies `subset: { roots: [...] }` and the tables' `subset: { follow:
/// constraint }`, reporting names that are not in the schema.
fn pin<'r>(
    nodes: &mut [Node],
    edges: &[Edge],
    tables: &[Table],
    rules: &Rules,
    rule_of: &dyn Fn(usize) -> Option<&'r TableRule>,
    problems: &mut Vec<RulesError>,
) {
    let names: Vec<String> = tables.iter().map(|t| t.name.to_string()).collect();
    let roots_location = rules.roots_location.clone().unwrap_or_else(|| Location {
        file: rules.files.join(", "),
        line: 0,
        column: 0,
    });
    for written in &rules.roots {
        let found = parse_table_name(written)
            .ok()
            .and_then(|n| tables.iter().position(|t| t.name == n));
        let Some(i) = found else {
            problems.push(RulesError {
                location: roots_location.clone(),
                message: format!("subset roots: table {written} is not in the source database"),
                hint: did_you_mean(written, &names)
                    .or_else(|| Some("name the table as `schema.table`".into())),
            });
            continue;
        };
        let rule = rule_of(i);
        if nodes[i].mode == Mode::Skip
            || rule.is_some_and(|r| r.subset.is_some() || r.follow.is_some())
        {
            problems.push(RulesError {
                location: roots_location.clone(),
                message: format!(
                    "subset roots: table {} also has its own `subset:` or `skip:`",
                    tables[i].name
                ),
                hint: Some("keep one of the two".into()),
            });
            continue;
        }
        nodes[i].pin = Pin::Root;
    }
    for (i, t) in tables.iter().enumerate() {
        let Some(rule) = rule_of(i) else {
            continue;
        };
        let Some(constraint) = &rule.follow else {
            continue;
        };
        let location = rule.location_of("subset");
        let own: Vec<usize> = (0..edges.len()).filter(|&e| edges[e].child == i).collect();
        match own.iter().find(|&&e| edges[e].name == *constraint) {
            Some(&e) if edges[e].parent == i => problems.push(RulesError {
                location,
                message: format!(
                    "table {}: `follow: {constraint}` references the table itself",
                    t.name
                ),
                hint: Some(
                    "follow a reference to another table; a self-reference is closed over anyway"
                        .into(),
                ),
            }),
            Some(&e) => nodes[i].pin = Pin::Follow(e),
            None => {
                let fks: Vec<String> = own
                    .iter()
                    .filter(|&&e| !edges[e].name.starts_with("references "))
                    .map(|&e| edges[e].name.clone())
                    .collect();
                let hint = did_you_mean(constraint, &fks).or_else(|| {
                    Some(if fks.is_empty() {
                        "the table has no foreign key to follow".to_string()
                    } else {
                        format!("its foreign keys: {}", fks.join(", "))
                    })
                });
                problems.push(RulesError {
                    location,
                    message: format!(
                        "table {}: `follow: {constraint}` is not a foreign key of the table",
                        t.name
                    ),
                    hint,
                });
            }
        }
    }
}

/// True when the rules themselves make the table small or empty: `skip`,
/// a `where:` on it or on the rows it follows, or a share of its own.
/// Such a table coming out empty is not worth a warning.
fn asked_for_less(g: &Graph, t: usize, seen: &mut Vec<usize>) -> bool {
    if seen.contains(&t) {
        return false;
    }
    seen.push(t);
    let node = &g.nodes[t];
    node.filter.is_some()
        || match &node.mode {
            Mode::Skip => true,
            Mode::Sample(_) => node.explicit,
            Mode::Follow { drivers, .. } => asked_for_less(g, g.edges[drivers[0]].parent, seen),
            Mode::Closed => node.contributions.iter().all(|c| {
                let child = g.edges[c.edge].child;
                child != t && asked_for_less(g, child, seen)
            }),
            Mode::All => false,
        }
}

/// The key the sample is drawn with when no secret is given: the empty
/// one, so a run without a secret samples the same rows every time. Such a
/// sample hides nothing (anyone can compute it), which is fine: sampling
/// picks rows, it protects no value.
const UNKEYED_SAMPLE: &[u8] = b"";

/// The sampling seed of a table: 64 bits of `HMAC(secret, "subset" ‖
/// table)`. It appears in the SQL sent to the source; it reveals which rows
/// are sampled, never the secret. The table's name is mixed in so that two
/// tables with the same key values are not sampled alike.
fn seed(key: &Key, table: &QualifiedName) -> i64 {
    let d = key.digest(b"subset", table.sql().as_bytes());
    i64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

/// A table as the graph first sees it: what the rules ask of it, before
/// any foreign key says what it must also keep.
fn node(table: &Table, filter: Option<String>, skip: bool, rule: Option<&TableRule>) -> Node {
    // A primary key, else a unique key that cannot hold NULLs, tells rows
    // apart and is what sampling hashes.
    let key = table.primary_key().map(|k| k.columns.clone()).or_else(|| {
        table
            .unique_keys
            .iter()
            .find(|k| {
                k.columns
                    .iter()
                    .all(|c| table.column(c).is_some_and(|c| c.not_null))
            })
            .map(|k| k.columns.clone())
    });
    // `explicit`: the rules gave the table its own share, so coming out
    // small is what they asked for (see `asked_for_less`). A table with no
    // word of its own starts whole; the solver decides whether it samples,
    // follows a parent or is closed over.
    let (mode, explicit) = match (skip, rule.and_then(|r| r.subset)) {
        (true, _) => (Mode::Skip, false),
        (false, Some(SubsetSpec::All)) => (Mode::All, true),
        (false, Some(SubsetSpec::Fraction(f))) => (Mode::Sample(f), true),
        (false, None) => (Mode::All, false),
    };
    Node {
        name: table.name.clone(),
        kind: table.kind,
        filter,
        mode,
        explicit,
        pin: Pin::None,
        reference: false,
        rooted: false,
        root_rows: 0.0,
        own_sample: None,
        unit: Vec::new(),
        saturated: None,
        cap: rule.and_then(|r| r.max_per_parent),
        level: 0,
        ident: match &key {
            Some(cols) => Ident::Columns(cols.clone()),
            None => Ident::Ctid,
        },
        hash_key: key,
        complete: false,
        contributions: Vec::new(),
        group: None,
        est_rows: table.estimated_rows.max(0) as f64,
        est_known: table.estimated_rows >= 0,
        est_d: 0.0,
        est_k: 0.0,
        est_min: 0.0,
    }
}

/// A foreign key (or a `references:` entry) as an edge from child `i` to
/// `parent`. `not_null`: every child row references a parent row (a NULL
/// reference points at nothing, so it pulls nothing in). `parent_unique`:
/// the referenced columns are a key of the parent, so each child row has
/// at most one parent; a `references:` entry need not be.
fn edge(child: &Table, i: usize, parent: usize, fk: &ForeignKey, parent_unique: bool) -> Edge {
    Edge {
        when: None,
        child: i,
        parent,
        name: fk.name.clone(),
        columns: fk.columns.clone(),
        parent_columns: fk.parent_columns.clone(),
        not_null: fk
            .columns
            .iter()
            .all(|c| child.column(c).is_some_and(|c| c.not_null)),
        nulled: Vec::new(),
        parent_unique,
        enforced: !fk.virtual_key && fk.validated,
    }
}

/// Checks one `references:` entry against the schema and returns it as a
/// foreign key of table `i`.
fn virtual_reference(
    tables: &[Table],
    i: usize,
    rule: &TableRule,
    n: usize,
    r: &crate::rules::VirtualReference,
) -> Result<(usize, ForeignKey), RulesError> {
    let child = &tables[i];
    let location = rule.location_of("references");
    let fail = |message: String, hint: Option<String>| RulesError {
        location: location.clone(),
        message: format!(
            "table {}: references entry {}: {message}",
            child.name,
            n + 1
        ),
        hint,
    };
    let parent_name = parse_table_name(&r.table).map_err(|m| fail(m, None))?;
    let Some(parent) = tables.iter().position(|t| t.name == parent_name) else {
        let names: Vec<String> = tables.iter().map(|t| t.name.to_string()).collect();
        let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let hint = crate::did_you_mean::closest(&parent_name.to_string(), refs.iter().copied())
            .map(|s| format!("did you mean `{s}`?"));
        return Err(fail(
            format!("table {parent_name} is not in the source database"),
            hint.or_else(|| Some("name the parent as `schema.table`".into())),
        ));
    };
    let parent_table = &tables[parent];
    if r.columns.is_empty() {
        return Err(fail(
            "`columns` is empty".into(),
            Some("list the referencing columns, e.g. `columns: [post_id]`".into()),
        ));
    }
    let parent_columns = if r.parent_columns.is_empty() {
        match parent_table.primary_key() {
            Some(k) => k.columns.clone(),
            None => {
                return Err(fail(
                    format!("{parent_name} has no primary key to point at"),
                    Some("name the referenced columns with `parent_columns:`".into()),
                ))
            }
        }
    } else {
        r.parent_columns
            .iter()
            .map(|c| crate::rules::parse_column_name(c))
            .collect()
    };
    let columns: Vec<String> = r
        .columns
        .iter()
        .map(|c| crate::rules::parse_column_name(c))
        .collect();
    if columns.len() != parent_columns.len() {
        return Err(fail(
            format!(
                "{} column(s) point at {} column(s) of {parent_name}",
                columns.len(),
                parent_columns.len()
            ),
            Some("give `columns` and `parent_columns` the same length".into()),
        ));
    }
    for (c, p) in columns.iter().zip(&parent_columns) {
        let Some(cc) = child.column(c) else {
            return Err(fail(
                format!("column {}.{c} is not in the source table", child.name),
                None,
            ));
        };
        let Some(pc) = parent_table.column(p) else {
            return Err(fail(
                format!("column {parent_name}.{p} is not in the source table"),
                None,
            ));
        };
        let comparable = cc.base_type == pc.base_type
            || (cc.kind.is_integer() && pc.kind.is_integer())
            || (cc.kind == TypeKind::Text && pc.kind == TypeKind::Text);
        if !comparable || cc.is_array != pc.is_array {
            return Err(fail(
                format!(
                    "{}.{c} is {} but {parent_name}.{p} is {}, so rows cannot be matched",
                    child.name, cc.type_name, pc.type_name
                ),
                Some("point at a column of a comparable type".into()),
            ));
        }
    }
    Ok((
        parent,
        ForeignKey {
            name: match &r.when {
                Some(when) => format!(
                    "references {parent_name} ({}) when {when} in the rules",
                    columns.join(", ")
                ),
                None => format!(
                    "references {parent_name} ({}) in the rules",
                    columns.join(", ")
                ),
            },
            columns,
            parent: parent_name,
            parent_columns,
            deferrable: false,
            virtual_key: true,
            validated: false,
        },
    ))
}

/// Checks one `null_outside_subset:` column: it must exist, be nullable
/// (the copy writes NULL where the parent was left out) and be part of a
/// reference, since only a reference can point outside the subset.
fn check_nulled(
    table: &Table,
    i: usize,
    rule: &TableRule,
    column: &str,
    edges: &[Edge],
) -> Option<RulesError> {
    let location: Location = rule.location_of("null_outside_subset");
    let name = &table.name;
    let Some(c) = table.column(column) else {
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        return Some(RulesError {
            location,
            message: format!(
                "null_outside_subset: column {name}.{column} is not in the source table"
            ),
            hint: crate::did_you_mean::closest(column, names.iter().copied())
                .map(|s| format!("did you mean `{s}`?")),
        });
    };
    if c.not_null {
        return Some(RulesError {
            location,
            message: format!(
                "null_outside_subset: column {name}.{column} is NOT NULL, so it cannot be set to NULL"
            ),
            hint: Some(
                "remove it; the rows it references are then pulled into the subset".into(),
            ),
        });
    }
    if !edges
        .iter()
        .any(|e| e.child == i && e.columns.iter().any(|x| x == column))
    {
        return Some(RulesError {
            location,
            message: format!(
                "null_outside_subset: column {name}.{column} is not part of a foreign key or a `references:` entry"
            ),
            hint: Some("list only reference columns, or declare the reference under `references:`".into()),
        });
    }
    None
}

/// One line saying how a table's rows are chosen: sampled, follows a
/// parent, whole (a reference table or `subset: all`) or closed over from
/// the tables referencing it; then the rows pulled in on top.
fn describe(g: &Graph, t: usize) -> String {
    let node = &g.nodes[t];
    let mut parts: Vec<String> = Vec::new();
    let cols = |c: &[String]| {
        c.iter()
            .map(|c| crate::sql::display_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sample = |f: f64| {
        let by = match &node.hash_key {
            Some(k) => format!("by hash of ({})", cols(k)),
            None => "by hash of the whole row (no primary key)".to_string(),
        };
        format!("sampled {} {by}", SubsetSpec::Fraction(f))
    };
    // ` when <condition>` of a polymorphic reference.
    let when = |e: &Edge| {
        e.when
            .as_ref()
            .map(|w| format!(" when {w}"))
            .unwrap_or_default()
    };
    let referrers = |node: &Node| {
        let mut by: Vec<String> = node
            .contributions
            .iter()
            .map(|c| {
                let e = &g.edges[c.edge];
                format!(
                    "{} ({}){}",
                    g.nodes[e.child].name,
                    cols(&e.columns),
                    when(e)
                )
            })
            .collect();
        by.dedup();
        by.join(", ")
    };
    match &node.mode {
        Mode::Skip => return "skipped".into(),
        _ if node.reference => match &node.filter {
            Some(f) => parts.push(format!(
                "rows where {f} (reference table, ~{} rows; its followers keep only rows of these)",
                node.est_rows
            )),
            None => parts.push(format!("whole (reference table, ~{} rows)", node.est_rows)),
        },
        Mode::All if node.explicit => parts.push("whole (subset: all)".into()),
        Mode::All if node.saturated.is_some() => {
            let by: Vec<String> = g
                .edges_to(t)
                .iter()
                .map(|&e| &g.edges[e])
                .filter(|e| e.child != t && e.not_null && e.nulled.is_empty())
                .map(|e| format!("{} ({})", g.nodes[e.child].name, cols(&e.columns)))
                .collect();
            parts.push(format!(
                "whole (closed over from {}: ~{} references to ~{} rows would keep nearly all)",
                by.join(", "),
                node.saturated.unwrap_or(0.0).round(),
                node.est_rows
            ));
        }
        _ if node.complete => parts.push("all rows".into()),
        Mode::All => parts.push("all rows".into()),
        Mode::Sample(f) => {
            let mut s = sample(*f);
            if node.pin == Pin::Root {
                s.push_str(" (a root in the rules)");
            } else if node.explicit {
                s.push_str(" (its own subset)");
            }
            if !node.unit.is_empty() {
                let others: Vec<String> = node
                    .unit
                    .iter()
                    .map(|&m| g.nodes[m].name.to_string())
                    .collect();
                let _ = write!(s, ", one unit with {} (a cycle)", others.join(", "));
            }
            parts.push(s);
        }
        Mode::Closed => {
            let mut s = format!("closed over from {}", referrers(node));
            if node.group.is_some() {
                s.push_str(", recursively");
            }
            parts.push(s);
        }
        Mode::Follow { drivers, fallback } => {
            let mut s = String::from("follows ");
            for (n, &d) in drivers.iter().enumerate() {
                let e = &g.edges[d];
                if n > 0 {
                    s.push_str(", else ");
                }
                let _ = write!(
                    s,
                    "{} ({}){}",
                    g.nodes[e.parent].name,
                    cols(&e.columns),
                    when(e)
                );
                if e.not_null {
                    break;
                }
            }
            let covered = drivers.iter().any(|&d| g.edges[d].not_null);
            if !covered {
                match fallback {
                    Some(f) => {
                        let _ = write!(s, ", else {}", sample(*f));
                    }
                    None => s.push_str(", else all rows"),
                }
            }
            if let Some(f) = node.own_sample {
                let _ = write!(s, ", {} of them", sample(f));
            }
            if matches!(node.pin, Pin::Follow(_)) {
                s.push_str(" (follow in the rules)");
            }
            if let Some(cap) = node.cap {
                let _ = write!(s, ", at most {cap} per parent");
            }
            parts.push(s);
        }
    }
    if let Some(f) = node.filter.as_ref().filter(|_| !node.reference) {
        parts.push(format!("where {f}"));
    }
    if !node.contributions.is_empty() && node.mode != Mode::Closed {
        let mut s = format!("plus rows referenced by {}", referrers(node));
        if node.group.is_some() {
            s.push_str(", recursively");
        }
        parts.push(s);
    }
    for e in g
        .edges_from(t)
        .iter()
        .map(|&e| &g.edges[e])
        .filter(|e| !e.nulled.is_empty())
    {
        if !g.nodes[e.parent].complete {
            parts.push(format!(
                "{} set to NULL when its {} row is not kept",
                cols(&e.nulled),
                g.nodes[e.parent].name
            ));
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_number_is_always_a_percentage() {
        for t in ["10%", "10", " 10 % "] {
            assert_eq!(
                SubsetSpec::parse(t).unwrap(),
                SubsetSpec::Fraction(0.1),
                "{t}"
            );
        }
        // Once ambiguous: `1` meant 100% and `0.5` meant 50%.
        assert_eq!(SubsetSpec::parse("1").unwrap(), SubsetSpec::Fraction(0.01));
        assert_eq!(SubsetSpec::parse("0.5").unwrap().to_string(), "0.5%");
        assert_eq!(SubsetSpec::parse("all").unwrap(), SubsetSpec::All);
        assert_eq!(SubsetSpec::parse("100%").unwrap(), SubsetSpec::All);
        assert_eq!(SubsetSpec::parse("100").unwrap(), SubsetSpec::All);
        assert!(SubsetSpec::parse("0").is_err());
        assert!(SubsetSpec::parse("abc").is_err());
        assert!(SubsetSpec::parse("150%").is_err());
        assert_eq!(SubsetSpec::parse("7").unwrap().to_string(), "7%");
        assert_eq!(SubsetSpec::parse("12.5%").unwrap().to_string(), "12.5%");
    }

    #[test]
    fn seeds_are_pinned_per_secret_and_table() {
        // Golden: changing this changes every user's subset.
        let customers = QualifiedName::new("public", "customers");
        let key = Key::new(b"secret");
        assert_eq!(seed(&key, &customers), -3660451496519128637);
        assert_ne!(
            seed(&key, &QualifiedName::new("public", "orders")),
            seed(&key, &customers)
        );
        assert_ne!(
            seed(&Key::new(b"other"), &customers),
            seed(&key, &customers)
        );
    }
}
