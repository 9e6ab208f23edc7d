use std::fmt;

use serde::Serialize;

/// An event for the router to put on the bus. The router adds `id`, `time`, `account`, `region`
/// and the causation of the delivery that emitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitEvent {
    pub source: String,
    pub detail_type: String,
    /// JSON text of an object.
    pub detail: String,
    pub resources: Vec<String>,
}

/// Why an event was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitError {
    /// The delivery's quota of events or bytes is used up.
    QuotaExceeded(String),
    /// The event is not acceptable (for example its detail is not a JSON object).
    Invalid(String),
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::QuotaExceeded(message) => write!(f, "emit quota exceeded: {message}"),
            EmitError::Invalid(message) => write!(f, "invalid event: {message}"),
        }
    }
}

impl std::error::Error for EmitError {}

/// Emits an event with `detail` serialized as JSON; the detail must serialize to a JSON object.
///
/// Emitted events are queued: they enter the router only if this delivery succeeds, and each
/// delivery may emit a limited number of events and bytes.
pub fn emit<T: Serialize + ?Sized>(source: &str, detail_type: &str, detail: &T) -> Result<(), EmitError> {
    let detail = serde_json::to_string(detail)
        .map_err(|error| EmitError::Invalid(format!("the detail does not serialize as JSON: {error}")))?;
    // serde_json writes compact JSON, so an object is exactly the text that starts with `{`.
    if !detail.starts_with('{') {
        return Err(EmitError::Invalid(format!("the detail must be a JSON object, not `{}`", preview(&detail))));
    }
    crate::host::emit(source, detail_type, &detail, &[])
}

/// Emits a fully specified event (with `resources`, or with a detail that is already JSON text).
pub fn emit_event(event: EmitEvent) -> Result<(), EmitError> {
    let resources: Vec<&str> = event.resources.iter().map(String::as_str).collect();
    crate::host::emit(&event.source, &event.detail_type, &event.detail, &resources)
}

/// At most 60 characters of `text`, for error messages.
fn preview(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}
