//! The producers' HTTP API.
//!
//! | method and path | does |
//! |---|---|
//! | `POST /` with `X-Amz-Target: AWSEvents.PutEvents` | EventBridge's PutEvents (AWS JSON 1.1) |
//! | `POST /` with `X-Amz-Target: AWSEvents.TestEventPattern` | EventBridge's TestEventPattern |
//! | `POST /events` (`?bus=NAME`) | plain JSON events, or CloudEvents (structured, batch, binary) |
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 when rules are loaded and the store is writable, else 503; JSON detail |
//! | `GET /metrics` | Prometheus text |
//!
//! Producers authenticate with `Authorization: Bearer <token>` (when tokens are configured) or
//! SigV4 (verified when credentials are configured). Backpressure: at most `max_in_flight` ingest
//! requests are processed at once and at most `max_pending` deliveries wait; beyond either, 429
//! (or 503 for the pending bound) with `Retry-After`, and nothing is buffered.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;
use tokio::sync::Semaphore;

use super::putevents::{AwsError, Entry, Origin, PutLimits};
use super::{cloudevents, plain, putevents, sigv4};
use crate::pipeline::{AcceptError, Accepted, Pipeline};

/// How the ingest API behaves.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub limits: PutLimits,
    /// The largest request body read, in bytes (a larger one is answered 413 unread).
    pub max_body_bytes: usize,
    /// Producers' bearer tokens; with none (and no credentials) the API is open.
    pub tokens: Vec<String>,
    /// SigV4 credentials; with some, signed requests are verified against them.
    pub credentials: Vec<sigv4::Credential>,
    /// Ingest requests processed at once; more are answered 429.
    pub max_in_flight: usize,
    /// Deliveries that may wait (recorded, not finished); beyond, ingest answers 503.
    pub max_pending: u64,
    /// The `Retry-After` of 429 and 503 answers, in seconds.
    pub retry_after_s: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            limits: PutLimits::default(),
            max_body_bytes: 1 << 20,
            tokens: Vec::new(),
            credentials: Vec::new(),
            max_in_flight: 512,
            max_pending: 1_000_000,
            retry_after_s: 1,
        }
    }
}

/// What `/readyz` reports and the rules' reloads count.
#[derive(Debug, Default)]
pub struct Readiness {
    pub rules_loaded: AtomicBool,
    /// How many rules are in force.
    pub rules: AtomicU64,
    /// The last failed reload's problems; cleared by a successful reload.
    pub last_reload_error: Mutex<Option<String>>,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
}

/// The ingest API's state.
#[derive(Debug)]
pub struct Ingest {
    pipeline: Arc<Pipeline>,
    config: IngestConfig,
    in_flight: Semaphore,
    pub readiness: Arc<Readiness>,
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    events_accepted: AtomicU64,
    events_failed: AtomicU64,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_reply(status: StatusCode, body: serde_json::Value) -> Reply {
    reply(status, "application/json", body.to_string() + "\n")
}

fn aws_reply(error: &AwsError) -> Reply {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = reply(status, "application/x-amz-json-1.1", error.body());
    if let Ok(kind) = HeaderValue::from_str(error.kind) {
        response.headers_mut().insert("x-amzn-errortype", kind);
    }
    response
}

/// Which API a request is for: its label in metrics, and its error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Aws,
    Events,
    Other,
}

impl Ingest {
    pub fn new(pipeline: Arc<Pipeline>, config: IngestConfig, readiness: Arc<Readiness>) -> Arc<Ingest> {
        Arc::new(Ingest {
            in_flight: Semaphore::new(config.max_in_flight.max(1)),
            pipeline,
            config,
            readiness,
            requests: Mutex::new(BTreeMap::new()),
            events_accepted: AtomicU64::new(0),
            events_failed: AtomicU64::new(0),
        })
    }

