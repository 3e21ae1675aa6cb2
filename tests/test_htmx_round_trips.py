"""One round trip per step with htmx; a 303 without (SPEC 4.1, 4.5, 8; issue 10)."""

from __future__ import annotations

import re

from tests.conftest import csrf_token_of


def test_starting_a_wizard_with_htmx_answers_its_first_step_at_once(auth, client_request):
    auth.login("张伟")
    page = client_request.get("/endorse", htmx=True)
    pushed = page.response.headers["HX-Push-Url"]
    assert re.fullmatch(r"/endorse/[\w-]+/who", pushed)
    assert page.soup.h1.get_text(strip=True) == "您为谁办理签注？"
    assert page.soup.select_one("form")["action"] == pushed


def test_a_valid_htmx_post_answers_the_next_step_with_its_address(auth, client_request):
    auth.login("张伟")
    draft = client_request.get("/endorse", 303).location
    page = client_request.post(draft, {"for_whom": "self"}, expected_status=200, htmx=True)
    residence = draft.replace("/who", "/residence")
    assert page.response.headers["HX-Push-Url"] == residence
    # The next step's own form: it posts to its own address, and leads back to the first.
    assert page.soup.select_one("form")["action"] == residence
    assert page.soup.select_one("a.back-link")["href"] == draft
    assert page.soup.select_one("input[name=address_unchanged]") is not None
    assert "<html" not in page.response.get_data(as_text=True)
    # And to check answers, then done: every answer of the journey is one round trip.
    page = client_request.post(residence, {"address_unchanged": "yes"}, 200, htmx=True)
    assert page.response.headers["HX-Push-Url"].endswith("/check")
    page = client_request.post(draft.replace("/who", "/check"), {"declaration": "y"}, 200, True)
    assert page.response.headers["HX-Push-Url"].endswith("/done")
    assert page.soup.select_one("#reference").get_text(strip=True).startswith("QZ")


def test_without_htmx_a_valid_post_still_redirects(auth, client_request):
    auth.login("张伟")
    draft = client_request.get("/endorse", 303).location
    answer = client_request.post(draft, {"for_whom": "self"})
    assert answer.location == draft.replace("/who", "/residence")
    assert "HX-Push-Url" not in answer.response.headers


def test_a_refused_htmx_post_is_shown_again_without_a_new_address(auth, client_request):
    auth.login("张伟")
    draft = client_request.get("/endorse", 303).location
    page = client_request.post(draft, {}, expected_status=422, htmx=True)
    assert "HX-Push-Url" not in page.response.headers
    assert page.soup.select_one(".error-summary") is not None


def test_an_ended_session_sends_htmx_to_the_sign_in_page_as_a_whole_page(client):
    answer = client.get("/permit", headers={"HX-Request": "true"})
    assert answer.status_code == 200 and answer.get_data() == b""
    assert answer.headers["HX-Redirect"].startswith("/login?next=/permit")
    # Without htmx the same request is an ordinary redirect.
    assert client.get("/permit").status_code == 303


def test_pages_that_need_no_htmx_load_no_script(client, auth, client_request):
    # The verifier's page is always a cold first visit on someone else's phone.
    for url in ("/v/not-a-token", "/healthz-missing-page"):
        html = client.get(url).get_data(as_text=True)
        assert "<script" not in html, url
    auth.login("张伟")
    html = client_request.get("/permit").response.get_data(as_text=True)
    assert html.count("<script") == 1 and '<script src="/static/app.js?v=' in html


def test_htmx_keeps_no_copies_of_pages_in_the_browser(client_request):
    html = client_request.get("/login").response.get_data(as_text=True)
    assert '"historyCacheSize":0' in html and '"refreshOnHistoryMiss":true' in html


def test_the_account_match_is_checked_in_the_same_round_as_the_formats(auth, client_request):
    # GOV.UK: every check in one round, where the fields it needs are well-formed.
    auth.login("张伟")
    draft = client_request.get("/endorse", 303).location
    applicant = client_request.post(draft, {"for_whom": "other"}).location
    page = client_request.post(
        applicant,
        {
            "agent_name": "李四",  # well-formed, but not the account's name
            "agent_id_number": "430102199003071234",
            "agent_phone": "13800000001",
            "applicant_name": "赵强",
            "applicant_id_number": "12345",  # malformed
            "relationship": "other_relative",
        },
        expected_status=422,
    )
    errors = page.errors()
    assert set(errors) == {"agent_name", "applicant_id_number"}, errors
    assert "登录" in errors["agent_name"] or "一致" in errors["agent_name"]
    # Each field says one thing: the malformed number is not also "no such holder".
    assert len(page.soup.select("#applicant_id_number-error")) == 1


def test_asking_for_a_code_with_htmx_answers_the_code_page_at_once(client_request, outbox):
    page = client_request.post("/login", {"phone": "13800000001"}, 200, htmx=True)
    assert page.response.headers["HX-Push-Url"] == "/login/verify"
    assert page.soup.select_one("input[name=code]") is not None
    assert page.soup.select_one("#code").get("aria-invalid") is None  # not refused: not posted
    assert outbox.last_code("13800000001")


