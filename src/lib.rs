//! `anonymize`: copy a PostgreSQL database with personal data replaced.
//!
//! The modules are listed in data-flow order: what the user typed, the rules
//! and the source catalog, the plan built from both, then the pipeline that
//! moves rows from the source through the transforms into a sink.

pub mod cli;
pub mod error;
pub mod conn;
pub mod rules;
pub mod catalog;
pub mod transform;
pub mod plan;
pub mod subset;
pub mod source;
pub mod copy_text;
pub mod pipeline;
pub mod sink;
pub mod schema;
pub mod progress;
pub mod report;
pub mod sync;
pub mod check;
pub mod ephemeral;
pub mod demo;
pub mod logging;
