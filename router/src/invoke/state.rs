//! What one Store holds for one delivery: the WASI context (no files, no environment, no sockets),
//! the wasi:http hooks that enforce the target's host allow-list and the deadline, the memory
//! limiter, and the consumer world's imports (logging, config, emit within a quota, key-value).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::bindings::{config, emit, kv, log, types};
use super::capture::Capture;
use super::outcome::{EmittedEvent, LogLevel, LogRecord};
use super::{Delivery, TargetSpec};

/// Longest key a consumer may use in its key-value store, in bytes.
pub(crate) const KV_MAX_KEY: usize = 512;
/// Largest value a consumer may store under one key, in bytes.
pub(crate) const KV_MAX_VALUE: usize = 64 << 10;
/// Longest log message kept, in bytes.
const LOG_MAX_MESSAGE: usize = 4 << 10;
/// Longest emitted `source`, in bytes.
const EMIT_MAX_SOURCE: usize = 256;
/// Longest emitted `detail-type`, in bytes.
const EMIT_MAX_DETAIL_TYPE: usize = 256;

/// A host a consumer may reach over wasi:http: `name`, `name:port`, `*.domain` or `*.domain:port`.
/// Without a port, any port is allowed. Names compare without regard to ASCII case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    /// Lowercase host name or IP literal; a leading `*.` allows every subdomain (not the domain).
    host: String,
    port: Option<u16>,
}

impl HostRule {
    /// Parses a rule, naming what is wrong when it cannot.
    pub fn parse(text: &str) -> Result<HostRule, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an allowed HTTP host is empty".into());
        }
        if text.contains("://") || text.contains('/') {
            return Err(format!("allowed HTTP host {text:?} must be a host name with an optional port, not a URL"));
        }
        let (host, port) = match text.rsplit_once(':') {
            // An IPv6 literal without a port, such as [::1], has colons but ends with `]`.
            Some((host, port)) if !text.ends_with(']') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("allowed HTTP host {text:?} has an invalid port {port:?}"))?;
                (host, Some(port))
            }
            _ => (text, None),
        };
        let bare = host.strip_prefix("*.").unwrap_or(host);
        if bare.is_empty() || bare.contains('*') {
            return Err(format!("allowed HTTP host {text:?}: `*` is only allowed as a leading `*.`"));
        }
        // IPv6 literals are written in brackets, as in a URL; they compare without them.
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        Ok(HostRule { host: host.to_ascii_lowercase(), port })
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = host.to_ascii_lowercase();
        match self.host.strip_prefix("*.") {
            Some(domain) => {
                host.len() > domain.len() + 1
                    && host.ends_with(domain)
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            }
            None => host == self.host,
        }
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) if self.host.contains(':') => write!(f, "[{}]:{port}", self.host),
            Some(port) => write!(f, "{}:{port}", self.host),
            None if self.host.contains(':') => write!(f, "[{}]", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The memory cap of one delivery. Growing past it traps at once (rather than letting the guest's
/// allocator see a failed `memory.grow`), and the attempt is remembered for classification.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) memory_cap: usize,
    /// The size the consumer asked for when it hit the cap.
    pub(crate) refused_memory: Option<usize>,
}

/// Tables are small in practice; this stops a consumer from growing one without bound.
const TABLE_MAX_ELEMENTS: usize = 100_000;

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.refused_memory = Some(desired);
            return Err(wasmtime::Error::msg(format!(
                "linear memory limit reached: asked for {desired} bytes, the limit is {} bytes",
                self.memory_cap
            )));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_MAX_ELEMENTS)
    }
}

/// wasi:http policy: only the target's allowed hosts, and never past the delivery's deadline.
pub(crate) struct HttpHooks {
    target: Arc<TargetSpec>,
    deadline: Instant,
}

