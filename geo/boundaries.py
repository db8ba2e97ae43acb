"""Boundary layers (ward, constituency, district): read official files, validate, derive, export.

Every layer is held in British National Grid (EPSG:27700) as a GeoDataFrame with one row
per ONS code (``code``, ``name``, ``geometry``), together with where it came from and its
vintage. Official files may be GeoJSON, GeoPackage or a zipped Shapefile in any CRS. Where no
official ward file is loaded, :func:`derive_ward_layer` builds approximate wards from the
Code-Point Open postcode points.
"""

from __future__ import annotations

import json
import re
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.errors import BoundaryError

if TYPE_CHECKING:
    from geo.gazetteer import Gazetteer

LAYERS = ("ward", "constituency", "district")
BNG = "EPSG:27700"
WGS84 = "EPSG:4326"

#: ONS code prefixes per layer (England, Wales, Scotland).
CODE_PREFIXES: dict[str, tuple[str, ...]] = {
    "ward": ("E05", "W05", "S13"),
    "constituency": ("E14", "W07", "S14"),
    "district": ("E06", "E07", "E08", "E09", "W06", "S12"),
}
_LAYER_PLURAL = {"ward": "wards", "constituency": "constituencies", "district": "districts"}

# Field names recognised per layer, tried in order (case-insensitive, whole name). A
# two-digit group is the boundary year ("WD24CD" -> 2024). Names found in the files people
# actually hold: ONS downloads (WD24CD/WD24NM ...), BSol.mapR (WardCode/Ward,
# Const24Code/Constituency24/PlotName), OS Boundary-Line (CODE/NAME).
_CODE_FIELDS: dict[str, tuple[str, ...]] = {
    "ward": (r"WD(\d\d)CD", r"WARD_?CODE", r"WARD_?CD", r"WD_?CODE", r"WARD(\d\d)_?CODE"),
    "constituency": (
        r"PCON(\d\d)CD",
        r"CONST(\d\d)_?CODE",
        r"PCON_?CODE",
        r"PCON_?CD",
        r"CONSTITUENCY(\d\d)?_?CODE",
        r"WPC(\d\d)CD",
    ),
    "district": (
        r"LAD(\d\d)CD",
        r"LTLA(\d\d)CD",
        r"LAD_?CODE",
        r"LAD_?CD",
        r"LA_?CODE",
        r"LOCAL_?AUTHORITY_?CODE",
    ),
}
# "CODE" before "AREA_CODE": in OS Boundary-Line, CODE holds the GSS code and AREA_CODE the
# area type ("MTW"), which would fail the prefix check.
_GENERIC_CODE_FIELDS = (r"GSS_?CODE", r"ONS_?CODE", r"CODE", r"AREA_?CD", r"AREA_?CODE")
_NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "ward": (r"WD(\d\d)NM", r"WARD_?NAME", r"WARD_?NM", r"WARD(\d\d)?", r"WD_?NAME"),
    "constituency": (
        r"PCON(\d\d)NM",
        r"CONST(\d\d)_?NAME",
        r"PCON_?NAME",
        r"PCON_?NM",
        r"CONSTITUENCY_?NAME",
        r"CONSTITUENCY(\d\d)?",
        r"PLOT_?NAME",
        r"WPC(\d\d)NM",
    ),
    "district": (
        r"LAD(\d\d)NM",
        r"LTLA(\d\d)NM",
        r"LAD_?NAME",
        r"LAD_?NM",
        r"LA_?NAME",
        r"LOCAL_?AUTHORITY(_?NAME)?",
    ),
}
_GENERIC_NAME_FIELDS = (r"AREA_?NM", r"AREA_?NAME", r"NAME")

# Plausible extents, used to tell lon/lat from BNG metres when a file does not say (or says
# the GeoJSON default WGS84 while holding metres), and to catch swapped or wrong CRSs.
_LONLAT_BOUNDS = (-180.0, -90.0, 180.0, 90.0)
_BNG_BOUNDS = (-100_000.0, -100_000.0, 800_000.0, 1_300_000.0)

_SUFFIX_FORMATS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GeoPackage",
    ".zip": "zipped Shapefile",
    ".shp": "Shapefile",
}
_POLYGONAL = ("Polygon", "MultiPolygon")


