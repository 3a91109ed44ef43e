"""The OGC API - Processes offered by the service, independent of the web framework.

Four processes, each a :class:`Process`: an OGC process description (outputs as JSON
Schema, inputs generated from a pydantic model of :mod:`api.process_inputs`, which also
validates them), the roles allowed to execute it, and an ``execute`` function run by a
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
``calibrate-protocols``
    size and power of every protocol on a participant's stored footprints:
    :func:`footprint.pipeline.calibrate.calibrate_participant`.

Execute functions are module-level so a dask worker can import them by reference.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from api import process_inputs
from api.process_inputs import ProcessInputs
from footprint import executors
from footprint.catalogue import load_catalogue
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
    #: the inputs, as a model: the description's ``inputs`` and their validation
    inputs_model: type[ProcessInputs]
    outputs: dict[str, dict]
    execute: Callable[..., dict]
    roles: tuple[str, ...]
    keywords: tuple[str, ...] = field(default=())
    #: results readable only by the roles that may run it (reports use uploaded,
    #: possibly confidential declarations); otherwise results are a public read like
    #: the footprints they describe
    private_results: bool = False
    #: checks beyond the inputs model (run before any job is created)
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
        return {**self.summary(), "inputs": self.inputs,
                "outputs": copy.deepcopy(self.outputs)}

    @property
    def inputs(self) -> dict[str, dict]:
        """The ``inputs`` of the process description, generated from :attr:`inputs_model`."""
        return self.inputs_model.ogc_inputs()

    def validate_inputs(self, inputs: Any) -> dict[str, Any]:
        """Check ``inputs`` with :attr:`inputs_model` (then :attr:`check`); returns them
        with defaults filled in.

        Raises
        ------
        InvalidParameterError
            Naming every bad input.
        """
        values = self.inputs_model.parse(inputs)
        if self.check is not None:
            self.check(values)
        return values


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
                inputs: dict) -> Callable[[list[Any]], None]:
    """Refuse a job the caller's quota has no room for, before it is created; return the
    same check for :func:`api.jobs.submit_job`, which runs it again in the transaction
    that creates the job (with the caller's lock held): two concurrent requests cannot
    both take the last place.

    Two limits per caller (key name): at most ``settings.max_jobs_per_key`` unfinished
    jobs, and at most ``settings.max_draw_fields_per_key`` draws × fields over its
    unfinished jobs and this one (:meth:`Process.cost_draw_fields`).

    Raises
    ------
    QuotaExceededError
        Naming the limit and its setting (429 with ``Retry-After`` in the API).
    """
    admit = functools.partial(_admit, settings, process, inputs)
    admit(unfinished_jobs(store, principal.name))
    return admit


def _admit(settings: Settings, process: Process, inputs: dict, running: list[Any]) -> None:
    """Raise :class:`QuotaExceededError` unless a job of ``process`` with ``inputs`` fits
    beside the caller's unfinished jobs ``running``."""
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


def execute_calibrate(inputs: dict, *, store: Any, settings: Settings,
                      progress: Callable[[float, str], None], job_id: str) -> dict:
    """Size and power of every protocol on the participant's stored footprints."""
    from footprint.pipeline.calibrate import calibrate_participant
    from footprint.pipeline.report import stored_footprint_provider

    progress(5, "simulating honest and dishonest declarations from the footprints")
    every_second = executors.throttled(progress)  # a dismissal stops it within a second
    result = calibrate_participant(
        inputs["participant"], inputs["from"], inputs["to"],
        reps=int(inputs.get("reps", 1000)), seed=int(inputs.get("seed", 0)),
        footprints=stored_footprint_provider(store, settings), settings=settings,
        on_replicate=lambda done, reps: every_second(
            5 + 90 * done / reps, f"simulating: replicate {done} of {reps}"))
    progress(95, "calibration computed")
    return {"calibration": to_jsonable(result.to_dict())}


def execute_anomaly_report(inputs: dict, *, store: Any, settings: Settings,
                           progress: Callable[[float, str], None], job_id: str) -> dict:
    """Run the statistical protocols for a participant and period; results as JSON."""
    report = report_service.make_report(store, settings, inputs["participant"], inputs["from"],
                                        inputs["to"], version=inputs.get("version"),
                                        progress=lambda pct, message: progress(
                                            5 + 0.9 * pct, message))
    progress(95, "report computed")
    return {"report": to_jsonable(report)}


# --------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _processes(draws_default: int, seed_default: int, draws_max: int = 200_000
               ) -> dict[str, Process]:
    field_ids = tuple(load_catalogue())
    outputs_json = {"schema": {"type": "object", "contentMediaType": "application/json"}}
    processes = [
        Process(
            id="delineate", title="Delineate deposits",
            description="Where the diamond-bearing gravels are: valley bottoms from the DEM, "
                        "river buffers or mapped polygons, mined ground removed "
                        "(DOMAIN.md 3.1). Writes deposits.gpkg, streams/MRVBF/HAND COGs and a "
                        "summary.",
            inputs_model=process_inputs.delineate_inputs(field_ids),
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
            inputs_model=process_inputs.build_footprint_inputs(
                field_ids, seed_default=seed_default, draws_default=draws_default,
                draws_max=draws_max),
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
            inputs_model=process_inputs.AnomalyReportInputs,
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
            inputs_model=process_inputs.CalibrateInputs,
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
