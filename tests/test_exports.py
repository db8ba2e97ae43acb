"""Exports: formula injection is inert in CSV and XLSX, private records stay private, and
an export re-imports to the same fields."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import openpyxl
import pytest

from assets.exports import (
    EXPORT_COLUMNS,
    export_rows,
    is_stale,
    neutralise_cell,
    restore_cell,
    write_csv,
    write_geojson,
    write_xlsx,
)
from assets.model import Asset, Session
from assets.tabular import map_headers, read_table
from assets.validation import validate_row

TODAY = date(2025, 10, 6)
TRIGGERS = [
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd",
    "\tx",
    "\rx",
    "\nx",
]


def make_asset(**changes) -> Asset:
    base = Asset(
        name="Knit and Natter",
        kind="group",
        categories=("arts_crafts", "social_friendship"),
        description="Bring your own wool.",
        run_by="St Mary's",
        address="1 Church Road",
        town="Birmingham",
        postcode="B1 1AY",
        lat=52.4796123456,
        lon=-1.9026123456,
        ward_code="E05011151",
        ward_name="Ladywood",
        constituency_code="E14001096",
        constituency_name="Birmingham Ladywood",
        district_code="E08000025",
        district_name="Birmingham",
        public_phone="07700 900123",
        public_email="hello@example.org.uk",
        website="https://example.org.uk",
        organiser_name="Sue Smith",
        organiser_phone="07700 900456",
        organiser_email="sue@example.org.uk",
        sessions=(
            Session("TU", "10:00", "12:00"),
            Session("TH", "19:00", "21:00", "fortnightly", anchor=date(2025, 10, 9)),
            Session("FR", "14:00", "16:00", "monthly", nth=-1),
        ),
        by_arrangement=True,
        schedule_notes="term time only",
        cost="paid",
        cost_note="£2 a session",
        accessibility=("step_free", "hearing_loop"),
        for_whom=("older_people",),
        communities="Polish",
        status="published",
        last_verified=date(2025, 9, 1),
    )
    return base.with_changes(**changes)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+44 7700 900123", "'+44 7700 900123"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\nx", "'\nx"),
        ("Knit & Natter", "Knit & Natter"),
        ("", ""),
        (" =1", " =1"),
        (-2.5, -2.5),
        (-3, -3),
        (None, None),
        (date(2025, 1, 1), date(2025, 1, 1)),
    ],
)
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected
    if isinstance(value, str):
        assert restore_cell(neutralise_cell(value)) == value


def test_export_columns_and_values():
    (row,) = export_rows([make_asset()], today=TODAY)
    assert list(row) == list(EXPORT_COLUMNS)
    assert row["kind"] == "Group"
    assert row["categories"] == "Arts and crafts; Social and friendship groups"
    assert row["sessions"] == (
        "Tu 10:00-12:00; every other Th 19:00-21:00 from 2025-10-09; last Fr 14:00-16:00; by arrangement; note: term time only"
    )
    assert row["cost"] == "Paid" and row["cost_note"] == "£2 a session"
    assert row["accessibility"] == "Step-free access; Hearing loop"
    assert row["lat"] == 52.479612 and row["lon"] == -1.902612
    assert row["stale"] == "false" and row["last_verified"] == "2025-09-01"
    assert "organiser_name" not in row and "organiser_email" not in row


def test_internal_columns_only_on_request():
    (row,) = export_rows([make_asset()], include_internal=True, today=TODAY)
    assert (row["organiser_name"], row["organiser_phone"], row["organiser_email"]) == (
        "Sue Smith",
        "07700 900456",
        "sue@example.org.uk",
    )


def test_private_address_exports_sector_only():
    private = make_asset(private_address=True, location_precision="sector", lat=52.48, lon=-1.90)
    (row,) = export_rows([private], today=TODAY)
    assert row["address"] == "" and row["postcode"] == "B1 1" and row["private_address"] == "yes"
    assert (row["lat"], row["lon"]) == (52.48, -1.9)
    # a private record whose position is still the exact one exports no position at all
    (row,) = export_rows([make_asset(private_address=True)], today=TODAY)
    assert row["lat"] is None and row["lon"] is None and row["postcode"] == "B1 1"
    (row,) = export_rows([make_asset(private_address=True, postcode="b11ay")], today=TODAY)
    assert row["postcode"] == "B1 1"


@pytest.mark.parametrize(
    ("verified", "months", "stale"),
    [
        (date(2025, 9, 1), 12, False),
        (date(2024, 10, 6), 12, False),
        (date(2024, 10, 5), 12, True),
        (date(2025, 4, 5), 6, True),
        (None, 12, True),
    ],
)
def test_stale(verified, months, stale):
    assert is_stale(verified, stale_months=months, today=TODAY) is stale
    (row,) = export_rows([make_asset(last_verified=verified)], stale_months=months, today=TODAY)
    assert row["stale"] == ("true" if stale else "false")


def test_csv_formula_names_are_inert():
    assets = [make_asset(name=name, description=name) for name in TRIGGERS]
    buffer = io.StringIO()
    write_csv(export_rows(assets, today=TODAY), buffer)
    records = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [r["name"] for r in records] == ["'" + name for name in TRIGGERS]
    assert all(r["description"].startswith("'") for r in records)
    # lon is a real number (-1.9...), which is safe; every text cell is guarded
    texts = [value for r in records for name, value in r.items() if name not in {"lat", "lon"}]
    assert all(not value.startswith(("=", "+", "-", "@", "\t", "\r", "\n")) for value in texts)


def test_xlsx_formula_names_are_inert(tmp_path):
    assets = [make_asset(name=name, run_by=name) for name in TRIGGERS]
    path = tmp_path / "assets.xlsx"
    write_xlsx(export_rows(assets, today=TODAY), path, about={"Source": "=cmd", "Exported": "2025-10-06"})
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["Assets", "About"]
    sheet = workbook["Assets"]
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    header = [cell.value for cell in sheet[1]]
    names = [sheet.cell(row=r, column=header.index("name") + 1).value for r in range(2, sheet.max_row + 1)]
    # XML turns a carriage return into a line feed; the guard apostrophe is there either way
    assert names == ["'" + name.replace("\r", "\n") for name in TRIGGERS]
    assert all(isinstance(cell.value, str) and cell.value.startswith("'") for cell in sheet["B"][1:])
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b
    assert workbook["About"]["B1"].value == "'=cmd" and workbook["About"]["B1"].data_type == "s"
    lat = sheet.cell(row=2, column=header.index("lat") + 1)
    assert lat.data_type == "n" and lat.value == pytest.approx(52.479612)


def test_xlsx_drops_illegal_control_characters(tmp_path):
    path = tmp_path / "a.xlsx"
    write_xlsx(export_rows([make_asset(name="Bell\x07 ringers")], today=TODAY), path)
    assert openpyxl.load_workbook(path)["Assets"]["B2"].value == "Bell ringers"


def test_xlsx_and_csv_to_buffers():
    rows = export_rows([make_asset()], today=TODAY)
    binary = io.BytesIO()
    write_xlsx(rows, binary)
    assert binary.getvalue()[:2] == b"PK"
    raw = io.BytesIO()
    write_csv(rows, raw)
    assert raw.getvalue().startswith(b"\xef\xbb\xbfasset_id,name")
    empty = io.StringIO()
    write_csv([], empty)
    assert empty.getvalue().startswith("asset_id,name,kind")


def test_geojson(tmp_path):
    private_unknown = make_asset(name="=Home group", private_address=True)
    path = tmp_path / "assets.geojson"
    write_geojson(export_rows([make_asset(), private_unknown], today=TODAY), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 1
    feature = data["features"][0]
    assert feature["geometry"] == {"type": "Point", "coordinates": [-1.902612, 52.479612]}
    assert feature["properties"]["name"] == "Knit and Natter" and "lat" not in feature["properties"]


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_export_reimports_to_the_same_fields(tmp_path, suffix):
    originals = [
        make_asset(),
        make_asset(
            name='=HYPERLINK("x")',
            kind="venue",
            categories=("warm_spaces",),
            sessions=(),
            by_arrangement=False,
            schedule_notes="",
            cost="free",
            cost_note="",
            accessibility=(),
            for_whom=(),
            communities="",
        ),
        make_asset(
            name="NA", kind="activity", public_phone="-", cost="low", cost_note="donation", status="draft"
        ),
    ]
    path = tmp_path / f"export.{suffix}"
    rows = export_rows(originals, include_internal=True, today=TODAY)
    (write_csv if suffix == "csv" else write_xlsx)(rows, path)
    table = read_table(path.read_bytes(), path.name)
    mapping = map_headers(table.headers)
    assert not mapping.unmapped and not mapping.conflicts
    compared = (
        "name",
        "kind",
        "categories",
        "description",
        "run_by",
        "address",
        "town",
        "postcode",
        "public_phone",
        "public_email",
        "website",
        "organiser_name",
        "organiser_phone",
        "organiser_email",
        "sessions",
        "by_arrangement",
        "schedule_notes",
        "cost",
        "cost_note",
        "accessibility",
        "for_whom",
        "communities",
        "status",
        "last_verified",
        "private_address",
    )
    for original, row_cells, number in zip(originals, table.rows, table.row_numbers, strict=True):
        result = validate_row(mapping.cells(table.headers, row_cells), number, today=TODAY)
        assert [p for p in result.problems if p.field != "public_phone"] == []
        back = result.asset
        assert {name: getattr(back, name) for name in compared} == {
            name: getattr(original, name) for name in compared
        }
        assert back.external_id == original.id
        assert float(result.location["latitude"]) == pytest.approx(original.lat, abs=1e-6)
        assert float(result.location["longitude"]) == pytest.approx(original.lon, abs=1e-6)
