//! AWS Signature Version 4 (header form, `AWS4-HMAC-SHA256`): verifying a request against a list of
//! credentials, and signing one (for tests and load generators). docs/sigv4.md says what is checked.
//!
//! Pure functions: no IO, no async, no clock of its own (the caller passes `now`). Not supported:
//! presigned URLs (query-string authentication), session tokens, SigV4a, chunked (`STREAMING-…`)
//! payloads and `UNSIGNED-PAYLOAD`, and the `Date` header in place of `x-amz-date`.
//!
//! The canonical request follows the AWS SDKs for services other than S3: the path is normalised
//! (`.`, `..` and empty segments removed) and each segment of the path as sent (already
//! percent-encoded) is URI-encoded once more; the query is decoded and re-encoded, then sorted.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, Uri};
use sha2::{Digest, Sha256};

use crate::clock;

type HmacSha256 = Hmac<Sha256>;

/// The one algorithm verified.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name a credential scope must carry for `verify`.
pub const SERVICE: &str = "events";
/// How far the request's x-amz-date may be from the server's clock, either way.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

const TERMINATOR: &str = "aws4_request";
const X_AMZ_DATE: &str = "x-amz-date";
const X_AMZ_CONTENT_SHA256: &str = "x-amz-content-sha256";

/// An access key the server accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The secret stays out of logs.
impl fmt::Debug for Credential {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Why a request's signature is not accepted; the message says what the client can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error(
        "missing authentication token: the request has no Authorization header; sign it with AWS Signature Version 4"
    )]
    Missing,
    #[error("incomplete signature: {0}")]
    Malformed(String),
    #[error("unrecognized access key id {0:?}: the security token included in the request is invalid")]
    UnknownAccessKey(String),
    #[error(
        "signature expired: the request time {request_time} (x-amz-date) is more than 15 minutes from the server time {server_time}; check the client's clock"
    )]
    Skew { request_time: String, server_time: String },
    /// The credential scope names another date or service than the request.
    #[error("wrong credential scope: {0}")]
    Scope(String),
    #[error("the x-amz-content-sha256 header is not the SHA-256 of the body")]
    BodyHashMismatch,
    #[error(
        "the request signature we calculated does not match the signature you provided; check your secret access key and signing method"
    )]
    SignatureMismatch,
}

impl SigV4Error {
    /// The `__type` AWS answers with (and `x-amzn-ErrorType`).
    pub fn aws_error_type(&self) -> &'static str {
        match self {
            SigV4Error::Missing => "MissingAuthenticationTokenException",
            SigV4Error::Malformed(_) => "IncompleteSignatureException",
            SigV4Error::UnknownAccessKey(_) => "UnrecognizedClientException",
            SigV4Error::Skew { .. }
            | SigV4Error::Scope(_)
            | SigV4Error::BodyHashMismatch
            | SigV4Error::SignatureMismatch => "InvalidSignatureException",
        }
    }
}

/// Verifies the Authorization header (`AWS4-HMAC-SHA256 Credential=AKID/date/region/events/aws4_request,
/// SignedHeaders=…, Signature=…`) of a request against `credentials`. Any region is accepted; the
/// service must be `events`. See `verify_for_service`.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    credentials: &[Credential],
    now: SystemTime,
) -> Result<(), SigV4Error> {
    verify_for_service(method, uri, headers, body, credentials, SERVICE, now)
}

