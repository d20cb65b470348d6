"""The web UI client against a fake SD web UI on 127.0.0.1."""

import base64

import cv2
import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint.base import InpaintFailed, InpaintParams
from dsaii_core.inpaint.generate import make_backend
from dsaii_core.inpaint.webui_backend import (DEFAULT_URL, WebUIBackend, auth_for, needs_consent, origin, save_auth,
                                           save_url, settings_from)
from tests.fixtures.fake_webui import PAINT, FakeWebUI

PARAMS = InpaintParams(steps=12, strength=0.6, dilate_px=4)


def _pair():
    image = np.random.default_rng(0).integers(0, 256, (90, 130, 3), dtype=np.uint8)
    mask = np.zeros((90, 130), np.uint8)
    cv2.circle(mask, (60, 40), 12, 255, -1)
    return image, mask


def test_a_good_answer_is_pasted_back_and_the_request_has_the_img2img_fields():
    image, mask = _pair()
    with FakeWebUI() as server:
        out = WebUIBackend(server.url).inpaint(image, mask, "broken, cracked", "blurry", 42, PARAMS)
        sent = server.requests[0]
    assert sent["prompt"] == "broken, cracked" and sent["negative_prompt"] == "blurry" and sent["seed"] == 42
    assert sent["denoising_strength"] == 0.6 and sent["steps"] == 12
    assert sent["inpainting_fill"] == 1 and sent["inpaint_full_res"] is True
    assert np.array_equal(imageio.read_image(base64.b64decode(sent["init_images"][0])), image)
    assert np.array_equal(imageio.read_mask(base64.b64decode(sent["mask"])), mask)
    core = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0  # the mask less its thin inner seam
    assert (out[core] == PAINT).all()
    assert np.array_equal(out[mask == 0], image[mask == 0])  # every changed pixel lies inside the mask


def test_basic_auth_is_sent_and_refusal_is_explained():
    image, mask = _pair()
    with FakeWebUI("auth") as server:
        assert WebUIBackend(server.url, auth="user:secret").inpaint(image, mask, "x", "", 1, PARAMS).shape == image.shape
        with pytest.raises(DsaiiError, match="refused the credentials"):
            WebUIBackend(server.url, auth="user:wrong").inpaint(image, mask, "x", "", 1, PARAMS)


@pytest.mark.parametrize("mode, message", [
    ("error", "HTTP 500: .*out of memory"),
    ("garbage", "cannot be decoded"),
    ("black", "black image"),
])
def test_bad_answers_fail_the_item_with_a_clear_message(mode, message):
    image, mask = _pair()
    with FakeWebUI(mode) as server:
        with pytest.raises(InpaintFailed, match=message):
            WebUIBackend(server.url).inpaint(image, mask, "x", "", 1, PARAMS)


def test_a_slow_server_times_out():
    image, mask = _pair()
    with FakeWebUI("slow", delay_s=3) as server:
        with pytest.raises(InpaintFailed, match="did not answer within 1 s"):
            WebUIBackend(server.url, timeout_s=1).inpaint(image, mask, "x", "", 1, PARAMS)


def test_no_server_and_no_api_are_job_stopping_errors():
    image, mask = _pair()
    with FakeWebUI() as server:
        url = server.url
        with pytest.raises(DsaiiError, match="--api"):
            WebUIBackend(url + "/not-the-root").inpaint(image, mask, "x", "", 1, PARAMS)
    with pytest.raises(DsaiiError, match="no Stable Diffusion web UI at") as caught:
        WebUIBackend(url, timeout_s=2).inpaint(image, mask, "x", "", 1, PARAMS)
    assert not isinstance(caught.value, InpaintFailed)
    with pytest.raises(DsaiiError, match="must start with http"):
        WebUIBackend("localhost:7860")


