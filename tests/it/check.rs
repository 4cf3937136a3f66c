//! `anonymize check`: the CI gate after each migration. Every gap is listed
//! in one run, as text and as JSON, with exit 3; a clean schema exits 0.

use crate::harness::anonymize;
use crate::sync::app_source;

/// Rules covering every column of `tests/fixtures/app.sql` with `keep`,
/// `null` and `set` only (no keyed transform, no secret needed).
const APP_RULES: &str = "version: 1
tables:
  public.customers:
    columns:
      id: keep
      email: keep
      first_name: null
      last_name: null
      phone: null
      ssn: null
      notes: null
      created_at: keep
  public.orders:
    columns: { id: keep, customer_id: keep, total: keep, status: keep }
  public.audit:
    columns: { id: keep, what: keep }
  public.events:
    columns: { id: keep, at: keep, payload: { set: redacted } }
  public.line_items:
    columns: { id: keep, qty: keep, price: keep }
  '\"Billing Dept\".\"Invoice Lines\"':
    columns:
      '\"Line ID\"': keep
      Customer Email: null
      Amount: keep
  public.notes_raw:
    columns: { id: keep, body: keep, tags: keep }
";

fn check(dir: &std::path::Path, url: &str, json: bool) -> crate::harness::Run {
    let mut args = vec!["check", "--source", url, "--rules", "rules.yml"];
    if json {
        args.extend(["--format", "json"]);
    }
    anonymize(dir, &args, &[])
}

#[test]
fn check_reports_a_column_added_after_the_rules_were_written() {
    let source = app_source("check_added_src");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), APP_RULES).unwrap();
    let run = check(dir.path(), &source.url, false).expect(0);
    assert_eq!(
        run.stdout,
        "ok: 7 table(s), 26 column(s); every column has a rule that fits it\n"
    );

    // Last Tuesday's migration.
    source.exec("ALTER TABLE customers ADD COLUMN passport_no text");
    let run = check(dir.path(), &source.url, false).expect(3);
    assert_eq!(
        run.stdout,
        "unclassified columns (add a rule for each; `keep` for data that is not personal):\n  \
         rules.yml:3:3: public.customers.passport_no (text)\n\
         1 gap(s): 1 unclassified, 0 stale, 0 mismatch\n"
    );
    assert!(
        run.stderr
            .contains("1 gap(s) between the rules and the source schema"),
        "{}",
        run.stderr
    );

    let run = check(dir.path(), &source.url, true).expect(3);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["gaps"],
        serde_json::json!([{
            "kind": "unclassified",
            "table": "public.customers",
            "column": "passport_no",
            "type": "text",
            "location": "rules.yml:3:3",
            "message": "column public.customers.passport_no (text) has no rule",
            "hint": "add a rule under tables.public.customers.columns (`keep` for data that is not personal)"
        }])
    );
}

#[test]
fn check_lists_unclassified_stale_and_mismatched_rules_together() {
    let source = app_source("check_all_src");
    source.exec(
        "ALTER TABLE customers DROP COLUMN notes; \
         ALTER TABLE orders ADD COLUMN coupon text, ADD COLUMN gift_message text; \
         CREATE TABLE newsletter (email text)",
    );
    let rules = APP_RULES
        .replace("      notes: null\n", "      notes: null\n      fax: keep\n")
        .replace(
            "  public.audit:\n    columns: { id: keep, what: keep }",
            "  public.audit:\n    columns: { id: keep, what: null }\n  public.old_table:\n    columns: { id: keep }",
        );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();

    let run = check(dir.path(), &source.url, true).expect(3);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let gaps: Vec<(String, String, String)> = report["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["kind"].as_str().unwrap().to_string(),
                format!(
                    "{}.{}",
                    g["table"].as_str().unwrap(),
                    g["column"].as_str().unwrap_or("*")
                ),
                g["location"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("stale", "public.customers.notes", "rules.yml:11:7"),
        ("stale", "public.customers.fax", "rules.yml:12:7"),
        ("stale", "public.old_table.*", "rules.yml:18:3"),
        ("unclassified", "public.newsletter.email", "rules.yml"),
        ("unclassified", "public.orders.coupon", "rules.yml:14:3"),
        (
            "unclassified",
            "public.orders.gift_message",
            "rules.yml:14:3",
        ),
        ("mismatch", "public.audit.what", "rules.yml:17:26"),
    ];
    let mut got = gaps.clone();
    got.sort();
    let mut want: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want, "{}", run.stdout);

    let text = check(dir.path(), &source.url, false).expect(3).stdout;
    assert!(
        text.ends_with("7 gap(s): 3 unclassified, 3 stale, 1 mismatch\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "rules.yml:17:26: column public.audit.what is NOT NULL, so `null` cannot be loaded"
        ),
        "{text}"
    );
}

