"""The seeded Monte Carlo engine: parameter draws, a model, a long table, summaries.

In the spirit of USGS MapMark4 (a seeded simulation whose output is a long table of draws
from which every summary is recomputed):

* Draw ``i`` belongs to canonical chunk ``i // CHUNK_DRAWS``. Chunk ``k`` draws from
  ``numpy.random.default_rng(SeedSequence(seed).spawn(n_chunks)[k])``. Execution blocks
  only group whole chunks, so the draws are identical whatever ``block_size`` the caller
  asks for (memory) and however many workers run the blocks (``map_blocks``).
* Within a chunk, one standard-normal matrix (draws × stochastic parameters) is drawn,
  correlated with the Gaussian copula factor, turned into uniforms by the normal CDF and
  into parameter values by each distribution's inverse CDF.
* The long table (one row per draw: every parameter and every model output) is streamed
  to Parquet block by block (``pyarrow.parquet.ParquetWriter``), so memory is bounded by
  the block size. Means and standard errors are exact and streamed (per-chunk sums
  combined in chunk order, so they too do not depend on the blocking); percentiles are
  exact, computed column by column from the kept table (one float64 column in memory at
  a time, partitioned in place: 80 MB for 10^7 draws).
* ``draws_sha256`` hashes every column of every chunk in draw order: two runs that
  agree on it produced bit-identical draws.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import special

from footprint.errors import InvalidParameterError
from footprint.params import ParameterSheet, copula_correlation, copula_factor

#: Draws per SeedSequence child: the canonical unit of randomness (never change it
#: without bumping the code version: stored footprints are reproduced with it).
CHUNK_DRAWS = 65_536
#: Default execution block (draws held in memory at once).
DEFAULT_BLOCK_DRAWS = 4 * CHUNK_DRAWS
#: Below this many draws (or this many draws beyond P95) the tails are not trusted.
MIN_DRAWS_FOR_TAILS = 2_000
MIN_DRAWS_BEYOND_P95 = 100

Model = Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]
MapBlocks = Callable[[Callable, Sequence], Iterable]
#: ``on_chunk(chunks_done, chunks_total)``, called after each chunk is consumed; it may
#: raise to stop the simulation there (a dismissed job).
OnChunk = Callable[[int, int], None]


class TooFewDrawsWarning(UserWarning):
    """The number of draws is too small to trust P5/P95."""


@dataclass(frozen=True)
class Summary:
    """Summary of one column of draws (units of the column)."""

    p5: float
    p50: float
    p95: float
    mean: float
    sem: float
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-safe dict (non-finite values become None)."""
        return {k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                for k, v in self.__dict__.items()}