@dataclass(frozen=True, eq=False)
class BoundaryLayer:
    """One boundary layer in EPSG:27700 with its provenance.

    Parameters
    ----------
    layer
        One of :data:`LAYERS`.
    frame
        GeoDataFrame with columns ``code``, ``name``, ``geometry`` (EPSG:27700), one row per
        code, sorted by code.
    source
        File name the layer was read from, or how it was derived.
    vintage
        Boundary year ("2024"), the gazetteer version for derived layers, or "unknown".
    loaded_at
        When the layer was read or derived (UTC).
    approximate
        True for layers derived from postcode points rather than official boundaries.
    notes
        Assumptions and repairs made while reading (assumed CRS, repaired geometries).
    """

    layer: str
    frame: gpd.GeoDataFrame
    source: str
    vintage: str
    loaded_at: datetime
    approximate: bool = False
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            msg = f"boundary layer {self.layer!r} is not one of {', '.join(LAYERS)}"
            raise BoundaryError(msg)

    @property
    def codes(self) -> np.ndarray:
        """The layer's codes, sorted."""
        return self.frame["code"].to_numpy(dtype=object)

    def describe(self) -> str:
        """Short human label, e.g. "2024 wards" or "approximate wards (derived from ...)"."""
        plural = _LAYER_PLURAL[self.layer]
        if self.approximate:
            return f"approximate {plural}, {self.source}"
        if re.fullmatch(r"\d{4}", self.vintage):
            return f"{self.vintage} {plural}"
        return f"{plural} from {self.source}"


# --------------------------------------------------------------------------- reading


def read_boundary_file(
    path_or_bytes: str | Path | bytes,
    layer: str,
    *,
    filename: str | None = None,
    code_field: str | None = None,
    name_field: str | None = None,
    vintage: str | None = None,
) -> BoundaryLayer:
    """Read an official boundary file into a validated :class:`BoundaryLayer` in EPSG:27700.

    Parameters
    ----------
    path_or_bytes
        Path to a GeoJSON, GeoPackage or zipped Shapefile, or the file's bytes (an upload).
    layer
        "ward", "constituency" or "district": decides which code fields are looked for and
        which ONS code prefixes are accepted.
    filename
        Name of the uploaded file (for bytes): used for the format and recorded as the source.
    code_field, name_field
        Field names to use instead of detecting them (``--code-field`` / ``--name-field``).
    vintage
        Boundary year to record; by default derived from the code field ("WD24CD" -> "2024").

    Returns
    -------
    BoundaryLayer

    Raises
    ------
    BoundaryError
        The file cannot be read, is empty, has no code field, duplicate or malformed codes,
        non-polygon geometries, or coordinates that are not in Great Britain.
    """
    if layer not in LAYERS:
        msg = f"boundary layer {layer!r} is not one of {', '.join(LAYERS)}"
        raise BoundaryError(msg)
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        source = Path(filename).name if filename else "uploaded file"
        frame = _read_bytes(data, filename)
    else:
        path = Path(path_or_bytes)
        source = Path(filename).name if filename else path.name
        if not path.is_file():
            msg = f"boundary file {str(path)!r} does not exist"
            raise BoundaryError(msg)
        frame = _read_path(path, source)
    return _layer_from_frame(
        frame, layer, source=source, code_field=code_field, name_field=name_field, vintage=vintage
    )


def layer_from_frame(
    frame: gpd.GeoDataFrame,
    layer: str,
    *,
    source: str,
    code_field: str | None = None,
    name_field: str | None = None,
    vintage: str | None = None,
) -> BoundaryLayer:
    """Validate an already-read GeoDataFrame as a boundary layer (same checks as a file).

    Parameters
    ----------
    frame
        Features with a CRS (or coordinates from which one can be assumed).
    layer, code_field, name_field, vintage
        As for :func:`read_boundary_file`.
    source
        Where the features came from, recorded on the layer.
    """
    if layer not in LAYERS:
        msg = f"boundary layer {layer!r} is not one of {', '.join(LAYERS)}"
        raise BoundaryError(msg)
    return _layer_from_frame(
        frame, layer, source=source, code_field=code_field, name_field=name_field, vintage=vintage
    )


def _sniff_suffix(data: bytes, filename: str | None) -> str:
    if filename:
        suffix = Path(filename).suffix.lower()
        if suffix in _SUFFIX_FORMATS and suffix != ".shp":
            return suffix
        if suffix == ".shp":
            msg = (
                f"{filename!r}: a Shapefile needs its .shx, .dbf and .prj files too; "
                "upload the Shapefile as one .zip holding all of them"
            )
            raise BoundaryError(msg)
        if suffix:
            msg = (
                f"{filename!r}: unsupported boundary file type {suffix!r}; "
                "use GeoJSON (.geojson), GeoPackage (.gpkg) or a zipped Shapefile (.zip)"
            )
            raise BoundaryError(msg)
    head = data[:16]
    if head.startswith(b"PK"):
        return ".zip"
    if head.startswith(b"SQLite format 3"):
        return ".gpkg"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        return ".geojson"
    name = repr(filename) if filename else "the uploaded file"
    msg = f"{name} is not a GeoJSON, GeoPackage or zipped Shapefile (the formats accepted for boundaries)"
    raise BoundaryError(msg)


