"""Find community options near a person: a radius search over the asset frame with filters.

A practitioner enters the person's postcode (full, sector such as ``"B13 9"`` or outward code
such as ``"B13"``) or clicks the map; :func:`find_nearby` / :func:`find_nearby_point` return the
assets within the radius that fit the filters, nearest first, with walking time and the next
dates they meet.

The index (:class:`NearbyIndex`) is built once per asset frame: a KD-tree over easting and
northing (British National Grid metres) plus, as numpy arrays, everything a filter needs
(category, day-and-period and for-whom bitmasks, free and step-free flags). A query is then a
ball query, one vectorised mask and a sort of the few rows left: well under 20 ms at
1,000,000 assets (see ``bench/bench_nearby.py``).

Privacy: the person's postcode is personal data. Nothing here logs, stores or returns it: a
:class:`NearbyResult` holds the search centre and only the postcode *sector* (or the outward
code, or "the point chosen on the map") as its label. There is deliberately no logging call in
this module.

``geo`` never imports ``assets``: the session objects in the ``sessions`` column are used by
duck typing (``day``, ``start``, ``period()``, ``next_dates(start, count)``), and labels for
categories and accessibility features are passed in by the caller.
"""

from __future__ import annotations

import enum
import itertools
import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.spatial import cKDTree

from geo.dates import months_before
from geo.errors import GeoError
from geo.gazetteer import Gazetteer, to_bng
from geo.postcodes import PostcodeKind

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
PERIODS = ("morning", "afternoon", "evening")
MILE_M = 1609
DEFAULT_RADIUS_M = MILE_M
# The largest radius a search accepts: a practitioner's search is local, and a ball query over
# most of the country would return (and sort, and date) hundreds of thousands of rows.
MAX_RADIUS_M = 50_000
WALK_M_PER_MINUTE = 80
# Streets are not straight lines: the walking route is taken as 1.3 times the crow-fly distance.
DETOUR_FACTOR = 1.3
NEXT_DATES = 3
ANY = "any"
# An asset "for everyone" fits whoever the practitioner is searching for.
EVERYONE = "everyone"
STEP_FREE = "step_free"
MAP_POINT_LABEL = "the point chosen on the map"
# Rough bounds of Great Britain in WGS84, to catch swapped or mistyped map coordinates.
_GB_LAT = (49.5, 61.0)
_GB_LON = (-8.8, 2.1)

_DAY_BIT = {day: i for i, day in enumerate(DAYS)}
_PERIOD_BIT = {period: i for i, period in enumerate(PERIODS)}
_SESSION_KEY = operator.attrgetter("day", "start")


class CentreKind(enum.Enum):
    """What the search centre is."""

    FULL = "full postcode"
    SECTOR = "postcode sector"
    OUTWARD = "outward code"
    POINT = "map point"


_CENTRE_KINDS = {
    PostcodeKind.FULL: CentreKind.FULL,
    PostcodeKind.SECTOR: CentreKind.SECTOR,
    PostcodeKind.OUTWARD: CentreKind.OUTWARD,
}


# --------------------------------------------------------------------------- the query


