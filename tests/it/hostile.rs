//! Every type and structure production grows (issue 8), in one database
//! (`tests/fixtures/hostile.sql`): under `keep` each table comes out
//! byte-identical, and the schema objects around the data (extensions,
//! domains, partitions, inheritance, views, rules, policies, event
//! triggers, comments, sequences) are there; under rules, the rules apply
//! and every kept column is still identical.

use crate::harness::{anonymize, rules_dir, sync_args, Db, Pg, Run};
use crate::sync::fixtures;

const SECRET: &str = "hostile-schema-test-secret-0123456789abcdef";

pub(crate) fn source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(&std::fs::read_to_string(fixtures().join("hostile.sql")).unwrap());
    db
}

fn sync(source: &Db, target: &Db, rules: &str, extra: &[&str]) -> Run {
    let dir = rules_dir(rules);
    let args = sync_args(&source.url, &target.url, "rules.yml", extra);
    anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)])
}

/// Every table's rows (partitions through their root, inheritance
/// children on their own), as PostgreSQL prints them.
pub(crate) const TABLES: [&str; 11] = [
    r#""Odd Schema"."Table.With ""Quotes"" and Ünïcode""#,
    "public.buckets",
    "public.car",
    "public.computed",
    "public.kinds",
    "public.measures",
    "public.no_pk",
    "public.people",
    "public.people_log",
    "public.scratch",
    "public.vehicle",
];

pub(crate) fn rows(db: &Db, table: &str) -> Vec<String> {
    db.column(&format!("SELECT t::text FROM ONLY {table} t ORDER BY 1"))
}

/// One column of `kinds`, as text, in id order.
fn kinds_column(db: &Db, column: &str) -> Vec<String> {
    db.query(&format!("SELECT {column}::text FROM kinds ORDER BY id"))
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_else(|| "<NULL>".into()))
        .collect()
}

/// The schema objects that are not rows: what a reader of the target sees.
pub(crate) fn schema_facts(db: &Db) -> Vec<String> {
    let mut facts = Vec::new();
    for sql in [
        "SELECT extname FROM pg_extension ORDER BY 1",
        "SELECT typname || ':' || typtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE n.nspname = 'public' AND typtype IN ('d', 'e', 'c', 'r', 'm') AND typname NOT LIKE '\\_%' \
           AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid) ORDER BY 1",
        "SELECT c.relname || ':' || c.relkind::text || ':' || c.relpersistence::text || ':' || c.relrowsecurity \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname IN ('public', 'archive', 'Odd Schema') AND c.relkind IN ('r', 'p', 'v', 'm', 'S') ORDER BY 1",
        "SELECT inhrelid::regclass::text || ' < ' || inhparent::regclass::text FROM pg_inherits ORDER BY 1",
        "SELECT polname FROM pg_policy ORDER BY 1",
        "SELECT rulename FROM pg_rules WHERE schemaname = 'public' ORDER BY 1",
        "SELECT evtname FROM pg_event_trigger ORDER BY 1",
        "SELECT coalesce(obj_description('people'::regclass), '') || '|' || coalesce(col_description('people'::regclass, 2), '')",
        "SELECT conname || ':' || contype::text FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
         WHERE n.nspname <> 'pg_catalog' ORDER BY 1",
        "SELECT indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname <> 'pg_catalog' AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1",
        "SELECT nextval('computed_id_seq')",
        "SELECT count(*) FROM people_domains",
        "SELECT count(*) FROM people_emails",
    ] {
        facts.push(format!("{sql}\n=> {}", db.column(sql).join(", ")));
    }
    facts
}

#[test]
fn every_type_and_structure_syncs_byte_identical_under_keep() {
    let pg = Pg::get();
    let source = source("hostile_keep_src");
    let target = pg.fresh_name("hostile_keep_dst");
    let run = sync(&source, &target, "version: 1\nunknown_columns: keep\n", &[]).expect(0);
    for table in TABLES {
        assert_eq!(
            rows(&target, table),
            rows(&source, table),
            "rows of {table}"
        );
    }
    assert_eq!(schema_facts(&target), schema_facts(&source));
    // Large objects are named as left out, and are not there.
    assert!(
        run.stderr
            .contains("the source holds large objects (lo_*), which are not copied"),
        "{}",
        run.stderr
    );
    assert_eq!(
        target.value("SELECT count(*) FROM pg_largeobject_metadata"),
        "0"
    );
}

