"""The router through boto3's `events` client: PutEvents, TestEventPattern, error shapes as botocore
reads them, and delivery behind PutEvents (metrics, dead letters on the admin API)."""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from conftest import ACCOUNT, REGION, eventually


def entry(source="shop.orders", detail_type="OrderPlaced", detail=None, **extra):
    e = {"Source": source, "DetailType": detail_type,
         "Detail": json.dumps(detail if detail is not None else {"order": 1})}
    e.update(extra)
    return e


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


# --- PutEvents ---------------------------------------------------------------------------------

def test_put_events_batch_of_ten_gets_an_event_id_each(client):
    entries = [entry(source="shop.orders" if i % 2 == 0 else "shop.unmatched", detail={"i": i}) for i in range(10)]
    answer = client.put_events(Entries=entries)
    assert answer["FailedEntryCount"] == 0
    assert len(answer["Entries"]) == 10
    ids = [e["EventId"] for e in answer["Entries"]]
    assert all(ids) and len(set(ids)) == 10
    assert all("ErrorCode" not in e for e in answer["Entries"])


# A mixed batch: each entry → the per-entry error code (None for accepted), in order.
MIXED = [
    ("valid", entry(), None),
    ("detail is a JSON array", entry(detail=[1, 2]), "MalformedDetail"),
    ("detail is not JSON", {**entry(), "Detail": "{not json"}, "MalformedDetail"),
    ("detail is a JSON string", {**entry(), "Detail": '"text"'}, "MalformedDetail"),
    ("aws. source", entry(source="aws.ec2"), "NotAuthorizedForSourceException"),
    ("valid, unmatched", entry(source="shop.unmatched"), None),
    ("source too long", entry(source="s" * 257), "InvalidArgument"),
    ("detail-type too long", entry(detail_type="d" * 129), "InvalidArgument"),
    ("empty source", entry(source=""), "InvalidArgument"),
    ("valid with Time and Resources", entry(Time=1714564800, Resources=["arn:aws:s3:::b"]), None),
]


def test_put_events_mixed_batch_reports_each_entry_in_order(client):
    answer = client.put_events(Entries=[e for _, e, _ in MIXED])
    codes = [e.get("ErrorCode") for e in answer["Entries"]]
    assert codes == [code for _, _, code in MIXED], list(zip([n for n, _, _ in MIXED], answer["Entries"]))
    assert answer["FailedEntryCount"] == sum(1 for _, _, code in MIXED if code)
    for (name, _, code), result in zip(MIXED, answer["Entries"]):
        if code is None:
            assert result.get("EventId"), name
        else:
            assert result.get("ErrorMessage"), name
            assert "EventId" not in result, name
    assert answer["Entries"][1]["ErrorMessage"] == "Detail is malformed."
    assert answer["Entries"][4]["ErrorMessage"] == "Not authorized for the source."


@pytest.mark.parametrize("bus", [
    "orders",
    f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders",
    "default",
    f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
])
def test_put_events_on_a_bus_by_name_and_by_arn(client, bus):
    answer = client.put_events(Entries=[entry(EventBusName=bus)])
    assert answer["FailedEntryCount"] == 0, answer
    assert answer["Entries"][0]["EventId"]