def _as_tuple(value: object, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    # A single slug passed as a string would otherwise be read as a tuple of its letters.
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, Iterable):
        msg = f"search filter {name}={value!r} must be a list of slugs, e.g. ('music',)"
        raise GeoError(msg)
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class NearbyQuery:
    """What the practitioner is looking for.

    Parameters
    ----------
    radius_m
        Search radius in metres (default one mile, 1,609 m); an asset exactly on the edge is in.
    categories
        Category slugs; an asset with any of them matches (empty: any category).
    day
        ``"MO"`` .. ``"SU"``: only assets with a regular session on that day.
    time
        ``"morning"`` (starts before 12:00), ``"afternoon"`` (12:00–16:59) or ``"evening"``
        (from 17:00): only assets with a session starting then. With ``day`` as well, the same
        session must be on that day at that time.
    free_only
        Only assets whose cost is ``"free"``.
    step_free
        Only assets listing step-free access.
    for_whom
        Who the option is for; an asset with any of them, or marked "everyone", matches.

    Notes
    -----
    Assets that meet "by arrangement" and have no regular sessions do not match a day or time
    filter: the filter keeps only assets with a session on that day or at that time. Without a
    day or time filter they are listed like any other.
    """

    radius_m: float = DEFAULT_RADIUS_M
    categories: tuple[str, ...] = ()
    day: str | None = None
    time: str | None = None
    free_only: bool = False
    step_free: bool = False
    for_whom: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            radius = float(self.radius_m)
        except (TypeError, ValueError) as exc:
            msg = f"search radius {self.radius_m!r} is not a number of metres; give e.g. 1609 for one mile"
            raise GeoError(msg) from exc
        if not math.isfinite(radius) or radius <= 0 or radius > MAX_RADIUS_M:
            msg = (
                f"search radius {self.radius_m!r} m is out of range; give a distance above 0 and "
                f"at most {MAX_RADIUS_M:,} m (one mile is 1609)"
            )
            raise GeoError(msg)
        day = self.day.strip().upper() if isinstance(self.day, str) and self.day.strip() else None
        if day is not None and day not in _DAY_BIT:
            msg = f"search day {self.day!r} is not one of {', '.join(DAYS)}; pick a day such as 'MO'"
            raise GeoError(msg)
        time = self.time.strip().lower() if isinstance(self.time, str) and self.time.strip() else None
        if time is not None and time not in _PERIOD_BIT:
            msg = f"search time {self.time!r} is not one of {', '.join(PERIODS)}; pick one of those or none"
            raise GeoError(msg)
        # Frozen: normalise through object.__setattr__, as dataclasses document.
        object.__setattr__(self, "radius_m", radius)
        object.__setattr__(self, "day", day)
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "categories", _as_tuple(self.categories, "categories"))
        object.__setattr__(self, "for_whom", _as_tuple(self.for_whom, "for_whom"))
        object.__setattr__(self, "free_only", bool(self.free_only))
        object.__setattr__(self, "step_free", bool(self.step_free))


# --------------------------------------------------------------------------- the index


def _row_label(frame: pd.DataFrame, position: int) -> str:
    if "asset_id" in frame.columns:
        return f"asset {frame['asset_id'].iloc[position]!r}"
    return f"row {position + 1}"


def _object_array(values: list[Any]) -> np.ndarray:
    """A 1-D object array of ``values`` (``np.array`` would turn equal-length tuples into 2-D)."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


@dataclass(frozen=True)
class _Distinct:
    """A column of sequences as codes into its distinct values (most rows share a few)."""

    codes: np.ndarray  # int64 per row, into ``values``
    values: list[tuple[Any, ...]]  # the distinct sequences; the last one is () (None/NaN rows)


def _distinct_sequences(frame: pd.DataFrame, column: str) -> _Distinct:
    """Factorize a column of tuples, so per-value Python work runs once per distinct tuple.

    Hashing a tuple is done in C by pandas, which is what makes a 1,000,000-row build fast;
    lists (unhashable) are turned into tuples first.
    """
    if column not in frame.columns:
        return _Distinct(np.zeros(len(frame), dtype=np.int64), [()])
    values = frame[column].to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:
        values = _object_array([tuple(v) if isinstance(v, list) else v for v in values])
        codes, uniques = pd.factorize(values)
    distinct: list[tuple[Any, ...]] = []
    for u, value in enumerate(uniques):
        if isinstance(value, tuple):
            distinct.append(value)
        elif isinstance(value, str) or not isinstance(value, Iterable):
            position = int(np.argmax(codes == u))
            msg = (
                f"{_row_label(frame, position)}: column {column!r} holds {value!r}, not a tuple; "
                "the asset frame from the store gives tuples"
            )
            raise GeoError(msg)
        else:
            distinct.append(tuple(value))
    distinct.append(())
    codes = np.where(codes < 0, len(distinct) - 1, codes).astype(np.int64)
    return _Distinct(codes, distinct)


def _tag_masks(frame: pd.DataFrame, column: str) -> tuple[dict[str, int], np.ndarray]:
    """A uint64 bitmask per row over the slugs found in ``column`` (a tuple of slugs per row)."""
    distinct = _distinct_sequences(frame, column)
    bits: dict[str, int] = {}
    unique_masks = np.zeros(len(distinct.values), dtype=np.uint64)
    for u, slugs in enumerate(distinct.values):
        mask = 0
        for slug in slugs:
            mask |= 1 << bits.setdefault(str(slug), len(bits))
        if len(bits) > 64:
            msg = (
                f"column {column!r} has more than 64 different values; the search index holds at "
                "most 64 (the taxonomy has far fewer): check the values are slugs from the taxonomy"
            )
            raise GeoError(msg)
        unique_masks[u] = mask
    return bits, unique_masks[distinct.codes]


def _encode(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Dictionary-encode strings (``-1`` for ``None``), in order of first appearance, in C."""
    encoded = pa.array(values, type=pa.string()).dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(codes), -1, codes).astype(np.int64) if codes.dtype.kind == "f" else codes
    return codes.astype(np.int64, copy=False), encoded.dictionary.to_pylist()


