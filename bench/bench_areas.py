"""Benchmark: point-in-polygon ward assignment and derived wards, on real Birmingham data.

Run from the repository root::

    .venv/bin/python -m bench.bench_areas

1,000,000 seeded random points in the bounding box of Birmingham's 69 wards are assigned by
:class:`geo.areas.PolygonIndex` (index built inside the timing, as the peers build theirs) and,
in the same run, by ``geopandas.sjoin`` and by the other shapely approaches considered. Each
figure is the best of a few repeats. ``derive_ward_layer`` for Birmingham is timed too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.areas import PolygonIndex
from geo.boundaries import BoundaryLayer, derive_ward_layer, read_boundary_file
from geo.gazetteer import load_gazetteer

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
WARDS = SHARED / "boundaries" / "wards_birmingham_2018_bsolmapr_epsg27700.geojson"
BIRMINGHAM = "E08000025"
N_POINTS = 1_000_000
REPEATS = 3


def _best(func: Callable[[], object], repeats: int = REPEATS) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - started)
    return best, result


def _points(layer: BoundaryLayer, n: int, seed: int = 20250401) -> tuple[np.ndarray, np.ndarray]:
    xmin, ymin, xmax, ymax = shapely.total_bounds(layer.frame.geometry.to_numpy())
    rng = np.random.default_rng(seed)
    return rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n)


def _ours(layer: BoundaryLayer, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return PolygonIndex.from_layer(layer).assign(x, y)


def _sjoin(layer: BoundaryLayer, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=layer.frame.crs)
    joined = gpd.sjoin(points, layer.frame, predicate="intersects", how="left")
    # Points on a shared edge join twice; keep the lowest code, as PolygonIndex does.
    joined = joined.sort_values("index_right").loc[lambda f: ~f.index.duplicated(keep="first")]
    return joined.sort_index()["index_right"].fillna(-1).to_numpy(dtype=np.int64)


def _strtree(layer: BoundaryLayer, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    geoms = layer.frame.geometry.to_numpy()
    point_idx, poly_idx = shapely.STRtree(geoms).query(shapely.points(x, y), predicate="intersects")
    out = np.full(len(x), len(geoms))
    np.minimum.at(out, point_idx, poly_idx)  # frame is sorted by code: lowest index = lowest code
    out[out == len(geoms)] = -1
    return out


def _bbox_contains(layer: BoundaryLayer, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    geoms = layer.frame.geometry.to_numpy()
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    out = np.full(len(x), -1)
    for k, geom in enumerate(geoms):
        xmin, ymin, xmax, ymax = bounds[k]
        sel = np.flatnonzero((x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax) & (out == -1))
        out[sel[shapely.intersects_xy(geom, x[sel], y[sel])]] = k
    return out


def run(n_points: int = N_POINTS) -> list[dict]:
    """Time our assignment against the peers and the ward derivation; one row per comparison."""
    layer = read_boundary_file(WARDS, "ward")
    x, y = _points(layer, n_points)
    rows = []
    ours_s, ours = _best(lambda: _ours(layer, x, y))
    index = PolygonIndex.from_layer(layer)
    assign_s, _ = _best(lambda: index.assign(x, y))
    peers = [
        ("geopandas.sjoin(predicate='intersects')", _sjoin, 1),
        ("shapely STRtree.query(points, predicate='intersects')", _strtree, REPEATS),
        ("per-polygon bbox filter + prepared shapely.intersects_xy", _bbox_contains, REPEATS),
    ]
    operation = f"assign points to {len(layer.frame)} Birmingham wards (build + assign)"
    for peer, func, repeats in peers:
        peer_s, theirs = _best(lambda func=func: func(layer, x, y), repeats)
        if not np.array_equal(np.asarray(ours), np.asarray(theirs)):
            msg = f"{peer} disagrees with PolygonIndex on {int((ours != theirs).sum())} points"
            raise AssertionError(msg)
        rows.append(
            {
                "operation": operation,
                "size": n_points,
                "ours_s": round(ours_s, 3),
                "peer": peer,
                "peer_s": round(peer_s, 3),
                "target": "ours <= peer",
            }
        )
    rows.append(
        {
            "operation": "assign points, index already built (cached per layer)",
            "size": n_points,
            "ours_s": round(assign_s, 3),
            "peer": "",
            "peer_s": None,
            "target": "",
        }
    )
    gazetteer = load_gazetteer()
    n_postcodes = int(gazetteer.district_mask(BIRMINGHAM).sum())
    derive_s, derived = _best(lambda: derive_ward_layer(gazetteer, BIRMINGHAM), 2)
    rows.append(
        {
            "operation": f"derive_ward_layer Birmingham ({len(derived.frame)} wards, concave-hull outline)",
            "size": n_postcodes,
            "ours_s": round(derive_s, 3),
            "peer": "",
            "peer_s": None,
            "target": "<= 3 s",
        }
    )
    return rows


def _print_table(rows: list[dict]) -> None:
    header = ("operation", "size", "ours_s", "peer", "peer_s", "target")
    table = [[str(r[h]) if r[h] is not None else "" for h in header] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)))


if __name__ == "__main__":
    _print_table(run())
