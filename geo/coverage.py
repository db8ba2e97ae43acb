"""Coverage-gap summaries by ward for commissioners: counts, rates, walk coverage, need, gaps.

:func:`compute_coverage` takes the asset frame (see docs/INTERFACES.md), the area's wards and
the postcode points, and returns one row per ward of the area (wards without assets
included), a roll-up per constituency and a row for the whole area.

Where things are counted
    An asset counts in its point-in-polygon ward: the frame's ``ward_code`` column, assigned
    upstream by :func:`geo.areas.assign_areas`. Its constituency in the roll-up is its own
    ``constituency_code``, not its ward's.
Wards of the area
    With a ward boundary layer, the features whose postcodes lie mostly in the area's
    district (or whose code is one of the district's Code-Point ward codes); without one, the
    ward codes of the area's postcodes in Code-Point Open, which is how Great Britain as a
    whole is summarised (``area_code=None``) without any polygons.
Walk coverage
    Share of a ward's postcodes (Code-Point Open points) within ``walk_distance_m`` in a
    straight line of at least one counted-eligible asset (published, and verified recently if
    asked), wherever that asset is: a venue just over the boundary still serves the ward.
    With a boundary layer, a postcode's ward is the polygon it falls in. Postcodes stand in
    for homes (they are not weighted by the addresses they hold). Assets at a private address
    are placed at their postcode sector's centre.
Constituency of a ward
    The constituency (polygon) holding most of the ward's postcodes; ``constituency_share``
    says how many. Ties go to the lower code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo.areas import layer_index
from geo.boundaries import BoundaryLayer
from geo.dates import months_before
from geo.errors import CoverageError
from geo.population import PopulationTable, WardDeprivation, WardPopulation

if TYPE_CHECKING:
    from geo.gazetteer import Gazetteer

#: How the gap score and rank are worked out (shown on the page and in the About sheet).
GAP_FORMULA = (
    "gap_score = need × (1 − provision), from 0 (no gap) to 1 (largest gap). "
    "need = the ward's percentile among the area's wards by population-weighted IMD 2019 score "
    "(by mean IMD decile, most deprived first, when the IMD file has no scores; 0.5 for every ward "
    "when no deprivation data is loaded). provision = the ward's percentile by assets per 1,000 "
    "residents (by walk coverage when no population is loaded); a ward without the value gets 0.5. "
    "Percentile = (rank − 1) / (number of wards − 1), lowest value 0 and highest 1, tied values "
    "sharing their mean rank. gap_rank 1 is the largest gap; equal scores are ordered by ward code."
)

SNAPSHOT_FORMAT = "cam-coverage-snapshot"
SNAPSHOT_VERSION = 1
NO_CONSTITUENCY = "(no constituency recorded)"
# Gap scores are rounded so float noise never decides a rank; ward code breaks real ties.
_GAP_DECIMALS = 9


@dataclass(frozen=True)
class CoverageResult:
    """Coverage of one area: per ward, per constituency and for the whole area.

    Attributes
    ----------
    wards
        One row per ward of the area, sorted by ward code (columns documented in
        :data:`geo.coverage_export.COLUMN_DOCS`).
    constituencies
        One row per constituency, assets counted by each asset's own constituency.
    area
        One row for the whole area.
    categories
        The category slugs and labels used, in column order.
    meta
        Provenance and filters for an About sheet (see :func:`compute_coverage`).
    """

    wards: pd.DataFrame
    constituencies: pd.DataFrame
    area: pd.DataFrame
    categories: dict[str, str]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_snapshot(self) -> dict[str, Any]:
        """A JSON-ready record of this result, for "change since baseline" later."""
        ward_columns = ["assets_total", "population", "assets_per_1000"] + [
            f"assets_{s}" for s in self.categories
        ]
        wards = {
            str(row["ward_code"]): {
                "ward_name": str(row["ward_name"]),
                **{column: _json_number(row[column]) for column in ward_columns},
            }
            for _, row in self.wards.iterrows()
        }
        area = self.area.iloc[0]
        return {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "date": str(self.meta.get("date", "")),
            "area_code": str(self.meta.get("area_code", "")),
            "filters": str(self.meta.get("filters", "")),
            "categories": list(self.categories),
            "wards": wards,
            "area": {column: _json_number(area[column]) for column in ward_columns},
        }


# --------------------------------------------------------------------------- helpers


def _json_number(value: object) -> float | int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.integer | int) and not isinstance(value, bool):
        return int(value)
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def _percentile(values: pd.Series) -> pd.Series:
    """(rank − 1) / (n − 1) among the non-missing values (ties share their mean rank); NaN stays NaN."""
    valid = values.notna()
    n = int(valid.sum())
    out = pd.Series(np.nan, index=values.index, dtype=float)
    if n == 1:
        out[valid] = 0.5
    elif n > 1:
        out[valid] = (values[valid].rank(method="average") - 1.0) / (n - 1)
    return out


def _text_array(values: pd.Series) -> np.ndarray:
    """Object array of stripped strings, "" for missing values."""
    return (
        pd.Series(values.to_numpy(dtype=object), dtype="string").str.strip().fillna("").to_numpy(dtype=object)
    )


def _category_lists(values: pd.Series) -> list[Sequence[str]]:
    """Each asset's category slugs: tuples as given; text split on ";"; missing as ()."""

    def one(value: object) -> Sequence[str]:
        if isinstance(value, tuple | list):
            return value
        if isinstance(value, str):
            return [part.strip() for part in value.split(";") if part.strip()]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ()
        if isinstance(value, np.ndarray | set | frozenset):
            return list(value)
        return ()

    items = values.tolist()
    # The asset frame holds tuples: skip the per-item dispatch for a million of them.
    if all(type(v) is tuple for v in items):
        return items
    return [one(v) for v in items]


