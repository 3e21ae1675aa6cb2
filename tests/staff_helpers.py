"""Signing staff in, for the staff console's tests (SPEC 12.1): the demo staff's password
and the TOTP code of their secret at the test clock's moment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import pyotp
from flask.testing import FlaskClient

from epermit import demo


def totp_at(name: str, moment: datetime) -> str:
    return pyotp.TOTP(demo.staff(name).totp_secret).at(moment)


def csrf_of(client: FlaskClient, url: str = "/staff/login") -> str:
    page = client.get(url)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, f"{url} has no CSRF token"
    return match.group(1)


@dataclass
class StaffAuth:
    client: FlaskClient
    clock: object

    def password(self, name: str, password: str = demo.STAFF_PASSWORD):
        token = csrf_of(self.client)
        return self.client.post(
            "/staff/login",
            data={"number": demo.staff(name).number, "password": password, "csrf_token": token},
        )

    def totp(self, code: str):
        token = csrf_of(self.client, "/staff/login/totp")
        return self.client.post("/staff/login/totp", data={"totp": code, "csrf_token": token})

    def login(self, name: str) -> None:
        answer = self.password(name)
        assert answer.status_code == 303, answer.get_data(as_text=True)
        answer = self.totp(totp_at(name, self.clock()))  # type: ignore[operator]
        assert answer.status_code == 303 and answer.headers["Location"] == "/staff/search", (
            answer.get_data(as_text=True)
        )
