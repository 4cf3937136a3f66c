//! Many tables (schema per tenant): a run whose locks cannot fit in a
//! server's lock table stops before anything runs, with exit 2, naming the
//! setting and the value it needs (issue 30), instead of failing inside
//! pg_dump with "out of shared memory" after the plan.

use anonymize::ephemeral::{Cluster, Setup};

use crate::harness::cli::{anonymize, rules_dir, sync_args};
use crate::harness::clusters::local_clusters;
use crate::harness::pg::{exec, query, Pg};

const RULES: &str = "version: 1\nunknown_columns: keep\n";

/// `n` tables of two rows, each with a primary key and a text column (so a
/// TOAST table), in `url`'s database.
fn create_tables(url: &str, n: usize) {
    exec(
        url,
        &format!(
            "DO $$ BEGIN FOR i IN 1 .. {n} LOOP \
               EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, note text)', i); \
               EXECUTE format('INSERT INTO t%s VALUES (1, ''a''), (2, ''b'')', i); \
             END LOOP; END $$"
        ),
    );
}

/// A cluster whose lock table holds 10 × (20 + 0) = 200 entries.
fn small_lock_table() -> Cluster {
    Cluster::start_with(&Setup {
        settings: vec![
            ("max_locks_per_transaction".into(), "10".into()),
            ("max_connections".into(), "20".into()),
        ],
        ..crate::harness::clusters::setup()
    })
    .expect("start a cluster with a small lock table")
}

#[test]
fn a_run_that_cannot_fit_its_locks_stops_before_anything_runs() {
    if !local_clusters("a_run_that_cannot_fit_its_locks_stops_before_anything_runs") {
        return;
    }
    let small = small_lock_table();
    let dir = rules_dir(RULES);
    let rules = dir.path().join("rules.yml");
    let rules = rules.to_str().unwrap();

    // 20 tables: 2 × 20 source locks and 64 spare fit in 200.
    exec(&small.url("postgres"), "CREATE DATABASE few");
    create_tables(&small.url("few"), 20);
    anonymize(
        dir.path(),
        &["check", "--source", &small.url("few"), "--rules", rules],
        &[],
    )
    .expect(0);

    // 80 tables: pg_dump and the snapshot session lock 160, and 64 spare:
    // more than 200.
    exec(&small.url("postgres"), "CREATE DATABASE many");
    let source = small.url("many");
    create_tables(&source, 80);
    let check = anonymize(
        dir.path(),
        &["check", "--source", &source, "--rules", rules],
        &[],
    )
    .expect(2);
    assert!(
        check
            .stderr
            .contains("needs about 160 locks on the source server")
            && check
                .stderr
                .contains("max_locks_per_transaction to at least 12"),
        "{}",
        check.stderr
    );
    let target = small.url("many_copy");
    let sync = anonymize(dir.path(), &sync_args(&source, &target, rules, &[]), &[]).expect(2);
    assert!(
        sync.stderr.contains("max_locks_per_transaction"),
        "{}",
        sync.stderr
    );
    let left = query(
        &small.url("postgres"),
        "SELECT count(*)::text FROM pg_database WHERE datname LIKE 'many_copy%'",
    );
    assert_eq!(
        left[0][0].as_deref(),
        Some("0"),
        "a target database was made"
    );
}

#[test]
fn a_target_that_cannot_hold_the_schema_script_is_refused_before_it_is_made() {
    if !local_clusters("a_target_that_cannot_hold_the_schema_script_is_refused_before_it_is_made") {
        return;
    }
    let small = small_lock_table();
    // The source (the shared cluster) holds the locks easily; the target
    // would create 80 tables, 80 TOAST tables and their 80 indexes at once.
    let source = Pg::get().db("many_tables_target");
    create_tables(&source.url, 80);
    let dir = rules_dir(RULES);
    let rules = dir.path().join("rules.yml");
    let target = small.url("copy");
    let run = anonymize(
        dir.path(),
        &sync_args(&source.url, &target, rules.to_str().unwrap(), &[]),
        &[],
    )
    .expect(2);
    assert!(
        run.stderr
            .contains("needs about 240 locks on the target server")
            && run
                .stderr
                .contains("max_locks_per_transaction to at least 16"),
        "{}",
        run.stderr
    );
    let left = query(
        &small.url("postgres"),
        "SELECT count(*)::text FROM pg_database WHERE datname LIKE 'copy%'",
    );
    assert_eq!(
        left[0][0].as_deref(),
        Some("0"),
        "a target database was made"
    );
}

/// The indexes and keys of many small tables go to the target in shared
/// transactions (issue 30); one that fails still fails alone, named, with
/// the context of its own statement, and the run ends as a failed
/// post-data does.
#[test]
fn a_failing_index_among_small_tables_still_names_itself() {
    let pg = Pg::get();
    let source = pg.db("many_tables_batch");
    create_tables(&source.url, 30);
    // An index on a function that refuses the value the rules write
    // (`same`): the plan cannot know what a function does, so the run
    // fails where the target builds the index.
    source.exec(
        "CREATE FUNCTION note_rank(n text) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
           BEGIN
             IF n IN ('a', 'b') THEN RETURN 1; END IF;
             RAISE EXCEPTION 'not a note we keep' USING ERRCODE = '22023';
           END $$;
         CREATE INDEX t7_note_rank ON t7 (note_rank(note))",
    );
    // An index on every table, so that the failing one is built among
    // others (after the primary keys, which lock their tables alone).
    source.exec(
        "DO $$ BEGIN FOR i IN 1 .. 30 LOOP \
           EXECUTE format('CREATE INDEX ON t%s (note)', i); \
         END LOOP; END $$",
    );
    let dir = rules_dir(
        "version: 1\nunknown_columns: keep\ntables:\n  public.t7:\n    columns: { note: { set: same } }\n",
    );
    let rules = dir.path().join("rules.yml");
    let target = pg.fresh_name("many_tables_batch_dst");
    // Post-data waits for every copy: all 30 tables' keys and indexes are
    // ready at once, so they are taken together, the failing one among them.
    let run = anonymize(
        dir.path(),
        &sync_args(
            &source.url,
            &target.url,
            rules.to_str().unwrap(),
            &["--jobs", "2"],
        ),
        &[("ANONYMIZE_FAILPOINT", "post_data.after_all_copies")],
    )
    .expect(1);
    assert!(
        run.stderr
            .contains("error: building an index on the target (index t7_note_rank): ERROR (22023"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("same"),
        "a value was printed: {}",
        run.stderr
    );
    assert!(!pg.exists(&target.name), "a target was made");
    assert!(!pg.exists(&format!("{}__next", target.name)));
}
