//! Plain JSON events on `POST /events`: one event object or an array of them, for curl users.
//!
//! Each event needs `source` (string), `detail-type` (string) and `detail` (object); `id`, `version`,
//! `time`, `account`, `region` and `resources` are filled in when absent (an `id` that is given is
//! kept). Any other top-level field is kept as it is, so patterns can match it. Values keep their
//! exact text, numbers included.

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::putevents::Origin;
use crate::pipeline::{EnvelopeHead, Incoming, MAX_DETAIL_DEPTH};

/// A problem with one event of the request, with the JSON pointer of where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainError {
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for PlainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

/// Reads the body; every problem of every event is reported (the request is all or nothing).
/// Returns each event's envelope with its head, in order.
pub fn read_events(
    body: &[u8],
    origin: &Origin,
    max_events: usize,
    mut new_id: impl FnMut() -> String,
) -> Result<Vec<Incoming>, Vec<PlainError>> {
    let whole = |message: String| vec![PlainError { pointer: String::new(), message }];
    let text = std::str::from_utf8(body).map_err(|e| whole(format!("the body is not UTF-8: {e}")))?;
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| whole(format!("the body is not JSON: {e}")))?;
    let (items, batch): (Vec<&RawValue>, bool) = match raw.get().as_bytes().first() {
        Some(b'[') => (serde_json::from_str(raw.get()).map_err(|e| whole(format!("the body is not JSON: {e}")))?, true),
        Some(b'{') => (vec![raw], false),
        _ => return Err(whole("the body must be an event (a JSON object) or an array of events".into())),
    };
    if items.is_empty() {
        return Err(whole("the array holds no events".into()));
    }
    if items.len() > max_events {
        return Err(whole(format!("{} events in one request; the limit is {max_events}", items.len())));
    }
    let mut out = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let at = |field: &str| {
            let base = if batch { format!("/{index}") } else { String::new() };
            if field.is_empty() { base } else { format!("{base}/{field}") }
        };
        match event(item, origin, &mut new_id) {
            Ok(event) => out.push(event),
            Err((field, message)) => problems.push(PlainError { pointer: at(&field), message }),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

fn event(item: &RawValue, origin: &Origin, new_id: &mut impl FnMut() -> String) -> Result<Incoming, (String, String)> {
    let mut fields: BTreeMap<String, &RawValue> = serde_json::from_str(item.get())
        .map_err(|e| (String::new(), format!("an event must be a JSON object ({e})")))?;
    let string = |fields: &BTreeMap<String, &RawValue>, name: &str| -> Result<Option<String>, (String, String)> {
        match fields.get(name) {
            None => Ok(None),
            Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
                Ok(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
                _ => Err((name.to_owned(), format!("{name} must be a non-empty string"))),
            },
        }
    };
    let required = |name: &str| string(&fields, name)?.ok_or_else(|| (name.to_owned(), format!("{name} is required")));
    let (source, detail_type) = (required("source")?, required("detail-type")?);
    for name in ["version", "account", "region"] {
        string(&fields, name)?;
    }
    match fields.get("detail") {
        None => return Err(("detail".into(), "detail is required (a JSON object)".into())),
        Some(raw) if !raw.get().starts_with('{') => {
            return Err(("detail".into(), "detail must be a JSON object".into()));
        }
        Some(_) => {}
    }
    if let Some(raw) = fields.get("resources")
        && serde_json::from_str::<Vec<String>>(raw.get()).is_err()
    {
        return Err(("resources".into(), "resources must be an array of strings".into()));
    }
    if let Some(time) = string(&fields, "time")?
        && crate::clock::parse_rfc3339_ms(&time).is_none()
    {
        return Err(("time".into(), format!("time {time:?} is not an RFC 3339 timestamp")));
    }
    let id = match string(&fields, "id")? {
        Some(id) => id,
        None => new_id(),
    };
    let fill: [(&str, Value); 6] = [
        ("id", json!(id)),
        ("version", json!("0")),
        ("time", json!(origin.now)),
        ("account", json!(origin.account)),
        ("region", json!(origin.region)),
        ("resources", json!([])),
    ];
    let filled: Vec<(&str, String)> =
        fill.into_iter().filter(|(name, _)| !fields.contains_key(*name)).map(|(n, v)| (n, v.to_string())).collect();
    let filled_raw: Vec<(&str, Box<RawValue>)> =
        filled.into_iter().filter_map(|(name, text)| RawValue::from_string(text).ok().map(|raw| (name, raw))).collect();
    for (name, raw) in &filled_raw {
        fields.insert((*name).to_owned(), raw);
    }
    // The envelope is matched without validating it again: each value within the nesting limit.
    for (name, raw) in &fields {
        if let Err(error) = switchyard_pattern::validate_json(raw.get().as_bytes(), MAX_DETAIL_DEPTH) {
            return Err((name.clone(), format!("{name} is not acceptable: {error}")));
        }
    }
    let envelope = serde_json::to_vec(&fields).map_err(|e| (String::new(), e.to_string()))?;
    Ok(Incoming { event: envelope, head: Some(EnvelopeHead { id, source, detail_type }) })
}
