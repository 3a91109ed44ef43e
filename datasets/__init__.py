"""Bundled data, no code: the field catalogue (``fields.yaml``), the parameter sheets
(``parameters/<field>.yaml``) and the upload schemas (``schemas/``).

A leaf package: it imports nothing from ``footprint``; the library reads its files with
:mod:`importlib.resources` (:mod:`footprint.catalogue`, :func:`footprint.params.load_sheet`).
"""
