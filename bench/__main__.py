"""Run every benchmark under bench/ and print one table (``make bench`` / ``python -m bench``).

Columns: operation, size, our time, the peer measured in the same run, the ratio, the
target. Rows a benchmark could not run (for example PostGIS with no server) say why.
Pass module names to run only some: ``python -m bench gazetteer areas``.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

warnings.filterwarnings("ignore", message=".*OSTN15.*")

HERE = Path(__file__).resolve().parent


def _fmt_s(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _size(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value or "")


def table(rows: list[dict]) -> str:
    headers = ["operation", "size", "ours", "peer", "peer time", "ratio", "target"]
    lines = []
    for row in rows:
        ours, peer_s = row.get("ours_s"), row.get("peer_s")
        ratio = ""
        if isinstance(ours, (int, float)) and isinstance(peer_s, (int, float)) and ours > 0:
            ratio = f"{peer_s / ours:.1f}x faster" if peer_s >= ours else f"{ours / peer_s:.1f}x slower"
        lines.append(
            [str(row.get("operation", "")), _size(row.get("size")), _fmt_s(ours), str(row.get("peer") or ""),
             _fmt_s(peer_s), ratio, str(row.get("target") or "")]
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headers)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    return "\n".join(out)


def versions() -> str:
    """The libraries (and the PostgreSQL server, when one is named) the figures were measured with."""
    from importlib import metadata

    parts = []
    for name in ("geopandas", "shapely", "pyproj", "numpy", "pandas", "scipy", "duckdb", "SQLAlchemy", "psycopg2-binary"):
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if not server:
        return ", ".join(parts) + "; PostgreSQL: no server (PostGIS rows skipped)"
    import sqlalchemy as sa

    url = sa.make_url(server)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            pg = connection.exec_driver_sql("SHOW server_version").scalar_one()
            postgis = connection.exec_driver_sql(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'"
            ).scalar()
    except sa.exc.OperationalError as exc:
        return ", ".join(parts) + f"; PostgreSQL at {url.render_as_string()} unreachable: {exc.orig}"
    finally:
        engine.dispose()
    return ", ".join(parts) + f"; PostgreSQL {pg}, PostGIS {postgis or 'not installed'}"


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    rows: list[dict] = []
    print(f"# Benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
          f"{platform.machine()}, {sys.platform}, {os.cpu_count()} CPUs")
    print(f"# {versions()}")
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        started = time.perf_counter()
        print(f"running {name}…", file=sys.stderr, flush=True)
        rows.extend(module.run())
        print(f"  {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
