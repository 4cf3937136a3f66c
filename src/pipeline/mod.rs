//! Moving one table's rows: source COPY stream → batches of whole rows →
//! transforms on the rayon pool → sink.
//!
//! PostgreSQL sends one row per CopyData message, so the reader gathers
//! messages into ~1 MiB batches before handing them to rayon (per-row tasks
//! would cost more than the work). Batches are transformed in parallel but
//! written in order, through a bounded channel: memory stays at about
//! `IN_FLIGHT` batches per table whatever the table's size.
//!
//! `copy_part` moves one part of one table into one sink; `driver` runs
//! the parts of a whole plan over `--jobs` workers.

pub mod driver;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use bytes::{Bytes, BytesMut};
use futures_util::{pin_mut, StreamExt};
use tokio::sync::{mpsc, oneshot, Semaphore, SemaphorePermit};
use tokio_postgres::Client;

use crate::conn::read_gate;
use crate::copy_text;
use crate::error::PgResultExt;
use crate::plan::{ColumnAction, TablePlan};
use crate::progress::TableProgress;
use crate::sink::TableSink;
use crate::source::Read;
use crate::transform::{self, RowView, Written};

/// Bytes of whole rows gathered before a batch is transformed.
pub const BATCH_BYTES: usize = 1 << 20;
/// Batches being transformed or waiting to be written, per table.
const IN_FLIGHT: usize = 4;
/// Bytes of batches read and not yet written, over every part being
/// copied at once (all `--jobs` workers). A batch takes its size from this
/// budget before it is transformed and gives it back once its sink wrote
/// it; a batch larger than the budget (one huge row) takes all of it, so it
/// waits for every other batch to be written and none joins it until it
/// is. A huge row (a batch's size or more) takes at least half of it, so
/// two are never in flight together. Rows of ordinary size never reach it: `--jobs 8` holds at most
/// about 8 × (`IN_FLIGHT` + 2) MiB.
const BYTES_IN_FLIGHT: usize = 64 << 20;
static IN_FLIGHT_BUDGET: Semaphore = Semaphore::const_new(BYTES_IN_FLIGHT);

/// A table whose rows take this many bytes on disk on average (TOAST
/// included) or more is wide: its rows may be huge.
const WIDE_ROW_BYTES: i64 = 256 << 10;
/// One part of a wide table is copied at a time, over all `--jobs`
/// workers. The budget and `read_gate` act once a huge row has been read
/// whole; before that, each source connection reads its own as fast as
/// the server sends it, so `--jobs` workers copying tables of huge rows
/// would hold as many of them at once.
static WIDE_TABLES: Semaphore = Semaphore::const_new(1);

/// Allocations of this size or more are mapped on their own, so freeing
/// one gives its memory back at once.
const MAPPED_FROM: usize = 4 << 20;

/// Sets glibc's mmap threshold to `MAPPED_FROM` for the whole process
/// (`main` calls it first, so every command's huge values, `filter`'s
/// included, are mapped on their own). By
/// default glibc raises the threshold to the size of each mapped block
/// freed (up to 32 MiB), after which a huge value's buffers come from a
/// thread's heap, where a freed one stays resident: fpe on rows of 40 MB
/// peaked 27 MB higher. Batches (about 1 MiB) stay below it and are
/// reused from the heap as before.
pub fn map_huge_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's parameters, and glibc
    // serialises it with allocations.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MAPPED_FROM as libc::c_int);
    }
}

/// Whether `table`'s rows average `WIDE_ROW_BYTES` or more, by the
/// planner's statistics (an unanalysed table is not known to be wide).
fn is_wide(table: &crate::catalog::Table) -> bool {
    table.estimated_rows > 0 && table.estimated_bytes / table.estimated_rows >= WIDE_ROW_BYTES
}

/// One batch between the reader and the writer.
struct InFlight {
    rows: u64,
    transformed: oneshot::Receiver<Result<Bytes, BatchError>>,
    /// The batch's share of `IN_FLIGHT_BUDGET`.
    budget: SemaphorePermit<'static>,
    /// For a huge row: source connections read no further until it is
    /// written (`conn::read_gate`).
    _huge: Option<read_gate::Hold>,
}

