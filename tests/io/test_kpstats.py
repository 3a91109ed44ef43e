"""KP production statistics: tidy table, quirks, published annual totals."""

from __future__ import annotations

import pandas as pd
import pytest

from footprint.errors import DataMissingError, InvalidDeclarationError
from footprint.io.kpstats import (
    KP_HALFYEAR_RELPATH,
    PARTICIPANT_ISO3,
    load_kp_production,
    participant_iso3,
    tidy_kp_production,
)
from footprint.settings import get_settings

COLUMNS = ["country", "year", "half_year", "record_type", "production_type", "carats",
           "value_usd"]


def _raw(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def _kinds(kp, kind: str) -> list[dict]:
    return [q for q in kp.quirks if q["kind"] == kind]


# --- participant names -------------------------------------------------------------------

@pytest.mark.parametrize("name, iso3", [
    ("Cote D'ivoire", "CIV"), ("Côte d’Ivoire", "CIV"), ("côte d'ivoire", "CIV"),
    ('"Congo, Democratic Republic of"', "COD"), ("Congo, Republic of", "COG"),
    ("Korea, Republic of", "KOR"), ("China, People's Republic of", "CHN"),
    ("European Union", "EUR"), ("  Zimbabwe ", "ZWE"), ("gha", "GHA")])
def test_participant_iso3_spellings(name, iso3):
    assert participant_iso3(name) == iso3


def test_participant_iso3_unknown_name_raises_value_error():
    with pytest.raises(InvalidDeclarationError) as info:
        participant_iso3("Atlantis")
    assert isinstance(info.value, ValueError)
    assert "Atlantis" in str(info.value)


def test_iso3_codes_are_three_capitals():
    assert all(len(code) == 3 and code.isupper() for code in PARTICIPANT_ISO3.values())


# --- quirk handling on small tables ------------------------------------------------------

def test_asm_and_lsm_in_one_half_are_summed_and_reported():
    kp = tidy_kp_production(_raw([
        ("Ghana", 2020, 1, "Production", "ASM", 100.0, 1000.0),
        ("Ghana", 2020, 1, "Production", "LSM", 50.0, 4000.0),
    ]))
    row = kp.halfyear.iloc[0]
    assert (row["carats"], row["value_usd"]) == (150.0, 5000.0)
    assert row["production_type"] == "ASM+LSM" and row["n_source_rows"] == 2
    [quirk] = _kinds(kp, "multiple_production_types")
    assert (quirk["participant"], quirk["year"], quirk["half"]) == ("GHA", 2020, 1)


def test_repeated_period_is_flagged_then_dropped_on_request():
    rows = [("Togo", 2005, 1, "Production", "Production", 17620.0, 1987450.0),
            ("Togo", 2005, 2, "Production", "Production", 50.43, 5470.0),
            ("Togo", 2006, 1, "Production", "Production", 17620.0, 1987450.0),
            ("Togo", 2006, 2, "Production", "Production", 10556.0, 1234120.0)]
    flagged = tidy_kp_production(_raw(rows))
    suspects = flagged.halfyear[flagged.halfyear["suspect_duplicate"]]
    assert list(zip(suspects["year"], suspects["half"])) == [(2006, 1)]
    annual = flagged.annual().set_index("year")
    assert annual.loc[2006, "carats"] == pytest.approx(17620.0 + 10556.0)
    assert bool(annual.loc[2006, "suspect_duplicate"])

    dropped = tidy_kp_production(_raw(rows), duplicates="drop")
    annual = dropped.annual().set_index("year")
    assert annual.loc[2006, "carats"] == pytest.approx(10556.0)
    assert annual.loc[2006, "n_half_years"] == 1
    assert _kinds(dropped, "repeated_period")  # still reported when dropped


def test_same_carats_different_value_is_reported_not_flagged():
    kp = tidy_kp_production(_raw([
        ("Brazil", 2005, 1, "Production", "Production", 150000.0, 4138500.0),
        ("Brazil", 2005, 2, "Production", "Production", 150000.0, 17712000.0)]))
    assert not kp.halfyear["suspect_duplicate"].any()
    assert [(q["year"], q["half"]) for q in _kinds(kp, "repeated_carats")] == [(2005, 2)]


def test_exact_duplicate_rows_flag_counts_as_published_drop_counts_once():
    rows = [("India", 2024, 2, "Production", "Production", 10.0, 100.0)] * 3
    flagged = tidy_kp_production(_raw(rows))
    assert flagged.halfyear["carats"].tolist() == [30.0]
    assert flagged.halfyear["suspect_duplicate"].tolist() == [True]
    assert "2 extra" in _kinds(flagged, "exact_duplicate_row")[0]["detail"]
    dropped = tidy_kp_production(_raw(rows), duplicates="drop")
    assert dropped.halfyear["carats"].tolist() == [10.0]


def test_no_production_is_zero_with_flag_and_production_wins_a_conflict():
    kp = tidy_kp_production(_raw([
        ("Guinea", 2006, 1, "No Production", None, 0.0, 0.0),
        ("Guinea", 2006, 2, "No Production", None, 0.0, 0.0),
        ("Guinea", 2006, 2, "Production", "Production", 178843.65, 18875925.0)]))
    h1, h2 = kp.halfyear.itertuples()
    assert h1.no_production and h1.carats == 0.0 and h1.record_type == "No Production"
    assert not h2.no_production and h2.carats == pytest.approx(178843.65)
    assert [(q["year"], q["half"]) for q in _kinds(kp, "no_production")] == [(2006, 1)]
    assert [(q["year"], q["half"]) for q in _kinds(kp, "conflicting_record_types")] == [(2006, 2)]
    annual = kp.annual().iloc[0]
    assert annual["n_half_years"] == 2 and not annual["no_production"]


def test_unmapped_country_is_reported_and_kept():
    kp = tidy_kp_production(_raw([("Atlantis", 2010, 1, "Production", "Production", 1.0, 2.0)]))
    assert kp.halfyear["participant"].isna().all()
    assert kp.halfyear["carats"].tolist() == [1.0]
    assert "Atlantis" in _kinds(kp, "unmapped_country")[0]["detail"]


def test_missing_half_years_inside_a_participants_span_are_reported():
    kp = tidy_kp_production(_raw([
        ("Zimbabwe", 2022, 2, "Production", "LSM", 1.0, 1.0),
        ("Zimbabwe", 2024, 1, "Production", "LSM", 1.0, 1.0)]))
    missing = {(q["year"], q["half"]) for q in _kinds(kp, "missing_half_year")}
    assert missing == {(2022, 1), (2023, 1), (2023, 2), (2024, 2)}


def test_bad_tables_raise_invalid_declaration():
    with pytest.raises(InvalidDeclarationError):
        tidy_kp_production(pd.DataFrame({"country": ["Ghana"], "year": [2003]}))
    with pytest.raises(InvalidDeclarationError):
        tidy_kp_production(_raw([("Ghana", 2003, 3, "Production", "ASM", 1.0, 1.0)]))
    with pytest.raises(InvalidDeclarationError):
        tidy_kp_production(_raw([("Ghana", 2003, 1, "Export", "ASM", 1.0, 1.0)]))
    with pytest.raises(InvalidDeclarationError):
        tidy_kp_production(_raw([("Ghana", 2003, 1, "Production", "ASM", 1.0, 1.0)]),
                           duplicates="sum")


def test_missing_file_raises_data_missing_with_hint(tmp_path):
    with pytest.raises(DataMissingError) as info:
        load_kp_production(data_dir=tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    assert str(KP_HALFYEAR_RELPATH) in str(info.value)


# --- the real KP export ------------------------------------------------------------------

@pytest.fixture(scope="module")
def kp():
    path = get_settings().data_dir / KP_HALFYEAR_RELPATH
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return load_kp_production(path=path)


@pytest.fixture(scope="module")
def annual(kp):
    return kp.annual().set_index(["participant", "year"])


@pytest.mark.slow
def test_published_annual_totals(annual):
    # KP public statistics, annual production tables.
    zwe = annual.loc[("ZWE", 2012)]
    assert round(zwe["carats"] / 1e6, 2) == 12.06
    assert round(zwe["value_usd"] / 1e6, 1) == 644.0
    assert round(annual.loc[("GHA", 2007), "carats"]) == 894_783
    assert round(annual.loc[("GHA", 2005), "carats"] / 1e6, 2) == 1.01
    # DOMAIN.md: Togo 2004 declared 123,106 ct at 89.88 US$/ct; Zimbabwe 0.96 Mct in 2009.
    assert round(annual.loc[("TGO", 2004), "carats"]) == 123_106
    assert round(annual.loc[("TGO", 2004), "usd_per_ct"], 2) == 89.88
    assert round(annual.loc[("ZWE", 2009), "carats"] / 1e6, 2) == 0.96


@pytest.mark.slow
def test_togo_2006_h1_duplicate_is_reported(kp):
    repeats = [q for q in _kinds(kp, "repeated_period") if q["participant"] == "TGO"]
    assert [(q["year"], q["half"]) for q in repeats] == [(2006, 1)]
    assert "2005 H1" in repeats[0]["detail"]
    row = kp.participant("TGO").set_index(["year", "half"]).loc[(2006, 1)]
    assert bool(row["suspect_duplicate"])


@pytest.mark.slow
def test_cote_divoire_embargo_gap_and_no_production(kp):
    civ = kp.participant("CIV")
    assert civ["country"].unique().tolist() == ["Cote D'ivoire"]
    assert not civ["year"].between(2006, 2013).any()
    missing = {(q["year"], q["half"]) for q in _kinds(kp, "missing_half_year")
               if q["participant"] == "CIV"}
    assert {(y, h) for y in range(2006, 2014) for h in (1, 2)} <= missing
    no_prod = {(q["year"], q["half"]) for q in _kinds(kp, "no_production")
               if q["participant"] == "CIV"}
    assert no_prod == {(2003, 1), (2003, 2), (2005, 1), (2005, 2)}
    assert civ[civ["year"].isin([2003, 2005])]["no_production"].all()


@pytest.mark.slow
def test_every_country_is_mapped_or_reported(kp):
    raw = pd.read_csv(kp.source)
    unmapped = {q["detail"].split("'")[1] for q in _kinds(kp, "unmapped_country")}
    for name in raw["country"].unique():
        if name not in unmapped:
            participant_iso3(name)  # raises if neither mapped nor reported
    assert kp.halfyear["participant"].notna().sum() + sum(
        kp.halfyear["country"].isin(unmapped)) == len(kp.halfyear)
    assert _kinds(kp, "non_iso_participant")[0]["participant"] == "EUR"


@pytest.mark.slow
def test_tidy_table_has_one_row_per_participant_half_year(kp):
    keys = kp.halfyear[["participant", "year", "half"]]
    assert not keys.duplicated().any()
    assert kp.halfyear["half"].isin([1, 2]).all()
    assert (kp.halfyear["carats"] >= 0).all() and (kp.halfyear["value_usd"] >= 0).all()
    # Nothing is lost: the tidy totals equal the raw column sums under the flag policy.
    raw = pd.read_csv(kp.source)
    assert kp.halfyear["carats"].sum() == pytest.approx(raw["carats"].sum())
