//! A hot standby of the shared test server (`pg_basebackup -R`), started
//! once per test binary. Its recovery cancels conflicting reads at once
//! (`max_standby_streaming_delay = 0`, `hot_standby_feedback = off`), so
//! the tests can provoke a recovery conflict; fixtures used on it turn
//! autovacuum off so nothing else does.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anonymize::ephemeral::{Cluster, Setup};

use super::pg::{query, Db, Pg};

pub struct Replica {
    pub port: u16,
}

static REPLICA: OnceLock<Replica> = OnceLock::new();

impl Replica {
    pub fn get() -> &'static Replica {
        REPLICA.get_or_init(|| {
            let primary = Pg::get().url("postgres");
            let port: u16 = primary
                .rsplit_once(':')
                .and_then(|(_, rest)| rest.split('/').next())
                .and_then(|p| p.parse().ok())
                .expect("the shared server's port");
            let setup = Setup {
                settings: vec![
                    ("hot_standby".into(), "on".into()),
                    ("hot_standby_feedback".into(), "off".into()),
                    ("max_standby_streaming_delay".into(), "0".into()),
                ],
                standby_of: Some(port),
                ..Setup::default()
            };
            let cluster = Cluster::start_with(&setup).expect("start the hot standby");
            let replica = Replica {
                port: cluster.port(),
            };
            super::clusters::keep(cluster);
            replica
        })
    }

    /// `db` (made on the primary) as read on the standby.
    pub fn url(&self, db: &Db) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{}", self.port, db.name)
    }

    /// Waits until the standby has replayed everything the primary wrote
    /// so far: a wait on a condition, not on time.
    pub fn catch_up(&self) {
        let admin = Pg::get().url("postgres");
        // The insert position: with synchronous_commit = off a commit can
        // sit in WAL buffers past pg_current_wal_lsn() (the write position).
        let lsn = query(&admin, "SELECT pg_current_wal_insert_lsn()::text")[0][0]
            .clone()
            .unwrap();
        let standby = format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let done = query(
                &standby,
                &format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"),
            );
            if done[0][0].as_deref() == Some("t") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the standby never replayed {lsn}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
