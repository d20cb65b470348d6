"""Curate: keep or drop candidate images in a paginated grid; near-duplicate groups sit together."""

import streamlit as st

from dsaii_core.collect import curate
from dsaii_core.collect.curate import CURATE_STATUSES, SORTS, CandidateFilter
from app_pages._ui import cached_thumbnail, current_workspace, require_class, reviewer, show_told, tell, undo_mine

COLUMNS = 4
THUMB = 192

ws = current_workspace()
cls = require_class()
st.title("Curate")
st.caption("Keep the images that show a normal, defect-free part; drop the rest. "
           "Near duplicates are shown side by side; every decision can be undone.")


def decide(item_ids: list[int], status: str) -> None:
    changed = curate.decide(ws, item_ids, status, reviewer())
    tell(f"{changed} image{'s' * (changed != 1)} {status}")


def keep_most_similar() -> None:
    count = int(st.session_state["curate_top_n"])
    curate.keep_most_similar(ws, cls, count, reviewer())
    tell(f"Kept the {count} most similar candidates, dropped the other candidates")


def drop_near_duplicates() -> None:
    tell(f"Dropped {curate.drop_near_duplicates(ws, cls, user=reviewer())} near duplicates")


def turn_page(delta: int) -> None:
    st.session_state["curate_page"] = max(0, st.session_state.get("curate_page", 0) + delta)


def tile(view: curate.CandidateView) -> None:
    with st.container(border=True):
        st.image(cached_thumbnail(str(ws.path(view.file)), THUMB), width="stretch")
        label, colour = view.badge
        group = f" · :material/content_copy: {view.group_size} alike" if view.group_size > 1 else ""
        similarity = f" · sim {view.similarity:.2f}" if view.similarity is not None else ""
        st.markdown(f":{colour}-badge[{label}] **{view.status}**{group}{similarity}")
        if view.source_url:
            st.caption(f"[{view.title or 'source'}]({view.page_url or view.source_url}) · {view.engine or ''}")
        left, right = st.columns(2)
        left.button("Keep", key=f"keep_{view.id}", on_click=decide, args=([view.id], "kept"),
                    disabled=view.status == "kept", width="stretch")
        right.button("Drop", key=f"drop_{view.id}", on_click=decide, args=([view.id], "dropped"),
                     disabled=view.status == "dropped", width="stretch")


@st.fragment
def grid() -> None:
    show_told()
    facets = curate.facets(ws, cls)
    f1, f2, f3, f4 = st.columns([2, 2, 2, 1])
    statuses = f1.multiselect("Status", CURATE_STATUSES, default=["candidate"], key="curate_status")
    licenses = f2.multiselect("License", list(facets.licenses), key="curate_license",
                              format_func=lambda v: f"{v or 'none'} ({facets.licenses[v]})")
    engines = f3.multiselect("Engine", list(facets.engines), key="curate_engine",
                             format_func=lambda v: f"{v or 'import'} ({facets.engines[v]})")
    sort = f4.selectbox("Order", SORTS, key="curate_sort")
    filters = CandidateFilter(tuple(statuses) or None, tuple(licenses) or None, tuple(engines) or None)
    per_page = st.session_state.get("curate_per_page", 40)
    page = curate.candidate_page(ws, cls, filters, page=st.session_state.get("curate_page", 0),
                                 per_page=per_page, sort=sort)
    st.session_state["curate_page"] = page.page
    shown = [v.id for v in page.items]

    b1, b2, b3, b4, b5 = st.columns(5)
    b1.button("Keep all on page", key="curate_keep_page", on_click=decide, args=(shown, "kept"), disabled=not shown)
    b2.button("Drop all on page", key="curate_drop_page", on_click=decide, args=(shown, "dropped"),
              disabled=not shown)
    b3.button("Drop near duplicates", key="curate_drop_dups", on_click=drop_near_duplicates,
              help="In each group of near duplicates keep one (a kept image, else the most similar).")
    with b4.popover("Keep most similar"):
        st.number_input("How many", 1, 10_000, 30, key="curate_top_n")
        st.button("Keep them, drop the other candidates", key="curate_keep_top", on_click=keep_most_similar)
    b5.button("Undo", key="curate_undo", on_click=undo_mine, args=(ws, cls, ("curate",)), icon=":material/undo:",
              help="Reverts your last decision (a bulk one entirely); colleagues' decisions stay.")

    st.caption(f"{page.total} images · {page.groups} near-duplicate groups ({page.duplicates} extra copies) · "
               f"page {page.page + 1} of {page.pages}")
    if not page.items:
        decided = {s: n for s, n in facets.statuses.items() if s != "candidate"}
        if statuses == ["candidate"] and decided and not facets.statuses.get("candidate"):
            st.success(f"Nothing left to decide: {', '.join(f'{n} {s}' for s, n in decided.items())}. "
                       "Next: **Object masks** (or pick *kept* / *dropped* under Status to revisit them).")
        else:
            st.info("No images match these filters. Crawl for candidates on the **Collect** page.")
        return
    columns = st.columns(COLUMNS)
    for index, view in enumerate(page.items):
        with columns[index % COLUMNS]:
            tile(view)
    p1, p2, p3 = st.columns([1, 1, 4])
    p1.button("◀ Previous", key="curate_prev", on_click=turn_page, args=(-1,), disabled=page.page == 0)
    p2.button("Next ▶", key="curate_next", on_click=turn_page, args=(1,), disabled=page.page >= page.pages - 1)
    p3.selectbox("Per page", (20, 40, 80, 160), index=1, key="curate_per_page")


grid()
