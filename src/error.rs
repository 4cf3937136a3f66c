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
///
/// The message itself is printed only for the classes whose messages are
/// known to name objects and settings, never a row value
/// (`SHOWN_CLASSES`). Any other class can quote values: data exceptions
/// (`value "3000000000" is out of range for type integer`), integrity
/// violations, a `RAISE` from a trigger or a function, under any
/// `ERRCODE` it likes (`38000`, `2F000`, …). For those only the SQLSTATE,
/// its condition name and the object names from the error's own fields
/// are printed, never the message.
pub fn pg_error_text(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let mut s = if quotes_values(code) {
            format!(
                "{} ({code} {}): the server's message is not shown, as it can quote row values",
                db.severity(),
                condition_name(code)
            )
        } else {
            format!("{} ({code}): {}", db.severity(), db.message())
        };
        for (label, value) in [
            ("schema", db.schema()),
            ("table", db.table()),
            ("column", db.column()),
            ("data type", db.datatype()),
            ("constraint", db.constraint()),
        ] {
            if let Some(v) = value {
                s.push_str(&format!(", {label} {v}"));
            }
        }
        // A hint is the server's advice and never quotes a row, except in
        // the classes whose texts can (a RAISE may set any HINT).
        // Never PostgreSQL's `TRUNCATE ... CASCADE` advice: cascading
        // would empty tables that are not the run's to empty.
        if let Some(hint) = db
            .hint()
            .filter(|h| !quotes_values(code) && !h.contains("CASCADE"))
        {
            s.push_str(&format!("\n  hint: {hint}"));
        }
        if is_recovery_conflict(db.message()) {
            s.push_str(&format!("\n  hint: {CONFLICT_HINT}"));
        } else if let Some(step) = next_step(code) {
            s.push_str(&format!("\n  hint: {step}"));
        }
        return s;
    }
    if err.is_closed() {
        // The server may have said why, on a connection that was idle.
        return match server_closing_reason() {
            Some(why) => format!("the connection was closed by the server: {why}"),
            None => "the connection was closed".to_string(),
        };
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

/// What the user does next after an error of this SQLSTATE, where the
/// server's own text does not say: the faults a run meets on a busy server,
/// and the rows the rules made that the target's constraints refuse.
fn next_step(code: &str) -> Option<&'static str> {
    Some(match code {
        "57P01" => {
            "an administrator ended the run's session (pg_terminate_backend, \
             DROP DATABASE ... WITH (FORCE), or a server shutdown; the server's log says which); \
             run again once nothing ends it"
        }
        "57P02" => "the server restarted after a crash; run again once it is back",
        "57P03" => "the server is starting or stopping; run again once it accepts connections",
        "57P04" => "the database was dropped during the run; run again",
        "23505" | "23P01" => {
            "the loaded rows are not distinct under this constraint: give its columns \
             rules that keep distinct values distinct (`unique: true`, `hash`, or `keep`)"
        }
        "23503" => {
            "a key and the key it references were given different rules: map both the \
             same way (the same rule and options, or `keep` on both)"
        }
        "23514" => {
            "a rule's output breaks this CHECK: choose a rule whose values it accepts \
             (`hash` with `format:` and `length:`, `set:`, or `keep`)"
        }
        "23502" => {
            "the target column is NOT NULL: give it a rule that makes a value \
             (`set:`, `fake:` or `hash`)"
        }
        _ => return None,
    })
}

