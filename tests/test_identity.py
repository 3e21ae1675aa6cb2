"""SPEC 3 identity input rules, and the masks of SPEC 2.11 and 2.12."""

from datetime import date

import pytest
from stdnum.cn import ric

from epermit.identity import (
    ERROR_CODES,
    IdentityError,
    age_on,
    birth_date_of,
    check_id_number,
    check_name,
    check_phone,
    check_uscc,
    mask_id_number,
    mask_name,
    normalise_id_number,
    normalise_name,
    normalise_phone,
    normalise_uscc,
    sex_of,
)

TODAY = date(2025, 6, 1)

VALID_ID_NUMBERS = [
    "430102199003071234",
    "510104199208152241",
    "430102201509051273",
    "450102198801123368",
    "410102199506214459",
    "410102199309144711",
    "440102197804195176",
    "360102198702032880",
    "440111198707101466",
    "440104199005253597",
]
ID_NUMBER_ENDING_IN_X = "43010219900307008X"

VALID_CREDIT_CODES = ["91440106MA5ABC120A", "12440111455123453T", "91440104MA5HXT887K"]


def with_check_digit(first_17: str) -> str:
    """A number whose check digit is right, so only the rule under test can refuse it."""
    return first_17 + ric.calc_check_digit(first_17 + "0")


def error_code(check, *args) -> str:
    with pytest.raises(IdentityError) as refused:
        check(*args)
    return refused.value.code


def test_identity_error_is_a_value_error_carrying_its_code():
    error = IdentityError("id_length")
    assert isinstance(error, ValueError)
    assert error.code == "id_length"


def test_every_code_raised_is_listed_for_forms_to_translate():
    raised = {
        error_code(check_id_number, "", TODAY),
        error_code(check_id_number, "430102900307123", TODAY),
        error_code(check_id_number, "43010219900307123", TODAY),
        error_code(check_id_number, "4301021990030A1234", TODAY),
        error_code(check_id_number, with_check_digit("43010219900230123"), TODAY),
        error_code(check_id_number, with_check_digit("43010220990101123"), TODAY),
        error_code(check_id_number, "430102199003071235", TODAY),
        error_code(check_uscc, "91440106MA5ABC120"),
        error_code(check_uscc, "91440106MA5ABC12OA"),
        error_code(check_uscc, "91440106MA5ABC120B"),
        error_code(check_phone, "12800000001"),
        error_code(check_name, "张" * 31),
        error_code(check_name, "张3"),
    }
    assert raised == set(ERROR_CODES)


# --- 3.1 公民身份号码 ---------------------------------------------------------------------------


@pytest.mark.parametrize("id_number", VALID_ID_NUMBERS)
def test_valid_id_number_is_accepted_unchanged(id_number):
    assert check_id_number(id_number, TODAY) == id_number


def test_region_code_missing_from_library_table_is_accepted():
    # 440102 东山区 was merged into 越秀区 in 2005; its people still carry the number.
    assert check_id_number("440102197804195176", TODAY) == "440102197804195176"


def test_id_number_ending_in_x_is_accepted():
    assert check_id_number(ID_NUMBER_ENDING_IN_X, TODAY) == ID_NUMBER_ENDING_IN_X


def test_lowercase_x_is_normalised_not_refused():
    assert check_id_number("43010219900307008x", TODAY) == ID_NUMBER_ENDING_IN_X


def test_full_width_digits_from_chinese_input_methods_are_normalised():
    assert check_id_number("４３０１０２１９９００３０７１２３４", TODAY) == "430102199003071234"


def test_full_width_x_is_normalised():
    assert check_id_number("43010219900307008Ｘ", TODAY) == ID_NUMBER_ENDING_IN_X


def test_spaces_ideographic_spaces_and_hyphens_are_dropped():
    assert normalise_id_number(" 430102 19900307\u30001234 ") == "430102199003071234"
    assert check_id_number("430102-19900307-1234", TODAY) == "430102199003071234"
    assert check_id_number("4301\t0219\n9003071234", TODAY) == "430102199003071234"


@pytest.mark.parametrize("blank", ["", "   ", "\u3000", " - "])
def test_blank_id_number_is_refused_as_empty(blank):
    assert error_code(check_id_number, blank, TODAY) == "empty"


