//! Log setup: `tracing` to stderr, as text or one JSON object per line.
//! The level comes from -v/-q/--log-level, else `ANONYMIZE_LOG` (default
//! `info`).
//!
//! Whatever `ANONYMIZE_LOG` says, tokio-postgres's `query` module stays at
//! `info`: at `debug` it logs every statement's parameters, and `verify`
//! sends sampled values as parameters.

use tracing_subscriber::EnvFilter;

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [LogFormat; 2] = [LogFormat::Text, LogFormat::Json];

    /// The name `--log-format` takes.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// `--log-level`, and what -v/-q amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// Every level, in the order `--help` lists them.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    /// The `tracing` directive for this level, and the name
    /// `--log-level` takes.
    pub fn directive(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

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
