"""Nearby search and coverage rows selected by PostGIS, for app instances that hold no register index.

The default (``CAM_SPATIAL_BACKEND=memory``) keeps an in-memory index of the register in each
app process: fastest per query. With ``CAM_SPATIAL_BACKEND=database`` (PostgreSQL + PostGIS
only) these functions ask the database instead, through the store's engine and its tables:

- :func:`search` — the radius search: ``ST_DWithin`` on ``assets.geom`` (GiST index, kept in
  step with easting/northing by a trigger) and every filter of :class:`geo.nearby.NearbyQuery`
  in SQL; only the rows found cross the wire.
- :func:`coverage_frame` — the few columns coverage needs, of the records in the area's wards
  or within walking distance of its bounding box (GiST again), not of the whole register.
- :func:`ward_counts` — records per ward and per category, counted by ``GROUP BY``.

Both paths give the same answers: results are shaped by the same code (:func:`geo.nearby.search`
sorts, rounds distances and dates sessions; :func:`geo.coverage.compute_coverage` does the
arithmetic), and ``tests/test_spatial_db.py`` compares them on one database.

This module reads the store's tables through ``store.engine`` and reuses its row conversion
(``_to_asset_frame``), so records look exactly as :meth:`Store.assets_frame` gives them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from assets import permissions
from assets.errors import RegisterError
from assets.model import SYSTEM_ACTOR, Actor
from assets.store import _FRAME_SOURCE, ASSETS, Store, _to_asset_frame
from geo.coverage import CoverageResult
from geo.nearby import EVERYONE, STEP_FREE, NearbyIndex, NearbyQuery, NearbyResult
from geo.nearby import search as search_index

PUBLISHED = ("published",)
_GEOM = sa.literal_column("assets.geom")
# Session period as Session.period() defines it: hour < 12 morning, < 17 afternoon, else evening.
_PERIOD_SQL = (
    "CASE WHEN split_part(s.v->>'start', ':', 1)::int < 12 THEN 'morning' "
    "WHEN split_part(s.v->>'start', ':', 1)::int < 17 THEN 'afternoon' ELSE 'evening' END"
)


def require_postgis(store: Store) -> None:
    """Refuse a store that is not PostgreSQL (the database path needs PostGIS).

    Raises
    ------
    RegisterError
        The store is SQLite.
    """
    if store.dialect != "postgresql":
        msg = (
            f"CAM_SPATIAL_BACKEND=database needs PostgreSQL with PostGIS, but DATABASE_URL names a "
            f"{store.dialect} database; set DATABASE_URL=postgresql://... or unset CAM_SPATIAL_BACKEND"
        )
        raise RegisterError(msg)


@dataclass(frozen=True, eq=False)
class DatabaseNearby:
    """What a page caches instead of a :class:`~geo.nearby.NearbyIndex` on the database path.

    It holds no records: each search asks the database.
    """

    store: Store
    actor: Actor

    def __post_init__(self) -> None:
        require_postgis(self.store)


def _check_reader(store: Store, actor: Actor) -> None:
    """The store's rules for a read: the public only while the public view is on, a known role."""
    require_postgis(store)
    if actor.role == "public":
        permissions.admit(actor, store.public_view())
    permissions.authorise(actor, "read")


# --------------------------------------------------------------------------- nearby


def _jsonb(column: sa.ColumnElement) -> sa.ColumnElement:
    return sa.cast(column, postgresql.JSONB)


def _text_array(values: Iterable[str]) -> sa.ColumnElement:
    return postgresql.array([str(v) for v in values], type_=sa.Text)


def _sessions_condition(day: str | None, period: str | None) -> sa.TextClause | None:
    if day is None and period is None:
        return None
    # The same session must be on the day and at the time, as the in-memory bitmask requires.
    parts, params = [], {}
    if day is not None:
        parts.append("s.v->>'day' = :cam_day")
        params["cam_day"] = day
    if period is not None:
        parts.append(f"{_PERIOD_SQL} = :cam_period")
        params["cam_period"] = period
    sql = (
        "EXISTS (SELECT 1 FROM jsonb_array_elements(CAST(assets.sessions AS jsonb)) AS s(v) WHERE "
        + " AND ".join(parts)
        + ")"
    )
    return sa.text(sql).bindparams(**params)


