//! [`send`](super::send) inside the router: `wasi:http/outgoing-handler@0.2`.

use std::time::Duration;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, HeaderError, IncomingBody, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::{InputStream, OutputStream, StreamError};

use super::{HttpError, MAX_RESPONSE_BODY, Request, Response, Url};

pub(crate) fn send(request: &Request, url: &Url<'_>) -> Result<Response, HttpError> {
    // The host may refuse at once or through the response future; either way, say which host.
    exchange(request, url).map_err(|error| match error {
        HttpError::Denied(code) => {
            HttpError::Denied(format!("`{}` is not on the target's allow-list ({code})", url.authority))
        }
        other => other,
    })
}

fn exchange(request: &Request, url: &Url<'_>) -> Result<Response, HttpError> {
    let headers = Fields::new();
    for (name, value) in &request.headers {
        headers.append(name, value.as_bytes()).map_err(|error| header_error(name, error))?;
    }
    // A known length spares the receiver a chunked body (which some servers refuse).
    if !request.body.is_empty() && request.header_value("content-length").is_none() {
        let length = request.body.len().to_string();
        headers.append("content-length", length.as_bytes()).map_err(|error| header_error("content-length", error))?;
    }
    let outgoing = OutgoingRequest::new(headers);
    let invalid = |what: &str| HttpError::Invalid(format!("the host rejected the request's {what}"));
    outgoing.set_method(&method(&request.method)).map_err(|()| invalid("method"))?;
    outgoing
        .set_scheme(Some(if url.https { &Scheme::Https } else { &Scheme::Http }))
        .map_err(|()| invalid("scheme"))?;
    outgoing.set_authority(Some(url.authority)).map_err(|()| invalid("authority"))?;
    outgoing.set_path_with_query(Some(&url.path_with_query)).map_err(|()| invalid("path"))?;
    let body = outgoing.body().map_err(|()| invalid("body"))?;
    let options = request.timeout.map(options).transpose()?;

    // The request is under way once handed over; its body streams to the host after that.
    let future = outgoing_handler::handle(outgoing, options).map_err(from_code)?;
    let response = match write_body(body, &request.body, &future)? {
        Some(early) => early,
        None => wait(&future)?,
    };
    read_response(response)
}

fn method(method: &str) -> Method {
    match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

fn options(timeout: Duration) -> Result<RequestOptions, HttpError> {
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let options = RequestOptions::new();
    let unsupported = |which: &str| HttpError::Invalid(format!("the host does not support a {which} timeout"));
    options.set_connect_timeout(Some(nanos)).map_err(|()| unsupported("connect"))?;
    options.set_first_byte_timeout(Some(nanos)).map_err(|()| unsupported("first-byte"))?;
    options.set_between_bytes_timeout(Some(nanos)).map_err(|()| unsupported("between-bytes"))?;
    Ok(options)
}

/// Writes `bytes` in the chunks the stream accepts, then finishes the body; an empty body is
/// finished without opening its stream. When the host stops taking the body, either the server
/// answered early (that answer is returned) or the request failed and the response future says why.
fn write_body(
    body: OutgoingBody,
    bytes: &[u8],
    future: &FutureIncomingResponse,
) -> Result<Option<IncomingResponse>, HttpError> {
    if !bytes.is_empty() {
        let stream = body.write().map_err(|()| HttpError::Invalid("the request body was already taken".into()))?;
        let written = write_all(&stream, bytes);
        // The stream is a child of the body and must go before the body is finished.
        drop(stream);
        if written.is_err() {
            return wait(future).map(Some);
        }
    }
    OutgoingBody::finish(body, None).map_err(from_code)?;
    Ok(None)
}

fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), HttpError> {
    while !bytes.is_empty() {
        let permitted = stream.check_write().map_err(stream_error)?;
        if permitted == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = bytes.len().min(usize::try_from(permitted).unwrap_or(usize::MAX));
        stream.write(&bytes[..n]).map_err(stream_error)?;
        bytes = &bytes[n..];
    }
    stream.blocking_flush().map_err(stream_error)
}

fn wait(future: &FutureIncomingResponse) -> Result<IncomingResponse, HttpError> {
    loop {
        match future.get() {
            Some(Ok(Ok(response))) => return Ok(response),
            Some(Ok(Err(code))) => return Err(from_code(code)),
            Some(Err(())) => return Err(HttpError::Protocol("the response was already taken".into())),
            None => future.subscribe().block(),
        }
    }
}

fn read_response(response: IncomingResponse) -> Result<Response, HttpError> {
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let body = response.consume().map_err(|()| HttpError::Protocol("the response body was already taken".into()))?;
    let stream = body.stream().map_err(|()| HttpError::Protocol("the response body was already taken".into()))?;
    let bytes = read_all(&stream);
    drop(stream);
    // Trailers are not exposed; finishing just releases the body.
    drop(IncomingBody::finish(body));
    Ok(Response { status, headers, body: bytes? })
}

fn read_all(stream: &InputStream) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BODY {
                    return Err(HttpError::Protocol(format!(
                        "the response body is larger than {} MiB",
                        MAX_RESPONSE_BODY / (1024 * 1024)
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(body),
            Err(error) => return Err(stream_error(error)),
        }
    }
}

fn stream_error(error: StreamError) -> HttpError {
    match error {
        StreamError::Closed => HttpError::Protocol("the stream closed early".into()),
        StreamError::LastOperationFailed(error) => match wasip2::http::types::http_error_code(&error) {
            Some(code) => from_code(code),
            None => HttpError::Protocol(error.to_debug_string()),
        },
    }
}

fn header_error(name: &str, error: HeaderError) -> HttpError {
    let why = match error {
        HeaderError::InvalidSyntax => "is not a valid header",
        HeaderError::Forbidden => "may not be set by a guest",
        HeaderError::Immutable => "cannot be changed",
    };
    HttpError::Invalid(format!("header `{name}` {why}"))
}

fn from_code(code: ErrorCode) -> HttpError {
    // The wasi:http error code's name (with its payload, if any) is the message.
    let debug = format!("{code:?}");
    let message = debug.strip_prefix("ErrorCode::").unwrap_or(&debug).to_string();
    match code {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => HttpError::Denied(message),
        ErrorCode::DnsTimeout
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => HttpError::Timeout(message),
        ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_) => HttpError::Connect(message),
        ErrorCode::HttpRequestLengthRequired
        | ErrorCode::HttpRequestBodySize(_)
        | ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong
        | ErrorCode::HttpRequestHeaderSectionSize(_)
        | ErrorCode::HttpRequestHeaderSize(_)
        | ErrorCode::HttpRequestTrailerSectionSize(_)
        | ErrorCode::HttpRequestTrailerSize(_)
        | ErrorCode::ConfigurationError => HttpError::Invalid(message),
        _ => HttpError::Protocol(message),
    }
}
