"""亮码 (SPEC 2.11): a QR code carrying a signed, expiring verification URL, refreshed every
minute, only for valid or due permits; read back here with a real QR decoder."""

from __future__ import annotations

import gzip
import re

import pytest
import zxingcpp
from bs4 import BeautifulSoup, Tag
from PIL import Image, ImageDraw
from sqlmodel import select

from epermit.models import Person
from tests.conftest import attr
from tests.test_site import gzip_size

QUIET_ZONE = 4
PATH_COMMAND = re.compile(r"([Mm])(-?\d+) (-?\d+(?:\.5)?)|h([1-9]\d*)")


def render_svg(svg: str, scale: int = 8) -> Image.Image:
    """Rasterise qr_svg's drawing, refusing anything else: a square viewBox, one path of
    horizontal 1-unit strokes (an absolute M first, then relative m moves and h strokes, on
    row centres y + 0.5), each module painted at most once and none in the 4-module quiet
    zone. A stand-in for a browser, to feed a real decoder."""
    svg_tag = BeautifulSoup(svg, "html.parser").svg
    assert svg_tag is not None, svg
    # aria-hidden: the element around it names the code (issue 10).
    assert svg_tag.attrs == {"viewbox": svg_tag["viewbox"], "aria-hidden": "true"}, svg_tag.attrs
    left, top, width, height = (int(n) for n in attr(svg_tag, "viewbox").split())
    assert (left, top) == (0, 0) and width == height
    (path,) = svg_tag.find_all(recursive=False)
    assert isinstance(path, Tag) and path.name == "path" and not path.contents
    assert set(path.attrs) == {"shape-rendering", "stroke", "d"}, path.attrs
    assert path["shape-rendering"] == "crispEdges" and path["stroke"] == "#000"
    d = attr(path, "d")
    commands = list(PATH_COMMAND.finditer(d))
    assert "".join(c.group(0) for c in commands) == d, "only M, m and h commands"
    assert commands[0].group(1) == "M" and all(c.group(1) != "M" for c in commands[1:])
    image = Image.new("L", (width * scale, height * scale), 255)
    draw = ImageDraw.Draw(image)
    painted: set[tuple[int, float]] = set()
    x, y = 0, 0.0
    for move, dx, dy, length in (c.groups() for c in commands):
        if move:
            x, y = (int(dx), float(dy)) if move == "M" else (x + int(dx), y + float(dy))
            assert y % 1 == 0.5, "strokes run along row centres"
            continue
        end = x + int(length)
        assert QUIET_ZONE <= x and end <= width - QUIET_ZONE, "a stroke in the quiet zone"
        assert QUIET_ZONE <= y - 0.5 < height - QUIET_ZONE, "a stroke in the quiet zone"
        modules = {(column, y) for column in range(x, end)}
        assert not modules & painted, "a module painted twice"
        painted |= modules
        row_top = (y - 0.5) * scale
        draw.rectangle([x * scale, row_top, end * scale - 1, row_top + scale - 1], fill=0)
        x = end
    return image


def decode(svg: str) -> str:
    results = zxingcpp.read_barcodes(render_svg(svg))
    assert len(results) == 1, "exactly one readable QR code"
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    return results[0].text


def shown_code_url(client_request) -> str:
    page = client_request.get("/permit/code")
    return decode(str(page.soup.select_one("#permit-code svg")))


def test_code_page_shows_a_qr_with_the_time_it_was_made_and_a_refresh_link(client_request, auth):
    auth.login("张伟")
    page = client_request.get("/permit/code")
    assert page.h1 == "张伟的居住证二维码"
    svg = page.soup.select_one("#permit-code svg")
    assert svg is not None and svg.find("path") is not None
    label = page.soup.select_one("#permit-code")
    assert label["role"] == "img" and "张伟的居住证核验二维码" in label["aria-label"]
    time = page.soup.select_one(".code-time time")
    assert time["datetime"] == "2026-11-25T10:00:00+08:00"
    assert page.text(".code-time") == "生成时间： 2026年11月25日 10:00:00"
    refresh = page.soup.find("a", string="刷新二维码")
    assert refresh["href"] == "/permit/code"
    live = page.soup.select_one("#permit-code-live")
    assert live["hx-get"] == "/permit/code/live" and live["hx-trigger"] == "every 60s"
    assert page.text("#status") == "待签注"
    assert "截图无效" in page.main_text


def test_the_qr_carries_the_verification_url_and_opening_it_verifies_the_permit(
    client_request, auth, client
):
    auth.login("张伟")
    url = shown_code_url(client_request)
    assert re.fullmatch(r"http://localhost/v/[A-Za-z0-9_.\-]+", url), url
    auth.logout()
    page = client_request.get(url.removeprefix("http://localhost"))
    assert page.h1 == "居住证核验结果"
    assert page.text("#holder-name") == "张*"  # two-character names keep the surname
    assert page.text("#status") == "待签注"


def test_public_base_url_falls_back_to_the_host_asked_for(app, client_request, auth):
    app.config["PUBLIC_BASE_URL"] = ""
    auth.login("李娜")
    assert shown_code_url(client_request).startswith("http://localhost/v/")


