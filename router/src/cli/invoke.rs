//! `switchyard invoke`: one delivery to one consumer, reported as one JSON line.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::invoke::{
    AllocationMode, Delivery, Grants, Host, HostConfig, HostRule, KvHandle, KvStore, Limits, MemoryKv, Outcome,
    TargetSpec, kv,
};

pub(super) const LONG_ABOUT: &str = r#"Runs one delivery through a consumer component and prints one JSON line:
`{"outcome", "message", "emitted", "logs", "duration_us", "stderr", "stdout"}`.

The outcome is one of ok, retryable, permanent, timeout, out_of_memory, stack_overflow, trap.
The exit code is 0 whenever an outcome was produced (whatever it is), 2 when the module cannot
be loaded (the error names the file and the problem) or an argument is wrong.

The payload is the target's input as the consumer receives it; when it is an EventBridge event,
its id, source and detail-type fill the delivery's metadata.

Example: switchyard invoke --module consumer.wasm --event order.json --config source=shop --kv"#;

// The arguments of `switchyard invoke`; its help text is LONG_ABOUT.
#[derive(Debug, clap::Args)]
pub struct InvokeArgs {
    /// The consumer component (.wasm, built for wasm32-wasip2).
    #[arg(long, value_name = "FILE")]
    module: PathBuf,
    /// The payload file; stdin when absent.
    #[arg(long, value_name = "FILE")]
    event: Option<PathBuf>,
    /// A config value of the target (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Wall-clock limit of the delivery, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    timeout_ms: u64,
    /// Memory limit of the consumer, in MiB.
    #[arg(long, value_name = "N", default_value_t = 64)]
    memory_mb: usize,
    /// Allow outbound HTTP to HOST (name, name:port, *.domain, [v6]:port); repeatable. Without it,
    /// every HTTP request is denied.
    #[arg(long = "allow-http", value_name = "HOST")]
    allow_http: Vec<String>,
    /// Grant an in-memory key-value store (empty at start).
    #[arg(long)]
    kv: bool,
    /// Grant a key-value store kept in FILE (JSON, created if missing, saved after the delivery).
    #[arg(long, value_name = "FILE")]
    kv_file: Option<PathBuf>,
    /// Grant the durable key-value store of a router data directory (the namespace is --target).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["kv", "kv_file"])]
    data_dir: Option<PathBuf>,
    /// Refuse the module unless its sha256 is this (64 hex digits).
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    /// Count fuel and stop the consumer after N units.
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Events the delivery may emit.
    #[arg(long, value_name = "N", default_value_t = Limits::default().emit_max_events)]
    emit_max_events: usize,
    /// Bytes the delivery may emit.
    #[arg(long, value_name = "N", default_value_t = Limits::default().emit_max_bytes)]
    emit_max_bytes: usize,
    /// The rule name in the delivery's metadata.
    #[arg(long, default_value = "cli-rule")]
    rule: String,
    /// The target id in the delivery's metadata (also the key-value namespace).
    #[arg(long, default_value = "cli-target")]
    target: String,
    /// The attempt number in the delivery's metadata.
    #[arg(long, default_value_t = 1)]
    attempt: u32,
    /// Where compiled modules are cached (default: $XDG_CACHE_HOME/switchyard/modules).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile the module in memory; neither read nor write the cache.
    #[arg(long)]
    no_cache: bool,
}

