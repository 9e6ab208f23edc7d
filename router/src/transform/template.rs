//! InputTemplate: read once when rules load into literal runs and placeholders, each placeholder
//! knowing its position (value, string, or raw text); rendered per event by copying the runs and
//! writing each value the way EventBridge would (eventbridge-spec.md §3.3).
//!
//! Reading a template never fails on its own: a template that is not JSON is a text template. The
//! errors it reports are about placeholders (unknown, used as an object key, an event-valued
//! variable inside a string); [`super::compile`] adds the rule and target to them.

use std::ops::Range;

use super::extract::{self, Kind, PathTree};
use super::path::{JsonPath, ParsedEvent, Selected};
use super::{Predefined, RenderContext, RenderError, malformed};

/// Where a placeholder sits, which decides how a value is written there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// Outside any string literal of a JSON template: strings get quotes, objects stay JSON.
    Value,
    /// Inside a string literal: raw text, objects and arrays de-quoted.
    String,
    /// Outside string literals of a template that is not JSON: raw text, objects and arrays as JSON.
    Raw,
}

/// What the template is as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A JSON string (`"instance <id> is <state>"`): delivered with its quotes; objects and arrays in
    /// it are de-quoted.
    JsonString,
    /// Any other JSON value (object, array, a lone placeholder): the output must be JSON, and an
    /// object or array inside one of its strings is not delivered (as observed on EventBridge).
    JsonStructure,
    /// Not JSON: delivered as text, values raw.
    Text,
}

/// What a placeholder name refers to.
#[derive(Debug, Clone)]
pub(crate) enum Resolution {
    Variable(Variable),
    /// A key of InputPathsMap whose entry was rejected (and reported) already.
    Rejected,
    Unknown,
}

/// A variable a placeholder refers to.
#[derive(Debug, Clone)]
pub(crate) enum Variable {
    /// An InputPathsMap entry; `slot` indexes the spans of the one-pass reader (direct paths only).
    Path {
        name: Box<str>,
        path: JsonPath,
        slot: Option<usize>,
    },
    Predefined(Predefined),
}

#[derive(Debug, Clone)]
enum Part {
    Literal(Range<usize>),
    Placeholder { variable: usize, position: Position },
}

/// A placeholder as found in the template text.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) range: Range<usize>,
    pub(crate) in_string: bool,
}

impl Found {
    pub(crate) fn name<'t>(&self, text: &'t str) -> &'t str {
        &text[self.range.start + 1..self.range.end - 1]
    }
}

/// A compiled InputTemplate.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    text: Box<str>,
    parts: Box<[Part]>,
    pub(crate) shape: Shape,
    variables: Box<[Variable]>,
    tree: PathTree,
    n_slots: usize,
}

fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// Every `<name>` in `text` (name: letters, digits, `_`, `-`, `.`), with whether it sits inside a
/// string literal. A `<` not followed by such a name and `>` is ordinary text; `<` and `>` cannot be
/// escaped, as in EventBridge.
pub(crate) fn find_placeholders(text: &str) -> Vec<Found> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut in_string = false;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => in_string = !in_string,
            // An escape inside a string: the next byte cannot end the string (but `\<` still opens
            // a placeholder, since `<` cannot be escaped).
            b'\\' if in_string && bytes.get(at + 1).is_some_and(|&next| next != b'<') => at += 1,
            b'<' => {
                let name_len = bytes[at + 1..].iter().take_while(|&&byte| is_name_byte(byte)).count();
                if name_len > 0 && bytes.get(at + 1 + name_len) == Some(&b'>') {
                    found.push(Found { range: at..at + name_len + 2, in_string });
                    at += name_len + 2;
                    continue;
                }
            }
            _ => {}
        }
        at += 1;
    }
    found
}

/// The template read as JSON in which a placeholder may stand for a value: its shape, and the
/// placeholders used as object keys (bare, or inside a key's string). None when it is not JSON.
struct JsonReading<'t> {
    bytes: &'t [u8],
    placeholders: &'t [Found],
    keys: Vec<usize>,
}

