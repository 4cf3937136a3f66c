//! The target's schema, from `pg_dump --schema-only` of the source inside
//! the run's snapshot: pre-data (types, tables, functions) before the load,
//! post-data (indexes, constraints, triggers) after it, so no index slows
//! the load and no trigger fires during it. Then sequences, materialized
//! views and statistics.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{anyhow, Context, Result};
use tokio_postgres::Client;

use crate::catalog::Catalog;
use crate::conn::{quote_literal, ConnInfo};
use crate::error::{PgResultExt, UsageError};

/// Which half of the schema.
#[derive(Debug, Clone, Copy)]
pub enum Section {
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
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("pg_dump")));
    }
    candidates.extend(
        crate::ephemeral::versioned_bin_dirs()
            .into_iter()
            .map(|d| d.join("pg_dump")),
    );
    let mut found: Vec<PgDump> = candidates
        .into_iter()
        .filter(|p| p.is_file())
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

/// Runs pg_dump for one section inside snapshot `snapshot`, without owners
/// or privileges, and returns SQL that plain `batch_execute` can run.
pub async fn dump(
    pg_dump: &PgDump,
    source: &ConnInfo,
    snapshot: &str,
    section: Section,
) -> Result<String> {
    dump_with(
        pg_dump,
        source,
        snapshot,
        section,
        Privileges::NONE,
        std::time::Duration::from_secs(60),
        &[],
    )
    .await
}

/// `dump`, with owners and privileges as `privileges` says.
pub async fn dump_with(
    pg_dump: &PgDump,
    source: &ConnInfo,
    snapshot: &str,
    section: Section,
    privileges: Privileges,
    lock_timeout: std::time::Duration,
    exclude_tables: &[crate::catalog::QualifiedName],
) -> Result<String> {
    let mut cmd = tokio::process::Command::new(&pg_dump.path);
    // The tables `-T/-t/-n/-N` left out, by exact name: pg_dump reads a
    // double-quoted pattern part literally, so both sides agree on what
    // was left out.
    for t in exclude_tables {
        let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        cmd.arg(format!(
            "--exclude-table={}.{}",
            quoted(&t.schema),
            quoted(&t.name)
        ));
    }
    // pg_dump locks every table it dumps; a table held by a migration must
    // fail the run after `lock_timeout`, not hang it.
    cmd.arg(format!(
        "--lock-wait-timeout={}ms",
        lock_timeout.as_millis().max(1)
    ));
    if !privileges.owners {
        cmd.arg("--no-owner");
    }
    if !privileges.acl {
        cmd.arg("--no-privileges");
    }
    cmd.args([
        "--schema-only",
        section.flag(),
        "--no-publications",
        "--no-subscriptions",
        "--no-security-labels",
        "--no-tablespaces",
    ])
    .arg(format!("--snapshot={snapshot}"))
    // A cleared environment: pg_dump must never inherit ANONYMIZE_SECRET
    // (or anything else of ours); it gets only the variables below.
    .env_clear()
    // A run stopped by a signal drops this future; pg_dump must not outlive it.
    .kill_on_drop(true)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // pg_dump connects exactly as we do (same host, user, password and
    // TLS settings, all from `libpq_env`): no inherited PG* variable
    // (PGSERVICE, PGSSLMODE, ...) may change where or how it connects.
    for (k, v) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| PG_DUMP_ENV.contains(&k)) {
            cmd.env(k, v);
        }
    }
    for (k, v) in source.libpq_env(pg_dump.major) {
        cmd.env(k, v);
    }
    if let Some(conninfo) = source.libpq_conninfo() {
        cmd.arg(format!("--dbname={conninfo}"));
    }
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {}", pg_dump.path.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        // pg_dump's messages name objects, not row values.
        return Err(anyhow!("pg_dump failed ({}): {}", out.status, err.trim()));
    }
    let text = String::from_utf8(out.stdout).context("pg_dump wrote text that is not UTF-8")?;
    let (text, stripped) = strip_remote_objects(&strip_meta_commands(&text)?);
    if !stripped.is_empty() {
        tracing::warn!(
            objects = %stripped.join(", "),
            "not created in the target: foreign servers, user mappings, foreign tables, \
             publications, subscriptions and the dblink/postgres_fdw extensions would give \
             staging a live path to production"
        );
    }
    Ok(text)
}

/// The environment pg_dump may inherit besides the connection's own
/// settings from `libpq_env`: the locale of its messages, and the home
/// directory. Every `PG*` variable comes from `libpq_env` alone, so a
/// `PGSERVICE` or `PGSSLMODE` of the caller cannot point pg_dump elsewhere.
const PG_DUMP_ENV: &[&str] = &["HOME", "LANG", "LC_ALL", "LC_MESSAGES"];

