"""Benchmark of the "find nearby" search at 1,000,000 assets.

Synthetic assets are placed at real GB postcode points from Code-Point Open (seeded), with
random categories, sessions, costs and access features. Measured: the index build, and
1,000 searches around random real postcode points (radius 1,609 m) without filters and with a
category + day filter, end to end (ball query, filters, sort, result frame with distances,
walking times and next dates). The peer is a numpy full scan of the distances per query, then
the same filters, sort and result frame.

Run ``.venv/bin/python -m bench.bench_nearby`` (or ``python bench/bench_nearby.py``); set
``BENCH_NEARBY_SIZE`` / ``BENCH_NEARBY_QUERIES`` to change the sizes.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assets.model import Session  # noqa: E402  (the bench wires real records, like an entry point)
from assets.taxonomy import CATEGORIES as TAXONOMY  # noqa: E402
from geo import nearby  # noqa: E402
from geo.gazetteer import load_gazetteer  # noqa: E402

SIZE = int(os.environ.get("BENCH_NEARBY_SIZE", "1000000"))
QUERIES = int(os.environ.get("BENCH_NEARBY_QUERIES", "1000"))
SEED = 20251126
TODAY = date(2026, 12, 1)
RADIUS_M = 1609
CATEGORIES = tuple(TAXONOMY)
ACCESS = ("step_free", "accessible_toilet", "hearing_loop", "seating", "parking", "quiet_space")
FOR_WHOM = ("everyone", "older_people", "adults", "carers", "people_with_dementia", "men", "women")
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _pick_tuples(rng: np.random.Generator, vocabulary: tuple[str, ...], n: int, most: int) -> list[tuple]:
    """``n`` tuples of 0..``most`` distinct slugs, drawn from a pool so the frame builds quickly."""
    pool = [()] + [
        tuple(sorted(str(s) for s in rng.choice(vocabulary, size=k, replace=False)))
        for k in rng.integers(1, most + 1, size=400)
    ]
    return [pool[i] for i in rng.integers(0, len(pool), size=n)]


def _sessions(rng: np.random.Generator, n: int) -> list[tuple[Session, ...]]:
    anchor = date(2026, 1, 5)
    pool: list[tuple[Session, ...]] = [()]
    for _ in range(2_000):
        sessions = []
        for _ in range(int(rng.integers(1, 3))):
            day = DAYS[int(rng.integers(0, 7))]
            hour = int(rng.integers(8, 21))
            frequency = ("weekly", "weekly", "fortnightly", "monthly")[int(rng.integers(0, 4))]
            sessions.append(
                Session(
                    day=day,
                    start=f"{hour:02d}:{int(rng.choice([0, 30])):02d}",
                    end=f"{hour + 2:02d}:00",
                    frequency=frequency,
                    nth=int(rng.choice([1, 2, 3, 4, -1])) if frequency == "monthly" else None,
                    anchor=anchor if frequency == "fortnightly" else None,
                )
            )
        pool.append(tuple(sessions))
    return [pool[i] for i in rng.integers(0, len(pool), size=n)]


def synthetic_assets(n: int, seed: int = SEED) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` assets at random located GB postcodes, and the located postcode points (x, y)."""
    gazetteer = load_gazetteer()
    rng = np.random.default_rng(seed)
    located = np.flatnonzero(gazetteer.located)
    points = np.column_stack([gazetteer.easting[located], gazetteer.northing[located]])
    at = rng.integers(0, len(located), size=n)
    frame = pd.DataFrame(
        {
            "asset_id": [f"asset-{i:07d}" for i in range(n)],
            "name": [f"Group {i}" for i in rng.permutation(n)],
            "kind": rng.choice(["group", "venue", "activity"], size=n),
            "categories": _pick_tuples(rng, CATEGORIES, n, 3),
            "easting": points[at, 0],
            "northing": points[at, 1],
            "sessions": _sessions(rng, n),
            "cost": rng.choice(["free", "low", "paid", ""], size=n),
            "accessibility": _pick_tuples(rng, ACCESS, n, 4),
            "for_whom": _pick_tuples(rng, FOR_WHOM, n, 2),
            "stale": rng.random(n) < 0.1,
        }
    )
    return frame, points


