"""Where a webhook may send (tracking/_webhook_guard.py): the decision on an address, the
look-up's errors, and the request a delivery is pinned to."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator

import pytest

from labtrack.errors import InvalidParameterValue
from labtrack.tracking import _webhook_guard as guard


@pytest.fixture(autouse=True)
def _private_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", raising=False)
    monkeypatch.delenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", raising=False)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.216.34", True),
        ("1.1.1.1", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),  # IPv4-mapped public
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # CGNAT
        ("100.127.255.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),  # multicast
        ("240.0.0.1", False),  # reserved
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fec0::1", False),  # site-local
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b::6440:1", False),  # NAT64 of 100.64.0.1
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert guard.is_public_address(ipaddress.ip_address(address)) is public


def test_every_address_of_a_name_must_be_public(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "resolve", lambda host: ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(InvalidParameterValue) as caught:
        guard.public_addresses("hooks.example")
    assert caught.value.message == (
        "Webhook URL must not resolve to a non-public IP address. "
        "'hooks.example' resolves to 10.0.0.7."
    )


def test_a_name_that_does_not_resolve() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        guard.check_url_host("nothing.invalid")
    assert caught.value.message.startswith(
        "Cannot resolve Webhook URL hostname 'nothing.invalid': "
    )


@pytest.mark.parametrize(
    "variable", ["LABTRACK_WEBHOOK_ALLOW_PRIVATE_IPS", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"]
)
def test_the_setting_allows_private_addresses(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "true")
    guard.check_url_host("127.0.0.1")
    guard.check_url_host("nothing.invalid")  # not even resolved
    assert guard.pin("http://localhost:8000/hook") == guard.PinnedRequest(
        "http://localhost:8000/hook"
    )


def test_pin_aims_at_the_checked_address_and_keeps_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guard, "resolve", lambda host: ["93.184.216.34", "93.184.216.35"])
    assert guard.pin("https://hooks.example:8443/ci?x=1") == guard.PinnedRequest(
        "https://93.184.216.34:8443/ci?x=1",
        {"Host": "hooks.example:8443"},
        {"sni_hostname": "hooks.example"},
    )
    assert guard.pin("http://hooks.example/ci") == guard.PinnedRequest(
        "http://93.184.216.34/ci", {"Host": "hooks.example"}, {}
    )
    monkeypatch.setattr(guard, "resolve", lambda host: ["2606:4700:4700::1111"])
    assert guard.pin("https://hooks.example/ci").url == "https://[2606:4700:4700::1111]/ci"


def test_pin_leaves_a_public_address_as_it_is() -> None:
    assert guard.pin("https://8.8.8.8/ci") == guard.PinnedRequest("https://8.8.8.8/ci")


@pytest.mark.parametrize(
    ("url", "host", "address"),
    [
        ("http://127.0.0.1:9/hook", "127.0.0.1", "127.0.0.1"),
        ("http://[::1]:9/hook", "::1", "::1"),
        ("http://2130706433/hook", "2130706433", "127.0.0.1"),
        ("http://localhost/hook", "localhost", "127.0.0.1"),
    ],
)
def test_pin_refuses_what_a_webhook_may_not_reach(url: str, host: str, address: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        guard.pin(url)
    assert caught.value.message == (
        f"Webhook URL must not resolve to a non-public IP address. {host!r} resolves to {address}."
    )


@pytest.fixture
def hung_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A resolver that never answers until the test ends (a DNS server that drops queries),
    and a short time-out; the hosts asked for are listed."""
    release = threading.Event()
    asked: list[str] = []

    def hang(host: str) -> list[str]:
        asked.append(host)
        release.wait()
        return ["93.184.216.34"]

    monkeypatch.setattr(guard, "resolve", hang)
    monkeypatch.setattr(guard, "RESOLVE_TIMEOUT", 0.2)
    yield asked
    release.set()


def test_a_look_up_that_never_ends_is_refused_in_time(hung_resolver: list[str]) -> None:
    start = time.monotonic()
    with pytest.raises(InvalidParameterValue) as caught:
        guard.check_url_host("slow.example")
    assert time.monotonic() - start < 5
    assert caught.value.message == (
        "Timed out resolving Webhook URL hostname 'slow.example' after 0.2 seconds"
    )
    assert hung_resolver == ["slow.example"]


def test_look_ups_are_bounded_in_number(
    hung_resolver: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the allowed number of look-ups hang, another is refused without starting one."""
    monkeypatch.setattr(guard, "_resolutions", threading.BoundedSemaphore(1))
    with pytest.raises(InvalidParameterValue, match="Timed out resolving"):
        guard.check_url_host("first.example")
    with pytest.raises(InvalidParameterValue) as caught:
        guard.check_url_host("second.example")
    assert caught.value.message == (
        "Timed out waiting to resolve Webhook URL hostname 'second.example' because too many "
        "hostname resolutions are already in progress"
    )
    assert hung_resolver == ["first.example"]
