//! TLS with libpq's semantics on rustls: the `sslmode` ladder, the root
//! certificates (`sslrootcert`, `system`), client certificates
//! (`sslcert`/`sslkey`), and certificate failures explained in words.
//!
//! | sslmode | TLS | server certificate checked |
//! | --- | --- | --- |
//! | disable | never | - |
//! | allow | only if the server refuses a plain connection | no |
//! | prefer (default) | if the server offers it | no |
//! | require | always | only if a root certificate file exists (libpq's rule) |
//! | verify-ca | always | signed by a trusted CA |
//! | verify-full | always | signed by a trusted CA and issued for the host name |

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where trusted root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

impl std::fmt::Display for RootCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootCert::File(p) => write!(f, "sslrootcert={}", p.display()),
            RootCert::System => write!(f, "sslrootcert=system"),
        }
    }
}

/// The TLS settings of one connection string, defaults resolved.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// Roots to check the server against; `None` when no file exists and
    /// the mode does not need one.
    pub rootcert: Option<RootCert>,
    /// Client certificate and key files, both or neither.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl TlsSettings {
    /// Resolves the settings as libpq does: `~/.postgresql/root.crt`,
    /// `postgresql.crt` and `postgresql.key` are used when present and not
    /// named; `sslrootcert=system` implies `verify-full`. Errors are usage
    /// errors (exit 2).
    pub fn resolve(
        mode: Option<&str>,
        rootcert: Option<&str>,
        cert: Option<&str>,
        key: Option<&str>,
    ) -> Result<TlsSettings, String> {
        let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql"));
        let given_mode = match mode {
            Some(m) => Some(SslMode::parse(m).ok_or_else(|| {
                format!(
                    "sslmode \"{m}\" is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )
            })?),
            None => None,
        };
        let rootcert = match rootcert {
            Some("system") => Some(RootCert::System),
            Some(p) => Some(RootCert::File(PathBuf::from(p))),
            None => home
                .as_ref()
                .map(|h| h.join("root.crt"))
                .filter(|p| p.is_file())
                .map(RootCert::File),
        };
        let mode = match (given_mode, &rootcert) {
            // libpq 16: the system store only makes sense with host name
            // checks, since any public CA would do.
            (None, Some(RootCert::System)) => SslMode::VerifyFull,
            (Some(m), Some(RootCert::System)) if m != SslMode::VerifyFull => {
                return Err(format!(
                    "sslmode={} cannot be used with sslrootcert=system; use sslmode=verify-full",
                    m.as_str()
                ))
            }
            (Some(m), _) => m,
            (None, _) => SslMode::Prefer,
        };
        if let Some(RootCert::File(p)) = &rootcert {
            if mode >= SslMode::Require && !p.is_file() {
                return Err(format!(
                    "the root certificate file {} (sslrootcert) does not exist; give the CA file of the server, \
                     sslrootcert=system for the system's trusted roots, or a weaker sslmode",
                    p.display()
                ));
            }
        }
        if rootcert.is_none() && mode >= SslMode::VerifyCa {
            return Err(format!(
                "sslmode={} needs root certificates to check the server against; set sslrootcert \
                 (or PGSSLROOTCERT) to the CA file, or sslrootcert=system",
                mode.as_str()
            ));
        }
        let default = |name: &str| home.as_ref().map(|h| h.join(name));
        let client = match (cert, key) {
            (Some(c), k) => {
                let c = PathBuf::from(c);
                let k = k.map(PathBuf::from).or_else(|| default("postgresql.key"));
                let Some(k) = k.filter(|k| k.is_file()) else {
                    return Err(
                        "sslcert is set but no key file was found; set sslkey (or PGSSLKEY)"
                            .to_string(),
                    );
                };
                if !c.is_file() {
                    return Err(format!(
                        "the client certificate file {} (sslcert) does not exist",
                        c.display()
                    ));
                }
                Some((c, k))
            }
            (None, Some(_)) => {
                return Err("sslkey is set without sslcert; set both or neither".into())
            }
            (None, None) => match (default("postgresql.crt"), default("postgresql.key")) {
                (Some(c), Some(k)) if c.is_file() && k.is_file() => Some((c, k)),
                _ => None,
            },
        };
        if let Some((_, key)) = &client {
            check_key_permissions(key)?;
        }
        Ok(TlsSettings {
            mode,
            rootcert,
            client,
        })
    }

    /// Whether the server's certificate is checked at all: `verify-*`, or
    /// `require` with a root file present (libpq's compatibility rule).
    fn verifies(&self) -> bool {
        self.mode >= SslMode::VerifyCa
            || (self.mode == SslMode::Require && matches!(self.rootcert, Some(RootCert::File(_))))
    }

    /// A rustls configuration for one connection attempt. A certificate
    /// the verifier rejects is described into `problem`, because rustls's
    /// own error names neither the certificate nor the roots.
    pub fn client_config(
        &self,
        problem: Arc<Mutex<Option<String>>>,
    ) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = if self.verifies() {
            let roots = self.roots()?;
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| format!("cannot use the root certificates: {e}"))?,
            )
        } else {
            None
        };
        let verifier = Verifier {
            inner,
            check_name: self.mode == SslMode::VerifyFull,
            roots: self.rootcert.clone(),
            provider: Arc::clone(&provider),
            problem,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = match &self.client {
            Some((cert, key)) => {
                let certs = read_certs(cert, "sslcert")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    format!(
                        "cannot read the private key {} (sslkey): {e}",
                        key.display()
                    )
                })?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    format!("the client certificate and key (sslcert, sslkey) do not fit: {e}")
                })?
            }
            None => builder.with_no_client_auth(),
        };
        // PostgreSQL 17 checks ALPN when the client offers it; libpq does.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(config)
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match &self.rootcert {
            Some(RootCert::File(p)) => {
                let (added, _) = store.add_parsable_certificates(read_certs(p, "sslrootcert")?);
                if added == 0 {
                    return Err(format!(
                        "{} (sslrootcert) holds no usable CA certificate",
                        p.display()
                    ));
                }
            }
            Some(RootCert::System) => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(
                        "sslrootcert=system: the system trust store is empty or unreadable; install ca-certificates or give a CA file"
                            .into(),
                    );
                }
            }
            None => {}
        }
        Ok(store)
    }
}

