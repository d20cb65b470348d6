"""Client for the Stable Diffusion web UI's HTTP API (AUTOMATIC1111 / Forge started with --api).

For labs that already run one, as the reference work did: each image goes to `/sdapi/v1/img2img`
with its mask ("inpaint only masked" at full resolution, original content as the fill). The
answer is pasted back inside our own mask only (`paste_outside`), so every pixel off the mask stays
exactly as it was even though the web UI re-encodes the whole picture.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Sequence
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np

from dsaii_core import imageio, settings
from dsaii_core.credentials import read_credential, write_credential
from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint.base import (InpaintFailed, InpaintParams, InpaintRequest, check_pair, inpaint_each,
                                    paste_outside)
from dsaii_core.server.serve import is_loopback

DEFAULT_URL = "http://127.0.0.1:7860"
DEFAULT_TIMEOUT_S = 300.0
FILL_ORIGINAL = 1  # web UI 'inpainting_fill': 0 fill, 1 original, 2 latent noise, 3 latent nothing


AUTH_KEY = "webui.auth"  # credentials.json keys are "webui.auth <origin>"; the bare key is from older workspaces
URL_KEY = "webui.url"


def origin(url: str) -> str:
    """scheme://host:port of a web UI URL: a password is stored for one origin and sent to it only."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise DsaiiError(f"web UI URL '{url}' is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DsaiiError(f"web UI URL must start with http:// or https://, not '{url}'")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port or (443 if parts.scheme == 'https' else 80)}"


def needs_consent(url: str) -> bool:
    """Plain http to another machine: a password (and the images) would cross the network unencrypted."""
    parts = urlsplit(url.strip())
    return parts.scheme == "http" and not is_loopback(parts.hostname or "")


def _key(url: str) -> str:
    return f"{AUTH_KEY} {origin(url)}"


def _adopt_legacy(ws) -> None:
    """Move an origin-less password (kept in the catalog, later in credentials.json) to the origin of the URL it
    was used with, so it keeps going there and nowhere else."""
    legacy = ws.catalog.get_setting(AUTH_KEY) or read_credential(ws.root, AUTH_KEY)
    if legacy:
        write_credential(ws.root, _key(ws.catalog.get_setting(URL_KEY, DEFAULT_URL)), legacy)
        write_credential(ws.root, AUTH_KEY, None)
    if ws.catalog.get_setting(AUTH_KEY):
        ws.catalog.set_setting(AUTH_KEY, "")


def auth_for(ws, url: str) -> str | None:
    """The 'user:password' for `url`'s origin: the one stored for it, or DSAII_WEBUI_AUTH when `url` has the origin
    of DSAII_WEBUI_URL (default http://127.0.0.1:7860). Any other URL gets none."""
    _adopt_legacy(ws)
    env_auth = os.environ.get("DSAII_WEBUI_AUTH")
    if env_auth and origin(url) == origin(os.environ.get("DSAII_WEBUI_URL") or DEFAULT_URL):
        return env_auth
    return read_credential(ws.root, _key(url))


def settings_from(ws) -> dict:
    """URL / timeout from the workspace settings (DSAII_WEBUI_URL overrides the URL), and the password for that
    URL's origin (see auth_for)."""
    url = os.environ.get("DSAII_WEBUI_URL") or ws.catalog.get_setting(URL_KEY, DEFAULT_URL)
    return {"url": url, "auth": auth_for(ws, url),
            "timeout_s": float(settings.get(ws.catalog, "webui.timeout_s"))}


def save_auth(ws, url: str, auth: str | None, *, plain_http_ok: bool = False) -> None:
    """Keep 'user:password' for `url`'s origin, owner-only in the workspace's credentials file, never in the
    catalog; an empty value removes it. Plain http to another machine needs `plain_http_ok` (an admin's consent)."""
    key = _key(url)
    _adopt_legacy(ws)
    if auth:
        if ":" not in auth:
            raise DsaiiError("web UI auth must be 'user:password'")
        if needs_consent(url) and not plain_http_ok:
            raise DsaiiError(f"{origin(url)} is plain http on the network: the password would travel unencrypted. "
                             "Use https, or confirm that this network is trusted")
    write_credential(ws.root, key, auth or None)


def save_url(ws, url: str) -> None:
    """Make `url` the workspace's web UI (its password, if any, stays with its own origin)."""
    origin(url)
    ws.catalog.set_setting(URL_KEY, url.strip())


