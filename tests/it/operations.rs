//! The unattended weekly sync (issue 5): a run that fails or is stopped
//! leaves last week's target exactly as it was and no `__next` behind; one
//! run at a time per target; a target role that cannot create databases is
//! told what to grant; the report and JSON logs hold what monitoring reads.
//!
//! These tests use only `keep`, `null` and `set`, so they do not depend on
//! the transforms catalogue.

use crate::harness::{self, anonymize, env_refs, rules_dir, spawn, wait, Db, Failpoint, Pg, Run};
use std::path::Path;

/// Rows of the big table: many times a batch and the socket buffers, so a
/// run paused after its first batch still has the source COPY open, and
/// few enough to be generated in about a second.
const BIG_ROWS: u32 = 300_000;

/// How long a refused second run may take: it returns at once, so a
/// generous limit still tells a refusal from a wait (which never ends
/// while the first run is paused).
const REFUSED_AT_ONCE: std::time::Duration = std::time::Duration::from_secs(120);

const RULES: &str = "version: 1
tables:
  public.accounts:
    columns: { id: keep, email: null, plan: { set: free } }
  public.events:
    columns: { id: keep, account_id: keep, payload: keep, note: { set: redacted } }
";

/// A source with a small `accounts` table and an empty `events` table.
fn small_source(test: &str) -> Db {
    let db = Pg::get().db(test);
    db.exec(
        "CREATE TABLE accounts (id int PRIMARY KEY, email text UNIQUE, plan text NOT NULL);
         INSERT INTO accounts SELECT i, 'person' || i || '@realmail.example', 'pro'
           FROM generate_series(1, 100) AS i;
         CREATE TABLE events (id bigint PRIMARY KEY, account_id int NOT NULL REFERENCES accounts,
                              payload text, note text);
         ANALYZE;",
    );
    db
}

/// Grows `events` to `BIG_ROWS` rows, so the next sync has a long copy.
fn grow(db: &Db) {
    db.exec(&format!(
        "ALTER TABLE events DROP CONSTRAINT events_account_id_fkey;
         INSERT INTO events SELECT i, 1 + i % 100, md5(i::text), 'note ' || i
           FROM generate_series(1, {BIG_ROWS}) AS i;
         ALTER TABLE events ADD FOREIGN KEY (account_id) REFERENCES accounts;
         ANALYZE;"
    ));
}

fn sync_args<'a>(source: &'a Db, target: &'a Db, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = harness::sync_args(&source.url, &target.url, "rules.yml", &["--jobs", "2"]);
    args.extend_from_slice(extra);
    args
}

fn run_sync(dir: &Path, source: &Db, target: &Db, extra: &[&str]) -> Run {
    anonymize(dir, &sync_args(source, target, extra), &[])
}

/// Everything a previous target holds that a reader could see: each
/// table's contents, and the database's comment (our marker with its date).
fn fingerprint(target: &Db) -> Vec<String> {
    let mut out = target.column(
        "SELECT c.relname || ':' || md5(coalesce((SELECT string_agg(x, '|' ORDER BY x) FROM \
           (SELECT t::text AS x FROM accounts t WHERE c.relname = 'accounts' \
            UNION ALL SELECT t::text FROM events t WHERE c.relname = 'events') s), '')) \
         FROM pg_class c WHERE c.relname IN ('accounts', 'events') ORDER BY 1",
    );
    out.push(target.value(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()",
    ));
    out
}

/// Starts a sync that pauses once its first batch of rows is in the
/// target and the source COPY is still open (the big table has far more
/// rows than a batch and the buffers between hold), and waits until it is
/// there: the test then acts on a run caught mid-copy, at a known point.
fn spawn_paused_mid_copy(
    dir: &Path,
    source: &Db,
    target: &Db,
    extra: &[&str],
) -> (std::process::Child, Failpoint) {
    let point = Failpoint::new("copy.after_first_batch:public.events");
    let env = point.env();
    let mut child = spawn(dir, &sync_args(source, target, extra), &env_refs(&env));
    point.wait_reached(&mut child);
    (child, point)
}

