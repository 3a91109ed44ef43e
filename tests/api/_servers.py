"""``footprint serve`` in a subprocess on a loopback port: start, wait until ready, stop.

Shared by the process-level tests (``tests/api/test_kill.py``, ``tests/faults/``) and
``benchmarks/soak.py``. Each server runs in its own session (process group), so a stop or
a ``kill -9`` reaches the workers it forked.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
FOOTPRINT_CLI = Path(sys.executable).with_name("footprint")

#: ``footprint serve`` with the Monte Carlo step of every build held for ten minutes
#: (patched where the build looks it up); argv[1] is the port.
HELD_SERVER = """
import sys, time
import footprint.pipeline.build as build

def held_compute_footprint(*args, **kwargs):
    time.sleep(600)

build.compute_footprint = held_compute_footprint
from footprint.cli import main
sys.argv = ["footprint", "serve", "--host", "127.0.0.1", "--port", sys.argv[1]]
main()
"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_command(port: int) -> list[str]:
    """The plain ``footprint serve`` on ``port``."""
    return [str(FOOTPRINT_CLI), "serve", "--host", "127.0.0.1", "--port", str(port)]


def start_server(command: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``command`` in the repository, its output appended to ``log``."""
    handle = open(log, "ab")  # noqa: SIM115 - the server process keeps it
    return subprocess.Popen(list(command), cwd=REPO, env=env, stdout=handle,
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(base: str, process: subprocess.Popen, log: Path, *, path: str = "/readyz",
               timeout_s: float = 120, poll_s: float = 0.2) -> None:
    """Return when ``GET base+path`` answers 200; raise (with the log's tail) if the
    server exits first or is not ready in ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(poll_s)
    raise RuntimeError(f"server not ready in {timeout_s} s:\n{log.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL it after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
