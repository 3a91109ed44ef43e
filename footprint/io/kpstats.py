"""KP production statistics: the half-yearly public CSV as a tidy table.

The Kimberley Process publishes production per participant and half-year (carats and
US$). The export we read (``kp_stats/kp_production_halfyear_all_participants_2003_2024.csv``,
see ``SOURCES.md``) has quirks that change totals if handled silently, so every one is
handled by an explicit rule and *reported* in :attr:`KPProduction.quirks`:

``exact_duplicate_row``
    the same row (participant, period, record and production type, carats, value) appears
    more than once in one half-year (India 2024 H2). Extra copies are flagged
    (``duplicates="flag"``, summed as published) or removed (``duplicates="drop"``).
``repeated_period``
    a half-year row repeats another period's exact carats *and* value for the same
    participant (Togo 2006 H1 = 2005 H1, 17,620 ct / US$1,987,450). The later period is
    the suspect copy: flagged, or removed with ``duplicates="drop"``. The source cannot say
    which of the two is the copy (Mali "2003 H2" = 2023 H2 is a mis-keyed year), so read
    the ``detail``.
``repeated_carats``
    the same non-zero carats in two periods with different values (report only).
``no_production``
    a half-year declared "No Production": kept as zero carats and US$0 with
    ``no_production=True``.
``conflicting_record_types``
    "Production" and "No Production" rows for one half-year: the production rows count.
``multiple_production_types``
    several production types in one half-year (ASM + LSM): summed, the type reads
    ``"ASM+LSM"``.
``repeated_production_type``
    several rows of one production type in one half-year (not identical): summed.
``missing_half_year``
    a half-year without any row between a participant's first year and last year
    (Côte d'Ivoire 2006-2013 under the UN embargo; Zimbabwe 2024 H2).
``non_iso_participant`` / ``unmapped_country``
    a participant without an ISO 3166 code (the European Union, coded ``EUR`` here) or a
    spelling missing from :data:`PARTICIPANT_ISO3` (participant left empty).

Units: carats (ct), US dollars (nominal, as declared). Periods: ``half`` 1 = January-June,
2 = July-December.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from footprint.errors import DataMissingError, InvalidDeclarationError
from footprint.io import require_dir

#: Path of the half-yearly production CSV inside the data directory.
KP_HALFYEAR_RELPATH = Path("kp_stats/kp_production_halfyear_all_participants_2003_2024.csv")

#: ISO 3166-1 alpha-3 code per participant name: the spellings of the KP statistics export
#: first, then common alternatives (so declarations typed by hand map too). Matching is
#: case-, accent-, quote- and apostrophe-insensitive (see :func:`participant_iso3`).
PARTICIPANT_ISO3: dict[str, str] = {
    # spellings found in the KP export
    "Angola": "AGO",
    "Armenia": "ARM",
    "Australia": "AUS",
    "Belarus": "BLR",
    "Botswana": "BWA",
    "Brazil": "BRA",
    "Cambodia": "KHM",
    "Cameroon": "CMR",
    "Canada": "CAN",
    "Central African Republic": "CAF",
    "China, People's Republic of": "CHN",
    "Congo, Democratic Republic of": "COD",
    "Congo, Republic of": "COG",
    "Cote D'ivoire": "CIV",
    "Croatia": "HRV",
    "Eswatini": "SWZ",
    "European Union": "EUR",
    "Gabon": "GAB",
    "Ghana": "GHA",
    "Guinea": "GIN",
    "Guyana": "GUY",
    "India": "IND",
    "Indonesia": "IDN",
    "Japan": "JPN",
    "Kazakhstan": "KAZ",
    "Korea, Republic of": "KOR",
    "Kyrgyz Republic": "KGZ",
    "Lebanon": "LBN",
    "Lesotho": "LSO",
    "Liberia": "LBR",
    "Malaysia": "MYS",
    "Mali": "MLI",
    "Mauritius": "MUS",
    "Mexico": "MEX",
    "Mozambique": "MOZ",
    "Namibia": "NAM",
    "New Zealand": "NZL",
    "Norway": "NOR",
    "Panama": "PAN",
    "Qatar": "QAT",
    "Romania": "ROU",
    "Russian Federation": "RUS",
    "Sierra Leone": "SLE",
    "Singapore": "SGP",
    "Slovenia": "SVN",
    "South Africa": "ZAF",
    "Sri Lanka": "LKA",
    "Tanzania": "TZA",
    "Thailand": "THA",
    "Togo": "TGO",
    "Ukraine": "UKR",
    "United Arab Emirates": "ARE",
    "United States of America": "USA",
    "Venezuela": "VEN",
    "Vietnam": "VNM",
    "Zimbabwe": "ZWE",
    # other spellings of the same participants (and a few KP participants absent above)
    "Côte d'Ivoire": "CIV",
    "Ivory Coast": "CIV",
    "China": "CHN",
    "People's Republic of China": "CHN",
    "Chinese Taipei": "TWN",
    "Taiwan": "TWN",
    "Democratic Republic of the Congo": "COD",
    "Democratic Republic of Congo": "COD",
    "DR Congo": "COD",
    "DRC": "COD",
    "Republic of the Congo": "COG",
    "Republic of Congo": "COG",
    "Congo": "COG",
    "Republic of Korea": "KOR",
    "South Korea": "KOR",
    "Swaziland": "SWZ",
    "Kyrgyzstan": "KGZ",
    "Russia": "RUS",
    "Tanzania, United Republic of": "TZA",
    "United Republic of Tanzania": "TZA",
    "United States": "USA",
    "USA": "USA",
    "UAE": "ARE",
    "Venezuela, Bolivarian Republic of": "VEN",
    "Viet Nam": "VNM",
    "EU": "EUR",
    "Switzerland": "CHE",
    "Israel": "ISR",
    "Türkiye": "TUR",
    "Turkey": "TUR",
    "United Kingdom": "GBR",
}

#: Participants coded here without an ISO 3166-1 code.
NON_ISO_PARTICIPANTS: dict[str, str] = {
    "EUR": "the European Union is one KP participant for its member states; "
           "ISO 3166 has no alpha-3 code for it (EUR is this project's code)",
}

_COLUMNS = ("country", "year", "half_year", "record_type", "production_type", "carats",
            "value_usd")
_PRODUCTION = "Production"
_NO_PRODUCTION = "No Production"
DuplicatePolicy = Literal["flag", "drop"]


def _normalise_name(name: str) -> str:
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace('"', "")
    return " ".join(text.casefold().strip(" '.,").split())


_NORMALISED_ISO3 = {_normalise_name(k): v for k, v in PARTICIPANT_ISO3.items()}
_KNOWN_CODES = frozenset(PARTICIPANT_ISO3.values())


def participant_iso3(name: str) -> str:
    """ISO 3166-1 alpha-3 code of a KP participant name (``"EUR"`` for the EU).

    Case, accents, quotes and curly apostrophes are ignored (``"Cote D'ivoire"``,
    ``"Côte d’Ivoire"`` and ``"CIV"`` all give ``"CIV"``).

    Raises
    ------
    InvalidDeclarationError
        the name is not in :data:`PARTICIPANT_ISO3` (also a ``ValueError``).
    """
    key = _normalise_name(name)
    if key in _NORMALISED_ISO3:
        return _NORMALISED_ISO3[key]
    if key.upper() in _KNOWN_CODES:
        return key.upper()
    raise InvalidDeclarationError(
        f"unknown KP participant name {name!r}",
        hint="use an ISO3 code or add the spelling to footprint.io.kpstats.PARTICIPANT_ISO3")


@dataclass(frozen=True)
class KPProduction:
    """KP production statistics, one row per participant and half-year.

    Attributes
    ----------
    halfyear
        tidy table: ``participant`` (ISO3, ``<NA>`` when unmapped), ``country`` (as spelt
        in the source), ``year``, ``half`` (1 or 2), ``carats`` (ct), ``value_usd``
        (US$), ``production_type`` (``"Production"``, ``"ASM"``, ``"LSM"``,
        ``"ASM+LSM"``; ``<NA>`` for no production), ``record_type`` (``"Production"`` or
        ``"No Production"``), ``no_production`` (bool), ``suspect_duplicate`` (bool) and
        ``n_source_rows``.
    quirks
        what the loader found and did, one dict per finding with keys ``kind``,
        ``participant``, ``year``, ``half``, ``detail`` (see the module docstring).
    duplicates
        the policy applied (``"flag"`` or ``"drop"``).
    source
        the CSV read, when read from a file.
    """

    halfyear: pd.DataFrame
    quirks: list[dict] = field(default_factory=list)
    duplicates: DuplicatePolicy = "flag"
    source: Path | None = None

    def annual(self) -> pd.DataFrame:
        """Calendar-year totals per participant.

        Columns: ``participant``, ``country``, ``year``, ``carats``, ``value_usd``,
        ``usd_per_ct`` (NaN when no carats), ``n_half_years`` (half-years reported,
        including "No Production" ones, 0-2), ``no_production`` (every reported half-year
        was "No Production") and ``suspect_duplicate`` (any half-year flagged).
        """
        frame = self.halfyear
        grouped = frame.groupby(["participant", "country", "year"], dropna=False, sort=True)
        annual = grouped.agg(carats=("carats", "sum"), value_usd=("value_usd", "sum"),
                             n_half_years=("half", "nunique"),
                             no_production=("no_production", "all"),
                             suspect_duplicate=("suspect_duplicate", "any")).reset_index()
        carats = annual["carats"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            annual["usd_per_ct"] = np.where(carats > 0,
                                            annual["value_usd"].to_numpy(float) / carats,
                                            np.nan)
        return annual[["participant", "country", "year", "carats", "value_usd", "usd_per_ct",
                       "n_half_years", "no_production", "suspect_duplicate"]]

    def participant(self, iso3: str) -> pd.DataFrame:
        """Half-year rows of one participant (ISO3 code or any known spelling)."""
        code = participant_iso3(iso3)
        return self.halfyear[self.halfyear["participant"] == code].reset_index(drop=True)


def _quirk(kind: str, participant, year=None, half=None, detail: str = "") -> dict:
    return {"kind": kind,
            "participant": None if participant is None or pd.isna(participant) else participant,
            "year": None if year is None else int(year),
            "half": None if half is None else int(half), "detail": detail}


def _fmt(carats: float, value_usd: float) -> str:
    return f"{carats:,.2f} ct / US${value_usd:,.2f}"


def _check_columns(raw: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _COLUMNS if c not in raw.columns]
    if missing:
        raise InvalidDeclarationError(
            f"KP statistics table lacks columns {missing}",
            hint=f"expected at least {list(_COLUMNS)}")
    frame = raw.loc[:, list(_COLUMNS)].copy()
    frame["country"] = frame["country"].astype("string").str.strip()
    frame["record_type"] = frame["record_type"].astype("string").str.strip()
    frame["production_type"] = frame["production_type"].astype("string").str.strip()
    for col in ("year", "half_year", "carats", "value_usd"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    bad = frame["year"].isna() | ~frame["half_year"].isin([1, 2]) | frame["country"].isna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise InvalidDeclarationError(
            f"KP statistics row {first + 2} has no country, year or half-year 1/2",
            hint="fix the row in the CSV")
    unknown_types = set(frame["record_type"].dropna()) - {_PRODUCTION, _NO_PRODUCTION}
    if unknown_types or frame["record_type"].isna().any():
        raise InvalidDeclarationError(
            f"KP statistics record types must be 'Production' or 'No Production', "
            f"found {sorted(unknown_types) or ['<empty>']}")
    frame["year"] = frame["year"].astype(int)
    frame["half_year"] = frame["half_year"].astype(int)
    return frame


def _map_participants(frame: pd.DataFrame, quirks: list[dict]) -> pd.Series:
    codes: dict[str, object] = {}
    for name in frame["country"].unique():
        try:
            codes[name] = participant_iso3(name)
        except InvalidDeclarationError:
            codes[name] = pd.NA
            quirks.append(_quirk("unmapped_country", None, detail=(
                f"{name!r} is not in PARTICIPANT_ISO3: its rows keep an empty participant")))
            continue
        code = str(codes[name])
        if code in NON_ISO_PARTICIPANTS:
            quirks.append(_quirk("non_iso_participant", code, detail=(
                f"{name!r} coded {code}: {NON_ISO_PARTICIPANTS[code]}")))
    return frame["country"].map(codes).astype("string")


def _mark_exact_duplicates(frame: pd.DataFrame, quirks: list[dict]) -> pd.Series:
    keys = ["country", "year", "half_year", "record_type", "production_type", "carats",
            "value_usd"]
    extra = frame.duplicated(subset=keys, keep="first")
    for (participant, year, half), rows in frame[extra].groupby(
            ["participant", "year", "half_year"], dropna=False):
        row = rows.iloc[0]
        quirks.append(_quirk("exact_duplicate_row", participant, year, half, detail=(
            f"{len(rows)} extra identical row(s) of {row['record_type']} "
            f"{_fmt(row['carats'], row['value_usd'])} in {row['country']} {year} H{half}")))
    return extra


def _period(row: dict) -> tuple[int, int]:
    return int(row["year"]), int(row["half_year"])


def _number(value) -> float:
    return 0.0 if pd.isna(value) else float(value)


def _mark_repeated_periods(rows: list[dict], quirks: list[dict]) -> None:
    """Set ``suspect`` on rows repeating another period's exact non-zero carats and value.

    Works on plain row dicts (a few thousand rows: pandas per-group calls would dominate).
    """
    by_carats: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["record_type"] == _PRODUCTION and _number(row["carats"]) > 0:
            by_carats.setdefault((row["country"], row["carats"]), []).append(row)
    for (_, carats), group in by_carats.items():
        periods: dict[tuple[int, int], dict] = {}
        for row in sorted(group, key=_period):
            periods.setdefault(_period(row), row)
        if len(periods) < 2:
            continue
        ordered = list(periods.values())
        first = ordered[0]
        for position, row in enumerate(ordered[1:], start=1):
            same_value = [e for e in ordered[:position] if e["value_usd"] == row["value_usd"]]
            label = f"{row['country']} {row['year']} H{row['half_year']}"
            if same_value:
                orig = same_value[0]
                row["suspect"] = True
                quirks.append(_quirk("repeated_period", row["participant"], row["year"],
                                     row["half_year"], detail=(
                    f"{label} repeats {orig['year']} H{orig['half_year']} exactly "
                    f"({_fmt(row['carats'], row['value_usd'])}); the later period is "
                    "flagged as the suspect copy (check which period is right)")))
            else:
                quirks.append(_quirk("repeated_carats", row["participant"], row["year"],
                                     row["half_year"], detail=(
                    f"{label} has the same {carats:,.2f} ct as {first['year']} "
                    f"H{first['half_year']} with a different value "
                    f"(US${row['value_usd']:,.2f} vs US${first['value_usd']:,.2f}); kept")))


def _totals(rows: list[dict]) -> tuple[float, float]:
    """Summed carats and US$ of rows (a missing value counts as 0)."""
    return (sum(_number(r["carats"]) for r in rows), sum(_number(r["value_usd"]) for r in rows))


def _combine_half_year(rows: list[dict], quirks: list[dict]) -> dict:
    head = rows[0]
    participant, (year, half) = head["participant"], _period(head)
    produced = [r for r in rows if r["record_type"] == _PRODUCTION]
    label = f"{head['country']} {year} H{half}"
    common = {"participant": participant, "country": head["country"], "year": year,
              "half": half, "suspect_duplicate": any(r["suspect"] for r in rows),
              "n_source_rows": len(rows)}
    if not produced:
        quirks.append(_quirk("no_production", participant, year, half, detail=(
            f"{label} declared 'No Production': kept as 0 ct / US$0")))
        return {**common, "carats": 0.0, "value_usd": 0.0, "production_type": pd.NA,
                "record_type": _NO_PRODUCTION, "no_production": True}
    if len(produced) < len(rows):
        quirks.append(_quirk("conflicting_record_types", participant, year, half, detail=(
            f"{label} has both 'Production' and 'No Production' rows: the "
            f"{len(produced)} production row(s) count")))
    by_type: dict[str, list[dict]] = {}
    for row in produced:
        ptype = row["production_type"] if isinstance(row["production_type"], str) \
            else _PRODUCTION
        by_type.setdefault(ptype, []).append(row)
    if len(by_type) > 1:
        parts = " + ".join(f"{t} {_fmt(*_totals(g))}" for t, g in sorted(by_type.items()))
        quirks.append(_quirk("multiple_production_types", participant, year, half,
                             detail=f"{label}: {parts} summed"))
    for ptype, group in sorted(by_type.items()):
        distinct = [r for r in group if not r["exact_extra"]]
        if len(distinct) > 1:
            parts = " + ".join(_fmt(r["carats"], r["value_usd"]) for r in distinct)
            quirks.append(_quirk("repeated_production_type", participant, year, half,
                                 detail=f"{label}: {len(distinct)} different {ptype} rows "
                                        f"({parts}) summed"))
    if any(pd.isna(r["carats"]) or pd.isna(r["value_usd"]) for r in produced):
        quirks.append(_quirk("missing_value", participant, year, half, detail=(
            f"{label}: a production row has no carats or value; counted as 0")))
    carats, value_usd = _totals(produced)
    return {**common, "carats": carats, "value_usd": value_usd,
            "production_type": "+".join(sorted(by_type)), "record_type": _PRODUCTION,
            "no_production": False}


def _report_missing_half_years(halfyear: pd.DataFrame, quirks: list[dict]) -> None:
    for (participant, country), rows in halfyear.groupby(["participant", "country"],
                                                         dropna=False, sort=True):
        present = set(zip(rows["year"], rows["half"], strict=True))
        for year in range(int(rows["year"].min()), int(rows["year"].max()) + 1):
            for half in (1, 2):
                if (year, half) not in present:
                    quirks.append(_quirk("missing_half_year", participant, year, half,
                                         detail=f"{country} has no row for {year} H{half}"))


def tidy_kp_production(raw: pd.DataFrame, *, duplicates: DuplicatePolicy = "flag",
                       source: Path | None = None) -> KPProduction:
    """Turn the raw KP half-year rows into a :class:`KPProduction` (pure function).

    Parameters
    ----------
    raw
        rows with at least the columns ``country, year, half_year, record_type,
        production_type, carats, value_usd`` (the layout of the KP export in
        ``SOURCES.md``).
    duplicates
        ``"flag"`` (default): suspect duplicates are kept, counted as published and
        marked ``suspect_duplicate``; ``"drop"``: extra identical rows and later-period
        repeats are removed before summing. Both report them in ``quirks``.
    """
    if duplicates not in ("flag", "drop"):
        raise InvalidDeclarationError(f"duplicates must be 'flag' or 'drop', not {duplicates!r}")
    quirks: list[dict] = []
    frame = _check_columns(raw)
    frame["participant"] = _map_participants(frame, quirks)
    frame["exact_extra"] = _mark_exact_duplicates(frame, quirks)
    frame["suspect"] = frame["exact_extra"]
    rows = frame.to_dict("records")
    _mark_repeated_periods(rows, quirks)
    if duplicates == "drop":
        rows = [r for r in rows if not r["suspect"]]
    periods: dict[tuple, list[dict]] = {}
    for row in rows:
        periods.setdefault((row["country"], *_period(row)), []).append(row)
    records = [_combine_half_year(periods[key], quirks) for key in sorted(periods)]
    halfyear = pd.DataFrame.from_records(records, columns=[
        "participant", "country", "year", "half", "carats", "value_usd", "production_type",
        "record_type", "no_production", "suspect_duplicate", "n_source_rows"])
    halfyear = halfyear.astype({"participant": "string", "country": "string", "year": int,
                                "half": int, "carats": float, "value_usd": float,
                                "production_type": "string", "record_type": "string",
                                "no_production": bool, "suspect_duplicate": bool,
                                "n_source_rows": int})
    halfyear = halfyear.sort_values(["participant", "year", "half"],
                                    na_position="last").reset_index(drop=True)
    _report_missing_half_years(halfyear, quirks)
    return KPProduction(halfyear=halfyear, quirks=quirks, duplicates=duplicates, source=source)


def load_kp_production(data_dir: Path | None = None, path: Path | None = None, *,
                       duplicates: DuplicatePolicy = "flag") -> KPProduction:
    """Read the KP half-yearly production CSV into a :class:`KPProduction`.

    Parameters
    ----------
    data_dir
        data directory (required unless ``path`` is given); the file is
        :data:`KP_HALFYEAR_RELPATH` inside it.
    path
        the CSV itself (overrides ``data_dir``).
    duplicates
        ``"flag"`` or ``"drop"``: see :func:`tidy_kp_production`.

    Raises
    ------
    DataMissingError
        the CSV is absent.
    InvalidDeclarationError
        the CSV lacks a column or has a row without country, year or half-year.
    """
    if path is None:
        path = Path(require_dir(data_dir, "data_dir")) / KP_HALFYEAR_RELPATH
    path = Path(path)
    if not path.is_file():
        raise DataMissingError(
            f"KP production statistics not found: {path}",
            hint="export the half-yearly production table from kimberleyprocessstatistics.org "
                 f"as CSV to <data_dir>/{KP_HALFYEAR_RELPATH} (see SOURCES.md)")
    raw = pd.read_csv(path, dtype={"country": "string", "record_type": "string",
                                   "production_type": "string"})
    return tidy_kp_production(raw, duplicates=duplicates, source=path)
