//! CloudEvents 1.0 over HTTP (structured, batch and binary mode) mapped onto the EventBridge envelope
//! (eventbridge-spec.md §1), so that rules match CloudEvents like any other event. docs/cloudevents.md
//! is the mapping with examples.
//!
//! Pure functions over a request's headers and body: no IO, no async, no size limits (the server
//! applies those before calling). Every problem of the input is a `CloudEventError` naming where it
//! is (a JSON pointer, or a header name in binary mode); no input panics. Only the JSON event format
//! is read: other formats (`application/cloudevents+avro`, …) are recognised and refused by name.

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::HeaderMap;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::clock;

/// The content type of one event in structured mode (JSON event format).
pub const STRUCTURED: &str = "application/cloudevents+json";
/// The content type of a batch: a JSON array of structured events.
pub const BATCH: &str = "application/cloudevents-batch+json";

/// The only `specversion` read.
const SPEC_VERSION: &str = "1.0";
/// The longest attribute name the spec allows.
const MAX_NAME_LEN: usize = 20;
/// Binary-mode attribute headers start with this (header names arrive lowercase).
const HEADER_PREFIX: &str = "ce-";

/// `data_base64` as senders write it: standard alphabet, padding optional.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Where the router runs: fills the envelope's account and region.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub account: &'a str,
    pub region: &'a str,
    /// The ingestion time, RFC 3339 (used when the event has no time).
    pub now: &'a str,
}

/// One bad event: what is wrong and where. For structured and batch mode `pointer` is the JSON
/// pointer of the entry and field (`/3/id`, `/id`, or empty for the whole body); for binary mode it
/// is the header name (`ce-id`, `content-type`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CloudEventError {
    pub pointer: String,
    pub message: String,
}

impl fmt::Display for CloudEventError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            formatter.write_str(&self.message)
        } else {
            write!(formatter, "{}: {}", self.pointer, self.message)
        }
    }
}

impl CloudEventError {
    fn new(pointer: impl Into<String>, message: impl Into<String>) -> CloudEventError {
        CloudEventError { pointer: pointer.into(), message: message.into() }
    }
}

/// How a request carries its CloudEvents, read off its Content-Type.
#[derive(Debug, PartialEq, Eq)]
enum Format {
    Structured,
    Batch,
    /// `application/cloudevents…` in an event format other than JSON (the media type, lowercase).
    Unsupported(String),
}

/// True when the request is a CloudEvent in any mode: a content type `application/cloudevents+json`
/// or `application/cloudevents-batch+json` (parameters such as charset ignored, case-insensitive;
/// other `application/cloudevents…` formats too, so that `to_envelopes` can refuse them by name), or a
/// `ce-specversion` header (binary mode).
pub fn is_cloudevent(headers: &HeaderMap) -> bool {
    format(headers).is_some() || headers.contains_key("ce-specversion")
}

/// Reads the CloudEvents of a request and returns each as an EventBridge envelope (JSON text), in
/// order. Structured mode: one event; batch: a JSON array, possibly empty; binary mode: one event,
/// attributes from the `ce-*` headers (percent-decoded), data the body, its type the Content-Type.
///
/// A request with any bad event is rejected whole: the error list has one entry per bad event.
pub fn to_envelopes(
    headers: &HeaderMap,
    body: &[u8],
    envelope: &Envelope,
) -> Result<Vec<Vec<u8>>, Vec<CloudEventError>> {
    match format(headers) {
        Some(Format::Structured) => structured(body, envelope).map(|event| vec![event]).map_err(|error| vec![error]),
        Some(Format::Batch) => batch(body, envelope),
        Some(Format::Unsupported(media_type)) => Err(vec![CloudEventError::new(
            "content-type",
            format!(
                "unsupported CloudEvents format {media_type:?}: send {STRUCTURED}, {BATCH} or binary mode (ce-* headers)"
            ),
        )]),
        None if headers.contains_key("ce-specversion") => {
            binary(headers, body, envelope).map(|event| vec![event]).map_err(|error| vec![error])
        }
        None => Err(vec![CloudEventError::new(
            "",
            format!("not a CloudEvent: no ce-specversion header and the content type is not {STRUCTURED} or {BATCH}"),
        )]),
    }
}

