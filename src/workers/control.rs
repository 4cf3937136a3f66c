//! The control tables of a run with external workers, in schema
//! `anonymize_run` of `<target>__next`: the run's identity (snapshot id,
//! rules digest, secret fingerprint, never the secret), its work units and
//! the workers that joined. The coordinator writes them in one transaction,
//! so a worker sees either no run or a whole one; it drops the schema
//! before the swap, so nothing of it reaches the target.

use anyhow::Result;
use tokio_postgres::Client;

use crate::error::PgResultExt;

/// The schema holding the control tables.
pub const SCHEMA: &str = "anonymize_run";

/// The advisory lock (in `<target>__next`) the coordinator holds for as
/// long as it lives. A worker waits for it in shared mode: the wait ends
/// only when the coordinator's session does.
pub const COORDINATOR_LOCK: i64 = 0x616e_6f6e_636f_6f72; // "anoncoor"

const CREATE: &str = "CREATE SCHEMA anonymize_run;
CREATE TABLE anonymize_run.run (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    snapshot text NOT NULL,
    rules_digest text NOT NULL,
    secret_fingerprint text NOT NULL,
    subset_all boolean NOT NULL,
    subset_fraction double precision,
    selection text NOT NULL,
    units integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE anonymize_run.units (
    id integer PRIMARY KEY,
    table_name text NOT NULL,
    part integer NOT NULL,
    parts integer NOT NULL,
    page_from bigint,
    page_to bigint,
    plan_digest text NOT NULL,
    done boolean NOT NULL DEFAULT false,
    worker text,
    started_at timestamptz,
    finished_at timestamptz,
    rows_read bigint,
    rows_written bigint,
    bytes bigint,
    seconds double precision,
    cpu_seconds double precision
);
CREATE TABLE anonymize_run.failures (
    worker text NOT NULL,
    unit integer,
    error text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE anonymize_run.workers (
    name text PRIMARY KEY,
    pids integer[] NOT NULL,
    joined_at timestamptz NOT NULL DEFAULT clock_timestamp()
);";

/// What makes a worker's output the coordinator's: the same rules, secret,
/// subset and table selection, read in the same snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct RunIdentity {
    pub snapshot: String,
    pub rules_digest: String,
    pub secret_fingerprint: String,
    /// `None`: no subset; `Some(None)`: `all`; `Some(Some(f))`: a share.
    pub subset: Option<crate::subset::SubsetSpec>,
    /// `-t/-T/-n/-N/--exclude-table-data` as typed (JSON).
    pub selection: String,
}

/// One unit of work: a table, or a range of its heap pages.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: i32,
    pub table: String,
    /// 1-based, of `parts`.
    pub part: i32,
    pub parts: i32,
    pub pages: Option<(u32, Option<u32>)>,
    /// `plan_digest` of the coordinator's plan for this unit.
    pub plan_digest: String,
}

/// Creates the control tables, the units and the run row, in one
/// transaction: a worker sees a whole run or none.
pub async fn create(client: &Client, run: &RunIdentity, units: &[Unit]) -> Result<()> {
    client
        .batch_execute(&format!("BEGIN; {CREATE}"))
        .await
        .pg_context(|| "creating the control tables in the load database".into())?;
    let insert = client
        .prepare(
            "INSERT INTO anonymize_run.units (id, table_name, part, parts, page_from, page_to, plan_digest) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await
        .pg_context(|| "writing the work units".into())?;
    for u in units {
        let (from, to) = match u.pages {
            Some((from, to)) => (Some(i64::from(from)), to.map(i64::from)),
            None => (None, None),
        };
        client
            .execute(
                &insert,
                &[
                    &u.id,
                    &u.table,
                    &u.part,
                    &u.parts,
                    &from,
                    &to,
                    &u.plan_digest,
                ],
            )
            .await
            .pg_context(|| "writing the work units".into())?;
    }
    let (subset_all, fraction) = subset_columns(run.subset);
    client
        .execute(
            "INSERT INTO anonymize_run.run (snapshot, rules_digest, secret_fingerprint, subset_all, \
             subset_fraction, selection, units) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &run.snapshot,
                &run.rules_digest,
                &run.secret_fingerprint,
                &subset_all,
                &fraction,
                &run.selection,
                &(units.len() as i32),
            ],
        )
        .await
        .pg_context(|| "writing the run's identity".into())?;
    client
        .batch_execute("COMMIT")
        .await
        .pg_context(|| "committing the work units".into())
}