def _read_bytes(data: bytes, filename: str | None) -> gpd.GeoDataFrame:
    if not data:
        name = repr(filename) if filename else "the uploaded boundary file"
        msg = f"{name} is empty (0 bytes)"
        raise BoundaryError(msg)
    suffix = _sniff_suffix(data, filename)
    source = Path(filename).name if filename else "uploaded file"
    # GDAL picks drivers from the extension (a GeoPackage in /vsimem without ".gpkg" warns),
    # so the bytes go to a private temporary file with the right suffix.
    with tempfile.TemporaryDirectory(prefix="cam-boundary-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        return _read_path(path, source)


def _read_path(path: Path, source: str) -> gpd.GeoDataFrame:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIX_FORMATS:
        msg = (
            f"{source!r}: unsupported boundary file type {suffix or '(no extension)'!r}; "
            "use GeoJSON (.geojson), GeoPackage (.gpkg) or a zipped Shapefile (.zip)"
        )
        raise BoundaryError(msg)
    if path.stat().st_size == 0:
        msg = f"{source!r} is empty (0 bytes)"
        raise BoundaryError(msg)
    target = _zip_member(path, source) if suffix == ".zip" else str(path)
    layer_name = _pick_layer(target, source)
    try:
        frame = pyogrio.read_dataframe(target, layer=layer_name)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        msg = f"{source!r} cannot be read as {_SUFFIX_FORMATS[suffix]}: {_gdal_reason(exc, target)}"
        raise BoundaryError(msg) from exc
    except (pyogrio.errors.FieldError, pyogrio.errors.GeometryError, pyogrio.errors.FeatureError) as exc:
        msg = f"{source!r}: a feature cannot be read ({exc}); check the file in a GIS and save it again"
        raise BoundaryError(msg) from exc
    except pyogrio.errors.CRSError as exc:
        msg = f"{source!r}: its coordinate reference system cannot be read ({exc})"
        raise BoundaryError(msg) from exc
    return frame


def _gdal_reason(exc: Exception, target: str) -> str:
    """GDAL's message without our temporary path or its driver-prefix advice."""
    text = str(exc).replace(f"'{target}' ", "the file is ").replace(target, "the file")
    text = text.split("; It might help")[0].rstrip(".;")
    return f"{text} (is the file complete and really this format?)"


def _zip_member(path: Path, source: str) -> str:
    """GDAL path of the one dataset inside a zip (Shapefile, GeoPackage or GeoJSON)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/") and "__MACOSX" not in n]
    except zipfile.BadZipFile as exc:
        msg = f"{source!r} is not a readable zip file ({exc})"
        raise BoundaryError(msg) from exc
    for wanted in (".shp", ".gpkg", ".geojson", ".json"):
        found = sorted(n for n in names if n.lower().endswith(wanted))
        if len(found) > 1:
            msg = (
                f"{source!r} holds {len(found)} {wanted} files ({', '.join(found[:5])}); "
                "zip one boundary layer per file"
            )
            raise BoundaryError(msg)
        if found:
            if wanted == ".shp":
                stem = found[0][: -len(".shp")].lower()
                members = {n.lower() for n in names}
                missing = [ext for ext in (".shx", ".dbf") if stem + ext not in members]
                if missing:
                    msg = (
                        f"{source!r}: the Shapefile {found[0]!r} is missing its "
                        f"{' and '.join(missing)} file; zip all the Shapefile's parts together"
                    )
                    raise BoundaryError(msg)
            return f"/vsizip/{path}/{found[0]}"
    msg = (
        f"{source!r} holds no Shapefile (.shp), GeoPackage or GeoJSON "
        f"(it holds: {', '.join(names[:8]) or 'nothing'})"
    )
    raise BoundaryError(msg)


def _pick_layer(target: str, source: str) -> str | None:
    """Choose the dataset layer: the only one, or the only polygon one."""
    try:
        layers = pyogrio.list_layers(target)
    except pyogrio.errors.DataSourceError as exc:
        kind = _SUFFIX_FORMATS.get(Path(target).suffix.lower(), "a boundary file")
        msg = f"{source!r} cannot be read as {kind}: {_gdal_reason(exc, target)}"
        raise BoundaryError(msg) from exc
    if len(layers) == 0:
        msg = f"{source!r} holds no layers (empty file)"
        raise BoundaryError(msg)
    if len(layers) == 1:
        return str(layers[0][0])
    polygonal = [str(name) for name, kind in layers if kind and "polygon" in str(kind).lower()]
    if len(polygonal) == 1:
        return polygonal[0]
    listed = ", ".join(f"{name} ({kind})" for name, kind in layers)
    msg = f"{source!r} holds several layers ({listed}); save the one boundary layer to its own file"
    raise BoundaryError(msg)


# --------------------------------------------------------------------------- fields


def detect_fields(columns: Sequence[str], layer: str) -> tuple[str | None, str | None, str | None]:
    """Find the code field, the name field and the vintage implied by the field names.

    Parameters
    ----------
    columns
        Attribute field names of the file.
    layer
        "ward", "constituency" or "district".

    Returns
    -------
    (code_field, name_field, vintage)
        Each None when not found; vintage is a four-digit year string.
    """
    code, code_year = _match_field(columns, _CODE_FIELDS[layer] + _GENERIC_CODE_FIELDS)
    name_patterns = _NAME_FIELDS[layer] + _GENERIC_NAME_FIELDS
    name = None
    if code is not None and code_year is not None:
        # Prefer the name field of the same year as the code (WD24CD -> WD24NM, not WD23NM).
        same_year = [c for c in columns if _field_year(c, name_patterns) == code_year]
        name, _ = _match_field(same_year, name_patterns)
    if name is None:
        name, _ = _match_field([c for c in columns if c != code], name_patterns)
    vintage = f"20{code_year}" if code_year is not None else None
    return code, name, vintage


def _field_year(column: str, patterns: Sequence[str]) -> str | None:
    for pattern in patterns:
        match = re.fullmatch(pattern, column, flags=re.IGNORECASE)
        if match and match.groups() and match.group(1) and match.group(1).isdigit():
            return match.group(1)
    return None


def _match_field(columns: Sequence[str], patterns: Sequence[str]) -> tuple[str | None, str | None]:
    """First pattern that matches any column; among several years, the newest."""
    for pattern in patterns:
        hits: list[tuple[str, str | None]] = []
        for column in columns:
            match = re.fullmatch(pattern, str(column), flags=re.IGNORECASE)
            if match:
                year = next((g for g in match.groups() if g and g.isdigit()), None)
                hits.append((str(column), year))
        if hits:
            hits.sort(key=lambda hit: hit[1] or "", reverse=True)
            return hits[0]
    return None, None


def _resolve_field(columns: Sequence[str], wanted: str, kind: str, source: str) -> str:
    if wanted in columns:
        return wanted
    folded = [c for c in columns if c.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    msg = (
        f"{source!r}: the {kind} field {wanted!r} is not in the file; "
        f"its fields are: {', '.join(columns) or '(none)'}"
    )
    raise BoundaryError(msg)


# --------------------------------------------------------------------------- validation


def _layer_from_frame(
    frame: gpd.GeoDataFrame,
    layer: str,
    *,
    source: str,
    code_field: str | None,
    name_field: str | None,
    vintage: str | None,
) -> BoundaryLayer:
    if len(frame) == 0:
        msg = f"{source!r} holds no features (empty file)"
        raise BoundaryError(msg)
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    detected_code, detected_name, field_vintage = detect_fields(columns, layer)
    if code_field is not None:
        code_col = _resolve_field(columns, code_field, "code", source)
        field_vintage = _field_year(code_col, _CODE_FIELDS[layer])
        field_vintage = f"20{field_vintage}" if field_vintage else None
    elif detected_code is None:
        prefixes = "/".join(CODE_PREFIXES[layer])
        msg = (
            f"{source!r}: no {layer} code field found (looked for ONS names such as "
            f"{_example_field(layer)}); the file's fields are: {', '.join(columns) or '(none)'}. "
            f"Pass --code-field with the field holding the {prefixes} codes"
        )
        raise BoundaryError(msg)
    else:
        code_col = detected_code
    name_col = _resolve_field(columns, name_field, "name", source) if name_field else detected_name

    notes: list[str] = []
    codes = _clean_codes(frame[code_col], code_col, layer, source)
    if name_col is not None:
        names = frame[name_col].reset_index(drop=True).astype("string").fillna("").str.strip()
        names = names.where(names != "", codes)
    else:
        names = codes.copy()
        notes.append(f"no {layer} name field found; codes are shown as names")

    geometry, crs_note = _to_bng(frame, source)
    if crs_note:
        notes.append(crs_note)
    geometry, repair_note = _polygonal(geometry, codes, source)
    if repair_note:
        notes.append(repair_note)

    out = gpd.GeoDataFrame(
        {"code": codes.to_numpy(dtype=object), "name": names.to_numpy(dtype=object)},
        geometry=geometry,
        crs=BNG,
    )
    out = out.sort_values("code", kind="stable").reset_index(drop=True)
    return BoundaryLayer(
        layer=layer,
        frame=out,
        source=source,
        vintage=vintage or field_vintage or "unknown",
        loaded_at=datetime.now(UTC),
        approximate=False,
        notes=tuple(notes),
    )


def _example_field(layer: str) -> str:
    return {"ward": "WD24CD", "constituency": "PCON24CD", "district": "LAD24CD"}[layer]


def _clean_codes(values: pd.Series, field_name: str, layer: str, source: str) -> pd.Series:
    codes = values.astype("string").str.strip().str.upper().fillna("")
    codes = codes.reset_index(drop=True)
    blank = np.flatnonzero((codes == "").to_numpy())
    if len(blank):
        rows = ", ".join(str(i + 1) for i in blank[:10])
        msg = f"{source!r}: {len(blank)} feature(s) have no {field_name!r} value (features {rows})"
        raise BoundaryError(msg)
    pattern = rf"^(?:{'|'.join(CODE_PREFIXES[layer])})\d{{6}}$"
    bad = ~codes.str.match(pattern).to_numpy(dtype=bool)
    if bad.any():
        examples = ", ".join(f"feature {i + 1}: {codes.iloc[i]!r}" for i in np.flatnonzero(bad)[:5])
        hint = _guess_layer(codes[bad])
        msg = (
            f"{source!r}: {int(bad.sum())} {field_name!r} value(s) are not ONS {layer} codes "
            f"({'/'.join(CODE_PREFIXES[layer])} followed by 6 digits): {examples}."
            + (f" They look like {hint} codes: is this the {hint} file?" if hint else "")
            + " Pass --code-field to choose another field."
        )
        raise BoundaryError(msg)
    duplicated = codes[codes.duplicated(keep=False)]
    if len(duplicated):
        names = sorted(set(duplicated))
        msg = (
            f"{source!r}: {len(names)} {layer} code(s) appear on more than one feature: "
            f"{', '.join(names[:10])}{' ...' if len(names) > 10 else ''}. "
            "Dissolve the file so each code has one (multi)polygon"
        )
        raise BoundaryError(msg)
    return codes


def _guess_layer(codes: pd.Series) -> str | None:
    for other, prefixes in CODE_PREFIXES.items():
        if codes.str[:3].isin(prefixes).all():
            return other
    return None


def _to_bng(frame: gpd.GeoDataFrame, source: str) -> tuple[gpd.GeoSeries, str | None]:
    """Geometries in EPSG:27700, assuming a CRS from the coordinates when the file has none."""
    geoms = frame.geometry.reset_index(drop=True)
    bounds = _finite_bounds(geoms, source)
    note = None
    crs = geoms.crs
    if crs is None:
        if _within(bounds, _LONLAT_BOUNDS):
            crs = CRS.from_epsg(4326)
            note = (
                "the file has no CRS; its coordinates look like longitude/latitude, so EPSG:4326 was assumed"
            )
        elif _within(bounds, _BNG_BOUNDS):
            crs = CRS.from_epsg(27700)
            note = "the file has no CRS; its coordinates look like British National Grid metres, so EPSG:27700 was assumed"
        else:
            msg = (
                f"{source!r} has no coordinate reference system and its coordinates "
                f"({_fmt_bounds(bounds)}) are neither longitude/latitude nor British National Grid; "
                "save it with its CRS (e.g. as GeoPackage)"
            )
            raise BoundaryError(msg)
        geoms = geoms.set_crs(crs)
    elif crs.equals(CRS.from_epsg(4326)) and not _within(bounds, _LONLAT_BOUNDS):
        # GeoJSON without a "crs" member is read as WGS84 by definition, but files exported
        # in BNG often omit it: metres cannot be degrees.
        if _within(bounds, _BNG_BOUNDS):
            geoms = geoms.set_crs(BNG, allow_override=True)
            note = (
                "the file says WGS84 (the GeoJSON default) but its coordinates are British "
                "National Grid metres, so EPSG:27700 was assumed"
            )
        else:
            msg = f"{source!r}: coordinates ({_fmt_bounds(bounds)}) are not longitude/latitude although the file says EPSG:4326"
            raise BoundaryError(msg)
    try:
        target = CRS.from_user_input(BNG)
        if not geoms.crs.equals(target):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)
                geoms = geoms.to_crs(target)
    except CRSError as exc:
        msg = f"{source!r}: its CRS ({geoms.crs}) cannot be converted to British National Grid ({exc})"
        raise BoundaryError(msg) from exc
    out_bounds = _finite_bounds(geoms, source)
    if _within(out_bounds, _LONLAT_BOUNDS):
        # Real BNG features never all lie within 180 m of the grid origin (sea off Scilly).
        msg = (
            f"{source!r}: the coordinates ({_fmt_bounds(bounds)}) look like longitude/latitude "
            f"but the file says {crs.to_string() if crs else 'British National Grid'}; "
            "save it again with its true CRS (EPSG:4326)"
        )
        raise BoundaryError(msg)
    if not _within(out_bounds, _BNG_BOUNDS):
        msg = (
            f"{source!r}: after conversion from {crs.to_string() if crs else 'its CRS'} the "
            f"features lie outside Great Britain ({_fmt_bounds(out_bounds)} in BNG metres); "
            "check the file's CRS (are latitude and longitude swapped?)"
        )
        raise BoundaryError(msg)
    return geoms, note


def _finite_bounds(geoms: gpd.GeoSeries, source: str) -> np.ndarray:
    bounds = shapely.total_bounds(geoms.to_numpy())
    if not np.isfinite(bounds).all():
        msg = f"{source!r}: the features have no coordinates (every geometry is empty)"
        raise BoundaryError(msg)
    return bounds


def _within(bounds: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    return bool(bounds[0] >= box[0] and bounds[1] >= box[1] and bounds[2] <= box[2] and bounds[3] <= box[3])


def _fmt_bounds(bounds: np.ndarray) -> str:
    return f"x {bounds[0]:.6g}..{bounds[2]:.6g}, y {bounds[1]:.6g}..{bounds[3]:.6g}"


def _polygonal(geoms: gpd.GeoSeries, codes: pd.Series, source: str) -> tuple[np.ndarray, str | None]:
    """Check geometries are polygons; repair invalid ones keeping their polygonal parts."""
    arr = np.asarray(geoms.to_numpy(), dtype=object)
    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    if missing.any():
        bad = ", ".join(codes[missing].tolist()[:10])
        msg = f"{source!r}: {int(missing.sum())} feature(s) have no geometry: {bad}"
        raise BoundaryError(msg)
    arr = shapely.force_2d(arr)
    types = shapely.get_type_id(arr)
    # 3 Polygon, 6 MultiPolygon, 7 GeometryCollection (accepted if it holds polygons).
    not_polygon = ~np.isin(types, (3, 6, 7))
    if not_polygon.any():
        found = sorted(set(shapely.get_type_id(arr[not_polygon]).tolist()))
        kinds = ", ".join(_TYPE_NAMES.get(t, str(t)) for t in found)
        examples = ", ".join(codes[not_polygon].tolist()[:5])
        msg = (
            f"{source!r}: boundaries must be polygons, but {int(not_polygon.sum())} feature(s) are "
            f"{kinds} (e.g. {examples}). Is this a file of points or lines rather than areas?"
        )
        raise BoundaryError(msg)
    collection = types == 7
    invalid = ~shapely.is_valid(arr) | collection
    note = None
    if invalid.any():
        fixed = shapely.make_valid(arr[invalid], method="structure", keep_collapsed=False)
        arr[invalid] = [_keep_polygons(g) for g in fixed]
        note = (
            f"repaired {int(invalid.sum())} invalid geometr{'y' if invalid.sum() == 1 else 'ies'}: "
            + ", ".join(codes[invalid].tolist()[:10])
        )
    empty = shapely.is_empty(arr) | (shapely.area(arr) <= 0)
    if empty.any():
        msg = (
            f"{source!r}: {int(empty.sum())} feature(s) have no area after repair: "
            f"{', '.join(codes[empty].tolist()[:10])}"
        )
        raise BoundaryError(msg)
    return arr, note


_TYPE_NAMES = {0: "points", 1: "lines", 2: "rings", 4: "multipoints", 5: "multilines"}


def _keep_polygons(geom: shapely.Geometry) -> shapely.Geometry:
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if p.geom_type in _POLYGONAL]
    flat: list[shapely.Polygon] = []
    for p in polys:
        flat.extend(shapely.get_parts(p) if p.geom_type == "MultiPolygon" else [p])
    if not flat:
        return shapely.Polygon()
    return flat[0] if len(flat) == 1 else shapely.MultiPolygon(flat)


# --------------------------------------------------------------------------- export / select


def layer_to_wgs84_geojson(layer: BoundaryLayer) -> dict[str, Any]:
    """The layer as a WGS84 GeoJSON FeatureCollection for maps (6 decimal places, ~0.1 m).

    Each feature's properties: code, name, layer, source, vintage, approximate.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)
        wgs = layer.frame.to_crs(WGS84)
    geoms = shapely.transform(wgs.geometry.to_numpy(), lambda xy: np.round(xy, 6))
    features = []
    for code, name, geom in zip(wgs["code"], wgs["name"], geoms, strict=True):
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": str(code),
                    "name": str(name),
                    "layer": layer.layer,
                    "source": layer.source,
                    "vintage": layer.vintage,
                    "approximate": bool(layer.approximate),
                },
                "geometry": json.loads(shapely.to_geojson(geom)),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def select_features_in_area(
    layer: BoundaryLayer, area_geometry: shapely.Geometry, *, min_share: float = 0.5
) -> BoundaryLayer:
    """The features of ``layer`` that lie mostly inside ``area_geometry`` (both EPSG:27700).

    Boundaries from different sources never align exactly, so a plain intersects test would
    pull in every neighbouring ward that touches the district edge; a ward belongs to the area
    when at least ``min_share`` of its area is inside it.
    """
    geoms = layer.frame.geometry.to_numpy()
    shapely.prepare(area_geometry)
    candidate = shapely.intersects(geoms, area_geometry)
    share = np.zeros(len(geoms))
    share[candidate] = shapely.area(shapely.intersection(geoms[candidate], area_geometry)) / shapely.area(
        geoms[candidate]
    )
    keep = share >= min_share
    return _replace_frame(layer, layer.frame.loc[keep].reset_index(drop=True))


