"""Sign-in: local accounts with argon2 password hashes, sessions, lockout, single sign-on mapping.

No Streamlit here: a session is any mutable mapping (the page hands in
``st.session_state``), so the rules are tested directly. Who may then do what is
:mod:`assets.permissions`; this module only decides who is asking.

- Passwords are hashed with argon2id (argon2-cffi's defaults); the hash never leaves the
  store and is never written to the audit trail. There is no default password anywhere.
- A wrong password is answered slowly (a delay doubling with each failure in a row, capped
  at :data:`MAX_DELAY_S`), and the ``login_max_failures``-th failure in a row locks the
  account for ``login_lockout_minutes``. A disabled account cannot sign in.
- A session ends after ``session_timeout_minutes`` without activity. Sessions live in the
  browser tab's Streamlit session: a refresh of the page starts a new one (sign in again);
  single sign-on keeps its own cookie, so the visitor is signed in again at once.
- The first administrator is created on the one-time set-up page, or from the settings
  ``CAM_ADMIN_EMAIL`` and ``CAM_ADMIN_PASSWORD`` for unattended deployments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from assets.errors import NotFound, PermissionDenied, RegisterError
from assets.model import PUBLIC_ACTOR, SYSTEM_ACTOR, Actor
from settings import SettingsError, get_settings

MIN_PASSWORD_LENGTH = 12
# argon2 hashes any length, but a megabyte "password" would only be a way to burn CPU.
MAX_PASSWORD_LENGTH = 1024
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 8.0

SESSION_KEY = "cam_auth"  # {"user_id", "last_active", "method"} of the signed-in user
NOTICE_KEY = "cam_auth_notice"  # why the visitor was signed out (shown once on the next page)
SSO_LOGOUT_KEY = "cam_auth_sso_logout"  # an expired single sign-on session: the page logs out

WRONG_CREDENTIALS = "the email or password is wrong; check both and try again"

_HASHER = PasswordHasher()
# Verified against when the email is unknown, so an unknown email takes as long as a known one.
_DUMMY_HASH = _HASHER.hash("not a password: only used to spend the same time on unknown emails")


def _now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- passwords


def check_new_password(password: str, email: str = "") -> None:
    """Refuse a password that is too short, too long, the email, or one character repeated.

    Raises
    ------
    RegisterError
        Saying what is wrong and what would do.
    """
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        msg = (
            f"the password has {len(password)} characters; use at least {MIN_PASSWORD_LENGTH} "
            "(a few unrelated words make a good one)"
        )
        raise RegisterError(msg)
    if len(password) > MAX_PASSWORD_LENGTH:
        msg = f"the password has {len(password):,} characters; use at most {MAX_PASSWORD_LENGTH:,}"
        raise RegisterError(msg)
    if email and password.strip().lower() == email.strip().lower():
        raise RegisterError("the password is the email address; choose something else")
    if len(set(password)) == 1:
        raise RegisterError("the password is one character repeated; choose something harder to guess")


def hash_password(password: str, email: str = "") -> str:
    """The argon2id hash of a new password (checked by :func:`check_new_password` first)."""
    check_new_password(password, email)
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for no hash or a damaged one)."""
    if not password_hash:
        _verify_quietly(_DUMMY_HASH, password)
        return False
    return _verify_quietly(password_hash, password)


