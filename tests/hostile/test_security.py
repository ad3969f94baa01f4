"""Security: TLS and basic auth on the exporter's endpoint, secrets kept out of logs,
TLS verification of Prometheus, the container's healthcheck and user.

Certificates are made in the test (tests/harness/certs.py); passwords are hashed with
bcrypt at its lowest cost, so the tests stay fast.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path

import bcrypt
import httpx
import pytest

from exporter.cli import build_parser
from exporter.config import Config, ConfigError, IntensityConfig, PrometheusConfig, load
from exporter.model import SourceError
from exporter.refresh import Refresh
from exporter.sources.carbon_intensity.fixed import FixedIntensity
from exporter.sources.prometheus.client import http_client
from exporter.sources.prometheus.usage import PrometheusUsage
from exporter.web import basic_auth, healthcheck
from exporter.web import server as web_server
from exporter.web.basic_auth import BasicAuth
from exporter.web.config import WebConfig, WebConfigError, load_web_config
from exporter.web.healthcheck import healthy, local_target
from tests.e2e.test_web import closed_by_the_server
from tests.harness.certs import Certificates, make_certificates
from tests.harness.faulty_http import FaultyPrometheus
from tests.harness.prometheus import free_port
from tests.harness.served import ServedExporter
from tests.soak import listening_port
from tests.stubs import StubOwnership, StubUsage, usage, ws

ROOT = Path(__file__).resolve().parents[2]
END = datetime(2026, 1, 31, 12, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery staple"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # cost 4: fast tests


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def web_config_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return path


def tls_and_auth(certs: Certificates, extra: str = "") -> str:
    return (
        f"tls_server_config:\n  cert_file: {certs.server_cert}\n  key_file: {certs.server_key}\n"
        f"{extra}basic_auth_users:\n  prometheus: {HASH}\n"
    )


def basic(user: str, password: str | bytes) -> dict[str, str]:
    raw = user.encode() + b":" + (password if isinstance(password, bytes) else password.encode())
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def trusting(certs: Certificates) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.ca))


def engine() -> Refresh:
    return Refresh(
        Config(), StubUsage([usage()]), StubOwnership([ws("w1", "alice", 0)]), FixedIntensity(200)
    )


@pytest.fixture
def guarded(tmp_path: Path, certs: Certificates) -> Iterator[ServedExporter]:
    web = load_web_config(web_config_file(tmp_path, tls_and_auth(certs)))
    with ServedExporter(engine(), END, tls=web.tls, auth=BasicAuth(web.users)) as served:
        yield served


# --- the web config file is checked whole, at start --------------------------------------


def bad_web_configs(certs: Certificates) -> dict[str, tuple[str, str]]:
    tls = f"tls_server_config:\n  cert_file: {certs.server_cert}\n  key_file: {certs.server_key}\n"
    return {
        "unknown key": ("colour: blue\n", "colour: unknown key"),
        "not a mapping": ("- a\n", "web.config.file: expected a mapping"),
        "no key file": (
            f"tls_server_config:\n  cert_file: {certs.server_cert}\n",
            "tls_server_config.key_file: required",
        ),
        "missing cert file": (
            "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n",
            "tls_server_config.cert_file: cannot read",
        ),
        "key of another certificate": (
            f"tls_server_config:\n  cert_file: {certs.server_cert}\n"
            f"  key_file: {certs.client_key}\n",
            "tls_server_config.cert_file: certificate and key_file do not load together",
        ),
        "unknown TLS version": (tls + "  min_version: TLS14\n", "tls_server_config.min_version"),
        "client certificates unchecked": (
            tls + "  client_auth_type: RequireAnyClientCert\n",
            "tls_server_config.client_auth_type",
        ),
        "client certificates without a CA": (
            tls + "  client_auth_type: RequireAndVerifyClientCert\n",
            "tls_server_config.client_ca_file: required",
        ),
        "unimplemented setting": (
            tls + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
            "tls_server_config.cipher_suites: not supported",
        ),
        "plain password": ("basic_auth_users:\n  alice: hunter2\n", "basic_auth_users.alice:"),
        "user with a colon": (f"basic_auth_users:\n  'a:b': {HASH}\n", "basic_auth_users: user 1:"),
        "users as a list": ("basic_auth_users: [alice]\n", "basic_auth_users: expected a mapping"),
        "response headers": (
            "http_server_config:\n  headers: {X-Frame-Options: deny}\n",
            "http_server_config.headers: not supported",
        ),
        "invalid YAML": ("tls_server_config: [\n", "web.config.file:"),
    }


def test_every_bad_web_config_is_refused_naming_its_key(tmp_path, certs):
    for name, (text, key) in bad_web_configs(certs).items():
        with pytest.raises(WebConfigError) as err:
            load_web_config(web_config_file(tmp_path, text))
        assert key in str(err.value), name
        assert "hunter2" not in str(err.value)  # a plain password is not echoed back


def test_a_web_config_user_name_is_cut_and_one_pasted_with_its_password_never_shown(tmp_path):
    text = f"basic_auth_users:\n  ok: {HASH}\n  'alice:SECRET': {HASH}\n  {'u' * 100}: x\n"
    with pytest.raises(WebConfigError) as err:
        load_web_config(web_config_file(tmp_path, text))
    assert err.value.problems == [
        "basic_auth_users: user 2: a user name is a non-empty string without ':' (not shown)",
        f"basic_auth_users.{'u' * 39}…: expected a bcrypt hash ($2y$10$...), not a plain password",
    ]


def test_a_missing_web_config_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"web\.config\.file: cannot read"):
        load_web_config(tmp_path / "none.yml")


def test_relative_paths_are_read_from_the_web_config_files_directory(certs):
    path = web_config_file(
        certs.ca.parent,
        f"tls_server_config:\n  cert_file: {certs.server_cert.name}\n"
        f"  key_file: {certs.server_key.name}\n",
    )
    web = load_web_config(path)
    assert web.tls is not None and web.tls.minimum_version == ssl.TLSVersion.TLSv1_2
    assert web.describe() == "TLS"
    assert load_web_config(None) == WebConfig()
    assert load_web_config(web_config_file(certs.ca.parent, "")).describe() == "plain HTTP"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "--demo", "--web.listen-address=127.0.0.1:0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_bad_web_config_stops_the_exporter_at_start_naming_the_key(tmp_path, certs):
    path = web_config_file(tmp_path, "basic_auth_users:\n  alice: hunter2\n")
    for args in (["--config.check"], []):
        result = run_cli(f"--web.config.file={path}", *args)
        assert result.returncode == 2
        assert "basic_auth_users.alice: expected a bcrypt hash" in result.stderr
        assert "hunter2" not in result.stderr + result.stdout
    good = web_config_file(tmp_path, tls_and_auth(certs))
    result = run_cli(f"--web.config.file={good}", "--config.check")
    assert result.returncode == 0
    assert "web: TLS, basic auth (1 user)" in result.stdout
    assert HASH not in result.stdout


# --- TLS and basic auth on the endpoint --------------------------------------------------


def test_the_right_user_and_password_over_tls_get_the_metrics(guarded, certs):
    with httpx.Client(verify=trusting(certs)) as client:
        answer = client.get(guarded.url + "/metrics", headers=basic("prometheus", PASSWORD))
    assert answer.status_code == 200
    assert "ada_carbon_energy_joules{" in answer.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("prometheus", "wrong"),
        basic("mallory", PASSWORD),
        basic("prometheus", PASSWORD + "x" * 80),  # past bcrypt's 72 bytes
        basic("prometheus", b"\xff\xfe"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no colon").decode()},
        {"Authorization": "Bearer " + PASSWORD},
    ],
    ids=[
        "none", "wrong password", "unknown user", "long password", "binary password",
        "not base64", "no colon", "bearer",
    ],
)  # fmt: skip
def test_every_path_refuses_anyone_else_with_401(guarded, certs, headers):
    with httpx.Client(verify=trusting(certs)) as client:
        for path in ("/metrics", "/", "/-/healthy", "/-/ready", "/nope"):
            answer = client.get(guarded.url + path, headers=headers)
            assert answer.status_code == 401, path
            assert answer.headers["WWW-Authenticate"] == 'Basic realm="ada-carbon-exporter"'
            assert "ada_carbon" not in answer.text


def test_plain_http_and_silent_clients_do_not_stop_tls_scrapes(guarded, certs):
    port = int(guarded.url.rsplit(":", 1)[1])
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    with pytest.raises(httpx.TransportError):  # a certificate nobody vouches for
        httpx.get(guarded.url + "/metrics", timeout=5)
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
    try:
        started = time.monotonic()
        with httpx.Client(verify=trusting(certs)) as client:
            answer = client.get(guarded.url + "/metrics", headers=basic("prometheus", PASSWORD))
        assert answer.status_code == 200
        assert time.monotonic() - started < 5  # the handshakes wait in their own threads
    finally:
        for sock in silent:
            sock.close()


def test_a_tls_handshake_dripped_byte_by_byte_is_dropped_at_the_deadline(guarded, monkeypatch):
    monkeypatch.setattr(web_server, "REQUEST_HEAD_SECONDS", 1.0)
    port = int(guarded.url.rsplit(":", 1)[1])
    drips = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
    try:
        for byte in b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03":  # 2.2 s of a ClientHello
            for sock in drips:
                with suppress(OSError):  # dropped already
                    sock.send(bytes([byte]))
            time.sleep(0.2)
        assert all(closed_by_the_server(sock) for sock in drips)
    finally:
        for sock in drips:
            sock.close()


def test_client_certificates_can_be_required(tmp_path, certs):
    extra = f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {certs.ca}\n"
    web = load_web_config(web_config_file(tmp_path, tls_and_auth(certs, extra)))
    assert web.describe() == "TLS, client certificates required, basic auth (1 user)"
    with ServedExporter(engine(), END, tls=web.tls, auth=BasicAuth(web.users)) as served:
        with pytest.raises(httpx.TransportError):
            httpx.get(served.url + "/metrics", verify=trusting(certs), timeout=5)
        context = trusting(certs)
        context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
        answer = httpx.get(
            served.url + "/metrics", verify=context, headers=basic("prometheus", PASSWORD)
        )
    assert answer.status_code == 200


class CountedChecks:
    """bcrypt.checkpw, counting calls, the hashes compared against and the most at once."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.running = self.most = 0
        self._lock = threading.Lock()
        self._real = bcrypt.checkpw

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        with self._lock:
            self.hashes.append(hashed)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return self._real(password, hashed)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> CountedChecks:
    counted = CountedChecks()
    monkeypatch.setattr(basic_auth.bcrypt, "checkpw", counted)
    return counted


