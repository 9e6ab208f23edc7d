"""The envelope a consumer receives, however the event was sent (boto3 PutEvents, plain JSON on
/events, CloudEvents structured and binary): each event goes to a rule whose consumer fails
permanently, and its dead letter (admin API) shows the envelope the router built."""

from __future__ import annotations

import datetime
import json
import re

import pytest

from conftest import ACCOUNT, REGION, eventually

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SOURCE = "shop.permanent"  # the source of the `fails-permanently` rule


def send_putevents(server, marker):
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    answer = server.events_client().put_events(Entries=[{
        "Source": SOURCE, "DetailType": "Envelope", "Detail": json.dumps({"marker": marker, "n": 1.50}),
        "Time": when, "Resources": ["arn:aws:s3:::bucket"], "TraceHeader": "Root=1-abc",
    }])
    assert answer["FailedEntryCount"] == 0, answer
    return answer["Entries"][0]["EventId"]


def send_putevents_without_time(server, marker):
    answer = server.events_client().put_events(Entries=[{
        "Source": SOURCE, "DetailType": "Envelope", "Detail": json.dumps({"marker": marker})}])
    assert answer["FailedEntryCount"] == 0, answer
    return answer["Entries"][0]["EventId"]


def send_plain(server, marker):
    body = {"source": SOURCE, "detail-type": "Envelope", "detail": {"marker": marker}, "extra": [1]}
    reply = server.request("POST", "/events", json.dumps(body), {"Content-Type": "application/json"})
    assert reply.status == 200, reply
    return reply.json()["events"][0]["id"]


def send_plain_given(server, marker):
    body = {"source": SOURCE, "detail-type": "Envelope", "detail": {"marker": marker}, "id": f"given-{marker}",
            "time": "2026-03-04T05:06:07Z", "resources": ["r1"]}
    reply = server.request("POST", "/events", json.dumps(body), {"Content-Type": "application/json"})
    assert reply.status == 200, reply
    return reply.json()["events"][0]["id"]


def send_ce_structured(server, marker):
    body = {"specversion": "1.0", "id": f"ce-{marker}", "source": SOURCE, "type": "Envelope", "subject": "order/42",
            "time": "2026-11-21T08:15:00Z", "tenant": "acme", "data": {"marker": marker}}
    reply = server.request("POST", "/events", json.dumps(body), {"Content-Type": "application/cloudevents+json"})
    assert reply.status == 200, reply
    return reply.json()["events"][0]["id"]


def send_ce_binary(server, marker):
    headers = {"ce-specversion": "1.0", "ce-id": f"bin-{marker}", "ce-source": SOURCE, "ce-type": "Envelope",
               "Content-Type": "text/plain"}
    reply = server.request("POST", "/events", marker, headers)
    assert reply.status == 200, reply
    return reply.json()["events"][0]["id"]


# (id, send, envelope fields expected; "RFC3339" means any RFC 3339 time, "MARKER" the case's marker)
CASES = [
    ("putevents", send_putevents, {
        "version": "0", "source": SOURCE, "detail-type": "Envelope", "account": ACCOUNT, "region": REGION,
        "time": "2026-01-02T03:04:05Z", "resources": ["arn:aws:s3:::bucket"], "detail": {"marker": "MARKER", "n": 1.5},
    }),
    ("putevents-no-time", send_putevents_without_time, {
        "version": "0", "time": "RFC3339", "resources": [], "detail": {"marker": "MARKER"},
    }),
    ("plain", send_plain, {
        "version": "0", "source": SOURCE, "detail-type": "Envelope", "account": ACCOUNT, "region": REGION,
        "time": "RFC3339", "resources": [], "detail": {"marker": "MARKER"}, "extra": [1],
    }),
    ("plain-given-fields", send_plain_given, {
        "id": "given-MARKER", "time": "2026-03-04T05:06:07Z", "resources": ["r1"],
    }),
    ("cloudevent-structured", send_ce_structured, {
        "version": "0", "id": "ce-MARKER", "source": SOURCE, "detail-type": "Envelope", "account": ACCOUNT,
        "region": REGION, "time": "2026-11-21T08:15:00Z", "resources": ["order/42"], "detail": {"marker": "MARKER"},
    }),
    ("cloudevent-binary-text", send_ce_binary, {
        "id": "bin-MARKER", "source": SOURCE, "detail-type": "Envelope", "detail": {"data": "MARKER"},
    }),
]


def fill(value, marker):
    if isinstance(value, str):
        return value.replace("MARKER", marker)
    if isinstance(value, dict):
        return {k: fill(v, marker) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, marker) for v in value]
    return value


@pytest.mark.parametrize("send,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_envelope_as_delivered(server, send, expected, request):
    marker = f"m-{request.node.callspec.id}"
    event_id = send(server, marker)

    def letter():
        listed = server.request("GET", "/dlq?rule=fails-permanently", admin=True).json()
        return next((d for d in listed["dead_letters"] if d["event_id"] == event_id), None)

    event = eventually(letter, what=f"the dead letter of {event_id}")["event"]
    assert event["id"] == event_id
    for name, want in fill(expected, marker).items():
        if want == "RFC3339":
            assert RFC3339.match(event[name]), (name, event)
        else:
            assert event[name] == want, (name, event)
    if "cloudevent" in request.node.callspec.id:
        assert event["cloudevents"]["specversion"] == "1.0", event