/// The media type of the request's Content-Type, lowercase, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn format(headers: &HeaderMap) -> Option<Format> {
    let media_type = media_type(headers)?;
    let rest = media_type.strip_prefix("application/cloudevents")?;
    match rest {
        "+json" => Some(Format::Structured),
        "-batch+json" => Some(Format::Batch),
        _ if rest.is_empty() || rest.starts_with('+') || rest.starts_with("-batch") => {
            Some(Format::Unsupported(media_type))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------------
// Structured and batch mode

fn structured(body: &[u8], envelope: &Envelope) -> Result<Vec<u8>, CloudEventError> {
    let raw: &RawValue = serde_json::from_slice(body)
        .map_err(|error| CloudEventError::new("", format!("the body is not valid JSON: {error}")))?;
    match JsonKind::of(raw) {
        JsonKind::Object => {}
        JsonKind::Array => {
            return Err(CloudEventError::new(
                "",
                format!("a structured CloudEvent must be a JSON object, got an array (send a batch as {BATCH})"),
            ));
        }
        kind => {
            return Err(CloudEventError::new("", format!("a structured CloudEvent must be a JSON object, got {kind}")));
        }
    }
    json_event(raw, "", envelope)
}

fn batch(body: &[u8], envelope: &Envelope) -> Result<Vec<Vec<u8>>, Vec<CloudEventError>> {
    let raw: &RawValue = serde_json::from_slice(body)
        .map_err(|error| vec![CloudEventError::new("", format!("the body is not valid JSON: {error}"))])?;
    let kind = JsonKind::of(raw);
    if kind != JsonKind::Array {
        return Err(vec![CloudEventError::new("", format!("a CloudEvents batch must be a JSON array, got {kind}"))]);
    }
    let entries: Vec<&RawValue> = serde_json::from_str(raw.get())
        .map_err(|error| vec![CloudEventError::new("", format!("the body is not valid JSON: {error}"))])?;
    let mut events = Vec::with_capacity(entries.len());
    let mut errors = Vec::new();
    for (entry_idx, entry) in entries.into_iter().enumerate() {
        let pointer = format!("/{entry_idx}");
        let kind = JsonKind::of(entry);
        if kind != JsonKind::Object {
            errors.push(CloudEventError::new(
                pointer,
                format!("a CloudEvent in a batch must be a JSON object, got {kind}"),
            ));
            continue;
        }
        match json_event(entry, &pointer, envelope) {
            Ok(event) => events.push(event),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() { Ok(events) } else { Err(errors) }
}

/// The members of a JSON object in their order, values kept as raw text.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.push((name, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// One event of the JSON format (`raw` is an object) at `pointer` (empty for a single event).
fn json_event(raw: &RawValue, pointer: &str, envelope: &Envelope) -> Result<Vec<u8>, CloudEventError> {
    let Members(members) = serde_json::from_str(raw.get())
        .map_err(|error| CloudEventError::new(pointer, format!("the event is not a valid JSON object: {error}")))?;
    let place = |name: &str| format!("{pointer}/{}", escape_pointer(name));
    let mut attributes = Vec::with_capacity(members.len());
    let mut data = None;
    let mut data_base64 = None;
    let mut seen = HashSet::with_capacity(members.len());
    for (name, value) in &members {
        if !seen.insert(name.as_str()) {
            return Err(CloudEventError::new(place(name), format!("member {name:?} is given more than once")));
        }
        match name.as_str() {
            // `"data": null` is data (the JSON value null); anything else that is null is absent.
            "data" => data = Some(*value),
            _ if JsonKind::of(value) == JsonKind::Null => {}
            "data_base64" => data_base64 = Some(*value),
            _ => attributes.push(Attribute {
                name: name.clone(),
                place: place(name),
                text: serde_json::from_str::<String>(value.get()).ok(),
                value: AttributeValue::Json(value),
            }),
        }
    }
    let context = Context::read(&attributes, &place)?;
    let detail = match (data, data_base64) {
        (Some(_), Some(_)) => {
            return Err(CloudEventError::new(
                place("data_base64"),
                "data and data_base64 are both present; an event carries one or the other",
            ));
        }
        (Some(data), None) => json_detail(data),
        (None, Some(encoded)) => {
            let Ok(encoded) = serde_json::from_str::<String>(encoded.get()) else {
                return Err(CloudEventError::new(
                    place("data_base64"),
                    format!("data_base64 must be a base64 string, got {}", JsonKind::of(encoded)),
                ));
            };
            let bytes = BASE64_LENIENT.decode(encoded.trim()).map_err(|error| {
                CloudEventError::new(place("data_base64"), format!("data_base64 is not valid base64: {error}"))
            })?;
            let kind = content_kind(context.datacontenttype.as_deref(), ContentKind::Binary);
            bytes_detail(&bytes, kind).map_err(|error| {
                CloudEventError::new(
                    place("data_base64"),
                    format!(
                        "data_base64 is not valid JSON though datacontenttype is {}: {error}",
                        context.datacontenttype.as_deref().unwrap_or("")
                    ),
                )
            })?
        }
        (None, None) => empty_detail(),
    };
    render(&context, &attributes, &detail, envelope)
}

/// The kind of a JSON value (read off its first byte: the value is valid JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonKind {
    Object,
    Array,
    String,
    Boolean,
    Null,
    Number,
}

impl JsonKind {
    fn of(raw: &RawValue) -> JsonKind {
        match raw.get().trim_start().as_bytes().first() {
            Some(b'{') => JsonKind::Object,
            Some(b'[') => JsonKind::Array,
            Some(b'"') => JsonKind::String,
            Some(b't' | b'f') => JsonKind::Boolean,
            Some(b'n') => JsonKind::Null,
            _ => JsonKind::Number,
        }
    }
}

/// As error messages name it: "got an object".
impl fmt::Display for JsonKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            JsonKind::Object => "an object",
            JsonKind::Array => "an array",
            JsonKind::String => "a string",
            JsonKind::Boolean => "a boolean",
            JsonKind::Null => "null",
            JsonKind::Number => "a number",
        })
    }
}

