"""Databases for the store tests: a SQLite file, or a fresh PostgreSQL database per module.

Imported by tests/test_store*.py (not a conftest: only the store tests need it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from assets.store import close_store


def _admin_engine(server_url: str) -> sa.Engine:
    url = sa.make_url(server_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new empty database on the server named by ``server_url``; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine(server_url)
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        close_store(url)
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


@contextmanager
def database(kind: str, folder: Path, server_url: str | None) -> Iterator[str]:
    """A URL of an empty database of ``kind`` ("sqlite" or "postgresql")."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.db'}"
        try:
            yield url
        finally:
            close_store(url)
        return
    assert server_url is not None
    with fresh_postgres_database(server_url) as url:
        yield url
