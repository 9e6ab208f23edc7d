//! The pure parts of ingest: CloudEvents to EventBridge envelopes, and SigV4 verification.
//!
//! CloudEvents cases are data, `tests/cases/cloudevents/*.jsonl`, one case a line: `name`,
//! `headers` (`[name, value]` pairs, in order), `body` (text) or `body_base64`, and one expectation:
//! `envelopes` (the expected envelopes, compared as JSON values), `contains` (substrings the one
//! envelope's text must hold, for exact bytes) or `errors` (`{pointer, message}`: the pointer exactly,
//! the message as a substring, one per bad event, in order). `is_cloudevent` (default true) is what
//! `is_cloudevent` must say of the headers. Every case runs at account 123456789012, region
//! us-east-1, ingestion time 2026-11-22T00:00:00Z.
//!
//! SigV4: the published AWS test-suite vectors (signing reproduces each Authorization header and
//! verification accepts it), then every way a request can fail, each from one well-signed request.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;
use switchyard::ingest::cloudevents::{self, CloudEventError, Envelope};
use switchyard::ingest::sigv4::{self, Credential, SigV4Error};

// ---------------------------------------------------------------------------------------------------
// CloudEvents

const ENVELOPE: Envelope<'static> =
    Envelope { account: "123456789012", region: "us-east-1", now: "2026-11-22T00:00:00Z" };

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloudEventsCase {
    name: String,
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
    #[serde(default)]
    envelopes: Option<Vec<Value>>,
    #[serde(default)]
    contains: Vec<String>,
    #[serde(default)]
    errors: Option<Vec<ExpectedError>>,
    #[serde(default = "yes")]
    is_cloudevent: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    pointer: String,
    message: String,
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
        headers.append(name, HeaderValue::from_str(value).expect("a header value"));
    }
    headers
}

fn decode_base64(text: &str) -> Vec<u8> {
    let digit = |byte: u8| match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {text}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|byte| *byte != b'=').map(digit).collect();
    let mut bytes = Vec::new();
    for chunk in digits.chunks(4) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (idx, digit)| word | u32::from(*digit) << (18 - 6 * idx));
        bytes.extend_from_slice(&word.to_be_bytes()[1..chunk.len()]);
    }
    bytes
}

/// The one check every CloudEvents case goes through.
fn check(case: &CloudEventsCase) -> Result<(), String> {
    let headers = header_map(&case.headers);
    let body = match (&case.body, &case.body_base64) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(encoded)) => decode_base64(encoded),
        (None, None) => Vec::new(),
        (Some(_), Some(_)) => return Err("the case gives body and body_base64".into()),
    };
    if cloudevents::is_cloudevent(&headers) != case.is_cloudevent {
        return Err(format!("is_cloudevent is not {}", case.is_cloudevent));
    }
    let result = cloudevents::to_envelopes(&headers, &body, &ENVELOPE);
    match (&case.errors, result) {
        (Some(expected), Err(errors)) => {
            let matches = expected.len() == errors.len()
                && expected.iter().zip(&errors).all(|(expected, error)| {
                    expected.pointer == error.pointer && error.message.contains(&expected.message)
                });
            if matches { Ok(()) } else { Err(format!("errors {errors:#?}, expected {expected:#?}")) }
        }
        (Some(_), Ok(envelopes)) => {
            Err(format!("accepted: {:?}", envelopes.iter().map(|e| String::from_utf8_lossy(e)).collect::<Vec<_>>()))
        }
        (None, Err(errors)) => {
            Err(format!("rejected: {:?}", errors.iter().map(ToString::to_string).collect::<Vec<_>>()))
        }
        (None, Ok(envelopes)) => {
            let texts: Vec<String> =
                envelopes.iter().map(|envelope| String::from_utf8_lossy(envelope).into_owned()).collect();
            let values: Vec<Value> = texts
                .iter()
                .map(|text| serde_json::from_str(text).map_err(|error| format!("envelope {text} is not JSON: {error}")))
                .collect::<Result<_, _>>()?;
            if let Some(expected) = &case.envelopes
                && *expected != values
            {
                return Err(format!(
                    "got\n{}\nexpected\n{}",
                    serde_json::to_string_pretty(&values).unwrap(),
                    serde_json::to_string_pretty(expected).unwrap()
                ));
            }
            for needle in &case.contains {
                if texts.len() != 1 || !texts[0].contains(needle.as_str()) {
                    return Err(format!("{texts:?} does not contain {needle}"));
                }
            }
            if case.envelopes.is_none() && case.contains.is_empty() {
                return Err("the case expects nothing".into());
            }
            Ok(())
        }
    }
}

