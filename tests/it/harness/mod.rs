//! Test harness: the shared server, per-test databases, SQL helpers and a
//! runner for the built binary.

pub mod bench;
pub mod cli;
pub mod clusters;
pub mod failpoint;
pub mod pg;
pub mod replica;
pub mod tls;

pub use cli::{
    anonymize, anonymize_stdin, rules_dir, spawn, sync_args, verify_args, wait, wait_within, Run,
};
pub use failpoint::{env_refs, Failpoint};
pub use pg::{Db, Pg};
