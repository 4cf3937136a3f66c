//! Rules for any schema (issue 25): `when:` lists, `sql:` expressions,
//! `command:` programs and polymorphic `references:`, through the real
//! binary against a real source and target; plus the exact text of every
//! way to misuse them (snapshots `extend__*`).

use crate::harness::{anonymize, rules_dir, sync_args, verify_args, Db, Pg, Run};
use crate::messages::user_text;

const SECRET: &str = "ODYWX05jrquYn6KbmBDcexyOd1hXDE39kVzu2oys4s6Tq8aF";

/// A shop's customers: test accounts to keep, a country per row, a
/// soft-delete flag, and fields to generalise.
fn customers(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(
        "CREATE TABLE customers (
            id int PRIMARY KEY,
            email text NOT NULL,
            country text,
            is_test_account bool NOT NULL DEFAULT false,
            deleted bool NOT NULL DEFAULT false,
            notes text,
            zip varchar(10),
            birth_date date,
            salary numeric(10,2));
         INSERT INTO customers VALUES
            (1, 'qa@ourshop.example', 'DE', true, false, 'internal', '10115', '1990-05-17', 52340.50),
            (2, 'hans.meier@gmail.com', 'DE', false, false, 'likes jazz', '80331', '1985-11-02', 61000),
            (3, 'john.smith@yahoo.com', 'US', false, false, 'vip', '94110', '1979-01-30', 48999.99),
            (4, 'ghost@hotmail.com', NULL, false, true, 'call him at 555-0100', NULL, NULL, NULL);",
    );
    db
}

fn run_sync(source: &Db, target: &Db, rules: &str) -> (tempfile::TempDir, Run) {
    let dir = rules_dir(rules);
    let args = sync_args(&source.url, &target.url, "rules.yml", &[]);
    let run = anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)]);
    (dir, run)
}

const WHEN_AND_SQL: &str = r#"version: 1
tables:
  public.customers:
    columns:
      id: keep
      email:
        - when: "is_test_account"     # our own test accounts stay as they are
          keep: true
        - when: "country = 'DE'"
          set: kunde@example.de
        - { fake: email }
      country: keep
      is_test_account: keep
      deleted: keep
      notes:
        - { when: "deleted", null: true }
        - { when: "is_test_account", keep: true }
        - { mask: {} }
      zip: { sql: "left(zip, 3) || '00'" }
      birth_date: { sql: "date_trunc('year', birth_date)::date" }
      salary: { sql: "round(salary, -4)" }
"#;

