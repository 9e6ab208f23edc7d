//! A small JSON reader for pattern text that keeps what serde_json would lose: the literal text of every
//! number (17-digit numbers must not be re-rounded) and the order of keys, with duplicate keys resolved
//! the way EventBridge does (the last one wins).
//!
//! It builds a tree because patterns are small and read once; events never go through this file (see
//! `event.rs` for the single-pass event reader).

use std::fmt::Write as _;

/// A parsed JSON value of a pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The number's literal text, exactly as written.
    Number(Box<str>),
    String(Box<str>),
    Array(Vec<Json>),
    /// Keys in first-appearance order; a repeated key keeps its first position and its last value.
    Object(Vec<(Box<str>, Json)>),
}

impl Json {
    /// Compact JSON text of the value (numbers keep their literal text).
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
            Json::Number(literal) => out.push_str(literal),
            Json::String(text) => write_string(text, out),
            Json::Array(items) => {
                out.push('[');
                for (idx, item) in items.iter().enumerate() {
                    if idx > 0 {
                        out.push(',');
                    }
                    item.write_text(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (idx, (key, value)) in members.iter().enumerate() {
                    if idx > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write_text(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Why pattern text is not JSON, with the line and column (1-based, in characters) where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

/// Deepest nesting accepted in pattern text; patterns are at most a few thousand characters.
const MAX_DEPTH: usize = 128;

pub(crate) fn parse(text: &str) -> Result<Json, SyntaxError> {
    let mut reader = Reader { bytes: text.as_bytes(), pos: 0 };
    reader.skip_whitespace();
    let value = reader.value(0)?;
    reader.skip_whitespace();
    if reader.pos < reader.bytes.len() {
        return Err(reader.error("unexpected characters after the JSON value"));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, message: &str) -> SyntaxError {
        let before = &self.bytes[..self.pos.min(self.bytes.len())];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |idx| idx + 1);
        let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        SyntaxError { line, column, message: message.to_string() }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Json, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting is too deep"));
        }
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Json::String(self.string()?.into())),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(_) => Err(self.error("expected a JSON value")),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, SyntaxError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("expected a JSON value"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, SyntaxError> {
        self.pos += 1;
        let mut members: Vec<(Box<str>, Json)> = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after an object key"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            match members.iter_mut().find(|(existing, _)| **existing == *key) {
                Some(member) => member.1 = value,
                None => members.push((key.into(), value)),
            }
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, SyntaxError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']' in an array")),
            }
        }
    }

    fn number(&mut self) -> Result<Json, SyntaxError> {
        let start = self.pos;
        match crate::event::number_end(self.bytes, start) {
            Some(end) => {
                self.pos = end;
                // The slice holds only ASCII digits and signs, so it is valid UTF-8.
                let text = std::str::from_utf8(&self.bytes[start..end]).unwrap_or_default();
                Ok(Json::Number(text.into()))
            }
            None => Err(self.error("invalid number")),
        }
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos + 1;
        let mut out = Vec::new();
        match crate::event::decode_string(self.bytes, start, &mut out) {
            Ok(end) => {
                self.pos = end;
                String::from_utf8(out).map_err(|_| self.error("invalid UTF-8 in a string"))
            }
            Err(offset) => {
                self.pos = offset;
                Err(self.error("invalid string"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_number_text_and_last_duplicate() {
        let json = parse(r#"{"a": [37.807807921694092], "b": 1, "a": [2]}"#).unwrap();
        assert_eq!(json.to_text(), r#"{"a":[2],"b":1}"#);
        let json = parse(r#"[37.807807921694092, -0, 1E+2]"#).unwrap();
        assert_eq!(json.to_text(), "[37.807807921694092,-0,1E+2]");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let error = parse("{\n  \"a\": [1,]\n}").unwrap_err();
        assert_eq!((error.line, error.column), (2, 11));
        assert!(parse("{'a': 1}").is_err());
        assert!(parse("[01]").is_err());
        assert!(parse("{} x").is_err());
        assert!(parse(&"[".repeat(10_000)).is_err());
    }
}
