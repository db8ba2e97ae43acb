"""Nothing lost: four processes of mixed reads and writes for a bounded time, then an audit.

Every write a process saw acknowledged (the store call returned) must be in the database
exactly once, with an audit row for it; a writer killed with SIGKILL in the middle of a
transaction loses only that unacknowledged transaction. Runs against SQLite and the CI
PostgreSQL. The duration is CAM_SOAK_SECONDS (default 60).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from store_fixtures import database

import assets.store as store_module
from assets.errors import StaleVersion
from assets.model import SYSTEM_ACTOR, Asset
from assets.store import open_store

SECONDS = float(os.environ.get("CAM_SOAK_SECONDS", "60"))
WORKERS = 4


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    """An empty database of each kind."""
    server = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    with database(request.param, tmp_path, server) as url:
        yield url


def _asset(label: str) -> Asset:
    return Asset(name=f"Soak {label}", kind="group", categories=("music",), postcode="B1 1AY", external_id=label)


def soak_worker(url: str, worker: int, seconds: float, log_path: str) -> None:
    """Create, update and read for ``seconds``; log each write only after it returned."""
    rng = random.Random(worker)
    store = open_store(url)
    deadline = time.time() + seconds
    mine: dict[str, int] = {}
    with open(log_path, "a", encoding="utf-8") as log:
        n = 0
        while time.time() < deadline:
            choice = rng.random()
            if choice < 0.45 or not mine:
                saved = store.create_asset(SYSTEM_ACTOR, _asset(f"{worker}-{n}"))
                mine[saved.id] = saved.version
                entry = {"op": "create", "id": saved.id, "label": f"{worker}-{n}"}
                n += 1
            elif choice < 0.8:
                asset_id = rng.choice(list(mine))
                text = f"update {worker}-{n}"
                try:
                    saved = store.update_asset(SYSTEM_ACTOR, asset_id, {"description": text}, mine[asset_id])
                except StaleVersion:  # cannot happen: only this worker edits its records
                    raise
                mine[asset_id] = saved.version
                entry = {"op": "update", "id": asset_id, "description": text, "version": saved.version}
                n += 1
            else:
                store.list_assets(SYSTEM_ACTOR)
                continue
            log.write(json.dumps(entry) + "\n")
            log.flush()
            os.fsync(log.fileno())


def stalled_writer(url: str, ready, log_path: str) -> None:
    """Acknowledge one create, then hang inside a second transaction until killed."""
    store = open_store(url)
    saved = store.create_asset(SYSTEM_ACTOR, _asset("killed-acknowledged"))
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(json.dumps({"op": "create", "id": saved.id, "label": "killed-acknowledged"}) + "\n")
    bump = store_module.Store._bump

    def stall(connection):
        ready.set()
        time.sleep(600)
        return bump(connection)

    store_module.Store._bump = staticmethod(stall)
    store.create_asset(SYSTEM_ACTOR, _asset("killed-unacknowledged"))


@pytest.mark.slow
def test_soak_every_acknowledged_write_is_there_exactly_once(empty_url, tmp_path):
    open_store(empty_url)  # schema first, so the workers measure writes, not migrations
    ctx = mp.get_context("spawn")
    logs = [tmp_path / f"worker{i}.jsonl" for i in range(WORKERS)]
    workers = [ctx.Process(target=soak_worker, args=(empty_url, i, SECONDS, str(logs[i]))) for i in range(WORKERS)]
    killed_log = tmp_path / "killed.jsonl"
    ready = ctx.Event()
    victim = ctx.Process(target=stalled_writer, args=(empty_url, ready, str(killed_log)))
    for process in [*workers, victim]:
        process.start()
    assert ready.wait(120), "the stalled writer never reached its transaction"
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(30)
    for process in workers:
        process.join(SECONDS + 120)
        assert process.exitcode == 0, f"worker exited with {process.exitcode}"

    entries = [json.loads(line) for path in [*logs, killed_log] for line in Path(path).read_text().splitlines()]
    creates = [e for e in entries if e["op"] == "create"]
    updates = [e for e in entries if e["op"] == "update"]
    assert len(creates) > WORKERS and updates, "the soak did too little to mean anything"
    store = open_store(empty_url)
    with store.engine.connect() as connection:
        rows = {r.id: r for r in connection.execute(sa.text("SELECT id, external_id, description, version FROM assets"))}
        audit = connection.execute(
            sa.text("SELECT entity_id, action, count(*) AS n FROM audit WHERE entity = 'asset' GROUP BY entity_id, action")
        ).all()
    by_label = {}
    for row in rows.values():
        by_label.setdefault(row.external_id, []).append(row.id)
    for entry in creates:
        assert by_label.get(entry["label"]) == [entry["id"]], f"acknowledged create {entry['label']} not there once"
    assert "killed-unacknowledged" not in by_label
    last_update = {}
    for entry in updates:
        last_update[entry["id"]] = entry
    for asset_id, entry in last_update.items():
        assert rows[asset_id].description == entry["description"] and rows[asset_id].version == entry["version"]
    counts = {(r.entity_id, r.action): r.n for r in audit}
    for entry in creates:
        assert counts.get((entry["id"], "create")) == 1
    expected_updates: dict[str, int] = {}
    for entry in updates:
        expected_updates[entry["id"]] = expected_updates.get(entry["id"], 0) + 1
    for asset_id, n in expected_updates.items():
        assert counts.get((asset_id, "update")) == n
    assert len(rows) == len(creates)
    if empty_url.startswith("sqlite"):
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
