"""Checking rows and the Add form: every problem named with its row, field, value and fix."""

from __future__ import annotations

from datetime import date

import pytest

from assets.errors import MappingError
from assets.model import Session
from assets.validation import ERROR, WARNING, parse_cost, parse_date, validate_form, validate_row

TODAY = date(2025, 10, 6)

GOOD = {
    "name": "Knit and Natter",
    "kind": "Group",
    "categories": "Arts and crafts; social_friendship",
    "postcode": "B1 1AY",
    "sessions": "Tuesdays 10-12",
    "cost": "Free",
    "accessibility": "Step-free access; hearing loop",
    "for_whom": "Older people (65+)",
    "public_phone": "0121 496 0000",
    "public_email": "hello@example.org.uk",
    "website": "www.example.org.uk",
    "last_verified": "2025-09-01",
}


def row(**changes):
    cells = dict(GOOD)
    cells.update(changes)
    return validate_row(cells, 7, today=TODAY)


def fields_of(result, severity=None):
    return [p.field for p in result.problems if severity is None or p.severity == severity]


def test_good_row():
    result = row()
    assert result.ok and result.problems == ()
    asset = result.asset
    assert asset.name == "Knit and Natter" and asset.kind == "group"
    assert asset.categories == ("arts_crafts", "social_friendship")
    assert asset.sessions == (Session("TU", "10:00", "12:00"),)
    assert asset.cost == "free" and asset.cost_note == ""
    assert asset.accessibility == ("step_free", "hearing_loop")
    assert asset.for_whom == ("older_people",)
    assert asset.last_verified == date(2025, 9, 1)
    assert asset.lat is None and asset.ward_code == ""
    assert result.location == {
        "postcode": "B1 1AY",
        "latitude": "",
        "longitude": "",
        "easting": "",
        "northing": "",
    }


def test_all_problems_of_a_row_are_collected():
    result = validate_row(
        {"name": "", "kind": "club", "categories": "Musik; Faith; Knitting", "last_verified": "next week"},
        12,
        today=TODAY,
        formulas=["When"],
    )
    assert result.asset is None
    assert fields_of(result, ERROR) == [
        "formula",
        "name",
        "kind",
        "categories",
        "categories",
        "last_verified",
    ]
    messages = [p.message for p in result.problems]
    assert messages[0].startswith("row 12, Formula: 'When' holds a formula")
    assert "row 12, Name: is missing" in messages[1]
    assert "'club' is not a kind of asset — use one of: Group, Venue, Activity" in messages[2]
    assert "'Musik' is not a category — did you mean 'Music'" in messages[3]
    assert "'Knitting' is not a category" in messages[4]
    assert "write it like 2025-10-01" in messages[5]
    assert all(p.row == 12 for p in result.problems)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "  "}, "name", "is missing"),
        ({"name": "x" * 201}, "name", "201 characters long"),
        ({"kind": ""}, "kind", "is missing — use one of: Group, Venue, Activity"),
        ({"kind": "Club"}, "kind", "'Club' is not a kind of asset"),
        ({"categories": ""}, "categories", "are missing"),
        ({"categories": "Physical activty"}, "categories", "did you mean 'Physical activity'"),
        ({"last_verified": "31/02/2025"}, "last_verified", "is not a date"),
        ({"last_verified": "2025-12-01"}, "last_verified", "is after today (2025-10-06)"),
        ({"status": "live"}, "status", "use one of: draft, published, archived"),
        ({"private_address": "maybe"}, "private_address", "is not yes or no"),
        ({"website": "javascript:alert(1)"}, "website", "is a javascript: link"),
        ({"latitude": "52,48.1", "longitude": "-1.9"}, "latitude", "is not a number"),
        ({"latitude": "52.48"}, "longitude", "is missing while Latitude is given"),
        ({"northing": "286000"}, "easting", "is missing while Northing is given"),
    ],
)
def test_errors_reject_the_row(changes, field, message):
    result = row(**changes)
    assert result.asset is None
    assert fields_of(result, ERROR) == [field]
    assert message in result.errors[0].message
    assert result.errors[0].message.startswith("row 7, ")


@pytest.mark.parametrize(
    ("changes", "field", "message", "kept"),
    [
        (
            {"public_email": "hello at example"},
            "public_email",
            "is not an email address",
            ("public_email", "hello at example"),
        ),
        (
            {"public_phone": "12345678901234"},
            "public_phone",
            "is not a UK phone number",
            ("public_phone", "12345678901234"),
        ),
        (
            {"public_phone": "7700900123"},
            "public_phone",
            "lost its leading 0",
            ("public_phone", "7700900123"),
        ),
        (
            {"organiser_phone": "call Sue"},
            "organiser_phone",
            "is not a UK phone number",
            ("organiser_phone", "call Sue"),
        ),
        ({"website": "not a site"}, "website", "does not look like a web address", ("website", "not a site")),
        (
            {"sessions": "Tuesdays 10-12 term time only"},
            "sessions",
            "kept as a note",
            ("schedule_notes", "term time only"),
        ),
        ({"cost": "ask at the desk"}, "cost", "is not a cost", ("cost_note", "ask at the desk")),
        (
            {"accessibility": "Step-free access; Ramp at side door"},
            "accessibility",
            "kept in the description",
            ("description", "Accessibility: Ramp at side door."),
        ),
        (
            {"for_whom": "Over 50s"},
            "for_whom",
            "kept in the description",
            ("description", "Who it is for: Over 50s."),
        ),
    ],
)
def test_warnings_keep_the_value(changes, field, message, kept):
    result = row(**changes)
    assert result.ok, result.problems
    assert fields_of(result) == [field]
    assert result.problems[0].severity == WARNING
    assert message in result.problems[0].message
    assert getattr(result.asset, kept[0]) == kept[1]


