"""Coverage: which wards have little or nothing, for whom, against population and deprivation."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from app_pages import _common
from assets.coverage_report import REFERENCE_KINDS, area_coverage, export_coverage, save_reference_file
from assets.errors import RegisterError
from assets.taxonomy import CATEGORIES
from geo.choropleth import build_choropleth
from geo.coverage import GAP_FORMULA
from geo.errors import GeoError
from settings import get_settings

settings = get_settings()
geography = _common.geography()
store = _common.store()
who = _common.actor()

st.title(f"Coverage by ward: {geography.area_name}")
for line in geography.sources():
    st.caption(_common.escape_markdown(line))
if geography.wards_approximate:
    st.warning("Wards are approximate (derived from postcode points): load the official ward file on the Boundaries page.")

with st.expander("Population and deprivation data"):
    st.caption(
        "Load ONS population (by ward, or by LSOA with an LSOA→ward lookup) and the IMD 2019 LSOA file "
        "to see assets per 1,000 residents and deprivation. CSV files; numbers may carry thousands separators."
    )
    if who.role == "administrator":
        kind = st.selectbox("Which file", list(REFERENCE_KINDS), format_func=REFERENCE_KINDS.get, key="cov_ref_kind")
        upload = st.file_uploader("File (CSV)", type=["csv"], key="cov_ref_file")
        if upload is not None and st.button("Load it", key="cov_ref_load"):
            try:
                _common.say("success", save_reference_file(store, who, kind, upload.name, upload.getvalue()))
            except (GeoError, RegisterError, UnicodeDecodeError) as exc:
                _common.say("error", f"Not loaded: {exc}")
    else:
        st.info("An administrator loads these files.")

cols = st.columns([2, 2, 3])
verified_only = cols[0].toggle(f"Verified in the last {settings.stale_months} months only", key="cov_verified")
snapshots = store.list_snapshots(who, geography.area_code)
baseline = cols[1].selectbox(
    "Compare with baseline",
    [None, *[s["id"] for s in snapshots]],
    format_func=lambda i: "no baseline" if i is None else next(
        f"{s['name']} ({s['created_at']:%d %b %Y})" for s in snapshots if s["id"] == i
    ),
    key="cov_baseline",
)
with st.spinner("Counting assets, walking distances and need by ward…"):
    result = area_coverage(store, who, _common.gazetteer(), geography, verified_only=verified_only, baseline_id=baseline)

for problem in result.meta.get("reference_problems", []):
    _common.say("warning", problem)
for line in result.meta.get("reference_data", []):
    st.caption(_common.escape_markdown(line))
for key in ("population", "deprivation"):
    source = result.meta.get(f"{key}_source")
    if source and source != "not loaded":
        st.caption(_common.escape_markdown(f"{key.capitalize()}: {source}"))
unmatched = result.meta.get("population_unmatched_lsoas") or []
if unmatched:
    with st.expander(f"{len(unmatched)} LSOAs of the population file are not in the lookup (not counted in any ward)"):
        st.text(", ".join(unmatched))

wards = result.wards
area = result.area.iloc[0]
metric_cols = st.columns(4)
metric_cols[0].metric("Published assets in the area", int(area["assets_total"]))
metric_cols[1].metric("Wards with no assets", int((wards["assets_total"] == 0).sum()))
metric_cols[2].metric(f"Postcodes within {settings.walk_distance_m} m of an asset", f"{area['walk_coverage']:.0%}")
if pd.notna(area.get("assets_per_1000")):
    metric_cols[3].metric("Assets per 1,000 residents", f"{area['assets_per_1000']:.2f}")
else:
    metric_cols[3].metric("Assets per 1,000 residents", "—", help="Load population data to see this.")

st.subheader("Where the gaps are")
st.caption(_common.escape_markdown(f"Gap score: {GAP_FORMULA}"))
measures = ["gap_score", "assets_total", "assets_per_1000", "walk_coverage", "imd_score", "unmet_searches"]
measures += [c for c in wards.columns if c.startswith("assets_") and c not in measures and c != "assets_per_1000"]
if "change_assets_total" in wards.columns:
    measures.insert(1, "change_assets_total")
measure = st.selectbox("Shade the map by", [m for m in measures if m in wards.columns], key="cov_measure",
                       format_func=lambda m: m.replace("assets_", "assets: ").replace("_", " "))
map_col, table_col = st.columns([3, 2])
with map_col:
    if _common.map_scripts_ready():
        fmap = build_choropleth(result, geography.ward_layer, measure, labels=CATEGORIES, tiles=settings.tiles)
        st_folium(fmap, key="cov_map", height=520, use_container_width=True, returned_objects=[])
with table_col:
    shown = wards[["ward_name", "constituency_name", "assets_total", "gap_rank", measure]].sort_values("gap_rank")
    st.dataframe(shown.loc[:, ~shown.columns.duplicated()], hide_index=True, width="stretch", height=520)

st.subheader("Charts")
chart_cols = st.columns(2)
per_category = pd.DataFrame(
    {"category": [CATEGORIES[s] for s in CATEGORIES], "assets": [int(area.get(f"assets_{s}", 0)) for s in CATEGORIES]}
)
chart_cols[0].altair_chart(
    alt.Chart(per_category, title="Assets per category across the area").mark_bar()
    .encode(x=alt.X("assets:Q", title="assets"), y=alt.Y("category:N", sort="-x", title=None), tooltip=["category", "assets"]),
    width="stretch",
)
top = wards.nsmallest(15, "gap_rank")[["ward_name", "gap_score"]]
chart_cols[1].altair_chart(
    alt.Chart(top, title="Wards ranked by gap score (largest gap first)").mark_bar()
    .encode(x=alt.X("gap_score:Q", title="gap score"), y=alt.Y("ward_name:N", sort="-x", title=None),
            tooltip=["ward_name", "gap_score"]),
    width="stretch",
)
if "change_assets_total" in wards.columns:
    changed = wards[wards["change_assets_total"].fillna(0) != 0][["ward_name", "change_assets_total"]]
    st.altair_chart(
        alt.Chart(changed, title="Change in assets since the baseline").mark_bar()
        .encode(x=alt.X("change_assets_total:Q", title="change"), y=alt.Y("ward_name:N", sort="-x", title=None),
                tooltip=["ward_name", "change_assets_total"]),
        width="stretch",
    )

st.subheader("Every ward")
st.dataframe(wards, hide_index=True, width="stretch", key="cov_wards")
st.subheader("By constituency")
st.dataframe(result.constituencies, hide_index=True, width="stretch", key="cov_constituencies")
unmet = store.unmet_demand(who)
if len(unmet):
    st.subheader("Unmet demand")
    st.caption("Searches on Find nearby that found nothing, counted anonymously (no postcode is kept).")
    st.dataframe(unmet, hide_index=True, width="stretch")

st.subheader("Export")
export_cols = st.columns(4)
for col, fmt in zip(export_cols, ("csv", "xlsx", "geojson", "gpkg"), strict=True):
    col.download_button(
        f"Wards as {fmt.upper()}",
        export_coverage(result, geography, fmt, verified_only=verified_only),
        file_name=f"coverage_{geography.area_code}.{fmt}",
        key=f"cov_download_{fmt}",
    )

st.subheader("Baseline")
if who.role in ("administrator", "commissioner"):
    name = st.text_input("Name this baseline", value=f"Baseline {pd.Timestamp.today():%d %b %Y}", key="cov_snapshot_name")
    if st.button("Save today's coverage as a baseline", key="cov_snapshot_save"):
        store.save_snapshot(who, name, geography.area_code, result.to_snapshot())
        st.success("Baseline saved. Choose it above to see the change per ward.")
else:
    st.info("Commissioners and administrators can save a baseline.")
