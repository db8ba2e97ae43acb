"""Benchmark: ours against its peers in the same run, at 1,000 / 100,000 / 1,000,000 points or assets.

Data: real GB postcodes from Code-Point Open (the gazetteer); synthetic assets placed at real
postcodes (seeded); Birmingham's official 2018 wards from ``../shared/data``.

- Ward assignment of points (postcodes in the wards' bounding box): ours
  (:class:`geo.areas.PolygonIndex`, index built inside the timing) against ``geopandas.sjoin``,
  DuckDB spatial (``ST_Contains`` join; the extension file shipped in the pinned
  ``duckdb-extension-spatial`` package is LOADed) and PostGIS (``ST_Contains`` join, GiST index
  on the wards). The peers' data are loaded into their tables before the clock starts.
- Radius search, 1,609 m around real postcodes across GB: ours (the in-memory index the app
  builds, :func:`geo.nearby.search`) against the app's database path
  (:func:`assets.spatial_db.search`: PostGIS ``ST_DWithin`` with the filters in SQL, through
  the store's engine, giving the same frame), a bare ``ST_DWithin`` returning ids and distances
  only, and a numpy full scan.
- Coverage counts for Birmingham: ours (:func:`geo.coverage.compute_coverage`, which also works
  out walk coverage, rates and gaps) against a DuckDB and a PostGIS ``GROUP BY`` counting per
  ward and per category (what a database does), and the app's database path.

PostGIS rows need a server: ``BENCH_DATABASE_URL`` or ``TEST_DATABASE_URL`` (``eval "$(bash
.ci/start_postgres.sh)"``); without one they say "skipped: no server". A database is created
for the run and dropped after it. Sizes: ``BENCH_PEERS_SIZES=1000,100000`` (default all three);
queries per search case: ``BENCH_PEERS_QUERIES`` (default 200).

Run: ``.venv/bin/python -m bench peers``.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assets import spatial_db  # noqa: E402  (the bench wires the store like an entry point)
from assets.model import SYSTEM_ACTOR, session_to_dict  # noqa: E402
from assets.store import close_store, open_store  # noqa: E402
from bench.bench_areas import _sjoin  # noqa: E402
from bench.bench_nearby import _peer_search, synthetic_assets  # noqa: E402
from geo import nearby  # noqa: E402
from geo.areas import PolygonIndex  # noqa: E402
from geo.boundaries import BoundaryLayer, read_boundary_file  # noqa: E402
from geo.coverage import compute_coverage  # noqa: E402
from geo.gazetteer import load_gazetteer  # noqa: E402

warnings.filterwarnings("ignore", message=".*OSTN15.*")

SHARED = ROOT.parent / "shared" / "data"
WARDS = SHARED / "boundaries" / "wards_birmingham_2018_bsolmapr_epsg27700.geojson"
BIRMINGHAM = "E08000025"
SIZES = tuple(int(s) for s in os.environ.get("BENCH_PEERS_SIZES", "1000,100000,1000000").split(",") if s.strip())
QUERIES = int(os.environ.get("BENCH_PEERS_QUERIES", "200"))
RADIUS_M = 1609
TODAY = date(2026, 12, 1)
SEED = 20260101
SKIPPED = "skipped: no server"
# The taxonomy's slugs, as the synthetic assets of bench_nearby use them.
CATEGORIES = {
    slug: slug.replace("_", " ").capitalize()
    for slug in (
        "social_friendship", "physical_activity", "arts_crafts", "music", "faith", "learning_skills",
        "peer_support_wellbeing", "carers_support", "food_lunch_clubs", "advice_information",
        "volunteering", "digital_inclusion", "nature_gardening", "warm_spaces", "health_wellbeing",
    )
}


def _best(func: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - started)
    return best, result


def _repeats(n: int) -> int:
    return 3 if n <= 100_000 else 1


# A target's factor: ours must be at least this many times faster than the peer.
_FACTORS = {"ours <= fastest peer": 1.0, "ours >= 10x faster": 10.0}


def _row(operation: str, size: int, ours: float | None, peer: str, peer_s, target: str = "") -> dict:
    """One table row; a target with a factor says whether this run met it."""
    factor = _FACTORS.get(target)
    if factor is not None and isinstance(ours, float) and isinstance(peer_s, float):
        target = f"{target}: {'met' if ours * factor <= peer_s else 'MISSED'}"
    return {"operation": operation, "size": size, "ours_s": ours, "peer": peer, "peer_s": peer_s, "target": target}


# --------------------------------------------------------------------------- servers


def _server_url() -> str | None:
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or None


def _admin(server: str) -> sa.Engine:
    url = sa.make_url(server)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@contextmanager
def bench_database(server: str) -> Iterator[str]:
    """A fresh database on ``server`` for one run, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = _admin(server)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        close_store(url)
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def copy_frame(engine: sa.Engine, table: str, frame: pd.DataFrame) -> None:
    """Bulk-load a frame with PostgreSQL COPY (CSV), NULL for missing values."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="\\N")
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
            )
        raw.commit()
    finally:
        raw.close()


def _duckdb():
    """An in-memory DuckDB with the spatial extension from the pinned wheel (no download)."""
    import duckdb
    import duckdb_extension_spatial

    found = sorted(Path(duckdb_extension_spatial.__file__).parent.rglob("spatial.duckdb_extension"))
    if not found:
        msg = "duckdb-extension-spatial is installed but ships no spatial.duckdb_extension file"
        raise FileNotFoundError(msg)
    con = duckdb.connect()
    con.execute(f"LOAD '{found[-1]}'")
    return con


# --------------------------------------------------------------------------- ward assignment


def _ward_points(gazetteer, layer: BoundaryLayer, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` real postcode points (with repeats) drawn from the wards' bounding box."""
    xmin, ymin, xmax, ymax = shapely.total_bounds(layer.frame.geometry.to_numpy())
    x, y = gazetteer.easting, gazetteer.northing
    inside = np.flatnonzero(gazetteer.located & (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax))
    picked = np.random.default_rng(SEED).choice(inside, n)
    return x[picked].astype(float), y[picked].astype(float)