def nearby_conditions(
    store: Store, actor: Actor, easting: float, northing: float, query: NearbyQuery
) -> list[sa.ColumnElement]:
    """SQL conditions for the published records within ``query.radius_m`` that pass its filters.

    The radius is widened by a hair, as the in-memory KD-tree query is; :func:`search` then
    applies the exact ``distance <= radius`` test to the few rows found.
    """
    column = ASSETS.c
    centre = sa.func.ST_SetSRID(sa.func.ST_MakePoint(float(easting), float(northing)), 27700)
    reach = query.radius_m * (1 + 1e-9) + 1e-6
    conditions: list[sa.ColumnElement] = [
        store._visible(actor, PUBLISHED),
        sa.func.ST_DWithin(_GEOM, centre, reach),
    ]
    if query.categories:
        conditions.append(_jsonb(column.categories).has_any(_text_array(query.categories)))
    if query.for_whom:
        wanted = sorted({*query.for_whom, EVERYONE})
        conditions.append(_jsonb(column.for_whom).has_any(_text_array(wanted)))
    sessions = _sessions_condition(query.day, query.time)
    if sessions is not None:
        conditions.append(sessions)
    if query.free_only:
        conditions.append(column.cost == "free")
    if query.step_free:
        conditions.append(_jsonb(column.accessibility).has_key(STEP_FREE))
    return conditions


def search(
    store: Store,
    actor: Actor,
    easting: float,
    northing: float,
    query: NearbyQuery | None = None,
    *,
    today: date,
) -> pd.DataFrame:
    """The published records near a point, found by PostGIS; the frame :func:`geo.nearby.search` gives.

    Parameters
    ----------
    store
        A PostgreSQL store.
    actor
        Who is searching (organisers' contacts are blank for those who may not see them).
    easting, northing
        The centre, British National Grid metres.
    query
        Radius and filters (default: one mile, no filters).
    today
        First date considered for ``next_dates``.

    Returns
    -------
    pandas.DataFrame
        Asset-frame rows within the radius, nearest first (to the metre, then by name), with
        ``distance_m``, ``walk_minutes`` and ``next_dates``.
    """
    _check_reader(store, actor)
    query = query or NearbyQuery()
    statement = (
        sa.select(*[ASSETS.c[name] for name in _FRAME_SOURCE])
        .where(*nearby_conditions(store, actor, easting, northing, query))
        # The store's own order: ties (same metre, same name) then fall as in the in-memory index.
        .order_by(ASSETS.c.name, ASSETS.c.id)
    )
    with store.engine.connect() as connection:
        rows = connection.execute(statement).all()
    found = _to_asset_frame(rows, actor)
    # Filters were applied by the database; what is left is the exact edge test, the sort,
    # walking times and next dates, done by the one definition of them.
    radius_only = NearbyQuery(radius_m=query.radius_m)
    return search_index(NearbyIndex.build(found), easting, northing, radius_only, today=today)


def _empty_index() -> NearbyIndex:
    # An empty asset frame: its columns only (the actor does not matter with no rows).
    return NearbyIndex.build(_to_asset_frame([], SYSTEM_ACTOR))


def locate_and_search(
    nearby: DatabaseNearby,
    gazetteer,
    query: NearbyQuery,
    *,
    text: str | None = None,
    point: tuple[float, float] | None = None,
    today: date,
) -> NearbyResult:
    """:func:`geo.nearby.find_nearby` / ``find_nearby_point`` with the records found by PostGIS.

    The centre, its label and every error about the postcode or point come from ``geo.nearby``
    itself (run over an empty index); the rows come from :func:`search`.
    """
    from geo.nearby import find_nearby, find_nearby_point

    empty = _empty_index()
    if point is not None:
        located = find_nearby_point(empty, point[0], point[1], query, today=today)
    else:
        located = find_nearby(empty, gazetteer, text or "", query, today=today)
    frame = search(
        nearby.store, nearby.actor, located.centre_easting, located.centre_northing, query, today=today
    )
    return replace(located, frame=frame)


# --------------------------------------------------------------------------- coverage


def _decoded_tuples(values: Sequence[str]) -> np.ndarray:
    cache = {text: tuple(json.loads(text or "[]")) for text in set(values)}
    return np.fromiter((cache[text] for text in values), dtype=object, count=len(values))


