//! The target database's life cycle: the run's lock, preflight, a fresh
//! `<target>__next` database marked as ours, the checks before it may go
//! live (row counts, foreign keys), then an atomic rename over the old
//! target. The rows themselves go in through `sink::postgres`; the schema
//! around them through `target::schema` (pre-data) and `post_data`, and
//! `target::finish` sets sequences and materialized views at the end.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::conn::ConnInfo;
use crate::error::{PgResultExt, UsageError};
use crate::plan::TablePlan;
use crate::sql::{quote_ident, quote_literal};

pub mod finish;
pub mod schema;

/// Session settings for every target connection: the load is rebuilt from
/// scratch if the server crashes, so durability per commit buys nothing.
pub const TARGET_SETTINGS: &str = "SET synchronous_commit = off; \
    SET statement_timeout = 0; \
    SET lock_timeout = 0; \
    SET idle_in_transaction_session_timeout = 0; \
    SET maintenance_work_mem = '512MB'; \
    SET DateStyle = 'ISO, MDY'; \
    SET IntervalStyle = 'postgres'; \
    SET TimeZone = 'UTC'; \
    SET extra_float_digits = 3";

/// The comment that marks a database as made by anonymize, so a later run
/// may replace it without `--force`.
const MARKER: &str = "anonymize:";

/// How long the swap waits for sessions on the old target to go away
/// before it calls the target busy.
const SESSION_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Opens a target connection with the target settings.
pub async fn connect(info: &ConnInfo) -> Result<Client> {
    let client = crate::conn::connect_named(info, "target").await?;
    client
        .batch_execute(TARGET_SETTINGS)
        .await
        .pg_context(|| "configuring a target session".into())?;
    Ok(client)
}

/// The target server, seen from its maintenance database.
pub struct TargetServer {
    pub info: ConnInfo,
    /// Connection to the maintenance database (`postgres`), which holds the
    /// run's advisory lock for as long as it lives.
    pub admin: Client,
    pub target: String,
    pub next: String,
    pub previous: String,
}

/// What the target database currently is.
#[derive(Debug, PartialEq, Eq)]
pub enum TargetState {
    Missing,
    /// Exists, made by an earlier run.
    Ours,
    /// Exists and holds no relation or large object.
    Empty,
    /// Exists, holds relations or large objects, and was not made by
    /// anonymize.
    Foreign {
        objects: i64,
    },
}

impl TargetServer {
    /// Connects to the target server's maintenance database.
    pub async fn connect(info: &ConnInfo) -> Result<TargetServer> {
        let target = info.dbname().to_string();
        if target.len() > 57 {
            return Err(UsageError::new(format!(
                "the target database name `{target}` is too long to build `{target}__next` (63 bytes at most)"
            ))
            .into());
        }
        let mut last_err = None;
        for maintenance in ["postgres", "template1"] {
            match info
                .with_dbname(maintenance)
                .connect("anonymize (target admin)")
                .await
            {
                Ok(admin) => {
                    return Ok(TargetServer {
                        info: info.clone(),
                        admin,
                        next: format!("{target}__next"),
                        previous: format!("{target}__prev"),
                        target,
                    })
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.expect("tried at least once")).context(
            "the target server is not reachable through its `postgres` database; check --target",
        )
    }

    /// Takes the per-target advisory lock: one run at a time per target.
    pub async fn lock(&self) -> Result<()> {
        let got: bool = self
            .admin
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended('anonymize:' || $1, 0))",
                &[&self.target],
            )
            .await
            .pg_context(|| "taking the target lock".into())?
            .get(0);
        if !got {
            return Err(anyhow::anyhow!(
                "another anonymize run is loading {} right now; wait for it to finish (this run changed nothing)",
                self.info.redacted()
            ));
        }
        Ok(())
    }

    /// Inspects the target database.
    pub async fn state(&self) -> Result<TargetState> {
        let row = self
            .admin
            .query_opt(
                "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $1",
                &[&self.target],
            )
            .await
            .pg_context(|| "inspecting the target database".into())?;
        let Some(row) = row else {
            return Ok(TargetState::Missing);
        };
        let comment: String = row.get(0);
        if comment.starts_with(MARKER) {
            return Ok(TargetState::Ours);
        }
        let objects = self.user_objects(&self.target).await?;
        Ok(if objects == 0 {
            TargetState::Empty
        } else {
            TargetState::Foreign { objects }
        })
    }

