"""Safe reading of an uploaded spreadsheet (CSV or XLSX) into a table of text cells.

Every cell comes back as text exactly as written: nothing is guessed as a number,
a date or a missing value, so "NA" stays a group's name and "07700 900123" keeps its
leading zero. File-level problems (too big, not a table, malformed, zip bomb) raise
:class:`assets.errors.FileRefused` with a message saying what to do; row-level
problems found while reading (extra cells) are returned in ``Table.row_problems`` for
the importer to report beside the validation problems.

Columns are then matched to register fields by :func:`map_headers`.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from xml.etree.ElementTree import ParseError

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from assets.errors import FileRefused, MappingError
from assets.model import FIELD_LABELS
from settings import get_settings

if not openpyxl.DEFUSEDXML:  # pragma: no cover - defusedxml is a pinned dependency
    msg = "openpyxl cannot find defusedxml, so XLSX uploads would not be protected from XML bombs"
    raise ImportError(msg)

# defusedxml's refusals (entity expansion, DTDs, external references) are ValueErrors.
from defusedxml import DefusedXmlException  # noqa: E402

ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "windows-1252": "Windows-1252",
    "xlsx": "Excel workbook",
}
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
_UTF8_BOM = b"\xef\xbb\xbf"
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls and password-protected .xlsx
# Control characters never found in a text spreadsheet (tab, CR and LF are fine).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MERGE_REF = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')
_SHOWN = 10  # how many rows or values a message lists before "and N more"


@dataclass(frozen=True)
class Limits:
    """Size limits for one upload (defaults from :func:`settings.get_settings`)."""

    max_bytes: int
    max_rows: int
    max_uncompressed_bytes: int
    max_entries: int

    @classmethod
    def from_settings(cls) -> Limits:
        """The limits configured by the environment (CAM_MAX_UPLOAD_MB, CAM_MAX_ROWS, ...)."""
        settings = get_settings()
        return cls(
            max_bytes=settings.max_upload_bytes,
            max_rows=settings.max_rows,
            max_uncompressed_bytes=settings.max_xlsx_uncompressed_mb * 1024 * 1024,
            max_entries=settings.max_xlsx_entries,
        )


@dataclass(frozen=True)
class Table:
    """A spreadsheet read as text.

    ``row_numbers[i]`` is the spreadsheet row of ``rows[i]`` (the header is row 1 unless
    blank rows precede it); blank rows are skipped but keep their numbers.
    ``formula_cells`` maps a row number to the headers of its formula cells (XLSX);
    ``row_problems`` maps a row number to a reason the importer must reject that row.
    """

    headers: list[str]
    rows: list[list[str]]
    row_numbers: list[int]
    encoding: str
    filename: str = ""
    sheet_names: list[str] = field(default_factory=list)
    sheet: str | None = None
    formula_cells: dict[int, list[str]] = field(default_factory=dict)
    row_problems: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def encoding_label(self) -> str:
        """The encoding in words, e.g. "UTF-8 with BOM"."""
        return ENCODING_NAMES.get(self.encoding, self.encoding)

    def records(self) -> list[dict[str, str]]:
        """Each row as {header: cell}."""
        return [dict(zip(self.headers, row, strict=True)) for row in self.rows]


def read_table(
    data: bytes, filename: str, *, sheet: str | None = None, limits: Limits | None = None
) -> Table:
    """Read an uploaded CSV or XLSX file into a :class:`Table` of text cells.

    Parameters
    ----------
    data
        The file's bytes.
    filename
        The name it was uploaded with; its suffix chooses the reader.
    sheet
        The worksheet to read from a workbook (default the first).
    limits
        Size limits; default from settings.

    Raises
    ------
    FileRefused
        When the file cannot be read as a table; the message says why and what to do.
    """
    limits = limits or Limits.from_settings()
    name = filename or "the file"
    if len(data) > limits.max_bytes:
        msg = (
            f"{name} is {len(data) / 1024 / 1024:.1f} MB; the limit is "
            f"{limits.max_bytes / 1024 / 1024:g} MB (setting CAM_MAX_UPLOAD_MB) — split the file"
        )
        raise FileRefused(msg)
    if not data.strip():
        msg = f"{name} is empty: upload a spreadsheet with a header row and at least one data row"
        raise FileRefused(msg)
    suffix = "." + filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if suffix in XLSX_SUFFIXES:
        return _read_xlsx(data, name, sheet, limits)
    if suffix in CSV_SUFFIXES:
        return _read_csv(data, name, limits)
    if suffix == ".xls":
        msg = f"{name} is an old-style Excel .xls file: open it in Excel and save it as .xlsx or CSV"
        raise FileRefused(msg)
    msg = f"{name}: only .csv and .xlsx files can be uploaded (save the spreadsheet as one of these)"
    raise FileRefused(msg)


# --------------------------------------------------------------------------- CSV


def _decode(data: bytes, name: str) -> tuple[str, str]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        msg = (
            f'this file is not a CSV text file: {name} is UTF-16 (Excel\'s "Unicode text"); '
            'save it as "CSV UTF-8 (comma delimited)"'
        )
        raise FileRefused(msg)
    if b"\x00" in data:
        msg = (
            f"this file is not a CSV text file: {name} contains binary data (NUL bytes); "
            "if it is a workbook, upload it with its .xlsx name or save it as CSV"
        )
        raise FileRefused(msg)
    if data.startswith(_UTF8_BOM):
        candidates = ("utf-8-sig",)
    else:
        candidates = ("utf-8", "windows-1252")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            error = exc
            continue
        bad = _CONTROL.search(text)
        if bad:
            line = text.count("\n", 0, bad.start()) + 1
            msg = (
                f"this file is not a CSV text file: {name} has a control character "
                f"{bad.group()!r} on line {line}; save the spreadsheet as CSV and upload that"
            )
            raise FileRefused(msg)
        return text, encoding
    msg = (
        f"this file is not a CSV text file: {name} is neither UTF-8 nor Windows-1252 text "
        f"(byte {data[error.start]:#04x} at position {error.start}); "
        'save the spreadsheet as "CSV UTF-8 (comma delimited)"'
    )
    raise FileRefused(msg)


def _delimiter(text: str, name: str) -> str:
    first = text.split("\n", 1)[0]
    if name.lower().endswith(".tsv") or ("\t" in first and "," not in first):
        return "\t"
    if ";" in first and "," not in first:
        return ";"
    return ","


def _read_csv(data: bytes, name: str, limits: Limits) -> Table:
    text, encoding = _decode(data, name)
    notes: list[str] = []
    if encoding == "windows-1252":
        notes.append(f"{name} is not UTF-8: read it as Windows-1252 (check accented letters and quotes)")
    elif encoding == "utf-8-sig":
        notes.append(f"{name} read as UTF-8 with BOM")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text, name), strict=True)
    records: list[tuple[int, list[str]]] = []
    record = 0
    while True:
        start_line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            msg = (
                f"{name} is not a well-formed CSV file: the record starting on line {start_line} "
                f'could not be read ({exc}) — check that line for a stray or unclosed double quote (")'
            )
            raise FileRefused(msg) from exc
        record += 1
        records.append((record, cells))
    return _build_table(records, name, encoding, limits, notes=notes)


# --------------------------------------------------------------------------- XLSX


def _check_zip(data: bytes, name: str, limits: Limits) -> zipfile.ZipFile:
    if data.startswith(_OLE_SIGNATURE):
        msg = (
            f"{name} is not an .xlsx workbook: it is an old-style .xls file or a password-protected "
            "workbook — remove the password and save it as .xlsx (or CSV)"
        )
        raise FileRefused(msg)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        msg = f"{name} is not an Excel .xlsx workbook (it is not a zip archive): save it as .xlsx or CSV"
        raise FileRefused(msg) from exc
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        msg = (
            f"{name} has {len(entries):,} parts; the limit is {limits.max_entries:,} "
            "(setting CAM_MAX_XLSX_ENTRIES) — save the data as a fresh workbook or CSV"
        )
        raise FileRefused(msg)
    # Declared sizes bound what zipfile will ever inflate, so checking them is enough.
    total = sum(entry.file_size for entry in entries)
    if total > limits.max_uncompressed_bytes:
        msg = (
            f"{name} expands to {total / 1024 / 1024:,.0f} MB when opened; the limit is "
            f"{limits.max_uncompressed_bytes / 1024 / 1024:,.0f} MB (setting CAM_MAX_XLSX_UNCOMPRESSED_MB) "
            "— split the workbook or save the sheet as CSV"
        )
        raise FileRefused(msg)
    if "xl/workbook.xml" not in archive.namelist():
        msg = f"{name} is a zip archive but not an Excel .xlsx workbook: save the spreadsheet as .xlsx or CSV"
        raise FileRefused(msg)
    return archive


def _merged_ranges(archive: zipfile.ZipFile, path: str) -> list[str]:
    """The merged ranges of one sheet, found by scanning its XML in chunks.

    A read-only worksheet does not expose merged cells; loading the workbook a second
    time in normal mode would cost far more than this scan.
    """
    ranges: list[str] = []
    tail = b""
    with archive.open(path) as source:
        while chunk := source.read(1 << 20):
            buffer = tail + chunk
            ranges.extend(match.decode() for match in _MERGE_REF.findall(buffer))
            # Keep a tail in case a mergeCell element straddles two chunks, but not a match.
            cut = max(len(buffer) - 64, buffer.rfind(b"/>") + 2)
            tail = buffer[cut:]
    return list(dict.fromkeys(ranges))


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, dt.timedelta):
        return str(value)
    text = getattr(value, "text", None)  # ArrayFormula and DataTableFormula keep their formula here
    return str(text if text is not None else value)


def _is_defused(exc: BaseException | None) -> bool:
    """Whether defusedxml refused the XML somewhere in this exception's chain (openpyxl wraps it)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, DefusedXmlException):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _read_xlsx(data: bytes, name: str, sheet: str | None, limits: Limits) -> Table:
    archive = _check_zip(data, name, limits)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (
        InvalidFileException,
        zipfile.BadZipFile,
        KeyError,
        ParseError,
        DefusedXmlException,
        TypeError,
        ValueError,
        OSError,
    ) as exc:
        if _is_defused(exc):
            msg = (
                f"{name} could not be opened: it declares XML entities, which are refused because they "
                'can expand without limit (an "XML bomb") — save the data again as a new .xlsx or CSV'
            )
        else:
            msg = f"{name} could not be opened as an Excel workbook ({exc}): save it again as .xlsx or as CSV"
        raise FileRefused(msg) from exc
    try:
        sheet_names = list(workbook.sheetnames)
        chosen = sheet if sheet is not None else (sheet_names[0] if sheet_names else None)
        if chosen is None or chosen not in sheet_names:
            listed = ", ".join(repr(s) for s in sheet_names)
            msg = f"{name} has no sheet named {sheet!r}; its sheets are: {listed}"
            raise FileRefused(msg)
        worksheet = workbook[chosen]
        if not hasattr(worksheet, "iter_rows"):
            msg = f"sheet {chosen!r} of {name} is a chart, not a table: choose another sheet"
            raise FileRefused(msg)
        # Some writers declare a dimension of A1:XFD1048576; ignore it so rows are not padded.
        worksheet.reset_dimensions()
        records: list[tuple[int, list[str]]] = []
        formulas: dict[int, list[int]] = {}
        try:
            for number, cells in enumerate(worksheet.iter_rows(min_row=1, min_col=1), start=1):
                texts = []
                for position, cell in enumerate(cells):
                    if getattr(cell, "data_type", None) == "f":
                        formulas.setdefault(number, []).append(position)
                    texts.append(_cell_text(cell.value))
                records.append((number, texts))
        except (ParseError, DefusedXmlException, KeyError, ValueError, zipfile.BadZipFile) as exc:
            reason = "it declares XML entities (a possible XML bomb)" if _is_defused(exc) else str(exc)
            msg = f"sheet {chosen!r} of {name} could not be read ({reason}): save the workbook again as .xlsx or CSV"
            raise FileRefused(msg) from exc
        merged = _merged_ranges(archive, worksheet._worksheet_path)  # openpyxl keeps the part path here
    finally:
        workbook.close()
    if merged:
        shown = ", ".join(merged[:_SHOWN]) + (
            f" and {len(merged) - _SHOWN} more" if len(merged) > _SHOWN else ""
        )
        msg = (
            f"sheet {chosen!r} of {name} has merged cells ({shown}): unmerge them and fill in "
            "each row's own value, then upload again"
        )
        raise FileRefused(msg)
    table = _build_table(records, name, "xlsx", limits, sheet_names=sheet_names, sheet=chosen)
    if formulas:
        by_row = {
            number: [
                table.headers[p] if p < len(table.headers) else get_column_letter(p + 1) for p in positions
            ]
            for number, positions in formulas.items()
            if number in set(table.row_numbers)
        }
        notes = list(table.notes)
        if by_row:
            notes.append(
                f"{len(by_row)} row(s) contain formulas, which are never calculated: "
                "copy the sheet and paste values only"
            )
        table = Table(
            headers=table.headers,
            rows=table.rows,
            row_numbers=table.row_numbers,
            encoding=table.encoding,
            filename=table.filename,
            sheet_names=table.sheet_names,
            sheet=table.sheet,
            formula_cells=by_row,
            row_problems=table.row_problems,
            notes=notes,
        )
    return table


