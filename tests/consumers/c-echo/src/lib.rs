//! Uses every capability once and reports what it was given, for the host's tests:
//! logs at each level with fields, writes a line to stdout and one to stderr, and emits one `Echo`
//! event (source `test.echo`) whose detail holds the payload, the metadata and the config. With
//! config `kv` = `1` it also increments the counter under kv key `count` and reports it.

use serde_json::{Map, Value, json};
use switchyard_guest::{Delivery, Failure, Level, Result, config, emit, kv, log};

fn handle(delivery: Delivery) -> Result {
    let m = &delivery.metadata;
    let attempt = m.attempt.to_string();
    let fields = [("event_id", m.event_id.as_str()), ("attempt", attempt.as_str())];
    for (level, name) in [
        (Level::Trace, "trace"),
        (Level::Debug, "debug"),
        (Level::Info, "info"),
        (Level::Warn, "warn"),
        (Level::Error, "error"),
    ] {
        log(level, &format!("echo at {name}"), &fields);
    }
    println!("c-echo stdout: {}", m.event_id);
    eprintln!("c-echo stderr: {}", m.event_id);

    // A payload that is not JSON (from an input template) is echoed as a string.
    let payload = serde_json::from_slice(&delivery.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&delivery.payload).into_owned()));
    let config: Map<String, Value> = config::all().into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let mut detail = json!({
        "payload": payload,
        "metadata": {
            "event_id": m.event_id,
            "source": m.source,
            "detail_type": m.detail_type,
            "rule": m.rule,
            "target": m.target,
            "attempt": m.attempt,
            "deadline_unix_ms": m.deadline_unix_ms,
        },
        "config": config,
    });

    if config::get("kv").as_deref() == Some("1") {
        let count = match kv::get("count")? {
            Some(bytes) => {
                let text = String::from_utf8(bytes)?;
                text.parse::<u64>().map_err(|e| Failure::permanent(format!("kv `count` = `{text}`: {e}")))?
            }
            None => 0,
        } + 1;
        kv::set("count", count.to_string().as_bytes())?;
        detail["count"] = json!(count);
    }

    emit("test.echo", "Echo", &detail)?;
    Ok(())
}

switchyard_guest::export!(handle);
