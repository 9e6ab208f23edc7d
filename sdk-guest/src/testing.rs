//! Running consumers natively in unit tests, against an in-process host (feature `testing`).
//!
//! ```
//! use switchyard_guest::prelude::*;
//! use switchyard_guest::testing::{TestHost, delivery};
//!
//! fn handle(delivery: Delivery) -> Result {
//!     let greeting = config::get("greeting").unwrap_or_default();
//!     let name: String = delivery.detail()?;
//!     emit("test.greeter", "Greeted", &serde_json::json!({"text": format!("{greeting}, {name}")}))?;
//!     Ok(())
//! }
//!
//! let mut host = TestHost::new().config("greeting", "hello");
//! let run = host.run(handle, delivery(&serde_json::json!({"id": "1", "detail": "Ada"})));
//! assert_eq!(run.result, Ok(()));
//! assert_eq!(run.emitted[0].detail, r#"{"text":"hello, Ada"}"#);
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::{HttpError, Request, Response};
use crate::{Delivery, EmitEvent, Failure, KvError, Level, Metadata};

/// The router's default number of events one delivery may emit.
pub const DEFAULT_EMIT_EVENTS: u32 = 10;
/// The router's default number of bytes one delivery may emit (source, detail-type, detail and
/// resources of all its events).
pub const DEFAULT_EMIT_BYTES: usize = 256 * 1024;

type HttpHandler = Box<dyn FnMut(&Request) -> Result<Response, HttpError>>;

/// A stand-in for the router: the target's config, key-value store, emit quota and outbound HTTP.
///
/// The store and config persist across [`run`](TestHost::run)s on the same host, so a test can
/// deliver the same event twice; logs and emitted events are per run.
pub struct TestHost {
    state: State,
}

struct State {
    config: Vec<(String, String)>,
    /// `None`: the target grants no store.
    kv: Option<BTreeMap<String, Vec<u8>>>,
    kv_error: Option<KvError>,
    emit_events: u32,
    emit_bytes: usize,
    http: Option<HttpHandler>,
    // This run's records.
    emitted: Vec<EmitEvent>,
    emitted_bytes: usize,
    logs: Vec<LogRecord>,
}

impl Default for State {
    fn default() -> Self {
        State {
            config: Vec::new(),
            kv: None,
            kv_error: None,
            emit_events: DEFAULT_EMIT_EVENTS,
            emit_bytes: DEFAULT_EMIT_BYTES,
            http: None,
            emitted: Vec::new(),
            emitted_bytes: 0,
            logs: Vec::new(),
        }
    }
}

/// One log call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub level: Level,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

/// What one [`TestHost::run`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRun {
    /// The handler's outcome.
    pub result: Result<(), Failure>,
    /// The events the router would put on the bus: none unless the run succeeded.
    pub emitted: Vec<EmitEvent>,
    /// Every log call, in order.
    pub logs: Vec<LogRecord>,
    /// The key-value store after the run (empty when the host grants no store).
    pub kv: BTreeMap<String, Vec<u8>>,
}

impl TestRun {
    /// The detail of each emitted event, parsed.
    pub fn emitted_details(&self) -> Vec<Value> {
        self.emitted.iter().map(|event| serde_json::from_str(&event.detail).unwrap_or(Value::Null)).collect()
    }

    /// Whether some log record's message contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.logs.iter().any(|record| record.message.contains(text))
    }
}

impl Default for TestHost {
    fn default() -> Self {
        TestHost::new()
    }
}

impl fmt::Debug for TestHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestHost")
            .field("config", &self.state.config)
            .field("kv", &self.state.kv)
            .field("kv_error", &self.state.kv_error)
            .field("emit_events", &self.state.emit_events)
            .field("emit_bytes", &self.state.emit_bytes)
            .field("http", &self.state.http.is_some())
            .finish()
    }
}

impl TestHost {
    /// A host with no config, no store, no outbound HTTP and the router's default emit quota.
    pub fn new() -> Self {
        TestHost { state: State::default() }
    }

