//! Reading events from raw bytes, in one pass, without building a tree.
//!
//! The walker follows the automaton's path trie: a key no pattern mentions has its value skipped, and
//! only leaves under mentioned paths are decoded and handed to the automaton. Two modes:
//! - `Mode::Validate` checks everything it passes over (syntax, UTF-8, escapes, control characters,
//!   nesting depth, trailing bytes), so a malformed tail is an error even after every needed field was
//!   found;
//! - `Mode::Trusted` is for bytes that were validated before (at ingest); it skips unneeded values by
//!   bracket counting over 64-byte blocks without looking inside them.
//!
//! Recursion follows only the pattern paths and arrays under them, and stops at the configured depth;
//! skipping is iterative, so no input can overflow the stack. Nothing here panics on any input.

use crate::automaton::{Automaton, NO_FIELD, Scratch};
use crate::error::EventError;
use crate::operators::Leaf;
use crate::operators::numbers::comparable_value;
use crate::scan;

/// How much of the event the walker checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Validate the whole event while matching.
    Validate,
    /// The bytes were validated before; skip what no pattern needs without validating it.
    Trusted,
}

const INVALID: &str = "invalid JSON";
const INVALID_STRING: &str = "invalid JSON: bad string (control character, bad escape or lone surrogate)";
const INVALID_UTF8: &str = "invalid UTF-8 in a string";
const TOO_DEEP: &str = "invalid event: nesting deeper than the limit";
const NOT_OBJECT: &str = "the event must be a JSON object";
const TRAILING: &str = "invalid JSON: unexpected bytes after the event object";
const NUMBER_TOO_LONG: &str = "invalid event: number literal longer than 256 characters";

/// Longest number literal accepted; longer ones are a hostile event, not data.
const MAX_NUMBER_LEN: usize = 256;

pub(crate) struct Walker<'e, 'a, const TRUSTED: bool> {
    bytes: &'e [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    automaton: &'a Automaton,
    scratch: &'a mut Scratch,
    /// Trusted mode: positions of quotes and backslashes, one 64-byte window at a time.
    quotes: scan::QuoteWindow,
    /// Validating mode: byte classes, one 64-byte window at a time.
    classes: scan::ClassWindow,
    /// Trusted mode: no key that matters can start before this position (see `walk_object`).
    next_check: usize,
}

