"""Asset maps: hostile text stays text, the page works offline, and 10,000 assets stay small."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import require

from geo.errors import GeoError, MapScriptsMissing
from geo.maps import (
    CATEGORY_COLOURS,
    FIELDS,
    asset_at,
    assets_at,
    build_assets_map,
    render_map_html,
)
from geo.mapscripts import (
    NODE_MODULES,
    configure_map,
    external_resources,
    missing_vendor_files,
    require_vendored,
    served_links,
    vendor_scripts,
)

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "${alert(1)}",
    "a`b",
    "c\\`d",
    "</script>",
    "\"'><svg onload=alert(3)>",
    "{{ 7*7 }}{% if 1 %}x{% endif %}",
]
# What must never be in the page outside the libraries' own code. Inside our JSON payloads
# the words "onerror"/"onload" may remain as inert text (their "<" is \u003c); markup may not.
FORBIDDEN_ANYWHERE = ["${", "<img", "<svg", "{{", "{%"]
FORBIDDEN_OUTSIDE_DATA = ["onerror", "onload", "alert("]
TEXT_FIELDS = ["name", "sessions_text", "cost_text", "public_phone", "public_email", "website"]
BIRMINGHAM = (52.4862, -1.8904)


def hostile_assets() -> pd.DataFrame:
    """One asset per hostile string, in every text field, about 20 m apart in central Birmingham."""
    n = len(HOSTILE)
    frame = pd.DataFrame(
        {
            "asset_id": [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)],
            "kind": ["group"] * n,
            "categories": [("music", "faith")] * (n - 1) + [()],
            "lat": BIRMINGHAM[0] + np.arange(n) * 0.00015,
            "lon": BIRMINGHAM[1] + np.arange(n) * 0.00015,
            "accessibility": [("step_free", "hearing_loop")] * n,
            "last_verified": [pd.Timestamp("2025-03-01").date()] * n,
            "private_address": [True] + [False] * (n - 1),
            "stale": [False, True] + [False] * (n - 2),
        }
    )
    for field in TEXT_FIELDS:
        frame[field] = HOSTILE
    return frame


def hostile_wards() -> gpd.GeoDataFrame:
    """Two square 'wards' (British National Grid) named with hostile strings."""
    squares = [shapely.box(406000, 286000, 407000, 287000), shapely.box(407000, 286000, 408000, 287000)]
    return gpd.GeoDataFrame(
        {"code": ["E05000001", HOSTILE[2]], "name": [HOSTILE[1], HOSTILE[7]]},
        geometry=squares,
        crs=27700,
    )


def synthetic_assets(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` plausible assets at random points in Birmingham's bounding box."""
    rng = np.random.default_rng(seed)
    slugs = list(CATEGORY_COLOURS)
    return pd.DataFrame(
        {
            "asset_id": [f"{i:08x}-1111-4222-8333-444455556666" for i in range(n)],
            "name": [f"Community group number {i}" for i in range(n)],
            "kind": rng.choice(["group", "venue", "activity"], n),
            "categories": [(slugs[i % 15], slugs[(i * 7) % 15]) for i in range(n)],
            "lat": rng.uniform(52.38, 52.61, n),
            "lon": rng.uniform(-2.03, -1.73, n),
            "sessions_text": "Tuesdays 10:00-12:00 (weekly)",
            "cost_text": "Free",
            "accessibility": [("step_free", "accessible_toilet")] * n,
            "public_phone": "0121 496 0000",
            "public_email": "hello@example.org",
            "website": "https://example.org/group",
            "last_verified": pd.Timestamp("2025-01-15").date(),
            "private_address": rng.random(n) < 0.05,
            "stale": rng.random(n) < 0.1,
        }
    )


def inline_scripts(page: str) -> list[str]:
    return re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, flags=re.DOTALL)


def _payload_spans(page: str, layer: str) -> list[tuple[int, int, dict]]:
    decoder = json.JSONDecoder()
    spans = []
    for match in re.finditer(rf"var {layer}_[0-9a-f]+ = \(function \((?:map)?\) \{{\s*var data = ", page):
        value, end = decoder.raw_decode(page, match.end())
        spans.append((match.end(), end, value))
    return spans


