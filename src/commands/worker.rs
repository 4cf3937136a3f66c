//! The `worker` command: one of many runners of one sync
//! (`crate::workers`). Its options, then the worker loop.

use anyhow::Result;

use crate::cli::WorkerArgs;
use crate::config::{Overrides, Settings};
use crate::error::UsageError;
use crate::signals::Signals;
use crate::workers::worker::{self, WorkerOptions};

/// Runs a worker until the run has no unit left; the line it prints says
/// what it did.
pub async fn run(args: &WorkerArgs) -> Result<String> {
    let settings = Settings::resolve(
        args.common.config.as_deref(),
        Overrides {
            jobs: Some(args.jobs),
            ..Overrides::common(&args.common)
        },
    )?;
    if args.jobs == 0 {
        return Err(UsageError::new("--jobs must be at least 1").into());
    }
    let opts = WorkerOptions {
        source: settings.source_conn()?,
        target: settings.target_conn()?,
        rules: settings.rules.clone(),
        secret: super::sync::secret_from_env()?,
        jobs: args.jobs,
        name: args.name.clone().unwrap_or_else(default_name),
        wait: args.wait,
        lock_timeout: args.lock_timeout,
        progress: args.common.progress(),
    };
    // SIGTERM (a Pod being stopped) drops the unit's transaction: its rows
    // and its claim roll back together, and another worker takes it.
    let outcome = Signals::install()?.guard(worker::run(&opts)).await?;
    Ok(format!(
        "worker {}: {} unit(s), {} rows in {:.1} s\n",
        opts.name, outcome.units, outcome.rows, outcome.seconds
    ))
}

/// `worker-N` in a Kubernetes Indexed Job, else `host:pid`.
fn default_name() -> String {
    if let Some(i) = std::env::var("JOB_COMPLETION_INDEX")
        .ok()
        .filter(|s| !s.is_empty())
    {
        return format!("worker-{i}");
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "worker".into());
    format!("{host}:{}", std::process::id())
}
