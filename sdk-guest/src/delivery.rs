use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Failure;

/// One event on its way to this consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Where the delivery comes from and how much time it has.
    pub metadata: Metadata,
    /// The target's input: the event, or what the target's input transformation made of it. JSON
    /// text unless the target's input template produces plain text.
    pub payload: Vec<u8>,
}

/// Where a delivery comes from and how much time it has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// The event's `id`.
    pub event_id: String,
    /// The event's `source`.
    pub source: String,
    /// The event's `detail-type`.
    pub detail_type: String,
    /// The rule that matched the event.
    pub rule: String,
    /// The rule's target this delivery is for.
    pub target: String,
    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub attempt: u32,
    /// When the router stops waiting for this attempt, in milliseconds since the Unix epoch.
    pub deadline_unix_ms: u64,
}

/// An EventBridge event whose `detail` is a `D`.
///
/// Envelope fields missing from the payload are empty (an input transformation may have dropped
/// them); `detail` is required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<D = serde_json::Value> {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub id: String,
    #[serde(rename = "detail-type", default)]
    pub detail_type: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub account: String,
    /// RFC 3339 time, as the event carries it.
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub resources: Vec<String>,
    pub detail: D,
}

#[derive(Deserialize)]
struct DetailOnly<D> {
    detail: D,
}

impl Delivery {
    /// The payload as text; a payload that is not UTF-8 is a permanent failure.
    pub fn payload_str(&self) -> Result<&str, Failure> {
        std::str::from_utf8(&self.payload)
            .map_err(|error| Failure::permanent(format!("the payload is not UTF-8 text: {error}")))
    }

    /// The whole payload parsed as JSON into a `T`; a payload that does not parse is a permanent
    /// failure.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_slice(&self.payload).map_err(|error| parse_failure::<T>("the payload", &error))
    }

    /// The payload parsed as an EventBridge event with a `detail` of type `D`.
    pub fn event<D: DeserializeOwned>(&self) -> Result<Event<D>, Failure> {
        serde_json::from_slice(&self.payload).map_err(|error| parse_failure::<Event<D>>("the payload", &error))
    }

    /// Just the `detail` member of the payload, parsed into a `D` (the rest of the event is skipped).
    pub fn detail<D: DeserializeOwned>(&self) -> Result<D, Failure> {
        serde_json::from_slice::<DetailOnly<D>>(&self.payload)
            .map(|event| event.detail)
            .map_err(|error| parse_failure::<D>("the payload's `detail` member", &error))
    }
}

/// A permanent failure naming what was expected (the Rust type) and serde's account of the problem.
fn parse_failure<T>(what: &str, error: &serde_json::Error) -> Failure {
    Failure::permanent(format!("{what} does not parse as `{}`: {error}", std::any::type_name::<T>()))
}
