"""The importer end to end, through its real interface: ``python -m assets import``."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest

from assets.__main__ import main
from assets.model import SYSTEM_ACTOR
from assets.store import open_store
from settings import get_settings

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample_assets.csv"
HEADER = "Name,Type,Category,Postcode,When\n"


def run_cli(*args: str, capsys) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out.strip(), out.err.strip()


@pytest.fixture()
def store(tmp_env):
    """A fresh register for one test."""
    return open_store(get_settings().database_url)


def test_sample_import_summary_report_and_reimport(store, tmp_path, capsys):
    report = tmp_path / "report.csv"
    code, out, _ = run_cli("import", str(SAMPLE), "--dry-run", capsys=capsys)
    assert code == 0 and out == "dry run: imported 7, updated 0, unchanged 0, rejected 4, duplicates 1"
    assert store.list_assets(SYSTEM_ACTOR) == []

    code, out, _ = run_cli("import", str(SAMPLE), "--report", str(report), capsys=capsys)
    assert code == 0 and out == "imported 7, updated 0, unchanged 0, rejected 4, duplicates 1"
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    assert {"row", "status", "reasons", "asset_id"} <= set(rows[0])
    rejected = {int(r["row"]): r["reasons"] for r in rows if r["status"] == "rejected"}
    assert set(rejected) == {8, 9, 10, 11}
    assert "swapped" in rejected[11] and "B99 9ZZ" in rejected[10] and "Singing" in rejected[9]
    assert "Name" in rejected[8]

    code, out, _ = run_cli("import", str(SAMPLE), capsys=capsys)
    assert out == "imported 0, updated 0, unchanged 7, rejected 4, duplicates 1"
    assert len(store.list_assets(SYSTEM_ACTOR)) == 7


def test_updated_file_updates_instead_of_duplicating(store, tmp_path, capsys):
    first = tmp_path / "groups.csv"
    first.write_text(HEADER + "Hall Green Bowls,Group,Physical activity,B28 0TU,Tuesdays 10-12\n", encoding="utf-8")
    run_cli("import", str(first), capsys=capsys)
    first.write_text(HEADER + "Hall Green Bowls,Group,Physical activity,B28 0TU,Wednesdays 10-12\n", encoding="utf-8")
    code, out, _ = run_cli("import", str(first), capsys=capsys)
    assert out == "imported 0, updated 1, unchanged 0, rejected 0, duplicates 0"
    [asset] = store.list_assets(SYSTEM_ACTOR)
    assert [s.day for s in asset.sessions] == ["WE"]
    history = store.history(SYSTEM_ACTOR, asset.id)
    assert any(h["field"] == "sessions" and h["action"] == "update" for h in history)


def test_text_survives_exactly(store, tmp_path, capsys):
    path = tmp_path / "cp1252.csv"
    text = HEADER.replace("When", "Phone") + "Café – St Mary’s,Group,Faith,B13 9AA,07700 900123\nNA,Group,Music,B13 9AA,\n"
    path.write_bytes(text.encode("cp1252"))
    code, out, _ = run_cli("import", str(path), capsys=capsys)
    assert out.startswith("imported 2")
    names = {a.name: a for a in store.list_assets(SYSTEM_ACTOR)}
    assert set(names) == {"Café – St Mary’s", "NA"}
    assert names["Café – St Mary’s"].public_phone == "07700 900123"


def _xlsx(rows, *, merge=None, formula_at=None) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    if merge:
        ws.merge_cells(merge)
    if formula_at:
        ws[formula_at] = "=1+1"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<a>" + "0" * (150 * 1024 * 1024) + "</a>")
    return buffer.getvalue()


BROKEN = [
    ("empty.csv", b"", "empty"),
    ("headers_only.csv", HEADER.encode(), "no data rows"),
    ("duplicate_headers.csv", b"Name,Name,Type\nA,B,Group\n", "Name"),
    ("binary.csv", b"\x00\x01\x02PK\x03\x04" * 200, "not a CSV"),
    ("unclosed_quote.csv", (HEADER + 'A,Group,Music,"B13 9AA,x\nB,Group,Music,B13 9AA,x\n').encode(), "line"),
    ("sixty_thousand.csv", (HEADER + "A,Group,Music,B13 9AA,\n" * 60_000).encode(), "60,000"),
    ("bomb.xlsx", _zip_bomb(), "uncompressed"),
    ("not_really.xlsx", b"this is not a spreadsheet", "xlsx"),
]
ROW_FAILURES = [
    ("no_name.csv", HEADER + ",Group,Music,B13 9AA,\n", "Name"),
    ("bad_kind.csv", HEADER + "A,Club,Music,B13 9AA,\n", "kind"),
    ("bad_category.csv", HEADER + "A,Group,Bingo,B13 9AA,\n", "Bingo"),
    ("invalid_postcode.csv", HEADER + "A,Group,Music,BO1 1AY,\n", "BO1 1AY"),
    ("unknown_postcode.csv", HEADER + "A,Group,Music,B99 9ZZ,\n", "B99 9ZZ"),
    ("no_location.csv", HEADER + "A,Group,Music,,\n", "no postcode or coordinates"),
    ("swapped.csv", "Name,Type,Category,Latitude,Longitude\nA,Group,Music,-1.89,52.48\n", "swapped"),
    ("sea.csv", "Name,Type,Category,Latitude,Longitude\nA,Group,Music,54.0,2.5\n", "km"),
    ("france.csv", "Name,Type,Category,Latitude,Longitude\nA,Group,Music,48.85,2.35\n", "km"),
    ("ragged.csv", HEADER + "A,Group,Music,B13 9AA,Mondays 10-12,extra,cells\n", "row 2"),
    ("thousands_in_coordinates.csv", "Name,Type,Category,Latitude,Longitude\nA,Group,Music,\"52,480\",-1.9\n", "Latitude"),
]


@pytest.mark.parametrize(("name", "data", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_refused_files_get_a_message_and_change_nothing(store, tmp_path, capsys, name, data, expected):
    path = tmp_path / name
    path.write_bytes(data)
    before = store.data_version()
    code, out, err = run_cli("import", str(path), capsys=capsys)
    assert code == 2 and out == ""
    assert expected.lower() in err.lower(), err
    assert store.data_version() == before


@pytest.mark.parametrize(("name", "text", "expected"), ROW_FAILURES, ids=[r[0] for r in ROW_FAILURES])
def test_rejected_rows_are_reported_and_nothing_is_saved(store, tmp_path, capsys, name, text, expected):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    report = tmp_path / "report.csv"
    before = store.data_version()
    code, out, _ = run_cli("import", str(path), "--report", str(report), capsys=capsys)
    assert code == 0 and out == "imported 0, updated 0, unchanged 0, rejected 1, duplicates 0"
    reasons = report.read_text(encoding="utf-8-sig")
    assert expected.lower() in reasons.lower(), reasons
    assert store.data_version() == before


def test_xlsx_formula_and_merged_cells(store, tmp_path, capsys):
    rows = [["Name", "Type", "Category", "Postcode"], ["A", "Group", "Music", "B13 9AA"], ["B", "Group", "Music", "B13 9AA"]]
    formula = tmp_path / "formula.xlsx"
    formula.write_bytes(_xlsx(rows, formula_at="A3"))
    code, out, _ = run_cli("import", str(formula), "--report", str(tmp_path / "r.csv"), capsys=capsys)
    assert code == 0 and "rejected 1" in out
    assert "formula" in (tmp_path / "r.csv").read_text(encoding="utf-8-sig").lower()
    merged = tmp_path / "merged.xlsx"
    merged.write_bytes(_xlsx(rows, merge="A2:A3"))
    code, _, err = run_cli("import", str(merged), capsys=capsys)
    assert code == 2 and "merged" in err.lower()
    assert [a.name for a in store.list_assets(SYSTEM_ACTOR)] == ["A"]


# --------------------------------------------------------------------------- real data


def _warm_spaces_sheet(shared_data: Path, path: Path) -> dict[str, int]:
    """The 496 warm-space venues as a coordinator's spreadsheet: title, address, hours, coordinates."""
    features = json.loads((shared_data / "assets" / "warm_spaces_birmingham_york_camden.geojson").read_text())["features"]
    opening_rows: set[int] = set()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Title", "Type", "Category", "Address", "Opening hours", "Latitude", "Longitude"])
        for row_number, feature in enumerate(features, start=2):
            props = feature["properties"]
            hours = props.get("hours") or {}
            opening = hours.get("opening") or ""
            if opening:
                opening_rows.add(row_number)
            lon, lat = feature["geometry"]["coordinates"][:2]
            writer.writerow([props["title"], "Venue", "Warm spaces", props.get("address") or "",
                             opening or hours.get("_text") or "", lat, lon])
    return {"features": len(features), "opening_rows": opening_rows}


