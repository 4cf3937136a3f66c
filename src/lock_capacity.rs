//! Will a run's locks fit in the server's lock table? PostgreSQL has one
//! shared lock table of `max_locks_per_transaction × (max_connections +
//! max_prepared_transactions)` entries. A run over many tables (schema per
//! tenant) fills it: pg_dump and the run's snapshot session each lock every
//! table on the source, and the pre-data script creates every relation in
//! one transaction on the target. Past the limit the server fails with "out
//! of shared memory" deep inside pg_dump, after the plan; the counts are
//! known before anything runs, so the run stops there instead (exit 2).

use anyhow::Result;
use tokio_postgres::Client;

use crate::error::{PgResultExt, UsageError};

/// Entries a run leaves free for the server's other sessions and for the
/// catalog reads of its own.
const HEADROOM: i64 = 64;

/// The size of a server's lock table, and the settings it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockTable {
    pub max_locks_per_transaction: i64,
    pub max_connections: i64,
    pub max_prepared_transactions: i64,
}

impl LockTable {
    pub async fn read(client: &Client) -> Result<LockTable> {
        let row = client
            .query_one(
                "SELECT current_setting('max_locks_per_transaction')::bigint, \
                        current_setting('max_connections')::bigint, \
                        current_setting('max_prepared_transactions')::bigint",
                &[],
            )
            .await
            .pg_context(|| "reading the server's lock settings".into())?;
        Ok(LockTable {
            max_locks_per_transaction: row.get(0),
            max_connections: row.get(1),
            max_prepared_transactions: row.get(2),
        })
    }

    /// Entries in the shared lock table.
    pub fn entries(&self) -> i64 {
        self.max_locks_per_transaction * self.backends()
    }

    fn backends(&self) -> i64 {
        (self.max_connections + self.max_prepared_transactions).max(1)
    }

    /// Refuses (exit 2) when `needed` locks, plus headroom, do not fit.
    /// `server` names the side ("source", "target"), `why` says what takes
    /// the locks.
    pub fn refuse_unless_fits(&self, needed: i64, server: &str, why: &str) -> Result<()> {
        if needed + HEADROOM <= self.entries() {
            return Ok(());
        }
        let per_transaction = (needed + HEADROOM + self.backends() - 1) / self.backends();
        Err(UsageError::new(format!(
            "the run needs about {needed} locks on the {server} server ({why}), but its lock \
             table holds {} (max_locks_per_transaction {} × (max_connections {} + \
             max_prepared_transactions {})); nothing was written. Set max_locks_per_transaction \
             to at least {per_transaction} on the {server} server and restart it",
            self.entries(),
            self.max_locks_per_transaction,
            self.max_connections,
            self.max_prepared_transactions,
        ))
        .into())
    }
}

/// What a run will lock on the source and create on the target, counted in
/// the source catalog (user schemas only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockNeed {
    /// Tables pg_dump locks (ordinary and partitioned, every partition).
    pub dumped_tables: i64,
    /// Relations the pre-data script creates in one transaction: tables,
    /// sequences, views, their TOAST tables and TOAST indexes.
    pub created_relations: i64,
}

impl LockNeed {
    pub async fn count(client: &Client) -> Result<LockNeed> {
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE c.relkind IN ('r', 'p')), \
                        count(*) + 2 * count(*) FILTER (WHERE c.reltoastrelid <> 0) \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'f', 'S', 'v', 'm') \
                   AND n.nspname <> 'information_schema' \
                   AND n.nspname NOT LIKE 'pg\\_%'",
                &[],
            )
            .await
            .pg_context(|| "counting the source's relations".into())?;
        Ok(LockNeed {
            dumped_tables: row.get(0),
            created_relations: row.get(1),
        })
    }

    /// Source locks: each pg_dump run (`PG_DUMP_RUNS`) and the snapshot
    /// session lock every table.
    pub fn source_locks(&self, pg_dump_runs: i64) -> i64 {
        self.dumped_tables * (pg_dump_runs + 1)
    }
}

/// Counts what the run will lock on the source and refuses (exit 2) when
/// the source's lock table cannot hold it. Runs inside the snapshot, before
/// pg_dump or the run's own `LOCK TABLE`.
pub async fn refuse_source_overflow(client: &Client) -> Result<LockNeed> {
    let need = LockNeed::count(client).await?;
    LockTable::read(client).await?.refuse_unless_fits(
        need.source_locks(PG_DUMP_RUNS),
        "source",
        &format!(
            "pg_dump and the run's snapshot session each lock its {} tables",
            need.dumped_tables
        ),
    )?;
    Ok(need)
}

/// Refuses (exit 2) when the target's lock table cannot hold the relations
/// the pre-data script creates in its one transaction.
pub async fn refuse_target_overflow(target_admin: &Client, need: LockNeed) -> Result<()> {
    LockTable::read(target_admin).await?.refuse_unless_fits(
        need.created_relations,
        "target",
        &format!(
            "the schema script creates {} relations in one transaction",
            need.created_relations
        ),
    )
}

/// pg_dump runs at once over the snapshot: one, for both sections
/// (`pgdump::dump_schema`).
const PG_DUMP_RUNS: i64 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    fn table(locks: i64, conns: i64, prepared: i64) -> LockTable {
        LockTable {
            max_locks_per_transaction: locks,
            max_connections: conns,
            max_prepared_transactions: prepared,
        }
    }

    #[test]
    fn the_default_lock_table_holds_6400_entries() {
        assert_eq!(table(64, 100, 0).entries(), 6400);
    }

    #[test]
    fn a_need_that_fits_with_headroom_passes() {
        assert!(table(64, 100, 0)
            .refuse_unless_fits(6400 - HEADROOM, "source", "x")
            .is_ok());
    }

    #[test]
    fn a_need_past_the_table_names_the_setting_and_the_value_needed() {
        let e = table(64, 100, 0)
            .refuse_unless_fits(
                30_000,
                "source",
                "pg_dump and the snapshot lock 10000 tables",
            )
            .unwrap_err();
        assert!(e.is::<UsageError>());
        let text = e.to_string();
        assert!(
            text.contains("max_locks_per_transaction to at least 301"),
            "{text}"
        );
        assert!(text.contains("holds 6400"), "{text}");
    }
}
