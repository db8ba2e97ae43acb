"""The register's database (assets/store.py), on SQLite and on PostgreSQL + PostGIS."""

from __future__ import annotations

import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import geopandas as gpd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from shapely.geometry import box
from store_fixtures import database

from assets import store as store_module
from assets.errors import NotFound, PermissionDenied, RegisterError, StaleVersion
from assets.model import SYSTEM_ACTOR, Actor, Asset, Session
from assets.store import METADATA, close_store, open_store
from geo.boundaries import BoundaryLayer

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def store_url(request, tmp_path_factory):
    """One empty database per backend for this module (PostgreSQL via TEST_DATABASE_URL)."""
    server = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    with database(request.param, tmp_path_factory.mktemp("store"), server) as url:
        yield url


@pytest.fixture()
def store(store_url):
    """The process-wide store of the module's database."""
    return open_store(store_url)


@pytest.fixture()
def org(store):
    """A fresh organisation of its own (tests share the module's database)."""
    return store.add_organisation(SYSTEM_ACTOR, f"Org {uuid.uuid4().hex[:8]}", identifier="1234567")


def coordinator(org) -> Actor:
    return Actor(
        id=f"c-{org.id[:6]}",
        email=f"coord-{org.id[:6]}@example.org",
        name="Coordinator",
        role="coordinator",
        organisation_id=org.id,
    )


def make_asset(n: int = 0, **changes) -> Asset:
    values = {
        "name": f"Lunch club {n}",
        "kind": "group",
        "categories": ("food_lunch_clubs", "social_friendship"),
        "postcode": "B1 1AY",
        "easting": 406_000.0 + n,
        "northing": 286_500.0,
        "lat": 52.48,
        "lon": -1.90,
        "sessions": (Session("TU", "10:00", "12:00"), Session("FR", "13:00", "15:00", "monthly", nth=-1)),
        "accessibility": ("step_free",),
        "for_whom": ("older_people",),
        "cost": "free",
        "organiser_name": "Pat Organiser",
        "organiser_email": "pat@example.org",
        "last_verified": date.today() - timedelta(days=30),
    }
    values.update(changes)
    return Asset(**values)


def scalar(store, sql: str, **params):
    with store.engine.connect() as connection:
        return connection.execute(sa.text(sql), params).scalar_one()


def audit_rows(store, entity_id: str) -> list[dict]:
    with store.engine.connect() as connection:
        query = (
            sa.select(store_module.AUDIT)
            .where(store_module.AUDIT.c.entity_id == entity_id)
            .order_by(store_module.AUDIT.c.id)
        )
        return [dict(row) for row in connection.execute(query).mappings()]


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """Leave PostGIS's own table and the PostgreSQL-only geometry column out of schema comparisons."""
    return name not in ("spatial_ref_sys", "geom", "ix_assets_geom")


# --- schema --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
def test_schema_is_created_on_first_use_of_an_empty_database(kind, tmp_path, request):
    server = request.getfixturevalue("pg_url") if kind == "postgresql" else None
    with database(kind, tmp_path, server) as url:
        store = open_store(url)
        with store.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == "0001"
            # The migration creates exactly the tables and columns the store's queries use.
            with warnings.catch_warnings():
                # SQLAlchemy has no PostGIS types; geom is left out of the comparison anyway.
                warnings.filterwarnings("ignore", message="Did not recognize type 'geometry'")
                context = MigrationContext.configure(connection, opts={"include_object": _ours})
                assert compare_metadata(context, METADATA) == []
            names = set(sa.inspect(connection).get_table_names())
        expected = {
            "organisations", "users", "assets", "audit", "boundary_layers", "boundary_features", "meta",
            "app_settings", "coverage_snapshots", "unmet_demand", "problem_reports",
        }  # fmt: skip
        assert expected <= names
        assert store.default_organisation(SYSTEM_ACTOR).name == "Default organisation"
        first_version = store.data_version()
        close_store(url)
        # Opening again finds the schema at head: no migration, no second default organisation.
        again = open_store(url)
        assert again is not store
        assert again.data_version() == first_version
        assert scalar(again, "SELECT count(*) FROM organisations") == 1