impl<'e, 'a, const TRUSTED: bool> Walker<'e, 'a, TRUSTED> {
    pub(crate) fn run(
        bytes: &'e [u8],
        max_depth: usize,
        automaton: &'a Automaton,
        scratch: &'a mut Scratch,
    ) -> Result<(), EventError> {
        let mut walker = Walker::<TRUSTED> {
            bytes,
            pos: 0,
            depth: 0,
            max_depth,
            automaton,
            scratch,
            quotes: Default::default(),
            classes: Default::default(),
            next_check: 0,
        };
        walker.skip_whitespace();
        if walker.peek() != Some(b'{') {
            return Err(match walker.peek() {
                None => EventError::new(walker.pos, "invalid JSON: the event is empty"),
                Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => EventError::new(walker.pos, NOT_OBJECT),
                Some(_) => EventError::new(walker.pos, INVALID),
            });
        }
        walker.walk_object(0)?;
        if !TRUSTED {
            walker.skip_whitespace();
            if walker.pos != walker.bytes.len() {
                return Err(EventError::new(walker.pos, TRAILING));
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
        self.pos = skip_ws(self.bytes, self.pos);
    }

    /// Recursion guard of `walk_object` and `walk_array`: the depth limit, and a fresh stack segment
    /// when the thread's stack runs low (deep events on small-stack threads, debug builds).
    #[inline(always)]
    fn nested(&mut self, walk: impl FnOnce(&mut Self) -> Result<(), EventError>) -> Result<(), EventError> {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || walk(self))
    }

    fn enter(&mut self) -> Result<(), EventError> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(EventError::new(self.pos, TOO_DEEP));
        }
        Ok(())
    }

    /// `pos` is at `{`. Walks the members, descending into the ones the trie knows.
    ///
    /// In the event's top-level object, trusted mode stops the walk early when, after a member that
    /// matters, nothing can be another key that matters (a child of the root): `KeyNeedles` tells
    /// whether one of them, or any escape, occurs in the rest of the text, at any depth, more cheaply
    /// than skipping the members would. The search stops at the first candidate and is not repeated
    /// until the walk has passed it, so it reads each byte at most once per event. It runs only after
    /// a member that matters (the next one is usually near) and not in deeper objects: a candidate far
    /// ahead would mean reading the members in between twice.
    fn walk_object(&mut self, node: u32) -> Result<(), EventError> {
        self.enter()?;
        if TRUSTED && self.walk_flat_object(node) {
            return Ok(());
        }
        // The position lives in a local in this loop (the hottest of the walker) and goes back to
        // `self.pos` only around calls that need it.
        let bytes = self.bytes;
        let mut pos = skip_ws(bytes, self.pos + 1);
        if bytes.get(pos) == Some(&b'}') {
            self.pos = pos + 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            if bytes.get(pos) != Some(&b'"') {
                return Err(EventError::new(pos, INVALID));
            }
            self.pos = pos;
            let child = self.key(node)?;
            pos = skip_ws(bytes, self.pos);
            if bytes.get(pos) != Some(&b':') {
                return Err(EventError::new(pos, INVALID));
            }
            pos = skip_ws(bytes, pos + 1);
            match child {
                Some(child) => {
                    self.pos = pos;
                    self.walk_value(child)?;
                    pos = self.pos;
                    if TRUSTED
                        && pos >= self.next_check
                        && self.depth == 1
                        && let Some(needles) = self.automaton.root_needles()
                    {
                        match needles.next_candidate(bytes, pos) {
                            Some(candidate) => self.next_check = candidate + 1,
                            None => {
                                self.pos = bytes.len();
                                self.depth -= 1;
                                return Ok(());
                            }
                        }
                    }
                }
                None => pos = self.skip_value_at(pos)?,
            }
            pos = skip_ws(bytes, pos);
            match bytes.get(pos) {
                Some(b',') => pos = skip_ws(bytes, pos + 1),
                Some(b'}') => {
                    self.pos = pos + 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(EventError::new(pos, INVALID)),
            }
        }
    }

    /// Trusted mode, `pos` at `{` of an object whose node has a few leaf children: when the object is
    /// flat and has no backslash, finds its end and the values of those children in one pass (see
    /// `skip::FlatKeys`) instead of reading every key, and returns true. Every occurrence of a key
    /// counts, in the order of the text, as in the key-by-key walk.
    fn walk_flat_object(&mut self, node: u32) -> bool {
        let automaton = self.automaton;
        let Some(keys) = automaton.flat_keys(node) else {
            return false;
        };
        let start = self.pos + 1;
        let mut found = crate::skip::FlatHits::default();
        let Some(end) = keys.scan(self.bytes, start, &mut found) else {
            return false;
        };
        for &(value, child) in found.hits() {
            self.pos = value;
            // Values of a flat object are scalars: walking one cannot fail on trusted input but
            // for a depth or number-length limit, which the key-by-key walk would report too.
            if self.walk_value(child).is_err() {
                self.pos = start - 1;
                return false;
            }
        }
        self.pos = end;
        self.depth -= 1;
        true
    }

    /// `pos` is at the key's opening quote; leaves `pos` after the closing quote. Returns the trie
    /// node the key leads to, if any.
    #[inline(always)]
    fn key(&mut self, node: u32) -> Result<Option<u32>, EventError> {
        let start = self.pos + 1;
        let (end, has_escape) = if TRUSTED {
            string_end_trusted(&mut self.quotes, self.bytes, start)
        } else {
            string_end_validated(&mut self.classes, self.bytes, start)?
        };
        self.pos = end + 1;
        if !has_escape {
            return Ok(self.automaton.child_in(node, self.bytes, start, end));
        }
        let mut decoded = std::mem::take(&mut self.scratch.key_buffer);
        decoded.clear();
        decode_string(self.bytes, start, &mut decoded).map_err(|offset| EventError::new(offset, INVALID_STRING))?;
        let child = self.automaton.child(node, &decoded);
        self.scratch.key_buffer = decoded;
        Ok(child)
    }

    /// `pos` is at the first byte of a value under trie node `node`.
    fn walk_value(&mut self, node: u32) -> Result<(), EventError> {
        let field = self.automaton.field_of(node);
        match self.peek() {
            Some(b'{') => {
                if self.automaton.has_children(node) {
                    self.nested(|walker| walker.walk_object(node))
                } else {
                    // An object is not a leaf: invisible to a field that expects leaves.
                    self.skip_value()
                }
            }
            Some(b'[') => self.nested(|walker| walker.walk_array(node)),
            Some(b'"') => {
                let start = self.pos + 1;
                if field == NO_FIELD {
                    return self.skip_value();
                }
                let (end, has_escape) = if TRUSTED {
                    string_end_trusted(&mut self.quotes, self.bytes, start)
                } else {
                    string_end_validated(&mut self.classes, self.bytes, start)?
                };
                self.pos = end + 1;
                if has_escape {
                    let mut decoded = std::mem::take(&mut self.scratch.value_buffer);
                    decoded.clear();
                    decode_string(self.bytes, start, &mut decoded)
                        .map_err(|offset| EventError::new(offset, INVALID_STRING))?;
                    self.automaton.leaf(field, Leaf::String(&decoded), self.scratch);
                    self.scratch.value_buffer = decoded;
                } else {
                    let bytes = self.bytes;
                    self.automaton.leaf(field, Leaf::String(&bytes[start..end]), self.scratch);
                }
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                let end = if TRUSTED {
                    number_end_trusted(self.bytes, start)
                } else {
                    number_end_with(self.bytes, start, |bytes, pos| self.classes.digits_end(bytes, pos))
                        .ok_or(EventError::new(start, INVALID))?
                };
                if end - start > MAX_NUMBER_LEN {
                    return Err(EventError::new(start, NUMBER_TOO_LONG));
                }
                self.pos = end;
                if field != NO_FIELD {
                    let bytes = self.bytes;
                    let literal = &bytes[start..end];
                    let value = if self.automaton.needs_number_value(field) { comparable_value(literal) } else { None };
                    self.automaton.leaf(field, Leaf::Number(literal, value), self.scratch);
                }
                Ok(())
            }
            Some(b't') => self.literal(b"true", field, Leaf::True),
            Some(b'f') => self.literal(b"false", field, Leaf::False),
            Some(b'n') => self.literal(b"null", field, Leaf::Null),
            _ => Err(EventError::new(self.pos, INVALID)),
        }
    }

    fn literal(&mut self, word: &[u8], field: u32, leaf: Leaf<'static>) -> Result<(), EventError> {
        if !self.bytes[self.pos..].starts_with(word) {
            return Err(EventError::new(self.pos, INVALID));
        }
        self.pos += word.len();
        if field != NO_FIELD {
            self.automaton.leaf(field, leaf, self.scratch);
        }
        Ok(())
    }

    /// `pos` is at `[`. Every element is a value of the same path; elements that are objects or arrays
    /// are tagged with (array, index) so that fields from different elements are never combined.
    fn walk_array(&mut self, node: u32) -> Result<(), EventError> {
        self.enter()?;
        self.pos += 1;
        let array_id = self.scratch.next_array_id();
        let mut element_idx: u32 = 0;
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'{' | b'[') => {
                    self.scratch.trail.push((array_id, element_idx));
                    let result = self.walk_value(node);
                    self.scratch.trail.pop();
                    result?;
                }
                _ => self.walk_value(node)?,
            }
            element_idx += 1;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(EventError::new(self.pos, INVALID)),
            }
        }
    }

    /// Skips the value at `pos`, validating it in `Mode::Validate`.
    #[inline(always)]
    fn skip_value(&mut self) -> Result<(), EventError> {
        self.pos = self.skip_value_at(self.pos)?;
        Ok(())
    }

    /// Skips the value at `pos` (validating it in `Mode::Validate`); returns the position after it.
    #[inline(always)]
    fn skip_value_at(&mut self, pos: usize) -> Result<usize, EventError> {
        if TRUSTED {
            Ok(skip_trusted(&mut self.quotes, self.bytes, pos))
        } else {
            skip_validated(&mut self.classes, self.bytes, pos, self.max_depth.saturating_sub(self.depth))
        }
    }
}

