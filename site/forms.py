"""WTForms classes, one per step, built from reusable field types with Chinese messages.

Checks run on the server only (forms carry `novalidate`); a field keeps what the person typed
when it is refused, and holds the normalised value when it is accepted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import BooleanField, Field, RadioField, StringField, TextAreaField
from wtforms.validators import ValidationError

from epermit import identity, rules
from epermit.services import codes
from epermit.vocabulary import (
    DISTRICTS,
    ORGANISATION_ROLES,
    DeclarantRole,
    Housing,
    LinkBasis,
    Reason,
    Relationship,
)

MESSAGES = {
    "empty": "请输入{label}",
    "id_15_digits": "请使用18位公民身份号码",
    "id_length": "{label}应为18位，请核对后重新输入",
    "id_format": "{label}应为17位数字加最后1位数字或字母X",
    "id_birth_date": "{label}中的出生日期不存在，请核对后重新输入",
    "id_birth_future": "{label}中的出生日期不正确，请核对后重新输入",
    "id_check_digit": "{label}最后一位校验码不正确，请核对后重新输入",
    "uscc_length": "{label}应为18位，请核对营业执照后重新输入",
    "uscc_format": "{label}只能包含数字和大写字母（不含I、O、Z、S、V）",
    "uscc_check": "{label}最后一位校验码不正确，请核对营业执照后重新输入",
    "phone_format": "{label}应为以1开头的11位数字，如13800000000",
    "name_too_long": "{label}不能超过30个字",
    "name_chars": "{label}只能包含汉字、字母和间隔号“·”",
}


def plain_text(raw: str | None) -> str:
    """Free text as a person can type it: control and format characters dropped (nobody types
    them, and PostgreSQL cannot store NUL at all), line breaks kept, ends trimmed."""
    return "".join(
        c for c in raw or "" if c == "\n" or unicodedata.category(c) not in ("Cc", "Cf")
    ).strip()


E = TypeVar("E", bound=StrEnum)

TOO_OFTEN = "操作过于频繁，请稍后再试"


def choices(words: Mapping[E, str]) -> list[tuple[str, str]]:
    """Form choices in the vocabulary's order, each value with its words; a value without
    words is a KeyError at import, not a blank radio."""
    enum = type(next(iter(words)))
    return [(value.value, words[value]) for value in enum]


def message_for(code: str, label: str) -> str:
    return MESSAGES[code].format(label=label)


class Form(FlaskForm):
    """Base form: knows today's date, which some checks need (birth dates, leave dates).

    Today is always given: only the view layer reads the clock (a test may have moved it).
    """

    class Meta:
        # No CSRF field of the form's own: CSRFProtect checks the token of every POST before
        # any view runs (extensions.csrf), and the form macro draws the token from
        # csrf_token(). A field would sign a second token on every POST, one that no page
        # shows after a redirect, and check the already checked token again. A search or
        # filter sent by GET changes nothing and carries none (macros.html `get_form`).
        csrf = False

    # Messages for refusals that need the database (epermit.wizards' checks), by key, or by
    # "field.key" where one key reads differently per field.
    refusals: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def refuse(self, field: str, key: str) -> None:
        """Show next to `field` the message this form has for `key`."""
        self.add_error(field, self.refusals.get(f"{field}.{key}") or self.refusals[key])

    def add_error(self, field: str, message: str) -> None:
        """A refusal found after the form validated (a check against the database)."""
        refused = getattr(self, field)
        refused.errors = [*refused.errors, message]

    @property
    def field_errors(self) -> list[tuple[Field, str]]:
        """(field, first message) in page order, for the error summary."""
        return [(field, field.errors[0]) for field in self if field.errors]


class TextField(StringField):
    """A one-line text input that knows how it is drawn (components/macros.html `field`).

    The class says what suits every field of its kind (`PhoneField.input_type = "tel"`); a
    keyword argument says what suits one field (`NameField(..., autocomplete="name")`).
    """

    input_type = "text"
    autocomplete: str | None = None
    inputmode: str | None = None
    width: int | None = None  # the input's `w-N` class: room for about N characters
    spellcheck = False  # names, numbers and codes are not words

    def __init__(
        self,
        *args: Any,
        autocomplete: str | None = None,
        width: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if autocomplete is not None:
            self.autocomplete = autocomplete
        if width is not None:
            self.width = width


class CheckedField(TextField):
    """A text field whose value is normalised and checked by an `identity` function."""

    checker: Callable[..., str]
    needs_today = False

    def __init__(self, label: str, hint: str | None = None, required: bool = True, **kwargs: Any):
        super().__init__(label, description=hint or "", **kwargs)
        self.required = required

    def pre_validate(self, form: Form) -> None:  # type: ignore[override]
        raw = (self.data or "").strip()
        if not raw and not self.required:
            self.data = None
            return
        try:
            checker = type(self).checker
            self.data = checker(raw, form.today) if self.needs_today else checker(raw)
        except identity.IdentityError as error:
            raise ValidationError(message_for(error.code, str(self.label.text))) from error


class IdNumberField(CheckedField):
    checker = staticmethod(identity.check_id_number)
    needs_today = True
    width = 18

    def display(self) -> str:
        """As check answers show it: masked, as every page but the form shows an ID number."""
        return identity.mask_id_number(self.data) if self.data else ""


class UsccField(CheckedField):
    checker = staticmethod(identity.check_uscc)
    width = 18


class PhoneField(CheckedField):
    checker = staticmethod(identity.check_phone)
    input_type = "tel"
    autocomplete = "tel"
    inputmode = "tel"
    width = 11


class NameField(CheckedField):
    checker = staticmethod(identity.check_name)


class CodeField(TextField):
    """A six-digit SMS code; full-width digits and spaces from input methods are accepted."""

    # A text input, not type=number: it keeps leading zeros and shows no spinner.
    autocomplete = "one-time-code"
    inputmode = "numeric"
    width = 6

    def pre_validate(self, form: Form) -> None:  # type: ignore[override]
        raw = "".join(unicodedata.normalize("NFKC", self.data or "").split())
        if not raw:
            raise ValidationError(f"请输入{self.label.text}")
        if not (len(raw) == 6 and raw.isascii() and raw.isdigit()):
            raise ValidationError(f"{self.label.text}应为6位数字，请查看短信后重新输入")
        self.data = raw


def code_error(error: codes.CodeError, resend: str, check_with: str = "") -> str:
    """The message for an SMS code that was not accepted; `resend` names the button that
    sends a new one, `check_with` whom to check the SMS with (the applicant, say)."""
    if isinstance(error, codes.CodeWrong):
        return f"验证码不正确，请{check_with}核对短信后重新输入（还可尝试{error.remaining}次）"
    if isinstance(error, codes.CodeExpired):
        return f"验证码已过期，请点击“{resend}”"
    if isinstance(error, codes.CodeLocked):
        return f"验证码输入错误次数过多，已失效，请点击“{resend}”"
    return f"验证码已失效，请点击“{resend}”"


class ChoiceField(RadioField):
    """Radios whose 'not chosen' message names the question; `check_label` is how check
    answers name the answer when the question itself reads badly there."""

    def __init__(
        self,
        label: str,
        choices: list[tuple[str, str]],
        message: str,
        check_label: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(label, choices=choices, validate_choice=False, **kwargs)
        self.message = message
        self.check_label = check_label
        self.values = {value for value, _ in choices}

    def pre_validate(self, form: Form) -> None:  # type: ignore[override]
        if self.data not in self.values:
            self.data = None
            raise ValidationError(self.message)


class LoginForm(Form):
    phone = PhoneField("手机号码", hint="请输入您登记的手机号码，我们会发送6位验证码")


class VerifyForm(Form):
    code = CodeField("短信验证码", description="6位数字，5分钟内有效")


# Wizard steps (SPEC 4.2, 4.3). Field names are a contract: tests outside the repo post them.

RELATIONSHIP_WORDS: dict[Relationship, str] = {
    Relationship.SPOUSE: "配偶",
    Relationship.PARENT: "父母",
    Relationship.CHILD: "子女",
    Relationship.SIBLING: "兄弟姐妹",
    Relationship.GRANDPARENT: "祖父母/外祖父母",
    Relationship.GRANDCHILD: "孙子女/外孙子女",
    Relationship.OTHER_RELATIVE: "其他近亲属",
}
RELATIONSHIPS = choices(RELATIONSHIP_WORDS)
OTHER_PERSON = "other"


class WhoForm(Form):
    for_whom = ChoiceField(
        "您为谁办理？",
        choices=[("self", "为本人办理"), ("other", "为他人办理（代办家庭成员等）")],
        message="请选择为本人办理还是为他人办理",
        check_label="为谁办理",
    )


def member_field() -> Any:
    return RadioField("申请人", choices=[], validate_choice=False)


def applicant_name_field() -> Any:
    return NameField("申请人姓名", required=False)


def applicant_id_number_field() -> Any:
    return IdNumberField("申请人公民身份号码", required=False)


class ApplicantChoiceMixin:
    """Pick the applicant from one's family list, or give their name and ID number.

    The fields themselves are made by the *_field() functions in each form's body, so that
    each form lists them in its own page order.
    """

    refusals: ClassVar[dict[str, str]] = {
        "no_such_holder": (
            "未找到与该姓名和公民身份号码相符的居住证，请核对姓名和公民身份号码后重新输入"
        ),
        "is_self": "这是您本人的信息。为本人办理请返回上一步，选择“为本人办理”",
        "no_phone_for_consent": (
            "该申请人没有登记手机号码，无法通过短信确认同意。请先在“家庭成员”中添加该申请人后再办理"
        ),
        "consent_capped": (
            "该申请人近期收到的验证码已达上限，暂时不能再发送。请稍后再试，或请申请人本人办理"
        ),
    }

    def set_members(self, members: list[tuple[str, str, str]]) -> None:
        """Offer the family list: (person id, name, relationship) each."""
        choices = [
            (person_id, f"{name}（{RELATIONSHIP_WORDS[Relationship(relationship)]}）")
            for person_id, name, relationship in members
        ]
        choices.append((OTHER_PERSON, "其他人（填写下面的姓名和公民身份号码）"))
        self.member.choices = choices  # type: ignore[attr-defined]

    def person_words(self, person: Any) -> str:
        return f"{person.name} {identity.mask_id_number(person.id_number)}"

    def validate_member(self, field: Field) -> None:
        allowed = {value for value, _ in field.choices}  # type: ignore[attr-defined]
        if field.data in (None, "", "None"):
            field.data = None
            if len(allowed) > 1 and not (self.applicant_name.data or self.applicant_id_number.data):  # type: ignore[attr-defined]
                raise ValidationError("请选择申请人，或填写申请人的姓名和公民身份号码")
            return
        if field.data not in allowed:
            field.data = None
            raise ValidationError("请从列表中选择申请人")

    @property
    def picks_member(self) -> bool:
        return self.member.data not in (None, "", OTHER_PERSON)  # type: ignore[attr-defined]

    def _applicant_missing(self, field: Field) -> bool:
        # When no one was chosen, the member question's own message says it all.
        return not self.picks_member and not field.data and not self.member.errors  # type: ignore[attr-defined]

    def validate_applicant_name(self, field: Field) -> None:
        if self._applicant_missing(field):
            raise ValidationError("请输入申请人姓名")

    def validate_applicant_id_number(self, field: Field) -> None:
        if self._applicant_missing(field):
            raise ValidationError("请输入申请人公民身份号码")


class EndorseApplicantForm(ApplicantChoiceMixin, Form):
    refusals: ClassVar[dict[str, str]] = {
        **ApplicantChoiceMixin.refusals,
        "agent_name.not_account": "代办人姓名须与登录账号的姓名一致",
        "agent_id_number.not_account": "代办人公民身份号码须与登录账号的公民身份号码一致",
    }

    agent_name = NameField("代办人姓名", hint="即您本人，须与登录账号一致", autocomplete="name")
    agent_id_number = IdNumberField("代办人公民身份号码")
    agent_phone = PhoneField("代办人手机号码")
    member = member_field()
    applicant_name = applicant_name_field()
    applicant_id_number = applicant_id_number_field()
    relationship = ChoiceField(
        "申请人是您的",
        choices=RELATIONSHIPS,
        message="请选择申请人与您的关系",
    )

    def check_rows_for(self, person: Any) -> list[tuple[str, str]]:
        agent = (
            f"{self.agent_name.data} {identity.mask_id_number(self.agent_id_number.data or '')}"
            f" {self.agent_phone.data}"
        )
        relation = RELATIONSHIP_WORDS[Relationship(self.relationship.data)]
        return [("代办人", agent), ("申请人", f"{self.person_words(person)}（您的{relation}）")]


class ConsentForm(Form):
    consent_code = CodeField("申请人收到的短信验证码", description="6位数字，5分钟内有效")

    def refuse_code(self, error: codes.CodeError) -> None:
        self.add_error(
            "consent_code", code_error(error, resend="重新发送验证码", check_with="向申请人")
        )

    def check_rows(self) -> list[tuple[str, str]]:
        # The code is never kept; that the applicant agreed is the answer.
        return [("申请人同意", "已通过短信验证码确认")]


class ResidenceForm(Form):
    address_unchanged = ChoiceField(
        "申请人现在是否仍住在登记的居住地址？",
        choices=[("yes", "是，仍住在登记地址"), ("no", "否，已经搬到其他地址")],
        message="请选择是否仍住在登记的居住地址",
        check_label="仍住在登记的居住地址",
    )


class DeclarationForm(Form):
    declaration = BooleanField("声明")

    def validate_declaration(self, field: Field) -> None:
        # The box sends "y"; anything else is not a ticked declaration (SPEC 4.2).
        if field.raw_data != ["y"]:
            field.data = False
            raise ValidationError("请勾选声明，确认所填信息真实准确")


# Family members (SPEC 2.9).


class FamilyAddForm(Form):
    # Someone else's name and number: the browser must not offer the person's own.
    name = NameField("家庭成员姓名", hint="须与其居住证上的姓名一致", autocomplete="off", width=18)
    id_number = IdNumberField("家庭成员公民身份号码", autocomplete="off")
    relationship = ChoiceField(
        "此人是您的",
        choices=RELATIONSHIPS,
        message="请选择此人与您的关系",
    )


class FamilyConsentForm(Form):
    consent_code = CodeField(
        "家庭成员收到的短信验证码", description="6位数字，5分钟内有效，请向该家庭成员索取"
    )


class FamilySwitchForm(Form):
    member = StringField("家庭成员")

    def validate_member(self, field: Field) -> None:
        # ASCII digits, or not a person at all; a number no row can have is the view's 404.
        if not re.fullmatch(r"[0-9]{1,30}", field.data or ""):
            raise ValidationError("请选择要切换的家庭成员")
        field.data = int(field.data)


# Deregistration (SPEC 2.8, 4.3).

DECLARANT_ROLE_WORDS: dict[DeclarantRole, str] = {
    DeclarantRole.SELF: "本人",
    DeclarantRole.FAMILY: "家庭成员（代本人申报）",
    DeclarantRole.LANDLORD: "房东（屋主、出租屋主或其代理人）",
    DeclarantRole.EMPLOYER: "用人单位",
    DeclarantRole.SCHOOL: "学校",
    DeclarantRole.HOTEL: "旅馆",
}
DECLARANT_ROLES = choices(DECLARANT_ROLE_WORDS)
REASON_WORDS: dict[Reason, str] = {
    Reason.LEFT_CITY: "离开广州",
    Reason.MOVED_OUT: "搬离登记住址",
    Reason.LEFT_JOB: "离职",
    Reason.LEFT_SCHOOL: "毕业或离校",
    Reason.CHECKED_OUT: "退房",
    Reason.OTHER: "其他",
}
REASONS = choices(REASON_WORDS)


class RoleForm(Form):
    declarant_role = ChoiceField(
        "您以什么身份申报注销？",
        choices=DECLARANT_ROLES,
        message="请选择您申报注销的身份",
        check_label="申报身份",
    )


class DeclarantForm(Form):
    """Persons give name, ID and phone; organisations their name, credit code and contact.

    `setup` keeps only the group that fits the role chosen.
    """

    declarant_name = NameField("申报人姓名", hint="即您本人，须与登录账号一致", autocomplete="name")
    declarant_id_number = IdNumberField("申报人公民身份号码")
    declarant_phone = PhoneField("申报人手机号码")
    org_name = TextField(
        "单位名称", description="与营业执照或登记证书上的名称一致", autocomplete="organization"
    )
    org_uscc = UsccField("统一社会信用代码", hint="18位，见营业执照或登记证书")
    contact_name = NameField("经办人姓名", hint="即您本人，须与登录账号一致", autocomplete="name")
    contact_phone = PhoneField("经办人手机号码")

    refusals: ClassVar[dict[str, str]] = {
        "declarant_id_number.not_account": (
            "申报人姓名和公民身份号码须与登录账号一致，不能使用他人的身份申报"
        ),
        "contact_name.not_account": "经办人姓名须与登录账号的姓名一致",
        "unknown_employer": "未找到以该统一社会信用代码登记的用人单位，请核对营业执照后重新输入",
        "unknown_school": "未找到以该统一社会信用代码登记的学校，请核对营业执照后重新输入",
        "unknown_hotel": "未找到以该统一社会信用代码登记的旅馆，请核对营业执照后重新输入",
        "not_operator": "您不是该单位登记的经办人，不能以该单位名义申报注销",
        "not_registered_name": "单位名称与该统一社会信用代码登记的名称不一致，请核对",
    }

    PERSON_FIELDS = ("declarant_name", "declarant_id_number", "declarant_phone")
    ORG_FIELDS = ("org_name", "org_uscc", "contact_name", "contact_phone")

    def keep_fields_for(self, role: str) -> None:
        drop = self.PERSON_FIELDS if role in ORGANISATION_ROLES else self.ORG_FIELDS
        for name in drop:
            delattr(self, name)

    def check_rows(self) -> list[tuple[str, str]]:
        # One row for who declares, as one change link leads to all of it.
        if "org_uscc" in self:  # the fields kept for an organisation (keep_fields_for)
            return [
                (
                    "申报单位",
                    f"{self.org_name.data}（{self.org_uscc.data}），"
                    f"经办人{self.contact_name.data} {self.contact_phone.data}",
                )
            ]
        masked = identity.mask_id_number(self.declarant_id_number.data or "")
        return [("申报人", f"{self.declarant_name.data} {masked} {self.declarant_phone.data}")]

    def validate_org_name(self, field: Field) -> None:
        field.data = " ".join(plain_text(field.data).split())
        if not field.data:
            raise ValidationError("请输入单位名称")
        if len(field.data) > 100:
            raise ValidationError("单位名称不能超过100个字")


class DeregisterApplicantForm(ApplicantChoiceMixin, Form):
    refusals: ClassVar[dict[str, str]] = {
        **ApplicantChoiceMixin.refusals,
        # One answer whether the person does not exist, holds no permit, or lives or works
        # elsewhere: a declarant learns nothing about anyone not registered with them.
        "not_tenant": (
            "在您的房屋登记居住的人员中没有此人，请核对姓名和公民身份号码。"
            "房东只能为在本人房屋登记居住的人员申报注销"
        ),
        "not_employer_member": (
            "在本单位登记的员工中没有此人，请核对姓名和公民身份号码。只能为本单位登记的员工申报注销"
        ),
        "not_school_member": (
            "在本单位登记的学生中没有此人，请核对姓名和公民身份号码。只能为本单位登记的学生申报注销"
        ),
        "not_hotel_member": (
            "在本单位登记的住客中没有此人，请核对姓名和公民身份号码。只能为本单位登记的住客申报注销"
        ),
    }

    member = member_field()
    applicant_name = applicant_name_field()
    applicant_id_number = applicant_id_number_field()

    def check_rows_for(self, person: Any) -> list[tuple[str, str]]:
        return [("持证人", self.person_words(person))]


class DateTextField(TextField):
    """A date typed as text: 2026-11-25, 2026/11/25, 2026年11月25日 or 20261125.

    A text box rather than a date picker: it reads and types the same on every phone, with
    screen readers, and with the keyboard alone.
    """

    data: Any  # the text typed, then the date it names once checked
    inputmode = "numeric"
    width = 11

    def pre_validate(self, form: Form) -> None:  # type: ignore[override]
        raw = "".join(unicodedata.normalize("NFKC", self.data or "").split())
        if not raw:
            raise ValidationError(f"请输入{self.label.text}")
        try:
            self.data = rules.date_from_text(raw)
        except rules.DateUnreadable as error:
            raise ValidationError(f"{self.label.text}应按“年-月-日”填写，如2026-11-25") from error
        except rules.DateNotReal as error:
            raise ValidationError(f"{self.label.text}不是一个存在的日期，请核对") from error

    def _value(self) -> str:
        if isinstance(self.data, date):
            return self.data.isoformat()
        return str(self.data) if self.data is not None else ""

    def display(self) -> Markup:
        """As every page shows a date (SPEC 4.8)."""
        day = self.data if isinstance(self.data, date) else date.fromisoformat(str(self.data))
        return Markup('<time datetime="{}">{}年{}月{}日</time>').format(
            day.isoformat(), day.year, day.month, day.day
        )


class ReasonForm(Form):
    reason = ChoiceField("注销原因", choices=REASONS, message="请选择注销原因")
    reason_detail = TextAreaField("其他原因说明", description="选择“其他”时必须填写，100字以内")
    leave_date = DateTextField("离开日期", description="申请人离开登记住址的日期，如2026-11-25")

    def validate_reason_detail(self, field: Field) -> None:
        field.data = plain_text(field.data) or None
        if self.reason.data == "other" and not field.data:
            raise ValidationError("请填写其他原因说明")
        if field.data and len(field.data) > 100:
            raise ValidationError("其他原因说明不能超过100个字")
        if self.reason.data != "other":
            field.data = None

    def validate_leave_date(self, field: Field) -> None:
        if isinstance(field.data, date) and field.data > self.today:
            raise ValidationError("离开日期不能晚于今天")

    def refuse_before_issue(self, issued: date) -> None:
        self.add_error(
            "leave_date",
            f"离开日期不能早于居住证签发日期（{issued.year}年{issued.month}月{issued.day}日）",
        )


# Workspace (SPEC 10): the roster's ticked rows, a batch's reason, a file of departures.


ROW_ID = re.compile(r"[0-9a-f]{20}")


class RowIdsField(Field):
    """The roster's checkboxes `selected`: opaque row ids, kept only when well-formed."""

    data: list[str]

    def process_formdata(self, valuelist: list[Any]) -> None:
        well_formed = [v for v in valuelist if isinstance(v, str) and ROW_ID.fullmatch(v)]
        self.data = well_formed[:5000]


