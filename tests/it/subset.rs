//! Subsetting (`--subset`, `subset:`, `where:`, `references:`,
//! `max_per_parent:`, `null_outside_subset:`) on `tests/fixtures/subset.sql`:
//! a child of two parents, a composite key, a self-reference, a two-table
//! cycle, a table without a primary key and a partitioned table.

use crate::harness::{anonymize, Db, Pg, Run};
use crate::sync::{fixtures, SECRET};

/// Every table of the fixture and the columns that tell its rows apart.
const KEYS: &[(&str, &str)] = &[
    ("customers", "id"),
    ("products", "id"),
    ("orders", "id"),
    ("order_items", "id"),
    ("warehouses", "id"),
    ("shipments", "id"),
    ("employees", "id"),
    ("teams", "id"),
    ("people", "id"),
    ("page_views", "coalesce(customer_id::text, '-') || path"),
    ("events", "id || '/' || at"),
    ("comments", "id"),
];

const KEEP: &str = "version: 1\nunknown_columns: keep\n";

fn subset_source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(&std::fs::read_to_string(fixtures().join("subset.sql")).unwrap());
    db
}

/// Runs `anonymize sync` with `rules` written to a fresh directory.
fn sync(source: &Db, target: &Db, rules: &str, secret: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let mut args = vec![
        "sync",
        "--source",
        &source.url,
        "--target",
        &target.url,
        "--rules",
        "rules.yml",
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", secret)])
}

/// A table's keys, sorted.
fn keys(db: &Db, table: &str) -> Vec<String> {
    let key = KEYS.iter().find(|(t, _)| *t == table).unwrap().1;
    db.column(&format!("SELECT ({key})::text FROM {table} ORDER BY 1"))
}

fn count(db: &Db, table: &str) -> usize {
    db.value(&format!("SELECT count(*) FROM {table}"))
        .parse()
        .unwrap()
}

/// `{1,2,3}`: a list of keys as an array literal for `= ANY(...)`.
fn array(values: &[String]) -> String {
    format!("'{{{}}}'", values.join(","))
}

/// Every foreign key of the source exists in the target and is validated.
fn assert_foreign_keys_whole(source: &Db, target: &Db) {
    let fks = |db: &Db| {
        db.column(
            "SELECT conrelid::regclass || ':' || conname || ':' || convalidated \
             FROM pg_constraint WHERE contype = 'f' ORDER BY 1",
        )
    };
    let expected = fks(source);
    assert_eq!(expected.len(), 12, "{expected:?}");
    assert_eq!(fks(target), expected);
}

#[test]
fn a_tenth_keeps_every_reference_whole() {
    let pg = Pg::get();
    let source = subset_source("sub_whole_src");
    let target = pg.fresh_name("sub_whole_dst");
    let run = sync(&source, &target, KEEP, SECRET, &["--subset", "10%"]).expect(0);
    assert_foreign_keys_whole(&source, &target);

    // The root is sampled near a tenth.
    let customers = keys(&target, "customers");
    assert!(
        (10..=30).contains(&customers.len()),
        "{} customers",
        customers.len()
    );
    // Children follow exactly the kept customers...
    let of_customers = |table: &str, key: &str| {
        source.column(&format!(
            "SELECT ({key})::text FROM {table} WHERE customer_id = ANY({}) ORDER BY 1",
            array(&customers)
        ))
    };
    assert_eq!(keys(&target, "orders"), of_customers("orders", "id"));
    assert_eq!(
        keys(&target, "events"),
        of_customers("events", "id || '/' || at")
    );
    // ...into the right partitions.
    assert_eq!(
        target
            .value("SELECT count(*) FROM ONLY events_2023")
            .parse::<usize>()
            .unwrap()
            + target
                .value("SELECT count(*) FROM ONLY events_2024")
                .parse::<usize>()
                .unwrap(),
        count(&target, "events")
    );
    // ...and so do grandchildren, through the parent they belong to.
    let orders = keys(&target, "orders");
    assert_eq!(
        keys(&target, "order_items"),
        source.column(&format!(
            "SELECT id::text FROM order_items WHERE order_id = ANY({}) ORDER BY 1",
            array(&orders)
        ))
    );
    assert_eq!(
        keys(&target, "shipments"),
        source.column(&format!(
            "SELECT id::text FROM shipments WHERE order_id = ANY({}) ORDER BY 1",
            array(&orders)
        ))
    );
    // The second parent of order_items is pulled in, not sampled through.
    assert_eq!(
        target.value(
            "SELECT count(*) FROM (SELECT DISTINCT product_id FROM order_items) i \
             WHERE product_id NOT IN (SELECT id FROM products)"
        ),
        "0"
    );
    // The composite key pulled in its warehouses (by region and code).
    assert_eq!(
        target.value(
            "SELECT count(*) FROM shipments s WHERE region IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM warehouses w WHERE (w.region, w.code) = (s.region, s.code))"
        ),
        "0"
    );
    // No primary key: rows with a customer follow it; the others are
    // sampled by their whole row.
    assert_eq!(
        target.column(
            "SELECT path FROM page_views WHERE customer_id IS NOT NULL ORDER BY path COLLATE \"C\""
        ),
        source.column(&format!(
            "SELECT path FROM page_views WHERE customer_id = ANY({}) ORDER BY path COLLATE \"C\"",
            array(&customers)
        ))
    );
    let anonymous = count(&target, "page_views WHERE customer_id IS NULL");
    assert!((1..=30).contains(&anonymous), "{anonymous} anonymous views");
    // The manager chain of every kept employee is kept, up to the root.
    assert_eq!(
        target.value("SELECT count(*) FROM employees WHERE manager_id IS NULL"),
        "1"
    );
    assert!(count(&target, "employees") > 30, "chains add managers");
    assert!(count(&target, "employees") < 300);
    // The cycle is closed both ways.
    assert!(count(&target, "people") > 0 && count(&target, "teams") > 0);

    // The summary shows kept rows against the source's.
    assert!(
        run.stdout.contains("of ~") && run.stdout.contains("kept"),
        "{}",
        run.stdout
    );
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("public.orders "))
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[1], orders.len().to_string(), "{line}");
    assert_eq!(fields[2], "600", "{line}");
}

