//! A rules file as a tree of positioned nodes, read from YAML (serde-saphyr, with spans) or JSON
//! (checked by serde_json, then read here with positions), and a serde `Deserializer` over one node
//! whose errors carry the line and column of the innermost node they concern.
//!
//! Reading the whole file into nodes first lets every rule be checked on its own, so one broken
//! rule does not hide the problems of the others. Numbers keep their literal text, so a pattern's
//! `1.00000000000000001` reaches the pattern engine as written.

use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeOwned, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One value of a rules file and where it starts (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) line: usize,
    pub(crate) column: usize,
    /// In a JSON file, the node's bytes in the file (a pattern is handed over exactly as written).
    pub(crate) raw: Option<Range<usize>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    /// `text` is the YAML scalar as written (`True`), for fields that take a string.
    Bool {
        value: bool,
        text: Option<String>,
    },
    Number(Number),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Number {
    /// The literal as written in the file.
    pub(crate) text: String,
    /// The number as JSON text: the literal when it is a JSON number, else the value written by
    /// serde_json (`0x1F` is `31`); `None` for infinities and NaN.
    pub(crate) json: Option<String>,
    pub(crate) value: Num,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    U(u64),
    I(i64),
    F(f64),
}

impl Node {
    /// What the node is, for messages ("a mapping", "the number 5").
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            Kind::Null => "null".into(),
            Kind::Bool { value, .. } => format!("the boolean {value}"),
            Kind::Number(n) => format!("the number {}", n.text),
            Kind::Str(s) => format!("the string {s:?}"),
            Kind::Seq(_) => "a list".into(),
            Kind::Map(_) => "a mapping".into(),
        }
    }

    /// The node as a string: a string node, or in YAML a plain number or boolean as written.
    pub(crate) fn as_str(&self, yaml: bool) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            Kind::Number(n) if yaml => Some(&n.text),
            Kind::Bool { text: Some(text), .. } if yaml => Some(text),
            _ => None,
        }
    }

    /// The value of `key` in a mapping (the last one when the key is repeated).
    pub(crate) fn get(&self, key: &str, yaml: bool) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().rev().find(|(k, _)| k.as_str(yaml) == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node a JSON pointer (`/detail/state/0`) leads to, or the deepest node on its way.
    pub(crate) fn resolve(&self, pointer: &str, yaml: bool) -> &Node {
        let mut node = self;
        for token in pointer.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            let next = match &node.kind {
                Kind::Map(entries) => {
                    entries.iter().rev().find(|(k, _)| k.as_str(yaml) == Some(token.as_str())).map(|(_, v)| v)
                }
                Kind::Seq(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            match next {
                Some(next) => node = next,
                None => break,
            }
        }
        node
    }

    /// The first repeated key of a mapping anywhere in the node (YAML forbids them).
    pub(crate) fn repeated_key(&self) -> Option<&Node> {
        match &self.kind {
            Kind::Seq(items) => items.iter().find_map(Node::repeated_key),
            Kind::Map(entries) => {
                for (idx, (key, _)) in entries.iter().enumerate() {
                    if entries[..idx].iter().any(|(k, _)| k.kind == key.kind) {
                        return Some(key);
                    }
                }
                entries.iter().find_map(|(_, value)| value.repeated_key())
            }
            _ => None,
        }
    }

    /// The node as JSON text. In a JSON file (`source` given) a node is copied as written;
    /// otherwise numbers keep their literal text where it is JSON. Fails on a value JSON cannot
    /// hold (an infinite number, a list or mapping as a key), naming the node.
    pub(crate) fn to_json(&self, source: Option<&str>) -> Result<String, (&Node, String)> {
        let mut out = String::new();
        self.write_json(source, &mut out)?;
        Ok(out)
    }

    fn write_json<'a>(&'a self, source: Option<&str>, out: &mut String) -> Result<(), (&'a Node, String)> {
        if let (Some(text), Some(raw)) = (source, &self.raw)
            && let Some(slice) = text.get(raw.clone())
        {
            out.push_str(slice);
            return Ok(());
        }
        match &self.kind {
            Kind::Null => out.push_str("null"),
            Kind::Bool { value, .. } => out.push_str(if *value { "true" } else { "false" }),
            Kind::Number(n) => match &n.json {
                Some(json) => out.push_str(json),
                None => return Err((self, format!("{} is not a number JSON can hold", n.text))),
            },
            Kind::Str(s) => out.push_str(&json_string(s)),
            Kind::Seq(items) => {
                out.push('[');
                for (idx, item) in items.iter().enumerate() {
                    if idx > 0 {
                        out.push(',');
                    }
                    item.write_json(source, out)?;
                }
                out.push(']');
            }
            Kind::Map(entries) => {
                out.push('{');
                for (idx, (key, value)) in entries.iter().enumerate() {
                    if idx > 0 {
                        out.push(',');
                    }
                    match &key.kind {
                        Kind::Str(s) => out.push_str(&json_string(s)),
                        Kind::Number(n) => out.push_str(&json_string(&n.text)),
                        Kind::Bool { value, text } => {
                            out.push_str(&json_string(text.as_deref().unwrap_or(if *value { "true" } else { "false" })))
                        }
                        Kind::Null => out.push_str("\"null\""),
                        Kind::Seq(_) | Kind::Map(_) => {
                            return Err((key, format!("a key must be a string, not {}", key.describe())));
                        }
                    }
                    out.push(':');
                    value.write_json(source, out)?;
                }
                out.push('}');
            }
        }
        Ok(())
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A syntax error: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

/// Removes a trailing " at line L, column C" (serde-saphyr) or " at line L column C" (serde_json):
/// the location is reported in its own fields.
fn without_location(message: &str, line: usize, column: usize) -> String {
    for suffix in [format!(" at line {line}, column {column}"), format!(" at line {line} column {column}")] {
        if let Some(stripped) = message.strip_suffix(&suffix) {
            return stripped.to_owned();
        }
    }
    message.to_owned()
}

// ---- YAML ----

/// What serde-saphyr hands over, with the spans of every node.
enum Raw {
    Null,
    Bool(bool),
    U(u64),
    I(i64),
    F(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
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

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::I(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::U(v))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::F(v as f64))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::F(v as f64))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::F(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        String::from_utf8(v.to_vec()).map(Raw::Str).map_err(|_| E::custom("binary values are not supported"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Raw::Map(entries))
    }
}

impl<'de> de::Deserialize<'de> for Raw {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

/// Reads YAML text: strict booleans (`yes` is a string), repeated keys passed through (reported
/// per rule), infinities passed through (reported where they are used).
pub(crate) fn parse_yaml(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
    };
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, options) {
        Ok(root) => Ok(convert(text, root)),
        Err(error) => {
            let (line, column) = error.location().map(|l| (l.line() as usize, l.column() as usize)).unwrap_or((1, 1));
            let message = without_location(&error.to_string(), line, column);
            let message = if message.starts_with("multiple YAML documents") {
                "a rules file holds one YAML document (a list of rules); this one has several".to_owned()
            } else {
                message
            };
            Err(SyntaxError { line, column, message })
        }
    }
}

fn convert(text: &str, spanned: Spanned<Raw>) -> Node {
    let at = spanned.referenced;
    let (line, column) = (at.line() as usize, at.column() as usize);
    // An alias's scalar is written where its anchor is defined.
    let span = spanned.defined.span();
    let literal = span
        .byte_offset()
        .zip(span.byte_len())
        .and_then(|(offset, len)| text.get(offset as usize..(offset + len) as usize))
        .map(str::to_owned);
    let number = |value: Num, literal: Option<String>| {
        let written = match value {
            Num::U(u) => u.to_string(),
            Num::I(i) => i.to_string(),
            Num::F(f) => serde_json::Number::from_f64(f).map(|n| n.to_string()).unwrap_or_else(|| f.to_string()),
        };
        let text = literal.filter(|l| !l.is_empty()).unwrap_or_else(|| written.clone());
        let json = if is_json_number(&text) {
            Some(text.clone())
        } else if matches!(value, Num::F(f) if !f.is_finite()) {
            None
        } else {
            Some(written)
        };
        Kind::Number(Number { text, json, value })
    };
    let kind = match spanned.value {
        Raw::Null => Kind::Null,
        Raw::Bool(value) => Kind::Bool { value, text: literal },
        Raw::U(u) => number(Num::U(u), literal),
        Raw::I(i) => number(Num::I(i), literal),
        Raw::F(f) => number(Num::F(f), literal),
        Raw::Str(s) => Kind::Str(s),
        Raw::Seq(items) => Kind::Seq(items.into_iter().map(|item| convert(text, item)).collect()),
        Raw::Map(entries) => {
            Kind::Map(entries.into_iter().map(|(k, v)| (convert(text, k), convert(text, v))).collect())
        }
    };
    Node { kind, line, column, raw: None }
}

/// Whether `text` is a number in JSON's grammar.
fn is_json_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return false;
        }
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return false;
        }
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    i == b.len()
}

