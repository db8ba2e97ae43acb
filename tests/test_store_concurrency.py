"""The store under several processes at once, and a process killed mid-import.

Workers are started with ``spawn`` (as a fresh Streamlit or CLI process would be), so each
opens the database itself; on a brand-new database they also race to migrate it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid

import pytest
import sqlalchemy as sa
from store_fixtures import database

from assets import store as store_module
from assets.model import SYSTEM_ACTOR, Asset
from assets.store import open_store

pytestmark = pytest.mark.slow

WORKERS = 8
PER_WORKER = 200
IMPORT_ROWS = 5_000


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    """A brand-new empty database (the workers create its schema)."""
    server = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    with database(request.param, tmp_path, server) as url:
        yield url


def _asset(marker: str, label: str) -> Asset:
    return Asset(
        name=f"Group {label}",
        kind="group",
        categories=("music",),
        postcode="B1 1AY",
        external_id=f"{marker}-{label}",
    )


def insert_worker(url: str, marker: str, worker: int, barrier, results) -> None:
    """Open the store, wait for the others, then add PER_WORKER records one transaction each."""
    store = open_store(url)
    barrier.wait(timeout=120)
    for n in range(PER_WORKER):
        store.create_asset(SYSTEM_ACTOR, _asset(marker, f"{worker}-{n}"))
    results.put((worker, PER_WORKER))


def import_worker(url: str, marker: str, stall_before_commit: bool, ready) -> None:
    """Start a 5,000-row import; optionally stall just before its commit so it can be killed there."""
    store = open_store(url)
    if stall_before_commit:
        bump = store_module.Store._bump

        def stalled_bump(connection):
            ready.set()  # every row and audit row is written, the transaction is still open
            time.sleep(300)
            return bump(connection)

        store_module.Store._bump = staticmethod(stalled_bump)
    inserts = [_asset(marker, str(n)) for n in range(IMPORT_ROWS)]
    if not stall_before_commit:
        ready.set()
    store.apply_import(SYSTEM_ACTOR, inserts, [])


def _scalar(store, sql: str, **params):
    with store.engine.connect() as connection:
        return connection.execute(sa.text(sql), params).scalar_one()


def test_eight_processes_inserting_at_once_store_everything(empty_url):
    marker = uuid.uuid4().hex[:8]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(target=insert_worker, args=(empty_url, marker, worker, barrier, results))
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    assert [process.exitcode for process in processes] == [0] * WORKERS, (
        "a worker failed: see its traceback above"
    )
    done = sorted(results.get(timeout=5) for _ in range(WORKERS))
    assert done == [(worker, PER_WORKER) for worker in range(WORKERS)]

    store = open_store(empty_url)
    total = WORKERS * PER_WORKER
    assert _scalar(store, "SELECT count(*) FROM assets WHERE external_id LIKE :m", m=f"{marker}-%") == total
    audited = _scalar(
        store,
        "SELECT count(*) FROM audit a JOIN assets s ON s.id = a.entity_id "
        "WHERE a.action = 'create' AND a.entity = 'asset' AND s.external_id LIKE :m",
        m=f"{marker}-%",
    )
    assert audited == total
    assert _scalar(store, "SELECT count(*) FROM organisations") == 1  # the racing first uses made one
    assert store.data_version() == total + 1  # each insert bumped it once, plus the default organisation


@pytest.mark.parametrize(
    "stall_before_commit", [True, False], ids=["killed-before-commit", "killed-at-a-moment"]
)
def test_a_process_killed_mid_import_leaves_none_or_all_of_it(empty_url, stall_before_commit):
    store = open_store(empty_url)  # schema ready, so the worker's time goes on the import
    before = (store.data_version(), _scalar(store, "SELECT count(*) FROM audit"))
    marker = uuid.uuid4().hex[:8]
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=import_worker, args=(empty_url, marker, stall_before_commit, ready))
    process.start()
    assert ready.wait(timeout=300), "the import worker never started"
    if not stall_before_commit:
        time.sleep(0.5)  # somewhere in building rows, inserting or auditing
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL

    stored = _scalar(store, "SELECT count(*) FROM assets WHERE external_id LIKE :m", m=f"{marker}-%")
    audit = _scalar(store, "SELECT count(*) FROM audit") - before[1]
    if stall_before_commit:
        assert stored == 0
    assert (stored, audit, store.data_version()) in {
        (0, 0, before[0]),
        (IMPORT_ROWS, IMPORT_ROWS, before[0] + 1),
    }
    if store.dialect == "sqlite":
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    # The database still takes writes (no lock left behind by the killed process).
    store.create_asset(SYSTEM_ACTOR, _asset(marker, "after"))