@dataclass
class _Points:
    """Postcode points of the area's surroundings (BNG), with their source ward and district."""

    x: np.ndarray
    y: np.ndarray
    ward: np.ndarray | None
    in_district: np.ndarray | None


def _postcode_points(
    gazetteer: Gazetteer | None,
    postcodes: pd.DataFrame | None,
    area_code: str | None,
    bounds: tuple[float, float, float, float] | None,
) -> tuple[_Points, dict[str, str], str]:
    """The located postcode points that matter, ward names known to the source, the source's name.

    With ``bounds`` (a ward layer's extent), the points inside it; else those of the district
    ``area_code``; else all of them.
    """
    if postcodes is not None:
        missing = [c for c in ("easting", "northing") if c not in postcodes.columns]
        if missing:
            msg = f"postcodes table lacks column(s) {', '.join(missing)}; give easting and northing (EPSG:27700)"
            raise CoverageError(msg)
        x = pd.to_numeric(postcodes["easting"], errors="coerce").to_numpy(dtype=float)
        y = pd.to_numeric(postcodes["northing"], errors="coerce").to_numpy(dtype=float)
        ward = _text_array(postcodes["ward_code"]) if "ward_code" in postcodes.columns else None
        district = None
        if area_code and "district_code" in postcodes.columns:
            district = _text_array(postcodes["district_code"]) == area_code
        ok = np.isfinite(x) & np.isfinite(y)
        if bounds is not None:
            ok &= _inside(x, y, bounds)
        points = _Points(
            x[ok], y[ok], None if ward is None else ward[ok], None if district is None else district[ok]
        )
        return points, {}, "postcodes table"
    if gazetteer is None:
        msg = "coverage needs postcode points: pass the gazetteer (load_gazetteer()) or a postcodes table"
        raise CoverageError(msg)
    x, y = gazetteer.easting, gazetteer.northing
    if bounds is not None:
        # NaN coordinates compare False, so unlocated postcodes drop out here.
        rows = np.flatnonzero(_inside(x, y, bounds))
        district = gazetteer.district_mask(area_code)[rows] if area_code else None
    elif area_code:
        rows = np.flatnonzero(gazetteer.district_mask(area_code) & np.isfinite(x) & np.isfinite(y))
        district = np.ones(len(rows), dtype=bool)
    else:
        rows = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        district = None
    points = _Points(
        gazetteer.easting[rows], gazetteer.northing[rows], np.asarray(gazetteer.ward_code)[rows], district
    )
    names = {str(k): str(v) for k, v in gazetteer.ward_names.items()}
    return points, names, str(gazetteer.version)


