//! The commands: each one strings the stages together for one job.

pub mod check;
pub mod demo;
pub mod export;
pub mod filter;
pub mod init;
pub mod load;
pub mod sync;
pub mod verify;
pub mod worker;

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
/// (constants, `where:` filters, the SQL of `when:` and `sql:`,
/// `varchar(n)` lengths, row-level security, the role's privileges). The
/// table selection (`-t/-T/-n/-N`) is applied to the catalog and the rules
/// first; what it left out is returned, for pg_dump. `sync` and `export`
/// start here; `check` calls `plan::prepare` itself, as it reports problems
/// instead of stopping at them.
pub async fn prepare(
    source: &ConnInfo,
    rules_path: &std::path::Path,
    subset: Option<SubsetSpec>,
    secret: Option<&[u8]>,
    lock_timeout: std::time::Duration,
    selection: &crate::selection::Selection,
    copies_schema: bool,
) -> Result<(Rules, source::Snapshot, Plan, Excluded)> {
    let prepared = prepare_inner(
        source,
        rules_path,
        subset,
        secret,
        lock_timeout,
        selection,
        copies_schema,
    )
    .await;
    // The catalog and schema-text reads lock tables too: one held by a
    // migration ends the run there, with the same advice as the lock step.
    prepared.map_err(|e| {
        // `pg_context` keeps the SQLSTATE in its text (`ERROR (55P03)`).
        let locked = e
            .chain()
            .any(|c| match c.downcast_ref::<tokio_postgres::Error>() {
                Some(pg) => crate::error::sqlstate(pg) == Some("55P03"),
                None => c.to_string().contains("(55P03)"),
            });
        if locked {
            source::lock_timed_out(lock_timeout)
        } else {
            e
        }
    })
}

async fn prepare_inner(
    source: &ConnInfo,
    rules_path: &std::path::Path,
    subset: Option<SubsetSpec>,
    secret: Option<&[u8]>,
    lock_timeout: std::time::Duration,
    selection: &crate::selection::Selection,
    copies_schema: bool,
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
    crate::lock_capacity::refuse_source_overflow(&snapshot.client).await?;
    let key = secret.map(Key::new);
    // Every rules problem at once, as `check` lists them: the plan's, then
    // those the source must answer (constants, filters, lengths, the SQL of
    // `when:`, `sql:` and polymorphic references), run on
    // the catalog whether or not the plan was built.
    let planned = crate::plan::prepare(&rules, catalog.clone(), Secret::given(key.as_ref()));
    let mut problems: Vec<crate::error::RulesError> = Vec::new();
    if let Err(e) = &planned {
        problems.extend(e.0.iter().map(|p| p.error.clone()));
    }
    for checked in [
        crate::plan::check_constants(&rules, &catalog, &snapshot.client).await,
        crate::plan::check_filters(&rules, &catalog, &snapshot.client).await,
        crate::plan::fit::check_source_lengths(&rules, &catalog, &snapshot.client).await,
        crate::plan::rule_sql::check(&rules, &catalog, &snapshot.client).await,
        crate::plan::check_small_domains(&rules, &catalog, &snapshot.client).await,
    ] {
        if let Err(e) = checked {
            problems.extend(e.downcast::<crate::error::RulesErrors>()?.0);
        }
    }
    let plan = match planned {
        Ok(plan) if problems.is_empty() => plan,
        _ => return Err(crate::error::RulesErrors(problems).into()),
    };
    // pg_dump copies these texts verbatim (unless the target's schema is
    // the application's own, `--into existing`): no live path to
    // production, and a word about personal data no rule can cover.
    if copies_schema {
        let schema_texts = crate::schema_text::read(&snapshot.client).await?;
        crate::schema_text::refuse_connection_strings(&rules, &schema_texts)?;
        for line in crate::schema_text::personal_literals(&rules, &schema_texts) {
            tracing::warn!("{line}");
        }
    }
    let role: String = snapshot
        .client
        .query_one("SELECT current_user::text", &[])
        .await
        .pg_context(|| "reading the source role".into())?
        .get(0);
    let copied: Vec<&crate::catalog::Table> = plan
        .tables()
        .iter()
        .filter(|t| !t.skip)
        .map(|t| &t.table)
        .collect();
    source::refuse_row_security(&copied, &role)?;
    // Before the run locks anything: a table it may not read would fail
    // there, after the plan, with exit 1.
    crate::access::refuse(&crate::access::gaps(&snapshot.client, plan.catalog(), &role).await?)?;
    Ok((rules, snapshot, plan, excluded))
}