def _as_assignment(n: int, point: np.ndarray, ward: np.ndarray) -> np.ndarray:
    out = np.full(n, -1, dtype=np.int64)
    out[np.asarray(point, dtype=np.int64)] = np.asarray(ward, dtype=np.int64)
    return out


def _agreement(ours: np.ndarray, theirs: np.ndarray) -> str:
    differ = int((ours != theirs).sum())
    return "same wards for every point" if differ == 0 else f"differs on {differ:,} points (on ward edges)"


def ward_assignment(gazetteer, layer: BoundaryLayer, sizes, server: str | None, url: str | None) -> list[dict]:
    rows = []
    wkb = shapely.to_wkb(layer.frame.geometry.to_numpy())
    con = _duckdb()
    con.register("wards_frame", pd.DataFrame({"k": np.arange(len(wkb)), "wkb": list(wkb)}))
    con.execute("CREATE TABLE wards AS SELECT k, ST_GeomFromWKB(wkb) AS geom FROM wards_frame")
    engine = open_store(url).engine if url else None
    if engine is not None:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE bench_wards (k integer PRIMARY KEY, geom geometry(MultiPolygon, 27700))"
            )
            connection.execute(
                sa.text("INSERT INTO bench_wards VALUES (:k, ST_Multi(ST_GeomFromWKB(:wkb, 27700)))"),
                [{"k": int(k), "wkb": bytes(b)} for k, b in enumerate(wkb)],
            )
            connection.exec_driver_sql("CREATE INDEX ix_bench_wards ON bench_wards USING gist (geom)")
            connection.exec_driver_sql("ANALYZE bench_wards")
    operation = f"assign points to {len(layer.frame)} Birmingham wards"
    for n in sizes:
        x, y = _ward_points(gazetteer, layer, n)
        repeats = _repeats(n)
        ours_s, ours = _best(lambda x=x, y=y: PolygonIndex.from_layer(layer).assign(x, y), repeats)
        ours = np.asarray(ours)
        # The app builds a layer's index once and keeps it (geo.areas.layer_index); the database
        # peers below likewise have their tables loaded and indexed before the clock starts.
        built = PolygonIndex.from_layer(layer)
        prebuilt_s, _ = _best(lambda x=x, y=y, built=built: built.assign(x, y), repeats)
        preloaded = f"{operation} (index built / tables loaded beforehand)"
        sjoin_s, theirs = _best(lambda x=x, y=y: _sjoin(layer, x, y), repeats)
        rows.append(_row(f"{operation} (build + assign)", n, ours_s,
                         f"geopandas.sjoin ({_agreement(ours, np.asarray(theirs))})", sjoin_s, "ours <= fastest peer"))

        points = pd.DataFrame({"i": np.arange(n), "x": x, "y": y})
        con.register("points", points)
        con.execute("CREATE OR REPLACE TABLE pts AS SELECT i, ST_Point(x, y) AS geom FROM points")

        def duck(n: int = n) -> np.ndarray:
            got = con.execute(
                "SELECT p.i, min(w.k) AS k FROM pts p JOIN wards w ON ST_Contains(w.geom, p.geom) GROUP BY p.i"
            ).fetchnumpy()
            return _as_assignment(n, got["i"], got["k"])

        duck_s, theirs = _best(duck, repeats)
        rows.append(_row(preloaded, n, prebuilt_s, f"DuckDB spatial ST_Contains join ({_agreement(ours, theirs)})",
                         duck_s, "ours <= fastest peer"))

        if engine is None:
            rows.append(_row(preloaded, n, prebuilt_s, "PostGIS ST_Contains join + GiST", SKIPPED,
                             "ours <= fastest peer"))
            continue
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS bench_points")
            connection.exec_driver_sql("CREATE TABLE bench_points (i integer, x double precision, y double precision)")
        copy_frame(engine, "bench_points", points)
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE bench_points ADD COLUMN geom geometry(Point, 27700)")
            connection.exec_driver_sql("UPDATE bench_points SET geom = ST_SetSRID(ST_MakePoint(x, y), 27700)")
            connection.exec_driver_sql("ANALYZE bench_points")

        def postgis(n: int = n) -> np.ndarray:
            with engine.connect() as connection:
                got = connection.exec_driver_sql(
                    "SELECT p.i, min(w.k) FROM bench_points p JOIN bench_wards w "
                    "ON ST_Contains(w.geom, p.geom) GROUP BY p.i"
                ).all()
            got = np.array(got, dtype=np.int64).reshape(-1, 2)
            return _as_assignment(n, got[:, 0], got[:, 1])

        pg_s, theirs = _best(postgis, repeats)
        rows.append(_row(preloaded, n, prebuilt_s,
                         f"PostGIS ST_Contains join + GiST ({_agreement(ours, theirs)})", pg_s, "ours <= fastest peer"))
    con.close()
    if engine is not None:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS bench_points")
            connection.exec_driver_sql("DROP TABLE IF EXISTS bench_wards")
    return rows