# Staff console (SPEC 12). Field names are a contract: `number`, `password`, `totp`, `q`,
# `decision`, `note`.


class PasswordField(TextField):
    """A password: never drawn back into the page, whatever was typed."""

    input_type = "password"
    autocomplete = "current-password"

    def _value(self) -> str:
        return ""


class DepartureSelectionForm(Form):
    selected = RowIdsField("选择人员")

    def validate_selected(self, field: Field) -> None:
        if not field.data:
            raise ValidationError("请勾选要申报离开的人员")


class BatchReasonForm(ReasonForm):
    leave_date = DateTextField("离开日期", description="所选人员离开的日期，如2026-11-25")


# The roster's role as the page names it, and the reason preselected for it (SPEC 10.4).
ROSTER_ROLE_WORDS: dict[DeclarantRole, str] = {
    DeclarantRole.LANDLORD: "房东",
    DeclarantRole.EMPLOYER: "用人单位",
    DeclarantRole.SCHOOL: "学校",
    DeclarantRole.HOTEL: "旅馆",
}


class UploadField(Field):
    """A file input, drawn by the same field macro as every other input."""

    input_type = "file"
    autocomplete: str | None = None
    inputmode: str | None = None
    width: int | None = None
    spellcheck = True  # no attribute for a file input

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = valuelist[0] if valuelist else None

    def _value(self) -> str:
        return ""


