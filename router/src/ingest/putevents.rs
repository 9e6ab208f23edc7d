//! EventBridge's `PutEvents` and `TestEventPattern` requests (AWS JSON 1.1): validation with
//! EventBridge's error codes and messages, and the envelope each accepted entry becomes.
//!
//! Pure functions: the HTTP server reads the body, calls [`read_put_events`], hands the envelopes to
//! the pipeline and writes [`put_events_response`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

pub use crate::pipeline::EnvelopeHead;
use crate::pipeline::MAX_DETAIL_DEPTH;

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
    /// A valid entry: its bus, its envelope's head (with a fresh id) and the envelope (JSON text).
    Event { bus: String, head: EnvelopeHead, envelope: Vec<u8> },
    /// A failed entry: EventBridge's error code and message.
    Failed { code: &'static str, message: String },
}

/// A PutEvents request; `E` is an entry as read: its fields ([`RawEntry`]), or its JSON text.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Request<E> {
    entries: Option<Vec<E>>,
    #[serde(default, rename = "EndpointId")]
    _endpoint_id: Option<String>,
}

/// An entry as sent: each field's JSON text, borrowed from the body.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEntry<'a> {
    #[serde(borrow)]
    time: Option<&'a RawValue>,
    #[serde(borrow)]
    source: Option<&'a RawValue>,
    #[serde(borrow)]
    detail_type: Option<&'a RawValue>,
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
    #[serde(borrow)]
    resources: Option<&'a RawValue>,
    #[serde(borrow)]
    event_bus_name: Option<&'a RawValue>,
    #[serde(borrow)]
    trace_header: Option<&'a RawValue>,
}

/// A field's value: absent (or null), a string (borrowed unless it had escapes), or another type.
enum Field<'a> {
    Absent,
    Text(Cow<'a, str>),
    Other,
}

impl<'a> Field<'a> {
    fn read(raw: Option<&'a RawValue>) -> Field<'a> {
        let Some(raw) = raw else { return Field::Absent };
        let text = raw.get();
        if text == "null" {
            return Field::Absent;
        }
        if !text.starts_with('"') {
            return Field::Other;
        }
        // The body was parsed as JSON, so `text` is one valid string token: without a backslash
        // its content is the text between the quotes. (Asking serde_json for a `&str` instead
        // fails on escapes, and that error formats the whole string: a tenth of ingest's CPU.)
        match text.get(1..text.len() - 1) {
            Some(inner) if !inner.contains('\\') => Field::Text(Cow::Borrowed(inner)),
            _ => serde_json::from_str::<String>(text).map_or(Field::Other, |s| Field::Text(Cow::Owned(s))),
        }
    }

    fn len(&self) -> usize {
        match self {
            Field::Text(s) => s.len(),
            _ => 0,
        }
    }

    fn present(&self) -> bool {
        !matches!(self, Field::Absent)
    }
}

/// An entry with its strings decoded.
struct Fields<'a> {
    raw: RawEntry<'a>,
    source: Field<'a>,
    detail_type: Field<'a>,
    detail: Field<'a>,
    /// The resources' total length when they are a list of strings.
    resources: Result<usize, &'static str>,
}

impl<'a> Fields<'a> {
    fn new(raw: RawEntry<'a>) -> Fields<'a> {
        let resources = match raw.resources.map(RawValue::get) {
            None | Some("null") => Ok(0),
            Some(text) if text.starts_with('[') => match serde_json::from_str::<Vec<Cow<'_, str>>>(text) {
                Ok(items) => Ok(items.iter().map(|r| r.len()).sum()),
                Err(_) => Err("every resource must be a string."),
            },
            Some(_) => Err("Resources must be a list."),
        };
        Fields {
            source: Field::read(raw.source),
            detail_type: Field::read(raw.detail_type),
            detail: Field::read(raw.detail),
            resources,
            raw,
        }
    }

    /// EventBridge's entry size: 14 bytes for a Time, plus the UTF-8 bytes of Source, DetailType,
    /// Detail and every resource.
    fn size(&self) -> usize {
        let time = if self.raw.time.is_some_and(|t| t.get() != "null") { 14 } else { 0 };
        time + self.source.len() + self.detail_type.len() + self.detail.len() + self.resources.unwrap_or(0)
    }

    fn complete(&self) -> bool {
        self.source.present() && self.detail_type.present() && self.detail.present()
    }
}

