//! What the user sees while rows move: indicatif bars on a terminal (one
//! per running table and an overall bar, then the post-data bar), periodic
//! log lines otherwise.
//!
//! Counters are atomics bumped once per batch, never per row.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a log line is written when there are no bars.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The run's progress display.
pub struct Progress {
    bars: Option<(MultiProgress, ProgressBar)>,
    running: Mutex<Vec<Arc<Counters>>>,
    stop: Arc<AtomicBool>,
    post: Arc<PostCounters>,
}

/// Post-data steps: done of total, and the ones running now.
#[derive(Default)]
struct PostCounters {
    total: AtomicU64,
    structure_total: AtomicU64,
    done: AtomicU64,
    structure_done: AtomicU64,
    running: Mutex<Vec<String>>,
    started: Mutex<Option<Instant>>,
    /// Set when every step is done: the log loop stops telling.
    finished: AtomicBool,
}

struct Counters {
    table: String,
    estimated_rows: u64,
    rows: AtomicU64,
    bytes: AtomicU64,
    started: Instant,
}

/// Clears the progress display when the copy ends, also when it ends by an
/// error or a signal (the future is dropped): otherwise the log thread
/// would keep running.
pub struct FinishOnDrop(pub Arc<Progress>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finish();
    }
}

impl Progress {
    /// Bars when `bars` is asked for and stderr is a terminal; log lines
    /// every few seconds otherwise. `total_rows` is the estimate for the
    /// overall bar.
    pub fn new(bars: bool, total_rows: u64) -> Arc<Progress> {
        let bars = (bars && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
            let overall = multi.add(ProgressBar::new(total_rows.max(1)));
            overall.set_style(
                ProgressStyle::with_template(
                    "{prefix:>24.bold} [{bar:30.green/dim}] {human_pos}/{human_len} rows  {elapsed_precise}  eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            overall.set_prefix("total");
            (multi, overall)
        });
        let progress = Arc::new(Progress {
            bars,
            running: Mutex::new(Vec::new()),
            stop: Arc::new(AtomicBool::new(false)),
            post: Arc::default(),
        });
        if progress.bars.is_none() {
            let p = Arc::clone(&progress);
            std::thread::spawn(move || p.log_loop());
        }
        progress
    }

    /// A display that shows nothing (tests, `--dry-run`).
    pub fn hidden() -> Arc<Progress> {
        Arc::new(Progress {
            bars: None,
            running: Mutex::new(Vec::new()),
            stop: Arc::new(AtomicBool::new(true)),
            post: Arc::default(),
        })
    }

    /// The post-data display: a bar under the tables' bars on a terminal,
    /// log lines otherwise.
    pub fn post_data(self: &Arc<Self>) -> PostDataProgress {
        let bar = self.bars.as_ref().map(|(multi, _)| {
            let bar = multi.add(ProgressBar::new(1));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>24.bold} [{bar:30.yellow/dim}] {pos}/{len} steps  {elapsed_precise}  {msg}",
                )
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix("post-data");
            bar.set_message("waiting for the first table");
            bar
        });
        PostDataProgress {
            progress: Arc::clone(self),
            bar,
        }
    }

    /// Starts showing one table.
    pub fn table(self: &Arc<Self>, table: &str, estimated_rows: i64) -> TableProgress {
        let counters = Arc::new(Counters {
            table: table.to_string(),
            estimated_rows: estimated_rows.max(0) as u64,
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            started: Instant::now(),
        });
        self.running
            .lock()
            .expect("progress lock")
            .push(Arc::clone(&counters));
        let bar = self.bars.as_ref().map(|(multi, _)| {
            let bar = multi.insert_from_back(1, ProgressBar::new(counters.estimated_rows.max(1)));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>24} [{bar:30.cyan/dim}] {human_pos}/{human_len} rows  {msg}  eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(shorten(table, 24));
            bar
        });
        TableProgress {
            progress: Arc::clone(self),
            counters,
            bar,
        }
    }

    /// Clears the bars.
    pub fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some((multi, overall)) = &self.bars {
            overall.finish_and_clear();
            let _ = multi.clear();
        }
    }

    fn log_loop(&self) {
        let mut last = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(200));
            if last.elapsed() < LOG_EVERY {
                continue;
            }
            last = Instant::now();
            if !self.post.finished.load(Ordering::Relaxed) {
                if let Some(line) = self.post.line() {
                    tracing::info!("post-data: {line}");
                }
            }
            for c in self.running.lock().expect("progress lock").iter() {
                let rows = c.rows.load(Ordering::Relaxed);
                let mb = c.bytes.load(Ordering::Relaxed) as f64 / 1e6;
                let secs = c.started.elapsed().as_secs_f64().max(1e-3);
                tracing::info!(
                    table = %c.table,
                    rows,
                    estimated_rows = c.estimated_rows,
                    mb_per_s = format!("{:.1}", mb / secs),
                    "copying"
                );
            }
        }
    }
}

