//! The test server: an ephemeral cluster started once per test binary (or
//! `ANONYMIZE_TEST_DATABASE_URL`), and a fresh database per test.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use anonymize::ephemeral::Cluster;
use tokio_postgres::NoTls;

/// The server every test of this binary uses.
pub struct Pg {
    /// URL template with `{db}` for the database name.
    base: String,
}

static CLUSTER: Mutex<Option<Cluster>> = Mutex::new(None);
static PG: OnceLock<Pg> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

extern "C" fn stop_cluster() {
    if let Ok(mut c) = CLUSTER.lock() {
        c.take();
    }
}

impl Pg {
    /// The shared server, started on first use.
    pub fn get() -> &'static Pg {
        PG.get_or_init(|| {
            if let Ok(url) = std::env::var("ANONYMIZE_TEST_DATABASE_URL") {
                return Pg {
                    base: url_template(&url),
                };
            }
            let cluster = Cluster::start_with(&super::clusters::setup())
                .expect("start an ephemeral PostgreSQL (initdb/pg_ctl)");
            let base = cluster.url("{db}");
            *CLUSTER.lock().unwrap() = Some(cluster);
            // SAFETY: registering a plain extern "C" function.
            unsafe { libc::atexit(stop_cluster) };
            Pg { base }
        })
    }

    /// The shared cluster's server log (`None` for a server given by
    /// `ANONYMIZE_TEST_DATABASE_URL`): what a test reads to see which
    /// statements the server ran, after `ALTER DATABASE … SET
    /// log_statement = 'all'` on its own database.
    pub fn server_log(&self) -> Option<std::path::PathBuf> {
        CLUSTER.lock().ok()?.as_ref().map(|c| c.log_file())
    }

    pub fn url(&self, db: &str) -> String {
        self.base.replace("{db}", db)
    }

    /// The superuser's password, which the harness's own clusters require
    /// over TCP (never `trust`); `None` for a given server without one.
    pub fn password(&self) -> Option<String> {
        let cfg: tokio_postgres::Config = self.url("postgres").parse().expect("the server URL");
        cfg.get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    }

    /// ` PASSWORD '…'` for a `CREATE ROLE` whose URL `Db::url_as` makes:
    /// test roles log in with the superuser's password.
    pub fn password_clause(&self) -> String {
        self.password()
            .map(|p| format!(" PASSWORD '{p}'"))
            .unwrap_or_default()
    }

    /// A new empty database named after the test.
    pub fn db(&self, test: &str) -> Db {
        self.create(test, "")
    }

    /// A new database named after the test, a copy of `template` (a file
    /// copy: no connection may be open on the template meanwhile).
    pub fn db_from_template(&self, test: &str, template: &str) -> Db {
        self.create(test, &format!(" TEMPLATE \"{template}\""))
    }

    fn create(&self, test: &str, options: &str) -> Db {
        let db = self.fresh_name(test);
        exec(
            &self.url("postgres"),
            &format!("CREATE DATABASE \"{}\"{options}", db.name),
        );
        db
    }

    /// A database name that does not exist yet (a sync target).
    pub fn fresh_name(&self, test: &str) -> Db {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}_{}_{}", test, std::process::id(), n);
        Db {
            url: self.url(&name),
            name,
        }
    }

    /// The maintenance database, for cluster-wide statements (roles).
    pub fn db_admin(&self) -> Db {
        Db {
            name: "postgres".into(),
            url: self.url("postgres"),
        }
    }

    /// A new empty database with exactly this name.
    pub fn db_named(&self, name: &str) -> Db {
        exec(
            &self.url("postgres"),
            &format!("CREATE DATABASE \"{name}\""),
        );
        Db {
            url: self.url(name),
            name: name.to_string(),
        }
    }

    /// Whether a database exists.
    pub fn exists(&self, name: &str) -> bool {
        !query(
            &self.url("postgres"),
            &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
        )
        .is_empty()
    }
}

