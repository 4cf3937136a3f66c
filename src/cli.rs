//! The command line as the user typed it (clap derive). Turning it into
//! runnable options happens in the command modules.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::yaml::Value;

// Here rather than in `config`, so that `config` (the file) does not
// depend on the command line's types: `cli` reads `config`, not both ways.
impl<'a> crate::config::Overrides<'a> {
    /// The overrides every command shares.
    pub fn common(args: &'a CommonArgs) -> crate::config::Overrides<'a> {
        crate::config::Overrides {
            source: args.source.as_deref(),
            target: args.target.as_deref(),
            rules: args.rules.as_deref(),
            ..crate::config::Overrides::default()
        }
    }
}

/// Copy a PostgreSQL database with personal data replaced, deterministically,
/// by YAML rules.
#[derive(Debug, Parser)]
#[command(name = "anonymize", version = VERSION)]
#[command(after_help = AFTER_HELP)]
pub struct Cli {
    /// `sync`'s options, for `anonymize` without a subcommand. First, so
    /// that `--help` lists them under "Options", before the global ones.
    #[command(flatten)]
    pub sync: SyncArgs,
    /// The options every command takes, before or after the subcommand.
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The command-line arguments that the config file's keys stand for, for
/// the command being run: a top-level key sets the option of that name
/// wherever a command has it, a `sync:`/`export:`/… section sets that
/// command's. What the command line or the environment gave wins. A key
/// no command knows is an error with a did-you-mean.
fn config_args(
    command: &mut clap::Command,
    matches: &clap::ArgMatches,
) -> Result<Vec<String>, clap::Error> {
    use clap::parser::ValueSource;
    let explicit = matches.get_one::<PathBuf>("config");
    let Some(path) = crate::config::locate(explicit.map(PathBuf::as_path)) else {
        return Ok(Vec::new());
    };
    // A file that does not load is reported by the command, as before.
    let Ok(file) = crate::config::load(&path) else {
        return Ok(Vec::new());
    };
    command.build();
    let shown = path.display().to_string();
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let (running, run_matches) = matches.subcommand().unwrap_or(("sync", matches));
    let commands: Vec<clap::Command> = command
        .get_subcommands()
        .filter(|c| c.get_name() != "help")
        .cloned()
        .collect();
    let options = |name: &str| -> Vec<clap::Arg> {
        commands
            .iter()
            .find(|c| c.get_name() == name)
            .map(|c| {
                c.get_arguments()
                    .filter(|a| {
                        a.get_long()
                            .is_some_and(|l| !matches!(l, "help" | "config"))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let at = |path: &[&str]| {
        file.position_of(path)
            .map(|(l, c)| format!(":{l}:{c}"))
            .unwrap_or_default()
    };
    let unknown = |path: &[&str], known: &mut dyn Iterator<Item = String>| {
        let key = path.last().copied().unwrap_or_default();
        let known: Vec<String> = known.collect();
        let refs: Vec<&str> = known.iter().map(String::as_str).collect();
        // The file's own keys win a tie (`sorce` is `source`, not `force`).
        let guess = crate::did_you_mean::closest(key, crate::config::RESOLVED_KEYS.iter().copied())
            .or_else(|| crate::did_you_mean::closest(key, refs.iter().copied()))
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        let within = if path.len() > 1 {
            format!(" in `{}:`", path[0])
        } else {
            String::new()
        };
        clap::Error::raw(
            clap::error::ErrorKind::UnknownArgument,
            format!(
                "{shown}{}: unknown key `{key}`{within}{guess} (the keys are the long options \
                 of `anonymize <command> --help`, with _ or -)\n",
                at(path)
            ),
        )
    };
    let key_of = |a: &clap::Arg| a.get_long().unwrap_or_default().replace('-', "_");
    let mut extra = Vec::new();
    let mut set = |arg: &clap::Arg, value: &crate::yaml::Node, path: &[&str]| {
        let id = arg.get_id().as_str();
        if matches!(
            run_matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            return Ok(());
        }
        let long = format!("--{}", arg.get_long().unwrap_or_default());
        let scalar = |v: &crate::yaml::Node| v.scalar_text();
        let bad = |what: &str| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("{shown}{}: `{}` takes {what}\n", at(path), key_of(arg)),
            )
        };
        match arg.get_action() {
            clap::ArgAction::SetTrue => match value.value {
                Value::Bool(true) => extra.push(long),
                Value::Bool(false) => {}
                _ => return Err(bad("true or false")),
            },
            clap::ArgAction::Count => match value.as_u64() {
                Some(n) => extra.extend((0..n).map(|_| long.clone())),
                None => return Err(bad("a number")),
            },
            _ => {
                let values: Vec<String> = match &value.value {
                    Value::Sequence(list) => list
                        .iter()
                        .map(scalar)
                        .collect::<Option<_>>()
                        .ok_or_else(|| bad("a list of values"))?,
                    _ => vec![scalar(value).ok_or_else(|| bad("a value"))?],
                };
                for v in values {
                    // Paths in the file are relative to the file.
                    let v = if matches!(id, "report" | "out")
                        && v != "-"
                        && Path::new(&v).is_relative()
                    {
                        base.join(&v).display().to_string()
                    } else {
                        v
                    };
                    extra.push(format!("{long}={v}"));
                }
            }
        }
        Ok::<(), clap::Error>(())
    };
    let running_options = options(running);
    for (key, value) in &file.options {
        let key = key.as_str();
        if let Some(section) = commands.iter().find(|c| c.get_name() == key) {
            let Value::Mapping(map) = &value.value else {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::InvalidValue,
                    format!(
                        "{shown}{}: `{key}:` holds the options of `{key}`, as a map\n",
                        at(&[key])
                    ),
                ));
            };
            let own = options(section.get_name());
            for (k2, v2) in map {
                let k2 = k2.as_str().unwrap_or_default();
                let arg = own.iter().find(|a| key_of(a) == k2.replace('-', "_"));
                match arg {
                    None => return Err(unknown(&[key, k2], &mut own.iter().map(key_of))),
                    Some(a) if key == running => set(a, v2, &[key, k2])?,
                    Some(_) => {}
                }
            }
            continue;
        }
        if crate::config::RESOLVED_KEYS.contains(&key) {
            continue;
        }
        let wanted = key.replace('-', "_");
        if let Some(a) = running_options.iter().find(|a| key_of(a) == wanted) {
            set(a, value, &[key])?;
            continue;
        }
        // Another command's option: not for this run.
        let elsewhere = commands
            .iter()
            .any(|c| options(c.get_name()).iter().any(|a| key_of(a) == wanted));
        if !elsewhere {
            // The file's own keys first: a tie goes to them.
            let mut all = crate::config::RESOLVED_KEYS
                .iter()
                .map(|k| k.to_string())
                .chain(commands.iter().flat_map(|c| {
                    let mut keys: Vec<String> = options(c.get_name()).iter().map(key_of).collect();
                    keys.push(c.get_name().to_string());
                    keys
                }));
            return Err(unknown(&[key], &mut all));
        }
    }
    Ok(extra)
}

/// `--version`: the version, the git commit it was built from, and the
/// PostgreSQL majors it supports.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ANONYMIZE_GIT_COMMIT"),
    ")\nsupports PostgreSQL ",
    "13 to 17 as source and target (the test suite runs 15); pg_dump must be at least the source's major"
);

/// The end of `--help`: every exit code (`error::EXIT_*`) and the default
/// command.
pub const AFTER_HELP: &str = "Exit codes: 0 done; 1 runtime failure; 2 bad usage, config or rules \
(nothing written); 3 check found gaps or verify found a leak; 4 the sync replaced the target but \
its --report could not be written; 130/143 interrupted by SIGINT/SIGTERM (nothing half-done \
left).\n\
Without a subcommand, `sync` runs: `anonymize --subset 10%`.";

impl Cli {
    /// Parses the command line and hands the global options to the
    /// subcommand's arguments, so that each command reads one struct.
    pub fn parse_args() -> Cli {
        match Cli::try_parse_args(std::env::args_os()) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        }
    }

