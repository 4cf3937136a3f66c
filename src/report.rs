//! The JSON run report (`--report FILE`) and the summary table printed at
//! the end of a run. The report's fields are documented in
//! `docs/report.md`; a test checks a real report against that list.

use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::pipeline::TableStats;

/// The `--report` value that prints the report to stdout.
pub const STDOUT: &str = "-";

/// How a run ended, as monitoring reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exit 0: the target was replaced.
    Success,
    /// Exit 1 or 2: the target was left as it was.
    Failed,
    /// Exit 3: `--verify` found a leak; the target was left as it was.
    LeakFound,
    /// Exit 130 or 143: a signal stopped the run; the target was left as it was.
    Interrupted,
}

impl Outcome {
    /// The outcome that goes with a failed run's exit code.
    pub fn of_exit_code(code: u8) -> Outcome {
        match code {
            0 => Outcome::Success,
            crate::error::EXIT_GAPS => Outcome::LeakFound,
            c if c >= 128 => Outcome::Interrupted,
            _ => Outcome::Failed,
        }
    }
}

/// The report written by `--report`. Every field is documented in
/// `docs/report.md`; `tests/it/operations.rs` checks a real report against
/// that list, so a field added here must be documented there.
#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    pub seconds: f64,
    pub outcome: Outcome,
    /// The error's text when the run failed (no row values, no secrets).
    pub error: Option<String>,
    pub exit_code: u8,
    pub source: String,
    pub target: Option<String>,
    pub rules_digest: Option<String>,
    /// The subset as given (`10%`), or null for a full copy.
    pub subset: Option<String>,
    /// The subset as a fraction in (0, 1], or null for a full copy.
    pub subset_fraction: Option<f64>,
    /// Sums over `tables`.
    pub rows_written: u64,
    pub bytes: u64,
    /// Tables copied (on failure, the ones that finished).
    pub tables: Vec<TableStats>,
    /// Wall-clock seconds per phase.
    pub phases: Phases,
    /// What `--verify` found, or null when it did not run.
    pub verify: Option<crate::verify::VerifyReport>,
    /// When the source is a hot standby: `pg_last_xact_replay_timestamp()`
    /// at the snapshot (RFC 3339, UTC), how fresh the copy is. Null for a
    /// primary.
    pub source_replay_timestamp: Option<String>,
    /// Tables that had rows but came out empty without a rule asking for it.
    pub warnings: Vec<EmptyTable>,
    /// The run's peak resident memory (`VmHWM` of /proc/self/status), or
    /// null where the system does not tell.
    pub peak_rss_bytes: Option<u64>,
    /// `sync --workers external`: every worker's units and timings; null
    /// when this process copied the rows.
    pub workers: Option<Vec<WorkerReport>>,
}

/// One worker's share of a `sync --workers external` run.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerReport {
    pub name: String,
    /// The units it did, in unit order.
    pub units: Vec<UnitReport>,
    pub rows: u64,
    /// Sum of its units' wall-clock seconds.
    pub seconds: f64,
    /// Sum of its units' CPU seconds (the worker process, all threads).
    pub cpu_seconds: f64,
}

/// One work unit as a worker did it.
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub unit: i32,
    pub table: String,
    /// 1-based page range of `parts`.
    pub part: i32,
    pub parts: i32,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
}

/// This process's peak resident memory since it started: `VmHWM`, which
/// counts this program only. (`getrusage`'s `ru_maxrss` would also count the
/// parent that spawned it, whose memory a child started with CLONE_VM
/// shares until its exec.)
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

impl Report {
    /// Writes the report through a temporary file renamed into place, so a
    /// monitor never reads half a report. `-` prints it to stdout as one
    /// line, so a log collector keeps it in one piece.
    /// Checks, before a run copies anything, that a report can be written
    /// at `path`: its directory takes a new file, and `path` is not a
    /// directory. A report that fails only after the swap cannot undo it.
    pub fn check_writable(path: &Path) -> Result<()> {
        if path == Path::new(STDOUT) {
            return Ok(());
        }
        let usage = |why: String| -> anyhow::Error {
            crate::error::UsageError::new(format!(
                "--report {}: {why}; pass a path in a writable directory",
                path.display()
            ))
            .into()
        };
        if path.is_dir() {
            return Err(usage("is a directory".into()));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        tempfile::NamedTempFile::new_in(dir)
            .map(drop)
            .map_err(|e| usage(format!("cannot write in {}: {e}", dir.display())))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        if path == Path::new(STDOUT) {
            let line = serde_json::to_string(self).expect("report serializes");
            println!("{line}");
            return Ok(());
        }
        let text = serde_json::to_string_pretty(self).expect("report serializes") + "\n";
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("writing the report to {}", path.display()))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())
            .with_context(|| format!("writing the report to {}", path.display()))?;
        tmp.persist(path)
            .map_err(|e| e.error)
            .with_context(|| format!("writing the report to {}", path.display()))?;
        Ok(())
    }
}

