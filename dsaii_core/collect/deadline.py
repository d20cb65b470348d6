"""An httpx transport that holds every socket operation to a deadline, so no server can hold a request longer.

httpx's timeouts bound each read, not a whole request: a server that sends one byte every 0.3 s never trips
a 10 s read timeout and holds a "2 s" download for as long as it likes. Here every connect, TLS handshake,
read and write waits at most until the deadline the calling thread set with `DeadlineTransport.until`
(sync httpx does a request's socket work in the thread that sends it).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

import httpcore
import httpx

_MIN_WAIT_S = 0.001  # a socket timeout of 0 would make the socket non-blocking, not expire


class _Deadline(threading.local):
    at: float | None = None

    def cap(self, timeout: float | None) -> float | None:
        """`timeout` cut to the time left before this thread's deadline (if one is set)."""
        if self.at is None:
            return timeout
        left = max(self.at - time.monotonic(), _MIN_WAIT_S)
        return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline):
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.cap(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.cap(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, self._deadline.cap(timeout)),
                       self._deadline)

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, deadline: _Deadline):
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(host, port, self._deadline.cap(timeout), local_address, socket_options)
        return _Stream(stream, self._deadline)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options=None) -> httpcore.NetworkStream:
        return _Stream(self._backend.connect_unix_socket(path, self._deadline.cap(timeout), socket_options),
                       self._deadline)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (no proxies from the environment, keep-alive pool) on a deadline-aware backend."""

    def __init__(self, limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)):
        super().__init__(trust_env=False, limits=limits)
        self._deadline = _Deadline()
        # httpx has no public way to choose httpcore's network backend: the pool it built is replaced by
        # the same pool on ours (tests/collect/test_downloader.py's trickle tests fail if this stops working).
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(self._deadline))

    @contextmanager
    def until(self, deadline: float) -> Iterator[None]:
        """Within this block, this thread's socket operations end by `deadline` (time.monotonic())."""
        self._deadline.at = deadline
        try:
            yield
        finally:
            self._deadline.at = None
