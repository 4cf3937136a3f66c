//! A hot standby as the source (issue 11): a sync from a streaming
//! replica, the standby's replay time in the report, `check`'s advance
//! warning, several hosts with `target_session_attrs`, and the message
//! when recovery cancels the copy.
//!
//! The standby (`harness/replica.rs`) follows the shared server. Fixture
//! tables turn autovacuum off, so that only the conflict test's own VACUUM
//! removes rows a standby snapshot may need.

use crate::harness::clusters::local_clusters;
use crate::harness::replica::Replica;
use crate::harness::{anonymize, env_refs, spawn, wait, Db, Failpoint, Pg};

const RULES: &str = "version: 1\n\
tables:\n  public.people:\n    columns:\n      id: keep\n      email: { set: hidden@example.com }\n  \
public.big:\n    columns:\n      id: keep\n      payload: keep\n";

/// A database on the primary with `people` (3 rows) and `big` (`rows`
/// rows of 200 bytes), replayed on the standby.
fn replicated_source(test: &str, rows: u32) -> Db {
    let db = Pg::get().db(test);
    db.exec(&format!(
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL) WITH (autovacuum_enabled = off); \
         INSERT INTO people VALUES (1, 'ann@corp.example'), (2, 'bob@corp.example'), (3, 'cy@corp.example'); \
         CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL) WITH (autovacuum_enabled = off); \
         INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, {rows}) g;"
    ));
    Replica::get().catch_up();
    db
}

fn rules_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), RULES).unwrap();
    dir
}

#[test]
#[ignore = "hangs under the full suite (standby replay vs concurrent DROP DATABASE); run: cargo test --test it -- --ignored replica"]
fn sync_from_a_hot_standby_records_its_replay_time() {
    if !local_clusters("sync_from_a_hot_standby_records_its_replay_time") {
        return;
    }
    let replica = Replica::get();
    let source = replicated_source("standby_sync", 10);
    let target = Pg::get().fresh_name("standby_sync_target");
    let dir = rules_dir();
    let url = replica.url(&source);

    // `check` warns in advance: feedback is off on this standby.
    let run = anonymize(
        dir.path(),
        &["check", "--source", &url, "--rules", "rules.yml"],
        &[],
    )
    .expect(0);
    assert!(
        run.stdout.contains(
            "warning: source: the source is a hot standby with hot_standby_feedback = off"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("set hot_standby_feedback = on"));

    anonymize(
        dir.path(),
        &[
            "sync",
            "--source",
            &url,
            "--target",
            &target.url,
            "--rules",
            "rules.yml",
            "--no-progress",
            "--report",
            "report.json",
        ],
        &[],
    )
    .expect(0);
    assert_eq!(target.value("SELECT count(*) FROM big"), "10");
    assert_eq!(
        target.column("SELECT email FROM people ORDER BY id"),
        ["hidden@example.com"; 3]
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    let replayed = report["source_replay_timestamp"]
        .as_str()
        .expect("a standby source records its replay time");
    assert!(
        replayed.len() == 24 && replayed.ends_with('Z') && replayed.contains('T'),
        "{replayed}"
    );

    // A primary source records none.
    anonymize(
        dir.path(),
        &[
            "sync",
            "--source",
            &source.url,
            "--target",
            &target.url,
            "--rules",
            "rules.yml",
            "--no-progress",
            "--report",
            "primary.json",
        ],
        &[],
    )
    .expect(0);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("primary.json")).unwrap())
            .unwrap();
    assert!(report["source_replay_timestamp"].is_null());
}

