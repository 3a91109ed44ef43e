"""Jobs: accepted -> running -> final, dismissal, and failing the orphans of a restart."""

from __future__ import annotations

import datetime as dt

import pytest

from footprint.errors import ConflictError, InvalidParameterError, NotFoundError


def test_job_life_cycle(store):
    job = store.create_job("build-footprint", {"field": "gh-birim", "draws": 1000}, owner="key:1")
    assert job.status == "accepted" and job.progress == 0 and job.started_at is None
    assert job.created_at.tzinfo is not None and job.inputs["draws"] == 1000
    running = store.update_job(job.id, status="running", worker="host:1/t")
    assert running.status == "running" and running.started_at >= job.created_at
    assert running.heartbeat_at is not None and running.worker == "host:1/t"
    halfway = store.update_job(job.id, progress=50, message="simulating")
    assert (halfway.progress, halfway.message) == (50, "simulating")
    done = store.update_job(job.id, status="successful", results={"version": 3})
    assert done.progress == 100 and done.finished_at >= done.started_at and done.is_finished
    assert store.get_job(job.id) == done
    with pytest.raises(ConflictError):  # final states do not change
        store.update_job(job.id, status="running")


def test_invalid_updates_are_refused(store):
    job = store.create_job("delineate", {})
    for bad in ({"progress": 101}, {"progress": 2.5}, {"status": "paused"}, {"owner": "x"}):
        with pytest.raises(InvalidParameterError):
            store.update_job(job.id, **bad)
    assert store.get_job(job.id) == job
    with pytest.raises(NotFoundError):
        store.get_job("00000000-0000-0000-0000-000000000000")


def test_dismissal_hides_the_job_and_stops_its_worker(store):
    kept = store.create_job("delineate", {"n": 1})
    dismissed = store.create_job("delineate", {"n": 2})
    store.update_job(dismissed.id, status="running")
    record = store.dismiss_job(dismissed.id)
    assert record.status == "dismissed" and record.finished_at is not None
    assert store.dismiss_job(dismissed.id) == record  # idempotent
    with pytest.raises(ConflictError):  # the worker's next progress report
        store.update_job(dismissed.id, progress=60)
    assert [j.id for j in store.list_jobs()] == [kept.id]
    assert {j.id for j in store.list_jobs(include_dismissed=True)} == {kept.id, dismissed.id}


def test_list_jobs_pages_newest_first(store):
    ids = [store.create_job("delineate", {"i": i}).id for i in range(5)]
    first, second = store.list_jobs(limit=3), store.list_jobs(limit=3, offset=3)
    assert [j.id for j in first + second] == ids[::-1]


def test_fail_orphaned_jobs_after_a_restart(store):
    accepted = store.create_job("delineate", {})
    running = store.create_job("delineate", {})
    store.update_job(running.id, status="running")
    finished = store.create_job("delineate", {})
    store.update_job(finished.id, status="failed", message="bad input")
    assert store.fail_orphaned_jobs("the server restarted") == 2
    for job_id in (accepted.id, running.id):
        job = store.get_job(job_id)
        assert job.status == "failed" and job.message == "the server restarted"
        assert job.finished_at is not None
    assert store.get_job(finished.id).message == "bad input"
    assert store.fail_orphaned_jobs("again") == 0


def test_fail_orphaned_jobs_only_with_stale_heartbeats(store):
    now = dt.datetime.now(dt.UTC)
    stale = store.create_job("delineate", {})
    store.update_job(stale.id, status="running", heartbeat_at=now - dt.timedelta(minutes=10))
    fresh = store.create_job("delineate", {})
    store.update_job(fresh.id, status="running")
    assert store.fail_orphaned_jobs("worker lost", older_than_s=120) == 1
    assert store.get_job(stale.id).status == "failed"
    assert store.get_job(fresh.id).status == "running"
