"""Portable estimator files: ``NAME.npz`` (float32/64 arrays, no pickle) + ``NAME.json`` (everything else).

``NAME.json``::

    {"format": "nextsm-sbi-estimator", "version": 1, "nextsm_version": "...",
     "kind": "parametrized" | "morphing_aware" | "score", "method": "alices", "members": K,
     "architecture": {"n_x": 3, "n_theta": 2, "hidden": [64, 64], "activation": "tanh"},
     "theta": {"names": ["c_odd", "c_even"], "reference": [0, 0],
               "convention": "log r(x|theta) = log p(x|theta) / p(x|theta_ref); score = grad_theta log p(x|theta)"},
     "observables": ["x_energy", "x_phi", "x_eta"],
     "scalings": {"x_mean": [...], "x_std": [...], ...},   # copies of the buffers, for reading
     "arrays": ["member0.net.layers.0.weight", ...], "card": {...}}

``NAME.npz`` holds, per member ``k``, every parameter and buffer of the torch module under
``member{k}.<name>`` (``nn.Linear`` weights have shape ``(out, in)``).  :func:`load_estimator` rebuilds the
modules from the JSON and copies the arrays in; a round trip is bit-identical.

Training sets (:func:`save_training_set`, :func:`load_training_set`) are one ``NAME.npz`` with the arrays
``x, theta, y, log_r_xz, t_xz, sample_weight, theta_ref`` and ``event`` (the source event of every row, for
the event-level validation split).  Files written before ``event`` existed, or with only
``x, theta, y, log_r_xz, t_xz`` (``benchmarks/bench_sbi_madminer.py``), still load: ``sample_weight``
defaults to 1, ``theta_ref`` to 0, and without ``event`` a :class:`UserWarning` says that the training will
fall back to the (optimistic) row split.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from nextsm import __version__
from nextsm.sbi.errors import EstimatorFormatError
from nextsm.sbi.estimators import Estimator
from nextsm.sbi.estimators.ratio import MorphingAwareRatio, ParametrizedRatio
from nextsm.sbi.estimators.score import ScoreNet
from nextsm.sbi.events import paired_paths
from nextsm.sbi.sampling import TrainingSet

__all__ = ["ESTIMATOR_FORMAT", "load_estimator", "load_training_set", "save_estimator", "save_training_set"]

_SET_FIELDS = ("x", "theta", "y", "log_r_xz", "t_xz")

ESTIMATOR_FORMAT = "nextsm-sbi-estimator"
_VERSION = 1
_CONVENTION = ("log r(x|theta) = log p(x|theta) / p(x|theta_ref); score = grad_theta log p(x|theta); "
               "ensemble prediction = mean over members")


def save_estimator(estimator: Estimator, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write the estimator to ``path.json`` + ``path.npz``; returns both paths."""
    jpath, npath = paired_paths(path)
    arrays: dict[str, np.ndarray] = {}
    for k, member in enumerate(estimator.members):
        for name, value in member.state_dict().items():
            arrays[f"member{k}.{name}"] = value.detach().cpu().numpy()
    first = cast("ParametrizedRatio | MorphingAwareRatio | ScoreNet", estimator.members[0])
    scalings = {name.replace(".", "_"): value.detach().double().numpy().tolist()
                for name, value in first.state_dict().items() if not name.startswith("net.")}
    meta: dict[str, Any] = {
        "format": ESTIMATOR_FORMAT, "version": _VERSION, "nextsm_version": __version__,
        "kind": estimator.kind, "method": estimator.method, "members": estimator.n_members,
        "architecture": {"n_x": first.n_x, "n_theta": first.n_theta, "hidden": list(first.net.widths[1:-1]),
                         "activation": first.net.activation},
        "theta": {"names": list(estimator.parameter_names), "reference": estimator.theta_ref.tolist(),
                  "convention": _CONVENTION},
        "observables": list(estimator.observable_names), "scalings": scalings, "arrays": sorted(arrays),
        "card": estimator.card,
    }
    np.savez(npath, **arrays)  # type: ignore[arg-type]  # the stub's allow_pickle: bool also takes **str keys
    jpath.write_text(json.dumps(meta, indent=1))
    return jpath, npath


