"""Open Referral UK (HSDS 3.0 UK profile): the register as a standard feed, and feeds imported.

Export: every published asset becomes one ``service`` (fully nested: organisation, one
``service_at_location`` with its ``location``, address and accessibility, schedules, cost
options, public contact, and attributes linking to our own published taxonomies). Ids are
UUIDs that stay the same across exports: the service id is the asset id; every other id is a
uuid5 of a stable key under :data:`assets.taxonomy.TAXONOMY_NAMESPACE`. Empty optional fields
are omitted, never null. :func:`write_feed_json` writes the list with the paging envelope of
the standard's examples; :func:`write_feed_csv` the tabular form (one CSV per table, every
cell through :func:`geo.escaping.neutralise_cell`).

Import: :func:`read_feed` reads an ORUK JSON file (a service list or one full service);
:func:`preview_feed_import` maps each service to the register's import fields and runs it
through :func:`assets.importer.preview_import` — the same validation, geocoding, duplicate
detection and preview as a spreadsheet — then :func:`assets.importer.commit_import` stores it
in one transaction. A service's "row" is its position in the file (1-based); messages say
"service N (id …)". The ORUK id is kept as the record's reference (``external_id``), and as
its id when new, so re-importing an updated feed updates the same records.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from assets.dedupe import normalise_name
from assets.errors import FileRefused
from assets.importer import DUPLICATE, NEW, REJECTED, UNCHANGED, UPDATE, ImportPreview, preview_import
from assets.model import FIELD_LABELS, Actor, Asset, Session
from assets.schedules import format_schedule
from assets.tabular import Table
from assets.taxonomy import (
    ACCESSIBILITY,
    CATEGORIES,
    COSTS,
    FOR_WHOM,
    KINDS,
    TAXONOMY_NAMESPACE,
    match_accessibility,
    match_category,
    match_cost,
    match_for_whom,
    match_kind,
    taxonomy_term_id,
)
from assets.validation import ERROR, WARNING, Problem
from settings import get_settings

HSDS_VERSION = "3.0"
PROFILE_URL = "https://github.com/OpenReferralUK/uk-profile"
OPENAPI_URL = "https://raw.githubusercontent.com/openreferral/uk-profile/main/schema/openapi.json"
COUNTRY = "GB"
COORDINATE_DECIMALS = 6  # about 0.1 m: more would only publish float noise
PRIVATE_ADDRESS_LINE = "Private address (area only)"
ARRANGEMENT_TEXT = "By arrangement"
DEFAULT_KIND = "activity"  # a service from another directory is something people attend
ENCODING_LABEL = "Open Referral UK JSON (UTF-8)"

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_TIME = re.compile(r"^\s*(\d{1,2})[:.](\d{2})(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?\s*$", re.IGNORECASE)
_BYDAY = re.compile(r"^([+-]?\d)?(MO|TU|WE|TH|FR|SA|SU)$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_NON_KEY = re.compile(r"[^a-z0-9]+")


def stable_id(*parts: object) -> str:
    """A UUID that is the same in every export for the same key parts."""
    return str(uuid.uuid5(TAXONOMY_NAMESPACE, ":".join(str(part) for part in parts)))


# --------------------------------------------------------------------------- our taxonomies


@dataclass(frozen=True)
class Vocabulary:
    """One of the register's published taxonomies (categories, kinds, ...)."""

    key: str
    name: str
    description: str
    terms: Mapping[str, str]  # slug -> label
    term_description: str  # with {label}

    @property
    def id(self) -> str:
        return stable_id("taxonomy", self.key)

    def term_id(self, slug: str) -> str:
        # Category ids are the ones assets.taxonomy gives everywhere else in the app.
        return taxonomy_term_id(slug) if self.key == "categories" else stable_id(self.key, slug)


VOCABULARIES: dict[str, Vocabulary] = {
    vocabulary.key: vocabulary
    for vocabulary in (
        Vocabulary(
            "categories",
            "Community asset categories",
            "What a community group, venue or activity in the register offers.",
            CATEGORIES,
            "Community groups, venues and activities in the category {label}.",
        ),
        Vocabulary(
            "kinds",
            "Kinds of community asset",
            "Whether a record in the register is a group, a venue or an activity.",
            KINDS,
            "A community asset that is: {label}.",
        ),
        Vocabulary(
            "for_whom",
            "Who a community asset is for",
            "The people a group, venue or activity is intended for.",
            FOR_WHOM,
            "Community assets intended for: {label}.",
        ),
        Vocabulary(
            "accessibility",
            "Accessibility features",
            "Access features of the place where a group, venue or activity meets.",
            ACCESSIBILITY,
            "Places with this accessibility feature: {label}.",
        ),
        Vocabulary(
            "location_privacy",
            "Location privacy",
            "Whether a location is published at postcode-sector level only because it is someone's home.",
            {"private_address": "Private address (area only)"},
            "The location is someone's home: only its postcode sector and the sector's centre are published.",
        ),
    )
}
# term id -> (vocabulary key, slug)
TERMS: dict[str, tuple[str, str]] = {
    vocabulary.term_id(slug): (key, slug) for key, vocabulary in VOCABULARIES.items() for slug in vocabulary.terms
}
PRIVATE_TERM_ID = VOCABULARIES["location_privacy"].term_id("private_address")


def taxonomy_term(vocabulary_key: str, slug: str) -> dict[str, Any]:
    """One of our taxonomy terms as an ORUK ``taxonomy_term``."""
    vocabulary = VOCABULARIES[vocabulary_key]
    label = vocabulary.terms[slug]
    return {
        "id": vocabulary.term_id(slug),
        "name": label,
        "description": vocabulary.term_description.format(label=label),
        "taxonomy": vocabulary.name,
        "taxonomy_id": vocabulary.id,
        "term": slug,
    }


def taxonomy_summary(vocabulary_key: str) -> dict[str, Any]:
    """One of our taxonomies without its terms (the list form)."""
    vocabulary = VOCABULARIES[vocabulary_key]
    return {"id": vocabulary.id, "name": vocabulary.name, "description": vocabulary.description}


def taxonomy_full(vocabulary_key: str) -> dict[str, Any]:
    """One of our taxonomies with all its terms."""
    return taxonomy_summary(vocabulary_key) | {
        "taxonomy_terms": [taxonomy_term(vocabulary_key, slug) for slug in VOCABULARIES[vocabulary_key].terms]
    }


