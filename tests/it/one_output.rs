//! Issue 22: one real value gets one fake value everywhere. Neither a
//! unique constraint, nor `unique: true`, nor the table, nor the command
//! (sync, `--subset`, export then load) changes the value an input gets,
//! so columns faked by the same rule join.

use std::path::Path;

use crate::harness::{anonymize, rules_dir, sync_args, Db, Pg, Run};
use crate::sync::SECRET;

/// Every `fake` kind, and the `hash` and `fpe` rules, by column name.
const RULES: &[(&str, &str)] = &[
    ("first_name", "{ fake: first_name }"),
    ("last_name", "{ fake: last_name }"),
    ("name", "{ fake: name }"),
    ("name_with_title", "{ fake: name_with_title }"),
    ("email", "{ fake: email }"),
    ("email_kept", "{ fake: { kind: email, keep_domain: true } }"),
    ("safe_email", "{ fake: safe_email }"),
    ("username", "{ fake: username }"),
    ("password", "{ fake: password }"),
    ("phone_number", "{ fake: phone_number }"),
    ("cell_number", "{ fake: cell_number }"),
    ("street_address", "{ fake: street_address }"),
    ("secondary_address", "{ fake: secondary_address }"),
    ("building_number", "{ fake: building_number }"),
    ("street_name", "{ fake: street_name }"),
    ("city", "{ fake: city }"),
    ("state", "{ fake: state }"),
    ("state_abbr", "{ fake: state_abbr }"),
    ("zip", "{ fake: zip }"),
    ("postcode", "{ fake: postcode }"),
    ("country", "{ fake: country }"),
    ("country_code", "{ fake: country_code }"),
    ("latitude", "{ fake: latitude }"),
    ("longitude", "{ fake: longitude }"),
    ("time_zone", "{ fake: time_zone }"),
    ("company", "{ fake: company }"),
    ("industry", "{ fake: industry }"),
    ("job_title", "{ fake: job_title }"),
    ("ipv4", "{ fake: ipv4 }"),
    ("ipv6", "{ fake: ipv6 }"),
    ("mac_address", "{ fake: mac_address }"),
    ("url", "{ fake: url }"),
    ("domain", "{ fake: domain }"),
    ("user_agent", "{ fake: user_agent }"),
    ("uuid", "{ fake: uuid }"),
    ("iban", "{ fake: iban }"),
    ("license_plate", "{ fake: license_plate }"),
    ("bic", "{ fake: bic }"),
    ("credit_card", "{ fake: credit_card }"),
    ("currency_code", "{ fake: currency_code }"),
    ("word", "{ fake: word }"),
    ("words", "{ fake: words }"),
    ("sentence", "{ fake: sentence }"),
    ("paragraph", "{ fake: paragraph }"),
    ("date", "{ fake: date }"),
    ("date_of_birth", "{ fake: date_of_birth }"),
    ("hash_long", "{ hash: {} }"),
    ("hash_short", "{ hash: { format: digits, length: 9 } }"),
    ("fpe", "{ fpe: {} }"),
];

/// The rules that may sit on a unique column: there, the first table has
/// a unique constraint and says `unique: true`; the second has neither.
const UNIQUE_CAPABLE: &[&str] = &[
    "email",
    "email_kept",
    "username",
    "phone_number",
    "uuid",
    "hash_long",
    "fpe",
];

const ROWS: usize = 200;

/// Tables `a` and `b` (b.id references a.id) holding the same value in
/// every column of a row, one column per rule.
fn two_tables(test: &str) -> Db {
    let db = Pg::get().db(test);
    let columns = |unique: bool| -> String {
        RULES
            .iter()
            .map(|(c, _)| {
                let u = unique && UNIQUE_CAPABLE.contains(c);
                format!(", {c} text{}", if u { " UNIQUE" } else { "" })
            })
            .collect()
    };
    let values: String = RULES
        .iter()
        .map(|(c, _)| match *c {
            "phone_number" | "cell_number" => {
                ", '+1-555-' || lpad(i::text, 3, '0') || '-4567'".to_string()
            }
            "uuid" => ", md5(i::text)::uuid::text".to_string(),
            _ => ", 'Person.' || i || '@mail' || (i % 7) || '.example'".to_string(),
        })
        .collect();
    db.exec(&format!(
        "CREATE TABLE a (id int PRIMARY KEY{});
         CREATE TABLE b (id int PRIMARY KEY REFERENCES a{});
         INSERT INTO a SELECT i{values} FROM generate_series(1, {ROWS}) i;
         INSERT INTO b SELECT * FROM a;",
        columns(true),
        columns(false),
    ));
    db
}

fn rules() -> String {
    let mut a = String::from("version: 1\ntables:\n  public.a:\n    columns:\n      id: keep\n");
    let mut b = String::from("  public.b:\n    columns:\n      id: keep\n");
    for (c, rule) in RULES {
        if UNIQUE_CAPABLE.contains(c) {
            let flagged = rule.trim_end_matches('}').to_string() + ", unique: true }";
            a.push_str(&format!("      {c}: {flagged}\n"));
        } else {
            a.push_str(&format!("      {c}: {rule}\n"));
        }
        b.push_str(&format!("      {c}: {rule}\n"));
    }
    a + &b
}