def _inside(x: np.ndarray, y: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    xmin, ymin, xmax, ymax = bounds
    # A metre of margin keeps points on the outermost edges.
    return (x >= xmin - 1) & (x <= xmax + 1) & (y >= ymin - 1) & (y <= ymax + 1)


def _factorize_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the sorted unique values (fast for millions of short strings)."""
    codes, uniques = pd.factorize(values, sort=False)
    order = np.argsort(uniques.astype(str), kind="stable")
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(uniques))
    out = np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)
    return out, np.asarray(uniques, dtype=object)[order]


@dataclass
class _Wards:
    codes: np.ndarray  # sorted
    names: np.ndarray
    point_ward: np.ndarray  # per postcode point: index into codes, -1 outside the area's wards
    geometries: np.ndarray | None  # BNG polygons aligned with codes, when a layer is given
    outside_features: int


def _area_wards(
    points: _Points,
    wards: BoundaryLayer | None,
    area_code: str | None,
    names: Mapping[str, str],
) -> _Wards:
    if wards is None:
        if points.ward is None:
            msg = "without a ward boundary layer the postcodes need a ward_code column (Code-Point Open has one)"
            raise CoverageError(msg)
        keep = points.in_district if points.in_district is not None else np.ones(len(points.x), dtype=bool)
        keep = keep & (points.ward != "")
        idx, uniques = _factorize_sorted(np.where(keep, points.ward, ""))
        # "" sorts first when present: drop it from the ward list.
        if len(uniques) and uniques[0] == "":
            idx = idx - 1
            uniques = uniques[1:]
        idx[~keep] = -1
        ward_names = np.array([names.get(str(c), "") for c in uniques], dtype=object)
        return _Wards(uniques.astype(object), ward_names, idx, None, 0)

    frame = wards.frame
    hit = layer_index(wards).assign(points.x, points.y)
    n_features = len(frame)
    if area_code is None or points.in_district is None:
        in_area = np.ones(n_features, dtype=bool)
    else:
        got = hit >= 0
        total = np.bincount(hit[got], minlength=n_features)
        inside = np.bincount(hit[got & points.in_district], minlength=n_features)
        district_wards = set(points.ward[points.in_district].tolist()) if points.ward is not None else set()
        by_code = np.isin(frame["code"].to_numpy(dtype=object), list(district_wards))
        # A feature belongs to the area when most of its postcodes do (a national file holds
        # every ward; a postcode just over a generalised edge must not pull a neighbour in).
        in_area = by_code | ((total > 0) & (2 * inside >= total))
    feature_rows = np.flatnonzero(in_area)
    position = np.full(n_features, -1, dtype=np.int64)
    position[feature_rows] = np.arange(len(feature_rows))  # frame is sorted by code
    point_ward = np.where(hit >= 0, position[np.maximum(hit, 0)], -1)
    return _Wards(
        frame["code"].to_numpy(dtype=object)[feature_rows],
        frame["name"].to_numpy(dtype=object)[feature_rows],
        point_ward,
        frame.geometry.to_numpy()[feature_rows],
        int(n_features - len(feature_rows)),
    )


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct integers (a sort and a diff: numpy's hash-based unique is far slower here)."""
    if len(values) == 0:
        return values
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


# Below this many query points a direct KD-tree query is cheap enough.
_DIRECT_QUERY_LIMIT = 100_000


class _WalkGrid:
    """Walk coverage of many points, answered a grid cell at a time where the answer is certain.

    Points are binned into square cells of side ``distance / 2``. By the triangle inequality,
    every point of a cell whose centre has an asset within ``distance − h`` (``h`` = half the
    cell diagonal) is covered, and no point of a cell whose centre has no asset within
    ``distance + h`` is; only the points of the remaining cells are queried one by one. The
    result is exact; for all of Great Britain's postcodes it needs several times fewer queries.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, distance: float) -> None:
        self.xy = np.column_stack([x, y])
        self.distance = float(distance)
        self.direct = len(x) <= _DIRECT_QUERY_LIMIT
        if self.direct:
            return
        # Measured on GB's postcodes: side d/2 leaves ~10% of points to test one by one, and
        # that beats smaller cells, whose many centres cost more to query than they save.
        size = self.distance / 2.0
        self.half_diagonal = size * np.sqrt(2.0) / 2.0
        ix = np.floor(x / size).astype(np.int64)
        iy = np.floor(y / size).astype(np.int64)
        key = (ix << 32) | (iy & 0xFFFFFFFF)
        cells = _sorted_unique(key)
        self.cell_of = np.searchsorted(cells, key)
        cx = (cells >> 32).astype(float)
        cy = (cells & 0xFFFFFFFF).astype(np.int64)
        cy = np.where(cy >= 1 << 31, cy - (1 << 32), cy).astype(float)
        self.centres = np.column_stack([(cx + 0.5) * size, (cy + 0.5) * size])

    def covered(self, sites: np.ndarray, candidates: np.ndarray | None = None) -> np.ndarray:
        """Which points have a site (an asset, BNG) within the distance; only ``candidates`` are tested."""
        n = len(self.xy)
        out = np.zeros(n, dtype=bool)
        if len(sites) == 0 or n == 0:
            return out
        # An unbalanced tree builds several times faster on a million points; queries barely differ.
        tree = cKDTree(sites, balanced_tree=False, compact_nodes=False)
        workers = -1 if n > 200_000 else 1
        # A hair above the limit, so a point exactly at the distance counts as within it.
        limit = self.distance + 1e-9
        if self.direct:
            rows = np.arange(n) if candidates is None else np.flatnonzero(candidates)
            dist, _ = tree.query(
                self.xy[rows], k=1, distance_upper_bound=limit * (1 + 1e-12), workers=workers
            )
            out[rows] = dist <= limit
            return out
        wanted = np.ones(len(self.centres), dtype=bool)
        if candidates is not None:
            wanted = np.bincount(self.cell_of[candidates], minlength=len(self.centres)) > 0
        cell_rows = np.flatnonzero(wanted)
        h = self.half_diagonal
        dist, _ = tree.query(self.centres[cell_rows], k=1, distance_upper_bound=limit + h, workers=workers)
        state = np.zeros(len(self.centres), dtype=np.int8)  # 0 none, 1 all, 2 look closer
        state[cell_rows[dist <= self.distance - h]] = 1
        state[cell_rows[(dist > self.distance - h) & np.isfinite(dist)]] = 2
        point_state = state[self.cell_of]
        if candidates is not None:
            point_state = np.where(candidates, point_state, 0)
        out[point_state == 1] = True
        rows = np.flatnonzero(point_state == 2)
        if len(rows):
            dist, _ = tree.query(
                self.xy[rows], k=1, distance_upper_bound=limit * (1 + 1e-12), workers=workers
            )
            out[rows] = dist <= limit
        return out


def _share(covered: np.ndarray, groups: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Share of points covered per group (NaN for groups without points) and the point counts."""
    valid = groups >= 0
    total = np.bincount(groups[valid], minlength=n)
    hits = np.bincount(groups[valid & covered], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, hits / np.maximum(total, 1), np.nan), total


def _population_series(population: object) -> tuple[pd.Series | None, str]:
    if population is None:
        return None, ""
    if isinstance(population, WardPopulation):
        return population.by_ward.astype(float), population.describe()
    if isinstance(population, PopulationTable):
        if population.level != "ward":
            msg = (
                f"population {population.source} is by LSOA: sum it into wards first with "
                "geo.population.population_by_ward(table, lookup)"
            )
            raise CoverageError(msg)
        return population.population.astype(float), population.describe()
    if isinstance(population, pd.Series):
        values = pd.to_numeric(population, errors="coerce").astype(float)
        values.index = values.index.astype(str)
        return values, str(population.name or "population by ward")
    msg = f"population must be a WardPopulation or a Series by ward code, not {type(population).__name__}"
    raise CoverageError(msg)


def _deprivation_frame(deprivation: object) -> tuple[pd.DataFrame | None, str]:
    if deprivation is None:
        return None, ""
    if isinstance(deprivation, WardDeprivation):
        return deprivation.by_ward, deprivation.describe()
    if isinstance(deprivation, pd.DataFrame):
        frame = deprivation
        if "ward_code" in frame.columns:
            frame = frame.set_index("ward_code")
        known = [c for c in ("imd_score", "imd_mean_decile", "most_deprived_10_share") if c in frame.columns]
        if not known:
            msg = (
                "deprivation table needs imd_score, imd_mean_decile or most_deprived_10_share by ward_code; "
                f"it has {list(frame.columns)}"
            )
            raise CoverageError(msg)
        frame = frame.copy()
        frame.index = frame.index.astype(str)
        return frame, "deprivation by ward (table)"
    msg = (
        f"deprivation must be a WardDeprivation or a DataFrame by ward_code, not {type(deprivation).__name__}"
    )
    raise CoverageError(msg)


def _unmet(unmet_demand: pd.DataFrame | None) -> pd.Series | None:
    if unmet_demand is None:
        return None
    missing = [c for c in ("ward_code", "count") if c not in unmet_demand.columns]
    if missing:
        msg = (
            f"unmet demand table lacks column(s) {', '.join(missing)}; expected ward_code, category, "
            "day, period, count"
        )
        raise CoverageError(msg)
    counts = pd.to_numeric(unmet_demand["count"], errors="coerce")
    bad = counts.isna() | (counts < 0)
    if bad.any():
        first = unmet_demand.index[bad][0]
        msg = f"unmet demand row {first}: count {unmet_demand.at[first, 'count']!r} is not a number of searches (0 or more)"
        raise CoverageError(msg)
    return counts.groupby(_text_array(unmet_demand["ward_code"])).sum()


def _missing_labels(counts: np.ndarray, labels: list[str]) -> list[str]:
    """Per row, the labels of the categories with no assets, joined by "; "."""
    label_arr = np.array(labels, dtype=object)
    return ["; ".join(label_arr[row == 0]) for row in counts]


# --------------------------------------------------------------------------- the summary


def compute_coverage(
    assets: pd.DataFrame,
    wards: BoundaryLayer | None = None,
    *,
    constituencies: BoundaryLayer | None = None,
    gazetteer: Gazetteer | None = None,
    postcodes: pd.DataFrame | None = None,
    area_code: str | None,
    area_name: str | None = None,
    categories: Mapping[str, str],
    population: WardPopulation | PopulationTable | pd.Series | None = None,
    deprivation: WardDeprivation | pd.DataFrame | None = None,
    walk_distance_m: float = 800,
    verified_within_months: int | None = None,
    today: date | None = None,
    unmet_demand: pd.DataFrame | None = None,
    baseline: Mapping[str, Any] | None = None,
    ward_names: Mapping[str, str] | None = None,
) -> CoverageResult:
    """Coverage of the assets by ward, constituency and area.

    Parameters
    ----------
    assets
        The asset frame: ward_code, easting, northing and categories are used, plus
        constituency_code, status and last_verified when present. Only rows with status
        "published" count when the column is present.
    wards
        The ward boundary layer; ``None`` takes the wards from the postcodes' own ward codes
        (Code-Point Open), with no polygons (used for Great Britain as a whole).
    constituencies
        The constituency layer, to name each ward's constituency and for walk coverage by
        constituency; without it those are blank.
    gazetteer, postcodes
        Where the postcode points come from: the Code-Point Open gazetteer, or a table with
        easting, northing (EPSG:27700) and optional ward_code and district_code columns
        (small areas, tests). One of them is required; ``postcodes`` wins when both are given.
    area_code
        The district (e.g. "E08000025"); ``None`` for every postcode given (all of GB).
    area_name
        Name for the area row; by default the gazetteer's district name or the code.
    categories
        Category slug -> label, in the order of the output columns (the taxonomy's 15).
    population
        Residents per ward (:class:`~geo.population.WardPopulation` or a Series by ward code).
    deprivation
        :class:`~geo.population.WardDeprivation` or a frame by ward_code with imd_score,
        imd_mean_decile, most_deprived_10_share.
    walk_distance_m
        Straight-line distance for walk coverage.
    verified_within_months
        Count only assets whose last_verified date is within this many months of ``today``.
    today
        Date of the summary (default: today).
    unmet_demand
        Searches that found nothing: ward_code, category, day, period, count.
    baseline
        A snapshot from :meth:`CoverageResult.to_snapshot`: adds change_assets_total and
        change_per_1000.
    ward_names
        Ward names by code when neither the layer nor the gazetteer has them.

    Returns
    -------
    CoverageResult

    Raises
    ------
    CoverageError
        Missing columns, no postcode source, or unusable population, deprivation or baseline.
    """
    today = today or date.today()
    slugs = list(categories)
    labels = [str(categories[s]) for s in slugs]
    if not slugs:
        msg = "no categories given: pass the taxonomy's category slugs and labels"
        raise CoverageError(msg)
    if not (walk_distance_m > 0 and math.isfinite(walk_distance_m)):
        msg = f"walk distance {walk_distance_m!r} m must be a positive number of metres (e.g. 800)"
        raise CoverageError(msg)
    missing = [c for c in ("ward_code", "easting", "northing", "categories") if c not in assets.columns]
    if missing:
        msg = f"asset frame lacks column(s) {', '.join(missing)}; pass the register's asset frame"
        raise CoverageError(msg)

    # ---- which assets count
    n_assets = len(assets)
    keep = np.ones(n_assets, dtype=bool)
    filters = []
    excluded_status = excluded_unverified = 0
    if "status" in assets.columns:
        published = _text_array(assets["status"]) == "published"
        excluded_status = int((~published).sum())
        keep &= published
        filters.append("published assets only")
    if verified_within_months is not None:
        if "last_verified" not in assets.columns:
            msg = "the 'verified within' filter needs the asset frame's last_verified column"
            raise CoverageError(msg)
        cutoff = months_before(today, int(verified_within_months))
        verified = pd.to_datetime(assets["last_verified"], errors="coerce")
        recent = (verified >= pd.Timestamp(cutoff)).fillna(False).to_numpy(dtype=bool)
        excluded_unverified = int((keep & ~recent).sum())
        keep &= recent
        filters.append(
            f"verified within {int(verified_within_months)} months (on or after {cutoff.isoformat()})"
        )
    eligible = assets.loc[keep]

    # ---- postcodes and wards of the area
    bounds = tuple(wards.frame.total_bounds) if wards is not None and len(wards.frame) else None
    points, source_names, gazetteer_version = _postcode_points(gazetteer, postcodes, area_code, bounds)
    names = {**source_names, **{str(k): str(v) for k, v in (ward_names or {}).items()}}
    area = _area_wards(points, wards, area_code, names)
    # From here on only the postcodes in the area's wards matter.
    keep_points = area.point_ward >= 0
    px, py, point_ward = points.x[keep_points], points.y[keep_points], area.point_ward[keep_points]
    n_wards = len(area.codes)
    ward_index = pd.Index(area.codes.astype(str))

    asset_ward = ward_index.get_indexer(_text_array(eligible["ward_code"]))
    counted = asset_ward >= 0
    totals = np.bincount(asset_ward[counted], minlength=n_wards)
    cat_lists = _category_lists(eligible["categories"])
    lengths = np.fromiter(map(len, cat_lists), dtype=np.int64, count=len(cat_lists))
    flat = np.fromiter(chain.from_iterable(cat_lists), dtype=object, count=int(lengths.sum()))
    cat_idx = pd.Index(slugs).get_indexer(flat) if len(flat) else np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(cat_lists)), lengths)
    # One asset listing a category twice still counts once in it.
    pairs = _sorted_unique(owner[cat_idx >= 0] * len(slugs) + cat_idx[cat_idx >= 0])
    pair_asset, pair_cat = np.divmod(pairs, len(slugs))
    pair_ward = asset_ward[pair_asset]
    in_area_pair = pair_ward >= 0
    by_cat = np.bincount(
        pair_ward[in_area_pair] * len(slugs) + pair_cat[in_area_pair], minlength=n_wards * len(slugs)
    ).reshape(n_wards, len(slugs))
    unknown_slugs = sorted({str(s) for s in flat[cat_idx < 0]}) if len(flat) else []

    # ---- walk coverage
    ax = pd.to_numeric(eligible["easting"], errors="coerce").to_numpy(dtype=float)
    ay = pd.to_numeric(eligible["northing"], errors="coerce").to_numpy(dtype=float)
    located = np.isfinite(ax) & np.isfinite(ay)
    asset_xy = np.column_stack([ax, ay])
    grid = _WalkGrid(px, py, walk_distance_m)
    covered_any = grid.covered(asset_xy[located])
    walk, postcode_counts = _share(covered_any, point_ward, n_wards)
    walk_by_cat = {}
    covered_by_cat = {}
    for j, slug in enumerate(slugs):
        members = np.zeros(len(eligible), dtype=bool)
        members[pair_asset[pair_cat == j]] = True
        covered = grid.covered(asset_xy[located & members], covered_any)
        covered_by_cat[slug] = covered
        walk_by_cat[slug] = _share(covered, point_ward, n_wards)[0]

    # ---- constituency of each ward (mode of its postcodes)
    constituency_codes = np.full(n_wards, "", dtype=object)
    constituency_names = np.full(n_wards, "", dtype=object)
    constituency_share = np.full(n_wards, np.nan)
    point_const = np.full(len(px), -1, dtype=np.int64)
    const_frame = constituencies.frame if constituencies is not None else None
    if constituencies is not None and const_frame is not None and len(const_frame):
        n_const = len(const_frame)
        point_const = layer_index(constituencies).assign(px, py)
        pair_ok = point_const >= 0
        matrix = np.bincount(
            point_ward[pair_ok] * n_const + point_const[pair_ok], minlength=n_wards * n_const
        ).reshape(n_wards, n_const)
        best = matrix.argmax(axis=1)  # first maximum: the lowest code (frame sorted by code)
        held = matrix.sum(axis=1)
        has = held > 0
        best[~has] = -1
        # Wards without postcodes: the constituency holding a point inside the ward polygon.
        if (~has).any() and area.geometries is not None:
            reps = shapely.point_on_surface(area.geometries[~has])
            best[~has] = layer_index(constituencies).assign(shapely.get_x(reps), shapely.get_y(reps))
        chosen = best >= 0
        constituency_codes[chosen] = const_frame["code"].to_numpy(dtype=object)[best[chosen]]
        constituency_names[chosen] = const_frame["name"].to_numpy(dtype=object)[best[chosen]]
        with np.errstate(invalid="ignore", divide="ignore"):
            constituency_share[has] = matrix[has, best[has]] / held[has]

    # ---- population, deprivation, unmet demand
    pop_series, pop_source = _population_series(population)
    if pop_series is None:
        pop = np.full(n_wards, np.nan)
        notes = np.full(n_wards, "no population loaded", dtype=object)
    else:
        pop = pop_series.reindex(ward_index).to_numpy(dtype=float)
        notes = np.where(np.isnan(pop), "no population for this ward code in the population table", "")
        notes = np.where(pop == 0, "population is zero", notes).astype(object)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_1000 = np.where(pop > 0, totals / pop * 1000.0, np.nan)

    dep_frame, dep_source = _deprivation_frame(deprivation)

    def dep_column(name: str) -> np.ndarray:
        if dep_frame is None or name not in dep_frame.columns:
            return np.full(n_wards, np.nan)
        return pd.to_numeric(dep_frame[name], errors="coerce").reindex(ward_index).to_numpy(dtype=float)

    unmet = _unmet(unmet_demand)
    unmet_values = (
        np.full(n_wards, np.nan)
        if unmet is None
        else unmet.reindex(ward_index).fillna(0).to_numpy(dtype=float)
    )

    # Columns gathered in a dict and built at once: inserting ~80 columns one by one is slow.
    columns: dict[str, Any] = {
        "ward_code": area.codes.astype(str),
        "ward_name": area.names.astype(str),
        "constituency_code": constituency_codes,
        "constituency_name": constituency_names,
        "constituency_share": constituency_share,
        "assets_total": totals.astype(np.int64),
    }
    for j, slug in enumerate(slugs):
        columns[f"assets_{slug}"] = by_cat[:, j].astype(np.int64)
    columns["population"] = pop
    columns["assets_per_1000"] = per_1000
    columns["per_1000_note"] = notes
    columns["categories_missing"] = _missing_labels(by_cat, labels)
    columns["postcodes"] = postcode_counts.astype(np.int64)
    columns["walk_coverage"] = walk
    for slug in slugs:
        columns[f"walk_coverage_{slug}"] = walk_by_cat[slug]
    columns["imd_score"] = dep_column("imd_score")
    columns["imd_mean_decile"] = dep_column("imd_mean_decile")
    columns["most_deprived_10_share"] = dep_column("most_deprived_10_share")
    columns["unmet_searches"] = unmet_values
    frame = pd.DataFrame(columns)

    # ---- gap score
    if frame["imd_score"].notna().any():
        need, need_basis = _percentile(frame["imd_score"]), "IMD score percentile"
    elif frame["imd_mean_decile"].notna().any():
        need, need_basis = (
            _percentile(-frame["imd_mean_decile"]),
            "mean IMD decile percentile (no scores loaded)",
        )
    else:
        need, need_basis = (
            pd.Series(0.5, index=frame.index),
            "0.5 for every ward (no deprivation data loaded)",
        )
    if frame["assets_per_1000"].notna().any():
        provision, provision_basis = (
            _percentile(frame["assets_per_1000"]),
            "assets per 1,000 residents percentile",
        )
    else:
        provision, provision_basis = (
            _percentile(frame["walk_coverage"]),
            "walk coverage percentile (no population)",
        )
    frame["gap_score"] = (need.fillna(0.5) * (1.0 - provision.fillna(0.5))).round(_GAP_DECIMALS)
    order = frame.sort_values(["gap_score", "ward_code"], ascending=[False, True], kind="mergesort").index
    frame["gap_rank"] = 0
    frame.loc[order, "gap_rank"] = np.arange(1, n_wards + 1)
    frame["gap_rank"] = frame["gap_rank"].astype(np.int64)

    # ---- constituencies (each asset's own constituency)
    const_names = (
        dict(zip(const_frame["code"].astype(str), const_frame["name"].astype(str), strict=True))
        if const_frame is not None
        else {}
    )
    for code, name in zip(constituency_codes, constituency_names, strict=True):
        if code:
            const_names.setdefault(str(code), str(name))
    counted_rows = np.flatnonzero(counted)
    asset_const = (
        _text_array(eligible["constituency_code"].iloc[counted_rows])
        if "constituency_code" in eligible.columns
        else np.full(len(counted_rows), "", dtype=object)
    )
    rollup_codes = sorted(
        set(constituency_codes[constituency_codes != ""].tolist()) | set(asset_const.tolist())
    )
    rollup_codes = [c for c in rollup_codes if c] + ([""] if "" in set(asset_const.tolist()) else [])
    c_index = pd.Index(rollup_codes)
    n_roll = len(rollup_codes)
    c_of_asset = np.full(len(eligible), -1, dtype=np.int64)
    c_of_asset[counted_rows] = c_index.get_indexer(asset_const)
    c_totals = np.bincount(c_of_asset[c_of_asset >= 0], minlength=n_roll)
    pc = c_of_asset[pair_asset]
    ok = pc >= 0
    c_by_cat = np.bincount(pc[ok] * len(slugs) + pair_cat[ok], minlength=n_roll * len(slugs)).reshape(
        n_roll, len(slugs)
    )
    ward_c = c_index.get_indexer(constituency_codes.astype(str))
    ward_c[constituency_codes == ""] = -1
    c_columns: dict[str, Any] = {
        "constituency_code": rollup_codes,
        "constituency_name": [const_names.get(c, "") if c else NO_CONSTITUENCY for c in rollup_codes],
        "wards": np.bincount(ward_c[ward_c >= 0], minlength=n_roll).astype(np.int64),
        "assets_total": c_totals.astype(np.int64),
    }
    for j, slug in enumerate(slugs):
        c_columns[f"assets_{slug}"] = c_by_cat[:, j].astype(np.int64)
    # A constituency's population is that of the wards assigned to it (whole wards).
    c_pop = pd.Series(pop).groupby(ward_c).sum(min_count=1).reindex(range(n_roll)).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        c_columns["population"] = c_pop
        c_columns["assets_per_1000"] = np.where(c_pop > 0, c_totals / c_pop * 1000.0, np.nan)
    c_columns["categories_missing"] = _missing_labels(c_by_cat, labels)
    pc_roll = np.full(len(px), -1, dtype=np.int64)
    if const_frame is not None:
        layer_pos = c_index.get_indexer(const_frame["code"].astype(str))
        hit = point_const >= 0
        pc_roll[hit] = layer_pos[point_const[hit]]
    c_walk, c_postcodes = _share(covered_any, pc_roll, n_roll)
    c_columns["postcodes"] = c_postcodes.astype(np.int64)
    c_columns["walk_coverage"] = c_walk
    for slug in slugs:
        c_columns[f"walk_coverage_{slug}"] = _share(covered_by_cat[slug], pc_roll, n_roll)[0]
    c_columns["unmet_searches"] = (
        np.full(n_roll, np.nan)
        if unmet is None
        else pd.Series(unmet_values)
        .groupby(ward_c)
        .sum()
        .reindex(range(n_roll))
        .fillna(0)
        .to_numpy(dtype=float)
    )
    c_frame = pd.DataFrame(c_columns)

    # ---- the area
    if area_name is None:
        district_names = getattr(gazetteer, "district_names", {}) if gazetteer is not None else {}
        area_name = str(district_names.get(area_code, area_code)) if area_code else "Great Britain"
    area_totals = by_cat.sum(axis=0)
    area_pop = float(np.nansum(pop)) if np.isfinite(pop).any() else np.nan
    area_walk = float(covered_any.mean()) if len(px) else np.nan
    area_row: dict[str, Any] = {
        "area_code": area_code or "",
        "area_name": area_name,
        "wards": n_wards,
        "assets_total": int(totals.sum()),
    }
    for j, slug in enumerate(slugs):
        area_row[f"assets_{slug}"] = int(area_totals[j])
    area_row["population"] = area_pop
    area_row["assets_per_1000"] = (
        int(totals.sum()) / area_pop * 1000.0 if area_pop and area_pop > 0 else np.nan
    )
    area_row["categories_missing"] = _missing_labels(area_totals[None, :], labels)[0]
    area_row["postcodes"] = len(px)
    area_row["walk_coverage"] = area_walk
    for slug in slugs:
        area_row[f"walk_coverage_{slug}"] = float(covered_by_cat[slug].mean()) if len(px) else np.nan
    area_row["unmet_searches"] = float(np.nansum(unmet_values)) if unmet is not None else np.nan
    area_frame = pd.DataFrame([area_row])

    # ---- provenance
    split = frame.loc[frame["constituency_share"] < 1, ["ward_code", "ward_name", "constituency_share"]]
    eligible_total = int(keep.sum())
    meta: dict[str, Any] = {
        "date": today.isoformat(),
        "area_code": area_code or "",
        "area_name": area_name,
        "wards": n_wards,
        "boundary_source": wards.source
        if wards is not None
        else f"ward codes of {gazetteer_version} (no polygons)",
        "boundary_vintage": wards.vintage if wards is not None else gazetteer_version,
        "boundary_approximate": bool(wards.approximate) if wards is not None else False,
        "boundary_description": wards.describe() if wards is not None else "ward codes of the postcodes",
        "boundary_features_outside_area": area.outside_features,
        "constituency_source": (
            f"{constituencies.describe()} ({constituencies.source})"
            if constituencies is not None
            else "not loaded"
        ),
        "gazetteer_version": gazetteer_version,
        "population_source": pop_source or "not loaded",
        "population_unmatched_lsoas": (
            population.unmatched["lsoa"].tolist() if isinstance(population, WardPopulation) else []
        ),
        "population_share_covered": (
            population.share_covered
            if isinstance(population, WardPopulation)
            else (1.0 if pop_series is not None else None)
        ),
        "population_wards_missing": int(np.isnan(pop).sum()) if pop_series is not None else n_wards,
        "deprivation_source": dep_source or "not loaded",
        "deprivation_unmatched_lsoas": (
            deprivation.unmatched["lsoa"].tolist() if isinstance(deprivation, WardDeprivation) else []
        ),
        "deprivation_share_covered": deprivation.share_covered
        if isinstance(deprivation, WardDeprivation)
        else None,
        "filters": "; ".join(filters) if filters else "all assets",
        "assets_in_frame": n_assets,
        "assets_excluded_status": excluded_status,
        "assets_excluded_unverified": excluded_unverified,
        "assets_counted": int(counted.sum()),
        "assets_outside_area": int(eligible_total - counted.sum()),
        "assets_without_location": int((~located).sum()),
        "unknown_categories": unknown_slugs,
        "walk_distance_m": float(walk_distance_m),
        "gap_formula": GAP_FORMULA,
        "need_basis": need_basis,
        "provision_basis": provision_basis,
        "wards_split_between_constituencies": [
            f"{r.ward_name} ({r.ward_code}): {r.constituency_share:.1%} in its constituency"
            for r in split.itertuples()
        ],
        "unmet_demand": "not loaded"
        if unmet is None
        else f"{int(unmet.sum()):,} searches that found nothing",
    }
    result = CoverageResult(frame, c_frame, area_frame, dict(zip(slugs, labels, strict=True)), meta)
    if baseline is not None:
        result = _with_changes(result, baseline)
    return result


