"""The asset record: a group, venue or activity in the register.

Frozen dataclasses inside the application; untrusted input is checked at the
boundary (``assets.validation``) before it becomes an :class:`Asset`.
"""

from __future__ import annotations

import calendar
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime, timedelta

from assets.taxonomy import ACCESSIBILITY, CATEGORIES, COSTS, FOR_WHOM, KINDS, labels

STATUSES = ("draft", "published", "archived")
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
DAY_NAMES = dict(zip(DAYS, calendar.day_name, strict=True))
FREQUENCIES = ("weekly", "fortnightly", "monthly")
ORDINALS = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", -1: "last"}
PRECISIONS = ("postcode", "coordinates", "sector")


@dataclass(frozen=True)
class Session:
    """One regular session: a day, a start and end time, and how often.

    ``nth`` is the week of the month for monthly sessions (1..4, or -1 for the
    last); ``anchor`` is a date of one occurrence, which fixes the weeks of a
    fortnightly session.
    """

    day: str
    start: str
    end: str
    frequency: str = "weekly"
    nth: int | None = None
    anchor: date | None = None

    def describe(self) -> str:
        """Plain English, e.g. "Tuesdays 10:00–12:00" or "1st Monday of the month 10:00–12:00"."""
        day = DAY_NAMES[self.day]
        times = f"{self.start}–{self.end}" if self.end else self.start
        if self.frequency == "fortnightly":
            return f"Every other {day} {times}"
        if self.frequency == "monthly":
            return f"{ORDINALS.get(self.nth or 1, '1st')} {day} of the month {times}"
        return f"{day}s {times}"

    def occurs_on(self, day: date) -> bool:
        """Whether the session runs on ``day``."""
        if DAYS[day.weekday()] != self.day:
            return False
        if self.frequency == "fortnightly":
            anchor = self.anchor or day
            return ((day - anchor).days // 7) % 2 == 0
        if self.frequency == "monthly":
            nth = self.nth or 1
            if nth == -1:
                return (day + timedelta(days=7)).month != day.month
            return (day.day - 1) // 7 + 1 == nth
        return True

    def next_dates(self, start: date, count: int = 3) -> list[date]:
        """The next ``count`` dates on or after ``start`` when the session runs."""
        found: list[date] = []
        offset = (DAYS.index(self.day) - start.weekday()) % 7
        day = start + timedelta(days=offset)
        for _ in range(count * 6 + 10):  # monthly sessions need up to ~5 weeks each
            if self.occurs_on(day):
                found.append(day)
                if len(found) == count:
                    break
            day += timedelta(days=7)
        return found

    def period(self) -> str:
        """Part of the day the session starts in: morning, afternoon or evening."""
        hour = int(self.start.split(":")[0])
        return "morning" if hour < 12 else "afternoon" if hour < 17 else "evening"


@dataclass(frozen=True)
class Asset:
    """A record in the register. Internal contact fields are personal data, never public."""

    name: str
    kind: str
    categories: tuple[str, ...]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    description: str = ""
    organisation_id: str = ""
    organisation_name: str = ""
    run_by: str = ""
    run_by_number: str = ""
    address: str = ""
    town: str = ""
    postcode: str = ""
    lat: float | None = None
    lon: float | None = None
    easting: float | None = None
    northing: float | None = None
    location_precision: str = "postcode"
    private_address: bool = False
    ward_code: str = ""
    ward_name: str = ""
    constituency_code: str = ""
    constituency_name: str = ""
    district_code: str = ""
    district_name: str = ""
    boundary_vintage: str = ""
    geocode_source: str = ""
    public_phone: str = ""
    public_email: str = ""
    website: str = ""
    organiser_name: str = ""
    organiser_phone: str = ""
    organiser_email: str = ""
    sessions: tuple[Session, ...] = ()
    by_arrangement: bool = False
    schedule_notes: str = ""
    cost: str = ""
    cost_note: str = ""
    accessibility: tuple[str, ...] = ()
    for_whom: tuple[str, ...] = ()
    communities: str = ""
    status: str = "published"
    last_verified: date | None = None
    external_id: str = ""
    version: int = 0
    created_by: str = ""
    created_at: datetime | None = None
    updated_by: str = ""
    updated_at: datetime | None = None
    archived_at: datetime | None = None

    def with_changes(self, **changes) -> Asset:
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def sessions_text(self) -> str:
        parts = [session.describe() for session in self.sessions]
        if self.by_arrangement:
            parts.append("By arrangement")
        if self.schedule_notes:
            parts.append(self.schedule_notes)
        return "; ".join(parts)

    @property
    def cost_text(self) -> str:
        text = COSTS.get(self.cost, "")
        return f"{text} ({self.cost_note})" if text and self.cost_note else text or self.cost_note

    @property
    def categories_text(self) -> str:
        return labels(self.categories, CATEGORIES)

    @property
    def accessibility_text(self) -> str:
        return labels(self.accessibility, ACCESSIBILITY)

    @property
    def for_whom_text(self) -> str:
        return labels(self.for_whom, FOR_WHOM)

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)


