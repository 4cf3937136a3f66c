//! The leak check behind the `verify` command, `sync --verify` and
//! `export --verify`: proof that no original value is left in the target.
//!
//! For every copied column whose rule replaces values, a sample of the
//! target's values is sent to the source, which says (in one scan per
//! table, inside one snapshot) how many of them exist in the same source
//! column. Each column is judged by outcome, whatever its rule: the share
//! of sampled values found in the source is compared with the share that
//! chance explains, and a share far above it is a leak. Where the rule
//! draws from a bounded set of values, chance is measured: the rule runs
//! on made-up inputs, cut to the column's length as the sync cuts it, and
//! the source says how many of those outputs it holds. The transform's
//! declared output space gives the other estimate; the larger one counts. A `regex` that matches
//! nothing or an `fpe` that cannot change a short value is caught this way.
//!
//! Kept and partly scrubbed text (`keep`, `json`, `regex` on text and JSON
//! columns) is scanned instead, in `text`: any real email, phone or card
//! number, or value of a masked column, is a leak.
//!
//! A value with no letter or digit (blank, a space, punctuation) is not
//! personal: it is never sampled, so it never counts. A column the rules
//! mark `accepted: "why"` reports what was found as `accepted`, not as a
//! leak.
//!
//! Only counts are reported, never a value.

use std::collections::HashSet;
use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use crate::catalog::{TableKind, TypeKind};
use crate::error::PgResultExt;
use crate::plan::{ColumnAction, ColumnPlan, Plan, TablePlan};
use crate::sql::quote_ident;
use crate::transform::OutputSpace;

mod claims;
pub mod sample;
mod text;
pub use text::TextFindings;
use text::{judge_texts, TextScan};

/// Values sampled per column unless `--sample` says otherwise.
pub const DEFAULT_SAMPLE: u32 = 10_000;

/// Share of a kept column's sampled values that must be whole emails,
/// phone or card numbers for the finding to say the column *is* such
/// values (and needs a rule that replaces them) rather than free text
/// that mentions them (and needs a `regex` scrub). Either is a leak.
pub(crate) const PERSONAL_SHARE: f64 = 0.5;

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Values sampled per column, at most.
    pub sample: u32,
    /// Columns with status `leak`.
    pub failures: usize,
    /// Columns with status `accepted`: a leak the rules accept.
    pub accepted: usize,
    /// Every column looked at.
    pub columns: Vec<ColumnResult>,
}

/// One column's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnResult {
    /// Where the column is in the plan (table, column), for the order.
    #[serde(skip)]
    pub(crate) order: (usize, usize),
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
    /// The match rate the rule's outputs make likely by chance: measured
    /// on the rule's own outputs (cut to the column's length) where it
    /// draws from a bounded set, else from its output space.
    pub expected_rate: Option<f64>,
    /// Kept and partly scrubbed text: what the scan found, per kind.
    pub text: Option<TextFindings>,
    /// The rules' `accepted:` reason, when the column has one.
    pub accepted: Option<String>,
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
    /// An original value is in the target.
    Leak,
    /// A leak on a column the rules mark `accepted`.
    Accepted,
    /// `sql:` with `unique: true`, whose expression gives two inputs one
    /// output on the source.
    NotUnique,
}

impl Status {
    /// As `--format json` writes it.
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Leak => "leak",
            Status::Accepted => "accepted",
            Status::NotUnique => "not_unique",
        }
    }
}

/// How a column is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Scanned for personal-looking values, not compared.
    Keep,
    /// Every value NULL.
    Null,
    /// Compared with the source, against the rule's output space.
    Space(OutputSpace),
}