/// RFC 6901 escaping of one reference token.
fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

// ---------------------------------------------------------------------------------------------------
// Binary mode

fn binary(headers: &HeaderMap, body: &[u8], envelope: &Envelope) -> Result<Vec<u8>, CloudEventError> {
    let content_type = match headers.get(http::header::CONTENT_TYPE) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| CloudEventError::new("content-type", "the header value is not visible ASCII"))?
                .to_owned(),
        ),
    };
    let mut attributes = Vec::new();
    for name in headers.keys() {
        let Some(attribute) = name.as_str().strip_prefix(HEADER_PREFIX) else { continue };
        let place = name.as_str().to_owned();
        let mut values = headers.get_all(name).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(CloudEventError::new(place, "the header is given more than once"));
        };
        if attribute == "data" || attribute == "data_base64" {
            return Err(CloudEventError::new(place, "data is not an attribute: in binary mode the body is the data"));
        }
        if attribute == "datacontenttype" && content_type.is_some() {
            // Binary mode carries datacontenttype in Content-Type, which wins.
            continue;
        }
        let text = percent_decode(value.as_bytes()).map_err(|message| CloudEventError::new(place.clone(), message))?;
        attributes.push(Attribute {
            name: attribute.to_owned(),
            place,
            text: Some(text.clone()),
            value: AttributeValue::Text(text),
        });
    }
    if let Some(content_type) = &content_type {
        attributes.push(Attribute {
            name: "datacontenttype".to_owned(),
            place: "content-type".to_owned(),
            text: Some(content_type.clone()),
            value: AttributeValue::Text(content_type.clone()),
        });
    }
    let context = Context::read(&attributes, &|name: &str| format!("{HEADER_PREFIX}{name}"))?;
    let detail = if body.is_empty() {
        empty_detail()
    } else {
        let kind = content_kind(context.datacontenttype.as_deref(), ContentKind::Binary);
        bytes_detail(body, kind).map_err(|error| {
            CloudEventError::new(
                "",
                format!(
                    "the body is not valid JSON though the content type is {}: {error}",
                    context.datacontenttype.as_deref().unwrap_or("")
                ),
            )
        })?
    };
    render(&context, &attributes, &detail, envelope)
}

