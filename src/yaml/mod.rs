//! The crate's one YAML reader, for the rules and the config file.
//!
//! A file is parsed once, by serde-saphyr, into a `Node` tree that holds
//! the line and column of every key and value. Everything typed (the rules,
//! the config, each transform's options) is then deserialized from that
//! tree (`de`), so a parse error, a shape error and a later check against
//! the schema all point at the same file:line:col. Merge keys (`<<: *a`)
//! and a byte order mark are handled by the parser, the same way in every
//! file. `emit` writes YAML (`init`). Only this folder names the library:
//! switching it is a change here.

mod de;
pub mod emit;

use std::fmt;

use serde::de::{self as serde_de, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

pub use de::{from_node, scalar_text};

/// A 1-based line and column; `0:0` when unknown (a value built in code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(l: serde_saphyr::Location) -> Pos {
        Pos {
            line: l.line() as usize,
            column: l.column() as usize,
        }
    }

    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

/// One YAML node and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub at: Pos,
    pub value: Value,
}

/// What a node holds. Scalars are typed as YAML 1.2 reads them (`true`,
/// `12`, `1.5`, `null`); a number keeps the text it was written as.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Sequence(Vec<Node>),
    /// Entries in file order; merge keys are already applied.
    Mapping(Vec<(Node, Node)>),
}

/// A number: its value and its text as written (`1.50`, `0x1F`).
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    value: NumberValue,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NumberValue {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Number {
    /// A number built in code, written the way Rust prints it.
    fn value_of(value: NumberValue) -> Value {
        let text = match value {
            NumberValue::Int(i) => i.to_string(),
            NumberValue::UInt(u) => u.to_string(),
            NumberValue::Float(f) => f.to_string(),
        };
        Value::Number(Number { value, text })
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self.value {
            NumberValue::Int(i) => u64::try_from(i).ok(),
            NumberValue::UInt(u) => Some(u),
            NumberValue::Float(_) => None,
        }
    }
}

impl fmt::Display for Number {
    /// The number as written in the file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Node {
    fn new(value: Value) -> Node {
        Node {
            at: Pos::default(),
            value,
        }
    }

    /// The text of a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar's text: a string, a number as written, `true`/`false`;
    /// `None` for null, a list or a map.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A whole number that is not negative.
    pub fn as_u64(&self) -> Option<u64> {
        match &self.value {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        self.value == Value::Null
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value node of `key` in a mapping.
    fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Mapping(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// Where the key at `path` was written (`["tables", "public.users",
    /// "columns", "email"]`); a sequence item is named by its index
    /// (`"0"`), and then the item itself is the position.
    pub fn position_of(&self, path: &[&str]) -> Option<Pos> {
        let (last, parents) = path.split_last()?;
        let mut node = self;
        for part in parents {
            node = node.child(part)?;
        }
        match &node.value {
            Value::Sequence(items) => last
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .map(|n| n.at),
            _ => node.entry(last).map(|(k, _)| k.at),
        }
    }

    fn child(&self, part: &str) -> Option<&Node> {
        match &self.value {
            Value::Sequence(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => self.get(part),
        }
    }
}

/// A YAML problem: where, the path of keys to it (`tables.public.a`), and
/// what. The message never holds a value the user did not write as a key
/// or an option.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub at: Pos,
    pub path: String,
    pub message: String,
    /// Set by the innermost node that failed; outer nodes keep it.
    located: bool,
}

impl fmt::Display for Error {
    /// `path: message`, without the position (callers put
    /// `file:line:col` first).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Error {}

impl serde_de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            at: Pos::default(),
            path: String::new(),
            message: msg.to_string(),
            located: false,
        }
    }
}

/// Parses one YAML document into a tree of positioned nodes. An empty
/// file is a null node.
pub fn parse(text: &str) -> Result<Node, Error> {
    let options = serde_saphyr::options! {
        // Only `true`/`false` are booleans: `no` is Norway.
        strict_booleans: true,
        // Duplicate keys are refused by `de`, with the path and our wording.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        // Plain messages: we print the position ourselves.
        with_snippet: false,
    };
    let raw: Option<Spanned<Raw>> = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| indentation_tab(text, parse_error(&e)))?;
    Ok(match raw {
        Some(raw) => raw.into_node(text),
        None => Node::new(Value::Null),
    })
}

/// Parses `text` and deserializes `T` from it in one step.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Error> {
    from_node(&parse(text)?)
}