/// Where the reader sends its batches: transformed on the rayon pool (or
/// as they are, for a table whose columns are all kept), then to the writer.
struct Batches {
    plan: Arc<TablePlan>,
    passthrough: bool,
    tx: mpsc::Sender<InFlight>,
}

impl Batches {
    /// Takes the batch's bytes from the budget, starts its transform, and
    /// queues it for the writer; `false` when the writer stopped (it
    /// failed: its error is the one to report).
    async fn send(&self, batch: Bytes, rows: u64, huge: Option<read_gate::Hold>) -> bool {
        // A huge row takes more than half the budget, so two are never
        // transformed or written at once (by two workers): each comes
        // with an output of its size.
        let least = if huge.is_some() {
            BYTES_IN_FLIGHT / 2 + 1
        } else {
            1
        };
        let share = batch.len().clamp(least, BYTES_IN_FLIGHT) as u32;
        let Ok(budget) = IN_FLIGHT_BUDGET.acquire_many(share).await else {
            unreachable!("the budget is never closed");
        };
        let (otx, orx) = oneshot::channel();
        if self.passthrough {
            let _ = otx.send(Ok(batch));
        } else {
            let plan = Arc::clone(&self.plan);
            rayon::spawn(move || {
                let _ = otx.send(transform_batch_caught(&plan, &batch));
            });
        }
        self.tx
            .send(InFlight {
                rows,
                transformed: orx,
                budget,
                _huge: huge,
            })
            .await
            .is_ok()
    }
}

/// What one table's copy did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableStats {
    pub table: String,
    pub rows_read: u64,
    pub rows_written: u64,
    /// Bytes read from the source (COPY text).
    pub bytes: u64,
    pub seconds: f64,
    /// Rows in the source table: the planner's statistics, or counted
    /// (or estimated from its size) in the snapshot when the table was
    /// never analysed; -1 when neither could be read.
    pub source_rows_estimate: i64,
    /// Where `source_rows_estimate` comes from.
    pub source_rows_from: crate::catalog::RowsFrom,
    /// How the rows were chosen (`all rows`, `sample 10% by hash of (id)`,
    /// ...).
    pub selection: String,
    /// `rows_written / source_rows_estimate` when rows were selected and
    /// the estimate is known; `None` for a full copy.
    pub kept_fraction: Option<f64>,
}

/// A transform failed on a value. Names the column, never the value.
#[derive(Debug, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct BatchError {
    pub column: String,
    pub message: String,
}

