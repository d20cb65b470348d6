"""Benchmark: run a detector (built-in or anomalib's) or import another one's maps, then compare runs class by class."""

import streamlit as st

from dsaii_core.bench import anomalib_detector, references, reports
from dsaii_core.bench.detectors import ANOMALIB_PREFIX, BASELINE_LABEL, detector_spec
from dsaii_core.bench.outcomes import class_curves, class_outcome, worst_cases
from dsaii_core.devices import DEVICES
from dsaii_core.bench.runs import METRICS, import_run, metrics_frame
from dsaii_core.bench.tasks import JOB_KIND, run_of_job, start_bench_job
from app_pages import _jobs
from app_pages._ui import current_class, current_workspace, image_grid, user_errors, user_path

PNG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
DETECTOR_LABELS = {"baseline": "Baseline (weak, no weights)", "patchcore": "PatchCore",
                   "anomalib": "anomalib model"}

@st.cache_data(show_spinner="Reading the class's maps…", max_entries=32)
def class_detail(root: str, run_id: int, class_name: str):
    """The ROC / PRO curves and the worst cases of one class of a run: a scored class never changes, and its
    curves take a pass over every pixel score."""
    outcome = class_outcome(ws, run_id, class_name)
    return class_curves(outcome), worst_cases(outcome, count=4)


st.title("Benchmark")
ws = current_workspace()
if not ws.catalog.classes():
    st.info("Nothing to benchmark yet: import images on the **Collect** page.")
    st.stop()
runs = ws.catalog.runs()

with st.expander("Run a detector", expanded=not runs):
    st.caption("Each class is exported as MVTec AD (split seed below), the detector is trained on k normal images "
               "and scores the held-out normals and accepted anomalies.")
    detector = st.radio("Detector", list(DETECTOR_LABELS), horizontal=True, key="bench_detector",
                        format_func=DETECTOR_LABELS.get)
    cols = st.columns(4)
    shots = cols[0].number_input("Shots (0 = all train normals)", 0, 100_000, 0, key="bench_shots")
    seed = cols[1].number_input("Seed", 0, 2**31 - 1, 0, key="bench_seed")
    ratio = cols[2].number_input("Coreset ratio", 0.001, 1.0, 0.1, 0.01, key="bench_ratio",
                                 help="Share of normal patches kept in PatchCore's memory bank.")
    device = cols[3].selectbox("Device", DEVICES, key="bench_device",
                               help="auto: a CUDA or Apple GPU when there is one, else every CPU core.")
    options: dict = {}
    ready = True
    if detector == "baseline":
        st.caption(BASELINE_LABEL + ". For real numbers, point PatchCore or an anomalib model to a weights file.")
    elif detector == "patchcore":
        options["backbone"] = st.text_input("Backbone (torchvision)", "wide_resnet50_2", key="bench_backbone")
        options["weights"] = st.text_input("Weights file (.pth / .safetensors)", key="bench_weights",
                                           help="A state dict on this machine, e.g. torchvision's ImageNet weights "
                                                "saved locally.")
    elif not anomalib_detector.installed():
        st.info(anomalib_detector.INSTALL_HINT + ", then restart the app.")
        ready = False
    else:
        cols = st.columns(4)
        model = cols[0].selectbox("Model", anomalib_detector.VERIFIED, key="bench_anomalib_model",
                                  help="anomalib's image models checked here to train offline on normal images; "
                                       "the CLI takes any other by name.")
        options["backbone"] = cols[1].text_input("Backbone (timm)", key="bench_anomalib_backbone",
                                                 placeholder="model default")
        options["layers"] = cols[2].text_input("Layers", key="bench_anomalib_layers", placeholder="model default",
                                               help="Comma-separated, e.g. layer2,layer3.")
        options["epochs"] = cols[3].number_input("Epochs (0 = model default)", 0, 10_000, 0, key="bench_epochs",
                                                 help="Default: one pass for Patchcore, Padim and Dfm, 300 for "
                                                      "Supersimplenet; the others need a number.") or None
        cols = st.columns([1, 3])
        options["image_size"] = cols[0].number_input("Image size", 32, 2048, anomalib_detector.DEFAULT_IMAGE_SIZE,
                                                     key="bench_image_size")
        options["weights"] = cols[1].text_input(
            "Weights file", key="bench_anomalib_weights",
            help="On this machine; nothing is downloaded. " + anomalib_detector.WEIGHTS_HELP.get(
                model, anomalib_detector.BACKBONE_HELP).capitalize() + ".")
        if model == "EfficientAd":
            options["imagenet_dir"] = st.text_input("Penalty images folder", key="bench_imagenet_dir",
                                                    help="A local ImageNet-like folder, one sub-folder per class "
                                                         "(e.g. imagenette2/train).")
        detector = f"{ANOMALIB_PREFIX}{model}"
    name = st.text_input("Run name", key="bench_name", placeholder=f"default: {detector}")
    if st.button("Run in the background", type="primary", key="bench_run", disabled=not ready):
        with user_errors():
            for key in ("weights", "imagenet_dir"):
                options[key] = user_path(options[key]) if options.get(key) else None
            spec = detector_spec(detector, coreset_ratio=ratio, seed=int(seed), device=device,
                                 **{k: v for k, v in options.items() if v})
            job, run_id = start_bench_job(ws, spec, name=name or detector, shots=int(shots) or None)
            _jobs.start(ws, job, "class")
            st.session_state["bench_chosen"] = [run_id]
            st.rerun()


