//! The SDK against its native test host: `cargo test -p switchyard-guest --features testing`.
#![cfg(feature = "testing")]

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use switchyard_guest::http::{self, HttpError, Request, Response};
use switchyard_guest::prelude::*;
use switchyard_guest::testing::{LogRecord, TestHost, delivery, delivery_bytes};

#[derive(Debug, Deserialize, PartialEq)]
struct Order {
    order_id: String,
    total: f64,
}

fn order_event() -> serde_json::Value {
    json!({
        "version": "0",
        "id": "e-1",
        "detail-type": "OrderPlaced",
        "source": "shop.orders",
        "account": "123456789012",
        "time": "2025-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": ["arn:shop:order/42"],
        "detail": {"order_id": "42", "total": 19.5, "extra": true}
    })
}

// The macro must also expand natively, so that consumer crates build and test outside Wasm.
fn exported(_: Delivery) -> Result {
    Ok(())
}
switchyard_guest::export!(exported);

#[test]
fn typed_detail_and_envelope() {
    let run = TestHost::new().run(
        |d| {
            assert_eq!(d.detail::<Order>()?, Order { order_id: "42".into(), total: 19.5 });
            let event: Event<Order> = d.event()?;
            assert_eq!((event.id.as_str(), event.detail_type.as_str()), ("e-1", "OrderPlaced"));
            assert_eq!(event.resources, ["arn:shop:order/42"]);
            let untyped: Event = d.event()?;
            assert_eq!(untyped.detail["extra"], true);
            let whole: serde_json::Value = d.json()?;
            assert_eq!(whole["region"], "eu-west-1");
            assert!(d.payload_str()?.starts_with('{'));
            Ok(())
        },
        delivery(&order_event()),
    );
    assert_eq!(run.result, Ok(()));
}

#[test]
fn delivery_metadata_comes_from_the_event() {
    let d = delivery(&order_event());
    assert_eq!(d.metadata.event_id, "e-1");
    assert_eq!(d.metadata.source, "shop.orders");
    assert_eq!(d.metadata.detail_type, "OrderPlaced");
    assert_eq!(
        (d.metadata.rule.as_str(), d.metadata.target.as_str(), d.metadata.attempt),
        ("test-rule", "test-target", 1)
    );
    assert!(d.metadata.deadline_unix_ms > 0);
    let raw = delivery_bytes("plain text");
    assert_eq!((raw.metadata.event_id.as_str(), raw.payload.as_slice()), ("", b"plain text".as_slice()));
}

#[test]
fn missing_envelope_fields_default() {
    let event: Event<u32> = delivery_bytes(r#"{"detail": 7}"#).event().unwrap();
    assert_eq!((event.detail, event.id.as_str(), event.resources.len()), (7, "", 0));
}

#[test]
fn a_payload_that_does_not_parse_is_permanent() {
    let d = delivery(&json!({"id": "e-2", "detail": {"order_id": "42"}}));
    let failure = d.detail::<Order>().unwrap_err();
    assert!(failure.is_permanent());
    assert!(failure.message().contains("missing field `total`"), "{}", failure.message());
    assert!(failure.message().contains("Order"), "names the expected type: {}", failure.message());

    let failure = delivery_bytes("not json").json::<serde_json::Value>().unwrap_err();
    assert!(failure.is_permanent());
    assert!(failure.message().contains("expected ident"), "{}", failure.message());

    let failure = delivery_bytes(vec![0xff, 0xfe]).payload_str().unwrap_err();
    assert!(failure.is_permanent() && failure.message().contains("UTF-8"));
}

#[derive(Debug)]
struct QuantityError(std::num::ParseIntError);

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field `quantity` is not a number")
    }
}

impl Error for QuantityError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn question_mark_gives_a_retryable_failure_with_the_source_chain() {
    fn handler(_: Delivery) -> Result {
        let _quantity: u32 = "abc".parse().map_err(QuantityError)?;
        Ok(())
    }
    let run = TestHost::new().run(handler, delivery(&order_event()));
    let failure = run.result.unwrap_err();
    assert!(!failure.is_permanent());
    assert_eq!(failure.message(), "field `quantity` is not a number: invalid digit found in string");
}

