"""Find nearby for a person: the register's published records searched around a place.

Shared by the Find nearby page and ``python -m geo nearby``. The person's postcode is
used to find the centre and then dropped: it is never stored or logged. A search that
finds nothing is counted anonymously by (ward, category, day, time of day) as unmet
demand for the coverage work.
"""

from __future__ import annotations

from datetime import date

from assets.geography import AreaGeography
from assets.model import Actor
from assets.spatial_db import DatabaseNearby, locate_and_search
from geo.areas import assign_areas
from geo.gazetteer import Gazetteer
from geo.nearby import (
    NearbyIndex,
    NearbyQuery,
    NearbyResult,
    find_nearby,
    find_nearby_point,
    unmet_demand_keys,
)
from settings import get_settings


def build_index(store, actor: Actor) -> NearbyIndex | DatabaseNearby:
    """The in-memory index of the published records the actor may see.

    With ``CAM_SPATIAL_BACKEND=database`` it is a handle instead, holding no records: each
    search then asks PostGIS (see :mod:`assets.spatial_db`).
    """
    if get_settings().spatial_backend == "database":
        return DatabaseNearby(store, actor)
    return NearbyIndex.build(store.assets_frame(actor, statuses=("published",)))


def search_nearby(
    store,
    actor: Actor,
    gazetteer: Gazetteer,
    geography: AreaGeography,
    query: NearbyQuery,
    *,
    text: str | None = None,
    point: tuple[float, float] | None = None,
    index: NearbyIndex | DatabaseNearby | None = None,
    today: date | None = None,
    record_unmet: bool = True,
) -> NearbyResult:
    """Options near a postcode, sector or outward code (``text``) or a map point (``point`` = lat, lon)."""
    today = today or date.today()
    index = index if index is not None else build_index(store, actor)
    if isinstance(index, DatabaseNearby):
        result = locate_and_search(index, gazetteer, query, text=text, point=point, today=today)
    elif point is not None:
        result = find_nearby_point(index, point[0], point[1], query, today=today)
    else:
        result = find_nearby(index, gazetteer, text or "", query, today=today)
    if record_unmet and not result.found:
        ward = assign_areas([result.centre_easting], [result.centre_northing], geography.layers)["ward_code"].iloc[0]
        for key in unmet_demand_keys(result, query, ward or ""):
            store.record_unmet_demand(actor, *key)
    return result