/// Columns whose value differs between `a` and `b` on the same row.
fn apart(db: &Db) -> Vec<String> {
    RULES
        .iter()
        .filter(|(c, _)| {
            db.value(&format!(
                "SELECT count(*) FROM a JOIN b USING (id) WHERE a.{c} IS DISTINCT FROM b.{c}"
            )) != "0"
        })
        .map(|(c, _)| c.to_string())
        .collect()
}

fn export_then_load(dir: &Path, source: &Db, target: &Db, extra: &[&str]) {
    let out = dir.join("out");
    let mut args = vec![
        "export",
        "--source",
        &source.url,
        "--rules",
        "rules.yml",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "csv",
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    anonymize(dir, &args, &[("ANONYMIZE_SECRET", SECRET)]).expect(0);
    anonymize(
        dir,
        &["load", out.to_str().unwrap(), "--target", &target.url],
        &[],
    )
    .expect(0);
}

fn sync_run(dir: &Path, source: &Db, target: &Db, extra: &[&str]) -> Run {
    let args = sync_args(&source.url, &target.url, "rules.yml", extra);
    anonymize(dir, &args, &[("ANONYMIZE_SECRET", SECRET)])
}

#[test]
fn every_rule_gives_one_output_across_tables_and_commands() {
    let pg = Pg::get();
    let source = two_tables("one_out_src");
    let dir = rules_dir(&rules());

    let synced = pg.fresh_name("one_out_sync");
    sync_run(dir.path(), &source, &synced, &[]).expect(0);
    assert_eq!(synced.value("SELECT count(*) FROM b"), ROWS.to_string());
    assert_eq!(apart(&synced), Vec::<String>::new(), "sync");
    // The values were replaced.
    assert_eq!(
        synced.value("SELECT count(*) FROM a WHERE email LIKE 'Person.%'"),
        "0"
    );

    let subset = pg.fresh_name("one_out_subset");
    sync_run(dir.path(), &source, &subset, &["--subset", "50%"]).expect(0);
    let kept: usize = subset.value("SELECT count(*) FROM b").parse().unwrap();
    assert!(kept > 0 && kept < ROWS, "{kept}");
    assert_eq!(apart(&subset), Vec::<String>::new(), "--subset");
    // The subset's rows got the values the full sync gave them.
    let same = |db: &Db, c: &str| -> Vec<String> {
        db.column(&format!("SELECT id || ' ' || {c} FROM a ORDER BY id"))
    };
    let full: std::collections::HashSet<String> = same(&synced, "email").into_iter().collect();
    assert!(same(&subset, "email").iter().all(|r| full.contains(r)));

    let loaded = pg.fresh_name("one_out_load");
    export_then_load(dir.path(), &source, &loaded, &[]);
    assert_eq!(apart(&loaded), Vec::<String>::new(), "export");
    for (c, _) in RULES {
        let q = format!("SELECT id || ' ' || coalesce({c}, '') FROM a ORDER BY id");
        assert_eq!(
            synced.column(&q),
            loaded.column(&q),
            "export gives {c} as sync does"
        );
    }
}

/// The issue's example: `users.email` under a unique constraint and
/// `orders.billing_email` without one, both `{ fake: email }`. Before
/// issue 22, 0 of 1,000 rows joined.
#[test]
fn the_issues_users_and_orders_join_in_sync_subset_and_export() {
    let pg = Pg::get();
    let source = pg.db("one_out_issue_src");
    source.exec(
        "CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);
         CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users, billing_email text);
         INSERT INTO users SELECT i, 'customer' || i || '@gmail.com' FROM generate_series(1, 1000) i;
         INSERT INTO orders SELECT i, i, 'customer' || i || '@gmail.com' FROM generate_series(1, 1000) i;",
    );
    let dir = rules_dir(
        "version: 1
tables:
  public.users:
    columns: { id: keep, email: { fake: email } }
  public.orders:
    columns: { id: keep, user_id: keep, billing_email: { fake: email } }
",
    );
    let joined = "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE o.billing_email = u.email";
    let realistic = r"SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id
        WHERE u.email ~ '^[a-z]+\.[a-z]+\.[0-9a-z]+@example\.(com|net|org)$'
          AND o.billing_email ~ '^[a-z]+\.[a-z]+\.[0-9a-z]+@example\.(com|net|org)$'";

    let synced = pg.fresh_name("one_out_issue_sync");
    sync_run(dir.path(), &source, &synced, &[]).expect(0);
    assert_eq!(synced.value(joined), "1000");
    assert_eq!(synced.value(realistic), "1000");

    let loaded = pg.fresh_name("one_out_issue_load");
    export_then_load(dir.path(), &source, &loaded, &[]);
    assert_eq!(loaded.value(joined), "1000");
    assert_eq!(loaded.value(realistic), "1000");

    let subset = pg.fresh_name("one_out_issue_subset");
    sync_run(dir.path(), &source, &subset, &["--subset", "30%"]).expect(0);
    let orders = subset.value("SELECT count(*) FROM orders");
    assert_ne!(orders, "0");
    assert_eq!(subset.value(joined), orders);
    assert_eq!(subset.value(realistic), orders);
}
