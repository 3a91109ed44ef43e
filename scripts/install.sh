#!/usr/bin/env bash
# Install footprint into ./.venv. Usage: scripts/install.sh [EXTRAS]   (default: all)
# Shared by scripts/run.sh, scripts/test.sh and mirrored by the Dockerfile's pip step.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-all}"
python="${PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "footprint needs Python >= 3.11")'
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
