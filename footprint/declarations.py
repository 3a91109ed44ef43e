"""Declared data in: export statistics and KP certificate records.

KP *production* statistics are public and loaded by :mod:`footprint.io.kpstats`. KP
*export* statistics and certificate records are not public data: participants and review
missions upload them as CSV files in the two schemas below (documented for users in
``datasets/schemas/exports.md``). Parsing is all-or-nothing: a parse function returns a
validated :class:`pandas.DataFrame` or raises
:class:`footprint.errors.InvalidDeclarationError` whose ``problems`` attribute lists every
problem found (row and column named), never a partial result.

Export statistics (one row per participant, period, flow, partner and source)
-------------------------------------------------------------------------------
============  ==========================================================================
column        meaning
============  ==========================================================================
participant   ISO3 code of the declaring KP participant (``GHA``)
period        ``2010`` (calendar year) or ``2010H1`` / ``2010H2`` (half-year)
flow          ``export`` or ``import``
partner       ISO3 code of the partner participant, or blank for the total of all partners
carats        carats, >= 0
value_usd     US dollars, >= 0 (FOB for exports, CIF for imports, as the KP reports them)
source        free text: where the figure comes from (``KP annual report 2010``)
stock_change_ct  optional: change of the participant's rough stock in the period (carats,
              + built up, - drawn down), on total rows (blank partner); blank = unknown.
              The mass balance says "stock unknown" where it is not given.
============  ==========================================================================

Two rows with the same participant, period, flow, partner and source are duplicates and
are reported as problems.

KP certificate records (one row per certificate)
------------------------------------------------
===============  ========================================================================
column           meaning
===============  ========================================================================
certificate_id   the certificate number, unique in the file
date             issue date, ISO 8601 (``2010-03-31``)
exporter         ISO3 of the exporting participant
importer         ISO3 of the importing participant
carats           carats, >= MIN_CERTIFICATE_CT (0.01 ct: a parcel holds at least one
                 small stone; a smaller figure would make US$/ct overflow)
value_usd        US dollars, >= 0; US$/ct must be finite
declared_origin  ISO3 of the declared country of origin (``XXX`` for mixed origin)
sieve_<class>    optional, one column per sieve class of the exporter's scheme (for
                 example ``sieve_+11``, ``sieve_-3+1``): carats in that class, or shares
                 of the certificate's carats; a row's sieve values must sum to its
                 carats (within 1 %) or to 1 (within 0.01). They are returned in carats.
===============  ========================================================================

The set of valid participant codes is :data:`KP_PARTICIPANT_ISO3`, the codes of the
country-name mapping :data:`footprint.io.kpstats.PARTICIPANT_ISO3` (the spellings of the KP
public statistics plus participants that publish no production). The European Union takes
part as one participant and is coded ``EUR`` there (ISO 3166 has no alpha-3 code for it).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from footprint.errors import InvalidDeclarationError
from footprint.io.kpstats import PARTICIPANT_ISO3
from footprint.value import parse_sieve_class

#: Valid participant codes (exporter, importer, participant, partner).
KP_PARTICIPANT_ISO3: frozenset[str] = frozenset(PARTICIPANT_ISO3.values())

#: Code accepted as a certificate's declared origin for goods of mixed origin.
MIXED_ORIGIN = "XXX"

EXPORT_COLUMNS: tuple[str, ...] = (
    "participant", "period", "flow", "partner", "carats", "value_usd", "source")
CERTIFICATE_COLUMNS: tuple[str, ...] = (
    "certificate_id", "date", "exporter", "importer", "carats", "value_usd", "declared_origin")
FLOWS = ("export", "import")
#: Optional export-statistics column: stock change in the period (ct; blank = unknown).
STOCK_COLUMN = "stock_change_ct"
SIEVE_PREFIX = "sieve_"

_PERIOD = re.compile(r"^(\d{4})(?:H([12]))?$")
_FIRST_LINE = 2  # line number of the first data row in a CSV with a header


#: Smallest carats of a certificate (ct): one small stone. Below it US$/ct is meaningless.
MIN_CERTIFICATE_CT = 0.01

#: KP certificates exist from the scheme's start (1 January 2003).
KP_START = dt.date(2003, 1, 1)


@dataclass(frozen=True)
class DeclarationProblem:
    """One problem in an uploaded declaration: where it is and what is wrong.

    ``line`` is the line of the CSV file (the header is line 1); ``None`` for problems
    of the whole file (a missing column).
    """

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


def _raise_if_any(problems: list[DeclarationProblem], what: str) -> None:
    if not problems:
        return
    shown = "; ".join(str(p) for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    error = InvalidDeclarationError(
        f"{what}: {len(problems)} problem(s): {shown}{more}",
        hint="fix the file and upload it again; nothing was stored")
    error.problems = list(problems)  # type: ignore[attr-defined]
    raise error


#: Most columns of an uploaded table (the schema's plus sieve classes and notes).
MAX_COLUMNS = 200


#: Longest header line read before the table is parsed (bytes).
_MAX_HEADER_CHARS = 64 * 1024


def _check_width(source: str | Path | IO) -> None:
    """Refuse a table wider than :data:`MAX_COLUMNS` from its header line alone, before
    the whole file is parsed (a 20,000-column file would cost seconds of CPU)."""
    if isinstance(source, (str, Path)):
        try:
            with open(source, encoding="utf-8", errors="replace", newline="") as handle:
                header = handle.readline(_MAX_HEADER_CHARS + 1)
        except OSError:
            return  # pandas names the problem
    elif hasattr(source, "readline") and hasattr(source, "seek"):
        position = source.tell()
        header = source.readline(_MAX_HEADER_CHARS + 1)
        source.seek(position)
        if isinstance(header, bytes):
            header = header.decode("utf-8", errors="replace")
    else:
        return
    too_long = len(header) > _MAX_HEADER_CHARS
    width = next(csv.reader([header]), []) if not too_long else []
    if too_long or len(width) > MAX_COLUMNS:
        raise InvalidDeclarationError(
            f"the table has more than {MAX_COLUMNS} columns (or a header line over "
            f"{_MAX_HEADER_CHARS // 1024} kB); at most {MAX_COLUMNS} columns are accepted")


def _read_table(source: str | Path | IO | pd.DataFrame) -> pd.DataFrame:
    """Every cell as a string (blank -> ""), so validation sees exactly what was written."""
    if isinstance(source, pd.DataFrame):
        return source.astype(object).where(source.notna(), "").astype(str).reset_index(drop=True)
    if isinstance(source, str) and "\n" in source:
        source = io.StringIO(source)
    _check_width(source)
    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidDeclarationError(f"not a readable CSV file: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda col: col.str.strip())


def _missing_columns(frame: pd.DataFrame, required: Iterable[str]) -> list[DeclarationProblem]:
    return [DeclarationProblem(None, col, "required column is missing")
            for col in required if col not in frame.columns]


def _check_code(value: str, line: int, column: str, valid: frozenset[str],
                problems: list[DeclarationProblem], *, blank_ok: bool = False,
                extra: tuple[str, ...] = ()) -> None:
    if value == "" and blank_ok:
        return
    if value not in valid and value not in extra:
        problems.append(DeclarationProblem(
            line, column, f"unknown participant {value!r} (expected a KP participant ISO3 code)"))


def _check_number(value: str, line: int, column: str, problems: list[DeclarationProblem],
                  *, positive: bool = False) -> float:
    try:
        number = float(value.replace(",", "")) if value != "" else float("nan")
    except ValueError:
        problems.append(DeclarationProblem(line, column, f"not a number: {value!r}"))
        return float("nan")
    if not np.isfinite(number):
        problems.append(DeclarationProblem(line, column, f"missing or not finite: {value!r}"))
    elif number < 0 or (positive and number == 0):
        problems.append(DeclarationProblem(
            line, column, f"must be {'> 0' if positive else '>= 0'}, got {number:g}"))
    return number


def parse_period(period: str) -> tuple[int, int | None]:
    """``"2010"`` -> ``(2010, None)``; ``"2010H2"`` -> ``(2010, 2)``; else ValueError."""
    match = _PERIOD.match(period.strip())
    if not match:
        raise ValueError(f"period {period!r} is neither YYYY nor YYYYH1/YYYYH2")
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


def period_start(year: int, half: int | None) -> dt.date:
    """First day of a calendar year or half-year."""
    return dt.date(year, 7 if half == 2 else 1, 1)


def parse_exports(source: str | Path | IO | pd.DataFrame, *,
                  today: dt.date | None = None,
                  participants: frozenset[str] = KP_PARTICIPANT_ISO3) -> pd.DataFrame:
    """Validate an export-statistics CSV (schema in the module docstring).

    Parameters
    ----------
    source
        Path, open file, CSV text, or a DataFrame with the schema's columns.
    today
        Reference date for "a period in the future" (default: today, UTC). A period that
        has not begun by ``today`` is a problem.
    participants
        Valid ISO3 codes for ``participant`` and ``partner``.

    Returns
    -------
    pandas.DataFrame
        The schema's columns plus ``year`` (int) and ``half`` (Int64: 1, 2 or <NA> for a
        calendar year); ``carats`` and ``value_usd`` as float64; ``partner`` ``""`` for
        all partners.

    Raises
    ------
    InvalidDeclarationError
        With ``.problems``: every problem found (unknown participant or partner, unknown
        flow, malformed or future period, negative or non-numeric figures, duplicates).
    """
    today = today or dt.datetime.now(dt.UTC).date()
    frame = _read_with_columns(source, EXPORT_COLUMNS, "export statistics")
    problems: list[DeclarationProblem] = []

    has_stock = STOCK_COLUMN in frame.columns
    years, halves, carats, values, stocks = [], [], [], [], []
    for i, rec in enumerate(frame.to_dict(orient="records")):
        line = i + _FIRST_LINE
        if has_stock:
            stocks.append(_check_stock(rec[STOCK_COLUMN], line, rec["partner"], problems))
        _check_code(rec["participant"], line, "participant", participants, problems)
        _check_code(rec["partner"], line, "partner", participants, problems, blank_ok=True)
        if rec["partner"] and rec["partner"] == rec["participant"]:
            problems.append(DeclarationProblem(line, "partner", "partner equals participant"))
        if rec["flow"].lower() not in FLOWS:
            problems.append(DeclarationProblem(
                line, "flow", f"unknown flow {rec['flow']!r} (expected export or import)"))
        try:
            year, half = parse_period(rec["period"])
            if period_start(year, half) > today:
                problems.append(DeclarationProblem(
                    line, "period", f"period {rec['period']} is in the future"))
        except ValueError as exc:
            problems.append(DeclarationProblem(line, "period", str(exc)))
            year, half = -1, None
        years.append(year)
        halves.append(half)
        carats.append(_check_number(rec["carats"], line, "carats", problems))
        values.append(_check_number(rec["value_usd"], line, "value_usd", problems))

    out = frame.loc[:, list(EXPORT_COLUMNS)].copy()
    out["flow"] = out["flow"].str.lower()
    key = ["participant", "period", "flow", "partner", "source"]
    duplicated = out.duplicated(subset=key, keep="first")
    for i in map(int, np.flatnonzero(duplicated.to_numpy())):
        first = int(np.flatnonzero((out[key] == out.loc[i, key]).all(axis=1))[0])
        problems.append(DeclarationProblem(
            i + _FIRST_LINE, None,
            f"duplicate of line {first + _FIRST_LINE} (same participant, period, flow, "
            "partner and source)"))
    _raise_if_any(problems, "export statistics")

    out["carats"] = np.asarray(carats, dtype="float64")
    out["value_usd"] = np.asarray(values, dtype="float64")
    out["year"] = np.asarray(years, dtype="int64")
    out["half"] = pd.array(halves, dtype="Int64")
    if has_stock:
        out[STOCK_COLUMN] = np.asarray(stocks, dtype="float64")
    return out


def _check_stock(value: str, line: int, partner: str, problems: list[DeclarationProblem]
                 ) -> float:
    """Optional stock change: blank -> NaN (unknown); else a finite number, total rows only."""
    if value == "":
        return float("nan")
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        problems.append(DeclarationProblem(line, STOCK_COLUMN, f"not a number: {value!r}"))
        return float("nan")
    if not np.isfinite(number):
        problems.append(DeclarationProblem(line, STOCK_COLUMN, f"not finite: {value!r}"))
    elif partner:
        problems.append(DeclarationProblem(line, STOCK_COLUMN, "a stock change belongs on a "
                                           "total row (blank partner)"))
    return number


def _read_with_columns(source, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    """The table of ``source``, refused whole when a column is missing or no row holds data."""
    frame = _read_table(source)
    _raise_if_any(_missing_columns(frame, columns), what)
    if frame.empty:
        _raise_if_any([DeclarationProblem(None, None, "the file has no data rows")], what)
    return frame


def _sieve_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith(SIEVE_PREFIX) and len(c) > len(SIEVE_PREFIX)]


def parse_certificates(source: str | Path | IO | pd.DataFrame, *,
                       today: dt.date | None = None,
                       participants: frozenset[str] = KP_PARTICIPANT_ISO3) -> pd.DataFrame:
    """Validate a KP certificate-records CSV (schema in the module docstring).

    Returns
    -------
    pandas.DataFrame
        The schema's columns with ``date`` as ``datetime64[ns]``, ``carats`` and
        ``value_usd`` float64, ``usd_per_ct`` added, and the ``sieve_<class>`` columns (if
        any) in carats (shares are multiplied by the certificate's carats; a blank sieve
        row stays NaN: no breakdown known for that certificate).

    Raises
    ------
    InvalidDeclarationError
        With ``.problems``: unknown codes, non-numeric or negative figures, dates that are
        malformed or in the future, sieve rows that sum neither to the carats nor to 1,
        duplicate certificate ids.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    frame = _read_with_columns(source, CERTIFICATE_COLUMNS, "certificate records")
    sieves = _sieve_columns(frame)
    problems = _unknown_sieve_classes(sieves)
    dates, carats, values = [], [], []
    sieve_ct = np.full((len(frame), len(sieves)), np.nan)
    for i, row in enumerate(frame.to_dict(orient="records")):
        line = i + _FIRST_LINE
        if row["certificate_id"] == "":
            problems.append(DeclarationProblem(line, "certificate_id", "missing"))
        for col in ("exporter", "importer"):
            _check_code(row[col], line, col, participants, problems)
        _check_code(row["declared_origin"], line, "declared_origin", participants, problems,
                    extra=(MIXED_ORIGIN,))
        dates.append(_check_date(row["date"], line, today, problems))
        ct, usd = _check_carats_and_value(row, line, problems)
        carats.append(ct)
        values.append(usd)
        if sieves and any(row[c] != "" for c in sieves):
            sieve_ct[i] = _sieve_carats(row, sieves, ct, line, problems)

    out = frame.loc[:, list(CERTIFICATE_COLUMNS)].copy()
    problems.extend(_duplicate_certificates(out))
    _raise_if_any(problems, "certificate records")

    out["date"] = pd.to_datetime(pd.Series(dates, dtype=object))
    out["carats"] = np.asarray(carats, dtype="float64")
    out["value_usd"] = np.asarray(values, dtype="float64")
    out["usd_per_ct"] = out["value_usd"] / out["carats"]
    for j, col in enumerate(sieves):
        out[col] = sieve_ct[:, j]
    return out


