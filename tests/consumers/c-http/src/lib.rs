//! GETs config `url` (timeout from config `timeout_ms`, default 5000). 2xx succeeds; 5xx, timeouts
//! and connection errors are retryable; a host the target does not allow is a permanent "denied".

use std::time::Duration;

use switchyard_guest::http::{self, HttpError, Request};
use switchyard_guest::{Delivery, Failure, Result, config, info};

fn handle(_delivery: Delivery) -> Result {
    let url = config::get("url").ok_or_else(|| Failure::permanent("config `url` is not set"))?;
    let timeout_ms = match config::get("timeout_ms") {
        Some(text) => text.parse().map_err(|_| Failure::permanent(format!("config `timeout_ms` = `{text}`")))?,
        None => 5000,
    };
    match http::send(Request::get(&url).timeout(Duration::from_millis(timeout_ms))) {
        Ok(response) => {
            info!("GET {url}: {}", response.status);
            match response.status {
                200..=299 => Ok(()),
                500..=599 => Err(Failure::retryable(format!("GET {url}: status {}", response.status))),
                status => Err(Failure::permanent(format!("GET {url}: status {status}"))),
            }
        }
        Err(HttpError::Denied(why)) => Err(Failure::permanent(format!("denied: {why}"))),
        Err(error @ (HttpError::Timeout(_) | HttpError::Connect(_) | HttpError::Protocol(_))) => {
            Err(Failure::retryable(format!("GET {url}: {error}")))
        }
        Err(error @ HttpError::Invalid(_)) => Err(Failure::permanent(format!("GET {url}: {error}"))),
    }
}

switchyard_guest::export!(handle);
