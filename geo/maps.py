"""Interactive maps of the asset register: assets, boundaries, a "find nearby" circle.

The asset layer is one JSON payload and a small script, not one folium object per asset:
folium's ``Marker`` costs about 0.5 ms and 430 bytes each, and 10,000 of them take the
browser most of a minute to draw. The script creates an ``L.circleMarker`` per asset inside an
``L.markerClusterGroup`` and builds each popup only when it is opened, with
``document.createElement`` and ``textContent``, so no user text is ever parsed as HTML.

Every user string reaches the page through :mod:`geo.escaping`: asset and boundary data as
one :func:`~geo.escaping.to_safe_json` payload per layer, shown with ``textContent``; the
attribution through :func:`~geo.escaping.escape_html` (Leaflet sets it as ``innerHTML``).
Our layers are added to the page verbatim: branca would otherwise compile each rendered
script again as a Jinja template (see :mod:`geo.escaping`).

Identifying a clicked asset in Streamlit
----------------------------------------
``st_folium`` reports ``last_object_clicked`` (a ``{"lat", "lng"}`` dict) for clicks on
layers. The script sets that position to the clicked marker's own position (also when the
cluster has spread co-located markers out), and each marker carries ``options.asset_id``.
Pass the position to :func:`asset_at` (the nearest asset) or :func:`assets_at` (every asset
there: several activities often share one venue, and private addresses share a sector
centroid)::

    state = st_folium(m, returned_objects=["last_object_clicked"], key="map")
    clicked = state.get("last_object_clicked")
    if clicked:
        asset_ids = assets_at(assets, clicked["lat"], clicked["lng"])
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

import folium
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from branca.element import Element, MacroElement
from folium.elements import ElementAddToElement
from folium.map import Layer
from jinja2 import Template

from geo.errors import GeoError
from geo.escaping import escape_html, to_safe_json
from geo.mapscripts import Mode, configure_map

# One colour per category slug (the first category of an asset sets its colour). Chosen to
# be told apart on a white or OpenStreetMap background; kept fixed so a colour means the same
# category on every map and in every printout.
CATEGORY_COLOURS: dict[str, str] = {
    "social_friendship": "#e6194b",
    "physical_activity": "#3cb44b",
    "arts_crafts": "#f58231",
    "music": "#911eb4",
    "faith": "#9a6324",
    "learning_skills": "#4363d8",
    "peer_support_wellbeing": "#f032e6",
    "carers_support": "#800000",
    "food_lunch_clubs": "#bfa600",
    "advice_information": "#000075",
    "volunteering": "#469990",
    "digital_inclusion": "#42d4f4",
    "nature_gardening": "#2e7d32",
    "warm_spaces": "#ff6f61",
    "health_wellbeing": "#808000",
}
OTHER_COLOUR = "#7a7a7a"

DEFAULT_COST_LABELS: dict[str, str] = {"free": "Free", "low": "Low cost", "paid": "Paid"}

BOUNDARY_LAYERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # layer: (layer-control title, tooltip label, style)
    "district": (
        "Local authority",
        "Local authority",
        {"color": "#222222", "weight": 3, "fill": True, "fillOpacity": 0.0},
    ),
    "constituency": (
        "Constituencies",
        "Constituency",
        {"color": "#1d4ed8", "weight": 2.5, "dashArray": "6 4", "fill": True, "fillOpacity": 0.0},
    ),
    "ward": (
        "Wards",
        "Ward",
        {"color": "#555555", "weight": 1.2, "fillColor": "#555555", "fillOpacity": 0.03},
    ),
}

TEXT: dict[str, str] = {
    "kind": "Kind",
    "categories": "Categories",
    "when": "When",
    "cost": "Cost",
    "access": "Access",
    "phone": "Phone",
    "email": "Email",
    "website": "Website",
    "verified": "Last verified",
    "stale": "Needs re-checking",
    "private": "Meets at a private address: shown at postcode-sector level",
    "legend": "Category (first listed)",
    "legend_stale": "Faded: needs re-checking",
    "other": "Other or none",
}

# The order of the values in each payload row; the script looks fields up by name.
FIELDS: tuple[str, ...] = (
    "lat",
    "lon",
    "asset_id",
    "name",
    "kind",
    "categories",
    "when",
    "cost",
    "access",
    "phone",
    "email",
    "website",
    "verified",
    "flags",
)
FLAG_STALE, FLAG_PRIVATE, FLAG_HIGHLIGHT = 1, 2, 4

REQUIRED_COLUMNS = ("asset_id", "name", "lat", "lon")
UK_CENTRE = (54.0, -2.5)
MAX_ZOOM = 19
# ~1 m: finer digits only make the page bigger.
COORDINATE_DECIMALS = 5
_METRES_PER_DEGREE = 111_320.0


def _humanise(slug: str) -> str:
    return slug.replace("_", " ").strip().capitalize()


def _text(frame: pd.DataFrame, column: str) -> list[str]:
    """A column as strings, "" for missing values or a missing column."""
    if column not in frame.columns:
        return [""] * len(frame)
    series = frame[column]
    values = series.tolist()
    missing = series.isna().to_numpy()
    if missing.any():
        values = ["" if gap else value for value, gap in zip(values, missing, strict=True)]
    return [value if type(value) is str else str(value) for value in values]


def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _clean_slugs(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, (tuple, list, np.ndarray)):
        return tuple(str(item) for item in value if not _missing(item) and str(item).strip())
    return ()


def _slug_indices(
    frame: pd.DataFrame, column: str, known_order: Sequence[str]
) -> tuple[list[str], list[list[int]]]:
    """A column of slug tuples as indices into a vocabulary (known slugs first, others as met).

    Registers repeat a few combinations thousands of times, so each distinct value is cleaned
    and indexed once.
    """
    if column not in frame.columns:
        return [], [[] for _ in range(len(frame))]
    cleaned: dict[object, tuple[str, ...]] = {}
    values = frame[column].tolist()
    slugs_per_row: list[tuple[str, ...]] = []
    for value in values:
        key = value if isinstance(value, (str, tuple)) else None
        if key is not None and key in cleaned:
            slugs_per_row.append(cleaned[key])
            continue
        slugs = _clean_slugs(value)
        if key is not None:
            cleaned[key] = slugs
        slugs_per_row.append(slugs)
    seen = dict.fromkeys(slug for slugs in set(slugs_per_row) for slug in slugs)
    known = set(known_order)
    order = [slug for slug in known_order if slug in seen] + sorted(
        slug for slug in seen if slug not in known
    )
    index = {slug: i for i, slug in enumerate(order)}
    as_indices = {slugs: [index[slug] for slug in slugs] for slugs in set(slugs_per_row)}
    return order, [as_indices[slugs] for slugs in slugs_per_row]


def _flags(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return frame[column].fillna(False).astype(bool).to_numpy()


def _dates(frame: pd.DataFrame, column: str) -> list[str]:
    """Dates as "15 Jan 2025" ("" when missing); each distinct date is formatted once."""
    if column not in frame.columns:
        return [""] * len(frame)
    codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
    labels = pd.to_datetime(pd.Series(uniques, dtype=object), errors="coerce").dt.strftime("%d %b %Y")
    lookup = np.asarray(labels.fillna("").tolist() + [""], dtype=object)
    # The sentinel -1 picks the trailing "".
    return lookup[codes].tolist()


def _check_columns(assets: pd.DataFrame) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in assets.columns]
    if missing:
        msg = (
            f"the asset table has no column {', '.join(repr(c) for c in missing)}; a map needs "
            f"{', '.join(REQUIRED_COLUMNS)} (geocode the assets first)"
        )
        raise GeoError(msg)


def asset_payload(
    assets: pd.DataFrame,
    *,
    highlight: Collection[str] = (),
    category_labels: Mapping[str, str] | None = None,
    access_labels: Mapping[str, str] | None = None,
    kind_labels: Mapping[str, str] | None = None,
    cost_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The compact data the map script reads: one row (a list) per asset with a position.

    Assets without a finite lat/lon are left out (geocoding reports them). Category and
    accessibility slugs become indices into label lists given once.
    """
    _check_columns(assets)
    category_labels = category_labels or {}
    access_labels = access_labels or {}
    kind_labels = kind_labels or {}
    cost_labels = DEFAULT_COST_LABELS | dict(cost_labels or {})

    lat = pd.to_numeric(assets["lat"], errors="coerce").to_numpy(dtype=float)
    lon = pd.to_numeric(assets["lon"], errors="coerce").to_numpy(dtype=float)
    located = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    frame = assets.loc[located]
    lat = np.round(lat[located], COORDINATE_DECIMALS)
    lon = np.round(lon[located], COORDINATE_DECIMALS)

    cat_order, categories = _slug_indices(frame, "categories", list(CATEGORY_COLOURS))
    access_order, access = _slug_indices(frame, "accessibility", list(access_labels))

    kinds = _text(frame, "kind")
    kind_codes, kind_values = pd.factorize(pd.Series(kinds, dtype=object), sort=True)
    kind_list = [kind_labels.get(value, _humanise(value)) if value else "" for value in kind_values]

    cost = _text(frame, "cost_text")
    cost_band = _text(frame, "cost")
    cost = [text or cost_labels.get(band, band) for text, band in zip(cost, cost_band, strict=True)]

    ids = frame["asset_id"].astype(str).tolist()
    highlight_set = {str(asset_id) for asset_id in highlight}
    flags = (
        _flags(frame, "stale").astype(np.int64) * FLAG_STALE
        + _flags(frame, "private_address").astype(np.int64) * FLAG_PRIVATE
    )
    if highlight_set:
        flags = (
            flags
            + np.isin(np.asarray(ids, dtype=object), list(highlight_set)).astype(np.int64) * FLAG_HIGHLIGHT
        )

    rows = list(
        zip(
            lat.tolist(),
            lon.tolist(),
            ids,
            _text(frame, "name"),
            kind_codes.tolist(),
            categories,
            _text(frame, "sessions_text"),
            cost,
            access,
            _text(frame, "public_phone"),
            _text(frame, "public_email"),
            _text(frame, "website"),
            _dates(frame, "last_verified"),
            flags.tolist(),
            strict=True,
        )
    )
    return {
        "fields": list(FIELDS),
        "categories": [
            [slug, category_labels.get(slug, _humanise(slug)), CATEGORY_COLOURS.get(slug, OTHER_COLOUR)]
            for slug in cat_order
        ],
        "access": [access_labels.get(slug, _humanise(slug)) for slug in access_order],
        "kinds": kind_list,
        "other_colour": OTHER_COLOUR,
        "text": TEXT,
        "rows": rows,
    }


