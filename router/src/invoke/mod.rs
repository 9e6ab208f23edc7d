//! The Wasm host: loads consumer components and runs one delivery at a time in a fresh, limited
//! sandbox. This is the only module that touches wasmtime.
//!
//! One [`Host`] owns one wasmtime `Engine` (component model, epoch interruption, the pooling
//! allocator when the machine can reserve it) and a `Linker` with the consumer world's imports,
//! WASI 0.2 and wasi:http. [`Host::load`] turns a `.wasm` file into a [`Consumer`]: it checks the
//! sha256 pin, compiles once through the `.cwasm` cache, checks the component against the
//! `switchyard:consumer` world and pre-links it (`InstancePre`). [`Consumer::invoke`] runs a
//! [`Delivery`] in a new Store and instance under its [`TargetSpec`]'s limits and grants, and
//! classifies what happened as an [`Outcome`]. A Store is never reused, so a trapped instance is
//! never touched again.

mod bindings;
mod cache;
mod capture;
mod engine;
pub mod kv;
mod load;
mod outcome;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use self::engine::Allocator;
pub use self::kv::{KvFuture, KvHandle, KvStore, KvStoreError, MemoryKv};
pub use self::load::{LoadError, LoadProblem};
pub use self::outcome::{EmittedEvent, LogLevel, LogRecord, Outcome, OutcomeKind};
pub use self::state::HostRule;

/// The WIT package and world this host runs, as consumers name it.
pub const WORLD: &str = "switchyard:consumer/consumer@0.1.0";
/// The export every consumer must provide.
pub const HANDLER_EXPORT: &str = "switchyard:consumer/handler@0.1.0";

/// How the host is built. The defaults suit a router on a small machine.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// How many deliveries may run at once; sizes the pooling allocator.
    pub max_concurrency: u32,
    /// The largest linear memory any target may be given (each target's cap is at most this).
    pub max_memory_bytes: usize,
    /// The Wasm call stack limit, in bytes (a deeper stack traps as a stack overflow).
    pub max_wasm_stack: usize,
    /// Counts fuel, so targets may set a fuel budget (costs some speed for every consumer).
    pub fuel: bool,
    /// Where compiled modules are cached as `.cwasm`; `None` compiles in memory on every load.
    pub cache_dir: Option<PathBuf>,
    /// Pooling, on-demand, or pooling with a fall-back to on-demand.
    pub allocation: AllocationMode,
    /// How often the epoch ticker runs; a deadline fires within about one tick.
    pub epoch_tick: Duration,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            max_concurrency: 64,
            max_memory_bytes: 512 << 20,
            max_wasm_stack: 512 << 10,
            fuel: false,
            cache_dir: default_cache_dir(),
            allocation: AllocationMode::Auto,
            epoch_tick: Duration::from_millis(1),
        }
    }
}

/// The cache folder when none is configured: `$XDG_CACHE_HOME/switchyard/modules`, else
/// `$HOME/.cache/switchyard/modules`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("switchyard").join("modules"))
}

/// Which instance allocator the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationMode {
    /// Try the pooling allocator; where virtual memory is short, fall back to on-demand.
    Auto,
    /// The pooling allocator or nothing.
    Pooling,
    /// Allocate each instance's memories and tables when it is created.
    OnDemand,
}

/// Per-target limits. Every delivery runs under them; exceeding one ends the delivery with the
/// matching [`OutcomeKind`].
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock time for one delivery, instantiation included.
    pub timeout: Duration,
    /// The consumer's linear memory may not grow beyond this.
    pub memory_bytes: usize,
    /// A fuel budget per delivery, when the host counts fuel.
    pub fuel: Option<u64>,
    /// Events one delivery may emit.
    pub emit_max_events: usize,
    /// Bytes (source, detail-type, detail and resources) one delivery may emit.
    pub emit_max_bytes: usize,
    /// Bytes of stdout and of stderr kept per delivery; the rest is counted and dropped.
    pub output_bytes: usize,
    /// Log records kept per delivery; the rest is counted and dropped.
    pub max_logs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(5),
            memory_bytes: 64 << 20,
            fuel: None,
            emit_max_events: 10,
            emit_max_bytes: 256 << 10,
            output_bytes: 16 << 10,
            max_logs: 100,
        }
    }
}

/// What a target grants its consumer beyond the always-present imports (logging, config, emit).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Hosts the consumer may call over wasi:http; empty denies every request.
    pub http: Vec<HostRule>,
    /// The consumer's own key-value store; `None` answers every kv call with `not-granted`.
    pub kv: Option<KvHandle>,
}

/// A target as the host sees it: its config values, limits and grants.
#[derive(Debug, Clone, Default)]
pub struct TargetSpec {
    /// The `config` values of the target, in the order the rules file gives them.
    pub config: Vec<(String, String)>,
    pub limits: Limits,
    pub grants: Grants,
}

/// One delivery: the target's input and where it comes from.
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub event_id: String,
    pub source: String,
    pub detail_type: String,
    pub rule: String,
    pub target: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The transformed input.
    pub payload: Vec<u8>,
}

/// The engine, the linker and the epoch ticker; cheap to clone and shared by every consumer.
#[derive(Clone, Debug)]
pub struct Host {
    inner: Arc<engine::HostInner>,
}

/// A loaded consumer: compiled, checked against the world and pre-linked. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Consumer {
    inner: Arc<load::Loaded>,
}

impl Consumer {
    /// The file the consumer was loaded from.
    pub fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    /// The sha256 of the module's bytes, as lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// Whether the compiled code came from the `.cwasm` cache rather than a compilation.
    pub fn from_cache(&self) -> bool {
        self.inner.from_cache
    }
}
