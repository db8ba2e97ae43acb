"""The configured area's geography, wired from the store's boundary layers.

Official layers loaded into the database win; where no official ward layer covers
the area, wards are derived from the postcode points and labelled approximate.
Geocoding and assignment themselves are pure functions in ``geo``; this module only
chooses their inputs, which is why it lives above both packages.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from assets.model import Actor
from geo.areas import assign_areas
from geo.boundaries import BoundaryLayer, derive_ward_layer
from geo.gazetteer import Gazetteer
from geo.geocoding import geocode_frame

_DERIVED: dict[tuple, BoundaryLayer] = {}
_DERIVED_LOCK = threading.Lock()


@dataclass(frozen=True)
class AreaGeography:
    """Everything about the area that pages, exports and the importer show or join to."""

    area_code: str
    area_name: str
    gazetteer_version: str
    layers: Mapping[str, BoundaryLayer]
    wards: gpd.GeoDataFrame
    constituencies: gpd.GeoDataFrame
    wards_approximate: bool

    @property
    def ward_layer(self) -> BoundaryLayer:
        return self.layers["ward"]

    def sources(self) -> list[str]:
        """One line per boundary layer in use: source, vintage, approximate or official."""
        lines = []
        for name, layer in self.layers.items():
            label = "approximate, derived from postcodes" if layer.approximate else "official"
            lines.append(f"{name.capitalize()} boundaries: {layer.source} (vintage {layer.vintage}; {label})")
        return lines


def _area_ward_codes(gazetteer: Gazetteer, area_code: str) -> set[str]:
    mask = gazetteer.district_mask(area_code)
    return {code for code in np.unique(gazetteer.ward_code[mask]) if code}


def _derived_wards(gazetteer: Gazetteer, area_code: str, outline) -> BoundaryLayer:
    key = (area_code, gazetteer.version, hashlib.sha1(outline.wkb).hexdigest() if outline is not None else "")
    with _DERIVED_LOCK:
        if key not in _DERIVED:
            _DERIVED[key] = derive_ward_layer(gazetteer, area_code, outline)
        return _DERIVED[key]


def area_geography(store, actor: Actor, area_code: str, gazetteer: Gazetteer) -> AreaGeography:
    """The area's boundary layers: official when loaded, derived wards otherwise."""
    loaded = store.boundary_layers(actor)
    district_layer = loaded.get("district")
    outline = None
    if district_layer is not None:
        match = district_layer.frame[district_layer.frame["code"] == area_code]
        if len(match):
            outline = match.geometry.iloc[0]

    ward_codes = _area_ward_codes(gazetteer, area_code)
    official = loaded.get("ward")
    wards_frame = None
    if official is not None:
        in_area = official.frame[official.frame["code"].isin(ward_codes)]
        if len(in_area):
            wards_frame = in_area
            ward_layer = official
    if wards_frame is None:
        ward_layer = _derived_wards(gazetteer, area_code, outline)
        wards_frame = ward_layer.frame
    # The ward layer used for assignment holds only the area's wards: a point outside
    # the area counts in none of them.
    ward_layer = BoundaryLayer(
        layer="ward",
        frame=wards_frame.reset_index(drop=True),
        source=ward_layer.source,
        vintage=ward_layer.vintage,
        loaded_at=ward_layer.loaded_at,
        approximate=ward_layer.approximate,
    )
    layers: dict[str, BoundaryLayer] = {"ward": ward_layer}
    constituencies = gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=27700)
    if "constituency" in loaded:
        layer = loaded["constituency"]
        layers["constituency"] = layer
        area_shape = wards_frame.geometry.union_all()
        overlap = layer.frame.geometry.intersection(area_shape).area
        constituencies = layer.frame[overlap > 0.01 * layer.frame.geometry.area].reset_index(drop=True)
    if district_layer is not None:
        layers["district"] = district_layer
    return AreaGeography(
        area_code=area_code,
        area_name=gazetteer.district_names.get(area_code, area_code),
        gazetteer_version=gazetteer.version,
        layers=layers,
        wards=ward_layer.frame,
        constituencies=constituencies,
        wards_approximate=ward_layer.approximate,
    )


def locate_frame(frame: pd.DataFrame, gazetteer: Gazetteer, geography: AreaGeography, online=None) -> pd.DataFrame:
    """Geocode rows (postcode or coordinates) and join them to ward, constituency and district.

    Returns the geocoding columns followed by the area columns, aligned with ``frame``.
    """
    located = geocode_frame(frame, gazetteer, geography.area_code, online=online)
    areas = assign_areas(located["easting"].to_numpy(), located["northing"].to_numpy(), geography.layers)
    areas.index = located.index
    if "district" not in geography.layers:
        # Without an official district layer the postcode's own district code stands in.
        areas["district_code"] = located["postcode_district_code"].fillna("")
        areas["district_name"] = areas["district_code"].map(gazetteer.district_names).fillna("")
    return pd.concat([located, areas], axis=1)