/// pg_dump entry types that would give the target a live path to another
/// server: they are never created there.
const REMOTE_TYPES: &[&str] = &[
    "SERVER",
    "USER MAPPING",
    "FOREIGN TABLE",
    "FOREIGN DATA WRAPPER",
    "PUBLICATION",
    "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA",
    "SUBSCRIPTION",
    "SUBSCRIPTION TABLE",
];

/// Extensions whose only use is reaching another server: `CREATE
/// EXTENSION dblink` in staging is a live path waiting for a connection
/// string.
const REMOTE_EXTENSIONS: &[&str] = &["dblink", "postgres_fdw"];

/// One `-- Name: …; Type: …; Schema: …` header of a pg_dump script.
struct Header<'a> {
    name: &'a str,
    kind: &'a str,
    schema: &'a str,
}

impl<'a> Header<'a> {
    fn parse(line: &'a str) -> Option<Header<'a>> {
        let rest = line.trim_end().strip_prefix("-- Name: ")?;
        let mut h = Header {
            name: "",
            kind: "",
            schema: "-",
        };
        for part in rest.split("; ") {
            if let Some(t) = part.strip_prefix("Type: ") {
                h.kind = t;
            } else if let Some(s) = part.strip_prefix("Schema: ") {
                h.schema = s;
            } else if h.name.is_empty() {
                h.name = part;
            }
        }
        Some(h)
    }

    /// The object itself is a remote one: `(kind, schema, name)` as the
    /// entries that refer to it will name it.
    fn remote_object(&self) -> Option<(String, String, String)> {
        let is_remote = REMOTE_TYPES.contains(&self.kind)
            || (self.kind == "EXTENSION" && REMOTE_EXTENSIONS.contains(&self.name));
        is_remote.then(|| {
            (
                self.kind.to_string(),
                self.schema.to_string(),
                self.name.into(),
            )
        })
    }

    /// How the warning names a removed object.
    fn shown(&self) -> String {
        match self.schema {
            _ if self.name.starts_with(self.kind) => self.name.to_string(),
            "-" | "" => format!("{} {}", self.kind, self.name),
            s => format!("{} {s}.{}", self.kind, self.name),
        }
    }
}

/// Whether an entry (an ACL, a COMMENT, a SECURITY LABEL, a constraint)
/// belongs to one of the `remote` objects. pg_dump names what such an
/// entry is attached to in its tag, with labels of its own: `SERVER x`
/// and `FOREIGN SERVER x` (ACL), `TABLE t` (the ACL of a foreign table),
/// `COLUMN t.c` (a comment), `EXTENSION dblink`; a constraint's tag is
/// `t name`.
fn refers_to_remote(h: &Header, remote: &[(String, String, String)]) -> bool {
    let is = |kinds: &[&str], schema: &str, name: &str| {
        remote.iter().any(|(k, s, n)| {
            kinds.contains(&k.as_str())
                && (s == schema || s == "-")
                && (n == name || crate::conn::quote_ident(n) == name)
        })
    };
    let (label, object) = match h.name.split_once(' ') {
        Some(split) => split,
        None => return false,
    };
    // Labels of two words first (`FOREIGN SERVER x`, `FOREIGN TABLE x`,
    // `USER MAPPING …`, `FOREIGN DATA WRAPPER x`).
    for (prefix, kinds) in [
        ("FOREIGN SERVER ", &["SERVER"][..]),
        ("FOREIGN TABLE ", &["FOREIGN TABLE"][..]),
        ("FOREIGN DATA WRAPPER ", &["FOREIGN DATA WRAPPER"][..]),
        ("USER MAPPING ", &["USER MAPPING"][..]),
        ("PUBLICATION ", &["PUBLICATION"][..]),
        ("SUBSCRIPTION ", &["SUBSCRIPTION"][..]),
    ] {
        if let Some(name) = h.name.strip_prefix(prefix) {
            return kinds.contains(&"USER MAPPING") || is(kinds, h.schema, name);
        }
    }
    match label {
        "SERVER" => is(&["SERVER"], h.schema, object),
        "EXTENSION" => is(&["EXTENSION"], h.schema, object),
        "TABLE" => is(&["FOREIGN TABLE"], h.schema, object),
        "COLUMN" => {
            let table = match object.starts_with('"') {
                true => split_ident(object).0,
                false => object.split('.').next().unwrap_or("").to_string(),
            };
            is(&["FOREIGN TABLE"], h.schema, &table)
        }
        // `t name`: a constraint, default or trigger of table t.
        _ if matches!(
            h.kind,
            "CONSTRAINT" | "CHECK CONSTRAINT" | "DEFAULT" | "TRIGGER"
        ) =>
        {
            let (table, _) = split_ident(h.name);
            is(&["FOREIGN TABLE"], h.schema, &table)
        }
        _ => false,
    }
}

/// Removes the remote objects (`REMOTE_TYPES`, `REMOTE_EXTENSIONS`) from a
/// pg_dump script, with every entry that refers to one (its ACL, comments,
/// security labels, constraints), and returns the script and what was
/// removed (`SERVER prod_link`, `FOREIGN TABLE public.remote_users`, ...).
/// Entries are matched by the object they refer to, not by the text of
/// their label: an ACL of a foreign table is labelled `TABLE t`.
/// (`--no-publications` and `--no-subscriptions` already keep those two
/// out; stripping them here too guards an older or wrapped pg_dump.)
pub fn strip_remote_objects(script: &str) -> (String, Vec<String>) {
    let remote: Vec<(String, String, String)> = script
        .lines()
        .filter_map(Header::parse)
        .filter_map(|h| h.remote_object())
        .collect();
    let mut out = String::with_capacity(script.len());
    let mut removed = Vec::new();
    let mut skipping = false;
    for line in script.split_inclusive('\n') {
        if let Some(h) = Header::parse(line) {
            let own = h.remote_object().is_some();
            skipping = own || refers_to_remote(&h, &remote);
            if own {
                removed.push(h.shown());
            }
            if skipping {
                // The header's own `--` lines stay: they are comments.
                continue;
            }
        }
        if !skipping {
            out.push_str(line);
        }
    }
    (out, removed)
}

/// Removes the `\restrict` / `\unrestrict` psql meta-commands that pg_dump
/// 15.14+ writes. Any other meta-command is an error rather than something
/// silently skipped (a skipped line once cost another tool a foreign key).
pub fn strip_meta_commands(text: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix('\\') {
            let cmd = rest.split_whitespace().next().unwrap_or("");
            if cmd == "restrict" || cmd == "unrestrict" {
                continue;
            }
            return Err(anyhow!(
                "pg_dump output holds the psql meta-command \\{cmd}, which anonymize cannot run"
            ));
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// One entry of a pg_dump script, split at its `-- Name: …; Type: …;`
/// headers.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: String,
    pub sql: String,
}

/// Splits a pg_dump script into its entries. Text before the first header
/// (session SETs) is returned as an entry of kind `PREAMBLE`.
pub fn entries(script: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = vec![Entry {
        kind: "PREAMBLE".into(),
        sql: String::new(),
    }];
    for line in script.lines() {
        if let Some(rest) = line.strip_prefix("-- Name: ") {
            let kind = rest
                .split("; ")
                .find_map(|p| p.strip_prefix("Type: "))
                .unwrap_or("UNKNOWN")
                .to_string();
            out.push(Entry {
                kind,
                sql: String::new(),
            });
            continue;
        }
        let e = out.last_mut().expect("starts with the preamble");
        e.sql.push_str(line);
        e.sql.push('\n');
    }
    out.retain(|e| {
        e.sql
            .lines()
            .any(|l| !l.trim().is_empty() && !l.starts_with("--"))
    });
    out
}

/// A role as the target server knows it.
#[derive(Debug, Clone)]
pub struct TargetRole {
    pub name: String,
    /// Whether the loading role may give objects to it (superuser, or a
    /// member of it): `ALTER … OWNER TO` needs that.
    pub may_own: bool,
}

/// Reads the target server's roles, for `keep_known_roles`.
pub async fn target_roles(client: &Client) -> Result<Vec<TargetRole>> {
    Ok(client
        .query(
            "SELECT rolname::text, \
                    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) \
                    OR pg_has_role(current_user, oid, 'MEMBER') \
               FROM pg_roles",
            &[],
        )
        .await
        .pg_context(|| "reading the target's roles".into())?
        .iter()
        .map(|r| TargetRole {
            name: r.get(0),
            may_own: r.get(1),
        })
        .collect())
}

/// Keeps the ownership and privilege statements of a pg_dump script whose
/// roles exist in the target (and, for ownership, that the loading role may
/// give objects to); drops the others. Returns the script and the sorted
/// names of the roles whose statements were dropped, for one warning.
///
/// pg_dump writes each such statement on one line: `ALTER … OWNER TO r;`,
/// `GRANT … TO r[, …] [WITH GRANT OPTION];`, `REVOKE … FROM r[, …];` and
/// `ALTER DEFAULT PRIVILEGES FOR ROLE r … GRANT|REVOKE …`.
pub fn keep_known_roles(script: &str, roles: &[TargetRole]) -> (String, Vec<String>) {
    let known = |name: &str, owning: bool| {
        name == "PUBLIC"
            || roles
                .iter()
                .any(|r| r.name == name && (!owning || r.may_own))
    };
    let mut missing = std::collections::BTreeSet::new();
    let mut out = String::with_capacity(script.len());
    // GRANT/REVOKE lines are read only inside pg_dump's ACL entries, so a
    // function body that happens to hold one is never touched.
    let mut in_acl = false;
    for line in script.lines() {
        if let Some(header) = line.strip_prefix("-- Name: ") {
            in_acl = header.contains("; Type: ACL;") || header.contains("; Type: DEFAULT ACL;");
        }
        let named = if in_acl || line.contains(" OWNER TO ") {
            roles_named_by(line)
        } else {
            Vec::new()
        };
        let unknown: Vec<&(String, bool)> = named
            .iter()
            .filter(|(n, owning)| !known(n, *owning))
            .collect();
        if unknown.is_empty() {
            out.push_str(line);
            out.push('\n');
        } else {
            missing.extend(unknown.into_iter().map(|(n, _)| n.clone()));
        }
    }
    (out, missing.into_iter().collect())
}

/// The roles an ownership or privilege line of pg_dump names, each with
/// whether it is to own something; empty for any other line.
fn roles_named_by(line: &str) -> Vec<(String, bool)> {
    let Some(body) = line.strip_suffix(';') else {
        return Vec::new();
    };
    if line.starts_with("ALTER ") && !line.starts_with("ALTER DEFAULT PRIVILEGES") {
        return match body.rsplit_once(" OWNER TO ") {
            Some((_, role)) => vec![(unquote(role), true)],
            None => Vec::new(),
        };
    }
    let mut out = Vec::new();
    let mut rest = body;
    if let Some(r) = rest.strip_prefix("ALTER DEFAULT PRIVILEGES FOR ROLE ") {
        let (role, after) = split_ident(r);
        out.push((role, false));
        rest = after.trim_start();
        if let Some(r) = rest.strip_prefix("IN SCHEMA ") {
            rest = split_ident(r).1.trim_start();
        }
    }
    let grantees = if rest.starts_with("GRANT ") {
        rest.rsplit_once(" TO ").map(|(_, g)| g)
    } else if rest.starts_with("REVOKE ") {
        rest.rsplit_once(" FROM ").map(|(_, g)| g)
    } else {
        None
    };
    let Some(grantees) = grantees else {
        return out;
    };
    let grantees = grantees.trim_end_matches(" WITH GRANT OPTION");
    let (grantees, grantor) = match grantees.split_once(" GRANTED BY ") {
        Some((g, by)) => (g, Some(by)),
        None => (grantees, None),
    };
    let mut list = grantees;
    while !list.is_empty() {
        let (role, after) = split_ident(list);
        out.push((role, false));
        list = after.trim_start().trim_start_matches(',').trim_start();
    }
    if let Some(by) = grantor {
        out.push((unquote(by), false));
    }
    out
}

/// Splits a leading SQL identifier (quoted or not) off `s`.
fn split_ident(s: &str) -> (String, &str) {
    if let Some(q) = s.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = q.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().is_some_and(|(_, n)| *n == '"') {
                    chars.next();
                    name.push('"');
                    continue;
                }
                return (name, &q[i + 1..]);
            }
            name.push(c);
        }
        return (name, "");
    }
    let end = s.find([' ', ',']).unwrap_or(s.len());
    (s[..end].to_string(), &s[end..])
}