#[test]
fn the_subset_is_stable_and_grows_monotonically() {
    let pg = Pg::get();
    let source = subset_source("sub_mono_src");
    let a = pg.fresh_name("sub_mono_a");
    let b = pg.fresh_name("sub_mono_b");
    let c = pg.fresh_name("sub_mono_c");
    let d = pg.fresh_name("sub_mono_d");
    sync(&source, &a, KEEP, SECRET, &["--subset", "10%"]).expect(0);
    sync(
        &source,
        &b,
        KEEP,
        SECRET,
        &["--subset", "0.1", "--jobs", "1"],
    )
    .expect(0);
    sync(&source, &c, KEEP, SECRET, &["--subset", "20"]).expect(0);
    sync(
        &source,
        &d,
        KEEP,
        "another-secret-987654321-zyxwvutsrqponmlk",
        &["--subset", "10%"],
    )
    .expect(0);
    assert_foreign_keys_whole(&source, &c);
    for (table, _) in KEYS {
        let at10 = keys(&a, table);
        assert_eq!(at10, keys(&b, table), "{table} differs between two runs");
        let at20 = keys(&c, table);
        let lost: Vec<&String> = at10.iter().filter(|k| !at20.contains(k)).collect();
        assert!(
            lost.is_empty(),
            "{table}: kept at 10% but not at 20%: {lost:?}"
        );
    }
    assert!(count(&c, "customers") > count(&a, "customers"));
    assert_ne!(
        keys(&a, "customers"),
        keys(&d, "customers"),
        "another secret drew the same sample"
    );
}

