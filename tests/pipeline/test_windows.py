"""Where windows run (executor maps) and where their stitched results go (DiskGrid)."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from footprint import terrain
from footprint.errors import (
    ConfigurationError,
    ConflictError,
    InvalidParameterError,
    StorageError,
)
from footprint.pipeline.windows import DiskGrid, configured_map, executor_map, mapped_grids
from footprint.settings import Settings


def test_executor_map_keeps_task_order_and_bounds_the_windows_in_flight():
    running, most = 0, 0
    lock = threading.Lock()

    def window(i):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01 * (i % 3))  # later tasks may finish first
        with lock:
            running -= 1
        return i * i

    with ThreadPoolExecutor(4) as pool:
        results = list(executor_map(pool.submit, 2)(window, range(12)))
    assert results == [i * i for i in range(12)]
    assert most <= 2


def test_a_window_that_raises_cancels_the_windows_queued_behind_it():
    started, release = [], threading.Event()

    def window(i):
        if i == 0:
            raise ValueError("window 0 failed")
        started.append(i)
        release.wait(10)  # window 1 holds the only thread until the error is seen
        return i

    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(ValueError, match="window 0"):
            list(executor_map(pool.submit, 4)(window, range(8)))
        release.set()
    assert started in ([], [1])  # windows 2 and 3 were queued: cancelled, never started


def test_a_caller_that_stops_early_cancels_the_queued_windows():
    started, release = [], threading.Event()

    def window(i):
        started.append(i)
        if i:
            release.wait(10)  # window 1 holds the only thread until the caller stops
        return i

    with ThreadPoolExecutor(1) as pool:
        results = executor_map(pool.submit, 5)(window, range(8))
        assert next(results) == 0
        results.close()
        release.set()
    assert started in ([0], [0, 1])  # windows 2 to 4 were queued: cancelled


def test_executor_map_needs_one_window_in_flight():
    with pytest.raises(InvalidParameterError):
        executor_map(lambda f, t: None, 0)


def test_windows_stitched_on_disk_equal_the_in_memory_grid(tmp_path):
    rng = np.random.default_rng(1)
    z = np.cumsum(rng.normal(size=(230, 190)), axis=0).astype(np.float32)
    hand = np.abs(rng.normal(5, 4, size=z.shape)).astype(np.float32)
    mask = np.ones(z.shape, dtype=bool)
    params = terrain.MrvbfParameters(max_steps=4)
    index, classes = terrain.classify_by_windows(z, hand, mask, 90.0, window_cells=60,
                                                 mrvbf_params=params)
    disk = DiskGrid(tmp_path / "mrvbf.f32", z.shape)
    with ThreadPoolExecutor(2) as pool:
        out, classes_disk = terrain.classify_by_windows(
            z, hand, mask, 90.0, window_cells=60, mrvbf_params=params,
            map_windows=executor_map(pool.submit, 2), mrvbf_out=disk)
    assert out is disk and (tmp_path / "mrvbf.f32").stat().st_size == z.size * 4
    assert np.array_equal(disk.read(), index, equal_nan=True)
    assert np.array_equal(classes_disk, classes)


def test_a_disk_grid_is_written_by_contiguous_windows(tmp_path):
    grid = DiskGrid(tmp_path / "g.u8", (4, 5), np.uint8)
    grid[1:3, 2:5] = np.arange(6, dtype=np.uint8).reshape(2, 3)
    grid[3:, :1] = 9
    expected = np.zeros((4, 5), dtype=np.uint8)
    expected[1:3, 2:5] = np.arange(6).reshape(2, 3)
    expected[3, 0] = 9
    assert np.array_equal(grid.read(), expected)
    with pytest.raises(InvalidParameterError):
        grid[::2, :] = 1


def test_short_writes_are_repeated_until_every_row_is_on_disk(tmp_path, monkeypatch):
    real_pwrite = os.pwrite

    def at_most_3_bytes(fd, data, offset):
        return real_pwrite(fd, bytes(data[:3]), offset)

    grid = DiskGrid(tmp_path / "g.u8", (3, 7), np.uint8)
    monkeypatch.setattr(os, "pwrite", at_most_3_bytes)
    grid[:, :] = np.arange(21, dtype=np.uint8).reshape(3, 7)
    monkeypatch.undo()
    assert np.array_equal(grid.read(), np.arange(21).reshape(3, 7))


def test_a_write_that_stops_is_a_clear_error(tmp_path, monkeypatch):
    grid = DiskGrid(tmp_path / "g.u8", (2, 4), np.uint8)
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: 0)
    with pytest.raises(StorageError, match="wrote 0 of 4 bytes"):
        grid[:1, :] = 1


def test_an_existing_file_is_kept_unless_overwrite_is_asked(tmp_path):
    path = tmp_path / "g.u8"
    path.write_bytes(b"kept")
    with pytest.raises(ConflictError, match="exists"):
        DiskGrid(path, (2, 2), np.uint8)
    assert path.read_bytes() == b"kept"
    grid = DiskGrid(path, (2, 3), np.uint8, overwrite=True)
    assert path.stat().st_size == 6 and not grid.read().any()


@pytest.mark.parametrize("shape", [(0, 5), (4, 0), (0, 0)])
def test_a_grid_without_cells_reads_as_an_empty_array(tmp_path, shape):
    grid = DiskGrid(tmp_path / "g.f32", shape)
    grid[:, :] = 1.0
    array = grid.read()
    assert array.shape == shape and array.dtype == np.float32 and not array.flags.writeable


def test_the_configured_map_is_the_local_pool_or_refuses_dask_without_a_scheduler(tmp_path):
    settings = Settings(state_dir=tmp_path, executor="local", workers=2)
    with configured_map(settings) as run:
        assert list(run(abs, [-1, 2, -3])) == [1, 2, 3]
    with pytest.raises(ConfigurationError, match="scheduler"):
        with configured_map(settings.model_copy(update={"executor": "dask"})):
            pass


def test_mapped_grids_are_new_files_read_and_written_by_windows(tmp_path):
    new_grid = mapped_grids(tmp_path)
    grid = new_grid("area", (3, 4), np.float32)
    grid[1:3, 2:4] = 7.5
    again = new_grid("area", (2, 2), np.float32)  # the same name twice: two grids
    again[:, :] = 1.0
    assert grid[1:3, 2:4].tolist() == [[7.5, 7.5], [7.5, 7.5]] and grid.sum() == 30.0
    assert again.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert isinstance(grid, np.memmap) and str(grid.filename).endswith("area.1.float32")
    assert not list(tmp_path.iterdir())  # mapped, then removed: a crash leaves nothing
    (tmp_path / "kept.3.int64").write_bytes(b"kept")
    with pytest.raises(ConflictError, match="exists"):
        new_grid("kept", (2, 2), np.int64)
    assert (tmp_path / "kept.3.int64").read_bytes() == b"kept"
    assert new_grid("empty", (0, 3), np.uint8).shape == (0, 3)


def test_a_scratch_disk_without_room_is_a_clear_error_before_any_page_is_written(
        tmp_path, monkeypatch):
    """Without the reservation a full disk shows only when a page is written: SIGBUS."""
    import errno

    def full(fd, offset, size):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(StorageError, match="no room for a 8 MB routing grid"):
        mapped_grids(tmp_path)("filled", (1024, 2048), np.float32)
    assert not list(tmp_path.iterdir())
