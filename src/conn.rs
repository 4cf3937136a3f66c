//! Connection strings and connecting, with libpq's conventions: URL or
//! `key=value` strings, the `PG*` environment, `~/.pgpass`, several hosts
//! with `target_session_attrs`, and TLS from `disable` to `verify-full`.
//!
//! A string is parsed once into a `ConnInfo`; from then on we only print it
//! through `Redacted`, which never shows the password, and we hand it to
//! `pg_dump` through `PG*` environment variables rather than argv, where
//! any user of the machine could read it.
//!
//! The first connection that succeeds pins its host: every later
//! connection of the run (snapshot workers, pg_dump) goes to that same
//! server, because an exported snapshot exists on one server only.

mod explain;
mod params;
pub mod passfile;
pub mod read_gate;
pub mod replica;
mod service;
pub mod tls;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use tokio_postgres::config::{ChannelBinding, SslMode as PgSslMode};
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{PgResultExt, UsageError};
use tls::{RootCert, SslMode, TlsSettings};

/// Every connection parameter we accept, with the environment variable
/// that supplies it when the string does not. `docs/operations.md` lists
/// them; anything else is refused, as libpq refuses unknown parameters.
pub const PARAMETERS: &[(&str, Option<&str>)] = &[
    ("host", Some("PGHOST")),
    ("hostaddr", Some("PGHOSTADDR")),
    ("port", Some("PGPORT")),
    ("dbname", Some("PGDATABASE")),
    ("user", Some("PGUSER")),
    ("password", Some("PGPASSWORD")),
    ("passfile", Some("PGPASSFILE")),
    ("options", Some("PGOPTIONS")),
    ("application_name", Some("PGAPPNAME")),
    ("fallback_application_name", None),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    ("keepalives", None),
    ("keepalives_idle", None),
    ("keepalives_interval", None),
    ("keepalives_count", None),
    ("tcp_user_timeout", None),
    ("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
    ("sslmode", Some("PGSSLMODE")),
    ("sslrootcert", Some("PGSSLROOTCERT")),
    ("sslcert", Some("PGSSLCERT")),
    ("sslkey", Some("PGSSLKEY")),
    ("channel_binding", Some("PGCHANNELBINDING")),
    ("gssencmode", Some("PGGSSENCMODE")),
    ("sslsni", Some("PGSSLSNI")),
    ("sslcompression", Some("PGSSLCOMPRESSION")),
    // `PGSERVICE` is read for the source only (`ConnInfo::parse_target`).
    ("service", None),
];

/// The variables that say where libpq would connect: with any of them set,
/// a run without `--source` reads from there, as psql would.
pub const LOCATION_VARIABLES: &[&str] = &[
    "PGSERVICE",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
];

/// Settings a libpq tool (pg_dump) gets exactly as the user gave them,
/// besides those `libpq_env` derives from what we resolved (host, user,
/// password, TLS files): how pg_dump authenticates and keeps its
/// connection must not be weaker than ours (`channel_binding=require`).
/// Those with a `PG*` variable go through the environment, the others in
/// `libpq_conninfo`.
const FORWARDED: &[&str] = &[
    "channel_binding",
    "gssencmode",
    "sslsni",
    "sslcompression",
    "target_session_attrs",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
];

/// What DBAs see in `pg_stat_activity` unless the string says otherwise.
pub const APPLICATION_NAME: &str = "anonymize";

/// TCP keepalive defaults: a dead peer behind a NAT or load balancer is
/// noticed in about two minutes instead of the kernel's two hours.
const KEEPALIVES_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVES_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVES_COUNT: u32 = 6;

/// libpq's `target_session_attrs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAttrs {
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    PreferStandby,
}

