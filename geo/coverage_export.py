"""Coverage exports: one row per ward as CSV, XLSX, GeoJSON or GeoPackage, with an About sheet.

Every text cell goes through :func:`geo.escaping.neutralise_cell` (the one formula-injection
guard), and XLSX text cells are written with the explicit string type, so a ward or group name
such as ``=HYPERLINK(...)`` is never a formula. CSV is UTF-8 with a byte-order mark (Excel
then reads accents correctly). GeoJSON is WGS84; the GeoPackage is British National Grid
(EPSG:27700).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from geo.boundaries import BoundaryLayer
from geo.coverage import GAP_FORMULA, CoverageResult
from geo.errors import CoverageError
from geo.escaping import neutralise_cell

FORMATS = ("csv", "xlsx", "geojson", "gpkg")
Target = str | os.PathLike | IO[bytes]

#: What each exported column means (``<slug>``/``<label>`` stand for each category).
COLUMN_DOCS: dict[str, str] = {
    "ward_code": "ONS code of the ward (E05...).",
    "ward_name": "Name of the ward.",
    "constituency_code": "ONS code of the Westminster constituency holding most of the ward's postcodes.",
    "constituency_name": "Name of that constituency.",
    "assets_total": "Published assets whose point lies in the ward (point in polygon), all categories.",
    "assets_<slug>": "Assets in the ward listed under the category <label> (an asset can be in several).",
    "constituency_share": "Share (0-1) of the ward's postcodes inside that constituency; below 1 for split wards.",
    "population": "Residents of the ward (from the population file; LSOAs that could not be placed are not included).",
    "assets_per_1000": "assets_total per 1,000 residents; blank when there is no population (see per_1000_note).",
    "per_1000_note": "Why assets_per_1000 is blank, when it is.",
    "categories_missing": "Categories with no asset in the ward, separated by '; '.",
    "postcodes": "Code-Point Open postcodes in the ward (the points used for walk coverage).",
    "walk_coverage": "Share (0-1) of the ward's postcodes within the walk distance (straight line) of at least one asset.",
    "walk_coverage_<slug>": "Share (0-1) of the ward's postcodes within the walk distance of an asset listed under <label>.",
    "imd_score": "Population-weighted mean IMD 2019 score of the ward's LSOAs (higher = more deprived).",
    "imd_mean_decile": "Population-weighted mean IMD 2019 decile of the ward's LSOAs (1 = most deprived tenth of England).",
    "most_deprived_10_share": "Share (0-1) of the ward's residents living in LSOAs in England's most deprived 10% (IMD decile 1).",
    "unmet_searches": "Searches in the ward that found nothing nearby (blank when not recorded).",
    "gap_score": "need × (1 − provision), 0 to 1: see the gap score formula.",
    "gap_rank": "Rank of gap_score among the area's wards; 1 = largest gap.",
    "change_assets_total": "Change in assets_total since the baseline snapshot.",
    "change_per_1000": "Change in assets_per_1000 since the baseline snapshot.",
    "wards": "Number of the area's wards assigned to the constituency (or in the area).",
    "area_code": "ONS code of the area (district).",
    "area_name": "Name of the area.",
}
# Shown as percentages in XLSX.
_SHARE_COLUMNS = ("constituency_share", "walk_coverage", "most_deprived_10_share")
_LEAD_COLUMNS = ("ward_code", "ward_name", "constituency_code", "constituency_name", "assets_total")
_DECIMALS = 4


def column_docs(categories: Mapping[str, str]) -> dict[str, str]:
    """:data:`COLUMN_DOCS` with one entry per category column (for a README or the About sheet)."""
    out: dict[str, str] = {}
    for column, text in COLUMN_DOCS.items():
        if "<slug>" in column:
            for slug, label in categories.items():
                out[column.replace("<slug>", slug)] = text.replace("<label>", f"'{label}'")
        else:
            out[column] = text
    return out


def ward_columns(result: CoverageResult) -> list[str]:
    """Export column order: the identifiers and counts first, then the other measures."""
    counts = [f"assets_{slug}" for slug in result.categories]
    first = [c for c in (*_LEAD_COLUMNS, *counts) if c in result.wards.columns]
    return first + [c for c in result.wards.columns if c not in first]


def _level_columns(frame: pd.DataFrame, lead: Sequence[str], categories: Mapping[str, str]) -> list[str]:
    counts = [f"assets_{slug}" for slug in categories]
    first = [c for c in (*lead, "assets_total", *counts) if c in frame.columns]
    return first + [c for c in frame.columns if c not in first]


def _plain(value: Any) -> Any:
    """A cell value for export: None for missing, Python numbers (floats rounded), text as str."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return None
        if number.is_integer() and abs(number) < 2**53:
            return int(number)
        return round(number, _DECIMALS)
    return str(value)


