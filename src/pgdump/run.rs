//! Running pg_dump: which binary (at least the source's major version),
//! with which flags and environment, inside the run's snapshot. The
//! script it writes goes through `filter` before anything runs it.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{anyhow, Context, Result};

use super::filter::{strip_meta_commands, strip_remote_objects};
use crate::conn::ConnInfo;
use crate::error::UsageError;
use crate::sql::quote_qualified;

/// Which half of the schema.
#[derive(Debug, Clone, Copy)]
enum Section {
    PreData,
    PostData,
}

impl Section {
    fn flag(self) -> &'static str {
        match self {
            Section::PreData => "--section=pre-data",
            Section::PostData => "--section=post-data",
        }
    }
}

/// A pg_dump binary and its major version.
#[derive(Debug, Clone)]
pub struct PgDump {
    pub path: PathBuf,
    pub major: u32,
}

/// Finds the newest pg_dump on PATH or under /usr/lib/postgresql/*/bin that
/// is at least the source's major version (an older pg_dump refuses newer
/// servers).
pub fn find_pg_dump(server_version: i32) -> Result<PgDump> {
    let needed = (server_version / 10000) as u32;
    // An explicit choice is used as given, never silently replaced by
    // another pg_dump found elsewhere.
    if let Some(p) = std::env::var_os("ANONYMIZE_PG_DUMP").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(p);
        return match version_of(&path) {
            None => Err(UsageError::new(format!(
                "ANONYMIZE_PG_DUMP names {}, which is not a pg_dump that runs; point it at \
                 the PostgreSQL {needed} client's pg_dump, or unset it to search PATH",
                path.display()
            ))
            .into()),
            Some(major) if major < needed => Err(UsageError::new(format!(
                "pg_dump {major} at {} (ANONYMIZE_PG_DUMP) is older than the source server \
                 ({needed}); install the PostgreSQL {needed} client tools",
                path.display()
            ))
            .into()),
            Some(major) => Ok(PgDump { path, major }),
        };
    }
    let mut found: Vec<PgDump> = candidates("pg_dump")
        .into_iter()
        .filter_map(|p| version_of(&p).map(|major| PgDump { path: p, major }))
        .collect();
    found.sort_by_key(|d| std::cmp::Reverse(d.major));
    match found.iter().find(|d| d.major >= needed) {
        Some(d) => Ok(d.clone()),
        None => Err(UsageError::new(match found.first() {
            Some(d) => format!(
                "pg_dump {} at {} is older than the source server ({needed}); install the PostgreSQL {needed} client tools",
                d.major,
                d.path.display()
            ),
            None => format!(
                "pg_dump was not found on PATH or under /usr/lib/postgresql/*/bin; install the PostgreSQL {needed} client tools (e.g. apt-get install postgresql-client-{needed})"
            ),
        })
        .into()),
    }
}

/// The `tool` binaries to try, in order: PATH, then the versioned
/// directories. Each file is tried once (`/bin` is often `/usr/bin`), and
/// Debian's `pg_wrapper` is passed over: it is a Perl script that runs the
/// same binaries from /usr/lib/postgresql/*/bin, which are candidates
/// anyway, and starting Perl cost each pg_dump run about 0.1 s.
fn candidates(tool: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(crate::ephemeral::versioned_bin_dirs());
    let mut seen = std::collections::HashSet::new();
    dirs.into_iter()
        .map(|d| d.join(tool))
        .filter(|p| p.is_file())
        .filter(|p| {
            let real = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            real.file_name().is_none_or(|n| n != "pg_wrapper") && seen.insert(real)
        })
        .collect()
}

fn version_of(path: &Path) -> Option<u32> {
    let out = std::process::Command::new(path)
        .arg("--version")
        .env_clear()
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
    let v = text
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    v.split(['.', 'b', 'r']).next()?.parse().ok()
}

/// Whether the schema carries the source's owners and privileges. A sync
/// keeps both by default (the staging app must keep its access after every
/// weekly run); files meant to load anywhere leave them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privileges {
    pub owners: bool,
    pub acl: bool,
}

impl Privileges {
    pub const NONE: Privileges = Privileges {
        owners: false,
        acl: false,
    };
}

/// pg_dump's pre-data and post-data, as scripts that plain `batch_execute`
/// can run.
#[derive(Debug, Clone)]
pub struct Sections {
    pub pre_data: String,
    pub post_data: String,
}

