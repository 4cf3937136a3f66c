//! The `demo` command: the whole pipeline on an embedded sample database.
//!
//! It starts a throwaway cluster (`ephemeral`), loads `demo/sample.sql` into
//! `demo_source`, runs the real `sync` with `rules/demo.yml` into
//! `demo_target`, prints the summary and a few rows before and after, and
//! stops the cluster. The SQL and the rules are compiled into the binary, so
//! the demo runs from any directory on a machine that has nothing but
//! PostgreSQL's server binaries.
//!
//! Nothing here is a demo-only code path once the sample is loaded: the copy
//! goes through `sync::run` exactly as a real run does, so a demo that works
//! is evidence the pipeline works.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::cli::{DemoArgs, SchemaMode};
use crate::commands::sync::SyncOptions;
use crate::conn::ConnInfo;
use crate::ephemeral::Cluster;
use crate::error::PgResultExt;
use crate::sql::quote_ident;

/// The sample "production" database, with `{{CUSTOMERS}}` for its scale.
pub const SAMPLE_SQL: &str = include_str!("../../demo/sample.sql");

/// The rules that cover every column of the sample.
pub const RULES: &str = include_str!("../../rules/demo.yml");

/// The key used when `ANONYMIZE_SECRET` is not set. It is public on
/// purpose: the demo's data is synthetic, and a fixed key makes the demo's
/// output the same on every machine.
pub const DEMO_SECRET: &[u8] = b"anonymize-demo-secret-public-never-use-it";

const PLACEHOLDER: &str = "{{CUSTOMERS}}";
const SOURCE_DB: &str = "demo_source";
const TARGET_DB: &str = "demo_target";
/// Customers shown before and after.
const SHOWN: usize = 5;

/// The sample's SQL with its scale filled in. A text substitution rather
/// than a psql variable, because the SQL is sent over the wire protocol and
/// psql may not be installed.
pub fn sample_sql(customers: u32) -> String {
    SAMPLE_SQL.replace(PLACEHOLDER, &customers.to_string())
}

/// Runs the demo. On success or failure alike the cluster is stopped and
/// its directory removed; a signal does the same (the work future, which
/// owns the cluster, is dropped).
pub async fn run(args: &DemoArgs) -> Result<()> {
    // Signals are caught from the very start: a Ctrl-C while the cluster
    // starts must not leave a server running in the background.
    crate::signals::with_signals(async {
        let cluster = tokio::task::spawn_blocking(Cluster::start)
            .await
            .context("the task starting PostgreSQL stopped unexpectedly")?
            .context("starting a throwaway PostgreSQL for the demo")?;
        let result = demo(&cluster, args).await;
        // pg_ctl stop waits for the server; keep that off the async threads.
        let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
        result
    })
    .await
}

async fn demo(cluster: &Cluster, args: &DemoArgs) -> Result<()> {
    let admin = ConnInfo::parse(&cluster.url("postgres"), "the demo cluster")?;
    let source = admin.with_dbname(SOURCE_DB);
    let target = admin.with_dbname(TARGET_DB);

    tracing::info!(
        customers = args.customers,
        database = SOURCE_DB,
        "loading the sample database"
    );
    admin
        .connect("anonymize demo")
        .await?
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(SOURCE_DB)))
        .await
        .pg_context(|| format!("creating {SOURCE_DB}"))?;
    let source_client = source.connect("anonymize demo").await?;
    source_client
        .batch_execute(&sample_sql(args.customers))
        .await
        .pg_context(|| "loading the sample database (demo/sample.sql)".into())?;
    let before = Shown::read(&source_client).await?;
    drop(source_client);

    // sync::run reads rules from a path (it reports file:line:column and a
    // digest of the files), so the embedded rules go to a temporary file,
    // under `rules/` so that error positions end in the repo's file name.
    let rules_dir = tempfile::Builder::new()
        .prefix("anonymize-demo-")
        .tempdir()
        .context("creating a temporary directory for the demo rules")?;
    let rules = match &args.common.rules {
        Some(path) => path.clone(),
        None => {
            let dir: PathBuf = rules_dir.path().join("rules");
            let path = dir.join("demo.yml");
            std::fs::create_dir(&dir)
                .and_then(|()| std::fs::write(&path, RULES))
                .context("writing the embedded demo rules to a temporary file")?;
            path
        }
    };
    let (secret, secret_origin) = match crate::commands::sync::secret_from_env()? {
        Some(s) if std::env::var_os("ANONYMIZE_SECRET").is_some_and(|v| !v.is_empty()) => {
            (s, "ANONYMIZE_SECRET")
        }
        Some(s) => (s, crate::commands::sync::SECRET_FILE_VAR),
        None => (
            DEMO_SECRET.to_vec(),
            "the built-in demo secret; set ANONYMIZE_SECRET to try another",
        ),
    };

    let outcome = crate::commands::sync::run(SyncOptions {
        source: source.clone(),
        target: Some(target.clone()),
        rules,
        subset: None,
        jobs: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        dry_run: false,
        plan_format: crate::diagram::Format::Text,
        schema: SchemaMode::Create,
        selection: crate::selection::Selection::default(),
        report: None,
        progress: args.common.progress(),
        force: false,
        keep_previous: false,
        terminate_connections: false,
        privileges: crate::pgdump::Privileges {
            owners: true,
            acl: true,
        },
        lock_timeout: std::time::Duration::from_secs(60),
        // The demo proves the copy leaks nothing: the same check as `sync --verify`.
        verify: true,
        verify_sample: crate::verify::DEFAULT_SAMPLE,
        secret: Some(secret),
        workers: crate::cli::WorkersMode::Local,
    })
    .await?;

    let after = Shown::read(&target.connect("anonymize demo").await?).await?;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "Copied the sample shop ({} customers) from {SOURCE_DB} to {TARGET_DB}.\n\
         rules: {}\nsecret: {secret_origin}\n",
        args.customers,
        match &args.common.rules {
            Some(p) => p.display().to_string(),
            None => "the embedded rules/demo.yml".to_string(),
        },
    );
    out.push_str(&crate::report::summary_table(&outcome.tables));
    let _ = writeln!(out, "done in {:.1} s\n", outcome.seconds);
    let _ = writeln!(out, "customers, before ({SOURCE_DB}):");
    out.push_str(&text_table(&before.header, &before.customers));
    let _ = writeln!(out, "\ncustomers, after ({TARGET_DB}):");
    out.push_str(&text_table(&after.header, &after.customers));
    let _ = writeln!(out, "\norders.shipping of order 1, before:");
    let _ = writeln!(out, "{}", before.shipping);
    let _ = writeln!(out, "\norders.shipping of order 1, after:");
    let _ = writeln!(out, "{}", after.shipping);
    print!("{out}");
    Ok(())
}

