"""Ward choropleth of a coverage measure, with a text legend and tooltips carrying the value.

Colour is never the only carrier of meaning: every ward's tooltip gives its name, code and
value as text, and the legend lists each class's value range as text. Ward names pass through
:func:`geo.escaping.escape_html` before they enter the GeoJSON (folium's tooltip sets
``innerHTML``); the legend is built from a safe JSON payload with ``textContent``. The map
loads Leaflet from the app (:func:`geo.mapscripts.configure_map`), never from a CDN.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from branca.element import MacroElement
from jinja2 import Template

from geo.boundaries import BoundaryLayer
from geo.coverage import CoverageResult
from geo.errors import CoverageError
from geo.escaping import escape_html, to_safe_json
from geo.mapscripts import Mode, configure_map

# ColorBrewer YlGnBu (sequential, colour-blind safe), light to dark, per number of classes.
PALETTES: dict[int, tuple[str, ...]] = {
    1: ("#41b6c4",),
    2: ("#a1dab4", "#225ea8"),
    3: ("#edf8b1", "#7fcdbb", "#2c7fb8"),
    4: ("#ffffcc", "#a1dab4", "#41b6c4", "#225ea8"),
    5: ("#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"),
    6: ("#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494"),
    7: ("#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#0c2c84"),
}
NO_DATA_COLOUR = "#d9d9d9"
NO_DATA_TEXT = "No data"
MAX_ZOOM = 19
_SHARES = ("walk_coverage", "most_deprived_10_share", "constituency_share")
_COUNTS = ("assets_", "population", "postcodes", "unmet_searches", "gap_rank", "change_assets_total")


def format_value(measure: str, value: float) -> str:
    """A measure's value as text: shares as percentages, counts whole, rates to two places."""
    if value is None or not np.isfinite(value):
        return NO_DATA_TEXT
    if measure.startswith(_SHARES):
        return f"{value:.0%}"
    if measure.startswith(_COUNTS) and not measure.endswith("per_1000") and float(value).is_integer():
        return f"{value:,.0f}"
    if measure == "gap_score":
        return f"{value:.3f}"
    return f"{value:,.2f}"


def class_breaks(values: np.ndarray, classes: int) -> np.ndarray:
    """Upper-inclusive class edges (quantiles of the finite values, duplicates removed)."""
    finite = np.sort(values[np.isfinite(values)])
    if len(finite) == 0:
        return np.array([], dtype=float)
    edges = np.quantile(finite, np.linspace(0.0, 1.0, classes + 1))
    return np.unique(edges)


