//! `anonymize verify` and `sync --verify`: clean after a correct sync; a
//! personal column left as `keep` is named, exit 3; with `--verify` a
//! leaking rule never goes live.

use std::path::Path;

use crate::harness::{anonymize, sync_args, verify_args, Db, Pg, Run};
use crate::init::personal_source;
use crate::sync::SECRET;

/// Rules for `tests/fixtures/personal.sql` that need no secret: every
/// personal column emptied or set to a constant.
const GOOD: &str = "version: 1
tables:
  public.customers:
    columns:
      id: keep
      email: null
      first_name: null
      last_name: null
      full_name: null
      phone: null
      street: null
      city: { set: Springfield1 }
      zip: null
      birth_date: null
      ssn: null
      iban: null
      card_number: null
      last_ip: null
      password_hash: null
      contact: null
      preferences: { set: '{}' }
      bank_ref: null
      payment_ref: null
      remote: null
      email_verified: keep
      status: keep
      created_at: keep
  public.orders:
    columns:
      id: keep
      customer_id: keep
      product_id: keep
      note: { regex: { pattern: '[+]1 [0-9 ]+[0-9]', with: { fake: phone_number } } }
  public.products:
    columns: { id: keep, name: keep, price: keep }
";

/// The same rules with the email column left as it is.
fn leaky() -> String {
    GOOD.replace("      email: null\n", "      email: keep\n")
}

/// The personal fixture with a nullable email, so that `GOOD` can empty it.
fn source(test: &str) -> Db {
    let db = personal_source(test);
    db.exec("ALTER TABLE customers ALTER COLUMN email DROP NOT NULL");
    db
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn sync(dir: &Path, source: &Db, target: &Db, rules: &str, extra: &[&str]) -> Run {
    let args = sync_args(&source.url, &target.url, rules, extra);
    anonymize(dir, &args, &[("ANONYMIZE_SECRET", SECRET)])
}

fn verify(dir: &Path, source: &Db, target: &Db, rules: &str, extra: &[&str]) -> Run {
    anonymize(
        dir,
        &verify_args(&source.url, &target.url, rules, extra),
        &[],
    )
}

#[test]
fn verify_is_clean_after_a_correct_sync_and_names_a_column_left_as_keep() {
    let pg = Pg::get();
    let source = source("verify_src");
    let target = pg.fresh_name("verify_dst");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.yml", GOOD);
    write(dir.path(), "leaky.yml", &leaky());

    sync(dir.path(), &source, &target, "good.yml", &[]).expect(0);
    let run = verify(dir.path(), &source, &target, "good.yml", &[]).expect(0);
    // The phone numbers in the note are the rule's fakes, not the
    // source's: no finding. The constant city matches real ones by
    // design, shown as information. Every column with values is listed.
    assert!(
        run.stdout.starts_with(
            "info     public.customers.city (set(\"Springfield1\")): the rule writes a constant, \
             which the source column also holds (1 of 1 sampled value(s))\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "\nok       public.orders.note (regex(\"[+]1 [0-9 ]+[0-9]\" with fake(phone_number))): \
             no personal data in 9 sampled value(s)\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with(
            "ok: 0 leak(s), 0 accepted in 22 column(s) checked (up to 10000 values each)\n"
        ),
        "{}",
        run.stdout
    );

    // A rule changed to `keep` on the email column: the sync copies the
    // real addresses, and verify names the column, with either rules file.
    sync(dir.path(), &source, &target, "leaky.yml", &[]).expect(0);
    let run = verify(dir.path(), &source, &target, "leaky.yml", &[]).expect(3);
    assert!(
        run.stdout.starts_with(
            "leak     public.customers.email (keep): the rule is `keep`, but 80 of 80 sampled \
             values are email addresses; give the column a rule that replaces them\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("verify found 1 leaking column(s)"),
        "{}",
        run.stderr
    );
    let run = verify(
        dir.path(),
        &source,
        &target,
        "good.yml",
        &["--format", "json", "--sample", "50"],
    )
    .expect(3);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["failures"], 1);
    assert_eq!(report["sample"], 50);
    let leaks: Vec<&serde_json::Value> = report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "leak")
        .collect();
    assert_eq!(leaks.len(), 1);
    assert_eq!(leaks[0]["table"], "public.customers");
    assert_eq!(leaks[0]["column"], "email");
    assert_eq!(
        leaks[0]["sampled"], 50,
        "--sample caps the values per column"
    );
    assert_eq!(leaks[0]["found_in_source"], 50);
    assert!(!run.stdout.contains("realmail"), "never a value");
}

#[test]
fn sync_verify_keeps_a_leaking_load_from_going_live() {
    let pg = Pg::get();
    let source = source("syncverify_src");
    let target = pg.fresh_name("syncverify_dst");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.yml", GOOD);
    write(dir.path(), "leaky.yml", &leaky());
    sync(dir.path(), &source, &target, "good.yml", &["--verify"]).expect(0);
    let before = target.value("SELECT count(*) FROM customers WHERE email IS NOT NULL");
    assert_eq!(before, "0");

    let run = sync(
        dir.path(),
        &source,
        &target,
        "leaky.yml",
        &["--verify", "--report", "report.json"],
    )
    .expect(3);
    assert!(
        run.stderr
            .contains("verify found 1 leaking column(s); the target was left as it was"),
        "{}",
        run.stderr
    );
    assert_eq!(
        target.value("SELECT count(*) FROM customers WHERE email IS NOT NULL"),
        "0",
        "the leaking load went live"
    );
    assert!(!pg.exists(&format!("{}__next", target.name)));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "leak_found");
    assert_eq!(report["exit_code"], 3);
    assert_eq!(report["verify"]["failures"], 1);

    // --schema existing verifies inside the load transaction: the leak is
    // rolled back with it.
    let run = sync(
        dir.path(),
        &source,
        &target,
        "leaky.yml",
        &["--verify", "--into", "existing"],
    )
    .expect(3);
    assert!(run.stderr.contains("leaking column"), "{}", run.stderr);
    assert_eq!(
        target.value("SELECT count(*) FROM customers WHERE email IS NOT NULL"),
        "0"
    );
}

/// Hash and fake outputs never meet real values, so verify is clean after
/// a sync with them.
#[test]
fn verify_is_clean_after_fake_and_hash_rules() {
    let pg = Pg::get();
    let source = personal_source("verify_fake_src");
    let target = pg.fresh_name("verify_fake_dst");
    let dir = tempfile::tempdir().unwrap();
    let rules = GOOD
        .replace("email: null", "email: { fake: email, unique: true }")
        .replace("phone: null", "phone: { fake: phone_number }")
        .replace("ssn: null", "ssn: { hash: { format: digits, length: 9 } }")
        .replace(
            "password_hash: null",
            "password_hash: { hash: { format: hex } }",
        );
    write(dir.path(), "rules.yml", &rules);
    sync(dir.path(), &source, &target, "rules.yml", &[]).expect(0);
    let run = verify(
        dir.path(),
        &source,
        &target,
        "rules.yml",
        &["--format", "json"],
    )
    .expect(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["failures"], 0);
    for column in ["email", "phone", "ssn", "password_hash"] {
        let c = report["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["column"] == column)
            .unwrap();
        assert_eq!(c["status"], "ok", "{c}");
        assert_eq!(c["found_in_source"], 0, "{c}");
    }
}

/// Syncs `rules` from a fresh source built by `sql`, then runs `verify
/// --format json` with the same rules; returns the verify run.
fn sync_and_verify(test: &str, sql: &str, rules: &str) -> Run {
    let pg = Pg::get();
    let source = pg.db(&format!("{test}_src"));
    source.exec(sql);
    let target = pg.fresh_name(&format!("{test}_dst"));
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rules.yml", rules);
    sync(dir.path(), &source, &target, "rules.yml", &[]).expect(0);
    verify(
        dir.path(),
        &source,
        &target,
        "rules.yml",
        &["--format", "json"],
    )
}

/// The report's entry for one column.
fn column<'r>(report: &'r serde_json::Value, name: &str) -> &'r serde_json::Value {
    report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == name)
        .unwrap_or_else(|| panic!("no column {name} in {report}"))
}

