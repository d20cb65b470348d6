"""Review: accept, reject or regenerate synthetic anomalies; bulk accept what passes QC; undo."""

import streamlit as st

from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint import review
from dsaii_core.inpaint.generate import BACKENDS
from dsaii_core.inpaint.qc import FLAG_LABELS
from dsaii_core.jobs import list_jobs
from app_pages._ui import current_class, current_workspace, paginate, reviewer, show_told, tell, undo_mine

STATUS_CHOICES = {"pending": ("pending",), "accepted": ("accepted",), "rejected": ("rejected",),
                  "all": review.REVIEWABLE}
QC_CHOICES = {"any": None, "passed QC": "passed", "flagged": "flagged", **{v: k for k, v in FLAG_LABELS.items()}}

st.title("Review")
ws = current_workspace()
cls = current_class()
if cls is None:
    st.info("This workspace has no classes yet. Import images on the **Collect** page.")
    st.stop()
user = reviewer()

names = [c.name for c in ws.catalog.classes()]
cols = st.columns([2, 1, 1, 1, 1])
scope = cols[0].selectbox("Class", ["all classes", *names], index=1 + names.index(cls.name), key="review_class")
status = cols[1].selectbox("Status", list(STATUS_CHOICES), key="review_status")
qc_choice = cols[2].selectbox("QC", list(QC_CHOICES), key="review_qc")
backend = cols[3].selectbox("Backend", ["any", *BACKENDS], key="review_backend")
per_page = cols[4].selectbox("Per page", [6, 12, 24, 48], index=1, key="review_per_page")
scope_class = None if scope == "all classes" else ws.get_class(scope)

with st.expander("Regenerate with"):
    regen_prompt = st.text_input("Prompt (empty: as before; diffusion backends only)", key="regen_prompt")
    regen_strength = st.slider("Strength (diffusion backends)", 0.1, 1.0, 0.75, 0.05, key="regen_strength")
    change_strength = st.checkbox("Use this strength", key="regen_use_strength")

def act(function, *args, **kwargs) -> None:
    """A button callback: run a review action, keep its message for the next run."""
    try:
        message = function(*args, **kwargs)
    except DsaiiError as exc:
        st.session_state["review_error"] = str(exc)
        return
    if isinstance(message, str):
        tell(message)


def regenerate(item_id: int) -> str:
    job = review.regenerate(ws, item_id, user=user, prompt=regen_prompt or None,
                            strength=regen_strength if change_strength else None)
    return "Regenerated" if job.state == "done" else f"Job {job.id} started: the new result appears when it lands"


def zoom(item_id: int | None) -> None:
    st.session_state["zoom"] = item_id


actions = st.columns(3)
undo_class = scope_class or cls
actions[0].button("Accept all that pass QC", type="primary", key="accept_passing", on_click=act, args=(
    lambda: f"Accepted {review.accept_passing_qc(ws, scope_class.id if scope_class else None, user=user)} "
            "anomalies that passed QC",))
actions[1].button(f"Undo my last decision ({undo_class.name})", key="undo", on_click=undo_mine,
                  args=(ws, undo_class, ("review",)))
running = [j for j in list_jobs(ws.catalog, "inpaint", limit=5) if j.active]
if running:
    actions[2].caption(f"⏳ {len(running)} inpaint job(s) running: new results appear here when they land")


@st.fragment(run_every=2 if running else None)  # while inpainting, new results show up as they land
def grid() -> None:
    if running and not any(j.active for j in list_jobs(ws.catalog, "inpaint", limit=5)):
        st.rerun()  # the jobs ended: redraw the whole page (no stale caption, no more polling)
    if "review_error" in st.session_state:
        st.error(st.session_state.pop("review_error"))
    show_told()
    with st.expander("Progress per class", expanded=True):
        for row in review.class_progress(ws):
            st.progress(row.fraction, text=f"**{row.name}**: {row.accepted} accepted of {row.target} "
                                           f"· {row.pending} pending · {row.rejected} rejected")
        st.number_input(f"Target for {cls.name}", 0, 100_000, review.class_target(ws, cls), key="target",
                        on_change=lambda: act(review.set_target, ws, cls, int(st.session_state["target"]), user))
    tiles = review.tiles(ws, scope_class.id if scope_class else None, STATUS_CHOICES[status],
                         QC_CHOICES[qc_choice], None if backend == "any" else backend)
    if not tiles:
        st.info("No synthetic anomalies match. Make some on the **Inpaint** page.")
        return
    shown = paginate(tiles, per_page, "review_page")
    zoomed = st.session_state.get("zoom")
    if zoomed is not None and any(t.anomaly.id == zoomed for t in tiles):
        tile = next(t for t in tiles if t.anomaly.id == zoomed)
        st.image(review.tile_strip(ws, tile, 1024), caption=f"#{tile.anomaly.id} · normal | anomaly | mask · "
                 f"{tile.anomaly.info.get('backend_label', tile.backend)} · seed {tile.anomaly.seed}"
                 + (f" · {tile.source_text}" if tile.source_text else ""), width="stretch")
        st.button("Close zoom", key="close_zoom", on_click=zoom, args=(None,))
    columns = st.columns(3)
    for index, tile in enumerate(shown):
        item = tile.anomaly
        with columns[index % 3].container(border=True):
            st.image(review.tile_strip(ws, tile, 256), width="stretch")
            st.caption(f"#{item.id} · {tile.class_name} · {tile.backend} · **{item.status}**  \n{tile.qc_text()}"
                       + (f"  \n{tile.source_text}" if tile.source_text else ""))  # where the defect came from
            top, bottom = st.columns(2), st.columns([3, 2])
            top[0].button("Accept", key=f"accept_{item.id}", width="stretch",
                          disabled=item.status == "accepted",
                          on_click=act, args=(review.decide, ws, [item.id], "accepted", user))
            top[1].button("Reject", key=f"reject_{item.id}", width="stretch",
                          disabled=item.status == "rejected",
                          on_click=act, args=(review.decide, ws, [item.id], "rejected", user))
            bottom[0].button("Regenerate", key=f"regen_{item.id}", width="stretch",
                             on_click=act, args=(regenerate, item.id))
            bottom[1].button("Zoom", key=f"zoom_{item.id}", width="stretch",
                             on_click=zoom, args=(item.id,))


grid()
