//! The command line as the user typed it (clap derive). Turning it into
//! runnable options happens in the command modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Copy a PostgreSQL database with personal data replaced, deterministically,
/// by YAML rules.
#[derive(Debug, Parser)]
#[command(name = "anonymize", version, args_conflicts_with_subcommands = true)]
#[command(
    after_help = "Exit codes: 0 done, 1 runtime failure, 2 bad usage/config/rules, \
3 check found gaps or verify found a leak, 130/143 interrupted.\n\
Without a subcommand, `sync` runs: `anonymize --subset 10%`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub sync: SyncArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Copy source to target with the rules applied (the default).
    Sync(SyncArgs),
    /// Compare the rules with the source schema; exit 3 listing every gap.
    Check(CheckArgs),
    /// Write starter rules for every table and column of the source, with a
    /// suggested transform where a column looks personal.
    Init(InitArgs),
    /// Check that no original value is left in the target; exit 3 if one is.
    Verify(VerifyArgs),
    /// Run the whole pipeline on an embedded sample database.
    Demo(DemoArgs),
    /// Write anonymized fixtures: one SQL file (psql loads it), or a
    /// directory of CSV or JSON-lines files; byte-identical for the same
    /// data, rules, subset and secret.
    Export(ExportArgs),
    /// Load an export (a .sql file or a csv/jsonl directory) into a fresh
    /// database that then replaces the target, as sync does.
    Load(LoadArgs),
}

/// Options every command shares.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Source database URL (read only, never written).
    #[arg(long, env = "SOURCE_DATABASE_URL", hide_env_values = true)]
    pub source: Option<String>,
    /// Rules file, or a directory of *.yml/*.yaml files [default: rules].
    #[arg(long, env = "ANONYMIZE_RULES")]
    pub rules: Option<PathBuf>,
    /// Config file with source, target, rules, subset and jobs
    /// [default: ./anonymize.yml when it exists]. Flags and environment
    /// variables win over it.
    #[arg(long, env = "ANONYMIZE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log lines as text or JSON (one object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Args, Clone)]
pub struct SyncArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Target database URL; it is replaced atomically at the end of the run.
    #[arg(long, env = "TARGET_DATABASE_URL", hide_env_values = true)]
    pub target: Option<String>,
    /// Keep this share of the business: `10%` or `10` (a bare number is a
    /// percentage: `1` is 1%, `0.5` is half a percent). Small reference
    /// tables come whole; everything is closed over foreign keys.
    #[arg(long)]
    pub subset: Option<String>,
    /// Tables copied at once (default: the number of CPUs).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Print the plan and stop; nothing is written.
    #[arg(long)]
    pub dry_run: bool,
    /// `create`: build the schema from pg_dump in a fresh database, then
    /// swap it in. `existing`: keep the target's schema; truncate and load
    /// in one transaction.
    #[arg(long, value_enum, default_value_t = SchemaMode::Create)]
    pub schema: SchemaMode,
    /// Write a JSON report of the run to this file (fields in
    /// docs/report.md). `-` prints it to stdout as one line instead of the
    /// summary table, for log collectors (Kubernetes).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Log lines instead of progress bars.
    #[arg(long)]
    pub no_progress: bool,
    /// Replace a target database that has tables and was not made by
    /// anonymize.
    #[arg(long)]
    pub force: bool,
    /// Keep the replaced target as `<target>__prev`.
    #[arg(long)]
    pub keep_previous: bool,
    /// Leave table owners to the loading role instead of restoring the
    /// source's owners (as pg_restore --no-owner).
    #[arg(long)]
    pub no_owner: bool,
    /// Leave out the source's GRANTs and REVOKEs (as pg_restore --no-acl).
    #[arg(long)]
    pub no_acl: bool,
    /// Seconds to wait for a source table locked by someone else (a
    /// migration, VACUUM FULL) before giving up, instead of hanging.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub lock_timeout: u64,
    /// End other sessions on the target when swapping it.
    #[arg(long)]
    pub terminate_connections: bool,
    /// Run `verify` against the loaded database before it replaces the
    /// target; a leak stops the run (exit 3) and the target stays as it was.
    #[arg(long)]
    pub verify: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// `text` for people, `json` for CI.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    /// Source database URL (read only, never written).
    #[arg(long, env = "SOURCE_DATABASE_URL", hide_env_values = true)]
    pub source: Option<String>,
    /// Config file whose `source:` is used when --source and
    /// SOURCE_DATABASE_URL are not given [default: ./anonymize.yml when it
    /// exists].
    #[arg(long, env = "ANONYMIZE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where to write: a directory (the file is `rules.yml` in it) or a
    /// `.yml`/`.yaml` file.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Values read per column to recognise personal data by content. They
    /// are only looked at, never written or logged.
    #[arg(long, default_value_t = 200)]
    pub sample: u32,
    /// Log lines as text or JSON (one object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Target database URL (the output of a sync).
    #[arg(long, env = "TARGET_DATABASE_URL", hide_env_values = true)]
    pub target: Option<String>,
    /// Values sampled per column.
    #[arg(long, default_value_t = crate::verify::DEFAULT_SAMPLE)]
    pub sample: u32,
    /// `text` for people, `json` for CI.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Rows of customers in the sample (the other tables scale with it).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub customers: u32,
    /// Rules to use instead of the embedded rules/demo.yml, to try your own
    /// against the sample. `ANONYMIZE_RULES` is deliberately not read: it
    /// names the rules of a real database.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Log lines instead of progress bars.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Where to write: a file for `sql` (`.gz` or `.zst` at the end
    /// compresses it), a directory for `csv` and `jsonl`. An export already
    /// there is replaced only when the new one is complete.
    #[arg(long)]
    pub out: PathBuf,
    /// `sql`: one script for psql; `csv`/`jsonl`: a file per table, plus
    /// schema.sql and manifest.json.
    #[arg(long, value_enum, default_value_t = ExportFormat::Sql)]
    pub format: ExportFormat,
    /// Keep this share of every root table (`10%`, or `10`: a bare number
    /// is a percentage too), closed over foreign keys.
    #[arg(long)]
    pub subset: Option<String>,
    /// Tables read at once (default: the number of CPUs).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Check the exported rows against the source, as `verify` does; a
    /// leak stops the export (exit 3) and nothing is written.
    #[arg(long)]
    pub verify: bool,
    /// Log lines instead of progress bars.
    #[arg(long)]
    pub no_progress: bool,
    /// Seconds to wait for a source table locked by someone else (a
    /// migration, VACUUM FULL) before giving up, instead of hanging.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub lock_timeout: u64,
}

#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// The export: a `.sql` file (`.gz`/`.zst` too) or a csv/jsonl
    /// directory holding manifest.json.
    pub path: PathBuf,
    /// Target database URL; it is replaced atomically at the end.
    #[arg(long, env = "TARGET_DATABASE_URL", hide_env_values = true)]
    pub target: Option<String>,
    /// Config file whose `target:` is used when --target and
    /// TARGET_DATABASE_URL are not given [default: ./anonymize.yml when it
    /// exists].
    #[arg(long, env = "ANONYMIZE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Replace a target database that has tables and was not made by
    /// anonymize.
    #[arg(long)]
    pub force: bool,
    /// Keep the replaced target as `<target>__prev`.
    #[arg(long)]
    pub keep_previous: bool,
    /// End other sessions on the target when swapping it.
    #[arg(long)]
    pub terminate_connections: bool,
    /// Log lines as text or JSON (one object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Sql,
    Csv,
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// How `check` and `verify` print their findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaMode {
    Create,
    Existing,
}
