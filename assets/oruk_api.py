"""A read-only Open Referral UK API over the published register (a separate small process).

Start it with ``python -m assets.oruk_api --port 8502`` (``--host 0.0.0.0`` to listen beyond
this machine). It reads the database named by DATABASE_URL, serves only the public view
(:data:`assets.model.PUBLIC_ACTOR`: published records, public fields) and answers 403 to
everything while an administrator has switched the public view off.

Endpoints (HSDS 3.0 UK profile): ``GET /``, ``/services``, ``/services/{id}``,
``/service_at_locations`` (``postcode`` and ``proximity`` in metres: the app's own nearby
search), ``/service_at_locations/{id}``, ``/taxonomies``, ``/taxonomies/{id}``,
``/taxonomy_terms``, ``/taxonomy_terms/{id}``. Lists are paged (``page`` from 1, ``per_page``
1..1000, default 50) in the standard's envelope and filtered by ``taxonomy_term_id``,
``taxonomy_id``, ``day``, ``start_time``, ``end_time``, ``modified_after`` and ``search``.
Errors are JSON ``{"message": ...}``: 400 for a bad parameter, 404 for an unknown id.
Every response carries ``Access-Control-Allow-Origin: *``.

Privacy: a searched postcode is personal data. The access log records the method, the path
and the status only — never the query string — and uvicorn's own access log is off.

Speed: the published services are read once per :meth:`Store.data_version` into a
:class:`Catalogue` (the asset frame, the nearby index and filter arrays); a request is then a
few numpy operations and the page's mapping.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assets import oruk
from assets.errors import NotFound, PermissionDenied
from assets.model import ASSET_FIELDS, PUBLIC_ACTOR, Asset
from geo.errors import GeoError
from geo.nearby import MAX_RADIUS_M, NearbyIndex, NearbyQuery, find_nearby
from settings import get_settings

warnings.filterwarnings("ignore", message=".*OSTN15.*")

ACCESS_LOG = logging.getLogger("assets.oruk_api.access")
DEFAULT_PORT = 8502
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 1000
DAY_NAMES = {
    **{code.lower(): code for code in oruk._DAYS},
    "monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR",
    "saturday": "SA", "sunday": "SU", "mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH",
    "fri": "FR", "sat": "SA", "sun": "SU",
}
# One bit per term of our taxonomies (41 of them fit a uint64).
_TERM_BITS = {term_id: i for i, term_id in enumerate(oruk.TERMS)}
_VOCABULARY_COLUMNS = {"categories": "categories", "for_whom": "for_whom", "accessibility": "accessibility"}
_FRAME_NAMES = {"asset_id": "id", "organisation": "organisation_name"}
_ASSET_FIELDS = frozenset(ASSET_FIELDS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- the catalogue


def _minutes(text: str) -> int:
    if not text:
        return -1
    hour, minute = text.split(":")[:2]
    return int(hour) * 60 + int(minute)


def _bits(vocabulary_key: str, slugs: Any) -> int:
    vocabulary = oruk.VOCABULARIES[vocabulary_key]
    found = 0
    for slug in (slugs,) if isinstance(slugs, str) else slugs or ():
        if slug in vocabulary.terms:
            found |= 1 << _TERM_BITS[vocabulary.term_id(slug)]
    return found


def _column_bits(values: pd.Series, vocabulary_key: str) -> np.ndarray:
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    table = np.array([_bits(vocabulary_key, value) for value in uniques], dtype=np.uint64)
    return table[codes] if len(codes) else np.zeros(0, dtype=np.uint64)


def _explode_sessions(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(owner row, day 0..6, start minute, end minute or -1) of every session, vectorised."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    per_unique = [tuple(value) if value is not None else () for value in uniques]
    lengths = np.array([len(sessions) for sessions in per_unique], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, dtype=np.int64)
    flat = [session for sessions in per_unique for session in sessions]
    days = np.array([oruk._DAYS.index(s.day) for s in flat], dtype=np.int8)
    starts = np.array([_minutes(s.start) for s in flat], dtype=np.int16)
    ends = np.array([_minutes(s.end) for s in flat], dtype=np.int16)
    row_lengths = lengths[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    total = int(row_lengths.sum())
    owner = np.repeat(np.arange(len(codes), dtype=np.int64), row_lengths)
    row_starts = np.cumsum(row_lengths) - row_lengths
    within = np.arange(total, dtype=np.int64) - np.repeat(row_starts, row_lengths)
    source = np.repeat(offsets[codes] if len(codes) else np.zeros(0, dtype=np.int64), row_lengths) + within
    return owner, days[source], starts[source], ends[source]


@dataclass
class Catalogue:
    """The published register as the API reads it, for one data version."""

    version: int
    frame: pd.DataFrame
    positions: pd.Index  # asset id -> row of frame
    term_bits: np.ndarray
    session_owner: np.ndarray
    session_day: np.ndarray
    session_start: np.ndarray
    session_end: np.ndarray
    updated: np.ndarray  # int64 microseconds since the epoch, UTC (years 1..9999 fit)
    index: NearbyIndex
    organisations: dict[str, oruk.OrganisationInfo]
    _haystack: pd.Series | None = field(default=None, repr=False)
    _links: dict[str, str] | None = field(default=None, repr=False)  # service_at_location id -> service id
    _columns: dict[str, np.ndarray] | None = field(default=None, repr=False)  # Asset field -> column

    @classmethod
    def build(cls, store, version: int) -> Catalogue:
        frame = store.assets_frame(PUBLIC_ACTOR, statuses=("published",)).reset_index(drop=True)
        bits = np.zeros(len(frame), dtype=np.uint64)
        for column, key in _VOCABULARY_COLUMNS.items():
            bits |= _column_bits(frame[column], key)
        bits |= _column_bits(frame["kind"], "kinds")
        owner, day, start, end = _explode_sessions(frame["sessions"])
        updated = pd.to_datetime(frame["updated_at"], utc=True)
        return cls(
            version=version,
            frame=frame,
            positions=pd.Index(frame["asset_id"].astype(str)),
            term_bits=bits,
            session_owner=owner,
            session_day=day,
            session_start=start,
            session_end=end,
            updated=updated.dt.tz_localize(None).to_numpy(dtype="datetime64[us]").astype(np.int64),
            index=NearbyIndex.build(frame),
            organisations=oruk.organisation_infos(store.list_organisations(PUBLIC_ACTOR)),
        )

    def haystack(self) -> pd.Series:
        """Name and description in lower case, for ``search`` (built on first use)."""
        if self._haystack is None:
            self._haystack = (self.frame["name"].astype(str) + " " + self.frame["description"].astype(str)).str.casefold()
        return self._haystack

    def assets(self, positions: np.ndarray) -> list[Asset]:
        """The assets of some rows (the public fields the frame holds: enough for the list forms)."""
        if self._columns is None:
            # Plain numpy columns once per catalogue: picking a page from them is ~100x faster than iloc.
            self._columns = {
                _FRAME_NAMES.get(str(column), str(column)): self.frame[column].to_numpy(dtype=object)
                for column in self.frame.columns
                if _FRAME_NAMES.get(str(column), str(column)) in _ASSET_FIELDS
            }
        rows = np.asarray(positions, dtype=np.int64)
        picked = {name: values[rows].tolist() for name, values in self._columns.items()}
        found = []
        for i in range(len(rows)):
            data = {name: values[i] for name, values in picked.items()}
            for name in ("lat", "lon", "easting", "northing"):
                value = data.get(name)
                if value is not None and value != value:  # NaN: no position
                    data[name] = None
            for name in ("updated_at", "last_verified", "created_at", "archived_at"):
                if name in data and data[name] is not None and pd.isna(data[name]):
                    data[name] = None
            found.append(Asset(**data))
        return found


@dataclass(frozen=True)
class Filters:
    """The parsed filters of a list request."""

    term_bits: int = 0
    day: int | None = None
    start: int | None = None
    end: int | None = None
    modified_after: int | None = None  # microseconds since the epoch
    search: str = ""

    def mask(self, catalogue: Catalogue) -> np.ndarray | None:
        """Which rows pass (None when no filter is set)."""
        mask: np.ndarray | None = None

        def both(other: np.ndarray) -> None:
            nonlocal mask
            mask = other if mask is None else mask & other

        if self.term_bits:
            both((catalogue.term_bits & np.uint64(self.term_bits)) != 0)
        if self.day is not None or self.start is not None or self.end is not None:
            keep = np.ones(len(catalogue.session_owner), dtype=bool)
            if self.day is not None:
                keep &= catalogue.session_day == self.day
            if self.start is not None:
                keep &= catalogue.session_start >= self.start
            if self.end is not None:
                keep &= (catalogue.session_end >= 0) & (catalogue.session_end <= self.end)
            rows = np.zeros(len(catalogue.frame), dtype=bool)
            rows[catalogue.session_owner[keep]] = True
            both(rows)
        if self.modified_after is not None:
            both(catalogue.updated >= self.modified_after)
        if self.search:
            both(catalogue.haystack().str.contains(self.search.casefold(), regex=False).to_numpy(dtype=bool))
        return mask


# --------------------------------------------------------------------------- parameters


def _bad(message: str) -> HTTPException:
    return HTTPException(400, message)


def _integer(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError as exc:
        raise _bad(f"{name} {raw!r} is not a whole number: give {name}={default}") from exc
    if value < low or (high is not None and value > high):
        limit = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise _bad(f"{name} {value} is out of range: give a whole number {limit}")
    return value


def _time_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw.strip() == "":
        return None
    text = oruk._time(raw)
    if text is None:
        raise _bad(f"{name} {raw!r} is not a time: give it as HH:MM, e.g. {name}=09:30")
    return _minutes(text)


def _uuid_param(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError as exc:
        raise _bad(f"{name} {value!r} is not a UUID: use an id from GET /taxonomy_terms or /taxonomies") from exc


def _filters(request: Request) -> Filters:
    params = request.query_params
    bits = 0
    term = params.get("taxonomy_term_id")
    if term is not None and term.strip():
        term_id = _uuid_param(term, "taxonomy_term_id")
        # A term that is not ours matches nothing; a bit that no row has does just that.
        bits |= 1 << _TERM_BITS[term_id] if term_id in _TERM_BITS else 1 << 63
    taxonomy = params.get("taxonomy_id")
    if taxonomy is not None and taxonomy.strip():
        taxonomy_id = _uuid_param(taxonomy, "taxonomy_id")
        vocabulary = next((v for v in oruk.VOCABULARIES.values() if v.id == taxonomy_id), None)
        bits |= _bits(vocabulary.key, tuple(vocabulary.terms)) if vocabulary else 1 << 63
    day = None
    day_text = params.get("day")
    if day_text is not None and day_text.strip():
        code = DAY_NAMES.get(day_text.strip().lower())
        if code is None:
            raise _bad(f"day {day_text!r} is not a day of the week: give MO, TU, WE, TH, FR, SA or SU (or Monday..Sunday)")
        day = oruk._DAYS.index(code)
    modified = None
    modified_text = params.get("modified_after")
    if modified_text is not None and modified_text.strip():
        try:
            moment = datetime.fromisoformat(modified_text.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise _bad(
                f"modified_after {modified_text!r} is not a date-time: give ISO 8601, e.g. 2025-10-01T09:00:00Z"
            ) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        modified = (moment - _EPOCH) // timedelta(microseconds=1)
    return Filters(
        term_bits=bits,
        day=day,
        start=_time_param(request, "start_time"),
        end=_time_param(request, "end_time"),
        modified_after=modified,
        search=(params.get("search") or "").strip(),
    )


def _paging(request: Request) -> tuple[int, int]:
    page = _integer(request, "page", 1, 1)
    per_page = _integer(request, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    return page, per_page


def _page(items: list[Any] | np.ndarray, page: int, per_page: int) -> tuple[Any, int]:
    start = (page - 1) * per_page
    return items[start : start + per_page], len(items)


# --------------------------------------------------------------------------- the application


class OrukApi:
    """The API's state: the store, the gazetteer (loaded on first postcode search) and the catalogue."""

    def __init__(self, store=None, gazetteer=None, *, gazetteer_loader: Callable[[], Any] | None = None):
        self._store = store
        self._gazetteer = gazetteer
        self._gazetteer_loader = gazetteer_loader
        self._lock = threading.Lock()
        self._state: tuple[int, bool, Catalogue | None] | None = None

    @property
    def store(self):
        if self._store is None:
            from assets.store import open_store

            self._store = open_store(get_settings().database_url)
        return self._store

    def gazetteer(self):
        if self._gazetteer is None:
            with self._lock:
                if self._gazetteer is None:
                    if self._gazetteer_loader is not None:
                        self._gazetteer = self._gazetteer_loader()
                    else:
                        from geo.gazetteer import load_gazetteer

                        self._gazetteer = load_gazetteer(get_settings().codepoint_zip)
        return self._gazetteer

    def _public_view(self) -> bool:
        try:
            return bool(self.store.get_app_setting(PUBLIC_ACTOR, "public_view", True))
        except PermissionDenied:
            return False  # the store itself refuses the public while the view is off

    def catalogue(self) -> Catalogue:
        """The catalogue of the current data version; 403 while the public view is off."""
        version = self.store.data_version()
        state = self._state
        if state is None or state[0] != version:
            with self._lock:
                state = self._state
                if state is None or state[0] != version:
                    public = self._public_view()
                    catalogue = None
                    if public:
                        try:
                            catalogue = Catalogue.build(self.store, version)
                        except PermissionDenied:  # switched off while the catalogue was read
                            public = False
                    state = (version, public, catalogue)
                    self._state = state
        if not state[1] or state[2] is None:
            raise HTTPException(
                403,
                "the public view of this register is switched off, so its Open Referral UK API is closed; "
                "ask the register's administrators",
            )
        return state[2]

    # -- endpoints (sync: Starlette runs them in its thread pool) ----------------------

    def root(self, request: Request) -> JSONResponse:
        self.catalogue()
        return JSONResponse({"version": oruk.HSDS_VERSION, "profile": oruk.PROFILE_URL, "openapi_url": oruk.OPENAPI_URL})

    def services(self, request: Request) -> JSONResponse:
        page, per_page = _paging(request)
        filters = _filters(request)
        catalogue = self.catalogue()
        mask = filters.mask(catalogue)
        rows = np.flatnonzero(mask) if mask is not None else np.arange(len(catalogue.frame))
        chosen, total = _page(rows, page, per_page)
        contents = [oruk.service_summary(asset, catalogue.organisations) for asset in catalogue.assets(chosen)]
        return JSONResponse(oruk.page_envelope(contents, total_items=total, page=page, per_page=per_page))

    def _full_service(self, catalogue: Catalogue, service_id: str, what: str) -> dict[str, Any]:
        if service_id not in catalogue.positions:
            raise HTTPException(404, f"no published {what} with id {service_id!r}; list them with GET /{what}s")
        try:
            asset = self.store.get_asset(PUBLIC_ACTOR, service_id)
        except NotFound as exc:  # removed since the catalogue was read
            raise HTTPException(404, f"no published {what} with id {service_id!r}") from exc
        return oruk.service_from_asset(asset, catalogue.organisations)

    def service(self, request: Request) -> JSONResponse:
        catalogue = self.catalogue()
        return JSONResponse(self._full_service(catalogue, request.path_params["id"], "service"))

    def service_at_locations(self, request: Request) -> JSONResponse:
        page, per_page = _paging(request)
        filters = _filters(request)
        postcode = (request.query_params.get("postcode") or "").strip()
        proximity_text = (request.query_params.get("proximity") or "").strip()
        radius = float(MAX_RADIUS_M)
        if proximity_text:
            if not postcode:
                raise _bad("proximity needs a postcode: give postcode=B1 1AY&proximity=1600")
            try:
                radius = float(proximity_text)
            except ValueError as exc:
                raise _bad(f"proximity {proximity_text!r} is not a number of metres: give e.g. proximity=1600") from exc
            if not math.isfinite(radius) or radius <= 0 or radius > MAX_RADIUS_M:
                raise _bad(f"proximity {proximity_text} is out of range: give metres above 0 and at most {MAX_RADIUS_M:,}")
        catalogue = self.catalogue()
        mask = filters.mask(catalogue)
        if postcode:
            try:
                # Never logged or kept: the nearby search keeps only the sector as its label.
                result = find_nearby(catalogue.index, self.gazetteer(), postcode, NearbyQuery(radius_m=radius),
                                     today=date.today())
            except GeoError as exc:
                raise _bad(f"postcode: {exc}") from exc
            rows = catalogue.positions.get_indexer(result.frame["asset_id"].astype(str))
            if mask is not None:
                rows = rows[mask[rows]]
        else:
            rows = np.flatnonzero(mask) if mask is not None else np.arange(len(catalogue.frame))
        chosen, total = _page(rows, page, per_page)
        contents = [oruk.service_at_location_summary(asset, catalogue.organisations) for asset in catalogue.assets(chosen)]
        return JSONResponse(oruk.page_envelope(contents, total_items=total, page=page, per_page=per_page))

    def service_at_location(self, request: Request) -> JSONResponse:
        catalogue = self.catalogue()
        wanted = request.path_params["id"]
        # Our service_at_location ids are uuid5 of the service id: find the service by scanning
        # the ids of the services (cheap next to a request, and no second index to keep).
        service_id = self._service_of_link(catalogue, wanted)
        service = self._full_service(catalogue, service_id, "service_at_location")
        return JSONResponse(oruk.service_at_location_item(service, full=True))

    def _service_of_link(self, catalogue: Catalogue, link_id: str) -> str:
        links = catalogue._links
        if links is None:
            links = {oruk.stable_id("service_at_location", sid): sid for sid in catalogue.positions}
            catalogue._links = links  # built on first use, once per catalogue
        if link_id not in links:
            raise HTTPException(404, f"no published service_at_location with id {link_id!r}; list them with GET /service_at_locations")
        return links[link_id]

    def taxonomies(self, request: Request) -> JSONResponse:
        page, per_page = _paging(request)
        self.catalogue()
        items, total = _page([oruk.taxonomy_summary(key) for key in oruk.VOCABULARIES], page, per_page)
        return JSONResponse(oruk.page_envelope(items, total_items=total, page=page, per_page=per_page))

    def taxonomy(self, request: Request) -> JSONResponse:
        self.catalogue()
        wanted = request.path_params["id"]
        for key, vocabulary in oruk.VOCABULARIES.items():
            if vocabulary.id == wanted:
                return JSONResponse(oruk.taxonomy_full(key))
        raise HTTPException(404, f"no taxonomy with id {wanted!r}; list them with GET /taxonomies")

    def taxonomy_terms(self, request: Request) -> JSONResponse:
        page, per_page = _paging(request)
        taxonomy = request.query_params.get("taxonomy_id")
        wanted = _uuid_param(taxonomy, "taxonomy_id") if taxonomy and taxonomy.strip() else None
        self.catalogue()
        terms = [term for term in oruk.all_taxonomy_terms() if wanted is None or term["taxonomy_id"] == wanted]
        items, total = _page(terms, page, per_page)
        return JSONResponse(oruk.page_envelope(items, total_items=total, page=page, per_page=per_page))

    def taxonomy_term(self, request: Request) -> JSONResponse:
        self.catalogue()
        wanted = request.path_params["id"]
        if wanted in oruk.TERMS:
            return JSONResponse(oruk.taxonomy_term(*oruk.TERMS[wanted]))
        raise HTTPException(404, f"no taxonomy term with id {wanted!r}; list them with GET /taxonomy_terms")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 500)
    detail = str(getattr(exc, "detail", "") or "")
    if status == 404 and detail == "Not Found":
        detail = f"no endpoint {request.url.path}: see GET / (services, service_at_locations, taxonomies, taxonomy_terms)"
    elif status == 405:
        detail = f"{request.method} is not allowed: this API is read-only (GET only)"
    return JSONResponse({"message": detail}, status_code=status)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"message": "the server failed to answer this request; try again later"}, status_code=500)


