"""Tests for geo.options_sheet: the printable community options sheet (HTML and PDF)."""

from __future__ import annotations

import base64
import re
import zlib
from datetime import date
from html.parser import HTMLParser

import pandas as pd
import pytest

from assets.model import Session
from geo import options_sheet
from geo.nearby import NearbyIndex, NearbyQuery, search
from geo.options_sheet import options_sheet_html, options_sheet_pdf

TODAY = date(2026, 12, 1)
X0, Y0 = 410_000.0, 285_000.0
PAYLOADS = {
    "<script>alert(1)</script>": "&lt;script&gt;alert(1)&lt;/script&gt;",
    "\"'><svg onload=alert(3)>": "&quot;&#39;&gt;&lt;svg onload=alert(3)&gt;",
    "{{ 7*7 }} ${alert(2)} `x`": "&#123;&#123; 7*7 &#125;&#125; &#36;&#123;alert(2)&#125; &#96;x&#96;",
}
ATTRIBUTION = "Contains OS data © Crown copyright and database right 2025"
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "p", "ol", "ul", "li",
    "dl", "dt", "dd", "footer",
}  # fmt: skip


def asset(name: str, dx: float, **fields) -> dict:
    row = {
        "asset_id": f"id-{name}",
        "name": name,
        "kind": "group",
        "categories": ("social_friendship", "music"),
        "description": "A friendly weekly get-together with tea.",
        "address": "St Mary's Hall, 1 High Street",
        "town": "Birmingham",
        "postcode": "B13 8AA",
        "lat": 52.44,
        "lon": -1.88,
        "easting": X0 + dx,
        "northing": Y0,
        "private_address": False,
        "sessions": (Session("TU", "10:00", "12:00"),),
        "sessions_text": "Tuesdays 10:00–12:00",
        "by_arrangement": False,
        "cost": "free",
        "cost_text": "Free",
        "accessibility": ("step_free",),
        "for_whom": ("older_people",),
        "public_phone": "0121 000 0000",
        "public_email": "hello@example.org",
        "website": "https://example.org/tea",
        "last_verified": date(2026, 9, 1),
        "stale": False,
    }
    row.update(fields)
    return row


def found(*rows: dict) -> pd.DataFrame:
    return search(NearbyIndex.build(pd.DataFrame(list(rows))), X0, Y0, NearbyQuery(), today=TODAY)


LABELS = {
    "category_labels": {"social_friendship": "Social and friendship groups", "music": "Music"},
    "kind_labels": {"group": "Group"},
    "access_labels": {"step_free": "Step-free access"},
    "for_whom_labels": {"older_people": "Older people (65+)"},
}


