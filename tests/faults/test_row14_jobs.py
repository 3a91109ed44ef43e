"""Row 14: long builds report progress per chunk of draws, stop at the next chunk when
dismissed, and each caller has a quota (429 with Retry-After, naming the limit)."""

from __future__ import annotations

import pytest
from _support import deposit_polygons

from api.processes import check_quota, get_process
from footprint.errors import JobDismissedError, QuotaExceededError
from footprint.executors import JobProgress
from footprint.services.footprints import build_footprint
from footprint.simulation import CHUNK_DRAWS

#: Two canonical chunks of draws: progress must be reported between them.
TWO_CHUNKS = CHUNK_DRAWS + 1_000


@pytest.fixture
def with_deposits(store):
    return store.add_layer("gh-birim", "deposits", "mapped", "c" * 64, crs="EPSG:4326",
                           bounds_4326=None, features=deposit_polygons())[0]


def _files_under(settings, folder: str) -> list[str]:
    root = settings.state_dir / folder
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_progress_advances_per_chunk_between_35_and_85(offline, store, with_deposits):
    reports: list[tuple[float, str]] = []
    build_footprint(store, offline, "gh-birim", draws=TWO_CHUNKS, seed=1,
                    progress=lambda pct, message: reports.append((pct, message)))
    inside = [(pct, message) for pct, message in reports if 35 < pct < 85]
    assert [message for _, message in inside] == ["simulating: chunk 1 of 2"], reports
    assert inside[0][0] == pytest.approx(60.0)
    pcts = [pct for pct, _ in reports]
    assert pcts == sorted(pcts)  # never goes back


def test_a_dismissal_stops_a_running_build_at_the_next_chunk(offline, store, with_deposits):
    job = store.create_job("build-footprint", {"field": "gh-birim"}, owner="t")
    store.update_job(job.id, status="running")
    job_progress = JobProgress(store, job.id)  # what run_job hands to the build
    reports: list[float] = []

    def progress(pct: float, message: str = "") -> None:
        reports.append(pct)
        if message == "simulating: chunk 1 of 2":
            store.dismiss_job(job.id)  # a DELETE /jobs/{id} arriving meanwhile
        job_progress(pct, message)

    with pytest.raises(JobDismissedError):
        build_footprint(store, offline, "gh-birim", draws=TWO_CHUNKS, seed=1, progress=progress)
    assert max(reports) == pytest.approx(60.0)  # the second chunk never reported
    assert store.list_footprints("gh-birim") == []
    assert _files_under(offline, "footprints") in ([], ["gh-birim"])  # no partial directory
    assert store.get_job(job.id).status == "dismissed"


def _unfinished(store, owner, draws=1_000):
    return store.create_job("build-footprint", {"field": "gh-birim", "draws": draws},
                            owner=owner)


def test_too_many_unfinished_jobs_is_a_429_naming_the_limit(make_client, api_keys, store,
                                                            snapshot):
    client = make_client(max_jobs_per_key=2)
    for _ in range(2):
        _unfinished(store, "test-surveyor")
    _unfinished(store, "test-admin")  # another caller's jobs do not count
    before = snapshot()
    response = client.post("/processes/build-footprint/execution",
                           headers={"X-API-Key": api_keys["surveyor"], "Prefer": "respond-async"},
                           json={"inputs": {"field": "gh-birim", "draws": 1000}})
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == "30"
    body = response.json()
    assert body["type"] == "TooManyRequests"
    assert "2 unfinished jobs" in body["detail"] and "FOOTPRINT_MAX_JOBS_PER_KEY=2" in body["detail"]
    assert snapshot() == before


def test_a_draws_budget_over_unfinished_jobs_is_a_429_naming_the_limit(make_client, api_keys,
                                                                      store, snapshot):
    client = make_client(max_draw_fields_per_key=5_000)
    _unfinished(store, "test-surveyor", draws=4_000)
    before = snapshot()
    response = client.post("/processes/build-footprint/execution",
                           headers={"X-API-Key": api_keys["surveyor"], "Prefer": "respond-async"},
                           json={"inputs": {"field": "gh-birim", "draws": 2000}})
    assert response.status_code == 429, response.text
    assert "Retry-After" in response.headers
    detail = response.json()["detail"]
    assert "2000 draws × fields asked, 4000 in use" in detail
    assert "limit is 5000 (FOOTPRINT_MAX_DRAW_FIELDS_PER_KEY)" in detail
    assert snapshot() == before


def test_the_quota_is_documented_on_execution(client):
    operation = client.get("/openapi.json").json()["paths"][
        "/processes/{process_id}/execution"]["post"]
    assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_jobs_of_a_dead_server_use_no_quota(settings, store, dead_owner):
    process = get_process("build-footprint", settings)
    quota = settings.model_copy(update={"max_jobs_per_key": 1})
    job = store.create_job("build-footprint", {"field": "gh-birim", "draws": 1000},
                           owner="s", worker=f"{dead_owner.tag}/worker")
    principal = type("P", (), {"name": "s"})()
    check_quota(store, quota, principal, process, {"field": "gh-birim", "draws": 1000})
    assert store.get_job(job.id).status == "failed"
    live = _unfinished(store, "s")
    with pytest.raises(QuotaExceededError):
        check_quota(store, quota, principal, process, {"field": "gh-birim", "draws": 1000})
    assert store.get_job(live.id).status == "accepted"