/// Issue 21 §2: a fake cut to the column's `varchar(3)` draws from 1,000
/// values, all of which the source holds: every match is chance, not a
/// leak. The expected rate follows the outputs as written; the report
/// says per column what was sampled, expected and found.
#[test]
fn a_fake_cut_to_its_column_is_judged_by_its_real_output_space() {
    let run = sync_and_verify(
        "verify_zip3",
        "CREATE TABLE addr (id int PRIMARY KEY, zip varchar(3), code text);
         INSERT INTO addr SELECT i, lpad((i % 1000)::text, 3, '0'), 'c' || i
           FROM generate_series(1, 3000) i;",
        "version: 1\ntables:\n  public.addr:\n    columns:\n      id: keep\n      zip: { fake: zip }\n      code: { hash: { format: digits, length: 4 } }\n",
    )
    .expect(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["failures"], 0, "{report}");
    let zip = column(&report, "zip");
    assert_eq!(zip["status"], "info", "{zip}");
    assert_eq!(zip["found_in_source"], zip["sampled"], "{zip}");
    let expected = zip["expected_rate"].as_f64().unwrap();
    assert!(expected > 0.95, "expected by chance: {expected}");
    // Every column says what was sampled, expected and found.
    let code = column(&report, "code");
    assert_eq!(code["status"], "ok", "{code}");
    assert_eq!(code["found_in_source"], 0, "{code}");
    assert!(code["sampled"].as_u64().unwrap() > 900, "{code}");
    assert!(code["expected_rate"].is_number(), "{code}");
}

