//! Log setup: `tracing` to stderr, as text or one JSON object per line.
//! The level comes from -v/-q/--log-level, else `ANONYMIZE_LOG` (default
//! `info`).
//!
//! Whatever `ANONYMIZE_LOG` says, tokio-postgres's `query` module stays at
//! `info`: at `debug` it logs every statement's parameters, and `verify`
//! sends sampled values as parameters.

use tracing_subscriber::EnvFilter;

use crate::cli::{LogFormat, LogLevel};

/// The directive that keeps statement parameters out of the logs; added
/// last, so it wins over any `ANONYMIZE_LOG` setting for that target.
const PARAMETERS_OFF: &str = "tokio_postgres::query=info";

/// Installs the global subscriber. Safe to call twice (the second is a no-op).
pub fn init(format: LogFormat, level: Option<LogLevel>) {
    // A flag wins over the environment. Below debug, tokio-postgres's own
    // lines stay at warn: they are about its connection, not our run.
    let filter = match level {
        Some(l @ (LogLevel::Debug | LogLevel::Trace)) => EnvFilter::new(l.directive()),
        Some(l) => EnvFilter::new(format!("{},tokio_postgres=warn", l.directive())),
        None => EnvFilter::try_from_env("ANONYMIZE_LOG")
            .unwrap_or_else(|_| EnvFilter::new("info,tokio_postgres=warn")),
    }
    .add_directive(PARAMETERS_OFF.parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
