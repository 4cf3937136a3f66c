//! SQL the rules put into the source's COPY query (issue 25): the `when:`
//! conditions of a column's list of rules, `sql:` expressions, and the
//! conditions of polymorphic `references:`.
//!
//! Why SQL rather than a condition language of our own: the server already
//! evaluates the row (types, collations, `IN`, regexes, NULL logic) while
//! it writes it, so a condition costs the read of one small extra field
//! per row; an expression language of ours would decode and compare every
//! field it reads, in our hot path, with semantics that would drift from
//! PostgreSQL's.
//!
//! The text is checked twice:
//! - at plan time, without a server (`lint`): it must be one expression,
//!   so it cannot end the query, start another or comment the rest out;
//! - against the source, inside the run's snapshot (`check`): every piece
//!   is parsed and typed by `prepare` (the extended protocol, which runs
//!   one statement only, never the simple-query protocol), in the shape
//!   the COPY query uses, and its result type is compared with what it
//!   must be (a boolean; the column's type).

use anyhow::Result;

use super::ColumnAction;
use crate::catalog::{Catalog, Column, Table};
use crate::error::{Location, PgResultExt, RulesError, RulesErrors};
use crate::rules::{Action, ColumnEntry, ColumnRule, Rules};
use crate::sql::quote_ident;
use crate::transform::OutputSpace;

/// A problem: where (the branch's `when:`, else the column's entry), what,
/// and what to do.
pub type Problem = (Option<Location>, String, Option<String>);

/// One rule compiled by the plan: its action and the columns it reads.
pub type CompiledRule = (ColumnAction, Vec<String>);
/// Why a rule does not fit its column, and what to do.
pub type RuleError = (String, Option<String>);

/// A column's rules compiled for the run.
pub struct Compiled {
    pub action: ColumnAction,
    /// What the COPY query reads instead of the plain column (`sql:`).
    pub source_expr: Option<String>,
    /// Columns whose output values the rules read (templates).
    pub reads: Vec<String>,
}

