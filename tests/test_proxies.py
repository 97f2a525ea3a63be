"""The web side behind a reverse proxy: who the client is, and who may read /metrics.

Real HTTP to the relay's own web server; the "proxy" is this test sending the headers a proxy on
the same host would send.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from smtp_fixtures import LoopThread, Relay, Sink, settings_for_sink

from relay_smtp.config import AdminSettings, ConfigError, Settings, load_settings

ADMIN_TOKEN = "admin-token-0123456789abcdef"


def get(port: int, path: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        err.close()
        return err.code


def settings(sink: Sink, trusted_proxies: str | None) -> Settings:
    base = settings_for_sink(sink.port)
    return replace(
        base,
        web=replace(base.web, trusted_proxies=trusted_proxies),
        admin=AdminSettings(token=ADMIN_TOKEN),
    )


@pytest.fixture(params=[None, "127.0.0.1/32,::1/128"], ids=["no-trusted-proxy", "trusted-proxy"])
def relay(request: pytest.FixtureRequest, loop_thread: LoopThread, sink: Sink) -> Iterator[Relay]:
    r = Relay(loop_thread, settings(sink, request.param)).start()
    yield r
    r.stop()


@pytest.mark.parametrize(
    "forwarded",
    [
        {"X-Forwarded-For": "203.0.113.9"},  # what the proxy sends for an outside client
        {"X-Forwarded-For": "127.0.0.1"},  # a client claiming loopback, passed on as is
        {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"},  # the same claim, appended to by the proxy
        {"Forwarded": "for=203.0.113.9"},
    ],
)
def test_metrics_through_a_proxy_need_the_token(relay: Relay, forwarded: dict[str, str]) -> None:
    assert get(relay.web_port, "/metrics", {}) == 200  # straight from loopback
    assert get(relay.web_port, "/metrics", forwarded) == 403
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert get(relay.web_port, "/metrics", {**forwarded, **bearer}) == 200
    assert get(relay.web_port, "/metrics", {**forwarded, "Authorization": "Bearer nope"}) == 403


def test_the_client_is_the_right_most_untrusted_hop(loop_thread: LoopThread, sink: Sink) -> None:
    relay = Relay(loop_thread, settings(sink, "127.0.0.1")).start()
    try:
        attacker = "203.0.113.9"
        wrong = {"Authorization": "Bearer wrong-token"}
        codes = [
            # Rotating the left-most entry (written by the client) evades nothing.
            get(relay.web_port, "/admin", {**wrong, "X-Forwarded-For": f"10.0.0.{i}, {attacker}"})
            for i in range(30)
        ]
        assert codes[0] == 401 and codes[-1] == 429
        right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        # Someone else's failures do not lock the admin out.
        assert get(relay.web_port, "/admin", {**right, "X-Forwarded-For": "198.51.100.7"}) == 200
    finally:
        relay.stop()


@pytest.mark.parametrize("value", ['"*"', '["*"]', '"127.0.0.1, *"', '"proxy.example"', '""'])
def test_trusted_proxies_takes_addresses_or_networks_only(tmp_path: Path, value: str) -> None:
    config = tmp_path / "relay.toml"
    config.write_text(f"[web]\ntrusted_proxies = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(config, {})
    assert any(p.startswith("web.trusted_proxies") for p in err.value.problems), err.value.problems


def test_trusted_proxies_as_a_list_or_comma_separated(tmp_path: Path) -> None:
    config = tmp_path / "relay.toml"
    config.write_text('[web]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n', encoding="utf-8")
    assert load_settings(config, {}).web.trusted_proxies == "127.0.0.1/32,10.0.0.0/8"
    config.write_text('[web]\ntrusted_proxies = "::1, 192.0.2.0/24"\n', encoding="utf-8")
    assert load_settings(config, {}).web.trusted_proxies == "::1/128,192.0.2.0/24"
