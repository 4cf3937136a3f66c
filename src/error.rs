//! Error categories, the exit code each one maps to, and the one function
//! that turns a PostgreSQL error into text that is safe to print.
//!
//! Errors that choose an exit code are typed (`UsageError`, `RulesErrors`,
//! `GapsFound`, `Interrupted`); everything else is an `anyhow` chain and exits
//! 1. `main` walks the chain once to pick the code.

use std::fmt;

/// Exit code: the run did what was asked.
pub const EXIT_OK: u8 = 0;
/// Exit code: a runtime failure (connection lost, constraint failed, ...).
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code: bad usage, configuration or rules; nothing was written.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: `check` found gaps or `verify` found a leak.
pub const EXIT_GAPS: u8 = 3;
/// Exit code: the sync succeeded and the target was replaced, but the
/// report could not be written.
pub const EXIT_REPORT: u8 = 4;

/// The run itself succeeded, only its report could not be written (exit 4):
/// exit 1 would say the target is as it was, which is no longer true.
#[derive(Debug, thiserror::Error)]
#[error("the sync succeeded and the target was replaced, but the report could not be written")]
pub struct ReportNotWritten;

/// Bad command line or configuration (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    pub fn new(msg: impl Into<String>) -> Self {
        UsageError(msg.into())
    }
}

/// Where in a rules file something was written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: usize,
    /// 1-based; 0 when unknown.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}", self.file),
            (l, 0) => write!(f, "{}:{l}", self.file),
            (l, c) => write!(f, "{}:{l}:{c}", self.file),
        }
    }
}

/// One problem in the rules, with where it was written and what to do.
#[derive(Debug, Clone)]
pub struct RulesError {
    pub location: Location,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every rules problem found in one pass (exit 2). Reported together so one
/// run shows the whole list.
#[derive(Debug, thiserror::Error)]
pub struct RulesErrors(pub Vec<RulesError>);

impl fmt::Display for RulesErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in the rules; nothing was copied",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

/// `check` found gaps or `verify` found a leak (exit 3). The details were
/// already printed by the command.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct GapsFound(pub String);

/// The run was stopped by a signal; the target was left as it was.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {signal}; the target was left as it was before the run")]
pub struct Interrupted {
    pub signal: &'static str,
    pub exit_code: u8,
}

/// Picks the exit code for an error by walking its chain once.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    // Added as context, so seen by anyhow's downcast, not in the chain.
    if err.is::<ReportNotWritten>() {
        return EXIT_REPORT;
    }
    for cause in err.chain() {
        if cause.is::<UsageError>() || cause.is::<RulesErrors>() {
            return EXIT_USAGE;
        }
        if cause.is::<GapsFound>() {
            return EXIT_GAPS;
        }
        if let Some(i) = cause.downcast_ref::<Interrupted>() {
            return i.exit_code;
        }
    }
    EXIT_RUNTIME
}

/// Renders an error chain for the user, one cause per line, without the
/// repetition that `tokio_postgres::Error` would add (its Display already
/// includes its cause) and without PostgreSQL DETAIL lines, which can quote
/// row values.
pub fn render(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = match cause.downcast_ref::<tokio_postgres::Error>() {
            Some(pg) => pg_error_text(pg),
            None => cause.to_string(),
        };
        // A cause whose text is already contained in the previous part is a
        // wrapper printing its source again.
        if parts.last().is_some_and(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
        if cause.is::<tokio_postgres::Error>() {
            break; // its source is included in pg_error_text already
        }
    }
    parts.join(": ")
}

/// Safe text for a PostgreSQL error: severity, SQLSTATE, message, hint and
/// the object names. DETAIL and WHERE are dropped because they can quote row
/// values (e.g. "Key (email)=(alice@example.com) already exists").
pub fn pg_error_text(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let mut s = format!(
            "{} ({code}): {}",
            db.severity(),
            redact_message(code, db.message())
        );
        for (label, value) in [
            ("schema", db.schema()),
            ("table", db.table()),
            ("column", db.column()),
            ("constraint", db.constraint()),
        ] {
            if let Some(v) = value {
                s.push_str(&format!(", {label} {v}"));
            }
        }
        if let Some(hint) = db.hint() {
            s.push_str(&format!("\n  hint: {hint}"));
        }
        return s;
    }
    if err.is_closed() {
        return "the connection was closed".to_string();
    }
    // Non-database errors (I/O, protocol) do not carry row data. Newer
    // tokio-postgres versions leave the cause out of Display; add it once.
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

/// Data exceptions (SQLSTATE class 22) quote the offending input in the
/// message itself (`invalid input syntax for type integer: "abc"`); that
/// input is a row value, so the quoted part is cut.
fn redact_message(code: &str, message: &str) -> String {
    if code.starts_with("22") {
        if let Some(i) = message.find(": \"") {
            return format!("{}: <value redacted>", &message[..i]);
        }
    }
    message.to_string()
}

/// Extension to attach safe PostgreSQL error text as context.
pub trait PgResultExt<T> {
    /// Converts a PostgreSQL error into an `anyhow` error whose text never
    /// includes DETAIL, with `what` as context.
    fn pg_context<F: FnOnce() -> String>(self, what: F) -> anyhow::Result<T>;
}

impl<T> PgResultExt<T> for Result<T, tokio_postgres::Error> {
    fn pg_context<F: FnOnce() -> String>(self, what: F) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::anyhow!("{}: {}", what(), pg_error_text(&e)))
    }
}

/// Returns the SQLSTATE of a PostgreSQL error, if any.
pub fn sqlstate(err: &tokio_postgres::Error) -> Option<&str> {
    err.code().map(|c| c.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_category() {
        let e = anyhow::Error::new(UsageError::new("x")).context("while parsing");
        assert_eq!(exit_code(&e), EXIT_USAGE);
        let e = anyhow::Error::new(GapsFound("gap".into()));
        assert_eq!(exit_code(&e), EXIT_GAPS);
        let e = anyhow::anyhow!("boom");
        assert_eq!(exit_code(&e), EXIT_RUNTIME);
        let e = anyhow::Error::new(Interrupted {
            signal: "SIGTERM",
            exit_code: 143,
        });
        assert_eq!(exit_code(&e), 143);
    }

    #[test]
    fn data_exception_messages_lose_the_quoted_value() {
        assert_eq!(
            redact_message(
                "22P02",
                "invalid input syntax for type integer: \"4111-1111\""
            ),
            "invalid input syntax for type integer: <value redacted>"
        );
        assert_eq!(
            redact_message("42P01", "relation \"t\" does not exist"),
            "relation \"t\" does not exist"
        );
    }

    #[test]
    fn location_prints_file_line_column() {
        let l = Location {
            file: "rules/a.yml".into(),
            line: 3,
            column: 7,
        };
        assert_eq!(l.to_string(), "rules/a.yml:3:7");
    }
}
