//! The `export` command: the plan and snapshot of a `sync`, written to
//! files a developer commits and loads anywhere.
//!
//! - `sql`: one script. `psql -v ON_ERROR_STOP=1 -f` (or the `postgres`
//!   image's `/docker-entrypoint-initdb.d/`) turns an empty database into
//!   what `sync` makes: pg_dump's pre-data, a `COPY … FROM stdin` block per
//!   table, post-data, sequence values, materialized views refreshed.
//! - `csv` / `jsonl`: a directory with a file per table, `schema.sql` and
//!   `manifest.json`.
//!
//! Byte-identical output for the same data, rules, subset and secret: rows
//! are sorted by the server (`ORDER BY` the primary key, or every column
//! where there is none), tables come in a fixed order, and nothing that
//! changes by itself (time, host, versions) is written.
//!
//! Tables are read in parallel, into a temporary directory beside `--out`:
//! a file per table, or for sql the one script, put together as they are
//! copied (`export::assemble`). Only the finished export is renamed to
//! `--out` (`staging.rs`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};

use crate::cli::ExportArgs;
use crate::config::{Overrides, Settings};
use crate::conn::ConnInfo;
use crate::error::{GapsFound, UsageError};
use crate::export::assemble::Assembly;
use crate::export::compress::Compression;
use crate::export::format::{ExportFormat, Layout};
use crate::export::manifest::{
    self, Manifest, ManifestColumn, ManifestTable, Tool, POST_DATA_MARKER,
};
use crate::export::staging::Staging;
use crate::pgdump;
use crate::pipeline::driver::{rows_to_copy, Cut, Driver, Part, SinkFactory};
use crate::pipeline::TableStats;
use crate::plan::{Plan, TablePlan};
use crate::progress::{FinishOnDrop, Progress};
use crate::signals::Signals;
use crate::sink::files::{create_private_dir, write_private, FileSink};
use crate::sink::Observed;
use crate::subset::SubsetSpec;
use crate::verify::sample::Sampler;
use crate::verify::{self, Samples};

/// Everything an export needs, resolved from flags and environment.
pub struct ExportOptions {
    pub source: ConnInfo,
    pub rules: PathBuf,
    pub subset: Option<SubsetSpec>,
    pub jobs: usize,
    pub out: PathBuf,
    pub format: ExportFormat,
    pub compression: Compression,
    pub verify: bool,
    /// Values `--verify` samples per column.
    pub verify_sample: u32,
    pub progress: bool,
    pub secret: Option<Vec<u8>>,
    /// How long a source session waits for a table lock.
    pub lock_timeout: std::time::Duration,
    /// `--report`: where the JSON report goes.
    pub report: Option<PathBuf>,
    /// `-t/-T/-n/-N/--exclude-table-data`.
    pub selection: crate::selection::Selection,
}

impl ExportOptions {
    pub fn from_args(args: &ExportArgs) -> Result<ExportOptions> {
        let settings = Settings::resolve(
            args.common.config.as_deref(),
            Overrides {
                subset: args.subset.as_deref(),
                jobs: args.data.jobs,
                ..Overrides::common(&args.common)
            },
        )?;
        let source = settings.source_conn()?;
        let subset = settings.subset_spec()?;
        let jobs = settings.jobs_or_cpus()?;
        let to_stdout = args.out == Path::new(crate::export::staging::STDOUT);
        let layout = args.format.format().layout();
        if to_stdout && layout != Layout::Script {
            return Err(UsageError::new(
                "--out -: only --format sql goes to stdout; csv/jsonl write a directory",
            )
            .into());
        }
        if to_stdout && args.data.report.as_deref() == Some(Path::new(crate::report::STDOUT)) {
            return Err(UsageError::new(
                "--out - and --report - both want stdout; write the report to a file",
            )
            .into());
        }
        let compression = Compression::from_path(&args.out).map_err(UsageError::new)?;
        if compression != Compression::None && layout != Layout::Script {
            return Err(UsageError::new(format!(
                "--out {}: only --format sql is compressed; a csv/jsonl export is a directory, \
                 drop the .gz/.zst suffix",
                args.out.display()
            ))
            .into());
        }
        Ok(ExportOptions {
            source,
            rules: settings.rules,
            subset,
            jobs,
            out: args.out.clone(),
            format: args.format,
            compression,
            verify: args.verify,
            verify_sample: args.sample,
            progress: args.common.progress(),
            secret: crate::commands::sync::secret_from_env()?,
            lock_timeout: args.lock_timeout,
            report: args.data.report.clone(),
            selection: args.select.selection()?,
        })
    }
}

