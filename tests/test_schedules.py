"""Reading schedule text into sessions, and writing sessions back."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assets.model import DAYS, Session
from assets.schedules import format_schedule, format_sessions, parse_schedule

TODAY = date(2025, 10, 6)  # a Monday


def weekly(day, start, end):
    return Session(day=day, start=start, end=end)


def monthly(day, start, end, nth):
    return Session(day=day, start=start, end=end, frequency="monthly", nth=nth)


def fortnightly(day, start, end, anchor):
    return Session(day=day, start=start, end=end, frequency="fortnightly", anchor=anchor)


CASES = [
    ("Tuesdays 10-12", [weekly("TU", "10:00", "12:00")]),
    ("Tue 10:00-12:00", [weekly("TU", "10:00", "12:00")]),
    ("Mon & Wed 2pm-4pm", [weekly("MO", "14:00", "16:00"), weekly("WE", "14:00", "16:00")]),
    (
        "Mon, Wed and Fri 9.30am–11am",
        [weekly("MO", "09:30", "11:00"), weekly("WE", "09:30", "11:00"), weekly("FR", "09:30", "11:00")],
    ),
    ("every other Thursday 7-9pm", [fortnightly("TH", "19:00", "21:00", date(2025, 10, 9))]),
    ("Fortnightly on Mondays 10-12", [fortnightly("MO", "10:00", "12:00", TODAY)]),
    ("1st Monday 10-12", [monthly("MO", "10:00", "12:00", 1)]),
    ("last Friday of the month 2-4pm", [monthly("FR", "14:00", "16:00", -1)]),
    (
        "1st and 3rd Wednesday of the month 10am-noon",
        [monthly("WE", "10:00", "12:00", 1), monthly("WE", "10:00", "12:00", 3)],
    ),
    ("Tu 10:00-14:00; Th 18:00-20:00", [weekly("TU", "10:00", "14:00"), weekly("TH", "18:00", "20:00")]),
    ("Mo-Fr 09:00-17:00", [weekly(d, "09:00", "17:00") for d in DAYS[:5]]),
    ("Mo,We 10:00-12:00", [weekly("MO", "10:00", "12:00"), weekly("WE", "10:00", "12:00")]),
    ("Sa 10:00-12:00,14:00-16:00", [weekly("SA", "10:00", "12:00"), weekly("SA", "14:00", "16:00")]),
    ("Mo-Su 08:00-20:00", [weekly(d, "08:00", "20:00") for d in DAYS]),
    ("Fr-Mo 10:00-11:00", [weekly(d, "10:00", "11:00") for d in ("FR", "SA", "SU", "MO")]),
    ("24/7", [weekly(d, "00:00", "24:00") for d in DAYS]),
    ("Th[3] 12:30-14:00", [monthly("TH", "12:30", "14:00", 3)]),
    ("We[2,4] 11:00-12:00", [monthly("WE", "11:00", "12:00", 2), monthly("WE", "11:00", "12:00", 4)]),
    ("Th[-1] 17:00-19:00", [monthly("TH", "17:00", "19:00", -1)]),
    ("Mo-Fr 09:00-17:00; We off", [weekly(d, "09:00", "17:00") for d in ("MO", "TU", "TH", "FR")]),
    (
        "Tuesday: 10:00 - 14:00, Thursday: 18:00 - 20:00",
        [weekly("TU", "10:00", "14:00"), weekly("TH", "18:00", "20:00")],
    ),
    ("Monday to Friday 9am to 5pm", [weekly(d, "09:00", "17:00") for d in DAYS[:5]]),
    ("Weekdays 9-5", [weekly(d, "09:00", "17:00") for d in DAYS[:5]]),
    ("Weekends 10-4", [weekly(d, "10:00", "16:00") for d in ("SA", "SU")]),
    ("2-4 on Tuesdays", [weekly("TU", "14:00", "16:00")]),
    ("Thursdays at 10am", [Session(day="TH", start="10:00", end="")]),
    ("Tuesdays 11-1", [weekly("TU", "11:00", "13:00")]),
    ("Sundays 10-12pm", [weekly("SU", "10:00", "12:00")]),
    ("Wed 11-1pm", [weekly("WE", "11:00", "13:00")]),
    ("Fri 10am-2", [weekly("FR", "10:00", "14:00")]),
    ("Mondays 7-9", [weekly("MO", "07:00", "09:00")]),
    ("Tu 05:45-06:45", [weekly("TU", "05:45", "06:45")]),
    ("Sat midday-2pm", [weekly("SA", "12:00", "14:00")]),
    ("Tues 10-12, Thurs 2-4", [weekly("TU", "10:00", "12:00"), weekly("TH", "14:00", "16:00")]),
    ("Tuesdays 10-12; Tuesdays 10-12", [weekly("TU", "10:00", "12:00")]),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_forms(text, expected):
    result = parse_schedule(text, today=TODAY)
    assert list(result.sessions) == expected
    assert result.unparsed == "" and result.notes == ""
    assert not result.by_arrangement


@pytest.mark.parametrize("text", ["by arrangement", "By appointment", "on request"])
def test_by_arrangement(text):
    result = parse_schedule(text, today=TODAY)
    assert result.by_arrangement and result.sessions == () and result.unparsed == ""


@pytest.mark.parametrize(
    ("text", "sessions", "unparsed"),
    [
        ("Tuesdays 10-12 term time only", [weekly("TU", "10:00", "12:00")], "term time only"),
        ("Tuesdays", [], "Tuesdays"),
        ("Tuesdays 25:00-26:00", [], "Tuesdays 25:00-26:00"),
        ("Fr 15:30-04:30; Fr 17:00-18:00", [weekly("FR", "17:00", "18:00")], "Fr 15:30-04:30"),
        ("Th[5] 10:00-12:00", [], "Th[5] 10:00-12:00"),
        ("ring Sue", [], "ring Sue"),
        (
            "mixed group in the afternoon Thursday 1-3",
            [weekly("TH", "13:00", "15:00")],
            "mixed group in the afternoon",
        ),
        ("for ages 18-35 Tuesdays 10-12", [weekly("TU", "10:00", "12:00")], "for ages 18-35"),
    ],
)
def test_unparsed_text_is_kept(text, sessions, unparsed):
    result = parse_schedule(text, today=TODAY)
    assert list(result.sessions) == sessions
    assert result.unparsed == unparsed
    assert result.notes == unparsed


def test_empty():
    assert parse_schedule("", today=TODAY) == parse_schedule("   ", today=TODAY)
    assert parse_schedule(None, today=TODAY).sessions == ()


def test_deliberate_notes_are_not_unparsed():
    result = parse_schedule(
        "Tu 10:00-12:00; by arrangement; note: term time only; closed in August", today=TODAY
    )
    assert result.sessions == (weekly("TU", "10:00", "12:00"),)
    assert result.by_arrangement
    assert result.notes == "term time only; closed in August"
    assert result.unparsed == "closed in August"


def test_fortnightly_anchor_is_next_such_day():
    # 2025-10-06 is a Monday: the next Thursday is the 9th, the next Monday is today.
    assert parse_schedule("every other Thursday 7-9pm", today=TODAY).sessions[0].anchor == date(2025, 10, 9)
    assert parse_schedule("alternate Mondays 10-12", today=TODAY).sessions[0].anchor == TODAY
    given_anchor = parse_schedule("every other Th 19:00-21:00 from 2025-10-02", today=TODAY)
    assert given_anchor.sessions == (fortnightly("TH", "19:00", "21:00", date(2025, 10, 2)),)


def test_format_example():
    sessions = [
        weekly("TU", "10:00", "12:00"),
        monthly("MO", "10:00", "12:00", 2),
        fortnightly("TH", "19:00", "21:00", date(2025, 10, 2)),
        monthly("FR", "14:00", "16:00", -1),
    ]
    text = format_sessions(sessions)
    assert (
        text
        == "Tu 10:00-12:00; 2nd Mo 10:00-12:00; every other Th 19:00-21:00 from 2025-10-02; last Fr 14:00-16:00"
    )
    assert list(parse_schedule(text, today=TODAY).sessions) == sessions
    assert (
        format_schedule(sessions[:1], True, "term time only")
        == "Tu 10:00-12:00; by arrangement; note: term time only"
    )


def test_describe_text_reads_back():
    sessions = [
        weekly("TU", "10:00", "12:00"),
        monthly("MO", "10:00", "12:00", 1),
        fortnightly("WE", "18:00", "20:00", None),
    ]
    text = "; ".join(session.describe() for session in sessions)
    parsed = parse_schedule(text, today=TODAY).sessions
    assert [(s.day, s.start, s.end, s.frequency, s.nth) for s in parsed] == [
        (s.day, s.start, s.end, s.frequency, s.nth) for s in sessions
    ]


@st.composite
def sessions_strategy(draw):
    day = draw(st.sampled_from(DAYS))
    start = draw(st.integers(0, 24 * 60 - 1))
    end = draw(st.one_of(st.none(), st.integers(start + 1, 24 * 60)))
    frequency = draw(st.sampled_from(("weekly", "fortnightly", "monthly")))
    nth = draw(st.sampled_from((1, 2, 3, 4, -1))) if frequency == "monthly" else None
    anchor = None
    if frequency == "fortnightly":
        first = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)))
        anchor = first + timedelta(days=(DAYS.index(day) - first.weekday()) % 7)

    def clock(minutes):
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return Session(
        day=day,
        start=clock(start),
        end=clock(end) if end is not None else "",
        frequency=frequency,
        nth=nth,
        anchor=anchor,
    )


NOTE_TEXT = st.text(alphabet=st.sampled_from("abcdeTuMo0129 -:,.&/()"), min_size=1, max_size=30).map(
    str.strip
)


@given(
    st.lists(sessions_strategy(), max_size=6, unique=True),
    st.booleans(),
    st.lists(NOTE_TEXT.filter(bool), max_size=3),
)
def test_round_trip(sessions, by_arrangement, notes):
    text = format_schedule(sessions, by_arrangement, "; ".join(notes))
    result = parse_schedule(text, today=TODAY)
    assert list(result.sessions) == sessions
    assert result.by_arrangement == by_arrangement
    assert result.notes == "; ".join(notes)
    assert result.unparsed == ""


@pytest.mark.slow
def test_real_warm_spaces_opening_hours(shared_data):
    """At least 95% of the warm spaces' OpenStreetMap-style opening hours parse completely."""
    path = shared_data / "assets" / "warm_spaces_birmingham_york_camden.geojson"
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    assert len(features) == 496
    openings = [
        f["properties"]["hours"]["opening"]
        for f in features
        if isinstance(f["properties"].get("hours"), dict) and f["properties"]["hours"].get("opening")
    ]
    parsed, failures = 0, []
    for text in openings:
        result = parse_schedule(text, today=TODAY)
        if result.sessions and not result.unparsed:
            parsed += 1
        else:
            failures.append((text, result.unparsed))
        # whatever was read writes back and reads again to the same sessions
        assert parse_schedule(format_sessions(result.sessions), today=TODAY).sessions == result.sessions
    share = parsed / len(openings)
    print(f"\nwarm spaces with opening hours: {len(openings)}; parsed completely: {parsed} ({share:.1%})")
    for text, unparsed in failures:
        print(f"  not understood: {unparsed!r} in {text!r}")
    assert share >= 0.95, failures
