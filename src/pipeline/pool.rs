//! The copy workers: `jobs` pairs of a source connection in the snapshot
//! and a target connection, taking tables (or page ranges of large ones)
//! from one queue, largest first, so the longest copy does not start last.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use tokio::sync::Mutex;

use super::{copy_part, TableStats};
use crate::conn::ConnInfo;
use crate::plan::TablePlan;
use crate::progress::Progress;
use crate::sink::postgres::CopySink;
use crate::source;

/// Where the workers read and write.
pub struct Pool<'a> {
    pub source: &'a ConnInfo,
    /// The snapshot every worker imports.
    pub snapshot: &'a source::Snapshot,
    /// How long to wait for a locked source table.
    pub lock_timeout: std::time::Duration,
    /// The load database.
    pub target: &'a ConnInfo,
    pub jobs: usize,
    /// The source's `server_version_num` (TID range scans need 14).
    pub server_version: i32,
}

/// Tables larger than this on disk are copied in parts of about this size
/// (`ANONYMIZE_SPLIT_MB`, 0 = never split).
pub fn part_bytes() -> u64 {
    const DEFAULT_MB: u64 = 256;
    std::env::var("ANONYMIZE_SPLIT_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(DEFAULT_MB)
        * 1024
        * 1024
}

/// One unit of copy work: a whole table, or a range of its pages.
struct Part {
    plan: Arc<TablePlan>,
    pages: Option<(u32, Option<u32>)>,
    /// 1-based, of `of`.
    number: usize,
    of: usize,
}

/// A table copied in parts, until its last part is committed.
struct Parts {
    left: usize,
    started: Instant,
    stats: Option<TableStats>,
}

impl Pool<'_> {
    /// Copies `tables` over `jobs` worker pairs (a source connection in the
    /// snapshot and a target connection), largest first, calling `copied`
    /// as each table is committed (the post-data scheduler starts its
    /// indexes then). A large table is split into page
    /// ranges, each its own COPY (no FREEZE: that needs the one transaction
    /// that truncated the table).
    pub async fn copy_all(
        &self,
        tables: &[Arc<TablePlan>],
        progress: &Arc<Progress>,
        copied: impl Fn(&TablePlan, &TableStats),
    ) -> Result<Vec<TableStats>> {
        let (snapshot, jobs, server_version) = (self.snapshot, self.jobs, self.server_version);
        let part_bytes = part_bytes();
        let sizes = source::current_sizes(&snapshot.client, tables).await?;
        let mut parts: Vec<(i64, Part)> = Vec::new();
        let mut pending: std::collections::HashMap<String, Parts> = Default::default();
        for t in tables {
            let ranges =
                source::page_ranges(&snapshot.client, &t.table, server_version, part_bytes).await?;
            let of = ranges.len();
            if of > 1 {
                tracing::info!(table = %t.table.name, parts = of, "copying in parts");
            }
            pending.insert(
                t.table.name.to_string(),
                Parts {
                    left: of,
                    started: Instant::now(),
                    stats: None,
                },
            );
            for (i, pages) in ranges.into_iter().enumerate() {
                parts.push((
                    t.table.estimated_bytes / of as i64,
                    Part {
                        plan: Arc::clone(t),
                        pages,
                        number: i + 1,
                        of,
                    },
                ));
            }
        }
        // Largest first, so the longest copy does not start last; a stable sort
        // keeps a table's parts in page order.
        parts.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
        let queue: Mutex<VecDeque<Part>> = Mutex::new(parts.into_iter().map(|(_, p)| p).collect());
        let pending = std::sync::Mutex::new(pending);
        let stats = Mutex::new(Vec::new());
        let workers = (0..jobs.min(queue.lock().await.len()).max(1)).map(|_| async {
            let source = source::worker_with(self.source, &snapshot.id, self.lock_timeout).await?;
            let target = crate::target::connect(self.target).await?;
            loop {
                let Some(part) = queue.lock().await.pop_front() else {
                    return Ok::<(), anyhow::Error>(());
                };
                let table = &part.plan;
                let name = table.table.name.to_string();
                let whole = part.of == 1;
                let tp = if whole {
                    progress.table(&name, table.expected_rows())
                } else {
                    progress.table(
                        &format!("{name} {}/{}", part.number, part.of),
                        table.expected_rows() / part.of as i64,
                    )
                };
                if part.number == 1 {
                    if let Some(p) = pending.lock().expect("parts lock").get_mut(&name) {
                        p.started = Instant::now();
                    }
                }
                // FREEZE (in a transaction of its own) for a whole table
                // that is not small.
                let freeze = whole
                    && sizes.get(&table.table.oid).copied().unwrap_or(i64::MAX)
                        >= crate::sink::postgres::FREEZE_MIN_BYTES;
                let sink = CopySink::start(&target, table, freeze).await?;
                let read = source::Read {
                    pages: part.pages,
                    ..source::Read::default()
                };
                let s = copy_part(&source, Arc::clone(table), read, sink, &tp).await?;
                drop(tp);
                let done = {
                    let mut pending = pending.lock().expect("parts lock");
                    let p = pending.get_mut(&name).expect("every table has its parts");
                    p.left -= 1;
                    let merged = match p.stats.take() {
                        None => s,
                        Some(mut m) => {
                            m.rows_read += s.rows_read;
                            m.rows_written += s.rows_written;
                            m.bytes += s.bytes;
                            m
                        }
                    };
                    if p.left > 0 {
                        p.stats = Some(merged);
                        None
                    } else {
                        let mut m = merged;
                        m.seconds = p.started.elapsed().as_secs_f64();
                        m.kept_fraction = (table.estimated_kept.is_some()
                            && table.table.estimated_rows > 0)
                            .then(|| m.rows_written as f64 / table.table.estimated_rows as f64);
                        Some(m)
                    }
                };
                if let Some(s) = done {
                    tracing::debug!(table = %name, rows = s.rows_written, "table copied");
                    copied(table, &s);
                    stats.lock().await.push(s);
                }
            }
        });
        futures_util::future::try_join_all(workers).await?;
        let mut stats = std::mem::take(&mut *stats.lock().await);
        stats.sort_by(|a, b| a.table.cmp(&b.table));
        Ok(stats)
    }
}