fn subset_columns(subset: Option<crate::subset::SubsetSpec>) -> (bool, Option<f64>) {
    use crate::subset::SubsetSpec;
    match subset {
        None => (false, None),
        Some(SubsetSpec::All) => (true, None),
        // float8 travels in binary: the worker gets the very same f64.
        Some(SubsetSpec::Fraction(f)) => (false, Some(f)),
    }
}

/// The run a worker joins, or `None` when the coordinator has not written
/// it (yet, or any more).
pub async fn read_run(client: &Client) -> Result<Option<RunIdentity>> {
    use crate::subset::SubsetSpec;
    let row = client
        .query_opt(
            "SELECT snapshot, rules_digest, secret_fingerprint, subset_all, subset_fraction, selection \
             FROM anonymize_run.run",
            &[],
        )
        .await;
    let row = match row {
        Ok(row) => row,
        // 42P01 undefined_table, 3F000 invalid_schema_name: no run here.
        Err(e) if matches!(crate::error::sqlstate(&e), Some("42P01" | "3F000")) => return Ok(None),
        Err(e) => return Err(e).pg_context(|| "reading the run's identity".into()),
    };
    Ok(row.map(|r| {
        let all: bool = r.get(3);
        let fraction: Option<f64> = r.get(4);
        RunIdentity {
            snapshot: r.get(0),
            rules_digest: r.get(1),
            secret_fingerprint: r.get(2),
            subset: match (all, fraction) {
                (true, _) => Some(SubsetSpec::All),
                (false, Some(f)) => Some(SubsetSpec::Fraction(f)),
                (false, None) => None,
            },
            selection: r.get(5),
        }
    }))
}

/// Every unit of the run, in claim order.
pub async fn units(client: &Client) -> Result<Vec<Unit>> {
    let rows = client
        .query(
            "SELECT id, table_name, part, parts, page_from, page_to, plan_digest \
             FROM anonymize_run.units ORDER BY id",
            &[],
        )
        .await
        .pg_context(|| "reading the work units".into())?;
    Ok(rows.iter().map(unit_of).collect())
}

fn unit_of(r: &tokio_postgres::Row) -> Unit {
    let from: Option<i64> = r.get(4);
    let to: Option<i64> = r.get(5);
    Unit {
        id: r.get(0),
        table: r.get(1),
        part: r.get(2),
        parts: r.get(3),
        pages: from.map(|f| (f as u32, to.map(|t| t as u32))),
        plan_digest: r.get(6),
    }
}

/// Starts a transaction on `client` and claims one unit in it: a free one
/// (`SKIP LOCKED`), else it waits for a unit another worker holds, which
/// comes back only if that worker's transaction rolled back (it died).
/// `None`: every unit is done; the transaction is then ended.
///
/// The claim is a row lock, not a write: it lasts as long as the
/// transaction that copies the unit's rows, and goes with it.
pub async fn claim(client: &Client) -> Result<Option<Unit>> {
    const PICK: &str = "SELECT id, table_name, part, parts, page_from, page_to, plan_digest \
         FROM anonymize_run.units WHERE NOT done ORDER BY id LIMIT 1 FOR UPDATE";
    client
        .batch_execute("BEGIN")
        .await
        .pg_context(|| "starting a unit's transaction".into())?;
    let free = client
        .query_opt(&format!("{PICK} SKIP LOCKED"), &[])
        .await
        .pg_context(|| "claiming a work unit".into())?;
    let row = match free {
        Some(row) => Some(row),
        None => client
            .query_opt(PICK, &[])
            .await
            .pg_context(|| "waiting for the units other workers hold".into())?,
    };
    match row {
        Some(r) => Ok(Some(unit_of(&r))),
        None => {
            client
                .batch_execute("ROLLBACK")
                .await
                .pg_context(|| "ending the claim".into())?;
            Ok(None)
        }
    }
}

/// What a worker did with a unit.
#[derive(Debug, Clone)]
pub struct Done {
    pub worker: String,
    pub started_at: std::time::SystemTime,
    pub rows_read: u64,
    pub rows_written: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
}