class DepartureUploadForm(Form):
    file = UploadField(
        "选择文件",
        description="CSV或Excel（.xlsx）文件，不超过2MB、5000行。第一行为表头：公民身份号码,姓名,离开日期，可加第4列“原因”",
    )

    def validate_file(self, field: Field) -> None:
        if not getattr(field.data, "filename", None):
            raise ValidationError("请选择要上传的文件")

    FILE_MESSAGES: ClassVar[dict[str, str]] = {
        "empty": "文件是空的，请检查后重新上传",
        "too_big": "文件超过2MB，请分成几个文件上传",
        "too_many_rows": "文件超过5000行，请分成几个文件上传",
        "binary": "无法读取该文件，请上传CSV或Excel（.xlsx）文件",
        "encoding": "无法识别文件的文字编码，请在Excel或WPS中另存为“CSV UTF-8”或.xlsx后重新上传",
        "old_excel": "不支持旧版Excel（.xls）文件，请另存为.xlsx或CSV后重新上传",
        "bad_excel": "无法读取该Excel文件，请确认文件没有损坏，或另存为CSV后重新上传",
        "bad_csv": "无法读取该CSV文件，请确认文件没有损坏后重新上传",
        "header": (
            "文件第一行应为表头“公民身份号码,姓名,离开日期”（可加第4列“原因”），请按示例修改后重新上传"
        ),
        "no_rows": "文件只有表头，没有人员，请填写后重新上传",
    }

    def row_message(self, problem: Any, roster_words: str) -> str:
        """第N行:… for one refused row (services.departure_file.Problem)."""
        code, detail = problem.code, problem.detail
        if code.startswith("id_"):
            id_code = code.removeprefix("id_")
            text = (
                "公民身份号码被Excel存成了数字，已无法还原。请把该列设为“文本”后重新填写"
                if id_code == "as_number"
                else message_for(id_code, "公民身份号码")
            )
        elif code == "not_on_roster":
            text = f"该公民身份号码不在{roster_words}登记人员中"
        elif code == "duplicate":
            text = f"与第{detail['first']}行的公民身份号码重复"
        elif code == "date_before_issue":
            issued = detail["issued"]
            text = (
                "离开日期不能早于该人员居住证签发日期"
                f"（{issued.year}年{issued.month}月{issued.day}日）"
            )
        elif code == "reason_too_long":
            text = f"原因不能超过{detail['max']}个字"
        else:
            text = {
                "name_empty": "请填写姓名",
                "name_mismatch": "姓名与该公民身份号码登记的姓名不一致",
                "date_empty": "请填写离开日期",
                "date_unreadable": "离开日期应按“年-月-日”填写，如2026-11-05",
                "date_not_real": "离开日期不是一个存在的日期，请核对",
                "date_number": (
                    "离开日期是一个数字，不是日期。请把该列设为日期或文本，按“年-月-日”填写"
                ),
                "date_future": "离开日期不能晚于今天",
            }[code]
        return f"第{problem.row}行：{text}"


