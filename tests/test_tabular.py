"""Reading uploaded CSV/XLSX files safely, and matching their headers to fields.

Every broken file is built here, in memory: nothing binary is committed.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import openpyxl
import pytest

from assets.errors import FileRefused, MappingError
from assets.exports import EXPORT_COLUMNS, INTERNAL_COLUMNS
from assets.tabular import DERIVED_REASON, IMPORT_FIELDS, Limits, map_headers, read_table

LIMITS = Limits(
    max_bytes=10 * 1024 * 1024, max_rows=50_000, max_uncompressed_bytes=100 * 1024 * 1024, max_entries=1_000
)


def xlsx_bytes(rows, *, merge: str | None = None, sheets: dict | None = None) -> bytes:
    """A workbook from lists of values; ``merge`` is a range like "A2:A3"."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Assets"
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    for title, extra_rows in (sheets or {}).items():
        other = workbook.create_sheet(title)
        for row in extra_rows:
            other.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def replace_part(data: bytes, part: str, content: bytes) -> bytes:
    """The same zip with one member's content replaced."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, content if info.filename == part else source.read(info.filename))
    return out.getvalue()


def zip_bomb() -> bytes:
    """A real workbook plus a 101 MB run of spaces that deflates to ~100 KB."""
    base = xlsx_bytes([["Name"], ["Lunch club"]])
    out = io.BytesIO(base)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("xl/worksheets/sheet2.xml", "w", force_zip64=True) as entry:
            block = b" " * (1 << 20)
            for _ in range(101):
                entry.write(block)
    return out.getvalue()


def many_entries() -> bytes:
    base = xlsx_bytes([["Name"], ["Lunch club"]])
    out = io.BytesIO(base)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_STORED) as archive:
        for number in range(1_001):
            archive.writestr(f"customXml/item{number}.xml", b"<a/>")
    return out.getvalue()


def xml_bomb() -> bytes:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row></sheetData></worksheet>'
    )
    return replace_part(xlsx_bytes([["Name"], ["x"]]), "xl/worksheets/sheet1.xml", laughs)


def formula_workbook() -> bytes:
    return xlsx_bytes(
        [["Name", "When", "Cost"], ["Lunch club", '=A2&" Tuesdays"', "=1+1"], ["Choir", "Mon 10-12", "Free"]]
    )


def only_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return out.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"

# (id, bytes, filename, expected): expected is a regex for FileRefused, or a check on the Table.
BROKEN_FILES = [
    (
        "cp1252",
        "Name,Town\nCafé – St Mary’s,York\n".encode("cp1252"),
        "groups.csv",
        lambda t: (
            t.encoding == "windows-1252"
            and t.rows[0][0] == "Café – St Mary’s"
            and any("Windows-1252" in n for n in t.notes)
        ),
    ),
    (
        "utf8-bom",
        "\ufeffName,Town\nCafé,York\n".encode(),
        "groups.csv",
        lambda t: (
            t.encoding == "utf-8-sig"
            and t.headers == ["Name", "Town"]
            and t.encoding_label == "UTF-8 with BOM"
        ),
    ),
    ("empty", b"", "groups.csv", r"groups\.csv is empty"),
    ("blank-lines", b"\r\n\r\n  \r\n", "groups.csv", r"groups\.csv is empty"),
    ("only-headers", b"Name,Type,Postcode\r\n", "groups.csv", r"header row \(row 1\) but no data rows"),
    (
        "duplicate-headers",
        b"Name,Type,name\nA,Group,B\n",
        "groups.csv",
        r"duplicate column names in row 1: 'name' \(columns A and C\) — rename or remove",
    ),
    (
        "merged-xlsx",
        xlsx_bytes([["Name", "Type"], ["A", "Group"], ["", "Venue"]], merge="A2:A3"),
        "g.xlsx",
        r"merged cells \(A2:A3\): unmerge them",
    ),
    (
        "zip-bomb",
        zip_bomb,
        "bomb.xlsx",
        r"expands to 101 MB .* limit is 100 MB \(setting CAM_MAX_XLSX_UNCOMPRESSED_MB\)",
    ),
    (
        "zip-entries",
        many_entries,
        "many.xlsx",
        r"has 1,0\d\d parts; the limit is 1,000 \(setting CAM_MAX_XLSX_ENTRIES\)",
    ),
    ("xml-bomb", xml_bomb, "lol.xlsx", r"declares XML entities.*XML bomb"),
    (
        "60000-rows",
        b"Name\n" + b"Lunch club\n" * 60_000,
        "big.csv",
        r"^big\.csv has 60,000 rows; the limit is 50,000 \(setting CAM_MAX_ROWS\) — split the file$",
    ),
    ("binary-named-csv", PNG, "photo.csv", r"^this file is not a CSV text file: .*binary data"),
    (
        "undecodable-csv",
        b"Name\nCaf\x81\x8d\n",
        "odd.csv",
        r"^this file is not a CSV text file: .*neither UTF-8 nor Windows-1252",
    ),
    ("utf16-csv", "Name\nCafé\n".encode("utf-16"), "u16.csv", r"^this file is not a CSV text file: .*UTF-16"),
    (
        "control-chars",
        b"Name\nA\x01B\n",
        "ctl.csv",
        r"^this file is not a CSV text file: .*control character .* line 2",
    ),
    (
        "formula-xlsx",
        formula_workbook(),
        "f.xlsx",
        lambda t: (
            t.formula_cells == {2: ["When", "Cost"]}
            and t.rows[0][1].startswith("=")
            and 3 not in t.formula_cells
        ),
    ),
    (
        "ragged-more",
        b"Name,Address,Postcode\nA,1 High St,B1 1AY\nB,1 High St, Birmingham,B1 1AY\nC,,\n",
        "r.csv",
        lambda t: (
            list(t.row_problems) == [3]
            and "row 3 has 4 cells but the header has 3 columns" in t.row_problems[3]
            and "double quotes" in t.row_problems[3]
            and t.rows[1] == ["B", "1 High St", " Birmingham"]
        ),
    ),
    (
        "ragged-fewer",
        b"Name,Address,Postcode\nA\nB,x,y\n",
        "r.csv",
        lambda t: t.rows[0] == ["A", "", ""] and any("row 2 had fewer cells" in n for n in t.notes),
    ),
    (
        "trailing-empty-cells",
        b"Name,Town\nA,York,,\n",
        "t.csv",
        lambda t: t.rows == [["A", "York"]] and not t.row_problems,
    ),
    (
        "unclosed-quote",
        b'Name,Town\nA,York\n"B,Leeds\nC,Hull\n',
        "q.csv",
        r"record starting on line 3 .*unclosed double quote",
    ),
    ("stray-quote", b'Name,Town\nA,"Yo"rk\n', "q.csv", r"record starting on line 2 could not be read"),
    (
        "thousands",
        'Name,Members,Cost,Count\nA,"1,234","£1,000.50",007\n'.encode(),
        "n.csv",
        lambda t: t.rows == [["A", "1,234", "£1,000.50", "007"]] and not t.row_problems,
    ),
    (
        "na-text",
        b"Name,Phone,Notes\nNA,07700 900123,None\nN/A,null,\n",
        "na.csv",
        lambda t: t.rows == [["NA", "07700 900123", "None"], ["N/A", "null", ""]],
    ),
    (
        "junk-xlsx",
        b"this is not a workbook at all",
        "junk.xlsx",
        r"junk\.xlsx is not an Excel \.xlsx workbook \(it is not a zip",
    ),
    (
        "ole-xlsx",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512,
        "old.xlsx",
        r"old-style \.xls file or a password",
    ),
    ("zip-not-xlsx", only_zip(), "z.xlsx", r"zip archive but not an Excel \.xlsx workbook"),
    ("xls-name", b"\xd0\xcf\x11\xe0", "old.xls", r"old-style Excel \.xls file: .*save it as \.xlsx or CSV"),
    ("pdf-name", b"%PDF-1.4", "list.pdf", r"only \.csv and \.xlsx files can be uploaded"),
    (
        "html-entities",
        b"Name,Town\nCaf&eacute; &amp; Bar,York\n",
        "e.csv",
        lambda t: t.rows[0][0] == "Café & Bar" and any("HTML entities" in n for n in t.notes),
    ),
    (
        "blank-rows-keep-numbers",
        b"Name\nA\n\n,\nB\n",
        "b.csv",
        lambda t: t.rows == [["A"], ["B"]] and t.row_numbers == [2, 5],
    ),
    (
        "multiline-cell",
        b'Name,Description\nA,"line one\nline two"\nB,x\n',
        "m.csv",
        lambda t: t.row_numbers == [2, 3] and t.rows[0][1] == "line one\nline two",
    ),
    (
        "semicolon-delimited",
        b"Name;Town\nA;York\n",
        "s.csv",
        lambda t: t.headers == ["Name", "Town"] and t.rows == [["A", "York"]],
    ),
]


@pytest.mark.parametrize(
    ("data", "filename", "expected"), [case[1:] for case in BROKEN_FILES], ids=[c[0] for c in BROKEN_FILES]
)
def test_broken_files(data, filename, expected):
    data = data() if callable(data) else data  # the big ones are built only when their test runs
    if isinstance(expected, str):
        with pytest.raises(FileRefused, match=expected):
            read_table(data, filename, limits=LIMITS)
    else:
        table = read_table(data, filename, limits=LIMITS)
        assert expected(table), table


def test_at_least_twenty_broken_files():
    assert len(BROKEN_FILES) >= 20


def test_size_limit_names_setting():
    limits = Limits(max_bytes=1024, max_rows=10, max_uncompressed_bytes=1 << 20, max_entries=100)
    with pytest.raises(
        FileRefused, match=r"big\.csv is 0\.0 MB; the limit is .* \(setting CAM_MAX_UPLOAD_MB\)"
    ):
        read_table(b"Name\n" + b"x" * 2000, "big.csv", limits=limits)


def test_limits_come_from_settings(monkeypatch):
    monkeypatch.setenv("CAM_MAX_ROWS", "2")
    with pytest.raises(FileRefused, match=r"has 3 rows; the limit is 2 \(setting CAM_MAX_ROWS\)"):
        read_table(b"Name\na\nb\nc\n", "x.csv")
    assert len(read_table(b"Name\na\nb\n", "x.csv").rows) == 2


def test_xlsx_cells_are_text():
    data = xlsx_bytes(
        [
            ["Name", "Lat", "Count", "Verified", "Start", "Phone", "Flag", "Members"],
            ["NA", 52.4862, 3.0, dt.datetime(2025, 10, 1), dt.time(10, 30), "07700 900123", True, "1,234"],
            ["Choir", -1.5, 12, dt.datetime(2025, 10, 1, 9, 15), None, 7700900123, False, None],
        ]
    )
    table = read_table(data, "a.xlsx", limits=LIMITS)
    assert table.encoding == "xlsx" and table.sheet == "Assets" and table.sheet_names == ["Assets"]
    assert table.rows[0] == ["NA", "52.4862", "3", "2025-10-01", "10:30", "07700 900123", "TRUE", "1,234"]
    assert table.rows[1] == ["Choir", "-1.5", "12", "2025-10-01T09:15", "", "7700900123", "FALSE", ""]
    assert all(isinstance(cell, str) for row in table.rows for cell in row)
    assert table.records()[0]["Name"] == "NA"


def test_xlsx_sheet_choice_and_unknown_sheet():
    data = xlsx_bytes([["Name"], ["A"]], sheets={"Other": [["Name"], ["B"], ["C"]]})
    assert read_table(data, "a.xlsx", sheet="Other", limits=LIMITS).rows == [["B"], ["C"]]
    with pytest.raises(FileRefused, match=r"has no sheet named 'Nope'; its sheets are: 'Assets', 'Other'"):
        read_table(data, "a.xlsx", sheet="Nope", limits=LIMITS)


def test_xlsx_header_not_on_row_one_keeps_row_numbers():
    data = xlsx_bytes([[], [], ["Name", "Town"], ["A", "York"], [], ["B", "Hull"]])
    table = read_table(data, "a.xlsx", limits=LIMITS)
    assert table.headers == ["Name", "Town"]
    assert table.row_numbers == [4, 6]


def test_unnamed_column_with_data_is_named():
    table = read_table(b"Name,,Town\nA,extra,York\n", "a.csv", limits=LIMITS)
    assert table.headers == ["Name", "Column B", "Town"]
    assert any("Column B" in note for note in table.notes)


def test_duplicate_headers_in_xlsx():
    data = xlsx_bytes([["Name", "Postcode", "Postcode"], ["A", "B1 1AY", "B2 2AA"]])
    with pytest.raises(FileRefused, match=r"'Postcode' \(columns B and C\)"):
        read_table(data, "a.xlsx", limits=LIMITS)


# --------------------------------------------------------------------------- headers

ALIASES = {
    "name": ["Name", "Name of group", "GROUP NAME", "Title"],
    "kind": ["Type", "kind"],
    "categories": ["Category", "Categories"],
    "postcode": ["Postcode", "Post code", "PC", "post_code"],
    "latitude": ["Lat", "Latitude"],
    "longitude": ["Lon", "Lng", "Long", "Longitude"],
    "easting": ["Easting"],
    "northing": ["Northing"],
    "sessions": ["When", "Times", "Schedule", "Opening hours", "Hours"],
    "cost": ["Cost", "Price", "Fee"],
    "description": ["Description", "Notes", "About"],
    "run_by": ["Run by", "Provider", "Organisation"],
    "public_phone": ["Phone", "Telephone", "Contact phone"],
    "public_email": ["Email", "Contact email", "E-mail"],
    "website": ["Website", "Web", "URL"],
    "organiser_name": ["Organiser", "Organiser name", "Contact name", "Lead"],
    "organiser_phone": ["Organiser phone"],
    "organiser_email": ["Organiser email"],
    "last_verified": ["Last verified", "Verified", "Checked"],
    "external_id": ["Id", "Asset id", "Reference", "asset_id"],
    "address": ["Address", "Address line 1"],
    "town": ["Town", "City", "Town or city"],
    "accessibility": ["Accessibility", "Access"],
    "for_whom": ["Who it is for", "Audience", "Who it's for"],
    "cost_note": ["Cost note"],
    "status": ["Status"],
    "private_address": ["Private address"],
    "run_by_number": ["Charity number", "Company number"],
}


@pytest.mark.parametrize(
    ("field", "header"), [(field, header) for field, headers in ALIASES.items() for header in headers]
)
def test_header_aliases(field, header):
    for variant in (header, header.upper(), f"  {header.lower()}  ", header.replace(" ", "_") + ":"):
        mapping = map_headers([variant])
        assert mapping.fields == {field: variant}, variant


def test_export_headers_map_back():
    headers = list(EXPORT_COLUMNS) + list(INTERNAL_COLUMNS)
    mapping = map_headers(headers)
    assert not mapping.unmapped and not mapping.conflicts
    for derived in (
        "ward_code",
        "ward_name",
        "constituency_code",
        "constituency_name",
        "district_code",
        "stale",
    ):
        assert mapping.ignored[derived] == DERIVED_REASON
    assert mapping.fields["external_id"] == "asset_id"
    assert mapping.fields["latitude"] == "lat" and mapping.fields["longitude"] == "lon"
    assert set(mapping.fields) <= set(IMPORT_FIELDS)
    assert {"name", "kind", "categories", "sessions", "organiser_email"} <= set(mapping.fields)


def test_unmapped_listed_and_conflicts_reported():
    mapping = map_headers(["Name", "Phone", "Telephone", "Favourite colour"])
    assert mapping.unmapped == ["Favourite colour"]
    assert mapping.fields["public_phone"] == "Phone"
    assert mapping.conflicts == {"public_phone": ["Phone", "Telephone"]}
    text = " ".join(mapping.messages)
    assert "'Phone' and 'Telephone'" in text and "'Favourite colour'" in text


def test_overrides_win():
    mapping = map_headers(
        ["Name", "Phone", "Telephone", "Bus route"],
        overrides={"Telephone": None, "Bus route": "description", "Phone": "organiser_phone"},
    )
    assert mapping.fields == {"name": "Name", "description": "Bus route", "organiser_phone": "Phone"}
    assert mapping.ignored == {"Telephone": "ignored: chosen in the column mapping"}
    assert not mapping.conflicts and not mapping.unmapped


def test_override_beats_a_name_match_without_conflict():
    mapping = map_headers(["Name", "Group title"], overrides={"Group title": "name"})
    assert mapping.fields["name"] == "Group title"
    assert not mapping.conflicts


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Nope": "name"}, r"names 'Nope', which is not a column of the file"),
        ({"Name": "colour"}, r"mapped to 'colour', which is not a field"),
    ],
)
def test_bad_overrides(overrides, message):
    with pytest.raises(MappingError, match=message):
        map_headers(["Name"], overrides=overrides)


def test_cells_for_a_row():
    table = read_table(b"Group name,Type,Post code,Shoe size\nNA,Group,B1 1AY,9\n", "a.csv", limits=LIMITS)
    mapping = map_headers(table.headers)
    assert mapping.cells(table.headers, table.rows[0]) == {
        "name": "NA",
        "kind": "Group",
        "postcode": "B1 1AY",
    }
    assert mapping.unmapped == ["Shoe size"]
    assert re.search("Shoe size", mapping.messages[0])