impl SessionAttrs {
    fn parse(s: &str) -> Option<SessionAttrs> {
        Some(match s {
            "any" => SessionAttrs::Any,
            "read-write" => SessionAttrs::ReadWrite,
            "read-only" => SessionAttrs::ReadOnly,
            "primary" => SessionAttrs::Primary,
            "standby" => SessionAttrs::Standby,
            "prefer-standby" => SessionAttrs::PreferStandby,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            SessionAttrs::Any => "any",
            SessionAttrs::ReadWrite => "read-write",
            SessionAttrs::ReadOnly => "read-only",
            SessionAttrs::Primary => "primary",
            SessionAttrs::Standby => "standby",
            SessionAttrs::PreferStandby => "prefer-standby",
        }
    }
}

/// One host of the list: a name (or a Unix socket directory), an optional
/// address that skips the name lookup, and a port.
#[derive(Debug, Clone)]
struct Endpoint {
    host: String,
    hostaddr: Option<IpAddr>,
    port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Socket directories and IPv6 addresses in brackets, as in URLs.
        if self.host.starts_with('/') || self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Where a password came from, to say where to fix it.
#[derive(Debug, Clone)]
enum PasswordFrom {
    String,
    Env,
    Passfile(PathBuf),
}

/// A parsed connection string, defaults and environment resolved.
#[derive(Clone)]
pub struct ConnInfo {
    /// The settings as `tokio_postgres` sees them (every host; no TLS
    /// files), for callers that read the user or database.
    pub config: Config,
    hosts: Vec<Endpoint>,
    user: String,
    password: Option<(String, PasswordFrom)>,
    passfile: Option<PathBuf>,
    dbname: String,
    options: Option<String>,
    application_name: String,
    connect_timeout: Option<Duration>,
    keepalives: bool,
    keepalives_idle: Duration,
    keepalives_interval: Duration,
    keepalives_count: u32,
    tcp_user_timeout: Option<Duration>,
    channel_binding: Option<ChannelBinding>,
    target: SessionAttrs,
    tls: TlsSettings,
    /// The libpq settings given (in the string or the `PG*` environment)
    /// that libpq tools must get as given (`FORWARDED`), in that order.
    forwarded: Vec<(&'static str, String)>,
    /// The index in `hosts` of the server this run is on, once known;
    /// shared by clones and `with_dbname`.
    pinned: Arc<Mutex<Option<usize>>>,
}

impl ConnInfo {
    /// Parses a `postgresql://` URL or a `key=value` string, with the `PG*`
    /// environment for what it leaves out. `what` names the setting in the
    /// error ("--source").
    pub fn parse(url: &str, what: &str) -> Result<ConnInfo> {
        let info = Self::parse_with_env(url, what, |k| std::env::var(k).ok())?;
        let in_string = matches!(info.password, Some((_, PasswordFrom::String)));
        if in_string && on_command_line(url) {
            tracing::warn!(
                "{what} holds a password on the command line, where every user of this machine \
                 can read it (ps, /proc) while the run lasts; give it through PGPASSWORD, \
                 ~/.pgpass or passfile=, or put the whole URL in SOURCE_DATABASE_URL / \
                 TARGET_DATABASE_URL (an environment only its owner can read)"
            );
        }
        Ok(info)
    }

    /// `parse` for a target: `PGSERVICE` is not read, so a service meant
    /// for psql sessions (often production) never fills in what a
    /// `--target` string leaves out. A `service=` in the string is read.
    pub fn parse_target(url: &str, what: &str) -> Result<ConnInfo> {
        Self::parse_with_env(url, what, |k| {
            (k != "PGSERVICE").then(|| std::env::var(k).ok()).flatten()
        })
    }

    /// Where libpq would connect with no connection string: the `PG*`
    /// environment and `PGSERVICE`.
    pub fn from_environment(what: &str) -> Result<ConnInfo> {
        Self::from_pairs(Vec::new(), what, |k| std::env::var(k).ok())
    }

