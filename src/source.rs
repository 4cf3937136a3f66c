//! The source side: one REPEATABLE READ READ ONLY snapshot, exported by a
//! leader connection and imported by every worker, so all tables are read
//! as of one instant. Nothing is ever written to the source.

use anyhow::Result;
use tokio_postgres::Client;

use std::fmt::Write as _;

use crate::catalog::TypeKind;
use crate::conn::ConnInfo;
use crate::error::PgResultExt;
use crate::plan::{ColumnAction, TablePlan};
use crate::sql::{quote_ident, quote_literal};

/// Session settings for every source connection: a long COPY must not be
/// cut by the server's idle or statement timeouts; and, as in pg_dump,
/// `row_security = off`, so a table whose policies would hide rows from
/// this role raises an error instead of silently copying fewer rows.
///
/// Also as in pg_dump, `search_path` is pinned to `pg_catalog`: a
/// function or operator someone created in a schema of the path cannot
/// stand in for a built-in one our queries call (every name we write is
/// qualified; `format_type` then qualifies user types too). And
/// `standard_conforming_strings` is on, the reading of quotes the rules'
/// `where:` check (`rules::condition`) assumes.
///
/// `jit` is off: a COPY query runs once, and compiling it (in the leader
/// and again in each parallel worker, ~0.1 s each) costs more than it
/// saves; a subset's semi-joins are costed high enough to trigger it.
const SOURCE_SETTINGS: &str = "SET search_path = pg_catalog; \
    SET standard_conforming_strings = on; \
    SET row_security = off; \
    SET statement_timeout = 0; \
    SET idle_in_transaction_session_timeout = 0; \
    SET extra_float_digits = 3; \
    SET DateStyle = 'ISO, MDY'; \
    SET IntervalStyle = 'postgres'; \
    SET TimeZone = 'UTC'; \
    SET bytea_output = 'hex'; \
    SET jit = off";

/// The leader connection holding the exported snapshot open.
pub struct Snapshot {
    /// The leader connection; the snapshot lives as long as its transaction.
    pub client: Client,
    /// The id workers pass to `SET TRANSACTION SNAPSHOT`.
    pub id: String,
    /// Set when the source is a hot standby.
    pub standby: Option<crate::conn::replica::Standby>,
}

/// How long a source session waits for a table lock when the caller does
/// not say (`--lock-timeout`).
pub const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `SET lock_timeout`: a table locked by someone else fails the run after
/// `timeout` instead of hanging it. Also what breaks the one wait no
/// deadlock detector sees: a worker queued behind a DDL that itself waits
/// for the leader's lock.
fn lock_timeout_setting(timeout: std::time::Duration) -> String {
    format!("SET lock_timeout = '{}ms'", timeout.as_millis().max(1))
}

/// Opens the leader connection and exports its snapshot.
pub async fn open_snapshot(info: &ConnInfo) -> Result<Snapshot> {
    open_snapshot_with(info, DEFAULT_LOCK_TIMEOUT).await
}

/// `open_snapshot`, waiting at most `lock_timeout` for any table lock.
pub async fn open_snapshot_with(
    info: &ConnInfo,
    lock_timeout: std::time::Duration,
) -> Result<Snapshot> {
    let client = crate::conn::connect_named(info, "source").await?;
    client
        .batch_execute(&format!(
            "{SOURCE_SETTINGS}; {}; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            lock_timeout_setting(lock_timeout)
        ))
        .await
        .pg_context(|| "starting the snapshot transaction on the source".into())?;
    let id: String = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .pg_context(|| "exporting the source snapshot".into())?
        .get(0);
    let standby = crate::conn::replica::standby(&client).await?;
    Ok(Snapshot {
        client,
        id,
        standby,
    })
}

/// Opens a worker connection that reads inside snapshot `id`.
pub async fn worker(info: &ConnInfo, snapshot_id: &str) -> Result<Client> {
    worker_with(info, snapshot_id, DEFAULT_LOCK_TIMEOUT).await
}

/// `worker`, waiting at most `lock_timeout` for any table lock.
pub async fn worker_with(
    info: &ConnInfo,
    snapshot_id: &str,
    lock_timeout: std::time::Duration,
) -> Result<Client> {
    // It copies tables: not read ahead while a huge row is held.
    let client = crate::conn::connect_copy_source(info).await?;
    client
        .batch_execute(&format!(
            "{SOURCE_SETTINGS}; {}; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
             SET TRANSACTION SNAPSHOT {}",
            lock_timeout_setting(lock_timeout),
            quote_literal(snapshot_id)
        ))
        .await
        .pg_context(|| "importing the snapshot on a source worker".into())?;
    Ok(client)
}

