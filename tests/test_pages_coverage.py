"""AppTest: the Coverage page with population and IMD loaded; baselines show the change."""

from __future__ import annotations

import pytest
from apptest_util import open_page
from test_pages_coordinator import _one_asset

from assets.coverage_report import save_reference_file
from assets.model import SYSTEM_ACTOR
from assets.store import open_store
from geo.boundaries import read_boundary_file
from settings import get_settings


@pytest.fixture()
def loaded(tmp_env, shared_data):
    """Birmingham's official wards and constituencies, population, lookup and IMD, one asset."""
    store = open_store(get_settings().database_url)
    boundaries = shared_data / "boundaries"
    store.save_boundary_layer(SYSTEM_ACTOR, read_boundary_file(boundaries / "wards_birmingham_2018_bsolmapr_epsg27700.geojson", "ward"))
    store.save_boundary_layer(SYSTEM_ACTOR, read_boundary_file(boundaries / "pcon2024_birmingham_bsolmapr_epsg27700.geojson", "constituency"))
    files = {
        "population": shared_data / "population" / "lsoa11_population_mid2019_birmingham_york_camden.csv",
        "lookup": shared_data / "lookups" / "lsoa21_ward22_lad22_birmingham_york_camden.csv",
        "imd": shared_data / "deprivation" / "mysociety_uk_imd_e_birmingham_york_camden.csv",
    }
    for kind, path in files.items():
        save_reference_file(store, SYSTEM_ACTOR, kind, path.name, path.read_bytes())
    _one_asset(store)
    return store


def test_coverage_page_table_map_charts_and_baseline(loaded):
    at = open_page("coverage")
    every_ward = next(df.value for df in at.dataframe if "walk_coverage" in df.value.columns and len(df.value) == 69)
    assert every_ward["assets_total"].sum() == 1
    assert every_ward["assets_per_1000"].notna().sum() > 60
    assert every_ward["imd_score"].notna().sum() > 60
    captions = " ".join(str(c.value) for c in at.caption)
    assert "33 LSOAs (93,931 residents)" in captions.replace("\\", ""), captions
    assert len(at.get("vega_lite_chart")) >= 2
    assert [el for el in at.get("component_instance") if "L.map" in str(el.proto)], "no choropleth map"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Published assets in the area"] == "1"

    at.button(key="cov_snapshot_save").click()
    at.run()
    assert not at.exception
    snapshot = loaded.list_snapshots(SYSTEM_ACTOR)[0]
    _one_asset(loaded, name="Kings Heath Knitters")
    at.run()  # the new baseline joins the choices
    at.selectbox(key="cov_baseline").select(snapshot["id"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    every_ward = next(df.value for df in at.dataframe if "change_assets_total" in df.value.columns and len(df.value) == 69)
    changed = every_ward[every_ward["change_assets_total"] != 0]
    assert changed["change_assets_total"].tolist() == [1]
    assert len(at.get("vega_lite_chart")) >= 3