def all_taxonomy_terms() -> list[dict[str, Any]]:
    """Every term of every one of our taxonomies, taxonomy by taxonomy."""
    return [taxonomy_term(key, slug) for key, vocabulary in VOCABULARIES.items() for slug in vocabulary.terms]


def _attribute(link_id: str, link_type: str, vocabulary_key: str, slug: str) -> dict[str, Any]:
    term = taxonomy_term(vocabulary_key, slug)
    return {
        "id": stable_id("attribute", link_id, term["id"]),
        "link_id": link_id,
        "link_type": link_type,
        "taxonomy_term_id": term["id"],
        "taxonomy_term": term,
    }


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class OrganisationInfo:
    """What the feed says about an organisation (duck-typed from assets.store.Organisation)."""

    name: str
    description: str = ""
    identifier: str = ""


def organisation_infos(organisations: Iterable[Any]) -> dict[str, OrganisationInfo]:
    """{organisation id: info} and {casefolded name: info} from the store's organisations."""
    found: dict[str, OrganisationInfo] = {}
    for organisation in organisations:
        info = OrganisationInfo(organisation.name, organisation.description or "", organisation.identifier or "")
        found[organisation.id] = info
        found[organisation.name.casefold()] = info
    return found


def identifier_scheme(number: str) -> tuple[str, str]:
    """(org-id.guide scheme, identifier type) of a charity or company number ("" when unclear)."""
    text = re.sub(r"\s+", "", number).upper()
    if re.fullmatch(r"\d{6,7}(?:-\d{1,2})?", text):
        return "GB-CHC", "Charity number"  # Charity Commission for England and Wales
    if re.fullmatch(r"SC0\d{5}", text):
        return "GB-SC", "Charity number"  # Scottish Charity Regulator
    if re.fullmatch(r"NIC?\d{5,6}", text):
        return "GB-NIC", "Charity number"  # Charity Commission for Northern Ireland
    if re.fullmatch(r"\d{8}|(?:SC|NI|OC|SO|NC|R0|FC|GE|LP|SL|NL|IP|SP|RS|CE|CS)\d{6}", text):
        return "GB-COH", "Company number"  # Companies House
    return "", "Charity or company number"


@lru_cache(maxsize=65_536)
def _organization_id(name: str) -> str:
    """The stable id of an organisation: a uuid5 of its normalised name (cached: names repeat)."""
    return stable_id("organization", normalise_name(name) or name)


def _generated_description(name: str) -> str:
    return f"{name} runs community groups, venues or activities listed in this register."


def organization_for(asset: Asset, organisations: Mapping[str, OrganisationInfo] | None = None) -> dict[str, Any]:
    """The ``organization`` offering the asset: its "run by" provider, else its owner.

    The id is a uuid5 of the organisation's normalised name, so the same provider has the
    same id in every service and every export.
    """
    organisations = organisations or {}
    if asset.run_by.strip():
        name = " ".join(asset.run_by.split())
        known = organisations.get(name.casefold())
        description = known.description if known else ""
        identifier = asset.run_by_number.strip() or (known.identifier if known else "")
    else:
        known = organisations.get(asset.organisation_id) or organisations.get(asset.organisation_name.casefold())
        name = known.name if known else asset.organisation_name or "Unnamed organisation"
        description = known.description if known else ""
        identifier = known.identifier if known else ""
    org_id = _organization_id(name)
    organization: dict[str, Any] = {
        "id": org_id,
        "name": name,
        "description": description.strip() or _generated_description(name),
    }
    if identifier:
        scheme, kind = identifier_scheme(identifier)
        entry = {"id": stable_id("organization_identifier", org_id, identifier), "organization_id": org_id}
        if scheme:
            entry["identifier_scheme"] = scheme
        entry |= {"identifier_type": kind, "identifier": identifier}
        organization["organization_identifiers"] = [entry]
    return organization


def _timestamp(value: Any) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return ""
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _url(website: str) -> str:
    text = website.strip()
    if not text or " " in text:
        return ""
    return text if _SCHEME.match(text) else f"https://{text}"


def _email(text: str) -> str:
    text = text.strip()
    return text if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else ""


def _sector(postcode: str) -> str:
    text = " ".join(postcode.upper().split())
    outward, _, inward = text.partition(" ")
    if not inward:
        compact = text.replace(" ", "")
        if len(compact) < 5:
            return compact
        outward, inward = compact[:-3], compact[-3:]
    return f"{outward} {inward[:1]}".strip()


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _schedules(asset: Asset) -> list[dict[str, Any]]:
    schedules = []
    for session in asset.sessions:
        key = f"{session.frequency}:{session.nth}:{session.day}:{session.start}:{session.end}:{session.anchor}"
        entry: dict[str, Any] = {
            "id": stable_id("schedule", asset.id, key),
            "service_id": asset.id,
            "freq": "MONTHLY" if session.frequency == "monthly" else "WEEKLY",
            "interval": 2 if session.frequency == "fortnightly" else 1,
            "byday": f"{session.nth or 1}{session.day}" if session.frequency == "monthly" else session.day,
            "description": session.describe(),
            "opens_at": session.start,
        }
        if session.frequency == "fortnightly" and session.anchor:
            # The date of one meeting fixes which weeks a fortnightly session meets.
            entry["dtstart"] = session.anchor.isoformat()
        if session.end:
            entry["closes_at"] = session.end
        schedules.append(entry)
    if asset.by_arrangement or asset.schedule_notes.strip():
        entry = {"id": stable_id("schedule", asset.id, "arrangement"), "service_id": asset.id}
        if asset.by_arrangement:
            entry["description"] = ARRANGEMENT_TEXT
        if asset.schedule_notes.strip():
            entry["notes"] = asset.schedule_notes.strip()
        schedules.append(entry)
    return schedules


def _cost_options(asset: Asset) -> list[dict[str, Any]]:
    if not asset.cost and not asset.cost_note.strip():
        return []
    entry: dict[str, Any] = {"id": stable_id("cost_option", asset.id), "service_id": asset.id}
    if asset.cost:
        entry["option"] = COSTS.get(asset.cost, asset.cost)
    if asset.cost == "free":
        entry["amount"] = 0
    if asset.cost_note.strip():
        entry["amount_description"] = asset.cost_note.strip()
    return [entry]


