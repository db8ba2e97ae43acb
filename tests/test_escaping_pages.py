"""The escaping battery: hostile text in every text field of a record (and in an organisation's
and a user's name), through every page (AppTest) and every export. Nothing may become live
markup, script or a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date

import pytest
from apptest_util import ROOT, open_page, signed_in_state
from openpyxl import load_workbook

from assets.exports import export_rows, write_csv, write_geojson, write_xlsx
from assets.model import SYSTEM_ACTOR
from assets.store import open_store
from settings import get_settings

PAYLOADS = (
    "<script>alert(1)</script>",
    "**bold** <b>x</b> [link](http://x)",
    "${alert(1)}",
    '=HYPERLINK("http://x")',
)
# What any of them looks like when it went through unescaped into Markdown or HTML.
LIVE_MARKDOWN = ("<script>", "<b>", "**bold**", "[link](", "${")
LIVE_HTML = ("<script>alert(1)", "<b>x</b>", "${alert(1)}", "{{")
# The fields a person types into a record (the rest are codes, numbers or derived).
TEXT_FIELDS = (
    "name",
    "description",
    "run_by",
    "run_by_number",
    "address",
    "town",
    "public_phone",
    "public_email",
    "website",
    "organiser_name",
    "organiser_phone",
    "schedule_notes",
    "cost_note",
    "communities",
    "external_id",
)
ORGANISER_EMAIL = "secret-organiser@example.org"  # internal: must never reach the public feed
PAGES = sorted(p.stem for p in (ROOT / "app_pages").glob("*.py") if not p.stem.startswith("_"))


@pytest.fixture()
def hostile(tmp_env):
    """A register whose organisation, administrator and four records carry the payloads everywhere."""
    from assets.forms import check_asset
    from assets.geography import area_geography
    from geo.gazetteer import load_gazetteer

    store = open_store(get_settings().database_url)
    gazetteer = load_gazetteer(get_settings().codepoint_zip)
    geography = area_geography(store, SYSTEM_ACTOR, get_settings().area_code, gazetteer)
    check = check_asset(
        {"name": "x", "kind": "group", "categories": ["physical_activity"], "postcode": "B14 7SA"},
        [],
        gazetteer=gazetteer,
        geography=geography,
    )
    assert check.asset is not None, check.problems
    org = store.add_organisation(SYSTEM_ACTOR, PAYLOADS[1], description=PAYLOADS[0], identifier=PAYLOADS[3])
    ids = []
    for number, payload in enumerate(PAYLOADS):
        values = {name: f"{payload} {number}" for name in TEXT_FIELDS}
        values["organiser_email"] = ORGANISER_EMAIL
        asset = check.asset.with_changes(
            id=str(uuid.uuid4()), organisation_id=org.id, organisation_name=org.name, **values
        )
        ids.append(store.create_asset(SYSTEM_ACTOR, asset).id)
    return store, ids, gazetteer, geography


def _strings(node, out: list) -> list:
    """Every string of the page that Streamlit renders as Markdown, with the element's type."""
    proto = getattr(node, "proto", None)
    if proto is not None and hasattr(proto, "DESCRIPTOR"):
        names = proto.DESCRIPTOR.fields_by_name
        for field in ("body", "label", "help", "placeholder"):
            if field in names and isinstance(getattr(proto, field), str):
                out.append((getattr(node, "type", "?"), getattr(proto, field), getattr(proto, "allow_html", False)))
        if "options" in names and getattr(node, "type", "") == "radio":  # radio options are Markdown
            out.extend(("radio", option, False) for option in proto.options)
        for block in ("expandable", "tab"):
            if block in names and proto.HasField(block):
                out.append((block, getattr(proto, block).label, False))
    for child in getattr(node, "children", {}).values():
        _strings(child, out)
    return out


def assert_no_live_markup(at, where: str) -> None:
    assert not at.exception, (where, [e.value for e in at.exception])
    for kind, text, allow_html in _strings(at._tree, []):
        for fragment in LIVE_MARKDOWN:
            assert fragment not in text, (where, kind, text)
        if allow_html:
            assert "alert" not in text and "bold" not in text, (where, kind, text)
    for element in at.get("component_instance"):  # the maps: HTML handed to the browser
        html = str(element.proto)
        for fragment in LIVE_HTML:
            assert fragment not in html, (where, fragment)


