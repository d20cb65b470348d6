"""Object masks: where the object is in each normal image, so defects land on it — generated, reviewed, fixed."""

from pathlib import Path

import numpy as np
import streamlit as st

from dsaii_core import imageio, jobs
from dsaii_core.masks import editor, objects
from dsaii_core.masks.object_job import JOB_KIND, job_reports, start_object_mask_job
from dsaii_core.masks.sam_config import SamConfig
from dsaii_core.masks.objects import ObjectMaskParams
from dsaii_core.masks.select import DOUBTFUL_BELOW
from dsaii_core.overlay import overlay_mask
from app_pages._ui import (admin_note, cached_thumbnail, current_workspace, is_admin, paginate, require_class,
                           reviewer, show_told, tell, undo_mine, user_errors)
from app_pages import _jobs
from app_pages.mask_editor import mask_editor

COLUMNS = 4
PER_PAGE = 24  # doubtful masks come first, so the first page holds what needs a look
THUMB = 256
TOOLS = ("Edit", "Candidates")

ws = current_workspace()
cls = require_class()
user = reviewer()
st.title("Object masks")
st.caption("Each normal image of an object class gets a mask of the object, so anomalies are placed on it and not "
           "on the background. Doubtful masks come first: open one to fix it in the editor (clicks, brush, shapes) or "
           "to pick another candidate.")


@st.cache_resource(show_spinner="Loading Segment Anything…", max_entries=2)
def load_backend(checkpoint: str, model_type: str | None, stamp: float, cache_dir: str):
    """The SAM backend for a checkpoint, loaded once per process (stamp: file mtime, so a new file reloads)."""
    from dsaii_core.masks.sam import SamBackend, SamConfig
    return SamBackend.load(SamConfig(Path(checkpoint), model_type), cache_dir=Path(cache_dir))


def sam_backend():
    """The configured SAM, or None (then GrabCut); shows what a checkpoint would add and where to set it."""
    from dsaii_core.masks.sam_config import MODEL_TYPES, SamConfig
    with user_errors():
        config = SamConfig.resolve(ws.catalog)
    if not is_admin():  # a checkpoint is code the server loads: a server-side setting
        admin_note(f"SAM checkpoint: {config.checkpoint if config else 'none'}")
    else:
        with st.expander("Segment Anything (SAM)", expanded=False):
            st.caption("A local SAM checkpoint (sam_vit_b_01ec64.pth, ViT-L or ViT-H; .pth or .safetensors). Also "
                       "read from DSAII_SAM_CHECKPOINT / DSAII_SAM_MODEL, or `object-masks --sam-checkpoint` in the "
                       "CLI.")
            path = st.text_input("Checkpoint file", value=str(config.checkpoint) if config else "",
                                 key="om_sam_path")
            model = st.selectbox("Model type", ["from the weights", *MODEL_TYPES[:3]], key="om_sam_model")
            if st.button("Use this checkpoint", key="om_sam_save", disabled=not path.strip()):
                chosen = SamConfig(Path(path.strip()).expanduser(), None if model == "from the weights" else model)
                with user_errors():
                    load_backend(str(chosen.checkpoint), chosen.model_type, chosen.checkpoint.stat().st_mtime
                                 if chosen.checkpoint.is_file() else 0.0, str(ws.cache_dir / "sam"))
                    chosen.save(ws.catalog)
                    st.rerun()
    if config is None:
        st.info("No SAM checkpoint configured: masks come from GrabCut and a colour-saliency threshold, which need no "
                "weights and work well on objects against a plain background. A SAM checkpoint would add many more "
                "candidates per image (one per object part), one-click masks of any part, and refining a mask from "
                "a few clicks. Set one under **Segment Anything (SAM)** above (an admin, on a server).")
        return None
    with user_errors():
        stamp = config.checkpoint.stat().st_mtime if config.checkpoint.is_file() else 0.0
        backend = load_backend(str(config.checkpoint), config.model_type, stamp, str(ws.cache_dir / "sam"))
        st.caption(f"SAM: {config.checkpoint.name} on {backend.model.device}")
        return backend
    return None


@st.cache_data(show_spinner=False, max_entries=2000)
def overlay_thumbnail(image_file: str, mask_file: str, opacity: float) -> np.ndarray:
    """Image with its mask tinted and outlined, thumbnail size (workspace files never change in place)."""
    image = cached_thumbnail(image_file, THUMB)
    mask = imageio.read_mask(Path(mask_file), shape=image.shape[:2], resize=True)
    return overlay_mask(image, mask, opacity=opacity)


