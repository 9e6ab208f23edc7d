//! The three example consumers (examples/), built from source for wasm32-wasip2, running in the
//! real host on their sample events: what each README promises.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard::invoke::{
    Consumer, Delivery, Grants, Host, HostConfig, HostRule, KvHandle, Limits, MemoryKv, Outcome, OutcomeKind,
    TargetSpec,
};
use switchyard_tests::http_stub::HttpStub;

use crate::invoke::wasm;

fn example_event(folder: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(folder).join("event.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn setup(module: &str) -> (tokio::runtime::Runtime, Consumer) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = Host::new(HostConfig { max_concurrency: 4, cache_dir: None, ..HostConfig::default() }).unwrap();
    let consumer = host.load(&wasm(module), None).unwrap_or_else(|e| panic!("{e}"));
    (runtime, consumer)
}

fn run(runtime: &tokio::runtime::Runtime, consumer: &Consumer, target: &Arc<TargetSpec>, event: &Value) -> Outcome {
    let delivery = Delivery {
        event_id: event["id"].as_str().unwrap().into(),
        source: event["source"].as_str().unwrap().into(),
        detail_type: event["detail-type"].as_str().unwrap().into(),
        rule: "example".into(),
        target: "example".into(),
        attempt: 1,
        payload: serde_json::to_vec(event).unwrap(),
    };
    runtime.block_on(consumer.invoke(target, delivery))
}

fn spec(config: &[(&str, &str)], grants: Grants) -> Arc<TargetSpec> {
    Arc::new(TargetSpec {
        config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        limits: Limits::default(),
        grants,
    })
}

#[test]
fn order_notification_emits_a_confirmation_request() {
    let (runtime, consumer) = setup("order_notification");
    let event = example_event("order-notification");
    let outcome = run(&runtime, &consumer, &spec(&[("source", "acme.mail")], Grants::default()), &event);
    assert_eq!(outcome.kind, OutcomeKind::Ok, "{outcome:?}");
    assert_eq!(outcome.emitted.len(), 1);
    let emitted = &outcome.emitted[0];
    assert_eq!((emitted.source.as_str(), emitted.detail_type.as_str()), ("acme.mail", "OrderConfirmationRequested"));
    let detail: Value = serde_json::from_str(&emitted.detail).unwrap();
    assert_eq!(detail["order_id"], "ORD-1042");
    assert_eq!(detail["email"], "ada@example.com");

    let mut bad = event.clone();
    bad["detail"]["total"] = json!(-1);
    let outcome = run(&runtime, &consumer, &spec(&[], Grants::default()), &bad);
    assert_eq!(outcome.kind, OutcomeKind::Permanent, "{outcome:?}");
    assert!(outcome.emitted.is_empty());
}

#[test]
fn inventory_reserves_once_per_event_id() {
    let (runtime, consumer) = setup("inventory");
    let store = Arc::new(MemoryKv::default());
    let grants = Grants { kv: Some(KvHandle::new(store.clone(), "inventory")), ..Grants::default() };
    let target = spec(&[("initial_stock", "10")], grants);
    let event = example_event("inventory");
    let first = run(&runtime, &consumer, &target, &event);
    assert_eq!(first.kind, OutcomeKind::Ok, "{first:?}");
    assert_eq!(first.emitted.len(), 1, "{first:?}");
    assert_eq!(first.emitted[0].detail_type, "StockReserved");
    let after_first = store.entries("inventory");
    assert!(after_first.iter().any(|(k, _)| k.starts_with("seen/")), "{after_first:?}");
    assert!(after_first.iter().any(|(k, v)| k.starts_with("stock/") && v.as_slice() != b"10"), "{after_first:?}");

    // At-least-once delivery: the same event again changes nothing and emits nothing.
    let again = run(&runtime, &consumer, &target, &event);
    assert_eq!(again.kind, OutcomeKind::Ok, "{again:?}");
    assert!(again.emitted.is_empty(), "{again:?}");
    assert_eq!(store.entries("inventory"), after_first);

    // A new event id reserves again.
    let mut next = event.clone();
    next["id"] = json!("another-event-id");
    assert_eq!(run(&runtime, &consumer, &target, &next).emitted.len(), 1);

    // Without the capability, the consumer refuses permanently (the rule must grant kv).
    let outcome = run(&runtime, &consumer, &spec(&[], Grants::default()), &event);
    assert_eq!(outcome.kind, OutcomeKind::Permanent, "{outcome:?}");
}

#[test]
fn webhook_forwarder_maps_statuses_and_timeouts() {
    let (runtime, consumer) = setup("webhook_forwarder");
    let server = HttpStub::start(200);
    let url = server.url("/hooks/payments");
    let allowed = || Grants { http: vec![HostRule::parse(&server.authority()).unwrap()], ..Grants::default() };
    let config = [("url", url.as_str()), ("token", "s3cret"), ("timeout_ms", "300")];
    let event = example_event("webhook-forwarder");

    let outcome = run(&runtime, &consumer, &spec(&config, allowed()), &event);
    assert_eq!(outcome.kind, OutcomeKind::Ok, "{outcome:?}");
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].path, "/hooks/payments");
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    assert_eq!(received[0].header("authorization"), Some("Bearer s3cret"));
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body, event);

    let cases: &[(u16, Duration, OutcomeKind)] = &[
        (503, Duration::ZERO, OutcomeKind::Retryable),
        (429, Duration::ZERO, OutcomeKind::Retryable),
        (400, Duration::ZERO, OutcomeKind::Permanent),
        // Slower than the forwarder's own 300 ms timeout: retryable, well within the delivery's time.
        (200, Duration::from_millis(1500), OutcomeKind::Retryable),
    ];
    for (status, delay, expected) in cases {
        server.set_reply(*status, r#"{"error": "from the stub"}"#, *delay);
        let outcome = run(&runtime, &consumer, &spec(&config, allowed()), &event);
        assert_eq!(outcome.kind, *expected, "status {status} after {delay:?}: {outcome:?}");
        assert!(outcome.duration < Duration::from_millis(1200), "{outcome:?}");
    }

    // A URL whose host the target does not allow: refused by the host, never sent.
    let before = server.received().len();
    let outcome = run(&runtime, &consumer, &spec(&config, Grants::default()), &event);
    assert_eq!(outcome.kind, OutcomeKind::Permanent, "{outcome:?}");
    assert!(outcome.message.contains("allow-list"), "{outcome:?}");
    assert_eq!(server.received().len(), before);
}
