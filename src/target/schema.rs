//! The schema on a fresh target: pg_dump's pre-data applied, with the
//! ownership and grants of roles the target server lacks left out
//! (`pgdump::keep_known_roles`, fed by `roles`).

use anyhow::Result;
use tokio_postgres::Client;

use crate::error::PgResultExt;
use crate::pgdump::TargetRole;

/// Reads the target server's roles, for `pgdump::keep_known_roles`.
pub async fn roles(client: &Client) -> Result<Vec<TargetRole>> {
    Ok(client
        .query(
            "SELECT rolname::text, \
                    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                    OR pg_has_role(current_user, oid, 'MEMBER') \
               FROM pg_roles",
            &[],
        )
        .await
        .pg_context(|| "reading the target's roles".into())?
        .iter()
        .map(|r| TargetRole {
            name: r.get(0),
            may_own: r.get(1),
        })
        .collect())
}

/// Applies the pre-data script to the (empty) load database.
pub async fn apply_pre_data(client: &Client, script: &str) -> Result<()> {
    client
        .batch_execute(script)
        .await
        .pg_context(|| "creating the schema on the target (pg_dump pre-data)".into())
}
