"""Anomaly masks: where each normal image gets its defect — from the mask bank, procedural, or drawn by hand."""

from pathlib import Path

import numpy as np
import streamlit as st

from dsaii_core import imageio, jobs
from dsaii_core.masks import anomaly
from dsaii_core.masks.anomaly_job import JOB_KIND, job_reports, start_anomaly_mask_job
from dsaii_core.masks.augment import FALLBACKS, SHAPES, AugmentParams
from dsaii_core.masks.bank import add_uploaded_masks, import_bank
from dsaii_core.overlay import overlay_mask
from app_pages._ui import (cached_thumbnail, current_workspace, paginate, require_class, reviewer, show_told, tell,
                           undo_mine, user_errors, user_path)
from app_pages import _jobs
from app_pages.mask_editor import mask_editor

COLUMNS = 4
PER_PAGE = 12
THUMB = 256
VIEWS = ("Generate", "Draw", "Mask bank")
NEW_MASK = 0  # mask ids start at 1; None would show as an empty choice

ws = current_workspace()
cls = require_class()
st.title("Anomaly masks")
st.caption("Each normal image gets one or more masks saying where a defect will be inpainted. The bank rule is "
           "the reference gen_mask.py's: a random real defect mask, randomly rotated, moved, scaled, sheared and "
           "flipped, kept on the object, resampled until it covers the area range.")


@st.cache_data(show_spinner=False, max_entries=2000)
def overlay_thumbnail(image_file: str, mask_file: str) -> np.ndarray:
    """Image with its mask tinted and outlined, thumbnail size (workspace files never change in place)."""
    image = cached_thumbnail(image_file, THUMB)
    mask = imageio.read_mask(Path(mask_file), shape=image.shape[:2], resize=True)
    return overlay_mask(image, mask)


PARAMETER_KEYS = ("am_source", "am_per_image", "am_seed", "am_area", "am_degrees", "am_scale", "am_translate",
                  "am_shear", "am_hflip", "am_vflip", "am_retries", "am_fallback", "am_shapes", "am_bank_sources")


def parameter_form(saved: AugmentParams) -> AugmentParams:
    """The class's parameters as widgets (saved values first); returns what they say now.

    The widgets are seeded afresh for each class and kind: Streamlit keeps a widget's value across reruns, so
    one class's area range would otherwise be shown, and saved, for the next (a texture with an object's 1–5 %).
    """
    owner = f"{cls.id}:{cls.kind}"
    if st.session_state.get("am_parameters_of") != owner:
        for key in PARAMETER_KEYS:
            st.session_state.pop(key, None)
        st.session_state["am_parameters_of"] = owner
    c1, c2, c3 = st.columns(3)
    source = c1.radio("Source", ("bank", "procedural"), index=("bank", "procedural").index(saved.source),
                      horizontal=True, key="am_source",
                      format_func={"bank": "Mask bank", "procedural": "Procedural"}.get)
    per_image = c2.number_input("Masks per image", 1, 100, saved.per_image, key="am_per_image")
    seed = c3.number_input("Seed", 0, 2**31 - 1, saved.seed, key="am_seed")
    low, high = st.slider("Defect area (% of the image)", 0.1, 50.0, (100 * saved.area[0], 100 * saved.area[1]),
                          0.1, key="am_area", help="Reference: 1–5 % for objects, 5–10 % for textures.")
    with st.expander("Augmentation and retries"):
        a1, a2 = st.columns(2)
        degrees = a1.slider("Rotation (°)", 0.0, 360.0, tuple(saved.degrees), key="am_degrees")
        scale = a2.slider("Scale", 0.01, 4.0, tuple(saved.scale), key="am_scale")
        translate = a1.slider("Translate (fraction of the frame)", 0.0, 1.0, saved.translate[0], 0.05,
                              key="am_translate")
        shear = a2.slider("Shear x (°)", -45.0, 45.0, tuple(saved.shear[:2]), key="am_shear",
                          help="torchvision's shear=(10, 10) is an x-shear of exactly 10°.")
        hflip = a1.slider("Horizontal flip probability", 0.0, 1.0, saved.hflip, key="am_hflip")
        vflip = a2.slider("Vertical flip probability", 0.0, 1.0, saved.vflip, key="am_vflip")
        retries = a1.number_input("Retries", 0, 100_000, saved.retries, key="am_retries")
        fallback = a2.selectbox("When nothing fits", FALLBACKS, index=FALLBACKS.index(saved.fallback),
                                key="am_fallback", format_func={"closest": "keep the closest try (and say so)",
                                                                "none": "write no mask (and say so)"}.get)
        shapes = st.multiselect("Procedural shapes", SHAPES, default=list(saved.shapes), key="am_shapes")
        known = sorted({row.source for row in ws.catalog.bank_masks()})
        bank_sources = st.multiselect("Bank masks from (all when empty)", known, key="am_bank_sources",
                                      default=[s for s in saved.bank_sources if s in known])
    return saved.replace(source=source, per_image=int(per_image), seed=int(seed), area=(low / 100, high / 100),
                         degrees=degrees, scale=scale, translate=(translate, translate), shear=shear,
                         hflip=hflip, vflip=vflip, retries=int(retries), fallback=fallback,
                         shapes=tuple(shapes) or saved.shapes, bank_sources=tuple(bank_sources))