impl PostCounters {
    /// `3/21 indexes and constraints, 9/33 steps, 4 s; now: index a, analyze b`,
    /// or `None` before the first step.
    fn line(&self) -> Option<String> {
        let started = (*self.started.lock().expect("progress lock"))?;
        let running = self.running.lock().expect("progress lock").join(", ");
        Some(format!(
            "{}/{} indexes and constraints, {}/{} steps, {:.0} s{}",
            self.structure_done.load(Ordering::Relaxed),
            self.structure_total.load(Ordering::Relaxed),
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64(),
            if running.is_empty() {
                String::new()
            } else {
                format!("; now: {running}")
            }
        ))
    }
}

/// The post-data phase's display: indexes and constraints done of total,
/// the steps running now, time since the first one started.
pub struct PostDataProgress {
    progress: Arc<Progress>,
    bar: Option<ProgressBar>,
}

impl PostDataProgress {
    /// `total` steps, of which `structure` build indexes and constraints.
    pub fn set_total(&self, total: u64, structure: u64) {
        let post = &self.progress.post;
        post.total.store(total, Ordering::Relaxed);
        post.structure_total.store(structure, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(total.max(1));
        }
    }

    /// A step starts. `label` names the object (`index orders_pkey`).
    pub fn start(&self, label: &str) {
        let post = &self.progress.post;
        let first = {
            let mut started = post.started.lock().expect("progress lock");
            let first = started.is_none();
            started.get_or_insert_with(Instant::now);
            first
        };
        post.running
            .lock()
            .expect("progress lock")
            .push(label.to_string());
        if first {
            if let Some(bar) = &self.bar {
                bar.reset_elapsed();
            }
        }
        self.redraw();
    }

    /// A step is done; `structure` when it built an index or constraint.
    pub fn done(&self, label: &str, structure: bool) {
        let post = &self.progress.post;
        post.done.fetch_add(1, Ordering::Relaxed);
        if structure {
            post.structure_done.fetch_add(1, Ordering::Relaxed);
        }
        let mut running = post.running.lock().expect("progress lock");
        if let Some(i) = running.iter().position(|l| l == label) {
            running.remove(i);
        }
        drop(running);
        self.redraw();
    }

    fn redraw(&self) {
        if let Some(bar) = &self.bar {
            let post = &self.progress.post;
            bar.set_position(post.done.load(Ordering::Relaxed));
            let running = post.running.lock().expect("progress lock").join(", ");
            bar.set_message(shorten_end(
                &format!(
                    "{}/{} indexes and constraints; now: {running}",
                    post.structure_done.load(Ordering::Relaxed),
                    post.structure_total.load(Ordering::Relaxed),
                ),
                80,
            ));
        }
    }

    /// Every step is done: the bar goes, a log line says so.
    pub fn finish(&self) {
        self.progress.post.finished.store(true, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(line) = self.progress.post.line() {
            tracing::info!("post-data done: {line}");
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One table's progress.
pub struct TableProgress {
    progress: Arc<Progress>,
    counters: Arc<Counters>,
    bar: Option<ProgressBar>,
}

impl TableProgress {
    /// Records a batch of `rows` rows and `bytes` bytes.
    pub fn advance(&self, rows: u64, bytes: u64) {
        let total_rows = self.counters.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        let total_bytes = self.counters.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(bar) = &self.bar {
            if total_rows > bar.length().unwrap_or(0) {
                bar.set_length(total_rows);
            }
            bar.set_position(total_rows);
            let secs = self.counters.started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{:.1} MB/s", total_bytes as f64 / 1e6 / secs));
        }
        if let Some((_, overall)) = &self.progress.bars {
            overall.inc(rows);
        }
    }
}

impl Drop for TableProgress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let mut running = self.progress.running.lock().expect("progress lock");
        running.retain(|c| !Arc::ptr_eq(c, &self.counters));
    }
}

/// `s` cut to `n` characters, ending in `…` when cut.
fn shorten_end(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let head: String = s.chars().take(n - 1).collect();
    format!("{head}…")
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let tail: String = s
        .chars()
        .rev()
        .take(n - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}
