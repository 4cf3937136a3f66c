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

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};

use crate::catalog::Catalog;
use crate::cli::{SchemaMode, SyncArgs};
use crate::commands::verify::{self, VerifyReport};
use crate::config::{Overrides, Settings};
use crate::conn::{database_identity, ConnInfo};
use crate::error::{GapsFound, Interrupted, PgResultExt, UsageError};
use crate::pipeline::pool::Pool;
use crate::pipeline::{copy_table, TableStats};
use crate::plan::{Plan, TablePlan};
use crate::post_data;
use crate::progress::Progress;
use crate::report::{Outcome, Phases, Report};
use crate::rules::Rules;
use crate::schema::{self, Section};
use crate::sink::postgres::CopySink;
use crate::source;
use crate::subset::SubsetSpec;
use crate::target::{self, LoadedTable, TargetServer};
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
    /// Time per phase.
    pub phases: Phases,
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
    /// `pg_last_xact_replay_timestamp()` of a standby source.
    source_replay: std::sync::Mutex<Option<String>>,
    warnings: std::sync::Mutex<Vec<crate::subset::EmptyTable>>,
    phases: std::sync::Mutex<Phases>,
    /// Start of the phase being timed.
    mark: std::sync::Mutex<Option<Instant>>,
}

impl Facts {
    fn phase(&self, f: impl FnOnce(&mut Phases)) {
        f(&mut self.phases.lock().expect("facts lock"));
    }

    fn phases(&self) -> Phases {
        self.phases.lock().expect("facts lock").clone()
    }

    /// Starts timing a phase.
    fn mark(&self) {
        *self.mark.lock().expect("facts lock") = Some(Instant::now());
    }

    /// Seconds since `mark`.
    fn since_mark(&self) -> f64 {
        self.mark
            .lock()
            .expect("facts lock")
            .map(|m| m.elapsed().as_secs_f64())
            .unwrap_or(0.0)
    }

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
            phases: facts.phases(),
            verify: facts.verify.lock().expect("facts lock").take(),
            source_replay_timestamp: facts.source_replay.lock().expect("facts lock").take(),
            warnings: std::mem::take(&mut *facts.warnings.lock().expect("facts lock")),
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
    facts.mark();
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
    tracing::info!(tables = plan.tables.len(), rules = %rules.files.join(", "), "plan ready");
    if opts.dry_run {
        return Ok(SyncOutcome {
            tables: vec![],
            phases: facts.phases(),
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
                Ok(tables) => {
                    facts.mark();
                    let r = swap(&server, opts, &tables).await.map(|()| tables);
                    facts.phase(|p| p.swap = Some(facts.since_mark()));
                    r
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
                .guard(load_existing(
                    &server, target, &plan, &snapshot, opts, facts,
                ))
                .await?
        }
    };
    let empty = crate::subset::empty_after_copy(&plan, &tables);
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

/// SIGINT and SIGTERM, listened to for the whole run. Creating the
/// streams replaces the default action (die at once) for the process, so
/// they are made once, up front, and every step runs under `guard`.
pub(crate) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn install() -> Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    /// Runs `fut`, turning SIGINT/SIGTERM into `Interrupted`. The future is
    /// dropped, which aborts every open COPY (a `CopyInSink` dropped without
    /// `finish` sends CopyFail) and closes its connections.
    pub(crate) async fn guard<T>(
        &mut self,
        fut: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
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
    let first = target::connect(next).await?;
    schema::apply_pre_data(&first, &pre_data).await?;
    facts.phase(|p| p.schema = Some(facts.since_mark()));

    // Post-data runs beside the copy: a table's indexes and keys are built
    // as soon as it is loaded, on connections of their own.
    let copied: Vec<Arc<TablePlan>> = plan
        .tables
        .iter()
        .filter(|t| !t.skip)
        .map(|t| Arc::new(t.clone()))
        .collect();
    let progress = FinishOnDrop(Progress::new(opts.progress, total_rows(plan)));
    let scheduler = post_data::Scheduler::new(&schema.post_data, &copied, progress.0.post_data());
    let mut targets = vec![first];
    for _ in 1..post_data_workers(opts.jobs) {
        targets.push(target::connect(next).await?);
    }
    let copy_started = Instant::now();
    let copy = async {
        let pool = Pool {
            source: &opts.source,
            snapshot,
            lock_timeout: opts.lock_timeout,
            target: next,
            jobs: opts.jobs,
            server_version: plan.catalog.server_version,
        };
        let r = pool
            .copy_all(&copied, &progress.0, |t, s| {
                scheduler.table_copied(&t.table.name, s.rows_read);
                facts.add_table(s.clone());
            })
            .await;
        scheduler.all_copied();
        r.map(|t| (t, Instant::now()))
    };
    let ((mut tables, copy_ended), ()) =
        tokio::try_join!(copy, scheduler.run(&targets, &schema.post_data))?;
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
    schema::set_sequences(&targets[0], &plan.catalog).await?;
    schema::refresh_materialized_views(&targets[0], &plan.catalog).await?;
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
        verify_before_swap(plan, snapshot, &client, facts).await?;
        facts.phase(|p| p.verify = Some(facts.since_mark()));
    }

    Ok(tables)
}

/// Post-data connections: as many as copy workers, at most 4 (index
/// builds are CPU-bound on the server; more only queue).
fn post_data_workers(jobs: usize) -> usize {
    jobs.clamp(1, 4)
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
    server: &TargetServer,
    target: &ConnInfo,
    plan: &Plan,
    snapshot: &source::Snapshot,
    opts: &SyncOptions,
    facts: &Facts,
) -> Result<Vec<TableStats>> {
    let client = target::connect(target).await?;
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
    facts.phase(|p| p.schema = Some(facts.since_mark()));
    facts.mark();
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
    facts.phase(|p| p.copy = Some(facts.since_mark()));
    facts.mark();
    let stats = checked_row_counts(std::slice::from_ref(&client), plan, stats).await?;
    facts.phase(|p| p.row_counts = Some(facts.since_mark()));
    facts.mark();
    target::validate_foreign_keys(&client).await?;
    schema::set_sequences(&client, &plan.catalog).await?;
    facts.phase(|p| p.finish = Some(facts.since_mark()));
    if opts.verify {
        // Inside the load transaction: verify sees the new rows before
        // anyone else can, and a leak rolls them back.
        facts.mark();
        verify_before_swap(plan, snapshot, &client, facts).await?;
        facts.phase(|p| p.verify = Some(facts.since_mark()));
    }
    mark_existing(server, &client).await?;
    client
        .batch_execute("COMMIT")
        .await
        .pg_context(|| "committing the load".into())?;
    Ok(stats)
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

fn total_rows(plan: &Plan) -> u64 {
    plan.tables
        .iter()
        .filter(|t| !t.skip)
        .map(|t| t.expected_rows().max(0) as u64)
        .sum()
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