/// Ends every session anonymize has on `source` (as a failing network or
/// a DBA would); returns how many were ended.
fn kill_source_sessions(source: &Db) -> String {
    source.value(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{}' AND application_name LIKE 'anonymize%'",
        source.name
    ))
}

fn assert_untouched(pg: &Pg, target: &Db, before: &[String]) {
    assert_eq!(fingerprint(target), before, "the previous target changed");
    assert!(
        !pg.exists(&format!("{}__next", target.name)),
        "the load database was left behind"
    );
    assert!(!pg.exists(&format!("{}__prev", target.name)));
}

#[test]
fn source_connection_killed_mid_copy_leaves_the_previous_target() {
    let pg = Pg::get();
    let source = small_source("kill_src");
    let target = pg.fresh_name("kill_dst");
    let dir = rules_dir(RULES);
    run_sync(dir.path(), &source, &target, &[]).expect(0);
    let before = fingerprint(&target);
    assert_eq!(target.value("SELECT count(*) FROM events"), "0");

    grow(&source);
    let (child, point) = spawn_paused_mid_copy(dir.path(), &source, &target, &[]);
    let killed = kill_source_sessions(&source);
    assert_ne!(killed, "0", "no source session was found to kill");
    point.resume();
    let run = wait(child).expect(1);
    assert!(
        run.stderr.contains("from the source"),
        "the error says which side failed: {}",
        run.stderr
    );
    assert_untouched(pg, &target, &before);
}

#[test]
fn sigterm_mid_copy_exits_143_and_leaves_the_previous_target() {
    let pg = Pg::get();
    let source = small_source("term_src");
    let target = pg.fresh_name("term_dst");
    let dir = rules_dir(RULES);
    run_sync(dir.path(), &source, &target, &[]).expect(0);
    let before = fingerprint(&target);

    grow(&source);
    let (child, _point) =
        spawn_paused_mid_copy(dir.path(), &source, &target, &["--report", "report.json"]);
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let run = wait(child).expect(143);
    assert!(
        run.stderr.contains("interrupted by SIGTERM"),
        "{}",
        run.stderr
    );
    assert_untouched(pg, &target, &before);

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "interrupted");
    assert_eq!(report["exit_code"], 143);
}

/// Ctrl-C at a terminal: the same cleanup path as SIGTERM, exit 130.
#[test]
fn sigint_mid_copy_exits_130_and_leaves_the_previous_target() {
    let pg = Pg::get();
    let source = small_source("int_src");
    let target = pg.fresh_name("int_dst");
    let dir = rules_dir(RULES);
    run_sync(dir.path(), &source, &target, &[]).expect(0);
    let before = fingerprint(&target);

    grow(&source);
    let (child, _point) =
        spawn_paused_mid_copy(dir.path(), &source, &target, &["--report", "report.json"]);
    // The run is paused with `__next` made and rows in it: what is there
    // to clean up.
    assert!(pg.exists(&format!("{}__next", target.name)));
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let run = wait(child).expect(130);
    assert!(
        run.stderr.contains("interrupted by SIGINT"),
        "{}",
        run.stderr
    );
    assert_untouched(pg, &target, &before);

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outcome"], "interrupted");
    assert_eq!(report["exit_code"], 130);
}

#[test]
fn a_concurrent_second_run_is_refused_at_once() {
    let pg = Pg::get();
    let source = small_source("lock_src");
    grow(&source);
    let target = pg.fresh_name("lock_dst");
    let dir = rules_dir(RULES);
    let (first, point) = spawn_paused_mid_copy(dir.path(), &source, &target, &[]);

    // If the refusal ever became a wait, the second run would wait on the
    // paused first one forever: a limit turns that hang into a failure.
    let second = spawn(dir.path(), &sync_args(&source, &target, &[]), &[]);
    let second = harness::wait_within(second, REFUSED_AT_ONCE, || {
        "the second run waited for the first one's lock instead of refusing".into()
    })
    .expect(1);
    assert!(
        second
            .stderr
            .contains("another anonymize run is loading postgresql://postgres@127.0.0.1:")
            && second.stderr.contains("wait for it to finish"),
        "{}",
        second.stderr
    );
    // The first run stays paused holding the lock until resumed below, so
    // the second one returning at all shows it did not wait for the lock.
    // The refused run did not disturb the one holding the lock.
    point.resume();
    wait(first).expect(0);
    assert_eq!(
        target.value("SELECT count(*) FROM events"),
        BIG_ROWS.to_string()
    );
    assert!(!pg.exists(&format!("{}__next", target.name)));
}