def _location_summary(asset: Asset) -> dict[str, Any]:
    """The location's one-to-one fields."""
    location: dict[str, Any] = {"id": stable_id("location", asset.id), "location_type": "physical", "name": asset.name}
    # A private record is published only at its sector centre, which the store holds in
    # lat/lon when precision is "sector"; otherwise it publishes no position at all.
    if (not asset.private_address or asset.location_precision == "sector") and asset.lat is not None and asset.lon is not None:
        location["latitude"] = round(float(asset.lat), COORDINATE_DECIMALS)
        location["longitude"] = round(float(asset.lon), COORDINATE_DECIMALS)
    return location


def _location(asset: Asset) -> dict[str, Any]:
    location = _location_summary(asset)
    location_id = location["id"]
    private = asset.private_address
    address_line = " ".join(asset.address.replace("\n", ", ").split()).strip(" ,")
    postcode = asset.postcode.strip()
    if private and postcode:
        address_line, postcode = PRIVATE_ADDRESS_LINE, _sector(postcode)
    if address_line:
        city = asset.town.strip() or asset.district_name.strip()
        location["addresses"] = [
            {
                "id": stable_id("address", location_id),
                "location_id": location_id,
                "address_1": address_line,
                "city": city,
                "state_province": asset.district_name.strip() or city,
                "postal_code": postcode,
                "country": COUNTRY,
                "address_type": "physical",
            }
        ]
    access = []
    for slug in asset.accessibility:
        if slug not in ACCESSIBILITY:
            continue
        access_id = stable_id("accessibility", location_id, slug)
        access.append(
            {
                "id": access_id,
                "location_id": location_id,
                "description": ACCESSIBILITY[slug],
                "attributes": [_attribute(access_id, "accessibility", "accessibility", slug)],
            }
        )
    if access:
        location["accessibility"] = access
    if private:
        location["attributes"] = [_attribute(location_id, "location", "location_privacy", "private_address")]
    return location


def service_summary(asset: Asset, organisations: Mapping[str, OrganisationInfo] | None = None) -> dict[str, Any]:
    """The service's one-to-one fields with its organisation's (the standard's list form)."""
    organization = organization_for(asset, organisations)
    service: dict[str, Any] = {"id": asset.id, "organization_id": organization["id"], "name": asset.name}
    if asset.description.strip():
        service["description"] = asset.description
    if url := _url(asset.website):
        service["url"] = url
    if email := _email(asset.public_email):
        service["email"] = email
    service["status"] = "active"
    if asset.last_verified:
        service["assured_date"] = asset.last_verified.isoformat()
    if modified := _timestamp(asset.updated_at):
        service["last_modified"] = modified
    service["organization"] = {key: organization[key] for key in ("id", "name", "description")}
    return service


def service_from_asset(asset: Asset, organisations: Mapping[str, OrganisationInfo] | None = None) -> dict[str, Any]:
    """One published asset as a fully nested ORUK ``service`` (public fields only)."""
    service = service_summary(asset, organisations)
    service["organization"] = organization_for(asset, organisations)
    if schedules := _schedules(asset):
        service["schedules"] = schedules
    location = _location(asset)
    service["service_at_locations"] = [
        {
            "id": stable_id("service_at_location", asset.id),
            "service_id": asset.id,
            "location_id": location["id"],
            "location": location,
        }
    ]
    if costs := _cost_options(asset):
        service["cost_options"] = costs
    if asset.public_phone.strip():
        contact_id = stable_id("contact", asset.id)
        service["contacts"] = [
            {
                "id": contact_id,
                "service_id": asset.id,
                "phones": [
                    {"id": stable_id("phone", contact_id), "contact_id": contact_id, "number": asset.public_phone.strip()}
                ],
            }
        ]
    attributes = [_attribute(asset.id, "service", "categories", slug) for slug in asset.categories if slug in CATEGORIES]
    if asset.kind in KINDS:
        attributes.append(_attribute(asset.id, "service", "kinds", asset.kind))
    attributes += [_attribute(asset.id, "service", "for_whom", slug) for slug in asset.for_whom if slug in FOR_WHOM]
    if attributes:
        service["attributes"] = attributes
    return service


_SUMMARY_LOCATION = ("id", "location_type", "name", "description", "latitude", "longitude")


def service_at_location_item(service: Mapping[str, Any], *, full: bool = False) -> dict[str, Any]:
    """The service's place as an ORUK ``service_at_location``: list form, or ``full``."""
    link = service["service_at_locations"][0]
    location = link["location"]
    if full:
        nested = {key: value for key, value in service.items() if key != "service_at_locations"}
    else:
        location = {key: location[key] for key in _SUMMARY_LOCATION if key in location}
        nested = service_list_item(service)
    return {"id": link["id"], "service_id": service["id"], "location_id": location["id"], "location": location,
            "service": nested}


def service_at_location_summary(
    asset: Asset, organisations: Mapping[str, OrganisationInfo] | None = None
) -> dict[str, Any]:
    """The list form of an asset's ``service_at_location`` without building the full service."""
    location = _location_summary(asset)
    return {
        "id": stable_id("service_at_location", asset.id),
        "service_id": asset.id,
        "location_id": location["id"],
        "location": location,
        "service": service_summary(asset, organisations),
    }


_ONE_TO_MANY = ("schedules", "service_areas", "service_at_locations", "languages", "funding", "cost_options",
                "contacts", "attributes")


def service_list_item(service: Mapping[str, Any]) -> dict[str, Any]:
    """A full service cut to the standard's list form (one-to-one fields only)."""
    item = {key: value for key, value in service.items() if key not in _ONE_TO_MANY}
    if "organization" in item:
        item["organization"] = {key: item["organization"][key] for key in ("id", "name", "description")}
    return item


def page_envelope(contents: list[Any], *, total_items: int, page: int, per_page: int) -> dict[str, Any]:
    """The standard's paging envelope around one page of ``contents``."""
    total_pages = math.ceil(total_items / per_page) if per_page else 0
    return {
        "total_items": total_items,
        "total_pages": total_pages,
        "page_number": page,
        "size": len(contents),
        "first_page": page == 1,
        "last_page": page >= total_pages,
        "empty": not contents,
        "contents": contents,
    }