/// What `export` and `load` know of their run, for the same `--report` as
/// sync's: the fields they have, the others null or empty.
pub struct Brief {
    /// The source URL (export) or the export's path (load).
    pub source: String,
    /// The target URL (load) or the `--out` path (export).
    pub target: String,
    pub subset: Option<crate::subset::SubsetSpec>,
    pub started_at: SystemTime,
}

impl Brief {
    /// Writes the report of a run that ended with `result` (the tables it
    /// wrote). A successful run whose report cannot be written fails.
    pub fn write(self, path: &Path, result: &Result<Vec<TableStats>>) -> Result<()> {
        let (outcome, error, exit_code, tables) = match result {
            Ok(t) => (Outcome::Success, None, 0, t.clone()),
            Err(e) => {
                let code = crate::error::exit_code(e);
                let text = crate::error::render(e);
                (Outcome::of_exit_code(code), Some(text), code, Vec::new())
            }
        };
        let report = Report {
            tool: "anonymize",
            version: env!("CARGO_PKG_VERSION"),
            started_at: rfc3339(self.started_at),
            finished_at: rfc3339(SystemTime::now()),
            seconds: self.started_at.elapsed().unwrap_or_default().as_secs_f64(),
            outcome,
            error,
            exit_code,
            source: self.source,
            target: Some(self.target),
            rules_digest: None,
            subset: self.subset.map(|s| s.to_string()),
            subset_fraction: self.subset.map(|s| match s {
                crate::subset::SubsetSpec::All => 1.0,
                crate::subset::SubsetSpec::Fraction(f) => f,
            }),
            rows_written: tables.iter().map(|t| t.rows_written).sum(),
            bytes: tables.iter().map(|t| t.bytes).sum(),
            tables,
            phases: Phases::default(),
            verify: None,
            source_replay_timestamp: None,
            warnings: Vec::new(),
            peak_rss_bytes: peak_rss_bytes(),
            workers: None,
        };
        report.write(path)
    }
}

/// Wall-clock seconds per phase of a run; `None` for a phase that did not
/// run (or not yet, when the run failed). Post-data overlaps the copy:
/// `post_data_after_copy` is the part the run waited for after the last
/// table was loaded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    /// Rules, source catalog, plan (and subset).
    pub plan: Option<f64>,
    /// Target checks, pg_dump, the load database and pre-data.
    pub schema: Option<f64>,
    /// First COPY started to last COPY committed.
    pub copy: Option<f64>,
    /// First post-data step (index, key, foreign key, row count, ANALYZE)
    /// started to last one done.
    pub post_data: Option<f64>,
    /// The part of `post_data` after the copy ended.
    pub post_data_after_copy: Option<f64>,
    /// Time spent counting the target's rows (the row-count safety net),
    /// summed over tables; part of `post_data`.
    pub row_counts: Option<f64>,
    /// Sequences, materialized views, statistics of what was not copied
    /// (`--into existing`: foreign-key checks and sequences).
    pub finish: Option<f64>,
    /// `--verify`.
    pub verify: Option<f64>,
    /// The rename that makes the load live.
    pub swap: Option<f64>,
    /// Dropping the old target, after the swap (the new one is live).
    pub drop_previous: Option<f64>,
}

