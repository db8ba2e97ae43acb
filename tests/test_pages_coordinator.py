"""AppTest flows through the coordinator's pages: Add, Upload, Manage."""

from __future__ import annotations

from pathlib import Path

import pytest
from apptest_util import open_page, texts

from assets.model import SYSTEM_ACTOR, Actor
from assets.store import open_store
from settings import get_settings

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample_assets.csv"
PAYLOAD = "**bold** <b>x</b> [link](http://x)"


@pytest.fixture()
def app_env(tmp_env):
    """A fresh database per test; the postcode index cache is shared."""
    return open_store(get_settings().database_url)


def fill_add_form(at, *, name: str, postcode: str, categories=("music",)):
    at.text_input(key="add_postcode").input(postcode)
    at.run()
    at.text_input(key="add_name").input(name)
    at.selectbox(key="add_kind").select("group")
    at.multiselect(key="add_categories").set_value(list(categories))
    return at


def test_add_form_previews_the_ward_and_saves_the_record(app_env):
    at = open_page("add_asset")
    at.text_input(key="add_postcode").input("B13 9AA")
    at.run()
    assert any("Moseley" in text for text in texts(at, "success")), texts(at, "success")
    fill_add_form(at, name="Moseley Table Tennis", postcode="B13 9AA")
    at.button(key="add_submit").click()
    at.run()
    assert not at.exception
    saved = app_env.list_assets(SYSTEM_ACTOR)
    assert [a.name for a in saved] == ["Moseley Table Tennis"]
    assert saved[0].ward_name == "Moseley" and saved[0].ward_code.startswith("E05")
    assert any("Saved" in text for text in texts(at, "success"))
    # The form is ready for the next one.
    assert at.text_input(key="add_name").value == ""


def test_add_form_shows_every_error_and_saves_nothing(app_env):
    at = open_page("add_asset")
    at.text_input(key="add_postcode").input("B99 9ZZ")
    at.multiselect(key="add_categories").set_value(["music"])
    at.button(key="add_submit").click()
    at.run()
    errors = " ".join(texts(at, "error")).replace("\\", "")
    assert "name" in errors.lower() and "missing" in errors.lower()
    assert "B99 9ZZ" in errors
    assert app_env.list_assets(SYSTEM_ACTOR, statuses=("draft", "published", "archived")) == []


def test_upload_sample_correct_mapping_import_and_reimport(app_env):
    at = open_page("upload")
    at.file_uploader(key="upload_file").upload("sample_assets.csv", SAMPLE.read_bytes(), "text/csv")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    problems = next(df.value for df in at.dataframe if "Field" in df.value.columns)
    assert {"Name", "Postcode", "Categories", "Latitude"} <= set(problems["Field"])
    assert problems["What to do"].str.len().min() > 0
    # 'Venue address' is not a header we know: map it to the address field.
    mapping_boxes = [box for box in at.selectbox if box.label == "Venue address"]
    assert mapping_boxes and mapping_boxes[0].value is None
    mapping_boxes[0].select("address")
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["New"] == "7" and metrics["Rejected"] == "4" and metrics["Possible duplicate"] == "1"
    at.button(key="upload_import").click()
    at.run()
    assert any("imported 7, updated 0, unchanged 0, rejected 4, duplicates 1" in t for t in texts(at, "success"))
    stored = app_env.list_assets(SYSTEM_ACTOR)
    assert len(stored) == 7
    assert {a.address for a in stored if a.name.startswith("Moseley")} == {"Example Hall, 1 Example Road"}

    again = open_page("upload")
    again.file_uploader(key="upload_file").upload("sample_assets.csv", SAMPLE.read_bytes(), "text/csv")
    again.run()
    [box for box in again.selectbox if box.label == "Venue address"][0].select("address")
    again.run()
    metrics = {m.label: m.value for m in again.metric}
    assert metrics["New"] == "0" and metrics["Unchanged"] == "7"
    assert len(app_env.list_assets(SYSTEM_ACTOR)) == 7


def _one_asset(store, name="Kings Heath Walkers"):
    from assets.forms import check_asset
    from assets.geography import area_geography
    from geo.gazetteer import load_gazetteer

    gazetteer = load_gazetteer(get_settings().codepoint_zip)
    geography = area_geography(store, SYSTEM_ACTOR, get_settings().area_code, gazetteer)
    check = check_asset(
        {"name": name, "kind": "group", "categories": ["physical_activity"], "postcode": "B14 7SA"},
        [],
        gazetteer=gazetteer,
        geography=geography,
    )
    assert check.asset is not None, check.problems
    return store.create_asset(SYSTEM_ACTOR, check.asset)


def test_edit_refused_when_someone_else_changed_the_record(app_env):
    asset = _one_asset(app_env)
    at = open_page("manage", query={"asset": asset.id})
    at.text_input(key="edit_name").input("Kings Heath Walkers (Tuesday)")
    other = Actor(id="u2", email="jo@example.org", name="Jo", role="administrator")
    app_env.update_asset(other, asset.id, {"description": "Changed by Jo"}, expected_version=asset.version)
    at.button(key="edit_submit").click()
    at.run()
    errors = " ".join(texts(at, "error")).replace("\\", "")  # shown Markdown-escaped
    assert "jo@example.org" in errors and "reload" in errors.lower()
    assert app_env.get_asset(SYSTEM_ACTOR, asset.id).name == "Kings Heath Walkers"
    at.button(key="edit_reload").click()
    at.run()
    assert at.text_area(key="edit_description").value == "Changed by Jo"


def test_user_text_is_rendered_as_text_not_markdown(app_env):
    asset = _one_asset(app_env, name=PAYLOAD)
    for page, query in (("manage", {"asset": asset.id}), ("area_map", None)):
        at = open_page(page, query=query, state={"map_selected": [asset.id]})
        for element in list(at.markdown) + list(at.header) + list(at.subheader) + list(at.caption):
            source = str(element.value)
            if "bold" in source:
                assert "**bold**" not in source and "<b>" not in source and "[link](" not in source, source