/// SQLSTATE classes whose server messages name objects, settings and SQL
/// text, never a row value: what a user needs to fix a connection, a
/// privilege, a rules `where:` or a busy server. An allowlist, so that a
/// class nobody thought of (a `RAISE … USING ERRCODE = '38000'`) is
/// redacted rather than printed.
const SHOWN_CLASSES: &[&str] = &[
    "08", // connection exception
    "0A", // feature not supported
    "25", // invalid transaction state (read-only transaction)
    "28", // invalid authorization specification
    "3D", // invalid catalog name (no such database)
    "3F", // invalid schema name
    "40", // transaction rollback (serialization failure, deadlock)
    "42", // syntax error or access rule violation
    "53", // insufficient resources
    "54", // program limit exceeded
    "55", // object not in prerequisite state (lock not available)
    "57", // operator intervention (cancelled, terminated, recovery conflict)
    "58", // system error (I/O)
    "F0", // configuration file error
    "XX", // internal error
];

/// Whether messages of this SQLSTATE may quote a row value: any class not
/// in `SHOWN_CLASSES`.
fn quotes_values(code: &str) -> bool {
    !code
        .get(..2)
        .is_some_and(|class| SHOWN_CLASSES.contains(&class))
}

/// The condition name of a SQLSTATE in the classes whose messages are not
/// shown (PostgreSQL's errcodes.txt), so the error still says what happened.
pub fn condition_name(code: &str) -> &'static str {
    CONDITIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
        .unwrap_or(match code.get(..2) {
            Some("22") => "data_exception",
            Some("23") => "integrity_constraint_violation",
            Some("P0") => "plpgsql_error",
            Some("38") => "external_routine_exception",
            Some("39") => "external_routine_invocation_exception",
            Some("2F") => "sql_routine_exception",
            Some("21") => "cardinality_violation",
            Some("44") => "with_check_option_violation",
            Some("HV") => "fdw_error",
            _ => "error of a class whose messages are not shown",
        })
}

/// Condition names of classes 22, 23 and P0, from PostgreSQL's errcodes.txt.
const CONDITIONS: &[(&str, &str)] = &[
    ("22000", "data_exception"),
    ("2202E", "array_subscript_error"),
    ("22021", "character_not_in_repertoire"),
    ("22008", "datetime_field_overflow"),
    ("22012", "division_by_zero"),
    ("22005", "error_in_assignment"),
    ("2200B", "escape_character_conflict"),
    ("22022", "indicator_overflow"),
    ("22015", "interval_field_overflow"),
    ("2201E", "invalid_argument_for_logarithm"),
    ("22014", "invalid_argument_for_ntile_function"),
    ("22016", "invalid_argument_for_nth_value_function"),
    ("2201F", "invalid_argument_for_power_function"),
    ("2201G", "invalid_argument_for_width_bucket_function"),
    ("22018", "invalid_character_value_for_cast"),
    ("22007", "invalid_datetime_format"),
    ("22019", "invalid_escape_character"),
    ("2200D", "invalid_escape_octet"),
    ("22025", "invalid_escape_sequence"),
    ("22P06", "nonstandard_use_of_escape_character"),
    ("22010", "invalid_indicator_parameter_value"),
    ("22023", "invalid_parameter_value"),
    ("22013", "invalid_preceding_or_following_size"),
    ("2201B", "invalid_regular_expression"),
    ("2201W", "invalid_row_count_in_limit_clause"),
    ("2201X", "invalid_row_count_in_result_offset_clause"),
    ("2202H", "invalid_tablesample_argument"),
    ("2202G", "invalid_tablesample_repeat"),
    ("22009", "invalid_time_zone_displacement_value"),
    ("2200C", "invalid_use_of_escape_character"),
    ("2200G", "most_specific_type_mismatch"),
    ("22004", "null_value_not_allowed"),
    ("22002", "null_value_no_indicator_parameter"),
    ("22003", "numeric_value_out_of_range"),
    ("2200H", "sequence_generator_limit_exceeded"),
    ("22026", "string_data_length_mismatch"),
    ("22001", "string_data_right_truncation"),
    ("22011", "substring_error"),
    ("22027", "trim_error"),
    ("22024", "unterminated_c_string"),
    ("2200F", "zero_length_character_string"),
    ("22P01", "floating_point_exception"),
    ("22P02", "invalid_text_representation"),
    ("22P03", "invalid_binary_representation"),
    ("22P04", "bad_copy_file_format"),
    ("22P05", "untranslatable_character"),
    ("2200L", "not_an_xml_document"),
    ("2200M", "invalid_xml_document"),
    ("2200N", "invalid_xml_content"),
    ("2200S", "invalid_xml_comment"),
    ("2200T", "invalid_xml_processing_instruction"),
    ("22030", "duplicate_json_object_key_value"),
    ("22031", "invalid_argument_for_sql_json_datetime_function"),
    ("22032", "invalid_json_text"),
    ("22033", "invalid_sql_json_subscript"),
    ("22034", "more_than_one_sql_json_item"),
    ("22035", "no_sql_json_item"),
    ("22036", "non_numeric_sql_json_item"),
    ("22037", "non_unique_keys_in_a_json_object"),
    ("22038", "singleton_sql_json_item_required"),
    ("22039", "sql_json_array_not_found"),
    ("2203A", "sql_json_member_not_found"),
    ("2203B", "sql_json_number_not_found"),
    ("2203C", "sql_json_object_not_found"),
    ("2203D", "too_many_json_array_elements"),
    ("2203E", "too_many_json_object_members"),
    ("2203F", "sql_json_scalar_required"),
    ("2203G", "sql_json_item_cannot_be_cast_to_target_type"),
    ("23000", "integrity_constraint_violation"),
    ("23001", "restrict_violation"),
    ("23502", "not_null_violation"),
    ("23503", "foreign_key_violation"),
    ("23505", "unique_violation"),
    ("23514", "check_violation"),
    ("23P01", "exclusion_violation"),
    ("P0000", "plpgsql_error"),
    ("P0001", "raise_exception"),
    ("P0002", "no_data_found"),
    ("P0003", "too_many_rows"),
    ("P0004", "assert_failure"),
];

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