def export_services(assets: Iterable[Asset], organisations: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Every published asset as a fully nested service, by name (drafts and archived left out)."""
    infos = organisation_infos(organisations)
    chosen = sorted((a for a in assets if a.status == "published"), key=lambda a: (a.name.casefold(), a.id))
    return [service_from_asset(asset, infos) for asset in chosen]


def feed_document(services: list[dict[str, Any]]) -> dict[str, Any]:
    """All services in one page of the envelope."""
    return page_envelope(services, total_items=len(services), page=1, per_page=max(len(services), 1))


def feed_json(services: list[dict[str, Any]]) -> bytes:
    """The feed (one page holding every service) as UTF-8 JSON bytes."""
    return json.dumps(feed_document(services), ensure_ascii=False, indent=1).encode("utf-8")


def write_feed_json(services: list[dict[str, Any]], path: str | Path) -> None:
    """Write the feed (one page holding every service) as UTF-8 JSON."""
    Path(path).write_bytes(feed_json(services))


# --------------------------------------------------------------------------- tabular form

# The tables of the UK profile's datapackage.json: file name and columns, in its order.
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "organization": (
        "organizations.csv",
        ("id", "name", "description", "email", "website", "logo", "uri", "parent_organization_id"),
    ),
    "service": (
        "services.csv",
        ("id", "organization_id", "name", "description", "url", "email", "status", "fees", "accreditations",
         "minimum_age", "maximum_age", "assured_date", "assurer_email", "alert", "last_modified"),
    ),
    "attribute": ("attribute.csv", ("id", "link_id", "taxonomy_term_id", "link_type")),
    "service_at_location": ("service_at_location.csv", ("id", "service_id", "location_id")),
    "location": (
        "locations.csv",
        ("id", "location_type", "name", "description", "latitude", "longitude", "external_identifier",
         "external_identifier_type"),
    ),
    "phone": ("phones.csv", ("id", "contact_id", "number", "description")),
    "contact": ("contacts.csv", ("id", "service_id", "name", "title")),
    "address": (
        "address.csv",
        ("id", "location_id", "attention", "address_1", "city", "region", "state_province", "postal_code",
         "country", "address_type"),
    ),
    "schedule": (
        "schedule.csv",
        ("id", "service_id", "service_at_location_id", "valid_from", "valid_to", "dtstart", "freq", "interval",
         "byday", "bymonthday", "description", "opens_at", "closes_at", "schedule_link", "attending_type", "notes"),
    ),
    "funding": ("funding.csv", ("id", "service_id", "source")),
    "service_area": ("service_areas.csv", ("id", "service_id", "name", "extent", "extent_type", "uri", "service_area")),
    "language": ("languages.csv", ("id", "service_id", "phone_id")),
    "accessibility": ("accessibility.csv", ("id", "location_id", "description", "details", "url", "accessibility")),
    "taxonomy_term": (
        "taxonomy_terms.csv",
        ("id", "name", "description", "parent_id", "taxonomy", "taxonomy_id", "term_uri", "term"),
    ),
    "cost_option": (
        "cost_options.csv",
        ("id", "service_id", "valid_from", "valid_to", "option", "amount", "amount_description"),
    ),
    "organization_identifier": (
        "organization_identifiers.csv",
        ("id", "organization_id", "identifier_scheme", "identifier_type", "identifier"),
    ),
    "taxonomy": ("taxonomies.csv", ("id", "name", "description", "uri", "version")),
}


_NUMBER_COLUMNS = frozenset(("latitude", "longitude", "amount", "interval", "minimum_age", "maximum_age"))


def feed_tables(services: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The nested services flattened into the standard's tables (rows as dicts)."""
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    seen: set[tuple[str, str]] = set()

    def add(table: str, row: Mapping[str, Any]) -> None:
        if (table, row["id"]) not in seen:
            seen.add((table, row["id"]))
            tables[table].append(dict(row))

    def add_attributes(entries: Iterable[Mapping[str, Any]]) -> None:
        for attribute in entries:
            add("attribute", attribute)

    for service in services:
        add("service", service)
        organization = service["organization"]
        add("organization", organization)
        for entry in organization.get("organization_identifiers", ()):
            add("organization_identifier", entry)
        for schedule in service.get("schedules", ()):
            add("schedule", schedule)
        for cost in service.get("cost_options", ()):
            add("cost_option", cost)
        for contact in service.get("contacts", ()):
            add("contact", contact)
            for phone in contact.get("phones", ()):
                add("phone", phone)
        add_attributes(service.get("attributes", ()))
        for link in service.get("service_at_locations", ()):
            location = link["location"]
            add("service_at_location", {"id": link["id"], "service_id": service["id"], "location_id": location["id"]})
            add("location", location)
            add_attributes(location.get("attributes", ()))
            for address in location.get("addresses", ()):
                add("address", address)
            for access in location.get("accessibility", ()):
                add("accessibility", access)
                add_attributes(access.get("attributes", ()))
    for key in VOCABULARIES:
        add("taxonomy", taxonomy_summary(key))
        for slug in VOCABULARIES[key].terms:
            add("taxonomy_term", taxonomy_term(key, slug))
    return tables


def write_feed_csv(services: Sequence[Mapping[str, Any]], directory: str | Path) -> dict[str, int]:
    """Write the tabular form: one CSV per table (header even when empty) and a datapackage.json.

    Every cell goes through :func:`geo.escaping.neutralise_cell`. Returns {file name: rows}.
    """
    from assets.exports import write_csv  # the one CSV writer (UTF-8 with BOM, cells neutralised)

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    resources = []
    for name, rows in feed_tables(services).items():
        filename, columns = TABLES[name]
        write_csv(rows, folder / filename, columns=columns)
        counts[filename] = len(rows)
        resources.append(
            {"name": name, "path": filename, "profile": "tabular-data-resource",
             "schema": {"primaryKey": "id", "fields": [
                 {"name": column, "type": "number" if column in _NUMBER_COLUMNS else "string"} for column in columns]}}
        )
    package = {
        "name": "community-asset-register",
        "title": "Community asset register (Open Referral UK, HSDS 3.0 UK profile)",
        "profile": "tabular-data-package",
        "resources": resources,
    }
    (folder / "datapackage.json").write_text(json.dumps(package, indent=1), encoding="utf-8")
    return counts


# --------------------------------------------------------------------------- import: reading

# The import fields an ORUK service fills (assets.tabular.IMPORT_FIELDS). Organisers' contacts,
# communities, status and easting/northing are not in a feed, so updates never touch them.
FEED_FIELDS = (
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
    "private_address",
    "sessions",
    "cost",
    "cost_note",
    "accessibility",
    "for_whom",
    "public_phone",
    "public_email",
    "website",
    "last_verified",
)


@dataclass(frozen=True)
class ServiceProblem(Problem):
    """A problem of one service of a feed: says "service N (id …)" instead of "row N"."""

    service_id: str = ""

    @property
    def message(self) -> str:
        where = f"service {self.row}" if self.row is not None else "the feed"
        if self.service_id:
            where += f" (id {self.service_id})"
        label = FIELD_LABELS.get(self.field, self.field)
        value = f"{self.value!r} " if self.value else ""
        return f"{where}, {label}: {value}{self.reason} — {self.fix}"


@dataclass(frozen=True)
class Feed:
    """An ORUK JSON file as read: its services (dicts), in file order."""

    filename: str
    services: tuple[Any, ...]
    shape: str  # "service list" or "single service"


def read_feed(data: bytes, filename: str, *, max_bytes: int | None = None, max_services: int | None = None) -> Feed:
    """Read an Open Referral UK JSON file: a service list (with ``contents``) or one full service.

    Raises
    ------
    FileRefused
        Too big, not UTF-8 JSON, or neither a service list nor a service; the message says what to do.
    """
    settings = get_settings()
    max_bytes = settings.max_upload_bytes if max_bytes is None else max_bytes
    max_services = settings.max_rows if max_services is None else max_services
    name = filename or "the file"
    if len(data) > max_bytes:
        msg = (
            f"{name} is {len(data) / 1024 / 1024:.1f} MB; the limit is {max_bytes / 1024 / 1024:g} MB "
            "(setting CAM_MAX_UPLOAD_MB) — split the feed"
        )
        raise FileRefused(msg)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        msg = f"{name} is not UTF-8 text (byte {exc.start}): an Open Referral UK feed is JSON in UTF-8"
        raise FileRefused(msg) from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} — check the file is a complete JSON download"
        raise FileRefused(msg) from exc
    except RecursionError as exc:
        msg = f"{name} is nested too deeply to be a service feed"
        raise FileRefused(msg) from exc
    if isinstance(document, dict) and isinstance(document.get("contents"), list):
        services, shape = document["contents"], "service list"
    elif isinstance(document, dict) and ("name" in document or "service_at_locations" in document):
        services, shape = [document], "single service"
    elif isinstance(document, list):
        services, shape = document, "service list"
    else:
        msg = (
            f"{name} is JSON but neither an Open Referral UK service list (an object with "
            "'contents': [services]) nor one service (an object with 'id' and 'name')"
        )
        raise FileRefused(msg)
    if not services:
        msg = f"{name} holds no services (its 'contents' list is empty)"
        raise FileRefused(msg)
    if len(services) > max_services:
        msg = f"{name} holds {len(services):,} services; the limit is {max_services:,} (setting CAM_MAX_ROWS) — split the feed"
        raise FileRefused(msg)
    return Feed(filename=name, services=tuple(services), shape=shape)


