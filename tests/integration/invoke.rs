//! The Wasm host against real consumer components built from tests/consumers: every behaviour is
//! contained, classified and reported, and the next delivery on the same host is served normally.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard::invoke::{
    AllocationMode, Consumer, Delivery, Grants, Host, HostConfig, HostRule, KvHandle, Limits, LoadProblem, MemoryKv,
    Outcome, OutcomeKind, TargetSpec,
};
use switchyard_tests::http_stub::HttpStub;

/// A consumer built by tests/build.rs.
pub fn wasm(name: &str) -> PathBuf {
    PathBuf::from(env!("SWITCHYARD_WASM_DIR")).join(format!("{name}.wasm"))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap())
}

/// One host for the whole test binary, as in the router: pooling allocator, no cache.
fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        Host::new(HostConfig { max_concurrency: 32, cache_dir: None, ..HostConfig::default() }).expect("host")
    })
}

fn load(name: &str) -> Consumer {
    host().load(&wasm(name), None).unwrap_or_else(|e| panic!("{e}"))
}

fn order_event() -> Value {
    json!({
        "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "OrderPlaced",
        "source": "shop.orders", "account": "111122223333", "time": "2026-11-22T10:00:00Z",
        "region": "eu-west-1", "resources": [],
        "detail": {"order_id": "o-1", "total": 12.5}
    })
}

fn delivery(payload: &Value) -> Delivery {
    Delivery {
        event_id: payload["id"].as_str().unwrap_or("e-1").into(),
        source: payload["source"].as_str().unwrap_or("test").into(),
        detail_type: payload["detail-type"].as_str().unwrap_or("Test").into(),
        rule: "test-rule".into(),
        target: "test-target".into(),
        attempt: 1,
        payload: serde_json::to_vec(payload).unwrap(),
    }
}

fn target(config: &[(&str, &str)], limits: Limits, grants: Grants) -> Arc<TargetSpec> {
    Arc::new(TargetSpec {
        config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        limits,
        grants,
    })
}

fn invoke(consumer: &Consumer, target: &Arc<TargetSpec>, payload: &Value) -> Outcome {
    runtime().block_on(consumer.invoke(target, delivery(payload)))
}

fn short(timeout_ms: u64) -> Limits {
    Limits { timeout: Duration::from_millis(timeout_ms), ..Limits::default() }
}

/// After whatever happened, the same host still serves a well-behaved consumer.
fn next_delivery_is_served() {
    let outcome = invoke(&load("c_ok"), &target(&[], Limits::default(), Grants::default()), &order_event());
    assert_eq!(outcome.kind, OutcomeKind::Ok, "{outcome:?}");
}

struct Case {
    consumer: &'static str,
    config: &'static [(&'static str, &'static str)],
    limits: fn() -> Limits,
    expect: OutcomeKind,
    /// Substrings the outcome's message must contain.
    message: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case { consumer: "c_ok", config: &[], limits: Limits::default, expect: OutcomeKind::Ok, message: &[] },
    Case {
        consumer: "c_retryable",
        config: &[],
        limits: Limits::default,
        expect: OutcomeKind::Retryable,
        message: &["invalid digit"],
    },
    Case {
        consumer: "c_permanent",
        config: &[],
        limits: Limits::default,
        expect: OutcomeKind::Permanent,
        message: &["order 42 is cancelled"],
    },
    Case {
        consumer: "c_trap",
        config: &[],
        limits: Limits::default,
        expect: OutcomeKind::Trap,
        message: &["unreachable", "c_trap"],
    },
    Case {
        consumer: "c_panic",
        config: &[],
        limits: Limits::default,
        expect: OutcomeKind::Trap,
        message: &["consumer panicked on purpose"],
    },
    Case {
        consumer: "c_loop",
        config: &[],
        limits: || short(100),
        expect: OutcomeKind::Timeout,
        message: &["time limit of 100 ms"],
    },
    Case {
        consumer: "c_sleep",
        config: &[],
        limits: || short(100),
        expect: OutcomeKind::Timeout,
        message: &["time limit of 100 ms"],
    },
    Case {
        consumer: "c_alloc",
        config: &[],
        limits: || Limits { memory_bytes: 32 << 20, ..Limits::default() },
        expect: OutcomeKind::OutOfMemory,
        message: &["over its limit of 32 MiB"],
    },
    Case {
        consumer: "c_recurse",
        config: &[],
        limits: Limits::default,
        expect: OutcomeKind::StackOverflow,
        message: &["exhausted its"],
    },
    Case {
        consumer: "c_read_file",
        config: &[],
        limits: Limits::default,
        expect: OutcomeKind::Permanent,
        message: &["/etc/passwd"],
    },
    Case {
        consumer: "c_socket",
        config: &[("addr", "127.0.0.1:9")],
        limits: Limits::default,
        expect: OutcomeKind::Permanent,
        message: &["127.0.0.1:9"],
    },
    Case {
        consumer: "c_http",
        config: &[("url", "http://127.0.0.1:9/")],
        limits: Limits::default,
        expect: OutcomeKind::Permanent,
        message: &["denied"],
    },
];