def clip_layer_to_area(
    layer: BoundaryLayer, area_geometry: shapely.Geometry, *, min_share: float = 0.5
) -> BoundaryLayer:
    """The area's features (see :func:`select_features_in_area`), cut to ``area_geometry``."""
    selected = select_features_in_area(layer, area_geometry, min_share=min_share)
    clipped = shapely.intersection(selected.frame.geometry.to_numpy(), area_geometry)
    clipped = np.array([_keep_polygons(g) for g in clipped], dtype=object)
    frame = selected.frame.copy()
    frame["geometry"] = clipped
    frame = frame.loc[~shapely.is_empty(clipped)].reset_index(drop=True)
    return _replace_frame(layer, gpd.GeoDataFrame(frame, geometry="geometry", crs=BNG))


def select_codes(layer: BoundaryLayer, codes: Sequence[str]) -> BoundaryLayer:
    """The features whose code is in ``codes`` (e.g. the wards the gazetteer lists for a district)."""
    keep = layer.frame["code"].isin(list(codes))
    return _replace_frame(layer, layer.frame.loc[keep].reset_index(drop=True))


def _replace_frame(layer: BoundaryLayer, frame: gpd.GeoDataFrame) -> BoundaryLayer:
    return BoundaryLayer(
        layer=layer.layer,
        frame=frame,
        source=layer.source,
        vintage=layer.vintage,
        loaded_at=layer.loaded_at,
        approximate=layer.approximate,
        notes=layer.notes,
    )