def regenerate(mask_id: int, params: AugmentParams) -> None:
    with user_errors():
        report = anomaly.regenerate_mask(ws, ws.catalog.mask(mask_id), params, reviewer())
        tell("Regenerated" + (f" — {report.misses[0]}" if report.misses else ""))


def delete(mask_id: int) -> None:
    ws.catalog.delete_mask(mask_id, reviewer())
    tell("Mask deleted")


def edit(item_id: int, mask_id: int) -> None:
    st.session_state["am_view"] = "Draw"
    st.session_state["am_draw_item"] = item_id
    st.session_state["am_draw_mask"] = mask_id


def mask_grid(params: AugmentParams) -> None:
    rows = anomaly.anomaly_masks(ws, cls)
    if not rows:
        st.info("No anomaly masks yet: generate them above, or draw one.")
        return
    st.caption(f"{len(rows)} anomaly masks on {len({item.id for item, _ in rows})} images")
    shown = paginate(rows, PER_PAGE, "am_page")
    columns = st.columns(COLUMNS)
    for index, (item, mask) in enumerate(shown):
        with columns[index % COLUMNS], st.container(border=True):
            st.image(overlay_thumbnail(str(ws.path(item.file)), str(ws.path(mask.file))), width="stretch")
            fitted = "" if mask.params.get("fitted", True) else " · :orange-badge[outside range]"
            st.markdown(f"**{Path(item.file).name}** · {100 * (mask.area or 0):.2f} % · {mask.source}{fitted}")
            # Words, no icons, and borderless: at four tiles a row three bordered buttons show only their icons.
            b1, b2, b3 = st.columns(3, gap="xxsmall")
            b1.button("Edit", key=f"am_edit_{mask.id}", help="Edit this mask in the mask editor", type="tertiary",
                      on_click=edit, args=(item.id, mask.id), width="stretch")
            b2.button("New", key=f"am_regen_{mask.id}", help="Regenerate with a new seed", type="tertiary",
                      on_click=regenerate, args=(mask.id, params), width="stretch")
            b3.button("Delete", key=f"am_delete_{mask.id}", help="Delete this mask (undoable)", type="tertiary",
                      on_click=delete, args=(mask.id,), width="stretch")


def report_of(job: jobs.Job) -> anomaly.GenerationReport | None:
    """What a finished job did for this page's class (None while it runs, or when it was not among its classes)."""
    return job_reports(ws, job).get(cls.id) if job.state in ("done", "failed") else None


def job_summary(job: jobs.Job) -> str | None:
    report = report_of(job)
    return report.summary() if report is not None else None


def generate_view() -> None:
    saved = anomaly.class_params(cls)
    params = saved
    with user_errors():
        params = parameter_form(saved)
        g1, g2, g3 = st.columns([2, 1, 1])
        running = _jobs.running(ws, JOB_KIND, cls.id)
        if g1.button("Generate", type="primary", icon=":material/auto_awesome:", width="stretch", key="am_generate",
                     disabled=running, help="A job is making this class's masks (below)" if running else None):
            anomaly.save_class_params(ws, cls, params, reviewer())
            job = start_anomaly_mask_job(ws, [(cls, params)], reviewer())
            _jobs.start(ws, job, "image")
            st.session_state["am_job"] = (str(ws.root), cls.id, job.id)
        g2.button("Undo", icon=":material/undo:", on_click=undo_mine, args=(ws, cls, ("anomaly_mask",)),
                  width="stretch", key="am_undo")
        with g3.popover("Delete all", icon=":material/delete_sweep:", width="stretch"):
            st.caption("Deletes every anomaly mask of this class (one undo step).")
            if st.button("Delete them", key="am_delete_all"):
                tell(f"Deleted {anomaly.delete_anomaly_masks(ws, cls, reviewer())} masks")
                st.rerun()
    _jobs.job_panel(ws, JOB_KIND, f"am_jobs_{cls.id}", _jobs.started_by, class_id=cls.id, item="image",
                    summary=job_summary)
    mine = st.session_state.get("am_job")  # the notes of the user's last run of this class
    report = report_of(jobs.get_job(ws.catalog, mine[2])) if mine and mine[:2] == (str(ws.root), cls.id) else None
    if report is not None:
        for note in report.notes:
            st.info(note)
        if report.misses:
            with st.expander(f"{len(report.misses)} images without a mask in the area range"):
                st.text("\n".join(report.misses))
    with user_errors():
        mask_grid(params)