def live_fragment(client) -> BeautifulSoup:
    answer = client.get("/permit/code/live", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    return BeautifulSoup(answer.get_data(as_text=True), "html.parser")


def test_each_refresh_makes_a_new_code_with_the_new_time(client_request, client, auth, clock):
    auth.login("张伟")
    first = shown_code_url(client_request)
    clock.advance(minutes=1)
    fragment = live_fragment(client)
    assert fragment.select_one("#permit-code-live")["hx-trigger"] == "every 60s"
    assert fragment.select_one("h1") is None and fragment.select_one("header") is None
    assert fragment.select_one(".code-time").get_text() == "生成时间：2026年11月25日 10:01:00"
    second = decode(str(fragment.select_one("#permit-code svg")))
    assert second != first


def test_live_fragment_is_not_a_page(client, auth):
    auth.login("张伟")
    html = client.get("/permit/code/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<title>" not in html and "<html" not in html
    assert html.lstrip().startswith('<div id="permit-code-live"')


def test_refreshing_the_code_does_not_keep_an_idle_session_alive(client, auth, clock):
    auth.login("张伟")
    for _ in range(31):
        clock.advance(minutes=1)
        client.get("/permit/code/live", headers={"HX-Request": "true"})
    html = client.get("/permit/code/live", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "您已退出登录，二维码已停止显示" in html and "<svg" not in html
    assert "hx-trigger" not in html  # polling stops
    assert client.get("/permit/code").status_code == 303


def test_suspended_permit_shows_why_there_is_no_code(client_request, auth):
    auth.login("王芳")
    page = client_request.get("/permit/code")
    assert page.soup.select_one("#permit-code") is None and "<svg" not in str(page.soup)
    assert page.text("#status") == "使用功能中止"
    assert "使用功能中止期间不能亮码" in page.main_text
    assert page.soup.select_one('form[action="/endorse"] button').get_text() == "补办签注"
    # Here only for herself: endorsing for others begins on /permit.
    assert page.soup.find("a", string="为他人办理签注") is None


def test_deregistered_permit_shows_why_there_is_no_code(client_request, auth):
    auth.login("刘洋")
    page = client_request.get("/permit/code")
    assert page.soup.select_one("#permit-code") is None
    assert page.text("#status") == "已注销"
    assert "居住证已注销，不能亮码" in page.main_text


def test_person_without_permit_gets_no_code(client_request, auth):
    auth.login("陈军")
    page = client_request.get("/permit/code")
    assert page.soup.select_one("#permit-code") is None
    assert "名下没有广东省居住证" in page.main_text


def test_code_stops_in_the_live_fragment_when_the_permit_is_suspended(client, auth, clock):
    auth.login("张伟")
    clock.advance(days=11)
    auth.login("张伟")
    fragment = live_fragment(client)
    assert "居住证状态已变更，不能再亮码" in fragment.get_text()
    assert fragment.select_one("#permit-code") is None
    assert not fragment.select_one("[hx-trigger]")


def test_family_members_code_is_shown_through_switch(client_request, auth, dbsession):
    auth.login("张伟")
    xiaoming = dbsession.exec(select(Person.id).where(Person.name == "张小明")).one()
    client_request.post("/family/switch", {"member": xiaoming})
    page = client_request.get("/permit/code")
    assert page.h1 == "张小明的居住证二维码"
    assert "张小明" in page.soup.select_one("#permit-code")["aria-label"]
    url = decode(str(page.soup.select_one("#permit-code svg")))
    verified = client_request.get(url.removeprefix("http://localhost"))
    assert verified.text("#holder-name") == "张*明"


def test_code_page_needs_sign_in(client_request):
    answer = client_request.get("/permit/code", expected_status=303)
    assert answer.location.startswith("/login?next=/permit/code")


def test_code_page_with_its_qr_is_within_14kb_gzip(client, auth):
    auth.login("张伟")
    size = gzip_size(client, "/permit/code")
    assert size <= 14 * 1024, f"{size} bytes gzip"


def test_qr_svg_is_small(client, auth):
    auth.login("张伟")
    html = client.get("/permit/code").get_data(as_text=True)
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert len(svg) < 4000 and len(gzip.compress(svg.encode())) < 1500
    assert "<?xml" not in svg and 'width="' not in svg  # inline, scaled by CSS


@pytest.mark.parametrize(
    "origin", ["http://localhost", "https://epermit.guangzhou.gov.cn", "https://" + "e" * 40]
)
def test_qr_svg_is_within_3kb_and_reads_back_at_level_m_for_any_permit(origin):
    """Up to a 48-character public origin: the longest token, the largest permit id and a
    time stamp of ten digits, stays QR version 6 and under 3 KB."""
    from datetime import UTC, datetime

    from epermit.services import permit_code

    token = permit_code.make_token(99_999_999, datetime(2286, 1, 1, tzinfo=UTC), "secret")
    url = f"{origin}/v/{token}"
    svg = permit_code.qr_svg(url)
    assert len(svg.encode()) <= 3 * 1024, len(svg.encode())
    (result,) = zxingcpp.read_barcodes(render_svg(svg))
    assert result.text == url and result.ec_level == "M"


@pytest.mark.parametrize("ttl", [60, 300])
def test_code_page_says_how_long_the_code_lasts(app, client_request, auth, ttl):
    app.config["PERMIT_CODE_TTL_SECONDS"] = ttl
    auth.login("张伟")
    assert f"二维码{ttl // 60}分钟内有效" in client_request.get("/permit/code").main_text


def test_made_time_is_shown_in_guangzhou_time(client_request, auth, clock):
    clock.advance(hours=15)  # 17:00 UTC is 01:00 the next day in Guangzhou
    auth.login("张伟")
    page = client_request.get("/permit/code")
    assert page.text(".code-time") == "生成时间： 2026年11月26日 01:00:00"


@pytest.mark.parametrize("name", ["王芳", "刘洋", "陈军"])
def test_no_code_is_made_for_a_suspended_deregistered_or_missing_permit(dbsession, clock, name):
    from epermit.services import permit_code, permits

    holder = dbsession.exec(select(Person).where(Person.name == name)).one()
    card = permits.card_of(dbsession, holder, clock.today)
    with pytest.raises(permit_code.NoCodeForStatus):
        permit_code.make_code(card, clock(), "test-secret")
