//! Everything about pg_dump's scripts, as text: running pg_dump for the
//! pre- and post-data sections (`run`), taking out what must never reach
//! the target (`filter`), reading a script as entries and what each
//! post-data entry builds (`classify`), and splitting any SQL script into
//! statements the way psql does (`split`).
//!
//! Nothing here talks to a database: the target runs what this module
//! hands it (`target`, `post_data`, `commands::load`).

pub mod classify;
pub mod filter;
pub mod run;
pub mod split;

pub use classify::{classify, entries, key_by_index, Entry, KeyByIndex, PostData, PREAMBLE};
pub use filter::{keep_known_roles, without_version_lines, TargetRole};
pub use run::{dump_schema, find_pg_dump, PgDump, Privileges, Sections};