def area_outline(layer: BoundaryLayer, code: str) -> shapely.Geometry:
    """The geometry of one code of a layer (e.g. a district's outline for deriving wards)."""
    hit = layer.frame.loc[layer.frame["code"] == code]
    if hit.empty:
        msg = f"{code!r} is not in the {layer.layer} layer from {layer.source!r}"
        raise BoundaryError(msg)
    return hit.geometry.iloc[0]


# --------------------------------------------------------------------------- derived wards

#: Concave-hull tightness for a district outline made from its postcode points (0 hugs the
#: points, 1 is the convex hull) and the margin added around it, tuned on Birmingham, York and
#: Camden against the official outlines (see tests/test_boundaries.py).
HULL_RATIO = 0.2
HULL_BUFFER_M = 50.0


def postcode_outline(easting: np.ndarray, northing: np.ndarray) -> shapely.Geometry:
    """An outline hugging a set of postcode points: concave hull without holes, buffered.

    Postcode points are the centres of their addresses, so the true boundary lies a little
    beyond the outermost ones; the buffer gives it that margin.
    """
    ok = np.isfinite(easting) & np.isfinite(northing)
    points = shapely.multipoints(np.column_stack([easting[ok], northing[ok]]))
    hull = shapely.concave_hull(points, ratio=HULL_RATIO, allow_holes=False)
    return shapely.buffer(hull, HULL_BUFFER_M)


