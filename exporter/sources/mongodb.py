"""Read workspace ownership from Ada's MongoDB in one query per scrape.

``workspaces``: every record not cleanly deleted before the window starts nor
created after it ends. The date filters are written so that records with a
missing, null or malformed date still come back, to be checked (and counted if
bad) here rather than silently dropped by the query.

A workspace's ``owner`` is the user's platform name, which is all the labels
need: the ``users`` collection (names, e-mail addresses, uid, gid, tag) is never
read.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import bson.errors
import pymongo
import pymongo.errors
from pymongo import MongoClient

from exporter.attribution.experiments import ExperimentBatch, parse_experiments
from exporter.attribution.hosts import host_key
from exporter.model import UNATTRIBUTED, SourceError, Workspace, WorkspaceBatch

# Only the fields the exporter needs are projected.
WORKSPACE_FIELDS = dict.fromkeys(
    ("hostname", "owner", "state", "tag", "created_time", "deleted_time", "acquired_time"), 1
)
EXPERIMENT_FIELDS = dict.fromkeys(("name", "members", "parameters", "start_time", "end_time"), 1)


class MongoOwnership:
    """An OwnershipSource over the ``ada`` database's ``workspaces``."""

    def __init__(self, client: MongoClient[Any], database: str, timeout: float) -> None:
        self._client = client
        self._db = client[database]
        self._timeout = timeout
        self.requests = 0

    def workspaces(self, start: datetime, end: datetime) -> WorkspaceBatch:
        """Every valid workspace alive at any moment of [start, end]; skipped ones by reason."""
        query = {
            "$and": [
                _date_or_malformed("deleted_time", "$gte", start),
                _date_or_malformed("created_time", "$lte", end),
            ]
        }
        docs = self._documents("workspaces", query, WORKSPACE_FIELDS)
        return parse_workspaces(docs, start.timestamp(), end.timestamp())

    def experiments(self) -> ExperimentBatch:
        """Every experiment record in ``groups``, in one query; malformed ones skipped and counted.

        Used by reports only, never by a scrape.
        """
        docs = self._documents("groups", {"type": "experiment"}, EXPERIMENT_FIELDS)
        return parse_experiments(docs)

    def _documents(
        self, collection: str, query: Mapping[str, Any], fields: Mapping[str, int]
    ) -> list[Any]:
        """Every document the query matches, in one request; any driver failure a SourceError."""
        self.requests += 1
        try:
            # pymongo's client-side operation timeout bounds server selection,
            # connection and the whole cursor, so a hung server cannot hold a scrape.
            with pymongo.timeout(self._timeout):
                return list(self._db[collection].find(query, fields))
        except (pymongo.errors.PyMongoError, bson.errors.BSONError) as exc:
            # BSONError: an answer the driver could not decode at all (not a PyMongoError).
            if isinstance(exc, pymongo.errors.ServerSelectionTimeoutError):
                why = self._unreachable()  # pymongo's own text dumps its whole topology
            else:
                why = str(exc)
            raise SourceError(f"{type(exc).__name__} reading {collection}: {why}") from exc

    def _unreachable(self) -> str:
        """The servers that did not answer within the timeout, and why, on one short line.

        ``no server answered within 3s: 127.0.0.1:27017 ([Errno 111] Connection refused)``
        """
        # Only a MongoClient describes its servers (tests' stand-ins do not).
        topology = getattr(self._client, "topology_description", None)
        servers = topology.server_descriptions() if topology is not None else {}
        why = ", ".join(
            f"{host}:{port} ({_reason(servers[host, port].error)})"
            for host, port in sorted(servers)
        )
        return f"no server answered within {self._timeout:g}s" + (f": {why}" if why else "")


_ADDRESS = re.compile(r"^\S+:\d+: ")  # pymongo starts a server's error with its address
_TIMEOUTS = re.compile(r" \(configured timeouts: [^)]*\)$")  # and ends it with its timeouts


def _reason(error: Exception | None) -> str:
    """Why one server did not answer: its error without the address and timeouts around it."""
    if error is None:
        return "no reply"
    return _TIMEOUTS.sub("", _ADDRESS.sub("", str(error))) or type(error).__name__


_NOT_DATES = ("string", "number", "bool", "object", "array", "objectId", "binData")