    fn parse_with_env(
        url: &str,
        what: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ConnInfo> {
        let pairs = params::parse(url).map_err(|e| {
            // Never the input itself: it may hold the password.
            UsageError::new(format!(
                "{what}: not a valid PostgreSQL connection string ({e}); expected \
                 postgresql://user:password@host:port/dbname?param=value or key=value pairs"
            ))
        })?;
        Self::from_pairs(pairs, what, env)
    }

    /// Resolves parameters as libpq does: the string's, then the service's
    /// (`service=` or `PGSERVICE`), then the `PG*` environment, then
    /// defaults.
    fn from_pairs(
        pairs: Vec<(String, String)>,
        what: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ConnInfo> {
        let usage = |msg: String| anyhow::Error::new(UsageError::new(format!("{what}: {msg}")));
        // Names the parameter (never its value, which may be a password).
        let unknown = |k: &str, at: &str| {
            let guess = params::closest(k, PARAMETERS.iter().map(|(p, _)| *p))
                .map(|p| format!("did you mean \"{p}\"? "))
                .unwrap_or_default();
            usage(format!(
                "{at}unknown connection parameter \"{k}\"; {guess}the supported ones are \
                 listed in docs/operations.md"
            ))
        };
        let mut given: std::collections::HashMap<&'static str, String> = Default::default();
        for (k, v) in pairs {
            let Some((known, _)) = PARAMETERS.iter().find(|(p, _)| *p == k) else {
                return Err(unknown(&k, ""));
            };
            given.insert(known, v);
        }
        let service = given.get("service").cloned().or_else(|| env("PGSERVICE"));
        if let Some(name) = service.filter(|s| !s.is_empty()) {
            for entry in service::lookup(&name, &env).map_err(usage)? {
                let Some((known, _)) = PARAMETERS.iter().find(|(p, _)| *p == entry.key) else {
                    return Err(unknown(&entry.key, &format!("{}: ", entry.at)));
                };
                given.entry(known).or_insert(entry.value);
            }
        }
        let mut from_env = std::collections::HashSet::new();
        for (param, var) in PARAMETERS {
            if let (false, Some(var)) = (given.contains_key(param), var) {
                if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                    given.insert(param, v);
                    from_env.insert(*param);
                }
            }
        }
        let get = |k: &str| given.get(k).map(String::as_str);
        let seconds = |k: &str| -> Result<Option<Duration>> {
            match get(k) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<i64>() {
                    Ok(n) if n > 0 => Ok(Some(Duration::from_secs(n as u64))),
                    Ok(_) => Ok(None),
                    Err(_) => Err(usage(format!("{k} must be a number of seconds"))),
                },
            }
        };

        let hosts = endpoints(get("host"), get("hostaddr"), get("port")).map_err(usage)?;
        let user = get("user").map(String::from).unwrap_or_else(os_user);
        let dbname = get("dbname").map(String::from).ok_or_else(|| {
            usage(
                "names no database; add it (postgresql://host/dbname, dbname=..., or PGDATABASE)"
                    .into(),
            )
        })?;
        let password = get("password").map(|p| {
            let from = if from_env.contains("password") {
                PasswordFrom::Env
            } else {
                PasswordFrom::String
            };
            (p.to_string(), from)
        });
        let tls = TlsSettings::resolve(
            get("sslmode"),
            get("sslrootcert"),
            get("sslcert"),
            get("sslkey"),
        )
        .map_err(usage)?;
        let target = match get("target_session_attrs") {
            None => SessionAttrs::Any,
            Some(v) => SessionAttrs::parse(v).ok_or_else(|| {
                usage(format!(
                    "target_session_attrs \"{v}\" is not one of any, read-write, read-only, primary, standby, prefer-standby"
                ))
            })?,
        };
        let channel_binding = match get("channel_binding") {
            None => None,
            Some("disable") => Some(ChannelBinding::Disable),
            Some("prefer") => Some(ChannelBinding::Prefer),
            Some("require") => Some(ChannelBinding::Require),
            Some(v) => {
                return Err(usage(format!(
                    "channel_binding \"{v}\" is not one of disable, prefer, require"
                )))
            }
        };
        if get("gssencmode") == Some("require") {
            return Err(usage(
                "gssencmode=require: GSSAPI encryption is not supported; use sslmode instead"
                    .into(),
            ));
        }
        let keepalives = match get("keepalives") {
            None => true,
            Some(v) => v.trim() != "0",
        };
        // libpq waits at least 2 seconds: 1 would time out too eagerly.
        let connect_timeout = seconds("connect_timeout")?.map(|d| d.max(Duration::from_secs(2)));
        let mut info = ConnInfo {
            config: Config::new(),
            hosts,
            user,
            password,
            passfile: passfile::location(get("passfile")),
            dbname,
            options: get("options").map(String::from),
            application_name: get("application_name")
                .unwrap_or(APPLICATION_NAME)
                .to_string(),
            connect_timeout,
            keepalives,
            keepalives_idle: seconds("keepalives_idle")?.unwrap_or(KEEPALIVES_IDLE),
            keepalives_interval: seconds("keepalives_interval")?.unwrap_or(KEEPALIVES_INTERVAL),
            keepalives_count: match get("keepalives_count") {
                None => KEEPALIVES_COUNT,
                Some(v) => v
                    .trim()
                    .parse()
                    .map_err(|_| usage("keepalives_count must be a number".into()))?,
            },
            // Milliseconds, as libpq reads it: pg_dump gets the same text.
            tcp_user_timeout: match get("tcp_user_timeout") {
                None => None,
                Some(v) => match v.trim().parse::<i64>() {
                    Ok(n) if n > 0 => Some(Duration::from_millis(n as u64)),
                    Ok(_) => None,
                    Err(_) => {
                        return Err(usage(
                            "tcp_user_timeout must be a number of milliseconds".into(),
                        ))
                    }
                },
            },
            channel_binding,
            target,
            tls,
            forwarded: FORWARDED
                .iter()
                .filter_map(|k| get(k).map(|v| (*k, v.to_string())))
                .collect(),
            pinned: Arc::new(Mutex::new(None)),
        };
        info.config = info.summary_config();
        Ok(info)
    }