/// Reads a PutEvents body. `Err` fails the whole request; otherwise one [`Entry`] per entry, in
/// order, each bus resolved (name or ARN to name) and checked by `bus_exists`.
pub fn read_put_events(
    body: &[u8],
    limits: &PutLimits,
    origin: &Origin,
    mut new_id: impl FnMut() -> String,
    bus_exists: impl Fn(&str) -> bool,
) -> Result<Vec<Entry>, AwsError> {
    let text =
        std::str::from_utf8(body).map_err(|e| AwsError::validation(format!("the request body is not UTF-8: {e}")))?;
    // One pass over the body when it is well formed; otherwise a second, entry by entry, finds
    // which entry is wrong and how.
    let entries = match serde_json::from_str::<Request<RawEntry>>(text) {
        Ok(request) => request.entries,
        Err(_) => slow_entries(text)?,
    };
    let Some(entries) = entries else {
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
    let parsed: Vec<Fields> = entries.into_iter().map(Fields::new).collect();
    let size: usize = parsed.iter().map(Fields::size).sum();
    if size >= limits.max_entries_bytes {
        return Err(AwsError::validation(format!(
            "Total size of the entries in the request is over the limit ({size} bytes; the limit is below {}).",
            limits.max_entries_bytes
        )));
    }
    if !parsed.iter().any(Fields::complete) {
        return Err(AwsError::validation(
            "None of the entries has all of Source, DetailType and Detail; at least one must.",
        ));
    }
    let account = serde_json::to_string(origin.account).unwrap_or_default();
    let region = serde_json::to_string(origin.region).unwrap_or_default();
    let mut out = Vec::with_capacity(parsed.len());
    for (index, entry) in parsed.iter().enumerate() {
        let bus = match Field::read(entry.raw.event_bus_name) {
            Field::Absent => crate::pipeline::DEFAULT_BUS.to_owned(),
            Field::Text(name) => bus_name(&name).to_owned(),
            Field::Other => {
                return Err(AwsError::validation(format!("Entries[{index}].EventBusName must be a string")));
            }
        };
        if !bus_exists(&bus) {
            return Err(AwsError {
                status: 400,
                kind: "ResourceNotFoundException",
                message: format!("Event bus {bus} does not exist."),
            });
        }
        out.push(match envelope(entry, origin, (&account, &region), &mut new_id) {
            Ok((head, envelope)) => Entry::Event { bus, head, envelope },
            Err((code, message)) => Entry::Failed { code, message },
        });
    }
    Ok(out)
}

/// The entries of a body that is not a well-formed PutEvents request, or the error that says what
/// is wrong with it: the body as a whole, or which entry.
fn slow_entries(text: &str) -> Result<Option<Vec<RawEntry<'_>>>, AwsError> {
    let request: Request<&RawValue> = serde_json::from_str(text).map_err(|e| AwsError {
        status: 400,
        kind: "SerializationException",
        message: format!("the request body is not a PutEvents request: {e}"),
    })?;
    let Some(entries) = request.entries else { return Ok(None) };
    let mut parsed = Vec::with_capacity(entries.len());
    for (index, raw) in entries.iter().enumerate() {
        let entry: RawEntry = serde_json::from_str(raw.get()).map_err(|e| AwsError {
            status: 400,
            kind: "SerializationException",
            message: format!("Entries[{index}] is not a PutEvents entry: {e}"),
        })?;
        parsed.push(entry);
    }
    Ok(Some(parsed))
}

/// The name in an event bus ARN (`arn:aws:events:region:account:event-bus/NAME`), or the name.
pub fn bus_name(name_or_arn: &str) -> &str {
    match name_or_arn.strip_prefix("arn:") {
        Some(rest) => rest.rsplit_once(":event-bus/").map_or(name_or_arn, |(_, name)| name),
        None => name_or_arn,
    }
}

type EntryError = (&'static str, String);

fn required<'f, 'a>(value: &'f Field<'a>, name: &str) -> Result<&'f str, EntryError> {
    let invalid = |reason: &str| ("InvalidArgument", format!("Parameter {name} is not valid. Reason: {reason}"));
    match value {
        Field::Absent => Err(invalid(&format!("{name} is a required argument."))),
        Field::Text(s) if s.is_empty() => Err(invalid(&format!("{name} must not be empty."))),
        Field::Text(s) => Ok(s),
        Field::Other => Err(invalid(&format!("{name} must be a string."))),
    }
}

