"""Coverage for the configured area: the register's records and reference data handed to ``geo.coverage``.

Used by the Coverage page and ``python -m geo coverage`` alike. Population, the LSOA→ward
lookup and IMD are stored as the files an administrator loaded (text, in the app
settings), so every app instance computes from the same data.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

import geopandas as gpd
import pandas as pd

from assets import spatial_db
from assets.geography import AreaGeography
from assets.model import Actor
from assets.taxonomy import CATEGORIES
from geo.coverage import CoverageResult, compute_coverage
from geo.coverage_export import write_coverage
from geo.dates import months_before
from geo.escaping import neutralise_cell
from geo.gazetteer import Gazetteer
from geo.population import (
    deprivation_by_ward,
    population_by_ward,
    read_imd,
    read_lsoa_ward_lookup,
    read_population,
)
from settings import CODEPOINT_ATTRIBUTION, get_settings

REFERENCE_KINDS = {
    "population": "Population (ONS, by ward or by LSOA)",
    "lookup": "LSOA to ward lookup (ONS)",
    "imd": "Index of Multiple Deprivation 2019 (by LSOA)",
}
_READERS = {"population": read_population, "lookup": read_lsoa_ward_lookup, "imd": read_imd}
_SETTING = "reference_{}"


@dataclass(frozen=True)
class ReferenceData:
    population: Any = None  # WardPopulation
    deprivation: Any = None  # WardDeprivation
    sources: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


def save_reference_file(store, actor: Actor, kind: str, filename: str, data: bytes) -> str:
    """Check a population, lookup or IMD file, then keep it for every app instance.

    Returns a one-line description of what was read. The file is refused (and nothing
    stored) when it cannot be read.
    """
    if kind not in _READERS:
        msg = f"reference data kind {kind!r} is not one of {', '.join(REFERENCE_KINDS)}"
        raise ValueError(msg)
    table = _READERS[kind](data, filename=filename)
    text = data.decode("utf-8-sig", errors="strict") if isinstance(data, bytes) else str(data)
    store.set_app_setting(actor, _SETTING.format(kind), {"filename": filename, "text": text, "loaded": date.today().isoformat()})
    rows = getattr(table, "frame", None)
    return f"{REFERENCE_KINDS[kind]}: {filename}" + (f" ({len(rows):,} rows)" if rows is not None else "")


def load_reference(store, actor: Actor) -> ReferenceData:
    """Population and deprivation by ward from the stored files (what is loaded, and any problem)."""
    files = {kind: store.get_app_setting(actor, _SETTING.format(kind)) for kind in _READERS}
    tables = {}
    sources, problems = [], []
    for kind, stored in files.items():
        if not stored:
            continue
        try:
            tables[kind] = _READERS[kind](stored["text"].encode("utf-8"), filename=stored["filename"])
        except ValueError as exc:
            problems.append(f"{REFERENCE_KINDS[kind]} could not be read: {exc}")
            continue
        sources.append(f"{REFERENCE_KINDS[kind]}: {stored['filename']} (loaded {stored.get('loaded', '')})")
    population = deprivation = None
    if "population" in tables:
        try:
            population = population_by_ward(tables["population"], tables.get("lookup"))
        except ValueError as exc:
            problems.append(str(exc))
    if "imd" in tables and "population" in tables and "lookup" in tables:
        try:
            deprivation = deprivation_by_ward(tables["imd"], tables["population"], tables["lookup"])
        except ValueError as exc:
            problems.append(str(exc))
    elif "imd" in tables:
        problems.append("deprivation needs the population by LSOA and the LSOA to ward lookup as well as IMD")
    return ReferenceData(population, deprivation, tuple(sources), tuple(problems))


def area_coverage(
    store,
    actor: Actor,
    gazetteer: Gazetteer,
    geography: AreaGeography,
    *,
    verified_only: bool = False,
    baseline_id: str | None = None,
    today: date | None = None,
) -> CoverageResult:
    """Coverage of the area's wards from the published records the actor may see."""
    settings = get_settings()
    today = today or date.today()
    database = settings.spatial_backend == "database"
    if database:
        # Only the area's records (and those within walking distance of it), few columns, via GiST.
        frame = spatial_db.coverage_frame(
            store, actor, geography.ward_layer.frame["code"], geography.ward_layer.frame.total_bounds,
            settings.walk_distance_m,
        )
    else:
        frame = store.assets_frame(actor, statuses=("published",))
    reference = load_reference(store, actor)
    baseline = store.get_snapshot(actor, baseline_id)["payload"] if baseline_id else None
    result = compute_coverage(
        frame,
        geography.ward_layer,
        constituencies=geography.layers.get("constituency"),
        gazetteer=gazetteer,
        area_code=geography.area_code,
        area_name=geography.area_name,
        categories=CATEGORIES,
        population=reference.population,
        deprivation=reference.deprivation,
        walk_distance_m=settings.walk_distance_m,
        verified_within_months=settings.stale_months if verified_only else None,
        today=today,
        unmet_demand=store.unmet_demand(actor),
        baseline=baseline,
    )
    if database:
        since = months_before(today, settings.stale_months) if verified_only else None
        result = spatial_db.with_register_counts(result, spatial_db.register_counts(store, actor, since))
    result.meta.setdefault("reference_data", list(reference.sources))
    result.meta.setdefault("reference_problems", list(reference.problems))
    return result