def _date_or_malformed(field: str, op: str, bound: datetime) -> dict[str, Any]:
    """Match ``field op bound``, or a missing, null or non-date ``field`` (to be counted later).

    Spelt with ``$in: [None]`` and one ``$type`` per clause rather than ``$not``,
    which nx-27017 does not implement. The types are those mongomock can match too;
    a date stored as a BSON timestamp, regex or code is still dropped by the query
    uncounted (nx-27017 and mongomock can neither store nor match them to test).
    """
    clauses: list[dict[str, Any]] = [{field: {"$in": [None]}}, {field: {op: bound}}]
    clauses += [{field: {"$type": t}} for t in _NOT_DATES]
    return {"$or": clauses}


_EPOCH = datetime(1970, 1, 1)
_UNDECODED = "\ufffd"  # what the client decodes bytes that are not UTF-8 to (see wiring)
# Label values from MongoDB (id, owner, state) longer than this are not names: each
# would be a series' label in Prometheus' index, for as long as the data is kept.
MAX_LABEL_CHARS = 256


def as_timestamp(value: object) -> float | None:
    """Unix seconds of a BSON date; naive datetimes are UTC (as pymongo returns them)."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return (value - _EPOCH).total_seconds()  # as .timestamp() of it in UTC, 5x faster
    return value.timestamp()


def _check(doc: Any) -> Workspace | str:
    """A Workspace, or the reason the document cannot be used (the first that applies)."""
    if not isinstance(doc, Mapping):
        return "not_a_document"
    hostname: Any = doc.get("hostname")
    host = host_key(hostname)
    if host is None or _UNDECODED in hostname:
        return "bad_hostname"
    dates = _dates(doc)
    if isinstance(dates, str):
        return dates
    labels = _labels(doc)
    if isinstance(labels, str):
        return labels
    (created, deleted), (state, owner, workspace_id, id_type) = dates, labels
    if state == "DELETED" and deleted is None:
        return "deleted_without_time"
    raw_acquired = doc.get("acquired_time")
    acquired = as_timestamp(raw_acquired)
    if raw_acquired is not None and acquired is None:
        return "bad_acquired_time"  # a tenure from created_time instead would be a guess
    return Workspace(
        workspace_id=workspace_id,
        host=host,
        hostname=hostname,
        owner=owner,
        state=state,
        tag=_tag(doc.get("tag")),
        created=created,
        deleted=deleted,
        acquired=acquired,
        id_type=id_type,
    )


def _dates(doc: Mapping[str, Any]) -> tuple[float, float | None] | str:
    """(created, deleted) in unix seconds, or why they cannot be used."""
    created = as_timestamp(doc.get("created_time"))
    if created is None:
        return "bad_created_time"
    raw_deleted = doc.get("deleted_time")
    deleted = as_timestamp(raw_deleted)
    if raw_deleted is not None and deleted is None:
        return "bad_deleted_time"
    if deleted is not None and deleted < created:
        return "deleted_before_created"
    return created, deleted


def _labels(doc: Mapping[str, Any]) -> tuple[str, str | None, str, str] | str:
    """(state, owner, id, id's type): the values that become labels; or why they cannot."""
    state, owner, raw_id = doc.get("state"), doc.get("owner"), doc.get("_id", "")
    if not isinstance(state, str) or not _label_like(state):
        return "bad_state"
    if owner is not None:
        if not isinstance(owner, str) or not _label_like(owner.strip()):
            return "bad_owner"
        owner = owner.strip()
        if owner == UNATTRIBUTED:
            return "reserved_owner"  # a user of that name would merge with unowned usage
        if "@" in owner:
            return "email_owner"  # an e-mail address never reaches a label
    workspace_id = str(raw_id)
    if len(workspace_id) > MAX_LABEL_CHARS:
        return "bad_id"
    return state.upper(), owner, workspace_id, type(raw_id).__name__


def _label_like(value: str) -> bool:
    return 0 < len(value) <= MAX_LABEL_CHARS and _UNDECODED not in value


def _tag(value: object) -> str:
    """A workspace's tag; one no label could hold is dropped, not the workspace."""
    return value if isinstance(value, str) and _label_like(value) else ""


def parse_workspaces(docs: Iterable[Any], start: float, end: float) -> WorkspaceBatch:
    """Validate raw workspace documents; keep those alive in [start, end], count the rest.

    Duplicates (the same ``_id``, by type and value, twice) are kept once and counted.
    """
    kept: dict[tuple[str, str], Workspace] = {}
    skipped: Counter[str] = Counter()
    for doc in docs:
        result = _check(doc)
        if isinstance(result, str):
            skipped[result] += 1
        elif (result.workspace_id, result.id_type) in kept:
            skipped["duplicate"] += 1
        elif result.created <= end and (result.deleted is None or result.deleted >= start):
            kept[result.workspace_id, result.id_type] = result
    return WorkspaceBatch(tuple(kept.values()), dict(skipped))
