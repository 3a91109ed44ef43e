"""Executors chosen by name, and jobs run on a real dask.distributed LocalCluster."""

from __future__ import annotations

import os
import time

import dask
import geopandas as gpd
import pytest
from distributed import Client, LocalCluster
from shapely.geometry import box

from api.processes import execute_build_footprint
from footprint import executors
from footprint.errors import ConfigurationError, InvalidParameterError
from footprint.settings import Settings

#: A hang (a cluster that never starts, a server that never answers) fails, not blocks.
pytestmark = pytest.mark.timeout(180)


def square_job(inputs, *, store, settings, progress, job_id):
    """A job: reports progress, returns a result that depends on its input."""
    progress(50, f"squaring {inputs['x']}")
    return {"square": inputs["x"] ** 2, "pid": os.getpid()}


def failing_job(inputs, *, store, settings, progress, job_id):
    raise InvalidParameterError(f"x must be even, got {inputs['x']}")


def dying_job(inputs, *, store, settings, progress, job_id):
    """Kills the process it runs in, as an out-of-memory kill would."""
    progress(10, "about to die")
    os._exit(137)


def test_local_is_the_default_and_dask_needs_a_scheduler(tmp_path):
    local = executors.get_executor(Settings(state_dir=tmp_path))
    try:
        assert isinstance(local, executors.LocalExecutor) and local.in_process
        assert local.submit(pow, 3, 4).result(timeout=10) == 81
    finally:
        local.shutdown()
    with pytest.raises(ConfigurationError, match="scheduler"):
        executors.get_executor(Settings(state_dir=tmp_path, executor="dask"))


def test_an_unreachable_dask_scheduler_is_one_clear_error_within_the_timeout(tmp_path):
    """No scheduler listens on the port: the executor gives up after the configured
    timeout with a ConfigurationError that names the address, not a traceback of
    distributed's retries after its 30 s default."""
    import socket
    import time

    with socket.socket() as probe:  # a free port, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    settings = Settings(state_dir=tmp_path, executor="dask", dask_scheduler=address,
                        dask_connect_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match=f"no dask scheduler answered at {address}"):
        executors.get_executor(settings)
    # generous bound: the point is that the configured 1 s is used, not distributed's 30 s
    assert time.monotonic() - started < 25


@pytest.fixture(scope="module")
def thread_cluster():
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=":0") as cluster:
        yield cluster


def test_get_executor_connects_to_the_configured_scheduler(thread_cluster, tmp_path):
    settings = Settings(state_dir=tmp_path, executor="dask",
                        dask_scheduler=thread_cluster.scheduler_address)
    executor = executors.get_executor(settings)
    try:
        assert isinstance(executor, executors.DaskExecutor) and not executor.in_process
        assert executor.submit(pow, 2, 10).result(timeout=30) == 1024
    finally:
        executor.shutdown()


def test_jobs_on_dask_record_results_and_errors_in_the_database(thread_cluster, settings, store):
    with Client(thread_cluster, set_as_default=False) as client:
        executor = executors.DaskExecutor(client)
        good = store.create_job("square", {"x": 7})
        bad = store.create_job("square", {"x": 3})
        futures = [executors.start_job(executor, square_job, good.id, {"x": 7}, settings, store),
                   executors.start_job(executor, failing_job, bad.id, {"x": 3}, settings, store)]
        client.gather(futures)
    record = store.get_job(good.id)
    assert record.status == "successful" and record.results["square"] == 49
    assert record.progress == 100 and record.worker
    failed = store.get_job(bad.id)
    assert failed.status == "failed" and "x must be even, got 3" in failed.message
    assert failed.results is None


@pytest.fixture(scope="module")
def process_cluster():
    """One worker process (spawned); a task whose worker dies is not retried."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                         dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture
def sqlite_only(backend):
    # Worker processes are slow to spawn on a small machine: the process-cluster tests run
    # on the embedded backend; the thread-cluster test above covers both backends.
    if backend != "sqlite":
        pytest.skip("process-cluster tests run on sqlite only (cost); see the thread tests")


def test_build_footprint_on_a_dask_worker_process(process_cluster, sqlite_only, settings, store,
                                                  tmp_path):
    """A real build in a separate worker process: it opens its own store from the settings."""
    offline = settings.model_copy(update={"data_dir": tmp_path / "no-data"})
    deposits = gpd.GeoDataFrame({"deposit_class": ["floodplain"], "thickness_m": [0.5]},
                                geometry=[box(-0.83, 6.01, -0.81, 6.03)], crs=4326)
    store.add_layer("gh-birim", "deposits", "mapped", "a" * 64, crs="EPSG:4326",
                    bounds_4326=None, features=deposits)
    inputs = {"field": "gh-birim", "draws": 1000, "seed": 5}
    job = store.create_job("build-footprint", inputs)
    with Client(process_cluster, set_as_default=False) as client:
        executor = executors.DaskExecutor(client)
        future = executors.start_job(executor, execute_build_footprint, job.id, inputs, offline,
                                     store)
        future.result(timeout=120)
    record = store.get_job(job.id)
    assert record.status == "successful", record.message
    assert record.worker.split("/")[0] != executors.worker_name().split("/")[0]  # another pid
    footprint = store.latest_footprint("gh-birim")
    assert footprint.version == record.results["footprint"]["version"] == 1
    assert footprint.provenance["input_checksums"]["layer:deposits:1"] == "a" * 64
    assert (offline.state_dir / footprint.draws_path).is_file()


def test_a_job_whose_dask_worker_dies_ends_failed_with_the_reason(process_cluster, sqlite_only,
                                                                  settings, store):
    job = store.create_job("square", {"x": 1})
    with Client(process_cluster, set_as_default=False) as client:
        executor = executors.DaskExecutor(client)
        future = executors.start_job(executor, dying_job, job.id, {"x": 1}, settings, store)
        with pytest.raises(Exception):  # noqa: B017 (the type depends on the dask version)
            future.result(timeout=120)
        deadline = time.monotonic() + 30  # the done-callback runs on the client's loop
        while store.get_job(job.id).status == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
    record = store.get_job(job.id)
    assert record.status == "failed"
    assert "worker" in record.message and ("died" in record.message or "lost" in record.message)
