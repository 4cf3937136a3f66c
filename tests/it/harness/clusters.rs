//! Clusters some tests start besides the shared one: the TLS server and
//! the hot standby, each started once per test binary and stopped when the
//! binary exits (`keep`), and a test's own cluster with the settings it
//! needs, stopped when the test drops it (`OwnCluster`).

use std::sync::{Mutex, Once};

use anonymize::ephemeral::Cluster;

static EXTRA: Mutex<Vec<Cluster>> = Mutex::new(Vec::new());
static REGISTER: Once = Once::new();

extern "C" fn stop_extra() {
    if let Ok(mut clusters) = EXTRA.lock() {
        // Last started first: a standby stops before its primary.
        while let Some(c) = clusters.pop() {
            drop(c);
        }
    }
}

/// Keeps `cluster` running until the test binary exits.
pub fn keep(cluster: Cluster) {
    REGISTER.call_once(|| {
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(stop_extra) };
    });
    EXTRA.lock().unwrap().push(cluster);
}

/// Whether tests may start clusters of their own: not when the suite runs
/// against a server given by `ANONYMIZE_TEST_DATABASE_URL` (no local
/// server binaries, or a primary we cannot replicate from).
pub fn local_clusters(test: &str) -> bool {
    let ok = std::env::var_os("ANONYMIZE_TEST_DATABASE_URL").is_none();
    if !ok {
        eprintln!("{test}: skipped, ANONYMIZE_TEST_DATABASE_URL is set and this test starts its own cluster");
    }
    ok
}

/// A cluster of one test's own, with extra server settings: for tests that
/// read what the whole cluster did (its WAL position, the next transaction
/// id, a log of every statement), which the other tests' work on the
/// shared server would disturb. Stopped when dropped.
pub struct OwnCluster {
    cluster: Cluster,
    counter: std::sync::atomic::AtomicU32,
}

impl OwnCluster {
    /// Starts one with `settings` (`name`, `value`). pg_ctl hands the
    /// server's command line to a shell: single-quote a value that holds
    /// spaces or shell characters (`'%c|%u|'`).
    pub fn start(settings: &[(&str, &str)]) -> OwnCluster {
        let setup = anonymize::ephemeral::Setup {
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        OwnCluster {
            cluster: Cluster::start_with(&setup).expect("start a test's own cluster"),
            counter: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// The maintenance database, as the superuser.
    pub fn admin(&self) -> super::Db {
        super::Db {
            name: "postgres".into(),
            url: self.cluster.url("postgres"),
        }
    }

    /// A new empty database named after the test.
    pub fn db(&self, test: &str) -> super::Db {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{test}_{}_{n}", std::process::id());
        self.admin().exec(&format!("CREATE DATABASE \"{name}\""));
        super::Db {
            url: self.cluster.url(&name),
            name,
        }
    }

    /// The superuser's password (test roles log in with it).
    pub fn password(&self) -> &str {
        self.cluster.password()
    }

    /// What the server wrote to its WAL between two positions
    /// (`pg_waldump`), for the message of a test that expected nothing.
    pub fn wal_between(&self, from: &str, to: &str) -> String {
        // Flush what sits in the WAL buffers, so pg_waldump can read it.
        self.admin().exec("CHECKPOINT");
        let lsn = |s: &str| s.rsplit(' ').next().unwrap_or_default().to_string();
        let waldump = anonymize::ephemeral::find_server_bin()
            .map(|b| b.join("pg_waldump"))
            .unwrap_or_default();
        // `Cluster` keeps its data directory beside the socket.
        let wal = self.cluster.socket_dir().join("data/pg_wal");
        match std::process::Command::new(&waldump)
            .arg("-p")
            .arg(&wal)
            .args(["-s", &lsn(from), "-e", &lsn(to)])
            .output()
        {
            Ok(out) => format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => format!("({} did not run: {e})", waldump.display()),
        }
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.cluster.log_file()).unwrap_or_default()
    }
}