# --------------------------------------------------------------------------- shared


def _rows_listed(numbers: Sequence[int]) -> str:
    """ "row 3" or "rows 3, 5 and 2 more"."""
    shown = ("row " if len(numbers) == 1 else "rows ") + ", ".join(str(n) for n in numbers[:_SHOWN])
    return shown + (f" and {len(numbers) - _SHOWN} more" if len(numbers) > _SHOWN else "")


def _unescape(cell: str) -> str:
    return html.unescape(cell) if "&" in cell else cell


def _build_table(
    records: Iterable[tuple[int, list[str]]],
    name: str,
    encoding: str,
    limits: Limits,
    *,
    notes: list[str] | None = None,
    sheet_names: list[str] | None = None,
    sheet: str | None = None,
) -> Table:
    """Turn numbered raw rows into a Table: header, padding, limits, entity decoding."""
    notes = list(notes or [])
    nonblank = [(number, cells) for number, cells in records if any(c.strip() for c in cells)]
    where = f"sheet {sheet!r} of {name}" if sheet else name
    if not nonblank:
        msg = f"{where} is empty: upload a spreadsheet with a header row and at least one data row"
        raise FileRefused(msg)
    header_number, raw_headers = nonblank[0]
    data = nonblank[1:]
    if not data:
        msg = f"{where} has a header row (row {header_number}) but no data rows: add at least one row"
        raise FileRefused(msg)
    if len(data) > limits.max_rows:
        msg = (
            f"{where} has {len(data):,} rows; the limit is {limits.max_rows:,} "
            "(setting CAM_MAX_ROWS) — split the file"
        )
        raise FileRefused(msg)

    headers = [_unescape(h.strip()) for h in raw_headers]
    used_width = max(len(cells) for _, cells in data)
    # Columns with no header and no data at all are spreadsheet leftovers, not columns.
    while (
        headers
        and not headers[-1]
        and all(len(c) < len(headers) or not c[len(headers) - 1].strip() for _, c in data)
    ):
        headers.pop()
    unnamed = []
    for position, header in enumerate(headers):
        if not header:
            headers[position] = f"Column {get_column_letter(position + 1)}"
            unnamed.append(headers[position])
    if unnamed:
        notes.append(f"columns without a header were named {', '.join(unnamed)}")
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    for position, header in enumerate(headers):
        key = header.casefold()
        if key in seen:
            duplicates.append(
                f"{header!r} (columns {get_column_letter(seen[key] + 1)} and {get_column_letter(position + 1)})"
            )
        else:
            seen[key] = position
    if duplicates:
        msg = f"{where} has duplicate column names in row {header_number}: {'; '.join(duplicates)} — rename or remove one of each"
        raise FileRefused(msg)

    width = len(headers)
    rows: list[list[str]] = []
    numbers: list[int] = []
    padded: list[int] = []
    problems: dict[int, str] = {}
    decoded = 0
    for number, cells in data:
        if len(cells) > width:
            extra = [c for c in cells[width:] if c.strip()]
            if extra:
                values = ", ".join(repr(c) for c in extra[:3])
                problems[number] = (
                    f"row {number} has {len(cells)} cells but the header has {width} columns "
                    f"(extra: {values}); a value containing a comma must be in double quotes"
                )
            cells = cells[:width]
        elif len(cells) < width:
            padded.append(number)
            cells = cells + [""] * (width - len(cells))
        row = []
        for cell in cells:
            text = _unescape(cell)
            decoded += text != cell
            row.append(text)
        rows.append(row)
        numbers.append(number)
    # XLSX leaves trailing empty cells out of a row, so only a CSV's short rows are worth a note.
    if padded and encoding != "xlsx":
        notes.append(f"{_rows_listed(padded)} had fewer cells than the header; the missing cells are blank")
    if problems:
        notes.append(
            f"{_rows_listed(sorted(problems))} have more cells than the header: they will be rejected"
        )
    if decoded:
        notes.append(f"HTML entities such as &eacute; were decoded in {decoded} cell(s)")
    if used_width > width and not problems:
        notes.append("empty cells beyond the last named column were ignored")
    return Table(
        headers=headers,
        rows=rows,
        row_numbers=numbers,
        encoding=encoding,
        filename=name,
        sheet_names=sheet_names or [],
        sheet=sheet,
        row_problems=problems,
        notes=notes,
    )