# --------------------------------------------------------------------------- import: mapping


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _time(value: Any) -> str | None:
    found = _TIME.match(str(value or ""))
    if not found:
        return None
    hour, minute = int(found.group(1)), int(found.group(2))
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


@dataclass
class _Mapped:
    """One service mapped to import cells, with the problems found on the way."""

    cells: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[str, str, str, str, str]] = field(default_factory=list)  # field, value, reason, fix, severity
    location_failed: bool = False
    private: bool = False
    sector: str = ""  # a private record's postcode sector (kept out of geocoding)
    kind_defaulted: bool = False

    def problem(self, name: str, value: Any, reason: str, fix: str, severity: str = ERROR) -> None:
        self.problems.append((name, _text(value) if not isinstance(value, str) else value, reason, fix, severity))


def _term_ref(attribute: Mapping[str, Any]) -> tuple[str, str]:
    """(term id, term name) of an attribute, from its taxonomy_term or taxonomy_term_id."""
    term = attribute.get("taxonomy_term") if isinstance(attribute.get("taxonomy_term"), dict) else {}
    term_id = str(attribute.get("taxonomy_term_id") or term.get("id") or "")
    name = _text(term.get("name")) or _text(term.get("term"))
    return term_id, name


def _map_attributes(service: Mapping[str, Any], mapped: _Mapped) -> None:
    found: dict[str, list[str]] = {"categories": [], "kinds": [], "for_whom": []}
    unknown: list[str] = []
    for attribute in _dicts(service.get("attributes")):
        term_id, name = _term_ref(attribute)
        if term_id in TERMS:
            key, slug = TERMS[term_id]
            if key in found:
                found[key].append(slug)
                continue
        for key, match in (("categories", match_category), ("kinds", match_kind), ("for_whom", match_for_whom)):
            slug = match(name) if name else None
            if slug:
                found[key].append(slug)
                break
        else:
            if name or term_id:
                unknown.append(name or term_id)
    categories = list(dict.fromkeys(found["categories"]))
    if categories:
        mapped.cells["categories"] = "; ".join(CATEGORIES[slug] for slug in categories)
        if unknown:
            mapped.problem(
                "categories",
                "; ".join(unknown),
                "matches none of the register's categories (not imported)",
                "nothing to do, or add a category by hand after the import",
                WARNING,
            )
    else:
        # The register needs a category: the terms given are named in validation's message.
        mapped.cells["categories"] = "; ".join(unknown)
    kinds = list(dict.fromkeys(found["kinds"]))
    mapped.cells["kind"] = KINDS[kinds[0]] if kinds else KINDS[DEFAULT_KIND]
    mapped.kind_defaulted = not kinds
    mapped.cells["for_whom"] = "; ".join(FOR_WHOM[slug] for slug in dict.fromkeys(found["for_whom"]))


