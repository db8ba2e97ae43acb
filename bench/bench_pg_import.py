"""Benchmark: importing a spreadsheet into PostgreSQL, against a bare COPY of the same rows.

The same synthetic CSV as ``bench_import`` (rows at real Birmingham postcodes, seeded) is
imported end to end by the app's importer (read, validate, geocode, assign wards, dedupe,
store in one transaction with an audit row per record) into a fresh PostgreSQL + PostGIS
database, and loaded by a bare ``COPY ... FROM STDIN (FORMAT csv)`` into a plain table of
text columns (no checks, no geography, no audit): the floor any importer sits on.

The importer's stages are timed separately (read; preview = validate + geocode + assign +
dedupe; commit = the store's transaction) so a miss says where the time goes.

Needs a server: ``BENCH_DATABASE_URL`` or ``TEST_DATABASE_URL``; without one the row says
"skipped: no server". Sizes: ``BENCH_PG_IMPORT_SIZES`` (default 100000, which keeps ``make
bench`` within about 30 minutes on 2 cores; the issue's 1,000,000 rows run with
``BENCH_PG_IMPORT_SIZES=1000000 python -m bench pg_import``).
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_import import make_sheet  # noqa: E402
from bench.bench_peers import SKIPPED, _server_url, bench_database  # noqa: E402

SIZES = tuple(int(s) for s in os.environ.get("BENCH_PG_IMPORT_SIZES", "100000").split(",") if s.strip())
TARGETS = {1_000_000: "< 60 s"}


def copy_only(data: bytes, url: str) -> float:
    """Seconds to COPY the CSV's rows into a plain table of text columns."""
    from assets.store import open_store

    engine = open_store(url).engine
    header = data.split(b"\n", 1)[0].decode("utf-8").strip().split(",")
    columns = [f"c{i}" for i in range(len(header))]
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE bare_copy ({', '.join(f'{c} text' for c in columns)})")
    raw = engine.raw_connection()
    try:
        started = time.perf_counter()
        with raw.cursor() as cursor:
            cursor.copy_expert("COPY bare_copy FROM STDIN WITH (FORMAT csv, HEADER true)", io.BytesIO(data))
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def import_stages(data: bytes, url: str) -> dict:
    """The importer end to end, with each stage's seconds."""
    from assets.geography import area_geography
    from assets.importer import commit_import, preview_import
    from assets.model import SYSTEM_ACTOR
    from assets.store import open_store
    from assets.tabular import Limits, read_table
    from geo.gazetteer import load_gazetteer
    from settings import get_settings

    gazetteer = load_gazetteer(get_settings().codepoint_zip)
    store = open_store(url)
    geography = area_geography(store, SYSTEM_ACTOR, "E08000025", gazetteer)
    limits = Limits(max_bytes=1 << 31, max_rows=2_000_000, max_uncompressed_bytes=1 << 31, max_entries=1000)
    t0 = time.perf_counter()
    table = read_table(data, "bench.csv", limits=limits)
    t1 = time.perf_counter()
    preview = preview_import(store, SYSTEM_ACTOR, table, gazetteer=gazetteer, geography=geography)
    t2 = time.perf_counter()
    summary = commit_import(store, SYSTEM_ACTOR, preview)
    t3 = time.perf_counter()
    return {"read": t1 - t0, "preview": t2 - t1, "commit": t3 - t2, "total": t3 - t0, "summary": summary.line()}


def run(sizes=SIZES) -> list[dict]:
    server = _server_url()
    rows = []
    for n in sizes:
        operation = f"import spreadsheet → PostgreSQL+PostGIS, {n:,} rows"
        target = TARGETS.get(n, "")
        if not server:
            rows.append({"operation": operation, "size": n, "ours_s": None, "peer": "bare COPY", "peer_s": SKIPPED,
                         "target": target})
            continue
        data = make_sheet(n)
        with bench_database(server) as url:
            peer_s = copy_only(data, url)
        with bench_database(server) as url:
            stages = import_stages(data, url)
        verdict = ""
        if target:
            verdict = f"{target}: {'met' if stages['total'] < 60 else 'MISSED'}"
        rows.append({
            "operation": f"{operation} (read {stages['read']:.0f} s, validate+geocode+assign+dedupe "
                         f"{stages['preview']:.0f} s, store {stages['commit']:.0f} s; {stages['summary']})",
            "size": n,
            "ours_s": stages["total"],
            "peer": "bare COPY of the same CSV rows into text columns",
            "peer_s": peer_s,
            "target": verdict,
        })
    return rows


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run()))
