//! The pipeline's durable speed, in process, beside the disk's own floor measured in the same run.
//!
//! Run with: `make bench-pipeline` (or `cargo bench -p switchyard-tests --bench pipeline`).
//!
//! 1 KB events, each matching one rule whose target is the trivial consumer `c-ok`, embedded store
//! with `durability = "sync"` (every acknowledged accept is fsynced, many per commit).
//! 1. Accept-and-deliver throughput: `EVENTS` events accepted by 256 concurrent producers while the
//!    delivery loop runs; the clock stops when the last delivery is complete (recorded as such).
//! 2. Accept-to-durable latency at half that rate: an open-loop producer paced at rate / 2 for
//!    three seconds; each accept's time from call to durable acknowledgement.
//! 3. The floor: writing the same bytes to a plain file in the same directory with `fdatasync`
//!    after every write, with one event per write and with the store's mean batch per write, both
//!    appending (a new file) and overwriting one already written (what the log does in a reused
//!    segment, its steady state).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::delivery::embedded::EmbeddedStore;
use switchyard::delivery::policy::RetryPolicy;
use switchyard::invoke::{Host, HostConfig, TargetSpec};
use switchyard::pipeline::{Pipeline, PipelineConfig, Routes, RuleConfig, TargetConfig};
use switchyard::transform::TargetInput;
use tokio::sync::watch;

/// The allocator the `switchyard` binary runs with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 100_000;
const PRODUCERS: usize = 256;

fn event(i: usize) -> Vec<u8> {
    let mut event = json!({
        "version": "0", "id": format!("bench-{i:012}"), "detail-type": "OrderPlaced", "source": "bench.orders",
        "account": "111122223333", "time": "2026-11-22T10:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": {"order": i, "padding": ""}
    });
    let size = serde_json::to_vec(&event).unwrap().len();
    event["detail"]["padding"] = json!("x".repeat(1024usize.saturating_sub(size)));
    serde_json::to_vec(&event).unwrap()
}