def test_bcrypt_runs_once_per_password_whether_right_or_wrong(checks):
    auth = BasicAuth({"prometheus": HASH.encode()})
    right = basic("prometheus", PASSWORD)["Authorization"]
    assert all(auth.check(right, "10.0.0.1") == HTTPStatus.OK for _ in range(5))
    assert len(checks.hashes) == 1
    wrong = basic("prometheus", "nope")["Authorization"]
    assert all(auth.check(wrong, "10.0.0.1") == HTTPStatus.UNAUTHORIZED for _ in range(3))
    assert auth.check(basic("nobody", PASSWORD)["Authorization"], "10.0.0.1") == 401
    assert len(checks.hashes) == 3  # a new password, or an unknown user, costs one check


def test_an_unknown_user_costs_as_much_as_the_costliest_user_so_timing_tells_no_names(checks):
    cheap, dear = (bcrypt.hashpw(b"pw", bcrypt.gensalt(cost)) for cost in (4, 6))
    auth = BasicAuth({"alice": cheap, "bob": dear})
    assert auth.check(basic("mallory", "pw")["Authorization"], "10.0.0.1") == 401
    assert auth.check(basic("bob", "nope")["Authorization"], "10.0.0.1") == 401
    unknown, known = checks.hashes
    assert unknown[:7] == known[:7] == b"$2b$06$"  # the same algorithm, at the same cost