    /// The database name.
    pub fn dbname(&self) -> &str {
        &self.dbname
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The same server, another database.
    pub fn with_dbname(&self, dbname: &str) -> ConnInfo {
        let mut info = self.clone();
        info.dbname = dbname.to_string();
        info.config.dbname(dbname);
        info
    }

    /// A printable form without the password.
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(self)
    }

    /// The hosts to try: the pinned one once a connection succeeded.
    fn candidates(&self) -> Vec<usize> {
        match *self.pinned.lock().expect("pin lock") {
            Some(i) => vec![i],
            None => (0..self.hosts.len()).collect(),
        }
    }

    /// The password for host `i`: the string's or `PGPASSWORD`, else the
    /// passfile's line for this host, port, database and user.
    fn password_for(&self, i: usize) -> Option<(String, PasswordFrom)> {
        if let Some(p) = &self.password {
            return Some(p.clone());
        }
        let path = self.passfile.as_ref()?;
        let ep = &self.hosts[i];
        passfile::lookup(path, &ep.host, ep.port, &self.dbname, &self.user)
            .map(|p| (p, PasswordFrom::Passfile(path.clone())))
    }

    /// `tokio_postgres::Config` for host `i` (or every host for `None`).
    fn config_for(&self, host: Option<usize>, password: Option<&str>) -> Config {
        let mut c = Config::new();
        c.user(&self.user)
            .dbname(&self.dbname)
            .application_name(&self.application_name)
            .keepalives(self.keepalives)
            .keepalives_idle(self.keepalives_idle)
            .keepalives_interval(self.keepalives_interval)
            .keepalives_retries(self.keepalives_count);
        let eps: Vec<&Endpoint> = match host {
            Some(i) => vec![&self.hosts[i]],
            None => self.hosts.iter().collect(),
        };
        for ep in eps {
            c.host(&ep.host).port(ep.port);
            if let Some(a) = ep.hostaddr {
                c.hostaddr(a);
            }
        }
        if let Some(o) = &self.options {
            c.options(o);
        }
        if let Some(t) = self.connect_timeout {
            c.connect_timeout(t);
        }
        if let Some(t) = self.tcp_user_timeout {
            c.tcp_user_timeout(t);
        }
        if let Some(cb) = self.channel_binding {
            c.channel_binding(cb);
        }
        if let Some(p) = password {
            c.password(p);
        }
        c
    }

    fn summary_config(&self) -> Config {
        let password = self.password.as_ref().map(|(p, _)| p.as_str());
        self.config_for(None, password)
    }

    /// The given settings that have no `PG*` variable (keepalives,
    /// `tcp_user_timeout`), as a connection string for a libpq tool's
    /// `--dbname` (what it leaves out comes from `libpq_env`); `None` when
    /// there are none. It never holds a password.
    pub fn libpq_conninfo(&self) -> Option<String> {
        let pairs: Vec<String> = self
            .forwarded
            .iter()
            .filter(|(k, _)| PARAMETERS.iter().any(|(p, var)| p == k && var.is_none()))
            // libpq's quoting: backslash escapes a quote or a backslash.
            .map(|(k, v)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join(" "))
    }