impl HttpHooks {
    fn allowed(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else { return false };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if uri.scheme() == Some(&http::uri::Scheme::HTTPS) { 443 } else { 80 });
        self.target.grants.http.iter().any(|rule| rule.allows(host, port))
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<wasmtime_wasi_http::WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        drop(fut);
        if !self.allowed(request.uri()) {
            tracing::warn!(target: "switchyard::consumer", uri = %request.uri(), "HTTP request denied: host not on the target's allow-list");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        // Every timeout is clamped to what is left of the delivery's time.
        let left = self.deadline.saturating_duration_since(Instant::now());
        let mut options = options.unwrap_or_default();
        let clamp = |t: Option<std::time::Duration>| Some(t.map_or(left, |t| t.min(left)));
        options.connect_timeout = clamp(options.connect_timeout);
        options.first_byte_timeout = clamp(options.first_byte_timeout);
        options.between_bytes_timeout = clamp(options.between_bytes_timeout);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// Everything one delivery's Store holds.
pub(crate) struct State {
    /// Built on the consumer's first WASI call: most consumers make none in a delivery (a panic
    /// message is the usual one), and building it is a good part of a delivery's host cost.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: HttpHooks,
    pub(crate) limiter: Limiter,
    pub(crate) target: Arc<TargetSpec>,
    pub(crate) rule: String,
    pub(crate) target_name: String,
    pub(crate) event_id: String,
    pub(crate) deadline: Instant,
    pub(crate) timed_out: bool,
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
    pub(crate) emitted: Vec<EmittedEvent>,
    emitted_bytes: usize,
    /// Why an emit was refused for quota, if one was.
    pub(crate) quota_refused: Option<String>,
    pub(crate) logs: Vec<LogRecord>,
    pub(crate) logs_dropped: usize,
}

impl State {
    /// `memory_cap` is the target's limit, already bounded by what the host's allocator allows.
    pub(crate) fn new(target: Arc<TargetSpec>, delivery: &Delivery, deadline: Instant, memory_cap: usize) -> State {
        let stdout = Capture::new(target.limits.output_bytes);
        let stderr = Capture::new(target.limits.output_bytes);
        let hooks = HttpHooks { target: target.clone(), deadline };
        State {
            wasi: None,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks,
            limiter: Limiter { memory_cap, refused_memory: None },
            rule: delivery.rule.clone(),
            target_name: delivery.target.clone(),
            event_id: delivery.event_id.clone(),
            target,
            deadline,
            timed_out: false,
            stdout,
            stderr,
            emitted: Vec::new(),
            emitted_bytes: 0,
            quota_refused: None,
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }

    fn kv(&self) -> Result<&super::KvHandle, kv::KvError> {
        self.target.grants.kv.as_ref().ok_or(kv::KvError::NotGranted)
    }
}

/// The WASI context of a delivery: no preopened directories, no environment, no arguments, stdin
/// closed, stdout and stderr into the bounded capture buffers; TCP and UDP are refused outright and
/// name lookup is off.
fn wasi_ctx(stdout: &Capture, stderr: &Capture) -> WasiCtx {
    WasiCtx::builder()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let ctx = self.wasi.get_or_insert_with(|| wasi_ctx(&self.stdout, &self.stderr));
        WasiCtxView { ctx, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { hooks: &mut self.hooks, table: &mut self.table, ctx: &mut self.http }
    }
}

impl types::Host for State {}

impl log::Host for State {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        let message = truncate(message, LOG_MAX_MESSAGE);
        macro_rules! trace_at {
            ($level:expr) => {
                tracing::event!(target: "switchyard::consumer", $level, rule = %self.rule, target = %self.target_name,
                    event_id = %self.event_id, fields = ?fields, "{message}")
            };
        }
        match level {
            LogLevel::Trace => trace_at!(tracing::Level::TRACE),
            LogLevel::Debug => trace_at!(tracing::Level::DEBUG),
            LogLevel::Info => trace_at!(tracing::Level::INFO),
            LogLevel::Warn => trace_at!(tracing::Level::WARN),
            LogLevel::Error => trace_at!(tracing::Level::ERROR),
        }
        if self.logs.len() < self.target.limits.max_logs {
            self.logs.push(LogRecord { level, message, fields });
        } else {
            self.logs_dropped += 1;
        }
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

impl config::Host for State {
    fn get(&mut self, key: String) -> Option<String> {
        self.target.config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.target.config.clone()
    }
}

impl emit::Host for State {
    fn emit(&mut self, event: emit::Event) -> Result<(), emit::EmitError> {
        let limits = &self.target.limits;
        let refuse = |state: &mut State, why: String| {
            state.quota_refused.get_or_insert_with(|| why.clone());
            Err(emit::EmitError::QuotaExceeded(why))
        };
        if self.emitted.len() >= limits.emit_max_events {
            let why = format!("a delivery may emit at most {} events", limits.emit_max_events);
            return refuse(self, why);
        }
        if let Some(problem) = emit_problem(&event) {
            return Err(emit::EmitError::Invalid(problem));
        }
        let bytes = event.source.len()
            + event.detail_type.len()
            + event.detail.len()
            + event.resources.iter().map(String::len).sum::<usize>();
        if self.emitted_bytes + bytes > limits.emit_max_bytes {
            let why = format!(
                "a delivery may emit at most {} bytes; {} are used and this event has {bytes}",
                limits.emit_max_bytes, self.emitted_bytes
            );
            return refuse(self, why);
        }
        self.emitted_bytes += bytes;
        self.emitted.push(EmittedEvent {
            source: event.source,
            detail_type: event.detail_type,
            detail: event.detail,
            resources: event.resources,
        });
        Ok(())
    }
}

/// Why an emitted event is not acceptable, if it is not.
fn emit_problem(event: &emit::Event) -> Option<String> {
    if event.source.trim().is_empty() {
        return Some("source is empty".into());
    }
    if event.source.len() > EMIT_MAX_SOURCE {
        return Some(format!("source is longer than {EMIT_MAX_SOURCE} bytes"));
    }
    if event.detail_type.trim().is_empty() {
        return Some("detail-type is empty".into());
    }
    if event.detail_type.len() > EMIT_MAX_DETAIL_TYPE {
        return Some(format!("detail-type is longer than {EMIT_MAX_DETAIL_TYPE} bytes"));
    }
    match switchyard_pattern::validate_json(event.detail.as_bytes(), crate::pipeline::MAX_DETAIL_DEPTH) {
        Ok(span) if event.detail.as_bytes()[span.start] == b'{' => None,
        Ok(_) => Some("detail must be a JSON object".into()),
        Err(error) => Some(format!("detail is not JSON: {error}")),
    }
}

impl kv::Host for State {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, kv::KvError> {
        check_key(&key)?;
        self.kv()?.get(&key).map_err(kv_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), kv::KvError> {
        check_key(&key)?;
        if value.len() > KV_MAX_VALUE {
            return Err(kv::KvError::TooLarge(format!(
                "a value is at most {KV_MAX_VALUE} bytes; this one has {}",
                value.len()
            )));
        }
        let handle = self.kv()?.clone();
        handle.set(&key, &value).await.map_err(kv_error)
    }

    async fn delete(&mut self, key: String) -> Result<(), kv::KvError> {
        check_key(&key)?;
        let handle = self.kv()?.clone();
        handle.delete(&key).await.map_err(kv_error)
    }
}

fn check_key(key: &str) -> Result<(), kv::KvError> {
    if key.is_empty() {
        return Err(kv::KvError::TooLarge("a key may not be empty".into()));
    }
    if key.len() > KV_MAX_KEY {
        return Err(kv::KvError::TooLarge(format!("a key is at most {KV_MAX_KEY} bytes; this one has {}", key.len())));
    }
    Ok(())
}

fn kv_error(error: super::kv::KvStoreError) -> kv::KvError {
    match error {
        super::kv::KvStoreError::Full(why) => kv::KvError::TooLarge(why),
        super::kv::KvStoreError::Unavailable(why) => kv::KvError::Unavailable(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_rules() {
        let cases: &[(&str, &str, u16, bool)] = &[
            ("api.example.com", "api.example.com", 443, true),
            ("api.example.com", "API.Example.com", 80, true),
            ("api.example.com", "example.com", 443, false),
            ("api.example.com:8443", "api.example.com", 443, false),
            ("api.example.com:8443", "api.example.com", 8443, true),
            ("*.example.com", "a.b.example.com", 443, true),
            ("*.example.com", "example.com", 443, false),
            ("*.example.com", "badexample.com", 443, false),
            ("127.0.0.1:8080", "127.0.0.1", 8080, true),
            ("127.0.0.1:8080", "127.0.0.1", 8081, false),
            ("[::1]", "::1", 80, true),
            ("[::1]:8080", "::1", 8080, true),
        ];
        for (rule, host, port, expected) in cases {
            let parsed = HostRule::parse(rule).unwrap();
            assert_eq!(parsed.allows(host, *port), *expected, "{rule} vs {host}:{port}");
        }
        for bad in ["", "http://x.com", "x.com/path", "x.com:99999", "a*.com", "*"] {
            assert!(HostRule::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn emitted_detail_must_be_an_object() {
        let event = |detail: &str| emit::Event {
            source: "s".into(),
            detail_type: "t".into(),
            detail: detail.into(),
            resources: vec![],
        };
        assert_eq!(emit_problem(&event(r#"{"a":1}"#)), None);
        assert_eq!(emit_problem(&event("[1]")).as_deref(), Some("detail must be a JSON object"));
        assert!(emit_problem(&event("{")).unwrap().starts_with("detail is not JSON"));
        assert!(emit_problem(&event(r#"{"a":1} x"#)).unwrap().starts_with("detail is not JSON"));
        let deep = |n: usize| "[".repeat(n - 1) + "{}" + &"]".repeat(n - 1);
        assert_eq!(emit_problem(&event(&format!("{{\"a\":{}}}", deep(crate::pipeline::MAX_DETAIL_DEPTH - 1)))), None);
        assert!(
            emit_problem(&event(&format!("{{\"a\":{}}}", deep(crate::pipeline::MAX_DETAIL_DEPTH))))
                .unwrap()
                .contains("nesting deeper than the limit")
        );
    }
}
