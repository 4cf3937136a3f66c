//! Post-data (indexes, keys, foreign keys, triggers), the row counts and
//! `ANALYZE`, scheduled as the tables arrive instead of after the last one.
//!
//! Every pg_dump post-data entry becomes a task with a readiness condition
//! and the table locks PostgreSQL will take for it:
//! - a table's indexes and keys start as soon as its copy is committed,
//!   while other tables still copy;
//! - a foreign key starts once both of its tables have their indexes and
//!   keys (the parent's key must exist, and neither table is written again);
//! - `ANALYZE t` once `t` has its indexes (expression indexes get their
//!   statistics); the row counts once every copy is done (a later copy
//!   could still change a table counted earlier), in one step on one
//!   connection, so a mismatch names the first table in name order;
//! - anything else (triggers, rules, index attachments, objects on tables
//!   the copy does not name) waits for all of the above, alone, in
//!   pg_dump's order, as before.
//!
//! Workers never start two tasks whose locks conflict (e.g. `ADD PRIMARY
//! KEY` takes ACCESS EXCLUSIVE, `CREATE INDEX` SHARE): a worker blocked on a
//! lock would hold a connection and a core for nothing.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use tokio::sync::Notify;
use tokio_postgres::Client;

use crate::catalog::{QualifiedName, TableKind};
use crate::error::PgResultExt;
use crate::pgdump::{self, entries, Entry, PostData, PREAMBLE};
use crate::plan::TablePlan;
use crate::progress::PostDataProgress;
use crate::target::{check_row_counts, LoadedTable};

/// Table lock modes the tasks take, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    /// `SELECT count(*)`.
    AccessShare,
    /// `ANALYZE`.
    ShareUpdateExclusive,
    /// `CREATE INDEX`.
    Share,
    /// `ADD FOREIGN KEY`, on both tables.
    ShareRowExclusive,
    /// `ADD PRIMARY KEY / UNIQUE / CHECK / EXCLUDE`.
    AccessExclusive,
}

impl Lock {
    /// PostgreSQL's conflict table, for the modes above.
    fn conflicts(self, other: Lock) -> bool {
        use Lock::*;
        match (self, other) {
            (AccessExclusive, _) | (_, AccessExclusive) => true,
            (AccessShare, _) | (_, AccessShare) => false,
            (Share, Share) => false,
            _ => true,
        }
    }
}

/// When a task may start.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ready {
    /// Once this table's copy is committed.
    Copied(usize),
    /// Once this table is copied and its index builds are done (a key
    /// made from its finished index).
    Indexed(usize),
    /// Once these tables are copied and have all their indexes and keys.
    Complete(Vec<usize>),
    /// Once every table is copied.
    AllCopied,
    /// Once every index and key exists (index attachments).
    AllIndexes,
    /// Once every index, key and attachment exists (foreign keys whose
    /// tables the copy does not name, or partitioned ones).
    AllKeys,
    /// Once every other structure task is done (triggers, rules, …).
    AllStructure,
}

/// What a task counts towards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// An index or a key (non-FK constraint).
    Index,
    Attach,
    ForeignKey,
    /// Everything else in post-data.
    Rest,
    Count,
    Analyze,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Waiting,
    Running,
    Done,
}

/// What a task runs.
#[derive(Debug, Clone)]
enum Action {
    Sql(String),
    /// Count every loaded table and compare with the rows sent.
    CountAll,
}

#[derive(Debug, Clone)]
struct Task {
    /// Shown in the progress display and in errors: `index orders_pkey`.
    label: String,
    /// The error context: `building an index on the target`.
    context: String,
    action: Action,
    ready: Ready,
    stage: Stage,
    /// Locks taken; empty with `exclusive`.
    locks: Vec<(usize, Lock)>,
    /// Runs alone: its locks are not known.
    exclusive: bool,
    /// The table whose indexes and keys this task builds.
    builds: Option<usize>,
    status: Status,
}

impl Task {
    /// A `CREATE INDEX` (a key's index included): builds share their
    /// table, and a key made from its index waits for them.
    fn is_index_build(&self) -> bool {
        self.stage == Stage::Index && matches!(self.locks.as_slice(), [(_, Lock::Share)])
    }
}

/// A table the copy loads, as the scheduler knows it.
struct Known {
    name: QualifiedName,
    plan: Arc<TablePlan>,
    copied: bool,
    /// Index and key tasks of this table not yet done.
    indexes_left: usize,
    /// Of those, the `CREATE INDEX` builds (keys' indexes included).
    builds_left: usize,
    /// Rows sent to it, once copied.
    rows_sent: u64,
}