    /// How many objects a user made (tables, views, sequences, foreign
    /// tables, large objects) database `dbname` holds. Anything counts, not
    /// only tables: a database holding just a materialized view, a
    /// sequence or large objects is someone's.
    async fn user_objects(&self, dbname: &str) -> Result<i64> {
        let client = self
            .info
            .with_dbname(dbname)
            .connect("anonymize (target check)")
            .await?;
        Ok(client
            .query_one(
                "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'm', 'v', 'S', 'f') \
                 AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%') \
                 + (SELECT count(*) FROM pg_largeobject_metadata)",
                &[],
            )
            .await
            .pg_context(|| format!("counting the objects of database {dbname}"))?
            .get(0))
    }

    /// Checks, before anything is written, everything that would otherwise
    /// fail only at the end of a long load: the role may create databases,
    /// it may rename and drop the target, a target made by someone else is
    /// not replaced without `--force`, and the names `<target>__next` and
    /// `<target>__prev` are not held by databases anonymize did not make.
    pub async fn preflight(&self, force: bool) -> Result<TargetState> {
        let user = self.info.config.get_user().unwrap_or("<role>").to_string();
        let row = self
            .admin
            .query_one(
                "SELECT rolcreatedb OR rolsuper, rolsuper FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .pg_context(|| "reading the target role's attributes".into())?;
        let (may_create, superuser): (bool, bool) = (row.get(0), row.get(1));
        if !may_create {
            return Err(UsageError::new(format!(
                "the target role `{user}` may not create databases, and sync loads into a fresh \
                 database {} before swapping it in; run `ALTER ROLE {} CREATEDB;` as a superuser, \
                 or pass --into existing to load into the existing database in one transaction",
                self.next,
                quote_ident(&user)
            ))
            .into());
        }
        let state = self.state().await?;
        if let TargetState::Foreign { objects } = state {
            if !force {
                return Err(UsageError::new(format!(
                    "target database {} holds {objects} object(s) (tables, views, sequences or large \
                     objects) and was not made by anonymize; \
                     pass --force to replace it",
                    self.target
                ))
                .into());
            }
        }
        if state != TargetState::Missing && !superuser {
            let owner: Option<String> = self
                .admin
                .query_one(
                    "SELECT CASE WHEN pg_has_role(current_user, datdba, 'MEMBER') THEN NULL \
                     ELSE pg_get_userbyid(datdba)::text END FROM pg_database WHERE datname = $1",
                    &[&self.target],
                )
                .await
                .pg_context(|| "reading the target database's owner".into())?
                .get(0);
            if let Some(owner) = owner {
                return Err(UsageError::new(format!(
                    "the target database {} is owned by `{owner}`, and only its owner may rename \
                     and drop it at the swap; run `ALTER DATABASE {} OWNER TO {};` as a superuser, \
                     or connect as `{owner}`",
                    self.target,
                    quote_ident(&self.target),
                    quote_ident(&user)
                ))
                .into());
            }
        }
        let unmarked_next = self
            .comment(&self.next)
            .await?
            .is_some_and(|c| !c.starts_with(MARKER));
        // A run killed between CREATE DATABASE and its marker leaves an
        // empty unmarked database; one holding objects is someone's. Either
        // way a human decides, but the empty one gets the exact command.
        if unmarked_next && self.user_objects(&self.next).await? == 0 {
            return Err(UsageError::new(format!(
                "database {next} exists, empty and without anonymize's mark: a run killed right \
                 after creating it leaves it so. If nobody else uses that name, clear it with \
                 `DROP DATABASE {quoted};` (as `{user}` on the target server) and run again; \
                 otherwise rename it, anonymize needs the name",
                next = self.next,
                quoted = quote_ident(&self.next),
            ))
            .into());
        }
        for name in [&self.next, &self.previous] {
            if self
                .comment(name)
                .await?
                .is_some_and(|c| !c.starts_with(MARKER))
            {
                return Err(UsageError::new(format!(
                    "database {name} exists and was not made by anonymize; drop or rename it, \
                     anonymize needs the name"
                ))
                .into());
            }
        }
        Ok(state)
    }

    /// `--into existing` truncates and reloads every table of the rules
    /// in the target itself, so a database anonymize has not loaded before
    /// needs `--force`, as replacing one does. A load marks it (see
    /// `MARK_EXISTING`), so later runs need no flag.
    pub async fn claim_existing(&self, force: bool) -> Result<()> {
        match self.state().await? {
            TargetState::Missing => Err(UsageError::new(format!(
                "target database {} does not exist; --into existing loads into a database \
                 whose schema is already there (run your migrations first), or leave out \
                 --into existing to have anonymize create it",
                self.target
            ))
            .into()),
            TargetState::Foreign { objects } if !force => Err(UsageError::new(format!(
                "target database {} holds {objects} object(s) and was not made or loaded by \
                 anonymize; --into existing empties every table in the rules: pass --force \
                 to load into it (it is then marked, and later runs need no --force)",
                self.target
            ))
            .into()),
            _ => Ok(()),
        }
    }

    /// The statement that marks the target after a `--into existing`
    /// load, run inside the load's transaction.
    pub fn mark_existing_statement(&self) -> String {
        format!(
            "COMMENT ON DATABASE {} IS {}",
            quote_ident(&self.target),
            quote_literal(&format!("{MARKER} loaded in place with --schema existing"))
        )
    }

    /// The comment of database `name` (empty when it has none), or `None`
    /// when there is no such database.
    async fn comment(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .admin
            .query_opt(
                "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .await
            .pg_context(|| format!("looking up database {name}"))?
            .map(|r| r.get(0)))
    }

    /// Creates the fresh database the run loads into, dropping a leftover
    /// of a crashed run first (only one that carries our marker; `preflight`
    /// refused any other).
    pub async fn create_next(&self, encoding: &str) -> Result<ConnInfo> {
        self.drop_if_ours(&self.next).await?;
        let create = format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING {}",
            quote_ident(&self.next),
            quote_literal(encoding)
        );
        if let Err(e) = self.admin.batch_execute(&create).await {
            if crate::error::sqlstate(&e) == Some("42501") {
                return Err(UsageError::new(format!(
                    "the target role may not create databases; run `ALTER ROLE {} CREATEDB;` \
                     as a superuser, or use --into existing to load into the existing database",
                    quote_ident(self.info.config.get_user().unwrap_or("<role>"))
                ))
                .into());
            }
            return Err(e).pg_context(|| format!("creating the load database {}", self.next));
        }
        // Tests signal the run here, between the database and its marker.
        crate::failpoint::pause("target.created_unmarked").await;
        let marked = self
            .admin
            .batch_execute(&format!(
                "COMMENT ON DATABASE {} IS {}",
                quote_ident(&self.next),
                quote_literal(&format!("{MARKER} loading, not yet complete"))
            ))
            .await
            .pg_context(|| "marking the load database".into());
        if let Err(e) = marked {
            // Unmarked, the next run would refuse the name: this run made
            // it a moment ago, so it drops it itself.
            let _ = self.drop_database(&self.next).await;
            return Err(e);
        }
        Ok(self.info.with_dbname(&self.next))
    }