/// Copies one part of a table through the rules into `sink`: what `read`
/// asks for (some of its pages, or all of it, maybe in a stable order),
/// read by `source` (a connection inside the run's snapshot), transformed
/// on the rayon pool, written in order, then `sink.finish()`ed. This is
/// the unit every driver runs (`driver::Driver`, and anything that copies
/// a part into a sink of its own); its statistics are the part's.
pub async fn copy_part<S: TableSink>(
    source: &Client,
    plan: Arc<TablePlan>,
    read: Read,
    mut sink: S,
    progress: &TableProgress,
) -> Result<TableStats> {
    let name = plan.table.name.to_string();
    let _wide = if is_wide(&plan.table) {
        tracing::debug!(table = %name, "wide rows: copied while no other wide table is");
        let Ok(permit) = WIDE_TABLES.acquire().await else {
            unreachable!("the wide-table semaphore is never closed");
        };
        Some(permit)
    } else {
        None
    };
    let started = Instant::now();
    let query = crate::source::copy_query(&plan, read);
    // The query holds rules text and derived seeds, never row values.
    tracing::debug!(table = %name, %query, "source query");
    let stream = source
        .copy_out(query.as_str())
        .await
        .pg_context(|| format!("reading table {name} from the source"))?;
    pin_mut!(stream);

    // Each batch travels with its row count, known when it was gathered,
    // and its share of the bytes in flight, given back once it is written.
    let (tx, mut rx) = mpsc::channel::<InFlight>(IN_FLIGHT);
    let batches_out = Batches {
        plan: Arc::clone(&plan),
        passthrough: plan.is_passthrough(),
        tx,
    };
    let mut bytes_read = 0u64;

    // The reader owns the sending side: the writer ends once the reader
    // is done and the channel is closed.
    let (stream, bytes_read_ref, name_ref) = (&mut stream, &mut bytes_read, &name);
    let reader = async move {
        let (name, bytes_read) = (name_ref, bytes_read_ref);
        let mut buf = BytesMut::new();
        // The server sends one row per CopyData message (a guarantee of the
        // protocol), so counting messages counts rows without a scan.
        let mut buf_rows = 0u64;
        while let Some(msg) = stream.next().await {
            let msg = msg.pg_context(|| format!("reading table {name} from the source"))?;
            *bytes_read += msg.len() as u64;
            if msg.len() >= BATCH_BYTES {
                // A row of a batch's size or more travels alone, as the
                // message it came in: not copied, and the rows gathered
                // before it do not wait for it. Until it is written, no
                // source connection reads ahead (not another huge row).
                let huge = read_gate::hold();
                if !buf.is_empty() {
                    let rows = std::mem::take(&mut buf_rows);
                    if !batches_out.send(buf.split().freeze(), rows, None).await {
                        return Ok(());
                    }
                }
                if !batches_out.send(msg, 1, Some(huge)).await {
                    return Ok(());
                }
                continue;
            }
            if buf.is_empty() {
                // A whole batch's room at once: grown row by row from the
                // little `split` leaves, the buffer was copied on every
                // doubling (1.5% of a sync's CPU in `reserve_inner`).
                buf.reserve(BATCH_BYTES + 64 * 1024);
            }
            buf.extend_from_slice(&msg);
            buf_rows += 1;
            if buf.len() >= BATCH_BYTES {
                let rows = std::mem::take(&mut buf_rows);
                if !batches_out.send(buf.split().freeze(), rows, None).await {
                    return Ok(());
                }
            }
        }
        if !buf.is_empty() {
            batches_out.send(buf.split().freeze(), buf_rows, None).await;
        }
        Ok::<(), anyhow::Error>(())
    };

    let mut rows = 0u64;
    let mut batches = 0u64;
    let writer = async {
        while let Some(InFlight {
            rows: n,
            transformed: pending,
            budget,
            _huge: huge,
        }) = rx.recv().await
        {
            let out = pending
                .await
                .map_err(|_| anyhow!("a transform worker stopped unexpectedly"))?
                .with_context(|| format!("transforming table {name}"))?;
            let len = out.len() as u64;
            // Tests prove the row-count safety net by losing a batch here.
            if !crate::failpoint::hit("copy.drop_batch") {
                sink.write(out).await?;
            }
            drop((budget, huge));
            rows += n;
            progress.advance(n, len);
            // Tests act on a run caught mid-copy of one table: its first
            // batch is in the target's open transaction and, for a table
            // larger than the buffers, the source COPY is still open.
            if batches == 0 {
                crate::failpoint::pause(&format!("copy.after_first_batch:{name}")).await;
            }
            batches += 1;
        }
        Ok::<(), anyhow::Error>(())
    };

    tokio::try_join!(reader, writer)?;
    let rows_written = sink.finish().await?;
    Ok(TableStats {
        table: name,
        rows_read: rows,
        rows_written,
        bytes: bytes_read,
        seconds: started.elapsed().as_secs_f64(),
        source_rows_estimate: plan.table.estimated_rows,
        source_rows_from: plan.table.rows_from,
        selection: plan.selection().text.clone(),
        kept_fraction: (plan.selection().estimated_kept.is_some() && plan.table.estimated_rows > 0)
            .then(|| rows_written as f64 / plan.table.estimated_rows as f64),
    })
}

/// Scratch space for one batch, reused row after row.
#[derive(Default)]
struct Scratch {
    spans: Vec<(usize, usize)>,
    /// Output values of the current row that other columns read
    /// (templates), unescaped.
    arena: Vec<u8>,
    /// Per column: not computed, NULL, or a range of `arena`.
    values: Vec<Option<Option<(usize, usize)>>>,
    decoded: Vec<u8>,
    /// The value being computed, unescaped.
    out: Vec<u8>,
}