struct State {
    tables: Vec<Known>,
    tasks: Vec<Task>,
    all_copied: bool,
    /// First error of a task; the others stop taking new tasks.
    failed: bool,
    started: Option<Instant>,
    finished: Option<Instant>,
    /// Seconds spent in row counts, summed over the tasks.
    count_seconds: f64,
    /// Tasks not done yet, per stage (indexed by `Stage as usize`) and in
    /// all: kept as counts so that deciding whether a task is ready costs
    /// the same with ten thousand tables as with ten.
    left_per_stage: [usize; STAGES],
    left: usize,
    /// Where each table is in `tables`, by name.
    by_name: HashMap<QualifiedName, usize>,
    /// Per table, the waiting tasks whose readiness depends on it.
    watchers: Vec<Vec<usize>>,
    /// The tasks that wait for a step of the whole load (every copy, every
    /// index…), re-checked when such a step ends.
    global: Vec<usize>,
    /// Waiting tasks that are ready, in schedule order (the order of
    /// `tasks`), the exclusive ones apart. Readiness never goes back, so a
    /// task enters once, on the event that makes it ready, and `pick`
    /// never scans the tasks that still wait: with ten thousand tables a
    /// scan per pick cost seconds of CPU.
    ready: BTreeSet<usize>,
    ready_exclusive: BTreeSet<usize>,
    /// Tasks running now.
    running: Vec<usize>,
    /// Per table, the locks the running tasks hold on it.
    held: Vec<Vec<Lock>>,
}

/// The number of `Stage`s.
const STAGES: usize = 6;

/// Timing of the post-data phase, for the summary and the report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub started: Option<Instant>,
    pub finished: Option<Instant>,
    /// Seconds spent counting rows, summed over tables (they run in
    /// parallel with other work).
    pub count_seconds: f64,
}

/// The post-data schedule of one load.
pub struct Scheduler {
    state: Mutex<State>,
    notify: Notify,
    progress: PostDataProgress,
}

impl Scheduler {
    /// Builds the schedule for pg_dump's post-data `script`, for a load of
    /// `tables` (the ones the copy writes; skipped tables are not in it).
    pub fn new(script: &str, tables: &[Arc<TablePlan>], progress: PostDataProgress) -> Scheduler {
        let known: Vec<Known> = tables
            .iter()
            .map(|p| Known {
                name: p.table.name.clone(),
                plan: Arc::clone(p),
                copied: false,
                indexes_left: 0,
                builds_left: 0,
                rows_sent: 0,
            })
            .collect();
        let index_of: HashMap<(String, String), usize> = known
            .iter()
            .enumerate()
            .map(|(i, k)| ((k.name.schema.clone(), k.name.name.clone()), i))
            .collect();
        let mut tasks = Vec::new();
        let mut rest = String::new();
        for e in entries(script).iter().filter(|e| e.kind != PREAMBLE) {
            match classify(e, &index_of, &known) {
                Some(t) => tasks.extend(t),
                None => rest.push_str(&e.sql),
            }
        }
        if !rest.is_empty() {
            tasks.push(Task {
                label: "triggers, rules and other objects".into(),
                context:
                    "adding foreign keys, triggers and rules on the target (pg_dump post-data)"
                        .into(),
                action: Action::Sql(rest),
                ready: Ready::AllStructure,
                stage: Stage::Rest,
                locks: vec![],
                exclusive: true,
                builds: None,
                status: Status::Waiting,
            });
        }
        // One task for the row-count safety net: a failure names the first
        // table in name order, whatever the timing.
        if !known.is_empty() {
            tasks.push(Task {
                label: "row counts".into(),
                context: "counting the rows on the target".into(),
                action: Action::CountAll,
                ready: Ready::AllCopied,
                stage: Stage::Count,
                locks: (0..known.len()).map(|i| (i, Lock::AccessShare)).collect(),
                exclusive: false,
                builds: None,
                status: Status::Waiting,
            });
        }
        for group in analyze_groups(&known) {
            let names: Vec<String> = group.iter().map(|&i| known[i].name.sql()).collect();
            let (label, context) = match group.as_slice() {
                [i] => (
                    format!("analyze {}", known[*i].name),
                    format!("analyzing {} on the target", known[*i].name),
                ),
                [first, ..] => (
                    format!("analyze {} small tables", group.len()),
                    format!(
                        "analyzing {} and {} more small tables on the target",
                        known[*first].name,
                        group.len() - 1
                    ),
                ),
                [] => unreachable!("groups are never empty"),
            };
            tasks.push(Task {
                label,
                context,
                // One statement for many tables: the server still analyzes
                // each in a transaction of its own.
                action: Action::Sql(format!("ANALYZE {}", names.join(", "))),
                locks: group
                    .iter()
                    .map(|&i| (i, Lock::ShareUpdateExclusive))
                    .collect(),
                ready: Ready::Complete(group),
                stage: Stage::Analyze,
                exclusive: false,
                builds: None,
                status: Status::Waiting,
            });
        }
        let mut tables = known;
        for t in &tasks {
            if let Some(i) = t.builds {
                tables[i].indexes_left += 1;
                if t.is_index_build() {
                    tables[i].builds_left += 1;
                }
            }
        }
        // Keys before plain indexes (a key locks its table alone), big
        // tables first (the longest builds), then foreign keys, counts and
        // statistics; pg_dump's order otherwise.
        let weight = |t: &Task| -> (u8, std::cmp::Reverse<i64>) {
            let bytes = t
                .locks
                .first()
                .map(|(i, _)| tables[*i].plan.table.estimated_bytes)
                .unwrap_or(0);
            let rank = match (t.stage, t.locks.first().map(|l| l.1)) {
                (Stage::Index, Some(Lock::AccessExclusive)) => 0,
                (Stage::Index, _) => 1,
                (Stage::Attach, _) => 2,
                (Stage::ForeignKey, _) => 3,
                (Stage::Count, _) => 4,
                (Stage::Analyze, _) => 5,
                (Stage::Rest, _) => 6,
            };
            (rank, std::cmp::Reverse(bytes))
        };
        tasks.sort_by_key(|t| weight(t));
        let structure = tasks
            .iter()
            .filter(|t| matches!(t.stage, Stage::Index | Stage::Attach | Stage::ForeignKey))
            .count();
        progress.set_total(tasks.len() as u64, structure as u64);
        let mut left_per_stage = [0; STAGES];
        for t in &tasks {
            left_per_stage[t.stage as usize] += 1;
        }
        let left = tasks.len();
        let by_name = tables
            .iter()
            .enumerate()
            .map(|(i, k)| (k.name.clone(), i))
            .collect();
        let mut watchers = vec![Vec::new(); tables.len()];
        let mut global = Vec::new();
        for (i, task) in tasks.iter().enumerate() {
            match &task.ready {
                Ready::Copied(t) | Ready::Indexed(t) => watchers[*t].push(i),
                Ready::Complete(ts) => {
                    for &t in ts {
                        watchers[t].push(i);
                    }
                }
                _ => global.push(i),
            }
        }
        let held = vec![Vec::new(); tables.len()];
        let mut state = State {
            tables,
            tasks,
            all_copied: false,
            failed: false,
            started: None,
            finished: None,
            count_seconds: 0.0,
            left_per_stage,
            left,
            by_name,
            watchers,
            global,
            ready: BTreeSet::new(),
            ready_exclusive: BTreeSet::new(),
            running: Vec::new(),
            held,
        };
        let all: Vec<usize> = (0..state.tasks.len()).collect();
        state.refresh(&all);
        Scheduler {
            state: Mutex::new(state),
            notify: Notify::new(),
            progress,
        }
    }

