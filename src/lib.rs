//! `anonymize`: copy a PostgreSQL database with personal data replaced.
//!
//! The stages come first, in the order data flows through them; then the
//! commands that string them together; then the support modules.
//! `docs/architecture.md` is the map. (Each stage is its own paragraph so
//! that rustfmt keeps this order instead of sorting the names.)

/// The source schema, read inside the run's snapshot.
pub mod catalog;

/// The YAML rules, as the user wrote them.
pub mod rules;

/// pg_dump's -t/-T/-n/-N: which tables take part, applied to the catalog
/// and the rules before the plan.
pub mod selection;

/// Rules × catalog, checked and compiled: what runs.
pub mod plan;

/// Polymorphic references kept by convention (Rails, Django), for `init`.
pub mod polymorphic;
/// Which rows each table keeps (part of the plan).
pub mod subset;

/// Will the run's locks fit in the server's lock table (many tables)?
pub mod lock_capacity;
/// The snapshot, its worker connections and the COPY-out query.
pub mod source;

/// What the source role may read, against what a run reads.
pub mod access;

/// The transforms that replace values.
pub mod transform;

/// COPY stream → batches → transforms → ordered writes; the worker pool.
pub mod pipeline;

/// Where rows go: a COPY into PostgreSQL, or export files (rows only).
pub mod sink;

/// One run, many workers: the coordinator's work units and the worker
/// loop (`sync --workers external`, `anonymize worker`).
pub mod workers;

/// The target database's life cycle: lock, create, check, swap.
pub mod target;

/// pg_dump's scripts as text: run, filter, classify, split.
pub mod pgdump;

/// Text in the schema copied verbatim (views, functions, defaults,
/// checks, comments): connection strings and personal literals.
pub mod schema_text;

/// Post-data scheduled as the tables arrive, with the row counts.
pub mod post_data;

/// The run's summary, report file and warnings.
pub mod report;

/// `--dry-run --format mermaid|dot`: the plan as a picture.
pub mod diagram;

/// The leak check: no original value left in what was written.
pub mod verify;

/// The export file formats: compression, manifest, staging.
pub mod export;

/// The commands (sync, check, init, verify, demo, export, load): each
/// strings the stages together for one job.
pub mod commands;

// Support modules.
pub mod cli;
pub mod config;
pub mod conn;
pub mod copy_text;
pub mod did_you_mean;
pub mod ephemeral;
pub mod error;
pub mod failpoint;
pub mod hex;
pub mod key;
pub mod logging;
pub mod pii;
pub mod progress;
pub mod signals;
pub mod sql;
/// The one YAML reader (rules, config) with positions, and `init`'s writer.
pub mod yaml;