/// Templates nest at most this deep; deeper ones are rejected rather than read recursively.
pub(crate) const MAX_TEMPLATE_DEPTH: usize = 128;

#[derive(Debug)]
enum NotJson {
    Syntax,
    TooDeep,
}

impl JsonReading<'_> {
    fn placeholder_at(&self, at: usize) -> Option<&Found> {
        let idx = self.placeholders.partition_point(|found| found.range.start < at);
        self.placeholders.get(idx).filter(|found| found.range.start == at && !found.in_string)
    }

    fn space(&self, mut at: usize) -> usize {
        while at < self.bytes.len() && matches!(self.bytes[at], b' ' | b'\t' | b'\n' | b'\r') {
            at += 1;
        }
        at
    }

    fn value(&mut self, at: usize, depth: usize) -> Result<usize, NotJson> {
        if depth > MAX_TEMPLATE_DEPTH {
            return Err(NotJson::TooDeep);
        }
        let at = self.space(at);
        if let Some(found) = self.placeholder_at(at) {
            return Ok(found.range.end);
        }
        match self.bytes.get(at) {
            Some(b'{') => self.object(at, depth),
            Some(b'[') => self.array(at, depth),
            Some(b'"') => self.string(at),
            Some(b't') => self.literal(at, b"true"),
            Some(b'f') => self.literal(at, b"false"),
            Some(b'n') => self.literal(at, b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(at),
            _ => Err(NotJson::Syntax),
        }
    }

    fn literal(&self, at: usize, word: &[u8]) -> Result<usize, NotJson> {
        if self.bytes[at..].starts_with(word) { Ok(at + word.len()) } else { Err(NotJson::Syntax) }
    }

    fn digits(&self, at: usize) -> usize {
        at + self.bytes[at..].iter().take_while(|byte| byte.is_ascii_digit()).count()
    }

    fn number(&self, mut at: usize) -> Result<usize, NotJson> {
        if self.bytes[at] == b'-' {
            at += 1;
        }
        match self.bytes.get(at) {
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => at = self.digits(at),
            _ => return Err(NotJson::Syntax),
        }
        if self.bytes.get(at) == Some(&b'.') {
            let end = self.digits(at + 1);
            if end == at + 1 {
                return Err(NotJson::Syntax);
            }
            at = end;
        }
        if matches!(self.bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(self.bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let end = self.digits(at);
            if end == at {
                return Err(NotJson::Syntax);
            }
            at = end;
        }
        Ok(at)
    }

    fn string(&self, at: usize) -> Result<usize, NotJson> {
        let mut at = at + 1;
        loop {
            match self.bytes.get(at) {
                Some(b'"') => return Ok(at + 1),
                Some(b'\\') => match self.bytes.get(at + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at += 2,
                    Some(b'u')
                        if self.bytes.get(at + 2..at + 6).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) =>
                    {
                        at += 6
                    }
                    _ => return Err(NotJson::Syntax),
                },
                Some(&byte) if byte < 0x20 => return Err(NotJson::Syntax),
                Some(_) => at += 1,
                None => return Err(NotJson::Syntax),
            }
        }
    }

    fn object(&mut self, at: usize, depth: usize) -> Result<usize, NotJson> {
        let mut at = self.space(at + 1);
        if self.bytes.get(at) == Some(&b'}') {
            return Ok(at + 1);
        }
        loop {
            let key_end = if let Some(found) = self.placeholder_at(at) {
                let end = found.range.end;
                self.keys.push(at);
                end
            } else if self.bytes.get(at) == Some(&b'"') {
                let end = self.string(at)?;
                let inside = self
                    .placeholders
                    .iter()
                    .filter(|found| found.in_string && found.range.start > at && found.range.end < end);
                let inside: Vec<usize> = inside.map(|found| found.range.start).collect();
                self.keys.extend(inside);
                end
            } else {
                return Err(NotJson::Syntax);
            };
            at = self.space(key_end);
            if self.bytes.get(at) != Some(&b':') {
                return Err(NotJson::Syntax);
            }
            let end = self.value(at + 1, depth + 1)?;
            at = self.space(end);
            match self.bytes.get(at) {
                Some(b',') => at = self.space(at + 1),
                Some(b'}') => return Ok(at + 1),
                _ => return Err(NotJson::Syntax),
            }
        }
    }

    fn array(&mut self, at: usize, depth: usize) -> Result<usize, NotJson> {
        let mut at = self.space(at + 1);
        if self.bytes.get(at) == Some(&b']') {
            return Ok(at + 1);
        }
        loop {
            let end = self.value(at, depth + 1)?;
            at = self.space(end);
            match self.bytes.get(at) {
                Some(b',') => at = self.space(at + 1),
                Some(b']') => return Ok(at + 1),
                _ => return Err(NotJson::Syntax),
            }
        }
    }
}

