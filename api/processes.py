"""The OGC API - Processes offered by the service, independent of the web framework.

Three processes, each a :class:`Process`: an OGC process description (inputs and outputs
as JSON Schema), the roles allowed to execute it, and an ``execute`` function run by a
job (see :func:`footprint.executors.run_job`)::

    execute(inputs, *, store, settings, progress, job_id) -> dict  # JSON-able results

``delineate``
    where the gravels are: :func:`footprint.pipeline.delineate.delineate_field`.
``build-footprint``
    a new footprint version when the inputs changed (else the latest one, ``created``
    false): :func:`footprint.pipeline.build.build_footprint_version`. Its
    ``parameters`` input is described by :class:`footprint.params.ParameterSheet`'s own
    JSON Schema, so the API and the sheets in ``datasets/parameters`` cannot drift apart.
``anomaly-report``
    the statistical protocols for a participant and period:
    :func:`footprint.pipeline.report.make_report`.

Execute functions are module-level so a dask worker can import them by reference.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from footprint import executors
from footprint.concepts import DELINEATION_MODES
from footprint.errors import InvalidParameterError, NotFoundError, QuotaExceededError
from footprint.serialise import to_jsonable
from footprint.services import footprints as footprint_service
from footprint.services import reports as report_service
from footprint.settings import Settings
from footprint.storage.audit import Audit

PROCESS_VERSION = "1.0.0"
JOB_CONTROL_OPTIONS = ["sync-execute", "async-execute", "dismiss"]


@dataclass(frozen=True)
class Process:
    """One OGC process: its description, who may run it, and what runs."""

    id: str
    title: str
    description: str
    inputs: dict[str, dict]
    outputs: dict[str, dict]
    execute: Callable[..., dict]
    roles: tuple[str, ...]
    keywords: tuple[str, ...] = field(default=())
    #: results readable only by the roles that may run it (reports use uploaded,
    #: possibly confidential declarations); otherwise results are a public read like
    #: the footprints they describe
    private_results: bool = False
    #: checks beyond the JSON Schema (run before any job is created)
    check: Callable[[dict], Any] | None = None
    #: Monte Carlo work the inputs ask for, in draws × fields (the quota's unit)
    cost: Callable[[dict], int] | None = None

    def cost_draw_fields(self, inputs: dict) -> int:
        """The draws × fields a job of this process with ``inputs`` asks for (0: none)."""
        return int(self.cost(inputs)) if self.cost is not None else 0

    def summary(self) -> dict[str, Any]:
        """The process summary of ``/processes`` (without inputs and outputs)."""
        return {"id": self.id, "title": self.title, "description": self.description,
                "version": PROCESS_VERSION, "keywords": list(self.keywords),
                "jobControlOptions": list(JOB_CONTROL_OPTIONS),
                "outputTransmission": ["value"]}

    def describe(self) -> dict[str, Any]:
        """The full process description of ``/processes/{id}``."""
        return {**self.summary(), "inputs": copy.deepcopy(self.inputs),
                "outputs": copy.deepcopy(self.outputs)}

    def validate_inputs(self, inputs: Any) -> dict[str, Any]:
        """Check ``inputs`` against the description: required present, no unknown names,
        basic JSON types and bounds. Returns the inputs with defaults filled in.

        Raises
        ------
        InvalidParameterError
            Naming every problem found.
        """
        if inputs is None:
            inputs = {}
        if not isinstance(inputs, dict):
            raise InvalidParameterError("'inputs' must be a JSON object")
        problems = [f"unknown input '{name}'" for name in inputs if name not in self.inputs]
        values: dict[str, Any] = {}
        for name, spec in self.inputs.items():
            if name not in inputs or inputs[name] is None:
                if spec.get("minOccurs", 0) >= 1:
                    problems.append(f"input '{name}' is required")
                elif "default" in spec["schema"]:
                    values[name] = spec["schema"]["default"]
                continue
            problem = _check_value(name, inputs[name], spec["schema"])
            if problem:
                problems.append(problem)
            else:
                values[name] = inputs[name]
        if problems:
            raise InvalidParameterError(f"invalid inputs for process '{self.id}': "
                                        + "; ".join(problems))
        if self.check is not None:
            self.check(values)
        return values


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,),
}


def _check_value(name: str, value: Any, schema: dict) -> str | None:
    kind = schema.get("type")
    if kind in _JSON_TYPES:
        if isinstance(value, bool) and kind != "boolean":
            return f"input '{name}' must be of type {kind}"
        if not isinstance(value, _JSON_TYPES[kind]):
            return f"input '{name}' must be of type {kind}"
    if "enum" in schema and value not in schema["enum"]:
        return f"input '{name}' must be one of {', '.join(map(str, schema['enum']))}"
    if "minimum" in schema and value < schema["minimum"]:
        return f"input '{name}' must be >= {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"input '{name}' must be <= {schema['maximum']}"
    if "pattern" in schema:
        import re
        if not re.fullmatch(schema["pattern"], value):
            return f"input '{name}' must match {schema['pattern']}"
    return None


# --------------------------------------------------------------------------------------
# input schemas
# --------------------------------------------------------------------------------------
def _field_ids() -> list[str]:
    from footprint.catalogue import load_catalogue
    return list(load_catalogue())


def _field_input() -> dict:
    return {"title": "Field",
            "description": "Id of a field of the catalogue (GET /collections/fields/items).",
            "schema": {"type": "string", "enum": _field_ids()}, "minOccurs": 1, "maxOccurs": 1}


def _parameter_sheet_schema() -> dict:
    """JSON Schema of a parameter sheet, from the pydantic model the sheets are validated by."""
    try:
        from footprint.params import ParameterSheet
    except ImportError:  # pragma: no cover - the models package always ships it
        return {"type": "object"}
    return ParameterSheet.model_json_schema()


def _delineate_inputs() -> dict:
    return {
        "field": _field_input(),
        "mode": {"title": "Delineation mode",
                 "description": "terrain (DEM valley bottoms), rivers (river buffers) or polygons "
                                "(uploaded deposit polygons); default: the best the field's "
                                "layers allow.",
                 "schema": {"type": "string", "enum": list(DELINEATION_MODES)},
                 "minOccurs": 0, "maxOccurs": 1},
    }


def _build_inputs(settings: Settings | None = None) -> dict:
    draws_default = settings.draws if settings else 20_000
    seed_default = settings.seed if settings else 20081106
    # a bound on the work (CPU, memory, the Parquet of draws) one request may ask for
    draws_max = max(settings.max_draws if settings else 200_000, draws_default)
    return {
        "field": _field_input(),
        "seed": {"title": "Seed",
                 "description": "Base seed of the Monte Carlo draws (same seed, same draws); "
                                "the field's own seed is derived from it and its id.",
                 "schema": {"type": "integer", "minimum": 0, "default": seed_default},
                 "minOccurs": 0, "maxOccurs": 1},
        "draws": {"title": "Draws", "description": "Number of Monte Carlo draws "
                                                  "(at most FOOTPRINT_MAX_DRAWS).",
                  "schema": {"type": "integer", "minimum": 100, "maximum": draws_max,
                             "default": draws_default},
                  "minOccurs": 0, "maxOccurs": 1},
        "parameters": {"title": "Parameter sheet",
                       "description": "A parameter sheet replacing the field's stored one "
                                      "(datasets/parameters/<field>.yaml); same schema.",
                       "schema": _parameter_sheet_schema(), "minOccurs": 0, "maxOccurs": 1},
    }


def _report_inputs() -> dict:
    return {
        "participant": {"title": "Participant",
                        "description": "ISO3 code of the KP participant (GHA, CIV, TGO, ZWE).",
                        "schema": {"type": "string", "pattern": "^[A-Z]{3}$"},
                        "minOccurs": 1, "maxOccurs": 1},
        "from": {"title": "First year",
                 "schema": {"type": "integer", "minimum": 2003, "maximum": 2100},
                 "minOccurs": 1, "maxOccurs": 1},
        "to": {"title": "Last year",
               "schema": {"type": "integer", "minimum": 2003, "maximum": 2100},
               "minOccurs": 1, "maxOccurs": 1},
        "version": {"title": "Footprint versions",
                    "description": "Pin footprint versions: N (a participant with one field) "
                                   "or FIELD:N[,FIELD:N]; default the latest stored.",
                    "schema": {"type": "string", "maxLength": 500},
                    "minOccurs": 0, "maxOccurs": 1},
    }


# --------------------------------------------------------------------------------------
# the per-caller quota
# --------------------------------------------------------------------------------------
def _build_cost(inputs: dict) -> int:
    return int(inputs.get("draws") or 0)  # one field


def _calibrate_cost(inputs: dict) -> int:
    from footprint.catalogue import fields_of

    return int(inputs.get("reps") or 0) * max(1, len(fields_of(str(inputs["participant"]))))


def unfinished_jobs(store: Any, owner: str) -> list[Any]:
    """The accepted or running jobs of ``owner``, after failing those nobody runs any
    more (:func:`footprint.executors.fail_if_stale`): a dead server's jobs use no quota."""
    jobs = store.list_jobs(limit=10_000, statuses=(executors.ACCEPTED, executors.RUNNING))
    return [job for job in (executors.fail_if_stale(store, j) for j in jobs if j.owner == owner)
            if job.status in (executors.ACCEPTED, executors.RUNNING)]


