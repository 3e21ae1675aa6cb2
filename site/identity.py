"""Normalising and checking identity input (SPEC 3), and masking it for display (SPEC 2.11, 2.12).

Pure functions: no Flask, no database, no clock. Errors are `IdentityError` with a machine
code; forms.py turns each code into a Chinese message that names the field (SPEC 3.5).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from stdnum.cn import ric, uscc

__all__ = [
    "ERROR_CODES",
    "IdentityError",
    "age_on",
    "birth_date_of",
    "check_id_number",
    "check_name",
    "check_phone",
    "check_uscc",
    "mask_id_number",
    "mask_name",
    "normalise_id_number",
    "normalise_name",
    "normalise_phone",
    "normalise_uscc",
    "sex_of",
]

# Listed so forms.py can test that every code has a message.
ERROR_CODES: tuple[str, ...] = (
    "empty",
    "id_15_digits",
    "id_length",
    "id_format",
    "id_birth_date",
    "id_birth_future",
    "id_check_digit",
    "uscc_length",
    "uscc_format",
    "uscc_check",
    "phone_format",
    "name_too_long",
    "name_chars",
)


class IdentityError(ValueError):
    """Identity input was refused; `code` is one of ERROR_CODES."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# Hyphen-minus survives NFKC, but people paste numbers from documents and chats that use
# typographic dashes or the minus sign, so every dash is treated as a separator. Escaped
# hyphen first: the string is spliced into regex character classes.
_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_SEPARATORS = re.compile(rf"[\s{_DASHES}]+")

# re.ASCII keeps Arabic-Indic and other non-ASCII digits (which \d and int() accept) out.
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_ID_15 = re.compile(r"[0-9]{15}", re.ASCII)
_OLDEST_BIRTH_DATE = date(1900, 1, 1)

# GB 32100 leaves out I, O, S, V and Z so they cannot be misread as 1, 0, 5, U and 2.
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}", re.ASCII)

_PHONE_SEPARATORS = re.compile(rf"[\s{_DASHES}()]+")
_PHONE_COUNTRY_CODE = re.compile(r"(?:\+86|0086|86)(?=[0-9]{11}$)", re.ASCII)
_MOBILE = re.compile(r"1[3-9][0-9]{9}", re.ASCII)

_NAME_MAX_CHARS = 30
_NAME_DOT = "·"
# Chinese, Japanese and Korean input methods and word processors produce these instead of
# U+00B7 when people type the separator in 少数民族 names. Mapped before NFKC because NFKC
# turns the full-width full stop into an ASCII "." that we must keep refusing.
_NAME_DOT_VARIANTS = str.maketrans(
    dict.fromkeys("\u2022\u30fb\u00b7\uff0e\u2027\u22c5\uff65\u2219\u2e31\u0387", _NAME_DOT)
)
_NAME_SPACE_AROUND_DOT = re.compile(r"\s*·\s*")
# CJK Unified Ideographs, Extension A, Extensions B-H, the compatibility block (a few of its
# code points are unified ideographs that NFKC leaves alone) and 〇, which appears in names.
_NAME_CHARS = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af\u3007A-Za-z ·]+"
)


def _nfkc(raw: str) -> str:
    # Chinese IMEs emit full-width digits, letters and the ideographic space (U+3000);
    # NFKC folds them to their ASCII forms.
    return unicodedata.normalize("NFKC", raw)


# --- 公民身份号码 (GB 11643) -----------------------------------------------------------------


def normalise_id_number(raw: str) -> str:
    """Fold full-width characters, drop spaces and dashes, and upper-case a trailing x."""
    return _SEPARATORS.sub("", _nfkc(raw)).upper()


def check_id_number(raw: str, today: date) -> str:
    """Return the normalised 18-character number, or raise IdentityError."""
    number = normalise_id_number(raw)
    if not number:
        raise IdentityError("empty")
    # Old 15-digit numbers are no longer accepted; they get their own message telling the
    # user to use the 18-digit number rather than a bare "wrong length".
    if _ID_15.fullmatch(number):
        raise IdentityError("id_15_digits")
    if len(number) != 18:
        raise IdentityError("id_length")
    if not _ID_SHAPE.fullmatch(number):
        raise IdentityError("id_format")
    birth_date = birth_date_of(number)
    if birth_date > today or birth_date < _OLDEST_BIRTH_DATE:
        raise IdentityError("id_birth_future")
    # The region code is deliberately not looked up: stdnum's validate() refuses districts
    # missing from its table, such as 440102 东山区, which real people still carry.
    if ric.calc_check_digit(number) != number[-1]:
        raise IdentityError("id_check_digit")
    return number


