"""Closed-loop HTTP load for the benchmarks: ``wrk`` when installed, else httpx.

``wrk`` (C, one event loop per thread; ``apt-get install wrk``) keeps the generator from
being the bottleneck: its threads cost far less CPU per request than any Python client.
Both generators hold ``concurrency`` keep-alive connections, each sending its next GET as
soon as the previous answer is read, cycling through the URLs, with
``Accept-Encoding: gzip``. A response with a status of 400 or above counts as an error.

:func:`cpu_seconds` reads a process's CPU time from ``/proc``, so a cell reports the
server's CPU per request beside the wall-clock rate (wall time is noisy on a shared box).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

_WRK_SCRIPT = """
local paths = {%s}
local counter = 0
wrk.headers["Accept-Encoding"] = "gzip"
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%%d,"duration_us":%%d,"errors":%%d,"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


#: one generator thread: on this 2-core machine the server (one process) keeps the other
#: core, and one wrk thread reads answers faster than any of the servers writes them; a
#: second thread competes with the server for the two cores (the same for every server)
WRK_THREADS = 1


@dataclass
class Result:
    """One cell: requests answered, errors, elapsed seconds, p50 and p99 in ms, and the
    server's CPU seconds over the cell."""

    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float = float("nan")
    generator: str = field(default="wrk")

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU milliseconds per request."""
        return 1000 * self.server_cpu_s / self.requests if self.requests else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its reaped children (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def have_wrk() -> bool:
    """Whether ``wrk`` is on the PATH."""
    return shutil.which("wrk") is not None


def _wrk(urls: list[str], concurrency: int, seconds: float) -> Result:
    parts = urlsplit(urls[0])
    paths = [urlsplit(u)._replace(scheme="", netloc="").geturl() for u in urls]
    script = _WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run(
            ["wrk", f"-t{WRK_THREADS}", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "30s",
             "-s", handle.name, f"{parts.scheme}://{parts.netloc}"],
            capture_output=True, text=True, check=True)
    finally:
        os.unlink(handle.name)
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("WRK "))
    found = json.loads(line[4:])
    return Result(found["requests"], found["errors"], found["duration_us"] / 1e6,
                  found["p50_us"] / 1000, found["p99_us"] / 1000)


async def _httpx(urls: list[str], concurrency: int, seconds: float) -> Result:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60,
                                 headers={"Accept-Encoding": "gzip"}) as client:
        latencies: list[float] = []
        errors, counter = 0, 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors, counter
            while time.perf_counter() < deadline:
                url = urls[counter % len(urls)]
                counter += 1
                started = time.perf_counter()
                try:
                    response = await client.get(url)
                    await response.aread()
                    ok = response.status_code < 400
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))] \
        if latencies else float("nan")
    return Result(len(latencies), errors, elapsed,
                  statistics.median(latencies) if latencies else float("nan"), p99,
                  generator="httpx")


def warm(urls: list[str]) -> None:
    """GET each URL once (every server gets the same warm-up)."""
    with httpx.Client(timeout=60, headers={"Accept-Encoding": "gzip"}) as client:
        for url in urls:
            client.get(url)


def load(urls: list[str], concurrency: int, seconds: float, server_pid: int | None = None,
         generator: str = "auto") -> Result:
    """Send GETs to ``urls`` with ``concurrency`` clients for ``seconds``; measure the
    server's CPU over the cell when its ``server_pid`` is given."""
    before = cpu_seconds(server_pid) if server_pid else None
    use_wrk = generator == "wrk" or (generator == "auto" and have_wrk())
    result = _wrk(urls, concurrency, seconds) if use_wrk else \
        asyncio.run(_httpx(urls, concurrency, seconds))
    if server_pid and before is not None:
        result.server_cpu_s = cpu_seconds(server_pid) - before
    return result
