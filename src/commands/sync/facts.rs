//! What a sync records as it goes, and the report (`--report`) written
//! from it whatever the outcome.

use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::Result;

use super::{SyncOptions, SyncOutcome};
use crate::pipeline::TableStats;
use crate::report::{Outcome, Phases, Report};
use crate::subset::SubsetSpec;
use crate::verify::VerifyReport;

/// Facts gathered while the run goes, for the report whatever the outcome
/// (a failed run reports the tables it finished). Behind locks because the
/// copy workers add to them concurrently.
#[derive(Default)]
pub(super) struct Facts {
    pub(super) digest: std::sync::Mutex<Option<String>>,
    /// The subset in effect: --subset, else the rules' default.
    pub(super) subset: std::sync::Mutex<Option<SubsetSpec>>,
    pub(super) tables: std::sync::Mutex<Vec<TableStats>>,
    pub(super) verify: std::sync::Mutex<Option<VerifyReport>>,
    /// `pg_last_xact_replay_timestamp()` of a standby source.
    pub(super) source_replay: std::sync::Mutex<Option<String>>,
    pub(super) warnings: std::sync::Mutex<Vec<crate::report::EmptyTable>>,
    /// `--workers external`: each worker's units and timings.
    pub(super) workers: std::sync::Mutex<Option<Vec<crate::report::WorkerReport>>>,
    phases: std::sync::Mutex<Phases>,
    /// Start of the phase being timed.
    mark: std::sync::Mutex<Option<Instant>>,
}

impl Facts {
    pub(super) fn phase(&self, f: impl FnOnce(&mut Phases)) {
        f(&mut self.phases.lock().expect("facts lock"));
    }

    pub(super) fn phases(&self) -> Phases {
        self.phases.lock().expect("facts lock").clone()
    }

    /// Starts timing a phase.
    pub(super) fn mark(&self) {
        *self.mark.lock().expect("facts lock") = Some(Instant::now());
    }

    /// Seconds since `mark`.
    pub(super) fn since_mark(&self) -> f64 {
        self.mark
            .lock()
            .expect("facts lock")
            .map(|m| m.elapsed().as_secs_f64())
            .unwrap_or(0.0)
    }

    pub(super) fn add_table(&self, stats: TableStats) {
        self.tables.lock().expect("facts lock").push(stats);
    }
}

/// Writes the report of a run that ended with `result`. A successful run
/// whose report cannot be written fails: monitoring needs the report.
pub(super) async fn write_report(
    path: &Path,
    opts: &SyncOptions,
    facts: &Facts,
    started_at: SystemTime,
    result: &Result<SyncOutcome>,
) -> Result<()> {
    let (outcome, error, code) = match &result {
        Ok(_) => (Outcome::Success, None, 0),
        Err(e) => {
            let code = crate::error::exit_code(e);
            (
                Outcome::of_exit_code(code),
                Some(crate::error::render(e)),
                code,
            )
        }
    };
    let tables = match &result {
        Ok(o) => o.tables.clone(),
        Err(_) => {
            let mut t = std::mem::take(&mut *facts.tables.lock().expect("facts lock"));
            t.sort_by(|a, b| a.table.cmp(&b.table));
            t
        }
    };
    let subset = facts.subset.lock().expect("facts lock").or(opts.subset);
    let report = Report {
        tool: "anonymize",
        version: env!("CARGO_PKG_VERSION"),
        started_at: crate::report::rfc3339(started_at),
        finished_at: crate::report::rfc3339(SystemTime::now()),
        seconds: started_at.elapsed().unwrap_or_default().as_secs_f64(),
        outcome,
        error,
        exit_code: code,
        source: opts.source.redacted().to_string(),
        // A dry run writes nowhere: docs/report.md promises null.
        target: opts
            .target
            .as_ref()
            .filter(|_| !opts.dry_run)
            .map(|t| t.redacted().to_string()),
        rules_digest: facts.digest.lock().expect("facts lock").take(),
        subset: subset.map(|s| s.to_string()),
        subset_fraction: subset.map(|s| match s {
            SubsetSpec::All => 1.0,
            SubsetSpec::Fraction(f) => f,
        }),
        rows_written: tables.iter().map(|t| t.rows_written).sum(),
        bytes: tables.iter().map(|t| t.bytes).sum(),
        tables,
        phases: facts.phases(),
        verify: facts.verify.lock().expect("facts lock").take(),
        source_replay_timestamp: facts.source_replay.lock().expect("facts lock").take(),
        warnings: std::mem::take(&mut *facts.warnings.lock().expect("facts lock")),
        workers: facts.workers.lock().expect("facts lock").take(),
        peak_rss_bytes: crate::report::peak_rss_bytes(),
    };
    crate::failpoint::pause("report.before_write").await;
    if let Err(e) = report.write(path) {
        // Monitoring needs the report, so a successful run without one
        // fails; a failed run keeps its own error, the more useful one.
        match result {
            Ok(_) if opts.dry_run => return Err(e),
            Ok(_) => return Err(e.context(crate::error::ReportNotWritten)),
            Err(_) => {
                tracing::error!(error = %crate::error::render(&e), "the report could not be written")
            }
        }
    }
    Ok(())
}
