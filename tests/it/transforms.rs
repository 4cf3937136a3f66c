//! Every transform in one sync (`tests/fixtures/transforms.yml`): the rows
//! load under the target's constraints, the values are replaced, and the
//! promises hold in the database: unique stays unique, foreign keys hashed
//! with the same rule join, templates see the fake names, NULL stays NULL,
//! outputs fit their types and ranges, and a second run is identical.

use crate::harness::{Db, Pg};
use crate::sync::{fixtures, sync, sync_with_edited_rules, SECRET};

fn source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(&std::fs::read_to_string(fixtures().join("transforms.sql")).unwrap());
    db
}

#[test]
fn every_transform_loads_and_keeps_its_promises() {
    let pg = Pg::get();
    let source = source("tf_src");
    let target = pg.fresh_name("tf_dst");
    sync(&source, &target, "transforms.yml", SECRET, &[]).expect(0);

    assert_eq!(target.value("SELECT count(*) FROM people"), "400");
    assert_eq!(target.value("SELECT count(*) FROM orders"), "1000");
    // The constraints were built after the load: unique columns stayed
    // unique and every order still finds its person.
    assert_eq!(
        target.value("SELECT count(*) FROM orders o JOIN people p ON p.id = o.person_id"),
        "1000"
    );
    // Orders point at the same people as in the source: compare emails
    // through the join (the fake email of the same person on both sides).
    assert_eq!(
        target.value("SELECT count(*) FROM orders o JOIN people p ON p.id = o.person_id WHERE o.billing_email = p.email"),
        source.value("SELECT count(*) FROM orders o JOIN people p ON p.id = o.person_id WHERE o.billing_email = p.email"),
    );

    // No original value survives in the personal columns.
    for col in [
        "email",
        "username",
        "phone",
        "external_id::text",
        "national_id",
        "api_key",
        "ssn",
        "notes",
        "profile::text",
    ] {
        let q = format!("SELECT {col} FROM people WHERE {col} IS NOT NULL");
        let before: std::collections::HashSet<String> = source.column(&q).into_iter().collect();
        let survived = target
            .column(&q)
            .into_iter()
            .filter(|v| before.contains(v))
            .count();
        assert_eq!(survived, 0, "original values of {col} survived");
    }

    // NULL stays NULL, column by column.
    for col in [
        "work_email",
        "phone",
        "last_name",
        "birth_date",
        "tags",
        "profile",
    ] {
        assert_eq!(
            source.value(&format!("SELECT count(*) FROM people WHERE {col} IS NULL")),
            target.value(&format!("SELECT count(*) FROM people WHERE {col} IS NULL")),
            "NULLs of {col}"
        );
    }

    // Templates read the output values of the same row.
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE full_name = left(first_name || ' ' || coalesce(last_name, ''), 24)"),
        "400"
    );
    // Formats and ranges.
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE ssn !~ '^[0-9]{9} *$'"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE api_key !~ '^[0-9A-Za-z]{24}$'"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE national_id !~ '^[A-Z]{2}-[0-9]{6}$'"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE card !~ '^\\*{15}[0-9]{4}$'"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE work_email NOT LIKE '%@work.example.com'"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE age NOT BETWEEN 18 AND 99"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE price NOT BETWEEN 1 AND 500"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE balance < 0"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE plan <> 'free'"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE length(city) > 10"),
        "0"
    );
    assert_eq!(target.value("SELECT count(*) FROM people WHERE born NOT BETWEEN date '1994-01-02' AND date '2005-01-01'"), "0");
    assert_eq!(
        target.value(
            "SELECT count(*) FROM people WHERE substr(iban, 1, 2) <> 'DE' OR length(iban) <> 22"
        ),
        "0"
    );

    // Moved values stay within their bounds: birth dates by at most 180
    // days (sources span 1950-01-01 to 1990-07-10), salaries by 10%.
    let shifted = target.value(
        "SELECT count(*) FROM people WHERE birth_date IS NOT NULL AND birth_date NOT BETWEEN date '1949-07-01' AND date '1991-01-01'",
    );
    assert_eq!(shifted, "0");
    assert_eq!(
        target.value(
            "SELECT count(*) FROM people WHERE lucky[2] IS NOT NULL OR cardinality(lucky) <> 3"
        ),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE salary NOT BETWEEN 27000 AND 40000"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE account::text !~ '^[0-9]{1,3}$'"),
        "0"
    );
    // Arrays: element-wise, NULL elements kept, shape kept.
    assert_eq!(target.value("SELECT count(*) FROM people WHERE tags IS NOT NULL AND (cardinality(tags) <> 4 OR tags[2] IS NOT NULL)"), "0");
    // json: other keys untouched.
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE profile IS NOT NULL AND (profile->'contacts'->1->>'phone' IS NULL OR profile ? 'vip' = false)"),
        "0"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE profile->>'name' LIKE 'Person %'"),
        "0"
    );
    // regex: the SSN in the notes is the ssn column's hash.
    assert_eq!(
        target.value(
            "SELECT count(*) FROM people WHERE notes <> 'SSN ' || trim(ssn) || E'; call\\tlater'"
        ),
        "0"
    );

    // Deterministic: a second sync gives the same data.
    let again = pg.fresh_name("tf_dst2");
    sync(&source, &again, "transforms.yml", SECRET, &[]).expect(0);
    let digest = "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM people t";
    assert_eq!(target.value(digest), again.value(digest));
}

/// A `choice` value is a constant: a misspelt enum label stops the sync
/// at plan time (the plan casts it on the source), before any row moves.
#[test]
fn a_choice_with_a_bad_enum_label_fails_before_any_row_moves() {
    let pg = Pg::get();
    let source = source("tf_enum_src");
    let target = pg.fresh_name("tf_enum_dst");
    let (_dir, run) = sync_with_edited_rules(
        &source,
        &target,
        "transforms.yml",
        &[(
            "tier: { choice: [bronze, silver, gold] }",
            "tier: { choice: [bronze, platinum] }",
        )],
    );
    let run = run.expect(2);
    assert!(
        run.stderr.contains("column public.people.tier"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("platinum"), "{}", run.stderr);
    assert!(!pg.exists(&target.name) && !pg.exists(&format!("{}__next", target.name)));
}