def derive_ward_layer(
    gazetteer: Gazetteer, district_code: str, outline: shapely.Geometry | None = None
) -> BoundaryLayer:
    """Approximate ward polygons for one district from its Code-Point Open postcode points.

    Each located postcode gets its Voronoi cell (identical points counted once, with the ward
    most of their postcodes name); cells are dissolved by ward code and cut to the district
    outline: ``outline`` when given (the official district polygon in EPSG:27700), otherwise a
    concave hull of the postcodes (:func:`postcode_outline`).

    Parameters
    ----------
    gazetteer
        The loaded Code-Point Open gazetteer.
    district_code
        ONS district code, e.g. "E08000025".
    outline
        District outline in EPSG:27700, or None.

    Returns
    -------
    BoundaryLayer
        layer "ward", approximate=True, vintage = the gazetteer version.
    """
    mask = np.asarray(gazetteer.district_mask(district_code), dtype=bool)
    easting = np.asarray(gazetteer.easting, dtype=float)[mask]
    northing = np.asarray(gazetteer.northing, dtype=float)[mask]
    # Select before converting: the gazetteer holds 1.7 million codes.
    wards = np.asarray(gazetteer.ward_code)[mask].astype(object)
    located = np.isfinite(easting) & np.isfinite(northing) & (pd.Series(wards).fillna("").to_numpy() != "")
    if not located.any():
        msg = (
            f"no located postcodes for district {district_code!r} in {gazetteer.version}; "
            "check the area code (an ONS district code such as E08000025)"
        )
        raise BoundaryError(msg)
    points = _unique_points(easting[located], northing[located], wards[located])
    notes: list[str] = []
    if outline is None:
        outline = postcode_outline(points["x"].to_numpy(), points["y"].to_numpy())
        notes.append("district outline: concave hull of the district's postcodes")
    else:
        outline = _keep_polygons(shapely.make_valid(shapely.force_2d(outline)))
        if outline.is_empty:
            msg = f"the outline given for district {district_code!r} has no area"
            raise BoundaryError(msg)
        notes.append("district outline: the district boundary given")
    codes, geoms = _voronoi_wards(points, outline)
    names = [gazetteer.ward_names.get(code, code) for code in codes]
    frame = gpd.GeoDataFrame({"code": codes, "name": names}, geometry=geoms, crs=BNG)
    frame = frame.loc[~shapely.is_empty(frame.geometry.to_numpy())].reset_index(drop=True)
    dropped = sorted(set(codes) - set(frame["code"]))
    if dropped:
        notes.append(f"wards with no postcodes inside the outline: {', '.join(dropped)}")
    return BoundaryLayer(
        layer="ward",
        frame=frame,
        source=f"derived from {gazetteer.version} postcode points",
        vintage=gazetteer.version,
        loaded_at=datetime.now(UTC),
        approximate=True,
        notes=tuple(notes),
    )


