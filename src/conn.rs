//! Connection strings: parsing, redaction for logs, and connecting.
//!
//! A URL is parsed once into `tokio_postgres::Config`; from then on we only
//! print it through `Redacted`, which never shows the password, and we hand
//! it to `pg_dump` through `PG*` environment variables rather than argv,
//! where any user of the machine could read it.

use std::fmt;

use anyhow::{Context, Result};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{PgResultExt, UsageError};

/// A parsed connection string.
#[derive(Clone)]
pub struct ConnInfo {
    pub config: Config,
}

impl ConnInfo {
    /// Parses a `postgresql://` URL or a `key=value` string. `what` names the
    /// setting in the error ("--source").
    pub fn parse(url: &str, what: &str) -> Result<ConnInfo> {
        let config: Config = url.parse().map_err(|_| {
            // The parse error can echo the input, password included: say
            // only what was wrong with it.
            UsageError::new(format!(
                "{what} is not a valid PostgreSQL connection string; \
                 expected postgresql://user:password@host:port/dbname"
            ))
        })?;
        if config.get_dbname().is_none() {
            return Err(UsageError::new(format!(
                "{what} names no database; add it to the URL, e.g. postgresql://host/dbname"
            ))
            .into());
        }
        Ok(ConnInfo { config })
    }

    /// The database name.
    pub fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or("")
    }

    /// The same server, another database.
    pub fn with_dbname(&self, dbname: &str) -> ConnInfo {
        let mut config = self.config.clone();
        config.dbname(dbname);
        ConnInfo { config }
    }

    /// A printable form without the password.
    pub fn redacted(&self) -> Redacted<'_> {
        Redacted(&self.config)
    }

    /// `PG*` environment variables for libpq tools (pg_dump), so that no
    /// secret appears on a command line.
    pub fn libpq_env(&self) -> Vec<(&'static str, String)> {
        let c = &self.config;
        let mut env = Vec::new();
        let hosts: Vec<String> = c
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(s) => s.clone(),
                #[cfg(unix)]
                Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        if !hosts.is_empty() {
            env.push(("PGHOST", hosts.join(",")));
        }
        let ports: Vec<String> = c.get_ports().iter().map(|p| p.to_string()).collect();
        if !ports.is_empty() {
            env.push(("PGPORT", ports.join(",")));
        }
        if let Some(u) = c.get_user() {
            env.push(("PGUSER", u.to_string()));
        }
        if let Some(p) = c.get_password() {
            env.push(("PGPASSWORD", String::from_utf8_lossy(p).into_owned()));
        }
        if let Some(d) = c.get_dbname() {
            env.push(("PGDATABASE", d.to_string()));
        }
        if let Some(o) = c.get_options() {
            env.push(("PGOPTIONS", o.to_string()));
        }
        env
    }

    /// Opens a connection and drives it on the tokio runtime.
    pub async fn connect(&self, application_name: &str) -> Result<Client> {
        let mut config = self.config.clone();
        config.application_name(application_name);
        let (client, connection) = config
            .connect(NoTls)
            .await
            .pg_context(|| format!("cannot connect to {}", self.redacted()))?;
        tokio::spawn(async move {
            // The error, if any, surfaces again on the next query; logging
            // it here would print it twice.
            let _ = connection.await;
        });
        Ok(client)
    }
}

/// `Display` for a connection without its password.
pub struct Redacted<'a>(&'a Config);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        write!(f, "postgresql://")?;
        if let Some(u) = c.get_user() {
            write!(f, "{u}@")?;
        }
        let hosts = c.get_hosts();
        let ports = c.get_ports();
        for (i, h) in hosts.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            match h {
                Host::Tcp(s) => write!(f, "{s}")?,
                #[cfg(unix)]
                Host::Unix(p) => write!(f, "[{}]", p.display())?,
            }
            if let Some(p) = ports.get(i).or(ports.first()) {
                write!(f, ":{p}")?;
            }
        }
        write!(f, "/{}", c.get_dbname().unwrap_or(""))
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

/// Quotes an identifier for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for SQL.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Context helper for the common "connecting to the source" case.
pub async fn connect_named(info: &ConnInfo, role: &str) -> Result<Client> {
    info.connect(&format!("anonymize ({role})"))
        .await
        .with_context(|| {
            format!("the {role} database is not reachable; check the URL and that the server runs")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_url_hides_the_password() {
        let c =
            ConnInfo::parse("postgresql://app:s3cret@db.internal:6543/prod", "--source").unwrap();
        let shown = c.redacted().to_string();
        assert_eq!(shown, "postgresql://app@db.internal:6543/prod");
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn a_bad_url_error_does_not_echo_the_password() {
        let err = ConnInfo::parse("postgresql://app:s3cret@db:notaport/prod", "--source")
            .err()
            .unwrap();
        assert!(!err.to_string().contains("s3cret"));
    }

    #[test]
    fn libpq_env_carries_the_password_out_of_argv() {
        let c = ConnInfo::parse("postgresql://app:pw@h:5/d", "--source").unwrap();
        let env = c.libpq_env();
        assert!(env.contains(&("PGPASSWORD", "pw".to_string())));
        assert!(env.contains(&("PGDATABASE", "d".to_string())));
    }
}