#[test]
fn every_behaviour_is_contained_and_classified() {
    for case in CASES {
        let consumer = load(case.consumer);
        let outcome = invoke(&consumer, &target(case.config, (case.limits)(), Grants::default()), &order_event());
        assert_eq!(outcome.kind, case.expect, "{}: {outcome:#?}", case.consumer);
        for needle in case.message {
            assert!(
                outcome.message.contains(needle),
                "{}: message {:?} lacks {needle:?}",
                case.consumer,
                outcome.message
            );
        }
        if case.expect != OutcomeKind::Ok {
            assert!(outcome.emitted.is_empty(), "{}: a failed delivery emits nothing", case.consumer);
        }
        next_delivery_is_served();
    }
}

#[test]
fn a_deadline_fires_close_to_its_time_in_wasm_and_in_host_calls() {
    for name in ["c_loop", "c_sleep"] {
        let outcome = invoke(&load(name), &target(&[], short(100), Grants::default()), &order_event());
        assert_eq!(outcome.kind, OutcomeKind::Timeout, "{name}: {outcome:?}");
        // Correctness, not speed: the deadline neither fires early nor is missed by far.
        assert!(outcome.duration >= Duration::from_millis(100), "{name} stopped early: {:?}", outcome.duration);
        assert!(outcome.duration < Duration::from_millis(1000), "{name} stopped late: {:?}", outcome.duration);
    }
}

#[test]
fn a_panic_leaves_its_message_in_stderr() {
    let outcome = invoke(&load("c_panic"), &target(&[], Limits::default(), Grants::default()), &order_event());
    assert!(outcome.stderr.contains("consumer panicked on purpose"), "{outcome:?}");
}

#[test]
fn emitting_is_held_to_the_quota() {
    let limits = Limits { emit_max_events: 3, ..Limits::default() };
    let outcome = invoke(&load("c_emit_flood"), &target(&[], limits, Grants::default()), &order_event());
    assert_eq!(outcome.kind, OutcomeKind::Ok, "{outcome:?}");
    assert_eq!(outcome.emitted.len(), 3);
    let limits = Limits { emit_max_bytes: 100, ..Limits::default() };
    let outcome = invoke(&load("c_emit_flood"), &target(&[], limits, Grants::default()), &order_event());
    assert!(
        outcome.emitted.iter().map(|e| e.source.len() + e.detail_type.len() + e.detail.len()).sum::<usize>() <= 100
    );
    next_delivery_is_served();
}

