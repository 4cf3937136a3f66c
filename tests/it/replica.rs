//! A hot standby as the source (issue 11): a sync from a streaming
//! replica, the standby's replay time in the report, `check`'s advance
//! warning, several hosts with `target_session_attrs`, and the message
//! when recovery cancels the copy.
//!
//! The standby (`harness/replica.rs`) follows a primary of its own, not
//! the shared server, and these tests run one at a time (see there why).
//! Fixture tables turn autovacuum off, so that only the conflict test's own
//! VACUUM removes rows a standby snapshot may need. Every wait on the
//! standby has a limit (`HANG`): a stuck replay fails the test, saying what
//! the standby waits on, instead of hanging the suite.

use crate::harness::clusters::local_clusters;
use crate::harness::replica::{Replica, HANG};
use crate::harness::{anonymize, env_refs, rules_dir, spawn, wait, wait_within, Db, Failpoint, Pg};

const RULES: &str = "version: 1\n\
tables:\n  public.people:\n    columns:\n      id: keep\n      email: { set: hidden@example.com }\n  \
public.big:\n    columns:\n      id: keep\n      payload: keep\n";

/// A database on the primary with `people` (3 rows) and `big` (`rows`
/// rows of 200 bytes), replayed on the standby.
fn replicated_source(test: &str, rows: u32) -> Db {
    let db = Replica::get().db(test);
    db.exec(&format!(
        "CREATE TABLE people (id int PRIMARY KEY, email text NOT NULL) WITH (autovacuum_enabled = off); \
         INSERT INTO people VALUES (1, 'ann@corp.example'), (2, 'bob@corp.example'), (3, 'cy@corp.example'); \
         CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL) WITH (autovacuum_enabled = off); \
         INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, {rows}) g;"
    ));
    Replica::get().catch_up();
    db
}

#[test]
fn sync_from_a_hot_standby_records_its_replay_time() {
    if !local_clusters("sync_from_a_hot_standby_records_its_replay_time") {
        return;
    }
    let replica = Replica::get();
    let _one = Replica::exclusive();
    let source = replicated_source("standby_sync", 10);
    let target = Pg::get().fresh_name("standby_sync_target");
    let dir = rules_dir(RULES);
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
fn several_hosts_pick_the_one_target_session_attrs_asks_for() {
    if !local_clusters("several_hosts_pick_the_one_target_session_attrs_asks_for") {
        return;
    }
    let replica = Replica::get();
    let _one = Replica::exclusive();
    let source = replicated_source("standby_hosts", 10);
    let dir = rules_dir(RULES);
    let hosts = replica.both(&source);
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
fn a_recovery_conflict_says_what_to_change() {
    if !local_clusters("a_recovery_conflict_says_what_to_change") {
        return;
    }
    let replica = Replica::get();
    let _one = Replica::exclusive();
    // ~40 MB: more than the socket buffers hold, so the standby's COPY is
    // still running while the run is paused after its first batch.
    let source = replicated_source("standby_conflict", 200_000);
    let target = Pg::get().fresh_name("standby_conflict_target");
    let dir = rules_dir(RULES);
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
    let deadline = std::time::Instant::now() + HANG;
    while !announce.exists() {
        if child.try_wait().unwrap().is_some() {
            let run = wait(child);
            panic!("the run ended before the failpoint:\n{}", run.stderr);
        }
        if std::time::Instant::now() > deadline {
            let activity = replica.activity();
            let _ = child.kill();
            panic!(
                "the run never reached the failpoint in {HANG:?}; standby activity:\n{activity}"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // DBAs see who we are.
    let ours = crate::harness::pg::query(
        &replica.admin(),
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

    // The standby backend running our COPY: blocked writing to the paused
    // run, it cannot act on a cancel until the run reads again.
    let copy = crate::harness::pg::query(
        &replica.admin(),
        &format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = '{}' AND state = 'active' \
             AND query ILIKE 'COPY%'",
            source.name
        ),
    );
    assert_eq!(copy.len(), 1, "one COPY running on the standby: {copy:?}");
    let copy = copy[0][0].clone().unwrap();

    // On the primary: new row versions, then VACUUM removes the old ones
    // that the standby's snapshot still sees. With the delay at 0 the
    // standby cancels our sessions to replay that.
    source.exec("UPDATE big SET payload = 'y' WHERE id <= 1000");
    source.exec("VACUUM big");
    wait_until_replay_cancels(replica, &copy);
    fp.resume();
    let run = wait_within(child, HANG, || replica.activity()).expect(1);
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
    let cancelled = crate::harness::pg::query(
        &replica.admin(),
        &format!(
            "SELECT confl_snapshot FROM pg_stat_database_conflicts WHERE datname = '{}'",
            source.name
        ),
    );
    assert_ne!(
        cancelled[0][0].as_deref(),
        Some("0"),
        "counted as a conflict"
    );
}

/// Waits until the standby's replay is stuck on the run's COPY backend
/// (`copy`, a pid): it has then sent that backend its cancel, which takes
/// effect as soon as the run reads again.
///
/// Why not wait for `pg_stat_database_conflicts` to move: replay cancels
/// the conflicting backends one at a time, in process-array order, and
/// waits for each to go. A backend blocked writing to a paused client only
/// acts on a cancel once it can write again, so when the COPY backend comes
/// first, no counter moves until the run resumes (the old test then hung
/// for two minutes and failed, depending on which backend came first).
/// `log_recovery_conflict_waits` names the backend replay waits on; the
/// ones listed before the COPY backend are gone once replay has moved on
/// to it. A COPY backend that was not blocked at that moment cancels at
/// once and is no longer active.
fn wait_until_replay_cancels(replica: &Replica, copy: &str) {
    let deadline = std::time::Instant::now() + HANG;
    loop {
        // Not blocked at that moment, the backend acted on the cancel at
        // once: its COPY is over (aborted), and the run will read why.
        let running = crate::harness::pg::query(
            &replica.admin(),
            &format!("SELECT 1 FROM pg_stat_activity WHERE pid = {copy} AND state = 'active'"),
        );
        if running.is_empty() {
            return;
        }
        let log = replica.log();
        let waiting: Option<Vec<String>> = log
            .split("recovery still waiting after")
            .skip(1)
            .filter(|w| w.contains("recovery conflict on snapshot"))
            .filter_map(|w| {
                let pids = w.split("Conflicting process").nth(1)?;
                let pids = pids.split_once(':')?.1.lines().next()?;
                Some(
                    pids.trim()
                        .trim_end_matches('.')
                        .split(',')
                        .map(|p| p.trim().to_string())
                        .collect(),
                )
            })
            .last();
        if let Some(pids) = waiting {
            if let Some(at) = pids.iter().position(|p| p == copy) {
                let before = &pids[..at];
                let alive = before.iter().any(|p| {
                    !crate::harness::pg::query(
                        &replica.admin(),
                        &format!("SELECT 1 FROM pg_stat_activity WHERE pid = {p}"),
                    )
                    .is_empty()
                });
                if !alive {
                    return;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replay never got stuck on the COPY backend {copy}; standby activity:\n{}",
            replica.activity()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
