//! Arrays: a scalar rule on an array column (`text[]`, `int[]`) applies to
//! each element; NULL elements stay NULL and the shape (dimensions, bounds
//! decoration) is kept.
//!
//! This reads and writes PostgreSQL's array text format (`array_out`):
//! `{a,"b c",NULL,"x\"y"}`, nested `{{1,2},{3,4}}`, and the `[0:1]={..}`
//! bounds prefix. An element is double-quoted when it is empty, equals
//! `NULL` in any case, or holds a brace, a quote, a backslash, the
//! delimiter or white space; inside quotes `"` and `\` are backslashed.

use super::{RowView, Transform, ValueError, Written};

/// Applies `inner` to every non-NULL element of an array value.
pub(crate) struct ArrayOf {
    pub inner: Box<dyn Transform>,
    /// `,` for every type but `box`.
    pub delimiter: u8,
}

impl Transform for ArrayOf {
    fn apply(
        &self,
        input: &[u8],
        row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let mut element = Vec::new();
        let mut result = Vec::new();
        let mut i = 0;
        // Bounds decoration: copied up to and including `=`.
        if input.first() == Some(&b'[') {
            let eq = memchr::memchr(b'=', input).ok_or_else(malformed)?;
            out.extend_from_slice(&input[..=eq]);
            i = eq + 1;
        }
        let mut depth = 0usize;
        while i < input.len() {
            let b = input[i];
            match b {
                b'{' => {
                    depth += 1;
                    out.push(b);
                    i += 1;
                }
                b'}' => {
                    depth = depth.checked_sub(1).ok_or_else(malformed)?;
                    out.push(b);
                    i += 1;
                }
                _ if b == self.delimiter || b.is_ascii_whitespace() => {
                    out.push(b);
                    i += 1;
                }
                _ if depth == 0 => return Err(malformed()),
                _ => {
                    // One element, quoted or not.
                    element.clear();
                    let quoted = b == b'"';
                    if quoted {
                        i += 1;
                        loop {
                            match input.get(i) {
                                None => return Err(malformed()),
                                Some(b'"') => {
                                    i += 1;
                                    break;
                                }
                                Some(b'\\') => {
                                    element.push(*input.get(i + 1).ok_or_else(malformed)?);
                                    i += 2;
                                }
                                Some(&c) => {
                                    element.push(c);
                                    i += 1;
                                }
                            }
                        }
                    } else {
                        while let Some(&c) = input.get(i) {
                            if c == self.delimiter || c == b'}' {
                                break;
                            }
                            if c == b'\\' {
                                element.push(*input.get(i + 1).ok_or_else(malformed)?);
                                i += 2;
                            } else {
                                element.push(c);
                                i += 1;
                            }
                        }
                        // Unquoted elements lose surrounding white space.
                        while element.last().is_some_and(|c| c.is_ascii_whitespace()) {
                            element.pop();
                        }
                    }
                    let value = if !quoted && element.eq_ignore_ascii_case(b"NULL") {
                        None
                    } else {
                        Some(&element[..])
                    };
                    result.clear();
                    match super::apply(&*self.inner, value, row, &mut result)? {
                        Written::Null => out.extend_from_slice(b"NULL"),
                        Written::Value => write_element(&result, self.delimiter, out),
                    }
                }
            }
        }
        if depth != 0 {
            return Err(malformed());
        }
        Ok(Written::Value)
    }
}

fn malformed() -> ValueError {
    ValueError("malformed array value".into())
}

/// Appends one element in array text format, quoted where needed.
pub(crate) fn write_element(value: &[u8], delimiter: u8, out: &mut Vec<u8>) {
    let needs_quotes = value.is_empty()
        || value.eq_ignore_ascii_case(b"NULL")
        || value.iter().any(|&c| {
            matches!(c, b'{' | b'}' | b'"' | b'\\')
                || c == delimiter
                || c.is_ascii_whitespace()
                || c == 0x0b
        });
    if !needs_quotes {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'"');
    for &c in value {
        if c == b'"' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upper-cases ASCII, NULL stays NULL: shows what moves where.
    struct Upper;
    impl Transform for Upper {
        fn apply(
            &self,
            input: &[u8],
            _: &RowView<'_>,
            out: &mut Vec<u8>,
        ) -> Result<Written, ValueError> {
            out.extend(input.iter().map(|c| c.to_ascii_uppercase()));
            Ok(Written::Value)
        }
    }

    fn run(input: &str) -> Result<String, ValueError> {
        let t = ArrayOf {
            inner: Box::new(Upper),
            delimiter: b',',
        };
        let mut out = Vec::new();
        t.apply(input.as_bytes(), &RowView::empty(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn elements_are_transformed_one_by_one() {
        assert_eq!(run("{a,b}").unwrap(), "{A,B}");
        assert_eq!(run("{}").unwrap(), "{}");
        assert_eq!(
            run(r#"{a,"b c",NULL,"x\"y"}"#).unwrap(),
            r#"{A,"B C",NULL,"X\"Y"}"#
        );
        // A quoted "null" is a string, and must stay quoted once upper-cased.
        assert_eq!(run(r#"{"null",null}"#).unwrap(), r#"{"NULL",NULL}"#);
        assert_eq!(run("{{a,b},{c,d}}").unwrap(), "{{A,B},{C,D}}");
        assert_eq!(run("[0:1]={a,b}").unwrap(), "[0:1]={A,B}");
    }

    #[test]
    fn awkward_elements_round_trip() {
        // What the benchmark's tags hold: quotes, commas, braces, a tab, a backslash.
        let input = "{\"\\\"quoted\\\"\",\"a,b\",\"brace{}\",\"tab\there\",\"backslash\\\\\",\"\"}";
        let expected =
            "{\"\\\"QUOTED\\\"\",\"A,B\",\"BRACE{}\",\"TAB\tHERE\",\"BACKSLASH\\\\\",\"\"}";
        assert_eq!(run(input).unwrap(), expected);
    }

    #[test]
    fn malformed_arrays_are_errors_without_the_value() {
        for bad in ["{a", "a}", "{\"a}", "x"] {
            let e = run(bad).unwrap_err();
            assert_eq!(e.0, "malformed array value");
        }
    }
}
