//! What the source role may read, against what a run reads: every table
//! (the copy reads them, pg_dump and the run lock them), the schemas that
//! hold them, and every sequence (the target's are set from them).
//!
//! Read from the catalog inside the run's snapshot, so `check` reports
//! each gap (kind `access`) and `sync` refuses before it locks anything
//! (exit 2), instead of failing at "locking the source tables" (exit 1),
//! or starting a sequence at 1 behind its column's values.
//!
//! Row-level security is the other half of "can the role read it all":
//! `source::refuse_row_security` and `check` handle it.

use anyhow::Result;
use tokio_postgres::Client;

use crate::catalog::{Catalog, QualifiedName};
use crate::error::PgResultExt;
use crate::sql::{display_ident, quote_ident};

/// One thing the source role may not read that the run reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGap {
    /// The table, sequence or schema, as users write it.
    pub object: String,
    pub message: String,
    /// The statement that fixes it.
    pub hint: String,
}

/// Every gap between the role's privileges and what a run of `catalog`'s
/// tables and sequences reads. `role` is the source role's name.
pub async fn gaps(client: &Client, catalog: &Catalog, role: &str) -> Result<Vec<AccessGap>> {
    let grantee = quote_ident(role);
    let mut out = Vec::new();

    // Schemas first: without USAGE nothing in them can be read, whatever
    // the grants on the tables say.
    let mut schemas: Vec<&str> = catalog
        .tables
        .iter()
        .map(|t| t.name.schema.as_str())
        .chain(catalog.sequences.iter().map(|s| s.name.schema.as_str()))
        .collect();
    schemas.sort_unstable();
    schemas.dedup();
    // One query for all of them: a round trip per schema or table cost
    // seconds with thousands of tenant schemas.
    let usable: Vec<bool> = client
        .query(
            "SELECT has_schema_privilege(s, 'USAGE') \
               FROM unnest($1::text[]) WITH ORDINALITY AS u(s, i) ORDER BY i",
            &[&schemas],
        )
        .await
        .pg_context(|| "reading the source role's privileges".into())?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut closed_schemas = Vec::new();
    for (schema, usage) in schemas.into_iter().zip(usable) {
        if !usage {
            closed_schemas.push(schema.to_string());
            out.push(AccessGap {
                object: display_ident(schema),
                message: format!(
                    "the source role `{role}` may not use schema {}, so no table or sequence in it can be read",
                    display_ident(schema)
                ),
                hint: format!("GRANT USAGE ON SCHEMA {} TO {grantee};", quote_ident(schema)),
            });
        }
    }

    // Tables, and the partitions pg_dump locks one by one.
    let relations: Vec<&QualifiedName> = catalog
        .tables
        .iter()
        .map(|t| &t.name)
        .chain(catalog.partitions.iter().map(|(p, _)| p))
        .filter(|n| !closed_schemas.contains(&n.schema))
        .collect();
    // The tables the role may not read, in `relations`' order, each with
    // the columns it may read (a column-level grant); one query for all.
    let schemas: Vec<&str> = relations.iter().map(|n| n.schema.as_str()).collect();
    let names: Vec<&str> = relations.iter().map(|n| n.name.as_str()).collect();
    let unreadable = client
        .query(
            "SELECT r.i, \
                    array(SELECT a.attname::text FROM pg_attribute a \
                           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                             AND has_column_privilege(c.oid, a.attnum, 'SELECT') \
                           ORDER BY a.attnum) \
               FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS r(schema, name, i) \
               JOIN pg_namespace n ON n.nspname = r.schema \
               JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.name \
              WHERE NOT has_table_privilege(c.oid, 'SELECT') \
              ORDER BY r.i",
            &[&schemas, &names],
        )
        .await
        .pg_context(|| "reading the source role's privileges".into())?;
    for row in unreadable {
        let name = relations[(row.get::<_, i64>(0) - 1) as usize];
        let columns: Vec<String> = row.get(1);
        let message = if columns.is_empty() {
            format!("the source role `{role}` may not read table {name}")
        } else {
            let list: Vec<String> = columns.iter().map(|c| display_ident(c)).collect();
            format!(
                "the source role `{role}` may read only columns {} of table {name} (a column-level grant); the run locks and reads the whole table",
                list.join(", ")
            )
        };
        out.push(AccessGap {
            object: name.to_string(),
            message,
            hint: format!(
                "GRANT SELECT ON {} TO {grantee}; (or GRANT pg_read_all_data TO {grantee};)",
                name.sql()
            ),
        });
    }

    // Sequences: one the role cannot read would start the target's at its
    // start value, behind the column it numbers.
    for s in catalog.sequences.iter().filter(|s| s.last_value.is_none()) {
        if closed_schemas.contains(&s.name.schema) {
            continue;
        }
        out.push(AccessGap {
            object: s.name.to_string(),
            message: format!(
                "the source role `{role}` may not read sequence {}, so the target's would start behind the values already in its column",
                s.name
            ),
            hint: format!("GRANT SELECT ON SEQUENCE {} TO {grantee};", s.name.sql()),
        });
    }
    Ok(out)
}

/// Refuses a run whose role cannot read what it reads (exit 2), naming
/// every object and the grant that fixes it.
pub fn refuse(gaps: &[AccessGap]) -> Result<()> {
    if gaps.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = gaps
        .iter()
        .map(|g| format!("  {}\n    hint: {}", g.message, g.hint))
        .collect();
    Err(crate::error::UsageError::new(format!(
        "the source role cannot read everything the run reads; nothing was copied. Grant these as the objects' owner (or run `anonymize check` to list them):\n{}",
        lines.join("\n")
    ))
    .into())
}