    /// Sets config value `key` (replacing an earlier value of the same key).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.state.config.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.state.config.push((key, value)),
        }
        self
    }

    /// Grants an (empty) key-value store; without it every kv call fails with
    /// [`KvError::NotGranted`].
    pub fn with_kv(mut self) -> Self {
        self.state.kv.get_or_insert_with(BTreeMap::new);
        self
    }

    /// Grants a key-value store and stores `value` under `key` in it.
    pub fn kv_entry(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.state.kv.get_or_insert_with(BTreeMap::new).insert(key.into(), value.into());
        self
    }

    /// Makes every kv call fail with `error` (to test how a consumer handles a broken store).
    pub fn kv_error(mut self, error: KvError) -> Self {
        self.state.kv_error = Some(error);
        self
    }

    /// Sets the per-delivery emit quota: at most `events` events and `bytes` bytes.
    pub fn emit_quota(mut self, events: u32, bytes: usize) -> Self {
        self.state.emit_events = events;
        self.state.emit_bytes = bytes;
        self
    }

    /// Answers outbound HTTP requests with `handler`; without it every request is
    /// [`HttpError::Denied`], as for a target with no allowed hosts.
    pub fn http(mut self, handler: impl FnMut(&Request) -> Result<Response, HttpError> + 'static) -> Self {
        self.state.http = Some(Box::new(handler));
        self
    }

    /// The key-value store now (empty when none is granted).
    pub fn kv(&self) -> BTreeMap<String, Vec<u8>> {
        self.state.kv.clone().unwrap_or_default()
    }

    /// Runs `handler` on `delivery` with this host serving the SDK's calls on this thread.
    ///
    /// A panic in the handler propagates (the router would see a trap); the host stays usable.
    pub fn run(&mut self, handler: impl FnOnce(Delivery) -> crate::Result, delivery: Delivery) -> TestRun {
        self.state.emitted.clear();
        self.state.emitted_bytes = 0;
        self.state.logs.clear();

        ACTIVE.with(|active| {
            let mut active = active.borrow_mut();
            assert!(active.is_none(), "TestHost::run is already running on this thread");
            *active = Some(std::mem::take(&mut self.state));
        });
        let restore = Restore(&mut self.state);
        let result = handler(delivery);
        drop(restore);

        let emitted = std::mem::take(&mut self.state.emitted);
        TestRun {
            emitted: if result.is_ok() { emitted } else { Vec::new() },
            result,
            logs: std::mem::take(&mut self.state.logs),
            kv: self.kv(),
        }
    }
}

thread_local! {
    /// The state of the host whose `run` is under way on this thread.
    static ACTIVE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Moves the active state back into its host, also when the handler panics.
struct Restore<'a>(&'a mut State);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        if let Some(state) = ACTIVE.with(|active| active.borrow_mut().take()) {
            *self.0 = state;
        }
    }
}

/// A delivery of `event` as the router would make it for a target without input transformation:
/// the metadata comes from the event's `id`, `source` and `detail-type`, rule `test-rule`,
/// target `test-target`, attempt 1 and a deadline 5 s from now.
pub fn delivery(event: &Value) -> Delivery {
    let payload = serde_json::to_vec(event).expect("a JSON value serializes");
    Delivery { metadata: metadata_of(event), payload }
}

/// A delivery of an arbitrary payload (such as the output of an input template). The metadata is
/// as in [`delivery`] when the payload is a JSON event, with empty event fields otherwise.
pub fn delivery_bytes(payload: impl Into<Vec<u8>>) -> Delivery {
    let payload = payload.into();
    let event = serde_json::from_slice(&payload).unwrap_or(Value::Null);
    Delivery { metadata: metadata_of(&event), payload }
}

fn metadata_of(event: &Value) -> Metadata {
    let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    let deadline = SystemTime::now() + Duration::from_secs(5);
    Metadata {
        event_id: field("id"),
        source: field("source"),
        detail_type: field("detail-type"),
        rule: "test-rule".to_string(),
        target: "test-target".to_string(),
        attempt: 1,
        deadline_unix_ms: deadline.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
    }
}