    /// Drops database `name` if it exists and carries our marker. A
    /// database of the same name that anonymize did not make is left alone,
    /// whatever happened to the run.
    pub async fn drop_if_ours(&self, name: &str) -> Result<()> {
        match self.comment(name).await? {
            Some(c) if c.starts_with(MARKER) => self.drop_database(name).await,
            _ => Ok(()),
        }
    }

    /// Number of sessions connected to the target database, other than ours.
    /// Autovacuum workers are not counted: the rename ends them itself (as
    /// `DROP DATABASE` does), and after last run's load of millions of rows
    /// one is often vacuuming the old target, which failed the run.
    pub async fn sessions_on_target(&self) -> Result<i64> {
        Ok(self
            .admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
                   AND backend_type IS DISTINCT FROM 'autovacuum worker'",
                &[&self.target],
            )
            .await
            .pg_context(|| "counting sessions on the target".into())?
            .get(0))
    }

    /// Waits up to `SESSION_GRACE` for sessions on the target to end (a
    /// client that just disconnected can linger for a moment); returns how
    /// many are still there.
    async fn wait_for_sessions_to_end(&self) -> Result<i64> {
        let deadline = std::time::Instant::now() + SESSION_GRACE;
        loop {
            let n = self.sessions_on_target().await?;
            if n == 0 || std::time::Instant::now() >= deadline {
                return Ok(n);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Ends every other session on the target database.
    pub async fn terminate_sessions(&self) -> Result<()> {
        self.admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.target],
            )
            .await
            .pg_context(|| "terminating sessions on the target".into())?;
        Ok(())
    }

    /// Makes the loaded database live: in one transaction the old target is
    /// renamed aside (to `previous`) and the new one takes its name. Returns
    /// whether there was an old target; `drop_previous` then drops it.
    pub async fn swap(&self, terminate: bool, summary: &str) -> Result<bool> {
        self.admin
            .batch_execute(&format!(
                "COMMENT ON DATABASE {} IS {}",
                quote_ident(&self.next),
                quote_literal(&format!("{MARKER} {summary}"))
            ))
            .await
            .pg_context(|| "marking the load database".into())?;
        let exists = self.comment(&self.target).await?.is_some();
        if exists {
            // A previous copy kept by an earlier --keep-previous run.
            self.drop_if_ours(&self.previous).await?;
        }
        let mut sql = String::from("BEGIN; ");
        if exists {
            sql.push_str(&format!(
                "ALTER DATABASE {target} RENAME TO {prev}; COMMENT ON DATABASE {prev} IS {note}; ",
                target = quote_ident(&self.target),
                prev = quote_ident(&self.previous),
                note = quote_literal(&format!(
                    "{MARKER} previous target, replaced by a later run"
                )),
            ));
        }
        sql.push_str(&format!(
            "ALTER DATABASE {} RENAME TO {}; COMMIT",
            quote_ident(&self.next),
            quote_ident(&self.target)
        ));
        // Applications with a connection pool reconnect at once after their
        // sessions are ended, so terminating is retried a few times.
        let attempts = if terminate { 5 } else { 1 };
        for attempt in 1..=attempts {
            if exists && terminate {
                self.terminate_sessions().await?;
            }
            if exists && !terminate {
                let sessions = self.wait_for_sessions_to_end().await?;
                if sessions > 0 {
                    return Err(self.busy_error(sessions));
                }
            }
            match self.admin.batch_execute(&sql).await {
                Ok(()) => break,
                Err(e) => {
                    let _ = self.admin.batch_execute("ROLLBACK").await;
                    // 55006: object_in_use, a session (re)connected in between.
                    if crate::error::sqlstate(&e) == Some("55006") {
                        if attempt < attempts {
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                            continue;
                        }
                        if !terminate {
                            return Err(self.busy_error(1));
                        }
                    }
                    return Err(e).pg_context(|| format!("swapping {} into place", self.next));
                }
            }
        }
        Ok(exists)
    }

    /// Drops the old target `swap` renamed aside. The new target is live
    /// already, so a failure is worth a warning, not a failed run.
    pub async fn drop_previous(&self) {
        if let Err(e) = self.drop_database(&self.previous).await {
            tracing::warn!(
                database = %self.previous,
                error = %crate::error::render(&e),
                "the previous target could not be dropped; drop it by hand"
            );
        }
    }

    fn busy_error(&self, sessions: i64) -> anyhow::Error {
        anyhow::anyhow!(
            "{sessions} session(s) are connected to {}, so it cannot be replaced; \
             stop them, or pass --terminate-connections",
            self.target
        )
    }

    /// Drops a database if it exists, ending sessions on it first.
    pub async fn drop_database(&self, name: &str) -> Result<()> {
        self.admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(name)
            ))
            .await
            .pg_context(|| format!("dropping database {name}"))
    }
}