def badge(row: objects.ReviewRow) -> str:
    if row.mask is None:
        return ":gray-badge[no mask]"
    if row.accepted:
        return ":blue-badge[:material/check: checked]"
    colour = "orange" if row.confidence < DOUBTFUL_BELOW else "green"
    word = "doubtful" if row.confidence < DOUBTFUL_BELOW else "likely"
    return f":{colour}-badge[{word} {row.confidence:.2f}]"


def open_item(item_id: int) -> None:
    st.session_state["om_item"] = item_id


def accept(item_id: int) -> None:
    with user_errors():
        objects.accept(ws, ws.catalog.item(item_id), user)
        tell("Mask accepted")


def undo() -> None:
    undo_mine(ws, cls, ("object_mask",))


def job_summary(job: jobs.Job) -> str | None:
    """What a finished job did for this class (None when the class was not among its classes)."""
    report = job_reports(ws, job).get(cls.id)
    return report.summary() if report is not None else None


def generate_panel(backend) -> None:
    c1, c2, c3 = st.columns([1, 1, 1])
    methods = ("auto", "sam", "grabcut")
    method = c1.radio("Method", methods, horizontal=True, key="om_method", format_func={
        "auto": "Auto", "sam": "SAM", "grabcut": "GrabCut (no weights)"}.get)
    rule = c2.radio("Choose by", ("objectness", "largest_bbox"), horizontal=True, key="om_rule", format_func={
        "objectness": "object-likeness", "largest_bbox": "reference (largest box, inverted)"}.get)
    redo = c3.checkbox("Redo images that have a mask", key="om_redo")
    auto = None
    if backend is not None:
        from dsaii_core.masks.sam_config import AutoParams
        with st.expander("SAM automatic mask parameters"):
            a1, a2, a3 = st.columns(3)
            auto = AutoParams(points_per_side=a1.number_input("Points per side", 1, 64, 32, key="om_pps"),
                              pred_iou_thresh=a2.slider("Predicted IoU threshold", 0.0, 1.0, 0.88, key="om_iou"),
                              stability_score_thresh=a3.slider("Stability threshold", 0.0, 1.0, 0.95,
                                                               key="om_stab"))
    g1, g2, g3 = st.columns([2, 1, 1])
    running = _jobs.running(ws, JOB_KIND, cls.id)
    if g1.button("Generate object masks", type="primary", icon=":material/auto_awesome:", width="stretch",
                 key="om_generate", disabled=running,
                 help="A job is making this class's masks (below)" if running else None):
        if redo or any(ws.object_mask(item) is None for item in objects.object_items(ws, cls)):
            with user_errors():
                config = SamConfig.resolve(ws.catalog) if backend is not None else None
                _jobs.start(ws, start_object_mask_job(ws, [cls], ObjectMaskParams(method, rule, redo, auto), config,
                                                      user), "image")
        else:
            st.info("Every image has an object mask: tick **Redo images that have a mask** to replace them.")
    g2.button("Undo", icon=":material/undo:", on_click=undo, width="stretch", key="om_undo")
    if g3.button("It is a texture", icon=":material/texture:", width="stretch", key="om_texture",
                 help="The whole image is the texture: no object mask needed (undoable)."):
        objects.mark_texture(ws, cls, user)
        st.rerun()
    _jobs.job_panel(ws, JOB_KIND, f"om_jobs_{cls.id}", _jobs.started_by, class_id=cls.id, item="image",
                    summary=job_summary)


def grid(opacity: float) -> None:
    rows = objects.review_rows(ws, cls)
    if not rows:
        st.info("This class has no kept normal images yet (keep some on the **Curate** page).")
        return
    done = sum(r.mask is not None for r in rows)
    doubtful = sum(r.mask is not None and not r.accepted and r.confidence < DOUBTFUL_BELOW for r in rows)
    st.caption(f"{done} of {len(rows)} images have an object mask · {doubtful} doubtful · "
               f"{sum(r.accepted for r in rows)} checked")
    shown = paginate(rows, PER_PAGE, "om_page")  # the page picker above the grid, as on the other pages
    columns = st.columns(COLUMNS)
    for index, row in enumerate(shown):
        with columns[index % COLUMNS], st.container(border=True):
            image_file = str(ws.path(row.item.file))
            picture = (overlay_thumbnail(image_file, str(ws.path(row.mask.file)), opacity) if row.mask is not None
                       else cached_thumbnail(image_file, THUMB))
            st.image(picture, width="stretch")
            st.markdown(f"**{Path(row.item.file).name}** {badge(row)}")
            b1, b2 = st.columns(2)
            # No icons on tile buttons: at four tiles a row, icon and label do not both fit.
            b1.button("Open", key=f"om_open_{row.item.id}", on_click=open_item,
                      args=(row.item.id,), width="stretch")
            b2.button("Accept", key=f"om_accept_{row.item.id}", on_click=accept,
                      args=(row.item.id,), width="stretch", disabled=row.mask is None or row.accepted)


