r"""A continuation pass over a training set: re-fit each hypothesis from its neighbours' optima, keep the lowest.

Where a profile likelihood has several minima, a fit from one fixed start finds different branches for
neighbouring hypotheses (ATLAS-SUSY-2018-04 without its CRs: the free ``mu_W`` and ``mu_QCD`` give jumps of
Δq ≈ −1.6 along a line in signal space, docs/surrogates.md).  The labels are then not a function the network
can learn, and its error against them cannot fall below the jumps.  The continuation pass makes every label the
lowest minimum among a few starts:

1. fit every hypothesis :math:`s_h` from pyhf's suggested start, keeping :math:`\hat\theta_h` and
   :math:`\mathrm{NLL}_h` (where the first fit fails, the label's own value stays and the hypothesis is not
   used as a start);
2. in each sweep, for every hypothesis and each of its ``neighbours`` nearest hypotheses :math:`j` (Euclidean
   distance of :math:`\ln(1 + s)`), fit :math:`s_h` from :math:`\hat\theta_j`; where that is lower, it replaces
   :math:`(\mathrm{NLL}_h, \hat\theta_h)` at once, so a better branch spreads within the sweep;
3. a further sweep visits only hypotheses with a neighbour that improved in the previous one.

A label only ever decreases: :math:`q_h^{new} = 2(\min(\mathrm{NLL}) - \mathrm{NLL}_0) \le q_h`.  Cost:
``1 + neighbours`` SLSQP fits per hypothesis in the first sweep.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from nextsm.errors import FailedFitError, UnphysicalFitError
from nextsm.likelihoods.histfactory import HistFactoryModel
from nextsm.surrogates.labels import _VIEWS, VARIANTS, TrainingSetError, _chunk_path

__all__ = ["ContinuationResult", "continue_labels", "write_continued"]

#: an NLL lower by less than this is not counted as an improvement
_IMPROVEMENT = 1e-6


@dataclass(frozen=True)
class ContinuationResult:
    """New labels of one variant and what the pass did."""

    #: the new labels, (H,)
    q: NDArray[np.float64]
    #: hypotheses whose label decreased (by more than 2e-6), and the largest decrease in q
    improved: int
    largest_decrease: float
    #: SLSQP fits run, and those that failed (skipped)
    fits: int
    failed_fits: int
    sweeps: int


def continue_labels(model: HistFactoryModel, signals: NDArray[np.float64], q: NDArray[np.float64], variant: str,
                    *, neighbours: int = 4, sweeps: int = 2, progress: Callable[[int], None] | None = None,
                    checkpoint: str | os.PathLike[str] | None = None, every: int = 100) -> ContinuationResult:
    """The continuation pass (module docstring) over the labels ``q`` (H,) of ``variant`` of ``signals`` (H, N).

    ``progress(k)`` is called after every k fits (for a progress bar).  With ``checkpoint`` (an ``.npz`` path) the
    state is saved there after about every ``every`` fits and at the end, and a run with the same inputs resumes
    from it; a checkpoint of other inputs is refused.
    """
    if variant not in VARIANTS:
        raise TrainingSetError(f"parameter 'variant' must be one of {VARIANTS}, got {variant!r}")
    sig = np.asarray(signals, dtype=float)
    q = np.asarray(q, dtype=float)
    if sig.ndim != 2 or sig.shape[1] != model.n_regions or q.shape != (sig.shape[0],):
        raise TrainingSetError(f"signals {sig.shape} and labels {q.shape} do not match the model's "
                               f"{model.n_regions} regions")
    if neighbours < 1 or sweeps < 1 or every < 1:
        raise TrainingSetError(f"parameters 'neighbours', 'sweeps' and 'every' must be >= 1, got {neighbours}, "
                               f"{sweeps}, {every}")
    key, data = _VIEWS[VARIANTS.index(variant)]
    view = model if key in ("observed", "apriori") else model.asimov(data)  # type: ignore[arg-type]
    background = float(view.nll(0.0, sig[:1] * 0.0, data=data)[0])  # type: ignore[arg-type]
    live = np.flatnonzero(np.any(sig != 0.0, axis=1) & np.isfinite(q))
    k = min(neighbours, len(live) - 1)
    near = np.zeros((len(live), 0), dtype=int)
    if k >= 1:
        points = np.log1p(np.maximum(sig[live], 0.0))
        _, index = cKDTree(points).query(points, k=k + 1)
        near = live[index[:, 1:]]  # (L, k): drop the point itself
    identity = _identity(sig, q, variant, neighbours)
    state = _load_state(checkpoint, identity) if checkpoint is not None else None
    if state is None:
        state = {"best": background + 0.5 * q, "pars": None, "has_pars": np.zeros(len(sig), dtype=bool),
                 "stage": 0, "position": 0, "visit": np.ones(len(live), dtype=bool),
                 "changed": np.zeros(len(sig), dtype=bool), "fits": 0, "failed": 0}
    best, has = state["best"], state["has_pars"]
    pars = state["pars"]
    since_save = 0

    def fit(h: int, start: NDArray[np.float64] | None) -> tuple[float, NDArray[np.float64]] | None:
        state["fits"] += 1
        if progress is not None:
            progress(1)
        try:
            return view.profile_fit(sig[h], data=data, start=start)  # type: ignore[arg-type]
        except (FailedFitError, UnphysicalFitError):
            state["failed"] += 1
            return None

    with view.evaluation_scope():  # one pyhf backend switch for all fits
        while state["stage"] <= (sweeps if k >= 1 else 0):
            rows = np.arange(len(live)) if state["stage"] == 0 else np.flatnonzero(state["visit"])
            for row in rows[state["position"]:]:
                h = int(live[row])
                before = state["fits"]
                if state["stage"] == 0:
                    found = fit(h, None)
                    if found is not None:
                        if pars is None:
                            pars = state["pars"] = np.full((len(sig), found[1].size), np.nan)
                        pars[h], has[h] = found[1], True
                        best[h] = min(best[h], found[0])
                else:
                    for j in near[row]:
                        if not has[j]:
                            continue
                        found = fit(h, pars[j])  # type: ignore[index]
                        if found is not None and found[0] < best[h] - _IMPROVEMENT:
                            best[h], pars[h] = found  # type: ignore[index]
                            state["changed"][h] = True
                state["position"] += 1
                since_save += state["fits"] - before
                if checkpoint is not None and since_save >= every:
                    _save_state(checkpoint, identity, state)
                    since_save = 0
            if state["stage"] >= 1:
                state["visit"] = state["changed"][near].any(axis=1)
                state["changed"] = np.zeros(len(sig), dtype=bool)
            state["stage"] += 1
            state["position"] = 0
            if state["stage"] >= 1 and not state["visit"].any():
                break
    if checkpoint is not None:
        _save_state(checkpoint, identity, state)
    q_new = np.where(np.isfinite(q), np.minimum(q, 2.0 * (best - background)), q)
    drop = np.nan_to_num(q - q_new)
    done = max(0, min(state["stage"] - 1, sweeps)) if k >= 1 else 0
    return ContinuationResult(q_new, int(np.sum(drop > 2 * _IMPROVEMENT)), float(np.max(drop, initial=0.0)),
                              int(state["fits"]), int(state["failed"]), done)


def _identity(sig: NDArray[np.float64], q: NDArray[np.float64], variant: str, neighbours: int) -> str:
    """A fingerprint of the inputs, so that a checkpoint is only resumed by the run it belongs to."""
    digest = hashlib.sha256(np.ascontiguousarray(sig).tobytes() + np.ascontiguousarray(q).tobytes())
    return f"{variant}:{neighbours}:{digest.hexdigest()}"


def _save_state(path: str | os.PathLike[str], identity: str, state: dict[str, Any]) -> None:
    target = Path(path)
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.npz")
    pars = state["pars"] if state["pars"] is not None else np.zeros((0, 0))
    np.savez(tmp, identity=np.array(identity), best=state["best"], pars=pars, has_pars=state["has_pars"],
             stage=state["stage"], position=state["position"], visit=state["visit"], changed=state["changed"],
             fits=state["fits"], failed=state["failed"])
    tmp.replace(target)


def _load_state(path: str | os.PathLike[str], identity: str) -> dict[str, Any] | None:
    if not Path(path).exists():
        return None
    with np.load(path, allow_pickle=False) as saved:
        if str(saved["identity"]) != identity:
            raise TrainingSetError(f"{path}: checkpoint of another training set, variant or neighbour count")
        pars = np.array(saved["pars"])
        return {"best": np.array(saved["best"]), "pars": pars if pars.size else None,
                "has_pars": np.array(saved["has_pars"]), "stage": int(saved["stage"]),
                "position": int(saved["position"]), "visit": np.array(saved["visit"]),
                "changed": np.array(saved["changed"]), "fits": int(saved["fits"]), "failed": int(saved["failed"])}


def write_continued(source: str | os.PathLike[str], target: str | os.PathLike[str], variant: str,
                    result: ContinuationResult, settings: dict[str, Any]) -> Path:
    """Copy the training set ``source`` to ``target`` with the labels of ``variant`` replaced by ``result.q``.

    ``result.q`` follows :func:`~nextsm.surrogates.labels.load_labels`' row order (the finished chunks in order).
    The manifest records the pass under ``continuation`` (``settings`` plus the result's counts).
    """
    src, out = Path(source), Path(target)
    if out.resolve() == src.resolve():
        raise TrainingSetError(f"{out}: the continued set must go to a new folder, not over its source")
    if out.exists() and any(out.iterdir()):
        raise TrainingSetError(f"{out}: folder exists and is not empty")
    meta = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
    signals = np.load(src / "signals.npy", allow_pickle=False)
    size = int(meta["chunk_size"])
    column = VARIANTS.index(variant)
    out.mkdir(parents=True, exist_ok=True)
    row = 0
    for k in range(math.ceil(len(signals) / size)):
        path = _chunk_path(src, k)
        if path.exists():
            chunk = np.load(path, allow_pickle=False)
            chunk[:, column] = result.q[row:row + len(chunk)]
            row += len(chunk)
            np.save(_chunk_path(out, k), chunk, allow_pickle=False)
    if row != len(result.q):
        raise TrainingSetError(f"{src}: {row} labelled rows, but {len(result.q)} continued labels")
    shutil.copyfile(src / "signals.npy", out / "signals.npy")
    if (src / "baseline.npz").exists():
        shutil.copyfile(src / "baseline.npz", out / "baseline.npz")
    counts = {"improved": result.improved, "largest_decrease": result.largest_decrease, "fits": result.fits,
              "failed_fits": result.failed_fits, "sweeps": result.sweeps}
    history = list(meta.get("continuation", []))
    history.append({"variant": variant, "source": str(src), **settings, **counts})
    meta["continuation"] = history
    (out / "manifest.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return out
