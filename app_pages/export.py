"""Export: write the dataset as the reference DSAII layout or MVTec AD folders, check it, and download it.

The export is a job (the one the `export` command runs) in a background worker; the report, the validate
result and the download are those of the last export that finished.
"""


import pandas as pd
import streamlit as st

from dsaii_core import jobs
from dsaii_core.export import LAYOUTS, default_out, download_name, zip_export
from dsaii_core.export_job import JOB_KIND, export_check, job_export_report, start_export_job
from dsaii_core.stats import class_stats
from app_pages import _jobs
from app_pages._ui import current_workspace, user_errors, user_path

st.title("Export")
ws = current_workspace()
stats = class_stats(ws)
if not stats:
    st.info("Nothing to export yet: import images on the **Collect** page.")
    st.stop()

st.caption("Only kept normal images and accepted anomalies are exported. Repeating an export of an unchanged "
           "workspace gives identical files. Each export is checked with `validate` when it is written.")


def _switch_folder() -> None:
    """Each layout keeps its own output folder (by default one per layout), so one never replaces the other."""
    shown = st.session_state.get("export_out_shown", st.session_state["export_out"])
    st.session_state.setdefault("export_folders", {})[st.session_state["export_folder_of"]] = shown
    layout = st.session_state["export_layout"]
    if st.session_state["export_out"] == shown:  # else a folder was typed with the switch: keep it
        st.session_state["export_out"] = st.session_state["export_folders"].get(layout, str(default_out(ws, layout)))
    st.session_state["export_folder_of"] = layout


layout = st.radio("Layout", LAYOUTS, horizontal=True, key="export_layout", on_change=_switch_folder, format_func={
    "dsaii": "DSAII (class/normal · anomaly · mask + img_url.json)",
    "mvtec": "MVTec AD (train/good · test/<defect> · ground_truth)"}.get)
if "export_out" not in st.session_state or st.session_state.get("export_ws") != str(ws.root):
    st.session_state.update(export_out=str(default_out(ws, layout)), export_folder_of=layout, export_folders={},
                            export_ws=str(ws.root))

counts = {s.name: s for s in stats}
chosen = st.multiselect(
    "Classes", list(counts), default=[s.name for s in stats if s.normal], key="export_classes",
    format_func=lambda n: f"{n}  ·  {counts[n].normal} normal, {counts[n].accepted} accepted anomalies"
    if counts[n].normal else f"{n}  ·  no kept normal images",
    help="Classes without kept normal images are listed but not chosen by default.")
cols = st.columns(3)
seed = cols[0].number_input("Split seed", 0, 2**31 - 1, 0, disabled=layout != "mvtec")
test_ratio = cols[1].slider("Normals in test/good", 0.0, 0.9, 0.2, 0.05, disabled=layout != "mvtec")
out = cols[2].text_input("Output folder", key="export_out",
                         help="Replaced if it holds an earlier export of this app; never a folder with other files.")
st.session_state["export_out_shown"] = out

running = _jobs.running(ws, JOB_KIND)
if st.button("Export", type="primary", disabled=not chosen or running, key="export",
             help="An export is being written (below)" if running else None):
    with user_errors():
        _jobs.start(ws, start_export_job(ws, user_path(out), layout, seed=int(seed), test_ratio=test_ratio,
                                         class_names=chosen), "class")
if not chosen:
    st.caption("Choose at least one class to export.")


def _describe(job: jobs.Job) -> str:
    return f"Job {job.id} · {job.params['layout']} export to {job.params['out']}"


_jobs.job_panel(ws, JOB_KIND, "export_jobs", _describe, item="class")  # the last export's report: below

done = [j for j in jobs.list_jobs(ws.catalog, JOB_KIND, limit=5) if j.state == "done"]
if done:
    report, check = job_export_report(ws, done[0]), export_check(ws, done[0])
    st.success(report.summary())
    for warning in report.warnings:
        st.warning(warning)
    st.dataframe(pd.DataFrame(report.counts).T, width="stretch")
    if check is not None:
        if check.clean:
            st.success(f"validate: no problem found in {check.counts['normal'] + check.counts['anomaly']} images "
                       f"and {check.counts['mask']} masks.")
        else:
            st.error(f"validate: {len(check.problems)} problem(s) in the export.")
            st.dataframe(pd.DataFrame([{"file": p.path, "problem": p.what, "kind": p.kind} for p in check.problems]),
                         width="stretch", hide_index=True)
    if report.out.is_dir():
        # Zipped only when the user clicks (Streamlit calls the function then), into the cache, once per export.
        st.download_button("Download as zip",
                           data=lambda folder=report.out: zip_export(folder, ws.cache_dir / "downloads").read_bytes(),
                           file_name=download_name(ws, report.layout), mime="application/zip", on_click="ignore",
                           key="export_download")
