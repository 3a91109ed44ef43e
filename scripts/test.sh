#!/usr/bin/env bash
# Install everything and run the whole test suite on SQLite and on PostGIS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/install.sh test
export FOOTPRINT_TEST_BACKENDS="${FOOTPRINT_TEST_BACKENDS:-sqlite,postgis}"
mkdir -p artifacts
# the gates first: lint, types, import contracts (configured in pyproject.toml)
bash scripts/gates.sh
set +e
.venv/bin/python -m pytest -p no:cacheprovider --timeout=900 "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, not a pass
[ "$rc" -eq 5 ] && { echo "no test ran"; exit 1; }
exit "$rc"