    /// `parse_args` without exiting, for tests.
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args.clone())?;
        // `sync`'s own options before another subcommand
        // (`anonymize --subset 10% check`) would be silently ignored:
        // refuse them, as clap's args_conflicts_with_subcommands would
        // (which cannot spare the global options).
        if let Some((name, _)) = matches.subcommand().filter(|(n, _)| *n != "sync") {
            let sync_only: Vec<(&str, String)> = command
                .get_arguments()
                .filter(|a| !a.is_global_set())
                .map(|a| {
                    let flag = match (a.get_long(), a.get_short()) {
                        (Some(l), _) => format!("--{l}"),
                        (None, Some(s)) => format!("-{s}"),
                        (None, None) => a.get_id().to_string(),
                    };
                    (a.get_id().as_str(), flag)
                })
                .collect();
            for (id, flag) in &sync_only {
                let typed = matches.try_contains_id(id).unwrap_or(false)
                    && matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
                if typed {
                    return Err(command.error(
                        clap::error::ErrorKind::ArgumentConflict,
                        format!(
                            "{flag} is an option of `sync`, not of `{name}`; write it after \
                             `sync`, or leave the subcommand out"
                        ),
                    ));
                }
            }
        }
        // Options from the config file, for what the command line and the
        // environment left unset: parsed again, by clap's own parsers.
        let extra = config_args(&mut command, &matches)?;
        let matches = if extra.is_empty() {
            matches
        } else {
            let mut all = args;
            all.extend(extra.into_iter().map(Into::into));
            Cli::command().try_get_matches_from(all)?
        };
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.distribute_common();
        Ok(cli)
    }

    /// Copies the global options into the chosen command's `common`.
    pub fn distribute_common(&mut self) {
        let mut common = self.common.clone();
        // The demo reads --rules only: ANONYMIZE_RULES names the rules of
        // a real database.
        if common.rules.is_none() && !matches!(self.command, Some(Command::Demo(_))) {
            common.rules = std::env::var_os("ANONYMIZE_RULES")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from);
        }
        match &mut self.command {
            None => self.sync.common = common,
            Some(Command::Sync(a)) => a.common = common,
            Some(Command::Check(a)) => a.common = common,
            Some(Command::Init(a)) => a.common = common,
            Some(Command::Verify(a)) => a.common = common,
            Some(Command::Demo(a)) => a.common = common,
            Some(Command::Export(a)) => a.common = common,
            Some(Command::Load(a)) => a.common = common,
            Some(Command::Filter(a)) => a.common = common,
            Some(Command::Worker(a)) => a.common = common,
            Some(Command::Completions { .. } | Command::Man) => {}
        }
    }
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
    /// Mask a plain pg_dump script (a file, or stdin) to stdout: every COPY
    /// block through the rules, every statement as it was. Custom format:
    /// `pg_restore -f - dump.pgc | anonymize filter`.
    Filter(FilterArgs),
    /// One of many runners of one sync: joins the run that `sync --workers
    /// external` (the coordinator) wrote into `<target>__next`, imports its
    /// snapshot and copies work units until none is left.
    Worker(WorkerArgs),
    /// Print a shell completion script: `anonymize completions bash >
    /// /etc/bash_completion.d/anonymize` (zsh: a `_anonymize` file on
    /// $fpath; fish: ~/.config/fish/completions/anonymize.fish).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `anonymize man > anonymize.1`.
    Man,
}

