"""Fixtures of the collect tests: the fake web on 127.0.0.1 and a fast, loopback-only downloader."""

from __future__ import annotations

import pytest

from dsaii_core.collect.downloader import Downloader, DownloadSettings
from tests.fixtures.fake_web import FakeWeb

LOOPBACK = ("127.0.0.0/8",)  # the tests allow loopback only: a redirect to 10.x / 169.254.x stays refused


@pytest.fixture(scope="session")
def web() -> FakeWeb:
    server = FakeWeb().start()
    yield server
    server.stop()


@pytest.fixture
def fast_settings() -> DownloadSettings:
    return DownloadSettings(allow_private=LOOPBACK, workers=3, connect_timeout_s=1.0, read_timeout_s=0.5,
                            total_timeout_s=5.0, max_bytes=2 * 1024 * 1024, retries=1, backoff_s=0.01,
                            per_host_interval_s=0.0)


@pytest.fixture
def downloader(fast_settings) -> Downloader:
    with Downloader(fast_settings) as client:
        yield client