def wrong_password_flood(port: int, source: str, same: bool, stop: threading.Event):
    """150 clients from ``source`` sending wrong passwords (20 each at most) until ``stop``."""
    statuses: list[int] = []

    def client(n: int) -> None:
        for i in range(20):
            if stop.is_set():
                return
            conn = http.client.HTTPConnection(
                "127.0.0.1", port, timeout=10, source_address=(source, 0)
            )
            try:
                headers = basic("prometheus", "wrong" if same else f"wrong-{n}-{i}")
                conn.request("GET", "/metrics", headers=headers)
                statuses.append(conn.getresponse().status)
            except OSError:
                pass  # refused while the backlog was full: still part of the flood
            finally:
                conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(150)]
    for thread in threads:
        thread.start()
    return threads, statuses


@pytest.mark.parametrize(
    ("source", "same"),
    [("127.0.0.1", True), ("127.0.0.2", False)],
    ids=["one wrong password, same address", "a new wrong password each time"],
)
def test_a_wrong_password_flood_neither_queues_bcrypt_nor_keeps_prometheus_out(
    checks, source, same
):
    """Prometheus' first login, from 127.0.0.1, in the middle of a 150-client flood."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10))  # tens of ms a check
    with ServedExporter(engine(), END, auth=BasicAuth({"prometheus": hashed})) as served:
        port = int(served.url.rsplit(":", 1)[1])
        stop = threading.Event()
        threads, statuses = wrong_password_flood(port, source, same, stop)
        try:
            time.sleep(1)  # the flood is on
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/metrics", headers=basic("prometheus", PASSWORD))
            answer = conn.getresponse()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    assert answer.status == 200 and b"ada_carbon_energy_joules{" in answer.read()
    assert statuses and set(statuses) <= {401, 429}
    assert checks.most <= 2
    if same:  # the wrong password is checked once, then remembered
        assert len(checks.hashes) <= 3


# --- the command line, as deployed ------------------------------------------------------


def start_exporter(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    log = tmp_path / "exporter.log"
    command = [sys.executable, "-m", "exporter", "--web.listen-address=127.0.0.1:0", *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env or dict(os.environ)
        )
    return proc, log


def stop_exporter(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_the_exporter_serves_tls_with_basic_auth_from_the_command_line(tmp_path, certs):
    path = web_config_file(tmp_path, tls_and_auth(certs))
    proc, log = start_exporter(tmp_path, "--demo", f"--web.config.file={path}")
    try:
        port = listening_port(log, proc)
        url = f"https://127.0.0.1:{port}"
        with httpx.Client(verify=trusting(certs)) as client:
            denied = client.get(url + "/metrics")
            answer = client.get(url + "/metrics", headers=basic("prometheus", PASSWORD))
        assert healthy(f"127.0.0.1:{port}")  # the container's healthcheck: a 401 is alive
    finally:
        stop_exporter(proc)
    assert denied.status_code == 401
    assert answer.status_code == 200 and "ada_carbon_emissions_grams{" in answer.text
    assert f"listening on https://127.0.0.1:{port}/metrics (TLS, basic auth" in log.read_text()


def test_the_healthcheck_answers_for_plain_http_and_fails_when_nothing_listens():
    with ServedExporter(engine(), END) as served:
        assert healthy(served.url.removeprefix("http://"))
    assert not healthy(f"127.0.0.1:{free_port()}", timeout=1)


@pytest.mark.parametrize(
    ("address", "target"),
    [
        (":9877", ("127.0.0.1", 9877)),
        ("0.0.0.0:9100", ("127.0.0.1", 9100)),
        ("[::]:9877", ("::1", 9877)),
        ("[::1]:9877", ("::1", 9877)),
        ("10.0.0.5:9877", ("10.0.0.5", 9877)),
        ("localhost:9877", ("localhost", 9877)),
    ],
)
def test_the_healthcheck_asks_a_wildcard_listen_address_on_loopback(address, target):
    assert local_target(address) == target


def test_the_healthcheck_asks_where_web_listen_address_says_as_the_exporter_listens(
    monkeypatch, capsys
):
    with ServedExporter(engine(), END) as served:
        address = f"0.0.0.0:{served.url.rsplit(':', 1)[1]}"
        monkeypatch.setenv("WEB_LISTEN_ADDRESS", address)
        assert build_parser().parse_args([]).listen == address
        assert healthcheck.main([]) == 0
        monkeypatch.setenv("WEB_LISTEN_ADDRESS", f":{free_port()}")
        assert healthcheck.main([]) == 1  # asked there, not at the default port
    assert build_parser().parse_args(["--web.listen-address=:9100"]).listen == ":9100"
    monkeypatch.delenv("WEB_LISTEN_ADDRESS")
    assert build_parser().parse_args([]).listen == ":9877"
    monkeypatch.setenv("WEB_LISTEN_ADDRESS", "nonsense")
    assert healthcheck.main([]) == 1
    assert "healthcheck: expected HOST:PORT, got 'nonsense'" in capsys.readouterr().err


def test_the_exporter_and_its_healthcheck_follow_web_listen_address_as_in_the_container(
    tmp_path,
):
    """The Dockerfile's ENTRYPOINT and HEALTHCHECK, run with only the variable set."""
    port = free_port()
    env = {**os.environ, "WEB_LISTEN_ADDRESS": f"127.0.0.1:{port}"}
    log = tmp_path / "exporter.log"
    check = [sys.executable, "-m", "exporter.web.healthcheck"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--demo"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        assert listening_port(log, proc) == port
        alive = subprocess.run(check, cwd=ROOT, env=env, timeout=30)
    finally:
        stop_exporter(proc)
    gone = subprocess.run(check, cwd=ROOT, env=env, timeout=30)
    assert alive.returncode == 0
    assert gone.returncode == 1


# --- upstream credentials ---------------------------------------------------------------

SECRETS = {
    "PROMETHEUS_PASSWORD": "prom-password-0xA1",
    "PROMETHEUS_BEARER_TOKEN": "prom-token-0xB2",
    "MONGO_PASSWORD": "mongo-password-0xC3",
}
URL_SECRET = "url-password-0xD4"
MONGO_URI_SECRET = "uri-password-0xE5"


def test_upstream_credentials_never_reach_the_logs_even_at_debug(tmp_path):
    """Failing scrapes with secrets in the environment and in URLs; every byte is searched."""
    with FaultyPrometheus() as prom:
        prom.fault = "http_503"
        config = tmp_path / "exporter.yaml"
        config.write_text(
            "scrape_budget: 2s\n"
            "prometheus:\n  username: exporter\n  timeout: 1s\n"
            "mongodb:\n  username: carbon\n  timeout: 1s\n"
            "carbon_intensity:\n  source: fixed\n  timeout: 1s\n"
        )
        env = {
            **os.environ,
            **SECRETS,
            "PROMETHEUS_URL": f"http://user:{URL_SECRET}@127.0.0.1:{prom.port}",
            "MONGO_URI": f"mongodb://admin:{MONGO_URI_SECRET}@127.0.0.1:{free_port()}/",
        }
        proc, log = start_exporter(
            tmp_path, f"--config.file={config}", "--log.level=debug", env=env
        )
        try:
            port = listening_port(log, proc)
            bodies = [
                httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).text
                for path in ("/metrics", "/metrics", "/")
            ]
        finally:
            stop_exporter(proc)
        sent = list(prom.authorizations)
    text = log.read_text(errors="replace")
    assert "source prometheus is down" in text and "source mongodb is down" in text
    assert 'ada_carbon_source_up{source="prometheus"} 0.0' in bodies[0]
    assert sent, "the credentials were sent to Prometheus"  # so they were in play
    for secret in [*SECRETS.values(), URL_SECRET, MONGO_URI_SECRET]:
        for where, content in [("log", text), *(("answer", b) for b in bodies)]:
            assert secret not in content, f"{secret} in the {where}"
            assert base64.b64encode(secret.encode()).decode()[:12] not in content


