"""The read-only Open Referral UK API, through an HTTP test client, on the fixture register."""

from __future__ import annotations

import json
import logging
import math
import warnings

import numpy as np
import pytest
from test_oruk import (
    FORMULA_NAME,
    INTERNAL_VALUES,
    SCRIPT_NAME,
    assert_valid,
    build_register,
    load_gazetteer_or_skip,
    schema_validator,
    service_validator,
)

from assets import oruk
from assets.model import SYSTEM_ACTOR, Asset
from assets.oruk_api import MAX_PER_PAGE, create_app, server_config
from assets.store import close_store

warnings.filterwarnings("ignore", message=".*OSTN15.*")

def http_client(app):
    """Starlette's HTTP test client (in-process, through the ASGI app and its middleware)."""
    with warnings.catch_warnings():
        # Starlette 1.x prefers the httpx2 package for its test client; httpx (pinned) works the same.
        warnings.filterwarnings("ignore", message=".*install `httpx2` instead.*")
        from starlette.testclient import TestClient
    return TestClient(app)


LIST_KEYS = ("total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty", "contents")


@pytest.fixture(scope="module")
def gazetteer():
    """Code-Point Open, loaded once for the module."""
    return load_gazetteer_or_skip()


@pytest.fixture(scope="module")
def served(tmp_path_factory, gazetteer):
    """(client, store): the API over the fixture register (never written to by these tests)."""
    folder = tmp_path_factory.mktemp("oruk_api")
    url = f"sqlite:///{folder / 'register.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAM_DATA_DIR", str(folder))
        patch.setenv("DATABASE_URL", url)
        store, _ = build_register(url, gazetteer)
        with http_client(create_app(store, gazetteer)) as client:
            yield client, store
    close_store(url)