/// Refuses, before any row moves, to copy tables whose row-level security
/// would apply to this role: with `row_security = off` the server would
/// fail the COPY anyway, and this names every such table at once with
/// what to grant.
pub fn refuse_row_security(tables: &[&crate::catalog::Table], role: &str) -> Result<()> {
    let hidden: Vec<String> = tables
        .iter()
        .filter(|t| t.row_security == crate::catalog::RowSecurity::Applies)
        .map(|t| t.name.to_string())
        .collect();
    if hidden.is_empty() {
        return Ok(());
    }
    Err(crate::error::UsageError::new(format!(
        "row-level security would hide rows of {} from the source role `{role}`, so the copy \
         would be incomplete; run `ALTER ROLE {} BYPASSRLS;` as a superuser, or connect as \
         the tables' owner (see docs/operations.md, \"Row-level security\")",
        hidden.join(", "),
        quote_ident(role)
    ))
    .into())
}

/// The current on-disk size of each table (heap and TOAST), by oid: the
/// files as they are now, not the statistics. Runs on the snapshot
/// connection after the run's own `LOCK TABLE`, so no lock waits.
pub async fn current_sizes(
    client: &Client,
    tables: &[std::sync::Arc<TablePlan>],
) -> Result<std::collections::HashMap<u32, i64>> {
    let oids: Vec<u32> = tables.iter().map(|t| t.table.oid).collect();
    let rows = client
        .query(
            "SELECT c.oid, pg_catalog.pg_relation_size(c.oid) \
                    + coalesce(pg_catalog.pg_relation_size(nullif(c.reltoastrelid, 0)), 0) \
               FROM pg_catalog.pg_class c WHERE c.oid = ANY($1)",
            &[&oids],
        )
        .await
        .pg_context(|| "reading the source tables' sizes".into())?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Splits a large ordinary table into ranges of heap pages, each read by
/// its own `COPY` (a TID range scan, PostgreSQL 14+) under the shared
/// snapshot, so one table can use several source and target backends.
/// Returns `[None]` (one whole-table part) for a table whose copy moves
/// at most `part_bytes` bytes (`copied_bytes`), a partitioned table, an
/// older server, or a subset table whose rows follow other tables'
/// (`Selection::reads_other_tables`: every part would select those again,
/// scanning the parents once per part; one query scans them once, and the
/// server's parallel workers split it instead). The last range is open-ended, so pages added since
/// the size was read are not missed (their rows are outside the snapshot
/// anyway).
pub async fn page_ranges(
    client: &Client,
    plan: &TablePlan,
    server_version: i32,
    part_bytes: u64,
) -> Result<Vec<Option<(u32, Option<u32>)>>> {
    let whole = vec![None];
    let table = &plan.table;
    if part_bytes == 0
        || server_version < 140000
        || table.kind != crate::catalog::TableKind::Ordinary
        || copied_bytes(plan, table.estimated_bytes.max(0) as u64) <= part_bytes
        || plan.selection().reads_other_tables()
    {
        return Ok(whole);
    }
    let pages: i64 = client
        .query_one(
            "SELECT pg_relation_size($1::oid::regclass) / current_setting('block_size')::bigint",
            &[&table.oid],
        )
        .await
        .pg_context(|| format!("reading the size of table {}", table.name))?
        .get(0);
    let heap_bytes = pages.max(0) as u64 * 8192;
    let parts = copied_bytes(plan, heap_bytes).div_ceil(part_bytes).min(64) as u32;
    if parts < 2 {
        return Ok(whole);
    }
    let pages = pages as u32;
    let step = pages.div_ceil(parts);
    Ok((0..parts)
        .map(|i| {
            let from = i * step;
            let to = (i + 1 < parts).then_some((i + 1) * step);
            Some((from, to))
        })
        .collect())
}

/// The share of `bytes` a copy of `plan` moves: all of them, or for a
/// subset table the share of rows it is expected to keep. Parts are sized
/// by what they move: the server's parallel workers already split the
/// scan of a 10% subset, and each part costs its own COPY on both sides
/// (a split `orders` made the benchmark's subset 7% slower).
fn copied_bytes(plan: &TablePlan, bytes: u64) -> u64 {
    let rows = plan.table.estimated_rows;
    match plan.selection().estimated_kept {
        Some(kept) if rows > 0 && kept < rows => {
            (bytes as f64 * kept.max(0) as f64 / rows as f64) as u64
        }
        _ => bytes,
    }
}

/// Takes ACCESS SHARE locks on every table the run reads, in the snapshot's
/// transaction, as pg_dump does: DDL that would rewrite or alter a table
/// (and make it look empty or different to this old snapshot) waits for the
/// run instead. The session's lock timeout (`open_snapshot_with`) bounds
/// the wait; `timeout` is that value, for the message.
pub async fn lock_tables(
    client: &Client,
    tables: &[&crate::catalog::Table],
    timeout: std::time::Duration,
) -> Result<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tables.iter().map(|t| t.name.sql()).collect();
    let sql = format!("LOCK TABLE {} IN ACCESS SHARE MODE", names.join(", "));
    match client.batch_execute(&sql).await {
        Ok(()) => Ok(()),
        Err(e) if crate::error::sqlstate(&e) == Some("55P03") => Err(lock_timed_out(timeout)),
        Err(e) => Err(e).pg_context(|| "locking the source tables for the run".into()),
    }
}

