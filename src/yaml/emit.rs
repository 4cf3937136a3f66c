//! Writing YAML: a block document line by line (`init`'s starter rules),
//! with keys and scalars quoted where YAML needs it and comments that stay
//! on their line. What it writes is read back by `yaml::parse`; the tests
//! below check that every odd name survives the trip.

use std::fmt::Write as _;

/// A block-style YAML document, written in order.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// `# text` at `depth` (two spaces per level).
    pub fn comment(&mut self, depth: usize, text: &str) {
        self.indent(depth);
        let _ = writeln!(self.out, "# {}", comment_text(text));
    }

    /// `key:`, opening a nested block.
    pub fn open(&mut self, depth: usize, key_text: &str) {
        self.indent(depth);
        let _ = writeln!(self.out, "{}:", key(key_text));
    }

    /// `key: value  # comment`. `value` is YAML already (a scalar from
    /// `quote`, a number, or a flow map such as `{ fake: email }`).
    pub fn entry(&mut self, depth: usize, key_text: &str, value: &str, comment: Option<&str>) {
        self.indent(depth);
        let _ = write!(self.out, "{}: {value}", key(key_text));
        if let Some(c) = comment {
            let _ = write!(self.out, "  # {}", comment_text(c));
        }
        self.out.push('\n');
    }

    /// `- value  # comment`, an item of the block list opened above
    /// (`references:` then `- { columns: [id], table: public.posts }`).
    pub fn item(&mut self, depth: usize, value: &str, comment: Option<&str>) {
        self.indent(depth);
        let _ = write!(self.out, "- {value}");
        if let Some(c) = comment {
            let _ = write!(self.out, "  # {}", comment_text(c));
        }
        self.out.push('\n');
    }

    pub fn finish(self) -> String {
        self.out
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }
}

/// A mapping key: bare when it is a plain identifier (dots allowed for
/// `schema.table`) that YAML reads as text, quoted otherwise.
pub fn key(text: &str) -> String {
    let plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        && !["true", "false", "null", "yes", "no", "on", "off", "y", "n"].contains(&text);
    if plain {
        text.to_string()
    } else {
        quote(text)
    }
}

/// A scalar in quotes. Single quotes need no escapes but fold line breaks
/// into spaces, so text holding a control character (a table named with a
/// newline) is double-quoted with escapes instead.
pub fn quote(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text for a `#` comment: a line break would end the comment and leave
/// the rest of the line as YAML.
pub fn comment_text(s: &str) -> String {
    s.replace(|c: char| c.is_control(), " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_quoted_only_when_yaml_needs_it() {
        assert_eq!(key("public.users"), "public.users");
        assert_eq!(
            key("\"Billing Dept\".\"Invoice Lines\""),
            "'\"Billing Dept\".\"Invoice Lines\"'"
        );
        assert_eq!(key("Customer Email"), "'Customer Email'");
        assert_eq!(key("null"), "'null'");
        assert_eq!(key("it's"), "'it''s'");
        assert_eq!(key("a\nb\"c\\"), r#""a\nb\"c\\""#);
        assert_eq!(key("tab\there\u{7}"), r#""tab\there\u0007""#);
    }

    /// Whatever a name holds, the document reads back with that name as
    /// the key, the value and the comment in place.
    #[test]
    fn odd_names_survive_a_round_trip() {
        let names = [
            "users",
            "null",
            "yes",
            "~",
            "1e5",
            "0x1F",
            "a: b",
            "a #b",
            "- x",
            "it's",
            "\"quoted\"",
            "line\nbreak",
            "tab\there",
            "bell\u{7}",
            "back\\slash",
            "ünïcödé",
            "{ flow }",
            "*alias",
            "&anchor",
            "!tag",
            "%percent",
            "@at",
            "`tick`",
            " lead",
            "trail ",
            "",
        ];
        for name in names {
            let mut w = Writer::new();
            w.comment(0, &format!("about {name}"));
            w.open(0, "tables");
            w.entry(1, name, &quote(name), Some(&format!("why: {name}")));
            w.open(0, "list");
            w.item(1, &quote(name), Some(name));
            let text = w.finish();
            let doc = crate::yaml::parse(&text).unwrap_or_else(|e| panic!("{name:?}: {e}\n{text}"));
            let tables = doc
                .get("tables")
                .unwrap_or_else(|| panic!("{name:?}\n{text}"));
            let value = tables
                .get(name)
                .unwrap_or_else(|| panic!("{name:?}\n{text}"));
            assert_eq!(value.as_str(), Some(name), "{text}");
            assert_eq!(doc.position_of(&["tables", name]).map(|p| p.line), Some(3));
            let item = doc.get("list").and_then(|l| match &l.value {
                crate::yaml::Value::Sequence(items) => items.first(),
                _ => None,
            });
            assert_eq!(item.and_then(|n| n.as_str()), Some(name), "{text}");
        }
    }
}
