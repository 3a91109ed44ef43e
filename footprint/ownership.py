"""Who owns a job or a working directory: host, process id, boot id and process start.

Several servers may share one database and one state directory (``footprint serve``
twice, ``uvicorn --workers 2``, a rolling restart). Each job row and each hidden working
directory (an upload being read, a build being written) records its owner, so another
process can tell whether the owner still lives:

- on the **same host**, the owner is alive when the machine has not rebooted since (its
  boot id is the current one), the pid exists and that pid's process started at the
  recorded time (a reused pid is another process);
- on **another host**, liveness cannot be seen; callers fall back on the job's heartbeat
  (:data:`footprint.executors.STALE_AFTER_S`) or the directory's age.

The identity is a short string, ``host~pid~boot~start``, safe in file names and stored
at the start of the job's ``worker`` column (``host~pid~boot~start/thread``).
"""

from __future__ import annotations

import functools
import os
import re
import socket
from dataclasses import dataclass

_SEPARATOR = "~"
_TAG = re.compile(r"(?P<host>[^~/\s]+)~(?P<pid>\d+)~(?P<boot>[0-9a-f]+)~(?P<start>\d+)")


@dataclass(frozen=True)
class Owner:
    """A process: host name, pid, the machine's boot id (8 hex) and the process's start
    time in clock ticks since boot (0 where the system does not say)."""

    host: str
    pid: int
    boot: str
    start: int

    @property
    def tag(self) -> str:
        """``host~pid~boot~start``: the identity as stored (file-name safe)."""
        return _SEPARATOR.join((self.host, str(self.pid), self.boot, str(self.start)))

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip().replace("-", "")[:8] or "0"
    except OSError:
        return "0"


def _start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (/proc), None if there is no such
    live process (a zombie has exited), 0 when the system does not say."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return None
    except OSError:
        return 0
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rsplit(")", 1)[-1].split()
    if fields and fields[0] in ("Z", "X"):
        return None  # a zombie has exited; only its exit status waits to be collected
    try:
        return int(fields[19])  # field 22 of stat(5)
    except (IndexError, ValueError):
        return 0


def _host() -> str:
    return re.sub(r"[~/\s]", "_", socket.gethostname())[:100] or "localhost"


@functools.cache
def _identity(pid: int) -> Owner:
    return Owner(_host(), pid, _boot_id(), _start_ticks(pid) or 0)


def current_owner() -> Owner:
    """This process (computed once per pid, so a forked worker gets its own)."""
    return _identity(os.getpid())


def parse_owner(text: str | None) -> Owner | None:
    """The owner recorded at the start of ``text`` (a ``worker`` value or a directory
    name after its prefix), or None when there is none (rows from older versions)."""
    if not text:
        return None
    match = _TAG.search(text)
    if match is None:
        return None
    return Owner(match["host"], int(match["pid"]), match["boot"], int(match["start"]))


def owner_alive(owner: Owner) -> bool | None:
    """True or False when ``owner`` is on this host, None when it is on another host."""
    me = current_owner()
    if owner.host != me.host:
        return None
    if owner.boot != me.boot:
        return False  # the machine rebooted since: every process of that boot is gone
    if owner.pid == me.pid:
        return owner.start in (0, me.start) or me.start == 0
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, belongs to another user
    except OSError:
        return None
    start = _start_ticks(owner.pid)
    if start is None:
        return False
    return start == 0 or owner.start == 0 or start == owner.start