// ---- JSON ----

/// Reads JSON text: serde_json checks it (its errors and locations are reported as they are), then
/// the nodes are read with their positions and bytes.
pub(crate) fn parse_json(text: &str) -> Result<Node, SyntaxError> {
    if let Err(error) = serde_json::from_str::<de::IgnoredAny>(text) {
        let (line, column) = (error.line(), error.column());
        return Err(SyntaxError { line, column, message: without_location(&error.to_string(), line, column) });
    }
    let mut reader = JsonReader { text, bytes: text.as_bytes(), pos: 0, lines: line_starts(text) };
    Ok(reader.value())
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect()
}

/// A reader of JSON that serde_json has accepted, so it never meets an error.
struct JsonReader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    lines: Vec<usize>,
}

impl JsonReader<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.lines.partition_point(|&start| start <= offset).max(1);
        let start = self.lines[line - 1];
        (line, self.text.get(start..offset).map_or(1, |s| s.chars().count() + 1))
    }

    fn skip_space(&mut self) {
        while self.bytes.get(self.pos).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Node {
        self.skip_space();
        let start = self.pos;
        let (line, column) = self.position(start);
        let kind = match self.bytes.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    self.skip_space();
                    match self.bytes.get(self.pos) {
                        Some(b'}') | None => {
                            self.pos += 1;
                            break;
                        }
                        Some(b',') => self.pos += 1,
                        _ => {
                            let key = self.value();
                            self.skip_space();
                            self.pos += 1; // ':'
                            let value = self.value();
                            entries.push((key, value));
                        }
                    }
                }
                Kind::Map(entries)
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    match self.bytes.get(self.pos) {
                        Some(b']') | None => {
                            self.pos += 1;
                            break;
                        }
                        Some(b',') => self.pos += 1,
                        _ => items.push(self.value()),
                    }
                }
                Kind::Seq(items)
            }
            Some(b'"') => {
                let mut end = self.pos + 1;
                while let Some(&b) = self.bytes.get(end) {
                    match b {
                        b'\\' => end += 2,
                        b'"' => break,
                        _ => end += 1,
                    }
                }
                self.pos = (end + 1).min(self.bytes.len());
                Kind::Str(self.text.get(start..self.pos).and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default())
            }
            Some(b't') => {
                self.pos += 4;
                Kind::Bool { value: true, text: None }
            }
            Some(b'f') => {
                self.pos += 5;
                Kind::Bool { value: false, text: None }
            }
            Some(b'n') => {
                self.pos += 4;
                Kind::Null
            }
            _ => {
                while self
                    .bytes
                    .get(self.pos)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.pos += 1;
                }
                let text = self.text.get(start..self.pos).unwrap_or("0").to_owned();
                let value = if text.contains(['.', 'e', 'E']) {
                    Num::F(text.parse().unwrap_or(f64::NAN))
                } else if let Ok(u) = text.parse() {
                    Num::U(u)
                } else if let Ok(i) = text.parse() {
                    Num::I(i)
                } else {
                    Num::F(text.parse().unwrap_or(f64::NAN))
                };
                Kind::Number(Number { json: Some(text.clone()), text, value })
            }
        };
        Node { kind, line, column, raw: Some(start..self.pos.min(self.bytes.len())) }
    }
}

