"""The register's database: the only module that touches it.

SQLite by default (a file named by ``DATABASE_URL``), PostgreSQL with PostGIS when the URL is
``postgresql://``; one schema, created or upgraded by Alembic on first use, so a new empty
database needs no set-up step.

Every write is one transaction that also writes its audit row(s) and bumps
``meta.data_version`` (which caches key on). On SQLite every write transaction starts with
``BEGIN IMMEDIATE`` so that writers queue on the busy timeout instead of failing with
"database is locked" when a read turns into a write; reads use plain (deferred) transactions
and, in WAL mode, never block writers. Updates carry the version the editor started from: a
record changed since is refused with :class:`~assets.errors.StaleVersion`, never overwritten.

Every public method takes the acting user (:class:`~assets.model.Actor`) first and passes
through :func:`_authorise`, the one place that decides what each role may do.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite

from assets import permissions
from assets.errors import NotFound, PermissionDenied, RegisterError, StaleVersion
from assets.model import (
    ASSET_FIELDS,
    INTERNAL_FIELDS,
    ROLES,
    STATUSES,
    SYSTEM_ACTOR,
    SYSTEM_FIELDS,
    Actor,
    Asset,
    Session,
    session_from_dict,
    session_to_dict,
)
from geo.dates import months_before
from settings import get_settings

if TYPE_CHECKING:
    from alembic.config import Config

    from geo.boundaries import BoundaryLayer

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
BUSY_TIMEOUT_S = 30
# pg_advisory_xact_lock key that serialises first-use migrations ("cam" + schema family 1).
_MIGRATION_LOCK_KEY = 0x63616D01
_FIRST_ADMIN_LOCK_KEY = 0x63616D02  # serialises the one-time set-up on PostgreSQL
_WRITE = "cam_write"  # execution option: this connection's transaction will write
_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit

# --------------------------------------------------------------------------------------
# Schema (kept in step with assets/migrations; tests/test_store.py compares the two)
# --------------------------------------------------------------------------------------


class _UTCDateTime(sa.TypeDecorator):
    """Naive UTC in the database (same on SQLite and PostgreSQL), aware UTC in Python."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_AUDIT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_TUPLE_FIELDS = ("categories", "accessibility", "for_whom")
_FLOAT_FIELDS = ("lat", "lon", "easting", "northing")
_BOOL_FIELDS = ("private_address", "by_arrangement")
_DATETIME_FIELDS = ("created_at", "updated_at", "archived_at")
_OTHER_FIELDS = {"id", "sessions", "last_verified", "version", "status", "organisation_id", "name", "kind"}
_TEXT_FIELDS = tuple(
    name
    for name in ASSET_FIELDS
    if name not in {*_TUPLE_FIELDS, *_FLOAT_FIELDS, *_BOOL_FIELDS, *_DATETIME_FIELDS, *_OTHER_FIELDS}
)


_STRING_FIELDS = (*_TEXT_FIELDS, "id", "name", "kind", "status", "organisation_id")


def _text(name: str) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=False, server_default="")


METADATA = sa.MetaData()

ORGANISATIONS = sa.Table(
    "organisations",
    METADATA,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    _text("description"),
    _text("identifier"),
    sa.Column("created_at", _UTCDateTime(), nullable=False),
    sa.UniqueConstraint("name", name="uq_organisations_name"),
)

USERS = sa.Table(
    "users",
    METADATA,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("email", sa.Text(), nullable=False),
    _text("name"),
    sa.Column("role", sa.Text(), nullable=False),
    sa.Column(
        "organisation_id",
        sa.String(36),
        sa.ForeignKey("organisations.id", name="fk_users_organisation_id"),
        nullable=True,
    ),
    sa.Column("password_hash", sa.Text(), nullable=True),
    sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("locked_until", _UTCDateTime(), nullable=True),
    sa.Column("last_seen", _UTCDateTime(), nullable=True),
    sa.Column("created_at", _UTCDateTime(), nullable=False),
    sa.UniqueConstraint("email", name="uq_users_email"),
)


def _asset_column(name: str) -> sa.Column:
    if name == "id":
        return sa.Column("id", sa.String(36), primary_key=True)
    if name in ("name", "kind"):
        return sa.Column(name, sa.Text(), nullable=False)
    if name == "organisation_id":
        return sa.Column(
            name,
            sa.String(36),
            sa.ForeignKey("organisations.id", name="fk_assets_organisation_id"),
            nullable=False,
            index=True,
        )
    if name in (*_TUPLE_FIELDS, "sessions"):
        return sa.Column(name, sa.Text(), nullable=False, server_default="[]")
    if name in _FLOAT_FIELDS:
        return sa.Column(name, sa.Float(), nullable=True)
    if name in _BOOL_FIELDS:
        return sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false())
    if name in _DATETIME_FIELDS:
        return sa.Column(name, _UTCDateTime(), nullable=True)
    if name == "last_verified":
        return sa.Column(name, sa.Date(), nullable=True)
    if name == "version":
        return sa.Column(name, sa.Integer(), nullable=False, server_default="1")
    if name == "status":
        return sa.Column(name, sa.Text(), nullable=False, server_default="published", index=True)
    return sa.Column(
        name, sa.Text(), nullable=False, server_default="", index=name in ("external_id", "ward_code")
    )


ASSETS = sa.Table(
    "assets",
    METADATA,
    *(_asset_column(name) for name in ASSET_FIELDS),
    sa.Column("match_key", sa.Text(), nullable=False, server_default="", index=True),
)

AUDIT = sa.Table(
    "audit",
    METADATA,
    sa.Column("id", _AUDIT_ID, primary_key=True, autoincrement=True),
    sa.Column("at", _UTCDateTime(), nullable=False, index=True),
    sa.Column("actor_id", sa.Text(), nullable=False),
    _text("actor_email"),
    sa.Column("action", sa.Text(), nullable=False),
    sa.Column("entity", sa.Text(), nullable=False),
    sa.Column("entity_id", sa.Text(), nullable=False),
    sa.Column("changes", _JSON, nullable=False),
    _text("note"),
    sa.Index("ix_audit_entity", "entity", "entity_id"),
)