# Change of address (居住变更登记, SPEC 9.2). Field names are a contract, as above.

HOUSING_WORDS: dict[Housing, str] = {
    Housing.RENTED: "租住",
    Housing.OWNED: "自有住房",
    Housing.RELATIVE: "借住亲友",
    Housing.DORMITORY: "单位或学校宿舍",
}
HOUSINGS = choices(HOUSING_WORDS)
NOT_LISTED = "none"  # "my new address is not in the list": leads to the stop page


class MoveAddressForm(Form):
    """The register search (`district`, `q`, sent by GET on the same page) and the choice of
    one of its results (`address_id`, POSTed). `setup` fills the results from the query."""

    heading = "新的居住地址"
    district = RadioField("所在区", choices=[], validate_choice=False)
    q = TextField(
        "地址关键字", description="至少2个字，如街道名和门牌号“江南大道中300号”", width=18
    )
    address_id = RadioField("搜索结果", choices=[], validate_choice=False)

    refusals: ClassVar[dict[str, str]] = {
        "not_in_register": "所选地址不在标准地址库中，请重新搜索并从结果中选择",
        "same_address": "新地址与现登记地址相同",
    }
    district_choices: ClassVar[list[tuple[str, str]]] = [("", "全部区")] + [
        (name, name) for name in DISTRICTS
    ]
    query_too_short = "地址关键字至少输入2个字"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.district.choices = self.district_choices
        self.results: list[Any] = []
        self.searched = False

    def show_results(self, results: list[Any]) -> None:
        self.searched = True
        self.results = results
        choices = [(str(address.id), address.line) for address in results]
        self.address_id.choices = [*choices, (NOT_LISTED, "列表中没有我的新地址")]

    def add_error(self, field: str, message: str) -> None:
        self._keep_choice_shown()
        super().add_error(field, message)

    def _keep_choice_shown(self) -> None:
        # A refused choice is shown with its radios, so that its message has a field to sit
        # by and the error summary's link somewhere to go, even when nothing was searched.
        if not self.searched:
            self.show_results(self.results)

    def validate_address_id(self, field: Field) -> None:
        value = (field.data or "").strip()
        if value == NOT_LISTED:
            field.data = NOT_LISTED
            return
        if not value:
            self._keep_choice_shown()
            raise ValidationError("请先搜索，再从结果中选择新的居住地址")
        if not re.fullmatch(r"[0-9]{1,15}", value):
            field.data = None
            self._keep_choice_shown()
            raise ValidationError(self.refusals["not_in_register"])
        field.data = value

    def validate_q(self, field: Field) -> None:
        field.data = None  # the search is the page's query, never a stored answer

    def validate_district(self, field: Field) -> None:
        field.data = None

    def check_rows(self) -> list[tuple[str, str]]:
        return []  # the step's `rows` hook names the address from the register


