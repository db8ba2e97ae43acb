"""The "community options" sheet a practitioner prints or leaves with the person.

One option per block, in large plain type: what it is, when it next meets, where (with the
distance and walking time), cost, access, how to get in touch, and a note when the details
have not been checked for over 12 months. Two renderings of the same content:

- :func:`options_sheet_html`: a standalone HTML page (no scripts, no external resources, a
  Content-Security-Policy that forbids both, print CSS); every user string goes through
  :func:`geo.escaping.escape_html`.
- :func:`options_sheet_pdf`: a PDF built with reportlab's platypus; its ``Paragraph`` parses
  markup, so every string is XML-escaped first.

Assets at a private address show "meets at a private address — contact the organiser" and only
their postcode sector, never the address.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import pandas as pd

from geo.dates import months_before
from geo.escaping import escape_html
from geo.nearby import describe_radius, flag, next_dates, public_postcode

PRIVATE_ADDRESS = "Meets at a private address — contact the organiser"
STALE_MONTHS = 12
DESCRIPTION_CHARS = 240
# DejaVu Sans covers Latin, Greek, Cyrillic and more, where the PDF base fonts cover Latin-1
# only; used when the system has it (Debian: fonts-dejavu-core), else Helvetica.
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class _Option:
    """One option's plain text, before escaping for HTML or PDF."""

    name: str
    what: str  # kind and categories
    description: str
    for_whom: str
    dates: tuple[str, ...]
    sessions: str
    where: tuple[str, ...]
    distance: str
    cost: str
    access: str
    contacts: tuple[tuple[str, str], ...]
    stale: str


def _text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _labels(values: object, mapping: Mapping[str, str] | None) -> str:
    if not isinstance(values, tuple | list):
        return ""
    mapping = mapping or {}
    return "; ".join(mapping.get(v, v) for v in values)


