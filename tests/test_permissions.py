"""Who sees and does what: every role × every action through the store and the export rows,
then the same table seen through the pages (AppTest, signed in the way sign-in does it)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import numpy as np
import pytest
from apptest_util import open_page
from store_fixtures import database

from assets import permissions
from assets.errors import NotFound, PermissionDenied
from assets.exports import INTERNAL_COLUMNS, export_rows
from assets.model import PUBLIC_ACTOR, ROLES, SYSTEM_ACTOR, Actor, Asset
from assets.store import open_store
from settings import get_settings

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
CONTACT = "pat@example.org"


@pytest.fixture(scope="module", params=BACKENDS)
def store(request, tmp_path_factory):
    """One empty register per backend for this module (PostgreSQL via TEST_DATABASE_URL)."""
    server = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    with database(request.param, tmp_path_factory.mktemp("perm"), server) as url:
        yield open_store(url)


@pytest.fixture(scope="module")
def orgs(store):
    """Two organisations: the actors belong to "own"; "other" is someone else's."""
    marker = uuid.uuid4().hex[:6]
    return {
        "own": store.add_organisation(SYSTEM_ACTOR, f"Own {marker}"),
        "other": store.add_organisation(SYSTEM_ACTOR, f"Other {marker}"),
    }


def record(store, orgs, which: str = "own", status: str = "published") -> Asset:
    """A fresh record of organisation ``which`` with an organiser's contact (internal)."""
    asset = Asset(
        name=f"Lunch club {uuid.uuid4().hex[:6]}",
        kind="group",
        categories=("food_lunch_clubs",),
        organisation_id=orgs[which].id,
        postcode="B1 1AY",
        easting=406_000.0,
        northing=286_500.0,
        lat=52.48,
        lon=-1.90,
        organiser_name="Pat Organiser",
        organiser_email=CONTACT,
        status=status,
        last_verified=date.today() - timedelta(days=10),
    )
    return store.create_asset(SYSTEM_ACTOR, asset)


def actor(role: str, orgs) -> Actor:
    if role == "public":
        return PUBLIC_ACTOR
    return Actor(
        id=f"{role}-{uuid.uuid4().hex[:6]}",
        email=f"{role}@example.org",
        name=role.capitalize(),
        role=role,
        organisation_id=orgs["own"].id,
    )


# Each action returns True when done, or the reason it was refused (the error's message, or
# "blanked" when the record came back without its organisers' contacts).


def _refused(call):
    try:
        return call()
    except (PermissionDenied, NotFound) as exc:
        return str(exc)


def _contact_seen(asset: Asset) -> bool | str:
    return True if asset.organiser_email == CONTACT else "blanked"


def view_draft(store, who, orgs, which="own"):
    draft = record(store, orgs, which, status="draft")
    listed = draft.id in {a.id for a in store.list_assets(who, statuses=("draft",))}
    outcome = _refused(lambda: store.get_asset(who, draft.id) and True)
    assert listed == (outcome is True)  # the list and the record agree
    return outcome


def view_internal(store, who, orgs, which="own"):
    asset = record(store, orgs, which)
    outcome = _refused(lambda: _contact_seen(store.get_asset(who, asset.id)))
    frame = store.assets_frame(who)
    row = frame[frame["asset_id"] == asset.id].iloc[0]
    assert (row["organiser_email"] == CONTACT) == (outcome is True)  # the frame agrees
    return outcome


def create(store, who, orgs):
    new = Asset(name="New group", kind="group", categories=("music",), organisation_id=orgs["own"].id)
    return _refused(lambda: store.create_asset(who, new) and True)


def edit(store, who, orgs, which="own"):
    asset = record(store, orgs, which)
    return _refused(lambda: store.update_asset(who, asset.id, {"description": "Changed"}, asset.version) and True)


def publish(store, who, orgs):
    draft = record(store, orgs, "own", status="draft")
    return _refused(lambda: store.update_asset(who, draft.id, {"status": "published"}, draft.version).status == "published")


def archive(store, who, orgs):
    asset = record(store, orgs, "own")
    return _refused(lambda: store.archive_asset(who, asset.id, asset.version) and True)


def export_internal(store, who, orgs, which="own"):
    asset = store.get_asset(SYSTEM_ACTOR, record(store, orgs, which).id)

    def run():
        (row,) = export_rows([asset], include_internal=True, actor=who)
        return True if row["organiser_email"] == CONTACT else "blanked"

    return _refused(run)


def manage_users(store, who, orgs):
    email = f"new-{uuid.uuid4().hex[:6]}@example.org"
    return _refused(lambda: store.add_user(who, email, "New", "practitioner") and True)


def read_published(store, who, orgs):
    asset = record(store, orgs, "other")
    return _refused(lambda: store.get_asset(who, asset.id) and True)


def coverage(store, who, orgs):
    return _refused(lambda: store.unmet_demand(who) is not None and store.list_snapshots(who) is not None)