/// A table of notes: 300 rows, each mentioning a customer's email; every
/// third also a real phone number, every fifth a support line the shop
/// publishes. Customers' emails and phones are masked columns.
const NOTES: &str = "
    CREATE TABLE customers (id int PRIMARY KEY, email text, phone text);
    INSERT INTO customers SELECT i, 'person' || i || '@realmail.com',
        '+1 312 ' || lpad((200 + i)::text, 3, '0') || ' ' || lpad((i * 37 % 10000)::text, 4, '0')
      FROM generate_series(1, 300) i;
    CREATE TABLE notes (id int PRIMARY KEY, body text, ref text, card text);
    INSERT INTO notes SELECT i,
        'wrote to person' || i || '@realmail.com about order ' || i
          || CASE WHEN i % 3 = 0 THEN ', call back on +1 312 ' || lpad((200 + i)::text, 3, '0')
                                        || ' ' || lpad((i * 37 % 10000)::text, 4, '0')
                  ELSE '' END
          || CASE WHEN i % 5 = 0 THEN ', or our line +1 800 123 4567' ELSE '' END,
        'shipment ' || i,
        'paid by card'
      FROM generate_series(1, 300) i;
";

const EMAIL_PATTERN: &str = "'[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}'";

/// Issue 21 §2: a `regex` rule that fakes the emails in a note writes the
/// tool's own addresses (at example.com/.net/.org, or under `.invalid`
/// for the unique form): never a finding, exit 0.
#[test]
fn the_tools_own_fakes_are_never_findings() {
    // Notes with emails only.
    let sql = NOTES
        .replace("WHEN i % 3 = 0", "WHEN false")
        .replace("WHEN i % 5 = 0", "WHEN false");
    for fake in ["{ fake: email }", "{ fake: email, unique: true }"] {
        let rules = format!(
            "version: 1\ntables:\n  public.customers:\n    columns: {{ id: keep, email: {fake}, phone: null }}\n  public.notes:\n    columns:\n      id: keep\n      ref: keep\n      card: keep\n      body: {{ regex: {{ pattern: {EMAIL_PATTERN}, with: {fake} }} }}\n"
        );
        let run = sync_and_verify("verify_ownfakes", &sql, &rules).expect(0);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(report["failures"], 0, "{fake}: {report}");
        assert!(
            report.get("warnings").is_none(),
            "no more warnings: {report}"
        );
        let body = column(&report, "body");
        assert_eq!(body["status"], "ok", "{fake}: {body}");
        assert_eq!(body["text"]["emails"], 0, "{body}");
        assert_eq!(body["text"]["reserved"], body["sampled"], "{body}");
    }
}

/// Issue 21 §2: the regex scrubs the emails of a note and leaves real
/// phone numbers: a leak, exit 3, with the counts per kind. A kept column
/// holding values of a masked column and one holding card numbers leak
/// too. A known number listed under `allow:` is not a finding.
#[test]
fn real_personal_data_left_in_text_is_a_leak() {
    let sql = format!(
        "{NOTES}
        UPDATE notes SET ref = c.phone FROM customers c WHERE c.id = notes.id AND notes.id % 4 = 0;
        UPDATE notes SET card = 'paid with 4111 1111 1111 1111' WHERE id % 7 = 0;"
    );
    let rules = format!(
        "version: 1\ntables:\n  public.customers:\n    columns: {{ id: keep, email: {{ fake: email }}, phone: {{ fake: phone_number }} }}\n  public.notes:\n    columns:\n      id: keep\n      ref: keep\n      card: keep\n      body: {{ regex: {{ pattern: {EMAIL_PATTERN}, with: {{ fake: email }} }}, allow: ['\\+1 800 123 4567'] }}\n"
    );
    let run = sync_and_verify("verify_textleak", &sql, &rules).expect(3);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["failures"], 3, "{report}");
    let body = column(&report, "body");
    assert_eq!(body["status"], "leak", "{body}");
    assert_eq!(body["text"]["phones"], 100, "{body}");
    assert_eq!(body["text"]["emails"], 0, "{body}");
    assert_eq!(body["text"]["masked_values"], 100, "{body}");
    assert_eq!(body["text"]["masked_columns"][0], "public.customers.phone");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("100 hold phone numbers"), "{message}");
    let r = column(&report, "ref");
    assert_eq!(r["status"], "leak", "{r}");
    assert_eq!(r["text"]["masked_values"], 75, "{r}");
    let card = column(&report, "card");
    assert_eq!(card["status"], "leak", "{card}");
    assert_eq!(card["text"]["cards"], 1, "one distinct value: {card}");
    assert!(!run.stdout.contains("realmail") && !run.stdout.contains("4111"));

    // Without the allowance, the published line is a finding too.
    let rules = rules.replace(", allow: ['\\+1 800 123 4567']", "");
    let run = sync_and_verify("verify_textleak2", &sql, &rules).expect(3);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let body = column(&report, "body");
    assert!(body["text"]["phones"].as_u64().unwrap() > 100, "{body}");
}