@pytest.fixture()
def writable(tmp_path, gazetteer, monkeypatch):
    """(client, store) over a register of its own, for tests that change it."""
    url = f"sqlite:///{tmp_path / 'register.db'}"
    monkeypatch.setenv("CAM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    store, _ = build_register(url, gazetteer)
    with http_client(create_app(store, gazetteer)) as client:
        yield client, store
    close_store(url)


@pytest.fixture(scope="module")
def exported(served):
    """The register's services as the JSON export writes them, by id."""
    _, store = served
    services = oruk.export_services(store.list_assets(SYSTEM_ACTOR), store.list_organisations(SYSTEM_ACTOR))
    return {service["id"]: service for service in services}


def get(client, path, status=200, **params):
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    if status >= 400:
        assert set(body) == {"message"} and body["message"]
    return body


def term(vocabulary, slug):
    return oruk.VOCABULARIES[vocabulary].term_id(slug)


def names(body):
    return [item.get("name") or item["service"]["name"] for item in body["contents"]]


# --------------------------------------------------------------------------- endpoints


def test_root_describes_the_api(served):
    client, _ = served
    body = get(client, "/")
    assert body == {"version": "3.0", "profile": oruk.PROFILE_URL, "openapi_url": oruk.OPENAPI_URL}


def test_services_list_and_detail_validate(served, exported, oruk_dir):
    client, _ = served
    body = get(client, "/services")
    assert list(body) == list(LIST_KEYS)
    assert (body["total_items"], body["total_pages"], body["size"], body["empty"]) == (5, 1, 5, False)
    assert names(body) == sorted(names(body), key=str.casefold)
    list_validator = schema_validator(oruk_dir, "compiled/service_list.json")
    full_validator = service_validator(oruk_dir)
    for item in body["contents"]:
        assert_valid(list_validator, item)
        # The list form is the full export cut to one-to-one fields: one mapping, two views.
        assert item == oruk.service_list_item(exported[item["id"]])
        detail = get(client, f"/services/{item['id']}")
        assert_valid(full_validator, detail)
        assert detail == exported[item["id"]]
    text = json.dumps(body) + json.dumps(list(exported.values()))
    for value in INTERNAL_VALUES:
        assert value not in text
    assert SCRIPT_NAME in names(body) and FORMULA_NAME in names(body)


def test_service_at_locations_list_and_detail_validate(served, exported, oruk_dir):
    client, _ = served
    body = get(client, "/service_at_locations")
    assert body["total_items"] == 5
    validator = schema_validator(oruk_dir, "compiled/service_at_location_list.json")
    full_validator = schema_validator(oruk_dir, "compiled/service_at_location.json")
    for item in body["contents"]:
        assert_valid(validator, item)
        assert item == oruk.service_at_location_item(exported[item["service_id"]])
        detail = get(client, f"/service_at_locations/{item['id']}")
        assert_valid(full_validator, detail)
        assert detail == oruk.service_at_location_item(exported[item["service_id"]], full=True)
        assert "service_at_locations" not in detail["service"]


def test_taxonomies_and_terms(served, oruk_dir):
    client, _ = served
    body = get(client, "/taxonomies")
    assert body["total_items"] == len(oruk.VOCABULARIES)
    taxonomy_validator = schema_validator(oruk_dir, "taxonomy.json")
    term_validator = schema_validator(oruk_dir, "taxonomy_term.json")
    for item in body["contents"]:
        assert_valid(taxonomy_validator, item)
        full = get(client, f"/taxonomies/{item['id']}")
        assert_valid(taxonomy_validator, full)
        assert full["taxonomy_terms"]
    categories = oruk.VOCABULARIES["categories"]
    full = get(client, f"/taxonomies/{categories.id}")
    assert [t["term"] for t in full["taxonomy_terms"]] == list(categories.terms)
    terms = get(client, "/taxonomy_terms", per_page=100)
    assert terms["total_items"] == len(oruk.TERMS) == 41
    for item in terms["contents"]:
        assert_valid(term_validator, item)
    only = get(client, "/taxonomy_terms", taxonomy_id=categories.id)
    assert only["total_items"] == 15
    one = get(client, f"/taxonomy_terms/{oruk.taxonomy_term_id('music')}")
    assert (one["name"], one["taxonomy_id"]) == ("Music", categories.id)


@pytest.mark.parametrize(
    "path",
    [
        "/services/00000000-0000-4000-8000-000000000000",
        "/services/not-an-id",
        "/service_at_locations/00000000-0000-4000-8000-000000000000",
        "/taxonomies/00000000-0000-4000-8000-000000000000",
        "/taxonomy_terms/nope",
        "/no_such_endpoint",
    ],
)
def test_unknown_ids_are_404(served, path):
    client, _ = served
    body = get(client, path, status=404)
    assert "no " in body["message"]


def test_writes_are_refused_as_json(served):
    client, _ = served
    response = client.post("/services", json={})
    assert response.status_code == 405 and "read-only" in response.json()["message"]


def test_cors_header_and_preflight(served):
    client, _ = served
    response = client.options("/services", headers={"Origin": "https://elsewhere.example",
                                                    "Access-Control-Request-Method": "GET"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "GET" in response.headers["access-control-allow-methods"]
    assert client.get("/services", headers={"Origin": "https://x.example"}).headers["access-control-allow-origin"] == "*"


# --------------------------------------------------------------------------- paging


def test_paging_edges(served):
    client, _ = served
    pages = [get(client, "/services", page=page, per_page=2) for page in (1, 2, 3)]
    assert [p["size"] for p in pages] == [2, 2, 1]
    assert [(p["first_page"], p["last_page"], p["total_pages"], p["page_number"]) for p in pages] == [
        (True, False, 3, 1), (False, False, 3, 2), (False, True, 3, 3)]
    all_names = [name for page in pages for name in names(page)]
    assert all_names == names(get(client, "/services"))
    past = get(client, "/services", page=9, per_page=2)
    assert (past["contents"], past["size"], past["empty"], past["last_page"], past["total_items"]) == ([], 0, True, True, 5)
    assert get(client, "/services", per_page=MAX_PER_PAGE)["size"] == 5
    assert get(client, "/taxonomy_terms", per_page=40, page=2)["size"] == 1


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"page": "0"}, "page 0 is out of range"),
        ({"page": "-1"}, "page -1 is out of range"),
        ({"page": "two"}, "page 'two' is not a whole number"),
        ({"per_page": "0"}, "per_page 0 is out of range"),
        ({"per_page": str(MAX_PER_PAGE + 1)}, f"from 1 to {MAX_PER_PAGE}"),
        ({"taxonomy_term_id": "arts"}, "taxonomy_term_id 'arts' is not a UUID"),
        ({"taxonomy_id": "x"}, "taxonomy_id 'x' is not a UUID"),
        ({"day": "Funday"}, "day 'Funday' is not a day of the week"),
        ({"start_time": "25:00"}, "start_time '25:00' is not a time"),
        ({"end_time": "noonish"}, "end_time 'noonish' is not a time"),
        ({"modified_after": "yesterday"}, "modified_after 'yesterday' is not a date-time"),
    ],
)
def test_bad_parameters_are_400(served, params, words):
    client, _ = served
    for path in ("/services", "/service_at_locations"):
        body = get(client, path, status=400, **params)
        assert words in body["message"]


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"taxonomy_term_id": term("categories", "arts_crafts")}, ["Weekly Knit and Natter"]),
        ({"taxonomy_term_id": term("kinds", "venue")}, [FORMULA_NAME]),
        ({"taxonomy_term_id": term("for_whom", "carers")}, ["Monthly Carers Cafe"]),
        ({"taxonomy_term_id": term("accessibility", "hearing_loop")}, ["Weekly Knit and Natter"]),
        ({"taxonomy_term_id": "00000000-0000-4000-8000-000000000000"}, []),
        ({"taxonomy_id": oruk.VOCABULARIES["for_whom"].id},
         ["Fortnightly Walk", "Monthly Carers Cafe", "Weekly Knit and Natter"]),
        ({"day": "TH"}, ["Fortnightly Walk", "Weekly Knit and Natter"]),
        ({"day": "thursday", "start_time": "15:00"}, ["Fortnightly Walk"]),
        ({"day": "th", "end_time": "16:00"}, ["Weekly Knit and Natter"]),
        ({"day": "MO", "start_time": "09:00", "end_time": "12:00"}, ["Monthly Carers Cafe"]),
        ({"start_time": "19:00"}, ["Fortnightly Walk"]),
        ({"modified_after": "2000-01-01T00:00:00Z"}, None),  # None: all five
        ({"modified_after": "2999-01-01"}, []),
        ({"search": "KNITTING"}, ["Weekly Knit and Natter"]),
    ],
)
def test_filters(served, params, expected):
    client, store = served
    everything = names(get(client, "/services"))
    expected = everything if expected is None else expected
    assert names(get(client, "/services", **params)) == expected
    assert names(get(client, "/service_at_locations", **params)) == expected