    /// The copy of `table` is committed with `rows_sent` rows: its indexes
    /// and keys may start. (A table the schedule does not know is ignored.)
    pub fn table_copied(&self, table: &QualifiedName, rows_sent: u64) {
        let mut s = self.state.lock().expect("scheduler lock");
        if let Some(&i) = s.by_name.get(table) {
            s.tables[i].copied = true;
            s.tables[i].rows_sent = rows_sent;
            let watchers = s.watchers[i].clone();
            s.refresh(&watchers);
        }
        drop(s);
        self.notify.notify_waiters();
    }

    /// Every copy is committed: counts and the rest may start.
    pub fn all_copied(&self) {
        tracing::debug!("every table is copied; the post-data steps still to run follow");
        let mut s = self.state.lock().expect("scheduler lock");
        s.all_copied = true;
        let global = s.global.clone();
        s.refresh(&global);
        drop(s);
        self.notify.notify_waiters();
    }

    pub fn timing(&self) -> Timing {
        let s = self.state.lock().expect("scheduler lock");
        Timing {
            started: s.started,
            finished: s.finished,
            count_seconds: s.count_seconds,
        }
    }

    /// Runs the schedule on `clients`, one task per connection at a time,
    /// until every task is done (the copy must call `all_copied`). Only the
    /// first `while_copying` clients take tasks while the copy runs; the
    /// others join once it is done and its connections are idle (the last
    /// big table's index builds then run side by side).
    /// Each client first runs pg_dump's session settings (the preamble).
    pub async fn run(&self, clients: &[Client], while_copying: usize, script: &str) -> Result<()> {
        let preamble = entries(script)
            .into_iter()
            .find(|e| e.kind == PREAMBLE)
            .map(|e| e.sql)
            .unwrap_or_default();
        let workers = clients.iter().enumerate().map(|(n, client)| {
            let preamble = preamble.as_str();
            let after_copy = n >= while_copying.max(1);
            async move {
                client
                    .batch_execute(preamble)
                    .await
                    .pg_context(|| "preparing a post-data session".into())?;
                let r = self.worker(client, after_copy).await;
                if r.is_err() {
                    self.state.lock().expect("scheduler lock").failed = true;
                    self.notify.notify_waiters();
                }
                r
            }
        });
        futures_util::future::try_join_all(workers).await?;
        self.progress.finish();
        Ok(())
    }

