//! Privacy at the edges (issue 10): the secret's length, no row value in
//! any message, panics that end a run cleanly, logs without parameters,
//! a `verify` judged by outcome, fakes that reach no one, and nothing in
//! staging that points back at production.

use crate::harness::{anonymize, rules_dir, sync_args, verify_args, Db, Pg, Run};
use crate::sync::SECRET;

/// `anonymize sync` of `source` into `target` with rules `rules.yml` in `dir`.
fn run_sync(dir: &tempfile::TempDir, source: &Db, target: &Db, extra: &[&str]) -> Run {
    let args = sync_args(&source.url, &target.url, "rules.yml", extra);
    anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)])
}

// ---------------------------------------------------------------- secret

#[test]
fn a_short_secret_is_refused_with_how_to_make_one() {
    let pg = Pg::get();
    let source = pg.db("short_secret_src");
    source
        .exec("CREATE TABLE t (id int PRIMARY KEY, email text); INSERT INTO t VALUES (1, 'a@b.c')");
    let target = pg.fresh_name("short_secret_dst");
    let dir = rules_dir(
        "version: 1\ntables:\n  public.t:\n    columns: { id: keep, email: { fake: email } }\n",
    );
    // The bare form: `sync` is the default command.
    let args = [
        "--source",
        &source.url,
        "--target",
        &target.url,
        "--rules",
        "rules.yml",
        "--no-progress",
    ];
    let secret = "x".repeat(31);
    let run = anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", &secret)]).expect(2);
    assert!(run.stderr.contains("at least 32 bytes"), "{}", run.stderr);
    assert!(
        run.stderr.contains("openssl rand -base64 48"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains(&secret),
        "never the secret: {}",
        run.stderr
    );
    assert!(!pg.exists(&target.name), "nothing was created");
    // Issue 22: long enough is not enough; a guessable secret is refused
    // too (a run of one letter, a short pattern repeated, a sequence).
    for weak in [
        "a".repeat(32),
        "abcd".repeat(10),
        "0123456789abcdefghijklmnopqrstuvwxyz".to_string(),
    ] {
        let run = anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", &weak)]).expect(2);
        assert!(
            run.stderr.contains("bits of entropy")
                && run.stderr.contains("openssl rand -base64 48"),
            "{}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(&weak),
            "never the secret: {}",
            run.stderr
        );
        assert!(!pg.exists(&target.name), "nothing was created");
    }
    // A random one is enough.
    anonymize(dir.path(), &args, &[("ANONYMIZE_SECRET", SECRET)]).expect(0);
}

// ------------------------------------------------- no value in any message

/// A source table of one row whose values are all marked `PRIVATE`, and a
/// target made by hand where one column cannot take its value.
fn load_into_narrow_target(test: &str, source_sql: &str, target_sql: &str) -> Run {
    let pg = Pg::get();
    let source = pg.db(&format!("{test}_src"));
    source.exec(source_sql);
    let target = pg.db(&format!("{test}_dst"));
    target.exec(target_sql);
    let dir = rules_dir("version: 1\nunknown_columns: keep\ntables: {}\n");
    run_sync(&dir, &source, &target, &["--into", "existing", "--force"]).expect(1)
}

fn assert_no_value(run: &Run, value: &str) {
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains(value), "a row value was printed:\n{all}");
}

