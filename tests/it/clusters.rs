//! Throwaway clusters (the demo's and the tests', `src/ephemeral.rs`) let
//! no one else in (issue 10): the Unix socket sits in a private directory,
//! and over TCP the server asks for a random password, never `trust`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use anonymize::ephemeral::Cluster;

use crate::harness::clusters::local_clusters;
use crate::harness::pg::{exec, query};

/// The SQLSTATE of a failed connection attempt, or "" when it connected.
fn connect_error(url: &str) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
                Ok(_) => String::new(),
                Err(e) => e
                    .code()
                    .map(|c| c.code().to_string())
                    .unwrap_or_else(|| e.to_string()),
            }
        })
}

#[test]
fn a_throwaway_cluster_refuses_tcp_without_its_password() {
    if !local_clusters("a_throwaway_cluster_refuses_tcp_without_its_password") {
        return;
    }
    let cluster = Cluster::start_with(&crate::harness::clusters::setup()).unwrap();
    let port = cluster.port().to_string();

    // The socket's directory: only the server's user may enter.
    let mode = std::fs::metadata(cluster.socket_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "socket directory mode {mode:o}");

    // TCP without a password: the server asks for one (psql -w never
    // prompts), so a local user cannot just connect as superuser.
    let out = Command::new(cluster.bin_dir().join("psql"))
        .args(["-w", "-X", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
        .args(["-d", "postgres", "-c", "SELECT 1"])
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "connected without a password");
    assert!(stderr.contains("no password supplied"), "{stderr}");

    // A wrong password: refused by the server (28P01).
    let wrong = format!("postgresql://postgres:not-the-password@127.0.0.1:{port}/postgres");
    assert_eq!(connect_error(&wrong), "28P01");

    // The cluster's own URL (with its password) and its socket work.
    exec(&cluster.url("postgres"), "SELECT 1");
    let socket = format!(
        "host={} port={port} user=postgres dbname=postgres",
        cluster.socket_dir().display()
    );
    // No rule anywhere trusts a TCP client.
    let trusted = query(
        &socket,
        "SELECT type || ' ' || coalesce(address, '') FROM pg_hba_file_rules \
         WHERE type LIKE 'host%' AND auth_method = 'trust'",
    );
    assert!(trusted.is_empty(), "trust over TCP: {trusted:?}");
    assert_ne!(cluster.password().len(), 0);
}
