"""``--web.config.file``: TLS and basic auth for the exporter's own endpoint.

The file has the format of the Prometheus exporter-toolkit, so one file can serve
node_exporter and this exporter alike::

    tls_server_config:
      cert_file: server.crt          # relative paths are relative to this file
      key_file: server.key
      # client_auth_type: RequireAndVerifyClientCert
      # client_ca_file: clients-ca.crt
      # min_version: TLS12
    basic_auth_users:
      prometheus: $2y$10$...         # bcrypt hash, e.g. from `htpasswd -nBC 10 ""`

It is checked whole when the exporter starts (and by ``--config.check``): every
problem is reported with its key, and a setting this exporter does not implement
is an error rather than silently ignored. Basic auth, when on, guards every path,
as in the toolkit (see :mod:`exporter.web.basic_auth`).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.config import ConfigError, read_yaml
from exporter.config.values import unknown_keys

_BCRYPT = re.compile(r"^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$")
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_KEYS = {  # what each section may hold
    "tls_server_config": "cert_file key_file client_auth_type client_ca_file"
    " min_version max_version",
    "http_server_config": "http2",  # HTTP/2 or not: this exporter speaks HTTP/1, either is fine
}
_UNSUPPORTED = {  # keys of the toolkit's format this exporter lacks: refused, never ignored
    "tls_server_config": "cert key client_ca cipher_suites curve_preferences"
    " prefer_server_cipher_suites client_allowed_sans",
    "http_server_config": "headers",
}


class WebConfigError(ConfigError):
    """The web config file is invalid; ``problems`` lists each one with its key."""

    def __str__(self) -> str:
        return "invalid web configuration (--web.config.file):\n  " + "\n  ".join(self.problems)


@dataclass(frozen=True)
class WebConfig:
    """What ``--web.config.file`` asks for: a TLS context, and users with bcrypt hashes."""

    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the log: what protects the endpoint (never the users' hashes)."""
        parts = ["TLS" if self.tls else "plain HTTP"]
        if self.tls is not None and self.tls.verify_mode == ssl.CERT_REQUIRED:
            parts.append("client certificates required")
        if self.users:
            n = len(self.users)
            parts.append(f"basic auth ({n} user{'' if n == 1 else 's'})")
        return ", ".join(parts)


def load_web_config(path: str | Path | None) -> WebConfig:
    """Read and check the file (None: plain HTTP, no auth); WebConfigError names each bad key."""
    if path is None:
        return WebConfig()
    path = Path(path)
    try:
        data = read_yaml(path, "web.config.file")
    except ConfigError as exc:
        raise WebConfigError(exc.problems) from None
    problems: list[str] = []
    data = _mapping(data, "web.config.file", problems)
    sections = {"tls_server_config", "basic_auth_users", "http_server_config"}
    problems += unknown_keys("", sorted(set(map(str, data)) - sections), str(path))
    _section(data, "http_server_config", problems)
    tls = None
    if data.get("tls_server_config") is not None:
        tls = _tls(_section(data, "tls_server_config", problems), path.parent, problems)
    users = _users(data.get("basic_auth_users"), problems)
    if problems:
        raise WebConfigError(problems)
    return WebConfig(tls, users)


def _mapping(value: object, key: str, problems: list[str]) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{key}: expected a mapping, got {type(value).__name__}")
        return {}
    return value


def _section(data: dict[Any, Any], name: str, problems: list[str]) -> dict[Any, Any]:
    """``data[name]``, a mapping; its unknown and unsupported keys go to ``problems``."""
    section = _mapping(data.get(name), name, problems)
    keys = list(map(str, section))
    unsupported = [k for k in keys if k in _UNSUPPORTED[name].split()]
    problems += [f"{name}.{k}: not supported by this exporter" for k in unsupported]
    unknown = [k for k in keys if k not in _KEYS[name].split() and k not in unsupported]
    problems += unknown_keys(name, unknown)
    return section


def _tls(section: dict[Any, Any], base: Path, problems: list[str]) -> ssl.SSLContext | None:
    """The server's TLS context, or None with the reasons added to ``problems``."""
    before = len(problems)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _versions(section, context, problems)
    _client_auth(section, base, context, problems)
    cert = _file(section, "cert_file", base, problems)
    private = _file(section, "key_file", base, problems)
    if cert is not None and private is not None:
        try:
            # An encrypted key gets an empty password (and fails) rather than a prompt.
            context.load_cert_chain(cert, private, password=lambda: b"")
        except OSError as exc:  # ssl.SSLError is one
            reason = getattr(exc, "reason", None) or exc
            problems.append(
                f"tls_server_config.cert_file: certificate and key_file do not load together "
                f"(or the key is encrypted): {reason}"
            )
    return context if len(problems) == before else None


def _versions(section: dict[Any, Any], context: ssl.SSLContext, problems: list[str]) -> None:
    for key, default in (("min_version", "TLS12"), ("max_version", None)):
        value = section.get(key, default)
        if value is None:
            continue
        if not isinstance(value, str) or value not in _TLS_VERSIONS:
            problems.append(f"tls_server_config.{key}: expected one of {', '.join(_TLS_VERSIONS)}")
        elif key == "min_version":
            context.minimum_version = _TLS_VERSIONS[value]
        else:
            context.maximum_version = _TLS_VERSIONS[value]


def _client_auth(
    section: dict[Any, Any], base: Path, context: ssl.SSLContext, problems: list[str]
) -> None:
    auth = section.get("client_auth_type", "NoClientCert")
    if not isinstance(auth, str) or auth not in _CLIENT_AUTH:
        problems.append(
            f"tls_server_config.client_auth_type: expected one of {', '.join(_CLIENT_AUTH)}"
        )
        return
    context.verify_mode = _CLIENT_AUTH[auth]
    if "client_ca_file" not in section:
        if auth != "NoClientCert":
            problems.append(f"tls_server_config.client_ca_file: required by {auth}")
        return
    ca = _file(section, "client_ca_file", base, problems)
    if ca is not None:
        try:
            context.load_verify_locations(cafile=ca)
        except ssl.SSLError as exc:
            problems.append(f"tls_server_config.client_ca_file: not a PEM CA bundle: {exc}")


def _file(section: dict[Any, Any], key: str, base: Path, problems: list[str]) -> str | None:
    """The readable file named by ``key`` (relative to the web config's directory), or None."""
    value = section.get(key)
    if not isinstance(value, str) or not value:
        problems.append(f"tls_server_config.{key}: required, a file name")
        return None
    path = base / value
    try:
        path.read_bytes()
    except OSError as exc:
        problems.append(f"tls_server_config.{key}: cannot read {path}: {exc.strerror}")
        return None
    return str(path)


def _users(value: object, problems: list[str]) -> dict[str, bytes]:
    users: dict[str, bytes] = {}
    for n, (name, hashed) in enumerate(_mapping(value, "basic_auth_users", problems).items(), 1):
        if not isinstance(name, str) or not name or ":" in name:
            # not shown: "alice:hunter2" is a password pasted with its user
            problems.append(
                f"basic_auth_users: user {n}: a user name is a non-empty string without ':'"
                " (not shown)"
            )
        elif not isinstance(hashed, str) or not _BCRYPT.match(hashed):
            shown = name if len(name) <= 40 else name[:39] + "…"
            problems.append(
                f"basic_auth_users.{shown}: expected a bcrypt hash ($2y$10$...), "
                "not a plain password"
            )
        else:
            users[name] = hashed.encode()
    return users
