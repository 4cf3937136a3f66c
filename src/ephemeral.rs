//! A throwaway PostgreSQL cluster from `initdb`/`pg_ctl`, for `demo` and
//! the tests: in a temporary directory, listening on loopback only, with
//! durability off (nothing in it is worth an fsync), stopped on drop.
//!
//! Nobody else on the machine may get in: the Unix socket sits in the
//! cluster's private directory (mode 0700), and over TCP the server asks
//! for `postgres`'s password (scram), a random one made at start. Never
//! `trust` over TCP, where any local user could connect as superuser.
//!
//! initdb refuses to run as root, so as root the server runs as the
//! `postgres` user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

/// A running cluster; stopped and deleted when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    run_as: Option<(u32, u32)>,
    stopped: bool,
    password: String,
}

/// The primary a standby streams from: reached through its private
/// socket directory, so replication needs no password.
#[derive(Clone)]
pub struct Primary {
    pub socket_dir: PathBuf,
    pub port: u16,
    /// The standby copies the primary's roles, so its password too.
    pub password: String,
}

/// `/usr/lib/postgresql/*/bin` (and `/usr/local/pgsql/bin`), newest first.
pub fn versioned_bin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let v: u32 = e.file_name().to_str()?.parse().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    let mut out: Vec<PathBuf> = dirs.into_iter().map(|(_, d)| d).collect();
    out.push(PathBuf::from("/usr/local/pgsql/bin"));
    out
}

/// The directory holding `initdb` and `pg_ctl`: PATH first, then the
/// versioned Debian/Ubuntu directories.
pub fn find_server_bin() -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(versioned_bin_dirs());
    dirs.into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
        // A PATH entry may hold symlinks to the real bin directory (e.g.
        // /usr/local/bin/initdb); the real one also has psql and pg_dump.
        .map(|d| {
            std::fs::canonicalize(d.join("initdb"))
                .ok()
                .and_then(|p| p.parent().map(PathBuf::from))
                .unwrap_or(d)
        })
        .ok_or_else(|| {
            anyhow!(
                "initdb and pg_ctl were not found on PATH or under /usr/lib/postgresql/*/bin; \
                 install the PostgreSQL server (e.g. apt-get install postgresql)"
            )
        })
}

fn postgres_user_ids() -> Result<(u32, u32)> {
    let name = std::ffi::CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam returns a pointer to static storage or NULL; we read
    // two integers from it at once, before any other call could reuse it.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        bail!("running as root, and there is no `postgres` user to run the server as; create one (useradd -r postgres) or run as another user");
    }
    // SAFETY: checked non-null above.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// 24 random bytes from the kernel, in hex: the superuser's password.
fn random_password() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for the cluster's password")?;
    Ok(crate::hex::lower(&bytes))
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(l.local_addr()?.port())
}

/// Extra setup for a cluster: the tests' TLS server and hot standby.
#[derive(Default)]
pub struct Setup {
    /// `-c name=value` server settings.
    pub settings: Vec<(String, String)>,
    /// Replaces `pg_hba.conf`.
    pub hba: Option<String>,
    /// Files written into the data directory (certificates and keys),
    /// readable by the server only.
    pub files: Vec<(String, Vec<u8>)>,
    /// Make the cluster a streaming standby of this server
    /// (`pg_basebackup -R`) instead of running initdb.
    pub standby_of: Option<Primary>,
    /// The directory the cluster's own directory is made in; the system's
    /// temporary directory if `None`.
    pub parent: Option<PathBuf>,
}

impl Cluster {
    /// initdb + start. Takes a second or two.
    pub fn start() -> Result<Cluster> {
        Cluster::start_with(&Setup::default())
    }

