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
