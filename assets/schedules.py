"""Reading "when it runs" text into sessions, and writing sessions back as text.

Coordinators write schedules many ways ("Tuesdays 10-12", "Mon, Wed and Fri
9.30am–11am", "last Friday of the month 2-4pm"); directories publish OpenStreetMap
``opening_hours`` ("Mo-Fr 09:00-17:00; Th[3] 12:30-14:00"). Both are read by one small
grammar. Nothing is dropped: text that is not understood is kept as notes and returned
in ``unparsed`` so the importer can report it.

:func:`format_sessions` writes the form this module reads back identically, e.g.
"Tu 10:00-12:00; 2nd Mo 10:00-12:00; every other Th 19:00-21:00 from 2025-10-02".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from assets.model import DAYS, Session

_DASHES = str.maketrans({"–": "-", "—": "-", "‑": "-", "−": "-", "‒": "-"})
_DAY_CODES = {"mo": "MO", "tu": "TU", "we": "WE", "th": "TH", "fr": "FR", "sa": "SA", "su": "SU"}
_ORDINALS = {
    "1st": 1,
    "first": 1,
    "2nd": 2,
    "second": 2,
    "3rd": 3,
    "third": 3,
    "4th": 4,
    "fourth": 4,
    "last": -1,
    "final": -1,
}
_ORDINAL_TEXT = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", -1: "last"}

_DAY = (
    r"\b(?:mon(?:day)?s?|mo|tue(?:s(?:day)?)?s?|tu|wed(?:s|nesday)?s?|we"
    r"|thu(?:r(?:s(?:day)?)?)?s?|th|fri(?:day)?s?|fr|sat(?:urday)?s?|sa|sun(?:day)?s?|su)\b"
)
_OSM_NTH = r"\[\s*-?\d+(?:\s*,\s*-?\d+)*\s*\]"
_RANGE_TO = r"\s*(?:-|\bto\b|\buntil\b|\btill\b)\s*"
_DAY_ITEM = (
    rf"(?:{_DAY}(?:{_OSM_NTH})?(?:{_RANGE_TO}{_DAY})?|\bweekdays\b|\bweekends?\b|\bdaily\b|\bevery\s+day\b)"
)
_DAY_LIST = rf"{_DAY_ITEM}(?:(?:\s*(?:,|&|\+|/|\band\b)\s*|\s+){_DAY_ITEM})*"
_ORDINAL = r"(?:1st|first|2nd|second|3rd|third|4th|fourth|last|final)"
_PREFIX = (
    r"\b(?:(?P<fortnightly>every\s+other|alternate|every\s+(?:second|2nd|two|2)\s+weeks?(?:\s+on)?"
    r"|fortnightly(?:\s+on)?)"
    rf"|(?:(?:every|on|each)\s+)?(?:the\s+)?(?P<ordinals>{_ORDINAL}(?:\s*(?:,|&|/|\band\b)\s*{_ORDINAL})*)"
    r"|every|each|on)\b"
)
_SUFFIX = (
    r"(?:\s+(?P<monthly>of\s+(?:the|each|every)\s+month|(?:in\s+)?(?:each|every|the)\s+month|monthly)"
    r"|\s+(?P<fortnightly_after>fortnightly)|\s+weekly)?"
)
_TIME = r"\b(?:\d{1,2}(?:[:.]\d{2})?(?:\s*[ap]\.?m\b\.?)?|noon\b|midday\b|midnight\b)"
_TIME_RANGE = rf"{_TIME}{_RANGE_TO}{_TIME}"
# A lone start time must be unmistakably a time (10am, 10:30), not any number.
_TIME_ALONE = r"\b(?:\d{1,2}(?:[:.]\d{2})?\s*[ap]\.?m\b\.?|\d{1,2}:\d{2}|noon\b|midday\b)"
_TIMES = rf"(?:{_TIME_RANGE}|{_TIME_ALONE})(?:\s*(?:,|&|/|\band\b)\s*(?:{_TIME_RANGE}|{_TIME_ALONE}))*"
_ANCHOR = r"(?:\s*\(?\s*(?:from|starting|starts|beginning)\s+(?P<anchor>\d{4}-\d{2}-\d{2})\s*\)?)?"

_DAYS_FIRST = re.compile(
    rf"(?:{_PREFIX}\s+)?(?P<days>{_DAY_LIST}){_SUFFIX}\s*[:,]?\s*(?:\b(?:from|at|between)\s+)?"
    rf"(?P<times>{_TIMES})\b{_ANCHOR}",
    re.IGNORECASE,
)
_TIMES_FIRST = re.compile(
    rf"(?:\b(?:from|at|between)\s+)?(?P<times>{_TIMES})\b\s*,?\s*(?:\b(?:on|every|each)\s+)?(?:{_PREFIX}\s+)?"
    rf"(?P<days>{_DAY_LIST}){_SUFFIX}{_ANCHOR}",
    re.IGNORECASE,
)
_DAYS_OFF = re.compile(rf"(?P<days>{_DAY_LIST})\s+(?:off|closed)\b", re.IGNORECASE)
_ALWAYS = re.compile(r"\b24\s*/\s*7\b|\b24\s+hours?\s+a\s+day,?\s+7\s+days\s+a\s+week\b", re.IGNORECASE)
_ARRANGEMENT = re.compile(
    r"\bby\s+(?:prior\s+)?(?:arrangement|appointment)\b|\bon\s+request\b|\bon\s+demand\b", re.IGNORECASE
)
# A clause written "note: ..." (as format_schedule writes notes) is a note on purpose, not a failure.
_NOTE = re.compile(r"(?:^|(?<=[;\n]))\s*note:\s*(?P<note>[^;\n]*)", re.IGNORECASE)
_TIME_PART = re.compile(
    r"(?P<hour>\d{1,2})(?:[:.](?P<minute>\d{2}))?\s*(?P<meridiem>[ap])?|(?P<word>noon|midday|midnight)",
    re.IGNORECASE,
)
_FILLER = re.compile(
    r"[\s,;.&/()\-:+]+|\b(?:and|every|each|on|at|the|weekly|open|opening|also|plus|from)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class ScheduleParse:
    """What was read from a schedule cell.

    ``notes`` is the text kept beside the sessions: clauses written "note: ..." and the
    parts not understood; ``unparsed`` is only the parts not understood, so the importer
    can warn about them.
    """

    sessions: tuple[Session, ...]
    by_arrangement: bool
    notes: str
    unparsed: str


class _Unreadable(ValueError):
    """A matched segment whose days or times do not make sense (e.g. 25:00, 5th Monday)."""


def _day_code(token: str) -> str:
    return _DAY_CODES[token.strip().lower()[:2]]


def _expand_days(text: str) -> list[tuple[str, list[int] | None]]:
    """Days in a day list, each with the OSM week-of-month list ("Th[3]") when given."""
    found: list[tuple[str, list[int] | None]] = []
    for item in re.finditer(_DAY_ITEM, text, re.IGNORECASE):
        token = item.group().lower()
        if token == "weekdays":
            found.extend((day, None) for day in DAYS[:5])
            continue
        if token.startswith("weekend"):
            found.extend((day, None) for day in DAYS[5:])
            continue
        if token == "daily" or token.startswith("every"):
            found.extend((day, None) for day in DAYS)
            continue
        names = re.findall(_DAY, token, re.IGNORECASE)
        bracket = re.search(_OSM_NTH, token)
        nths = [int(n) for n in re.findall(r"-?\d+", bracket.group())] if bracket else None
        if nths is not None and any(n not in _ORDINAL_TEXT for n in nths):
            msg = f"week of the month {nths} is not 1-4 or -1 (last)"
            raise _Unreadable(msg)
        first = DAYS.index(_day_code(names[0]))
        if len(names) == 1:
            found.append((DAYS[first], nths))
            continue
        last = DAYS.index(_day_code(names[1]))
        span = (last - first) % 7
        found.extend((DAYS[(first + step) % 7], nths) for step in range(span + 1))
    return found


def _time_value(part: re.Match[str], meridiem: str | None) -> int:
    """Minutes since midnight for one time, given the am/pm that applies to it."""
    word = (part.group("word") or "").lower()
    if word in {"noon", "midday"}:
        return 12 * 60
    if word == "midnight":
        return 24 * 60
    hour = int(part.group("hour"))
    minute = int(part.group("minute") or 0)
    if minute >= 60 or hour > 24 or (hour == 24 and minute):
        msg = f"{part.group().strip()!r} is not a time of day"
        raise _Unreadable(msg)
    if meridiem:
        if hour > 12 or hour == 0:
            msg = f"{part.group().strip()!r} mixes a 24-hour time with am/pm"
            raise _Unreadable(msg)
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    return hour * 60 + minute


def _is_24_hour(part: re.Match[str]) -> bool:
    hour = part.group("hour")
    return bool(hour) and (int(hour) >= 13 or (len(hour) == 2 and hour.startswith("0")))


def _resolve_range(text: str) -> tuple[int, int | None]:
    """Start and end minutes for "7-9pm", "10-12", "2-4", "09:00-17:00" or a lone "10am"."""
    parts = list(_TIME_PART.finditer(text))
    first = parts[0]
    ap1 = (first.group("meridiem") or "").lower() or None
    if len(parts) == 1:
        if ap1 is None and not _is_24_hour(first) and first.group("hour") and int(first.group("hour")) < 7:
            ap1 = "p"  # "at 2:30" on its own is an afternoon session
        return _time_value(first, ap1), None
    second = parts[1]
    ap2 = (second.group("meridiem") or "").lower() or None
    end_word = (second.group("word") or "").lower()
    if ap1 and (ap2 or end_word):
        start, end = _time_value(first, ap1), _time_value(second, ap2)
    elif ap2 or end_word:
        end = _time_value(second, ap2)
        as_pm = (
            _time_value(first, "p") if first.group("hour") and 1 <= int(first.group("hour")) <= 12 else None
        )
        start = as_pm if ap2 == "p" and as_pm is not None and as_pm < end else _time_value(first, None)
    elif ap1:
        start = _time_value(first, ap1)
        end = _time_value(second, None)
        if end <= start and end + 12 * 60 <= 24 * 60:
            end += 12 * 60
    elif _is_24_hour(first) or _is_24_hour(second):
        start, end = _time_value(first, None), _time_value(second, None)
    else:
        start, end = _time_value(first, None), _time_value(second, None)
        if first.group("hour") and int(first.group("hour")) < 7:
            # "2-4" at a community group is the afternoon, not the small hours.
            start += 12 * 60
            end += 12 * 60 if end < 12 * 60 else 0
        elif end <= start and end + 12 * 60 <= 24 * 60:
            end += 12 * 60  # "10-2", "11-1"
    if start >= 24 * 60 or end <= start:
        msg = f"{text.strip()!r} does not end after it starts"
        raise _Unreadable(msg)
    return start, end


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _next_on_or_after(day: str, start: date) -> date:
    return start + timedelta(days=(DAYS.index(day) - start.weekday()) % 7)


def _segment_sessions(match: re.Match[str], today: date) -> list[Session]:
    groups = match.groupdict()
    days = _expand_days(groups["days"])
    fortnightly = bool(groups.get("fortnightly") or groups.get("fortnightly_after"))
    ordinals = (
        [_ORDINALS[o.lower()] for o in re.findall(_ORDINAL, groups["ordinals"], re.IGNORECASE)]
        if groups.get("ordinals")
        else None
    )
    anchor_text = groups.get("anchor")
    try:
        anchor_from = date.fromisoformat(anchor_text) if anchor_text else today
    except ValueError as exc:
        msg = f"{anchor_text!r} is not a date"
        raise _Unreadable(msg) from exc
    times = []
    for piece in re.finditer(rf"{_TIME_RANGE}|{_TIME_ALONE}", groups["times"], re.IGNORECASE):
        times.append(_resolve_range(piece.group()))
    sessions: list[Session] = []
    for day, bracket in days:
        nths = bracket if bracket is not None else ordinals
        for start, end in times:
            end_text = _clock(end) if end is not None else ""
            if nths:
                sessions.extend(
                    Session(day=day, start=_clock(start), end=end_text, frequency="monthly", nth=n)
                    for n in nths
                )
            elif fortnightly:
                anchor = _next_on_or_after(day, anchor_from)
                sessions.append(
                    Session(
                        day=day, start=_clock(start), end=end_text, frequency="fortnightly", anchor=anchor
                    )
                )
            else:
                sessions.append(Session(day=day, start=_clock(start), end=end_text))
    return sessions


def _leftover(text: str) -> str:
    """The text of a gap between understood parts, or "" when it is only punctuation and filler."""
    return text.strip(" \t\r\n,;.&/-:+") if _FILLER.sub("", text).strip() else ""


def parse_schedule(text: str, *, today: date | None = None) -> ScheduleParse:
    """Read a schedule cell into sessions.

    Parameters
    ----------
    text
        The cell, e.g. "Mon & Wed 2pm-4pm" or "Tu 10:00-14:00; Th[3] 18:00-20:00".
    today
        Fortnightly sessions without a "from" date are anchored on the next such
        weekday on or after this date (default: today).

    Returns
    -------
    ScheduleParse
        Sessions in the order written (repeats removed), whether it runs by
        arrangement, and the text not understood (as notes and as ``unparsed``).
    """
    return _parse_schedule(str(text or ""), today or date.today())


@lru_cache(maxsize=4096)  # pure; spreadsheets repeat schedules ("Mo-Fr 09:00-17:00") across rows
def _parse_schedule(text: str, today: date) -> ScheduleParse:
    """The work of :func:`parse_schedule`, on a text and a date (both hashable)."""
    source = text.translate(_DASHES)
    if not source.strip():
        return ScheduleParse(sessions=(), by_arrangement=False, notes="", unparsed="")
    sessions: list[Session] = []
    by_arrangement = False
    # Understood spans, in text order: (start, end, sessions to add, days to close).
    spans: list[tuple[int, int, list[Session], list[str]]] = []
    taken = [False] * len(source)

    def claim(start: int, end: int) -> bool:
        if any(taken[start:end]):
            return False
        taken[start:end] = [True] * (end - start)
        return True

    deliberate: list[tuple[int, str]] = []
    for match in _NOTE.finditer(source):
        if claim(*match.span()) and match.group("note").strip():
            deliberate.append((match.start(), match.group("note").strip()))
    for match in _ARRANGEMENT.finditer(source):
        if claim(*match.span()):
            by_arrangement = True
    for match in _ALWAYS.finditer(source):
        if claim(*match.span()):
            spans.append(
                (match.start(), match.end(), [Session(day=d, start="00:00", end="24:00") for d in DAYS], [])
            )
    for pattern in (_DAYS_FIRST, _TIMES_FIRST):
        for match in pattern.finditer(source):
            if any(taken[match.start() : match.end()]):
                continue
            try:
                found = _segment_sessions(match, today)
            except _Unreadable:
                continue  # left in the gaps, so reported as not understood
            claim(*match.span())
            spans.append((match.start(), match.end(), found, []))
    for match in _DAYS_OFF.finditer(source):
        if claim(*match.span()):
            spans.append(
                (match.start(), match.end(), [], [day for day, _ in _expand_days(match.group("days"))])
            )
    spans.sort(key=lambda span: span[0])
    for _, _, found, closed in spans:
        if closed:
            sessions = [s for s in sessions if s.day not in closed]
        sessions.extend(s for s in found if s not in sessions)

    gaps: list[tuple[int, str]] = []
    position = 0
    while position < len(source):
        if taken[position]:
            position += 1
            continue
        end = position
        while end < len(source) and not taken[end]:
            end += 1
        for piece in re.split(r"[;\n]+", source[position:end]):
            kept = _leftover(piece)
            if kept:
                gaps.append((position, kept))
        position = end
    notes = "; ".join(text for _, text in sorted(deliberate + gaps))
    unparsed = "; ".join(text for _, text in gaps)
    return ScheduleParse(
        sessions=tuple(dict.fromkeys(sessions)), by_arrangement=by_arrangement, notes=notes, unparsed=unparsed
    )


def _format_session(session: Session) -> str:
    day = session.day.title()
    times = f"{session.start}-{session.end}" if session.end else session.start
    if session.frequency == "monthly":
        return f"{_ORDINAL_TEXT[session.nth or 1]} {day} {times}"
    if session.frequency == "fortnightly":
        anchor = f" from {session.anchor.isoformat()}" if session.anchor else ""
        return f"every other {day} {times}{anchor}"
    return f"{day} {times}"


def format_sessions(sessions: Iterable[Session]) -> str:
    """Sessions as text that :func:`parse_schedule` reads back identically.

    e.g. "Tu 10:00-12:00; 2nd Mo 10:00-12:00; every other Th 19:00-21:00 from 2025-10-02".
    """
    return "; ".join(_format_session(session) for session in sessions)


def format_schedule(sessions: Iterable[Session], by_arrangement: bool = False, notes: str = "") -> str:
    """A whole schedule cell: the sessions, "by arrangement" and each note as "note: ...".

    e.g. "Tu 10:00-12:00; by arrangement; note: term time only".
    """
    written = format_sessions(sessions)
    parts = [written] if written else []
    if by_arrangement:
        parts.append("by arrangement")
    parts.extend(f"note: {note.strip()}" for note in notes.split(";") if note.strip())
    return "; ".join(parts)
