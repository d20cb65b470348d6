"""Widgets shared by the pages: workspace and class picker, image grid, error reporting.

State that matters lives in the catalog; the session only remembers which workspace and class
are open (`workspace_path`, `class_name`), so tests can set them directly.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence, TypeVar

import numpy as np
import streamlit as st

from dsaii_core import imageio
from dsaii_core.catalog import ImageClass, os_user
from dsaii_core.errors import DsaiiError, failure_message
from dsaii_core.jobs import EXECUTORS, ExecutorChoice, check_reachable
from dsaii_core.server import DEFAULT_WORKSPACE as FIRST_WORKSPACE, ServerConfig, network_filesystem
from dsaii_core.stats import class_stats
from dsaii_core.workspace import Workspace

T = TypeVar("T")
DEFAULT_WORKSPACE = Path(os.environ.get("DSAII_WORKSPACE") or FIRST_WORKSPACE)
EXECUTOR_LABELS = {"local": "this machine", "ray": "a Ray cluster"}


@st.cache_resource(show_spinner=False)
def _open_workspace(path: str) -> Workspace:
    return Workspace.open_or_create(Path(path))


@st.cache_resource(show_spinner=False)
def warm_up_imports() -> threading.Thread:
    """Import the heavy libraries once per server in the background, so no first page visit waits for them."""
    def load() -> None:
        for module in ("torch", "plotly.graph_objects", "dsaii_core.bench.detectors", "dsaii_core.bench.reports",
                       "sklearn.cluster", "dsaii_core.masks.sam", "dsaii_core.inpaint.diffusers_backend"):
            importlib.import_module(module)
    thread = threading.Thread(target=load, name="warm-up-imports", daemon=True)
    thread.start()
    return thread


def current_workspace() -> Workspace:
    """The open workspace (the demo one, or DSAII_WORKSPACE, until the user picks another); a DsaiiError for a
    folder outside the data root. Stops the page for a signed-out user of a server with sign-in."""
    if signed_out():
        sign_in_page()
        st.stop()
    path = st.session_state.setdefault("workspace_path", str(DEFAULT_WORKSPACE))
    return _open_workspace(str(user_path(path)))


def current_class() -> ImageClass | None:
    """The class picked in the sidebar, or None when the workspace has no classes."""
    ws = current_workspace()
    name = st.session_state.get("class_name")
    classes = ws.catalog.classes()
    if not classes:
        return None
    for cls in classes:
        if cls.name == name:
            return cls
    st.session_state["class_name"] = classes[0].name
    return classes[0]


def reviewer() -> str:
    """The name saved with the user's decisions and undone by their Undo: the signed-in address on a server with
    sign-in; locally the sidebar's field, else the OS user."""
    return signed_in_email() or st.session_state.get("reviewer") or os_user()


def _remember_reviewer() -> None:
    # A plain session key outlives the widget, whose state Streamlit drops on a page without it.
    st.session_state["reviewer"] = st.session_state["reviewer_field"].strip()


def select_class(name: str) -> None:
    """Make `name` the sidebar's class from the next rerun on (the picker is already drawn in this one)."""
    st.session_state["next_class"] = name


def require_class() -> ImageClass:
    """The current class; stops the page with a hint when there is none."""
    cls = current_class()
    if cls is None:
        st.info("This workspace has no classes yet. Import images on the **Collect** page.")
        st.stop()
    return cls


def tell(message: str) -> None:
    """Queue a toast from a button callback (callbacks may not draw inside a fragment rerun); see show_told."""
    st.session_state["toast"] = message


def undo_mine(ws: Workspace, cls: ImageClass, kinds: tuple[str, ...]) -> None:
    """Revert the user's last action of `kinds` (what the page shows) on `cls` and say what it was; a callback."""
    undone = ws.catalog.undo(cls.id, reviewer(), kinds)
    if undone is None:
        tell("Nothing of yours to undo here")
    else:
        tell(f"Undid your last change: {undone.action.label}"
             + (f" ({undone.passed_over} overruled since, left as they are)" if undone.passed_over else ""))


def show_told() -> None:
    """Show the toast a callback queued, once."""
    if "toast" in st.session_state:
        st.toast(st.session_state.pop("toast"))


