//! Subsetting (`--subset`, `subset:`, `where:`, `references:`,
//! `max_per_parent:`, `null_outside_subset:`) on `tests/fixtures/subset.sql`:
//! a child of two parents, a composite key, a self-reference, a two-table
//! cycle, a table without a primary key and a partitioned table.

use crate::harness::{anonymize, rules_dir, sync_args, Db, Pg, Run};
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
    let dir = rules_dir(rules);
    let args = sync_args(&source.url, &target.url, "rules.yml", extra);
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
        (100..=300).contains(&customers.len()),
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
    // The second parent of order_items (a small lookup) comes whole.
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
    assert!(
        (10..=300).contains(&anonymous),
        "{anonymous} anonymous views"
    );
    // The manager chain of every kept employee is kept, up to the root.
    assert_eq!(
        target.value("SELECT count(*) FROM employees WHERE manager_id IS NULL"),
        "1"
    );
    assert!(count(&target, "employees") > 330, "chains add managers");
    assert!(count(&target, "employees") < 1500);
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
    assert_eq!(fields[2], "6000", "{line}");
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
        &["--subset", "10", "--jobs", "1"],
    )
    .expect(0);
    sync(&source, &c, KEEP, SECRET, &["--subset", "20"]).expect(0);
    sync(
        &source,
        &d,
        KEEP,
        "DztnDwkpqQuQcJK22M5TjBNuTKml7YH8JHZu8I9Qb1Z4K2ef6s2muNa2",
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
        (100..=600).contains(&employees.len()),
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
    assert_eq!(count(&target, "people"), 1000);
    assert_eq!(count(&target, "people WHERE team_id IS NOT NULL"), 0);
    assert_eq!(count(&target, "orders"), 1200);
    assert_eq!(count(&target, "customers"), 2000);
    assert_eq!(
        count(&target, "order_items"),
        count(
            &source,
            "order_items WHERE order_id IN (SELECT id FROM orders WHERE status = 'cancelled')"
        )
    );
    assert_eq!(count(&target, "employees"), 3000);
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
        "subset: 10%\n",
        "public.customers (~2000 rows, keeps ~200)\n  rows: sampled 10% by hash of (id)\n",
        "public.order_items (~15000 rows, keeps ~1500)\n  rows: follows public.orders (order_id)\n",
        "public.products (~50 rows, keeps ~50)\n  rows: whole (reference table, ~50 rows)\n",
        "  rows: sampled 10% by hash of (id); plus rows referenced by public.employees (manager_id), recursively\n",
        "  rows: follows public.customers (customer_id), else sampled 10% by hash of the whole row (no primary key)\n",
        "public.people (~1000 rows, keeps ~",
        "  rows: sampled 10% by hash of (id), one unit with public.teams (a cycle); plus rows referenced by public.teams (lead_id), recursively\n",
        "public.teams (~200 rows, keeps ~",
        "  rows: follows public.people (lead_id), else sampled 10% by hash of (id); plus rows referenced by public.people (team_id), recursively\n",
        "public.warehouses (~20 rows, keeps ~20)\n  rows: whole (reference table, ~20 rows)\n",
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
    assert_eq!(customers["selection"], "sampled 10% by hash of (id)");
    assert_eq!(customers["source_rows_estimate"], 2000);
    let kept = customers["rows_written"].as_u64().unwrap();
    assert_eq!(
        customers["kept_fraction"].as_f64().unwrap(),
        kept as f64 / 2000.0
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

// ---------------------------------------------------------------------
// Issue 12: subsets on real schema shapes. Each shape is synced at 10%
// twice and at 20%, and must keep every table that has rows, keep its
// largest entity tables near the share, hold every foreign key, come out
// the same twice and grow monotonically.

/// One schema shape and what its subset is measured against.
struct Shape {
    fixture: &'static str,
    rules: &'static str,
    /// Every table of the fixture (partitions are reached through their
    /// parent).
    tables: &'static [&'static str],
    /// The largest entity tables, each with the query counting the source
    /// rows the rules let through (the share is measured against that).
    largest: &'static [(&'static str, &'static str)],
}

/// A table's rows as text, sorted: equal sets mean equal tables.
fn rows(db: &Db, table: &str) -> Vec<String> {
    db.column(&format!("SELECT t::text FROM {table} t ORDER BY 1"))
}

/// Every foreign key of the source exists, validated, in the target.
fn assert_constraints_hold(source: &Db, target: &Db) {
    let fks = |db: &Db| {
        db.column(
            "SELECT conrelid::regclass || ':' || conname || ':' || convalidated \
             FROM pg_constraint WHERE contype = 'f' ORDER BY 1",
        )
    };
    let expected = fks(source);
    assert!(!expected.is_empty());
    assert_eq!(fks(target), expected);
}

/// Loads fixture `name` into `db` as a fresh restore leaves it: no
/// statistics (`reltuples` -1) until `analysed`, which runs ANALYZE.
/// Autovacuum is turned off for each table as it is created (an event
/// trigger, in the creating transaction), so it cannot analyse one behind
/// the test's back; the trigger is dropped after the load.
fn load_unanalysed(db: &Db, name: &str, analysed: bool) {
    crate::harness::bench::autovacuum_off_for_new_tables(db);
    let sql = std::fs::read_to_string(fixtures().join(name)).unwrap();
    db.exec(&sql.replace("ANALYZE;", ""));
    crate::harness::bench::autovacuum_as_usual(db);
    let analysed_tables = db.value(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace \
         AND relkind = 'r' AND reltuples >= 0",
    );
    assert_eq!(analysed_tables, "0", "the fixture left statistics behind");
    if analysed {
        db.exec("ANALYZE");
    }
}

/// Runs the shape's acceptance checks and returns the 10% target and the
/// run's stdout (the summary).
fn accept(shape: &Shape, test: &str) -> (Db, Db, Run) {
    accept_with(shape, test, true)
}

/// `accept`, on a source that was (`analysed`) or was not analysed. On an
/// analysed source it also runs the subset twice more: again with one job
/// (the same rows) and at 20% (a superset). The unanalysed run checks the
/// shape only: whether statistics change the rows is what
/// `r21_a_fresh_restore_subsets_like_an_analysed_one` compares.
fn accept_with(shape: &Shape, test: &str, analysed: bool) -> (Db, Db, Run) {
    let pg = Pg::get();
    let source = pg.db(&format!("{test}_src"));
    if analysed {
        source.exec(&std::fs::read_to_string(fixtures().join(shape.fixture)).unwrap());
    } else {
        load_unanalysed(&source, shape.fixture, false);
    }
    let a = pg.fresh_name(&format!("{test}_a"));
    let run = sync(&source, &a, shape.rules, SECRET, &["--subset", "10%"]).expect(0);
    assert_constraints_hold(&source, &a);
    for table in shape.tables {
        let n = count(&source, table);
        let kept = count(&a, table);
        assert!(
            n == 0 || kept > 0,
            "{table}: {n} rows in the source, none kept"
        );
    }
    if analysed {
        assert_stable_and_growing(shape, &source, &a);
    }
    for (table, scope) in shape.largest {
        let total: f64 = source.value(scope).parse().unwrap();
        let share = count(&a, table) as f64 / total;
        assert!(
            (0.05..=0.20).contains(&share),
            "{table} kept {:.1}% at 10%",
            share * 100.0
        );
        // The summary shows the share kept.
        let line = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("public.{table} ")))
            .unwrap_or_else(|| panic!("no summary line for {table} in\n{}", run.stdout));
        assert!(line.contains('%'), "{line}");
    }
    // Nothing came out empty, so nothing is warned about.
    assert!(!run.stderr.contains("none were kept"), "{}", run.stderr);
    (source, a, run)
}

