"""Matching imported rows to existing records: exact matches update, near matches wait.

A row matches an existing record exactly on its id (our asset id or the file's own
reference), else on normalised name + postcode. Rows whose names are at least 90%
similar (rapidfuzz ``token_sort_ratio`` on normalised names) to an existing record or
an earlier row of the same file, within 100 m, are possible duplicates: held back for a
person to decide, never merged or imported silently.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz
from scipy.spatial import cKDTree

SIMILARITY_THRESHOLD = 90.0
DISTANCE_M = 100.0

_NON_WORD = re.compile(r"[^\w\s]")
_SPACE = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """Lower case, accents folded, punctuation dropped, spaces collapsed."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = _NON_WORD.sub(" ", text.lower().replace("&", " and "))
    return _SPACE.sub(" ", text).strip()


def match_key(name: str, postcode: str, easting: float | None = None, northing: float | None = None) -> str:
    """The exact-match key of a record: normalised name and postcode.

    A record placed by coordinates alone is keyed on its position to the nearest 10 m
    instead, so that two libraries of the same name are never taken for one.
    """
    place = str(postcode or "").replace(" ", "").upper()
    if not place and easting is not None and northing is not None:
        place = f"@{round(easting, -1):.0f},{round(northing, -1):.0f}"
    return f"{normalise_name(name)}|{place}"


@dataclass(frozen=True)
class Candidate:
    """A possible duplicate: another record or an earlier row, and how alike they are."""

    other_id: str  # an asset id, or "row N" for an earlier row of the same file
    other_name: str
    similarity: float
    distance_m: float


def find_near_duplicates(
    names: list[str],
    easting: np.ndarray,
    northing: np.ndarray,
    existing: pd.DataFrame,
    *,
    row_labels: list[str],
    exclude: dict[int, str] | None = None,
) -> dict[int, Candidate]:
    """Possible duplicates of each new row among existing records and earlier rows.

    Parameters
    ----------
    names, easting, northing
        The new rows (NaN coordinates are never matched).
    existing
        Existing records: columns id, name, easting, northing.
    row_labels
        How to name each new row when it is the earlier row of a pair ("row 7").
    exclude
        New row index → existing id it already matches exactly (not a duplicate of that one).

    Returns
    -------
    New row index → the most similar candidate.
    """
    exclude = exclude or {}
    new_xy = np.column_stack([easting, northing]).astype(float)
    located = ~np.isnan(new_xy).any(axis=1)
    norm_new = [normalise_name(n) for n in names]
    found: dict[int, Candidate] = {}

    def consider(i: int, other_id: str, other_name: str, other_norm: str, dist: float) -> None:
        score = fuzz.token_sort_ratio(norm_new[i], other_norm)
        if score >= SIMILARITY_THRESHOLD and (i not in found or score > found[i].similarity):
            found[i] = Candidate(other_id, other_name, float(score), float(dist))

    if len(existing):
        ex_xy = existing[["easting", "northing"]].to_numpy(dtype=float)
        ex_ok = ~np.isnan(ex_xy).any(axis=1)
        ex_ids = existing["id"].to_numpy()[ex_ok]
        ex_names = existing["name"].to_numpy()[ex_ok]
        ex_norm = [normalise_name(n) for n in ex_names]
        tree = cKDTree(ex_xy[ex_ok]) if ex_ok.any() else None
        if tree is not None and located.any():
            idx = np.flatnonzero(located)
            hits = tree.query_ball_point(new_xy[idx], r=DISTANCE_M)
            for i, neighbours in zip(idx, hits, strict=True):
                for j in neighbours:
                    if exclude.get(i) == ex_ids[j]:
                        continue
                    dist = float(np.hypot(*(new_xy[i] - ex_xy[ex_ok][j])))
                    consider(i, str(ex_ids[j]), str(ex_names[j]), ex_norm[j], dist)

    if located.sum() > 1:
        idx = np.flatnonzero(located)
        tree = cKDTree(new_xy[idx])
        for a, b in sorted(tree.query_pairs(r=DISTANCE_M)):
            first, later = sorted((idx[a], idx[b]))
            dist = float(np.hypot(*(new_xy[first] - new_xy[later])))
            consider(int(later), row_labels[first], names[first], norm_new[first], dist)
    return found