def payloads(page: str, layer: str) -> list[dict]:
    """The JSON payloads of our layers of one kind ("asset_layer" or "boundary_layer")."""
    return [value for _, _, value in _payload_spans(page, layer)]


def without_payloads(page: str) -> str:
    """The page with our layers' JSON data and the attribution text cut out."""
    spans = sorted(_payload_spans(page, "asset_layer") + _payload_spans(page, "boundary_layer"))
    spans += [(m.start(1), m.end(1), {}) for m in re.finditer(r'addAttribution\(("[^"]*")\)', page)]
    spans.sort(key=lambda span: span[0])
    kept, position = [], 0
    for start, end, _ in spans:
        kept.append(page[position:start])
        position = end
    return "".join(kept) + page[position:]


@pytest.fixture(scope="module")
def hostile_page() -> str:
    """A served-mode page of the hostile assets, wards and attribution."""
    m = build_assets_map(
        hostile_assets(),
        layers={"ward": hostile_wards()},
        attribution=HOSTILE[6],
        center=BIRMINGHAM,
        radius_circle=800,
        highlight=["00000000-0000-4000-8000-000000000003"],
    )
    return render_map_html(m)


@pytest.fixture(scope="module")
def inline_page() -> str:
    """A self-contained page of the hostile assets and wards."""
    require(
        (NODE_MODULES / "leaflet" / "dist" / "leaflet.js").is_file(), "node_modules is absent: run `npm ci`"
    )
    m = build_assets_map(hostile_assets(), layers={"ward": hostile_wards()}, mode="inline")
    return render_map_html(m)


def _assert_no_raw_hostile_text(page: str) -> None:
    # "</script>" also closes our own blocks: a raw one from user text would leave one unmatched.
    assert page.count("</script>") == len(re.findall(r"<script\b", page))
    for text in HOSTILE:
        if text != "</script>":
            assert text not in page, text


def test_hostile_text_never_reaches_the_page_raw(hostile_page):
    _assert_no_raw_hostile_text(hostile_page)
    for fragment in FORBIDDEN_ANYWHERE:
        assert fragment not in hostile_page, fragment
    rest = without_payloads(hostile_page)
    assert len(rest) < len(hostile_page) - 1000
    for fragment in FORBIDDEN_OUTSIDE_DATA:
        assert fragment not in rest, fragment


def test_hostile_text_comes_back_exactly_from_the_payload(hostile_page):
    (assets,) = payloads(hostile_page, "asset_layer")
    index = {name: i for i, name in enumerate(assets["fields"])}
    assert [field for field in FIELDS] == assets["fields"]
    assert len(assets["rows"]) == len(HOSTILE)
    for field, column in [
        ("name", "name"),
        ("when", "sessions_text"),
        ("cost", "cost_text"),
        ("phone", "public_phone"),
    ]:
        assert [row[index[field]] for row in assets["rows"]] == HOSTILE, column
    flags = [row[index["flags"]] for row in assets["rows"]]
    assert flags[0] & 2 and flags[1] & 1 and flags[3] & 4 and not flags[2]
    assert [label for _, label, _ in assets["categories"]] == ["Music", "Faith"]


def test_hostile_boundary_names_come_back_exactly(hostile_page):
    (wards,) = payloads(hostile_page, "boundary_layer")
    names = [feature["properties"]["name"] for feature in wards["collection"]["features"]]
    codes = [feature["properties"]["code"] for feature in wards["collection"]["features"]]
    assert names == [HOSTILE[1], HOSTILE[7]]
    assert codes == ["E05000001", HOSTILE[2]]
    west, south, east, north = wards["collection"]["bbox"]
    assert 52.47 < south < north < 52.49 and -1.92 < west < east < -1.88


def test_attribution_is_escaped_once(hostile_page):
    match = re.search(r"addAttribution\((\"[^\"]*\")\)", hostile_page)
    assert match is not None
    assert html.unescape(json.loads(match.group(1))) == HOSTILE[6]


