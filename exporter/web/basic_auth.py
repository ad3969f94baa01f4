"""HTTP basic auth for the exporter's endpoint, against the bcrypt hashes of --web.config.file."""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Mapping

import bcrypt

# Compared against when the user is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = b"$2b$10$VM2RyU.LHcFBRLaWGRsxC.wR.jg9UrKwJsD8guPAwVLTOCRRNAYf6"
_MAX_PASSWORD = 72  # bytes: bcrypt reads no further, and the bcrypt package refuses more
_CACHE_SIZE = 256


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes.

    bcrypt is slow on purpose, so checks run one at a time (a flood of bad
    passwords costs one core, not all of them) and a successful check is
    remembered (as a SHA-256 of user, password and hash), so Prometheus scraping
    with the right password pays for bcrypt once and never queues behind a flood.
    """

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._lock = threading.Lock()
        self._good: set[bytes] = set()

    def allows(self, header: str | None) -> bool:
        """True if the header holds a known user and that user's password."""
        credentials = _decode(header)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self._users.get(user)
        if len(password) > _MAX_PASSWORD:
            return False
        key = hashlib.sha256(b"\0".join((user.encode(), password, hashed or b""))).digest()
        if hashed is not None and key in self._good:
            return True  # without the lock: a flood of wrong passwords never delays Prometheus
        with self._lock:
            ok = bcrypt.checkpw(password, hashed or _DUMMY_HASH) and hashed is not None
            if ok:
                if len(self._good) >= _CACHE_SIZE:
                    self._good.clear()
                self._good.add(key)
        return ok


def _decode(header: str | None) -> tuple[str, bytes] | None:
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = raw.partition(b":")
    if not sep:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None
