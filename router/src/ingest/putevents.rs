//! EventBridge's `PutEvents` and `TestEventPattern` requests (AWS JSON 1.1): validation with
//! EventBridge's error codes and messages, and the envelope each accepted entry becomes.
//!
//! Pure functions: the HTTP server reads the body, calls [`read_put_events`], hands the envelopes to
//! the pipeline and writes [`put_events_response`].

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// An error of the whole request, in the AWS JSON 1.1 error shape (`__type`, `message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

impl AwsError {
    pub fn validation(message: impl Into<String>) -> AwsError {
        AwsError { status: 400, kind: "ValidationException", message: message.into() }
    }

    pub fn body(&self) -> String {
        json!({ "__type": self.kind, "message": self.message }).to_string()
    }
}

/// Limits of a PutEvents request (EventBridge's defaults; configurable).
#[derive(Debug, Clone, Copy)]
pub struct PutLimits {
    /// Entries per request.
    pub max_entries: usize,
    /// The total entry size (EventBridge's computation) must be below this.
    pub max_entries_bytes: usize,
}

impl Default for PutLimits {
    fn default() -> Self {
        PutLimits { max_entries: 10, max_entries_bytes: 256 * 1024 }
    }
}

/// Where the router runs: the envelope's account and region, and how an event's id is made.
#[derive(Debug)]
pub struct Origin<'a> {
    pub account: &'a str,
    pub region: &'a str,
    /// The ingestion time, RFC 3339, for entries without `Time`.
    pub now: &'a str,
}

/// One entry's fate before the pipeline sees it.
#[derive(Debug)]
pub enum Entry {
    /// A valid entry: its bus and its envelope (JSON text) with a fresh id.
    Event { bus: String, id: String, envelope: Vec<u8> },
    /// A failed entry: EventBridge's error code and message.
    Failed { code: &'static str, message: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request<'a> {
    #[serde(borrow)]
    entries: Option<Vec<&'a RawValue>>,
    #[serde(default, rename = "EndpointId")]
    _endpoint_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEntry {
    time: Option<Value>,
    source: Option<Value>,
    detail_type: Option<Value>,
    detail: Option<Value>,
    resources: Option<Value>,
    event_bus_name: Option<Value>,
    trace_header: Option<Value>,
}

/// Reads a PutEvents body. `Err` fails the whole request; otherwise one [`Entry`] per entry, in
/// order, each bus resolved with `bus_of` (name or ARN to name) and checked by `bus_exists`.
pub fn read_put_events(
    body: &[u8],
    limits: &PutLimits,
    origin: &Origin,
    mut new_id: impl FnMut() -> String,
    bus_exists: impl Fn(&str) -> bool,
) -> Result<Vec<Entry>, AwsError> {
    let text =
        std::str::from_utf8(body).map_err(|e| AwsError::validation(format!("the request body is not UTF-8: {e}")))?;
    let request: Request = serde_json::from_str(text).map_err(|e| AwsError {
        status: 400,
        kind: "SerializationException",
        message: format!("the request body is not a PutEvents request: {e}"),
    })?;
    let Some(entries) = request.entries else {
        return Err(AwsError::validation(
            "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null",
        ));
    };
    if entries.is_empty() || entries.len() > limits.max_entries {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{}' at 'entries' failed to satisfy constraint: Member must have length less than or equal to {} and greater than or equal to 1",
            entries.len(),
            limits.max_entries
        )));
    }
    let mut parsed = Vec::with_capacity(entries.len());
    for (index, raw) in entries.iter().enumerate() {
        let entry: RawEntry = serde_json::from_str(raw.get()).map_err(|e| AwsError {
            status: 400,
            kind: "SerializationException",
            message: format!("Entries[{index}] is not a PutEvents entry: {e}"),
        })?;
        parsed.push(entry);
    }
    // EventBridge's entry size: 14 bytes for a Time, plus the UTF-8 bytes of Source, DetailType,
    // Detail and every resource.
    let size: usize = parsed.iter().map(entry_size).sum();
    if size >= limits.max_entries_bytes {
        return Err(AwsError::validation(format!(
            "Total size of the entries in the request is over the limit ({size} bytes; the limit is below {}).",
            limits.max_entries_bytes
        )));
    }
    let complete = |e: &RawEntry| e.source.is_some() && e.detail_type.is_some() && e.detail.is_some();
    if !parsed.iter().any(complete) {
        return Err(AwsError::validation(
            "None of the entries has all of Source, DetailType and Detail; at least one must.",
        ));
    }
    let mut out = Vec::with_capacity(parsed.len());
    for (index, entry) in parsed.iter().enumerate() {
        let bus = match &entry.event_bus_name {
            None | Some(Value::Null) => crate::pipeline::DEFAULT_BUS.to_owned(),
            Some(Value::String(name)) => bus_name(name).to_owned(),
            Some(_) => return Err(AwsError::validation(format!("Entries[{index}].EventBusName must be a string"))),
        };
        if !bus_exists(&bus) {
            return Err(AwsError {
                status: 400,
                kind: "ResourceNotFoundException",
                message: format!("Event bus {bus} does not exist."),
            });
        }
        out.push(match envelope(entry, origin, &mut new_id) {
            Ok((id, envelope)) => Entry::Event { bus, id, envelope },
            Err((code, message)) => Entry::Failed { code, message },
        });
    }
    Ok(out)
}

