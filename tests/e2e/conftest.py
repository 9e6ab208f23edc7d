"""Fixtures of the end-to-end tests: `switchyard serve` processes on free ports of 127.0.0.1, each in
temp dirs of its own and stopped at teardown (SIGTERM, then SIGKILL after a timeout), and clients
for them: boto3 `events` clients with fake credentials and a raw HTTP helper.

Environment (set by `make test`):
  SWITCHYARD_BIN        the `switchyard` binary (default: $CARGO_TARGET_DIR or target, /debug/switchyard)
  SWITCHYARD_WASM_DIR   the test consumers (c_ok.wasm, ...) (default: .../wasm/wasm32-wasip2/release)
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# --- isolation from the machine's AWS setup and proxies, before boto3 is imported anywhere -------
for _name in list(os.environ):
    if _name.startswith("AWS_") or _name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
        del os.environ[_name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
_TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
SWITCHYARD_BIN = Path(os.environ.get("SWITCHYARD_BIN") or _TARGET / "debug" / "switchyard")
WASM_DIR = Path(os.environ.get("SWITCHYARD_WASM_DIR") or _TARGET / "wasm" / "wasm32-wasip2" / "release")

REGION = "us-east-1"
ACCOUNT = "123456789012"  # the `server` fixture's; the others run as 000000000000
FAKE_KEY_ID = "AKIDFAKEE2E"
FAKE_SECRET = "fake-secret-for-e2e"
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20


def wasm(name: str) -> str:
    """The absolute path of a test consumer (`c_ok`, `c_permanent`, `c_retryable`, ...)."""
    path = WASM_DIR / f"{name}.wasm"
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the Wasm consumers (cargo test -p switchyard-tests --no-run) "
                    "or set SWITCHYARD_WASM_DIR")
    return str(path)


def rule(name: str, sources: list[str], module: str, bus: str = "default", retries: int = 0) -> str:
    """One rule of a rules file (YAML) whose only target runs the consumer `module`."""
    return (
        f"- name: {name}\n"
        f"  bus: {bus}\n"
        f"  event_pattern: {{source: {json.dumps(sources)}}}\n"
        f"  targets:\n"
        f"    - id: t1\n"
        f"      module: {wasm(module)}\n"
        f"      retry_policy: {{maximum_retry_attempts: {retries}, maximum_event_age_seconds: 60,"
        f" backoff_base_ms: 10, backoff_cap_ms: 50}}\n"
    )


def standard_rules() -> str:
    """The rules most tests run with: one rule per behaviour, on the default bus and on `orders`."""
    return "".join([
        rule("orders-ok", ["shop.orders"], "c_ok"),
        rule("orders-bus-ok", ["shop.orders"], "c_ok", bus="orders"),
        rule("fails-permanently", ["shop.permanent"], "c_permanent"),
        rule("fails-retryably", ["shop.retryable"], "c_retryable"),
    ])


@dataclass
class Server:
    """A running `switchyard serve`."""

    proc: subprocess.Popen
    url: str
    host: str
    port: int
    admin_url: str | None
    stderr_path: Path
    stdout_lines: list[str] = field(default_factory=list)
    root: Path | None = None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """`sig` (SIGTERM), wait; SIGKILL after STOP_TIMEOUT_S. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    # --- raw HTTP -----------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None, admin: bool = False,
                chunked: bool = False) -> "Reply":
        return http_request(self.admin_url if admin else self.url, method, path, body, headers, chunked)

    def put_events_raw(self, body: bytes | str | dict, headers: dict[str, str] | None = None) -> "Reply":
        return self.aws("AWSEvents.PutEvents", body, headers)

    def aws(self, target: str | None, body: bytes | str | dict, headers: dict[str, str] | None = None) -> "Reply":
        all_headers = {"Content-Type": "application/x-amz-json-1.1"}
        if target is not None:
            all_headers["X-Amz-Target"] = target
        all_headers.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        return self.request("POST", "/", body, all_headers)

    def metric(self, name: str) -> float:
        """The value of an unlabelled metric on GET /metrics (0 when absent)."""
        text = self.request("GET", "/metrics").text
        match = re.search(rf"^{re.escape(name)} ([0-9.eE+-]+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    def events_client(self, key_id: str = FAKE_KEY_ID, secret: str = FAKE_SECRET):
        return events_client(self.url, key_id, secret)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.headers.get('content-type')!r}, {self.text[:500]!r})"


def http_request(base: str, method: str, path: str, body=None, headers=None, chunked=False) -> Reply:
    """One request on a fresh connection to `base` (http://127.0.0.1:PORT)."""
    match = re.fullmatch(r"http://(127\.0\.0\.1):(\d+)", base)
    assert match, f"the tests only talk to 127.0.0.1, not {base}"
    connection = http.client.HTTPConnection(match.group(1), int(match.group(2)), timeout=30)
    try:
        if isinstance(body, str):
            body = body.encode()
        try:
            if chunked:
                data = body or b""
                pieces = (data[i:i + 65536] for i in range(0, len(data), 65536))
                connection.request(method, path, body=pieces, headers=headers or {}, encode_chunked=True)
            else:
                connection.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            # The server answered (413, say) and closed before reading the whole body, as it may:
            # its answer is still there to read, as curl would.
            pass
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def events_client(url: str, key_id: str = FAKE_KEY_ID, secret: str = FAKE_SECRET, region: str = REGION):
    """A boto3 `events` client for the router at `url`: fake credentials, no retries."""
    assert url.startswith("http://127.0.0.1:"), url
    session = boto3.session.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=region)
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=30,
                    proxies={})
    return session.client("events", endpoint_url=url, config=config)