/// `verify` for a credential scope naming `service` (the AWS test suite signs for `service`).
///
/// Checks, in order: the Authorization header is there and well formed (SignedHeaders sorted,
/// lowercase, including `host`), x-amz-date is there, the scope's date is x-amz-date's and its
/// service is `service`, the access key is known, x-amz-date is within 15 minutes of `now`, every
/// signed header is in the request, x-amz-content-sha256 (when sent) is the body's hash, and the
/// signature, compared in constant time.
pub fn verify_for_service(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    credentials: &[Credential],
    service: &str,
    now: SystemTime,
) -> Result<(), SigV4Error> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let authorization = match (values.next(), values.next()) {
        (None, _) => return Err(SigV4Error::Missing),
        (Some(_), Some(_)) => return Err(malformed("the request has more than one Authorization header")),
        (Some(value), None) => {
            value.to_str().map_err(|_| malformed("the Authorization header is not visible ASCII"))?
        }
    };
    let authorization = Authorization::parse(authorization)?;
    let amz_date = single_header(headers, X_AMZ_DATE)?
        .ok_or_else(|| malformed("the request has no x-amz-date header (the signing time, like 20150830T123600Z)"))?;
    let request_ms = parse_amz_date(amz_date)
        .ok_or_else(|| malformed(format!("x-amz-date {amz_date:?} is not like 20150830T123600Z")))?;
    if !amz_date.starts_with(authorization.date) {
        return Err(SigV4Error::Scope(format!(
            "the credential scope's date {} is not the date of x-amz-date {amz_date}",
            authorization.date
        )));
    }
    if authorization.service != service {
        return Err(SigV4Error::Scope(format!(
            "the credential is scoped to service {:?}; this endpoint is {service:?}",
            authorization.service
        )));
    }
    let credential = credentials
        .iter()
        .find(|credential| credential.access_key_id == authorization.access_key_id)
        .ok_or_else(|| SigV4Error::UnknownAccessKey(authorization.access_key_id.to_owned()))?;
    let now_ms = now.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64);
    if request_ms.abs_diff(now_ms) > MAX_SKEW.as_millis() as u64 {
        return Err(SigV4Error::Skew { request_time: amz_date.to_owned(), server_time: amz_date_of(now) });
    }
    for name in &authorization.signed_headers {
        let present = headers.contains_key(*name) || (*name == "host" && uri.authority().is_some());
        if !present {
            return Err(malformed(format!("signed header {name} is not in the request")));
        }
    }
    let payload_hash = payload_hash(headers, body)?;
    if single_header(headers, X_AMZ_CONTENT_SHA256)?.is_some()
        && !payload_hash.eq_ignore_ascii_case(&hex(&Sha256::digest(body)))
    {
        return Err(SigV4Error::BodyHashMismatch);
    }
    let canonical = canonical_request(method, uri, headers, &authorization.signed_headers, &payload_hash);
    let scope = Scope { date: authorization.date, region: authorization.region, service };
    let mut mac = HmacSha256::new_from_slice(&signing_key(&credential.secret_access_key, &scope))
        .expect("HMAC takes a key of any length");
    mac.update(string_to_sign(amz_date, &scope, &canonical).as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&authorization.signature).map_err(|_| SigV4Error::SignatureMismatch)
}

/// Signs a request: sets x-amz-date to `now`, a Host header from the URI's authority when there is
/// none, and the Authorization header, signing every header of the request. The payload hash is
/// x-amz-content-sha256 when the request has one, else the SHA-256 of `body`. For tests and load
/// generators.
///
/// # Panics
/// If the access key id, `region` or `service` contain characters a header value cannot hold.
#[allow(clippy::too_many_arguments)] // the request's four parts and the signing scope's four
pub fn sign(
    method: &Method,
    uri: &Uri,
    headers: &mut HeaderMap,
    body: &[u8],
    credential: &Credential,
    region: &str,
    service: &str,
    now: SystemTime,
) {
    let amz_date = amz_date_of(now);
    headers.remove(http::header::AUTHORIZATION);
    headers.insert(X_AMZ_DATE, HeaderValue::from_str(&amz_date).expect("an x-amz-date is ASCII digits"));
    if !headers.contains_key(http::header::HOST)
        && let Some(authority) = uri.authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(http::header::HOST, host);
    }
    let mut signed_headers: Vec<&str> = headers.keys().map(http::HeaderName::as_str).collect();
    signed_headers.sort_unstable();
    signed_headers.dedup();
    // A body hash header that cannot be read signs as the body's own hash; verify will refuse it.
    let payload_hash = payload_hash(headers, body).unwrap_or_else(|_| hex(&Sha256::digest(body)));
    let canonical = canonical_request(method, uri, headers, &signed_headers, &payload_hash);
    let scope = Scope { date: &amz_date[..8], region, service };
    let mut mac = HmacSha256::new_from_slice(&signing_key(&credential.secret_access_key, &scope))
        .expect("HMAC takes a key of any length");
    mac.update(string_to_sign(&amz_date, &scope, &canonical).as_bytes());
    let authorization = format!(
        "{ALGORITHM} Credential={}/{}/{region}/{service}/{TERMINATOR}, SignedHeaders={}, Signature={}",
        credential.access_key_id,
        scope.date,
        signed_headers.join(";"),
        hex(&mac.finalize().into_bytes())
    );
    let authorization = HeaderValue::from_str(&authorization)
        .expect("the access key id, region and service are text a header value can hold");
    headers.insert(http::header::AUTHORIZATION, authorization);
}