class MovedOnForm(Form):
    moved_on = DateTextField("搬入新地址的日期", description="如2026-11-25，不能晚于今天")

    def validate_moved_on(self, field: Field) -> None:
        if isinstance(field.data, date) and field.data > self.today:
            raise ValidationError("搬入日期不能晚于今天")

    def refuse_before_registration(self, since: date) -> None:
        self.add_error(
            "moved_on",
            f"搬入日期不能早于现地址的登记日期（{since.year}年{since.month}月{since.day}日）",
        )


class HousingForm(Form):
    housing = ChoiceField(
        "在新地址的居住方式", choices=HOUSINGS, message="请选择在新地址的居住方式"
    )
    refusals: ClassVar[dict[str, str]] = {
        "not_owner": "您选择了自有住房，但申请人不是该房屋登记的产权人。请选择其他居住方式",
    }


class MoveApplicantForm(EndorseApplicantForm):
    """The same agent and applicant questions as endorsement (SPEC 9.2)."""


class StillInCityForm(Form):
    still_in_city = ChoiceField(
        "搬离后是否仍在广州居住？",
        choices=[("yes", "是，搬到了广州的其他地址"), ("no", "否，已离开广州")],
        message="请选择搬离后是否仍在广州居住",
        check_label="仍在广州居住",
    )


