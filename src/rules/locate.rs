//! Positions of mapping keys in a YAML file, by path.
//!
//! serde_yaml reports positions only for its own errors; checks against the
//! schema (an unknown column, a type mismatch) happen after parsing, so we
//! read the file's events once more with yaml-rust2, which carries marks,
//! and remember where every key was written.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Key path (`["tables", "public.users", "columns", "email"]`) to its
/// 1-based (line, column).
#[derive(Debug, Default)]
pub struct KeyPositions {
    positions: HashMap<Vec<String>, (usize, usize)>,
    /// Where the first YAML merge key (`<<`) was written, if any.
    merge_key: Option<(usize, usize)>,
}

impl KeyPositions {
    /// Indexes `text`. Errors are ignored: serde_yaml reports them better.
    pub fn index(text: &str) -> KeyPositions {
        let mut rx = Receiver::default();
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut rx, false);
        KeyPositions {
            positions: rx.positions,
            merge_key: rx.merge_key,
        }
    }

    /// The first merge key (`<<: *anchor`) of the file: serde_yaml does not
    /// apply merge keys when it deserializes, so the caller refuses them.
    pub fn merge_key(&self) -> Option<(usize, usize)> {
        self.merge_key
    }

    /// Where the key at `path` was written.
    pub fn get(&self, path: &[&str]) -> Option<(usize, usize)> {
        let key: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        self.positions.get(&key).copied()
    }
}

/// A container being read: a mapping remembers whether the next scalar is a
/// key and which key its current value belongs to.
enum Frame {
    Map {
        expect_key: bool,
        key: Option<String>,
    },
    Seq {
        index: usize,
    },
}

#[derive(Default)]
struct Receiver {
    stack: Vec<Frame>,
    positions: HashMap<Vec<String>, (usize, usize)>,
    merge_key: Option<(usize, usize)>,
}

impl Receiver {
    fn path(&self) -> Vec<String> {
        self.stack
            .iter()
            .filter_map(|f| match f {
                Frame::Map { key, .. } => key.clone(),
                Frame::Seq { index } => Some(index.to_string()),
            })
            .collect()
    }

    /// A value (scalar or container) finished: the parent map now expects a
    /// key, a parent sequence moves on.
    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { expect_key, .. }) => *expect_key = true,
            Some(Frame::Seq { index }) => *index += 1,
            None => {}
        }
    }
}

impl MarkedEventReceiver for Receiver {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, style, ..) => {
                if let Some(Frame::Map {
                    expect_key: true, ..
                }) = self.stack.last()
                {
                    // A plain `<<` key is a merge key; a quoted one is text.
                    if text == "<<" && style == TScalarStyle::Plain && self.merge_key.is_none() {
                        self.merge_key = Some((mark.line(), mark.col() + 1));
                    }
                    if let Some(Frame::Map { expect_key, key }) = self.stack.last_mut() {
                        *key = Some(text);
                        *expect_key = false;
                    }
                    let path = self.path();
                    self.positions
                        .entry(path)
                        .or_insert((mark.line(), mark.col() + 1));
                } else {
                    self.value_done();
                }
            }
            Event::Alias(_) => self.value_done(),
            Event::MappingStart(..) => self.stack.push(Frame::Map {
                expect_key: true,
                key: None,
            }),
            Event::SequenceStart(..) => self.stack.push(Frame::Seq { index: 0 }),
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys() {
        let text = "version: 1\ntables:\n  public.users:\n    columns:\n      id: keep\n      email: { fake: email }\n";
        let p = KeyPositions::index(text);
        assert_eq!(p.get(&["tables", "public.users"]), Some((3, 3)));
        assert_eq!(
            p.get(&["tables", "public.users", "columns", "email"]),
            Some((6, 7))
        );
        assert_eq!(p.get(&["version"]), Some((1, 1)));
    }
}