ACTIONS = {
    "read a published record": read_published,
    "view a draft": view_draft,
    "view another organisation's draft": lambda s, w, o: view_draft(s, w, o, "other"),
    "view an internal contact": view_internal,
    "view another organisation's internal contact": lambda s, w, o: view_internal(s, w, o, "other"),
    "create": create,
    "edit own": edit,
    "edit another organisation's": lambda s, w, o: edit(s, w, o, "other"),
    "publish": publish,
    "archive": archive,
    "export with internal contacts": export_internal,
    "export another organisation's internal contacts": lambda s, w, o: export_internal(s, w, o, "other"),
    "manage users": manage_users,
    "read coverage": coverage,
}

#                                                public comm  pract coord admin
MATRIX = {
    "read a published record":                       (1, 1, 1, 1, 1),
    "view a draft":                                  (0, 0, 0, 1, 1),
    "view another organisation's draft":             (0, 0, 0, 0, 1),
    "view an internal contact":                      (0, 0, 1, 1, 1),
    "view another organisation's internal contact":  (0, 0, 1, 0, 1),
    "create":                                        (0, 0, 0, 1, 1),
    "edit own":                                      (0, 0, 0, 1, 1),
    "edit another organisation's":                   (0, 0, 0, 0, 1),
    "publish":                                       (0, 0, 0, 1, 1),
    "archive":                                       (0, 0, 0, 1, 1),
    "export with internal contacts":                 (0, 0, 1, 1, 1),
    "export another organisation's internal contacts": (0, 0, 1, 0, 1),
    "manage users":                                  (0, 0, 0, 0, 1),
    "read coverage":                                 (1, 1, 1, 1, 1),
}  # fmt: skip
MATRIX_ROLES = ("public", "commissioner", "practitioner", "coordinator", "administrator")

CASES = [
    pytest.param(role, action, bool(allowed[i]), id=f"{role}-{action}")
    for action, allowed in MATRIX.items()
    for i, role in enumerate(MATRIX_ROLES)
]


def test_the_matrix_covers_every_role_and_action():
    assert set(MATRIX_ROLES) == set(ROLES) and set(MATRIX) == set(ACTIONS)


@pytest.mark.parametrize(("role", "action", "allowed"), CASES)
def test_permission_matrix(store, orgs, role, action, allowed):
    outcome = ACTIONS[action](store, actor(role, orgs), orgs)
    if allowed:
        assert outcome is True, outcome
    else:
        assert isinstance(outcome, str), outcome
        # A refusal says who and why (or the contact is simply not there to see).
        assert outcome == "blanked" or role in outcome or "another organisation" in outcome or "no record" in outcome


def test_refusals_name_the_role_the_action_and_the_organisation(store, orgs):
    with pytest.raises(PermissionDenied, match="commissioner@example.org is a commissioner and may not add records"):
        store.create_asset(actor("commissioner", orgs), Asset(name="X", kind="group", categories=("music",)))
    other = record(store, orgs, "other")
    with pytest.raises(PermissionDenied, match=f"of another organisation: .* belongs to organisation '{orgs['other'].name}'"):
        store.archive_asset(actor("coordinator", orgs), other.id, other.version)
    with pytest.raises(PermissionDenied, match="may not export organisers' contact details"):
        export_rows([other], include_internal=True, actor=actor("commissioner", orgs))
    draft = store.get_asset(SYSTEM_ACTOR, record(store, orgs, "other", status="draft").id)
    with pytest.raises(PermissionDenied, match="may not export"):
        export_rows([draft], actor=actor("coordinator", orgs))


def test_exports_show_exactly_what_each_role_may_see(store, orgs):
    own, other = record(store, orgs, "own"), record(store, orgs, "other")
    draft = record(store, orgs, "own", status="draft")
    for role in MATRIX_ROLES:
        who = actor(role, orgs)
        statuses = ("published", "draft") if role in ("coordinator", "administrator") else ("published",)
        assets = [a for a in store.list_assets(who, statuses=statuses) if a.id in {own.id, other.id, draft.id}]
        internal = permissions.allows(who, "export_internal")
        rows = {row["asset_id"]: row for row in export_rows(assets, include_internal=internal, actor=who)}
        assert (draft.id in rows) == (role in ("coordinator", "administrator"))
        public = export_rows(assets, actor=who)
        assert not set(INTERNAL_COLUMNS) & set(public[0])  # the public fields only, by choice
        if not internal:
            continue
        assert rows[own.id]["organiser_email"] == CONTACT
        assert rows[other.id]["organiser_email"] == ("" if role == "coordinator" else CONTACT)


def test_public_view_off_refuses_the_public_everywhere(store, orgs):
    asset = record(store, orgs, "own")
    store.set_app_setting(SYSTEM_ACTOR, "public_view", False)
    try:
        for call in (
            lambda: store.get_asset(PUBLIC_ACTOR, asset.id),
            lambda: store.assets_frame(PUBLIC_ACTOR),
            lambda: store.list_organisations(PUBLIC_ACTOR),
            lambda: store.boundary_layers(PUBLIC_ACTOR),
            lambda: store.unmet_demand(PUBLIC_ACTOR),
            lambda: store.report_problem(PUBLIC_ACTOR, asset.id, "closed"),
        ):
            with pytest.raises(PermissionDenied, match="sign in"):
                call()
        assert store.get_asset(actor("commissioner", orgs), asset.id).id == asset.id
    finally:
        store.set_app_setting(SYSTEM_ACTOR, "public_view", True)
    assert store.get_asset(PUBLIC_ACTOR, asset.id).organiser_email == ""