class _Verbatim(Element):
    """Rendered text that branca must not compile again as a Jinja template.

    branca's ``MacroElement.render`` wraps each rendered macro in ``Element(text)``, which
    compiles the text as a template: slow on a multi-megabyte payload, and a template
    injection if user text with ``{{`` ever got through.
    """

    def __init__(self, text: str):
        super().__init__()
        self._name = "Verbatim"
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


class _ScriptLayer(Layer):
    """A layer drawn by our own script from one safe JSON payload, rendered verbatim."""

    def render(self, **kwargs) -> None:
        if self.show:
            self.add_child(
                ElementAddToElement(
                    element_name=self.get_name(), element_parent_name=self._parent.get_name()
                ),
                name=self.get_name() + "_add",
            )
        figure = self.get_root()
        module = self._template.module
        header = getattr(module, "header", None)
        if header is not None:
            figure.header.add_child(_Verbatim(header(self, kwargs)), name=self.get_name())
        figure.script.add_child(_Verbatim(module.script(self, kwargs)), name=self.get_name())
        for element in self._children.values():
            element.render(**kwargs)


class AssetLayer(_ScriptLayer):
    """The assets as clustered circle markers with popups built from text nodes, plus a legend.

    Popups and tooltips are bound once to the cluster group (not per marker) and built when
    opened; ``st_folium`` then also reports the clicked asset's popup and tooltip text.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
        .cam-popup { font: 13px/1.4 system-ui, sans-serif; max-width: 300px; }
        .cam-popup h3 { font-size: 15px; margin: 0 0 4px; }
        .cam-popup dl { margin: 6px 0 0; display: grid; grid-template-columns: auto 1fr; gap: 2px 8px; }
        .cam-popup dt { font-weight: 600; color: #444; }
        .cam-popup dd { margin: 0; overflow-wrap: anywhere; }
        .cam-badge { display: inline-block; padding: 1px 6px; border-radius: 8px; background: #fde68a;
                     color: #7c2d12; font-size: 12px; font-weight: 600; }
        .cam-note { font-size: 12px; color: #555; font-style: italic; margin: 6px 0 0; }
        .cam-legend { background: #fff; padding: 6px 8px; border-radius: 4px; max-height: 40vh; overflow: auto;
                      box-shadow: 0 1px 4px rgba(0,0,0,.3); font: 12px/1.6 system-ui, sans-serif; }
        .cam-swatch { display: inline-block; width: 12px; height: 12px; border-radius: 50%; margin-right: 6px;
                      vertical-align: middle; box-shadow: 0 0 0 1px #888; }
        </style>
        {% endmacro %}

        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function (map) {
            var data = {{ this.payload }};
            var rows = data.rows, T = data.text, F = {};
            data.fields.forEach(function (name, i) { F[name] = i; });

            function el(tag, cls, text) {
                var node = document.createElement(tag);
                if (cls) { node.className = cls; }
                if (text !== undefined && text !== null) { node.textContent = text; }
                return node;
            }
            function labelsOf(indices, labels) {
                return indices.map(function (i) { return labels[i]; }).join("; ");
            }
            // Built when a popup opens, from text nodes only: user text is never parsed as HTML.
            function popup(layer) {
                var r = rows[layer.options.row];
                var box = el("div", "cam-popup");
                box.appendChild(el("h3", null, r[F.name]));
                if (r[F.flags] & {{ this.flag_stale }}) { box.appendChild(el("span", "cam-badge", T.stale)); }
                var dl = el("dl");
                function item(label, value) {
                    if (value === "" || value === null || value === undefined) { return; }
                    dl.appendChild(el("dt", null, label));
                    var dd = el("dd");
                    if (typeof value === "string") { dd.textContent = value; } else { dd.appendChild(value); }
                    dl.appendChild(dd);
                }
                item(T.kind, r[F.kind] >= 0 ? data.kinds[r[F.kind]] : "");
                item(T.categories, r[F.categories].map(function (i) { return data.categories[i][1]; }).join("; "));
                item(T.when, r[F.when]);
                item(T.cost, r[F.cost]);
                item(T.access, labelsOf(r[F.access], data.access));
                item(T.phone, r[F.phone]);
                item(T.email, r[F.email]);
                var web = r[F.website];
                if (/^https?:[/][/]/i.test(web)) {
                    var link = el("a", null, web);
                    link.href = web;
                    link.target = "_blank";
                    link.rel = "noopener noreferrer";
                    item(T.website, link);
                } else {
                    item(T.website, web);
                }
                item(T.verified, r[F.verified]);
                box.appendChild(dl);
                if (r[F.flags] & {{ this.flag_private }}) { box.appendChild(el("p", "cam-note", T["private"])); }
                return box;
            }
            function tooltip(layer) {
                return el("span", null, rows[layer.options.row][F.name]);
            }
            // st_folium reports the event's latlng: make it the asset's own position, also when
            // the cluster has spread co-located markers apart, so the page can look the asset up.
            // Registered before bindPopup so the popup opens there too.
            function onClick(e) {
                var marker = e.layer || e.target;
                if (marker && marker.getLatLng) { e.latlng = marker._preSpiderfyLatlng || marker.getLatLng(); }
            }
            // Leaflet focuses the map on mousedown and restores the scroll of its own window
            // only: in st_folium's iframe the app's page scrolls to show the whole map between
            // mousedown and mouseup, and the click misses the marker (on Find nearby it becomes
            // a search around another point). Focus without scrolling instead.
            if (map.keyboard && map.keyboard.enabled()) {
                map.keyboard.disable();
                map.keyboard._onMouseDown = function () {
                    if (!this._focused) { this._map._container.focus({preventScroll: true}); }
                };
                map.keyboard.enable();
            }

            var cluster = L.markerClusterGroup({
                chunkedLoading: true,
                showCoverageOnHover: false,
                maxClusterRadius: {{ this.cluster_radius }},
                disableClusteringAtZoom: {{ this.max_zoom }}
            });
            cluster.on("click", onClick);
            cluster.bindPopup(popup, {maxWidth: 320});
            cluster.bindTooltip(tooltip);
            var highlighted = L.layerGroup();
            var markers = [];
            for (var i = 0; i < rows.length; i++) {
                var r = rows[i];
                var cats = r[F.categories];
                var flags = r[F.flags];
                var emphasis = (flags & {{ this.flag_highlight }}) !== 0;
                var marker = L.circleMarker([r[F.lat], r[F.lon]], {
                    pane: "markerPane",
                    radius: emphasis ? 10 : 7,
                    color: emphasis ? "#000000" : "#ffffff",
                    weight: emphasis ? 3 : 1.5,
                    fillColor: cats.length ? data.categories[cats[0]][2] : data.other_colour,
                    fillOpacity: (flags & {{ this.flag_stale }}) ? 0.45 : 0.9,
                    row: i,
                    asset_id: r[F.asset_id]
                });
                if (emphasis) {
                    // Outside the clusters, so always visible: bound one by one.
                    marker.on("click", onClick);
                    marker.bindPopup(popup, {maxWidth: 320});
                    marker.bindTooltip(tooltip);
                    highlighted.addLayer(marker);
                } else {
                    markers.push(marker);
                }
            }
            cluster.addLayers(markers);

            {%- if this.legend %}
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function () {
                var box = el("div", "cam-legend");
                box.appendChild(el("strong", null, T.legend));
                var entries = data.categories.map(function (c) { return [c[1], c[2], 0.9]; });
                if (rows.some(function (r) { return r[F.categories].length === 0; })) {
                    entries.push([T.other, data.other_colour, 0.9]);
                }
                if (rows.some(function (r) { return r[F.flags] & {{ this.flag_stale }}; })) {
                    entries.push([T.legend_stale, data.other_colour, 0.45]);
                }
                entries.forEach(function (entry) {
                    var line = el("div");
                    var swatch = el("span", "cam-swatch");
                    swatch.style.backgroundColor = entry[1];
                    swatch.style.opacity = entry[2];
                    line.appendChild(swatch);
                    line.appendChild(document.createTextNode(entry[0]));
                    box.appendChild(line);
                });
                L.DomEvent.disableClickPropagation(box);
                L.DomEvent.disableScrollPropagation(box);
                return box;
            };
            if (rows.length) { legend.addTo(map); }
            {%- endif %}

            // A plain LayerGroup does not re-fire its members' events, so st_folium (which
            // listens on every layer of the map) sees one click per marker click.
            return L.layerGroup([cluster, highlighted]);
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        payload: dict[str, Any],
        *,
        name: str = "Assets",
        legend: bool = True,
        cluster_radius: int = 50,
        max_zoom: int = MAX_ZOOM,
    ):
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "AssetLayer"
        self.payload = to_safe_json(payload)
        self.count = len(payload["rows"])
        self.legend = legend
        self.cluster_radius = int(cluster_radius)
        self.max_zoom = int(max_zoom)
        self.flag_stale = FLAG_STALE
        self.flag_private = FLAG_PRIVATE
        self.flag_highlight = FLAG_HIGHLIGHT


class BoundaryLayer(_ScriptLayer):
    """Boundary outlines (wards, constituencies, a district) with name tooltips set as text.

    The tooltip is bound to the whole layer as a function, which ``st_folium`` also calls to
    report ``last_object_clicked_tooltip`` (e.g. "Ward: Nechells (E05011155)").
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function () {
            var data = {{ this.payload }};
            var layer = L.geoJSON(data.collection, {style: function () { return data.style; }});
            layer.bindTooltip(function (part) {
                var box = document.createElement("div");
                var label = document.createElement("strong");
                label.textContent = data.label + ": ";
                box.appendChild(label);
                var props = part.feature.properties;
                box.appendChild(document.createTextNode(props.code ? props.name + " (" + props.code + ")" : props.name));
                return box;
            }, {sticky: true});
            layer.on("mouseover", function (e) { e.layer.setStyle(data.hover); });
            layer.on("mouseout", function (e) { layer.resetStyle(e.layer); });
            return layer;
        })();
        {% endmacro %}
        """
    )

    def __init__(self, collection: dict[str, Any], *, name: str, label: str, style: Mapping[str, Any]):
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "BoundaryLayer"
        self.payload = to_safe_json(
            {
                "collection": collection,
                "label": label,
                "style": dict(style),
                "hover": {"weight": float(style.get("weight", 1)) + 1.5, "fillOpacity": 0.08},
            }
        )


class _Attribution(MacroElement):
    """A data attribution in Leaflet's attribution control (which sets innerHTML: text is pre-escaped)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        if ({{ this._parent.get_name() }}.attributionControl) {
            {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text }});
        }
        {% endmacro %}
        """
    )

    def __init__(self, text: str):
        super().__init__()
        self._name = "Attribution"
        self.text = to_safe_json(escape_html(text))


def _boundary_frame(layer: object, key: str):
    frame = getattr(layer, "frame", layer)
    if not hasattr(frame, "geometry") or "name" not in getattr(frame, "columns", ()):
        msg = f"boundary layer {key!r} is not a GeoDataFrame (or BoundaryLayer) with a 'name' column and geometry"
        raise GeoError(msg)
    if frame.crs is None:
        msg = f"boundary layer {key!r} has no coordinate reference system; reload the file with its CRS"
        raise GeoError(msg)
    return frame


def boundary_collection(layer: object, key: str, *, simplify_m: float = 5.0) -> dict[str, Any]:
    """A boundary layer as a GeoJSON FeatureCollection in WGS84 (properties name, code; a bbox).

    Outlines are simplified by ``simplify_m`` metres (in British National Grid) and rounded to
    about a metre: full-resolution ward outlines add megabytes the screen cannot show.
    Names are the raw text: embed the result with :func:`geo.escaping.to_safe_json`, or escape
    the properties with :func:`geo.escaping.escape_html` before handing them to folium's
    ``GeoJson``/``GeoJsonTooltip`` (which set ``innerHTML`` and re-read the page as Jinja).
    """
    frame = _boundary_frame(layer, key)
    geometry = frame.geometry
    if simplify_m > 0:
        geometry = geometry.to_crs(27700).simplify(simplify_m, preserve_topology=True)
    geometry = geometry.to_crs(4326)
    geometries = shapely.transform(geometry.to_numpy(), lambda xy: np.round(xy, COORDINATE_DECIMALS))
    west, south, east, north = shapely.total_bounds(geometries)
    features = [
        {
            "type": "Feature",
            "properties": {"name": name, "code": code},
            "geometry": shapely.geometry.mapping(geom),
        }
        for name, code, geom in zip(_text(frame, "name"), _text(frame, "code"), geometries, strict=True)
        if geom is not None and not geom.is_empty
    ]
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if features:
        collection["bbox"] = [float(west), float(south), float(east), float(north)]
    return collection


def _add_boundaries(m: folium.Map, layers: Mapping[str, object], simplify_m: float) -> list[list[float]]:
    unknown = [key for key in layers if key not in BOUNDARY_LAYERS]
    if unknown:
        msg = f"boundary layer {unknown[0]!r} is not one of {', '.join(BOUNDARY_LAYERS)}"
        raise GeoError(msg)
    bounds: list[list[float]] = []
    # District first so the finer wards are drawn on top and get the hover.
    for key, (title, label, style) in BOUNDARY_LAYERS.items():
        if layers.get(key) is None:
            continue
        collection = boundary_collection(layers[key], key, simplify_m=simplify_m)
        if getattr(layers[key], "approximate", False):
            title = f"{title} (approximate)"
        if "bbox" in collection:
            west, south, east, north = collection["bbox"]
            bounds.extend([[south, west], [north, east]])
        BoundaryLayer(collection, name=title, label=label, style=style).add_to(m)
    return bounds


def _radius_bounds(lat: float, lon: float, radius_m: float) -> list[list[float]]:
    dlat = radius_m / _METRES_PER_DEGREE
    dlon = radius_m / (_METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 1e-6))
    return [[lat - dlat, lon - dlon], [lat + dlat, lon + dlon]]


def build_assets_map(
    assets: pd.DataFrame,
    *,
    layers: Mapping[str, object] | None = None,
    tiles: Literal["none", "openstreetmap"] = "none",
    mode: Mode = "served",
    center: Sequence[float] | None = None,
    radius_circle: float | None = None,
    highlight: str | Collection[str] | None = None,
    height: int | str = "100%",
    attribution: str | None = None,
    category_labels: Mapping[str, str] | None = None,
    access_labels: Mapping[str, str] | None = None,
    kind_labels: Mapping[str, str] | None = None,
    simplify_m: float = 5.0,
) -> folium.Map:
    """A map of the assets, with boundary layers and an optional "find nearby" circle.

    Parameters
    ----------
    assets
        The asset frame (see docs/INTERFACES.md); asset_id, name, lat, lon are required, the
        other columns are shown when present. Assets without coordinates are left out.
    layers
        Boundary layers keyed "ward", "constituency", "district": ``BoundaryLayer`` objects or
        GeoDataFrames with name (and code) columns, in any CRS.
    tiles
        "none" (offline: boundaries only) or "openstreetmap".
    mode
        "served" for the app (scripts from /app/static/vendor), "inline" for a self-contained file.
    center
        (lat, lon) of a search; drawn as a marker, and the map centres on it.
    radius_circle
        Radius in metres of the search circle around ``center``.
    highlight
        An asset_id or ids to draw larger, outlined and outside the clusters.
    height
        Map height (pixels or a CSS size).
    attribution
        Data attribution shown in the corner; defaults to Code-Point Open's.
    category_labels, access_labels, kind_labels
        Labels for the slugs (the taxonomy's); slugs without one are shown humanised.
    simplify_m
        Boundary simplification tolerance in metres.

    Returns
    -------
    The folium map; :func:`render_map_html` gives the page, ``st_folium`` shows it.
    """
    if radius_circle is not None and center is None:
        msg = f"a search radius ({radius_circle} m) needs a search centre: pass center=(lat, lon)"
        raise GeoError(msg)
    if tiles not in ("none", "openstreetmap"):
        msg = f"tiles {tiles!r} is not 'none' or 'openstreetmap'; set CAM_TILES to one of them"
        raise GeoError(msg)
    if attribution is None:
        from settings import CODEPOINT_ATTRIBUTION

        attribution = CODEPOINT_ATTRIBUTION
    highlight_ids = (highlight,) if isinstance(highlight, str) else tuple(highlight or ())

    m = folium.Map(
        location=list(center) if center is not None else list(UK_CENTRE),
        zoom_start=14 if center is not None else 6,
        tiles="OpenStreetMap" if tiles == "openstreetmap" else None,
        max_zoom=MAX_ZOOM,
        # folium passes max_zoom only to its tile layer; the map needs it for clustering when
        # there are no tiles ("Map has no maxZoom specified").
        maxZoom=MAX_ZOOM,
        height=height,
        control_scale=True,
    )
    configure_map(m, mode, cluster=True)

    bounds = _add_boundaries(m, layers or {}, simplify_m)

    payload = asset_payload(
        assets,
        highlight=highlight_ids,
        category_labels=category_labels,
        access_labels=access_labels,
        kind_labels=kind_labels,
    )
    AssetLayer(payload).add_to(m)

    if center is not None:
        lat, lon = float(center[0]), float(center[1])
        search = folium.FeatureGroup(name="Search area", overlay=True, show=True)
        if radius_circle is not None:
            folium.Circle(
                location=[lat, lon],
                radius=float(radius_circle),
                color="#1d4ed8",
                weight=2,
                fill=True,
                fill_opacity=0.05,
                interactive=False,
            ).add_to(search)
            bounds = _radius_bounds(lat, lon, float(radius_circle))
        # A circle marker, not an icon: Leaflet's default icon images break when served locally.
        folium.CircleMarker(
            location=[lat, lon],
            radius=7,
            color="#111111",
            weight=3,
            fill=True,
            fill_color="#ffffff",
            fill_opacity=1.0,
            tooltip="Search centre",
        ).add_to(search)
        search.add_to(m)
    elif payload["rows"] and not bounds:
        # With boundaries drawn the view is the area; records over the border stay on the map.
        lats = [row[0] for row in payload["rows"]]
        lons = [row[1] for row in payload["rows"]]
        bounds.extend([[min(lats), min(lons)], [max(lats), max(lons)]])

    # A search with a radius shows the circle; a search without one stays at street zoom.
    if bounds and (center is None or radius_circle is not None):
        lat_values = [b[0] for b in bounds]
        lon_values = [b[1] for b in bounds]
        m.fit_bounds([[min(lat_values), min(lon_values)], [max(lat_values), max(lon_values)]], max_zoom=16)

    m.add_child(_Attribution(attribution))
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def render_map_html(m: folium.Map) -> str:
    """The map as a complete HTML page."""
    return m.get_root().render()


def assets_at(assets: pd.DataFrame, lat: float, lng: float, *, tolerance_m: float = 50.0) -> list[str]:
    """The asset_ids within ``tolerance_m`` of a clicked position, nearest first.

    Several assets can share a position (activities at one venue; private addresses shown at
    their postcode sector's centroid), so a page should offer all of them.
    """
    _check_columns(assets)
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return []
    lats = pd.to_numeric(assets["lat"], errors="coerce").to_numpy(dtype=float)
    lons = pd.to_numeric(assets["lon"], errors="coerce").to_numpy(dtype=float)
    # Equirectangular distance: exact enough over tens of metres.
    dy = (lats - lat) * _METRES_PER_DEGREE
    dx = (lons - lng) * _METRES_PER_DEGREE * math.cos(math.radians(lat))
    distance = np.hypot(dx, dy)
    inside = np.flatnonzero(np.isfinite(distance) & (distance <= tolerance_m))
    order = inside[np.argsort(distance[inside], kind="stable")]
    return assets["asset_id"].astype(str).to_numpy()[order].tolist()


def asset_at(assets: pd.DataFrame, lat: float, lng: float, *, tolerance_m: float = 50.0) -> str | None:
    """The asset_id nearest a clicked position (``st_folium``'s ``last_object_clicked``), or None."""
    found = assets_at(assets, lat, lng, tolerance_m=tolerance_m)
    return found[0] if found else None