class ConfirmationForm(Form):
    """The answerer's decision on a change of address (SPEC 10.7)."""

    decision = ChoiceField(
        "是否确认该人员在此居住？",
        choices=[("confirm", "确认，此人已搬入"), ("refuse", "拒绝")],
        message="请选择确认或拒绝",
    )
    refuse_reason = TextAreaField("拒绝原因", description="选择拒绝时必须填写，100字以内")

    def validate_refuse_reason(self, field: Field) -> None:
        field.data = plain_text(field.data) or None
        if self.decision.data == "refuse" and not field.data:
            raise ValidationError("请填写拒绝原因")
        if field.data and len(field.data) > 100:
            raise ValidationError("拒绝原因不能超过100个字")
        if self.decision.data != "refuse":
            field.data = None


# Objection to a deregistration (SPEC 11.1).

OBJECTION_MAX_CHARS = 500


class ObjectionForm(Form):
    statement = TextAreaField(
        "异议理由",
        description="请说明您为什么认为注销有误，例如您仍住在登记地址。500字以内",
    )
    declaration = BooleanField("声明")

    def validate_statement(self, field: Field) -> None:
        field.data = plain_text(field.data)
        if not field.data:
            raise ValidationError("请填写异议理由")
        if len(field.data) > OBJECTION_MAX_CHARS:
            raise ValidationError(
                f"异议理由不能超过{OBJECTION_MAX_CHARS}个字，现在是{len(field.data)}个字"
            )

    def validate_declaration(self, field: Field) -> None:
        if field.raw_data != ["y"]:
            field.data = False
            raise ValidationError("请勾选声明，确认异议理由真实")