/// Options every command takes, before or after the subcommand
/// (`anonymize --source X check` and `anonymize check --source X` alike).
/// Each command receives them in its `common` field.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Global options")]
pub struct CommonArgs {
    /// Source database (URL or key=value string; read only, never
    /// written). Without it and SOURCE_DATABASE_URL, the PG* environment
    /// and PGSERVICE say where, as for psql.
    #[arg(
        long,
        global = true,
        env = "SOURCE_DATABASE_URL",
        hide_env_values = true
    )]
    pub source: Option<String>,
    /// Target database (URL or key=value string); sync and load replace
    /// it atomically at the end of the run. Never taken from PG*.
    #[arg(
        long,
        global = true,
        env = "TARGET_DATABASE_URL",
        hide_env_values = true
    )]
    pub target: Option<String>,
    /// Rules file, or a directory of *.yml/*.yaml files [env:
    /// ANONYMIZE_RULES] [default: rules].
    #[arg(long, global = true)]
    pub rules: Option<PathBuf>,
    /// Config file [default: ./anonymize.yml when it exists]: any long
    /// option as a key (`lock_timeout: 5s`), top-level or in a section
    /// per command (`sync:`). Flags and environment variables win over it.
    #[arg(long, global = true, env = "ANONYMIZE_CONFIG", hide_env_values = true)]
    pub config: Option<PathBuf>,
    /// Log lines as text or JSON (one object per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log lines instead of progress bars.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// More log lines: -v debug, -vv trace.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Fewer log lines: -q warnings and errors only, -qq errors only.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// The log level, instead of -v/-q [env: ANONYMIZE_LOG].
    #[arg(long, global = true, value_enum, conflicts_with_all = ["verbose", "quiet"])]
    pub log_level: Option<LogLevel>,
}

