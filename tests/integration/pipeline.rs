//! The pipeline end to end in one process: accept → durable deliveries in the embedded store →
//! real consumers → complete, retry or dead-letter; emitted events re-entering with their hop count;
//! redrive; restart.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::delivery::embedded::EmbeddedStore;
use switchyard::delivery::policy::RetryPolicy;
use switchyard::delivery::store::{DeliveryStore, DlqFilter, Exhausted};
use switchyard::invoke::{Grants, Host, HostConfig, Limits, TargetSpec};
use switchyard::pipeline::{Pipeline, PipelineConfig, Routes, RuleConfig, TargetConfig};
use switchyard::transform::TargetInput;
use tokio::sync::watch;

use crate::invoke::wasm;

pub(crate) fn host() -> Host {
    Host::new(HostConfig { max_concurrency: 8, cache_dir: None, ..HostConfig::default() }).unwrap()
}

pub(crate) fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-pipeline-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub(crate) fn fast_retries(retries: u32) -> RetryPolicy {
    RetryPolicy {
        maximum_retry_attempts: retries,
        maximum_event_age_seconds: 3600,
        backoff_base_ms: 10,
        backoff_cap_ms: 20,
    }
}

pub(crate) fn target(host: &Host, id: &str, module: &str, retry: RetryPolicy) -> TargetConfig {
    TargetConfig {
        id: id.into(),
        consumer: host.load(&wasm(module), None).unwrap(),
        spec: Arc::new(TargetSpec {
            config: vec![],
            limits: Limits { timeout: Duration::from_secs(2), ..Limits::default() },
            grants: Grants::default(),
        }),
        input: TargetInput::default(),
        retry,
        concurrency: 4,
        dead_letter_retention: None,
    }
}

pub(crate) fn rule(name: &str, source: &str, targets: Vec<TargetConfig>) -> RuleConfig {
    RuleConfig { name: name.into(), pattern: json!({ "source": [source] }).to_string(), targets, ..Default::default() }
}

pub(crate) fn event(id: &str, source: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "version": "0", "id": id, "detail-type": "Test", "source": source, "account": "111122223333",
        "time": "2026-11-22T10:00:00Z", "region": "eu-west-1", "resources": [], "detail": {"n": 1}
    }))
    .unwrap()
}