def _map_organisation(service: Mapping[str, Any], owner_name: str, mapped: _Mapped) -> None:
    organization = service.get("organization") if isinstance(service.get("organization"), dict) else {}
    name = _text(organization.get("name"))
    if not name or name.casefold() == owner_name.strip().casefold():
        return  # run by the importing organisation itself
    mapped.cells["run_by"] = name
    for entry in _dicts(organization.get("organization_identifiers")):
        identifier = _text(entry.get("identifier"))
        if identifier:
            mapped.cells["run_by_number"] = identifier
            break


def _choose_location(service: Mapping[str, Any], mapped: _Mapped) -> dict[str, Any] | None:
    """The first usable location; problems for the ones that are not."""
    links = _dicts(service.get("service_at_locations"))
    locations = [link["location"] for link in links if isinstance(link.get("location"), dict)]
    if not locations:
        mapped.problem(
            "service_at_locations",
            "",
            "has no location: the register holds no record without a place",
            "give the service a service_at_location with a location (latitude and longitude, or an address with a postcode)",
        )
        mapped.location_failed = True
        return None
    failures: list[tuple[str, str, str, str]] = []
    for location in locations:
        label = f"location {location.get('id') or '(no id)'}"
        if _text(location.get("name")):
            label += f" ({_text(location.get('name'))})"
        lat_raw, lon_raw = location.get("latitude"), location.get("longitude")
        lat, lon = _number(lat_raw), _number(lon_raw)
        bad: list[tuple[str, str, str, str]] = []
        if lat_raw is not None and lat is None:
            bad.append(("latitude", _text(lat_raw), f"of {label} is not a number", "give the latitude as a number such as 52.4796"))
        if lon_raw is not None and lon is None:
            bad.append(("longitude", _text(lon_raw), f"of {label} is not a number", "give the longitude as a number such as -1.9026"))
        if lat is not None and not -90 <= lat <= 90:
            bad.append(("latitude", f"{lat:g}", f"of {label} is outside -90 to 90, so it is not a latitude",
                        "correct the location's latitude in the feed (places in Great Britain are about 50 to 61)"))
        if lon is not None and not -180 <= lon <= 180:
            bad.append(("longitude", f"{lon:g}", f"of {label} is outside -180 to 180, so it is not a longitude",
                        "correct the location's longitude in the feed (places in Great Britain are about -8 to 2)"))
        if (lat is None) != (lon is None) and not bad:
            missing = "longitude" if lon is None else "latitude"
            bad.append((missing, "", f"of {label} is missing while the other coordinate is given", "give both or neither"))
        if bad:
            failures.extend(bad)
            continue
        if len(locations) > 1 and location is not locations[0]:
            mapped.problem("service_at_locations", "", f"{label} was used: the earlier locations could not be", "correct them in the feed", WARNING)
        if len(locations) > 1:
            mapped.problem(
                "service_at_locations",
                f"{len(locations)} locations",
                "the register holds one place per record: only the first usable location was imported",
                "add the other places as records of their own if they matter",
                WARNING,
            )
        return location
    for name, value, reason, fix in failures:
        mapped.problem(name, value, reason, fix)
    mapped.location_failed = True
    return None


def _map_location(location: Mapping[str, Any], mapped: _Mapped) -> None:
    lat, lon = _number(location.get("latitude")), _number(location.get("longitude"))
    if lat is not None and lon is not None:
        mapped.cells["latitude"], mapped.cells["longitude"] = repr(lat), repr(lon)
    attributes = _dicts(location.get("attributes"))
    mapped.private = any(_term_ref(attribute)[0] == PRIVATE_TERM_ID for attribute in attributes)
    mapped.cells["private_address"] = "yes" if mapped.private else "no"
    addresses = _dicts(location.get("addresses"))
    address = next((a for a in addresses if a.get("address_type") == "physical"), addresses[0] if addresses else None)
    if address is not None:
        lines = [_text(address.get(key)) for key in ("address_1", "address_2")]
        line = ", ".join(part for part in lines if part)
        if not mapped.private and line != PRIVATE_ADDRESS_LINE:
            mapped.cells["address"] = line
        mapped.cells["town"] = _text(address.get("city"))
        postcode = _text(address.get("postal_code"))
        if mapped.private:
            # Only the sector is published: geocoding it would only warn that it is partial.
            mapped.sector = _sector(postcode) if postcode else ""
        else:
            mapped.cells["postcode"] = postcode
    access: list[str] = []
    for entry in _dicts(location.get("accessibility")):
        slug = next(
            (TERMS[t][1] for t, _ in map(_term_ref, _dicts(entry.get("attributes"))) if t in TERMS and TERMS[t][0] == "accessibility"),
            None,
        )
        text = _text(entry.get("description")) or _text(entry.get("accessibility"))
        if slug is None and text:
            slug = match_accessibility(text)
        if slug:
            access.append(ACCESSIBILITY[slug])
        elif text:
            access.append(text.replace(";", ","))
    mapped.cells["accessibility"] = "; ".join(dict.fromkeys(access))


def _session_of(schedule: Mapping[str, Any]) -> tuple[list[Session], str]:
    """Sessions of one ORUK schedule, or ([], why) when it is not regular days and times."""
    freq = _text(schedule.get("freq")).upper()
    interval_number = _number(schedule.get("interval"))
    interval = int(interval_number) if interval_number is not None else 1
    byday = [part.strip().upper() for part in _text(schedule.get("byday")).split(",") if part.strip()]
    start = _time(schedule.get("opens_at"))
    end = _time(schedule.get("closes_at")) if schedule.get("closes_at") else ""
    if not byday:
        return [], "has no byday"
    if start is None:
        return [], "has no opens_at time (HH:MM)"
    if end is None:
        return [], f"closes_at {schedule.get('closes_at')!r} is not a time (HH:MM)"
    if _text(schedule.get("bymonthday")):
        return [], "uses bymonthday, which the register cannot hold"
    anchor = None
    dtstart = _text(schedule.get("dtstart"))[:10]
    if dtstart:
        try:
            anchor = date.fromisoformat(dtstart)
        except ValueError:
            return [], f"dtstart {dtstart!r} is not a date"
    sessions: list[Session] = []
    for part in byday:
        found = _BYDAY.match(part)
        if not found:
            return [], f"byday {part!r} is not a day such as TU or 1MO"
        nth_text, day = found.groups()
        if freq in ("", "WEEKLY") and not nth_text and interval in (1, 2):
            frequency = "fortnightly" if interval == 2 else "weekly"
            sessions.append(Session(day, start, end, frequency, None, anchor if frequency == "fortnightly" else None))
        elif freq == "MONTHLY" and nth_text and int(nth_text) in (1, 2, 3, 4, -1) and interval == 1:
            sessions.append(Session(day, start, end, "monthly", int(nth_text)))
        else:
            return [], f"freq {freq or 'none'} with interval {interval} and byday {part} is not weekly, fortnightly or monthly"
    return sessions, ""


