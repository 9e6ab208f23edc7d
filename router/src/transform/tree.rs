//! The event as a tree that jsonpath-rust can query, for the paths the direct reader cannot follow
//! (wildcards, filters, slices, descendants, negative indices).
//!
//! Each node remembers where its value sits in the event text, so a selected node is written from
//! the event's own text (numbers keep their literal digits) and no location has to be looked up
//! again. Unlike serde_json's `Value`, every valid event can be read: numbers beyond binary64 range
//! compare as infinities instead of failing. Duplicate member names keep the last value, in the first
//! one's place.

use std::ops::Range;

use jsonpath_rust::query::queryable::Queryable;

use super::extract::{self, Malformed};

/// Events are read at most this deep, the nesting limit the matcher enforces.
pub(crate) const MAX_DEPTH: usize = 1000;

#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    value: NodeValue,
    /// Where the value is in the event text; None for values jsonpath-rust makes (filter literals).
    pub(crate) span: Option<Range<usize>>,
}

#[derive(Debug, Clone, Default)]
enum NodeValue {
    #[default]
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

/// Why the event could not be read as a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeError {
    Malformed(Malformed),
    TooDeep,
}

impl From<Malformed> for TreeError {
    fn from(malformed: Malformed) -> TreeError {
        TreeError::Malformed(malformed)
    }
}

impl Node {
    fn made(value: NodeValue) -> Node {
        Node { value, span: None }
    }

    /// Reads the value starting at `at`.
    pub(crate) fn read(text: &[u8], at: usize) -> Result<Node, TreeError> {
        Node::read_at(text, at, 0).map(|(node, _)| node)
    }

    fn read_at(text: &[u8], at: usize, depth: usize) -> Result<(Node, usize), TreeError> {
        if depth > MAX_DEPTH {
            return Err(TreeError::TooDeep);
        }
        // A thousand levels of recursion outgrow a small thread stack; grow it on the heap instead.
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || Node::read_value(text, at, depth))
    }

    fn read_value(text: &[u8], at: usize, depth: usize) -> Result<(Node, usize), TreeError> {
        let (value, end) = match text.get(at) {
            Some(b'{') => {
                let mut members: Vec<(String, Node)> = Vec::new();
                let mut too_deep = false;
                let end = extract::for_each_member(text, at, |raw_key, value_at| {
                    let mut key = Vec::with_capacity(raw_key.len());
                    extract::decode_into(raw_key, &mut key)?;
                    let key = String::from_utf8(key).map_err(|_| Malformed { offset: value_at })?;
                    let (node, end) = Node::read_child(text, value_at, depth, &mut too_deep)?;
                    match members.iter_mut().find(|(existing, _)| *existing == key) {
                        Some((_, existing)) => *existing = node,
                        None => members.push((key, node)),
                    }
                    Ok(end)
                });
                (NodeValue::Object(members), Node::child_end(end, too_deep)?)
            }
            Some(b'[') => {
                let mut elements = Vec::new();
                let mut too_deep = false;
                let end = extract::for_each_element(text, at, |_, value_at| {
                    let (node, end) = Node::read_child(text, value_at, depth, &mut too_deep)?;
                    elements.push(node);
                    Ok(end)
                });
                (NodeValue::Array(elements), Node::child_end(end, too_deep)?)
            }
            Some(b'"') => {
                let end = extract::value_end(text, at)?;
                let mut decoded = Vec::with_capacity(end - at - 2);
                extract::decode_into(&text[at + 1..end - 1], &mut decoded)?;
                let decoded = String::from_utf8(decoded).map_err(|_| Malformed { offset: at })?;
                (NodeValue::String(decoded), end)
            }
            Some(_) => {
                let end = extract::value_end(text, at)?;
                let value = match &text[at..end] {
                    b"true" => NodeValue::Bool(true),
                    b"false" => NodeValue::Bool(false),
                    b"null" => NodeValue::Null,
                    number => std::str::from_utf8(number)
                        .ok()
                        .and_then(|number| number.parse::<f64>().ok())
                        .map(NodeValue::Number)
                        .ok_or(Malformed { offset: at })?,
                };
                (value, end)
            }
            None => return Err(Malformed { offset: at }.into()),
        };
        Ok((Node { value, span: Some(at..end) }, end))
    }

    /// Reads a member or element inside the walk of its container, which only carries `Malformed`;
    /// nesting too deep is noted in `too_deep` and reported by [`Node::child_end`].
    fn read_child(text: &[u8], at: usize, depth: usize, too_deep: &mut bool) -> Result<(Node, usize), Malformed> {
        Node::read_at(text, at, depth + 1).map_err(|error| match error {
            TreeError::Malformed(malformed) => malformed,
            TreeError::TooDeep => {
                *too_deep = true;
                Malformed { offset: at }
            }
        })
    }

    fn child_end(end: Result<usize, Malformed>, too_deep: bool) -> Result<usize, TreeError> {
        match end {
            Err(_) if too_deep => Err(TreeError::TooDeep),
            other => Ok(other?),
        }
    }
}

