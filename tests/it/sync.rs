//! A full sync of the fixture database (`tests/fixtures/app.sql`): rows,
//! schema objects, triggers, partitions, generated columns, quoted names,
//! kept bytes, determinism and that no original value survives.

use std::path::PathBuf;

use crate::harness::pg::Session;
use crate::harness::{anonymize, rules_dir, sync_args, Db, Pg};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A source database loaded with the fixture schema and data.
pub fn app_source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(&std::fs::read_to_string(fixtures().join("app.sql")).unwrap());
    db
}

pub const SECRET: &str = "QbU5Bv6731sblXhYTmcJv0cFTeJdBnDraggMfXui00qojBIZgIGClRyt";

/// Runs a sync of `source` into `target` with `rules` and `secret`.
pub fn sync(
    source: &Db,
    target: &Db,
    rules: &str,
    secret: &str,
    extra: &[&str],
) -> crate::harness::Run {
    let rules = fixtures().join(rules);
    let args = sync_args(&source.url, &target.url, rules.to_str().unwrap(), extra);
    anonymize(&fixtures(), &args, &[("ANONYMIZE_SECRET", secret)])
}

/// Writes fixture rules `rules` with `edits` (from, to) applied into a
/// temporary directory as `rules.yml`, and syncs `source` into `target` with
/// them. The directory is returned so the file outlives the run.
pub fn sync_with_edited_rules(
    source: &Db,
    target: &Db,
    rules: &str,
    edits: &[(&str, &str)],
) -> (tempfile::TempDir, crate::harness::Run) {
    let mut text = std::fs::read_to_string(fixtures().join(rules)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "the fixture rules hold `{from}`");
        text = text.replace(from, to);
    }
    let dir = rules_dir(&text);
    let args = sync_args(&source.url, &target.url, "rules.yml", &[]);
    let run = anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)]);
    (dir, run)
}

const TABLES: &[&str] = &[
    "customers",
    "orders",
    "audit",
    "events",
    "line_items",
    "notes_raw",
    "\"Billing Dept\".\"Invoice Lines\"",
];

/// A digest of a table's full contents, for equality checks.
fn digest(db: &Db, table: &str) -> String {
    db.value(&format!(
        "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
    ))
}

#[test]
fn full_copy_keeps_every_row_and_schema_object() {
    let pg = Pg::get();
    let source = app_source("full_src");
    let target = pg.fresh_name("full_dst");
    let run = sync(&source, &target, "app.yml", SECRET, &[]).expect(0);
    assert!(
        run.stdout.contains("public.customers"),
        "summary lists tables: {}",
        run.stdout
    );

    for t in TABLES {
        let q = format!("SELECT count(*) FROM {t}");
        assert_eq!(source.value(&q), target.value(&q), "row count of {t}");
    }
    // Kept tables are byte-identical, hard text and arrays included.
    for t in ["orders", "audit", "notes_raw", "line_items"] {
        assert_eq!(digest(&source, t), digest(&target, t), "contents of {t}");
    }
    // The partitioned table's rows are copied once, into the right partitions.
    assert_eq!(target.value("SELECT count(*) FROM events"), "100");
    assert_eq!(
        source.value("SELECT count(*) FROM ONLY events_2024"),
        target.value("SELECT count(*) FROM ONLY events_2024")
    );
    assert_eq!(
        target.value("SELECT count(DISTINCT payload) FROM events"),
        "1"
    );
    // The generated column is recomputed by the target.
    assert_eq!(
        target.value("SELECT sum(total) FROM line_items"),
        source.value("SELECT sum(total) FROM line_items")
    );
    assert_eq!(
        target.value("SELECT count(*) FROM line_items WHERE total <> qty * price"),
        "0"
    );

    // Indexes, constraints, triggers and sequences are in place.
    let objects = |db: &Db| {
        db.column(
            "SELECT conname || ':' || contype::text FROM pg_constraint WHERE connamespace <> 'pg_catalog'::regnamespace \
             UNION ALL SELECT indexname FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog') \
             UNION ALL SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
        )
    };
    assert_eq!(objects(&source), objects(&target));
    assert_eq!(
        target.value("SELECT last_value FROM customers_id_seq"),
        "1000"
    );
    assert_eq!(
        target.value("SELECT last_value FROM orders_id_seq"),
        source.value("SELECT last_value FROM orders_id_seq")
    );
    // No trigger fired during the load: audit holds exactly the source's rows.
    assert_eq!(digest(&source, "audit"), digest(&target, "audit"));
    // ...and the trigger works afterwards.
    target.exec("INSERT INTO orders (customer_id, total, status) VALUES (1, 1, 'new')");
    assert_eq!(target.value("SELECT count(*) FROM audit"), "151");
    // The materialized view was refreshed.
    assert_eq!(target.value("SELECT count(*) FROM order_totals"), "60");
    // A foreign key really is enforced.
    let fk =
        target.value("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated");
    assert_eq!(fk, "1");
}

