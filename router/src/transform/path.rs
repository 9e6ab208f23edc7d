//! JSONPath for InputPath and InputPathsMap: parsed once when rules load, evaluated per event.
//!
//! Every path is parsed by jsonpath-rust. EventBridge's dot notation (`$.detail.instance-id`,
//! `$.resources[0]`, `$.detail.*`) is first rewritten to RFC 9535 bracket notation, because RFC 9535
//! does not allow dashes or slashes in dot names; any other text is taken as RFC 9535 JSONPath
//! (filters, slices, descendants: a documented extension).
//!
//! A path made only of names and non-negative indices is *direct*: it is read straight off the event
//! text ([`super::extract`]) without parsing the event. Any other path is evaluated by jsonpath-rust
//! on the event read once per rendering into a tree ([`super::tree`]) whose nodes know their place
//! in the text, so that every value is written from the event's own text either way (numbers keep
//! their literal digits).

use std::ops::Range;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};

use super::extract::{self, Malformed, Step};
use super::tree::{self, Node, TreeError};

/// EventBridge's limit on the length of one path.
pub const MAX_PATH_CHARS: usize = 256;

/// A compiled path.
#[derive(Debug, Clone)]
pub(crate) struct JsonPath {
    pub(crate) text: Box<str>,
    pub(crate) eval: Eval,
}

#[derive(Debug, Clone)]
pub(crate) enum Eval {
    /// Names and indices only: read off the event text.
    Direct(Box<[Step]>),
    /// Evaluated by jsonpath-rust. `definite` paths (single selectors only) select at most one
    /// value and yield it; the others yield the array of all values they select.
    Query { query: Box<JpQuery>, definite: bool },
}

/// How paths are evaluated. `QueryOnly` sends every path through jsonpath-rust; the tests use it as
/// an oracle for the direct reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Evaluation {
    #[default]
    Direct,
    QueryOnly,
}

impl JsonPath {
    /// Parses `text`; the error says what is wrong and where.
    pub(crate) fn compile(text: &str, evaluation: Evaluation) -> Result<JsonPath, String> {
        if text.is_empty() {
            return Err("the path is empty".to_string());
        }
        let n_chars = text.chars().count();
        if n_chars > MAX_PATH_CHARS {
            return Err(format!("the path is {n_chars} characters long; the limit is {MAX_PATH_CHARS}"));
        }
        if !text.starts_with('$') {
            return Err(format!("{text:?} is not a JSONPath: a path starts with \"$\" (e.g. $.detail.state)"));
        }
        let rfc_text = eventbridge_to_rfc9535(text);
        let query = jsonpath_rust::parser::parse_json_path(rfc_text.as_deref().unwrap_or(text))
            .map_err(|error| format!("{text:?} is not a valid JSONPath: {}", one_line(&error.to_string())))?;
        let steps: Option<Vec<Step>> = query
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Selector(selector) => direct_step(selector),
                Segment::Selectors(selectors) if selectors.len() == 1 => direct_step(&selectors[0]),
                _ => None,
            })
            .collect();
        let eval = match steps {
            Some(steps) if evaluation == Evaluation::Direct => Eval::Direct(steps.into()),
            _ => {
                let definite = query.segments.iter().all(|segment| match segment {
                    Segment::Selector(selector) => matches!(selector, Selector::Name(_) | Selector::Index(_)),
                    Segment::Selectors(selectors) => {
                        selectors.len() == 1 && matches!(selectors[0], Selector::Name(_) | Selector::Index(_))
                    }
                    Segment::Descendant(_) => false,
                });
                Eval::Query { query: Box::new(query), definite }
            }
        };
        Ok(JsonPath { text: text.into(), eval })
    }

    pub(crate) fn direct_steps(&self) -> Option<&[Step]> {
        match &self.eval {
            Eval::Direct(steps) => Some(steps),
            Eval::Query { .. } => None,
        }
    }
}

fn direct_step(selector: &Selector) -> Option<Step> {
    match selector {
        Selector::Name(name) => Some(Step::Name(name.as_bytes().into())),
        Selector::Index(idx) => usize::try_from(*idx).ok().map(Step::Index),
        _ => None,
    }
}

/// pest's messages span several lines with a drawing of the input; one line reads better in logs.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    let position = lines
        .iter()
        .find_map(|line| line.split_once("--> "))
        .and_then(|(_, at)| at.split_once(':'))
        .map(|(_, column)| format!(" at column {column}"));
    let expected = lines.iter().find_map(|line| line.strip_prefix("= ")).unwrap_or("invalid syntax");
    format!("{expected}{}", position.unwrap_or_default())
}

fn is_eventbridge_name_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '/')
}