impl CommonArgs {
    /// The level -v/-q/--log-level ask for; `None` leaves it to
    /// `ANONYMIZE_LOG` (default info).
    pub fn log_level(&self) -> Option<LogLevel> {
        if let Some(l) = self.log_level {
            return Some(l);
        }
        match (self.verbose, self.quiet) {
            (0, 0) => None,
            (1, _) => Some(LogLevel::Debug),
            (v, _) if v > 1 => Some(LogLevel::Trace),
            (_, 1) => Some(LogLevel::Warn),
            _ => Some(LogLevel::Error),
        }
    }

    /// Progress bars: on unless --no-progress, and never between JSON log
    /// lines (they would break "one object per line").
    pub fn progress(&self) -> bool {
        !self.no_progress && self.log_format == LogFormat::Text
    }
}

/// The options of the commands that move rows (`sync`, `export`, `load`),
/// spelled the same in each.
#[derive(Debug, Args, Clone, Default)]
pub struct DataArgs {
    /// Tables copied at once (default: the number of CPUs).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Write a JSON report of the run to this file (fields in
    /// docs/report.md). `-` prints it to stdout as one line instead of the
    /// summary table, for log collectors (Kubernetes).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct SyncArgs {
    #[arg(skip)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Keep this share of the business: `10%` or `10` (a bare number is a
    /// percentage: `1` is 1%, `0.5` is half a percent). Small reference
    /// tables come whole; everything is closed over foreign keys.
    #[arg(long)]
    pub subset: Option<String>,
    /// Print the plan and stop; nothing is written.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: `text`, or a picture of the tables, their foreign
    /// keys, subset roles and masked columns as `mermaid` (GitHub
    /// Markdown) or `dot` (Graphviz).
    #[arg(long, value_enum, requires = "dry_run", default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// `new`: build the schema from pg_dump in a fresh database, then swap
    /// it in. `existing`: keep the target's schema (made by the app's
    /// migrations); truncate and load in one transaction. (Formerly
    /// `--schema create|existing`, still read, with a warning.)
    #[arg(long, value_enum, value_name = "new|existing")]
    pub into: Option<SchemaMode>,
    #[command(flatten)]
    pub select: SelectArgs,
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
    /// How long to wait for a source table locked by someone else (a
    /// migration, VACUUM FULL) before giving up, instead of hanging:
    /// `500ms`, `5s`, `2min`, `1h`, as PostgreSQL writes durations; a bare
    /// number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// End other sessions on the target when swapping it.
    #[arg(long)]
    pub terminate_connections: bool,
    /// Run `verify` against the loaded database before it replaces the
    /// target; a leak stops the run (exit 3) and the target stays as it was.
    #[arg(long)]
    pub verify: bool,
    /// With --verify: values sampled per column.
    #[arg(long, requires = "verify", default_value_t = crate::verify::DEFAULT_SAMPLE)]
    pub sample: u32,
    /// Who copies the rows: `local`, this process (--jobs at once), or
    /// `external`: this process coordinates (plan, snapshot, schema,
    /// post-data, swap) and `anonymize worker` processes, on any machines,
    /// copy the work units (docs/operations.md, "Past one machine").
    #[arg(long, value_enum, default_value_t = WorkersMode::Local)]
    pub workers: WorkersMode,
}

