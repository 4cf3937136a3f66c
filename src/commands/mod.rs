//! The commands: each one strings the stages together for one job.

pub mod check;
pub mod demo;
pub mod export;
pub mod filter;
pub mod init;
pub mod load;
pub mod sync;
pub mod verify;

use anyhow::Result;

use crate::catalog::Catalog;
use crate::conn::ConnInfo;
use crate::error::PgResultExt;
use crate::plan::{Plan, Secret};
use crate::rules::Rules;
use crate::selection::Excluded;
use crate::source;
use crate::subset::SubsetSpec;
use crate::transform::Key;

/// Loads the rules, opens the run's snapshot, reads the catalog in it and
/// builds the plan (`plan::prepare`), then checks what needs the source
/// (constants, `where:` filters, row-level security). The table selection
/// (`-t/-T/-n/-N`) is applied to the catalog and the rules first; what it
/// left out is returned, for pg_dump. `sync` and `export`
/// start here; `check` calls `plan::prepare` itself, as it reports problems
/// instead of stopping at them.
pub async fn prepare(
    source: &ConnInfo,
    rules_path: &std::path::Path,
    subset: Option<SubsetSpec>,
    secret: Option<&[u8]>,
    lock_timeout: std::time::Duration,
    selection: &crate::selection::Selection,
) -> Result<(Rules, source::Snapshot, Plan, Excluded)> {
    if let Some(secret) = secret {
        crate::transform::check_secret(secret)?;
    }
    let mut rules = crate::rules::load::load(rules_path)?;
    if subset.is_some() {
        rules.subset = subset;
    }
    let snapshot = source::open_snapshot_with(source, lock_timeout).await?;
    let mut catalog = Catalog::read(&snapshot.client).await?;
    let excluded = selection.apply(&mut catalog, &mut rules)?;
    let key = secret.map(Key::new);
    let plan = crate::plan::prepare(&rules, catalog, Secret::given(key.as_ref()))?;
    crate::plan::check_constants(&rules, &plan.catalog, &snapshot.client).await?;
    crate::plan::check_filters(&rules, &plan.catalog, &snapshot.client).await?;
    let role: String = snapshot
        .client
        .query_one("SELECT current_user::text", &[])
        .await
        .pg_context(|| "reading the source role".into())?
        .get(0);
    let copied: Vec<&crate::catalog::Table> = plan
        .tables
        .iter()
        .filter(|t| !t.skip)
        .map(|t| &t.table)
        .collect();
    source::refuse_row_security(&copied, &role)?;
    Ok((rules, snapshot, plan, excluded))
}
