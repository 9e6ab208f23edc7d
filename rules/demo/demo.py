#!/usr/bin/env python3
"""`make demo`: the router on the rules of rules/, fed a handful of events.

Starts a local webhook listener (the "e-mail service" and the "operations team"), then
`switchyard serve` with the embedded store and rules/, publishes sample events over the
EventBridge API (PutEvents), plain JSON and CloudEvents, and prints what was delivered, what the
consumers emitted, what is in dead-letter storage and a few metrics. The router keeps running until
Ctrl-C, or stops at once when DEMO_EXIT=1.

Standard library only: a fresh machine has python3 and nothing else.
"""

import functools
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SWITCHYARD_BIN", ROOT / "target/release/switchyard"))
WASM = Path(os.environ.get("SWITCHYARD_WASM", ROOT / "target/wasm/wasm32-wasip2/release"))
DATA = Path(os.environ.get("DEMO_DATA", ROOT / "target/demo-data"))

received = []
print = functools.partial(print, flush=True)  # noqa: A001 (the router's output interleaves with ours)


class Webhook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        received.append((self.path, body.decode("utf-8", "replace")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def call(url, body=None, headers=None, method=None):
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def put_events(base, entries):
    body = json.dumps({"Entries": entries}).encode()
    headers = {"X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"}
    return call(base + "/", body, headers)


def metrics(base):
    _, text = call(base + "/metrics")
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def section(title):
    print(f"\n== {title}")


def main():
    webhook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    port = webhook.server_address[1]

    subprocess.run(["rm", "-rf", str(DATA)], check=True)
    DATA.mkdir(parents=True)
    log_path = DATA / "router.log"
    env = dict(os.environ, SWITCHYARD_WASM=str(WASM), DEMO_WEBHOOK_PORT=str(port))
    command = [str(BIN), "serve", "--rules", str(ROOT / "rules"), "--data-dir", str(DATA / "store"),
               "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]
    section("switchyard check rules/")
    subprocess.run([str(BIN), "check", str(ROOT / "rules")], env=env, check=True)
    section("starting: " + " ".join(command[:9]) + " ...")
    log = open(log_path, "w")
    router = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    base = admin = None
    while base is None:
        line = router.stdout.readline()
        if not line:
            sys.exit(f"the router did not start; see {log_path}")
        print("  " + line.rstrip())
        if line.startswith("switchyard: admin API on "):
            admin = line.split(" on ", 1)[1].strip()
        if line.startswith("switchyard: listening on "):
            base = line.split(" on ", 1)[1].strip()

    try:
        publish(base)
        report(base, admin, log_path)
        if os.environ.get("DEMO_EXIT") == "1":
            return
        print(f"\nThe router keeps running at {base} (admin API at {admin}); its log is {log_path}.")
        print("Try: curl -s " + base + "/events -d '{\"source\":\"shop.orders\",\"detail-type\":\"OrderPlaced\","
              "\"detail\":{\"order_id\":\"ORD-9\",\"items\":[{\"sku\":\"A\",\"quantity\":1}],\"customer\":"
              "{\"name\":\"You\",\"email\":\"you@example.com\"},\"total\":1,\"currency\":\"EUR\"}}'")
        print("Ctrl-C stops it.")
        try:
            router.wait()
        except KeyboardInterrupt:
            pass
    finally:
        if router.poll() is None:
            router.send_signal(signal.SIGTERM)
            code = router.wait(timeout=60)
            print(f"\nrouter stopped (exit code {code})")
        webhook.shutdown()


def publish(base):
    order = {
        "order_id": "ORD-1042",
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "items": [{"sku": "MS-ERGO-2", "name": "Ergonomic mouse", "quantity": 2, "price": 49.5},
                  {"sku": "KB-MX-104", "name": "Mechanical keyboard", "quantity": 1, "price": 129.9}],
        "total": 228.9,
        "currency": "EUR",
    }
    too_big = {
        "order_id": "ORD-1045",
        "customer": {"name": "Grace Hopper", "email": "grace@example.com"},
        "items": [{"sku": "MS-ERGO-2", "name": "Ergonomic mouse", "quantity": 1000, "price": 49.5}],
        "total": 49500,
        "currency": "EUR",
    }
    payment = {"order_id": "ORD-1044", "amount": 59.95, "currency": "EUR", "reason": "card_declined"}
    section("PutEvents (AWS JSON 1.1): an order, an order the stock cannot cover, a failed payment, "
            "a malformed entry, an event no rule matches")
    status, body = put_events(base, [
        {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": json.dumps(order)},
        {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": json.dumps(too_big)},
        {"Source": "shop.payments", "DetailType": "PaymentFailed", "Detail": json.dumps(payment),
         "Resources": ["arn:aws:shop:local:000000000000:order/ORD-1044"]},
        {"Source": "shop.orders", "DetailType": "OrderPlaced", "Detail": "[not an object]"},
        {"Source": "shop.reviews", "DetailType": "ReviewPosted", "Detail": "{\"stars\": 5}"},
    ])
    print(f"  {status} {body}")

    section("POST /events (plain JSON): another order")
    second = dict(order, order_id="ORD-1047", items=[{"sku": "CB-USBC-2M", "name": "USB-C cable", "quantity": 3,
                                                       "price": 9.9}], total=29.7)
    status, body = call(base + "/events", json.dumps({"source": "shop.orders", "detail-type": "OrderPlaced",
                                                      "detail": second}).encode(),
                        {"Content-Type": "application/json"})
    print(f"  {status} {body.strip()}")

    section("POST /events (a CloudEvent, binary mode): a failed payment")
    headers = {"ce-specversion": "1.0", "ce-id": "pay-7", "ce-source": "shop.payments",
               "ce-type": "PaymentFailed", "Content-Type": "application/json"}
    status, body = call(base + "/events", json.dumps({"order_id": "ORD-1048", "amount": 12.5, "currency": "EUR",
                                                      "reason": "insufficient_funds"}).encode(), headers)
    print(f"  {status} {body.strip()}")


def report(base, admin, log_path):
    # Wait until every delivery has finished (or a few seconds have passed).
    deadline = time.time() + 20
    while time.time() < deadline:
        m = metrics(base)
        if m.get("switchyard_pending_deliveries", 1) == 0 and m.get("switchyard_invocations_total", 0) >= 7:
            break
        time.sleep(0.2)

    section("delivered to the webhook listener (the e-mail service and the operations team)")
    for path, body in received:
        print(f"  POST {path}  {body[:150]}{'...' if len(body) > 150 else ''}")

    section("what the consumers did (their logs: follow-up events emitted, stock reserved, webhooks posted)")
    for line in open(log_path, encoding="utf-8", errors="replace"):
        if "switchyard::consumer" in line:
            print("  " + line.split("switchyard::consumer: ", 1)[-1].rstrip()[:200])

    section("dead letters (admin API: GET /dlq)")
    _, body = call(admin + "/dlq")
    letters = json.loads(body)
    for letter in letters.get("dead_letters", []):
        message = (letter.get("error_message") or "").splitlines()
        print(f"  #{letter.get('id')} rule {letter.get('rule')} target {letter.get('target')} "
              f"(attempts {letter.get('attempts')}): {letter.get('error_code')}: {message[0][:140] if message else ''}")
    print(f"  {letters.get('count', 0)} dead letter(s); redrive with: switchyard dlq redrive --rule reserve-stock "
          f"--data-dir {DATA / 'store'} (router stopped) or POST {admin}/dlq/redrive")

    section("metrics (GET /metrics, a few)")
    m = metrics(base)
    for name in ["switchyard_matched_events_total", "switchyard_triggered_rules_total",
                 "switchyard_invocations_total", "switchyard_failed_invocations_total",
                 "switchyard_emitted_events_total", "switchyard_invocations_sent_to_dlq_total",
                 "switchyard_pending_deliveries", 'switchyard_ingested_events_total{result="accepted"}',
                 'switchyard_ingested_events_total{result="failed"}']:
        print(f"  {name} {m.get(name, 0):g}")


if __name__ == "__main__":
    main()