def check_quota(store: Any, settings: Settings, principal: Any, process: Process,
                inputs: dict) -> None:
    """Refuse a job the caller's quota has no room for, before it is created.

    Two limits per caller (key name): at most ``settings.max_jobs_per_key`` unfinished
    jobs, and at most ``settings.max_draw_fields_per_key`` draws × fields over its
    unfinished jobs and this one (:meth:`Process.cost_draw_fields`).

    Raises
    ------
    QuotaExceededError
        Naming the limit and its setting (429 with ``Retry-After`` in the API).
    """
    running = unfinished_jobs(store, principal.name)
    if len(running) >= settings.max_jobs_per_key:
        raise QuotaExceededError(
            f"quota exceeded: {len(running)} unfinished jobs already (the limit, "
            f"FOOTPRINT_MAX_JOBS_PER_KEY={settings.max_jobs_per_key}); try again when one ends")
    wanted = process.cost_draw_fields(inputs)
    if wanted == 0:
        return
    registry_now = registry(settings)
    used = sum(registry_now[j.process_id].cost_draw_fields(j.inputs or {})
               for j in running if j.process_id in registry_now)
    budget = settings.max_draw_fields_per_key
    if used + wanted > budget:
        raise QuotaExceededError(
            f"quota exceeded: {wanted} draws × fields asked, {used} in use by unfinished "
            f"jobs, the limit is {budget} (FOOTPRINT_MAX_DRAW_FIELDS_PER_KEY); try again "
            "when they end, or ask for fewer draws")


