//! The `load` command: an export (a `.sql` file, or a csv/jsonl directory)
//! into a database, for people without psql.
//!
//! The safety story is `sync`'s: one run per target (advisory lock), a
//! target made by someone else is replaced only with `--force`, the rows go
//! into a fresh `<target>__next` database, and only a complete load is
//! renamed over the target. A failure or a signal before that drops
//! `<target>__next` and leaves the target as it was.

pub mod script;

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use bytes::BytesMut;
use futures_util::SinkExt;
use tokio_postgres::Client;

use crate::cli::LoadArgs;
use crate::config::{Overrides, Settings};
use crate::conn::ConnInfo;
use crate::error::{PgResultExt, UsageError};
use crate::export::compress;
use crate::export::format::{Decoding, ExportFormat, Layout};
use crate::export::manifest::{content_digest, Digest, Manifest, ManifestTable, POST_DATA_MARKER};
use crate::signals::Signals;
use crate::sql::quote_ident;
use crate::target::{self, TargetServer};
use script::Script;

/// The path that reads a sql script from stdin.
pub const STDIN: &str = "-";

/// Rows sent per COPY message.
const CHUNK: usize = 1 << 20;

/// What is being loaded.
enum Input {
    /// A sql export (or any plain pg_dump script).
    Script(PathBuf),
    /// `load -`: a sql script on stdin.
    Stdin,
    /// A csv/jsonl export directory.
    Directory(PathBuf, Manifest),
}

impl Input {
    fn open(path: &Path) -> Result<Input> {
        if path == Path::new(STDIN) {
            return Ok(Input::Stdin);
        }
        let meta = std::fs::metadata(path)
            .map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))?;
        if !meta.is_dir() {
            return Ok(Input::Script(path.to_path_buf()));
        }
        let manifest_path = path.join(crate::export::manifest::FILE);
        let text = std::fs::read_to_string(&manifest_path).map_err(|_| {
            UsageError::new(format!(
                "{} has no manifest.json: load takes a directory written by `anonymize export --format csv|jsonl`, or a .sql file",
                path.display()
            ))
        })?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| UsageError::new(format!("{}: {e}", manifest_path.display())))?;
        if manifest.format.format().layout() == Layout::Script {
            return Err(UsageError::new(format!(
                "{}: a directory export is csv or jsonl, not {}",
                manifest_path.display(),
                manifest.format.name()
            ))
            .into());
        }
        Ok(Input::Directory(path.to_path_buf(), manifest))
    }

    /// Checks the schema script of a directory export against its digest
    /// in manifest.json, before anything is created.
    fn check_schema(&self) -> Result<()> {
        let Input::Directory(dir, manifest) = self else {
            return Ok(());
        };
        let Some(want) = &manifest.schema_sha256 else {
            return Ok(());
        };
        let path = dir.join(&manifest.schema);
        let got = content_digest(&path).with_context(|| format!("reading {}", path.display()))?;
        if &got != want {
            return Err(anyhow!("{}: {}", path.display(), changed_since_export()));
        }
        Ok(())
    }
}

/// The end of the message about a file that is not what the export wrote.
fn changed_since_export() -> &'static str {
    "the content is not what manifest.json says the export wrote (the file was cut short \
     or changed); nothing was loaded and the target is as it was; export it again"
}

/// Loads an export; returns the per-table summary printed on stdout.
pub async fn run(args: &LoadArgs) -> Result<String> {
    let Some(path) = &args.data.report else {
        return load(args).await.map(|(text, _)| text);
    };
    crate::report::Report::check_writable(path)?;
    let brief = crate::report::Brief {
        source: args.path.display().to_string(),
        target: match &args.common.target {
            Some(t) => ConnInfo::parse_target(t, "--target")?
                .redacted()
                .to_string(),
            None => String::new(),
        },
        subset: None,
        started_at: std::time::SystemTime::now(),
    };
    let (text, tables) = match load(args).await {
        Ok((text, tables)) => (text, Ok(tables)),
        Err(e) => (String::new(), Err(e)),
    };
    let stats = tables.map(|tables| {
        tables
            .into_iter()
            .map(|(table, rows)| crate::pipeline::TableStats {
                table,
                rows_read: rows,
                rows_written: rows,
                bytes: 0,
                seconds: 0.0,
                source_rows_estimate: -1,
                source_rows_from: crate::catalog::RowsFrom::default(),
                selection: "all rows".into(),
                kept_fraction: None,
            })
            .collect()
    });
    let written = brief.write(path, &stats);
    stats?;
    written?;
    // With `--report -` stdout holds the report alone.
    Ok(if path == Path::new(crate::report::STDOUT) {
        String::new()
    } else {
        text
    })
}