/// `when:` picks each row's rule from its source values (the first that
/// holds; NULL is not true), and `sql:` computes values on the source.
#[test]
fn when_lists_choose_per_row_and_sql_expressions_run_on_the_source() {
    let source = customers("ext_when_src");
    let target = Pg::get().fresh_name("ext_when_dst");
    let (_dir, run) = run_sync(&source, &target, WHEN_AND_SQL);
    run.expect(0);
    let rows = target.query(
        "SELECT id::text, email, notes, zip, birth_date::text, salary::text FROM customers ORDER BY id",
    );
    let get = |r: usize, c: usize| rows[r][c].clone();
    // Test account: kept as it is.
    assert_eq!(get(0, 1).as_deref(), Some("qa@ourshop.example"));
    assert_eq!(get(0, 2).as_deref(), Some("internal"));
    // DE: the second branch.
    assert_eq!(get(1, 1).as_deref(), Some("kunde@example.de"));
    // US and NULL country (the condition is NULL, not true): the default.
    for r in [2, 3] {
        let email = get(r, 1).unwrap();
        assert!(
            email.ends_with(".invalid") || email.contains("@example."),
            "row {r}: {email}"
        );
        assert_ne!(
            email,
            source.query("SELECT email FROM customers ORDER BY id")[r][0]
                .clone()
                .unwrap()
        );
    }
    // Notes: deleted row blanked, others masked (length kept).
    assert_eq!(get(3, 2), None);
    assert_eq!(get(1, 2).as_deref(), Some("**********"));
    assert_eq!(get(2, 2).as_deref(), Some("***"));
    // sql: generalised on the source; NULL stays NULL.
    assert_eq!(get(1, 3).as_deref(), Some("80300"));
    assert_eq!(get(2, 4).as_deref(), Some("1979-01-01"));
    assert_eq!(get(1, 5).as_deref(), Some("60000.00"));
    assert_eq!(get(2, 5).as_deref(), Some("50000.00"));
    assert_eq!((get(3, 3), get(3, 4), get(3, 5)), (None, None, None));

    // The plan shows every branch; `check` finds no gap.
    let dir = rules_dir(WHEN_AND_SQL);
    let dry = anonymize(
        dir.path(),
        &sync_args(&source.url, &target.url, "rules.yml", &["--dry-run"]),
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(0);
    assert!(
        dry.stdout.contains(
            "email                    when (is_test_account): keep; when (country = 'DE'): set(\"kunde@example.de\"); else: fake(email)"
        ),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout
            .contains("zip                      sql(\"left(zip, 3) || '00'\")"),
        "{}",
        dry.stdout
    );
    anonymize(
        dir.path(),
        &["check", "--source", &source.url, "--rules", "rules.yml"],
        &[],
    )
    .expect(0);
}

/// A Rails-style schema: comments point at posts or photos through
/// `commentable_type` + `commentable_id`, with no foreign key. Ids of posts
/// and photos overlap, as they do in real apps.
fn polymorphic(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(
        "CREATE TABLE posts (id int PRIMARY KEY, title text);
         CREATE TABLE photos (id int PRIMARY KEY, url text);
         CREATE TABLE comments (id int PRIMARY KEY, commentable_type text NOT NULL,
                                commentable_id int NOT NULL, body text);
         INSERT INTO posts SELECT g, 'post ' || g FROM generate_series(1, 2000) g;
         INSERT INTO photos SELECT g, 'photo ' || g FROM generate_series(1, 2000) g;
         INSERT INTO comments SELECT g, 'Post', g, 'on post' FROM generate_series(1, 2000) g;
         INSERT INTO comments SELECT 2000 + g, 'Photo', g, 'on photo' FROM generate_series(1, 2000) g;
         ANALYZE;",
    );
    db
}

const POLYMORPHIC: &str = r#"version: 1
unknown_columns: keep
tables:
  public.comments:
    references:
      - { columns: [commentable_id], table: public.posts,  when: "commentable_type = 'Post'" }
      - { columns: [commentable_id], table: public.photos, when: "commentable_type = 'Photo'" }
"#;

/// Polymorphic references are followed in both directions under their
/// condition: a comment follows the post or photo it is on, and pulls in
/// that one only, so every kept post and photo has all its comments and
/// no comment is an orphan of either kind.
#[test]
fn polymorphic_references_keep_the_subset_whole_under_their_condition() {
    let source = polymorphic("ext_poly_src");
    let target = Pg::get().fresh_name("ext_poly_dst");
    let dir = rules_dir(POLYMORPHIC);
    let args = sync_args(&source.url, &target.url, "rules.yml", &["--subset", "10%"]);
    anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)]).expect(0);
    let dry_args = sync_args(
        &source.url,
        &target.url,
        "rules.yml",
        &["--subset", "10%", "--dry-run"],
    );
    let dry = anonymize(dir.path(), &dry_args, &[("ANONYMIZE_SECRET", SECRET)]).expect(0);
    let count = |sql: &str| -> i64 { target.value(sql).parse().unwrap() };
    let posts = count("SELECT count(*) FROM posts");
    let photos = count("SELECT count(*) FROM photos");
    assert!((100..=400).contains(&posts), "posts: {posts}");
    assert!((100..=400).contains(&photos), "photos: {photos}");
    // No orphan of either kind.
    assert_eq!(
        count("SELECT count(*) FROM comments c WHERE commentable_type = 'Post' AND NOT EXISTS (SELECT FROM posts p WHERE p.id = c.commentable_id)"),
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM comments c WHERE commentable_type = 'Photo' AND NOT EXISTS (SELECT FROM photos p WHERE p.id = c.commentable_id)"),
        0
    );
    // Every kept post and photo comes with its comment: the comment
    // followed it, and nothing was pulled in by a comment of the other
    // kind (a photo's comment naming the post of the same id).
    assert_eq!(
        count("SELECT count(*) FROM posts p WHERE NOT EXISTS (SELECT FROM comments c WHERE c.commentable_type = 'Post' AND c.commentable_id = p.id)"),
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM photos p WHERE NOT EXISTS (SELECT FROM comments c WHERE c.commentable_type = 'Photo' AND c.commentable_id = p.id)"),
        0
    );
    assert_eq!(count("SELECT count(*) FROM comments"), posts + photos);

    // --dry-run names the conditions.
    assert!(
        dry.stdout.contains(
            "rows: follows public.posts (commentable_id) when commentable_type = 'Post', else public.photos (commentable_id) when commentable_type = 'Photo'"
        ) || dry.stdout.contains(
            "rows: follows public.photos (commentable_id) when commentable_type = 'Photo', else public.posts (commentable_id) when commentable_type = 'Post'"
        ),
        "{}",
        dry.stdout
    );
}

