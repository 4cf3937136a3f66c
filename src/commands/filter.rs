//! `anonymize filter`: masks a plain-format pg_dump script as it streams
//! through, without a database. Every statement passes through byte for
//! byte; the rows of each `COPY … FROM stdin` block go through the rules,
//! the same transforms `sync` runs, in batches of about 1 MiB.
//!
//! The column types come from the script's own `CREATE TABLE`s
//! (`filter/ddl.rs`). pg_dump writes all of those before the first row,
//! so the plan is built when the first `COPY` comes; what came before it
//! is held back until then, so a script whose rules do not fit writes
//! nothing. After that, memory is one batch, whatever the dump's size.
//! A custom-format dump goes through `pg_restore -f - dump | anonymize
//! filter`.

mod ddl;

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{anyhow, Context, Result};

use crate::cli::FilterArgs;
use crate::config::{Overrides, Settings};
use crate::error::UsageError;
use crate::pgdump::split::{copy_from_stdin, Event, Splitter};
use crate::plan::{Plan, Secret, TablePlan};
use crate::rules::parse_table_name;
use crate::transform::Key;

/// The path that reads the script from stdin.
pub const STDIN: &str = "-";

/// Runs the filter: the script from `args.path` (or stdin) to stdout.
pub async fn run(args: &FilterArgs) -> Result<String> {
    let settings = Settings::resolve(
        args.common.config.as_deref(),
        Overrides::common(&args.common),
    )?;
    let secret = crate::commands::sync::secret_from_env()?;
    if let Some(s) = &secret {
        crate::transform::check_secret(s)?;
    }
    let mut rules = crate::rules::load::load(&settings.rules)?;
    // Without a database there is no subset to close over foreign keys.
    rules.subset = None;
    let input: Box<dyn BufRead + Send> = match &args.path {
        Some(p) if p != Path::new(STDIN) => crate::export::compress::open(p)
            .map_err(|e| UsageError::new(format!("cannot read {}: {e}", p.display())))?,
        _ => crate::export::compress::sniff(std::io::stdin())
            .map_err(|e| UsageError::new(format!("cannot read stdin: {e}")))?,
    };
    let name = match &args.path {
        Some(p) if p != Path::new(STDIN) => p.display().to_string(),
        _ => "stdin".to_string(),
    };
    let stdout = std::io::stdout();
    let out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let key = secret.as_deref().map(Key::new);
    let mut filter = Filter {
        input,
        out,
        name,
        line_no: 0,
        splitter: Splitter::new(None),
        schema: Some(ddl::ScriptSchema::default()),
        held: Vec::new(),
        plan: None,
        tables: Vec::new(),
    };
    filter.run(&rules, Secret::given(key.as_ref()))?;
    let Filter {
        mut out, tables, ..
    } = filter;
    out.flush().context("writing to stdout")?;
    // stdout holds the script: the summary goes to the log.
    for (table, rows) in &tables {
        tracing::info!(%table, rows, "masked");
    }
    Ok(String::new())
}

/// The filter's state while the script streams through.
struct Filter<W: Write> {
    input: Box<dyn BufRead + Send>,
    out: W,
    name: String,
    line_no: u64,
    splitter: Splitter,
    /// The schema read so far; taken when the plan is built.
    schema: Option<ddl::ScriptSchema>,
    /// Lines held back until the plan is built.
    held: Vec<u8>,
    plan: Option<Plan>,
    /// Rows masked per COPY block.
    tables: Vec<(String, u64)>,
}

