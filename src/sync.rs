//! The `sync` command: plan, schema, copy, finish, swap.
//!
//! The order of the steps is the product's safety story:
//! 1. rules and the source catalog are checked before anything is written;
//! 2. the load goes into a fresh `<target>__next` database;
//! 3. only when data, post-data and sequences are all in place is it
//!    renamed over the target, in one transaction;
//! 4. on any failure or signal, `<target>__next` is dropped and the target
//!    is left exactly as it was.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};
use tokio::sync::Mutex;

use crate::catalog::Catalog;
use crate::cli::{SchemaMode, SyncArgs};
use crate::conn::{database_identity, ConnInfo};
use crate::error::{Interrupted, PgResultExt, UsageError};
use crate::pipeline::{copy_table, TableStats};
use crate::plan::{Plan, TablePlan};
use crate::progress::Progress;
use crate::report::Report;
use crate::rules::Rules;
use crate::schema::{self, Section};
use crate::sink::postgres::{self as pg_sink, CopySink, TargetServer, TargetState};
use crate::source;
use crate::subset::SubsetSpec;
use crate::transform::Key;

/// Everything a sync needs, resolved from flags and environment.
pub struct SyncOptions {
    pub source: ConnInfo,
    pub target: Option<ConnInfo>,
    pub rules: PathBuf,
    pub subset: Option<SubsetSpec>,
    pub jobs: usize,
    pub dry_run: bool,
    pub schema: SchemaMode,
    pub report: Option<PathBuf>,
    pub progress: bool,
    pub force: bool,
    pub keep_previous: bool,
    pub terminate_connections: bool,
    /// `ANONYMIZE_SECRET`; `None` when unset.
    pub secret: Option<Vec<u8>>,
}

impl SyncOptions {
    /// Resolves what the user typed (flags win over environment).
    pub fn from_args(args: &SyncArgs) -> Result<SyncOptions> {
        let source = args.common.source.as_deref().ok_or_else(|| {
            UsageError::new("no source database; pass --source URL or set SOURCE_DATABASE_URL")
        })?;
        let source = ConnInfo::parse(source, "--source")?;
        let target = match (&args.target, args.dry_run) {
            (Some(t), _) => Some(ConnInfo::parse(t, "--target")?),
            (None, true) => None,
            (None, false) => {
                return Err(UsageError::new(
                    "no target database; pass --target URL or set TARGET_DATABASE_URL",
                )
                .into())
            }
        };
        let subset = args
            .subset
            .as_deref()
            .map(SubsetSpec::parse)
            .transpose()
            .map_err(|m| UsageError::new(format!("--subset: {m}")))?;
        let jobs = args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        });
        if jobs == 0 {
            return Err(UsageError::new("--jobs must be at least 1").into());
        }
        Ok(SyncOptions {
            source,
            target,
            rules: args.common.rules.clone(),
            subset,
            jobs,
            dry_run: args.dry_run,
            schema: args.schema,
            report: args.report.clone(),
            progress: !args.no_progress,
            force: args.force,
            keep_previous: args.keep_previous,
            terminate_connections: args.terminate_connections,
            secret: secret_from_env(),
        })
    }
}

/// `ANONYMIZE_SECRET`, if set and not empty.
pub fn secret_from_env() -> Option<Vec<u8>> {
    std::env::var_os("ANONYMIZE_SECRET")
        .filter(|s| !s.is_empty())
        .map(|s| s.into_encoded_bytes())
}

/// What a finished sync did.
pub struct SyncOutcome {
    pub tables: Vec<TableStats>,
    pub plan_text: Option<String>,
    pub seconds: f64,
}

/// Loads the rules, reads the catalog in the snapshot and builds the plan.
/// Shared by `sync`, `check` and `export`.
pub async fn prepare(
    source: &ConnInfo,
    rules_path: &std::path::Path,
    subset: Option<SubsetSpec>,
    secret: Option<&[u8]>,
) -> Result<(Rules, source::Snapshot, Plan)> {
    let mut rules = crate::rules::load::load(rules_path)?;
    if subset.is_some() {
        rules.subset = subset;
    }
    let snapshot = source::open_snapshot(source).await?;
    let catalog = Catalog::read(&snapshot.client).await?;
    let key = secret.map(Key::new);
    let mut plan = Plan::build(&rules, catalog, key.as_ref())?;
    crate::subset::apply(&mut plan, &rules, key.as_ref().unwrap_or(&Key::new(b"")))?;
    Ok((rules, snapshot, plan))
}