def point(gazetteer, postcode):
    row = gazetteer.lookup([postcode]).iloc[0]
    return float(row["easting"]), float(row["northing"])


def test_proximity_search_against_known_distances(served, gazetteer):
    client, store = served
    centre = point(gazetteer, "B13 8RD")  # where the knit group meets
    records = {a.name: a for a in store.list_assets(SYSTEM_ACTOR)}
    distances = {name: math.hypot(a.easting - centre[0], a.northing - centre[1]) for name, a in records.items()}
    cafe = distances["Monthly Carers Cafe"]
    assert 800 < cafe < 1000  # B12 9QL is about 0.9 km from B13 8RD
    near = get(client, "/service_at_locations", postcode="B13 8RD", proximity=str(round(cafe) + 5))
    expected = sorted((d, n) for n, d in distances.items() if d <= round(cafe) + 5)
    assert names(near) == [n for _, n in expected]
    assert names(near)[:2] == ["Weekly Knit and Natter", "Monthly Carers Cafe"]
    just_short = get(client, "/service_at_locations", postcode="b138rd", proximity=str(round(cafe) - 5))
    assert "Monthly Carers Cafe" not in names(just_short) and "Weekly Knit and Natter" in names(just_short)
    # Without proximity: every service within 50 km, nearest first.
    everything = get(client, "/service_at_locations", postcode="B13 8RD")
    assert names(everything) == [n for _, n in sorted((d, n) for n, d in distances.items())]
    # Filters apply within the radius; paging pages the nearest-first list.
    carers = get(client, "/service_at_locations", postcode="B13 8RD", proximity="5000",
                 taxonomy_term_id=term("for_whom", "carers"))
    assert names(carers) == ["Monthly Carers Cafe"]
    second = get(client, "/service_at_locations", postcode="B13 8RD", page=2, per_page=1)
    assert names(second) == names(everything)[1:2] and second["total_items"] == everything["total_items"]
    # A sector works as a centre too (the app's own search).
    assert get(client, "/service_at_locations", postcode="B13 8", proximity="1600")["total_items"] >= 1


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"proximity": "1600"}, "proximity needs a postcode"),
        ({"postcode": "B13 8RD", "proximity": "far"}, "proximity 'far' is not a number"),
        ({"postcode": "B13 8RD", "proximity": "0"}, "out of range"),
        ({"postcode": "B13 8RD", "proximity": "60000"}, "out of range"),
        ({"postcode": "B13 8RD", "proximity": "nan"}, "out of range"),
        ({"postcode": "not a postcode"}, "postcode:"),
        ({"postcode": "B99 9ZZ"}, "postcode:"),
    ],
)
def test_bad_search_parameters_are_400(served, params, words):
    client, _ = served
    assert words in get(client, "/service_at_locations", status=400, **params)["message"]