def _shorten(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "…"


def format_date(day: date) -> str:
    """``"Tuesday 1 December 2026"``."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def format_distance(metres: int, minutes: int) -> str:
    """``"650 m (0.4 miles) away, about 9 minutes' walk"``."""
    miles = metres / 1609.344
    distance = f"{metres:,} m" if metres < 1000 else f"{metres / 1000:.1f} km"
    walk = "1 minute's walk" if minutes == 1 else f"{minutes} minutes' walk"
    if minutes == 0:
        walk = "less than a minute's walk"
    return f"{distance} ({miles:.1f} miles) away, about {walk}"


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, pd.Timestamp) and not pd.isna(value):
        return value.date()
    return None


def _stale_note(row: Mapping[str, Any], today: date) -> str:
    verified = _as_date(row.get("last_verified"))
    stale = row.get("stale")
    if stale is None or stale is pd.NA or (isinstance(stale, float) and math.isnan(stale)):
        # No stale flag from the store: judge by the date (never verified counts as stale).
        stale = verified is None or verified < months_before(today, STALE_MONTHS)
    if not bool(stale):
        return ""
    if verified is None:
        return "These details have not been checked yet: please confirm with the organiser before going."
    return (
        f"These details were last checked on {format_date(verified)}, over {STALE_MONTHS} months ago: "
        "please confirm with the organiser before going."
    )


def _options(
    frame: pd.DataFrame,
    today: date,
    category_labels: Mapping[str, str] | None,
    kind_labels: Mapping[str, str] | None,
    access_labels: Mapping[str, str] | None,
    for_whom_labels: Mapping[str, str] | None,
) -> list[_Option]:
    options = []
    for row in frame.to_dict("records"):
        dates = row.get("next_dates")
        if not isinstance(dates, tuple | list):
            sessions = row.get("sessions")
            dates = next_dates(sessions if isinstance(sessions, tuple | list) else (), today)
        kind = _text(row.get("kind"))
        kind = (kind_labels or {}).get(kind, kind)
        categories = _labels(row.get("categories"), category_labels)
        if flag(row.get("private_address")):
            sector = public_postcode(row)
            where = (PRIVATE_ADDRESS, f"Area: {sector}" if sector else "")
        else:
            where = (_text(row.get("address")), _text(row.get("town")), _text(row.get("postcode")))
        contacts = tuple(
            (label, _text(row.get(column)))
            for label, column in (
                ("Phone", "public_phone"),
                ("Email", "public_email"),
                ("Website", "website"),
            )
            if _text(row.get(column))
        )
        distance = ""
        if _text(row.get("distance_m")) and _text(row.get("walk_minutes")):
            distance = format_distance(int(row["distance_m"]), int(row["walk_minutes"]))
        options.append(
            _Option(
                name=_text(row.get("name")),
                what=" — ".join(part for part in (kind, categories) if part),
                description=_shorten(_text(row.get("description"))),
                for_whom=_labels(row.get("for_whom"), for_whom_labels),
                dates=tuple(format_date(d) for d in dates),
                sessions=_text(row.get("sessions_text")),
                where=tuple(part for part in where if part),
                distance=distance,
                cost=_text(row.get("cost_text")) or _text(row.get("cost")).capitalize(),
                access=_labels(row.get("accessibility"), access_labels),
                contacts=contacts,
                stale=_stale_note(row, today),
            )
        )
    return options


def _intro(count: int, centre_label: str, radius_m: float, today: date) -> str:
    within = f"within {describe_radius(radius_m)} of {centre_label}"
    if count == 0:
        return (
            f"Nothing was found {within}. Try a wider radius, such as "
            f"{describe_radius(radius_m * 2)}, or fewer filters."
        )
    noun = "option" if count == 1 else "options"
    return f"{count} community {noun} {within}, as listed on {format_date(today)}."


# --------------------------------------------------------------------------- HTML

_CSS = """
  html { background: #fff; color: #000; }
  body { font-family: Arial, Helvetica, sans-serif; font-size: 20px; line-height: 1.5;
         max-width: 46em; margin: 1.5em auto; padding: 0 1em; }
  h1 { font-size: 1.8em; margin: 0 0 0.4em; }
  h2 { font-size: 1.35em; margin: 0 0 0.3em; }
  .intro { font-size: 1.1em; }
  ol.options { list-style: none; padding: 0; margin: 0; }
  li.option { border-top: 3px solid #000; padding: 0.8em 0; }
  dl { margin: 0; }
  dt { font-weight: bold; margin-top: 0.5em; }
  dd { margin: 0 0 0 1em; }
  ul.dates { margin: 0.2em 0; padding-left: 1.2em; }
  .stale { border: 2px solid #000; padding: 0.3em 0.5em; font-weight: bold; margin-top: 0.6em; }
  footer { border-top: 1px solid #000; margin-top: 1.5em; padding-top: 0.5em; font-size: 0.8em; }
  @media print {
    body { max-width: none; margin: 0; padding: 0; font-size: 16pt; }
    li.option { break-inside: avoid; page-break-inside: avoid; }
    @page { margin: 15mm; }
  }
"""


def _html_option(option: _Option) -> str:
    e = escape_html
    parts = [f'<li class="option">\n<h2>{e(option.name)}</h2>\n<dl>']
    what = [f"<dd>{e(option.what)}</dd>"] if option.what else []
    if option.description:
        what.append(f"<dd>{e(option.description)}</dd>")
    if option.for_whom:
        what.append(f"<dd>For: {e(option.for_whom)}</dd>")
    if what:
        parts.append("<dt>What</dt>\n" + "\n".join(what))
    when = []
    if option.dates:
        items = "".join(f"<li>{e(d)}</li>" for d in option.dates)
        when.append(f'<dd>Next: <ul class="dates">{items}</ul></dd>')
    if option.sessions:
        when.append(f"<dd>{e(option.sessions)}</dd>")
    parts.append("<dt>When</dt>\n" + ("\n".join(when) or "<dd>Ask the organiser</dd>"))
    where = [f"<dd>{e(line)}</dd>" for line in option.where]
    if option.distance:
        where.append(f"<dd>{e(option.distance)}</dd>")
    if where:
        parts.append("<dt>Where</dt>\n" + "\n".join(where))
    if option.cost:
        parts.append(f"<dt>Cost</dt>\n<dd>{e(option.cost)}</dd>")
    if option.access:
        parts.append(f"<dt>Access</dt>\n<dd>{e(option.access)}</dd>")
    contacts = "\n".join(f"<dd>{e(label)}: {e(value)}</dd>" for label, value in option.contacts)
    parts.append("<dt>Get in touch</dt>\n" + (contacts or "<dd>No public contact details listed</dd>"))
    parts.append("</dl>")
    if option.stale:
        parts.append(f'<p class="stale">{e(option.stale)}</p>')
    parts.append("</li>")
    return "\n".join(parts)


def options_sheet_html(
    result_frame: pd.DataFrame,
    *,
    title: str,
    centre_label: str,
    radius_m: float,
    today: date,
    attribution: str = "",
    category_labels: Mapping[str, str] | None = None,
    kind_labels: Mapping[str, str] | None = None,
    access_labels: Mapping[str, str] | None = None,
    for_whom_labels: Mapping[str, str] | None = None,
) -> str:
    """A standalone printable HTML page listing the options found.

    Parameters
    ----------
    result_frame
        From :func:`geo.nearby.search` (``NearbyResult.frame``): rows of the asset frame with
        distance_m, walk_minutes and next_dates.
    title
        The heading, e.g. "Community options".
    centre_label
        The partial label of the search centre ("B13 9"), never the person's full postcode.
    radius_m
        The search radius, described in words ("1 mile").
    today
        The date printed on the sheet (and used for next dates if the frame lacks them).
    attribution
        The data attribution line (Code-Point Open), printed at the foot.
    category_labels, kind_labels, access_labels, for_whom_labels
        Slug → label mappings (from the taxonomy); unknown slugs are shown as they are.

    Returns
    -------
    str
        A complete HTML document with no scripts and no external resources.
    """
    options = _options(result_frame, today, category_labels, kind_labels, access_labels, for_whom_labels)
    e = escape_html
    body = "\n".join(_html_option(option) for option in options)
    listing = f'<ol class="options">\n{body}\n</ol>' if options else ""
    footer = f"<footer>{e(attribution)}</footer>" if attribution else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{e(title)}</h1>
<p class="intro">{e(_intro(len(options), centre_label, radius_m, today))}</p>
{listing}
</main>
{footer}
</body>
</html>
"""


# --------------------------------------------------------------------------- PDF


def _fonts() -> tuple[str, str]:
    """Regular and bold font names for the PDF (DejaVu Sans when installed)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
    if not (regular.is_file() and bold.is_file()):
        return "Helvetica", "Helvetica-Bold"
    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
    return "DejaVuSans", "DejaVuSans-Bold"


def _pdf_story(options: Sequence[_Option], intro: str, title: str, attribution: str) -> list:
    from reportlab.lib.colors import black
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import HRFlowable, KeepTogether, Paragraph, Spacer

    regular, bold = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=15, leading=20, spaceAfter=2)
    label = ParagraphStyle("label", parent=body, fontName=bold, spaceBefore=5)
    heading = ParagraphStyle("heading", parent=body, fontName=bold, fontSize=20, leading=25, spaceAfter=4)
    big = ParagraphStyle("title", parent=body, fontName=bold, fontSize=26, leading=32, spaceAfter=8)
    small = ParagraphStyle("small", parent=body, fontSize=11, leading=14)
    stale = ParagraphStyle(
        "stale",
        parent=body,
        fontName=bold,
        borderColor=black,
        borderWidth=1.5,
        borderPadding=4,
        spaceBefore=8,
        spaceAfter=6,
    )

    def para(text: str, style: ParagraphStyle) -> Paragraph:
        # Paragraph parses its text as XML-like markup: user text must not become tags.
        return Paragraph(xml_escape(text), style)

    story: list = [para(title, big), para(intro, body), Spacer(1, 4 * mm)]
    for option in options:
        block: list = [
            HRFlowable(width="100%", thickness=2, color=black, spaceAfter=6),
            para(option.name, heading),
        ]

        def section(name: str, lines: Sequence[str], block: list = block) -> None:
            lines = [line for line in lines if line]
            if lines:
                block.append(para(name, label))
                block.extend(para(line, body) for line in lines)

        section(
            "What", [option.what, option.description, f"For: {option.for_whom}" if option.for_whom else ""]
        )
        dates = [f"Next: {'; '.join(option.dates)}"] if option.dates else []
        section("When", [*dates, option.sessions] if (dates or option.sessions) else ["Ask the organiser"])
        section("Where", [*option.where, option.distance])
        section("Cost", [option.cost])
        section("Access", [option.access])
        contacts = [f"{name}: {value}" for name, value in option.contacts]
        section("Get in touch", contacts or ["No public contact details listed"])
        if option.stale:
            block.append(para(option.stale, stale))
        block.append(Spacer(1, 3 * mm))
        story.append(KeepTogether(block))
    if attribution:
        story.extend([Spacer(1, 6 * mm), para(attribution, small)])
    return story


def options_sheet_pdf(
    result_frame: pd.DataFrame,
    *,
    title: str,
    centre_label: str,
    radius_m: float,
    today: date,
    attribution: str = "",
    category_labels: Mapping[str, str] | None = None,
    kind_labels: Mapping[str, str] | None = None,
    access_labels: Mapping[str, str] | None = None,
    for_whom_labels: Mapping[str, str] | None = None,
) -> bytes:
    """The same sheet as :func:`options_sheet_html`, as an A4 PDF in 15 pt type.

    Returns
    -------
    bytes
        A PDF document (starts with ``%PDF``).
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    options = _options(result_frame, today, category_labels, kind_labels, access_labels, for_whom_labels)
    intro = _intro(len(options), centre_label, radius_m, today)
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        author="",
        subject=intro,
        creator="community asset mapping",
    )
    document.build(_pdf_story(options, intro, title, attribution))
    return out.getvalue()