/// Runs an export; returns the summary printed on stdout.
pub async fn run(args: &ExportArgs) -> Result<String> {
    let opts = ExportOptions::from_args(args)?;
    let Some(path) = &opts.report else {
        return export_and_commit(&opts).await.map(|(text, _)| text);
    };
    crate::report::Report::check_writable(path)?;
    let brief = crate::report::Brief {
        source: opts.source.redacted().to_string(),
        target: opts.out.display().to_string(),
        subset: opts.subset,
        started_at: std::time::SystemTime::now(),
    };
    let result = export_and_commit(&opts).await;
    let (text, stats) = match result {
        Ok((text, stats)) => (text, Ok(stats)),
        Err(e) => (String::new(), Err(e)),
    };
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

/// The export itself: staged, then committed to `--out`; returns the
/// summary and the tables written.
async fn export_and_commit(opts: &ExportOptions) -> Result<(String, Vec<TableStats>)> {
    let started = Instant::now();
    let layout = opts.format.format().layout();
    let staging = Staging::new(&opts.out, layout == Layout::Directory)?;
    // Installed before any work: SIGINT/SIGTERM drop the export's future
    // (closing its connections) and land in the cleanup below.
    let result = match Signals::install() {
        Ok(mut signals) => signals.guard(export(opts, &staging)).await,
        Err(e) => Err(e),
    };
    let stats = match result {
        Ok(stats) => {
            staging.commit()?;
            stats
        }
        Err(e) => {
            staging.abort();
            return Err(e.context(format!(
                "the export stopped; nothing was written to {}",
                opts.out.display()
            )));
        }
    };
    if opts.out == Path::new(crate::export::staging::STDOUT) {
        // stdout holds the script: the summary goes to stderr.
        eprint!("{}", crate::report::summary_table(&stats));
        return Ok((String::new(), stats));
    }
    let size = disk_size(&opts.out);
    let text = format!(
        "{}wrote {} ({:.1} MB) in {:.1} s\n",
        crate::report::summary_table(&stats),
        opts.out.display(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok((text, stats))
}

/// Bytes of a file, or of the files of a directory.
fn disk_size(path: &Path) -> u64 {
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum(),
        Err(_) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    }
}

async fn export(opts: &ExportOptions, staging: &Staging) -> Result<Vec<TableStats>> {
    let (rules, snapshot, plan, excluded) = crate::commands::prepare(
        &opts.source,
        &opts.rules,
        opts.subset,
        opts.secret.as_deref(),
        opts.lock_timeout,
        &opts.selection,
        true,
    )
    .await?;
    tracing::info!(tables = plan.tables().len(), rules = %rules.files.join(", "), "plan ready");
    let pg_dump = pgdump::find_pg_dump(plan.catalog().server_version)?;
    // Without owners or grants: the files load anywhere, as any role.
    let pgdump::Sections {
        pre_data: pre,
        post_data: post,
    } = pgdump::dump_schema(
        &pg_dump,
        &opts.source,
        &snapshot.id,
        pgdump::Privileges::NONE,
        opts.lock_timeout,
        &excluded.tables,
    )
    .await?;
    let order = fk_order(&plan);

    let root = staging.result();
    let format = opts.format.format();
    let data_dir = match format.layout() {
        Layout::Script => staging.scratch().join("parts"),
        Layout::Directory => root.clone(),
    };
    create_private_dir(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let files: Vec<String> = plan.tables().iter().map(|t| format.file_name(t)).collect();
    let subset = rules.subset.map(|s| s.to_string());
    // A sql export is put together while the tables are copied.
    let assembly = match format.layout() {
        Layout::Script => {
            let mut opening = sql_header(&rules.digest, subset.as_deref());
            opening.push_str(&pgdump::without_version_lines(&pre));
            // The rows were read over UTF-8 connections, whatever pg_dump's
            // preamble set for the schema.
            opening.push_str("SET client_encoding = 'UTF8';\n\n");
            let tables = order
                .iter()
                .map(|&i| &plan.tables()[i])
                .filter(|t| !t.skip)
                .cloned()
                .collect();
            Some(Assembly::create(
                &root,
                &data_dir,
                opts.compression,
                tables,
                opening.as_bytes(),
            )?)
        }
        Layout::Directory => None,
    };
    let _cancel_on_drop = CancelOnDrop(assembly.clone());

    let samples = opts.verify.then(|| Arc::new(Mutex::new(Samples::new())));
    let progress = FinishOnDrop(Progress::new(opts.progress, rows_to_copy(plan.tables())));
    let driver = Driver {
        source: &opts.source,
        snapshot: &snapshot,
        lock_timeout: opts.lock_timeout,
        jobs: opts.jobs,
        // Rows sorted by the server, so the files come out the same run
        // after run.
        cut: Cut::WholeTables {
            stable_order: true,
            as_given: true,
        },
    };
    let copy_order: Vec<Arc<TablePlan>> =
        copy_order(&plan, &order, opts.jobs, format.layout() == Layout::Script)
            .into_iter()
            .map(|i| Arc::clone(&plan.tables()[i]))
            .collect();
    let sinks = ExportFiles {
        dir: &data_dir,
        format: opts.format,
        samples: samples.clone().map(|s| (s, opts.verify_sample)),
        assembly: assembly.clone(),
    };
    let stats = driver
        .copy_all(&copy_order, &sinks, &progress.0, |_, _| {})
        .await?;
    drop(progress);

    if let Some(samples) = samples {
        let samples = std::mem::take(&mut *samples.lock().expect("samples lock"));
        verify_export(&plan, &snapshot.client, &samples, opts.verify_sample).await?;
    }

    match format.layout() {
        Layout::Script => {
            let closing = pgdump::without_version_lines(&post) + &finish_sql(&plan);
            let assembly = assembly.expect("a sql export has its assembly");
            tokio::task::spawn_blocking(move || assembly.finish(closing.as_bytes()))
                .await
                .map_err(|_| anyhow!("the export writer stopped unexpectedly"))?
                .context("writing the sql export")?;
        }
        Layout::Directory => {
            let schema_sql = format!(
                "-- Schema of an anonymize export. Run the part above the line\n\
                 -- `{POST_DATA_MARKER}` first, load the table files, then the rest\n\
                 -- (indexes, constraints, triggers, sequences, materialized views).\n\
                 -- `anonymize load DIR --target URL` does all three.\n\n{}{POST_DATA_MARKER}\n\n{}{}",
                pgdump::without_version_lines(&pre),
                pgdump::without_version_lines(&post),
                finish_sql(&plan)
            );
            write_private(&root.join("schema.sql"), schema_sql.as_bytes())
                .with_context(|| format!("writing {}", root.join("schema.sql").display()))?;
            let digest = |file: &str| {
                manifest::content_digest(&root.join(file))
                    .with_context(|| format!("reading back {}", root.join(file).display()))
            };
            let mut digests = std::collections::BTreeMap::new();
            for &i in &order {
                if !plan.tables()[i].skip {
                    digests.insert(i, digest(&files[i])?);
                }
            }
            let manifest = Manifest {
                format: opts.format,
                schema: "schema.sql".into(),
                schema_sha256: Some(digest("schema.sql")?),
                tables: order
                    .iter()
                    .map(|&i| {
                        let t = &plan.tables()[i];
                        ManifestTable {
                            table: t.table.name.to_string(),
                            schema: t.table.name.schema.clone(),
                            name: t.table.name.name.clone(),
                            file: (!t.skip).then(|| files[i].clone()),
                            rows: rows_of(&stats, t),
                            sha256: digests.get(&i).cloned(),
                            columns: t
                                .columns
                                .iter()
                                .map(|c| ManifestColumn {
                                    name: c.name.clone(),
                                    type_name: t
                                        .table
                                        .column(&c.name)
                                        .map(|col| col.type_name.clone())
                                        .unwrap_or_default(),
                                })
                                .collect(),
                        }
                    })
                    .collect(),
                rules_digest: rules.digest.clone(),
                subset,
                tool: Tool {
                    name: "anonymize".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                },
            };
            let mut text = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
            text.push('\n');
            write_private(&root.join(manifest::FILE), text.as_bytes())
                .with_context(|| format!("writing {}", root.join(manifest::FILE).display()))?;
        }
    }
    let mut stats = stats;
    stats.sort_by(|a, b| a.table.cmp(&b.table));
    Ok(stats)
}

fn rows_of(stats: &[TableStats], t: &TablePlan) -> u64 {
    let name = t.table.name.to_string();
    stats
        .iter()
        .find(|s| s.table == name)
        .map_or(0, |s| s.rows_written)
}

/// The order the tables are copied in (indexes of `plan.tables()`, the
/// skipped ones left out). A sql export's table whose turn in the file has
/// come writes straight into it; the others are staged and copied again.
/// So the tables go in the file's order (`fk_order`), with the `jobs - 1`
/// largest first, so the longest copies do not start last, as long as the
/// workers stay about as balanced (by the tables' sizes) as when all go
/// largest first: within a tenth, about what a table's second copy costs
/// beside reading and transforming it. A directory export (`script`
/// false) has no such order: its tables go largest first.
fn copy_order(plan: &Plan, fk_order: &[usize], jobs: usize, script: bool) -> Vec<usize> {
    let bytes = |i: usize| plan.tables()[i].table.estimated_bytes.max(0) as u64;
    let tables: Vec<usize> = fk_order
        .iter()
        .copied()
        .filter(|&i| !plan.tables()[i].skip)
        .collect();
    let mut largest_first = tables.clone();
    largest_first.sort_by_key(|&i| std::cmp::Reverse(bytes(i)));
    let first: Vec<usize> = largest_first
        .iter()
        .copied()
        .take(jobs.saturating_sub(1))
        .collect();
    let file_order: Vec<usize> = first
        .iter()
        .copied()
        .chain(tables.iter().copied().filter(|i| !first.contains(i)))
        .collect();
    let longest = |order: &[usize]| {
        let mut workers = vec![0u64; jobs.max(1)];
        for &i in order {
            let least = workers.iter_mut().min().expect("a worker");
            *least += bytes(i);
        }
        workers.into_iter().max().unwrap_or(0)
    };
    if script && longest(&file_order) * 10 <= longest(&largest_first) * 11 {
        file_order
    } else {
        largest_first
    }
}

/// Indexes of `plan.tables()` with parents before children (foreign keys),
/// ties and cycles broken by name so the order is fixed. A table in a
/// cycle comes when nothing outside the cycle is left before it.
pub fn fk_order(plan: &Plan) -> Vec<usize> {
    let n = plan.tables().len();
    let index = |name: &crate::catalog::QualifiedName| {
        plan.tables().iter().position(|t| &t.table.name == name)
    };
    // parents[i]: tables i references (itself excluded).
    let parents: Vec<Vec<usize>> = plan
        .tables()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut p: Vec<usize> = t
                .foreign_keys()
                .filter_map(|fk| index(&fk.parent))
                .filter(|&j| j != i)
                .collect();
            p.sort_unstable();
            p.dedup();
            p
        })
        .collect();
    let mut by_name: Vec<usize> = (0..n).collect();
    by_name.sort_by(|&a, &b| {
        plan.tables()[a]
            .table
            .name
            .cmp(&plan.tables()[b].table.name)
    });
    let mut done = vec![false; n];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let ready = by_name
            .iter()
            .copied()
            .find(|&i| !done[i] && parents[i].iter().all(|&p| done[p]));
        // A cycle: take the first table by name among those left.
        let next = ready.unwrap_or_else(|| {
            by_name
                .iter()
                .copied()
                .find(|&i| !done[i])
                .expect("a table is left")
        });
        done[next] = true;
        out.push(next);
    }
    out
}

