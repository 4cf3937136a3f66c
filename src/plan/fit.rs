//! What the target's own constraints demand of a column's rule, read from
//! the catalog before any row moves: unique indexes of any shape (on
//! `lower(col)`, partial, on other expressions) and `varchar(n)`/`char(n)`
//! lengths. Without these checks a rule that fits the column's type still
//! fails the run at the end, when the target builds the index or a value
//! does not fit.

use crate::catalog::{Column, Exclusion, IndexPart, Table, TypeKind, UniqueIndex};
use crate::transform::{MaxLength, TransformOptions, Uniqueness};

/// The unique key or index that needs `column`'s rule never to repeat a
/// value, described for messages: `constraint users_code_key`, or `index
/// acct_handle_key on lower(handle) where active`. An index on
/// `lower(col)`, `upper(col)` or `col::text` counts as one on the column: a
/// rule that never repeats a value keeps them unique too.
///
/// A key over several columns needs it as well (`unique (tenant_id,
/// name)`: two names of one tenant must stay two), unless one of its
/// columns is unique on its own, which keeps the rows apart whatever the
/// others become.
pub(crate) fn unique_on(table: &Table, column: &str) -> Option<String> {
    if let Some(k) = table
        .unique_keys
        .iter()
        .find(|k| k.columns.len() == 1 && k.columns[0] == column)
    {
        return Some(format!("constraint {}", k.name));
    }
    if let Some(i) = table
        .unique_indexes
        .iter()
        .find(|i| i.parts.len() == 1 && shaped_column(&i.parts[0], table) == Some(column))
    {
        return Some(describe_index(i));
    }
    let alone_unique = |c: &str| {
        table
            .unique_keys
            .iter()
            .any(|k| k.columns.len() == 1 && k.columns[0] == c && !k.nulls_not_distinct)
    };
    if let Some(k) = table.unique_keys.iter().find(|k| {
        k.columns.len() > 1
            && k.columns.iter().any(|c| c == column)
            && !k.columns.iter().any(|c| alone_unique(c))
    }) {
        return Some(format!(
            "constraint {} on ({})",
            k.name,
            k.columns.join(", ")
        ));
    }
    table
        .unique_indexes
        .iter()
        .find(|i| {
            i.parts.len() > 1
                && i.parts
                    .iter()
                    .any(|p| shaped_column(p, table) == Some(column))
                && !i
                    .parts
                    .iter()
                    .any(|p| shaped_column(p, table).is_some_and(alone_unique))
        })
        .map(describe_index)
}

/// An exclusion constraint that compares `column`, described for
/// messages (`exclusion constraint booking_no_overlap (room WITH =, during
/// WITH &&)`), and whether it compares the column itself by `=` only.
///
/// Deterministic rules keep equal values equal, and a rule that never
/// repeats a value keeps different ones different, so `col WITH =` holds
/// after any unique-capable rule. No rule is known to keep other operators
/// (`&&`, `<>`) or expressions true or false as they were.
pub(super) struct ExclusionUse {
    pub constraint: String,
    pub equality: bool,
}

pub(super) fn exclusion_on(table: &Table, column: &str) -> Option<ExclusionUse> {
    let mut found: Option<ExclusionUse> = None;
    for ex in &table.exclusions {
        for (part, operator) in &ex.parts {
            let named = match part {
                IndexPart::Column(c) => c == column,
                IndexPart::Expression(e) => columns_named_in(e, table).contains(&column),
            };
            if !named {
                continue;
            }
            let equality = operator == "=" && *part == IndexPart::Column(column.to_string());
            if found.as_ref().is_none_or(|f| f.equality && !equality) {
                found = Some(ExclusionUse {
                    constraint: describe_exclusion(ex),
                    equality,
                });
            }
        }
    }
    found
}

/// `exclusion constraint NAME (PART WITH OP, ...)`.
fn describe_exclusion(ex: &Exclusion) -> String {
    let parts: Vec<String> = ex
        .parts
        .iter()
        .map(|(p, op)| match p {
            IndexPart::Column(c) | IndexPart::Expression(c) => format!("{c} WITH {op}"),
        })
        .collect();
    format!("exclusion constraint {} ({})", ex.name, parts.join(", "))
}

/// A unique index whose NULLS NOT DISTINCT makes two NULLs of `column`
/// collide, by name.
pub(super) fn nulls_collide_in<'a>(table: &'a Table, column: &str) -> Option<&'a str> {
    let in_key = table
        .unique_keys
        .iter()
        .find(|k| k.nulls_not_distinct && k.columns.iter().any(|c| c == column))
        .map(|k| k.name.as_str());
    in_key.or_else(|| {
        table
            .unique_indexes
            .iter()
            .find(|i| {
                i.nulls_not_distinct
                    && i.parts
                        .iter()
                        .any(|p| shaped_column(p, table) == Some(column))
            })
            .map(|i| i.name.as_str())
    })
}

