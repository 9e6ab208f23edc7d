//! The admin API for dead letters, over raw HTTP/1.1 on 127.0.0.1: authentication, listing with
//! filters, one letter, redrive, purge, and the errors of malformed requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use serde_json::Value;
use switchyard::delivery::embedded::EmbeddedStore;
use switchyard::delivery::store::{DeliveryStore, DlqFilter};
use tokio::sync::watch;

use crate::pipeline::{data_dir, runtime, three_dead_letters};

/// Sends one request and returns (status, body as JSON).
fn call(port: u16, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: admin\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body.trim()).unwrap_or(Value::Null))
}

#[test]
fn dead_letters_over_http() {
    let runtime = runtime();
    let store = Arc::new(EmbeddedStore::open(&data_dir("admin")).unwrap());
    three_dead_letters(&runtime, &store);

    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = watch::channel(false);
    let server = runtime.spawn(switchyard::admin::serve(listener, store.clone(), Some("s3cret".into()), stopped));
    let token = Some("s3cret");

    assert_eq!(call(port, "GET", "/dlq", None, "").0, 401);
    assert_eq!(call(port, "GET", "/dlq", Some("wrong"), "").0, 401);
    let (status, all) = call(port, "GET", "/dlq", token, "");
    assert_eq!(status, 200);
    assert_eq!(all["count"], 3);
    let (_, crash) = call(port, "GET", "/dlq?rule=crash", token, "");
    assert_eq!(crash["count"], 1);
    assert_eq!(crash["dead_letters"][0]["error_code"], "TRAP");
    let (_, codes) = call(port, "GET", "/dlq?error_code=CONSUMER_PERMANENT&limit=1", token, "");
    assert_eq!(codes["count"], 1);
    let (_, future) = call(port, "GET", "/dlq?since=2999-01-01T00:00:00Z", token, "");
    assert_eq!(future["count"], 0);
    let id = crash["dead_letters"][0]["id"].as_u64().unwrap();
    let (status, one) = call(port, "GET", &format!("/dlq/{id}"), token, "");
    assert_eq!((status, one["event_id"].as_str()), (200, Some("e-3")));

    // Malformed requests: each a 4xx naming the problem.
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("GET", "/dlq/999999", "", 404, "no dead letter 999999"),
        ("GET", "/dlq/abc", "", 400, "not a dead-letter id"),
        ("GET", "/dlq?colour=red", "", 400, "unknown query parameter"),
        ("GET", "/dlq?since=yesterday", "", 400, "neither ms since the epoch"),
        ("DELETE", "/dlq", "", 405, "does not accept DELETE"),
        ("GET", "/nothing", "", 404, "no such admin resource"),
        ("POST", "/dlq/redrive", "not json", 400, "the body must be"),
        ("POST", "/dlq/purge", r#"{"rule": "x", "all": true}"#, 400, "exactly one"),
        ("POST", "/dlq/purge", r#"{"everything": true}"#, 400, "unknown field"),
    ];
    for (method, path, body, status, message) in cases {
        let (got, answer) = call(port, method, path, token, body);
        assert_eq!(got, *status, "{method} {path}: {answer}");
        assert!(answer["error"].as_str().unwrap_or_default().contains(message), "{method} {path}: {answer}");
    }

    let (status, purged) = call(port, "POST", "/dlq/purge", token, r#"{"rule": "crash"}"#);
    assert_eq!((status, purged["purged"].as_u64()), (200, Some(1)));
    let (_, redriven) = call(port, "POST", "/dlq/redrive", token, r#"{"all": true}"#);
    assert_eq!(redriven["redriven"], 2);
    let (_, again) = call(port, "POST", "/dlq/redrive", token, r#"{"all": true}"#);
    assert_eq!(again["redriven"], 0, "redrive is idempotent");
    assert_eq!(store.stats().unwrap().pending, 2);
    assert!(store.dlq_list(&DlqFilter::default()).unwrap().is_empty());
    stop.send(true).unwrap();
    runtime.block_on(server).unwrap();
}
