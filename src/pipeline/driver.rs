//! The copy driver: the one scheduler every command that moves rows uses
//! (`sync` into a fresh database or the target's own tables, `export` into
//! files). It cuts the tables into parts (a whole table, or a range of its
//! pages), hands them to `--jobs` workers largest first, so the longest
//! copy does not start last, and gathers each table's statistics and
//! progress. Where the rows go is the caller's: a `SinkFactory` makes the
//! sink of each part, so this module knows no target database and no file.
//!
//! Failpoints live in `copy_part`, the per-part copy every worker runs;
//! cancellation is the caller's future being dropped (a signal), which
//! drops every worker and so every unfinished sink, which aborts.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::Mutex;

use super::{copy_part, TableStats};
use crate::conn::ConnInfo;
use crate::plan::TablePlan;
use crate::progress::Progress;
use crate::sink::TableSink;
use crate::source;

/// Makes the sink of each part: a `COPY … FROM STDIN` on the worker's
/// target connection, an export file, or whatever comes next.
pub trait SinkFactory {
    /// What one worker holds across its parts (a target connection), made
    /// once per worker.
    type Worker;
    /// The sink of one part; it may borrow the worker.
    type Sink<'w>: TableSink
    where
        Self: 'w;
    /// Opens what one worker needs before its first part.
    fn worker(&self) -> impl Future<Output = Result<Self::Worker>>;
    /// The sink that receives `part`'s rows.
    fn sink<'w>(
        &'w self,
        worker: &'w Self::Worker,
        part: &Part,
    ) -> impl Future<Output = Result<Self::Sink<'w>>>;
}

/// How tables are cut into parts and read.
#[derive(Debug, Clone, Copy)]
pub enum Cut {
    /// Tables larger than `ANONYMIZE_SPLIT_MB` are read in page ranges,
    /// each its own part (TID range scans need the source's
    /// `server_version_num` of 14 or more).
    PageRanges { server_version: i32 },
    /// One part per table; with `stable_order`, its rows come sorted by
    /// the server, so files come out the same run after run. With
    /// `as_given`, tables are copied in the order given (an export's),
    /// not largest first.
    WholeTables { stable_order: bool, as_given: bool },
}

/// Where the workers read, and how many there are.
pub struct Driver<'a> {
    pub source: &'a ConnInfo,
    /// The snapshot every worker imports.
    pub snapshot: &'a source::Snapshot,
    /// How long to wait for a locked source table.
    pub lock_timeout: Duration,
    /// Workers, each with its own source connection (`--jobs`).
    pub jobs: usize,
    pub cut: Cut,
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
pub struct Part {
    pub plan: Arc<TablePlan>,
    /// What of the table to read (its pages, a stable order).
    pub read: source::Read,
    /// 1-based, of `of`.
    pub number: usize,
    pub of: usize,
}

impl Part {
    /// The part is the whole table.
    pub fn is_whole(&self) -> bool {
        self.of == 1
    }
}

/// A table copied in parts, until its last part is committed.
struct Parts {
    left: usize,
    started: Instant,
    stats: Option<TableStats>,
}

