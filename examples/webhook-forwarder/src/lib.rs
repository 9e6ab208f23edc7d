//! Webhook forwarder: POSTs each delivery's JSON payload to a webhook.
//!
//! Config: `url` (required), `token` (optional: sent as `authorization: Bearer <token>`),
//! `timeout_ms` (default 2000). Capabilities: `http: [<the webhook's host>]`.
//!
//! The webhook's answer decides the outcome: 2xx succeeds; 408, 429 and 5xx are retried, as are
//! timeouts and connection errors; any other status fails permanently, as does a host the target
//! does not allow.

use std::time::Duration;

use switchyard_guest::http::{self, HttpError, Request, Response};
use switchyard_guest::{Delivery, Failure, Result, config, info, warn};

const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// How much of an error response's body goes into the failure message.
const BODY_EXCERPT: usize = 200;

fn handle(delivery: Delivery) -> Result {
    let url = config::get("url").ok_or_else(|| Failure::permanent("config `url` is not set"))?;
    let timeout_ms = match config::get("timeout_ms") {
        None => DEFAULT_TIMEOUT_MS,
        Some(text) => {
            text.parse().map_err(|_| Failure::permanent(format!("config `timeout_ms` = `{text}` is not a number")))?
        }
    };
    // Only JSON is forwarded; a payload that is not JSON will not become JSON on a retry.
    serde_json::from_slice::<serde::de::IgnoredAny>(&delivery.payload)
        .map_err(|error| Failure::permanent(format!("the payload is not JSON: {error}")))?;

    let m = &delivery.metadata;
    let mut request = Request::post(&url)
        .header("content-type", "application/json")
        // Lets the receiver drop duplicates: a retry carries the same event id.
        .header("x-switchyard-event-id", &m.event_id)
        .header("x-switchyard-attempt", m.attempt.to_string())
        .body(delivery.payload.clone())
        .timeout(Duration::from_millis(timeout_ms));
    if let Some(token) = config::get("token") {
        request = request.header("authorization", format!("Bearer {token}"));
    }

    match http::send(request) {
        Ok(response) => outcome(&url, &response),
        Err(HttpError::Denied(why)) => Err(Failure::permanent(format!(
            "POST {url} denied: {why}; the target must list the host in capabilities.http"
        ))),
        Err(error @ (HttpError::Timeout(_) | HttpError::Connect(_) | HttpError::Protocol(_))) => {
            warn!("POST {url} failed: {error}");
            Err(Failure::retryable(format!("POST {url}: {error}")))
        }
        Err(error @ HttpError::Invalid(_)) => Err(Failure::permanent(format!("POST {url}: {error}"))),
    }
}

fn outcome(url: &str, response: &Response) -> Result {
    let status = response.status;
    let answer = || {
        let excerpt = &response.body[..response.body.len().min(BODY_EXCERPT)];
        format!("POST {url} answered {status}: {}", String::from_utf8_lossy(excerpt))
    };
    match status {
        200..=299 => {
            info!("POST {url}: {status}");
            Ok(())
        }
        408 | 429 | 500..=599 => {
            warn!("POST {url}: {status}, will retry");
            Err(Failure::retryable(answer()))
        }
        _ => Err(Failure::permanent(answer())),
    }
}

