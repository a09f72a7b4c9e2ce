r"""Training sets for surrogates: signal hypotheses and their exact labels from the full pyhf likelihood.

Labels
------
For a workspace with N signal regions and signal yields s (events per SR at μ = 1), the four labels are

.. math:: q_v(s) = -2 \ln\frac{L_v(s)}{L_v(0)} = 2\,[\mathrm{NLL}_v(\mu = 1, s) - \mathrm{NLL}_v(\mu = 0)],

with all nuisance parameters profiled (one constrained fit per label, the background-only fit cached), for the
data sets v = ``observed``, ``apriori`` (the pre-fit background expectation) and the Asimov data of the
background-only fit to each, ``asimov_observed`` and ``asimov_apriori`` (what CLs and expected limits need).
The fits are :class:`~nextsm.likelihoods.histfactory.HistFactoryModel`'s (pyhf, SLSQP); ``backend="jax"`` gives
them exact gradients.

Sampling strategy (:func:`sample_signals`)
-------------------------------------------
The walker and the critics ask for likelihoods from zero signal to well beyond exclusion, for signals spread over
many SRs and for signals in one or two SRs.  A hypothesis is s = A·d:

* the *shape* d (Σ d = 1) is, with equal probability, *sparse* (1–3 random SRs, Dirichlet(1) weights) or
  *dense* (all SRs, Dirichlet(α) weights with α ∈ {0.3, 1, 3}, from spiky to flat);
* the *amplitude* A is set by a target t of the approximate expected test statistic
  :math:`t \approx A^2 \sum_i d_i^2 / (b_i + \delta b_i^2)` (b_i, δb_i: the database's background and its
  uncertainty for SR i): t ~ U(0, 10) with probability 0.6, U(10, 30) with 0.25 and log-uniform(30, 1000) with
  0.15 — most points where exclusion is decided (q ≈ 0–10), the rest up to far beyond it;
* a fraction of 2 % of the points is exactly zero signal (q = 0).

Everything is drawn from one seeded ``numpy.random.Generator``, so a training set is reproducible from
(workspace, n, seed).  Training sets of the same workspace and sampling with other seeds are independent
samples of the same distribution; :func:`merge_label_sets` pools them (more labels without relabelling).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from nextsm.errors import FailedFitError, NextsmError, UnphysicalFitError
from nextsm.surrogates.network import EXCLUDED_B, VARIANTS

if TYPE_CHECKING:
    from nextsm.database.records import Analysis
    from nextsm.likelihoods.base import DataKind
    from nextsm.likelihoods.histfactory import HistFactoryModel

__all__ = [
    "FITTERS",
    "VARIANTS",
    "LabelSet",
    "Labeller",
    "SamplingSettings",
    "TrainingSetError",
    "draw_signals",
    "generate_labels",
    "labels",
    "load_labels",
    "merge_label_sets",
    "sample_signals",
    "workspace_hash",
]

FORMAT = "nextsm-labels-1"


class TrainingSetError(NextsmError):
    """A training-set folder cannot be used (other workspace or settings, corrupted chunk)."""


@dataclass(frozen=True)
class SamplingSettings:
    """The mixture of :func:`sample_signals` (module docstring)."""

    p_sparse: float = 0.5
    dense_alphas: tuple[float, ...] = (0.3, 1.0, 3.0)
    p_low: float = 0.6
    p_mid: float = 0.25
    t_low: float = 10.0
    t_mid: float = 30.0
    t_max: float = 1000.0
    p_zero: float = 0.02


def sample_signals(n: int, background: NDArray[np.float64], bg_error: NDArray[np.float64],
                   rng: np.random.Generator, settings: SamplingSettings | None = None) -> NDArray[np.float64]:
    """``n`` signal hypotheses (n, N) for SRs with backgrounds ``background`` ± ``bg_error`` (module docstring)."""
    s = settings or SamplingSettings()
    b = np.asarray(background, dtype=float)
    var = np.maximum(b + np.asarray(bg_error, dtype=float) ** 2, 1e-3)
    n_sr = len(b)
    out = np.zeros((n, n_sr))
    for i in range(n):
        if rng.uniform() < s.p_zero:
            continue
        d = np.zeros(n_sr)
        if rng.uniform() < s.p_sparse or n_sr == 1:
            k = int(rng.integers(1, min(3, n_sr) + 1))
            idx = rng.choice(n_sr, size=k, replace=False)
            d[idx] = rng.dirichlet(np.ones(k))
        else:
            d = rng.dirichlet(np.full(n_sr, s.dense_alphas[int(rng.integers(len(s.dense_alphas)))]))
        u = rng.uniform()
        if u < s.p_low:
            t = rng.uniform(0.0, s.t_low)
        elif u < s.p_low + s.p_mid:
            t = rng.uniform(s.t_low, s.t_mid)
        else:
            t = math.exp(rng.uniform(math.log(s.t_mid), math.log(s.t_max)))
        out[i] = math.sqrt(t / float(np.sum(d * d / var))) * d
    return out


def draw_signals(analysis: Analysis, regions: Sequence[str], n: int, seed: int,
                 settings: SamplingSettings | None = None) -> NDArray[np.float64]:
    """The ``n`` hypotheses of the training set (``regions`` of ``analysis``, ``seed``): :func:`sample_signals`
    with the database's backgrounds and uncertainties of those regions (1 ± 0 where the database has none)."""
    b = np.array([analysis.dataset(r).expected_bg or 1.0 for r in regions])
    db_err = np.array([analysis.dataset(r).bg_error or 0.0 for r in regions])
    return sample_signals(n, b, db_err, np.random.default_rng(seed), settings)


