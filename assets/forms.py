"""One record at a time: the checks and saves behind the Add and Edit forms (and ``python -m assets add``).

The same rules as a spreadsheet row (``assets.validation``), the same geocoding and
ward assignment as an import (``assets.importer``), and the same duplicate test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from assets.dedupe import Candidate, find_near_duplicates
from assets.geography import AreaGeography, locate_frame
from assets.importer import changed_fields, geocode_problems, place_asset
from assets.model import DAYS, FREQUENCIES, SYSTEM_FIELDS, Actor, Asset, Session
from assets.validation import ERROR, Problem, validate_form
from geo.gazetteer import Gazetteer

_TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
_LOCATION_KEYS = ("postcode", "latitude", "longitude", "easting", "northing")


@dataclass(frozen=True)
class FormCheck:
    """The outcome of checking a form: the asset to save (None on error) and every problem."""

    asset: Asset | None
    problems: tuple[Problem, ...]
    located: Mapping[str, object]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    def problems_for(self, field: str) -> list[Problem]:
        return [p for p in self.problems if p.field == field]


def _time(text: object) -> str | None:
    match = _TIME.match(str(text or "").strip())
    return f"{int(match.group(1)):02d}:{match.group(2)}" if match else None


def sessions_from_rows(rows: Sequence[Mapping[str, object]], *, today: date) -> tuple[tuple[Session, ...], list[Problem]]:
    """Sessions from form rows of day, start, end, frequency (and week of the month).

    Blank rows are ignored; each problem names the session row.
    """
    sessions: list[Session] = []
    problems: list[Problem] = []
    for number, row in enumerate(rows, start=1):
        day = str(row.get("day") or "").strip().upper()[:2]
        start_text, end_text = row.get("start") or "", row.get("end") or ""
        if not (day or str(start_text).strip() or str(end_text).strip()):
            continue
        label = f"session {number}"
        frequency = str(row.get("frequency") or "weekly").strip().lower()
        if day not in DAYS:
            problems.append(Problem(None, "sessions", str(row.get("day") or ""), f"{label}: no day chosen", "choose the day"))
            continue
        start, end = _time(start_text), _time(end_text)
        if start is None:
            problems.append(Problem(None, "sessions", str(start_text), f"{label}: start is not a time", "write it like 10:00"))
            continue
        if end_text and end is None:
            problems.append(Problem(None, "sessions", str(end_text), f"{label}: end is not a time", "write it like 12:30"))
            continue
        if end is not None and end <= start:
            problems.append(Problem(None, "sessions", f"{start}-{end}", f"{label}: ends before it starts", "check the times"))
            continue
        if frequency not in FREQUENCIES:
            problems.append(Problem(None, "sessions", frequency, f"{label}: unknown frequency", "choose weekly, fortnightly or monthly"))
            continue
        nth = None
        if frequency == "monthly":
            try:
                nth = int(row.get("week_of_month") or 1)
            except (TypeError, ValueError):
                nth = 0
            if nth not in (1, 2, 3, 4, -1):
                problems.append(Problem(None, "sessions", str(row.get("week_of_month")), f"{label}: week of the month must be 1–4 or last", "choose the week"))
                continue
        anchor = None
        if frequency == "fortnightly":
            offset = (DAYS.index(day) - today.weekday()) % 7
            anchor = date.fromordinal(today.toordinal() + offset)
        sessions.append(Session(day, start, end or "", frequency, nth, anchor))
    return tuple(sessions), problems


def check_asset(
    values: Mapping[str, object],
    session_rows: Sequence[Mapping[str, object]],
    *,
    gazetteer: Gazetteer,
    geography: AreaGeography,
    today: date | None = None,
) -> FormCheck:
    """Check a form and place it: every problem, the ward and constituency, nothing saved."""
    today = today or date.today()
    asset, problems = validate_form(dict(values), today=today)
    sessions, session_problems = sessions_from_rows(session_rows, today=today)
    problems = list(problems) + session_problems
    location = {key: str(values.get(key) or "").strip() for key in _LOCATION_KEYS}
    located: dict[str, object] = {}
    if any(location.values()):
        frame = locate_frame(pd.DataFrame([location]), gazetteer, geography)
        located = frame.iloc[0].to_dict()
        problems += geocode_problems(None, located, location)
    else:
        problems.append(Problem(None, "postcode", "", "no location given", "give a postcode, or latitude and longitude"))
    if asset is not None and not any(p.severity == ERROR for p in problems):
        asset = place_asset(asset, located, gazetteer)
        asset = replace(asset, sessions=sessions + asset.sessions)
    else:
        asset = None
    return FormCheck(asset, tuple(problems), located)


def possible_duplicates(store, actor: Actor, asset: Asset, *, ignore_id: str = "") -> list[Candidate]:
    """Existing records with a similar name within 100 m (the same test as an import)."""
    if asset.easting is None or asset.northing is None:
        return []
    others = [a for a in store.list_assets(actor, statuses=("draft", "published", "archived")) if a.id != ignore_id]
    frame = pd.DataFrame(
        {
            "id": [a.id for a in others],
            "name": [a.name for a in others],
            "easting": [np.nan if a.easting is None else a.easting for a in others],
            "northing": [np.nan if a.northing is None else a.northing for a in others],
        }
    )
    found = find_near_duplicates(
        [asset.name], np.array([asset.easting]), np.array([asset.northing]), frame, row_labels=["this record"]
    )
    return [found[0]] if 0 in found else []


def save_new(store, actor: Actor, asset: Asset) -> Asset:
    """Store a checked record (one transaction with its audit row)."""
    return store.create_asset(actor, asset)


def save_edit(store, actor: Actor, original: Asset, edited: Asset) -> Asset:
    """Store the fields an editor changed, refusing if someone else changed the record meanwhile."""
    names = [name for name in Asset.__dataclass_fields__ if name not in SYSTEM_FIELDS]
    changes = changed_fields(original, replace(edited, id=original.id), names)
    if not changes:
        return original
    return store.update_asset(actor, original.id, changes, expected_version=original.version)
