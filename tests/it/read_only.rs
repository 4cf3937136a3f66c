//! "The source is never written to (read-only transaction, no temporary
//! tables)": every command that reads a source (`sync`, `sync --subset`,
//! `sync --dry-run`, `export`, `check`, `init`, `verify`) runs against a
//! source on a cluster of its own, and afterwards:
//!
//! - nothing was written anywhere in that cluster: its WAL insert position
//!   and next transaction id are unchanged (any row, temporary table,
//!   sequence step or catalog change moves both), and so are the source's
//!   row counters and relations;
//! - the server's log of every statement (`log_statement = all`) shows
//!   each of the run's source sessions reading inside `READ ONLY`
//!   transactions only, and nothing outside them but `SET`, `SHOW` and
//!   `SELECT`s that read no table.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::harness::clusters::OwnCluster;
use crate::harness::{anonymize, Db, Pg};
use crate::sync::{fixtures, SECRET};

/// The role the runs read the source as: the server logs its statements
/// under this name, apart from the harness's own (`postgres`).
const READER: &str = "anonymize_reader";

/// What a write anywhere in the cluster would change.
fn write_traces(admin: &Db, source: &Db) -> Vec<String> {
    let mut out = admin.column(
        "SELECT 'wal insert position ' || pg_current_wal_insert_lsn() \
         UNION ALL SELECT 'next transaction id ' || pg_snapshot_xmax(pg_current_snapshot()) \
         UNION ALL SELECT 'databases ' || count(*) || ', newest oid ' || max(oid) FROM pg_database",
    );
    out.extend(source.column(
        "SELECT 'relations ' || count(*) || ', newest oid ' || max(oid) FROM pg_class \
         UNION ALL SELECT 'temporary schemas ' || count(*) FROM pg_namespace WHERE nspname LIKE 'pg_temp%' \
         UNION ALL SELECT 'rows written ' || tup_inserted || '/' || tup_updated || '/' || tup_deleted \
           FROM pg_stat_database WHERE datname = current_database()",
    ));
    out.extend(source.column(
        "SELECT relname || ' ins/upd/del ' || n_tup_ins || '/' || n_tup_upd || '/' || n_tup_del \
         FROM pg_stat_user_tables ORDER BY 1",
    ));
    out
}

/// Waits until the runs' sessions have ended on the server (a backend
/// ends a moment after its client), so that the statistics they flush on
/// exit are in. A condition, bounded by minutes.
fn wait_for_sessions_to_end(admin: &Db) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = admin.value(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{READER}'"
        ));
        if left == "0" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{left} session(s) of the run still open on the source two minutes after it ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One logged statement of one session.
struct Logged {
    session: String,
    text: String,
}

/// The statements the server logged for `user` (`log_line_prefix` is
/// `%c|%u|%d|`), in order; a simple query of several statements is split
/// into them.
fn statements_of(log: &str, user: &str) -> Vec<Logged> {
    let mut entries: Vec<(String, String, String)> = Vec::new();
    for line in log.lines() {
        if let Some(more) = line.strip_prefix('\t') {
            if let Some(last) = entries.last_mut() {
                last.2.push('\n');
                last.2.push_str(more);
            }
            continue;
        }
        let mut parts = line.splitn(4, '|');
        let (Some(session), Some(u), Some(_db), Some(rest)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        entries.push((session.to_string(), u.to_string(), rest.to_string()));
    }
    let mut out = Vec::new();
    for (session, u, rest) in entries {
        if u != user {
            continue;
        }
        let sql = if let Some(s) = rest.strip_prefix("LOG:  statement: ") {
            s
        } else if let Some(s) = rest.strip_prefix("LOG:  execute ") {
            // "execute <unnamed>: SELECT …" (the extended protocol)
            match s.split_once(": ") {
                Some((_, sql)) => sql,
                None => continue,
            }
        } else {
            continue;
        };
        for text in split_statements(sql) {
            out.push(Logged {
                session: session.clone(),
                text,
            });
        }
    }
    out
}

/// Splits SQL at `;` outside quotes and comments.
fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                current.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                current.push(c);
            }
            None if c == '-' && chars.peek() == Some(&'-') => {
                // A comment runs to the end of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                current.push('\n');
            }
            None if c == ';' => out.push(std::mem::take(&mut current)),
            None => current.push(c),
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Where a session stands between its statements.
#[derive(Clone, Copy, PartialEq)]
enum Txn {
    /// Autocommit: each statement its own transaction.
    None,
    /// Inside a transaction declared `READ ONLY`.
    ReadOnly,
    /// `BEGIN` without `READ ONLY`: the next statement must make it so
    /// (`SET TRANSACTION … READ ONLY`, as pg_dump does).
    Undeclared,
}