def coverage_frame(
    store: Store,
    actor: Actor,
    ward_codes: Iterable[str],
    bounds: tuple[float, float, float, float],
    walk_distance_m: float,
) -> pd.DataFrame:
    """The columns coverage reads, of the published records that can matter to an area.

    A record matters when its ward is one of the area's (it is counted) or it lies within
    ``walk_distance_m`` of the area's bounding box (it may cover the area's postcodes on foot,
    from either side of the boundary). Selected with the GiST index on ``assets.geom``.

    Parameters
    ----------
    ward_codes
        The area's ward codes.
    bounds
        xmin, ymin, xmax, ymax of the area's wards (British National Grid metres).
    walk_distance_m
        The walk-coverage distance.

    Returns
    -------
    pandas.DataFrame
        asset_id, ward_code, constituency_code, easting, northing, categories (tuples), status,
        last_verified; ordered by name then id, as the asset frame is.
    """
    _check_reader(store, actor)
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    pad = float(walk_distance_m)
    envelope = sa.func.ST_MakeEnvelope(xmin - pad, ymin - pad, xmax + pad, ymax + pad, 27700)
    column = ASSETS.c
    statement = (
        sa.select(
            column.id,
            column.ward_code,
            column.constituency_code,
            column.easting,
            column.northing,
            column.categories,
            column.status,
            column.last_verified,
        )
        .where(
            store._visible(actor, PUBLISHED),
            sa.or_(column.ward_code == sa.func.any(_text_array(ward_codes)), _GEOM.op("&&")(envelope)),
        )
        .order_by(column.name, column.id)
    )
    with store.engine.connect() as connection:
        rows = connection.execute(statement).all()
    ids, wards, constituencies, xs, ys, categories, statuses, verified = (
        list(values) for values in (zip(*rows, strict=True) if rows else [()] * 8)
    )
    return pd.DataFrame(
        {
            "asset_id": ids,
            "ward_code": wards,
            "constituency_code": constituencies,
            "easting": np.array(xs, dtype=float),
            "northing": np.array(ys, dtype=float),
            "categories": _decoded_tuples(categories),
            "status": statuses,
            "last_verified": np.fromiter(verified, dtype=object, count=len(verified)),
        }
    )


def register_counts(store: Store, actor: Actor, verified_since: date | None) -> dict[str, int]:
    """Published records in the whole register: in the frame, eligible, eligible without a location.

    The figures :func:`coverage_frame` leaves out, so that coverage's provenance notes
    ("assets outside the area", "without a location") read as they do on the memory path.
    """
    _check_reader(store, actor)
    column = ASSETS.c
    eligible = column.last_verified >= verified_since if verified_since is not None else sa.true()
    unlocated = sa.or_(column.easting.is_(None), column.northing.is_(None))
    statement = sa.select(
        sa.func.count(),
        sa.func.count().filter(eligible),
        sa.func.count().filter(sa.and_(eligible, unlocated)),
    ).where(store._visible(actor, PUBLISHED))
    with store.engine.connect() as connection:
        total, in_filter, without = connection.execute(statement).one()
    return {"in_frame": int(total), "eligible": int(in_filter), "without_location": int(without)}


def with_register_counts(result: CoverageResult, counts: dict[str, int]) -> CoverageResult:
    """``result``'s provenance counts restated for the whole register (see :func:`register_counts`)."""
    meta = dict(result.meta)
    meta["assets_in_frame"] = counts["in_frame"]
    meta["assets_excluded_unverified"] = counts["in_frame"] - counts["eligible"]
    meta["assets_outside_area"] = counts["eligible"] - int(meta["assets_counted"])
    meta["assets_without_location"] = counts["without_location"]
    return replace(result, meta=meta)


def ward_counts(store: Store, actor: Actor, ward_codes: Iterable[str], slugs: Sequence[str]) -> pd.DataFrame:
    """Published records per ward, in total and per category, counted by the database.

    An asset listing a category twice counts once in it, as in :func:`geo.coverage.compute_coverage`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ward_code (every code given, in the order given), columns assets_total and
        ``assets_<slug>`` for each slug.
    """
    _check_reader(store, actor)
    codes = list(dict.fromkeys(str(c) for c in ward_codes))
    visible = store._visible(actor, PUBLISHED)
    in_area = ASSETS.c.ward_code == sa.func.any(_text_array(codes))
    totals_sql = (
        sa.select(ASSETS.c.ward_code, sa.func.count()).where(visible, in_area).group_by(ASSETS.c.ward_code)
    )
    slug = sa.func.jsonb_array_elements_text(_jsonb(ASSETS.c.categories)).table_valued("value").lateral()
    distinct_slugs = sa.select(slug.c.value.label("slug")).distinct().lateral()
    by_category_sql = (
        sa.select(ASSETS.c.ward_code, distinct_slugs.c.slug, sa.func.count())
        .select_from(ASSETS.join(distinct_slugs, sa.true()))
        .where(visible, in_area, distinct_slugs.c.slug == sa.func.any(_text_array(slugs)))
        .group_by(ASSETS.c.ward_code, distinct_slugs.c.slug)
    )
    with store.engine.connect() as connection:
        totals = connection.execute(totals_sql).all()
        by_category = connection.execute(by_category_sql).all()
    columns = ["assets_total", *(f"assets_{s}" for s in slugs)]
    frame = pd.DataFrame(0, index=pd.Index(codes, name="ward_code"), columns=columns)
    for ward, count in totals:
        frame.loc[ward, "assets_total"] = int(count)
    for ward, name, count in by_category:
        frame.loc[ward, f"assets_{name}"] = int(count)
    return frame.astype(np.int64)
