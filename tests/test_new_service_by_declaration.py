"""A third service carried by declaration alone (issue "One engine for more services"):
declared here, registered beside the real ones, and walked from start through check answers
(with a change) to its receipt and the case list, with nothing of it in site/."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from epermit import forms
from epermit import wizard as engine
from epermit.models import Case
from epermit.services import permits
from epermit.services.references import is_well_formed, new_reference
from epermit.vocabulary import CaseKind
from epermit.wizards import WIZARDS


class PurposeForm(forms.Form):
    purpose = forms.ChoiceField(
        "居住证明的用途",
        choices=[("work", "办理工作手续"), ("school", "子女入学")],
        message="请选择居住证明的用途",
        check_label="用途",
    )


class SchoolForm(forms.Form):
    heading = "子女就读的学校"
    school = forms.NameField("学校名称")


def for_school(answers: engine.Answers) -> bool:
    return answers.get("purpose", {}).get("purpose") == "school"


def blocked(ctx: engine.StepContext) -> engine.Block | None:
    return None


def submit(ctx: engine.StepContext) -> Case:
    # A service of the test's own: what a real one would do through its service module.
    permit = permits.current_permit(ctx.session, ctx.actor_id)
    assert permit is not None and permit.id is not None
    case = Case(
        reference=new_reference(CaseKind.MOVE, ctx.today),
        kind=CaseKind.MOVE,
        permit_id=permit.id,
        applicant_id=ctx.actor_id,
        agent_id=ctx.actor_id,
        outcome="issued",
        details={"purpose": ctx.answers["purpose"]["purpose"]},
        created_at=ctx.now,
    )
    ctx.session.add(case)
    ctx.session.flush()
    return case


CERTIFICATE = engine.Wizard(
    name="certificate",
    title="居住证明",
    case_kind=CaseKind.MOVE,
    action="开具居住证明",
    outcomes={"issued": engine.Outcome("开具居住证明", "已开具")},
    steps=(
        engine.Step("purpose", PurposeForm),
        engine.Step("school", SchoolForm, applies=for_school),
    ),
    check_form=forms.DeclarationForm,
    blocked=blocked,
    submit=submit,
)

# A case kind has one service; the certificate borrows the change of address's kind, so it is
# registered beside every real service but that one.
pytestmark = pytest.mark.app_wizards(
    *(wizard for wizard in WIZARDS if wizard.case_kind != CERTIFICATE.case_kind), CERTIFICATE
)


def rows(page) -> list[tuple[str, str]]:
    return [
        (row.dt.get_text(strip=True), row.dd.get_text(strip=True))
        for row in page.soup.select("dl.summary .summary-row")
    ]


def test_a_declared_service_is_walked_to_its_receipt_and_listed(client_request, auth, dbsession):
    auth.login("张伟")
    start = client_request.get("/certificate", expected_status=303)
    match = re.fullmatch(r"/certificate/([\w-]+)/purpose", start.location or "")
    assert match, start.location
    draft = match.group(1)
    url = f"/certificate/{draft}"

    first = client_request.get(f"{url}/purpose")
    assert first.h1 == "居住证明的用途"
    assert first.soup.select_one(".caption").get_text() == "居住证明"
    # No skipping ahead: check answers leads back to the first unanswered question.
    assert client_request.get(f"{url}/check", 303).location == f"{url}/purpose"
    refused = client_request.post(f"{url}/purpose", {}, expected_status=422)
    assert refused.errors() == {"purpose": "请选择居住证明的用途"}

    assert client_request.post(f"{url}/purpose", {"purpose": "school"}).location == (
        f"{url}/school"
    )
    assert client_request.get(f"{url}/school").h1 == "子女就读的学校"
    assert client_request.post(f"{url}/school", {"school": "广州市第一中学"}).location == (
        f"{url}/check"
    )
    check = client_request.get(f"{url}/check")
    assert rows(check) == [("用途", "子女入学"), ("学校名称", "广州市第一中学")]

    # A change from check answers comes back there, and drops the answer it made irrelevant.
    change = client_request.get(f"{url}/purpose?change=1")
    assert change.soup.select_one(".back-link")["href"] == f"{url}/check"
    assert client_request.post(f"{url}/purpose?change=1", {"purpose": "work"}).location == (
        f"{url}/check"
    )
    assert rows(client_request.get(f"{url}/check")) == [("用途", "办理工作手续")]
    assert client_request.get(f"{url}/school", 303).location == f"{url}/check"

    assert client_request.post(f"{url}/check", {"declaration": "y"}).location == f"{url}/done"
    done = client_request.get(f"{url}/done")
    reference = done.text("#reference")
    assert reference.startswith("BG") and is_well_formed(reference)
    assert done.h1 == "已开具"
    # Submitted once: every step now leads to the receipt.
    assert client_request.get(f"{url}/purpose", 303).location == f"{url}/done"

    case = dbsession.exec(select(Case).where(Case.reference == reference)).one()
    assert case.kind == "move" and case.details == {"purpose": "work"}
    listed = client_request.get("/cases")
    row = listed.soup.find("a", string=reference).find_parent("tr")
    assert [td.get_text(strip=True) for td in row.select("td")][1:3] == ["开具居住证明", "本人"]
    assert "已开具" in row.get_text()
    receipt = client_request.get(f"/cases/{reference}")
    assert ("业务", "开具居住证明") in rows(receipt)


def test_two_services_cannot_make_the_same_kind_of_case(database_url):
    from epermit import create_app

    with pytest.raises(engine.InvalidWizard, match="move"):
        create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x"}, (CERTIFICATE, CERTIFICATE))
