//! `regex`: matches in free text replaced, each by a rule
//! (`{ regex: { pattern: '\d{3}-\d{2}-\d{4}', with: { hash: { format: digits, length: 9 } } } }`)
//! or by a replacement with capture groups
//! (`{ regex: { pattern: '(\w+)@(\w+)', replace: 'user@$2' } }`).
//!
//! Text around the matches is kept as it is. With `with:`, a match is
//! transformed like a column value, so an SSN found in a note becomes the
//! same fake as the SSN column hashed with the same rule. A list of such
//! maps runs each in turn on the previous one's output (one pattern per
//! kind of personal data in free text, as `init` writes).

use std::fmt;

use regex::bytes::Regex;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::rule::ColumnRule;
use super::{
    build_inner, BuildContext, Inner, RowView, Transform, TransformOptions, ValueError, Written,
};
use crate::catalog::TypeKind;

/// `{ regex: { pattern: RE, with: RULE } }` or `{ regex: { pattern: RE, replace: TEXT } }`,
/// or a list of such maps: `{ regex: [ { pattern: A, with: X }, { pattern: B, with: Y } ] }`.
///
/// Finds every match of RE (Rust `regex` syntax) in a text value. `with`
/// transforms each match by RULE (any column rule; `null` removes it);
/// `replace` writes TEXT, where `$1`, `${name}` are the match's groups and
/// `$$` is a dollar. Exactly one of the two. A list applies its steps in
/// order, each to the text the one before wrote. Text columns (and text
/// arrays); NULL stays NULL; the result is cut to `varchar(n)`.
#[derive(Debug)]
pub struct Options {
    steps: Vec<Step>,
}

/// One pattern and what its matches become.
#[derive(Debug)]
struct Step {
    pattern: Regex,
    action: Action,
}

#[derive(Debug)]
enum Action {
    With(Box<ColumnRule>),
    Replace(String),
}

impl<'de> Deserialize<'de> for Options {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct L;
        impl<'de> Visitor<'de> for L {
            type Value = Options;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a map with `pattern` and one of `with` or `replace`, or a list of them",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Options, A::Error> {
                Ok(Options {
                    steps: vec![StepVisitor.visit_map(map)?],
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Options, A::Error> {
                let mut steps = Vec::new();
                while let Some(step) = seq.next_element::<Step>()? {
                    steps.push(step);
                }
                if steps.is_empty() {
                    return Err(de::Error::custom(
                        "`regex` takes a map with `pattern`, or a list of at least one",
                    ));
                }
                Ok(Options { steps })
            }
        }
        d.deserialize_any(L)
    }
}

struct StepVisitor;

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(StepVisitor)
    }
}

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Step;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with `pattern` and one of `with` or `replace`")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Step, A::Error> {
        let mut pattern: Option<String> = None;
        let mut action = None;
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                "pattern" => pattern = Some(map.next_value()?),
                "with" | "replace" if action.is_some() => {
                    return Err(de::Error::custom(
                        "`regex` takes one of `with` and `replace`, not both",
                    ))
                }
                "with" => action = Some(Action::With(Box::new(map.next_value()?))),
                "replace" => action = Some(Action::Replace(map.next_value()?)),
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown regex option `{other}`; expected `pattern`, `with` or `replace`"
                    )))
                }
            }
        }
        let pattern = pattern.ok_or_else(|| de::Error::custom("`regex` needs `pattern`"))?;
        let pattern = Regex::new(&pattern)
            .map_err(|e| de::Error::custom(format!("invalid `regex` pattern: {e}")))?;
        let action = action.ok_or_else(|| {
            de::Error::custom("`regex` needs `with` (a rule) or `replace` (a text)")
        })?;
        Ok(Step { pattern, action })
    }
}

impl TransformOptions for Options {
    fn build(&self, ctx: &BuildContext<'_>) -> Result<Box<dyn Transform>, String> {
        if !(ctx.column.kind == TypeKind::Text || ctx.is_fragment()) {
            return Err(ctx.type_error("regex", "text"));
        }
        let mut steps = Vec::new();
        for step in &self.steps {
            let action = match &step.action {
                Action::Replace(r) => Runtime::Replace(r.clone().into_bytes()),
                Action::With(rule) => match build_inner(
                    ctx,
                    rule,
                    &format!("{} (regex match)", ctx.column.name),
                    "regex match",
                )? {
                    Inner::Keep => Runtime::Keep,
                    Inner::Null => Runtime::Remove,
                    Inner::Transform(t) => Runtime::With(t),
                },
            };
            steps.push(RegexReplace {
                pattern: step.pattern.clone(),
                action,
            });
        }
        Ok(ctx.finish(Box::new(Steps(steps)), self.uniqueness()))
    }

    fn uniqueness(&self) -> super::Uniqueness {
        super::Uniqueness::Lossy
    }

    fn max_length(&self, _unique: bool) -> super::MaxLength {
        // A replacement may be longer than what it replaces.
        super::MaxLength::Unbounded
    }

    fn output_space(&self) -> super::OutputSpace {
        super::OutputSpace::Partial
    }

    fn describe(&self) -> String {
        let steps: Vec<String> = self.steps.iter().map(Step::describe).collect();
        format!("regex({})", steps.join("; "))
    }

    fn needs_secret(&self) -> bool {
        self.steps.iter().any(|s| match &s.action {
            Action::With(rule) => super::inner_needs_secret(rule),
            Action::Replace(_) => false,
        })
    }