/// A problem with one placeholder or with the template as a whole, before the rule and target are
/// named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateProblem {
    /// Byte offset in the template, for the line and column.
    pub(crate) offset: usize,
    pub(crate) message: String,
}

/// Line and column (1-based, columns in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    (line, column)
}

impl Template {
    /// Reads `text`; `resolve(name)` says what a placeholder name refers to. Returns every problem
    /// found, not only the first.
    pub(crate) fn compile(
        text: &str,
        mut resolve: impl FnMut(&str) -> Resolution,
    ) -> Result<Template, Vec<TemplateProblem>> {
        let placeholders = find_placeholders(text);
        let mut reading = JsonReading { bytes: text.as_bytes(), placeholders: &placeholders, keys: Vec::new() };
        let mut problems = Vec::new();
        let shape = match reading.value(0, 0) {
            Ok(end) if reading.space(end) == text.len() => {
                let first = reading.space(0);
                if text.as_bytes()[first] == b'"' { Shape::JsonString } else { Shape::JsonStructure }
            }
            Err(NotJson::TooDeep) => {
                problems.push(TemplateProblem {
                    offset: 0,
                    message: format!("the template nests deeper than {MAX_TEMPLATE_DEPTH} levels"),
                });
                Shape::Text
            }
            _ => Shape::Text,
        };
        if shape != Shape::Text {
            for &offset in &reading.keys {
                let found =
                    placeholders.iter().find(|found| found.range.start == offset).expect("keys come from placeholders");
                problems.push(TemplateProblem {
                    offset,
                    message: format!(
                        "placeholder <{}> is used as an object key, which is not allowed",
                        found.name(text)
                    ),
                });
            }
        }

        let mut variables: Vec<Variable> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let mut parts = Vec::new();
        let mut literal_start = 0;
        for found in &placeholders {
            let name = found.name(text);
            let variable = match names.iter().position(|&known| known == name) {
                Some(idx) => Some(idx),
                None => match resolve(name) {
                    Resolution::Variable(variable) => {
                        variables.push(variable);
                        names.push(name);
                        Some(variables.len() - 1)
                    }
                    Resolution::Rejected => None,
                    Resolution::Unknown => {
                        problems.push(TemplateProblem {
                            offset: found.range.start,
                            message: format!(
                                "invalid placeholder <{name}>: it is neither a key of InputPathsMap nor a predefined variable"
                            ),
                        });
                        None
                    }
                },
            };
            let position = match (found.in_string, shape) {
                (true, _) => Position::String,
                (false, Shape::Text) => Position::Raw,
                (false, _) => Position::Value,
            };
            if let Some(variable) = variable {
                if let Variable::Predefined(predefined @ (Predefined::Event | Predefined::EventJson)) =
                    variables[variable]
                    && position == Position::String
                {
                    problems.push(TemplateProblem {
                        offset: found.range.start,
                        message: format!(
                            "placeholder <{}> is inside a string; it can only be used as a value for a JSON field",
                            predefined.name()
                        ),
                    });
                }
                if literal_start < found.range.start {
                    parts.push(Part::Literal(literal_start..found.range.start));
                }
                parts.push(Part::Placeholder { variable, position });
                literal_start = found.range.end;
            }
        }
        if literal_start < text.len() {
            parts.push(Part::Literal(literal_start..text.len()));
        }
        if !problems.is_empty() {
            problems.sort_by_key(|problem| problem.offset);
            return Err(problems);
        }

        let mut tree = PathTree::default();
        let mut n_slots = 0;
        for variable in &mut variables {
            if let Variable::Path { path, slot, .. } = variable
                && let Some(steps) = path.direct_steps()
            {
                tree.insert(steps, n_slots);
                *slot = Some(n_slots);
                n_slots += 1;
            }
        }
        Ok(Template { text: text.into(), parts: parts.into(), shape, variables: variables.into(), tree, n_slots })
    }

