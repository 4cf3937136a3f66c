//! Clusters some tests start besides the shared one (the TLS server, the
//! hot standby): each started once per test binary, and stopped when the
//! binary exits.

use std::sync::{Mutex, Once};

use anonymize::ephemeral::Cluster;

static EXTRA: Mutex<Vec<Cluster>> = Mutex::new(Vec::new());
static REGISTER: Once = Once::new();

extern "C" fn stop_extra() {
    if let Ok(mut clusters) = EXTRA.lock() {
        // Last started first: a standby stops before its primary.
        while let Some(c) = clusters.pop() {
            drop(c);
        }
    }
}

/// Keeps `cluster` running until the test binary exits.
pub fn keep(cluster: Cluster) {
    REGISTER.call_once(|| {
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(stop_extra) };
    });
    EXTRA.lock().unwrap().push(cluster);
}

/// Whether tests may start clusters of their own: not when the suite runs
/// against a server given by `ANONYMIZE_TEST_DATABASE_URL` (no local
/// server binaries, or a primary we cannot replicate from).
pub fn local_clusters(test: &str) -> bool {
    let ok = std::env::var_os("ANONYMIZE_TEST_DATABASE_URL").is_none();
    if !ok {
        eprintln!("{test}: skipped, ANONYMIZE_TEST_DATABASE_URL is set and this test starts its own cluster");
    }
    ok
}