/// Index of the closing quote of the string whose content starts at `start`, and whether the string
/// has escapes. Trusted input: an unterminated string ends at the end of the input.
#[inline(always)]
fn string_end_trusted(window: &mut scan::QuoteWindow, bytes: &[u8], start: usize) -> (usize, bool) {
    let mut pos = start;
    let mut has_escape = false;
    loop {
        let at = window.next(bytes, pos);
        if at >= bytes.len() {
            return (bytes.len(), has_escape);
        }
        if bytes[at] == b'"' {
            return (at, has_escape);
        }
        has_escape = true;
        pos = at + 2;
    }
}

/// Like `string_end_trusted`, but checks escapes, control characters and UTF-8 on the way.
#[inline(always)]
fn string_end_validated(
    classes: &mut scan::ClassWindow,
    bytes: &[u8],
    start: usize,
) -> Result<(usize, bool), EventError> {
    let mut pos = start;
    let mut has_escape = false;
    let mut non_ascii = false;
    loop {
        let found = classes.string_special(bytes, pos);
        non_ascii |= found.non_ascii;
        let at = found.pos;
        match bytes.get(at) {
            Some(b'"') => {
                if non_ascii {
                    check_utf8(bytes, start, at)?;
                }
                return Ok((at, has_escape));
            }
            Some(b'\\') => {
                has_escape = true;
                pos = check_escape(bytes, at)?;
            }
            Some(_) => return Err(EventError::new(at, INVALID_STRING)),
            None => {
                return Err(EventError::new(bytes.len(), "invalid JSON: unterminated string"));
            }
        }
    }
}

