"""Sign-in: passwords, slowing and lockout, sessions that expire, disabled users, single sign-on
mapping, the first administrator; through assets.auth and through the Sign in page (AppTest)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from apptest_util import open_page, texts

from assets import auth
from assets.__main__ import main as assets_main
from assets.errors import PermissionDenied, RegisterError
from assets.model import PUBLIC_ACTOR, SYSTEM_ACTOR
from assets.store import AUDIT, open_store
from settings import SettingsError, get_settings

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture()
def store(tmp_env, monkeypatch):
    """A fresh register; three failures lock an account for 15 minutes; sessions idle out after 30."""
    monkeypatch.setenv("CAM_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("CAM_LOGIN_LOCKOUT_MINUTES", "15")
    monkeypatch.setenv("CAM_SESSION_TIMEOUT_MINUTES", "30")
    return open_store(get_settings().database_url)


def add(store, email="ann@example.org", role="practitioner", password=PASSWORD, **kwargs):
    password_hash = auth.hash_password(password, email) if password else None
    return store.add_user(SYSTEM_ACTOR, email, "Ann", role, password_hash=password_hash, **kwargs)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_right_password_signs_in_and_nothing_secret_is_kept_in_clear(store):
    user = add(store)
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    signed = auth.sign_in(store, "  ANN@example.org ", PASSWORD, now=T0, sleep=Sleeps())
    assert signed.id == user.id and signed.last_seen == T0 and signed.failed_logins == 0
    with store.engine.connect() as connection:
        audit = json.dumps([dict(r._mapping) for r in connection.execute(sa.select(AUDIT.c.changes))], default=str)
    assert "$argon2" not in audit and PASSWORD not in audit


def test_wrong_password_and_unknown_email_get_the_same_answer_slowly(store):
    add(store)
    sleeps = Sleeps()
    for email, password in (("ann@example.org", "wrong wrong wrong"), ("nobody@example.org", PASSWORD)):
        with pytest.raises(PermissionDenied, match="the email or password is wrong"):
            auth.sign_in(store, email, password, now=T0, sleep=sleeps)
    assert sleeps == [auth.FIRST_DELAY_S, auth.FIRST_DELAY_S]
    assert store.get_user(SYSTEM_ACTOR, "ann@example.org").failed_logins == 1


def test_failures_slow_down_then_lock_then_the_lock_ends(store):
    add(store)
    sleeps = Sleeps()
    with pytest.raises(PermissionDenied, match="2 more wrong attempts"):
        auth.sign_in(store, "ann@example.org", "bad password 1", now=T0, sleep=sleeps)
    with pytest.raises(PermissionDenied, match="1 more wrong attempt lock"):
        auth.sign_in(store, "ann@example.org", "bad password 2", now=T0, sleep=sleeps)
    assert sleeps == [0.5, 1.0]  # doubling with each failure in a row
    with pytest.raises(PermissionDenied, match=r"locked until 09:15 UTC \(about 15 minutes\)"):
        auth.sign_in(store, "ann@example.org", "bad password 3", now=T0, sleep=sleeps)
    # While locked even the right password is refused, and nothing is counted.
    with pytest.raises(PermissionDenied, match="locked until"):
        auth.sign_in(store, "ann@example.org", PASSWORD, now=T0 + timedelta(minutes=14), sleep=sleeps)
    assert auth.sign_in(store, "ann@example.org", PASSWORD, now=T0 + timedelta(minutes=16), sleep=sleeps)
    user = store.get_user(SYSTEM_ACTOR, "ann@example.org")
    assert (user.failed_logins, user.locked_until) == (0, None)
    assert auth.failure_delay(50) == auth.MAX_DELAY_S  # capped


def test_a_disabled_user_cannot_sign_in_and_is_signed_out(store):
    user = add(store)
    session: dict = {}
    auth.start_session(session, auth.sign_in(store, user.email, PASSWORD, now=T0, sleep=Sleeps()), now=T0)
    assert auth.current_actor(store, session, now=T0).id == user.id
    store.update_user(SYSTEM_ACTOR, user.email, disabled=True)
    assert auth.current_actor(store, session, now=T0) == PUBLIC_ACTOR
    assert "disabled" in session[auth.NOTICE_KEY]
    with pytest.raises(PermissionDenied, match="ann@example.org is disabled"):
        auth.sign_in(store, user.email, PASSWORD, now=T0, sleep=Sleeps())
    with pytest.raises(PermissionDenied, match="the email or password is wrong"):  # no hint it exists
        auth.sign_in(store, user.email, "not the password", now=T0, sleep=Sleeps())


def test_sessions_expire_after_inactivity_and_follow_role_changes(store):
    user = add(store)
    session: dict = {}
    auth.start_session(session, user, now=T0)
    # Activity keeps it alive: each call moves the last-active time on.
    assert auth.current_actor(store, session, now=T0 + timedelta(minutes=29)).role == "practitioner"
    store.update_user(SYSTEM_ACTOR, user.email, role="commissioner")
    assert auth.current_actor(store, session, now=T0 + timedelta(minutes=58)).role == "commissioner"
    assert auth.current_actor(store, session, now=T0 + timedelta(minutes=89)) == PUBLIC_ACTOR
    assert "30 minutes without activity" in session[auth.NOTICE_KEY]
    assert auth.SESSION_KEY not in session


def test_single_sign_on_maps_to_the_local_account_by_email(store):
    user = add(store, password=None)  # no password: single sign-on only
    session: dict = {}
    who = auth.current_actor(store, session, now=T0, sso=auth.SsoIdentity("Ann@Example.org", True))
    assert (who.id, session[auth.SESSION_KEY]["method"]) == (user.id, "sso")
    with pytest.raises(PermissionDenied, match="the email or password is wrong"):
        auth.sign_in(store, user.email, "", now=T0, sleep=Sleeps())
    for identity, reason in (
        (auth.SsoIdentity("stranger@example.org", True), "has no account here"),
        (auth.SsoIdentity("ann@example.org", False), "has not verified"),
    ):
        session = {}
        assert auth.current_actor(store, session, now=T0, sso=identity) == PUBLIC_ACTOR
        assert reason in session[auth.NOTICE_KEY]
    # An idle single sign-on session ends too, and asks the page to log out of the provider.
    session = {}
    auth.current_actor(store, session, now=T0, sso=auth.SsoIdentity("ann@example.org"))
    assert auth.current_actor(store, session, now=T0 + timedelta(hours=1), sso=auth.SsoIdentity("ann@example.org")) == PUBLIC_ACTOR
    assert session[auth.SSO_LOGOUT_KEY] is True


def test_passwords_must_be_fit_and_changes_check_the_current_one(store):
    for bad, reason in (("short", "at least 12"), ("a" * 20, "one character"), ("ann@example.org", "is the email")):
        with pytest.raises(RegisterError, match=reason):
            auth.hash_password(bad, "ann@example.org")
    user = add(store)
    with pytest.raises(PermissionDenied, match="current password is wrong"):
        auth.change_password(store, user.actor(), "not it at all", "a brand new passphrase")
    assert store.get_user(SYSTEM_ACTOR, user.email).failed_logins == 1
    auth.change_password(store, user.actor(), PASSWORD, "a brand new passphrase")
    assert auth.sign_in(store, user.email, "a brand new passphrase", sleep=Sleeps()).id == user.id
    with pytest.raises(PermissionDenied, match="may not manage"):  # only administrators set others' passwords
        auth.set_password(store, user.actor(), "someone@example.org", "another good passphrase")


def test_first_administrator_once_and_never_a_default(store, monkeypatch):
    assert store.needs_first_administrator()
    assert store.list_users(SYSTEM_ACTOR) == []  # no default account, no default password
    with pytest.raises(RegisterError, match="at least 12"):
        auth.create_first_administrator(store, "boss@example.org", "Boss", "password")
    admin = auth.create_first_administrator(store, "Boss@Example.org", "Boss", PASSWORD)
    assert (admin.email, admin.role, admin.organisation_id) == (
        "boss@example.org",
        "administrator",
        store.default_organisation(SYSTEM_ACTOR).id,
    )
    assert not store.needs_first_administrator()
    with pytest.raises(PermissionDenied, match="already exists"):
        auth.create_first_administrator(store, "mallory@example.org", "M", PASSWORD)
    with pytest.raises(RegisterError, match="last enabled administrator"):
        store.update_user(SYSTEM_ACTOR, admin.email, disabled=True)
    monkeypatch.setenv("CAM_ADMIN_EMAIL", "ops@example.org")
    monkeypatch.setenv("CAM_ADMIN_PASSWORD", PASSWORD)
    assert auth.ensure_administrator_from_settings(store) is None  # one exists: nothing to do


def test_first_administrator_from_the_settings(store, monkeypatch):
    monkeypatch.setenv("CAM_ADMIN_EMAIL", "ops@example.org")
    with pytest.raises(SettingsError, match="set CAM_ADMIN_PASSWORD too"):
        auth.ensure_administrator_from_settings(store)
    monkeypatch.setenv("CAM_ADMIN_PASSWORD", "short")
    with pytest.raises(SettingsError, match="at least 12"):
        auth.ensure_administrator_from_settings(store)
    monkeypatch.setenv("CAM_ADMIN_PASSWORD", PASSWORD)
    assert "short" not in repr(get_settings()) and PASSWORD not in repr(get_settings())
    made = auth.ensure_administrator_from_settings(store)
    assert made.role == "administrator"
    assert auth.sign_in(store, "ops@example.org", PASSWORD, sleep=Sleeps()).id == made.id


def test_command_line_users_and_organisations(store, monkeypatch, capsys):
    import io

    assert assets_main(["orgs", "add", "Moseley Network", "--identifier", "1234"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert assets_main(["users", "add", "Cy@example.org", "--name", "Cy", "--role", "coordinator",
                        "--org", "moseley network", "--password-stdin"]) == 0
    assert auth.sign_in(store, "cy@example.org", PASSWORD, sleep=Sleeps()).role == "coordinator"
    assert assets_main(["users", "add", "dee@example.org", "--name", "Dee", "--role", "coordinator"]) == 2
    assert "cannot be a coordinator without an organisation" in capsys.readouterr().err
    assert assets_main(["users", "set-role", "cy@example.org", "practitioner"]) == 0
    assert assets_main(["users", "disable", "cy@example.org"]) == 0
    assert assets_main(["users", "list"]) == 0
    out = capsys.readouterr().out
    assert "cy@example.org\tCy\tpractitioner\tMoseley Network\tdisabled\tpassword" in out
    assert assets_main(["users", "add", "eve@example.org", "--name", "E", "--role", "commissioner", "--org", "Nope"]) == 2
    assert "no organisation named 'Nope'" in capsys.readouterr().err


# --- through the pages ----------------------------------------------------------------------------


def test_first_run_notice_and_set_up_page(store):
    at = open_page(None, role=None)
    assert any("No administrator exists yet" in t for t in texts(at, "warning"))
    at = open_page("account", role=None)
    assert at.title[0].value == "Set up the first administrator"
    at.text_input(key="setup_email").input("boss@example.org")
    at.text_input(key="setup_name").input("Boss")
    at.text_input(key="setup_password").input(PASSWORD)
    at.text_input(key="setup_confirm").input(PASSWORD + "x")
    at.button(key="setup_submit").click()
    at.run()
    assert any("differ" in t for t in texts(at, "error")) and store.needs_first_administrator()
    at.text_input(key="setup_confirm").input(PASSWORD)
    at.button(key="setup_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Your account"  # signed in as the new administrator
    assert not store.needs_first_administrator()
    assert not any("No administrator exists yet" in t for t in texts(at, "warning"))
    at.switch_page("app_pages/users.py")
    at.run()
    assert not at.exception and any("boss@example.org" in df.value.to_csv() for df in at.dataframe)


def test_sign_in_form_wrong_then_right_then_sign_out(store):
    add(store, role="administrator")  # so the set-up page is closed
    at = open_page("account", role=None)
    assert at.title[0].value == "Sign in"
    at.text_input(key="signin_email").input("ann@example.org")
    at.text_input(key="signin_password").input("not the password")
    at.button(key="signin_submit").click()
    at.run()
    assert any("email or password is wrong" in t.replace("\\", "") for t in texts(at, "error"))
    at.text_input(key="signin_password").input(PASSWORD)
    at.button(key="signin_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Your account"
    assert any("Signed in as Ann" in t for t in texts(at, "caption"))
    at.button(key="account_sign_out").click()
    at.run()
    assert at.title[0].value == "Sign in"


def test_an_expired_session_shows_a_notice_and_a_sign_in_prompt(store):
    add(store, role="administrator", email="boss@example.org")
    coordinator = add(store, role="coordinator", organisation_id=store.default_organisation(SYSTEM_ACTOR).id)
    state: dict = {}
    auth.start_session(state, coordinator, now=datetime.now(UTC) - timedelta(minutes=31))
    at = open_page("manage", role=None, state=state)
    assert any("30 minutes without activity" in t for t in texts(at, "info"))
    assert any("Sign in as" in t and "manage records" in t for t in texts(at, "info"))
    assert not at.dataframe


def test_public_view_off_every_page_asks_to_sign_in(store):
    add(store, role="administrator", email="boss@example.org")
    store.set_app_setting(SYSTEM_ACTOR, "public_view", False)
    for page in (None, "find_nearby", "coverage", "boundaries"):
        at = open_page(page, role=None)
        assert at.title[0].value == "Sign in to see the register", page
        assert not at.dataframe and not at.get("component_instance")
    at = open_page("account", role=None)
    assert at.title[0].value == "Sign in"
    at = open_page(None, role="commissioner")
    assert at.title[0].value != "Sign in to see the register"
