#!/usr/bin/env bash
# Install everything and run the main job on the embedded default (SQLite + a state
# directory): migrate, build the five fields' footprints, write the participants'
# reports, then serve the API and the map (the URL to open is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh all
exec .venv/bin/footprint demo "$@"