fn expectation(column: &ColumnPlan) -> Expect {
    match (&column.action, column.space) {
        (ColumnAction::Keep, _) => Expect::Keep,
        (ColumnAction::Null, _) => Expect::Null,
        (
            ColumnAction::Transform(_) | ColumnAction::Command(_) | ColumnAction::When { .. },
            Some(space),
        ) => Expect::Space(space),
        // A transform with no recorded space is judged strictly.
        (ColumnAction::Transform(_) | ColumnAction::Command(_), None) => {
            Expect::Space(OutputSpace::Values(f64::INFINITY))
        }
        // Only `null` branches (or `null` and `sql:`): what is not NULL
        // is scanned like kept text.
        (ColumnAction::When { .. }, None) => Expect::Keep,
    }
}

/// Matches expected by chance among `values` (sampled target values) when
/// the source column holds `distinct` distinct values: each output is in
/// the source with probability about distinct / (outputs of its space).
fn expected_matches(space: OutputSpace, values: &HashSet<String>, distinct: u64) -> f64 {
    let d = distinct as f64;
    match space {
        OutputSpace::Constant | OutputSpace::Dense | OutputSpace::Partial => values.len() as f64,
        OutputSpace::Values(n) => values.len() as f64 * (d / n).min(1.0),
        OutputSpace::Shape { radix, kept } => values
            .iter()
            .map(|v| {
                let free = v.chars().count().saturating_sub(kept);
                // A value the rule cannot change is no chance match.
                if free == 0 {
                    0.0
                } else {
                    (d / radix.powi(free.min(300) as i32)).min(1.0)
                }
            })
            .sum(),
    }
}

/// Whether `found` matches are far above the `expected` chance matches:
/// more than three times as many, three standard deviations over (a count
/// of rare events is about Poisson) and two more, so that one or two
/// chance hits of a rare event never fail a run (P(3 or more) is about
/// 2e-5 at 0.05 expected). Where no chance match is possible at all, one
/// match is a leak.
fn far_above(found: u64, expected: f64) -> bool {
    let f = found as f64;
    if expected <= 0.0 {
        return f > 0.0;
    }
    f > 3.0 * expected + 3.0 * expected.sqrt() + 2.0
}

/// Whether a value can be personal: it has a letter or a digit.
fn may_be_personal(value: &str) -> bool {
    value.chars().any(char::is_alphanumeric)
}

/// Text and JSON columns are the ones free text can hide personal data in.
fn scannable(plan: &TablePlan, column: &ColumnPlan) -> bool {
    plan.table
        .column(&column.name)
        .is_some_and(|c| matches!(c.kind, TypeKind::Text | TypeKind::Json | TypeKind::Jsonb))
}

/// Logs what `sync --verify` and `export --verify` found: one event per
/// finding, fields first, so JSON logs can be filtered by column (the
/// messages hold counts, never values), then a summary.
pub fn log_findings(report: &VerifyReport) {
    for c in &report.columns {
        let status = c.status.label();
        match c.status {
            Status::Ok => {}
            Status::Leak | Status::NotUnique => tracing::warn!(
                table = %c.table, column = %c.column, rule = %c.rule, %status, "{}", c.message
            ),
            Status::Info | Status::Accepted => tracing::info!(
                table = %c.table, column = %c.column, rule = %c.rule, %status, "{}", c.message
            ),
        }
    }
    tracing::info!(
        leaks = report.failures,
        columns = report.columns.len(),
        "verify done"
    );
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
    !matches!(
        expectation(column),
        Expect::Keep | Expect::Space(OutputSpace::Partial)
    ) || scannable(table, column)
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
    let mut texts = Vec::new();
    for (t, table) in plan.tables().iter().enumerate().filter(|(_, t)| !t.skip) {
        check_table(t, table, source, outputs, sample, &mut columns, &mut texts).await?;
    }
    columns.extend(judge_texts(plan, source, texts).await?);
    // A claim's verdict stands beside the column's leak verdict; a broken
    // claim replaces an `ok` one (the line says what is wrong).
    for claim in claims::judge_unique_claims(plan, source).await? {
        match columns.iter_mut().find(|c| c.order == claim.order) {
            Some(c) if claim.status == Status::NotUnique && c.status == Status::Ok => *c = claim,
            Some(_) if claim.status == Status::Ok => {}
            _ => columns.push(claim),
        }
    }
    columns.sort_by_key(|c| c.order);
    let count = |s: Status| {
        columns
            .iter()
            .filter(|c: &&ColumnResult| c.status == s)
            .count()
    };
    Ok(VerifyReport {
        sample,
        failures: count(Status::Leak) + count(Status::NotUnique),
        accepted: count(Status::Accepted),
        columns,
    })
}

