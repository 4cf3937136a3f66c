//! The `sync` command: plan, schema, copy, finish, swap.
//!
//! The order of the steps is the product's safety story:
//! 1. rules and the source catalog are checked before anything is written,
//!    then the target server (role, ownership, lock, leftovers);
//! 2. the load goes into a fresh `<target>__next` database;
//! 3. only when data, post-data, sequences and (with `--verify`) the leak
//!    check are all done is it renamed over the target, in one transaction;
//! 4. on any failure or signal before that, `<target>__next` is dropped and
//!    the target is left exactly as it was.

mod existing;
mod facts;
mod options;
mod sinks;

pub use options::{secret_from_env, SyncOptions, SECRET_FILE_VAR};

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Result;

use crate::cli::{SchemaMode, WorkersMode};
use crate::conn::{database_identity, ConnInfo};
use crate::error::{GapsFound, PgResultExt, UsageError};
use crate::pgdump;
use crate::pipeline::driver::{rows_to_copy, Cut, Driver};
use crate::pipeline::TableStats;
use crate::plan::{Plan, TablePlan};
use crate::post_data;
use crate::progress::{FinishOnDrop, Progress};
use crate::report::{Phases, Report};
use crate::signals::Signals;
use crate::source;
use crate::target::{self, TargetServer};
use crate::verify;
use crate::workers::control::RunIdentity;
use crate::workers::coordinator::Coordinator;
use facts::Facts;

/// What a finished sync did.
pub struct SyncOutcome {
    pub tables: Vec<TableStats>,
    /// Time per phase.
    pub phases: Phases,
    pub plan_text: Option<String>,
    pub seconds: f64,
}

/// Runs a sync and writes the report, whatever the outcome.
pub async fn run(opts: SyncOptions) -> Result<SyncOutcome> {
    let started_at = SystemTime::now();
    if let Some(path) = &opts.report {
        Report::check_writable(path)?;
    }
    let facts = Facts::default();
    // Installed before anything else: from here on SIGINT/SIGTERM end the
    // run through the cleanup path instead of killing the process outright.
    let result = match Signals::install() {
        Ok(mut signals) => run_inner(&opts, &facts, &mut signals).await,
        Err(e) => Err(e),
    };
    if let Some(path) = &opts.report {
        facts::write_report(path, &opts, &facts, started_at, &result).await?;
    }
    result
}