def _map_schedules(service: Mapping[str, Any], link: Mapping[str, Any] | None, mapped: _Mapped) -> None:
    schedules = _dicts(service.get("schedules")) + (_dicts(link.get("schedules")) if link else [])
    sessions: list[Session] = []
    notes: list[str] = []
    by_arrangement = False
    for schedule in schedules:
        description = _text(schedule.get("description"))
        note = _text(schedule.get("notes"))
        regular = bool(_text(schedule.get("byday")) or _text(schedule.get("freq")))
        if not regular:
            if re.search(r"\bby\s+(?:prior\s+)?(?:arrangement|appointment)\b", description, re.IGNORECASE):
                by_arrangement = True
            elif description:
                notes.append(description)
            if note:
                notes.append(note)
            continue
        found, why = _session_of(schedule)
        if found:
            sessions.extend(s for s in found if s not in sessions)
            if note:
                notes.append(note)
            continue
        mapped.problem(
            "sessions",
            schedule.get("id") or "",
            f"schedule {why} (kept as a schedule note)",
            "give weekly, fortnightly (interval 2) or monthly (byday like 1MO) schedules with opens_at and closes_at",
            WARNING,
        )
        notes.extend(part for part in (description, note) if part)
    notes = [text.replace(";", ",") for text in dict.fromkeys(notes)]
    mapped.cells["sessions"] = format_schedule(sessions, by_arrangement, "; ".join(notes))


def _map_costs(service: Mapping[str, Any], mapped: _Mapped) -> None:
    options = _dicts(service.get("cost_options"))
    if not options:
        fees = _text(service.get("fees"))
        if fees:
            mapped.cells["cost"] = fees
        return
    first, others = options[0], options[1:]
    option = _text(first.get("option"))
    amount = _number(first.get("amount"))
    described = _text(first.get("amount_description"))
    band = match_cost(option) if option else None
    notes: list[str] = []
    if band is None:
        if amount is not None:
            band = "free" if amount == 0 else "paid"
            if amount:
                notes.append(f"£{amount:.2f}".replace(".00", ""))
        notes.extend(part for part in (option,) if part)
    notes.extend(part for part in (described,) if part)
    for extra in others:
        extra_amount = _number(extra.get("amount"))
        parts = [_text(extra.get("option")), f"£{extra_amount:.2f}".replace(".00", "") if extra_amount else "",
                 _text(extra.get("amount_description"))]
        if any(parts):
            notes.append(" ".join(part for part in parts if part))
    mapped.cells["cost"] = COSTS[band] if band else ""
    mapped.cells["cost_note"] = "; ".join(notes)


def _map_contacts(service: Mapping[str, Any], mapped: _Mapped) -> None:
    phones = _dicts(service.get("phones"))
    emails: list[str] = []
    for contact in _dicts(service.get("contacts")):
        phones += _dicts(contact.get("phones"))
        if _text(contact.get("email")):
            emails.append(_text(contact.get("email")))
    number = next((_text(phone.get("number")) for phone in phones if _text(phone.get("number"))), "")
    mapped.cells["public_phone"] = number
    mapped.cells["public_email"] = _text(service.get("email")) or (emails[0] if emails else "")
    mapped.cells["website"] = _text(service.get("url"))


def map_service(service: Any, *, owner_name: str = "") -> _Mapped:
    """One ORUK service as import cells ({field of FEED_FIELDS: text}) and its problems."""
    mapped = _Mapped(cells=dict.fromkeys(FEED_FIELDS, ""))
    if not isinstance(service, dict):
        mapped.problem("service", type(service).__name__, "is not a JSON object", "each service must be an object with id and name")
        mapped.location_failed = True
        return mapped
    service_id = service.get("id")
    if not _is_uuid(service_id):
        mapped.problem(
            "id",
            _text(service_id),
            "is missing or not a UUID" if service_id else "is missing",
            "give every service its ORUK id (a UUID): it is how re-imports find the same record",
        )
    else:
        mapped.cells["external_id"] = str(service_id)
    status = _text(service.get("status")).lower() or "active"
    if status != "active":
        mapped.problem(
            "status",
            status,
            "is not active: only active services are imported",
            "archive the record by hand if the service has closed",
        )
    mapped.cells["name"] = _text(service.get("name"))
    mapped.cells["description"] = str(service.get("description") or "").strip()
    assured = _text(service.get("assured_date"))
    mapped.cells["last_verified"] = assured[:10] if re.match(r"\d{4}-\d{2}-\d{2}T", assured) else assured
    _map_attributes(service, mapped)
    _map_organisation(service, owner_name, mapped)
    location = _choose_location(service, mapped)
    link = None
    if location is not None:
        _map_location(location, mapped)
        link = next((ln for ln in _dicts(service.get("service_at_locations")) if ln.get("location") is location), None)
    _map_schedules(service, link, mapped)
    _map_costs(service, mapped)
    _map_contacts(service, mapped)
    return mapped


# --------------------------------------------------------------------------- import: preview


def _owner_name(store, actor: Actor, organisation_id: str | None) -> str:
    owner = organisation_id or actor.organisation_id
    if not owner:
        return store.default_organisation(actor).name
    for organisation in store.list_organisations(actor):
        if organisation.id == owner:
            return organisation.name
    return ""


