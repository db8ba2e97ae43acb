"""Benchmark: building the asset map's HTML, ours against one ``folium.Marker`` per asset.

Run from the project folder: ``.venv/bin/python -m bench.bench_maps``.

Both sides are timed from the asset frame to the finished HTML string (``render``), in
"served" mode, i.e. without the libraries' code in the page. The assets are synthetic but
realistic: random points in Birmingham's bounding box (WGS84) with every popup field filled.
Targets at 10,000 assets: under 1 s and under 4 MB.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import folium
import numpy as np
import pandas as pd
from folium.plugins import MarkerCluster

from geo.escaping import escape_html
from geo.maps import CATEGORY_COLOURS, build_assets_map, render_map_html
from geo.mapscripts import configure_map

BIRMINGHAM_BBOX = (-2.034, 52.381, -1.729, 52.609)  # west, south, east, north (WGS84)
TARGET_SECONDS = 1.0
TARGET_MB = 4.0


def synthetic_assets(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` assets at random points in Birmingham with every field the popup shows."""
    rng = np.random.default_rng(seed)
    west, south, east, north = BIRMINGHAM_BBOX
    slugs = list(CATEGORY_COLOURS)
    days = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays"]
    return pd.DataFrame(
        {
            "asset_id": [f"{i:08x}-7d4c-4b1e-9f2a-{i * 7919 % 10**12:012d}" for i in range(n)],
            "name": [f"Friendship group {i} at St Mary's community hall" for i in range(n)],
            "kind": rng.choice(["group", "venue", "activity"], n),
            "categories": [(slugs[i % 15], slugs[(i * 7 + 3) % 15]) for i in range(n)],
            "lat": rng.uniform(south, north, n),
            "lon": rng.uniform(west, east, n),
            "sessions_text": [f"{days[i % 5]} 10:00-12:00 (weekly)" for i in range(n)],
            "cost_text": rng.choice(["Free", "£2 a session", "Donation welcome"], n),
            "accessibility": [
                ("step_free", "accessible_toilet", "hearing_loop")[: 1 + i % 3] for i in range(n)
            ],
            "public_phone": [f"0121 496 {i % 10_000:04d}" for i in range(n)],
            "public_email": [f"group{i}@example.org" for i in range(n)],
            "website": [f"https://example.org/groups/{i}" for i in range(n)],
            "last_verified": pd.Timestamp("2025-01-15").date(),
            "private_address": rng.random(n) < 0.05,
            "stale": rng.random(n) < 0.1,
        }
    )


def ours(assets: pd.DataFrame) -> str:
    """Our map: one JSON payload, clustered circle markers built in the browser."""
    return render_map_html(build_assets_map(assets, mode="served"))


def one_marker_per_asset(assets: pd.DataFrame) -> str:
    """The usual folium way: a ``folium.Marker`` with popup and tooltip per asset, clustered."""
    m = folium.Map(location=[52.48, -1.89], zoom_start=11, tiles=None, max_zoom=19, maxZoom=19)
    configure_map(m, "served", cluster=True)
    cluster = MarkerCluster(name="Assets").add_to(m)
    cluster.default_js = []
    cluster.default_css = []
    for row in assets.itertuples(index=False):
        text = escape_html(row.name)
        folium.Marker(
            [row.lat, row.lon],
            popup=folium.Popup(
                f"<b>{text}</b><br>{escape_html(row.sessions_text)}<br>{escape_html(row.cost_text)}"
            ),
            tooltip=text,
        ).add_to(cluster)
    return m.get_root().render()


def _time(
    build: Callable[[pd.DataFrame], str], assets: pd.DataFrame, repeat: int
) -> tuple[float, float, int]:
    """Best wall-clock and CPU seconds over ``repeat`` runs, and the page size in bytes.

    The CPU time is reported too because the machine may be shared: wall time then
    includes waiting for the processor.
    """
    best_wall = best_cpu = float("inf")
    size = 0
    for _ in range(repeat):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        page = build(assets)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        size = len(page.encode("utf-8"))
    return best_wall, best_cpu, size


def run(
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000), peer_sizes: tuple[int, ...] = (1_000, 10_000)
) -> list[dict]:
    """Time both ways of building the map; one row per asset count.

    Returns
    -------
    Rows with operation, size (assets), ours_s, peer, peer_s, target (wall-clock seconds),
    plus ours_cpu_s/peer_cpu_s (CPU seconds) and the page sizes ours_mb/peer_mb; the peer's
    values are None where it was not run (too slow).
    """
    ours(synthetic_assets(10))  # warm imports and template compilation
    rows = []
    for n in sizes:
        assets = synthetic_assets(n)
        ours_s, ours_cpu, ours_bytes = _time(ours, assets, repeat=3 if n <= 10_000 else 1)
        peer_s = peer_cpu = peer_bytes = None
        if n in peer_sizes:
            peer_s, peer_cpu, peer_bytes = _time(one_marker_per_asset, assets, repeat=1)
        rows.append(
            {
                "operation": "asset map HTML (served mode)",
                "size": n,
                "ours_s": round(ours_s, 3),
                "ours_cpu_s": round(ours_cpu, 3),
                "ours_mb": round(ours_bytes / 1e6, 2),
                "peer": "one folium.Marker per asset",
                "peer_s": None if peer_s is None else round(peer_s, 3),
                "peer_cpu_s": None if peer_cpu is None else round(peer_cpu, 3),
                "peer_mb": None if peer_bytes is None else round(peer_bytes / 1e6, 2),
                "target": f"< {TARGET_SECONDS:g} s, < {TARGET_MB:g} MB" if n == 10_000 else "",
            }
        )
    return rows


def _format(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def main() -> None:
    rows = run()
    columns = [
        "operation",
        "size",
        "ours_s",
        "ours_cpu_s",
        "ours_mb",
        "peer",
        "peer_s",
        "peer_cpu_s",
        "peer_mb",
        "target",
    ]
    table = [[_format(row[column]) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in table)) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)))
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


if __name__ == "__main__":
    main()