def test_sqlite_connections_use_wal_full_sync_and_foreign_keys(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'cam.db'}"  # the folder is created too
    store = open_store(url)
    try:
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        close_store(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [("sqlite://", "in-memory"), ("mysql://user@host/db", "not supported")],
)
def test_unusable_database_urls_are_refused_clearly(url, message):
    with pytest.raises(RegisterError, match=message):
        open_store(url)


# --- create / get / update / archive / restore -----------------------------------------


def test_create_get_update_archive_restore_with_audit(store):
    before = store.data_version()
    created = store.create_asset(SYSTEM_ACTOR, make_asset(1))
    assert created.version == 1
    assert created.organisation_id == store.default_organisation(SYSTEM_ACTOR).id
    assert created.organisation_name == "Default organisation"
    assert created.created_by == "system@localhost"
    assert created.created_at is not None and created.created_at.tzinfo is not None
    assert store.get_asset(SYSTEM_ACTOR, created.id) == created
    assert store.data_version() == before + 1

    (create_row,) = audit_rows(store, created.id)
    assert create_row["action"] == "create"
    assert create_row["actor_email"] == "system@localhost"
    changes = {change["field"]: change for change in create_row["changes"]}
    assert changes["name"] == {"field": "name", "old": None, "new": "Lunch club 1"}
    assert changes["categories"]["new"] == ["food_lunch_clubs", "social_friendship"]
    assert changes["sessions"]["new"][1] == {
        "day": "FR",
        "start": "13:00",
        "end": "15:00",
        "frequency": "monthly",
        "nth": -1,
    }
    assert set(changes) == set(store_module.ASSET_FIELDS)

    updated = store.update_asset(
        SYSTEM_ACTOR, created.id, {"name": "Tuesday lunch club", "accessibility": ["step_free", "seating"]}, 1
    )
    assert updated.version == 2
    assert updated.accessibility == ("step_free", "seating")
    assert store.get_asset(SYSTEM_ACTOR, created.id).name == "Tuesday lunch club"
    update_row = audit_rows(store, created.id)[-1]
    assert update_row["action"] == "update"
    assert sorted(update_row["changes"], key=lambda c: c["field"]) == [
        {"field": "accessibility", "old": ["step_free"], "new": ["step_free", "seating"]},
        {"field": "name", "old": "Lunch club 1", "new": "Tuesday lunch club"},
    ]
    # An edit that changes nothing writes nothing.
    assert store.update_asset(SYSTEM_ACTOR, created.id, {"name": "Tuesday lunch club"}, 2).version == 2
    assert len(audit_rows(store, created.id)) == 2

    archived = store.archive_asset(SYSTEM_ACTOR, created.id, 2)
    assert (archived.status, archived.version) == ("archived", 3)
    assert archived.archived_at is not None
    assert created.id not in {a.id for a in store.list_assets(SYSTEM_ACTOR)}
    assert created.id in {a.id for a in store.list_assets(SYSTEM_ACTOR, statuses=("archived",))}
    restored = store.restore_asset(SYSTEM_ACTOR, created.id, 3)
    assert (restored.status, restored.archived_at, restored.version) == ("published", None, 4)
    actions = [row["action"] for row in audit_rows(store, created.id)]
    assert actions == ["create", "update", "archive", "restore"]

    history = store.history(SYSTEM_ACTOR, created.id)
    archive_status = [h for h in history if h["action"] == "archive" and h["field"] == "status"]
    assert archive_status[0]["old"] == "published" and archive_status[0]["new"] == "archived"
    assert store.data_version() == before + 4