// ---- serde over nodes ----

/// A deserialization error and the node it concerns (the innermost one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeError {
    pub(crate) message: String,
    pub(crate) at: Option<(usize, usize)>,
}

impl DeError {
    fn at(mut self, node: &Node) -> DeError {
        self.at.get_or_insert((node.line, node.column));
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        DeError { message: message.to_string(), at: None }
    }
}

/// Deserializes `T` from a node. In YAML, a plain number or boolean is accepted where a string is
/// expected, as written (`id: 1` is the id "1").
pub(crate) fn from_node<T: DeserializeOwned>(node: &Node, yaml: bool) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, yaml })
}

#[derive(Clone, Copy)]
struct NodeDe<'a> {
    node: &'a Node,
    yaml: bool,
}

impl<'a> NodeDe<'a> {
    fn unexpected(&self) -> de::Unexpected<'a> {
        match &self.node.kind {
            Kind::Null => de::Unexpected::Unit,
            Kind::Bool { value, .. } => de::Unexpected::Bool(*value),
            Kind::Number(n) => match n.value {
                Num::U(u) => de::Unexpected::Unsigned(u),
                Num::I(i) => de::Unexpected::Signed(i),
                Num::F(f) => de::Unexpected::Float(f),
            },
            Kind::Str(s) => de::Unexpected::Str(s),
            Kind::Seq(_) => de::Unexpected::Seq,
            Kind::Map(_) => de::Unexpected::Map,
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let yaml = self.yaml;
        let result = match &self.node.kind {
            Kind::Null => visitor.visit_unit(),
            Kind::Bool { value, .. } => visitor.visit_bool(*value),
            Kind::Number(n) => match n.value {
                Num::U(u) => visitor.visit_u64(u),
                Num::I(i) => visitor.visit_i64(i),
                Num::F(f) => visitor.visit_f64(f),
            },
            Kind::Str(s) => visitor.visit_str(s),
            Kind::Seq(items) => visitor.visit_seq(SeqDe { items: items.iter(), yaml }),
            Kind::Map(entries) => visitor.visit_map(MapDe { entries: entries.iter(), value: None, yaml }),
        };
        result.map_err(|e| e.at(self.node))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.node.kind {
            Kind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        };
        result.map_err(|e| e.at(self.node))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.as_str(self.yaml) {
            Some(s) => visitor.visit_str::<DeError>(s).map_err(|e| e.at(self.node)),
            None => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match self.node.as_str(self.yaml) {
            Some(s) => visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(s)),
            None => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        };
        result.map_err(|e| e.at(self.node))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self).map_err(|e| e.at(self.node))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct
    }
}