def eventually(check, timeout: float = 30.0, interval: float = 0.1, what: str = "the condition"):
    """Polls `check()` until it returns a truthy value; returns it, or fails after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what} did not hold within {timeout} s (last: {last!r})")


def _die_with_parent():
    """In the child: SIGTERM when the test process dies (killed pytest leaves no server; Linux only)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ServerFactory:
    """Starts servers in temp dirs of their own; stops them all at teardown."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):
        self.tmp_path_factory = tmp_path_factory
        self.cache_dir = cache_dir
        self.servers: list[Server] = []

    def command(self, rules: str | None, args: list[str] | None = None, admin: bool = False,
                root: Path | None = None) -> tuple[list[str], dict[str, str], Path]:
        """The command line, environment and folder of a server; `root` reuses a folder (its data)."""
        if not SWITCHYARD_BIN.is_file():
            pytest.fail(f"{SWITCHYARD_BIN} is missing: `cargo build -p switchyard` or set SWITCHYARD_BIN")
        root = root or self.tmp_path_factory.mktemp("switchyard")
        (root / "rules").mkdir(exist_ok=True)
        (root / "rules" / "rules.yaml").write_text(standard_rules() if rules is None else rules)
        command = [str(SWITCHYARD_BIN), "serve", "--rules", str(root / "rules"), "--data-dir", str(root / "data"),
                   "--listen", "127.0.0.1:0", "--cache-dir", str(self.cache_dir), "--reload-interval-ms", "0",
                   "--drain-seconds", "5"]
        if admin:
            command += ["--admin-listen", "127.0.0.1:0"]
        command += args or []
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHYARD_")}
        env["SWITCHYARD_LOG"] = "info"
        return command, env, root

    def start(self, rules: str | None = None, args: list[str] | None = None, admin: bool = False,
              root: Path | None = None, stderr_to: str | None = None) -> Server:
        """`stderr_to`: a file for the server's stderr instead of `stderr.log` in its folder."""
        command, env, root = self.command(rules, args, admin, root)
        stderr_path = root / "stderr.log"
        with open(stderr_to or stderr_path, "wb") as stderr:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                    env=env, cwd=root, preexec_fn=_die_with_parent)
        lines: list[str] = []
        listening: dict[str, str] = {}
        done = threading.Event()

        def read_stdout():
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                lines.append(line)
                if m := re.match(r"switchyard: admin API on (http://\S+)", line):
                    listening["admin"] = m.group(1)
                if m := re.match(r"switchyard: listening on (http://\S+)", line):
                    listening["api"] = m.group(1)
                    done.set()
            done.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        done.wait(START_TIMEOUT_S)
        server_url = listening.get("api")
        if server_url is None:
            proc.kill()
            proc.wait(10)
            pytest.fail(f"switchyard serve did not start (exit {proc.returncode}): stdout {lines!r}\n"
                        f"stderr:\n{stderr_path.read_text(errors='replace')[-4000:]}")
        m = re.fullmatch(r"http://(127\.0\.0\.1):(\d+)", server_url)
        assert m, server_url
        server = Server(proc, server_url, m.group(1), int(m.group(2)), listening.get("admin"), stderr_path, lines,
                        root)
        self.servers.append(server)
        if admin:
            assert server.admin_url, f"no admin address printed: {lines!r}"
        return server

    def stop_all(self):
        problems = []
        for server in self.servers:
            code = server.stop()
            if code != 0:
                problems.append(f"{server.url} exited {code}; stderr:\n{server.stderr()}")
        self.servers.clear()
        return problems


@pytest.fixture(scope="session")
def module_cache(tmp_path_factory) -> Path:
    """Compiled consumer modules, shared by the session's servers."""
    return tmp_path_factory.mktemp("module-cache")


@pytest.fixture(scope="module")
def servers(tmp_path_factory, module_cache):
    """A factory of servers stopped at the end of the module; they must exit 0 on SIGTERM."""
    factory = ServerFactory(tmp_path_factory, module_cache)
    yield factory
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


@pytest.fixture
def fresh_servers(tmp_path_factory, module_cache):
    """The same, for servers a single test owns."""
    factory = ServerFactory(tmp_path_factory, module_cache)
    yield factory
    problems = factory.stop_all()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def server(servers) -> Server:
    """An open server (no authentication) with standard_rules(), the `orders` bus and the admin API, in
    the clients' region; its body limit (600000 bytes) sits above PutEvents' 256 KB entry limit."""
    return servers.start(admin=True, args=["--max-body-bytes", "600000", "--region", REGION, "--account", ACCOUNT])


@pytest.fixture(scope="module")
def client(server):
    return server.events_client()