def test_restore_brings_back_a_draft_as_a_draft(store):
    draft = store.create_asset(SYSTEM_ACTOR, make_asset(2, status="draft"))
    store.archive_asset(SYSTEM_ACTOR, draft.id, 1)
    assert store.restore_asset(SYSTEM_ACTOR, draft.id, 2).status == "draft"


def test_stale_version_is_refused_naming_who_and_when(store):
    asset = store.create_asset(SYSTEM_ACTOR, make_asset(3))
    jo = Actor(id="jo", email="jo@example.org", name="Jo", role="administrator")
    store.update_asset(jo, asset.id, {"description": "Soup and a chat"}, expected_version=1)
    with pytest.raises(StaleVersion) as caught:
        store.update_asset(SYSTEM_ACTOR, asset.id, {"description": "Sandwiches"}, expected_version=1)
    message = str(caught.value)
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    assert "was changed by jo@example.org at " + when in message
    assert " UTC after you opened it" in message
    assert message.endswith("reload it and make your change again")
    assert store.get_asset(SYSTEM_ACTOR, asset.id).description == "Soup and a chat"
    with pytest.raises(StaleVersion, match="jo@example.org"):
        store.archive_asset(SYSTEM_ACTOR, asset.id, expected_version=1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "red"}, "'colour' is not a field"),
        ({"version": 9}, "set by the register itself"),
        ({"id": "x"}, "set by the register itself"),
        ({"status": "archived"}, "archive a record"),
        ({"categories": "music"}, "needs a list"),
    ],
)
def test_update_refuses_fields_it_cannot_change(store, changes, message):
    asset = store.create_asset(SYSTEM_ACTOR, make_asset(4))
    with pytest.raises(RegisterError, match=message):
        store.update_asset(SYSTEM_ACTOR, asset.id, changes, 1)


