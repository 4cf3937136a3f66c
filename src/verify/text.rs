//! Kept and partly scrubbed text (`keep`, `regex`, `json` on text and
//! JSON columns): the emails, phone and card numbers in the sampled
//! values, and values of masked source columns, are personal data left in
//! the output, a leak. What reaches no one (the tool's own fakes at
//! reserved domains, fictional numbers) and what a column's `allow:`
//! lists are not findings. Counts only, never a value.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use super::{accept, ColumnResult, Status, PERSONAL_SHARE};
use crate::catalog::TableKind;
use crate::error::PgResultExt;
use crate::pii::{self, Kind};
use crate::plan::{ColumnAction, ColumnPlan, Plan, TablePlan};
use crate::sql::quote_ident;
use crate::transform::OutputSpace;

/// A kept or partly scrubbed text column, judged once every table is
/// sampled (its values are looked up in every masked column).
pub(super) struct TextScan<'p> {
    pub order: (usize, usize),
    pub table: &'p TablePlan,
    pub column: &'p ColumnPlan,
    pub values: HashSet<String>,
    /// Partly scrubbed (`regex`, `json`) rather than `keep`.
    pub partial: bool,
    /// Partly scrubbed: sampled values found unchanged in the source column.
    pub found: u64,
}

/// What the scan of a kept or partly scrubbed text column found: counts
/// of sampled values, never a value.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TextFindings {
    /// Values holding a real email address.
    pub emails: u64,
    /// Values holding a real phone number.
    pub phones: u64,
    /// Values holding a real (Luhn-valid) card number.
    pub cards: u64,
    /// Values equal to (or holding) a value of a masked source column.
    pub masked_values: u64,
    /// The masked columns those values come from.
    pub masked_columns: Vec<String>,
    /// Values whose emails and phone numbers all reach no one (reserved
    /// domains, the tool's own fakes, fictional numbers): not findings.
    pub reserved: u64,
    /// Values whose finds all match the column's `allow:` patterns.
    pub allowed: u64,
}

impl TextFindings {
    fn any(&self) -> bool {
        self.emails + self.phones + self.cards + self.masked_values > 0
    }
}

/// Partly scrubbed columns: at most this many distinct finds per column
/// are searched for in the source column's text (each is a scan).
const MAX_TEXT_LOOKUPS: usize = 100;

/// A whole value long and particular enough that finding it in a masked
/// column says it is that column's personal data (not `active` or `Paris`).
fn distinctive(value: &str) -> bool {
    let v = value.trim();
    v.chars().count() >= 6
        && (v.contains('@')
            || v.chars().any(|c| c.is_ascii_digit())
            || (v.contains(' ') && v.chars().filter(|c| c.is_alphabetic()).count() >= 4))
}

/// Whether the rule of `column` masks personal data that identifies
/// someone on its own: replaced from a large set of outputs (emails, phone
/// numbers, full names, hashed ids), or emptied or set where the column's
/// name says it holds such data. Columns replaced from a small set (cities,
/// first names), moved along a scale (dates) or emptied free text (notes)
/// are not searched for: their values are too common, or too unrelated to
/// a person, to say anything when found elsewhere.
fn identifying_mask(table: &TablePlan, column: &ColumnPlan) -> bool {
    let named = pii::by_name(&table.table.name.name, &column.name).is_some_and(|k| {
        !matches!(
            k,
            Kind::City | Kind::Zip | Kind::FirstName | Kind::LastName | Kind::BirthDate
        )
    });
    match (&column.action, column.space) {
        (ColumnAction::Keep, _) => false,
        (ColumnAction::Null, _) | (_, Some(OutputSpace::Constant)) => named,
        (_, Some(OutputSpace::Values(n))) => n >= 1e5,
        (_, Some(OutputSpace::Dense | OutputSpace::Partial)) => false,
        _ => true,
    }
}

/// Judges the kept and partly scrubbed text columns: the emails, phone
/// and card numbers in their sampled values, and values of masked source
/// columns, are personal data left in the output. Emails at reserved
/// domains and fictional numbers (the tool's own fakes) are not, nor are
/// finds the column's `allow:` lists. In a partly scrubbed column, a find
/// counts only when the source holds it (in the same column's text or as
/// a masked value): the rule's own fakes are not in the source.
pub(super) async fn judge_texts(
    plan: &Plan,
    source: &Client,
    texts: Vec<TextScan<'_>>,
) -> Result<Vec<ColumnResult>> {
    let scanned: Vec<Scanned> = texts.iter().map(scan_values).collect();
    let probe: HashSet<String> = scanned
        .iter()
        .flat_map(|s| s.probe.iter().cloned())
        .collect();
    let masked = masked_values(plan, source, probe).await?;
    let mut out = Vec::new();
    for (scan, scanned) in texts.iter().zip(scanned) {
        let in_source = if scan.partial {
            in_source_text(source, scan, &scanned, &masked).await?
        } else {
            HashSet::new()
        };
        out.push(accept(count_findings(scan, scanned, &masked, &in_source)));
    }
    Ok(out)
}