/// `phases: plan 0.1 s, schema 0.4 s, copy 8.0 s, post-data 9.1 s (2.0 s
/// after the copy; row counts 0.6 s), finish 0.1 s, swap 0.1 s`.
pub fn phases_line(p: &Phases) -> String {
    let mut parts = Vec::new();
    let add = |parts: &mut Vec<String>, name: &str, v: Option<f64>| {
        if let Some(v) = v {
            parts.push(format!("{name} {v:.1} s"));
        }
    };
    add(&mut parts, "plan", p.plan);
    add(&mut parts, "schema", p.schema);
    add(&mut parts, "copy", p.copy);
    if let Some(v) = p.post_data {
        let mut s = format!("post-data {v:.1} s");
        if let Some(after) = p.post_data_after_copy {
            s.push_str(&format!(" ({after:.1} s after the copy"));
            if let Some(c) = p.row_counts {
                s.push_str(&format!("; row counts {c:.1} s"));
            }
            s.push(')');
        }
        parts.push(s);
    } else {
        add(&mut parts, "row counts", p.row_counts);
    }
    add(&mut parts, "finish", p.finish);
    add(&mut parts, "verify", p.verify);
    add(&mut parts, "swap", p.swap);
    add(&mut parts, "dropping the old target", p.drop_previous);
    if parts.is_empty() {
        return String::new();
    }
    format!("phases: {}\n", parts.join(", "))
}

/// `SystemTime` as RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Tables the end-of-run summary lists one by one; past this, it lists the
/// largest and sums up the rest (`--report` has every table).
pub const SUMMARY_TABLES: usize = 20;

/// The end-of-run table: table, rows, MB, seconds, rows/s; with a subset,
/// also the source's row estimate and the share kept. With more than
/// `SUMMARY_TABLES` tables (a schema per tenant), the largest by bytes,
/// one line for the others, then the total.
pub fn summary_table(stats: &[TableStats]) -> String {
    let mut s = String::new();
    let subset = stats.iter().any(|t| t.kept_fraction.is_some());
    let shown: Vec<&TableStats> = if stats.len() > SUMMARY_TABLES {
        let mut by_size: Vec<&TableStats> = stats.iter().collect();
        by_size.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.table.cmp(&b.table)));
        by_size.truncate(SUMMARY_TABLES);
        by_size
    } else {
        stats.iter().collect()
    };
    let others = stats.len() - shown.len();
    let others_label = format!("… {others} more tables");
    let total_label = if others > 0 {
        format!("total ({} tables)", stats.len())
    } else {
        "total".to_string()
    };
    let width = shown
        .iter()
        .map(|t| t.table.chars().count())
        .chain([total_label.chars().count()])
        .chain((others > 0).then(|| others_label.chars().count()))
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = write!(s, "{:<width$}  {:>12}", "table", "rows");
    if subset {
        let _ = write!(s, "  {:>12}  {:>6}", "of ~", "kept");
    }
    let _ = writeln!(s, "  {:>9}  {:>8}  {:>12}", "MB", "seconds", "rows/s");
    for t in &shown {
        let _ = write!(s, "{:<width$}  {:>12}", t.table, t.rows_written);
        if subset {
            let total = if t.source_rows_estimate < 0 {
                "?".to_string()
            } else {
                t.source_rows_estimate.to_string()
            };
            let kept = match t.kept_fraction {
                Some(f) => format!("{:.1}%", f * 100.0),
                None if t.selection == "all rows" => "all".to_string(),
                None => "?".to_string(),
            };
            let _ = write!(s, "  {total:>12}  {kept:>6}");
        }
        let _ = writeln!(
            s,
            "  {:>9.1}  {:>8.2}  {:>12.0}",
            t.bytes as f64 / 1e6,
            t.seconds,
            t.rows_written as f64 / t.seconds.max(1e-6)
        );
    }
    let blank = if subset {
        format!("  {:>12}  {:>6}", "", "")
    } else {
        String::new()
    };
    let sum = |ts: &mut dyn Iterator<Item = &TableStats>| {
        ts.fold((0u64, 0u64), |(r, b), t| (r + t.rows_written, b + t.bytes))
    };
    let (rows, bytes) = sum(&mut stats.iter());
    if others > 0 {
        let (shown_rows, shown_bytes) = sum(&mut shown.iter().copied());
        let _ = writeln!(
            s,
            "{others_label:<width$}  {:>12}{blank}  {:>9.1}",
            rows - shown_rows,
            (bytes - shown_bytes) as f64 / 1e6
        );
    }
    let _ = writeln!(
        s,
        "{total_label:<width$}  {rows:>12}{blank}  {:>9.1}",
        bytes as f64 / 1e6
    );
    s
}

/// A table that had rows in the source and keeps none, although no rule
/// asked for that: the subset went wrong for it, or a root is too small.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EmptyTable {
    pub table: String,
    pub message: String,
}