#[test]
fn a_role_without_createdb_is_told_what_to_grant() {
    let pg = Pg::get();
    let source = small_source("role_src");
    let target = pg.fresh_name("role_dst");
    let role = format!("ops_loader_{}", std::process::id());
    pg.db_admin().exec(&format!(
        "CREATE ROLE {role} LOGIN NOCREATEDB{}",
        pg.password_clause()
    ));
    let as_role = Db {
        name: target.name.clone(),
        url: target.url_as(role.as_str()),
    };
    let dir = rules_dir(RULES);
    let run = run_sync(dir.path(), &source, &as_role, &[]).expect(2);
    assert!(
        run.stderr.contains(&format!(
            "run `ALTER ROLE \"{role}\" CREATEDB;` as a superuser"
        )),
        "{}",
        run.stderr
    );
    assert!(!pg.exists(&target.name) && !pg.exists(&format!("{}__next", target.name)));

    // With CREATEDB but a target owned by someone else, the rename at the
    // end would fail: that is said up front too, before any copy.
    pg.db_admin().exec(&format!("ALTER ROLE {role} CREATEDB"));
    pg.db_named(&target.name);
    let run = run_sync(dir.path(), &source, &as_role, &[]).expect(2);
    assert!(
        run.stderr.contains("is owned by `postgres`")
            && run
                .stderr
                .contains(&format!("OWNER TO \"{role}\";` as a superuser")),
        "{}",
        run.stderr
    );
    assert!(!pg.exists(&format!("{}__next", target.name)));

    pg.db_admin().exec(&format!(
        "ALTER DATABASE \"{}\" OWNER TO {role}",
        target.name
    ));
    run_sync(dir.path(), &source, &as_role, &[]).expect(0);
    assert_eq!(target.value("SELECT count(*) FROM accounts"), "100");
}

#[test]
fn schema_existing_loads_in_one_transaction() {
    let pg = Pg::get();
    let source = small_source("exist_src");
    let target = pg.fresh_name("exist_dst");
    let dir = rules_dir(RULES);
    run_sync(dir.path(), &source, &target, &[]).expect(0);
    let before = fingerprint(&target);

    grow(&source);
    let (child, point) =
        spawn_paused_mid_copy(dir.path(), &source, &target, &["--into", "existing"]);
    assert_ne!(kill_source_sessions(&source), "0");
    point.resume();
    wait(child).expect(1);
    assert_eq!(
        fingerprint(&target),
        before,
        "the truncate was not rolled back"
    );

    run_sync(dir.path(), &source, &target, &["--into", "existing"]).expect(0);
    assert_eq!(
        target.value("SELECT count(*) FROM events"),
        BIG_ROWS.to_string()
    );
}

#[test]
fn a_stranger_database_named_like_our_load_database_is_never_dropped() {
    let pg = Pg::get();
    let source = small_source("stranger_src");
    let target = pg.fresh_name("stranger_dst");
    let next = pg.db_named(&format!("{}__next", target.name));
    next.exec("CREATE TABLE precious (id int); INSERT INTO precious VALUES (7)");
    let dir = rules_dir(RULES);
    let run = run_sync(dir.path(), &source, &target, &[]).expect(2);
    assert!(
        run.stderr
            .contains("exists and was not made by anonymize; drop or rename it"),
        "{}",
        run.stderr
    );
    assert_eq!(next.value("SELECT id FROM precious"), "7");
    assert!(!pg.exists(&target.name));
}

