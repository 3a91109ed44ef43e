"""The web service: FastAPI application, routers, errors and logs over :mod:`footprint`."""