#: how labels are fitted: one SLSQP fit per hypothesis, or the vectorised solver with SLSQP for the rest
FITTERS = ("slsqp", "batched")

_VIEWS: tuple[tuple[str, DataKind], ...] = (("observed", "observed"), ("apriori", "apriori"),
                                            ("asimov:observed", "observed"), ("asimov:apriori", "apriori"))


class Labeller:
    """The four labels of many hypotheses of one model, with the fitters kept between calls.

    ``fitter="batched"`` (backend ``jax``) fits a whole chunk at once with
    :class:`~nextsm.likelihoods.histfactory_batch.BatchedProfile` and re-fits by SLSQP only the hypotheses it
    does not bring to convergence, keeping the lower of the two minima.
    """

    def __init__(self, model: HistFactoryModel, fitter: str = "slsqp", *, batch: int = 100) -> None:
        if fitter not in FITTERS:
            raise TrainingSetError(f"parameter 'fitter' must be one of {FITTERS}, got {fitter!r}")
        self.model = model
        self.fitter = fitter
        self.batch = batch
        self._views = [(model if key in ("observed", "apriori") else model.asimov(data), data)  # type: ignore[arg-type]
                       for key, data in _VIEWS]
        self._batched: list[Any] | None = None
        #: hypotheses re-fitted by SLSQP (batched fitter only), per variant
        self.fallbacks = np.zeros(len(VARIANTS), dtype=int)

    def __call__(self, signals: NDArray[np.float64]) -> NDArray[np.float64]:
        with self.model.evaluation_scope():
            return self._labels(np.atleast_2d(np.asarray(signals, dtype=float)))

    def _labels(self, sig: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.empty((sig.shape[0], len(VARIANTS)))
        if self.fitter == "slsqp":
            for j, (view, data) in enumerate(self._views):
                nll = np.array([_physical_nll(view, row, data) for row in sig])
                out[:, j] = 2.0 * (nll - view.nll(0.0, sig, data=data))
            return out
        if self._batched is None:
            self._batched = [view.batched_profile(data, batch=self.batch)  # type: ignore[arg-type]
                             for view, data in self._views]
        for j, ((view, data), fit) in enumerate(zip(self._views, self._batched, strict=True)):
            result = fit(sig)
            nll = result.nll.copy()
            todo = np.flatnonzero(~result.converged)
            if todo.size:
                self.fallbacks[j] += todo.size
                refit = np.array([_physical_nll(view, row, data) for row in sig[todo]])
                nll[todo] = np.fmin(nll[todo], refit)  # NaN only where both are unphysical
            out[:, j] = 2.0 * (nll - fit.background_nll)
        return out


def _physical_nll(view: HistFactoryModel, signal: NDArray[np.float64], data: str) -> float:
    """−ln L(μ = 1) by SLSQP, or NaN (an unusable label, dropped in training) where every fit ends at a negative
    expected count or fails to converge."""
    try:
        return float(view.nll(1.0, signal[None, :], data=data)[0])  # type: ignore[arg-type]
    except (UnphysicalFitError, FailedFitError):
        return float("nan")


def poisson_baseline(model: HistFactoryModel) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(n, b)``, each (4, N): per variant of :data:`VARIANTS`, the data and the background-only fit's
    expectation in the main bin of every signal region (the surrogates' Poisson baseline,
    :func:`nextsm.surrogates.network.poisson_q`).  Expectations are floored at 10⁻³ events; control regions
    are left out (``n = b =`` :data:`~nextsm.surrogates.network.EXCLUDED_B`)."""
    n = np.empty((len(VARIANTS), model.n_regions))
    b = np.empty_like(n)
    for j, (key, data) in enumerate(_VIEWS):
        view = model if key in ("observed", "apriori") else model.asimov(data)  # type: ignore[arg-type]
        n[j], b[j] = view.background_counts(data)  # type: ignore[arg-type]
    b = np.maximum(b, 1e-3)
    control = np.array([sb.kind == "CR" for sb in model.layout.signal_bins])
    n[:, control] = b[:, control] = EXCLUDED_B  # CR signal is absorbed by the normalisations (network.py)
    return n, b


def write_baseline(folder: str | os.PathLike[str], model: HistFactoryModel) -> Path:
    """Store :func:`poisson_baseline` of ``model`` as ``folder/baseline.npz`` (read by :func:`load_labels`)."""
    n, b = poisson_baseline(model)
    path = Path(folder) / "baseline.npz"
    tmp = path.with_name(f"baseline.{os.getpid()}.tmp.npz")
    np.savez(tmp, n=n, b=b)
    tmp.replace(path)
    return path


def labels(model: HistFactoryModel, signals: NDArray[np.float64], fitter: str = "slsqp") -> NDArray[np.float64]:
    """The four labels (H, 4) of ``signals`` (H, N), in the order of :data:`VARIANTS`."""
    return Labeller(model, fitter)(signals)


def workspace_hash(analysis: Analysis, file: str, source: Any) -> str:
    """sha256 of the workspace file as stored in the database (identifies what a surrogate was trained on)."""
    return hashlib.sha256(source.read_bytes(f"{analysis.folder}/{file}")).hexdigest()


@dataclass(frozen=True)
class LabelSet:
    """A training set: hypotheses, labels and where they come from."""

    signals: NDArray[np.float64]
    labels: NDArray[np.float64]
    meta: dict[str, Any]
    #: ``(n, b)`` of :func:`poisson_baseline` if the folder has ``baseline.npz``
    baseline: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None


def _chunk_path(folder: Path, k: int) -> Path:
    return folder / f"labels-{k:04d}.npy"


def _write_chunk(folder: Path, k: int, values: NDArray[np.float64]) -> None:
    """Write chunk ``k`` of ``folder`` atomically (a killed run never leaves a partial chunk)."""
    path = _chunk_path(folder, k)
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, values, allow_pickle=False)
    tmp.replace(path)


def _label_chunks(database: str | None, analysis_name: str, file: str, folder: str, chunks: list[int],
                  chunk_size: int, backend: str, fitter: str = "slsqp",
                  on_chunk: Callable[[], None] | None = None) -> list[int]:
    """Worker: label the given chunks of ``folder/signals.npy`` with one model (built once per process);
    ``on_chunk`` is called after each chunk (in-process progress)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # one thread per process: the processes are the parallelism (XLA would otherwise spin on every core)
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    from nextsm.database import DatabaseSource, load_database
    from nextsm.likelihoods.histfactory import HistFactoryModel

    db = load_database(database)
    signals = np.load(Path(folder) / "signals.npy", allow_pickle=False)
    with DatabaseSource(db.path) as source:
        model = HistFactoryModel.from_analysis(db.analysis(analysis_name), file, source, backend=backend)
        regions = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))["regions"]
        if list(model.region_names) != list(regions):
            raise TrainingSetError(f"{folder}: the workspace's signal regions {list(model.region_names)} differ "
                                   f"from the training set's {regions}")
        if not (Path(folder) / "baseline.npz").exists():
            write_baseline(folder, model)
        labeller = Labeller(model, fitter, batch=chunk_size)
        with model.evaluation_scope():  # one pyhf backend switch for the whole run, not one per fit
            for k in chunks:
                if _chunk_path(Path(folder), k).exists():
                    continue
                _write_chunk(Path(folder), k, labeller(signals[k * chunk_size:(k + 1) * chunk_size]))
                if on_chunk is not None:
                    on_chunk()
    return chunks


