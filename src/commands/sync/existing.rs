//! `sync --schema existing`: load into the target's own tables instead of
//! a fresh database (no swap; one transaction instead).

use std::time::Instant;

use anyhow::Result;

use super::facts::Facts;
use super::sinks::ExistingTables;
use super::{verify_before_swap, SyncOptions};
use crate::conn::ConnInfo;
use crate::error::{PgResultExt, UsageError};
use crate::pipeline::driver::{rows_to_copy, Cut, Driver};
use crate::pipeline::TableStats;
use crate::plan::{Plan, TablePlan};
use crate::progress::{FinishOnDrop, Progress};
use crate::source;
use crate::target::{self, LoadedTable, TargetServer};

/// `--schema existing`: truncate and load the target's own schema in one
/// transaction, with triggers (and so FK checks) off for the session.
pub(super) async fn load_existing(
    server: &TargetServer,
    target: &ConnInfo,
    plan: &Plan,
    snapshot: &source::Snapshot,
    opts: &SyncOptions,
    facts: &Facts,
) -> Result<Vec<TableStats>> {
    let client = target::connect(target).await?;
    let names: Vec<String> = plan.tables().iter().map(|t| t.table.sql_only()).collect();
    client
        .batch_execute("BEGIN")
        .await
        .pg_context(|| "starting the load transaction".into())?;
    if let Err(e) = client
        .batch_execute("SET LOCAL session_replication_role = replica")
        .await
    {
        return Err(UsageError::new(format!(
            "--schema existing needs to disable triggers for the load (session_replication_role), which needs a superuser or a role granted SET on it: {}",
            crate::error::pg_error_text(&e)
        ))
        .into());
    }
    refuse_outside_references(&client, plan).await?;
    if !names.is_empty() {
        // Each name with ONLY where it applies: a bare TRUNCATE of an
        // inheritance parent would also empty children that are not ours.
        client
            .batch_execute(&format!("TRUNCATE {}", names.join(", ")))
            .await
            .pg_context(|| "truncating the target tables".into())?;
    }
    facts.phase(|p| p.schema = Some(facts.since_mark()));
    facts.mark();
    let progress = FinishOnDrop(Progress::new(opts.progress, rows_to_copy(plan.tables())));
    // One worker: every table goes into the connection whose transaction
    // truncated them.
    let driver = Driver {
        source: &opts.source,
        snapshot,
        lock_timeout: opts.lock_timeout,
        jobs: 1,
        cut: Cut::WholeTables {
            stable_order: false,
            as_given: false,
        },
    };
    let sinks = ExistingTables { client: &client };
    let stats = driver
        .copy_all(plan.tables(), &sinks, &progress.0, |_, s| {
            facts.add_table(s.clone())
        })
        .await?;
    drop(progress);
    facts.phase(|p| p.copy = Some(facts.since_mark()));
    facts.mark();
    let stats = checked_row_counts(std::slice::from_ref(&client), plan, stats).await?;
    facts.phase(|p| p.row_counts = Some(facts.since_mark()));
    facts.mark();
    target::validate_foreign_keys(&client).await?;
    target::finish::set_sequences(&client, plan.catalog()).await?;
    facts.phase(|p| p.finish = Some(facts.since_mark()));
    if opts.verify {
        // Inside the load transaction: verify sees the new rows before
        // anyone else can, and a leak rolls them back.
        facts.mark();
        verify_before_swap(plan, snapshot, &client, facts, opts.verify_sample).await?;
        facts.phase(|p| p.verify = Some(facts.since_mark()));
    }
    mark_existing(server, &client).await?;
    client
        .batch_execute("COMMIT")
        .await
        .pg_context(|| "committing the load".into())?;
    Ok(stats)
}

/// Refuses (exit 2) a target where a table the run does not load has a
/// foreign key to one it does: emptying the loaded one would leave those
/// rows pointing at nothing, so PostgreSQL refuses the TRUNCATE, and its
/// advice (`TRUNCATE ... CASCADE`) would empty the user's own tables.
/// Runs before anything is emptied; `--dry-run` runs it too.
pub(super) async fn refuse_outside_references(
    client: &tokio_postgres::Client,
    plan: &Plan,
) -> Result<()> {
    let loaded: std::collections::BTreeSet<String> = plan
        .tables()
        .iter()
        .map(|t| t.table.name.to_string())
        .collect();
    let outside = target::outside_references(client, &loaded).await?;
    if outside.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = outside.iter().map(|r| format!("  {r}")).collect();
    Err(UsageError::new(format!(
        "--schema existing empties and reloads the tables it copies, but tables it does not load reference them in the target; nothing was emptied:\n{}\n  \
         hint: {}",
        lines.join("\n"),
        target::OUTSIDE_REFERENCE_HINT
    ))
    .into())
}

/// Marks the target as loaded by anonymize, in the load's transaction. Only
/// the database's owner may comment on it; another role loads fine but is
/// told that the next run will need `--force` again.
async fn mark_existing(server: &TargetServer, client: &tokio_postgres::Client) -> Result<()> {
    client
        .batch_execute("SAVEPOINT mark")
        .await
        .pg_context(|| "marking the target".into())?;
    if let Err(e) = client
        .batch_execute(&server.mark_existing_statement())
        .await
    {
        tracing::warn!(
            reason = %crate::error::pg_error_text(&e),
            database = %server.target,
            "could not mark the target as loaded by anonymize (only its owner may); the next --schema existing run will need --force again"
        );
        client
            .batch_execute("ROLLBACK TO SAVEPOINT mark")
            .await
            .pg_context(|| "marking the target".into())?;
    }
    Ok(())
}

/// Counts the loaded tables in the target and fails the run unless each
/// holds the rows sent to it; returns the stats with `rows_written` set to
/// what the target holds, so the summary and the report tell the truth.
pub(super) async fn checked_row_counts(
    clients: &[tokio_postgres::Client],
    plan: &Plan,
    mut stats: Vec<TableStats>,
) -> Result<Vec<TableStats>> {
    let started = Instant::now();
    let by_name: std::collections::HashMap<String, &TablePlan> = plan
        .tables()
        .iter()
        .map(|t| (t.table.name.to_string(), &**t))
        .collect();
    let loaded: Vec<LoadedTable> = stats
        .iter()
        .map(|s| LoadedTable {
            plan: by_name[&s.table],
            rows_sent: s.rows_read,
        })
        .collect();
    let counts = target::check_row_counts(clients, &loaded).await?;
    for (s, n) in stats.iter_mut().zip(counts) {
        s.rows_written = n;
    }
    tracing::info!(
        tables = stats.len(),
        seconds = started.elapsed().as_secs_f64(),
        "row counts in the target match the rows sent"
    );
    Ok(stats)
}