#[test]
fn out_of_range_values_are_not_quoted_22003() {
    let run = load_into_narrow_target(
        "msg_22003",
        "CREATE TABLE t (id int PRIMARY KEY, n bigint); INSERT INTO t VALUES (1, 3000000123)",
        "CREATE TABLE t (id int PRIMARY KEY, n int)",
    );
    assert_no_value(&run, "3000000123");
    assert!(
        run.stderr.contains("22003 numeric_value_out_of_range"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("public.t"),
        "names the table: {}",
        run.stderr
    );
}

#[test]
fn invalid_input_is_not_quoted_22p02() {
    let run = load_into_narrow_target(
        "msg_22p02",
        "CREATE TABLE t (id int PRIMARY KEY, code text); INSERT INTO t VALUES (1, 'PRIVATE-4111')",
        "CREATE TABLE t (id int PRIMARY KEY, code int)",
    );
    assert_no_value(&run, "PRIVATE-4111");
    assert!(
        run.stderr.contains("22P02 invalid_text_representation"),
        "{}",
        run.stderr
    );
}

#[test]
fn invalid_bytes_are_not_quoted_22021() {
    let pg = Pg::get();
    // A SQL_ASCII source holds any bytes; the UTF8 target refuses them.
    let name = format!("msg_22021_src_{}", std::process::id());
    crate::harness::pg::exec(
        &pg.url("postgres"),
        &format!(
            "CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
        ),
    );
    let source = Db {
        url: pg.url(&name),
        name,
    };
    source.exec("CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t VALUES (1, E'PRIVATE\\xe9\\xff')");
    let target = pg.db("msg_22021_dst");
    target.exec("CREATE TABLE t (id int PRIMARY KEY, note text)");
    let dir = rules_dir("version: 1\nunknown_columns: keep\ntables: {}\n");
    let run = run_sync(&dir, &source, &target, &["--into", "existing", "--force"]).expect(1);
    assert_no_value(&run, "PRIVATE");
    assert!(
        !run.stderr.contains("0xe9"),
        "no byte of the value: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("22021 character_not_in_repertoire"),
        "{}",
        run.stderr
    );
}

#[test]
fn raise_texts_are_not_quoted_p0001() {
    // A domain CHECK calls a function that RAISEs with the value: domains
    // are checked even while triggers are off for the load.
    let run = load_into_narrow_target(
        "msg_p0001",
        "CREATE TABLE t (id int PRIMARY KEY, note text); INSERT INTO t VALUES (1, 'PRIVATE note')",
        "CREATE FUNCTION chk(v text) RETURNS bool LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'refused %', v USING HINT = 'hint ' || v; END $$;
         CREATE DOMAIN checked AS text CHECK (chk(VALUE));
         CREATE TABLE t (id int PRIMARY KEY, note checked)",
    );
    assert_no_value(&run, "PRIVATE");
    assert!(
        run.stderr.contains("P0001 raise_exception"),
        "{}",
        run.stderr
    );
}

#[test]
fn integrity_errors_name_the_constraint_not_the_row_23505() {
    let run = load_into_narrow_target(
        "msg_23505",
        "CREATE TABLE t (id int PRIMARY KEY, email text);
         INSERT INTO t VALUES (1, 'PRIVATE@x.org'), (2, 'PRIVATE@x.org')",
        "CREATE TABLE t (id int PRIMARY KEY, email text CONSTRAINT t_email_key UNIQUE)",
    );
    assert_no_value(&run, "PRIVATE");
    assert!(
        run.stderr.contains("23505 unique_violation"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("constraint t_email_key"),
        "{}",
        run.stderr
    );
}

// ------------------------------------------------------------------ panics

#[test]
fn a_panic_in_a_copy_worker_ends_the_run_cleanly() {
    let pg = Pg::get();
    let source = pg.db("panic_src");
    source.exec(
        "CREATE TABLE t (id int PRIMARY KEY, note text);
         INSERT INTO t SELECT i, 'note ' || i FROM generate_series(1, 100) i",
    );
    let target = pg.fresh_name("panic_dst");
    let dir = rules_dir(
        "version: 1\ntables:\n  public.t:\n    columns: { id: keep, note: { set: x } }\n",
    );
    run_sync(&dir, &source, &target, &[]).expect(0);
    source.exec("UPDATE t SET id = id + 1000");

    let args = sync_args(&source.url, &target.url, "rules.yml", &["--jobs", "2"]);
    let run = anonymize(
        dir.path(),
        &args,
        &[
            ("ANONYMIZE_SECRET", SECRET),
            ("ANONYMIZE_FAILPOINT", "transform.panic"),
        ],
    )
    .expect(1);
    assert!(
        !run.stderr.contains("PRIVATE-PAYLOAD"),
        "the payload was printed:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("internal error"), "{}", run.stderr);
    assert!(
        run.stderr.contains("transforming table public.t"),
        "{}",
        run.stderr
    );
    assert!(
        !pg.exists(&format!("{}__next", target.name)),
        "__next was dropped"
    );
    assert_eq!(
        target.value("SELECT max(id) FROM t"),
        "100",
        "the target is untouched"
    );
}

// -------------------------------------------------------------------- logs

#[test]
fn debug_logs_hold_no_statement_parameters() {
    let pg = Pg::get();
    let source = pg.db("debuglog_src");
    source.exec(
        "CREATE TABLE t (id int PRIMARY KEY, note text);
         INSERT INTO t SELECT i, 'PRIVATE-NOTE-' || i FROM generate_series(1, 20) i",
    );
    let target = pg.fresh_name("debuglog_dst");
    // Copied as is, then verified under a rule that compares the column:
    // the sampled values go to the source as statement parameters.
    let keep =
        rules_dir("version: 1\ntables:\n  public.t:\n    columns: { id: keep, note: keep }\n");
    run_sync(&keep, &source, &target, &[]).expect(0);
    let dir = rules_dir(
        "version: 1\ntables:\n  public.t:\n    columns: { id: keep, note: { fake: first_name } }\n",
    );
    for level in ["debug", "trace"] {
        let run = anonymize(
            dir.path(),
            &verify_args(&source.url, &target.url, "rules.yml", &[]),
            &[("ANONYMIZE_SECRET", SECRET), ("ANONYMIZE_LOG", level)],
        );
        assert!(
            run.stderr.contains("DEBUG"),
            "debug logs are on: {}",
            run.stderr
        );
        assert_no_value(&run, "PRIVATE-NOTE");
    }
}

#[test]
fn pg_dump_never_sees_the_secret() {
    let pg = Pg::get();
    let source = pg.db("pgdump_env_src");
    source.exec("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)");
    let target = pg.fresh_name("pgdump_env_dst");
    let dir = rules_dir("version: 1\ntables:\n  public.t:\n    columns: { id: keep }\n");
    // A pg_dump that records its environment, then runs the real one.
    let real = anonymize::pgdump::find_pg_dump(0).unwrap().path;
    let wrapper = dir.path().join("pg_dump");
    let seen = dir.path().join("env.txt");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n/usr/bin/env >> '{}'\nexec '{}' \"$@\"\n",
            seen.display(),
            real.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    let w = wrapper.to_str().unwrap();
    let args = sync_args(&source.url, &target.url, "rules.yml", &["--force"]);
    anonymize(
        dir.path(),
        &args,
        &[
            ("ANONYMIZE_SECRET", SECRET),
            ("ANONYMIZE_PG_DUMP", w),
            ("SOME_APP_TOKEN", "tok-123"),
            ("PGSSLMODE", "disable"),
        ],
    )
    .expect(0);
    let env = std::fs::read_to_string(&seen).unwrap();
    assert!(env.contains("PGHOST="), "pg_dump got its connection: {env}");
    assert!(
        env.contains("PGSSLMODE=disable"),
        "libpq settings pass: {env}"
    );
    for never in [SECRET, "ANONYMIZE_", "tok-123"] {
        assert!(!env.contains(never), "pg_dump inherited {never}: {env}");
    }
}

// ------------------------------------------ nothing reaches production

#[test]
fn foreign_servers_and_publications_never_reach_the_target() {
    let pg = Pg::get();
    let source = pg.db("fdw_src");
    source.exec(
        "CREATE EXTENSION postgres_fdw;
         CREATE SERVER prod_link FOREIGN DATA WRAPPER postgres_fdw
           OPTIONS (host 'db.prod.internal', dbname 'app');
         CREATE USER MAPPING FOR CURRENT_USER SERVER prod_link
           OPTIONS (user 'app', password 'prod-password');
         COMMENT ON SERVER prod_link IS 'the production database';
         CREATE FOREIGN TABLE remote_users (id int, email text) SERVER prod_link;
         CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);
         CREATE PUBLICATION everything FOR TABLE t;",
    );
    let target = pg.fresh_name("fdw_dst");
    let dir = rules_dir("version: 1\ntables:\n  public.t:\n    columns: { id: keep }\n");
    let run = run_sync(&dir, &source, &target, &[]).expect(0);
    for (what, sql) in [
        ("foreign servers", "SELECT count(*) FROM pg_foreign_server"),
        ("user mappings", "SELECT count(*) FROM pg_user_mappings"),
        ("foreign tables", "SELECT count(*) FROM pg_foreign_table"),
        ("publications", "SELECT count(*) FROM pg_publication"),
        ("subscriptions", "SELECT count(*) FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"),
    ] {
        assert_eq!(target.value(sql), "0", "{what} in the target");
    }
    assert_eq!(target.value("SELECT count(*) FROM t"), "1");
    for named in [
        "SERVER prod_link",
        "FOREIGN TABLE public.remote_users",
        "USER MAPPING",
    ] {
        assert!(
            run.stderr.contains(named),
            "the warning names {named}: {}",
            run.stderr
        );
    }
    assert_no_value(&run, "prod-password");
}

// ------------------------------------------------ verify judged by outcome

/// Syncs `rules` from a fresh source built by `sql` and runs `verify` with
/// the same rules (JSON output); returns the verify run.
fn sync_then_verify(test: &str, sql: &str, rules: &str, verify_extra: &[&str]) -> Run {
    let pg = Pg::get();
    let source = pg.db(&format!("{test}_src"));
    source.exec(sql);
    let target = pg.fresh_name(&format!("{test}_dst"));
    let dir = rules_dir(rules);
    run_sync(&dir, &source, &target, &[]).expect(0);
    anonymize(
        dir.path(),
        &verify_args(&source.url, &target.url, "rules.yml", verify_extra),
        &[("ANONYMIZE_SECRET", SECRET)],
    )
}

const EMAILS: &str = "CREATE TABLE t (id int PRIMARY KEY, email text, pin text, phone text);
     INSERT INTO t SELECT i, 'person' || i || '@realmail.example',
                          lpad((i * 7919 % 10000)::text, 4, '0'), ' '
       FROM generate_series(1, 200) i;";

#[test]
fn a_regex_that_matches_nothing_is_a_leak() {
    let run = sync_then_verify(
        "verify_regex",
        EMAILS,
        "version: 1\ntables:\n  public.t:\n    columns:\n      id: keep\n      pin: null\n      phone: keep\n      email: { regex: { pattern: 'nomatch[0-9]+', replace: x } }\n",
        &[],
    )
    .expect(3);
    assert!(
        run.stdout.contains("leak     public.t.email"),
        "{}",
        run.stdout
    );
    assert_no_value(&run, "realmail");
    // `phone` holds a single space in every row: not personal, no leak.
    assert!(!run.stdout.contains("public.t.phone"), "{}", run.stdout);
}

#[test]
fn fpe_keep_windows_that_cover_a_value_still_change_it_and_verify_agrees() {
    // fpe now changes one symbol even when keep_last covers the whole value
    // (issue 16 item 9), so verify finds every pin changed: no leak.
    let run = sync_then_verify(
        "verify_fpe",
        EMAILS,
        "version: 1\ntables:\n  public.t:\n    columns:\n      id: keep\n      email: null\n      phone: null\n      pin: { fpe: { keep_last: 4 }, allow_small_domain: true }\n",
        &[],
    )
    .expect(0);
    assert!(run.stdout.contains("ok: 0 leak(s)"), "{}", run.stdout);
}

#[test]
fn a_reviewed_column_can_be_accepted() {
    let rules = "version: 1\ntables:\n  public.t:\n    columns:\n      id: keep\n      pin: null\n      phone: null\n      email: { keep: true, accepted: \"shop addresses, reviewed 2026-11\" }\n";
    let run = sync_then_verify("verify_accepted", EMAILS, rules, &["--format", "json"]).expect(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let email = report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "email")
        .unwrap();
    assert_eq!(email["status"], "accepted", "{email}");
    assert_eq!(email["accepted"], "shop addresses, reviewed 2026-11");
    assert_eq!(email["rule"], "keep accepted");
    assert_eq!(report["failures"], 0);
    assert_eq!(report["accepted"], 1);
}

#[test]
fn verify_refuses_a_sample_of_zero() {
    let pg = Pg::get();
    let db = pg.db("verify_zero");
    let dir = rules_dir("version: 1\ntables: {}\n");
    let run = anonymize(
        dir.path(),
        &verify_args(&db.url, &db.url, "rules.yml", &["--sample", "0"]),
        &[],
    )
    .expect(2);
    assert!(run.stderr.contains("--sample 0"), "{}", run.stderr);
}

// ------------------------------------------------------------ smaller holes

#[test]
fn two_rules_for_one_column_exit_2() {
    let pg = Pg::get();
    let source = pg.db("two_rules_src");
    source.exec("CREATE TABLE t (id int PRIMARY KEY, email text)");
    let target = pg.fresh_name("two_rules_dst");
    let dir = rules_dir(
        "version: 1\ntables:\n  public.t:\n    columns:\n      id: keep\n      email: keep\n      '\"email\"': null\n",
    );
    let run = run_sync(&dir, &source, &target, &[]).expect(2);
    assert!(
        run.stderr
            .contains("column email of table public.t has two rules"),
        "{}",
        run.stderr
    );
    assert!(!pg.exists(&target.name));
}