def _text(value: Any) -> Any:
    value = neutralise_cell(_plain(value))
    if isinstance(value, str):
        # XML cannot hold most control characters; openpyxl would refuse the whole file.
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def about_rows(result: CoverageResult, about: Mapping[str, Any] | None = None) -> list[tuple[str, str]]:
    """The About sheet as (label, text) rows: provenance, match coverage, filters, formula, extras."""
    meta = result.meta

    def listing(values: Sequence[str]) -> str:
        return "; ".join(str(v) for v in values) if values else "none"

    vintage = str(meta.get("boundary_vintage", ""))
    if meta.get("boundary_approximate"):
        vintage += " (approximate: derived from postcode points)"
    rows = [
        ("Produced", str(meta.get("date", ""))),
        ("Area", f"{meta.get('area_name', '')} ({meta.get('area_code', '') or 'all'})"),
        ("Wards", f"{meta.get('wards', len(result.wards)):,}"),
        ("Ward boundaries", str(meta.get("boundary_description", ""))),
        ("Boundary source", str(meta.get("boundary_source", ""))),
        ("Boundary vintage", vintage),
        ("Constituency boundaries", str(meta.get("constituency_source", ""))),
        ("Postcodes", str(meta.get("gazetteer_version", ""))),
        ("Population", str(meta.get("population_source", ""))),
        ("Population: LSOAs not placed in a ward", listing(meta.get("population_unmatched_lsoas", []))),
        ("Deprivation", str(meta.get("deprivation_source", ""))),
        ("Deprivation: LSOAs left out", listing(meta.get("deprivation_unmatched_lsoas", []))),
        ("Filters", str(meta.get("filters", ""))),
        ("Assets counted", f"{meta.get('assets_counted', 0):,}"),
        ("Assets outside the area's wards", f"{meta.get('assets_outside_area', 0):,}"),
        ("Assets left out (not published)", f"{meta.get('assets_excluded_status', 0):,}"),
        ("Assets left out (not verified recently)", f"{meta.get('assets_excluded_unverified', 0):,}"),
        ("Assets without a location (not in walk coverage)", f"{meta.get('assets_without_location', 0):,}"),
        ("Walk distance", f"{meta.get('walk_distance_m', 0):,.0f} m in a straight line"),
        ("Gap score", str(meta.get("gap_formula", GAP_FORMULA))),
        ("Need based on", str(meta.get("need_basis", ""))),
        ("Provision based on", str(meta.get("provision_basis", ""))),
        ("Wards split between constituencies", listing(meta.get("wards_split_between_constituencies", []))),
        ("Unmet demand", str(meta.get("unmet_demand", ""))),
    ]
    if "baseline" in meta:
        rows.append(("Change since", str(meta["baseline"])))
    for label, value in (about or {}).items():
        rows.append((str(label), "" if value is None else str(value)))
    rows.append(("", ""))
    rows.append(("Column", "Meaning"))
    docs = column_docs(result.categories)
    rows.extend((column, docs.get(column, "")) for column in ward_columns(result))
    return rows