def _unknown_sieve_classes(sieves: list[str]) -> list[DeclarationProblem]:
    """Sieve columns whose class the size protocol cannot map (it would break every report)."""
    problems = []
    for column in sieves:
        try:
            parse_sieve_class(column[len(SIEVE_PREFIX):])
        except (ValueError, KeyError) as error:
            problems.append(DeclarationProblem(None, column, f"unknown sieve class: {error}"))
    return problems


def _check_date(text: str, line: int, today: dt.date,
                problems: list[DeclarationProblem]) -> dt.date | None:
    """A certificate's ISO date, between the start of the KP and ``today``; None if malformed."""
    try:
        date = dt.date.fromisoformat(text)
    except ValueError:
        problems.append(DeclarationProblem(
            line, "date", f"not an ISO date (YYYY-MM-DD): {text!r}"))
        return None
    if date > today:
        problems.append(DeclarationProblem(line, "date", f"{date} is in the future"))
    elif date < KP_START:
        problems.append(DeclarationProblem(
            line, "date", f"{date} is before the Kimberley Process began ({KP_START})"))
    return date


def _check_carats_and_value(row: Mapping[Any, Any], line: int,
                            problems: list[DeclarationProblem]) -> tuple[float, float]:
    """A certificate's carats (at least one parcel) and US$ value, with a finite US$/ct."""
    ct = _check_number(row["carats"], line, "carats", problems, positive=True)
    if np.isfinite(ct) and 0 < ct < MIN_CERTIFICATE_CT:
        problems.append(DeclarationProblem(
            line, "carats", f"{ct:g} ct is below {MIN_CERTIFICATE_CT:g} ct, the smallest "
            "parcel: US$/ct would not be a finite number"))
    usd = _check_number(row["value_usd"], line, "value_usd", problems)
    if np.isfinite(ct) and ct >= MIN_CERTIFICATE_CT and np.isfinite(usd):
        with np.errstate(over="ignore"):
            if not np.isfinite(usd / ct):
                problems.append(DeclarationProblem(
                    line, "value_usd", "US$/ct is not a finite number"))
    return ct, usd