async fn run_inner(
    opts: &SyncOptions,
    facts: &Facts,
    signals: &mut Signals,
) -> Result<SyncOutcome> {
    let started = Instant::now();
    facts.mark();
    let (rules, snapshot, plan, excluded) = signals
        .guard(super::prepare(
            &opts.source,
            &opts.rules,
            opts.subset,
            opts.secret.as_deref(),
            opts.lock_timeout,
            &opts.selection,
            opts.schema == SchemaMode::Create,
        ))
        .await?;
    signals
        .guard(source::lock_tables(
            &snapshot.client,
            &plan
                .tables()
                .iter()
                .filter(|t| !t.skip)
                .map(|t| &t.table)
                .collect::<Vec<_>>(),
            opts.lock_timeout,
        ))
        .await?;
    facts.phase(|p| p.plan = Some(facts.since_mark()));
    facts.mark();
    *facts.digest.lock().expect("facts lock") = Some(rules.digest.clone());
    *facts.subset.lock().expect("facts lock") = rules.subset;
    if let Some(standby) = &snapshot.standby {
        *facts.source_replay.lock().expect("facts lock") = standby.last_replay.clone();
        if let Some(w) = standby.warning() {
            tracing::warn!("{w}");
        }
    }
    tracing::info!(tables = plan.tables().len(), rules = %rules.files.join(", "), "plan ready");
    if opts.dry_run {
        // What `--schema existing` would refuse in the target is told now
        // too, when the target is given and can be read; a dry run does
        // not fail on a target it cannot reach (the sync would say so).
        if let (SchemaMode::Existing, Some(target)) = (opts.schema, opts.target.as_ref()) {
            match signals.guard(target::connect(target)).await {
                Ok(client) => existing::refuse_outside_references(&client, &plan).await?,
                Err(e) if e.downcast_ref::<crate::error::Interrupted>().is_some() => return Err(e),
                Err(e) => tracing::warn!(
                    error = %crate::error::render(&e),
                    "could not read the target to check its foreign keys for --schema existing"
                ),
            }
        }
        return Ok(SyncOutcome {
            tables: vec![],
            phases: facts.phases(),
            plan_text: Some(crate::diagram::render(&plan, opts.plan_format)),
            seconds: 0.0,
        });
    }
    let target = opts.target.as_ref().expect("checked in from_args");

    let server = signals.guard(TargetServer::connect(target)).await?;
    signals
        .guard(async {
            refuse_same_database(&snapshot.client, &server).await?;
            server.lock().await
        })
        .await?;

    let tables = match opts.schema {
        SchemaMode::Create => {
            signals.guard(server.preflight(opts.force)).await?;
            signals
                .guard(async {
                    let need = crate::lock_capacity::LockNeed::count(&snapshot.client).await?;
                    crate::lock_capacity::refuse_target_overflow(&server.admin, need).await
                })
                .await?;
            let schema = signals
                .guard(dump_schema(&plan, &snapshot, opts, &excluded.tables))
                .await?;
            // Not under `guard`: a signal that comes while the database is
            // created and marked waits for the next guarded step, so the
            // cleanup below always finds our marker on it.
            let loaded = match server.create_next(&schema.encoding).await {
                Ok(next) => {
                    signals
                        .guard(load_fresh(
                            &server, &next, &schema, &plan, &snapshot, opts, facts,
                        ))
                        .await
                }
                Err(e) => Err(e),
            };
            // The swap is the commit point and takes a moment: it runs to its
            // end even if a signal comes, so a run is either wholly swapped
            // in or not at all (a signal then finds nothing left to stop).
            let r = match loaded {
                Ok(tables) => {
                    facts.mark();
                    let r = swap(&server, opts, &tables).await;
                    facts.phase(|p| p.swap = Some(facts.since_mark()));
                    if let Ok(true) = r {
                        if !opts.keep_previous {
                            // After the commit point, in its own phase: a
                            // large old target takes long to drop (54 s for
                            // 5,000 tables), and the new one is live meanwhile.
                            facts.mark();
                            server.drop_previous().await;
                            facts.phase(|p| p.drop_previous = Some(facts.since_mark()));
                        }
                    }
                    r.map(|_| tables)
                }
                Err(e) => Err(e),
            };
            if r.is_err() {
                // Only a database carrying our marker is dropped: a failure
                // before `create_next` must not touch a stranger's database.
                if let Err(e) = server.drop_if_ours(&server.next).await {
                    tracing::error!(error = %crate::error::render(&e), database = %server.next, "could not drop the load database; drop it by hand");
                }
            }
            r?
        }
        SchemaMode::Existing => {
            signals.guard(server.claim_existing(opts.force)).await?;
            signals
                .guard(existing::load_existing(
                    &server, target, &plan, &snapshot, opts, facts,
                ))
                .await?
        }
    };
    let empty = crate::report::empty_after_copy(&plan, &tables);
    for w in &empty {
        tracing::warn!(table = %w.table, "{}", w.message);
    }
    *facts.warnings.lock().expect("facts lock") = empty;
    Ok(SyncOutcome {
        tables,
        phases: facts.phases(),
        plan_text: None,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Refuses a target that is the source database under another name.
async fn refuse_same_database(
    source: &tokio_postgres::Client,
    server: &TargetServer,
) -> Result<()> {
    let src = database_identity(source).await?;
    let tgt_server = database_identity(&server.admin).await?;
    if src.server == tgt_server.server {
        let oid: Option<u32> = server
            .admin
            .query_opt(
                "SELECT oid FROM pg_database WHERE datname = $1",
                &[&server.target],
            )
            .await
            .pg_context(|| "looking up the target database".into())?
            .map(|r| r.get(0));
        let next_is_source: bool = server
            .admin
            .query_opt(
                "SELECT 1 FROM pg_database WHERE datname = $1 AND oid = $2",
                &[&server.next, &src.database_oid],
            )
            .await
            .pg_context(|| "looking up the load database".into())?
            .is_some();
        if oid == Some(src.database_oid) || next_is_source {
            return Err(UsageError::new(
                "the target is the source database; anonymize never writes to its source. Pass a different --target",
            )
            .into());
        }
    }
    Ok(())
}

/// The source's schema as pg_dump gives it, read in the run's snapshot.
struct SourceSchema {
    encoding: String,
    pre_data: String,
    post_data: String,
}

async fn dump_schema(
    plan: &Plan,
    snapshot: &source::Snapshot,
    opts: &SyncOptions,
    excluded: &[crate::catalog::QualifiedName],
) -> Result<SourceSchema> {
    let encoding: String = snapshot
        .client
        .query_one("SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()", &[])
        .await
        .pg_context(|| "reading the source encoding".into())?
        .get(0);
    // Large objects are data outside any table: neither pg_dump's schema
    // nor a table COPY carries them, so the run says it leaves them out.
    let large_objects: i64 = snapshot
        .client
        .query_one("SELECT count(*) FROM pg_largeobject_metadata", &[])
        .await
        .pg_context(|| "counting the source's large objects".into())?
        .get(0);
    if large_objects > 0 {
        tracing::warn!(
            large_objects,
            "the source holds large objects (lo_*), which are not copied: they are \
             unclassified data no rule can mask; columns holding their oids point at nothing \
             in the target"
        );
    }
    let pg_dump = pgdump::find_pg_dump(plan.catalog().server_version)?;
    let pgdump::Sections {
        pre_data,
        post_data,
    } = pgdump::dump_schema(
        &pg_dump,
        &opts.source,
        &snapshot.id,
        opts.privileges,
        opts.lock_timeout,
        excluded,
    )
    .await?;
    Ok(SourceSchema {
        encoding,
        pre_data,
        post_data,
    })
}

/// Loads the fresh `<target>__next` and finishes it (post-data, sequences,
/// views, statistics, row counts and `--verify`), ready to be swapped in.
#[allow(clippy::too_many_arguments)]
async fn load_fresh(
    server: &TargetServer,
    next: &ConnInfo,
    schema: &SourceSchema,
    plan: &Plan,
    snapshot: &source::Snapshot,
    opts: &SyncOptions,
    facts: &Facts,
) -> Result<Vec<TableStats>> {
    tracing::info!(database = %server.next, "loading into a fresh database");
    let (pre_data, missing) = pgdump::keep_known_roles(
        &schema.pre_data,
        &target::schema::roles(&server.admin).await?,
    );
    if !missing.is_empty() {
        tracing::warn!(
            roles = %missing.join(", "),
            "the target has no such roles (or the loading role may not give objects to them), \
             so their ownership and grants were left out; create them on the target server, \
             or pass --no-owner / --no-acl to leave owners and grants out on purpose"
        );
    }
    let first = target::connect(next).await?;
    target::schema::apply_pre_data(&first, &pre_data).await?;
    facts.phase(|p| p.schema = Some(facts.since_mark()));

    // Post-data runs beside the copy: a table's indexes and keys are built
    // as soon as it is loaded, on connections of their own.
    let copied: Vec<Arc<TablePlan>> = plan.tables().iter().filter(|t| !t.skip).cloned().collect();
    let progress = FinishOnDrop(Progress::new(opts.progress, rows_to_copy(plan.tables())));
    let scheduler = post_data::Scheduler::new(&schema.post_data, &copied, progress.0.post_data());
    let mut targets = vec![first];
    let (while_copying, after_copy) = post_data_workers(opts.jobs);
    for _ in 1..after_copy {
        targets.push(target::connect(next).await?);
    }
    let copy_started = Instant::now();
    let copy = async {
        let on_copied = |t: &TablePlan, s: &TableStats| {
            scheduler.table_copied(&t.table.name, s.rows_read);
            facts.add_table(s.clone());
        };
        let r = match opts.workers {
            WorkersMode::Local => {
                let driver = Driver {
                    source: &opts.source,
                    snapshot,
                    lock_timeout: opts.lock_timeout,
                    jobs: opts.jobs,
                    cut: Cut::PageRanges {
                        server_version: plan.catalog().server_version,
                    },
                };
                let sinks = sinks::FreshTables {
                    next,
                    sizes: source::current_sizes(&snapshot.client, &copied).await?,
                };
                driver
                    .copy_all(&copied, &sinks, &progress.0, on_copied)
                    .await
            }
            WorkersMode::External => {
                let coordinator = Coordinator {
                    snapshot,
                    target: next,
                    server_version: plan.catalog().server_version,
                    identity: run_identity(plan, snapshot, opts),
                };
                let r = coordinator.copy_all(&copied, &progress.0, on_copied).await;
                r.map(|(tables, workers)| {
                    *facts.workers.lock().expect("facts lock") = Some(workers);
                    tables
                })
            }
        };
        scheduler.all_copied();
        r.map(|t| (t, Instant::now()))
    };
    let ((mut tables, copy_ended), ()) = tokio::try_join!(
        copy,
        scheduler.run(&targets, while_copying, &schema.post_data)
    )?;
    let timing = scheduler.timing();
    drop(progress);
    facts.phase(|p| {
        p.copy = Some(copy_ended.duration_since(copy_started).as_secs_f64());
        if let (Some(a), Some(b)) = (timing.started, timing.finished) {
            p.post_data = Some(b.duration_since(a).as_secs_f64());
            p.post_data_after_copy = Some(b.saturating_duration_since(copy_ended).as_secs_f64());
        }
        p.row_counts = Some(timing.count_seconds);
    });
    tracing::info!(
        seconds = timing.count_seconds,
        "row counts in the target match the rows sent"
    );
    // Each table was counted and matched the rows sent.
    for t in &mut tables {
        t.rows_written = t.rows_read;
    }

    facts.mark();
    target::finish::set_sequences(&targets[0], plan.catalog()).await?;
    target::finish::refresh_materialized_views(&targets[0], plan.catalog()).await?;
    analyze_the_rest(&targets[0], &copied).await?;
    facts.phase(|p| p.finish = Some(facts.since_mark()));
    drop(targets);

    if opts.verify {
        let client = target::connect(next).await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .pg_context(|| "starting the verify transaction on the load database".into())?;
        facts.mark();
        verify_before_swap(plan, snapshot, &client, facts, opts.verify_sample).await?;
        facts.phase(|p| p.verify = Some(facts.since_mark()));
    }

    Ok(tables)
}

/// Post-data connections, as (taking tasks while the copy runs, in all):
/// as many as copy workers while it runs, at most 4 (index builds are
/// CPU-bound on the server; more only queue); once it is done, the copy's
/// share too, so the last big table's indexes and keys build side by
/// side instead of two at a time.
fn post_data_workers(jobs: usize) -> (usize, usize) {
    let while_copying = jobs.clamp(1, 4);
    (while_copying, (2 * jobs).clamp(1, 8))
}

/// `ANALYZE` of what the per-table steps did not analyze: materialized
/// views, skipped tables, anything pg_dump made that the copy did not name.
/// Partitions are analyzed through their root.
async fn analyze_the_rest(
    client: &tokio_postgres::Client,
    copied: &[Arc<TablePlan>],
) -> Result<()> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition \
                AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'",
            &[],
        )
        .await
        .pg_context(|| "listing the target's relations".into())?;
    let names: Vec<String> = rows
        .iter()
        .map(|r| crate::catalog::QualifiedName::new(r.get::<_, String>(0), r.get::<_, String>(1)))
        .filter(|n| !copied.iter().any(|t| &t.table.name == n))
        .map(|n| n.sql())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    client
        .batch_execute(&format!("ANALYZE {}", names.join(", ")))
        .await
        .pg_context(|| "analyzing the target".into())
}

/// Makes the loaded `<target>__next` the target; whether there was an old
/// target (renamed aside, to be dropped).
async fn swap(server: &TargetServer, opts: &SyncOptions, tables: &[TableStats]) -> Result<bool> {
    let rows: u64 = tables.iter().map(|t| t.rows_written).sum();
    let replaced = server
        .swap(
            opts.terminate_connections,
            &format!(
                "loaded {} rows from {} at {}",
                rows,
                opts.source.redacted(),
                crate::report::rfc3339(SystemTime::now())
            ),
        )
        .await?;
    tracing::info!(database = %server.target, "target replaced");
    Ok(replaced)
}

/// What the workers of `--workers external` must share with this run.
fn run_identity(plan: &Plan, snapshot: &source::Snapshot, opts: &SyncOptions) -> RunIdentity {
    RunIdentity {
        snapshot: snapshot.id.clone(),
        rules_digest: plan.rules_digest().to_string(),
        secret_fingerprint: crate::workers::secret_fingerprint(opts.secret.as_deref()),
        subset: plan.subset(),
        selection: crate::workers::selection_text(&opts.selection),
    }
}

/// `sync --verify`: checks the loaded rows against the source snapshot they
/// came from, before they go live. A leak stops the run with exit 3.
async fn verify_before_swap(
    plan: &Plan,
    snapshot: &source::Snapshot,
    target: &tokio_postgres::Client,
    facts: &Facts,
    sample: u32,
) -> Result<()> {
    tracing::info!(sample, "verifying that no original value is left");
    let report = verify::check(plan, &snapshot.client, target, sample).await?;
    verify::log_findings(&report);
    let failures = report.failures;
    *facts.verify.lock().expect("facts lock") = Some(report);
    if failures > 0 {
        return Err(GapsFound(format!(
            "verify found {failures} leaking column(s); the target was left as it was"
        ))
        .into());
    }
    Ok(())
}
