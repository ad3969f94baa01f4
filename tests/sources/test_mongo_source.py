"""The MongoDB adapter: one query, the right documents, malformed ones skipped and counted."""

from datetime import datetime, timedelta, timezone

import mongomock
import pymongo.errors
import pytest
from bson import Binary, ObjectId
from hypothesis import given
from hypothesis import strategies as st

from exporter.model import SourceError
from exporter.sources.mongodb import MongoOwnership, as_timestamp, parse_workspaces

START = datetime(2026, 1, 31, 11, 0, tzinfo=timezone.utc)
END = START + timedelta(hours=1)


def naive(dt):
    return dt.astimezone(timezone.utc).replace(tzinfo=None)  # as pymongo returns BSON dates


def doc(
    _id,
    hostname="172.16.100.50",
    owner="aa123456",
    state="CLAIMED",
    created=START - timedelta(days=1),
    deleted=None,
    **extra,
):
    d = {
        "_id": _id,
        "hostname": hostname,
        "owner": owner,
        "state": state,
        "tag": "ISIS",
        "created_time": naive(created) if isinstance(created, datetime) else created,
    }
    if deleted is not ...:
        d["deleted_time"] = naive(deleted) if isinstance(deleted, datetime) else deleted
    d.update(extra)
    return d


@pytest.fixture
def db():
    client = mongomock.MongoClient()
    return client, client["ada"]


def ownership(client):
    return MongoOwnership(client, "ada", timeout=2.0)


def test_workspaces_alive_in_the_window_are_found_in_one_query(db):
    client, ada = db
    ada.workspaces.insert_many(
        [
            doc("alive", deleted=None),
            doc("alive-missing-field", deleted=...),
            doc("deleted-inside", deleted=START + timedelta(minutes=20), state="DELETED"),
            doc("deleted-before", deleted=START - timedelta(minutes=1), state="DELETED"),
            doc("created-after", created=END + timedelta(minutes=1)),
            doc("created-inside", created=START + timedelta(minutes=40)),
        ]
    )
    src = ownership(client)
    batch = src.workspaces(START, END)
    assert {w.workspace_id for w in batch.workspaces} == {
        "alive",
        "alive-missing-field",
        "deleted-inside",
        "created-inside",
    }
    assert src.requests == 1
    assert batch.skipped == {}


def test_malformed_documents_are_skipped_and_counted_by_reason(db):
    client, ada = db
    ada.workspaces.insert_many(
        [
            doc("ok"),
            doc("no-host", hostname=None),
            doc("regex-host", hostname=".*"),
            doc("quote-host", hostname='172.16.100.50"}or{'),
            doc("newline-host", hostname="172.16.100.50\nx"),
            doc("numeric-host", hostname=1721610050),
            doc("string-created", created="2026-01-01"),
            doc("string-deleted", deleted="yesterday"),
            doc(
                "backwards",
                created=START + timedelta(minutes=30),
                deleted=START + timedelta(minutes=10),
            ),
            doc("numeric-owner", owner=42),
            doc("no-state", state=None),
            doc("deleted-no-time", state="DELETED", deleted=None),
        ]
    )
    batch = ownership(client).workspaces(START, END)
    assert [w.workspace_id for w in batch.workspaces] == ["ok"]
    assert batch.skipped == {
        "bad_hostname": 5,
        "bad_created_time": 1,
        "bad_deleted_time": 1,
        "deleted_before_created": 1,
        "bad_owner": 1,
        "bad_state": 1,
        "deleted_without_time": 1,
    }


