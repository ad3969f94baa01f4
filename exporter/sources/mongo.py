"""Read workspace ownership from Ada's MongoDB in one query per scrape.

``workspaces``: every record not cleanly deleted before the window starts nor
created after it ends. The date filters are written so that records with a
missing, null or malformed date still come back, to be checked (and counted if
bad) here rather than silently dropped by the query.

A workspace's ``owner`` is the user's platform name, which is all the labels
need: the ``users`` collection (names, e-mail addresses, uid, gid, tag) is never
read. Only the fields the exporter needs are projected.
"""

from __future__ import annotations

import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import bson.errors
import pymongo
import pymongo.errors
from pymongo import MongoClient

from exporter.experiments import ExperimentBatch, parse_experiments
from exporter.hosts import host_key
from exporter.model import UNATTRIBUTED, SourceError, Workspace, WorkspaceBatch

WORKSPACE_FIELDS = {
    "hostname": 1,
    "owner": 1,
    "state": 1,
    "tag": 1,
    "created_time": 1,
    "deleted_time": 1,
    "acquired_time": 1,
}
EXPERIMENT_FIELDS = {"name": 1, "members": 1, "parameters": 1, "start_time": 1, "end_time": 1}


class MongoOwnership:
    """An OwnershipSource over the ``ada`` database's ``workspaces``."""

    def __init__(self, client: MongoClient[Any], database: str, timeout: float) -> None:
        self._client = client
        self._db = client[database]
        self._timeout = timeout
        self.requests = 0

    def workspaces(
        self, start: datetime, end: datetime, each: Callable[[Workspace], object] | None = None
    ) -> WorkspaceBatch:
        """Every valid workspace alive at any moment of [start, end]; skipped ones by reason.

        ``each`` is called with each workspace kept, as its batch arrives.
        """
        query = {
            "$and": [
                _date_or_malformed("deleted_time", "$gte", start),
                _date_or_malformed("created_time", "$lte", end),
            ]
        }
        docs = self._documents("workspaces", query, WORKSPACE_FIELDS)
        return parse_workspaces(docs, start.timestamp(), end.timestamp(), each)

    def experiments(self) -> ExperimentBatch:
        """Every experiment record in ``groups``, in one query; malformed ones skipped and counted.

        Used by reports only, never by a scrape.
        """
        docs = self._documents("groups", {"type": "experiment"}, EXPERIMENT_FIELDS)
        return parse_experiments(list(docs))

    def _documents(
        self, collection: str, query: Mapping[str, Any], fields: Mapping[str, int]
    ) -> Iterator[Any]:
        """The query's documents, as they arrive; a failure raises SourceError when reached.

        A thread of its own reads them, so that the caller checks each chunk while the
        next is on its way. A large answer comes in many batches (nx-27017 sends the
        13,000 workspaces of 10,000 hosts in about a hundred), and checking them all
        after the last would add that time to the scrape's.
        """
        self.requests += 1
        chunks: queue.SimpleQueue[list[Any] | BaseException | None] = queue.SimpleQueue()
        reader = threading.Thread(
            target=self._read,
            args=(collection, query, fields, chunks),
            name=f"mongodb-{collection}",
            daemon=True,
        )
        reader.start()
        return _received(chunks)

    def _read(
        self,
        collection: str,
        query: Mapping[str, Any],
        fields: Mapping[str, int],
        chunks: queue.SimpleQueue[list[Any] | BaseException | None],
    ) -> None:
        """Put the documents in ``chunks`` as they arrive, then None (or the error)."""
        try:
            # pymongo's client-side operation timeout bounds server selection,
            # connection and the whole cursor, so a hung server cannot hold a scrape
            # (nor this thread) for longer.
            with pymongo.timeout(self._timeout):
                chunk: list[Any] = []
                for doc in self._db[collection].find(query, fields):
                    chunk.append(doc)
                    if len(chunk) == _CHUNK:
                        chunks.put(chunk)
                        chunk = []
                chunks.put(chunk)
            chunks.put(None)
        except (pymongo.errors.PyMongoError, bson.errors.BSONError) as exc:
            # BSONError: an answer the driver could not decode at all (not a PyMongoError).
            if isinstance(exc, pymongo.errors.ServerSelectionTimeoutError):
                why = self._unreachable()  # pymongo's own text dumps its whole topology
            else:
                why = str(exc)
            error = SourceError(f"{type(exc).__name__} reading {collection}: {why}")
            error.__cause__ = exc
            chunks.put(error)
        except BaseException as exc:  # anything else reaches the caller as it is
            chunks.put(exc)

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


