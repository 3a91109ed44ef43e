# footprint: the service (OGC API - Features and Processes, the map) and the CLI.
#
#   docker build -t footprint .
#   docker run -p 8000:8000 -e FOOTPRINT_SECRET_KEY="$(openssl rand -hex 32)" \
#       -v /path/to/shared/data:/data:ro -v footprint-state:/state footprint
#   docker run --rm -v footprint-state:/state -v /path/to/data:/data:ro footprint build gh-birim
#
# GDAL, PROJ and GEOS come inside the rasterio, pyogrio, pyproj and shapely wheels: the base
# is plain slim Python, never a GDAL image as well (two GDALs in one process is the classic
# source of "PROJ: proj.db not found" and silent CRS errors).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------
# build: install the package and its extras into a virtual environment
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY footprint ./footprint
COPY api ./api
COPY datasets ./datasets
# The same extras as scripts/install.sh's default ("all"); tests/packaging/test_dockerfile.py checks it.
RUN pip install --no-cache-dir "./[all]"

# ---------------------------------------------------------------------------------------
# runtime: the virtual environment, a non-root user, data and state as volumes
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="footprint" \
      org.opencontainers.image.description="Production footprints of alluvial diamond fields (Kimberley Process)" \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --system --gid 10001 footprint \
 && useradd --system --uid 10001 --gid footprint --home-dir /home/footprint --create-home \
        --shell /usr/sbin/nologin footprint \
 && mkdir -p /data /state \
 && chown footprint:footprint /state

COPY --from=build /opt/venv /opt/venv

# GDAL_CACHEMAX is in MB: the block cache per process, kept small beside the draws.
# MALLOC_ARENA_MAX=2 stops glibc from growing an arena per thread (GDAL and numpy threads
# otherwise inflate the resident memory of a long-running server several-fold).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FOOTPRINT_ENVIRONMENT=production \
    FOOTPRINT_DATA_DIR=/data \
    FOOTPRINT_STATE_DIR=/state \
    FOOTPRINT_CACHE_DIR=/state/cache \
    FOOTPRINT_HOST=0.0.0.0 \
    FOOTPRINT_PORT=8000 \
    GDAL_CACHEMAX=256 \
    GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR \
    MALLOC_ARENA_MAX=2

VOLUME ["/data", "/state"]
WORKDIR /home/footprint
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FOOTPRINT_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["footprint"]
CMD ["serve", "--host", "0.0.0.0"]