/// The 10% subset `at10` again with one job gives the same rows, and at
/// 20% keeps every one of them.
fn assert_stable_and_growing(shape: &Shape, source: &Db, at10_db: &Db) {
    let pg = Pg::get();
    let b = pg.fresh_name(&format!("{}_b", at10_db.name));
    let c = pg.fresh_name(&format!("{}_c", at10_db.name));
    sync(
        source,
        &b,
        shape.rules,
        SECRET,
        &["--subset", "10", "--jobs", "1"],
    )
    .expect(0);
    sync(source, &c, shape.rules, SECRET, &["--subset", "20%"]).expect(0);
    assert_constraints_hold(source, &c);
    for table in shape.tables {
        let at10 = rows(at10_db, table);
        assert_eq!(at10, rows(&b, table), "{table} differs between two runs");
        let at20: std::collections::BTreeSet<String> = rows(&c, table).into_iter().collect();
        let lost = at10.iter().filter(|r| !at20.contains(*r)).count();
        assert_eq!(lost, 0, "{table}: {lost} rows kept at 10% but not at 20%");
        assert!(at20.len() >= at10.len());
    }
}

/// `--dry-run` at 10%, its stdout.
fn dry_run(source: &Db, rules: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let mut args = vec!["--source", &source.url, "--rules", "rules.yml", "--dry-run"];
    args.extend_from_slice(extra);
    anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)])
}

