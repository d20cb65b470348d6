"""Export: write the dataset as the reference DSAII layout or MVTec AD folders, and download it."""

from pathlib import Path

import pandas as pd
import streamlit as st

from dsaii_core.export import LAYOUTS, export_workspace, zip_folder
from app_pages._ui import current_workspace, user_errors

st.title("Export")
ws = current_workspace()
if not ws.catalog.classes():
    st.info("Nothing to export yet: import images on the **Collect** page.")
    st.stop()

st.caption("Only kept normal images and accepted anomalies are exported. Repeating an export of an unchanged "
           "workspace gives identical files.")
layout = st.radio("Layout", LAYOUTS, horizontal=True, format_func={
    "dsaii": "DSAII (class/normal · anomaly · mask + img_url.json)",
    "mvtec": "MVTec AD (train/good · test/<defect> · ground_truth)"}.get)
cols = st.columns(3)
seed = cols[0].number_input("Split seed", 0, 2**31 - 1, 0, disabled=layout != "mvtec")
test_ratio = cols[1].slider("Normals in test/good", 0.0, 0.9, 0.2, 0.05, disabled=layout != "mvtec")
out = cols[2].text_input("Output folder", value=str(ws.root.parent / f"{ws.root.name}-export"), key="export_out",
                         help="Replaced if it holds an earlier export; never a folder with other files.")

if st.button("Export", type="primary"):
    with user_errors(), st.status("Exporting…") as status:
        bar = st.progress(0.0)
        report = export_workspace(ws, Path(out).expanduser(), layout, seed=int(seed), test_ratio=test_ratio,
                                  progress=bar.progress)
        status.update(label="Export finished", state="complete")  # the summary follows below
        st.session_state["export_report"] = report

report = st.session_state.get("export_report")
if report is not None:
    st.success(report.summary())
    for warning in report.warnings:
        st.warning(warning)
    st.dataframe(pd.DataFrame(report.counts).T, width="stretch")
    if report.out.is_dir():
        st.download_button("Download as zip", data=zip_folder(report.out), file_name=f"{report.out.name}.zip",
                           mime="application/zip")