#[test]
fn context_prefixes_and_keeps_or_sets_the_kind() {
    let failure = "x".parse::<u8>().context("reading the count").unwrap_err();
    assert_eq!(
        (failure.is_permanent(), failure.message()),
        (false, "reading the count: invalid digit found in string")
    );
    let failure = "x".parse::<u8>().permanent("reading the count").unwrap_err();
    assert!(failure.is_permanent());
    let failure = Err::<(), _>(Failure::permanent("gone")).context("order 7").unwrap_err();
    assert_eq!((failure.is_permanent(), failure.message()), (true, "order 7: gone"));
    assert_eq!(format!("{failure}"), "permanent failure: order 7: gone");
}

#[test]
fn emit_within_the_quota() {
    let mut host = TestHost::new().emit_quota(3, 1024);
    let run = host.run(
        |_| {
            for i in 0..3 {
                emit("test.source", "Counted", &json!({"i": i}))?;
            }
            match emit("test.source", "Counted", &json!({"i": 3})) {
                Err(EmitError::QuotaExceeded(message)) => assert!(message.contains("3 events"), "{message}"),
                other => panic!("expected the quota to be exceeded, got {other:?}"),
            }
            Ok(())
        },
        delivery(&order_event()),
    );
    assert_eq!(run.result, Ok(()));
    assert_eq!(run.emitted.len(), 3);
    assert_eq!(run.emitted_details()[2], json!({"i": 2}));

    // Bytes count source, detail-type and detail; the quota starts afresh with each delivery.
    let run = host.run(
        |_| {
            let big = "x".repeat(900);
            emit("s", "T", &json!({ "big": big }))?;
            assert!(matches!(emit("s", "T", &json!({ "big": big })), Err(EmitError::QuotaExceeded(_))));
            Ok(())
        },
        delivery(&order_event()),
    );
    assert_eq!((run.result, run.emitted.len()), (Ok(()), 1));
}

#[test]
fn the_default_quota_is_the_routers() {
    let run = TestHost::new().run(
        |_| {
            let mut accepted = 0;
            while emit("s", "T", &json!({})).is_ok() {
                accepted += 1;
            }
            assert_eq!(accepted, switchyard_guest::testing::DEFAULT_EMIT_EVENTS);
            Ok(())
        },
        delivery(&order_event()),
    );
    assert_eq!(run.emitted.len(), 10);
}