#[test]
fn rules_apply_to_every_type_they_fit_and_kept_columns_stay_identical() {
    let pg = Pg::get();
    let source = source("hostile_rules_src");
    let target = pg.fresh_name("hostile_rules_dst");
    let rules = r#"version: 1
unknown_columns: keep
tables:
  public.kinds:
    columns:
      zip: { hash: { format: digits, length: 5 } }
      qty: { random_int: { min: 1, max: 100 } }
      email: { fake: email }
      at_zone: { shift: { days: 30 } }
      doc_jsonb: { json: { paths: { deep.k: { set: redacted } } } }
      note: { mask: {} }
      uid: { hash: {} }
      label: { fake: first_name }
      raw: null
  public.people:
    columns:
      id: keep
      email: { fake: email, unique: true }
      name: { fake: name }
"#;
    sync(&source, &target, rules, &[]).expect(0);

    let changed = [
        "zip",
        "qty",
        "email",
        "at_zone",
        "doc_jsonb",
        "note",
        "uid",
        "label",
        "raw",
    ];
    let kept = [
        "arr1",
        "arr2",
        "arr_nulls",
        "arr_domain",
        "feeling",
        "feelings",
        "ints",
        "addr",
        "during",
        "heights",
        "nums",
        "doc_json",
        "big_num",
        "exact",
        "price",
        "span",
        "at_local",
        "clock",
        "clock_tz",
        "ip",
        "net",
        "mac",
        "mac8",
        "words",
        "flags",
        "vflags",
        "attrs",
        "f4",
        "f8",
        "yes",
        "ch",
        "oname",
    ];
    for column in kept {
        assert_eq!(
            kinds_column(&target, column),
            kinds_column(&source, column),
            "kept column {column}"
        );
    }
    for column in changed {
        let (src, dst) = (kinds_column(&source, column), kinds_column(&target, column));
        assert_ne!(dst, src, "rule on {column} changed nothing");
        // NULL in, NULL out (row 3 is all NULL there, but for `note`).
        for (s, d) in src.iter().zip(&dst) {
            if s == "<NULL>" {
                assert_eq!(d, "<NULL>", "{column}: NULL stays NULL");
            }
        }
    }
    // The domain's CHECK held for the hashed zip, and the json path rule
    // touched only its path.
    assert_eq!(
        target.value("SELECT count(*) FROM kinds WHERE zip IS NOT NULL AND zip ~ '^[0-9]{5}$'"),
        "2"
    );
    assert_eq!(
        target.value("SELECT doc_jsonb->'deep'->>'k' || '|' || (doc_jsonb->'a')::text FROM kinds WHERE id = 1"),
        "redacted|[1, 2.50, \"x\\ty\"]"
    );
    // Views and the materialized view over the masked column hold no source email.
    assert_eq!(
        target.value("SELECT count(*) FROM people_emails WHERE email LIKE '%@realmail.example'"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people_domains WHERE domain = 'realmail.example'"),
        "0"
    );
    for table in TABLES
        .iter()
        .filter(|t| !t.ends_with("kinds") && !t.ends_with("people"))
    {
        assert_eq!(
            rows(&target, table),
            rows(&source, table),
            "rows of {table}"
        );
    }
}

#[test]
fn a_value_that_breaks_a_domain_check_fails_naming_column_and_constraint() {
    let pg = Pg::get();
    let source = source("hostile_dom_src");
    let target = pg.fresh_name("hostile_dom_dst");
    sync(&source, &target, "version: 1\nunknown_columns: keep\n", &[]).expect(0);
    let before = rows(&target, "public.kinds");
    let run = sync(
        &source,
        &target,
        "version: 1\nunknown_columns: keep\ntables:\n  public.kinds:\n    columns:\n      zip: { hash: { format: digits, length: 4 } }\n",
        &[],
    )
    .expect(1);
    assert!(
        run.stderr
            .contains("loading table public.kinds, column zip")
            && run.stderr.contains("23514")
            && run.stderr.contains("us_zip_check")
            && run
                .stderr
                .contains("hint: a rule's output breaks this CHECK"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("12345"), "a source value was printed");
    assert_eq!(rows(&target, "public.kinds"), before, "the target changed");
    assert!(!pg.exists(&format!("{}__next", target.name)));
}