/// Compiles one column's rule or list of rules; `compile_one` compiles a
/// single rule (the plan's checks of type and uniqueness). A list adds a
/// branch selector to `extra`, the table's extra COPY fields.
pub fn compile_entry(
    table: &Table,
    column: &Column,
    entry: &ColumnEntry,
    extra: &mut Vec<String>,
    compile_one: &mut dyn FnMut(&ColumnRule) -> Result<CompiledRule, RuleError>,
) -> Result<Compiled, Vec<Problem>> {
    let display = table.name.to_string();
    let mut problems: Vec<Problem> = Vec::new();
    let col = quote_ident(&column.name);
    let rel = quote_ident(&table.name.name);
    let mut check_text = |text: &str, what: &str, at: Option<&Location>| {
        if let Err(m) = lint(text) {
            problems.push((
                at.cloned(),
                format!("column {display}.{}: the {what} {m}", column.name),
                Some("write one SQL expression on the row's columns, as after SELECT".into()),
            ));
        }
    };
    for b in &entry.branches {
        check_text(&b.when, "`when:`", Some(&b.location));
    }
    for r in entry.rules() {
        if let Action::Sql(expr) = &r.action {
            check_text(expr, "`sql:`", None);
        }
    }
    // The value of one rule in the query: its expression, or the column.
    let value_of = |r: &ColumnRule| match &r.action {
        Action::Sql(expr) => Some(format!("CAST(({expr}) AS {})", column.type_name)),
        _ => None,
    };

    if entry.branches.is_empty() {
        let compiled = compile_one(&entry.rule).map_err(|(m, h)| vec![(None, m, h)]);
        return match (compiled, problems.is_empty()) {
            (Ok((action, reads)), true) => Ok(Compiled {
                action,
                source_expr: value_of(&entry.rule),
                reads,
            }),
            (Err(mut list), _) => {
                problems.append(&mut list);
                Err(problems)
            }
            (Ok(_), false) => Err(problems),
        };
    }

    let mut branches = Vec::new();
    let mut reads = Vec::new();
    let locations: Vec<Option<Location>> = entry
        .branches
        .iter()
        .map(|b| Some(b.location.clone()))
        .chain([None])
        .collect();
    for (r, at) in entry.rules().zip(&locations) {
        match compile_one(r) {
            Ok((action, mut r_reads)) => {
                branches.push(action);
                reads.append(&mut r_reads);
            }
            Err((m, h)) => problems.push((at.clone(), m, h)),
        }
    }
    if let Some(p) = unique_branches(table, column, entry) {
        problems.push(p);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // `CASE` picks the first branch whose condition is true (NULL is not),
    // as the rules read.
    let case = |then: &dyn Fn(usize, &ColumnRule) -> String| {
        let mut s = String::from("CASE");
        for (i, b) in entry.branches.iter().enumerate() {
            s.push_str(&format!(" WHEN ({}) THEN {}", b.when, then(i, &b.rule)));
        }
        s.push_str(&format!(
            " ELSE {} END",
            then(entry.branches.len(), &entry.rule)
        ));
        s
    };
    let selector = extra.len();
    extra.push(case(&|i, _| i.to_string()));
    let source_expr = entry
        .rules()
        .any(|r| matches!(r.action, Action::Sql(_)))
        .then(|| case(&|_, r| value_of(r).unwrap_or_else(|| format!("{rel}.{col}"))));
    reads.sort();
    reads.dedup();
    Ok(Compiled {
        action: ColumnAction::When { selector, branches },
        source_expr,
        reads,
    })
}

/// On a unique column, two branches could write the same value for two
/// rows unless every branch is one bijection with disjoint images. The
/// plan can prove that for one shared collision-free rule (one bijection)
/// and for `null` (no image); any two different rules (a kept value and a
/// fake one, two fakes of different namespaces) could meet, so they are
/// refused.
fn unique_branches(table: &Table, column: &Column, entry: &ColumnEntry) -> Option<Problem> {
    let constraint = super::fit::unique_on(table, &column.name);
    let asserted = entry
        .rules()
        .any(|r| r.unique)
        .then(|| "`unique: true`".to_string());
    let why = constraint.or(asserted)?;
    let non_null: Vec<&ColumnRule> = entry
        .rules()
        .filter(|r| !matches!(r.action, Action::Null))
        .collect();
    let first = non_null.first()?;
    let same = |r: &&ColumnRule| {
        r.describe().replace(" unique", "") == first.describe().replace(" unique", "")
    };
    if non_null.iter().all(same) {
        return None;
    }
    let other = non_null.iter().find(|r| !same(r))?;
    Some((
        None,
        format!(
            "column {}.{} is unique ({why}), but its rules `{}` and `{}` are different maps: a value of one could equal a value of the other, and two rows would collide",
            table.name,
            column.name,
            first.describe(),
            other.describe()
        ),
        Some("on a unique column, give every branch the same collision-free rule (or `null`), or write one rule without `when:`".into()),
    ))
}

/// What `verify` expects of a column's outputs: a list of rules is judged
/// by its most revealing branch (`keep` scans like kept text).
pub fn output_space(entry: &ColumnEntry) -> Option<OutputSpace> {
    if entry.branches.is_empty() {
        return entry.rule.output_space();
    }
    let spaces: Vec<Option<OutputSpace>> = entry
        .rules()
        .filter(|r| !matches!(r.action, Action::Null))
        .map(|r| r.output_space())
        .collect();
    if spaces.iter().any(|s| s.is_none()) {
        // A kept branch: its values are real, so scan them.
        return Some(OutputSpace::Partial);
    }
    spaces
        .into_iter()
        .flatten()
        .reduce(|a, b| if a == b { a } else { OutputSpace::Partial })
}

/// Refuses SQL that is not one expression (a `;`, a comment, an open
/// quote, a parenthesis closed that it did not open could end the COPY
/// query's select list and change what it does), with the lexical check
/// that `where:` goes through (`rules::condition`). The server parses the
/// rest.
pub fn lint(sql: &str) -> Result<(), String> {
    crate::rules::condition::check(sql).map_err(|u| {
        format!(
            "is not one SQL expression: it has {} at character {}",
            u.what,
            u.at + 1
        )
    })
}

/// Parses and types every piece of rules SQL that goes into a COPY query,
/// on the source inside the snapshot, with `prepare` (nothing is run, no
/// row is read): `when:` conditions must be boolean, `sql:` expressions
/// of the column's type (or its domain's base type, or of the same kind:
/// text for varchar, any number for a number, which the query then casts),
/// and polymorphic `references:` conditions boolean.
pub async fn check(
    rules: &Rules,
    catalog: &Catalog,
    client: &tokio_postgres::Client,
) -> Result<()> {
    let mut problems: Vec<RulesError> = Vec::new();
    for table_rule in &rules.tables {
        let Some(table) = catalog.table(&table_rule.name) else {
            continue;
        };
        let from = format!("{}{}", table.kind.only(), table.name.sql());
        let mut pieces: Vec<(Location, String, Piece)> = Vec::new();
        for entry in &table_rule.columns {
            for b in &entry.branches {
                pieces.push((
                    b.location.clone(),
                    b.when.clone(),
                    Piece::Condition(format!("`when:` of column {}.{}", table.name, entry.name)),
                ));
            }
            for r in entry.rules() {
                if let (Action::Sql(expr), Some(column)) = (&r.action, table.column(&entry.name)) {
                    pieces.push((
                        entry.location.clone(),
                        expr.clone(),
                        Piece::Value(column.clone()),
                    ));
                }
            }
        }
        for (n, r) in table_rule.references.iter().enumerate() {
            if let Some(when) = &r.when {
                pieces.push((
                    table_rule.location_of("references"),
                    when.clone(),
                    Piece::Condition(format!(
                        "`when:` of references entry {} of table {}",
                        n + 1,
                        table.name
                    )),
                ));
            }
        }
        for (location, text, piece) in pieces {
            // Checked without a server already (the plan refuses it).
            if lint(&text).is_err() {
                continue;
            }
            let query = format!("SELECT ({text}) FROM {from}");
            // A statement that fails to parse aborts the snapshot's
            // transaction; a savepoint keeps it usable. (Fixed text only
            // goes through the simple-query protocol, never rules SQL.)
            client
                .batch_execute("SAVEPOINT anonymize_rule_sql")
                .await
                .pg_context(|| "checking rules SQL".into())?;
            let prepared = client.prepare(&query).await;
            let end = if prepared.is_ok() {
                "RELEASE SAVEPOINT anonymize_rule_sql"
            } else {
                "ROLLBACK TO SAVEPOINT anonymize_rule_sql"
            };
            client
                .batch_execute(end)
                .await
                .pg_context(|| "checking rules SQL".into())?;
            let statement = match prepared {
                Ok(s) => s,
                Err(e) => {
                    problems.push(RulesError {
                        location,
                        message: format!(
                            "the {} does not run on the source: {}",
                            piece.what(&table.name),
                            crate::error::pg_error_text(&e)
                        ),
                        hint: Some(piece.hint()),
                    });
                    continue;
                }
            };
            let got = statement.columns()[0].type_().clone();
            match &piece {
                Piece::Condition(what) if got != tokio_postgres::types::Type::BOOL => problems
                    .push(RulesError {
                        location,
                        message: format!("the {what} is of type {}, not boolean", got.name()),
                        hint: Some(piece.hint()),
                    }),
                Piece::Value(column) => {
                    if let Some(message) = value_type_problem(client, table, column, &got).await? {
                        problems.push(RulesError {
                            location,
                            message,
                            hint: Some(piece.hint()),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RulesErrors(problems).into())
    }
}

/// A piece of rules SQL and what it must be.
enum Piece {
    /// A boolean; the text names where it was written.
    Condition(String),
    /// A value of this column.
    Value(Column),
}

impl Piece {
    fn what(&self, table: &crate::catalog::QualifiedName) -> String {
        match self {
            Piece::Condition(what) => what.clone(),
            Piece::Value(c) => format!("`sql:` of column {table}.{}", c.name),
        }
    }

    fn hint(&self) -> String {
        match self {
            Piece::Condition(_) => {
                "write an SQL condition on the table's own columns, as after WHERE".into()
            }
            Piece::Value(c) => format!(
                "write an SQL expression on the table's own columns giving a {} (add `::{}` to convert)",
                c.type_name, c.type_name
            ),
        }
    }
}

/// Whether an expression of type `got` can be loaded into `column`: the
/// same type, the domain's base type, or the same category of type
/// (strings, numbers, dates and times), which the query casts.
async fn value_type_problem(
    client: &tokio_postgres::Client,
    table: &Table,
    column: &Column,
    got: &tokio_postgres::types::Type,
) -> Result<Option<String>> {
    let row = client
        .query_one(
            "SELECT a.atttypid = $1::oid
                 OR t.typbasetype = $1::oid
                 OR (e.typcategory = coalesce(b.typcategory, t.typcategory)
                     AND e.typcategory IN ('S', 'N', 'D')),
                    format_type($1::oid, NULL)
               FROM pg_catalog.pg_attribute a
               JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_catalog.pg_type b ON b.oid = nullif(t.typbasetype, 0)
               JOIN pg_catalog.pg_type e ON e.oid = $1::oid
              WHERE a.attrelid = $2::oid AND a.attname = $3",
            &[&got.oid(), &table.oid, &column.name],
        )
        .await
        .pg_context(|| "checking the type of an `sql:` expression".into())?;
    let fits: bool = row.get(0);
    let name: String = row.get(1);
    Ok((!fits).then(|| {
        format!(
            "the `sql:` of column {}.{} gives {name}, but the column is {}",
            table.name, column.name, column.type_name
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::lint;

    #[test]
    fn one_expression_passes_and_query_breakers_do_not() {
        for ok in [
            "country = 'DE'",
            "left(zip, 3) || '00'",
            "note = 'a;b -- c /* d'",
            "name = \"Full;Name\"",
            "x = $$)($$ and y = $t$;$t$",
            "f(a, (b))",
        ] {
            assert!(lint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1) FROM t; DROP TABLE x --",
            "a; b",
            "a -- rest",
            "a /* rest */",
            "(a",
            "a)",
            "'open",
        ] {
            assert!(lint(bad).is_err(), "{bad}");
        }
    }
}