impl PartialEq for Node {
    /// Values compare as JSON values, wherever they are in the text.
    fn eq(&self, other: &Node) -> bool {
        match (&self.value, &other.value) {
            (NodeValue::Null, NodeValue::Null) => true,
            (NodeValue::Bool(left), NodeValue::Bool(right)) => left == right,
            (NodeValue::Number(left), NodeValue::Number(right)) => left == right,
            (NodeValue::String(left), NodeValue::String(right)) => left == right,
            (NodeValue::Array(left), NodeValue::Array(right)) => left == right,
            (NodeValue::Object(left), NodeValue::Object(right)) => {
                left.len() == right.len()
                    && left
                        .iter()
                        .all(|(key, value)| right.iter().any(|(other_key, other)| other_key == key && other == value))
            }
            _ => false,
        }
    }
}

impl From<&str> for Node {
    fn from(text: &str) -> Node {
        Node::made(NodeValue::String(text.to_string()))
    }
}

impl From<String> for Node {
    fn from(text: String) -> Node {
        Node::made(NodeValue::String(text))
    }
}

impl From<bool> for Node {
    fn from(value: bool) -> Node {
        Node::made(NodeValue::Bool(value))
    }
}

impl From<i64> for Node {
    fn from(value: i64) -> Node {
        Node::made(NodeValue::Number(value as f64))
    }
}

impl From<f64> for Node {
    fn from(value: f64) -> Node {
        Node::made(NodeValue::Number(value))
    }
}

impl From<Vec<Node>> for Node {
    fn from(elements: Vec<Node>) -> Node {
        Node::made(NodeValue::Array(elements))
    }
}

impl Queryable for Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Object(members) => members.iter().find(|(name, _)| name == key).map(|(_, node)| node),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&Vec<Node>> {
        match &self.value {
            NodeValue::Array(elements) => Some(elements),
            _ => None,
        }
    }

    fn as_object(&self) -> Option<Vec<(&str, &Node)>> {
        match &self.value {
            NodeValue::Object(members) => Some(members.iter().map(|(name, node)| (name.as_str(), node)).collect()),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(text) => Some(text),
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self.value {
            NodeValue::Number(number) if number.fract() == 0.0 && number.abs() < 9.2e18 => Some(number as i64),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self.value {
            NodeValue::Number(number) => Some(number),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self.value {
            NodeValue::Bool(value) => Some(value),
            _ => None,
        }
    }

    fn null() -> Node {
        Node::made(NodeValue::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_value_with_its_span() {
        let text = r#"{"a": [1e400, -0, "x\"y", true, null], "b": {"c": 1}, "b": {"d": 2}}"#;
        let root = Node::read(text.as_bytes(), 0).unwrap();
        let a = root.get("a").unwrap().as_array().unwrap();
        assert_eq!(a[0].as_f64(), Some(f64::INFINITY));
        assert_eq!(&text[a[2].span.clone().unwrap()], r#""x\"y""#);
        assert_eq!(a[2].as_str(), Some("x\"y"));
        assert_eq!(root.get("b").unwrap().get("d").unwrap().as_i64(), Some(2), "the last duplicate wins");
        assert_eq!(root.as_object().unwrap().len(), 2);
    }

    #[test]
    fn deep_and_broken_text_is_an_error() {
        let deep = "[".repeat(5000) + &"]".repeat(5000);
        assert_eq!(Node::read(deep.as_bytes(), 0).unwrap_err(), TreeError::TooDeep);
        assert!(matches!(Node::read(b"{\"a\": tru}", 0), Err(TreeError::Malformed(_))));
        assert!(matches!(Node::read(b"[1, 2", 0), Err(TreeError::Malformed(_))));
    }
}