def _unique_points(x: np.ndarray, y: np.ndarray, ward: np.ndarray) -> pd.DataFrame:
    """One row per distinct point with the ward most of its postcodes name (ties: lowest code).

    Several postcodes often share one point (a block of flats); Voronoi needs distinct sites.
    """
    frame = pd.DataFrame({"x": x, "y": y, "ward": ward.astype(str)})
    counts = frame.groupby(["x", "y", "ward"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["x", "y", "n", "ward"], ascending=[True, True, False, True])
    return counts.drop_duplicates(["x", "y"], keep="first").reset_index(drop=True)


def _voronoi_wards(points: pd.DataFrame, outline: shapely.Geometry) -> tuple[list[str], np.ndarray]:
    sites = shapely.multipoints(points[["x", "y"]].to_numpy())
    if len(points) == 1:
        # A single site has no Voronoi diagram: it owns the whole outline.
        return [str(points["ward"].iloc[0])], np.array([outline], dtype=object)
    xmin, ymin, xmax, ymax = shapely.total_bounds(np.array([sites, outline], dtype=object))
    frame = shapely.box(xmin, ymin, xmax, ymax).buffer(1000.0)
    # ordered=True returns cell i for site i (GEOS >= 3.12), so cells align with wards.
    cells = shapely.get_parts(shapely.voronoi_polygons(sites, extend_to=frame, ordered=True))
    if len(cells) != len(points):
        msg = f"Voronoi diagram returned {len(cells)} cells for {len(points)} postcode points"
        raise BoundaryError(msg)
    order = np.argsort(points["ward"].to_numpy(), kind="stable")
    ward_sorted = points["ward"].to_numpy()[order]
    codes, starts = np.unique(ward_sorted, return_index=True)
    groups = np.split(cells[order], starts[1:])
    # Voronoi cells tile the plane edge to edge, so the fast coverage union is exact here.
    dissolved = np.array([shapely.coverage_union_all(group) for group in groups], dtype=object)
    shapely.prepare(outline)
    clipped = shapely.intersection(dissolved, outline)
    return [str(c) for c in codes], np.array([_keep_polygons(g) for g in clipped], dtype=object)
