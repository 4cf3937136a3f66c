//! Text in the schema that pg_dump copies verbatim into staging and
//! fixtures, whatever the rules say about rows: view definitions, function
//! bodies, column defaults, CHECK constraints and comments.
//!
//! Two things in that text matter:
//! - a **connection string** (`dblink('host=db.prod … password=…')`) is a
//!   live path to production: `sync`, `export` and `check` refuse it (exit
//!   2 before any row moves, a gap in `check`), naming the object;
//! - an **email or phone number** in a literal (`DEFAULT
//!   'ceo@realcorp.com'`) is personal data no rule covers: `check` warns
//!   and `verify` fails (exit 3), naming the object.
//!
//! Neither message ever quotes the text. An object a person has reviewed
//! is listed in the rules under `allow_schema_text:` with the reason, and
//! is then copied as it is.

use std::sync::LazyLock;

use anyhow::Result;
use regex::Regex;
use tokio_postgres::Client;

use crate::error::{Location, PgResultExt, RulesError, RulesErrors};
use crate::pii::Kind;
use crate::rules::Rules;

/// One object's text.
#[derive(Debug, Clone)]
pub struct SchemaText {
    /// `view`, `function`, `default`, `check` or `comment`.
    pub kind: String,
    /// How users name it, in messages and in `allow_schema_text:`
    /// (`view public.partner_feed`, `default of public.users.contact`).
    pub object: String,
    pub body: String,
}

/// Reads every object's text from the source, inside the snapshot (whose
/// `search_path = pg_catalog` makes the names schema-qualified).
pub async fn read(client: &Client) -> Result<Vec<SchemaText>> {
    Ok(client
        .query(include_str!("catalog/schema_text.sql"), &[])
        .await
        .pg_context(|| "reading view, function, default, check and comment texts".into())?
        .iter()
        .filter_map(|r| {
            Some(SchemaText {
                kind: r.get(0),
                object: r.get(1),
                body: r.get::<_, Option<String>>(2)?,
            })
        })
        .collect())
}

/// A libpq connection string or URL, or a `password=` setting: a URL
/// scheme, or two `key=value` settings in a row (`host=db dbname=app`).
/// `password = crypt(…)` in SQL (spaces around `=`) is a comparison, not
/// a setting.
static CONNECTION_STRING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\bpassword=[^\s'=]|\bpostgres(?:ql)?://|\b(?:host|hostaddr|port|dbname|user|sslmode)=[^\s'=]+\s+(?:host|hostaddr|port|dbname|user|password|sslmode)=",
    )
    .expect("valid regex")
});

/// Whether `text` holds a connection string or a password setting.
pub fn has_connection_string(text: &str) -> bool {
    CONNECTION_STRING.is_match(text)
}

/// The string literals of SQL text (`'…'`, with `''` inside), where a
/// personal value in a default, a CHECK or a view would be.
fn literals(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut lit = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    lit.push('\'');
                    continue;
                }
                break;
            }
            lit.push(c);
        }
        out.push(lit);
    }
    out
}

/// The personal data kind (email, phone, card number) an object's text
/// holds in a literal, if any: a comment is free text as a whole; a
/// default, CHECK or view only in its string literals. Function bodies
/// are code, left to review.
pub fn personal_literal(t: &SchemaText) -> Option<Kind> {
    match t.kind.as_str() {
        "comment" => personal_in(&t.body),
        "default" | "check" | "view" => literals(&t.body).iter().find_map(|l| personal_in(l)),
        _ => None,
    }
}

/// The kind of the first email, phone or card number in `text` that is
/// not one reserved for examples (`noreply@example.com` reaches no one).
fn personal_in(text: &str) -> Option<Kind> {
    crate::pii::fragments(text)
        .into_iter()
        .find(|(kind, value)| !crate::pii::is_reserved(*kind, value))
        .map(|(kind, _)| kind)
}

/// Whether the rules let `object`'s text through (`allow_schema_text:`).
fn allowed(rules: &Rules, object: &str) -> bool {
    rules.allow_schema_text.iter().any(|(o, _, _)| o == object)
}

/// The rules file a problem about the schema points at: where
/// `allow_schema_text:` is, or the first rules file.
fn rules_location(rules: &Rules) -> Location {
    rules
        .allow_schema_text_location
        .clone()
        .unwrap_or_else(|| Location {
            file: rules.files.first().cloned().unwrap_or_default(),
            line: 0,
            column: 0,
        })
}

/// Refuses connection strings in the schema's text (exit 2, a gap in
/// `check`), one error per object, unless the rules allow the object.
pub fn refuse_connection_strings(rules: &Rules, texts: &[SchemaText]) -> Result<()> {
    let errors: Vec<RulesError> = texts
        .iter()
        .filter(|t| t.kind != "check" && has_connection_string(&t.body))
        .filter(|t| !allowed(rules, &t.object))
        .map(|t| RulesError {
            location: rules_location(rules),
            message: format!(
                "{} holds a connection string or a password, which would reach staging as it is \
                 (a live path to production)",
                t.object
            ),
            hint: Some(format!(
                "drop it from the source schema, or, after review, list it in the rules: \
                 `allow_schema_text: {{ \"{}\": \"why it may be copied\" }}`",
                t.object
            )),
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RulesErrors(errors).into())
    }
}

/// One line per object whose literals hold personal data and that the
/// rules do not allow: what `check` warns about and `verify` fails on.
pub fn personal_literals(rules: &Rules, texts: &[SchemaText]) -> Vec<String> {
    texts
        .iter()
        .filter(|t| !allowed(rules, &t.object))
        .filter_map(|t| {
            personal_literal(t).map(|k| {
                format!(
                    "{} holds what looks like {} in its text, copied verbatim to the target; \
                     change it in the source schema, or list it under `allow_schema_text:` \
                     after review",
                    t.object,
                    k.plural()
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_are_found_and_comparisons_are_not() {
        for text in [
            "SELECT * FROM dblink('host=db.prod.internal dbname=app user=etl', 'SELECT 1')",
            "SELECT dblink_connect('password=hunter2')",
            "postgresql://etl@db.prod/app",
        ] {
            assert!(has_connection_string(text), "{text}");
        }
        for text in [
            "SELECT u.id FROM users u WHERE u.password = crypt($1, u.password)",
            "host = 'x'",
            "SELECT 'user=' || name FROM t",
        ] {
            assert!(!has_connection_string(text), "{text}");
        }
    }

    #[test]
    fn personal_data_is_looked_for_in_literals_and_comments() {
        let text = |kind: &str, body: &str| SchemaText {
            kind: kind.into(),
            object: "x".into(),
            body: body.into(),
        };
        assert_eq!(
            personal_literal(&text("default", "'ceo@realcorp.com'::text")),
            Some(Kind::Email)
        );
        assert_eq!(
            personal_literal(&text("check", "CHECK ((phone <> '+1 415 222 0100'::text))")),
            Some(Kind::Phone)
        );
        // Addresses and numbers reserved for examples reach no one.
        assert_eq!(
            personal_literal(&text("default", "'noreply@example.com'::text")),
            None
        );
        assert_eq!(
            personal_literal(&text("check", "CHECK ((phone <> '+1 415 555 0100'::text))")),
            None
        );
        assert_eq!(
            personal_literal(&text("comment", "ask jane.doe@corp.com")),
            Some(Kind::Email)
        );
        // Numbers outside literals are code, not data.
        assert_eq!(
            personal_literal(&text("view", " SELECT id FROM t WHERE id > 4155550100;")),
            None
        );
        assert_eq!(personal_literal(&text("function", "'a@b.co'")), None);
    }
}
