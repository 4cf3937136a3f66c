//! Sinks: where transformed rows go. `postgres` loads a target database;
//! export files are another sink with the same contract.
//!
//! The contract that makes runs atomic: nothing a sink wrote is visible
//! until `finish`; dropping a sink without `finish` aborts it.

pub mod files;
pub mod postgres;

use std::future::Future;

use anyhow::Result;
use bytes::Bytes;

/// One table's destination.
pub trait TableSink: Send {
    /// Writes a batch of whole rows in COPY text format.
    fn write(&mut self, batch: Bytes) -> impl Future<Output = Result<()>> + Send;
    /// Commits what was written; returns the rows the sink accepted.
    fn finish(self) -> impl Future<Output = Result<u64>> + Send;
}

/// Looks at every batch a sink is given, before the sink writes it (the
/// `export --verify` sampler, `verify::sample`).
pub trait BatchObserver: Send {
    /// One batch of whole rows, in COPY text format, as the sink gets it.
    fn observe(&mut self, batch: &[u8]);
    /// The sink finished: every row was seen.
    fn finished(self);
}

/// A sink whose batches an observer sees first; with no observer, the sink
/// alone.
pub struct Observed<S, O> {
    sink: S,
    observer: Option<O>,
}

impl<S: TableSink, O: BatchObserver> Observed<S, O> {
    pub fn new(sink: S, observer: Option<O>) -> Observed<S, O> {
        Observed { sink, observer }
    }
}

impl<S: TableSink, O: BatchObserver> TableSink for Observed<S, O> {
    async fn write(&mut self, batch: Bytes) -> Result<()> {
        if let Some(o) = &mut self.observer {
            o.observe(&batch);
        }
        self.sink.write(batch).await
    }

    async fn finish(self) -> Result<u64> {
        let rows = self.sink.finish().await?;
        if let Some(o) = self.observer {
            o.finished();
        }
        Ok(rows)
    }
}