/// Bank accounts: IBANs no built-in transform knows, invoice references,
/// and a reference whose value tells rows apart.
fn accounts(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(
        "CREATE TABLE accounts (id int PRIMARY KEY, iban text, invoice_ref text, ref text NOT NULL);
         INSERT INTO accounts VALUES
            (1, 'DE89 3704 0044 0532 0130 00', 'INV-2024-00042', 'r1'),
            (2, 'GB82WEST12345698765432', 'INV-2023-11111', 'r2'),
            (3, NULL, NULL, 'r3');
         -- Enough rows for several batches and workers.
         INSERT INTO accounts SELECT g, 'FR14 2004 1010 0505 0001 3M02 606', 'INV-' || g,
                                     'row ' || g || repeat(' pad', 20)
           FROM generate_series(4, 20000) g;",
    );
    db
}

fn example(name: &str) -> String {
    format!("{}/examples/transforms/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `ISO 13616`: an IBAN's check digits hold.
fn iban_valid(iban: &str) -> bool {
    let s: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    let rotated = format!("{}{}", &s[4..], &s[..4]);
    let mut rem = 0u64;
    for c in rotated.chars() {
        let v = c.to_digit(36).unwrap() as u64;
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// `command:` runs the examples of `examples/transforms/` (Python and
/// shell) through the documented protocol: every value answered in
/// order across batches and workers, NULL never sent, the same output
/// run after run; the program never sees the master secret.
#[test]
fn command_programs_replace_values_through_the_line_protocol() {
    let source = accounts("ext_cmd_src");
    let rules = format!(
        r#"version: 1
tables:
  public.accounts:
    columns:
      id: keep
      iban: {{ command: "{iban}" }}
      invoice_ref: {{ command: "{mask}" }}
      ref: {{ command: {{ run: [sed, -u, '/^\\\.$/!s/^/x/'] }} }}
"#,
        iban = example("iban.py"),
        mask = example("mask_digits.sh"),
    );
    let first = Pg::get().fresh_name("ext_cmd_dst1");
    let second = Pg::get().fresh_name("ext_cmd_dst2");
    let dir = rules_dir(&rules);
    for target in [&first, &second] {
        let args = sync_args(&source.url, &target.url, "rules.yml", &["--jobs", "2"]);
        anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)]).expect(0);
    }
    let rows = first.query("SELECT iban, invoice_ref, ref FROM accounts WHERE id <= 3 ORDER BY id");
    let iban1 = rows[0][0].clone().unwrap();
    assert!(iban1.starts_with("DE") && iban_valid(&iban1), "{iban1}");
    assert_ne!(iban1, "DE89 3704 0044 0532 0130 00");
    assert_eq!(iban1.len(), "DE89 3704 0044 0532 0130 00".len());
    let iban2 = rows[1][0].clone().unwrap();
    assert!(iban2.starts_with("GB") && iban_valid(&iban2), "{iban2}");
    assert_eq!(rows[0][1].as_deref(), Some("INV-0000-00000"));
    assert_eq!((rows[2][0].clone(), rows[2][1].clone()), (None, None));
    // Every answer went to its own row, in every batch.
    assert_eq!(
        first.value("SELECT count(*) FROM accounts WHERE ref <> 'x' || CASE WHEN id <= 3 THEN 'r' || id ELSE 'row ' || id || repeat(' pad', 20) END"),
        "0"
    );
    // Deterministic: the second run wrote the same values.
    let all = |db: &Db| {
        db.column("SELECT concat_ws('|', id, iban, invoice_ref, ref) FROM accounts ORDER BY id")
    };
    assert_eq!(all(&first), all(&second));

    // The program's environment: a derived key, never the master secret.
    let probe = dir.path().join("probe.sh");
    std::fs::write(
        &probe,
        "#!/bin/sh\nwhile IFS= read -r line; do\n  if [ \"$line\" = '\\.' ]; then printf '%s\\n' '\\.'\n  else printf '%s %s\\n' \"${ANONYMIZE_SECRET:-no-secret}\" \"${#ANONYMIZE_COMMAND_KEY}\"; fi\ndone\n",
    )
    .unwrap();
    make_executable(&probe);
    let third = Pg::get().fresh_name("ext_cmd_dst3");
    let dir = rules_dir(
        "version: 1\nunknown_columns: keep\ntables:\n  public.accounts:\n    columns:\n      invoice_ref: { command: ./probe.sh }\n",
    );
    std::fs::copy(&probe, dir.path().join("probe.sh")).unwrap();
    make_executable(&dir.path().join("probe.sh"));
    let args = sync_args(&source.url, &third.url, "rules.yml", &[]);
    anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)]).expect(0);
    assert_eq!(
        third.column("SELECT DISTINCT invoice_ref FROM accounts WHERE invoice_ref IS NOT NULL"),
        vec!["no-secret 64".to_string()]
    );
}

