"""Boundaries page: which layers are loaded, and (administrators) load an official file."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common
from assets.errors import PermissionDenied
from geo.boundaries import LAYERS, read_boundary_file
from geo.errors import BoundaryError

st.title("Boundaries")
st.write(
    "Assets are joined to wards, constituencies and districts by point-in-polygon against "
    "the boundary layers below. Where no official ward file is loaded for the area, wards "
    "are derived from the postcode points and labelled approximate."
)

store = _common.store()
who = _common.actor()
info = store.boundary_layer_info(who)
if info:
    st.dataframe(pd.DataFrame(info), hide_index=True, width="stretch")
else:
    st.info("No official boundary layers loaded yet: wards are approximate, derived from postcodes.")

st.subheader("Load an official boundary file")
st.caption(
    "GeoJSON, GeoPackage or zipped Shapefile, in any coordinate system. Download them from the "
    "ONS Open Geography Portal (Wards, Westminster Parliamentary Constituencies, Local Authority "
    "Districts; the 'BGC' generalised files are a good size). Loading a layer replaces that layer."
)
if who.role != "administrator":
    st.warning("Only an administrator can load boundary files. Sign in as an administrator to do this.")
else:
    with st.form("load_boundaries"):
        layer_name = st.selectbox("Layer", LAYERS, key="boundary_layer")
        upload = st.file_uploader(
            "Boundary file", type=["geojson", "json", "gpkg", "zip"], key="boundary_file"
        )
        code_field = st.text_input("Code field (optional; detected when blank)", key="boundary_code_field")
        name_field = st.text_input("Name field (optional)", key="boundary_name_field")
        vintage = st.text_input("Vintage (optional, e.g. 2024)", key="boundary_vintage")
        submitted = st.form_submit_button("Load")
    if submitted:
        if upload is None:
            st.error("Choose a boundary file to load.")
        else:
            try:
                layer = read_boundary_file(
                    upload.getvalue(),
                    layer_name,
                    filename=upload.name,
                    code_field=code_field.strip() or None,
                    name_field=name_field.strip() or None,
                    vintage=vintage.strip() or None,
                )
                store.save_boundary_layer(who, layer)
            except (BoundaryError, PermissionDenied) as exc:
                st.error(str(exc))
            else:
                _common.say("success", f"Loaded {len(layer.frame)} {layer_name} boundaries (vintage {layer.vintage}).")
                for note in layer.notes:
                    st.text(note)