/// Marks the claimed unit done and commits: the unit's rows and its
/// `done` become visible together, or neither does.
pub async fn finish(client: &Client, unit: &Unit, done: &Done) -> Result<()> {
    client
        .execute(
            "UPDATE anonymize_run.units SET done = true, worker = $2, started_at = $3, \
             finished_at = clock_timestamp(), rows_read = $4, rows_written = $5, bytes = $6, \
             seconds = $7, cpu_seconds = $8 WHERE id = $1",
            &[
                &unit.id,
                &done.worker,
                &done.started_at,
                &(done.rows_read as i64),
                &(done.rows_written as i64),
                &(done.bytes as i64),
                &done.seconds,
                &done.cpu_seconds,
            ],
        )
        .await
        .pg_context(|| "marking a unit done".into())?;
    client
        .batch_execute("COMMIT")
        .await
        .pg_context(|| "committing a unit".into())
}

/// Records a worker that joined, with its sessions on the load database
/// (the coordinator waits for them to leave before the swap).
pub async fn join(client: &Client, name: &str, pids: &[i32]) -> Result<()> {
    client
        .execute(
            "INSERT INTO anonymize_run.workers (name, pids) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET pids = anonymize_run.workers.pids || excluded.pids",
            &[&name, &pids],
        )
        .await
        .pg_context(|| "registering the worker".into())?;
    Ok(())
}

/// A finished unit, as the coordinator reads it.
#[derive(Debug, Clone)]
pub struct FinishedUnit {
    pub unit: i32,
    pub table: String,
    pub part: i32,
    pub parts: i32,
    pub worker: String,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub started: std::time::SystemTime,
    pub finished: std::time::SystemTime,
}

/// The units done so far, and how many there are in all.
pub async fn progress(client: &Client) -> Result<(Vec<FinishedUnit>, usize)> {
    let rows = client
        .query(
            "SELECT id, table_name, part, parts, done, worker, rows_read, bytes, seconds, \
                    cpu_seconds, started_at, finished_at \
               FROM anonymize_run.units ORDER BY id",
            &[],
        )
        .await
        .pg_context(|| "reading the units' progress".into())?;
    let total = rows.len();
    let done = rows
        .iter()
        .filter(|r| r.get::<_, bool>(4))
        .map(|r| {
            let started: std::time::SystemTime = r.get(10);
            let finished: std::time::SystemTime = r.get(11);
            FinishedUnit {
                unit: r.get(0),
                table: r.get(1),
                part: r.get(2),
                parts: r.get(3),
                worker: r.get(5),
                rows: r.get::<_, i64>(6) as u64,
                bytes: r.get::<_, i64>(7) as u64,
                seconds: r.get(8),
                cpu_seconds: r.get(9),
                started,
                finished,
            }
        })
        .collect();
    Ok((done, total))
}

/// The workers that joined: name, when, and their sessions.
pub async fn workers(client: &Client) -> Result<Vec<(String, std::time::SystemTime, Vec<i32>)>> {
    let rows = client
        .query(
            "SELECT name, joined_at, pids FROM anonymize_run.workers ORDER BY name",
            &[],
        )
        .await
        .pg_context(|| "reading the workers".into())?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Records that `worker` failed (on `unit`, when it held one), so the
/// coordinator ends the run with the worker's error instead of waiting for
/// a unit that fails wherever it runs. The text is `error::render`'s: no
/// row value.
pub async fn record_failure(
    client: &Client,
    worker: &str,
    unit: Option<i32>,
    error: &str,
) -> Result<()> {
    client
        .execute(
            "INSERT INTO anonymize_run.failures (worker, unit, error) VALUES ($1, $2, $3)",
            &[&worker, &unit, &error],
        )
        .await
        .pg_context(|| "recording the worker's failure".into())?;
    Ok(())
}

/// The first failure a worker recorded: (worker, unit, error).
pub async fn first_failure(client: &Client) -> Result<Option<(String, Option<i32>, String)>> {
    Ok(client
        .query_opt(
            "SELECT worker, unit, error FROM anonymize_run.failures ORDER BY at LIMIT 1",
            &[],
        )
        .await
        .pg_context(|| "reading the workers' failures".into())?
        .map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// Drops the control tables (before the swap: the target never holds them).
pub async fn drop(client: &Client) -> Result<()> {
    client
        .batch_execute("DROP SCHEMA IF EXISTS anonymize_run CASCADE")
        .await
        .pg_context(|| "dropping the control tables".into())
}