/// The kernel's I/O pressure line (`some avg10=.. avg60=..`), when it exposes one.
fn io_pressure() -> String {
    std::fs::read_to_string("/proc/pressure/io")
        .ok()
        .and_then(|text| text.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "not available".into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Writes `writes` chunks of `chunk` bytes to a file in `dir`, fdatasync after each; writes/s.
/// With `overwrite`, the file is first written whole and synced, and the chunks overwrite it.
fn fsync_floor(dir: &std::path::Path, chunk: usize, writes: usize, overwrite: bool) -> f64 {
    let path = dir.join("floor.bin");
    let mut file = std::fs::OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path).unwrap();
    let data = vec![b'x'; chunk];
    if overwrite {
        for _ in 0..writes {
            file.write_all(&data).unwrap();
        }
        file.sync_all().unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
    }
    let start = Instant::now();
    for _ in 0..writes {
        file.write_all(&data).unwrap();
        file.sync_data().unwrap();
    }
    let rate = writes as f64 / start.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    rate
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("switchyard-bench-pipeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let host = Host::new(HostConfig { max_concurrency: 64, cache_dir: None, ..HostConfig::default() }).unwrap();
    let consumer = host.load(&std::path::PathBuf::from(env!("SWITCHYARD_WASM_DIR")).join("c_ok.wasm"), None).unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir).unwrap());
    let target = TargetConfig {
        id: "sink".into(),
        consumer,
        spec: Arc::new(TargetSpec::default()),
        input: TargetInput::default(),
        retry: RetryPolicy::default(),
        concurrency: 64,
        dead_letter_retention: None,
    };
    let rules = vec![RuleConfig {
        name: "orders".into(),
        pattern: r#"{"source": ["bench.orders"]}"#.into(),
        targets: vec![target],
        ..Default::default()
    }];
    let config = PipelineConfig { max_concurrency: 64, ..PipelineConfig::default() };
    let pipeline = Pipeline::new(store.clone(), Routes::build(rules, &config).unwrap(), config);
    let events: Arc<Vec<Vec<u8>>> = Arc::new((0..EVENTS).map(event).collect());
    println!("event size: {} bytes; {EVENTS} events; {PRODUCERS} producers; 2 worker threads", events[0].len());
    // The disk's recent stalls (this file system may discard freed blocks, e.g. a previous run's
    // deleted files, which stalls syncs for a while): the latency below depends on them.
    println!("io pressure before: {}", io_pressure());

    // 1. Throughput.
    let (stop, stopped) = watch::channel(false);
    let loop_task = runtime.spawn(pipeline.clone().run(stopped, Duration::from_secs(10)));
    let commits_before = store.commits();
    let start = Instant::now();
    runtime.block_on(async {
        let mut producers = tokio::task::JoinSet::new();
        for p in 0..PRODUCERS {
            let (pipeline, events) = (pipeline.clone(), events.clone());
            producers.spawn(async move {
                for i in (p..EVENTS).step_by(PRODUCERS) {
                    pipeline.accept(events[i].clone()).await.unwrap();
                }
            });
        }
        while producers.join_next().await.is_some() {}
    });
    let accepted_after = start.elapsed();
    while pipeline.metrics().invocations.load(Ordering::Relaxed) < EVENTS as u64 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    let commits = store.commits() - commits_before;
    let rate = EVENTS as f64 / elapsed.as_secs_f64();
    // Each event costs two durable writes: its delivery (accept) and its completion.
    let mean_batch = (2 * EVENTS) as f64 / commits.max(1) as f64;
    println!(
        "accept-and-deliver: {rate:>10.0} events/s  ({EVENTS} in {:.2} s; all accepted after {:.2} s)",
        elapsed.as_secs_f64(),
        accepted_after.as_secs_f64()
    );
    println!("commits:            {commits:>10} (fsyncs), {mean_batch:.1} writes per commit on average");

    // 2. Latency at half the rate.
    let half = rate / 2.0;
    let interval = Duration::from_secs_f64(1.0 / half);
    let latencies = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        let start = tokio::time::Instant::now();
        let mut n = 0usize;
        while start.elapsed() < Duration::from_secs(3) {
            let due = start + interval.mul_f64(n as f64);
            tokio::time::sleep_until(due).await;
            // Catch up in a burst when the timer is late, so the offered rate stays at half.
            while start + interval.mul_f64(n as f64) <= tokio::time::Instant::now() {
                let (pipeline, event) = (pipeline.clone(), events[n % EVENTS].clone());
                tasks.spawn(async move {
                    let begun = Instant::now();
                    pipeline.accept(event).await.unwrap();
                    begun.elapsed()
                });
                n += 1;
            }
        }
        let mut latencies = Vec::with_capacity(n);
        while let Some(latency) = tasks.join_next().await {
            latencies.push(latency.unwrap());
        }
        latencies
    });
    println!("io pressure after the latency run: {}", io_pressure());
    let mut sorted = latencies;
    sorted.sort();
    println!(
        "accept-to-durable at {half:.0} events/s ({} accepts): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        sorted.len(),
        percentile(&sorted, 0.5).as_secs_f64() * 1e3,
        percentile(&sorted, 0.99).as_secs_f64() * 1e3,
        sorted.last().unwrap().as_secs_f64() * 1e3
    );
    stop.send(true).unwrap();
    runtime.block_on(loop_task).unwrap();

    // 3. The disk's floor, same directory.
    let batch = mean_batch.round().max(1.0) as usize;
    let mut best = 0.0f64;
    for (how, overwrite) in [("append", false), ("overwrite", true)] {
        // At most 64 MiB per measurement: the disk of a cloud machine throttles long bursts, which
        // would slow the next measurement (or the next run's pipeline) instead of this one.
        let writes = |chunk: usize| ((64usize << 20) / chunk).clamp(200, 2000);
        let single = fsync_floor(&dir, 1024, writes(1024), overwrite);
        let batched = fsync_floor(&dir, 1024 * batch, writes(1024 * batch), overwrite);
        let label = format!("floor: {how}+fdatasync of 1 KB:");
        println!("{label:<44} {single:>10.0} writes/s = {single:>10.0} events/s");
        let label = format!("floor: {how}+fdatasync of {batch} x 1 KB:");
        println!(
            "{label:<44} {batched:>10.0} writes/s = {:>10.0} events/s (2 writes per event: {:.0} events/s)",
            batched * batch as f64,
            batched * batch as f64 / 2.0
        );
        best = best.max(batched * batch as f64 / 2.0);
    }
    println!("pipeline / batched floor (the faster of the two): {:.2}", rate / best);
    drop(pipeline);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
