//! Test harness: the shared server, per-test databases, SQL helpers and a
//! runner for the built binary.

pub mod cli;
pub mod clusters;
pub mod failpoint;
pub mod pg;
pub mod replica;
pub mod tls;

pub use cli::{anonymize, spawn, wait, wait_within, Run};
pub use failpoint::{env_refs, Failpoint};
pub use pg::{Db, Pg};

/// Whether this build has the keyed transforms (`fake`, `hash`, `shift`,
/// `json`) from the transforms branch.
pub fn has_transforms() -> bool {
    ["fake", "hash", "shift", "json"]
        .iter()
        .all(|n| anonymize::transform::names().contains(n))
}

/// For tests that need the transforms: false (with a note on stderr) until
/// the transforms branch is merged, so they return early; after the merge
/// they run.
pub fn transforms_available(test: &str) -> bool {
    let have = has_transforms();
    if !have {
        eprintln!("{test}: skipped, this build lacks the fake/hash/shift/json transforms");
    }
    have
}
