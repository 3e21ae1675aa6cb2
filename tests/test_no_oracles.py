"""No oracles (issue 9 items 6 and 7): nothing a stranger, a landlord or an organisation can
ask tells them whether a number or a person is registered, and the QR's link never takes its
host from the request."""

from __future__ import annotations

import re
import threading
from collections import Counter

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from stdnum.cn import ric

from epermit import create_app, db, demo
from tests.conftest import csrf_token_of
from tests.test_deregister_wizard import org_declarant, person_declarant, start, walk
from tests.test_permit_code import decode


def unknown_id_number() -> str:
    body = "44010619800101123"
    return body + ric.calc_check_digit(body + "0")


# (name, ID number) of: nobody at all; a holder registered elsewhere; a registered holder's
# ID number with another name.
def strangers() -> list[tuple[str, str]]:
    return [
        ("某人", unknown_id_number()),
        ("赵强", demo.person("赵强").id_number),
        ("张大伟", demo.person("张伟").id_number),
    ]


@pytest.mark.parametrize(
    ("declarant", "role", "message"),
    [
        ("陈军", "landlord", "在您的房屋登记居住的人员中没有此人"),
        ("黄丽", "employer", "在本单位登记的员工中没有此人"),
        ("周敏", "school", "在本单位登记的学生中没有此人"),
        ("吴刚", "hotel", "在本单位登记的住客中没有此人"),
    ],
)
def test_a_declarant_gets_one_answer_for_anyone_not_registered_with_them(
    client_request, auth, declarant, role, message
):
    auth.login(declarant)
    draft = start(client_request)
    who = person_declarant(declarant) if role == "landlord" else org_declarant(role, declarant)
    walk(client_request, draft, role, who)
    answers = []
    for name, id_number in strangers():
        page = client_request.post(
            f"/deregister/{draft}/applicant",
            {"member": "other", "applicant_name": name, "applicant_id_number": id_number},
            expected_status=422,
        )
        answers.append(page.errors())
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["applicant_id_number"].startswith(message)


def production_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("EPERMIT_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 32)
    monkeypatch.setenv("EPERMIT_INSTANCE", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'p.db'}")
    # Everything else production needs is set, so that only PUBLIC_BASE_URL is missing.
    for key, value in {
        "SMS_ALIYUN_ACCESS_KEY_ID": "id",
        "SMS_ALIYUN_ACCESS_KEY_SECRET": "secret",
        "SMS_ALIYUN_SIGN_NAME": "广东居住证",
        "SMS_ALIYUN_TEMPLATES": '{"default": "SMS_1"}',
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)


def test_production_refuses_to_start_without_a_public_base_url(monkeypatch, tmp_path):
    production_environment(monkeypatch, tmp_path)
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
        create_app()
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://epermit.example.cn")
    assert create_app().config["PUBLIC_BASE_URL"] == "https://epermit.example.cn"


def test_production_refuses_a_public_base_url_that_is_not_an_origin(monkeypatch, tmp_path):
    production_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("PUBLIC_BASE_URL", "epermit.example.cn")
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
        create_app()


def test_a_production_app_cannot_be_made_without_a_public_base_url(database_url):
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL"):
        create_app({"PRODUCTION": True, "PUBLIC_BASE_URL": "", "DATABASE_URL": database_url})


@pytest.mark.app_config(PUBLIC_BASE_URL="https://epermit.example.cn")
def test_the_qr_link_never_takes_its_host_from_the_request(client_request, auth):
    auth.login("张伟")
    client = client_request.client
    cookie = client.get_cookie("session")
    assert cookie is not None
    client.set_cookie("session", cookie.value, domain="evil.example")
    page = client.get("/permit/code", base_url="http://evil.example")
    assert page.status_code == 200
    soup = BeautifulSoup(page.get_data(as_text=True), "html.parser")
    url = decode(str(soup.select_one("#permit-code svg")))
    assert url.startswith("https://epermit.example.cn/v/"), url


def statements_of(app, client, phone: str) -> list[str]:
    """The SQL statements one POST /login runs, as "VERB table"."""
    token = csrf_token_of(client)
    seen: list[str] = []
    request_thread = threading.get_ident()

    def record(_conn, _cursor, statement: str, *_args) -> None:
        # The SMS is sent by the process's deliverer thread, not by the request.
        if threading.get_ident() != request_thread:
            return
        words = statement.replace('"', "").split()
        verb = words[0].upper()
        table = {"SELECT": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE", "DELETE": "FROM"}
        if verb in table:
            marker = table[verb]
            after = words.index(marker) + 1 if marker in words else 1
            seen.append(f"{verb} {re.sub(r'[^a-z_]', '', words[after].lower())}")

    engine = db.engine_of(app)
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        answer = client.post("/login", data={"phone": phone, "csrf_token": token})
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert answer.status_code == 303
    return seen


def test_login_does_the_same_work_for_a_registered_number_and_any_other(app):
    """The request's statements are the same but for the SMS's outbox row: the same code row,
    the same audit row, the same wake of the deliverer (which sends it on its own thread). How long each takes
    is measured in bench/login_timing.py (timing on a shared 2-core machine is too noisy for
    a unit test to assert on)."""
    known = Counter(statements_of(app, app.test_client(), demo.phone("张伟")))
    unknown = Counter(statements_of(app, app.test_client(), "13900000009"))
    assert known - unknown == Counter({"INSERT smsoutbox": 1})
    assert unknown - known == Counter()
