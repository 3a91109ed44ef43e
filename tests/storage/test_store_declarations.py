"""Declared statistics: stored as validated (by footprint.declarations, tested in
tests/io/test_declarations.py), queried by participant and years."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from footprint.errors import InvalidDeclarationError
from footprint.storage.audit import Audit

SHA = hashlib.sha256(b"exports.csv").hexdigest()


def exports() -> pd.DataFrame:
    """Rows in the stored schema, as footprint.services.declarations.stored_frame gives them."""
    return pd.DataFrame({
        "participant_iso3": ["TGO", "TGO", "GHA", "GHA"],
        "period": ["2004", "2005H1", "2004H2", "2006-03-15"],
        "year": [2004, 2005, 2004, 2006],
        "flow": ["export"] * 4,
        "partner": ["BEL", "ARE", "BEL", None],
        "carats": [123_106.0, 50_000.0, 400_000.0, np.nan],
        "value_usd": [11_064_767.0, 2_000_000.0, 12_000_000.0, 5.0],
        "certificate_id": ["TG-1", "TG-2", "GH-1", "GH-2"],
    })


def test_declarations_round_trip_and_filters(store):
    assert store.add_declarations("exports", exports(), source="exports.csv", sha256=SHA,
                                  audit=Audit("key:2")) == 4
    togo = store.declarations("exports", participant_iso3="tgo")
    assert list(togo["period"]) == ["2004", "2005H1"] and list(togo["year"]) == [2004, 2005]
    # Togo 2004 declared 123,106 ct at 89.88 US$/ct (DOMAIN.md §1)
    assert togo["value_usd"].iloc[0] / togo["carats"].iloc[0] == pytest.approx(89.88, abs=0.01)
    assert togo["row"].iloc[0]["certificate_id"] == "TG-1"
    ghana = store.declarations("exports", participant_iso3="GHA", year_from=2005, year_to=2006)
    assert len(ghana) == 1 and np.isnan(ghana["carats"].iloc[0]) and ghana["partner"].iloc[0] is None
    assert len(store.declarations("exports", year_from=2004, year_to=2004)) == 2
    assert store.declarations("production").empty
    assert set(store.declarations("exports")["sha256"]) == {SHA}


def test_identical_reupload_stores_nothing(store):
    assert store.add_declarations("exports", exports(), source="a", sha256=SHA) == 4
    assert store.add_declarations("exports", exports(), source="a", sha256=SHA) == 0
    assert len(store.declarations("exports")) == 4
    # the same file as another kind is a different declaration set
    assert store.add_declarations("certificates", exports(), source="a", sha256=SHA) == 4


def test_an_unknown_kind_is_refused(store):
    with pytest.raises(InvalidDeclarationError, match="kind"):
        store.add_declarations("imports", exports(), source="x", sha256=SHA)