#[test]
fn a_detail_that_is_not_an_object_is_invalid() {
    let run = TestHost::new().run(
        |_| {
            assert!(matches!(emit("s", "T", &[1, 2]), Err(EmitError::Invalid(_))));
            assert!(matches!(emit("s", "T", "text"), Err(EmitError::Invalid(_))));
            let event = |detail: &str| EmitEvent {
                source: "s".into(),
                detail_type: "T".into(),
                detail: detail.into(),
                resources: vec!["r".into()],
            };
            assert!(matches!(emit_event(event("42")), Err(EmitError::Invalid(_))));
            assert!(matches!(emit_event(event("{oops")), Err(EmitError::Invalid(_))));
            emit_event(event(r#"{"ok": true}"#))?;
            Ok(())
        },
        delivery(&order_event()),
    );
    assert_eq!(run.result, Ok(()));
    assert_eq!(run.emitted[0].resources, ["r"]);
}

#[test]
fn emitted_events_count_only_if_the_delivery_succeeds() {
    let run = TestHost::new().run(
        |_| {
            emit("s", "T", &json!({"a": 1}))?;
            Err(Failure::retryable("later"))
        },
        delivery(&order_event()),
    );
    assert_eq!(run.result, Err(Failure::retryable("later")));
    assert!(run.emitted.is_empty());
}

#[test]
fn kv_needs_a_grant_and_persists_across_runs() {
    let count = |_: Delivery| -> Result {
        let n: u64 = match kv::get("count")? {
            Some(bytes) => String::from_utf8(bytes)?.parse()?,
            None => 0,
        };
        kv::set("count", (n + 1).to_string().as_bytes())?;
        kv::delete("missing")?;
        Ok(())
    };

    let run = TestHost::new().run(count, delivery(&order_event()));
    let failure = run.result.unwrap_err();
    assert!(!failure.is_permanent());
    assert_eq!(failure.message(), KvError::NotGranted.to_string());

    let mut host = TestHost::new().with_kv();
    host.run(count, delivery(&order_event()));
    let run = host.run(count, delivery(&order_event()));
    assert_eq!(run.result, Ok(()));
    assert_eq!(run.kv["count"], b"2");

    let run = TestHost::new().kv_entry("count", "41").run(count, delivery(&order_event()));
    assert_eq!(run.kv["count"], b"42");

    let run = TestHost::new()
        .with_kv()
        .kv_error(KvError::Unavailable("disk full".into()))
        .run(count, delivery(&order_event()));
    assert_eq!(run.result.unwrap_err().message(), "key-value store unavailable: disk full");
}

#[test]
fn config_values() {
    let run = TestHost::new().config("a", "1").config("b", "2").config("a", "3").run(
        |_| {
            assert_eq!(config::get("a").as_deref(), Some("3"));
            assert_eq!(config::get("missing"), None);
            assert_eq!(config::all(), [("a".to_string(), "3".to_string()), ("b".to_string(), "2".to_string())]);
            Ok(())
        },
        delivery(&order_event()),
    );
    assert_eq!(run.result, Ok(()));
}

#[test]
fn logs_with_levels_and_fields() {
    let run = TestHost::new().run(
        |d| {
            trace!("t");
            debug!("d {}", 1);
            info!("order {} placed", d.metadata.event_id);
            warn!("w");
            error!("e");
            switchyard_guest::log(Level::Info, "with fields", &[("order", "42"), ("step", "pricing")]);
            Ok(())
        },
        delivery(&order_event()),
    );
    let levels: Vec<Level> = run.logs.iter().map(|r| r.level).collect();
    assert_eq!(levels, [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error, Level::Info]);
    assert!(run.logged("order e-1 placed"));
    assert_eq!(
        run.logs[5],
        LogRecord {
            level: Level::Info,
            message: "with fields".into(),
            fields: vec![("order".into(), "42".into()), ("step".into(), "pricing".into())],
        }
    );
}

#[test]
fn http_goes_to_the_mock_host() {
    let seen: Rc<RefCell<Vec<Request>>> = Rc::default();
    let recorder = Rc::clone(&seen);
    let mut host = TestHost::new().http(move |request| {
        recorder.borrow_mut().push(request.clone());
        if request.url.contains("down") {
            return Err(HttpError::Connect("connection refused".into()));
        }
        Ok(Response::new(201, r#"{"id": 7}"#).with_header("Content-Type", "application/json"))
    });
    let run = host.run(
        |_| {
            let response = http::send(
                Request::post("https://api.example.com/orders")
                    .header("authorization", "Bearer t")
                    .json(&json!({"order": 42}))
                    .timeout(Duration::from_millis(1500)),
            )?;
            assert!(response.is_success());
            assert_eq!(response.header("content-type"), Some("application/json"));
            assert_eq!(response.json::<serde_json::Value>()?["id"], 7);
            assert_eq!(response.text()?, r#"{"id": 7}"#);
            assert_eq!(
                http::send(Request::get("http://down.example.com/")),
                Err(HttpError::Connect("connection refused".into()))
            );
            assert!(matches!(http::send(Request::get("ftp://example.com/")), Err(HttpError::Invalid(_))));
            Ok(())
        },
        delivery(&order_event()),
    );
    assert_eq!(run.result, Ok(()));
    let seen = seen.borrow();
    assert_eq!(seen.len(), 2, "the invalid URL never reaches the host");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].header_value("authorization"), Some("Bearer t"));
    assert_eq!(seen[0].header_value("content-type"), Some("application/json"));
    assert_eq!(seen[0].body_str(), Some(r#"{"order":42}"#));
    assert_eq!(seen[0].timeout, Some(Duration::from_millis(1500)));
}

#[test]
fn http_is_denied_without_a_grant() {
    let run = TestHost::new().run(
        |_| {
            let error = http::send(Request::get("https://example.com/")).unwrap_err();
            assert!(matches!(error, HttpError::Denied(_)), "{error:?}");
            Err(error.into())
        },
        delivery(&order_event()),
    );
    assert!(run.result.unwrap_err().message().starts_with("HTTP request denied"));
}

#[test]
fn a_panicking_handler_leaves_the_host_usable() {
    let mut host = TestHost::new().with_kv();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        host.run(
            |_| {
                kv::set("k", b"v")?;
                panic!("boom")
            },
            delivery(&order_event()),
        )
    }));
    assert!(panicked.is_err());
    let run = host.run(|_| Ok(()), delivery(&order_event()));
    assert_eq!(run.kv["k"], b"v");
}

#[test]
#[should_panic(expected = "outside TestHost::run")]
fn host_calls_outside_a_run_panic() {
    let _ = config::get("a");
}
