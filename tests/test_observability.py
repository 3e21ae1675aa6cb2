"""Operations (issue 9, item 7): /metrics behind a token, figures by endpoint, the outbox's
backlog and dead messages, rate-limit refusals, several gunicorn workers adding up, and JSON
log lines that carry the request id the response names."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from epermit import db, observability
from epermit.services import sms
from tests.conftest import ClientRequest, csrf_token_of

TOKEN = "metrics-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus' text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name:
            found = ",".join(sorted((match[2] or "").split(","))) if match[2] else ""
            if found == wanted:
                return float(match[3])
    return 0.0


def scrape(client) -> str:
    answer = client.get("/metrics", headers=AUTH)
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_metrics_are_not_public(client):
    # No token configured: there is no such page at all.
    assert client.get("/metrics").status_code == 404


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_metrics_need_the_token(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers=AUTH).mimetype == "text/plain"


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_requests_and_latency_are_counted_by_endpoint(client):
    before = scrape(client)
    for _ in range(3):
        client.get("/login")
    client.get("/no-such-page")
    after = scrape(client)
    labels = {"endpoint": "auth.login", "method": "GET", "status": "200"}
    assert metric(after, "epermit_requests_total", **labels) - metric(
        before, "epermit_requests_total", **labels
    ) == 3
    assert metric(after, "epermit_requests_total", endpoint="unmatched", method="GET",
                  status="404") >= 1
    count = {"endpoint": "auth.login", "method": "GET"}
    assert metric(after, "epermit_request_duration_seconds_count", **count) - metric(
        before, "epermit_request_duration_seconds_count", **count
    ) == 3


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_made_up_methods_are_counted_together_as_other(client):
    # Anyone may send any method: each must not become a series of its own in the metrics.
    before = scrape(client)
    for method in ("BREW", "WHEN", "PROPFIND"):
        assert client.open("/login", method=method).status_code == 405
    client.open("/login", method="DELETE")
    after = scrape(client)
    # A method the route does not take matches no endpoint.
    other = {"endpoint": "unmatched", "method": "other", "status": "405"}
    assert metric(after, "epermit_requests_total", **other) - metric(
        before, "epermit_requests_total", **other
    ) == 3
    assert "BREW" not in after and "PROPFIND" not in after
    # A method of HTTP's own keeps its name.
    assert metric(after, "epermit_requests_total", endpoint="unmatched", method="DELETE",
                  status="405") >= 1


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_the_outbox_backlog_and_dead_messages_are_counted(app: Flask, client, clock):
    engine = db.engine_of(app)
    with db.session_scope(engine) as session:
        for n in range(3):
            sms.queue(session, to=f"1390000000{n}", text="通知", now=clock())
    text = scrape(client)
    assert metric(text, "epermit_sms_outbox_waiting") == 3
    assert metric(text, "epermit_sms_outbox_dead") == 0
    with db.session_scope(engine) as session:
        (first, *_rest) = sms.due_ids(session, clock())
        message = sms.claim(session, first, clock())
        assert message is not None
        message.attempts = sms.MAX_ATTEMPTS
        sms.record_failure(session, message, sms.SendFailed("gateway down"), clock())
    text = scrape(client)
    assert metric(text, "epermit_sms_outbox_waiting") == 2
    assert metric(text, "epermit_sms_outbox_dead") == 1


@pytest.mark.app_config(METRICS_TOKEN=TOKEN, LOGIN_ADDRESS_LIMIT="3 per minute")
def test_rate_limit_refusals_are_counted(client_request: ClientRequest):
    client = client_request.client
    before = metric(scrape(client), "epermit_rate_limit_refusals_total", endpoint="auth.login")
    token = csrf_token_of(client)
    statuses = [
        client.post("/login", data={"phone": f"1390000{n:04d}", "csrf_token": token}).status_code
        for n in range(6)
    ]
    refused = statuses.count(429)
    assert refused == 3
    after = metric(scrape(client), "epermit_rate_limit_refusals_total", endpoint="auth.login")
    assert after - before == refused


def test_each_response_names_its_request_id_and_the_log_line_carries_it(client, caplog):
    caplog.set_level(logging.INFO, logger="epermit.access")
    answer = client.get("/login")
    request_id = answer.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{16}", request_id)
    assert client.get("/login").headers["X-Request-Id"] != request_id
    (record,) = [r for r in caplog.records if r.name == "epermit.access"][:1]
    line = json.loads(observability.JsonFormatter().format(record))
    assert line["message"] == "request" and line["endpoint"] == "auth.login"
    assert line["status"] == 200 and line["method"] == "GET" and line["duration_ms"] >= 0


def test_a_request_id_from_the_client_is_ignored_unless_a_proxy_is_trusted(client):
    answer = client.get("/login", headers={"X-Request-Id": "chosen-by-anyone-123"})
    assert answer.headers["X-Request-Id"] != "chosen-by-anyone-123"


@pytest.mark.app_config(TRUSTED_PROXIES=1)
def test_a_trusted_proxy_names_the_request(client):
    answer = client.get("/login", headers={"X-Request-Id": "proxy-given-id-123"})
    assert answer.headers["X-Request-Id"] == "proxy-given-id-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def served(base: str) -> float:
    request = urllib.request.Request(base + "/metrics", headers=AUTH)
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    return metric(text, "epermit_requests_total", endpoint="auth.login", method="GET",
                  status="200")


def test_several_gunicorn_workers_add_up_in_one_scrape(database_url: str, tmp_path: Path):
    """Two workers behind one port: whichever answers the scrape reports every worker's
    requests, and the log lines on stderr are JSON with the ids the responses named."""
    port = free_port()
    env = {
        **os.environ,
        "EPERMIT_INSTANCE": str(tmp_path),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    (tmp_path / "metrics").mkdir()
    venv_bin = Path(sys.executable).parent
    log = tmp_path / "gunicorn.err"

    def logged_requests() -> list[dict]:
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("message") == "request"]

    with log.open("w") as err:
        server = subprocess.Popen(
            [str(venv_bin / "gunicorn"), "-c", "gunicorn.conf.py", "--workers", "2",
             "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            env=env, stderr=err, text=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)  # not counted below
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        before = served(base)

        def fetch(_n: int) -> str:
            with urllib.request.urlopen(base + "/login", timeout=10) as answer:
                return answer.headers["X-Request-Id"]

        # Side by side, so that both (sync) workers get some; again while only one has
        # answered (the other may still be starting, or the first took every connection).
        ids: list[str] = []
        with ThreadPoolExecutor(8) as pool:
            while True:
                ids += pool.map(fetch, range(40))
                if len({line.get("pid") for line in logged_requests()}) == 2:
                    break
                assert time.monotonic() < deadline + 60, "one worker answered everything"
        # Each scrape is answered by one worker or the other; both see every request.
        assert served(base) - before == len(ids)
        assert served(base) - before == len(ids)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    lines = logged_requests()
    assert set(ids) <= {line.get("request_id") for line in lines}
    assert len({line.get("pid") for line in lines}) == 2, "both workers answered"
