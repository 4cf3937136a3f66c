//! The `verify` command, and `sync --verify`: proof that no original value
//! is left in the target.
//!
//! For every copied column whose rule is not `keep`, a sample of the
//! target's values is sent to the source, which says (in one scan per
//! table, inside one snapshot) how many of them exist in the same source
//! column. What a match means depends on the rule:
//!
//! - rules whose outputs should never meet a real value (`hash`, `mask`,
//!   `null`, fake emails, phone numbers, IBANs, card numbers, uuids): any
//!   match is a leak;
//! - low-entropy rules (fake first names, cities, shifted dates, `set`):
//!   chance matches are expected, so the match rate is shown as
//!   information.
//!
//! Columns marked `keep` that hold text or JSON are scanned for values that
//! look like emails, phone numbers or card numbers. A column whose values
//! mostly *are* such values is a leak (a personal column marked `keep`);
//! values merely containing one are a warning.
//!
//! Only counts are reported, never a value.

use std::collections::HashSet;
use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use crate::catalog::{TableKind, TypeKind};
use crate::cli::{OutputFormat, VerifyArgs};
use crate::config::{Overrides, Settings};
use crate::conn::{quote_ident, ConnInfo};
use crate::error::{GapsFound, PgResultExt};
use crate::pii::{self, Kind};
use crate::plan::{ColumnAction, ColumnPlan, Plan, TablePlan};
use crate::transform::Key;

/// Values sampled per column unless `--sample` says otherwise.
pub const DEFAULT_SAMPLE: u32 = 10_000;

/// Share of a kept column's sampled values that must be emails, phone or
/// card numbers for the column to count as personal (a leak), rather than
/// as free text that mentions some (a warning).
const PERSONAL_SHARE: f64 = 0.5;

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Values sampled per column, at most.
    pub sample: u32,
    /// Columns with status `leak`.
    pub failures: usize,
    /// Columns with status `warning`.
    pub warnings: usize,
    /// Every column looked at.
    pub columns: Vec<ColumnResult>,
}

/// One column's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnResult {
    pub table: String,
    pub column: String,
    /// The rule as `check` and `--dry-run` show it.
    pub rule: String,
    pub status: Status,
    /// Distinct non-NULL values sampled from the target.
    pub sampled: u64,
    /// How many of them exist in the same source column (null for `keep`
    /// columns, which are scanned instead of compared).
    pub found_in_source: Option<u64>,
    /// `found_in_source / sampled`.
    pub match_rate: Option<f64>,
    /// What was found, in words; never a value.
    pub message: String,
}

/// A column's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing found.
    Ok,
    /// Chance matches of a low-entropy rule: shown, not a failure.
    Info,
    /// Kept free text mentions emails, phone or card numbers.
    Warning,
    /// An original value is in the target.
    Leak,
}

/// What a rule's outputs may have in common with real values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Scanned for personal-looking values, not compared.
    Keep,
    /// Every value NULL.
    Null,
    /// No output should ever equal a real value.
    Never,
    /// Chance matches are expected.
    Chance,
}

/// Fake kinds whose outputs never meet real values: they come from reserved
/// domains and ranges, or from spaces too large to collide.
const NEVER_FAKES: &[&str] = &[
    "email",
    "phone",
    "iban",
    "credit_card",
    "card",
    "uuid",
    "ssn",
];

/// Classifies a rule from its description (`fake(email) unique`,
/// `hash(format=digits, length=9)`). Descriptions are what every transform
/// already provides, so a new transform needs no change here; an unknown
/// one is treated as low-entropy (information, not failure).
fn expectation(column: &ColumnPlan) -> Expect {
    match &column.action {
        ColumnAction::Keep => Expect::Keep,
        ColumnAction::Null => Expect::Null,
        ColumnAction::Transform(_) => {
            let rule = column.rule.as_str();
            let name = rule.split(['(', ' ', ':']).next().unwrap_or("");
            match name {
                "hash" | "mask" => Expect::Never,
                "fake" => {
                    let args = rule.split(')').next().unwrap_or("");
                    if NEVER_FAKES.iter().any(|k| args.contains(k)) {
                        Expect::Never
                    } else {
                        Expect::Chance
                    }
                }
                _ => Expect::Chance,
            }
        }
    }
}