/// The RFC 9535 text of a path written in EventBridge's dot notation (`$` then `.name`, `.*`, `[N]`,
/// `[*]`, names of letters, digits, `_`, `-`, `/`), or None when `text` is not in that notation.
fn eventbridge_to_rfc9535(text: &str) -> Option<String> {
    let rest = text.strip_prefix('$')?;
    let mut out = String::from("$");
    let mut chars = rest.char_indices().peekable();
    while let Some((_, ch)) = chars.next() {
        match ch {
            '.' => {
                if chars.next_if(|&(_, ch)| ch == '*').is_some() {
                    out.push_str("[*]");
                    continue;
                }
                let mut name = String::new();
                while let Some((_, ch)) = chars.next_if(|&(_, ch)| is_eventbridge_name_char(ch)) {
                    name.push(ch);
                }
                if name.is_empty() {
                    return None;
                }
                out.push_str("['");
                out.push_str(&name);
                out.push_str("']");
            }
            '[' => {
                let mut inner = String::new();
                while let Some((_, ch)) = chars.next_if(|&(_, ch)| ch.is_ascii_digit() || ch == '*') {
                    inner.push(ch);
                }
                let valid = inner == "*" || (!inner.is_empty() && inner.bytes().all(|byte| byte.is_ascii_digit()));
                if !valid || chars.next().map(|(_, ch)| ch) != Some(']') {
                    return None;
                }
                out.push('[');
                out.push_str(&inner);
                out.push(']');
            }
            _ => return None,
        }
    }
    Some(out)
}

/// What a path selected in one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selected {
    Missing,
    One(Range<usize>),
    /// The values an indefinite path selected, in document order; written as a JSON array.
    Many(Vec<Range<usize>>),
}

/// The event read as a tree for jsonpath-rust, at most once per rendering and only when a path
/// needs it.
#[derive(Debug, Default)]
pub(crate) struct ParsedEvent {
    tree: Option<Node>,
}

impl ParsedEvent {
    fn tree(&mut self, event: &[u8], root: usize) -> Result<&Node, String> {
        if self.tree.is_none() {
            let tree = Node::read(event, root).map_err(|error| match error {
                TreeError::Malformed(Malformed { offset }) => format!("the event is not valid JSON at byte {offset}"),
                TreeError::TooDeep => format!("the event nests deeper than {} levels", tree::MAX_DEPTH),
            })?;
            self.tree = Some(tree);
        }
        Ok(self.tree.as_ref().expect("set just above"))
    }
}

impl JsonPath {
    /// What this path selects in `event` (whose top-level value starts at `root`). Direct paths are
    /// read from the text; the others query the tree in `parsed`, made on first need.
    pub(crate) fn select(&self, event: &[u8], root: usize, parsed: &mut ParsedEvent) -> Result<Selected, String> {
        match &self.eval {
            Eval::Direct(steps) => {
                let span = extract::find(event, root, steps)
                    .map_err(|Malformed { offset }| format!("the event is not valid JSON at byte {offset}"))?;
                Ok(span.map_or(Selected::Missing, Selected::One))
            }
            Eval::Query { query, definite } => select_by_query(query, *definite, event, root, parsed),
        }
    }
}

fn select_by_query(
    query: &JpQuery,
    definite: bool,
    event: &[u8],
    root: usize,
    parsed: &mut ParsedEvent,
) -> Result<Selected, String> {
    let tree = parsed.tree(event, root)?;
    let nodes = jsonpath_rust::query::js_path_process(query, tree)
        .map_err(|error| format!("JSONPath evaluation failed: {error}"))?;
    let mut spans = Vec::with_capacity(nodes.len());
    for node in nodes {
        let span = node.val.span.clone().ok_or("JSONPath selected a value that is not in the event")?;
        spans.push(span);
    }
    if definite {
        return Ok(spans.pop().map_or(Selected::Missing, Selected::One));
    }
    // Objects are walked in their members' order, which is the event's; sorting by position also
    // puts descendants in document order.
    spans.sort_by_key(|span| span.start);
    Ok(Selected::Many(spans))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventbridge_dot_notation_becomes_brackets() {
        let cases = [
            ("$", Some("$")),
            ("$.detail.instance-id", Some("$['detail']['instance-id']")),
            ("$.detail-type", Some("$['detail-type']")),
            ("$.resources[0]", Some("$['resources'][0]")),
            ("$.detail.items[*].id", Some("$['detail']['items'][*]['id']")),
            ("$.detail.*", Some("$['detail'][*]")),
            ("$.a/b.c_d", Some("$['a/b']['c_d']")),
            ("$..a", None),
            ("$.a[?@.b]", None),
            ("$['a']", None),
            ("$.a[-1]", None),
            ("detail", None),
        ];
        for (text, expected) in cases {
            assert_eq!(eventbridge_to_rfc9535(text).as_deref(), expected, "{text}");
        }
    }

    #[test]
    fn compile_classifies_paths() {
        let direct = JsonPath::compile("$.detail.items[2].id", Evaluation::Direct).unwrap();
        assert!(direct.direct_steps().is_some());
        for (text, definite) in [("$.a[-1]", true), ("$.a[*]", false), ("$..a", false), ("$.a[?@.b > 1]", false)] {
            match JsonPath::compile(text, Evaluation::Direct).unwrap().eval {
                Eval::Query { definite: found, .. } => assert_eq!(found, definite, "{text}"),
                Eval::Direct(_) => panic!("{text} should need jsonpath-rust"),
            }
        }
        let error = JsonPath::compile("$.a[", Evaluation::Direct).unwrap_err();
        assert_eq!(error, r#""$.a[" is not a valid JSONPath: expected selector at column 5"#);
        assert!(!error.contains('\n'), "{error}");
        let long = format!("$.{}", "a".repeat(300));
        assert!(JsonPath::compile(&long, Evaluation::Direct).unwrap_err().contains("limit is 256"));
    }
}