# --------------------------------------------------------------------------------------
# execute functions (run by a job; see footprint.executors.run_job)
# --------------------------------------------------------------------------------------
def execute_delineate(inputs: dict, *, store: Any, settings: Settings,
                      progress: Callable[[float, str], None], job_id: str) -> dict:
    """Delineate the field's deposits (:func:`footprint.services.footprints.delineate`)."""
    return {"summary": footprint_service.delineate(store, settings, inputs["field"],
                                                   job_id=job_id, mode=inputs.get("mode"),
                                                   progress=progress)}


def build_sheet(inputs: dict) -> Any:
    """The custom parameter sheet of a build-footprint request, validated (or None)."""
    if inputs.get("parameters") is None:
        return None
    from footprint.params import parse_sheet

    sheet = parse_sheet(inputs["parameters"])
    if sheet.field != inputs["field"]:
        raise InvalidParameterError(
            f"the parameter sheet is for {sheet.field!r}, not {inputs['field']!r}")
    return sheet


def execute_build_footprint(inputs: dict, *, store: Any, settings: Settings,
                            progress: Callable[[float, str], None], job_id: str) -> dict:
    """Build and store a new footprint version of the field, unless its inputs did not
    change since the latest one: then that one is returned (``created: false``)."""
    owner = store.get_job(job_id).owner
    built = footprint_service.build_footprint(
        store, settings, inputs["field"], seed=inputs.get("seed"), draws=inputs.get("draws"),
        sheet=build_sheet(inputs), progress=progress,
        audit=Audit(owner or "job", {"job_id": job_id}))
    return {"footprint": built.summary(), "created": built.created,
            "same_inputs_as": list(built.same_inputs_as), "message": built.message}


def _calibrate_inputs() -> dict:
    base = _report_inputs()
    base["reps"] = {"title": "Honest replicates", "schema": {"type": "integer", "minimum": 1,
                                                             "maximum": 5000, "default": 1000},
                    "minOccurs": 0, "maxOccurs": 1}
    base["seed"] = {"title": "Base seed", "schema": {"type": "integer", "minimum": 0,
                                                     "maximum": 2**32 - 1, "default": 0},
                    "minOccurs": 0, "maxOccurs": 1}
    return base


def execute_calibrate(inputs: dict, *, store: Any, settings: Settings,
                      progress: Callable[[float, str], None], job_id: str) -> dict:
    """Size and power of every protocol on the participant's stored footprints."""
    from footprint.pipeline.calibrate import calibrate_participant
    from footprint.pipeline.report import stored_footprint_provider

    progress(5, "simulating honest and dishonest declarations from the footprints")
    result = calibrate_participant(inputs["participant"], inputs["from"], inputs["to"],
                                   reps=int(inputs.get("reps", 1000)),
                                   seed=int(inputs.get("seed", 0)),
                                   footprints=stored_footprint_provider(store, settings),
                                   settings=settings)
    progress(95, "calibration computed")
    return {"calibration": _jsonable(result.to_dict())}