/// `transform_batch`, with a panic turned into an error. A panic in a
/// rayon job would abort the process, skipping the cleanup that drops
/// `<target>__next`; as an error, the run ends like any failed run (exit 1,
/// target untouched). The panic hook has already logged where it happened,
/// without the payload, which could quote a value.
fn transform_batch_caught(plan: &TablePlan, input: &[u8]) -> Result<Bytes, BatchError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Tests prove the clean ending; the payload stands for a value.
        if crate::failpoint::hit("transform.panic") {
            panic!("failpoint payload PRIVATE-PAYLOAD");
        }
        transform_batch(plan, input)
    }))
    .unwrap_or_else(|_| {
        Err(BatchError {
            column: "*".into(),
            message: "a transform stopped on an internal error (a bug in anonymize; \
                      please report it with the rule, never the data)"
                .into(),
        })
    })
}

/// Transforms a batch of whole rows (COPY text) into a new batch. Each
/// row holds the plan's columns, then its `extra` fields (the branch
/// selectors of `when:` rules), which are read and never written.
///
/// A value is held whole as few times as can be: a kept field is copied
/// from the input to the output as the raw bytes it came in (never
/// decoded), and a computed one goes from the transform's buffer straight
/// into the output, escaped (a huge one is escaped in its buffer, which
/// becomes the output: `append_escaped`). Only the values a template reads are kept
/// aside (`Scratch::arena`), computed first, in `compute_order`.
pub fn transform_batch(plan: &TablePlan, input: &[u8]) -> Result<Bytes, BatchError> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 8);
    let mut s = Scratch::default();
    let ncols = plan.columns.len();
    let nfields = ncols + plan.extra.len();
    let mut commands = if plan.has_commands() {
        run_commands(plan, input, &mut s.spans)?
    } else {
        Commands::default()
    };
    for row in copy_text::rows(input) {
        copy_text::field_spans(row, &mut s.spans);
        if s.spans.len() != nfields && !(nfields == 0 && row.is_empty()) {
            return Err(BatchError {
                column: "*".into(),
                message: format!("a row has {} fields, expected {nfields}", s.spans.len()),
            });
        }
        let spans = std::mem::take(&mut s.spans);
        let extra = |k: usize| {
            let (a, b) = spans[ncols + k];
            &row[a..b]
        };
        let field = |i: usize| {
            let (a, b) = spans[i];
            &row[a..b]
        };
        s.arena.clear();
        s.values.clear();
        s.values.resize(ncols, None);
        // The values templates read, before the templates.
        for &i in &plan.compute_order {
            if !plan.columns[i].read_by_others {
                continue;
            }
            let (branch, action) = plan.columns[i].action.for_row(extra);
            let value = compute(plan, i, branch, action, field(i), &mut commands, &mut s)?;
            s.values[i] = Some(value.map(|()| {
                let a = s.arena.len();
                s.arena.extend_from_slice(&s.out);
                (a, s.arena.len())
            }));
        }
        for (i, column) in plan.columns.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            let (branch, action) = column.action.for_row(extra);
            match action {
                ColumnAction::Keep => out.extend_from_slice(field(i)),
                ColumnAction::Null => out.extend_from_slice(copy_text::NULL),
                _ if column.read_by_others => match s.values[i].flatten() {
                    None => out.extend_from_slice(copy_text::NULL),
                    Some((a, b)) => copy_text::escape_into(&s.arena[a..b], &mut out),
                },
                _ => match compute(plan, i, branch, action, field(i), &mut commands, &mut s)? {
                    None => out.extend_from_slice(copy_text::NULL),
                    Some(()) => append_escaped(&mut s.out, &mut out),
                },
            }
        }
        out.push(b'\n');
        s.spans = spans;
    }
    Ok(Bytes::from(out))
}

/// Appends a computed value (unescaped, in `value`) to the output `out`,
/// escaped. A value of a batch's size or more, longer than the output so
/// far, is not copied beside it: it is escaped where it is, the output so
/// far is moved in front of it, and its buffer becomes the output. So a
/// huge row's transformed value is held once, not twice (unescaped and
/// escaped), and `value` is left empty.
fn append_escaped(value: &mut Vec<u8>, out: &mut Vec<u8>) {
    if value.len() < BATCH_BYTES || value.len() < out.len() {
        copy_text::escape_into(value, out);
        return;
    }
    copy_text::escape_in_place(value);
    let (v, p) = (value.len(), out.len());
    value.resize(v + p, 0);
    value.copy_within(0..v, p);
    value[..p].copy_from_slice(out);
    *out = std::mem::take(value);
}