def _session_masks(frame: pd.DataFrame) -> np.ndarray:
    """A uint32 bitmask per row: bit ``day * 3 + period`` for each of its sessions.

    Sessions are read attribute by attribute over the flattened column and the days and start
    times factorized: hashing a million session records (a Python ``__hash__`` each) would take
    several times longer. ``period()`` runs once per distinct start time.
    """
    masks = np.zeros(len(frame), dtype=np.uint32)
    if "sessions" not in frame.columns:
        return masks
    values = frame["sessions"].to_numpy(dtype=object)
    try:
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    except TypeError:  # None or NaN for "no sessions" (or a value that is not a sequence)
        values = _object_array([v if isinstance(v, tuple | list | str) else () for v in values])
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    flat = list(itertools.chain.from_iterable(values))
    if not flat:
        return masks
    owners = np.repeat(np.arange(len(values), dtype=np.int64), lengths)

    def bad(position: int, what: str) -> GeoError:
        session = flat[position]
        msg = (
            f"{_row_label(frame, int(owners[position]))}: session {session!r} cannot be searched "
            f"({what}); sessions need a day ({', '.join(DAYS)}) and a start time HH:MM"
        )
        return GeoError(msg)

    try:
        day_codes, day_values = _encode([session.day for session in flat])
        start_codes, start_values = _encode([session.start for session in flat])
    except AttributeError as exc:
        position = next(i for i, session in enumerate(flat) if not hasattr(session, "day"))
        raise bad(position, "not a Session record") from exc
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        position = next(
            i for i, s in enumerate(flat) if not (isinstance(s.day, str) and isinstance(s.start, str))
        )
        raise bad(position, "day and start must be text") from exc
    for codes in (day_codes, start_codes):
        if (codes < 0).any():
            raise bad(int(np.argmax(codes < 0)), "no day or start time")
    day_bits = np.empty(len(day_values), dtype=np.int64)
    for u, day in enumerate(day_values):
        if day not in _DAY_BIT:
            raise bad(int(np.argmax(day_codes == u)), f"day {day!r}")
        day_bits[u] = _DAY_BIT[day]
    # factorize numbers values in order of first appearance, so the running maximum of the codes
    # steps up by one exactly where each start time first occurs.
    first = np.searchsorted(np.maximum.accumulate(start_codes), np.arange(len(start_values)))
    period_bits = np.empty(len(start_values), dtype=np.int64)
    for u, position in enumerate(first):
        try:
            period = flat[position].period()
        except (ValueError, IndexError, TypeError) as exc:
            raise bad(int(position), f"start {start_values[u]!r}: {exc}") from exc
        if period not in _PERIOD_BIT:
            raise bad(int(position), f"period {period!r}")
        period_bits[u] = _PERIOD_BIT[period]
    bits = np.left_shift(np.uint32(1), (day_bits[day_codes] * 3 + period_bits[start_codes]).astype(np.uint32))
    np.bitwise_or.at(masks, owners, bits)
    return masks