impl Driver<'_> {
    /// Copies the rows of `tables` (skipped tables are left out) into the
    /// sinks `factory` makes, over `jobs` workers, largest first, calling
    /// `copied` as each table's last part is finished (the post-data
    /// scheduler starts its indexes then). Returns the tables' statistics
    /// sorted by name.
    pub async fn copy_all<F: SinkFactory>(
        &self,
        tables: &[Arc<TablePlan>],
        factory: &F,
        progress: &Arc<Progress>,
        copied: impl Fn(&TablePlan, &TableStats),
    ) -> Result<Vec<TableStats>> {
        let (queue, pending) = self.parts(tables).await?;
        let queue = Mutex::new(queue);
        let pending = std::sync::Mutex::new(pending);
        let stats = std::sync::Mutex::new(Vec::new());
        let workers = (0..self.jobs.min(queue.lock().await.len()).max(1)).map(|_| async {
            let source =
                source::worker_with(self.source, &self.snapshot.id, self.lock_timeout).await?;
            let worker = factory.worker().await?;
            loop {
                let Some(part) = queue.lock().await.pop_front() else {
                    return Ok::<(), anyhow::Error>(());
                };
                let table = Arc::clone(&part.plan);
                let name = table.table.name.to_string();
                let tp = if part.is_whole() {
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
                let sink = factory.sink(&worker, &part).await?;
                let s = copy_part(&source, Arc::clone(&table), part.read, sink, &tp).await?;
                drop(tp);
                let done = merge(&mut pending.lock().expect("parts lock"), &table, s);
                if let Some(s) = done {
                    tracing::debug!(table = %name, rows = s.rows_written, "table copied");
                    copied(&table, &s);
                    stats.lock().expect("stats lock").push(s);
                }
            }
        });
        futures_util::future::try_join_all(workers).await?;
        let mut stats = std::mem::take(&mut *stats.lock().expect("stats lock"));
        stats.sort_by(|a, b| a.table.cmp(&b.table));
        Ok(stats)
    }

    /// The parts of `tables`, largest first, and what is left of each
    /// table. A large table's parts are page ranges, each its own COPY.
    async fn parts(
        &self,
        tables: &[Arc<TablePlan>],
    ) -> Result<(VecDeque<Part>, HashMap<String, Parts>)> {
        let part_bytes = part_bytes();
        let mut parts: Vec<(i64, Part)> = Vec::new();
        let mut pending = HashMap::new();
        for t in tables.iter().filter(|t| !t.skip) {
            let reads: Vec<source::Read> = match self.cut {
                Cut::PageRanges { server_version } => {
                    source::page_ranges(&self.snapshot.client, t, server_version, part_bytes)
                        .await?
                        .into_iter()
                        .map(|pages| source::Read {
                            pages,
                            ..source::Read::default()
                        })
                        .collect()
                }
                Cut::WholeTables { stable_order, .. } => vec![source::Read {
                    stable_order,
                    ..source::Read::default()
                }],
            };
            let of = reads.len();
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
            for (i, read) in reads.into_iter().enumerate() {
                parts.push((
                    t.table.estimated_bytes / of as i64,
                    Part {
                        plan: Arc::clone(t),
                        read,
                        number: i + 1,
                        of,
                    },
                ));
            }
        }
        // Largest first, so the longest copy does not start last; a stable
        // sort keeps a table's parts in page order.
        if !matches!(self.cut, Cut::WholeTables { as_given: true, .. }) {
            parts.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
        }
        Ok((parts.into_iter().map(|(_, p)| p).collect(), pending))
    }
}

/// The rows the copy of `tables` is expected to move (skipped tables have
/// none), for the progress bar's total.
pub fn rows_to_copy(tables: &[Arc<TablePlan>]) -> u64 {
    tables
        .iter()
        .filter(|t| !t.skip)
        .map(|t| t.expected_rows().max(0) as u64)
        .sum()
}

/// Adds a finished part's statistics to its table's; returns the table's
/// when this was its last part.
fn merge(
    pending: &mut HashMap<String, Parts>,
    table: &TablePlan,
    s: TableStats,
) -> Option<TableStats> {
    let p = pending
        .get_mut(&s.table)
        .expect("every table has its parts");
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
        return None;
    }
    let mut m = merged;
    m.seconds = p.started.elapsed().as_secs_f64();
    m.kept_fraction = (table.selection().estimated_kept.is_some()
        && table.table.estimated_rows > 0)
        .then(|| m.rows_written as f64 / table.table.estimated_rows as f64);
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{QualifiedName, RowSecurity, Table, TableKind};

    fn stats(rows: u64, bytes: u64) -> TableStats {
        TableStats {
            table: "public.big".into(),
            rows_read: rows,
            rows_written: rows,
            bytes,
            seconds: 0.0,
            source_rows_estimate: 100,
            source_rows_from: Default::default(),
            selection: "all rows".into(),
            kept_fraction: None,
        }
    }

    /// A table copied in three parts is reported once, when its last part
    /// is done, with the parts' rows and bytes added up.
    #[test]
    fn a_table_in_parts_is_reported_once_with_its_parts_added_up() {
        let table = TablePlan::for_tests(Table {
            oid: 1,
            name: QualifiedName::new("public", "big"),
            kind: TableKind::Ordinary,
            columns: vec![],
            unique_keys: vec![],
            foreign_keys: vec![],
            estimated_rows: 100,
            estimated_bytes: 1 << 30,
            unique_indexes: vec![],
            exclusions: Vec::new(),
            rows_from: Default::default(),
            row_security: RowSecurity::Off,
        });
        let mut pending = HashMap::from([(
            "public.big".to_string(),
            Parts {
                left: 3,
                started: Instant::now(),
                stats: None,
            },
        )]);
        assert!(merge(&mut pending, &table, stats(40, 400)).is_none());
        assert!(merge(&mut pending, &table, stats(35, 350)).is_none());
        let all = merge(&mut pending, &table, stats(25, 250)).expect("the last part");
        assert_eq!(
            (all.rows_read, all.rows_written, all.bytes),
            (100, 100, 1000)
        );
        // Every row of the table: no subset, so no kept share.
        assert_eq!(all.kept_fraction, None);
    }
}