/// Computes column `i`'s value for one row into `s.out` (unescaped), by
/// `action`, the branch `branch` of its rule; `None` for NULL. The values
/// a template reads are in `s.arena` and `s.values`.
fn compute(
    plan: &TablePlan,
    i: usize,
    branch: usize,
    action: &ColumnAction,
    field: &[u8],
    commands: &mut Commands,
    s: &mut Scratch,
) -> Result<Option<()>, BatchError> {
    s.out.clear();
    Ok(match action {
        ColumnAction::Null => None,
        ColumnAction::Keep => {
            copy_text::decode(field, &mut s.decoded).map(|v| s.out.extend_from_slice(v))
        }
        ColumnAction::Command(_) if field == copy_text::NULL => None,
        ColumnAction::Command(_) => {
            let line = commands.next(i, branch);
            copy_text::decode(line, &mut s.decoded).map(|v| s.out.extend_from_slice(v))
        }
        ColumnAction::Transform(t) => {
            let input = copy_text::decode(field, &mut s.decoded);
            let view = RowView {
                arena: &s.arena,
                spans: &s.values,
            };
            let written =
                transform::apply(&**t, input, &view, &mut s.out).map_err(|e| BatchError {
                    column: plan.columns[i].name.clone(),
                    message: e.0,
                })?;
            match written {
                Written::Null => None,
                Written::Value => Some(()),
            }
        }
        ColumnAction::When { .. } => unreachable!("branches are never `when` lists"),
    })
}

/// Where a command's values come from: (column index, branch index).
type Asker = (usize, usize);

/// The answers of one command column's branch, in row order, and how many
/// rows have taken theirs.
struct Answers {
    asker: Asker,
    lines: Vec<Vec<u8>>,
    taken: usize,
}

/// The answers of the batch's external programs.
#[derive(Default)]
struct Commands {
    answers: Vec<Answers>,
}

impl Commands {
    /// The next answer of column `column`'s branch `branch`: one was asked
    /// for each of its non-NULL values, in row order.
    fn next(&mut self, column: usize, branch: usize) -> &[u8] {
        let a = self
            .answers
            .iter_mut()
            .find(|a| a.asker == (column, branch))
            .expect("every command value was sent");
        a.taken += 1;
        &a.lines[a.taken - 1]
    }
}

