//! Errors of the pattern crate: a rejected pattern names the offending part with a JSON pointer; a
//! rejected event names the byte offset where reading stopped.

use std::fmt;

/// A pattern EventBridge would reject, with a JSON pointer (RFC 6901) to the offending part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PatternError {
    pointer: String,
    message: String,
}

impl PatternError {
    pub(crate) fn new(pointer: &Pointer, message: impl Into<String>) -> Self {
        PatternError { pointer: pointer.to_string(), message: message.into() }
    }

    pub(crate) fn whole(message: impl Into<String>) -> Self {
        PatternError { pointer: String::new(), message: message.into() }
    }

    /// JSON pointer to the offending part of the pattern (`""` for the whole pattern).
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// What is wrong, in event-ruler's words where EventBridge users know them.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "at the top level: {}", self.message)
        } else {
            write!(f, "at {}: {}", self.pointer, self.message)
        }
    }
}

/// An event that could not be read: not JSON, not UTF-8, too deep, or not an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at byte {offset}")]
pub struct EventError {
    offset: usize,
    message: &'static str,
}

impl EventError {
    pub(crate) fn new(offset: usize, message: &'static str) -> Self {
        EventError { offset, message }
    }

    /// Byte offset in the event where reading stopped.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What is wrong with the event.
    pub fn message(&self) -> &'static str {
        self.message
    }
}

/// A JSON pointer under construction while a pattern is validated: its text so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pointer {
    text: String,
}

impl Pointer {
    pub(crate) fn child(&self, token: impl ToString) -> Pointer {
        let token = token.to_string();
        let mut text = String::with_capacity(self.text.len() + token.len() + 1);
        text.push_str(&self.text);
        text.push('/');
        text.push_str(&token.replace('~', "~0").replace('/', "~1"));
        Pointer { text }
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