fn make_executable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A program that crashes, answers the wrong number of lines or does not
/// answer in time ends the run with exit 1, naming the rule and the
/// command, never a value; the target is as it was.
#[test]
fn a_failing_command_ends_the_run_and_leaves_the_target_as_it_was() {
    let source = accounts("ext_cmdfail_src");
    let cases = [
        ("crash.sh", "#!/bin/sh\nread -r line\nexit 3\n", "", "ended before answering a batch of"),
        (
            "twice.sh",
            "#!/bin/sh\nwhile IFS= read -r line; do\n  if [ \"$line\" = '\\.' ]; then printf '%s\\n' '\\.'; else printf 'a\\nb\\n'; fi\ndone\n",
            "",
            "lines for a batch of",
        ),
        ("silent.sh", "#!/bin/sh\nexec sleep 600\n", ", timeout: 1", "within 1 s"),
    ];
    for (script, body, options, expected) in cases {
        let target = Pg::get().fresh_name("ext_cmdfail_dst");
        let dir = rules_dir(&format!(
            "version: 1\nunknown_columns: keep\ntables:\n  public.accounts:\n    columns:\n      invoice_ref: {{ command: {{ run: [./{script}]{options} }} }}\n"
        ));
        std::fs::write(dir.path().join(script), body).unwrap();
        make_executable(&dir.path().join(script));
        let args = sync_args(&source.url, &target.url, "rules.yml", &["--jobs", "1"]);
        let run = anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)]);
        assert_eq!(run.code, 1, "{script}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "column invoice_ref: the command `./{script}` of the rule for public.accounts.invoice_ref"
            )) && run.stderr.contains(expected),
            "{script}: {}",
            run.stderr
        );
        for value in ["INV-", "DE89", "r1", "row "] {
            assert!(
                !run.stderr.contains(value),
                "{script} printed a value: {}",
                run.stderr
            );
        }
        assert!(
            !Pg::get().exists(&target.name),
            "{script}: the target was written"
        );
    }
}

/// The schema every misuse below is written against.
fn misuse_source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(
        "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, country text,
                                 is_test_account bool NOT NULL DEFAULT false, zip text, born date);
         CREATE TABLE posts (id int PRIMARY KEY, title text);
         CREATE TABLE comments (id int PRIMARY KEY, commentable_type text, commentable_id int, body text);
         INSERT INTO customers VALUES (1, 'a@realmail.example', 'DE', false, '10115', '1990-01-01');",
    );
    db
}

const MISUSE_GOOD: &str = r#"version: 1
unknown_columns: keep
tables:
  public.customers:
    columns:
      email:
        - { when: "is_test_account", fake: email, unique: true }
        - { fake: email, unique: true }
      zip: { sql: "left(zip, 3) || '00'" }
  public.comments:
    references:
      - { columns: [commentable_id], table: public.posts, when: "commentable_type = 'Post'" }
"#;