/// Runs the delivery loop until `done` holds (or 20 s pass), then stops it.
pub(crate) fn run_until(
    runtime: &tokio::runtime::Runtime,
    pipeline: &Arc<Pipeline>,
    done: impl Fn(&Arc<Pipeline>) -> bool,
) {
    let (stop, stopped) = watch::channel(false);
    let task = runtime.spawn(pipeline.clone().run(stopped, Duration::from_secs(5)));
    let start = Instant::now();
    while !done(pipeline) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the pipeline did not finish: {:?}",
            pipeline.store().stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.send(true).unwrap();
    runtime.block_on(task).unwrap();
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

pub(crate) fn idle(pipeline: &Arc<Pipeline>) -> bool {
    pipeline.store().stats().unwrap().pending == 0
}

/// A pipeline over `store` with `rules`, after accepting `events` ((id, source) pairs) and running
/// until nothing is pending.
pub(crate) fn deliver(
    runtime: &tokio::runtime::Runtime,
    store: &Arc<EmbeddedStore>,
    rules: Vec<RuleConfig>,
    events: &[(&str, &str)],
) -> Arc<Pipeline> {
    let config = PipelineConfig::default();
    let pipeline = Pipeline::new(store.clone(), Routes::build(rules, &config).unwrap(), config);
    for (id, source) in events {
        runtime.block_on(pipeline.accept(event(id, source))).unwrap();
    }
    run_until(runtime, &pipeline, idle);
    pipeline
}

/// Three dead letters in `store`: events e-1 and e-2 refused for good (rule `refuse`), e-3 trapped
/// (rule `crash`).
pub(crate) fn three_dead_letters(runtime: &tokio::runtime::Runtime, store: &Arc<EmbeddedStore>) {
    let host = host();
    let rules = vec![
        rule("refuse", "a", vec![target(&host, "perm", "c_permanent", fast_retries(0))]),
        rule("crash", "b", vec![target(&host, "trap", "c_trap", fast_retries(0))]),
    ];
    deliver(runtime, store, rules, &[("e-1", "a"), ("e-2", "a"), ("e-3", "b")]);
}

#[test]
fn delivers_and_routes_what_consumers_emit() {
    let runtime = runtime();
    let host = host();
    let store = Arc::new(EmbeddedStore::open(&data_dir("emit")).unwrap());
    let rules = vec![
        rule("orders", "shop.orders", vec![target(&host, "echo", "c_echo", RetryPolicy::default())]),
        rule("echoes", "test.echo", vec![target(&host, "sink", "c_ok", RetryPolicy::default())]),
    ];
    let config = PipelineConfig::default();
    let pipeline = Pipeline::new(store.clone(), Routes::build(rules, &config).unwrap(), config);
    let accepted = runtime.block_on(pipeline.accept(event("e-1", "shop.orders"))).unwrap();
    assert_eq!(accepted.deliveries, 1);
    // An event that matches nothing is not stored.
    assert_eq!(runtime.block_on(pipeline.accept(event("e-2", "nobody.listens"))).unwrap().deliveries, 0);
    run_until(&runtime, &pipeline, |p| {
        idle(p) && p.metrics().emitted_events.load(std::sync::atomic::Ordering::Relaxed) == 1
    });
    run_until(&runtime, &pipeline, idle);
    let metrics = pipeline.metrics().prometheus();
    assert!(metrics.contains("switchyard_matched_events_total 2"), "{metrics}");
    assert!(metrics.contains("switchyard_invocations_total 2"), "{metrics}");
    assert!(metrics.contains("switchyard_invocations_sent_to_dlq_total 0"), "{metrics}");
    assert!(store.dlq_list(&DlqFilter::default()).unwrap().is_empty());
}

#[test]
fn failures_are_retried_then_dead_lettered_with_everything_kept() {
    let runtime = runtime();
    let host = host();
    let store = Arc::new(EmbeddedStore::open(&data_dir("dlq")).unwrap());
    let rules = vec![
        rule("retry", "a", vec![target(&host, "flaky", "c_retryable", fast_retries(2))]),
        rule("perm", "b", vec![target(&host, "refuses", "c_permanent", fast_retries(5))]),
        rule("crash", "c", vec![target(&host, "panics", "c_panic", fast_retries(5))]),
    ];
    let pipeline = deliver(&runtime, &store, rules, &[("e-a", "a"), ("e-b", "b"), ("e-c", "c")]);
    let letters = store.dlq_list(&DlqFilter::default()).unwrap();
    assert_eq!(letters.len(), 3, "{letters:#?}");
    let by_rule = |rule: &str| letters.iter().find(|l| l.delivery.new.rule == rule).unwrap();
    let metrics = pipeline.prometheus();
    assert!(metrics.contains("switchyard_dead_letters{rule=\"retry\"} 1"), "{metrics}");
    assert!(metrics.contains("switchyard_invocations_sent_to_dlq_total 3"), "{metrics}");
    assert!(metrics.contains("switchyard_retry_invocation_attempts_total 2"), "{metrics}");
    assert!(metrics.contains("switchyard_retry_queue_depth 0"), "{metrics}");
    let retry = by_rule("retry");
    assert_eq!(
        (retry.error.code.as_str(), retry.delivery.attempts, retry.exhausted),
        ("CONSUMER_RETRYABLE", 3, Some(Exhausted::MaximumRetryAttempts))
    );
    assert!(retry.delivery.first_attempt_at_ms.unwrap() < retry.delivery.last_attempt_at_ms.unwrap());
    let original: Value = serde_json::from_slice(&retry.delivery.new.event).unwrap();
    assert_eq!(original["id"], "e-a");
    assert_eq!(
        retry.input.as_deref(),
        Some(retry.delivery.new.event.as_slice()),
        "the input of a target without a transform is the event"
    );
    let perm = by_rule("perm");
    assert_eq!((perm.error.code.as_str(), perm.delivery.attempts, perm.exhausted), ("CONSUMER_PERMANENT", 1, None));
    assert!(perm.error.message.contains("order 42 is cancelled"));
    let crash = by_rule("crash");
    assert_eq!((crash.error.code.as_str(), crash.delivery.attempts), ("TRAP", 1));
    assert!(crash.error.message.contains("consumer panicked on purpose"), "{}", crash.error.message);

    // Redrive: back into the queue with attempts reset, gone from the dead letters; it fails again
    // and comes back as a new dead letter after one attempt.
    let moved = runtime
        .block_on(
            store.redrive(DlqFilter { rule: Some("perm".into()), ..DlqFilter::default() }, switchyard::clock::now_ms()),
        )
        .unwrap();
    assert_eq!(moved, 1);
    assert_eq!(
        runtime.block_on(store.redrive(DlqFilter { ids: Some(vec![perm.id]), ..DlqFilter::default() }, 0)).unwrap(),
        0,
        "idempotent"
    );
    run_until(&runtime, &pipeline, idle);
    let again = store.dlq_list(&DlqFilter { rule: Some("perm".into()), ..DlqFilter::default() }).unwrap();
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].id, perm.id);
    assert_eq!(again[0].delivery.attempts, 1);
}

