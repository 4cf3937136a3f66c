//! Integration tests: the real binary against a real, ephemeral PostgreSQL
//! (one cluster per test binary, a database per test), or the server named
//! by `ANONYMIZE_TEST_DATABASE_URL`.

mod harness;

mod check;
mod clusters;
mod codec;
mod config;
mod correctness;
mod demo;
mod errors;
mod export;
mod extend;
mod faults;
mod gates;
mod hostile;
mod inheritance;
mod init;
mod many_tables;
mod memory;
mod messages;
mod one_output;
mod operations;
mod privacy;
mod read_only;
mod replica;
mod security;
mod subset;
mod sweep;
mod sync;
mod tls;
mod toolbox;
mod transforms;
mod verify;
mod workers;