/// Inputs the rule's transform is run on to measure its real output space.
const PROBES: usize = 1_000;

/// The outputs of a rule that draws from a bounded set of values (`fake:
/// zip`, a 4-digit hash, a choice), on `PROBES` made-up inputs, exactly as
/// the column writes them (cut to its `varchar(n)`, which can make the set
/// far smaller than the transform's own). Their share found in the source
/// column is the chance of a match. `None` when the rule's outputs depend
/// on the input's shape or on other columns.
fn probe_outputs(column: &ColumnPlan) -> Option<Vec<String>> {
    let (ColumnAction::Transform(t), Some(OutputSpace::Values(n))) = (&column.action, column.space)
    else {
        return None;
    };
    if !n.is_finite() {
        return None;
    }
    let mut out = Vec::with_capacity(PROBES);
    let mut buf = Vec::new();
    for i in 0..PROBES {
        buf.clear();
        let input = format!("anonymize verify probe {i}");
        match t.apply(
            input.as_bytes(),
            &crate::transform::RowView::empty(),
            &mut buf,
        ) {
            Ok(crate::transform::Written::Value) => {
                out.push(String::from_utf8_lossy(&buf).into_owned());
            }
            Ok(crate::transform::Written::Null) => {}
            Err(_) => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

async fn check_table<'p>(
    t: usize,
    table: &'p TablePlan,
    source: &Client,
    outputs: Outputs<'_>,
    sample: u32,
    out: &mut Vec<ColumnResult>,
    texts: &mut Vec<TextScan<'p>>,
) -> Result<()> {
    let checked: Vec<(usize, &ColumnPlan, Expect)> = table
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| is_checked(table, c))
        .map(|(i, c)| (i, c, expectation(c)))
        .collect();
    if checked.is_empty() {
        return Ok(());
    }
    let name = table.table.name.to_string();
    let columns_only: Vec<(&ColumnPlan, Expect)> =
        checked.iter().map(|(_, c, e)| (*c, *e)).collect();
    let values = match outputs {
        Outputs::Target(target) => sample_target(table, &columns_only, target, sample).await?,
        Outputs::Samples(samples) => checked
            .iter()
            .map(|(_, c, _)| {
                samples
                    .get(&(name.clone(), c.name.clone()))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect(),
    };

    // Which sampled values exist in the source, and which of the rule's
    // probe outputs do: one scan of the source table for all its compared
    // columns.
    let compared: Vec<usize> = (0..checked.len())
        .filter(|&i| checked[i].2 != Expect::Keep && !values[i].is_empty())
        .collect();
    let probes: Vec<Option<Vec<String>>> =
        checked.iter().map(|(_, c, _)| probe_outputs(c)).collect();
    let mut found = vec![0u64; checked.len()];
    let mut distinct = vec![0u64; checked.len()];
    let mut probe_found = vec![None::<u64>; checked.len()];
    if !compared.is_empty() {
        let only = match table.table.kind {
            TableKind::Ordinary => "ONLY ",
            TableKind::Partitioned => "",
        };
        let mut params: Vec<Vec<String>> = Vec::new();
        let mut aggregates: Vec<String> = Vec::new();
        for &i in &compared {
            let q = quote_ident(&checked[i].1.name);
            params.push(values[i].iter().cloned().collect());
            aggregates.push(format!(
                "count(DISTINCT {q}::text) FILTER (WHERE {q}::text = ANY(${}::text[])), \
                 count(DISTINCT {q}::text)",
                params.len()
            ));
            if let Some(p) = &probes[i] {
                params.push(p.clone());
                aggregates.push(format!(
                    "count(DISTINCT {q}::text) FILTER (WHERE {q}::text = ANY(${}::text[]))",
                    params.len()
                ));
            }
        }
        let sql = format!(
            "SELECT {} FROM {only}{}",
            aggregates.join(", "),
            table.table.name.sql()
        );
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let row = source
            .query_one(&sql, &refs)
            .await
            .pg_context(|| format!("looking up sampled values of {name} in the source"))?;
        let mut at = 0;
        for &i in &compared {
            found[i] = row.get::<_, i64>(at) as u64;
            distinct[i] = row.get::<_, i64>(at + 1) as u64;
            at += 2;
            if probes[i].is_some() {
                probe_found[i] = Some(row.get::<_, i64>(at) as u64);
                at += 1;
            }
        }
    }

    for (i, (c, column, expect)) in checked.iter().enumerate() {
        let order = (t, *c);
        let sampled = values[i].len() as u64;
        let f = found[i];
        if matches!(expect, Expect::Keep | Expect::Space(OutputSpace::Partial)) {
            texts.push(TextScan {
                order,
                table,
                column,
                values: values[i].clone(),
                partial: *expect != Expect::Keep,
                found: f,
            });
            continue;
        }
        let expected = match expect {
            Expect::Space(space) => {
                let declared = expected_matches(*space, &values[i], distinct[i]);
                // The share of the rule's real outputs that the source
                // holds. With no hit among the probes it only says the
                // chance is small, so the declared space still counts.
                let measured = match (&probes[i], probe_found[i]) {
                    (Some(p), Some(hits)) => {
                        let outputs: HashSet<&String> = p.iter().collect();
                        sampled as f64 * hits as f64 / outputs.len().max(1) as f64
                    }
                    _ => 0.0,
                };
                Some(declared.max(measured))
            }
            _ => None,
        };
        let result = |status: Status, found: Option<u64>, message: String| ColumnResult {
            order,
            table: name.clone(),
            column: column.name.clone(),
            rule: column.rule.clone(),
            status,
            sampled,
            found_in_source: found,
            match_rate: found.map(|f| f as f64 / sampled.max(1) as f64),
            expected_rate: expected.map(|e| e / sampled.max(1) as f64),
            text: None,
            accepted: column.accepted.clone(),
            message,
        };
        let pct = |n: f64| 100.0 * n / sampled.max(1) as f64;
        let verdict = match expect {
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
                format!(
                    "none of {sampled} sampled value(s) exist in the source column \
                     (about {:.1}% would by chance)",
                    pct(expected.unwrap_or(0.0))
                ),
            ),
            Expect::Space(OutputSpace::Constant) => result(
                Status::Info,
                Some(f),
                format!(
                    "the rule writes a constant, which the source column also holds \
                     ({f} of {sampled} sampled value(s))"
                ),
            ),
            Expect::Space(_) if far_above(f, expected.unwrap_or(0.0)) => result(
                Status::Leak,
                Some(f),
                format!(
                    "{f} of {sampled} sampled value(s) ({:.1}%) exist in the source column, \
                     where the rule's outputs would match about {:.1}% by chance",
                    pct(f as f64),
                    pct(expected.unwrap_or(0.0))
                ),
            ),
            _ => result(
                Status::Info,
                Some(f),
                format!(
                    "{f} of {sampled} sampled value(s) ({:.1}%) also exist in the source column; \
                     about {:.1}% would by chance from this rule's outputs",
                    pct(f as f64),
                    pct(expected.unwrap_or(0.0))
                ),
            ),
        };
        out.push(accept(verdict));
    }
    Ok(())
}

/// A leak on a column the rules accept becomes `accepted`.
pub(crate) fn accept(mut r: ColumnResult) -> ColumnResult {
    if let (Some(why), Status::Leak) = (&r.accepted, r.status) {
        r.status = Status::Accepted;
        r.message = format!("{} (accepted in the rules: {why})", r.message);
    }
    r
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
            // Blanks and punctuation are not personal: never sampled.
            if let Some(v) = row
                .get::<_, Option<String>>(i)
                .filter(|v| may_be_personal(v))
            {
                set.insert(v);
            }
        }
    }
    Ok(values)
}