def test_threads_share_one_store(store):
    """Streamlit runs each session in its own thread: each write gets a connection of its own."""
    marker = uuid.uuid4().hex[:8]
    before = store.data_version()

    def add(thread: int) -> list[str]:
        return [
            store.create_asset(SYSTEM_ACTOR, make_asset(n, external_id=f"{marker}-{thread}")).id
            for n in range(25)
        ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = [asset_id for chunk in pool.map(add, range(4)) for asset_id in chunk]
    assert len(set(ids)) == 100
    assert count_marked(store, marker) == 100
    assert store.data_version() == before + 100


def test_unknown_record_is_not_found(store):
    with pytest.raises(NotFound, match="no record with id 'nope'"):
        store.get_asset(SYSTEM_ACTOR, "nope")
    with pytest.raises(NotFound):
        store.update_asset(SYSTEM_ACTOR, "nope", {"name": "x"}, 1)


def test_creating_an_existing_id_is_refused_and_saves_nothing(store):
    asset = store.create_asset(SYSTEM_ACTOR, make_asset(5))
    version = store.data_version()
    with pytest.raises(RegisterError, match="already in the register"):
        store.create_asset(SYSTEM_ACTOR, make_asset(6, id=asset.id))
    assert store.data_version() == version
    assert len(audit_rows(store, asset.id)) == 1


# --- imports -----------------------------------------------------------------------------


def count_marked(store, marker: str) -> int:
    return scalar(store, "SELECT count(*) FROM assets WHERE external_id LIKE :m", m=f"{marker}%")


def test_import_of_2000_records_in_one_transaction_with_an_audit_row_each(store):
    marker = uuid.uuid4().hex[:8]
    existing = store.create_asset(SYSTEM_ACTOR, make_asset(7, external_id=f"{marker}-old"))
    before = store.data_version()
    inserts = [make_asset(n, external_id=f"{marker}-{n}") for n in range(2_000)]
    result = store.apply_import(
        SYSTEM_ACTOR, inserts, [(existing.id, {"town": "Birmingham"}, 1)], note="groups.csv"
    )
    assert result == {"inserted": 2_000, "updated": 1, "unchanged": 0, "data_version": before + 1}
    assert count_marked(store, marker) == 2_001
    assert store.data_version() == before + 1  # one transaction, one bump
    ids = [asset.id for asset in inserts]
    audited = scalar(
        store,
        "SELECT count(*) FROM audit WHERE action = 'create' AND note = 'groups.csv' AND entity_id IN "
        "(SELECT id FROM assets WHERE external_id LIKE :m)",
        m=f"{marker}%",
    )
    assert audited == 2_000
    assert audit_rows(store, existing.id)[-1]["changes"] == [
        {"field": "town", "old": "", "new": "Birmingham"}
    ]
    stored = store.get_asset(SYSTEM_ACTOR, ids[1_234])
    assert stored.sessions == inserts[1_234].sessions
    assert stored.version == 1 and stored.organisation_name == "Default organisation"


def test_import_failing_midway_leaves_the_database_unchanged(store):
    marker = uuid.uuid4().hex[:8]
    existing = store.create_asset(SYSTEM_ACTOR, make_asset(8, external_id=f"{marker}-old"))
    before = (
        store.data_version(),
        scalar(store, "SELECT count(*) FROM audit"),
        scalar(store, "SELECT count(*) FROM assets"),
    )
    inserts = [make_asset(n, external_id=f"{marker}-{n}") for n in range(2_000)]
    # Row 1,500 reuses an id already in the register: the database refuses it part-way
    # through the batch insert, after 1,499 rows went in.
    inserts[1_499] = make_asset(1_499, id=existing.id, external_id=f"{marker}-dup")
    with pytest.raises(RegisterError, match=r"nothing saved: new record 1,500 .* already in the register"):
        store.apply_import(SYSTEM_ACTOR, inserts, [(existing.id, {"town": "Leeds"}, 1)])
    after = (
        store.data_version(),
        scalar(store, "SELECT count(*) FROM audit"),
        scalar(store, "SELECT count(*) FROM assets"),
    )
    assert after == before
    assert count_marked(store, marker) == 1
    assert store.get_asset(SYSTEM_ACTOR, existing.id).town == ""


def test_import_with_a_stale_update_saves_nothing(store):
    marker = uuid.uuid4().hex[:8]
    existing = store.create_asset(SYSTEM_ACTOR, make_asset(9, external_id=f"{marker}-old"))
    store.update_asset(SYSTEM_ACTOR, existing.id, {"town": "Solihull"}, 1)
    before = store.data_version()
    with pytest.raises(StaleVersion, match="update 1: .*was changed by system@localhost"):
        store.apply_import(
            SYSTEM_ACTOR,
            [make_asset(n, external_id=f"{marker}-{n}") for n in range(50)],
            [(existing.id, {"town": "Leeds"}, 1)],
        )
    assert store.data_version() == before
    assert count_marked(store, marker) == 1


@pytest.mark.parametrize(
    ("inserts", "updates", "error", "message"),
    [
        (
            [make_asset(1, id="same"), make_asset(2, id="same")],
            [],
            RegisterError,
            "new record 2 has the same id as new record 1",
        ),
        ([], [("missing-id", {"town": "York"}, 1)], NotFound, "update 1 names record 'missing-id'"),
        (
            [make_asset(1, status="archived")],
            [],
            RegisterError,
            "new record 1: a new record is saved as draft or published",
        ),
        ([], [("any", {"colour": "red"}, 1)], RegisterError, "update 1 .*'colour' is not a field"),
    ],
)
def test_import_refusals_name_the_row(store, inserts, updates, error, message):
    before = store.data_version()
    with pytest.raises(error, match=message):
        store.apply_import(SYSTEM_ACTOR, inserts, updates)
    assert store.data_version() == before


# --- permissions and what each role sees --------------------------------------------------


def test_roles_write_and_read_what_they_may(store, org):
    coord = coordinator(org)
    other_org = store.add_organisation(SYSTEM_ACTOR, f"Other {uuid.uuid4().hex[:8]}")
    own = store.create_asset(coord, make_asset(10))
    assert own.organisation_id == org.id  # a coordinator's new record is their organisation's
    draft = store.create_asset(coord, make_asset(11, status="draft"))
    foreign = store.create_asset(SYSTEM_ACTOR, make_asset(12, organisation_id=other_org.id))

    with pytest.raises(PermissionDenied, match="another organisation"):
        store.update_asset(coord, foreign.id, {"name": "Mine now"}, 1)
    with pytest.raises(PermissionDenied, match="another organisation"):
        store.update_asset(coord, own.id, {"organisation_id": other_org.id}, 1)
    with pytest.raises(PermissionDenied, match="another organisation"):
        store.create_asset(coord, make_asset(13, organisation_id=other_org.id))
    for role in ("practitioner", "commissioner", "public"):
        reader = Actor(id=role, email=f"{role}@example.org", name=role, role=role, organisation_id=org.id)
        with pytest.raises(PermissionDenied, match=f"is a {role} and may not add records"):
            store.create_asset(reader, make_asset(14))
        with pytest.raises(PermissionDenied):
            store.apply_import(reader, [make_asset(15)], [])
        with pytest.raises(NotFound):
            store.get_asset(reader, draft.id)
        seen = store.get_asset(reader, own.id)
        assert seen.organiser_email == ("pat@example.org" if role == "practitioner" else "")
        frame = store.assets_frame(reader, statuses=("published", "draft"))
        assert draft.id not in set(frame["asset_id"])
        assert (frame["organiser_email"] != "").any() == (role == "practitioner")
    assert draft.id in {a.id for a in store.list_assets(coord, statuses=("draft",))}
    other_coord = coordinator(other_org)
    assert draft.id not in {a.id for a in store.list_assets(other_coord, statuses=("draft",))}
    with pytest.raises(PermissionDenied):
        store.history(other_coord, own.id)
    with pytest.raises(PermissionDenied, match="unknown role"):
        store.list_assets(Actor(id="x", email="x@example.org", name="X", role="superuser"))


def test_private_address_and_the_asset_frame(store):
    marker = uuid.uuid4().hex[:8]
    fresh = store.create_asset(
        SYSTEM_ACTOR,
        make_asset(
            20, external_id=marker, by_arrangement=True, schedule_notes="Not in August", cost_note="donations"
        ),
    )
    old = store.create_asset(
        SYSTEM_ACTOR, make_asset(21, external_id=marker, last_verified=date(2001, 1, 1), sessions=())
    )
    unverified = store.create_asset(SYSTEM_ACTOR, make_asset(22, external_id=marker, last_verified=None))
    frame = store.assets_frame(SYSTEM_ACTOR).set_index("asset_id")
    assert list(store.assets_frame(SYSTEM_ACTOR).columns[:3]) == ["asset_id", "name", "kind"]
    row = frame.loc[fresh.id]
    assert row["categories"] == ("food_lunch_clubs", "social_friendship")
    assert row["sessions"] == fresh.sessions
    assert (
        row["sessions_text"]
        == "Tuesdays 10:00–12:00; last Friday of the month 13:00–15:00; By arrangement; Not in August"
    )
    assert row["cost_text"] == fresh.cost_text and "donations" in row["cost_text"]
    assert row["organisation"] == "Default organisation"
    assert row["easting"] == pytest.approx(406_020.0)
    assert isinstance(row["last_verified"], date)
    assert frame.loc[[fresh.id, old.id, unverified.id], "stale"].tolist() == [False, True, True]
    assert frame["stale"].dtype == bool


def test_empty_asset_frame_has_the_columns(store):
    frame = store.assets_frame(SYSTEM_ACTOR, organisation_id="no-such-org")
    assert len(frame) == 0
    assert {"asset_id", "sessions_text", "stale", "categories"} <= set(frame.columns)


# --- organisations, users, local actor ------------------------------------------------------


def test_local_actor_is_an_administrator_of_the_default_organisation(store, monkeypatch):
    email = f"me-{uuid.uuid4().hex[:6]}@example.org"
    monkeypatch.setenv("CAM_LOCAL_USER", email)
    actor = store.local_actor()
    assert (actor.email, actor.role) == (email, "administrator")
    assert actor.organisation_id == store.default_organisation(SYSTEM_ACTOR).id
    assert store.local_actor() == actor  # created once
    assert store.get_user(actor, email).id == actor.id


def test_users_and_organisations(store, org):
    user = store.add_user(SYSTEM_ACTOR, f"Sam-{org.id[:6]}@Example.org", "Sam", "practitioner", org.id)
    assert user.email == f"sam-{org.id[:6]}@example.org"
    assert user.actor().organisation_id == org.id
    with pytest.raises(RegisterError, match="already exists"):
        store.add_user(SYSTEM_ACTOR, user.email, "Sam again", "practitioner")
    with pytest.raises(RegisterError, match="role 'boss'"):
        store.add_user(SYSTEM_ACTOR, "x@example.org", "X", "boss")
    with pytest.raises(NotFound, match="organisation 'nope'"):
        store.add_user(SYSTEM_ACTOR, "y@example.org", "Y", "coordinator", "nope")
    with pytest.raises(RegisterError, match="already exists"):
        store.add_organisation(SYSTEM_ACTOR, org.name)
    with pytest.raises(PermissionDenied):
        store.add_organisation(coordinator(org), "Mine")
    assert [u.email for u in store.list_users(coordinator(org))] == [user.email]
    assert org.name in {o.name for o in store.list_organisations(user.actor())}


# --- boundaries -------------------------------------------------------------------------------


def two_squares(names=("North", "South")) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["E05000001", "E05000002"], "name": list(names)},
        geometry=[box(400_000, 290_000, 401_000, 291_000), box(400_000, 289_000, 401_000, 290_000)],
        crs="EPSG:27700",
    )