# --------------------------------------------------------------------------- writers


def _open_target(path: Target):
    if isinstance(path, str | os.PathLike):
        return open(path, "wb"), True  # noqa: SIM115 - closed by the caller
    return path, False


def _write_csv(result: CoverageResult, target: Target) -> None:
    columns = ward_columns(result)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow([neutralise_cell(c) for c in columns])
    for row in result.wards[columns].itertuples(index=False, name=None):
        writer.writerow(["" if v is None else v for v in (_text(value) for value in row)])
    data = buffer.getvalue().encode("utf-8-sig")
    handle, owned = _open_target(target)
    try:
        handle.write(data)
    finally:
        if owned:
            handle.close()


def _sheet(workbook: Workbook, title: str, frame: pd.DataFrame, columns: Sequence[str], freeze: str) -> None:
    sheet = workbook.create_sheet(title)
    bold = Font(bold=True)
    for j, name in enumerate(columns, start=1):
        _cell(sheet, 1, j, name).font = bold
    formats = {}
    for j, name in enumerate(columns, start=1):
        if name.startswith(_SHARE_COLUMNS):
            formats[j] = "0.0%"
        elif name in ("assets_per_1000", "imd_score", "imd_mean_decile", "change_per_1000"):
            formats[j] = "0.00"
        elif name == "gap_score":
            formats[j] = "0.000"
    for i, row in enumerate(frame[list(columns)].itertuples(index=False, name=None), start=2):
        for j, value in enumerate(row, start=1):
            cell = _cell(sheet, i, j, value)
            if j in formats and isinstance(cell.value, int | float):
                cell.number_format = formats[j]
    sheet.freeze_panes = freeze
    for j, name in enumerate(columns, start=1):
        sample = [len(str(v)) for v in frame[name].head(200).tolist()] if len(frame) else []
        sheet.column_dimensions[get_column_letter(j)].width = min(max([len(name), *sample, 8]) + 2, 50)


def _cell(sheet, row: int, column: int, value: Any):
    value = _text(value)
    cell = sheet.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str):
        # After the value: openpyxl marks any text starting "=" as a formula otherwise.
        cell.data_type = "s"
    return cell


def _write_xlsx(result: CoverageResult, target: Target, about: Mapping[str, Any] | None) -> None:
    workbook = Workbook()
    workbook.remove(workbook.active)
    _sheet(workbook, "Wards", result.wards, ward_columns(result), "C2")
    lead = ("constituency_code", "constituency_name", "wards")
    _sheet(
        workbook,
        "Constituencies",
        result.constituencies,
        _level_columns(result.constituencies, lead, result.categories),
        "C2",
    )
    area_lead = ("area_code", "area_name", "wards")
    _sheet(workbook, "Area", result.area, _level_columns(result.area, area_lead, result.categories), "C2")
    sheet = workbook.create_sheet("About")
    bold = Font(bold=True)
    for i, (label, value) in enumerate(about_rows(result, about), start=1):
        _cell(sheet, i, 1, label).font = bold
        _cell(sheet, i, 2, value)
    sheet.column_dimensions["A"].width = 44
    sheet.column_dimensions["B"].width = 120
    sheet.freeze_panes = "A2"
    workbook.save(target)


def _geometries(
    ward_geometries: BoundaryLayer | gpd.GeoDataFrame | None, result: CoverageResult
) -> gpd.GeoSeries:
    if ward_geometries is None:
        msg = "GeoJSON and GeoPackage exports need ward boundaries: load a ward boundary layer, or export CSV/XLSX"
        raise CoverageError(msg)
    frame = ward_geometries.frame if isinstance(ward_geometries, BoundaryLayer) else ward_geometries
    code = "code" if "code" in frame.columns else "ward_code" if "ward_code" in frame.columns else None
    if code is None or frame.crs is None:
        msg = "ward boundaries need a 'code' (or 'ward_code') column and a coordinate reference system"
        raise CoverageError(msg)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)
        bng = frame.to_crs(27700)
    by_code = pd.Series(bng.geometry.to_numpy(), index=bng[code].astype(str).to_numpy())
    by_code = by_code[~by_code.index.duplicated()]
    return gpd.GeoSeries(by_code.reindex(result.wards["ward_code"].astype(str)).to_numpy(), crs=27700)