/// The name in an event bus ARN (`arn:aws:events:region:account:event-bus/NAME`), or the name.
pub fn bus_name(name_or_arn: &str) -> &str {
    match name_or_arn.strip_prefix("arn:") {
        Some(rest) => rest.rsplit_once(":event-bus/").map_or(name_or_arn, |(_, name)| name),
        None => name_or_arn,
    }
}

fn entry_size(entry: &RawEntry) -> usize {
    let text = |v: &Option<Value>| match v {
        Some(Value::String(s)) => s.len(),
        _ => 0,
    };
    let resources = match &entry.resources {
        Some(Value::Array(items)) => items.iter().map(|r| r.as_str().map_or(0, str::len)).sum(),
        _ => 0,
    };
    let time = if entry.time.as_ref().is_some_and(|t| !t.is_null()) { 14 } else { 0 };
    time + text(&entry.source) + text(&entry.detail_type) + text(&entry.detail) + resources
}

type EntryError = (&'static str, String);

fn required<'a>(value: &'a Option<Value>, name: &str) -> Result<&'a str, EntryError> {
    let invalid = |reason: &str| ("InvalidArgument", format!("Parameter {name} is not valid. Reason: {reason}"));
    match value {
        None | Some(Value::Null) => Err(invalid(&format!("{name} is a required argument."))),
        Some(Value::String(s)) if s.is_empty() => Err(invalid(&format!("{name} must not be empty."))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(&format!("{name} must be a string."))),
    }
}

/// The envelope of a valid entry, or the entry's error code and message.
fn envelope(
    entry: &RawEntry,
    origin: &Origin,
    new_id: &mut impl FnMut() -> String,
) -> Result<(String, Vec<u8>), EntryError> {
    let source = required(&entry.source, "Source")?;
    let detail_type = required(&entry.detail_type, "DetailType")?;
    let detail = match &entry.detail {
        None | Some(Value::Null) => {
            return Err((
                "InvalidArgument",
                "Parameter Detail is not valid. Reason: Detail is a required argument.".into(),
            ));
        }
        Some(Value::String(detail)) => detail,
        Some(_) => return Err(("MalformedDetail", "Detail is malformed.".into())),
    };
    if source.len() > 256 {
        return Err((
            "InvalidArgument",
            "Parameter Source is not valid. Reason: Source is longer than 256 characters.".into(),
        ));
    }
    if detail_type.len() > 128 {
        return Err((
            "InvalidArgument",
            "Parameter DetailType is not valid. Reason: DetailType is longer than 128 characters.".into(),
        ));
    }
    if source.starts_with("aws.") {
        return Err(("NotAuthorizedForSourceException", "Not authorized for the source.".into()));
    }
    // The detail keeps its exact text (numbers included); it must be a JSON object.
    let detail: &RawValue = match serde_json::from_str::<&RawValue>(detail) {
        Ok(raw) if raw.get().starts_with('{') => raw,
        _ => return Err(("MalformedDetail", "Detail is malformed.".into())),
    };
    let resources: Vec<&str> = match &entry.resources {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(|r| r.as_str()).collect::<Option<Vec<_>>>().ok_or((
            "InvalidArgument",
            "Parameter Resources is not valid. Reason: every resource must be a string.".into(),
        ))?,
        Some(_) => {
            return Err((
                "InvalidArgument",
                "Parameter Resources is not valid. Reason: Resources must be a list.".into(),
            ));
        }
    };
    match &entry.trace_header {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if (1..=500).contains(&t.chars().count()) => {}
        Some(_) => {
            return Err((
                "InvalidArgument",
                "Parameter TraceHeader is not valid. Reason: TraceHeader must be a string of 1 to 500 characters."
                    .into(),
            ));
        }
    }
    let time = match &entry.time {
        None | Some(Value::Null) => origin.now.to_owned(),
        Some(Value::Number(n)) => match n.as_f64().filter(|s| (0.0..253_402_300_800.0).contains(s)) {
            Some(seconds) => {
                crate::clock::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds as u64))
            }
            None => {
                return Err(("InvalidArgument", "Parameter Time is not valid. Reason: Time is out of range.".into()));
            }
        },
        Some(Value::String(text)) => match crate::clock::parse_rfc3339_ms(text) {
            Some(ms) => crate::clock::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)),
            None => {
                return Err((
                    "InvalidArgument",
                    "Parameter Time is not valid. Reason: Time must be epoch seconds or an RFC 3339 timestamp.".into(),
                ));
            }
        },
        Some(_) => {
            return Err((
                "InvalidArgument",
                "Parameter Time is not valid. Reason: Time must be epoch seconds or an RFC 3339 timestamp.".into(),
            ));
        }
    };
    let id = new_id();
    let head = json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": source,
        "account": origin.account,
        "time": time,
        "region": origin.region,
        "resources": resources,
    });
    Ok((id, splice_detail(head, detail.get())))
}

