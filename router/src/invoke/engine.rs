//! The engine (with the pooling-allocator probe), the linker, the epoch ticker, and running one
//! delivery in a fresh Store.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline, WasmBacktraceDetails,
};

use super::bindings;
use super::outcome::{Outcome, Ran, classify};
use super::state::State;
use super::{AllocationMode, Consumer, Delivery, Host, HostConfig, TargetSpec};

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocator {
    /// Slots for `max_concurrency` instances reserved up front; instantiation reuses them.
    Pooling,
    /// Memories and tables allocated per instance; `reason` says why pooling is not used.
    OnDemand { reason: String },
}

impl fmt::Display for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allocator::Pooling => f.write_str("pooling"),
            Allocator::OnDemand { reason } => write!(f, "on-demand ({reason})"),
        }
    }
}

pub(crate) struct HostInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<State>,
    pub(crate) config: HostConfig,
    pub(crate) allocator: Allocator,
    ticker: Ticker,
}

impl fmt::Debug for HostInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("config", &self.config)
            .field("allocator", &self.allocator)
            .field("ticker", &self.ticker)
            .finish()
    }
}

/// Settings every engine of this host shares, pooling or not. They are part of the `.cwasm` cache
/// key through wasmtime's compatibility hash.
fn base_config(config: &HostConfig) -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    c.consume_fuel(config.fuel);
    c.max_wasm_stack(config.max_wasm_stack);
    // Function names come from the name section; line details would make every trap slow.
    c.wasm_backtrace_details(WasmBacktraceDetails::Disable);
    c.cranelift_opt_level(wasmtime::OptLevel::Speed);
    c
}

fn pooling(config: &HostConfig) -> PoolingAllocationConfig {
    let n = config.max_concurrency.max(1);
    let mut pool = PoolingAllocationConfig::default();
    // A Rust consumer is a component of a few core instances (the program, the WASI adapter and
    // shims) with one or two memories; leave room for larger ones.
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 4)
        .total_stacks(n)
        .max_memory_size(config.max_memory_bytes)
        .max_core_instances_per_component(16)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        // Resetting the first 128 KiB of a reused slot by hand instead of unmapping it spares the
        // page faults that otherwise more than double the cost of a small consumer's instance
        // (measured: 14 us with 0, 6 us with 128 KiB, no gain beyond).
        .linear_memory_keep_resident(128 << 10)
        .table_keep_resident(16 << 10);
    pool
}

impl Host {
    /// Builds the engine, the linker and the epoch ticker.
    pub fn new(config: HostConfig) -> Result<Host, String> {
        let (engine, allocator) = match config.allocation {
            AllocationMode::OnDemand => {
                let engine =
                    Engine::new(&base_config(&config)).map_err(|e| format!("cannot create the Wasm engine: {e:#}"))?;
                (engine, Allocator::OnDemand { reason: "configured".into() })
            }
            mode => {
                // The probe: the pooling allocator reserves its address space when the engine is
                // created, so creating it tells whether the machine can afford it.
                let mut c = base_config(&config);
                c.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(&config)));
                match Engine::new(&c) {
                    Ok(engine) => (engine, Allocator::Pooling),
                    Err(error) if mode == AllocationMode::Auto => {
                        let reason = format!("the pooling allocator could not reserve memory: {error:#}");
                        tracing::warn!(target: "switchyard::invoke", "{reason}; allocating instances on demand");
                        let engine = Engine::new(&base_config(&config))
                            .map_err(|e| format!("cannot create the Wasm engine: {e:#}"))?;
                        (engine, Allocator::OnDemand { reason })
                    }
                    Err(error) => return Err(format!("cannot create the pooling allocator: {error:#}")),
                }
            }
        };
        let mut linker = Linker::<State>::new(&engine);
        let link = |result: wasmtime::Result<()>| result.map_err(|e| format!("cannot link the host functions: {e:#}"));
        link(bindings::Consumer::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state))?;
        link(wasmtime_wasi::p2::add_to_linker_async(&mut linker))?;
        link(wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))?;
        let ticker = Ticker::start(engine.clone(), config.epoch_tick);
        Ok(Host { inner: Arc::new(HostInner { engine, linker, config, allocator, ticker }) })
    }

    /// The allocator in use.
    pub fn allocator(&self) -> &Allocator {
        &self.inner.allocator
    }

    /// The configuration the host was built with.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }
}

/// Advances the engine's epoch every tick, so running Wasm checks its deadline that often.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    tick: Duration,
}

impl Ticker {
    fn start(engine: Engine, tick: Duration) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("switchyard-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .ok();
        Ticker { stop, thread, tick }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ticker({:?})", self.tick)
    }
}

impl Consumer {
    /// Runs one delivery in a fresh Store and instance under `target`'s limits and grants.
    /// Needs a tokio runtime (WASI and the deadline use it). Never panics on what the consumer does.
    pub async fn invoke(&self, target: &Arc<TargetSpec>, delivery: Delivery) -> Outcome {
        let host = &self.inner.host.inner;
        let started = Instant::now();
        let deadline = started + target.limits.timeout;
        let deadline_unix_ms = (SystemTime::now() + target.limits.timeout)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // A target may not have more memory than the host's pool slots hold.
        let memory_cap = target.limits.memory_bytes.min(host.config.max_memory_bytes);
        let mut store = Store::new(&host.engine, State::new(target.clone(), &delivery, deadline, memory_cap));
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        // The wall-clock check: the ticker only says that time passed, the clock says how much.
        // Between checks the call yields to tokio, so other deliveries and timers make progress.
        store.epoch_deadline_callback(|mut context| {
            let state = context.data_mut();
            if Instant::now() >= state.deadline {
                state.timed_out = true;
                return Err(wasmtime::Error::msg("the delivery's deadline passed"));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        if host.config.fuel {
            // Without a budget the consumer may use as much fuel as its time allows.
            let _ = store.set_fuel(target.limits.fuel.unwrap_or(u64::MAX));
        }
        let input = bindings::types::Delivery {
            metadata: bindings::types::Metadata {
                event_id: delivery.event_id,
                source: delivery.source,
                detail_type: delivery.detail_type,
                rule: delivery.rule,
                target: delivery.target,
                attempt: delivery.attempt,
                deadline_unix_ms,
            },
            payload: delivery.payload,
        };
        let pre = &self.inner.pre;
        let run = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.switchyard_consumer_handler().call_handle(&mut store, &input).await
        };
        let ran = match tokio::time::timeout_at(deadline.into(), run).await {
            Ok(Ok(result)) => Ran::Returned(result),
            Ok(Err(error)) => Ran::Failed(error),
            Err(_) => {
                store.data_mut().timed_out = true;
                Ran::Elapsed
            }
        };
        let duration = started.elapsed();
        classify(ran, store.data_mut(), duration)
    }
}
