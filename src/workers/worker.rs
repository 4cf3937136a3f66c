//! `anonymize worker`: one of many runners of one sync. It joins the run
//! the coordinator wrote into `<target>__next`, refuses (exit 2) when its
//! rules, secret or plan are not the run's, imports the run's snapshot,
//! and takes units until none is left. Each unit's rows and its `done`
//! mark are committed in one target transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::control::{self, RunIdentity};
use crate::conn::ConnInfo;
use crate::error::{PgResultExt, UsageError};
use crate::plan::{Secret, TablePlan};
use crate::progress::{FinishOnDrop, Progress};
use crate::sink::postgres::CopySink;
use crate::source;

/// What a worker needs, resolved from flags and environment.
pub struct WorkerOptions {
    pub source: ConnInfo,
    /// The target as `sync` names it; the worker writes into its `__next`.
    pub target: ConnInfo,
    pub rules: std::path::PathBuf,
    pub secret: Option<Vec<u8>>,
    /// Units copied at once by this process.
    pub jobs: usize,
    /// How this worker appears in the control table and the report.
    pub name: String,
    /// How long to wait for the coordinator to write its run.
    pub wait: Duration,
    pub lock_timeout: Duration,
    pub progress: bool,
}

/// What a worker did.
pub struct WorkerOutcome {
    pub units: usize,
    pub rows: u64,
    pub seconds: f64,
}