# --------------------------------------------------------------------------- headers

IMPORT_FIELDS = (
    "external_id",
    "name",
    "kind",
    "categories",
    "description",
    "run_by",
    "run_by_number",
    "address",
    "town",
    "postcode",
    "latitude",
    "longitude",
    "easting",
    "northing",
    "private_address",
    "sessions",
    "schedule_notes",
    "cost",
    "cost_note",
    "accessibility",
    "for_whom",
    "communities",
    "public_phone",
    "public_email",
    "website",
    "organiser_name",
    "organiser_phone",
    "organiser_email",
    "status",
    "last_verified",
)

_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": ("Id", "Asset id", "Reference", "asset_id", "Ref"),
    "name": ("Name", "Name of group", "Group name", "Title", "Asset name"),
    "kind": ("Type", "Kind", "Asset type"),
    "categories": ("Category", "Categories"),
    "description": ("Description", "Notes", "About"),
    "run_by": ("Run by", "Provider", "Organisation", "Organization"),
    "run_by_number": ("Charity number", "Company number", "Charity or company number"),
    "address": ("Address", "Address line 1", "Street address"),
    "town": ("Town", "City", "Town or city"),
    "postcode": ("Postcode", "Post code", "PC", "Postal code"),
    "latitude": ("Lat", "Latitude"),
    "longitude": ("Lon", "Lng", "Long", "Longitude"),
    "easting": ("Easting",),
    "northing": ("Northing",),
    "private_address": ("Private address",),
    "sessions": ("When", "Times", "Schedule", "Opening hours", "Hours", "Sessions"),
    "schedule_notes": ("Schedule notes",),
    "cost": ("Cost", "Price", "Fee"),
    "cost_note": ("Cost note",),
    "accessibility": ("Accessibility", "Access"),
    "for_whom": ("Who it is for", "Who it's for", "Audience", "For whom"),
    "communities": ("Communities",),
    "public_phone": ("Phone", "Telephone", "Contact phone", "Tel"),
    "public_email": ("Email", "Contact email", "E-mail"),
    "website": ("Website", "Web", "URL", "Web site"),
    "organiser_name": ("Organiser", "Organiser name", "Contact name", "Lead"),
    "organiser_phone": ("Organiser phone",),
    "organiser_email": ("Organiser email",),
    "status": ("Status",),
    "last_verified": ("Last verified", "Verified", "Checked", "Last checked"),
}
# Our own export writes "lat"/"lon"; the Asset record calls them lat/lon too.
_FIELD_SYNONYMS = {"lat": "latitude", "lon": "longitude"}