#[test]
fn rules_filter_copy_whole_cap_declare_and_null_references() {
    let pg = Pg::get();
    let source = subset_source("sub_rules_src");
    let target = pg.fresh_name("sub_rules_dst");
    let rules = r#"version: 1
unknown_columns: keep
subset: 10%
tables:
  public.orders:
    where: "status <> 'cancelled'"
  public.products:
    subset: all
  public.order_items:
    max_per_parent: 2
  public.comments:
    references:
      - { columns: [order_ref], table: public.orders }
  public.employees:
    null_outside_subset: [manager_id]
"#;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    sync(
        &source,
        &target,
        rules,
        SECRET,
        &["--report", report.to_str().unwrap()],
    )
    .expect(0);
    assert_foreign_keys_whole(&source, &target);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["subset"], "10%", "the rules' default is reported");
    let customers = keys(&target, "customers");

    // `where:` drops cancelled orders and, with them, what follows them.
    assert_eq!(
        keys(&target, "orders"),
        source.column(&format!(
            "SELECT id::text FROM orders WHERE status <> 'cancelled' AND customer_id = ANY({}) \
             ORDER BY 1",
            array(&customers)
        ))
    );
    // `subset: all` copies the lookup table whole, and it drives nothing:
    // items still follow their orders.
    assert_eq!(count(&target, "products"), 50);
    // `max_per_parent: 2`: at most two items per order, and exactly two
    // where the source has more.
    let orders = keys(&target, "orders");
    assert_eq!(
        target.column(
            "SELECT count(*)::text FROM order_items GROUP BY order_id ORDER BY 1 DESC LIMIT 1"
        ),
        ["2"]
    );
    assert_eq!(
        count(&target, "order_items"),
        source
            .value(&format!(
                "SELECT sum(least(n, 2)) FROM (SELECT count(*) n FROM order_items \
                 WHERE order_id = ANY({}) GROUP BY order_id) s",
                array(&orders)
            ))
            .parse::<usize>()
            .unwrap()
    );
    // A reference only the rules declare is followed like a real one; the
    // dangling ones point at no kept order and are left out.
    assert_eq!(
        keys(&target, "comments"),
        source.column(&format!(
            "SELECT id::text FROM comments WHERE order_ref = ANY({}) ORDER BY 1",
            array(&orders)
        ))
    );
    assert!(count(&target, "comments") > 0);
    // `null_outside_subset`: no manager is pulled in; a manager outside the
    // sample becomes NULL, one inside is kept as it was.
    let employees = keys(&target, "employees");
    assert!(
        (10..=60).contains(&employees.len()),
        "{} employees",
        employees.len()
    );
    let expected: Vec<String> = source.column(&format!(
        "SELECT id || ':' || CASE WHEN manager_id = ANY({0}) THEN manager_id::text ELSE 'NULL' END \
         FROM employees WHERE id = ANY({0}) ORDER BY id",
        array(&employees)
    ));
    let got: Vec<String> = target.column(
        "SELECT id || ':' || coalesce(manager_id::text, 'NULL') FROM employees ORDER BY id",
    );
    assert_eq!(got, expected);
}

#[test]
fn without_a_subset_filters_and_skips_still_keep_references_whole() {
    let pg = Pg::get();
    let source = subset_source("sub_filter_src");
    let target = pg.fresh_name("sub_filter_dst");
    let rules = r#"version: 1
unknown_columns: keep
tables:
  public.orders:
    where: "status = 'cancelled'"
  public.teams:
    skip: true
  public.people:
    null_outside_subset: [team_id]
"#;
    sync(&source, &target, rules, SECRET, &[]).expect(0);
    assert_foreign_keys_whole(&source, &target);
    // A reference to a skipped table is set to NULL rather than broken.
    assert_eq!(count(&target, "teams"), 0);
    assert_eq!(count(&target, "people"), 100);
    assert_eq!(count(&target, "people WHERE team_id IS NOT NULL"), 0);
    assert_eq!(count(&target, "orders"), 120);
    assert_eq!(count(&target, "customers"), 200);
    assert_eq!(
        count(&target, "order_items"),
        count(
            &source,
            "order_items WHERE order_id IN (SELECT id FROM orders WHERE status = 'cancelled')"
        )
    );
    assert_eq!(count(&target, "employees"), 300);
}