def about(geography: AreaGeography, result: CoverageResult, *, verified_only: bool) -> dict[str, str]:
    """The About-sheet rows an export carries beside what the result itself records."""
    return {
        "Boundaries": "; ".join(geography.sources()),
        "Wards": "approximate (derived from postcodes)" if geography.wards_approximate else "official boundaries",
        "Filters": "published records verified in the last "
        f"{get_settings().stale_months} months" if verified_only else "all published records",
        "Attribution": CODEPOINT_ATTRIBUTION,
    }


def export_coverage(
    result: CoverageResult, geography: AreaGeography, fmt: str, *, by: str = "ward", verified_only: bool = False
) -> bytes:
    """The coverage table as a file: csv, xlsx, geojson or gpkg, by ward or by constituency."""
    buffer = io.BytesIO()
    if by == "ward":
        write_coverage(result, buffer, fmt, ward_geometries=geography.ward_layer, about=about(geography, result, verified_only=verified_only))
        return buffer.getvalue()
    if by != "constituency":
        msg = f"coverage can be exported by ward or by constituency, not {by!r}"
        raise ValueError(msg)
    table = result.constituencies.map(neutralise_cell)
    if fmt == "csv":
        table.to_csv(buffer, index=False, encoding="utf-8-sig")
    elif fmt == "xlsx":
        write_coverage(result, buffer, "xlsx", about=about(geography, result, verified_only=verified_only))
    elif fmt in ("geojson", "gpkg"):
        layer = geography.layers.get("constituency")
        if layer is None:
            msg = "no constituency boundaries are loaded: load them with `python -m geo boundaries load FILE --layer constituency`"
            raise ValueError(msg)
        shapes = layer.frame[["code", "geometry"]].rename(columns={"code": "constituency_code"})
        joined = gpd.GeoDataFrame(table.merge(shapes, on="constituency_code", how="left"), geometry="geometry", crs=27700)
        if fmt == "geojson":
            buffer.write(joined.to_crs(4326).to_json().encode("utf-8"))
        else:
            joined.to_file(buffer, driver="GPKG", layer="constituencies")
    else:
        msg = f"export format {fmt!r} is not one of csv, xlsx, geojson, gpkg"
        raise ValueError(msg)
    return buffer.getvalue()


def unmet_table(store, actor: Actor) -> pd.DataFrame:
    """Searches that found nothing, counted anonymously by ward, category, day and time."""
    return store.unmet_demand(actor)
