"""Benchmark: the Open Referral UK API's nearby search, ``/service_at_locations?postcode=...&proximity=1600``.

Synthetic published services are placed at real GB postcode points from Code-Point Open
(seeded; one service per sampled postcode, random categories, sessions, costs and access
features) and stored through ``store.apply_import`` in a fresh SQLite database. The API is
created over that database and asked for the services within 1,600 m of random real
postcodes (seeded), page 1 of 50, fully rendered as JSON.

Measured (p95 of the request latency, after one warm-up request that reads the catalogue):

- ours: in-process through the ASGI app with Starlette's TestClient (httpx): routing, the
  middleware (CORS, path-only access log), the data-version check against the database, the
  postcode lookup, the KD-tree ball query, paging and the JSON body — everything but a socket;
- peer: the same requests over a real TCP socket to uvicorn on 127.0.0.1 (httpx client), so
  the socket's share of the time is visible;
- the catalogue build (the first request after any change to the register) is reported too.

Run ``.venv/bin/python -m bench.bench_oruk_api``; sizes ``BENCH_ORUK_SIZES`` (default
``10000,1000000``), queries per size ``BENCH_ORUK_QUERIES`` (default 300).
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", message=".*OSTN15.*")
warnings.filterwarnings("ignore", message=".*install `httpx2` instead.*")

SIZES = tuple(int(s) for s in os.environ.get("BENCH_ORUK_SIZES", "10000,1000000").split(",") if s.strip())
QUERIES = int(os.environ.get("BENCH_ORUK_QUERIES", "300"))
SEED = 20251201
PROXIMITY_M = 1600
CHUNK = 50_000
TARGETS = {10_000: "p95 < 50 ms"}
CATEGORIES = (
    "social_friendship", "physical_activity", "arts_crafts", "music", "faith", "learning_skills",
    "peer_support_wellbeing", "carers_support", "food_lunch_clubs", "advice_information", "volunteering",
    "digital_inclusion", "nature_gardening", "warm_spaces", "health_wellbeing",
)
ACCESS = ("step_free", "accessible_toilet", "hearing_loop", "seating", "parking", "quiet_space")
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _pools(rng: np.random.Generator):
    from assets.model import Session

    categories = [tuple(sorted({str(c) for c in rng.choice(CATEGORIES, size=int(rng.integers(1, 3)), replace=False)}))
                  for _ in range(300)]
    access = [()] + [tuple(sorted({str(a) for a in rng.choice(ACCESS, size=int(rng.integers(1, 4)), replace=False)}))
                     for _ in range(100)]
    sessions = []
    for _ in range(500):
        found = []
        for _ in range(int(rng.integers(1, 3))):
            hour = int(rng.integers(8, 20))
            frequency = ("weekly", "weekly", "fortnightly", "monthly")[int(rng.integers(0, 4))]
            found.append(Session(
                day=DAYS[int(rng.integers(0, 7))], start=f"{hour:02d}:00", end=f"{hour + 2:02d}:00",
                frequency=frequency, nth=1 if frequency == "monthly" else None,
                anchor=date(2026, 1, 5) if frequency == "fortnightly" else None,
            ))
        sessions.append(tuple(found))
    return categories, access, sessions


def fill_register(store, gazetteer, size: int, rng: np.random.Generator) -> np.ndarray:
    """Store ``size`` published services at random located postcodes; returns their gazetteer rows."""
    from assets.model import SYSTEM_ACTOR, Asset

    located = np.flatnonzero(gazetteer.located)
    rows = rng.choice(located, size=size, replace=size > len(located))
    categories, access, sessions = _pools(rng)
    costs = ("free", "low", "paid", "")
    kinds = ("group", "venue", "activity")
    for start in range(0, size, CHUNK):
        chunk = rows[start : start + CHUNK]
        picks = rng.integers(0, 1 << 30, size=(len(chunk), 5))
        batch = [
            Asset(
                name=f"Service {start + i:07d}",
                kind=kinds[p[0] % 3],
                categories=categories[p[1] % len(categories)],
                description="A synthetic service for the benchmark.",
                postcode=str(gazetteer.postcode[r]),
                lat=float(gazetteer.lat[r]),
                lon=float(gazetteer.lon[r]),
                easting=float(gazetteer.easting[r]),
                northing=float(gazetteer.northing[r]),
                sessions=sessions[p[2] % len(sessions)],
                cost=costs[p[3] % 4],
                accessibility=access[p[4] % len(access)],
                public_phone="0121 496 0000",
                website="https://example.org",
                last_verified=date(2026, 6, 1),
                status="published",
            )
            for i, (r, p) in enumerate(zip(chunk, picks, strict=True))
        ]
        store.apply_import(SYSTEM_ACTOR, batch, [], note="benchmark")
    return rows


def _p95(samples: list[float]) -> float:
    return float(np.percentile(np.array(samples), 95))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _time_requests(get, paths: list[str]) -> tuple[float, int]:
    """p95 seconds of GET over ``paths`` and the mean number of services found."""
    samples, found = [], []
    for path in paths:
        started = time.perf_counter()
        response = get(path)
        samples.append(time.perf_counter() - started)
        if response.status_code != 200:
            msg = f"{path} answered {response.status_code}: {response.text[:200]}"
            raise RuntimeError(msg)
        found.append(response.json()["total_items"])
    return _p95(samples), int(np.mean(found))


def _over_uvicorn(app, paths: list[str]) -> float:
    import httpx
    import uvicorn

    from assets.oruk_api import server_config

    config = server_config(app, "127.0.0.1", _free_port(), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{config.port}", timeout=60) as client:
            client.get(paths[0])
            p95, _ = _time_requests(client.get, paths)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return p95


def bench_size(size: int, queries: int, gazetteer) -> list[dict]:
    from starlette.testclient import TestClient

    from assets.oruk_api import create_app
    from assets.store import close_store, open_store

    rng = np.random.default_rng(SEED + size)
    with tempfile.TemporaryDirectory(prefix="bench_oruk_") as folder:
        url = f"sqlite:///{Path(folder) / 'register.db'}"
        os.environ["CAM_DATA_DIR"] = folder
        store = open_store(url)
        started = time.perf_counter()
        fill_register(store, gazetteer, size, rng)
        fill_s = time.perf_counter() - started
        print(f"  {size:,} services stored in {fill_s:.0f} s", file=sys.stderr, flush=True)
        located = np.flatnonzero(gazetteer.located)
        centres = gazetteer.postcode[rng.choice(located, size=queries, replace=False)]
        paths = [f"/service_at_locations?postcode={str(pc).replace(' ', '%20')}&proximity={PROXIMITY_M}"
                 for pc in centres]
        app = create_app(store, gazetteer)
        with TestClient(app) as client:
            started = time.perf_counter()
            client.get(paths[0])
            build_s = time.perf_counter() - started
            ours, mean_found = _time_requests(client.get, paths)
        peer = _over_uvicorn(app, paths)
        close_store(url)
    operation = f"ORUK API /service_at_locations postcode+proximity={PROXIMITY_M} (p95; ~{mean_found:,} found)"
    return [
        {"operation": operation, "size": size, "ours_s": ours,
         "peer": "same over TCP to uvicorn", "peer_s": peer, "target": TARGETS.get(size, "report")},
        {"operation": "ORUK API catalogue build (first request after a change)", "size": size, "ours_s": build_s,
         "peer": "", "peer_s": None, "target": "report"},
    ]


def run(sizes=SIZES, queries: int = QUERIES) -> list[dict]:
    from geo.gazetteer import load_gazetteer
    from settings import get_settings

    gazetteer = load_gazetteer(get_settings().codepoint_zip)
    rows: list[dict] = []
    for size in sizes:
        rows.extend(bench_size(size, queries, gazetteer))
    return rows


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run()))