BOUNDARY_LAYERS = sa.Table(
    "boundary_layers",
    METADATA,
    sa.Column("layer", sa.Text(), primary_key=True),
    _text("source"),
    _text("vintage"),
    sa.Column("loaded_at", _UTCDateTime(), nullable=True),
    sa.Column("approximate", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("notes", sa.Text(), nullable=False, server_default="[]"),
)

BOUNDARY_FEATURES = sa.Table(
    "boundary_features",
    METADATA,
    sa.Column(
        "layer",
        sa.Text(),
        sa.ForeignKey("boundary_layers.layer", name="fk_boundary_features_layer", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("code", sa.Text(), primary_key=True),
    _text("name"),
    sa.Column("geometry", sa.LargeBinary(), nullable=False),
)

META = sa.Table(
    "meta",
    METADATA,
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

APP_SETTINGS = sa.Table(
    "app_settings",
    METADATA,
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("value", _JSON, nullable=True),
)

SNAPSHOTS = sa.Table(
    "coverage_snapshots",
    METADATA,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("created_at", _UTCDateTime(), nullable=False),
    _text("created_by"),
    _text("area_code"),
    sa.Column("payload", _JSON, nullable=False),
)

UNMET_DEMAND = sa.Table(
    "unmet_demand",
    METADATA,
    sa.Column("ward_code", sa.Text(), primary_key=True),
    sa.Column("category", sa.Text(), primary_key=True),
    sa.Column("day", sa.Text(), primary_key=True),
    sa.Column("period", sa.Text(), primary_key=True),
    sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
)

PROBLEM_REPORTS = sa.Table(
    "problem_reports",
    METADATA,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "asset_id",
        sa.String(36),
        sa.ForeignKey("assets.id", name="fk_problem_reports_asset_id"),
        nullable=False,
        index=True,
    ),
    _text("reported_by"),
    sa.Column("reported_at", _UTCDateTime(), nullable=False),
    _text("reason"),
    _text("note"),
    sa.Column("status", sa.Text(), nullable=False, server_default="open"),
    _text("outcome"),
    _text("closed_by"),
    sa.Column("closed_at", _UTCDateTime(), nullable=True),
)

# Admin switches and their defaults (read by pages before anyone signs in). The public view is
# on by default: whoever starts the app sees the map of published records at once.
APP_SETTING_DEFAULTS: dict[str, Any] = {"public_view": True, "require_approval": False}

# --------------------------------------------------------------------------------------
# Records other than assets
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Organisation:
    """An organisation that owns records (an umbrella body, a charity, a council team)."""

    id: str
    name: str
    description: str = ""
    identifier: str = ""  # charity or company number
    created_at: datetime | None = None


@dataclass(frozen=True)
class User:
    """A person who signs in; :meth:`actor` is who they act as."""

    id: str
    email: str
    name: str
    role: str
    organisation_id: str = ""
    disabled: bool = False
    failed_logins: int = 0
    locked_until: datetime | None = None
    last_seen: datetime | None = None
    created_at: datetime | None = None
    password_hash: str | None = field(default=None, repr=False)

    def actor(self) -> Actor:
        """The acting identity of this user."""
        return Actor(
            id=self.id, email=self.email, name=self.name, role=self.role, organisation_id=self.organisation_id
        )


# --------------------------------------------------------------------------------------
# Permissions: the one hook every store method goes through
# --------------------------------------------------------------------------------------

_WRITE_ACTIONS = permissions.WRITE_ACTIONS


def _who(actor: Actor) -> str:
    return permissions.who(actor)


def _authorise(actor: Actor, action: str, asset: Asset | None = None) -> None:
    """Refuse ``action`` (on ``asset`` when given) unless ``actor``'s role allows it.

    The rule itself is :func:`assets.permissions.authorise`; the public view switch is
    checked by :func:`_admitting` around every public method.

    Raises
    ------
    PermissionDenied
        The role does not allow the action, or the record belongs to another organisation.
    NotFound
        ``action`` is "read" and the record is one the actor may not see.
    """
    permissions.authorise(actor, action, asset)


def _may_see(actor: Actor, asset: Asset) -> bool:
    return permissions.may_see(actor, asset.status, asset.organisation_id)


def _reader_view(actor: Actor, asset: Asset) -> Asset:
    return permissions.reader_view(actor, asset)


def _check_user(email: str, role: str, organisation_id: str | None) -> tuple[str, str]:
    """A user's email in lower case and role, or a clear refusal."""
    email = (email or "").strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(char.isspace() for char in email):
        msg = f"user email {email!r} is not an email address; give one like name@example.org"
        raise RegisterError(msg)
    if role not in ROLES or role == "public":
        msg = f"role {role!r} is not one of {', '.join(r for r in ROLES if r != 'public')}"
        raise RegisterError(msg)
    if role == "coordinator" and not organisation_id:
        msg = f"{email} cannot be a coordinator without an organisation; choose the organisation they coordinate for"
        raise RegisterError(msg)
    return email, role


def _check_statuses(statuses: Iterable[str]) -> tuple[str, ...]:
    statuses = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    unknown = [status for status in statuses if status not in STATUSES]
    if unknown:
        msg = f"status {unknown[0]!r} is not one of {', '.join(STATUSES)}"
        raise RegisterError(msg)
    return statuses


# --------------------------------------------------------------------------------------
# Conversions between Asset and rows
# --------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _plain(value: Any) -> Any:
    """A JSON-ready form of a field value (for the audit trail)."""
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Session):
        return session_to_dict(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# A frozen dataclass without slots keeps exactly its fields in __dict__, which copies at C
# speed; checked once in case Asset ever gains slots or cached properties.
_FIELDS_IN_DICT = (
    tuple(getattr(Asset(name="", kind="", categories=(), id=""), "__dict__", ())) == ASSET_FIELDS
)


@functools.lru_cache(maxsize=8192)
def _list_json(values: tuple) -> str:
    return json.dumps(list(values))


@functools.lru_cache(maxsize=8192)
def _sessions_json(sessions: tuple[Session, ...]) -> str:
    return json.dumps([session_to_dict(session) for session in sessions])


def _asset_row(asset: Asset) -> dict[str, Any]:
    """The stored form of a record (JSON text for tuples and sessions; most records share a few)."""
    if _FIELDS_IN_DICT:
        row = dict(vars(asset))
    else:
        row = {name: getattr(asset, name) for name in ASSET_FIELDS}
    for name in _TUPLE_FIELDS:
        row[name] = _list_json(tuple(row[name]))
    row["sessions"] = _sessions_json(tuple(asset.sessions))
    for name in _FLOAT_FIELDS:
        row[name] = _float(row[name])
    for name in _BOOL_FIELDS:
        row[name] = bool(row[name])
    for name in _STRING_FIELDS:
        value = row[name]
        if not isinstance(value, str):  # e.g. a number from a spreadsheet column
            row[name] = "" if value is None else str(value)
    row["match_key"] = _match_key(asset.name, asset.postcode)
    return row


def _match_key(name: str, postcode: str) -> str:
    # Imported on use: assets.dedupe loads scipy, which a process that only reads never needs.
    from assets.dedupe import match_key

    return match_key(name, postcode)


class RawJSON(str):
    """Text that is already JSON: the engines' serializer stores it as it is."""


def _json_serializer(value: Any) -> str:
    return value if isinstance(value, RawJSON) else json.dumps(value)


_quote = json.encoder.encode_basestring_ascii  # the C encoder json.dumps uses for strings
_PREFIX = {name: f'{{"field":"{name}","old":null,"new":' for name in ASSET_FIELDS}
_JSON_TEXT_FIELDS = frozenset((*_TUPLE_FIELDS, "sessions"))


def _encode_float(value: float | None) -> str:
    return "null" if value is None else repr(value)


def _encode_bool(value: bool) -> str:
    return "true" if value else "false"


def _encode_date(value: date | None) -> str:
    return "null" if value is None else f'"{value.isoformat()}"'


def _encoder(name: str) -> Any:
    """How one stored field of a row is written as JSON (chosen once per field, not per value)."""
    if name in _JSON_TEXT_FIELDS:
        return str  # already JSON text in the row
    if name in _FLOAT_FIELDS:
        return _encode_float
    if name in _BOOL_FIELDS:
        return _encode_bool
    if name in (*_DATETIME_FIELDS, "last_verified"):
        return _encode_date
    if name == "version":
        return str
    return _quote


_ENCODERS = tuple((name, _PREFIX[name], _encoder(name)) for name in ASSET_FIELDS)


def _created_changes(row: Mapping[str, Any]) -> RawJSON:
    """The audit changes of a new record: every field, old null, new its value.

    Written straight to JSON text from the stored row: an import audits every field of
    every record, and building dicts first costs several times as much.
    """
    return RawJSON(
        "[" + ",".join([prefix + encode(row[name]) + "}" for name, prefix, encode in _ENCODERS]) + "]"
    )


def _asset_from_row(row: Mapping[str, Any]) -> Asset:
    data = {name: row[name] for name in ASSET_FIELDS}
    for name in _TUPLE_FIELDS:
        data[name] = tuple(json.loads(data[name] or "[]"))
    data["sessions"] = tuple(session_from_dict(item) for item in json.loads(data["sessions"] or "[]"))
    for name in _BOOL_FIELDS:
        data[name] = bool(data[name])
    return Asset(**data)


def _coerce(name: str, value: Any) -> Any:
    """A changed field's value in the type the record holds, or a clear refusal."""
    if name not in ASSET_FIELDS:
        msg = f"{name!r} is not a field of an asset record; use one of {', '.join(ASSET_FIELDS)}"
        raise RegisterError(msg)
    if name in SYSTEM_FIELDS:
        msg = f"field {name!r} is set by the register itself and cannot be changed by an edit"
        raise RegisterError(msg)
    if name in _TUPLE_FIELDS:
        if isinstance(value, str):
            msg = f"field {name!r} needs a list of values, not the text {value!r}"
            raise RegisterError(msg)
        return tuple(value or ())
    if name == "sessions":
        return tuple(session_from_dict(item) if isinstance(item, Mapping) else item for item in value or ())
    if name in _FLOAT_FIELDS:
        return _float(value)
    if name in _BOOL_FIELDS:
        return bool(value)
    if name == "last_verified":
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value.date()
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if name == "status" and value not in ("draft", "published"):
        msg = f"status {value!r} cannot be set by an edit: use draft or published (archive a record to retire it)"
        raise RegisterError(msg)
    return "" if value is None else str(value)


def _diff(old: Asset, new: Asset, names: Iterable[str]) -> list[dict[str, Any]]:
    changes = []
    for name in names:
        before, after = _plain(getattr(old, name)), _plain(getattr(new, name))
        if before != after:
            changes.append({"field": name, "old": before, "new": after})
    return changes


def _stale_message(current: Asset, expected: int) -> str:
    when = current.updated_at.strftime("%Y-%m-%d %H:%M") if current.updated_at else "an unknown time"
    return (
        f"{current.name!r} was changed by {current.updated_by or 'someone else'} at {when} UTC after you "
        f"opened it (you started from version {expected}, it is now version {current.version}); "
        "reload it and make your change again"
    )


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------------------
# Engines and migrations
# --------------------------------------------------------------------------------------


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Turn off pysqlite's own transaction handling: _sqlite_begin emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # busy_timeout first, so the journal-mode switch of a brand-new file waits too.
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    # Erased personal data is overwritten on disk, not left in free pages.
    cursor.execute("PRAGMA secure_delete = ON")
    cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    # A deferred transaction that reads and then writes fails at once under contention;
    # IMMEDIATE takes the write lock up front and waits for it (busy timeout).
    write = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _safe_url(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


def _make_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            msg = (
                f"DATABASE_URL {url!r} names an in-memory SQLite database, which each connection "
                "sees separately; give a file instead, e.g. sqlite:///data/cam.db"
            )
            raise RegisterError(msg)
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # File databases get a QueuePool: each connection is used by one thread at a time.
        engine = sa.create_engine(
            parsed, connect_args={"timeout": BUSY_TIMEOUT_S}, json_serializer=_json_serializer
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            # SQLAlchemy 2.1 defaults to psycopg 3; the installed driver is psycopg2.
            parsed = parsed.set(drivername="postgresql+psycopg2")
        return sa.create_engine(parsed, pool_pre_ping=True, json_serializer=_json_serializer)
    msg = f"DATABASE_URL {_safe_url(parsed)!r} is not supported: use sqlite:///path/to/file.db or postgresql://..."
    raise RegisterError(msg)


def _alembic_config() -> Config:
    from alembic.config import Config  # Alembic only when a database is opened

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _migrate(engine: sa.Engine) -> None:
    """Create or upgrade the schema to the newest migration, one process at a time."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = _alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        try:
            with connection.begin():
                # SQLite: BEGIN IMMEDIATE already holds the write lock. PostgreSQL: an advisory
                # lock held to the end of this transaction. Either way the second process to
                # arrive waits, then finds the schema at head and Alembic does nothing.
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                    )
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except sa.exc.DBAPIError as exc:
            if "postgis" in str(exc.orig).lower():
                msg = (
                    f"PostgreSQL at {_safe_url(engine.url)!r} cannot create the PostGIS extension "
                    f"({str(exc.orig).strip()}); install PostGIS on the server "
                    "(apt-get install postgresql-15-postgis-3) or connect as a user allowed to create it"
                )
                raise RegisterError(msg) from exc
            raise


# --------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------

_FRAME_COLUMNS = (
    "asset_id",
    "name",
    "kind",
    "categories",
    "description",
    "organisation",
    "organisation_id",
    "run_by",
    "address",
    "town",
    "postcode",
    "lat",
    "lon",
    "easting",
    "northing",
    "location_precision",
    "private_address",
    "ward_code",
    "ward_name",
    "constituency_code",
    "constituency_name",
    "district_code",
    "district_name",
    "sessions",
    "sessions_text",
    "by_arrangement",
    "schedule_notes",
    "cost",
    "cost_text",
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
    "stale",
    "external_id",
    "match_key",
    "version",
    "updated_at",
)


class Store:
    """The register's database. Get one with :func:`open_store`; it is safe to share between threads."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _make_engine(url)
        self.dialect = self.engine.dialect.name
        _migrate(self.engine)
        self._org_names: dict[str, str] = {}  # organisation id -> name (names never change yet)
        self._default_orgs: dict[str, Organisation] = {}  # settings.default_org -> its record
        self.default_organisation(SYSTEM_ACTOR)

    def close(self) -> None:
        """Close the pooled connections and forget this store (a later open_store makes a new one)."""
        with _STORES_LOCK:
            if _STORES.get(self.url) is self:
                del _STORES[self.url]
        self.engine.dispose()

    # -- transactions ------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as connection:
            connection.execution_options(**{_WRITE: True})
            with connection.begin():
                yield connection

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as connection, connection.begin():
            yield connection

    def _insert_ignoring_conflicts(self, table: sa.Table) -> sa.Insert:
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return dialect_insert(table).on_conflict_do_nothing()

    @staticmethod
    def _bump(connection: sa.Connection) -> int:
        # Last statement of every write: on PostgreSQL its row lock is held only until commit.
        connection.execute(
            META.update()
            .where(META.c.key == "data_version")
            .values(value=sa.cast(sa.cast(META.c.value, sa.Integer) + 1, sa.Text))
        )
        return int(
            connection.execute(sa.select(META.c.value).where(META.c.key == "data_version")).scalar_one()
        )

    @staticmethod
    def _audit(
        connection: sa.Connection,
        actor: Actor,
        action: str,
        entity: str,
        rows: Sequence[tuple[str, list[dict[str, Any]]]],
        *,
        at: datetime,
        note: str = "",
    ) -> None:
        if not rows:
            return
        records = [
            {
                "at": at,
                "actor_id": actor.id,
                "actor_email": actor.email,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "changes": changes,
                "note": note,
            }
            for entity_id, changes in rows
        ]
        for chunk in _chunks(records, 10_000):
            connection.execute(AUDIT.insert(), list(chunk))

    def data_version(self) -> int:
        """A number bumped by every write (caches key on it)."""
        with self._read() as connection:
            return int(
                connection.execute(sa.select(META.c.value).where(META.c.key == "data_version")).scalar_one()
            )

    # -- organisations and users ------------------------------------------------------

    def default_organisation(self, actor: Actor) -> Organisation:
        """The organisation named by ``settings.default_org``, created on first use."""
        _authorise(actor, "read")
        name = get_settings().default_org
        if name in self._default_orgs:
            return self._default_orgs[name]
        found = self._organisation_named(name)
        if found is not None:
            self._default_orgs[name] = found
            return found
        now = _now()
        new_id = str(uuid.uuid4())
        with self._write() as connection:
            inserted = connection.execute(
                self._insert_ignoring_conflicts(ORGANISATIONS).values(
                    id=new_id,
                    name=name,
                    description="Records not assigned to another organisation",
                    created_at=now,
                )
            ).rowcount
            if inserted:  # another process may have created it first
                self._audit(
                    connection,
                    actor,
                    "create",
                    "organisation",
                    [(new_id, [{"field": "name", "old": None, "new": name}])],
                    at=now,
                    note="default organisation, created on first use",
                )
                self._bump(connection)
        found = self._organisation_named(name)
        assert found is not None  # inserted above or by a concurrent process
        self._default_orgs[name] = found
        return found

    def _organisation_named(self, name: str) -> Organisation | None:
        with self._read() as connection:
            row = (
                connection.execute(sa.select(ORGANISATIONS).where(ORGANISATIONS.c.name == name))
                .mappings()
                .first()
            )
        return Organisation(**row) if row else None

    def _organisation_name(self, connection: sa.Connection, organisation_id: str) -> str:
        if organisation_id not in self._org_names:
            name = connection.execute(
                sa.select(ORGANISATIONS.c.name).where(ORGANISATIONS.c.id == organisation_id)
            ).scalar_one_or_none()
            if name is None:
                msg = f"organisation {organisation_id!r} does not exist; choose one from the list of organisations"
                raise NotFound(msg)
            self._org_names[organisation_id] = name
        return self._org_names[organisation_id]

    def add_organisation(
        self, actor: Actor, name: str, description: str = "", identifier: str = ""
    ) -> Organisation:
        """Add an organisation (administrators only); names are unique."""
        _authorise(actor, "manage")
        name = (name or "").strip()
        if not name:
            raise RegisterError("an organisation needs a name")
        organisation = Organisation(
            id=str(uuid.uuid4()), name=name, description=description, identifier=identifier, created_at=_now()
        )
        with self._write() as connection:
            exists = connection.execute(
                sa.select(ORGANISATIONS.c.id).where(ORGANISATIONS.c.name == name)
            ).first()
            if exists:
                msg = f"an organisation named {name!r} already exists; choose it rather than adding it again"
                raise RegisterError(msg)
            connection.execute(ORGANISATIONS.insert().values(**vars(organisation)))
            changes = [
                {"field": key, "old": None, "new": value}
                for key, value in (("name", name), ("description", description), ("identifier", identifier))
            ]
            self._audit(
                connection,
                actor,
                "create",
                "organisation",
                [(organisation.id, changes)],
                at=organisation.created_at,
            )
            self._bump(connection)
        return organisation

    def list_organisations(self, actor: Actor) -> list[Organisation]:
        """All organisations, by name."""
        _authorise(actor, "read")
        with self._read() as connection:
            rows = (
                connection.execute(sa.select(ORGANISATIONS).order_by(ORGANISATIONS.c.name)).mappings().all()
            )
        return [Organisation(**row) for row in rows]

    def add_user(
        self,
        actor: Actor,
        email: str,
        name: str,
        role: str,
        organisation_id: str | None = None,
        *,
        password_hash: str | None = None,
    ) -> User:
        """Add a user (administrators only). Emails are stored in lower case and are unique.

        A coordinator must belong to an organisation. ``password_hash`` (from
        :func:`assets.auth.hash_password`) lets the user sign in with a password; without
        one they can sign in only through single sign-on, until a password is set.
        """
        _authorise(actor, "manage")
        email, role = _check_user(email, role, organisation_id)
        now = _now()
        with self._write() as connection:
            return self._insert_user(
                connection, actor, email, name, role, organisation_id or "", now, password_hash=password_hash
            )

    def _insert_user(
        self,
        connection: sa.Connection,
        actor: Actor,
        email: str,
        name: str,
        role: str,
        organisation_id: str,
        now: datetime,
        note: str = "",
        password_hash: str | None = None,
    ) -> User:
        if connection.execute(sa.select(USERS.c.id).where(USERS.c.email == email)).first():
            msg = f"a user with email {email!r} already exists"
            raise RegisterError(msg)
        if organisation_id:
            self._organisation_name(connection, organisation_id)  # NotFound names it
        user = User(
            id=str(uuid.uuid4()),
            email=email,
            name=name,
            role=role,
            organisation_id=organisation_id,
            created_at=now,
            password_hash=password_hash,
        )
        values = {f.name: getattr(user, f.name) for f in fields(User)}
        values["organisation_id"] = organisation_id or None
        connection.execute(USERS.insert().values(**values))
        changes = [
            {"field": key, "old": None, "new": value}
            for key, value in (
                ("email", email),
                ("name", name),
                ("role", role),
                ("organisation_id", organisation_id),
                ("password", "set" if password_hash else None),  # never the hash itself
            )
        ]
        self._audit(connection, actor, "create", "user", [(user.id, changes)], at=now, note=note)
        self._bump(connection)
        return user

    @staticmethod
    def _user_from_row(row: Mapping[str, Any]) -> User:
        return User(**{**row, "organisation_id": row["organisation_id"] or ""})

    def list_users(self, actor: Actor) -> list[User]:
        """Users by email: all for administrators, a coordinator's own organisation's for coordinators."""
        _authorise(actor, "read_users")
        query = sa.select(USERS).order_by(USERS.c.email)
        if actor.role != "administrator":
            query = query.where(USERS.c.organisation_id == actor.organisation_id)
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [self._user_from_row(row) for row in rows]

    def get_user(self, actor: Actor, email: str) -> User:
        """One user by email (yourself, or anyone for an administrator)."""
        email = (email or "").strip().lower()
        if email != actor.email.lower():
            _authorise(actor, "read_users")
        with self._read() as connection:
            row = connection.execute(sa.select(USERS).where(USERS.c.email == email)).mappings().first()
        user = self._user_from_row(row) if row else None
        visible = user is not None and (
            actor.role == "administrator"
            or email == actor.email.lower()
            or user.organisation_id == actor.organisation_id
        )
        if not visible:
            msg = f"no user with email {email!r}; check the spelling or add the user"
            raise NotFound(msg)
        return user

    def get_user_by_id(self, actor: Actor, user_id: str) -> User:
        """One user by id (yourself, or anyone for an administrator): how a session finds its user."""
        with self._read() as connection:
            row = connection.execute(sa.select(USERS).where(USERS.c.id == str(user_id))).mappings().first()
        user = self._user_from_row(row) if row else None
        if user is None or (user.id != actor.id and not permissions.allows(actor, "manage")):
            msg = f"no user with id {user_id!r}; they may have been removed"
            raise NotFound(msg)
        return user

    def update_user(
        self,
        actor: Actor,
        email: str,
        *,
        name: str | None = None,
        role: str | None = None,
        organisation_id: str | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Change a user's name, role, organisation or disabled flag (administrators only), audited.

        ``organisation_id=""`` takes the user out of their organisation. The last enabled
        administrator cannot be disabled or given another role: nobody could manage users then.
        """
        _authorise(actor, "manage")
        email = (email or "").strip().lower()
        now = _now()
        with self._write() as connection:
            row = connection.execute(sa.select(USERS).where(USERS.c.email == email)).mappings().first()
            if row is None:
                msg = f"no user with email {email!r}; check the spelling or add the user"
                raise NotFound(msg)
            old = self._user_from_row(row)
            new = replace(
                old,
                name=old.name if name is None else name,
                role=old.role if role is None else role,
                organisation_id=old.organisation_id if organisation_id is None else organisation_id,
                disabled=old.disabled if disabled is None else bool(disabled),
            )
            _check_user(new.email, new.role, new.organisation_id)
            if new.organisation_id and new.organisation_id != old.organisation_id:
                self._organisation_name(connection, new.organisation_id)  # NotFound names it
            was_admin = old.role == "administrator" and not old.disabled
            if was_admin and (new.role != "administrator" or new.disabled):
                others = connection.execute(
                    sa.select(sa.func.count())
                    .select_from(USERS)
                    .where(USERS.c.role == "administrator", USERS.c.disabled.is_(False), USERS.c.id != old.id)
                ).scalar_one()
                if not others:
                    msg = f"{email} is the last enabled administrator; make another user an administrator first"
                    raise RegisterError(msg)
            changes = [
                {"field": key, "old": getattr(old, key), "new": getattr(new, key)}
                for key in ("name", "role", "organisation_id", "disabled")
                if getattr(old, key) != getattr(new, key)
            ]
            if not changes:
                return old
            values = {change["field"]: change["new"] for change in changes}
            if "organisation_id" in values:
                values["organisation_id"] = values["organisation_id"] or None
            connection.execute(USERS.update().where(USERS.c.id == old.id).values(**values))
            self._audit(connection, actor, "update", "user", [(old.id, changes)], at=now)
            self._bump(connection)
        return new

    def set_password_hash(self, actor: Actor, email: str, password_hash: str, *, note: str = "") -> None:
        """Set a user's password hash (the user themselves, or an administrator), audited without it.

        Also clears failed sign-ins and any lock: a new password is a fresh start.
        """
        email = (email or "").strip().lower()
        if email != actor.email.lower():
            _authorise(actor, "manage")
        with self._write() as connection:
            user_id = connection.execute(sa.select(USERS.c.id).where(USERS.c.email == email)).scalar_one_or_none()
            if user_id is None:
                msg = f"no user with email {email!r}; check the spelling or add the user"
                raise NotFound(msg)
            connection.execute(
                USERS.update()
                .where(USERS.c.id == user_id)
                .values(password_hash=password_hash, failed_logins=0, locked_until=None)
            )
            changes = [{"field": "password", "old": None, "new": "changed"}]
            self._audit(connection, actor, "set_password", "user", [(user_id, changes)], at=_now(), note=note)
            self._bump(connection)

    def record_sign_in(
        self,
        actor: Actor,
        user_id: str,
        *,
        succeeded: bool,
        max_failures: int,
        lockout_minutes: int,
        at: datetime | None = None,
    ) -> User:
        """Count one sign-in attempt (administrators and the command line: :mod:`assets.auth` acts as it).

        A success clears the failure count and stamps ``last_seen``; a failure adds one, and
        the ``max_failures``-th failure in a row locks the account for ``lockout_minutes``
        (the count then starts again). Returns the user as it is now.
        """
        _authorise(actor, "manage")
        now = at or _now()
        with self._write() as connection:
            row = connection.execute(sa.select(USERS).where(USERS.c.id == str(user_id))).mappings().first()
            if row is None:
                msg = f"no user with id {user_id!r}; they may have been removed"
                raise NotFound(msg)
            user = self._user_from_row(row)
            if succeeded:
                values: dict[str, Any] = {"failed_logins": 0, "locked_until": None, "last_seen": now}
                action, changes = "sign_in", [{"field": "last_seen", "old": _plain(user.last_seen), "new": now.isoformat()}]
            else:
                failures = user.failed_logins + 1
                values = {"failed_logins": failures}
                action = "sign_in_failed"
                changes = [{"field": "failed_logins", "old": user.failed_logins, "new": failures}]
                if failures >= max_failures:
                    until = now + timedelta(minutes=lockout_minutes)
                    values = {"failed_logins": 0, "locked_until": until}
                    action = "locked"
                    changes.append({"field": "locked_until", "old": _plain(user.locked_until), "new": until.isoformat()})
            connection.execute(USERS.update().where(USERS.c.id == user.id).values(**values))
            self._audit(connection, actor, action, "user", [(user.id, changes)], at=now, note=user.email)
            # No data_version bump: sign-ins change nothing any cached view shows.
        return replace(user, **values)

    def needs_first_administrator(self) -> bool:
        """Whether no enabled administrator exists yet (the one-time set-up page is open).

        The password-less "local user" of earlier versions (``settings.local_user_email``)
        does not count: nobody can sign in as it.
        """
        with self._read() as connection:
            return self._no_administrator(connection)

    @staticmethod
    def _no_administrator(connection: sa.Connection) -> bool:
        local = get_settings().local_user_email.strip().lower()
        found = connection.execute(
            sa.select(USERS.c.id)
            .where(
                USERS.c.role == "administrator",
                USERS.c.disabled.is_(False),
                sa.or_(USERS.c.password_hash.is_not(None), USERS.c.email != local),
            )
            .limit(1)
        ).first()
        return found is None

    def add_first_administrator(self, email: str, name: str, password_hash: str, *, note: str) -> User:
        """Create the first administrator, in the default organisation; refused once one exists.

        Checked again inside the write transaction, so two people finishing the set-up at once
        cannot both become administrators.
        """
        email, role = _check_user(email, "administrator", None)
        organisation = self.default_organisation(SYSTEM_ACTOR)
        with self._write() as connection:
            if self.dialect == "postgresql":
                # SQLite's BEGIN IMMEDIATE already serialises writers; PostgreSQL needs a lock.
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FIRST_ADMIN_LOCK_KEY})
            if not self._no_administrator(connection):
                msg = "an administrator already exists; sign in, or ask an administrator for an account"
                raise PermissionDenied(msg)
            return self._insert_user(
                connection, SYSTEM_ACTOR, email, name, role, organisation.id, _now(), note=note,
                password_hash=password_hash,
            )

    def public_view(self) -> bool:
        """Whether visitors who have not signed in may see the published register (an admin switch).

        Takes no actor: it is the switch that decides whether the public may look at all.
        """
        with self._read() as connection:
            row = connection.execute(
                sa.select(APP_SETTINGS.c.value).where(APP_SETTINGS.c.key == "public_view")
            ).first()
        return bool(APP_SETTING_DEFAULTS["public_view"] if row is None or row[0] is None else row[0])

    def local_actor(self) -> Actor:
        """The app's configured local user (``settings.local_user_email``), created on first use.

        Not used by the app since sign-in exists (a visitor is the public until signed in);
        kept for scripts and tests that want a named administrator. It has no password.
        """
        email = get_settings().local_user_email.strip().lower()
        with self._read() as connection:
            row = connection.execute(sa.select(USERS).where(USERS.c.email == email)).mappings().first()
        if row is None:
            organisation = self.default_organisation(SYSTEM_ACTOR)
            with self._write() as connection:
                # Re-checked under the write lock: another thread or process may have added it.
                exists = connection.execute(sa.select(USERS.c.id).where(USERS.c.email == email)).first()
                if not exists:
                    self._insert_user(
                        connection,
                        SYSTEM_ACTOR,
                        email,
                        "Local user",
                        "administrator",
                        organisation.id,
                        _now(),
                        note="the app's local user, created on first use",
                    )
            with self._read() as connection:
                row = connection.execute(sa.select(USERS).where(USERS.c.email == email)).mappings().one()
        return self._user_from_row(row).actor()

    # -- assets: reads ----------------------------------------------------------------

    def _visible(self, actor: Actor, statuses: Iterable[str]) -> sa.ColumnElement[bool]:
        statuses = _check_statuses(statuses)
        column = ASSETS.c
        # The SQL form of permissions.may_see: published for everyone, the rest by scope.
        scope = permissions.unpublished_scope(actor)
        if scope == "all":
            return column.status.in_(statuses)
        published = column.status == "published" if "published" in statuses else sa.false()
        others = [status for status in statuses if status != "published"]
        if scope == "organisation" and others:
            own = sa.and_(column.status.in_(others), column.organisation_id == actor.organisation_id)
            return sa.or_(published, own)
        return published

    def get_asset(self, actor: Actor, asset_id: str) -> Asset:
        """One record, as the actor may see it.

        Raises
        ------
        NotFound
            No such record, or not one the actor may see.
        """
        _authorise(actor, "read")
        with self._read() as connection:
            asset = self._load(connection, asset_id)
        _authorise(actor, "read", asset)
        return _reader_view(actor, asset)

    def _load(self, connection: sa.Connection, asset_id: str, *, for_update: bool = False) -> Asset:
        query = sa.select(*[ASSETS.c[name] for name in ASSET_FIELDS]).where(ASSETS.c.id == str(asset_id))
        if for_update and self.dialect == "postgresql":
            query = query.with_for_update()
        row = connection.execute(query).mappings().first()
        if row is None:
            msg = f"no record with id {asset_id!r}; it may have been removed, or the link is wrong"
            raise NotFound(msg)
        return _asset_from_row(row)

    def _load_many(
        self, connection: sa.Connection, ids: Sequence[str], *, for_update: bool
    ) -> dict[str, Asset]:
        found: dict[str, Asset] = {}
        for chunk in _chunks(list(ids), _CHUNK):
            query = sa.select(*[ASSETS.c[name] for name in ASSET_FIELDS]).where(ASSETS.c.id.in_(chunk))
            if for_update and self.dialect == "postgresql":
                query = query.with_for_update()
            for row in connection.execute(query).mappings():
                found[row["id"]] = _asset_from_row(row)
        return found

    def list_assets(
        self, actor: Actor, statuses: Iterable[str] = ("published",), organisation_id: str | None = None
    ) -> list[Asset]:
        """Records with these statuses that the actor may see, by name."""
        _authorise(actor, "read")
        query = sa.select(*[ASSETS.c[name] for name in ASSET_FIELDS]).where(self._visible(actor, statuses))
        if organisation_id:
            query = query.where(ASSETS.c.organisation_id == organisation_id)
        with self._read() as connection:
            rows = connection.execute(query.order_by(ASSETS.c.name, ASSETS.c.id)).mappings().all()
        return [_reader_view(actor, _asset_from_row(row)) for row in rows]

    def assets_frame(
        self, actor: Actor, statuses: Iterable[str] = ("published",), organisation_id: str | None = None
    ) -> pd.DataFrame:
        """The asset frame (see docs/INTERFACES.md): one row per record the actor may see.

        ``stale`` is true when ``last_verified`` is missing or older than
        ``settings.stale_months``; categories, accessibility and for_whom are tuples of slugs,
        sessions a tuple of :class:`~assets.model.Session`.
        """
        _authorise(actor, "read")
        query = sa.select(*[ASSETS.c[name] for name in _FRAME_SOURCE]).where(self._visible(actor, statuses))
        if organisation_id:
            query = query.where(ASSETS.c.organisation_id == organisation_id)
        with self._read() as connection:
            rows = connection.execute(query.order_by(ASSETS.c.name, ASSETS.c.id)).all()
        return _to_asset_frame(rows, actor)

    def history(self, actor: Actor, asset_id: str) -> list[dict[str, Any]]:
        """Every change to one record, oldest first: at, actor, action, field, old, new, note."""
        with self._read() as connection:
            asset = self._load(connection, asset_id)
            _authorise(actor, "history", asset)
            rows = connection.execute(
                sa.select(AUDIT)
                .where(AUDIT.c.entity == "asset", AUDIT.c.entity_id == str(asset_id))
                .order_by(AUDIT.c.id)
            ).mappings()
            history = []
            for row in rows:
                changes = row["changes"] or [{"field": "", "old": None, "new": None}]
                for change in changes:
                    history.append(
                        {
                            "at": row["at"],
                            "actor": row["actor_email"] or row["actor_id"],
                            "action": row["action"],
                            "field": change["field"],
                            "old": change["old"],
                            "new": change["new"],
                            "note": row["note"],
                        }
                    )
        return history

    # -- assets: writes ---------------------------------------------------------------

    def _owner(self, actor: Actor) -> str:
        """Who owns a new record given without an organisation: a coordinator's own, else the default."""
        if actor.role == "coordinator" and actor.organisation_id:
            return actor.organisation_id
        return self.default_organisation(actor).id

    @staticmethod
    def _check_new(asset: Asset, label: str) -> None:
        if asset.status not in ("draft", "published"):
            msg = f"{label}: a new record is saved as draft or published, not {asset.status!r}"
            raise RegisterError(msg)
        if not str(asset.name or "").strip():
            msg = f"{label}: a record needs a name"
            raise RegisterError(msg)

    def _stamp_rows(
        self, connection: sa.Connection, actor: Actor, assets: Sequence[Asset], owner: str, now: datetime
    ) -> list[dict[str, Any]]:
        """Stored rows of new records, stamped version 1, created and updated by ``actor`` now.

        Records without an organisation belong to ``owner``.
        """
        who = _who(actor)
        stamp = {
            "version": 1,
            "created_by": who,
            "created_at": now,
            "updated_by": who,
            "updated_at": now,
            "archived_at": None,
        }
        rows = []
        for asset in assets:
            row = _asset_row(asset)
            row.update(stamp)
            if not row["organisation_id"]:
                row["organisation_id"] = owner
            if not row["organisation_name"]:
                row["organisation_name"] = self._organisation_name(connection, row["organisation_id"])
            rows.append(row)
        return rows

    def create_asset(self, actor: Actor, asset: Asset, *, note: str = "") -> Asset:
        """Add one record (published unless saved as draft), with its audit row.

        A record without an organisation belongs to a coordinator's own organisation, or
        else to the default organisation.
        """
        _authorise(actor, "create")
        owner = self._owner(actor)
        _authorise(actor, "create", asset if asset.organisation_id else replace(asset, organisation_id=owner))
        self._check_new(asset, f"record {asset.name!r}")
        asset = replace(asset, status=self._moderated(actor, asset.status))
        now = _now()
        try:
            with self._write() as connection:
                (row,) = self._stamp_rows(connection, actor, [asset], owner, now)
                connection.execute(ASSETS.insert(), [row])
                self._audit(
                    connection,
                    actor,
                    "create",
                    "asset",
                    [(row["id"], _created_changes(row))],
                    at=now,
                    note=note,
                )
                self._bump(connection)
        except sa.exc.IntegrityError as exc:
            raise self._explain_insert_failure([asset], exc, "record not saved") from exc
        return _asset_from_row(row)

    def _explain_insert_failure(
        self, assets: Sequence[Asset], exc: sa.exc.IntegrityError, lead: str
    ) -> RegisterError:
        ids = [asset.id for asset in assets]
        with self._read() as connection:
            existing = set()
            for chunk in _chunks(ids, _CHUNK):
                existing.update(
                    connection.execute(sa.select(ASSETS.c.id).where(ASSETS.c.id.in_(chunk))).scalars()
                )
        for number, asset in enumerate(assets, start=1):
            if asset.id in existing:
                where = f"new record {number:,} " if len(assets) > 1 else ""
                msg = f"{lead}: {where}{asset.name!r} has id {asset.id!r}, which is already in the register; give it a new id or update the existing record"
                return RegisterError(msg)
        msg = f"{lead}: the database refused it ({str(exc.orig).strip()}); nothing was saved"
        return RegisterError(msg)

    def update_asset(
        self,
        actor: Actor,
        asset_id: str,
        changes: Mapping[str, Any],
        expected_version: int,
        *,
        note: str = "",
    ) -> Asset:
        """Change some fields of one record, refusing if it changed since ``expected_version``.

        Returns the record as saved (unchanged, with no write, when nothing differs).

        Raises
        ------
        StaleVersion
            Someone changed the record after the editor opened it; names who and when.
        """
        _authorise(actor, "update")
        coerced = {name: _coerce(name, value) for name, value in changes.items()}
        moderated = self._moderated(actor, "published") == "draft"
        now = _now()
        with self._write() as connection:
            current = self._load(connection, asset_id, for_update=True)
            _authorise(actor, "update", current)
            if current.version != int(expected_version):
                raise StaleVersion(_stale_message(current, int(expected_version)))
            new, diff = self._changed(connection, actor, current, coerced, now)
            if diff and moderated and new.status == "published":
                # Approval is on: a coordinator's change waits, as a draft, for an administrator.
                new, diff = self._changed(connection, actor, current, {**coerced, "status": "draft"}, now)
            if not diff:
                return current
            self._update_rows(connection, [(new, current.version)])
            self._audit(connection, actor, "update", "asset", [(new.id, diff)], at=now, note=note)
            self._bump(connection)
        return new

    def _changed(
        self,
        connection: sa.Connection,
        actor: Actor,
        current: Asset,
        changes: Mapping[str, Any],
        now: datetime,
    ) -> tuple[Asset, list[dict[str, Any]]]:
        new = replace(current, **changes)
        if new.organisation_id != current.organisation_id:
            new = replace(new, organisation_name=self._organisation_name(connection, new.organisation_id))
            _authorise(actor, "update", new)  # a coordinator may not give a record away
        diff = _diff(current, new, ASSET_FIELDS)
        if not diff:
            return current, []
        who = _who(actor)
        return replace(new, version=current.version + 1, updated_by=who, updated_at=now), diff

    @staticmethod
    def _update_rows(connection: sa.Connection, rows: Sequence[tuple[Asset, int]]) -> None:
        columns = [
            name for name in (*ASSET_FIELDS, "match_key") if name not in ("id", "created_by", "created_at")
        ]
        statement = (
            ASSETS.update()
            .where(ASSETS.c.id == sa.bindparam("b_id"), ASSETS.c.version == sa.bindparam("b_version"))
            .values({name: sa.bindparam(f"u_{name}") for name in columns})
        )
        params = []
        for asset, version in rows:
            row = _asset_row(asset)
            params.append(
                {"b_id": asset.id, "b_version": version, **{f"u_{name}": row[name] for name in columns}}
            )
        for chunk in _chunks(params, 10_000):
            result = connection.execute(statement, list(chunk))
            # Each row was read under the write lock (SQLite) or FOR UPDATE (PostgreSQL), so a
            # version mismatch here would be a bug; psycopg2 reports -1 for batches.
            if len(chunk) == 1 and result.rowcount != 1:
                msg = f"record {chunk[0]['b_id']!r} changed while it was being saved; reload it and try again"
                raise StaleVersion(msg)

    def _set_status(
        self, actor: Actor, action: str, asset_id: str, expected_version: int, note: str
    ) -> Asset:
        _authorise(actor, action)
        now = _now()
        with self._write() as connection:
            current = self._load(connection, asset_id, for_update=True)
            _authorise(actor, action, current)
            if current.version != int(expected_version):
                raise StaleVersion(_stale_message(current, int(expected_version)))
            if action == "archive":
                if current.status == "archived":
                    msg = f"{current.name!r} is already archived"
                    raise RegisterError(msg)
                new = replace(current, status="archived", archived_at=now)
            else:
                if current.status != "archived":
                    msg = f"{current.name!r} is not archived (it is {current.status}), so there is nothing to restore"
                    raise RegisterError(msg)
                new = replace(
                    current, status=self._status_before_archive(connection, current.id), archived_at=None
                )
            diff = _diff(current, new, ("status", "archived_at"))
            new = replace(new, version=current.version + 1, updated_by=_who(actor), updated_at=now)
            self._update_rows(connection, [(new, current.version)])
            self._audit(connection, actor, action, "asset", [(new.id, diff)], at=now, note=note)
            self._bump(connection)
        return new

    @staticmethod
    def _status_before_archive(connection: sa.Connection, asset_id: str) -> str:
        changes = connection.execute(
            sa.select(AUDIT.c.changes)
            .where(AUDIT.c.entity == "asset", AUDIT.c.entity_id == asset_id, AUDIT.c.action == "archive")
            .order_by(AUDIT.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        for change in changes or []:
            if change["field"] == "status" and change["old"] in ("draft", "published"):
                return change["old"]
        return "published"

    def archive_asset(self, actor: Actor, asset_id: str, expected_version: int, *, note: str = "") -> Asset:
        """Retire a record (status archived, archived_at set); nothing is ever deleted."""
        return self._set_status(actor, "archive", asset_id, expected_version, note)

    def restore_asset(self, actor: Actor, asset_id: str, expected_version: int, *, note: str = "") -> Asset:
        """Bring back an archived record with the status it had before (draft or published)."""
        return self._set_status(actor, "restore", asset_id, expected_version, note)

    def apply_import(
        self,
        actor: Actor,
        inserts: Sequence[Asset],
        updates: Sequence[tuple[str, Mapping[str, Any], int]],
        *,
        note: str = "",
    ) -> dict[str, int]:
        """Store an import plan in ONE transaction: all of it, with an audit row per record, or none.

        Parameters
        ----------
        inserts
            New records.
        updates
            ``(asset_id, changes, expected_version)`` for existing records.
        note
            Saved on every audit row (e.g. the file name).

        Returns
        -------
        dict
            inserted, updated, unchanged (updates that changed nothing), data_version.
        """
        _authorise(actor, "import")
        owner = self._owner(actor)
        for number, asset in enumerate(inserts, start=1):
            if asset.organisation_id and actor.role != "administrator":
                _authorise(actor, "import", asset)
            self._check_new(asset, f"new record {number:,}")
        _refuse_repeats([asset.id for asset in inserts], "new record", "has the same id as new record")
        _refuse_repeats(
            [str(asset_id) for asset_id, _, _ in updates], "update", "changes the same record as update"
        )
        planned = []
        for number, (asset_id, changes, expected) in enumerate(updates, start=1):
            try:
                coerced = {name: _coerce(name, value) for name, value in changes.items()}
            except (RegisterError, ValueError) as exc:
                msg = f"update {number:,} (record {asset_id!r}): {exc}"
                raise RegisterError(msg) from exc
            planned.append((str(asset_id), coerced, int(expected)))
        if self._moderated(actor, "published") == "draft":
            # Approval is on: a coordinator's imported records wait as drafts.
            inserts = [replace(asset, status="draft") for asset in inserts]
            planned = [(asset_id, {**coerced, "status": "draft"}, expected) for asset_id, coerced, expected in planned]
        now = _now()
        try:
            with self._write() as connection:
                rows = self._stamp_rows(connection, actor, inserts, owner, now)
                for chunk in _chunks(rows, 10_000):
                    connection.execute(ASSETS.insert(), list(chunk))
                audit_rows = [(row["id"], _created_changes(row)) for row in rows]
                self._audit(connection, actor, "create", "asset", audit_rows, at=now, note=note)
                updated, unchanged = self._import_updates(connection, actor, planned, now, note)
                version = self._bump(connection)
        except sa.exc.IntegrityError as exc:
            raise self._explain_insert_failure(inserts, exc, "import refused and nothing saved") from exc
        return {"inserted": len(rows), "updated": updated, "unchanged": unchanged, "data_version": version}

    def _import_updates(
        self,
        connection: sa.Connection,
        actor: Actor,
        planned: Sequence[tuple[str, dict[str, Any], int]],
        now: datetime,
        note: str,
    ) -> tuple[int, int]:
        current = self._load_many(connection, [asset_id for asset_id, _, _ in planned], for_update=True)
        saves: list[tuple[Asset, int]] = []
        audit_rows = []
        for number, (asset_id, changes, expected) in enumerate(planned, start=1):
            if asset_id not in current:
                msg = f"import refused and nothing saved: update {number:,} names record {asset_id!r}, which is not in the register; check the file again"
                raise NotFound(msg)
            old = current[asset_id]
            _authorise(actor, "update", old)
            if old.version != expected:
                msg = f"import refused and nothing saved: update {number:,}: {_stale_message(old, expected)}"
                raise StaleVersion(msg)
            new, diff = self._changed(connection, actor, old, changes, now)
            if diff:
                saves.append((new, old.version))
                audit_rows.append((asset_id, diff))
        self._update_rows(connection, saves)
        self._audit(connection, actor, "update", "asset", audit_rows, at=now, note=note)
        return len(saves), len(planned) - len(saves)

    # -- boundaries -------------------------------------------------------------------

    def save_boundary_layer(self, actor: Actor, layer: BoundaryLayer) -> None:
        """Replace one boundary layer whole, in one transaction with its audit row."""
        import shapely  # geometry libraries only when boundaries are used

        _authorise(actor, "manage")
        frame = layer.frame
        missing = [column for column in ("code", "name", "geometry") if column not in frame.columns]
        if missing:
            msg = f"boundary layer {layer.layer!r} lacks the column(s) {', '.join(missing)}"
            raise RegisterError(msg)
        if frame.crs is None or frame.crs.to_epsg() != 27700:
            msg = f"boundary layer {layer.layer!r} is in {frame.crs}, not British National Grid (EPSG:27700); reproject it first"
            raise RegisterError(msg)
        codes = frame["code"].astype(str).str.strip()
        repeated = sorted(codes[codes.duplicated()].unique())
        if repeated:
            msg = f"boundary layer {layer.layer!r} has more than one feature for code(s) {', '.join(repeated[:5])}; dissolve them into one each"
            raise RegisterError(msg)
        geometries = frame.geometry.to_numpy()
        empty = shapely.is_missing(geometries) | shapely.is_empty(geometries)
        if empty.any():
            msg = f"boundary layer {layer.layer!r} has no shape for code(s) {', '.join(codes[empty].tolist()[:5])}"
            raise RegisterError(msg)
        wkb = shapely.to_wkb(geometries)
        features = [
            {"layer": layer.layer, "code": code, "name": str(name), "geometry": blob}
            for code, name, blob in zip(
                codes.tolist(), frame["name"].fillna("").tolist(), wkb.tolist(), strict=True
            )
        ]
        new_info = {
            "layer": layer.layer,
            "source": layer.source,
            "vintage": layer.vintage,
            "loaded_at": layer.loaded_at,
            "approximate": bool(layer.approximate),
            "notes": json.dumps(list(getattr(layer, "notes", ()))),
        }
        now = _now()
        with self._write() as connection:
            old = (
                connection.execute(sa.select(BOUNDARY_LAYERS).where(BOUNDARY_LAYERS.c.layer == layer.layer))
                .mappings()
                .first()
            )
            old_count = connection.execute(
                sa.select(sa.func.count())
                .select_from(BOUNDARY_FEATURES)
                .where(BOUNDARY_FEATURES.c.layer == layer.layer)
            ).scalar_one()
            connection.execute(BOUNDARY_FEATURES.delete().where(BOUNDARY_FEATURES.c.layer == layer.layer))
            connection.execute(BOUNDARY_LAYERS.delete().where(BOUNDARY_LAYERS.c.layer == layer.layer))
            connection.execute(BOUNDARY_LAYERS.insert().values(**new_info))
            for chunk in _chunks(features, 2_000):
                connection.execute(BOUNDARY_FEATURES.insert(), list(chunk))
            changes = [
                {"field": key, "old": _plain(old[key]) if old else None, "new": _plain(new_info[key])}
                for key in ("source", "vintage", "loaded_at", "approximate")
            ]
            changes.append({"field": "features", "old": old_count if old else None, "new": len(features)})
            self._audit(connection, actor, "save", "boundary_layer", [(layer.layer, changes)], at=now)
            self._bump(connection)

    def boundary_layer_info(self, actor: Actor) -> list[dict[str, Any]]:
        """Each stored layer's layer, source, vintage, loaded_at, approximate, notes and feature count."""
        _authorise(actor, "read")
        counts = (
            sa.select(BOUNDARY_FEATURES.c.layer, sa.func.count().label("features"))
            .group_by(BOUNDARY_FEATURES.c.layer)
            .subquery()
        )
        query = (
            sa.select(BOUNDARY_LAYERS, sa.func.coalesce(counts.c.features, 0).label("features"))
            .outerjoin(counts, counts.c.layer == BOUNDARY_LAYERS.c.layer)
            .order_by(BOUNDARY_LAYERS.c.layer)
        )
        with self._read() as connection:
            rows = connection.execute(query).mappings().all()
        return [{**row, "notes": tuple(json.loads(row["notes"] or "[]"))} for row in rows]

    def boundary_layers(self, actor: Actor) -> dict[str, BoundaryLayer]:
        """Every stored boundary layer by name, as :class:`geo.boundaries.BoundaryLayer` in EPSG:27700."""
        import geopandas as gpd
        import shapely

        from geo.boundaries import BoundaryLayer

        _authorise(actor, "read")
        with self._read() as connection:
            infos = connection.execute(sa.select(BOUNDARY_LAYERS)).mappings().all()
            features = connection.execute(
                sa.select(BOUNDARY_FEATURES).order_by(BOUNDARY_FEATURES.c.layer, BOUNDARY_FEATURES.c.code)
            ).all()
        frame = pd.DataFrame(features, columns=["layer", "code", "name", "geometry"])
        layers = {}
        for info in infos:
            part = frame[frame["layer"] == info["layer"]]
            # psycopg2 returns memoryview for bytea; shapely wants bytes
            geometry = shapely.from_wkb([bytes(blob) for blob in part["geometry"]])
            gdf = gpd.GeoDataFrame(
                {"code": part["code"].to_numpy(), "name": part["name"].to_numpy()},
                geometry=geometry,
                crs="EPSG:27700",
            )
            layers[info["layer"]] = BoundaryLayer(
                layer=info["layer"],
                frame=gdf,
                source=info["source"],
                vintage=info["vintage"],
                loaded_at=info["loaded_at"],
                approximate=bool(info["approximate"]),
                notes=tuple(json.loads(info["notes"] or "[]")),
            )
        return layers

    # -- admin switches ---------------------------------------------------------------

    def get_app_setting(self, actor: Actor, key: str, default: Any = None) -> Any:
        """An admin switch (e.g. public_view, require_approval), or its default."""
        _authorise(actor, "read")
        with self._read() as connection:
            row = connection.execute(sa.select(APP_SETTINGS.c.value).where(APP_SETTINGS.c.key == key)).first()
        if row is not None:
            return row[0]
        return APP_SETTING_DEFAULTS.get(key, default) if default is None else default

    def set_app_setting(self, actor: Actor, key: str, value: Any) -> None:
        """Set an admin switch (administrators only), with an audit row of old and new value."""
        _authorise(actor, "manage")
        _require_json(value, f"setting {key!r}")
        now = _now()
        with self._write() as connection:
            row = connection.execute(sa.select(APP_SETTINGS.c.value).where(APP_SETTINGS.c.key == key)).first()
            if row is None:
                connection.execute(APP_SETTINGS.insert().values(key=key, value=value))
            else:
                connection.execute(APP_SETTINGS.update().where(APP_SETTINGS.c.key == key).values(value=value))
            old = row[0] if row is not None else APP_SETTING_DEFAULTS.get(key)
            self._audit(
                connection,
                actor,
                "set",
                "app_setting",
                [(key, [{"field": key, "old": old, "new": value}])],
                at=now,
            )
            self._bump(connection)

    # -- coverage snapshots, unmet demand, problem reports ---------------------------

    def save_snapshot(self, actor: Actor, name: str, area_code: str, payload: Mapping[str, Any]) -> str:
        """Save a named coverage snapshot (any JSON-ready payload); returns its id."""
        _authorise(actor, "snapshot")
        _require_json(payload, f"snapshot {name!r}")
        snapshot_id = str(uuid.uuid4())
        now = _now()
        with self._write() as connection:
            connection.execute(
                SNAPSHOTS.insert().values(
                    id=snapshot_id,
                    name=name,
                    created_at=now,
                    created_by=_who(actor),
                    area_code=area_code,
                    payload=dict(payload),
                )
            )
            changes = [
                {"field": "name", "old": None, "new": name},
                {"field": "area_code", "old": None, "new": area_code},
            ]
            self._audit(connection, actor, "create", "coverage_snapshot", [(snapshot_id, changes)], at=now)
            self._bump(connection)
        return snapshot_id

    def list_snapshots(self, actor: Actor, area_code: str | None = None) -> list[dict[str, Any]]:
        """Saved snapshots, newest first: id, name, created_at, created_by, area_code."""
        _authorise(actor, "read_snapshots")
        query = sa.select(
            SNAPSHOTS.c.id,
            SNAPSHOTS.c.name,
            SNAPSHOTS.c.created_at,
            SNAPSHOTS.c.created_by,
            SNAPSHOTS.c.area_code,
        ).order_by(SNAPSHOTS.c.created_at.desc(), SNAPSHOTS.c.id)
        if area_code:
            query = query.where(SNAPSHOTS.c.area_code == area_code)
        with self._read() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def get_snapshot(self, actor: Actor, snapshot_id: str) -> dict[str, Any]:
        """One saved snapshot with its payload."""
        _authorise(actor, "read_snapshots")
        with self._read() as connection:
            row = (
                connection.execute(sa.select(SNAPSHOTS).where(SNAPSHOTS.c.id == snapshot_id))
                .mappings()
                .first()
            )
        if row is None:
            msg = f"no coverage snapshot with id {snapshot_id!r}"
            raise NotFound(msg)
        return dict(row)

    def record_unmet_demand(self, actor: Actor, ward_code: str, category: str, day: str, period: str) -> int:
        """Count one search that found nothing for this ward, category, day and period; returns the count."""
        _authorise(actor, "record_demand")
        key = {
            "ward_code": ward_code or "",
            "category": category or "",
            "day": day or "",
            "period": period or "",
        }
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(UNMET_DEMAND).values(**key, count=1)
        statement = statement.on_conflict_do_update(
            index_elements=list(key), set_={"count": UNMET_DEMAND.c.count + 1}
        )
        now = _now()
        entity_id = "|".join(key.values())
        with self._write() as connection:
            connection.execute(statement)
            count = connection.execute(
                sa.select(UNMET_DEMAND.c.count).where(
                    *(UNMET_DEMAND.c[name] == value for name, value in key.items())
                )
            ).scalar_one()
            self._audit(
                connection,
                actor,
                "record",
                "unmet_demand",
                [(entity_id, [{"field": "count", "old": count - 1, "new": count}])],
                at=now,
            )
            self._bump(connection)
        return int(count)

    def unmet_demand(self, actor: Actor) -> pd.DataFrame:
        """Unmet demand counts: ward_code, category, day, period, count."""
        _authorise(actor, "read_demand")
        with self._read() as connection:
            result = connection.execute(sa.select(UNMET_DEMAND).order_by(*UNMET_DEMAND.primary_key.columns))
            return pd.DataFrame(result.all(), columns=list(result.keys()))

    def report_problem(self, actor: Actor, asset_id: str, reason: str, note: str = "") -> str:
        """Record a problem with a listing (anyone who can see it may report); returns the report id."""
        _authorise(actor, "report_problem")
        report_id = str(uuid.uuid4())
        now = _now()
        with self._write() as connection:
            asset = self._load(connection, asset_id)
            _authorise(actor, "read", asset)
            connection.execute(
                PROBLEM_REPORTS.insert().values(
                    id=report_id,
                    asset_id=asset.id,
                    reported_by=_who(actor),
                    reported_at=now,
                    reason=reason,
                    note=note,
                )
            )
            changes = [
                {"field": "reason", "old": None, "new": reason},
                {"field": "asset_id", "old": None, "new": asset.id},
            ]
            self._audit(
                connection, actor, "create", "problem_report", [(report_id, changes)], at=now, note=note
            )
            self._bump(connection)
        return report_id

    def list_problem_reports(self, actor: Actor, status: str | None = "open") -> list[dict[str, Any]]:
        """Problem reports (all for administrators, a coordinator's own organisation's), newest first."""
        _authorise(actor, "review_reports")
        query = (
            sa.select(PROBLEM_REPORTS, ASSETS.c.name.label("asset_name"), ASSETS.c.organisation_id)
            .join(ASSETS, ASSETS.c.id == PROBLEM_REPORTS.c.asset_id)
            .order_by(PROBLEM_REPORTS.c.reported_at.desc())
        )
        if status:
            query = query.where(PROBLEM_REPORTS.c.status == status)
        if actor.role != "administrator":
            query = query.where(ASSETS.c.organisation_id == actor.organisation_id)
        with self._read() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def close_problem_report(self, actor: Actor, report_id: str, outcome: str) -> None:
        """Close a problem report with what was done about it."""
        _authorise(actor, "review_reports")
        now = _now()
        with self._write() as connection:
            row = (
                connection.execute(sa.select(PROBLEM_REPORTS).where(PROBLEM_REPORTS.c.id == report_id))
                .mappings()
                .first()
            )
            if row is None:
                msg = f"no problem report with id {report_id!r}"
                raise NotFound(msg)
            _authorise(actor, "review_reports", self._load(connection, row["asset_id"]))
            if row["status"] == "closed":
                msg = f"problem report {report_id!r} is already closed"
                raise RegisterError(msg)
            connection.execute(
                PROBLEM_REPORTS.update()
                .where(PROBLEM_REPORTS.c.id == report_id)
                .values(status="closed", outcome=outcome, closed_by=_who(actor), closed_at=now)
            )
            changes = [
                {"field": "status", "old": row["status"], "new": "closed"},
                {"field": "outcome", "old": row["outcome"], "new": outcome},
            ]
            self._audit(connection, actor, "close", "problem_report", [(report_id, changes)], at=now)
            # The outcome is part of the record's own history too.
            self._audit(
                connection,
                actor,
                "problem report closed",
                "asset",
                [(row["asset_id"], [{"field": "problem report", "old": row["reason"], "new": outcome}])],
                at=now,
                note=row["note"] or "",
            )
            self._bump(connection)


    # -- keeping the register true: moderation, freshness, problem outcomes, retention --

    def approval_required(self, actor: Actor) -> bool:
        """Whether coordinators' new and changed records wait for an administrator's approval."""
        return bool(self.get_app_setting(actor, "require_approval"))

    def _moderated(self, actor: Actor, status: str) -> str:
        # With approval on, whatever a coordinator saves is a draft until approved.
        if actor.role == "coordinator" and status == "published" and self.approval_required(actor):
            return "draft"
        return status

    def approval_queue(self, actor: Actor) -> list[Asset]:
        """Drafts waiting for approval, oldest change first (administrators: all; coordinators: their own)."""
        drafts = self.list_assets(actor, statuses=("draft",))
        return sorted(drafts, key=lambda a: (a.updated_at or a.created_at or _now(), a.name))

    def approve_asset(self, actor: Actor, asset_id: str, expected_version: int, *, note: str = "") -> Asset:
        """Publish a draft (administrators only), with its audit row."""
        if actor.role != "administrator":
            msg = f"only an administrator can approve records; {_who(actor)} is a {actor.role}"
            raise PermissionDenied(msg)
        now = _now()
        with self._write() as connection:
            current = self._load(connection, asset_id, for_update=True)
            if current.version != int(expected_version):
                raise StaleVersion(_stale_message(current, int(expected_version)))
            if current.status != "draft":
                msg = f"{current.name!r} is {current.status}, not a draft waiting for approval"
                raise RegisterError(msg)
            new = replace(current, status="published", version=current.version + 1, updated_by=_who(actor), updated_at=now)
            self._update_rows(connection, [(new, current.version)])
            diff = [{"field": "status", "old": "draft", "new": "published"}]
            self._audit(connection, actor, "approve", "asset", [(new.id, diff)], at=now, note=note)
            self._bump(connection)
        return new

    def verify_assets(
        self, actor: Actor, items: Sequence[tuple[str, int]], *, on: date | None = None
    ) -> list[Asset]:
        """Confirm records are still accurate: last verified becomes today, in one transaction.

        Parameters
        ----------
        items
            ``(asset_id, expected_version)`` for each record, as the person saw it.
        """
        day = on or _now().date()
        now = _now()
        saved: list[Asset] = []
        with self._write() as connection:
            current = self._load_many(connection, [asset_id for asset_id, _ in items], for_update=True)
            rows, audit_rows = [], []
            for asset_id, expected in items:
                asset = current.get(asset_id)
                if asset is None:
                    msg = f"no record with id {asset_id!r}"
                    raise NotFound(msg)
                _authorise(actor, "update", asset)
                if asset.version != int(expected):
                    raise StaleVersion(_stale_message(asset, int(expected)))
                new = replace(asset, last_verified=day, version=asset.version + 1, updated_by=_who(actor), updated_at=now)
                rows.append((new, asset.version))
                old = asset.last_verified.isoformat() if asset.last_verified else None
                audit_rows.append((asset.id, [{"field": "last_verified", "old": old, "new": day.isoformat()}]))
                saved.append(new)
            self._update_rows(connection, rows)
            self._audit(connection, actor, "verify", "asset", audit_rows, at=now)
            self._bump(connection)
        return saved

    def stale_assets(self, actor: Actor, *, today: date | None = None) -> list[Asset]:
        """Records not verified within the stale period (settings.stale_months), oldest first."""
        cutoff = months_before(today or _now().date(), get_settings().stale_months)
        records = self.list_assets(actor, statuses=("draft", "published"))
        stale = [a for a in records if a.last_verified is None or a.last_verified < cutoff]
        return sorted(stale, key=lambda a: (a.last_verified or date.min, a.name))

    def erase_expired_contacts(self, actor: Actor, *, today: date | None = None) -> int:
        """Erase organisers' contact details of records archived longer than the retention period.

        The values go from the record and from every audit row that held them (replaced by
        "erased on DATE"); the erasure itself is audited without the values. Returns how many
        records were erased.
        """
        if actor.role != "administrator":
            msg = f"only an administrator (or the command line) can run the retention job; {_who(actor)} is a {actor.role}"
            raise PermissionDenied(msg)
        day = today or _now().date()
        cutoff = datetime.combine(day - timedelta(days=get_settings().retention_days), datetime.min.time(), UTC)
        marker = f"erased on {day.isoformat()}"
        now = _now()
        with self._write() as connection:
            has_contacts = sa.or_(*[ASSETS.c[name] != "" for name in INTERNAL_FIELDS])
            ids = [
                row[0]
                for row in connection.execute(
                    sa.select(ASSETS.c.id).where(
                        ASSETS.c.status == "archived", ASSETS.c.archived_at < cutoff, has_contacts
                    )
                )
            ]
            if not ids:
                return 0
            for chunk in _chunks(ids, 500):
                connection.execute(
                    ASSETS.update().where(ASSETS.c.id.in_(chunk)).values(**dict.fromkeys(INTERNAL_FIELDS, ""))
                )
                audit = connection.execute(
                    sa.select(AUDIT.c.id, AUDIT.c.changes).where(AUDIT.c.entity == "asset", AUDIT.c.entity_id.in_(chunk))
                ).all()
                for audit_id, changes in audit:
                    if not changes:
                        continue
                    touched = False
                    cleaned = []
                    for change in changes:
                        change = dict(change)
                        if change.get("field") in INTERNAL_FIELDS:
                            for side in ("old", "new"):
                                if change.get(side) not in (None, "", marker):
                                    change[side] = marker
                                    touched = True
                        cleaned.append(change)
                    if touched:
                        connection.execute(AUDIT.update().where(AUDIT.c.id == audit_id).values(changes=cleaned))
            erased = [(asset_id, [{"field": name, "old": None, "new": marker} for name in INTERNAL_FIELDS]) for asset_id in ids]
            self._audit(connection, actor, "erase_personal_data", "asset", erased, at=now,
                        note=f"retention: archived over {get_settings().retention_days} days")
            self._bump(connection)
        return len(ids)


def _admitting(method: Any) -> Any:
    """Wrap a public Store method whose first argument is the actor: refuse the public while
    the public view is off (:func:`assets.permissions.admit`), before the method runs."""

    @functools.wraps(method)
    def admitted(self: Store, actor: Actor, *args: Any, **kwargs: Any) -> Any:
        if getattr(actor, "role", None) == "public":
            permissions.admit(actor, self.public_view())
        return method(self, actor, *args, **kwargs)

    return admitted


# Every public method that takes the actor, including ones added later, so that no new
# method can forget the switch.
for _name, _method in list(vars(Store).items()):
    if not _name.startswith("_") and inspect.isfunction(_method):
        if list(inspect.signature(_method).parameters)[1:2] == ["actor"]:
            setattr(Store, _name, _admitting(_method))


def _refuse_repeats(ids: Sequence[str], label: str, what: str) -> None:
    counts = Counter(ids)
    for number, asset_id in enumerate(ids, start=1):
        if counts[asset_id] > 1:
            first = ids.index(asset_id) + 1
            msg = f"import refused and nothing saved: {label} {number:,} {what} {first:,} ({asset_id!r}); remove one of them"
            if first != number:
                raise RegisterError(msg)


def _require_json(value: Any, label: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"{label} cannot be stored: {exc}; use only text, numbers, true/false, lists and mappings"
        raise RegisterError(msg) from exc


# --------------------------------------------------------------------------------------
# The asset frame
# --------------------------------------------------------------------------------------


def _decode_unique(values: list[Any], decode: Any) -> list[Any]:
    """Decode a column of JSON text once per distinct value (most records share a few)."""
    cache = {value: decode(value) for value in set(values)}
    return [cache[value] for value in values]


def _text_cached(keys: Iterable[tuple], build: Any) -> list[str]:
    cache: dict[tuple, str] = {}
    out = []
    for key in keys:
        if key not in cache:
            cache[key] = build(*key)
        out.append(cache[key])
    return out


def _sessions_text(sessions: tuple[Session, ...], by_arrangement: bool, notes: str) -> str:
    # The Asset property is the one definition of this text; a bare Asset borrows it.
    return Asset(
        name="",
        kind="",
        categories=(),
        id="",
        sessions=sessions,
        by_arrangement=by_arrangement,
        schedule_notes=notes,
    ).sessions_text


def _cost_text(cost: str, note: str) -> str:
    return Asset(name="", kind="", categories=(), id="", cost=cost, cost_note=note).cost_text


# Stored columns the asset frame is built from (the frame renames id and organisation_name).
_FRAME_SOURCE = tuple(
    name
    for name in (*ASSET_FIELDS, "match_key")
    if name in {"id", "organisation_name", *_FRAME_COLUMNS} or name in ("schedule_notes", "cost_note")
)


_OBJECT_COLUMNS = frozenset((*_TUPLE_FIELDS, "sessions", "last_verified"))


def _to_asset_frame(rows: Sequence[Sequence[Any]], actor: Actor) -> pd.DataFrame:
    """The asset frame from stored rows (columns in ``_FRAME_SOURCE`` order).

    Works on plain lists column by column: decoding each distinct JSON text once and
    building the DataFrame last is several times faster than going through pandas columns.
    """
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in _FRAME_SOURCE]
    data: dict[str, list[Any]] = {
        name: list(values) for name, values in zip(_FRAME_SOURCE, columns, strict=True)
    }
    for name in _TUPLE_FIELDS:
        data[name] = _decode_unique(data[name], lambda text: tuple(json.loads(text or "[]")))
    data["sessions"] = _decode_unique(
        data["sessions"], lambda text: tuple(session_from_dict(item) for item in json.loads(text or "[]"))
    )
    for name in _BOOL_FIELDS:
        data[name] = [bool(value) for value in data[name]]
    data["sessions_text"] = _text_cached(
        zip(data["sessions"], data["by_arrangement"], data["schedule_notes"], strict=True), _sessions_text
    )
    data["cost_text"] = _text_cached(zip(data["cost"], data["cost_note"], strict=True), _cost_text)
    cutoff = months_before(datetime.now(UTC).date(), get_settings().stale_months)
    data["stale"] = [value is None or value < cutoff for value in data["last_verified"]]
    shown = permissions.internal_visible_mask(actor, data["organisation_id"])
    if not shown.all():
        for name in INTERNAL_FIELDS:
            data[name] = [value if keep else "" for value, keep in zip(data[name], shown, strict=True)]
    data["asset_id"] = data.pop("id")
    data["organisation"] = data.pop("organisation_name")
    count = len(rows)
    typed: dict[str, Any] = {}
    for name in _FRAME_COLUMNS:
        values = data[name]
        if name in _FLOAT_FIELDS:
            typed[name] = np.array(values, dtype=float)  # None -> NaN
        elif name in (*_BOOL_FIELDS, "stale"):
            typed[name] = np.array(values, dtype=bool)
        elif name == "version":
            typed[name] = np.array(values, dtype=np.int64)
        elif name in _OBJECT_COLUMNS:
            # Tuples and dates stay Python objects; fromiter keeps each tuple whole.
            typed[name] = np.fromiter(values, dtype=object, count=count)
        else:
            typed[name] = values
    frame = pd.DataFrame(typed)
    return frame


# --------------------------------------------------------------------------------------
# One store per database per process
# --------------------------------------------------------------------------------------

_STORES: dict[str, Store] = {}
_STORES_LOCK = threading.Lock()


def open_store(url: str | None = None) -> Store:
    """The process-wide store for ``url`` (default ``settings.database_url``).

    The first call for a database creates or upgrades its schema (Alembic, under a lock so
    that several processes starting at once migrate it exactly once) and creates the default
    organisation.
    """
    url = url or get_settings().database_url
    with _STORES_LOCK:
        store = _STORES.get(url)
    if store is not None:
        return store
    # Build outside the registry lock (a migration can wait up to the busy timeout), then
    # keep whichever store for this URL was registered first.
    created = Store(url)
    with _STORES_LOCK:
        store = _STORES.setdefault(url, created)
    if store is not created:
        created.engine.dispose()
    return store


def close_store(url: str | None = None) -> None:
    """Close the process's store for ``url`` if one is open (tests, and commands that finish)."""
    url = url or get_settings().database_url
    with _STORES_LOCK:
        store = _STORES.pop(url, None)
    if store is not None:
        store.engine.dispose()


def _forget_stores_after_fork() -> None:
    # A forked child must not use (or close) its parent's pooled connections.
    for store in _STORES.values():
        store.engine.dispose(close=False)
    _STORES.clear()


os.register_at_fork(after_in_child=_forget_stores_after_fork)
