//! A primary and its hot standby (`pg_basebackup -R`), started once per
//! test binary for the replica tests alone. Its recovery cancels
//! conflicting reads at once (`max_standby_streaming_delay = 0`,
//! `hot_standby_feedback = off`), so the tests can provoke a recovery
//! conflict; fixtures used on it turn autovacuum off so nothing else does.
//!
//! Why not a standby of the shared server: a `DROP DATABASE` replayed on a
//! standby waits until every backend of the standby has taken a signal
//! barrier, and a backend blocked writing COPY rows to a run paused at a
//! failpoint never takes it. Any test dropping a database on the shared
//! server (every sync replacing its target does) then stalled replay, and
//! the replica tests waited for the standby forever. Here the primary
//! holds the replica tests' sources only (their targets go to the shared
//! server), nothing drops a database on it, and `exclusive` runs the
//! replica tests one at a time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use anonymize::ephemeral::{Cluster, Setup};

use super::pg::{exec, query, Db};

pub struct Replica {
    /// The standby's port.
    pub port: u16,
    pub primary_port: u16,
    password: String,
    log: std::path::PathBuf,
}

static REPLICA: OnceLock<Replica> = OnceLock::new();
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How long a wait on the standby may take before it counts as a hang.
pub const HANG: Duration = Duration::from_secs(180);

impl Replica {
    pub fn get() -> &'static Replica {
        REPLICA.get_or_init(|| {
            let primary = Cluster::start_with(&super::clusters::setup())
                .expect("start the replica tests' primary");
            let setup = Setup {
                settings: vec![
                    ("hot_standby".into(), "on".into()),
                    ("hot_standby_feedback".into(), "off".into()),
                    ("max_standby_streaming_delay".into(), "0".into()),
                    // "recovery still waiting …: Conflicting process: PID"
                    // tells the conflict test whom replay is stuck on.
                    ("log_recovery_conflict_waits".into(), "on".into()),
                ],
                standby_of: Some(primary.as_primary()),
                ..super::clusters::setup()
            };
            let standby = Cluster::start_with(&setup).expect("start the hot standby");
            let replica = Replica {
                port: standby.port(),
                primary_port: primary.port(),
                password: primary.password().to_string(),
                log: standby.log_file(),
            };
            // Stopped last first: the standby before its primary.
            super::clusters::keep(primary);
            super::clusters::keep(standby);
            replica
        })
    }

    /// Holds the other replica tests off until dropped: none of them can
    /// then pause a standby backend while another waits for replay.
    pub fn exclusive() -> MutexGuard<'static, ()> {
        ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn url_on(&self, port: u16, db: &str) -> String {
        format!(
            "postgresql://postgres:{}@127.0.0.1:{port}/{db}",
            self.password
        )
    }

    /// A new empty database on the primary.
    pub fn db(&self, test: &str) -> Db {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}_{}_{}", test, std::process::id(), n);
        exec(
            &self.url_on(self.primary_port, "postgres"),
            &format!("CREATE DATABASE \"{name}\""),
        );
        Db {
            url: self.url_on(self.primary_port, &name),
            name,
        }
    }

    /// `db` (made on the primary) as read on the standby.
    pub fn url(&self, db: &Db) -> String {
        self.url_on(self.port, &db.name)
    }

    /// Both servers in one URL, primary first, for `target_session_attrs`.
    pub fn both(&self, db: &Db) -> String {
        format!(
            "postgresql://postgres:{}@127.0.0.1:{},127.0.0.1:{}/{}",
            self.password, self.primary_port, self.port, db.name
        )
    }

    /// The standby's maintenance database.
    pub fn admin(&self) -> String {
        self.url_on(self.port, "postgres")
    }

    /// The standby's server log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the standby's processes are waiting on, for a hang's message.
    pub fn activity(&self) -> String {
        query(
            &self.admin(),
            "SELECT backend_type || ' ' || coalesce(datname, '-') || ' ' || coalesce(state, '-') \
             || ' wait=' || coalesce(wait_event_type || ':' || wait_event, '-') \
             FROM pg_stat_activity ORDER BY 1",
        )
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
    }

    /// Waits until the standby has replayed everything the primary wrote
    /// so far: a wait on a condition, not on time. A standby that has not
    /// caught up after `HANG` is stuck, and the test fails saying on what.
    pub fn catch_up(&self) {
        // The insert position: with synchronous_commit = off a commit can
        // sit in WAL buffers past pg_current_wal_lsn() (the write position).
        let lsn = query(
            &self.url_on(self.primary_port, "postgres"),
            "SELECT pg_current_wal_insert_lsn()::text",
        )[0][0]
            .clone()
            .unwrap();
        let deadline = Instant::now() + HANG;
        loop {
            let done = query(
                &self.admin(),
                &format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"),
            );
            if done[0][0].as_deref() == Some("t") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the standby has not replayed {lsn} after {HANG:?}: replay is stuck.\n\
                 Standby activity:\n{}",
                self.activity()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
