"""Geocode a table of records from their postcodes or given coordinates, with a status per row.

Every row gets one of :data:`STATUSES` and, unless it is a plain ``ok``, a message
naming the field, the value and what to do. Nothing is silently fixed: swapped
latitude/longitude are reported, not swapped back, and a postcode with an O/0
slip is refused, not guessed.

Given coordinates win over the postcode for the location (they are usually
more precise); when the two are more than 1 km apart the message says so.
Code-Point Open lists live postcodes only, so an optional online fallback
(:class:`PostcodesIoClient`) can place postcodes that are newer than the zip.
"""

from __future__ import annotations

import http.client
import json
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.errors import GazetteerError, GeoError
from geo.gazetteer import Gazetteer, to_bng, to_wgs84
from geo.postcodes import SPECIAL_POSTCODE, normalise_postcodes, text_array

STATUSES = (
    "ok",
    "invalid_postcode",
    "unknown_postcode",
    "no_coordinates",
    "coordinates_invalid",
    "outside_area",
    "no_location",
)
INPUT_COLUMNS = ("postcode", "latitude", "longitude", "easting", "northing")
OUTPUT_COLUMNS = (
    "postcode_normalised",
    "easting",
    "northing",
    "lat",
    "lon",
    "location_precision",
    "geocode_status",
    "geocode_source",
    "geocode_message",
    "postcode_ward_code",
    "postcode_district_code",
    "postcode_distance_m",
    "swapped",
)
GIVEN_COORDINATES = "given coordinates"
POSTCODES_IO = "postcodes.io"

# A point further than this from every GB postcode is in the sea or abroad.
MAX_GAP_FROM_POSTCODE_M = 2_000.0
# A postcode further than this from the given point is worth a second look.
POSTCODE_MISMATCH_M = 1_000.0
# Great Britain with its islands (Scilly to Shetland), for spotting swapped lat/lon.
_GB_LAT = (49.8, 61.0)
_GB_LON = (-8.7, 1.9)
# The British National Grid's extent in metres.
_BNG_EASTING = (0.0, 700_000.0)
_BNG_NORTHING = (0.0, 1_300_000.0)


# --------------------------------------------------------------------------- online fallback