@pytest.mark.slow
@pytest.mark.parametrize("area", ["E08000025", "E06000014", "E09000007"])
def test_warm_spaces_import_in_each_district(shared_data, tmp_env, tmp_path, capsys, monkeypatch, area):
    monkeypatch.setenv("CAM_AREA", area)
    sheet = tmp_path / "warm_spaces.csv"
    facts = _warm_spaces_sheet(shared_data, sheet)
    report = tmp_path / "report.csv"
    code, out, _ = run_cli("import", str(sheet), "--report", str(report), capsys=capsys)
    assert code == 0, out
    counts = dict(part.rsplit(" ", 1) for part in out.split(", "))
    imported, duplicates = int(counts["imported"]), int(counts["duplicates"])
    assert duplicates > 0 and imported + duplicates + int(counts["rejected"]) == facts["features"]
    store = open_store(get_settings().database_url)
    assets = store.list_assets(SYSTEM_ACTOR)
    in_area = [a for a in assets if a.ward_code]
    expected_min = {"E08000025": 300, "E06000014": 10, "E09000007": 40}[area]
    assert len(in_area) >= expected_min, len(in_area)
    assert all(a.district_code == area for a in in_area)
    # OSM opening hours parse into sessions for at least 95% of the venues that have them.
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    by_id = {a.id: a for a in assets}
    opening_ids = [r["asset_id"] for r in rows if int(r["row"]) in facts["opening_rows"] and r["asset_id"]]
    with_sessions = sum(1 for asset_id in opening_ids if by_id[asset_id].sessions)
    summary = f"{area}: imported {imported}, held back {duplicates}, OSM hours parsed {with_sessions}/{len(opening_ids)}"
    assert with_sessions >= 0.95 * len(opening_ids)
    assert len(rows) == facts["features"]
    # A second import of the same file changes nothing.
    before = store.data_version()
    code, out, _ = run_cli("import", str(sheet), capsys=capsys)
    assert out == f"imported 0, updated 0, unchanged {imported}, rejected 0, duplicates {duplicates}"
    assert store.data_version() == before
    print(summary)
