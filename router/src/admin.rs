//! The admin API: dead letters over HTTP, on a listener of its own, behind a bearer token.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /dlq?rule=&target=&error_code=&since=&until=&limit=` | `{"count": n, "dead_letters": [...]}`, oldest first |
//! | `GET /dlq/{id}` | one dead letter, or 404 |
//! | `POST /dlq/redrive` with `{"ids": [..]}`, `{"rule": ".."}` or `{"all": true}` | `{"redriven": n}` |
//! | `POST /dlq/purge` with the same body | `{"purged": n}` |
//!
//! Dead letters have the fields of `switchyard dlq list --json`. Times in queries are RFC 3339 or
//! ms since the epoch. Every request needs `Authorization: Bearer <token>` when a token is set;
//! errors are JSON `{"error": "..."}` with a 4xx status that says what is wrong.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::delivery::letter_json;
use crate::delivery::store::{DeliveryStore, DlqFilter};

/// Largest request body accepted, in bytes.
const MAX_BODY: usize = 64 << 10;

/// Serves the admin API on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn DeliveryStore>,
    token: Option<String>,
    shutdown: watch::Receiver<bool>,
) {
    let token: Option<Arc<str>> = token.map(Into::into);
    let handler = move |request| {
        let (store, token) = (store.clone(), token.clone());
        async move { handle(request, store.as_ref(), token.as_deref()).await }
    };
    crate::http::serve(listener, None, 64, shutdown, std::time::Duration::from_secs(5), handler).await;
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string() + "\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    reply(status, json!({ "error": message.into() }))
}

async fn handle(request: Request<Incoming>, store: &dyn DeliveryStore, token: Option<&str>) -> Response<Full<Bytes>> {
    if let Some(token) = token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|given| crate::http::same(given.trim().as_bytes(), token.as_bytes())) {
            let mut response =
                error(StatusCode::UNAUTHORIZED, "a valid `Authorization: Bearer <token>` header is required");
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let method = request.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "/dlq") => list(request.uri().query().unwrap_or(""), store),
        (Method::GET, p) if p.starts_with("/dlq/") => {
            let id = &p["/dlq/".len()..];
            let Ok(id) = id.parse::<u64>() else {
                return error(StatusCode::BAD_REQUEST, format!("{id:?} is not a dead-letter id"));
            };
            match store.dlq_get(id) {
                Ok(Some(letter)) => reply(StatusCode::OK, letter_json(&letter)),
                Ok(None) => error(StatusCode::NOT_FOUND, format!("no dead letter {id}")),
                Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            }
        }
        (Method::POST, "/dlq/redrive") | (Method::POST, "/dlq/purge") => {
            let filter = match selection(request).await {
                Ok(filter) => filter,
                Err(response) => return response,
            };
            if path == "/dlq/redrive" {
                match store.redrive(filter, crate::clock::now_ms()).await {
                    Ok(n) => reply(StatusCode::OK, json!({ "redriven": n })),
                    Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
                }
            } else {
                match store.purge(filter).await {
                    Ok(n) => reply(StatusCode::OK, json!({ "purged": n })),
                    Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
                }
            }
        }
        (_, "/dlq" | "/dlq/redrive" | "/dlq/purge") => {
            error(StatusCode::METHOD_NOT_ALLOWED, format!("{} does not accept {}", path, request.method()))
        }
        (_, p) if p.starts_with("/dlq/") => {
            error(StatusCode::METHOD_NOT_ALLOWED, format!("{} does not accept {}", path, request.method()))
        }
        _ => error(StatusCode::NOT_FOUND, format!("no such admin resource: {path}")),
    }
}

fn list(query: &str, store: &dyn DeliveryStore) -> Response<Full<Bytes>> {
    let mut filter = DlqFilter::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = crate::http::percent_decode(value);
        let time = |v: &str| {
            crate::clock::parse_time_ms(v)
                .ok_or_else(|| format!("{key}={v:?} is neither ms since the epoch nor an RFC 3339 time"))
        };
        let applied = match key {
            "rule" => {
                filter.rule = Some(value);
                Ok(())
            }
            "target" => {
                filter.target = Some(value);
                Ok(())
            }
            "error_code" => {
                filter.error_code = Some(value);
                Ok(())
            }
            "since" => time(&value).map(|t| filter.since_ms = Some(t)),
            "until" => time(&value).map(|t| filter.until_ms = Some(t)),
            "limit" => {
                value.parse().map(|n| filter.limit = Some(n)).map_err(|_| format!("limit={value:?} is not a number"))
            }
            other => Err(format!("unknown query parameter {other:?} (rule, target, error_code, since, until, limit)")),
        };
        if let Err(message) = applied {
            return error(StatusCode::BAD_REQUEST, message);
        }
    }
    match store.dlq_list(&filter) {
        Ok(letters) => reply(
            StatusCode::OK,
            json!({ "count": letters.len(), "dead_letters": letters.iter().map(letter_json).collect::<Vec<_>>() }),
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Selection {
    ids: Option<Vec<u64>>,
    rule: Option<String>,
    #[serde(default)]
    all: bool,
}

/// The dead letters a redrive or purge applies to: exactly one of ids, rule or all.
async fn selection(request: Request<Incoming>) -> Result<DlqFilter, Response<Full<Bytes>>> {
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body could not be read (at most {MAX_BODY} bytes): {e}"),
            ));
        }
    };
    let selection: Selection = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the body must be {{\"ids\": [..]}}, {{\"rule\": \"..\"}} or {{\"all\": true}}: {e}"),
        )
    })?;
    let chosen =
        usize::from(selection.ids.is_some()) + usize::from(selection.rule.is_some()) + usize::from(selection.all);
    if chosen != 1 {
        return Err(error(StatusCode::BAD_REQUEST, "give exactly one of \"ids\", \"rule\" or \"all\": true"));
    }
    Ok(DlqFilter { ids: selection.ids, rule: selection.rule, ..DlqFilter::default() })
}