/// The parts of an Authorization header.
#[derive(Debug)]
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: [u8; 32],
}

impl<'a> Authorization<'a> {
    fn parse(value: &'a str) -> Result<Authorization<'a>, SigV4Error> {
        let value = value.trim();
        let Some(rest) = value.strip_prefix(ALGORITHM).filter(|rest| rest.starts_with([' ', '\t'])) else {
            let algorithm = value.split_whitespace().next().unwrap_or("");
            return Err(malformed(format!(
                "the Authorization header's algorithm is {algorithm:?}; only {ALGORITHM} is accepted"
            )));
        };
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for component in rest.split(',').map(str::trim) {
            let Some((key, component_value)) = component.split_once('=') else {
                return Err(malformed(format!("Authorization component {component:?} is not Key=Value")));
            };
            let slot = match key.trim() {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                other => {
                    return Err(malformed(format!(
                        "unknown Authorization component {other:?} (expected Credential, SignedHeaders, Signature)"
                    )));
                }
            };
            if slot.replace(component_value.trim()).is_some() {
                return Err(malformed(format!("Authorization component {} is given twice", key.trim())));
            }
        }
        let credential = credential.ok_or_else(|| malformed("the Authorization header lacks Credential="))?;
        let signed_headers =
            signed_headers.ok_or_else(|| malformed("the Authorization header lacks SignedHeaders="))?;
        let signature = signature.ok_or_else(|| malformed("the Authorization header lacks Signature="))?;

        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, terminator] = parts[..] else {
            return Err(malformed(format!(
                "Credential {credential:?} is not ACCESS_KEY_ID/YYYYMMDD/region/service/{TERMINATOR}"
            )));
        };
        if access_key_id.is_empty()
            || date.len() != 8
            || !date.bytes().all(|byte| byte.is_ascii_digit())
            || region.is_empty()
            || service.is_empty()
            || terminator != TERMINATOR
        {
            return Err(malformed(format!(
                "Credential {credential:?} is not ACCESS_KEY_ID/YYYYMMDD/region/service/{TERMINATOR}"
            )));
        }

        let signed_headers: Vec<&str> = signed_headers.split(';').collect();
        let well_formed = signed_headers.iter().all(|name| {
            !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_graphic() && !byte.is_ascii_uppercase())
        }) && signed_headers.windows(2).all(|pair| pair[0] < pair[1]);
        if !well_formed {
            return Err(malformed("SignedHeaders must be lowercase header names separated by ';', sorted, each once"));
        }
        if !signed_headers.contains(&"host") {
            return Err(malformed("SignedHeaders must include host"));
        }

        let signature = decode_signature(signature)
            .ok_or_else(|| malformed(format!("Signature {signature:?} is not 64 hexadecimal digits")))?;
        Ok(Authorization { access_key_id, date, region, service, signed_headers, signature })
    }
}

fn malformed(message: impl Into<String>) -> SigV4Error {
    SigV4Error::Malformed(message.into())
}