def html_of(frame: pd.DataFrame, **kwargs) -> str:
    args = {"title": "Community options", "centre_label": "B13 9", "radius_m": 1609, "today": TODAY}
    return options_sheet_html(frame, **(args | {"attribution": ATTRIBUTION} | LABELS | kwargs))


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def tags_of(html: str) -> list[tuple[str, list]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_sheet_lists_what_when_where_cost_access_contact():
    html = html_of(found(asset("Moseley Tea Club", 650)))
    for text in (
        "<h1>Community options</h1>",
        "1 community option within 1 mile of B13 9, as listed on Tuesday 1 December 2026.",
        "<h2>Moseley Tea Club</h2>",
        "Group — Social and friendship groups; Music",
        "A friendly weekly get-together with tea.",
        "For: Older people (65+)",
        "<li>Tuesday 1 December 2026</li><li>Tuesday 8 December 2026</li><li>Tuesday 15 December 2026</li>",
        "Tuesdays 10:00–12:00",
        "St Mary&#39;s Hall, 1 High Street",
        "B13 8AA",
        "650 m (0.4 miles) away, about 11 minutes&#39; walk",
        "<dt>Cost</dt>\n<dd>Free</dd>",
        "Step-free access",
        "Phone: 0121 000 0000",
        "Email: hello@example.org",
        "Website: https://example.org/tea",
        f"<footer>{ATTRIBUTION}</footer>",
    ):
        assert text in html, text
    assert "These details" not in html


def test_sheet_is_standalone_large_and_printable():
    html = html_of(found(asset("a", 10)))
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    size = int(re.search(r"body \{[^}]*font-size: (\d+)px", html).group(1))
    assert size >= 18
    assert "@media print" in html and "color: #000" in html and "background: #fff" in html
    assert "default-src 'none'" in html
    assert {tag for tag, _ in tags_of(html)} <= ALLOWED_TAGS
    assert not re.search(r"\b(src|href)\s*=", html) and "url(" not in html and "@import" not in html
    # The only http text is the website shown as plain text.
    assert html.count("http") - html.count("http-equiv") == html.count("https://example.org/tea")


@pytest.mark.parametrize(("payload", "escaped"), PAYLOADS.items())
def test_every_user_string_is_escaped(payload, escaped):
    row = asset(
        payload,
        10,
        description=payload,
        address=payload,
        town=payload,
        postcode=payload,
        sessions_text=payload,
        cost_text=payload,
        public_phone=payload,
        public_email=payload,
        website=payload,
        categories=(payload,),
        accessibility=(payload,),
        for_whom=(payload,),
        kind=payload,
        stale=True,
    )
    html = html_of(found(row), title=payload, centre_label=payload, attribution=payload)
    assert {tag for tag, _ in tags_of(html)} <= ALLOWED_TAGS
    assert all(name not in {"onload", "onerror"} for _, attrs in tags_of(html) for name, _ in attrs)
    for raw in ("<script", "<svg", "{{", "${", "`"):
        assert raw not in html
    # Title, heading, intro, name, description, address... each shown escaped, never raw.
    assert html.count(escaped) >= 12


def test_private_address_hides_the_address():
    html = html_of(
        found(asset("Home group", 10, private_address=True, postcode="B13 9AA", address="12 Acacia Avenue"))
    )
    assert "Meets at a private address — contact the organiser" in html
    assert "Area: B13 9<" in html
    assert "Acacia" not in html and "B13 9AA" not in html


def test_stale_notes():
    frame = found(
        asset("checked long ago", 10, stale=True, last_verified=date(2025, 6, 30)),
        asset("never checked", 20, stale=True, last_verified=None),
        asset("fresh", 30),
    )
    html = html_of(frame)
    assert "last checked on Monday 30 June 2025, over 12 months ago" in html
    assert "have not been checked yet" in html
    assert html.count('class="stale"') == 2


def test_stale_judged_by_date_without_a_stale_column():
    frame = found(
        asset("old", 10, last_verified=date(2025, 11, 30)),
        asset("recent", 20, last_verified=date(2025, 12, 1)),
    )
    html = html_of(frame.drop(columns=["stale"]))
    assert html.count('class="stale"') == 1 and "Sunday 30 November 2025" in html


def test_empty_sheet_suggests_a_wider_radius():
    empty = found(asset("far away", 5000))
    assert empty.empty
    html = html_of(empty)
    assert "Nothing was found within 1 mile of B13 9. Try a wider radius, such as 2 miles" in html
    assert "<ol" not in html
    pdf = options_sheet_pdf(empty, title="Community options", centre_label="B13 9", radius_m=800, today=TODAY)
    assert pdf.startswith(b"%PDF")


def test_frame_without_next_dates_gets_them_from_sessions():
    frame = found(asset("a", 10)).drop(columns=["next_dates"])
    assert "<li>Tuesday 1 December 2026</li>" in html_of(frame)


def _pdf_text(pdf: bytes) -> str:
    """The decoded content of every stream (reportlab writes ASCII85 over Flate)."""
    chunks = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, flags=re.S):
        data = stream.strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data[:-2])
        try:
            chunks.append(zlib.decompress(data).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(chunks)


def test_pdf_is_a_pdf_with_the_names(monkeypatch):
    # Base-14 Helvetica writes text as literal strings, which the test can read back;
    # DejaVu (the default where installed) writes subset glyph codes.
    monkeypatch.setattr(options_sheet, "_fonts", lambda: ("Helvetica", "Helvetica-Bold"))
    frame = found(asset("Moseley Tea Club", 100), asset("Kings Heath Walkers", 200))
    pdf = options_sheet_pdf(
        frame, title="Community options", centre_label="B13 9", radius_m=1609, today=TODAY, **LABELS
    )
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    text = _pdf_text(pdf)
    for name in ("Moseley Tea Club", "Kings Heath Walkers", "Tuesday 1 December 2026", "B13 9"):
        assert f"({name}" in text or name in text, name


def test_pdf_with_markup_payloads_and_other_scripts():
    rows = [
        asset(payload, 10 * i, description=payload, address=payload) for i, payload in enumerate(PAYLOADS)
    ]
    rows.append(asset("Grupa spacerowa — Łódź, 漢字, اردو", 50, private_address=True))
    pdf = options_sheet_pdf(
        found(*rows),
        title="<b>Options</b>",
        centre_label="B13 9",
        radius_m=1609,
        today=TODAY,
        attribution=ATTRIBUTION,
    )
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
