//! Polymorphic references an application keeps by convention, found for
//! `init` so it can write them as `references:` with `when:` (issue 25):
//! without them a subset keeps comments whose post or photo it dropped.
//!
//! Two conventions, both read from the catalog and the source's rows:
//! - Rails: `commentable_type` + `commentable_id`, the type a class name
//!   (`Post`, `Admin::User`) whose table is its plural snake case
//!   (`posts`, `admin_users`);
//! - Django's generic relations: `content_type_id` (a foreign key to
//!   `django_content_type`) + `object_id`, the table `{app_label}_{model}`.
//!
//! Only a column the database does not already declare a foreign key on is
//! looked at, and only a type whose table exists and has a one-column
//! primary key becomes a reference. The type values are class and model
//! names, read from the rows and written into the rules as conditions.

use anyhow::Result;
use tokio_postgres::Client;

use crate::catalog::{Catalog, QualifiedName, Table, TypeKind};
use crate::error::PgResultExt;
use crate::sql::{display_ident, quote_ident, quote_literal};

/// One polymorphic reference: on the rows where `when` holds, `column`
/// holds a key of `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polymorphic {
    pub column: String,
    pub parent: QualifiedName,
    /// An SQL condition on the referencing row (`commentable_type = 'Post'`).
    pub when: String,
}

/// Type values read per column: enough for any app's model count.
const TYPES_READ: i64 = 100;
/// Rows scanned per column for those values, so `init` stays quick on a
/// large table.
const ROWS_SCANNED: i64 = 100_000;

/// The polymorphic references of `table`, in column and type order.
pub async fn find(client: &Client, catalog: &Catalog, table: &Table) -> Result<Vec<Polymorphic>> {
    let mut found = Vec::new();
    let declared = |c: &str| {
        table
            .foreign_keys
            .iter()
            .any(|k| !k.virtual_key && k.columns.iter().any(|k| k == c))
    };
    for type_column in table.columns.iter().filter(|c| c.kind == TypeKind::Text) {
        let Some(stem) = type_column.name.strip_suffix("_type") else {
            continue;
        };
        let id_column = format!("{stem}_id");
        if table.column(&id_column).is_none() || declared(&id_column) {
            continue;
        }
        for value in distinct_values(client, table, &type_column.name).await? {
            let Some(parent) = rails_table(catalog, &table.name.schema, &value) else {
                continue;
            };
            if keyed_by_one_column(parent) {
                found.push(Polymorphic {
                    column: id_column.clone(),
                    parent: parent.name.clone(),
                    when: format!(
                        "{} = {}",
                        display_ident(&type_column.name),
                        quote_literal(&value)
                    ),
                });
            }
        }
    }
    found.extend(django(client, catalog, table).await?);
    Ok(found)
}

/// Django's generic relation: `content_type_id` references
/// `django_content_type`, and `object_id` holds a key of the model's table.
async fn django(client: &Client, catalog: &Catalog, table: &Table) -> Result<Vec<Polymorphic>> {
    let Some(key) = table.foreign_keys.iter().find(|k| {
        !k.virtual_key && k.columns == ["content_type_id"] && k.parent.name == "django_content_type"
    }) else {
        return Ok(Vec::new());
    };
    if table.column("object_id").is_none() {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            &format!(
                "SELECT DISTINCT ct.id::int8, ct.app_label::text, ct.model::text \
                   FROM (SELECT content_type_id FROM {} LIMIT {ROWS_SCANNED}) r \
                   JOIN {} ct ON ct.id = r.content_type_id ORDER BY 1 LIMIT {TYPES_READ}",
                table.sql_only(),
                key.parent.sql()
            ),
            &[],
        )
        .await
        .pg_context(|| format!("reading the content types {} refers to", table.name))?;
    let mut found = Vec::new();
    for row in rows {
        let (id, app, model): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
        let name = format!("{app}_{model}");
        let Some(parent) = find_table(catalog, &table.name.schema, &name) else {
            continue;
        };
        if keyed_by_one_column(parent) {
            found.push(Polymorphic {
                column: "object_id".into(),
                parent: parent.name.clone(),
                when: format!("content_type_id = {id}"),
            });
        }
    }
    Ok(found)
}

/// The distinct non-empty values of `column`, in order, from the first
/// `ROWS_SCANNED` rows.
async fn distinct_values(client: &Client, table: &Table, column: &str) -> Result<Vec<String>> {
    let rows = client
        .query(
            &format!(
                "SELECT DISTINCT v FROM (SELECT {}::text AS v FROM {} LIMIT {ROWS_SCANNED}) r \
                  WHERE v <> '' ORDER BY 1 LIMIT {TYPES_READ}",
                quote_ident(column),
                table.sql_only()
            ),
            &[],
        )
        .await
        .pg_context(|| format!("reading the types in {}.{column}", table.name))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn keyed_by_one_column(table: &Table) -> bool {
    table.primary_key().is_some_and(|k| k.columns.len() == 1)
}

/// The table of a Rails class name: `Admin::User` → `admin_users`, in the
/// referencing table's schema first, then in any.
fn rails_table<'c>(catalog: &'c Catalog, schema: &str, class: &str) -> Option<&'c Table> {
    find_table(catalog, schema, &tableize(class))
}

/// The table `name` in `schema`, else the only table of that name.
fn find_table<'c>(catalog: &'c Catalog, schema: &str, name: &str) -> Option<&'c Table> {
    let named: Vec<&Table> = catalog
        .tables
        .iter()
        .filter(|t| t.name.name == name)
        .collect();
    match named.iter().find(|t| t.name.schema == schema) {
        Some(t) => Some(t),
        None if named.len() == 1 => Some(named[0]),
        None => None,
    }
}

/// Rails' `tableize`: snake case, `::` as `_`, the last word plural.
fn tableize(class: &str) -> String {
    let mut snake = String::new();
    let chars: Vec<char> = class.replace("::", "_").chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let after_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let acronym_end = i > 0
                && chars[i - 1].is_uppercase()
                && chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if after_lower || acronym_end {
                snake.push('_');
            }
            snake.extend(c.to_lowercase());
        } else {
            snake.push(c);
        }
    }
    pluralize(&snake)
}

/// English plural of the last word, as Rails' common inflections make it.
fn pluralize(word: &str) -> String {
    let irregular = [("person", "people"), ("man", "men"), ("child", "children")];
    for (one, many) in irregular {
        if let Some(stem) = word.strip_suffix(one) {
            if stem.is_empty() || stem.ends_with('_') {
                return format!("{stem}{many}");
            }
        }
    }
    let vowel_before = |w: &str| w.chars().rev().nth(1).is_some_and(|c| "aeiou".contains(c));
    if word.ends_with('y') && !vowel_before(word) {
        format!("{}ies", &word[..word.len() - 1])
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| word.ends_with(e))
    {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_become_rails_table_names() {
        for (class, table) in [
            ("Post", "posts"),
            ("Photo", "photos"),
            ("Category", "categories"),
            ("Day", "days"),
            ("Address", "addresses"),
            ("Box", "boxes"),
            ("Match", "matches"),
            ("Person", "people"),
            ("SalesPerson", "sales_people"),
            ("Admin::User", "admin_users"),
            ("BlogPost", "blog_posts"),
            ("HTMLPage", "html_pages"),
            ("Mp3Track", "mp3_tracks"),
        ] {
            assert_eq!(tableize(class), table, "{class}");
        }
    }
}
