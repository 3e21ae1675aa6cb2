"""WTForms classes, one per step, built from reusable field types with Chinese messages.

Checks run on the server only (forms carry `novalidate`); a field keeps what the person typed
when it is refused, and holds the normalised value when it is accepted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, RadioField, StringField, TextAreaField
from wtforms.validators import ValidationError

from epermit import identity
from epermit.services import codes

MESSAGES = {
    "empty": "请输入{label}",
    "id_15_digits": "请使用18位公民身份号码",
    "id_length": "{label}应为18位,请核对后重新输入",
    "id_format": "{label}应为17位数字加最后1位数字或字母X",
    "id_birth_date": "{label}中的出生日期不存在,请核对后重新输入",
    "id_birth_future": "{label}中的出生日期不正确,请核对后重新输入",
    "id_check_digit": "{label}最后一位校验码不正确,请核对后重新输入",
    "uscc_length": "{label}应为18位,请核对营业执照后重新输入",
    "uscc_format": "{label}只能包含数字和大写字母(不含I、O、Z、S、V)",
    "uscc_check": "{label}最后一位校验码不正确,请核对营业执照后重新输入",
    "phone_format": "{label}应为以1开头的11位数字,如13800000000",
    "name_too_long": "{label}不能超过30个字",
    "name_chars": "{label}只能包含汉字、字母和间隔号“·”",
}


def plain_text(raw: str | None) -> str:
    """Free text as a person can type it: control and format characters dropped (nobody types
    them, and PostgreSQL cannot store NUL at all), line breaks kept, ends trimmed."""
    return "".join(
        c for c in raw or "" if c == "\n" or unicodedata.category(c) not in ("Cc", "Cf")
    ).strip()


TOO_OFTEN = "操作过于频繁,请稍后再试"


def message_for(code: str, label: str) -> str:
    return MESSAGES[code].format(label=label)


class Form(FlaskForm):
    """Base form: knows today's date, which some checks need (birth dates, leave dates)."""

    def __init__(self, *args: Any, today: date | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today or date.today()

    @property
    def field_errors(self) -> list[tuple[Field, str]]:
        """(field, first message) in page order, for the error summary."""
        return [
            (field, field.errors[0])
            for field in self
            if field.errors and field.name != "csrf_token"
        ]


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
            raise ValidationError(f"{self.label.text}应为6位数字,请查看短信后重新输入")
        self.data = raw


def code_error(error: codes.CodeError, resend: str, check_with: str = "") -> str:
    """The message for an SMS code that was not accepted; `resend` names the button that
    sends a new one, `check_with` whom to check the SMS with (the applicant, say)."""
    if isinstance(error, codes.CodeWrong):
        return f"验证码不正确,请{check_with}核对短信后重新输入(还可尝试{error.remaining}次)"
    if isinstance(error, codes.CodeExpired):
        return f"验证码已过期,请点击“{resend}”"
    if isinstance(error, codes.CodeLocked):
        return f"验证码输入错误次数过多,已失效,请点击“{resend}”"
    return f"验证码已失效,请点击“{resend}”"


class ChoiceField(RadioField):
    """Radios whose 'not chosen' message names the question."""

    def __init__(self, label: str, choices: list[tuple[str, str]], message: str, **kwargs: Any):
        super().__init__(label, choices=choices, validate_choice=False, **kwargs)
        self.message = message

    def pre_validate(self, form: Form) -> None:  # type: ignore[override]
        if self.data not in {value for value, _ in self.choices}:  # type: ignore[union-attr]
            self.data = None
            raise ValidationError(self.message)


class LoginForm(Form):
    phone = PhoneField("手机号码", hint="请输入您登记的手机号码,我们会发送6位验证码")


class VerifyForm(Form):
    code = CodeField("短信验证码", description="6位数字,5分钟内有效")


# Wizard steps (SPEC 4.2, 4.3). Field names are a contract: tests outside the repo post them.

RELATIONSHIPS = [
    ("spouse", "配偶"),
    ("parent", "父母"),
    ("child", "子女"),
    ("sibling", "兄弟姐妹"),
    ("grandparent", "祖父母/外祖父母"),
    ("grandchild", "孙子女/外孙子女"),
    ("other_relative", "其他近亲属"),
]
RELATIONSHIP_WORDS = dict(RELATIONSHIPS)
OTHER_PERSON = "other"


class WhoForm(Form):
    for_whom = ChoiceField(
        "您为谁办理?",
        choices=[("self", "为本人办理"), ("other", "为他人办理(代办家庭成员等)")],
        message="请选择为本人办理还是为他人办理",
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

    def set_members(self, members: list[tuple[str, str]]) -> None:
        choices = [*members, (OTHER_PERSON, "其他人(填写下面的姓名和公民身份号码)")]
        self.member.choices = choices  # type: ignore[attr-defined]

    def validate_member(self, field: Field) -> None:
        allowed = {value for value, _ in field.choices}  # type: ignore[attr-defined]
        if field.data in (None, "", "None"):
            field.data = None
            if len(allowed) > 1 and not (self.applicant_name.data or self.applicant_id_number.data):  # type: ignore[attr-defined]
                raise ValidationError("请选择申请人,或填写申请人的姓名和公民身份号码")
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
    agent_name = NameField("代办人姓名", hint="即您本人,须与登录账号一致", autocomplete="name")
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


class ConsentForm(Form):
    consent_code = CodeField("申请人收到的短信验证码", description="6位数字,5分钟内有效")


class ResidenceForm(Form):
    address_unchanged = ChoiceField(
        "申请人现在是否仍住在登记的居住地址?",
        choices=[("yes", "是,仍住在登记地址"), ("no", "否,已经搬到其他地址")],
        message="请选择是否仍住在登记的居住地址",
    )


class DeclarationForm(Form):
    declaration = BooleanField("声明")

    def validate_declaration(self, field: Field) -> None:
        # The box sends "y"; anything else is not a ticked declaration (SPEC 4.2).
        if field.raw_data != ["y"]:
            field.data = False
            raise ValidationError("请勾选声明,确认所填信息真实准确")


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
        "家庭成员收到的短信验证码", description="6位数字,5分钟内有效,请向该家庭成员索取"
    )


class FamilySwitchForm(Form):
    member = StringField("家庭成员")

    def validate_member(self, field: Field) -> None:
        # A row id: ASCII digits that fit a database integer, or not a person at all.
        if not re.fullmatch(r"[0-9]{1,15}", field.data or ""):
            raise ValidationError("请选择要切换的家庭成员")
        field.data = int(field.data)


# Deregistration (SPEC 2.8, 4.3).

DECLARANT_ROLES = [
    ("self", "本人"),
    ("family", "家庭成员(代本人申报)"),
    ("landlord", "房东(屋主、出租屋主或其代理人)"),
    ("employer", "用人单位"),
    ("school", "学校"),
    ("hotel", "旅馆"),
]
ORGANISATION_ROLES = ("employer", "school", "hotel")
REASONS = [
    ("left_city", "离开广州"),
    ("moved_out", "搬离登记住址"),
    ("left_job", "离职"),
    ("left_school", "毕业或离校"),
    ("checked_out", "退房"),
    ("other", "其他"),
]
REASON_WORDS = dict(REASONS)


class RoleForm(Form):
    declarant_role = ChoiceField(
        "您以什么身份申报注销?",
        choices=DECLARANT_ROLES,
        message="请选择您申报注销的身份",
    )


class DeclarantForm(Form):
    """Persons give name, ID and phone; organisations their name, credit code and contact.

    `setup` keeps only the group that fits the role chosen.
    """

    declarant_name = NameField("申报人姓名", hint="即您本人,须与登录账号一致", autocomplete="name")
    declarant_id_number = IdNumberField("申报人公民身份号码")
    declarant_phone = PhoneField("申报人手机号码")
    org_name = TextField(
        "单位名称", description="与营业执照或登记证书上的名称一致", autocomplete="organization"
    )
    org_uscc = UsccField("统一社会信用代码", hint="18位,见营业执照或登记证书")
    contact_name = NameField("经办人姓名", hint="即您本人,须与登录账号一致", autocomplete="name")
    contact_phone = PhoneField("经办人手机号码")

    PERSON_FIELDS = ("declarant_name", "declarant_id_number", "declarant_phone")
    ORG_FIELDS = ("org_name", "org_uscc", "contact_name", "contact_phone")

    def keep_fields_for(self, role: str) -> None:
        drop = self.PERSON_FIELDS if role in ORGANISATION_ROLES else self.ORG_FIELDS
        for name in drop:
            delattr(self, name)

    def validate_org_name(self, field: Field) -> None:
        field.data = " ".join(plain_text(field.data).split())
        if not field.data:
            raise ValidationError("请输入单位名称")
        if len(field.data) > 100:
            raise ValidationError("单位名称不能超过100个字")


class DeregisterApplicantForm(ApplicantChoiceMixin, Form):
    member = member_field()
    applicant_name = applicant_name_field()
    applicant_id_number = applicant_id_number_field()


class DateTextField(TextField):
    """A date typed as text: 2026-11-25, 2026/11/25, 2026年11月25日 or 20261125.

    A text box rather than a date picker: it reads and types the same on every phone, with
    screen readers, and with the keyboard alone.
    """

    inputmode = "numeric"
    width = 11

    def pre_validate(self, form: Form) -> None:  # type: ignore[override]
        raw = "".join(unicodedata.normalize("NFKC", self.data or "").split())
        if not raw:
            raise ValidationError(f"请输入{self.label.text}")
        match = re.fullmatch(
            r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{4})(\d{2})(\d{2})", raw
        )
        if not match:
            raise ValidationError(f"{self.label.text}应按“年-月-日”填写,如2026-11-25")
        parts = [int(p) for p in match.groups() if p is not None]
        try:
            self.data = date(*parts)
        except ValueError as error:
            raise ValidationError(f"{self.label.text}不是一个存在的日期,请核对") from error

    def _value(self) -> str:
        if isinstance(self.data, date):
            return self.data.isoformat()
        return super()._value()


class ReasonForm(Form):
    reason = ChoiceField("注销原因", choices=REASONS, message="请选择注销原因")
    reason_detail = TextAreaField("其他原因说明", description="选择“其他”时必须填写,100字以内")
    leave_date = DateTextField("离开日期", description="申请人离开登记住址的日期,如2026-11-25")

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