    /// `PG*` environment variables for libpq tools (pg_dump): the same
    /// server (the pinned host), user, password, database and TLS settings
    /// as our own connections, so that no secret appears on a command
    /// line. `libpq_major` is the tools' version: libpq before 16 does not
    /// know `sslrootcert=system`, so it gets the system bundle's path.
    pub fn libpq_env(&self, libpq_major: u32) -> Vec<(&'static str, String)> {
        let candidates = self.candidates();
        let eps: Vec<&Endpoint> = candidates.iter().map(|&i| &self.hosts[i]).collect();
        let mut env = vec![
            (
                "PGHOST",
                eps.iter()
                    .map(|e| e.host.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "PGPORT",
                eps.iter()
                    .map(|e| e.port.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("PGUSER", self.user.clone()),
            ("PGDATABASE", self.dbname.clone()),
            ("PGAPPNAME", self.application_name.clone()),
            ("PGSSLMODE", self.tls.mode.as_str().to_string()),
        ];
        if eps.iter().any(|e| e.hostaddr.is_some()) {
            let addrs: Vec<String> = eps
                .iter()
                .map(|e| e.hostaddr.map(|a| a.to_string()).unwrap_or_default())
                .collect();
            env.push(("PGHOSTADDR", addrs.join(",")));
        }
        if candidates.len() > 1 {
            env.push(("PGTARGETSESSIONATTRS", self.target.as_str().to_string()));
        }
        for (keyword, value) in &self.forwarded {
            let var = PARAMETERS
                .iter()
                .find(|(p, _)| p == keyword)
                .and_then(|(_, var)| *var);
            if let Some(var) = var.filter(|v| env.iter().all(|(e, _)| e != v)) {
                env.push((var, value.clone()));
            }
        }
        // The password we would use on the first candidate: after the
        // snapshot, the only one.
        if let Some((p, _)) = self.password_for(candidates[0]) {
            env.push(("PGPASSWORD", p));
        }
        if let Some(o) = &self.options {
            env.push(("PGOPTIONS", o.clone()));
        }
        if let Some(t) = self.connect_timeout {
            env.push(("PGCONNECT_TIMEOUT", t.as_secs().to_string()));
        }
        match &self.tls.rootcert {
            Some(RootCert::File(p)) => env.push(("PGSSLROOTCERT", p.display().to_string())),
            Some(RootCert::System) if libpq_major >= 16 => {
                env.push(("PGSSLROOTCERT", "system".into()))
            }
            Some(RootCert::System) => {
                if let Some(bundle) = system_bundle() {
                    env.push(("PGSSLROOTCERT", bundle.display().to_string()));
                }
            }
            None => {}
        }
        if let Some((cert, key)) = &self.tls.client {
            env.push(("PGSSLCERT", cert.display().to_string()));
            env.push(("PGSSLKEY", key.display().to_string()));
        }
        env
    }

    /// Opens a connection and drives it on the tokio runtime. Hosts are
    /// tried in order until one fits `target_session_attrs`; the error
    /// says, per host, what went wrong and which parameter to change.
    /// `purpose` is logged, so a trace shows which connection is which.
    pub async fn connect(&self, purpose: &str) -> Result<Client> {
        self.connect_reading(purpose, Reads::Queries).await
    }

    /// `connect`, for a connection that `reads` as said.
    async fn connect_reading(&self, purpose: &str, reads: Reads) -> Result<Client> {
        let candidates = self.candidates();
        let passes = match (self.target, candidates.len() < self.hosts.len()) {
            // Pinned: the server was chosen already.
            (_, true) => vec![SessionAttrs::Any],
            (SessionAttrs::PreferStandby, false) => {
                vec![SessionAttrs::Standby, SessionAttrs::Any]
            }
            (t, false) => vec![t],
        };
        let mut failures: Vec<String> = Vec::new();
        for want in passes {
            for &i in &candidates {
                let ep = &self.hosts[i];
                let failure = match self.connect_endpoint(i, reads).await {
                    Err(cause) => cause,
                    Ok(client) => match session_fits(&client, want).await {
                        Ok(None) => {
                            let mut pin = self.pinned.lock().expect("pin lock");
                            if pin.is_none() {
                                *pin = Some(i);
                            }
                            tracing::debug!(purpose, server = %ep, "connected");
                            return Ok(client);
                        }
                        Ok(Some(why)) => why,
                        Err(e) => crate::error::render(&e),
                    },
                };
                let line = if self.hosts.len() > 1 {
                    format!("{ep}: {failure}")
                } else {
                    failure
                };
                if !failures.contains(&line) {
                    failures.push(line);
                }
            }
        }
        Err(anyhow!("{}: {}", self.redacted(), failures.join("; ")))
    }

    /// One attempt on host `i`, with the TLS the sslmode asks for. The
    /// error is one line: the cause, then the parameter to change.
    async fn connect_endpoint(&self, i: usize, reads: Reads) -> Result<Client, String> {
        let password = self.password_for(i);
        let mut config = self.config_for(Some(i), password.as_ref().map(|(p, _)| p.as_str()));
        let ctx = explain::Attempt {
            endpoint: self.hosts[i].to_string(),
            host: self.hosts[i].host.clone(),
            user: &self.user,
            dbname: &self.dbname,
            tls: &self.tls,
            password_from: password.map(|(_, from)| from),
            passfile: self.passfile.clone(),
            connect_timeout: self.connect_timeout,
        };
        let problem = Arc::new(Mutex::new(None));
        let attempt = self.attempt(&mut config, &problem, reads);
        // libpq's connect_timeout bounds the whole start (TCP, TLS,
        // authentication), not only the TCP connect as tokio-postgres does:
        // a peer that accepts and then says nothing must not hang the run.
        let result = match self.connect_timeout {
            Some(limit) => match tokio::time::timeout(limit, attempt).await {
                Ok(r) => r?,
                Err(_) => return Err(explain::timed_out(&ctx)),
            },
            None => attempt.await?,
        };
        result.map_err(|e| {
            let described = problem.lock().expect("problem lock").take();
            explain::explain(&e, described, &ctx)
        })
    }

    /// The attempt itself, with the TLS the sslmode asks for.
    async fn attempt(
        &self,
        config: &mut Config,
        problem: &Arc<Mutex<Option<String>>>,
        reads: Reads,
    ) -> Result<Result<Client, tokio_postgres::Error>, String> {
        Ok(match self.tls.mode {
            SslMode::Disable => {
                config.ssl_mode(PgSslMode::Disable);
                connect_plain(config, reads).await
            }
            SslMode::Allow => {
                config.ssl_mode(PgSslMode::Disable);
                match connect_plain(config, reads).await {
                    // Refused in the clear (pg_hba): libpq tries TLS next.
                    Err(e) if e.code().is_some_and(|c| c.code().starts_with("28")) => {
                        config.ssl_mode(PgSslMode::Require);
                        self.connect_tls(config, problem, reads).await?
                    }
                    other => other,
                }
            }
            SslMode::Prefer => {
                config.ssl_mode(PgSslMode::Prefer);
                self.connect_tls(config, problem, reads).await?
            }
            _ => {
                config.ssl_mode(PgSslMode::Require);
                self.connect_tls(config, problem, reads).await?
            }
        })
    }

    /// Connects through rustls; the outer error is a TLS setup problem
    /// (unreadable certificate files), the inner one the connection's.
    async fn connect_tls(
        &self,
        config: &Config,
        problem: &Arc<Mutex<Option<String>>>,
        reads: Reads,
    ) -> Result<Result<Client, tokio_postgres::Error>, String> {
        let tls_config = self.tls.client_config(Arc::clone(problem))?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config);
        Ok(match config.connect(tls).await {
            Ok((client, connection)) => {
                drive(connection, reads);
                Ok(client)
            }
            Err(e) => Err(e),
        })
    }
}

async fn connect_plain(config: &Config, reads: Reads) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    drive(connection, reads);
    Ok(client)
}

/// What a connection reads, which decides whether `read_gate` pauses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// Queries of any kind: never paused.
    Queries,
    /// A source's tables, maybe rows of hundreds of megabytes: not read
    /// ahead while a huge row is held (`read_gate`).
    CopySource,
}

/// Runs a connection's I/O on the runtime. The error, if any, surfaces
/// again on the next query; but a server that ends an idle session says
/// why only here (FATAL: terminating connection due to conflict with
/// recovery), so that reason is kept (`error::record_closing_reason`).
///
/// Polled message by message rather than awaited: the reason is recorded
/// while the connection still exists, before its pending queries fail with
/// "connection closed", so their error always finds it. (Awaited, the
/// connection was dropped first, and a query could fail before the reason
/// was kept: the message then varied from run to run.) Notices are
/// dropped, as at the default log level. A `CopySource` connection is not
/// polled (so reads nothing) while `read_gate` is closed.
fn drive<S, T>(mut connection: tokio_postgres::Connection<S, T>, reads: Reads)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(message) = futures_util::future::poll_fn(|cx| {
            if reads == Reads::CopySource {
                std::task::ready!(read_gate::poll_open(cx));
            }
            connection.poll_message(cx)
        })
        .await
        {
            if let Err(e) = message {
                if e.as_db_error().is_some() {
                    crate::error::record_closing_reason(&e);
                }
                break;
            }
        }
    });
}