/// The message of a parser error without the library's " at line L,
/// column C" (the position goes first, as `file:line:col`).
fn parse_error(e: &serde_saphyr::Error) -> Error {
    let at = e.location().map(Pos::of).unwrap_or_default();
    let rendered = e.to_string();
    let message = match rendered.rfind(" at line ") {
        Some(i) if at.is_known() => rendered[..i].to_string(),
        _ => rendered,
    };
    Error {
        at,
        path: String::new(),
        message,
        located: true,
    }
}

/// The parser reports a tab in indentation where the scalar before it
/// started ("while scanning a plain scalar, found a tab"); point at the
/// tab itself and say what to do instead.
fn indentation_tab(text: &str, e: Error) -> Error {
    if !e.message.contains("tab") || !e.at.is_known() {
        return e;
    }
    let tab = text
        .lines()
        .enumerate()
        .skip(e.at.line - 1)
        .find_map(|(i, line)| {
            let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
            line[..indent].find('\t').map(|col| (i + 1, col + 1))
        });
    match tab {
        Some((line, column)) => Error {
            at: Pos { line, column },
            message: "found a tab character in indentation; YAML indents with spaces".into(),
            ..e
        },
        None => e,
    }
}

/// A node as the library hands it over, before positions are attached
/// to the children.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
    Sequence(Vec<Spanned<Raw>>),
    Mapping(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

trait IntoNode {
    fn into_node(self, text: &str) -> Node;
}

impl IntoNode for Spanned<Raw> {
    fn into_node(self, text: &str) -> Node {
        let at = Pos::of(self.referenced);
        // A number keeps its text as written, read back through the span
        // of where it was defined (an alias points at its anchor).
        let written = |fallback: String| {
            let span = self.defined.span();
            span.byte_offset()
                .zip(span.byte_len())
                .and_then(|(start, len)| text.get(start as usize..(start + len) as usize))
                .map(str::to_string)
                .filter(|s| !s.is_empty())
                .unwrap_or(fallback)
        };
        let number = |value: NumberValue, fallback: String| {
            Value::Number(Number {
                value,
                text: written(fallback),
            })
        };
        let value = match self.value {
            Raw::Null => Value::Null,
            Raw::Bool(b) => Value::Bool(b),
            Raw::Int(i) => number(NumberValue::Int(i), i.to_string()),
            Raw::UInt(u) => number(NumberValue::UInt(u), u.to_string()),
            Raw::Float(f) => number(NumberValue::Float(f), f.to_string()),
            Raw::String(s) => Value::String(s),
            Raw::Sequence(items) => {
                Value::Sequence(items.into_iter().map(|n| n.into_node(text)).collect())
            }
            Raw::Mapping(entries) => Value::Mapping(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.into_node(text), v.into_node(text)))
                    .collect(),
            ),
        };
        Node { at, value }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
                Raw::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw::UInt(v))
            }
            // Past 64 bits a number is a float; its text stays as written.
            fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
                Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
                Ok(u64::try_from(v).map_or(Raw::Float(v as f64), Raw::UInt))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::String(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Raw::Sequence(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Raw::Mapping(entries))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: usize, column: usize) -> Option<Pos> {
        Some(Pos { line, column })
    }

    #[test]
    fn every_key_has_its_position() {
        let doc = parse("version: 1\ntables:\n  public.users:\n    columns:\n      id: keep\n      email: { fake: email }\n    list: [a, {when: x}]\n").unwrap();
        assert_eq!(doc.position_of(&["version"]), pos(1, 1));
        assert_eq!(doc.position_of(&["tables", "public.users"]), pos(3, 3));
        assert_eq!(
            doc.position_of(&["tables", "public.users", "columns", "email"]),
            pos(6, 7)
        );
        assert_eq!(
            doc.position_of(&["tables", "public.users", "list", "1", "when"]),
            pos(7, 16)
        );
        assert_eq!(doc.position_of(&["tables", "nope"]), None);
    }

    #[test]
    fn numbers_keep_their_text() {
        let doc = parse("a: 1.50\nb: 0x1F\nc: 7\nd: &n 2.0\ne: *n\n").unwrap();
        let text = |k: &str| match &doc.get(k).unwrap().value {
            Value::Number(n) => n.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text("a"), "1.50");
        assert_eq!(text("b"), "0x1F");
        assert_eq!(text("c"), "7");
        assert_eq!(text("e"), "2.0");
        let big = parse("n: 123456789012345678901234567890\n1: x\n").unwrap();
        assert_eq!(
            big.get("n").unwrap().scalar_text().as_deref(),
            Some("123456789012345678901234567890")
        );
        assert_eq!(big.position_of(&["1"]).map(|p| p.line), Some(2));
    }

    /// Issue 26: the parser applies merge keys, where they are written,
    /// and explicit keys win over merged ones.
    #[test]
    fn merge_keys_are_applied() {
        let doc = parse("base: &b { x: 1, y: 2 }\nm:\n  <<: *b\n  y: 3\n").unwrap();
        let m = doc.get("m").unwrap();
        let Value::Mapping(entries) = &m.value else {
            panic!("{m:?}")
        };
        let keys: Vec<_> = entries.iter().map(|(k, _)| k.as_str().unwrap()).collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.contains(&"x") && keys.contains(&"y"), "{keys:?}");
        assert_eq!(m.get("y").unwrap().scalar_text().as_deref(), Some("3"));
    }

    /// Issue 16 item 15, issue 26: a byte order mark is not content.
    #[test]
    fn a_byte_order_mark_is_not_content() {
        let doc = parse("\u{feff}a: 1\nb: x\n").unwrap();
        assert_eq!(doc.position_of(&["b"]), pos(2, 1));
        assert_eq!(doc.get("b").unwrap().as_str(), Some("x"));
    }

    #[test]
    fn a_syntax_error_has_a_position_and_no_suffix() {
        let e = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(e.at.is_known(), "{e:?}");
        assert!(!e.message.contains(" at line "), "{e:?}");
    }

    #[test]
    fn a_tab_in_indentation_is_pointed_at() {
        let e = parse("a:\n  b: keep\n\tc: keep\n").unwrap_err();
        assert_eq!((e.at.line, e.at.column), (3, 1), "{e:?}");
        assert!(e.message.contains("tab character in indentation"), "{e:?}");
    }

    /// `{ when: "...", null: true }` has a `null` key; `when:` with nothing
    /// after it is empty text, which the rule then refuses by name.
    #[test]
    fn a_null_key_reads_as_the_word_and_an_empty_value_as_empty_text() {
        let m: std::collections::BTreeMap<String, String> = from_str("null: x\na:\n").unwrap();
        assert_eq!(m["null"], "x");
        assert_eq!(m["a"], "");
    }

    /// `set`/`choice` options: a number as written, null as `None`, and a
    /// map refused with what was expected.
    #[test]
    fn scalar_text_reads_numbers_as_written_and_null_as_none() {
        struct S(Option<String>);
        impl<'de> Deserialize<'de> for S {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<S, D::Error> {
                scalar_text(d, "a scalar").map(S)
            }
        }
        let list: Vec<S> = from_str("[1.50, ~, x, true, '']").unwrap();
        let texts: Vec<Option<String>> = list.into_iter().map(|s| s.0).collect();
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            texts,
            [some("1.50"), None, some("x"), some("true"), some("")]
        );
        let e = from_str::<S>("{ a: 1 }").err().unwrap();
        assert_eq!(e.to_string(), "invalid type: map, expected a scalar");
        assert_eq!((e.at.line, e.at.column), (1, 1));
    }

    #[test]
    fn an_empty_file_is_null() {
        assert!(parse("").unwrap().is_null());
        assert!(parse("# nothing\n").unwrap().is_null());
    }
}
