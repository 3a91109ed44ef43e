"""One timestamp format across the service: RFC 3339 in UTC with a ``Z``
(:func:`footprint.serialise.iso_timestamp`), whether the time is a job's, a footprint
version's, a layer's or an audit entry's."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from footprint.serialise import iso_timestamp, json_safe
from footprint.storage.audit import Audit

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


@pytest.mark.parametrize(("value", "expected"), [
    (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2026-01-02T03:04:05Z"),
    # another offset is converted to UTC, not labelled Z
    (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
     "2026-01-02T01:04:05Z"),
    (dt.datetime(2026, 1, 2, 3, 4, 5, 120000), "2026-01-02T03:04:05.120000Z"),  # naive = UTC
    (dt.date(2026, 1, 2), "2026-01-02"),
    (None, None),
])
def test_iso_timestamp_is_utc_with_z(value, expected):
    assert iso_timestamp(value) == expected


def test_the_to_json_helper_formats_datetimes_the_same_way():
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert json_safe({"at": when}) == {"at": iso_timestamp(when)}


def _timestamps(document, keys=("created", "updated", "created_at", "at")):
    return [document[key] for key in keys if document.get(key) is not None]


def test_jobs_footprints_layers_and_audit_answer_one_format(client, store, footprint,
                                                            api_keys):
    job = store.create_job("build-footprint", {"field": "gh-birim"})
    retired, _ = store.add_layer("gh-birim", "deposits", "mapped", "c" * 64, crs="EPSG:4326",
                              bounds_4326=None, features=None)
    store.retire_layer(retired.id, audit=Audit("test"), field_id="gh-birim", reason="test")
    admin = {"X-API-Key": api_keys["admin"]}
    layer = client.get(f"/fields/gh-birim/layers/{retired.id}").json()
    answers = [
        *_timestamps(client.get(f"/jobs/{job.id}").json()),
        *_timestamps(client.get("/fields/gh-birim/footprint").json()),
        *_timestamps(layer), layer["retired_at"],
        *[t for entry in client.get("/audit", headers=admin).json()["entries"]
          for t in _timestamps(entry)],
    ]
    assert len(answers) >= 6
    assert all(RFC3339_UTC.match(text) for text in answers), answers
