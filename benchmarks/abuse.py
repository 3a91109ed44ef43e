"""What a hostile anonymous body costs the server (issue 11 row 1).

Starts ``footprint serve`` on loopback (SQLite, temporary state directory) and sends
``--mb`` MB (default 240) without a key, three ways: JSON with ``Content-Length``, JSON
chunked (no length: only counting can stop it), and a multipart upload. For each it
prints the status, the seconds until the answer, and the server's RSS growth. The budget
(issue 11): refused in < 0.5 s with RSS growth < 50 MB; before the fix the JSON body cost
19.6 s and +2.8 GB.

    python benchmarks/abuse.py [--mb 240]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
CHUNK = b"x" * (1 << 20)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _send(port: int, path: str, content_type: str, total_mb: int, chunked: bool) -> tuple[str, float]:
    """Stream the body until the server answers; return (status line, seconds)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(60)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {total_mb << 20}")
    started = time.perf_counter()
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    sock.setblocking(False)
    answer = b""
    sent = 0
    while sent < total_mb and b"\r\n" not in answer:
        try:
            answer += sock.recv(4096)
        except BlockingIOError:
            pass
        except OSError:
            break
        if b"\r\n" in answer:
            break
        piece = (f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n") if chunked else CHUNK
        try:
            sock.sendall(piece)
            sent += 1
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:  # the server closed the connection after answering
            break
    sock.setblocking(True)
    while b"\r\n" not in answer:
        data = sock.recv(4096)
        if not data:
            break
        answer += data
    elapsed = time.perf_counter() - started
    sock.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace"), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=240)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="footprint-abuse-"))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "FOOTPRINT_STATE_DIR": str(root / "state"),
           "FOOTPRINT_DATABASE_URL": f"sqlite:///{root / 'state' / 'footprint.sqlite'}",
           "FOOTPRINT_ENVIRONMENT": "test", "FOOTPRINT_LOG_LEVEL": "WARNING"}
    cli = Path(sys.executable).with_name("footprint")
    server = subprocess.Popen([str(cli), "serve", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.3)
        httpx.get(f"http://127.0.0.1:{port}/collections", timeout=10)
        cases = [("JSON, Content-Length", "/processes/build-footprint/execution",
                  "application/json", False),
                 ("JSON, chunked", "/processes/build-footprint/execution", "application/json",
                  True),
                 ("multipart upload", "/fields/gh-birim/layers",
                  "multipart/form-data; boundary=b", False)]
        print(f"{args.mb} MB anonymous bodies against footprint serve (budget: < 0.5 s, "
              "RSS growth < 50 MB; before the fix: 19.6 s, +2.8 GB)")
        for name, path, content_type, chunked in cases:
            before = _rss_mb(server.pid)
            status, seconds = _send(port, path, content_type, args.mb, chunked)
            time.sleep(0.5)
            after = _rss_mb(server.pid)
            print(f"  {name:22s} {status:32s} {seconds:6.3f} s   RSS {before:6.1f} -> "
                  f"{after:6.1f} MB ({after - before:+.1f} MB)")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
