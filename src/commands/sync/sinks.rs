//! Where a sync's parts go: the sink factories `pipeline::driver` copies
//! into. Each worker of a fresh load has its own target connection; a load
//! into the target's own tables shares the one connection that holds its
//! transaction.

use std::collections::HashMap;

use anyhow::Result;
use tokio_postgres::Client;

use crate::conn::ConnInfo;
use crate::pipeline::driver::{Part, SinkFactory};
use crate::sink::postgres::{CopySink, FREEZE_MIN_BYTES};
use crate::target;

/// A fresh `<target>__next`: a connection per worker, and FREEZE (in a
/// transaction of its own) for a whole table that is not small.
pub(super) struct FreshTables<'a> {
    pub next: &'a ConnInfo,
    /// The source's current size of each table, by oid
    /// (`source::current_sizes`).
    pub sizes: HashMap<u32, i64>,
}

impl SinkFactory for FreshTables<'_> {
    type Worker = Client;
    type Sink<'w>
        = CopySink<'w>
    where
        Self: 'w;

    async fn worker(&self) -> Result<Client> {
        target::connect(self.next).await
    }

    async fn sink<'w>(&'w self, worker: &'w Client, part: &Part) -> Result<CopySink<'w>> {
        // A part of a table shares it with other transactions: no FREEZE,
        // which needs the one transaction that truncated the table.
        let freeze = part.is_whole()
            && self
                .sizes
                .get(&part.plan.table.oid)
                .copied()
                .unwrap_or(i64::MAX)
                >= FREEZE_MIN_BYTES;
        CopySink::start(worker, &part.plan, freeze).await
    }
}

/// `--schema existing`: every table into the one connection whose
/// transaction truncated them, so one worker, and no FREEZE of its own.
pub(super) struct ExistingTables<'a> {
    pub client: &'a Client,
}

impl SinkFactory for ExistingTables<'_> {
    type Worker = ();
    type Sink<'w>
        = CopySink<'w>
    where
        Self: 'w;

    async fn worker(&self) -> Result<()> {
        Ok(())
    }

    async fn sink<'w>(&'w self, _: &'w (), part: &Part) -> Result<CopySink<'w>> {
        CopySink::start(self.client, &part.plan, false).await
    }
}
