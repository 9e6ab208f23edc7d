//! The Wasm host's costs, each beside a native Rust function doing the same work in the same run.
//!
//! Run with: `make bench-invoke` (or `cargo bench -p switchyard-tests --bench invoke`).
//!
//! - `wasm_empty_handler`: a fresh Store and instance of `c-ok` (pooling allocator, 64 KiB guest
//!   stack) and a call of its empty handler, through `Consumer::invoke` exactly as delivery runs it
//!   (limits, WASI context, capture buffers, classification). `native_empty_handler` is the floor;
//!   `wasm_empty_handler_2kb_payload` adds the cost of copying a 2 KB payload into the instance.
//! - `wasm_parse_emit_2kb` / `native_parse_emit_2kb`: `c-parse-emit` parses a 2 KB order event
//!   with serde into typed structs, prices it and emits one event; the native side runs the same
//!   source file (`tests/consumers/c-parse-emit/src/work.rs`) and builds the same emitted event.
//! - `cold_start_3_consumers`: a new engine (pooling allocator and epoch ticker included), loading
//!   the three example consumers from the `.cwasm` cache, and the first delivery to one of them.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard::invoke::{Consumer, Delivery, EmittedEvent, Host, HostConfig, OutcomeKind, TargetSpec};

#[allow(dead_code)]
mod work {
    include!("../consumers/c-parse-emit/src/work.rs");
}

// The router's allocator (router/src/main.rs), so the host side costs what it costs in production;
// the native functions allocate from it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn wasm(name: &str) -> PathBuf {
    PathBuf::from(env!("SWITCHYARD_WASM_DIR")).join(format!("{name}.wasm"))
}

fn delivery(payload: Vec<u8>) -> Delivery {
    Delivery {
        event_id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718".into(),
        source: "shop.orders".into(),
        detail_type: "OrderPlaced".into(),
        rule: "bench-rule".into(),
        target: "bench-target".into(),
        attempt: 1,
        payload,
    }
}

fn order_event() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/consumers/c-parse-emit/order-event.json");
    std::fs::read(path).expect("the 2 KB order event")
}

/// What the native side does for one delivery: the same parsing and pricing, and the emitted event
/// kept as the host keeps it.
#[inline(never)]
fn native_parse_emit(payload: &[u8], emitted: &mut Vec<EmittedEvent>) -> Result<(), String> {
    let (source, detail_type, detail) = work::price(payload)?;
    emitted.push(EmittedEvent { source, detail_type, detail, resources: Vec::new() });
    Ok(())
}

#[inline(never)]
fn native_empty(delivery: &Delivery) -> Result<(), String> {
    black_box(delivery);
    Ok(())
}

fn invoke(runtime: &tokio::runtime::Runtime, consumer: &Consumer, spec: &Arc<TargetSpec>, payload: &[u8]) -> usize {
    let outcome = runtime.block_on(consumer.invoke(spec, delivery(payload.to_vec())));
    assert_eq!(outcome.kind, OutcomeKind::Ok, "{outcome:?}");
    outcome.emitted.len()
}

fn warm(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let host = Host::new(HostConfig { max_concurrency: 16, cache_dir: None, ..HostConfig::default() }).unwrap();
    eprintln!("allocator: {}", host.allocator());
    let empty = host.load(&wasm("c_ok"), None).unwrap();
    let parse_emit = host.load(&wasm("c_parse_emit"), None).unwrap();
    let spec = Arc::new(TargetSpec::default());
    let event = order_event();
    eprintln!("order event: {} bytes", event.len());
    assert_eq!(invoke(&runtime, &parse_emit, &spec, &event), 1);
    let mut emitted = Vec::new();
    native_parse_emit(&event, &mut emitted).unwrap();
    assert_eq!(emitted.len(), 1);

    let mut group = c.benchmark_group("invoke");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("wasm_empty_handler", |b| b.iter(|| invoke(&runtime, &empty, &spec, b"{}")));
    let empty_delivery = delivery(b"{}".to_vec());
    group.bench_function("native_empty_handler", |b| b.iter(|| native_empty(black_box(&empty_delivery))));
    group.bench_function("wasm_empty_handler_2kb_payload", |b| b.iter(|| invoke(&runtime, &empty, &spec, &event)));
    group.bench_function("wasm_parse_emit_2kb", |b| b.iter(|| invoke(&runtime, &parse_emit, &spec, &event)));
    group.bench_function("native_parse_emit_2kb", |b| {
        b.iter(|| {
            // The native side gets its own copy of the payload too, as the Wasm side does.
            let payload = black_box(&event).to_vec();
            let mut emitted = Vec::with_capacity(1);
            native_parse_emit(&payload, &mut emitted).unwrap();
            emitted
        })
    });
    group.finish();
}

fn cold_start(c: &mut Criterion) {
    let modules = ["order_notification", "inventory", "webhook_forwarder"].map(wasm);
    let cache = std::env::temp_dir().join(format!("switchyard-bench-cache-{}", std::process::id()));
    let config = HostConfig { max_concurrency: 16, cache_dir: Some(cache.clone()), ..HostConfig::default() };
    {
        // Fill the cache, as the first start of a router after a deploy does.
        let host = Host::new(config.clone()).unwrap();
        for module in &modules {
            host.load(module, None).unwrap();
        }
    }
    let event = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/order-notification/event.json"))
        .expect("the example event");
    let mut group = c.benchmark_group("invoke");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("cold_start_3_consumers", |b| {
        b.iter_with_large_drop(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let host = Host::new(config.clone()).unwrap();
            let consumers: Vec<Consumer> = modules.iter().map(|m| host.load(m, None).unwrap()).collect();
            assert!(consumers.iter().all(Consumer::from_cache));
            let spec = Arc::new(TargetSpec::default());
            let outcome = runtime.block_on(consumers[0].invoke(&spec, delivery(event.clone())));
            assert_eq!(outcome.kind, OutcomeKind::Ok, "{outcome:?}");
            (host, consumers, runtime)
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&cache);
}

criterion_group!(benches, warm, cold_start);
criterion_main!(benches);
