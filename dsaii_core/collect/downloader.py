"""A careful image downloader: bounded concurrency, timeouts, retries with backoff, a per-host
rate limit, robots.txt and X-Robots-Tag respected, a size cap, safe redirects and a real decode.

Every request goes through `Downloader.request`, which checks the address (see netsafety) at every
hop and connects to the checked IP, so no page can steer the crawler into a private network. Each hop
ends by its deadline whatever the server does: every socket operation is cut to the time left (see deadline).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import numpy as np
from protego import Protego

from dsaii_core import imageio
from dsaii_core.atomic import sha256_bytes
from dsaii_core.collect.deadline import DeadlineTransport
from dsaii_core.collect.netsafety import AddressPolicy
from dsaii_core.errors import DsaiiError

USER_AGENT_TOKEN = "dsaii-studio"
USER_AGENT = (f"Mozilla/5.0 (compatible; {USER_AGENT_TOKEN}/0.1; dataset builder for anomaly-detection research;"
              " respects robots.txt and X-Robots-Tag noai)")
# As img2dataset: images whose X-Robots-Tag carries one of these are not taken.
DISALLOWED_DIRECTIVES = frozenset({"noai", "noimageai", "noindex", "noimageindex"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
ROBOTS_MAX_BYTES = 512 * 1024


class FetchError(Exception):
    """A URL that gave no usable content; `permanent` says whether retrying later is pointless."""

    def __init__(self, reason: str, permanent: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Fetched:
    """Body and headers of a successful response (after redirects)."""
    url: str
    status: int
    headers: httpx.Headers
    data: bytes


@dataclass(frozen=True)
class Download:
    """What one image URL gave: the decoded image and its bytes' sha256, or why not."""
    url: str
    final_url: str | None = None
    image: np.ndarray | None = None
    sha256: str | None = None
    content_type: str | None = None
    error: str | None = None
    permanent: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class DownloadSettings:
    """Limits of the downloader; tests shrink the times, users rarely touch them."""
    allow_private: bool | Sequence[str] = False
    user_agent: str = USER_AGENT
    workers: int = 4
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 60.0
    max_bytes: int = 20 * 1024 * 1024
    retries: int = 2
    backoff_s: float = 0.5
    per_host_interval_s: float = 0.25
    max_redirects: int = 5
    respect_robots: bool = True
    max_pixels: int | None = None


def robots_tag_disallows(headers: httpx.Headers, token: str = USER_AGENT_TOKEN) -> str | None:
    """The X-Robots-Tag directive that forbids using this image, or None (rules for other bots ignored)."""
    for value in headers.get_list("x-robots-tag"):
        head, sep, tail = value.partition(":")
        scoped = sep and " " not in head.strip() and head.strip().lower() not in DISALLOWED_DIRECTIVES
        agent, directives = (head.strip().lower(), tail) if scoped else (None, value)
        if agent not in (None, token, "*"):
            continue
        for directive in (d.strip().lower() for d in directives.split(",")):
            if directive in DISALLOWED_DIRECTIVES:
                return directive
    return None


class _HostGate:
    """Spaces out requests to the same host by a minimum interval."""

    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + self.interval_s
        if start > now:
            time.sleep(start - now)


