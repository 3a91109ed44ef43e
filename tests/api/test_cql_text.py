"""CQL2 text as the standard reads it, on both backends: AND binds tighter than OR, a
doubled apostrophe is a quote inside a string, and whatever the SQL translation cannot
handle is a 400 naming it, in every ``filter-lang``."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import geopandas as gpd
import pytest
from synthetic_footprint import GRID, square

DEPOSITS = "/collections/deposits-gh-birim/items"
FLOODPLAIN = sum(1 for i in range(GRID) for j in range(GRID) if (i + j) % 2)
ACTIVE_CHANNEL = GRID * GRID - FLOODPLAIN
TEXT_LANGUAGES = ["cql2-text", "cql-text"]


def _matched(client, where: str, lang: str = "cql2-text") -> set[str]:
    response = client.get(DEPOSITS, params={"filter": where, "filter-lang": lang,
                                            "limit": 100})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["numberMatched"] == len(body["features"])
    return {f["properties"]["cell"] for f in body["features"]}


def _cells(kind: str) -> set[str]:
    return {f"{i},{j}" for i in range(GRID) for j in range(GRID)
            if ((i + j) % 2 == 1) == (kind == "floodplain")}


@pytest.mark.parametrize("lang", TEXT_LANGUAGES)
@pytest.mark.parametrize(("where", "expected"), [
    # a OR (b AND c): the floodplain deposits, whatever the impossible terrace clause says
    ("deposit_class = 'floodplain' OR deposit_class = 'terrace' AND area_m2 < 0", "floodplain"),
    ("area_m2 < 0 AND deposit_class = 'terrace' OR deposit_class = 'floodplain'", "floodplain"),
    ("deposit_class = 'floodplain' or deposit_class = 'terrace' and area_m2 < 0", "floodplain"),
    # brackets still group as written
    ("(deposit_class = 'floodplain' OR deposit_class = 'terrace') AND area_m2 < 0", "none"),
    ("deposit_class = 'floodplain' AND (area_m2 < 0 OR area_m2 > 0)", "floodplain"),
    # (a AND b) OR (c AND d), with a BETWEEN's own AND inside
    ("area_m2 BETWEEN 0 AND 1e12 AND deposit_class = 'floodplain' "
     "OR area_m2 < 0 AND deposit_class = 'active_channel'", "floodplain"),
    # NOT of a bracketed OR
    ("NOT (deposit_class = 'floodplain' OR area_m2 < 0)", "active_channel"),
])
def test_and_binds_tighter_than_or(client, footprint, lang, where, expected):
    assert _matched(client, where, lang) == (set() if expected == "none" else _cells(expected))


def test_cql2_json_groups_as_its_tree_says(client, footprint):
    """CQL2 JSON has no precedence to get wrong: its nesting is the grouping, and it
    agrees with the text form read by precedence."""
    floodplain = {"op": "=", "args": [{"property": "deposit_class"}, "floodplain"]}
    terrace = {"op": "=", "args": [{"property": "deposit_class"}, "terrace"]}
    negative = {"op": "<", "args": [{"property": "area_m2"}, 0]}
    by_precedence = {"op": "or", "args": [floodplain, {"op": "and", "args": [terrace, negative]}]}
    left_first = {"op": "and", "args": [{"op": "or", "args": [floodplain, terrace]}, negative]}
    assert _matched(client, json.dumps(by_precedence), "cql2-json") == _cells("floodplain")
    assert _matched(client, json.dumps(left_first), "cql2-json") == set()
    assert _matched(client, json.dumps(by_precedence), "cql2-json") == _matched(
        client, "deposit_class = 'floodplain' OR deposit_class = 'terrace' AND area_m2 < 0")


@pytest.mark.parametrize(("lang", "where"), [
    ("cql-text", "deposit_class EXISTS"),
    ("cql-text", "deposit_class DOES-NOT-EXIST"),
    ("cql-text", "INTERSECTS(geometry, POINT(0 0))"),
    ("cql-text", "DWITHIN(geometry, POINT(0 0), 10, meters)"),
    ("cql-text", "area_m2 BEFORE 2020-01-01T00:00:00Z"),
    ("cql-text", "area_m2 DURING 2020-01-01T00:00:00Z/2021-01-01T00:00:00Z"),
    ("cql-text", "strlen(deposit_class) > 3"),
    ("cql-text", "deposit_class LIKE 'flood%' AND INCLUDE"),
    ("cql2-text", "INCLUDE"),
    ("cql2-text", "EXCLUDE OR deposit_class = 'floodplain'"),
    ("cql2-text", "area_m2 > DATE('2020-01-01')"),
    ("cql2-text", "deposit_class = TIMESTAMP('2020-01-01T00:00:00Z')"),
    ("cql2-text", "area_m2 + 1 > 2"),
    ("cql2-text", "S_INTERSECTS(geometry, POINT(0 0))"),
    ("cql2-json", json.dumps({"op": "s_intersects", "args": [
        {"property": "geometry"}, {"type": "Point", "coordinates": [0, 0]}]})),
    ("cql2-json", json.dumps({"op": "=", "args": [{"property": "area_m2"},
                                                   {"date": "2020-01-01"}]})),
])
def test_what_sql_cannot_translate_is_400_not_500(client, footprint, lang, where):
    response = client.get(DEPOSITS, params={"filter": where, "filter-lang": lang})
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


@pytest.fixture
def quoted_names(store):
    """Deposits whose class and locality carry apostrophes, as GDAL quotes them."""
    names = ["O'Brien", "Côte d'Ivoire", "plain", "''"]
    deposits = gpd.GeoDataFrame(
        {"deposit_class": names, "mode": "terrain",
         "cell": [f"{name} cell" for name in names]},
        geometry=[square(i, 0) for i in range(len(names))], crs=4326)
    return store.add_footprint(
        "gh-birim", deposits=deposits, seed=1, n_draws=0, code_version="test",
        sheet_sha256=None, parameters={}, summaries={}, provenance={}, draws_path=None,
        rasters={})


@pytest.mark.parametrize("lang", TEXT_LANGUAGES)
@pytest.mark.parametrize(("where", "expected"), [
    ("deposit_class = 'O''Brien'", {"O'Brien"}),
    ("deposit_class = 'Côte d''Ivoire'", {"Côte d'Ivoire"}),
    ("cell = 'Côte d''Ivoire cell'", {"Côte d'Ivoire"}),  # a JSON property
    ("deposit_class IN ('O''Brien', 'plain')", {"O'Brien", "plain"}),
    ("cell LIKE '%d''I%'", {"Côte d'Ivoire"}),
    ("deposit_class = ''''''", {"''"}),
    ("deposit_class <> 'O''Brien' AND deposit_class <> 'plain'", {"Côte d'Ivoire", "''"}),
])
def test_doubled_apostrophe_is_a_quote(client, quoted_names, lang, where, expected):
    response = client.get(DEPOSITS, params={"filter": where, "filter-lang": lang})
    assert response.status_code == 200, response.text
    assert {f["properties"]["deposit_class"] for f in response.json()["features"]} == expected


def test_an_unclosed_string_is_still_400(client, footprint):
    response = client.get(DEPOSITS, params={"filter": "deposit_class = 'O''Brien"})
    assert response.status_code == 400 and "cql2-text" in response.json()["detail"]


@pytest.mark.parametrize(("lang", "where", "named"), [
    ("cql2-text", "deposit_class > 5", "deposit_class"),
    ("cql2-text", "area_m2 = 'x'", "area_m2"),
    ("cql2-text", "area_m2 LIKE '1%'", "area_m2"),
    ("cql2-text", "cell > 5", "cell"),  # a JSON property
    ("cql2-text", "deposit_class = true", "deposit_class"),
    ("cql2-text", "area_m2 BETWEEN 'a' AND 'b'", "area_m2"),
    ("cql2-text", "area_m2 IN (1, 'a')", "area_m2"),
    ("cql2-text", "deposit_class = area_m2", "deposit_class"),
    ("cql2-json", "true", "bool"),
    ("cql2-json", '{"property": "cell"}', "Attribute"),
    ("cql2-json", '{"op": "isNull", "args": [1]}', "IsNull"),
    ("cql2-json", '{"op": "=", "args": [{"op": "<", "args": [{"property": "area_m2"}, 1]}, 1]}',
     "LessThan"),
])
def test_comparison_across_types_is_400_naming_it(client, footprint, lang, where, named):
    """PostgreSQL refuses these (it was a 503) and SQLite answers by its own type order
    (``deposit_class > 5`` matched every deposit): both are a 400."""
    response = client.get(DEPOSITS, params={"filter": where, "filter-lang": lang})
    assert response.status_code == 400, response.text
    assert named in response.json()["detail"]


@pytest.mark.parametrize("where", ["5 < area_m2", "area_m2 > mined_area_m2 OR area_m2 > 0",
                                   "deposit_class IS NOT NULL", "cell IN ('0,1', '1,0')"])
def test_comparisons_that_type_check_still_run(client, footprint, where):
    response = client.get(DEPOSITS, params={"filter": where, "limit": 100})
    assert response.status_code == 200, response.text
    assert response.json()["numberMatched"] >= 2


#: GDAL's OAPIF driver (the GDAL bundled with pyogrio) with a ``-where`` mixing AND and
#: OR around a quoted apostrophe, in a child process (GDAL holds the GIL while it fetches).
_OAPIF_WHERE = """
import json, sys
import pyogrio
frame = pyogrio.read_dataframe(sys.argv[1], layer="deposits-gh-birim", where=sys.argv[2])
print(json.dumps(sorted(frame["deposit_class"])))
"""


def test_gdal_where_with_an_apostrophe_selects_on_the_server(live_server, quoted_names, caplog):
    where = "deposit_class = 'O''Brien' OR deposit_class = 'plain' AND cell = 'nowhere'"
    with caplog.at_level(logging.INFO, logger="api.features"):
        result = subprocess.run([sys.executable, "-c", _OAPIF_WHERE, f"OAPIF:{live_server}/",
                                 where], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["O'Brien"]
    sent = [r.filter for r in caplog.records
            if r.name == "api.features" and getattr(r, "filter_lang", None) == "cql-text"]
    assert sent and all("'O''Brien'" in text for text in sent), sent
    assert {r.number_matched for r in caplog.records if hasattr(r, "number_matched")} == {1}


def test_a_pygeofilter_grammar_without_the_amended_rules_fails_loudly(monkeypatch):
    """Should a pygeofilter upgrade rename the rules :mod:`api.ogc` replaces, building the
    parser raises (a 500 on the first filter) instead of reading AND and OR left to right."""
    from pathlib import Path

    from api import ogc

    original = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: original(self, *a, **k)
                        .replace("?condition:", "?boolean_expression:"))
    with pytest.raises(RuntimeError, match="grammar changed"):
        ogc._cql_text_grammar(draft=False)