fn cloudevents_cases() -> Vec<(String, CloudEventsCase)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/cloudevents");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("tests/cases/cloudevents").map(|entry| entry.unwrap().path()).collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (line_idx, line) in std::fs::read_to_string(&file).unwrap().lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let case: CloudEventsCase =
                serde_json::from_str(line).unwrap_or_else(|error| panic!("{file_name}:{}: {error}", line_idx + 1));
            cases.push((format!("{file_name}:{}: {}", line_idx + 1, case.name), case));
        }
    }
    cases
}

#[test]
fn cloudevents_to_envelopes() {
    let cases = cloudevents_cases();
    assert!(cases.len() >= 70, "only {} CloudEvents cases", cases.len());
    let failures: Vec<String> =
        cases.iter().filter_map(|(place, case)| check(case).err().map(|why| format!("{place}: {why}"))).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

/// One example of docs/cloudevents.md: the request, the envelopes, the patterns.
#[derive(Debug, Default)]
struct DocExample {
    line: usize,
    headers: Vec<(String, String)>,
    body: String,
    envelopes: Option<Value>,
    matching: Vec<String>,
    not_matching: Vec<String>,
}

/// The examples of docs/cloudevents.md: an `http cloudevents-example` block (request line, headers,
/// blank line, body without its last newline), then a `json envelopes` block and any number of
/// `json matches` and `json does-not-match` blocks.
fn doc_examples() -> Vec<DocExample> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cloudevents.md");
    let text = std::fs::read_to_string(&path).expect("docs/cloudevents.md exists");
    let mut examples: Vec<DocExample> = Vec::new();
    let mut block: Option<(String, usize, String)> = None;
    for (line_idx, line) in text.lines().enumerate() {
        match &mut block {
            None => {
                if let Some(info) = line.strip_prefix("```")
                    && !info.is_empty()
                {
                    block = Some((info.trim().to_owned(), line_idx + 2, String::new()));
                }
            }
            Some(_) if line.trim() == "```" => {
                let (info, start, body) = block.take().unwrap();
                match info.as_str() {
                    "http cloudevents-example" => {
                        let (head, payload) = body.split_once("\n\n").unwrap_or((&body, ""));
                        let headers = head
                            .lines()
                            .skip(1)
                            .map(|header| {
                                let (name, value) = header.split_once(':').expect("a header line");
                                (name.trim().to_owned(), value.trim().to_owned())
                            })
                            .collect();
                        let body = payload.strip_suffix('\n').unwrap_or(payload).to_owned();
                        examples.push(DocExample { line: start, headers, body, ..DocExample::default() });
                    }
                    "json envelopes" | "json matches" | "json does-not-match" => {
                        let example =
                            examples.last_mut().unwrap_or_else(|| panic!("line {start}: {info} before an example"));
                        match info.as_str() {
                            "json envelopes" => example.envelopes = Some(serde_json::from_str(&body).unwrap()),
                            "json matches" => example.matching.push(body),
                            _ => example.not_matching.push(body),
                        }
                    }
                    _ => {}
                }
            }
            Some((_, _, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    examples
}

#[test]
fn cloudevents_doc_examples() {
    let examples = doc_examples();
    assert!(examples.len() >= 4, "docs/cloudevents.md has only {} examples", examples.len());
    for example in examples {
        let place = format!("docs/cloudevents.md example at line {}", example.line);
        let envelopes = cloudevents::to_envelopes(&header_map(&example.headers), example.body.as_bytes(), &ENVELOPE)
            .unwrap_or_else(|errors| panic!("{place}: {errors:?}"));
        let values: Vec<Value> = envelopes.iter().map(|envelope| serde_json::from_slice(envelope).unwrap()).collect();
        assert_eq!(Some(Value::Array(values)), example.envelopes, "{place}");
        for (pattern, expected) in
            example.matching.iter().map(|p| (p, true)).chain(example.not_matching.iter().map(|p| (p, false)))
        {
            let matcher = switchyard_pattern::Matcher::new();
            matcher.add(0usize, pattern).unwrap_or_else(|error| panic!("{place}: {pattern}: {error}"));
            for envelope in &envelopes {
                let matched = !matcher.matches(envelope).unwrap().is_empty();
                assert_eq!(matched, expected, "{place}: {pattern} on {}", String::from_utf8_lossy(envelope));
            }
        }
    }
}

#[test]
fn cloudevent_detection() {
    for (headers, expected) in [
        (vec![("content-type", "application/cloudevents+json")], true),
        (vec![("content-type", "application/cloudevents-batch+json; charset=utf-8")], true),
        (vec![("content-type", "APPLICATION/CLOUDEVENTS+JSON")], true),
        (vec![("content-type", "application/json"), ("ce-specversion", "1.0")], true),
        (vec![("ce-specversion", "1.0")], true),
        (vec![("content-type", "application/json")], false),
        (vec![("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "AWSEvents.PutEvents")], false),
        (vec![("content-type", "application/cloudeventsx")], false),
        (vec![("ce-id", "1")], false),
        (vec![], false),
    ] {
        let pairs: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(cloudevents::is_cloudevent(&header_map(&pairs)), expected, "{headers:?}");
    }
}

#[test]
fn cloudevent_header_bytes_that_are_not_text() {
    let mut headers = header_map(&[
        ("ce-specversion".into(), "1.0".into()),
        ("ce-id".into(), "1".into()),
        ("ce-source".into(), "s".into()),
        ("ce-type".into(), "t".into()),
    ]);
    headers.insert("ce-subject", HeaderValue::from_bytes(b"caf\xe9").unwrap());
    let errors = cloudevents::to_envelopes(&headers, b"", &ENVELOPE).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].to_string(), "ce-subject: the value is not valid UTF-8 once percent-decoded");

    headers.remove("ce-subject");
    headers.insert("content-type", HeaderValue::from_bytes(b"text/\xff").unwrap());
    let errors = cloudevents::to_envelopes(&headers, b"x", &ENVELOPE).unwrap_err();
    assert_eq!(errors[0].pointer, "content-type");
}

#[test]
fn cloudevent_error_display() {
    let with_pointer = CloudEventError { pointer: "/3/id".into(), message: "missing required attribute id".into() };
    assert_eq!(with_pointer.to_string(), "/3/id: missing required attribute id");
    let without = CloudEventError { pointer: String::new(), message: "the body is not valid JSON".into() };
    assert_eq!(without.to_string(), "the body is not valid JSON");
}

/// Whatever the headers and body, `to_envelopes` returns (no panic), and what it accepts is a JSON
/// object with the envelope's fields.
#[test]
fn cloudevents_never_panic_and_envelopes_are_json() {
    let content_types = prop::sample::select(vec![
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/json",
        "text/plain",
        "application/octet-stream",
        "",
    ]);
    let ce_names =
        prop::sample::select(vec!["ce-specversion", "ce-id", "ce-source", "ce-type", "ce-time", "ce-subject", "ce-x"]);
    let ce_values = prop::sample::select(vec!["1.0", "0.3", "", "x", "%", "%E2%82%AC", "%FF", "2018-04-05T17:31:00Z"]);
    let json_bits = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"specversion\"",
        "\"1.0\"",
        "\"id\"",
        "\"source\"",
        "\"type\"",
        "\"data\"",
        "\"data_base64\"",
        "\"datacontenttype\"",
        "\"text/plain\"",
        "\"aGk=\"",
        "\"time\"",
        "\"é\"",
        "1e400",
        "null",
        "true",
        "\"\\ud800\"",
        "\"Ab\"",
    ]);
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(json_bits, 0..40).prop_map(|bits| bits.concat().into_bytes()),
    ];
    let strategy = (content_types, prop::collection::vec((ce_names, ce_values), 0..6), body);
    proptest!(ProptestConfig::with_cases(3000), |((content_type, ce_headers, body) in strategy)| {
        let mut pairs: Vec<(String, String)> = ce_headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        if !content_type.is_empty() {
            pairs.push(("content-type".into(), content_type.into()));
        }
        let headers = header_map(&pairs);
        if let Ok(envelopes) = cloudevents::to_envelopes(&headers, &body, &ENVELOPE) {
            for envelope in envelopes {
                let value: Value = serde_json::from_slice(&envelope).expect("an envelope is JSON");
                for field in ["version", "id", "detail-type", "source", "account", "time", "region"] {
                    prop_assert!(value[field].is_string(), "{field} in {value}");
                }
                prop_assert!(value["resources"].is_array());
                prop_assert!(value["detail"].is_object());
                prop_assert!(value["cloudevents"].is_object());
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------------
// SigV4

/// The AWS SigV4 test suite's credential, time, region and host (public example values).
const SUITE_KEY: &str = "AKIDEXAMPLE";
const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_TIME_SECONDS: u64 = 1_440_938_160; // 2015-08-30T12:36:00Z
const SUITE_HOST: &str = "example.amazonaws.com";

fn suite_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(SUITE_TIME_SECONDS)
}

fn suite_credential() -> Credential {
    Credential { access_key_id: SUITE_KEY.into(), secret_access_key: SUITE_SECRET.into() }
}

struct Vector {
    name: &'static str,
    method: &'static str,
    /// Path and query as sent on the wire.
    target: &'static str,
    /// Besides Host and X-Amz-Date, which every vector carries.
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    service: &'static str,
    region: &'static str,
    signed_headers: &'static str,
    signature: &'static str,
}

const fn vector(
    name: &'static str,
    method: &'static str,
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    signed_headers: &'static str,
    signature: &'static str,
) -> Vector {
    Vector { name, method, target, headers, body, service: "service", region: "us-east-1", signed_headers, signature }
}

/// Requests and signatures of the AWS SigV4 test suite (aws-sig-v4-test-suite, credential
/// AKIDEXAMPLE, 20150830T123600Z, us-east-1, service "service"). Each signature was checked against
/// botocore 1.44.5 (`botocore.auth.SigV4Auth`: `canonical_request`, `string_to_sign`, `signature`
/// with `context["timestamp"] = "20150830T123600Z"`), which reproduces the suite's published
/// values. Suite requests whose raw request line cannot be an `http::Uri` (a literal space or
/// non-ASCII character in the path, a header value with a newline) are left out; the "SDK form"
/// vectors are those requests as the SDKs send them (percent-encoded on the wire, so the canonical
/// path encodes them once more), signed by botocore the same way.
const VECTORS: &[Vector] = &[
    vector(
        "get-vanilla",
        "GET",
        "/",
        &[],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    vector(
        "get-vanilla-query",
        "GET",
        "/?",
        &[],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    vector(
        "get-vanilla-empty-query-key",
        "GET",
        "/?Param1=value1",
        &[],
        "",
        "host;x-amz-date",
        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    ),
    vector(
        "get-vanilla-query-order-key-case",
        "GET",
        "/?Param2=value2&Param1=value1",
        &[],
        "",
        "host;x-amz-date",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    vector(
        "get-vanilla-query-order-value",
        "GET",
        "/?Param1=value2&Param1=Value1",
        &[],
        "",
        "host;x-amz-date",
        "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
    ),
    vector(
        "get-vanilla-query-unreserved",
        "GET",
        "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        &[],
        "",
        "host;x-amz-date",
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    ),
    vector(
        "get-vanilla-utf8-query",
        "GET",
        "/?%E1%88%B4=bar",
        &[],
        "",
        "host;x-amz-date",
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    ),
    vector(
        "get-header-key-duplicate",
        "GET",
        "/",
        &[("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
        "",
        "host;my-header1;x-amz-date",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    ),
    vector(
        "get-header-value-order",
        "GET",
        "/",
        &[("My-Header1", "value4"), ("My-Header1", "value1"), ("My-Header1", "value3"), ("My-Header1", "value2")],
        "",
        "host;my-header1;x-amz-date",
        "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
    ),
    vector(
        "get-header-value-trim",
        "GET",
        "/",
        &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
        "",
        "host;my-header1;my-header2;x-amz-date",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    ),
    vector(
        "get-unreserved",
        "GET",
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        &[],
        "",
        "host;x-amz-date",
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    ),
    vector(
        "get-relative",
        "GET",
        "/example/..",
        &[],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    vector(
        "get-relative-relative",
        "GET",
        "/example1/example2/../..",
        &[],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    vector(
        "get-slash",
        "GET",
        "//",
        &[],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    vector(
        "get-slash-dot-slash",
        "GET",
        "/./",
        &[],
        "",
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    vector(
        "get-slash-pointless-dot",
        "GET",
        "/./example",
        &[],
        "",
        "host;x-amz-date",
        "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
    ),
    vector(
        "get-slashes",
        "GET",
        "//example//",
        &[],
        "",
        "host;x-amz-date",
        "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    ),
    vector(
        "get-space (SDK form)",
        "GET",
        "/example%20space/",
        &[],
        "",
        "host;x-amz-date",
        "446b817944c553435b35e813c261ff4e161fff982d1bacdef1c87f6785dd1662",
    ),
    vector(
        "get-utf8 (SDK form)",
        "GET",
        "/%E1%88%B4",
        &[],
        "",
        "host;x-amz-date",
        "697b34846207a3f72246f99d74ae1ee4fe54f44bb06730c58a0d339eb079596d",
    ),
    vector(
        "post-vanilla",
        "POST",
        "/",
        &[],
        "",
        "host;x-amz-date",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ),
    vector(
        "post-vanilla-query",
        "POST",
        "/?Param1=value1",
        &[],
        "",
        "host;x-amz-date",
        "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
    ),
    vector(
        "post-header-key-sort",
        "POST",
        "/",
        &[("My-Header1", "value1")],
        "",
        "host;my-header1;x-amz-date",
        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    ),
    vector(
        "post-header-value-case",
        "POST",
        "/",
        &[("My-Header1", "VALUE1")],
        "",
        "host;my-header1;x-amz-date",
        "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    ),
    vector(
        "post-x-www-form-urlencoded",
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "Param1=value1",
        "content-type;host;x-amz-date",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    ),
    vector(
        "post-x-www-form-urlencoded-parameters",
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded; charset=utf8")],
        "Param1=value1",
        "content-type;host;x-amz-date",
        "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
    ),
    // Not from the suite: a PutEvents call as an SDK sends it (x-amz-content-sha256, x-amz-target),
    // for service "events" in eu-west-1; signature from botocore 1.44.5 as above.
    Vector {
        name: "PutEvents (SDK form)",
        method: "POST",
        target: "/",
        headers: &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Content-SHA256", "158f4f0cd891e57861672b82c4f199ec56260656b558ad15626be8e29a32e753"),
            ("X-Amz-Target", "AWSEvents.PutEvents"),
        ],
        body: "{\"Entries\":[]}",
        service: "events",
        region: "eu-west-1",
        signed_headers: "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target",
        signature: "5c4582307d5729585200d15f836fbd851567683b62cd74b250fe3d80116f2103",
    },
];

impl Vector {
    fn uri(&self) -> Uri {
        format!("https://{SUITE_HOST}{}", self.target).parse().expect("a vector's URI")
    }

    /// The request as the suite gives it: Host, X-Amz-Date and the vector's headers.
    fn headers(&self) -> HeaderMap {
        let mut pairs =
            vec![("Host".to_owned(), SUITE_HOST.to_owned()), ("X-Amz-Date".to_owned(), "20150830T123600Z".to_owned())];
        pairs.extend(self.headers.iter().map(|(name, value)| (name.to_string(), value.to_string())));
        header_map(&pairs)
    }

    fn authorization(&self) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential={SUITE_KEY}/20150830/{}/{}/aws4_request, SignedHeaders={}, Signature={}",
            self.region, self.service, self.signed_headers, self.signature
        )
    }
}

#[test]
fn sigv4_signing_reproduces_the_suite() {
    let mut failures = Vec::new();
    for vector in VECTORS {
        let method: Method = vector.method.parse().unwrap();
        let mut headers = vector.headers();
        headers.remove("x-amz-date");
        sigv4::sign(
            &method,
            &vector.uri(),
            &mut headers,
            vector.body.as_bytes(),
            &suite_credential(),
            vector.region,
            vector.service,
            suite_time(),
        );
        let signed = headers.get("authorization").map(|value| value.to_str().unwrap().to_owned());
        if signed.as_deref() != Some(vector.authorization().as_str()) {
            failures.push(format!("{}: signed {signed:?}\n  expected {}", vector.name, vector.authorization()));
        }
        if headers.get("x-amz-date").map(HeaderValue::as_bytes) != Some(&b"20150830T123600Z"[..]) {
            failures.push(format!("{}: x-amz-date {:?}", vector.name, headers.get("x-amz-date")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sigv4_verification_accepts_the_suite() {
    let credentials =
        [Credential { access_key_id: "AKIDOTHER".into(), secret_access_key: "other".into() }, suite_credential()];
    for vector in VECTORS {
        let method: Method = vector.method.parse().unwrap();
        let mut headers = vector.headers();
        headers.insert("authorization", HeaderValue::from_str(&vector.authorization()).unwrap());
        let body = vector.body.as_bytes();
        let verdict = sigv4::verify_for_service(
            &method,
            &vector.uri(),
            &headers,
            body,
            &credentials,
            vector.service,
            suite_time(),
        );
        assert_eq!(verdict, Ok(()), "{}", vector.name);
        // `verify` is for the events service only.
        let verdict = sigv4::verify(&method, &vector.uri(), &headers, body, &credentials, suite_time());
        if vector.service == "events" {
            assert_eq!(verdict, Ok(()), "{}", vector.name);
        } else {
            assert!(matches!(verdict, Err(SigV4Error::Scope(_))), "{}: {verdict:?}", vector.name);
        }
    }
}

/// A PutEvents request signed for the events service at the suite's time, and what `verify`
/// answers after `tamper` changed it, `now` minus the signing time later.
fn verify_tampered(
    tamper: impl FnOnce(&mut Method, &mut Uri, &mut HeaderMap, &mut Vec<u8>),
    credentials: &[Credential],
    later: i64,
) -> Result<(), SigV4Error> {
    let mut method = Method::POST;
    let mut uri: Uri = "https://events.eu-west-1.amazonaws.com/".parse().unwrap();
    let mut body = br#"{"Entries":[{"Source":"orders","DetailType":"created","Detail":"{}"}]}"#.to_vec();
    let mut headers = header_map(&[
        ("content-type".into(), "application/x-amz-json-1.1".into()),
        ("x-amz-target".into(), "AWSEvents.PutEvents".into()),
    ]);
    sigv4::sign(&method, &uri, &mut headers, &body, &suite_credential(), "eu-west-1", "events", suite_time());
    tamper(&mut method, &mut uri, &mut headers, &mut body);
    let now = if later >= 0 {
        suite_time() + Duration::from_secs(later.unsigned_abs())
    } else {
        suite_time() - Duration::from_secs(later.unsigned_abs())
    };
    sigv4::verify(&method, &uri, &headers, &body, credentials, now)
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    headers.insert(name, HeaderValue::from_str(value).unwrap());
}

/// The signed request's Authorization header with `from` replaced by `to`.
fn edit_authorization(headers: &mut HeaderMap, from: &str, to: &str) {
    let authorization = headers.get("authorization").unwrap().to_str().unwrap().replace(from, to);
    set(headers, "authorization", &authorization);
}

#[test]
fn sigv4_failures() {
    type Tamper = Box<dyn FnOnce(&mut Method, &mut Uri, &mut HeaderMap, &mut Vec<u8>)>;
    /// What happens to the request, the server's credentials, seconds from signing to verifying, and
    /// what `verify` must answer.
    type Case = (&'static str, Tamper, Vec<Credential>, i64, Result<(), SigV4Error>);
    let malformed = |text: &str| Err(SigV4Error::Malformed(text.to_owned()));
    let good = || vec![suite_credential()];
    let cases: Vec<Case> = vec![
        ("untouched", Box::new(|_, _, _, _| {}), good(), 0, Ok(())),
        ("an unsigned header added", Box::new(|_, _, h, _| set(h, "user-agent", "curl/8")), good(), 0, Ok(())),
        ("14 minutes late", Box::new(|_, _, _, _| {}), good(), 14 * 60, Ok(())),
        ("14 minutes early", Box::new(|_, _, _, _| {}), good(), -14 * 60, Ok(())),
        (
            "tampered body",
            Box::new(|_, _, _, b| b.extend_from_slice(b" ")),
            good(),
            0,
            Err(SigV4Error::SignatureMismatch),
        ),
        (
            "tampered signed header",
            Box::new(|_, _, h, _| set(h, "x-amz-target", "AWSEvents.PutRule")),
            good(),
            0,
            Err(SigV4Error::SignatureMismatch),
        ),
        ("tampered method", Box::new(|m, _, _, _| *m = Method::PUT), good(), 0, Err(SigV4Error::SignatureMismatch)),
        (
            "tampered path",
            Box::new(|_, u, _, _| *u = "https://events.eu-west-1.amazonaws.com/x".parse().unwrap()),
            good(),
            0,
            Err(SigV4Error::SignatureMismatch),
        ),
        (
            "tampered query",
            Box::new(|_, u, _, _| *u = "https://events.eu-west-1.amazonaws.com/?a=b".parse().unwrap()),
            good(),
            0,
            Err(SigV4Error::SignatureMismatch),
        ),
        (
            "tampered signature",
            Box::new(|_, _, h, _| {
                let authorization = h.get("authorization").unwrap().to_str().unwrap().to_owned();
                let (head, signature) = authorization.split_at(authorization.len() - 1);
                let flipped = if signature == "0" { "1" } else { "0" };
                set(h, "authorization", &format!("{head}{flipped}"));
            }),
            good(),
            0,
            Err(SigV4Error::SignatureMismatch),
        ),
        (
            "tampered x-amz-date, same day",
            Box::new(|_, _, h, _| set(h, "x-amz-date", "20150830T123601Z")),
            good(),
            0,
            Err(SigV4Error::SignatureMismatch),
        ),
        (
            "wrong secret",
            Box::new(|_, _, _, _| {}),
            vec![Credential { access_key_id: SUITE_KEY.into(), secret_access_key: "not-the-secret".into() }],
            0,
            Err(SigV4Error::SignatureMismatch),
        ),
        (
            "unknown access key",
            Box::new(|_, _, _, _| {}),
            vec![Credential { access_key_id: "AKIDOTHER".into(), secret_access_key: SUITE_SECRET.into() }],
            0,
            Err(SigV4Error::UnknownAccessKey(SUITE_KEY.into())),
        ),
        (
            "no credentials at all",
            Box::new(|_, _, _, _| {}),
            vec![],
            0,
            Err(SigV4Error::UnknownAccessKey(SUITE_KEY.into())),
        ),
        (
            "16 minutes late",
            Box::new(|_, _, _, _| {}),
            good(),
            16 * 60,
            Err(SigV4Error::Skew { request_time: "20150830T123600Z".into(), server_time: "20150830T125200Z".into() }),
        ),
        (
            "16 minutes early",
            Box::new(|_, _, _, _| {}),
            good(),
            -16 * 60,
            Err(SigV4Error::Skew { request_time: "20150830T123600Z".into(), server_time: "20150830T122000Z".into() }),
        ),
        (
            "body hash header that is not the body's",
            Box::new(|_, _, h, b| {
                set(h, "x-amz-content-sha256", "158f4f0cd891e57861672b82c4f199ec56260656b558ad15626be8e29a32e753");
                b.extend_from_slice(b" ");
            }),
            good(),
            0,
            Err(SigV4Error::BodyHashMismatch),
        ),
        (
            "no Authorization",
            Box::new(|_, _, h, _| {
                h.remove("authorization");
            }),
            good(),
            0,
            Err(SigV4Error::Missing),
        ),
        (
            "another algorithm",
            Box::new(|_, _, h, _| edit_authorization(h, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256")),
            good(),
            0,
            malformed(
                r#"the Authorization header's algorithm is "AWS4-ECDSA-P256-SHA256"; only AWS4-HMAC-SHA256 is accepted"#,
            ),
        ),
        (
            "no Signature",
            Box::new(|_, _, h, _| {
                let authorization = h.get("authorization").unwrap().to_str().unwrap().to_owned();
                let cut = authorization.find(", Signature=").unwrap();
                set(h, "authorization", &authorization[..cut]);
            }),
            good(),
            0,
            malformed("the Authorization header lacks Signature="),
        ),
        (
            "credential without the terminator",
            Box::new(|_, _, h, _| edit_authorization(h, "/aws4_request", "")),
            good(),
            0,
            malformed(
                r#"Credential "AKIDEXAMPLE/20150830/eu-west-1/events" is not ACCESS_KEY_ID/YYYYMMDD/region/service/aws4_request"#,
            ),
        ),
        (
            "signed headers not sorted",
            Box::new(|_, _, h, _| edit_authorization(h, "content-type;host", "host;content-type")),
            good(),
            0,
            malformed("SignedHeaders must be lowercase header names separated by ';', sorted, each once"),
        ),
        (
            "host not signed",
            Box::new(|_, _, h, _| edit_authorization(h, "content-type;host;", "content-type;")),
            good(),
            0,
            malformed("SignedHeaders must include host"),
        ),
        (
            "a signed header that is not sent",
            Box::new(|_, _, h, _| {
                h.remove("x-amz-target");
            }),
            good(),
            0,
            malformed("signed header x-amz-target is not in the request"),
        ),
        (
            "signature that is not hex",
            Box::new(|_, _, h, _| {
                let authorization = h.get("authorization").unwrap().to_str().unwrap().to_owned();
                let cut = authorization.find("Signature=").unwrap() + "Signature=".len();
                set(h, "authorization", &format!("{}xyz", &authorization[..cut]));
            }),
            good(),
            0,
            malformed(r#"Signature "xyz" is not 64 hexadecimal digits"#),
        ),
        (
            "unknown component",
            Box::new(|_, _, h, _| edit_authorization(h, "SignedHeaders=", "Foo=bar, SignedHeaders=")),
            good(),
            0,
            malformed(r#"unknown Authorization component "Foo" (expected Credential, SignedHeaders, Signature)"#),
        ),
        (
            "no x-amz-date",
            Box::new(|_, _, h, _| {
                h.remove("x-amz-date");
            }),
            good(),
            0,
            malformed("the request has no x-amz-date header (the signing time, like 20150830T123600Z)"),
        ),
        (
            "x-amz-date in another format",
            Box::new(|_, _, h, _| set(h, "x-amz-date", "2015-08-30T12:36:00Z")),
            good(),
            0,
            malformed(r#"x-amz-date "2015-08-30T12:36:00Z" is not like 20150830T123600Z"#),
        ),
        (
            "scope date that is not x-amz-date's",
            Box::new(|_, _, h, _| edit_authorization(h, "/20150830/", "/20150829/")),
            good(),
            0,
            Err(SigV4Error::Scope(
                "the credential scope's date 20150829 is not the date of x-amz-date 20150830T123600Z".into(),
            )),
        ),
        (
            "scoped to another service",
            Box::new(|_, _, h, _| edit_authorization(h, "/events/", "/sqs/")),
            good(),
            0,
            Err(SigV4Error::Scope(r#"the credential is scoped to service "sqs"; this endpoint is "events""#.into())),
        ),
    ];
    let mut failures = Vec::new();
    for (name, tamper, credentials, later, expected) in cases {
        let verdict = verify_tampered(tamper, &credentials, later);
        if verdict != expected {
            failures.push(format!("{name}: {verdict:?}, expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sigv4_error_types_and_messages() {
    for (error, aws_type) in [
        (SigV4Error::Missing, "MissingAuthenticationTokenException"),
        (SigV4Error::Malformed("x".into()), "IncompleteSignatureException"),
        (SigV4Error::UnknownAccessKey("AKID".into()), "UnrecognizedClientException"),
        (SigV4Error::Skew { request_time: "a".into(), server_time: "b".into() }, "InvalidSignatureException"),
        (SigV4Error::Scope("x".into()), "InvalidSignatureException"),
        (SigV4Error::BodyHashMismatch, "InvalidSignatureException"),
        (SigV4Error::SignatureMismatch, "InvalidSignatureException"),
    ] {
        assert_eq!(error.aws_error_type(), aws_type, "{error:?}");
        assert!(!error.to_string().is_empty());
    }
    let skew = SigV4Error::Skew { request_time: "20150830T123600Z".into(), server_time: "20150830T125200Z".into() };
    assert_eq!(
        skew.to_string(),
        "signature expired: the request time 20150830T123600Z (x-amz-date) is more than 15 minutes from the server time 20150830T125200Z; check the client's clock"
    );
    // The secret never shows in debug output.
    assert!(!format!("{:?}", suite_credential()).contains(SUITE_SECRET));
}

/// Whatever the Authorization header says, `verify` answers without panicking.
#[test]
fn sigv4_never_panics() {
    let parts = prop::sample::select(vec![
        "AWS4-HMAC-SHA256",
        " ",
        ",",
        "=",
        "/",
        ";",
        "Credential",
        "SignedHeaders",
        "Signature",
        "AKIDEXAMPLE",
        "20150830",
        "us-east-1",
        "events",
        "aws4_request",
        "host",
        "x-amz-date",
        "é",
        "0123456789abcdef",
        "%",
        "",
    ]);
    let dates = prop::sample::select(vec!["20150830T123600Z", "2015", "20150830T1236éZ", "99999999T999999Z", ""]);
    proptest!(ProptestConfig::with_cases(2000), |(bits in prop::collection::vec(parts, 0..30), date in dates)| {
        let mut headers = header_map(&[("host".into(), SUITE_HOST.into())]);
        if let Ok(value) = HeaderValue::from_str(&bits.concat()) {
            headers.insert("authorization", value);
        }
        if let Ok(value) = HeaderValue::from_str(date) {
            headers.insert("x-amz-date", value);
        }
        let uri: Uri = "https://example.amazonaws.com/a/../b?x=%zz&y".parse().unwrap();
        let verdict = sigv4::verify(&Method::POST, &uri, &headers, b"{}", &[suite_credential()], suite_time());
        prop_assert!(verdict.is_err());
    });
}