#[test]
fn open_sessions_on_the_target_stop_the_swap_unless_terminated() {
    let pg = Pg::get();
    let source = small_source("busy_src");
    let target = pg.fresh_name("busy_dst");
    let dir = rules_dir(RULES);
    run_sync(dir.path(), &source, &target, &[]).expect(0);
    let before = fingerprint(&target);

    source.exec("UPDATE accounts SET plan = 'team' WHERE id = 1");
    let holder = crate::harness::pg::Session::open(&target.url);
    let run = run_sync(dir.path(), &source, &target, &[]).expect(1);
    assert!(
        run.stderr.contains("1 session(s) are connected to")
            && run.stderr.contains("pass --terminate-connections"),
        "{}",
        run.stderr
    );
    assert_untouched(pg, &target, &before);

    run_sync(dir.path(), &source, &target, &["--terminate-connections"]).expect(0);
    drop(holder);
    assert_ne!(fingerprint(&target), before);
    assert!(!pg.exists(&format!("{}__prev", target.name)));
}

#[test]
fn keep_previous_keeps_the_replaced_target() {
    let pg = Pg::get();
    let source = small_source("prev_src");
    let target = pg.fresh_name("prev_dst");
    let dir = rules_dir(RULES);
    run_sync(dir.path(), &source, &target, &[]).expect(0);
    let first = fingerprint(&target);
    source.exec("DELETE FROM accounts WHERE id > 50");
    run_sync(dir.path(), &source, &target, &["--keep-previous"]).expect(0);
    let prev = Db {
        name: format!("{}__prev", target.name),
        url: target.url.replace(
            &format!("/{}", target.name),
            &format!("/{}__prev", target.name),
        ),
    };
    assert_eq!(target.value("SELECT count(*) FROM accounts"), "50");
    assert_eq!(prev.value("SELECT count(*) FROM accounts"), "100");
    assert_eq!(fingerprint(&prev)[..2], first[..2]);
    // The next run replaces the kept copy rather than failing on it.
    run_sync(dir.path(), &source, &target, &["--keep-previous"]).expect(0);
    assert_eq!(prev.value("SELECT count(*) FROM accounts"), "50");
}

/// The fields `docs/report.md` documents, as path → type.
fn documented_fields() -> std::collections::BTreeMap<String, String> {
    let doc = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/report.md"),
    )
    .unwrap();
    let row = regex::Regex::new(r"^\| `([^`]+)` \| ([^|]+?) \|").unwrap();
    let fields: std::collections::BTreeMap<String, String> = doc
        .lines()
        .filter_map(|l| row.captures(l))
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    assert!(fields.len() > 20, "the field table was not found");
    fields
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Checks every field of `value` (at `path`) against the documented list:
/// documented, of the documented type, and no documented field missing.
fn check_fields(
    value: &serde_json::Value,
    path: &str,
    fields: &std::collections::BTreeMap<String, String>,
    seen: &mut std::collections::BTreeSet<String>,
) {
    let serde_json::Value::Object(map) = value else {
        panic!("{path} is not an object");
    };
    for (key, v) in map {
        let p = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let documented = fields
            .get(&p)
            .unwrap_or_else(|| panic!("report field `{p}` is not documented in docs/report.md"));
        let actual = json_type(v);
        let allowed: Vec<&str> = documented.split(" or ").collect();
        assert!(
            allowed.contains(&actual) || (actual == "integer" && allowed.contains(&"number")),
            "report field `{p}` is {actual}, documented as {documented}"
        );
        seen.insert(p.clone());
        match v {
            serde_json::Value::Object(_) => check_fields(v, &p, fields, seen),
            serde_json::Value::Array(items) => {
                for item in items {
                    check_fields(item, &format!("{p}[]"), fields, seen);
                }
            }
            _ => {}
        }
    }
    // Documented children of this object must all be there.
    for name in fields.keys() {
        let (parent, leaf) = name.rsplit_once('.').unwrap_or(("", name));
        assert!(
            parent != path || map.contains_key(leaf),
            "documented field `{name}` is missing from the report"
        );
    }
}

