//! Bad input gets a clear error, the right exit code, and loses nothing.

use crate::harness::{anonymize, Pg};
use crate::sync::{app_source, fixtures, sync, sync_with_edited_rules, SECRET};

#[test]
fn a_rules_file_missing_columns_exits_2_listing_them_and_writes_nothing() {
    let pg = Pg::get();
    let source = app_source("missing_src");
    source.exec("ALTER TABLE customers ADD COLUMN passport_no text, ADD COLUMN tax_id text");
    let target = pg.fresh_name("missing_dst");
    let run = sync(&source, &target, "app.yml", SECRET, &[]).expect(2);
    assert!(run.stderr.contains("passport_no (text)"), "{}", run.stderr);
    assert!(run.stderr.contains("tax_id (text)"), "{}", run.stderr);
    assert!(
        run.stderr.contains("app.yml:3:3"),
        "names the table's rule position: {}",
        run.stderr
    );
    assert!(!pg.exists(&target.name), "nothing was created");
    assert!(!pg.exists(&format!("{}__next", target.name)));
}

#[test]
fn bad_yaml_exits_2_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "version: 1\ntables:\n  public.customers:\n    columns: { id: keep\n",
    )
    .unwrap();
    let run = anonymize(
        dir.path(),
        &[
            "--source",
            "postgresql://u@127.0.0.1:1/x",
            "--target",
            "postgresql://u@127.0.0.1:1/y",
            "--rules",
            "bad.yml",
        ],
        &[],
    )
    .expect(2);
    let first = run
        .stderr
        .lines()
        .find(|l| l.contains("bad.yml:"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    let pos: Vec<&str> = first
        .split("bad.yml:")
        .nth(1)
        .unwrap()
        .splitn(3, ':')
        .collect();
    assert!(
        pos[0].parse::<u32>().is_ok() && pos[1].parse::<u32>().is_ok(),
        "line:column in {first}"
    );
}

#[test]
fn an_unknown_transform_gets_a_suggestion() {
    let source = app_source("typo_src");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixtures().join("app.yml"))
        .unwrap()
        .replace("{ set: redacted }", "{ st: redacted }");
    std::fs::write(dir.path().join("r.yml"), text).unwrap();
    let run = anonymize(
        dir.path(),
        &["--source", &source.url, "--dry-run", "--rules", "r.yml"],
        &[("ANONYMIZE_SECRET", SECRET)],
    )
    .expect(2);
    assert!(run.stderr.contains("r.yml:18:"), "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown transform `st`") && run.stderr.contains("did you mean `set`"),
        "{}",
        run.stderr
    );
}

#[test]
fn target_equal_to_source_is_refused() {
    let source = app_source("same_src");
    let before = source.value("SELECT md5(string_agg(email, ',' ORDER BY id)) FROM customers");
    // The same database, spelled with localhost instead of 127.0.0.1.
    let alias = source.url.replace("127.0.0.1", "localhost");
    let run = sync(
        &source,
        &crate::harness::Db {
            name: source.name.clone(),
            url: alias,
        },
        "app.yml",
        SECRET,
        &[],
    )
    .expect(2);
    assert!(
        run.stderr.contains("the target is the source database"),
        "{}",
        run.stderr
    );
    assert_eq!(
        before,
        source.value("SELECT md5(string_agg(email, ',' ORDER BY id)) FROM customers")
    );
}

#[test]
fn missing_rules_never_copy_raw_data() {
    let pg = Pg::get();
    let source = app_source("norules_src");
    let target = pg.fresh_name("norules_dst");
    let dir = tempfile::tempdir().unwrap();
    let run = anonymize(
        dir.path(),
        &["--source", &source.url, "--target", &target.url],
        &[],
    )
    .expect(2);
    assert!(run.stderr.contains("rules not found"), "{}", run.stderr);
    assert!(!pg.exists(&target.name));
}

#[test]
fn a_foreign_target_is_not_overwritten_without_force() {
    let pg = Pg::get();
    let source = app_source("foreign_src");
    let target = pg.db("foreign_dst");
    target.exec("CREATE TABLE precious (id int); INSERT INTO precious VALUES (42)");
    let run = sync(&source, &target, "app.yml", SECRET, &[]).expect(2);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(target.value("SELECT id FROM precious"), "42");
    sync(&source, &target, "app.yml", SECRET, &["--force"]).expect(0);
    assert_eq!(target.value("SELECT count(*) FROM customers"), "60");
}

#[test]
fn no_secret_or_password_is_printed() {
    let pg = Pg::get();
    let source = app_source("secret_src");
    // A role whose password the server really checks: the run connects
    // with it (so the URL is used, not ignored), and the text it prints
    // names the source (the plan's header), where a password could slip.
    let role = format!("pw_reader_{}", std::process::id());
    pg.db_admin().exec(&format!(
        "CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'hunter2pw'"
    ));
    let url = with_credentials(&source.url, &role, "hunter2pw");
    let target = pg.fresh_name("secret_dst");
    let target_url = with_credentials(&target.url, &role, "hunter2pw");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let run = anonymize(
        &fixtures(),
        &[
            "--source",
            &url,
            "--target",
            &target_url,
            "--rules",
            "app.yml",
            "--no-progress",
            "--log-format",
            "json",
            "--report",
            report.to_str().unwrap(),
        ],
        &[
            (
                "ANONYMIZE_SECRET",
                "sup3r-s3cret-value-that-is-32-bytes-long",
            ),
            ("ANONYMIZE_LOG", "debug"),
        ],
    )
    .expect(0);
    let all = format!(
        "{}{}{}",
        run.stdout,
        run.stderr,
        std::fs::read_to_string(&report).unwrap()
    );
    // The report names both databases with their user: where a password
    // in the URL would show if it were not removed.
    assert!(
        all.contains(&format!("postgresql://{role}@")),
        "the run names its databases: {all}"
    );
    assert!(
        !all.contains("hunter2pw") && !all.contains("sup3r-s3cret-value-that-is-32-bytes-long"),
        "{all}"
    );
    assert_eq!(target.value("SELECT count(*) FROM customers"), "60");
}

/// `url` with its user and password replaced.
fn with_credentials(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgresql:// URL");
    let (_, host) = rest.split_once('@').expect("a URL with user@host");
    format!("{scheme}://{user}:{password}@{host}")
}

#[test]
fn a_constant_that_does_not_fit_its_column_fails_at_plan_time() {
    let pg = Pg::get();
    let source = app_source("const_src");
    let target = pg.fresh_name("const_dst");
    let (dir, run) = sync_with_edited_rules(
        &source,
        &target,
        "app.yml",
        &[
            ("qty: keep", "qty: { set: lots }"),
            ("status: keep", "status: { set: shipped }"),
        ],
    );
    let run = run.expect(2);
    assert!(
        run.stderr.contains(
            "column public.line_items.qty: the constant of `set(\"lots\")` is not a valid integer"
        ),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("orders.status"),
        "a valid constant is not reported: {}",
        run.stderr
    );
    assert!(!pg.exists(&target.name) && !pg.exists(&format!("{}__next", target.name)));
    let run = anonymize(
        dir.path(),
        &["check", "--source", &source.url, "--rules", "rules.yml"],
        &[],
    )
    .expect(3);
    assert!(
        run.stdout.contains("is not a valid integer"),
        "{}",
        run.stdout
    );
}
