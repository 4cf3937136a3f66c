//! Clusters some tests start besides the shared one: the TLS server and
//! the hot standby, each started once per test binary and stopped when the
//! binary exits (`keep`), and a test's own cluster with the settings it
//! needs, stopped when the test drops it (`OwnCluster`).

use std::path::PathBuf;
use std::sync::{Mutex, Once, OnceLock};

use anonymize::ephemeral::{Cluster, Setup};

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

/// The setup every test cluster starts from: its directory in memory
/// (`cluster_parent`).
pub fn setup() -> Setup {
    Setup {
        parent: cluster_parent(),
        ..Setup::default()
    }
}

/// Where test clusters keep their data: `ANONYMIZE_TEST_TMPDIR` if set,
/// else `/dev/shm` when it has room for the suite, else the temp dir.
/// On disk, the suite's ~2 GB of databases cost it most in the file system:
/// every `DROP DATABASE` of a swap, and removing the data directory at
/// exit, which took minutes on a disk mounted with `discard`.
fn cluster_parent() -> Option<PathBuf> {
    static PARENT: OnceLock<Option<PathBuf>> = OnceLock::new();
    PARENT
        .get_or_init(|| {
            if let Some(dir) = std::env::var_os("ANONYMIZE_TEST_TMPDIR") {
                return Some(PathBuf::from(dir));
            }
            let shm = PathBuf::from("/dev/shm");
            (available_bytes(&shm) >= 8 << 30).then_some(shm)
        })
        .clone()
}

/// Bytes an unprivileged writer may still use under `dir` (0 if unknown).
fn available_bytes(dir: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: statvfs writes only into `st`, and `path` is NUL-terminated.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(path.as_ptr(), &mut st) != 0 {
            return 0;
        }
        st.f_bavail as u64 * st.f_frsize as u64
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
        let setup = Setup {
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..setup()
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
