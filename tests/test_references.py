"""Case reference numbers (SPEC 4.6): unambiguous characters and a check character that
catches the mistakes people make copying them by hand."""

from __future__ import annotations

from datetime import date

import pytest

from epermit.services.references import ALPHABET, is_well_formed, new_reference

TODAY = date(2026, 11, 25)


def test_references_have_prefix_date_six_characters_and_a_check():
    for kind, prefix in (("endorse", "QZ"), ("deregister", "ZX")):
        reference = new_reference(kind, TODAY)
        assert reference.startswith(prefix + "20261125") and len(reference) == 17
        assert all(c in ALPHABET for c in reference[10:])
        assert is_well_formed(reference)


@pytest.mark.parametrize("pair", ["0O", "0Q", "1I", "1L", "5S", "8B", "2Z", "UV"])
def test_no_two_characters_can_be_taken_for_each_other(pair):
    assert sum(c in ALPHABET for c in pair) <= 1


def test_any_single_wrong_character_is_caught():
    reference = new_reference("endorse", TODAY)
    for position in range(2, 17):
        pool = "0123456789" if position < 10 else ALPHABET
        for c in pool:
            if c != reference[position]:
                typo = reference[:position] + c + reference[position + 1 :]
                assert not is_well_formed(typo), typo


def test_swapping_two_neighbours_is_caught():
    for _ in range(50):
        reference = new_reference("deregister", TODAY)
        for position in [*range(2, 9), *range(10, 15)]:
            a, b = reference[position], reference[position + 1]
            if a != b:
                swapped = reference[:position] + b + a + reference[position + 2 :]
                assert not is_well_formed(swapped), swapped


def test_malformed_references_are_refused():
    good = new_reference("endorse", TODAY)
    for bad in ["", good[:-1], "AB" + good[2:], good[:2] + "２" + good[3:], good.lower()]:
        assert not is_well_formed(bad)