def test_boundary_layer_round_trip_and_replacement(store):
    loaded_at = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    layer = BoundaryLayer(
        "ward", two_squares(), "wards.geojson", "2024", loaded_at, False, ("assumed EPSG:27700",)
    )
    before = store.data_version()
    store.save_boundary_layer(SYSTEM_ACTOR, layer)
    back = store.boundary_layers(SYSTEM_ACTOR)["ward"]
    assert (back.source, back.vintage, back.loaded_at, back.approximate, back.notes) == (
        "wards.geojson", "2024", loaded_at, False, ("assumed EPSG:27700",)
    )  # fmt: skip
    assert back.frame.crs.to_epsg() == 27700
    assert back.frame["code"].tolist() == ["E05000001", "E05000002"]
    assert back.frame.geometry.geom_equals_exact(layer.frame.geometry, tolerance=0).all()
    assert store.data_version() == before + 1

    smaller = BoundaryLayer(
        "ward", two_squares(("Upper", "Lower")).iloc[:1], "derived", "CPO 2025", loaded_at, True
    )
    store.save_boundary_layer(SYSTEM_ACTOR, smaller)
    back = store.boundary_layers(SYSTEM_ACTOR)["ward"]
    assert back.frame["name"].tolist() == ["Upper"] and back.approximate
    (info,) = [i for i in store.boundary_layer_info(SYSTEM_ACTOR) if i["layer"] == "ward"]
    assert info["features"] == 1 and info["source"] == "derived"
    last = audit_rows(store, "ward")[-1]
    assert last["action"] == "save" and {"field": "features", "old": 2, "new": 1} in last["changes"]


