"""Inpaint: paint a defect into every (normal image, anomaly mask) pair, as a background job."""

import os

import streamlit as st

from dsaii_core import jobs
from dsaii_core.inpaint.base import PROMPT_PRESETS, InpaintParams, class_prompts
from dsaii_core.inpaint.classical import METHOD_LABELS
from dsaii_core.inpaint.diffusers_backend import SCHEDULERS
from dsaii_core.inpaint.generate import defect_sources, pending_pairs, start_inpaint_job
from dsaii_core.inpaint.webui_backend import save_auth, settings_from
from app_pages._ui import current_workspace, require_class, reviewer, user_errors

BACKEND_LABELS = {
    "classical": "Weight-free (built in, not diffusion)",
    "diffusers": "Stable Diffusion: local model (diffusers)",
    "webui": "Stable Diffusion web UI (HTTP API)",
}

st.title("Inpaint")
ws = current_workspace()
cls = require_class()
pairs = pending_pairs(ws, cls)
scope = st.radio("Classes", ["this class", "all classes"], horizontal=True, key="inpaint_scope")
classes = [cls] if scope == "this class" else ws.catalog.classes()
waiting = len(pairs) if scope == "this class" else sum(len(pending_pairs(ws, c)) for c in classes)
st.caption(f"{waiting} anomaly mask(s) wait for an anomaly "
           f"({'class ' + cls.name if scope == 'this class' else 'all classes'}). Make masks on the "
           "**Anomaly masks** page; results go to **Review**.")

backend = st.radio("Backend", list(BACKEND_LABELS), format_func=BACKEND_LABELS.get, horizontal=True, key="backend")
params = InpaintParams()
options: dict = {}
prompt = negative = None
if backend == "classical":
    method = st.selectbox("Method", ["auto", *METHOD_LABELS], key="method", format_func=lambda m: METHOD_LABELS.get(
        m, "Automatic: transplant real defects when the workspace has some, else procedural damage"))
    sources = len(defect_sources(ws, cls))
    st.info(f"These methods are **not diffusion**: they cut, blend and paint pixels, with no model and no prompt. "
            f"{sources} real defect image(s) are available to transplant"
            + ("." if sources else " (import real defects, e.g. an MVTec test folder, to use transplant)."))
    options = {"method": method}
else:
    default_prompt, default_negative = class_prompts(cls)
    preset = st.selectbox("Prompt preset", ["class prompt", *PROMPT_PRESETS], key="preset")
    prompt = st.text_input("Prompt", value=default_prompt if preset == "class prompt" else preset, key=f"prompt_{preset}")
    negative = st.text_input("Negative prompt", value=default_negative, key="negative")
    if st.button(f"Save as the prompt of {cls.name}", key="save_prompt"):
        ws.catalog.update_class(cls, user=reviewer(), prompt=prompt, negative_prompt=negative)
        st.toast("Saved")
    cols = st.columns(4)
    params = params.replace(steps=int(cols[0].number_input("Steps", 1, 200, params.steps, key="steps")),
                            strength=float(cols[1].slider("Strength", 0.05, 1.0, params.strength, 0.05, key="strength")),
                            guidance=float(cols[2].number_input("Guidance", 0.0, 30.0, params.guidance, key="guidance")),
                            dilate_px=int(cols[3].number_input("Context margin (px)", 0, 64, params.dilate_px,
                                                               key="dilate", help="Diffusion sees this much around "
                                                               "the mask; results never change a pixel off it.")))
    if backend == "diffusers":
        model = st.text_input("Model: a local diffusers folder or a .safetensors file",
                              value=ws.catalog.get_setting("diffusers.model", os.environ.get("DSAII_MODEL", "")),
                              key="model", help="Nothing is downloaded. SD 1.5 / SD 2 / SDXL inpainting models work.")
        config = st.text_input("Config folder (only for a .safetensors file)", key="config")
        cols = st.columns(4)
        params = params.replace(
            scheduler=cols[0].selectbox("Scheduler", [None, *SCHEDULERS], key="scheduler",
                                        format_func=lambda s: s or "model default"),
            batch_size=int(cols[1].number_input("Batch size", 1, 16, 1, key="batch")),
            attention_slicing=cols[2].checkbox("Attention slicing", key="slicing"),
            cpu_offload=cols[3].checkbox("CPU offload (CUDA)", key="offload"))
        options = {"model": model, "config": config or None}
    else:
        settings = settings_from(ws)
        url = st.text_input("Web UI URL", value=settings["url"], key="webui_url",
                            help="Start the web UI with --api (and --api-auth user:password if you set auth).")
        auth = st.text_input("Auth (user:password, optional)", value=settings["auth"] or "", type="password",
                             key="webui_auth", help="Kept in the workspace's credentials.json, readable by you only.")
        options = {"url": url}
seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="seed")

if st.button("Start inpainting", type="primary", disabled=waiting == 0, key="start"):
    with user_errors():
        if backend == "diffusers" and options["model"]:
            ws.catalog.set_setting("diffusers.model", options["model"])
        if backend == "webui":
            ws.catalog.set_setting("webui.url", url)
            save_auth(ws, auth)
        job = start_inpaint_job(ws, classes, backend, options=options, params=params, prompt=prompt,
                                negative_prompt=negative, seed=int(seed), user=reviewer())
        jobs.start_worker(ws, job.id)
        st.toast(f"Job {job.id} started in the background: {job.total} image(s)")


def resume(job_id: int) -> None:
    jobs.prepare_resume(ws.catalog, job_id)
    jobs.start_worker(ws, job_id)


@st.fragment(run_every=2)
def job_panel() -> None:
    recent = jobs.list_jobs(ws.catalog, "inpaint", limit=5)
    active = {j.id for j in recent if j.active}
    ended = st.session_state.get("inpaint_active", set()) - active
    st.session_state["inpaint_active"] = active
    if ended:
        st.rerun()  # a job ended: redraw the page, so the count of masks waiting above is current again
    if not recent:
        return
    st.subheader("Jobs")
    for job in recent:
        with st.container(border=True):
            failed = f" · {job.failed} failed" if job.failed else ""
            where = f" · on {job.runs_on}" if job.runs_on else ""
            st.progress(job.fraction, text=f"Job {job.id} · {job.params.get('backend')} · **{job.state}** · "
                                           f"{job.done} of {job.total} done{failed}{where}")
            if job.error:
                st.caption(f"⚠️ {job.error}")
            for key, error in jobs.item_errors(ws.catalog, job.id, limit=3):
                st.caption(f"mask {key}: {error}")
            cols = st.columns(4)
            if job.active:
                cols[0].button("Cancel", key=f"cancel_{job.id}", on_click=jobs.request_cancel, args=(ws.catalog, job.id))
            if job.resumable:
                cols[1].button("Resume", key=f"resume_{job.id}", on_click=resume, args=(job.id,))


job_panel()