/// The envelope `head` (a JSON object) with `"detail": <detail>` appended, keeping the detail's
/// exact text.
pub fn splice_detail(head: Value, detail: &str) -> Vec<u8> {
    let mut text = serde_json::to_vec(&head).unwrap_or_default();
    text.pop();
    text.extend_from_slice(b",\"detail\":");
    text.extend_from_slice(detail.as_bytes());
    text.push(b'}');
    text
}

/// The PutEvents response: one result per entry, in order, and how many failed.
pub fn put_events_response(results: &[Result<String, (&str, String)>]) -> String {
    let failed = results.iter().filter(|r| r.is_err()).count();
    let entries: Vec<Value> = results
        .iter()
        .map(|r| match r {
            Ok(id) => json!({ "EventId": id }),
            Err((code, message)) => json!({ "ErrorCode": code, "ErrorMessage": message }),
        })
        .collect();
    json!({ "FailedEntryCount": failed, "Entries": entries }).to_string()
}

/// The fields `TestEventPattern` insists an event has.
const TEST_EVENT_FIELDS: [&str; 7] = ["id", "account", "source", "time", "region", "resources", "detail-type"];

/// Answers a TestEventPattern body: `{"Result": bool}` text, or the request's error.
pub fn test_event_pattern(body: &[u8]) -> Result<String, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct TestRequest {
        event_pattern: Option<String>,
        event: Option<String>,
    }
    let request: TestRequest = serde_json::from_slice(body).map_err(|e| AwsError {
        status: 400,
        kind: "SerializationException",
        message: format!("the request body is not a TestEventPattern request: {e}"),
    })?;
    let (Some(pattern), Some(event)) = (request.event_pattern, request.event) else {
        return Err(AwsError::validation(
            "1 validation error detected: EventPattern and Event are required and must be strings",
        ));
    };
    let invalid_event = |why: String| AwsError::validation(format!("Parameter Event is not valid. Reason: {why}"));
    match serde_json::from_str::<Value>(&event) {
        Ok(Value::Object(fields)) => {
            let missing: Vec<&str> = TEST_EVENT_FIELDS.into_iter().filter(|f| !fields.contains_key(*f)).collect();
            if !missing.is_empty() {
                return Err(invalid_event(format!("the event has no {}", missing.join(", "))));
            }
        }
        Ok(_) => return Err(invalid_event("the event must be a JSON object".into())),
        Err(e) => return Err(invalid_event(format!("the event is not JSON: {e}"))),
    }
    let matcher = switchyard_pattern::Matcher::<u8>::new();
    matcher.add(0, &pattern).map_err(|e| AwsError {
        status: 400,
        kind: "InvalidEventPatternException",
        message: format!("Event pattern is not valid. Reason: {e}"),
    })?;
    let result = matcher.matches(event.as_bytes()).map_err(|e| invalid_event(e.to_string()))?;
    Ok(json!({ "Result": !result.is_empty() }).to_string())
}
