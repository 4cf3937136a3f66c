//! `anonymize init`: starter rules covering every table and column, with
//! personal columns recognised by name, type and sampled values; `check`
//! passes on what it writes, and a sync with them leaves no original value
//! in any column it marked personal.

use std::path::Path;

use crate::harness::{anonymize, Db, Pg};
use crate::sync::{fixtures, SECRET};

/// A source loaded with `tests/fixtures/personal.sql`.
pub fn personal_source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(&std::fs::read_to_string(fixtures().join("personal.sql")).unwrap());
    db
}

/// The written rules' column lines, as `column: rule` without the comment.
fn rule_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("      "))
        .map(|l| l.trim().split("  #").next().unwrap().to_string())
        .collect()
}

/// `schema.table.column` of every column the rules replace whole (not
/// `keep`, and not a `regex` that scrubs parts of free text).
fn personal_columns(rules: &Path) -> Vec<(String, String)> {
    let rules = anonymize::rules::load::load(rules).unwrap();
    rules
        .tables
        .iter()
        .flat_map(|t| {
            t.columns
                .iter()
                .filter(|c| c.rule.describe() != "keep" && !c.rule.describe().starts_with("regex("))
                .map(|c| (t.name.sql(), anonymize::sql::quote_ident(&c.name)))
        })
        .collect()
}

/// Asserts that no non-NULL value of a personal column of `source` is in
/// the same column of `target`.
fn assert_no_original_value(source: &Db, target: &Db, columns: &[(String, String)]) {
    assert!(!columns.is_empty());
    for (table, column) in columns {
        let q = format!("SELECT {column}::text FROM {table} WHERE {column} IS NOT NULL");
        let originals: std::collections::HashSet<String> = source.column(&q).into_iter().collect();
        let leaked = target
            .column(&q)
            .into_iter()
            .filter(|v| originals.contains(v))
            .count();
        // A date moved or drawn on a dense scale lands on another row's
        // real date by chance (a few hundred dates over a few decades), so
        // dates may match a few originals; every other kind must not.
        let date = source.value(&format!(
            "SELECT pg_typeof({column})::text IN ('date', 'timestamp without time zone', 'timestamp with time zone') FROM {table} LIMIT 1"
        )) == "t";
        let allowed = if date { originals.len() / 20 } else { 0 };
        assert!(
            leaked <= allowed,
            "{table}.{column}: {leaked} original values survived"
        );
    }
}

/// What a team does with the written rules: `check` (must pass), then
/// `sync` into `target` (must succeed).
fn check_then_sync(dir: &Path, source: &Db, target: &Db) {
    anonymize(
        dir,
        &["check", "--source", &source.url, "--rules", "rules"],
        &[],
    )
    .expect(0);
    anonymize(
        dir,
        &[
            "sync",
            "--source",
            &source.url,
            "--target",
            &target.url,
            "--rules",
            "rules",
            "--no-progress",
        ],
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(0);
}

fn init(dir: &Path, source: &Db) -> String {
    let run = anonymize(
        dir,
        &["init", "--source", &source.url, "--out", "rules/"],
        &[],
    )
    .expect(0);
    assert!(
        run.stdout
            .starts_with("wrote rules/rules.yml: 3 table(s), 30 column(s)"),
        "{}",
        run.stdout
    );
    std::fs::read_to_string(dir.join("rules/rules.yml")).unwrap()
}

#[test]
fn init_covers_every_column_and_says_why() {
    let source = personal_source("init_why_src");
    let dir = tempfile::tempdir().unwrap();
    let text = init(dir.path(), &source);

    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("      ")).collect();
    assert_eq!(lines.len(), 30, "one line per column");
    for l in &lines {
        assert!(
            l.contains("  # why: ") || l.contains("  # todo: "),
            "no reason given: {l}"
        );
    }
    let rules = rule_lines(&text);
    let keep: Vec<&str> = rules
        .iter()
        .filter(|r| r.ends_with(": keep"))
        .map(|r| r.split(':').next().unwrap())
        .collect();
    assert_eq!(
        keep,
        [
            "id",
            "email_verified",
            "status",
            "created_at",
            "id",
            "customer_id",
            "product_id",
            "id",
            "name",
            "price"
        ],
        "everything else was recognised as personal:\n{text}"
    );
    // Reasons name the evidence, never a value. Columns with neutral names
    // are recognised by their values.
    let line = |column: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{column}: ")))
            .unwrap_or_else(|| panic!("no line for {column}"))
            .to_string()
    };
    for (column, evidence) in [
        (
            "contact",
            "# why: 80 of 80 sampled values are email addresses",
        ),
        ("bank_ref", "# why: 80 of 80 sampled values are IBANs"),
        (
            "payment_ref",
            "# why: 80 of 80 sampled values are card numbers",
        ),
        ("remote", "# why: 80 of 80 sampled values are IP addresses"),
        (
            "preferences",
            "# why: JSON documents hold personal fields at $.contact.email, $.contact.phone",
        ),
        ("id", "id: keep  # why: primary key"),
        (
            "customer_id",
            "customer_id: keep  # why: foreign key to public.customers",
        ),
        (
            "email_verified",
            "email_verified: keep  # why: boolean; nothing personal in its name",
        ),
        (
            "note",
            "# why: free text: 8 of 136 sampled values mention phone numbers (8); each kind is replaced",
        ),
    ] {
        assert!(line(column).contains(evidence), "{}", line(column));
    }
    for value in [
        "realmail.example",
        "4111111111111111",
        "Springfield",
        "Firstname",
        "Main Street",
        "10.0.",
        "192.168.",
    ] {
        assert!(
            !text.contains(value),
            "a sampled value ({value}) reached the rules file"
        );
    }
    // init refuses to overwrite its own output without --force.
    let again = anonymize(
        dir.path(),
        &["init", "--source", &source.url, "--out", "rules/"],
        &[],
    )
    .expect(2);
    assert!(again.stderr.contains("pass --force"), "{}", again.stderr);
}

