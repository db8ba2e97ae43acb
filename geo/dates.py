"""Calendar arithmetic shared by every freshness rule (stale records, "verified within N months")."""

from __future__ import annotations

import calendar
from datetime import date


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (clamped to the month's end: 31 Mar → 28 Feb)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def is_stale(last_verified: date | None, *, stale_months: int, today: date) -> bool:
    """Whether a record was last verified more than ``stale_months`` months before ``today`` (or never)."""
    return last_verified is None or last_verified < months_before(today, stale_months)