/// The rows a finished load holds, counted in the target: what every table
/// must hold before the target may go live.
#[derive(Debug)]
pub struct LoadedTable<'a> {
    pub plan: &'a TablePlan,
    /// Rows sent to the sink: what the source gave under the plan.
    pub rows_sent: u64,
}

/// Tables counted by one query: few enough that the locks of one query stay
/// far below any server's lock table.
const COUNT_BATCH: usize = 100;

/// A loaded table holds other than the rows sent to it.
#[derive(Debug, thiserror::Error)]
#[error(
    "table {table} holds {found} row(s) in the load database, but {sent} were sent to it; \
     the target was left as it was. Something removed or added rows after the load \
     (a trigger or rule on the target server, or a bug in anonymize): please report it"
)]
pub struct RowCountMismatch {
    pub table: String,
    pub sent: u64,
    pub found: u64,
}

/// Counts every loaded table in the target (`ONLY`, so an inheritance
/// parent's count is its own rows) and compares with the rows sent: the
/// safety net under any bug that would otherwise lose rows after their
/// COPY succeeded. The counts run spread over `clients`, `COUNT_BATCH`
/// tables a query, so ten thousand small tables cost a hundred round trips,
/// not ten thousand. Returns the counts, in the order of `tables`.
pub async fn check_row_counts(clients: &[Client], tables: &[LoadedTable<'_>]) -> Result<Vec<u64>> {
    let lanes = clients.len().max(1);
    let batches: Vec<(usize, &[LoadedTable<'_>])> = tables
        .chunks(COUNT_BATCH)
        .enumerate()
        .map(|(b, chunk)| (b * COUNT_BATCH, chunk))
        .collect();
    let batches = &batches;
    let counts = futures_util::future::try_join_all(clients.iter().enumerate().map(
        |(lane, client)| async move {
            let mut found = Vec::new();
            for &(first, chunk) in batches.iter().skip(lane).step_by(lanes) {
                let sql = chunk
                    .iter()
                    .enumerate()
                    .map(|(k, t)| format!("SELECT {k}, count(*) FROM {}", t.plan.table.sql_only()))
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                let rows = client.query(&sql, &[]).await.pg_context(|| {
                    format!(
                        "counting the rows of {} (and {} more tables) on the target",
                        chunk[0].plan.table.name,
                        chunk.len() - 1
                    )
                })?;
                for row in rows {
                    let (k, n): (i32, i64) = (row.get(0), row.get(1));
                    found.push((first + k as usize, n as u64));
                }
            }
            Ok::<_, anyhow::Error>(found)
        },
    ))
    .await?;
    let mut out = vec![0u64; tables.len()];
    for (i, n) in counts.into_iter().flatten() {
        out[i] = n;
    }
    for (t, &found) in tables.iter().zip(&out) {
        if found != t.rows_sent {
            return Err(RowCountMismatch {
                table: t.plan.table.name.to_string(),
                sent: t.rows_sent,
                found,
            }
            .into());
        }
    }
    Ok(out)
}

/// Rows that break a foreign key after a `--into existing` load, where
/// triggers (and so the FK checks) were off for the load.
#[derive(Debug, thiserror::Error)]
#[error(
    "after the load, {rows} row(s) of {table} point at no row of {parent} (foreign key {constraint}); \
     the target was left as it was. The rules must map both sides of a key the same way \
     (same rule, or `keep` on both), and a table others reference must not be `skip: true`"
)]
pub struct BrokenForeignKey {
    pub constraint: String,
    pub table: String,
    pub parent: String,
    pub rows: i64,
}

/// Checks every foreign key of the target database against the rows now in
/// it, inside the load's transaction: with triggers off the server checked
/// none of them, and a key the rules broke (a parent key rewritten, a child
/// kept; a skipped parent; a key the target has and the source lacks) must
/// stop the run before commit, not leave constraints marked valid over
/// orphans. Only the count of breaking rows is reported, never a value.
pub async fn validate_foreign_keys(client: &Client) -> Result<()> {
    let keys = client
        .query(
            "SELECT c.conname::text, \
                    format('%s%I.%I', CASE WHEN cr.relkind = 'p' THEN '' ELSE 'ONLY ' END, cn.nspname, cr.relname), \
                    format('%s%I.%I', CASE WHEN pr.relkind = 'p' THEN '' ELSE 'ONLY ' END, pn.nspname, pr.relname), \
                    format('%I.%I', cn.nspname, cr.relname), format('%I.%I', pn.nspname, pr.relname), \
                    ARRAY(SELECT quote_ident(a.attname) FROM unnest(c.conkey) WITH ORDINALITY k(n, i) \
                          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), \
                    ARRAY(SELECT quote_ident(a.attname) FROM unnest(c.confkey) WITH ORDINALITY k(n, i) \
                          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i) \
               FROM pg_constraint c \
               JOIN pg_class cr ON cr.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cr.relnamespace \
               JOIN pg_class pr ON pr.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pr.relnamespace \
              WHERE c.contype = 'f' AND c.conparentid = 0 \
              ORDER BY 1, 4",
            &[],
        )
        .await
        .pg_context(|| "reading the target's foreign keys".into())?;
    for key in keys {
        let constraint: String = key.get(0);
        let (child, parent): (String, String) = (key.get(1), key.get(2));
        let (child_cols, parent_cols): (Vec<String>, Vec<String>) = (key.get(5), key.get(6));
        // MATCH SIMPLE: a row with a NULL in the key references nothing.
        let not_null: Vec<String> = child_cols
            .iter()
            .map(|c| format!("c.{c} IS NOT NULL"))
            .collect();
        let equal: Vec<String> = child_cols
            .iter()
            .zip(&parent_cols)
            .map(|(c, p)| format!("p.{p} = c.{c}"))
            .collect();
        let rows: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM {child} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {})",
                    not_null.join(" AND "),
                    equal.join(" AND ")
                ),
                &[],
            )
            .await
            .pg_context(|| format!("checking foreign key {constraint} on the target"))?
            .get(0);
        if rows > 0 {
            return Err(BrokenForeignKey {
                constraint,
                table: key.get(3),
                parent: key.get(4),
                rows,
            }
            .into());
        }
    }
    Ok(())
}