/// What the sessions did: every statement that broke the rule, and how
/// many sessions and statements read inside a READ ONLY transaction (so
/// that a log the scan cannot read fails instead of passing).
#[derive(Default)]
struct Scan {
    violations: Vec<String>,
    read_only_sessions: usize,
    statements_read_only: usize,
    copies_read_only: usize,
}

fn scan(statements: &[Logged]) -> Scan {
    let mut state: BTreeMap<&str, Txn> = BTreeMap::new();
    let mut sessions = std::collections::BTreeSet::new();
    let mut read_only_sessions = std::collections::BTreeSet::<&str>::new();
    let mut scan = Scan::default();
    for s in statements {
        let upper = s.text.to_uppercase();
        let word = |w: &str| upper.starts_with(w);
        sessions.insert(s.session.as_str());
        let txn = state.entry(&s.session).or_insert(Txn::None);
        if word("BEGIN") || word("START TRANSACTION") {
            *txn = if upper.contains("READ ONLY") {
                Txn::ReadOnly
            } else {
                Txn::Undeclared
            };
        } else if word("SET TRANSACTION") && upper.contains("READ ONLY") {
            if *txn == Txn::Undeclared {
                *txn = Txn::ReadOnly;
            }
        } else if word("COMMIT") || word("END") || word("ROLLBACK") || word("ABORT") {
            *txn = Txn::None;
        } else if upper.contains("READ_ONLY") || upper.contains("READ WRITE") {
            scan.violations.push(format!(
                "session {}: changes the read-only setting: {}",
                s.session, s.text
            ));
        } else {
            match *txn {
                Txn::ReadOnly => {
                    read_only_sessions.insert(&s.session);
                    scan.statements_read_only += 1;
                    if word("COPY") {
                        scan.copies_read_only += 1;
                    }
                }
                Txn::Undeclared => scan.violations.push(format!(
                    "session {}: runs in a transaction that is not READ ONLY: {}",
                    s.session, s.text
                )),
                // Session settings, and probes that read no table
                // (pg_dump's set_config from pg_settings among them).
                Txn::None
                    if word("SET ")
                        || word("SHOW ")
                        || (word("SELECT ")
                            && (!upper.contains(" FROM ")
                                || upper.contains(" FROM PG_SETTINGS "))) => {}
                Txn::None => scan.violations.push(format!(
                    "session {}: runs outside a READ ONLY transaction: {}",
                    s.session, s.text
                )),
            }
        }
    }
    for s in sessions {
        if !read_only_sessions.contains(s) {
            scan.violations.push(format!(
                "session {s}: never read inside a READ ONLY transaction"
            ));
        }
    }
    scan.read_only_sessions = read_only_sessions.len();
    scan
}

