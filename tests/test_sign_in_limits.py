"""Sign-in limits that strangers cannot turn against a phone's owner (issue 9 item 2): each
browser has its own code and budget; the browsers a phone never signed in on share a small
cap of SMS; the owner's known browsers have a cap of their own; and a browser that got no SMS
may type a code that reached the phone."""

from __future__ import annotations

from flask.testing import FlaskClient

from epermit import demo
from epermit.services import auth as auth_service
from tests.conftest import csrf_token_of

PHONE = demo.phone("张伟")


class Browser:
    """A browser of its own: its own cookies, its own sign-in code."""

    def __init__(self, app) -> None:
        self.client: FlaskClient = app.test_client()
        self.token = csrf_token_of(self.client)

    def ask(self, phone: str = PHONE) -> int:
        answer = self.client.post("/login", data={"phone": phone, "csrf_token": self.token})
        return answer.status_code

    def enter(self, code: str) -> tuple[int, str]:
        answer = self.client.post("/login/verify", data={"code": code, "csrf_token": self.token})
        return answer.status_code, answer.headers.get("Location", "")

    def page(self) -> str:
        return self.client.get("/login/verify").get_data(as_text=True)


def attack(app, times: int = 10, phone: str = PHONE) -> None:
    """Requests for the phone from fresh browsers, as a script would send them."""
    for _ in range(times):
        assert Browser(app).ask(phone) == 303


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_strangers_send_a_phone_at_most_three_sms_an_hour(app, outbox, clock):
    attack(app, 10)
    assert len(outbox.messages(PHONE)) == 3
    clock.advance(minutes=61)
    attack(app, 10)
    clock.advance(minutes=61)
    attack(app, 10)
    clock.advance(minutes=61)
    attack(app, 10)
    # And at most ten a day, however the requests are spread.
    assert len(outbox.messages(PHONE)) == 10


def test_an_owner_signs_in_after_an_attackers_ten_requests(app, auth, outbox, client):
    auth.login("张伟")  # the owner's browser has signed in with this phone before
    auth.logout()
    attack(app, 10)
    before = len(outbox.messages(PHONE))
    owner = Browser(app)
    owner.client = client
    owner.token = csrf_token_of(client)
    assert owner.ask() == 303
    assert len(outbox.messages(PHONE)) == before + 1  # a fresh code, whatever strangers did
    assert owner.enter(outbox.last_code(PHONE)) == (303, "/permit")


def test_an_owner_on_a_new_browser_can_use_a_code_that_reached_their_phone(app, outbox):
    attack(app, 10)
    sent = len(outbox.messages(PHONE))
    owner = Browser(app)
    assert owner.ask() == 303
    assert len(outbox.messages(PHONE)) == sent  # over the strangers' cap: no new SMS
    assert "本次没有发送新的短信" in owner.page()
    # The latest SMS on the phone (sent for one of the attacker's browsers) signs them in.
    assert owner.enter(outbox.last_code(PHONE)) == (303, "/permit")


def test_an_unknown_number_over_the_cap_is_answered_the_same(app):
    attack(app, 10, phone="13900000009")
    stranger = Browser(app)
    assert stranger.ask("13900000009") == 303
    assert "本次没有发送新的短信" in stranger.page()


def test_a_code_sent_for_another_browser_opens_only_a_browser_that_got_none(app, outbox):
    mine, theirs = Browser(app), Browser(app)
    assert mine.ask() == 303
    code = outbox.last_code(PHONE)
    assert theirs.ask() == 303  # within the cap: it gets its own code by SMS
    status, _ = theirs.enter(code)
    assert status == 422  # not its code
    assert mine.enter(code) == (303, "/permit")


def test_guessing_at_shared_codes_stops_after_twenty_wrong_tries_a_day(app, auth, outbox, client):
    auth.login("张伟")
    auth.logout()
    attack(app, 3)  # the strangers' cap is spent
    for _ in range(4):  # four capped browsers, five wrong tries each
        guesser = Browser(app)
        assert guesser.ask() == 303
        for _ in range(5):
            assert guesser.enter(wrong(outbox.last_code(PHONE)))[0] == 422
    late = Browser(app)
    late.ask()
    assert late.enter(outbox.last_code(PHONE))[0] == 422  # even the right code, now
    # The owner's own browser still gets a code of its own and signs in.
    assert client.post(
        "/login", data={"phone": PHONE, "csrf_token": csrf_token_of(client)}
    ).status_code == 303
    answer = client.post(
        "/login/verify", data={"code": outbox.last_code(PHONE), "csrf_token": csrf_token_of(client)}
    )
    assert answer.headers["Location"] == "/permit"


def test_one_browser_asking_too_often_is_refused_next_to_the_field(client_request, clock):
    for _ in range(auth_service.BROWSER_CODES_PER_HOUR):
        assert client_request.post("/login", {"phone": PHONE}).location == "/login/verify"
        clock.advance(seconds=61)
    page = client_request.post("/login", {"phone": PHONE}, expected_status=429)
    assert page.errors() == {"phone": "操作过于频繁,请稍后再试"}
    assert page.soup.select_one("#phone")["value"] == PHONE


def test_many_people_behind_one_address_all_sign_in(app, dbsession, outbox):
    """Only refused codes count against an address: 35 people signing in within a minute
    from one NAT (more than the 30 a minute the address once had for everyone) all get in."""
    from tests.test_family import add_holder

    phones = [f"1370000{n:04d}" for n in range(35)]
    for n, phone in enumerate(phones):
        body = f"44010619900101{n:03d}"
        from stdnum.cn import ric

        add_holder(dbsession, f"用户{chr(0x4E00 + n)}", body + ric.calc_check_digit(body + "0"), phone)
    for phone in phones:
        browser = Browser(app)
        assert browser.ask(phone) == 303
        assert browser.enter(outbox.last_code(phone)) == (303, "/permit")
