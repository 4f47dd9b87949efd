"""Where a webhook may send: public addresses only (MLflow 3's rule and messages), unless
the ``webhook_allow_private_ips`` setting allows private ones (local development).

Two checks, one decision (:func:`is_public_address`):

* when a webhook is created or its URL changed, its host must resolve, and to public
  addresses only (:func:`check_url_host`);
* when a delivery is sent, the host is resolved once more, checked, and the request is
  pinned to the checked address (:func:`pin`): the connection goes to that address, while
  the ``Host`` header and TLS (SNI, the certificate's name) keep the URL's host name. There
  is no second look-up between the check and the connection, so a name that answers a
  public address when checked and a private one later (DNS rebinding) gains nothing.

A number the resolver reads as an address (``0177.0.0.1``, ``2130706433``, ``127.1``) is
judged by the address the resolver makes of it, which is also where a delivery connects.

A look-up takes at most :data:`RESOLVE_TIMEOUT` seconds and at most
:data:`MAX_CONCURRENT_RESOLUTIONS` run at once (MLflow's bounds): a name whose DNS server
never answers is refused with a 400 instead of holding a request, or a delivery, forever.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from labtrack.errors import InvalidParameterValue

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

FIELD = "Webhook URL"

#: Seconds one host name look-up may take, and how many may run at once (MLflow's figures).
RESOLVE_TIMEOUT = 5.0
MAX_CONCURRENT_RESOLUTIONS = 8
_resolutions = threading.BoundedSemaphore(MAX_CONCURRENT_RESOLUTIONS)

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def private_ips_allowed() -> bool:
    """The ``webhook_allow_private_ips`` setting (read on every check)."""
    from labtrack.config import settings

    return bool(settings.get("webhook_allow_private_ips"))


def embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 transition form carries (IPv4-mapped ``::ffff:a.b.c.d``,
    6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``), else ``ip`` itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return inner
    return ip


def is_public_address(ip: IPAddress) -> bool:
    """Whether a webhook may reach ``ip``: a globally routed unicast address, judged by
    the IPv4 address inside an IPv6 transition form."""
    ip = embedded_ipv4(ip)
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return ip not in _CGNAT
    return not ip.is_site_local


def resolve(host: str) -> list[str]:
    """The addresses the system resolver gives for ``host`` (the one place names are
    looked up; tests replace it)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]


def resolve_in_time(host: str) -> list[str]:
    """:func:`resolve` on a thread of its own, given :data:`RESOLVE_TIMEOUT` seconds (the
    system resolver cannot be interrupted; a look-up that never ends is left to its daemon
    thread, which holds one of the :data:`MAX_CONCURRENT_RESOLUTIONS` places meanwhile)."""
    slots = _resolutions
    if not slots.acquire(timeout=RESOLVE_TIMEOUT):
        raise InvalidParameterValue(
            f"Timed out waiting to resolve {FIELD} hostname {host!r} because too many "
            "hostname resolutions are already in progress"
        )
    outcome: dict[str, Any] = {}

    def look_up() -> None:
        try:
            outcome["addresses"] = resolve(host)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc
        finally:
            slots.release()

    thread = threading.Thread(target=look_up, name="labtrack-webhook-resolve", daemon=True)
    thread.start()
    thread.join(RESOLVE_TIMEOUT)
    if thread.is_alive():
        raise InvalidParameterValue(
            f"Timed out resolving {FIELD} hostname {host!r} after {RESOLVE_TIMEOUT:g} seconds"
        )
    if "error" in outcome:
        raise outcome["error"]
    addresses: list[str] = outcome["addresses"]
    return addresses


def public_addresses(host: str) -> list[IPAddress]:
    """``host``'s addresses, all of them public, else MLflow's error naming the first that
    is not (or the look-up's failure or time-out)."""
    try:
        found = resolve_in_time(host)
    except (OSError, UnicodeError, ValueError) as exc:
        raise InvalidParameterValue(f"Cannot resolve {FIELD} hostname {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for text in found:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError as exc:
            raise InvalidParameterValue(
                f"{FIELD} hostname {host!r} resolved to an invalid IP address: {exc}"
            ) from exc
        if not is_public_address(ip):
            raise InvalidParameterValue(
                f"{FIELD} must not resolve to a non-public IP address. {host!r} resolves to {ip}."
            )
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise InvalidParameterValue(f"Cannot resolve {FIELD} hostname {host!r}: no address")
    return addresses


def check_url_host(host: str) -> None:
    """On create and update: ``host`` resolves to public addresses only (unless the
    setting allows private ones)."""
    if not private_ips_allowed():
        public_addresses(host)


@dataclass(frozen=True)
class PinnedRequest:
    """Where one delivery connects: ``url`` (the checked address in place of the host
    name), with the ``headers`` and httpx ``extensions`` that keep the host name for
    the ``Host`` header and TLS."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


def pin(url: str) -> PinnedRequest:
    """At delivery: resolve the URL's host once, check every address, and aim the request
    at the first (MLflow's error when one is not public). With private addresses
    allowed, the URL as it is."""
    import httpx

    if private_ips_allowed():
        return PinnedRequest(url)
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # an address already: nothing to look up, nothing to pin
        public_addresses(host)
        return PinnedRequest(url)
    address = public_addresses(host)[0]
    extensions = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return PinnedRequest(
        str(parsed.copy_with(host=str(address))),
        {"Host": parsed.netloc.decode("ascii")},
        extensions,
    )