# Columns our export writes that the app works out itself: recognised, never imported.
DERIVED_COLUMNS = (
    "ward_code",
    "ward_name",
    "constituency_code",
    "constituency_name",
    "district_code",
    "district_name",
    "location_precision",
    "geocode_source",
    "boundary_vintage",
    "stale",
    "version",
    "updated_at",
    "created_at",
)
DERIVED_REASON = "ignored: derived by the app"


def header_key(text: str) -> str:
    """Fold a header for matching: case, spacing and punctuation do not matter."""
    folded = str(text).casefold().replace("&", "and")
    return re.sub(r"[^0-9a-z]+", "", folded)


def _build_header_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for name in IMPORT_FIELDS:
        index[header_key(name)] = name
    for name, aliases in _ALIASES.items():
        for alias in aliases:
            index[header_key(alias)] = name
    for alias, name in _FIELD_SYNONYMS.items():
        index[header_key(alias)] = name
    # The labels the app shows (and its Add form uses) are accepted as headers too.
    for name, label in FIELD_LABELS.items():
        target = _FIELD_SYNONYMS.get(name, name)
        if target in IMPORT_FIELDS:
            index.setdefault(header_key(label), target)
    return index


_HEADER_INDEX = _build_header_index()
_DERIVED_KEYS = {header_key(name): name for name in DERIVED_COLUMNS}