/// `sync --workers`: who copies the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkersMode {
    /// This process.
    Local,
    /// `anonymize worker` processes; this one coordinates.
    External,
}

#[derive(Debug, Args, Clone)]
pub struct WorkerArgs {
    #[arg(skip)]
    pub common: CommonArgs,
    /// Work units copied at once by this worker.
    #[arg(long, short = 'j', default_value_t = 1)]
    pub jobs: usize,
    /// This worker's name in the control table and the coordinator's
    /// report [default: $JOB_COMPLETION_INDEX as `worker-N` in a
    /// Kubernetes Indexed Job, else host name and process id].
    #[arg(long)]
    pub name: Option<String>,
    /// How long to wait for the coordinator to write its run (workers may
    /// start first): `30s`, `10min`; a bare number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "10min", value_parser = parse_duration)]
    pub wait: std::time::Duration,
    /// How long to wait for a source table locked by someone else.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
}

/// pg_dump's table selection, with its patterns (`*`, `?`, `schema.table`,
/// `"Quoted Name"`); each flag may be repeated.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Only tables matching PATTERN (then -n/-N do not apply), as pg_dump -t.
    #[arg(short = 't', long = "table", value_name = "PATTERN")]
    pub table: Vec<String>,
    /// Leave out tables matching PATTERN, as pg_dump -T. A kept table that
    /// references one is an error naming both.
    #[arg(short = 'T', long = "exclude-table", value_name = "PATTERN")]
    pub exclude_table: Vec<String>,
    /// Only tables in schemas matching PATTERN, as pg_dump -n.
    #[arg(short = 'n', value_name = "PATTERN")]
    pub schema_short: Vec<String>,
    /// The same as -n. (`--schema create|existing` is sync's former
    /// spelling of --into; use -n for schemas named so.)
    #[arg(long = "schema", value_name = "PATTERN")]
    pub schema: Vec<String>,
    /// Leave out schemas matching PATTERN, as pg_dump -N.
    #[arg(short = 'N', long = "exclude-schema", value_name = "PATTERN")]
    pub exclude_schema: Vec<String>,
    /// Create tables matching PATTERN but copy none of their rows (as
    /// `skip: true`), as pg_dump --exclude-table-data.
    #[arg(long = "exclude-table-data", value_name = "PATTERN")]
    pub exclude_table_data: Vec<String>,
}

impl SelectArgs {
    /// `--schema create|existing`: the former spelling of `--into`.
    pub fn deprecated_into(&self) -> Option<SchemaMode> {
        self.schema.iter().rev().find_map(|s| match s.as_str() {
            "create" => Some(SchemaMode::Create),
            "existing" => Some(SchemaMode::Existing),
            _ => None,
        })
    }

    /// The selection, compiled (`--schema create|existing` left out).
    pub fn selection(&self) -> anyhow::Result<crate::selection::Selection> {
        let schemas: Vec<String> = self
            .schema_short
            .iter()
            .chain(
                self.schema
                    .iter()
                    .filter(|s| !matches!(s.as_str(), "create" | "existing")),
            )
            .cloned()
            .collect();
        crate::selection::Selection::parse(
            &self.table,
            &self.exclude_table,
            &schemas,
            &self.exclude_schema,
            &self.exclude_table_data,
        )
    }
}

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    #[arg(skip)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// `text` for people, `json` for CI, `github` for GitHub Actions
    /// annotations on the pull request's diff.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// The sync's `--into`: with `existing`, also read the target (`--target`
    /// or the config's) for what that load would refuse there.
    #[arg(long, value_enum, value_name = "new|existing")]
    pub into: Option<SchemaMode>,
}