    async fn worker(&self, client: &Client, after_copy: bool) -> Result<()> {
        loop {
            // Registered before the state is read, so a wake-up between the
            // read and the wait is not lost.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let batch = match self.take(after_copy) {
                Take::Finished => return Ok(()),
                Take::Wait => {
                    notified.await;
                    continue;
                }
                Take::Run(batch) => batch,
            };
            if batch.len() > 1 {
                self.run_batch(client, &batch).await?;
                continue;
            }
            let (i, task) = batch.into_iter().next().expect("a batch is never empty");
            self.progress.start(&task.label);
            let began = Instant::now();
            match &task.action {
                Action::Sql(sql) => {
                    // The server's error names no index when a function
                    // in it fails, so the task says which it was.
                    let context = format!("{} ({})", task.context, task.label);
                    client.batch_execute(sql).await.pg_context(|| context)?;
                }
                Action::CountAll => {
                    let mut sent: Vec<(Arc<TablePlan>, u64)> = {
                        let s = self.state.lock().expect("scheduler lock");
                        s.tables
                            .iter()
                            .map(|k| (Arc::clone(&k.plan), k.rows_sent))
                            .collect()
                    };
                    sent.sort_by_key(|(p, _)| p.table.name.to_string());
                    let loaded: Vec<LoadedTable> = sent
                        .iter()
                        .map(|(plan, rows_sent)| LoadedTable {
                            plan,
                            rows_sent: *rows_sent,
                        })
                        .collect();
                    check_row_counts(std::slice::from_ref(client), &loaded).await?;
                }
            }
            let seconds = began.elapsed().as_secs_f64();
            // Names and times only: which step a slow tail waits for.
            tracing::debug!(step = %task.label, seconds = %format!("{seconds:.2}"), "post-data step done");
            self.progress.done(
                &task.label,
                matches!(task.stage, Stage::Index | Stage::Attach | Stage::ForeignKey),
            );
            self.complete(i, seconds);
            self.notify.notify_waiters();
        }
    }

    /// Runs several small tasks as one multi-statement transaction, then
    /// completes each. If it fails, the transaction is rolled back as a
    /// whole, and the tasks run again one by one, so the statement at
    /// fault fails alone and its error names it, as without batching.
    async fn run_batch(&self, client: &Client, batch: &[(usize, Task)]) -> Result<()> {
        let mut sql = String::new();
        for (_, task) in batch {
            self.progress.start(&task.label);
            let Action::Sql(text) = &task.action else {
                unreachable!("only SQL tasks are batched")
            };
            sql.push_str(text);
            sql.push('\n');
        }
        if client.batch_execute(&sql).await.is_err() {
            for (_, task) in batch {
                let Action::Sql(text) = &task.action else {
                    unreachable!("only SQL tasks are batched")
                };
                // As for a task run alone.
                let context = format!("{} ({})", task.context, task.label);
                client.batch_execute(text).await.pg_context(|| context)?;
            }
        }
        for (i, task) in batch {
            self.progress.done(&task.label, true);
            self.complete(*i, 0.0);
        }
        self.notify.notify_waiters();
        Ok(())
    }

    /// Marks the next runnable task as running and returns it, with more
    /// small ones to run in the same transaction when it is small itself.
    fn take(&self, after_copy: bool) -> Take {
        let mut s = self.state.lock().expect("scheduler lock");
        if s.failed || s.left == 0 {
            return Take::Finished;
        }
        if after_copy && !s.all_copied {
            return Take::Wait;
        }
        // A test's way to have every table's tasks ready at once, so that
        // small tables' tasks surely share transactions.
        if !s.all_copied && crate::failpoint::hit("post_data.after_all_copies") {
            return Take::Wait;
        }
        let Some(first) = pick(&s) else {
            return Take::Wait;
        };
        s.start(first);
        let mut batch = vec![first];
        if s.batchable(first) {
            // One pass over the ready tasks; `held` grows with each one
            // taken, so the batch never holds two conflicting locks.
            let mut more = Vec::new();
            for &i in &s.ready {
                if batch.len() + more.len() == BATCH {
                    break;
                }
                let clear = s.tasks[i].locks.iter().all(|(table, mode)| {
                    more.iter()
                        .flat_map(|&m: &usize| &s.tasks[m].locks)
                        .all(|(t2, m2)| t2 != table || !mode.conflicts(*m2))
                });
                if clear && s.batchable(i) && s.lock_free(i) {
                    more.push(i);
                }
            }
            for i in more {
                s.start(i);
                batch.push(i);
            }
        }
        s.started.get_or_insert_with(Instant::now);
        Take::Run(batch.into_iter().map(|i| (i, s.tasks[i].clone())).collect())
    }

    /// Task `i` is done after `seconds`.
    fn complete(&self, i: usize, seconds: f64) {
        let mut s = self.state.lock().expect("scheduler lock");
        s.tasks[i].status = Status::Done;
        s.running.retain(|&r| r != i);
        for (table, lock) in s.tasks[i].locks.clone() {
            let held = &mut s.held[table];
            if let Some(at) = held.iter().position(|&l| l == lock) {
                held.swap_remove(at);
            }
        }
        s.left -= 1;
        let stage = s.tasks[i].stage as usize;
        s.left_per_stage[stage] -= 1;
        if let Some(t) = s.tasks[i].builds {
            s.tables[t].indexes_left -= 1;
            let built = s.tasks[i].is_index_build() && {
                s.tables[t].builds_left -= 1;
                s.tables[t].builds_left == 0
            };
            if s.tables[t].indexes_left == 0 || built {
                let watchers = s.watchers[t].clone();
                s.refresh(&watchers);
            }
        }
        if s.left_per_stage[stage] == 0 {
            let global = s.global.clone();
            s.refresh(&global);
        }
        if s.tasks[i].stage == Stage::Count {
            s.count_seconds += seconds;
        }
        if s.left == 0 {
            s.finished = Some(Instant::now());
        }
    }
}

/// Tables below this size are analyzed `ANALYZE_GROUP` to a statement: for
/// ten thousand tenant tables of a few rows, a round trip and a task each
/// cost more than the statistics themselves.
const ANALYZE_SMALL_BYTES: i64 = 1 << 20;
const ANALYZE_GROUP: usize = 100;

/// At most this many indexes, keys and foreign keys of small tables (below
/// `ANALYZE_SMALL_BYTES`) run as one transaction: ten thousand tenant
/// tables spent a fifth of their post-data time in per-statement commits
/// and round trips.
const BATCH: usize = 50;

/// Keys of tables from this size on are built as their index, beside the
/// table's other indexes, and then made keys (`pgdump::key_by_index`);
/// below it the build is short and a second statement per key would only
/// add round trips (ten thousand tenant tables).
const KEY_AS_INDEX_BYTES: i64 = 16 << 20;