@dataclass(frozen=True)
class HeaderMapping:
    """Which column feeds which register field.

    ``fields`` maps a field to its header; ``unmapped`` lists headers no field uses (never
    dropped silently); ``ignored`` maps a header to why it is not imported;
    ``conflicts`` maps a field to every header that matched it (the first is used).
    """

    fields: dict[str, str]
    unmapped: list[str]
    ignored: dict[str, str]
    conflicts: dict[str, list[str]]

    @property
    def messages(self) -> list[str]:
        """Plain-English notes on the mapping, for the preview."""
        out = []
        for name, headers in self.conflicts.items():
            listed = " and ".join(repr(h) for h in headers)
            out.append(
                f"columns {listed} all look like {FIELD_LABELS.get(name, name)!r}: using {headers[0]!r}; "
                "choose one in the column mapping or rename the other"
            )
        if self.unmapped:
            out.append(
                "these columns match no field and will not be imported: "
                + ", ".join(repr(h) for h in self.unmapped)
                + " (map them to a field if they hold data you need)"
            )
        return out

    def cells(self, headers: Sequence[str], row: Sequence[str]) -> dict[str, str]:
        """One row as {field: cell text} for the mapped fields."""
        position = {header: i for i, header in enumerate(headers)}
        return {name: row[position[header]] for name, header in self.fields.items()}


