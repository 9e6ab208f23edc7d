"""The admin API of a running router (`--admin-listen`, `--admin-token`): dead letters made by real
deliveries, listed, shown, redriven and purged over HTTP, and its answers to malformed requests."""

from __future__ import annotations

import json

import pytest

from conftest import eventually

TOKEN = "admin-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def admin_server(servers):
    return servers.start(admin=True, args=["--admin-token", TOKEN])


def dlq(server, query=""):
    reply = server.request("GET", f"/dlq{query}", headers=AUTH, admin=True)
    assert reply.status == 200, reply
    return reply.json()


def put(server, source, n=1):
    entries = [{"Source": source, "DetailType": "Case", "Detail": json.dumps({"n": i})} for i in range(n)]
    answer = server.events_client().put_events(Entries=entries)
    assert answer["FailedEntryCount"] == 0, answer
    return [e["EventId"] for e in answer["Entries"]]


def test_dead_letters_listed_shown_redriven_purged(admin_server):
    ids = put(admin_server, "shop.permanent", 3)
    listed = eventually(lambda: (d := dlq(admin_server, "?rule=fails-permanently"))["count"] == 3 and d,
                        what="3 dead letters")
    assert sorted(d["event_id"] for d in listed["dead_letters"]) == sorted(ids)
    assert {d["error_code"] for d in listed["dead_letters"]} == {"CONSUMER_PERMANENT"}
    assert dlq(admin_server, "?rule=fails-permanently&limit=1")["count"] == 1
    assert dlq(admin_server, "?error_code=CONSUMER_RETRYABLE")["count"] == 0
    assert dlq(admin_server, "?rule=orders-ok")["count"] == 0

    first = listed["dead_letters"][0]
    shown = admin_server.request("GET", f"/dlq/{first['id']}", headers=AUTH, admin=True)
    assert shown.status == 200 and shown.json()["event_id"] == first["event_id"], shown

    # Redriven, the consumer fails again: the dead letters come back (new ids, same events).
    redriven = admin_server.request("POST", "/dlq/redrive", json.dumps({"ids": [first["id"]]}), AUTH, admin=True)
    assert redriven.status == 200 and redriven.json() == {"redriven": 1}, redriven
    eventually(lambda: admin_server.request("GET", f"/dlq/{first['id']}", headers=AUTH, admin=True).status == 404,
               what="the redriven dead letter leaves the list")
    eventually(lambda: sorted(d["event_id"] for d in dlq(admin_server, "?rule=fails-permanently")["dead_letters"])
               == sorted(ids), what="the redriven event to fail again")

    purged = admin_server.request("POST", "/dlq/purge", json.dumps({"rule": "fails-permanently"}), AUTH, admin=True)
    assert purged.status == 200 and purged.json() == {"purged": 3}, purged
    assert dlq(admin_server, "?rule=fails-permanently")["count"] == 0


# (id, method, path, headers, body, status, substring of {"error"})
ADMIN_MALFORMED = [
    ("no-token", "GET", "/dlq", {}, None, 401, "Authorization: Bearer"),
    ("wrong-token", "GET", "/dlq", {"Authorization": "Bearer nope"}, None, 401, "Authorization: Bearer"),
    ("unknown-parameter", "GET", "/dlq?color=red", AUTH, None, 400, "unknown query parameter"),
    ("limit-not-a-number", "GET", "/dlq?limit=ten", AUTH, None, 400, "limit=\"ten\" is not a number"),
    ("since-not-a-time", "GET", "/dlq?since=yesterday", AUTH, None, 400, "neither ms since the epoch nor"),
    ("id-not-a-number", "GET", "/dlq/abc", AUTH, None, 400, "is not a dead-letter id"),
    ("no-such-letter", "GET", "/dlq/999999", AUTH, None, 404, "no dead letter 999999"),
    ("redrive-not-json", "POST", "/dlq/redrive", AUTH, "{", 400, "the body must be"),
    ("redrive-empty-selection", "POST", "/dlq/redrive", AUTH, "{}", 400, "exactly one of"),
    ("redrive-two-selections", "POST", "/dlq/redrive", AUTH, json.dumps({"rule": "r", "all": True}), 400,
     "exactly one of"),
    ("purge-unknown-field", "POST", "/dlq/purge", AUTH, json.dumps({"everything": True}), 400, "the body must be"),
    ("purge-ids-not-numbers", "POST", "/dlq/purge", AUTH, json.dumps({"ids": ["a"]}), 400, "the body must be"),
    ("purge-body-too-large", "POST", "/dlq/purge", AUTH, json.dumps({"ids": list(range(20000))}), 413,
     "at most 65536 bytes"),
    ("delete-dlq", "DELETE", "/dlq", AUTH, None, 405, "does not accept DELETE"),
    ("get-redrive", "GET", "/dlq/redrive", AUTH, None, 400, "is not a dead-letter id"),
    ("put-letter", "PUT", "/dlq/1", AUTH, "{}", 405, "does not accept PUT"),
    ("unknown-path", "GET", "/rules", AUTH, None, 404, "no such admin resource"),
]


@pytest.mark.parametrize("method,path,headers,body,status,substring", [c[1:] for c in ADMIN_MALFORMED],
                         ids=[c[0] for c in ADMIN_MALFORMED])
def test_admin_malformed(admin_server, method, path, headers, body, status, substring):
    reply = admin_server.request(method, path, body, headers, admin=True)
    assert reply.status == status, reply
    assert reply.headers.get("content-type") == "application/json", reply
    assert substring in reply.json()["error"], reply
    if status == 401:
        assert reply.headers.get("www-authenticate") == "Bearer", reply
    assert admin_server.alive()
    assert admin_server.request("GET", "/dlq?limit=1", headers=AUTH, admin=True).status == 200
