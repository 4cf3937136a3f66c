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

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};
use tokio::sync::Mutex;

use crate::catalog::Catalog;
use crate::cli::{SchemaMode, SyncArgs};
use crate::config::{Overrides, Settings};
use crate::conn::{database_identity, ConnInfo};
use crate::error::{GapsFound, Interrupted, PgResultExt, UsageError};
use crate::pipeline::{copy_table, TableStats};
use crate::plan::{Plan, TablePlan};
use crate::progress::Progress;
use crate::report::{Outcome, Report};
use crate::rules::Rules;
use crate::schema::{self, Section};
use crate::sink::postgres::{self as pg_sink, CopySink, LoadedTable, TargetServer};
use crate::source;
use crate::subset::SubsetSpec;
use crate::transform::Key;
use crate::verify::{self, VerifyReport};

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
    /// Restore the source's owners and grants where the target has the roles.
    pub privileges: schema::Privileges,
    /// How long to wait for a locked source table.
    pub lock_timeout: std::time::Duration,
    /// Run `verify` on the loaded database before the swap.
    pub verify: bool,
    /// `ANONYMIZE_SECRET`; `None` when unset.
    pub secret: Option<Vec<u8>>,
}

impl SyncOptions {
    /// Resolves what the user typed: flags, then environment, then the
    /// config file.
    pub fn from_args(args: &SyncArgs) -> Result<SyncOptions> {
        let settings = Settings::resolve(
            args.common.config.as_deref(),
            Overrides {
                target: args.target.as_deref(),
                subset: args.subset.as_deref(),
                jobs: args.jobs,
                ..Overrides::common(&args.common)
            },
        )?;
        let source = ConnInfo::parse(settings.require_source()?, "--source")?;
        let target = match (&settings.target, args.dry_run) {
            (Some(t), _) => Some(ConnInfo::parse(t, "--target")?),
            (None, true) => None,
            (None, false) => {
                settings.require_target()?;
                None
            }
        };
        let subset = settings
            .subset
            .as_deref()
            .map(SubsetSpec::parse)
            .transpose()
            .map_err(|m| UsageError::new(format!("--subset: {m}")))?;
        let jobs = settings.jobs.unwrap_or_else(|| {
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
            rules: settings.rules,
            subset,
            jobs,
            dry_run: args.dry_run,
            schema: args.schema,
            report: args.report.clone(),
            // Bars drawn between JSON lines would break "one object per line".
            progress: !args.no_progress && args.common.log_format == crate::cli::LogFormat::Text,
            force: args.force,
            keep_previous: args.keep_previous,
            terminate_connections: args.terminate_connections,
            privileges: schema::Privileges {
                owners: !args.no_owner,
                acl: !args.no_acl,
            },
            lock_timeout: std::time::Duration::from_secs(args.lock_timeout),
            verify: args.verify,
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
    lock_timeout: std::time::Duration,
) -> Result<(Rules, source::Snapshot, Plan)> {
    if let Some(secret) = secret {
        crate::transform::check_secret(secret)?;
    }
    let mut rules = crate::rules::load::load(rules_path)?;
    if subset.is_some() {
        rules.subset = subset;
    }
    let snapshot = source::open_snapshot_with(source, lock_timeout).await?;
    let catalog = Catalog::read(&snapshot.client).await?;
    let key = secret.map(Key::new);
    let mut plan = Plan::build(&rules, catalog, key.as_ref())?;
    crate::plan::check_constants(&rules, &plan.catalog, &snapshot.client).await?;
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
    crate::subset::apply(&mut plan, &rules, key.as_ref().unwrap_or(&Key::new(b"")))?;
    Ok((rules, snapshot, plan))
}

/// Facts gathered while the run goes, for the report whatever the outcome
/// (a failed run reports the tables it finished). Behind locks because the
/// copy workers add to them concurrently.
#[derive(Default)]
struct Facts {
    digest: std::sync::Mutex<Option<String>>,
    /// The subset in effect: --subset, else the rules' default.
    subset: std::sync::Mutex<Option<SubsetSpec>>,
    tables: std::sync::Mutex<Vec<TableStats>>,
    verify: std::sync::Mutex<Option<VerifyReport>>,
}

impl Facts {
    fn add_table(&self, stats: TableStats) {
        self.tables.lock().expect("facts lock").push(stats);
    }
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
        let (outcome, error, code) = match &result {
            Ok(_) => (Outcome::Success, None, 0),
            Err(e) => {
                let code = crate::error::exit_code(e);
                (
                    Outcome::of_exit_code(code),
                    Some(crate::error::render(e)),
                    code,
                )
            }
        };
        let tables = match &result {
            Ok(o) => o.tables.clone(),
            Err(_) => {
                let mut t = std::mem::take(&mut *facts.tables.lock().expect("facts lock"));
                t.sort_by(|a, b| a.table.cmp(&b.table));
                t
            }
        };
        let subset = facts.subset.lock().expect("facts lock").or(opts.subset);
        let report = Report {
            tool: "anonymize",
            version: env!("CARGO_PKG_VERSION"),
            started_at: crate::report::rfc3339(started_at),
            finished_at: crate::report::rfc3339(SystemTime::now()),
            seconds: started_at.elapsed().unwrap_or_default().as_secs_f64(),
            outcome,
            error,
            exit_code: code,
            source: opts.source.redacted().to_string(),
            // A dry run writes nowhere: docs/report.md promises null.
            target: opts
                .target
                .as_ref()
                .filter(|_| !opts.dry_run)
                .map(|t| t.redacted().to_string()),
            rules_digest: facts.digest.lock().expect("facts lock").take(),
            subset: subset.map(|s| s.to_string()),
            subset_fraction: subset.map(|s| match s {
                SubsetSpec::All => 1.0,
                SubsetSpec::Fraction(f) => f,
            }),
            rows_written: tables.iter().map(|t| t.rows_written).sum(),
            bytes: tables.iter().map(|t| t.bytes).sum(),
            tables,
            verify: facts.verify.lock().expect("facts lock").take(),
        };
        crate::failpoint::pause("report.before_write").await;
        if let Err(e) = report.write(path) {
            // Monitoring needs the report, so a successful run without one
            // fails; a failed run keeps its own error, the more useful one.
            match result {
                Ok(_) if opts.dry_run => return Err(e),
                Ok(_) => return Err(e.context(crate::error::ReportNotWritten)),
                Err(_) => {
                    tracing::error!(error = %crate::error::render(&e), "the report could not be written")
                }
            }
        }
    }
    result
}

async fn run_inner(
    opts: &SyncOptions,
    facts: &Facts,
    signals: &mut Signals,
) -> Result<SyncOutcome> {
    let started = Instant::now();
    let (rules, snapshot, plan) = signals
        .guard(prepare(
            &opts.source,
            &opts.rules,
            opts.subset,
            opts.secret.as_deref(),
            opts.lock_timeout,
        ))
        .await?;
    signals
        .guard(source::lock_tables(
            &snapshot.client,
            &plan
                .tables
                .iter()
                .filter(|t| !t.skip)
                .map(|t| &t.table)
                .collect::<Vec<_>>(),
            opts.lock_timeout,
        ))
        .await?;
    *facts.digest.lock().expect("facts lock") = Some(rules.digest.clone());
    *facts.subset.lock().expect("facts lock") = rules.subset;
    tracing::info!(tables = plan.tables.len(), rules = %rules.files.join(", "), "plan ready");
    if opts.dry_run {
        return Ok(SyncOutcome {
            tables: vec![],
            plan_text: Some(plan.describe()),
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
            let schema = signals.guard(dump_schema(&plan, &snapshot, opts)).await?;
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
                Ok(tables) => swap(&server, opts, &tables).await.map(|()| tables),
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
            signals
                .guard(load_existing(target, &plan, &snapshot, opts, facts))
                .await?
        }
    };
    Ok(SyncOutcome {
        tables,
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

/// SIGINT and SIGTERM, listened to for the whole run. Creating the
/// streams replaces the default action (die at once) for the process, so
/// they are made once, up front, and every step runs under `guard`.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    /// Runs `fut`, turning SIGINT/SIGTERM into `Interrupted`. The future is
    /// dropped, which aborts every open COPY (a `CopyInSink` dropped without
    /// `finish` sends CopyFail) and closes its connections.
    async fn guard<T>(&mut self, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            r = fut => r,
            _ = self.term.recv() => Err(Interrupted { signal: "SIGTERM", exit_code: 143 }.into()),
            _ = self.int.recv() => Err(Interrupted { signal: "SIGINT", exit_code: 130 }.into()),
        }
    }
}

/// Runs `fut` under SIGINT/SIGTERM handling, for commands other than
/// sync (the demo) that have one long step.
pub(crate) async fn with_signals<T>(
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    Signals::install()?.guard(fut).await
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
    let pg_dump = schema::find_pg_dump(plan.catalog.server_version)?;
    let (pre_data, post_data) = tokio::try_join!(
        schema::dump_with(
            &pg_dump,
            &opts.source,
            &snapshot.id,
            Section::PreData,
            opts.privileges,
            opts.lock_timeout,
        ),
        schema::dump_with(
            &pg_dump,
            &opts.source,
            &snapshot.id,
            Section::PostData,
            opts.privileges,
            opts.lock_timeout,
        ),
    )?;
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
    let (pre_data, missing) = schema::keep_known_roles(
        &schema.pre_data,
        &schema::target_roles(&server.admin).await?,
    );
    if !missing.is_empty() {
        tracing::warn!(
            roles = %missing.join(", "),
            "the target has no such roles (or the loading role may not give objects to them), \
             so their ownership and grants were left out; create them on the target server, \
             or pass --no-owner / --no-acl to leave owners and grants out on purpose"
        );
    }
    let first = pg_sink::connect(next).await?;
    schema::apply_pre_data(&first, &pre_data).await?;

    let tables = copy_all(plan, opts, &snapshot.id, next, facts).await?;

    let mut targets = vec![first];
    for _ in 1..opts.jobs.min(4) {
        targets.push(pg_sink::connect(next).await?);
    }
    tracing::info!("building indexes and constraints");
    schema::apply_post_data(&targets, &schema.post_data).await?;
    schema::set_sequences(&targets[0], &plan.catalog).await?;
    schema::refresh_materialized_views(&targets[0], &plan.catalog).await?;
    targets[0]
        .batch_execute("ANALYZE")
        .await
        .pg_context(|| "analyzing the target".into())?;
    let tables = checked_row_counts(&targets, plan, tables).await?;
    drop(targets);

    if opts.verify {
        let client = pg_sink::connect(next).await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .pg_context(|| "starting the verify transaction on the load database".into())?;
        verify_before_swap(plan, snapshot, &client, facts).await?;
    }

    Ok(tables)
}

/// Makes the loaded `<target>__next` the target.
async fn swap(server: &TargetServer, opts: &SyncOptions, tables: &[TableStats]) -> Result<()> {
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
    Ok(())
}

/// `--schema existing`: truncate and load the target's own schema in one
/// transaction, with triggers (and so FK checks) off for the session.
async fn load_existing(
    target: &ConnInfo,
    plan: &Plan,
    snapshot: &source::Snapshot,
    opts: &SyncOptions,
    facts: &Facts,
) -> Result<Vec<TableStats>> {
    let client = pg_sink::connect(target).await?;
    let names: Vec<String> = plan.tables.iter().map(|t| t.table.sql_only()).collect();
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
        // Each name with ONLY where it applies: a bare TRUNCATE of an
        // inheritance parent would also empty children that are not ours.
        client
            .batch_execute(&format!("TRUNCATE {}", names.join(", ")))
            .await
            .pg_context(|| "truncating the target tables".into())?;
    }
    let progress = FinishOnDrop(Progress::new(opts.progress, total_rows(plan)));
    let source = source::worker_with(&opts.source, &snapshot.id, opts.lock_timeout).await?;
    let mut stats = Vec::new();
    for table in plan.tables.iter().filter(|t| !t.skip) {
        let tp = progress
            .0
            .table(&table.table.name.to_string(), table.expected_rows());
        let sink = CopySink::start(&client, table, false).await?;
        let s = copy_table(&source, Arc::new(table.clone()), sink, &tp).await?;
        facts.add_table(s.clone());
        stats.push(s);
    }
    drop(progress);
    let stats = checked_row_counts(std::slice::from_ref(&client), plan, stats).await?;
    pg_sink::validate_foreign_keys(&client).await?;
    schema::set_sequences(&client, &plan.catalog).await?;
    if opts.verify {
        // Inside the load transaction: verify sees the new rows before
        // anyone else can, and a leak rolls them back.
        verify_before_swap(plan, snapshot, &client, facts).await?;
    }
    client
        .batch_execute("COMMIT")
        .await
        .pg_context(|| "committing the load".into())?;
    Ok(stats)
}

/// Counts the loaded tables in the target and fails the run unless each
/// holds the rows sent to it; returns the stats with `rows_written` set to
/// what the target holds, so the summary and the report tell the truth.
async fn checked_row_counts(
    clients: &[tokio_postgres::Client],
    plan: &Plan,
    mut stats: Vec<TableStats>,
) -> Result<Vec<TableStats>> {
    let started = Instant::now();
    let by_name: std::collections::HashMap<String, &TablePlan> = plan
        .tables
        .iter()
        .map(|t| (t.table.name.to_string(), t))
        .collect();
    let loaded: Vec<LoadedTable> = stats
        .iter()
        .map(|s| LoadedTable {
            plan: by_name[&s.table],
            rows_sent: s.rows_read,
        })
        .collect();
    let counts = pg_sink::check_row_counts(clients, &loaded).await?;
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
    opts: &SyncOptions,
    snapshot_id: &str,
    target: &ConnInfo,
    facts: &Facts,
) -> Result<Vec<TableStats>> {
    let (source_info, jobs, bars, lock_timeout) =
        (&opts.source, opts.jobs, opts.progress, opts.lock_timeout);
    let mut order: Vec<&TablePlan> = plan.tables.iter().filter(|t| !t.skip).collect();
    order.sort_by_key(|t| std::cmp::Reverse(t.table.estimated_bytes));
    let queue: Arc<Mutex<VecDeque<Arc<TablePlan>>>> = Arc::new(Mutex::new(
        order.into_iter().map(|t| Arc::new(t.clone())).collect(),
    ));
    let progress = FinishOnDrop(Progress::new(bars, total_rows(plan)));
    let stats = Arc::new(Mutex::new(Vec::new()));
    let workers = (0..jobs.min(plan.tables.len()).max(1)).map(|_| {
        let queue = Arc::clone(&queue);
        let stats = Arc::clone(&stats);
        let progress = Arc::clone(&progress.0);
        async move {
            let source = source::worker_with(source_info, snapshot_id, lock_timeout).await?;
            let target = pg_sink::connect(target).await?;
            loop {
                let Some(table) = queue.lock().await.pop_front() else {
                    return Ok::<(), anyhow::Error>(());
                };
                let name = table.table.name.to_string();
                let tp = progress.table(&name, table.expected_rows());
                let sink = CopySink::start(&target, &table, true).await?;
                let s = copy_table(&source, Arc::clone(&table), sink, &tp).await?;
                tracing::debug!(table = %name, rows = s.rows_written, "table copied");
                facts.add_table(s.clone());
                stats.lock().await.push(s);
            }
        }
    });
    let result = futures_util::future::try_join_all(workers).await;
    drop(progress);
    result?;
    let mut stats = std::mem::take(&mut *stats.lock().await);
    stats.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(stats)
}

/// Clears the progress display when the copy ends, also when it ends by an
/// error or a signal (the future is dropped): otherwise the log thread
/// would keep running.
struct FinishOnDrop(Arc<Progress>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// `sync --verify`: checks the loaded rows against the source snapshot they
/// came from, before they go live. A leak stops the run with exit 3.
async fn verify_before_swap(
    plan: &Plan,
    snapshot: &source::Snapshot,
    target: &tokio_postgres::Client,
    facts: &Facts,
) -> Result<()> {
    tracing::info!("verifying that no original value is left");
    let report = verify::check(plan, &snapshot.client, target, verify::DEFAULT_SAMPLE).await?;
    // One event per finding, fields first, so JSON logs can be filtered by
    // column; the messages hold counts, never values.
    for c in &report.columns {
        let status = format!("{:?}", c.status).to_lowercase();
        match c.status {
            verify::Status::Ok => {}
            verify::Status::Leak | verify::Status::Warning => tracing::warn!(
                table = %c.table, column = %c.column, rule = %c.rule, %status, "{}", c.message
            ),
            verify::Status::Info | verify::Status::Accepted => tracing::info!(
                table = %c.table, column = %c.column, rule = %c.rule, %status, "{}", c.message
            ),
        }
    }
    tracing::info!(
        leaks = report.failures,
        warnings = report.warnings,
        columns = report.columns.len(),
        "verify done"
    );
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
