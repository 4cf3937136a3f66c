//! The PostgreSQL sink: a `COPY … FROM STDIN` per table. The database it
//! writes into (created, checked and swapped in) is `target`'s business.

use std::pin::Pin;

use anyhow::Result;
use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::{Client, CopyInSink};

use super::TableSink;
use crate::error::PgResultExt;
use crate::plan::TablePlan;

/// A `COPY … FROM STDIN` into one table. With `freeze`, the table is
/// truncated in the same transaction so rows load already frozen (no
/// later rewrite by vacuum).
pub struct CopySink<'a> {
    client: &'a Client,
    /// The table's name, for errors.
    name: String,
    load: Load,
    in_transaction: bool,
}

/// What a failed COPY into `table` was doing, for the error: the table and,
/// from the server's CONTEXT line (`COPY t, line 3, column zip: "…"`), the
/// column, never the value that CONTEXT quotes after it.
fn copy_failure(table: &str, e: &tokio_postgres::Error) -> String {
    let column = e
        .as_db_error()
        .and_then(|d| d.where_())
        .and_then(|w| w.split(", column ").nth(1))
        .and_then(|rest| rest.split(':').next())
        .filter(|c| !c.is_empty());
    let what = match column {
        Some(c) => format!("loading table {table}, column {c}"),
        None => format!("loading table {table}"),
    };
    // 53100 disk_full, 53200 out_of_memory, 53300 too_many_connections.
    match crate::error::sqlstate(e) {
        Some("53100") => format!(
            // Whether the load database could be dropped is told on its own
            // line after this one, so this one does not claim it.
            "{what}: the target server is out of disk space; free space there (the target \
             was left as it was)"
        ),
        _ => what,
    }
}

/// How the rows get in.
enum Load {
    Copy(Pin<Box<CopyInSink<Bytes>>>),
    /// A table with no column to copy (`CREATE TABLE t ()`, or only
    /// generated columns): COPY cannot name zero columns, so the rows
    /// (empty lines) are counted and inserted with their defaults at the end.
    RowsOnly {
        table: String,
        rows: u64,
    },
}

/// Tables smaller than this are loaded without FREEZE: for them, the later
/// VACUUM that FREEZE saves costs less than the TRUNCATE it needs (a new
/// relation file and two more round trips), and with ten thousand small
/// tenant tables that TRUNCATE is a phase of its own. Measured on the
/// source's current file sizes (`source::current_sizes`), never on
/// statistics: the TRUNCATE path also gives a failed load's rows back to
/// the disk at once, which a target that ran out of space needs before the
/// load database can be dropped, and a table stale statistics call small
/// may be the one that filled it.
pub const FREEZE_MIN_BYTES: i64 = 1 << 20;

impl<'a> CopySink<'a> {
    /// Starts the COPY. `own_transaction`: wrap it in BEGIN/TRUNCATE/COMMIT
    /// so FREEZE applies (ordinary tables of a fresh database only).
    pub async fn start(
        client: &'a Client,
        plan: &TablePlan,
        own_transaction: bool,
    ) -> Result<CopySink<'a>> {
        let name = plan.table.name.to_string();
        let freeze = own_transaction && plan.table.kind == crate::catalog::TableKind::Ordinary;
        if freeze {
            // ONLY: a plain TRUNCATE of an inheritance parent also empties
            // its children, which may already be loaded.
            client
                .batch_execute(&format!("BEGIN; TRUNCATE {}", plan.table.sql_only()))
                .await
                .pg_context(|| format!("preparing table {name} on the target"))?;
        }
        let load = if plan.columns.is_empty() {
            Load::RowsOnly {
                table: plan.table.name.sql(),
                rows: 0,
            }
        } else {
            let mut statement = plan.target_statement();
            if freeze {
                statement.push_str(" WITH (FREEZE)");
            }
            let sink = client
                .copy_in::<_, Bytes>(statement.as_str())
                .await
                .pg_context(|| format!("starting the load of table {name}"))?;
            Load::Copy(Box::pin(sink))
        };
        Ok(CopySink {
            client,
            name,
            load,
            in_transaction: freeze,
        })
    }
}

impl TableSink for CopySink<'_> {
    async fn write(&mut self, batch: Bytes) -> Result<()> {
        match &mut self.load {
            Load::Copy(sink) => {
                let sent = sink.send(batch).await;
                let what = sent.as_ref().err().map(|e| copy_failure(&self.name, e));
                sent.pg_context(|| what.unwrap_or_default())
            }
            Load::RowsOnly { rows, .. } => {
                *rows += memchr::memchr_iter(b'\n', &batch).count() as u64;
                Ok(())
            }
        }
    }

    async fn finish(mut self) -> Result<u64> {
        let rows = match &mut self.load {
            Load::Copy(sink) => {
                let finished = sink.as_mut().finish().await;
                let what = finished.as_ref().err().map(|e| copy_failure(&self.name, e));
                finished.pg_context(|| what.unwrap_or_default())?
            }
            Load::RowsOnly { table, rows } => {
                if *rows > 0 {
                    self.client
                        .batch_execute(&format!(
                            "INSERT INTO {table} SELECT FROM generate_series(1, {rows})"
                        ))
                        .await
                        .pg_context(|| format!("loading the rows of {table}"))?;
                }
                *rows
            }
        };
        if self.in_transaction {
            self.client
                .batch_execute("COMMIT")
                .await
                .pg_context(|| "committing a table's load".into())?;
        }
        Ok(rows)
    }
}