class Downloader:
    """Fetches URLs safely; `download_many` runs image downloads on a bounded thread pool."""

    def __init__(self, settings: DownloadSettings | None = None, transport: httpx.BaseTransport | None = None):
        self.settings = settings or DownloadSettings()
        self.policy = AddressPolicy(self.settings.allow_private)
        timeout = httpx.Timeout(self.settings.read_timeout_s, connect=self.settings.connect_timeout_s)
        transport = transport or DeadlineTransport()
        self._until = transport.until if isinstance(transport, DeadlineTransport) else lambda deadline: nullcontext()
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport,
                                    headers={"User-Agent": self.settings.user_agent}, trust_env=False)
        self._gate = _HostGate(self.settings.per_host_interval_s)
        self._robots: dict[str, Protego | None] = {}
        self._robots_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Downloader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one hop ------------------------------------------------------------------------------
    def _hop(self, url: str, max_bytes: int, accept: str) -> tuple[httpx.Response, bytes]:
        """One request to a checked address; returns the response and (for non-redirects) its body."""
        try:
            host, port, ip = self.policy.resolve(url)
        except DsaiiError as exc:
            raise FetchError(str(exc)) from exc
        parts = urlsplit(url)
        ip_host = f"[{ip}]" if ":" in ip else ip
        pinned = urlunsplit((parts.scheme, f"{ip_host}:{port}", parts.path or "/", parts.query, ""))
        default_port = port == (443 if parts.scheme == "https" else 80)
        headers = {"Host": host if default_port else f"{host}:{port}", "Accept": accept}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        self._gate.wait(f"{host}:{port}")
        deadline = time.monotonic() + self.settings.total_timeout_s
        too_slow = f"{url}: took longer than {self.settings.total_timeout_s:g} s"
        try:
            with self._until(deadline), self._client.stream("GET", pinned, headers=headers,
                                                            extensions=extensions) as response:
                if response.is_redirect or response.status_code >= 400:
                    return response, b""
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(f"{url}: {int(declared) / 1e6:.1f} MB is over the size cap of "
                                     f"{max_bytes / 1e6:.1f} MB")
                chunks, size = [], 0
                for chunk in response.iter_bytes():  # each read's bytes as they come, not 64 KB gathered first
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(f"{url}: response is over the size cap of {max_bytes / 1e6:.1f} MB")
                    if time.monotonic() > deadline:
                        raise FetchError(too_slow, permanent=False)
                    chunks.append(chunk)
                return response, b"".join(chunks)
        except httpx.TimeoutException:
            if time.monotonic() < deadline - 0.005:  # (a socket timeout cut to the deadline may end a hair early)
                raise  # a read / connect timeout: retried
            raise FetchError(too_slow, permanent=False) from None

    def request(self, url: str, *, max_bytes: int | None = None, accept: str = "*/*",
                check_robots: bool = True) -> Fetched:
        """GET `url` following redirects by hand (address and robots checked at every hop), with retries."""
        max_bytes = max_bytes or self.settings.max_bytes
        current = url
        for _ in range(self.settings.max_redirects + 1):
            try:
                self.policy.resolve(current)  # refuse a forbidden address before anything, robots.txt included
            except DsaiiError as exc:
                raise FetchError(str(exc)) from exc
            if check_robots and self.settings.respect_robots and not self.robots_allows(current):
                raise FetchError(f"{current}: robots.txt forbids it")
            response, data = self._with_retries(current, max_bytes, accept)
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"{current}: redirect without a location")
                current = urljoin(current, location)
                continue
            if response.status_code >= 400:
                raise FetchError(f"{current}: HTTP {response.status_code}",
                                 permanent=response.status_code not in RETRY_STATUSES)
            return Fetched(current, response.status_code, response.headers, data)
        raise FetchError(f"{url}: more than {self.settings.max_redirects} redirects")

    def _with_retries(self, url: str, max_bytes: int, accept: str) -> tuple[httpx.Response, bytes]:
        attempt = 0
        while True:
            try:
                response, data = self._hop(url, max_bytes, accept)
                if response.status_code not in RETRY_STATUSES or attempt >= self.settings.retries:
                    return response, data
                reason = f"HTTP {response.status_code}"
            except httpx.TimeoutException as exc:
                reason = f"timed out ({type(exc).__name__})"
                if attempt >= self.settings.retries:
                    raise FetchError(f"{url}: {reason}", permanent=False) from exc
            except httpx.TransportError as exc:
                reason = f"connection failed ({type(exc).__name__})"
                if attempt >= self.settings.retries:
                    raise FetchError(f"{url}: {reason}", permanent=False) from exc
            attempt += 1
            time.sleep(self.settings.backoff_s * 2 ** (attempt - 1))

    # -- robots.txt ---------------------------------------------------------------------------
    def robots_allows(self, url: str) -> bool:
        """Whether the host's robots.txt lets our user agent fetch `url` (cached per host)."""
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        with self._robots_lock:
            if root not in self._robots:
                self._robots[root] = self._load_robots(root)
            rules = self._robots[root]
        return True if rules is None else rules.can_fetch(url, USER_AGENT_TOKEN)

    def _load_robots(self, root: str) -> Protego | None:
        """Parsed robots.txt; None (allow all) when it is missing; disallow-all when unreachable (RFC 9309)."""
        try:
            fetched = self.request(f"{root}/robots.txt", max_bytes=ROBOTS_MAX_BYTES, accept="text/plain",
                                   check_robots=False)
        except FetchError as exc:
            if "HTTP 4" in exc.reason:
                return None
            return Protego.parse("User-agent: *\nDisallow: /")
        return Protego.parse(fetched.data.decode("utf-8", errors="replace"))

    # -- JSON APIs and images ------------------------------------------------------------------
    def get_json(self, url: str, params: dict | None = None) -> dict:
        """GET a JSON API (robots.txt does not apply to APIs); DsaiiError when it fails."""
        if params:
            url = str(httpx.URL(url, params=params))
        try:
            fetched = self.request(url, max_bytes=self.settings.max_bytes, accept="application/json",
                                   check_robots=False)
            return json.loads(fetched.data)
        except FetchError as exc:
            raise DsaiiError(f"search API failed: {exc.reason}") from exc
        except ValueError as exc:
            raise DsaiiError(f"search API at {url} did not answer JSON") from exc

    def download(self, url: str) -> Download:
        """Fetch and check one image: robots, X-Robots-Tag, content type, size, and a full decode."""
        try:
            fetched = self.request(url, accept="image/*")
        except FetchError as exc:
            return Download(url, error=exc.reason, permanent=exc.permanent)
        content_type = fetched.headers.get("content-type", "").split(";")[0].strip().lower()
        directive = robots_tag_disallows(fetched.headers)
        if directive:
            return Download(url, fetched.url, content_type=content_type, error=f"{url}: X-Robots-Tag says {directive}")
        if not content_type.startswith("image/"):
            return Download(url, fetched.url, content_type=content_type,
                            error=f"{url}: not an image (content type '{content_type or 'none'}')")
        try:
            image = imageio.read_image(fetched.data, name=url, limit=self.settings.max_pixels)
        except DsaiiError as exc:
            return Download(url, fetched.url, content_type=content_type, error=str(exc))
        return Download(url, fetched.url, image, sha256_bytes(fetched.data), content_type)

    def download_many(self, urls: Iterable[str], progress: Callable[[int], None] = lambda n: None
                      ) -> Iterator[Download]:
        """Download URLs on `workers` threads, yielding results as they finish (at most 2×workers in flight)."""
        workers = max(1, self.settings.workers)
        pending: deque[Future] = deque()
        done = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download") as pool:
            for url in urls:
                pending.append(pool.submit(self.download, url))
                while len(pending) >= 2 * workers:
                    done += 1
                    yield pending.popleft().result()
                    progress(done)
            while pending:
                done += 1
                yield pending.popleft().result()
                progress(done)