def test_every_inline_script_is_valid_javascript(hostile_page, inline_page, tmp_path):
    node = shutil.which("node")
    require(node is not None, "node is not installed (apt-get install nodejs)")
    blocks = inline_scripts(hostile_page) + inline_scripts(inline_page)
    assert len(blocks) >= 4
    for i, block in enumerate(blocks):
        path = tmp_path / f"block{i}.js"
        path.write_text(block, encoding="utf-8")
        result = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"block {i}: {result.stderr[:500]}"


def test_served_page_loads_only_the_apps_own_scripts(hostile_page):
    assert external_resources(hostile_page) == []
    sources = re.findall(r'<script src="([^"]+)"', hostile_page)
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', hostile_page)
    assert sources == [url for _, url in served_links(cluster=True)[0]]
    assert sheets == [url for _, url in served_links(cluster=True)[1]]
    assert all(url.startswith("/app/static/vendor/") for url in sources + sheets)
    for name in ("jquery", "bootstrap", "awesome", "fontawesome"):
        assert name not in hostile_page.lower()


def test_inline_page_is_self_contained(inline_page):
    assert external_resources(inline_page) == []
    assert "<script src=" not in inline_page and "<link rel=" not in inline_page
    assert "Leaflet 1.9.4, a JS library for interactive maps" in inline_page
    assert "markerClusterGroup" in inline_page
    assert "url(data:image/png;base64," in inline_page
    _assert_no_raw_hostile_text(inline_page)


def test_folium_defaults_are_left_alone():
    m = build_assets_map(hostile_assets().head(1))
    assert m.default_js == [] and m.default_css == []
    assert any("jquery" in url for _, url in folium.Map.default_js)


def test_leaflet_string_for_st_folium_is_valid(tmp_path):
    streamlit_folium = pytest.importorskip("streamlit_folium")
    node = shutil.which("node")
    require(node is not None, "node is not installed")
    m = build_assets_map(hostile_assets(), layers={"ward": hostile_wards()})
    m.get_root().render()
    script = streamlit_folium.generate_leaflet_string(m)
    path = tmp_path / "st_folium.js"
    path.write_text(script, encoding="utf-8")
    result = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[:500]

    def walk(element):
        yield element
        for child in element._children.values():
            yield from walk(child)

    links = [url for element in walk(m) for _, url in getattr(element, "default_js", [])]
    assert links and all(url.startswith("/app/static/vendor/") for url in links)


def test_map_needs_max_zoom_without_tiles():
    m = build_assets_map(hostile_assets(), tiles="none")
    page = render_map_html(m)
    assert '"maxZoom": 19' in page
    assert "tile.openstreetmap.org" not in page


def test_openstreetmap_tiles_are_not_scripts():
    page = render_map_html(build_assets_map(hostile_assets(), tiles="openstreetmap"))
    assert "tile.openstreetmap.org" in page
    assert external_resources(page) == []