fn decode_signature(text: &str) -> Option<[u8; 32]> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut signature = [0u8; 32];
    for (byte, pair) in signature.iter_mut().zip(digits.chunks_exact(2)) {
        let high = (pair[0] as char).to_digit(16)?;
        let low = (pair[1] as char).to_digit(16)?;
        *byte = (high << 4 | low) as u8;
    }
    Some(signature)
}

/// A header the request may carry once, as text.
fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, SigV4Error> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(malformed(format!("the request has more than one {name} header"))),
        (Some(value), None) => {
            value.to_str().map(|text| Some(text.trim())).map_err(|_| malformed(format!("{name} is not visible ASCII")))
        }
    }
}

/// The last line of the canonical request: x-amz-content-sha256 as sent, else the body's hash.
fn payload_hash(headers: &HeaderMap, body: &[u8]) -> Result<String, SigV4Error> {
    Ok(match single_header(headers, X_AMZ_CONTENT_SHA256)? {
        Some(hash) => hash.to_owned(),
        None => hex(&Sha256::digest(body)),
    })
}

/// `20150830T123600Z` to ms since the epoch.
fn parse_amz_date(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let digits_at =
        |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|part| part.iter().all(u8::is_ascii_digit));
    if bytes.len() != 16 || !digits_at(0..8) || bytes[8] != b'T' || !digits_at(9..15) || bytes[15] != b'Z' {
        return None;
    }
    // All ASCII digits at fixed places: slicing is on character boundaries.
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    clock::parse_rfc3339_ms(&rfc3339)
}

/// `now` as x-amz-date writes it: `20150830T123600Z`.
fn amz_date_of(now: SystemTime) -> String {
    clock::rfc3339(now).chars().filter(|character| *character != '-' && *character != ':').collect()
}

#[derive(Debug)]
struct Scope<'a> {
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn signing_key(secret_access_key: &str, scope: &Scope) -> [u8; 32] {
    let date_key = hmac(format!("AWS4{secret_access_key}").as_bytes(), scope.date.as_bytes());
    let region_key = hmac(&date_key, scope.region.as_bytes());
    let service_key = hmac(&region_key, scope.service.as_bytes());
    hmac(&service_key, TERMINATOR.as_bytes())
}

fn string_to_sign(amz_date: &str, scope: &Scope, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}/{}/{}/{TERMINATOR}\n{}",
        scope.date,
        scope.region,
        scope.service,
        hex(&Sha256::digest(canonical_request))
    )
}

/// The canonical request, as bytes: header values are hashed as sent, whatever their encoding.
fn canonical_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed_headers: &[&str],
    payload_hash: &str,
) -> Vec<u8> {
    let mut canonical = Vec::with_capacity(256);
    canonical.extend_from_slice(method.as_str().as_bytes());
    canonical.push(b'\n');
    canonical.extend_from_slice(canonical_uri(uri.path()).as_bytes());
    canonical.push(b'\n');
    canonical.extend_from_slice(canonical_query(uri.query().unwrap_or("")).as_bytes());
    canonical.push(b'\n');
    for name in signed_headers {
        canonical.extend_from_slice(name.as_bytes());
        canonical.push(b':');
        let mut values = headers.get_all(*name).iter().map(HeaderValue::as_bytes).peekable();
        if values.peek().is_none() && *name == "host" {
            // HTTP/2 carries the host in the URI (:authority) rather than a header.
            let authority = uri.authority().map_or("", |authority| authority.as_str());
            push_trimmed(&mut canonical, authority.as_bytes());
        }
        for (value_idx, value) in values.enumerate() {
            if value_idx > 0 {
                canonical.push(b',');
            }
            push_trimmed(&mut canonical, value);
        }
        canonical.push(b'\n');
    }
    canonical.push(b'\n');
    canonical.extend_from_slice(signed_headers.join(";").as_bytes());
    canonical.push(b'\n');
    canonical.extend_from_slice(payload_hash.as_bytes());
    canonical
}