def map_headers(headers: Sequence[str], overrides: Mapping[str, str | None] | None = None) -> HeaderMapping:
    """Match a table's headers to register fields.

    Parameters
    ----------
    headers
        The headers as written in the file.
    overrides
        {header: field} choices from the user, which win over matching; a field of
        None means "do not import this column".

    Raises
    ------
    MappingError
        When an override names a header not in the file or a field the register lacks.
    """
    overrides = dict(overrides or {})
    for header, target in overrides.items():
        if header not in headers:
            msg = f"column mapping names {header!r}, which is not a column of the file; its columns are {list(headers)}"
            raise MappingError(msg)
        if target is not None and target not in IMPORT_FIELDS:
            msg = f"column {header!r} is mapped to {target!r}, which is not a field; fields are: {', '.join(IMPORT_FIELDS)}"
            raise MappingError(msg)
    matched: dict[str, list[str]] = {}
    unmapped: list[str] = []
    ignored: dict[str, str] = {}
    for header in headers:
        if header in overrides:
            target = overrides[header]
            if target is None:
                ignored[header] = "ignored: chosen in the column mapping"
                continue
        else:
            key = header_key(header)
            if key in _DERIVED_KEYS:
                ignored[header] = DERIVED_REASON
                continue
            target = _HEADER_INDEX.get(key)
            if target is None:
                unmapped.append(header)
                continue
        matched.setdefault(target, []).append(header)
    fields: dict[str, str] = {}
    conflicts: dict[str, list[str]] = {}
    for target, found in matched.items():
        # An explicit override beats a header that only matched by name.
        chosen = [h for h in found if h in overrides] or found
        fields[target] = chosen[0]
        if len(found) > 1 and not (len(chosen) == 1 and chosen[0] in overrides):
            conflicts[target] = found
    ordered = {name: fields[name] for name in IMPORT_FIELDS if name in fields}
    return HeaderMapping(fields=ordered, unmapped=unmapped, ignored=ignored, conflicts=conflicts)