def test_an_owner_named_unattributed_and_label_values_no_name_has_are_skipped_and_counted(db):
    """A user called "unattributed" would merge with unowned usage; a label value of
    thousands of characters would sit in Prometheus' index as long as its data."""
    client, ada = db
    long = "x" * 257
    ada.workspaces.insert_many(
        [
            doc("ok", owner="y" * 256, state="C" * 256),
            doc("reserved", owner="unattributed"),
            doc("reserved-padded", owner=" unattributed "),
            doc("long-owner", owner=long),
            doc("long-state", state=long),
            doc("i" * 257),
            doc("other-case", owner="Unattributed"),  # another label value: kept
            doc("long-tag", tag=long),  # kept, without its tag
        ]
    )
    batch = ownership(client).workspaces(START, END)
    assert [(w.workspace_id, w.tag) for w in batch.workspaces] == [
        ("ok", "ISIS"),
        ("other-case", "ISIS"),
        ("long-tag", ""),
    ]
    assert batch.skipped == {"reserved_owner": 2, "bad_owner": 1, "bad_state": 1, "bad_id": 1}


def test_dates_stored_as_object_ids_or_binary_are_found_and_counted(db):
    """The query must not drop them silently: they come back to be counted."""
    client, ada = db
    ada.workspaces.insert_many(
        [
            doc("ok"),
            doc("id-created", created=ObjectId()),
            doc("binary-deleted", deleted=Binary(b"2026-01-31")),
        ]
    )
    batch = ownership(client).workspaces(START, END)
    assert [w.workspace_id for w in batch.workspaces] == ["ok"]
    assert batch.skipped == {"bad_created_time": 1, "bad_deleted_time": 1}


def test_timezone_aware_and_naive_datetimes_agree():
    aware = doc("a", created=START)
    aware["created_time"] = START  # aware, as tz_aware clients return
    plain = doc("b", created=START)
    batch = parse_workspaces([aware, plain], START.timestamp(), END.timestamp())
    assert {w.created for w in batch.workspaces} == {START.timestamp()}


def test_duplicate_documents_are_kept_once_and_counted():
    batch = parse_workspaces([doc("x"), doc("x")], START.timestamp(), END.timestamp())
    assert len(batch.workspaces) == 1
    assert batch.skipped == {"duplicate": 1}


@pytest.mark.parametrize(
    "ids",
    [
        (ObjectId("65a0c0ffee0000000000ab01"), "65a0c0ffee0000000000ab01"),
        (1, "1"),
        (1, 1.0, True),
        ({"a": 1}, "{'a': 1}"),
    ],
)
def test_ids_that_read_the_same_but_differ_in_type_are_different_workspaces(ids):
    """MongoDB tells them apart: none is a duplicate of another, and each keeps its host."""
    docs = [doc(i, hostname=f"172.16.100.{k}", owner=f"u{k}") for k, i in enumerate(ids)]
    batch = parse_workspaces(docs, START.timestamp(), END.timestamp())
    assert [(w.host, w.owner, w.workspace_id) for w in batch.workspaces] == [
        (f"172.16.100.{k}", f"u{k}", str(i)) for k, i in enumerate(ids)
    ]
    assert batch.skipped == {}
    again = parse_workspaces(docs + docs[::-1], START.timestamp(), END.timestamp())
    assert again.workspaces == batch.workspaces  # the same id of the same type: a duplicate
    assert again.skipped == {"duplicate": len(ids)}


@pytest.mark.parametrize(
    "owner", ["alice.smith@example.org", " bob@ex.ac.uk ", "@", "aa123456@FED.CCLRC.AC.UK"]
)
def test_an_owner_that_is_an_e_mail_address_is_skipped_and_counted(owner):
    """No e-mail address reaches a label: the document is skipped (its host unattributed)."""
    batch = parse_workspaces([doc("e", owner=owner), doc("ok")], START.timestamp(), END.timestamp())
    assert [w.workspace_id for w in batch.workspaces] == ["ok"]
    assert batch.skipped == {"email_owner": 1}


def test_hostname_forms_are_normalised():
    batch = parse_workspaces(
        [doc("a", hostname="host-172-16-100-50.nubes.stfc.ac.uk")],
        START.timestamp(),
        END.timestamp(),
    )
    assert batch.workspaces[0].host == "172.16.100.50"
    assert batch.workspaces[0].hostname == "host-172-16-100-50.nubes.stfc.ac.uk"


