"""Residents and deprivation by ward: ONS population, LSOA-to-ward lookups and IMD 2019 files.

Population is published by ward (ONS small-area estimates: ``WD22CD``, ``All Ages``) or by
Lower-layer Super Output Area (``LSOA11CD``, ``pop``); deprivation (the English Index of
Multiple Deprivation 2019) only by LSOA, on the 2011 LSOA codes. ONS's LSOA-to-ward best-fit
lookups use the 2021 LSOA codes, so 2011 LSOAs that were later split or merged do not match
directly. Nothing is dropped silently: every aggregation reports the LSOAs it could not place
and the share of the population that it covers.

The readers accept a path, the bytes of an upload, or a DataFrame already read. Files are CSV
(UTF-8, with or without a byte-order mark, or Windows-1252); title rows above the header, as
in ONS downloads, are skipped; numbers may carry thousands separators ("1,622").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geo.errors import PopulationError

Source = str | Path | bytes | pd.DataFrame

# ONS (GSS) codes: a letter for the nation, two digits for the entity, six digits.
_GSS = re.compile(r"^[EWSN]\d{8}$")
WARD_PREFIXES = ("E05", "W05", "S13")
LSOA_PREFIXES = ("E01", "W01", "S01")
#: England's most deprived tenth of LSOAs (IMD decile 1).
MOST_DEPRIVED_DECILE = 1
_MAX_LISTED = 10
_HEADER_SEARCH_ROWS = 30

# Column names, matched after folding case and runs of non-alphanumerics to one space.
_WARD_CODE = (
    r"wd(\d\d)cd",
    r"ward code",
    r"ward cd",
    r"wardcode",
    r"ward code (\d{4})",
    r"ward (\d{4}) code",
    r"ward",
)
_WARD_NAME = (r"wd(\d\d)nm", r"ward name", r"wardname", r"ward name (\d{4})", r"ward (\d{4}) name")
_LSOA_CODE = (
    r"lsoa(\d\d)cd",
    r"lsoa code (\d{4})",
    r"lsoa code",
    r"lsoa (\d{4}) code",
    r"lsoa(\d\d)",
    r"lsoa",
    r"lsoa cd",
    r"lsoacode",
)
_LSOA_NAME = (r"lsoa(\d\d)nm", r"lsoa name (\d{4})", r"lsoa (\d{4}) name", r"lsoa name")
_DISTRICT_CODE = (
    r"lad(\d\d)cd",
    r"ltla(\d\d)cd",
    r"local authority district code (\d{4})",
    r"lad (\d{4}) code",
    r"lad code",
)
_DISTRICT_NAME = (r"lad(\d\d)nm", r"ltla(\d\d)nm", r"local authority district name (\d{4})", r"lad name")
_GENERIC_CODE = (r"geography code", r"area code", r"code", r"mnemonic", r"geography")
_POPULATION = (
    r"population",
    r"all ages",
    r"pop",
    r"total population",
    r"total",
    r"persons",
    r"all persons",
    r"all usual residents",
    r"usual residents",
    r"observation",
    r"obs value",
    r"count",
    r"total population.*",
    r"all ages.*",
    r"population.*",
)
_IMD_SCORE = (
    r"index of multiple deprivation imd score",
    r"imd score",
    r"imd19 score",
    r"imd 2019 score",
    r"overall local score",
)
_IMD_RANK = (r"index of multiple deprivation imd rank.*", r"imd rank", r"imd19 rank")
_IMD_DECILE = (
    r"index of multiple deprivation imd decile.*",
    r"imd decile",
    r"imd19 decile",
    r"original decile",
)


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class PopulationTable:
    """Residents per ward or per LSOA, as read from one file.

    Attributes
    ----------
    level
        "ward" or "lsoa".
    population
        Residents per code (float; index: the code, sorted).
    source
        File name the table was read from.
    code_column, value_column
        The columns used.
    vintage
        Year of the codes when the header says ("2011" for ``LSOA11CD``), else "".
    names
        Name per code when the file has a name column, else empty.
    skipped_rows
        Rows without a code and a number (notes, blank lines) that were skipped.
    """

    level: str
    population: pd.Series
    source: str
    code_column: str
    value_column: str
    vintage: str = ""
    names: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    skipped_rows: int = 0

    @property
    def total(self) -> float:
        """All residents in the table."""
        return float(self.population.sum())

    def describe(self) -> str:
        """Short provenance text, e.g. "lsoa11.csv (892 LSOAs, 2011 codes, 1,622,463 residents)"."""
        unit = "LSOAs" if self.level == "lsoa" else "wards"
        codes = f", {self.vintage} codes" if self.vintage else ""
        return f"{self.source} ({len(self.population):,} {unit}{codes}, {self.total:,.0f} residents)"


@dataclass(frozen=True)
class LsoaWardLookup:
    """LSOA to ward (best fit), one row per LSOA.

    Attributes
    ----------
    frame
        Columns lsoa_code, ward_code, ward_name, district_code, district_name ("" when the file
        has no such column), indexed by lsoa_code.
    lsoa_vintage, ward_vintage
        Years of the codes ("2021", "2022") when the header says, else "".
    source
        File name.
    """

    frame: pd.DataFrame
    lsoa_vintage: str
    ward_vintage: str
    source: str

    def describe(self) -> str:
        """Short provenance text."""
        years = ", ".join(
            part
            for part in (
                f"{self.lsoa_vintage} LSOAs" if self.lsoa_vintage else "",
                f"{self.ward_vintage} wards" if self.ward_vintage else "",
            )
            if part
        )
        return f"{self.source} ({len(self.frame):,} LSOAs{', ' + years if years else ''})"


@dataclass(frozen=True)
class ImdTable:
    """Index of Multiple Deprivation 2019 per LSOA.

    Attributes
    ----------
    frame
        Indexed by LSOA code: score (float, NaN when the file has no scores), rank (float, NaN
        when absent), decile (int, 1 = most deprived tenth of England's LSOAs).
    kind
        "MHCLG" (the government's files) or "mySociety" (composite_uk_imd), or "other".
    source
        File name.
    """

    frame: pd.DataFrame
    kind: str
    source: str

    @property
    def has_score(self) -> bool:
        """Whether any LSOA has an IMD score (MHCLG File 1 has ranks and deciles only)."""
        return bool(self.frame["score"].notna().any())

    def describe(self) -> str:
        """Short provenance text."""
        what = "scores and deciles" if self.has_score else "deciles (no scores)"
        return f"{self.source} ({self.kind}; {len(self.frame):,} LSOAs; {what})"


@dataclass(frozen=True)
class WardPopulation:
    """Residents per ward, with what could not be placed in a ward.

    Attributes
    ----------
    by_ward
        Residents per ward code (float), sorted by code.
    matched_lsoas
        LSOAs placed in a ward (0 when the population was given by ward).
    unmatched
        LSOAs not in the lookup: columns lsoa, population (sorted by lsoa).
    share_covered
        Population placed in a ward / all population in the table (1.0 for ward-level input).
    source
        Provenance text for an About sheet.
    """

    by_ward: pd.Series
    matched_lsoas: int
    unmatched: pd.DataFrame
    share_covered: float
    source: str = ""

    @property
    def unmatched_population(self) -> float:
        """Residents of the LSOAs that could not be placed."""
        return float(self.unmatched["population"].sum())

    def describe(self) -> str:
        """Match coverage as one line of text."""
        if self.matched_lsoas == 0 and self.unmatched.empty:
            return f"{self.source}: given by ward ({len(self.by_ward):,} wards)"
        total = self.matched_lsoas + len(self.unmatched)
        text = (
            f"{self.source}: {self.matched_lsoas:,} of {total:,} LSOAs placed in a ward, "
            f"{self.share_covered:.1%} of residents"
        )
        if len(self.unmatched):
            text += (
                f"; {len(self.unmatched):,} LSOAs ({self.unmatched_population:,.0f} residents) not in "
                "the LSOA-to-ward lookup (e.g. LSOAs split or merged between census vintages), not counted"
            )
        return text


@dataclass(frozen=True)
class WardDeprivation:
    """Population-weighted deprivation per ward, with what could not be placed.

    Attributes
    ----------
    by_ward
        Indexed by ward_code: imd_score (population-weighted mean of LSOA IMD scores; NaN when
        the IMD file has no scores), imd_mean_decile (population-weighted mean decile, 1 = most
        deprived), most_deprived_10_share (share of the ward's placed residents living in LSOAs
        in England's most deprived decile), population_weighted (residents used as weights).
    matched_lsoas
        LSOAs with IMD values, population and a ward.
    unmatched
        LSOAs of the population table left out: columns lsoa, population, reason.
    share_covered
        Residents used / all residents of the population table.
    source
        Provenance text.
    """

    by_ward: pd.DataFrame
    matched_lsoas: int
    unmatched: pd.DataFrame
    share_covered: float
    source: str = ""

    def describe(self) -> str:
        """Match coverage as one line of text."""
        total = self.matched_lsoas + len(self.unmatched)
        text = f"{self.source}: {self.matched_lsoas:,} of {total:,} LSOAs used, {self.share_covered:.1%} of residents"
        if len(self.unmatched):
            reasons = self.unmatched.groupby("reason")["population"].agg(["size", "sum"])
            parts = [
                f"{int(row['size']):,} {reason} ({row['sum']:,.0f} residents)"
                for reason, row in reasons.iterrows()
            ]
            text += "; left out: " + "; ".join(parts)
        return text


# --------------------------------------------------------------------------- reading


def _fold(name: object) -> str:
    return re.sub(r"[^0-9a-z]+", " ", str(name).lower()).strip()


def _source_name(data: Source, filename: str | None) -> str:
    if filename:
        return Path(filename).name
    if isinstance(data, str | Path):
        return Path(data).name
    if isinstance(data, pd.DataFrame):
        return "table"
    return "upload"


def _decode(raw: bytes, source: str) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    msg = f"{source}: the file is not text (UTF-8 or Windows-1252); save it as CSV and try again"
    raise PopulationError(msg)


def _read_rows(data: Source, source: str, what: str) -> list[list[str]]:
    """All rows of a CSV as lists of stripped strings (title rows included)."""
    if isinstance(data, pd.DataFrame):
        header = [str(c) for c in data.columns]
        body = data.astype(object).where(data.notna(), "").astype(str).to_numpy().tolist()
        return [header, *body]
    if isinstance(data, str | Path):
        path = Path(data)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            msg = f"{what} file {str(path)!r} cannot be read ({exc.strerror}); check the path"
            raise PopulationError(msg) from exc
    elif isinstance(data, bytes | bytearray):
        raw = bytes(data)
    else:
        msg = f"{what}: expected a file path, bytes or a DataFrame, not {type(data).__name__}"
        raise PopulationError(msg)
    if raw[:4] == b"PK\x03\x04":
        msg = f"{source}: this looks like an Excel workbook or zip; save the sheet as CSV and load that"
        raise PopulationError(msg)
    text = _decode(raw, source)
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        msg = f"{source}: not a readable CSV file ({exc}); save it as CSV (comma-separated) and try again"
        raise PopulationError(msg) from exc
    return [[cell.strip() for cell in row] for row in rows]


def _match(columns: Sequence[str], patterns: Sequence[str]) -> tuple[str | None, str]:
    """First column matching the patterns in pattern order: (column, year or "")."""
    folded = [_fold(c) for c in columns]
    for pattern in patterns:
        regex = re.compile(pattern)
        for column, name in zip(columns, folded, strict=True):
            found = regex.fullmatch(name)
            if found:
                year = found.group(1) if found.groups() else ""
                if len(year) == 2:
                    year = "20" + year
                return column, year
    return None, ""


def _table(
    rows: list[list[str]], source: str, is_header: Callable[[list[str]], bool], expected: str
) -> tuple[pd.DataFrame, int]:
    """The table under the first header row (within the first rows); and its line number."""
    for number, row in enumerate(rows[:_HEADER_SEARCH_ROWS]):
        if is_header(row):
            width = len(row)
            header = [cell or f"column {i + 1}" for i, cell in enumerate(row)]
            body = [(r + [""] * width)[:width] for r in rows[number + 1 :]]
            frame = pd.DataFrame(body, columns=header, dtype=object)
            frame.index = pd.RangeIndex(number + 2, number + 2 + len(frame))  # file line numbers
            return frame.loc[:, ~pd.Index(header).duplicated()], number + 1
    seen = ", ".join(repr(c) for c in (rows[0] if rows else [])[:8])
    msg = f"{source}: no header row with {expected} in the first {_HEADER_SEARCH_ROWS} lines (first line: {seen or 'empty'})"
    raise PopulationError(msg)


def _listing(items: Sequence[str]) -> str:
    shown = "; ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f"; and {more:,} more" if more > 0 else "")


def _numbers(values: pd.Series, column: str, source: str, *, integer: bool = False) -> pd.Series:
    """Parse numbers written with thousands separators or spaces; report every bad row."""
    text = values.astype(str).str.replace(r"[,\s\u00a0\u202f]", "", regex=True)
    parsed = pd.to_numeric(text, errors="coerce").astype(float)
    bad = parsed.isna() | ~np.isfinite(parsed) | (parsed < 0)
    if integer:
        bad |= parsed.notna() & (parsed != np.round(parsed))
    if bad.any():
        kind = "a whole number" if integer else "a number (0 or more)"
        items = [f"line {line}: {values[line]!r}" for line in values.index[bad]]
        msg = f"{source}: column {column!r} must hold {kind} on every row; not so on {_listing(items)}"
        raise PopulationError(msg)
    return parsed


def _codes(
    frame: pd.DataFrame, column: str, source: str, number_column: str | None = None
) -> tuple[pd.DataFrame, int]:
    """Keep rows with a GSS code; skip note rows (no code, no number); report the rest."""
    codes = frame[column].astype(str).str.strip().str.upper()
    valid = codes.str.match(_GSS.pattern)
    empty_number = (
        frame[number_column].astype(str).str.strip() == "" if number_column else pd.Series(True, frame.index)
    )
    notes = ~valid & (empty_number | (codes == ""))
    bad = ~valid & ~notes
    if bad.any():
        items = [f"line {line}: {frame.at[line, column]!r}" for line in frame.index[bad]]
        msg = (
            f"{source}: column {column!r} must hold ONS codes such as 'E01000001' or 'E05011118'; "
            f"not so on {_listing(items)}"
        )
        raise PopulationError(msg)
    kept = frame.loc[valid].copy()
    kept[column] = codes[valid]
    dupes = kept[column][kept[column].duplicated(keep=False)]
    if len(dupes):
        items = [
            f"{code} (lines {', '.join(str(i) for i in lines)})"
            for code, lines in dupes.groupby(dupes).groups.items()
        ]
        msg = f"{source}: each code may appear once in {column!r}; repeated: {_listing(items)}"
        raise PopulationError(msg)
    return kept, int(notes.sum())


def _level_from_codes(codes: pd.Series) -> str | None:
    prefixes = codes.astype(str).str[:3]
    if prefixes.isin(LSOA_PREFIXES).mean() > 0.9:
        return "lsoa"
    if prefixes.isin(WARD_PREFIXES).mean() > 0.9:
        return "ward"
    return None


def _check_prefixes(codes: pd.Series, level: str, column: str, source: str) -> None:
    allowed = LSOA_PREFIXES if level == "lsoa" else WARD_PREFIXES
    bad = ~codes.str[:3].isin(allowed)
    if bad.any():
        label = "LSOA" if level == "lsoa" else "ward"
        items = [f"line {line}: {code!r}" for line, code in codes[bad].items()]
        msg = (
            f"{source}: column {column!r} should hold {label} codes (starting {', '.join(allowed)}); "
            f"not so on {_listing(items)}"
        )
        raise PopulationError(msg)


def read_population(data_or_path: Source, *, filename: str | None = None) -> PopulationTable:
    """Read ONS population by ward or by LSOA from a CSV file.

    Parameters
    ----------
    data_or_path
        Path, bytes of an upload, or a DataFrame.
    filename
        Name of an uploaded file (for messages and provenance).

    Returns
    -------
    PopulationTable
        ``level`` is "ward" when the code column is a ward column (``WD22CD``, "Ward code") or
        holds ward codes (E05/W05/S13), "lsoa" for LSOA columns or codes (E01/W01/S01). When a
        file has both (a lookup with populations), the LSOA level is used.

    Raises
    ------
    PopulationError
        No code or population column, codes that are not ONS codes, repeated codes, or
        population values that are not numbers (every bad row is listed).
    """
    source = _source_name(data_or_path, filename)
    rows = _read_rows(data_or_path, source, "population")

    def is_header(row: list[str]) -> bool:
        code = any(_match(row, p)[0] for p in (_LSOA_CODE, _WARD_CODE, _GENERIC_CODE))
        return code and _match(row, _POPULATION)[0] is not None

    frame, _ = _table(rows, source, is_header, "a code column (LSOA11CD, WD22CD...) and a population column")
    columns = list(frame.columns)
    lsoa_column, lsoa_year = _match(columns, _LSOA_CODE)
    ward_column, ward_year = _match(columns, _WARD_CODE)
    value_column, _ = _match(columns, _POPULATION)
    if value_column in (lsoa_column, ward_column):
        value_column = next(
            (c for c in columns if c not in (lsoa_column, ward_column) and _match([c], _POPULATION)[0]), None
        )
    if value_column is None:
        msg = f"{source}: no population column (looked for 'population', 'All Ages', 'pop'); columns are {columns}"
        raise PopulationError(msg)
    if lsoa_column is not None:
        level, column, vintage, name_patterns = "lsoa", lsoa_column, lsoa_year, _LSOA_NAME
    elif ward_column is not None:
        level, column, vintage, name_patterns = "ward", ward_column, ward_year, _WARD_NAME
    else:
        column, _ = _match(columns, _GENERIC_CODE)
        assert column is not None  # the header test required one
        vintage, name_patterns = "", _GENERIC_CODE[:0]
        sample = frame[column].astype(str).str.strip().str.upper()
        level = _level_from_codes(sample[sample.str.match(_GSS.pattern)])
        if level is None:
            msg = (
                f"{source}: cannot tell whether column {column!r} holds ward or LSOA codes; "
                "name it WD22CD (wards) or LSOA11CD / LSOA21CD (LSOAs)"
            )
            raise PopulationError(msg)
    kept, skipped = _codes(frame, column, source, value_column)
    if kept.empty:
        msg = f"{source}: no rows with a code in {column!r} and a population in {value_column!r}"
        raise PopulationError(msg)
    _check_prefixes(kept[column], level, column, source)
    values = _numbers(kept[value_column], value_column, source)
    population = pd.Series(
        values.to_numpy(), index=pd.Index(kept[column].to_numpy(), name="code"), name="population"
    )
    name_column, _ = _match(columns, name_patterns) if name_patterns else (None, "")
    names = (
        pd.Series(kept[name_column].to_numpy(), index=population.index, name="name")
        if name_column
        else pd.Series(dtype=object)
    )
    return PopulationTable(
        level=level,
        population=population.sort_index(),
        source=source,
        code_column=column,
        value_column=value_column,
        vintage=vintage,
        names=names.sort_index(),
        skipped_rows=skipped,
    )


def read_lsoa_ward_lookup(data_or_path: Source, *, filename: str | None = None) -> LsoaWardLookup:
    """Read an ONS LSOA-to-ward lookup (``LSOA21CD``, ``WD22CD``, ``WD22NM``, ``LAD22CD``...).

    Raises
    ------
    PopulationError
        Missing LSOA or ward code columns, malformed codes, or an LSOA listed under two wards.
    """
    source = _source_name(data_or_path, filename)
    rows = _read_rows(data_or_path, source, "LSOA-to-ward lookup")

    def is_header(row: list[str]) -> bool:
        return _match(row, _LSOA_CODE)[0] is not None and _match(row, _WARD_CODE[:-1])[0] is not None

    frame, _ = _table(rows, source, is_header, "LSOA and ward code columns (LSOA21CD, WD22CD)")
    columns = list(frame.columns)
    lsoa_column, lsoa_year = _match(columns, _LSOA_CODE)
    ward_column, ward_year = _match(columns, _WARD_CODE[:-1])
    assert lsoa_column is not None and ward_column is not None
    ward_name, _ = _match(columns, _WARD_NAME)
    district_column, _ = _match(columns, _DISTRICT_CODE)
    district_name, _ = _match(columns, _DISTRICT_NAME)
    lsoa = frame[lsoa_column].astype(str).str.strip().str.upper()
    ward = frame[ward_column].astype(str).str.strip().str.upper()
    blank = (lsoa == "") & (ward == "")
    frame, lsoa, ward = frame[~blank], lsoa[~blank], ward[~blank]
    problems = [
        f"line {line}: LSOA {code!r}" for line, code in lsoa[~lsoa.str[:3].isin(LSOA_PREFIXES)].items()
    ]
    problems += [
        f"line {line}: ward {code!r}" for line, code in ward[~ward.str[:3].isin(WARD_PREFIXES)].items()
    ]
    if problems:
        msg = (
            f"{source}: columns {lsoa_column!r} and {ward_column!r} must hold LSOA codes (E01...) and "
            f"ward codes (E05...); not so on {_listing(problems)}"
        )
        raise PopulationError(msg)
    out = pd.DataFrame(
        {
            "lsoa_code": lsoa.to_numpy(),
            "ward_code": ward.to_numpy(),
            "ward_name": frame[ward_name].to_numpy() if ward_name else "",
            "district_code": frame[district_column].str.strip().str.upper().to_numpy()
            if district_column
            else "",
            "district_name": frame[district_name].to_numpy() if district_name else "",
        },
        index=lsoa.index,
    )
    pairs = out.drop_duplicates(["lsoa_code", "ward_code"])
    conflicts = pairs[pairs["lsoa_code"].duplicated(keep=False)]
    if len(conflicts):
        items = [
            f"{code} -> {', '.join(group['ward_code'])}"
            for code, group in conflicts.groupby("lsoa_code", sort=True)
        ]
        msg = f"{source}: each LSOA must belong to one ward (a best-fit lookup); listed under several: {_listing(items)}"
        raise PopulationError(msg)
    if pairs.empty:
        msg = f"{source}: the lookup has no rows"
        raise PopulationError(msg)
    pairs = pairs.set_index(pd.Index(pairs["lsoa_code"].to_numpy(), name="lsoa")).sort_index()
    return LsoaWardLookup(frame=pairs, lsoa_vintage=lsoa_year, ward_vintage=ward_year, source=source)


def read_imd(data_or_path: Source, *, filename: str | None = None) -> ImdTable:
    """Read IMD 2019 by LSOA: MHCLG File 1 (rank, decile), File 5/7 (score) or mySociety's file.

    MHCLG's File 1 has "LSOA code (2011)", "Index of Multiple Deprivation (IMD) Rank" (with
    thousands separators) and "... Decile"; mySociety's ``UK_IMD_E.csv`` has ``lsoa``,
    ``overall_local_score`` (the English IMD score) and ``original_decile``.

    Raises
    ------
    PopulationError
        No LSOA or decile column, malformed codes, repeated LSOAs, deciles outside 1-10 or
        scores and ranks that are not numbers.
    """
    source = _source_name(data_or_path, filename)
    rows = _read_rows(data_or_path, source, "IMD")

    def is_header(row: list[str]) -> bool:
        return _match(row, _LSOA_CODE)[0] is not None and _match(row, _IMD_DECILE)[0] is not None

    frame, _ = _table(rows, source, is_header, "an LSOA code column and an IMD decile column")
    columns = list(frame.columns)
    lsoa_column, _ = _match(columns, _LSOA_CODE)
    decile_column, _ = _match(columns, _IMD_DECILE)
    score_column, _ = _match(columns, _IMD_SCORE)
    rank_column, _ = _match(columns, _IMD_RANK)
    assert lsoa_column is not None and decile_column is not None
    if "nation" in (c.lower() for c in columns) and score_column:
        # mySociety's composite file: keep England's rows (the only ones with IMD 2019 values).
        nation = next(c for c in columns if c.lower() == "nation")
        frame = frame[frame[nation].str.strip().str.upper().isin(["E", ""])]
    kept, _ = _codes(frame, lsoa_column, source, decile_column)
    _check_prefixes(kept[lsoa_column], "lsoa", lsoa_column, source)
    decile = _numbers(kept[decile_column], decile_column, source, integer=True)
    outside = (decile < 1) | (decile > 10)
    if outside.any():
        items = [f"line {line}: {value:g}" for line, value in decile[outside].items()]
        msg = f"{source}: column {decile_column!r} must hold deciles 1 to 10; not so on {_listing(items)}"
        raise PopulationError(msg)
    score = (
        _numbers(kept[score_column], score_column, source) if score_column else pd.Series(np.nan, kept.index)
    )
    rank = (
        _numbers(kept[rank_column], rank_column, source, integer=True)
        if rank_column
        else pd.Series(np.nan, kept.index)
    )
    out = pd.DataFrame(
        {"score": score.to_numpy(), "rank": rank.to_numpy(), "decile": decile.astype(int).to_numpy()},
        index=pd.Index(kept[lsoa_column].to_numpy(), name="lsoa"),
    ).sort_index()
    if _fold(lsoa_column) == "lsoa" and score_column and _fold(score_column) == "overall local score":
        kind = "mySociety"
    elif _fold(decile_column).startswith("index of multiple deprivation"):
        kind = "MHCLG"
    else:
        kind = "other"
    return ImdTable(frame=out, kind=kind, source=source)


# --------------------------------------------------------------------------- aggregation


def _lsoa_population(pop: PopulationTable, what: str) -> pd.Series:
    if pop.level != "lsoa":
        msg = (
            f"{what} needs population by LSOA, but {pop.source} is by ward; load LSOA population "
            "estimates (lsoa, pop)"
        )
        raise PopulationError(msg)
    return pop.population


def population_by_ward(pop: PopulationTable, lookup: LsoaWardLookup | None = None) -> WardPopulation:
    """Residents per ward: as given, or LSOA populations summed into wards through the lookup.

    LSOAs are matched to the lookup by code exactly. The lookup may use another LSOA vintage
    (ONS's use 2021 codes, population estimates for 2019 use 2011 codes): the LSOAs whose code
    did not change match, the others are reported in ``unmatched`` and left out of every ward,
    and ``share_covered`` says how much of the population was placed.

    Raises
    ------
    PopulationError
        LSOA-level population without a lookup.
    """
    if pop.level == "ward":
        return WardPopulation(
            by_ward=pop.population.rename("population").rename_axis("ward_code"),
            matched_lsoas=0,
            unmatched=pd.DataFrame({"lsoa": pd.Series(dtype=object), "population": pd.Series(dtype=float)}),
            share_covered=1.0,
            source=pop.describe(),
        )
    if lookup is None:
        msg = (
            f"{pop.source} gives population by LSOA: load an LSOA-to-ward lookup (ONS 'LSOA to Ward "
            "lookup', columns LSOA21CD, WD22CD) to sum it into wards"
        )
        raise PopulationError(msg)
    lsoa_pop = pop.population
    ward = lookup.frame["ward_code"].reindex(lsoa_pop.index)
    matched = ward.notna().to_numpy()
    by_ward = (
        lsoa_pop[matched]
        .groupby(ward[matched].to_numpy())
        .sum()
        .rename("population")
        .rename_axis("ward_code")
    )
    unmatched = pd.DataFrame(
        {"lsoa": lsoa_pop.index[~matched].to_numpy(), "population": lsoa_pop.to_numpy()[~matched]}
    )
    total = float(lsoa_pop.sum())
    share = float(lsoa_pop[matched].sum()) / total if total > 0 else 0.0
    source = f"{pop.describe()} via {lookup.describe()}"
    return WardPopulation(
        by_ward=by_ward.sort_index(),
        matched_lsoas=int(matched.sum()),
        unmatched=unmatched.reset_index(drop=True),
        share_covered=share,
        source=source,
    )


def deprivation_by_ward(imd: ImdTable, pop: PopulationTable, lookup: LsoaWardLookup) -> WardDeprivation:
    """Population-weighted IMD score and share of residents in England's most deprived decile, per ward.

    The LSOAs considered are those of the population table (it sets the area); each is used
    when it also has IMD values and a ward in the lookup. The rest are listed in
    ``unmatched`` with the reason. IMD LSOAs without population are ignored (an England-wide
    IMD file with a district's population is the normal case).

    Raises
    ------
    PopulationError
        Ward-level population (weights need LSOAs).
    """
    lsoa_pop = _lsoa_population(pop, "deprivation by ward")
    ward = lookup.frame["ward_code"].reindex(lsoa_pop.index)
    values = imd.frame.reindex(lsoa_pop.index)
    has_imd = values["decile"].notna().to_numpy()
    has_ward = ward.notna().to_numpy()
    used = has_imd & has_ward
    reason = np.where(~has_imd, "not in the IMD file", "not in the LSOA-to-ward lookup")
    unmatched = pd.DataFrame(
        {
            "lsoa": lsoa_pop.index[~used].to_numpy(),
            "population": lsoa_pop.to_numpy()[~used],
            "reason": reason[~used],
        }
    )
    weights = lsoa_pop.to_numpy()[used]
    wards = ward.to_numpy()[used]
    score = values["score"].to_numpy(dtype=float)[used]
    decile = values["decile"].to_numpy(dtype=float)[used]
    frame = pd.DataFrame({"ward_code": wards, "w": weights, "decile": decile, "score": score})
    frame["w_decile"] = frame["w"] * frame["decile"]
    frame["w_worst"] = frame["w"] * (frame["decile"] == MOST_DEPRIVED_DECILE)
    scored = frame["score"].notna()
    frame["w_scored"] = frame["w"].where(scored, 0.0)
    frame["w_score"] = (frame["w"] * frame["score"]).where(scored, 0.0)
    sums = frame.groupby("ward_code")[["w", "w_decile", "w_worst", "w_scored", "w_score"]].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        by_ward = pd.DataFrame(
            {
                "imd_score": np.where(sums["w_scored"] > 0, sums["w_score"] / sums["w_scored"], np.nan),
                "imd_mean_decile": np.where(sums["w"] > 0, sums["w_decile"] / sums["w"], np.nan),
                "most_deprived_10_share": np.where(sums["w"] > 0, sums["w_worst"] / sums["w"], np.nan),
                "population_weighted": sums["w"].to_numpy(),
            },
            index=sums.index.rename("ward_code"),
        )
    total = float(lsoa_pop.sum())
    return WardDeprivation(
        by_ward=by_ward.sort_index(),
        matched_lsoas=int(used.sum()),
        unmatched=unmatched.sort_values("lsoa").reset_index(drop=True),
        share_covered=float(weights.sum()) / total if total > 0 else 0.0,
        source=f"{imd.describe()}, weighted by {pop.describe()} via {lookup.describe()}",
    )


__all__ = [
    "ImdTable",
    "LsoaWardLookup",
    "PopulationTable",
    "WardDeprivation",
    "WardPopulation",
    "deprivation_by_ward",
    "population_by_ward",
    "read_imd",
    "read_lsoa_ward_lookup",
    "read_population",
]
