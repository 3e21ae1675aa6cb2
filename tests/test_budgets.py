"""Weight budgets (SPEC 8): a first visit of any page is at most 14 KB gzip of HTML + CSS,
and a wizard step's htmx partial at most 4 KB."""

from __future__ import annotations

import gzip
import re

from epermit import demo
from tests.conftest import csrf_token_of
from tests.test_deregister_wizard import org_declarant

FULL_BUDGET = 14 * 1024
PARTIAL_BUDGET = 4 * 1024


def weigh(client, url: str) -> tuple[int, int]:
    """(gzip size of HTML + CSS for a first visit, size of the htmx partial)."""
    full = client.get(url)
    assert full.status_code == 200, (url, full.status_code)
    html = full.data
    css_link = re.search(rb'href="(/static/site.css[^"]*)"', html)
    assert css_link, f"{url} links no site.css"
    css_url = css_link.group(1).decode()
    css = client.get(css_url).data
    partial = client.get(url, headers={"HX-Request": "true"}).data
    return len(gzip.compress(html + css)), len(partial)


def test_endorsement_steps_fit_their_budgets(client, auth):
    auth.login("张伟")
    draft = client.get("/endorse").headers["Location"].rsplit("/", 1)[0]
    token = csrf_token_of(client)
    sizes = {}
    sizes["who"] = weigh(client, f"{draft}/who")
    client.post(f"{draft}/who", data={"for_whom": "other", "csrf_token": token})
    sizes["applicant"] = weigh(client, f"{draft}/applicant")
    client.post(f"{draft}/who", data={"for_whom": "self", "csrf_token": token})
    sizes["residence"] = weigh(client, f"{draft}/residence")
    client.post(f"{draft}/residence", data={"address_unchanged": "yes", "csrf_token": token})
    sizes["check"] = weigh(client, f"{draft}/check")
    client.post(f"{draft}/check", data={"declaration": "y", "csrf_token": token})
    sizes["done"] = weigh(client, f"{draft}/done")
    sizes["cases"] = weigh(client, "/cases")
    for step, (full, partial) in sizes.items():
        assert full <= FULL_BUDGET, f"{step}: {full} bytes gzip"
        assert partial <= PARTIAL_BUDGET, f"{step}: partial {partial} bytes"


def test_deregistration_steps_fit_their_budgets(client, auth):
    auth.login("黄丽")
    draft = client.get("/deregister").headers["Location"].rsplit("/", 1)[0]
    token = csrf_token_of(client)
    sizes = {"role": weigh(client, f"{draft}/role")}
    client.post(f"{draft}/role", data={"declarant_role": "employer", "csrf_token": token})
    sizes["declarant"] = weigh(client, f"{draft}/declarant")
    client.post(
        f"{draft}/declarant", data=org_declarant("employer", "黄丽") | {"csrf_token": token}
    )
    sizes["applicant"] = weigh(client, f"{draft}/applicant")
    client.post(
        f"{draft}/applicant",
        data={
            "applicant_name": "张伟",
            "applicant_id_number": demo.person("张伟").id_number,
            "csrf_token": token,
        },
    )
    sizes["reason"] = weigh(client, f"{draft}/reason")
    for step, (full, partial) in sizes.items():
        assert full <= FULL_BUDGET, f"{step}: {full} bytes gzip"
        assert partial <= PARTIAL_BUDGET, f"{step}: partial {partial} bytes"


def test_other_pages_fit_the_first_visit_budget(client, auth, clock):
    auth.login("张伟")
    token = csrf_token_of(client)
    for url in ["/family", "/family/add", "/permit/code", "/cases", "/no-such-page"]:
        html = client.get(url).data
        css = client.get(re.search(rb'href="(/static/site.css[^"]*)"', html).group(1)).data
        size = len(gzip.compress(html + css))
        assert size <= FULL_BUDGET, f"{url}: {size} bytes gzip"
    answer = client.post("/family/add", data={"name": "", "id_number": "1", "csrf_token": token})
    assert answer.status_code == 422 and len(gzip.compress(answer.data)) <= FULL_BUDGET


def test_error_states_sent_to_htmx_fit_the_partial_budget(client, auth):
    """The heaviest partial is the applicant step refused on every field: its messages are
    said twice (summary and field). What crosses the wire is what counts on a slow line:
    responses are gzip-compressed for every browser (SPEC 8)."""
    auth.login("张伟")
    draft = client.get("/endorse").headers["Location"].rsplit("/", 1)[0]
    token = csrf_token_of(client)
    client.post(f"{draft}/who", data={"for_whom": "other", "csrf_token": token})
    refused = {
        "agent_name": "",
        "agent_id_number": "1",
        "agent_phone": "1",
        "member": "other",
        "csrf_token": token,
    }
    answer = client.post(
        f"{draft}/applicant",
        data=refused,
        headers={"HX-Request": "true", "Accept-Encoding": "gzip"},
    )
    assert answer.status_code == 422
    assert answer.headers["Content-Encoding"] == "gzip"
    assert len(answer.data) <= PARTIAL_BUDGET, f"{len(answer.data)} bytes as sent"
    assert gzip.decompress(answer.data).count(b'class="error-message"') == 6