/// Runs a sync and writes the report, whatever the outcome.
pub async fn run(opts: SyncOptions) -> Result<SyncOutcome> {
    let started_at = SystemTime::now();
    let mut digest = None;
    // The subset in effect: --subset, else the rules' default.
    let mut subset = opts.subset;
    let result = run_inner(&opts, &mut digest, &mut subset).await;
    if let Some(path) = &opts.report {
        let (outcome, error, code) = match &result {
            Ok(_) => ("success", None, 0),
            Err(e) => {
                let code = crate::error::exit_code(e);
                let outcome = if code >= 128 { "interrupted" } else { "failed" };
                (outcome, Some(crate::error::render(e)), code)
            }
        };
        let report = Report {
            tool: "anonymize",
            version: env!("CARGO_PKG_VERSION"),
            started_at: crate::report::rfc3339(started_at),
            finished_at: crate::report::rfc3339(SystemTime::now()),
            seconds: started_at.elapsed().unwrap_or_default().as_secs_f64(),
            outcome: outcome.to_string(),
            error,
            exit_code: code,
            source: opts.source.redacted().to_string(),
            target: opts.target.as_ref().map(|t| t.redacted().to_string()),
            rules_digest: digest,
            subset: subset.map(|s| s.to_string()),
            tables: result
                .as_ref()
                .map(|o| o.tables.clone())
                .unwrap_or_default(),
        };
        report.write(path)?;
    }
    result
}