    fn reads(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.steps {
            if let Action::With(rule) = &s.action {
                out.extend(super::inner_reads(rule));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

impl Step {
    fn describe(&self) -> String {
        match &self.action {
            Action::With(rule) => format!("{:?} with {}", self.pattern.as_str(), rule.describe()),
            Action::Replace(r) => format!("{:?} replace {r:?}", self.pattern.as_str()),
        }
    }
}

/// The steps of a rule, each on the text the one before wrote.
struct Steps(Vec<RegexReplace>);

impl Transform for Steps {
    fn apply(
        &self,
        input: &[u8],
        row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let Some((last, first)) = self.0.split_last() else {
            out.extend_from_slice(input);
            return Ok(Written::Value);
        };
        // The first step reads the input itself: a value is not copied
        // before it is read (one pattern, the usual rule, makes no copy).
        let (mut text, mut next) = (Vec::new(), Vec::new());
        for (k, step) in first.iter().enumerate() {
            next.clear();
            step.apply(if k == 0 { input } else { &text }, row, &mut next)?;
            std::mem::swap(&mut text, &mut next);
        }
        // `next` holds the text of the step before last, no longer read:
        // freed, so a huge value is not held once more while the last
        // step writes.
        drop(next);
        last.apply(if first.is_empty() { input } else { &text }, row, out)
    }
}

enum Runtime {
    Keep,
    Remove,
    With(Box<dyn Transform>),
    Replace(Vec<u8>),
}

struct RegexReplace {
    pattern: Regex,
    action: Runtime,
}

impl Transform for RegexReplace {
    fn apply(
        &self,
        input: &[u8],
        row: &RowView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Written, ValueError> {
        let mut at = 0;
        let mut value = Vec::new();
        for caps in self.pattern.captures_iter(input) {
            let m = caps.get(0).expect("group 0 is the match");
            out.extend_from_slice(&input[at..m.start()]);
            match &self.action {
                Runtime::Keep => out.extend_from_slice(m.as_bytes()),
                Runtime::Remove => {}
                Runtime::Replace(r) => caps.expand(r, out),
                Runtime::With(t) => {
                    value.clear();
                    if t.apply(m.as_bytes(), row, &mut value)? == Written::Value {
                        out.extend_from_slice(&value);
                    }
                }
            }
            at = m.end();
        }
        out.extend_from_slice(&input[at..]);
        Ok(Written::Value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::test_support::{apply, build, build_err, column, parse, parse_err};

    fn text() -> crate::catalog::Column {
        column("notes", "text", TypeKind::Text)
    }

    #[test]
    fn matches_are_transformed_by_the_inner_rule() {
        let o = parse(
            r#"{ regex: { pattern: '\d{3}-\d{2}-\d{4}', with: { hash: { format: digits, length: 9 } } } }"#,
        );
        let t = build(&*o, &text());
        let hash = build(&*parse("{ hash: { format: digits, length: 9 } }"), &text());
        let ssn = apply(&*hash, Some("123-45-6789")).unwrap();
        assert_eq!(
            apply(&*t, Some("SSN 123-45-6789; call; no other")).unwrap(),
            format!("SSN {ssn}; call; no other")
        );
        assert_eq!(apply(&*t, Some("nothing here")).unwrap(), "nothing here");
        assert_eq!(apply(&*t, None), None);
        assert!(o.needs_secret());
    }

    #[test]
    fn replacements_expand_groups() {
        let t = build(
            &*parse(
                r#"{ regex: { pattern: '(?P<user>\w+)@(\w+)\.com', replace: 'x-${user}@$2.test $$' } }"#,
            ),
            &text(),
        );
        assert_eq!(
            apply(&*t, Some("mail bob@corp.com now")).unwrap(),
            "mail x-bob@corp.test $ now"
        );
        let r = build(
            &*parse(r#"{ regex: { pattern: '\s+\d+', with: null } }"#),
            &text(),
        );
        assert_eq!(apply(&*r, Some("room 12 floor 3")).unwrap(), "room floor");
        assert!(!parse(r#"{ regex: { pattern: 'a', replace: 'b' } }"#).needs_secret());
    }

    #[test]
    fn a_list_of_patterns_runs_in_order() {
        let o = parse(
            r#"{ regex: [ { pattern: '[a-z]+@[a-z]+\.com', replace: 'someone@example.com' }, { pattern: '\+1 \d{3} \d{4}', replace: '+1 555 0100' } ] }"#,
        );
        let t = build(&*o, &text());
        assert_eq!(
            apply(&*t, Some("ada@corp.com or +1 312 4567")).unwrap(),
            "someone@example.com or +1 555 0100"
        );
        assert!(o.describe().contains("; "), "{}", o.describe());
        assert!(parse_err(r#"{ regex: [] }"#).contains("at least one"));
    }

    #[test]
    fn options_are_checked_where_written() {
        assert!(parse_err(r#"{ regex: { pattern: '(' } }"#).contains("invalid `regex` pattern"));
        assert!(parse_err(r#"{ regex: { pattern: 'a' } }"#)
            .contains("needs `with` (a rule) or `replace`"));
        assert!(
            parse_err(r#"{ regex: { pattern: 'a', with: keep, replace: b } }"#)
                .contains("not both")
        );
        assert!(
            parse_err(r#"{ regex: { pattern: 'a', with: { fake: nmae } } }"#)
                .contains("did you mean `name`?")
        );
        let e = build_err(
            &*parse(r#"{ regex: { pattern: 'a', replace: b } }"#),
            &column("n", "integer", TypeKind::Int32),
        );
        assert!(
            e.starts_with("`regex` cannot produce a value of type integer"),
            "{e}"
        );
    }
}
