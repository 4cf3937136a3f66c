//! Running a SQL script without psql: statements are found by
//! `pgdump::split` (the way psql finds them), and a `COPY … FROM stdin`
//! statement takes the lines after it as its rows, up to `\.`.
//!
//! Statements are sent in batches of about 1 MiB (one simple query each),
//! rows in chunks of about 1 MiB: memory stays bounded whatever the file's
//! size.

use std::io::BufRead;

use anyhow::{anyhow, Context, Result};
use bytes::BytesMut;
use futures_util::SinkExt;
use tokio_postgres::Client;

use crate::error::PgResultExt;
use crate::pgdump::split::{code_start, copy_from_stdin, Event, Splitter};

/// Statements gathered before they are sent, and rows per COPY message.
const CHUNK: usize = 1 << 20;

/// Runs a script on `client`: statements, and COPY blocks with their rows.
pub struct Script<R: BufRead> {
    input: R,
    /// For messages: the file's name.
    name: String,
    splitter: Splitter,
    pending: String,
    line: Vec<u8>,
    line_no: u64,
    /// Rows loaded per table, in the order of the script.
    pub tables: Vec<(String, u64)>,
}

impl<R: BufRead> Script<R> {
    pub fn new(input: R, name: &str, marker: Option<&str>) -> Script<R> {
        Script {
            input,
            name: name.to_string(),
            splitter: Splitter::new(marker),
            pending: String::new(),
            line: Vec::new(),
            line_no: 0,
            tables: Vec::new(),
        }
    }

    /// Reads one line into `self.line`; false at the end of the file.
    fn read_line(&mut self) -> Result<bool> {
        self.line.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.line)
            .with_context(|| format!("reading {}", self.name))?;
        self.line_no += 1;
        Ok(n > 0)
    }

    /// Runs statements up to the marker line (true) or the end (false).
    pub async fn run(&mut self, client: &Client) -> Result<bool> {
        loop {
            if !self.read_line()? {
                if let Some(rest) = self.splitter.rest() {
                    self.pending.push_str(&rest);
                }
                self.flush(client).await?;
                return Ok(false);
            }
            let text = std::str::from_utf8(&self.line).map_err(|_| {
                anyhow!(
                    "{}:{}: the line is not valid UTF-8",
                    self.name,
                    self.line_no
                )
            })?;
            for event in self.splitter.push(text) {
                match event {
                    Event::Statement(s) => match copy_from_stdin(&s) {
                        Some(table) => {
                            self.flush(client).await?;
                            let rows = self.copy(client, &s, &table).await?;
                            self.tables.push((table, rows));
                        }
                        None => {
                            self.pending.push_str(&s);
                            if self.pending.len() >= CHUNK {
                                self.flush(client).await?;
                            }
                        }
                    },
                    Event::Marker => {
                        self.flush(client).await?;
                        return Ok(true);
                    }
                    Event::Meta(m) => {
                        let cmd = m.split_whitespace().next().unwrap_or("");
                        // pg_dump 15.14+ guards its scripts with these; they
                        // mean nothing outside psql.
                        if cmd != "\\restrict" && cmd != "\\unrestrict" {
                            return Err(anyhow!(
                                "{}:{}: the psql meta-command {cmd} cannot run without psql; \
                                 load this file with psql -f",
                                self.name,
                                self.line_no
                            ));
                        }
                    }
                }
            }
        }
    }

    async fn flush(&mut self, client: &Client) -> Result<()> {
        if code_start(&self.pending).trim().is_empty() {
            self.pending.clear();
            return Ok(());
        }
        let sql = std::mem::take(&mut self.pending);
        let name = &self.name;
        let line = self.line_no;
        client
            .batch_execute(&sql)
            .await
            .pg_context(|| format!("running the statements of {name} before line {line}"))
    }

    /// Streams the rows after a COPY statement, up to `\.`.
    async fn copy(&mut self, client: &Client, statement: &str, table: &str) -> Result<u64> {
        let sink = client
            .copy_in::<_, bytes::Bytes>(statement)
            .await
            .pg_context(|| format!("starting the load of {table}"))?;
        futures_util::pin_mut!(sink);
        let mut buf = BytesMut::with_capacity(CHUNK + 64 * 1024);
        loop {
            if !self.read_line()? {
                return Err(anyhow!(
                    "{}: the rows of {table} end without their `\\.` line; the file is cut short",
                    self.name
                ));
            }
            if self.line == b"\\.\n" || self.line == b"\\." || self.line == b"\\.\r\n" {
                break;
            }
            buf.extend_from_slice(&self.line);
            if buf.len() >= CHUNK {
                sink.send(buf.split().freeze())
                    .await
                    .pg_context(|| format!("loading {table}"))?;
            }
        }
        if !buf.is_empty() {
            sink.send(buf.split().freeze())
                .await
                .pg_context(|| format!("loading {table}"))?;
        }
        sink.as_mut()
            .finish()
            .await
            .pg_context(|| format!("finishing the load of {table}"))
    }
}