/// Decodes a binary-mode header value: `%XX` escapes, then UTF-8 (CloudEvents HTTP binding 3.1.3.2).
fn percent_decode(value: &[u8]) -> Result<String, String> {
    let mut decoded = Vec::with_capacity(value.len());
    let mut byte_idx = 0;
    while let Some(&byte) = value.get(byte_idx) {
        if byte == b'%' {
            let escape =
                value.get(byte_idx + 1..byte_idx + 3).and_then(|hex| Some((hex_digit(hex[0])?, hex_digit(hex[1])?)));
            let Some((high, low)) = escape else {
                return Err(format!(
                    "invalid percent-encoding at byte {byte_idx}: '%' must be followed by two hex digits"
                ));
            };
            decoded.push(high << 4 | low);
            byte_idx += 3;
        } else {
            decoded.push(byte);
            byte_idx += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| "the value is not valid UTF-8 once percent-decoded".to_owned())
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

// ---------------------------------------------------------------------------------------------------
// Context attributes, shared by both modes

#[derive(Debug)]
enum AttributeValue<'a> {
    /// Structured mode: the value's JSON text as sent.
    Json(&'a RawValue),
    /// Binary mode: the decoded header value.
    Text(String),
}

impl Serialize for AttributeValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AttributeValue::Json(raw) => raw.serialize(serializer),
            AttributeValue::Text(text) => serializer.serialize_str(text),
        }
    }
}

#[derive(Debug)]
struct Attribute<'a> {
    name: String,
    /// Where it came from, for errors: a JSON pointer or a header name.
    place: String,
    /// The value when it is a string.
    text: Option<String>,
    value: AttributeValue<'a>,
}

/// The attributes the envelope is made of, validated.
#[derive(Debug)]
struct Context {
    id: String,
    source: String,
    event_type: String,
    subject: Option<String>,
    time: Option<String>,
    datacontenttype: Option<String>,
}

/// Context attributes the spec defines, in the order the `cloudevents` object lists them; extensions
/// follow in name order. All of these are strings.
const DEFINED: [&str; 8] = ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"];