# How a family link was agreed to (SPEC 2.9, 11.2, 11.3), as the holder's side shows it.
LINK_BASIS_WORDS: dict[LinkBasis, str] = {
    LinkBasis.CONSENTED: "本人短信验证同意",
    LinkBasis.APPROVED: "已列其为家庭成员的人短信验证同意",
    LinkBasis.DIRECT: "凭姓名和公民身份号码直接添加",
}


class StaffNumberField(TextField):
    autocomplete = "username"
    inputmode = "numeric"
    width = 12

    def pre_validate(self, form: Form) -> None:  # type: ignore[override]
        self.data = "".join(unicodedata.normalize("NFKC", self.data or "").split())
        if not self.data:
            raise ValidationError("请输入员工编号")


class StaffLoginForm(Form):
    number = StaffNumberField("员工编号")
    password = PasswordField("密码")

    def validate_password(self, field: Field) -> None:
        if not field.data:
            raise ValidationError("请输入密码")


class TotpField(TextField):
    """The six digits an authenticator app shows; spaces and full-width digits accepted."""

    autocomplete = "one-time-code"
    inputmode = "numeric"
    width = 6

    def pre_validate(self, form: Form) -> None:  # type: ignore[override]
        raw = "".join(unicodedata.normalize("NFKC", self.data or "").split())
        if not raw:
            raise ValidationError("请输入动态验证码")
        if not (len(raw) == 6 and raw.isascii() and raw.isdigit()):
            raise ValidationError("动态验证码应为6位数字，请查看身份验证器后重新输入")
        self.data = raw