def test_adding_a_family_member_with_htmx_answers_the_code_page_at_once(auth, client_request):
    auth.login("张伟")
    page = client_request.post(
        "/family/add",
        {"name": "赵强", "id_number": "410102199309144711", "relationship": "sibling"},
        200,
        htmx=True,
    )
    assert page.response.headers["HX-Push-Url"] == "/family/add/consent"
    assert page.soup.select_one("input[name=consent_code]") is not None
    assert "赵强" in page.soup.get_text()


def test_signing_in_with_htmx_answers_the_whole_permit_page_at_once(client_request, outbox):
    client_request.post("/login", {"phone": "13800000001"})
    code = outbox.last_code("13800000001")
    answer = client_request.client.post(
        "/login/verify",
        data={"code": code, "csrf_token": csrf_token_of(client_request.client)},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert answer.headers["HX-Push-Url"] == "/permit"
    # The whole page, for the body: the header now names who is signed in.
    assert answer.headers["HX-Retarget"] == "body"
    html = answer.get_data(as_text=True)
    assert html.lstrip().startswith("<!doctype html>") and "张伟已登录" in html


def test_forms_on_the_page_answered_at_sign_in_carry_a_token_of_the_new_session(
    client_request, outbox
):

    client_request.post("/login", {"phone": "13800000001"})
    answer = client_request.client.post(
        "/login/verify",
        data={
            "code": outbox.last_code("13800000001"),
            "csrf_token": csrf_token_of(client_request.client),
        },
        headers={"HX-Request": "true"},
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', answer.get_data(as_text=True))
    assert token
    extended = client_request.client.post(
        "/session/extend", data={"csrf_token": token.group(1)}, headers={"HX-Request": "true"}
    )
    assert extended.status_code == 204


# --- /permit's 办理签注: the first question answered by the button (issue 10, 2G) --------------


def endorse_button(page):
    """The form of the status box's 办理签注: its action, hidden answer and words."""
    form = page.soup.select_one("main form.status-action")
    return form["action"], form.select_one("input[name=for_whom]")["value"], form.button.text


def test_the_permit_pages_button_starts_an_endorsement_for_oneself_one_step_in(
    auth, client_request
):
    auth.login("张伟")
    permit = client_request.get("/permit")
    assert endorse_button(permit) == ("/endorse", "self", "办理签注")
    # Endorsing for someone else still begins at the question.
    assert permit.soup.find("a", string="为他人办理签注")["href"] == "/endorse"
    # Without htmx: the draft starts answered, and the 303 leads to the next step.
    residence = client_request.post("/endorse", {"for_whom": "self"}).location
    assert re.fullmatch(r"/endorse/[\w-]+/residence", residence)
    page = client_request.get(residence)
    who = residence.replace("/residence", "/who")
    # The question is not dropped: behind the back link, and on check answers to change.
    assert page.soup.select_one("a.back-link")["href"] == who
    assert client_request.get(who).soup.select_one("#for_whom")["checked"] is not None
    client_request.post(residence, {"address_unchanged": "yes"})
    check = client_request.get(residence.replace("/residence", "/check"))
    assert "为本人办理" in check.main_text
    assert check.soup.select_one(f'a[href="{who}?change=1"]') is not None


def test_with_htmx_the_button_answers_with_the_next_step_in_one_round_trip(auth, client_request):
    auth.login("王芳")
    assert endorse_button(client_request.get("/permit"))[2] == "补办签注"
    page = client_request.post("/endorse", {"for_whom": "self"}, expected_status=200, htmx=True)
    pushed = page.response.headers["HX-Push-Url"]
    assert re.fullmatch(r"/endorse/[\w-]+/residence", pushed)
    assert page.soup.select_one("form")["action"] == pushed
    assert "这是补办签注" in page.soup.get_text()


def test_on_a_family_members_permit_the_button_endorses_for_them(
    auth, client_request, dbsession
):
    from tests.test_family import switch

    auth.login("张伟")
    switch(client_request, dbsession, "张小明")
    permit = client_request.get("/permit")
    action, for_whom, _ = endorse_button(permit)
    assert for_whom == "other" and permit.soup.find("a", string="为他人办理签注") is None
    applicant = client_request.get(client_request.post(action, {"for_whom": for_whom}).location)
    assert applicant.soup.h1.get_text(strip=True) == "代办人和申请人信息"
    # The member switched to is the applicant already.
    chosen = applicant.soup.select_one("input[name=member][checked]")
    assert chosen is not None and "张小明" in applicant.soup.find("label", {"for": chosen["id"]}).text


def test_a_refused_first_answer_shows_the_first_step_with_its_error(auth, client_request):
    auth.login("张伟")
    page = client_request.post("/endorse", {"for_whom": "nobody"}, expected_status=422)
    assert page.soup.h1.get_text(strip=True) == "您为谁办理签注？"
    assert "请选择为本人办理还是为他人办理" in page.text("#for_whom-error")
    assert re.fullmatch(r"/endorse/[\w-]+/who", page.soup.select_one("main form")["action"])
    # Nor does a POST without its CSRF token start anything.
    client_request.post("/endorse", {"for_whom": "self"}, expected_status=400, csrf=False)