#[test]
fn check_shows_columns_kept_by_unknown_columns_keep_without_failing() {
    let source = app_source("check_keep_src");
    source.exec("ALTER TABLE customers ADD COLUMN nickname text");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        APP_RULES.replace("version: 1\n", "version: 1\nunknown_columns: keep\n"),
    )
    .unwrap();
    let run = check(dir.path(), &source.url, false).expect(0);
    assert!(
        run.stdout.starts_with(
            "copied unchanged by `unknown_columns: keep` (1): public.customers.nickname\nok:"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn check_warns_about_hashing_a_tiny_input_domain() {
    let source = app_source("check_weak_src");
    source.exec(
        "ALTER TABLE customers ADD COLUMN pin text, ADD COLUMN vip text; \
         UPDATE customers SET pin = lpad((id * 37 % 10000)::text, 4, '0'), vip = CASE WHEN id % 2 = 0 THEN 'yes' ELSE 'no' END; \
         ANALYZE customers",
    );
    let dir = tempfile::tempdir().unwrap();
    let rules = APP_RULES
        .replace("      ssn: null\n", "      ssn: { hash: { format: digits, length: 9 } }\n      pin: { hash: { format: digits, length: 4 } }\n      vip: { hash: {} }\n");
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    // Warnings do not fail the check: the rules are complete.
    let run = check(dir.path(), &source.url, false).expect(0);
    assert!(
        run.stdout.contains(
            "warning: public.customers.pin: `hash` of a column with about 60 distinct values"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "warning: public.customers.vip: `hash` of a column with about 2 distinct values"
        ),
        "{}",
        run.stdout
    );
    let run = check(dir.path(), &source.url, true).expect(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let flagged: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["column"].as_str().unwrap())
        .collect();
    // ssn has 60 distinct values too in this small fixture, so it is flagged as well.
    assert!(
        flagged.contains(&"pin") && flagged.contains(&"vip"),
        "{flagged:?}"
    );
}

/// Issue 9: `check` runs the same plan as `sync`, subset included, so a
/// `references:` that `sync` refuses is a gap for `check` (exit 3) and the
/// same error for `sync` and `verify` (exit 2), at the same line.
#[test]
fn a_bad_subset_reference_fails_check_as_it_fails_sync() {
    let source = app_source("check_refs_src");
    let rules = APP_RULES.replace(
        "    columns: { id: keep, customer_id: keep, total: keep, status: keep }\n",
        "    columns: { id: keep, customer_id: keep, total: keep, status: keep }\n    \
         references:\n      - { columns: [customer_id], table: public.customer }\n",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let problem = "rules.yml:15:5: table public.orders: references entry 1: \
                   table public.customer is not in the source database";

    let run = check(dir.path(), &source.url, false).expect(3);
    assert_eq!(
        run.stdout,
        format!(
            "rules that do not fit their column:\n  {problem}\n    \
             hint: did you mean `public.customers`?\n\
             1 gap(s): 0 unclassified, 0 stale, 1 mismatch\n"
        )
    );
    let report: serde_json::Value =
        serde_json::from_str(&check(dir.path(), &source.url, true).expect(3).stdout).unwrap();
    assert_eq!(report["gaps"][0]["kind"], "mismatch");
    assert_eq!(report["gaps"][0]["location"], "rules.yml:15:5");

    let args = ["--source", &source.url, "--rules", "rules.yml"];
    let sync = anonymize(dir.path(), &[&args[..], &["--dry-run"]].concat(), &[]).expect(2);
    assert!(
        sync.stderr.contains(&format!(
            "{problem}\n  hint: did you mean `public.customers`?"
        )),
        "{}",
        sync.stderr
    );
    let verify = anonymize(
        dir.path(),
        &[&["verify"], &args[..], &["--target", &source.url]].concat(),
        &[],
    )
    .expect(2);
    assert!(verify.stderr.contains(problem), "{}", verify.stderr);
}

/// Issue 22: `check` samples json documents and reports each key no path
/// names as a gap (exit 3), as it reports a column without a rule; the
/// sync with the same rules stops on it, and `unlisted: keep` accepts it.
#[test]
fn check_reports_json_keys_no_path_names() {
    let db = crate::harness::Pg::get().db("check_json_keys");
    db.exec(
        "CREATE TABLE t (id int PRIMARY KEY, doc jsonb);
         INSERT INTO t VALUES (1, '{\"name\": \"Zoë\", \"contacts\": [{\"email\": \"z@x.org\", \"phone\": \"555\"}]}'),
                              (2, '{\"name\": \"Ann\", \"ssn\": \"123-45-6789\"}');",
    );
    let rules = "version: 1\ntables:\n  public.t:\n    columns:\n      id: keep\n      doc: { json: { paths: { name: { fake: name }, \"contacts[*].email\": { fake: email } } } }\n";
    let dir = crate::harness::rules_dir(rules);
    let run = check(dir.path(), &db.url, false).expect(3);
    assert!(
        run.stdout.contains("json keys no path names")
            && run.stdout.contains("`contacts[*][key 2]`")
            && run.stdout.contains("`[key 1]`")
            && run.stdout.contains("2 unlisted json key(s)"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("123-45") && !run.stdout.contains("555"),
        "{}",
        run.stdout
    );
    let target = crate::harness::Pg::get().fresh_name("check_json_keys_dst");
    let args = crate::harness::sync_args(&db.url, &target.url, "rules.yml", &[]);
    let sync = anonymize(
        dir.path(),
        &args,
        &[("ANONYMIZE_SECRET", crate::sync::SECRET)],
    )
    .expect(1);
    assert!(
        sync.stderr.contains("is named by no path of the rule"),
        "{}",
        sync.stderr
    );
    let kept =
        crate::harness::rules_dir(&rules.replace("json: { paths", "json: { unlisted: keep, paths"));
    check(kept.path(), &db.url, false).expect(0);
}

/// Issue 22: a keyed permutation over fewer than 10^6 values is refused by
/// `check` and `sync` (exit 2 for sync), from the column's type or from
/// the shortest sampled value, unless the rule says `allow_small_domain`.
#[test]
fn small_domains_are_refused_unless_allowed() {
    let db = crate::harness::Pg::get().db("check_small_domain");
    db.exec(
        "CREATE TABLE t (id int PRIMARY KEY, pin varchar(4), code text);
         INSERT INTO t SELECT i, lpad(i::text, 4, '0'), i::text FROM generate_series(1, 50) i;",
    );
    let rules = "version: 1\ntables:\n  public.t:\n    columns:\n      id: keep\n      pin: { fpe: {} }\n      code: { fpe: {} }\n";
    let dir = crate::harness::rules_dir(rules);
    let run = check(dir.path(), &db.url, false).expect(3);
    assert!(
        run.stdout
            .contains("public.t.pin: `fpe` would permute values of 4 character(s)")
            && run
                .stdout
                .contains("public.t.code: `fpe` would permute sampled values of 1 character(s)")
            && run.stdout.contains("allow_small_domain: true"),
        "{}",
        run.stdout
    );
    let target = crate::harness::Pg::get().fresh_name("check_small_domain_dst");
    let args = crate::harness::sync_args(&db.url, &target.url, "rules.yml", &[]);
    let sync = anonymize(
        dir.path(),
        &args,
        &[("ANONYMIZE_SECRET", crate::sync::SECRET)],
    )
    .expect(2);
    assert!(
        sync.stderr.contains("fewer than the 1,000,000"),
        "{}",
        sync.stderr
    );
    let allowed = crate::harness::rules_dir(
        &rules.replace("{ fpe: {} }", "{ fpe: {}, allow_small_domain: true }"),
    );
    check(allowed.path(), &db.url, false).expect(0);
    let args = crate::harness::sync_args(&db.url, &target.url, "rules.yml", &[]);
    anonymize(
        allowed.path(),
        &args,
        &[("ANONYMIZE_SECRET", crate::sync::SECRET)],
    )
    .expect(0);
}