#[cold]
fn check_utf8(bytes: &[u8], start: usize, end: usize) -> Result<(), EventError> {
    match std::str::from_utf8(&bytes[start..end]) {
        Ok(_) => Ok(()),
        Err(error) => Err(EventError::new(start + error.valid_up_to(), INVALID_UTF8)),
    }
}

fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    let mut value = 0u32;
    for &digit in digits {
        value = value * 16 + (digit as char).to_digit(16)?;
    }
    Some(value)
}

/// Validates the escape at `at` (a backslash); returns the position after it.
fn check_escape(bytes: &[u8], at: usize) -> Result<usize, EventError> {
    let bad = || EventError::new(at, INVALID_STRING);
    match bytes.get(at + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(at + 2),
        Some(b'u') => {
            let unit = hex4(bytes, at + 2).ok_or_else(bad)?;
            match unit {
                0xD800..=0xDBFF => {
                    if bytes.get(at + 6) != Some(&b'\\') || bytes.get(at + 7) != Some(&b'u') {
                        return Err(bad());
                    }
                    let low = hex4(bytes, at + 8).ok_or_else(bad)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return Err(bad());
                    }
                    Ok(at + 12)
                }
                0xDC00..=0xDFFF => Err(bad()),
                _ => Ok(at + 6),
            }
        }
        _ => Err(bad()),
    }
}

/// Decodes the string whose content starts at `start` into `out`, validating it; returns the index
/// after the closing quote, or the offset of the first problem.
pub(crate) fn decode_string(bytes: &[u8], start: usize, out: &mut Vec<u8>) -> Result<usize, usize> {
    let mut pos = start;
    loop {
        let found = scan::string_special(bytes, pos);
        let at = found.pos;
        if found.non_ascii {
            check_utf8(bytes, pos, at).map_err(|error| error.offset())?;
        }
        out.extend_from_slice(&bytes[pos..at]);
        match bytes.get(at) {
            Some(b'"') => return Ok(at + 1),
            Some(b'\\') => {}
            Some(_) | None => return Err(at),
        }
        let next = check_escape(bytes, at).map_err(|error| error.offset())?;
        let decoded = match bytes[at + 1] {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => {
                // check_escape accepted a \u escape or a surrogate pair.
                let unit = hex4(bytes, at + 2).ok_or(at)?;
                let code = if (0xD800..=0xDBFF).contains(&unit) {
                    let low = hex4(bytes, at + 8).ok_or(at)?;
                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    unit
                };
                char::from_u32(code).ok_or(at)?
            }
        };
        let mut utf8 = [0u8; 4];
        out.extend_from_slice(decoded.encode_utf8(&mut utf8).as_bytes());
        pos = next;
    }
}