# --------------------------------------------------------------------------- baseline


def _check_snapshot(snapshot: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(snapshot, Mapping) or snapshot.get("format") != SNAPSHOT_FORMAT:
        msg = "baseline is not a coverage snapshot (made by CoverageResult.to_snapshot()); choose a saved snapshot"
        raise CoverageError(msg)
    if snapshot.get("version") != SNAPSHOT_VERSION:
        msg = f"baseline snapshot version {snapshot.get('version')!r} is not supported (expected {SNAPSHOT_VERSION})"
        raise CoverageError(msg)
    wards = snapshot.get("wards")
    if not isinstance(wards, Mapping):
        msg = "baseline snapshot has no 'wards' table; take a new snapshot"
        raise CoverageError(msg)
    return wards


def _number(value: object) -> float:
    if value is None or isinstance(value, bool):
        return np.nan
    if isinstance(value, int | float):
        return float(value)
    return np.nan


def compare_to_snapshot(result: CoverageResult, snapshot: Mapping[str, Any]) -> pd.DataFrame:
    """Change per ward since a baseline snapshot.

    Returns
    -------
    pandas.DataFrame
        One row per ward of ``result`` (same order): ward_code, baseline_assets_total,
        change_assets_total, change_per_1000 (NaN where the ward is not in the baseline or a
        rate is missing on either side).

    Raises
    ------
    CoverageError
        ``snapshot`` is not a coverage snapshot.
    """
    wards = _check_snapshot(snapshot)
    before_total = np.array(
        [_number((wards.get(code) or {}).get("assets_total")) for code in result.wards["ward_code"]],
        dtype=float,
    )
    before_rate = np.array(
        [_number((wards.get(code) or {}).get("assets_per_1000")) for code in result.wards["ward_code"]],
        dtype=float,
    )
    return pd.DataFrame(
        {
            "ward_code": result.wards["ward_code"].to_numpy(),
            "baseline_assets_total": before_total,
            "change_assets_total": result.wards["assets_total"].to_numpy(dtype=float) - before_total,
            "change_per_1000": result.wards["assets_per_1000"].to_numpy(dtype=float) - before_rate,
        }
    )


def _with_changes(result: CoverageResult, snapshot: Mapping[str, Any]) -> CoverageResult:
    changes = compare_to_snapshot(result, snapshot)
    wards = result.wards.copy()
    wards["change_assets_total"] = changes["change_assets_total"].to_numpy()
    wards["change_per_1000"] = changes["change_per_1000"].to_numpy()
    area = result.area.copy()
    before_area = snapshot.get("area") if isinstance(snapshot.get("area"), Mapping) else {}
    area["change_assets_total"] = area["assets_total"].astype(float) - _number(
        before_area.get("assets_total")
    )
    area["change_per_1000"] = area["assets_per_1000"].astype(float) - _number(
        before_area.get("assets_per_1000")
    )
    # Wards added since, or dropped from, the baseline are named so a change is not misread.
    snapshot_wards = set(_check_snapshot(snapshot))
    current = set(wards["ward_code"])
    meta = {
        **result.meta,
        "baseline": f"snapshot of {snapshot.get('date', 'unknown date')} ({snapshot.get('filters', '')})",
        "baseline_wards_not_in_result": sorted(snapshot_wards - current),
        "wards_not_in_baseline": sorted(current - snapshot_wards),
    }
    return replace(result, wards=wards, area=area, meta=meta)


__all__ = [
    "GAP_FORMULA",
    "CoverageResult",
    "compare_to_snapshot",
    "compute_coverage",
]
