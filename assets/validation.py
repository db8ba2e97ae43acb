"""Checking one spreadsheet row (or the Add form) and turning it into a draft asset.

Every problem of a row is collected, never just the first. A problem is an *error*
(the row is rejected) or a *warning* (the value is kept and the coordinator is told).
Location is not checked here beyond syntax: the raw postcode and coordinates are
handed back in :attr:`RowResult.location` for the importer to geocode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError
from rapidfuzz import fuzz, process

from assets.errors import MappingError
from assets.model import FIELD_LABELS, STATUSES, Asset
from assets.schedules import parse_schedule
from assets.tabular import IMPORT_FIELDS
from assets.taxonomy import (
    ACCESSIBILITY,
    CATEGORIES,
    FOR_WHOM,
    KINDS,
    match_accessibility,
    match_category,
    match_cost,
    match_for_whom,
    match_kind,
    split_list,
)
from geo.escaping import restore_cell

ERROR = "error"
WARNING = "warning"
LOCATION_FIELDS = ("postcode", "latitude", "longitude", "easting", "northing")
_LABELS = FIELD_LABELS | {"latitude": "Latitude", "longitude": "Longitude", "formula": "Formula"}
MAX_NAME_LENGTH = 200

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%d/%m/%y",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%d %b %y",
)
_ORDINAL_SUFFIX = re.compile(r"(?<=\d)(st|nd|rd|th)\b", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(?!\d)")
_AMOUNT = re.compile(
    r"£\s*(\d+(?:\.\d{1,2})?)|(\d+(?:\.\d{1,2})?)\s*(?:p\b|pence\b|pounds?\b|gbp\b)", re.IGNORECASE
)
_LOW_COST = re.compile(
    r"donation|low[\s-]*cost|pay\s+what\s+you\s+(?:can|feel)|pay\s+as\s+you\s+feel|subsidi[sz]ed|concession"
    r"|voluntary\s+contribution",
    re.IGNORECASE,
)
_YES = {"yes", "y", "true", "1", "x", "private"}
_NO = {"", "no", "n", "false", "0", "public"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one value: where, what, why, and what to do."""

    row: int | None
    field: str
    value: str
    reason: str
    fix: str
    severity: str = ERROR

    @property
    def message(self) -> str:
        """e.g. "row 4, Type: 'club' is not a kind of asset — use one of: Group, Venue, Activity"."""
        where = f"row {self.row}, " if self.row is not None else ""
        label = _LABELS.get(self.field, self.field)
        value = f"{self.value!r} " if self.value else ""
        return f"{where}{label}: {value}{self.reason} — {self.fix}"


@dataclass(frozen=True)
class RowResult:
    """A checked row: the draft asset (None when an error rejects it), its problems, its raw location."""

    row: int | None
    asset: Asset | None
    problems: tuple[Problem, ...]
    location: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return self.asset is not None


# --------------------------------------------------------------------------- values


_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_UK = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def parse_date(text: str) -> date | None:
    """A date written as 2025-10-01, 01/10/2025 (day first), 1 Oct 2025 or 1st October 2025.

    Returns None when the text is none of these.
    """
    # The two common forms without strptime, which is slow for 50,000 rows.
    for pattern, order in ((_ISO, (0, 1, 2)), (_UK, (2, 1, 0))):
        found = pattern.fullmatch(text.strip())
        if found:
            parts = found.groups()
            try:
                return date(*(int(parts[i]) for i in order))
            except ValueError:
                return None
    cleaned = _ORDINAL_SUFFIX.sub("", " ".join(str(text).split())).replace(",", "")
    cleaned = re.sub(r"\bsept\b", "Sep", cleaned, flags=re.IGNORECASE)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2})?", cleaned):
        cleaned = cleaned[:10]  # an Excel date-time cell read as text
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    return None


def parse_cost(text: str) -> tuple[str, str] | None:
    """Band and note for a cost cell: "free"/"£0" → free, "donation"/"low cost" → low,
    an amount ("£3 a session") → paid with the text as the note. None when not a cost."""
    cleaned = " ".join(str(text).split())
    if not cleaned:
        return "", ""
    amounts = [float(a or b) for a, b in _AMOUNT.findall(cleaned)]
    charged = any(amount > 0 for amount in amounts)
    band = match_cost(cleaned)
    if band is not None:
        return band, ""
    if amounts and not charged:
        return "free", "" if re.fullmatch(r"£\s*0+(?:\.0+)?", cleaned) else cleaned
    if re.search(r"\bfree\b", cleaned, re.IGNORECASE) and not charged:
        return "free", cleaned
    if _LOW_COST.search(cleaned):
        return "low", cleaned
    if charged:
        return "paid", cleaned
    return None