def _query_bits(day: str | None, time: str | None) -> int:
    """The session bits that satisfy a day and/or time filter (0 when neither is set)."""
    if day is None and time is None:
        return 0
    days = [_DAY_BIT[day]] if day is not None else range(len(DAYS))
    periods = [_PERIOD_BIT[time]] if time is not None else range(len(PERIODS))
    return sum(1 << (d * 3 + p) for d in days for p in periods)


def _any_of(vocabulary: Mapping[str, int], slugs: Iterable[str]) -> np.uint64:
    # A slug no asset has gets no bit, so it matches nothing (rather than everything).
    return np.uint64(sum(1 << vocabulary[s] for s in set(slugs) if s in vocabulary))


@dataclass
class _DatesCache:
    """Sessions' next dates from one day, by session object id and by session value."""

    by_id: dict[int, tuple[date, ...]] = field(default_factory=dict)
    by_value: dict[Any, tuple[date, ...]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class NearbyIndex:
    """A spatial index over the located rows of an asset frame, with filter arrays.

    Build it with :meth:`build`; it is immutable and safe to share between threads (a
    Streamlit page can keep one per data version in ``st.cache_resource``).
    """

    frame: pd.DataFrame  # the located rows of the asset frame, index 0..n-1
    tree: cKDTree
    points: np.ndarray  # (n, 2) easting, northing
    category_bits: Mapping[str, int]
    categories: np.ndarray  # uint64
    for_whom_bits: Mapping[str, int]
    for_whom: np.ndarray  # uint64
    sessions: np.ndarray  # uint32, bit day * 3 + period
    free: np.ndarray  # bool
    step_free: np.ndarray  # bool
    excluded: int = 0  # rows of the input without coordinates
    # Next dates of sessions from one day, kept for that day (see _dates_column).
    _dates: dict[date, _DatesCache] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, assets: pd.DataFrame) -> NearbyIndex:
        """Index the asset frame (see docs/INTERFACES.md, "The asset frame").

        Rows without a finite easting and northing are left out (counted in ``excluded``).

        Raises
        ------
        GeoError
            The frame lacks easting/northing, or a row holds values the filters cannot read.
        """
        missing = [c for c in ("easting", "northing") if c not in assets.columns]
        if missing:
            msg = f"the asset frame has no {' or '.join(missing)} column; pass the frame from the store"
            raise GeoError(msg)
        x = pd.to_numeric(assets["easting"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        y = pd.to_numeric(assets["northing"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        located = np.isfinite(x) & np.isfinite(y)
        frame = assets.loc[located] if not located.all() else assets
        frame = frame.reset_index(drop=True)
        points = np.column_stack([x[located], y[located]])
        # An unbalanced, non-compact tree builds about three times faster (0.34 s against 0.98 s
        # of CPU for 1,000,000 postcode points); ball queries over evenly spread points do not suffer.
        tree = cKDTree(points, balanced_tree=False, compact_nodes=False)
        category_bits, categories = _tag_masks(frame, "categories")
        for_whom_bits, for_whom = _tag_masks(frame, "for_whom")
        access_bits, access = _tag_masks(frame, "accessibility")
        step_bit = access_bits.get(STEP_FREE)
        step_free = (
            (access & np.uint64(1 << step_bit)) != 0 if step_bit is not None else np.zeros(len(frame), bool)
        )
        free = (
            (frame["cost"] == "free").to_numpy(dtype=bool, na_value=False)
            if "cost" in frame.columns
            else np.zeros(len(frame), dtype=bool)
        )
        return cls(
            frame=frame,
            tree=tree,
            points=points,
            category_bits=category_bits,
            categories=categories,
            for_whom_bits=for_whom_bits,
            for_whom=for_whom,
            sessions=_session_masks(frame),
            free=free,
            step_free=step_free,
            excluded=int((~located).sum()),
        )

    def __len__(self) -> int:
        return len(self.frame)

    def dates_cache(self, today: date) -> _DatesCache:
        """The next-dates cache for ``today`` (another day's is dropped)."""
        cache = self._dates.get(today)
        if cache is None:
            # Concurrent searches may both start a fresh cache: the cost is a recomputation.
            self._dates.clear()
            cache = self._dates.setdefault(today, _DatesCache())
        return cache

    def mask(self, rows: np.ndarray, query: NearbyQuery) -> np.ndarray:
        """Which of ``rows`` (positions in :attr:`frame`) pass the query's filters."""
        keep = np.ones(len(rows), dtype=bool)
        if query.categories:
            keep &= (self.categories[rows] & _any_of(self.category_bits, query.categories)) != 0
        if query.for_whom:
            wanted = set(query.for_whom) | {EVERYONE}
            keep &= (self.for_whom[rows] & _any_of(self.for_whom_bits, wanted)) != 0
        bits = _query_bits(query.day, query.time)
        if bits:
            keep &= (self.sessions[rows] & np.uint32(bits)) != 0
        if query.free_only:
            keep &= self.free[rows]
        if query.step_free:
            keep &= self.step_free[rows]
        return keep


# --------------------------------------------------------------------------- search


def walk_minutes(distance_m: object) -> np.ndarray:
    """Walking minutes for crow-fly distances: ``ceil(distance × 1.3 / 80)``, rounded up."""
    distance = np.asarray(distance_m, dtype=float)
    # Rounded to 1e-9 first so that float noise (800 × 1.3 = 1040.0000000000002) never adds a minute.
    return np.ceil(np.round(distance * DETOUR_FACTOR / WALK_M_PER_MINUTE, 9)).astype(np.int64)


def next_dates(sessions: Iterable[Any], today: date, count: int = NEXT_DATES) -> tuple[date, ...]:
    """The next ``count`` dates on or after ``today`` across all ``sessions``, merged and sorted."""
    found: set[date] = set()
    for session in sessions:
        found.update(session.next_dates(today, count))
    return tuple(sorted(found)[:count])


def _dates_column(sessions: list[Any], today: date, cache: _DatesCache) -> np.ndarray:
    """``next_dates`` for each row's sessions (an object array of tuples).

    ``cache`` holds sessions' next dates from ``today``: many assets share a schedule
    ("Tuesdays 10:00"), so each distinct session is dated once per day, not once per row.
    """
    out = np.empty(len(sessions), dtype=object)
    for i, seq in enumerate(sessions):
        if not isinstance(seq, tuple | list) or not seq:
            out[i] = ()
            continue
        per_session = []
        for session in seq:
            # By object first: an int lookup, where a session's own hash is a Python call.
            # The index's frame keeps every session alive, so an id is never reused meanwhile.
            dates = cache.by_id.get(id(session))
            if dates is None:
                try:
                    dates = cache.by_value.get(session)
                except TypeError:  # an unhashable duck-typed session
                    dates = tuple(session.next_dates(today, NEXT_DATES))
                else:
                    if dates is None:
                        dates = cache.by_value[session] = tuple(session.next_dates(today, NEXT_DATES))
                cache.by_id[id(session)] = dates
            per_session.append(dates)
        if len(per_session) == 1:
            out[i] = per_session[0][:NEXT_DATES]
        else:
            out[i] = tuple(sorted(set(itertools.chain.from_iterable(per_session)))[:NEXT_DATES])
    return out


def _name_keys(frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    if "name" not in frame.columns:
        return np.zeros(len(rows), dtype="U1")
    names = frame["name"].iloc[rows].tolist()
    return np.array([n.casefold() if isinstance(n, str) else "" for n in names], dtype=str)


def search(
    index: NearbyIndex,
    easting: float,
    northing: float,
    query: NearbyQuery | None = None,
    *,
    today: date,
) -> pd.DataFrame:
    """The assets within the radius of a point that pass the query's filters.

    Parameters
    ----------
    index
        From :meth:`NearbyIndex.build`.
    easting, northing
        The centre, British National Grid metres.
    query
        Radius and filters (default: one mile, no filters).
    today
        First date considered for ``next_dates``.

    Returns
    -------
    pandas.DataFrame
        Rows of the asset frame with distance ≤ radius, sorted by distance (to the metre) then
        name, with added columns ``distance_m`` (int, metres), ``walk_minutes`` (int) and
        ``next_dates`` (tuple of up to three ``datetime.date``).
    """
    query = query or NearbyQuery()
    x, y = float(easting), float(northing)
    if not (math.isfinite(x) and math.isfinite(y)):
        msg = f"search centre ({easting!r}, {northing!r}) is not a point; give an easting and northing in metres"
        raise GeoError(msg)
    radius = query.radius_m
    # The tree is asked for a hair more than the radius; the exact test below decides the edge.
    rows = np.asarray(index.tree.query_ball_point((x, y), radius * (1 + 1e-9) + 1e-6), dtype=np.int64)
    if len(rows):
        delta = index.points[rows] - (x, y)
        distance = np.hypot(delta[:, 0], delta[:, 1])
        keep = (distance <= radius) & index.mask(rows, query)
        rows, distance = rows[keep], distance[keep]
    else:
        distance = np.empty(0)
    metres = np.rint(distance).astype(np.int64)
    order = np.lexsort((_name_keys(index.frame, rows), metres))
    rows, distance, metres = rows[order], distance[order], metres[order]
    result = index.frame.iloc[rows].reset_index(drop=True)
    result["distance_m"] = metres
    result["walk_minutes"] = walk_minutes(distance)
    sessions = result["sessions"].tolist() if "sessions" in result.columns else [()] * len(result)
    result["next_dates"] = pd.Series(_dates_column(sessions, today, index.dates_cache(today)), dtype=object)
    return result


# --------------------------------------------------------------------------- the page's entry points


@dataclass(frozen=True, eq=False)
class NearbyResult:
    """A search and what it found.

    Holds the centre and a *partial* label only (the postcode sector, the outward code or "the
    point chosen on the map"): the person's full postcode is not kept.
    """

    frame: pd.DataFrame  # from :func:`search`
    query: NearbyQuery
    centre_kind: CentreKind
    centre_label: str
    centre_easting: float
    centre_northing: float
    centre_lat: float
    centre_lon: float

    @property
    def description(self) -> str:
        """E.g. ``"within 1 mile of B13 9"``."""
        return f"within {describe_radius(self.query.radius_m)} of {self.centre_label}"

    @property
    def found(self) -> int:
        return len(self.frame)


def describe_radius(radius_m: float) -> str:
    """``1609`` → ``"1 mile"``, ``804`` → ``"half a mile"``, ``2414`` → ``"1.5 miles"``, ``800`` → ``"800 m"``."""
    miles = radius_m / 1609.344
    halves = round(miles * 2)
    # Within 2 m of a whole or half mile, say miles: that is how people in England judge walks.
    if halves and abs(radius_m - halves * 804.672) <= 2:
        if halves == 1:
            return "half a mile"
        if halves == 2:
            return "1 mile"
        return f"{halves / 2:g} miles"
    if radius_m < 1000:
        return f"{round(radius_m)} m"
    return f"{radius_m / 1000:.1f} km".replace(".0 km", " km")


def _index_of(assets_or_index: pd.DataFrame | NearbyIndex) -> NearbyIndex:
    if isinstance(assets_or_index, NearbyIndex):
        return assets_or_index
    if isinstance(assets_or_index, pd.DataFrame):
        return NearbyIndex.build(assets_or_index)
    msg = f"expected the asset frame or a NearbyIndex, got {type(assets_or_index).__name__}"
    raise TypeError(msg)


def _sector_of(normalised: str) -> str:
    # "B13 9AA" → "B13 9": the inward code's last two letters narrow it to a few houses.
    return normalised[:-2]


def find_nearby(
    assets_or_index: pd.DataFrame | NearbyIndex,
    gazetteer: Gazetteer,
    text: str,
    query: NearbyQuery | None = None,
    *,
    today: date,
) -> NearbyResult:
    """Search around a full postcode, a sector (``"B13 9"``) or an outward code (``"B13"``).

    The centre is the postcode's point, or the mean point of the sector's or outward code's
    postcodes. ``text`` is neither logged nor kept: the result's label is the sector (for a
    full postcode) or the partial code as typed, normalised.

    Raises
    ------
    geo.errors.InvalidPostcode
        ``text`` is not a postcode, sector or outward code.
    geo.errors.UnknownPostcode
        It is not listed in the gazetteer.
    """
    location = gazetteer.locate(text)
    kind = _CENTRE_KINDS[location.kind]
    label = _sector_of(location.normalised) if kind is CentreKind.FULL else location.normalised
    query = query or NearbyQuery()
    frame = search(_index_of(assets_or_index), location.easting, location.northing, query, today=today)
    return NearbyResult(
        frame=frame,
        query=query,
        centre_kind=kind,
        centre_label=label,
        centre_easting=location.easting,
        centre_northing=location.northing,
        centre_lat=location.lat,
        centre_lon=location.lon,
    )


def find_nearby_point(
    assets_or_index: pd.DataFrame | NearbyIndex,
    lat: float,
    lon: float,
    query: NearbyQuery | None = None,
    *,
    today: date,
) -> NearbyResult:
    """Search around a point clicked on the map (WGS84 latitude and longitude).

    Raises
    ------
    GeoError
        The point is not a number or lies outside Great Britain (latitude and longitude swapped?).
    """
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError) as exc:
        msg = f"map point ({lat!r}, {lon!r}) is not a latitude and longitude; click the map again"
        raise GeoError(msg) from exc
    in_gb = _GB_LAT[0] <= lat_f <= _GB_LAT[1] and _GB_LON[0] <= lon_f <= _GB_LON[1]
    if not in_gb:
        msg = (
            f"map point latitude {lat_f!r}, longitude {lon_f!r} is outside Great Britain; "
            "click a point in GB (or check latitude and longitude are not swapped)"
        )
        raise GeoError(msg)
    easting, northing = to_bng(np.array([lon_f]), np.array([lat_f]))
    query = query or NearbyQuery()
    frame = search(_index_of(assets_or_index), easting[0], northing[0], query, today=today)
    return NearbyResult(
        frame=frame,
        query=query,
        centre_kind=CentreKind.POINT,
        centre_label=MAP_POINT_LABEL,
        centre_easting=float(easting[0]),
        centre_northing=float(northing[0]),
        centre_lat=lat_f,
        centre_lon=lon_f,
    )


def unmet_demand_keys(
    result: NearbyResult, query: NearbyQuery | None, ward_code: str | None
) -> list[tuple[str, str, str, str]]:
    """Anonymous records of a search that found nothing: ``(ward_code, category, day, period)``.

    One key per requested category (``"any"`` when none was asked for); day and period are
    ``"any"`` when not filtered. A search that found something gives ``[]``.

    Parameters
    ----------
    result
        The search.
    query
        The query searched (default: ``result.query``).
    ward_code
        Ward of the search centre, computed by the caller with ``geo.areas.assign_areas`` on
        ``(result.centre_easting, result.centre_northing)``; ``None`` or ``""`` → ``"unknown"``.
    """
    if result.found:
        return []
    query = query or result.query
    ward = ward_code or "unknown"
    day = query.day or ANY
    period = query.time or ANY
    categories = tuple(dict.fromkeys(query.categories)) or (ANY,)
    return [(ward, category, day, period) for category in categories]


# --------------------------------------------------------------------------- the Map page and the CLI


def _any_tag(values: pd.Series, wanted: set[str]) -> np.ndarray:
    return np.fromiter(
        (isinstance(v, tuple | list) and not wanted.isdisjoint(v) for v in values),
        dtype=bool,
        count=len(values),
    )


def filter_assets(
    assets: pd.DataFrame,
    *,
    categories: Iterable[str] = (),
    kinds: Iterable[str] = (),
    verified_within_months: int | None = None,
    organisations: Iterable[str] = (),
    wards: Iterable[str] = (),
    today: date,
) -> pd.DataFrame:
    """The Map page's filters; an empty filter keeps everything.

    Parameters
    ----------
    categories
        Keep assets with any of these category slugs.
    kinds
        Keep these kinds (``"group"``, ``"venue"``, ``"activity"``).
    verified_within_months
        Keep assets whose ``last_verified`` date is within this many calendar months of
        ``today`` (assets never verified are dropped); ``None``: no limit.
    organisations
        Keep assets of these organisations (the ``organisation`` column).
    wards
        Keep assets in these wards (``ward_code``).

    Returns
    -------
    pandas.DataFrame
        The kept rows, in their original order and index.
    """
    keep = np.ones(len(assets), dtype=bool)
    wanted = set(_as_tuple(categories, "categories"))
    if wanted:
        keep &= _any_tag(assets["categories"], wanted)
    for column, values in (("kind", kinds), ("organisation", organisations), ("ward_code", wards)):
        chosen = _as_tuple(values, column)
        if chosen:
            keep &= assets[column].isin(chosen).to_numpy(dtype=bool)
    if verified_within_months is not None:
        if isinstance(verified_within_months, bool) or not isinstance(
            verified_within_months, int | np.integer
        ):
            msg = f"verified within {verified_within_months!r} months: give a whole number of months, e.g. 12"
            raise GeoError(msg)
        if verified_within_months < 0:
            msg = f"verified within {verified_within_months} months: the number of months cannot be negative"
            raise GeoError(msg)
        cutoff = pd.Timestamp(months_before(today, int(verified_within_months)))
        verified = pd.to_datetime(assets["last_verified"], errors="coerce")
        keep &= (verified >= cutoff).to_numpy(dtype=bool, na_value=False)
    return assets.loc[keep]


def _labels(slugs: object, mapping: Mapping[str, str] | None) -> str:
    if not isinstance(slugs, tuple | list):
        return ""
    mapping = mapping or {}
    return "; ".join(mapping.get(s, s) for s in slugs)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def flag(value: object) -> bool:
    """A boolean cell: ``None``/NaN/``<NA>`` count as false."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def public_postcode(row: Mapping[str, Any]) -> str:
    """The postcode to show for an asset: only its sector when it meets at a private address."""
    postcode = _text(row.get("postcode")).strip()
    if flag(row.get("private_address")) and " " in postcode:
        inward = postcode.rsplit(" ", 1)[1]
        # A full postcode's inward part is digit + two letters; keep the digit only.
        return postcode[:-2] if len(inward) == 3 else postcode
    return postcode


def nearby_rows(
    result_frame: pd.DataFrame,
    *,
    category_labels: Mapping[str, str] | None = None,
    access_labels: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The CLI's CSV rows for a search result (plain values; the writer neutralises formulas).

    Columns: asset_id, name, kind, categories (labels joined "; "), distance_m, walk_minutes,
    sessions, next_dates (ISO dates joined "; "), cost, accessibility, postcode (only the sector
    for a private address), lat, lon, stale.
    """
    rows: list[dict[str, Any]] = []
    for row in result_frame.to_dict("records"):
        dates = row.get("next_dates") or ()
        rows.append(
            {
                "asset_id": _text(row.get("asset_id")),
                "name": _text(row.get("name")),
                "kind": _text(row.get("kind")),
                "categories": _labels(row.get("categories"), category_labels),
                "distance_m": int(row["distance_m"]),
                "walk_minutes": int(row["walk_minutes"]),
                "sessions": _text(row.get("sessions_text")),
                "next_dates": "; ".join(d.isoformat() for d in dates),
                "cost": _text(row.get("cost_text")),
                "accessibility": _labels(row.get("accessibility"), access_labels),
                "postcode": public_postcode(row),
                "lat": round(float(row["lat"]), 6) if _text(row.get("lat")) else "",
                "lon": round(float(row["lon"]), 6) if _text(row.get("lon")) else "",
                "stale": flag(row.get("stale")),
            }
        )
    return rows
