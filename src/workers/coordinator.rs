//! `sync --workers external`: the coordinator. It plans, holds the
//! snapshot and the load database as a one-process sync does, but instead
//! of copying it writes the work units into the control tables and waits
//! for `anonymize worker` processes to do them. Tables are handed to the
//! post-data scheduler as their last unit is committed; the row counts and
//! the swap stay `sync`'s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;

use super::control::{self, FinishedUnit, RunIdentity, Unit};
use crate::conn::ConnInfo;
use crate::error::PgResultExt;
use crate::pipeline::TableStats;
use crate::plan::TablePlan;
use crate::progress::{Progress, TableProgress};
use crate::report::{UnitReport, WorkerReport};
use crate::source;

/// How often the coordinator reads the units' progress.
const POLL: Duration = Duration::from_millis(200);
/// How often it logs units done, rows per second and each worker's lag.
const LOG_EVERY: Duration = Duration::from_secs(5);
/// How long it waits for the workers' sessions to leave the load database
/// once every unit is done (they exit at once), before ending them: the
/// swap cannot rename a database others are connected to.
const WORKERS_LEAVE: Duration = Duration::from_secs(30);

/// The coordinator's side of a run.
pub struct Coordinator<'a> {
    /// The snapshot every worker imports; held open for the whole run.
    pub snapshot: &'a source::Snapshot,
    /// The load database (`<target>__next`).
    pub target: &'a ConnInfo,
    /// The source's `server_version_num` (page ranges need 14).
    pub server_version: i32,
    pub identity: RunIdentity,
}