def _phone_problem(value: str) -> tuple[str, str] | None:
    digits = re.sub(r"[\s().\-]", "", value)
    if digits.startswith("+44"):
        digits = "0" + digits[3:].lstrip("0")
    elif digits.startswith("0044"):
        digits = "0" + digits[4:].lstrip("0")
    if re.fullmatch(r"0\d{9,10}", digits) or re.fullmatch(r"\d{3,6}", digits):
        return None
    if re.fullmatch(r"[1-9]\d{9}", digits):
        return (
            "looks like a phone number that lost its leading 0 (spreadsheets drop it from numbers)",
            f"write it as 0{digits} and format the column as text",
        )
    return ("is not a UK phone number", "give 11 digits starting with 0, e.g. 0121 496 0000")


def _website_problem(value: str) -> tuple[str, str, str] | None:
    scheme = _SCHEME.match(value)
    if scheme and scheme.group(1).lower() not in {"http", "https"}:
        return (
            ERROR,
            f"is a {scheme.group(1)}: link, not a web address",
            "give an address starting https://",
        )
    parts = urlsplit(value if scheme else f"https://{value}")
    host = parts.hostname or ""
    if " " in value.strip() or "." not in host:
        return (WARNING, "does not look like a web address", "give it like https://example.org.uk")
    return None


_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?")


def _number(text: str) -> float | None:
    """A decimal number; commas only as thousands separators ("406,000"), never as a decimal mark."""
    text = text.strip()
    if not re.search(r"\d", text) or not _NUMBER.fullmatch(text):
        return None
    return float(text.replace(",", ""))


def _suggest(value: str, vocabulary: Mapping[str, str]) -> list[str]:
    choices = list(vocabulary.values())
    found = process.extract(value, choices, scorer=fuzz.WRatio, limit=3, score_cutoff=60)
    return [choice for choice, _, _ in found]


def _clean(cells: Mapping[str, str]) -> dict[str, str]:
    """Every cell's text, trimmed, with our own formula-guard apostrophe removed."""
    return {name: restore_cell(str(value or "")).strip() for name, value in cells.items()}


def _text(cells: Mapping[str, str], name: str) -> str:
    return cells.get(name, "")


# --------------------------------------------------------------------------- rows