/// The whole path: every personal column gets a rule that fits, so check
/// passes, the sync runs, and no original value survives.
#[test]
fn init_then_check_then_sync_leaves_no_original_value() {
    let pg = Pg::get();
    let source = personal_source("init_sync_src");
    let dir = tempfile::tempdir().unwrap();
    let text = init(dir.path(), &source);
    assert!(!text.contains("# todo:"), "{text}");

    let target = pg.fresh_name("init_sync_dst");
    check_then_sync(dir.path(), &source, &target);
    let personal = personal_columns(&dir.path().join("rules"));
    assert_eq!(personal.len(), 19);
    assert_no_original_value(&source, &target, &personal);
    // Kept columns came through unchanged.
    assert_eq!(
        source.value("SELECT md5(string_agg(name, '|' ORDER BY id)) FROM products"),
        target.value("SELECT md5(string_agg(name, '|' ORDER BY id)) FROM products")
    );
    // The free-text note kept its text but lost its phone numbers.
    let phones = "SELECT count(*) FROM orders WHERE note ~ '[+]1 555 010 [0-9]{4}'";
    assert_eq!(source.value(phones), "8");
    assert_eq!(target.value(phones), "0");
    assert_eq!(
        target.value("SELECT count(*) FROM orders WHERE note = 'leave it at the back door'"),
        source.value("SELECT count(*) FROM orders WHERE note = 'leave it at the back door'")
    );
}

