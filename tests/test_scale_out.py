"""Scale-out (SPEC 5, 6): app processes keep no state of their own. Two app servers (as on
two hosts) sharing rate limits through Redis enforce one limit together, and a session
started on one continues on the other."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REDIS = "redis://127.0.0.1:6379"


def redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn(database_url: str, tmp_path: Path, app):  # app: the demo world is seeded
    prefix = f"epermit-test-{uuid.uuid4().hex}"  # one test's servers share one count

    def start(storage: str) -> int:
        port = free_port()
        env = {
            **os.environ,
            "EPERMIT_INSTANCE": str(tmp_path),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "scale-out-test",
            "SMS_OUTBOX": str(tmp_path / "outbox.jsonl"),
            "RATELIMIT_STORAGE_URI": storage,
            "RATELIMIT_KEY_PREFIX": prefix,
        }
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "2",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
        )
        processes.append(process)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    processes: list[subprocess.Popen] = []
    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def login_attempts(ports: list[int], count: int) -> list[int]:
    """Sign-in attempts for different numbers from the one client address, taking turns
    between the servers."""
    statuses = []
    for n in range(count):
        port = ports[n % len(ports)]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/login")
        response = connection.getresponse()
        html = response.read().decode()
        set_cookie = response.getheader("Set-Cookie")
        assert set_cookie, "the sign-in page sets the session cookie"
        cookie = set_cookie.split(";", 1)[0]
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert match, "the sign-in page has a CSRF token"
        token = match.group(1)
        connection.request(
            "POST",
            "/login",
            body=f"phone=1390000{n:04d}&csrf_token={token}",
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
        connection.close()
    return statuses


def test_servers_share_the_client_limit_through_redis(gunicorn):
    if not redis_answers():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    ports = [gunicorn(REDIS), gunicorn(REDIS)]
    statuses = login_attempts(ports, 202)
    # 200 a minute per client address, counted across both servers.
    assert statuses[:200] == [303] * 200
    assert statuses[200:] == [429, 429]


def test_limits_in_process_memory_would_not_be_shared(gunicorn):
    """Why Redis is needed: with memory:// each server counts alone."""
    ports = [gunicorn("memory://"), gunicorn("memory://")]
    assert login_attempts(ports, 22) == [303] * 22