def test_the_rule_itself():
    coordinator = Actor(id="c", email="c@x.org", name="C", role="coordinator", organisation_id="A")
    lone = Actor(id="l", email="l@x.org", name="L", role="coordinator")
    assert permissions.internal_visible_mask(coordinator, ["A", "B", "A"]).tolist() == [True, False, True]
    assert not permissions.internal_visible_mask(PUBLIC_ACTOR, ["A"]).any()
    assert permissions.internal_visible_mask(SYSTEM_ACTOR, np.array(["A", "B"])).all()
    assert permissions.unpublished_scope(coordinator) == "organisation"
    assert permissions.unpublished_scope(lone) == "none"  # a coordinator of no organisation sees no drafts
    assert not permissions.may_see(lone, "draft", "")
    with pytest.raises(PermissionDenied, match="of no organisation"):
        permissions.authorise(lone, "update", Asset(name="X", kind="group", categories=(), organisation_id=""))
    with pytest.raises(PermissionDenied, match="unknown role 'boss'"):
        permissions.authorise(Actor(id="b", email="b@x.org", name="B", role="boss"), "read")
    with pytest.raises(ValueError, match="unknown action"):
        permissions.allows(coordinator, "fly")
    with pytest.raises(PermissionDenied, match="sign in"):
        permissions.admit(PUBLIC_ACTOR, public_view=False)
    permissions.admit(coordinator, public_view=False)


# --- the same table through the pages ---------------------------------------------------------


@pytest.fixture()
def two_orgs_register(tmp_env):
    """A fresh app database with a published and a draft record of each of two organisations,
    all near B14 7SA, each with an organiser's contact naming its organisation."""
    from assets.forms import check_asset
    from assets.geography import area_geography
    from geo.gazetteer import load_gazetteer

    store = open_store(get_settings().database_url)
    gazetteer = load_gazetteer(get_settings().codepoint_zip)
    geography = area_geography(store, SYSTEM_ACTOR, get_settings().area_code, gazetteer)
    check = check_asset(
        {"name": "x", "kind": "group", "categories": ["physical_activity"], "postcode": "B14 7SA"},
        [],
        gazetteer=gazetteer,
        geography=geography,
    )
    assert check.asset is not None, check.problems
    organisations = {"own": store.add_organisation(SYSTEM_ACTOR, "Own"), "other": store.add_organisation(SYSTEM_ACTOR, "Other")}
    for which, org in organisations.items():
        for status in ("published", "draft"):
            store.create_asset(
                SYSTEM_ACTOR,
                check.asset.with_changes(
                    id=str(uuid.uuid4()),
                    name=f"{which.capitalize()} {status} walkers",
                    organisation_id=org.id,
                    organisation_name=org.name,
                    status=status,
                    organiser_name=f"Organiser of {which}",
                    organiser_email=f"{which}@example.org",
                ),
            )
    return store, organisations


def _all_values(at) -> str:
    return " ".join(df.value.astype(str).to_csv() for df in at.dataframe)


SEEN_ON_PAGES = {
    # role: (manage shows drafts of, contacts shown on Find nearby)
    "public": (None, ()),
    "commissioner": (None, ()),
    "practitioner": (None, ("own", "other")),
    "coordinator": (("own",), ("own",)),
    "administrator": (("own", "other"), ("own", "other")),
}


@pytest.mark.parametrize("role", MATRIX_ROLES)
def test_who_sees_what_through_the_pages(two_orgs_register, role):
    _, organisations = two_orgs_register
    drafts_of, contacts_of = SEEN_ON_PAGES[role]
    signed_in = {"role": role if role != "public" else None, "organisation_id": organisations["own"].id}

    # Map: the published records of everyone, never a draft.
    at = open_page(None, **signed_in)
    listed = _all_values(at)
    assert "Own published walkers" in listed and "Other published walkers" in listed
    assert "draft walkers" not in listed and "example.org" not in listed

    # Find nearby: organisers' contacts only where the role may see them.
    at = open_page("find_nearby", **signed_in)
    at.text_input(key="nearby_query").input("B14 7SA")
    at.button(key="nearby_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = _all_values(at)
    assert "Own published walkers" in shown and "draft walkers" not in shown
    for which in ("own", "other"):
        assert (f"{which}@example.org" in shown) == (which in contacts_of), (role, which)

    # Manage records: drafts of the organisations the role may edit; others get a sign-in prompt.
    at = open_page("manage", **signed_in)
    if drafts_of is None:
        assert not at.dataframe
        prompts = [str(i.value) for i in [*at.info, *at.warning]]
        assert any("manage records" in text for text in prompts), prompts
    else:
        listed = _all_values(at)
        for which in ("own", "other"):
            assert (f"{which.capitalize()} draft walkers" in listed) == (which in drafts_of), (role, which)
