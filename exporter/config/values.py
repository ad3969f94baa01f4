"""Checks of single values: each turns a YAML value into a setting or raises ValueError.

A message may quote a value (cut by :func:`shown`), except where it could be a secret;
URLs are printed only through :func:`mask_url`.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

_DURATION = re.compile(r"(?:(\d{1,9})d)?(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,9})s)?")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # what a setting (or a mistyped one) looks like
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token
SECRET_BYTES = 16384
# The earlier service's PROMETHEUS_URL and MONGO_URI were bare, e.g. localhost:9090.
_BARE = re.compile(r"[A-Za-z0-9._-]+:\d{1,5}")


def shown(value: object) -> str:
    """A value for a message: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def finite(value: int | float, what: str = "number") -> float:
    try:
        number = float(value)
    except OverflowError:  # an int of hundreds of digits
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"expected a finite {what}, got {shown(value)}")
    return number


def parse_duration(value: object) -> float:
    """Seconds from a number or a Prometheus-style duration such as ``1h30m``."""
    m = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if m and any(m.groups()):
        d, h, mi, s = (int(g or 0) for g in m.groups())
        return float(((d * 24 + h) * 60 + mi) * 60 + s)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return finite(value, "duration")
    raise ValueError(f"expected seconds or a duration like 1h or 90s, got {shown(value)}")


def text(seconds: float) -> str:
    """A duration as the config would write it: 31d, 1h, 90s."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and not seconds % size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def duration(low: float, high: float, multiple: float = 0) -> Callable[[Any], float]:
    """A duration from ``low`` to ``high`` seconds: exporter.yaml says each range."""

    def convert(value: Any) -> float:
        seconds = parse_duration(value)
        if not low <= seconds <= high or (multiple and seconds % multiple):
            every = f"a multiple of {text(multiple)} " if multiple else ""
            raise ValueError(f"must be {every}from {text(low)} to {text(high)}, got {shown(value)}")
        return seconds

    return convert


def number(minimum: float = 0.0) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {shown(value)}")
        if finite(value) < minimum:
            raise ValueError(f"must be >= {minimum:g}, got {value!r}")
        return float(value)

    return convert


def string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {shown(value)}")
    return value


def string_then(check: Callable[[str], str]) -> Callable[[Any], str]:
    """A non-empty string that ``check`` accepts (a URL, a label name...)."""
    return lambda value: check(string(value))


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {shown(value)}")
    return value


def choice(*allowed: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {shown(value)}")
        return str(value)

    return convert


def header_value(value: str) -> str:
    """A value HTTP carries as written: printable ASCII on one line, no blank at either end."""
    if not (value.isascii() and value.isprintable()) or value != value.strip():
        raise ValueError("must be printable ASCII on one line (the value is not shown)")
    return value


def headers(value: Any) -> dict[str, str]:
    found = str_map(value)
    for name, text in found.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{shown(name)} is not an HTTP header name")
        try:
            header_value(text)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return found


def secret_file(value: Any, header: bool = False) -> str:
    """The secret in the named file, less surrounding blanks (as Prometheus trims them)."""
    with open(string(value), "rb") as file:
        raw = file.read(SECRET_BYTES + 1)
    if len(raw) > SECRET_BYTES:
        raise ValueError(f"{value}: longer than {SECRET_BYTES} bytes, not a secret")
    try:
        secret = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{value}: not UTF-8 text") from None
    return header_value(secret) if header else secret


def database(value: Any) -> str:
    name = string(value)
    if len(name) > 63 or any(ch in name for ch in '/\\. "$\0'):
        raise ValueError(f"not a MongoDB database name: {shown(name)}")
    return name


def ca_file(value: Any) -> str:
    """A CA bundle that loads: an unreadable or non-PEM file is a config error, not a crash."""
    ssl.create_default_context(cafile=string(value))  # OSError (ssl.SSLError is one) if unusable
    return str(value)


def str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("expected a mapping of strings to strings")
    return dict(value)


def modes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise ValueError("expected a list of node_exporter mode names")
    if not value:  # PromQL cannot select no modes; zero watts is how to leave a class out
        raise ValueError("expected at least one node_exporter mode name")
    return tuple(value)


def instruments(value: Any) -> dict[str, tuple[str, ...]]:
    """Instrument -> machine_name values, e.g. {WISH: [Diffraction]}."""
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of instrument names to lists of machine_name values")
    for k, v in value.items():
        if not isinstance(v, list) or not all(isinstance(m, str) and m for m in v):
            raise ValueError(f"{shown(k)}: expected a list of machine_name values, got {shown(v)}")
    return {str(k): tuple(v) for k, v in value.items()}


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


def with_scheme(value: str, scheme: str, notes: list[str]) -> str:
    """A bare ``host:port`` read as ``scheme://host:port``, noting it; anything else as is."""
    if not _BARE.fullmatch(value):
        return value
    notes.append(f"{value} read as {scheme}://{value}")
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
            # pymongo's messages quote neither the URI nor its parts
            raise ValueError(f"not a valid MongoDB URI {mask_url(value)!r}: {exc}") from None
    return value


def between(low: float, high: float, whole: bool = False) -> Callable[[Any], float]:
    """A number from ``low`` to ``high`` (``whole``: a whole number)."""

    def convert(value: Any) -> float:
        found = number(-math.inf)(value)
        if not low <= found <= high or (whole and not found.is_integer()):
            kind = "a whole number " if whole else ""
            raise ValueError(f"must be {kind}from {low:g} to {high:g}, got {shown(value)}")
        return found

    return convert


def unknown_keys(path: str, keys: Sequence[object], file: str = "") -> list[str]:
    """Problems for keys nobody asked for: named if they look like a setting, else counted.

    A file that is not a configuration (``/etc/shadow``) parses as keys: never printed.
    """
    names = [str(k) for k in keys if NAME.fullmatch(str(k))]
    where = f"{path}." if path else ""
    found = [f"{where}{k if len(k) <= 40 else k[:39] + '…'}: unknown key" for k in names]
    if len(keys) > len(names):
        found.append(
            f"{path or 'config'}: {len(keys) - len(names)} unknown keys that are not "
            f"setting names, not shown: is {file or 'this'} a configuration file?"
        )
    return found
