//! The TLS-only test server: `ssl=on` with a CA, server and client
//! certificates made here (rcgen), and a `pg_hba.conf` that admits only
//! `hostssl` over TCP. Started once per test binary.
//!
//! Roles: `app` (password `app-secret`, scram) and `certuser` (client
//! certificate only). The harness itself connects through the Unix socket.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use anonymize::ephemeral::{Cluster, Setup};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use super::pg::{exec, Db};

pub const APP_PASSWORD: &str = "app-secret";

/// The running TLS server and the files a client needs.
pub struct TlsServer {
    pub port: u16,
    socket: PathBuf,
    /// Certificates and keys, PEM: `ca.crt` (signed the server's and
    /// `certuser.crt`), `other-ca.crt` (signed `rogue.crt`, a `certuser`
    /// certificate the server does not trust).
    pub files: PathBuf,
}

static SERVER: OnceLock<TlsServer> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A leaf certificate and its key, PEM.
fn leaf(cn: &str, names: &[&str], issuer: &CertifiedIssuer<'static, KeyPair>) -> (String, String) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl TlsServer {
    pub fn get() -> &'static TlsServer {
        SERVER.get_or_init(|| {
            let files = tempfile::Builder::new()
                .prefix("anonymize-tls-")
                .tempdir()
                .unwrap()
                .keep();
            let ca = new_ca("anonymize test CA");
            let other = new_ca("some other CA");
            let (server_crt, server_key) = leaf("anonymize test server", &["localhost"], &ca);
            let (client_crt, client_key) = leaf("certuser", &[], &ca);
            let (rogue_crt, rogue_key) = leaf("certuser", &[], &other);
            for (name, text) in [
                ("ca.crt", ca.pem()),
                ("other-ca.crt", other.pem()),
                ("certuser.crt", client_crt),
                ("certuser.key", client_key),
                ("rogue.crt", rogue_crt),
                ("rogue.key", rogue_key),
            ] {
                let path = files.join(name);
                std::fs::write(&path, text).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            let setup = Setup {
                settings: vec![
                    ("ssl".into(), "on".into()),
                    ("ssl_cert_file".into(), "server.crt".into()),
                    ("ssl_key_file".into(), "server.key".into()),
                    ("ssl_ca_file".into(), "ca.crt".into()),
                ],
                hba: Some(
                    "local all all trust\n\
                     hostssl all certuser 127.0.0.1/32 cert\n\
                     hostssl all all 127.0.0.1/32 scram-sha-256\n"
                        .into(),
                ),
                files: vec![
                    ("server.crt".into(), server_crt.into_bytes()),
                    ("server.key".into(), server_key.into_bytes()),
                    ("ca.crt".into(), ca.pem().into_bytes()),
                ],
                ..super::clusters::setup()
            };
            let cluster = Cluster::start_with(&setup).expect("start the TLS test server");
            let server = TlsServer {
                port: cluster.port(),
                socket: cluster.socket_dir().to_path_buf(),
                files,
            };
            super::clusters::keep(cluster);
            exec(
                &server.admin_url("postgres"),
                &format!(
                    "CREATE ROLE app LOGIN SUPERUSER PASSWORD '{APP_PASSWORD}'; \
                     CREATE ROLE certuser LOGIN SUPERUSER;"
                ),
            );
            server
        })
    }

    /// The harness's own way in: the Unix socket, as `postgres`.
    pub fn admin_url(&self, db: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={db}",
            self.socket.display(),
            self.port
        )
    }

    /// A new database on this server, for the harness to fill.
    pub fn db(&self, test: &str) -> Db {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}_{}_{}", test, std::process::id(), n);
        exec(
            &self.admin_url("postgres"),
            &format!("CREATE DATABASE \"{name}\""),
        );
        Db {
            url: self.admin_url(&name),
            name,
        }
    }

    /// A client URL over TCP: `user@host:port/db?params`.
    pub fn url(&self, user: &str, host: &str, db: &str, params: &str) -> String {
        format!("postgresql://{user}@{host}:{}/{db}?{params}", self.port)
    }

    /// The path of one of the certificate files.
    pub fn file(&self, name: &str) -> String {
        self.files.join(name).to_string_lossy().into_owned()
    }
}