@dataclass
class SimulationResult:
    """Output of :func:`simulate`: summaries, the draws (in memory or on disk) and the seed."""

    seed: int
    draws: int
    chunk_draws: int
    parameters: list[str]
    outputs: list[str]
    summaries: dict[str, Summary]
    tails_trusted: bool
    warning: str | None = None
    draws_sha256: str = ""
    draws_path: Path | None = None
    table: pa.Table | None = field(default=None, repr=False)

    def read_draws(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The long table of draws (from memory, or read back from the Parquet file)."""
        if self.table is not None:
            return self.table if columns is None else self.table.select(list(columns))
        if self.draws_path is None:
            raise InvalidParameterError("draws were neither kept in memory nor written to disk")
        return pq.read_table(self.draws_path, columns=None if columns is None else list(columns))

    def column(self, name: str) -> np.ndarray:
        """All draws of one parameter or output (read from the Parquet file when streamed)."""
        return self.read_draws([name]).column(name).to_numpy()


def field_seed(base_seed: int, field_id: str) -> int:
    """The default seed of one field: ``base_seed`` mixed with the field id.

    Fields of one participant are summed draw by draw; with one shared seed their draws
    would use common random numbers (correlated), which widens the summed band. Each field
    therefore gets its own 32-bit seed, derived reproducibly (``SeedSequence`` of the base
    seed and the CRC-32 of the id). The seed stored with a footprint is this derived one.
    """
    import zlib

    mixed = np.random.SeedSequence([int(base_seed), zlib.crc32(field_id.encode("utf-8"))])
    return int(mixed.generate_state(1)[0])


def chunk_bounds(draws: int, chunk_draws: int = CHUNK_DRAWS) -> list[tuple[int, int]]:
    """``(start, stop)`` draw indices of each canonical chunk."""
    return [(start, min(start + chunk_draws, draws)) for start in range(0, draws, chunk_draws)]


def sample_parameters(sheet: ParameterSheet, n: int, rng: np.random.Generator,
                      factor: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``n`` joint draws of every parameter of ``sheet`` (float64 arrays, sheet order).

    ``factor`` is the copula factor (:func:`footprint.params.copula_factor`); pass it when
    calling repeatedly to avoid recomputing it.
    """
    names = sheet.stochastic_names
    if factor is None:
        factor = copula_factor(copula_correlation(sheet))
    z = rng.standard_normal((n, len(names)))
    if factor is not None:
        z = z @ factor.T
    u = special.ndtr(z)
    values: dict[str, np.ndarray] = {}
    for name, spec in sheet.parameters.items():
        values[name] = spec.ppf(np.zeros(n)) if spec.is_fixed else spec.ppf(u[:, names.index(name)])
    return values


@dataclass(frozen=True)
class _Plan:
    sheet: ParameterSheet
    model: Model
    seed: int
    draws: int
    chunk_draws: int


@dataclass
class _ChunkStats:
    n: int
    sums: dict[str, float]
    sumsq_dev: dict[str, float]  # sum of squared deviations from the chunk mean


def _run_chunk(plan: _Plan, factor: np.ndarray | None, index: int,
               child: np.random.SeedSequence) -> pa.Table:
    start, stop = chunk_bounds(plan.draws, plan.chunk_draws)[index]
    rng = np.random.default_rng(child)
    params = sample_parameters(plan.sheet, stop - start, rng, factor)
    outputs = plan.model(params)
    columns = {"draw": np.arange(start, stop, dtype=np.int64)}
    columns.update(params)
    for name, values in outputs.items():
        if name in columns:
            raise InvalidParameterError(f"model output '{name}' collides with a parameter name")
        columns[name] = np.ascontiguousarray(
            np.broadcast_to(np.asarray(values, dtype=np.float64), (stop - start,)))
    return pa.table(columns)


def _run_block(plan: _Plan, factor: np.ndarray | None,
               chunks: Sequence[tuple[int, np.random.SeedSequence]]) -> list[pa.Table]:
    """Run whole canonical chunks (the unit a worker receives)."""
    return [_run_chunk(plan, factor, index, child) for index, child in chunks]


def _chunk_stats(table: pa.Table, names: Sequence[str]) -> _ChunkStats:
    sums, dev = {}, {}
    for name in names:
        x = table.column(name).to_numpy()
        sums[name] = float(np.sum(x))
        dev[name] = float(np.sum((x - x.mean()) ** 2)) if x.size else 0.0
    return _ChunkStats(table.num_rows, sums, dev)


def _combine(stats: Sequence[_ChunkStats], name: str) -> tuple[float, float]:
    """Exact mean and SEM from per-chunk sums (Chan et al. pairwise update, chunk order)."""
    n, mean, m2 = 0, 0.0, 0.0
    for s in stats:
        if s.n == 0:
            continue
        chunk_mean = s.sums[name] / s.n
        delta = chunk_mean - mean
        total = n + s.n
        mean += delta * s.n / total
        m2 += s.sumsq_dev[name] + delta * delta * n * s.n / total
        n = total
    if n < 2 or not math.isfinite(m2):
        return mean, math.nan
    return mean, math.sqrt(m2 / (n - 1) / n)


def _read_column(parquet: pq.ParquetFile, name: str, draws: int) -> np.ndarray:
    """One column of the draws file into a fresh float64 array, row group by row group.

    Reading whole columns through Arrow leaves the freed buffers in Arrow's allocator
    (resident memory grows with the number of columns); row groups are one chunk each,
    so this keeps the peak at one column (8 bytes × draws) plus one chunk.
    """
    out = np.empty(draws, dtype=np.float64)
    start = 0
    for group in range(parquet.num_row_groups):
        values = parquet.read_row_group(group, columns=[name],
                                        use_threads=False).column(0).to_numpy()
        out[start:start + values.size] = values
        start += values.size
    return out


def _check_arguments(draws: int, seed: int, draws_path: str | Path | None,
                     keep_in_memory: bool | None) -> bool:
    """Refuse arguments :func:`simulate` cannot run; return whether to keep the table."""
    if draws < 1:
        raise InvalidParameterError(f"draws must be positive (got {draws})")
    if seed < 0:
        raise InvalidParameterError(f"seed must be non-negative (got {seed})")
    keep = draws_path is None if keep_in_memory is None else keep_in_memory
    if not keep and draws_path is None:
        raise InvalidParameterError("draws must be kept in memory or written to draws_path")
    return keep


@dataclass
class _Collected:
    """What :func:`_collect` keeps of the chunks as they arrive, in draw order."""

    columns: list[str] = field(default_factory=list)
    stats: list[_ChunkStats] = field(default_factory=list)
    kept: list[pa.Table] = field(default_factory=list)
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)


def _collect(results: Iterable[list[pa.Table]], path: Path | None, keep: bool,
             on_chunk: OnChunk | None = None, n_chunks: int = 0) -> _Collected:
    """Stream the chunks of ``results`` to Parquet at ``path`` (if any), hash and summarise
    them, and keep them in memory when ``keep``; ``on_chunk(done, n_chunks)`` after each."""
    collected = _Collected()
    writer: pq.ParquetWriter | None = None
    try:
        for block in results:
            for table in block:
                if not collected.columns:
                    collected.columns = [c for c in table.column_names if c != "draw"]
                    if path is not None:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        # Draws are unique floats: dictionary encoding only costs time and memory.
                        writer = pq.ParquetWriter(path, table.schema, use_dictionary=False)
                collected.stats.append(_chunk_stats(table, collected.columns))
                for name in table.column_names:
                    collected.digest.update(table.column(name).to_numpy().tobytes())
                if writer is not None:
                    writer.write_table(table)
                if keep:
                    collected.kept.append(table)
                if on_chunk is not None:
                    on_chunk(len(collected.stats), n_chunks)
    finally:
        if writer is not None:
            writer.close()
    return collected


