"""Point-in-polygon area assignment: which ward, constituency and district a point is in.

All coordinates are British National Grid metres (EPSG:27700). :class:`PolygonIndex` answers
"which polygon holds each of these points" for millions of points at once; on a shared edge
or vertex the polygon with the lowest code wins, so the answer never depends on file order.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from geo.boundaries import LAYERS, BoundaryLayer
from geo.errors import BoundaryError

#: Output columns of :func:`assign_areas`.
AREA_COLUMNS = (
    "ward_code",
    "ward_name",
    "constituency_code",
    "constituency_name",
    "district_code",
    "district_name",
    "boundary_vintage",
    "area_message",
)

# Cell states in the lookup grid (non-negative values are polygon ranks).
_NONE = -1
_MIXED = -2
# Grid cells are tested enlarged by this margin (metres) so that a point put into a cell by
# floating-point rounding of its cell index is still inside the tested box.
_CELL_MARGIN = 0.001
_NO_RANK = np.iinfo(np.int64).max
# Default grid size: enough cells that ~95% of points in a city need no geometry test.
_TARGET_CELLS = 160_000


class PolygonIndex:
    """Vectorised point-in-polygon lookup over a set of polygons (EPSG:27700).

    A uniform grid is laid over the polygons once. Cells that no polygon boundary passes
    through are answered wholesale (inside polygon k, or in none) without any geometry test
    per point; only points in the few cells a boundary crosses are tested, and only against
    the polygons crossing their cell, in code order. On a shared edge or vertex a point goes
    to the lowest code among the polygons it touches (``intersects``), also where polygons
    overlap.

    Measured on 1,000,000 points over Birmingham's 69 wards (bench/bench_areas.py), index
    build plus assignment is several times faster than ``geopandas.sjoin``, than
    ``STRtree.query(points, predicate="intersects")`` and than a per-polygon bounding-box
    filter with prepared ``shapely.intersects_xy``, all of which test every point.

    Parameters
    ----------
    codes, names
        One code and name per polygon.
    geometries
        Polygons or multipolygons in EPSG:27700.
    cell_size
        Grid cell size in metres; by default chosen so the grid has about 160,000 cells.
    """

    def __init__(
        self,
        codes: Sequence[str],
        names: Sequence[str],
        geometries: Sequence[shapely.Geometry] | np.ndarray,
        *,
        cell_size: float | None = None,
    ) -> None:
        self.codes = np.asarray(codes, dtype=object)
        self.names = np.asarray(names, dtype=object)
        self.geometries = np.asarray(geometries, dtype=object)
        if not (len(self.codes) == len(self.names) == len(self.geometries)):
            msg = (
                f"PolygonIndex needs one code, name and geometry per polygon; got {len(self.codes)} "
                f"codes, {len(self.names)} names and {len(self.geometries)} geometries"
            )
            raise BoundaryError(msg)
        valid = ~(shapely.is_missing(self.geometries) | shapely.is_empty(self.geometries))
        # Rank = position in code order: ties on shared edges go to the lowest rank.
        self._by_rank = np.argsort(self.codes.astype(str), kind="stable")
        self._rank_geoms = self.geometries[self._by_rank]
        self._rank_valid = valid[self._by_rank]
        shapely.prepare(self._rank_geoms[self._rank_valid])
        self._build_grid(cell_size)

    @classmethod
    def from_layer(cls, layer: BoundaryLayer) -> PolygonIndex:
        """Index of a boundary layer's features."""
        frame = layer.frame
        return cls(frame["code"].to_numpy(), frame["name"].to_numpy(), frame.geometry.to_numpy())

    def _build_grid(self, cell_size: float | None) -> None:
        ranks = np.flatnonzero(self._rank_valid)
        if len(ranks) == 0:
            self._grid = None
            return
        n_ranks = len(self._rank_geoms)
        geoms = self._rank_geoms[ranks]
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        # A margin keeps points on the outermost edges inside the grid.
        xmin, ymin, xmax, ymax = xmin - 1.0, ymin - 1.0, xmax + 1.0, ymax + 1.0
        width, height = xmax - xmin, ymax - ymin
        if cell_size is None:
            cell_size = max(float(np.sqrt(width * height / _TARGET_CELLS)), 1.0)
        nx = int(np.ceil(width / cell_size))
        ny = int(np.ceil(height / cell_size))
        grid = (xmin, ymin, cell_size, nx, ny)

        # Cells a boundary passes through (or within _CELL_MARGIN of): (cell, rank) pairs.
        pair = _crossed_cells(geoms, ranks, grid, n_ranks)
        cross_cell, cross_rank = pair // n_ranks, pair % n_ranks
        crossed = np.zeros(nx * ny, dtype=bool)
        crossed[cross_cell] = True

        # Cells no boundary crosses form connected regions, each wholly inside or wholly
        # outside every polygon: one centre per region decides for all its cells.
        regions, n_regions = ndimage.label(~crossed.reshape(ny, nx))
        regions = regions.ravel()
        _, first = np.unique(regions, return_index=True)
        first = first[regions[first] > 0]  # label 0 marks crossed cells
        region_rank = np.full(n_regions + 1, _NO_RANK, dtype=np.int64)
        region_rank[regions[first]] = self._lowest_containing(first, grid, ranks, geoms)
        state = np.where(region_rank[regions] == _NO_RANK, _NONE, region_rank[regions])

        # In a crossed cell, a polygon that holds the centre but does not cross the cell holds
        # all of it (overlapping polygons only): the lowest such rank is the cell's floor.
        crossed_cells = np.flatnonzero(crossed)
        floor = np.full(nx * ny, _NO_RANK, dtype=np.int64)
        floor[crossed_cells] = self._lowest_containing(crossed_cells, grid, ranks, geoms, exclude=pair)
        state[crossed] = _MIXED

        order = np.argsort(cross_rank, kind="stable")
        present, starts = np.unique(cross_rank[order], return_index=True)
        cells_by_rank = dict(zip(present.tolist(), np.split(cross_cell[order], starts[1:]), strict=True))
        self._grid = (xmin, ymin, cell_size, nx, ny, state, floor, cells_by_rank)

    def _lowest_containing(
        self,
        cells: np.ndarray,
        grid: tuple[float, float, float, int, int],
        ranks: np.ndarray,
        geoms: np.ndarray,
        exclude: np.ndarray | None = None,
    ) -> np.ndarray:
        """Lowest rank whose polygon covers each cell centre (skipping excluded cell/rank pairs)."""
        xmin, ymin, cell_size, nx, _ = grid
        cx = xmin + (cells % nx + 0.5) * cell_size
        cy = ymin + (cells // nx + 0.5) * cell_size
        best = np.full(len(cells), _NO_RANK, dtype=np.int64)
        for r, geom, (bx0, by0, bx1, by1) in zip(ranks, geoms, shapely.bounds(geoms), strict=True):
            cand = np.flatnonzero((cx >= bx0) & (cx <= bx1) & (cy >= by0) & (cy <= by1) & (best == _NO_RANK))
            if exclude is not None and len(cand):
                key = cells[cand] * len(self._rank_geoms) + r
                pos = np.minimum(np.searchsorted(exclude, key), len(exclude) - 1)
                cand = cand[exclude[pos] != key]
            cand = cand[shapely.intersects_xy(geom, cx[cand], cy[cand])]
            best[cand] = r  # ranks ascend, so the first hit is the lowest
        return best

    def assign(self, x: np.ndarray | Sequence[float], y: np.ndarray | Sequence[float]) -> np.ndarray:
        """Index (into the codes given) of the polygon holding each point; -1 for none.

        NaN or infinite coordinates give -1.
        """
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if x.shape != y.shape:
            msg = f"x and y must have the same length ({x.shape} vs {y.shape})"
            raise BoundaryError(msg)
        x, y = x.ravel(), y.ravel()
        rank = np.full(len(x), _NONE, dtype=np.int64)
        if self._grid is None or len(x) == 0:
            return rank
        xmin, ymin, cell_size, nx, ny, state, floor, cells_by_rank = self._grid
        with np.errstate(invalid="ignore"):
            fx = np.floor((x - xmin) / cell_size)
            fy = np.floor((y - ymin) / cell_size)
            on_grid = (fx >= 0) & (fx < nx) & (fy >= 0) & (fy < ny)
        pts = np.flatnonzero(on_grid)
        cell = fy[pts].astype(np.int64) * nx + fx[pts].astype(np.int64)
        cell_state = state[cell]
        rank[pts] = np.where(cell_state >= 0, cell_state, _NONE)
        mixed = cell_state == _MIXED
        todo = pts[mixed]
        todo_cell = cell[mixed]
        if len(todo):
            is_cell = np.zeros(len(state), dtype=bool)
            # In rank order, so the first polygon a point touches is the lowest code.
            for r, cells in cells_by_rank.items():
                is_cell[cells] = True
                cand = np.flatnonzero(is_cell[todo_cell])
                is_cell[cells] = False
                if len(cand) == 0:
                    continue
                cand = cand[rank[todo[cand]] == _NONE]
                sel = todo[cand]
                hit = shapely.intersects_xy(self._rank_geoms[r], x[sel], y[sel])
                rank[sel[hit]] = r
            todo_floor = floor[todo_cell]
            found = np.where(rank[todo] == _NONE, _NO_RANK, rank[todo])
            best = np.minimum(found, todo_floor)
            rank[todo] = np.where(best == _NO_RANK, _NONE, best)
        out = np.full(len(x), -1, dtype=np.int64)
        found = rank >= 0
        out[found] = self._by_rank[rank[found]]
        return out


def _crossed_cells(
    geoms: np.ndarray, ranks: np.ndarray, grid: tuple[float, float, float, int, int], n_ranks: int
) -> np.ndarray:
    """Sorted unique ``cell * n_ranks + rank`` keys of the grid cells each polygon's boundary meets.

    Edges are cut into pieces no longer than a cell, so each piece's bounding box spans at most
    three cells a side; every cell in that box is marked. Marking a few cells too many only
    costs a geometry test later, never a wrong answer. The box is widened by twice the cell
    margin so that any boundary point within the margin of a cell marks that cell.
    """
    xmin, ymin, cell_size, nx, ny = grid
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_of = shapely.get_coordinates(rings, return_index=True)
    start = np.flatnonzero(coord_of[:-1] == coord_of[1:])
    edge_rank = ranks[part_of[ring_of[coord_of[start]]]]
    p0, p1 = coords[start], coords[start + 1]
    pieces = np.maximum(np.ceil(np.hypot(*(p1 - p0).T) / cell_size), 1).astype(np.int64)
    edge = np.repeat(np.arange(len(start)), pieces)
    step = np.arange(len(edge)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    t0 = (step / pieces[edge])[:, None]
    t1 = ((step + 1) / pieces[edge])[:, None]
    a = p0[edge] + (p1[edge] - p0[edge]) * t0
    b = p0[edge] + (p1[edge] - p0[edge]) * t1
    margin = 2 * _CELL_MARGIN
    lo = np.floor((np.minimum(a, b) - margin - (xmin, ymin)) / cell_size).astype(np.int64)
    hi = np.floor((np.maximum(a, b) + margin - (xmin, ymin)) / cell_size).astype(np.int64)
    lo = np.clip(lo, 0, (nx - 1, ny - 1))
    hi = np.clip(hi, 0, (nx - 1, ny - 1))
    span = int((hi - lo).max()) + 1
    piece_rank = edge_rank[edge]
    keys = []
    for dx in range(span):
        for dy in range(span):
            ok = (lo[:, 0] + dx <= hi[:, 0]) & (lo[:, 1] + dy <= hi[:, 1])
            cell = (lo[ok, 1] + dy) * nx + lo[ok, 0] + dx
            keys.append(cell * n_ranks + piece_rank[ok])
    return np.unique(np.concatenate(keys))


# Indexes are built once per loaded layer (layers are immutable).
_INDEX_CACHE: weakref.WeakKeyDictionary[BoundaryLayer, PolygonIndex] = weakref.WeakKeyDictionary()


def layer_index(layer: BoundaryLayer) -> PolygonIndex:
    """The (cached) :class:`PolygonIndex` of a boundary layer."""
    index = _INDEX_CACHE.get(layer)
    if index is None:
        index = PolygonIndex.from_layer(layer)
        _INDEX_CACHE[layer] = index
    return index


def assign_areas(
    easting: np.ndarray | pd.Series | Sequence[float],
    northing: np.ndarray | pd.Series | Sequence[float],
    layers: Mapping[str, BoundaryLayer],
) -> pd.DataFrame:
    """Ward, constituency and district of each point (BNG), from the loaded boundary layers.

    Parameters
    ----------
    easting, northing
        Point coordinates in EPSG:27700; NaN where a record has no location.
    layers
        Loaded layers keyed by "ward", "constituency", "district" (any may be absent).

    Returns
    -------
    pandas.DataFrame
        Aligned with the input (its index when a Series is given): ward_code, ward_name,
        constituency_code, constituency_name, district_code, district_name (""
        when not found or the layer is absent), boundary_vintage (the layers used and their
        vintages) and area_message (e.g. "not inside any ward boundary (2024 wards)"; "" when
        every layer matched or the point has no coordinates).
    """
    unknown = sorted(set(layers) - set(LAYERS))
    if unknown:
        msg = f"unknown boundary layer(s) {', '.join(unknown)}; expected {', '.join(LAYERS)}"
        raise BoundaryError(msg)
    index = easting.index if isinstance(easting, pd.Series) else None
    x = np.asarray(easting, dtype=float)
    y = np.asarray(northing, dtype=float)
    if x.shape != y.shape:
        msg = f"easting and northing must have the same length ({len(x)} vs {len(y)})"
        raise BoundaryError(msg)
    n = len(x)
    located = np.isfinite(x) & np.isfinite(y)
    out: dict[str, np.ndarray] = {}
    messages = np.full(n, "", dtype=object)
    vintages = []
    for name in LAYERS:
        codes = np.full(n, "", dtype=object)
        labels = np.full(n, "", dtype=object)
        layer = layers.get(name)
        if layer is not None:
            hit = layer_index(layer).assign(x, y)
            found = hit >= 0
            codes[found] = layer.frame["code"].to_numpy(dtype=object)[hit[found]]
            labels[found] = layer.frame["name"].to_numpy(dtype=object)[hit[found]]
            missing = located & ~found
            note = f"not inside any {name} boundary ({layer.describe()})"
            messages[missing] = np.where(messages[missing] == "", note, messages[missing] + "; " + note)
            vintages.append(f"{name}: {layer.vintage}{' (approximate)' if layer.approximate else ''}")
        out[f"{name}_code"] = codes
        out[f"{name}_name"] = labels
    out["boundary_vintage"] = np.full(n, "; ".join(vintages), dtype=object)
    out["area_message"] = messages
    return pd.DataFrame(out, index=index, columns=list(AREA_COLUMNS))


def compare_postcode_wards(
    polygon_ward_codes: pd.Series | Sequence[str | None],
    postcode_ward_codes: pd.Series | Sequence[str | None],
) -> pd.Series:
    """True where the boundary-polygon ward and the postcode's own ward code disagree.

    A record's point can fall in a different ward from the one its postcode names: the
    postcode point is the centre of many addresses, boundaries are generalised, and the two
    may have different vintages. Rows where either code is missing compare as False (no
    disagreement can be shown).

    Returns
    -------
    pandas.Series of bool
        Aligned with ``polygon_ward_codes``, named "ward_disagrees".
    """
    poly = pd.Series(polygon_ward_codes, dtype="string")
    post = pd.Series(postcode_ward_codes, dtype="string")
    if len(poly) != len(post):
        msg = f"ward code lists differ in length ({len(poly)} vs {len(post)})"
        raise BoundaryError(msg)
    post.index = poly.index
    poly_clean = poly.fillna("").str.strip()
    post_clean = post.fillna("").str.strip()
    both = (poly_clean != "") & (post_clean != "")
    result = both & (poly_clean != post_clean)
    return result.astype(bool).rename("ward_disagrees")
