"""Ingest declared statistics: an uploaded CSV of exports or KP certificates, validated
all-or-nothing by :mod:`footprint.declarations`, then stored."""

from __future__ import annotations

from typing import Any

import pandas as pd

from footprint import declarations
from footprint.errors import InvalidDeclarationError
from footprint.services.uploads import Upload
from footprint.storage.audit import Audit


def stored_frame(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A frame parsed by :mod:`footprint.declarations` in the columns the store keeps:
    ``participant_iso3``, ``period`` and ``year`` (certificates: per exporter and issue
    date)."""
    if kind == "certificates":
        return frame.assign(participant_iso3=frame["exporter"],
                            period=frame["date"].dt.strftime("%Y-%m-%d"),
                            year=frame["date"].dt.year)
    return frame.assign(participant_iso3=frame["participant"])


def ingest_declarations(store: Any, upload: Upload, *, kind: str,
                        audit: Audit) -> dict[str, Any]:
    """Validate an uploaded declarations CSV (all-or-nothing) and store its rows.

    Parameters
    ----------
    store : Store
        Where the rows go.
    upload : Upload
        The CSV as uploaded; its sha256 identifies the upload (a re-upload stores nothing).
    kind : {"exports", "certificates"}
        The schema (:func:`footprint.declarations.parse_exports` or ``parse_certificates``).
    audit : Audit
        Who uploads; the ``upload_<kind>`` entry is written with the rows.

    Returns
    -------
    dict
        ``kind, rows, rows_stored, duplicate_upload, sha256, participants, years``.
    """
    parse = {"exports": declarations.parse_exports,
             "certificates": declarations.parse_certificates}[kind]
    try:
        frame = parse(upload.path)
    except InvalidDeclarationError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidDeclarationError(f"the {kind} CSV could not be read: {exc}") from None
    stored = stored_frame(kind, frame)
    rows_stored = store.add_declarations(kind, stored, source=upload.filename,
                                         sha256=upload.sha256, audit=audit)
    return {"kind": kind, "rows": int(len(frame)), "rows_stored": int(rows_stored),
            "duplicate_upload": rows_stored == 0, "sha256": upload.sha256,
            "participants": sorted(set(stored["participant_iso3"])),
            "years": sorted({int(y) for y in stored["year"]})}
