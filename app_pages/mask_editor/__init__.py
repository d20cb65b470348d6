"""The mask editor both mask pages use: a Streamlit Custom Components v2 component (inline HTML / CSS / JS, no iframe,
no build step, nothing fetched from the network).

The browser holds the mask at the image's full resolution and edits it locally: brush, eraser, polygon, lasso,
rectangle, fill holes, invert, clear, whole image, zoom and pan, undo / redo, all without a round trip. Python
hears from it twice: `save` (the whole mask, once, checked by dsaii_core.masks.editor.decode_editor_mask before
the page stores it) and, where the page answers prompts, `prompt` (clicks and a box, answered with a mask the
editor applies as one undoable step). The replies travel back in the component's data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import streamlit as st

from dsaii_core import imageio
from dsaii_core.masks import editor
from dsaii_core.masks.editor import PromptRequest

HERE = Path(__file__).parent
_component = st.components.v2.component(
    "dsaii_mask_editor", html=(HERE / "editor.html").read_text(), css=(HERE / "editor.css").read_text(),
    js=(HERE / "editor.js").read_text())


@st.cache_data(show_spinner=False, max_entries=4)
def _image_url(image_file: str) -> str:
    """The image as the editor shows it (workspace files never change in place: the path is the key)."""
    return editor.image_data_url(imageio.read_image(Path(image_file)))


@st.cache_data(show_spinner=False, max_entries=64)
def _mask_payload(mask_file: str) -> dict:
    return editor.encode_mask(imageio.read_mask(Path(mask_file)))


def mask_editor(key: str, image_file: Path, shape: tuple[int, int], mask_file: Path | None, revision: str, *,
                save: Callable[[np.ndarray], None], answer: Callable[[PromptRequest], np.ndarray] | None = None,
                area_range: tuple[float, float] | None = None, label: str = "Mask area") -> None:
    """Show the editor on `image_file` (of `shape` = (height, width)) starting from `mask_file` (None: empty).

    `revision` names the saved mask shown: when it changes (a save, the page's Undo) the editor shows the new one.
    `save(mask)` stores a mask the user saved (uint8 0/255, the image's size; a DsaiiError is shown in the editor).
    `answer(request)` (optional: no click prompts without it) returns the mask for the user's clicks / box.
    `area_range` = (low, high) fractions of the image the mask should cover, shown beside the live area.
    """
    replies = st.session_state.setdefault(f"{key}__replies", {})

    def on_save() -> None:
        replies.update(editor.save_reply(st.session_state[key].get("save"), shape, save))

    def on_prompt() -> None:
        replies["proposal"] = editor.prompt_reply(st.session_state[key].get("prompt"), shape, answer)

    height, width = shape
    data = {"image": _image_url(str(image_file)), "width": width, "height": height,
            "mask": _mask_payload(str(mask_file)) if mask_file is not None else None, "revision": revision,
            "range": list(area_range) if area_range else None, "label": label, "prompts": answer is not None,
            **replies}
    callbacks = {"on_save_change": on_save}
    if answer is not None:
        callbacks["on_prompt_change"] = on_prompt
    _component(key=key, data=data, **callbacks)