@pytest.mark.parametrize(
    "phone",
    ["0121 496 0000", "07700 900123", "+44 7700 900123", "(0121) 496-0000", "0044 121 496 0000", "111"],
)
def test_phones_accepted(phone):
    assert row(public_phone=phone).problems == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-10-01", date(2025, 10, 1)),
        ("01/10/2025", date(2025, 10, 1)),
        ("1/10/25", date(2025, 10, 1)),
        ("1 Oct 2025", date(2025, 10, 1)),
        ("1st October 2025", date(2025, 10, 1)),
        ("30 Sept 2025", date(2025, 9, 30)),
        ("2025-10-01T10:30", date(2025, 10, 1)),
        ("10/13/2025", None),  # month-first is not accepted: 13 is not a month
        ("soon", None),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("", "")),
        ("Free", ("free", "")),
        ("free", ("free", "")),
        ("£0", ("free", "")),
        ("£0.00", ("free", "")),
        ("Free (donations welcome)", ("free", "Free (donations welcome)")),
        ("Low cost", ("low", "")),
        ("Donation", ("low", "Donation")),
        ("Suggested donation £2", ("low", "Suggested donation £2")),
        ("Pay what you can", ("low", "Pay what you can")),
        ("£2", ("paid", "£2")),
        ("£3.50 per session", ("paid", "£3.50 per session")),
        ("50p", ("paid", "50p")),
        ("Paid", ("paid", "")),
        ("ask at the desk", None),
    ],
)
def test_parse_cost(text, expected):
    assert parse_cost(text) == expected


def test_cost_text_and_cost_note_column_combine():
    asset = row(cost="£2", cost_note="concessions £1").asset
    assert (asset.cost, asset.cost_note) == ("paid", "£2; concessions £1")


def test_last_verified_defaults_to_today_and_status_to_published():
    asset = row(last_verified="", status="").asset
    assert asset.last_verified == TODAY and asset.status == "published"


def test_location_text_is_kept_raw():
    result = row(postcode=" b11ay ", latitude="52.4796", longitude="-1.9026", easting="", northing="")
    assert result.location == {
        "postcode": "b11ay",
        "latitude": "52.4796",
        "longitude": "-1.9026",
        "easting": "",
        "northing": "",
    }


def test_export_guard_apostrophe_is_removed():
    asset = row(name='\'=HYPERLINK("x")', description="'Don't miss it").asset
    assert asset.name == '=HYPERLINK("x")'
    assert asset.description == "'Don't miss it"  # only our guard before a trigger character is removed


def test_private_address_yes():
    assert row(private_address="Yes").asset.private_address is True
    assert row(private_address="no").asset.private_address is False


def test_unknown_fields_are_a_programming_error():
    with pytest.raises(MappingError, match="fields the register lacks: \\['colour'\\]"):
        validate_row({"name": "A", "colour": "red"}, 2, today=TODAY)


# --------------------------------------------------------------------------- the form


FORM = {
    "name": "Walking group",
    "kind": "activity",
    "categories": ["Physical activity", "nature_gardening"],
    "postcode": "B1 1AY",
    "sessions": "Saturdays 10-12",
    "accessibility": ["Parking"],
    "for_whom": ["Everyone", "Adults"],
    "cost": "Free",
    "last_verified": date(2025, 10, 1),
    "private_address": False,
}


def test_form_builds_the_same_asset_as_a_row():
    asset, problems = validate_form(FORM, today=TODAY)
    assert problems == []
    assert asset.categories == ("physical_activity", "nature_gardening")
    assert asset.for_whom == ("everyone", "adults")
    assert asset.accessibility == ("parking",)
    assert asset.sessions == (Session("SA", "10:00", "12:00"),)
    assert asset.last_verified == date(2025, 10, 1)


def test_form_collects_every_problem():
    asset, problems = validate_form(
        {**FORM, "name": "", "categories": ["Knitting"], "kind": "Shop"}, today=TODAY
    )
    assert asset is None
    assert [p.field for p in problems] == ["name", "kind", "categories"]
    assert all(p.row is None for p in problems)
    assert problems[0].message == "Name: is missing — give the group, venue or activity a name"


def test_form_refuses_unknown_fields():
    asset, problems = validate_form({**FORM, "is_admin": True}, today=TODAY)
    assert asset is None
    assert [(p.field, p.reason) for p in problems] == [("is_admin", "is not a field of the form")]


def test_form_coordinates_become_numbers():
    asset, problems = validate_form({**FORM, "latitude": 52.4796, "longitude": "-1.9026"}, today=TODAY)
    assert problems == []
    assert (asset.lat, asset.lon) == (52.4796, -1.9026)


def test_form_by_arrangement_flag():
    asset, _ = validate_form({**FORM, "sessions": "", "by_arrangement": True}, today=TODAY)
    assert asset.by_arrangement and asset.sessions == ()
