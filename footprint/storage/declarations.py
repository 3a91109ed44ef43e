"""Declared statistics: production, exports and certificates."""

from __future__ import annotations

import json
import logging
import math
import re
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select

from footprint.errors import (
    InvalidDeclarationError,
)
from footprint.storage.audit import Audit, add_audit_entry
from footprint.storage.base import (
    StoreBase,
    _check_sha256,
    _insert_chunks,
)
from footprint.storage.models import (
    DECLARATION_KINDS,
    Declaration,
)
from footprint.storage.types import utcnow

if TYPE_CHECKING:

    pass


log = logging.getLogger(__name__)

#: Columns of a declarations DataFrame stored as columns (all of the row goes to ``row``).
DECLARATION_COLUMNS = ("participant_iso3", "period", "partner", "flow", "carats", "value_usd")


class DeclarationRepository(StoreBase):
    """Declared statistics: production, exports and certificates."""

    def add_declarations(self, kind: str, df: pd.DataFrame, *, source: str, sha256: str,
                         audit: Audit | None = None) -> int:
        """Store declared statistics, all rows or none; return the number stored.

        Parameters
        ----------
        kind : {"production", "exports", "certificates"}
        df : DataFrame
            Columns ``participant_iso3`` (or ``participant``; ISO 3166 alpha-3),
            ``period`` (text starting with the year: ``2010``, ``2010H1``,
            ``2010-03-15``), and optionally ``partner``, ``flow``, ``carats``,
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
    frame = df.rename(columns={"participant": "participant_iso3"}) \
        if "participant_iso3" not in df.columns else df
    missing = [c for c in ("participant_iso3", "period") if c not in frame.columns]
    if missing:
        raise InvalidDeclarationError(f"declarations lack column(s) {missing}")
    if frame.empty:
        raise InvalidDeclarationError("no declaration rows")
    raw_rows = json.loads(df.to_json(orient="records", date_format="iso", default_handler=str))
    rows = []
    for i, (record, raw) in enumerate(zip(frame.to_dict(orient="records"), raw_rows, strict=True)):
        iso3 = str(record["participant_iso3"]).strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", iso3):
            raise InvalidDeclarationError(f"row {i}: participant {iso3!r} is not an ISO3 code")
        period = str(record["period"]).strip()
        year = re.match(r"^(\d{4})", period)
        if year is None:
            raise InvalidDeclarationError(f"row {i}: period {period!r} does not start with a year")
        row = {"participant_iso3": iso3, "period": period, "year": int(year.group(1)),
               "row": raw}
        for column in ("partner", "flow"):
            value = record.get(column)
            row[column] = None if _is_missing(value) else str(value).strip()
        for column in ("carats", "value_usd"):
            row[column] = _non_negative(record.get(column), i, column)
        rows.append(row)
    return rows


def _non_negative(value: Any, i: int, column: str) -> float | None:
    """A declared amount as a float >= 0 (None when blank); row ``i`` named on refusal."""
    if _is_missing(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidDeclarationError(f"row {i}: {column} {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise InvalidDeclarationError(f"row {i}: {column} must be a non-negative number")
    return number


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA \
        or value is pd.NaT