#: manifest fields that must agree for a folder to be resumed (or filled from a label archive)
_RESUME_KEYS = ("analysis", "file", "workspace_sha256", "n", "seed", "sampling", "chunk_size")


def generate_labels(folder: str | os.PathLike[str], analysis: Analysis, file: str, *, n: int, seed: int,
                    database: str | None = None, processes: int = 1, chunk_size: int = 25, backend: str = "numpy",
                    fitter: str = "slsqp", settings: SamplingSettings | None = None,
                    progress: Callable[[int, int], None] | None = None) -> LabelSet:
    """Generate (or resume) the training set of workspace ``file`` of ``analysis`` in ``folder``.

    ``folder/manifest.json`` records the workspace hash, n, seed and sampling settings, ``folder/signals.npy``
    the hypotheses, ``folder/labels-KKKK.npy`` the labels chunk by chunk (written atomically), so a killed run
    resumes with no finished chunk lost.  ``progress(done, total)`` is called after each chunk.
    """
    from nextsm.database import DatabaseSource, load_database

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    db = load_database(database)
    with DatabaseSource(db.path) as source:
        digest = workspace_hash(analysis, file, source)
    regions = _regions(analysis, file)
    settings = settings or SamplingSettings()
    meta = {"format": FORMAT, "analysis": analysis.name, "file": file, "workspace_sha256": digest, "n": n,
            "seed": seed, "regions": list(regions), "variants": list(VARIANTS), "sampling": asdict(settings),
            "chunk_size": chunk_size, "fitter": fitter}
    meta = json.loads(json.dumps(meta))  # as it reads back (tuples become lists)
    manifest = out / "manifest.json"
    if manifest.exists():
        old = json.loads(manifest.read_text(encoding="utf-8"))
        for key in _RESUME_KEYS:
            if old.get(key) != meta[key]:
                raise TrainingSetError(f"{manifest}: field '{key}' is {old.get(key)!r}, this request has "
                                       f"{meta[key]!r}; use another folder")
    else:
        signals = draw_signals(analysis, regions, n, seed, settings)
        np.save(out / "signals.npy", signals, allow_pickle=False)
        manifest.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    n_chunks = math.ceil(n / chunk_size)
    todo = [k for k in range(n_chunks) if not _chunk_path(out, k).exists()]
    done = n_chunks - len(todo)
    if progress is not None:
        progress(done, n_chunks)
    if todo:
        groups = [todo[i::processes] for i in range(min(processes, len(todo)))]
        if processes == 1:
            counter = [done]

            def one_more() -> None:
                counter[0] += 1
                if progress is not None:
                    progress(counter[0], n_chunks)

            _label_chunks(database, analysis.name, file, str(out), todo, chunk_size, backend, fitter, one_more)
        else:
            # one task per chunk list; a process labels its chunks with one model (compiled once)
            with ProcessPoolExecutor(max_workers=processes) as pool:
                futures = [pool.submit(_label_chunks, database, analysis.name, file, str(out), g, chunk_size,
                                       backend, fitter) for g in groups]
                pending = set(futures)
                while pending:
                    _, pending = wait(pending, timeout=2.0)
                    if progress is not None:
                        progress(sum(_chunk_path(out, k).exists() for k in range(n_chunks)), n_chunks)
                for f in futures:
                    f.result()  # re-raise a worker's error
    return load_labels(out)