#[test]
fn emitted_loops_stop_at_the_hop_limit() {
    let runtime = runtime();
    let host = host();
    let store = Arc::new(EmbeddedStore::open(&data_dir("hops")).unwrap());
    // c-echo emits a test.echo event for every delivery, and this rule feeds those back to it.
    let rules = vec![
        rule("start", "shop.orders", vec![target(&host, "echo", "c_echo", RetryPolicy::default())]),
        rule("loop", "test.echo", vec![target(&host, "echo-again", "c_echo", RetryPolicy::default())]),
    ];
    let config = PipelineConfig { hop_limit: 3, ..PipelineConfig::default() };
    let pipeline = Pipeline::new(store.clone(), Routes::build(rules, &config).unwrap(), config);
    runtime.block_on(pipeline.accept(event("root", "shop.orders"))).unwrap();
    run_until(&runtime, &pipeline, |p| idle(p) && !p.store().dlq_list(&DlqFilter::default()).unwrap().is_empty());
    let letters = store.dlq_list(&DlqFilter::default()).unwrap();
    assert_eq!(letters.len(), 1, "{letters:#?}");
    assert_eq!(letters[0].error.code, "HOP_LIMIT_EXCEEDED");
    assert_eq!(letters[0].delivery.new.hop, 4);
    assert!(letters[0].delivery.new.causation.is_some());
}

#[test]
fn unfinished_deliveries_survive_a_restart_and_removed_rules_dead_letter() {
    let runtime = runtime();
    let host = host();
    let dir = data_dir("restart");
    let config = PipelineConfig::default();
    {
        let store = Arc::new(EmbeddedStore::open(&dir).unwrap());
        let rules = vec![rule("orders", "shop.orders", vec![target(&host, "sink", "c_ok", RetryPolicy::default())])];
        let pipeline = Pipeline::new(store, Routes::build(rules, &config).unwrap(), config.clone());
        for i in 0..20 {
            runtime.block_on(pipeline.accept(event(&format!("e-{i}"), "shop.orders"))).unwrap();
        }
        // Stopped before delivering anything.
    }
    let store = Arc::new(EmbeddedStore::open(&dir).unwrap());
    assert_eq!(store.stats().unwrap().pending, 20);
    // The restarted router no longer has rule `orders`: its deliveries are dead-lettered, not lost.
    let rules = vec![rule("other", "x", vec![target(&host, "sink", "c_ok", RetryPolicy::default())])];
    let pipeline = Pipeline::new(store.clone(), Routes::build(rules, &config).unwrap(), config.clone());
    run_until(&runtime, &pipeline, idle);
    let letters = store.dlq_list(&DlqFilter::default()).unwrap();
    assert_eq!(letters.len(), 20);
    assert!(letters.iter().all(|l| l.error.code == "NO_RESOURCE"));
}

#[test]
fn broken_rules_are_all_reported() {
    let host = host();
    let mut bad_retry = target(&host, "t", "c_ok", RetryPolicy::default());
    bad_retry.retry.maximum_retry_attempts = 999;
    let rules = vec![
        RuleConfig {
            name: "bad-pattern".into(),
            pattern: r#"{"source": "not-an-array"}"#.into(),
            ..Default::default()
        },
        rule("bad-retry", "x", vec![bad_retry]),
    ];
    let problems = Routes::build(rules, &PipelineConfig::default()).unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("rule bad-pattern: event pattern:"), "{problems:?}");
    assert!(problems[1].contains("between 0 and 185"), "{problems:?}");
}