def _well_formed_id_number(id_number: str) -> str:
    number = normalise_id_number(id_number)
    if not _ID_SHAPE.fullmatch(number):
        raise IdentityError("id_format")
    return number


def birth_date_of(id_number: str) -> date:
    """Birth date encoded in positions 7-14; IdentityError if it is not a real date."""
    number = _well_formed_id_number(id_number)
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdentityError("id_birth_date") from None


def age_on(id_number: str, today: date) -> int:
    """Completed years on `today` (someone born on 29 February turns a year older on 1 March)."""
    born = birth_date_of(id_number)
    before_birthday = (today.month, today.day) < (born.month, born.day)
    return today.year - born.year - before_birthday


def sex_of(id_number: str) -> str:
    """Return "male" or "female" from the 17th digit: odd is male (GB 11643)."""
    number = _well_formed_id_number(id_number)
    return "male" if int(number[16]) % 2 else "female"


# --- 统一社会信用代码 (GB 32100) --------------------------------------------------------------


def normalise_uscc(raw: str) -> str:
    """Fold full-width characters, drop spaces and dashes, upper-case."""
    return _SEPARATORS.sub("", _nfkc(raw)).upper()


def check_uscc(raw: str) -> str:
    """Return the normalised 18-character credit code, or raise IdentityError."""
    code = normalise_uscc(raw)
    if not code:
        raise IdentityError("empty")
    if len(code) != 18:
        raise IdentityError("uscc_length")
    if not _USCC_SHAPE.fullmatch(code):
        raise IdentityError("uscc_format")
    if uscc.calc_check_digit(code[:17]) != code[17]:
        raise IdentityError("uscc_check")
    return code


# --- Mobile numbers --------------------------------------------------------------------------


def normalise_phone(raw: str) -> str:
    """Fold full-width characters, drop spaces, dashes and brackets, drop a +86/0086/86 prefix."""
    phone = _PHONE_SEPARATORS.sub("", _nfkc(raw))
    # Only when exactly a mobile number follows, so a short or odd input stays visibly wrong.
    return _PHONE_COUNTRY_CODE.sub("", phone, count=1)


def check_phone(raw: str) -> str:
    """Return the 11-digit mainland mobile number, or raise IdentityError."""
    phone = normalise_phone(raw)
    if not phone:
        raise IdentityError("empty")
    if not _MOBILE.fullmatch(phone):
        raise IdentityError("phone_format")
    return phone


# --- Names -----------------------------------------------------------------------------------


def normalise_name(raw: str) -> str:
    """Unify middle dots, fold full-width characters, trim and collapse whitespace."""
    name = _nfkc(raw.translate(_NAME_DOT_VARIANTS))
    # NFKC produces U+00B7 from some compatibility characters (e.g. Greek ano teleia).
    name = name.translate(_NAME_DOT_VARIANTS)
    name = " ".join(name.split())
    # People often put spaces around the dot ("阿依古丽 · 买买提"); the registered name has none.
    return _NAME_SPACE_AROUND_DOT.sub(_NAME_DOT, name)


def check_name(raw: str) -> str:
    """Return the normalised name, or raise IdentityError."""
    name = normalise_name(raw)
    if not name:
        raise IdentityError("empty")
    if len(name) > _NAME_MAX_CHARS:
        raise IdentityError("name_too_long")
    if (
        not _NAME_CHARS.fullmatch(name)
        or name.startswith(_NAME_DOT)
        or name.endswith(_NAME_DOT)
        or _NAME_DOT * 2 in name
    ):
        raise IdentityError("name_chars")
    return name


# --- Masks (SPEC 2.11, 2.12) -----------------------------------------------------------------


def mask_id_number(id_number: str) -> str:
    """Keep the first and last four characters: "4301**********1234"."""
    if len(id_number) <= 8:
        # Too short to leave anything visible without revealing most of it.
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def mask_name(name: str) -> str:
    """Return "张*明", "张**伟"; two-character names keep the surname ("李*"); one char is "*"."""
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