/// With the transforms catalogue: realistic suggestions, unique-capable
/// where the column is unique.
#[test]
fn init_suggests_realistic_transforms_and_respects_unique_columns() {
    let pg = Pg::get();
    let source = personal_source("init_fake_src");
    let dir = tempfile::tempdir().unwrap();
    let text = init(dir.path(), &source);
    let rules = rule_lines(&text);
    for expected in [
        "email: { fake: email, unique: true }",
        "first_name: { fake: first_name }",
        "last_name: { fake: last_name }",
        "full_name: { fake: name }",
        "phone: { fake: phone_number }",
        "street: { fake: street_address }",
        "city: { fake: city }",
        "zip: { fake: zip }",
        "birth_date: { shift: { days: 180 } }",
        "ssn: { hash: { format: digits, length: 9 } }",
        "contact: { fake: email }",
        "password_hash: { hash: { format: hex } }",
    ] {
        assert!(
            rules.iter().any(|r| r == expected),
            "missing `{expected}` in\n{text}"
        );
    }
    anonymize(
        dir.path(),
        &["check", "--source", &source.url, "--rules", "rules"],
        &[],
    )
    .expect(0);
    let target = pg.fresh_name("init_fake_dst");
    anonymize(
        dir.path(),
        &[
            "sync",
            "--source",
            &source.url,
            "--target",
            &target.url,
            "--rules",
            "rules",
            "--no-progress",
            "--verify",
        ],
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(0);
    assert_no_original_value(
        &source,
        &target,
        &personal_columns(&dir.path().join("rules")),
    );
    assert_eq!(
        target.value("SELECT count(DISTINCT email) FROM customers"),
        "80"
    );
}

/// Issue 10 and issue 16 item 16: `init` writes no text taken from row data
/// (JSON keys of a map keyed by name become `*`), empties binary columns
/// named like pictures or papers, and handles a table and a column whose
/// names hold a newline. Before: the JSON rule lost a brace (the column
/// fell back to `null`), keys like `"Jane Doe"` were written out, `$.`
/// paths matched nothing, and the newline broke the file ("a bug in init").
#[test]
fn init_writes_no_row_data_and_survives_odd_names() {
    let pg = Pg::get();
    let source = pg.db("init_odd_src");
    source.exec(
        "CREATE TABLE \"odd\nname\" (id int PRIMARY KEY, \"line\nbreak\" text, note text);
         INSERT INTO \"odd\nname\" SELECT i, 'row ' || i, 'n' FROM generate_series(1, 30) i;
         CREATE TABLE people (
             id int PRIMARY KEY,
             odd_id int REFERENCES \"odd\nname\"(id),
             avatar bytea,
             id_scan bytea NOT NULL,
             checksum bytea,
             prefs jsonb);
         INSERT INTO people SELECT i, i,
             '\\x89504e47'::bytea, '\\x25504446'::bytea, '\\x00ff'::bytea,
             jsonb_build_object(
                 'contact', jsonb_build_object('email', 'p' || i || '@realmail.example'),
                 'by_name', jsonb_build_object('Person Number ' || i,
                     jsonb_build_object('phone', '+1 555 010 ' || lpad(i::text, 4, '0'))),
                 'theme', 'dark')
         FROM generate_series(1, 30) i;",
    );
    let dir = tempfile::tempdir().unwrap();
    anonymize(
        dir.path(),
        &["init", "--source", &source.url, "--out", "rules/"],
        &[],
    )
    .expect(0);
    let text = std::fs::read_to_string(dir.path().join("rules/rules.yml")).unwrap();
    for data in ["Person Number", "realmail", "555 010"] {
        assert!(
            !text.contains(data),
            "row data `{data}` in the rules:\n{text}"
        );
    }
    assert!(
        text.contains("  \"public.\\\"odd\\nname\\\"\":\n"),
        "{text}"
    );
    assert!(text.contains("      \"line\\nbreak\": keep"), "{text}");
    let line = |column: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{column}:")))
            .unwrap_or_else(|| panic!("no line for {column}:\n{text}"))
            .to_string()
    };
    assert!(
        line("avatar").starts_with("      avatar: null  # why: binary column named like a picture")
    );
    assert!(
        line("id_scan").starts_with("      id_scan: { set: '\\x' }  # why:"),
        "{}",
        line("id_scan")
    );
    assert!(
        line("checksum").starts_with("      checksum: keep"),
        "{}",
        line("checksum")
    );
    assert!(
        line("prefs").contains("'$.by_name.*.phone': { fake: phone_number }")
            && line("prefs").contains("'$.contact.email': { fake: email }"),
        "{}",
        line("prefs")
    );

    let target = pg.fresh_name("init_odd_dst");
    check_then_sync(dir.path(), &source, &target);
    assert_eq!(target.value("SELECT count(*) FROM \"odd\nname\""), "30");
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE avatar IS NULL AND id_scan = ''::bytea"),
        "30"
    );
    assert_eq!(
        target.value(
            "SELECT count(*) FROM people WHERE prefs::text LIKE '%realmail%' OR prefs::text LIKE '%555 010%'"
        ),
        "0",
        "a personal value inside the JSON survived"
    );
    assert_eq!(
        target.value("SELECT count(*) FROM people WHERE prefs->>'theme' = 'dark'"),
        "30"
    );
}