#[test]
#[ignore = "hangs under the full suite (standby replay vs concurrent DROP DATABASE); run: cargo test --test it -- --ignored replica"]
fn several_hosts_pick_the_one_target_session_attrs_asks_for() {
    if !local_clusters("several_hosts_pick_the_one_target_session_attrs_asks_for") {
        return;
    }
    let replica = Replica::get();
    let source = replicated_source("standby_hosts", 10);
    let dir = rules_dir();
    let primary_port = Pg::get()
        .url("postgres")
        .rsplit_once(':')
        .and_then(|(_, r)| r.split('/').next().map(String::from))
        .unwrap();
    let hosts = format!(
        "postgresql://postgres@127.0.0.1:{primary_port},127.0.0.1:{}/{}",
        replica.port, source.name
    );
    let check = |attrs: &str| {
        anonymize(
            dir.path(),
            &[
                "check",
                "--source",
                &format!("{hosts}?target_session_attrs={attrs}"),
                "--rules",
                "rules.yml",
            ],
            &[],
        )
        .expect(0)
    };
    // The standby is second in the list: only `standby` reaches it.
    assert!(check("standby")
        .stdout
        .contains("the source is a hot standby"));
    assert!(check("prefer-standby")
        .stdout
        .contains("the source is a hot standby"));
    assert!(!check("primary").stdout.contains("hot standby"));
    assert!(!check("any").stdout.contains("hot standby"));
}

#[test]
#[ignore = "stalls the shared standby's replay when another test drops a database meanwhile \
            (DROP DATABASE replay waits for the paused COPY backend's signal barrier); \
            run alone: cargo test --test it -- --ignored replica::a_recovery_conflict"]
fn a_recovery_conflict_says_what_to_change() {
    if !local_clusters("a_recovery_conflict_says_what_to_change") {
        return;
    }
    let replica = Replica::get();
    // ~40 MB: more than the socket buffers hold, so the standby's COPY is
    // still running while the run is paused after its first batch.
    let source = replicated_source("standby_conflict", 200_000);
    let target = Pg::get().fresh_name("standby_conflict_target");
    let dir = rules_dir();
    let fp = Failpoint::new("copy.after_first_batch:public.big");
    let env = fp.env();
    let mut child = spawn(
        dir.path(),
        &[
            "sync",
            "--source",
            &replica.url(&source),
            "--target",
            &target.url,
            "--rules",
            "rules.yml",
            "--no-progress",
            "--jobs",
            "1",
        ],
        &env_refs(&env),
    );
    // A run that ends before the pause shows why.
    let announce = std::path::Path::new(
        &env.iter()
            .find(|(k, _)| *k == "ANONYMIZE_FAILPOINT_DIR")
            .unwrap()
            .1,
    )
    .join("copy.after_first_batch:public.big");
    while !announce.exists() {
        if child.try_wait().unwrap().is_some() {
            let run = wait(child);
            panic!("the run ended before the failpoint:\n{}", run.stderr);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // DBAs see who we are.
    let standby_admin = format!("postgresql://postgres@127.0.0.1:{}/postgres", replica.port);
    let ours = crate::harness::pg::query(
        &standby_admin,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'anonymize'",
            source.name
        ),
    );
    assert_ne!(
        ours[0][0].as_deref(),
        Some("0"),
        "application_name=anonymize"
    );

    // On the primary: new row versions, then VACUUM removes the old ones
    // that the standby's snapshot still sees. With the delay at 0 the
    // standby cancels our sessions to replay that.
    source.exec("UPDATE big SET payload = 'y' WHERE id <= 1000");
    source.exec("VACUUM big");
    wait_for_conflict(replica, &source.name);
    fp.resume();
    let run = wait(child).expect(1);
    eprint!("{}", run.stderr);
    assert!(
        run.stderr.contains("conflict with recovery"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hot_standby_feedback = on")
            && run.stderr.contains("max_standby_streaming_delay"),
        "{}",
        run.stderr
    );
    assert!(
        !Pg::get().exists(&target.name),
        "the target was not created"
    );
}

/// Waits until the standby has cancelled a session of `db` (its conflict
/// counter moved): a wait on a condition, not on time.
fn wait_for_conflict(replica: &Replica, db: &str) {
    let admin = format!("postgresql://postgres@127.0.0.1:{}/postgres", replica.port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let n = crate::harness::pg::query(
            &admin,
            &format!(
                "SELECT confl_snapshot FROM pg_stat_database_conflicts WHERE datname = '{db}'"
            ),
        );
        if n[0][0].as_deref().is_some_and(|v| v != "0") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the standby never cancelled the run's sessions"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