# --------------------------------------------------------------------------- the register in PostGIS


def stored_rows(frame: pd.DataFrame, organisation_id: str, organisation_name: str) -> pd.DataFrame:
    """The synthetic assets as rows of the store's ``assets`` table (JSON text as the store writes it)."""
    json_text: dict[int, str] = {}

    def encode(value, as_sessions: bool) -> str:
        # The synthetic columns share a few hundred tuple objects: encode each once.
        key = id(value)
        if key not in json_text:
            items = [session_to_dict(s) for s in value] if as_sessions else list(value)
            json_text[key] = json.dumps(items)
        return json_text[key]

    return pd.DataFrame(
        {
            "id": frame["asset_id"],
            "name": frame["name"],
            "kind": frame["kind"],
            "categories": [encode(v, False) for v in frame["categories"]],
            "sessions": [encode(v, True) for v in frame["sessions"]],
            "cost": frame["cost"],
            "accessibility": [encode(v, False) for v in frame["accessibility"]],
            "for_whom": [encode(v, False) for v in frame["for_whom"]],
            "easting": frame["easting"],
            "northing": frame["northing"],
            "ward_code": frame["ward_code"],
            "status": "published",
            "organisation_id": organisation_id,
            "organisation_name": organisation_name,
            "version": 1,
            "last_verified": np.where(frame["stale"], None, "2026-10-01"),
        }
    )


# --------------------------------------------------------------------------- radius search


def _per_query(function, centres: np.ndarray) -> np.ndarray:
    times = np.empty(len(centres))
    for i, (x, y) in enumerate(centres):
        started = time.perf_counter()
        function(x, y)
        times[i] = time.perf_counter() - started
    return times


def _bare_dwithin(engine: sa.Engine, radius: float):
    statement = sa.text(
        "SELECT id, ST_Distance(geom, c) AS d FROM assets, "
        "(SELECT ST_SetSRID(ST_MakePoint(:x, :y), 27700) AS c) AS centre "
        "WHERE status = 'published' AND ST_DWithin(geom, c, :r) ORDER BY d"
    )

    def run(x: float, y: float) -> list:
        with engine.connect() as connection:
            return connection.execute(statement, {"x": float(x), "y": float(y), "r": radius}).all()

    return run


