//! `sync`'s options: what the user typed, resolved against the
//! environment and the config file.

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::{SchemaMode, SyncArgs};
use crate::config::{Overrides, Settings};
use crate::conn::ConnInfo;
use crate::error::UsageError;
use crate::pgdump;
use crate::subset::SubsetSpec;

/// Everything a sync needs, resolved from flags and environment.
pub struct SyncOptions {
    pub source: ConnInfo,
    pub target: Option<ConnInfo>,
    pub rules: PathBuf,
    pub subset: Option<SubsetSpec>,
    pub jobs: usize,
    pub dry_run: bool,
    /// How `--dry-run` prints the plan.
    pub plan_format: crate::diagram::Format,
    pub schema: SchemaMode,
    /// `-t/-T/-n/-N/--exclude-table-data`.
    pub selection: crate::selection::Selection,
    pub report: Option<PathBuf>,
    pub progress: bool,
    pub force: bool,
    pub keep_previous: bool,
    pub terminate_connections: bool,
    /// Restore the source's owners and grants where the target has the roles.
    pub privileges: pgdump::Privileges,
    /// How long to wait for a locked source table.
    pub lock_timeout: std::time::Duration,
    /// Run `verify` on the loaded database before the swap.
    pub verify: bool,
    /// Values `verify` samples per column.
    pub verify_sample: u32,
    /// `ANONYMIZE_SECRET`; `None` when unset.
    pub secret: Option<Vec<u8>>,
    /// `--workers`: this process copies, or `anonymize worker`s do.
    pub workers: crate::cli::WorkersMode,
}

impl SyncOptions {
    /// Resolves what the user typed: flags, then environment, then the
    /// config file.
    pub fn from_args(args: &SyncArgs) -> Result<SyncOptions> {
        let settings = Settings::resolve(
            args.common.config.as_deref(),
            Overrides {
                subset: args.subset.as_deref(),
                jobs: args.data.jobs,
                ..Overrides::common(&args.common)
            },
        )?;
        let source = settings.source_conn()?;
        let target = match (&settings.target, args.dry_run) {
            (Some(t), _) => Some(ConnInfo::parse_target(t, "--target")?),
            (None, true) => None,
            (None, false) => {
                settings.require_target()?;
                None
            }
        };
        let subset = settings.subset_spec()?;
        let jobs = settings.jobs_or_cpus()?;
        if args.workers == crate::cli::WorkersMode::External
            && into_mode(args) == SchemaMode::Existing
        {
            return Err(UsageError::new(
                "--workers external loads a fresh database that workers write into; --into \
                 existing loads in one transaction of this process. Leave out one of them",
            )
            .into());
        }
        Ok(SyncOptions {
            source,
            target,
            rules: settings.rules,
            subset,
            jobs,
            dry_run: args.dry_run,
            plan_format: match args.format {
                crate::cli::PlanFormat::Text => crate::diagram::Format::Text,
                crate::cli::PlanFormat::Mermaid => crate::diagram::Format::Mermaid,
                crate::cli::PlanFormat::Dot => crate::diagram::Format::Dot,
            },
            schema: into_mode(args),
            selection: args.select.selection()?,
            report: args.data.report.clone(),
            progress: args.common.progress(),
            force: args.force,
            keep_previous: args.keep_previous,
            terminate_connections: args.terminate_connections,
            privileges: pgdump::Privileges {
                owners: !args.no_owner,
                acl: !args.no_acl,
            },
            lock_timeout: args.lock_timeout,
            verify: args.verify,
            verify_sample: args.sample,
            secret: secret_from_env()?,
            workers: args.workers,
        })
    }
}

/// `--into`, or the deprecated `--schema create|existing` with a warning.
fn into_mode(args: &SyncArgs) -> SchemaMode {
    match (args.into, args.select.deprecated_into()) {
        (Some(mode), _) => mode,
        (None, Some(mode)) => {
            let new = match mode {
                SchemaMode::Create => "new",
                SchemaMode::Existing => "existing",
            };
            tracing::warn!(
                "--schema create|existing is deprecated and will be removed; write --into {new} \
                 (-n/--schema now select schemas, as in pg_dump)"
            );
            mode
        }
        (None, None) => SchemaMode::Create,
    }
}

/// The variable that names a file holding the secret, as Docker and
/// Kubernetes secrets are mounted.
pub const SECRET_FILE_VAR: &str = "ANONYMIZE_SECRET_FILE";

/// `ANONYMIZE_SECRET`, if set and not empty, else the content of the file
/// `ANONYMIZE_SECRET_FILE` names (without its final newline). Both at
/// once is an error: which one wins would be a guess.
pub fn secret_from_env() -> Result<Option<Vec<u8>>> {
    let direct = std::env::var_os("ANONYMIZE_SECRET").filter(|s| !s.is_empty());
    let file = std::env::var_os(SECRET_FILE_VAR).filter(|s| !s.is_empty());
    match (direct, file) {
        (Some(_), Some(_)) => Err(UsageError::new(format!(
            "both ANONYMIZE_SECRET and {SECRET_FILE_VAR} are set; unset one of them"
        ))
        .into()),
        (Some(s), None) => Ok(Some(s.into_encoded_bytes())),
        (None, Some(path)) => read_secret_file(std::path::Path::new(&path)).map(Some),
        (None, None) => Ok(None),
    }
}

/// Reads the secret file, refusing one that every user of the machine can
/// read: the secret would then be as good as public.
fn read_secret_file(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt as _;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        UsageError::new(format!(
            "{SECRET_FILE_VAR}={shown}: cannot read it ({e}); check the path and the mount"
        ))
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 != 0 {
        return Err(UsageError::new(format!(
            "{SECRET_FILE_VAR}={shown} is readable by every user (mode {mode:04o}); \
             run `chmod o-r {shown}` (Kubernetes: defaultMode: 0440)"
        ))
        .into());
    }
    let mut bytes = std::fs::read(path)
        .map_err(|e| UsageError::new(format!("{SECRET_FILE_VAR}={shown}: cannot read it ({e})")))?;
    // `echo secret > file` adds a newline that is not part of the secret.
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(UsageError::new(format!("{SECRET_FILE_VAR}={shown} is empty")).into());
    }
    Ok(bytes)
}
