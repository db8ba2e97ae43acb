"""Keeping the register true: moderation, freshness, problem reports, retention."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from assets.exports import export_rows
from assets.model import PUBLIC_ACTOR, SYSTEM_ACTOR, Actor, Asset
from assets.store import open_store
from geo.maps import asset_payload
from geo.nearby import NearbyIndex, NearbyQuery, search
from settings import get_settings

ORGANISER = "Margaret Q. Organiser"


@pytest.fixture()
def store(tmp_env):
    """A fresh register with two organisations and a coordinator of each."""
    current = open_store(get_settings().database_url)
    return current


def _org_actor(store, name: str, role: str = "coordinator") -> Actor:
    org = store.add_organisation(SYSTEM_ACTOR, name)
    return Actor(id=f"{name}-{role}", email=f"{role}@{name.lower().replace(' ', '')}.org", name=name, role=role,
                 organisation_id=org.id)


def _asset(name: str, **fields) -> Asset:
    base = dict(name=name, kind="group", categories=("music",), postcode="B13 9AA", lat=52.4471, lon=-1.8839,
                easting=407986.0, northing=283247.0, ward_code="E05011154", ward_name="Moseley",
                district_code="E08000025", last_verified=date.today())
    base.update(fields)
    return Asset(**base)


PRACTITIONER = Actor(id="p", email="p@nhs.example", name="Pat", role="practitioner")


def test_approval_on_keeps_a_coordinators_record_hidden_until_approved(store):
    coordinator = _org_actor(store, "Moseley Network")
    store.set_app_setting(SYSTEM_ACTOR, "require_approval", True)
    saved = store.create_asset(coordinator, _asset("Moseley Ukulele"))
    assert saved.status == "draft"
    for reader in (PUBLIC_ACTOR, PRACTITIONER):
        assert store.list_assets(reader) == []
    assert [a.name for a in store.approval_queue(SYSTEM_ACTOR)] == ["Moseley Ukulele"]
    store.approve_asset(SYSTEM_ACTOR, saved.id, saved.version)
    for reader in (PUBLIC_ACTOR, PRACTITIONER):
        assert [a.name for a in store.list_assets(reader)] == ["Moseley Ukulele"]
    # A later change by the coordinator waits again.
    current = store.get_asset(coordinator, saved.id)
    changed = store.update_asset(coordinator, saved.id, {"description": "Bring a uke"}, current.version)
    assert changed.status == "draft" and store.list_assets(PUBLIC_ACTOR) == []
    history = store.history(SYSTEM_ACTOR, saved.id)
    assert [h["action"] for h in history if h["field"] == "status"] == ["create", "approve", "update"]


def test_approval_off_publishes_at_once(store):
    coordinator = _org_actor(store, "Moseley Network")
    store.create_asset(coordinator, _asset("Moseley Ukulele"))
    for reader in (PUBLIC_ACTOR, PRACTITIONER):
        assert [a.name for a in store.list_assets(reader)] == ["Moseley Ukulele"]


def test_stale_everywhere_until_verified(store):
    old = date.today() - timedelta(days=400)  # 13 months
    saved = store.create_asset(SYSTEM_ACTOR, _asset("Old Choir", last_verified=old))
    store.create_asset(SYSTEM_ACTOR, _asset("Fresh Choir", easting=408000.0))

    def stale_flags():
        frame = store.assets_frame(PUBLIC_ACTOR)
        payload = asset_payload(frame)
        names = {row[3]: row for row in payload["rows"]}
        on_map = bool(names["Old Choir"][-1] & 1)
        nearby = search(NearbyIndex.build(frame), 407986.0, 283247.0, NearbyQuery(), today=date.today())
        in_nearby = bool(nearby.set_index("name").loc["Old Choir", "stale"])
        exported = {r["name"]: r["stale"] for r in export_rows(store.list_assets(PUBLIC_ACTOR))}
        listed = bool(frame.set_index("name").loc["Old Choir", "stale"])
        assert exported["Fresh Choir"] == "false"
        return on_map, listed, in_nearby, exported["Old Choir"]

    assert stale_flags() == (True, True, True, "true")
    assert [a.name for a in store.stale_assets(SYSTEM_ACTOR)] == ["Old Choir"]
    store.verify_assets(SYSTEM_ACTOR, [(saved.id, saved.version)])
    assert stale_flags() == (False, False, False, "false")
    assert store.stale_assets(SYSTEM_ACTOR) == []


def test_problem_report_reaches_the_owning_organisation_only(store):
    owner = _org_actor(store, "Moseley Network")
    other = _org_actor(store, "Erdington Network")
    saved = store.create_asset(owner, _asset("Moseley Ukulele"))
    store.report_problem(PRACTITIONER, saved.id, "no_longer_running", "Hall says they stopped in June")
    assert [r["asset_name"] for r in store.list_problem_reports(owner)] == ["Moseley Ukulele"]
    assert store.list_problem_reports(other) == []
    [report] = store.list_problem_reports(owner)
    store.close_problem_report(owner, report["id"], "Confirmed closed; record archived")
    assert store.list_problem_reports(owner) == []
    history = store.history(owner, saved.id)
    assert any(h["new"] == "Confirmed closed; record archived" for h in history)


def test_review_page_shows_reports_and_stale_records(store, tmp_env):
    from apptest_util import open_page

    saved = store.create_asset(SYSTEM_ACTOR, _asset("Old Choir", last_verified=date.today() - timedelta(days=400)))
    store.report_problem(PRACTITIONER, saved.id, "details_wrong", "Wrong day")
    at = open_page("review", state={"actor": SYSTEM_ACTOR})
    assert any("Old Choir" in str(m.value) for m in at.markdown)
    stale_table = next(df.value for df in at.dataframe if "Last verified" in df.value.columns)
    assert list(stale_table["Name"]) == ["Old Choir"]
    at.button(key="review_verify_all").click()
    at.run()
    assert store.stale_assets(SYSTEM_ACTOR) == []


def test_retention_erases_the_organisers_details_everywhere(store, tmp_env):
    saved = store.create_asset(SYSTEM_ACTOR, _asset("Old Choir", organiser_name=ORGANISER, organiser_phone="07700 900123"))
    current = store.update_asset(SYSTEM_ACTOR, saved.id, {"organiser_email": "margaret@example.org"}, saved.version)
    store.archive_asset(SYSTEM_ACTOR, saved.id, current.version)
    # Not yet past the period: nothing erased.
    assert store.erase_expired_contacts(SYSTEM_ACTOR) == 0
    later = date.today() + timedelta(days=get_settings().retention_days + 1)
    assert store.erase_expired_contacts(SYSTEM_ACTOR, today=later) == 1
    record = store.get_asset(SYSTEM_ACTOR, saved.id)
    assert (record.organiser_name, record.organiser_phone, record.organiser_email) == ("", "", "")
    with store.engine.connect() as connection:
        for table in ("assets", "audit"):
            dump = " ".join(str(row) for row in connection.execute(sa.text(f"SELECT * FROM {table}")))
            assert ORGANISER not in dump and "07700 900123" not in dump and "margaret@example.org" not in dump
    exported = export_rows(store.list_assets(SYSTEM_ACTOR, statuses=("archived",)), include_internal=True)
    assert ORGANISER not in str(exported)
    history = store.history(SYSTEM_ACTOR, saved.id)
    assert any(h["action"] == "erase_personal_data" for h in history)
    assert any(str(h["new"]).startswith("erased on") for h in history if h["field"] == "organiser_name")
    # The database file itself (pages and WAL) no longer holds the name once checkpointed.
    with store.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in tmp_env.glob("test.db*"):
        assert ORGANISER.encode() not in path.read_bytes()
