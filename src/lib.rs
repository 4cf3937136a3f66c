//! `anonymize`: copy a PostgreSQL database with personal data replaced.
//!
//! The modules are listed in data-flow order: what the user typed, the rules
//! and the source catalog, the plan built from both, then the pipeline that
//! moves rows from the source through the transforms into a sink.

pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod conn;
pub mod copy_text;
pub mod ephemeral;
pub mod error;
pub mod export;
pub mod failpoint;
pub mod logging;
pub mod pii;
pub mod pipeline;
pub mod plan;
pub mod post_data;
pub mod progress;
pub mod report;
pub mod rules;
pub mod schema;
pub mod sink;
pub mod source;
pub mod subset;
pub mod target;
pub mod transform;