def _regions(analysis: Analysis, file: str) -> Sequence[str]:
    """The regions a signal of workspace ``file`` has yields in, in the model's order: the SRs of its
    ``jsonFiles`` entry, and its CRs too where the analysis sets ``includeCRs``."""
    from nextsm.likelihoods.factory import _workspace_regions

    entry = (analysis.info.json_files or {}).get(file)
    if entry is None:
        raise TrainingSetError(f"analysis '{analysis.name}' has no workspace '{file}' in jsonFiles")
    return _workspace_regions(entry, bool(analysis.info.include_crs))


def load_labels(folder: str | os.PathLike[str]) -> LabelSet:
    """The (finished part of the) training set in ``folder``."""
    out = Path(folder)
    manifest = out / "manifest.json"
    try:
        meta = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingSetError(f"{manifest}: no such file (not a training-set folder)") from None
    if meta.get("format") != FORMAT:
        raise TrainingSetError(f"{manifest}: field 'format' must be {FORMAT!r}, got {meta.get('format')!r}")
    signals = np.load(out / "signals.npy", allow_pickle=False)
    size = int(meta["chunk_size"])
    rows, values = [], []
    for k in range(math.ceil(len(signals) / size)):
        path = _chunk_path(out, k)
        if path.exists():
            chunk = np.load(path, allow_pickle=False)
            expected = min(size, len(signals) - k * size)
            if chunk.shape != (expected, len(VARIANTS)):
                raise TrainingSetError(f"{path}: shape {chunk.shape}, expected {(expected, len(VARIANTS))}")
            rows.append(signals[k * size:k * size + expected])
            values.append(chunk)
    baseline = None
    if (out / "baseline.npz").exists():
        with np.load(out / "baseline.npz", allow_pickle=False) as arrays:
            baseline = (np.array(arrays["n"]), np.array(arrays["b"]))
        if baseline[0].shape != (len(VARIANTS), signals.shape[1]):
            raise TrainingSetError(f"{out / 'baseline.npz'}: shape {baseline[0].shape}, expected "
                                   f"{(len(VARIANTS), signals.shape[1])}")
    if not rows:
        return LabelSet(np.zeros((0, signals.shape[1])), np.zeros((0, len(VARIANTS))), meta, baseline)
    return LabelSet(np.concatenate(rows), np.concatenate(values), meta, baseline)