pub(super) fn run(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let payload = match &args.event {
        Some(path) => std::fs::read(path).with_context(|| format!("cannot read the event file {}", path.display()))?,
        None => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).context("reading the payload from stdin")?;
            bytes
        }
    };
    let mut config = Vec::new();
    for entry in &args.config {
        let Some((key, value)) = entry.split_once('=') else { bail!("--config {entry:?}: expected KEY=VALUE") };
        config.push((key.to_owned(), value.to_owned()));
    }
    let http = args
        .allow_http
        .iter()
        .map(|h| HostRule::parse(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let memory = match &args.kv_file {
        Some(path) => Some(Arc::new(MemoryKv::load(path, kv::DEFAULT_MAX_ENTRIES).map_err(anyhow::Error::msg)?)),
        None if args.kv => Some(Arc::new(MemoryKv::default())),
        None => None,
    };
    let store: Option<Arc<dyn KvStore>> = match &args.data_dir {
        Some(dir) => Some(Arc::new(crate::delivery::embedded::EmbeddedStore::open(dir)?)),
        None => memory.clone().map(|m| m as Arc<dyn KvStore>),
    };
    let grants = Grants { http, kv: store.map(|s| KvHandle::new(s, &args.target)) };
    let limits = Limits {
        timeout: Duration::from_millis(args.timeout_ms),
        memory_bytes: args.memory_mb << 20,
        fuel: args.fuel,
        emit_max_events: args.emit_max_events,
        emit_max_bytes: args.emit_max_bytes,
        ..Limits::default()
    };
    let target = Arc::new(TargetSpec { config, limits, grants });
    let cache_dir = if args.no_cache { None } else { args.cache_dir.clone().or_else(crate::invoke::default_cache_dir) };
    let host_config = HostConfig {
        max_concurrency: 1,
        max_memory_bytes: (args.memory_mb << 20).max(HostConfig::default().max_memory_bytes),
        fuel: args.fuel.is_some(),
        cache_dir,
        allocation: AllocationMode::OnDemand,
        ..HostConfig::default()
    };
    let host = Host::new(host_config).map_err(anyhow::Error::msg)?;
    let consumer = host.load(&args.module, args.sha256.as_deref())?;
    let delivery = delivery_for(&payload, &args);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let outcome = runtime.block_on(consumer.invoke(&target, delivery));
    if let (Some(path), Some(store)) = (&args.kv_file, &memory) {
        store.save(path).map_err(anyhow::Error::msg)?;
    }
    println!("{}", outcome_json(&outcome));
    Ok(ExitCode::SUCCESS)
}

/// The delivery's metadata: from the payload when it is an event, else empty.
fn delivery_for(payload: &[u8], args: &InvokeArgs) -> Delivery {
    let event: Option<serde_json::Map<String, Value>> = serde_json::from_slice(payload).ok();
    let field =
        |name: &str| event.as_ref().and_then(|e| e.get(name)).and_then(Value::as_str).unwrap_or_default().to_owned();
    Delivery {
        event_id: field("id"),
        source: field("source"),
        detail_type: field("detail-type"),
        rule: args.rule.clone(),
        target: args.target.clone(),
        attempt: args.attempt,
        payload: payload.to_vec(),
    }
}

/// The CLI contract's JSON line for an outcome. Emitted details are shown as JSON, not text.
pub fn outcome_json(outcome: &Outcome) -> Value {
    let emitted: Vec<Value> = outcome
        .emitted
        .iter()
        .map(|e| {
            let detail = serde_json::from_str::<Value>(&e.detail).unwrap_or_else(|_| Value::String(e.detail.clone()));
            json!({ "source": e.source, "detail-type": e.detail_type, "detail": detail, "resources": e.resources })
        })
        .collect();
    let logs: Vec<Value> = outcome
        .logs
        .iter()
        .map(|l| {
            let fields: serde_json::Map<String, Value> =
                l.fields.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            json!({ "level": l.level, "message": l.message, "fields": fields })
        })
        .collect();
    let mut line = json!({
        "outcome": outcome.kind.as_str(),
        "message": outcome.message,
        "emitted": emitted,
        "logs": logs,
        "duration_us": outcome.duration.as_micros() as u64,
        "stderr": outcome.stderr,
        "stdout": outcome.stdout,
    });
    if outcome.logs_dropped > 0 {
        line["logs_dropped"] = json!(outcome.logs_dropped);
    }
    line
}
