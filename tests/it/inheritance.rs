//! Old-style inheritance (issue 15): a parent, a child, a grandchild and a
//! child in another schema each keep exactly their own rows, whatever the
//! load order, the job count, the subset or the schema mode; and a load
//! that loses rows after its COPY succeeded never goes live.

use std::path::Path;

use crate::harness::{anonymize, rules_dir, sync_args, Db, Failpoint, Pg, Run};

const SECRET: &str = "inheritance-test-secret-0123456789abcdef";

/// The children hold more bytes than the parent, so the largest-first
/// order loads them before it: a parent's TRUNCATE that reached its
/// children would then empty them, at any job count.
fn source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(
        "CREATE SCHEMA other;
         CREATE TABLE parent (id int PRIMARY KEY, name text);
         CREATE TABLE child (extra text) INHERITS (parent);
         CREATE TABLE grandchild (more text) INHERITS (child);
         CREATE TABLE other.cousin (note text) INHERITS (parent);
         CREATE TABLE big (id int PRIMARY KEY, payload text);
         INSERT INTO parent SELECT i, 'p' || i FROM generate_series(1, 100) i;
         INSERT INTO child SELECT i, 'c' || i, repeat('x', 40) FROM generate_series(1001, 4000) i;
         INSERT INTO grandchild SELECT i, 'g' || i, 'e', repeat('y', 40) FROM generate_series(5001, 7000) i;
         INSERT INTO other.cousin SELECT i, 'o' || i, repeat('z', 40) FROM generate_series(8001, 9500) i;
         INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, 20000) i;
         ANALYZE;",
    );
    db
}

const RULES: &str = "version: 1
tables:
  public.parent: { columns: { id: keep, name: keep } }
  public.child: { columns: { id: keep, name: keep, extra: keep } }
  public.grandchild: { columns: { id: keep, name: keep, extra: keep, more: keep } }
  other.cousin: { columns: { id: keep, name: keep, note: keep } }
  public.big: { columns: { id: keep, payload: keep } }
";

const TABLES: [&str; 5] = [
    "public.big",
    "public.child",
    "public.grandchild",
    "public.parent",
    "other.cousin",
];

fn sync(dir: &Path, source: &Db, target: &Db, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = sync_args(
        &source.url,
        &target.url,
        "rules.yml",
        &["--report", "report.json"],
    );
    args.extend_from_slice(extra);
    let mut env = env.to_vec();
    env.push(("ANONYMIZE_SECRET", SECRET));
    anonymize(dir, &args, &env)
}

/// Each table's own rows (`ONLY`), as sorted text.
fn own_rows(db: &Db, table: &str) -> Vec<String> {
    db.column(&format!("SELECT t::text FROM ONLY {table} t ORDER BY 1"))
}

/// Rows per table as the report tells them.
fn reported_rows(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["rows_written"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn assert_same_rows(source: &Db, target: &Db) {
    for table in TABLES {
        assert_eq!(
            own_rows(target, table),
            own_rows(source, table),
            "rows of {table}"
        );
    }
}

fn assert_report_counts_target(dir: &Path, target: &Db) {
    let reported = reported_rows(dir);
    for table in TABLES {
        let held: u64 = target
            .value(&format!("SELECT count(*) FROM ONLY {table}"))
            .parse()
            .unwrap();
        assert_eq!(reported[table], held, "the report's count of {table}");
    }
}

#[test]
fn every_inheritance_level_keeps_its_rows_at_one_and_two_jobs() {
    let pg = Pg::get();
    let source = source("inh_src");
    let dir = rules_dir(RULES);
    for jobs in ["1", "2"] {
        let target = pg.fresh_name(&format!("inh_dst_j{jobs}"));
        sync(dir.path(), &source, &target, &["--jobs", jobs], &[]).expect(0);
        assert_same_rows(&source, &target);
        assert_report_counts_target(dir.path(), &target);
    }
}

#[test]
fn a_subset_keeps_the_rows_of_every_inheritance_level() {
    let pg = Pg::get();
    let source = source("inh_sub_src");
    let dir = rules_dir(RULES);
    let target = pg.fresh_name("inh_sub_dst");
    sync(
        dir.path(),
        &source,
        &target,
        &["--subset", "10%", "--jobs", "1"],
        &[],
    )
    .expect(0);
    assert_report_counts_target(dir.path(), &target);
    for table in TABLES {
        let kept = own_rows(&target, table);
        assert!(!kept.is_empty(), "{table} came out empty");
        let all = own_rows(&source, table);
        assert!(
            kept.iter().all(|r| all.binary_search(r).is_ok()),
            "{table} holds rows that are not its own"
        );
    }
}

#[test]
fn schema_existing_keeps_the_rows_of_every_inheritance_level() {
    let pg = Pg::get();
    let source = source("inh_ex_src");
    let dir = rules_dir(RULES);
    let target = pg.fresh_name("inh_ex_dst");
    sync(dir.path(), &source, &target, &[], &[]).expect(0);
    source.exec(
        "UPDATE child SET extra = 'changed' WHERE id % 2 = 0; DELETE FROM parent WHERE id > 90",
    );
    sync(dir.path(), &source, &target, &["--into", "existing"], &[]).expect(0);
    assert_same_rows(&source, &target);
    assert_report_counts_target(dir.path(), &target);
}

#[test]
fn rows_lost_after_their_copy_fail_the_run_and_leave_the_target() {
    let pg = Pg::get();
    let source = source("inh_net_src");
    let dir = rules_dir(RULES);
    let target = pg.fresh_name("inh_net_dst");
    sync(dir.path(), &source, &target, &[], &[]).expect(0);
    source.exec("DELETE FROM big WHERE id > 10000");
    let before = own_rows(&target, "public.big");

    // The failpoint drops every batch on its way to the target, after the
    // rows were counted as sent: only the final count can notice.
    let point = Failpoint::new("copy.drop_batch");
    let env = point.env();
    let run = sync(
        dir.path(),
        &source,
        &target,
        &[],
        &crate::harness::env_refs(&env),
    )
    .expect(1);
    // Tables are checked in name order: `other.cousin` comes first.
    assert!(
        run.stderr.contains(
            "table other.cousin holds 0 row(s) in the load database, but 1500 were sent to it"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the target was left as it was"),
        "{}",
        run.stderr
    );
    assert_eq!(
        own_rows(&target, "public.big"),
        before,
        "the target changed"
    );
    assert!(!pg.exists(&format!("{}__next", target.name)));

    // The same run without the failpoint goes through.
    sync(dir.path(), &source, &target, &[], &[]).expect(0);
    assert_same_rows(&source, &target);
}
