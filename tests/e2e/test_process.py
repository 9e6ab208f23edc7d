"""`switchyard serve` as a process: rules that do not load stop it at start (exit 1, the problem named
by file, line and column), SIGTERM and SIGINT stop it cleanly (exit 0), a log it cannot write
does not stop it, and what it recorded in its data folder (dead letters) is there after a restart."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from conftest import eventually, rule, wasm


# (id, rules file with {ok} and {wrong} standing for consumers' paths, substring of stderr)
BAD_RULES = [
    ("bad-rule-name", "- name: bad name!\n  event_pattern: {{source: [a]}}\n  targets: [{{id: t, module: {ok}}}]\n",
     'rules.yaml:1:9: rule bad name!: the rule name "bad name!"'),
    ("invalid-pattern", "- name: r\n  event_pattern: {{source: a}}\n  targets: [{{id: t, module: {ok}}}]\n",
     "rules.yaml:2:27: rule r: event_pattern: at /source"),
    ("missing-module", "- name: r\n  event_pattern: {{source: [a]}}\n  targets: [{{id: t, module: /nonexistent/x.wasm}}]\n",
     "module /nonexistent/x.wasm: cannot be read"),
    ("not-yaml", "- name: [unclosed\n", "rules.yaml:1:"),
    ("consumer-of-another-version",
     "- name: r\n  event_pattern: {{source: [a]}}\n  targets: [{{id: t, module: {wrong}}}]\n",
     "but this router runs switchyard:consumer/handler@"),
]


@pytest.mark.parametrize("rules,message", [c[1:] for c in BAD_RULES], ids=[c[0] for c in BAD_RULES])
def test_rules_that_do_not_load_stop_the_start(fresh_servers, rules, message):
    rules = rules.format(ok=wasm("c_ok"), wrong=wasm("c_wrong_version"))
    command, env, _root = fresh_servers.command(rules)
    done = subprocess.run(command, env=env, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 1, (done.returncode, stderr)
    assert message in stderr, stderr
    assert "do not load: 1 problems" in stderr, stderr
    assert b"listening on" not in done.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signals_stop_the_router_cleanly(fresh_servers, sig):
    server = fresh_servers.start()
    answer = server.events_client().put_events(Entries=[
        {"Source": "shop.orders", "DetailType": "Stop", "Detail": json.dumps({"i": i})} for i in range(10)])
    assert answer["FailedEntryCount"] == 0
    assert server.stop(sig) == 0, server.stderr()
    assert "stopped" in server.stderr()


def test_a_log_that_cannot_be_written_does_not_stop_the_router(fresh_servers):
    """stderr on a full disk (/dev/full answers every write ENOSPC): log lines are dropped, and
    the router still serves, delivers and stops cleanly."""
    server = fresh_servers.start(stderr_to="/dev/full")
    answer = server.events_client().put_events(Entries=[
        {"Source": "shop.orders", "DetailType": "FullDisk", "Detail": json.dumps({"i": i})} for i in range(10)])
    assert answer["FailedEntryCount"] == 0
    eventually(lambda: server.metric("switchyard_invocations_total") >= 10, what="10 invocations")
    eventually(lambda: server.metric("switchyard_pending_deliveries") == 0, what="no pending delivery")
    assert server.alive()
    assert server.stop() == 0


def test_dead_letters_survive_a_restart(fresh_servers):
    rules = rule("fails-permanently", ["shop.permanent"], "c_permanent")
    first = fresh_servers.start(rules, admin=True)
    answer = first.events_client().put_events(Entries=[
        {"Source": "shop.permanent", "DetailType": "Restart", "Detail": "{}"}])
    event_id = answer["Entries"][0]["EventId"]
    eventually(lambda: first.request("GET", "/dlq", admin=True).json()["count"] == 1, what="a dead letter")
    assert first.stop() == 0, first.stderr()

    second = fresh_servers.start(rules, admin=True, root=first.root)
    listed = second.request("GET", "/dlq", admin=True).json()
    assert [d["event_id"] for d in listed["dead_letters"]] == [event_id]
    assert second.port != 0 and second.alive()
