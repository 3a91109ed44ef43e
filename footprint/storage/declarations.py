"""Declared statistics: production, exports and certificates."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import pandas as pd
from sqlalchemy import select

from footprint.errors import InvalidDeclarationError
from footprint.storage.audit import Audit, add_audit_entry
from footprint.storage.base import StoreBase, _check_sha256, _insert_chunks
from footprint.storage.models import DECLARATION_KINDS, Declaration
from footprint.storage.types import utcnow

log = logging.getLogger(__name__)

class DeclarationRepository(StoreBase):
    """Declared statistics: production, exports and certificates."""

    def add_declarations(self, kind: str, df: pd.DataFrame, *, source: str, sha256: str,
                         audit: Audit | None = None) -> int:
        """Store declared statistics, all rows or none; return the number stored.

        Parameters
        ----------
        kind : {"production", "exports", "certificates"}
        df : DataFrame
            Rows validated by :mod:`footprint.declarations` (the store checks nothing
            again), in the stored schema (:func:`footprint.services.declarations.stored_frame`):
            ``participant_iso3`` (ISO 3166 alpha-3), ``period`` (``2010``, ``2010H1``,
            ``2010-03-15``), ``year``, and optionally ``partner``, ``flow``, ``carats``,
            ``value_usd`` (US$). The whole row is kept as JSON as well.
        sha256 : str
            Checksum of the uploaded file. An identical re-upload (same kind and
            checksum) stores nothing and returns 0.
        audit : Audit, optional
            Who uploads (``created_by``): an ``upload_<kind>`` entry written with the rows.
        """
        if kind not in DECLARATION_KINDS:
            raise InvalidDeclarationError(
                f"declaration kind must be one of {DECLARATION_KINDS}, not {kind!r}")
        sha256 = _check_sha256(sha256)
        rows = _declaration_rows(df)
        with self._session(write=True) as session:
            seen = session.scalar(select(Declaration.id).where(
                Declaration.kind == kind, Declaration.upload_sha256 == sha256).limit(1))
            if seen is not None:
                return 0
            now = utcnow()
            _insert_chunks(session, Declaration, (
                {**row, "kind": kind, "source": source, "upload_sha256": sha256,
                 "created_at": now, "created_by": audit.actor if audit else None}
                for row in rows))
            add_audit_entry(session, audit, f"upload_{kind}", f"declarations/{kind}",
                            sha256=sha256, detail={"rows": len(rows), "filename": source})
            return len(rows)

    def declarations(self, kind: str, participant_iso3: str | None = None,
                     year_from: int | None = None, year_to: int | None = None) -> pd.DataFrame:
        """Declared statistics as a DataFrame, by participant, year and period.

        Columns: ``participant_iso3, period, year, partner, flow, carats, value_usd,
        source, sha256, row`` (``row``: the uploaded row as a dict). Years inclusive.
        """
        query = select(Declaration).where(Declaration.kind == kind)
        if participant_iso3 is not None:
            query = query.where(Declaration.participant_iso3 == participant_iso3.upper())
        if year_from is not None:
            query = query.where(Declaration.year >= int(year_from))
        if year_to is not None:
            query = query.where(Declaration.year <= int(year_to))
        query = query.order_by(Declaration.participant_iso3, Declaration.year,
                               Declaration.period, Declaration.id)
        columns = ["participant_iso3", "period", "year", "partner", "flow", "carats",
                   "value_usd", "source", "sha256", "row", "id"]
        with self._session() as session:
            records = [(r.participant_iso3, r.period, r.year, r.partner, r.flow, r.carats,
                        r.value_usd, r.source, r.upload_sha256, r.row, r.id)
                       for r in session.scalars(query)]
        frame = pd.DataFrame.from_records(records, columns=columns)
        return frame.astype({"carats": "float64", "value_usd": "float64", "year": "int64"})


def _declaration_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a validated declarations frame (no checks: :mod:`footprint.declarations`
    validated it), with the whole uploaded row kept as JSON."""
    raw_rows = json.loads(df.to_json(orient="records", date_format="iso", default_handler=str))
    rows = []
    for record, raw in zip(df.to_dict(orient="records"), raw_rows, strict=True):
        row = {"participant_iso3": str(record["participant_iso3"]), "period": str(record["period"]),
               "year": int(record["year"]), "row": raw}
        for column in ("partner", "flow"):
            value = record.get(column)
            row[column] = None if _is_missing(value) else str(value)
        for column in ("carats", "value_usd"):
            amount = record.get(column)
            row[column] = None if amount is None or _is_missing(amount) else float(amount)
        rows.append(row)
    return rows


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA \
        or value is pd.NaT