#[test]
fn no_command_writes_to_the_source_and_every_session_reads_read_only() {
    let own = OwnCluster::start(&[
        ("log_statement", "all"),
        ("log_line_prefix", "'%c|%u|%d|'"),
        // Nothing in the background writes WAL or takes a transaction id:
        // no standby snapshots (minimal WAL), no autovacuum.
        ("wal_level", "minimal"),
        ("max_wal_senders", "0"),
        ("autovacuum", "off"),
    ]);
    let admin = own.admin();
    admin.exec(&format!(
        "CREATE ROLE {READER} LOGIN SUPERUSER PASSWORD '{}'",
        own.password()
    ));
    let source = own.db("ro_src");
    source.exec(&std::fs::read_to_string(fixtures().join("app.sql")).unwrap());
    // Dead rows pruned (the catalogs' too, ANALYZE's included) and
    // everything on disk, so that reading a page later has nothing left to
    // tidy: pruning on access writes WAL.
    source.exec("ANALYZE");
    source.exec("VACUUM");
    admin.exec("CHECKPOINT");
    let reader = source.url_as(READER);

    // Targets live on the shared server: only the runs' reads reach `own`.
    let target = Pg::get().fresh_name("ro_dst");
    let work = tempfile::tempdir().unwrap();
    let fixture_sql = work.path().join("fixture.sql");
    let init_out = work.path().join("rules");
    let rules = fixtures().join("app.yml");
    let (fixture_sql, init_out, rules) = (
        fixture_sql.to_str().unwrap(),
        init_out.to_str().unwrap(),
        rules.to_str().unwrap(),
    );
    let sync =
        |extra: &[&'static str]| crate::harness::sync_args(&reader, &target.url, rules, extra);
    let commands: Vec<(&str, Vec<&str>)> = vec![
        ("sync", sync(&[])),
        ("sync --subset", sync(&["--subset", "10%"])),
        ("sync --dry-run", sync(&["--dry-run"])),
        (
            "export",
            vec![
                "export",
                "--source",
                &reader,
                "--rules",
                rules,
                "--no-progress",
                "--out",
                fixture_sql,
            ],
        ),
        (
            "check",
            vec!["check", "--source", &reader, "--rules", rules],
        ),
        ("init", vec!["init", "--source", &reader, "--out", init_out]),
        (
            "verify",
            vec![
                "verify",
                "--source",
                &reader,
                "--target",
                &target.url,
                "--rules",
                rules,
            ],
        ),
    ];

    let mut before = write_traces(&admin, &source);
    for (name, args) in commands {
        let logged_before = own.log().len();
        let run = anonymize(&fixtures(), &args, &[("ANONYMIZE_SECRET", SECRET)]).expect(0);
        wait_for_sessions_to_end(&admin);

        let after = write_traces(&admin, &source);
        if after != before {
            eprintln!(
                "what `{name}` wrote:\n{}",
                own.wal_between(&before[0], &after[0])
            );
        }
        assert_eq!(after, before, "`{name}` wrote to the source's cluster");
        before = after;

        let log = own.log();
        let scan = scan(&statements_of(&log[logged_before..], READER));
        assert!(
            scan.violations.is_empty(),
            "`{name}` ran on the source outside READ ONLY transactions:\n{}",
            scan.violations.join("\n")
        );
        assert!(
            scan.read_only_sessions > 0 && scan.statements_read_only > 0,
            "`{name}`: no statement of the run was found in the server's log \
             (the scan cannot read it?):\n{}",
            &log[logged_before..]
        );
        if name == "sync" || name == "export" || name == "sync --subset" {
            assert!(
                scan.copies_read_only > 0,
                "`{name}` read no rows inside a READ ONLY transaction:\n{}",
                run.stderr
            );
        }
    }
}

#[test]
fn the_scan_sees_a_write_and_a_session_that_is_not_read_only() {
    let log = "\
a|anonymize_reader|src|LOG:  statement: SET row_security = off; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY
a|anonymize_reader|src|LOG:  execute <unnamed>: COPY (SELECT 'a;b' FROM t) TO STDOUT
a|anonymize_reader|src|LOG:  statement: COMMIT
b|anonymize_reader|src|LOG:  statement: BEGIN
b|anonymize_reader|src|LOG:  statement: SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY
b|anonymize_reader|src|LOG:  statement: SELECT 1
c|anonymize_reader|src|LOG:  statement: BEGIN ISOLATION LEVEL REPEATABLE READ
c|anonymize_reader|src|LOG:  execute <unnamed>: COPY t TO STDOUT
d|anonymize_reader|src|LOG:  statement: CREATE TEMP TABLE x (
\ti int)
d|anonymize_reader|src|LOG:  statement: SELECT set_config(name, 'x', false) FROM pg_settings WHERE name = 'y'
d|anonymize_reader|src|LOG:  statement: SELECT count(*) FROM customers
e|postgres|src|LOG:  statement: CREATE TABLE y (i int)
";
    let scan = scan(&statements_of(log, READER));
    assert_eq!(scan.read_only_sessions, 2);
    assert_eq!(scan.copies_read_only, 1);
    assert_eq!(
        scan.violations,
        vec![
            "session c: runs in a transaction that is not READ ONLY: COPY t TO STDOUT",
            "session d: runs outside a READ ONLY transaction: CREATE TEMP TABLE x (\ni int)",
            "session d: runs outside a READ ONLY transaction: SELECT count(*) FROM customers",
            "session c: never read inside a READ ONLY transaction",
            "session d: never read inside a READ ONLY transaction",
        ]
    );
}
