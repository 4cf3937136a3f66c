//! The benchmark dataset (`benches/dataset/`, or `BENCH_DIR`), loaded by its
//! own `load.sh` into a test database: the tests that promise something
//! about "the benchmark dataset" run on the dataset itself, not on a copy
//! of its shape.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::{Db, Pg};

/// Where the dataset is: `BENCH_DIR` when set, else the repository's copy.
pub fn dir() -> PathBuf {
    std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/dataset"))
}

/// A PostgreSQL client program (`psql`, `pg_dump`, `pg_restore`).
pub fn pg_tool(name: &str) -> PathBuf {
    crate::export::psql().with_file_name(name)
}

/// Fills the empty `db` with `load.sh SCALE`: schema, rows, constraints,
/// sequences and ANALYZE.
pub fn load(db: &Db, scale: &str) {
    let path = format!(
        "{}:{}",
        pg_tool("psql").parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("bash")
        .arg(dir().join("load.sh"))
        .args([scale, &db.url])
        .env("PATH", path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "load.sh {scale} failed");
}

/// A new database named after `test` holding the dataset at `scale`, as
/// `load` leaves it (statistics included). The first call for a scale loads
/// a template database; the others copy it, so the tests that share a scale
/// pay for `load.sh` once.
pub fn loaded(test: &str, scale: &str) -> Db {
    static TEMPLATES: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
    let template = {
        // Held while loading: a second test of the same scale waits for the
        // template instead of loading its own.
        let mut templates = TEMPLATES.lock().unwrap_or_else(|e| e.into_inner());
        templates
            .entry(scale.to_string())
            .or_insert_with(|| {
                let db = Pg::get().db(&format!("bench_template_{}", scale.replace('.', "_")));
                load(&db, scale);
                db.name
            })
            .clone()
    };
    Pg::get().db_from_template(test, &template)
}

/// How a copy of a database reaches a test, never analysed either way.
#[derive(Clone, Copy, Debug)]
pub enum Restore {
    /// `pg_restore` of a `pg_dump -Fc`: the index builds after the data
    /// leave each indexed table's `reltuples`, nothing else.
    Dump,
    /// The same dump with its keys and indexes first (as an SQL script that
    /// declares them in `CREATE TABLE` loads): every `reltuples` stays -1.
    KeysFirst,
}

/// Restores `from` into the empty `into`. No statistics come along, and
/// autovacuum is kept off the restored tables so none arrive while the test
/// runs.
pub fn restore_unanalysed(from: &Db, into: &Db, how: Restore) {
    autovacuum_off_for_new_tables(into);
    let dump = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new(pg_tool("pg_dump"))
        .args(["-Fc", "-d", &from.url, "-f"])
        .arg(dump.path())
        .status()
        .unwrap();
    assert!(status.success(), "pg_dump failed");
    let sections: &[&[&str]] = match how {
        Restore::Dump => &[&[]],
        // Data last, under the FK triggers' switch (the employees'
        // manager chain refers to itself).
        Restore::KeysFirst => &[
            &["--section=pre-data"],
            &["--section=post-data"],
            &["--section=data", "--disable-triggers"],
        ],
    };
    for args in sections {
        let status = Command::new(pg_tool("pg_restore"))
            .args(["--no-owner", "--exit-on-error", "-d", &into.url])
            .args(*args)
            .arg(dump.path())
            .status()
            .unwrap();
        assert!(status.success(), "pg_restore {args:?} failed");
    }
    autovacuum_as_usual(into);
    let analysed = into.value(
        "SELECT count(*) FROM pg_stat_user_tables \
         WHERE last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL",
    );
    assert_eq!(analysed, "0", "the restore analysed a table");
    let unknown = into.value(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace \
         AND relkind = 'r' AND reltuples < 0",
    );
    let expected = match how {
        Restore::Dump => "0",
        Restore::KeysFirst => "6",
    };
    assert_eq!(
        unknown, expected,
        "tables without a row estimate after {how:?}"
    );
}

/// Until `autovacuum_as_usual`, every table created in `db` has autovacuum
/// off, so no statistics arrive behind a test's back.
pub fn autovacuum_off_for_new_tables(db: &Db) {
    db.exec(
        "CREATE FUNCTION no_autovacuum() RETURNS event_trigger LANGUAGE plpgsql AS $$
         DECLARE r record;
         BEGIN
           FOR r IN SELECT c.oid::regclass AS t FROM pg_event_trigger_ddl_commands() d
                      JOIN pg_class c ON c.oid = d.objid AND c.relkind = 'r' LOOP
             EXECUTE format('ALTER TABLE %s SET (autovacuum_enabled = off)', r.t);
           END LOOP;
         END $$;
         CREATE EVENT TRIGGER no_autovacuum ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
           EXECUTE FUNCTION no_autovacuum();",
    );
}

/// New tables of `db` get autovacuum again (the ones made meanwhile keep
/// it off).
pub fn autovacuum_as_usual(db: &Db) {
    db.exec("DROP EVENT TRIGGER no_autovacuum; DROP FUNCTION no_autovacuum()");
}