# Each class that lands redraws the dashboard below.
_jobs.job_panel(ws, JOB_KIND, "bench_jobs", lambda job: f"Run #{run_of_job(job)} · {job.params['detector']['name']}",
                hide_done=True, rerun_on_progress=True)

with st.expander("Import a detector's maps"):
    st.caption("A folder of `<class>/<defect>/<stem>.npy` (or .tiff / .png) maps for the MVTec export made with "
               "the same seed, plus an optional `scores.csv` (class,image,score). See the README for a recipe.")
    cols = st.columns([3, 1, 1])
    maps_dir = cols[0].text_input("Maps folder", key="bench_maps_dir", help="Or a stored run's folder.")
    import_name = cols[1].text_input("Run name", value="imported", key="bench_import_name")
    import_seed = cols[2].number_input("Export seed", 0, 2**31 - 1, 0, key="bench_import_seed")
    if st.button("Import", disabled=not maps_dir, key="bench_import"):
        with user_errors(), st.spinner("Evaluating the maps…"):
            report = import_run(ws.root, user_path(maps_dir), import_name, seed=int(import_seed))
            st.session_state["bench_chosen"] = [report.run_id]
            st.rerun()

if not runs:
    st.info("No runs yet: run the baseline above, or import the maps of your own detector.")
    st.stop()

labels = {r.id: f"#{r.id} {r.name} ({'weak baseline' if r.detector == 'baseline' else r.detector})" for r in runs}
st.session_state["bench_chosen"] = [i for i in st.session_state.get("bench_chosen", [runs[-1].id]) if i in labels]
chosen = st.multiselect("Runs", list(labels), format_func=labels.get, key="bench_chosen")
if not chosen:
    st.stop()
frame = metrics_frame(ws, chosen)
if frame.empty:
    st.info("No class results yet: a run's job fills them in class by class (progress above).")
    st.stop()

cols = st.columns([3, 1])
reference_name = cols[0].selectbox("Per-class reference (MVTec AD classes only)", ["none", *references.reference_sources()],
                                   key="bench_reference")
show_dsaii = cols[1].toggle("DSAII means", value=True, key="bench_dsaii")
reference = None if reference_name == "none" else references.reference_table(reference_name)
dsaii = references.dsaii_means() if show_dsaii else None
origins = reports.has_origins(frame)
tabs = st.tabs([reports.METRIC_LABELS[m] for m in reports.DASHBOARD_METRICS] + ["Classes × runs"]
               + (["Real vs synthetic"] if origins else []))
for tab, metric in zip(tabs, reports.DASHBOARD_METRICS):
    tab.plotly_chart(reports.metric_bars(frame, metric, dsaii_means=dsaii, reference=reference), config=PNG,
                     key=f"bench_bars_{metric}")
with tabs[len(reports.DASHBOARD_METRICS)]:
    heat_metric = st.selectbox("Metric", METRICS, format_func=reports.METRIC_LABELS.get, key="bench_heat_metric")
    st.plotly_chart(reports.runs_heatmap(frame, heat_metric), config=PNG, key="bench_heatmap")
if origins:
    with tabs[-1]:
        st.caption("Classes with both real anomalies (imported) and synthetic ones (made here): each metric on the "
                   "normals with the real anomalies only, with the synthetic ones only, and with all of them.")
        origin_metric = st.selectbox("Metric", METRICS, format_func=reports.METRIC_LABELS.get,
                                     key="bench_origin_metric")
        st.plotly_chart(reports.origin_bars(frame, origin_metric), config=PNG, key="bench_origin_bars")

table = reports.wide_table(frame)
st.dataframe(table.style.format(precision=4, na_rep="—"), width="stretch")
st.caption("— : the class has no anomalies (or no masks) in that run, so the metric is undefined."
           + (" anomalies: which of a class's anomalies the row scores (all, real only, synthetic only)."
              if origins else ""))
st.download_button("Download CSV", table.to_csv(float_format="%.6f"), file_name="benchmark.csv", mime="text/csv")
st.caption("PNG: the camera icon at the top right of each chart.")

st.subheader("One class of one run")
cols = st.columns(2)
run_id = cols[0].selectbox("Run", chosen, format_func=labels.get, key="bench_detail_run")
scored, unscored = reports.classes_with_anomalies(frame, run_id)
classes = scored + unscored
current = current_class()
class_name = cols[1].selectbox("Class", classes, key="bench_detail_class",
                               index=classes.index(current.name) if current and current.name in scored else 0,
                               format_func=lambda name: name if name in scored else f"{name} (no anomalies)")
if class_name not in scored:
    st.info(f"{class_name} has no anomalies in this run's test set, so there is no ROC or PRO to draw. "
            "Accept anomalies for it on **Review** (or import real ones), then run the detector again.")
    st.stop()
with user_errors():
    curves, cases = class_detail(str(ws.root), run_id, class_name)
    left, right = st.columns(2)
    left.plotly_chart(reports.curves_figure(curves, f"ROC · {class_name}", names=["image ROC", "pixel ROC"]),
                      config=PNG, key="bench_roc")
    right.plotly_chart(reports.curves_figure(curves, f"PRO · {class_name}", names=["PRO"], fpr_limit=0.3),
                       config=PNG, key="bench_pro")
    low, high = reports.cases_range(cases)
    st.markdown("**Worst false positives and false negatives** (map over the image, ground truth outlined in green)")
    image_grid([reports.case_overlay(c, low, high) for c in cases],
               [f"{c.kind} · {c.key} · score {c.score:.3f}" for c in cases], columns=4)