fn time_error() -> EntryError {
    (
        "InvalidArgument",
        "Parameter Time is not valid. Reason: Time must be epoch seconds or an RFC 3339 timestamp.".into(),
    )
}

/// The envelope of a valid entry and its head, or the entry's error code and message. Source,
/// detail-type and resources are copied as the JSON text the producer sent; the detail (a string
/// holding JSON) is written as that JSON, once validated as exactly one object.
fn envelope(
    entry: &Fields,
    origin: &Origin,
    (account, region): (&str, &str),
    new_id: &mut impl FnMut() -> String,
) -> Result<(EnvelopeHead, Vec<u8>), EntryError> {
    let source = required(&entry.source, "Source")?;
    let detail_type = required(&entry.detail_type, "DetailType")?;
    let detail = match &entry.detail {
        Field::Absent => {
            return Err((
                "InvalidArgument",
                "Parameter Detail is not valid. Reason: Detail is a required argument.".into(),
            ));
        }
        Field::Text(detail) => detail,
        Field::Other => return Err(("MalformedDetail", "Detail is malformed.".into())),
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
    // Exactly one JSON object, so that nothing after it can leak into the envelope, and within
    // PutEvents' nesting limit.
    let detail = match switchyard_pattern::validate_json(detail.as_bytes(), MAX_DETAIL_DEPTH) {
        Ok(span) if detail.as_bytes()[span.start] == b'{' => &detail[span],
        _ => return Err(("MalformedDetail", "Detail is malformed.".into())),
    };
    if let Err(reason) = entry.resources {
        return Err(("InvalidArgument", format!("Parameter Resources is not valid. Reason: {reason}")));
    }
    match Field::read(entry.raw.trace_header) {
        Field::Absent => {}
        Field::Text(t) if (1..=500).contains(&t.chars().count()) => {}
        _ => {
            return Err((
                "InvalidArgument",
                "Parameter TraceHeader is not valid. Reason: TraceHeader must be a string of 1 to 500 characters."
                    .into(),
            ));
        }
    }
    let time = match entry.raw.time.map(RawValue::get) {
        None | Some("null") => origin.now.to_owned(),
        Some(text) if text.starts_with('"') => {
            let text: String = serde_json::from_str(text).map_err(|_| time_error())?;
            let ms = crate::clock::parse_rfc3339_ms(&text).ok_or_else(time_error)?;
            crate::clock::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        }
        Some(text) => match serde_json::from_str::<f64>(text) {
            Ok(seconds) if (0.0..253_402_300_800.0).contains(&seconds) => {
                crate::clock::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds as u64))
            }
            Ok(_) => {
                return Err(("InvalidArgument", "Parameter Time is not valid. Reason: Time is out of range.".into()));
            }
            Err(_) => return Err(time_error()),
        },
    };
    let id = new_id();
    let resources = entry.raw.resources.map(RawValue::get).filter(|r| *r != "null").unwrap_or("[]");
    let mut text = Vec::with_capacity(160 + detail.len() + resources.len() + source.len());
    text.extend_from_slice(b"{\"version\":\"0\",\"id\":\"");
    text.extend_from_slice(id.as_bytes());
    text.extend_from_slice(b"\",\"detail-type\":");
    text.extend_from_slice(raw_text(entry.raw.detail_type).as_bytes());
    text.extend_from_slice(b",\"source\":");
    text.extend_from_slice(raw_text(entry.raw.source).as_bytes());
    text.extend_from_slice(b",\"account\":");
    text.extend_from_slice(account.as_bytes());
    text.extend_from_slice(b",\"time\":\"");
    text.extend_from_slice(time.as_bytes());
    text.extend_from_slice(b"\",\"region\":");
    text.extend_from_slice(region.as_bytes());
    text.extend_from_slice(b",\"resources\":");
    text.extend_from_slice(resources.as_bytes());
    text.extend_from_slice(b",\"detail\":");
    text.extend_from_slice(detail.as_bytes());
    text.push(b'}');
    let head = EnvelopeHead { id, source: source.to_owned(), detail_type: detail_type.to_owned() };
    Ok((head, text))
}

