"""SILKGATE_NATS_URL as one server or a cluster's list, and how many copies each stream gets."""

from __future__ import annotations

import pytest

from shared.bus import Bus, server_urls, stream_replicas_for
from shared.settings import ServiceSettings


def test_a_comma_separated_url_is_a_list_of_servers():
    assert server_urls("nats://a:4222, nats://b:4222,nats://c:4222") == ["nats://a:4222", "nats://b:4222",
                                                                         "nats://c:4222"]
    assert server_urls("nats://127.0.0.1:4223") == ["nats://127.0.0.1:4223"]
    with pytest.raises(ValueError):
        server_urls(" , ")


def test_three_copies_once_the_cluster_can_hold_them():
    assert [stream_replicas_for(size) for size in (1, 2, 3, 5)] == [1, 1, 3, 3]


def test_the_replicas_setting_is_shared_and_bounded(monkeypatch):
    monkeypatch.setenv("SILKGATE_NATS_STREAM_REPLICAS", "3")
    monkeypatch.setenv("SILKGATE_NATS_URL", "nats://a:4222,nats://b:4222,nats://c:4222")
    settings = ServiceSettings()
    assert settings.nats_stream_replicas == 3
    assert Bus(settings.nats_url, replicas=settings.nats_stream_replicas).servers == [
        "nats://a:4222", "nats://b:4222", "nats://c:4222"]
    monkeypatch.setenv("SILKGATE_NATS_STREAM_REPLICAS", "9")
    with pytest.raises(ValueError):
        ServiceSettings()


async def test_a_single_server_gets_one_copy(nats_url):
    bus = Bus(nats_url)
    await bus.connect(retry=False)
    try:
        assert bus.stream_replicas == 1
        assert (await bus.js.stream_info("SILKGATE_ORDERS")).config.num_replicas == 1
    finally:
        await bus.close()