/// A column's sampled values, sorted, with the finds in each that are
/// not reserved or allowed.
struct Scanned<'s> {
    values: Vec<&'s String>,
    /// Per value: (kind, text) of each remaining find.
    finds: Vec<Vec<(Kind, String)>>,
    /// Reserved and allowed counts so far.
    findings: TextFindings,
    /// What to look up in the masked columns: the finds, and the values
    /// particular enough.
    probe: Vec<String>,
}

fn scan_values<'s>(scan: &'s TextScan<'_>) -> Scanned<'s> {
    let mut values: Vec<&String> = scan.values.iter().collect();
    values.sort();
    let allowed_by = |text: &str| scan.column.allow.iter().any(|a| a.is_match(text));
    let mut finds = Vec::new();
    let mut findings = TextFindings::default();
    let mut probe = Vec::new();
    for v in &values {
        let (mut reserved, mut allowed) = (false, false);
        let mut candidates = Vec::new();
        for (kind, text) in pii::fragments(v) {
            if pii::is_reserved(kind, text) {
                reserved = true;
            } else if allowed_by(text) {
                allowed = true;
            } else {
                candidates.push((kind, text.to_string()));
            }
        }
        if candidates.is_empty() {
            findings.reserved += u64::from(reserved);
            findings.allowed += u64::from(allowed && !reserved);
        }
        probe.extend(candidates.iter().map(|(_, t)| t.clone()));
        if distinctive(v) && !allowed_by(v) {
            probe.push((*v).clone());
        }
        finds.push(candidates);
    }
    Scanned {
        values,
        finds,
        findings,
        probe,
    }
}

