"""Alembic environment for the register's database.

Migrations run through :func:`assets.store.open_store`, which hands this script a connection
that already holds the migration lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL
``pg_advisory_xact_lock``) inside an open transaction, so every migration of one upgrade
commits or rolls back together. Run by hand (``alembic -c assets/migrations/alembic.ini
upgrade head``), it opens the configured database through the store in the same way.
"""

from __future__ import annotations

from alembic import context


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
elif context.is_offline_mode():
    msg = "offline (--sql) migrations are not supported: run them against a database"
    raise SystemExit(msg)
else:
    # Imported here: the store imports Alembic, and this file is read only when migrating.
    from assets.store import open_store

    url = context.config.get_main_option("sqlalchemy.url") or None
    open_store(url)  # migrates to head under the lock
