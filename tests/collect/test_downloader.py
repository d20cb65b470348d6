import ipaddress
import time

import httpx
import pytest

from dsaii_core.collect.downloader import Downloader, DownloadSettings, robots_tag_disallows
from dsaii_core.collect.netsafety import AddressPolicy, AddressRefused


def paths_requested(web, since: int) -> list[str]:
    return [path for path, _ in web.requests[since:]]


def test_a_real_image_downloads_decoded_with_sha_and_identifiable_agent(web, downloader):
    before = len(web.requests)
    result = downloader.download(web.url("/img/coffee.png"))
    assert result.ok and result.image.ndim == 3 and result.image.dtype.name == "uint8"
    assert len(result.sha256) == 64 and result.content_type == "image/png"
    agents = {headers.get("User-Agent") for _, headers in web.requests[before:]}
    assert agents and all("dsaii-studio" in agent for agent in agents)


@pytest.mark.parametrize("path, reason", [
    ("/html-as.png", "not an image or an unsupported format"),
    ("/truncated.png", "truncated or corrupt"),
    ("/text.txt", "not an image (content type 'text/plain')"),
    ("/missing.png", "HTTP 404"),
    ("/noai.png", "X-Robots-Tag says noai"),
    ("/noimageai.png", "X-Robots-Tag says noindex"),
    ("/private/secret.png", "robots.txt forbids it"),
    ("/huge.png", "over the size cap"),
    ("/huge-unannounced.png", "over the size cap"),
    ("/redirect/loop", "more than 5 redirects"),
])
def test_hostile_responses_are_rejected_with_a_reason(web, downloader, path, reason):
    result = downloader.download(web.url(path))
    assert not result.ok and result.image is None
    assert reason in result.error


def test_a_50_mb_response_is_cut_off_at_the_cap_quickly(web, downloader):
    start = time.monotonic()
    result = downloader.download(web.url("/huge-unannounced.png"))
    assert "over the size cap of 2.1 MB" in result.error
    assert time.monotonic() - start < 5


def test_robots_tag_for_another_bot_does_not_apply(web, downloader):
    assert downloader.download(web.url("/otherbot.png")).ok
    assert robots_tag_disallows(httpx.Headers({"X-Robots-Tag": "dsaii-studio: noai"})) == "noai"
    assert robots_tag_disallows(httpx.Headers({"X-Robots-Tag": "googlebot: noindex"})) is None
    assert robots_tag_disallows(httpx.Headers({"X-Robots-Tag": "nofollow"})) is None


def test_redirects_are_followed_with_a_check_at_every_hop(web, downloader):
    assert downloader.download(web.url("/redirect/ok")).ok


@pytest.mark.parametrize("path, refused", [("/redirect/private", "private address 10.0.0.1"),
                                           ("/redirect/link-local", "link-local address 169.254.169.254")])