/// The `ANALYZE` statements of a load, as groups of table indexes: each
/// table of at least `ANALYZE_SMALL_BYTES` alone (it gets its statistics as
/// soon as its indexes are built), the small ones `ANALYZE_GROUP` at a time.
fn analyze_groups(known: &[Known]) -> Vec<Vec<usize>> {
    let (small, large): (Vec<usize>, Vec<usize>) =
        (0..known.len()).partition(|&i| known[i].plan.table.estimated_bytes < ANALYZE_SMALL_BYTES);
    large
        .into_iter()
        .map(|i| vec![i])
        .chain(small.chunks(ANALYZE_GROUP).map(<[usize]>::to_vec))
        .collect()
}

/// What a free worker does next.
enum Take {
    /// Tasks to run in one transaction, by index (one, unless small).
    Run(Vec<(usize, Task)>),
    /// Nothing may start now; wait for a copy or a task to end.
    Wait,
    /// Every task is done (or one failed).
    Finished,
}

/// The next task a free worker may start: ready, and no lock conflict with
/// the running ones. A ready task that must run alone holds back the others.
fn pick(s: &State) -> Option<usize> {
    if s.running.iter().any(|&r| s.tasks[r].exclusive) {
        return None;
    }
    if let Some(&i) = s.ready_exclusive.first() {
        return s.running.is_empty().then_some(i);
    }
    s.ready.iter().copied().find(|&i| s.lock_free(i))
}

impl State {
    /// No lock task `i` takes conflicts with a running task's.
    fn lock_free(&self, i: usize) -> bool {
        self.tasks[i]
            .locks
            .iter()
            .all(|(table, mode)| self.held[*table].iter().all(|m2| !mode.conflicts(*m2)))
    }

    /// Task `i` may share a transaction with others: an index, key or
    /// foreign key (SQL that runs anywhere in a transaction) on tables
    /// that are all small.
    fn batchable(&self, i: usize) -> bool {
        let t = &self.tasks[i];
        matches!(t.stage, Stage::Index | Stage::ForeignKey)
            && !t.exclusive
            && matches!(t.action, Action::Sql(_))
            && !t.locks.is_empty()
            && t.locks.iter().all(|&(table, _)| {
                self.tables[table].plan.table.estimated_bytes < ANALYZE_SMALL_BYTES
            })
    }

    /// Marks task `i` as running and takes its locks.
    fn start(&mut self, i: usize) {
        self.tasks[i].status = Status::Running;
        self.ready.remove(&i);
        self.ready_exclusive.remove(&i);
        self.running.push(i);
        for (table, lock) in self.tasks[i].locks.clone() {
            self.held[table].push(lock);
        }
    }

    /// Moves the waiting tasks among `candidates` that are now ready into
    /// the ready sets.
    fn refresh(&mut self, candidates: &[usize]) {
        for &i in candidates {
            let t = &self.tasks[i];
            if t.status == Status::Waiting && is_ready(self, t) {
                if t.exclusive {
                    self.ready_exclusive.insert(i);
                } else {
                    self.ready.insert(i);
                }
            }
        }
    }
}

fn is_ready(s: &State, t: &Task) -> bool {
    let left = |stage: Stage| s.left_per_stage[stage as usize] > 0;
    match &t.ready {
        Ready::Copied(i) => s.tables[*i].copied,
        Ready::Indexed(i) => s.tables[*i].copied && s.tables[*i].builds_left == 0,
        Ready::Complete(ts) => ts
            .iter()
            .all(|&i| s.tables[i].copied && s.tables[i].indexes_left == 0),
        Ready::AllCopied => s.all_copied,
        Ready::AllIndexes => s.all_copied && !left(Stage::Index),
        Ready::AllKeys => s.all_copied && !left(Stage::Index) && !left(Stage::Attach),
        Ready::AllStructure => {
            s.all_copied && !left(Stage::Index) && !left(Stage::Attach) && !left(Stage::ForeignKey)
        }
    }
}