impl Context {
    /// Validates the attributes: specversion first (nothing else means anything without it), then
    /// each attribute's name and type, then the required ones. `missing` names the place of an
    /// attribute that is absent.
    fn read(attributes: &[Attribute], missing: &dyn Fn(&str) -> String) -> Result<Context, CloudEventError> {
        let find = |name: &str| attributes.iter().find(|attribute| attribute.name == name);
        let Some(specversion) = find("specversion") else {
            return Err(CloudEventError::new(missing("specversion"), "missing required attribute specversion"));
        };
        if specversion.text.as_deref() != Some(SPEC_VERSION) {
            return Err(CloudEventError::new(
                &specversion.place,
                format!("specversion must be \"{SPEC_VERSION}\", got {}", shown(specversion)),
            ));
        }
        for attribute in attributes {
            let name = &attribute.name;
            let valid_name = !name.is_empty()
                && name.len() <= MAX_NAME_LEN
                && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit());
            if !valid_name {
                return Err(CloudEventError::new(
                    &attribute.place,
                    format!(
                        "invalid attribute name {name:?}: names are 1 to {MAX_NAME_LEN} lowercase letters a-z and digits 0-9"
                    ),
                ));
            }
            let AttributeValue::Json(raw) = &attribute.value else { continue };
            let kind = JsonKind::of(raw);
            if DEFINED.contains(&name.as_str()) {
                if attribute.text.is_none() {
                    return Err(CloudEventError::new(
                        &attribute.place,
                        format!("attribute {name} must be a string, got {kind}"),
                    ));
                }
            } else if matches!(kind, JsonKind::Object | JsonKind::Array) {
                return Err(CloudEventError::new(
                    &attribute.place,
                    format!("extension attribute {name} must be a string, number or boolean, got {kind}"),
                ));
            }
        }
        let required = |name: &str| -> Result<String, CloudEventError> {
            match find(name) {
                None => Err(CloudEventError::new(missing(name), format!("missing required attribute {name}"))),
                Some(attribute) => non_empty(attribute),
            }
        };
        let optional = |name: &str| find(name).map(non_empty).transpose();
        let context = Context {
            id: required("id")?,
            source: required("source")?,
            event_type: required("type")?,
            subject: optional("subject")?,
            time: optional("time")?,
            datacontenttype: optional("datacontenttype")?,
        };
        optional("dataschema")?;
        if let (Some(time), Some(attribute)) = (&context.time, find("time"))
            && clock::parse_rfc3339_ms(time).is_none()
        {
            return Err(CloudEventError::new(
                &attribute.place,
                format!("time must be an RFC 3339 timestamp (like 2018-04-05T17:31:00Z), got {time:?}"),
            ));
        }
        Ok(context)
    }
}

fn non_empty(attribute: &Attribute) -> Result<String, CloudEventError> {
    match attribute.text.as_deref() {
        Some(text) if !text.is_empty() => Ok(text.to_owned()),
        _ => Err(CloudEventError::new(
            &attribute.place,
            format!("attribute {} must be a non-empty string, got {}", attribute.name, shown(attribute)),
        )),
    }
}

/// An attribute's value for an error message.
fn shown(attribute: &Attribute) -> String {
    match (&attribute.text, &attribute.value) {
        (Some(text), _) => format!("{text:?}"),
        (None, AttributeValue::Json(raw)) => JsonKind::of(raw).to_string(),
        (None, AttributeValue::Text(text)) => format!("{text:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------
// Data to detail

/// How data bytes are read, by their content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContentKind {
    Json,
    Text,
    Binary,
}

/// `application/json`, `text/json` and `*/*+json` are JSON; `text/*`, `application/xml` and any type
/// with a charset parameter are text; everything else is bytes. `absent` is the kind when there is
/// no content type.
fn content_kind(content_type: Option<&str>, absent: ContentKind) -> ContentKind {
    let Some(content_type) = content_type else { return absent };
    let mut parts = content_type.split(';');
    let media_type = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let has_charset = parts
        .any(|parameter| parameter.split('=').next().is_some_and(|name| name.trim().eq_ignore_ascii_case("charset")));
    let json = media_type == "application/json"
        || media_type == "text/json"
        || (media_type.ends_with("+json") && media_type.contains('/'));
    if json {
        ContentKind::Json
    } else if media_type.starts_with("text/") || media_type == "application/xml" || has_charset {
        ContentKind::Text
    } else {
        ContentKind::Binary
    }
}

fn empty_detail() -> Box<RawValue> {
    raw_json(String::from("{}"))
}

/// JSON data: an object is the detail as it is (its exact bytes); any other value is wrapped.
fn json_detail(data: &RawValue) -> Box<RawValue> {
    if JsonKind::of(data) == JsonKind::Object { raw_json(data.get().to_owned()) } else { wrap("data", data) }
}

/// Data as bytes (binary-mode body, decoded `data_base64`). Only a JSON kind can fail: bytes that
/// are not JSON (the error is serde_json's message).
fn bytes_detail(bytes: &[u8], kind: ContentKind) -> Result<Box<RawValue>, String> {
    match kind {
        ContentKind::Json if bytes.iter().all(u8::is_ascii_whitespace) => Ok(empty_detail()),
        ContentKind::Json => {
            let data: &RawValue = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
            Ok(json_detail(data))
        }
        ContentKind::Text => match std::str::from_utf8(bytes) {
            Ok(text) => Ok(wrap("data", text)),
            Err(_) => Ok(wrap("data_base64", STANDARD.encode(bytes).as_str())),
        },
        ContentKind::Binary => Ok(wrap("data_base64", STANDARD.encode(bytes).as_str())),
    }
}

/// `{"<name>": <value>}`, a RawValue spliced in as it is (its numbers keep their digits).
fn wrap<T: Serialize + ?Sized>(name: &str, value: &T) -> Box<RawValue> {
    struct One<'a, T: ?Sized>(&'a str, &'a T);
    impl<T: Serialize + ?Sized> Serialize for One<'_, T> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(self.0, self.1)?;
            map.end()
        }
    }
    raw_json(serde_json::to_string(&One(name, value)).expect("a str or a RawValue always serialises"))
}