/// `None` when the session fits `want`, else why not.
async fn session_fits(client: &Client, want: SessionAttrs) -> Result<Option<String>> {
    if want == SessionAttrs::Any {
        return Ok(None);
    }
    let row = client
        .query_one(
            "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'",
            &[],
        )
        .await
        .pg_context(|| "checking target_session_attrs".into())?;
    let (standby, read_only): (bool, bool) = (row.get(0), row.get(1));
    let fits = match want {
        SessionAttrs::Any | SessionAttrs::PreferStandby => true,
        SessionAttrs::ReadWrite => !read_only,
        SessionAttrs::ReadOnly => read_only,
        SessionAttrs::Primary => !standby,
        SessionAttrs::Standby => standby,
    };
    Ok((!fits).then(|| {
        format!(
            "the server is {} but target_session_attrs={}",
            if standby {
                "a standby"
            } else if read_only {
                "read-only"
            } else {
                "a read-write primary"
            },
            want.as_str()
        )
    }))
}

/// The host list: `host` and `hostaddr` lists of equal length (or one of
/// them), and `port` with one entry or one per host.
fn endpoints(
    host: Option<&str>,
    hostaddr: Option<&str>,
    port: Option<&str>,
) -> Result<Vec<Endpoint>, String> {
    let split = |s: Option<&str>| -> Vec<String> {
        s.map(|s| s.split(',').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default()
    };
    let addrs: Vec<Option<IpAddr>> = split(hostaddr)
        .iter()
        .map(|a| {
            if a.is_empty() {
                Ok(None)
            } else {
                a.parse()
                    .map(Some)
                    .map_err(|_| "hostaddr must be numeric IP addresses".to_string())
            }
        })
        .collect::<Result<_, _>>()?;
    let mut hosts = split(host);
    if hosts.is_empty() {
        hosts = match addrs.is_empty() {
            true => vec![default_host()],
            false => addrs
                .iter()
                .map(|a| a.map(|a| a.to_string()).unwrap_or_else(default_host))
                .collect(),
        };
    }
    if !addrs.is_empty() && addrs.len() != hosts.len() {
        return Err(format!(
            "hostaddr lists {} addresses for {} hosts; give one per host",
            addrs.len(),
            hosts.len()
        ));
    }
    let ports: Vec<u16> = split(port)
        .iter()
        .map(|p| {
            if p.is_empty() {
                Ok(5432)
            } else {
                p.parse()
                    .map_err(|_| "port must be a number between 1 and 65535".to_string())
            }
        })
        .collect::<Result<_, _>>()?;
    if ports.len() > 1 && ports.len() != hosts.len() {
        return Err(format!(
            "port lists {} ports for {} hosts; give one port, or one per host",
            ports.len(),
            hosts.len()
        ));
    }
    Ok(hosts
        .into_iter()
        .enumerate()
        .map(|(i, h)| Endpoint {
            host: if h.is_empty() { default_host() } else { h },
            hostaddr: addrs.get(i).copied().flatten(),
            port: ports.get(i).or(ports.first()).copied().unwrap_or(5432),
        })
        .collect())
}

/// libpq's default server: the Unix socket directory of Debian's packages
/// when it exists, else localhost.
fn default_host() -> String {
    if std::path::Path::new("/var/run/postgresql").is_dir() {
        "/var/run/postgresql".into()
    } else {
        "localhost".into()
    }
}

/// libpq's default user: the operating system user.
fn os_user() -> String {
    if let Some(u) = std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        return u;
    }
    // SAFETY: getpwuid returns static storage or NULL; read at once.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() {
            return "postgres".into();
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// The system CA bundle file, for a libpq that predates
/// `sslrootcert=system`.
fn system_bundle() -> Option<PathBuf> {
    if let Some(f) = std::env::var_os("SSL_CERT_FILE") {
        return Some(PathBuf::from(f));
    }
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// `Display` for a connection without its password.
pub struct Redacted<'a>(&'a ConnInfo);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        write!(f, "postgresql://{}@", c.user)?;
        for (i, ep) in c.hosts.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "{ep}")?;
        }
        write!(f, "/{}", c.dbname)
    }
}