def bad_credentials(tmp_path: Path) -> dict[str, tuple[str, dict[str, str], str]]:
    """(YAML, environment, the key the error must name) for each way a header can break."""
    lines = tmp_path / "lines"
    lines.write_text("SECRETLINE1\nSECRETLINE2\n")
    latin = tmp_path / "latin"
    latin.write_bytes("t\u00f6kenSECRET\n".encode())
    token = "prometheus:\n  bearer_token_file: {}\n"
    return {
        "token file of two lines": (token.format(lines), {}, "prometheus.bearer_token_file"),
        "token file not ASCII": (token.format(latin), {}, "prometheus.bearer_token_file"),
        "token with CR LF": ("", {"PROMETHEUS_BEARER_TOKEN": "SECRET\r\nX"}, "PROMETHEUS_BEARER"),
        "token not ASCII": (
            "",
            {"PROMETHEUS_BEARER_TOKEN": "t\u00f6kenSECRET"},
            "PROMETHEUS_BEARER",
        ),
        "header with a newline": (
            'prometheus:\n  headers: {X-Scope-OrgID: "SECRET\\nX"}\n',
            {},
            "prometheus.headers: X-Scope-OrgID: must be printable ASCII",
        ),
        "header not ASCII": (
            "prometheus:\n  headers: {X-Scope-OrgID: tenant-\u00e9SECRET}\n",
            {},
            "prometheus.headers: X-Scope-OrgID:",
        ),
        "header name": ("prometheus:\n  headers: {'a b': x}\n", {}, "prometheus.headers: 'a b'"),
    }