fn unquote(s: &str) -> String {
    split_ident(s.trim()).0
}

/// Applies the pre-data script to the (empty) load database.
pub async fn apply_pre_data(client: &Client, script: &str) -> Result<()> {
    client
        .batch_execute(script)
        .await
        .pg_context(|| "creating the schema on the target (pg_dump pre-data)".into())
}

/// Sets every sequence to the source's value, so new rows continue after
/// the copied ones.
pub async fn set_sequences(client: &Client, catalog: &Catalog) -> Result<()> {
    let mut sql = String::new();
    for s in &catalog.sequences {
        if let Some(v) = s.last_value {
            sql.push_str(&format!(
                "SELECT pg_catalog.setval({}::regclass, {v}, {});\n",
                quote_literal(&s.name.sql()),
                s.is_called
            ));
        }
    }
    if sql.is_empty() {
        return Ok(());
    }
    client
        .batch_execute(&sql)
        .await
        .pg_context(|| "setting sequences on the target".into())
}

/// Refreshes the materialized views that were populated in the source.
pub async fn refresh_materialized_views(client: &Client, catalog: &Catalog) -> Result<()> {
    for mv in &catalog.materialized_views {
        client
            .batch_execute(&format!("REFRESH MATERIALIZED VIEW {}", mv.sql()))
            .await
            .pg_context(|| format!("refreshing materialized view {mv}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_and_grants_of_missing_roles_are_dropped() {
        let roles = vec![
            TargetRole {
                name: "postgres".into(),
                may_own: true,
            },
            TargetRole {
                name: "web user".into(),
                may_own: true,
            },
            TargetRole {
                name: "reader".into(),
                may_own: false,
            },
        ];
        let script = "\
ALTER TABLE public.t OWNER TO postgres;
ALTER TABLE public.u OWNER TO alice;
ALTER TABLE public.w OWNER TO reader;
-- Name: TABLE t; Type: ACL; Schema: public; Owner: postgres
GRANT SELECT ON TABLE public.t TO \"web user\";
GRANT SELECT ON TABLE public.t TO reader, ghost WITH GRANT OPTION;
REVOKE ALL ON TABLE public.t FROM PUBLIC;
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: public; Owner: postgres
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO reader;
ALTER DEFAULT PRIVILEGES FOR ROLE boss IN SCHEMA public GRANT SELECT ON TABLES TO reader;
-- Name: f(); Type: FUNCTION; Schema: public; Owner: postgres
GRANT SELECT ON TABLE public.t TO nobody;
";
        let (kept, missing) = keep_known_roles(script, &roles);
        assert_eq!(missing, ["alice", "boss", "ghost", "reader"]);
        assert_eq!(
            kept,
            "\
ALTER TABLE public.t OWNER TO postgres;
-- Name: TABLE t; Type: ACL; Schema: public; Owner: postgres
GRANT SELECT ON TABLE public.t TO \"web user\";
REVOKE ALL ON TABLE public.t FROM PUBLIC;
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: public; Owner: postgres
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT ON TABLES TO reader;
-- Name: f(); Type: FUNCTION; Schema: public; Owner: postgres
GRANT SELECT ON TABLE public.t TO nobody;
"
        );
    }

    #[test]
    fn restrict_lines_are_stripped_and_others_refused() {
        let s =
            strip_meta_commands("\\restrict abc\nCREATE TABLE t();\n\\unrestrict abc\n").unwrap();
        assert_eq!(s, "CREATE TABLE t();\n");
        assert!(strip_meta_commands("\\connect other\n").is_err());
    }

    #[test]
    fn remote_objects_are_stripped_and_named() {
        let script = "SET x = 1;\n\n--\n-- Name: prod; Type: SERVER; Schema: -; Owner: -\n--\n\nCREATE SERVER prod FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db.prod');\n\n--\n-- Name: SERVER prod; Type: COMMENT; Schema: -; Owner: -\n--\n\nCOMMENT ON SERVER prod IS 'x';\n\n--\n-- Name: USER MAPPING app SERVER prod; Type: USER MAPPING; Schema: -; Owner: -\n--\n\nCREATE USER MAPPING FOR app SERVER prod OPTIONS (password 'pw');\n\n--\n-- Name: remote_users; Type: FOREIGN TABLE; Schema: public; Owner: -\n--\n\nCREATE FOREIGN TABLE public.remote_users (id int) SERVER prod;\n\n--\n-- Name: t; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.t (id int);\n";
        let (out, removed) = strip_remote_objects(script);
        assert_eq!(
            removed,
            [
                "SERVER prod",
                "USER MAPPING app SERVER prod",
                "FOREIGN TABLE public.remote_users"
            ]
        );
        assert!(out.contains("SET x = 1;") && out.contains("CREATE TABLE public.t"));
        for gone in [
            "CREATE SERVER",
            "COMMENT ON SERVER",
            "USER MAPPING FOR",
            "FOREIGN TABLE",
            "pw",
        ] {
            assert!(!out.contains(gone), "{gone}: {out}");
        }
    }

    #[test]
    fn entries_split_at_headers() {
        let script = "SET x = 1;\n\n--\n-- Name: t_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n\n--\n-- Name: t f; Type: FK CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.t ADD CONSTRAINT f FOREIGN KEY (p) REFERENCES public.p(id);\n";
        let e = entries(script);
        let kinds: Vec<&str> = e.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["PREAMBLE", "CONSTRAINT", "FK CONSTRAINT"]);
        assert!(e[1].sql.contains("PRIMARY KEY"));
    }
}