/// The load itself; returns the summary and the rows per table.
async fn load(args: &LoadArgs) -> Result<(String, Vec<(String, u64)>)> {
    let settings = Settings::resolve(
        args.common.config.as_deref(),
        Overrides {
            target: args.common.target.as_deref(),
            ..Overrides::default()
        },
    )?;
    let target = settings.target_conn()?;
    let input = Input::open(&args.path)?;
    input.check_schema()?;
    let started = Instant::now();
    let mut signals = Signals::install()?;
    let server = signals.guard(TargetServer::connect(&target)).await?;
    signals.guard(server.lock()).await?;
    signals.guard(server.preflight(args.force)).await?;
    let jobs = match args.data.jobs {
        Some(0) => return Err(UsageError::new("--jobs must be at least 1").into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let loaded = signals.guard(load_fresh(&server, &input, jobs)).await;
    // The swap is the commit point: it runs to its end even if a signal
    // comes, as in sync.
    let result = match loaded {
        Ok(tables) => {
            let rows: u64 = tables.iter().map(|t| t.1).sum();
            let what = args
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match server
                .swap(
                    args.terminate_connections,
                    &format!("loaded {rows} rows from the export {what}"),
                )
                .await
            {
                Ok(replaced) => {
                    if replaced && !args.keep_previous {
                        server.drop_previous().await;
                    }
                    Ok(tables)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let tables = match result {
        Ok(t) => t,
        Err(e) => {
            if let Err(d) = server.drop_if_ours(&server.next).await {
                tracing::error!(error = %crate::error::render(&d), database = %server.next, "could not drop the load database; drop it by hand");
            }
            return Err(e);
        }
    };
    tracing::info!(database = %server.target, "target replaced");
    let text = summary(&tables, &server.target, started.elapsed().as_secs_f64());
    Ok((text, tables))
}

/// The end-of-run table: rows per table, then the total.
fn summary(tables: &[(String, u64)], target: &str, seconds: f64) -> String {
    let width = tables
        .iter()
        .map(|t| t.0.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut s = format!("{:<width$}  {:>12}\n", "table", "rows");
    for (t, rows) in tables {
        s.push_str(&format!("{t:<width$}  {rows:>12}\n"));
    }
    let total: u64 = tables.iter().map(|t| t.1).sum();
    s.push_str(&format!("{:<width$}  {total:>12}\n", "total"));
    s.push_str(&format!("loaded into {target} in {seconds:.1} s\n"));
    s
}

/// Creates `<target>__next` and loads the export into it. The tables of a
/// csv/jsonl export load `jobs` at a time, each on its own connection; a
/// sql script is one stream.
async fn load_fresh(
    server: &TargetServer,
    input: &Input,
    jobs: usize,
) -> Result<Vec<(String, u64)>> {
    // Exports hold UTF-8 rows whatever the source's encoding.
    let next = server.create_next("UTF8").await?;
    tracing::info!(database = %server.next, "loading into a fresh database");
    let client = target::connect(&next).await?;
    let tables = match input {
        Input::Script(path) => {
            let reader = compress::open(path)
                .map_err(|e| UsageError::new(format!("cannot read {}: {e}", path.display())))?;
            let mut script = Script::new(reader, &path.display().to_string(), None);
            script.run(&client).await?;
            script.tables
        }
        Input::Stdin => {
            let reader = compress::sniff(std::io::stdin())
                .map_err(|e| UsageError::new(format!("cannot read stdin: {e}")))?;
            let mut script = Script::new(reader, "stdin", None);
            script.run(&client).await?;
            script.tables
        }
        Input::Directory(dir, manifest) => {
            let schema_path = dir.join(&manifest.schema);
            let reader = compress::open(&schema_path)
                .with_context(|| format!("reading {}", schema_path.display()))?;
            let mut script = Script::new(
                reader,
                &schema_path.display().to_string(),
                Some(POST_DATA_MARKER),
            );
            // Pre-data, the rows, then the rest: no index slows the load
            // and no foreign key is checked before its parent is there.
            script.run(&client).await?;
            let loads = manifest.tables.iter().filter_map(|table| {
                let file = table.file.as_ref()?;
                let next = &next;
                Some(async move {
                    let client = target::connect(next).await?;
                    let path = dir.join(file);
                    let rows = load_file(&client, &path, table, manifest.format).await?;
                    // Checked before the swap: a file cut at a row boundary
                    // loads without error, and must not go live.
                    if rows != table.rows {
                        return Err(anyhow!(
                            "{}: {rows} rows loaded where manifest.json says {}; {}",
                            path.display(),
                            table.rows,
                            changed_since_export()
                        ));
                    }
                    Ok::<_, anyhow::Error>((table.table.clone(), rows))
                })
            });
            // In manifest order, whatever order they finish in.
            use futures_util::StreamExt as _;
            let tables: Vec<(String, u64)> = futures_util::stream::iter(loads)
                .buffered(jobs)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_>>()?;
            script.run(&client).await?;
            tables
        }
    };
    client
        .batch_execute("ANALYZE")
        .await
        .pg_context(|| "analyzing the loaded database".into())?;
    Ok(tables)
}

/// Loads one table file of a csv/jsonl export.
async fn load_file(
    client: &Client,
    path: &Path,
    table: &ManifestTable,
    format: ExportFormat,
) -> Result<u64> {
    let columns: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let name = format!(
        "{}.{}",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    );
    let format = format.format();
    let statement = format!(
        "COPY {name} ({}) FROM STDIN{}",
        columns.join(", "),
        format.copy_options()
    );
    let mut reader = compress::open(path).with_context(|| format!("reading {}", path.display()))?;
    let sink = client
        .copy_in::<_, bytes::Bytes>(statement.as_str())
        .await
        .pg_context(|| format!("starting the load of {}", table.table))?;
    futures_util::pin_mut!(sink);
    let mut buf = BytesMut::with_capacity(CHUNK + 64 * 1024);
    let mut line = Vec::new();
    let mut line_no = 0u64;
    let mut digest = Digest::default();
    loop {
        let more = match format.decoding() {
            Decoding::AsIs => {
                let mut chunk = vec![0u8; CHUNK];
                let n = reader
                    .read(&mut chunk)
                    .with_context(|| format!("reading {}", path.display()))?;
                digest.update(&chunk[..n]);
                buf.extend_from_slice(&chunk[..n]);
                n > 0
            }
            Decoding::Lines(decode) => {
                line.clear();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .with_context(|| format!("reading {}", path.display()))?;
                line_no += 1;
                digest.update(&line);
                if n > 0 && !line.iter().all(u8::is_ascii_whitespace) {
                    decode(&line, table, &mut buf)
                        .map_err(|m| anyhow!("{}:{line_no}: {m}", path.display()))?;
                }
                n > 0
            }
        };
        if buf.len() >= CHUNK || (!more && !buf.is_empty()) {
            sink.send(buf.split().freeze())
                .await
                .pg_context(|| format!("loading {}", table.table))?;
        }
        if !more {
            break;
        }
    }
    // Before `finish`: dropping the sink aborts the COPY, so a file that
    // is not what the export wrote loads nothing.
    if let Some(want) = &table.sha256 {
        if &digest.hex() != want {
            return Err(anyhow!("{}: {}", path.display(), changed_since_export()));
        }
    }
    sink.as_mut()
        .finish()
        .await
        .pg_context(|| format!("finishing the load of {}", table.table))
}