def test_header_values_and_tokens_are_checked_at_load_naming_the_key_never_the_value(tmp_path):
    for name, (text, env, key) in bad_credentials(tmp_path).items():
        path = tmp_path / "c.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            load(path, env=env)
        assert key in str(err.value), name
        assert "SECRET" not in str(err.value), name


def test_a_bad_token_exits_2_at_config_check_and_at_start_without_a_traceback(tmp_path):
    env = {**os.environ, "PROMETHEUS_BEARER_TOKEN": "t\u00f6ken\r\nSECRET"}
    for args in (["--config.check"], []):
        result = subprocess.run(
            [sys.executable, "-m", "exporter", "--web.listen-address=127.0.0.1:0", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "PROMETHEUS_BEARER_TOKEN (environment variable)" in result.stderr
        assert "SECRET" not in result.stderr and "Traceback" not in result.stderr


def test_a_token_files_trailing_newline_is_dropped_as_prometheus_does(tmp_path):
    token = tmp_path / "token"
    token.write_text("prom-token\n")
    path = tmp_path / "c.yaml"
    path.write_text(f"prometheus:\n  bearer_token_file: {token}\n")
    assert load(path, env={}).prometheus.bearer_token == "prom-token"


def test_every_configured_secret_is_scrubbed_from_log_records_and_their_tracebacks(tmp_path):
    """Defence in depth: whatever an HTTP client's exception quotes never reaches the log."""
    import io
    import logging

    from exporter.config import scrub_logs

    config = load(
        None,
        env={
            **SECRETS,
            "PROMETHEUS_URL": f"http://user:{URL_SECRET}@prom:9090",
            "MONGO_URI": f"mongodb://admin:{MONGO_URI_SECRET}@db/",
        },
    )
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        scrub_logs(config)
        log = logging.getLogger("exporter.test")
        log.warning(
            "source prometheus is down: %s", "Illegal header value b'Bearer prom-token-0xB2'"
        )
        try:
            raise ValueError(f"{SECRETS['MONGO_PASSWORD']} {MONGO_URI_SECRET} {URL_SECRET}")
        except ValueError:
            log.exception("failed with %s", SECRETS["PROMETHEUS_PASSWORD"])
    finally:
        root.removeHandler(handler)
    text = out.getvalue()
    assert "source prometheus is down: Illegal header value b'Bearer <secret>'" in text
    assert "ValueError: <secret> <secret> <secret>" in text
    for secret in [*SECRETS.values(), URL_SECRET, MONGO_URI_SECRET]:
        assert secret not in text


@pytest.fixture
def echoing_prometheus() -> Iterator[str]:
    """A Prometheus (or a proxy before it) whose error quotes the credentials it was sent."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            said = self.headers.get("Authorization")
            body = f'{{"status": "error", "errorType": "bad_data", "error": "refused {said}"}}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_commands_error_printed_to_stderr_is_scrubbed_of_every_configured_secret(
    tmp_path, echoing_prometheus
):
    """`report` prints its errors, not logs them: an upstream quoting a secret is masked too."""
    (tmp_path / "c.yaml").write_text("prometheus:\n  username: exporter\n")
    period = ["report", "--from", "2026-01-01", "--to", "2026-01-02"]
    runs = {
        "bearer token": ({"PROMETHEUS_BEARER_TOKEN": "tokSECRETtok"}, []),
        "basic auth": ({"PROMETHEUS_PASSWORD": "pwSECRETpw"}, [f"--config.file={tmp_path}/c.yaml"]),
        "URL password": ({}, [f"--prometheus-url=http://u:url%2FSECRET@{echoing_prometheus}"]),
    }
    for name, (secret_env, args) in runs.items():
        env = {**os.environ, "PROMETHEUS_URL": f"http://{echoing_prometheus}", **secret_env}
        result = subprocess.run(
            [sys.executable, "-m", "exporter", *period, *args],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert result.returncode == 1, (name, result.stderr)
        assert "<secret> (HTTP 400)" in result.stderr, (name, result.stderr)
        assert "SECRET" not in result.stderr and "Traceback" not in result.stderr, name


# --- TLS to Prometheus: verified by default, with a CA bundle option ----------------------


@pytest.fixture
def tls_prometheus(certs: Certificates) -> Iterator[FaultyPrometheus]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certs.server_cert), str(certs.server_key))
    with FaultyPrometheus(tls=context) as server:
        yield server


def window_usage(prometheus: PrometheusConfig):
    config = Config(prometheus=prometheus, carbon_intensity=IntensityConfig(source="fixed"))
    source = PrometheusUsage(http_client(config.prometheus), prometheus, ("user",), ("idle",))
    return source.window_usage(END, 3600)


def test_prometheus_tls_is_verified_by_default_and_trusts_the_configured_ca(
    tmp_path, certs, tls_prometheus
):
    with pytest.raises(SourceError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        window_usage(PrometheusConfig(url=tls_prometheus.url))
    path = tmp_path / "c.yaml"
    path.write_text(f"prometheus:\n  url: {tls_prometheus.url}\n  ca_file: {certs.ca}\n")
    configured = load(path, env={}).prometheus
    assert configured.tls_verify and configured.ca_file == str(certs.ca)
    assert window_usage(configured)[0].host == "172.16.100.50"
    assert window_usage(PrometheusConfig(url=tls_prometheus.url, tls_verify=False))


# --- the container ----------------------------------------------------------------------


def test_the_dockerfile_runs_unprivileged_with_a_healthcheck_that_works_behind_tls_and_auth():
    """No docker engine here: the Dockerfile is read, and its healthcheck tested above."""
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("0", "root")
    assert any(line.startswith("HEALTHCHECK ") for line in lines)
    assert '"exporter.web.healthcheck"' in "\n".join(lines)
    assert "PYTHONDONTWRITEBYTECODE=1" in "\n".join(lines)  # read-only root filesystem
    assert not any(
        word in line.upper() for line in lines if line.startswith("ENV ")
        for word in ("PASSWORD", "TOKEN", "SECRET")
    )  # fmt: skip


def test_the_dockerfile_healthcheck_asks_where_the_exporter_listens():
    """One address, in WEB_LISTEN_ADDRESS, read by both; none hard-coded beside it."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if not line.strip().startswith("#")]
    envs = [line for line in lines if line.startswith("ENV WEB_LISTEN_ADDRESS=")]
    assert len(envs) == 1
    port = envs[0].rsplit(":", 1)[1]
    assert f"EXPOSE {port}" in lines
    checks = [line for line in lines if line.startswith("HEALTHCHECK ")]
    assert len(checks) == 1
    assert checks[0].endswith('CMD ["python", "-m", "exporter.web.healthcheck"]')  # no address
    assert not any("--web.listen-address" in line for line in lines)  # which it cannot see
