"""Shared pytest fixtures.

Tests that need something outside the repository (the real data in
``../shared/data``, a PostgreSQL server, Chromium) skip with a clear reason on a
user's machine, but fail when ``CI=true`` so that CI can never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "data"

# pyproj cannot fetch the OSTN15 grid offline and says so once per transformer;
# the fallback is accurate to ~2 m, which is fine for this use.
warnings.filterwarnings("ignore", message=".*OSTN15.*")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` on a user's machine; fail under CI=true."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data folder ``../shared/data`` (see its SOURCES.md)."""
    path = SHARED / "data"
    require(path.is_dir(), f"real data folder {path} is absent (it sits beside the checkout in CI)")
    return path


@pytest.fixture(scope="session")
def oruk_dir() -> Path:
    """The Open Referral UK schema and examples in ``../shared/oruk``."""
    path = SHARED / "oruk"
    require(path.is_dir(), f"Open Referral UK folder {path} is absent (it sits beside the checkout in CI)")
    return path


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A PostgreSQL+PostGIS server URL from TEST_DATABASE_URL (.ci/run starts one)."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    require(bool(url), "no PostgreSQL server: set TEST_DATABASE_URL (bash .ci/run starts a throwaway one)")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's headless Chromium, for browser tests."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    require(path is not None, "Chromium is not installed (apt-get install chromium; bash .ci/run installs it)")
    return str(path)


@pytest.fixture()
def tmp_env(tmp_path, monkeypatch):
    """A private data folder and SQLite database for one test."""
    monkeypatch.setenv("CAM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'test.db'}")
    monkeypatch.setenv("CAM_TILES", "none")
    return tmp_path