async fn run_inner(
    opts: &SyncOptions,
    digest: &mut Option<String>,
    subset: &mut Option<SubsetSpec>,
) -> Result<SyncOutcome> {
    let started = Instant::now();
    let (rules, snapshot, plan) = prepare(
        &opts.source,
        &opts.rules,
        opts.subset,
        opts.secret.as_deref(),
    )
    .await?;
    *digest = Some(rules.digest.clone());
    *subset = rules.subset;
    tracing::info!(tables = plan.tables.len(), rules = %rules.files.join(", "), "plan ready");
    if opts.dry_run {
        return Ok(SyncOutcome {
            tables: vec![],
            plan_text: Some(plan.describe()),
            seconds: 0.0,
        });
    }
    let target = opts.target.as_ref().expect("checked in from_args");

    let server = TargetServer::connect(target).await?;
    refuse_same_database(&snapshot.client, &server).await?;
    server.lock().await?;

    let result = match opts.schema {
        SchemaMode::Create => {
            match server.state().await? {
                TargetState::Foreign { tables } if !opts.force => {
                    return Err(UsageError::new(format!(
                        "target database {} holds {tables} table(s) and was not made by anonymize; \
                         pass --force to replace it",
                        server.target
                    ))
                    .into())
                }
                _ => {}
            }
            let load = load_fresh(&server, &plan, &snapshot, opts);
            let r = with_signals(load).await;
            if r.is_err() {
                if let Err(e) = server.drop_database(&server.next).await {
                    tracing::error!(error = %crate::error::render(&e), database = %server.next, "could not drop the load database; drop it by hand");
                }
            }
            r
        }
        SchemaMode::Existing => with_signals(load_existing(target, &plan, &snapshot, opts)).await,
    }?;
    Ok(SyncOutcome {
        tables: result,
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

/// Runs `fut`, turning SIGINT/SIGTERM into `Interrupted` (the future is
/// dropped, which aborts every open COPY).
pub(crate) async fn with_signals<T>(
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        r = fut => r,
        _ = term.recv() => Err(Interrupted { signal: "SIGTERM", exit_code: 143 }.into()),
        _ = int.recv() => Err(Interrupted { signal: "SIGINT", exit_code: 130 }.into()),
    }
}

/// Load into `<target>__next`, finish it, and swap it in.
async fn load_fresh(
    server: &TargetServer,
    plan: &Plan,
    snapshot: &source::Snapshot,
    opts: &SyncOptions,
) -> Result<Vec<TableStats>> {
    let encoding: String = snapshot
        .client
        .query_one("SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()", &[])
        .await
        .pg_context(|| "reading the source encoding".into())?
        .get(0);
    let pg_dump = schema::find_pg_dump(plan.catalog.server_version)?;
    let (pre, post) = tokio::try_join!(
        schema::dump(&pg_dump, &opts.source, &snapshot.id, Section::PreData),
        schema::dump(&pg_dump, &opts.source, &snapshot.id, Section::PostData),
    )?;

    let next = server.create_next(&encoding).await?;
    tracing::info!(database = %server.next, "loading into a fresh database");
    let first = pg_sink::connect(&next).await?;
    schema::apply_pre_data(&first, &pre).await?;

    let tables = copy_all(
        plan,
        &opts.source,
        &snapshot.id,
        &next,
        opts.jobs,
        opts.progress,
        true,
    )
    .await?;

    let mut targets = vec![first];
    for _ in 1..opts.jobs.min(4) {
        targets.push(pg_sink::connect(&next).await?);
    }
    tracing::info!("building indexes and constraints");
    schema::apply_post_data(&targets, &post).await?;
    schema::set_sequences(&targets[0], &plan.catalog).await?;
    schema::refresh_materialized_views(&targets[0], &plan.catalog).await?;
    targets[0]
        .batch_execute("ANALYZE")
        .await
        .pg_context(|| "analyzing the target".into())?;
    drop(targets);

    let rows: u64 = tables.iter().map(|t| t.rows_written).sum();
    server
        .swap(
            opts.keep_previous,
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
    Ok(tables)
}

/// `--schema existing`: truncate and load the target's own schema in one
/// transaction, with triggers (and so FK checks) off for the session.
async fn load_existing(
    target: &ConnInfo,
    plan: &Plan,
    snapshot: &source::Snapshot,
    opts: &SyncOptions,
) -> Result<Vec<TableStats>> {
    let client = pg_sink::connect(target).await?;
    let names: Vec<String> = plan.tables.iter().map(|t| t.table.name.sql()).collect();
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
    if !names.is_empty() {
        client
            .batch_execute(&format!("TRUNCATE {}", names.join(", ")))
            .await
            .pg_context(|| "truncating the target tables".into())?;
    }
    let progress = Progress::new(opts.progress, total_rows(plan));
    let source = source::worker(&opts.source, &snapshot.id).await?;
    let mut stats = Vec::new();
    for table in plan.tables.iter().filter(|t| !t.skip) {
        let tp = progress.table(&table.table.name.to_string(), table.expected_rows());
        let sink = CopySink::start(&client, table, false).await?;
        stats.push(copy_table(&source, Arc::new(table.clone()), sink, &tp).await?);
    }
    progress.finish();
    schema::set_sequences(&client, &plan.catalog).await?;
    client
        .batch_execute("COMMIT")
        .await
        .pg_context(|| "committing the load".into())?;
    Ok(stats)
}

fn total_rows(plan: &Plan) -> u64 {
    plan.tables
        .iter()
        .filter(|t| !t.skip)
        .map(|t| t.expected_rows().max(0) as u64)
        .sum()
}

/// Copies every table over `jobs` worker pairs (a source connection in the
/// snapshot and a target connection), largest tables first.
async fn copy_all(
    plan: &Plan,
    source_info: &ConnInfo,
    snapshot_id: &str,
    target: &ConnInfo,
    jobs: usize,
    bars: bool,
    fresh: bool,
) -> Result<Vec<TableStats>> {
    let mut order: Vec<&TablePlan> = plan.tables.iter().filter(|t| !t.skip).collect();
    order.sort_by_key(|t| std::cmp::Reverse(t.table.estimated_bytes));
    let queue: Arc<Mutex<VecDeque<Arc<TablePlan>>>> = Arc::new(Mutex::new(
        order.into_iter().map(|t| Arc::new(t.clone())).collect(),
    ));
    let progress = Progress::new(bars, total_rows(plan));
    let stats = Arc::new(Mutex::new(Vec::new()));
    let workers = (0..jobs.min(plan.tables.len()).max(1)).map(|_| {
        let queue = Arc::clone(&queue);
        let stats = Arc::clone(&stats);
        let progress = Arc::clone(&progress);
        async move {
            let source = source::worker(source_info, snapshot_id).await?;
            let target = pg_sink::connect(target).await?;
            loop {
                let Some(table) = queue.lock().await.pop_front() else {
                    return Ok::<(), anyhow::Error>(());
                };
                let name = table.table.name.to_string();
                let tp = progress.table(&name, table.expected_rows());
                let sink = CopySink::start(&target, &table, fresh).await?;
                let s = copy_table(&source, Arc::clone(&table), sink, &tp).await?;
                tracing::debug!(table = %name, rows = s.rows_written, "table copied");
                stats.lock().await.push(s);
            }
        }
    });
    let result = futures_util::future::try_join_all(workers).await;
    progress.finish();
    result?;
    let mut stats = std::mem::take(&mut *stats.lock().await);
    stats.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(stats)
}
