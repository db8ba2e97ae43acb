"""AppTest: the first page shows the configured area with its wards (official or approximate)."""

from __future__ import annotations

from apptest_util import open_page

from assets.model import SYSTEM_ACTOR
from assets.store import open_store
from geo.boundaries import read_boundary_file
from settings import get_settings


def _map_html(at) -> str:
    maps = [str(el.proto) for el in at.get("component_instance") if "L.map" in str(el.proto)]
    assert maps, "no map on the page"
    return maps[-1]


def test_first_page_shows_approximate_wards_without_an_official_file(tmp_env):
    at = open_page(None, role=None)
    assert "Birmingham" in at.title[0].value
    assert any("approximate" in str(w.value) for w in at.warning)
    html = _map_html(at)
    # Ward names reach the map (escaped), e.g. Moseley and Ladywood.
    assert "Moseley" in html and "Ladywood" in html


def test_first_page_shows_official_wards_once_loaded(tmp_env, shared_data):
    store = open_store(get_settings().database_url)
    path = shared_data / "boundaries" / "wards_birmingham_2018_bsolmapr_epsg27700.geojson"
    store.save_boundary_layer(SYSTEM_ACTOR, read_boundary_file(path, "ward"))
    at = open_page(None, role=None)
    assert not any("approximate" in str(w.value) for w in at.warning)
    html = _map_html(at)
    assert "Sparkbrook" in html and "Sutton Trinity" in html
    captions = " ".join(str(c.value) for c in at.caption).replace("\\", "")
    assert "wards_birmingham_2018_bsolmapr_epsg27700.geojson" in captions and "Code-Point Open" in captions