class StaffTotpForm(Form):
    totp = TotpField("动态验证码", description="身份验证器应用中显示的6位数字，每30秒更新")


class StaffSearchForm(Form):
    q = TextField(
        "办件编号、公民身份号码或手机号码",
        description="请输入完整的办件编号（如ZX20261125K7M2Q9X）、18位公民身份号码或11位手机号码",
        width=18,
    )

    def validate_q(self, field: Field) -> None:
        field.data = plain_text(field.data)
        if not field.data:
            raise ValidationError("请输入办件编号、公民身份号码或手机号码")


class OptionalDateField(DateTextField):
    def pre_validate(self, form: Form) -> None:  # type: ignore[override]
        if not (self.data or "").strip():
            self.data = None
            return
        super().pre_validate(form)


ALL_CITY = ""


class StaffStatsForm(Form):
    start = OptionalDateField("开始日期", description="如2026-11-01；不填则为30天前")
    end = OptionalDateField("结束日期", description="如2026-11-30；不填则为今天")
    district = ChoiceField(
        "区",
        choices=[(ALL_CITY, "全市"), *((d, d) for d in DISTRICTS)],
        message="请选择区",
        default=ALL_CITY,
    )

    def validate_end(self, field: Field) -> None:
        start = self.start.data
        if isinstance(start, date) and isinstance(field.data, date):
            if field.data < start:
                raise ValidationError("结束日期不能早于开始日期")
            if (field.data - start).days >= 366:
                raise ValidationError("统计范围不能超过一年，请缩短日期范围")


NOTE_MAX_CHARS = 500


class DecisionForm(Form):
    decision = ChoiceField(
        "处理决定",
        choices=[("restore", "撤销注销，恢复居住证"), ("uphold", "维持注销")],
        message="请选择处理决定",
    )
    note = TextAreaField("处理说明", description=f"必填，{NOTE_MAX_CHARS}字以内，将告知持证人")

    def validate_note(self, field: Field) -> None:
        field.data = plain_text(field.data)
        if not field.data:
            raise ValidationError("请填写处理说明")
        if len(field.data) > NOTE_MAX_CHARS:
            raise ValidationError(
                f"处理说明不能超过{NOTE_MAX_CHARS}个字（现为{len(field.data)}个字）"
            )