def test_settings_come_from_the_workspace_and_the_environment(tiny_ws, monkeypatch):
    monkeypatch.delenv("DSAII_WEBUI_URL", raising=False)
    monkeypatch.delenv("DSAII_WEBUI_AUTH", raising=False)
    save_url(tiny_ws, "http://10.0.0.5:7860")
    save_auth(tiny_ws, "http://10.0.0.5:7860", "lab:s3cret", plain_http_ok=True)
    assert settings_from(tiny_ws) == {"url": "http://10.0.0.5:7860", "auth": "lab:s3cret", "timeout_s": 300.0}
    monkeypatch.setenv("DSAII_WEBUI_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("DSAII_WEBUI_AUTH", "a:b")
    assert settings_from(tiny_ws) == {"url": "http://127.0.0.1:9999", "auth": "a:b", "timeout_s": 300.0}
    assert auth_for(tiny_ws, "http://10.0.0.5:7860") == "lab:s3cret"  # the environment's password goes to its URL only


def test_the_password_stays_out_of_the_catalog_and_is_owner_only(tiny_ws):
    tiny_ws.catalog.set_setting("webui.auth", "old:plain")  # as workspaces from before the credentials file have it
    assert settings_from(tiny_ws)["auth"] == "old:plain"  # adopted for the URL it was used with (the default)
    save_auth(tiny_ws, DEFAULT_URL, "lab:s3cret")
    assert settings_from(tiny_ws)["auth"] == "lab:s3cret"
    assert not any(b"s3cret" in p.read_bytes() for p in tiny_ws.root.glob("dsaii.sqlite*"))
    assert not tiny_ws.catalog.get_setting("webui.auth")
    assert (tiny_ws.root / "credentials.json").stat().st_mode & 0o777 == 0o600
    save_auth(tiny_ws, DEFAULT_URL, "")
    assert settings_from(tiny_ws)["auth"] is None


def test_a_password_belongs_to_one_origin_and_a_changed_url_does_not_get_it(tiny_ws, monkeypatch):
    monkeypatch.delenv("DSAII_WEBUI_URL", raising=False)
    monkeypatch.delenv("DSAII_WEBUI_AUTH", raising=False)
    save_url(tiny_ws, "https://sd.lab.example/")
    save_auth(tiny_ws, "https://sd.lab.example/", "lab:s3cret")
    assert auth_for(tiny_ws, "https://SD.lab.example:443/sdapi") == "lab:s3cret"  # same origin, other spelling
    save_url(tiny_ws, "https://evil.example")
    assert settings_from(tiny_ws)["auth"] is None
    for other in ("http://sd.lab.example", "https://sd.lab.example:8443", "https://sd.lab.example.evil.example"):
        assert auth_for(tiny_ws, other) is None
    assert origin("http://[::1]:7860/x") == "http://[::1]:7860"


def test_a_password_sent_unencrypted_over_the_network_needs_consent(tiny_ws):
    assert not needs_consent("http://127.0.0.1:7860") and not needs_consent("https://10.0.0.5")
    assert needs_consent("http://10.0.0.5:7860") and needs_consent("http://sd-box.lab:7860")
    with pytest.raises(DsaiiError, match="plain http on the network"):
        save_auth(tiny_ws, "http://10.0.0.5:7860", "lab:s3cret")
    assert auth_for(tiny_ws, "http://10.0.0.5:7860") is None
    save_auth(tiny_ws, "http://10.0.0.5:7860", "lab:s3cret", plain_http_ok=True)
    assert auth_for(tiny_ws, "http://10.0.0.5:7860") == "lab:s3cret"
    with pytest.raises(DsaiiError, match="user:password"):
        save_auth(tiny_ws, "http://127.0.0.1:7860", "no-colon")


def test_a_job_sends_the_password_to_its_own_origin_only(tiny_ws, monkeypatch):
    monkeypatch.delenv("DSAII_WEBUI_URL", raising=False)
    monkeypatch.delenv("DSAII_WEBUI_AUTH", raising=False)
    cls = tiny_ws.classes()[0]
    with FakeWebUI("auth") as server, FakeWebUI("auth") as other:
        save_url(tiny_ws, server.url)
        save_auth(tiny_ws, server.url, "user:secret")
        image, mask = _pair()
        make_backend("webui", {}, tiny_ws, cls).inpaint(image, mask, "p", "", 0, PARAMS)  # its own origin: let in
        backend = make_backend("webui", {"url": other.url}, tiny_ws, cls)
        with pytest.raises(DsaiiError, match="refused the credentials"):
            backend.inpaint(image, mask, "p", "", 0, PARAMS)
    assert server.requests[0]["_auth"] is not None and other.requests[0]["_auth"] is None