def test_wrong_check_digit_is_refused():
    assert error_code(check_id_number, "430102199003071235", TODAY) == "id_check_digit"
    assert error_code(check_id_number, "43010219900307123X", TODAY) == "id_check_digit"


def test_fifteen_digit_number_is_told_to_use_eighteen_digits():
    assert error_code(check_id_number, "430102900307123", TODAY) == "id_15_digits"


@pytest.mark.parametrize("id_number", ["43010219900307123", "4301021990030712345", "4301"])
def test_number_not_eighteen_characters_is_refused_for_length(id_number):
    assert error_code(check_id_number, id_number, TODAY) == "id_length"


@pytest.mark.parametrize(
    "id_number",
    [
        "4301021990030A1234",  # letter inside
        "X30102199003071234",  # X only allowed last
        "43010219900307123Y",  # only X as a final letter
        "430102199003071٢34",  # Arabic-Indic digit survives NFKC and must not pass as a digit
    ],
)
def test_letters_or_foreign_digits_inside_the_number_are_refused_for_format(id_number):
    assert error_code(check_id_number, id_number, TODAY) == "id_format"


@pytest.mark.parametrize("first_17", ["43010219900230123", "43010219901301123"])
def test_impossible_birth_date_is_refused_even_with_a_correct_check_digit(first_17):
    id_number = with_check_digit(first_17)
    assert ric.calc_check_digit(id_number) == id_number[-1]
    assert error_code(check_id_number, id_number, TODAY) == "id_birth_date"


def test_birth_date_after_today_is_refused():
    assert error_code(check_id_number, with_check_digit("43010220250602123"), TODAY) == (
        "id_birth_future"
    )


def test_birth_date_today_is_accepted():
    id_number = with_check_digit("43010220250601123")
    assert check_id_number(id_number, TODAY) == id_number


def test_birth_date_before_1900_is_refused():
    assert error_code(check_id_number, with_check_digit("43010218991231123"), TODAY) == (
        "id_birth_future"
    )
    on_1900 = with_check_digit("43010219000101123")
    assert check_id_number(on_1900, TODAY) == on_1900


def test_format_is_checked_before_birth_date_and_check_digit():
    # Wrong length and a wrong check digit together: the length is what the user must fix first.
    assert error_code(check_id_number, "4301021990023012", TODAY) == "id_length"
    # An impossible date and a wrong check digit together: the date is reported.
    assert error_code(check_id_number, "430102199002301230", TODAY) == "id_birth_date"


def test_birth_date_of_reads_positions_seven_to_fourteen():
    assert birth_date_of("430102199003071234") == date(1990, 3, 7)
    assert birth_date_of("440102197804195176") == date(1978, 4, 19)


def test_birth_date_of_impossible_date_raises_identity_error():
    assert error_code(birth_date_of, "430102199002301237") == "id_birth_date"


def test_age_is_completed_years():
    born_2015_09_05 = "430102201509051273"
    assert age_on(born_2015_09_05, date(2025, 9, 4)) == 9
    assert age_on(born_2015_09_05, date(2025, 9, 5)) == 10
    assert age_on("430102199003071234", TODAY) == 35


def test_age_of_someone_born_on_29_february_rises_on_1_march_in_common_years():
    leap_born = with_check_digit("43010220000229123")
    assert age_on(leap_born, date(2018, 2, 28)) == 17
    assert age_on(leap_born, date(2018, 3, 1)) == 18
    assert age_on(leap_born, date(2020, 2, 29)) == 20


@pytest.mark.parametrize(
    ("id_number", "sex"),
    [
        ("430102199003071234", "male"),  # 17th digit 3
        ("510104199208152241", "female"),  # 17th digit 4
        ("410102199309144711", "male"),  # 17th digit 1
        ("360102198702032880", "female"),  # 17th digit 8
        ("43010219900307008X", "female"),  # 17th digit 8, X is the check digit
    ],
)
def test_sex_follows_the_parity_of_the_seventeenth_digit(id_number, sex):
    assert sex_of(id_number) == sex


# --- 3.2 统一社会信用代码 -----------------------------------------------------------------------


@pytest.mark.parametrize("credit_code", VALID_CREDIT_CODES)
def test_valid_credit_code_is_accepted(credit_code):
    assert check_uscc(credit_code) == credit_code