/// `index NAME on EXPR[, ...] [where PRED]`.
fn describe_index(index: &UniqueIndex) -> String {
    let parts: Vec<&str> = index
        .parts
        .iter()
        .map(|p| match p {
            IndexPart::Column(c) | IndexPart::Expression(c) => c.as_str(),
        })
        .collect();
    let mut s = format!("index {} on {}", index.name, parts.join(", "));
    if let Some(p) = &index.predicate {
        s.push_str(&format!(" where {p}"));
    }
    s
}

/// The column a key part stands for: a plain column, or `lower(col)`,
/// `upper(col)`, `col::text`, `col COLLATE c` (and nestings of them).
/// `None` for any other expression.
fn shaped_column<'t>(part: &IndexPart, table: &'t Table) -> Option<&'t str> {
    let text = match part {
        IndexPart::Column(c) => return table.column(c).map(|c| c.name.as_str()),
        IndexPart::Expression(e) => e.trim(),
    };
    let mut inner = text;
    loop {
        let before = inner;
        for f in ["lower(", "upper("] {
            if let Some(rest) = inner.strip_prefix(f).and_then(|r| r.strip_suffix(')')) {
                inner = rest.trim();
            }
        }
        for cast in ["::text", "::character varying"] {
            if let Some(rest) = inner.strip_suffix(cast) {
                inner = rest.trim();
            }
        }
        if let Some(rest) = inner.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            inner = rest.trim();
        }
        // `lower(email COLLATE "und-x-icu")`: a collation only says how
        // to fold case.
        if let Some((value, collation)) = inner.rsplit_once(" COLLATE ") {
            if identifier(collation.trim()).is_some() {
                inner = value.trim();
            }
        }
        if inner == before {
            break;
        }
    }
    let name = identifier(inner)?;
    table.column(&name).map(|c| c.name.as_str())
}

/// `text` as one SQL identifier (bare or double-quoted), unquoted.
fn identifier(text: &str) -> Option<String> {
    if let Some(q) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return (!q.replace("\"\"", "").contains('"')).then(|| q.replace("\"\"", "\""));
    }
    let mut chars = text.chars();
    let first = chars.next()?;
    ((first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$'))
    .then(|| text.to_string())
}

/// The table's columns an expression names (string literals skipped).
fn columns_named_in<'t>(expression: &str, table: &'t Table) -> Vec<&'t str> {
    let mut found: Vec<&str> = Vec::new();
    let mut rest = expression;
    while let Some(c) = rest.chars().next() {
        let token_end = match c {
            '\'' => rest[1..].find('\'').map_or(rest.len(), |i| i + 2),
            '"' => rest[1..].find('"').map_or(rest.len(), |i| i + 2),
            c if c.is_ascii_alphabetic() || c == '_' => rest
                .find(|x: char| !(x.is_ascii_alphanumeric() || x == '_' || x == '$'))
                .unwrap_or(rest.len()),
            c => c.len_utf8(),
        };
        let token = &rest[..token_end];
        if !token.starts_with('\'') {
            if let Some(col) = identifier(token).and_then(|n| table.column(&n)) {
                if !found.contains(&col.name.as_str()) {
                    found.push(&col.name);
                }
            }
        }
        rest = &rest[token_end..];
    }
    found
}

/// A column under a unique index on an expression that is not the column
/// itself (`substr(email, 1, 5)`, `date_trunc('day', at)`), whose rule
/// changes its values: no rule says it keeps such an expression unique.
pub(super) struct ExpressionIndexUse<'t> {
    pub column: &'t str,
    /// `index NAME on EXPR ...`.
    pub index: String,
}

/// Every column of `table` named in a unique index's expression other
/// than the shapes `unique_on` accepts, with the index.
pub(super) fn expression_index_columns(table: &Table) -> Vec<ExpressionIndexUse<'_>> {
    let mut out = Vec::new();
    for index in &table.unique_indexes {
        for part in &index.parts {
            let IndexPart::Expression(e) = part else {
                continue;
            };
            if shaped_column(part, table).is_some() {
                continue;
            }
            for column in columns_named_in(e, table) {
                out.push(ExpressionIndexUse {
                    column,
                    index: describe_index(index),
                });
            }
        }
    }
    out
}

/// What a `varchar(n)`/`char(n)` column makes of a rule that cannot be cut
/// to fit (`Uniqueness` other than lossy; see `BuildContext::finish`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthFit {
    /// Every output fits, or the column has no length, or outputs are cut.
    Fits,
    /// Some output may be longer than the column holds: `Some(b)` is the
    /// bound, `None` when there is none.
    TooLong(Option<usize>),
    /// Fits when the source's longest value is at most this many
    /// characters: `check` and `sync` read `max(char_length(col))`.
    InputAtMost(usize),
}