impl Coordinator<'_> {
    /// Writes the units of `tables`, waits for the workers to do them,
    /// calling `copied` as each table's last unit is committed, then waits
    /// for the workers to leave and drops the control tables.
    pub async fn copy_all(
        &self,
        tables: &[Arc<TablePlan>],
        progress: &Arc<Progress>,
        copied: impl Fn(&TablePlan, &TableStats),
    ) -> Result<(Vec<TableStats>, Vec<WorkerReport>)> {
        let units = self.units(tables).await?;
        // Held for the run: a worker waiting on this lock in shared mode
        // learns at once when this process is gone.
        let alive = crate::target::connect(self.target).await?;
        alive
            .execute("SELECT pg_advisory_lock($1)", &[&control::COORDINATOR_LOCK])
            .await
            .pg_context(|| "taking the coordinator's lock on the load database".into())?;
        let client = crate::target::connect(self.target).await?;
        control::create(&client, &self.identity, &units).await?;
        tracing::info!(
            units = units.len(),
            tables = tables.len(),
            database = %self.target.dbname(),
            "work units ready; start the workers: anonymize worker --source … --target … --rules …"
        );
        // Tests start, stop and kill workers while the coordinator waits.
        crate::failpoint::pause("workers.units_ready").await;

        let by_name: HashMap<String, &Arc<TablePlan>> = tables
            .iter()
            .map(|t| (t.table.name.to_string(), t))
            .collect();
        let parts: HashMap<String, i32> =
            units.iter().map(|u| (u.table.clone(), u.parts)).collect();
        let started = Instant::now();
        let mut reported: BTreeMap<String, TableStats> = BTreeMap::new();
        let mut bars: HashMap<String, (TableProgress, u64)> = HashMap::new();
        let mut last_log = Instant::now();
        let finished = loop {
            if let Some((worker, unit, error)) = control::first_failure(&client).await? {
                let unit = unit.map(|u| format!(" on unit {u}")).unwrap_or_default();
                anyhow::bail!("worker {worker} failed{unit}: {error}");
            }
            let (done, total) = control::progress(&client).await?;
            let mut per_table: HashMap<&str, Vec<&FinishedUnit>> = HashMap::new();
            for u in &done {
                per_table.entry(u.table.as_str()).or_default().push(u);
            }
            for (name, units_done) in &per_table {
                let rows: u64 = units_done.iter().map(|u| u.rows).sum();
                let bytes: u64 = units_done.iter().map(|u| u.bytes).sum();
                let Some(plan) = by_name.get(*name) else {
                    continue;
                };
                if !reported.contains_key(*name) {
                    let (bar, shown) = bars
                        .entry(name.to_string())
                        .or_insert_with(|| (progress.table(name, plan.expected_rows()), 0));
                    if rows > *shown {
                        bar.advance(rows - *shown, 0);
                        *shown = rows;
                    }
                }
                if units_done.len() as i32 == parts[*name] && !reported.contains_key(*name) {
                    bars.remove(*name);
                    let first = units_done.iter().map(|u| u.started).min();
                    let last = units_done.iter().map(|u| u.finished).max();
                    let seconds = match (first, last) {
                        (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default().as_secs_f64(),
                        _ => 0.0,
                    };
                    let stats = TableStats {
                        table: name.to_string(),
                        rows_read: rows,
                        rows_written: rows,
                        bytes,
                        seconds,
                        source_rows_estimate: plan.table.estimated_rows,
                        source_rows_from: plan.table.rows_from,
                        selection: plan.selection().text.clone(),
                        kept_fraction: (plan.selection().estimated_kept.is_some()
                            && plan.table.estimated_rows > 0)
                            .then(|| rows as f64 / plan.table.estimated_rows as f64),
                    };
                    tracing::debug!(table = %name, rows, "table copied by the workers");
                    copied(plan, &stats);
                    reported.insert(name.to_string(), stats);
                }
            }
            if last_log.elapsed() >= LOG_EVERY || done.len() == total {
                last_log = Instant::now();
                self.log_progress(&client, &done, total, started).await?;
            }
            if done.len() == total {
                break done;
            }
            tokio::time::sleep(POLL).await;
        };
        let workers = control::workers(&client).await?;
        self.wait_for_workers_to_leave(&client, &workers).await?;
        control::drop(&client).await?;
        drop(alive);
        let report = worker_reports(&finished);
        for w in &report {
            tracing::info!(
                worker = %w.name,
                units = w.units.len(),
                rows = w.rows,
                seconds = format!("{:.1}", w.seconds),
                cpu_seconds = format!("{:.1}", w.cpu_seconds),
                "worker's share"
            );
        }
        Ok((reported.into_values().collect(), report))
    }

    /// The units of `tables`: each table whole, or in page ranges of about
    /// `ANONYMIZE_SPLIT_MB` (as the one-process copy splits them), largest
    /// first so the longest unit does not start last.
    async fn units(&self, tables: &[Arc<TablePlan>]) -> Result<Vec<Unit>> {
        let part_bytes = crate::pipeline::driver::part_bytes();
        let mut sized: Vec<(i64, Unit)> = Vec::new();
        for t in tables {
            let ranges =
                source::page_ranges(&self.snapshot.client, t, self.server_version, part_bytes)
                    .await?;
            let of = ranges.len();
            for (i, pages) in ranges.into_iter().enumerate() {
                sized.push((
                    t.table.estimated_bytes / of as i64,
                    Unit {
                        id: 0,
                        table: t.table.name.to_string(),
                        part: i as i32 + 1,
                        parts: of as i32,
                        pages,
                        plan_digest: super::plan_digest(t, pages),
                    },
                ));
            }
        }
        // A stable sort keeps a table's parts in page order.
        sized.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
        Ok(sized
            .into_iter()
            .enumerate()
            .map(|(i, (_, mut u))| {
                u.id = i as i32 + 1;
                u
            })
            .collect())
    }

    /// Units done of total, rows per second across workers, and each
    /// worker's lag: the time since it last finished a unit (since it
    /// joined, before its first).
    async fn log_progress(
        &self,
        client: &tokio_postgres::Client,
        done: &[FinishedUnit],
        total: usize,
        started: Instant,
    ) -> Result<()> {
        let rows: u64 = done.iter().map(|u| u.rows).sum();
        let rate = rows as f64 / started.elapsed().as_secs_f64().max(1e-3);
        let now = SystemTime::now();
        let lag: Vec<String> = control::workers(client)
            .await?
            .into_iter()
            .map(|(name, joined, _)| {
                let last = done
                    .iter()
                    .filter(|u| u.worker == name)
                    .map(|u| u.finished)
                    .max()
                    .unwrap_or(joined);
                let secs = now.duration_since(last).unwrap_or_default().as_secs_f64();
                format!("{name} {secs:.1} s")
            })
            .collect();
        tracing::info!(
            units = format!("{}/{total}", done.len()),
            rows_per_second = format!("{rate:.0}"),
            lag = %if lag.is_empty() { "no worker yet".to_string() } else { lag.join(", ") },
            "workers' progress"
        );
        Ok(())
    }

    /// Waits (at most `WORKERS_LEAVE`) until no worker session is left on
    /// the load database, then ends any that is: each has nothing left to
    /// do, and the swap cannot rename a database with sessions on it.
    async fn wait_for_workers_to_leave(
        &self,
        client: &tokio_postgres::Client,
        workers: &[(String, SystemTime, Vec<i32>)],
    ) -> Result<()> {
        let pids: Vec<i32> = workers
            .iter()
            .flat_map(|(_, _, p)| p.iter().copied())
            .collect();
        let deadline = Instant::now() + WORKERS_LEAVE;
        loop {
            let left: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1) \
                     AND datname = current_database()",
                    &[&pids],
                )
                .await
                .pg_context(|| "counting the workers' sessions".into())?
                .get(0);
            if left == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    sessions = left,
                    "worker sessions are still on the load database with every unit done; ending them"
                );
                client
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE pid = ANY($1) AND datname = current_database()",
                        &[&pids],
                    )
                    .await
                    .pg_context(|| "ending the workers' sessions".into())?;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Each worker's units, by worker name.
fn worker_reports(done: &[FinishedUnit]) -> Vec<WorkerReport> {
    let mut by: BTreeMap<&str, Vec<&FinishedUnit>> = BTreeMap::new();
    for u in done {
        by.entry(u.worker.as_str()).or_default().push(u);
    }
    by.into_iter()
        .map(|(name, units)| WorkerReport {
            name: name.to_string(),
            rows: units.iter().map(|u| u.rows).sum(),
            seconds: units.iter().map(|u| u.seconds).sum(),
            cpu_seconds: units.iter().map(|u| u.cpu_seconds).sum(),
            units: units
                .into_iter()
                .map(|u| UnitReport {
                    unit: u.unit,
                    table: u.table.clone(),
                    part: u.part,
                    parts: u.parts,
                    rows: u.rows,
                    bytes: u.bytes,
                    seconds: u.seconds,
                    cpu_seconds: u.cpu_seconds,
                    started_at: crate::report::rfc3339(u.started),
                    finished_at: crate::report::rfc3339(u.finished),
                })
                .collect(),
        })
        .collect()
}