impl<W: Write> Filter<W> {
    fn run(&mut self, rules: &crate::rules::Rules, secret: Secret<'_>) -> Result<()> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = self
                .input
                .read_until(b'\n', &mut line)
                .with_context(|| format!("reading {}", self.name))?;
            if n == 0 {
                break;
            }
            self.line_no += 1;
            let text = std::str::from_utf8(&line).map_err(|_| {
                anyhow!(
                    "{}:{}: the line is not valid UTF-8",
                    self.name,
                    self.line_no
                )
            })?;
            let mut copy = None;
            for event in self.splitter.push(text) {
                let Event::Statement(statement) = event else {
                    continue;
                };
                if let Some(schema) = self.schema.as_mut() {
                    schema.statement(&statement).map_err(|m| {
                        UsageError::new(format!("{}:{}: {m}", self.name, self.line_no))
                    })?;
                }
                if copy_from_stdin(&statement).is_some() {
                    copy = Some(statement);
                }
            }
            self.write(&line)?;
            if let Some(statement) = copy {
                self.ensure_plan(rules, secret)?;
                self.copy_block(&statement)?;
            }
        }
        // A script without rows still has its rules checked.
        self.ensure_plan(rules, secret)?;
        Ok(())
    }

    /// Writes a line, or holds it back while there is no plan yet.
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.plan.is_none() {
            self.held.extend_from_slice(bytes);
            return Ok(());
        }
        self.out.write_all(bytes).context("writing to stdout")
    }

    /// Builds the plan from the schema read so far, then writes what was
    /// held back.
    fn ensure_plan(&mut self, rules: &crate::rules::Rules, secret: Secret<'_>) -> Result<()> {
        let Some(schema) = self.schema.take() else {
            return Ok(());
        };
        let plan = crate::plan::prepare(rules, schema.catalog(), secret)?;
        let ignored: Vec<String> = plan
            .tables()
            .iter()
            .filter(|t| t.filter.is_some())
            .map(|t| t.table.name.to_string())
            .collect();
        if !ignored.is_empty() {
            tracing::warn!(
                tables = %ignored.join(", "),
                "`where:` needs the database; filter masks every row of these tables"
            );
        }
        self.plan = Some(plan);
        let held = std::mem::take(&mut self.held);
        self.write(&held)
    }

    /// Masks the rows after a COPY statement, up to `\.`, in batches.
    fn copy_block(&mut self, statement: &str) -> Result<()> {
        let written = copy_from_stdin(statement).expect("a COPY statement");
        let name = parse_table_name(&written)
            .map_err(|m| anyhow!("{}:{}: {m}", self.name, self.line_no))?;
        let plan = self.plan.as_ref().expect("built before the first COPY");
        let root = plan
            .catalog()
            .partition_root(&name)
            .cloned()
            .unwrap_or(name.clone());
        let table = plan
            .tables()
            .iter()
            .find(|t| t.table.name == root)
            .cloned()
            .ok_or_else(|| {
                anyhow!(
                    "{}:{}: rows of {name}, whose CREATE TABLE the script does not hold; \
                     filter reads plain pg_dump scripts with their schema (not --data-only)",
                    self.name,
                    self.line_no
                )
            })?;
        let order = column_order(statement, &table)
            .map_err(|m| anyhow!("{}:{}: {m}", self.name, self.line_no))?;
        let mut batch: Vec<u8> = Vec::with_capacity(crate::pipeline::BATCH_BYTES + 64 * 1024);
        let mut line = Vec::new();
        let mut rows = 0u64;
        loop {
            line.clear();
            let n = self
                .input
                .read_until(b'\n', &mut line)
                .with_context(|| format!("reading {}", self.name))?;
            self.line_no += 1;
            if n == 0 {
                return Err(anyhow!(
                    "{}: the rows of {name} end without their `\\.` line; the script is cut short",
                    self.name
                ));
            }
            let content = line.strip_suffix(b"\n").unwrap_or(&line);
            if content.strip_suffix(b"\r").unwrap_or(content) == b"\\." {
                self.flush_batch(&table, &order, &mut batch)?;
                self.out.write_all(&line).context("writing to stdout")?;
                break;
            }
            rows += 1;
            if !table.skip {
                batch.extend_from_slice(&line);
            }
            if batch.len() >= crate::pipeline::BATCH_BYTES {
                self.flush_batch(&table, &order, &mut batch)?;
            }
        }
        self.tables
            .push((name.to_string(), if table.skip { 0 } else { rows }));
        Ok(())
    }

    /// Transforms and writes a batch of whole rows.
    fn flush_batch(&mut self, table: &TablePlan, order: &Order, batch: &mut Vec<u8>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let input = order.to_plan(batch);
        let masked = crate::pipeline::transform_batch(table, &input)
            .map_err(|e| anyhow!("{}: {} (in the rows of {})", self.name, e, table.table.name))?;
        let output = order.out_of_plan(&masked);
        self.out.write_all(&output).context("writing to stdout")?;
        batch.clear();
        Ok(())
    }
}

/// Where the COPY's columns sit in the plan's order: pg_dump lists a
/// partition's columns in its own order, which may differ from its root's.
enum Order {
    Same,
    /// `to_plan[i]`: the COPY field that is the plan's column i.
    Permuted {
        to_plan: Vec<usize>,
    },
}

/// Checks the COPY's column list against the plan's columns.
fn column_order(statement: &str, table: &TablePlan) -> Result<Order, String> {
    let open = statement.find('(');
    let close = statement.rfind(')');
    let listed: Vec<String> = match (open, close) {
        (Some(o), Some(c)) if o < c => statement[o + 1..c]
            .split(',')
            .map(|c| crate::rules::parse_column_name(c.trim()))
            .collect(),
        _ => table.columns.iter().map(|c| c.name.clone()).collect(),
    };
    let planned: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    if listed
        .iter()
        .map(String::as_str)
        .eq(planned.iter().copied())
    {
        return Ok(Order::Same);
    }
    let mut to_plan = Vec::new();
    for p in &planned {
        let i = listed.iter().position(|l| l == p).ok_or_else(|| {
            format!(
                "the COPY of {} has no column {p}, which its CREATE TABLE has",
                table.table.name
            )
        })?;
        to_plan.push(i);
    }
    if listed.len() != planned.len() {
        return Err(format!(
            "the COPY of {} lists {} columns, its CREATE TABLE {}",
            table.table.name,
            listed.len(),
            planned.len()
        ));
    }
    Ok(Order::Permuted { to_plan })
}

impl Order {
    fn to_plan<'a>(&self, rows: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        match self {
            Order::Same => std::borrow::Cow::Borrowed(rows),
            Order::Permuted { to_plan } => std::borrow::Cow::Owned(permute(rows, to_plan)),
        }
    }

    fn out_of_plan(&self, rows: &[u8]) -> Vec<u8> {
        match self {
            Order::Same => rows.to_vec(),
            Order::Permuted { to_plan } => {
                let mut back = vec![0; to_plan.len()];
                for (plan_i, &copy_i) in to_plan.iter().enumerate() {
                    back[copy_i] = plan_i;
                }
                permute(rows, &back)
            }
        }
    }
}

/// Reorders the tab-separated fields of every row: field i of the output
/// is field `order[i]` of the input.
fn permute(rows: &[u8], order: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len());
    let mut spans = Vec::new();
    for row in crate::copy_text::rows(rows) {
        crate::copy_text::field_spans(row, &mut spans);
        for (n, &i) in order.iter().enumerate() {
            if n > 0 {
                out.push(b'\t');
            }
            if let Some(&(a, b)) = spans.get(i) {
                out.extend_from_slice(&row[a..b]);
            }
        }
        out.push(b'\n');
    }
    out
}