/// Whether `options`, built in its `unique` form, fits `column`'s length.
pub fn length_fit(options: &dyn TransformOptions, column: &Column, unique: bool) -> LengthFit {
    let Some(n) = column.max_length else {
        return LengthFit::Fits;
    };
    if column.kind != TypeKind::Text || options.uniqueness() == Uniqueness::Lossy {
        return LengthFit::Fits;
    }
    match options.max_length(unique) {
        MaxLength::Fixed(b) if b <= n => LengthFit::Fits,
        MaxLength::Fixed(b) => LengthFit::TooLong(Some(b)),
        // Source values of the column itself are at most n long.
        MaxLength::InputPlus(0) => LengthFit::Fits,
        MaxLength::InputPlus(k) if k > n => LengthFit::TooLong(Some(k)),
        MaxLength::InputPlus(k) => LengthFit::InputAtMost(n - k),
        // The longest input whose output still fits; where even an empty
        // one does not, outputs outgrow the column whatever the source.
        MaxLength::Grows(f) => match (0..=n).rev().find(|&i| f(i) <= n) {
            Some(i) => LengthFit::InputAtMost(i),
            None => LengthFit::TooLong(None),
        },
        MaxLength::Unbounded => LengthFit::TooLong(None),
    }
}

/// Reads `max(char_length(col))` on the source for every column whose rule
/// fits its `varchar(n)` only when the source's values are short enough
/// (`LengthFit::InputAtMost`: the unique `fake: email` adds `.invalid`),
/// and refuses those with a longer value. A full read of those columns,
/// inside the snapshot; `check` and every `sync` run it before any row
/// moves.
pub async fn check_source_lengths(
    rules: &crate::rules::Rules,
    catalog: &crate::catalog::Catalog,
    client: &tokio_postgres::Client,
) -> anyhow::Result<()> {
    use crate::error::PgResultExt;
    use crate::rules::Action;
    let mut problems = super::Problems { list: Vec::new() };
    for table_rule in &rules.tables {
        let Some(table) = catalog.table(&table_rule.name) else {
            continue;
        };
        if table_rule.skip {
            continue;
        }
        // (entry, column, longest input that fits, what the rule adds)
        let mut needs = Vec::new();
        for entry in &table_rule.columns {
            let (Some(column), Action::Transform(options)) =
                (table.column(&entry.name), &entry.rule.action)
            else {
                continue;
            };
            let unique = entry.rule.unique || unique_on(table, &column.name).is_some();
            if let LengthFit::InputAtMost(m) = length_fit(&**options, column, unique) {
                needs.push((entry, column, m, options, options.max_length(unique)));
            }
        }
        if needs.is_empty() {
            continue;
        }
        let lengths: Vec<String> = needs
            .iter()
            .map(|(_, c, _, _, _)| {
                let q = crate::sql::quote_ident(&c.name);
                if c.is_array {
                    format!("max((SELECT max(char_length(e)) FROM unnest({q}) AS e))")
                } else {
                    format!("max(char_length({q}))")
                }
            })
            .collect();
        let sql = format!("SELECT {} FROM {}", lengths.join(", "), table.sql_only());
        // A table the role cannot read fails here too; the access check
        // reports that, and a savepoint keeps the snapshot usable.
        client
            .batch_execute("SAVEPOINT anonymize_lengths")
            .await
            .pg_context(|| "checking column lengths".into())?;
        let read = client.query_one(&sql, &[]).await;
        let end = if read.is_ok() {
            "RELEASE SAVEPOINT anonymize_lengths"
        } else {
            "ROLLBACK TO SAVEPOINT anonymize_lengths"
        };
        client
            .batch_execute(end)
            .await
            .pg_context(|| "checking column lengths".into())?;
        let Ok(row) = read else { continue };
        for (i, (entry, column, fits, options, max_length)) in needs.iter().enumerate() {
            let Some(longest) = row.get::<_, Option<i32>>(i) else {
                continue; // no value at all
            };
            let longest = longest as usize;
            if longest <= *fits {
                continue;
            }
            // The longest output the longest source value may get.
            let longest_out = max_length.bound(Some(longest)).unwrap_or(longest);
            problems.push_about(
                super::ProblemKind::Mismatch,
                super::About::column(&table.name, &column.name, Some(column)),
                &entry.location,
                format!(
                    "column {}.{} is {}, but `{}` writes up to {} characters more than its input, and the longest source value has {longest}: outputs of up to {} characters would not fit, and a rule that never repeats a value cannot be cut",
                    table.name,
                    column.name,
                    column.type_name,
                    options.describe(),
                    longest_out - longest,
                    longest_out,
                ),
                Some(format!(
                    "widen the column to at least varchar({}) (or text), or use a rule whose output keeps the input's length, such as `{{ fpe: {{}} }}`",
                    longest_out
                )),
            );
        }
    }
    if problems.list.is_empty() {
        Ok(())
    } else {
        Err(problems.rules_errors().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{QualifiedName, TableKind};

    fn table(indexes: Vec<(&str, Vec<IndexPart>)>) -> Table {
        Table {
            oid: 1,
            name: QualifiedName::new("public", "acct"),
            kind: TableKind::Ordinary,
            columns: ["id", "handle", "Nick Name", "at"]
                .iter()
                .map(|c| Column::new(c, "text", TypeKind::Text))
                .collect(),
            unique_keys: vec![],
            unique_indexes: indexes
                .into_iter()
                .map(|(name, parts)| UniqueIndex {
                    name: name.into(),
                    parts,
                    predicate: None,
                    nulls_not_distinct: false,
                })
                .collect(),
            exclusions: vec![],
            foreign_keys: vec![],
            estimated_rows: 0,
            estimated_bytes: 0,
            rows_from: Default::default(),
            row_security: crate::catalog::RowSecurity::Off,
        }
    }

    #[test]
    fn an_exclusion_constraint_asks_equality_of_its_own_columns_only() {
        let mut t = table(vec![]);
        t.exclusions.push(Exclusion {
            name: "booking_excl".into(),
            parts: vec![
                (IndexPart::Column("handle".into()), "=".into()),
                (IndexPart::Column("at".into()), "&&".into()),
                (
                    IndexPart::Expression("lower(\"Nick Name\")".into()),
                    "=".into(),
                ),
            ],
        });
        let on = |c: &str| exclusion_on(&t, c).map(|x| (x.constraint, x.equality));
        let named = "exclusion constraint booking_excl (handle WITH =, at WITH &&, \
                     lower(\"Nick Name\") WITH =)";
        assert_eq!(on("handle"), Some((named.to_string(), true)));
        assert_eq!(on("at"), Some((named.to_string(), false)));
        // `=` on an expression of the column: equality of the column's
        // values does not carry over to the expression's.
        assert_eq!(on("Nick Name"), Some((named.to_string(), false)));
        assert!(on("id").is_none());
    }

    #[test]
    fn lower_upper_and_text_casts_stand_for_the_column() {
        use IndexPart::Expression as E;
        for (expr, column) in [
            ("lower(handle)", Some("handle")),
            ("upper((handle)::text)", Some("handle")),
            ("(handle)::text", Some("handle")),
            ("lower(\"Nick Name\")", Some("Nick Name")),
            ("lower((handle COLLATE \"und-x-icu\"))", Some("handle")),
            ("lower(nope)", None),
            ("\"left\"(handle, 3)", None),
            ("(handle || at)", None),
        ] {
            let t = table(vec![("i", vec![E(expr.into())])]);
            assert_eq!(
                shaped_column(&t.unique_indexes[0].parts[0], &t),
                column,
                "{expr}"
            );
            assert_eq!(
                unique_on(&t, "handle").is_some(),
                column == Some("handle"),
                "{expr}"
            );
        }
        let t = table(vec![(
            "acct_left",
            vec![
                E("\"left\"(handle, 3)".into()),
                E("(at || 'handle')".into()),
            ],
        )]);
        let used: Vec<&str> = expression_index_columns(&t)
            .iter()
            .map(|u| u.column)
            .collect();
        // `'handle'` is a string, not the column.
        assert_eq!(used, ["handle", "at"]);
    }

    /// A key over several columns needs each column's rule to keep values
    /// apart, unless one of its columns is unique alone.
    #[test]
    fn keys_over_several_columns_count_unless_a_column_is_unique_alone() {
        let key = |name: &str, columns: &[&str]| crate::catalog::UniqueKey {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            primary: false,
            nulls_not_distinct: false,
        };
        let mut t = table(vec![]);
        t.unique_keys = vec![key("acct_at_handle_key", &["at", "handle"])];
        assert_eq!(
            unique_on(&t, "handle").as_deref(),
            Some("constraint acct_at_handle_key on (at, handle)")
        );
        assert!(unique_on(&t, "Nick Name").is_none());
        t.unique_keys.push(key("acct_at_key", &["at"]));
        assert!(unique_on(&t, "handle").is_none(), "`at` keeps rows apart");

        let mut t = table(vec![(
            "acct_pair",
            vec![
                IndexPart::Column("handle".into()),
                IndexPart::Expression("lower(at)".into()),
            ],
        )]);
        assert_eq!(
            unique_on(&t, "handle").as_deref(),
            Some("index acct_pair on handle, lower(at)")
        );
        t.unique_keys.push(key("acct_at_key", &["at"]));
        assert!(unique_on(&t, "handle").is_none());
    }
}