def test_driver_errors_become_source_errors():
    class Broken:
        def __getitem__(self, name):
            return self

        def find(self, *args, **kwargs):
            raise pymongo.errors.ServerSelectionTimeoutError("no servers")

    src = MongoOwnership(Broken(), "ada", timeout=1.0)
    with pytest.raises(SourceError, match="ServerSelectionTimeoutError"):
        src.workspaces(START, END)


class Streaming:
    """A client whose cursor yields ``docs``, running ``at[k]()`` before the k-th."""

    def __init__(self, docs, at):
        self.docs, self.at = docs, at

    def __getitem__(self, name):
        return self

    def find(self, *args, **kwargs):
        for k, d in enumerate(self.docs):
            if k in self.at:
                self.at[k]()
            yield d


def test_a_driver_error_after_some_batches_is_a_source_error():
    def drop():
        raise pymongo.errors.AutoReconnect("connection closed")

    docs = [doc(f"w{k}") for k in range(250)]
    src = MongoOwnership(Streaming(docs, {201: drop}), "ada", timeout=1.0)
    with pytest.raises(SourceError, match="AutoReconnect reading workspaces"):
        src.workspaces(START, END)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
def test_a_naive_date_is_read_as_utc_exactly_as_datetime_would(naive):
    assert as_timestamp(naive) == naive.replace(tzinfo=timezone.utc).timestamp()
    aware = naive.replace(tzinfo=timezone(timedelta(hours=2)))
    assert as_timestamp(aware) == aware.timestamp()
    assert as_timestamp("2026-01-31T12:00:00Z") is None


def test_a_document_the_driver_cannot_decode_is_skipped_and_counted_not_fatal():
    """A date past year 9999 (e.g. seconds stored as milliseconds twice) and bytes that
    are not UTF-8 raise InvalidBSON with pymongo's default options, failing the whole
    query; the exporter's client decodes them, and they are counted as bad."""
    import bson
    from bson.datetime_ms import DatetimeMS

    from exporter.config import Config, MongoConfig
    from exporter.sources.build import mongo_ownership

    base = {"state": "CLAIMED", "created_time": naive(START - timedelta(days=1))}
    good = bson.encode({"_id": "good", "hostname": "172.16.100.50", "owner": "alice", **base})
    far = bson.encode(
        {"_id": "far", "hostname": "172.16.100.51", "owner": "bob", **base}
        | {"deleted_time": DatetimeMS(2**62)}
    )
    not_utf8 = bson.encode(
        {"_id": "bytes", "hostname": "172.16.100.52", "owner": "QQ", **base}
    ).replace(b"QQ\x00", b"\xff\xfe\x00")
    bad_state = bson.encode(
        {"_id": "state", "hostname": "172.16.100.53", "owner": "carol", **base}
    ).replace(b"CLAIMED\x00", b"CLAIM\xff\xfe\x00")
    far_acquired = bson.encode(
        {"_id": "acq", "hostname": "172.16.100.54", "owner": "dan", **base}
        | {"acquired_time": DatetimeMS(2**62)}
    )
    raw = good + far + not_utf8 + bad_state + far_acquired
    with pytest.raises(bson.errors.InvalidBSON):
        bson.decode_all(raw)  # the driver's defaults
    source = mongo_ownership(Config(mongodb=MongoConfig(uri="mongodb://127.0.0.1:1")))
    docs = bson.decode_all(raw, source._db.codec_options)
    batch = parse_workspaces(docs, START.timestamp(), END.timestamp())
    assert [w.workspace_id for w in batch.workspaces] == ["good"]
    assert batch.skipped == {
        "bad_deleted_time": 1,
        "bad_owner": 1,
        "bad_state": 1,
        "bad_acquired_time": 1,
    }