class PostcodesIoClient:
    """Look up postcodes at postcodes.io (ONS Postcode Directory), in batches of 100.

    Only used for postcodes that Code-Point Open does not list, and only when the
    ``online_geocoding`` setting is on. The network call is the private
    :meth:`_request`, which tests replace.
    """

    URL = "https://api.postcodes.io/postcodes"
    BATCH = 100

    def __init__(self, url: str = URL, timeout_s: float = 3.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def _request(self, url: str, payload: dict[str, object]) -> object:
        """POST ``payload`` as JSON; return the decoded JSON answer.

        Raises
        ------
        OSError
            No answer, an HTTP error, or an answer that is not JSON.
        """
        body = json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read().decode("utf-8"))
        except (http.client.HTTPException, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConnectionError(f"postcodes.io gave an unreadable answer ({exc})") from exc

    def lookup(self, postcodes: Iterable[str]) -> pd.DataFrame:
        """Look up normalised postcodes; the found ones come back, indexed by postcode.

        Returns
        -------
        pandas.DataFrame
            Columns easting, northing, lat, lon, district_code, ward_code.

        Raises
        ------
        OSError
            postcodes.io could not be reached or answered in an unexpected form.
        """
        wanted = list(dict.fromkeys(p for p in postcodes if p))
        records: list[dict[str, object]] = []
        for start in range(0, len(wanted), self.BATCH):
            batch = wanted[start : start + self.BATCH]
            answer = self._request(self.url, {"postcodes": batch})
            records.extend(_parse_postcodes_io(answer, set(batch)))
        frame = pd.DataFrame.from_records(
            records, columns=["postcode", "easting", "northing", "lat", "lon", "district_code", "ward_code"]
        )
        return frame.set_index("postcode")


def _parse_postcodes_io(answer: object, asked: set[str]) -> list[dict[str, object]]:
    """The found postcodes in a postcodes.io bulk answer (``result`` is null when not found)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("result"), list):
        raise ConnectionError("postcodes.io answered without a list of results")
    found = []
    for item in answer["result"]:
        if not isinstance(item, dict):
            raise ConnectionError("postcodes.io answered with a result that is not an object")
        query, result = item.get("query"), item.get("result")
        if query not in asked or not isinstance(result, dict):
            continue
        codes = result.get("codes") if isinstance(result.get("codes"), dict) else {}
        found.append(
            {
                "postcode": query,
                "easting": _float(result.get("eastings")),
                "northing": _float(result.get("northings")),
                "lat": _float(result.get("latitude")),
                "lon": _float(result.get("longitude")),
                "district_code": codes.get("admin_district") or None,
                "ward_code": codes.get("admin_ward") or None,
            }
        )
    return found


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan


# --------------------------------------------------------------------------- input parsing


def _resolve_columns(df: pd.DataFrame, columns: Mapping[str, str] | None) -> dict[str, str | None]:
    """Which column of ``df`` holds each input field (``None`` when absent)."""
    mapping: dict[str, str | None] = {name: (name if name in df.columns else None) for name in INPUT_COLUMNS}
    for field, column in (columns or {}).items():
        if field not in INPUT_COLUMNS:
            msg = f"geocoding field {field!r} is not one of {', '.join(INPUT_COLUMNS)}"
            raise GeoError(msg)
        if column not in df.columns:
            listed = ", ".join(repr(str(c)) for c in df.columns)
            msg = f"column {column!r} (chosen for {field}) is not in the table; its columns are {listed}"
            raise GeoError(msg)
        mapping[field] = column
    return mapping


@dataclass
class _Numbers:
    values: np.ndarray  # float, NaN where not given or unreadable
    given: np.ndarray  # bool: the cell holds something
    unreadable: np.ndarray  # bool: given but not a number
    text: np.ndarray  # the cell as typed (for messages)


_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_GROUPED = r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$"


def _read_numbers(df: pd.DataFrame, column: str | None, *, thousands: bool) -> _Numbers:
    """Numbers from a column that may hold text like ``" 406523 "``, ``"1,234"`` or ``"−1.89"``."""
    n = len(df)
    if column is None:
        empty = np.zeros(n, dtype=bool)
        return _Numbers(np.full(n, np.nan), empty, empty, np.full(n, "", dtype=object))
    series = df[column]
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        given = ~np.isnan(values)
        return _Numbers(values, given, np.zeros(n, dtype=bool), series.astype(str).to_numpy(dtype=object))
    raw, _ = text_array(series)
    text = pc.utf8_trim_whitespace(raw)
    text = pc.replace_substring(text, "\u2212", "-")  # the typographic minus of Word and Excel
    if thousands:
        text = pc.if_else(pc.match_substring_regex(text, _GROUPED), pc.replace_substring(text, ",", ""), text)
    else:
        text = pc.replace_substring_regex(text, r"\s*°$", "")
    given = pc.not_equal(text, "").to_numpy(zero_copy_only=False)
    number = pc.match_substring_regex(text, _NUMBER)
    values = pc.cast(pc.if_else(number, text, "nan"), pa.float64()).to_numpy(zero_copy_only=False)
    unreadable = given & ~number.to_numpy(zero_copy_only=False)
    return _Numbers(
        values,
        given,
        unreadable,
        np.asarray(pc.utf8_trim_whitespace(raw).to_numpy(zero_copy_only=False), dtype=object),
    )


def _in(values: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (values >= bounds[0]) & (values <= bounds[1])


def _fmt(value: float) -> str:
    """A number as typed: shortest round-trip form, no trailing ``.0``."""
    return f"{value:.0f}" if float(value).is_integer() else repr(float(value))


def _fmt_many(values: np.ndarray) -> pa.Array:
    """:func:`_fmt` for a whole column (Arrow writes the shortest round-trip form too)."""
    return pc.cast(pa.array(np.asarray(values, dtype=float)), pa.string())


def _join(*parts: object) -> np.ndarray:
    """Concatenate string columns and constants row-wise (Arrow; no Python call per row)."""
    arrays = [part if isinstance(part, str) else pa.array(part, type=pa.string()) for part in parts]
    return np.asarray(pc.binary_join_element_wise(*arrays, "").to_numpy(zero_copy_only=False), dtype=object)


def _km(metres: float) -> str:
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{metres:.0f} m"


@dataclass
class _PointLabels:
    """Names a given point in a message, only for the rows that get one."""

    by_latlon: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    easting: np.ndarray
    northing: np.ndarray

    def __getitem__(self, i: int) -> str:
        if self.by_latlon[i]:
            return f"latitude {_fmt(self.lat[i])}, longitude {_fmt(self.lon[i])}"
        return f"easting {_fmt(self.easting[i])}, northing {_fmt(self.northing[i])}"

    def many(self, mask: np.ndarray) -> np.ndarray:
        """The labels of the rows in ``mask``, built column-wise."""
        ll = self.by_latlon[mask]
        first = np.where(ll, self.lat[mask], self.easting[mask])
        second = np.where(ll, self.lon[mask], self.northing[mask])
        return _join(
            np.where(ll, "latitude ", "easting "),
            _fmt_many(first),
            np.where(ll, ", longitude ", ", northing "),
            _fmt_many(second),
        )


@dataclass
class _Coordinates:
    given: np.ndarray
    ok: np.ndarray
    problem: np.ndarray  # object: message or ""
    swapped: np.ndarray
    easting: np.ndarray
    northing: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    nearest: np.ndarray  # gazetteer row of the nearest located postcode, -1 if none
    label: _PointLabels  # how to name each point in messages


def _read_coordinates(df: pd.DataFrame, cols: Mapping[str, str | None], gazetteer: Gazetteer) -> _Coordinates:
    """Parse and check given lat/lon or easting/northing; lat/lon is used when both pairs are given."""
    n = len(df)
    lat = _read_numbers(df, cols["latitude"], thousands=False)
    lon = _read_numbers(df, cols["longitude"], thousands=False)
    east = _read_numbers(df, cols["easting"], thousands=True)
    north = _read_numbers(df, cols["northing"], thousands=True)
    use_ll = lat.given | lon.given
    use_en = ~use_ll & (east.given | north.given)
    problem = np.full(n, "", dtype=object)
    swapped = np.zeros(n, dtype=bool)

    def flag(mask: np.ndarray, make) -> None:
        for i in np.flatnonzero(mask & (problem == "")):
            problem[i] = make(i)

    # ---- latitude / longitude
    flag(use_ll & lat.unreadable, lambda i: _not_a_number("latitude", lat.text[i]))
    flag(use_ll & lon.unreadable, lambda i: _not_a_number("longitude", lon.text[i]))
    flag(use_ll & ~lat.given, lambda i: f"longitude {lon.text[i]!r} is given without a latitude: give both")
    flag(use_ll & ~lon.given, lambda i: f"latitude {lat.text[i]!r} is given without a longitude: give both")
    in_gb = _in(lat.values, _GB_LAT) & _in(lon.values, _GB_LON)
    in_gb_swapped = _in(lon.values, _GB_LAT) & _in(lat.values, _GB_LON)
    looks_swapped = use_ll & ~in_gb & in_gb_swapped & (problem == "")
    swapped |= looks_swapped
    flag(
        looks_swapped,
        lambda i: (
            f"latitude and longitude look swapped (latitude {_fmt(lat.values[i])}, longitude "
            f"{_fmt(lon.values[i])}; Great Britain is at latitude 50 to 61, longitude -8 to 2): "
            "swap the two columns"
        ),
    )
    looks_bng = _in(lat.values, _BNG_NORTHING) & _in(lon.values, _BNG_EASTING)
    flag(
        use_ll & ~(_in(lat.values, (-90, 90)) & _in(lon.values, (-180, 180))),
        lambda i: (
            f"latitude {_fmt(lat.values[i])} / longitude {_fmt(lon.values[i])} are out of range "
            "(latitude -90 to 90, longitude -180 to 180)"
            + (": are they an easting and northing? put them in those columns" if looks_bng[i] else "")
        ),
    )
    ll_ok = use_ll & (problem == "")
    easting = np.full(n, np.nan)
    northing = np.full(n, np.nan)
    if ll_ok.any():
        easting[ll_ok], northing[ll_ok] = to_bng(lon.values[ll_ok], lat.values[ll_ok])

    # ---- easting / northing
    flag(use_en & east.unreadable, lambda i: _not_a_number("easting", east.text[i]))
    flag(use_en & north.unreadable, lambda i: _not_a_number("northing", north.text[i]))
    flag(use_en & ~east.given, lambda i: f"northing {north.text[i]!r} is given without an easting: give both")
    flag(use_en & ~north.given, lambda i: f"easting {east.text[i]!r} is given without a northing: give both")
    looks_degrees = _in(east.values, (-180, 180)) & _in(north.values, (-90, 90))
    flag(
        use_en & ~(_in(east.values, _BNG_EASTING) & _in(north.values, _BNG_NORTHING)),
        lambda i: (
            f"easting {_fmt(east.values[i])} / northing {_fmt(north.values[i])} are outside the British "
            "National Grid (easting 0 to 700,000, northing 0 to 1,300,000 metres)"
            + (": are they a longitude and latitude? put them in those columns" if looks_degrees[i] else "")
        ),
    )
    en_ok = use_en & (problem == "")
    easting[en_ok] = east.values[en_ok]
    northing[en_ok] = north.values[en_ok]

    # ---- is the point in Great Britain, near a postcode?
    candidate = (ll_ok | en_ok) & np.isfinite(easting) & np.isfinite(northing)
    nearest = np.full(n, -1, dtype=np.int64)
    gap = np.full(n, np.nan)
    if candidate.any():
        nearest[candidate], gap[candidate] = gazetteer.nearest(easting[candidate], northing[candidate])
    label = _PointLabels(ll_ok, lat.values, lon.values, east.values, north.values)
    flag(
        (ll_ok | en_ok) & ~candidate,
        lambda i: f"the point ({label[i]}) cannot be placed on the British National Grid",
    )
    far = candidate & ~(gap <= MAX_GAP_FROM_POSTCODE_M)
    if far.any():
        # An easting/northing pair given the wrong way round lands far from any postcode.
        rows = np.flatnonzero(far & en_ok)
        _, gap_swapped = gazetteer.nearest(northing[rows], easting[rows])
        en_swapped = np.zeros(n, dtype=bool)
        en_swapped[rows[gap_swapped <= MAX_GAP_FROM_POSTCODE_M]] = True
        swapped |= en_swapped
        flag(
            en_swapped,
            lambda i: (
                f"easting and northing look swapped (easting {_fmt(easting[i])}, northing "
                f"{_fmt(northing[i])} is far from any postcode, the other way round is not): "
                "swap the two columns"
            ),
        )
        flag(
            far,
            lambda i: (
                f"the point ({label[i]}) is {_km(gap[i])} from the nearest GB postcode: in the sea or "
                "outside Great Britain? check the coordinates"
            ),
        )
    given = use_ll | use_en
    ok = given & (problem == "")
    easting[~ok] = np.nan
    northing[~ok] = np.nan
    out_lon, out_lat = np.full(n, np.nan), np.full(n, np.nan)
    out_lat[ll_ok & ok] = lat.values[ll_ok & ok]
    out_lon[ll_ok & ok] = lon.values[ll_ok & ok]
    if (en_ok & ok).any():
        out_lon[en_ok & ok], out_lat[en_ok & ok] = to_wgs84(easting[en_ok & ok], northing[en_ok & ok])
    nearest[~ok] = -1
    return _Coordinates(given, ok, problem, swapped, easting, northing, out_lat, out_lon, nearest, label)


def _not_a_number(field: str, text: str) -> str:
    hint = ""
    if field in ("latitude", "longitude") and "," in text:
        hint = ": use a point for decimals (like 52.48)"
    return f"{field} {text!r} is not a number{hint}"


# --------------------------------------------------------------------------- the frame


def _outside_messages(
    gazetteer: Gazetteer, area_code: str, district: np.ndarray, what: np.ndarray
) -> np.ndarray:
    """The ``outside_area`` message of each row, built column-wise (a national file has many)."""
    labels = {code: gazetteer.district_label(code) for code in pd.unique(district) if code}
    where = [labels.get(code, "an unknown district") for code in district]
    tail = (
        f", outside the area {gazetteer.district_label(area_code)}: the record is kept, "
        "but counts in none of the area's wards"
    )
    return _join(what, " is in ", where, tail)


def geocode_frame(
    df: pd.DataFrame,
    gazetteer: Gazetteer,
    area_code: str | None,
    *,
    columns: Mapping[str, str] | None = None,
    online: PostcodesIoClient | bool | None = None,
) -> pd.DataFrame:
    """Geocode each row of ``df`` from its postcode or given coordinates.

    Parameters
    ----------
    df
        Records with any of the columns postcode, latitude, longitude, easting,
        northing (text allowed: ``" 406523 "``, ``"1,234"`` for metres, ``"52.48"``).
        Where a row gives both latitude/longitude and easting/northing, the
        latitude/longitude are used.
    gazetteer
        Code-Point Open, from :func:`geo.gazetteer.load_gazetteer`.
    area_code
        The district the register covers (e.g. ``"E08000025"``): located rows
        elsewhere get ``outside_area``. ``None`` skips that check.
    columns
        Field → column name, where ``df`` names them differently
        (``{"postcode": "Post code"}``).
    online
        A :class:`PostcodesIoClient` (or ``True`` for the default one) to place
        postcodes that Code-Point Open does not list; ``None`` stays offline.

    Returns
    -------
    pandas.DataFrame
        Aligned with ``df`` (same index), columns :data:`OUTPUT_COLUMNS`. Text
        columns are object dtype with ``None`` where there is no value (so
        ``row["location_precision"] or ""`` works).
        ``postcode_ward_code`` / ``postcode_district_code`` are those of the
        postcode that placed the row, or for given coordinates of the nearest
        postcode.

    Raises
    ------
    GeoError
        A ``columns`` entry names a column that is not in ``df``.
    GazetteerError
        ``area_code`` is not a district in the gazetteer.
    """
    if area_code is not None and not gazetteer.has_district(area_code):
        msg = (
            f"area code {area_code!r} is not a district in {gazetteer.version}: give a local authority "
            "district code such as 'E08000025' (Birmingham); check the CAM_AREA setting"
        )
        raise GazetteerError(msg)
    if online is True:
        online = PostcodesIoClient()
    cols = _resolve_columns(df, columns)
    n = len(df)

    # ---- postcodes
    if cols["postcode"] is not None:
        raw = df[cols["postcode"]]
        normalised, reason = normalise_postcodes(raw)
        blank = (
            raw.isna() | (raw.astype(object).where(raw.notna(), "").astype(str).str.strip() == "")
        ).to_numpy(dtype=bool)
        normalised = normalised.to_numpy(dtype=object, na_value=None)
        reason = reason.to_numpy(dtype=object)
    else:
        normalised = np.full(n, None, dtype=object)
        reason = np.full(n, "", dtype=object)
        blank = np.ones(n, dtype=bool)
    pc_given = ~blank
    pc_valid = pc_given & pd.notna(normalised)
    rows = gazetteer.find(pd.Series(normalised, dtype=object))
    found = rows >= 0
    safe = np.where(found, rows, 0)
    pc_located = found & gazetteer.located[safe]
    pc_e = np.where(pc_located, gazetteer.easting[safe], np.nan)
    pc_n = np.where(pc_located, gazetteer.northing[safe], np.nan)
    pc_lat = np.where(pc_located, gazetteer.lat[safe], np.nan)
    pc_lon = np.where(pc_located, gazetteer.lon[safe], np.nan)
    pc_district, pc_ward = gazetteer.codes_at(rows)
    pc_source = np.where(found, gazetteer.version, None).astype(object)

    coords = _read_coordinates(df, cols, gazetteer)

    # ---- online fallback for postcodes the zip does not list (and only where they would place the row)
    online_note = np.full(n, "", dtype=object)
    ask = pc_valid & ~found & ~coords.given
    if online is not None and online is not False and ask.any():
        try:
            answers = online.lookup(normalised[ask])
        except OSError as exc:
            online_note[ask] = f" (the online lookup at postcodes.io failed: {exc})"
        else:
            hit = ask & pd.Series(normalised, dtype=object).isin(answers.index).to_numpy(dtype=bool)
            if hit.any():
                got = answers.loc[normalised[hit]]
                e, nn = got["easting"].to_numpy(dtype=float), got["northing"].to_numpy(dtype=float)
                lat, lon = got["lat"].to_numpy(dtype=float), got["lon"].to_numpy(dtype=float)
                need_bng = ~(np.isfinite(e) & np.isfinite(nn)) & np.isfinite(lat) & np.isfinite(lon)
                if need_bng.any():
                    e[need_bng], nn[need_bng] = to_bng(lon[need_bng], lat[need_bng])
                placed = np.isfinite(e) & np.isfinite(nn)
                if placed.any() and not (np.isfinite(lat) & np.isfinite(lon)).all():
                    lon_calc, lat_calc = to_wgs84(e, nn)
                    lat = np.where(np.isfinite(lat), lat, lat_calc)
                    lon = np.where(np.isfinite(lon), lon, lon_calc)
                idx = np.flatnonzero(hit)
                found[idx] = True
                pc_located[idx] = placed
                pc_e[idx], pc_n[idx], pc_lat[idx], pc_lon[idx] = e, nn, lat, lon
                pc_district[idx] = got["district_code"].to_numpy(dtype=object)
                pc_ward[idx] = got["ward_code"].to_numpy(dtype=object)
                pc_source[idx] = POSTCODES_IO
            online_note[ask & ~hit] = " (nor at postcodes.io)"
    online_hit = pc_source == POSTCODES_IO

    # ---- choose the location of each row
    use_coords = coords.ok
    use_pc = ~coords.given & pc_located
    located = use_coords | use_pc
    easting = np.where(use_coords, coords.easting, pc_e)
    northing = np.where(use_coords, coords.northing, pc_n)
    lat = np.where(use_coords, coords.lat, pc_lat)
    lon = np.where(use_coords, coords.lon, pc_lon)
    easting[~located] = northing[~located] = lat[~located] = lon[~located] = np.nan
    # A few located postcodes carry no district or ward code (positional quality 60):
    # they take the codes of the nearest postcode that has them, and say so.
    uncoded = use_pc & pd.isna(pc_district)
    if uncoded.any():
        nearest_rows, _ = gazetteer.nearest(pc_e[uncoded], pc_n[uncoded])
        pc_district[uncoded], pc_ward[uncoded] = gazetteer.codes_at(nearest_rows)
    near_district, near_ward = gazetteer.codes_at(coords.nearest)
    district = np.where(use_coords, near_district, pc_district)
    ward = np.where(use_coords, near_ward, pc_ward)
    district[~located] = None
    ward[~located] = None
    precision = np.where(use_coords, "coordinates", np.where(use_pc, "postcode", None)).astype(object)
    source = np.where(use_coords, GIVEN_COORDINATES, np.where(use_pc, pc_source, None)).astype(object)
    distance = np.full(n, np.nan)
    both = use_coords & pc_located
    distance[both] = np.hypot(coords.easting[both] - pc_e[both], coords.northing[both] - pc_n[both])

    # ---- status and message
    status = np.full(n, "ok", dtype=object)
    message = np.full(n, "", dtype=object)
    version = gazetteer.version

    def unknown_text(i: int) -> str:
        if normalised[i] == SPECIAL_POSTCODE:
            return f"postcode {SPECIAL_POSTCODE!r} is a non-geographic (Girobank) postcode with no location"
        return (
            f"postcode {normalised[i]!r} is not in {version}{online_note[i]}: it may be mistyped, or "
            "terminated (Code-Point Open lists live postcodes only); check it, or give latitude/longitude"
        )

    def unlocated_text(i: int) -> str:
        return (
            f"postcode {normalised[i]!r} is in {version} but has no coordinates (positional quality 90); "
            "give latitude/longitude, or a neighbouring postcode"
        )

    by_postcode = ~coords.given
    groups = [
        (
            by_postcode & blank,
            "no_location",
            lambda i: (
                "no postcode or coordinates given: add a postcode (or latitude and longitude) to place it on the map"
            ),
        ),
        (by_postcode & pc_given & ~pc_valid, "invalid_postcode", lambda i: f"postcode {reason[i]}"),
        (by_postcode & pc_valid & ~found, "unknown_postcode", unknown_text),
        (by_postcode & found & ~pc_located, "no_coordinates", unlocated_text),
    ]
    for mask, name, make in groups:
        status[mask] = name
        for i in np.flatnonzero(mask):
            message[i] = make(i)
    bad_coords = coords.given & ~coords.ok
    status[bad_coords] = "coordinates_invalid"
    for i in np.flatnonzero(bad_coords):
        message[i] = coords.problem[i] + (
            f"; the postcode {normalised[i]} alone would place it: fix the coordinates, or remove them"
            if pc_located[i]
            else ""
        )
    # Given coordinates placed the row: add what is wrong with the postcode beside them.
    notes = np.full(n, "", dtype=object)
    notes[online_hit] = f"postcode placed by postcodes.io: it is not in {version} (newer than the zip?)"
    for i in np.flatnonzero(uncoded):
        notes[i] = (
            f"postcode {normalised[i]!r} has no district or ward in {version}; "
            "those of the nearest postcode were used"
        )
    for i in np.flatnonzero(use_coords & pc_given & ~found):
        if not pc_valid[i]:
            notes[i] = f"the given coordinates were used; postcode {reason[i]}"
        else:
            notes[i] = f"the given coordinates were used; {unknown_text(i)}"
    far_apart = use_coords & (distance > POSTCODE_MISMATCH_M)
    if far_apart.any():
        km = np.round(distance[far_apart] / 100) / 10
        notes[far_apart] = _join(
            "postcode '",
            normalised[far_apart],
            "' is ",
            _fmt_many(km),
            " km from the given point (",
            coords.label.many(far_apart),
            "); the coordinates were used: check which is right",
        )
    if area_code is not None:
        outside = located & (district != area_code)
        status[outside] = "outside_area"
        if outside.any():
            what = np.empty(n, dtype=object)
            by_pc = outside & use_pc
            by_point = outside & use_coords
            what[by_pc] = _join("postcode '", normalised[by_pc], "'")
            what[by_point] = _join("the point (", coords.label.many(by_point), ")")
            message[outside] = _outside_messages(gazetteer, area_code, district[outside], what[outside])
    has_note = notes != ""
    message[has_note] = np.where(
        message[has_note] == "", notes[has_note], message[has_note] + "; " + notes[has_note]
    )

    return pd.DataFrame(
        {
            "postcode_normalised": pd.Series(normalised, index=df.index, dtype=object),
            "easting": easting,
            "northing": northing,
            "lat": lat,
            "lon": lon,
            "location_precision": pd.Series(precision, index=df.index, dtype=object),
            "geocode_status": pd.Series(status, index=df.index, dtype=object),
            "geocode_source": pd.Series(source, index=df.index, dtype=object),
            "geocode_message": pd.Series(message, index=df.index, dtype=object),
            "postcode_ward_code": pd.Series(ward, index=df.index, dtype=object),
            "postcode_district_code": pd.Series(district, index=df.index, dtype=object),
            "postcode_distance_m": distance,
            "swapped": coords.swapped,
        },
        index=df.index,
    )