def save(item, mask: np.ndarray, source: str = "editor") -> None:
    """Store an edited mask at once (undoable) unless it equals the current one."""
    current = objects.current_mask(ws, item)
    if current is not None and np.array_equal(current > 0, np.asarray(mask) > 0):
        return
    objects.save_fix(ws, item, mask, source, user)
    tell("Saved")


def candidates_tool(item, backend, opacity: float) -> None:
    with user_errors():
        with st.spinner("Finding candidates…"):
            candidates = objects.item_candidates(ws, item, backend)
        image = cached_thumbnail(str(ws.path(item.file)), THUMB)
        columns = st.columns(4)
        for k, candidate in enumerate(candidates):
            small = imageio.thumbnail(imageio.binarize(candidate.mask), THUMB)
            with columns[k % 4]:
                st.image(overlay_mask(image, small, opacity=opacity), width="stretch",
                         caption=f"{k}: {candidate.source} · {100 * candidate.mask.mean():.0f} %")
                u1, u2 = st.columns(2)
                if u1.button("Use", key=f"om_use_{item.id}_{k}", width="stretch"):
                    objects.pick_candidate(ws, item, candidates, k, user=user)
                    st.rerun()
                if u2.button("Inverse", key=f"om_inv_{item.id}_{k}", width="stretch",
                             help="Use the inverse of this candidate (the background of it)"):
                    objects.pick_candidate(ws, item, candidates, k, inverted=True, user=user)
                    st.rerun()


def edit_tool(item, backend, current) -> None:
    """The mask editor on the image's saved object mask; clicks are answered by SAM, else GrabCut."""
    st.caption(("SAM" if backend is not None else "GrabCut (no SAM checkpoint)") + " answers the object point "
               "(green), background point (red) and box (blue) prompts. Edits stay in the editor, with their own "
               "undo, until you save (Enter); the page's Undo reverts a saved edit.")

    def answer(request: editor.PromptRequest) -> np.ndarray:
        return editor.answer_prompt(ws.read_image(item), request.prompt, backend, request.base).mask

    mask_editor(f"om_editor_{item.id}", ws.path(item.file), (item.height, item.width),
                ws.path(current.file) if current is not None else None,
                f"mask {current.id}" if current is not None else "none",
                save=lambda mask: save(item, mask), answer=answer, label="Object area")


def detail(item_id: int, backend, opacity: float) -> None:
    item = ws.catalog.item(item_id)
    current = ws.object_mask(item)
    st.subheader(f"{Path(item.file).name}")
    left, right = st.columns([3, 2], vertical_alignment="center")
    with left:
        tool = st.radio("Tool", TOOLS, horizontal=True, key="om_tool", label_visibility="collapsed",
                        format_func={"Edit": "Edit the mask", "Candidates": "Pick a candidate"}.get)
        if current is not None:
            st.caption(f"Saved: {current.source} · {100 * (current.area or 0):.1f} % of the image"
                       + (" · checked" if current.params.get("accepted") else f" · confidence {current.confidence}"))
        else:
            st.caption("No mask saved yet")
    with right:
        b1, b2, b3 = st.columns(3)
        b1.button("Accept", key="om_accept_open", type="primary", icon=":material/check:", on_click=accept,
                  args=(item.id,), disabled=current is None or bool(current.params.get("accepted")),
                  width="stretch")
        b2.button("Undo", key="om_undo_open", icon=":material/undo:", on_click=undo, width="stretch",
                  help="Revert your last saved change of an object mask")
        if b3.button("Close", key="om_close", icon=":material/close:", width="stretch"):
            st.session_state.pop("om_item", None)
            st.rerun()
    if tool == "Candidates":
        candidates_tool(item, backend, opacity)
    else:
        edit_tool(item, backend, current)


show_told()
if cls.is_texture:
    st.info(f"**{cls.name}** is a texture class: the whole image is the texture, so it needs no object mask.")
    if st.button("It is an object class", key="om_object"):
        ws.catalog.update_class(cls, user=user, kind="object")
        st.rerun()
    st.stop()

backend = sam_backend()
generate_panel(backend)
opacity = st.slider("Overlay opacity", 0.0, 1.0, 0.35, 0.05, key="om_opacity")
if st.session_state.get("om_item") is not None:
    with st.container(border=True):
        detail(st.session_state["om_item"], backend, opacity)
grid(opacity)