def _b64png(array: np.ndarray) -> str:
    return base64.b64encode(imageio.encode_png(array)).decode("ascii")


class WebUIBackend:
    """Inpainting by a running SD web UI; `auth` is 'user:password' for its --api-auth."""
    name = "webui"
    is_diffusion = True

    def __init__(self, url: str = DEFAULT_URL, auth: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 sampler: str | None = None, transport: httpx.BaseTransport | None = None):
        if not url.startswith(("http://", "https://")):
            raise DsaiiError(f"web UI URL must start with http:// or https://, not '{url}'")
        self.url = url.rstrip("/")
        self.sampler = sampler
        credentials = tuple(auth.split(":", 1)) if auth else None
        if credentials is not None and len(credentials) != 2:
            raise DsaiiError("web UI auth must be 'user:password'")
        self._client = httpx.Client(base_url=self.url, auth=credentials, transport=transport,
                                    timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)))
        self.timeout_s = timeout_s

    @property
    def label(self) -> str:
        return f"Stable Diffusion web UI at {self.url}"

    def payload(self, image: np.ndarray, mask: np.ndarray, prompt: str, negative_prompt: str, seed: int,
                params: InpaintParams) -> dict:
        """The img2img request body for one image (size rounded down to a multiple of 8)."""
        height, width = image.shape[:2]
        body = {
            "init_images": [_b64png(image)], "mask": _b64png(mask), "prompt": prompt,
            "negative_prompt": negative_prompt, "seed": int(seed), "steps": params.steps,
            "cfg_scale": params.guidance, "denoising_strength": params.strength, "batch_size": 1, "n_iter": 1,
            "width": max(8, width // 8 * 8), "height": max(8, height // 8 * 8),
            "inpainting_fill": FILL_ORIGINAL, "inpaint_full_res": True, "inpaint_full_res_padding": 32,
            "mask_blur": 4, "inpainting_mask_invert": 0, "resize_mode": 0,
            "send_images": True, "save_images": False,
        }
        if self.sampler:
            body["sampler_name"] = self.sampler
        return body

    def _post(self, body: dict) -> dict:
        try:
            response = self._client.post("/sdapi/v1/img2img", json=body)
        except httpx.TimeoutException as exc:
            raise InpaintFailed(f"the web UI at {self.url} did not answer within {self.timeout_s:.0f} s") from exc
        except httpx.TransportError as exc:
            raise DsaiiError(f"no Stable Diffusion web UI at {self.url} ({type(exc).__name__}); start it with "
                             "--api or fix the URL in settings") from exc
        if response.status_code == 404:
            raise DsaiiError(f"{self.url} has no /sdapi/v1/img2img: start the web UI with --api")
        if response.status_code in (401, 403):
            raise DsaiiError(f"the web UI at {self.url} refused the credentials (HTTP {response.status_code}); "
                             "set user:password in settings")
        if response.status_code >= 400:
            detail = response.text[:200].replace("\n", " ")
            raise InpaintFailed(f"the web UI answered HTTP {response.status_code}: {detail}")
        try:
            return response.json()
        except ValueError as exc:
            raise InpaintFailed("the web UI answered with something that is not JSON") from exc

    def inpaint(self, image: np.ndarray, mask: np.ndarray, prompt: str, negative_prompt: str, seed: int,
                params: InpaintParams) -> np.ndarray:
        """The web UI's inpainting of `image` under `mask`, pasted back inside the mask only."""
        check_pair(image, mask)
        answer = self._post(self.payload(image, mask, prompt, negative_prompt, seed, params))
        images = answer.get("images") if isinstance(answer, dict) else None
        if not images or not isinstance(images[0], str):
            raise InpaintFailed("the web UI answered without an image")
        encoded = images[0].split(",", 1)[-1]  # some versions prefix a data: URL header
        try:
            data = base64.b64decode(encoded, validate=True)
            result = imageio.read_image(data, "web UI image")
        except (binascii.Error, ValueError, DsaiiError) as exc:
            raise InpaintFailed("the web UI sent an image that cannot be decoded") from exc
        if result.shape != image.shape:
            result = cv2.resize(result, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_CUBIC)
        if int(result.max()) < 8:
            raise InpaintFailed("the web UI returned a black image (safety filter?); retry with another seed")
        return paste_outside(image, result, mask)

    def inpaint_batch(self, requests: Sequence[InpaintRequest], params: InpaintParams) -> list[np.ndarray | Exception]:
        return inpaint_each(self, requests, params)

    def close(self) -> None:
        self._client.close()