/// `url` with its database path replaced by `{db}`: the authority ends at
/// the first `/` after `://` (a user may be named like the database), and
/// the query string stays.
fn url_template(url: &str) -> String {
    let authority = url.find("://").expect("a postgresql:// URL") + 3;
    let query = url.find('?').unwrap_or(url.len());
    let path = url[authority..query]
        .find('/')
        .map_or(query, |i| authority + i);
    format!("{}/{{db}}{}", &url[..path], &url[query..])
}

#[test]
fn the_test_url_template_replaces_the_path_not_a_user_of_the_same_name() {
    assert_eq!(
        url_template("postgresql://postgres@127.0.0.1:5432/postgres"),
        "postgresql://postgres@127.0.0.1:5432/{db}"
    );
    assert_eq!(
        url_template("postgresql://postgres@127.0.0.1:5432?sslmode=disable"),
        "postgresql://postgres@127.0.0.1:5432/{db}?sslmode=disable"
    );
    assert_eq!(
        url_template("postgres://u:p@h/app?host=/run/pg"),
        "postgres://u:p@h/{db}?host=/run/pg"
    );
}

/// A test database.
#[derive(Clone)]
pub struct Db {
    pub name: String,
    pub url: String,
}

impl Db {
    /// This database's URL as `role` (made with `Pg::password_clause`).
    pub fn url_as(&self, role: &str) -> String {
        let (scheme, rest) = self.url.split_once("://").expect("a postgresql:// URL");
        let (user, host) = rest.split_once('@').expect("a URL with user@host");
        let password = user
            .split_once(':')
            .map(|(_, p)| format!(":{p}"))
            .unwrap_or_default();
        format!("{scheme}://{role}{password}@{host}")
    }

    pub fn exec(&self, sql: &str) {
        exec(&self.url, sql)
    }

    /// Rows as text (NULL as `None`).
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        query(&self.url, sql)
    }

    /// The single value of a query, NULL as "NULL".
    pub fn value(&self, sql: &str) -> String {
        let rows = self.query(sql);
        assert_eq!(rows.len(), 1, "expected one row from {sql}");
        rows[0][0].clone().unwrap_or_else(|| "NULL".into())
    }

    /// A column's values, NULL as "NULL".
    pub fn column(&self, sql: &str) -> Vec<String> {
        self.query(sql)
            .into_iter()
            .map(|r| r[0].clone().unwrap_or_else(|| "NULL".into()))
            .collect()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs SQL (several statements allowed).
pub fn exec(url: &str, sql: &str) {
    runtime().block_on(async {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
        tokio::spawn(conn);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{e:?}\nwhile running:\n{sql}"));
    })
}

/// Runs a query; every value is cast to text by the simple protocol.
pub fn query(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    runtime().block_on(async {
        let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
        tokio::spawn(conn);
        let msgs = client
            .simple_query(sql)
            .await
            .unwrap_or_else(|e| panic!("{e:?}\nwhile running:\n{sql}"));
        msgs.into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).map(|s| s.to_string()))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    })
}

/// An open, idle session on a database, as an application would hold one;
/// closed when dropped.
pub struct Session {
    _client: tokio_postgres::Client,
    _runtime: tokio::runtime::Runtime,
}

impl Session {
    pub fn open(url: &str) -> Session {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let client = runtime.block_on(async {
            let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
            tokio::spawn(conn);
            client
        });
        Session {
            _client: client,
            _runtime: runtime,
        }
    }

    /// Runs SQL in this session (its transaction state stays with it).
    pub fn exec(&self, sql: &str) {
        self._runtime
            .block_on(self._client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{e:?}\nwhile running:\n{sql}"));
    }

    /// Runs SQL in this session and returns the SQLSTATE it failed with.
    pub fn exec_err(&self, sql: &str) -> String {
        match self._runtime.block_on(self._client.batch_execute(sql)) {
            Ok(()) => panic!("expected an error from:\n{sql}"),
            Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_default(),
        }
    }
}
