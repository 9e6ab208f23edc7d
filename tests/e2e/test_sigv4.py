"""SigV4 verification on a router started with `--credentials AKIDTEST:secretTEST`: boto3 clients with
right and wrong credentials, and requests signed by botocore's signer then altered (body, signed
header, service, clock skew) or carrying a malformed Authorization header."""

from __future__ import annotations

import datetime
import json

import botocore.auth
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REGION, events_client

KEY_ID, SECRET = "AKIDTEST", "secretTEST"
ENTRY = {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": '{"order": 1}'}
EVENT = {"id": "1", "version": "0", "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": REGION,
         "resources": [], "source": "shop.orders", "detail-type": "OrderPlaced", "detail": {}}
PUT_BODY = json.dumps({"Entries": [ENTRY]})


@pytest.fixture(scope="module")
def signed_server(servers):
    return servers.start(args=["--credentials", f"{KEY_ID}:{SECRET}"])


# --- boto3: (key id, secret) → the error code, or None when accepted ---------------------------
SIGV4_CASES = [
    ("right-credentials", KEY_ID, SECRET, None),
    ("wrong-secret", KEY_ID, "wrongSECRET", "InvalidSignatureException"),
    ("unknown-key-id", "AKIDUNKNOWN", SECRET, "UnrecognizedClientException"),
]


@pytest.mark.parametrize("key_id,secret,expected", [c[1:] for c in SIGV4_CASES], ids=[c[0] for c in SIGV4_CASES])
@pytest.mark.parametrize("operation", ["put_events", "test_event_pattern"])
def test_boto3_sigv4(signed_server, key_id, secret, expected, operation):
    client = signed_server.events_client(key_id, secret)
    call = {
        "put_events": lambda: client.put_events(Entries=[ENTRY]),
        "test_event_pattern": lambda: client.test_event_pattern(
            EventPattern='{"source": ["shop.orders"]}', Event=json.dumps(EVENT)),
    }[operation]
    if expected is None:
        answer = call()
        assert answer.get("FailedEntryCount", 0) == 0
        return
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call()
    assert excinfo.value.response["Error"]["Code"] == expected
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_boto3_sigv4_in_another_region_is_accepted(signed_server):
    # The router accepts any region in the credential scope; only the service must be `events`.
    client = events_client(signed_server.url, KEY_ID, SECRET, region="eu-west-1")
    assert client.put_events(Entries=[ENTRY])["FailedEntryCount"] == 0


# --- requests signed by botocore's signer, then altered -----------------------------------------

def signed(server, path="/", body=PUT_BODY, target="AWSEvents.PutEvents", service="events", region=REGION,
           key_id=KEY_ID, secret=SECRET, skew_s=0, content_type="application/x-amz-json-1.1"):
    """The headers of a request signed with SigV4 (as botocore signs), `skew_s` seconds off now."""
    headers = {"Content-Type": content_type}
    if target:
        headers["X-Amz-Target"] = target
    request = AWSRequest(method="POST", url=server.url + path, data=body.encode(), headers=headers)
    signer = botocore.auth.SigV4Auth(Credentials(key_id, secret), service, region)
    real = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *a, **k: real(*a, **k) + datetime.timedelta(seconds=skew_s)
    try:
        signer.add_auth(request)
    finally:
        botocore.auth.get_current_datetime = real
    return {k: v for k, v in request.headers.items()}


def alter(**changes):
    def apply(server):
        headers = signed(server, **{k: v for k, v in changes.items() if k not in ("send_body", "set")})
        headers.update(changes.get("set", {}))
        return changes.get("path", "/"), headers, changes.get("send_body", changes.get("body", PUT_BODY))
    return apply


# (id, request maker, status, __type or None for accepted)
SIGNED = [
    ("signed", alter(), 200, None),
    ("signed-test-event-pattern", alter(target="AWSEvents.TestEventPattern",
                                        body=json.dumps({"EventPattern": '{"source": ["a"]}',
                                                         "Event": json.dumps(EVENT)})), 200, None),
    ("signed-other-region", alter(region="ap-southeast-2"), 200, None),
    ("body-changed-after-signing", alter(send_body=PUT_BODY.replace("OrderPlaced", "OrderVoided")), 403,
     "InvalidSignatureException"),
    ("signed-header-changed", alter(set={"X-Amz-Target": "AWSEvents.TestEventPattern"}), 403,
     "InvalidSignatureException"),
    ("signed-for-sqs", alter(service="sqs"), 403, "InvalidSignatureException"),
    ("signed-20-minutes-ago", alter(skew_s=-1200), 403, "InvalidSignatureException"),
    ("signed-20-minutes-ahead", alter(skew_s=1200), 403, "InvalidSignatureException"),
    ("wrong-secret", alter(secret="nope"), 403, "InvalidSignatureException"),
    ("unknown-key", alter(key_id="AKIDNOPE"), 403, "UnrecognizedClientException"),
    ("authorization-garbage", alter(set={"Authorization": "AWS4-HMAC-SHA256 garbage"}), 403,
     "IncompleteSignatureException"),
    ("authorization-no-signature", alter(set={"Authorization": f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20260101/"
                                                               f"{REGION}/events/aws4_request, SignedHeaders=host"}),
     403, "IncompleteSignatureException"),
    ("bearer-on-a-credentials-server", alter(set={"Authorization": "Bearer t1"}), 403,
     "UnrecognizedClientException"),
    ("no-authorization", alter(set={"Authorization": ""}), 403, "MissingAuthenticationTokenException"),
]


@pytest.mark.parametrize("make,status,aws_type", [c[1:] for c in SIGNED], ids=[c[0] for c in SIGNED])
def test_signed_requests(signed_server, make, status, aws_type):
    path, headers, body = make(signed_server)
    reply = signed_server.request("POST", path, body, headers)
    assert reply.status == status, reply
    if aws_type:
        assert reply.json()["__type"] == aws_type, reply
        assert reply.json()["message"], reply
    else:
        answer = reply.json()
        assert answer.get("FailedEntryCount", 0) == 0, answer


# /events: SigV4 works there too; a refusal is 401 with {"error"}
EVENTS_SIGNED = [
    ("events-signed", dict(), 200),
    ("events-wrong-secret", dict(secret="nope"), 401),
    ("events-unsigned", None, 401),
]


@pytest.mark.parametrize("change,status", [c[1:] for c in EVENTS_SIGNED], ids=[c[0] for c in EVENTS_SIGNED])
def test_signed_events(signed_server, change, status):
    body = json.dumps({"source": "shop.orders", "detail-type": "OrderPlaced", "detail": {}})
    if change is None:
        headers = {"Content-Type": "application/json"}
    else:
        headers = signed(signed_server, path="/events", body=body, target=None, content_type="application/json",
                         **change)
    reply = signed_server.request("POST", "/events", body, headers)
    assert reply.status == status, reply
    if status == 401:
        assert reply.json()["error"], reply


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_open_endpoints_need_no_signature(signed_server, path):
    assert signed_server.request("GET", path).status == 200
