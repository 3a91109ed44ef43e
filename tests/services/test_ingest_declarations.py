"""Declarations are validated once, by footprint.declarations, and stored with the sha256
of the bytes the user uploaded."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from footprint.errors import InvalidDeclarationError
from footprint.services.declarations import ingest_declarations
from footprint.services.uploads import Upload
from footprint.storage.audit import Audit

HEADER = "participant,period,flow,partner,carats,value_usd,source\n"


def _upload(tmp_path, text):
    path = tmp_path / "exports.csv"
    path.write_text(text, encoding="utf-8")
    return Upload.from_path(path)


def test_the_stored_rows_name_the_sha256_of_the_uploaded_bytes(store, tmp_path):
    text = HEADER + "GHA,2010,export,ARE,500,15000,KP\nGHA,2011H1,export,IND,80,2400,KP\n"
    summary = ingest_declarations(store, _upload(tmp_path, text), kind="exports", audit=Audit("t"))
    sent = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert summary["sha256"] == sent
    assert summary["participants"] == ["GHA"] and summary["years"] == [2010, 2011]
    stored = store.declarations("exports")
    assert set(stored["sha256"]) == {sent}
    assert list(stored["year"]) == [2010, 2011] and list(stored["carats"]) == [500.0, 80.0]


@pytest.mark.parametrize("row, message", [
    ("GHA,2010,export,ARE,-5,15000,KP", "carats"),
    ("GHA,2010,export,ARE,500,lots,KP", "value_usd"),
    ("GHA,H1-2010,export,ARE,500,15000,KP", "period"),
    ("Ghana,2010,export,ARE,500,15000,KP", "participant"),
])
def test_one_bad_row_refuses_the_whole_upload(store, tmp_path, row, message):
    text = HEADER + "GHA,2009,export,ARE,500,15000,KP\n" + row + "\n"
    with pytest.raises(InvalidDeclarationError) as caught:
        ingest_declarations(store, _upload(tmp_path, text), kind="exports", audit=Audit("t"))
    assert any(problem.column == message for problem in caught.value.problems)
    assert store.declarations("exports").empty


def test_certificates_are_stored_per_exporter_and_issue_date(store, tmp_path):
    today = dt.date.today().isoformat()
    text = ("certificate_id,date,exporter,importer,carats,value_usd,declared_origin\n"
            f"GH-1,2010-03-31,GHA,ARE,100,3000,GHA\nGH-2,{today},GHA,IND,10,300,GHA\n")
    path = tmp_path / "certificates.csv"
    path.write_text(text, encoding="utf-8")
    summary = ingest_declarations(store, Upload.from_path(path), kind="certificates", audit=Audit("t"))
    assert summary["years"] == [2010, dt.date.today().year]
    stored = store.declarations("certificates")
    assert list(stored["period"]) == ["2010-03-31", today]
    assert list(stored["participant_iso3"]) == ["GHA", "GHA"]
