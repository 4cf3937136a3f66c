//! The target's finishing steps once every row is in and post-data is
//! built: sequences continue after the source's values, and materialized
//! views are computed from the loaded rows.

use anyhow::Result;
use tokio_postgres::Client;

use crate::catalog::{Catalog, QualifiedName};
use crate::error::PgResultExt;
use crate::sql::quote_literal;

/// A `setval` per sequence whose source value is known, one a line: a
/// sync runs them, an export writes them.
pub fn setval_statements(catalog: &Catalog) -> String {
    let mut sql = String::new();
    for s in &catalog.sequences {
        if let Some(v) = s.last_value {
            sql.push_str(&format!(
                "SELECT pg_catalog.setval({}, {v}, {});\n",
                quote_literal(&s.name.sql()),
                s.is_called
            ));
        }
    }
    sql
}

/// `REFRESH MATERIALIZED VIEW` of one view.
pub fn refresh_statement(view: &QualifiedName) -> String {
    format!("REFRESH MATERIALIZED VIEW {}", view.sql())
}

/// Sets every sequence to the source's value, so new rows continue after
/// the copied ones.
pub async fn set_sequences(client: &Client, catalog: &Catalog) -> Result<()> {
    let sql = setval_statements(catalog);
    if sql.is_empty() {
        return Ok(());
    }
    client
        .batch_execute(&sql)
        .await
        .pg_context(|| "setting sequences on the target".into())
}

/// Refreshes the materialized views that were populated in the source.
pub async fn refresh_materialized_views(client: &Client, catalog: &Catalog) -> Result<()> {
    for mv in &catalog.materialized_views {
        client
            .batch_execute(&refresh_statement(mv))
            .await
            .pg_context(|| format!("refreshing materialized view {mv}"))?;
    }
    Ok(())
}
