//! Typed values from a `Node` tree: a serde `Deserializer` over the tree.
//!
//! An error gets the position and key path of the innermost node whose
//! deserialization failed: a bad value points at the value, an unknown key
//! at the key, a rule that is wrong as a whole at the rule's first
//! character. Duplicate keys are refused here, at the second one.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde::Deserialize;

use super::{Error, Node, NumberValue, Pos, Value};

/// Deserializes `T` from `node`; errors carry the node's position and the
/// path of keys to it.
pub fn from_node<'a, T: Deserialize<'a>>(node: &'a Node) -> Result<T, Error> {
    T::deserialize(NodeDe {
        node,
        path: String::new(),
    })
    .map_err(|e| e.located(node.at, ""))
}

impl Error {
    /// Sets the position and path, unless a deeper node set them already.
    fn located(mut self, at: Pos, path: &str) -> Error {
        if !self.located {
            self.at = at;
            self.path = path.to_string();
            self.located = true;
        }
        self
    }
}

/// A scalar as text, for options written in PostgreSQL's text form
/// (`set: 0`, `choice: [a, 1.50, true]`): a string, a number as written,
/// `true`/`false`; `None` for null. A list or a map is refused, the error
/// saying what was `expected`.
pub fn scalar_text<'de, D: Deserializer<'de>>(
    d: D,
    expected: &'static str,
) -> Result<Option<String>, D::Error> {
    struct V(&'static str);
    impl<'de> Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
    }
    /// Null is `None`; anything else is read as text.
    struct Optional(&'static str);
    impl<'de> Visitor<'de> for Optional {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            // `deserialize_str` hands a number over as written (`1.50`,
            // not 1.5).
            d.deserialize_str(V(self.0))
        }
    }
    d.deserialize_option(Optional(expected))
}

struct NodeDe<'a> {
    node: &'a Node,
    /// Keys from the root, `tables.public.a.columns.email`, `[0]` for items.
    path: String,
}

impl<'a> NodeDe<'a> {
    fn done<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        r.map_err(|e| e.located(self.node.at, &self.path))
    }

    fn child(&self, node: &'a Node, part: &str) -> NodeDe<'a> {
        let path = if self.path.is_empty() || part.starts_with('[') {
            format!("{}{part}", self.path)
        } else {
            format!("{}.{part}", self.path)
        };
        NodeDe { node, path }
    }

    fn map(&self, entries: &'a [(Node, Node)]) -> Result<MapDe<'a>, Error> {
        for (i, (key, _)) in entries.iter().enumerate() {
            if let Some(k) = key.scalar_text() {
                if entries[..i].iter().any(|(k2, _)| k2.value == key.value) {
                    return Err(
                        <Error as de::Error>::custom(format!("`{k}` is defined twice"))
                            .located(key.at, &self.path),
                    );
                }
            }
        }
        Ok(MapDe {
            entries: entries.iter(),
            value: None,
            parent: NodeDe {
                node: self.node,
                path: self.path.clone(),
            },
        })
    }
}

impl<'de> Deserializer<'de> for NodeDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match n.value {
                NumberValue::Int(i) => visitor.visit_i64(i),
                NumberValue::UInt(u) => visitor.visit_u64(u),
                NumberValue::Float(f) => visitor.visit_f64(f),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Sequence(items) => visitor.visit_seq(SeqDe {
                items: items.iter().enumerate(),
                parent: &self,
            }),
            Value::Mapping(entries) => match self.map(entries) {
                Ok(map) => visitor.visit_map(map),
                Err(e) => return Err(e),
            },
        };
        self.done(r)
    }

    /// A plain scalar read as text is its text: `namespace: 2024` is the
    /// string `2024`, as it was with serde_yaml.
    /// An empty value read as text is empty (`when:` then says what it
    /// wants), as it was with serde_yaml.
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.node.value {
            Value::Number(_) | Value::Bool(_) => {
                let text = self.node.scalar_text().unwrap_or_default();
                let r = visitor.visit_string(text);
                self.done(r)
            }
            Value::Null => {
                let r = visitor.visit_str("");
                self.done(r)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_none(),
            _ => {
                let (at, path) = (self.node.at, self.path.clone());
                visitor.visit_some(self).map_err(|e| e.located(at, &path))
            }
        };
        r
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (at, path) = (self.node.at, self.path.clone());
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.located(at, &path))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let r = match &self.node.value {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Mapping(entries) if entries.len() == 1 => visitor.visit_enum(EnumDe {
                key: &entries[0].0,
                value: self.child(
                    &entries[0].1,
                    &entries[0].0.scalar_text().unwrap_or_default(),
                ),
            }),
            _ => return self.deserialize_any(visitor),
        };
        self.done(r)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct
    }
}

struct SeqDe<'a, 'p, I> {
    items: I,
    parent: &'p NodeDe<'a>,
}

impl<'de, I: Iterator<Item = (usize, &'de Node)>> SeqAccess<'de> for SeqDe<'de, '_, I> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.items.next() {
            None => Ok(None),
            Some((i, node)) => seed
                .deserialize(self.parent.child(node, &format!("[{i}]")))
                .map(Some),
        }
    }
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a (Node, Node)>,
    parent: NodeDe<'a>,
}

impl<'de> MapAccess<'de> for MapDe<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            None => Ok(None),
            Some(entry) => {
                self.value = Some(entry);
                // A key's errors (an unknown field) name the map's path.
                let key = NodeDe {
                    node: &entry.0,
                    path: self.parent.path.clone(),
                };
                // `{ when: ..., null: true }`: a plain `null` key is YAML's
                // null, but the rules read it as the word.
                if entry.0.is_null() {
                    let r = seed.deserialize(de::value::StrDeserializer::<Error>::new("null"));
                    return key.done(r).map(Some);
                }
                seed.deserialize(key).map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("a map value was read before its key"))?;
        let key = key.scalar_text().unwrap_or_else(|| "?".into());
        seed.deserialize(self.parent.child(value, &key))
    }
}

struct EnumDe<'a> {
    key: &'a Node,
    value: NodeDe<'a>,
}

impl<'de> EnumAccess<'de> for EnumDe<'de> {
    type Error = Error;
    type Variant = NodeDe<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        let variant = seed.deserialize(NodeDe {
            node: self.key,
            path: self.value.path.clone(),
        })?;
        Ok((variant, self.value))
    }
}

impl<'de> VariantAccess<'de> for NodeDe<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
}

/// A node read by a transform's options (`set`, `choice`): its value and
/// children, without positions (errors get them from the deserializer).
impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::new(Value::Null))
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::new(Value::Null))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::new(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::new(super::Number::value_of(NumberValue::Int(v))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::new(super::Number::value_of(NumberValue::UInt(v))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::new(super::Number::value_of(NumberValue::Float(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::new(Value::String(v.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::new(Value::Sequence(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Node::new(Value::Mapping(entries)))
            }
        }
        d.deserialize_any(V)
    }
}