impl VerifyReport {
    /// The per-column list for people: leaks, warnings, accepted findings
    /// and information, then every other column that had values to sample
    /// (what was sampled, expected by chance and found is in each line),
    /// then a summary line.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        for status in [
            Status::Leak,
            Status::NotUnique,
            Status::Accepted,
            Status::Info,
            Status::Ok,
        ] {
            for c in self.columns.iter().filter(|c| c.status == status) {
                if status == Status::Ok && c.sampled == 0 {
                    continue;
                }
                let label = status.label();
                let _ = writeln!(
                    s,
                    "{label:<8} {}.{} ({}): {}",
                    c.table,
                    crate::sql::display_ident(&c.column),
                    c.rule,
                    c.message
                );
            }
        }
        let broken = self
            .columns
            .iter()
            .filter(|c| c.status == Status::NotUnique)
            .count();
        let claims = match broken {
            0 => String::new(),
            n => format!(", {n} broken `unique: true` claim(s)"),
        };
        let _ = writeln!(
            s,
            "{}: {} leak(s){claims}, {} accepted in {} column(s) checked (up to {} values each)",
            if self.failures == 0 { "ok" } else { "failed" },
            self.failures - broken,
            self.accepted,
            self.columns.len(),
            self.sample
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[&str]) -> HashSet<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn chance_comes_from_the_output_space() {
        let ten: HashSet<String> = (0..10).map(|i| format!("v{i}")).collect();
        // A 4-digit hash over a column of 5,000 distinct values: half match.
        assert_eq!(expected_matches(OutputSpace::Values(1e4), &ten, 5_000), 5.0);
        assert_eq!(
            expected_matches(OutputSpace::Values(f64::INFINITY), &ten, 5_000),
            0.0
        );
        // fpe keeping 4 symbols: a 4-character value cannot change, so its
        // match is not chance; a 6-character one has 100 outputs.
        let fpe = OutputSpace::Shape {
            radix: 10.0,
            kept: 4,
        };
        assert_eq!(expected_matches(fpe, &set(&["1234"]), 50), 0.0);
        assert_eq!(expected_matches(fpe, &set(&["123456"]), 50), 0.5);
    }

    #[test]
    fn far_above_chance_is_a_leak() {
        assert!(far_above(1, 0.0), "one match where none is possible");
        assert!(!far_above(0, 0.0));
        assert!(!far_above(5, 5.0), "as many as chance gives");
        assert!(!far_above(20, 5.0));
        assert!(!far_above(2, 0.05), "a rare chance hit or two");
        assert!(far_above(100, 5.0), "a regex that changed nothing");
    }

    #[test]
    fn blanks_and_punctuation_are_not_personal() {
        for v in ["", " ", "  ", "-", "()", "+ -", "…"] {
            assert!(!may_be_personal(v), "{v:?}");
        }
        for v in ["a", "7", "é", "+1 555"] {
            assert!(may_be_personal(v), "{v:?}");
        }
    }

    #[test]
    fn accepted_columns_do_not_fail() {
        let r = ColumnResult {
            order: (0, 0),
            text: None,
            table: "t".into(),
            column: "c".into(),
            rule: "keep accepted".into(),
            status: Status::Leak,
            sampled: 10,
            found_in_source: None,
            match_rate: None,
            expected_rate: None,
            accepted: Some("shop addresses".into()),
            message: "emails".into(),
        };
        let r = accept(r);
        assert_eq!(r.status, Status::Accepted);
        assert!(
            r.message.contains("accepted in the rules: shop addresses"),
            "{}",
            r.message
        );
    }
}