/// The rows shown before and after.
struct Shown {
    header: Vec<String>,
    customers: Vec<Vec<String>>,
    shipping: String,
}

impl Shown {
    async fn read(client: &Client) -> Result<Shown> {
        let (header, customers) = text_rows(
            client,
            &format!(
                "SELECT id, email, first_name, last_name, phone FROM customers ORDER BY id LIMIT {SHOWN}"
            ),
        )
        .await?;
        let (_, shipping) = text_rows(
            client,
            "SELECT shipping::text FROM orders ORDER BY id LIMIT 1",
        )
        .await?;
        Ok(Shown {
            header,
            customers,
            shipping: shipping
                .into_iter()
                .next()
                .and_then(|r| r.into_iter().next())
                .unwrap_or_default(),
        })
    }
}

/// Runs `sql` with the simple protocol, which returns every value as text:
/// the column names and the rows, NULL shown as `NULL`.
async fn text_rows(client: &Client, sql: &str) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let messages = client
        .simple_query(sql)
        .await
        .pg_context(|| "reading sample rows".into())?;
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                header = cols.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(r) => rows.push(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => {}
        }
    }
    Ok((header, rows))
}

/// Left-aligned columns separated by two spaces, with a rule under the
/// header. Widths count characters, not bytes, so accented names line up.
fn text_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, v) in widths.iter_mut().zip(row) {
            *w = (*w).max(v.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            s.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&mut header.iter().map(String::as_str));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&mut rule.iter().map(String::as_str)));
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_sql_fills_in_the_scale_everywhere() {
        let sql = sample_sql(7);
        assert!(!sql.contains("{{"), "a placeholder was left unfilled");
        assert!(sql.contains("generate_series(1, 7)"));
    }

    /// Fails until the `fake`, `hash`, `shift`, `json` and `template`
    /// transforms exist: the demo rules use them all.
    #[test]
    fn embedded_rules_parse() {
        let rules = crate::rules::load::load_str("rules/demo.yml", RULES)
            .unwrap_or_else(|e| panic!("{}", crate::error::render(&e)));
        // Every table the sample creates has rules (columns are checked
        // against the real schema by the demo's integration test).
        let created: Vec<String> = SAMPLE_SQL
            .lines()
            .filter_map(|l| l.strip_prefix("CREATE TABLE "))
            .map(|l| format!("public.{}", l.split_whitespace().next().unwrap_or_default()))
            .collect();
        assert_eq!(created.len(), 6, "tables found in the sample: {created:?}");
        for table in &created {
            assert!(
                rules.tables.iter().any(|t| t.name.to_string() == *table),
                "rules/demo.yml has no rules for {table}"
            );
        }
    }

    #[test]
    fn text_table_aligns_by_characters() {
        let header = vec!["id".to_string(), "name".to_string()];
        let rows = vec![
            vec!["1".to_string(), "Zoë".to_string()],
            vec!["10".to_string(), "Bo".to_string()],
        ];
        assert_eq!(
            text_table(&header, &rows),
            "id  name\n--  ----\n1   Zoë\n10  Bo\n"
        );
    }
}
