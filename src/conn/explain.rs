//! Connection failures in words a user can act on: one line with the
//! cause, then the parameter to change. Never the password.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use rustls::AlertDescription;

use super::tls::{SslMode, TlsSettings};
use super::PasswordFrom;

/// What we tried, for the message.
pub(super) struct Attempt<'a> {
    /// `host:port` as printed.
    pub endpoint: String,
    pub host: String,
    pub user: &'a str,
    pub dbname: &'a str,
    pub tls: &'a TlsSettings,
    pub password_from: Option<PasswordFrom>,
    pub passfile: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
}

impl Attempt<'_> {
    fn password_place(&self) -> String {
        match &self.password_from {
            Some(PasswordFrom::String) => "the password in the connection string".into(),
            Some(PasswordFrom::Env) => "PGPASSWORD".into(),
            Some(PasswordFrom::Passfile(p)) => format!("the line for it in {}", p.display()),
            None => "the password".into(),
        }
    }

    fn client_cert(&self) -> Option<String> {
        self.tls
            .client
            .as_ref()
            .map(|(c, _)| c.display().to_string())
    }
}

/// Explains a failed connection attempt. `problem` is the verifier's
/// description of a refused server certificate, when that was the cause.
pub(super) fn explain(
    err: &tokio_postgres::Error,
    problem: Option<String>,
    a: &Attempt<'_>,
) -> String {
    if let Some(p) = problem {
        return p;
    }
    if let Some(db) = err.as_db_error() {
        let msg = db.message();
        return match db.code().code() {
            "28P01" => format!(
                "the server refused the password of user \"{}\"; correct {}",
                a.user,
                a.password_place()
            ),
            "28000" if msg.contains("no encryption") && a.tls.mode == SslMode::Disable => format!(
                "the server accepts only TLS connections from this host (pg_hba.conf has no \
                 entry without encryption for user \"{}\") but sslmode=disable; set \
                 sslmode=verify-full (or require)",
                a.user
            ),
            "28000" if msg.contains("requires a valid client certificate") => format!(
                "the server requires a client certificate for user \"{}\" and none was sent; set \
                 sslcert and sslkey (or PGSSLCERT and PGSSLKEY)",
                a.user
            ),
            "28000" if msg.contains("certificate authentication failed") => format!(
                "the server refused the client certificate {}: it was not issued for user \"{}\" \
                 (its CN must be the user name); use that user's certificate (sslcert, sslkey)",
                a.client_cert().unwrap_or_default(),
                a.user
            ),
            "28000" if msg.contains("no pg_hba.conf entry") => format!(
                "the server's pg_hba.conf admits no connection for user \"{}\" to database \"{}\" \
                 from this host{}; check user and dbname, or ask the DBA for an entry",
                a.user,
                a.dbname,
                if a.tls.mode == SslMode::Disable {
                    " without TLS"
                } else {
                    ""
                }
            ),
            "28000" if msg.contains("does not exist") => format!(
                "user \"{}\" does not exist on the server; check user",
                a.user
            ),
            "3D000" => format!(
                "database \"{}\" does not exist on {}; check dbname",
                a.dbname, a.endpoint
            ),
            _ => crate::error::pg_error_text(err),
        };
    }
    let text = crate::error::pg_error_text(err);
    if text.contains("password missing") {
        return format!(
            "the server asks for a password for user \"{}\" and none was given; put it in the \
             connection string, PGPASSWORD or the password file ({})",
            a.user,
            a.passfile
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "PGPASSFILE".into())
        );
    }
    if text.contains("server does not support TLS") {
        return format!(
            "the server at {} does not offer TLS but sslmode={}; enable ssl on the server, or set \
             sslmode=prefer",
            a.endpoint,
            a.tls.mode.as_str()
        );
    }
    if let Some(alert) = find::<rustls::Error>(err).and_then(|e| match e {
        rustls::Error::AlertReceived(alert) => Some(*alert),
        _ => None,
    }) {
        return match (a.client_cert(), alert) {
            (None, _) => format!(
                "the server ended the TLS handshake ({alert:?}); it may require a client \
                 certificate: set sslcert and sslkey"
            ),
            (Some(cert), AlertDescription::UnknownCA | AlertDescription::BadCertificate)
            | (Some(cert), AlertDescription::CertificateUnknown)
            | (Some(cert), AlertDescription::DecryptError) => format!(
                "the server refused the client certificate {cert} ({alert:?}): it is not signed \
                 by a CA the server trusts (its ssl_ca_file); use a certificate from that CA \
                 (sslcert, sslkey)"
            ),
            (Some(cert), AlertDescription::CertificateExpired) => {
                format!("the server refused the client certificate {cert}: it has expired; renew it (sslcert, sslkey)")
            }
            (Some(cert), _) => format!(
                "the server refused the client certificate {cert} ({alert:?}); check sslcert and \
                 sslkey"
            ),
        };
    }
    if let Some(io) = find::<io::Error>(err) {
        match io.kind() {
            io::ErrorKind::ConnectionRefused => {
                return format!(
                    "nothing listens on {} (connection refused); check host and port, and that \
                     the server runs",
                    a.endpoint
                )
            }
            io::ErrorKind::TimedOut => return timed_out(a),
            _ => {}
        }
        let t = io.to_string();
        if t.contains("lookup address")
            || t.contains("Name or service not known")
            || t.contains("No address associated")
            || t.contains("name resolution")
        {
            return format!(
                "host \"{}\" is unknown (the name lookup failed); check host",
                a.host
            );
        }
    }
    text
}

/// No answer in time (connect_timeout, or the system's TCP timeout).
pub(super) fn timed_out(a: &Attempt<'_>) -> String {
    format!(
        "no answer from {} within {}; check host, port and firewalls, or raise connect_timeout",
        a.endpoint,
        a.connect_timeout
            .map(|t| format!("connect_timeout={}s", t.as_secs()))
            .unwrap_or_else(|| "the system's TCP timeout".into())
    )
}

/// The first error of type `E` in `err`'s chain, looking inside
/// `io::Error`s (whose `source()` skips the error they wrap).
fn find<E: std::error::Error + 'static>(err: &tokio_postgres::Error) -> Option<&E> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = next {
        if let Some(hit) = e.downcast_ref::<E>() {
            return Some(hit);
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            if let Some(hit) = inner.downcast_ref::<E>() {
                return Some(hit);
            }
            next = inner.source();
            continue;
        }
        next = e.source();
    }
    None
}
