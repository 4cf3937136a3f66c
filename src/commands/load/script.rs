//! Running a SQL script without psql: statements are found the way psql
//! finds them (a `;` outside quotes, dollar quotes and comments), and a
//! `COPY … FROM stdin` statement takes the lines after it as its rows, up
//! to `\.`.
//!
//! Statements are sent in batches of about 1 MiB (one simple query each),
//! rows in chunks of about 1 MiB: memory stays bounded whatever the file's
//! size.

use std::io::BufRead;

use anyhow::{anyhow, Context, Result};
use bytes::BytesMut;
use futures_util::SinkExt;
use tokio_postgres::Client;

use crate::error::PgResultExt;

/// Statements gathered before they are sent, and rows per COPY message.
const CHUNK: usize = 1 << 20;

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
                        if let Some(len) = dollar_tag(&b[i..]) {
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

/// The length of a dollar-quote opener at the start of `b` (`$$`,
/// `$body$`), if it is one: a tag is letters, digits and underscores, not
/// starting with a digit (`$1` is a parameter).
fn dollar_tag(b: &[u8]) -> Option<usize> {
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

/// Runs a script on `client`: statements, and COPY blocks with their rows.
pub struct Script<R: BufRead> {
    input: R,
    /// For messages: the file's name.
    name: String,
    splitter: Splitter,
    pending: String,
    line: Vec<u8>,
    line_no: u64,
    /// Rows loaded per table, in the order of the script.
    pub tables: Vec<(String, u64)>,
}

impl<R: BufRead> Script<R> {
    pub fn new(input: R, name: &str, marker: Option<&str>) -> Script<R> {
        Script {
            input,
            name: name.to_string(),
            splitter: Splitter::new(marker),
            pending: String::new(),
            line: Vec::new(),
            line_no: 0,
            tables: Vec::new(),
        }
    }

    /// Reads one line into `self.line`; false at the end of the file.
    fn read_line(&mut self) -> Result<bool> {
        self.line.clear();
        let n = self
            .input
            .read_until(b'\n', &mut self.line)
            .with_context(|| format!("reading {}", self.name))?;
        self.line_no += 1;
        Ok(n > 0)
    }

    /// Runs statements up to the marker line (true) or the end (false).
    pub async fn run(&mut self, client: &Client) -> Result<bool> {
        loop {
            if !self.read_line()? {
                if let Some(rest) = self.splitter.rest() {
                    self.pending.push_str(&rest);
                }
                self.flush(client).await?;
                return Ok(false);
            }
            let text = std::str::from_utf8(&self.line).map_err(|_| {
                anyhow!(
                    "{}:{}: the line is not valid UTF-8",
                    self.name,
                    self.line_no
                )
            })?;
            for event in self.splitter.push(text) {
                match event {
                    Event::Statement(s) => match copy_from_stdin(&s) {
                        Some(table) => {
                            self.flush(client).await?;
                            let rows = self.copy(client, &s, &table).await?;
                            self.tables.push((table, rows));
                        }
                        None => {
                            self.pending.push_str(&s);
                            if self.pending.len() >= CHUNK {
                                self.flush(client).await?;
                            }
                        }
                    },
                    Event::Marker => {
                        self.flush(client).await?;
                        return Ok(true);
                    }
                    Event::Meta(m) => {
                        let cmd = m.split_whitespace().next().unwrap_or("");
                        // pg_dump 15.14+ guards its scripts with these; they
                        // mean nothing outside psql.
                        if cmd != "\\restrict" && cmd != "\\unrestrict" {
                            return Err(anyhow!(
                                "{}:{}: the psql meta-command {cmd} cannot run without psql; \
                                 load this file with psql -f",
                                self.name,
                                self.line_no
                            ));
                        }
                    }
                }
            }
        }
    }

    async fn flush(&mut self, client: &Client) -> Result<()> {
        if code_start(&self.pending).trim().is_empty() {
            self.pending.clear();
            return Ok(());
        }
        let sql = std::mem::take(&mut self.pending);
        let name = &self.name;
        let line = self.line_no;
        client
            .batch_execute(&sql)
            .await
            .pg_context(|| format!("running the statements of {name} before line {line}"))
    }

    /// Streams the rows after a COPY statement, up to `\.`.
    async fn copy(&mut self, client: &Client, statement: &str, table: &str) -> Result<u64> {
        let sink = client
            .copy_in::<_, bytes::Bytes>(statement)
            .await
            .pg_context(|| format!("starting the load of {table}"))?;
        futures_util::pin_mut!(sink);
        let mut buf = BytesMut::with_capacity(CHUNK + 64 * 1024);
        loop {
            if !self.read_line()? {
                return Err(anyhow!(
                    "{}: the rows of {table} end without their `\\.` line; the file is cut short",
                    self.name
                ));
            }
            if self.line == b"\\.\n" || self.line == b"\\." || self.line == b"\\.\r\n" {
                break;
            }
            buf.extend_from_slice(&self.line);
            if buf.len() >= CHUNK {
                sink.send(buf.split().freeze())
                    .await
                    .pg_context(|| format!("loading {table}"))?;
            }
        }
        if !buf.is_empty() {
            sink.send(buf.split().freeze())
                .await
                .pg_context(|| format!("loading {table}"))?;
        }
        sink.as_mut()
            .finish()
            .await
            .pg_context(|| format!("finishing the load of {table}"))
    }
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
