"""Coverage exports: CSV, XLSX (About sheet, frozen panes, no formulas), GeoJSON, GeoPackage."""

from __future__ import annotations

import csv
import io
import json

import geopandas as gpd
import pytest
from openpyxl import load_workbook
from test_coverage import C1, W1, W2, W3, run, square_constituencies, square_wards

from geo.coverage_export import COLUMN_DOCS, about_rows, column_docs, ward_columns, write_coverage
from geo.errors import CoverageError

EVIL = '=HYPERLINK("http://x")'
ATTRIBUTION = "Contains OS data © Crown copyright"


@pytest.fixture()
def result():
    """The square-ward fixture with a formula-like ward name and constituency name."""
    return run(wards=square_wards(beta_name=EVIL), constituencies=square_constituencies(first_name="+SUM(1)"))


@pytest.fixture()
def wards():
    """The ward geometries that go with ``result``."""
    return square_wards(beta_name=EVIL)


def test_column_order_and_docs(result):
    columns = ward_columns(result)
    assert columns[:8] == [
        "ward_code",
        "ward_name",
        "constituency_code",
        "constituency_name",
        "assets_total",
        "assets_social",
        "assets_music",
        "assets_faith",
    ]
    docs = column_docs(result.categories)
    # Every exported column is documented, category columns by label.
    assert set(columns) <= set(docs)
    assert "'Music'" in docs["walk_coverage_music"]
    assert "<slug>" not in "".join(docs)
    assert set(COLUMN_DOCS) >= {"gap_score", "gap_rank", "per_1000_note"}


def test_csv_round_trip_with_bom_and_inert_names(result, tmp_path):
    path = tmp_path / "coverage.csv"
    write_coverage(result, path, "csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["ward_code"] for r in rows] == [W1, W2, W3]
    assert [r["assets_total"] for r in rows] == ["3", "3", "2"]
    assert rows[1]["ward_name"] == "'" + EVIL  # inert: a spreadsheet shows it as text
    assert rows[0]["constituency_name"] == "'+SUM(1)"
    assert rows[0]["constituency_code"] == C1
    assert float(rows[1]["walk_coverage"]) == pytest.approx(2 / 3, abs=1e-4)
    assert rows[0]["per_1000_note"] == ""
    assert float(rows[2]["assets_per_1000"]) == 0.5
    assert rows[2]["categories_missing"] == "Music"


def test_csv_to_a_buffer(result):
    buffer = io.BytesIO()
    write_coverage(result, buffer, "csv")
    assert buffer.getvalue().decode("utf-8-sig").splitlines()[0].startswith("ward_code,ward_name")


def test_xlsx_sheets_frozen_panes_about_and_no_formulas(result, tmp_path):
    path = tmp_path / "coverage.xlsx"
    write_coverage(result, path, "xlsx", about={"Attribution": ATTRIBUTION, "Note": "-starts with a minus"})
    book = load_workbook(path)
    assert book.sheetnames == ["Wards", "Constituencies", "Area", "About"]
    wards = book["Wards"]
    assert wards.freeze_panes == "C2"
    assert wards["A1"].font.bold
    header = [c.value for c in wards[1]]
    assert header == ward_columns(result)
    names = [wards.cell(row=i, column=2).value for i in (2, 3, 4)]
    assert names == ["Alpha", "'" + EVIL, "Gamma"]
    assert wards.cell(row=3, column=2).data_type == "s"
    total = header.index("assets_total") + 1
    assert [wards.cell(row=i, column=total).value for i in (2, 3, 4)] == [3, 3, 2]
    share = header.index("walk_coverage") + 1
    assert wards.cell(row=3, column=share).number_format == "0.0%"
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(("=", "+", "-", "@")), f"{sheet.title}!{cell.coordinate}"
    about = {row[0].value: row[1].value for row in book["About"].iter_rows() if row[0].value}
    assert about["Attribution"] == ATTRIBUTION
    assert about["Note"] == "'-starts with a minus"
    assert about["Area"] == "Fixture (E08000001)"
    assert about["Boundary source"] == "fixture" and about["Boundary vintage"] == "2024"
    assert about["Filters"] == "published assets only"
    assert about["Gap score"].startswith("gap_score = need")
    assert about["gap_rank"].startswith("Rank of gap_score")
    constituencies = book["Constituencies"]
    assert constituencies.cell(row=2, column=2).value == "'+SUM(1)"


def test_about_rows_list_unmatched_lsoas(result):
    from dataclasses import replace

    meta = {**result.meta, "population_unmatched_lsoas": ["E01000004", "E01000009"], "baseline": "snapshot"}
    rows = dict(about_rows(replace(result, meta=meta)))
    assert rows["Population: LSOAs not placed in a ward"] == "E01000004; E01000009"
    assert rows["Deprivation: LSOAs left out"] == "none"
    assert rows["Change since"] == "snapshot"


def test_geopackage_read_back(result, wards, tmp_path):
    path = tmp_path / "coverage.gpkg"
    write_coverage(result, path, "gpkg", ward_geometries=wards)
    back = gpd.read_file(path, layer="wards")
    assert back.crs.to_epsg() == 27700
    assert back["ward_code"].tolist() == [W1, W2, W3]
    assert back["assets_total"].tolist() == [3, 3, 2]
    assert back["ward_name"].tolist()[1] == "'" + EVIL
    assert back.geometry.area.round().tolist() == [1_000_000.0] * 3
    buffer = io.BytesIO()
    write_coverage(result, buffer, "gpkg", ward_geometries=wards)
    assert buffer.getvalue()[:16] == b"SQLite format 3\x00"


def test_geojson_is_wgs84_with_properties(result, wards, tmp_path):
    path = tmp_path / "coverage.geojson"
    write_coverage(result, path, "geojson", ward_geometries=wards)
    data = json.loads(path.read_text(encoding="utf-8"))
    features = data["features"]
    assert [f["properties"]["ward_code"] for f in features] == [W1, W2, W3]
    assert features[1]["properties"]["ward_name"] == "'" + EVIL
    lon, lat = features[0]["geometry"]["coordinates"][0][0]
    assert -8 < lon < 2 and 49 < lat < 61
    assert features[0]["properties"]["assets_per_1000"] == 1.5


def test_map_formats_need_geometries_and_formats_are_checked(result, tmp_path):
    with pytest.raises(CoverageError, match="need ward boundaries"):
        write_coverage(result, tmp_path / "x.geojson", "geojson")
    with pytest.raises(CoverageError, match="not one of csv, xlsx, geojson, gpkg"):
        write_coverage(result, tmp_path / "x.pdf", "pdf")