def _peer_search(
    index: nearby.NearbyIndex, x: float, y: float, query: nearby.NearbyQuery, today: date
) -> pd.DataFrame:
    """The same search with a full numpy scan of the distances instead of the KD-tree."""
    distance_all = np.hypot(index.points[:, 0] - x, index.points[:, 1] - y)
    rows = np.flatnonzero(distance_all <= query.radius_m)
    rows = rows[index.mask(rows, query)]
    distance = distance_all[rows]
    metres = np.rint(distance).astype(np.int64)
    names = index.frame["name"].iloc[rows].str.casefold().to_numpy(dtype=str)
    order = np.lexsort((names, metres))
    rows, distance, metres = rows[order], distance[order], metres[order]
    result = index.frame.iloc[rows].reset_index(drop=True)
    result["distance_m"] = metres
    result["walk_minutes"] = nearby.walk_minutes(distance)
    dates = np.empty(len(result), dtype=object)
    for i, sessions in enumerate(result["sessions"].tolist()):
        dates[i] = nearby.next_dates(sessions, today)
    result["next_dates"] = dates
    return result


def _times(function, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and CPU seconds of each call (CPU shows the cost on a busy shared machine)."""
    wall = np.empty(len(centres))
    cpu = np.empty(len(centres))
    for i, (x, y) in enumerate(centres):
        start, start_cpu = time.perf_counter(), time.process_time()
        function(x, y)
        wall[i] = time.perf_counter() - start
        cpu[i] = time.process_time() - start_cpu
    return wall, cpu


def run(size: int = SIZE, queries: int = QUERIES) -> list[dict]:
    """Measure; rows {operation, size, ours_s, ours_cpu_s, peer, peer_s, target} (seconds)."""
    frame, points = synthetic_assets(size)
    start, start_cpu = time.perf_counter(), time.process_time()
    index = nearby.NearbyIndex.build(frame)
    build_s, build_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    rng = np.random.default_rng(SEED + 1)
    centres = points[rng.integers(0, len(points), size=queries)]
    rows = [
        {
            "operation": "index build",
            "size": size,
            "ours_s": build_s,
            "ours_cpu_s": build_cpu,
            "peer": "full scan (no index to build)",
            "peer_s": None,
            "target": "< 2 s",
        }
    ]
    filtered = nearby.NearbyQuery(radius_m=RADIUS_M, categories=("music",), day="TU")
    found = []
    for label, query in (("no filter", nearby.NearbyQuery(radius_m=RADIUS_M)), ("category + day", filtered)):
        # Same results from both, checked on a few queries before timing.
        for x, y in centres[:5]:
            ours = nearby.search(index, x, y, query, today=TODAY)
            peer = _peer_search(index, x, y, query, TODAY)
            if ours["asset_id"].tolist() != peer["asset_id"].tolist():
                msg = f"search and full scan disagree at ({x}, {y}) for {label}"
                raise AssertionError(msg)
        ours_t, ours_cpu = _times(
            lambda x, y, q=query: found.append(len(nearby.search(index, x, y, q, today=TODAY))), centres
        )
        peer_t, _ = _times(lambda x, y, q=query: _peer_search(index, x, y, q, TODAY), centres)
        for pct in (50, 95):
            rows.append(
                {
                    "operation": f"search p{pct}, {RADIUS_M} m, {label} ({queries} queries, "
                    f"median {int(np.median(found[-queries:]))} found)",
                    "size": size,
                    "ours_s": float(np.percentile(ours_t, pct)),
                    "ours_cpu_s": float(np.percentile(ours_cpu, pct)),
                    "peer": "numpy full scan",
                    "peer_s": float(np.percentile(peer_t, pct)),
                    "target": "p95 < 0.020 s" if pct == 95 else "",
                }
            )
    return rows


def _table(rows: list[dict]) -> str:
    lines = [f"{'operation':<75} {'size':>9} {'ours_s':>9} {'ours_cpu':>9} {'peer_s':>9}  peer / target"]
    for row in rows:
        peer_s = "" if row["peer_s"] is None else f"{row['peer_s']:.4f}"
        lines.append(
            f"{row['operation']:<75} {row['size']:>9,} {row['ours_s']:>9.4f} {row['ours_cpu_s']:>9.4f} "
            f"{peer_s:>9}  "
            f"{row['peer']} / {row['target']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(_table(run()))