#[test]
fn dry_run_and_report_show_each_selection() {
    let source = subset_source("sub_dry_src");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), KEEP).unwrap();
    let run = anonymize(
        dir.path(),
        &[
            "--source",
            &source.url,
            "--rules",
            "rules.yml",
            "--subset",
            "10%",
            "--dry-run",
        ],
        &[],
    )
    .expect(0);
    for expected in [
        "public.customers (~200 rows, keeps ~20)\n  rows: sample 10% by hash of (id)\n",
        "public.order_items (~1500 rows, keeps ~150)\n  rows: follow public.orders (order_id)\n",
        "  rows: sample 10% by hash of (id); plus rows referenced by public.order_items (product_id)\n",
        "  rows: sample 10% by hash of (id); plus rows referenced by public.employees (manager_id), recursively\n",
        "  rows: follow public.customers (customer_id), else sample 10% by hash of the whole row (no primary key)\n",
        "public.people (~100 rows, keeps ~",
        "  rows: sample 10% by hash of (id); plus rows referenced by public.teams (lead_id), recursively\n",
        "public.teams (~20 rows, keeps ~",
        "  rows: follow public.people (lead_id), else sample 10% by hash of (id); plus rows referenced by public.people (team_id), recursively\n",
        "public.warehouses (~20 rows, keeps ~20)\n  rows: sample 10% by hash of (id); plus rows referenced by public.shipments (region, code)\n",
    ] {
        assert!(run.stdout.contains(expected), "missing {expected:?} in\n{}", run.stdout);
    }

    let target = Pg::get().fresh_name("sub_report_dst");
    let report = dir.path().join("report.json");
    let report_arg = report.to_str().unwrap().to_string();
    sync(
        &source,
        &target,
        KEEP,
        SECRET,
        &["--subset", "10%", "--report", &report_arg],
    )
    .expect(0);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["subset"], "10%");
    let tables = json["tables"].as_array().unwrap();
    let customers = tables
        .iter()
        .find(|t| t["table"] == "public.customers")
        .unwrap();
    assert_eq!(customers["selection"], "sample 10% by hash of (id)");
    assert_eq!(customers["source_rows_estimate"], 200);
    let kept = customers["rows_written"].as_u64().unwrap();
    assert_eq!(
        customers["kept_fraction"].as_f64().unwrap(),
        kept as f64 / 200.0
    );
}

#[test]
fn subset_rules_that_do_not_fit_the_schema_exit_2_naming_the_line() {
    let source = subset_source("sub_err_src");
    let dir = tempfile::tempdir().unwrap();
    let rules = r#"version: 1
unknown_columns: keep
tables:
  public.orders:
    null_outside_subset: [customer_id]
  public.comments:
    references:
      - { columns: [order_ref], table: public.order }
  public.order_items:
    max_per_parent: 0
"#;
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let run = anonymize(
        dir.path(),
        &["--source", &source.url, "--rules", "rules.yml", "--dry-run"],
        &[],
    )
    .expect(2);
    for expected in [
        "rules.yml:5:5: null_outside_subset: column public.orders.customer_id is NOT NULL, so it cannot be set to NULL",
        "rules.yml:7:5: table public.comments: references entry 1: table public.order is not in the source database\n  hint: did you mean `public.orders`?",
        "rules.yml:10:5: table public.order_items: max_per_parent must be at least 1",
    ] {
        assert!(run.stderr.contains(expected), "missing {expected:?} in\n{}", run.stderr);
    }
}
