"""Turn the many spellings of an Ada host into one exact key.

Prometheus knows a workspace VM by its node_exporter ``instance`` label
(``172.16.100.50:9100``); MongoDB's ``workspaces.hostname`` holds
``172.16.100.50``, ``host-172-16-100-50.nubes.stfc.ac.uk`` or a bare name such
as ``workspace-abc123-muon-0``. Both sides are normalised with
:func:`host_key` and then compared for equality: never by prefix or regex,
which is how the earlier service let ``172.16.0.1`` match 111 hosts.
"""

from __future__ import annotations

import functools
import ipaddress
import re

# The OpenStack "nubes" DNS form: host-172-16-100-50.<domain>
_DASHED_IPV4 = re.compile(r"^host-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})(?:\.[a-z0-9.-]*)?$")
# A DNS name (RFC 1123 labels). Anything else is not a host we can match.
_DNS_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$"
)
_PORT = re.compile(r":\d{1,5}$")


def strip_port(instance: str) -> str:
    """Remove a trailing ``:port`` (and IPv6 brackets) from an ``instance`` label value."""
    value = instance.strip()
    if value.startswith("["):  # [2001:db8::1]:9100
        close = value.find("]")
        return value[1:close] if close > 0 else value
    if value.count(":") == 1:
        return _PORT.sub("", value)
    return value


def host_key(name: object) -> str | None:
    """Return the canonical key of a host name or instance, or None if it cannot be matched.

    IPv4 and IPv6 addresses come back in their canonical text form; the
    ``host-a-b-c-d.…`` DNS form becomes the address ``a.b.c.d``; other DNS
    names come back lower-cased without a trailing dot. Values that are not
    strings, or hold whitespace, quotes or other characters no host name has,
    return None so callers can count them instead of guessing.
    """
    return _host_key(name) if isinstance(name, str) else None


# A fleet's names repeat at every scrape: parsing ten thousand addresses each time
# would cost a tenth of a second, remembering them a few megabytes.
@functools.lru_cache(maxsize=1 << 16)
def _host_key(name: str) -> str | None:
    value = strip_port(name).lower()
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    dashed = _DASHED_IPV4.match(value)
    if dashed:
        try:
            return str(ipaddress.IPv4Address(".".join(dashed.groups())))
        except ValueError:
            return None
    if _DNS_NAME.match(value):
        return value.rstrip(".")
    return None