def _summarise(collected: _Collected, table: pa.Table | None, path: Path | None,
               draws: int) -> dict[str, Summary]:
    """P5, P50, P95, mean and SEM of every column, from ``table`` or else the file."""
    parquet = pq.ParquetFile(path) if table is None else None
    summaries: dict[str, Summary] = {}
    for name in collected.columns:
        x = (table.column(name).to_numpy() if table is not None
             else _read_column(parquet, name, draws))
        p5, p50, p95 = np.percentile(x, [5, 50, 95], overwrite_input=table is None)
        mean, sem = _combine(collected.stats, name)
        summaries[name] = Summary(float(p5), float(p50), float(p95), mean, sem, int(x.size))
    return summaries


def _tails_trusted(draws: int) -> tuple[bool, str | None]:
    """Whether ``draws`` are enough to trust P5/P95, and the warning when they are not."""
    beyond = math.floor(draws * 0.05)
    if draws >= MIN_DRAWS_FOR_TAILS and beyond >= MIN_DRAWS_BEYOND_P95:
        return True, None
    return False, (f"{draws} draws leave about {beyond} beyond P95: too few to trust P5/P95 "
                   f"(use at least {MIN_DRAWS_FOR_TAILS})")


def simulate(sheet: ParameterSheet, model: Model, *, draws: int, seed: int,
             block_size: int | None = None, draws_path: str | Path | None = None,
             map_blocks: MapBlocks | None = None, keep_in_memory: bool | None = None,
             chunk_draws: int = CHUNK_DRAWS, on_chunk: OnChunk | None = None
             ) -> SimulationResult:
    """Run ``model`` on ``draws`` joint draws of ``sheet``'s parameters.

    Parameters
    ----------
    sheet
        Validated parameter sheet.
    model
        Pure, vectorised callable ``params -> outputs`` (dicts of float64 arrays of the
        same length); must be picklable when ``map_blocks`` sends it to other processes.
    draws, seed
        Number of draws and the root seed of ``numpy.random.SeedSequence``.
    block_size
        Draws per execution block (rounded up to whole chunks); bounds memory. Does not
        change the draws.
    draws_path
        Where to stream the long table (Parquet). Without it the table stays in memory.
    map_blocks
        ``map_blocks(func, blocks) -> iterable of results in order``; default the builtin
        ``map``. With dask: ``lambda f, xs: client.gather(client.map(f, xs))`` (then the
        results of all blocks are gathered before writing).
    keep_in_memory
        Keep the table in memory as well (default: only when ``draws_path`` is None).
    chunk_draws
        Size of the canonical chunk; keep the default except in tests.
    on_chunk
        ``on_chunk(done, total)`` after each chunk is written (progress); an exception
        it raises stops the run there (the Parquet written so far is closed, and the
        caller removes it). With ``map_blocks`` on dask the blocks run first and the
        calls come as their results are consumed.

    Returns
    -------
    SimulationResult
        Summaries (P5, P50, P95, mean, SEM) of every parameter and output, and a
        ``tails_trusted`` flag; a :class:`TooFewDrawsWarning` is also issued when false.
    """
    keep = _check_arguments(draws, seed, draws_path, keep_in_memory)
    factor = copula_factor(copula_correlation(sheet))
    bounds = chunk_bounds(draws, chunk_draws)
    children = np.random.SeedSequence(seed).spawn(len(bounds))
    per_block = max(1, math.ceil((block_size or DEFAULT_BLOCK_DRAWS) / chunk_draws))
    indexed = list(enumerate(children))
    blocks = [indexed[i:i + per_block] for i in range(0, len(indexed), per_block)]
    plan = _Plan(sheet, model, seed, draws, chunk_draws)
    runner = partial(_run_block, plan, factor)
    path = Path(draws_path) if draws_path is not None else None
    collected = _collect((map_blocks or map)(runner, blocks), path, keep, on_chunk,
                         len(bounds))
    table = pa.concat_tables(collected.kept) if keep else None
    summaries = _summarise(collected, table, path, draws)
    trusted, message = _tails_trusted(draws)
    if message is not None:
        warnings.warn(message, TooFewDrawsWarning, stacklevel=2)
    columns = collected.columns
    param_names = list(sheet.parameters)
    return SimulationResult(seed=seed, draws=draws, chunk_draws=chunk_draws,
                            parameters=param_names,
                            outputs=[c for c in columns if c not in sheet.parameters],
                            summaries=summaries, tails_trusted=trusted, warning=message,
                            draws_sha256=collected.digest.hexdigest(), draws_path=path, table=table)
