#!/usr/bin/env bash
# The gates run before the tests (scripts/test.sh) and by pre-commit: ruff, mypy with the
# pydantic plugin, the import-linter contracts and module/function sizes (scripts/sizes.py).
# Rules and exceptions: pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${VENV_BIN:-.venv/bin}"
echo "== ruff";         "$bin/ruff" check .
echo "== mypy";         "$bin/mypy"
echo "== lint-imports"; PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$bin/lint-imports"
echo "== sizes";        "$bin/python" scripts/sizes.py