/// Joins the run and works until every unit is done.
pub async fn run(opts: &WorkerOptions) -> Result<WorkerOutcome> {
    let started = Instant::now();
    if let Some(secret) = &opts.secret {
        crate::transform::check_secret(secret)?;
    }
    let rules = crate::rules::load::load(&opts.rules)?;
    let next = opts
        .target
        .with_dbname(&format!("{}__next", opts.target.dbname()));
    let (control_client, run) = match wait_for_run(&opts.target, &next, opts.wait).await? {
        Joined::Run(joined) => *joined,
        Joined::Missed => {
            tracing::info!(
                database = %opts.target.dbname(),
                "the target was replaced by a run this worker did not join; nothing is left to do"
            );
            return Ok(WorkerOutcome {
                units: 0,
                rows: 0,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
    };
    refuse_another_run(&run, &rules, opts.secret.as_deref())?;

    // Held in shared mode once the coordinator lets go of it: that is,
    // when its session ends. Waited for beside the work, so a worker stops
    // within moments of the coordinator's end, whatever it is doing.
    let watch = crate::target::connect(&next).await?;
    let coordinator_gone = async {
        // Granted, or the session ended under it (the load database
        // dropped by the coordinator's cleanup): the run is over either way.
        let watched = watch
            .execute(
                "SELECT pg_advisory_lock_shared($1)",
                &[&control::COORDINATOR_LOCK],
            )
            .await
            .pg_context(|| "watching the coordinator".into());
        let gone = anyhow::anyhow!(
            "the coordinator of this run is gone (its session on {} ended), so its snapshot is \
             too: this worker stopped, its unit rolled back. Start the sync again; it cleans up \
             the load database",
            next.dbname()
        );
        Err::<WorkerOutcome, _>(match watched {
            Ok(_) => gone,
            Err(cause) => cause.context(gone),
        })
    };
    let work = work(opts, &next, control_client, &run, rules, started);
    tokio::select! {
        r = work => r,
        r = coordinator_gone => r,
    }
}

/// What waiting for the coordinator's run ended in.
enum Joined {
    Run(Box<(Client, RunIdentity)>),
    /// The target was swapped while this worker waited: the run it was
    /// started for finished without it (a Pod scheduled late).
    Missed,
}

/// Waits until the coordinator has written its run into the load database
/// (workers may start first), at most `wait`. A run that ends before this
/// worker gets in is seen by the target database changing under its name,
/// so a late worker exits at once instead of waiting out `wait`.
async fn wait_for_run(target: &ConnInfo, next: &ConnInfo, wait: Duration) -> Result<Joined> {
    let deadline = Instant::now() + wait;
    // A session of its own, named so that a waiting worker is visible in
    // pg_stat_activity; the target's identity is taken before the first look.
    let watch = TargetWatch::open(target).await?;
    let mut told = false;
    loop {
        let last_error = match crate::target::connect(next).await {
            Ok(client) => match control::read_run(&client).await? {
                Some(run) => return Ok(Joined::Run(Box::new((client, run)))),
                None => None,
            },
            Err(e) => Some(e),
        };
        if watch.replaced().await? {
            return Ok(Joined::Missed);
        }
        if Instant::now() >= deadline {
            let e = anyhow::anyhow!(
                "no run is waiting for workers in {} after {} s; start the coordinator \
                 (`anonymize sync --workers external`) with the same --target, or raise --wait",
                next.dbname(),
                wait.as_secs()
            );
            return Err(match last_error {
                Some(cause) => e.context(crate::error::render(&cause)),
                None => e,
            });
        }
        if !told {
            tracing::info!(database = %next.dbname(), "waiting for the coordinator's run");
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The target database as it was when the worker began to wait: its oid,
/// which a swap changes (the load database takes the target's name).
struct TargetWatch {
    admin: Client,
    name: String,
    oid_at_start: Option<u32>,
}

/// The `application_name` of a worker's session while it waits for a run
/// into `target` (PostgreSQL cuts it at 63 bytes).
pub fn waiting_application(target: &str) -> String {
    format!("anonymize worker waiting for {target}")
}

impl TargetWatch {
    async fn open(target: &ConnInfo) -> Result<TargetWatch> {
        // The maintenance database, as a sync reaches it (`postgres`, else
        // `template1`).
        let admin = crate::target::TargetServer::connect(target).await?.admin;
        let name = target.dbname().to_string();
        admin
            .batch_execute(&format!(
                "SET application_name = {}",
                crate::sql::quote_literal(&waiting_application(&name))
            ))
            .await
            .pg_context(|| "naming the waiting session".into())?;
        let oid_at_start = Self::oid(&admin, &name).await?;
        Ok(TargetWatch {
            admin,
            name,
            oid_at_start,
        })
    }

    async fn oid(admin: &Client, name: &str) -> Result<Option<u32>> {
        let row = admin
            .query_opt("SELECT oid FROM pg_database WHERE datname = $1", &[&name])
            .await
            .pg_context(|| "reading the target database's identity".into())?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Whether another database has taken the target's name since `open`.
    async fn replaced(&self) -> Result<bool> {
        let now = Self::oid(&self.admin, &self.name).await?;
        Ok(now.is_some() && now != self.oid_at_start)
    }
}

/// Exit 2, before any unit is taken, for a worker whose rules or secret
/// are not the run's: its rows would not be the coordinator's.
fn refuse_another_run(
    run: &RunIdentity,
    rules: &crate::rules::Rules,
    secret: Option<&[u8]>,
) -> Result<()> {
    if run.rules_digest != rules.digest {
        return Err(UsageError::new(format!(
            "this worker's rules ({}, digest {}) are not the run's (digest {}); give every \
             worker the coordinator's rules. No unit was taken",
            rules.files.join(", "),
            short(&rules.digest),
            short(&run.rules_digest)
        ))
        .into());
    }
    if run.secret_fingerprint != super::secret_fingerprint(secret) {
        return Err(UsageError::new(
            "this worker's secret is not the run's (their fingerprints differ); give every \
             worker the coordinator's ANONYMIZE_SECRET or ANONYMIZE_SECRET_FILE. No unit was taken",
        )
        .into());
    }
    Ok(())
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// Plans in the run's snapshot, checks every unit against the
/// coordinator's plan, then takes units on `jobs` connection pairs.
async fn work(
    opts: &WorkerOptions,
    next: &ConnInfo,
    control_client: Client,
    run: &RunIdentity,
    mut rules: crate::rules::Rules,
    started: Instant,
) -> Result<WorkerOutcome> {
    let first_source = import_snapshot(opts, run).await?;
    let plans = plan(&first_source, run, &mut rules, opts.secret.as_deref()).await?;
    let units = control::units(&control_client).await?;
    refuse_other_plan(&plans, &units)?;

    let mut pairs = vec![(first_source, control_client)];
    for _ in 1..opts.jobs.min(units.len()).max(1) {
        pairs.push((
            import_snapshot(opts, run).await?,
            crate::target::connect(next).await?,
        ));
    }
    let mut pids = Vec::new();
    for (_, target) in &pairs {
        pids.push(
            target
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .pg_context(|| "reading the worker's session id".into())?
                .get::<_, i32>(0),
        );
    }
    control::join(&pairs[0].1, &opts.name, &pids).await?;
    tracing::info!(worker = %opts.name, units = units.len(), "joined the run");

    let total: u64 = plans
        .values()
        .map(|p| p.expected_rows().max(0) as u64)
        .sum();
    let progress = FinishOnDrop(Progress::new(opts.progress, total));
    let loops = pairs
        .iter()
        .map(|(source, target)| take_units(opts, source, target, &plans, &progress.0));
    let done = futures_util::future::try_join_all(loops).await?;
    let (units, rows) = done
        .iter()
        .fold((0, 0), |(u, r), (du, dr)| (u + du, r + dr));
    Ok(WorkerOutcome {
        units,
        rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A source session inside the run's snapshot. The snapshot lives only as
/// long as the coordinator's transaction: when that is gone, so is the run.
async fn import_snapshot(opts: &WorkerOptions, run: &RunIdentity) -> Result<Client> {
    source::worker_with(&opts.source, &run.snapshot, opts.lock_timeout)
        .await
        .context(
            "could not import the run's snapshot: when the coordinator is gone, its snapshot \
             is too; start the sync again (it cleans up)",
        )
}

/// The plan of the run, built in its snapshot from the same rules, secret,
/// subset and selection as the coordinator's.
async fn plan(
    source: &Client,
    run: &RunIdentity,
    rules: &mut crate::rules::Rules,
    secret: Option<&[u8]>,
) -> Result<HashMap<String, Arc<TablePlan>>> {
    let mut catalog = crate::catalog::Catalog::read(source).await?;
    if run.subset.is_some() {
        rules.subset = run.subset;
    }
    super::selection_from_text(&run.selection)?.apply(&mut catalog, rules)?;
    let key = secret.map(crate::transform::Key::new);
    let plan = crate::plan::prepare(rules, catalog, Secret::given(key.as_ref()))
        .map_err(crate::error::RulesErrors::from)?;
    Ok(plan
        .tables()
        .iter()
        .filter(|t| !t.skip)
        .map(|t| (t.table.name.to_string(), Arc::clone(t)))
        .collect())
}

/// Exit 2 when a unit would be copied differently here than the
/// coordinator planned (another schema, subset or pg_dump selection).
fn refuse_other_plan(
    plans: &HashMap<String, Arc<TablePlan>>,
    units: &[control::Unit],
) -> Result<()> {
    let mut differ: Vec<&str> = units
        .iter()
        .filter(|u| {
            plans
                .get(&u.table)
                .is_none_or(|p| super::plan_digest(p, u.pages) != u.plan_digest)
        })
        .map(|u| u.table.as_str())
        .collect();
    differ.sort_unstable();
    differ.dedup();
    if differ.is_empty() {
        return Ok(());
    }
    Err(UsageError::new(format!(
        "this worker would copy {} differently from the coordinator's plan (another source \
         schema or database?); point every worker at the coordinator's --source. No unit was taken",
        differ.join(", ")
    ))
    .into())
}

/// Takes units on one connection pair until none is left: (units, rows).
async fn take_units(
    opts: &WorkerOptions,
    source: &Client,
    target: &Client,
    plans: &HashMap<String, Arc<TablePlan>>,
    progress: &Arc<Progress>,
) -> Result<(usize, u64)> {
    let (mut units, mut rows) = (0, 0);
    while let Some(unit) = control::claim(target).await? {
        let plan = Arc::clone(&plans[&unit.table]);
        let copied = copy_unit(opts, source, target, plan, &unit, progress).await;
        match copied {
            Ok(n) => {
                units += 1;
                rows += n;
            }
            Err(e) => {
                // The unit rolls back; the coordinator then ends the run
                // with this error rather than wait for a unit that fails
                // wherever it runs.
                let text = crate::error::render(&e);
                if target.batch_execute("ROLLBACK").await.is_ok() {
                    let _ = control::record_failure(target, &opts.name, Some(unit.id), &text).await;
                }
                return Err(e);
            }
        }
    }
    Ok((units, rows))
}

/// Copies one claimed unit and marks it done in the same transaction.
async fn copy_unit(
    opts: &WorkerOptions,
    source: &Client,
    target: &Client,
    plan: Arc<TablePlan>,
    unit: &control::Unit,
    progress: &Arc<Progress>,
) -> Result<u64> {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    let cpu0 = super::cpu_seconds();
    let label = if unit.parts > 1 {
        format!("{} {}/{}", unit.table, unit.part, unit.parts)
    } else {
        unit.table.clone()
    };
    let tp = progress.table(&label, plan.expected_rows() / i64::from(unit.parts));
    // No FREEZE: that needs the TRUNCATE in the same transaction, which
    // would lock the table against the workers copying its other parts.
    let sink = CopySink::start(target, &plan, false).await?;
    let read = source::Read {
        pages: unit.pages,
        ..source::Read::default()
    };
    let stats = crate::pipeline::copy_part(source, plan, read, sink, &tp).await?;
    drop(tp);
    // Tests stop a worker here, its rows written but not committed.
    crate::failpoint::pause("worker.unit_copied").await;
    let done = control::Done {
        worker: opts.name.clone(),
        started_at,
        rows_read: stats.rows_read,
        rows_written: stats.rows_written,
        bytes: stats.bytes,
        seconds: t0.elapsed().as_secs_f64(),
        cpu_seconds: super::cpu_seconds() - cpu0,
    };
    control::finish(target, unit, &done).await?;
    tracing::debug!(worker = %opts.name, unit = unit.id, table = %unit.table, rows = stats.rows_read, "unit done");
    Ok(stats.rows_read)
}