/// Which of `probe` are values of a masked source column, and of which
/// (`schema.table.column`): one scan per table with such columns.
async fn masked_values(
    plan: &Plan,
    source: &Client,
    probe: HashSet<String>,
) -> Result<HashMap<String, String>> {
    let mut masked = HashMap::new();
    if probe.is_empty() {
        return Ok(masked);
    }
    let probe: Vec<String> = probe.into_iter().collect();
    for table in plan.tables().iter().filter(|t| !t.skip) {
        let cols: Vec<&ColumnPlan> = table
            .columns
            .iter()
            .filter(|c| identifying_mask(table, c))
            .collect();
        if cols.is_empty() {
            continue;
        }
        let aggregates: Vec<String> = cols
            .iter()
            .map(|c| {
                let q = quote_ident(&c.name);
                format!("array_agg(DISTINCT {q}::text) FILTER (WHERE {q}::text = ANY($1::text[]))")
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM {}{}",
            aggregates.join(", "),
            only(table),
            table.table.name.sql()
        );
        let row = source.query_one(&sql, &[&probe]).await.pg_context(|| {
            format!(
                "looking up kept text in the masked columns of {}",
                table.table.name
            )
        })?;
        for (i, c) in cols.iter().enumerate() {
            for v in row.get::<_, Option<Vec<String>>>(i).unwrap_or_default() {
                masked
                    .entry(v)
                    .or_insert_with(|| format!("{}.{}", table.table.name, c.name));
            }
        }
    }
    Ok(masked)
}

/// Of a partly scrubbed column's finds (not already masked values), the
/// ones the source column's own text holds: left behind by the rule. The
/// others are the rule's own fakes.
async fn in_source_text(
    source: &Client,
    scan: &TextScan<'_>,
    scanned: &Scanned<'_>,
    masked: &HashMap<String, String>,
) -> Result<HashSet<String>> {
    let mut wanted: Vec<&String> = scanned
        .finds
        .iter()
        .flatten()
        .map(|(_, t)| t)
        .filter(|t| !masked.contains_key(*t))
        .collect();
    wanted.sort();
    wanted.dedup();
    wanted.truncate(MAX_TEXT_LOOKUPS);
    if wanted.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!(
        "SELECT f FROM unnest($1::text[]) AS f WHERE EXISTS \
         (SELECT 1 FROM {}{} WHERE strpos({}::text, f) > 0)",
        only(scan.table),
        scan.table.table.name.sql(),
        quote_ident(&scan.column.name)
    );
    let rows = source.query(&sql, &[&wanted]).await.pg_context(|| {
        format!(
            "looking up text found in {}.{} in the source",
            scan.table.table.name, scan.column.name
        )
    })?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// `ONLY ` for a plain table, so its inheritance children are not read.
fn only(table: &TablePlan) -> &'static str {
    match table.table.kind {
        TableKind::Ordinary => "ONLY ",
        TableKind::Partitioned => "",
    }
}

/// Counts the values holding real personal data, by kind, and judges.
fn count_findings(
    scan: &TextScan<'_>,
    scanned: Scanned<'_>,
    masked: &HashMap<String, String>,
    in_source: &HashSet<String>,
) -> ColumnResult {
    let mut tf = scanned.findings;
    let mut whole: Vec<(Kind, u64)> = Vec::new();
    for (v, candidates) in scanned.values.iter().zip(&scanned.finds) {
        let mut kinds: Vec<Kind> = Vec::new();
        let mut masked_hit: Option<&String> = masked.get(*v);
        for (kind, text) in candidates {
            let from_mask = masked.get(text);
            let real = !scan.partial || from_mask.is_some() || in_source.contains(text);
            if real && !kinds.contains(kind) {
                kinds.push(*kind);
            }
            masked_hit = masked_hit.or(from_mask);
        }
        for k in &kinds {
            match k {
                Kind::Email => tf.emails += 1,
                Kind::Phone => tf.phones += 1,
                _ => tf.cards += 1,
            }
        }
        if let Some(m) = masked_hit {
            tf.masked_values += 1;
            if !tf.masked_columns.contains(m) {
                tf.masked_columns.push(m.clone());
            }
        }
        // The whole value is one email, phone or card number.
        if let (Some(k), [(_, t)]) = (pii::by_value(v), candidates.as_slice()) {
            if kinds.contains(&k) && t.trim() == v.trim() {
                match whole.iter_mut().find(|(kind, _)| *kind == k) {
                    Some((_, n)) => *n += 1,
                    None => whole.push((k, 1)),
                }
            }
        }
    }
    tf.masked_columns.sort();
    text_verdict(scan, tf, &whole)
}

/// The verdict on a kept or partly scrubbed text column from its counts.
fn text_verdict(scan: &TextScan<'_>, tf: TextFindings, whole: &[(Kind, u64)]) -> ColumnResult {
    let sampled = scan.values.len() as u64;
    let rule = if scan.partial {
        "the rule leaves unmatched text as it is"
    } else {
        "the rule is `keep`"
    };
    let mut notes = Vec::new();
    if tf.reserved > 0 {
        notes.push(format!(
            "{} hold only addresses and numbers that reach no one (the tool's own fakes), \
             which is fine",
            tf.reserved
        ));
    }
    if tf.allowed > 0 {
        notes.push(format!(
            "{} hold only finds the rule's `allow:` lists",
            tf.allowed
        ));
    }
    let dominant = whole.iter().max_by_key(|w| w.1);
    let (status, message) = match dominant {
        Some(&(kind, n)) if n as f64 >= PERSONAL_SHARE * sampled as f64 => (
            Status::Leak,
            format!(
                "{rule}, but {n} of {sampled} sampled values are {}; \
                 give the column a rule that replaces them",
                kind.plural()
            ),
        ),
        _ if tf.any() => {
            let mut what = Vec::new();
            for (n, noun) in [
                (tf.emails, "email addresses"),
                (tf.phones, "phone numbers"),
                (tf.cards, "card numbers"),
            ] {
                if n > 0 {
                    what.push(format!("{n} hold {noun}"));
                }
            }
            if tf.masked_values > 0 {
                what.push(format!(
                    "{} hold values of the masked column(s) {}",
                    tf.masked_values,
                    tf.masked_columns.join(", ")
                ));
            }
            (
                Status::Leak,
                format!(
                    "{rule}, and of {sampled} sampled values {}: personal data from the source; \
                     scrub it with a `regex` rule, or list known values under `allow:`",
                    what.join(", ")
                ),
            )
        }
        _ if scan.partial && sampled >= 10 && scan.found == sampled => (
            Status::Leak,
            format!(
                "all {sampled} sampled values exist unchanged in the source column; \
                 the rule's paths or pattern reach none of them"
            ),
        ),
        _ => (
            Status::Ok,
            format!("no personal data in {sampled} sampled value(s)"),
        ),
    };
    let message = if notes.is_empty() {
        message
    } else {
        format!("{message} ({})", notes.join("; "))
    };
    ColumnResult {
        order: scan.order,
        table: scan.table.table.name.to_string(),
        column: scan.column.name.clone(),
        rule: scan.column.rule.clone(),
        status,
        sampled,
        found_in_source: scan.partial.then_some(scan.found),
        match_rate: scan
            .partial
            .then(|| scan.found as f64 / sampled.max(1) as f64),
        expected_rate: None,
        text: Some(tf),
        accepted: scan.column.accepted.clone(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_particular_values_are_looked_up_in_masked_columns() {
        for v in [
            "ada@x.com",
            "+1 312 555 0142",
            "Jane Doe",
            "12 Oak Street",
            "ab1234",
        ] {
            assert!(distinctive(v), "{v:?}");
        }
        for v in ["active", "Paris", "paid", "a b", "12345", "Springfield"] {
            assert!(!distinctive(v), "{v:?}");
        }
    }
}