def validate_row(
    cells: Mapping[str, str],
    row_number: int | None,
    *,
    today: date,
    formulas: Sequence[str] = (),
) -> RowResult:
    """Check one mapped row and build a draft asset (without location or geography).

    Parameters
    ----------
    cells
        {field: text} as given by :meth:`assets.tabular.HeaderMapping.cells`.
    row_number
        The spreadsheet row, for messages (None for the Add form).
    today
        The date the upload is made: last verified defaults to it and may not be after it.
    formulas
        Headers (or fields) of this row's formula cells (``Table.formula_cells``); each
        rejects the row.

    Returns
    -------
    RowResult
        The asset when no error was found, every problem, and the raw location text.
    """
    unknown = sorted(set(cells) - set(IMPORT_FIELDS))
    if unknown:
        msg = f"validate_row got fields the register lacks: {unknown}; map columns with map_headers"
        raise MappingError(msg)
    cells = _clean(cells)
    problems: list[Problem] = []

    def problem(name: str, value: str, reason: str, fix: str, severity: str = ERROR) -> None:
        problems.append(Problem(row_number, name, value, reason, fix, severity))

    for header in formulas:
        problem(
            "formula",
            header,
            "holds a formula, which is never calculated",
            "copy the sheet and paste values only, then upload again",
        )

    name = " ".join(_text(cells, "name").split())
    if not name:
        problem("name", "", "is missing", "give the group, venue or activity a name")
    elif len(name) > MAX_NAME_LENGTH:
        problem(
            "name",
            name[:40] + "…",
            f"is {len(name)} characters long",
            f"shorten it to {MAX_NAME_LENGTH} or fewer",
        )

    kind_text = _text(cells, "kind")
    kind = match_kind(kind_text) if kind_text else None
    allowed_kinds = ", ".join(KINDS.values())
    if not kind_text:
        problem("kind", "", "is missing", f"use one of: {allowed_kinds}")
    elif kind is None:
        problem("kind", kind_text, "is not a kind of asset", f"use one of: {allowed_kinds}")

    categories: list[str] = []
    category_parts = split_list(_text(cells, "categories"))
    if not category_parts:
        problem("categories", "", "are missing", "give at least one category, e.g. 'Physical activity'")
    for part in category_parts:
        slug = match_category(part)
        if slug is None:
            close = _suggest(part, CATEGORIES)
            fix = (
                "did you mean " + " or ".join(repr(c) for c in close) + "?"
                if close
                else "use categories from the list: " + "; ".join(CATEGORIES.values())
            )
            problem("categories", part, "is not a category", fix)
        elif slug not in categories:
            categories.append(slug)

    description = _text(cells, "description")
    extra_notes: list[str] = []
    accessibility = _vocabulary_list(
        cells, "accessibility", ACCESSIBILITY, match_accessibility, extra_notes, problem, "Accessibility"
    )
    for_whom = _vocabulary_list(
        cells, "for_whom", FOR_WHOM, match_for_whom, extra_notes, problem, "Who it is for"
    )
    if extra_notes:
        description = " ".join(filter(None, [description, *extra_notes]))

    schedule = parse_schedule(_text(cells, "sessions"), today=today)
    if schedule.unparsed:
        problem(
            "sessions",
            schedule.unparsed,
            "was not understood as days and times (kept as a note)",
            "write times like 'Tuesdays 10-12' or 'last Friday of the month 2-4pm'",
            WARNING,
        )
    schedule_notes = "; ".join(filter(None, [schedule.notes, _text(cells, "schedule_notes")]))

    cost_text = _text(cells, "cost")
    cost_note = _text(cells, "cost_note")
    cost = parse_cost(cost_text)
    if cost is None:
        problem(
            "cost",
            cost_text,
            "is not a cost (kept as the cost note)",
            "write Free, Low cost, or an amount like £3",
            WARNING,
        )
        cost = ("", cost_text)
    band, note = cost
    cost_note = "; ".join(filter(None, [note, cost_note]))

    contact: dict[str, str] = {}
    for name_ in ("public_phone", "organiser_phone"):
        value = _text(cells, name_)
        found = _phone_problem(value) if value else None
        if found:
            problem(name_, value, found[0], found[1], WARNING)
        contact[name_] = value
    for name_ in ("public_email", "organiser_email"):
        value = _text(cells, name_)
        if value and not _EMAIL.fullmatch(value):
            problem(name_, value, "is not an email address", "give it like name@example.org.uk", WARNING)
        contact[name_] = value
    website = _text(cells, "website")
    found_site = _website_problem(website) if website else None
    if found_site:
        severity, reason, fix = found_site
        problem("website", website, reason, fix, severity)

    status = _text(cells, "status").lower() or "published"
    if status not in STATUSES:
        problem("status", _text(cells, "status"), "is not a status", f"use one of: {', '.join(STATUSES)}")

    private_text = _text(cells, "private_address")
    private = private_text.lower() in _YES
    if private_text.lower() not in _YES | _NO:
        problem(
            "private_address",
            private_text,
            "is not yes or no",
            "write yes (the address is someone's home: show only the area) or no",
        )

    verified_text = _text(cells, "last_verified")
    verified = parse_date(verified_text) if verified_text else today
    if verified is None:
        problem(
            "last_verified",
            verified_text,
            "is not a date",
            "write it like 2025-10-01, 01/10/2025 or 1 Oct 2025",
        )
    elif verified > today:
        problem(
            "last_verified",
            verified_text,
            f"is after today ({today.isoformat()})",
            "give the date it was last checked",
        )

    location = {name_: _text(cells, name_) for name_ in LOCATION_FIELDS}
    for first, second in (("latitude", "longitude"), ("easting", "northing")):
        for name_ in (first, second):
            if location[name_] and _number(location[name_]) is None:
                problem(
                    name_, location[name_], "is not a number", "give a number like 52.4796 or leave it blank"
                )
        if bool(location[first]) != bool(location[second]):
            missing = second if location[first] else first
            problem(
                missing,
                "",
                f"is missing while {_LABELS[first if missing == second else second]} is given",
                "give both or neither",
            )

    if any(p.severity == ERROR for p in problems):
        return RowResult(row_number, None, tuple(problems), location)
    asset = Asset(
        name=name,
        kind=kind or "",
        categories=tuple(categories),
        description=description,
        run_by=_text(cells, "run_by"),
        run_by_number=_text(cells, "run_by_number"),
        address=_text(cells, "address"),
        town=_text(cells, "town"),
        postcode=location["postcode"],
        private_address=private,
        public_phone=contact["public_phone"],
        public_email=contact["public_email"],
        website=website,
        organiser_name=_text(cells, "organiser_name"),
        organiser_phone=contact["organiser_phone"],
        organiser_email=contact["organiser_email"],
        sessions=schedule.sessions,
        by_arrangement=schedule.by_arrangement,
        schedule_notes=schedule_notes,
        cost=band,
        cost_note=cost_note,
        accessibility=accessibility,
        for_whom=for_whom,
        communities=_text(cells, "communities"),
        status=status,
        last_verified=verified,
        external_id=_text(cells, "external_id"),
    )
    return RowResult(row_number, asset, tuple(problems), location)


