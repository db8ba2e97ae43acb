"""Upload a spreadsheet: read it safely, correct the column mapping, preview every row, import in one go."""

from __future__ import annotations

import hashlib
import io

import pandas as pd
import streamlit as st

from app_pages import _common
from assets.errors import RegisterError
from assets.exports import write_csv
from assets.importer import DUPLICATE, commit_import, preview_import, report_rows
from assets.model import FIELD_LABELS
from assets.oruk import feed_table, preview_feed_import, read_feed
from assets.tabular import IMPORT_FIELDS, map_headers, read_table
from settings import ROOT

SAMPLE = ROOT / "data" / "sample_assets.csv"
STATUS_LABELS = {"new": "New", "update": "Update", "unchanged": "Unchanged", "rejected": "Rejected",
                 "duplicate": "Possible duplicate"}
FIELD_CHOICES = [None, *IMPORT_FIELDS]

st.title("Upload a spreadsheet")
st.write(
    "Upload the CSV or Excel file you already keep. Nothing is saved until you press Import, "
    "and then all the accepted rows are saved together, or none."
)
st.download_button("Download a sample spreadsheet", SAMPLE.read_bytes(), file_name="sample_assets.csv",
                   mime="text/csv", help="Fictional groups at real Birmingham postcodes, with a few typical mistakes.")

if _common.require_role("upload records", ("administrator", "coordinator")):
    summary = st.session_state.pop("upload_summary", None)
    if summary:
        st.success(f"Import finished: {summary}.")
    upload = st.file_uploader("Spreadsheet (CSV or XLSX), or an Open Referral UK feed (JSON)",
                              type=["csv", "xlsx", "json"], key="upload_file")
    if upload is not None:
        data = upload.getvalue()
        digest = hashlib.sha256(data).hexdigest()[:16]
        sheet = st.session_state.get(f"upload_sheet_{digest}")
        # An Open Referral UK feed has fixed fields: no column mapping, the same preview and import.
        feed = None
        try:
            if upload.name.lower().endswith(".json"):
                feed = read_feed(data, upload.name)
                table = feed_table(feed)[0]
            else:
                table = read_table(data, upload.name, sheet=sheet)
        except RegisterError as exc:
            _common.say("error", f"This file cannot be imported: {exc}")
            st.stop()
        if len(table.sheet_names) > 1:
            st.selectbox("Sheet", table.sheet_names, key=f"upload_sheet_{digest}")
        st.caption(f"Read {len(table.rows):,} rows. Encoding: {table.encoding_label}.")
        for note in table.notes:
            _common.say("info", note)

        if feed is None:
            st.subheader("Columns")
            st.caption("Which column feeds which field. Correct any that are wrong; choose '(not imported)' to leave one out.")
        detected = map_headers(table.headers)
        by_header = {header: name for name, header in detected.fields.items()}
        overrides = {}
        columns = st.columns(3) if feed is None else []
        for i, header in enumerate(table.headers if feed is None else ()):
            default = by_header.get(header)
            choice = columns[i % 3].selectbox(
                # A widget label is Markdown: the file's header is shown literally.
                _common.escape_markdown(header) if header else f"(column {i + 1} has no header)",
                FIELD_CHOICES,
                index=FIELD_CHOICES.index(default) if default in FIELD_CHOICES else 0,
                format_func=lambda f: "(not imported)" if f is None else FIELD_LABELS.get(f, f.replace("_", " ").capitalize()),
                key=f"upload_map_{digest}_{i}",
            )
            if choice != default:
                overrides[header] = choice

        who = _common.actor()
        progress = st.progress(0.0, text="Checking rows…")
        try:
            if feed is not None:
                preview = preview_feed_import(
                    _common.store(), who, feed, gazetteer=_common.gazetteer(), geography=_common.geography(),
                    progress=lambda fraction, text: progress.progress(min(fraction, 1.0), text=text),
                )
            else:
                preview = preview_import(
                    _common.store(), who, table, gazetteer=_common.gazetteer(), geography=_common.geography(),
                    overrides=overrides, progress=lambda fraction, text: progress.progress(min(fraction, 1.0), text=text),
                )
        except RegisterError as exc:
            progress.empty()
            _common.say("error", str(exc))
            st.stop()
        progress.empty()
        for message in preview.mapping.messages:
            _common.say("warning", message)

        counts = preview.counts()
        st.subheader("Preview")
        cols = st.columns(5)
        for col, (status, label) in zip(cols, STATUS_LABELS.items(), strict=True):
            col.metric(label, counts[status])

        problems = [
            {"Row": p.row, "Status": STATUS_LABELS[plan.status], "Name": plan.name,
             "Field": FIELD_LABELS.get(p.field, p.field), "Value": p.value, "Problem": p.reason,
             "What to do": p.fix, "Severity": p.severity}
            for plan in preview.rows for p in plan.problems
        ]
        rows = pd.DataFrame(
            [{"Row": plan.row, "Status": STATUS_LABELS[plan.status], "Name": plan.name,
              "Problems": len([p for p in plan.problems if p.severity == "error"]),
              "Warnings": len([p for p in plan.problems if p.severity == "warning"])} for plan in preview.rows]
        )
        st.dataframe(rows, hide_index=True, width="stretch", key="upload_rows")
        if problems:
            st.markdown("**Problems and warnings**")
            st.dataframe(pd.DataFrame(problems), hide_index=True, width="stretch", key="upload_problems")

        decisions: dict[int, str] = {}
        duplicates = [plan for plan in preview.rows if plan.status == DUPLICATE]
        if duplicates:
            st.subheader("Possible duplicates")
            st.caption("Each looks like an existing record or an earlier row. Decide for each; undecided ones are held back.")
            store = _common.store()
            for plan in duplicates:
                candidate = plan.duplicate
                with st.container(border=True):
                    left, right = st.columns(2)
                    left.markdown(f"**Row {plan.row} (this file)**")
                    left.text(f"{plan.asset.name}\n{plan.asset.postcode}\n{plan.asset.sessions_text}")
                    right.markdown(f"**Looks like: {_common.escape_markdown(candidate.other_id if candidate.other_id.startswith('row ') else 'existing record')}**")
                    if candidate.other_id.startswith("row "):
                        right.text(candidate.other_name)
                        options = ["skip", "new"]
                    else:
                        existing = store.get_asset(who, candidate.other_id)
                        right.text(f"{existing.name}\n{existing.postcode}\n{existing.sessions_text}")
                        options = ["skip", "new", "update"]
                    st.caption(f"{candidate.similarity:.0f}% similar names, {candidate.distance_m:.0f} m apart.")
                    decisions[plan.row] = st.radio(
                        "Decision", options, horizontal=True, key=f"upload_dup_{digest}_{plan.row}",
                        format_func={"skip": "Skip (hold back)", "new": "Import as new",
                                     "update": "Update the existing one"}.get,
                    )

        report = io.StringIO()
        write_csv(report_rows(preview), report)
        st.download_button("Download the import report (CSV)", report.getvalue().encode("utf-8-sig"),
                           file_name=f"import_report_{upload.name}.csv", mime="text/csv", key="upload_report")
        ready = counts["new"] + counts["update"] + sum(1 for d in decisions.values() if d != "skip")
        if st.button(f"Import {ready} row(s)", type="primary", disabled=ready == 0, key="upload_import"):
            try:
                result = commit_import(_common.store(), who, preview, decisions, note=f"upload of {upload.name}")
            except RegisterError as exc:
                _common.say("error", f"Nothing was imported: {exc}")
            else:
                st.session_state["upload_summary"] = result.line()
                st.rerun()
