"""Review: accept, reject or regenerate synthetic anomalies; bulk accept what passes QC; undo."""

import getpass

import streamlit as st

from dsaii_core.inpaint import review
from dsaii_core.inpaint.generate import BACKENDS
from dsaii_core.inpaint.qc import FLAG_LABELS
from dsaii_core.jobs import list_jobs
from pages._ui import current_class, current_workspace, user_errors

STATUS_CHOICES = {"pending": ("pending",), "accepted": ("accepted",), "rejected": ("rejected",),
                  "all": review.REVIEWABLE}
QC_CHOICES = {"any": None, "passed QC": "passed", "flagged": "flagged", **{v: k for k, v in FLAG_LABELS.items()}}

st.title("Review")
ws = current_workspace()
cls = current_class()
if cls is None:
    st.info("This workspace has no classes yet. Import images on the **Collect** page.")
    st.stop()
user = st.sidebar.text_input("Reviewer", value=st.session_state.get("reviewer") or getpass.getuser(), key="reviewer",
                             help="Saved with every decision.")

progress = review.class_progress(ws)
with st.expander("Progress per class", expanded=True):
    for row in progress:
        st.progress(row.fraction, text=f"**{row.name}**: {row.accepted} accepted of {row.target} "
                                        f"· {row.pending} pending · {row.rejected} rejected")
    target = st.number_input(f"Target for {cls.name}", 0, 100_000, review.class_target(ws, cls), key="target")
    if target != review.class_target(ws, cls):
        review.set_target(ws, cls, int(target), user=user)
        st.rerun()

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

actions = st.columns(3)
if actions[0].button("Accept all that pass QC", type="primary", key="accept_passing"):
    with user_errors():
        count = review.accept_passing_qc(ws, scope_class.id if scope_class else None, user=user)
        st.toast(f"Accepted {count} anomalies that passed QC")
undo_class = scope_class or cls
if actions[1].button(f"Undo last decision ({undo_class.name})", key="undo"):
    undone = ws.catalog.undo_batch(undo_class.id)
    st.toast(f"Undid {len(undone)} decision(s)" if undone else "Nothing to undo")
running = [j for j in list_jobs(ws.catalog, "inpaint", limit=5) if j.active]
if running:
    actions[2].caption(f"⏳ {len(running)} inpaint job(s) running: new results appear here when they land")


@st.fragment
def grid() -> None:
    tiles = review.tiles(ws, scope_class.id if scope_class else None, STATUS_CHOICES[status],
                         QC_CHOICES[qc_choice], None if backend == "any" else backend)
    if not tiles:
        st.info("No synthetic anomalies match. Make some on the **Inpaint** page.")
        return
    pages = (len(tiles) + per_page - 1) // per_page
    page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="review_page") if pages > 1 else 1
    zoom = st.session_state.get("zoom")
    if zoom is not None and any(t.anomaly.id == zoom for t in tiles):
        tile = next(t for t in tiles if t.anomaly.id == zoom)
        st.image(review.tile_strip(ws, tile, 1024), caption=f"#{tile.anomaly.id} · normal | anomaly | mask · "
                 f"{tile.anomaly.info.get('backend_label', tile.backend)} · seed {tile.anomaly.seed}",
                 width="stretch")
        if st.button("Close zoom", key="close_zoom"):
            st.session_state.pop("zoom")
            st.rerun(scope="fragment")
    columns = st.columns(3)
    for index, tile in enumerate(tiles[(page - 1) * per_page: page * per_page]):
        item = tile.anomaly
        with columns[index % 3].container(border=True):
            st.image(review.tile_strip(ws, tile, 256), width="stretch")
            st.caption(f"#{item.id} · {tile.class_name} · {tile.backend} · **{item.status}**  \n{tile.qc_text()}")
            buttons = st.columns(4)
            if buttons[0].button("Accept", key=f"accept_{item.id}", disabled=item.status == "accepted"):
                review.decide(ws, [item.id], "accepted", user=user)
                st.rerun(scope="fragment")
            if buttons[1].button("Reject", key=f"reject_{item.id}", disabled=item.status == "rejected"):
                review.decide(ws, [item.id], "rejected", user=user)
                st.rerun(scope="fragment")
            if buttons[2].button("Regenerate", key=f"regen_{item.id}"):
                with user_errors(), st.spinner("Regenerating…"):
                    job = review.regenerate(ws, item.id, user=user, prompt=regen_prompt or None,
                                            strength=regen_strength if change_strength else None)
                    st.toast("Regenerated" if job.state == "done" else f"Job {job.id} started: the new result "
                             "appears here when it lands")
                st.rerun(scope="fragment")
            if buttons[3].button("Zoom", key=f"zoom_{item.id}"):
                st.session_state["zoom"] = item.id
                st.rerun(scope="fragment")


grid()