def test_redirect_to_private_or_link_local_address_is_refused_before_connecting(web, downloader, monkeypatch,
                                                                                path, refused):
    connected = []
    original = httpx.HTTPTransport.handle_request

    def spy(self, request):
        connected.append(request.url.host)
        return original(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", spy)
    result = downloader.download(web.url(path))
    assert not result.ok and refused in result.error
    assert set(connected) == {"127.0.0.1"}  # the fake site only: 10.0.0.1 / 169.254.x were never contacted


def test_link_local_stays_refused_even_when_private_addresses_are_allowed():
    policy = AddressPolicy(allow_private=True)
    assert policy.refusal(ipaddress.ip_address("10.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert "link-local" in policy.refusal(ipaddress.ip_address("169.254.169.254"))
    assert "link-local" in policy.refusal(ipaddress.ip_address("::ffff:169.254.1.1"))


def test_without_permission_loopback_is_refused(web):
    with Downloader(DownloadSettings(per_host_interval_s=0)) as strict:
        before = len(web.requests)
        result = strict.download(web.url("/img/coffee.png"))
        assert not result.ok and "loopback address 127.0.0.1" in result.error
        assert len(web.requests) == before
    with pytest.raises(AddressRefused, match="loopback"):
        AddressPolicy().resolve("http://localhost/x.png")
    with pytest.raises(AddressRefused, match="only http and https"):
        AddressPolicy(True).resolve("file:///etc/passwd")


def test_slow_responses_time_out_after_retries_and_count_as_transient(web, downloader):
    start = time.monotonic()
    result = downloader.download(web.url("/slow/coffee.png"))
    assert not result.ok and "timed out" in result.error and not result.permanent
    assert time.monotonic() - start < 4


def test_server_errors_are_retried_then_reported_as_transient(web, downloader):
    before = len(web.requests)
    result = downloader.download(web.url("/error500"))
    assert "HTTP 500" in result.error and not result.permanent
    assert paths_requested(web, before).count("/error500") == 2  # first try + one retry


def test_per_host_rate_limit_spaces_requests(web, fast_settings):
    fast_settings.per_host_interval_s = 0.2
    with Downloader(fast_settings) as client:
        client.robots_allows(web.url("/"))  # robots.txt fetched first, outside the timing
        start = time.monotonic()
        results = list(client.download_many([web.url(f"/img/{n}.png") for n in ("coffee", "chelsea", "rocket", "brick")]))
    assert all(r.ok for r in results)
    assert time.monotonic() - start >= 0.55  # 4 requests, 0.2 s apart, even on 3 threads


def test_download_many_keeps_order_and_reports_progress(web, downloader):
    urls = [web.url(p) for p in ("/img/coffee.png", "/missing.png", "/img/rocket.png")]
    seen = []
    results = list(downloader.download_many(urls, progress=seen.append))
    assert [r.url for r in results] == urls and [r.ok for r in results] == [True, False, True]
    assert seen == [1, 2, 3]


@pytest.mark.parametrize("address, refused", [
    ("2002:7f00:1::1", "loopback address 127.0.0.1 (inside 2002:7f00:1::1)"),       # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::", "link-local address 169.254.169.254 (inside 2002:a9fe:a9fe::)"),
    ("2002:a00:1::", "private address 10.0.0.1 (inside 2002:a00:1::)"),
    ("64:ff9b::7f00:1", "loopback address 127.0.0.1 (as 64:ff9b::7f00:1)"),          # NAT64
    ("64:ff9b::a9fe:a9fe", "link-local address 169.254.169.254 (as 64:ff9b::a9fe:a9fe)"),
    ("::ffff:10.0.0.1", "private address 10.0.0.1 (as ::ffff:a00:1)"),              # IPv4-mapped
    ("2001:0:4136:e378:8000:63bf:80ff:fffe",                                       # Teredo, client 127.0.0.1
     "loopback address 127.0.0.1 (inside 2001:0:4136:e378:8000:63bf:80ff:fffe)"),
])
def test_ipv6_addresses_that_carry_an_ipv4_address_are_judged_by_it(address, refused):
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) == refused


def test_ipv6_forms_of_public_ipv4_addresses_pass_and_allowed_networks_apply_inside():
    public = AddressPolicy()
    assert public.refusal(ipaddress.ip_address("2002:808:808::1")) is None      # 6to4 of 8.8.8.8
    assert public.refusal(ipaddress.ip_address("64:ff9b::808:808")) is None     # NAT64 of 8.8.8.8
    loopback_only = AddressPolicy(allow_private=["127.0.0.0/8"])
    assert loopback_only.refusal(ipaddress.ip_address("2002:7f00:1::1")) is None
    assert "private address 10.0.0.1" in loopback_only.refusal(ipaddress.ip_address("2002:a00:1::"))
    assert "link-local" in AddressPolicy(True).refusal(ipaddress.ip_address("2002:a9fe:a9fe::"))


@pytest.fixture(scope="module")
def trickle():
    """A server that sends a PNG's headers (or its status line and headers) one byte every 0.3 s."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/robots.txt":
                self.send_error(404)
                return
            head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 40\r\n\r\n"
            self.wfile.write(head if self.path == "/body.png" else head[:17])
            rest = (bytes(40) if self.path == "/body.png" else head[17:] + bytes(40))
            try:
                for i in range(len(rest)):
                    self.wfile.write(rest[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.3)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path", ["/body.png", "/headers.png"])
def test_a_server_trickling_bytes_cannot_hold_a_download_past_its_deadline(trickle, fast_settings, path):
    fast_settings.total_timeout_s, fast_settings.read_timeout_s = 2.0, 1.0  # each byte is well within 1 s
    with Downloader(fast_settings) as client:
        start = time.monotonic()
        result = client.download(trickle + path)
        elapsed = time.monotonic() - start
    assert result.error == f"{trickle}{path}: took longer than 2 s" and not result.permanent
    assert elapsed < 2.8  # the body alone takes 12 s at one byte per 0.3 s
