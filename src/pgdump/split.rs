//! Splitting a SQL script into statements the way psql does: a `;`
//! outside quotes, dollar quotes and comments ends one. `load` runs
//! exports with it and `filter` rewrites pg_dump scripts with it; a
//! `COPY … FROM stdin` statement is named by `copy_from_stdin`, and its
//! rows (up to `\.`) are the caller's to read.

use crate::sql;

/// What the splitter found in a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole statement, with the comments and blank lines before it.
    Statement(String),
    /// The given comment line, alone between statements.
    Marker,
    /// A psql meta-command line (`\restrict …`), outside any statement.
    Meta(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Normal,
    /// Inside '…'; `escapes` for E'…' strings, where `\'` does not end it.
    Single {
        escapes: bool,
    },
    Double,
    Dollar(String),
    LineComment,
    Block(u32),
}

/// Splits a script into statements, line by line.
pub struct Splitter {
    state: State,
    current: String,
    marker: Option<String>,
}

impl Splitter {
    /// `marker`: a comment line to report as `Event::Marker` when it stands
    /// between statements.
    pub fn new(marker: Option<&str>) -> Splitter {
        Splitter {
            state: State::Normal,
            current: String::new(),
            marker: marker.map(str::to_string),
        }
    }

    /// True when nothing but blanks and comments is pending.
    pub fn is_idle(&self) -> bool {
        self.state == State::Normal && code_start(&self.current).is_empty()
    }

    /// The statement left at the end of the script (one without a final
    /// `;`), if it holds more than comments.
    pub fn rest(&mut self) -> Option<String> {
        let s = std::mem::take(&mut self.current);
        (!code_start(&s).trim().is_empty()).then_some(s)
    }

    /// Feeds one line (with its newline).
    pub fn push(&mut self, line: &str) -> Vec<Event> {
        let mut events = Vec::new();
        if self.is_idle() {
            let trimmed = line.trim_end();
            if self.marker.as_deref() == Some(trimmed) {
                self.current.clear();
                return vec![Event::Marker];
            }
            if trimmed.trim_start().starts_with('\\') {
                return vec![Event::Meta(trimmed.trim_start().to_string())];
            }
        }
        let b = line.as_bytes();
        let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
        let mut start = 0;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let next = b.get(i + 1).copied();
            match &mut self.state {
                State::Normal => match c {
                    b'\'' => {
                        // E'…' (not part of a longer word such as `date'`).
                        let e = i >= 1
                            && matches!(b[i - 1], b'E' | b'e')
                            && (i < 2 || !ident(b[i - 2]));
                        self.state = State::Single { escapes: e };
                    }
                    b'"' => self.state = State::Double,
                    b'-' if next == Some(b'-') => {
                        self.state = State::LineComment;
                        i += 1;
                    }
                    b'/' if next == Some(b'*') => {
                        self.state = State::Block(1);
                        i += 1;
                    }
                    b'$' if i == 0 || !ident(b[i - 1]) => {
                        if let Some(len) = sql::dollar_tag(&b[i..]) {
                            self.state = State::Dollar(line[i..i + len].to_string());
                            i += len - 1;
                        }
                    }
                    b';' => {
                        self.current.push_str(&line[start..=i]);
                        events.push(Event::Statement(std::mem::take(&mut self.current)));
                        start = i + 1;
                    }
                    _ => {}
                },
                State::Single { escapes } => {
                    if *escapes && c == b'\\' {
                        i += 1;
                    } else if c == b'\'' {
                        if next == Some(b'\'') {
                            i += 1;
                        } else {
                            self.state = State::Normal;
                        }
                    }
                }
                State::Double => {
                    if c == b'"' {
                        if next == Some(b'"') {
                            i += 1;
                        } else {
                            self.state = State::Normal;
                        }
                    }
                }
                State::Dollar(tag) => {
                    if c == b'$' && b[i..].starts_with(tag.as_bytes()) {
                        i += tag.len() - 1;
                        self.state = State::Normal;
                    }
                }
                State::LineComment => {
                    if c == b'\n' {
                        self.state = State::Normal;
                    }
                }
                State::Block(depth) => {
                    if c == b'/' && next == Some(b'*') {
                        *depth += 1;
                        i += 1;
                    } else if c == b'*' && next == Some(b'/') {
                        *depth -= 1;
                        i += 1;
                        if *depth == 0 {
                            self.state = State::Normal;
                        }
                    }
                }
            }
            i += 1;
        }
        if self.state == State::LineComment {
            // A last line without its newline.
            self.state = State::Normal;
        }
        self.current.push_str(&line[start..]);
        events
    }
}