    /// Like `start`, with extra settings, files, or as a standby.
    pub fn start_with(setup: &Setup) -> Result<Cluster> {
        let bin = find_server_bin()?;
        // SAFETY: geteuid has no preconditions.
        let run_as = if unsafe { libc::geteuid() } == 0 {
            Some(postgres_user_ids()?)
        } else {
            None
        };
        let parent = setup.parent.clone().unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix("anonymize-pg-")
            .tempdir_in(&parent)
            .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
        // The socket's directory: private, whatever the umask.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                .context("making the cluster directory private")?;
        }
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .context("handing the cluster directory to postgres")?;
        }
        let password = match &setup.standby_of {
            Some(primary) => primary.password.clone(),
            None => random_password()?,
        };
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            run_as,
            stopped: true,
            password,
        };
        let data = cluster.data_dir();
        match &setup.standby_of {
            None => {
                // Trust on the private socket only; a password over TCP.
                let pwfile = cluster.dir.path().join("pwfile");
                cluster.write_private(&pwfile, cluster.password.as_bytes())?;
                let made = cluster.run(
                    "initdb",
                    &[
                        "-D",
                        data.to_str().unwrap_or_default(),
                        "-U",
                        "postgres",
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        "--pwfile",
                        pwfile.to_str().unwrap_or_default(),
                        "-E",
                        "UTF8",
                        "--locale=C",
                        "--no-sync",
                    ],
                );
                let _ = std::fs::remove_file(&pwfile);
                made?
            }
            Some(primary) => {
                let host = primary.socket_dir.to_str().unwrap_or_default();
                let port = primary.port;
                // A replication slot, made before the backup starts, keeps
                // the primary's WAL until the standby has it: a busy
                // primary would otherwise recycle it first.
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .subsec_nanos();
                let slot = format!("anonymize_standby_{}_{nanos}", std::process::id());
                // Made and reserving WAL before the backup starts: with
                // pg_basebackup -C it would come after, and a checkpoint in
                // between (a DROP DATABASE makes one) can remove the start.
                cluster.run(
                    "psql",
                    &[
                        "-h",
                        host,
                        "-p",
                        &port.to_string(),
                        "-U",
                        "postgres",
                        "-d",
                        "postgres",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "-c",
                        &format!("SELECT pg_create_physical_replication_slot('{slot}', true)"),
                    ],
                )?;
                cluster.run(
                    "pg_basebackup",
                    &[
                        "-D",
                        data.to_str().unwrap_or_default(),
                        "-h",
                        host,
                        "-p",
                        &port.to_string(),
                        "-U",
                        "postgres",
                        "-R",
                        "-X",
                        "stream",
                        "-S",
                        &slot,
                        // The backup starts at a checkpoint; a spread one
                        // is paced over checkpoint_timeout (30 min here),
                        // so the standby would take that long to start.
                        "--checkpoint=fast",
                        "--no-sync",
                    ],
                )?
            }
        }
        cluster.write_files(setup)?;
        let mut last = None;
        for _ in 0..5 {
            cluster.port = free_port()?;
            let mut opts = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=200 -c shared_buffers=128MB \
                 -c max_wal_size=2GB -c checkpoint_timeout=30min",
                cluster.port,
                cluster.dir.path().display()
            );
            for (name, value) in &setup.settings {
                opts.push_str(&format!(" -c {name}={value}"));
            }
            let log = cluster.dir.path().join("server.log");
            match cluster.run(
                "pg_ctl",
                &[
                    "-D",
                    data.to_str().unwrap_or_default(),
                    "-l",
                    log.to_str().unwrap_or_default(),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    &opts,
                    "start",
                ],
            ) {
                Ok(()) => {
                    cluster.stopped = false;
                    return Ok(cluster);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("tried")).context(format!("log: {}", cluster.log_tail()))
    }

    /// Writes `pg_hba.conf` and the extra files, owned by the server's
    /// user and readable by it only (the server refuses a key others can
    /// read).
    fn write_files(&self, setup: &Setup) -> Result<()> {
        let mut files: Vec<(&str, &[u8])> = setup
            .files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        if let Some(hba) = &setup.hba {
            files.push(("pg_hba.conf", hba.as_bytes()));
        }
        for (name, bytes) in files {
            self.write_private(&self.data_dir().join(name), bytes)?;
        }
        Ok(())
    }

    /// Writes a file readable by the server's user only.
    fn write_private(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("writing {}", path.display()))?;
        std::io::Write::write_all(&mut file, bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
        }
        Ok(())
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.current_dir(self.dir.path());
        // The server (and, as root, the `postgres` OS user) gets none of
        // our environment, `ANONYMIZE_SECRET` and the URLs' passwords
        // included: only what finds its tools and sets its locale and zone.
        cmd.env_clear();
        for (k, v) in std::env::vars_os() {
            if k.to_str()
                .is_some_and(|k| matches!(k, "PATH" | "LANG" | "TZ") || k.starts_with("LC_"))
            {
                cmd.env(k, v);
            }
        }
        if let Some((uid, gid)) = self.run_as {
            use std::os::unix::process::CommandExt;
            cmd.uid(uid).gid(gid);
        }
        let out = cmd.output().with_context(|| format!("running {tool}"))?;
        if !out.status.success() {
            bail!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(())
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bin directory of this server (psql, pg_dump of the same version).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// A URL for database `db` as the superuser `postgres`, over TCP with
    /// the cluster's password (hex: nothing to escape).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres:{}@127.0.0.1:{}/{db}",
            self.password, self.port
        )
    }

    /// The superuser's password, for roles and URLs the tests make.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// How a standby of this cluster reaches it.
    pub fn as_primary(&self) -> Primary {
        Primary {
            socket_dir: self.dir.path().to_path_buf(),
            port: self.port,
            password: self.password.clone(),
        }
    }

    /// Stops the server now (also done on drop).
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let data = self.data_dir();
        let _ = self.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap_or_default(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