def test_a_calibration_costs_replicates_times_the_participants_fields(settings):
    from footprint.catalogue import fields_of

    process = get_process("calibrate-protocols", settings)
    n_fields = len(fields_of("GHA"))
    assert n_fields >= 1
    assert process.cost_draw_fields({"participant": "GHA", "reps": 100}) == 100 * n_fields
    assert get_process("anomaly-report", settings).cost_draw_fields({"participant": "GHA"}) == 0


def test_concurrent_requests_of_one_caller_get_exactly_the_quota(make_client, api_keys, store,
                                                                 monkeypatch):
    """Six requests race past the pre-check together (a barrier holds each one after it
    counted the caller's jobs); the store admits them one at a time: exactly the quota
    gets a job, the others a 429, and no more jobs are unfinished than the limit."""
    import threading
    from concurrent.futures import ThreadPoolExecutor, wait

    import api.processes as processes

    quota, racers = 2, 6
    release = threading.Event()

    def held_build(*args, **kwargs):  # the admitted jobs stay unfinished until released
        release.wait(60)
        raise JobDismissedError("released by the test")

    monkeypatch.setattr(processes.footprint_service, "build_footprint", held_build)
    counted = threading.Barrier(racers, timeout=30)
    count_unfinished = processes.unfinished_jobs

    def unfinished_then_wait(store, owner):
        jobs = count_unfinished(store, owner)
        counted.wait()  # every request has seen room before any job is created
        return jobs

    monkeypatch.setattr(processes, "unfinished_jobs", unfinished_then_wait)
    client = make_client(max_jobs_per_key=quota)

    def execute(_: int) -> int:
        return client.post("/processes/build-footprint/execution",
                           headers={"X-API-Key": api_keys["surveyor"],
                                    "Prefer": "respond-async"},
                           json={"inputs": {"field": "gh-birim", "draws": 1000}}).status_code

    try:
        with ThreadPoolExecutor(racers) as pool:
            statuses = sorted(pool.map(execute, range(racers)))
        unfinished = [j for j in store.list_jobs(statuses=("accepted", "running"))
                      if j.owner == "test-surveyor"]
    finally:
        running = list(client.app.state.job_futures.values())
        release.set()
        wait(running, timeout=60)  # the jobs end before the database is dropped
    assert statuses == [201] * quota + [429] * (racers - quota)
    assert len(unfinished) == quota


def _dismissed_at(store, job_id: str, trigger: str, seen: list[str]):
    """A job's progress callback that records each message and dismisses the job (a
    ``DELETE /jobs/{id}`` arriving meanwhile) when ``trigger`` is reported."""
    job_progress = JobProgress(store, job_id)  # what run_job hands to the job

    def progress(pct: float, message: str = "") -> None:
        seen.append(message)
        if message == trigger:
            store.dismiss_job(job_id)
        job_progress(pct, message)

    return progress


@pytest.fixture
def stored_gha(offline, store, with_deposits, settings):
    """GHA's one field with a stored footprint; the KP statistics of the shared data."""
    if not (settings.data_dir / "kp_stats").is_dir():
        pytest.skip("shared data directory absent")
    build_footprint(store, offline, "gh-birim", draws=2_000, seed=1)
    return settings


def test_a_dismissal_stops_a_calibration_at_the_next_replicate(stored_gha, store):
    from api.processes import execute_calibrate

    job = store.create_job("calibrate-protocols", {"participant": "GHA"}, owner="t")
    store.update_job(job.id, status="running")
    seen: list[str] = []
    progress = _dismissed_at(store, job.id, "simulating: replicate 1 of 50", seen)
    with pytest.raises(JobDismissedError):
        execute_calibrate({"participant": "GHA", "from": 2005, "to": 2008, "reps": 50,
                           "seed": 1}, store=store, settings=stored_gha, progress=progress,
                          job_id=job.id)
    assert seen[-1] == "simulating: replicate 1 of 50"  # replicates 2-50 never ran
    assert not list(stored_gha.state.calibrations("GHA").glob("*.json"))  # nothing stored
    assert store.get_job(job.id).status == "dismissed"


def test_a_dismissal_stops_a_report_before_its_next_step(stored_gha, store, monkeypatch):
    import footprint.pipeline.report as report_pipeline
    from api.processes import execute_anomaly_report

    protocols_run = []
    monkeypatch.setattr(report_pipeline, "build_report",
                        lambda inputs, **kw: protocols_run.append(inputs) or {})
    job = store.create_job("anomaly-report", {"participant": "GHA"}, owner="t")
    store.update_job(job.id, status="running")
    seen: list[str] = []
    progress = _dismissed_at(store, job.id, "reading the footprint of gh-birim (1 of 1)", seen)
    with pytest.raises(JobDismissedError):
        execute_anomaly_report({"participant": "GHA", "from": 2005, "to": 2008},
                               store=store, settings=stored_gha, progress=progress,
                               job_id=job.id)
    assert seen[-1] == "reading the footprint of gh-birim (1 of 1)"
    assert protocols_run == []  # the protocols never ran
    assert store.get_job(job.id).status == "dismissed"
