//! Delivery: durable deliveries, retries with backoff, and per-rule dead letters.
//!
//! `store.rs` is the storage contract (the embedded store and NATS JetStream implement it);
//! `policy.rs` decides what an attempt's outcome means (retry when, or dead-letter why).

pub mod embedded;
pub mod policy;
pub mod store;

use serde_json::{Value, json};

use self::store::{DeadLetter, Exhausted};

/// A dead letter as operators see it (CLI and admin API): every field, the event as JSON, the
/// input as text, times in RFC 3339.
pub fn letter_json(letter: &DeadLetter) -> Value {
    let d = &letter.delivery;
    let event = serde_json::from_slice::<Value>(&d.new.event)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&d.new.event).into_owned()));
    json!({
        "id": letter.id,
        "rule": d.new.rule,
        "target": d.new.target,
        "event_id": d.new.event_id,
        "event": event,
        "input": letter.input.as_ref().map(|i| String::from_utf8_lossy(i).into_owned()),
        "error_code": letter.error.code,
        "error_message": letter.error.message,
        "attempts": d.attempts,
        "first_attempt_at": d.first_attempt_at_ms.map(crate::clock::rfc3339_ms),
        "last_attempt_at": d.last_attempt_at_ms.map(crate::clock::rfc3339_ms),
        "exhausted": letter.exhausted.map(|e| match e {
            Exhausted::MaximumRetryAttempts => "MaximumRetryAttempts",
            Exhausted::MaximumEventAgeInSeconds => "MaximumEventAgeInSeconds",
        }),
        "ingested_at": crate::clock::rfc3339_ms(d.new.ingested_at_ms),
        "dead_lettered_at": crate::clock::rfc3339_ms(letter.dead_lettered_at_ms),
        "hop": d.new.hop,
        "causation": d.new.causation,
    })
}