def test_every_page_shows_the_payloads_as_text(hostile):
    store, ids, _, _ = hostile
    # An administrator whose own name is hostile too (the sidebar and the account page show it).
    admin = signed_in_state("administrator")
    email = store.get_user_by_id(SYSTEM_ACTOR, admin["cam_auth"]["user_id"]).email
    store.update_user(SYSTEM_ACTOR, email, name=PAYLOADS[1])
    shown: list[str] = []
    for page in PAGES:
        state = {**admin, "map_selected": ids} if page == "area_map" else admin
        query = {"asset": ids[1]} if page == "manage" else None
        at = open_page(page, role=None, state=state, query=query)
        assert_no_live_markup(at, page)
        shown.extend(f"{page}: {text}" for _, text, _ in _strings(at._tree, []) if "bold" in text)
    # The payloads were on the pages, escaped, rather than simply absent.
    escaped = r"\*\*bold\*\* \<b\>x\</b\> \[link\]\(http\://x\)"
    for page in ("area_map", "manage", "account"):  # the record card, the editor's header, the user's name
        assert any(line.startswith(f"{page}: ") and escaped in line for line in shown), page

    # Find nearby: the list, the organisers' contacts and the map.
    at = open_page("find_nearby", role=None, state=admin)
    at.text_input(key="nearby_query").input("B14 7SA")
    at.button(key="nearby_submit").click()
    at.run()
    assert_no_live_markup(at, "find_nearby search")
    assert any("<script>alert(1)</script> 0" in df.value.to_csv() for df in at.dataframe)  # data, shown as text


def test_uploading_hostile_names_previews_them_as_text(hostile):
    rows = [["name", "postcode", "category", "type"]]
    rows += [[f"{payload} {n}", "B14 7SA", "physical_activity", "group"] for n, payload in enumerate(PAYLOADS)]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    at = open_page("upload")
    at.file_uploader(key="upload_file").upload("hostile.csv", buffer.getvalue().encode(), "text/csv")
    at.run()
    assert_no_live_markup(at, "upload preview")
    assert any("<script>alert(1)</script> 0" in df.value.to_csv() for df in at.dataframe)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_every_export_is_inert(hostile, tmp_path):
    from assets import oruk
    from assets.nearby_service import search_nearby
    from assets.taxonomy import CATEGORIES
    from geo.maps import build_assets_map
    from geo.nearby import NearbyQuery
    from geo.options_sheet import options_sheet_html, options_sheet_pdf

    store, ids, gazetteer, geography = hostile
    assets = [store.get_asset(SYSTEM_ACTOR, asset_id) for asset_id in ids]
    rows = export_rows(assets, include_internal=True, actor=SYSTEM_ACTOR)

    write_csv(rows, tmp_path / "r.csv")
    with open(tmp_path / "r.csv", encoding="utf-8-sig", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert "'=HYPERLINK(\"http://x\") 0" not in cells  # sanity: payload 3 is record 3
    assert "'=HYPERLINK(\"http://x\") 3" in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@")) and not _number(cell)]

    write_xlsx(rows, tmp_path / "r.xlsx", about={"Source": PAYLOADS[3]})
    book = load_workbook(tmp_path / "r.xlsx")
    for sheet in book:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                assert not (isinstance(cell.value, str) and cell.value.startswith("="))

    write_geojson(rows, tmp_path / "r.geojson")
    features = json.loads((tmp_path / "r.geojson").read_text(encoding="utf-8"))["features"]
    assert len(features) == 4
    for feature in features:
        for value in feature["properties"].values():
            assert not (isinstance(value, str) and value.startswith("="))

    result = search_nearby(
        store, SYSTEM_ACTOR, gazetteer, geography, NearbyQuery(radius_m=1000.0), text="B14 7SA", record_unmet=False
    )
    assert result.found == 4
    sheet_args = dict(title="Options", centre_label="B14 7SA", radius_m=1000.0, today=date.today(),
                      category_labels=CATEGORIES)
    html = options_sheet_html(result.frame, **sheet_args)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 0" in html
    for fragment in LIVE_HTML:
        assert fragment not in html, fragment
    pdf = options_sheet_pdf(result.frame, **sheet_args)
    assert pdf.startswith(b"%PDF") and b"/URI (http://x)" not in pdf  # no live link from [link](...) or <a>

    map_html = build_assets_map(store.assets_frame(SYSTEM_ACTOR), tiles="none").get_root().render()
    for fragment in LIVE_HTML:
        assert fragment not in map_html, fragment

    feed = oruk.feed_json(oruk.export_services(store.list_assets(SYSTEM_ACTOR), store.list_organisations(SYSTEM_ACTOR)))
    assert "alert(1)" in feed.decode() and ORGANISER_EMAIL not in feed.decode()  # public fields only
