"""Bounded input (issue 9, item 5): bodies over 64 KB are refused with a Chinese 413 page
before they are read, one endpoint may declare a larger bound, and ids or signed numbers
out of any row's range are 404 on both databases."""

from __future__ import annotations

import socket
import time

import pytest
from bs4 import BeautifulSoup
from flask import Flask, request

from epermit import bounds
from epermit.extensions import csrf
from epermit.services import permit_code
from tests.conftest import ClientRequest, check_page, csrf_token_of

FIFTY_MB = 50 * 1024 * 1024


def read_answer(sock: socket.socket) -> bytes:
    data = b""
    while b"</html>" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_50_mb_post_is_refused_with_413_before_it_is_read(live_server: str):
    host, port = live_server.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /login HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {FIFTY_MB}\r\n\r\n".encode()
            + b"phone=" + b"1" * 60_000
        )
        # Only the first 60 KB of the 50 MB were sent: the answer must come without the rest.
        answer = read_answer(sock)
    took = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert took < 2, f"{took:.2f} s"
    print(f"50 MB post refused in {took * 1000:.0f} ms after 60 KB were sent")
    html = body.decode()
    soup = BeautifulSoup(html, "html.parser")
    check_page(soup, html)
    assert soup.h1 is not None and soup.h1.get_text(strip=True) == "提交的内容过大"
    assert b"Content-Security-Policy" in head


def test_a_form_just_over_64_kb_gets_the_friendly_413_page(client_request: ClientRequest):
    page = client_request.post(
        "/login", {"phone": "1" * (bounds.FORM_MAX + 1)}, expected_status=413
    )
    assert page.h1 == "提交的内容过大"
    assert "删减内容" in page.main_text


def test_one_endpoint_may_declare_a_larger_bound(app: Flask):
    @csrf.exempt
    @bounds.accepts_body(bounds.UPLOAD_MAX)
    def upload() -> str:
        return f"received {len(request.get_data())}"

    @csrf.exempt
    def plain() -> str:
        return f"received {len(request.get_data())}"

    app.add_url_rule("/test-upload", "test_upload", upload, methods=["POST"])
    app.add_url_rule("/test-plain", "test_plain", plain, methods=["POST"])
    client = app.test_client()
    one_mb = b"x" * (1024 * 1024)
    assert client.post("/test-upload", data=one_mb).get_data(as_text=True) == "received 1048576"
    assert client.post("/test-upload", data=one_mb * 3).status_code == 413
    assert client.post("/test-plain", data=one_mb).status_code == 413
    assert client.post("/test-plain", data=b"x" * 1000).status_code == 200


@pytest.mark.parametrize("member", ["2147483648", "9223372036854775807", "999999999999999"])
def test_switching_to_an_id_no_row_can_have_is_not_found(
    client_request: ClientRequest, auth, member: str
):
    auth.login("张伟")
    page = client_request.post("/family/switch", {"member": member}, expected_status=404)
    assert page.h1 == "找不到页面"


@pytest.mark.parametrize("member", ["2147483648", "9223372036854775807", "99999999999999999999"])
def test_removing_an_id_no_row_can_have_is_not_found(
    client_request: ClientRequest, auth, member: str
):
    auth.login("张伟")
    assert client_request.get(f"/family/{member}/remove", expected_status=404).h1 == "找不到页面"
    token = csrf_token_of(client_request.client)
    answer = client_request.client.post(f"/family/{member}/remove", data={"csrf_token": token})
    assert answer.status_code == 404


NOW = "now"  # stands for the moment the test's clock shows


@pytest.mark.parametrize(
    "payload",
    [[2**31, NOW], [2**63, NOW], [-1, NOW], [1, 10**20], [1, -(10**20)]],
)
def test_a_validly_signed_code_with_numbers_out_of_range_is_not_found(
    client_request: ClientRequest, app: Flask, clock, payload: list[int | str]
):
    numbers = [int(clock().timestamp()) if part == NOW else part for part in payload]
    token = permit_code._serializer(app.config["SECRET_KEY"]).dumps(numbers)
    page = client_request.get(f"/v/{token}", expected_status=404)
    assert page.h1