/// Where an export's tables go: a file each in `dir`, in `format`, their
/// values sampled on the way for `--verify`.
struct ExportFiles<'a> {
    dir: &'a Path,
    format: ExportFormat,
    /// The samples of every table, and the values to take per column.
    samples: Option<(Arc<Mutex<Samples>>, u32)>,
    /// A sql export's one file; `None`: a file per table in `dir`.
    assembly: Option<Arc<Assembly>>,
}

impl SinkFactory for ExportFiles<'_> {
    type Worker = ();
    type Sink<'w>
        = Observed<FileSink, Sampler>
    where
        Self: 'w;

    async fn worker(&self) -> Result<()> {
        Ok(())
    }

    async fn sink<'w>(&'w self, _: &'w (), part: &Part) -> Result<Self::Sink<'w>> {
        let format = self.format.format();
        let path = self.dir.join(format.file_name(&part.plan));
        let file = match &self.assembly {
            Some(assembly) => FileSink::new(
                &path,
                Box::new(assembly.open(&part.plan)?),
                format.encoder(&part.plan),
            )?,
            None => FileSink::create(&path, format.encoder(&part.plan))?,
        };
        let sampler = self
            .samples
            .as_ref()
            .map(|(samples, n)| Sampler::new(&part.plan, *n, Arc::clone(samples)));
        Ok(Observed::new(file, sampler))
    }
}

