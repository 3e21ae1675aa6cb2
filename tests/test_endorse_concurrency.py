"""Exactly one endorsement per permit per period, whatever the concurrency (SPEC 2.7).

Requests go over real HTTP to a threaded server, so each runs in its own thread with its own
database transaction, on SQLite and (with TEST_DATABASE_URL) on PostgreSQL.
"""

from __future__ import annotations

import http.client
import re
import threading
import urllib.parse
from urllib.parse import urlsplit

from sqlmodel import func, select

from epermit import demo
from epermit.models import Case, Endorsement, Permit, Person
from tests.conftest import csrf_token_of

ATTEMPTS = 20


def post(base: str, path: str, cookie: str, data: dict[str, str]) -> tuple[int, str]:
    parts = urlsplit(base)
    assert parts.hostname, base
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = urllib.parse.urlencode(data)
    connection.request(
        "POST",
        path,
        body=body,
        headers={
            "Cookie": f"session={cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, response.getheader("Location") or ""


def ready_draft(client) -> str:
    match = re.search(r"/endorse/([\w-]+)/who", client.get("/endorse").headers["Location"])
    assert match, "starting the wizard redirects to its draft"
    draft = match.group(1)
    token = csrf_token_of(client)
    client.post(f"/endorse/{draft}/who", data={"for_whom": "self", "csrf_token": token})
    client.post(
        f"/endorse/{draft}/residence", data={"address_unchanged": "yes", "csrf_token": token}
    )
    assert client.get(f"/endorse/{draft}/check").status_code == 200
    return draft


def fire(base: str, requests: list[tuple[str, str, dict[str, str]]]) -> list[tuple[int, str]]:
    barrier = threading.Barrier(len(requests))
    results: list[tuple[int, str] | None] = [None] * len(requests)

    def run(index: int, path: str, cookie: str, data: dict[str, str]) -> None:
        barrier.wait()
        results[index] = post(base, path, cookie, data)

    threads = [
        threading.Thread(target=run, args=(i, *request)) for i, request in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    finished = [result for result in results if result is not None]
    assert len(finished) == len(requests), "a request did not finish"
    return finished


def assert_one_winner(results: list[tuple[int, str]], drafts: list[str]) -> str:
    """One draft reaches its receipt; the other is stopped (redirected or refused) and told."""
    done = [d for d, (status, to) in zip(drafts, results, strict=True) if to.endswith("/done")]
    assert len(done) == 1, results
    losers = [d for d in drafts if d not in done]
    for loser, (status, to) in zip(drafts, results, strict=True):
        if loser in losers:
            assert status == 409 or to.endswith(f"/endorse/{loser}/stop"), results
    return losers[0]


def endorsements_of(dbsession, name: str) -> tuple[int, Permit]:
    dbsession.rollback()
    person = dbsession.exec(select(Person).where(Person.name == name)).one()
    permit = dbsession.exec(select(Permit).where(Permit.person_id == person.id)).one()
    count = dbsession.exec(
        select(func.count()).select_from(Endorsement).where(Endorsement.permit_id == permit.id)
    ).one()
    return count, permit


def test_twenty_concurrent_submissions_of_one_draft_endorse_once(
    client, auth, live_server, dbsession
):
    auth.login("张伟")
    draft = ready_draft(client)
    before = endorsements_of(dbsession, "张伟")[1].valid_until
    cookie = client.get_cookie("session").value
    token = csrf_token_of(client)
    path = f"/endorse/{draft}/check"
    results = fire(
        live_server, [(path, cookie, {"declaration": "y", "csrf_token": token})] * ATTEMPTS
    )
    # Every answer leads to the one receipt: none fails, none shows a second case.
    assert {result for result in results} == {(303, f"/endorse/{draft}/done")}
    count, after = endorsements_of(dbsession, "张伟")
    assert count == 1
    assert after.valid_until.year == before.year + 1
    assert dbsession.exec(select(func.count()).select_from(Case)).one() == 2  # + 刘洋's
    page = client.get(f"/endorse/{draft}/done").get_data(as_text=True)
    reference = dbsession.exec(select(Case).where(Case.kind == "endorse")).one().reference
    assert f'id="reference">{reference}<' in page


def test_two_drafts_for_one_permit_endorse_once_and_the_loser_is_told(
    client, auth, live_server, dbsession
):
    auth.login("张伟")
    first, second = ready_draft(client), ready_draft(client)
    cookie = client.get_cookie("session").value
    token = csrf_token_of(client)
    data = {"declaration": "y", "csrf_token": token}
    results = fire(
        live_server,
        [(f"/endorse/{first}/check", cookie, data), (f"/endorse/{second}/check", cookie, data)],
    )
    loser = assert_one_winner(results, [first, second])
    count, _ = endorsements_of(dbsession, "张伟")
    assert count == 1
    html = client.get(f"/endorse/{loser}/stop").get_data(as_text=True)
    assert "本期已经签注" in html
    reference = dbsession.exec(select(Case).where(Case.kind == "endorse")).one().reference
    assert reference in html


def test_two_agents_at_once_endorse_xiaoming_once(
    app, client, auth, live_server, dbsession, outbox, clock
):
    from tests.conftest import Auth

    other = app.test_client()
    auth.login("张伟")
    clock.advance(seconds=61)
    Auth(other, outbox).login("李娜")
    xiaoming = dbsession.exec(select(Person).where(Person.name == "张小明")).one()
    requests = []
    for agent_client, name, id_number, phone in (
        (client, "张伟", demo.person("张伟").id_number, demo.phone("张伟")),
        (other, "李娜", demo.person("李娜").id_number, demo.phone("李娜")),
    ):
        draft = re.search(
            r"/endorse/([\w-]+)/who", agent_client.get("/endorse").headers["Location"]
        ).group(1)
        token = csrf_token_of(agent_client)
        agent_client.post(f"/endorse/{draft}/who", data={"for_whom": "other", "csrf_token": token})
        answer = agent_client.post(
            f"/endorse/{draft}/applicant",
            data={
                "agent_name": name,
                "agent_id_number": id_number,
                "agent_phone": phone,
                "member": str(xiaoming.id),
                "relationship": "child",
                "csrf_token": token,
            },
        )
        assert answer.headers["Location"].endswith("/residence")
        agent_client.post(
            f"/endorse/{draft}/residence", data={"address_unchanged": "yes", "csrf_token": token}
        )
        requests.append(
            (
                f"/endorse/{draft}/check",
                agent_client.get_cookie("session").value,
                {"declaration": "y", "csrf_token": token},
            )
        )
    results = fire(live_server, requests)
    assert_one_winner(results, [path.split("/")[2] for path, _, _ in requests])
    count, _ = endorsements_of(dbsession, "张小明")
    assert count == 1
