"""Which network addresses the crawler may talk to: public ones, and others only when allowed.

A page or an API controls the URLs we fetch, so every hop (first request, each redirect, robots.txt)
resolves the host, checks every address it resolves to, and then connects to a checked address
(never resolving again), so DNS cannot swap in an internal address after the check.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Sequence
from urllib.parse import urlsplit

from dsaii_core.errors import DsaiiError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Addresses that hold no image host a user wants; refused even with allow_private=True
# (169.254.169.254 is the cloud metadata service).
_ALWAYS_REFUSED = ("link-local", "multicast", "unspecified", "reserved")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: a gateway forwards to the last 32 bits


class AddressRefused(DsaiiError):
    """A URL whose host is (or resolves to) an address the crawler must not reach."""


@dataclass(frozen=True)
class AddressPolicy:
    """allow_private: False (public only), True (also loopback / private ranges), or a list of
    networks (e.g. ["127.0.0.0/8"]) that are allowed in addition to public addresses."""
    allow_private: bool | Sequence[str] = False

    def _networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        if isinstance(self.allow_private, bool):
            return []
        return [ipaddress.ip_network(n, strict=False) for n in self.allow_private]

    def refusal(self, ip: IPAddress) -> str | None:
        """Why `ip` may not be reached, or None when it may.

        IPv6 addresses that lead to an IPv4 address are judged by it too: an IPv4-mapped (::ffff:0:0/96) or
        NAT64 (64:ff9b::/96) address is its IPv4 address; a 6to4 (2002::/16) or Teredo (2001::/32) one must
        pass both as itself and with the IPv4 addresses it tunnels to (2002:7f00:1:: is 127.0.0.1).
        """
        if isinstance(ip, ipaddress.IPv6Address):
            translated = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
            if translated is not None:
                why = self._refusal(translated)
                return why and f"{why} (as {ip})"
            for inner in (ip.sixtofour, *(ip.teredo or ())):
                why = inner is not None and self._refusal(inner)
                if why:
                    return f"{why} (inside {ip})"
        return self._refusal(ip)

    def _refusal(self, ip: IPAddress) -> str | None:
        if any(ip in network for network in self._networks()):
            return None
        category = _category(ip)
        if category is None:
            return None
        if self.allow_private is True and category not in _ALWAYS_REFUSED:
            return None
        return f"{category} address {ip}"

    def resolve(self, url: str) -> tuple[str, int, str]:
        """(host, port, checked ip) for an http(s) URL; AddressRefused when any address is not allowed."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise AddressRefused(f"{url}: only http and https URLs are fetched")
        host = parts.hostname
        if not host:
            raise AddressRefused(f"{url}: no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise AddressRefused(f"{url}: bad port") from exc
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise DsaiiError(f"{url}: cannot resolve host {host}") from exc
        ips = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        for ip in ips:
            why = self.refusal(ip)
            if why:
                raise AddressRefused(f"{url}: refused {why} (allow private addresses explicitly to reach it)")
        return host, port, str(ips[0])


def _category(ip: IPAddress) -> str | None:
    """The kind of non-public address `ip` is, or None for a public one."""
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10")):
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None