@pytest.mark.parametrize("bus", ["nope", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/nope"])
def test_put_events_on_an_unknown_bus_is_resource_not_found(client, bus):
    with pytest.raises(client.exceptions.ResourceNotFoundException) as excinfo:
        client.put_events(Entries=[entry(EventBusName=bus)])
    assert "nope" in excinfo.value.response["Error"]["Message"]


def test_put_events_eleven_entries_is_a_validation_error(client):
    # botocore does not check the list's maximum length itself: the server answers.
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client.put_events(Entries=[entry() for _ in range(11)])
    assert error_code(excinfo) == "ValidationException"
    assert "entries" in excinfo.value.response["Error"]["Message"]
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_put_events_over_256_kb_is_a_validation_error(client):
    big = {"blob": "x" * 90_000}
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client.put_events(Entries=[entry(detail=big) for _ in range(3)])
    assert error_code(excinfo) == "ValidationException"
    assert "Total size of the entries" in excinfo.value.response["Error"]["Message"]


def test_put_events_just_under_256_kb_is_accepted(client):
    # Source + DetailType + Detail bytes of all entries must stay below 262144.
    filler = 262_143 - 2 * (len("shop.orders") + len("OrderPlaced") + len('{"blob": ""}'))
    entries = [entry(detail={"blob": "x" * (filler // 2)}), entry(detail={"blob": "x" * (filler - filler // 2)})]
    assert sum(len(e["Source"]) + len(e["DetailType"]) + len(e["Detail"]) for e in entries) == 262_143
    answer = client.put_events(Entries=entries)
    assert answer["FailedEntryCount"] == 0


@pytest.mark.parametrize("count,accepted", [(80_000, True), (90_000, False)])
def test_put_events_size_counts_utf8_bytes(client, count, accepted):
    # "€" is 3 bytes of UTF-8: 90,000 of them are 270,000 bytes (over 256 KB) in 90,000 characters.
    detail = json.dumps({"s": "\u20ac" * count}, ensure_ascii=False)
    if accepted:
        assert client.put_events(Entries=[entry() | {"Detail": detail}])["FailedEntryCount"] == 0
        return
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client.put_events(Entries=[entry() | {"Detail": detail}])
    assert error_code(excinfo) == "ValidationException"
    assert "Total size of the entries" in excinfo.value.response["Error"]["Message"]


# --- TestEventPattern --------------------------------------------------------------------------

EVENT = {
    "id": "7bf73129-1428-4cd3-a780-95db273d1602", "version": "0", "account": ACCOUNT,
    "time": "2026-01-01T00:00:00Z", "region": REGION, "resources": [], "source": "shop.orders",
    "detail-type": "OrderPlaced", "detail": {"total": 42, "state": "new"},
}

# pattern → whether it matches EVENT
PATTERN_CASES = [
    ({"source": ["shop.orders"]}, True),
    ({"source": ["shop.payments"]}, False),
    ({"detail": {"total": [{"numeric": [">", 40]}]}}, True),
    ({"detail": {"total": [{"numeric": [">", 42]}]}}, False),
    ({"detail": {"state": [{"prefix": "ne"}]}}, True),
    ({"detail": {"state": [{"anything-but": "new"}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
]


@pytest.mark.parametrize("pattern,expected", PATTERN_CASES, ids=[json.dumps(p) for p, _ in PATTERN_CASES])
def test_test_event_pattern(client, pattern, expected):
    answer = client.test_event_pattern(EventPattern=json.dumps(pattern), Event=json.dumps(EVENT))
    assert answer["Result"] is expected


@pytest.mark.parametrize("pattern", [
    '{"detail": {"state": [{"prefx": "n"}]}}',
    '{"source": "shop.orders"}',
    "not json",
    "[]",
])
def test_test_event_pattern_invalid_pattern(client, pattern):
    with pytest.raises(client.exceptions.InvalidEventPatternException):
        client.test_event_pattern(EventPattern=pattern, Event=json.dumps(EVENT))


@pytest.mark.parametrize("event", [
    "not json",
    "[1, 2]",
    json.dumps({"source": "shop.orders"}),
    json.dumps({k: v for k, v in EVENT.items() if k != "id"}),
])
def test_test_event_pattern_invalid_event(client, event):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client.test_event_pattern(EventPattern='{"source": ["shop.orders"]}', Event=event)
    assert error_code(excinfo) == "ValidationException"
    assert "Parameter Event is not valid" in excinfo.value.response["Error"]["Message"]


def test_unknown_operation(client):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client.list_rules()
    assert error_code(excinfo) == "UnknownOperationException"
    assert "AWSEvents.ListRules" in excinfo.value.response["Error"]["Message"]


# --- delivery behind PutEvents -----------------------------------------------------------------

def test_matching_events_are_delivered_to_the_consumer(fresh_servers):
    server = fresh_servers.start(admin=True)
    client = server.events_client()
    n = 7
    answer = client.put_events(Entries=[entry(detail={"i": i}) for i in range(n)]
                               + [entry(source="shop.unmatched")])
    assert answer["FailedEntryCount"] == 0
    eventually(lambda: server.metric("switchyard_invocations_total") >= n, what=f"{n} invocations")
    assert server.metric("switchyard_failed_invocations_total") == 0
    assert server.metric("switchyard_matched_events_total") == n
    eventually(lambda: server.metric("switchyard_pending_deliveries") == 0, what="no pending delivery")
    assert server.request("GET", "/dlq", admin=True).json()["count"] == 0


# consumer's source → (rule, error code, exhausted condition) of its dead letter
DEAD_LETTER_CASES = [
    ("shop.permanent", "fails-permanently", "CONSUMER_PERMANENT", None),
    ("shop.retryable", "fails-retryably", "CONSUMER_RETRYABLE", "MaximumRetryAttempts"),
]


@pytest.mark.parametrize("source,rule_name,code,exhausted", DEAD_LETTER_CASES)
def test_failed_deliveries_become_dead_letters(server, client, source, rule_name, code, exhausted):
    answer = client.put_events(Entries=[entry(source=source, detail={"case": source})])
    assert answer["FailedEntryCount"] == 0
    event_id = answer["Entries"][0]["EventId"]

    def letter():
        listed = server.request("GET", f"/dlq?rule={rule_name}", admin=True)
        assert listed.status == 200, listed
        return next((d for d in listed.json()["dead_letters"] if d["event_id"] == event_id), None)

    dead = eventually(letter, what=f"a dead letter of rule {rule_name}")
    assert dead["rule"] == rule_name
    assert dead["target"] == "t1"
    assert dead["error_code"] == code
    assert dead["exhausted"] == exhausted
    assert dead["event"]["id"] == event_id
    assert dead["event"]["source"] == source
    assert dead["event"]["detail"] == {"case": source}
    one = server.request("GET", f"/dlq/{dead['id']}", admin=True)
    assert one.status == 200 and one.json()["event_id"] == event_id


def test_concurrent_producers_all_accepted_and_delivered(fresh_servers):
    # 8 boto3 clients at once, 10 requests of 10 entries each: every event gets an id and is delivered once.
    from concurrent.futures import ThreadPoolExecutor

    server = fresh_servers.start()
    threads, requests, n = 8, 10, 10

    def produce(t):
        client = server.events_client()
        ids = []
        for r in range(requests):
            answer = client.put_events(Entries=[entry(detail={"t": t, "r": r, "i": i}) for i in range(n)])
            assert answer["FailedEntryCount"] == 0, answer
            ids += [e["EventId"] for e in answer["Entries"]]
        return ids

    with ThreadPoolExecutor(threads) as pool:
        ids = [i for chunk in pool.map(produce, range(threads)) for i in chunk]
    total = threads * requests * n
    assert len(ids) == len(set(ids)) == total
    eventually(lambda: server.metric("switchyard_invocations_total") >= total, timeout=60,
               what=f"{total} invocations")
    eventually(lambda: server.metric("switchyard_pending_deliveries") == 0, what="no pending delivery")
    assert server.metric("switchyard_invocations_total") == total
    assert server.metric("switchyard_failed_invocations_total") == 0