def test_only_required_columns_are_needed_and_unlocated_assets_are_left_out():
    frame = pd.DataFrame(
        {
            "asset_id": ["a", "b", "c"],
            "name": ["One", "Two", "Three"],
            "lat": [52.48, np.nan, 52.49],
            "lon": [-1.89, -1.9, None],
        }
    )
    (assets,) = payloads(render_map_html(build_assets_map(frame)), "asset_layer")
    assert [row[3] for row in assets["rows"]] == ["One"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"radius_circle": 800}, "needs a search centre"),
        ({"layers": {"parish": hostile_wards()}}, "'parish' is not one of"),
        (
            {"layers": {"ward": hostile_wards().set_crs(None, allow_override=True)}},
            "no coordinate reference system",
        ),
        ({"tiles": "google"}, "CAM_TILES"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(GeoError, match=message):
        build_assets_map(hostile_assets(), **kwargs)


def test_missing_column_is_named():
    with pytest.raises(GeoError, match="no column 'lat'"):
        build_assets_map(hostile_assets().drop(columns=["lat"]))


def test_asset_at_finds_the_clicked_asset():
    frame = hostile_assets()
    lat, lon = frame.loc[4, "lat"], frame.loc[4, "lon"]
    assert asset_at(frame, lat, lon) == frame.loc[4, "asset_id"]
    # The payload rounds positions to 5 decimals (~1 m): still the same asset.
    assert asset_at(frame, round(lat, 5), round(lon, 5), tolerance_m=3) == frame.loc[4, "asset_id"]
    assert asset_at(frame, lat + 0.01, lon) is None


def test_assets_at_returns_every_asset_at_a_shared_place():
    frame = hostile_assets()
    frame.loc[[2, 5], ["lat", "lon"]] = [52.5, -1.8]
    assert sorted(assets_at(frame, 52.5, -1.8, tolerance_m=1)) == sorted(frame.loc[[2, 5], "asset_id"])
    assert assets_at(frame, float("nan"), -1.8) == []


def test_ten_thousand_assets_make_one_small_payload():
    assets = synthetic_assets(10_000)
    page = render_map_html(build_assets_map(assets))
    (payload,) = payloads(page, "asset_layer")
    assert len(payload["rows"]) == 10_000
    assert len(page.encode("utf-8")) < 4 * 1024 * 1024
    # One payload, not one folium object per asset.
    assert page.count("L.circleMarker(") == 1 and "L.marker(" not in page


def test_vendor_scripts_copies_what_the_served_links_name(tmp_path):
    require(
        (NODE_MODULES / "leaflet" / "dist" / "leaflet.js").is_file(), "node_modules is absent: run `npm ci`"
    )
    dest = tmp_path / "vendor"
    assert missing_vendor_files(dest)
    with pytest.raises(MapScriptsMissing, match="python -m geo vendor"):
        require_vendored(dest)
    written = vendor_scripts(NODE_MODULES, dest)
    assert (dest / "leaflet" / "images" / "layers.png") in written
    require_vendored(dest)
    js, css = served_links(cluster=True)
    for _, url in js + css:
        assert (dest / url.removeprefix("/app/static/vendor/").split("?")[0]).is_file()
    # Running it again is harmless.
    assert sorted(vendor_scripts(NODE_MODULES, dest)) == sorted(written)


def test_vendor_scripts_without_node_modules_says_npm_ci(tmp_path):
    with pytest.raises(MapScriptsMissing, match="npm ci"):
        vendor_scripts(tmp_path / "node_modules", tmp_path / "vendor")


def test_vendor_scripts_refuses_a_version_other_than_the_pin(tmp_path):
    (tmp_path / "package.json").write_text(json.dumps({"dependencies": {"leaflet": "1.9.4"}}))
    dist = tmp_path / "node_modules" / "leaflet" / "dist"
    (dist / "images").mkdir(parents=True)
    for name in ("leaflet.js", "leaflet.css"):
        (dist / name).write_text("/* */")
    (dist.parent / "package.json").write_text(json.dumps({"version": "1.7.1"}))
    with pytest.raises(MapScriptsMissing, match=r"leaflet 1\.7\.1 .* pins 1\.9\.4; run `npm ci`"):
        vendor_scripts(tmp_path / "node_modules", tmp_path / "vendor")


def test_inline_mode_without_scripts_names_the_set_up(tmp_path):
    m = folium.Map(tiles=None)
    with pytest.raises(MapScriptsMissing, match="npm ci"):
        configure_map(m, "inline", vendor_dir=tmp_path / "vendor", node_modules=tmp_path / "node_modules")


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="'cdn' is not one of served, inline"):
        configure_map(folium.Map(tiles=None), "cdn")  # type: ignore[arg-type]


