//! An SQL condition from the rules (a table's `where:`) is embedded into
//! queries on production: `EXPLAIN`-free checks, the subset's CTEs and the
//! `COPY (SELECT … WHERE (<condition>)) TO STDOUT` of every copy. Before it
//! is embedded it must be one self-contained expression, so that it cannot
//! close the parenthesis around it, end the statement, or comment out what
//! follows: `true) TO '/file' --` would turn the COPY into a write to a
//! server file, and `true); COPY …; SELECT (1` into three statements.
//!
//! This is a lexical check, read the way the server reads SQL with
//! `standard_conforming_strings = on` (pinned on every source session):
//! quotes (`'…'`, `E'…'`, `"…"`, `$tag$…$tag$`) must close, parentheses
//! must balance and never close one opened outside, and there is no `;`
//! and no comment outside quotes. What the condition means is left to the
//! server, which sees it only through the extended protocol (one statement
//! per message).

use crate::sql;

/// Why a condition cannot be embedded, and at which character (0-based)
/// of the condition.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsafe {
    pub at: usize,
    pub what: &'static str,
}

/// Checks that `sql` is one self-contained SQL expression (see the module
/// doc); `Err` says what is wrong and where.
pub fn check(sql: &str) -> Result<(), Unsafe> {
    let b = sql.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    let at = |byte: usize| sql[..byte].chars().count();
    // Byte offsets of the open parentheses, innermost last.
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        match c {
            b'\'' => {
                // E'…' (not the end of a longer word such as `date'`):
                // a backslash escapes the next character.
                let escapes =
                    i >= 1 && matches!(b[i - 1], b'E' | b'e') && (i < 2 || !ident(b[i - 2]));
                i = close_single(b, i + 1, escapes).ok_or(Unsafe {
                    at: at(i),
                    what: "a string ('…') that is not closed",
                })?;
            }
            b'"' => {
                i = close_double(b, i + 1).ok_or(Unsafe {
                    at: at(i),
                    what: "a quoted name (\"…\") that is not closed",
                })?;
            }
            b'$' if i == 0 || !ident(b[i - 1]) => {
                if let Some(len) = sql::dollar_tag(&b[i..]) {
                    let tag = &b[i..i + len];
                    let body = i + len;
                    let end = b[body..]
                        .windows(len)
                        .position(|w| w == tag)
                        .ok_or(Unsafe {
                            at: at(i),
                            what: "a dollar-quoted string ($…$) that is not closed",
                        })?;
                    i = body + end + len - 1;
                }
            }
            b'-' if next == Some(b'-') => {
                return Err(Unsafe {
                    at: at(i),
                    what: "a comment (--)",
                })
            }
            b'/' if next == Some(b'*') => {
                return Err(Unsafe {
                    at: at(i),
                    what: "a comment (/*)",
                })
            }
            b';' => {
                return Err(Unsafe {
                    at: at(i),
                    what: "a `;` (the end of a statement)",
                })
            }
            b'(' => open.push(i),
            b')' if open.pop().is_none() => {
                return Err(Unsafe {
                    at: at(i),
                    what: "a `)` that closes nothing the condition opened",
                });
            }
            _ => {}
        }
        i += 1;
    }
    match open.last() {
        Some(&i) => Err(Unsafe {
            at: at(i),
            what: "a `(` that is not closed",
        }),
        None => Ok(()),
    }
}

/// The index of the quote closing a '…' string whose body starts at
/// `from`; `''` is a quote inside the string.
fn close_single(b: &[u8], from: usize, escapes: bool) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'\\' if escapes => i += 1,
            b'\'' if b.get(i + 1) == Some(&b'\'') => i += 1,
            b'\'' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the quote closing a "…" name whose body starts at `from`.
fn close_double(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        if b[i] == b'"' {
            if b.get(i + 1) == Some(&b'"') {
                i += 1;
            } else {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn what(sql: &str) -> Option<(usize, &'static str)> {
        check(sql).err().map(|u| (u.at, u.what))
    }

    #[test]
    fn ordinary_conditions_pass() {
        for sql in [
            "created_at > now() - interval '2 years'",
            "status IN ('a', 'b') AND (total > 0 OR (id < 10))",
            "note <> 'it''s; -- not a comment /* either */ (('",
            r"note <> E'back\'slash; )'",
            r#""weird ""name; --""" = 1"#,
            "body = $x$ ; ) -- $x$ AND body <> $$(;$$",
            "a - -1 > 0 AND b / 2 * 3 = 1",
            "id = ANY ('{1,2}'::int[])",
        ] {
            assert_eq!(check(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn a_second_statement_is_refused() {
        // The audit's filter: it would close EXPLAIN's parenthesis, write
        // a server file, and reopen one.
        assert_eq!(
            what("true); COPY (SELECT current_user) TO '/tmp/x'; SELECT (1"),
            Some((4, "a `)` that closes nothing the condition opened"))
        );
        assert_eq!(
            what("true; SELECT 1"),
            Some((4, "a `;` (the end of a statement)"))
        );
    }

    #[test]
    fn escaping_the_parenthesis_or_the_rest_of_the_query_is_refused() {
        assert_eq!(
            what("true) TO '/tmp/x' (").map(|w| w.1),
            Some("a `)` that closes nothing the condition opened")
        );
        assert_eq!(what("true -- rest"), Some((5, "a comment (--)")));
        assert_eq!(what("true /* rest"), Some((5, "a comment (/*)")));
        assert_eq!(what("(true"), Some((0, "a `(` that is not closed")));
        assert_eq!(
            what("x = 'open"),
            Some((4, "a string ('…') that is not closed"))
        );
        assert_eq!(
            what(r"x = E'open\'"),
            Some((5, "a string ('…') that is not closed"))
        );
        assert_eq!(
            what("\"open = 1"),
            Some((0, "a quoted name (\"…\") that is not closed"))
        );
        assert_eq!(
            what("x = $q$ open"),
            Some((4, "a dollar-quoted string ($…$) that is not closed"))
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(
            what("naïve = 1;"),
            Some((9, "a `;` (the end of a statement)"))
        );
    }
}