def radius_search(store, frame: pd.DataFrame, n: int, centres: np.ndarray) -> list[dict]:
    """Search ``centres`` with the first ``n`` assets loaded; rows for each peer and case."""
    rows = []
    started = time.perf_counter()
    index = nearby.NearbyIndex.build(store.assets_frame(SYSTEM_ACTOR, statuses=("published",)))
    build_s = time.perf_counter() - started
    rows.append(_row("radius search: in-memory index built from the store (assets_frame + build)", n, build_s,
                     "database path (no index to build)", None))
    cases = (
        ("no filter", nearby.NearbyQuery(radius_m=RADIUS_M)),
        ("category + day", nearby.NearbyQuery(radius_m=RADIUS_M, categories=("music",), day="TU")),
    )
    bare = _bare_dwithin(store.engine, RADIUS_M)
    for label, query in cases:
        for x, y in centres[:5]:  # same answers before timing
            ours = nearby.search(index, x, y, query, today=TODAY)
            theirs = spatial_db.search(store, SYSTEM_ACTOR, x, y, query, today=TODAY)
            if ours["asset_id"].tolist() != theirs["asset_id"].tolist():
                msg = f"in-memory and database searches disagree at ({x}, {y}) for {label}"
                raise AssertionError(msg)
        found = [len(nearby.search(index, x, y, query, today=TODAY)) for x, y in centres]
        ours_t = _per_query(lambda x, y, q=query: nearby.search(index, x, y, q, today=TODAY), centres)
        peers = [
            ("PostGIS ST_DWithin + filters in SQL, app's database path (spatial_db.search)",
             lambda x, y, q=query: spatial_db.search(store, SYSTEM_ACTOR, x, y, q, today=TODAY), "ours >= 10x faster"),
            ("numpy full scan + same filters and result frame",
             lambda x, y, q=query: _peer_search(index, x, y, q, TODAY), ""),
        ]
        if label == "no filter":
            peers.insert(1, ("PostGIS ST_DWithin alone (ids + distances, no filters, no frame)", bare,
                             "ours >= 10x faster"))
        operation = f"radius search {RADIUS_M} m, {label}, p50 of {len(centres)} queries (median {int(np.median(found))} found)"
        for peer, function, target in peers:
            peer_t = _per_query(function, centres)
            rows.append(_row(operation, n, float(np.median(ours_t)), peer, float(np.median(peer_t)),
                             target if n >= 1_000_000 else ""))
    return rows


# --------------------------------------------------------------------------- coverage counts


