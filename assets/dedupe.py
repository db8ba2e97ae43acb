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
from rapidfuzz import fuzz, process
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


def _token_sorted(name: str) -> str:
    # token_sort_ratio(a, b) is ratio() of the names with their words sorted: sort once here.
    return " ".join(sorted(normalise_name(name).split()))


def _best_per_row(
    rows: np.ndarray, others: np.ndarray, distances: np.ndarray, left: list[str], right: list[str]
) -> dict[int, tuple[int, float, float]]:
    """For pairs (row, other) within the distance, the most similar other per row (score >= threshold)."""
    if len(rows) == 0:
        return {}
    # One vectorised C call for all pairs: a city-sized file has millions of pairs within 100 m.
    scores = process.cpdist(
        [left[i] for i in rows], [right[j] for j in others], scorer=fuzz.ratio, score_cutoff=SIMILARITY_THRESHOLD,
        workers=-1,
    )
    keep = np.flatnonzero(scores >= SIMILARITY_THRESHOLD)
    best: dict[int, tuple[int, float, float]] = {}
    for k in keep:
        i, score = int(rows[k]), float(scores[k])
        if i not in best or score > best[i][1]:
            best[i] = (int(others[k]), score, float(distances[k]))
    return best


def find_near_duplicates(
    names: list[str],
    easting: np.ndarray,
    northing: np.ndarray,
    existing: pd.DataFrame,
    *,
    row_labels: list[str],
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

    Returns
    -------
    New row index → the most similar candidate (ties: the existing record, then the nearest).
    """
    new_xy = np.column_stack([easting, northing]).astype(float)
    located = np.flatnonzero(~np.isnan(new_xy).any(axis=1))
    sorted_new = [_token_sorted(n) for n in names]
    found: dict[int, Candidate] = {}
    if len(located) == 0:
        return found

    new_tree = cKDTree(new_xy[located])
    if len(existing):
        ex_xy = existing[["easting", "northing"]].to_numpy(dtype=float)
        ex_ok = np.flatnonzero(~np.isnan(ex_xy).any(axis=1))
        if len(ex_ok):
            pairs = new_tree.sparse_distance_matrix(cKDTree(ex_xy[ex_ok]), DISTANCE_M, output_type="ndarray")
            ex_names = existing["name"].astype(str).to_numpy()
            ex_ids = existing["id"].astype(str).to_numpy()
            sorted_existing = [_token_sorted(ex_names[j]) for j in ex_ok]
            best = _best_per_row(located[pairs["i"]], pairs["j"], pairs["v"], sorted_new, sorted_existing)
            for i, (j, score, dist) in best.items():
                found[i] = Candidate(ex_ids[ex_ok[j]], ex_names[ex_ok[j]], score, dist)

    pairs = new_tree.query_pairs(r=DISTANCE_M, output_type="ndarray")
    if len(pairs):
        a, b = located[pairs[:, 0]], located[pairs[:, 1]]
        earlier, later = np.minimum(a, b), np.maximum(a, b)
        distances = np.hypot(*(new_xy[earlier] - new_xy[later]).T)
        best = _best_per_row(later, earlier, distances, sorted_new, sorted_new)
        for i, (j, score, dist) in best.items():
            if i not in found or score > found[i].similarity:
                found[i] = Candidate(row_labels[j], names[j], score, dist)
    return found
