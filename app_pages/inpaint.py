"""Inpaint: paint a defect into every (normal image, anomaly mask) pair, as a background job."""


import streamlit as st

from dsaii_core import settings
from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint.base import PROMPT_PRESETS, InpaintParams, class_prompts
from dsaii_core.inpaint.classical import METHOD_LABELS
from dsaii_core.inpaint.diffusers_backend import SCHEDULERS
from dsaii_core.inpaint.generate import defect_rows, pending_pairs, start_inpaint_job
from dsaii_core.inpaint.webui_backend import auth_for, needs_consent, origin, save_auth, save_url, settings_from
from app_pages import _jobs
from app_pages._ui import admin_note, current_workspace, is_admin, require_class, reviewer, user_errors

BACKEND_LABELS = {
    "classical": "Weight-free (built in, not diffusion)",
    "diffusers": "Stable Diffusion: local model (diffusers)",
    "webui": "Stable Diffusion web UI (HTTP API)",
}


def set_password(url: str) -> None:
    """Store the typed password for `url`'s origin and empty the field: it is never shown or sent back."""
    try:
        save_url(ws, url)  # the password is for this web UI: use it from now on
        save_auth(ws, url, st.session_state["webui_auth_new"],
                  plain_http_ok=bool(st.session_state.get(f"webui_plain_http {origin(url)}")))
        st.session_state["webui_told"] = f"Password stored for {origin(url)}"
    except DsaiiError as exc:
        st.session_state["webui_error"] = str(exc)
    st.session_state["webui_auth_new"] = ""


def remove_password(url: str) -> None:
    save_auth(ws, url, None)
    st.session_state["webui_told"] = f"Password removed for {origin(url)}"


def webui_settings() -> str:
    """The web UI's URL, and for an admin its write-only password: set, replaced or removed, never shown; it is
    kept per origin and sent to that origin only."""
    settings = settings_from(ws)
    if not is_admin():
        admin_note(f"Web UI: {settings['url']}" + (" · password stored" if settings["auth"] else ""))
        return settings["url"]
    url = st.text_input("Web UI URL", value=settings["url"], key="webui_url",
                        help="Start the web UI with --api (and --api-auth user:password if you set a password).")
    with user_errors():
        stored = auth_for(ws, url) is not None
        st.caption(f"Password for {origin(url)}: " + ("stored (sent to this address only)" if stored else "none"))
        c1, c2, c3 = st.columns([3, 1, 1])
        c1.text_input("user:password", type="password", key="webui_auth_new", label_visibility="collapsed",
                      placeholder="user:password (its --api-auth)",
                      help="Kept in the workspace's credentials.json (owner-only), never shown again.")
        if needs_consent(url):
            st.checkbox(f"Send it unencrypted: {origin(url)} is plain http on the network, trusted by me",
                        key=f"webui_plain_http {origin(url)}")
        c2.button("Replace" if stored else "Set", key="webui_auth_set", on_click=set_password, args=(url,),
                  width="stretch")
        c3.button("Remove", key="webui_auth_remove", on_click=remove_password, args=(url,), disabled=not stored,
                  width="stretch")
    if "webui_error" in st.session_state:
        st.error(st.session_state.pop("webui_error"))
    if "webui_told" in st.session_state:
        st.toast(st.session_state.pop("webui_told"))
    return url


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
    sources = len(defect_rows(ws, cls))  # counted in the catalog: nothing decoded on a rerun
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
        model, config = settings.get(ws.catalog, "diffusers.model"), settings.get(ws.catalog, "diffusers.config")
        if is_admin():  # a model file is code the server loads: a server-side setting
            model = st.text_input("Model: a local diffusers folder or a .safetensors file", value=model, key="model",
                                  help="Nothing is downloaded. SD 1.5 / SD 2 / SDXL inpainting models work.")
            config = st.text_input("Config folder (only for a .safetensors file)", value=config, key="config")
        else:
            admin_note(f"Model: {model or 'none yet'}")
        cols = st.columns(4)
        params = params.replace(
            scheduler=cols[0].selectbox("Scheduler", [None, *SCHEDULERS], key="scheduler",
                                        format_func=lambda s: s or "model default"),
            batch_size=int(cols[1].number_input("Batch size", 1, 16, 1, key="batch")),
            attention_slicing=cols[2].checkbox("Attention slicing", key="slicing"),
            cpu_offload=cols[3].checkbox("CPU offload (CUDA)", key="offload"))
        options = {"model": model, "config": config or None}
    else:
        url = webui_settings()
        options = {"url": url}
seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="seed")

if st.button("Start inpainting", type="primary", disabled=waiting == 0, key="start"):
    with user_errors():
        if backend == "diffusers" and options["model"] and is_admin():
            settings.put(ws.catalog, "diffusers.model", options["model"])
            settings.put(ws.catalog, "diffusers.config", options["config"] or "")
        if backend == "webui" and is_admin():
            save_url(ws, url)
        _jobs.start(ws, start_inpaint_job(ws, classes, backend, options=options, params=params, prompt=prompt,
                                          negative_prompt=negative, seed=int(seed), user=reviewer()), "image")


_jobs.job_panel(ws, "inpaint", "inpaint_jobs", lambda job: f"Job {job.id} · {job.params.get('backend')}",
                item="mask")
