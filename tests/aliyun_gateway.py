"""A local Alibaba Cloud SMS endpoint for tests: real HTTP on 127.0.0.1, checking each
`SendSms` request's ACS3-HMAC-SHA256 signature the way Alibaba's documentation defines it
(computed here independently of the SDK), and failing on demand.

The SDK under test is the production one (services.sms_aliyun); only its endpoint and
protocol are pointed here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

ACCESS_KEY_ID = "LTAI-test-key"
ACCESS_KEY_SECRET = "test-secret-of-the-gateway"
SIGN_NAME = "广东省电子居住证"
TEMPLATES = {"code": "SMS_100001", "notice": "SMS_100002", "login": "SMS_100003"}
# Headers a request must have signed: without them a signature proves nothing about the call.
MUST_SIGN = {
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
}
_AUTH = re.compile(
    r"ACS3-HMAC-SHA256 Credential=(?P<key>[^,]+),SignedHeaders=(?P<headers>[^,]+),"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


def canonical_query(raw: str) -> str:
    pairs = sorted(parse_qsl(raw, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)


def expected_signature(
    method: str, path: str, query: str, headers: dict[str, str], signed: list[str], body: bytes,
    secret: str,
) -> str:
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed)
    canonical_request = "\n".join(
        [
            method,
            path or "/",
            canonical_query(query),
            canonical_headers,
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class Gateway:
    """What the endpoint received and how it should answer."""

    url: str = ""
    host: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted SendSms calls
    refused: list[str] = field(default_factory=list)  # why a request was refused
    fail_numbers: set[str] = field(default_factory=set)  # answer these with a server error
    reject_numbers: set[str] = field(default_factory=set)  # answer these as illegal numbers
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sent_to(self, phone: str) -> list[dict[str, Any]]:
        with self.lock:
            return [call for call in self.sent if call["PhoneNumbers"] == phone]

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.sent) >= count:
                    return True
            time.sleep(0.02)
        return False

    def config(self) -> dict[str, Any]:
        """App settings that point the production backend here."""
        return {
            "SMS_BACKEND": "aliyun",
            "SMS_ALIYUN_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "SMS_ALIYUN_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
            "SMS_ALIYUN_SIGN_NAME": SIGN_NAME,
            "SMS_ALIYUN_TEMPLATES": TEMPLATES,
            "SMS_ALIYUN_ENDPOINT": self.host,
            "SMS_ALIYUN_PROTOCOL": "http",
        }


def _handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:  # keep the test output quiet
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self, status: int, code: str, why: str) -> None:
            with gateway.lock:
                gateway.refused.append(why)
            self._answer(status, {"Code": code, "Message": why, "RequestId": "refused"})

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            parts = urlsplit(self.path)
            auth = _AUTH.fullmatch(headers.get("authorization", ""))
            if auth is None or auth["key"] != ACCESS_KEY_ID:
                return self._refuse(401, "InvalidAccessKeyId.NotFound", "no valid credential")
            signed = auth["headers"].split(";")
            if not MUST_SIGN <= set(signed) or any(name not in headers for name in signed):
                return self._refuse(400, "IncompleteSignature", f"signed only {signed}")
            if headers["x-acs-content-sha256"] != hashlib.sha256(body).hexdigest():
                return self._refuse(400, "InvalidPayload", "payload hash differs")
            moment = datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ")
            if abs((datetime.now(UTC) - moment.replace(tzinfo=UTC)).total_seconds()) > 900:
                return self._refuse(400, "InvalidTimeStamp.Expired", "stale request")
            expected = expected_signature(
                self.command, parts.path, parts.query, headers, signed, body, ACCESS_KEY_SECRET
            )
            if not hmac.compare_digest(expected, auth["signature"]):
                return self._refuse(400, "SignatureDoesNotMatch", "signature differs")
            if (headers["x-acs-action"], headers["x-acs-version"]) != ("SendSms", "2017-05-25"):
                return self._refuse(400, "InvalidAction", "not SendSms")
            call = dict(parse_qsl(parts.query)) | dict(parse_qsl(body.decode()))
            if gateway.delay:
                time.sleep(gateway.delay)
            phone = call.get("PhoneNumbers", "")
            if phone in gateway.reject_numbers:
                return self._answer(
                    200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "illegal number",
                          "RequestId": "r"}
                )
            if phone in gateway.fail_numbers:
                return self._answer(
                    503, {"Code": "ServiceUnavailable", "Message": "try later", "RequestId": "r"}
                )
            with gateway.lock:
                gateway.sent.append(call)
            self._answer(
                200, {"Code": "OK", "Message": "OK", "BizId": f"biz{len(gateway.sent)}",
                      "RequestId": "ok"}
            )

    return Handler


class Running:
    def __init__(self) -> None:
        self.gateway = Gateway()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.gateway))
        port = self.server.server_address[1]
        self.gateway.host = f"127.0.0.1:{port}"
        self.gateway.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
