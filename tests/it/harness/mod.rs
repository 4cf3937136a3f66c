//! Test harness: the shared server, per-test databases, SQL helpers and a
//! runner for the built binary.

pub mod cli;
pub mod pg;

pub use cli::{anonymize, spawn, wait, Run};
pub use pg::{Db, Pg};
