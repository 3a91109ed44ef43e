"""Reports from stored declarations: a later upload of the same record corrects it."""

import datetime as dt

from footprint.declarations import parse_certificates, parse_exports
from footprint.pipeline.report import _stored_declarations
from footprint.services.declarations import stored_frame
from footprint.storage.audit import Audit

TODAY = dt.date(2016, 1, 1)


def test_a_corrected_upload_replaces_the_earlier_record(store):
    header = "certificate_id,date,exporter,importer,carats,value_usd,declared_origin\n"
    first = parse_certificates(header + "GH-1,2010-03-31,GHA,ARE,100,3000,GHA\n", today=TODAY)
    fixed = parse_certificates(header + "GH-1,2010-03-31,GHA,ARE,120,3600,GHA\n", today=TODAY)
    for frame, sha in ((first, "a"), (fixed, "b")):  # stored as the upload route stores them
        store.add_declarations("certificates", stored_frame("certificates", frame), source=sha,
                               sha256=sha * 64, audit=Audit("t"))
    rows, uploads = _stored_declarations(store, "certificates")
    assert rows["carats"].tolist() == [120]
    assert uploads == ["b" * 64]  # provenance names the upload the report used

    ex_header = "participant,period,flow,partner,carats,value_usd,source\n"
    one = parse_exports(ex_header + "GHA,2010,export,ARE,500,15000,first\n", today=TODAY)
    two = parse_exports(ex_header + "GHA,2010,export,ARE,650,19500,second\n", today=TODAY)
    store.add_declarations("exports", stored_frame("exports", one), source="a", sha256="c" * 64,
                           audit=Audit("t"))
    store.add_declarations("exports", stored_frame("exports", two), source="b", sha256="d" * 64,
                           audit=Audit("t"))
    exports, uploads = _stored_declarations(store, "exports")
    assert exports["carats"].tolist() == [650]  # not 500 + 650
    assert uploads == ["d" * 64]
