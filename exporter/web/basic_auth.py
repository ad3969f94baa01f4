"""HTTP basic auth for the exporter's endpoint, against the bcrypt hashes of --web.config.file."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Mapping
from http import HTTPStatus

import bcrypt

# An unknown user is checked against this (with the cost of the costliest configured
# hash), so a wrong name takes as long as a wrong password: timing tells no names.
_DUMMY_HASH = b"$2b$10$VM2RyU.LHcFBRLaWGRsxC.wR.jg9UrKwJsD8guPAwVLTOCRRNAYf6"
_MAX_PASSWORD = 72  # bytes: bcrypt reads no further, and the bcrypt package refuses more
_CHECKS_AT_ONCE = 2  # a flood from one address holds one, the other stays free
_REMEMBERED = 4096


class BasicAuth:
    """Checks ``Authorization: Basic`` headers against bcrypt hashes, with bounded work.

    bcrypt is slow on purpose, so an unauthenticated client must not make it run at
    will. Every verdict is remembered (as a keyed hash of user, password and bcrypt
    hash), right or wrong, so a password sent again costs nothing; a new one waits for
    nobody: at most two checks run at once and one per client address, and a request
    that finds no free check gets 429 at once. So a flood of wrong passwords from one
    address costs one core, and Prometheus' first login finds the other check free.
    """

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        cost = max((hashed[4:6] for hashed in self._users.values()), default=b"10")
        self._dummy = _DUMMY_HASH[:4] + cost + _DUMMY_HASH[6:]
        self._secret = os.urandom(32)  # the remembered digests mean nothing outside
        self._verdicts: dict[bytes, bool] = {}
        self._checking: set[str] = set()  # client addresses with a check running
        self._lock = threading.Lock()

    def check(self, header: str | None, client: str) -> HTTPStatus:
        """OK for a known user with that user's password, else UNAUTHORIZED or TOO_MANY_REQUESTS."""
        credentials = _decode(header)
        if credentials is None or len(credentials[1]) > _MAX_PASSWORD:
            return HTTPStatus.UNAUTHORIZED
        user, password = credentials
        hashed = self._users.get(user, self._dummy)
        key = hashlib.blake2b(b"\0".join((user.encode(), password, hashed)), key=self._secret)
        right = self._verdicts.get(key.digest())
        if right is None:
            with self._lock:
                if client in self._checking or len(self._checking) >= _CHECKS_AT_ONCE:
                    return HTTPStatus.TOO_MANY_REQUESTS
                self._checking.add(client)
            try:
                right = bcrypt.checkpw(password, hashed) and user in self._users
            finally:
                with self._lock:
                    self._checking.discard(client)
            if len(self._verdicts) >= _REMEMBERED:
                self._verdicts.clear()
            self._verdicts[key.digest()] = right
        return HTTPStatus.OK if right else HTTPStatus.UNAUTHORIZED


def _decode(header: str | None) -> tuple[str, bytes] | None:
    scheme, _, encoded = (header or "").partition(" ")
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        return (user.decode("utf-8"), password) if scheme.lower() == "basic" and colon else None
    except ValueError:  # not base64 (binascii.Error), or a name not in UTF-8
        return None