def execute_anomaly_report(inputs: dict, *, store: Any, settings: Settings,
                           progress: Callable[[float, str], None], job_id: str) -> dict:
    """Run the statistical protocols for a participant and period; results as JSON."""
    progress(5, "running the statistical protocols on the stored footprints")
    report = report_service.make_report(store, settings, inputs["participant"], inputs["from"],
                                        inputs["to"], version=inputs.get("version"))
    progress(95, "report computed")
    return {"report": _jsonable(report)}


# --------------------------------------------------------------------------------------
# reports from what the store holds
# --------------------------------------------------------------------------------------
_jsonable = to_jsonable


# --------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _processes(draws_default: int, seed_default: int, draws_max: int = 200_000
               ) -> dict[str, Process]:
    class _Defaults:  # only draws, their bound and seed are read from the settings
        draws, seed, max_draws = draws_default, seed_default, draws_max

    outputs_json = {"schema": {"type": "object", "contentMediaType": "application/json"}}
    processes = [
        Process(
            id="delineate", title="Delineate deposits",
            description="Where the diamond-bearing gravels are: valley bottoms from the DEM, "
                        "river buffers or mapped polygons, mined ground removed "
                        "(DOMAIN.md 3.1). Writes deposits.gpkg, streams/MRVBF/HAND COGs and a "
                        "summary.",
            inputs=_delineate_inputs(),
            outputs={"summary": {"title": "Delineation summary",
                                 "description": "Areas per deposit class (m2), mode, "
                                                "parameters, input checksums.",
                                 **outputs_json}},
            execute=execute_delineate, roles=("surveyor",),
            keywords=("deposits", "terrain", "MRVBF", "HAND")),
        Process(
            id="build-footprint", title="Build a footprint version",
            description="Delineate (or use stored deposit and mined-area layers), run the seeded "
                        "Monte Carlo of resource, capacity and value (DOMAIN.md 3.2-3.4) and store "
                        "a new footprint version with its draws and provenance.",
            inputs=_build_inputs(_Defaults),  # type: ignore[arg-type]
            outputs={"footprint": {"title": "Footprint version",
                                   "description": "Version id, summaries (P5, P50, P95, "
                                                  "mean) and provenance.",
                                   **outputs_json}},
            execute=execute_build_footprint, roles=("surveyor",), check=build_sheet,
            cost=_build_cost,
            keywords=("footprint", "Monte Carlo", "resource", "capacity")),
        Process(
            id="anomaly-report", title="Anomaly report",
            description="Compare a participant's declared statistics with the production "
                        "footprints of its fields over a period (DOMAIN.md 4), with "
                        "Benjamini-Hochberg control of the false discovery rate.",
            inputs=_report_inputs(),
            outputs={"report": {"title": "Anomaly report",
                                "description": "Per test: statistic, p-value, verdict "
                                               "and evidence.",
                                **outputs_json}},
            execute=execute_anomaly_report, roles=("monitor",), private_results=True,
            keywords=("protocols", "anomalies", "Kimberley Process")),
        Process(
            id="calibrate-protocols", title="Calibrate the protocols",
            description="Simulate honest and named dishonest declarations from a "
                        "participant's stored footprints (DOMAIN.md 8) and return each "
                        "test's size at alpha with its Monte Carlo error and its power.",
            inputs=_calibrate_inputs(),
            outputs={"calibration": {"title": "Size and power per test",
                                     "description": "Table per test, alternatives and "
                                                    "their magnitudes, seed, parameters.",
                                     **outputs_json}},
            execute=execute_calibrate, roles=("monitor",), cost=_calibrate_cost,
            keywords=("protocols", "calibration", "size", "power")),
    ]
    return {p.id: p for p in processes}


def list_processes(settings: Settings | None = None) -> list[Process]:
    """The processes offered, in a stable order."""
    return list(registry(settings).values())


def registry(settings: Settings | None = None) -> dict[str, Process]:
    """Processes by id (defaults for seed and draws from ``settings``)."""
    if settings is None:
        return _processes(20_000, 20081106)
    return _processes(settings.draws, settings.seed, settings.max_draws)


def get_process(process_id: str, settings: Settings | None = None) -> Process:
    """The process ``process_id``; raises :class:`NotFoundError`."""
    processes = registry(settings)
    try:
        return processes[process_id]
    except KeyError:
        raise NotFoundError(f"no process {process_id!r}",
                            hint=f"known processes: {', '.join(processes)}") from None