def _vocabulary_list(cells, name, vocabulary, match, extra_notes, problem, label) -> tuple[str, ...]:
    """Slugs of a list cell; unknown values are kept in the description, with a warning."""
    slugs: list[str] = []
    unknown: list[str] = []
    for part in split_list(_text(cells, name)):
        slug = match(part)
        if slug is None:
            unknown.append(part)
        elif slug not in slugs:
            slugs.append(slug)
    if unknown:
        extra_notes.append(f"{label}: {'; '.join(unknown)}.")
        problem(
            name,
            "; ".join(unknown),
            "is not in the list (kept in the description)",
            "use: " + "; ".join(vocabulary.values()),
            WARNING,
        )
    return tuple(slugs)


# --------------------------------------------------------------------------- the Add form


class AssetForm(BaseModel):
    """What the Add page submits; lists where the spreadsheet has ";"-separated text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = ""
    kind: str = ""
    categories: list[str] = []
    description: str = ""
    run_by: str = ""
    run_by_number: str = ""
    address: str = ""
    town: str = ""
    postcode: str = ""
    latitude: float | str | None = None
    longitude: float | str | None = None
    easting: float | str | None = None
    northing: float | str | None = None
    private_address: bool = False
    sessions: str = ""
    schedule_notes: str = ""
    by_arrangement: bool = False
    cost: str = ""
    cost_note: str = ""
    accessibility: list[str] = []
    for_whom: list[str] = []
    communities: str = ""
    public_phone: str = ""
    public_email: str = ""
    website: str = ""
    organiser_name: str = ""
    organiser_phone: str = ""
    organiser_email: str = ""
    status: str = "published"
    last_verified: date | str | None = None
    external_id: str = ""


def validate_form(values: dict, *, today: date | None = None) -> tuple[Asset | None, list[Problem]]:
    """Check the Add form with the same rules as a spreadsheet row.

    Coordinates typed into the form are put on the asset as numbers, unchecked: the
    page geocodes the asset before saving it.

    Returns
    -------
    The asset (None when there is an error) and every problem found.
    """
    today = today or date.today()
    try:
        form = AssetForm.model_validate(values)
    except ValidationError as exc:
        problems = [
            Problem(
                None,
                ".".join(str(part) for part in error["loc"]) or "form",
                str(error.get("input", ""))[:80] if error["type"] != "missing" else "",
                "is not a field of the form" if error["type"] == "extra_forbidden" else error["msg"].lower(),
                "remove it" if error["type"] == "extra_forbidden" else "correct the value",
            )
            for error in exc.errors()
        ]
        return None, problems
    data = form.model_dump()
    cells: dict[str, str] = {}
    for name in IMPORT_FIELDS:
        value = data.get(name)
        if isinstance(value, list):
            cells[name] = "; ".join(value)
        elif isinstance(value, bool):
            cells[name] = "yes" if value else "no"
        elif isinstance(value, date):
            cells[name] = value.isoformat()
        elif value is None:
            cells[name] = ""
        else:
            cells[name] = str(value)
    result = validate_row(cells, None, today=today)
    asset = result.asset
    if asset is not None:
        coordinates = {
            name: _number(result.location[name]) for name in ("latitude", "longitude", "easting", "northing")
        }
        asset = asset.with_changes(
            lat=coordinates["latitude"],
            lon=coordinates["longitude"],
            easting=coordinates["easting"],
            northing=coordinates["northing"],
            by_arrangement=asset.by_arrangement or form.by_arrangement,
        )
    return asset, list(result.problems)
