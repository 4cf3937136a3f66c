//! The export file formats (`format`, a module each), compression, the
//! manifest of a directory export, and the staging directory that makes
//! an export appear whole.
//! The `export` command that writes them is `commands::export`.

pub mod assemble;
pub mod compress;
pub mod format;
pub mod manifest;
pub mod staging;