ASSET_FIELDS = tuple(f.name for f in fields(Asset))
INTERNAL_FIELDS = ("organiser_name", "organiser_phone", "organiser_email")
# Fields that only the system sets; an edit never changes them directly.
SYSTEM_FIELDS = ("id", "version", "created_by", "created_at", "updated_by", "updated_at", "archived_at")
PUBLIC_FIELDS = tuple(name for name in ASSET_FIELDS if name not in INTERNAL_FIELDS)

FIELD_LABELS: dict[str, str] = {
    "name": "Name",
    "kind": "Type",
    "categories": "Categories",
    "description": "Description",
    "organisation_id": "Organisation",
    "run_by": "Run by",
    "run_by_number": "Charity or company number",
    "address": "Address",
    "town": "Town or city",
    "postcode": "Postcode",
    "lat": "Latitude",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "lon": "Longitude",
    "easting": "Easting",
    "northing": "Northing",
    "private_address": "Private address",
    "public_phone": "Phone",
    "public_email": "Email",
    "website": "Website",
    "organiser_name": "Organiser name",
    "organiser_phone": "Organiser phone",
    "organiser_email": "Organiser email",
    "sessions": "When",
    "by_arrangement": "By arrangement",
    "schedule_notes": "Schedule notes",
    "cost": "Cost",
    "cost_note": "Cost note",
    "accessibility": "Accessibility",
    "for_whom": "Who it is for",
    "communities": "Communities",
    "status": "Status",
    "last_verified": "Last verified",
    "external_id": "Reference",
}


def session_to_dict(session: Session) -> dict:
    """A JSON-ready dict of a session (the stored form)."""
    data = asdict(session)
    data["anchor"] = session.anchor.isoformat() if session.anchor else None
    return {key: value for key, value in data.items() if value is not None}


def session_from_dict(data: dict) -> Session:
    """A session from its stored form."""
    anchor = data.get("anchor")
    return Session(
        day=data["day"],
        start=data["start"],
        end=data.get("end", ""),
        frequency=data.get("frequency", "weekly"),
        nth=data.get("nth"),
        anchor=date.fromisoformat(anchor) if anchor else None,
    )


def public_view(asset: Asset) -> Asset:
    """The asset with its internal contact fields blanked (what the public may see)."""
    return replace(asset, **{name: "" for name in INTERNAL_FIELDS})


ROLES = ("administrator", "coordinator", "practitioner", "commissioner", "public")


@dataclass(frozen=True)
class Actor:
    """Who is acting: every store, search and export function takes one."""

    id: str
    email: str
    name: str
    role: str
    organisation_id: str = ""


# The command line acts as this built-in administrator: whoever can run it can read the database.
SYSTEM_ACTOR = Actor(id="system", email="system@localhost", name="Command line", role="administrator")
PUBLIC_ACTOR = Actor(id="public", email="", name="Public visitor", role="public")
