"""Upstream URLs: checked at load, and printed only through :func:`mask_url`."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# The earlier service's PROMETHEUS_URL and MONGO_URI were bare, e.g. localhost:9090.
_BARE = re.compile(r"[A-Za-z0-9._-]+(:\d{1,5})?")


def userinfo(url: str) -> tuple[int, int]:
    """Where the user:password part of ``url`` is, as a slice (empty if there is none).

    It ends at the last "@" of the URL, not at the first "/" or "?" after the scheme:
    a password with an unescaped "/", "?", "#" or "@" must not end it early. A URL
    with an "@" further on is masked further than needed, never less.
    """
    start = url.find("://") + 3 if "://" in url else 0
    end = url.rfind("@")
    return (start, end) if end >= start else (start, start)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, whatever the scheme: safe to print."""
    start, end = userinfo(url)
    user, colon, _ = url[start:end].partition(":")
    return url[:start] + user + colon + "***" + url[end:] if colon else url


def url_password(url: str) -> list[str]:
    """The password in ``url`` as written and percent-decoded (none: [])."""
    start, end = userinfo(url)
    _, colon, password = url[start:end].partition(":")
    return [password, unquote(password)] if colon and password else []


def with_scheme(value: str, scheme: str, notes: list[str], name: str) -> str:
    """A bare ``host:port`` read as ``scheme://host:port``, noting it; anything else as is."""
    if not _BARE.fullmatch(value):
        return value
    notes.append(f"{name}={value} read as {scheme}://{value}")
    return f"{scheme}://{value}"


def check_url(value: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """Raise ValueError unless ``value`` is an absolute URL of one of ``schemes``."""
    parts = urlsplit(value)
    try:
        _ = parts.port  # raises ValueError for a port out of range or not a number
        well_formed = bool(parts.hostname) and not any(ch.isspace() for ch in value)
    except ValueError:
        well_formed = False
    if parts.scheme not in schemes or not well_formed:
        expected = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"expected an absolute {expected} URL, got {mask_url(value)!r}")
    return value


def check_mongo_uri(value: str) -> str:
    """Raise ValueError unless ``value`` is a MongoDB connection string pymongo accepts."""
    check_url(value, ("mongodb", "mongodb+srv"))
    if value.startswith("mongodb://"):  # +srv would need a DNS lookup here
        from pymongo.errors import PyMongoError
        from pymongo.uri_parser import parse_uri

        try:
            parse_uri(value)
        except (PyMongoError, ValueError) as exc:
            reason = str(exc)
            for secret in url_password(value):  # should pymongo ever quote it
                reason = reason.replace(secret, "***")
            raise ValueError(f"not a valid MongoDB URI {mask_url(value)!r}: {reason}") from None
    return value