#[test]
fn no_original_value_survives_in_faked_or_hashed_columns() {
    let pg = Pg::get();
    let source = app_source("leak_src");
    let target = pg.fresh_name("leak_dst");
    sync(&source, &target, "app.yml", SECRET, &[]).expect(0);
    for (col, table) in [
        ("email", "customers"),
        ("first_name", "customers"),
        ("last_name", "customers"),
        ("phone", "customers"),
        ("ssn", "customers"),
    ] {
        let originals = source.column(&format!(
            "SELECT {col} FROM {table} WHERE {col} IS NOT NULL"
        ));
        let outputs = target.column(&format!(
            "SELECT {col} FROM {table} WHERE {col} IS NOT NULL"
        ));
        assert_eq!(
            originals.len(),
            outputs.len(),
            "NULLs stay NULL and values stay values in {col}"
        );
        for o in &outputs {
            assert!(!originals.contains(o), "an original {col} survived");
        }
    }
    let originals = source.column(r#"SELECT "Customer Email" FROM "Billing Dept"."Invoice Lines""#);
    for o in target.column(r#"SELECT "Customer Email" FROM "Billing Dept"."Invoice Lines""#) {
        assert!(
            !originals.contains(&o),
            "an original invoice email survived"
        );
    }
    assert_eq!(
        target.value("SELECT count(*) FROM customers WHERE notes IS NOT NULL"),
        "0"
    );
    // The unique email column really is unique, and ssn keeps its format.
    assert_eq!(
        target.value("SELECT count(DISTINCT email) FROM customers"),
        "60"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM customers WHERE ssn !~ '^[0-9]{9}$'"),
        "0"
    );
    // One real value maps to one fake value everywhere (joinable).
    assert_eq!(
        target.value(
            r#"SELECT count(*) FROM "Billing Dept"."Invoice Lines" l JOIN customers c ON c.email = l."Customer Email""#
        ),
        "15"
    );
}

#[test]
fn same_secret_same_data_other_secret_other_data() {
    let pg = Pg::get();
    let source = app_source("det_src");
    let a = pg.fresh_name("det_a");
    let b = pg.fresh_name("det_b");
    let c = pg.fresh_name("det_c");
    sync(&source, &a, "app.yml", SECRET, &[]).expect(0);
    sync(&source, &b, "app.yml", SECRET, &["--jobs", "1"]).expect(0);
    sync(
        &source,
        &c,
        "app.yml",
        "DztnDwkpqQuQcJK22M5TjBNuTKml7YH8JHZu8I9Qb1Z4K2ef6s2muNa2",
        &[],
    )
    .expect(0);
    for t in TABLES {
        assert_eq!(
            digest(&a, t),
            digest(&b, t),
            "{t} differs between two runs with one secret"
        );
    }
    assert_ne!(
        digest(&a, "customers"),
        digest(&c, "customers"),
        "another secret gave the same customers"
    );
}

#[test]
fn a_second_run_replaces_the_target_atomically() {
    let pg = Pg::get();
    let source = app_source("rerun_src");
    let target = pg.fresh_name("rerun_dst");
    sync(&source, &target, "app.yml", SECRET, &[]).expect(0);
    source.exec("INSERT INTO customers (email) VALUES ('late@realmail.example')");
    sync(&source, &target, "app.yml", SECRET, &[]).expect(0);
    assert_eq!(target.value("SELECT count(*) FROM customers"), "61");
    assert!(!pg.exists(&format!("{}__next", target.name)));
    assert!(!pg.exists(&format!("{}__prev", target.name)));
}

#[test]
fn schema_existing_truncates_and_loads_without_firing_triggers() {
    let source = app_source("existing_src");
    // The app's own migrations made the target; it holds stale rows.
    let target = app_source("existing_dst");
    target.exec("INSERT INTO customers (email) VALUES ('stale@realmail.example'); SELECT setval('customers_id_seq', 5)");
    sync(
        &source,
        &target,
        "app.yml",
        SECRET,
        &["--into", "existing", "--force"],
    )
    .expect(0);
    assert_eq!(target.value("SELECT count(*) FROM customers"), "60");
    assert_eq!(
        target.value("SELECT count(*) FROM customers WHERE email LIKE '%realmail%'"),
        "0"
    );
    // Triggers were off during the load: audit is exactly the source's.
    assert_eq!(digest(&source, "audit"), digest(&target, "audit"));
    assert_eq!(
        target.value("SELECT last_value FROM customers_id_seq"),
        "1000"
    );
}

/// A big table's primary and unique keys are built as unique indexes beside
/// its other indexes and then made keys (`USING INDEX`): the target ends
/// with the very definitions of the source (columns, INCLUDE, NULLS NOT
/// DISTINCT, storage parameters, deferrable keys as pg_dump wrote them),
/// the keys enforce, and a foreign key to them validates.
#[test]
fn keys_of_big_tables_built_from_their_indexes_keep_their_definitions() {
    let pg = Pg::get();
    let source = pg.db("bigkeys_src");
    source.exec(
        "CREATE TABLE big (id bigint NOT NULL, code text, pad text, later int);
         INSERT INTO big SELECT g, 'c' || g, repeat('x', 120), g FROM generate_series(1, 150000) g;
         ALTER TABLE big ADD CONSTRAINT big_pkey PRIMARY KEY (id);
         ALTER TABLE big ADD CONSTRAINT big_code_key UNIQUE NULLS NOT DISTINCT (code) INCLUDE (pad) WITH (fillfactor = 80);
         ALTER TABLE big ADD CONSTRAINT big_later_key UNIQUE (later) DEFERRABLE INITIALLY DEFERRED;
         CREATE INDEX big_pad_idx ON big (pad);
         CREATE TABLE child (id int PRIMARY KEY, big_id bigint REFERENCES big (id));
         INSERT INTO child SELECT g, g FROM generate_series(1, 100) g;
         ANALYZE;",
    );
    assert!(
        source
            .value("SELECT pg_relation_size('big') >= 16 * 1024 * 1024")
            .starts_with('t'),
        "big is over KEY_AS_INDEX_BYTES, so its keys take the index path"
    );
    let target = pg.fresh_name("bigkeys_dst");
    let rules = rules_dir("version: 1\nunknown_columns: keep\ntables: {}\n");
    let args = sync_args(&source.url, &target.url, "rules.yml", &[]);
    anonymize(rules.path(), &args, &[("ANONYMIZE_SECRET", SECRET)]).expect(0);

    let definitions = |db: &Db| {
        db.column(
            "SELECT conname || ' ' || pg_get_constraintdef(oid) || ' ' || condeferrable::text || convalidated::text \
               FROM pg_constraint WHERE conrelid IN ('big'::regclass, 'child'::regclass) \
             UNION ALL SELECT indexdef FROM pg_indexes WHERE tablename IN ('big', 'child') ORDER BY 1",
        )
    };
    assert_eq!(definitions(&source), definitions(&target));
    // The keys enforce, as keys (not only as unique indexes).
    let session = Session::open(&target.url);
    assert_eq!(
        session.exec_err("INSERT INTO big VALUES (1, 'new', 'p', -1)"),
        "23505"
    );
    session.exec("INSERT INTO big VALUES (-1, NULL, 'p', -2)");
    assert_eq!(
        session.exec_err("INSERT INTO big VALUES (-2, NULL, 'p', -3)"),
        "23505",
        "NULLS NOT DISTINCT holds"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM pg_constraint WHERE contype IN ('p', 'u') AND conrelid = 'big'::regclass AND conindid <> 0"),
        "3"
    );
}
