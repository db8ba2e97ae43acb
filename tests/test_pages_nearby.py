"""AppTest: Find nearby lists options around a postcode and never keeps the postcode."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from apptest_util import open_page

from assets.__main__ import main as assets_main
from assets.model import SYSTEM_ACTOR
from assets.store import open_store
from settings import get_settings

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample_assets.csv"
SEARCHED = "B13 8JP"  # a real Moseley postcode with no sample record at it


@pytest.fixture()
def sample_register(tmp_env, capsys):
    """The sample spreadsheet imported into a fresh register."""
    assert assets_main(["import", str(SAMPLE)]) == 0
    capsys.readouterr()
    return open_store(get_settings().database_url)


def search(at, query: str, **widgets):
    at.text_input(key="nearby_query").input(query)
    for key, value in widgets.items():
        widget = at.selectbox(key=f"nearby_{key}") if key in ("radius", "day", "time") else at.multiselect(key=f"nearby_{key}")
        widget.set_value(value)
    at.button(key="nearby_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_search_lists_options_with_walk_times_and_sheets(sample_register):
    at = search(open_page("find_nearby"), "B13 9AA", radius=3219)
    listing = next(df.value for df in at.dataframe if "Walk (min)" in df.value.columns)
    assert listing["Name"].iloc[0] == "Moseley Knit and Natter (example)"
    assert listing["Distance (m)"].is_monotonic_increasing
    labels = [button.label for button in at.get("download_button")]
    assert any("PDF" in label for label in labels) and any("HTML" in label for label in labels)
    assert any("within 2 miles of B13 9" in str(s.value).replace("\\", "") for s in at.subheader)


def test_empty_search_counts_unmet_demand_and_keeps_no_postcode(sample_register, tmp_env, caplog):
    caplog.set_level(logging.DEBUG)
    at = search(open_page("find_nearby"), SEARCHED, radius=400, categories=["music"], day="SA")
    assert any("Nothing found" in str(i.value) for i in at.info)
    at.run()  # a rerun of the same search is not counted twice
    unmet = sample_register.unmet_demand(SYSTEM_ACTOR)
    assert unmet["count"].sum() == 1
    row = unmet.iloc[0]
    assert (row["category"], row["day"]) == ("music", "SA") and row["ward_code"].startswith("E05")
    # Neither the database files nor the logs hold the searched postcode.
    for path in Path(tmp_env).glob("test.db*"):
        data = path.read_bytes()
        assert SEARCHED.encode() not in data and SEARCHED.replace(" ", "").encode() not in data
    assert SEARCHED not in caplog.text and SEARCHED.replace(" ", "") not in caplog.text