def test_boundary_layer_refusals(store):
    layer = BoundaryLayer("ward", two_squares().to_crs("EPSG:4326"), "x", "2024", datetime.now(UTC))
    with pytest.raises(RegisterError, match="EPSG:27700"):
        store.save_boundary_layer(SYSTEM_ACTOR, layer)
    doubled = two_squares()
    doubled["code"] = "E05000009"
    with pytest.raises(RegisterError, match="more than one feature for code"):
        store.save_boundary_layer(
            SYSTEM_ACTOR, BoundaryLayer("ward", doubled, "x", "2024", datetime.now(UTC))
        )
    with pytest.raises(PermissionDenied):
        store.save_boundary_layer(Actor(id="p", email="p@x.org", name="P", role="practitioner"), layer)


# --- the smaller tables --------------------------------------------------------------------------


def test_app_settings_snapshots_unmet_demand_and_problem_reports(store, org):
    assert store.get_app_setting(SYSTEM_ACTOR, "public_view") is True  # on by default
    store.set_app_setting(SYSTEM_ACTOR, "public_view", False)
    assert store.public_view() is False
    with pytest.raises(PermissionDenied, match="public view"):  # the public is refused while it is off
        store.get_app_setting(Actor(id="p", email="", name="", role="public"), "public_view")
    assert audit_rows(store, "public_view")[-1]["changes"] == [
        {"field": "public_view", "old": True, "new": False}
    ]
    store.set_app_setting(SYSTEM_ACTOR, "public_view", True)
    assert store.get_app_setting(Actor(id="p", email="", name="", role="public"), "public_view") is True
    with pytest.raises(PermissionDenied):
        store.set_app_setting(coordinator(org), "public_view", False)
    with pytest.raises(RegisterError, match="cannot be stored"):
        store.set_app_setting(SYSTEM_ACTOR, "when", datetime.now())

    commissioner = Actor(id="cm", email="cm@example.org", name="C", role="commissioner")
    snapshot_id = store.save_snapshot(
        commissioner, "Q1", "E08000025", {"wards": [{"code": "E05000001", "count": 3}]}
    )
    assert store.get_snapshot(commissioner, snapshot_id)["payload"] == {
        "wards": [{"code": "E05000001", "count": 3}]
    }
    assert snapshot_id in {s["id"] for s in store.list_snapshots(commissioner, "E08000025")}

    practitioner = Actor(id="pr", email="pr@example.org", name="P", role="practitioner")
    ward = f"E05{uuid.uuid4().hex[:6]}"
    assert store.record_unmet_demand(practitioner, ward, "music", "TU", "morning") == 1
    assert store.record_unmet_demand(practitioner, ward, "music", "TU", "morning") == 2
    demand = store.unmet_demand(commissioner)
    assert demand.loc[demand["ward_code"] == ward, "count"].tolist() == [2]

    asset = store.create_asset(coordinator(org), make_asset(30))
    report_id = store.report_problem(
        Actor(id="pub", email="", name="", role="public"), asset.id, "closed down"
    )
    open_reports = store.list_problem_reports(coordinator(org))
    assert [r["id"] for r in open_reports] == [report_id]
    store.close_problem_report(coordinator(org), report_id, "archived the record")
    assert store.list_problem_reports(coordinator(org)) == []


# --- PostGIS ----------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgis_point_follows_the_coordinates(store):
    asset = store.create_asset(SYSTEM_ACTOR, make_asset(40, easting=407_000.0, northing=287_000.0))
    point = "SELECT ST_AsText(geom) || ' ' || ST_SRID(geom) FROM assets WHERE id = :id"
    assert scalar(store, point, id=asset.id) == "POINT(407000 287000) 27700"
    store.update_asset(SYSTEM_ACTOR, asset.id, {"easting": 407_100.0}, 1)
    assert scalar(store, point, id=asset.id) == "POINT(407100 287000) 27700"
    store.update_asset(SYSTEM_ACTOR, asset.id, {"easting": None, "northing": None}, 2)
    assert scalar(store, "SELECT geom IS NULL FROM assets WHERE id = :id", id=asset.id) is True
    assert (
        scalar(
            store,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_assets_geom' AND indexdef LIKE '%gist%'",
        )
        == 1
    )