/// What the server said when it last closed one of our connections on its
/// own (`conn` records it), for the "connection was closed" error that
/// follows on a connection that was idle.
static CLOSING_REASON: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Keeps why the server closed a connection (a recovery conflict, an
/// administrator's terminate), for `pg_error_text` of the next error.
pub fn record_closing_reason(e: &tokio_postgres::Error) {
    if let Ok(mut reason) = CLOSING_REASON.lock() {
        *reason = Some(pg_error_text(e));
    }
}

fn server_closing_reason() -> Option<String> {
    CLOSING_REASON.lock().ok()?.clone()
}

/// What the user changes when a standby cancels a read.
pub const CONFLICT_HINT: &str = "the source is a hot standby that cancelled the read to replay \
    changes from the primary; set hot_standby_feedback = on on the standby, or a larger \
    max_standby_streaming_delay (-1 waits for as long as the sync runs), then run again";

/// Whether a server message is a recovery conflict ("canceling statement
/// due to conflict with recovery", or "terminating connection ..." for an
/// idle session).
pub fn is_recovery_conflict(message: &str) -> bool {
    message.contains("conflict with recovery")
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
    fn value_quoting_classes_are_named_not_quoted() {
        assert!(quotes_values("22003") && quotes_values("23505") && quotes_values("P0001"));
        assert!(!quotes_values("42P01") && !quotes_values("08006"));
        // Classes nobody listed are redacted: RAISE may use any ERRCODE.
        assert!(quotes_values("38000") && quotes_values("2F005") && quotes_values("HV000"));
        assert_eq!(condition_name("38001"), "external_routine_exception");
        assert_eq!(condition_name("22003"), "numeric_value_out_of_range");
        assert_eq!(condition_name("22P02"), "invalid_text_representation");
        assert_eq!(condition_name("22021"), "character_not_in_repertoire");
        assert_eq!(condition_name("P0001"), "raise_exception");
        assert_eq!(condition_name("22ZZZ"), "data_exception");
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