/// Issue 21 §3: free text holding emails and phone numbers gets a `regex`
/// rule per kind found, with its why; `init` → `sync` leaves none of the
/// source's emails or phone numbers in any text column of the target.
/// Street addresses, latitude/longitude pairs, licence plates and card
/// numbers are recognised by value; a column of company names is kept.
#[test]
fn init_scrubs_free_text_and_the_sync_leaves_no_email_or_phone() {
    let pg = Pg::get();
    let source = pg.db("init_text_src");
    source.exec(
        "CREATE TABLE accounts (id int PRIMARY KEY, name text, notes text, remarks text,
                                addr text, spot text, plate text, paid_with text);
         INSERT INTO accounts SELECT i,
             (ARRAY['Acme Corp.', 'Globex GmbH', 'Initech Holdings', 'Umbrella Ltd'])[1 + i % 4],
             CASE WHEN i % 5 = 0 THEN 'wrote to owner' || i || '@shopmail.com, call +44 20 7946 ' || lpad(i::text, 4, '0')
                  WHEN i % 5 = 1 THEN 'prefers mail: buyer' || i || '@shopmail.com'
                  ELSE 'delivered on time' END,
             'ticket ' || i || ' closed',
             (10 + i) || ' Oak Street',
             (40 + i % 10) || '.' || lpad((i * 7919 % 100000)::text, 5, '0') || ', -7' || (i % 10) || '.1234',
             'AB' || lpad((i % 100)::text, 2, '0') || ' CDE',
             '4111 1111 1111 1111'
           FROM generate_series(1, 200) i;",
    );
    let dir = tempfile::tempdir().unwrap();
    anonymize(
        dir.path(),
        &["init", "--source", &source.url, "--out", "rules/"],
        &[],
    )
    .expect(0);
    let text = std::fs::read_to_string(dir.path().join("rules/rules.yml")).unwrap();
    let line = |column: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{column}:")))
            .unwrap_or_else(|| panic!("no {column} in\n{text}"))
            .to_string()
    };
    let notes = line("notes");
    assert!(notes.contains("notes: { regex: [ { pattern: "), "{notes}");
    assert!(notes.contains("with: { fake: email } }"), "{notes}");
    assert!(notes.contains("with: { fake: phone_number } }"), "{notes}");
    assert!(
        notes.contains(
            "# why: free text: 80 of 200 sampled values mention email addresses (80), \
             phone numbers (40); each kind is replaced where it appears"
        ),
        "{notes}"
    );
    assert!(
        line("remarks").contains("remarks: keep"),
        "{}",
        line("remarks")
    );
    assert!(line("name").contains("name: keep  # why: the name suggests a person, but 200 of 200 sampled values are company names"), "{}", line("name"));
    assert!(
        line("addr").contains("addr: { fake: street_address }"),
        "{}",
        line("addr")
    );
    assert!(
        line("spot").contains("spot: { regex: { pattern: '\\.[0-9]{2,}', with: { fpe: {} } } }"),
        "{}",
        line("spot")
    );
    assert!(
        line("plate").contains("plate: { fake: license_plate }"),
        "{}",
        line("plate")
    );
    assert!(
        line("paid_with").contains("paid_with: { fpe: {} }"),
        "{}",
        line("paid_with")
    );

    let target = pg.fresh_name("init_text_dst");
    anonymize(
        dir.path(),
        &[
            "sync",
            "--source",
            &source.url,
            "--target",
            &target.url,
            "--rules",
            "rules",
            "--no-progress",
            "--verify",
        ],
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(0);
    // No source email or phone number anywhere in the target's text.
    let found: Vec<String> = source
        .value(
            "SELECT string_agg(m[1], E'\\n') FROM accounts,
                    regexp_matches(notes, '([a-z0-9]+@shopmail\\.com|\\+44 20 7946 [0-9]{4})', 'g') m",
        )
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(found.len(), 120, "the source holds 80 emails and 40 phones");
    let target_text = target.value(
        "SELECT string_agg(concat_ws(' ', name, notes, remarks, addr, spot, plate, paid_with), E'\\n') FROM accounts",
    );
    for value in &found {
        assert!(
            !target_text.contains(value.as_str()),
            "{value} is in the target"
        );
    }
    assert_eq!(
        target.value("SELECT count(*) FROM accounts WHERE notes LIKE 'delivered on time'"),
        "120"
    );
}