class OpenAccess:
    """ASGI middleware: ``Access-Control-Allow-Origin: *`` on every response; answers preflights."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            response = Response(status_code=204, headers={
                "access-control-allow-origin": "*",
                "access-control-allow-methods": "GET, OPTIONS",
                "access-control-allow-headers": "*",
                "access-control-max-age": "86400",
            })
            await response(scope, receive, send)
            return

        async def send_open(message):
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["access-control-allow-origin"] = "*"
            await send(message)

        await self.app(scope, receive, send_open)


class PathOnlyAccessLog:
    """ASGI middleware: one access-log line per request with the path only, never the query
    string (a searched postcode is personal data)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_logged(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            ACCESS_LOG.info("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed_ms)


def create_app(store=None, gazetteer=None, *, gazetteer_loader: Callable[[], Any] | None = None) -> Starlette:
    """The ASGI application. ``store`` defaults to DATABASE_URL's; ``gazetteer`` loads on first use."""
    from starlette.middleware import Middleware

    api = OrukApi(store, gazetteer, gazetteer_loader=gazetteer_loader)
    routes = [
        Route("/", api.root),
        Route("/services", api.services),
        Route("/services/{id}", api.service),
        Route("/service_at_locations", api.service_at_locations),
        Route("/service_at_locations/{id}", api.service_at_location),
        Route("/taxonomies", api.taxonomies),
        Route("/taxonomies/{id}", api.taxonomy),
        Route("/taxonomy_terms", api.taxonomy_terms),
        Route("/taxonomy_terms/{id}", api.taxonomy_term),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(PathOnlyAccessLog), Middleware(OpenAccess)],
        exception_handlers={HTTPException: _http_error, 500: _server_error},
    )
    app.state.api = api
    return app


def server_config(app, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, log_level: str = "info"):
    """uvicorn's configuration: its own access log off (it would log query strings)."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, access_log=False, log_level=log_level, server_header=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assets.oruk_api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    import uvicorn

    # Only our own access log at INFO (method, path, status, time): never a query string.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s access %(message)s"))
    ACCESS_LOG.addHandler(handler)
    ACCESS_LOG.setLevel(logging.INFO)
    ACCESS_LOG.propagate = False
    app = create_app()
    api: OrukApi = app.state.api
    from sqlalchemy import make_url

    where = make_url(api.store.url).render_as_string(hide_password=True)
    print(f"reading the register at {where} and the postcodes…", file=sys.stderr)
    api.gazetteer()
    try:
        catalogue = api.catalogue()
    except HTTPException:
        print("the public view is switched off: the API answers 403 until it is switched on", file=sys.stderr)
    else:
        print(f"{len(catalogue.frame):,} published services", file=sys.stderr)
    uvicorn.Server(server_config(app, args.host, args.port)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