/// A field's JSON text as sent.
fn raw_text(field: Option<&RawValue>) -> &str {
    field.map(RawValue::get).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Origin = Origin { account: "123456789012", region: "us-east-1", now: "2026-11-22T00:00:00Z" };

    fn read(body: &str) -> Result<Vec<Entry>, AwsError> {
        let mut n = 0;
        let new_id = || {
            n += 1;
            format!("id-{n}")
        };
        read_put_events(body.as_bytes(), &PutLimits::default(), &ORIGIN, new_id, |bus| bus == "default")
    }

    fn entry(detail: &str) -> String {
        serde_json::json!({"Source": "shop", "DetailType": "t", "Detail": detail}).to_string()
    }

    fn deep(n: usize) -> String {
        "{\"a\":".repeat(n - 1) + "{}" + &"}".repeat(n - 1)
    }

    /// Each entry's fate, by its `Detail`: the envelope's detail as copied, or the error code.
    #[test]
    fn details() {
        let cases: Vec<(String, Result<String, &str>)> = vec![
            (r#"{"a":[1,"x"]}"#.into(), Ok(r#"{"a":[1,"x"]}"#.into())),
            (" \n{\"a\":1}\t ".into(), Ok(r#"{"a":1}"#.into())),
            (deep(MAX_DETAIL_DEPTH), Ok(deep(MAX_DETAIL_DEPTH))),
            (deep(MAX_DETAIL_DEPTH + 1), Err("MalformedDetail")),
            (r#"{"a":1} {"b":2}"#.into(), Err("MalformedDetail")),
            (r#"{"a":1},"x":{"#.into(), Err("MalformedDetail")),
            (r#"[{"a":1}]"#.into(), Err("MalformedDetail")),
            ("\"text\"".into(), Err("MalformedDetail")),
            ("".into(), Err("MalformedDetail")),
            ("{\"a\":\"\u{1}\"}".into(), Err("MalformedDetail")),
            (r#"{"a":"\ud800"}"#.into(), Err("MalformedDetail")),
            (format!(r#"{{"n":{}}}"#, "1".repeat(300)), Err("MalformedDetail")),
        ];
        for (detail, expected) in cases {
            let entries = read(&format!(r#"{{"Entries":[{}]}}"#, entry(&detail))).unwrap();
            let got = match &entries[0] {
                Entry::Event { envelope, .. } => {
                    // Whatever is accepted, the validating matcher accepts too: matching it trusted
                    // is sound.
                    let matcher: switchyard_pattern::Matcher<&str> = switchyard_pattern::Matcher::new();
                    assert_eq!(matcher.matches(envelope), Ok(vec![]), "{detail:.60}");
                    let at = envelope.windows(10).position(|w| w == b",\"detail\":").expect("a detail") + 10;
                    Ok(String::from_utf8(envelope[at..envelope.len() - 1].to_vec()).unwrap())
                }
                Entry::Failed { code, .. } => Err(*code),
            };
            assert_eq!(got, expected, "{detail:.60}");
        }
    }

    /// A well-formed body is read in one pass, a malformed one entry by entry; both say the same.
    #[test]
    fn request_errors() {
        let good = entry("{}");
        let cases = [
            (format!(r#"{{"Entries":[{good},{good}]}}"#), Ok(2)),
            (format!(r#"{{"Entries":[{good}],"EndpointId":"e","Other":1}}"#), Ok(1)),
            (r#"{"Entries":null}"#.into(), Err("Value null at 'entries'")),
            (r#"{"Entries":[]}"#.into(), Err("Value '0' at 'entries'")),
            (format!(r#"{{"Entries":[{}]}}"#, [good.as_str(); 11].join(",")), Err("Value '11' at 'entries'")),
            (format!(r#"{{"Entries":[{good},"x"]}}"#), Err("Entries[1] is not a PutEvents entry")),
            (
                format!(r#"{{"Entries":[{good},{{"Source":1,"Source":2}}]}}"#),
                Err("Entries[1] is not a PutEvents entry"),
            ),
            (format!(r#"{{"Entries":[{good}]"#), Err("the request body is not a PutEvents request")),
            (r#"{"Entries":{}}"#.into(), Err("the request body is not a PutEvents request")),
        ];
        for (body, expected) in cases {
            match (read(&body), expected) {
                (Ok(entries), Ok(n)) => assert_eq!(entries.len(), n, "{body}"),
                (Err(error), Err(message)) => assert!(error.message.contains(message), "{body}: {}", error.message),
                (got, expected) => panic!("{body}: got {got:?}, expected {expected:?}"),
            }
        }
    }
}