/// End of the JSON number starting at `start`, checking the grammar
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
#[inline(always)]
pub(crate) fn number_end(bytes: &[u8], start: usize) -> Option<usize> {
    number_end_with(bytes, start, scan::digits_end)
}

/// `number_end` with a given search for the end of a digit run.
#[inline(always)]
fn number_end_with(bytes: &[u8], start: usize, mut digits_end: impl FnMut(&[u8], usize) -> usize) -> Option<usize> {
    let mut pos = start;
    if bytes.get(pos) == Some(&b'-') {
        pos += 1;
    }
    match bytes.get(pos) {
        Some(b'0') => pos += 1,
        Some(b'1'..=b'9') => pos = digits_end(bytes, pos + 1),
        _ => return None,
    }
    if bytes.get(pos) == Some(&b'.') {
        let end = digits_end(bytes, pos + 1);
        if end == pos + 1 {
            return None;
        }
        pos = end;
    }
    if let Some(b'e' | b'E') = bytes.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = bytes.get(pos) {
            pos += 1;
        }
        let end = digits_end(bytes, pos);
        if end == pos {
            return None;
        }
        pos = end;
    }
    Some(pos)
}

#[inline(always)]
fn number_end_trusted(bytes: &[u8], start: usize) -> usize {
    let mut pos = start + 1;
    while let Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

/// Skips the value at `pos` in trusted input; returns the position after it.
#[inline(always)]
fn skip_trusted(window: &mut scan::QuoteWindow, bytes: &[u8], pos: usize) -> usize {
    match bytes.get(pos) {
        Some(b'"') => string_end_trusted(window, bytes, pos + 1).0 + 1,
        Some(b'{' | b'[') => crate::skip::container_end(bytes, pos + 1),
        Some(_) => {
            let mut end = pos + 1;
            while let Some(byte) = bytes.get(end) {
                if matches!(byte, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    break;
                }
                end += 1;
            }
            end
        }
        None => pos,
    }
}

/// The kinds of the open containers of `skip_validated`, one bit per level (1 = object).
struct KindStack {
    low: u64,
    high: Vec<u64>,
}

impl KindStack {
    #[inline(always)]
    fn set(&mut self, level: usize, is_object: bool) {
        let word = if level < 64 {
            &mut self.low
        } else {
            let idx = level / 64 - 1;
            if idx >= self.high.len() {
                self.high.resize(idx + 1, 0);
            }
            &mut self.high[idx]
        };
        let bit = 1u64 << (level % 64);
        if is_object { *word |= bit } else { *word &= !bit }
    }

    #[inline(always)]
    fn is_object(&self, level: usize) -> bool {
        let word = if level < 64 { self.low } else { self.high[level / 64 - 1] };
        word >> (level % 64) & 1 == 1
    }
}

#[inline(always)]
pub(crate) fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    // Compact JSON has no whitespace: one compare settles the common case.
    if bytes.get(pos).is_some_and(|&byte| byte > b' ') {
        return pos;
    }
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

/// At `pos` (after optional whitespace) a key and its colon; returns the position after the colon.
#[inline(always)]
fn skip_key(classes: &mut scan::ClassWindow, bytes: &[u8], pos: usize) -> Result<usize, EventError> {
    let pos = skip_ws(bytes, pos);
    if bytes.get(pos) != Some(&b'"') {
        return Err(EventError::new(pos, INVALID));
    }
    let pos = skip_ws(bytes, string_end_validated(classes, bytes, pos + 1)?.0 + 1);
    if bytes.get(pos) != Some(&b':') {
        return Err(EventError::new(pos, INVALID));
    }
    Ok(pos + 1)
}

/// Checks that `bytes` hold exactly one JSON value, with only whitespace around it, nested at most
/// `max_depth` levels deep, with the checks `Mode::Validate` makes (syntax, UTF-8 in strings,
/// escapes, control characters, number length). Returns where the value starts and ends, so that a
/// caller can copy it without the whitespace.
pub fn validate_json(bytes: &[u8], max_depth: usize) -> Result<std::ops::Range<usize>, EventError> {
    let start = skip_ws(bytes, 0);
    if start == bytes.len() {
        return Err(EventError::new(start, "invalid JSON: there is no value"));
    }
    let end = skip_validated(&mut scan::ClassWindow::default(), bytes, start, max_depth)?;
    if skip_ws(bytes, end) != bytes.len() {
        return Err(EventError::new(end, "invalid JSON: unexpected bytes after the value"));
    }
    Ok(start..end)
}

/// Skips and validates the value at `pos` without recursion; `depth_budget` is how many more levels
/// of nesting are allowed. Returns the position after the value.
fn skip_validated(
    classes: &mut scan::ClassWindow,
    bytes: &[u8],
    mut pos: usize,
    depth_budget: usize,
) -> Result<usize, EventError> {
    let mut kinds = KindStack { low: 0, high: Vec::new() };
    let mut depth = 0usize;
    'value: loop {
        pos = skip_ws(bytes, pos);
        match bytes.get(pos) {
            Some(b'"') => pos = string_end_validated(classes, bytes, pos + 1)?.0 + 1,
            Some(b'-' | b'0'..=b'9') => {
                let end = number_end_with(bytes, pos, |bytes, at| classes.digits_end(bytes, at))
                    .ok_or(EventError::new(pos, INVALID))?;
                if end - pos > MAX_NUMBER_LEN {
                    return Err(EventError::new(pos, NUMBER_TOO_LONG));
                }
                pos = end;
            }
            Some(&open @ (b'{' | b'[')) => {
                if depth >= depth_budget {
                    return Err(EventError::new(pos, TOO_DEEP));
                }
                let is_object = open == b'{';
                kinds.set(depth, is_object);
                depth += 1;
                pos = skip_ws(bytes, pos + 1);
                let close = if is_object { b'}' } else { b']' };
                if bytes.get(pos) == Some(&close) {
                    pos += 1;
                    depth -= 1;
                } else {
                    if is_object {
                        pos = skip_key(classes, bytes, pos)?;
                    }
                    continue 'value;
                }
            }
            Some(b't') if bytes[pos..].starts_with(b"true") => pos += 4,
            Some(b'f') if bytes[pos..].starts_with(b"false") => pos += 5,
            Some(b'n') if bytes[pos..].starts_with(b"null") => pos += 4,
            _ => return Err(EventError::new(pos, INVALID)),
        }
        // After a complete value: close containers until one continues with a comma.
        loop {
            if depth == 0 {
                return Ok(pos);
            }
            pos = skip_ws(bytes, pos);
            let is_object = kinds.is_object(depth - 1);
            match bytes.get(pos) {
                Some(b',') => {
                    pos += 1;
                    if is_object {
                        pos = skip_key(classes, bytes, pos)?;
                    }
                    continue 'value;
                }
                Some(b'}') if is_object => {
                    pos += 1;
                    depth -= 1;
                }
                Some(b']') if !is_object => {
                    pos += 1;
                    depth -= 1;
                }
                _ => return Err(EventError::new(pos, INVALID)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trusted reads stop early only when nothing after can be a key that matters: every way to
    /// spell such a key after a large member still counts, and look-alikes do not.
    #[test]
    fn early_stop_keeps_every_later_key() {
        let matcher: crate::Matcher<&str> = crate::Matcher::new();
        matcher.add("props", r#"{"properties": {"STREET": ["PINE"]}}"#).unwrap();
        matcher.add("top", r#"{"a": ["x"]}"#).unwrap();
        let big = format!(r#""geometry":{{"coordinates":[{}]}}"#, r#"{"x":-122.4,"y":37.7},"#.repeat(20) + "1");
        let events = [
            (format!(r#"{{"properties":{{"STREET":"PINE"}},{big}}}"#), vec!["props"]),
            (format!(r#"{{"properties":{{"STREET":"OAK"}},{big},"properties":{{"STREET":"PINE"}}}}"#), vec!["props"]),
            (format!(r#"{{{big},"properties.STREET":"PINE"}}"#), vec!["props"]),
            (format!(r#"{{{big},"prop\u0065rties":{{"STREET":"PINE"}}}}"#), vec!["props"]),
            (format!(r#"{{{big},"a":"x"}}"#), vec!["top"]),
            (format!(r#"{{{big},"a" : "x" }}"#), vec!["top"]),
            (format!(r#"{{"a":"y",{big},"b":{{"a":"x","properties":{{"STREET":"PINE"}}}}}}"#), vec![]),
            (format!(r#"{{"a":"y",{big},"c":"\"a\":\"x\""}}"#), vec![]),
            (format!(r#"{{"ab":"x",{big},"properties2":{{"STREET":"PINE"}}}}"#), vec![]),
        ];
        for (event, expected) in events {
            for mode in [Mode::Trusted, Mode::Validate] {
                let mut found = matcher.snapshot().matches(event.as_bytes(), mode).unwrap();
                found.sort_unstable();
                assert_eq!(found, expected, "{mode:?} {event}");
            }
        }
    }

    fn skip(text: &str, budget: usize) -> Result<usize, &'static str> {
        skip_validated(&mut scan::ClassWindow::default(), text.as_bytes(), 0, budget).map_err(|error| error.message())
    }

    #[test]
    fn validate_json_spans_one_value() {
        let cases: [(&str, Result<std::ops::Range<usize>, &str>); 10] = [
            (r#"{"a":[1,"x"]}"#, Ok(0..13)),
            (" \n{\"a\":1}\t ", Ok(2..9)),
            ("\"text\"", Ok(0..6)),
            ("12", Ok(0..2)),
            ("", Err("invalid JSON: there is no value")),
            ("  ", Err("invalid JSON: there is no value")),
            (r#"{"a":1} {"b":2}"#, Err("invalid JSON: unexpected bytes after the value")),
            (r#"{"a":1}x"#, Err("invalid JSON: unexpected bytes after the value")),
            (r#"{"a":1"#, Err(INVALID)),
            ("[\"\u{1}\"]", Err(INVALID_STRING)),
        ];
        for (text, expected) in cases {
            assert_eq!(validate_json(text.as_bytes(), 10).map_err(|e| e.message()), expected, "{text:?}");
        }
        let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
        assert_eq!(validate_json(deep(10).as_bytes(), 10), Ok(0..20));
        assert_eq!(validate_json(deep(11).as_bytes(), 10).map_err(|e| e.message()), Err(TOO_DEEP));
    }

    #[test]
    fn validated_skip() {
        assert_eq!(skip(r#"{"a":{},"b":[],"c":[{},[]]} tail"#, 10), Ok(27));
        assert_eq!(skip(r#"[1, -0.5e+3, "x\u00e9\"", true, false, null]"#, 10), Ok(44));
        assert_eq!(skip(&("[".repeat(100) + &"]".repeat(100)), 100), Ok(200));
        assert_eq!(skip(&("[".repeat(101) + &"]".repeat(101)), 100), Err(TOO_DEEP));
        assert_eq!(skip(&("[".repeat(10_000) + &"]".repeat(10_000)), 20_000), Ok(20_000));
        for bad in [
            r#"{"a":1,}"#,
            "[1,]",
            "[01]",
            "[1.]",
            "[-]",
            r#"{"a" 1}"#,
            r#"["\x"]"#,
            "[\"\u{1}\"]",
            "[tru]",
            "{",
            "[\"\\ud800\"]",
        ] {
            assert!(skip(bad, 10).is_err(), "{bad}");
        }
    }
}