fn assert_lines(text: &str, expected: &[&str]) {
    for e in expected {
        assert!(text.contains(e), "missing {e:?} in\n{text}");
    }
}

const RENTAL_TABLES: &[&str] = &[
    "language",
    "category",
    "country",
    "city",
    "address",
    "staff",
    "store",
    "customer",
    "film",
    "film_category",
    "inventory",
    "rental",
    "payment",
];

/// The shape of issue 12's report: lookups, a store<->staff cycle,
/// customers -> rentals -> payments (partitioned by month), an inventory
/// of films. Once: 0 customers, rentals, payments and films, exit 0.
#[test]
fn r12_a_rental_shop_keeps_a_tenth_of_its_business() {
    let shape = Shape {
        fixture: "subset_rental.sql",
        rules: KEEP,
        tables: RENTAL_TABLES,
        largest: &[
            ("rental", "SELECT count(*) FROM rental"),
            ("payment", "SELECT count(*) FROM payment"),
            ("customer", "SELECT count(*) FROM customer"),
        ],
    };
    let (source, target, _) = accept(&shape, "sub_rental");
    // Lookups and the tiny store/staff cycle come whole.
    for table in ["language", "category", "country", "city", "store", "staff"] {
        assert_eq!(count(&target, table), count(&source, table), "{table}");
    }
    // Payments land in their months' partitions.
    assert_eq!(
        count(&target, "payment"),
        ["2024_01", "2024_02", "2024_03", "2024_04"]
            .iter()
            .map(|m| count(&target, &format!("ONLY payment_{m}")))
            .sum::<usize>()
    );
    // Rentals and payments belong to the kept customers.
    assert_eq!(
        count(
            &target,
            "rental WHERE customer_id NOT IN (SELECT customer_id FROM customer)"
        ),
        0
    );

    let run = dry_run(&source, KEEP, &["--subset", "10%"]).expect(0);
    assert_lines(
        &run.stdout,
        &[
            "subset: 10%\n",
            "public.language (~6 rows, keeps ~6)\n  rows: whole (reference table, ~6 rows)\n",
            "public.store (~4 rows, keeps ~4)\n  rows: whole (reference table, ~4 rows)\n",
            "public.staff (~8 rows, keeps ~8)\n  rows: whole (reference table, ~8 rows)\n",
            "  rows: follows public.customer (customer_id)\n",
            "  rows: follows public.rental (rental_id), else public.customer (customer_id)\n",
            "  rows: follows public.film (film_id); plus rows referenced by public.rental (inventory_id)\n",
        ],
    );
}