def _duckdb_counts(con) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-ward totals and per-category counts of the registered ``counts`` frame, in ``wanted`` wards."""
    totals = con.execute(
        "SELECT ward_code, count(*) AS n FROM counts SEMI JOIN wanted ON ward_code = code GROUP BY ward_code"
    ).df()
    by_category = con.execute(
        "SELECT ward_code, slug, count(*) AS n FROM ("
        " SELECT ward_code, unnest(list_distinct(categories)) AS slug FROM counts"
        " SEMI JOIN wanted ON ward_code = code) GROUP BY ward_code, slug"
    ).df()
    return totals, by_category


def coverage_counts(store, frame: pd.DataFrame, n: int, gazetteer, layer: BoundaryLayer) -> list[dict]:
    rows = []
    codes = layer.frame["code"].astype(str).tolist()
    repeats = _repeats(n)

    def ours_memory():
        return compute_coverage(frame, layer, gazetteer=gazetteer, area_code=BIRMINGHAM, categories=CATEGORIES,
                                today=TODAY)

    ours_memory()  # the layer's polygon index is built once per process, as in the app
    ours_s, result = _best(ours_memory, repeats)
    expected = result.wards.set_index("ward_code")[["assets_total", *(f"assets_{s}" for s in CATEGORIES)]]
    operation = f"coverage counts, Birmingham's {len(codes)} wards (ours: compute_coverage incl. walk coverage)"
    target = "< 2 s" if n <= 100_000 else ""

    con = _duckdb()
    con.register("counts", frame[["ward_code", "categories"]].assign(categories=[list(c) for c in frame["categories"]]))
    con.register("wanted", pd.DataFrame({"code": codes}))
    duck_s, (totals, by_category) = _best(lambda: _duckdb_counts(con), repeats)
    con.close()
    duck = by_category.pivot_table(index="ward_code", columns="slug", values="n", aggfunc="sum", fill_value=0)
    duck = duck.reindex(index=expected.index, columns=list(CATEGORIES), fill_value=0).add_prefix("assets_")
    duck.insert(0, "assets_total", totals.set_index("ward_code")["n"].reindex(expected.index, fill_value=0))
    agree = "same counts" if (duck.to_numpy() == expected.to_numpy()).all() else "COUNTS DIFFER"
    rows.append(_row(operation, n, ours_s, f"DuckDB GROUP BY ward, category (in memory; {agree})", duck_s, target))
    if store is None:
        rows.append(_row(operation, n, ours_s, "PostGIS GROUP BY ward, category", SKIPPED, target))
        return rows
    pg_s, counts = _best(lambda: spatial_db.ward_counts(store, SYSTEM_ACTOR, codes, list(CATEGORIES)), repeats)
    agree = "same counts" if counts.reindex(expected.index).equals(expected) else "COUNTS DIFFER"
    rows.append(_row(operation, n, ours_s, f"PostgreSQL GROUP BY ward, category (spatial_db.ward_counts; {agree})",
                     pg_s, target))

    def database_path():
        narrow = spatial_db.coverage_frame(store, SYSTEM_ACTOR, codes, layer.frame.total_bounds, 800)
        return compute_coverage(narrow, layer, gazetteer=gazetteer, area_code=BIRMINGHAM, categories=CATEGORIES,
                                today=TODAY)

    db_s, db_result = _best(database_path, repeats)
    same = db_result.wards.equals(result.wards)
    rows.append(_row(operation, n, ours_s,
                     f"app's database path: GiST selection + compute_coverage ({'same result' if same else 'RESULT DIFFERS'})",
                     db_s, target))
    return rows


# --------------------------------------------------------------------------- run


def run(sizes=SIZES, queries: int = QUERIES) -> list[dict]:
    """Every comparison at every size; rows {operation, size, ours_s, peer, peer_s, target}."""
    sizes = tuple(sorted(sizes))
    gazetteer = load_gazetteer()
    layer = read_boundary_file(WARDS, "ward")
    server = _server_url()
    rows: list[dict] = []
    with bench_database(server) if server else _no_database() as url:
        rows += ward_assignment(gazetteer, layer, sizes, server, url)
        frame, points = synthetic_assets(max(sizes), seed=SEED)
        frame["ward_code"] = gazetteer.ward_code[gazetteer.nearest(frame["easting"], frame["northing"])[0]]
        # Birmingham gets its share of a GB-wide register; coverage is measured on a register
        # with the same number of assets, all in Birmingham, placed at its real postcodes.
        centres = points[np.random.default_rng(SEED + 1).integers(0, len(points), queries)]
        store = open_store(url) if url else None
        loaded = 0
        for n in sizes:
            if store is None:
                rows.append(_row("radius search (PostGIS peers)", n, None, "PostGIS ST_DWithin", SKIPPED))
                continue
            organisation = store.default_organisation(SYSTEM_ACTOR)
            copy_frame(store.engine, "assets", stored_rows(frame.iloc[loaded:n], organisation.id, organisation.name))
            loaded = n
            with store.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE assets")
            rows += radius_search(store, frame, n, centres)
        if store is not None:
            with store.engine.begin() as connection:
                connection.exec_driver_sql("TRUNCATE assets CASCADE")
        brum = np.flatnonzero(gazetteer.district_mask(BIRMINGHAM) & gazetteer.located)
        loaded = 0
        for n in sizes:
            picked = np.random.default_rng(SEED + 2).choice(brum, max(sizes))[:n]
            cov = frame.iloc[:n].copy()
            cov["easting"] = gazetteer.easting[picked]
            cov["northing"] = gazetteer.northing[picked]
            cov["ward_code"] = gazetteer.ward_code[picked]
            cov["status"] = "published"
            if store is not None:
                organisation = store.default_organisation(SYSTEM_ACTOR)
                copy_frame(store.engine, "assets", stored_rows(cov.iloc[loaded:n], organisation.id, organisation.name))
                loaded = n
                with store.engine.connect() as connection:
                    connection.exec_driver_sql("ANALYZE assets")
            rows += coverage_counts(store, cov, n, gazetteer, layer)
    return rows


@contextmanager
def _no_database() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    from bench.__main__ import table

    print(table(run()))