/// `s` after its leading blanks and comments.
pub fn code_start(s: &str) -> &str {
    let mut s = s.trim_start();
    loop {
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.find('\n').map_or("", |n| &rest[n + 1..]).trim_start();
        } else if s.starts_with("/*") {
            // Block comments nest in PostgreSQL.
            let b = s.as_bytes();
            let (mut depth, mut i) = (0u32, 0);
            while i + 1 < b.len() {
                match &b[i..i + 2] {
                    b"/*" => {
                        depth += 1;
                        i += 2;
                    }
                    b"*/" => {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => i += 1,
                }
            }
            s = if depth == 0 { s[i..].trim_start() } else { "" };
        } else {
            return s;
        }
    }
}

/// The table of a `COPY table [(cols)] FROM stdin` statement, as written.
pub fn copy_from_stdin(statement: &str) -> Option<String> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"(?is)^copy\s+(.+?)\s*(\(.*\))?\s+from\s+stdin\b").expect("valid regex")
    });
    re.captures(code_start(statement))
        .map(|c| c[1].trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statements(script: &str) -> Vec<String> {
        let mut s = Splitter::new(Some("-- marker"));
        let mut out = Vec::new();
        for line in script.split_inclusive('\n') {
            for e in s.push(line) {
                match e {
                    Event::Statement(t) => out.push(code_start(&t).trim().to_string()),
                    Event::Marker => out.push("<marker>".into()),
                    Event::Meta(m) => out.push(format!("<meta {m}>")),
                }
            }
        }
        if let Some(r) = s.rest() {
            out.push(code_start(&r).trim().to_string());
        }
        out
    }

    #[test]
    fn semicolons_in_quotes_comments_and_bodies_do_not_split() {
        let script = "SELECT 'a;b', \"c;d\"; -- note; here\n\
            CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n\
            CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $body$\nBEGIN\n  RETURN 1; -- $$ ;\nEND\n$body$;\n\
            /* block; /* nested; */ still; */ SELECT E'it\\'s; fine', 'it''s; fine';\n\
            SELECT $1;\n";
        assert_eq!(
            statements(script),
            vec![
                "SELECT 'a;b', \"c;d\";",
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;",
                "CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $body$\nBEGIN\n  RETURN 1; -- $$ ;\nEND\n$body$;",
                // The nested comment (with its `;`) is part of the statement.
                "SELECT E'it\\'s; fine', 'it''s; fine';",
                "SELECT $1;",
            ]
        );
    }

    #[test]
    fn markers_and_meta_commands_only_between_statements() {
        let script = "SELECT 1;\n-- marker\nSELECT '\n-- marker\n';\n\\restrict abc\nSELECT 2";
        assert_eq!(
            statements(script),
            vec![
                "SELECT 1;",
                "<marker>",
                "SELECT '\n-- marker\n';",
                "<meta \\restrict abc>",
                "SELECT 2",
            ]
        );
    }

    #[test]
    fn copy_statements_name_their_table() {
        assert_eq!(
            copy_from_stdin("--\n-- Data\n--\nCOPY \"public\".\"t\" (\"a\", \"b\") FROM stdin;"),
            Some("\"public\".\"t\"".into())
        );
        assert_eq!(
            copy_from_stdin("COPY public.t FROM STDIN;"),
            Some("public.t".into())
        );
        assert_eq!(copy_from_stdin("COPY t TO STDOUT;"), None);
        assert_eq!(copy_from_stdin("SELECT 1;"), None);
    }
}
