"""License-aware HTTP API engines (the defaults): Openverse and Wikimedia Commons.

Both are keyword searches that return license and attribution with every image. Requests go
through the Downloader (address checks, size cap, timeouts, retries).
"""

from __future__ import annotations

import html
import re

import numpy as np

from dsaii_core.collect.downloader import Downloader
from dsaii_core.collect.engines import Candidate
from dsaii_core.errors import DsaiiError

_TAG = re.compile(r"<[^>]+>")


def openverse_license(code: str | None, version: str | None) -> str | None:
    """Openverse's license code and version as people write it: 'by-sa', '4.0' → 'CC BY-SA 4.0'."""
    if not code:
        return None
    code = code.lower()
    if code == "pdm":
        return "Public Domain Mark"
    if code == "cc0":
        return "CC0 1.0"
    return f"CC {code.upper()} {version}".strip() if version else f"CC {code.upper()}"


def plain_text(markup: str | None) -> str | None:
    """Text of an HTML fragment (Commons metadata is HTML)."""
    if not markup:
        return None
    return " ".join(html.unescape(_TAG.sub(" ", markup)).split()) or None


def _need_query(name: str, query: str | None) -> str:
    if not query or not query.strip():
        raise DsaiiError(f"engine {name} searches by keywords: give a query")
    return query.strip()


class _KeywordApiEngine:
    """An engine that asks a public JSON API for images matching keywords."""
    needs = "query"

    def __init__(self, spec: dict, downloader: Downloader):
        self.name = spec["name"]
        self.spec = spec
        self.downloader = downloader


class OpenverseEngine(_KeywordApiEngine):
    """Openverse image search (openly licensed images, with license and attribution)."""

    def search(self, reference: np.ndarray | None = None, query: str | None = None,
               limit: int = 50) -> list[Candidate]:
        query = _need_query(self.name, query)
        page_size = int(self.spec.get("page_size", 20))
        found: list[Candidate] = []
        page = 1
        while len(found) < limit:
            params = {"q": query, "page_size": page_size, "page": page, **self.spec.get("params", {})}
            answer = self.downloader.get_json(f"{self.spec['base_url']}/v1/images/", params)
            results = answer.get("results")
            if not isinstance(results, list):
                raise DsaiiError(f"engine {self.name}: the API answer has no 'results' list")
            for result in results:
                if result.get("url"):
                    found.append(Candidate(
                        url=result["url"], page_url=result.get("foreign_landing_url"), title=result.get("title"),
                        license=openverse_license(result.get("license"), result.get("license_version")),
                        attribution=result.get("attribution") or result.get("creator"),
                        engine=self.name, query=query))
            if not results or page >= int(answer.get("page_count") or page):
                break
            page += 1
        return found[:limit]


class WikimediaEngine(_KeywordApiEngine):
    """Wikimedia Commons file search through the MediaWiki API (license and author per file)."""

    def search(self, reference: np.ndarray | None = None, query: str | None = None,
               limit: int = 50) -> list[Candidate]:
        query = _need_query(self.name, query)
        found: list[Candidate] = []
        cont: dict = {}
        while len(found) < limit:
            params = {"action": "query", "format": "json", "generator": "search", "gsrnamespace": 6,
                      "gsrsearch": f"filetype:bitmap {query}", "gsrlimit": min(50, limit - len(found)),
                      "prop": "imageinfo", "iiprop": "url|mime|extmetadata",
                      "iiurlwidth": int(self.spec.get("image_width", 1024)), **cont}
            answer = self.downloader.get_json(f"{self.spec['base_url']}/w/api.php", params)
            if "error" in answer:
                raise DsaiiError(f"engine {self.name}: {answer['error'].get('info', 'API error')}")
            pages = sorted(answer.get("query", {}).get("pages", {}).values(), key=lambda p: p.get("index", 0))
            for page in pages:
                info = (page.get("imageinfo") or [{}])[0]
                url = info.get("thumburl") or info.get("url")
                if not url or not str(info.get("mime", "image/")).startswith("image/"):
                    continue
                meta = info.get("extmetadata", {})
                value = lambda key: plain_text(meta.get(key, {}).get("value"))  # noqa: E731
                author = value("Attribution") or value("Artist")
                license_name = value("LicenseShortName")
                title = page.get("title", "").removeprefix("File:")
                found.append(Candidate(
                    url=url, page_url=info.get("descriptionurl"), title=title, license=license_name,
                    attribution=", ".join(x for x in (author, license_name, "via Wikimedia Commons") if x),
                    engine=self.name, query=query))
            cont = answer.get("continue") or {}
            if not cont or not pages:
                break
        return found[:limit]