#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    #[arg(skip)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub select: SelectArgs,
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
}

#[derive(Debug, Args, Clone)]
pub struct VerifyArgs {
    #[arg(skip)]
    pub common: CommonArgs,
    /// Values sampled per column.
    #[arg(long, default_value_t = crate::verify::DEFAULT_SAMPLE)]
    pub sample: u32,
    /// `text` for people, `json` for CI.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// `--rules` here names rules to use instead of the embedded
    /// rules/demo.yml, to try your own against the sample.
    /// `ANONYMIZE_RULES` is deliberately not read: it names the rules of a
    /// real database.
    #[arg(skip)]
    pub common: CommonArgs,
    /// Rows of customers in the sample (the other tables scale with it).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub customers: u32,
}

#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    #[arg(skip)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Where to write: a file for `sql` (`.gz` or `.zst` at the end
    /// compresses it), a directory for `csv` and `jsonl`. An export already
    /// there is replaced only when the new one is complete. `-` writes the
    /// sql to stdout once it is complete (staged in $TMPDIR), for `| gzip`
    /// or `| psql`.
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
    /// Check the exported rows against the source, as `verify` does; a
    /// leak stops the export (exit 3) and nothing is written.
    #[arg(long)]
    pub verify: bool,
    /// With --verify: values sampled per column.
    #[arg(long, requires = "verify", default_value_t = crate::verify::DEFAULT_SAMPLE)]
    pub sample: u32,
    /// How long to wait for a source table locked by someone else (a
    /// migration, VACUUM FULL) before giving up, instead of hanging:
    /// `500ms`, `5s`, `2min`, `1h`, as PostgreSQL writes durations; a bare
    /// number is seconds.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// The export: a `.sql` file (`.gz`/`.zst` too), a csv/jsonl
    /// directory holding manifest.json, or `-` for a sql script on stdin.
    pub path: PathBuf,
    #[arg(skip)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub data: DataArgs,
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
pub struct FilterArgs {
    #[arg(skip)]
    pub common: CommonArgs,
    /// The plain-format pg_dump script (`.gz`/`.zst` too); `-` or nothing
    /// reads stdin.
    pub path: Option<PathBuf>,
}

pub use crate::export::format::ExportFormat;
pub use crate::logging::{LogFormat, LogLevel};

// The formats are the manifest's and the logger's; these say how the
// command line spells them.
impl ValueEnum for ExportFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &ExportFormat::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl ValueEnum for LogFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &LogFormat::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

impl ValueEnum for LogLevel {
    fn value_variants<'a>() -> &'a [Self] {
        &LogLevel::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.directive()))
    }
}

/// How `--dry-run` prints the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    Text,
    Mermaid,
    Dot,
}

/// How `check` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    /// GitHub Actions annotations (`::error file=…,line=…,col=…::…`).
    Github,
}

/// How `check` and `verify` print their findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// `--into`: where the rows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaMode {
    /// A fresh database with pg_dump's schema, swapped in.
    #[value(name = "new")]
    Create,
    /// The target's own schema, truncated and loaded.
    Existing,
}

/// A duration as PostgreSQL's settings write it: a number and a unit
/// (`ms`, `s`, `min`, `h`, `d`), or a bare number of seconds (what
/// `--lock-timeout` took before it had units).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 500ms, 5s, 2min or 1h"))?;
    let millis = match unit.trim() {
        "" | "s" => 1_000.0,
        "ms" => 1.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        other => {
            return Err(format!(
                "unknown unit `{other}`; use ms, s, min, h or d (500ms, 5s, 2min)"
            ))
        }
    };
    Ok(std::time::Duration::from_millis(
        (value * millis).round() as u64
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_take_postgresql_units_and_a_bare_number_is_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_duration("soon").is_err());
    }
}