/// A self-referencing org chart, with departments whose head is an
/// employee: a cycle of entity tables, sampled as one unit.
#[test]
fn r12_an_org_chart_keeps_whole_manager_chains() {
    let shape = Shape {
        fixture: "subset_org.sql",
        rules: KEEP,
        tables: &["department", "employee", "timesheet", "mentorship"],
        largest: &[("timesheet", "SELECT count(*) FROM timesheet")],
    };
    let (_, target, _) = accept(&shape, "sub_org");
    // Employees: the tenth sampled, plus their chains up to the top, the
    // approvers of kept timesheets, mentors and department heads.
    let employees = count(&target, "employee");
    assert!((600..=2100).contains(&employees), "{employees} employees");
    // Every kept employee's chain reaches the CEO.
    assert_eq!(
        count(&target, "employee WHERE manager_id IS NULL"),
        1,
        "one top of the chart"
    );
    let source = Pg::get().db("sub_org_dry");
    source.exec(&std::fs::read_to_string(fixtures().join("subset_org.sql")).unwrap());
    let run = dry_run(&source, KEEP, &["--subset", "10%"]).expect(0);
    assert_lines(
        &run.stdout,
        &[
            "  rows: sampled 10% by hash of (id), one unit with public.department (a cycle); plus rows referenced by ",
            "  rows: follows public.employee (employee_id)\n",
        ],
    );
}

/// A multi-tenant SaaS schema: every key is (tenant_id, id), the rules
/// keep three quarters of the tenants, and the subset a tenth of their
/// business.
#[test]
fn r12_a_saas_schema_keeps_a_tenth_of_the_chosen_tenants() {
    const RULES: &str =
        "version: 1\nunknown_columns: keep\ntables:\n  public.tenants:\n    where: \"id <= 30\"\n";
    let shape = Shape {
        fixture: "subset_saas.sql",
        rules: RULES,
        tables: &["plans", "tenants", "users", "projects", "tasks", "comments"],
        largest: &[
            (
                "comments",
                "SELECT count(*) FROM comments WHERE tenant_id <= 30",
            ),
            ("tasks", "SELECT count(*) FROM tasks WHERE tenant_id <= 30"),
        ],
    };
    let (source, target, _) = accept(&shape, "sub_saas");
    assert_eq!(count(&target, "tenants"), 30);
    for table in ["users", "projects", "tasks", "comments"] {
        assert_eq!(
            count(&target, &format!("{table} WHERE tenant_id > 30")),
            0,
            "{table}"
        );
        // Every chosen tenant keeps some of its work.
        assert!(
            target
                .value(&format!("SELECT count(DISTINCT tenant_id) FROM {table}"))
                .parse::<usize>()
                .unwrap()
                > 20,
            "{table}"
        );
    }
    let run = dry_run(&source, RULES, &["--subset", "10%"]).expect(0);
    assert_lines(
        &run.stdout,
        &[
            "  rows: rows where id <= 30 (reference table, ~40 rows; its followers keep only rows of these)",
            "  rows: follows public.tenants (tenant_id), sampled 10% by hash of (tenant_id, id) of them",
            "  rows: follows public.projects (tenant_id, project_id)\n",
        ],
    );
}

/// The rental shop loaded into a fresh source database.
fn rental_source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(&std::fs::read_to_string(fixtures().join("subset_rental.sql")).unwrap());
    db
}

/// Issue 16 item 14: `--subset 1` once meant 100% and `0.5` meant 50%.
/// A bare number is now always a percentage, and the plan says which.
#[test]
fn a_bare_subset_number_is_a_percentage_and_the_plan_echoes_it() {
    let source = subset_source("sub_pct_src");
    let run = dry_run(&source, KEEP, &["--subset", "1"]).expect(0);
    assert_lines(
        &run.stdout,
        &["subset: 1%\n", "  rows: sampled 1% by hash of (id)\n"],
    );
    let run = dry_run(&source, KEEP, &["--subset", "0.5"]).expect(0);
    assert!(run.stdout.starts_with("subset: 0.5%\n"), "{}", run.stdout);
    let run = dry_run(&source, KEEP, &["--subset", "0"]).expect(2);
    assert!(
        run.stderr
            .contains("--subset: subset `0` must be more than 0% and at most 100%"),
        "{}",
        run.stderr
    );
}