impl EmptyTable {
    fn new(table: &crate::plan::TablePlan, what: &str) -> EmptyTable {
        EmptyTable {
            table: table.table.name.to_string(),
            message: format!(
                "table {} has ~{} rows in the source but {what} ({}); \
                 name it under `subset: {{ roots: [...] }}` or give it `subset: all` in the rules",
                table.table.name,
                table.table.estimated_rows,
                table.selection().text
            ),
        }
    }
}

/// Tables that came out empty after a copy while the source (by its
/// estimate) had rows and no rule (`skip`, `where:`, a share of its own)
/// asked for it.
pub fn empty_after_copy(
    plan: &crate::plan::Plan,
    stats: &[crate::pipeline::TableStats],
) -> Vec<EmptyTable> {
    plan.tables()
        .iter()
        .filter(|t| !t.selection().empty_by_rule && t.table.estimated_rows > 0)
        .filter(|t| {
            let name = t.table.name.to_string();
            stats.iter().any(|s| s.table == name && s.rows_written == 0)
        })
        .map(|t| EmptyTable::new(t, "none were kept"))
        .collect()
}

/// The same from the plan's estimates, without copying (for `check`).
pub fn empty_by_estimate(plan: &crate::plan::Plan) -> Vec<EmptyTable> {
    plan.tables()
        .iter()
        .filter(|t| !t.selection().empty_by_rule && t.table.estimated_rows > 0)
        .filter(|t| t.selection().expected_empty)
        .map(|t| EmptyTable::new(t, "the subset is expected to keep none"))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::pipeline::TableStats;

    fn stats(table: &str, rows: u64, bytes: u64) -> TableStats {
        TableStats {
            table: table.to_string(),
            rows_read: rows,
            rows_written: rows,
            bytes,
            seconds: 0.5,
            source_rows_estimate: rows as i64,
            source_rows_from: Default::default(),
            selection: "all rows".to_string(),
            kept_fraction: None,
        }
    }

    #[test]
    fn a_summary_of_many_tables_lists_the_largest_then_the_rest_and_the_total() {
        // 25 tables: t1 (1 MB) .. t25 (25 MB), 10 rows each.
        let all: Vec<TableStats> = (1..=25u64)
            .map(|i| stats(&format!("tenant.t{i}"), 10, i * 1_000_000))
            .collect();
        let text = summary_table(&all);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + SUMMARY_TABLES + 2, "{text}");
        assert!(lines[1].starts_with("tenant.t25 "), "{text}");
        assert!(lines[SUMMARY_TABLES].starts_with("tenant.t6 "), "{text}");
        assert!(!text.contains("tenant.t5 "), "{text}");
        // The five smallest (1+2+3+4+5 MB, 50 rows) in one line.
        let rest: Vec<&str> = lines[SUMMARY_TABLES + 1].split_whitespace().collect();
        assert_eq!(rest, ["…", "5", "more", "tables", "50", "15.0"], "{text}");
        let total: Vec<&str> = lines[SUMMARY_TABLES + 2].split_whitespace().collect();
        assert_eq!(total, ["total", "(25", "tables)", "250", "325.0"], "{text}");
    }

    #[test]
    fn a_summary_of_few_tables_lists_each() {
        let all = [
            stats("public.a", 3, 2_000_000),
            stats("public.b", 4, 1_000_000),
        ];
        let text = summary_table(&all);
        assert!(text.contains("\npublic.a "), "{text}");
        assert!(text.contains("\npublic.b "), "{text}");
        let total: Vec<&str> = text.lines().last().unwrap().split_whitespace().collect();
        assert_eq!(total, ["total", "7", "3.0"], "{text}");
    }

    use super::*;
    use std::time::Duration;

    #[test]
    fn phases_line_names_each_phase_that_ran() {
        let p = Phases {
            plan: Some(0.12),
            schema: Some(0.4),
            copy: Some(8.04),
            post_data: Some(9.1),
            post_data_after_copy: Some(2.0),
            row_counts: Some(0.61),
            swap: Some(0.1),
            drop_previous: Some(0.83),
            ..Phases::default()
        };
        assert_eq!(
            phases_line(&p),
            "phases: plan 0.1 s, schema 0.4 s, copy 8.0 s, post-data 9.1 s (2.0 s after the copy; row counts 0.6 s), swap 0.1 s, dropping the old target 0.8 s\n"
        );
        assert_eq!(phases_line(&Phases::default()), "");
    }

    #[test]
    fn rfc3339_formats_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