@pytest.mark.browser
def test_hostile_text_shows_as_text_in_chromium(chromium_path, tmp_path):
    """Open the self-contained page in Chromium, click every marker and read what it shows."""
    playwright = pytest.importorskip("playwright.sync_api")
    require(
        (NODE_MODULES / "leaflet" / "dist" / "leaflet.js").is_file(), "node_modules is absent: run `npm ci`"
    )
    frame = hostile_assets()
    m = build_assets_map(
        frame, layers={"ward": hostile_wards()}, mode="inline", highlight=frame.loc[3, "asset_id"]
    )
    path = tmp_path / "map.html"
    path.write_text(render_map_html(m), encoding="utf-8")

    problems: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.on("pageerror", lambda error: problems.append(f"error: {error}"))
        page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        page.on(
            "request", lambda r: r.url.startswith(("file:", "data:")) or problems.append(f"request: {r.url}")
        )
        page.goto(path.as_uri())
        page.wait_for_function("document.querySelectorAll('.leaflet-marker-pane path').length > 0")
        map_name = page.evaluate("Object.keys(window).find(k => k.startsWith('map_'))")
        page.evaluate(
            f"{map_name}.setView([{BIRMINGHAM[0] + 0.0002}, {BIRMINGHAM[1] + 0.0002}], 19, {{animate: false}})"
        )
        page.wait_for_timeout(300)
        page.evaluate(
            f"""window.__clicks = [];
            {map_name}.eachLayer(function (l) {{
                if (l.getLayers && l.options.chunkedLoading !== undefined) {{
                    l.on('click', function (e) {{ window.__clicks.push([e.layer.options.asset_id, e.latlng.lat, e.latlng.lng]); }});
                }}
            }});"""
        )
        shown = {}
        for asset_id in frame["asset_id"]:
            point = page.evaluate(
                f"""(() => {{ var found = null;
                {map_name}.eachLayer(function (l) {{ if (l.options && l.options.asset_id === {json.dumps(asset_id)}) found = l; }});
                var p = {map_name}.latLngToContainerPoint(found.getLatLng());
                var box = {map_name}.getContainer().getBoundingClientRect();
                return [p.x + box.left, p.y + box.top]; }})()"""
            )
            page.mouse.click(*point)
            page.wait_for_selector(".leaflet-popup-content .cam-popup")
            shown[asset_id] = page.evaluate(
                "Array.from(document.querySelectorAll('.leaflet-popup-content .cam-popup h3, "
                ".leaflet-popup-content .cam-popup dd')).map(e => e.textContent)"
            )
            badges = page.evaluate("document.querySelectorAll('.leaflet-popup-content .cam-badge').length")
            note = page.evaluate("document.querySelectorAll('.leaflet-popup-content .cam-note').length")
            assert badges == int(bool(frame.set_index("asset_id").loc[asset_id, "stale"]))
            assert note == int(bool(frame.set_index("asset_id").loc[asset_id, "private_address"]))
            page.evaluate(f"{map_name}.closePopup()")
            # The closing popup sits over the next marker until it has gone.
            page.wait_for_function("!document.querySelector('.leaflet-popup')")
        clicks = page.evaluate("window.__clicks")
        tooltip = page.evaluate(
            f"""(() => {{ var out = [];
            {map_name}.eachLayer(function (l) {{ if (l.feature && l.feature.properties.code === 'E05000001') {{
                {map_name}.eachLayer(function (g) {{ if (g.hasLayer && g !== l && g.getTooltip && g.getTooltip() && g.hasLayer(l)) out.push(g.getTooltip()._content(l).textContent); }});
            }} }}); return out; }})()"""
        )
        legend = page.evaluate("document.querySelector('.cam-legend').textContent")
        browser.close()

    assert problems == []
    for i, asset_id in enumerate(frame["asset_id"]):
        text = shown[asset_id]
        assert text[0] == HOSTILE[i]
        # The name, then when, cost, phone, email and website (not a link: not http).
        assert text.count(HOSTILE[i]) == len(TEXT_FIELDS)
        assert ("Music; Faith" in text) == (i != len(HOSTILE) - 1)
    # The clustered markers report their own position and id (the highlighted one is outside the cluster).
    clicked = {asset_id: (lat, lng) for asset_id, lat, lng in clicks}
    for asset_id in frame["asset_id"].drop(3):
        lat, lng = clicked[asset_id]
        assert asset_at(frame, lat, lng, tolerance_m=2) == asset_id
    assert tooltip == [f"Ward: {HOSTILE[1]} (E05000001)"]
    assert "Music" in legend and "Faded: needs re-checking" in legend