/// Sends each command column's non-NULL values of the batch (the rows
/// whose branch is a command, for a `when:` list) to its program, in one
/// exchange per column and branch, before the rows are put together.
fn run_commands(
    plan: &TablePlan,
    input: &[u8],
    spans: &mut Vec<(usize, usize)>,
) -> Result<Commands, BatchError> {
    let ncols = plan.columns.len();
    let mut asks: Vec<(Asker, Vec<&[u8]>)> = Vec::new();
    for row in copy_text::rows(input) {
        copy_text::field_spans(row, spans);
        if spans.len() != ncols + plan.extra.len() {
            return Err(BatchError {
                column: "*".into(),
                message: format!(
                    "a row has {} fields, expected {}",
                    spans.len(),
                    ncols + plan.extra.len()
                ),
            });
        }
        for (i, column) in plan.columns.iter().enumerate() {
            let (branch, action) = column.action.for_row(|k| {
                let (a, b) = spans[ncols + k];
                &row[a..b]
            });
            let (start, end) = spans[i];
            let field = &row[start..end];
            if !matches!(action, ColumnAction::Command(_)) || field == copy_text::NULL {
                continue;
            }
            match asks.iter_mut().find(|(k, _)| *k == (i, branch)) {
                Some((_, values)) => values.push(field),
                None => asks.push(((i, branch), vec![field])),
            }
        }
    }
    let mut answers = Vec::new();
    for ((i, branch), values) in asks {
        let ColumnAction::Command(runner) = &plan.columns[i].action.choices()[branch] else {
            unreachable!("asked of a command");
        };
        let lines = runner.run_batch(&values).map_err(|message| BatchError {
            column: plan.columns[i].name.clone(),
            message,
        })?;
        answers.push(Answers {
            asker: (i, branch),
            lines,
            taken: 0,
        });
    }
    Ok(Commands { answers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, Column, QualifiedName, RowSecurity, Table, TableKind, TypeKind};
    use crate::plan::Secret;

    /// The plan of table `t` with text columns `columns` under `rules`.
    fn plan(columns: &[&str], rules: &str) -> Arc<TablePlan> {
        let catalog = Catalog {
            tables: vec![Table {
                oid: 1,
                name: QualifiedName::new("public", "t"),
                kind: TableKind::Ordinary,
                columns: columns
                    .iter()
                    .map(|c| Column::new(c, "text", TypeKind::Text))
                    .collect(),
                unique_keys: vec![],
                unique_indexes: vec![],
                exclusions: vec![],
                foreign_keys: vec![],
                estimated_rows: 2,
                rows_from: Default::default(),
                estimated_bytes: 0,
                row_security: RowSecurity::Off,
            }],
            ..Catalog::default()
        };
        let yaml = format!("version: 1\ntables:\n  public.t:\n    columns: {rules}\n");
        let rules = crate::rules::load::load_str("t.yml", &yaml).expect("rules parse");
        let key = crate::key::Key::new(b"pipeline test secret");
        let plan = crate::plan::prepare(&rules, catalog, Secret::Key(&key))
            .unwrap_or_else(|e| panic!("{e:?}"));
        Arc::clone(&plan.tables()[0])
    }

    /// A computed value of a batch's size or more is escaped in its own
    /// buffer, which becomes the output, the fields before it moved in
    /// front: the same bytes as a small value's copy into the output,
    /// escapes and the fields around it included.
    #[test]
    fn a_huge_computed_value_comes_out_as_a_small_one_does() {
        let p = plan(
            &["id", "txt", "rest"],
            "{ id: keep, txt: { regex: { pattern: 'x', replace: 'yy' } }, rest: keep }",
        );
        // A tab, a newline and a backslash in every unit, escaped on the
        // way in (decoded for the regex) and again on the way out.
        let unit = r"x a\tb\nc\\d ";
        let expected_unit = r"yy a\tb\nc\\d ";
        // Decoded, a unit is 10 bytes, 11 replaced: n units make a value of
        // a batch's size or more.
        for (huge, n) in [(false, 3), (true, BATCH_BYTES / 10)] {
            let input = format!("1\t{}\tr\\\\est\n", unit.repeat(n));
            let out = transform_batch(&p, input.as_bytes()).expect("transforms");
            let expected = format!("1\t{}\tr\\\\est\n", expected_unit.repeat(n));
            assert_eq!(out.len(), expected.len(), "huge: {huge}");
            assert!(out == expected.as_bytes(), "huge: {huge}");
        }
        // Alone, the helper moves the output so far in front of the value.
        let mut value = b"a\tb".repeat(BATCH_BYTES);
        let mut out = b"head\t".to_vec();
        append_escaped(&mut value, &mut out);
        assert!(value.is_empty());
        assert!(out.starts_with(b"head\ta\\tb") && out.len() == 5 + 4 * BATCH_BYTES);
    }

    /// A template written before the columns it reads gets their output
    /// values (a kept one decoded, a computed one, NULL as empty text), and
    /// the columns no
    /// template reads come out as before: kept fields as the raw bytes
    /// they came in, escapes and all, computed ones escaped.
    #[test]
    fn templates_read_values_computed_first_and_other_columns_go_straight_out() {
        let p = plan(
            &["label", "a", "b", "raw", "c"],
            "{ label: { template: \"{a}|{b}\" }, a: keep, b: { set: \"x\\ty\" }, raw: keep, c: { set: z } }",
        );
        let out = transform_batch(&p, b"L\ta\\tq\tB\tr\\\\s\\n\tC\nL\t\\N\tB\t\\N\t\\N\n")
            .expect("transforms");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "a\\tq|x\\ty\ta\\tq\tx\\ty\tr\\\\s\\n\tz\n|x\\ty\t\\N\tx\\ty\t\\N\t\\N\n"
        );
    }
}