#[test]
fn rules_pin_roots_and_follows_and_name_what_they_do_not_find() {
    let source = rental_source("sub_pin_src");
    let rules = r#"version: 1
unknown_columns: keep
subset: { default: 10%, roots: [public.film] }
tables:
  public.payment:
    subset: { follow: payment_customer_id_fkey }
"#;
    let run = dry_run(&source, rules, &[]).expect(0);
    assert_lines(
        &run.stdout,
        &[
            "subset: 10%\n",
            "  rows: sampled 10% by hash of (film_id) (a root in the rules); plus rows referenced by public.inventory (film_id)\n",
            "public.rental (~30000 rows, keeps ~",
            "  rows: follows public.inventory (inventory_id); plus rows referenced by public.payment (rental_id)\n",
            "  rows: follows public.customer (customer_id) (follow in the rules)",
        ],
    );
    let bad = r#"version: 1
unknown_columns: keep
subset: { roots: [public.flim] }
tables:
  public.payment:
    subset: { follow: payment_custmer_id_fkey }
"#;
    let run = dry_run(&source, bad, &["--subset", "10%"]).expect(2);
    assert_lines(
        &run.stderr,
        &[
            "rules.yml:3:11: subset roots: table public.flim is not in the source database\n  hint: did you mean `public.film`?",
            "rules.yml:6:5: table public.payment: `follow: payment_custmer_id_fkey` is not a foreign key of the table\n  hint: did you mean `payment_customer_id_fkey`?",
        ],
    );
}