def _verify_quietly(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def failure_delay(failures: int) -> float:
    """Seconds to wait before answering the ``failures``-th failed sign-in in a row."""
    if failures <= 0:
        return 0.0
    return min(FIRST_DELAY_S * 2 ** (failures - 1), MAX_DELAY_S)


# --------------------------------------------------------------------------- signing in


def sign_in(
    store,
    email: str,
    password: str,
    *,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
):
    """Check an email and password; returns the :class:`~assets.store.User` signed in.

    Parameters
    ----------
    store
        The register's store.
    email, password
        As typed (the email in any case).
    now
        The time of the attempt (default now).
    sleep
        How to wait after a failure (tests pass a recorder).

    Raises
    ------
    PermissionDenied
        Wrong email or password (one message for both), the account is locked, or disabled.
    """
    settings = get_settings()
    now = now or _now()
    email = (email or "").strip().lower()
    try:
        user = store.get_user(SYSTEM_ACTOR, email)
    except NotFound:
        verify_password(None, password)
        sleep(failure_delay(1))
        raise PermissionDenied(WRONG_CREDENTIALS) from None
    if user.locked_until is not None and user.locked_until > now:
        raise PermissionDenied(_locked_message(user.email, user.locked_until, now))
    if not verify_password(user.password_hash, password):
        user = store.record_sign_in(
            SYSTEM_ACTOR,
            user.id,
            succeeded=False,
            max_failures=settings.login_max_failures,
            lockout_minutes=settings.login_lockout_minutes,
            at=now,
        )
        if user.locked_until is not None and user.locked_until > now:
            raise PermissionDenied(_locked_message(user.email, user.locked_until, now))
        sleep(failure_delay(user.failed_logins))
        left = settings.login_max_failures - user.failed_logins
        msg = f"{WRONG_CREDENTIALS} ({left} more wrong attempt{'s' if left != 1 else ''} lock the account for a while)"
        raise PermissionDenied(msg)
    if user.disabled:
        raise PermissionDenied(f"the account {user.email} is disabled; ask an administrator to enable it")
    user = store.record_sign_in(
        SYSTEM_ACTOR,
        user.id,
        succeeded=True,
        max_failures=settings.login_max_failures,
        lockout_minutes=settings.login_lockout_minutes,
        at=now,
    )
    if _HASHER.check_needs_rehash(user.password_hash):
        # argon2's recommended cost went up since this hash was made: store a stronger one.
        store.set_password_hash(SYSTEM_ACTOR, user.email, _HASHER.hash(password), note="rehashed at sign-in")
    return user


def _locked_message(email: str, until: datetime, now: datetime) -> str:
    minutes = max(1, round((until - now).total_seconds() / 60))
    return (
        f"too many wrong passwords: {email} is locked until {until:%H:%M} UTC (about {minutes} minute"
        f"{'s' if minutes != 1 else ''}); try again then, or ask an administrator"
    )


def change_password(store, actor: Actor, current: str, new: str) -> None:
    """Change the signed-in user's own password, after checking the current one.

    A wrong current password counts as a failed sign-in (so the form cannot be used to guess).
    """
    settings = get_settings()
    user = store.get_user(actor, actor.email)
    if user.password_hash and not verify_password(user.password_hash, current):
        store.record_sign_in(
            SYSTEM_ACTOR,
            user.id,
            succeeded=False,
            max_failures=settings.login_max_failures,
            lockout_minutes=settings.login_lockout_minutes,
        )
        raise PermissionDenied("the current password is wrong; the password was not changed")
    store.set_password_hash(actor, user.email, hash_password(new, user.email), note="changed by the user")


def set_password(store, actor: Actor, email: str, password: str) -> None:
    """Set someone's password (administrators; the store refuses anyone else)."""
    store.set_password_hash(actor, email, hash_password(password, email), note="set by an administrator")


# --------------------------------------------------------------------------- sessions


def start_session(
    session: MutableMapping[str, Any], user, *, now: datetime | None = None, method: str = "password"
) -> None:
    """Remember in ``session`` that ``user`` is signed in (and since when they were active)."""
    session[SESSION_KEY] = {"user_id": user.id, "last_active": now or _now(), "method": method}
    session.pop(NOTICE_KEY, None)


def end_session(session: MutableMapping[str, Any], notice: str = "") -> None:
    """Sign out: forget the user; ``notice`` says why on the next page (empty: no notice)."""
    session.pop(SESSION_KEY, None)
    if notice:
        session[NOTICE_KEY] = notice


@dataclass(frozen=True)
class SsoIdentity:
    """Who the single sign-on provider says the visitor is (``st.user``)."""

    email: str
    email_verified: bool | None = None  # None: the provider does not say


def user_for_sso(store, identity: SsoIdentity):
    """The local account a single sign-on identity maps to, by email; its role applies.

    Raises
    ------
    PermissionDenied
        The provider says the email is unverified, no account has that email, or it is disabled.
    """
    email = (identity.email or "").strip().lower()
    if not email:
        raise PermissionDenied("the single sign-on provider gave no email address; ask an administrator")
    if identity.email_verified is False:
        msg = f"the single sign-on provider has not verified {email}; verify it with the provider first"
        raise PermissionDenied(msg)
    try:
        user = store.get_user(SYSTEM_ACTOR, email)
    except NotFound:
        msg = f"{email} signed in with single sign-on but has no account here; ask an administrator to add one"
        raise PermissionDenied(msg) from None
    if user.disabled:
        raise PermissionDenied(f"the account {email} is disabled; ask an administrator to enable it")
    return user


def current_actor(
    store,
    session: MutableMapping[str, Any],
    *,
    now: datetime | None = None,
    sso: SsoIdentity | None = None,
) -> Actor:
    """Who is asking: the signed-in user's actor, else :data:`~assets.model.PUBLIC_ACTOR`.

    The user is read from the store on every call, so a role change or a disabled account
    takes effect at the next click. A session idle longer than ``session_timeout_minutes``
    ends (with a notice); a single sign-on identity is mapped to its local account.
    """
    now = now or _now()
    entry = session.get(SESSION_KEY)
    if sso is not None and (entry is None or entry.get("method") != "sso"):
        if entry is None and session.get(SSO_LOGOUT_KEY):
            return PUBLIC_ACTOR  # expired: waiting for the page to log out of the provider
        try:
            user = user_for_sso(store, sso)
        except PermissionDenied as exc:
            session[NOTICE_KEY] = str(exc)
            return PUBLIC_ACTOR
        start_session(session, user, now=now, method="sso")
        entry = session[SESSION_KEY]
    if entry is None:
        return PUBLIC_ACTOR
    timeout = timedelta(minutes=get_settings().session_timeout_minutes)
    if now - entry["last_active"] > timeout:
        end_session(
            session,
            f"You were signed out after {get_settings().session_timeout_minutes} minutes without activity; "
            "sign in again.",
        )
        if entry.get("method") == "sso":
            session[SSO_LOGOUT_KEY] = True
        return PUBLIC_ACTOR
    try:
        user = store.get_user_by_id(SYSTEM_ACTOR, entry["user_id"])
    except NotFound:
        end_session(session, "Your account no longer exists; ask an administrator.")
        return PUBLIC_ACTOR
    if user.disabled:
        end_session(session, "Your account has been disabled; ask an administrator.")
        return PUBLIC_ACTOR
    entry["last_active"] = now
    return user.actor()


# --------------------------------------------------------------------------- first administrator


def create_first_administrator(store, email: str, name: str, password: str, *, note: str = "first-run set-up"):
    """Create the first administrator (only while none exists); returns the user.

    Raises
    ------
    RegisterError
        A bad email or a weak password.
    PermissionDenied
        An administrator exists already.
    """
    if not store.needs_first_administrator():
        raise PermissionDenied("an administrator already exists; sign in, or ask an administrator for an account")
    email = (email or "").strip().lower()
    return store.add_first_administrator(
        email, (name or "").strip() or "Administrator", hash_password(password, email), note=note
    )


def ensure_administrator_from_settings(store):
    """Create the first administrator from CAM_ADMIN_EMAIL and CAM_ADMIN_PASSWORD when both are set
    and no administrator exists yet; returns the new user, or None (nothing to do).

    Raises
    ------
    SettingsError
        Only one of the two is set, or the password is too weak.
    """
    settings = get_settings()
    if not settings.admin_email and not settings.admin_password:
        return None
    if not (settings.admin_email and settings.admin_password):
        missing = "CAM_ADMIN_PASSWORD" if settings.admin_email else "CAM_ADMIN_EMAIL"
        msg = f"CAM_ADMIN_EMAIL and CAM_ADMIN_PASSWORD go together: set {missing} too, or unset both"
        raise SettingsError(msg)
    if not store.needs_first_administrator():
        return None
    try:
        return create_first_administrator(
            store, settings.admin_email, "Administrator", settings.admin_password, note="from CAM_ADMIN_EMAIL"
        )
    except PermissionDenied:
        return None  # another process created one first
    except RegisterError as exc:
        msg = f"CAM_ADMIN_EMAIL/CAM_ADMIN_PASSWORD: {exc}"
        raise SettingsError(msg) from exc
