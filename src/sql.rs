//! SQL text: quoting identifiers and literals for what we send, reading
//! identifiers back out of text pg_dump wrote, and the display form that
//! messages and rules use.
//!
//! Everything we send names objects with `quote_ident` (always quoted, so
//! case, dots, quotes, unicode and reserved words all pass through as
//! they are). The quoting itself is `postgres_protocol::escape`, a
//! translation of libpq's `PQescapeInternal`.

use postgres_protocol::escape::{escape_identifier, escape_literal};

/// An identifier quoted for SQL: `Order "Lines"` → `"Order ""Lines"""`.
pub fn quote_ident(name: &str) -> String {
    escape_identifier(name)
}

/// A string literal for SQL: `it's` → `'it''s'`. A value holding a
/// backslash is written ` E'…'` (with a leading space, as libpq does), so
/// it reads the same whatever `standard_conforming_strings` says.
pub fn quote_literal(s: &str) -> String {
    escape_literal(s)
}

/// `schema.name`, both parts quoted: `"public"."Order Lines"`.
pub fn quote_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// An identifier as messages and rules show it: bare when it is lower-case
/// ASCII letters, digits and underscores (starting with a letter or `_`),
/// quoted otherwise. This is a display form, never sent to the server: a
/// reserved word such as `select` stays bare here, and `quote_ident` is what
/// SQL uses.
pub fn display_ident(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        quote_ident(name)
    }
}

/// The identifier at the start of `s` as pg_dump writes one, unquoted, and
/// the text after it. A quoted one ends at its closing quote (`""` is a
/// quote inside it); a bare one at whitespace or one of `.(,;`. `None` when
/// there is no identifier or its quote is never closed.
///
/// A bare identifier is returned as written: pg_dump quotes every name
/// that is not already lower case, so no case folding is needed here.
pub fn split_ident(s: &str) -> Option<(String, &str)> {
    if let Some(q) = s.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = q.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().is_some_and(|(_, n)| *n == '"') {
                    chars.next();
                    name.push('"');
                    continue;
                }
                return Some((name, &q[i + 1..]));
            }
            name.push(c);
        }
        return None;
    }
    let end = s
        .find(|c: char| c.is_whitespace() || matches!(c, '.' | '(' | ',' | ';'))
        .unwrap_or(s.len());
    (end > 0).then(|| (s[..end].to_string(), &s[end..]))
}

/// A qualified name `schema.name` at the start of `s` (each part quoted or
/// not), unquoted, and the text after it.
pub fn split_qualified(s: &str) -> Option<((String, String), &str)> {
    let (schema, rest) = split_ident(s)?;
    let rest = rest.strip_prefix('.')?;
    let (name, rest) = split_ident(rest)?;
    Some(((schema, name), rest))
}

/// The length of a dollar-quote opener at the start of `b` (`$$`,
/// `$body$`), if it is one: a tag is letters, digits and underscores, not
/// starting with a digit (`$1` is a parameter).
pub fn dollar_tag(b: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < b.len() && b[i] != b'$' {
        let c = b[i];
        let ok = c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 || (i > 1 && c.is_ascii_digit());
        if !ok {
            return None;
        }
        i += 1;
    }
    (i < b.len()).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names that need care: every one must survive quoting and parsing
    /// back unchanged.
    const ODD: &[&str] = &[
        "plain",
        "Order Lines",
        "say \"hi\"",
        "\"",
        "a.b",
        "UPPER",
        "select",
        "user",
        "naïve_📦",
        "semi;colon",
        "comma,(paren)",
        "with space",
        "back\\slash",
        "'single'",
    ];

    #[test]
    fn quoting_doubles_quotes_and_keeps_everything_else() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote_ident("a.b"), "\"a.b\"");
        assert_eq!(quote_ident("UPPER"), "\"UPPER\"");
        assert_eq!(quote_ident("select"), "\"select\"");
        assert_eq!(quote_ident("naïve_📦"), "\"naïve_📦\"");
        assert_eq!(quote_ident("back\\slash"), "\"back\\slash\"");
        assert_eq!(
            quote_qualified("My Schema", "t\"x"),
            "\"My Schema\".\"t\"\"x\""
        );
    }

    #[test]
    fn literals_double_quotes_and_escape_backslashes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(""), "''");
        assert_eq!(quote_literal("ünï"), "'ünï'");
        // Safe under either standard_conforming_strings.
        assert_eq!(quote_literal("a\\b'c"), " E'a\\\\b''c'");
    }

    #[test]
    fn quoted_names_parse_back_to_themselves() {
        for name in ODD {
            let quoted = quote_ident(name);
            assert_eq!(
                split_ident(&quoted),
                Some((name.to_string(), "")),
                "{quoted}"
            );
            let text = format!("{} ON x", quote_qualified(name, "t"));
            assert_eq!(
                split_qualified(&text),
                Some(((name.to_string(), "t".to_string()), " ON x")),
                "{text}"
            );
            // The display form of a name that needs quotes is its SQL form.
            let shown = display_ident(name);
            assert!(shown == *name || shown == quoted, "{name}: {shown}");
        }
    }

    #[test]
    fn bare_identifiers_end_where_pg_dump_puts_punctuation() {
        assert_eq!(
            split_ident("orders_pkey PRIMARY KEY"),
            Some(("orders_pkey".into(), " PRIMARY KEY"))
        );
        assert_eq!(split_ident("a, b"), Some(("a".into(), ", b")));
        assert_eq!(split_ident("t(id)"), Some(("t".into(), "(id)")));
        assert_eq!(split_ident("r;"), Some(("r".into(), ";")));
        assert_eq!(
            split_qualified("public.orders USING btree"),
            Some((("public".into(), "orders".into()), " USING btree"))
        );
        assert_eq!(split_ident(""), None);
        assert_eq!(split_ident(" x"), None);
        assert_eq!(split_ident("\"never closed"), None);
        assert_eq!(split_qualified("no_dot rest"), None);
    }

    #[test]
    fn display_quotes_only_what_rules_cannot_write_bare() {
        assert_eq!(display_ident("email"), "email");
        assert_eq!(display_ident("_x1"), "_x1");
        assert_eq!(display_ident("Email"), "\"Email\"");
        assert_eq!(display_ident("1st"), "\"1st\"");
        assert_eq!(display_ident("a.b"), "\"a.b\"");
        assert_eq!(display_ident("naïve"), "\"naïve\"");
        assert_eq!(display_ident(""), "\"\"");
        // A display form: reserved words stay as the user typed them.
        assert_eq!(display_ident("select"), "select");
    }

    #[test]
    fn a_dollar_tag_is_letters_digits_and_underscores_not_a_parameter() {
        assert_eq!(dollar_tag(b"$$ body"), Some(2));
        assert_eq!(dollar_tag(b"$body_1$ x"), Some(8));
        assert_eq!(dollar_tag(b"$1"), None);
        assert_eq!(dollar_tag(b"$a-b$"), None);
        assert_eq!(dollar_tag(b"$never"), None);
    }
}