/// The SDK's host calls, served by the active [`TestHost`].
pub(crate) mod host {
    use serde_json::Value;

    use super::{ACTIVE, LogRecord, State};
    use crate::http::{HttpError, Request, Response, Url};
    use crate::{EmitError, EmitEvent, KvError, Level};

    fn with<R>(call: &str, f: impl FnOnce(&mut State) -> R) -> R {
        ACTIVE.with(|active| match active.borrow_mut().as_mut() {
            Some(state) => f(state),
            None => panic!(
                "switchyard-guest: {call} was called outside TestHost::run; natively, the SDK's host \
                 functions only work inside a test host's run"
            ),
        })
    }

    pub(crate) fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
        let fields: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        with("log", |state| {
            // Shown by the test harness when a test fails.
            eprintln!("[{level}] {message} {fields:?}");
            state.logs.push(LogRecord { level, message: message.to_string(), fields });
        });
    }

    pub(crate) fn config_get(key: &str) -> Option<String> {
        with("config::get", |state| state.config.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    pub(crate) fn config_all() -> Vec<(String, String)> {
        with("config::all", |state| state.config.clone())
    }

    pub(crate) fn emit(source: &str, detail_type: &str, detail: &str, resources: &[&str]) -> Result<(), EmitError> {
        if source.is_empty() {
            return Err(EmitError::Invalid("the source is empty".into()));
        }
        if detail_type.is_empty() {
            return Err(EmitError::Invalid("the detail-type is empty".into()));
        }
        match serde_json::from_str::<Value>(detail) {
            Ok(Value::Object(_)) => {}
            Ok(_) => return Err(EmitError::Invalid("the detail is not a JSON object".into())),
            Err(error) => return Err(EmitError::Invalid(format!("the detail is not JSON: {error}"))),
        }
        let size = source.len() + detail_type.len() + detail.len() + resources.iter().map(|r| r.len()).sum::<usize>();
        with("emit", |state| {
            if state.emitted.len() >= state.emit_events as usize {
                return Err(EmitError::QuotaExceeded(format!(
                    "a delivery may emit at most {} events",
                    state.emit_events
                )));
            }
            if state.emitted_bytes + size > state.emit_bytes {
                return Err(EmitError::QuotaExceeded(format!(
                    "a delivery may emit at most {} bytes; {} are used and this event has {size}",
                    state.emit_bytes, state.emitted_bytes
                )));
            }
            state.emitted_bytes += size;
            state.emitted.push(EmitEvent {
                source: source.to_string(),
                detail_type: detail_type.to_string(),
                detail: detail.to_string(),
                resources: resources.iter().map(|r| r.to_string()).collect(),
            });
            Ok(())
        })
    }

    fn with_kv<R>(
        call: &str,
        f: impl FnOnce(&mut std::collections::BTreeMap<String, Vec<u8>>) -> R,
    ) -> Result<R, KvError> {
        with(call, |state| {
            if let Some(error) = &state.kv_error {
                return Err(error.clone());
            }
            state.kv.as_mut().map(f).ok_or(KvError::NotGranted)
        })
    }

    pub(crate) fn kv_get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        with_kv("kv::get", |kv| kv.get(key).cloned())
    }

    pub(crate) fn kv_set(key: &str, value: &[u8]) -> Result<(), KvError> {
        with_kv("kv::set", |kv| {
            kv.insert(key.to_string(), value.to_vec());
        })
    }

    pub(crate) fn kv_delete(key: &str) -> Result<(), KvError> {
        with_kv("kv::delete", |kv| {
            kv.remove(key);
        })
    }

    pub(crate) fn http_send(request: &Request, _: &Url<'_>) -> Result<Response, HttpError> {
        // Taken out while it runs, so that the handler may itself use the SDK.
        let Some(mut handler) = with("http::send", |state| state.http.take()) else {
            return Err(HttpError::Denied(format!(
                "the target allows no outbound HTTP (no TestHost::http handler), so `{}` is not reachable",
                request.url
            )));
        };
        let response = handler(request);
        with("http::send", |state| state.http = Some(handler));
        response
    }
}