struct SeqDe<'a> {
    items: std::slice::Iter<'a, Node>,
    yaml: bool,
}

impl<'de> SeqAccess<'de> for SeqDe<'_> {
    type Error = DeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed.deserialize(NodeDe { node, yaml: self.yaml }).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
    yaml: bool,
}

impl<'de> MapAccess<'de> for MapDe<'_> {
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(NodeDe { node: key, yaml: self.yaml }).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        match self.value.take() {
            Some(node) => seed.deserialize(NodeDe { node, yaml: self.yaml }),
            None => Err(de::Error::custom("a value was read before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_and_yaml_numbers() {
        assert!(is_json_number("1.00000000000000001"));
        assert!(is_json_number("-0e+5"));
        for bad in ["+5", ".5", "0x1F", "01", "1.", "1e", "", "-", "1_000"] {
            assert!(!is_json_number(bad), "{bad}");
        }
        let node = parse_yaml("a: [1.00000000000000001, 0x1F, .5, -3, yes, True, 'q']\n").unwrap();
        assert_eq!(node.to_json(None).unwrap(), r#"{"a":[1.00000000000000001,31,0.5,-3,"yes",true,"q"]}"#);
        let inf = parse_yaml("a: .inf\n").unwrap();
        assert!(inf.to_json(None).is_err());
    }

    #[test]
    fn json_nodes_have_positions_and_raw_text() {
        let text = "[\n  {\"a\": 1.50, \"b\": [true, null, \"x\\u00e9\"]},\n  7\n]";
        let node = parse_json(text).unwrap();
        let Kind::Seq(items) = &node.kind else { panic!() };
        assert_eq!((items[0].line, items[0].column), (2, 3));
        assert_eq!((items[1].line, items[1].column), (3, 3));
        assert_eq!(items[0].to_json(Some(text)).unwrap(), r#"{"a": 1.50, "b": [true, null, "x\u00e9"]}"#);
        assert_eq!(items[0].get("b", false).unwrap().to_json(None).unwrap(), r#"[true,null,"xé"]"#);
        let b = items[0].resolve("/b/2", false);
        assert_eq!((b.line, b.column, &b.kind), (2, 33, &Kind::Str("xé".into())));
        let error = parse_json("[1,\n 2,]").unwrap_err();
        assert_eq!((error.line, error.column), (2, 4));
        assert_eq!(error.message, "expected value");
    }

    #[test]
    fn deserialize_errors_name_the_innermost_node() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct S {
            a: u32,
            b: Option<bool>,
            c: Option<String>,
        }
        let node = parse_yaml("a: 1\nb: yes\n").unwrap();
        let error = from_node::<S>(&node, true).unwrap_err();
        assert_eq!(error.at, Some((2, 4)));
        assert_eq!(error.message, "invalid type: string \"yes\", expected a boolean");
        let node = parse_yaml("a: 1\n\nzz: 2\n").unwrap();
        let error = from_node::<S>(&node, true).unwrap_err();
        assert_eq!(error.at, Some((3, 1)));
        assert!(error.message.starts_with("unknown field `zz`"), "{}", error.message);
        let node = parse_yaml("b: true\nc: 12\n").unwrap();
        let error = from_node::<S>(&node, true).unwrap_err();
        assert_eq!((error.at, error.message.as_str()), (Some((1, 1)), "missing field `a`"));
        let node = parse_yaml("a: 7\nc: 12\n").unwrap();
        assert_eq!(from_node::<S>(&node, true).unwrap().c.as_deref(), Some("12"));
        let node = parse_json("{\"a\": 7, \"c\": 12}").unwrap();
        assert!(from_node::<S>(&node, false).is_err());
    }
}
