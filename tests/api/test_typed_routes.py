"""The service speaks types: explicit operation ids and response models on the routes,
process inputs described and validated by one pydantic model per process."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from api.process_inputs import AnomalyReportInputs, CalibrateInputs
from api.processes import list_processes
from api.routers import docs, footprints, layers, map, ops, processes, session

TYPED_ROUTERS = (processes, footprints, layers, ops, docs, map, session)


def _routes():
    return [route for module in TYPED_ROUTERS for route in module.router.routes
            if isinstance(route, APIRoute)]


def test_every_route_has_an_explicit_operation_id():
    missing = [route.path for route in _routes() if not route.operation_id]
    assert not missing


def test_operation_ids_are_unique(client):
    ids = [operation["operationId"]
           for path in client.get("/openapi.json").json()["paths"].values()
           for operation in path.values()]
    assert len(ids) == len(set(ids))


def test_every_answer_of_the_typed_routes_has_a_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    ours = {route.operation_id for route in _routes() if route.include_in_schema}
    checked = 0
    for path in paths.values():
        for operation in path.values():
            if operation["operationId"] not in ours:
                continue
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                for media_type, content in response.get("content", {}).items():
                    assert "schema" in content, (operation["operationId"], status, media_type)
                    checked += 1
    assert checked >= len(ours)


def test_the_process_descriptions_inputs_are_generated_from_their_models(client):
    for process in list_processes():
        described = client.get(f"/processes/{process.id}").json()["inputs"]
        assert described == process.inputs_model.ogc_inputs()
    report = client.get("/processes/anomaly-report").json()["inputs"]
    assert list(report) == ["participant", "from", "to", "version"]
    assert report["from"]["schema"] == {"type": "integer", "minimum": 2003, "maximum": 2100}
    assert report["version"]["minOccurs"] == 0 and "default" not in report["version"]["schema"]
    assert set(CalibrateInputs.model_fields) - set(AnomalyReportInputs.model_fields) == {
        "reps", "seed"}


@pytest.mark.parametrize(("inputs", "words"), [
    ({"field": "gh-birim", "seed": "seven"}, "input 'seed' must be of type integer"),
    ({"field": "gh-birim", "draws": True}, "input 'draws' must be of type integer"),
    ({"field": "gh-birim", "draws": 5}, "input 'draws' must be >= 100"),
    ({"field": "gh-birim", "colour": "blue"}, "unknown input 'colour'"),
    ({"seed": 1}, "input 'field' is required"),
    ({"field": "xx-nowhere"}, "input 'field' must be one of"),
])
def test_a_bad_input_is_a_400_naming_it(client, api_keys, store, inputs, words):
    response = client.post("/processes/build-footprint/execution", json={"inputs": inputs},
                           headers={"X-API-Key": api_keys["surveyor"]})
    assert response.status_code == 400 and response.json()["type"] == "InvalidParameterValue"
    assert words in response.json()["detail"]
    assert store.list_jobs() == []


def test_null_is_an_input_not_given():
    """``null`` inputs take their defaults, as an absent input does (a report input
    ``version: null`` pins nothing)."""
    process = {p.id: p for p in list_processes()}["anomaly-report"]
    values = process.validate_inputs({"participant": "GHA", "from": 2005, "to": 2010,
                                      "version": None})
    assert values == {"participant": "GHA", "from": 2005, "to": 2010}