def _properties(result: CoverageResult, columns: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {name: _text(value) for name, value in zip(columns, row, strict=True)}
        for row in result.wards[list(columns)].itertuples(index=False, name=None)
    ]


def _write_geojson(result: CoverageResult, target: Target, ward_geometries) -> None:
    columns = ward_columns(result)
    geoms = _geometries(ward_geometries, result)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)
        wgs = geoms.to_crs(4326).to_numpy()
    # ~0.1 m: finer digits only make the file bigger.
    wgs = shapely.transform(wgs, lambda xy: np.round(xy, 6))
    features = [
        {
            "type": "Feature",
            "properties": props,
            "geometry": None if geom is None or shapely.is_empty(geom) else shapely.geometry.mapping(geom),
        }
        for props, geom in zip(_properties(result, columns), wgs, strict=True)
    ]
    text = json.dumps(
        {"type": "FeatureCollection", "features": features}, ensure_ascii=False, allow_nan=False
    )
    handle, owned = _open_target(target)
    try:
        handle.write(text.encode("utf-8"))
    finally:
        if owned:
            handle.close()


def _write_gpkg(result: CoverageResult, target: Target, ward_geometries) -> None:
    columns = ward_columns(result)
    geoms = _geometries(ward_geometries, result)
    frame = gpd.GeoDataFrame(
        pd.DataFrame(_properties(result, columns), columns=columns), geometry=geoms.to_numpy(), crs=27700
    )
    if isinstance(target, str | os.PathLike):
        frame.to_file(target, layer="wards", driver="GPKG", engine="pyogrio")
        return
    # A buffer (a download): GDAL writes GeoPackages to files, so go through a temporary one.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "coverage.gpkg"
        frame.to_file(path, layer="wards", driver="GPKG", engine="pyogrio")
        with open(path, "rb") as handle:
            shutil.copyfileobj(handle, target)


def write_coverage(
    result: CoverageResult,
    path: Target,
    fmt: str,
    *,
    ward_geometries: BoundaryLayer | gpd.GeoDataFrame | None = None,
    about: Mapping[str, Any] | None = None,
) -> None:
    """Write the ward table of a coverage result.

    Parameters
    ----------
    result
        From :func:`geo.coverage.compute_coverage`.
    path
        File path or binary buffer.
    fmt
        "csv", "xlsx" (sheets Wards, Constituencies, Area, About), "geojson" (WGS84) or "gpkg"
        (layer "wards", EPSG:27700).
    ward_geometries
        The ward boundary layer (or a GeoDataFrame with code and geometry), for GeoJSON and
        GeoPackage.
    about
        Extra About-sheet rows, e.g. ``{"Attribution": CODEPOINT_ATTRIBUTION, "Produced by": ...}``.

    Raises
    ------
    CoverageError
        Unknown format, or a map format without ward geometries.
    """
    fmt = fmt.lower().strip().lstrip(".")
    if fmt not in FORMATS:
        msg = f"export format {fmt!r} is not one of {', '.join(FORMATS)}"
        raise CoverageError(msg)
    if fmt == "csv":
        _write_csv(result, path)
    elif fmt == "xlsx":
        _write_xlsx(result, path, about)
    elif fmt == "geojson":
        _write_geojson(result, path, ward_geometries)
    else:
        _write_gpkg(result, path, ward_geometries)


__all__ = ["COLUMN_DOCS", "FORMATS", "about_rows", "column_docs", "ward_columns", "write_coverage"]
