//! Outbound HTTP, through the host's `wasi:http` implementation.
//!
//! Requests only succeed to hosts on the target's allow-list (`capabilities: {http: [...]}` in
//! the rules file); any other host is refused with [`HttpError::Denied`].
//!
//! ```no_run
//! use std::time::Duration;
//! use switchyard_guest::http::{self, Request};
//!
//! # fn run() -> switchyard_guest::Result {
//! let response = http::send(
//!     Request::post("https://hooks.example.com/orders")
//!         .header("authorization", "Bearer secret")
//!         .json(&serde_json::json!({"order": 42}))
//!         .timeout(Duration::from_secs(2)),
//! )?;
//! assert!(response.is_success());
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(target_family = "wasm")]
pub(crate) mod wasi;

/// The largest response body [`send`] reads; a longer one is an [`HttpError::Protocol`] error.
pub const MAX_RESPONSE_BODY: usize = 8 * 1024 * 1024;

/// An outgoing request, built with [`Request::get`], [`Request::post`] or [`Request::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (`"GET"`, `"POST"`, ...).
    pub method: String,
    /// An absolute `http://` or `https://` URL.
    pub url: String,
    /// Header (name, value) pairs in order; a name may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Applied to connecting, waiting for the first response byte, and between response bytes.
    pub timeout: Option<Duration>,
    /// Why the request cannot be sent (a body that did not serialize), reported by [`send`].
    invalid: Option<String>,
}

impl Request {
    /// A request with any method, no headers and an empty body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
            invalid: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Request::new("POST", url)
    }

    /// Adds a header (a name may be added more than once).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON and, unless already set, `content-type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self.body = body,
            Err(error) => self.invalid = Some(format!("the JSON body does not serialize: {error}")),
        }
        if self.header_value("content-type").is_none() {
            self.headers.push(("content-type".to_string(), "application/json".to_string()));
        }
        self
    }

    /// Sets the connect, first-byte and between-bytes timeouts to `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The first value of header `name` (compared case-insensitively).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as UTF-8 text, if it is.
    pub fn body_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

/// A response with its whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header (name, value) pairs as received; values that are not UTF-8 are converted lossily.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with `status`, no headers and `body` (handy for mock hosts in tests).
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response { status, headers: Vec::new(), body: body.into() }
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.body)
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The target may not call this host (it is not on the target's allow-list), or the target
    /// has no outbound HTTP at all.
    Denied(String),
    /// Connecting, the first byte or the next byte took longer than allowed.
    Timeout(String),
    /// The host could not be resolved or reached, or TLS failed.
    Connect(String),
    /// The response was malformed, too large or cut short.
    Protocol(String),
    /// The request itself is not valid (URL, method, header or body).
    Invalid(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied(message) => write!(f, "HTTP request denied: {message}"),
            HttpError::Timeout(message) => write!(f, "HTTP request timed out: {message}"),
            HttpError::Connect(message) => write!(f, "HTTP connection failed: {message}"),
            HttpError::Protocol(message) => write!(f, "HTTP protocol error: {message}"),
            HttpError::Invalid(message) => write!(f, "invalid HTTP request: {message}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Sends `request` and reads the whole response (up to [`MAX_RESPONSE_BODY`]).
///
/// Any status is a response, including 4xx and 5xx: check [`Response::status`]. An error means
/// no response was received.
pub fn send(request: Request) -> Result<Response, HttpError> {
    if let Some(problem) = &request.invalid {
        return Err(HttpError::Invalid(problem.clone()));
    }
    let url = Url::parse(&request.url)?;
    crate::host::http_send(&request, &url)
}

/// The parts of an absolute `http(s)` URL that a wasi:http request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url<'a> {
    pub https: bool,
    pub authority: &'a str,
    pub path_with_query: String,
}

impl<'a> Url<'a> {
    pub fn parse(url: &'a str) -> Result<Self, HttpError> {
        let invalid = |why: &str| HttpError::Invalid(format!("URL `{url}` {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("is not absolute (no scheme)"))?;
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(invalid("does not use http or https"));
        };
        // The fragment is the client's business; it is never sent.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() {
            return Err(invalid("has no host"));
        }
        if authority.contains('@') {
            return Err(invalid("has user information, which is not supported"));
        }
        if url.chars().any(|c| c.is_ascii_whitespace() || c.is_ascii_control()) {
            return Err(invalid("contains whitespace or control characters"));
        }
        let path_with_query = match path.chars().next() {
            None => "/".to_string(),
            Some('?') => format!("/{path}"),
            Some(_) => path.to_string(),
        };
        Ok(Url { https, authority, path_with_query })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_the_parts_wasi_http_sends() {
        let url = Url::parse("https://api.example.com:8443/v1/orders?id=4#top").unwrap();
        assert_eq!(
            url,
            Url { https: true, authority: "api.example.com:8443", path_with_query: "/v1/orders?id=4".into() }
        );
        assert_eq!(Url::parse("HTTP://example.com").unwrap().path_with_query, "/");
        assert_eq!(Url::parse("http://example.com?q=1").unwrap().path_with_query, "/?q=1");
        for bad in ["example.com/x", "ftp://example.com/", "http:///path", "http://user@example.com/", "http://a b/"] {
            assert!(matches!(Url::parse(bad), Err(HttpError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn json_sets_the_body_and_content_type_once() {
        let request = Request::post("http://example.com").json(&serde_json::json!({"a": 1}));
        assert_eq!(request.body, br#"{"a":1}"#);
        assert_eq!(request.header_value("Content-Type"), Some("application/json"));
        let request = Request::post("http://example.com").header("content-type", "application/vnd+json").json(&1);
        assert_eq!(request.headers.len(), 1);
    }
}