/// For a `hash` rule with a short digits format, the output space may be
/// small enough for chance matches: `length=4` gives 10,000 values. Returns
/// the number of output values when the description says it.
fn hash_space(rule: &str) -> Option<f64> {
    if !rule.starts_with("hash") || !rule.contains("digits") {
        return None;
    }
    let after = &rule[rule.find("length")? + "length".len()..];
    let digits: String = after
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let n: i32 = digits.parse().ok()?;
    Some(10f64.powi(n))
}

/// Text and JSON columns are the ones free text can hide personal data in.
fn scannable(plan: &TablePlan, column: &ColumnPlan) -> bool {
    plan.table
        .column(&column.name)
        .is_some_and(|c| matches!(c.kind, TypeKind::Text | TypeKind::Json | TypeKind::Jsonb))
}

/// Runs `verify` as a command: rules and source schema as for `sync`, the
/// target given by `--target`.
pub async fn run(args: &VerifyArgs) -> Result<String> {
    let settings = Settings::resolve(
        args.common.config.as_deref(),
        Overrides {
            target: args.target.as_deref(),
            ..Overrides::common(&args.common)
        },
    )?;
    let source = ConnInfo::parse(settings.require_source()?, "--source")?;
    let target = ConnInfo::parse(settings.require_target()?, "--target")?;
    let rules = crate::rules::load::load(&settings.rules)?;
    let snapshot = crate::source::open_snapshot(&source).await?;
    let catalog = crate::catalog::Catalog::read(&snapshot.client).await?;
    // verify never runs a transform, so the secret is not needed: any key
    // lets the plan compile.
    let plan = Plan::build(&rules, catalog, Some(&Key::new(b"verify")))?;
    let client = crate::conn::connect_named(&target, "target").await?;
    client
        .batch_execute(&format!(
            "{}; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            crate::sink::postgres::TARGET_SETTINGS
        ))
        .await
        .pg_context(|| "starting the verify transaction on the target".into())?;
    let report = check(&plan, &snapshot.client, &client, args.sample).await?;
    let text = match args.format {
        OutputFormat::Text => report.render_text(),
        OutputFormat::Json => {
            serde_json::to_string_pretty(&report).expect("report serializes") + "\n"
        }
    };
    if report.failures > 0 {
        print!("{text}");
        return Err(GapsFound(format!(
            "verify found {} leaking column(s) in {}",
            report.failures,
            target.redacted()
        ))
        .into());
    }
    Ok(text)
}

/// Compares `target` (a connection in a read-only transaction) with
/// `source` (one inside the snapshot) for every copied table of `plan`.
pub async fn check(
    plan: &Plan,
    source: &Client,
    target: &Client,
    sample: u32,
) -> Result<VerifyReport> {
    check_outputs(plan, source, Outputs::Target(target), sample).await
}

/// Output values sampled by the caller, per (table, column) as shown in
/// the plan (`public.customers`, `email`): `export --verify` has files, not
/// a target database. At most `sample` distinct values each.
pub type Samples = std::collections::BTreeMap<(String, String), HashSet<String>>;

/// Like `check`, for values sampled from an export's rows.
pub async fn check_samples(
    plan: &Plan,
    source: &Client,
    samples: &Samples,
    sample: u32,
) -> Result<VerifyReport> {
    check_outputs(plan, source, Outputs::Samples(samples), sample).await
}

/// Whether `verify` looks at this column's values (the ones an export
/// samples for `check_samples`).
pub fn is_checked(table: &TablePlan, column: &ColumnPlan) -> bool {
    expectation(column) != Expect::Keep || scannable(table, column)
}