/// A foreign key in the target from a table the run does not load to one
/// it does: `--into existing` cannot empty the loaded table under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideReference {
    pub constraint: String,
    /// The table the run does not load.
    pub child: String,
    /// The loaded table it references.
    pub parent: String,
}

impl std::fmt::Display for OutsideReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} references {} (constraint {}), and {} is not a table the run loads",
            self.child, self.parent, self.constraint, self.child
        )
    }
}

/// What to do about an [`OutsideReference`]; never PostgreSQL's own advice
/// (`TRUNCATE ... CASCADE`), which would empty the user's tables.
pub const OUTSIDE_REFERENCE_HINT: &str = "drop or change those foreign keys in the target, add the tables to the source so the run loads them too, \
     or sync into a fresh database (without --schema existing). Do not truncate with CASCADE: that would empty those tables";

/// The target's foreign keys from tables outside `loaded` (names as
/// `schema.table`) to tables in it. Constraints inherited by partitions
/// (`conparentid`) are their parent's; the parent's own row names it once.
pub async fn outside_references(
    client: &Client,
    loaded: &std::collections::BTreeSet<String>,
) -> Result<Vec<OutsideReference>> {
    let rows = client
        .query(
            "SELECT con.conname::text, cn.nspname::text, c.relname::text, pn.nspname::text, p.relname::text \
               FROM pg_constraint con \
               JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace \
               JOIN pg_class p ON p.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace \
              WHERE con.contype = 'f' AND con.conparentid = 0 \
              ORDER BY 2, 3, 1",
            &[],
        )
        .await
        .pg_context(|| "reading the target's foreign keys".into())?;
    let name = |schema: String, table: String| {
        crate::catalog::QualifiedName::new(schema, table).to_string()
    };
    Ok(rows
        .into_iter()
        .map(|row| OutsideReference {
            constraint: row.get(0),
            child: name(row.get(1), row.get(2)),
            parent: name(row.get(3), row.get(4)),
        })
        .filter(|r| loaded.contains(&r.parent) && !loaded.contains(&r.child))
        .collect())
}
