//! Failpoints: named places where a test makes a run stop or fail at a
//! known moment, instead of racing a kill against the run's progress.
//!
//! Only debug builds (the ones `cargo test` runs) read the environment; in a
//! release build every call is a no-op the optimizer removes.
//!
//! - `ANONYMIZE_FAILPOINT=<name>` arms the point called `<name>`;
//! - `ANONYMIZE_FAILPOINT_DIR=<dir>`: where a paused run announces itself.
//!
//! At an armed `pause` point the run creates `<dir>/<name>` and waits until
//! the test removes that file. While it waits, the run holds every
//! connection and transaction it had, and signals are handled as anywhere
//! else, so the test can kill sessions, send SIGTERM, or simply resume.

use std::path::PathBuf;
use std::time::Duration;

/// The armed point's name, when this build reads failpoints and one is set.
fn armed() -> Option<String> {
    if !cfg!(debug_assertions) {
        return None;
    }
    std::env::var("ANONYMIZE_FAILPOINT")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Whether the failpoint `name` is armed: for points that change what the
/// run does (drop a batch, fail a step) rather than pause it.
pub fn hit(name: &str) -> bool {
    armed().is_some_and(|a| a == name)
}

/// Pauses at `name` if it is armed, until the test removes the announce
/// file. Async, so the runtime keeps serving signals and connections.
pub async fn pause(name: &str) {
    let Some(file) = announce_file(name) else {
        return;
    };
    if let Err(e) = std::fs::write(&file, b"") {
        panic!("failpoint {name}: cannot create {}: {e}", file.display());
    }
    while file.exists() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Like `pause`, for code that runs outside the async runtime.
pub fn pause_blocking(name: &str) {
    let Some(file) = announce_file(name) else {
        return;
    };
    if let Err(e) = std::fs::write(&file, b"") {
        panic!("failpoint {name}: cannot create {}: {e}", file.display());
    }
    while file.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn announce_file(name: &str) -> Option<PathBuf> {
    if !hit(name) {
        return None;
    }
    let dir = std::env::var_os("ANONYMIZE_FAILPOINT_DIR").unwrap_or_else(|| {
        panic!("failpoint {name} is armed but ANONYMIZE_FAILPOINT_DIR is not set")
    });
    Some(PathBuf::from(dir).join(name))
}
