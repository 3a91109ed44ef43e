"""Declared data in: export statistics and certificate records, validated all-or-nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from footprint.declarations import (
    KP_PARTICIPANT_ISO3,
    parse_certificates,
    parse_exports,
    parse_period,
)
from footprint.errors import FootprintError, InvalidDeclarationError

TODAY = dt.date(2016, 1, 15)

#: Small fixture files (tests/data/).
TEST_DATA = Path(__file__).resolve().parents[1] / "data"
GOOD_EXPORTS = (TEST_DATA / "exports_good.csv").read_text(encoding="utf-8")

GOOD_CERTS = (TEST_DATA / "certificates_good.csv").read_text(encoding="utf-8")


def _problems(excinfo) -> list:
    return excinfo.value.problems


def test_participant_codes_come_from_the_kp_names():
    assert {"GHA", "CIV", "TGO", "ZWE", "ARE", "IND"} <= KP_PARTICIPANT_ISO3
    assert "XYZ" not in KP_PARTICIPANT_ISO3 and "BEL" not in KP_PARTICIPANT_ISO3


def test_good_exports_parse_with_types(tmp_path):
    path = tmp_path / "exports.csv"
    path.write_text(GOOD_EXPORTS)
    frame = parse_exports(path, today=TODAY)
    assert len(frame) == 4
    assert frame["carats"].dtype == np.float64
    assert frame.loc[0, "carats"] == pytest.approx(1000.5)
    assert list(frame["year"]) == [2010, 2010, 2010, 2015]
    assert frame["half"].isna().tolist() == [True, False, True, False]
    assert frame.loc[1, "partner"] == ""


def test_period_syntax():
    assert parse_period("2010") == (2010, None)
    assert parse_period("2010H2") == (2010, 2)
    for bad in ("2010H3", "10", "2010-H1", "H1 2010"):
        with pytest.raises(ValueError):
            parse_period(bad)


def test_bad_exports_report_every_problem_with_line_and_column():
    text = GOOD_EXPORTS + "\n".join([
        "XYZ,2010,export,,10,10,typo",         # line 6: unknown participant
        "GHA,2010,export,ARE,-5,10,negative",  # line 7
        "GHA,2010,export,ARE,ten,10,text",     # line 8
        "GHA,2017,export,ARE,5,10,future",     # line 9: begins after TODAY
        "GHA,2010,sale,ARE,5,10,flow",         # line 10
        "GHA,2010,export,ARE,\"1,000.5\",30000,KP annual report",  # line 11: dup of line 2
    ]) + "\n"
    with pytest.raises(InvalidDeclarationError) as excinfo:
        parse_exports(text, today=TODAY)
    found = {(p.line, p.column) for p in _problems(excinfo)}
    assert {(6, "participant"), (7, "carats"), (8, "carats"), (9, "period"),
            (10, "flow"), (11, None)} <= found
    dup = next(p for p in _problems(excinfo) if p.line == 11)
    assert "duplicate of line 2" in dup.message
    assert "XYZ" in str(excinfo.value)
    # one error for the whole file, a ValueError and a FootprintError
    assert isinstance(excinfo.value, ValueError) and isinstance(excinfo.value, FootprintError)


def test_exports_missing_a_column_or_empty_are_refused():
    with pytest.raises(InvalidDeclarationError) as excinfo:
        parse_exports("participant,period,flow,carats,value_usd,source\nGHA,2010,export,1,1,x\n")
    assert [(p.line, p.column) for p in _problems(excinfo)] == [(None, "partner")]
    with pytest.raises(InvalidDeclarationError):
        parse_exports("participant,period,flow,partner,carats,value_usd,source\n")


def test_nothing_partial_is_returned_when_one_row_is_bad():
    text = GOOD_EXPORTS + "GHA,2010,export,ARE,-1,1,bad row\n"
    result = None
    with pytest.raises(InvalidDeclarationError):
        result = parse_exports(text, today=TODAY)
    assert result is None


def test_good_certificates_parse_and_sieves_become_carats():
    frame = parse_certificates(GOOD_CERTS, today=TODAY)
    assert list(frame["certificate_id"]) == ["GH-0001", "GH-0002", "GH-0003"]
    assert frame["usd_per_ct"].tolist() == pytest.approx([30.0, 30.0, 40.0])
    # line 2 given in carats, line 3 as shares of 50 ct, line 4 without a breakdown
    assert frame["sieve_+9 -11"].tolist()[:2] == pytest.approx([40.0, 10.0])
    assert frame["sieve_-9"].tolist()[:2] == pytest.approx([60.0, 40.0])
    assert np.isnan(frame.loc[2, "sieve_-9"])
    assert str(frame["date"].dtype).startswith("datetime64")


def test_bad_certificates_report_every_problem():
    text = GOOD_CERTS + "\n".join([
        "GH-0001,2010-06-01,GHA,ARE,5,100,GHA,5,0",     # line 5: duplicate id
        "GH-0005,2010-13-01,GHA,ARE,5,100,GHA,,",       # line 6: bad date
        "GH-0006,2016-02-01,GHA,ARE,5,100,GHA,,",       # line 7: future
        "GH-0007,2010-06-01,GHA,ARE,0,100,GHA,,",       # line 8: zero carats
        "GH-0008,2010-06-01,GHA,ARE,5,100,ZZZ,,",       # line 9: unknown origin
        "GH-0009,2010-06-01,GHA,ARE,5,100,GHA,2,2",     # line 10: sieves sum to 4
    ]) + "\n"
    with pytest.raises(InvalidDeclarationError) as excinfo:
        parse_certificates(text, today=TODAY)
    found = {(p.line, p.column) for p in _problems(excinfo)}
    assert {(5, "certificate_id"), (6, "date"), (7, "date"), (8, "carats"),
            (9, "declared_origin")} <= found
    assert any(p.line == 10 and "sieve" in p.column for p in _problems(excinfo))


def test_certificates_before_the_kimberley_process_are_refused():
    text = GOOD_CERTS + "GH-0010,1500-03-01,GHA,ARE,5,100,GHA,,\n"
    with pytest.raises(InvalidDeclarationError) as excinfo:
        parse_certificates(text, today=TODAY)
    assert any(p.line == 5 and p.column == "date" and "Kimberley" in p.message
               for p in _problems(excinfo))


def test_a_sieve_class_no_scheme_knows_is_refused_at_upload():
    # stored, it would break every later report's size test
    text = GOOD_CERTS.replace("sieve_-9", "sieve_big")
    with pytest.raises(InvalidDeclarationError) as excinfo:
        parse_certificates(text, today=TODAY)
    assert any(p.column == "sieve_big" for p in _problems(excinfo))


def test_a_certificate_of_almost_no_carats_is_refused_with_a_clear_message():
    from footprint.declarations import parse_certificates
    from footprint.errors import InvalidDeclarationError

    csv = ("certificate_id,date,exporter,importer,carats,value_usd,declared_origin\n"
           "C1,2010-02-01,GHA,ARE,1e-320,3000,GHA\n")
    with pytest.raises(InvalidDeclarationError) as caught:
        parse_certificates(csv)
    assert any(p.column == "carats" and "0.01 ct" in p.message
               for p in caught.value.problems)


def test_an_optional_stock_change_column_is_read_and_blank_means_unknown():
    from footprint.declarations import parse_exports

    csv = ("participant,period,flow,partner,carats,value_usd,source,stock_change_ct\n"
           "GHA,2010,export,,100,3000,a,25\n"
           "GHA,2011,export,,100,3000,a,\n")
    out = parse_exports(csv)
    assert out["stock_change_ct"].iloc[0] == 25.0
    assert np.isnan(out["stock_change_ct"].iloc[1])
