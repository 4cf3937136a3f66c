//! `template`: text built from the row's output values,
//! `{ template: "{first_name}.{last_name}@example.com" }`.
//!
//! Placeholders name columns of the same table and read the value those
//! columns are written with (the fake name, not the real one), so a
//! `full_name` stays consistent with the faked `first_name` and
//! `last_name`. The plan computes the columns a template reads before it
//! and refuses reference cycles.

use serde::Deserialize;

use super::{BuildContext, RowView, Transform, TransformOptions, ValueError, Written};
use crate::catalog::TypeKind;

/// `{ template: "TEXT {column} TEXT" }`
///
/// Writes TEXT with every `{column}` replaced by that column's output
/// value in the same row (`{{` and `}}` write literal braces). A NULL
/// column reads as empty text; a NULL input stays NULL. Works on text
/// columns; the output is cut to `varchar(n)`.
#[derive(Debug, Clone)]
pub struct Options {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Column(String),
}

fn parse(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') | None => {
                            return Err(format!("unclosed `{{` in template `{template}`; write `{{{{` for a literal brace"))
                        }
                        Some(c) => name.push(c),
                    }
                }
                if name.is_empty() {
                    return Err(format!("empty placeholder `{{}}` in template `{template}`"));
                }
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Column(name));
            }
            '}' => {
                return Err(format!(
                    "unmatched `}}` in template `{template}`; write `}}}}` for a literal brace"
                ))
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = String::deserialize(d)?;
        let parts = parse(&source).map_err(serde::de::Error::custom)?;
        Ok(Options { source, parts })
    }
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        if ctx.column.is_array || !(ctx.column.kind == TypeKind::Text || ctx.is_fragment()) {
            return Err(ctx.type_error("template", "text"));
        }
        // Row values are indexed by position among the copied columns,
        // which leave out generated ones (the target computes those).
        let copied: Vec<&str> = ctx
            .columns
            .iter()
            .filter(|c| !c.generated)
            .map(|c| c.name.as_str())
            .collect();
        let mut parts = Vec::new();
        for p in &self.parts {
            parts.push(match p {
                Part::Text(t) => Piece::Text(t.clone().into_bytes()),
                Part::Column(name) => match copied.iter().position(|c| c == name) {
                    Some(i) => Piece::Column(i),
                    None => {
                        let mut msg = format!(
                            "column {}.{}: the template reads `{name}`, which is not a copied column of {}",
                            ctx.table, ctx.column.name, ctx.table
                        );
                        if let Some(s) = crate::did_you_mean::closest(name, copied.iter().copied()) {
                            msg.push_str(&format!(" (did you mean `{s}`?)"));
                        }
                        return Err(msg);
                    }
                },
            });
        }
        Ok(ctx.finish(Box::new(Template { parts }), self.uniqueness()))
    }

    fn uniqueness(&self) -> super::Uniqueness {
        super::Uniqueness::Lossy
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        // Other columns' output values are pasted in.
        if self.parts.iter().all(|p| matches!(p, Part::Text(_))) {
            super::MaxLength::Fixed(self.source.chars().count())
        } else {
            super::MaxLength::Unbounded
        }
    }

    fn output_space(&self) -> super::OutputSpace {
        if self.parts.iter().all(|p| matches!(p, Part::Text(_))) {
            super::OutputSpace::Constant
        } else {
            // Built from other columns' fakes: a combination of them
            // rarely equals a real value.
            super::OutputSpace::Values(1e6)
        }
    }

    fn describe(&self) -> String {
        format!("template({:?})", self.source)
    }

    fn needs_secret(&self) -> bool {
        false
    }

    fn reads(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for p in &self.parts {
            if let Part::Column(n) = p {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        names
    }
}

enum Piece {
    Text(Vec<u8>),
    /// Index among the copied columns.
    Column(usize),
}

struct Template {
    parts: Vec<Piece>,
}

impl Transform for Template {
    fn apply(
        &self,
        _input: &[u8],
        row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        for p in &self.parts {
            match p {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::Column(i) => match row.value(*i) {
                    Some(v) => out.extend_from_slice(v.unwrap_or_default()),
                    // The plan orders reads first; reaching this is a bug.
                    None => {
                        return Err(ValueError(format!(
                            "template: column #{i} was not computed before it"
                        )))
                    }
                },
            }
        }
        Ok(Written::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Column;
    use crate::transform::test_support::{
        apply, column, parse as parse_rule, parse_err, try_build_full, ColumnExt,
    };

    fn columns() -> Vec<Column> {
        let mut generated = column("search", "tsvector", TypeKind::Other);
        generated.generated = true;
        vec![
            column("first_name", "text", TypeKind::Text),
            generated,
            column("last_name", "text", TypeKind::Text),
            column("email", "character varying(20)", TypeKind::Text).with_max_length(20),
        ]
    }

    #[test]
    fn placeholders_read_output_values() {
        let cols = columns();
        let o = parse_rule(r#"{ template: "{first_name}.{last_name}@example.com {{x}}" }"#);
        assert_eq!(o.reads(), ["first_name", "last_name"]);
        assert!(!o.needs_secret());
        let t = try_build_full(&*o, &cols[3], &cols, b"s", "en").unwrap();
        // Copied columns: first_name (0), last_name (1), email (2).
        let arena = b"ZoeMiller";
        let spans = [Some(Some((0, 3))), Some(Some((3, 9))), None];
        let row = RowView {
            arena,
            spans: &spans,
        };
        let mut out = Vec::new();
        assert_eq!(t.apply(b"orig", &row, &mut out).unwrap(), Written::Value);
        // Cut to varchar(20).
        assert_eq!(String::from_utf8(out).unwrap(), "Zoe.Miller@example.c");
        // NULL in, NULL out; a NULL column reads as empty.
        let mut out = Vec::new();
        assert_eq!(
            crate::transform::apply(&*t, None, &row, &mut out).unwrap(),
            Written::Null
        );
        let spans = [Some(None), Some(Some((3, 9))), None];
        let row = RowView {
            arena,
            spans: &spans,
        };
        let mut out = Vec::new();
        t.apply(b"x", &row, &mut out).unwrap();
        assert_eq!(out, b".Miller@example.com ");
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(parse_err(r#"{ template: "{first" }"#).contains("unclosed `{` in template"));
        assert!(parse_err(r#"{ template: "a}" }"#).contains("unmatched `}`"));
        assert!(parse_err(r#"{ template: "{}" }"#).contains("empty placeholder"));
        let cols = columns();
        let e = try_build_full(
            &*parse_rule(r#"{ template: "{frist_name}" }"#),
            &cols[0],
            &cols,
            b"s",
            "en",
        )
        .err()
        .unwrap();
        assert_eq!(
            e,
            "column public.t.first_name: the template reads `frist_name`, which is not a copied column of public.t (did you mean `first_name`?)"
        );
        let e = try_build_full(
            &*parse_rule(r#"{ template: "{search}" }"#),
            &cols[0],
            &cols,
            b"s",
            "en",
        )
        .err()
        .unwrap();
        assert!(e.contains("not a copied column"), "{e}");
        let int = column("n", "integer", TypeKind::Int32);
        let e = try_build_full(
            &*parse_rule(r#"{ template: "x" }"#),
            &int,
            std::slice::from_ref(&int),
            b"s",
            "en",
        )
        .err()
        .unwrap();
        assert!(
            e.starts_with("`template` cannot produce a value of type integer"),
            "{e}"
        );
    }

    #[test]
    fn literal_only_templates_work() {
        let t = try_build_full(
            &*parse_rule(r#"{ template: "n/a" }"#),
            &columns()[0],
            &columns(),
            b"s",
            "en",
        )
        .unwrap();
        assert_eq!(apply(&*t, Some("x")).unwrap(), "n/a");
    }
}