def save_drawing(item, mask_id: int | None, mask: np.ndarray) -> None:
    """Store the mask the editor saved (a new one, or a new version of `mask_id`) and edit it from now on."""
    saved = anomaly.save_drawn_mask(ws, item, mask, replaces=mask_id, user=reviewer())
    st.session_state["am_select_mask"] = saved.id  # for the mask picker, before it is drawn in this run
    tell(f"Saved ({100 * saved.area:.2f} %)")


def undo_drawing(mask_id: int | None) -> None:
    """The page's Undo in the draw view; an undone edit of the mask shown brings back the mask it replaced."""
    undo_mine(ws, cls, ("anomaly_mask",))
    shown = ws.catalog.mask(mask_id) if mask_id is not None else None
    if shown is not None and not shown.active and shown.replaces is not None:
        st.session_state["am_select_mask"] = shown.replaces


def draw_view() -> None:
    images = anomaly.normal_images(ws, cls)
    if not images:
        st.info("This class has no kept normal images yet.")
        return
    by_id = {item.id: item for item in images}
    if st.session_state.get("am_draw_item") not in by_id:
        st.session_state["am_draw_item"] = images[0].id
    if "am_select_mask" in st.session_state:
        st.session_state["am_draw_mask"] = st.session_state.pop("am_select_mask")
    c1, c2, c3 = st.columns([2, 3, 1], vertical_alignment="bottom")
    item = by_id[c1.selectbox("Image", list(by_id), format_func=lambda i: Path(by_id[i].file).name,
                              key="am_draw_item")]
    existing = {m.id: m for m in ws.catalog.masks(item_id=item.id, kind="anomaly")}
    if st.session_state.get("am_draw_mask") not in existing:
        st.session_state["am_draw_mask"] = NEW_MASK
    mask_id = c2.selectbox("Mask", [NEW_MASK, *existing], key="am_draw_mask",
                           format_func=lambda m: "a new mask" if m == NEW_MASK else
                           f"mask {m} ({existing[m].source}, {100 * (existing[m].area or 0):.2f} %)") or None
    c3.button("Undo", key="am_draw_undo", icon=":material/undo:", on_click=undo_drawing, args=(mask_id,),
              width="stretch", help="Revert your last saved change of an anomaly mask")
    st.caption("Paint the defect area; the live area is checked against this class's range (drawn masks may lie "
               "outside it). Edits stay in the editor, with their own undo, until you save (Enter).")
    mask = existing.get(mask_id) if mask_id is not None else None
    mask_editor(f"am_editor_{item.id}", ws.path(item.file), (item.height, item.width),
                ws.path(mask.file) if mask is not None else None, f"mask {mask_id}" if mask is not None else "new",
                save=lambda drawn: save_drawing(item, mask_id, drawn), area_range=anomaly.class_params(cls).area,
                label="Defect area")


def bank_view() -> None:
    rows = ws.catalog.bank_masks()
    st.caption(f"{len(rows)} defect masks from {len({r.source for r in rows})} sources. Imports of MVTec AD "
               "roots add their ground-truth masks here automatically.")
    with st.expander("Add masks to the bank", expanded=not rows):
        folder = st.text_input("Folder on this machine", key="am_bank_folder",
                               help="An MVTec AD root (*/ground_truth/*/*.png), a DSAII dataset (<class>/mask) "
                                    "or any folder of masks.")
        license = st.text_input("License of these masks", key="am_bank_license")
        uploads = st.file_uploader("…or upload mask images", accept_multiple_files=True, key="am_bank_upload",
                                   type=["png", "bmp", "tif", "tiff", "jpg", "jpeg"])
        if st.button("Add to the bank", key="am_bank_add"):
            with user_errors():
                if uploads:
                    report = add_uploaded_masks(ws, [(f.name, f.getvalue()) for f in uploads], source="upload",
                                                license=license or None)
                else:
                    report = import_bank(ws, [user_path(folder)], license=license or None)
                st.success(report.summary())
                for name, reason in report.rejected:
                    st.warning(f"{name}: {reason}")
                rows = ws.catalog.bank_masks()
    shown = rows[:60]
    captions = [f"{r.source} · {r.width}×{r.height}" + (f" · {r.license}" if r.license else "") for r in shown]
    columns = st.columns(6)
    for index, (row, caption) in enumerate(zip(shown, captions)):
        with columns[index % 6]:
            st.image(str(ws.path(row.file)), caption=caption, width="stretch")
    if len(rows) > len(shown):
        st.caption(f"… and {len(rows) - len(shown)} more")


show_told()
view = st.radio("View", VIEWS, horizontal=True, key="am_view", label_visibility="collapsed")
{"Generate": generate_view, "Draw": draw_view, "Mask bank": bank_view}[view]()