fn read_certs(path: &Path, param: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {} ({param}): {e}", path.display()))?
        .collect();
    let certs = certs.map_err(|e| format!("cannot read {} ({param}): {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{} ({param}) holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// Checks the server certificate as the sslmode asks, and puts into words
/// why one is refused.
#[derive(Debug)]
struct Verifier {
    /// `None`: any certificate is accepted (`prefer`, `require`).
    inner: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    roots: Option<RootCert>,
    provider: Arc<CryptoProvider>,
    problem: Arc<Mutex<Option<String>>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        let err = match inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(ok) => return Ok(ok),
            Err(e) => e,
        };
        // webpki checks the chain before the name, so a name error means
        // the chain is trusted: enough for verify-ca.
        let name_error = matches!(
            err,
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        );
        if name_error && !self.check_name {
            return Ok(ServerCertVerified::assertion());
        }
        let roots = self
            .roots
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default();
        *self.problem.lock().expect("problem lock") =
            Some(describe(&err, end_entity, server_name, &roots));
        Err(err)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One line: which certificate, why it was refused, what to change.
fn describe(
    err: &rustls::Error,
    cert: &CertificateDer<'_>,
    host: &ServerName<'_>,
    roots: &str,
) -> String {
    let (subject, issuer) = names(cert);
    let which = format!("the server certificate \"{subject}\" (issued by \"{issuer}\")");
    let host = host.to_str();
    let rustls::Error::InvalidCertificate(e) = err else {
        return format!("{which} was refused: {err}");
    };
    match e {
        CertificateError::UnknownIssuer => format!(
            "{which} is not trusted: no CA in {roots} signed it; set sslrootcert to the CA file that signed the server certificate"
        ),
        CertificateError::NotValidForName => format!(
            "{which} is not valid for host \"{host}\" (sslmode=verify-full); connect with a host name the certificate names, or use sslmode=verify-ca"
        ),
        CertificateError::NotValidForNameContext { presented, .. } => format!(
            "{which} is not valid for host \"{host}\": it names {}; connect with one of those names (host), or use sslmode=verify-ca",
            if presented.is_empty() {
                "no host".to_string()
            } else {
                presented.iter().map(|p| plain_name(p)).collect::<Vec<_>>().join(", ")
            }
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("{which} has expired; the server needs a new certificate")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => format!(
            "{which} is not valid yet; check the clocks of this machine and the server"
        ),
        other => format!("{which} was refused ({other:?}); check sslrootcert and the server's certificate"),
    }
}

/// `DnsName("db.internal")` as rustls presents a name, shown as
/// `db.internal`.
fn plain_name(presented: &str) -> &str {
    match (presented.find('('), presented.rfind(')')) {
        (Some(a), Some(b)) if a < b => presented[a + 1..b].trim_matches('"'),
        _ => presented,
    }
}

/// Subject and issuer of a DER certificate, as RFC 4514 strings.
fn names(cert: &CertificateDer<'_>) -> (String, String) {
    use x509_cert::der::Decode;
    match x509_cert::Certificate::from_der(cert.as_ref()) {
        Ok(c) => (
            c.tbs_certificate.subject.to_string(),
            c.tbs_certificate.issuer.to_string(),
        ),
        Err(_) => ("<unreadable>".into(), "<unreadable>".into()),
    }
}

/// Refuses a client key others may read, as libpq does before it
/// connects: mode 0600 or stricter, or 0640 when root owns the file (a
/// system-managed key a group may read). A key the group or world can
/// read is as good as shared.
fn check_key_permissions(key: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(key).map_err(|e| {
        format!(
            "cannot read the private key {} (sslkey): {e}",
            key.display()
        )
    })?;
    let mode = meta.mode() & 0o777;
    let too_open = if meta.uid() == 0 {
        mode & 0o037 != 0
    } else {
        mode & 0o077 != 0
    };
    if too_open {
        return Err(format!(
            "the private key {} (sslkey) has mode {mode:04o}, so others on this machine may \
             read it; make it private with `chmod 0600 {}` (0640 is allowed when root owns it)",
            key.display(),
            key.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_defaults_and_system_roots() {
        let t = TlsSettings::resolve(None, None, None, None).unwrap();
        assert_eq!(t.mode, SslMode::Prefer);
        let t = TlsSettings::resolve(None, Some("system"), None, None).unwrap();
        assert_eq!(t.mode, SslMode::VerifyFull);
        let e = TlsSettings::resolve(Some("require"), Some("system"), None, None).unwrap_err();
        assert!(e.contains("verify-full"), "{e}");
        let e = TlsSettings::resolve(Some("verify-ful"), None, None, None).unwrap_err();
        assert!(e.contains("verify-full"), "{e}");
    }

    #[test]
    fn verify_modes_need_roots_that_exist() {
        let e = TlsSettings::resolve(Some("verify-full"), Some("/nonexistent/ca.pem"), None, None)
            .unwrap_err();
        assert!(
            e.contains("/nonexistent/ca.pem") && e.contains("sslrootcert"),
            "{e}"
        );
    }
}