#: how far the baselines of two poolable training sets may differ: each set's background-only fit ends within its
#: tolerance (measured: 4e-6 relative between two runs on ATLAS-SUSY-2018-16 EWKinos)
BASELINE_RTOL = 1e-4
#: manifest fields that must agree for training sets to be pooled (the seed, n and chunking may differ)
_MERGE_KEYS = ("format", "analysis", "file", "workspace_sha256", "regions", "variants", "sampling")


def merge_label_sets(sets: Sequence[LabelSet], names: Sequence[str] | None = None) -> LabelSet:
    """Pool training sets of one workspace drawn with different seeds, in the given order.

    They must agree on the workspace (hash), regions, variants and sampling settings, and on the baseline where
    they have one (to :data:`BASELINE_RTOL`; the first set's is kept), and their seeds must differ (equal seeds
    draw the same hypotheses, which would put training points among the held-out ones).  ``names`` (e.g. the
    folders) label the error messages.  The result's ``meta`` is the first set's, with ``n`` the pooled count
    and ``seed`` the list of seeds.
    """
    if not sets:
        raise TrainingSetError("merge_label_sets: no training sets given")
    names = list(names) if names is not None else [f"training set {k}" for k in range(len(sets))]
    if len(names) != len(sets):
        raise TrainingSetError(f"merge_label_sets: {len(names)} names for {len(sets)} training sets")
    first = sets[0]
    for name, other in zip(names[1:], sets[1:], strict=True):
        for key in _MERGE_KEYS:
            if other.meta.get(key) != first.meta.get(key):
                raise TrainingSetError(f"{name}: manifest field '{key}' is {other.meta.get(key)!r}, but "
                                       f"{names[0]} has {first.meta.get(key)!r}; only training sets of the same "
                                       "workspace and sampling can be pooled")
        if (other.baseline is None) != (first.baseline is None) or (
                first.baseline is not None and other.baseline is not None
                and not all(np.allclose(a, b, rtol=BASELINE_RTOL, atol=0.0)
                            for a, b in zip(first.baseline, other.baseline, strict=True))):
            raise TrainingSetError(f"{name}: baseline.npz differs from {names[0]}'s by more than {BASELINE_RTOL:g} "
                                   "relative (or only one has it)")
    seeds = [s.meta.get("seed") for s in sets]
    for k, seed in enumerate(seeds[1:], start=1):
        if seed in seeds[:k]:
            raise TrainingSetError(f"{names[k]}: manifest field 'seed' is {seed!r}, as in {names[seeds.index(seed)]}; "
                                   "sets drawn with the same seed hold the same hypotheses")
    if len(sets) == 1:
        return first
    meta = {**first.meta, "n": int(sum(len(s.signals) for s in sets)), "seed": [s.meta.get("seed") for s in sets]}
    return LabelSet(np.concatenate([s.signals for s in sets]), np.concatenate([s.labels for s in sets]), meta,
                    first.baseline)