# --------------------------------------------------------------------------- the public view, privacy, caching


def test_403_while_the_public_view_is_off(writable):
    client, store = writable
    store.set_app_setting(SYSTEM_ACTOR, "public_view", False)
    for path in ("/", "/services", "/service_at_locations", "/taxonomies", "/taxonomy_terms",
                 f"/taxonomy_terms/{oruk.taxonomy_term_id('music')}"):
        body = get(client, path, status=403)
        assert "public view" in body["message"]
    store.set_app_setting(SYSTEM_ACTOR, "public_view", True)
    assert get(client, "/services")["total_items"] == 5


def test_only_published_records_are_served_and_changes_show_at_once(writable):
    client, store = writable
    api = client.app.state.api
    first = api.catalogue()
    assert api.catalogue() is first  # cached while the data version stands
    draft = store.create_asset(SYSTEM_ACTOR, Asset(name="Draft group", kind="group", categories=("music",),
                                                   status="draft", lat=52.48, lon=-1.9, easting=406700.0,
                                                   northing=286900.0, postcode="B1 1AY"))
    assert api.catalogue() is not first  # a write bumps the version
    assert get(client, "/services")["total_items"] == 5
    get(client, f"/services/{draft.id}", status=404)
    store.update_asset(SYSTEM_ACTOR, draft.id, {"status": "published"}, draft.version)
    assert get(client, "/services")["total_items"] == 6
    assert get(client, f"/services/{draft.id}")["name"] == "Draft group"


def test_access_log_never_records_the_query_string(served, caplog):
    client, _ = served
    with caplog.at_level(logging.INFO, logger="assets.oruk_api.access"):
        get(client, "/service_at_locations", postcode="B13 8RD", proximity="1600")
        get(client, "/service_at_locations", status=400, postcode="B13 8RZ")
    lines = [record.getMessage() for record in caplog.records if record.name == "assets.oruk_api.access"]
    assert len(lines) == 2 and all(line.startswith("GET /service_at_locations ") for line in lines)
    assert " 200 " in lines[0] and " 400 " in lines[1]
    text = caplog.text
    assert "B13" not in text and "8RD" not in text and "postcode" not in text
    config = server_config(client.app)
    assert config.access_log is False  # uvicorn's own access log would print the query


def test_catalogue_filter_arrays_match_the_records(served):
    client, store = served
    catalogue = client.app.state.api.catalogue()
    sessions = {a.id: a.sessions for a in store.list_assets(SYSTEM_ACTOR)}
    counted = np.bincount(catalogue.session_owner, minlength=len(catalogue.frame))
    for position, asset_id in enumerate(catalogue.positions):
        assert counted[position] == len(sessions[asset_id])