fn validate_report(path: &Path) -> serde_json::Value {
    validate_json(&std::fs::read_to_string(path).unwrap())
}

fn validate_json(text: &str) -> serde_json::Value {
    let report: serde_json::Value = serde_json::from_str(text).unwrap();
    let fields = documented_fields();
    let mut seen = std::collections::BTreeSet::new();
    check_fields(&report, "", &fields, &mut seen);
    report
}

#[test]
fn reports_match_their_documented_fields() {
    let pg = Pg::get();
    let source = small_source("report_src");
    source.exec(
        "INSERT INTO events SELECT i, 1 + i % 100, 'payload ' || i, 'note ' || i \
         FROM generate_series(1, 50) AS i",
    );
    let target = pg.fresh_name("report_dst");
    let dir = rules_dir(RULES);
    run_sync(
        dir.path(),
        &source,
        &target,
        &["--report", "ok.json", "--verify"],
    )
    .expect(0);
    let ok = validate_report(&dir.path().join("ok.json"));
    assert_eq!(ok["outcome"], "success");
    assert_eq!(ok["exit_code"], 0);
    assert_eq!(ok["error"], serde_json::Value::Null);
    assert_eq!(ok["rows_written"], 150);
    assert_eq!(ok["tables"].as_array().unwrap().len(), 2);
    assert_eq!(ok["tables"][1]["table"], "public.events");
    assert_eq!(ok["tables"][1]["rows_written"], 50);
    assert_eq!(ok["verify"]["failures"], 0);
    assert_eq!(
        ok["rules_digest"].as_str().unwrap().len(),
        64,
        "a SHA-256 in hex"
    );
    assert!(ok["started_at"].as_str().unwrap().ends_with('Z'));

    // A failed run reports too, with the error and no password.
    let missing = Db {
        name: "nope".into(),
        url: source.url.replace(&source.name, "no_such_database"),
    };
    let run = run_sync(dir.path(), &missing, &target, &["--report", "failed.json"]).expect(1);
    let failed = validate_report(&dir.path().join("failed.json"));
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["exit_code"], 1);
    assert!(failed["error"].as_str().unwrap().contains("not reachable"));
    let text = std::fs::read_to_string(dir.path().join("failed.json")).unwrap();
    // The URL holds the server's password.
    let pw = Pg::get()
        .password()
        .expect("the harness server has a password");
    assert!(!text.contains(&pw) && !run.stderr.contains(&pw));

    // `--report -`: the report alone on stdout, on one line, for a log
    // collector (the Kubernetes CronJob).
    let run = run_sync(dir.path(), &source, &target, &["--report", "-"]).expect(0);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let replaced = validate_json(&run.stdout);
    assert_eq!(replaced["outcome"], "success");
    // The first run had no old target to drop; this one dropped it after
    // the swap, timed apart from the swap.
    assert!(ok["phases"]["drop_previous"].is_null(), "{ok}");
    assert!(ok["phases"]["swap"].as_f64().is_some(), "{ok}");
    assert!(
        replaced["phases"]["drop_previous"].as_f64().is_some(),
        "{replaced}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let pg = Pg::get();
    let source = small_source("jsonlog_src");
    let target = pg.fresh_name("jsonlog_dst");
    let dir = rules_dir(RULES);
    let ok = run_sync(
        dir.path(),
        &source,
        &target,
        &["--log-format", "json", "--verify"],
    )
    .expect(0);
    // A failing run: its final error is a JSON line too.
    let missing = Db {
        name: "nope".into(),
        url: source.url.replace(&source.name, "no_such_database"),
    };
    let failed = run_sync(dir.path(), &missing, &target, &["--log-format", "json"]).expect(1);
    for run in [&ok, &failed] {
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(!lines.is_empty());
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
            assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
            assert!(v["timestamp"].is_string(), "{line}");
        }
    }
    let last: serde_json::Value =
        serde_json::from_str(failed.stderr.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["exit_code"], failed.code);
    assert!(
        ok.stderr.contains("\"message\":\"verify done\""),
        "{}",
        ok.stderr
    );
}