/// Dumps the schema inside snapshot `snapshot` with one pg_dump run (a
/// custom-format archive of the schema in a private temporary directory),
/// then writes its two sections with `pg_restore`, which reads the archive
/// and connects to nothing.
///
/// One run, not one per section: pg_dump's cost is its catalog reads and a
/// lock per table, the same for either section, so a second run doubled
/// them (at 10,000 tables, seconds of server CPU and 10,000 more locks).
/// Owners and privileges are left in or out as `privileges` says; the
/// tables in `exclude_tables` are left out by exact name.
pub async fn dump_schema(
    pg_dump: &PgDump,
    source: &ConnInfo,
    snapshot: &str,
    privileges: Privileges,
    lock_timeout: std::time::Duration,
    exclude_tables: &[crate::catalog::QualifiedName],
) -> Result<Sections> {
    let pg_restore = find_pg_restore(pg_dump)?;
    let dir = tempfile::Builder::new()
        .prefix("anonymize-schema.")
        .tempdir()
        .context("creating a temporary directory for pg_dump's archive")?;
    let archive = dir.path().join("schema.dump");
    let mut cmd = tokio::process::Command::new(&pg_dump.path);
    // The tables `-T/-t/-n/-N` left out, by exact name: pg_dump reads a
    // double-quoted pattern part literally, so both sides agree on what
    // was left out.
    for t in exclude_tables {
        cmd.arg(format!(
            "--exclude-table={}",
            quote_qualified(&t.schema, &t.name)
        ));
    }
    // pg_dump locks every table it dumps; a table held by a migration must
    // fail the run after `lock_timeout`, not hang it.
    cmd.arg(format!(
        "--lock-wait-timeout={}ms",
        lock_timeout.as_millis().max(1)
    ));
    cmd.args(["--schema-only", "--format=custom", "--file"])
        .arg(&archive)
        .args(left_out(privileges))
        .arg(format!("--snapshot={snapshot}"))
        // A cleared environment: pg_dump must never inherit ANONYMIZE_SECRET
        // (or anything else of ours); it gets only the variables below.
        .env_clear();
    // pg_dump connects exactly as we do (same host, user, password and
    // TLS settings, all from `libpq_env`): no inherited PG* variable
    // (PGSERVICE, PGSSLMODE, ...) may change where or how it connects.
    for (k, v) in source.libpq_env(pg_dump.major) {
        cmd.env(k, v);
    }
    if let Some(conninfo) = source.libpq_conninfo() {
        cmd.arg(format!("--dbname={conninfo}"));
    }
    run(cmd, &pg_dump.path, "pg_dump").await?;
    let (pg_restore, archive) = (&pg_restore, &archive);
    let section = |section: Section| {
        let mut cmd = tokio::process::Command::new(pg_restore);
        cmd.arg(section.flag())
            .args(left_out(privileges))
            .args(["--file", "-"])
            .arg(archive)
            .env_clear();
        async move {
            let out = run(cmd, pg_restore, "pg_restore").await?;
            let text = String::from_utf8(out).context("pg_restore wrote text that is not UTF-8")?;
            let (text, stripped) = strip_remote_objects(&strip_meta_commands(&text)?);
            if !stripped.is_empty() {
                tracing::warn!(
                    objects = %stripped.join(", "),
                    "not created in the target: foreign servers, user mappings, foreign tables, \
                     publications, subscriptions and the dblink/postgres_fdw extensions would give \
                     staging a live path to production"
                );
            }
            Ok::<_, anyhow::Error>(text)
        }
    };
    let (pre_data, post_data) =
        tokio::try_join!(section(Section::PreData), section(Section::PostData))?;
    Ok(Sections {
        pre_data,
        post_data,
    })
}

/// The flags that leave out what the target must not get, or need not:
/// owners and grants as `privileges` says, publications, subscriptions,
/// security labels and tablespaces. pg_dump and pg_restore both take them
/// (pg_dump ignores the owner and grant flags for an archive; pg_restore
/// applies them).
fn left_out(privileges: Privileges) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if !privileges.owners {
        flags.push("--no-owner");
    }
    if !privileges.acl {
        flags.push("--no-privileges");
    }
    flags.extend([
        "--no-publications",
        "--no-subscriptions",
        "--no-security-labels",
        "--no-tablespaces",
    ]);
    flags
}

/// Runs one pg_dump or pg_restore and returns its standard output. Its
/// environment is cleared by the caller, then given `PG_DUMP_ENV`.
async fn run(mut cmd: tokio::process::Command, path: &Path, name: &str) -> Result<Vec<u8>> {
    for (k, v) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| PG_DUMP_ENV.contains(&k)) {
            cmd.env(k, v);
        }
    }
    // A run stopped by a signal drops this future; the child must not
    // outlive it.
    cmd.kill_on_drop(true)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {}", path.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // pg_dump's and pg_restore's messages name objects, not row values.
        return Err(anyhow!("{name} failed ({}): {}", out.status, err.trim()));
    }
    Ok(out.stdout)
}

/// The pg_restore that reads `pg_dump`'s archives: the one beside it, or
/// else the newest of at least its major version on PATH or under
/// /usr/lib/postgresql/*/bin (a wrapper named by ANONYMIZE_PG_DUMP may
/// stand alone in its directory).
fn find_pg_restore(pg_dump: &PgDump) -> Result<PathBuf> {
    let beside = pg_dump.path.with_file_name("pg_restore");
    let mut found = candidates("pg_restore");
    if beside.is_file() {
        found.retain(|p| *p != beside);
        found.insert(0, beside);
    }
    found
        .into_iter()
        .find(|p| version_of(p).is_some_and(|major| major >= pg_dump.major))
        .ok_or_else(|| {
            UsageError::new(format!(
                "pg_restore {major} or newer was not found beside {} or on PATH; install the \
                 PostgreSQL {major} client tools (they ship pg_dump and pg_restore together)",
                pg_dump.path.display(),
                major = pg_dump.major
            ))
            .into()
        })
}

/// The environment pg_dump may inherit besides the connection's own
/// settings from `libpq_env`: the locale of its messages, and the home
/// directory. Every `PG*` variable comes from `libpq_env` alone, so a
/// `PGSERVICE` or `PGSSLMODE` of the caller cannot point pg_dump elsewhere.
const PG_DUMP_ENV: &[&str] = &["HOME", "LANG", "LC_ALL", "LC_MESSAGES"];
