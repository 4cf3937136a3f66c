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
    /// Run the whole pipeline on an embedded sample database.
    Demo(DemoArgs),
}

/// Options every command shares.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Source database URL (read only, never written).
    #[arg(long, env = "SOURCE_DATABASE_URL", hide_env_values = true)]
    pub source: Option<String>,
    /// Rules file, or a directory of *.yml/*.yaml files.
    #[arg(long, env = "ANONYMIZE_RULES", default_value = "rules")]
    pub rules: PathBuf,
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
    /// Keep this share of every root table (10%, 10 or 0.1), closed over
    /// foreign keys.
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
    /// Write a JSON report of the run to this file.
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
    /// End other sessions on the target when swapping it.
    #[arg(long)]
    pub terminate_connections: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: CommonArgs,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaMode {
    Create,
    Existing,
}
