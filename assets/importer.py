"""Importing a coordinator's spreadsheet: read → validate → geocode → assign → dedupe → preview → store.

:func:`preview_import` does everything but the write and changes nothing; the person (or
the command line) then calls :func:`commit_import`, which stores the accepted rows in one
transaction — all of them or none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
import pandas as pd

from assets.dedupe import Candidate, find_near_duplicates, match_key
from assets.geography import AreaGeography, locate_frame
from assets.model import Actor, Asset
from assets.tabular import HeaderMapping, Table, map_headers
from assets.validation import ERROR, WARNING, Problem, validate_row
from geo.gazetteer import Gazetteer

Progress = Callable[[float, str], None]

NEW, UPDATE, UNCHANGED, REJECTED, DUPLICATE = "new", "update", "unchanged", "rejected", "duplicate"
DECISIONS = ("new", "update", "skip")

# Geocoding outcomes that leave a row without a usable location.
_UNLOCATED = {"invalid_postcode", "unknown_postcode", "no_coordinates", "coordinates_invalid", "no_location"}
_GEOCODE_FIXES = {
    "invalid_postcode": ("postcode", "correct the postcode, or give latitude and longitude"),
    "unknown_postcode": ("postcode", "check the postcode on Royal Mail's finder, or give latitude and longitude"),
    "no_coordinates": ("postcode", "give latitude and longitude for this record"),
    "coordinates_invalid": ("latitude", "correct the coordinates (latitude about 50–60, longitude about −8–2 in GB)"),
    "no_location": ("postcode", "give a postcode, or latitude and longitude"),
}
# Fields an import writes from location and geography rather than from a cell.
_PLACE_FIELDS = (
    "postcode",
    "lat",
    "lon",
    "easting",
    "northing",
    "location_precision",
    "ward_code",
    "ward_name",
    "constituency_code",
    "constituency_name",
    "district_code",
    "district_name",
    "boundary_vintage",
    "geocode_source",
)
# Cell fields → the asset fields they set (location fields are handled through geocoding).
_FIELD_TARGETS = {
    "categories": ("categories",),
    "sessions": ("sessions", "by_arrangement", "schedule_notes"),
    "cost": ("cost", "cost_note"),
    "run_by": ("run_by",),
}


@dataclass(frozen=True)
class RowPlan:
    """What the import will do with one spreadsheet row, and why."""

    row: int
    status: str
    name: str
    problems: tuple[Problem, ...] = ()
    asset: Asset | None = None
    existing_id: str = ""
    existing_version: int = 0
    changes: Mapping[str, object] = field(default_factory=dict)
    duplicate: Candidate | None = None

    @property
    def reasons(self) -> str:
        return "; ".join(problem.message for problem in self.problems)


@dataclass(frozen=True)
class ImportPreview:
    """The whole plan for one file: nothing is stored until :func:`commit_import`."""

    filename: str
    encoding: str
    sheet: str | None
    sheet_names: tuple[str, ...]
    headers: tuple[str, ...]
    mapping: HeaderMapping
    notes: tuple[str, ...]
    rows: tuple[RowPlan, ...]
    gazetteer_version: str

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((NEW, UPDATE, UNCHANGED, REJECTED, DUPLICATE), 0)
        for plan in self.rows:
            counts[plan.status] += 1
        return counts


@dataclass(frozen=True)
class ImportSummary:
    imported: int
    updated: int
    unchanged: int
    rejected: int
    duplicates: int

    def line(self) -> str:
        """The one summary line the command line prints."""
        return (
            f"imported {self.imported}, updated {self.updated}, unchanged {self.unchanged}, "
            f"rejected {self.rejected}, duplicates {self.duplicates}"
        )


def _location_frame(results) -> pd.DataFrame:
    return pd.DataFrame([result.location for result in results])


def geocode_problems(row: int, located: Mapping[str, object], location: Mapping[str, str]) -> list[Problem]:
    status = str(located["geocode_status"])
    message = str(located.get("geocode_message") or "")
    if status in _UNLOCATED:
        field_name, fix = _GEOCODE_FIXES[status]
        if ": " in message:
            # Geocoding messages read "<what is wrong>: <what to do>".
            message, fix = message.split(": ", 1)
        if status == "coordinates_invalid" and not location.get("latitude") and location.get("easting"):
            field_name = "easting"
        value = location.get(field_name, "") or location.get("postcode", "")
        return [Problem(row, field_name, value, message or status.replace("_", " "), fix, ERROR)]
    problems = []
    if status == "outside_area":
        problems.append(
            Problem(row, "postcode", location.get("postcode", ""), message, "nothing to do if that is right", WARNING)
        )
    elif message:
        problems.append(Problem(row, "postcode", location.get("postcode", ""), message, "check the location", WARNING))
    area_message = str(located.get("area_message") or "")
    if area_message and status != "outside_area":
        problems.append(Problem(row, "postcode", location.get("postcode", ""), area_message, "check the location", WARNING))
    return problems


def place_asset(asset: Asset, located: Mapping[str, object], gazetteer: Gazetteer) -> Asset:
    """The asset with its location and geography filled in from the geocoded row."""

    def num(name: str) -> float | None:
        value = located.get(name)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

    lat, lon, easting, northing = num("lat"), num("lon"), num("easting"), num("northing")
    precision = str(located.get("location_precision") or "postcode")
    postcode = str(located.get("postcode_normalised") or "") or asset.postcode
    if asset.private_address and postcode:
        # Someone's home: keep only the postcode sector's centre (the ward is the real one).
        sector = postcode[:-2]
        centroids = gazetteer.sector_centroids()
        if sector in centroids.index:
            centre = centroids.loc[sector]
            lat, lon = float(centre["lat"]), float(centre["lon"])
            easting, northing = float(centre["easting"]), float(centre["northing"])
            precision = "sector"
    return replace(
        asset,
        postcode=postcode,
        lat=lat,
        lon=lon,
        easting=easting,
        northing=northing,
        location_precision=precision,
        ward_code=str(located.get("ward_code") or ""),
        ward_name=str(located.get("ward_name") or ""),
        constituency_code=str(located.get("constituency_code") or ""),
        constituency_name=str(located.get("constituency_name") or ""),
        district_code=str(located.get("district_code") or ""),
        district_name=str(located.get("district_name") or ""),
        boundary_vintage=str(located.get("boundary_vintage") or ""),
        geocode_source=str(located.get("geocode_source") or ""),
    )


def _compared_fields(mapping: HeaderMapping) -> list[str]:
    names: list[str] = []
    for cell_field in mapping.fields:
        if cell_field in ("postcode", "latitude", "longitude", "easting", "northing", "external_id"):
            continue
        names.extend(_FIELD_TARGETS.get(cell_field, (cell_field,)))
    return [n for n in dict.fromkeys(names) if n in Asset.__dataclass_fields__] + list(_PLACE_FIELDS)


def changed_fields(existing: Asset, incoming: Asset, names: Sequence[str]) -> dict[str, object]:
    changes = {}
    for name in names:
        old, new = getattr(existing, name), getattr(incoming, name)
        if isinstance(old, float) and isinstance(new, float) and abs(old - new) < 1e-7:
            continue
        if old != new:
            changes[name] = new
    return changes


def preview_import(
    store,
    actor: Actor,
    table: Table,
    *,
    gazetteer: Gazetteer,
    geography: AreaGeography,
    overrides: Mapping[str, str | None] | None = None,
    organisation_id: str | None = None,
    status: str = "published",
    today: date | None = None,
    online=None,
    progress: Progress | None = None,
) -> ImportPreview:
    """Plan the import of a table: every row's status and every problem. Stores nothing.

    Parameters
    ----------
    store, actor
        Where existing records are matched, and who is importing.
    table
        The file as read by :func:`assets.tabular.read_table`.
    overrides
        The user's corrections to the header mapping ({header: field or None}).
    organisation_id
        The owning organisation of new records (default: the actor's, else the default one).
    status
        "published" or "draft" for new records (rows may say otherwise in a Status column).
    """
    today = today or date.today()
    report = progress or (lambda fraction, text: None)
    mapping = map_headers(table.headers, overrides)
    has_verified = "last_verified" in mapping.fields
    has_status = "status" in mapping.fields
    owner = organisation_id or actor.organisation_id or store.default_organisation(actor).id

    results = []
    total = max(len(table.rows), 1)
    step = max(total // 50, 1)
    for i, (number, row) in enumerate(zip(table.row_numbers, table.rows, strict=True)):
        cells = mapping.cells(table.headers, row)
        formulas = table.formula_cells.get(number, ())
        result = validate_row(cells, number, today=today, formulas=formulas)
        if number in table.row_problems:
            extra = Problem(number, "row", "", table.row_problems[number], "correct the row in the file", ERROR)
            result = replace(result, asset=None, problems=(*result.problems, extra))
        results.append(result)
        if i % step == 0:
            report(0.6 * i / total, f"Checked {i:,} of {len(table.rows):,} rows")

    report(0.6, "Finding postcodes and wards")
    located = locate_frame(_location_frame(results), gazetteer, geography, online=online) if results else None
    located_rows = located.to_dict("records") if located is not None else []

    plans: list[RowPlan | None] = [None] * len(results)
    placed: dict[int, Asset] = {}
    for i, result in enumerate(results):
        number = result.row
        loc = located_rows[i]
        problems = list(result.problems) + geocode_problems(number, loc, result.location)
        name = (result.asset.name if result.asset else mapping.cells(table.headers, table.rows[i]).get("name", ""))
        if result.asset is None or any(p.severity == ERROR for p in problems):
            plans[i] = RowPlan(number, REJECTED, name, tuple(problems))
            continue
        asset = place_asset(result.asset, loc, gazetteer)
        asset = replace(
            asset,
            organisation_id=asset.organisation_id or owner,
            status=asset.status if has_status else status,
            last_verified=asset.last_verified if has_verified else today,
        )
        placed[i] = asset
        plans[i] = RowPlan(number, NEW, asset.name, tuple(problems), asset)

    report(0.8, "Matching existing records")
    existing = store.list_assets(actor, statuses=("draft", "published", "archived"))
    by_id = {a.id: a for a in existing}
    by_external = {a.external_id: a for a in existing if a.external_id}
    by_key = {match_key(a.name, a.postcode, a.easting, a.northing): a for a in existing}
    compared = _compared_fields(mapping)
    matched: dict[int, str] = {}
    for i, asset in placed.items():
        ref = asset.external_id
        target = by_id.get(ref) or by_external.get(ref) if ref else None
        if target is None and not ref:
            target = by_key.get(match_key(asset.name, asset.postcode, asset.easting, asset.northing))
        if target is None:
            continue
        earlier = next((j for j, t in matched.items() if t == target.id), None)
        if earlier is not None:
            # Two rows of one file name the same record: the later one waits for a person.
            plans[i] = replace(
                plans[i],
                status=DUPLICATE,
                duplicate=Candidate(f"row {results[earlier].row}", placed[earlier].name, 100.0, 0.0),
            )
            continue
        matched[i] = target.id
        incoming = replace(asset, id=target.id, external_id=target.external_id or asset.external_id)
        changes = changed_fields(target, incoming, compared)
        if changes and not has_verified:
            changes["last_verified"] = today
        plan = plans[i]
        plans[i] = replace(
            plan,
            status=UPDATE if changes else UNCHANGED,
            asset=incoming,
            existing_id=target.id,
            existing_version=target.version,
            changes=changes,
        )

    report(0.9, "Looking for possible duplicates")
    fresh = [i for i in placed if i not in matched and plans[i].status == NEW]
    if fresh:
        others = pd.DataFrame(
            {
                "id": [a.id for a in existing],
                "name": [a.name for a in existing],
                "easting": [np.nan if a.easting is None else a.easting for a in existing],
                "northing": [np.nan if a.northing is None else a.northing for a in existing],
            }
        )
        candidates = find_near_duplicates(
            [placed[i].name for i in fresh],
            np.array([placed[i].easting if placed[i].easting is not None else np.nan for i in fresh], dtype=float),
            np.array([placed[i].northing if placed[i].northing is not None else np.nan for i in fresh], dtype=float),
            others,
            row_labels=[f"row {results[i].row}" for i in fresh],
        )
        for position, candidate in candidates.items():
            i = fresh[position]
            plans[i] = replace(plans[i], status=DUPLICATE, duplicate=candidate)
    report(1.0, "Ready to import")

    return ImportPreview(
        filename=table.filename,
        encoding=table.encoding_label,
        sheet=table.sheet,
        sheet_names=tuple(table.sheet_names),
        headers=tuple(table.headers),
        mapping=mapping,
        notes=tuple(table.notes) + tuple(mapping.messages),
        rows=tuple(plans),
        gazetteer_version=gazetteer.version,
    )


def commit_import(
    store, actor: Actor, preview: ImportPreview, decisions: Mapping[int, str] | None = None, *, note: str = ""
) -> ImportSummary:
    """Store the planned rows in one transaction (all or none).

    Parameters
    ----------
    decisions
        For rows held back as possible duplicates: {row number: "new" | "update" | "skip"}.
        A duplicate without a decision stays held back.
    """
    decisions = dict(decisions or {})
    inserts: list[Asset] = []
    updates: list[tuple[str, dict, int]] = []
    counts = dict.fromkeys(("imported", "updated", "unchanged", "rejected", "duplicates"), 0)
    for plan in preview.rows:
        if plan.status == NEW:
            inserts.append(plan.asset)
        elif plan.status == UPDATE:
            updates.append((plan.existing_id, dict(plan.changes), plan.existing_version))
        elif plan.status == UNCHANGED:
            counts["unchanged"] += 1
        elif plan.status == REJECTED:
            counts["rejected"] += 1
        elif plan.status == DUPLICATE:
            choice = decisions.get(plan.row, "skip")
            if choice not in DECISIONS:
                msg = f"row {plan.row}: decision {choice!r} is not one of {', '.join(DECISIONS)}"
                raise ValueError(msg)
            candidate = plan.duplicate
            if choice == "new":
                inserts.append(plan.asset)
            elif choice == "update" and candidate is not None and not candidate.other_id.startswith("row "):
                target = store.get_asset(actor, candidate.other_id)
                changes = changed_fields(target, replace(plan.asset, id=target.id), _compared_fields(preview.mapping))
                if changes:
                    updates.append((target.id, changes, target.version))
                else:
                    counts["unchanged"] += 1
            else:
                counts["duplicates"] += 1
    result = {"inserted": 0, "updated": 0, "unchanged": 0}
    if inserts or updates:
        result = store.apply_import(actor, inserts, updates, note=note or f"import of {preview.filename}")
    return ImportSummary(
        imported=result["inserted"],
        updated=result["updated"],
        unchanged=counts["unchanged"] + result.get("unchanged", 0),
        rejected=counts["rejected"],
        duplicates=counts["duplicates"],
    )


def report_rows(preview: ImportPreview) -> list[dict[str, object]]:
    """The per-row import report: row, status, reasons, asset id (and the duplicate's match)."""
    rows = []
    for plan in preview.rows:
        duplicate = ""
        if plan.duplicate is not None:
            duplicate = (
                f"looks like {plan.duplicate.other_name!r} ({plan.duplicate.other_id}), "
                f"{plan.duplicate.similarity:.0f}% similar, {plan.duplicate.distance_m:.0f} m away"
            )
        rows.append(
            {
                "row": plan.row,
                "status": plan.status,
                "name": plan.name,
                "reasons": plan.reasons,
                "possible_duplicate": duplicate,
                "asset_id": plan.existing_id or (plan.asset.id if plan.status == NEW else ""),
            }
        )
    return rows