    /// Answers one request.
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Reply {
        let (label, response) = self.route(request).await;
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((label, response.status().as_u16())).or_default() += 1;
        }
        response
    }

    async fn route(&self, request: Request<Incoming>) -> (&'static str, Reply) {
        let path = request.uri().path();
        match (request.method(), path) {
            (&Method::GET, "/healthz") => ("healthz", json_reply(StatusCode::OK, json!({ "status": "ok" }))),
            (&Method::GET, "/readyz") => ("readyz", self.readyz()),
            (&Method::GET, "/metrics") => {
                ("metrics", reply(StatusCode::OK, "text/plain; version=0.0.4", self.prometheus()))
            }
            (&Method::POST, "/") => {
                let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
                let label = match target {
                    "AWSEvents.PutEvents" => "PutEvents",
                    "AWSEvents.TestEventPattern" => "TestEventPattern",
                    _ => "aws-unknown",
                };
                (label, self.ingest(request, Api::Aws).await)
            }
            (&Method::POST, "/events" | "/cloudevents") => {
                let label = if cloudevents::is_cloudevent(request.headers()) { "cloudevents" } else { "events" };
                (label, self.ingest(request, Api::Events).await)
            }
            (_, "/healthz" | "/readyz" | "/metrics") => ("other", method_not_allowed("GET")),
            (_, "/" | "/events" | "/cloudevents") => ("other", method_not_allowed("POST")),
            _ => {
                let message = format!(
                    "no such endpoint: {} {path}; the API is POST / (AWS JSON 1.1), POST /events, GET /healthz, /readyz, /metrics",
                    request.method()
                );
                ("other", self.error(Api::Other, StatusCode::NOT_FOUND, "UnknownOperationException", message))
            }
        }
    }

    /// An error in the request's API shape.
    fn error(&self, api: Api, status: StatusCode, kind: &'static str, message: String) -> Reply {
        match api {
            Api::Aws => aws_reply(&AwsError { status: status.as_u16(), kind, message }),
            _ => json_reply(status, json!({ "error": message })),
        }
    }

    fn busy(&self, api: Api, status: StatusCode, message: String) -> Reply {
        let kind = if status == StatusCode::TOO_MANY_REQUESTS { "ThrottlingException" } else { "InternalException" };
        let mut response = self.error(api, status, kind, message);
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(self.config.retry_after_s));
        response
    }

    /// The ingest path: admission, body, authentication, then the API.
    async fn ingest(&self, request: Request<Incoming>, api: Api) -> Reply {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return self.busy(api, StatusCode::TOO_MANY_REQUESTS, "too many requests in progress; retry later".into());
        };
        let pending = self.pipeline.store().pending();
        if pending >= self.config.max_pending {
            let message =
                format!("{pending} deliveries are waiting (the bound is {}); retry later", self.config.max_pending);
            return self.busy(api, StatusCode::SERVICE_UNAVAILABLE, message);
        }
        let (parts, body) = request.into_parts();
        let too_large = || {
            let message = format!("the request body is larger than {} bytes", self.config.max_body_bytes);
            self.error(api, StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLargeException", message)
        };
        if parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|n| n > self.config.max_body_bytes)
        {
            return too_large();
        }
        let body = match Limited::new(body, self.config.max_body_bytes).collect().await {
            Ok(body) => body.to_bytes(),
            Err(error) if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return too_large(),
            Err(error) => {
                let message = format!("the request body could not be read: {error}");
                return self.error(api, StatusCode::BAD_REQUEST, "SerializationException", message);
            }
        };
        if let Err(response) = self.authenticate(&parts, &body, api) {
            return *response;
        }
        match api {
            Api::Aws => self.aws(&parts, &body).await,
            _ => self.events(&parts, &body).await,
        }
    }

    fn authenticate(&self, parts: &http::request::Parts, body: &[u8], api: Api) -> Result<(), Box<Reply>> {
        if self.config.tokens.is_empty() && self.config.credentials.is_empty() {
            return Ok(());
        }
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let denied = |kind: &'static str, message: String| {
            let mut response = self.error(api, StatusCode::FORBIDDEN, kind, message);
            if api != Api::Aws {
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Err(Box::new(response))
        };
        if let Some(token) = authorization.strip_prefix("Bearer ") {
            let token = token.trim().as_bytes();
            if self.config.tokens.iter().any(|t| crate::http::same(t.as_bytes(), token)) {
                return Ok(());
            }
            return denied("UnrecognizedClientException", "the bearer token is not valid".into());
        }
        if authorization.starts_with("AWS4-HMAC-SHA256") {
            if self.config.credentials.is_empty() {
                return denied(
                    "UnrecognizedClientException",
                    "SigV4 requests are not accepted: no credentials are configured; use a bearer token".into(),
                );
            }
            return match sigv4::verify(
                &parts.method,
                &parts.uri,
                &parts.headers,
                body,
                &self.config.credentials,
                std::time::SystemTime::now(),
            ) {
                Ok(()) => Ok(()),
                Err(error) => denied(error.aws_error_type(), error.to_string()),
            };
        }
        if api == Api::Aws {
            return denied(
                "MissingAuthenticationTokenException",
                "the request is not signed and has no bearer token".into(),
            );
        }
        denied("Unauthorized", "a valid `Authorization: Bearer <token>` header is required".into())
    }

    async fn aws(&self, parts: &http::request::Parts, body: &[u8]) -> Reply {
        let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
        match target {
            "AWSEvents.PutEvents" => self.put_events(body).await,
            "AWSEvents.TestEventPattern" => match putevents::test_event_pattern(body) {
                Ok(answer) => reply(StatusCode::OK, "application/x-amz-json-1.1", answer),
                Err(error) => aws_reply(&error),
            },
            "" if parts.headers.contains_key("x-amz-target") => aws_reply(&AwsError {
                status: 400,
                kind: "UnknownOperationException",
                message: "the X-Amz-Target header is not ASCII; it names the operation (AWSEvents.PutEvents or AWSEvents.TestEventPattern)".into(),
            }),
            "" => aws_reply(&AwsError {
                status: 400,
                kind: "UnknownOperationException",
                message: "the X-Amz-Target header is missing; it names the operation (AWSEvents.PutEvents or AWSEvents.TestEventPattern)".into(),
            }),
            other => aws_reply(&AwsError {
                status: 400,
                kind: "UnknownOperationException",
                message: format!(
                    "operation {other} is not supported; this router serves AWSEvents.PutEvents and AWSEvents.TestEventPattern"
                ),
            }),
        }
    }

    fn origin_now(&self) -> String {
        crate::clock::rfc3339(std::time::SystemTime::now())
    }

    async fn put_events(&self, body: &[u8]) -> Reply {
        let config = self.pipeline.config();
        let now = self.origin_now();
        let origin = Origin { account: &config.account, region: &config.region, now: &now };
        let routes = self.pipeline.routes();
        let entries = match putevents::read_put_events(
            body,
            &self.config.limits,
            &origin,
            || self.pipeline.new_event_id(),
            |bus| routes.has_bus(bus),
        ) {
            Ok(entries) => entries,
            Err(error) => return aws_reply(&error),
        };
        // Entries go to the pipeline in runs of the same bus, in order, each run with one write.
        let mut results: Vec<Result<String, (&str, String)>> = Vec::with_capacity(entries.len());
        let mut entries = entries.into_iter().peekable();
        while let Some(entry) = entries.next() {
            let (bus, head, envelope) = match entry {
                Entry::Failed { code, message } => {
                    results.push(Err((code, message)));
                    continue;
                }
                Entry::Event { bus, head, envelope } => (bus, head, envelope),
            };
            let mut ids = vec![head.id.clone()];
            let mut batch = vec![crate::pipeline::Incoming { event: envelope, head: Some(head) }];
            while let Some(Entry::Event { bus: next, .. }) = entries.peek() {
                if *next != bus {
                    break;
                }
                let Some(Entry::Event { head, envelope, .. }) = entries.next() else { break };
                ids.push(head.id.clone());
                batch.push(crate::pipeline::Incoming { event: envelope, head: Some(head) });
            }
            let accepted = self.pipeline.accept_batch(&bus, batch, 0, None, false).await;
            for (id, result) in ids.into_iter().zip(accepted) {
                match result {
                    Ok(_) => results.push(Ok(id)),
                    Err(AcceptError::Store(error)) => {
                        self.events_failed.fetch_add(1, Ordering::Relaxed);
                        return self.busy(
                            Api::Aws,
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("the events could not be recorded; nothing of this request was accepted that matched a rule: {error}"),
                        );
                    }
                    Err(AcceptError::Invalid(_) | AcceptError::Withheld) => {
                        results.push(Err(("MalformedDetail", "Detail is malformed.".into())))
                    }
                    Err(AcceptError::UnknownBus(message)) => results.push(Err(("InvalidArgument", message))),
                }
            }
        }
        let failed = results.iter().filter(|r| r.is_err()).count() as u64;
        self.events_failed.fetch_add(failed, Ordering::Relaxed);
        self.events_accepted.fetch_add(results.len() as u64 - failed, Ordering::Relaxed);
        reply(StatusCode::OK, "application/x-amz-json-1.1", putevents::put_events_response(&results))
    }

    /// `POST /events`: plain JSON or CloudEvents, all or nothing.
    async fn events(&self, parts: &http::request::Parts, body: &[u8]) -> Reply {
        let bus = match crate::http::query_param(parts.uri.query().unwrap_or(""), "bus") {
            Some(bus) => putevents::bus_name(&bus).to_owned(),
            None => crate::pipeline::DEFAULT_BUS.to_owned(),
        };
        if !self.pipeline.has_bus(&bus) {
            return json_reply(StatusCode::NOT_FOUND, json!({ "error": format!("event bus {bus} does not exist") }));
        }
        let config = self.pipeline.config();
        let now = self.origin_now();
        let origin = Origin { account: &config.account, region: &config.region, now: &now };
        let refused = |errors: Vec<String>| {
            json_reply(StatusCode::BAD_REQUEST, json!({ "error": errors.join("; "), "errors": errors }))
        };
        let cloud = cloudevents::is_cloudevent(&parts.headers);
        let envelopes: Vec<crate::pipeline::Incoming> = if cloud {
            let envelope = cloudevents::Envelope { account: &config.account, region: &config.region, now: &now };
            match cloudevents::to_envelopes(&parts.headers, body, &envelope) {
                Ok(envelopes) if envelopes.len() > self.config.limits.max_entries => {
                    let message = format!(
                        "{} events in one batch; the limit is {}",
                        envelopes.len(),
                        self.config.limits.max_entries
                    );
                    return json_reply(StatusCode::BAD_REQUEST, json!({ "error": message }));
                }
                Ok(envelopes) => envelopes.into_iter().map(Into::into).collect(),
                Err(errors) => return refused(errors.iter().map(ToString::to_string).collect()),
            }
        } else {
            match plain::read_events(body, &origin, self.config.limits.max_entries, || self.pipeline.new_event_id()) {
                Ok(events) => events,
                Err(errors) => return refused(errors.iter().map(ToString::to_string).collect()),
            }
        };
        // Whether errors point into an array of events (`/3: ...`) or at the one event.
        let batch = if cloud {
            is_batch(&parts.headers)
        } else {
            body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
        };
        let count = envelopes.len();
        let results = self.pipeline.accept_batch(&bus, envelopes, 0, None, true).await;
        let mut entries = Vec::with_capacity(count);
        let mut problems = Vec::new();
        for (index, result) in results.into_iter().enumerate() {
            match result {
                Ok(Accepted { event_id, deliveries }) => {
                    entries.push(json!({ "id": event_id, "deliveries": deliveries }))
                }
                Err(AcceptError::Store(error)) => {
                    return self.busy(
                        Api::Events,
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("the events could not be recorded: {error}"),
                    );
                }
                Err(AcceptError::Withheld) => {}
                Err(error) if batch => problems.push(format!("/{index}: {error}")),
                Err(error) => problems.push(error.to_string()),
            }
        }
        if !problems.is_empty() {
            // Events the engine refuses (too deep, say): the request is all or nothing.
            self.events_failed.fetch_add(count as u64, Ordering::Relaxed);
            let message = format!("nothing was accepted: {}", problems.join("; "));
            return json_reply(StatusCode::BAD_REQUEST, json!({ "error": message, "errors": problems }));
        }
        self.events_accepted.fetch_add(entries.len() as u64, Ordering::Relaxed);
        json_reply(StatusCode::OK, json!({ "accepted": entries.len(), "events": entries }))
    }

    fn readyz(&self) -> Reply {
        let rules_loaded = self.readiness.rules_loaded.load(Ordering::Acquire);
        let store = self.pipeline.store().writable();
        let reload_error = self.readiness.last_reload_error.lock().ok().and_then(|e| e.clone());
        let ready = rules_loaded && store.is_ok();
        let body = json!({
            "ready": ready,
            "rules_loaded": rules_loaded,
            "rules": self.readiness.rules.load(Ordering::Relaxed),
            "store": match &store { Ok(()) => "writable".to_owned(), Err(e) => e.to_string() },
            "last_reload_error": reload_error,
        });
        json_reply(if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body)
    }

    /// The pipeline's metrics, then the ingest API's and the rules' reloads.
    pub fn prometheus(&self) -> String {
        let mut out = self.pipeline.prometheus();
        let name = "switchyard_http_requests_total";
        out.push_str(&format!("# HELP {name} Requests answered, by API and status\n# TYPE {name} counter\n"));
        if let Ok(requests) = self.requests.lock() {
            for ((api, status), count) in requests.iter() {
                out.push_str(&format!("{name}{{api=\"{api}\",status=\"{status}\"}} {count}\n"));
            }
        }
        let name = "switchyard_ingested_events_total";
        out.push_str(&format!("# HELP {name} Events producers sent, by result\n# TYPE {name} counter\n"));
        out.push_str(&format!("{name}{{result=\"accepted\"}} {}\n", self.events_accepted.load(Ordering::Relaxed)));
        out.push_str(&format!("{name}{{result=\"failed\"}} {}\n", self.events_failed.load(Ordering::Relaxed)));
        let r = &self.readiness;
        let name = "switchyard_rules_reloads_total";
        out.push_str(&format!("# HELP {name} Reloads of the rules, by result\n# TYPE {name} counter\n"));
        out.push_str(&format!("{name}{{result=\"ok\"}} {}\n", r.reloads_ok.load(Ordering::Relaxed)));
        out.push_str(&format!("{name}{{result=\"failed\"}} {}\n", r.reloads_failed.load(Ordering::Relaxed)));
        let name = "switchyard_rules";
        out.push_str(&format!(
            "# HELP {name} Rules in force\n# TYPE {name} gauge\n{name} {}\n",
            r.rules.load(Ordering::Relaxed)
        ));
        let failing = r.last_reload_error.lock().map(|e| e.is_some()).unwrap_or(false);
        let name = "switchyard_rules_reload_failing";
        out.push_str(&format!(
            "# HELP {name} 1 when the last reload failed and older rules are serving\n# TYPE {name} gauge\n{name} {}\n",
            u8::from(failing)
        ));
        out
    }
}

fn method_not_allowed(allowed: &'static str) -> Reply {
    let mut response =
        json_reply(StatusCode::METHOD_NOT_ALLOWED, json!({ "error": format!("this endpoint answers {allowed} only") }));
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allowed));
    response
}

/// Whether a CloudEvents request is a batch (its content type), not one event.
fn is_batch(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with(cloudevents::BATCH))
}