#[test]
fn echo_sees_metadata_config_payload_and_logs() {
    let event = order_event();
    let outcome = invoke(
        &load("c_echo"),
        &target(&[("greeting", "hello"), ("kv", "0")], Limits::default(), Grants::default()),
        &event,
    );
    assert_eq!(outcome.kind, OutcomeKind::Ok, "{outcome:?}");
    assert_eq!(outcome.emitted.len(), 1);
    let emitted = &outcome.emitted[0];
    assert_eq!((emitted.source.as_str(), emitted.detail_type.as_str()), ("test.echo", "Echo"));
    let detail: Value = serde_json::from_str(&emitted.detail).unwrap();
    assert_eq!(detail["payload"], event);
    assert_eq!(detail["metadata"]["event_id"], event["id"]);
    assert_eq!(detail["metadata"]["rule"], "test-rule");
    assert_eq!(detail["metadata"]["attempt"], 1);
    assert!(detail["metadata"]["deadline_unix_ms"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(detail["config"]["greeting"], "hello");
    let levels: Vec<_> = outcome.logs.iter().map(|l| format!("{:?}", l.level)).collect();
    assert_eq!(levels, ["Trace", "Debug", "Info", "Warn", "Error"], "{:?}", outcome.logs);
    assert!(!outcome.logs[2].fields.is_empty());
    assert!(!outcome.stdout.is_empty() && !outcome.stderr.is_empty(), "{outcome:?}");
}

#[test]
fn key_value_store_persists_across_deliveries_only_when_granted() {
    let store = Arc::new(MemoryKv::default());
    let grants = Grants { kv: Some(KvHandle::new(store.clone(), "echo")), ..Grants::default() };
    let granted = target(&[("kv", "1")], Limits::default(), grants);
    let consumer = load("c_echo");
    for expected in [1, 2, 3] {
        let outcome = invoke(&consumer, &granted, &order_event());
        assert_eq!(outcome.kind, OutcomeKind::Ok, "{outcome:?}");
        let detail: Value = serde_json::from_str(&outcome.emitted[0].detail).unwrap();
        assert_eq!(detail["count"], expected);
    }
    assert_eq!(store.entries("echo"), vec![("count".to_string(), b"3".to_vec())]);
    let outcome = invoke(&consumer, &target(&[("kv", "1")], Limits::default(), Grants::default()), &order_event());
    assert_ne!(outcome.kind, OutcomeKind::Ok, "without the grant the kv call fails: {outcome:?}");
    assert!(outcome.message.contains("does not grant a key-value store"), "{outcome:?}");
}

#[test]
fn http_reaches_only_allowed_hosts() {
    let server = HttpStub::start(200);
    let url = server.url("/hook");
    let config = [("url", url.as_str())];
    let consumer = load("c_http");
    let allowed = Grants { http: vec![HostRule::parse(&server.authority()).unwrap()], ..Grants::default() };
    let outcome = invoke(&consumer, &target(&config, Limits::default(), allowed.clone()), &order_event());
    assert_eq!(outcome.kind, OutcomeKind::Ok, "{outcome:?}");
    assert_eq!(server.received().len(), 1);
    server.set_reply(503, "busy", Duration::ZERO);
    let outcome = invoke(&consumer, &target(&config, Limits::default(), allowed), &order_event());
    assert_eq!(outcome.kind, OutcomeKind::Retryable, "{outcome:?}");
    // Same server, another port on the list: denied, and the server sees nothing.
    let other = Grants { http: vec![HostRule::parse("127.0.0.1:1").unwrap()], ..Grants::default() };
    let outcome = invoke(&consumer, &target(&config, Limits::default(), other), &order_event());
    assert_eq!(outcome.kind, OutcomeKind::Permanent, "{outcome:?}");
    assert!(outcome.message.contains("denied"), "{outcome:?}");
    assert_eq!(server.received().len(), 2);
}

#[test]
fn a_slow_http_server_cannot_hold_a_delivery_past_its_deadline() {
    let server = HttpStub::start(200);
    server.set_reply(200, "{}", Duration::from_secs(3));
    let url = server.url("/slow");
    let allowed = Grants { http: vec![HostRule::parse(&server.authority()).unwrap()], ..Grants::default() };
    let outcome = invoke(&load("c_http"), &target(&[("url", url.as_str())], short(300), allowed), &order_event());
    assert!(outcome.kind.is_retryable(), "{outcome:?}");
    assert!(outcome.duration < Duration::from_secs(2), "{:?}", outcome.duration);
}

#[test]
fn many_deliveries_at_once_hostile_and_not() {
    let names = ["c_ok", "c_trap", "c_loop", "c_alloc", "c_echo", "c_panic", "c_permanent", "c_recurse"];
    let consumers: Vec<Consumer> = names.iter().map(|n| load(n)).collect();
    // Generous time: 32 deliveries share two cores, and the allocating ones must reach their cap.
    let limits = Limits { timeout: Duration::from_millis(1500), memory_bytes: 32 << 20, ..Limits::default() };
    let spec = target(&[], limits, Grants::default());
    let outcomes = runtime().block_on(async {
        let mut tasks = Vec::new();
        for round in 0..4 {
            for (i, consumer) in consumers.iter().enumerate() {
                let (consumer, spec) = (consumer.clone(), spec.clone());
                let mut d = delivery(&order_event());
                d.attempt = round + 1;
                tasks.push(tokio::spawn(async move { (i, consumer.invoke(&spec, d).await) }));
            }
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        outcomes
    });
    let expected = [
        OutcomeKind::Ok,
        OutcomeKind::Trap,
        OutcomeKind::Timeout,
        OutcomeKind::OutOfMemory,
        OutcomeKind::Ok,
        OutcomeKind::Trap,
        OutcomeKind::Permanent,
        OutcomeKind::StackOverflow,
    ];
    for (i, outcome) in outcomes {
        assert_eq!(outcome.kind, expected[i], "{}: {outcome:?}", names[i]);
    }
}

#[test]
fn load_errors_name_the_file_and_the_problem() {
    let dir = std::env::temp_dir().join(format!("switchyard-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    let core = dir.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let wrong_pin = "ab".repeat(32);
    type Case<'a> = (PathBuf, Option<&'a str>, fn(&LoadProblem) -> bool, &'a str);
    let cases: Vec<Case> = vec![
        (dir.join("missing.wasm"), None, |p| matches!(p, LoadProblem::Read(_)), "cannot be read"),
        (text.clone(), None, |p| *p == LoadProblem::NotWasm, "not a WebAssembly file"),
        (core.clone(), None, |p| *p == LoadProblem::CoreModule, "core WebAssembly module"),
        (wasm("c_wrong_version"), None, |p| matches!(p, LoadProblem::WrongVersion { .. }), "@0.2.0"),
        (wasm("c-command"), None, |p| matches!(p, LoadProblem::MissingExport { .. }), "wasi:cli/run"),
        (wasm("c_ok"), Some("00"), |p| matches!(p, LoadProblem::BadPin(_)), "64 hexadecimal digits"),
        (wasm("c_ok"), Some(&wrong_pin), |p| matches!(p, LoadProblem::Sha256Mismatch { .. }), "sha256 mismatch"),
    ];
    for (path, pin, is_expected, text) in cases {
        let error = host().load(&path, pin).expect_err("the load must fail");
        assert!(is_expected(&error.problem), "{}: {:?}", path.display(), error.problem);
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()) && message.contains(text), "{message}");
    }
    let good = host().load(&wasm("c_ok"), None).unwrap();
    host().load(&wasm("c_ok"), Some(&good.sha256().to_uppercase())).expect("a correct pin loads, in any case");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compiled_modules_are_cached_and_bad_entries_recompiled() {
    let dir = std::env::temp_dir().join(format!("switchyard-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = HostConfig {
        cache_dir: Some(dir.clone()),
        allocation: AllocationMode::OnDemand,
        max_concurrency: 4,
        ..HostConfig::default()
    };
    let host = Host::new(config.clone()).unwrap();
    let first = host.load(&wasm("c_ok"), None).unwrap();
    assert!(!first.from_cache());
    let second = host.load(&wasm("c_ok"), None).unwrap();
    assert!(second.from_cache());
    let spec = target(&[], Limits::default(), Grants::default());
    assert_eq!(runtime().block_on(second.invoke(&spec, delivery(&order_event()))).kind, OutcomeKind::Ok);
    // A corrupt entry (here: one flipped byte) is detected and compiled again.
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let third = host.load(&wasm("c_ok"), None).unwrap();
    assert!(!third.from_cache());
    assert_eq!(runtime().block_on(third.invoke(&spec, delivery(&order_event()))).kind, OutcomeKind::Ok);
    // An entry of another engine configuration is not found, so not trusted: a fuel-counting
    // engine compiles its own.
    let fuel = Host::new(HostConfig { fuel: true, ..config }).unwrap();
    assert!(!fuel.load(&wasm("c_ok"), None).unwrap().from_cache());
    assert!(host.load(&wasm("c_ok"), None).unwrap().from_cache());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fuel_budget_stops_a_busy_consumer() {
    let host = Host::new(HostConfig {
        fuel: true,
        cache_dir: None,
        allocation: AllocationMode::OnDemand,
        ..HostConfig::default()
    })
    .unwrap();
    let consumer = host.load(&wasm("c_loop"), None).unwrap();
    let limits = Limits { fuel: Some(1_000_000), ..Limits::default() };
    let outcome =
        runtime().block_on(consumer.invoke(&target(&[], limits, Grants::default()), delivery(&order_event())));
    assert_eq!(outcome.kind, OutcomeKind::Timeout, "{outcome:?}");
    assert!(outcome.message.contains("fuel"), "{outcome:?}");
}

mod cli {
    //! `switchyard invoke`, run as a real process: the command-line contract.

    use std::io::Write;
    use std::process::{Command, Output, Stdio};

    use serde_json::Value;
    use switchyard_tests::http_stub::HttpStub;
    use switchyard_tests::switchyard_bin;

    use super::{order_event, wasm};

    fn invoke(args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(switchyard_bin())
            .arg("invoke")
            .args(args)
            .arg("--no-cache")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("switchyard starts");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    /// The one JSON line of a produced outcome (exit code 0).
    fn line(output: &Output) -> Value {
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let text = String::from_utf8(output.stdout.clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: Value = serde_json::from_str(&text).unwrap();
        for key in ["outcome", "message", "emitted", "logs", "duration_us"] {
            assert!(line.get(key).is_some(), "{key} missing from {line}");
        }
        line
    }

    fn module(name: &str) -> String {
        wasm(name).display().to_string()
    }

    #[test]
    fn outcomes_are_one_json_line_with_exit_code_zero() {
        let event = serde_json::to_vec(&order_event()).unwrap();
        let dir = std::env::temp_dir().join(format!("switchyard-invoke-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let event_file = dir.join("event.json");
        std::fs::write(&event_file, &event).unwrap();
        let event_path = event_file.display().to_string();

        let echo =
            line(&invoke(&["--module", &module("c_echo"), "--event", &event_path, "--config", "greeting=hi"], b""));
        assert_eq!(echo["outcome"], "ok");
        assert_eq!(echo["emitted"][0]["detail"]["config"]["greeting"], "hi");
        assert_eq!(echo["emitted"][0]["detail"]["payload"], order_event());
        assert_eq!(echo["logs"][2]["level"], "info");
        assert!(echo["duration_us"].as_u64().unwrap() > 0);

        // The payload from stdin; the event's id becomes the delivery's event id.
        let stdin = line(&invoke(&["--module", &module("c_echo")], &event));
        assert_eq!(stdin["emitted"][0]["detail"]["metadata"]["event_id"], order_event()["id"]);

        let cases: &[(&str, &[&str], &str)] = &[
            ("c_trap", &[], "trap"),
            ("c_retryable", &[], "retryable"),
            ("c_permanent", &[], "permanent"),
            ("c_loop", &["--timeout-ms", "50"], "timeout"),
            ("c_alloc", &["--memory-mb", "16"], "out_of_memory"),
            ("c_recurse", &[], "stack_overflow"),
            ("c_loop", &["--fuel", "100000"], "timeout"),
        ];
        for (name, extra, expected) in cases {
            let mut args = vec!["--module".to_string(), module(name), "--event".into(), event_path.clone()];
            args.extend(extra.iter().map(|s| s.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let result = line(&invoke(&args, b""));
            assert_eq!(result["outcome"], *expected, "{name}: {result}");
            assert!(!result["message"].as_str().unwrap().is_empty(), "{name}: {result}");
        }

        // A key-value file, and the router's durable store in a data directory, carry the store
        // from one run to the next.
        let kv_path = dir.join("kv.json").display().to_string();
        let data_path = dir.join("data").display().to_string();
        for (option, path) in [("--kv-file", &kv_path), ("--data-dir", &data_path)] {
            for expected in [1, 2, 3] {
                let echo = module("c_echo");
                let args =
                    ["--module", &echo, "--event", &event_path, "--config", "kv=1", option, path, "--target", "echo"];
                let result = line(&invoke(&args, b""));
                assert_eq!(result["emitted"][0]["detail"]["count"], expected, "{option}: {result}");
            }
        }
        let saved: Value = serde_json::from_slice(&std::fs::read(&kv_path).unwrap()).unwrap();
        assert_eq!(saved["echo"]["count"], "3");

        // HTTP only to hosts given with --allow-http.
        let server = HttpStub::start(200);
        let url = format!("url={}", server.url("/"));
        let denied = line(&invoke(&["--module", &module("c_http"), "--config", &url], b"{}"));
        assert_eq!(denied["outcome"], "permanent", "{denied}");
        let allowed = line(&invoke(
            &["--module", &module("c_http"), "--config", &url, "--allow-http", &server.authority()],
            b"{}",
        ));
        assert_eq!(allowed["outcome"], "ok", "{allowed}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_module_that_cannot_load_is_a_non_zero_exit_naming_the_file() {
        let cases: Vec<(Vec<String>, &str)> = vec![
            (vec!["--module".into(), "/nonexistent/x.wasm".into()], "/nonexistent/x.wasm: cannot be read"),
            (vec!["--module".into(), module("c-command")], "does not export switchyard:consumer/handler@0.1.0"),
            (vec!["--module".into(), module("c_wrong_version")], "switchyard:consumer/handler@0.2.0"),
            (vec!["--module".into(), module("c_ok"), "--sha256".into(), "0".repeat(64)], "sha256 mismatch"),
            (vec!["--module".into(), module("c_ok"), "--config".into(), "novalue".into()], "expected KEY=VALUE"),
            (vec!["--module".into(), module("c_ok"), "--allow-http".into(), "http://x/".into()], "not a URL"),
        ];
        for (args, expected) in cases {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = invoke(&args, b"{}");
            assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
            assert!(output.stdout.is_empty(), "{args:?}");
            let stderr = String::from_utf8(output.stderr).unwrap();
            assert!(stderr.contains(expected), "{args:?}: {stderr}");
        }
    }
}

#[test]
fn a_target_cannot_have_more_memory_than_the_host_allows() {
    let config =
        HostConfig { max_memory_bytes: 16 << 20, max_concurrency: 2, cache_dir: None, ..HostConfig::default() };
    let host = Host::new(config).unwrap();
    let consumer = host.load(&wasm("c_alloc"), None).unwrap();
    let limits = Limits { memory_bytes: 1 << 30, ..Limits::default() };
    let outcome =
        runtime().block_on(consumer.invoke(&target(&[], limits, Grants::default()), delivery(&order_event())));
    assert_eq!(outcome.kind, OutcomeKind::OutOfMemory, "{outcome:?}");
    assert!(outcome.message.contains("over its limit of 16 MiB"), "{outcome:?}");
}