/// The error for a source lock not granted within `timeout` (55P03).
pub fn lock_timed_out(timeout: std::time::Duration) -> anyhow::Error {
    anyhow::anyhow!(
        "a source table is locked by another session (a migration, VACUUM FULL, or a \
             long ALTER), and the run waited {} for it (--lock-timeout); nothing was written. \
             See who holds it with `SELECT pid, state, query FROM pg_stat_activity WHERE pid IN \
             (SELECT pid FROM pg_locks WHERE mode = 'AccessExclusiveLock')` on the source, then \
             retry, or raise --lock-timeout",
        shown(timeout)
    )
}

/// A duration as the user may have written it: `1 s`, `300 ms`.
fn shown(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Which rows of a table one COPY reads, and in what order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Read {
    /// Only the heap pages `[from, to)` (`to` `None`: to the end), read by
    /// a TID range scan: one part of a large table. `None`: all of it.
    pub pages: Option<(u32, Option<u32>)>,
    /// Rows in one order run after run (`stable_order`), sorted by the
    /// server: what `export` needs for byte-identical files.
    pub stable_order: bool,
}

/// `COPY (SELECT ...) TO STDOUT` for the source: the plan's columns and
/// row selection, limited to what `read` asks for.
///
/// The table is not aliased, so a rules `where:` may name its columns
/// bare or qualified by the table's name; the subset's joins use names
/// that cannot clash with a column (`"subset.n0"`).
pub fn copy_query(t: &TablePlan, read: Read) -> String {
    let pages = read.pages;
    let rel = quote_ident(&t.table.name.name);
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let q = quote_ident(&c.name);
            match (&c.action, &c.source_expr) {
                (ColumnAction::Null, _) if !c.read_by_others => format!("NULL AS {q}"),
                (_, Some(expr)) => format!("{expr} AS {q}"),
                // Qualified: a join's columns could otherwise clash.
                _ if !t.selection().joins.is_empty() => format!("{rel}.{q}"),
                _ => q,
            }
        })
        .collect();
    // The branch selectors of `when:` rules, read after the columns and
    // never written (`TablePlan::extra`). Their aliases cannot clash with
    // a column: they contain a dot.
    let mut cols = cols;
    for (k, e) in t.extra.iter().enumerate() {
        cols.push(format!(
            "{e} AS {}",
            quote_ident(&format!("anonymize.when{k}"))
        ));
    }
    let mut q = String::from("COPY (");
    if let Some(w) = &t.selection().with_sql {
        let _ = write!(q, "{w} ");
    }
    let _ = write!(q, "SELECT {} FROM {}", cols.join(", "), t.table.sql_only());
    for j in &t.selection().joins {
        let _ = write!(q, " {j}");
    }
    let mut conditions: Vec<String> = Vec::new();
    if let Some((from, to)) = pages {
        conditions.push(format!("{rel}.ctid >= '({from},0)'::tid"));
        if let Some(to) = to {
            conditions.push(format!("{rel}.ctid < '({to},0)'::tid"));
        }
    }
    if let Some(p) = &t.selection().predicate {
        conditions.push(if pages.is_some() {
            format!("({p})")
        } else {
            p.clone()
        });
    }
    if !conditions.is_empty() {
        let _ = write!(q, " WHERE {}", conditions.join(" AND "));
    }
    let order = if read.stable_order {
        stable_order(t)
    } else {
        String::new()
    };
    // A table without copyable columns has nothing to order by.
    if !order.is_empty() {
        let _ = write!(q, " ORDER BY {order}");
    }
    q.push_str(") TO STDOUT");
    q
}

/// `ORDER BY` that gives a table's rows one order, run after run: the
/// primary key, or every column where there is none. Text keys sort by
/// bytes (`COLLATE "C"`) so the order does not follow the server's locale
/// or its C library. Columns are qualified so they name the table's
/// columns, never the query's output (where a rule may put `NULL AS c`).
fn stable_order(t: &TablePlan) -> String {
    let rel = quote_ident(&t.table.name.name);
    match t.table.primary_key() {
        Some(pk) => pk
            .columns
            .iter()
            .map(|name| {
                let collate = t
                    .table
                    .column(name)
                    .is_some_and(|c| c.kind == TypeKind::Text && !c.is_array);
                format!(
                    "{rel}.{}{}",
                    quote_ident(name),
                    if collate { " COLLATE \"C\"" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        // Without a key, rows are ordered by their text, which is what
        // COPY writes: two rows that sort equal are the same bytes.
        None => t
            .table
            .columns
            .iter()
            .filter(|c| !c.generated)
            .map(|c| format!("{rel}.{}::text COLLATE \"C\"", quote_ident(&c.name)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}