/// A header value trimmed, with each run of whitespace inside made one space.
fn push_trimmed(canonical: &mut Vec<u8>, value: &[u8]) {
    for (word_idx, word) in value.split(u8::is_ascii_whitespace).filter(|word| !word.is_empty()).enumerate() {
        if word_idx > 0 {
            canonical.push(b' ');
        }
        canonical.extend_from_slice(word);
    }
}

/// The path normalised (no empty, `.` or `..` segments; a trailing slash kept) with each segment
/// URI-encoded, as the AWS SDKs sign for every service but S3.
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    let mut canonical = String::with_capacity(path.len() + 1);
    for segment in &segments {
        canonical.push('/');
        uri_encode(&mut canonical, segment.as_bytes());
    }
    if segments.is_empty() || path.ends_with('/') {
        canonical.push('/');
    }
    canonical
}

/// The query's parameters decoded, re-encoded and sorted by name, then value.
fn canonical_query(query: &str) -> String {
    let mut parameters: Vec<(String, String)> = query
        .split('&')
        .filter(|parameter| !parameter.is_empty())
        .map(|parameter| {
            let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
            let encode = |text: &str| {
                let mut encoded = String::with_capacity(text.len());
                uri_encode(&mut encoded, &percent_decode(text));
                encoded
            };
            (encode(name), encode(value))
        })
        .collect();
    parameters.sort_unstable();
    let mut canonical = String::with_capacity(query.len());
    for (parameter_idx, (name, value)) in parameters.iter().enumerate() {
        if parameter_idx > 0 {
            canonical.push('&');
        }
        canonical.push_str(name);
        canonical.push('=');
        canonical.push_str(value);
    }
    canonical
}

/// `%XX` escapes decoded; a `%` not followed by two hex digits stays as it is.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut byte_idx = 0;
    while let Some(&byte) = bytes.get(byte_idx) {
        let escape = (byte == b'%')
            .then(|| bytes.get(byte_idx + 1..byte_idx + 3))
            .flatten()
            .and_then(|pair| Some(((pair[0] as char).to_digit(16)?, (pair[1] as char).to_digit(16)?)));
        match escape {
            Some((high, low)) => {
                decoded.push((high << 4 | low) as u8);
                byte_idx += 3;
            }
            None => {
                decoded.push(byte);
                byte_idx += 1;
            }
        }
    }
    decoded
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters as they are, every other byte `%XX`
/// with uppercase hex.
fn uri_encode(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|byte| [HEX[usize::from(byte >> 4)] as char, HEX[usize::from(byte & 0xf)] as char]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uris() {
        for (path, canonical) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("//example//", "/example/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./", "/"),
            ("/./example", "/example"),
            ("/a/b/../c", "/a/c"),
            ("/example%20space/", "/example%2520space/"),
            (
                "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            ),
        ] {
            assert_eq!(canonical_uri(path), canonical, "{path}");
        }
    }

    #[test]
    fn canonical_queries() {
        for (query, canonical) in [
            ("", ""),
            ("Param2=value2&Param1=value1", "Param1=value1&Param2=value2"),
            ("Param1=value2&Param1=Value1", "Param1=Value1&Param1=value2"),
            ("a=b c".replace(' ', "%20").as_str(), "a=b%20c"),
            ("%E1%88%B4=bar", "%E1%88%B4=bar"),
            ("flag&x=%7e", "flag=&x=~"),
            ("a=1+2&b=100%", "a=1%2B2&b=100%25"),
        ] {
            assert_eq!(canonical_query(query), canonical, "{query}");
        }
    }

    #[test]
    fn amz_dates() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160_000));
        assert_eq!(amz_date_of(UNIX_EPOCH + Duration::from_secs(1_440_938_160)), "20150830T123600Z");
        for bad in ["", "20150830T123600", "2015-08-30T12:36:00Z", "20150830T12360éZ", "20151330T123600Z"] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