def feed_table(feed: Feed, *, owner_name: str = "") -> tuple[Table, dict[int, _Mapped]]:
    """The feed as a :class:`~assets.tabular.Table` of FEED_FIELDS cells, one row per service.

    A service with an error found here (no usable location, no UUID, not active, an id
    repeated) gets a ``row_problems`` entry, so the importer rejects it.
    """
    rows: list[list[str]] = []
    numbers: list[int] = []
    problems: dict[int, str] = {}
    mapped_rows: dict[int, _Mapped] = {}
    first_of: dict[str, int] = {}
    defaulted = 0
    for number, service in enumerate(feed.services, start=1):
        mapped = map_service(service, owner_name=owner_name)
        ref = mapped.cells["external_id"]
        if ref and ref in first_of:
            mapped.problem("id", ref, f"is also the id of service {first_of[ref]}", "give each service its own id")
        elif ref:
            first_of[ref] = number
        defaulted += mapped.kind_defaulted
        errors = [p for p in mapped.problems if p[4] == ERROR]
        if errors:
            problems[number] = "; ".join(f"{name}: {reason}" for name, _, reason, _, _ in errors)
        rows.append([mapped.cells[name] for name in FEED_FIELDS])
        numbers.append(number)
        mapped_rows[number] = mapped
    notes = [f"Open Referral UK {feed.shape} with {len(feed.services):,} service(s); each service is one row, numbered by its position."]
    if defaulted:
        notes.append(
            f"{defaulted:,} service(s) carry no kind from our taxonomy (group, venue or activity): imported as "
            f"{KINDS[DEFAULT_KIND].lower()}s"
        )
    table = Table(
        headers=list(FEED_FIELDS),
        rows=rows,
        row_numbers=numbers,
        encoding=ENCODING_LABEL,
        filename=feed.filename,
        row_problems=problems,
        notes=notes,
    )
    return table, mapped_rows


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    return a is not None and b is not None and abs(a - b) <= tolerance


# Fields that describe where a record is; a feed that places it where it already is changes none.
_PLACE = ("postcode", "lat", "lon", "easting", "northing", "location_precision", "ward_code", "ward_name",
          "constituency_code", "constituency_name", "district_code", "district_name", "boundary_vintage",
          "geocode_source")


def _reconcile(existing: Asset, incoming: Asset, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Drop changes that only reflect how the feed publishes a record, not a change to it.

    The feed carries coordinates rounded to 0.1 m (so re-geocoded records would differ in
    postcode precision and source), private records at sector level without their address,
    the district's name as town when the record has none, and web addresses with https://.
    """
    kept = dict(changes)
    same_point = _close(existing.easting, incoming.easting, 1.0) and _close(existing.northing, incoming.northing, 1.0)
    if same_point:
        for name in _PLACE:
            kept.pop(name, None)
    if incoming.private_address and existing.private_address:
        kept.pop("address", None)
        if _sector(existing.postcode) == _sector(incoming.postcode):
            kept.pop("postcode", None)
    if not existing.town and incoming.town == existing.district_name:
        kept.pop("town", None)
    if _url(existing.website) == _url(incoming.website):
        kept.pop("website", None)
    return kept


def preview_feed_import(
    store,
    actor: Actor,
    feed: Feed,
    *,
    gazetteer,
    geography,
    organisation_id: str | None = None,
    status: str = "published",
    today: date | None = None,
    online=None,
    progress=None,
) -> ImportPreview:
    """Plan the import of an ORUK feed, exactly as a spreadsheet's (stores nothing).

    Runs :func:`assets.importer.preview_import` on :func:`feed_table`, then: names each
    problem "service N (id …)"; gives new records their ORUK id as their id (when it is a
    UUID no record has); keeps private records at sector precision; and drops updates that
    only reflect how a feed publishes a record (see :func:`_reconcile`). Commit the result
    with :func:`assets.importer.commit_import`.
    """
    owner_name = _owner_name(store, actor, organisation_id)
    table, mapped_rows = feed_table(feed, owner_name=owner_name)
    preview = preview_import(
        store,
        actor,
        table,
        gazetteer=gazetteer,
        geography=geography,
        organisation_id=organisation_id,
        status=status,
        today=today,
        online=online,
        progress=progress,
    )
    existing_ids = {asset.id for asset in store.list_assets(actor, statuses=("draft", "published", "archived"))}
    claimed: set[str] = set()
    plans = []
    for plan in preview.rows:
        mapped = mapped_rows[plan.row]
        service_id = mapped.cells["external_id"]
        problems = _feed_problems(plan.problems, mapped, plan.row, service_id)
        plan = replace(plan, problems=tuple(problems))
        if plan.asset is not None and mapped.private:
            # A feed publishes a private record at its sector centre: that is its precision here.
            plan = replace(plan, asset=replace(plan.asset, location_precision="sector", postcode=mapped.sector))
        if plan.status in (NEW, DUPLICATE) and plan.asset is not None:
            if service_id and service_id not in existing_ids and service_id not in claimed:
                claimed.add(service_id)
                plan = replace(plan, asset=replace(plan.asset, id=service_id))
        elif plan.status == UPDATE and plan.asset is not None:
            existing = store.get_asset(actor, plan.existing_id)
            changes = dict(plan.changes)
            if mapped.private:
                changes.update(location_precision=plan.asset.location_precision, postcode=plan.asset.postcode)
            changes = {k: v for k, v in changes.items() if getattr(existing, k, object()) != v}
            changes = _reconcile(existing, plan.asset, changes)
            plan = replace(plan, changes=changes, status=UPDATE if changes else UNCHANGED)
        plans.append(plan)
    return replace(preview, rows=tuple(plans))


def _feed_problems(problems: Sequence[Problem], mapped: _Mapped, number: int, service_id: str) -> list[ServiceProblem]:
    ours = [
        ServiceProblem(number, name, value, reason, fix, severity, service_id=service_id)
        for name, value, reason, fix, severity in mapped.problems
    ]
    kept = []
    for problem in problems:
        if problem.field == "row":
            continue  # the importer's copy of our own errors: ours name the field
        if mapped.location_failed and problem.reason.startswith("no postcode or coordinates given"):
            continue  # the location's own problem is named instead
        kept.append(ServiceProblem(**asdict(problem), service_id=service_id))
    return ours + kept


def summarise_rejections(preview: ImportPreview) -> list[str]:
    """Every rejected service's messages (for the command line)."""
    return [problem.message for plan in preview.rows if plan.status == REJECTED for problem in plan.problems
            if problem.severity == ERROR]