/// Turns one pg_dump entry into its tasks (two for a key built from its
/// index), or `None` for what runs with the rest at the end.
fn classify(
    e: &Entry,
    index_of: &HashMap<(String, String), usize>,
    known: &[Known],
) -> Option<Vec<Task>> {
    let lookup = |n: &(String, String)| index_of.get(n).copied();
    // Partitioned tables: their keys become valid only once the partitions'
    // indexes are attached, so what depends on them waits for everything.
    let plain = |i: usize| known[i].plan.table.kind == TableKind::Ordinary;
    let base = |label: String, context: &str, stage: Stage| Task {
        label,
        context: context.to_string(),
        action: Action::Sql(e.sql.clone()),
        ready: Ready::AllStructure,
        stage,
        locks: vec![],
        exclusive: true,
        builds: None,
        status: Status::Waiting,
    };
    // Both build on one table once it is copied; index builds share
    // their table, a constraint takes it alone.
    let on_one_table =
        |table: (String, String), label: String, context: &str, lock: Lock| match lookup(&table) {
            Some(i) => Task {
                ready: Ready::Copied(i),
                locks: vec![(i, lock)],
                exclusive: false,
                builds: Some(i),
                ..base(label, context, Stage::Index)
            },
            None => Task {
                ready: Ready::AllCopied,
                ..base(label, context, Stage::Index)
            },
        };
    match pgdump::classify(e) {
        PostData::Index { name, table } => Some(vec![on_one_table(
            table,
            format!("index {name}"),
            "building an index on the target",
            Lock::Share,
        )]),
        PostData::Constraint { name, table } => {
            let label = format!("constraint {name}");
            let context = "building a constraint on the target";
            match (lookup(&table), pgdump::key_by_index(&e.sql)) {
                (Some(i), Some(key))
                    if plain(i) && known[i].plan.table.estimated_bytes >= KEY_AS_INDEX_BYTES =>
                {
                    // The key's index builds beside the table's other
                    // indexes; the constraint takes it once they are done.
                    let build = Task {
                        action: Action::Sql(key.create_index),
                        ..on_one_table(table, label.clone(), context, Lock::Share)
                    };
                    let attach = Task {
                        label: format!("{label} from its index"),
                        action: Action::Sql(key.add_constraint),
                        ready: Ready::Indexed(i),
                        locks: vec![(i, Lock::AccessExclusive)],
                        ..build.clone()
                    };
                    Some(vec![build, attach])
                }
                _ => Some(vec![on_one_table(
                    table,
                    label,
                    context,
                    Lock::AccessExclusive,
                )]),
            }
        }
        PostData::IndexAttach => Some(vec![Task {
            ready: Ready::AllIndexes,
            ..base(
                "index attachments".into(),
                "attaching a partition's index on the target",
                Stage::Attach,
            )
        }]),
        PostData::ForeignKey { name, table } => {
            let label = format!("foreign key {name}");
            let context = "adding a foreign key on the target";
            let child = lookup(&table);
            let parent = child.and_then(|c| {
                known[c]
                    .plan
                    .table
                    .foreign_keys
                    .iter()
                    .find(|fk| fk.name == name && !fk.virtual_key)
                    .and_then(|fk| lookup(&(fk.parent.schema.clone(), fk.parent.name.clone())))
            });
            Some(vec![match (child, parent) {
                (Some(c), Some(p)) if plain(c) && plain(p) => {
                    let mut locks = vec![(c, Lock::ShareRowExclusive)];
                    if p != c {
                        locks.push((p, Lock::ShareRowExclusive));
                    }
                    Task {
                        ready: Ready::Complete(vec![c, p]),
                        locks,
                        exclusive: false,
                        ..base(label, context, Stage::ForeignKey)
                    }
                }
                _ => Task {
                    ready: Ready::AllKeys,
                    ..base(label, context, Stage::ForeignKey)
                },
            }])
        }
        PostData::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, bytes: i64, fks: Vec<crate::catalog::ForeignKey>) -> Arc<TablePlan> {
        Arc::new(TablePlan::for_tests(crate::catalog::Table {
            oid: 1,
            name: QualifiedName::new("public", name),
            kind: TableKind::Ordinary,
            columns: vec![],
            unique_keys: vec![],
            foreign_keys: fks,
            estimated_rows: 10,
            estimated_bytes: bytes,
            unique_indexes: vec![],
            exclusions: Vec::new(),
            rows_from: Default::default(),
            row_security: crate::catalog::RowSecurity::Off,
        }))
    }

    /// Starts the next task, returning its label (or `wait` / `finished`).
    fn next(s: &Scheduler) -> String {
        match s.take(false) {
            Take::Run(batch) => batch
                .into_iter()
                .map(|(_, t)| t.label)
                .collect::<Vec<_>>()
                .join(" + "),
            Take::Wait => "wait".into(),
            Take::Finished => "finished".into(),
        }
    }

    fn done(s: &Scheduler, label: &str) {
        let i = {
            let st = s.state.lock().unwrap();
            st.tasks
                .iter()
                .position(|t| t.label == label && t.status == Status::Running)
                .unwrap_or_else(|| panic!("{label} is not running"))
        };
        s.complete(i, 0.0);
    }

    #[test]
    fn tasks_start_as_their_tables_arrive_and_never_share_a_conflicting_lock() {
        let script = "SET x = 1;\n\n--\n-- Name: parent parent_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\n\
ALTER TABLE ONLY public.parent\n    ADD CONSTRAINT parent_pkey PRIMARY KEY (id);\n\n\
--\n-- Name: child_p_idx; Type: INDEX; Schema: public; Owner: -\n--\n\n\
CREATE INDEX child_p_idx ON public.child USING btree (p);\n\n\
--\n-- Name: child child_parent_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -\n--\n\n\
ALTER TABLE ONLY public.child\n    ADD CONSTRAINT child_parent_fkey FOREIGN KEY (p) REFERENCES public.parent(id);\n\n\
--\n-- Name: child trg; Type: TRIGGER; Schema: public; Owner: -\n--\n\n\
CREATE TRIGGER trg AFTER INSERT ON public.child FOR EACH ROW EXECUTE FUNCTION public.f();\n";
        let fk = crate::catalog::ForeignKey {
            name: "child_parent_fkey".into(),
            columns: vec!["p".into()],
            parent: QualifiedName::new("public", "parent"),
            parent_columns: vec!["id".into()],
            deferrable: false,
            virtual_key: false,
            validated: true,
        };
        // Tables of 1 MiB and more: each has its own ANALYZE.
        let tables = [
            table("parent", 1000 << 20, vec![]),
            table("child", 10 << 20, vec![fk]),
        ];
        let s = Scheduler::new(
            script,
            &tables,
            crate::progress::Progress::hidden().post_data(),
        );
        assert_eq!(next(&s), "wait", "nothing before a table is copied");

        s.table_copied(&QualifiedName::new("public", "child"), 5);
        assert_eq!(next(&s), "index child_p_idx");
        assert_eq!(next(&s), "wait", "the key of the parent waits for its copy");
        done(&s, "index child_p_idx");
        assert_eq!(next(&s), "analyze public.child");

        s.table_copied(&QualifiedName::new("public", "parent"), 7);
        assert_eq!(next(&s), "constraint parent_pkey", "the key's index");
        assert_eq!(
            next(&s),
            "wait",
            "the foreign key waits for the parent's key"
        );
        done(&s, "constraint parent_pkey");
        assert_eq!(next(&s), "constraint parent_pkey from its index");
        assert_eq!(next(&s), "wait", "the key is not made yet");
        done(&s, "constraint parent_pkey from its index");
        done(&s, "analyze public.child");
        assert_eq!(next(&s), "foreign key child_parent_fkey");
        // ANALYZE parent is ready, but its lock conflicts with the foreign
        // key's; the counts wait for every copy.
        assert_eq!(next(&s), "wait");

        s.all_copied();
        assert_eq!(next(&s), "row counts");
        done(&s, "foreign key child_parent_fkey");
        // The rest runs alone: it waits for the counts to end, and holds
        // back the ANALYZE that is ready.
        assert_eq!(next(&s), "wait");
        done(&s, "row counts");
        assert_eq!(next(&s), "triggers, rules and other objects");
        assert_eq!(next(&s), "wait");
        done(&s, "triggers, rules and other objects");
        assert_eq!(next(&s), "analyze public.parent");
        done(&s, "analyze public.parent");
        assert_eq!(next(&s), "finished");
    }

    /// A key's index builds beside the table's other indexes (SHARE locks
    /// do not conflict), the key is made from it once every build of the
    /// table is done, and the connections kept for after the copy take
    /// nothing until then.
    #[test]
    fn keys_build_as_indexes_beside_the_others_and_late_workers_wait_for_the_copy() {
        let script = "SET x = 1;\n\n--\n-- Name: t t_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\n\
ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n\n\
--\n-- Name: t t_check; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\n\
ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_email_key UNIQUE (email) DEFERRABLE;\n\n\
--\n-- Name: t_a_idx; Type: INDEX; Schema: public; Owner: -\n--\n\n\
CREATE INDEX t_a_idx ON public.t USING btree (a);\n";
        let tables = [table("t", 1000 << 20, vec![]), table("u", 10 << 20, vec![])];
        let s = Scheduler::new(
            script,
            &tables,
            crate::progress::Progress::hidden().post_data(),
        );
        s.table_copied(&QualifiedName::new("public", "t"), 5);
        assert!(
            matches!(s.take(true), Take::Wait),
            "a connection kept for after the copy waits while it runs"
        );
        // The deferrable key cannot be made from an index: built whole,
        // alone, first.
        assert_eq!(next(&s), "constraint t_email_key");
        assert_eq!(next(&s), "wait");
        done(&s, "constraint t_email_key");
        assert_eq!(next(&s), "constraint t_pkey");
        assert_eq!(next(&s), "index t_a_idx", "builds side by side");
        done(&s, "constraint t_pkey");
        assert_eq!(
            next(&s),
            "wait",
            "the key waits for every build of its table"
        );
        done(&s, "index t_a_idx");
        assert_eq!(next(&s), "constraint t_pkey from its index");
        {
            let st = s.state.lock().unwrap();
            let sql =
                |label: &str| match &st.tasks.iter().find(|t| t.label == label).unwrap().action {
                    Action::Sql(sql) => sql.clone(),
                    Action::CountAll => unreachable!(),
                };
            assert_eq!(
                sql("constraint t_pkey"),
                "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id);\n"
            );
            assert_eq!(
                sql("constraint t_pkey from its index"),
                "ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey;\n"
            );
        }
        done(&s, "constraint t_pkey from its index");
        s.table_copied(&QualifiedName::new("public", "u"), 5);
        s.all_copied();
        assert!(
            matches!(s.take(true), Take::Run(_)),
            "once the copy is done, every connection takes tasks"
        );
    }

    #[test]
    fn small_tables_are_analyzed_together_once_all_of_them_are_complete() {
        let script = "--\n-- Name: a_idx; Type: INDEX; Schema: public; Owner: -\n--\n\n\
CREATE INDEX a_idx ON public.a USING btree (x);\n";
        let tables = [
            table("a", 8192, vec![]),
            table("b", 8192, vec![]),
            table("big", 2 << 20, vec![]),
        ];
        let s = Scheduler::new(
            script,
            &tables,
            crate::progress::Progress::hidden().post_data(),
        );
        {
            let st = s.state.lock().unwrap();
            let analyze: Vec<String> = st
                .tasks
                .iter()
                .filter(|t| t.stage == Stage::Analyze)
                .map(|t| match &t.action {
                    Action::Sql(sql) => sql.clone(),
                    Action::CountAll => unreachable!(),
                })
                .collect();
            assert_eq!(
                analyze,
                [
                    r#"ANALYZE "public"."big""#,
                    r#"ANALYZE "public"."a", "public"."b""#
                ]
            );
        }
        s.table_copied(&QualifiedName::new("public", "b"), 1);
        s.table_copied(&QualifiedName::new("public", "a"), 1);
        assert_eq!(next(&s), "index a_idx");
        assert_eq!(next(&s), "wait", "the group waits for a's index");
        done(&s, "index a_idx");
        assert_eq!(next(&s), "analyze 2 small tables");
    }

    /// A load of many tenant tables, simulated with two workers: every
    /// task runs once, none runs before its readiness event, and two
    /// running tasks never hold conflicting locks. (The ready sets are fed
    /// by events; a missed event would leave a task waiting forever.)
    #[test]
    fn every_task_of_a_thousand_tables_runs_once_when_its_tables_allow() {
        const N: usize = 1000;
        let mut script = String::from("SET x = 1;\n");
        let mut tables = Vec::new();
        for i in 0..N {
            let fk = crate::catalog::ForeignKey {
                name: format!("t{i}_p_fkey"),
                columns: vec!["p".into()],
                parent: QualifiedName::new("public", format!("t{i}")),
                parent_columns: vec!["id".into()],
                deferrable: false,
                virtual_key: false,
                validated: true,
            };
            tables.push(table(&format!("t{i}"), 8192, vec![fk]));
            script.push_str(&format!(
                "--\n-- Name: t{i} t{i}_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\n\
                 ALTER TABLE ONLY public.t{i}\n    ADD CONSTRAINT t{i}_pkey PRIMARY KEY (id);\n\n\
                 --\n-- Name: t{i}_n_idx; Type: INDEX; Schema: public; Owner: -\n--\n\n\
                 CREATE INDEX t{i}_n_idx ON public.t{i} USING btree (n);\n\n\
                 --\n-- Name: t{i} t{i}_p_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -\n--\n\n\
                 ALTER TABLE ONLY public.t{i}\n    ADD CONSTRAINT t{i}_p_fkey FOREIGN KEY (p) REFERENCES public.t{i}(id);\n\n"
            ));
        }
        let s = Scheduler::new(
            &script,
            &tables,
            crate::progress::Progress::hidden().post_data(),
        );
        // Keys, indexes and foreign keys of N tables, N/100 ANALYZE groups
        // and the row counts.
        let total = 3 * N + N / ANALYZE_GROUP + 1;
        assert_eq!(s.state.lock().unwrap().tasks.len(), total);
        assert_eq!(next(&s), "wait", "nothing before a table is copied");

        // The batches running, each one transaction on one connection.
        let mut running: Vec<Vec<usize>> = Vec::new();
        let mut batched = 0;
        let mut ran = 0;
        let mut copied = 0;
        loop {
            // Two workers: fill the free one, else finish the oldest task,
            // else copy the next table.
            if running.len() < 2 {
                match s.take(false) {
                    Take::Run(batch) => {
                        let st = s.state.lock().unwrap();
                        assert!(batch.len() <= BATCH);
                        if batch.len() > 1 {
                            batched += 1;
                        }
                        for (n, (_, task)) in batch.iter().enumerate() {
                            assert!(
                                is_ready(&st, task),
                                "{} ran before it was ready",
                                task.label
                            );
                            // Against the other running batches, and the
                            // tasks before it in its own.
                            let others = running
                                .iter()
                                .flatten()
                                .copied()
                                .chain(batch[..n].iter().map(|(r, _)| *r));
                            for r in others {
                                for (table, mode) in &st.tasks[r].locks {
                                    assert!(
                                        task.locks
                                            .iter()
                                            .all(|(t2, m2)| t2 != table || !mode.conflicts(*m2)),
                                        "{} and {} conflict",
                                        task.label,
                                        st.tasks[r].label
                                    );
                                }
                            }
                        }
                        drop(st);
                        running.push(batch.into_iter().map(|(i, _)| i).collect());
                        continue;
                    }
                    Take::Finished => break,
                    Take::Wait => {}
                }
            }
            if !running.is_empty() {
                for i in running.remove(0) {
                    s.complete(i, 0.0);
                    ran += 1;
                }
            } else if copied < N {
                // A few copies end at once, as with several copy workers.
                for _ in 0..7.min(N - copied) {
                    s.table_copied(&QualifiedName::new("public", format!("t{copied}")), 50);
                    copied += 1;
                }
                if copied == N {
                    s.all_copied();
                }
            } else {
                panic!(
                    "tasks left waiting with nothing running: {} of {total} ran",
                    ran
                );
            }
        }
        assert_eq!(ran, total);
        assert!(batched > 0, "small tables' tasks share transactions");
        assert!(s
            .state
            .lock()
            .unwrap()
            .tasks
            .iter()
            .all(|t| t.status == Status::Done));
    }

    #[test]
    fn lock_conflicts_follow_postgres() {
        assert!(!Lock::Share.conflicts(Lock::Share));
        assert!(Lock::Share.conflicts(Lock::ShareUpdateExclusive));
        assert!(Lock::ShareRowExclusive.conflicts(Lock::ShareRowExclusive));
        assert!(!Lock::AccessShare.conflicts(Lock::ShareRowExclusive));
        assert!(Lock::AccessShare.conflicts(Lock::AccessExclusive));
    }
}