def _blank(kind: str, arch: dict[str, Any], path: str) -> torch.nn.Module:
    n_x, n_t = int(arch["n_x"]), int(arch["n_theta"])
    hidden, act = tuple(int(h) for h in arch["hidden"]), str(arch["activation"])
    ones_x, zeros_x, ones_t, zeros_t = np.ones(n_x), np.zeros(n_x), np.ones(n_t), np.zeros(n_t)
    if kind == "parametrized":
        return ParametrizedRatio(n_x, n_t, hidden, act, x_mean=zeros_x, x_std=ones_x, theta_mean=zeros_t,
                                 theta_std=ones_t, theta_ref=zeros_t)
    if kind == "morphing_aware":
        return MorphingAwareRatio(n_x, n_t, hidden, act, x_mean=zeros_x, x_std=ones_x, theta_ref=zeros_t,
                                  xsec_form=np.eye(n_t + 1))
    if kind == "score":
        return ScoreNet(n_x, n_t, hidden, act, x_mean=zeros_x, x_std=ones_x, t_mean=zeros_t, t_std=ones_t,
                        theta_ref=zeros_t)
    raise EstimatorFormatError(f"unknown estimator kind {kind!r}", path=path, field="kind")


def load_estimator(path: str | os.PathLike[str]) -> Estimator:
    """Read an estimator written by :func:`save_estimator`."""
    jpath, npath = paired_paths(path)
    try:
        meta = json.loads(jpath.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EstimatorFormatError(f"cannot read estimator metadata ({exc})", path=str(jpath)) from None
    if meta.get("format") != ESTIMATOR_FORMAT:
        raise EstimatorFormatError(f"expected format {ESTIMATOR_FORMAT!r}", path=str(jpath), field="format")
    if meta.get("version") != _VERSION:
        raise EstimatorFormatError(f"version {meta.get('version')!r} is not supported (expected {_VERSION})",
                                   path=str(jpath), field="version")
    try:
        with np.load(npath, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise EstimatorFormatError(f"cannot read estimator arrays ({exc})", path=str(npath)) from None
    members = []
    for k in range(int(meta["members"])):
        module = _blank(meta["kind"], meta["architecture"], str(jpath))
        state = {}
        for name in module.state_dict():
            key = f"member{k}.{name}"
            if key not in arrays:
                raise EstimatorFormatError("array missing", path=str(npath), field=key)
            state[name] = torch.from_numpy(arrays[key])
        module.load_state_dict(state)
        members.append(module)
    return Estimator(members, method=meta["method"], parameter_names=meta["theta"]["names"],
                     observable_names=meta["observables"], card=meta.get("card", {}))


def _npz_path(path: str | os.PathLike[str]) -> Path:
    base = Path(path)
    return base if base.suffix == ".npz" else base.with_name(base.name + ".npz")


def save_training_set(data: TrainingSet, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` to ``path.npz`` (plain arrays, no pickle; ``event`` only if set); returns the path."""
    npath = _npz_path(path)
    arrays: dict[str, np.ndarray] = {name: np.asarray(getattr(data, name)) for name in _SET_FIELDS}
    arrays["sample_weight"] = np.asarray(data.sample_weight)
    arrays["theta_ref"] = np.asarray(data.theta_ref)
    if data.event is not None:
        arrays["event"] = np.asarray(data.event, dtype=np.int64)
    np.savez(npath, **arrays)  # type: ignore[arg-type]  # the stub's allow_pickle: bool also takes **str keys
    return npath


def load_training_set(path: str | os.PathLike[str]) -> TrainingSet:
    """Read a training set written by :func:`save_training_set` or an older file without ``event`` (module
    docstring); ``allow_pickle=False``."""
    npath = _npz_path(path)
    try:
        with np.load(npath, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise EstimatorFormatError(f"cannot read training-set arrays ({exc})", path=str(npath)) from None
    for name in _SET_FIELDS:
        if name not in arrays:
            raise EstimatorFormatError("array missing", path=str(npath), field=name)
    n = arrays["x"].shape[0]
    for name in (*_SET_FIELDS, "sample_weight", "event"):
        if name in arrays and arrays[name].shape[:1] != (n,):
            raise EstimatorFormatError(f"has {arrays[name].shape[:1]} rows, expected {n}", path=str(npath),
                                       field=name)
    theta = arrays["theta"].astype(np.float64)
    event = arrays.get("event")
    if event is None:
        warnings.warn(f"{npath}: training set without 'event' (written before event indices existed); the "
                      "validation split falls back to rows, which is optimistic when rows share events",
                      UserWarning, stacklevel=2)
    return TrainingSet(arrays["x"].astype(np.float64), theta, arrays["y"].astype(np.float64),
                       arrays["log_r_xz"].astype(np.float64), arrays["t_xz"].astype(np.float64),
                       arrays["sample_weight"].astype(np.float64) if "sample_weight" in arrays else np.ones(n),
                       arrays["theta_ref"].astype(np.float64) if "theta_ref" in arrays else np.zeros(theta.shape[1]),
                       event=None if event is None else event.astype(np.int64))