    /// Writes the input for `event` into `out` (which the caller has emptied).
    pub(crate) fn render(
        &self,
        event: &[u8],
        context: &RenderContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError> {
        let root = extract::skip_space(event, 0);
        // Spans of the direct paths; on the stack for the common template size.
        let mut on_stack: [Option<Range<usize>>; 16] = [const { None }; 16];
        let mut on_heap = Vec::new();
        let spans: &mut [Option<Range<usize>>] = if self.n_slots <= on_stack.len() {
            &mut on_stack[..self.n_slots]
        } else {
            on_heap.resize(self.n_slots, None);
            &mut on_heap
        };
        self.tree.locate(event, root, spans).map_err(malformed)?;
        let mut capacity = self.text.len();
        for span in spans.iter().flatten() {
            capacity += span.len() + 2;
        }
        out.reserve(capacity);

        let mut parsed = ParsedEvent::default();
        let mut queried: Vec<Option<Selected>> = Vec::new();
        // The first placeholder whose value put an unescaped quote, backslash or control character
        // into a JSON template: the output must then be checked, and the error names it.
        let mut suspect: Option<usize> = None;
        for part in &self.parts {
            let (variable_idx, position) = match part {
                Part::Literal(range) => {
                    out.extend_from_slice(&self.text.as_bytes()[range.clone()]);
                    continue;
                }
                Part::Placeholder { variable, position } => (*variable, *position),
            };
            let suspect_here = match &self.variables[variable_idx] {
                Variable::Predefined(predefined) => write_predefined(*predefined, event, root, context, position, out)?,
                Variable::Path { name, path, slot } => {
                    // Direct paths were all found by the one pass above; the others are evaluated
                    // once per rendering however often they appear.
                    let selected = match slot {
                        Some(slot) => spans[*slot].clone().map_or(Selected::Missing, Selected::One),
                        None => {
                            if queried.is_empty() {
                                queried.resize(self.variables.len(), None);
                            }
                            match &queried[variable_idx] {
                                Some(selected) => selected.clone(),
                                None => {
                                    let selected = path.select(event, root, &mut parsed).map_err(|message| {
                                        RenderError::new(format!("<{name}> ({}): {message}", path.text))
                                    })?;
                                    queried[variable_idx] = Some(selected.clone());
                                    selected
                                }
                            }
                        }
                    };
                    self.write_selected(name, &selected, event, position, out)?
                }
            };
            if suspect_here && self.shape != Shape::Text && suspect.is_none() {
                suspect = Some(variable_idx);
            }
        }
        if let Some(variable_idx) = suspect
            && let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(out)
        {
            let name = match &self.variables[variable_idx] {
                Variable::Path { name, .. } => name.to_string(),
                Variable::Predefined(predefined) => predefined.name().to_string(),
            };
            return Err(RenderError::new(format!(
                "the rendered input is not valid JSON ({error}): the value of <{name}> contains a quote, backslash \
                 or control character, which InputTemplate inserts unescaped as EventBridge does"
            )));
        }
        Ok(())
    }

    /// Writes a path's value; returns whether the text written holds a quote, backslash or control
    /// character that was not written as JSON, so the output needs checking.
    fn write_selected(
        &self,
        name: &str,
        selected: &Selected,
        event: &[u8],
        position: Position,
        out: &mut Vec<u8>,
    ) -> Result<bool, RenderError> {
        let value = match selected {
            Selected::Missing => {
                if position == Position::Value {
                    out.extend_from_slice(b"\"\"");
                }
                return Ok(false);
            }
            Selected::One(span) => &event[span.clone()],
            Selected::Many(spans) => {
                if position == Position::String {
                    self.refuse_container_in_string(name)?;
                }
                let mark = out.len();
                out.push(b'[');
                for (idx, span) in spans.iter().enumerate() {
                    if idx > 0 {
                        out.push(b',');
                    }
                    extract::compact_into(&event[span.clone()], out).map_err(malformed)?;
                }
                out.push(b']');
                if position == Position::String {
                    let array = out.split_off(mark);
                    extract::dequote_into(&array, out).map_err(malformed)?;
                    return Ok(extract::may_break_json(&out[mark..]));
                }
                return Ok(false);
            }
        };
        match (extract::kind_of(value), position) {
            (Kind::String, position) => {
                let quoted = position == Position::Value;
                if quoted {
                    out.push(b'"');
                }
                let mark = out.len();
                let raw = &value[1..value.len() - 1];
                extract::decode_into(raw, out).map_err(malformed)?;
                // Decoded text can only hold a quote, backslash or control character if the raw text
                // had an escape.
                let suspect = raw.contains(&b'\\') && extract::may_break_json(&out[mark..]);
                if quoted {
                    out.push(b'"');
                }
                Ok(suspect)
            }
            (Kind::Container, Position::String) => {
                self.refuse_container_in_string(name)?;
                let mark = out.len();
                extract::dequote_into(value, out).map_err(malformed)?;
                Ok(extract::may_break_json(&out[mark..]))
            }
            (Kind::Container, _) => {
                extract::compact_into(value, out).map_err(malformed)?;
                Ok(false)
            }
            (Kind::Null | Kind::Literal, _) => {
                out.extend_from_slice(value);
                Ok(false)
            }
        }
    }

    fn refuse_container_in_string(&self, name: &str) -> Result<(), RenderError> {
        if self.shape == Shape::JsonStructure {
            return Err(RenderError::new(format!(
                "the value of <{name}> is an object or array placed inside a string of a JSON template; \
                 EventBridge does not deliver such input (place it outside the quotes to insert it as JSON)"
            )));
        }
        Ok(())
    }
}

/// Writes a predefined variable; returns whether its text holds a character that may break JSON.
fn write_predefined(
    predefined: Predefined,
    event: &[u8],
    root: usize,
    context: &RenderContext<'_>,
    position: Position,
    out: &mut Vec<u8>,
) -> Result<bool, RenderError> {
    let text = match predefined {
        Predefined::RuleName => context.rule_name,
        Predefined::RuleArn => context.rule_arn,
        Predefined::IngestionTime => context.ingestion_time,
        Predefined::EventJson => {
            let end = extract::value_end(event, root).map_err(malformed)?;
            extract::compact_into(&event[root..end], out).map_err(malformed)?;
            return Ok(false);
        }
        Predefined::Event => {
            write_event_without_detail(event, root, out)?;
            return Ok(false);
        }
    };
    let quoted = position == Position::Value;
    if quoted {
        out.push(b'"');
    }
    out.extend_from_slice(text.as_bytes());
    if quoted {
        out.push(b'"');
    }
    Ok(extract::may_break_json(text.as_bytes()))
}

/// The event's members other than `detail`, as one compact object.
fn write_event_without_detail(event: &[u8], root: usize, out: &mut Vec<u8>) -> Result<(), RenderError> {
    if event.get(root) != Some(&b'{') {
        return Err(RenderError::new("the event is not a JSON object".to_string()));
    }
    out.push(b'{');
    let mut first = true;
    extract::for_each_member(event, root, |key, value_at| {
        let end = extract::value_end(event, value_at)?;
        if !extract::key_is(key, b"detail") {
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(key);
            out.extend_from_slice(b"\":");
            extract::compact_into(&event[value_at..end], out)?;
        }
        Ok(end)
    })
    .map_err(malformed)?;
    out.push(b'}');
    Ok(())
}