def _classify(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Class index per value (-1 for missing); class k holds (edges[k], edges[k+1]], the first [min, ...]."""
    out = np.full(len(values), -1, dtype=np.int64)
    finite = np.isfinite(values)
    if len(edges) == 0:
        return out
    if len(edges) == 1:
        out[finite] = 0
        return out
    idx = np.searchsorted(edges, values[finite], side="left") - 1
    out[finite] = np.clip(idx, 0, len(edges) - 2)
    return out


def _legend(
    values: np.ndarray, measure: str, classes: int
) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """Class per value, the colour per value, and the legend rows (colour, text, wards)."""
    edges = class_breaks(values, classes)
    klass = _classify(values, edges)
    n_classes = max(len(edges) - 1, 1) if len(edges) else 0
    palette = PALETTES[max(n_classes, 1)]
    rows = []
    for k in range(n_classes):
        low = edges[k]
        high = edges[k + 1] if len(edges) > 1 else edges[0]
        text = (
            format_value(measure, low)
            if low == high
            else f"{format_value(measure, low)} – {format_value(measure, high)}"
        )
        rows.append({"colour": palette[k], "text": text, "wards": int((klass == k).sum())})
    if (klass < 0).any():
        rows.append({"colour": NO_DATA_COLOUR, "text": NO_DATA_TEXT, "wards": int((klass < 0).sum())})
    colours = [palette[k] if k >= 0 else NO_DATA_COLOUR for k in klass]
    return klass, colours, rows


class _Legend(MacroElement):
    """A legend control: title, one swatch and text range per class, and an attribution line."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var data = {{ this.payload }};
            var legend = L.control({position: "bottomright"});
            legend.onAdd = function () {
                var box = L.DomUtil.create("div", "cam-legend");
                box.style.cssText = "background:#fff;padding:6px 8px;border:1px solid #888;font:12px/1.4 sans-serif;max-width:260px";
                var title = document.createElement("strong");
                title.textContent = data.title;
                box.appendChild(title);
                data.rows.forEach(function (row) {
                    var line = document.createElement("div");
                    var swatch = document.createElement("span");
                    swatch.style.cssText = "display:inline-block;width:14px;height:14px;margin-right:6px;vertical-align:middle;border:1px solid #555;background:" + row[0];
                    line.appendChild(swatch);
                    line.appendChild(document.createTextNode(row[1]));
                    box.appendChild(line);
                });
                if (data.note) {
                    var note = document.createElement("div");
                    note.style.cssText = "margin-top:4px;color:#444;font-size:10px";
                    note.textContent = data.note;
                    box.appendChild(note);
                }
                return box;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, title: str, rows: list[tuple[str, str]], note: str):
        super().__init__()
        self._name = "CoverageLegend"
        self.payload = to_safe_json({"title": title, "rows": rows, "note": note})


def _ward_frame(ward_geometries: BoundaryLayer | gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = ward_geometries.frame if isinstance(ward_geometries, BoundaryLayer) else ward_geometries
    code = "code" if "code" in frame.columns else "ward_code" if "ward_code" in frame.columns else None
    if code is None or frame.crs is None or not hasattr(frame, "geometry"):
        msg = "ward boundaries need a 'code' (or 'ward_code') column, geometry and a coordinate reference system"
        raise CoverageError(msg)
    return frame.rename(columns={code: "_code"})


def build_choropleth(
    result: CoverageResult,
    ward_geometries: BoundaryLayer | gpd.GeoDataFrame,
    measure: str,
    *,
    labels: Mapping[str, str] | None = None,
    tiles: Literal["none", "openstreetmap"] = "none",
    mode: Mode = "served",
    classes: int = 5,
    attribution: str | None = None,
    simplify_m: float = 5.0,
    height: int | str = "100%",
) -> folium.Map:
    """Wards filled by ``measure`` (a numeric column of ``result.wards``) in quantile classes.

    Parameters
    ----------
    result
        From :func:`geo.coverage.compute_coverage`.
    ward_geometries
        The ward boundary layer (or a GeoDataFrame with code and geometry, any CRS).
    measure
        Column to map, e.g. "assets_per_1000", "walk_coverage", "gap_score".
    labels
        Human labels: measure -> legend title and tooltip label; also "ward" and "code" for the
        tooltip's other lines.
    tiles
        "none" (offline) or "openstreetmap".
    mode
        "served" (app) or "inline" (self-contained file), see :func:`geo.mapscripts.configure_map`.
    classes
        Number of quantile classes (1-7); fewer when values repeat.
    attribution
        Data attribution for the legend's foot (default: Code-Point Open's).

    Returns
    -------
    folium.Map
    """
    labels = dict(labels or {})
    if measure not in result.wards.columns or not pd.api.types.is_numeric_dtype(result.wards[measure]):
        numeric = [c for c in result.wards.columns if pd.api.types.is_numeric_dtype(result.wards[c])]
        msg = f"measure {measure!r} is not a numeric ward column; choose one of {', '.join(numeric)}"
        raise CoverageError(msg)
    if classes not in PALETTES:
        msg = f"classes must be between 1 and {max(PALETTES)}, not {classes!r}"
        raise CoverageError(msg)
    if tiles not in ("none", "openstreetmap"):
        msg = f"tiles {tiles!r} is not 'none' or 'openstreetmap'; set CAM_TILES to one of them"
        raise CoverageError(msg)
    if attribution is None:
        from settings import CODEPOINT_ATTRIBUTION

        attribution = CODEPOINT_ATTRIBUTION
    title = labels.get(measure, measure.replace("_", " ").capitalize())

    frame = _ward_frame(ward_geometries)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)
        geometry = frame.geometry.to_crs(27700)
        if simplify_m > 0:
            geometry = geometry.simplify(simplify_m, preserve_topology=True)
        geometry = geometry.to_crs(4326)
    geoms = pd.Series(geometry.to_numpy(), index=frame["_code"].astype(str).to_numpy())
    geoms = geoms[~geoms.index.duplicated()]

    wards = result.wards
    values = pd.to_numeric(wards[measure], errors="coerce").to_numpy(dtype=float)
    _, colours, legend = _legend(values, measure, classes)
    ward_label = labels.get("ward", "Ward")
    features = []
    for code, name, value, colour in zip(
        wards["ward_code"].astype(str), wards["ward_name"].astype(str), values, colours, strict=True
    ):
        geom = geoms.get(code)
        if geom is None or shapely.is_empty(geom):
            continue
        geom = shapely.transform(geom, lambda xy: np.round(xy, 5))
        features.append(
            {
                "type": "Feature",
                "properties": {
                    # Escaped here: folium's tooltip writes these with innerHTML.
                    "name": escape_html(name),
                    "code": escape_html(code),
                    "value": escape_html(format_value(measure, value)),
                    "fill": colour,
                },
                "geometry": shapely.geometry.mapping(geom),
            }
        )
    if not features:
        msg = "none of the result's wards has a boundary in the ward layer given; load the area's ward boundaries"
        raise CoverageError(msg)
    collection = {"type": "FeatureCollection", "features": features}

    m = folium.Map(
        location=[54.0, -2.5],
        zoom_start=6,
        tiles="OpenStreetMap" if tiles == "openstreetmap" else None,
        max_zoom=MAX_ZOOM,
        maxZoom=MAX_ZOOM,
        height=height,
        control_scale=True,
    )
    configure_map(m, mode)
    folium.GeoJson(
        collection,
        name=escape_html(title),
        style_function=lambda feature: {
            "fillColor": feature["properties"]["fill"],
            "color": "#333333",
            "weight": 1,
            "fillOpacity": 0.75,
        },
        highlight_function=lambda feature: {"weight": 3, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "code", "value"],
            aliases=[escape_html(ward_label), escape_html(labels.get("code", "Code")), escape_html(title)],
            sticky=True,
        ),
    ).add_to(m)

    rows = [(row["colour"], row["text"]) for row in legend]
    _Legend(title, rows, attribution).add_to(m)

    bounds = shapely.total_bounds(np.array([shapely.geometry.shape(f["geometry"]) for f in features]))
    m.fit_bounds([[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]])
    return m


def legend_rows(result: CoverageResult, measure: str, *, classes: int = 5) -> list[dict[str, Any]]:
    """The legend as data (colour, text, wards in the class), for a page to show beside the map."""
    if measure not in result.wards.columns:
        msg = f"measure {measure!r} is not a ward column"
        raise CoverageError(msg)
    values = pd.to_numeric(result.wards[measure], errors="coerce").to_numpy(dtype=float)
    return _legend(values, measure, classes)[2]


__all__ = ["PALETTES", "build_choropleth", "class_breaks", "format_value", "legend_rows"]
