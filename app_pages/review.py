"""Review: keep the register true — stale records to re-check, problem reports, and the approval queue."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages import _common
from assets.errors import RegisterError

REASONS = {"no_longer_running": "No longer running", "details_wrong": "Details wrong", "wrong_place": "Wrong place",
           "other": "Other"}

st.title("Review")
st.write("Records not re-checked for a year are marked as needing re-checking everywhere they appear. "
         "Confirm the ones that are still right, close problem reports, and approve drafts.")

if _common.require_role("review records", ("administrator", "coordinator")):
    store = _common.store()
    who = _common.actor()

    if who.role == "administrator":
        required = store.approval_required(who)
        wanted = st.toggle("Require approval of coordinators' new and changed records", value=required,
                           key="review_require_approval")
        if wanted != required:
            store.set_app_setting(who, "require_approval", wanted)
            st.rerun()

    st.header("Needs re-checking")
    stale = store.stale_assets(who)
    if not stale:
        st.success("Every record has been verified within the last year.")
    else:
        table = pd.DataFrame(
            {"Verify": False, "Name": [a.name for a in stale], "Status": [a.status for a in stale],
             "Last verified": [a.last_verified for a in stale], "Ward": [a.ward_name for a in stale]}
        )
        edited = st.data_editor(table, hide_index=True, width="stretch", key="review_stale",
                                disabled=["Name", "Status", "Last verified", "Ward"],
                                column_config={"Verify": st.column_config.CheckboxColumn("Still accurate?")})
        chosen = [stale[i] for i in edited.index[edited["Verify"]]]
        cols = st.columns(2)
        if cols[0].button(f"Mark {len(chosen)} as verified today", disabled=not chosen, key="review_verify_some"):
            store.verify_assets(who, [(a.id, a.version) for a in chosen])
            st.rerun()
        if cols[1].button(f"Mark all {len(stale)} as verified today", key="review_verify_all"):
            store.verify_assets(who, [(a.id, a.version) for a in stale])
            st.rerun()

    st.header("Problem reports")
    reports = store.list_problem_reports(who)
    if not reports:
        st.info("No open problem reports.")
    for report in reports:
        with st.container(border=True):
            st.markdown(f"**{_common.escape_markdown(report['asset_name'])}** — "
                        f"{REASONS.get(report['reason'], _common.escape_markdown(report['reason']))}")
            st.caption(_common.escape_markdown(f"Reported by {report['reported_by']} on {report['reported_at']:%d %b %Y}"))
            if report.get("note"):
                st.text(report["note"])
            with st.form(f"close_{report['id']}"):
                outcome = st.text_input("Outcome (kept in the record's history)", key=f"review_outcome_{report['id']}")
                if st.form_submit_button("Close the report"):
                    if not outcome.strip():
                        st.error("Say what was done before closing the report.")
                    else:
                        try:
                            store.close_problem_report(who, report["id"], outcome.strip())
                        except RegisterError as exc:
                            _common.say("error", str(exc))
                        else:
                            st.rerun()

    st.header("Waiting for approval")
    queue = store.approval_queue(who)
    if not queue:
        st.info("No drafts waiting.")
    for asset in queue:
        cols = st.columns([4, 1])
        cols[0].text(f"{asset.name} — {asset.ward_name or 'no ward'} — changed by {asset.updated_by or asset.created_by}")
        if who.role == "administrator" and cols[1].button("Approve", key=f"review_approve_{asset.id}"):
            try:
                store.approve_asset(who, asset.id, asset.version)
            except RegisterError as exc:
                _common.say("error", str(exc))
            else:
                st.rerun()