/// Where the values judged come from.
#[derive(Clone, Copy)]
enum Outputs<'a> {
    Target(&'a Client),
    Samples(&'a Samples),
}

async fn check_outputs(
    plan: &Plan,
    source: &Client,
    outputs: Outputs<'_>,
    sample: u32,
) -> Result<VerifyReport> {
    let mut columns = Vec::new();
    for table in plan.tables.iter().filter(|t| !t.skip) {
        check_table(table, source, outputs, sample, &mut columns).await?;
    }
    let count = |s: Status| {
        columns
            .iter()
            .filter(|c: &&ColumnResult| c.status == s)
            .count()
    };
    Ok(VerifyReport {
        sample,
        failures: count(Status::Leak),
        warnings: count(Status::Warning),
        columns,
    })
}

async fn check_table(
    table: &TablePlan,
    source: &Client,
    outputs: Outputs<'_>,
    sample: u32,
    out: &mut Vec<ColumnResult>,
) -> Result<()> {
    let checked: Vec<(&ColumnPlan, Expect)> = table
        .columns
        .iter()
        .filter(|c| is_checked(table, c))
        .map(|c| (c, expectation(c)))
        .collect();
    if checked.is_empty() {
        return Ok(());
    }
    let name = table.table.name.to_string();
    let values = match outputs {
        Outputs::Target(target) => sample_target(table, &checked, target, sample).await?,
        Outputs::Samples(samples) => checked
            .iter()
            .map(|(c, _)| {
                samples
                    .get(&(name.clone(), c.name.clone()))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect(),
    };

    // Which sampled values exist in the source: one scan of the source
    // table for all its compared columns.
    let compared: Vec<usize> = (0..checked.len())
        .filter(|&i| checked[i].1 != Expect::Keep && !values[i].is_empty())
        .collect();
    let mut found = vec![0u64; checked.len()];
    if !compared.is_empty() {
        let only = match table.table.kind {
            TableKind::Ordinary => "ONLY ",
            TableKind::Partitioned => "",
        };
        let aggregates: Vec<String> = compared
            .iter()
            .enumerate()
            .map(|(p, &i)| {
                let q = quote_ident(&checked[i].0.name);
                format!(
                    "count(DISTINCT {q}::text) FILTER (WHERE {q}::text = ANY(${}::text[]))",
                    p + 1
                )
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM {only}{}",
            aggregates.join(", "),
            table.table.name.sql()
        );
        let params: Vec<Vec<String>> = compared
            .iter()
            .map(|&i| values[i].iter().cloned().collect())
            .collect();
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let row = source
            .query_one(&sql, &refs)
            .await
            .pg_context(|| format!("looking up sampled values of {name} in the source"))?;
        for (p, &i) in compared.iter().enumerate() {
            found[i] = row.get::<_, i64>(p) as u64;
        }
    }

    for (i, (column, expect)) in checked.iter().enumerate() {
        let sampled = values[i].len() as u64;
        let result = |status: Status, found: Option<u64>, message: String| ColumnResult {
            table: name.clone(),
            column: column.name.clone(),
            rule: column.rule.clone(),
            status,
            sampled,
            found_in_source: found,
            match_rate: found.map(|f| f as f64 / sampled.max(1) as f64),
            message,
        };
        let f = found[i];
        out.push(match expect {
            Expect::Keep => scan_kept(&values[i], result),
            Expect::Null if sampled > 0 => result(
                Status::Leak,
                Some(f),
                format!(
                    "the rule is `null`, but {sampled} sampled value(s) are not NULL \
                     ({f} of them exist in the source column)"
                ),
            ),
            Expect::Null => result(Status::Ok, Some(0), "every value is NULL".into()),
            _ if f == 0 => result(
                Status::Ok,
                Some(0),
                format!("none of {sampled} sampled value(s) exist in the source column"),
            ),
            Expect::Never if !chance_is_likely(&column.rule, table, sampled) => result(
                Status::Leak,
                Some(f),
                format!(
                    "{f} of {sampled} sampled value(s) exist in the source column; \
                     this rule should never give a real value"
                ),
            ),
            _ => result(
                Status::Info,
                Some(f),
                format!(
                    "{f} of {sampled} sampled value(s) ({:.1}%) also exist in the source column; \
                     chance matches are expected for this rule",
                    100.0 * f as f64 / sampled.max(1) as f64
                ),
            ),
        });
    }
    Ok(())
}

/// Whether a `never` rule may still meet real values by chance: a short
/// digits hash over a large table. Expected chance matches are about
/// sampled × source rows / output space.
fn chance_is_likely(rule: &str, table: &TablePlan, sampled: u64) -> bool {
    match hash_space(rule) {
        Some(space) => {
            let rows = table.table.estimated_rows.max(1) as f64;
            sampled as f64 * rows / space > 0.01
        }
        None => false,
    }
}

/// Verdict for a kept text or JSON column from its sampled values.
fn scan_kept(
    values: &HashSet<String>,
    result: impl Fn(Status, Option<u64>, String) -> ColumnResult,
) -> ColumnResult {
    let sampled = values.len();
    let mut whole: Vec<(Kind, usize)> = Vec::new();
    let mut inside = 0usize;
    for v in values {
        match pii::by_value(v).filter(|k| matches!(k, Kind::Email | Kind::Phone | Kind::Card)) {
            Some(k) => match whole.iter_mut().find(|(kind, _)| *kind == k) {
                Some((_, n)) => *n += 1,
                None => whole.push((k, 1)),
            },
            None => {
                if pii::in_text(v).is_some() {
                    inside += 1;
                }
            }
        }
    }
    whole.sort_by_key(|w| std::cmp::Reverse(w.1));
    if let Some(&(kind, n)) = whole.first() {
        if n as f64 >= PERSONAL_SHARE * sampled as f64 {
            return result(
                Status::Leak,
                None,
                format!(
                    "the rule is `keep`, but {n} of {sampled} sampled values are {}; \
                     give the column a rule that replaces them",
                    kind.plural()
                ),
            );
        }
    }
    let suspicious = inside + whole.iter().map(|(_, n)| n).sum::<usize>();
    if suspicious > 0 {
        return result(
            Status::Warning,
            None,
            format!(
                "the rule is `keep`, and {suspicious} of {sampled} sampled values contain \
                 an email address, a phone number or a card number"
            ),
        );
    }
    result(
        Status::Ok,
        None,
        format!("no personal-looking value in {sampled} sampled value(s)"),
    )
}

/// Up to `sample` distinct non-NULL values per column, from one read of
/// the target table. Large tables are read through `TABLESAMPLE` so the
/// sample is spread over the table, not its first pages.
async fn sample_target(
    table: &TablePlan,
    checked: &[(&ColumnPlan, Expect)],
    target: &Client,
    sample: u32,
) -> Result<Vec<HashSet<String>>> {
    let name = table.table.name.to_string();
    let reltuples: f64 = target
        .query_one(
            "SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = $1::text::regclass",
            &[&table.table.name.sql()],
        )
        .await
        .pg_context(|| format!("reading the size of {name} on the target"))?
        .get(0);
    // Three times the sample leaves room for NULLs and duplicates.
    let wanted = f64::from(sample) * 3.0;
    let tablesample = if table.table.kind == TableKind::Ordinary && reltuples > wanted {
        format!(
            " TABLESAMPLE BERNOULLI ({:.6})",
            (100.0 * wanted / reltuples).min(100.0)
        )
    } else {
        String::new()
    };
    let cols: Vec<String> = checked
        .iter()
        .map(|(c, _)| format!("{}::text", quote_ident(&c.name)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {}{tablesample} LIMIT {}",
        cols.join(", "),
        table.table.name.sql(),
        u64::from(sample) * 3
    );
    let rows = target
        .query(&sql, &[])
        .await
        .pg_context(|| format!("sampling {name} on the target"))?;
    let mut values: Vec<HashSet<String>> = vec![HashSet::new(); checked.len()];
    for row in rows {
        for (i, set) in values.iter_mut().enumerate() {
            if set.len() >= sample as usize {
                continue;
            }
            if let Some(v) = row.get::<_, Option<String>>(i) {
                set.insert(v);
            }
        }
    }
    Ok(values)
}

impl VerifyReport {
    /// The per-column list for people: leaks, warnings and information,
    /// then a summary line. Columns found clean are counted, not listed.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        for status in [Status::Leak, Status::Warning, Status::Info] {
            for c in self.columns.iter().filter(|c| c.status == status) {
                let label = match status {
                    Status::Leak => "leak",
                    Status::Warning => "warning",
                    _ => "info",
                };
                let _ = writeln!(
                    s,
                    "{label:<8} {}.{} ({}): {}",
                    c.table,
                    crate::catalog::display_ident(&c.column),
                    c.rule,
                    c.message
                );
            }
        }
        let _ = writeln!(
            s,
            "{}: {} leak(s), {} warning(s) in {} column(s) checked (up to {} values each)",
            if self.failures == 0 { "ok" } else { "failed" },
            self.failures,
            self.warnings,
            self.columns.len(),
            self.sample
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(rule: &str, action: ColumnAction) -> ColumnPlan {
        ColumnPlan {
            name: "c".into(),
            rule: rule.into(),
            implicit: false,
            action,
            read_by_others: false,
            source_expr: None,
        }
    }

    struct Dummy;
    impl crate::transform::Transform for Dummy {
        fn apply(
            &self,
            _: Option<&[u8]>,
            _: &crate::transform::RowView<'_>,
            _: &mut Vec<u8>,
        ) -> Result<crate::transform::Written, crate::transform::ValueError> {
            Ok(crate::transform::Written::Null)
        }
    }

    #[test]
    fn rules_are_classified_by_what_their_outputs_may_meet() {
        let t = || ColumnAction::Transform(std::sync::Arc::new(Dummy));
        assert_eq!(expectation(&col("keep", ColumnAction::Keep)), Expect::Keep);
        assert_eq!(expectation(&col("null", ColumnAction::Null)), Expect::Null);
        for never in [
            "fake(email) unique",
            "fake(phone_number)",
            "fake(kind=iban)",
            "hash(format=hex)",
            "hash(format=digits, length=9)",
            "mask(keep_last=4)",
        ] {
            assert_eq!(expectation(&col(never, t())), Expect::Never, "{never}");
        }
        for chance in [
            "fake(first_name)",
            "fake(city)",
            "shift(days=180)",
            "set(\"free\")",
            "template(\"{a} {b}\")",
        ] {
            assert_eq!(expectation(&col(chance, t())), Expect::Chance, "{chance}");
        }
    }

    #[test]
    fn short_digit_hashes_have_a_small_space() {
        assert_eq!(hash_space("hash(format=digits, length=4)"), Some(1e4));
        assert_eq!(hash_space("hash(format=hex)"), None);
        assert_eq!(hash_space("fake(email)"), None);
    }

    #[test]
    fn kept_columns_of_emails_leak_and_mentions_warn() {
        let make = |status, found, message| ColumnResult {
            table: "t".into(),
            column: "c".into(),
            rule: "keep".into(),
            status,
            sampled: 0,
            found_in_source: found,
            match_rate: None,
            message,
        };
        let emails: HashSet<String> = (0..10).map(|i| format!("p{i}@real.example")).collect();
        assert_eq!(scan_kept(&emails, make).status, Status::Leak);
        let notes: HashSet<String> = (0..10)
            .map(|i| {
                if i == 0 {
                    "write to p@real.example".to_string()
                } else {
                    format!("note {i}")
                }
            })
            .collect();
        let r = scan_kept(&notes, make);
        assert_eq!(r.status, Status::Warning);
        assert!(r.message.contains("1 of 10"), "{}", r.message);
        assert!(!r.message.contains("real.example"), "never a value");
        let clean: HashSet<String> = (0..10).map(|i| format!("note {i}")).collect();
        assert_eq!(scan_kept(&clean, make).status, Status::Ok);
    }
}
