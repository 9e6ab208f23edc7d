"""The router through raw HTTP (http.client and a socket, as curl would send it): malformed requests
answered with a 4xx and a message that says what is wrong (never a 5xx, and the server keeps
answering), per-entry PutEvents errors, `/events` with plain JSON and CloudEvents, bearer tokens."""

from __future__ import annotations

import json
import re
import socket

import pytest

from conftest import Server

AWS_JSON = "application/x-amz-json-1.1"
PUT = {"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": AWS_JSON}
TEST = {"X-Amz-Target": "AWSEvents.TestEventPattern", "Content-Type": AWS_JSON}
JSON = {"Content-Type": "application/json"}
CE = {"Content-Type": "application/cloudevents+json"}
CE_BATCH = {"Content-Type": "application/cloudevents-batch+json"}
BODY_LIMIT = 600_000  # the `server` fixture's --max-body-bytes

GOOD_ENTRY = {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": '{"order": 1}'}
GOOD_EVENT = {"source": "shop.orders", "detail-type": "OrderPlaced", "detail": {"order": 1}}
GOOD_CE = {"specversion": "1.0", "id": "ce-1", "source": "shop.orders", "type": "OrderPlaced",
           "datacontenttype": "application/json", "data": {"order": 1}}
EVENT = {"id": "1", "version": "0", "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "local",
         "resources": [], "source": "shop.orders", "detail-type": "OrderPlaced", "detail": {}}


def j(value) -> str:
    return json.dumps(value)


def deep(n: int, inner: str = "1") -> str:
    return '{"a":' * n + inner + "}" * n


def ce_without(name: str) -> dict:
    return {k: v for k, v in GOOD_CE.items() if k != name}


def assert_alive(server: Server):
    assert server.alive(), f"the server exited ({server.proc.returncode}); stderr:\n{server.stderr()}"
    health = server.request("GET", "/healthz")
    assert health.status == 200, health


# --- malformed requests: (id, method, path, headers, body, status, substring of the message, __type) ---
# For the AWS JSON 1.1 API the error is {"__type", "message"} (and x-amzn-ErrorType); for the others
# {"error": "..."}.
MALFORMED = [
    # PutEvents: the whole request is refused
    ("put-not-json", "POST", "/", PUT, "{not json", 400, "not a PutEvents request", "SerializationException"),
    ("put-empty-body", "POST", "/", PUT, "", 400, "not a PutEvents request", "SerializationException"),
    ("put-array-body", "POST", "/", PUT, j([GOOD_ENTRY]), 400, "not a PutEvents request", "SerializationException"),
    ("put-string-body", "POST", "/", PUT, j("Entries"), 400, "not a PutEvents request", "SerializationException"),
    ("put-entries-a-string", "POST", "/", PUT, j({"Entries": "x"}), 400, "not a PutEvents request",
     "SerializationException"),
    ("put-entries-an-object", "POST", "/", PUT, j({"Entries": GOOD_ENTRY}), 400, "not a PutEvents request",
     "SerializationException"),
    ("put-entries-missing", "POST", "/", PUT, j({}), 400, "Member must not be null", "ValidationException"),
    ("put-entries-null", "POST", "/", PUT, j({"Entries": None}), 400, "Member must not be null",
     "ValidationException"),
    ("put-entries-empty", "POST", "/", PUT, j({"Entries": []}), 400, "greater than or equal to 1",
     "ValidationException"),
    ("put-11-entries", "POST", "/", PUT, j({"Entries": [GOOD_ENTRY] * 11}), 400, "less than or equal to 10",
     "ValidationException"),
    ("put-entry-a-number", "POST", "/", PUT, j({"Entries": [GOOD_ENTRY, 1]}), 400, "Entries[1]",
     "SerializationException"),
    ("put-entry-a-list", "POST", "/", PUT, j({"Entries": [[GOOD_ENTRY]]}), 400, "Entries[0]",
     "SerializationException"),
    ("put-bus-a-number", "POST", "/", PUT, j({"Entries": [{**GOOD_ENTRY, "EventBusName": 5}]}), 400,
     "EventBusName must be a string", "ValidationException"),
    ("put-unknown-bus", "POST", "/", PUT, j({"Entries": [{**GOOD_ENTRY, "EventBusName": "nope"}]}), 400,
     "Event bus nope does not exist", "ResourceNotFoundException"),
    ("put-no-complete-entry", "POST", "/", PUT, j({"Entries": [{"Source": "a"}, {"DetailType": "b"}]}), 400,
     "None of the entries", "ValidationException"),
    ("put-over-256kb", "POST", "/", PUT,
     j({"Entries": [{**GOOD_ENTRY, "Detail": j({"x": "y" * 100_000})}] * 3}), 400,
     "Total size of the entries", "ValidationException"),
    ("put-invalid-utf8", "POST", "/", PUT, b'{"Entries": [{"Source": "\xff\xfe", "DetailType": "a", "Detail": "{}"}]}',
     400, "not UTF-8", "ValidationException"),
    ("put-deep-body", "POST", "/", PUT, '{"Entries": [' + "[" * 5000 + "]" * 5000 + "]}", 400, "Entries[0]",
     "SerializationException"),
    # the operation
    ("aws-missing-target", "POST", "/", {"Content-Type": AWS_JSON}, j({"Entries": [GOOD_ENTRY]}), 400,
     "X-Amz-Target header is missing", "UnknownOperationException"),
    ("aws-unknown-target", "POST", "/", {**PUT, "X-Amz-Target": "AWSEvents.PutRule"}, j({"Name": "r"}), 400,
     "AWSEvents.PutRule is not supported", "UnknownOperationException"),
    ("aws-other-service", "POST", "/", {**PUT, "X-Amz-Target": "DynamoDB_20120810.ListTables"}, "{}", 400,
     "not supported", "UnknownOperationException"),
    # TestEventPattern
    ("test-not-json", "POST", "/", TEST, "nope", 400, "not a TestEventPattern request", "SerializationException"),
    ("test-array-body", "POST", "/", TEST, "[]", 400, "not a TestEventPattern request", "SerializationException"),
    ("test-pattern-an-object", "POST", "/", TEST, j({"EventPattern": {"source": ["a"]}, "Event": j(EVENT)}), 400,
     "not a TestEventPattern request", "SerializationException"),
    ("test-event-missing", "POST", "/", TEST, j({"EventPattern": '{"source": ["a"]}'}), 400,
     "EventPattern and Event are required", "ValidationException"),
    ("test-invalid-pattern", "POST", "/", TEST, j({"EventPattern": '{"source": "a"}', "Event": j(EVENT)}), 400,
     "Event pattern is not valid", "InvalidEventPatternException"),
    ("test-deep-pattern", "POST", "/", TEST, j({"EventPattern": deep(3000, '["x"]'), "Event": j(EVENT)}), 400,
     "Event pattern is not valid", "InvalidEventPatternException"),
    ("test-event-not-json", "POST", "/", TEST, j({"EventPattern": '{"source": ["a"]}', "Event": "{"}), 400,
     "Parameter Event is not valid", "ValidationException"),
    ("test-event-an-array", "POST", "/", TEST, j({"EventPattern": '{"source": ["a"]}', "Event": "[]"}), 400,
     "Parameter Event is not valid", "ValidationException"),
    ("test-event-incomplete", "POST", "/", TEST, j({"EventPattern": '{"source": ["a"]}', "Event": '{"id": "1"}'}),
     400, "the event has no account", "ValidationException"),
    ("test-deep-event", "POST", "/", TEST,
     j({"EventPattern": '{"source": ["a"]}', "Event": j(EVENT)[:-1] + ', "x": ' + deep(3000) + "}"}), 400,
     "Parameter Event is not valid", "ValidationException"),
    # sizes, methods and paths
    ("aws-body-over-limit", "POST", "/", PUT, "x" * (BODY_LIMIT + 1), 413, "larger than 600000 bytes",
     "RequestEntityTooLargeException"),
    ("get-root", "GET", "/", {}, None, 405, "answers POST only", None),
    ("put-root", "PUT", "/", PUT, j({"Entries": [GOOD_ENTRY]}), 405, "answers POST only", None),
    ("get-events", "GET", "/events", {}, None, 405, "answers POST only", None),
    ("delete-cloudevents", "DELETE", "/cloudevents", {}, None, 405, "answers POST only", None),
    ("post-healthz", "POST", "/healthz", JSON, "{}", 405, "answers GET only", None),
    ("post-metrics", "POST", "/metrics", JSON, "{}", 405, "answers GET only", None),
    ("unknown-path", "GET", "/nope", {}, None, 404, "no such endpoint: GET /nope", None),
    ("unknown-post-path", "POST", "/2015-10-07/events", PUT, "{}", 404, "no such endpoint", None),
    # /events, plain JSON: all or nothing, problems named by JSON pointer
    ("events-not-json", "POST", "/events", JSON, "{nope", 400, "the body is not JSON", None),
    ("events-empty-body", "POST", "/events", JSON, "", 400, "the body is not JSON", None),
    ("events-a-number", "POST", "/events", JSON, "42", 400, "must be an event (a JSON object) or an array", None),
    ("events-a-string", "POST", "/events", JSON, j("event"), 400, "must be an event", None),
    ("events-empty-array", "POST", "/events", JSON, "[]", 400, "the array holds no events", None),
    ("events-11", "POST", "/events", JSON, j([GOOD_EVENT] * 11), 400, "the limit is 10", None),
    ("events-invalid-utf8", "POST", "/events", JSON,
     b'{"source": "\xc3\x28", "detail-type": "a", "detail": {}}', 400, "not UTF-8", None),
    ("events-missing-detail-type", "POST", "/events", JSON,
     j({k: v for k, v in GOOD_EVENT.items() if k != "detail-type"}), 400, "/detail-type: detail-type is required",
     None),
    ("events-array-missing-detail-type", "POST", "/events", JSON,
     j([GOOD_EVENT, {k: v for k, v in GOOD_EVENT.items() if k != "detail-type"}]), 400,
     "/1/detail-type: detail-type is required", None),
    ("events-missing-source", "POST", "/events", JSON, j({k: v for k, v in GOOD_EVENT.items() if k != "source"}),
     400, "/source: source is required", None),
    ("events-missing-detail", "POST", "/events", JSON, j({k: v for k, v in GOOD_EVENT.items() if k != "detail"}),
     400, "/detail: detail is required", None),
    ("events-detail-a-string", "POST", "/events", JSON, j({**GOOD_EVENT, "detail": '{"order": 1}'}), 400,
     "/detail: detail must be a JSON object", None),
    ("events-detail-an-array", "POST", "/events", JSON, j([GOOD_EVENT, {**GOOD_EVENT, "detail": [1]}]), 400,
     "/1/detail: detail must be a JSON object", None),
    ("events-source-a-number", "POST", "/events", JSON, j({**GOOD_EVENT, "source": 7}), 400,
     "/source: source must be a non-empty string", None),
    ("events-empty-detail-type", "POST", "/events", JSON, j({**GOOD_EVENT, "detail-type": ""}), 400,
     "/detail-type: detail-type must be a non-empty string", None),
    ("events-resources-not-strings", "POST", "/events", JSON, j({**GOOD_EVENT, "resources": [1]}), 400,
     "/resources: resources must be an array of strings", None),
    ("events-bad-time", "POST", "/events", JSON, j({**GOOD_EVENT, "time": "yesterday"}), 400,
     "/time: time \"yesterday\" is not an RFC 3339 timestamp", None),
    ("events-item-not-object", "POST", "/events", JSON, j([GOOD_EVENT, 3]), 400, "/1", None),
    ("events-deep-detail", "POST", "/events", JSON, j({**GOOD_EVENT, "detail": 0})[:-2] + deep(5000) + "}", 400,
     "nesting deeper than the limit", None),
    ("events-unknown-bus", "POST", "/events?bus=unknown", JSON, j(GOOD_EVENT), 404,
     "event bus unknown does not exist", None),
    ("events-unknown-bus-arn", "POST", "/events?bus=arn:aws:events:us-east-1:123456789012:event-bus/unknown", JSON,
     j(GOOD_EVENT), 404, "event bus unknown does not exist", None),
    ("events-body-over-limit", "POST", "/events", JSON, j([GOOD_EVENT, {"x": "y" * BODY_LIMIT}]), 413,
     "larger than 600000 bytes", None),
    # /events, CloudEvents
    ("ce-missing-id", "POST", "/events", CE, j(ce_without("id")), 400, "id", None),
    ("ce-missing-source", "POST", "/cloudevents", CE, j(ce_without("source")), 400, "source", None),
    ("ce-missing-specversion", "POST", "/events", CE, j(ce_without("specversion")), 400, "specversion", None),
    ("ce-specversion-0.3", "POST", "/events", CE, j({**GOOD_CE, "specversion": "0.3"}), 400, "specversion", None),
    ("ce-not-json", "POST", "/events", CE, "{", 400, "not valid JSON", None),
    ("ce-structured-array", "POST", "/events", CE, j([GOOD_CE]), 400, "send a batch as", None),
    ("ce-data-and-base64", "POST", "/events", CE, j({**GOOD_CE, "data_base64": "e30="}), 400,
     "data and data_base64 are both present", None),
    ("ce-batch-not-array", "POST", "/events", CE_BATCH, j(GOOD_CE), 400, "must be a JSON array", None),
    ("ce-batch-item-missing-id", "POST", "/events", CE_BATCH, j([GOOD_CE, ce_without("id")]), 400, "/1", None),
    ("ce-batch-item-not-object", "POST", "/events", CE_BATCH, j([GOOD_CE, "x"]), 400,
     "/1: a CloudEvent in a batch must be a JSON object", None),
    ("ce-batch-11", "POST", "/events", CE_BATCH, j([{**GOOD_CE, "id": str(i)} for i in range(11)]), 400,
     "the limit is 10", None),
    ("ce-unsupported-format", "POST", "/events", {"Content-Type": "application/cloudevents+avro"}, "x", 400,
     "unsupported CloudEvents format", None),
    ("ce-binary-missing-id", "POST", "/events",
     {"ce-specversion": "1.0", "ce-source": "shop.orders", "ce-type": "OrderPlaced", **JSON}, j({"order": 1}), 400,
     "ce-id", None),
    ("ce-binary-bad-json", "POST", "/events",
     {"ce-specversion": "1.0", "ce-id": "b1", "ce-source": "shop.orders", "ce-type": "OrderPlaced", **JSON}, "{", 400,
     "the body is not valid JSON", None),
    ("ce-binary-bad-percent", "POST", "/events",
     {"ce-specversion": "1.0", "ce-id": "b%zz", "ce-source": "shop.orders", "ce-type": "OrderPlaced", **JSON}, "{}",
     400, "percent-encoding", None),
]


@pytest.mark.parametrize("method,path,headers,body,status,substring,aws_type",
                         [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_request(server, method, path, headers, body, status, substring, aws_type):
    reply = server.request(method, path, body, headers)
    assert 400 <= reply.status < 500, reply
    assert reply.status == status, reply
    if aws_type:
        assert reply.headers.get("content-type") == AWS_JSON, reply
        answer = reply.json()
        assert answer["__type"] == aws_type, reply
        assert reply.headers.get("x-amzn-errortype") == aws_type, reply
        assert substring in answer["message"], reply
    else:
        assert reply.headers.get("content-type") == "application/json", reply
        assert substring in reply.json()["error"], reply
    assert_alive(server)


@pytest.mark.parametrize("path,headers", [("/", PUT), ("/events", JSON)], ids=["aws", "events"])
def test_chunked_body_over_the_limit_is_413(server, path, headers):
    # No Content-Length: the limit applies while the body is read.
    reply = server.request("POST", path, "x" * (BODY_LIMIT + 10_000), headers, chunked=True)
    assert reply.status == 413, reply
    assert_alive(server)


# --- malformed HTTP on a socket: (id, bytes sent, half-close after sending, status, substring) ---
EVENT_BYTES = j(GOOD_EVENT).encode()
RAW = [
    ("garbage-request-line", b"GARBAGE\r\n\r\n", False, 400, ""),
    ("bad-content-length", b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", False, 400, ""),
    ("negative-content-length", b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", False, 400, ""),
    ("conflicting-content-lengths",
     b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef", False, 400, ""),
    ("huge-header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n", False, 431, ""),
    ("body-shorter-than-content-length",
     b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + EVENT_BYTES, True, 400,
     "the request body could not be read"),
    ("aws-body-shorter-than-content-length",
     b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSEvents.PutEvents\r\nContent-Length: 1000\r\n\r\n{", True, 400,
     "SerializationException"),
    ("bad-chunk-size",
     b"POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", False, 400,
     "the request body could not be read"),
    ("truncated-chunked-body",
     b"POST /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":", True, 400,
     "the request body could not be read"),
    ("expect-100-continue-over-limit",
     b"POST /events HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n"
     b"Connection: close\r\n\r\n", False, 413, "larger than 600000 bytes"),
    ("x-amz-target-not-ascii",
     b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: \xffAWS\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
     False, 400, "UnknownOperationException"),
    ("ce-header-not-utf8",
     b"POST /events HTTP/1.1\r\nHost: x\r\nce-specversion: 1.0\r\nce-id: \xff\xfe\r\nce-source: s\r\nce-type: t\r\n"
     b"Content-Length: 2\r\nConnection: close\r\n\r\n{}", False, 400, "ce-id"),
    ("ce-header-twice",
     b"POST /events HTTP/1.1\r\nHost: x\r\nce-specversion: 1.0\r\nce-id: a\r\nce-id: b\r\nce-source: s\r\n"
     b"ce-type: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", False, 400, "ce-id: the header is given more than once"),
    ("content-type-not-ascii-binary-mode",
     b"POST /events HTTP/1.1\r\nHost: x\r\nce-specversion: 1.0\r\nce-id: a\r\nce-source: s\r\nce-type: t\r\n"
     b"Content-Type: \xff\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", False, 400, "content-type"),
    # well-formed, for contrast: HTTP/1.0, and two pipelined requests
    ("http-1.0", b"POST /events HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(EVENT_BYTES) + EVENT_BYTES, False, 200,
     "accepted"),
    ("pipelined", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
     False, 200, "rules_loaded"),
]


def send_raw(server: Server, data: bytes, half_close: bool) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return answer


@pytest.mark.parametrize("data,half_close,status,substring", [c[1:] for c in RAW], ids=[c[0] for c in RAW])
def test_malformed_http(server, data, half_close, status, substring):
    answer = send_raw(server, data, half_close)
    status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    assert re.match(r"HTTP/1\.[01] [24]\d\d ", status_line), answer[:300]
    assert status_line.split()[1] == str(status), answer[:300]
    assert substring.encode() in answer, answer[:600]
    assert_alive(server)


# --- PutEvents entries that fail alone: entry → (ErrorCode, substring of ErrorMessage) ---------
def without(name: str) -> dict:
    return {k: v for k, v in GOOD_ENTRY.items() if k != name}


ENTRY_ERRORS = [
    ("missing-source", without("Source"), "InvalidArgument", "Source is a required argument."),
    ("missing-detail-type", without("DetailType"), "InvalidArgument", "DetailType is a required argument."),
    ("missing-detail", without("Detail"), "InvalidArgument", "Detail is a required argument."),
    ("source-a-number", {**GOOD_ENTRY, "Source": 12}, "InvalidArgument", "Source must be a string."),
    ("detail-type-a-list", {**GOOD_ENTRY, "DetailType": ["a"]}, "InvalidArgument", "DetailType must be a string."),
    ("detail-an-object", {**GOOD_ENTRY, "Detail": {"order": 1}}, "MalformedDetail", "Detail is malformed."),
    ("detail-a-json-number", {**GOOD_ENTRY, "Detail": "42"}, "MalformedDetail", "Detail is malformed."),
    ("detail-too-deep", {**GOOD_ENTRY, "Detail": deep(5000)}, "MalformedDetail", "Detail is malformed."),
    ("aws-source", {**GOOD_ENTRY, "Source": "aws.s3"}, "NotAuthorizedForSourceException", "Not authorized"),
    ("resources-a-string", {**GOOD_ENTRY, "Resources": "arn"}, "InvalidArgument", "Resources must be a list"),
    ("resources-not-strings", {**GOOD_ENTRY, "Resources": ["a", 1]}, "InvalidArgument",
     "every resource must be a string"),
    ("time-not-a-time", {**GOOD_ENTRY, "Time": "soon"}, "InvalidArgument", "Time must be epoch seconds"),
    ("time-negative", {**GOOD_ENTRY, "Time": -5}, "InvalidArgument", "Time is out of range"),
    ("time-an-object", {**GOOD_ENTRY, "Time": {}}, "InvalidArgument", "Parameter Time is not valid"),
    ("trace-header-empty", {**GOOD_ENTRY, "TraceHeader": ""}, "InvalidArgument", "TraceHeader"),
    ("trace-header-too-long", {**GOOD_ENTRY, "TraceHeader": "t" * 501}, "InvalidArgument", "TraceHeader"),
]


@pytest.mark.parametrize("bad,code,message", [case[1:] for case in ENTRY_ERRORS], ids=[c[0] for c in ENTRY_ERRORS])
def test_put_events_entry_error(server, bad, code, message):
    reply = server.put_events_raw({"Entries": [GOOD_ENTRY, bad, GOOD_ENTRY]})
    assert reply.status == 200, reply
    answer = reply.json()
    assert answer["FailedEntryCount"] == 1, answer
    first, failed, last = answer["Entries"]
    assert first["EventId"] and last["EventId"], answer
    assert failed["ErrorCode"] == code, answer
    assert message in failed["ErrorMessage"], answer
    assert "EventId" not in failed
    assert_alive(server)


# --- /events accepted: (id, path, headers, body, events accepted) ------------------------------
ACCEPTED = [
    ("plain-object", "/events", JSON, j(GOOD_EVENT), 1),
    ("plain-array", "/events", JSON, j([GOOD_EVENT, {**GOOD_EVENT, "source": "shop.unmatched"}]), 2),
    ("plain-with-id-and-extra-fields", "/events", JSON,
     j({**GOOD_EVENT, "id": "given-id", "time": "2026-01-01T00:00:00Z", "resources": ["r"], "extra": 1}), 1),
    ("plain-no-content-type", "/events", {}, j(GOOD_EVENT), 1),
    ("plain-bus-by-name", "/events?bus=orders", JSON, j(GOOD_EVENT), 1),
    ("plain-bus-by-arn", "/events?bus=arn:aws:events:us-east-1:123456789012:event-bus/orders", JSON, j(GOOD_EVENT), 1),
    ("plain-on-cloudevents-path", "/cloudevents", JSON, j(GOOD_EVENT), 1),
    ("ce-structured", "/events", CE, j(GOOD_CE), 1),
    ("ce-structured-charset", "/events", {"Content-Type": "application/cloudevents+json; charset=utf-8"},
     j(GOOD_CE), 1),
    ("ce-structured-base64", "/events", CE, j({**ce_without("data"), "data_base64": "eyJvcmRlciI6IDF9"}), 1),
    ("ce-structured-no-data", "/cloudevents", CE, j(ce_without("data")), 1),
    ("ce-binary", "/events",
     {"ce-specversion": "1.0", "ce-id": "b-1", "ce-source": "shop.orders", "ce-type": "OrderPlaced",
      "ce-subject": "order%2042", **JSON}, j({"order": 1}), 1),
    ("ce-binary-text-data", "/events",
     {"ce-specversion": "1.0", "ce-id": "b-2", "ce-source": "shop.orders", "ce-type": "OrderPlaced",
      "Content-Type": "text/plain"}, "hello", 1),
    ("ce-batch", "/events", CE_BATCH, j([{**GOOD_CE, "id": str(i)} for i in range(3)]), 3),
    ("ce-batch-empty", "/events", CE_BATCH, "[]", 0),
]


@pytest.mark.parametrize("path,headers,body,count", [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_events_accepted(server, path, headers, body, count):
    reply = server.request("POST", path, body, headers)
    assert reply.status == 200, reply
    answer = reply.json()
    assert answer["accepted"] == count, answer
    assert len(answer["events"]) == count
    assert all(e["id"] for e in answer["events"])


def test_events_deliveries_count_matching_rules(server):
    # `orders-ok` on the default bus matches shop.orders, nothing matches shop.unmatched.
    reply = server.request("POST", "/events", j([GOOD_EVENT, {**GOOD_EVENT, "source": "shop.unmatched"}]), JSON)
    assert [e["deliveries"] for e in reply.json()["events"]] == [1, 0]
    reply = server.request("POST", "/events", j({**GOOD_EVENT, "id": "keep-me"}), JSON)
    assert reply.json()["events"][0]["id"] == "keep-me"


def test_cloudevent_ids_are_kept(server):
    reply = server.request("POST", "/events", j(GOOD_CE), CE)
    assert reply.json()["events"][0]["id"] == "ce-1"


# A request refused with a 4xx must have accepted nothing: /events is "all or nothing" (server.rs,
# plain.rs), and a producer that gets a 400 fixes and resends the whole batch.
TOO_DEEP = '{"a":' * 2000 + "1" + "}" * 2000
HALF_BAD = [
    ("plain-array", JSON, "[" + j(GOOD_EVENT) + ', {"source": "shop.orders", "detail-type": "D", "detail": '
     + TOO_DEEP + "}]"),
    ("cloudevents-batch", CE_BATCH, "[" + j(GOOD_CE) + ', {"specversion": "1.0", "id": "deep", "source": "shop.orders", '
     '"type": "D", "data": ' + TOO_DEEP + "}]"),
]


@pytest.mark.parametrize("headers,body", [c[1:] for c in HALF_BAD], ids=[c[0] for c in HALF_BAD])
def test_events_refused_with_4xx_accept_nothing(server, headers, body):
    matched = server.metric("switchyard_matched_events_total")
    reply = server.request("POST", "/events", body, headers)
    assert reply.status < 500, reply
    assert_alive(server)
    if 400 <= reply.status < 500:
        assert not reply.json().get("accepted"), reply
        assert server.metric("switchyard_matched_events_total") == matched, "the refused request's events matched"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_open_endpoints(server, path):
    reply = server.request("GET", path)
    assert reply.status == 200, reply


def test_readyz_says_what_is_loaded(server):
    answer = server.request("GET", "/readyz").json()
    assert answer["ready"] is True and answer["rules_loaded"] is True and answer["rules"] == 4, answer


def test_no_malformed_request_got_a_5xx(server):
    # Runs after the tables above (pytest keeps file order): the server counted every status.
    metrics = server.request("GET", "/metrics").text
    statuses = [line for line in metrics.splitlines() if line.startswith("switchyard_http_requests_total{")]
    assert statuses, metrics
    assert not [line for line in statuses if 'status="5' in line], statuses
    assert_alive(server)


# --- bearer tokens: (id, method, path, headers, body, status, __type or message substring) ----
AUTH_PUT = {**PUT}
BEARER = [
    ("events-no-header", "POST", "/events", JSON, j(GOOD_EVENT), 401, "Authorization: Bearer"),
    ("events-wrong-token", "POST", "/events", {**JSON, "Authorization": "Bearer t2"}, j(GOOD_EVENT), 401,
     "not valid"),
    ("events-basic-auth", "POST", "/events", {**JSON, "Authorization": "Basic dDE6"}, j(GOOD_EVENT), 401,
     "Authorization: Bearer"),
    ("events-right-token", "POST", "/events", {**JSON, "Authorization": "Bearer t1"}, j(GOOD_EVENT), 200, None),
    ("ce-no-header", "POST", "/events", CE, j(GOOD_CE), 401, "Authorization: Bearer"),
    ("ce-right-token", "POST", "/events", {**CE, "Authorization": "Bearer t1"}, j(GOOD_CE), 200, None),
    ("put-no-header", "POST", "/", PUT, j({"Entries": [GOOD_ENTRY]}), 403, "MissingAuthenticationTokenException"),
    ("put-wrong-token", "POST", "/", {**PUT, "Authorization": "Bearer t2"}, j({"Entries": [GOOD_ENTRY]}), 403,
     "UnrecognizedClientException"),
    ("put-sigv4-without-credentials", "POST", "/",
     {**PUT, "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/events/aws4_request, "
                              "SignedHeaders=host, Signature=00"},
     j({"Entries": [GOOD_ENTRY]}), 403, "UnrecognizedClientException"),
    ("put-right-token", "POST", "/", {**PUT, "Authorization": "Bearer t1"}, j({"Entries": [GOOD_ENTRY]}), 200, None),
    ("test-no-header", "POST", "/", TEST, j({"EventPattern": '{"source": ["a"]}', "Event": j(EVENT)}), 403,
     "MissingAuthenticationTokenException"),
    ("test-right-token", "POST", "/", {**TEST, "Authorization": "Bearer t1"},
     j({"EventPattern": '{"source": ["a"]}', "Event": j(EVENT)}), 200, None),
    ("healthz-open", "GET", "/healthz", {}, None, 200, None),
    ("readyz-open", "GET", "/readyz", {}, None, 200, None),
    ("metrics-open", "GET", "/metrics", {}, None, 200, None),
]


@pytest.fixture(scope="module")
def token_server(servers):
    return servers.start(args=["--tokens", "t1"])


@pytest.mark.parametrize("method,path,headers,body,status,expected", [c[1:] for c in BEARER],
                         ids=[c[0] for c in BEARER])
def test_bearer_tokens(token_server, method, path, headers, body, status, expected):
    reply = token_server.request(method, path, body, headers)
    assert reply.status == status, reply
    if status == 401:
        assert reply.headers.get("www-authenticate") == "Bearer", reply
        assert expected in reply.json()["error"], reply
    elif status == 403:
        assert reply.json()["__type"] == expected, reply
        assert reply.headers.get("x-amzn-errortype") == expected, reply
    elif path == "/":
        assert "FailedEntryCount" in reply.json() or "Result" in reply.json(), reply


def test_boto3_against_a_token_server_is_refused(token_server):
    # boto3 signs with SigV4; a router with tokens only and no credentials refuses the signature.
    import botocore.exceptions

    client = token_server.events_client()
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client.put_events(Entries=[GOOD_ENTRY])
    assert excinfo.value.response["Error"]["Code"] == "UnrecognizedClientException"


# --- backpressure: a router whose pending bound is reached answers 503 with Retry-After ----------
@pytest.fixture(scope="module")
def full_server(servers):
    return servers.start(args=["--max-pending", "0"])


@pytest.mark.parametrize("path,headers,body,aws_type", [
    ("/", PUT, j({"Entries": [GOOD_ENTRY]}), "InternalException"),
    ("/events", JSON, j(GOOD_EVENT), None),
], ids=["putevents", "events"])
def test_pending_bound_answers_503_with_retry_after(full_server, path, headers, body, aws_type):
    reply = full_server.request("POST", path, body, headers)
    assert reply.status == 503, reply
    assert reply.headers.get("retry-after") == "1", reply
    if aws_type:
        assert reply.json()["__type"] == aws_type, reply
    assert "retry later" in reply.text, reply
    assert_alive(full_server)