/// `export --verify`: the values sampled from the rows as written are
/// looked up in the source, column by column, with `verify`'s judgement.
/// A leak stops the export (exit 3) before anything reaches `--out`.
async fn verify_export(
    plan: &Plan,
    source: &tokio_postgres::Client,
    samples: &Samples,
    sample: u32,
) -> Result<()> {
    tracing::info!("verifying that no original value is in the export");
    let report = verify::check_samples(plan, source, samples, sample).await?;
    verify::log_findings(&report);
    if report.failures > 0 {
        return Err(GapsFound(format!(
            "verify found {} leaking column(s) in the exported rows",
            report.failures
        ))
        .into());
    }
    Ok(())
}

/// The opening comment of a sql export: how to load it, and what made it
/// (the rules' digest and the subset, never a time or a host).
fn sql_header(digest: &str, subset: Option<&str>) -> String {
    let mut s = String::from(
        "-- Anonymized export made by anonymize.\n\
         -- Load it into an empty database with\n\
         --   psql -v ON_ERROR_STOP=1 -f FILE\n\
         -- or, without psql, `anonymize load FILE --target URL`.\n",
    );
    let _ = writeln!(s, "-- Rules digest: {digest}");
    if let Some(subset) = subset {
        let _ = writeln!(s, "-- Subset: {subset}");
    }
    s.push('\n');
    s
}

/// What comes after post-data: sequence values, as the source has them,
/// and materialized views refreshed from the loaded rows.
fn finish_sql(plan: &Plan) -> String {
    let mut s = String::new();
    let setvals = crate::target::finish::setval_statements(plan.catalog());
    if !setvals.is_empty() {
        s.push_str("-- Sequences continue after the source's values.\n");
        s.push_str(&setvals);
        s.push('\n');
    }
    if !plan.catalog().materialized_views.is_empty() {
        s.push_str("-- Materialized views, computed from the loaded rows.\n");
        for mv in &plan.catalog().materialized_views {
            s.push_str(&crate::target::finish::refresh_statement(mv));
            s.push_str(";\n");
        }
        s.push('\n');
    }
    s
}

/// Tells the sql export's appends to stop when the export's future is
/// dropped (a signal): they run on the blocking pool, which no drop stops.
struct CancelOnDrop(Option<Arc<Assembly>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(a) = &self.0 {
            a.cancel();
        }
    }
}
