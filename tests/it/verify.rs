//! `anonymize verify` and `sync --verify`: clean after a correct sync; a
//! personal column left as `keep` is named, exit 3; with `--verify` a
//! leaking rule never goes live.

use std::path::Path;

use crate::harness::{anonymize, sync_args, Db, Pg, Run};
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
    columns: { id: keep, customer_id: keep, product_id: keep, note: keep }
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
    let mut args = vec![
        "verify",
        "--source",
        &source.url,
        "--target",
        &target.url,
        "--rules",
        rules,
    ];
    args.extend_from_slice(extra);
    anonymize(dir, &args, &[])
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
    // The free-text note mentioning phone numbers is a warning, not a leak;
    // the constant city matches real ones by design, shown as information.
    assert_eq!(
        run.stdout,
        "warning  public.orders.note (keep): the rule is `keep`, and 8 of 9 sampled values \
         contain an email address, a phone number or a card number\n\
         info     public.customers.city (set(\"Springfield1\")): the rule writes a constant, \
         which the source column also holds (1 of 1 sampled value(s))\n\
         ok: 0 leak(s), 1 warning(s), 0 accepted in 22 column(s) checked (up to 10000 values each)\n"
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