/// Each way to misuse `when:`, `sql:`, `command:` and polymorphic
/// references, as (snapshot name, edit of `MISUSE_GOOD`).
fn misuses() -> Vec<(&'static str, String)> {
    let edit = |from: &str, to: &str| {
        assert!(MISUSE_GOOD.contains(from), "{from}");
        MISUSE_GOOD.replace(from, to)
    };
    let email = "        - { when: \"is_test_account\", fake: email, unique: true }\n        - { fake: email, unique: true }\n";
    vec![
        (
            "when_last_rule_has_a_condition",
            edit("        - { fake: email, unique: true }\n", "        - { when: \"country = 'DE'\", fake: email, unique: true }\n"),
        ),
        (
            "when_on_a_single_rule",
            edit(email, "        { when: \"is_test_account\", fake: email, unique: true }\n"),
        ),
        (
            "when_missing_before_the_last",
            edit(email, "        - { fake: email, unique: true }\n        - { fake: email, unique: true }\n"),
        ),
        ("when_empty_list", edit(email, "        []\n")),
        (
            "when_unique_column_different_branches",
            edit(email, "        - { when: \"is_test_account\", keep: true }\n        - { fake: email, unique: true }\n"),
        ),
        (
            "when_not_boolean",
            edit("when: \"is_test_account\"", "when: \"country\""),
        ),
        (
            "when_unknown_column",
            edit("when: \"is_test_account\"", "when: \"is_test_acount\""),
        ),
        (
            "when_breaks_out_of_the_query",
            edit("when: \"is_test_account\"", "when: \"true) FROM customers; --\""),
        ),
        (
            "when_inside_a_json_path",
            edit("      zip: { sql: \"left(zip, 3) || '00'\" }", "      zip: { regex: { pattern: '[0-9]', with: { when: \"true\", keep: true } } }"),
        ),
        (
            "sql_wrong_type",
            edit("{ sql: \"left(zip, 3) || '00'\" }", "{ sql: \"left(zip, 3) || '00'\" }\n      born: { sql: \"extract(year from born)::text\" }"),
        ),
        (
            "sql_does_not_parse",
            edit("left(zip, 3) || '00'", "left(zip 3) || '00'"),
        ),
        (
            "sql_on_a_unique_column",
            edit(email, "        { sql: \"lower(email)\" }\n"),
        ),
        (
            "sql_two_statements",
            edit("left(zip, 3) || '00'", "zip; SELECT 1"),
        ),
        (
            "command_not_on_path",
            edit("{ sql: \"left(zip, 3) || '00'\" }", "{ command: no-such-program-anonymize }"),
        ),
        (
            "command_not_executable",
            edit("{ sql: \"left(zip, 3) || '00'\" }", "{ command: ./plain.txt }"),
        ),
        (
            "command_unknown_option",
            edit("{ sql: \"left(zip, 3) || '00'\" }", "{ command: { run: [sed], timeot: 3 } }"),
        ),
        (
            "command_on_a_unique_column",
            edit(email, "        { command: sed }\n"),
        ),
        (
            "references_when_unknown_column",
            edit("commentable_type = 'Post'", "comentable_type = 'Post'"),
        ),
        (
            "references_when_not_boolean",
            edit("when: \"commentable_type = 'Post'\"", "when: \"commentable_type\""),
        ),
        (
            "references_when_under_null_outside_subset",
            format!("{MISUSE_GOOD}    null_outside_subset: [commentable_id]\n"),
        ),
    ]
}

#[test]
fn every_misuse_of_an_extension_point_reads_as_snapshotted() {
    let source = misuse_source("ext_msg_src");
    let target = Pg::get().fresh_name("ext_msg_dst");
    // The good rules plan and check clean: each case is wrong in one way.
    let dir = rules_dir(MISUSE_GOOD);
    anonymize(
        dir.path(),
        &["check", "--source", &source.url, "--rules", "rules.yml"],
        &[],
    )
    .expect(0);
    for (name, rules) in misuses() {
        let dir = rules_dir(&rules);
        std::fs::write(dir.path().join("plain.txt"), "not a program\n").unwrap();
        let check = anonymize(
            dir.path(),
            &["check", "--source", &source.url, "--rules", "rules.yml"],
            &[],
        );
        assert_ne!(check.code, 0, "{name}: check passed\n{rules}");
        let args = sync_args(&source.url, &target.url, "rules.yml", &["--subset", "50%"]);
        let sync = anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)]);
        assert_eq!(sync.code, 2, "{name}: {}", sync.stderr);
        assert!(!Pg::get().exists(&target.name), "{name}: the sync wrote");
        insta::assert_snapshot!(
            format!("misuse_{name}"),
            format!(
                "# check\n{}\n# sync\n{}",
                user_text(&check, dir.path(), &[&source, &target]),
                user_text(&sync, dir.path(), &[&source, &target])
            )
        );
    }
}