/// `text` is JSON this module wrote or serde_json validated.
fn raw_json(text: String) -> Box<RawValue> {
    RawValue::from_string(text).expect("text written by serde_json or validated by it is JSON")
}

// ---------------------------------------------------------------------------------------------------
// The envelope

/// The `cloudevents` object: every attribute with its value, defined ones first.
struct CloudEventsObject<'a, 'b>(Vec<&'b Attribute<'a>>);

impl Serialize for CloudEventsObject<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for attribute in &self.0 {
            map.serialize_entry(&attribute.name, &attribute.value)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct EnvelopeJson<'a, 'b> {
    version: &'static str,
    id: &'b str,
    #[serde(rename = "detail-type")]
    detail_type: &'b str,
    source: &'b str,
    account: &'b str,
    time: &'b str,
    region: &'b str,
    resources: &'b [String],
    detail: &'b RawValue,
    cloudevents: CloudEventsObject<'a, 'b>,
}

fn render(
    context: &Context,
    attributes: &[Attribute],
    detail: &RawValue,
    envelope: &Envelope,
) -> Result<Vec<u8>, CloudEventError> {
    let mut listed: Vec<&Attribute> = attributes.iter().collect();
    let rank = |name: &str| DEFINED.iter().position(|defined| *defined == name).unwrap_or(DEFINED.len());
    listed.sort_by(|left, right| (rank(&left.name), &left.name).cmp(&(rank(&right.name), &right.name)));
    let resources: Vec<String> = context.subject.iter().cloned().collect();
    let json = EnvelopeJson {
        version: "0",
        id: &context.id,
        detail_type: &context.event_type,
        source: &context.source,
        account: envelope.account,
        time: context.time.as_deref().unwrap_or(envelope.now),
        region: envelope.region,
        resources: &resources,
        detail,
        cloudevents: CloudEventsObject(listed),
    };
    serde_json::to_vec(&json).map_err(|error| CloudEventError::new("", format!("cannot write the envelope: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_kinds() {
        for (content_type, kind) in [
            ("application/json", ContentKind::Json),
            ("Application/JSON; charset=utf-8", ContentKind::Json),
            ("application/vnd.api+json", ContentKind::Json),
            ("text/json", ContentKind::Json),
            ("text/plain", ContentKind::Text),
            ("application/xml", ContentKind::Text),
            ("application/x-www-form-urlencoded; Charset=utf-8", ContentKind::Text),
            ("application/octet-stream", ContentKind::Binary),
            ("+json", ContentKind::Binary),
        ] {
            assert_eq!(content_kind(Some(content_type), ContentKind::Binary), kind, "{content_type}");
        }
        assert_eq!(content_kind(None, ContentKind::Json), ContentKind::Json);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"Euro%20%E2%82%AC%20%F0%9F%98%80").as_deref(), Ok("Euro € 😀"));
        assert_eq!(percent_decode(b"%2a%2A").as_deref(), Ok("**"));
        for bad in [&b"100%"[..], b"%4", b"%zz", b"%C3%28", b"%E2%82"] {
            assert!(percent_decode(bad).is_err(), "{bad:?}");
        }
    }
}
