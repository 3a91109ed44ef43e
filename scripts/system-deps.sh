#!/usr/bin/env bash
# Debian packages the test suite needs: PostGIS for the PostgreSQL backend, Chromium for
# the browser test, poppler for looking at PDF reports, gdal-bin (ogrinfo, ogr2ogr) for the
# OGC API - Features client test, wrk for benchmarks/api.py's load. Starts the local PostgreSQL and
# enables PostGIS in the 'test' database. Needs root (CI and these machines run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in postgresql-15-postgis-3 chromium poppler-utils gdal-bin wrk; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
psql -h 127.0.0.1 -U postgres -d test -qc "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