/// `unique: true` beside `sql:` is the user's word; `verify` checks it on
/// the source column (issue 25): `lower(code)` gives two codes one output,
/// so the claim is broken (exit 3, counts only); `md5(code)` keeps them
/// apart, so it holds.
#[test]
fn verify_checks_the_unique_claim_of_an_sql_expression() {
    let pg = Pg::get();
    let source = pg.db("ext_claim_src");
    source.exec(
        "CREATE TABLE vouchers (id int PRIMARY KEY, code text NOT NULL);
         INSERT INTO vouchers SELECT i, CASE WHEN i % 50 = 0 THEN 'SUMMER' ELSE 'code' END || i
           FROM generate_series(1, 200) i;
         INSERT INTO vouchers VALUES (201, 'summer50');",
    );
    let rules = |expr: &str| {
        format!(
            "version: 1\ntables:\n  public.vouchers:\n    columns:\n      id: keep\n      code: {{ sql: \"{expr}\", unique: true }}\n"
        )
    };
    for (expr, code, verdict) in [
        (
            "lower(code)",
            3,
            "not_unique public.vouchers.code (sql(\"lower(code)\") unique): the rule says `unique: true`, but its `sql:` expression gives 200 distinct values for the column's 201: some inputs share an output; drop `unique: true` (and any unique index on the column), or write an expression that keeps values apart\nfailed: 0 leak(s), 1 broken `unique: true` claim(s)",
        ),
        ("md5(code)", 0, "ok: 0 leak(s), 0 accepted"),
    ] {
        let target = pg.fresh_name("ext_claim_dst");
        let (dir, run) = run_sync(&source, &target, &rules(expr));
        run.expect(0);
        let verify = anonymize(
            dir.path(),
            &verify_args(&source.url, &target.url, "rules.yml", &[]),
            &[("ANONYMIZE_SECRET", SECRET)],
        )
        .expect(code);
        assert!(verify.stdout.contains(verdict), "{expr}:\n{}", verify.stdout);
        assert!(!verify.stdout.contains("summer50"), "a value was printed");
        pg.db_admin()
            .exec(&format!("DROP DATABASE \"{}\"", target.name));
    }
}

/// `init` writes the polymorphic references it finds by convention (Rails'
/// `commentable_type` + `commentable_id`, Django's `content_type_id` +
/// `object_id`), and a subset with its rules keeps them whole: no comment
/// on a post or photo that is not there.
#[test]
fn init_writes_polymorphic_references_and_the_subset_follows_them() {
    let source = polymorphic("ext_init_poly_src");
    source.exec(
        "CREATE TABLE django_content_type (id int PRIMARY KEY, app_label text, model text);
         INSERT INTO django_content_type VALUES (7, 'blog', 'entry'), (8, 'auth', 'user');
         CREATE TABLE blog_entry (id int PRIMARY KEY, headline text);
         INSERT INTO blog_entry SELECT g, 'entry ' || g FROM generate_series(1, 500) g;
         CREATE TABLE tagged_item (id int PRIMARY KEY,
             content_type_id int NOT NULL REFERENCES django_content_type, object_id int NOT NULL, tag text);
         INSERT INTO tagged_item SELECT g, 7, g, 'tag' FROM generate_series(1, 500) g;
         ANALYZE;",
    );
    let dir = tempfile::tempdir().unwrap();
    anonymize(
        dir.path(),
        &["init", "--source", &source.url, "--out", "rules.yml"],
        &[],
    )
    .expect(0);
    let rules = std::fs::read_to_string(dir.path().join("rules.yml")).unwrap();
    for line in [
        "    references:\n      - { columns: [commentable_id], table: public.photos, when: 'commentable_type = ''Photo''' }",
        "      - { columns: [commentable_id], table: public.posts, when: 'commentable_type = ''Post''' }",
        "      - { columns: [object_id], table: public.blog_entry, when: 'content_type_id = 7' }",
    ] {
        assert!(rules.contains(line), "{line:?} missing:\n{rules}");
    }
    // No table for `auth_user`: no reference to it.
    assert!(!rules.contains("auth_user"), "{rules}");

    let target = Pg::get().fresh_name("ext_init_poly_dst");
    let args = sync_args(&source.url, &target.url, "rules.yml", &["--subset", "10%"]);
    anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)]).expect(0);
    let count = |sql: &str| -> i64 { target.value(sql).parse().unwrap() };
    assert!(count("SELECT count(*) FROM comments") > 0);
    for orphans in [
        "SELECT count(*) FROM comments c WHERE commentable_type = 'Post' AND NOT EXISTS (SELECT FROM posts p WHERE p.id = c.commentable_id)",
        "SELECT count(*) FROM comments c WHERE commentable_type = 'Photo' AND NOT EXISTS (SELECT FROM photos p WHERE p.id = c.commentable_id)",
        "SELECT count(*) FROM tagged_item t WHERE NOT EXISTS (SELECT FROM blog_entry e WHERE e.id = t.object_id)",
    ] {
        assert_eq!(count(orphans), 0, "{orphans}");
    }
}
