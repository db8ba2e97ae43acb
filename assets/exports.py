"""Exports of the register: rows for tables, and CSV, XLSX and GeoJSON writers.

Every exported text cell goes through :func:`neutralise_cell`, the one guard against
formula injection: a spreadsheet must never run a group's name as a formula. Records
with a private address export only their postcode sector and the sector's position.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from assets import permissions
from assets.errors import PermissionDenied
from assets.model import INTERNAL_FIELDS, Actor, Asset
from assets.schedules import format_schedule
from assets.taxonomy import ACCESSIBILITY, CATEGORIES, COSTS, FOR_WHOM, KINDS, labels
from geo import dates
from geo.escaping import FORMULA_TRIGGERS, neutralise_cell, restore_cell  # noqa: F401 - re-exported

EXPORT_COLUMNS = (
    "asset_id",
    "name",
    "kind",
    "categories",
    "description",
    "run_by",
    "run_by_number",
    "address",
    "town",
    "postcode",
    "private_address",
    "lat",
    "lon",
    "location_precision",
    "ward_code",
    "ward_name",
    "constituency_code",
    "constituency_name",
    "district_code",
    "district_name",
    "sessions",
    "cost",
    "cost_note",
    "accessibility",
    "for_whom",
    "communities",
    "public_phone",
    "public_email",
    "website",
    "status",
    "last_verified",
    "stale",
)
INTERNAL_COLUMNS = INTERNAL_FIELDS  # organiser_name, organiser_phone, organiser_email
COORDINATE_DECIMALS = 6


def is_stale(last_verified: date | None, *, stale_months: int = 12, today: date | None = None) -> bool:
    """Whether a record was last checked more than ``stale_months`` months ago (or never)."""
    return dates.is_stale(last_verified, stale_months=stale_months, today=today or date.today())


def _sector(postcode: str) -> str:
    """ "B1 1AY" → "B1 1": the part of a postcode that covers a few thousand addresses."""
    text = " ".join(postcode.upper().split())
    outward, _, inward = text.partition(" ")
    if not inward:
        compact = text.replace(" ", "")
        outward, inward = compact[:-3], compact[-3:]
    return f"{outward} {inward[:1]}".strip()


def _coordinate(value: float | None) -> float | None:
    return None if value is None else round(float(value), COORDINATE_DECIMALS)


def export_rows(
    assets: Iterable[Asset],
    *,
    include_internal: bool = False,
    stale_months: int = 12,
    today: date | None = None,
    actor: Actor | None = None,
) -> list[dict[str, Any]]:
    """The register as rows of plain values, one dict per asset, columns in EXPORT_COLUMNS order.

    Parameters
    ----------
    assets
        The records to export.
    include_internal
        Add the organiser's name, phone and email (personal data: staff-only exports).
    actor
        Who is exporting: the export is refused (PermissionDenied) for a record they may not
        see, or for organisers' contacts their role may not see, and a coordinator's export
        carries the contacts of their own organisation's records only (see
        :mod:`assets.permissions`). None: ``assets`` come from the store already filtered for
        the acting user (the store blanks what they may not see).
    stale_months
        A record last verified longer ago than this is marked stale.
    today
        The date staleness is measured from (default today).

    Returns
    -------
    list of dict
        Text values, except lat/lon (float or None). Values are not neutralised here:
        the writers do it, so that the rows can still be compared and re-imported.
    """
    today = today or date.today()
    if actor is not None:
        permissions.authorise_export(actor, include_internal)
    rows: list[dict[str, Any]] = []
    for asset in assets:
        if actor is not None and not permissions.may_see(actor, asset.status, asset.organisation_id):
            msg = (
                f"{permissions.who(actor)} may not export {asset.name!r} ({asset.status}, of another "
                "organisation); export the records you can see"
            )
            raise PermissionDenied(msg)
        private = asset.private_address
        # A private record is shown only at the sector centroid, which the store has already
        # put in lat/lon; a private record without that guarantee exports no position at all.
        position_ok = not private or asset.location_precision == "sector"
        row: dict[str, Any] = {
            "asset_id": asset.id,
            "name": asset.name,
            "kind": KINDS.get(asset.kind, asset.kind),
            "categories": labels(asset.categories, CATEGORIES),
            "description": asset.description,
            "run_by": asset.run_by,
            "run_by_number": asset.run_by_number,
            "address": "" if private else asset.address,
            "town": asset.town,
            "postcode": _sector(asset.postcode) if private and asset.postcode else asset.postcode,
            "private_address": "yes" if private else "no",
            "lat": _coordinate(asset.lat) if position_ok else None,
            "lon": _coordinate(asset.lon) if position_ok else None,
            "location_precision": "sector" if private else asset.location_precision,
            "ward_code": asset.ward_code,
            "ward_name": asset.ward_name,
            "constituency_code": asset.constituency_code,
            "constituency_name": asset.constituency_name,
            "district_code": asset.district_code,
            "district_name": asset.district_name,
            "sessions": format_schedule(asset.sessions, asset.by_arrangement, asset.schedule_notes),
            "cost": COSTS.get(asset.cost, asset.cost),
            "cost_note": asset.cost_note,
            "accessibility": labels(asset.accessibility, ACCESSIBILITY),
            "for_whom": labels(asset.for_whom, FOR_WHOM),
            "communities": asset.communities,
            "public_phone": asset.public_phone,
            "public_email": asset.public_email,
            "website": asset.website,
            "status": asset.status,
            "last_verified": asset.last_verified.isoformat() if asset.last_verified else "",
            "stale": "true"
            if is_stale(asset.last_verified, stale_months=stale_months, today=today)
            else "false",
        }
        if include_internal:
            shown = actor is None or permissions.internal_visible(actor, asset.organisation_id)
            for name in INTERNAL_COLUMNS:
                row[name] = getattr(asset, name) if shown else ""
        rows.append(row)
    return rows


def _columns(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    if rows:
        return list(rows[0].keys())
    return list(EXPORT_COLUMNS)


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_csv(
    rows: Sequence[Mapping[str, Any]],
    path_or_buffer: str | os.PathLike | IO,
    *,
    columns: Sequence[str] | None = None,
) -> None:
    """Write rows as CSV (UTF-8 with BOM, so Excel shows accents), every cell neutralised.

    ``path_or_buffer`` is a path, a text buffer (io.StringIO) or a binary buffer (io.BytesIO).
    """
    header = _columns(rows, columns)
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([neutralise_cell(name) for name in header])
    for row in rows:
        writer.writerow([neutralise_cell(_plain(row.get(name))) for name in header])
    content = text.getvalue()
    if isinstance(path_or_buffer, str | os.PathLike):
        Path(path_or_buffer).write_text(content, encoding="utf-8-sig", newline="")
    elif isinstance(path_or_buffer, io.TextIOBase):
        path_or_buffer.write(content)
    else:
        path_or_buffer.write(content.encode("utf-8-sig"))


def _xlsx_text(value: Any) -> Any:
    value = neutralise_cell(_plain(value))
    if isinstance(value, str):
        # XML cannot hold most control characters; openpyxl would refuse the whole file.
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def write_xlsx(
    rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike | IO,
    sheet: str = "Assets",
    about: Mapping[str, Any] | None = None,
    *,
    columns: Sequence[str] | None = None,
) -> None:
    """Write rows to an Excel workbook: bold frozen header, every text cell an explicit string.

    Parameters
    ----------
    rows
        The rows (e.g. from :func:`export_rows`).
    path
        A path or a binary buffer.
    sheet
        The data sheet's name.
    about
        When given, an "About" sheet of {label: value} rows (source, date, attribution).
    """
    header = _columns(rows, columns)
    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = sheet
    bold = Font(bold=True)
    for column, name in enumerate(header, start=1):
        _write_cell(worksheet, 1, column, name).font = bold
    for number, row in enumerate(rows, start=2):
        for column, name in enumerate(header, start=1):
            _write_cell(worksheet, number, column, row.get(name))
    worksheet.freeze_panes = "A2"
    for column, name in enumerate(header, start=1):
        widest = max([len(str(name))] + [len(str(row.get(name) or "")) for row in rows[:200]])
        worksheet.column_dimensions[get_column_letter(column)].width = min(max(10, widest + 2), 60)
    if about:
        info = workbook.create_sheet("About")
        for number, (label, value) in enumerate(about.items(), start=1):
            _write_cell(info, number, 1, label).font = bold
            _write_cell(info, number, 2, value)
        info.column_dimensions["A"].width = 24
        info.column_dimensions["B"].width = 100
    workbook.save(path)


def _write_cell(worksheet, row: int, column: int, value: Any):
    value = _xlsx_text(value)
    cell = worksheet.cell(row=row, column=column)
    cell.value = value
    if isinstance(value, str):
        # Set after the value: openpyxl marks any text starting "=" as a formula otherwise.
        cell.data_type = "s"
    return cell


def write_geojson(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike | IO) -> None:
    """Write rows with lat/lon as a GeoJSON FeatureCollection of WGS84 points.

    Rows without a position are left out (a private record whose sector is unknown, say).
    Text properties are neutralised too: GeoJSON is often converted to a spreadsheet.
    """
    features = []
    for row in rows:
        lat, lon = row.get("lat"), row.get("lon")
        if lat is None or lon is None or lat == "" or lon == "":
            continue
        properties = {
            name: neutralise_cell(_plain(value)) for name, value in row.items() if name not in {"lat", "lon"}
        }
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
                "properties": properties,
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    content = json.dumps(collection, ensure_ascii=False, indent=1)
    if isinstance(path, str | os.PathLike):
        Path(path).write_text(content, encoding="utf-8")
    elif isinstance(path, io.TextIOBase):
        path.write(content)
    else:
        path.write(content.encode("utf-8"))