switchyard_guest::export!(handle);

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use serde_json::json;
    use switchyard_guest::http::{HttpError, Request, Response};
    use switchyard_guest::testing::{TestHost, TestRun, delivery, delivery_bytes};

    use super::handle;

    const URL: &str = "https://hooks.example.com/orders";

    fn event() -> serde_json::Value {
        json!({"id": "evt-9", "source": "shop.orders", "detail-type": "OrderPlaced", "detail": {"order_id": "A-1"}})
    }

    /// Runs the forwarder against a webhook that answers with `answer`, returning the run and the
    /// requests the webhook saw.
    fn forward(host: TestHost, answer: impl Fn() -> Result<Response, HttpError> + 'static) -> (TestRun, Vec<Request>) {
        let seen: Rc<RefCell<Vec<Request>>> = Rc::default();
        let recorder = Rc::clone(&seen);
        let mut host = host.config("url", URL).http(move |request| {
            recorder.borrow_mut().push(request.clone());
            answer()
        });
        let run = host.run(handle, delivery(&event()));
        let seen = seen.borrow().clone();
        (run, seen)
    }

    #[test]
    fn posts_the_payload_as_json() {
        let (run, seen) = forward(TestHost::new().config("token", "s3cret"), || Ok(Response::new(204, "")));
        assert_eq!(run.result, Ok(()));
        let request = &seen[0];
        assert_eq!((request.method.as_str(), request.url.as_str()), ("POST", URL));
        assert_eq!(request.header_value("content-type"), Some("application/json"));
        assert_eq!(request.header_value("authorization"), Some("Bearer s3cret"));
        assert_eq!(request.header_value("x-switchyard-event-id"), Some("evt-9"));
        assert_eq!(request.header_value("x-switchyard-attempt"), Some("1"));
        assert_eq!(request.timeout, Some(Duration::from_millis(2000)));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&request.body).unwrap(), event());
    }

    #[test]
    fn no_token_no_authorization_and_the_timeout_from_config() {
        let (_, seen) = forward(TestHost::new().config("timeout_ms", "350"), || Ok(Response::new(200, "ok")));
        assert_eq!(seen[0].header_value("authorization"), None);
        assert_eq!(seen[0].timeout, Some(Duration::from_millis(350)));
    }

    #[test]
    fn client_errors_are_permanent_with_an_excerpt_of_the_body() {
        let (run, _) = forward(TestHost::new(), || Ok(Response::new(422, "x".repeat(500))));
        let failure = run.result.unwrap_err();
        assert!(failure.is_permanent());
        assert_eq!(failure.message(), format!("POST {URL} answered 422: {}", "x".repeat(200)));
    }

    #[test]
    fn server_errors_throttling_and_request_timeouts_are_retried() {
        for status in [408, 429, 500, 503] {
            let (run, _) = forward(TestHost::new(), move || Ok(Response::new(status, "busy")));
            let failure = run.result.unwrap_err();
            assert!(!failure.is_permanent(), "{status}");
            assert_eq!(failure.message(), format!("POST {URL} answered {status}: busy"));
        }
    }

    #[test]
    fn timeouts_and_connection_errors_are_retried() {
        for error in [HttpError::Timeout("ConnectionTimeout".into()), HttpError::Connect("ConnectionRefused".into())] {
            let (run, _) = forward(TestHost::new(), move || Err(error.clone()));
            assert!(!run.result.unwrap_err().is_permanent());
        }
    }

    #[test]
    fn a_host_off_the_allow_list_is_permanent() {
        // Without an http handler the test host denies every request, as the router does for a
        // host the target does not list.
        let run = TestHost::new().config("url", URL).run(handle, delivery(&event()));
        let failure = run.result.unwrap_err();
        assert!(failure.is_permanent());
        assert!(failure.message().contains("capabilities.http"), "{}", failure.message());
    }

    #[test]
    fn configuration_and_payload_mistakes_are_permanent() {
        let run = TestHost::new().run(handle, delivery(&event()));
        assert_eq!(run.result.unwrap_err().message(), "config `url` is not set");

        let run = TestHost::new().config("url", URL).config("timeout_ms", "soon").run(handle, delivery(&event()));
        assert!(run.result.unwrap_err().is_permanent());

        let run = TestHost::new().config("url", URL).run(handle, delivery_bytes("plain text"));
        assert!(run.result.unwrap_err().message().starts_with("the payload is not JSON"));

        let run = TestHost::new()
            .config("url", "hooks.example.com")
            .http(|_| Ok(Response::new(200, "")))
            .run(handle, delivery(&event()));
        assert!(run.result.unwrap_err().is_permanent());
    }
}