def paginate(rows: Sequence[T], per_page: int, key: str) -> Sequence[T]:
    """The rows of the page the user is on, under a page picker when there are several; the page stays
    in range when the rows shrink (decisions under a filter, deletions)."""
    pages = max(1, -(-len(rows) // per_page))
    if st.session_state.get(key, 1) > pages:
        st.session_state[key] = pages
    page = int(st.number_input(f"Page (of {pages})", 1, pages, key=key)) if pages > 1 else 1
    return rows[(page - 1) * per_page: page * per_page]


@contextmanager
def user_errors() -> Iterator[None]:
    """Show a DsaiiError, a catalog failure or a full disk as a one-line error box instead of a traceback; the
    page keeps working."""
    try:
        yield
    except DsaiiError as exc:
        st.error(str(exc))
    except (sqlite3.OperationalError, OSError) as exc:
        message = failure_message(exc)
        if message is None:
            raise
        st.error(message)


# ---- Served to a lab (issue 16): sign-in, roles, the data root ----------------------------------------------
def server() -> ServerConfig:
    """How the app is served: Streamlit's secrets ([auth], [dsaii] admins / data_root), DSAII_ADMINS,
    DSAII_DATA_ROOT. No [auth]: local single-user mode."""
    return ServerConfig.load(st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {})


def signed_in_email() -> str | None:
    """The signed-in user's address (the identity provider's email claim, else its subject); None locally."""
    if not server().sign_in or not st.user.get("is_logged_in"):
        return None
    return st.user.get("email") or st.user.get("sub") or None


def signed_out() -> bool:
    """Whether the app is served with sign-in and nobody is signed in: then it shows the sign-in button only."""
    return server().sign_in and signed_in_email() is None


def is_admin() -> bool:
    """Whether the user manages server-side settings (Ray address, web UI, model paths): locally the one user."""
    return server().is_admin(signed_in_email())


def user_path(text: str) -> Path:
    """A folder the user typed, resolved; a DsaiiError outside the data root when the server has one."""
    return server().confine(text)


def sign_in_page() -> None:
    """All a signed-out visitor sees."""
    st.title("DSAII Studio")
    providers = server().providers
    if not providers:
        st.button("Sign in", type="primary", icon=":material/login:", key="sign_in", on_click=st.login)
    for name in providers:  # [auth.NAME] tables: one button each
        st.button(f"Sign in with {name}", type="primary", icon=":material/login:", key=f"sign_in_{name}",
                  on_click=st.login, args=(name,))


def account() -> None:
    """The sidebar's who-am-I: the signed-in address and role with Sign out; locally the free-text name."""
    email = signed_in_email()
    if email is None:
        st.text_input("Your name", value=reviewer(), key="reviewer_field", on_change=_remember_reviewer,
                      help="Saved with every decision you make (curation, masks, review); Undo reverts only yours.")
        return
    st.caption(f"Signed in as **{email}** · {server().role(email)}")
    st.button("Sign out", key="sign_out", icon=":material/logout:", on_click=st.logout)


def admin_note(what: str) -> None:
    """Tell a member who sets `what` (they see it, they cannot change it)."""
    st.caption(f"{what} (set by an admin of this server)")
# ---- end of served-to-a-lab helpers ---------------------------------------------------------------------------


def sidebar() -> None:
    """Workspace picker and class picker with per-class counts."""
    with st.sidebar:
        st.markdown("### Workspace")
        root = server().data_root
        path = st.text_input("Folder", value=st.session_state.get("workspace_path", str(DEFAULT_WORKSPACE)),
                             help="A workspace folder on this machine; a new one is created if empty."
                                  + (f" It must lie under {root}." if root else ""))
        if path != st.session_state.get("workspace_path"):
            st.session_state["workspace_path"] = path
            st.session_state.pop("class_name", None)
        account()
        try:
            ws = current_workspace()
        except DsaiiError as exc:  # e.g. a folder of someone else's files: nothing is created or changed there
            st.error(str(exc))
            ws = None
    if ws is None:
        st.info("Choose a workspace folder in the sidebar: an existing workspace, or a new or empty folder.")
        st.stop()
    with st.sidebar:
        filesystem = network_filesystem(ws.root)
        if filesystem:
            st.warning(f"This workspace lies on a network file system ({filesystem}): SQLite's locking does not "
                       "work there, so the catalog can be corrupted. Keep it on a local disk of the app's machine "
                       "(README: Scale out with Ray).")
        with user_errors():
            executor_settings(ws)
            stats = class_stats(ws)
            if not stats:
                st.caption("No classes yet.")
                return
            names = [s.name for s in stats]
            if st.session_state.get("next_class") in names:
                st.session_state["class_name"] = st.session_state.pop("next_class")
            current = current_class()
            st.selectbox("Class", names, index=names.index(current.name), key="class_name",
                         format_func=lambda n: f"{n}  ·  {next(s.normal for s in stats if s.name == n)} normal")
            chosen = next(s for s in stats if s.name == st.session_state["class_name"])
            cols = st.columns(3)
            cols[0].metric("Normal", chosen.normal)
            cols[1].metric("Masks", chosen.anomaly_mask)
            cols[2].metric("Anomalies", chosen.accepted)
            st.caption("Anomalies: accepted ones, real and synthetic (what Export ships).  \n"
                       f"{len(stats)} classes · {sum(s.normal for s in stats)} normal images")


def gpus_per_worker(text: str) -> float | None:
    """The 'GPUs per worker' field: a number, or empty for auto."""
    try:
        return float(text) if text.strip() else None
    except ValueError:
        raise DsaiiError(f"GPUs per worker must be a number, or empty for auto (not '{text}')") from None


def executor_settings(ws: Workspace) -> None:
    """A collapsed expander choosing where the workspace's background jobs run: this machine or a Ray cluster."""
    choice = ExecutorChoice.resolve(ws.catalog)
    if not is_admin():  # a Ray address runs the cluster's code in our workers: a server-side setting
        admin_note(f"Jobs run on {EXECUTOR_LABELS[choice.kind]}")
        return
    with st.expander(f"Jobs run on {EXECUTOR_LABELS[choice.kind]}"):
        kind = st.radio("Executor", EXECUTORS, index=EXECUTORS.index(choice.kind), format_func=EXECUTOR_LABELS.get,
                        key="executor_kind",
                        help="Jobs started from now on run there (mask making, inpainting, benchmarks…).")
        local = kind == "local"
        address = st.text_input("Ray address", value=choice.ray_address or "", key="ray_address", disabled=local,
                                help="auto: the cluster this machine joined with `ray start`; empty: start a "
                                     "cluster on this machine. Every node needs the workspace folder at this path.")
        gpus = st.text_input("GPUs per worker", "" if choice.num_gpus is None else f"{choice.num_gpus:g}",
                             key="ray_num_gpus", disabled=local, placeholder="auto",
                             help="Empty (auto): 1 for SAM and Stable Diffusion when the cluster has GPUs, else 0. "
                                  "0 on CPU nodes; 0.5 puts two workers on each GPU.")
        workers = st.number_input("Workers (0: as many as fit)", 0, 100_000, choice.workers or 0, key="ray_workers",
                                  disabled=local)
        if not local and importlib.util.find_spec("ray") is None:
            st.warning("Ray is not installed here: `pip install -r requirements-ray.txt`.")
        if st.button("Save", key="save_executor"):
            with user_errors():
                choice = ExecutorChoice(kind, address.strip() or None, gpus_per_worker(gpus), int(workers) or None)
                if choice.kind == "ray" and choice.ray_address:
                    check_reachable(choice.ray_address)
                choice.save(ws.catalog)
                st.toast(f"New jobs run on {EXECUTOR_LABELS[kind]}")
                st.rerun()  # the expander's label shows the saved choice


def image_grid(images: Sequence[np.ndarray | Path], captions: Sequence[str] | None = None,
               columns: int = 5, thumb: int = 256) -> None:
    """Show images (arrays or files) as a grid of thumbnails."""
    if not images:
        st.caption("Nothing to show yet.")
        return
    captions = captions or [""] * len(images)
    cols = st.columns(columns)
    for index, (image, caption) in enumerate(zip(images, captions)):
        with cols[index % columns]:
            array = image if isinstance(image, np.ndarray) else cached_thumbnail(str(image), thumb)
            st.image(array, caption=caption, width="stretch")


def cached_thumbnail(path: str, size: int = 256) -> np.ndarray:
    """Thumbnail of an image file, from the open workspace's previews (made when the image was added, or now)."""
    return _thumbnail(path, size, str(current_workspace().previews_dir))


@st.cache_data(show_spinner=False, max_entries=5000)
def _thumbnail(path: str, size: int, previews: str) -> np.ndarray:
    # Workspace files never change in place, so the path is the key here; the preview file checks its time.
    return imageio.preview(Path(path), Path(previews), size)