#[test]
fn dlq_command_lists_shows_redrives_and_purges() {
    use std::process::{Command, Stdio};
    use switchyard_tests::switchyard_bin;

    let runtime = runtime();
    let dir = data_dir("cli");
    three_dead_letters(&runtime, &Arc::new(EmbeddedStore::open(&dir).unwrap()));
    let dlq = |args: &[&str]| {
        let output = Command::new(switchyard_bin())
            .arg("dlq")
            .args(args)
            .args(["--data-dir", dir.to_str().unwrap()])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
    };
    let (code, out, _) = dlq(&["list", "--json"]);
    assert_eq!(code, Some(0));
    let letters: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(letters.len(), 3);
    for field in [
        "id",
        "rule",
        "target",
        "event",
        "input",
        "error_code",
        "error_message",
        "attempts",
        "first_attempt_at",
        "last_attempt_at",
        "exhausted",
    ] {
        assert!(letters[0].get(field).is_some(), "{field} missing: {}", letters[0]);
    }
    let mut ids: Vec<&str> = letters.iter().map(|l| l["event"]["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["e-1", "e-2", "e-3"]);
    let (_, out, _) = dlq(&["list", "--json", "--rule", "crash"]);
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains("\"error_code\":\"TRAP\""), "{out}");
    let (_, table, _) = dlq(&["list"]);
    assert!(table.contains("CONSUMER_PERMANENT") && table.contains("3 dead letter(s)"), "{table}");

    let id = letters.iter().find(|l| l["event_id"] == "e-3").unwrap()["id"].as_u64().unwrap().to_string();
    let (code, shown, _) = dlq(&["show", &id]);
    assert_eq!(code, Some(0));
    assert_eq!(serde_json::from_str::<Value>(&shown).unwrap()["event_id"], "e-3");
    let (code, _, err) = dlq(&["show", "999999"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no dead letter 999999"), "{err}");

    // Purge refuses without --yes when not on a terminal, then purges one rule's letters.
    let (code, _, err) = dlq(&["purge", "--rule", "crash"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("--yes"), "{err}");
    let (code, out, _) = dlq(&["purge", "--rule", "crash", "--yes"]);
    assert_eq!((code, out.trim()), (Some(0), "purged 1 dead letter(s)"));

    // Redrive puts the rest back in the queue (delivered when the router next runs).
    let (code, out, _) = dlq(&["redrive", "--all"]);
    assert_eq!((code, out.trim()), (Some(0), "redrove 2 dead letter(s)"));
    let (_, out, _) = dlq(&["redrive", "--all"]);
    assert_eq!(out.trim(), "redrove 0 dead letter(s)");
    let store = EmbeddedStore::open(&dir).unwrap();
    assert_eq!(store.stats().unwrap().pending, 2);
    assert!(store.dlq_list(&DlqFilter::default()).unwrap().is_empty());
}

/// Rules see the events of their own bus only; a disabled rule matches nothing; an unknown bus is
/// an error of its own; a batch with an invalid event withholds the rest only when asked to.
#[test]
fn buses_disabled_rules_and_batches() {
    use switchyard::pipeline::AcceptError;
    let runtime = runtime();
    let host = host();
    let store = Arc::new(EmbeddedStore::open(&data_dir("buses")).unwrap());
    let on_bus = |name: &str, bus: &str, enabled: bool| RuleConfig {
        bus: bus.into(),
        enabled,
        ..rule(name, "shop.orders", vec![target(&host, "t", "c_ok", RetryPolicy::default())])
    };
    let rules = vec![on_bus("main", "default", true), on_bus("audit", "audit", true), on_bus("off", "default", false)];
    let config = PipelineConfig { buses: vec!["quiet".into()], ..PipelineConfig::default() };
    let pipeline = Pipeline::new(store.clone(), Routes::build(rules, &config).unwrap(), config);
    let deliveries = |bus: &str, events: Vec<Vec<u8>>, all_or_nothing: bool| {
        runtime
            .block_on(pipeline.accept_batch(bus, events, 0, None, all_or_nothing))
            .into_iter()
            .map(|r| r.map(|a| a.deliveries).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(deliveries("default", vec![event("d-1", "shop.orders")], false), [Ok(1)], "main, not off or audit");
    assert_eq!(deliveries("audit", vec![event("a-1", "shop.orders")], false), [Ok(1)]);
    assert_eq!(deliveries("quiet", vec![event("q-1", "shop.orders")], false), [Ok(0)], "a configured bus");
    assert!(pipeline.has_bus("quiet") && !pipeline.has_bus("nowhere"));
    let unknown = runtime.block_on(pipeline.accept_batch("nowhere", vec![event("n-1", "shop.orders")], 0, None, false));
    assert!(matches!(&unknown[..], [Err(AcceptError::UnknownBus(m))] if m.contains("nowhere")), "{unknown:?}");
    let invalid = b"{\"id\": \"x\", \"source\": [1,".to_vec();
    let mixed = || vec![event("m-1", "shop.orders"), invalid.clone()];
    let results = deliveries("default", mixed(), false);
    assert_eq!(results[0], Ok(1), "{results:?}");
    assert!(results[1].is_err());
    let results = deliveries("default", mixed(), true);
    assert_eq!(results[0], Err(AcceptError::Withheld.to_string()), "{results:?}");
    assert!(results[1].as_ref().is_err_and(|e| e.contains("not acceptable")), "{results:?}");
    // Recorded: d-1, a-1 and the first m-1; nothing of the withheld batch.
    assert_eq!(store.stats().unwrap().pending, 3);
}