/// A root the rules name badly (a 6-row lookup at 1%) keeps nothing, and
/// everything following it is empty: sync still succeeds but names each
/// such table, in the log and the report, and `check` warns from
/// estimates before any copy.
#[test]
fn a_table_left_empty_is_named_in_a_warning() {
    let pg = Pg::get();
    let source = rental_source("sub_empty_src");
    let target = pg.fresh_name("sub_empty_dst");
    let rules =
        "version: 1\nunknown_columns: keep\nsubset: { default: 1%, roots: [public.language] }\n";
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let run = sync(
        &source,
        &target,
        rules,
        SECRET,
        &["--report", report.to_str().unwrap()],
    )
    .expect(0);
    assert_eq!(count(&target, "language"), 0);
    assert_eq!(count(&target, "rental"), 0);
    assert!(
        run.stderr.contains(
            "table public.rental has ~30000 rows in the source but none were kept (follows public.inventory (inventory_id))"
        ),
        "{}",
        run.stderr
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let warned: Vec<&str> = json["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["table"].as_str().unwrap())
        .collect();
    for table in [
        "public.language",
        "public.film",
        "public.inventory",
        "public.rental",
    ] {
        assert!(warned.contains(&table), "{table} not in {warned:?}");
    }
    // Customers do not follow the languages, and kept rows.
    assert!(!warned.contains(&"public.customer"), "{warned:?}");

    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let check = anonymize(
        dir.path(),
        &["check", "--source", &source.url, "--rules", "rules.yml"],
        &[],
    )
    .expect(0);
    assert!(
        check.stdout.contains(
            "warning: at --subset 1%: table public.language has ~6 rows in the source but the subset is expected to keep none"
        ),
        "{}",
        check.stdout
    );
}

/// A small table that nothing references and that references nothing (the
/// app's settings, a list of feature flags) comes whole: sampling it would
/// leave the app a handful of its rows, or none, for no saving.
#[test]
fn a_small_table_nothing_references_is_copied_whole() {
    let pg = Pg::get();
    let source = pg.db("sub_alone_src");
    source.exec(
        "CREATE TABLE accounts (id int PRIMARY KEY, name text);
         INSERT INTO accounts SELECT i, 'account ' || i FROM generate_series(1, 5000) i;
         CREATE TABLE feature_flags (id int PRIMARY KEY, flag text NOT NULL, enabled bool);
         INSERT INTO feature_flags SELECT i, 'flag_' || i, i % 2 = 0 FROM generate_series(1, 60) i;
         ANALYZE;",
    );
    let run = dry_run(&source, KEEP, &["--subset", "10%"]).expect(0);
    assert!(
        run.stdout.contains(
            "public.feature_flags (~60 rows, keeps ~60)\n  rows: whole (reference table, ~60 rows)\n"
        ),
        "the plan says feature_flags comes whole:\n{}",
        run.stdout
    );
    let target = pg.fresh_name("sub_alone_dst");
    sync(&source, &target, KEEP, SECRET, &["--subset", "10%"]).expect(0);
    assert_eq!(
        target.column("SELECT id::text FROM feature_flags ORDER BY id"),
        source.column("SELECT id::text FROM feature_flags ORDER BY id")
    );
    // The large table beside it is sampled: the subset did apply.
    let kept: usize = target
        .value("SELECT count(*) FROM accounts")
        .parse()
        .unwrap();
    assert!((300..=700).contains(&kept), "accounts kept {kept} of 5000");
}

/// Issue 21 §4: a freshly restored copy of the benchmark dataset (its own
/// `load.sh`, then `pg_dump -Fc` and `pg_restore`, no ANALYZE) subsets to
/// the same shares as the analysed original, restored either way: plainly
/// (row estimates from the index builds only) or keys first (no estimate
/// at all). Once the shares multiplied down the chain: 9 of 500
/// customers, 2 of 20,000 lines.
#[test]
fn r21_a_fresh_restore_subsets_like_an_analysed_one() {
    use crate::harness::bench::{self, Restore};
    let pg = Pg::get();
    let analysed = bench::loaded("sub_fresh_src", "0.02");
    let a = pg.fresh_name("sub_fresh_analysed");
    sync(&analysed, &a, KEEP, SECRET, &["--subset", "10%"]).expect(0);
    let mut fresh_sources = Vec::new();
    for how in [Restore::Dump, Restore::KeysFirst] {
        let fresh = pg.db(&format!("sub_fresh_{how:?}_src").to_lowercase());
        bench::restore_unanalysed(&analysed, &fresh, how);
        let b = pg.fresh_name(&format!("sub_fresh_{how:?}").to_lowercase());
        let run = sync(&fresh, &b, KEEP, SECRET, &["--subset", "10%"]).expect(0);
        assert!(!run.stderr.contains("none were kept"), "{}", run.stderr);
        for table in [
            "customers",
            "addresses",
            "products",
            "orders",
            "order_items",
            "employees",
        ] {
            let (with, without) = (count(&a, table), count(&b, table));
            assert!(
                without > 0,
                "{how:?}: {table}: none kept without statistics"
            );
            let ratio = without as f64 / with as f64;
            assert!(
                (0.7..=1.3).contains(&ratio),
                "{how:?}: {table}: {without} rows kept without statistics, {with} with them"
            );
        }
        assert_constraints_hold(&fresh, &b);
        fresh_sources.push(fresh);
    }
    // The plan says where its numbers come from.
    let run = dry_run(&fresh_sources[1], KEEP, &["--subset", "10%"]).expect(0);
    assert_lines(
        &run.stdout,
        &["public.order_items (18000 rows, counted: never analysed, keeps ~"],
    );
}

/// Issue 21 §4: the acceptance shapes of docs/subsetting.md hold on a
/// source that was never analysed, as they do on an analysed one.
#[test]
fn r21_the_documented_shapes_hold_without_analyze() {
    let rental = Shape {
        fixture: "subset_rental.sql",
        rules: KEEP,
        tables: RENTAL_TABLES,
        largest: &[
            ("rental", "SELECT count(*) FROM rental"),
            ("payment", "SELECT count(*) FROM payment"),
            ("customer", "SELECT count(*) FROM customer"),
        ],
    };
    accept_with(&rental, "sub_rental_fresh", false);
    let org = Shape {
        fixture: "subset_org.sql",
        rules: KEEP,
        tables: &["department", "employee", "timesheet", "mentorship"],
        largest: &[("timesheet", "SELECT count(*) FROM timesheet")],
    };
    accept_with(&org, "sub_org_fresh", false);
    let saas = Shape {
        fixture: "subset_saas.sql",
        rules: "version: 1\nunknown_columns: keep\ntables:\n  public.tenants:\n    where: \"id <= 30\"\n",
        tables: &["plans", "tenants", "users", "projects", "tasks", "comments"],
        largest: &[
            (
                "comments",
                "SELECT count(*) FROM comments WHERE tenant_id <= 30",
            ),
            ("tasks", "SELECT count(*) FROM tasks WHERE tenant_id <= 30"),
        ],
    };
    accept_with(&saas, "sub_saas_fresh", false);
}

/// A large table is read in page ranges, each its own COPY. A sampled
/// root still is (its ranges share nothing), and so is its child under a
/// foreign key (it hashes its own reference and reads no other table);
/// but a table whose rows follow a followed parent is read by one query:
/// every range would select the parent's rows again, so a child in 64
/// ranges scanned its parent 64 times. The rows are the same either way.
#[test]
fn a_grandchild_is_read_whole_while_its_sampled_root_and_child_are_read_in_page_ranges() {
    let pg = Pg::get();
    let source = pg.db("sub_ranges_src");
    // ~5 and ~10 MB: at 50%, several 1 MB ranges each (a part is sized
    // by the rows it keeps).
    source.exec(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, pad text NOT NULL);
         INSERT INTO accounts SELECT i, repeat('a', 200) FROM generate_series(1, 20000) i;
         CREATE TABLE events (id bigint PRIMARY KEY,
                              account_id bigint NOT NULL REFERENCES accounts,
                              pad text NOT NULL);
         INSERT INTO events SELECT i, 1 + i % 20000, repeat('e', 200) FROM generate_series(1, 40000) i;
         CREATE TABLE event_lines (id bigint PRIMARY KEY,
                                   event_id bigint NOT NULL REFERENCES events,
                                   pad text NOT NULL);
         INSERT INTO event_lines SELECT i, 1 + i % 40000, repeat('l', 200) FROM generate_series(1, 40000) i;
         ANALYZE;",
    );
    let run_at = |subset: &str, split_mb: &str, test: &str| {
        let target = pg.fresh_name(test);
        let dir = rules_dir(KEEP);
        let args = sync_args(
            &source.url,
            &target.url,
            "rules.yml",
            &["--subset", subset, "--log-format", "json"],
        );
        let env = [
            ("ANONYMIZE_SECRET", SECRET),
            ("ANONYMIZE_SPLIT_MB", split_mb),
            ("ANONYMIZE_LOG", "info"),
        ];
        let run = anonymize(dir.path(), &args, &env).expect(0);
        (target, run)
    };
    let run_with = |split_mb: &str, test: &str| run_at("50%", split_mb, test);
    let split_of = |run: &Run| -> Vec<String> {
        run.stderr
            .lines()
            .filter(|l| l.contains("copying in parts"))
            .map(str::to_string)
            .collect()
    };
    // At 10%, the root keeps ~0.5 MB: one part moves it.
    let (_, run) = run_at("10%", "1", "sub_ranges_tenth");
    assert_eq!(split_of(&run), Vec::<String>::new(), "{}", run.stderr);

    let (target, run) = run_with("1", "sub_ranges_dst");
    let split = split_of(&run);
    assert!(
        split.iter().any(|l| l.contains("public.accounts")),
        "the sampled root is read in page ranges:\n{}",
        run.stderr
    );
    assert!(
        split.iter().any(|l| l.contains("public.events\"")),
        "the child reads no other table, so it is read in page ranges:\n{}",
        run.stderr
    );
    assert!(
        !split.iter().any(|l| l.contains("public.event_lines")),
        "the grandchild is read by one query:\n{}",
        run.stderr
    );

    // The same rows as one query per table, every event's account and
    // every line's event.
    let (whole, _) = run_with("0", "sub_ranges_whole");
    for table in ["accounts", "events", "event_lines"] {
        let ids = |db: &Db| db.column(&format!("SELECT id::text FROM {table} ORDER BY id"));
        assert_eq!(ids(&target), ids(&whole), "{table}");
    }
    let accounts = count(&target, "accounts");
    assert!(
        (9000..=11000).contains(&accounts),
        "accounts kept {accounts}"
    );
    assert_eq!(
        target.value(
            "SELECT count(*) FROM events e WHERE NOT EXISTS \
             (SELECT FROM accounts a WHERE a.id = e.account_id)"
        ),
        "0"
    );
    assert_eq!(count(&target, "events"), 2 * accounts);
    assert_eq!(
        target.value(
            "SELECT count(*) FROM event_lines l WHERE NOT EXISTS \
             (SELECT FROM events e WHERE e.id = l.event_id)"
        ),
        "0"
    );
    assert_eq!(count(&target, "event_lines"), 2 * accounts);
}

/// A child of a sampled parent hashes its own reference, instead of
/// looking its parent up, only where the source guarantees the parent
/// row: under a `NOT VALID` foreign key or a rules `references:`, a row
/// may point at a parent that does not exist, and the subset must not
/// keep it (the key's hash says nothing about a missing row).
#[test]
fn a_reference_the_source_does_not_enforce_keeps_no_row_without_its_parent() {
    let pg = Pg::get();
    let source = pg.db("sub_unenforced_src");
    // Accounts 1..2000; the events and notes of accounts 2001..4000 point
    // at nothing.
    source.exec(
        "CREATE TABLE accounts (id bigint PRIMARY KEY);
         INSERT INTO accounts SELECT i FROM generate_series(1, 2000) i;
         CREATE TABLE events (id bigint PRIMARY KEY, account_id bigint NOT NULL);
         INSERT INTO events SELECT i, 1 + i % 4000 FROM generate_series(1, 8000) i;
         ALTER TABLE events ADD CONSTRAINT events_account_id_fkey
             FOREIGN KEY (account_id) REFERENCES accounts NOT VALID;
         CREATE TABLE notes (id bigint PRIMARY KEY, account_id bigint NOT NULL);
         INSERT INTO notes SELECT i, 1 + i % 4000 FROM generate_series(1, 8000) i;
         ANALYZE;",
    );
    let rules = "version: 1\nunknown_columns: keep\ntables:\n  public.notes:\n    references:\n      - { columns: [account_id], table: public.accounts, parent_columns: [id] }\n";
    let target = pg.fresh_name("sub_unenforced_dst");
    sync(&source, &target, rules, SECRET, &["--subset", "10%"]).expect(0);
    let accounts = count(&target, "accounts");
    assert!((100..=300).contains(&accounts), "accounts kept {accounts}");
    for table in ["events", "notes"] {
        assert_eq!(
            target.value(&format!(
                "SELECT count(*) FROM {table} t WHERE NOT EXISTS \
                 (SELECT FROM accounts a WHERE a.id = t.account_id)"
            )),
            "0",
            "{table} kept rows whose account does not exist"
        );
        // Two per kept account, and no more.
        assert_eq!(count(&target, table), 2 * accounts, "{table}");
    }
}
