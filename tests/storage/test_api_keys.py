"""API keys: only a sha256 is stored; verification, revocation; the audit trail."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from footprint.errors import InvalidParameterError, NotFoundError


def test_token_is_shown_once_and_only_its_hash_is_stored(store):
    record, token = store.create_api_key("usgs-upload", "surveyor")
    assert token.startswith("fpk_") and len(token) >= 40
    assert record.role == "surveyor" and record.active and token.startswith(record.prefix)
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_keys")).mappings().all()
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0].values())
    assert token not in stored and token[len(record.prefix):] not in stored
    assert rows[0]["key_sha256"] == hashlib.sha256(token.encode()).hexdigest()


def test_verify_accepts_the_token_and_nothing_else(store):
    record, token = store.create_api_key("monitor", "monitor")
    other, other_token = store.create_api_key("reader", "reader")
    assert store.verify_api_key(token) == record
    assert store.verify_api_key(other_token) == other
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")  # same lookup prefix
    for wrong in (tampered, token + "x", "", "fpk_", "not-a-key", token.upper()):
        assert store.verify_api_key(wrong) is None


def test_revoked_keys_are_refused(store):
    record, token = store.create_api_key("old", "admin")
    revoked = store.revoke_api_key(record.id)
    assert revoked.revoked_at is not None and not revoked.active
    assert store.verify_api_key(token) is None
    assert store.revoke_api_key(record.id) == revoked  # idempotent
    assert [k.id for k in store.list_api_keys()] == [record.id]
    with pytest.raises(NotFoundError):
        store.revoke_api_key(record.id + 100)
    with pytest.raises(InvalidParameterError):
        store.create_api_key("x", "superuser")


def test_audit_entries_newest_first(store):
    first = store.record_audit("key:1", "layer.upload", "layer:7", sha256="ab" * 32,
                               detail={"kind": "pit_logs", "n_features": 12})
    second = store.record_audit("cli", "api_key.revoke", "api_key:3")
    entries = store.list_audit(limit=10)
    assert [e.id for e in entries] == [second.id, first.id]
    assert entries[1].detail == {"kind": "pit_logs", "n_features": 12}
    assert entries[1].sha256 == "ab" * 32 and entries[0].detail == {}
    assert entries[1].at <= entries[0].at
    assert [e.id for e in store.list_audit(limit=1)] == [second.id]
