//! Reading values out of an event's raw JSON text without building a tree, and writing them in the
//! forms a template asks for (decoded string text, compact JSON, de-quoted JSON).
//!
//! The event has already been read by the matcher, so these functions expect well-formed JSON; they
//! still check every index they use and answer `Malformed` rather than panic when the text is not.
//! Nothing here allocates except the output buffer the caller passes in.

use std::ops::Range;

/// The event text is not the JSON it should be; `offset` is where reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub(crate) offset: usize,
}

/// One step of a definite path: a member name (decoded) or a non-negative array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Name(Box<[u8]>),
    Index(usize),
}

/// What kind of JSON value a span holds, read off its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Container,
    Null,
    /// A number, `true` or `false`: written as its own text everywhere.
    Literal,
}

pub(crate) fn kind_of(value: &[u8]) -> Kind {
    match value.first() {
        Some(b'"') => Kind::String,
        Some(b'{' | b'[') => Kind::Container,
        Some(b'n') => Kind::Null,
        _ => Kind::Literal,
    }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

pub(crate) fn skip_space(text: &[u8], mut at: usize) -> usize {
    while at < text.len() && is_space(text[at]) {
        at += 1;
    }
    at
}

/// `at` is on an opening quote; returns the index just past the closing quote.
fn string_end(text: &[u8], at: usize) -> Result<usize, Malformed> {
    let mut at = at + 1;
    // Most strings of events are short: a plain loop beats the set-up of a vector search.
    let short_end = text.len().min(at + 24);
    while at < short_end {
        match text[at] {
            b'"' => return Ok(at + 1),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    loop {
        match memchr::memchr2(b'"', b'\\', text.get(at..).unwrap_or_default()) {
            Some(found) if text[at + found] == b'"' => return Ok(at + found + 1),
            Some(found) => at += found + 2,
            None => return Err(Malformed { offset: text.len() }),
        }
    }
}

/// `at` is on the first byte of a value; returns the index just past it.
pub(crate) fn value_end(text: &[u8], at: usize) -> Result<usize, Malformed> {
    match text.get(at) {
        Some(b'"') => string_end(text, at),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut at = at;
            while let Some(&byte) = text.get(at) {
                match byte {
                    b'"' => {
                        at = string_end(text, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
            Err(Malformed { offset: text.len() })
        }
        Some(_) => {
            let mut end = at;
            while end < text.len() && !matches!(text[end], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                end += 1;
            }
            if end == at { Err(Malformed { offset: at }) } else { Ok(end) }
        }
        None => Err(Malformed { offset: at }),
    }
}

/// Calls `member(key, value_start)` for each member of the object whose `{` is at `at`; `member`
/// returns where the value ended. `key` is the raw text between the quotes (escapes undecoded).
/// Returns the index just past the `}`.
pub(crate) fn for_each_member(
    text: &[u8],
    at: usize,
    mut member: impl FnMut(&[u8], usize) -> Result<usize, Malformed>,
) -> Result<usize, Malformed> {
    let mut at = skip_space(text, at + 1);
    if text.get(at) == Some(&b'}') {
        return Ok(at + 1);
    }
    loop {
        if text.get(at) != Some(&b'"') {
            return Err(Malformed { offset: at });
        }
        let key_end = string_end(text, at)?;
        let key = &text[at + 1..key_end - 1];
        at = skip_space(text, key_end);
        if text.get(at) != Some(&b':') {
            return Err(Malformed { offset: at });
        }
        at = skip_space(text, at + 1);
        at = skip_space(text, member(key, at)?);
        match text.get(at) {
            Some(b',') => at = skip_space(text, at + 1),
            Some(b'}') => return Ok(at + 1),
            _ => return Err(Malformed { offset: at }),
        }
    }
}

/// Calls `element(idx, value_start)` for each element of the array whose `[` is at `at`; like
/// [`for_each_member`] otherwise.
pub(crate) fn for_each_element(
    text: &[u8],
    at: usize,
    mut element: impl FnMut(usize, usize) -> Result<usize, Malformed>,
) -> Result<usize, Malformed> {
    let mut at = skip_space(text, at + 1);
    if text.get(at) == Some(&b']') {
        return Ok(at + 1);
    }
    let mut idx = 0;
    loop {
        at = skip_space(text, element(idx, at)?);
        idx += 1;
        match text.get(at) {
            Some(b',') => at = skip_space(text, at + 1),
            Some(b']') => return Ok(at + 1),
            _ => return Err(Malformed { offset: at }),
        }
    }
}

/// Whether the raw key text (escapes undecoded) names `name` (decoded).
pub(crate) fn key_is(raw_key: &[u8], name: &[u8]) -> bool {
    if raw_key == name {
        return true;
    }
    // Escapes only make a key longer than what it decodes to.
    if raw_key.len() <= name.len() || !raw_key.contains(&b'\\') {
        return false;
    }
    let mut decoded = Vec::with_capacity(raw_key.len());
    decode_into(raw_key, &mut decoded).is_ok() && decoded == name
}

/// The span of the value at `steps` from the value starting at `at`, or None when the path is
/// absent. Duplicate names resolve to the last member, as in a parsed JSON object.
pub(crate) fn find(text: &[u8], at: usize, steps: &[Step]) -> Result<Option<Range<usize>>, Malformed> {
    let Some((step, rest)) = steps.split_first() else {
        return Ok(Some(at..value_end(text, at)?));
    };
    let mut found = None;
    match (step, text.get(at)) {
        (Step::Name(name), Some(b'{')) => {
            for_each_member(text, at, |key, value_at| {
                if key_is(key, name) {
                    found = Some(value_at);
                }
                value_end(text, value_at)
            })?;
        }
        (Step::Index(wanted), Some(b'[')) => {
            for_each_element(text, at, |idx, value_at| {
                if idx == *wanted {
                    found = Some(value_at);
                }
                value_end(text, value_at)
            })?;
        }
        _ => return Ok(None),
    }
    match found {
        Some(value_at) => find(text, value_at, rest),
        None => Ok(None),
    }
}

/// Several direct paths read in one pass over the event: a tree of their steps whose nodes carry the
/// slots of the paths ending there.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathTree {
    nodes: Vec<TreeNode>,
}

#[derive(Debug, Clone, Default)]
struct TreeNode {
    /// None for the root.
    step: Option<Step>,
    children: Vec<usize>,
    /// Slots of the paths ending at this node.
    slots: Vec<usize>,
    /// Slots of the paths ending at or under this node: cleared when the node is visited again (a
    /// duplicate member name), so the last member wins for every path through it.
    subtree_slots: Vec<usize>,
}

impl PathTree {
    pub(crate) fn insert(&mut self, steps: &[Step], slot: usize) {
        if self.nodes.is_empty() {
            self.nodes.push(TreeNode::default());
        }
        let mut node_idx = 0;
        self.nodes[0].subtree_slots.push(slot);
        for step in steps {
            let existing = self.nodes[node_idx]
                .children
                .iter()
                .copied()
                .find(|&child| self.nodes[child].step.as_ref() == Some(step));
            node_idx = match existing {
                Some(child) => child,
                None => {
                    self.nodes.push(TreeNode { step: Some(step.clone()), ..TreeNode::default() });
                    let child = self.nodes.len() - 1;
                    self.nodes[node_idx].children.push(child);
                    child
                }
            };
            self.nodes[node_idx].subtree_slots.push(slot);
        }
        self.nodes[node_idx].slots.push(slot);
    }

    /// Fills `spans[slot]` for every path of the tree found in the value starting at `at`; slots of
    /// absent paths are left None.
    pub(crate) fn locate(&self, text: &[u8], at: usize, spans: &mut [Option<Range<usize>>]) -> Result<(), Malformed> {
        if !self.nodes.is_empty() {
            self.visit(0, text, at, spans)?;
        }
        Ok(())
    }

    fn visit(
        &self,
        node_idx: usize,
        text: &[u8],
        at: usize,
        spans: &mut [Option<Range<usize>>],
    ) -> Result<usize, Malformed> {
        let node = &self.nodes[node_idx];
        for &slot in &node.subtree_slots {
            spans[slot] = None;
        }
        let end = match text.get(at) {
            Some(b'{') if node.children.iter().any(|&child| matches!(self.nodes[child].step, Some(Step::Name(_)))) => {
                for_each_member(text, at, |key, value_at| {
                    let child = node.children.iter().copied().find(|&child| match &self.nodes[child].step {
                        Some(Step::Name(name)) => key_is(key, name),
                        _ => false,
                    });
                    match child {
                        Some(child) => self.visit(child, text, value_at, spans),
                        None => value_end(text, value_at),
                    }
                })?
            }
            Some(b'[') if node.children.iter().any(|&child| matches!(self.nodes[child].step, Some(Step::Index(_)))) => {
                for_each_element(text, at, |idx, value_at| {
                    let child =
                        node.children.iter().copied().find(|&child| self.nodes[child].step == Some(Step::Index(idx)));
                    match child {
                        Some(child) => self.visit(child, text, value_at, spans),
                        None => value_end(text, value_at),
                    }
                })?
            }
            _ => value_end(text, at)?,
        };
        for &slot in &node.slots {
            spans[slot] = Some(at..end);
        }
        Ok(end)
    }
}

/// Appends the decoded text of a JSON string's content (`raw`: between the quotes).
pub(crate) fn decode_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), Malformed> {
    let mut at = 0;
    while at < raw.len() {
        let Some(found) = memchr::memchr(b'\\', &raw[at..]) else {
            out.extend_from_slice(&raw[at..]);
            return Ok(());
        };
        out.extend_from_slice(&raw[at..at + found]);
        at += found;
        let escape = *raw.get(at + 1).ok_or(Malformed { offset: at })?;
        at += 2;
        let byte = match escape {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let first = hex4(raw, at)?;
                at += 4;
                let code = if (0xD800..0xDC00).contains(&first) {
                    let low = match raw.get(at..at + 2) {
                        Some(b"\\u") => hex4(raw, at + 2)?,
                        _ => return Err(Malformed { offset: at }),
                    };
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(Malformed { offset: at });
                    }
                    at += 6;
                    0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    first
                };
                let ch = char::from_u32(code).ok_or(Malformed { offset: at })?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                continue;
            }
            _ => return Err(Malformed { offset: at - 1 }),
        };
        out.push(byte);
    }
    Ok(())
}

fn hex4(raw: &[u8], at: usize) -> Result<u32, Malformed> {
    let digits = raw.get(at..at + 4).ok_or(Malformed { offset: at })?;
    let mut code = 0;
    for &digit in digits {
        let value = (digit as char).to_digit(16).ok_or(Malformed { offset: at })?;
        code = code * 16 + value;
    }
    Ok(code)
}

/// Appends `value` (one JSON value) without insignificant whitespace; strings are copied as written,
/// escapes included.
pub(crate) fn compact_into(value: &[u8], out: &mut Vec<u8>) -> Result<(), Malformed> {
    if !matches!(value.first(), Some(b'{' | b'[')) {
        out.extend_from_slice(value);
        return Ok(());
    }
    let mut at = 0;
    while at < value.len() {
        match value[at] {
            b'"' => {
                let end = string_end(value, at)?;
                out.extend_from_slice(&value[at..end]);
                at = end;
            }
            byte if is_space(byte) => at += 1,
            _ => {
                let run = value[at..]
                    .iter()
                    .position(|&byte| byte == b'"' || is_space(byte))
                    .map_or(value.len(), |len| at + len);
                out.extend_from_slice(&value[at..run]);
                at = run;
            }
        }
    }
    Ok(())
}

/// Appends `value` compact with every `"` removed: how EventBridge puts an object or array inside a
/// string.
pub(crate) fn dequote_into(value: &[u8], out: &mut Vec<u8>) -> Result<(), Malformed> {
    let mark = out.len();
    compact_into(value, out)?;
    let mut write = mark;
    for read in mark..out.len() {
        let byte = out[read];
        if byte != b'"' {
            out[write] = byte;
            write += 1;
        }
    }
    out.truncate(write);
    Ok(())
}

/// Whether text written into a JSON template could have broken it: a quote, a backslash or a control
/// character, none of which EventBridge escapes.
pub(crate) fn may_break_json(written: &[u8]) -> bool {
    written.iter().any(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(path: &[&str]) -> Vec<Step> {
        path.iter()
            .map(|step| match step.parse() {
                Ok(idx) => Step::Index(idx),
                Err(_) => Step::Name(step.as_bytes().into()),
            })
            .collect()
    }

    fn found<'t>(text: &'t str, path: &[&str]) -> Option<&'t str> {
        find(text.as_bytes(), skip_space(text.as_bytes(), 0), &steps(path)).unwrap().map(|span| &text[span])
    }

    #[test]
    fn finds_members_elements_and_the_last_duplicate() {
        let text = r#" {"a": {"b" : [1, {"c": "x\"y"}, [true]]}, "d": 1e2, "a\u0062": 5, "d": -0 } "#;
        assert_eq!(found(text, &["a", "b", "1", "c"]), Some(r#""x\"y""#));
        assert_eq!(found(text, &["a", "b", "2"]), Some("[true]"));
        assert_eq!(found(text, &["d"]), Some("-0"));
        assert_eq!(found(text, &["ab"]), Some("5"));
        assert_eq!(found(text, &["a", "b", "3"]), None);
        assert_eq!(found(text, &["a", "x"]), None);
        assert_eq!(found(text, &["d", "x"]), None);
    }

    #[test]
    fn decodes_escapes_and_surrogate_pairs() {
        let mut out = Vec::new();
        decode_into(br#"a\"b\\c\/\n\u00e9\ud83d\ude00"#, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a\"b\\c/\n\u{e9}\u{1f600}");
        for bad in [&br#"\x"#[..], br#"\u12"#, br#"\ud83dx"#, br#"\ud83d\u0041"#, br"\"] {
            assert!(decode_into(bad, &mut Vec::new()).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn compacts_and_dequotes() {
        let value = b"{ \"a b\" : [ 1 ,\n \"x \\\" y\" ], \"c\": {} }";
        let mut out = Vec::new();
        compact_into(value, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a b":[1,"x \" y"],"c":{}}"#);
        let mut out = Vec::new();
        dequote_into(value, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{a b:[1,x \ y],c:{}}"#);
    }

    #[test]
    fn truncated_text_is_malformed_not_a_panic() {
        let text = br#"{"a": {"b": [1, "x"#;
        for end in 0..text.len() {
            let _ = find(&text[..end], 0, &steps(&["a", "b", "1"]));
            let _ = value_end(&text[..end], 0);
            let _ = compact_into(&text[..end], &mut Vec::new());
        }
        assert!(find(text, 0, &steps(&["a", "b", "1"])).is_err());
    }

    #[test]
    fn one_pass_agrees_with_single_finds() {
        let text = r#"{"a": {"b": [10, {"c": 1}], "b2": "x"}, "d": null, "a": {"b": [20]}, "e": {"f": 2}}"#;
        let paths: [&[&str]; 6] = [&["a", "b", "0"], &["a", "b", "1", "c"], &["a", "b2"], &["d"], &["e", "f"], &[]];
        let mut tree = PathTree::default();
        for (slot, path) in paths.iter().enumerate() {
            tree.insert(&steps(path), slot);
        }
        let mut spans = vec![None; paths.len()];
        tree.locate(text.as_bytes(), 0, &mut spans).unwrap();
        for (slot, path) in paths.iter().enumerate() {
            let expected = find(text.as_bytes(), 0, &steps(path)).unwrap();
            assert_eq!(spans[slot], expected, "{path:?}");
        }
        assert_eq!(spans[0].clone().map(|span| &text[span]), Some("20"), "the last duplicate member wins");
        assert_eq!(spans[1], None);
    }
}
