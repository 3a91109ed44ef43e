"""The services: what the CLI and the web service do, without either of them.

Each service is one function taking named inputs (a store, paths, a
:class:`~footprint.state.StateLayout`, plain values) and returning records and files; it
knows no HTTP, no command line and no global settings. The routers in ``api/`` and the
commands in :mod:`footprint.cli` are thin shells over these functions.

- :func:`footprint.services.layers.ingest_layer`: validate and store one survey layer.
- :func:`footprint.services.declarations.ingest_declarations`: validate and store a CSV
  of declared exports or certificates.
- :func:`footprint.services.footprints.build_footprint` and
  :func:`footprint.services.footprints.delineate`: a new footprint version, a delineation.
- :func:`footprint.services.reports.make_report` and
  :func:`footprint.services.reports.render_report`: the anomaly report, as JSON, HTML, PDF.
- :func:`footprint.services.jobs.submit_job`: create a job row and start it.
- :func:`footprint.services.store.open_store`: a migrated store with the catalogue synced.
"""