def _sieve_carats(row: Mapping[Any, Any], sieves: list[str], ct: float, line: int,
                  problems: list[DeclarationProblem]) -> np.ndarray:
    """A row's sieve breakdown in carats: given in carats (summing to ``ct``) or as shares
    (summing to 1); NaN, with a problem, when it sums to neither."""
    parts = np.array([_check_number(row[c] or "0", line, c, problems) for c in sieves])
    total = float(np.nansum(parts))
    if np.isfinite(ct) and ct > 0 and abs(total - ct) <= 0.01 * ct:
        return parts
    if abs(total - 1.0) <= 0.01:
        return parts * ct
    problems.append(DeclarationProblem(
        line, ",".join(sieves),
        f"sieve classes sum to {total:g}: neither the carats ({ct:g}) nor 1"))
    return np.full(len(sieves), np.nan)


def _duplicate_certificates(out: pd.DataFrame) -> list[DeclarationProblem]:
    """A problem for each certificate id seen on an earlier line."""
    problems = []
    for i in map(int, np.flatnonzero(out.duplicated(subset=["certificate_id"]).to_numpy())):
        same = (out["certificate_id"] == out.loc[i, "certificate_id"]).to_numpy()
        first = int(np.flatnonzero(same)[0])
        problems.append(DeclarationProblem(
            i + _FIRST_LINE, "certificate_id",
            f"duplicate certificate {out.loc[i, 'certificate_id']!r} (first on line "
            f"{first + _FIRST_LINE})"))
    return problems