def test_credit_code_lowercase_spaces_and_full_width_are_normalised():
    assert normalise_uscc(" 91440106ma5abc120a ") == "91440106MA5ABC120A"
    assert check_uscc("9144 0106-MA5A BC12 0A") == "91440106MA5ABC120A"
    assert check_uscc("９１４４０１０６ＭＡ５ＡＢＣ１２０Ａ") == "91440106MA5ABC120A"


def test_blank_credit_code_is_refused_as_empty():
    assert error_code(check_uscc, " \u3000") == "empty"


@pytest.mark.parametrize("credit_code", ["91440106MA5ABC120", "91440106MA5ABC120AA"])
def test_credit_code_not_eighteen_characters_is_refused(credit_code):
    assert error_code(check_uscc, credit_code) == "uscc_length"


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z", "*"])
def test_credit_code_with_letters_gb32100_leaves_out_is_refused(letter):
    assert error_code(check_uscc, "91440106MA5AB" + letter + "120A") == "uscc_format"


def test_credit_code_with_wrong_check_character_is_refused():
    assert error_code(check_uscc, "91440106MA5ABC120B") == "uscc_check"
    assert error_code(check_uscc, "12440111455123453A") == "uscc_check"


# --- 3.3 Mobile numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "13800000001",
        "+86 138-0000-0001",
        "0086 13800000001",
        "8613800000001",
        "138 0000 0001",
        "(+86) 138 0000 0001",
        "１３８\u3000００００\u3000０００１",
    ],
)
def test_mobile_number_forms_are_normalised_to_eleven_digits(typed):
    assert check_phone(typed) == "13800000001"


def test_country_code_is_kept_when_no_mobile_number_follows():
    assert normalise_phone("+86 1380000") == "+861380000"
    assert error_code(check_phone, "+86 1380000") == "phone_format"


def test_blank_phone_is_refused_as_empty():
    assert error_code(check_phone, "  -  ") == "empty"


@pytest.mark.parametrize(
    "phone",
    ["12800000001", "23800000001", "1380000000", "138000000012", "1380000000a", "020-83000000"],
)
def test_number_that_is_not_a_mainland_mobile_is_refused(phone):
    assert error_code(check_phone, phone) == "phone_format"


# --- 3.4 Names --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["张伟", "欧阳娜娜", "阿依古丽·买买提", "王〇", "Li Na"])
def test_valid_name_is_accepted_unchanged(name):
    assert check_name(name) == name


@pytest.mark.parametrize("dot", ["•", "・", "．", "‧", "⋅", "･", "\u00b7"])
def test_middle_dot_variants_become_the_name_dot(dot):
    assert check_name(f"阿依古丽{dot}买买提") == "阿依古丽·买买提"


def test_spaces_around_the_name_dot_are_dropped():
    assert normalise_name("阿依古丽 · 买买提") == "阿依古丽·买买提"


def test_name_whitespace_is_trimmed_and_collapsed():
    assert check_name("\u3000 张伟 ") == "张伟"
    assert check_name("Li   Na") == "Li Na"


def test_full_width_latin_letters_are_folded():
    assert check_name("Ｌｉ　Ｎａ") == "Li Na"


def test_blank_name_is_refused_as_empty():
    assert error_code(check_name, " \u3000 ") == "empty"


def test_name_of_thirty_characters_is_accepted_and_thirty_one_refused():
    assert check_name("张" * 30) == "张" * 30
    assert error_code(check_name, "张" * 31) == "name_too_long"


@pytest.mark.parametrize(
    "name",
    ["张3", "张伟1", "张.伟", "张_伟", "·买买提", "阿依古丽·", "阿依古丽··买买提", "张😀"],
)
def test_name_with_digits_symbols_or_a_misplaced_dot_is_refused(name):
    assert error_code(check_name, name) == "name_chars"


# --- Masks (2.11, 2.12) ----------------------------------------------------------------------


def test_id_number_mask_keeps_first_four_and_last_four():
    assert mask_id_number("430102199003071234") == "4301**********1234"
    assert mask_id_number(ID_NUMBER_ENDING_IN_X) == "4301**********008X"


def test_id_number_mask_of_a_short_value_hides_everything():
    assert mask_id_number("12345678") == "********"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张小明", "张*明"),
        ("李娜", "李*"),
        ("张伟伟伟", "张**伟"),
        ("王", "*"),
        ("阿依古丽·买买提", "阿******提"),
    ],
)
def test_name_mask_keeps_surname_and_last_character(name, masked):
    assert mask_name(name) == masked