_CHUNK = 100  # documents: about one nx-27017 batch
_ADDRESS = re.compile(r"^\S+:\d+: ")  # pymongo starts a server's error with its address
_TIMEOUTS = re.compile(r" \(configured timeouts: [^)]*\)$")  # and ends it with its timeouts


def _reason(error: Exception | None) -> str:
    """Why one server did not answer: its error without the address and timeouts around it."""
    if error is None:
        return "no reply"
    return _TIMEOUTS.sub("", _ADDRESS.sub("", str(error))) or type(error).__name__


def _received(chunks: queue.SimpleQueue[list[Any] | BaseException | None]) -> Iterator[Any]:
    while (chunk := chunks.get()) is not None:
        if isinstance(chunk, BaseException):
            raise chunk
        yield from chunk


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
        # What datetime.timestamp() computes for an aware value, 5 times faster: 3 dates
        # per workspace, 13,000 workspaces a scrape at 10,000 hosts.
        return (value - _EPOCH).total_seconds()
    return value.timestamp()


def _check(doc: Any) -> Workspace | str:
    """A Workspace, or the reason the document cannot be used."""
    if not isinstance(doc, Mapping):
        return "not_a_document"
    host = host_key(doc.get("hostname"))
    if host is None or _UNDECODED in str(doc.get("hostname")):
        return "bad_hostname"
    created = as_timestamp(doc.get("created_time"))
    if created is None:
        return "bad_created_time"
    raw_deleted = doc.get("deleted_time")
    deleted = as_timestamp(raw_deleted)
    if raw_deleted is not None and deleted is None:
        return "bad_deleted_time"
    if deleted is not None and deleted < created:
        return "deleted_before_created"
    state = doc.get("state")
    if not isinstance(state, str) or not _label_like(state):
        return "bad_state"
    owner = doc.get("owner")
    if owner is not None and (not isinstance(owner, str) or not _label_like(owner.strip())):
        return "bad_owner"
    if owner is not None and owner.strip() == UNATTRIBUTED:
        return "reserved_owner"  # a user of that name would merge with unowned usage
    workspace_id = str(doc.get("_id", ""))
    if len(workspace_id) > MAX_LABEL_CHARS:
        return "bad_id"
    if state.upper() == "DELETED" and deleted is None:
        return "deleted_without_time"
    raw_acquired = doc.get("acquired_time")
    acquired = as_timestamp(raw_acquired)
    if raw_acquired is not None and acquired is None:
        return "bad_acquired_time"  # a tenure from created_time instead would be a guess
    tag = doc.get("tag")
    return Workspace(
        workspace_id=workspace_id,
        host=host,
        hostname=str(doc["hostname"]),
        owner=owner.strip() if isinstance(owner, str) else None,
        state=state.upper(),
        tag=tag if isinstance(tag, str) and _label_like(tag) else "",
        created=created,
        deleted=deleted,
        acquired=acquired,
    )


def _label_like(value: str) -> bool:
    return 0 < len(value) <= MAX_LABEL_CHARS and _UNDECODED not in value


def parse_workspaces(
    docs: Iterable[Any],
    start: float,
    end: float,
    each: Callable[[Workspace], object] | None = None,
) -> WorkspaceBatch:
    """Validate raw workspace documents; keep those alive in [start, end], count the rest.

    Duplicates (the same ``_id`` twice) are kept once and counted. ``each`` is called
    with each workspace as it is kept.
    """
    kept: dict[str, Workspace] = {}
    skipped: Counter[str] = Counter()
    for doc in docs:
        result = _check(doc)
        if isinstance(result, str):
            skipped[result] += 1
        elif result.workspace_id in kept:
            skipped["duplicate"] += 1
        elif result.created <= end and (result.deleted is None or result.deleted >= start):
            kept[result.workspace_id] = result
            if each is not None:
                each(result)
    return WorkspaceBatch(tuple(kept.values()), dict(skipped))
