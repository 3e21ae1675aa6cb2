"""Site-wide guarantees: start page, health, headers, caching, compression, budgets."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

import epermit
from epermit.forms import LoginForm
from epermit.htmx import render_page

STRICT_CSP = "default-src 'self'"


def test_start_page_explains_services_and_starts(client_request):
    page = client_request.get("/")
    assert page.h1 == "广东省电子居住证网上办理"
    text = page.main_text
    for service in ("签注", "注销", "亮码", "代办", "派出所", "粤省事"):
        assert service in text
    assert page.soup.select_one("a.start")["href"] == "/login"


def test_healthz_reports_database(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json == {"status": "ok", "database": "ok"}


def test_security_headers_on_every_page(client):
    answer = client.get("/")
    csp = answer.headers["Content-Security-Policy"]
    assert csp.startswith(STRICT_CSP)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_script_or_style(client_request, auth):
    auth.login("张伟")
    for url in ("/", "/permit", "/login"):
        html = client_request.get(url).response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert "<style" not in html and " style=" not in html and "hx-on" not in html


def test_every_form_is_drawn_by_the_form_macro():
    """One way to write a form: CSRF token, novalidate and a button disabled in flight."""
    templates = Path(epermit.__file__).parent / "templates"
    hand_written = [
        str(path.relative_to(templates))
        for path in templates.rglob("*.html")
        if "<form" in path.read_text() and path.name != "macros.html"
    ]
    assert hand_written == []


def test_a_posted_form_with_errors_answers_422_unless_the_view_says_otherwise(app, clock):
    def answer(method, status=None):
        with app.test_request_context("/login", method=method, data={"phone": "12"}):
            form = LoginForm(today=clock.today)
            form.validate()
            return render_page("auth/login.html", status=status, form=form, expired=False)

    assert answer("POST").status_code == 422
    assert answer("POST", status=429).status_code == 429
    assert answer("GET").status_code == 200  # a GET only shows the form: nothing was refused


def test_one_script_vendored_htmx_and_site_js_deferred_and_immutable(client):
    """SPEC 8: one script. htmx and static/site.js are joined into one file (epermit.assets):
    one request on a cold first visit, and nothing inline."""
    html = client.get("/").get_data(as_text=True)
    assert len(re.findall(r"<script\b", html)) == 1
    src = re.search(r'<script src="([^"]+)" defer></script>', html).group(1)
    assert re.fullmatch(r"/static/app\.js\?v=[0-9a-f]{12}", src)
    answer = client.get(src, headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    assert "immutable" in answer.headers["Cache-Control"]
    assert answer.headers["Content-Encoding"] == "gzip" and "Set-Cookie" not in answer.headers
    body = gzip.decompress(answer.data)
    static = Path(epermit.__file__).parent / "static"
    htmx, ours = (static / "htmx.min.js").read_bytes(), (static / "site.js").read_bytes()
    # Both whole, htmx first: site.js listens to its events.
    assert body.index(htmx.rstrip()) < body.index(ours.rstrip())
    assert client.get(src).data == body  # uncompressed for a client that asks so
    # A version that is not this content's is never cached for a year.
    stale = client.get("/static/app.js?v=0123456789ab")
    assert stale.data == body and "immutable" not in stale.headers["Cache-Control"]


def test_htmx_config_restores_history_as_full_page_and_swaps_422(client):
    html = client.get("/").get_data(as_text=True)
    assert '"historyRestoreAsHxRequest":false' in html
    # Every answer of ours is a page to show: 422 and 429 with the form, 409 a refusal at
    # submit, 400/404/500 the friendly error pages. Without a swap htmx would show nothing.
    assert '{"code":"[2345]..","swap":true}' in html


def test_responses_are_compressed_when_accepted(client):
    answer = client.get("/", headers={"Accept-Encoding": "gzip, br"})
    assert answer.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(answer.data).startswith(b"<!doctype html>")
    assert "Accept-Encoding" in answer.headers["Vary"]


def test_unknown_page_is_friendly_404(client_request):
    page = client_request.get("/no-such-page", expected_status=404)
    assert page.h1 == "找不到页面"


def test_crash_shows_friendly_500(app, client_request):
    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    page = client_request.get("/boom", expected_status=500)
    assert page.h1 == "系统繁忙" and "boom" not in page.main_text


def gzip_size(client, url):
    html = client.get(url).data
    css = client.get(re.search(rb'href="(/static/site.css[^"]*)"', html).group(1).decode()).data
    return len(gzip.compress(html + css))


@pytest.mark.parametrize("url", ["/", "/login", "/permit"])
def test_first_visit_html_and_css_within_14kb_gzip(client, auth, url):
    auth.login("张伟")
    size = gzip_size(client, url)
    assert size <= 14 * 1024, f"{url}: {size} bytes gzip"


def test_htmx_fragments_opened_directly_lead_to_their_page(client, auth):
    # A fragment's address typed, bookmarked or shared: the page, never a bare fragment.
    auth.login("张伟")
    assert client.get("/permit/code/live").headers["Location"] == "/permit/code"
    fragment = client.get("/permit/code/live", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and b'id="permit-code-live"' in fragment.data