/// Identity of a database as seen from inside it, used to refuse a target
/// that is the source under another name (localhost vs 127.0.0.1, ...).
#[derive(Debug, PartialEq, Eq)]
pub struct DatabaseIdentity {
    pub server: String,
    pub database_oid: u32,
}

/// Reads the identity of the database `client` is connected to.
pub async fn database_identity(client: &Client) -> Result<DatabaseIdentity> {
    // system_identifier is unique per cluster; it needs pg_monitor or
    // superuser on some setups, so fall back to the server's address.
    let server = match client
        .query_one(
            "SELECT system_identifier::text FROM pg_control_system()",
            &[],
        )
        .await
    {
        Ok(row) => row.get::<_, String>(0),
        Err(_) => {
            let row = client
                .query_one(
                    "SELECT coalesce(host(inet_server_addr()), 'local') || ':' || \
                     coalesce(inet_server_port(), current_setting('port')::int)::text || ':' || \
                     current_setting('data_directory', true)",
                    &[],
                )
                .await
                .pg_context(|| "reading the server identity".into())?;
            row.get::<_, Option<String>>(0).unwrap_or_default()
        }
    };
    let row = client
        .query_one(
            "SELECT oid FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .await
        .pg_context(|| "reading the database identity".into())?;
    Ok(DatabaseIdentity {
        server,
        database_oid: row.get(0),
    })
}

/// Whether `url` was typed on this process's command line (`--source URL`
/// or `--source=URL`), where `ps` shows it to everyone.
fn on_command_line(url: &str) -> bool {
    std::env::args_os().skip(1).any(|a| {
        a.to_str()
            .is_some_and(|a| a == url || a.split_once('=').is_some_and(|(_, v)| v == url))
    })
}

/// Context helper for the common "connecting to the source" case.
pub async fn connect_named(info: &ConnInfo, role: &str) -> Result<Client> {
    info.connect(&format!("anonymize ({role})"))
        .await
        .with_context(|| format!("the {role} database is not reachable"))
}

/// `connect_named` for a connection that copies the source's tables: it
/// reads nothing while a huge row is held (`read_gate`).
pub async fn connect_copy_source(info: &ConnInfo) -> Result<Client> {
    info.connect_reading("anonymize (source)", Reads::CopySource)
        .await
        .context("the source database is not reachable")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str, env: &[(&str, &str)]) -> Result<ConnInfo> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ConnInfo::parse_with_env(s, "--source", move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    /// libpq reads `tcp_user_timeout` in milliseconds, and pg_dump gets
    /// the same text: our own connections must agree with it.
    #[test]
    fn tcp_user_timeout_is_milliseconds_as_in_libpq() {
        let c = parse("postgresql://h/db?tcp_user_timeout=9000", &[]).unwrap();
        assert_eq!(c.tcp_user_timeout, Some(Duration::from_millis(9000)));
        assert_eq!(
            c.libpq_conninfo().as_deref(),
            Some("tcp_user_timeout='9000'")
        );
        let e = parse("postgresql://h/db?tcp_user_timeout=soon", &[])
            .err()
            .expect("a word is refused");
        assert!(e.to_string().contains("number of milliseconds"), "{e}");
    }

    #[test]
    fn redacted_url_hides_the_password() {
        let c = parse("postgresql://app:s3cret@db.internal:6543/prod", &[]).unwrap();
        let shown = c.redacted().to_string();
        assert_eq!(shown, "postgresql://app@db.internal:6543/prod");
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn a_bad_url_error_does_not_echo_the_password() {
        let err = parse("postgresql://app:s3cret@db:notaport/prod", &[])
            .err()
            .unwrap();
        assert!(!err.to_string().contains("s3cret"));
        assert_eq!(crate::error::exit_code(&err), crate::error::EXIT_USAGE);
        let err = parse("postgresql://app:s3cret@db/prod?sslmod=require", &[])
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("did you mean \"sslmode\"?"),
            "{err}"
        );
    }

    #[test]
    fn libpq_env_carries_the_password_and_tls_out_of_argv() {
        let c = parse(
            "postgresql://app:pw@h:5/d?sslmode=verify-full&sslrootcert=system",
            &[],
        )
        .unwrap();
        let env = c.libpq_env(16);
        assert!(env.contains(&("PGPASSWORD", "pw".to_string())));
        assert!(env.contains(&("PGDATABASE", "d".to_string())));
        assert!(env.contains(&("PGSSLMODE", "verify-full".to_string())));
        assert!(env.contains(&("PGSSLROOTCERT", "system".to_string())));
        assert!(env.contains(&("PGAPPNAME", "anonymize".to_string())));
    }

    #[test]
    fn the_environment_fills_what_the_string_leaves_out() {
        let c = parse(
            "host=db dbname=prod sslmode=disable",
            &[
                ("PGSSLMODE", "require"),
                ("PGUSER", "envuser"),
                ("PGPORT", "6000"),
            ],
        )
        .unwrap();
        assert_eq!(c.tls.mode, SslMode::Disable, "the string wins");
        assert_eq!(c.user, "envuser");
        assert_eq!(
            c.redacted().to_string(),
            "postgresql://envuser@db:6000/prod"
        );
    }

    #[test]
    fn several_hosts_with_their_ports() {
        let c = parse(
            "postgresql://u@a:1,b,c:3/d?target_session_attrs=prefer-standby",
            &[],
        )
        .unwrap();
        let hosts: Vec<String> = c.hosts.iter().map(|e| e.to_string()).collect();
        assert_eq!(hosts, ["a:1", "b:5432", "c:3"]);
        assert_eq!(c.target, SessionAttrs::PreferStandby);
        let err = parse("host=a,b port=1,2,3 dbname=d", &[]).err().unwrap();
        assert!(err.to_string().contains("3 ports for 2 hosts"), "{err}");
    }
}
